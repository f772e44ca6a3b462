"""What a step gets besides its input: :class:`StepContext` (settings, clock, logger, deadline,
waiter, request id, execution name, the call policy and the product adapters built over it).

The FC handler wrapper (``shared.entry.handler.fc_handler``) builds one per invocation; the HTTP API
and the CLI build one with ``shared.steps.rotation.make_context``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from shared.adapters.base import Adapter
from shared.adapters.retry import RateLimiter, call, limiter_for
from shared.core.wait import Deadline, Waiter
from shared.policy.ids import client_token

if TYPE_CHECKING:
    from collections.abc import Callable

    from shared.core.clock import Clock
    from shared.core.settings import Settings

__all__ = ["StepContext"]

T = TypeVar("T")
A = TypeVar("A", bound=Adapter)


@dataclass
class StepContext:
    """What a use case gets besides its input.

    Attributes: ``step`` (function name, e.g. ``"enable_mutual_auth"``), ``settings``, ``clock``,
    ``logger`` (JSON, redacting), ``deadline`` (monotonic budget of this invocation),
    ``request_id`` (FC request id, or ``local-…``), ``execution_name`` (from the input, may be
    ``None``), ``fc_context`` (the raw FC context or ``None``), ``waiter`` (sleep and monotonic
    time for every poll loop: ``ctx.waiter.poll``).
    """

    step: str
    settings: Settings
    clock: Clock
    logger: Any
    deadline: Deadline
    request_id: str
    execution_name: str | None = None
    fc_context: Any = None
    waiter: Waiter = field(default_factory=Waiter, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    #: adapters built by :meth:`adapter` (not carried over by ``dataclasses.replace``: a copy with
    #: other limiters builds its own)
    _adapters: dict[type[Adapter], Adapter] = field(default_factory=dict, init=False, repr=False)
    #: objects built once per invocation by :meth:`memo` (e.g. an own CA's issuer, keyed by prefix and name)
    _memo: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)
    #: per-invocation limiters that replace the process-wide ones (``product`` → limiter); the
    #: rotate step's share of the PCA quota (``shared.steps.rotate``)
    own_limiters: dict[str, RateLimiter] = field(default_factory=dict, repr=False)
    #: seconds ``clock`` is ahead of the cloud (negative: behind), measured from the ``date``
    #: header of this invocation's first successful call that has one (``None`` until then)
    clock_skew_s: float | None = field(default=None, init=False)

    def client(self, product: str) -> Any:
        """The SDK client for ``product`` (``alb``/``cas``/``pca``/``alidns``/``kms``/``fnf``), built
        lazily and cached per process. Raises ``AlbMtlsError(CONFIG_INVALID)`` if unconfigured."""
        c = self._clients.get(product)
        if c is None:
            from shared.adapters.clients import get_client

            c = self._clients[product] = get_client(product, self.settings)
        return c

    def adapter(self, cls: type[A]) -> A:
        """The product adapter ``cls`` (``shared.adapters.alb.Alb`` …) over this invocation's call
        policy (:meth:`call`) and settings; built on first use, one per context."""
        a = self._adapters.get(cls)
        if isinstance(a, cls):
            return a
        made = self._adapters[cls] = cls(self.call, settings=self.settings)
        return made

    def memo(self, key: Any, make: Callable[[], T]) -> T:
        """``make()`` once per context and ``key`` (later calls return the same object)."""
        if key not in self._memo:
            self._memo[key] = make()
        found: T = self._memo[key]
        return found

    def limiter(self, product: str) -> RateLimiter | None:
        """The shared client-side rate limiter for ``product`` (``pca``: ``settings.pca_qps``), or
        this invocation's own one (``own_limiters``)."""
        own = self.own_limiters.get(product)
        if own is not None:
            return own
        return limiter_for(product, self.settings.pca_qps if product in ("pca", "cas") else None)

    def call(self, op_name: str, fn: Callable[[], T], *, product: str | None = None) -> T:
        """``shared.adapters.retry.call`` bounded by this invocation's deadline; ``product`` (default: the
        part of ``op_name`` before ``:``) selects the rate limiter. Raises like ``retry.call``."""
        prod = product or (op_name.split(":", 1)[0] if ":" in op_name else None)
        result = call(op_name, fn, deadline=self.deadline, limiter=self.limiter(prod) if prod else None)
        if self.clock_skew_s is None:
            self._measure_skew(op_name, result)
        return result

    def _measure_skew(self, op_name: str, response: Any) -> None:
        """The clock difference with the cloud, from a successful SDK response's ``date`` header
        (errors carry no headers: docs/ALIBABA-APIS.md §4.5); a warning above ``SKEW_WARN_S``."""
        from shared.core.clock import SKEW_WARN_S, skew_seconds

        headers = getattr(response, "headers", None)
        skew = skew_seconds(headers if isinstance(headers, dict) else None, self.clock.now())
        if skew is None:
            return
        self.clock_skew_s = round(skew, 1)
        if abs(skew) > SKEW_WARN_S:
            self.logger.warning("clock skew with the cloud", extra={
                "clock_skew_s": self.clock_skew_s, "threshold_s": SKEW_WARN_S, "action": op_name,
                "hint": "this clock is ahead of the cloud" if skew > 0 else "this clock is behind the cloud"})

    def client_token(self, *resource: object) -> str:
        """Deterministic ALB ``ClientToken`` from (execution name or request id, step, *resource)."""
        return client_token(self.execution_name or self.request_id, self.step, *resource)

"""What every product adapter is made of: its SDK client and its call policy.

An adapter (``Alb``, ``Cas``, ``Pca``, ``Alidns``, ``Kms``, ``Fnf``) is built the way powertools'
persistence layers take a ``boto3_client``: give it a client, or it builds one lazily from the
settings on first use (``shared.adapters.clients.get_client``, cached per process); give it a call
policy, or it uses the default one. The call policy is how every SDK call is made:
``policy(op_name, fn, *, product)`` runs ``fn`` through the one retry layer, bounded by the
invocation's deadline, behind the product's client-side rate limiter (:class:`CallPolicy`; a step
passes ``StepContext.call``). Adapters never see the step context.

    alb = Alb(CallPolicy(Deadline(30)), settings=Settings.load())
    alb.get_listener("lsn-…")
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypeVar

from shared.adapters.retry import RateLimiter, call, limiter_for
from shared.core.wait import Deadline

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from shared.core.settings import Settings

__all__ = ["Adapter", "CallPolicy", "Policy"]

T = TypeVar("T")
class Policy(Protocol):
    """``policy(op_name, fn, *, product) -> fn()``: one SDK call under the retry layer and limiter
    (:class:`CallPolicy`, or a step context's ``call``)."""

    def __call__(self, op_name: str, fn: Callable[[], T], *, product: str | None = None) -> T: ...


class CallPolicy:
    """The default call policy: ``shared.adapters.retry.call`` bounded by ``deadline``, behind the
    product's process-wide limiter (``limiter_for``; ``limiters`` overrides per product)."""

    def __init__(self, deadline: Deadline, *, pca_qps: float | None = None,
                 limiters: dict[str, RateLimiter] | None = None) -> None:
        self.deadline = deadline
        self.pca_qps = pca_qps
        self.limiters = dict(limiters or {})

    def limiter(self, product: str) -> RateLimiter | None:
        """This policy's limiter for ``product`` (own one first, else the process-wide one)."""
        own = self.limiters.get(product)
        if own is not None:
            return own
        return limiter_for(product, self.pca_qps if product in ("pca", "cas") else None)

    def __call__(self, op_name: str, fn: Callable[[], T], *, product: str | None = None) -> T:
        prod = product or (op_name.split(":", 1)[0] if ":" in op_name else None)
        return call(op_name, fn, deadline=self.deadline, limiter=self.limiter(prod) if prod else None)


class Adapter:
    """Base of the product adapters (module doc). ``product`` is the registry key
    (``shared.core.products``)."""

    product: ClassVar[str]

    def __init__(self, policy: Policy | None = None, *, client: Any = None, settings: Settings | None = None) -> None:
        self._policy: Policy = policy if policy is not None else CallPolicy(Deadline(60))
        self._client = client
        self._settings = settings

    @property
    def client(self) -> Any:
        """The SDK client (built on first use from the settings when none was given)."""
        if self._client is None:
            from shared.adapters.clients import get_client
            from shared.core.settings import Settings

            self._client = get_client(self.product, self._settings or Settings.load())
        return self._client

    def call(self, op_name: str, fn: Callable[[], T]) -> T:
        """``fn()`` under the call policy (retry, deadline, this product's limiter)."""
        return self._policy(op_name, fn, product=self.product)

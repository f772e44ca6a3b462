"""The single retry layer (tenacity) and the client-side rate limiter.

Use :func:`call` around every SDK call::

    body = retry.call("alb:GetListenerAttribute",
                      lambda: alb.get_listener_attribute(req).body, deadline=ctx.deadline)

* Retried: :class:`~shared.core.errors.TransientError` — throttling (honouring the server's
  ``retry_after`` ms), HTTP 5xx, busy/lock codes (``shared.core.errors.BUSY_CODES``) and dropped
  connections/timeouts. Backoff is exponential with *full jitter* (``uniform(0, min(cap,
  base·2^(n-1)))``), bounded by the :class:`Deadline`.
* Not retried: everything else surfaces at once, mapped to an :class:`~shared.core.errors.AlbMtlsError`.
* Deadline spent → ``TransientError(code="TIMEOUT")`` (the handler re-raises it; CloudFlow's
  ``Retry`` takes over).
* ``ALBMTLS_RETRIES=off`` disables retrying: the first transient error is raised as is.
* tenacity is imported at the first retry, not at import (cold start, docs/PERFORMANCE.md): the first
  attempt runs directly, and only a retryable failure hands over to ``tenacity.Retrying``, which
  replays that failure as its attempt 1 — so waits, stops, counters and messages are the same.
* SDK-level retries are off (``shared.adapters.clients``), so retries never multiply.

:data:`STATS` counts attempts and retries per process (the handler logs the per-invocation delta).
"""
from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from shared.core.errors import AlbMtlsError, TransientError, is_sdk_exception, map_sdk_error
from shared.core.products import PRODUCTS
from shared.core.settings import retries_enabled
from shared.core.wait import Deadline, DeadlineExceeded, Monotonic, Sleep

if TYPE_CHECKING:
    from collections.abc import Callable

    import tenacity

__all__ = ["Deadline", "DeadlineExceeded", "RateLimiter", "RetryStats", "STATS", "call", "limiter_for"]

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
@dataclass
class RetryStats:
    """Process-wide counters: ``attempts``, ``retries``, ``retried_codes`` (cloud/our code → n),
    ``slept_s`` (total backoff seconds), ``limiter_waits``/``limiter_wait_s``. Thread-safe."""

    attempts: int = 0
    retries: int = 0
    slept_s: float = 0.0
    limiter_waits: int = 0
    limiter_wait_s: float = 0.0
    retried_codes: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def snapshot(self) -> dict[str, Any]:
        """A JSON-safe copy of the counters."""
        with self._lock:
            return {"attempts": self.attempts, "retries": self.retries, "slept_s": round(self.slept_s, 3),
                    "limiter_waits": self.limiter_waits, "limiter_wait_s": round(self.limiter_wait_s, 3),
                    "retried_codes": dict(self.retried_codes)}

    def reset(self) -> None:
        """Zero all counters (tests)."""
        with self._lock:
            self.attempts = self.retries = self.limiter_waits = 0
            self.slept_s = self.limiter_wait_s = 0.0
            self.retried_codes.clear()

    @staticmethod
    def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        """``after - before`` of two :meth:`snapshot` results (codes with zero change dropped)."""
        codes = Counter(after.get("retried_codes", {}))
        codes.subtract(before.get("retried_codes", {}))
        return {"attempts": after["attempts"] - before["attempts"], "retries": after["retries"] - before["retries"],
                "slept_s": round(after["slept_s"] - before["slept_s"], 3),
                "limiter_wait_s": round(after["limiter_wait_s"] - before["limiter_wait_s"], 3),
                "retried_codes": {k: v for k, v in codes.items() if v}}


STATS = RetryStats()


# ---------------------------------------------------------------------------------------------
# rate limiter
# ---------------------------------------------------------------------------------------------
class RateLimiter:
    """Token bucket: ``rate`` requests per second, ``burst`` tokens (default 1 = evenly spaced).

    Thread-safe. Waiters reserve their slot under the lock and sleep outside it, so concurrent
    callers are spaced ``1/rate`` apart.
    """

    def __init__(self, rate: float, burst: float = 1.0, *, monotonic: Monotonic = time.monotonic,
                 sleep: Sleep = time.sleep, name: str = "") -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate = float(rate)
        self.burst = float(burst)
        self.name = name
        self._mono = monotonic
        self._sleep = sleep
        self._tokens = float(burst)
        self._last = monotonic()
        self._lock = threading.Lock()

    def _reserve(self, timeout: float | None) -> float:
        with self._lock:
            now = self._mono()
            self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
            self._last = now
            wait = 0.0 if self._tokens >= 1.0 else (1.0 - self._tokens) / self.rate
            if timeout is not None and wait > timeout:
                raise DeadlineExceeded(
                    f"rate limit {self.name or ''} ({self.rate:g}/s) needs a {wait:.2f} s wait, more than the "
                    f"{timeout:.2f} s left; the workflow will retry", details={"limiter": self.name})
            self._tokens -= 1.0
            return wait

    def acquire(self, timeout: float | None = None) -> float:
        """Take one token, sleeping until it is available; returns the seconds waited.

        Raises :class:`DeadlineExceeded` (without taking a token) when the wait would exceed
        ``timeout`` seconds.
        """
        wait = self._reserve(timeout)
        if wait > 0:
            self._sleep(wait)
            with STATS._lock:
                STATS.limiter_waits += 1
                STATS.limiter_wait_s += wait
        return wait


_limiters: dict[tuple[str, float], RateLimiter] = {}
_limiters_lock = threading.Lock()

#: Documented per-product quotas (requests/s) applied by default (``shared.core.products``); others
#: are unlimited.
DEFAULT_QPS: dict[str, float] = {k: p.qps for k, p in PRODUCTS.items() if p.qps}


def limiter_for(product: str, qps: float | None = None) -> RateLimiter | None:
    """The process-wide limiter of ``product`` (``pca``/``cas``: 10/s; ``qps`` overrides, e.g.
    ``settings.pca_qps``), or ``None`` when the product has no client-side limit."""
    rate = qps if qps is not None else DEFAULT_QPS.get(product)
    if not rate:
        return None
    key = (product, float(rate))
    with _limiters_lock:
        lim = _limiters.get(key)
        if lim is None:
            lim = _limiters[key] = RateLimiter(rate, name=product)
        return lim


# ---------------------------------------------------------------------------------------------
# the retry call
# ---------------------------------------------------------------------------------------------
class _FullJitterWait:
    """tenacity ``wait``: full jitter, at least the server's ``retry_after``."""
    def __init__(self, base: float, cap: float, rng: Callable[[], float]) -> None:
        self.base, self.cap, self.rng = base, cap, rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        n = retry_state.attempt_number
        ceiling = min(self.cap, self.base * (2.0 ** (n - 1)))
        delay = self.rng() * ceiling
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        retry_after_ms = getattr(exc, "retry_after_ms", None)
        if retry_after_ms:
            delay = max(delay, float(retry_after_ms) / 1000.0)
        return delay


class _DeadlineStop:
    """tenacity ``stop``: ``max_attempts`` reached, or no time left for the sleep plus an attempt."""
    def __init__(self, deadline: Deadline, max_attempts: int, min_attempt_s: float) -> None:
        self.deadline, self.max_attempts, self.min_attempt_s = deadline, max_attempts, min_attempt_s

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        if retry_state.attempt_number >= self.max_attempts:
            return True
        upcoming = retry_state.upcoming_sleep or 0.0
        return self.deadline.remaining() < upcoming + self.min_attempt_s


def call(op_name: str, fn: Callable[[], T], *, deadline: Deadline, limiter: RateLimiter | None = None,
         sleep: Sleep = time.sleep, rng: Callable[[], float] = random.random, base_delay: float = 0.2,
         max_delay: float = 5.0, max_attempts: int = 50, min_attempt_s: float = 0.05,
         enabled: bool | None = None) -> T:
    """Run ``fn()`` (one SDK call) with the project's single retry policy.

    Parameters
    ----------
    op_name: ``"<product>:<Action>"``, used in messages, logs and error details.
    fn: zero-argument callable making the call; its result is returned.
    deadline: the invocation budget; no attempt starts and no backoff sleeps past it.
    limiter: take a token before each attempt (bounded by the deadline).
    sleep, rng: injectable for tests (seconds; uniform [0, 1)).
    base_delay, max_delay: backoff base and cap in seconds.
    max_attempts: safety bound on attempts (the deadline normally stops first).
    enabled: force retries on/off; default reads ``ALBMTLS_RETRIES`` at each call.

    Returns
    -------
    Whatever ``fn`` returns.

    Raises
    ------
    AlbMtlsError
        Mapped from a non-retryable SDK error (``map_sdk_error``), or raised by ``fn`` itself.
    TransientError
        Retries disabled and a transient fault occurred, or the deadline was spent
        (``DeadlineExceeded``, code ``TIMEOUT``, ``details`` naming the last cloud code).
    Exception
        Non-SDK exceptions from ``fn`` (bugs) propagate unchanged.
    """
    if enabled is None:
        enabled = retries_enabled()

    def attempt() -> T:
        deadline.check(op_name)
        if limiter is not None:
            limiter.acquire(timeout=deadline.remaining())
        with STATS._lock:
            STATS.attempts += 1
        try:
            return fn()
        except AlbMtlsError:
            raise
        except Exception as exc:
            if is_sdk_exception(exc) or isinstance(exc, (ConnectionError, TimeoutError)):
                raise map_sdk_error(exc, op_name) from exc
            raise

    if not enabled:
        return attempt()

    try:        # the usual case: one attempt, no retry machinery (tenacity not even imported)
        return attempt()
    except DeadlineExceeded:
        raise
    except TransientError as exc:
        first_failure: list[BaseException] = [exc]

    import tenacity

    def replay_then_attempt() -> T:
        # tenacity's attempt 1 is the one that just failed: raise its error again (no second call)
        if first_failure:
            raise first_failure.pop()
        return attempt()

    def before_sleep(rs: tenacity.RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome else None
        code = (getattr(exc, "cloud_code", None) or getattr(exc, "code", None) or "unknown")
        with STATS._lock:
            STATS.retries += 1
            STATS.slept_s += rs.upcoming_sleep or 0.0
            STATS.retried_codes[str(code)] += 1

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(lambda e: isinstance(e, TransientError)
                                          and not isinstance(e, DeadlineExceeded)),
        wait=_FullJitterWait(base_delay, max_delay, rng),
        stop=_DeadlineStop(deadline, max_attempts, min_attempt_s),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        return retrying(replay_then_attempt)
    except DeadlineExceeded:
        raise
    except TransientError as exc:
        attempts = retrying.statistics.get("attempt_number", 1)
        last = exc.cloud_code or exc.code
        raise DeadlineExceeded(
            f"{op_name} did not succeed after {attempts} attempt(s) within the function's time budget "
            f"(last: {last}); the workflow will retry",
            details={**exc.details, "attempts": attempts, "last_code": exc.code}, request_id=exc.request_id,
        ) from exc

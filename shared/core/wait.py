"""Time budgets and waiting: :class:`Deadline` (the monotonic budget of one invocation) and
:class:`Waiter` (the one bounded poll loop every step uses: the listener's job, the server group,
the backends' health, DNS propagation).

Monotonic time and sleeping are injected (``Waiter(sleep=…, monotonic=…)``), so tests run the loops
without waiting. Wall-clock time is a different thing: ``shared.core.clock``.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from shared.core.errors import Code, TransientError

__all__ = ["Deadline", "DeadlineExceeded", "Waiter", "Monotonic", "Sleep"]

T = TypeVar("T")
Monotonic = Callable[[], float]
Sleep = Callable[[float], None]


class DeadlineExceeded(TransientError):
    """The invocation's time budget is spent (code ``TIMEOUT``); never retried within the function."""

    def __init__(self, message: str, *, details: dict[str, Any] | None = None,
                 request_id: str | None = None) -> None:
        super().__init__(Code.TIMEOUT, message, details=details, request_id=request_id)


class Deadline:
    """A point in monotonic time by which the current invocation must be done.

    ``Deadline(30)`` = 30 s from now. ``remaining()`` is in seconds (never negative).
    """

    def __init__(self, seconds: float, *, monotonic: Monotonic = time.monotonic) -> None:
        self._mono = monotonic
        self._end = monotonic() + max(0.0, float(seconds))

    @classmethod
    def from_context(cls, context: Any, *, margin_ms: int = 3000, default_ms: int = 120_000,
                     monotonic: Monotonic = time.monotonic) -> Deadline:
        """From an FC context: ``get_remaining_time_in_millis()`` if it has one, else
        ``function.timeout`` (s), else ``default_ms``; minus ``margin_ms`` (at least 1 s is left)."""
        remaining_ms: float | None = None
        getter = getattr(context, "get_remaining_time_in_millis", None)
        if callable(getter):
            try:
                remaining_ms = float(getter())
            except Exception:  # a broken context must not break the function
                remaining_ms = None
        if remaining_ms is None:
            timeout_s = getattr(getattr(context, "function", None), "timeout", None)
            if isinstance(timeout_s, (int, float)) and timeout_s > 0:
                remaining_ms = float(timeout_s) * 1000.0
        if remaining_ms is None:
            remaining_ms = float(default_ms)
        budget_ms = max(remaining_ms - margin_ms, min(1000.0, remaining_ms))
        return cls(budget_ms / 1000.0, monotonic=monotonic)

    def remaining(self) -> float:
        """Seconds left (≥ 0)."""
        return max(0.0, self._end - self._mono())

    @property
    def expired(self) -> bool:
        """True when no time is left."""
        return self.remaining() <= 0.0

    def slice(self, seconds: float) -> Deadline:
        """A deadline at most ``seconds`` from now and never after this one (for bounded waits)."""
        return Deadline(min(seconds, self.remaining()), monotonic=self._mono)

    def check(self, op_name: str) -> None:
        """Raise :class:`DeadlineExceeded` naming ``op_name`` when the budget is spent."""
        if self.expired:
            raise DeadlineExceeded(f"{op_name}: the function's time budget is spent; the workflow will retry",
                                   details={"action": op_name})


@dataclass(frozen=True)
class Waiter:
    """Sleeps and reads monotonic time (both injectable); :meth:`poll` is the bounded wait loop."""

    sleep: Sleep = time.sleep
    monotonic: Monotonic = time.monotonic

    def deadline(self, seconds: float) -> Deadline:
        """A :class:`Deadline` ``seconds`` from now on this waiter's monotonic time."""
        return Deadline(seconds, monotonic=self.monotonic)

    def poll(self, observe: Callable[[], T], done: Callable[[T], bool], budget: Deadline, *,
             interval: float = 0.5, first_delay: float | None = None) -> tuple[T, bool]:
        """Call ``observe`` until ``done(observation)`` or ``budget`` is spent; always observes once.

        Observations *start* ``first_delay`` apart (default ``interval``), the gap doubling up to
        ``interval``; an observation's own round trip counts towards the gap (only the rest is
        slept), so a change is seen at most one ``interval`` after it happens however slow the
        API. No sleep goes past ``budget``.

        Returns ``(last observation, done)``. Raises whatever ``observe`` raises.
        """
        delay = interval if first_delay is None else min(first_delay, interval)
        while True:
            started = self.monotonic()
            got = observe()
            if done(got):
                return got, True
            left = budget.remaining()
            if left <= 0.0:
                return got, False
            self.sleep(min(max(0.0, delay - (self.monotonic() - started)), left))
            delay = min(delay * 2, interval)

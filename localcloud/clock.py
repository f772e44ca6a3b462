"""A controllable UTC clock shared by every part of the local cloud.

``now()`` is real time plus an offset, so time flows normally until a test or the CLI moves it
(``set``/``advance``). Always timezone-aware UTC.

The clock moves only inside :data:`WINDOW` of this machine's time, and never before the Unix epoch
(:func:`window_problem`, the one check: ``albmtls clock set``, ``albmtls rotate --now``, the admin
API and a clock offset persisted in a state directory all use it). Why ±100 years: moving the
clock is for making renewals, expiries and recovery windows fall due (days to a few years ahead);
every time the cloud stores or returns must stay a valid ``datetime`` after the longest lifetime it
issues is added (client certificates ≤ 3650 days, CAs ≤ 20 years, KMS recovery windows, CRL
periods) — at 9999-12-31 "year 10000 is out of range" broke every request; the epoch floor keeps
the epoch-millisecond fields the APIs return non-negative, as the real services' are.
"""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

#: how far from this machine's time the local clock may be moved, either way (module doc)
WINDOW = timedelta(days=36525)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def window_problem(when: datetime, wall: datetime | None = None) -> str | None:
    """Why the local cloud's clock cannot be at ``when`` (``None``: it can) — outside
    :data:`WINDOW` of ``wall`` (this machine's time) or before the Unix epoch."""
    if when.tzinfo is None:
        return "give a time zone (e.g. 2027-01-01T00:00:00Z)"
    wall = wall or datetime.now(UTC)
    low, high = max(wall - WINDOW, EPOCH), wall + WINDOW
    try:
        inside = low <= when <= high
    except OverflowError:                             # pragma: no cover - aware datetimes compare
        inside = False
    if inside:
        return None
    return (f"{when.strftime('%Y-%m-%dT%H:%M:%SZ') if when.year > 1 else when.isoformat()} is outside the local "
            f"clock's window: between {low.strftime('%Y-%m-%dT%H:%M:%SZ')} and {high.strftime('%Y-%m-%dT%H:%M:%SZ')} "
            "(this machine's time ± 100 years, not before 1970)")


def _checked_offset(offset: float, now: float | None = None) -> float:
    """``offset`` when real time plus it is inside the window; ``ValueError`` naming it otherwise."""
    now = time.time() if now is None else now
    try:
        when = datetime.fromtimestamp(now + offset, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"a clock offset of {offset:.0f} s is outside the local clock's window (this machine's "
                         "time ± 100 years, not before 1970)") from None
    problem = window_problem(when, datetime.fromtimestamp(now, tz=UTC))
    if problem:
        raise ValueError(problem)
    return float(offset)


class Clock:
    """Real time shifted by an adjustable offset (seconds)."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = _checked_offset(offset_seconds)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Current time, aware UTC."""
        return datetime.fromtimestamp(self.time(), tz=UTC)

    def time(self) -> float:
        """Current time as epoch seconds (float)."""
        with self._lock:
            return time.time() + self._offset

    def now_ms(self) -> int:
        """Current time as epoch milliseconds."""
        return int(self.time() * 1000)

    def set(self, when: datetime) -> None:
        """Jump to ``when`` (must be timezone-aware); time keeps flowing from there."""
        if when.tzinfo is None:
            raise ValueError("clock time must be timezone-aware (UTC)")
        problem = window_problem(when)
        if problem:
            raise ValueError(problem)
        with self._lock:
            self._offset = when.timestamp() - time.time()

    def set_offset(self, seconds: float) -> None:
        """Real time shifted by exactly ``seconds`` (0 = real time)."""
        checked = _checked_offset(seconds)
        with self._lock:
            self._offset = checked

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        with self._lock:
            self._offset = _checked_offset(self._offset + seconds)

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset


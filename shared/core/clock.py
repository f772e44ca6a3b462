"""Wall-clock time, injectable.

Everything that compares certificate dates or renewal times takes a :class:`Clock` rather than
calling ``datetime.now``. ``ALBMTLS_NOW`` (ISO 8601, e.g. ``2026-12-20T00:00:00Z``) shifts the
clock for the local ``rotate`` command: time starts at that instant and then runs at normal speed.
Deadlines and backoff use ``time.monotonic`` (see ``shared.adapters.retry``), never this clock.
"""
from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "FixedClock", "OffsetClock", "clock_from_env", "parse_iso", "iso_utc"]


@runtime_checkable
class Clock(Protocol):
    """Anything with ``now() -> datetime`` returning an *aware* UTC datetime."""

    def now(self) -> datetime:
        """Current time as an aware UTC datetime."""
        ...


class SystemClock:
    """The real UTC time."""

    def now(self) -> datetime:
        """Current time, aware, UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that stands still until :meth:`advance`/:meth:`set` (tests)."""

    def __init__(self, at: datetime | str) -> None:
        self._now = parse_iso(at) if isinstance(at, str) else _aware(at)

    def now(self) -> datetime:
        """The fixed instant (aware UTC)."""
        return self._now

    def advance(self, seconds: float = 0.0, **delta: float) -> datetime:
        """Move forward by ``seconds`` plus any ``timedelta`` keywords; returns the new time."""
        self._now += timedelta(seconds=seconds, **delta)
        return self._now

    def set(self, at: datetime | str) -> None:  # noqa: A003
        """Jump to ``at`` (aware datetime or ISO 8601 string)."""
        self._now = parse_iso(at) if isinstance(at, str) else _aware(at)


class OffsetClock:
    """Starts at ``start`` and then runs at real speed (``ALBMTLS_NOW``)."""

    def __init__(self, start: datetime, monotonic=time.monotonic) -> None:
        self._start = _aware(start)
        self._mono = monotonic
        self._t0 = monotonic()

    def now(self) -> datetime:
        """``start`` plus the real time elapsed since construction (aware UTC)."""
        return self._start + timedelta(seconds=self._mono() - self._t0)


def _aware(dt: datetime) -> datetime:
    return dt.replace(tzinfo=UTC) if dt.tzinfo is None else dt.astimezone(UTC)


def parse_iso(value: str) -> datetime:
    """Parse ISO 8601 (``Z`` or offset; naive means UTC) into an aware UTC datetime.

    Raises ``ValueError`` on malformed input.
    """
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    return _aware(datetime.fromisoformat(text))


def iso_utc(dt: datetime) -> str:
    """Render as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC, second precision) — the form results carry."""
    return _aware(dt).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def clock_from_env(env: Mapping[str, str] | None = None) -> Clock:
    """:class:`OffsetClock` at ``ALBMTLS_NOW`` when set, else :class:`SystemClock`.

    Raises ``shared.core.errors.AlbMtlsError`` (``CONFIG_INVALID``) when ``ALBMTLS_NOW`` is not ISO 8601.
    """
    env = os.environ if env is None else env
    raw = env.get("ALBMTLS_NOW")
    if not raw:
        return SystemClock()
    try:
        return OffsetClock(parse_iso(raw))
    except ValueError:
        from shared.core.errors import AlbMtlsError, Code

        raise AlbMtlsError(Code.CONFIG_INVALID, f"ALBMTLS_NOW={raw!r} is not an ISO 8601 time; use e.g. "
                           "2026-12-20T00:00:00Z", field="ALBMTLS_NOW") from None

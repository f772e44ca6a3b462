"""Wall-clock time, injectable: the only way time enters deployed code.

Everything that compares certificate dates or renewal times takes a :class:`Clock` rather than
calling ``datetime.now``; the FC handler wrapper builds one per invocation with
:func:`clock_from_env`. Environment (read at each invocation):

===========================  ==================================================================
``ALBMTLS_NOW``              ISO 8601 (``2026-12-20T00:00:00Z``): time starts at that instant and
                             then runs at normal speed (:class:`OffsetClock`); wins over the next
``ALBMTLS_CLOCK_OFFSET_S``   seconds added to the system time (:class:`ShiftedClock`). The local
                             runtime's FC invoker (``localruntime/fc.py``) sets it to the local
                             cloud's clock offset for each invocation, so functions share the
                             cloud's time as they share real time in the cloud; unset in the cloud
===========================  ==================================================================

Deadlines, waits and backoff use monotonic time (``shared.core.wait``), never this clock.
"""
from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["Clock", "SystemClock", "FixedClock", "OffsetClock", "ShiftedClock", "clock_from_env", "parse_iso",
           "iso_utc", "NOW_ENV", "OFFSET_ENV", "SKEW_WARN_S", "skew_seconds"]

NOW_ENV = "ALBMTLS_NOW"
OFFSET_ENV = "ALBMTLS_CLOCK_OFFSET_S"


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

    def set(self, at: datetime | str) -> None:
        """Jump to ``at`` (aware datetime or ISO 8601 string)."""
        self._now = parse_iso(at) if isinstance(at, str) else _aware(at)


class OffsetClock:
    """Starts at ``start`` and then runs at real speed (``ALBMTLS_NOW``)."""

    def __init__(self, start: datetime, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._start = _aware(start)
        self._mono = monotonic
        self._t0 = monotonic()

    def now(self) -> datetime:
        """``start`` plus the real time elapsed since construction (aware UTC)."""
        return self._start + timedelta(seconds=self._mono() - self._t0)


class ShiftedClock:
    """The system time plus a fixed ``offset_s`` seconds (``ALBMTLS_CLOCK_OFFSET_S``)."""

    def __init__(self, offset_s: float) -> None:
        self.offset_s = float(offset_s)

    def now(self) -> datetime:
        """System time + ``offset_s`` (aware UTC)."""
        return datetime.now(UTC) + timedelta(seconds=self.offset_s)


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


#: Above this many seconds between our clock and a cloud endpoint's ``Date`` a warning is logged: well
#: inside the 5 minutes a new leaf's ``notBefore`` is backdated and the 15 minutes a signed request's
#: ``x-acs-date`` may be off (docs/ALIBABA-APIS.md §4.3), and well above the header's 1 s resolution.
SKEW_WARN_S = 60.0


def skew_seconds(headers: Mapping[str, str] | None, local_now: datetime) -> float | None:
    """Seconds ``local_now`` is ahead of the server that sent ``headers`` (negative: behind), from
    its ``date`` header (RFC 9110 §6.6.1, IMF-fixdate; the SDK's response ``headers`` dict is
    lower-cased, docs/ALIBABA-APIS.md §4.5); ``None`` without a readable one. Second resolution:
    ±1 s plus half the round trip."""
    if not headers:
        return None
    raw = headers.get("date") or headers.get("Date")
    if not raw:
        return None
    from email.utils import parsedate_to_datetime
    try:
        server = parsedate_to_datetime(str(raw))
    except (TypeError, ValueError, IndexError):
        return None
    if server.tzinfo is None:
        server = server.replace(tzinfo=UTC)
    return (_aware(local_now) - server).total_seconds()


def clock_from_env(env: Mapping[str, str] | None = None) -> Clock:
    """:class:`OffsetClock` at ``ALBMTLS_NOW`` when set, else :class:`ShiftedClock` by
    ``ALBMTLS_CLOCK_OFFSET_S`` when set, else :class:`SystemClock` (module doc).

    Raises ``shared.core.errors.AlbMtlsError`` (``CONFIG_INVALID``) when ``ALBMTLS_NOW`` is not ISO
    8601 or ``ALBMTLS_CLOCK_OFFSET_S`` is not a number.
    """
    env = os.environ if env is None else env
    raw = env.get(NOW_ENV)
    if raw:
        try:
            return OffsetClock(parse_iso(raw))
        except ValueError:
            raise _config_error(NOW_ENV, f"{NOW_ENV}={raw!r} is not an ISO 8601 time; use e.g. "
                                "2026-12-20T00:00:00Z") from None
    raw = env.get(OFFSET_ENV)
    if raw:
        try:
            offset = float(raw)
        except ValueError:
            raise _config_error(OFFSET_ENV, f"{OFFSET_ENV}={raw!r} is not a number of seconds") from None
        if offset == offset and abs(offset) < 1e11:   # not NaN, within datetime's range
            return ShiftedClock(offset)
        raise _config_error(OFFSET_ENV, f"{OFFSET_ENV}={raw!r} is out of range")
    return SystemClock()


def _config_error(name: str, message: str) -> Exception:
    from shared.core.errors import AlbMtlsError, Code

    return AlbMtlsError(Code.CONFIG_INVALID, message, field=name)

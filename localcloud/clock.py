"""A controllable UTC clock shared by every part of the local cloud.

``now()`` is real time plus an offset, so time flows normally until a test or the CLI moves it
(``set``/``advance``). Always timezone-aware UTC.
"""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime


class Clock:
    """Real time shifted by an adjustable offset (seconds)."""

    def __init__(self, offset_seconds: float = 0.0) -> None:
        self._offset = float(offset_seconds)
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
        with self._lock:
            self._offset = when.timestamp() - time.time()

    def set_offset(self, seconds: float) -> None:
        """Real time shifted by exactly ``seconds`` (0 = real time)."""
        with self._lock:
            self._offset = float(seconds)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        with self._lock:
            self._offset += seconds

    @property
    def offset(self) -> float:
        with self._lock:
            return self._offset


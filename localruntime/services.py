"""Background work shared by the local cloud's services (ECS backends, data plane, health checker)."""
from __future__ import annotations

import logging
import threading
from typing import Callable

log = logging.getLogger("localcloud")


class Periodic:
    """A daemon thread calling ``fn`` every ``interval`` seconds until :meth:`stop`.

    ``delay_first``: wait one interval before the first call (the owner already ran it once).
    An exception in ``fn`` is logged and the loop goes on. ``stopped`` is set by :meth:`stop`,
    so owners can check it from their own threads.
    """

    def __init__(self, name: str, fn: Callable[[], None], interval: float, *, delay_first: bool = False) -> None:
        self.name = name
        self.fn = fn
        self.interval = interval
        self.delay_first = delay_first
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.stopped.clear()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Signal the loop and wait (bounded) for its thread."""
        self.stopped.set()
        if self._thread:
            self._thread.join(timeout=timeout)
            self._thread = None

    def _run(self) -> None:
        if self.delay_first and self.stopped.wait(self.interval):
            return
        while not self.stopped.is_set():
            try:
                self.fn()
            except Exception:  # pragma: no cover - keep the service alive
                log.exception("%s", self.name)
            self.stopped.wait(self.interval)

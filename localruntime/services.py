"""What the local cloud's runtime services have in common: the ``Service`` protocol that
``LocalCloud`` drives, and ``Periodic``, the background loop of the ECS, data-plane and health
services."""
from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

log = logging.getLogger("localcloud")


class Service(Protocol):
    """A runtime service. ``pause``/``resume`` bracket ``Emulator.reset``: ``pause`` stops every
    write to the store and waits for work in progress (loops, probes, executions); ``resume``
    makes the service follow the restored state (servers of listeners that no longer exist
    closed, stopped backends running again, health state forgotten) and goes on."""

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def pause(self) -> None: ...
    def resume(self) -> None: ...


class Periodic:
    """A daemon thread calling ``fn`` every ``interval`` seconds until :meth:`stop`.

    ``fn`` may return a number of seconds: the next call comes after that long when it is sooner
    than ``interval`` (a service that knows when its next change is due wakes up for it).
    ``delay_first``: wait one interval before the first call (the owner already ran it once).
    An exception in ``fn`` is logged and the loop goes on. ``stopped`` is set by :meth:`stop`,
    so owners can check it from their own threads. :meth:`pause` waits for a call in progress
    and holds the loop until :meth:`resume`.
    """

    def __init__(self, name: str, fn: Callable[[], float | None], interval: float, *,
                 delay_first: bool = False) -> None:
        self.name = name
        self.fn = fn
        self.interval = interval
        self.delay_first = delay_first
        self.stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._busy = threading.Lock()
        self._paused = False

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

    def pause(self) -> None:
        """Wait for the call in progress, then skip calls until :meth:`resume`."""
        with self._busy:
            self._paused = True

    def resume(self) -> None:
        with self._busy:
            self._paused = False

    def _run(self) -> None:
        if self.delay_first and self.stopped.wait(self.interval):
            return
        while not self.stopped.is_set():
            wait = self.interval
            with self._busy:
                if not self._paused:
                    try:
                        sooner = self.fn()
                    except Exception:  # pragma: no cover - keep the service alive
                        log.exception("%s", self.name)
                        sooner = None
                    if sooner is not None:
                        wait = max(0.0, min(wait, sooner))
            self.stopped.wait(wait)

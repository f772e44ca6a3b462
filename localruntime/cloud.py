"""``LocalCloud``: the whole local Alibaba Cloud — the emulator's control plane
(:class:`localcloud.emulator.Emulator`: state, clock, faults, the SDK-facing HTTP server) plus the
runtime services that run beside it: ECS backends, the TLS data plane, the health checker, the DNS
server, the CloudFlow executor, whose Tasks invoke ``functions/`` in-process (``localruntime.fc``),
the download function's anonymous HTTP trigger (``localruntime.httptrigger``) and the mail server
and webhook receiver that notifications land in (``localruntime.notifysinks``).

    cloud = LocalCloud(state_dir=".albmtls", seed="demo").start()
    cloud.endpoints()          # the endpoints-file document
    cloud.reset()              # the freshly seeded account again, every service following it
    cloud.stop()

``Settings.services`` chooses the services (tests that need only the control plane pass ``()``).
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from localcloud.emulator import ACCESS_KEY_ID, ACCESS_KEY_SECRET, REGION, Emulator, Settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from .services import Service

__all__ = ["ACCESS_KEY_ID", "ACCESS_KEY_SECRET", "REGION", "LocalCloud", "Settings", "SERVICES"]

log = logging.getLogger("localcloud")


def _ecs(cloud: LocalCloud) -> Service:
    from .ecs import EcsService
    return EcsService(cloud)


def _dataplane(cloud: LocalCloud) -> Service:
    from .dataplane import DataPlaneService
    return DataPlaneService(cloud)


def _health(cloud: LocalCloud) -> Service:
    from .health import HealthService
    return HealthService(cloud)


def _dns(cloud: LocalCloud) -> Service:
    from .dnsserver import DnsService
    return DnsService(cloud)


def _fnf(cloud: LocalCloud) -> Service:
    from .flowservice import FlowService
    return FlowService(cloud)


def _http(cloud: LocalCloud) -> Service:
    from .httptrigger import HttpTriggerService
    return HttpTriggerService(cloud)


def _notify(cloud: LocalCloud) -> Service:
    from .notifysinks import NotifySinks
    return NotifySinks(cloud)


# The runtime services, by the name ``Settings.services`` uses, in start order (``notify`` after
# ``http``: its configuration names the download trigger's URL).
SERVICES: dict[str, Callable[[LocalCloud], Service]] = {
    "ecs": _ecs, "dataplane": _dataplane, "health": _health, "dns": _dns, "fnf": _fnf,
    "http": _http, "notify": _notify,
}


class LocalCloud(Emulator):
    """The emulator plus its runtime services (see module doc)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.services: dict[str, Service] = {}
        self._runtime_at_start: dict[str, Any] = {}
        unknown = [n for n in self.settings.services if n not in SERVICES]
        if unknown:
            raise ValueError(f"unknown local cloud services {unknown}; known: {sorted(SERVICES)}")

    def start(self) -> LocalCloud:
        super().start()
        from .fc import invoke_function
        self.runtime.setdefault("flow_invoker", invoke_function)
        for name in self.settings.services:
            svc = SERVICES[name](self)
            svc.start()
            self.services[name] = svc
        self._runtime_at_start = dict(self.runtime)
        return self

    def reset(self) -> None:
        """Back to the freshly seeded account (``Emulator.reset``) with every service following
        it: executions stopped, loops and probes paused while the store is restored, the
        runtime overrides (``flow_invoker``, ``flow_sleep``, …) as they were at start, then
        data-plane servers of listeners that no longer exist closed, ECS backends running,
        health state forgotten."""
        services = list(self.services.values())
        for svc in reversed(services):
            svc.pause()
        try:
            super().reset()
            for key in [k for k in self.runtime if k not in self._runtime_at_start]:
                del self.runtime[key]
            self.runtime.update(self._runtime_at_start)
        finally:
            for svc in services:
                svc.resume()

    def stop(self) -> None:
        for name in reversed(list(self.services)):
            try:
                self.services[name].stop()
            except Exception:  # pragma: no cover - best effort on shutdown
                log.exception("stopping %s", name)
        self.services.clear()
        super().stop()

    def __enter__(self) -> LocalCloud:
        return self.start()

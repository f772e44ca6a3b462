"""Fixtures for calling the step functions as FC calls them, against a running local cloud
with its data plane, health checker and DNS server (real TLS, real DNS)."""
from __future__ import annotations

import json
import os
import random
import socket

import pytest

from localruntime.cloud import LocalCloud, Settings


def free_offset() -> int:
    """A port offset that puts listener ports 443 and 8443 in 20000–32000 and free now."""
    for _ in range(50):
        offset = random.randrange(20000, 31000) - 443
        ok = True
        for port in (443 + offset, 8443 + offset if 8443 + offset < 65536 else 443 + offset):
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port))
                except OSError:
                    ok = False
        if ok:
            return offset
    raise RuntimeError("no free port offset")


@pytest.fixture
def live_settings() -> Settings:
    return Settings(alb_job_seconds=0.2, port_offset=free_offset(), health_scale=0.25,
                    services=("ecs", "health", "dataplane", "dns", "fnf"))


@pytest.fixture
def live_cloud(tmp_path, live_settings, monkeypatch):
    """A demo-seeded local cloud with every service, its endpoints file in the environment as FC
    functions would get their configuration."""
    cloud = LocalCloud(tmp_path / "state", seed="demo", settings=live_settings).start()
    ep = tmp_path / "state" / "endpoints.json"
    cloud.write_endpoints(ep)
    monkeypatch.setenv("ALBMTLS_ENDPOINTS_FILE", str(ep))
    monkeypatch.setenv("ALBMTLS_TARGET", "local")
    try:
        from shared.adapters import clients
        clients.clear_cache()
    except ImportError:  # pragma: no cover
        pass
    try:
        yield cloud
    finally:
        cloud.stop()


@pytest.fixture
def invoke():
    """``invoke("albmtls-preflight", event_dict) -> result dict``, through the FC handler."""
    from localruntime.fc import invoke_function

    def _invoke(function_name: str, event: dict) -> dict:
        return json.loads(invoke_function(function_name, json.dumps(event).encode()))

    return _invoke


@pytest.fixture
def writes(live_cloud):
    """``writes.mark()`` then ``writes.since()`` → mutating calls (product writes that succeeded)."""

    class _W:
        def __init__(self) -> None:
            self.n = live_cloud.store.last_call_n()

        def mark(self) -> None:
            self.n = live_cloud.store.last_call_n()

        def since(self) -> list[dict]:
            return [c for c in live_cloud.store.calls(self.n)
                    if c["write"] and c["code"].startswith("OK") and c["product"] != "fnf"]

    return _W()


@pytest.fixture
def demo_input() -> dict:
    """The example provision input (examples/provision.json)."""
    here = os.path.dirname(__file__)
    with open(os.path.join(here, "..", "..", "examples", "provision.json")) as f:
        return json.load(f)

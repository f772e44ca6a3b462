"""Shared fixtures: the local clouds of the test session, SDK clients built only from a cloud's
endpoints document (exactly as a user's code would build them), and the step-function helpers.

The suite shares two local clouds per session (``CloudPool``; per worker process under
pytest-xdist), started on first use and reset before every test (``LocalCloud.reset``: the
freshly seeded demo account, clock, faults and settings as at start, every service following):

- ``cloud``: the control plane only (``services=()``) — the API contract tests;
- ``live_cloud``: every service (ECS backends, TLS data plane, health checker, DNS, CloudFlow
  executor), its endpoints file in the environment as FC functions get their configuration —
  the step, flow, API and end-to-end tests.

A test or module chooses its settings by overriding ``cloud_settings``/``live_settings``: a
non-empty ``services`` gets the live cloud; ``alb_job_seconds``, ``health_scale`` and
``flow_sleep_scale`` apply to that test (the reset restores the cloud's own). Tests that need a
cloud of their own start one and say why (a restart on a state directory, a different seed,
``albmtls up`` in a subprocess, the fault suite's faults).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from hypothesis import settings as hypothesis_settings

from localruntime.cloud import SERVICES, LocalCloud, Settings
from localruntime.ports import free_offset

if TYPE_CHECKING:
    from collections.abc import Iterator

ALL_SERVICES = tuple(SERVICES)
REPO = Path(__file__).resolve().parents[1]

# Speed is measured by the benchmarks (bench/), never asserted by a test. Hypothesis's per-example
# deadline (200 ms by default) is such an assertion: on a loaded machine a slow example fails as
# DeadlineExceeded/FlakyFailure. Off for every property test.
hypothesis_settings.register_profile("albmtls", deadline=None)
hypothesis_settings.load_profile("albmtls")


def sdk_config(endpoints: dict):
    """An SDK ``Config`` for the local cloud (plain HTTP, the local fixed key)."""
    from alibabacloud_tea_openapi.models import Config
    return Config(access_key_id=endpoints["access_key_id"], access_key_secret=endpoints["access_key_secret"],
                  endpoint=endpoints["alb"], protocol="http", region_id=endpoints["region"],
                  read_timeout=10000, connect_timeout=5000)


def make_client(product: str, endpoints: dict):
    """The official SDK client of ``product`` (alb, cas, pca, alidns, kms, fnf) for the local cloud."""
    import importlib

    from localcloud.products import BY_KEY
    cfg = sdk_config(endpoints)
    cfg.endpoint = endpoints[product]
    return importlib.import_module(BY_KEY[product].sdk_client).Client(cfg)


class CloudPool:
    """The session's local clouds (see module doc), each started on first use."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.clouds: dict[str, LocalCloud] = {}

    def _start(self, kind: str) -> LocalCloud:
        state = self.root / kind
        if kind == "control":
            settings = Settings(alb_job_seconds=0.05, services=())
        else:
            settings = Settings(alb_job_seconds=0.2, health_scale=0.25, flow_sleep_scale=0.1,
                                port_offset=free_offset((443, 8443)), services=ALL_SERVICES)
        cloud = LocalCloud(state, seed="demo", settings=settings).start()
        cloud.write_endpoints(state / "endpoints.json")
        return cloud

    def take(self, settings: Settings) -> LocalCloud:
        """The shared cloud for ``settings`` (control plane only, or every service), reset, with
        the test's ``alb_job_seconds`` and ``health_scale``."""
        kind = "live" if settings.services else "control"
        unknown = set(settings.services) - set(ALL_SERVICES)
        if unknown:
            raise ValueError(f"unknown services {sorted(unknown)}")
        cloud = self.clouds.get(kind)
        if cloud is None:
            cloud = self.clouds[kind] = self._start(kind)
        cloud.reset()
        cloud.settings.alb_job_seconds = settings.alb_job_seconds
        cloud.settings.health_scale = settings.health_scale
        cloud.settings.flow_sleep_scale = settings.flow_sleep_scale
        return cloud

    def stop(self) -> None:
        for cloud in self.clouds.values():
            cloud.stop()
        self.clouds.clear()


@pytest.fixture(scope="session")
def cloud_pool(tmp_path_factory) -> Iterator[CloudPool]:
    pool = CloudPool(tmp_path_factory.mktemp("clouds"))
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def cloud_settings() -> Settings:
    """Fast settings for tests: ALB jobs finish in 50 ms, no background services."""
    return Settings(alb_job_seconds=0.05, services=())


@pytest.fixture
def cloud(cloud_pool, cloud_settings) -> Iterator[LocalCloud]:
    """The demo-seeded local cloud, freshly reset (control plane only by default)."""
    c = cloud_pool.take(cloud_settings)
    yield c
    c.reset()      # stop what the test left running (executions, probes) before the next test


@pytest.fixture
def endpoints(cloud) -> dict:
    return cloud.endpoints()


@pytest.fixture
def clients(endpoints):
    """``clients("alb")`` → the official SDK client for that product."""
    return lambda product: make_client(product, endpoints)


@pytest.fixture
def live_settings() -> Settings:
    """Fast settings for the live cloud: ALB jobs in 0.2 s, health checks and CloudFlow waits
    (Wait states, Retry intervals) at a quarter and a tenth of their configured times."""
    return Settings(alb_job_seconds=0.2, health_scale=0.25, flow_sleep_scale=0.1, services=ALL_SERVICES)


@pytest.fixture
def live_cloud(cloud_pool, live_settings, monkeypatch) -> Iterator[LocalCloud]:
    """The demo-seeded local cloud with every service, freshly reset, its endpoints file in the
    environment as FC functions would get their configuration."""
    from shared.adapters import clients
    cloud = cloud_pool.take(live_settings)
    assert cloud.state_dir is not None
    monkeypatch.setenv("ALBMTLS_ENDPOINTS_FILE", str(cloud.state_dir / "endpoints.json"))
    monkeypatch.setenv("ALBMTLS_TARGET", "local")
    clients.clear_cache()
    yield cloud
    cloud.reset()


@pytest.fixture
def lane(live_cloud) -> LocalCloud:
    """``live_cloud`` with the flows a deployed account has (s.yaml deploys them): the provision flow
    and the issuing lane's (``workflows/issue.yaml``), where ``issue_client_cert`` and
    ``rotation_scan`` place their orders."""
    from shared.core.settings import Settings as StepSettings
    from shared.steps.provisioning import deploy_flows
    deploy_flows(StepSettings.load(), REPO / "workflows")
    return live_cloud


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
    return json.loads((REPO / "examples" / "provision.json").read_text())


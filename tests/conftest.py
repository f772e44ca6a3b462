"""Shared fixtures: a local cloud per test (fresh in-memory or tmp state), SDK clients built
only from its endpoints document, exactly as a user's code would."""
from __future__ import annotations

import pytest

from localruntime.cloud import LocalCloud, Settings


def sdk_config(endpoints: dict):
    """An SDK ``Config`` for the local cloud (plain HTTP, the local fixed key)."""
    from alibabacloud_tea_openapi.models import Config
    return Config(access_key_id=endpoints["access_key_id"], access_key_secret=endpoints["access_key_secret"],
                  endpoint=endpoints["alb"], protocol="http", region_id=endpoints["region"],
                  read_timeout=10000, connect_timeout=5000)


def make_client(product: str, endpoints: dict):
    """The official SDK client of ``product`` (alb, cas, pca, alidns, kms, fnf) for the local cloud."""
    import importlib
    module = {"alb": "alibabacloud_alb20200616.client", "cas": "alibabacloud_cas20200407.client",
              "pca": "alibabacloud_cas20200630.client", "alidns": "alibabacloud_alidns20150109.client",
              "kms": "alibabacloud_kms20160120.client", "fnf": "alibabacloud_fnf20190315.client"}[product]
    cfg = sdk_config(endpoints)
    cfg.endpoint = endpoints[product]
    return importlib.import_module(module).Client(cfg)


@pytest.fixture
def cloud_settings() -> Settings:
    """Fast settings for tests: ALB jobs finish in 50 ms, no background services."""
    return Settings(alb_job_seconds=0.05, services=())


@pytest.fixture
def cloud(tmp_path, cloud_settings):
    """A demo-seeded local cloud on a fresh state directory (control plane only by default)."""
    c = LocalCloud(tmp_path / "state", seed="demo", settings=cloud_settings).start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def endpoints(cloud) -> dict:
    return cloud.endpoints()


@pytest.fixture
def clients(endpoints):
    """``clients("alb")`` → the official SDK client for that product."""
    return lambda product: make_client(product, endpoints)

"""Fixtures of the fault suite: the engine of ``tools/reliability.py`` and a running suite cloud."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_engine():
    """``tools/reliability.py`` as a module (tools/ is not a package)."""
    name = "albmtls_reliability_tool"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, REPO / "tools" / "reliability.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="session")
def engine():
    return load_engine()


@pytest.fixture
def suite(engine, tmp_path, monkeypatch):
    """A started :class:`Suite` (one local cloud, the provision flow deployed), no faults yet."""
    for k in ("ALBMTLS_ENDPOINTS_FILE", "ALBMTLS_TARGET", "ALBMTLS_READ_TIMEOUT_MS", "ALBMTLS_RETRIES"):
        monkeypatch.delenv(k, raising=False)
    s = engine.Suite(tmp_path / "suite", runs=4, rate=0.0, seed=7, cli_run=False).start()
    try:
        yield s
    finally:
        s.stop()


def pytest_configure(config):
    config.addinivalue_line("markers", "reliability: the fault suite (tests/reliability, tools/reliability.py)")

"""Fixtures of the fault suite: the engine of ``reliability/suite.py`` and a running suite cloud."""
from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def load_engine():
    """The fault suite (``reliability/suite.py``)."""
    from reliability import suite
    return suite


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
    config.addinivalue_line("markers", "reliability: the fault suite (tests/reliability, reliability/suite.py)")

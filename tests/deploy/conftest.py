"""Fixtures for the deployment checks (helpers in deploy_fixture.py)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from .deploy_fixture import make_repo, record_observed

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def state_dir(tmp_path: Path, repo: Path) -> Path:
    sd = tmp_path / "state"
    record_observed(repo, sd)
    return sd

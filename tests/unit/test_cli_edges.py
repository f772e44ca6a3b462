"""The command line's edges that need no cloud: bad arguments and inputs end with a stable error
code and exit 2, never a Python traceback, and change nothing (typer's CliRunner, in process)."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from albmtls.app import app

runner = CliRunner()


def _deep(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def test_up_with_an_unknown_seed_is_refused_before_anything_is_created(tmp_path):
    state = tmp_path / "st"
    r = runner.invoke(app, ["up", "--seed", "bogus", "--state-dir", str(state)])
    assert r.exit_code == 2, r.output
    assert "INVALID_INPUT" in r.stderr and "known: demo" in r.stderr and "Traceback" not in r.output
    assert not state.exists()


def test_deeply_nested_input_file_is_invalid_input_not_a_traceback(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text(_deep())
    r = runner.invoke(app, ["provision", "-f", str(f), "--json", "--state-dir", str(tmp_path / "st")])
    assert r.exit_code == 2, r.output
    doc = json.loads(r.stdout)
    assert doc["error"]["code"] == "INVALID_INPUT" and "nested too deeply" in doc["error"]["message"]
    assert not (tmp_path / "st").exists()


def test_deeply_nested_flow_input_is_invalid_input(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text(_deep())
    r = runner.invoke(app, ["flow", "run", "workflows/provision.yaml", "--input", f"@{f}"])
    assert r.exit_code == 2, r.output
    assert "INVALID_INPUT" in r.stderr and "nested too deeply" in r.stderr

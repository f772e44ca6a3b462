"""s.yaml against the fc3 schema, the code-only build's layout, the RAM policy templates."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from deploy.check import SCHEMA_FILE, Resolver, check_deploy, function_dir_for

from .deploy_fixture import FUNCTIONS

REPO = Path(__file__).resolve().parents[2]


def _fc3_props(env: dict[str, str]) -> dict[str, dict]:
    doc = yaml.safe_load((REPO / "s.yaml").read_text())
    notes: list[str] = []
    r = Resolver(doc, env, notes)
    return {k: r.value(v["props"], this=(k, v)) for k, v in doc["resources"].items() if v["component"] == "fc3"}


def test_every_fc3_resource_validates_against_the_schema():
    validator = Draft7Validator(json.loads(SCHEMA_FILE.read_text()))
    known = set(json.loads(SCHEMA_FILE.read_text())["properties"])
    props = _fc3_props({"ALBMTLS_FUNCTION_ROLE_ARN": "acs:ram::1:role/albmtls-function"})
    assert {p["functionName"]: function_dir_for(p["functionName"]) for p in props.values()} == FUNCTIONS
    for key, p in props.items():
        errors = [e.message for e in validator.iter_errors(p)]
        assert errors == [], (key, errors)
        assert set(p) <= known, (key, set(p) - known)
        assert p["runtime"] == "python3.12" and p["handler"] == "index.handler"
        assert p["code"] == f"./build/{function_dir_for(p['functionName'])}"
        assert p["environmentVariables"]["ALBMTLS_TARGET"] == "cloud"
        assert p["role"] == "acs:ram::1:role/albmtls-function"
    timer = props["rotation_scan"]["triggers"][0]["triggerConfig"]
    assert len(timer["cronExpression"].split()) == 6 and json.loads(timer["payload"]) == {}
    assert props["provision_api"]["triggers"][0]["triggerConfig"]["authType"] == "function"


def test_schema_problems_are_named(repo, state_dir):
    text = (repo / "s.yaml").read_text()
    text = text.replace("memorySize: 256\n      timeout: 90", "memorySize: 100\n      timeout: 90", 1)
    text = text.replace("      logConfig: auto\n", "      logConfig: auto\n      environment: {A: b}\n", 1)
    text = text.replace("cronExpression: '0 0 2 * * *'", "cronExpression: '0 2 * * *'")
    (repo / "s.yaml").write_text(text)
    msgs = [str(p) for p in check_deploy(repo, state_dir=state_dir, env={}).problems]
    assert any("resources.provision_api.props.memorySize" in m and "schema:" in m for m in msgs), msgs
    assert any("resources.preflight.props.environment" in m and "environmentVariables" in m for m in msgs), msgs
    assert any("must have 6 fields" in m for m in msgs), msgs


def test_build_no_deps_layout(repo):
    out = subprocess.run([sys.executable, str(REPO / "deploy" / "build.py"), "--root", str(repo), "--no-deps",
                          "--only", "preflight", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    manifest = json.loads(out.stdout)
    pkg = repo / "build" / "preflight"
    files = sorted(p.relative_to(pkg).as_posix() for p in pkg.rglob("*") if p.is_file())
    assert files == ["__init__.py", "index.py", "shared/__init__.py", "shared/entry/__init__.py",
                     "shared/entry/handler.py"], files
    assert not (repo / "build" / "issue_client_cert").exists()
    entry = manifest["functions"]["preflight"]
    assert entry["deps"] == "none" and entry["distributions"] == [] and entry["problems"] == []
    # the CA is checked in the issuing lane (fnf); pca: preflight.check, the cloud plan before a first write
    assert set(entry["products"]) == {"alb", "cas", "alidns", "kms", "fnf", "pca"}
    assert json.loads((repo / "build" / "manifest.json").read_text()) == manifest


def test_build_rejects_unknown_function(repo):
    out = subprocess.run([sys.executable, str(REPO / "deploy" / "build.py"), "--root", str(repo), "--no-deps",
                          "--only", "nope"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "nope" in out.stderr


def test_build_flags_local_imports(repo):
    (repo / "functions" / "preflight" / "index.py").write_text(
        "from localcloud import cloud\nfrom . import helper\n\ndef handler(e, c):\n    return b''\n")
    out = subprocess.run([sys.executable, str(REPO / "deploy" / "build.py"), "--root", str(repo), "--no-deps",
                          "--only", "preflight", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    problems = json.loads(out.stdout)["functions"]["preflight"]["problems"]
    assert any("'localcloud'" in p for p in problems) and any("relative import" in p for p in problems)


def test_ram_templates_render(tmp_path):
    from deploy import render
    docs = render.render({"account_id": "1234567890123456", "region": "cn-hangzhou", "secret_prefix": "albmtls"})
    assert set(docs) >= {"function-role-policy.json", "flow-role-policy.json", "deployer-policy.json",
                         "function-role-trust.json", "flow-role-trust.json"}
    assert "${" not in json.dumps(docs)
    assert "acs:kms:cn-hangzhou:1234567890123456:secret/albmtls/*" in json.dumps(docs["function-role-policy.json"])
    with pytest.raises(KeyError, match="account"):
        render.render_text("${acount}", {"account_id": "1"})
    assert render.main(["--account-id", "1234567890123456", "--out", str(tmp_path / "ram")]) == 0
    assert (tmp_path / "ram" / "flow-role-trust.json").is_file()

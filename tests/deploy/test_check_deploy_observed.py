"""`albmtls check-deploy` on the real tree against a real observed run (deploy/observe.py:
provision, an update of the same listener, a rotation with revocation, a revoke and a restore) on a
fresh state dir —
and the same observation catching a RAM policy broken on purpose."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def observed(tmp_path_factory) -> Path:
    from deploy import observe
    sd = tmp_path_factory.mktemp("observe") / "state"
    summary = observe.observe(sd, timeout=240)
    assert summary["update"]["listener"] == summary["provision"]["listener"]
    assert summary["rotate"]["renewed"] >= 1
    assert summary["offboarding"]["revoked"] > 0 and summary["offboarding"]["restored"] > 0
    assert summary["own_ca"]["listener"] and summary["own_ca"]["writes"] > 0     # the listener on the own CA's upload
    return sd


def check_deploy(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")}
    return subprocess.run([sys.executable, "-m", "albmtls", "check-deploy", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)


def test_check_deploy_passes_on_the_real_tree(observed):
    p = check_deploy("--state-dir", str(observed), "--json")
    doc = json.loads(p.stdout)
    assert p.returncode == 0 and doc["ok"], json.dumps(doc["problems"], indent=1)
    # the observation covered every path the function role allows for a reason (not just provision)
    for action in ("alb:CreateListener", "alb:UpdateListenerAttribute", "yundun-cert:ListCertificates",
                   "yundun-cert:CreateClientCertificateWithCsr", "yundun-cert:ListClientCertificate",
                   "yundun-cert:CreateRevokeClientCertificate", "kms:PutSecretValue", "fnf:StartExecution",
                   "alidns:UpdateDomainRecordRemark", "yundun-cert:GetCAInstanceStatus",
                   "kms:DeleteSecret", "kms:RestoreSecret", "kms:CreateKey", "kms:AsymmetricSign",
                   "yundun-cert:CreateWarehouse", "yundun-cert:UploadPCACert"):
        assert action in doc["checked"]["observed_actions"], action
    assert "fnf:CreateFlow" in doc["checked"]["observed_deploy_actions"]
    assert set(doc["checked"]["handlers_imported"]) == set(doc["checked"]["functions"])
    # every function in functions/ is deployed and checked (no count to keep in step as functions are added)
    dirs = {"albmtls-" + d.name.replace("_", "-") for d in (REPO / "functions").iterdir() if (d / "index.py").is_file()}
    assert set(doc["checked"]["functions"]) == dirs


def test_broken_ram_policy_fails_with_the_action_named(observed, tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    for name in ("s.yaml", "requirements.txt"):
        shutil.copy2(REPO / name, root / name)
    for d in ("deploy", "functions", "shared", "workflows"):
        shutil.copytree(REPO / d, root / d, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    policy = root / "deploy" / "ram" / "function-role-policy.json"
    policy.write_text(policy.read_text().replace('"kms:PutSecretValue",', "", 1))
    p = check_deploy("--root", str(root), "--state-dir", str(observed), "--skip-observation")
    assert p.returncode == 0, p.stderr          # only the observation can know PutSecretValue is needed
    p = check_deploy("--root", str(root), "--state-dir", str(observed))
    assert p.returncode == 1
    assert "missing kms:PutSecretValue: called" in p.stderr, p.stderr


def test_observe_refuses_a_used_state_dir(observed):
    from deploy import observe
    with pytest.raises(observe.ObserveError, match="fresh directory"):
        observe.observe(observed)

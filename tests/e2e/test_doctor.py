"""`albmtls doctor`: every assumption of localcloud/COVERAGE.md rated against the target — on the
local cloud (as `make test` runs it), with a wrong setting it must catch, and on the cloud target
(the local cloud reached through the cloud target's code path). The catalogue, COVERAGE.md and
the doctor's checks are one set."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from albmtls.doctor.checks import CHECKS
from localcloud.assumptions import DOCTOR_CHECKS, SETTLED_BY, catalogue

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
PRODUCTS = ("alb", "cas", "pca", "alidns", "kms", "fnf", "sts", "actiontrail")


def doctor(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> tuple[int, dict, str]:
    base = env or {k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")}
    p = subprocess.run([sys.executable, "-m", "albmtls", "doctor", "--json", *args], cwd=REPO, capture_output=True,
                       text=True, timeout=timeout, env=base)
    try:
        return p.returncode, json.loads(p.stdout), p.stderr
    except ValueError:
        pytest.fail(f"no JSON on stdout (exit {p.returncode}):\n{p.stdout}\n{p.stderr[-3000:]}")


def test_the_catalogue_coverage_and_the_doctor_cannot_drift():
    assert set(DOCTOR_CHECKS) == set(CHECKS)
    entries = catalogue()
    keys = [a.key for a in entries]
    assert len(keys) == len(set(keys))
    assert {c for _, _, c in SETTLED_BY.values() if c} <= set(CHECKS)
    assert set(SETTLED_BY) <= set(keys), set(SETTLED_BY) - set(keys)       # no entry for a gone assumption
    coverage = (REPO / "localcloud" / "COVERAGE.md").read_text()
    for a in entries:
        assert (a.check in CHECKS) if a.check else a.why_not, a.key
        assert f"| `{a.key}` |" in coverage, f"{a.key} missing from COVERAGE.md (python -m localcloud.coverage)"


def test_doctor_on_the_local_cloud_rates_every_assumption(live_cloud):
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    code, doc, err = doctor("--endpoints-file", ep)
    assert code == 0, (doc.get("checks"), err[-2000:])
    assert {c["check"] for c in doc["checks"]} == set(CHECKS)
    assert [c for c in doc["checks"] if c["result"] == "fail"] == []
    rows = {r["assumption"]: r for r in doc["assumptions"]}
    assert set(rows) == {a.key for a in catalogue()}                     # every assumption has a row …
    assert all(r["result"] and r["detail"] for r in rows.values())       # … with a result
    assert not [k for k, r in rows.items() if r["result"] == "contradicted"]   # the local cloud agrees with itself
    assert rows["cross:ALB CaCertificates id"]["detail"] == "confirmed: ALB takes the cert_identifier"
    assert rows["alb:code:ResourceNotFound.CaCertificate"]["result"] == "confirmed"
    assert rows["alidns:code:InvalidDomainName.NoExist"]["result"] == "confirmed"
    assert rows["kms:code:Forbidden.ResourceNotFound"]["result"] == "confirmed"     # GetKmsInstance of none
    [kms] = [c for c in doc["checks"] if c["check"] == "kms-access"]
    assert "DescribeSecret of a name that does not exist: Forbidden.ResourceNotFound (HTTP 404)" in kms["detail"]
    checkable = [r for r in rows.values() if r["check"]]
    assert len(checkable) >= 15 and all(r["how"] != "not checkable without a write" for r in checkable)
    assert all(r["result"] == "not checkable" and r["detail"] for r in rows.values() if not r["check"])


def test_doctor_catches_a_wrong_ca_id_form_and_says_what_to_set(live_cloud):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")}
    env["ALBMTLS_ALB_CA_ID_FORM"] = "identifier"                        # the local cloud's ALB takes the UUID
    code, doc, _ = doctor("--endpoints-file", os.environ["ALBMTLS_ENDPOINTS_FILE"], "--check", "listener-dry-run",
                          env=env)
    assert code == 1 and doc["status"] == "failed"
    [dry] = [c for c in doc["checks"] if c["check"] == "listener-dry-run"]
    assert dry["result"] == "fail" and dry["fix"].startswith("set ALBMTLS_ALB_CA_ID_FORM=cert_identifier")
    assert "ResourceNotFound.CaCertificate" in dry["detail"] and "DryRunOperation" in dry["detail"]
    rows = {r["assumption"]: r for r in doc["assumptions"]}
    assert rows["cross:ALB CaCertificates id"]["result"] == "contradicted"
    assert "ALBMTLS_ALB_CA_ID_FORM=cert_identifier" in rows["cross:ALB CaCertificates id"]["fix"]


def test_doctor_on_the_cloud_target_reads_with_the_default_chain(live_cloud, tmp_path):
    """The cloud target's code path against the local cloud (endpoint overrides, the local key in
    the standard variables): the account first, then the checks (functions: FC 3.0 is not
    emulated, so it is left out here; tests/unit covers its reading)."""
    ep = live_cloud.endpoints()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ALBMTLS_", "ALIBABA_CLOUD_"))}
    env.update({"HOME": str(tmp_path), "ALBMTLS_PROTOCOL": "http", "ALIBABA_CLOUD_ECS_METADATA_DISABLED": "true",
                "ALIBABA_CLOUD_ACCESS_KEY_ID": ep["access_key_id"],
                "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ep["access_key_secret"],
                **{f"ALBMTLS_ENDPOINT_{p.upper()}": ep[p] for p in PRODUCTS}})
    checks = [c for c in CHECKS if c != "functions"]
    code, doc, err = doctor("--target", "cloud", "-f", str(REPO / "examples" / "provision.json"),
                            *[x for c in checks for x in ("--check", c)], env=env)
    assert code == 0, (doc.get("checks"), err[-2000:])
    assert err.startswith("account 1234567890123456 (RAMUser")
    results = {c["check"]: c["result"] for c in doc["checks"]}
    assert results["functions"] == "skip" and results["listener-dry-run"] == "ok" and results["credentials"] == "ok"

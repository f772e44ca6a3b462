"""A fleet end to end through the CLI, on the local cloud with real TLS (issue 16's Done-when):
plan (exit 2, zero writes) → apply (both listeners, 20 clients; a 60-character CN and a partner's
name work over mTLS) → plan (exit 0); CaEnabled turned off through the ALB API → `drift` and
`status` report it, `plan` shows the repair, `apply` restores it (and the daily timer's repair for an
`auto_repair` listener); `inventory --format csv` has one row per certificate the private CA lists."""
from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
FLEET = REPO / "examples" / "fleet.yaml"
L443, L8443 = "alb-demostd000000000001-443", "alb-demostd000000000001-8443"
LONG_CN = "partner-globex.settlement-feed-consumer-prd.partners.example"


def albmtls(*args: str, timeout: float = 300) -> tuple[int, dict | str, str]:
    p = subprocess.run([sys.executable, "-m", "albmtls", *args], cwd=REPO, capture_output=True, text=True,
                       timeout=timeout, env={k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")})
    out: dict | str = p.stdout
    if "--json" in args:
        try:
            out = json.loads(p.stdout)
        except ValueError:
            pytest.fail(f"no JSON document on stdout (exit {p.returncode}):\n{p.stdout}\n{p.stderr[-3000:]}")
    return p.returncode, out, p.stderr


@pytest.fixture
def ep(live_cloud) -> str:
    return os.environ["ALBMTLS_ENDPOINTS_FILE"]


def curl(live_cloud, port: int, pfx: Path | None = None) -> str:
    local = port + live_cloud.settings.port_offset
    ca = Path(live_cloud.endpoints()["state_dir"]) / "server-root-ca.pem"
    cmd = ["curl", "-sS", "--max-time", "10", "--cacert", str(ca), "--resolve", f"app.example.test:{local}:127.0.0.1",
           "-o", "/dev/null", "-w", "%{http_code}"]
    if pfx is not None:
        # the password is kept apart: DIR-passwords/<listener key>/<cn>.password (albmtls/export.py)
        out = pfx.parent.parent
        pw = out.with_name(out.name + "-passwords") / pfx.parent.name / pfx.with_suffix(".password").name
        cmd += ["--cert-type", "P12", "--cert", f"{pfx}:{pw.read_text()}"]
    return subprocess.run(cmd + [f"https://app.example.test:{local}/"], capture_output=True, text=True,
                          timeout=20).stdout


def ca_enabled_off(live_cloud, port: int) -> None:
    """What someone does in the console: mutual authentication off, through the ALB API."""
    from alibabacloud_alb20200616 import models as am

    from tests.conftest import make_client
    alb = make_client("alb", live_cloud.endpoints())
    lid = next(d["ListenerId"] for d in live_cloud.store.list("alb.listener") if d["ListenerPort"] == port)
    alb.update_listener_attribute(am.UpdateListenerAttributeRequest(listener_id=lid, ca_enabled=False))
    for _ in range(100):          # the job ends, the data plane applies it to the next connection
        if live_cloud.store.get("alb.listener", lid)["ListenerStatus"] == "Running":
            return
        time.sleep(0.1)


def test_plan_apply_drift_repair_inventory(live_cloud, ep, tmp_path, writes):
    # plan on a fresh account: changes, exit 2, zero writes
    writes.mark()
    code, plan, err = albmtls("plan", "-f", str(FLEET), "--endpoints-file", ep, "--json")
    assert code == 2, (plan, err[-2000:])
    assert plan["changes"] and [r["status"] for r in plan["listeners"]] == ["changes", "changes"]
    assert sum(len(r["clients"]) for r in plan["listeners"]) == 20
    assert writes.since() == []

    # apply: one execution per listener, both succeed; real clients get through with their PFX
    out = tmp_path / "out"
    code, applied, err = albmtls("apply", "-f", str(FLEET), "--endpoints-file", ep, "--json", "--out", str(out))
    assert code == 0, (json.dumps(applied)[:3000], err[-3000:])
    assert [(r["listener_key"], r["status"]) for r in applied["listeners"]] == [(L443, "succeeded"),
                                                                             (L8443, "succeeded")]
    assert curl(live_cloud, 443, out / L443 / "bob.pfx") == "200"
    assert not (out / L443 / "alice.pfx").exists()                 # a person: her download link, never --out
    assert curl(live_cloud, 8443, out / L8443 / "payments-service-prod.pfx") == "200"
    assert curl(live_cloud, 8443, out / L8443 / f"{LONG_CN}.pfx") == "200"        # 60 characters
    assert curl(live_cloud, 8443) != "200"                                           # no certificate: refused

    # a second plan: nothing to do
    code, again, err = albmtls("plan", "-f", str(FLEET), "--endpoints-file", ep, "--json")
    assert code == 0 and not again["changes"], (json.dumps(again)[:2000], err[-2000:])
    assert all(r["drift"] == [] for r in again["listeners"])

    # someone turns mutual authentication off on 443: anyone gets in
    ca_enabled_off(live_cloud, 443)
    assert curl(live_cloud, 443) == "200"
    code, drift, err = albmtls("drift", "--endpoints-file", ep, "--json")
    assert code == 2, (drift, err[-2000:])
    [d443] = [d for d in drift["listeners"] if d["listener_key"] == L443]
    assert d443["items"] == [{"field": "CaEnabled", "desired": True, "actual": False}]
    code, status, _ = albmtls("status", "--endpoints-file", ep, "--json")
    assert code == 0 and status["drift"]["drifted"] == 1
    assert [i["field"] for d in status["drift"]["listeners"] for i in d["items"]] == ["CaEnabled"]
    code, plan, _ = albmtls("plan", "-f", str(FLEET), "--endpoints-file", ep, "--json")
    assert code == 2
    [p443] = [r for r in plan["listeners"] if r["listener_key"] == L443]
    assert p443["listener"]["action"] == "update"
    assert p443["listener"]["changes"] == [{"field": "CaEnabled", "old": False, "new": True}]
    assert p443["drift"] == [{"field": "CaEnabled", "desired": True, "actual": False}]

    # apply repairs it: one execution (443), the other listener unchanged
    code, applied, err = albmtls("apply", "-f", str(FLEET), "--endpoints-file", ep, "--json")
    assert code == 0, (json.dumps(applied)[:3000], err[-3000:])
    assert [(r["listener_key"], r["status"]) for r in applied["listeners"]] == [(L443, "succeeded"),
                                                                             (L8443, "unchanged")]
    assert curl(live_cloud, 443) != "200" and curl(live_cloud, 443, out / L443 / "bob.pfx") == "200"
    code, drift, _ = albmtls("drift", "--endpoints-file", ep, "--json")
    assert code == 0 and drift["drifted"] == 0

    # 8443 says auto_repair: the daily timer's check starts the repair itself
    ca_enabled_off(live_cloud, 8443)
    code, timer, err = albmtls("drift", "--repair", "--endpoints-file", ep, "--json")
    assert code == 2 and timer["repairs"] == 1, (timer, err[-2000:])
    [d8443] = [d for d in timer["listeners"] if d["listener_key"] == L8443]
    assert d8443["repair"].startswith(L8443)
    for _ in range(300):
        code, drift, _ = albmtls("drift", "--endpoints-file", ep, "--json")
        if code == 0:
            break
        time.sleep(0.5)
    assert code == 0, drift
    assert curl(live_cloud, 8443) != "200"

    # the inventory: every certificate the private CA lists, from the cloud
    code, text, err = albmtls("inventory", "--endpoints-file", ep, "--format", "csv")
    assert code == 0, err[-2000:]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["holder", "common_name", "listener", "serial", "fingerprint_sha256", "not_before",
                             "not_after", "days_left", "state", "ca", "identifier"]
    from tests.api.test_fleet_api import listed_by_the_ca
    assert len(rows) == listed_by_the_ca(live_cloud) == 20
    by_cn = {r["common_name"]: r for r in rows}
    assert by_cn[LONG_CN]["listener"] == L8443 and by_cn["alice"]["listener"] == L443
    assert all(r["state"] == "valid" and len(r["fingerprint_sha256"]) == 64 for r in rows)


def test_an_invalid_document_names_the_field_and_reads_nothing(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(FLEET.read_text().replace("listener_port: 8443", "listener_port: 443"))
    state = tmp_path / "st"
    code, doc, _ = albmtls("plan", "-f", str(bad), "--json", "--state-dir", str(state))
    assert code == 1 and doc["error"] == {"code": "INVALID_INPUT", "field": "listeners[1].listener_port",
                                          "message": doc["error"]["message"]}
    assert "appears once" in doc["error"]["message"]
    code, doc, _ = albmtls("apply", "-f", str(bad), "--json", "--state-dir", str(state))
    assert code == 2 and doc["error"]["field"] == "listeners[1].listener_port"
    assert not state.exists()                       # refused before any cloud was started or read

"""Rotation on the local cloud: issue → (clock +21 days) → the day's rotation order in the issuing lane
(scan → renew → retire, ``albmtls-issuer``), through the real handlers, the real flow runner and the
emulated PCA/KMS/fnf APIs."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from shared.core.clock import parse_iso

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(live_cloud):
    import os

    from shared.core.settings import Settings
    return Settings.load(target="local", endpoints_file=os.environ["ALBMTLS_ENDPOINTS_FILE"])


@pytest.fixture
def issued(lane, invoke, demo_input):
    """alice issued by the issue step (as provision does); returns its certificate result."""
    res = invoke("albmtls-issue-client-cert", {"input": demo_input, "execution_name": "prov-test-1"})
    assert res["status"] == "ok", res
    return res["client_certificates"][0]


def at(live_cloud, cert, days: float) -> None:
    live_cloud.clock.set(parse_iso(cert["not_before"]) + timedelta(minutes=5, days=days))


def rotate(settings, **policy):
    from albmtls.rotate import rotate_once
    return rotate_once(settings, policy={"secret_prefix": "albmtls", **policy}, timeout=60)


def status_of(settings, identifier: str) -> str:
    from localruntime.fc import local_time
    from shared.steps.rotation import certificate_report
    with local_time():                      # the local cloud's time, as albmtls status runs it
        rep = certificate_report(settings)
    [row] = [r for r in rep["certificates"] if r["identifier"] == identifier]
    return row["state"]


def test_not_due_at_day_10(live_cloud, settings, issued, writes):
    at(live_cloud, issued, 10)
    writes.mark()
    doc = rotate(settings)
    assert doc["status"] == "succeeded", doc
    assert doc["started"] is True and doc["scan"]["scanned"] == 1 and doc["scan"]["due"] == 0
    assert doc["renewed"] == [] and writes.since() == []
    assert status_of(settings, issued["identifier"]) == "valid"


def test_renew_at_day_21_then_idempotent(live_cloud, settings, issued, writes):
    at(live_cloud, issued, 21)
    assert status_of(settings, issued["identifier"]) == "due"
    doc = rotate(settings)
    assert doc["status"] == "succeeded", doc
    assert doc["scan"]["due"] == 1 and doc["started"] is True and doc["scan"]["renewed"] == 1
    assert doc["writes"] == 5            # issue + password, PFX, record (naming the old one) + key log
    [new] = doc["renewed"]
    assert new["common_name"] == "alice" and new["serial"] != issued["serial"]
    assert new["old_identifier"] == issued["identifier"]
    assert new["pfx_secret"] == issued["pfx_secret"] and new["pfx_version"] == new["serial"]
    now = live_cloud.clock.now()
    assert abs(parse_iso(new["not_after"]) - (now + timedelta(days=30))) < timedelta(minutes=10)
    # the default: the old certificate stays valid (not revoked), superseded, expiring naturally
    assert new["revoke_old"] is False and new["retire_after"] == issued["not_after"]
    pca = live_cloud.store.get("pca.client", issued["identifier"])
    assert pca["Status"] == "ISSUE"
    newdoc = live_cloud.store.get("pca.client", new["identifier"])
    assert newdoc["Certificate"] != pca["Certificate"]
    from cryptography import x509
    k_old = x509.load_pem_x509_certificate(pca["Certificate"].encode()).public_key()
    k_new = x509.load_pem_x509_certificate(newdoc["Certificate"].encode()).public_key()
    assert k_old.public_numbers() != k_new.public_numbers()          # a new key
    assert status_of(settings, issued["identifier"]) == "superseded"
    assert status_of(settings, new["identifier"]) == "valid"
    # no key material in the flow history
    for ex in live_cloud.store.list("fnf.execution"):
        text = json.dumps(ex)
        assert "PRIVATE KEY" not in text and "password\": \"" not in text

    # second run, same --now: today's order ran already — nothing started, zero writes
    writes.mark()
    doc2 = rotate(settings)
    assert doc2["status"] == "succeeded", doc2
    assert doc2["started"] is False and doc2["order"] == doc["order"] and doc2["renewed"] == []
    assert writes.since() == []

    # a later run with a grace of 3 days, past it: the old one is revoked; the new one never
    at(live_cloud, issued, 25)
    doc3 = rotate(settings, revoke_after_days=3)
    assert doc3["status"] == "succeeded", doc3
    assert [r["identifier"] for r in doc3["retired"]] == [issued["identifier"]]
    assert status_of(settings, issued["identifier"]) == "revoked"
    assert status_of(settings, new["identifier"]) == "valid"


def test_revoke_immediately(live_cloud, settings, issued):
    at(live_cloud, issued, 21)
    doc = rotate(settings, revoke_old="immediately")
    assert doc["status"] == "succeeded", doc
    [new] = doc["renewed"]
    assert [r["identifier"] for r in doc["retired"]] == [issued["identifier"]]
    assert status_of(settings, issued["identifier"]) == "revoked"
    assert live_cloud.store.get("pca.client", new["identifier"])["Status"] == "ISSUE"


def test_renew_before_as_long_as_the_lifetime_is_refused(live_cloud, settings, issued, writes):
    at(live_cloud, issued, 21)
    writes.mark()
    doc = rotate(settings, renew_before_days=30)
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "RENEW_BEFORE_TOO_LONG"
    assert writes.since() == []


def test_retire_never_revokes_the_current_certificate(live_cloud, settings, issued, writes):
    at(live_cloud, issued, 5)
    writes.mark()
    doc = rotate(settings, revoke_old="immediately")
    assert doc["status"] == "succeeded", doc
    assert doc["retired"] == [] and doc["scan"]["scanned"] == 1 and writes.since() == []
    assert live_cloud.store.get("pca.client", issued["identifier"])["Status"] == "ISSUE"


def test_timer_event_payload_is_json_text(live_cloud, invoke, issued):
    at(live_cloud, issued, 5)
    res = invoke("albmtls-rotation-scan", {"triggerTime": "2026-01-01T02:00:00Z", "triggerName": "daily",
                                          "payload": json.dumps({"secret_prefix": "albmtls"})})
    day = live_cloud.clock.now().strftime("%Y%m%d")
    assert res["status"] == "ok" and res["started"] is True and res["order"] == f"rotate-albmtls-{day}", res
    again = invoke("albmtls-rotation-scan", {"triggerTime": "2026-01-01T02:00:00Z", "triggerName": "daily",
                                            "payload": "{}"})
    assert again["status"] == "ok" and again["started"] is False and again["order"] == res["order"]
    bad = invoke("albmtls-rotation-scan", {"triggerTime": "x", "triggerName": "daily", "payload": "{\"nope\": 1}"})
    assert bad["status"] == "failed" and bad["error"]["code"] == "INVALID_INPUT"


@pytest.mark.parametrize("kind", ["drop_after", "timeout_after"])
def test_rotation_when_the_flow_create_response_is_lost(live_cloud, issued, monkeypatch, kind):
    """The rotation deploys ``albmtls-issue`` (CreateFlow) when it is missing. When that write takes
    effect but its response is lost, the retry meets ``FlowAlreadyExists``: the deploy finds its own
    flow and the rotation continues (it failed with CLOUD_ERROR before — 1 reliability run in 10)."""
    import os

    from shared.adapters import clients
    from shared.core.settings import Settings
    monkeypatch.setenv("ALBMTLS_READ_TIMEOUT_MS", "600")
    clients.clear_cache()
    settings = Settings.load(target="local", endpoints_file=os.environ["ALBMTLS_ENDPOINTS_FILE"])
    assert live_cloud.store.delete("fnf.flow", "albmtls-issue")     # as if never deployed
    live_cloud.faults.configure({"rules": [{"kind": kind, "product": "fnf", "action": "CreateFlow",
                                            "hold_ms": 1500, "remaining": 1}]})
    at(live_cloud, issued, 21)
    doc = rotate(settings)
    assert live_cloud.faults.describe()["injected"].get(kind) == 1
    assert doc["status"] == "succeeded", doc
    assert doc["flow_deployed"] == "created"
    [new] = doc["renewed"]
    assert new["old_identifier"] == issued["identifier"]
    assert len(live_cloud.store.list("fnf.flow")) == len({f["Name"] for f in live_cloud.store.list("fnf.flow")})


def test_deploy_flow_meets_a_flow_created_meanwhile(live_cloud, settings, monkeypatch):
    """Another deployer creates the flow (another definition) between our DescribeFlow and our
    CreateFlow: CreateFlow answers ``FlowAlreadyExists``, the deploy updates it to ours."""
    from shared.adapters.base import CallPolicy
    from shared.adapters.fnf import Fnf
    from shared.core.wait import Deadline
    from shared.steps import provisioning
    real = Fnf.create_flow
    ours = (REPO / "workflows" / "issue.yaml").read_text()
    theirs = ours + "\n# an older deployment\n"
    other = Fnf(CallPolicy(Deadline(30)), settings=settings)      # the other deployer

    def racing(self, name, definition, **kw):
        real(other, name, theirs, description="alb-mtls", role_arn=None)
        return real(self, name, definition, **kw)

    monkeypatch.setattr(Fnf, "create_flow", racing)
    assert provisioning.deploy_flow(settings, "albmtls-issue", ours) == "updated"
    monkeypatch.setattr(Fnf, "create_flow", real)
    assert provisioning.deploy_flow(settings, "albmtls-issue", ours) == "unchanged"

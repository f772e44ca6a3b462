"""Functional tests of ``albmtls-enable-mutual-auth`` through the real FC handler on the live local cloud."""
from __future__ import annotations

import json
import time

import pytest

from localcloud.products import alb as alb_emu

FN = "albmtls-enable-mutual-auth"


@pytest.fixture(autouse=True)
def _lane(lane):
    """The flows deployed: the step takes the sub-CA's ALB id from the run's CA check in the issuing
    lane (a check-only order it places itself when no preflight did)."""


def _event(inp: dict, attempt: int = 0, execution: str | None = None) -> dict:
    ev: dict = {"input": inp, "attempt": attempt}
    if execution:
        ev["execution_name"] = execution
    return ev


def _until_ok(invoke, inp: dict, execution: str = "exec-1") -> tuple[dict, int]:
    """Call the step like the flow's wait loop does; returns the last result and the total writes."""
    total = 0
    attempt = 0
    for _ in range(10):
        out = invoke(FN, _event(inp, attempt, execution))
        total += out.get("writes", 0)
        if out["status"] != "pending":
            return out, total
        attempt = out["attempt"]
    raise AssertionError(f"still pending: {out}")


def test_creates_listener_with_mtls_then_second_call_writes_nothing(live_cloud, invoke, writes, demo_input):
    seed = live_cloud.endpoints()["seed"]
    out, total = _until_ok(invoke, demo_input)
    assert out["status"] == "ok", out
    lst = out["listener"]
    assert lst["ca_enabled"] is True
    assert lst["ca_certificate_id"] == seed["pca_sub_cert_identifier"]
    assert lst["server_certificate_id"] == seed["server_cert_identifier"]
    assert lst["status"] == "Running" and lst["port"] == 443
    assert out["writes"] <= total == len(writes.since())
    doc = alb_emu.get_listener(live_cloud, lst["id"])
    assert doc["ListenerProtocol"] == "HTTPS" and doc["CaEnabled"] is True
    assert [c["CertificateId"] for c in doc["CaCertificates"]] == [seed["pca_sub_cert_identifier"]]
    assert doc["XForwardedForConfig"]["XForwardedForClientCertSubjectDNEnabled"] is True
    sg = alb_emu.get_server_group(live_cloud, lst["server_group_id"])
    assert sg["ServerGroupName"] == demo_input["server_group"]["name"]
    assert sorted(s["ServerId"] for s in sg["Servers"]) == sorted(seed["ecs"].values())

    writes.mark()
    again = invoke(FN, _event(demo_input, 0, "exec-2"))
    assert again["status"] == "ok", again
    assert again["writes"] == 0 and writes.since() == []
    assert again["listener"] == lst


def _sdk(live_cloud, product: str):
    from tests.conftest import make_client
    return make_client(product, live_cloud.endpoints())


def _actions(calls: list[dict]) -> list[str]:
    return [f"{c['product']}:{c['action']}" for c in calls]


def _wait_running(live_cloud, listener_id: str) -> None:
    import time
    end = time.monotonic() + 5
    while (alb_emu.get_listener(live_cloud, listener_id) or {}).get("ListenerStatus") != "Running":
        assert time.monotonic() < end
        time.sleep(0.05)


def test_update_of_existing_https_listener_changes_only_mtls_fields(live_cloud, invoke, writes, demo_input):
    """An HTTPS listener already on 443 (server certificate, policy, forward target, headers as in
    the input, mutual authentication off) gets exactly one UpdateListenerAttribute: CaEnabled + CA."""
    from alibabacloud_alb20200616 import models as m

    seed = live_cloud.endpoints()["seed"]
    # first provision everything, then turn mTLS off out of band
    out, _ = _until_ok(invoke, demo_input, "setup")
    lid = out["listener"]["id"]
    client = _sdk(live_cloud, "alb")
    client.update_listener_attribute(m.UpdateListenerAttributeRequest(
        listener_id=lid, ca_enabled=False, listener_description="kept-as-is", idle_timeout=33))
    _wait_running(live_cloud, lid)
    before = alb_emu.get_listener(live_cloud, lid)
    assert before["CaEnabled"] is False

    writes.mark()
    res, total = _until_ok(invoke, demo_input, "update-run")
    assert res["status"] == "ok", res
    assert res["listener_action"] == "update"
    assert _actions(writes.since()) == ["alb:UpdateListenerAttribute"] and total == 1
    after = alb_emu.get_listener(live_cloud, lid)
    assert after["CaEnabled"] is True
    assert [c["CertificateId"] for c in after["CaCertificates"]] == [seed["pca_sub_cert_identifier"]]
    for key in ("Certificates", "SecurityPolicyId", "DefaultActions", "ListenerDescription", "IdleTimeout",
                "XForwardedForConfig", "ListenerPort", "ListenerProtocol"):
        strip = (lambda v: [{k: x for k, x in c.items() if k != "Status"} for c in v]) if key == "Certificates" \
            else (lambda v: v)
        assert strip(after[key]) == strip(before[key]), key


def test_other_protocol_on_port_refused_before_any_write(live_cloud, invoke, writes, demo_input):
    writes.mark()
    out = invoke(FN, _event(dict(demo_input, listener_port=8080)))
    assert out["status"] == "failed" and out["error"]["code"] == "LISTENER_PORT_CONFLICT"
    basic = live_cloud.endpoints()["seed"]["basic_load_balancer_id"]
    out = invoke(FN, _event(dict(demo_input, load_balancer_id=basic)))
    assert out["status"] == "failed" and out["error"]["code"] == "ALB_EDITION_UNSUPPORTED"
    assert writes.since() == []


class _ShortContext:
    """An FC context with only a few seconds left: the step cannot wait for ALB jobs."""

    request_id = "short-ctx"

    def get_remaining_time_in_millis(self) -> int:
        return 4500


def test_pending_then_resume_without_duplicate_writes(live_cloud, writes, demo_input):
    """Slow ALB jobs: each call returns ``pending`` with ``attempt`` + 1 and the next call resumes;
    every write happens exactly once."""
    import json

    from functions.enable_mutual_auth.index import handler

    live_cloud.settings.alb_job_seconds = 600.0
    results = []
    attempt = 0
    for _ in range(40):
        ev = {"input": demo_input, "execution_name": "slow-exec", "attempt": attempt}
        out = json.loads(handler(json.dumps(ev).encode(), _ShortContext()))
        assert out["attempt"] == attempt + 1, out
        attempt = out["attempt"]
        if out.get("waiting_for") == "ca_check":      # the run's CA check in the issuing lane, not a job
            time.sleep(0.2)
            continue
        results.append(out)
        if out["status"] == "ok":
            break
        assert out["status"] == "pending", out
        assert out["waiting_for"]
        live_cloud.clock.advance(601.0)   # the job finishes
    assert results[-1]["status"] == "ok", results
    assert results[-1]["listener"]["ca_enabled"] is True
    assert sum(r["writes"] for r in results) == len(writes.since())
    assert sorted(_actions(writes.since())) == ["alb:AddServersToServerGroup", "alb:CreateListener",
                                                "alb:CreateServerGroup"]
    assert len(results) >= 3   # group creation, servers, listener each waited once


def test_upload_mode_uploads_once_and_never_leaks_the_key(live_cloud, invoke, writes, demo_input, capsys):
    from alibabacloud_kms20160120 import models as km

    from localcloud.products.cas import make_server_certificate

    cert_pem, key_pem = make_server_certificate(live_cloud, "app.example.test", ["app.example.test"], days=90)
    _sdk(live_cloud, "kms").create_secret(km.CreateSecretRequest(
        secret_name="albmtls/server-key/app", secret_data=key_pem, version_id="v1"))
    inp = dict(demo_input, server_certificate={"cert_pem": cert_pem, "key_secret_name": "albmtls/server-key/app"})

    pre = invoke("albmtls-preflight", {"input": inp})
    assert pre["status"] == "ok" and pre["plan"]["server_certificate"]["action"] == "upload", pre

    writes.mark()
    out, _ = _until_ok(invoke, inp, "upload-1")
    assert out["status"] == "ok", out
    sc = out["server_certificate"]
    assert sc["mode"] == "upload" and sc["uploaded"] is True and sc["id"] == f"{sc['cas_id']}-cn-hangzhou"
    assert out["listener"]["server_certificate_id"] == sc["id"]
    assert _actions(writes.since()).count("cas:UploadUserCertificate") == 1

    writes.mark()
    again = invoke(FN, _event(inp, 0, "upload-2"))
    assert again["status"] == "ok" and again["writes"] == 0 and writes.since() == []
    assert again["server_certificate"]["cas_id"] == sc["cas_id"] and again["server_certificate"].get("uploaded") \
        in (None, False)
    pre = invoke("albmtls-preflight", {"input": inp})
    assert pre["plan"]["server_certificate"]["action"] == "use"

    body = key_pem.strip().splitlines()[1]
    captured = capsys.readouterr()
    assert body not in captured.out + captured.err
    assert "PRIVATE KEY" not in json.dumps(out) + json.dumps(again)


def test_missing_key_secret_refused(live_cloud, invoke, writes, demo_input):
    from localcloud.products.cas import make_server_certificate

    cert_pem, _ = make_server_certificate(live_cloud, "app.example.test", ["app.example.test"], days=90)
    inp = dict(demo_input, server_certificate={"cert_pem": cert_pem, "key_secret_name": "albmtls/none"})
    writes.mark()
    out = invoke(FN, _event(inp))
    assert out["status"] == "failed" and out["error"]["code"] == "SECRET_NOT_FOUND", out
    assert writes.since() == []


def test_expiring_server_certificate_refused(live_cloud, invoke, writes, demo_input):
    from localcloud.products.cas import make_server_certificate

    cert_pem, _ = make_server_certificate(live_cloud, "app.example.test", ["app.example.test"], days=3)
    inp = dict(demo_input, server_certificate={"cert_pem": cert_pem, "key_secret_name": "albmtls/none"})
    writes.mark()
    out = invoke(FN, _event(inp))
    assert out["status"] == "failed" and out["error"]["code"] == "SERVER_CERT_EXPIRING", out
    assert writes.since() == []


def test_a_wrong_ca_id_form_is_refused_by_alb_and_says_what_to_change(live_cloud, invoke, writes, demo_input,
                                                                       monkeypatch):
    """The product believes ALB takes the 32-hex Identifier (ALBMTLS_ALB_CA_ID_FORM=identifier) while
    the (local) cloud's ALB takes the CertIdentifier: ALB refuses the listener write with its error for
    an unknown CA, and the step's error names the setting to change."""
    from shared.adapters import clients
    monkeypatch.setenv("ALBMTLS_ALB_CA_ID_FORM", "identifier")
    clients.clear_cache()
    out, _ = _until_ok(invoke, demo_input)
    assert out["status"] == "failed", out
    assert out["error"]["code"] == "CA_NOT_FOUND"
    assert "ResourceNotFound.CaCertificate" in out["error"]["message"]
    assert "ALBMTLS_ALB_CA_ID_FORM" in out["error"]["message"]
    assert not [w for w in writes.since() if w["action"] in ("CreateListener", "UpdateListenerAttribute")]


def test_read_back_differing_after_the_write_is_drift_naming_field_written_and_read(live_cloud, invoke, writes,
                                                                                      demo_input, monkeypatch):
    """Another writer turns mutual authentication off while our job runs: the read-back differs from
    what was written, and the error says so field by field (not a generic CLOUD_ERROR)."""
    import dataclasses

    from shared.adapters import alb

    real = alb.Alb.get_listener

    def meddled(self, listener_id):
        lst = real(self, listener_id)
        return dataclasses.replace(lst, ca_enabled=False) if lst.status == "Running" else lst

    monkeypatch.setattr(alb.Alb, "get_listener", meddled)
    out, _ = _until_ok(invoke, demo_input)
    assert out["status"] == "failed", out
    err = out["error"]
    assert err["code"] == "DRIFT_AFTER_APPLY" and err["field"] == "ca_identifier", err
    assert "CaEnabled: wrote true, read false" in err["message"]

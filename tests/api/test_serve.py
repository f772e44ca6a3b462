"""`albmtls serve` for real: the HTTP server of albmtls/httpserver.py in front of the provision_api
handler, on a live local cloud (flows run in this process via its fnf service), driven with
http.client — 202 then polling to `succeeded`, Idempotency-Key, bad input → 4xx naming the field."""
from __future__ import annotations

import http.client
import json
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def api(live_cloud):
    from albmtls.httpserver import make_server
    from functions.provision_api.index import handler
    from shared.core.settings import Settings
    from shared.steps.provisioning import deploy_flows
    deploy_flows(Settings.load(), REPO / "workflows")
    server = make_server(handler, 0)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    port = server.server_address[1]

    def request(method: str, path: str, body: bytes | str | dict | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict, dict]:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            h = {"Content-Type": "application/json"} if body is not None else {}
            h.update(headers or {})
            conn.request(method, path, body=body, headers=h)
            resp = conn.getresponse()
            raw = resp.read()
            assert resp.getheader("Content-Type") == "application/json", raw[:200]
            assert b"Traceback" not in raw and b'File "' not in raw
            return resp.status, dict(resp.getheaders()), (json.loads(raw) if raw else {})
        finally:
            conn.close()

    try:
        yield request
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def poll(request, name: str, timeout: float = 150, base: str = "/provisions") -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, _, doc = request("GET", f"{base}/{name}")
        assert status == 200, doc
        assert doc["status"] in ("running", "succeeded", "failed"), doc
        if doc["status"] != "running":
            return doc
        assert time.monotonic() < deadline, f"{name} still running after {timeout}s at step {doc.get('step')}"
        time.sleep(0.3)


def test_provision_202_poll_succeeded_and_idempotency_key(api, demo_input, live_cloud):
    status, headers, doc = api("POST", "/provisions", demo_input, {"Idempotency-Key": "order-4711"})
    assert status == 202, doc
    name = doc["execution"]
    assert doc["status_url"] == f"/provisions/{name}" and headers["Location"] == doc["status_url"]
    assert doc["existing"] is False and doc["status"] == "running"      # the words GET uses, not "Running"

    # The same request with the same key, while it runs and after: the same execution, 200.
    status2, _, doc2 = api("POST", "/provisions", demo_input, {"Idempotency-Key": "order-4711"})
    assert status2 == 200 and doc2["execution"] == name and doc2["existing"] is True, doc2

    final = poll(api, name)
    assert final["status"] == "succeeded", final
    assert final["step"] == "deliver"          # the last step: the holders get their certificates
    res = final["result"]
    seed = live_cloud.endpoints()["seed"]
    assert res["listener"]["ca_enabled"] is True
    assert res["listener"]["ca_certificate_id"] == seed["pca_sub_cert_identifier"]
    assert res["dns"]["value"] == seed["dns_name"] and res["health"]["healthy"] is True
    assert [c["common_name"] for c in res["client_certificates"]] == ["alice"]
    assert "PRIVATE KEY" not in json.dumps(final)

    status3, _, doc3 = api("POST", "/provisions", demo_input, {"Idempotency-Key": "order-4711"})
    assert (status3, doc3["execution"], doc3["status"]) == (200, name, "succeeded"), doc3
    # Another key is another execution (the listener is free again; the steps reuse everything).
    status4, _, doc4 = api("POST", "/provisions", demo_input, {"Idempotency-Key": "order-4712"})
    assert status4 == 202 and doc4["execution"] != name
    assert poll(api, doc4["execution"])["status"] == "succeeded"


def test_revocation_route_starts_the_revoke_flow_signed_like_the_others(api, demo_input, live_cloud, writes):
    """POST /clients/revocations: who asked is the signer's AccessKeyId when the body names nobody
    (the FC gateway checked that signature); GET /clients/revocations/{name} reports the record; a
    second request writes nothing; an unknown CN is a 4xx-like failure naming those that exist."""
    status, _, doc = api("POST", "/provisions", demo_input)
    assert status == 202 and poll(api, doc["execution"])["status"] == "succeeded"
    signed = {"Authorization": "ACS3-HMAC-SHA256 Credential=LTAI5tExampleKeyId,SignedHeaders=host;x-acs-date,"
                               "Signature=0123abcd"}
    body = {"load_balancer_id": demo_input["load_balancer_id"], "listener_port": 443, "common_name": "alice",
            "reason": "cessation"}
    status, headers, doc = api("POST", "/clients/revocations", body, signed)
    assert status == 202 and headers["Location"] == doc["status_url"] == f"/clients/revocations/{doc['execution']}"
    final = poll(api, doc["execution"], base="/clients/revocations")
    assert final["status"] == "succeeded", final
    [alice] = final["result"]["clients"]
    assert (alice["action"], alice["reason"], alice["requested_by"]) == \
        ("revoked", "cessation", "access key LTAI5tExampleKeyId")
    assert alice["request_id"] and final["result"]["refusal_bound_s"] == 60
    assert all(d["Status"] == "REVOKE" for d in live_cloud.store.list("pca.client") if d["CommonName"] == "alice")
    writes.mark()
    status, _, doc = api("POST", "/clients/revocations", dict(body, requested_by="ops"), signed)
    again = poll(api, doc["execution"], base="/clients/revocations")
    assert again["result"]["writes"] == 0 and again["result"]["clients"][0]["action"] == "already_revoked"
    assert writes.since() == []
    status, _, doc = api("POST", "/clients/revocations", dict(body, common_name="carol"), signed)
    missing = poll(api, doc["execution"], base="/clients/revocations")
    assert missing["status"] == "failed" and missing["error"]["code"] == "CLIENT_NOT_FOUND"
    assert "alice" in missing["error"]["message"]
    status, _, doc = api("POST", "/clients/revocations", dict(body, reason="lost"), signed)
    assert status == 400 and doc["error"]["field"] == "reason", doc


BAD = [
    # (method, path, body, headers, status, code, field)
    ("POST", "/provisions", "{not json", {}, 400, "INVALID_INPUT", "body"),
    ("POST", "/provisions", "[1, 2]", {}, 400, "INVALID_INPUT", "body"),
    ("POST", "/provisions", "\xff", {}, 400, "INVALID_INPUT", "body"),
    ("POST", "/provisions", "[" * 30000, {}, 400, "INVALID_INPUT", "body"),
    ("POST", "/provisions", {"listener_prot": 443}, {}, 400, "INVALID_INPUT", "listener_prot"),
    ("POST", "/provisions", {"listener_port": 70000}, {}, 400, "INVALID_INPUT", "listener_port"),
    ("POST", "/provisions", {"listener_port": "443"}, {}, 400, "INVALID_INPUT", "listener_port"),
    ("POST", "/provisions", {"clients": [{"common_name": "alice", "days": 30, "profile": "nope"}]}, {},
     400, "INVALID_INPUT", "clients[0].profile"),
    ("POST", "/provisions", {}, {"Idempotency-Key": "k" * 129}, 400, "INVALID_INPUT", "Idempotency-Key"),
    ("POST", "/provisions", "x" * (64 * 1024 + 1), {}, 413, "BODY_TOO_LARGE", None),
    ("POST", "/provisions", "{}", {"Content-Type": "text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE", None),
    ("PUT", "/provisions", "{}", {}, 405, "METHOD_NOT_ALLOWED", None),
    ("DELETE", "/provisions/abc", None, {}, 405, "METHOD_NOT_ALLOWED", None),
    ("GET", "/nowhere", None, {}, 404, "NOT_FOUND", None),
    ("GET", "/provisions/no-such-execution", None, {}, 404, "NOT_FOUND", None),
    ("GET", "/provisions/%2e%2e%2fetc", None, {}, 400, "INVALID_INPUT", "name"),
]


def test_bad_requests_name_the_problem(api, demo_input):
    for method, path, body, headers, status, code, field in BAD:
        if isinstance(body, dict) and body:
            body = dict(demo_input, **body)
        got, hdrs, doc = api(method, path, body, headers)
        assert got == status, (method, path, str(body)[:80], doc)
        assert doc["error"]["code"] == code, doc
        assert doc["error"].get("field") == field, doc
        assert doc["error"]["message"]
        if status == 405:
            assert hdrs["Allow"] in ("GET", "POST")


def test_same_request_twice_in_one_second_is_one_execution(api, demo_input, live_cloud):
    """Two identical POSTs without a key landing in the same second: one execution; the second
    answer says existing: true (200), not a second 202 with existing: false."""
    from shared.core.clock import FixedClock
    from shared.core.settings import Settings
    from shared.policy.contracts import ProvisionInput
    from shared.policy.validation import decode
    from shared.steps.provisioning import start_provision
    key = decode(ProvisionInput, demo_input).listener_key
    clock = FixedClock("2026-12-07T10:00:00Z")
    first = start_provision(Settings.load(), demo_input, key, clock=clock)
    again = start_provision(Settings.load(), demo_input, key, clock=clock)
    assert (first.existing, again.existing, again.name) == (False, True, first.name)
    other = dict(demo_input, probe_requests=3)
    from shared.core.errors import AlbMtlsError
    with pytest.raises(AlbMtlsError) as ei:          # another input for the listener: refused, never joined
        start_provision(Settings.load(), other, key, clock=clock)
    assert ei.value.code == "EXECUTION_RUNNING"
    poll(api, first.name)


def test_a_refused_rotation_policy_is_400_naming_the_field(api):
    status, _, doc = api("POST", "/rotations", {"revoke_old": "sometimes"})
    assert status == 400, doc
    assert doc["error"]["code"] == "INVALID_INPUT" and doc["error"]["field"] == "revoke_old", doc
    status, _, doc = api("POST", "/rotations", {"renew_before_days": 0})
    assert status == 400 and doc["error"]["field"] == "renew_before_days", doc


def test_oversized_request_refused_before_reading(api):
    """Past the server's read limit (1 MiB), the server answers 413 itself, without the body."""
    status, _, doc = api("POST", "/provisions", b"{}", {"Content-Length": str(2 * 1024 * 1024)})
    assert status == 413 and doc["error"]["code"] == "BODY_TOO_LARGE"

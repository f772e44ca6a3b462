"""health_check through its FC handler: listener health from the health checker, then the live
mTLS probe over real DNS and real TLS against the local data plane.

Until ``enable_mutual_auth``/``issue_client_cert`` are used here, the listener, server group, client
certificate and its KMS secrets are made in the test through the real SDKs."""
from __future__ import annotations

import base64
import json
import secrets
import time
import urllib.request

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from localcloud.seed import DEMO

FN = "albmtls-health-check"


def _clients():
    from shared.adapters.clients import get_client
    from shared.core.settings import Settings

    s = Settings.load()
    return {p: get_client(p, s) for p in ("alb", "pca", "kms")}


def _wait(pred, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _setup_listener(demo_input: dict) -> str:
    from alibabacloud_alb20200616 import models as am

    alb = _clients()["alb"]
    sg = alb.create_server_group(am.CreateServerGroupRequest().from_map({
        "ServerGroupName": demo_input["server_group"]["name"], "ServerGroupType": "Instance",
        "VpcId": DEMO["vpc_id"], "Protocol": "HTTP",
        "HealthCheckConfig": {"HealthCheckEnabled": True, "HealthCheckProtocol": "HTTP", "HealthCheckPath": "/",
                              "HealthCheckMethod": "GET", "HealthCheckCodes": ["http_2xx", "http_3xx"],
                              "HealthCheckInterval": 2, "HealthCheckTimeout": 2, "HealthyThreshold": 2,
                              "UnhealthyThreshold": 2}})).body.server_group_id

    def sg_ready():
        r = alb.list_server_groups(am.ListServerGroupsRequest(server_group_ids=[sg])).body.server_groups
        return r and r[0].server_group_status == "Available"
    _wait(sg_ready, 10, "server group")
    alb.add_servers_to_server_group(am.AddServersToServerGroupRequest().from_map({
        "ServerGroupId": sg, "Servers": [{"ServerType": "Ecs", "ServerId": s["server_id"], "Port": s["port"],
                                          "Weight": 100} for s in demo_input["server_group"]["servers"]]}))
    lid = alb.create_listener(am.CreateListenerRequest().from_map({
        "LoadBalancerId": DEMO["load_balancer_id"], "ListenerProtocol": "HTTPS", "ListenerPort": 443,
        "Certificates": [{"CertificateId": DEMO["server_cert_identifier"]}],
        "SecurityPolicyId": "tls_cipher_policy_1_2", "CaEnabled": True,
        "CaCertificates": [{"CertificateId": DEMO["pca_sub_cert_identifier"]}],
        "DefaultActions": [{"Type": "ForwardGroup",
                            "ForwardGroupConfig": {"ServerGroupTuples": [{"ServerGroupId": sg}]}}]})).body.listener_id
    _wait(lambda: alb.get_listener_attribute(am.GetListenerAttributeRequest(listener_id=lid)).body.listener_status
          == "Running", 10, "listener")
    return lid


def _issue_client(demo_input: dict, cn: str) -> None:
    from alibabacloud_cas20200630 import models as pm
    from alibabacloud_kms20160120 import models as km

    c = _clients()
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])).sign(key, hashes.SHA256()))
    body = c["pca"].create_client_certificate_with_csr(pm.CreateClientCertificateWithCsrRequest(
        csr=csr.public_bytes(serialization.Encoding.PEM).decode(), parent_identifier=DEMO["pca_sub_identifier"],
        days=30, immediately=2)).body
    cert = x509.load_pem_x509_certificate(body.x_509certificate.encode())
    chain = x509.load_pem_x509_certificates(body.certificate_chain.encode()) if body.certificate_chain else []
    chain = [x for x in chain if x.subject != cert.subject and x.subject != x.issuer]
    password = secrets.token_urlsafe(18)
    pfx = pkcs12.serialize_key_and_certificates(cn.encode(), key, cert, chain,
                                                serialization.BestAvailableEncryption(password.encode()))
    lk = f"{demo_input['load_balancer_id']}-{demo_input['listener_port']}"
    for kind, data in (("pfx", base64.b64encode(pfx).decode()), ("password", password)):
        c["kms"].create_secret(km.CreateSecretRequest(secret_name=f"albmtls/{lk}/{cn}/{kind}", secret_data=data,
                                                      version_id="v1", secret_data_type="text"))


@pytest.fixture
def mtls(lane, invoke, demo_input):
    """The demo listener with mTLS, the CNAME, and client ``alice``'s PFX in KMS."""
    _setup_listener(demo_input)
    _issue_client(demo_input, demo_input["clients"][0]["common_name"])
    out = invoke("albmtls-create-cname", {"input": demo_input, "attempt": 0})
    assert out["status"] == "ok", out
    return lane


def _run_until_not_pending(invoke, demo_input, attempts: int = 6) -> dict:
    out = {}
    for n in range(attempts):
        out = invoke(FN, {"input": demo_input, "execution_name": "t", "attempt": n})
        if out["status"] != "pending":
            return out
    return out


def test_healthy_backends_and_the_probe(mtls, invoke, writes, demo_input):
    writes.mark()
    out = _run_until_not_pending(invoke, demo_input)
    assert out["status"] == "ok", out
    assert out["writes"] == 0 and writes.since() == []
    health = out["health"]
    assert health["healthy"] is True and health["non_normal"] == []
    assert {(b["server_id"], b["status"]) for b in health["backends"]} == {
        (DEMO["ecs"]["ECS01"], "Healthy"), (DEMO["ecs"]["ECS02"], "Healthy")}
    probe = out["probe"]
    w = probe["with_certificate"]
    assert w["status"] == 200 and w["requests"] == w["succeeded"] == 10
    assert set(w["backends"]) == {DEMO["ecs"]["ECS01"], DEMO["ecs"]["ECS02"]}
    assert sum(w["backends"].values()) == 10
    assert probe["without_certificate"]["refused"] is True
    assert probe["foreign_certificate"]["refused"] is True
    text = json.dumps(out)
    assert "PRIVATE KEY" not in text and "password" not in text.lower().replace('"password_secret"', "")


def test_stopped_backend_is_not_healthy(mtls, invoke, demo_input):
    ok = _run_until_not_pending(invoke, demo_input)
    assert ok["status"] == "ok", ok
    admin = json.loads(open(__import__("os").environ["ALBMTLS_ENDPOINTS_FILE"]).read())["admin"]
    ecs2 = DEMO["ecs"]["ECS02"]
    req = urllib.request.Request(f"{admin}/ecs/{ecs2}/stop", data=b"{}", method="POST",
                                 headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()

    def marked():
        out = invoke(FN, {"input": demo_input, "attempt": 0})
        return out if out["status"] == "pending" else None
    out = _wait(marked, 15, "ECS02 unhealthy")
    assert out["health"]["healthy"] is False
    assert [b["server_id"] for b in out["health"]["non_normal"]] == [ecs2]
    assert out["health"]["non_normal"][0]["status"] == "Unhealthy"
    assert out["attempt"] == 1 and out["writes"] == 0

    failed = invoke(FN, {"input": demo_input, "attempt": 10})
    assert failed["status"] == "failed" and failed["error"]["code"] == "HEALTH_CHECK_FAILED", failed
    assert ecs2 in failed["error"]["message"]


def test_missing_listener(live_cloud, invoke, demo_input):
    out = invoke(FN, {"input": {**demo_input, "listener_port": 9443}, "attempt": 0})
    assert out["status"] == "failed" and out["error"]["code"] == "LISTENER_NOT_FOUND", out


def test_refusals_under_tls13(mtls, invoke, demo_input):
    """Under TLS 1.3 the listener rejects the client certificate after the client's handshake:
    the probe must still see both refusals (failed/empty first read)."""
    from alibabacloud_alb20200616 import models as am

    alb = _clients()["alb"]
    lid = next(d["ListenerId"] for d in mtls.store.list("alb.listener") if d["ListenerPort"] == 443)
    alb.update_listener_attribute(am.UpdateListenerAttributeRequest(
        listener_id=lid, security_policy_id="tls_cipher_policy_1_2_strict_with_1_3"))
    _wait(lambda: alb.get_listener_attribute(am.GetListenerAttributeRequest(listener_id=lid)).body.listener_status
          == "Running", 10, "listener")
    out = _run_until_not_pending(invoke, demo_input)
    assert out["status"] == "ok", out
    assert out["probe"]["with_certificate"]["succeeded"] == 10
    assert out["probe"]["without_certificate"]["refused"] and out["probe"]["foreign_certificate"]["refused"]


def test_after_the_real_steps(lane, invoke, writes, demo_input):
    """The chain as the flow runs it: issue_client_cert, enable_mutual_auth (its wait loop),
    create_cname, then health_check — with the secrets and listener those steps made."""
    ev = {"input": demo_input, "execution_name": "chain-test", "attempt": 0}
    issued = invoke("albmtls-issue-client-cert", ev)
    assert issued["status"] == "ok", issued
    for n in range(40):
        enabled = invoke("albmtls-enable-mutual-auth", {**ev, "attempt": n})
        if enabled["status"] != "pending":
            break
        time.sleep(0.2)
    assert enabled["status"] == "ok", enabled
    assert invoke("albmtls-create-cname", ev)["status"] == "ok"
    writes.mark()
    out = _run_until_not_pending(invoke, demo_input)
    assert out["status"] == "ok", out
    assert out["writes"] == 0 and writes.since() == []
    assert set(out["probe"]["with_certificate"]["backends"]) == {DEMO["ecs"]["ECS01"], DEMO["ecs"]["ECS02"]}
    assert out["probe"]["without_certificate"]["refused"] and out["probe"]["foreign_certificate"]["refused"]

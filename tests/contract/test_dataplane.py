"""The local data plane for real: ECS backends, the health checker and the TLS listeners, with
documents written straight into the store (SCHEMA.md) and a PKI made here with ``cryptography``.
Clients are python ``ssl``/``http.client`` with timeouts; everything on 127.0.0.1."""
from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.request
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from localruntime.cloud import LocalCloud, Settings
from localruntime.ports import free_offset

if TYPE_CHECKING:
    from pathlib import Path

UTC = dt.UTC
LB = "alb-testlb000000000001"
LID = "lsn-test000000000000001"
SG = "sgp-test000000000000001"
ECS1, ECS2 = "i-test00000000000000001", "i-test00000000000000002"
SUB_ID = "aaaabbbbccccddddeeeeffff00001111"
ROOT_ID = "aaaabbbbccccddddeeeeffff00000000"
CERT_ID = 30000001


# -- a small PKI ------------------------------------------------------------------------------
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Org"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def make_ca(cn: str, parent=None, days: int = 3650):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(UTC)
    issuer_name, signer = (parent[0].subject, parent[1]) if parent else (_name(cn), key)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None if parent is None else 0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .sign(signer, hashes.SHA256()))
    return cert, key


def make_leaf(cn: str, ca, *, client: bool = True, not_before: dt.datetime | None = None,
              days: int = 30, sans: list[str] | None = None):
    key = ec.generate_private_key(ec.SECP256R1())
    nb = not_before or (dt.datetime.now(UTC) - dt.timedelta(minutes=5))
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca[0].subject)
         .public_key(key.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(nb + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH if client
                                               else ExtendedKeyUsageOID.SERVER_AUTH]), critical=False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return b.sign(ca[1], hashes.SHA256()), key


class Pki:
    def __init__(self) -> None:
        self.root = make_ca("Test Root CA")
        self.sub = make_ca("Test Sub CA", parent=self.root)
        self.server = make_leaf("app.example.test", self.root, client=False, days=365,
                                sans=["app.example.test", "localhost"])
        self.client = make_leaf("client-01", self.sub)
        self.foreign_root = make_ca("Foreign Root")
        self.foreign_client = make_leaf("intruder", self.foreign_root)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki()


def write_client(tmp: Path, name: str, leaf, sub=None) -> str:
    p = tmp / f"{name}.pem"
    p.write_text(_pem(leaf[0]) + (_pem(sub[0]) if sub else "") + _key_pem(leaf[1]))
    return str(p)


# -- the cloud -------------------------------------------------------------------------------
def hc_config(**over) -> dict:
    cfg = {"HealthCheckEnabled": True, "HealthCheckPath": "/health", "HealthCheckMethod": "HEAD",
           "HealthCheckCodes": ["http_2xx", "http_3xx"], "HealthCheckInterval": 2, "HealthCheckTimeout": 2,
           "HealthyThreshold": 2, "UnhealthyThreshold": 2, "HealthCheckConnectPort": 0,
           "HealthCheckProtocol": "HTTP"}
    cfg.update(over)
    return cfg


def listener_doc(**over) -> dict:
    doc = {"ListenerId": LID, "LoadBalancerId": LB, "ListenerPort": 443, "ListenerProtocol": "HTTPS",
           "ListenerStatus": "Running", "Certificates": [{"CertificateId": f"{CERT_ID}-cn-hangzhou"}],
           "CaEnabled": True, "CaCertificates": [{"CertificateId": SUB_ID, "IsDefault": True, "Status": "Associated"}],
           "SecurityPolicyId": "tls_cipher_policy_1_2",
           "DefaultActions": [{"Type": "ForwardGroup",
                               "ForwardGroupConfig": {"ServerGroupTuples": [{"ServerGroupId": SG}]}}],
           "XForwardedForConfig": {"XForwardedForEnabled": True},
           "IdleTimeout": 15, "RequestTimeout": 60, "GzipEnabled": True, "Http2Enabled": True,
           "ListenerDescription": "test", "busy_until_s": 0.0, "busy_status": ""}
    doc.update(over)
    return doc


def seed_docs(cloud: LocalCloud, pki: Pki) -> None:
    st = cloud.store
    for iid, name in ((ECS1, "ECS01"), (ECS2, "ECS02")):
        st.put("ecs.instance", iid, {"InstanceId": iid, "InstanceName": name, "VpcId": "vpc-t",
                                     "PrivateIpAddress": "127.0.0.1", "ports": [80], "running": True})
    st.put("alb.servergroup", SG, {
        "ServerGroupId": SG, "ServerGroupName": "sg", "ServerGroupType": "Instance", "VpcId": "vpc-t",
        "Protocol": "HTTP", "Scheduler": "Wrr", "HealthCheckConfig": hc_config(),
        "Servers": [{"ServerId": i, "ServerType": "Ecs", "Port": 80, "Weight": 100, "ServerIp": "127.0.0.1",
                     "Description": n, "Status": "Available"} for i, n in ((ECS1, "ECS01"), (ECS2, "ECS02"))],
        "busy_until_s": 0.0})
    srv = pki.server[0]
    st.put("cas.cert", str(CERT_ID), {
        "CertId": CERT_ID, "CertIdentifier": f"{CERT_ID}-cn-hangzhou", "Name": "app",
        "Cert": _pem(srv) + _pem(pki.root[0]), "Key": _key_pem(pki.server[1]), "CommonName": "app.example.test",
        "Sans": ["app.example.test"], "Issuer": "Test Root CA",
        "NotBefore": int(srv.not_valid_before_utc.timestamp() * 1000),
        "NotAfter": int(srv.not_valid_after_utc.timestamp() * 1000),
        "Fingerprint": hashlib.sha1(srv.public_bytes(serialization.Encoding.DER)).hexdigest().upper(),
        "Sha256": "", "SerialNo": format(srv.serial_number, "x"), "Algorithm": "ECC"})
    for ident, parent, ca, kind in ((ROOT_ID, "", pki.root, "ROOT"), (SUB_ID, ROOT_ID, pki.sub, "SUB_ROOT")):
        st.put("pca.ca", ident, {
            "Identifier": ident, "ParentIdentifier": parent, "CertificateType": kind,
            "Certificate": _pem(ca[0]), "CertificateChain": _pem(ca[0]) + ("" if kind == "ROOT" else _pem(pki.root[0])),
            "key_pem": _key_pem(ca[1]), "Algorithm": "ECC_256", "KeyAlgorithm": "ECC",
            "SubjectDN": ca[0].subject.rfc4514_string(), "CommonName": "ca", "SerialNumber": "1",
            "BeforeDate": 0, "AfterDate": 0, "Status": "ISSUE", "subscription_end": 0, "Sha256": ""})
    st.put("alb.listener", LID, listener_doc(), key2=LB)


@pytest.fixture
def lc(tmp_path, pki):
    """A cloud of its own (not the shared one): no demo seed but the documents above, and every
    test checks that stopping it leaves no thread behind."""
    settings = Settings(alb_job_seconds=0.05, port_offset=free_offset((443,)), health_scale=0.1,
                        services=("ecs", "health", "dataplane"))
    cloud = LocalCloud(tmp_path / "state", seed=None, settings=settings)
    seed_docs(cloud, pki)
    before = set(threading.enumerate())
    cloud.start()
    try:
        wait_for(lambda: LID in cloud.runtime.get("dataplane", {}), 5, "listener serving")
        yield cloud
    finally:
        cloud.stop()
    time.sleep(0.05)   # let finished handler threads exit
    leftover = [t for t in threading.enumerate() if t not in before and t.is_alive()]
    assert not leftover, leftover


def wait_for(pred, timeout: float, what: str):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def update_listener(cloud: LocalCloud, **fields) -> None:
    doc = cloud.store.get("alb.listener", LID)
    assert doc is not None
    doc.update(fields)
    cloud.store.put("alb.listener", LID, doc)


def client_ctx(pki: Pki, cert_file: str | None = None, *, minimum=None, maximum=None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=_pem(pki.root[0]))
    ctx.check_hostname = False   # we connect to 127.0.0.1; the cert is for app.example.test
    if cert_file:
        ctx.load_cert_chain(cert_file)
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


def get(cloud: LocalCloud, ctx: ssl.SSLContext, path: str = "/", headers: dict | None = None, method: str = "GET"):
    """(status, parsed JSON or raw body) or raises on a refused/closed connection."""
    port = cloud.runtime["dataplane"][LID]
    conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
    finally:
        conn.close()
    try:
        return resp.status, json.loads(data)
    except ValueError:
        return resp.status, data


def refused(cloud, ctx) -> bool:
    try:
        get(cloud, ctx)
    except (ssl.SSLError, OSError, http.client.HTTPException):
        return True
    return False


def admin(cloud: LocalCloud, method: str, path: str) -> dict:
    req = urllib.request.Request(f"http://{cloud.api_endpoint}/_admin/{path}", method=method,
                                 data=b"{}" if method == "POST" else None)
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def health(cloud, iid) -> dict | None:
    return cloud.store.get("health.server", f"{SG}/{iid}/80")


# -- tests ---------------------------------------------------------------------------------------
def test_ecs_backends_answer_and_stop_start(lc):
    ports = lc.runtime["ecs_ports"]
    p1 = ports[(ECS1, 80)]
    with urllib.request.urlopen(f"http://127.0.0.1:{p1}/x?y=1", timeout=5) as r:
        body = json.loads(r.read())
    assert body["instance_id"] == ECS1 and body["instance_name"] == "ECS01" and body["path"] == "/x?y=1"
    req = urllib.request.Request(f"http://127.0.0.1:{p1}/", method="HEAD")
    with urllib.request.urlopen(req, timeout=5) as r:
        assert r.status == 200 and r.read() == b""
    out = admin(lc, "POST", f"ecs/{ECS1}/stop")
    assert out["running"] is False and lc.store.get("ecs.instance", ECS1)["running"] is False
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", p1), timeout=2).close()
    admin(lc, "POST", f"ecs/{ECS1}/start")
    assert lc.runtime["ecs_ports"][(ECS1, 80)] == p1
    with urllib.request.urlopen(f"http://127.0.0.1:{p1}/", timeout=5) as r:
        assert json.loads(r.read())["instance_id"] == ECS1
    assert {i["InstanceId"] for i in admin(lc, "GET", "ecs")["instances"]} == {ECS1, ECS2}


def test_no_client_certificate_gets_no_http_response(lc, pki):
    assert refused(lc, client_ctx(pki))


def test_pca_issued_cert_reaches_both_backends(lc, pki, tmp_path):
    ctx = client_ctx(pki, write_client(tmp_path, "c", pki.client, pki.sub))
    seen = []
    for i in range(10):
        status, body = get(lc, ctx, f"/r{i}")
        assert status == 200, body
        seen.append(body["instance_id"])
        assert body["path"] == f"/r{i}"
        hdrs = {k.lower(): v for k, v in body["headers"].items()}
        assert hdrs["x-forwarded-for"] == "127.0.0.1" and hdrs["x-forwarded-proto"] == "https"
    assert seen.count(ECS1) == 5 and seen.count(ECS2) == 5


def test_leaf_only_client_cert_also_accepted(lc, pki, tmp_path):
    # the client sends no chain: the sub-CA is the trust anchor on the listener
    assert get(lc, client_ctx(pki, write_client(tmp_path, "c", pki.client)))[0] == 200


def test_foreign_ca_refused(lc, pki, tmp_path):
    assert refused(lc, client_ctx(pki, write_client(tmp_path, "f", pki.foreign_client, pki.foreign_root)))


def test_sibling_sub_ca_under_same_root_refused(lc, pki, tmp_path):
    sibling = make_ca("Sibling Sub CA", parent=pki.root)
    leaf = make_leaf("sibling-client", sibling)
    assert refused(lc, client_ctx(pki, write_client(tmp_path, "s", leaf, sibling)))


def test_mtls_off_and_ca_change_apply_to_next_connection(lc, pki, tmp_path):
    assert refused(lc, client_ctx(pki))
    update_listener(lc, CaEnabled=False)
    assert get(lc, client_ctx(pki))[0] == 200
    # back on, but trusting the foreign CA (an uploaded CA in CAS, id with region suffix)
    lc.store.put("cas.cert", "30000099", {"CertId": 30000099, "Cert": _pem(pki.foreign_root[0]), "Key": ""})
    update_listener(lc, CaEnabled=True, CaCertificates=[{"CertificateId": "30000099-cn-hangzhou", "IsDefault": True}])
    assert refused(lc, client_ctx(pki, write_client(tmp_path, "c", pki.client, pki.sub)))
    assert get(lc, client_ctx(pki, write_client(tmp_path, "f", pki.foreign_client)))[0] == 200


def test_validity_checked_against_cloud_clock(lc, pki, tmp_path):
    good = client_ctx(pki, write_client(tmp_path, "c", pki.client, pki.sub))
    # issued "in the future" (a clock-advanced PCA): invalid for OpenSSL's real time, valid on the cloud clock
    future = make_leaf("future", pki.sub, not_before=dt.datetime.now(UTC) + dt.timedelta(days=20))
    fut = client_ctx(pki, write_client(tmp_path, "fu", future, pki.sub))
    assert refused(lc, fut)
    lc.clock.advance(21 * 86400)
    assert get(lc, fut)[0] == 200
    assert get(lc, good)[0] == 200          # day 21 of 30
    lc.clock.advance(10 * 86400)            # day 31: the 30-day client cert has expired
    assert refused(lc, good)


def test_security_policy_versions(lc, pki, tmp_path):
    cert = write_client(tmp_path, "c", pki.client, pki.sub)
    only13 = client_ctx(pki, cert, minimum=ssl.TLSVersion.TLSv1_3)
    assert refused(lc, only13)               # tls_cipher_policy_1_2: TLS 1.2 only
    update_listener(lc, SecurityPolicyId="tls_cipher_policy_1_2_strict_with_1_3")
    port = lc.runtime["dataplane"][LID]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with only13.wrap_socket(raw, server_hostname="app.example.test") as tls:
            assert tls.version() == "TLSv1.3"


def test_clientcert_headers_reach_backend(lc, pki, tmp_path):
    update_listener(lc, XForwardedForConfig={
        "XForwardedForEnabled": True,
        "XForwardedForClientCertSubjectDNEnabled": True,
        "XForwardedForClientCertIssuerDNEnabled": True,
        "XForwardedForClientCertFingerprintEnabled": True, "XForwardedForClientCertFingerprintAlias": "x-cert-fp",
        "XForwardedForClientCertClientVerifyEnabled": True})
    status, body = get(lc, client_ctx(pki, write_client(tmp_path, "c", pki.client, pki.sub)),
                       headers={"X-Forwarded-Clientcert-subjectdn": "CN=spoofed", "X-Forwarded-For": "10.0.0.9"})
    assert status == 200
    h = {k.lower(): v for k, v in body["headers"].items()}
    assert h["x-forwarded-clientcert-subjectdn"] == "CN=client-01,O=Test Org"
    assert h["x-forwarded-clientcert-issuerdn"] == "CN=Test Sub CA,O=Test Org"
    assert h["x-cert-fp"] == hashlib.sha1(pki.client[0].public_bytes(serialization.Encoding.DER)).hexdigest()
    assert "x-forwarded-clientcert-fingerprint" not in h
    assert h["x-forwarded-clientcert-clientverify"] == "SUCCESS"
    assert h["x-forwarded-for"] == "10.0.0.9, 127.0.0.1"
    update_listener(lc, CaEnabled=False)
    status, body = get(lc, client_ctx(pki))
    h = {k.lower(): v for k, v in body["headers"].items()}
    assert h["x-forwarded-clientcert-clientverify"] == "NONE" and "x-forwarded-clientcert-subjectdn" not in h


def test_health_stopped_backend_unhealthy_then_recovers(lc, pki, tmp_path):
    # interval 2 s × 0.1 = 0.2 s; thresholds 2
    wait_for(lambda: all((health(lc, i) or {}).get("Status") == "Healthy" for i in (ECS1, ECS2)), 3, "healthy")
    admin(lc, "POST", f"ecs/{ECS1}/stop")
    t0 = time.monotonic()
    wait_for(lambda: (health(lc, ECS1) or {}).get("Status") == "Unhealthy", 0.2 * 3 + 1.0, "unhealthy")
    assert time.monotonic() - t0 <= 0.2 * 3 + 1.0
    doc = health(lc, ECS1)
    assert doc["ReasonCode"] == "CONNECT_FAILED" and doc["ServerGroupId"] == SG and doc["Port"] == 80
    ctx = client_ctx(pki, write_client(tmp_path, "c", pki.client, pki.sub))
    assert {get(lc, ctx)[1]["instance_id"] for _ in range(6)} == {ECS2}
    admin(lc, "POST", f"ecs/{ECS1}/start")
    wait_for(lambda: (health(lc, ECS1) or {}).get("Status") == "Healthy", 2, "recovered")
    assert health(lc, ECS1)["ReasonCode"] == ""
    assert {get(lc, ctx)[1]["instance_id"] for _ in range(4)} == {ECS1, ECS2}


def test_stopped_backend_skipped_before_health_notices(lc, pki, tmp_path):
    admin(lc, "POST", f"ecs/{ECS2}/stop")
    ctx = client_ctx(pki, write_client(tmp_path, "c", pki.client, pki.sub))
    assert {get(lc, ctx)[1]["instance_id"] for _ in range(4)} == {ECS1}
    admin(lc, "POST", f"ecs/{ECS1}/stop")
    wait_for(lambda: all((health(lc, i) or {}).get("Status") == "Unhealthy" for i in (ECS1, ECS2)), 3, "all down")
    assert get(lc, ctx)[0] == 503


def test_health_response_mismatch(lc):
    sg = lc.store.get("alb.servergroup", SG)
    sg["HealthCheckConfig"] = hc_config(HealthCheckCodes=["http_3xx"])
    lc.store.put("alb.servergroup", SG, sg)
    wait_for(lambda: (health(lc, ECS2) or {}).get("Status") == "Unhealthy", 3, "mismatch")
    doc = health(lc, ECS2)
    assert (doc["ReasonCode"], doc["ExpectedResponse"], doc["ActualResponse"]) == \
        ("RESPONSE_MISMATCH", "HTTP_3xx", "200")


def test_listener_lifecycle(lc, pki, tmp_path):
    port = lc.runtime["dataplane"][LID]
    update_listener(lc, ListenerStatus="Stopped")
    wait_for(lambda: LID not in lc.runtime["dataplane"], 3, "stopped")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    # being created: not served until the job ends
    update_listener(lc, ListenerStatus="Running", busy_until_s=lc.clock.time() + 0.5, busy_status="Provisioning")
    time.sleep(0.25)
    assert LID not in lc.runtime["dataplane"]
    wait_for(lambda: LID in lc.runtime["dataplane"], 3, "running again")
    # an update in progress keeps serving
    update_listener(lc, busy_until_s=lc.clock.time() + 5, busy_status="Configuring")
    time.sleep(0.25)
    ctx = client_ctx(pki, write_client(tmp_path, "c", pki.client, pki.sub))
    assert get(lc, ctx)[0] == 200
    assert admin(lc, "GET", "dataplane")["listeners"] == {LID: port}


# -- with the real products and the official SDK ---------------------------------------------------
@pytest.fixture
def cloud_settings() -> Settings:
    """For the conftest ``cloud``/``clients`` fixtures: demo seed plus the data-plane services."""
    return Settings(alb_job_seconds=0.05, health_scale=0.1,
                    services=("ecs", "health", "dataplane"))


def test_sdk_listener_with_pca_client_cert(cloud, clients, endpoints, tmp_path):
    from alibabacloud_alb20200616 import models as am
    from alibabacloud_cas20200630 import models as pm
    seed = endpoints["seed"]
    alb, pca = clients("alb"), clients("pca")

    hc = am.CreateServerGroupRequestHealthCheckConfig(
        health_check_enabled=True, health_check_protocol="HTTP", health_check_path="/health",
        health_check_method="HEAD", health_check_codes=["http_2xx", "http_3xx"], health_check_interval=2,
        health_check_timeout=2, healthy_threshold=2, unhealthy_threshold=2)
    sg_id = alb.create_server_group(am.CreateServerGroupRequest(
        server_group_name="mtls-backends", vpc_id=seed["vpc_id"], protocol="HTTP", health_check_config=hc,
        client_token="sg-1")).body.server_group_id
    wait_for(lambda: alb.list_server_groups(am.ListServerGroupsRequest(server_group_ids=[sg_id]))
             .body.server_groups[0].server_group_status == "Available", 5, "server group")
    alb.add_servers_to_server_group(am.AddServersToServerGroupRequest(server_group_id=sg_id, servers=[
        am.AddServersToServerGroupRequestServers(server_type="Ecs", server_id=iid, port=80, weight=100)
        for iid in seed["ecs"].values()], client_token="add-1"))
    xff = am.CreateListenerRequestXForwardedForConfig(
        xforwarded_for_client_cert_subject_dnenabled=True, xforwarded_for_client_cert_client_verify_enabled=True)
    lid = alb.create_listener(am.CreateListenerRequest(
        load_balancer_id=seed["load_balancer_id"], listener_port=443, listener_protocol="HTTPS",
        certificates=[am.CreateListenerRequestCertificates(certificate_id=seed["server_cert_identifier"])],
        ca_enabled=True,
        ca_certificates=[am.CreateListenerRequestCaCertificates(certificate_id=seed["pca_sub_cert_identifier"])],
        security_policy_id="tls_cipher_policy_1_2_strict_with_1_3",
        default_actions=[am.CreateListenerRequestDefaultActions(
            type="ForwardGroup", forward_group_config=am.CreateListenerRequestDefaultActionsForwardGroupConfig(
                server_group_tuples=[am.CreateListenerRequestDefaultActionsForwardGroupConfigServerGroupTuples(
                    server_group_id=sg_id)]))],
        xforwarded_for_config=xff, client_token="lsn-1")).body.listener_id
    wait_for(lambda: alb.get_listener_attribute(am.GetListenerAttributeRequest(listener_id=lid))
             .body.listener_status == "Running", 5, "listener running")
    port = wait_for(lambda: cloud.runtime["dataplane"].get(lid), 5, "data plane port")
    assert port == 443 + cloud.settings.port_offset

    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(_name("sdk-client"))
           .sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode())
    issued = pca.create_client_certificate_with_csr(pm.CreateClientCertificateWithCsrRequest(
        csr=csr, parent_identifier=seed["pca_sub_identifier"], days=30, immediately=2)).body
    cert_file = tmp_path / "client.pem"
    cert_file.write_text(issued.x_509certificate + issued.certificate_chain + _key_pem(key))

    def ctx(with_cert: bool) -> ssl.SSLContext:
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        c.check_hostname, c.verify_mode = False, ssl.CERT_NONE
        if with_cert:
            c.load_cert_chain(str(cert_file))
        return c

    def request(c):
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=c, timeout=5)
        try:
            conn.connect()
            server_cert = x509.load_der_x509_certificate(conn.sock.getpeercert(binary_form=True))
            conn.request("GET", "/")
            resp = conn.getresponse()
            return resp.status, json.loads(resp.read()), server_cert
        finally:
            conn.close()

    names = []
    for _ in range(4):
        status, body, server_cert = request(ctx(True))
        assert status == 200
        names.append(body["instance_name"])
        h = {k.lower(): v for k, v in body["headers"].items()}
        assert h["x-forwarded-clientcert-clientverify"] == "SUCCESS"
        assert "CN=sdk-client" in h["x-forwarded-clientcert-subjectdn"]
    assert sorted(set(names)) == ["ECS01", "ECS02"]
    san = server_cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert seed["server_cert_domain"] in san.get_values_for_type(x509.DNSName)
    with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
        request(ctx(False))

    def all_healthy() -> bool:
        body = alb.get_listener_health_status(am.GetListenerHealthStatusRequest(listener_id=lid)).body
        infos = body.listener_health_status[0].server_group_infos
        return infos[0].server_count == 2 and not infos[0].non_normal_servers
    wait_for(all_healthy, 5, "healthy backends in GetListenerHealthStatus")
    admin(cloud, "POST", f"ecs/{seed['ecs']['ECS01']}/stop")

    def ecs01_unhealthy():
        body = alb.get_listener_health_status(am.GetListenerHealthStatusRequest(listener_id=lid)).body
        bad = body.listener_health_status[0].server_group_infos[0].non_normal_servers
        return bad and bad[0].status == "Unhealthy" and bad[0].reason.reason_code == "CONNECT_FAILED"
    wait_for(ecs01_unhealthy, 3, "ECS01 unhealthy in GetListenerHealthStatus")



def test_the_reconcile_loop_wakes_up_when_a_listener_job_ends(live_cloud):
    """The data plane binds a new listener's port as its creation job ends, not up to a reconcile
    tick later (a caller that saw ``Running`` and probed at once was refused — the fault suite's
    PROBE_FAILED): ``reconcile`` returns the seconds until the next job end, and the loop waits
    no longer than that."""
    cloud = live_cloud
    ids = cloud.store.get_meta("seed")["seed"]
    svc = cloud.services["dataplane"]
    base = cloud.store.get("alb.listener", ids["demo_http_listener_id"])
    assert svc.reconcile() is None                       # nothing being created
    busy_until = cloud.clock.time() + 30
    cloud.store.put("alb.listener", "lsn-due00000000000001", dict(
        base, ListenerId="lsn-due00000000000001", ListenerPort=443, ListenerProtocol="HTTPS",
        Certificates=[{"CertificateId": ids["server_cert_identifier"]}], busy_until_s=busy_until,
        busy_status="Provisioning"), key2=ids["load_balancer_id"])
    due = svc.reconcile()
    assert due is not None and 29 < due <= 30
    assert "lsn-due00000000000001" not in cloud.runtime["dataplane"]
    cloud.clock.advance(30)                               # the job has ended: served at the next pass
    assert svc.reconcile() is None
    assert cloud.runtime["dataplane"]["lsn-due00000000000001"] == 443 + cloud.settings.port_offset


def test_periodic_calls_again_as_soon_as_asked():
    from localruntime.services import Periodic
    calls = threading.Semaphore(0)

    def fn():
        calls.release()
        return 0.0                                        # "call me again now"

    loop = Periodic("test-periodic", fn, interval=60.0)
    loop.start()
    try:
        assert all(calls.acquire(timeout=5) for _ in range(3))   # not one call a minute
    finally:
        loop.stop()


def test_a_revoked_pca_client_certificate_is_refused_in_the_handshake(lc, pki, tmp_path):
    """The PCA doc: a revoked certificate "cannot establish HTTPS connections". The listener
    refuses it in the TLS handshake (alert: certificate revoked) within the data plane's refresh
    bound, while another certificate of the same CA still gets through."""
    other = make_leaf("client-02", pki.sub)
    ok_file = write_client(tmp_path, "client-02", other)
    revoked_file = write_client(tmp_path, "client-01", pki.client)
    assert get(lc, client_ctx(pki, revoked_file))[0] == 200
    cert = pki.client[0]
    lc.store.put("pca.client", "revoked0000000000000000000000001", {
        "Identifier": "revoked0000000000000000000000001", "ParentIdentifier": SUB_ID, "CertificateType": "CLIENT",
        "SerialNumber": format(cert.serial_number, "x"), "Status": "REVOKE", "RevokeDate": int(time.time() * 1000),
        "CreateTime": int(time.time() * 1000), "Certificate": _pem(cert)}, key2=SUB_ID)
    t0 = time.monotonic()
    wait_for(lambda: refused(lc, client_ctx(pki, revoked_file)), lc.settings.revocation_refresh_s + 3,
             "the revoked certificate refused")
    assert time.monotonic() - t0 <= lc.settings.revocation_refresh_s + 3
    with pytest.raises(ssl.SSLError, match="(?i)revoked"):
        get(lc, client_ctx(pki, revoked_file))
    assert get(lc, client_ctx(pki, ok_file))[0] == 200

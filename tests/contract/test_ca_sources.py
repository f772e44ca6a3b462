"""The CA sources a listener can trust, through the official SDK clients: a PCA CA by either of its
two identifiers (ALB takes only the configured one, ``Settings.alb_ca_id_form``), and a CA chain
uploaded into a CAS 2020-04-07 certificate repository ("warehouse") — including the data plane
verifying client certificates against the uploaded chain over real TLS."""
from __future__ import annotations

import datetime as dt
import http.client
import re
import ssl
import time
import uuid
from functools import partial

import pytest
from alibabacloud_alb20200616 import models as am
from alibabacloud_cas20200407 import models as cm
from alibabacloud_cas20200630 import models as pm
from alibabacloud_tea_openapi.exceptions import ClientException
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from localruntime.cloud import Settings

UTC = dt.UTC
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def expect(fn, code: str, status: int) -> ClientException:
    with pytest.raises(ClientException) as info:
        fn()
    assert (info.value.code, info.value.status_code) == (code, status), info.value.message
    return info.value


def wait_for(pred, timeout: float = 5.0, what: str = ""):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


# -- a CA hierarchy of our own (what issue 18 uploads) ------------------------------------------------
def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_ca(cn: str, parent=None, *, ca: bool = True, days: int = 365):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(UTC)
    issuer, signer = (parent[0].subject, parent[1]) if parent else (_name(cn), key)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(signer, hashes.SHA256()))
    return cert, key


def make_client(cn: str, issuer):
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(issuer[0].subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(issuer[1], hashes.SHA256()))
    return cert, key


def pem(*certs: x509.Certificate) -> str:
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certs)


@pytest.fixture
def own_ca():
    root = make_ca("Own Root CA", days=3650)
    sub = make_ca("Own Client Sub CA", root)
    return root, sub


# -- PCA: two identifiers per CA ----------------------------------------------------------------------
def test_list_pca_ca_certificate_names_each_ca_by_its_uuid_cert_identifier(clients, endpoints):
    seed = endpoints["seed"]
    body = clients("pca").list_pca_ca_certificate(pm.ListPcaCaCertificateRequest(max_results=1)).body
    assert body.total_count == 2 and len(body.list) == 1 and body.next_token
    rest = clients("pca").list_pca_ca_certificate(pm.ListPcaCaCertificateRequest(
        max_results=1, next_token=body.next_token)).body
    items = {i.common_name: i for i in body.list + rest.list}
    sub, root = items["alb-mtls Demo Client Sub CA"], items["alb-mtls Demo Private Root CA"]
    assert sub.cert_identifier == seed["pca_sub_cert_identifier"]
    assert uuid.UUID(sub.cert_identifier).version == 6            # the shape real accounts show
    assert sub.issuer_identifier == root.cert_identifier == seed["pca_root_cert_identifier"]
    assert sub.status == "ISSUE" and sub.private_ca_region_id == endpoints["region"]
    assert rest.next_token is None


def test_the_32_hex_identifier_lists_pca_and_external_and_is_what_pca_actions_take(clients, endpoints):
    seed = endpoints["seed"]
    pca = clients("pca")
    body = pca.describe_pca_and_external_cacertificate_list(
        pm.DescribePcaAndExternalCACertificateListRequest(identifiers=seed["pca_sub_identifier"])).body
    [item] = body.certificate_list
    assert item.identifier == seed["pca_sub_identifier"] and HEX32.match(item.identifier)
    assert item.certificate_type == "SUB_ROOT" and "BEGIN CERTIFICATE" in item.x_509certificate
    assert pca.describe_cacertificate(pm.DescribeCACertificateRequest(
        identifier=seed["pca_sub_identifier"])).body.certificate.identifier == seed["pca_sub_identifier"]
    expect(lambda: pca.describe_cacertificate(pm.DescribeCACertificateRequest(
        identifier=seed["pca_sub_cert_identifier"])), "CaCertificate.NotFound", 404)


def _listener(alb, seed, ca_id: str, port: int) -> am.CreateListenerRequest:
    return am.CreateListenerRequest(
        load_balancer_id=seed["load_balancer_id"], listener_port=port, listener_protocol="HTTPS", ca_enabled=True,
        certificates=[am.CreateListenerRequestCertificates(certificate_id=seed["server_cert_identifier"])],
        ca_certificates=[am.CreateListenerRequestCaCertificates(certificate_id=ca_id)],
        default_actions=[am.CreateListenerRequestDefaultActions(
            type="ForwardGroup", forward_group_config=am.CreateListenerRequestDefaultActionsForwardGroupConfig(
                server_group_tuples=[am.CreateListenerRequestDefaultActionsForwardGroupConfigServerGroupTuples(
                    server_group_id=seed["demo_server_group_id"])]))])


@pytest.mark.parametrize("form", ["cert_identifier", "identifier"])
def test_alb_takes_a_pca_ca_only_in_the_configured_form(cloud, clients, endpoints, form):
    seed = endpoints["seed"]
    cloud.settings.alb_ca_id_form = form
    assert cloud.endpoints()["alb_ca_id_form"] == form
    good, bad = ((seed["pca_sub_cert_identifier"], seed["pca_sub_identifier"]) if form == "cert_identifier"
                 else (seed["pca_sub_identifier"], seed["pca_sub_cert_identifier"]))
    alb = clients("alb")
    dry = _listener(alb, seed, bad, 8443)
    dry.dry_run = True
    expect(lambda: alb.create_listener(dry), "ResourceNotFound.CaCertificate", 404)   # even on a dry run
    expect(lambda: alb.create_listener(_listener(alb, seed, bad, 8443)), "ResourceNotFound.CaCertificate", 404)
    dry = _listener(alb, seed, good, 8443)
    dry.dry_run = True
    expect(lambda: alb.create_listener(dry), "DryRunOperation", 400)
    lid = alb.create_listener(_listener(alb, seed, good, 8443)).body.listener_id
    got = wait_for(lambda: (b := alb.get_listener_attribute(am.GetListenerAttributeRequest(listener_id=lid)).body)
                   .listener_status == "Running" and b)
    assert [c.certificate_id for c in got.ca_certificates] == [good]


# -- CAS certificate repository: uploaded CA certificates ---------------------------------------------
def _warehouse(cas, name: str = "albmtls-own-ca", type_: str = "uploadedAuthorityCertificate") -> int:
    cas.create_warehouse(cm.CreateWarehouseRequest(name=name, type=type_))
    [wh] = [w for w in cas.list_cert_warehouse(cm.ListCertWarehouseRequest(name=name)).body.cert_warehouse_list
            if w.name == name]
    return wh.wh_id


def test_warehouse_holds_an_uploaded_ca_chain(clients, own_ca):
    cas = clients("cas")
    (root, _), (sub, _) = own_ca
    wh_id = _warehouse(cas)
    expect(lambda: cas.create_warehouse(cm.CreateWarehouseRequest(name="albmtls-own-ca", type="uploadCA")),
           "NameRepeat", 400)
    # either spelling of the type finds the repository
    for t in ("uploadCA", "uploadedAuthorityCertificate"):
        assert [w.wh_id for w in cas.list_cert_warehouse(cm.ListCertWarehouseRequest(type=t)).body
                .cert_warehouse_list] == [wh_id]
    listed = cas.list_warehouse(cm.ListWarehouseRequest(warehouse_types=["uploadCA"])).body
    assert [d.warehouse_name for d in listed.data] == ["albmtls-own-ca"]

    ident = cas.upload_pcacert(cm.UploadPCACertRequest(warehouse_id=wh_id, cert=pem(sub, root),
                                                        name="own-sub")).body.identifier
    assert uuid.UUID(ident).version == 6
    d = cas.describe_warehouse_cert(cm.DescribeWarehouseCertRequest(cert_identifier=ident)).body
    assert (d.cert_identifier, d.cert_type, d.common_name) == (ident, "CA", "Own Client Sub CA")
    assert d.content == pem(sub, root)
    [item] = cas.list_cert(cm.ListCertRequest(warehouse_id=wh_id, cert_type="CA")).body.cert_list
    assert (item.identifier, item.source_type, item.wh_id, item.exist_private_key) == (ident, "upload", wh_id, False)
    expect(lambda: cas.upload_pcacert(cm.UploadPCACertRequest(warehouse_id=wh_id, cert=pem(sub, root))),
           "CertificateRepeat", 400)


@pytest.mark.parametrize("chain, why", [
    ("sub_only", "the chain must end with a self-signed root"),
    ("wrong_order", "each certificate is issued by the next"),
    ("leaf", "an uploaded CA holds CA certificates only"),
])
def test_an_incomplete_or_non_ca_chain_is_refused(clients, own_ca, chain, why):
    cas = clients("cas")
    root, sub = own_ca
    leaf = make_client("alice", sub)
    cert = {"sub_only": pem(sub[0]), "wrong_order": pem(root[0], sub[0]), "leaf": pem(leaf[0], sub[0], root[0])}[chain]
    wh_id = _warehouse(cas)
    expect(lambda: cas.upload_pcacert(cm.UploadPCACertRequest(warehouse_id=wh_id, cert=cert)),
           "InvalidParameter.CertChain", 400)
    expect(lambda: cas.upload_pcacert(cm.UploadPCACertRequest(warehouse_id=wh_id + 999, cert=pem(sub[0], root[0]))),
           "Warehouse.NotFound", 404)


def test_an_uploaded_ca_is_a_listener_ca_and_cannot_be_deleted_while_used(cloud, clients, endpoints, own_ca):
    seed = endpoints["seed"]
    cas, alb = clients("cas"), clients("alb")
    (root, _), (sub, _) = own_ca
    wh_id = _warehouse(cas)
    ident = cas.upload_pcacert(cm.UploadPCACertRequest(warehouse_id=wh_id, cert=pem(sub, root))).body.identifier
    for form in ("cert_identifier", "identifier"):     # an uploaded CA has one id, whatever the PCA form
        cloud.settings.alb_ca_id_form = form
        dry = _listener(alb, seed, ident, 8443)
        dry.dry_run = True
        expect(partial(alb.create_listener, dry), "DryRunOperation", 400)
    cloud.settings.alb_ca_id_form = "cert_identifier"
    lid = alb.create_listener(_listener(alb, seed, ident, 8443)).body.listener_id
    expect(lambda: cas.delete_pcacert(cm.DeletePCACertRequest(identifier=ident)), "Certificate.InUse", 400)
    [wh] = cas.list_cert_warehouse(cm.ListCertWarehouseRequest(name="albmtls-own-ca")).body.cert_warehouse_list
    expect(lambda: cas.delete_warehouse(cm.DeleteWarehouseRequest(warehouse_instance_id=wh.instance_id)),
           "Warehouse.NotEmpty", 400)
    wait_for(lambda: alb.get_listener_attribute(am.GetListenerAttributeRequest(listener_id=lid))
             .body.listener_status == "Running")
    alb.update_listener_attribute(am.UpdateListenerAttributeRequest(
        listener_id=lid, ca_certificates=[am.UpdateListenerAttributeRequestCaCertificates(
            certificate_id=seed["pca_sub_cert_identifier"])]))
    cas.delete_pcacert(cm.DeletePCACertRequest(identifier=ident))
    expect(lambda: cas.describe_warehouse_cert(cm.DescribeWarehouseCertRequest(cert_identifier=ident)),
           "Certificate.NotFound", 404)
    cas.delete_warehouse(cm.DeleteWarehouseRequest(warehouse_instance_id=wh.instance_id))
    assert cas.list_cert_warehouse(cm.ListCertWarehouseRequest()).body.total_count == 0


@pytest.fixture
def live_settings() -> Settings:
    return Settings(alb_job_seconds=0.1, health_scale=0.25, services=("ecs", "dataplane", "health"))


def test_the_data_plane_trusts_the_uploaded_chain(live_cloud, own_ca, tmp_path):
    """Real TLS: a client certificate issued by the uploaded sub-CA is accepted, one from the
    PCA's sub-CA (not uploaded, not bound) is refused."""
    from tests.conftest import make_client as sdk_client
    endpoints = live_cloud.endpoints()
    seed = endpoints["seed"]
    cas, alb, pca = (sdk_client(p, endpoints) for p in ("cas", "alb", "pca"))
    root, sub = own_ca
    wh_id = _warehouse(cas)
    ident = cas.upload_pcacert(cm.UploadPCACertRequest(warehouse_id=wh_id, cert=pem(sub[0], root[0]))).body.identifier
    sg = seed["demo_server_group_id"]
    alb.add_servers_to_server_group(am.AddServersToServerGroupRequest(server_group_id=sg, servers=[
        am.AddServersToServerGroupRequestServers(server_type="Ecs", server_id=i, port=80)
        for i in seed["ecs"].values()]))
    lid = alb.create_listener(_listener(alb, seed, ident, 443)).body.listener_id
    port = wait_for(lambda: live_cloud.runtime["dataplane"].get(lid), 10, "the listener served")

    def request(cert: x509.Certificate, key) -> int:
        path = tmp_path / f"{uuid.uuid4().hex}.pem"
        path.write_text(pem(cert) + key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()).decode())
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.load_cert_chain(str(path))
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=ctx, timeout=5)
        try:
            conn.request("GET", "/")
            return conn.getresponse().status
        finally:
            conn.close()

    assert request(*make_client("alice", sub)) == 200
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder().subject_name(_name("mallory")).sign(key, hashes.SHA256())
           .public_bytes(serialization.Encoding.PEM).decode())
    issued = pca.create_client_certificate_with_csr(pm.CreateClientCertificateWithCsrRequest(
        csr=csr, parent_identifier=seed["pca_sub_identifier"], days=5, immediately=1)).body
    with pytest.raises((ssl.SSLError, OSError, http.client.HTTPException)):
        request(x509.load_pem_x509_certificate(issued.x_509certificate.encode()), key)


# -- the product's resolution of the CA the user names ------------------------------------------------
def _pca_adapter(endpoints):
    from shared.adapters.base import CallPolicy
    from shared.adapters.pca import Pca
    from shared.core.wait import Deadline
    from tests.conftest import make_client as sdk_client
    return Pca(CallPolicy(Deadline(30)), client=sdk_client("pca", endpoints))


def test_resolve_ca_from_either_identifier(cloud, endpoints):
    from localcloud.products.pca import create_sub_ca
    from shared.core.errors import AlbMtlsError
    from shared.policy.ids import ResolvedCa
    seed = endpoints["seed"]
    pca = _pca_adapter(endpoints)
    both = ResolvedCa(identifier=seed["pca_sub_identifier"], cert_identifier=seed["pca_sub_cert_identifier"])
    assert pca.resolve_ca(seed["pca_sub_identifier"]) == both
    assert pca.resolve_ca(seed["pca_sub_cert_identifier"]) == both
    assert pca.resolve_ca(seed["pca_sub_cert_identifier"], want_cert_identifier=False).identifier == both.identifier
    assert pca.resolve_ca(seed["pca_sub_identifier"], want_cert_identifier=False) == \
        ResolvedCa(identifier=seed["pca_sub_identifier"])              # no list read when not needed
    with pytest.raises(AlbMtlsError) as info:
        pca.resolve_ca("0123456789abcdef0123456789abcdef")
    assert (info.value.code, info.value.field) == ("CA_NOT_FOUND", "ca_identifier")
    # a second sub-CA of the same name under the same root: the lists cannot be joined
    create_sub_ca(cloud, "ffffeeeeddddccccbbbbaaaa99998888", seed["pca_root_identifier"],
                  "alb-mtls Demo Client Sub CA")
    with pytest.raises(AlbMtlsError) as info:
        pca.resolve_ca(seed["pca_sub_cert_identifier"])
    assert info.value.code == "INVALID_INPUT" and "ALBMTLS_ALB_CA_ID_FORM" in info.value.message


def test_resolve_ca_when_both_lists_show_the_same_uuid(cloud, endpoints):
    """A real account's current CA carries one UUID in both lists: no join by name is needed."""
    from localcloud.products.pca import create_sub_ca
    from shared.policy.ids import ResolvedCa
    seed = endpoints["seed"]
    same = "1f0a2b3c-4d5e-6f70-8192-a3b4c5d6e7f8"
    create_sub_ca(cloud, same, seed["pca_root_identifier"], "alb-mtls Demo Client Sub CA", cert_identifier=same)
    assert _pca_adapter(endpoints).resolve_ca(same) == ResolvedCa(identifier=same, cert_identifier=same)

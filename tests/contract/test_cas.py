"""Contract: CAS 2020-04-07 (server certificates) through the official SDK client."""
from __future__ import annotations

import hashlib
import subprocess

import pytest
from alibabacloud_cas20200407 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from localcloud import pki
from localcloud.products import cas as cas_product
from localcloud.seed import DEMO


@pytest.fixture
def cas(clients):
    return clients("cas")


def _err(fn, *args) -> ClientException:
    with pytest.raises(ClientException) as info:
        fn(*args)
    return info.value


def _upload(cas, name: str, cert: str, key: str, token: str | None = None):
    return cas.upload_user_certificate(m.UploadUserCertificateRequest(name=name, cert=cert, key=key,
                                                                      client_token=token))


def test_seeded_server_certificate_is_listed(cas):
    body = cas.list_certificates(m.ListCertificatesRequest()).body
    assert body.total_count == 1 and body.current_page == 1 and body.show_size == 10
    c = body.certificate_list[0]
    assert c.certificate_id == str(DEMO["server_cert_id"])
    assert c.cert_identifier == DEMO["server_cert_identifier"]
    assert c.common_name == "app.example.test"
    assert c.subject_alternative_names == ["app.example.test", "example.test"]
    assert c.certificate_status == "issued" and c.certificate_source == "UPLOAD"
    assert c.exist_private_key is True and c.algorithm == "ECC" and c.key_size == 256
    assert isinstance(c.not_after, int) and c.not_after > c.not_before


def test_detail_returns_pem_and_key_unless_filtered(cas):
    body = cas.get_user_certificate_detail(m.GetUserCertificateDetailRequest(cert_id=DEMO["server_cert_id"])).body
    assert body.id == DEMO["server_cert_id"] and body.cert_identifier == DEMO["server_cert_identifier"]
    assert body.common == "app.example.test" and body.sans == "app.example.test,example.test"
    assert len(body.start_date) == 10 and body.start_date[4] == "-" and body.expired is False
    cert = pki.load_cert(body.cert)
    assert pki.keys_match(cert, pki.load_key(body.key))
    der = cert.public_bytes(serialization.Encoding.DER)
    assert body.fingerprint == hashlib.sha1(der).hexdigest().upper()
    assert body.cert_chain[0].common_name == "app.example.test"
    filtered = cas.get_user_certificate_detail(
        m.GetUserCertificateDetailRequest(cert_id=DEMO["server_cert_id"], cert_filter=True)).body
    assert filtered.cert is None and filtered.key is None and filtered.common == "app.example.test"


def test_server_root_ca_written_and_verifies_seed_cert(cloud, cas, tmp_path):
    root_file = cloud.state_dir / "server-root-ca.pem"
    assert root_file.read_text() == cloud.store.get_meta("server_root_ca_pem")
    assert pki.load_cert(root_file.read_text()).extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    body = cas.get_user_certificate_detail(m.GetUserCertificateDetailRequest(cert_id=DEMO["server_cert_id"])).body
    leaf = tmp_path / "leaf.pem"
    leaf.write_text(body.cert)
    out = subprocess.run(["openssl", "verify", "-CAfile", str(root_file), "-purpose", "sslserver", str(leaf)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_upload_assigns_id_and_identifier_and_pages(cloud, cas):
    ids = []
    for i in range(3):
        cert, key = cas_product.make_server_certificate(cloud, f"svc{i}.example.test")
        body = _upload(cas, f"svc{i}", cert, key).body
        assert isinstance(body.cert_id, int) and body.resource_id
        ids.append(body.cert_id)
    assert len(set(ids)) == 3 and DEMO["server_cert_id"] not in ids
    detail = cas.get_user_certificate_detail(m.GetUserCertificateDetailRequest(cert_id=ids[0])).body
    assert detail.cert_identifier == f"{ids[0]}-cn-hangzhou" and detail.name == "svc0"
    seen = []
    for page in (1, 2, 3):
        body = cas.list_certificates(m.ListCertificatesRequest(current_page=page, show_size=2)).body
        assert body.total_count == 4
        seen += [c.certificate_id for c in body.certificate_list]
    assert sorted(seen) == sorted([str(DEMO["server_cert_id"])] + [str(i) for i in ids])
    kw = cas.list_certificates(m.ListCertificatesRequest(keyword="svc1")).body
    assert [c.certificate_name for c in kw.certificate_list] == ["svc1"]


def test_upload_with_chain_keeps_chain(cloud, cas):
    now = cloud.clock.now()
    root, root_key = pki.make_root_ca("Other Root", now=now)
    inter, inter_key = pki.make_sub_ca("Other Intermediate", root, root_key, now=now)
    leaf, key = pki.make_server_cert("chain.example.test", [], inter, inter_key, key_alg="RSA", now=now)
    body = _upload(cas, "chained", pki.cert_pem(leaf) + pki.cert_pem(inter), pki.key_pem(key)).body
    detail = cas.get_user_certificate_detail(m.GetUserCertificateDetailRequest(cert_id=body.cert_id)).body
    assert [c.common_name for c in detail.cert_chain] == ["chain.example.test", "Other Intermediate"]
    assert detail.algorithm == "RSA" and len(pki.load_certs(detail.cert)) == 2


def test_upload_errors(cloud, cas):
    cert, key = cas_product.make_server_certificate(cloud, "err.example.test")
    _, other_key = cas_product.make_server_certificate(cloud, "other.example.test")
    e = _err(_upload, cas, "bad", "-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n", key)
    assert (e.code, e.status_code) == ("InvalidParameter.Cert", 400)
    e = _err(_upload, cas, "bad", cert, "not a key")
    assert e.code == "InvalidParameter.Key"
    e = _err(_upload, cas, "bad", cert, other_key)
    assert e.code == "InvalidParameter.CertKeyMismatch"
    e = _err(_upload, cas, "app.example.test", cert, key)       # the seed's name
    assert e.code == "NameRepeat"
    e = _err(cas.upload_user_certificate, m.UploadUserCertificateRequest(cert=cert, key=key))
    assert e.code == "MissingParameter"
    first = _upload(cas, "err", cert, key).body.cert_id
    e = _err(_upload, cas, "err-again", cert, key)               # same certificate, other name
    assert e.code == "CertificateRepeat" and str(first) in e.data["Message"]


def test_client_token_replays_upload(cloud, cas):
    cert, key = cas_product.make_server_certificate(cloud, "tok.example.test")
    a = _upload(cas, "tok", cert, key, token="tok-1").body.cert_id
    b = _upload(cas, "tok", cert, key, token="tok-1").body.cert_id
    assert a == b
    assert cas.list_certificates(m.ListCertificatesRequest()).body.total_count == 2


def test_delete(cloud, cas):
    cert, key = cas_product.make_server_certificate(cloud, "del.example.test")
    cid = _upload(cas, "del", cert, key).body.cert_id
    cas.delete_user_certificate(m.DeleteUserCertificateRequest(cert_id=cid))
    e = _err(cas.get_user_certificate_detail, m.GetUserCertificateDetailRequest(cert_id=cid))
    assert (e.code, e.status_code) == ("Certificate.NotFound", 404)
    e = _err(cas.delete_user_certificate, m.DeleteUserCertificateRequest(cert_id=cid))
    assert e.status_code == 404
    e = _err(cas.get_user_certificate_detail, m.GetUserCertificateDetailRequest())
    assert e.code == "MissingParameter"

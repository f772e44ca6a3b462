"""Contract: CAS Private CA API 2020-06-30 through the official SDK client.

The PCA QPS cap (10/s) stays on: each test makes only a few API calls."""
from __future__ import annotations

import json
import subprocess
import time
from datetime import timedelta

import pytest
from alibabacloud_cas20200630 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from localcloud import pki
from localcloud.products import pca as pca_product
from localcloud.seed import DEMO

ROOT, SUB = DEMO["pca_root_identifier"], DEMO["pca_sub_identifier"]


@pytest.fixture
def pca(clients):
    return clients("pca")


def _err(fn, *args, **kw) -> ClientException:
    with pytest.raises(ClientException) as info:
        fn(*args, **kw)
    return info.value


def _issue(pca, csr_pem: str, parent: str = SUB, **kw):
    kw.setdefault("immediately", 2)
    return pca.create_client_certificate_with_csr(
        m.CreateClientCertificateWithCsrRequest(csr=csr_pem, parent_identifier=parent, **kw))


def _pub(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_ca_hierarchy_views(pca):
    body = pca.describe_cacertificate_list(m.DescribeCACertificateListRequest()).body
    assert body.total_count == 2
    by_id = {c.identifier: c for c in body.certificate_list}
    assert by_id[ROOT].certificate_type == "ROOT" and by_id[SUB].certificate_type == "SUB_ROOT"
    assert by_id[SUB].parent_identifier == ROOT and by_id[SUB].algorithm == "ECC" and by_id[SUB].key_size == 256
    subs = pca.describe_cacertificate_list(m.DescribeCACertificateListRequest(cert_type="subRoot")).body
    assert [c.identifier for c in subs.certificate_list] == [SUB]
    root_years = (by_id[ROOT].after_date - by_id[ROOT].before_date) / 86_400_000 / 365
    sub_years = (by_id[SUB].after_date - by_id[SUB].before_date) / 86_400_000 / 365
    assert round(root_years) == 10 and round(sub_years) == 5
    d = pca.describe_cacertificate(m.DescribeCACertificateRequest(identifier=SUB)).body.certificate
    assert d.status == "ISSUE" and d.cert_issued_count == 0 and d.cert_remaining_count > 0
    chain = pki.load_certs(d.ca_cert_chain)
    assert [pki.common_name(c.subject) for c in chain] == [d.common_name, by_id[ROOT].common_name]
    assert 360 <= d.cert_max_time <= 366        # bounded by the subscription (~1 year)
    st = pca.get_cainstance_status(m.GetCAInstanceStatusRequest(identifier=SUB)).body.instance_status_list[0]
    assert st.type == "SUB_ROOT" and st.status == "USED"
    assert abs(st.use_expire_time - (time.time() + 365 * 86400) * 1000) < 2 * 86_400_000
    e = _err(pca.describe_cacertificate, m.DescribeCACertificateRequest(identifier="nope"))
    assert (e.code, e.status_code) == ("CaCertificate.NotFound", 404)


def test_issue_from_csr_verifies(pca, tmp_path):
    csr, key = pki.make_csr("client01", o="Example Org")
    body = _issue(pca, pki.csr_pem(csr), days=30, custom_identifier="run-1").body
    assert body.identifier and body.serial_number and body.x_509certificate and body.certificate_chain
    leaf = pki.load_cert(body.x_509certificate)
    sub, root = pki.load_certs(body.certificate_chain)
    # openssl: leaf → sub → root
    for name, pem in (("leaf", body.x_509certificate), ("sub", pki.cert_pem(sub)), ("root", pki.cert_pem(root))):
        (tmp_path / f"{name}.pem").write_text(pem)
    out = subprocess.run(["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                          str(tmp_path / "sub.pem"), "-purpose", "sslclient", str(tmp_path / "leaf.pem")],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    # cryptography: signature, key from the CSR, extensions
    leaf.verify_directly_issued_by(sub)
    sub.verify_directly_issued_by(root)
    assert _pub(leaf.public_key()) == _pub(key.public_key())
    assert pki.common_name(leaf.subject) == "client01"
    ext = leaf.extensions
    assert ext.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert ExtendedKeyUsageOID.CLIENT_AUTH in ext.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ext.get_extension_for_class(x509.KeyUsage).value.digital_signature
    aki = ext.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki == sub.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    assert ext.get_extension_for_class(x509.SubjectKeyIdentifier)
    lifetime = pki.not_after(leaf) - pki.not_before(leaf)
    assert lifetime == timedelta(days=30)
    assert pki.not_after(leaf) <= pki.not_after(sub)
    assert format(leaf.serial_number, "x") == body.serial_number
    d = pca.describe_client_certificate(m.DescribeClientCertificateRequest(identifier=body.identifier)).body
    c = d.certificate
    assert (c.common_name, c.status, c.parent_identifier, c.days, c.algorithm) == ("client01", "ISSUE", SUB, 30, "ECC")
    assert c.certificate_type == "CLIENT" and c.custom_identifier == "run-1"
    assert c.after_date == pki.to_ms(pki.not_after(leaf)) and c.x_509certificate == body.x_509certificate
    assert c.sha_2 == pki.fingerprint(leaf, "sha256") and json.loads(c.sans) == []
    e = _err(_issue, pca, pki.csr_pem(csr), SUB, days=30, custom_identifier="run-1")
    assert e.code == "DuplicateCustomIdentifier" and body.identifier in e.data["Message"]


def test_before_after_time_epoch_seconds_and_immediately(cloud, pca):
    now = int(cloud.clock.time())
    csr, _ = pki.make_csr("client02")
    body = _issue(pca, pki.csr_pem(csr), before_time=now - 300, after_time=now + 10 * 86400, immediately=1).body
    assert body.certificate_chain is None
    leaf = pki.load_cert(body.x_509certificate)
    assert int(pki.not_before(leaf).timestamp()) == now - 300
    assert int(pki.not_after(leaf).timestamp()) == now + 10 * 86400
    quiet = _issue(pca, pki.csr_pem(csr), days=1, immediately=0).body
    assert quiet.identifier and quiet.x_509certificate is None
    e = _err(_issue, pca, pki.csr_pem(csr), SUB, before_time=now)          # AfterTime missing
    assert e.code == "InvalidParameter.Validity"
    e = _err(_issue, pca, pki.csr_pem(csr), SUB)                           # no validity at all
    assert e.code == "MissingParameter"


def test_validity_past_ca_end_or_subscription_refused(pca):
    csr, _ = pki.make_csr("client03")
    e = _err(_issue, pca, pki.csr_pem(csr), SUB, days=400)       # < sub-CA (5 y), > subscription (1 y)
    assert e.code == "InvalidParameter.Validity" and "subscription" in e.data["Message"]
    e = _err(_issue, pca, pki.csr_pem(csr), SUB, days=6 * 365)   # > sub-CA AfterDate
    assert e.code == "InvalidParameter.Validity" and "sub-CA" in e.data["Message"]


def test_rsa_csr_on_ec_sub_ca_refused(pca):
    csr, _ = pki.make_csr("rsa-client", key_alg="RSA")
    e = _err(_issue, pca, pki.csr_pem(csr), SUB, days=30)
    assert (e.code, e.status_code) == ("InvalidParameter.Algorithm", 400)
    ec_csr, _ = pki.make_csr("ec-client")
    e = _err(_issue, pca, pki.csr_pem(ec_csr), SUB, days=30, algorithm="RSA_2048")
    assert e.code == "InvalidParameter.Algorithm"


def test_parent_rules_and_bad_input(pca):
    csr, _ = pki.make_csr("client04")
    e = _err(_issue, pca, pki.csr_pem(csr), ROOT, days=30)
    assert e.code == "InvalidParameter.ParentIdentifier"
    e = _err(_issue, pca, pki.csr_pem(csr), "0" * 32, days=30)
    assert (e.code, e.status_code) == ("CaCertificate.NotFound", 404)
    e = _err(_issue, pca, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", SUB,
             days=30)
    assert e.code == "InvalidParameter.Csr"
    e = _err(pca.describe_client_certificate, m.DescribeClientCertificateRequest(identifier="missing"))
    assert (e.code, e.status_code) == ("Certificate.NotFound", 404)


def test_revoke_changes_status(cloud, pca):
    csr, _ = pki.make_csr("client05")
    ident = _issue(pca, pki.csr_pem(csr), days=30).body.identifier
    st = pca.describe_client_certificate_status(m.DescribeClientCertificateStatusRequest(identifier=ident)).body
    assert [s.status for s in st.certificate_status] == ["good"]
    pca.create_revoke_client_certificate(m.CreateRevokeClientCertificateRequest(identifier=ident))
    c = pca.describe_client_certificate(m.DescribeClientCertificateRequest(identifier=ident)).body.certificate
    assert c.status == "REVOKE"
    st = pca.describe_client_certificate_status(
        m.DescribeClientCertificateStatusRequest(identifier=f"{ident},unknown-id")).body.certificate_status
    assert st[0].status == "revoked" and abs(st[0].revoke_time - cloud.clock.now_ms()) < 60_000
    assert st[0].serial_number == c.serial_number and st[1].status == "unknown"
    assert cloud.store.get("pca.client", ident)["RevokeDate"] == st[0].revoke_time


def test_crl_of_the_sub_ca_lists_revoked_serials(cloud, pca, tmp_path):
    """A sub-CA that publishes a CRL (EnableCrl) names its CrlUrl; a leaf issued with EnableCrl=1
    carries it as its CRL distribution point; the URL serves a DER CRL signed by the sub-CA that
    `openssl crl` reads and that lists the revoked serial (and no other)."""
    import urllib.request
    d = pca.describe_cacertificate(m.DescribeCACertificateRequest(identifier=SUB)).body.certificate
    assert d.crl_status == "enable" and d.crl_url.endswith(f"/crl/{SUB}.crl") and d.crl_day == 7
    csr, _ = pki.make_csr("crl-a")
    a = _issue(pca, pki.csr_pem(csr), days=30, enable_crl=1).body
    csr, _ = pki.make_csr("crl-b")
    b = _issue(pca, pki.csr_pem(csr), days=30).body
    leaf = x509.load_pem_x509_certificate(a.x_509certificate.encode())
    cdp = leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for p in cdp for n in p.full_name] == [d.crl_url]
    no_cdp = x509.load_pem_x509_certificate(b.x_509certificate.encode())
    with pytest.raises(x509.ExtensionNotFound):
        no_cdp.extensions.get_extension_for_class(x509.CRLDistributionPoints)
    pca.create_revoke_client_certificate(m.CreateRevokeClientCertificateRequest(identifier=a.identifier))
    with urllib.request.urlopen(d.crl_url, timeout=5) as resp:   # unsigned, like a public OSS object
        assert resp.headers["Content-Type"] == "application/pkix-crl"
        der = resp.read()
    crl = x509.load_der_x509_crl(der)
    sub = x509.load_pem_x509_certificate(d.x_509certificate.encode())
    assert crl.is_signature_valid(sub.public_key()) and crl.issuer == sub.subject
    assert [r.serial_number for r in crl] == [leaf.serial_number]
    (tmp_path / "sub.crl").write_bytes(der)
    out = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "sub.crl"), "-noout", "-text"],
                         capture_output=True, text=True, check=True).stdout
    import re
    assert [int(h, 16) for h in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", out)] == [leaf.serial_number]
    assert "Revocation Date" in out
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(d.crl_url.replace(SUB, ROOT), timeout=5)      # the root publishes none


def test_list_client_certificates_pages_all(cloud, pca):
    now = cloud.clock.now()
    csr, _ = pki.make_csr("bulk")
    made = [pca_product.issue_client_certificate(cloud, SUB, pki.csr_pem(csr), not_before=now,
                                                  not_after=now + timedelta(days=30))["Identifier"]
            for _ in range(45)]
    seen = []
    for page in (1, 2, 3):
        body = pca.list_client_certificate(m.ListClientCertificateRequest(current_page=page, show_size=20)).body
        assert (body.total_count, body.page_count, body.current_page, body.show_size) == (45, 3, page, 20)
        seen += [c.identifier for c in body.certificate_list]
        assert all(c.certificate_type == "CLIENT" and c.parent_identifier == SUB and c.after_date
                   for c in body.certificate_list)
    assert seen == made
    one = pca.list_client_certificate(m.ListClientCertificateRequest(identifier=made[7])).body
    assert [c.identifier for c in one.certificate_list] == [made[7]] and one.total_count == 1
    e = _err(pca.list_client_certificate, m.ListClientCertificateRequest(show_size=1000))
    assert e.code == "InvalidParameter"


def test_list_client_certificates_pages_10000_fast(cloud, pca):
    now = cloud.clock.now()
    csr, _ = pki.make_csr("template")
    tpl = pca_product.issue_client_certificate(cloud, SUB, pki.csr_pem(csr), not_before=now,
                                               not_after=now + timedelta(days=30))
    with cloud.store.tx():
        for i in range(9_999):
            doc = dict(tpl, Identifier=f"bulk{i:05d}", Id=i + 2)
            cloud.store.put("pca.client", doc["Identifier"], doc, key2=SUB)
    started = time.monotonic()
    body = pca.list_client_certificate(m.ListClientCertificateRequest(current_page=100, show_size=100)).body
    assert time.monotonic() - started < 2.0
    assert body.total_count == 10_000 and len(body.certificate_list) == 100
    assert body.certificate_list[-1].identifier == "bulk09998"

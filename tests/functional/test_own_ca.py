"""Functional: an own CA on the local cloud — created with its keys in KMS (idempotently), issuing from
a CSR through AsymmetricSign, revoking into a CRL signed through KMS, a new generation with its cross
certificate (shared.steps.ownca, shared.adapters.ownca)."""
from __future__ import annotations

import logging
import uuid

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from shared.adapters.retry import Deadline
from shared.core.clock import SystemClock
from shared.core.errors import AlbMtlsError
from shared.core.settings import Settings
from shared.policy import ownca
from shared.steps import ownca as steps
from shared.steps.context import StepContext

PREFIX = "albmtls"


def _ctx() -> StepContext:
    return StepContext(step="test", settings=Settings.load(), clock=SystemClock(),
                       logger=logging.getLogger("albmtls.test"), deadline=Deadline(60),
                       request_id=f"local-{uuid.uuid4().hex}")


def _csr(cn: str = "alice", key=None) -> tuple[str, object]:
    key = key or ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
           .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier("albmtls://alb-x/443/" + cn)]),
                          critical=False).sign(key, hashes.SHA256()))
    from cryptography.hazmat.primitives import serialization
    return csr.public_bytes(serialization.Encoding.PEM).decode(), key


def _kinds(writes) -> list[tuple[str, str]]:
    return [(c["product"], c["action"]) for c in writes.since()]


def test_create_is_complete_and_idempotent(live_cloud, writes):
    ctx = _ctx()
    writes.mark()
    v = steps.ensure_ca(ctx, ownca.CreateOptions(name="demo"), PREFIX)
    assert v.created and v.issuing_gen == v.trusted_gen == 1 and v.alb_ca_certificate_id
    kinds = _kinds(writes)
    assert kinds.count(("kms", "CreateKey")) == 2 and kinds.count(("kms", "CreateAlias")) == 2
    assert ("cas", "CreateWarehouse") in kinds and kinds.count(("cas", "UploadPCACert")) == 1
    assert ("kms", "AsymmetricSign") in [(c["product"], c["action"]) for c in live_cloud.store.calls()]
    g = v.generations[0]
    assert g.key_spec == "EC_P256" and g.protection_level == "SOFTWARE" and g.roles == ["issuing", "trusted"]
    # the upload is the sub-CA with its root, the listener's CA id
    doc = live_cloud.store.get("cas.whcert", v.alb_ca_certificate_id)
    chain = x509.load_pem_x509_certificates(doc["Content"].encode())
    sub, root = chain
    sub.verify_directly_issued_by(root)
    root.verify_directly_issued_by(root)
    assert sub.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 1
    assert sub.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert (sub.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
            == root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest)
    # the same again: nothing written
    writes.mark()
    again = steps.ensure_ca(_ctx(), ownca.CreateOptions(name="demo"), PREFIX)
    assert not again.created and again.alb_ca_certificate_id == v.alb_ca_certificate_id
    assert writes.since() == []
    with pytest.raises(AlbMtlsError) as info:
        steps.ensure_ca(_ctx(), ownca.CreateOptions(name="demo", key_spec="RSA_2048"), PREFIX)
    assert info.value.code == "INVALID_INPUT" and info.value.field == "key_spec"
    assert [c.name for c in steps.list_views(_ctx(), PREFIX)] == ["demo"]


def test_a_crash_after_the_keys_resumes_with_them(live_cloud, writes):
    ctx = _ctx()
    ref, w = steps._key(ctx, PREFIX, "resume", "EC_P256", 1, "root")
    assert w == 2
    writes.mark()
    v = steps.ensure_ca(_ctx(), ownca.CreateOptions(name="resume"), PREFIX)
    assert v.generations[0].root_key_id == ref.key_id
    assert _kinds(writes).count(("kms", "CreateKey")) == 1      # only the issuing key was missing


def test_issue_from_a_csr_revoke_and_crl(live_cloud):
    ctx = _ctx()
    steps.ensure_ca(ctx, ownca.CreateOptions(name="iss"), PREFIX)
    ca = steps.issuer(ctx, PREFIX, "iss")
    view = ca.describe_ca_certificate(ca.resolve_ca("own/iss").identifier)
    assert view.identifier == "own/iss/g1" and view.certificate_type == "SUB_ROOT" and view.algorithm == "ECC"
    csr, key = _csr()
    now = int(ctx.clock.now().timestamp())
    issued = ca.create_client_certificate_with_csr(parent_identifier="own/iss/g1", csr_pem=csr, before_time=now - 300,
                                                   after_time=now + 30 * 86400, san_type=1,
                                                   san_value="alice@example.test")
    leaf = x509.load_pem_x509_certificate(issued.cert_pem.encode())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(view.cert_pem.encode()))
    assert issued.identifier == f"own/iss/{issued.serial}"
    assert leaf.public_key().public_numbers() == key.public_key().public_numbers()
    assert ExtendedKeyUsageOID.CLIENT_AUTH in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert x509.RFC822Name("alice@example.test") in sans and len(sans) == 2
    # a tampered CSR is refused
    bad = csr.replace(csr.splitlines()[3], csr.splitlines()[3][:-4] + "AAAA")
    with pytest.raises(AlbMtlsError):
        ca.create_client_certificate_with_csr(parent_identifier="own/iss/g1", csr_pem=bad, before_time=now,
                                              after_time=now + 86400)
    # revocation: the list, then the CRL signed through KMS
    from shared.adapters.pca import ClientCertificate
    cert = ClientCertificate(identifier=issued.identifier, serial=issued.serial, common_name="alice", status="ISSUE",
                             certificate_type="CLIENT", parent_identifier="own/iss/g1",
                             not_before=leaf.not_valid_before_utc, not_after=leaf.not_valid_after_utc,
                             custom_identifier=None, algorithm="ECC", sha256=None)
    assert ca.revoke_client_certificate(issued.identifier, reason="key_compromise", certificate=cert) is True
    assert ca.revoke_client_certificate(issued.identifier, certificate=cert) is False
    crl = x509.load_der_x509_crl(ca.read_crl(1))
    sub = x509.load_pem_x509_certificate(view.cert_pem.encode())
    assert crl.is_signature_valid(sub.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert entry is not None
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason == x509.ReasonFlags.key_compromise


def test_rsa_ca(live_cloud):
    ctx = _ctx()
    v = steps.ensure_ca(ctx, ownca.CreateOptions(name="rsa", key_spec="RSA_2048"), PREFIX)
    ca = steps.issuer(ctx, PREFIX, "rsa")
    view = ca.describe_ca_certificate("own/rsa/g1")
    assert view.algorithm == "RSA" and v.generations[0].key_spec == "RSA_2048"
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr, _ = _csr("bob", key)
    now = int(ctx.clock.now().timestamp())
    issued = ca.create_client_certificate_with_csr(parent_identifier="own/rsa/g1", csr_pem=csr,
                                                   before_time=now, after_time=now + 86400)
    leaf = x509.load_pem_x509_certificate(issued.cert_pem.encode())
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(view.cert_pem.encode()))
    assert leaf.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment


def test_rekey_makes_a_generation_with_its_cross_certificate(live_cloud, writes):
    ctx = _ctx()
    first = steps.ensure_ca(ctx, ownca.CreateOptions(name="rk"), PREFIX)
    v = steps.rekey(_ctx(), PREFIX, "rk", from_gen=1)
    assert (v.issuing_gen, v.trusted_gen, v.switch_pending) == (2, 1, True)
    assert v.alb_ca_certificate_id == first.alb_ca_certificate_id      # listeners keep trusting generation 1
    writes.mark()
    assert steps.rekey(_ctx(), PREFIX, "rk", from_gen=1).writes == 0    # a re-run of the same rekey
    assert writes.since() == []
    ca = steps.issuer(_ctx(), PREFIX, "rk")
    rec = ca.record()
    g1, g2 = rec.generation(1), rec.generation(2)
    cross = x509.load_pem_x509_certificate(g2.cross_pem.encode())
    sub2 = x509.load_pem_x509_certificate(g2.issuing_pem.encode())
    cross.verify_directly_issued_by(x509.load_pem_x509_certificate(g1.root_pem.encode()))
    sub2.verify_directly_issued_by(x509.load_pem_x509_certificate(g2.root_pem.encode()))
    assert cross.subject == sub2.subject and cross.public_key() == sub2.public_key()
    # new certificates come from generation 2, carrying the cross certificate while listeners trust 1
    assert ca.describe_ca_certificate("own/rk/g2").cert_pem == g2.cross_pem
    with pytest.raises(AlbMtlsError) as info:
        steps.rekey(_ctx(), PREFIX, "rk", from_gen=2)
    assert info.value.code == "INVALID_INPUT"
    from shared.steps.ownca_switch import switch
    out = switch(_ctx(), PREFIX, "rk")        # no holders at all: every holder has switched
    assert out.switched and out.trusted_gen == 2
    assert steps.view(_ctx(), PREFIX, "rk").alb_ca_certificate_id == g2.uploaded
    from shared.steps.ownca_retire import retire_generation
    retired = retire_generation(_ctx(), PREFIX, "rk", 1)
    assert retired.writes >= 4 and not retired.already
    assert "retired" in steps.view(_ctx(), PREFIX, "rk").generations[0].roles
    assert retire_generation(_ctx(), PREFIX, "rk", 1).already
    assert live_cloud.store.get("kms.key", g1.root_key.key_id)["KeyState"] == "PendingDeletion"
    assert live_cloud.store.get("cas.whcert", g1.uploaded) is None


def test_name_constraints_are_in_every_sub_ca_and_refuse_outside_names_before_signing(live_cloud):
    """`ca create --permitted-dns` (issue 18): the issuing sub-CA — and the next generation's sub-CA
    and cross certificate — carry a critical nameConstraints; a CSR whose DNS SAN (or host-name CN)
    falls outside is refused with NAME_NOT_PERMITTED before KMS signs anything; a CN that is no host
    name and a SAN inside pass; asking for other constraints on the existing CA is refused."""
    ctx = _ctx()
    v = steps.ensure_ca(ctx, ownca.CreateOptions(name="nc", permitted_dns=("example.test",)), PREFIX)
    assert v.permitted_dns == ["example.test"]
    ca = steps.issuer(_ctx(), PREFIX, "nc")
    sub = x509.load_pem_x509_certificate(ca.record().generation(1).issuing_pem.encode())
    ext = sub.extensions.get_extension_for_class(x509.NameConstraints)
    assert ext.critical and ext.value.permitted_subtrees == [x509.DNSName("example.test")]
    now = int(ctx.clock.now().timestamp())

    def issue(cn: str, san: str | None = None):
        csr, _ = _csr(cn)
        return ca.create_client_certificate_with_csr(parent_identifier="own/nc/g1", csr_pem=csr, before_time=now,
                                                     after_time=now + 86400, san_type=2 if san else None,
                                                     san_value=san)
    issue("alice", "alice.example.test")
    signs = sum(1 for c in live_cloud.store.calls() if c["action"] == "AsymmetricSign")
    for cn, san, field in (("alice", "alice.other.test", "sans[0]"), ("svc.other.test", None, "common_name")):
        with pytest.raises(AlbMtlsError) as info:
            issue(cn, san)
        assert info.value.code == "NAME_NOT_PERMITTED" and info.value.field == field, info.value
    assert sum(1 for c in live_cloud.store.calls() if c["action"] == "AsymmetricSign") == signs
    with pytest.raises(AlbMtlsError) as info:
        steps.ensure_ca(_ctx(), ownca.CreateOptions(name="nc", permitted_dns=("other.test",)), PREFIX)
    assert info.value.code == "INVALID_INPUT" and info.value.field == "permitted_dns"
    assert steps.ensure_ca(_ctx(), ownca.CreateOptions(name="nc"), PREFIX).writes == 0   # not asking keeps them
    steps.rekey(_ctx(), PREFIX, "nc")
    g2 = steps.issuer(_ctx(), PREFIX, "nc").record().generation(2)
    for pem in (g2.issuing_pem, g2.cross_pem):
        cert = x509.load_pem_x509_certificate(pem.encode())
        assert cert.extensions.get_extension_for_class(x509.NameConstraints).value.permitted_subtrees == [
            x509.DNSName("example.test")]


def _own_input(ca: dict):
    import json
    from pathlib import Path

    from shared.policy.contracts import ProvisionInput
    from shared.policy.validation import decode

    doc = json.loads((Path(__file__).parents[2] / "examples" / "provision-own-ca.json").read_text())
    doc["ca"] = ca
    return decode(ProvisionInput, json.dumps(doc))


def test_a_ca_asked_for_otherwise_is_refused_by_the_preflight_and_the_step_alike(live_cloud, writes):
    """One rule (shared.policy.ownca.definition_conflict) for plan/provision's preflight and for
    ensure_ca (ca create, the run's step): an existing own CA asked for with another key spec or other
    name constraints is INVALID_INPUT naming that field, before any write; the same constraints in
    another order or repeated, or none asked, are the CA's own."""
    from shared.steps.ownca_preflight import preflight_new

    steps.ensure_ca(_ctx(), ownca.CreateOptions(name="nc", permitted_dns=("example.test", "corp.test")), PREFIX)
    writes.mark()
    for ca, field in (({"permitted_dns": ["other.test"]}, "permitted_dns"),
                      ({"permitted_dns": ["example.test"]}, "permitted_dns"),
                      ({"permitted_dns": ["example.test", "corp.test", "other.test"]}, "permitted_dns"),
                      ({"key_spec": "RSA_2048"}, "key_spec"),
                      ({"key_spec": "RSA_2048", "permitted_dns": ["corp.test"]}, "key_spec")):
        inp = _own_input({"kind": "own", "name": "nc", **ca})
        with pytest.raises(AlbMtlsError) as info:
            preflight_new(_ctx(), inp)
        assert info.value.code == "INVALID_INPUT" and info.value.field == "ca." + field, (ca, info.value)
        with pytest.raises(AlbMtlsError) as info:
            steps.ensure_ca(_ctx(), ownca.CreateOptions(name="nc", **ca), PREFIX)
        assert info.value.code == "INVALID_INPUT" and info.value.field == field, (ca, info.value)
    for same in (["corp.test", "example.test"], ["example.test", "corp.test", "example.test"], []):
        inp = _own_input({"kind": "own", "name": "nc", "permitted_dns": same})
        assert inp.own_ca is not None and len(inp.own_ca.permitted_dns) == len(set(same))
        assert preflight_new(_ctx(), inp) is None
        assert steps.ensure_ca(_ctx(), ownca.CreateOptions(name="nc", permitted_dns=tuple(same)), PREFIX).writes == 0
    assert writes.since() == []


@pytest.mark.parametrize("runs", [2, 4])
def test_runs_creating_one_ca_at_once_converge_on_one(live_cloud, runs):
    """Two `ca create --name cc` at once, or two listeners of one fleet naming a new CA: every run
    ends with the same CA (one repository, one upload, the aliased keys) instead of a raw NameRepeat
    or a lost record; a key made by a run that lost the race is scheduled for deletion, never used."""
    import threading

    barrier = threading.Barrier(runs)
    results: list = [None] * runs

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = steps.ensure_ca(_ctx(), ownca.CreateOptions(name="cc"), PREFIX)
        except AlbMtlsError as exc:       # pragma: no cover - the failure the test is about
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert all(not isinstance(r, Exception) for r in results), results
    assert len({r.alb_ca_certificate_id for r in results}) == 1
    rec = steps.issuer(_ctx(), PREFIX, "cc").record()
    used = {rec.generations[0].root_key.key_id, rec.generations[0].issuing_key.key_id}
    cc_keys = [d for d in live_cloud.store.list("kms.key") if "own CA cc:" in (d.get("Description") or "")]
    assert {d["KeyId"] for d in cc_keys if d["KeyState"] == "Enabled"} == used
    assert len([d for d in live_cloud.store.list("cas.warehouse") if d["Name"].endswith("cc")]) == 1
    assert steps.ensure_ca(_ctx(), ownca.CreateOptions(name="cc"), PREFIX).writes == 0

"""The own CA's pure rules (shared.policy.ownca) and its builders signed through a KMS-shaped key
(shared.adapters.kmskeys over a fake KMS): cryptography's certificate, CRL and CSR builders accept
a key whose private half is elsewhere — the pattern this feature relies on instead of an ASN.1
library (pyca/cryptography#11616)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import NameOID

from shared.adapters.kmskeys import KmsEcKey, KmsRsaKey, signing_key
from shared.core.errors import AlbMtlsError
from shared.policy import ownca, ownca_x509

NOW = datetime(2027, 1, 1, tzinfo=UTC)


class FakeKms:
    """Signs digests as KMS AsymmetricSign does; counts calls; keeps the private keys to itself."""

    def __init__(self) -> None:
        self.keys: dict[str, Any] = {}
        self.calls: list[tuple[str, str]] = []

    def add(self, key_id: str, key) -> str:
        self.keys[key_id] = key
        return key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def get_public_key(self, key_id: str, version_id: str) -> str:
        key = self.keys[key_id]
        return key.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign_digest(self, key_id: str, version_id: str, algorithm: str, digest: bytes) -> bytes:
        self.calls.append((key_id, algorithm))
        key = self.keys[key_id]
        if algorithm == "ECDSA_SHA_256":
            return key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return key.sign(digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))


@pytest.mark.parametrize("make", [lambda: ec.generate_private_key(ec.SECP256R1()),
                                  lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)])
def test_certificate_crl_and_csr_signed_through_kms(make):
    kms = FakeKms()
    kms.add("root", make())
    kms.add("sub", make())
    root_key = signing_key(kms, "root", "v1")
    sub_key = signing_key(kms, "sub", "v1")
    assert isinstance(root_key, (KmsEcKey, KmsRsaKey))
    root = ownca_x509.root_builder(root_key.public_key(), "demo", 1, NOW, NOW + timedelta(days=3650)) \
        .sign(root_key, hashes.SHA256())
    sub = ownca_x509.issuing_builder(sub_key.public_key(), "demo", 1, root, NOW, NOW + timedelta(days=730)) \
        .sign(root_key, hashes.SHA256())
    ownca_x509.check_ca_certificate(root, root, path_length=1, public_key_der=root.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    sub.verify_directly_issued_by(root)
    holder = ec.generate_private_key(ec.SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "alice")])).sign(holder, hashes.SHA256()))
    leaf = ownca_x509.client_builder(ownca_x509.check_csr(csr.public_bytes(serialization.Encoding.PEM)), sub, NOW,
                                     NOW + timedelta(days=30), crl_url="https://crl.example.test/a/demo/g1.crl") \
        .sign(sub_key, hashes.SHA256())
    leaf.verify_directly_issued_by(sub)
    revoked = [ownca.Revoked(serial=format(leaf.serial_number, "x"), gen=1, revoked_at="2027-01-02T00:00:00Z",
                             not_after="2027-01-31T00:00:00Z", reason="key_compromise")]
    crl = ownca_x509.crl_builder(sub, revoked, 7, NOW, NOW + timedelta(days=7)).sign(sub_key, hashes.SHA256())
    ownca_x509.check_crl(crl, sub, [revoked[0].serial])
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 7
    # a CSR signed by the KMS key too (the builders all call key.sign)
    own_csr = (x509.CertificateSigningRequestBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "demo")])).sign(sub_key,
                                                                                                hashes.SHA256()))
    assert own_csr.is_signature_valid
    assert len(kms.calls) == 5 and {k for k, _ in kms.calls} == {"root", "sub"}


def test_the_private_half_is_not_there():
    kms = FakeKms()
    kms.add("k", ec.generate_private_key(ec.SECP256R1()))
    key = signing_key(kms, "k", "v1")
    for call in (lambda: key.private_numbers(),
                 lambda: key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption())):
        with pytest.raises(AlbMtlsError):
            call()
    assert "k" in repr(key) and "PRIVATE" not in repr(key)


def test_a_wrong_signature_from_kms_is_caught():
    kms = FakeKms()
    kms.add("k", ec.generate_private_key(ec.SECP256R1()))
    key = signing_key(kms, "k", "v1")
    kms.keys["k"] = ec.generate_private_key(ec.SECP256R1())     # KMS signs with another key version
    with pytest.raises(AlbMtlsError) as info:
        key.sign(b"tbs", ec.ECDSA(hashes.SHA256()))
    assert info.value.code == "CLOUD_ERROR" and "nothing was published" in info.value.message


@pytest.mark.parametrize("value,expected", [
    ("own/demo", ownca.OwnRef("demo")),
    ("own/demo/g2", ownca.OwnRef("demo", gen=2)),
    ("own/demo/3fa9", ownca.OwnRef("demo", serial="3fa9")),
    ("8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42", None),
    ("1efd3cac-ee8e-6a00-ad80-5e318b70b839", None),
    ("own/Demo", None),
    ("own/demo/gx", None),
])
def test_parse_own(value, expected):
    assert ownca.parse_own(value) == expected


def test_names_and_versions():
    assert ownca.ca_secret_names("albmtls", "demo").record == "albmtls/ca/demo/record"
    assert ownca.key_alias("a+b.c", "demo", 2, "root") == "alias/a-b-c/ca/demo/g2/root"
    assert ownca.next_version(None) == "r1" and ownca.next_version("r9") == "r10"
    assert ownca.next_version("n3", "n") == "n4"
    assert ownca.warehouse_name("albmtls", "demo") == "albmtls-ca-demo"


def test_create_options():
    from shared.policy.validation import decode
    assert decode(ownca.CreateOptions, {"name": "demo"}).key_spec == "EC_P256"
    for bad, field in (({"name": "Demo"}, "name"), ({"name": "demo", "key_spec": "EC_P384"}, "key_spec"),
                       ({"name": "demo", "root_days": 30, "issuing_days": 30}, "issuing_days")):
        with pytest.raises(AlbMtlsError) as info:
            decode(ownca.CreateOptions, bad)
        assert info.value.field == field


def _rec(issuing: int, trusted: int) -> ownca.OwnCaRecord:
    return ownca.OwnCaRecord(name="demo", key_spec="EC_P256", root_days=3650, issuing_days=730,
                             issuing_gen=issuing, trusted_gen=trusted, created_at="2027-01-01T00:00:00Z")


def _h(on=True, kind="person", took=None, issued=NOW - timedelta(hours=1)):
    return ownca.HolderSwitch(key="alb-x-443/h", on_issuing=on, holder_kind=kind, switched_at=took,
                              issued_at=ownca.iso(issued))


@pytest.mark.parametrize("issuing,trusted,holders,at_once,due", [
    (1, 1, [], False, False),                                        # nothing pending
    (2, 1, [_h(on=False)], False, False),                            # not renewed to generation 2 yet
    (2, 1, [_h(), _h(kind=None)], False, False),                     # a person has not downloaded
    (2, 1, [_h(took=ownca.iso(NOW)), _h(kind=None)], False, True),   # downloaded; no holder: handed over
    (2, 1, [_h(kind="system")], False, False),                       # a system's read is not observed…
    (2, 1, [_h(kind="system", issued=NOW - ownca.REKEY_GRACE)], False, True),   # …until its grace ended
    (2, 1, [], False, True),                                         # no holders at all
    (2, 1, [_h(on=False)], True, True),                              # --now
])
def test_switch_due(issuing, trusted, holders, at_once, due):
    assert ownca.switch_due(_rec(issuing, trusted), holders, now=NOW, at_once=at_once) is due


def test_waiting_reasons():
    assert ownca.waiting_reason(_h(on=False), NOW) == "no certificate of the new generation yet"
    assert ownca.waiting_reason(_h(), NOW).startswith("not downloaded yet (grace until ")
    assert ownca.waiting_reason(_h(kind="system"), NOW).startswith("not read yet")
    assert ownca.waiting_reason(_h(took=ownca.iso(NOW)), NOW) is None


def test_revocation_list_keeps_what_has_not_ended():
    old = ownca.Revoked(serial="a", gen=1, revoked_at="2026-01-01T00:00:00Z", not_after="2026-02-01T00:00:00Z")
    live = ownca.Revoked(serial="b", gen=1, revoked_at="2026-12-30T00:00:00Z", not_after="2027-01-20T00:00:00Z")
    lst = ownca.RevocationList(entries=(old,), crl_number=4).with_revoked(live, NOW)
    assert [e.serial for e in lst.entries] == ["b"] and lst.crl_number == 5
    assert lst.live(1, NOW) == (live,) and lst.live(2, NOW) == ()
    assert ownca.decode_revocations(ownca.encode(lst)) == lst
    assert ownca.decode_record(b"not json") is None


def test_records_carry_no_key_material():
    ref = ownca.KeyRef(key_id="key-hzz1", version_id="v1", alias="alias/a/ca/demo/g1/root", spec="EC_P256")
    g = ownca.Generation(gen=1, root_key=ref, issuing_key=ref, root_pem="-----BEGIN CERTIFICATE-----",
                         issuing_pem="-----BEGIN CERTIFICATE-----", created_at="x", root_not_after="y",
                         issuing_not_after="z")
    text = ownca.encode(_rec(1, 1).with_generation(g))
    assert "PRIVATE" not in text and msgspec.json.decode(text)["generations"][0]["root_key"]["key_id"] == "key-hzz1"


def _gens(n: int) -> tuple[ownca.Generation, ...]:
    def key(role: str, g: int) -> ownca.KeyRef:
        return ownca.KeyRef(key_id=f"key-{role}-{g}", version_id="v1", alias=f"alias/x/{g}/{role}", spec="EC_P256")
    return tuple(ownca.Generation(gen=g, root_key=key("root", g), issuing_key=key("issuing", g), root_pem="",
                                  issuing_pem="", uploaded=f"up-{g}", created_at="2027-01-01T00:00:00Z",
                                  root_not_after="2037-01-01T00:00:00Z", issuing_not_after="2029-01-01T00:00:00Z")
                 for g in range(1, n + 1))


@pytest.mark.parametrize("gen,issuing,trusted,trusting,holders,want", [
    (1, 3, 3, (), (), None),                                   # old, unused: retire
    (2, 3, 2, (), (), ("CA_IN_USE", "ca switch")),            # the listeners' generation (record)
    (3, 3, 2, (), (), ("CA_IN_USE", "issues")),               # the issuing one
    (4, 3, 3, (), (), ("INVALID_INPUT", "has: 1, 2, 3")),     # no such generation
    (1, 3, 3, ("alb-x-443",), (), ("CA_IN_USE", "alb-x-443")),        # a listener still holds its upload
    (1, 3, 3, (), ("alb-x-443/alice",), ("CA_IN_USE", "alb-x-443/alice")),   # a holder's current certificate
    (1, 3, 3, ("alb-x-443",), ("alb-x-443/alice",), ("CA_IN_USE", "listener(s) alb-x-443")),  # listeners first
])
def test_retire_checks(gen, issuing, trusted, trusting, holders, want):
    rec = msgspec.structs.replace(_rec(issuing, trusted), generations=_gens(3))
    found = ownca.RETIRE_CHECKS.evaluate(ownca.RetireObservation(rec=rec, gen=gen, trusting=trusting,
                                                                 holders=holders))
    if want is None:
        assert found is None
    else:
        assert found is not None and found.code == want[0] and want[1] in found.message, found
        assert found.field == "generation"


def test_retire_names_at_most_20_holders():
    rec = msgspec.structs.replace(_rec(3, 3), generations=_gens(3))
    many = tuple(f"alb-x-443/h{i:02d}" for i in range(25))
    found = ownca.RETIRE_CHECKS.evaluate(ownca.RetireObservation(rec=rec, gen=1, holders=many))
    assert found is not None and "25 holder(s)" in found.message and "and 5 more" in found.message
    assert "h19" in found.message and "h20" not in found.message

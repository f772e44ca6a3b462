"""Unit tests of shared.policy.pki: keys, CSRs, leaf checks, passwords and PKCS#12 profiles.

A throw-away root → EC sub-CA and root → RSA sub-CA are built once per module with
``cryptography``; leaves are issued from them with small modifiers (table-driven defects).
PKCS#12 files are cross-checked with the ``openssl`` CLI when it is installed.
"""
from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.errors import AlbMtlsError
from shared.policy import pki

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
PASSWORD = "Secr3t-Pfx_Pass.word+42"
OPENSSL = shutil.which("openssl")


# ---------------------------------------------------------------------------------------------
# builders
# ---------------------------------------------------------------------------------------------

def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


@dataclass
class CA:
    cert: x509.Certificate
    key: Any

    @property
    def pem(self) -> str:
        return self.cert.public_bytes(serialization.Encoding.PEM).decode()


def make_ca(cn: str, key, issuer: CA | None = None, *, days: int = 3650,
            not_before: dt.datetime | None = None) -> CA:
    nb = not_before or NOW - dt.timedelta(days=30)
    signer_key = issuer.key if issuer else key
    cert = (x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(issuer.cert.subject if issuer else _name(cn))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(nb).not_valid_after(nb + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None if issuer is None else 0),
                           critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, key_cert_sign=True, crl_sign=True,
                                         encipher_only=False, decipher_only=False), critical=True)
            .sign(signer_key, hashes.SHA256()))
    return CA(cert, key)


def issue(ca: CA, public_key, cn: str = "client-1", *, eku=(ExtendedKeyUsageOID.CLIENT_AUTH,),
          is_ca: bool = False, digital_signature: bool = True,
          not_before: dt.datetime | None = None, days: int = 30,
          hash_alg=None) -> x509.Certificate:
    nb = not_before or NOW - dt.timedelta(minutes=5)          # backdated, as the PCA call asks
    b = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca.cert.subject)
         .public_key(public_key).serial_number(x509.random_serial_number())
         .not_valid_before(nb).not_valid_after(nb + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=digital_signature, content_commitment=False,
                                      key_encipherment=not digital_signature,
                                      data_encipherment=False, key_agreement=False,
                                      key_cert_sign=is_ca, crl_sign=False, encipher_only=False,
                                      decipher_only=False), critical=True))
    if eku is not None:
        b = b.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return b.sign(ca.key, hash_alg or hashes.SHA256())


def pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="module")
def pki_env():
    """root (EC P-384) → EC sub-CA (P-256) and RSA sub-CA (2048); a short-lived sub-CA too."""
    root = make_ca("Test Root", ec.generate_private_key(ec.SECP384R1()))
    ec_sub = make_ca("Test EC Sub", ec.generate_private_key(ec.SECP256R1()), root, days=1825)
    rsa_sub = make_ca("Test RSA Sub", rsa.generate_private_key(public_exponent=65537, key_size=2048),
                      root, days=1825)
    short_sub = make_ca("Test Short Sub", ec.generate_private_key(ec.SECP256R1()), root,
                        days=40)                                  # ends 10 days after NOW
    imposter = make_ca("Test EC Sub", ec.generate_private_key(ec.SECP256R1()))  # same name
    ec_key = pki.generate_key(pki.KeyAlgorithm.EC_P256)
    rsa_key = pki.generate_key(pki.KeyAlgorithm.RSA_2048)
    return {
        "root": root, "ec_sub": ec_sub, "rsa_sub": rsa_sub, "short_sub": short_sub,
        "imposter": imposter, "ec_key": ec_key, "rsa_key": rsa_key,
        "ec_leaf": issue(ec_sub, ec_key.public_key()),
        "rsa_leaf": issue(rsa_sub, rsa_key.public_key()),
    }


def codes(problems) -> set[str]:
    return {p.code for p in problems}


# ---------------------------------------------------------------------------------------------
# keys
# ---------------------------------------------------------------------------------------------

def test_key_algorithm_follows_the_ca_family(pki_env):
    assert pki.key_algorithm_of_certificate(pki_env["ec_sub"].pem) is pki.KeyAlgorithm.EC_P256
    assert pki.key_algorithm_of_certificate(pki_env["rsa_sub"].pem) is pki.KeyAlgorithm.RSA_2048
    assert pki.key_algorithm_of_certificate(pki_env["root"].cert) is pki.KeyAlgorithm.EC_P256


@pytest.mark.parametrize("alg, kind, size", [
    (pki.KeyAlgorithm.EC_P256, ec.EllipticCurvePrivateKey, 256),
    ("RSA_2048", rsa.RSAPrivateKey, 2048),
    (pki.KeyAlgorithm.RSA_3072, rsa.RSAPrivateKey, 3072),
])
def test_generate_key(alg, kind, size):
    key = pki.generate_key(alg)
    assert isinstance(key, kind) and key.key_size == size
    assert pki.key_algorithm_of_key(key) is pki.KeyAlgorithm(alg)


def test_generate_key_default_is_ec_p256_and_unknown_is_refused():
    assert isinstance(pki.generate_key().curve, ec.SECP256R1)
    with pytest.raises(AlbMtlsError) as e:
        pki.generate_key("DSA_1024")
    assert e.value.code == "INVALID_INPUT" and e.value.field == "key_algorithm"


def test_unreadable_ca_certificate():
    with pytest.raises(AlbMtlsError) as e:
        pki.key_algorithm_of_certificate("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    assert e.value.field == "ca_certificate"


# ---------------------------------------------------------------------------------------------
# CSR
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, kind", [
    ("client1.example.com", x509.DNSName),
    ("xn--mnchen-3ya.example", x509.DNSName),
    ("alice@example.com", x509.RFC822Name),
    ("10.0.0.7", x509.IPAddress),
    ("2001:db8::1", x509.IPAddress),
    ("https://id.example.com/users/alice", x509.UniformResourceIdentifier),
    ("spiffe://example.org/ns/prod/sa/web", x509.UniformResourceIdentifier),
    ("urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", x509.UniformResourceIdentifier),
], ids=lambda v: v if isinstance(v, str) else "")
def test_san_typing(value, kind):
    gn = pki.parse_san(value)
    assert isinstance(gn, kind)


@pytest.mark.parametrize("value", ["", " a.example.com", "*.example.com", "münchen.example",
                                   "bad name", "alice@", "@example.com", "a@b", "-x.example.com",
                                   "https://exämple.com/"])
def test_san_refused(value):
    with pytest.raises(AlbMtlsError) as e:
        pki.parse_san(value)
    assert e.value.code == "INVALID_INPUT" and e.value.field == "sans"


def test_build_csr_types_sans_and_requests_client_auth(pki_env):
    key = pki_env["ec_key"]
    text = pki.build_csr(key, "Zoë 张伟", ["c1.example.com", "zoe@example.com", "192.0.2.1",
                                          "https://id.example.com/zoe", "c1.example.com"])
    csr = x509.load_pem_x509_csr(text.encode())
    assert text.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert csr.is_signature_valid
    cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0]
    assert cn.value == "Zoë 张伟" and cn._type.name == "UTF8String"
    san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["c1.example.com"]          # deduplicated
    assert san.get_values_for_type(x509.RFC822Name) == ["zoe@example.com"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.1"]
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["https://id.example.com/zoe"]
    eku = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in eku
    assert pki.public_key_of(text).public_numbers() == key.public_key().public_numbers()


def test_build_csr_rsa_without_sans(pki_env):
    csr = x509.load_pem_x509_csr(pki.build_csr(pki_env["rsa_key"], "svc-client").encode())
    assert csr.is_signature_valid
    with pytest.raises(x509.ExtensionNotFound):
        csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)


@pytest.mark.parametrize("cn", ["", "x" * 65, " lead", "trail ", "a,b", "a=b", "tab\there",
                                "nul\x00", 'quote"d', "semi;colon", "new\nline"])
def test_build_csr_refuses_bad_common_names(pki_env, cn):
    with pytest.raises(AlbMtlsError) as e:
        pki.build_csr(pki_env["ec_key"], cn, [])
    assert e.value.code == "INVALID_INPUT" and e.value.field == "common_name"


@pytest.mark.parametrize("cn", ["a", "x" * 64, "ECS01 client (ops)", "alice@example.com", "Ünïcødé-名前"])
def test_build_csr_accepts_common_names(pki_env, cn):
    csr = x509.load_pem_x509_csr(pki.build_csr(pki_env["ec_key"], cn).encode())
    assert csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == cn


# ---------------------------------------------------------------------------------------------
# leaf checks
# ---------------------------------------------------------------------------------------------

def test_good_leaves_pass(pki_env):
    e = pki_env
    assert pki.check_leaf(pem(e["ec_leaf"]), e["ec_sub"].pem, [e["ec_sub"].pem], NOW,
                          expected_cn="client-1", expected_public_key=e["ec_key"]) == []
    assert pki.check_leaf(e["rsa_leaf"], e["rsa_sub"].cert, [], NOW,
                          expected_public_key=pki.build_csr(e["rsa_key"], "client-1")) == []
    # chain up to the root, listener bound to the root
    assert pki.check_leaf(e["ec_leaf"], e["root"].pem, [e["ec_sub"].pem, e["root"].pem], NOW) == []
    # chain without the root, listener bound to the root
    assert pki.check_leaf(e["ec_leaf"], e["root"].pem, [e["ec_sub"].pem], NOW) == []
    # the backdated notBefore: valid 4 minutes after "now - 5 min"
    assert pki.check_leaf(e["ec_leaf"], e["ec_sub"].pem, [], NOW - dt.timedelta(minutes=4)) == []
    pki.verify_leaf(e["ec_leaf"], e["ec_sub"].pem, [e["ec_sub"].pem], NOW)


def _case(name, expect, *, ca="ec_sub", chain=("ec_sub",), now=NOW, leaf=None, **kw):
    return pytest.param(leaf, ca, chain, now, kw, expect, id=name)


@pytest.mark.parametrize("leaf_spec, ca, chain, now, kw, expected", [
    _case("no_client_auth_eku", "no_client_auth_eku", leaf={"eku": (ExtendedKeyUsageOID.SERVER_AUTH,)}),
    _case("no_eku_extension", "no_client_auth_eku", leaf={"eku": None}),
    _case("ca_true", "is_ca", leaf={"is_ca": True}),
    _case("no_digital_signature", "no_digital_signature", leaf={"digital_signature": False}),
    _case("wrong_issuer", "issuer_mismatch", leaf={"issuer": "rsa_sub", "key": "rsa_key"}),
    _case("wrong_issuer_no_chain", "issuer_mismatch", chain=(), leaf={"issuer": "rsa_sub", "key": "rsa_key"}),
    _case("imposter_same_name", "bad_signature", leaf={"issuer": "imposter"}),
    _case("other_listener_ca", "not_chained_to_listener_ca", ca="rsa_sub"),
    _case("broken_chain", "chain_broken", ca="root", chain=("ec_sub", "rsa_sub")),
    _case("ca_ends_before_leaf", "ca_ends_before_leaf", ca="short_sub", chain=("short_sub",),
          leaf={"issuer": "short_sub"}),
    _case("expired", "expired", now=NOW + dt.timedelta(days=31)),
    _case("not_yet_valid", "not_yet_valid", now=NOW - dt.timedelta(minutes=10)),
    _case("cn_mismatch", "cn_mismatch", expected_cn="client-2"),
    _case("public_key_mismatch", "public_key_mismatch", expected_public_key="rsa_key"),
    _case("key_family_mismatch", "key_family_mismatch", leaf={"key": "rsa_key"}),
])
def test_leaf_defects_are_caught(pki_env, leaf_spec, ca, chain, now, kw, expected):
    e = pki_env
    spec = dict(leaf_spec or {})
    issuer = e[spec.pop("issuer", "ec_sub")]
    key = e[spec.pop("key", "ec_key")]
    leaf = issue(issuer, key.public_key(), **spec)
    if "expected_public_key" in kw:
        kw["expected_public_key"] = e[kw["expected_public_key"]]
    problems = pki.check_leaf(pem(leaf), e[ca].pem, [e[c].pem for c in chain], now, **kw)
    assert expected in codes(problems), problems
    with pytest.raises(AlbMtlsError) as err:
        pki.verify_leaf(pem(leaf), e[ca].pem, [e[c].pem for c in chain], now, **kw)
    assert err.value.code == "CERT_CHECK_FAILED" and expected in err.value.message
    assert "BEGIN" not in err.value.message


def test_check_leaf_needs_an_aware_now(pki_env):
    e = pki_env
    for bad in (None, NOW.replace(tzinfo=None)):
        with pytest.raises(AlbMtlsError) as err:
            pki.check_leaf(e["ec_leaf"], e["ec_sub"].pem, [], bad)
        assert err.value.field == "now"


# ---------------------------------------------------------------------------------------------
# fingerprints, serials
# ---------------------------------------------------------------------------------------------

def test_fingerprint_and_serial_formats(pki_env):
    leaf = pki_env["ec_leaf"]
    fp = pki.fingerprint_sha256(pem(leaf))
    assert re.fullmatch(r"[0-9a-f]{64}", fp)
    assert fp == leaf.fingerprint(hashes.SHA256()).hex()
    assert pki.fingerprint_sha256(leaf.public_bytes(serialization.Encoding.DER)) == fp
    colon = ":".join(fp[i:i + 2] for i in range(0, 64, 2)).upper()
    assert pki.normalize_fingerprint(colon) == fp
    s = pki.serial_hex(leaf)
    assert re.fullmatch(r"[0-9a-f]+", s) and not s.startswith("0") and int(s, 16) == leaf.serial_number


# ---------------------------------------------------------------------------------------------
# passwords
# ---------------------------------------------------------------------------------------------

FORBIDDEN = set("'\"`\\ $%!^&~#;|<>*?()[]{}\t\n\r")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=20, max_value=128))
def test_generated_passwords(length):
    pw = pki.generate_password(length)
    assert len(pw) == length
    assert all(c in pki.PASSWORD_ALPHABET for c in pw)
    assert not set(pw) & FORBIDDEN
    assert pw.isascii() and pw.isprintable()
    assert pw[0].isalnum() and pw[-1].isalnum()
    assert any(c.isupper() for c in pw) and any(c.islower() for c in pw)
    assert any(c.isdigit() for c in pw) and any(c in pki.PASSWORD_SYMBOLS for c in pw)
    pki.validate_password(pw)


def test_password_defaults_and_bounds():
    assert len(pki.generate_password()) >= 20
    assert len({pki.generate_password() for _ in range(50)}) == 50
    for bad in (19, 0, 129, True):
        with pytest.raises(AlbMtlsError) as e:
            pki.generate_password(bad)
        assert e.value.field == "length"


# ---------------------------------------------------------------------------------------------
# PKCS#12
# ---------------------------------------------------------------------------------------------

def _openssl(pfx: bytes, tmp_path, *args: str) -> str:
    path = tmp_path / "client.pfx"
    path.write_bytes(pfx)
    env = dict(os.environ, PFX_PW=PASSWORD)
    res = subprocess.run([str(OPENSSL), "pkcs12", "-in", str(path), "-passin", "env:PFX_PW", *args],
                         capture_output=True, text=True, env=env, timeout=30)
    assert res.returncode == 0, res.stderr
    return res.stdout + res.stderr


@pytest.mark.parametrize("family", ["ec", "rsa"])
@pytest.mark.parametrize("profile", ["compat", "modern"])
def test_build_pfx_profiles(pki_env, profile, family):
    e = pki_env
    key, leaf, sub = e[f"{family}_key"], e[f"{family}_leaf"], e[f"{family}_sub"]
    pfx = pki.build_pfx(key, pem(leaf), [sub.pem], PASSWORD, profile, "Client One")
    info = pki.verify_pfx(pfx, PASSWORD, profile, expected_leaf=leaf)
    assert info.profile == profile and info.problems == ()
    assert info.key_matches_leaf and info.issuing_ca_present
    assert info.ca_fingerprints_sha256 == (pki.fingerprint_sha256(sub.cert),)
    assert info.friendly_name == "Client One"
    assert info.mac_iterations == 2048
    assert info.key_encryption and info.cert_encryption
    assert all(p.iterations >= 2048 for p in (*info.key_encryption, *info.cert_encryption))
    if profile == "compat":
        assert info.mac_algorithm == "sha1"
        assert {p.scheme_oid for p in (*info.key_encryption, *info.cert_encryption)} == \
            {"1.2.840.113549.1.12.1.3"}
    else:
        assert info.mac_algorithm == "sha256"
        for p in (*info.key_encryption, *info.cert_encryption):
            assert (p.scheme_oid, p.cipher_oid, p.prf_oid) == (
                "1.2.840.113549.1.5.13", "2.16.840.1.101.3.4.1.42", "1.2.840.113549.2.9")
    loaded = pkcs12.load_pkcs12(pfx, PASSWORD.encode())
    assert loaded.cert.certificate == leaf and len(loaded.additional_certs) == 1


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
@pytest.mark.parametrize("profile, expected", [
    ("compat", ["MAC: sha1", "pbeWithSHA1And3-KeyTripleDES-CBC"]),
    ("modern", ["MAC: sha256", "AES-256-CBC", "hmacWithSHA256"]),
])
def test_openssl_reads_the_profiles_without_legacy(pki_env, tmp_path, profile, expected):
    e = pki_env
    pfx = pki.build_pfx(e["ec_key"], e["ec_leaf"], [e["ec_sub"].cert], PASSWORD, profile)
    info = _openssl(pfx, tmp_path, "-info", "-nokeys", "-nocerts")
    for text in expected:
        assert text in info
    assert "RC2" not in info
    certs = _openssl(pfx, tmp_path, "-nokeys")
    assert certs.count("BEGIN CERTIFICATE") == 2
    keys = _openssl(pfx, tmp_path, "-nocerts", "-nodes")
    assert keys.count("BEGIN PRIVATE KEY") == 1


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_root_is_included_when_given(pki_env, tmp_path):
    e = pki_env
    pfx = pki.build_pfx(e["ec_key"], e["ec_leaf"], [e["ec_sub"].pem, e["root"].pem], PASSWORD)
    assert _openssl(pfx, tmp_path, "-nokeys").count("BEGIN CERTIFICATE") == 3
    assert len(pki.inspect_pfx(pfx, PASSWORD).ca_fingerprints_sha256) == 2


def test_default_profile_is_compat_and_friendly_name_defaults_to_cn(pki_env):
    e = pki_env
    info = pki.inspect_pfx(pki.build_pfx(e["ec_key"], e["ec_leaf"], [e["ec_sub"].pem], PASSWORD),
                           PASSWORD)
    assert info.profile == "compat" and info.friendly_name == "client-1"
    assert info.leaf_common_name == "client-1" and info.key_algorithm is pki.KeyAlgorithm.EC_P256


def test_custom_iterations_are_recorded(pki_env):
    e = pki_env
    pfx = pki.build_pfx(e["ec_key"], e["ec_leaf"], [e["ec_sub"].pem], PASSWORD, "modern",
                        iterations=4096)
    info = pki.inspect_pfx(pfx, PASSWORD)
    assert info.mac_iterations == 2048            # cryptography (<51) fixes the MAC's count
    assert {p.iterations for p in (*info.key_encryption, *info.cert_encryption)} == {4096}


@pytest.mark.parametrize("password", ["", "short", "x" * 11, "x" * 129, "pässwörd-long-enough",
                                      "tab\tinside-password", None])
def test_bad_passwords_are_refused(pki_env, password):
    e = pki_env
    with pytest.raises(AlbMtlsError) as err:
        pki.build_pfx(e["ec_key"], e["ec_leaf"], [e["ec_sub"].pem], password)
    assert err.value.code == "INVALID_INPUT" and err.value.field == "password"


@pytest.mark.parametrize("case, field", [
    ("wrong_key", "key"), ("empty_chain", "chain"), ("wrong_issuer", "chain"),
    ("profile", "profile"), ("iterations", "iterations"),
])
def test_build_pfx_refuses_inconsistent_inputs(pki_env, case, field):
    e = pki_env
    args = dict(key=e["ec_key"], leaf=e["ec_leaf"], chain=[e["ec_sub"].pem], password=PASSWORD,
                profile="compat")
    kw = {}
    if case == "wrong_key":
        args["key"] = pki.generate_key()
    elif case == "empty_chain":
        args["chain"] = []
    elif case == "wrong_issuer":
        args["chain"] = [e["rsa_sub"].pem]
    elif case == "profile":
        args["profile"] = "legacy-rc2"
    elif case == "iterations":
        kw["iterations"] = 1000
    with pytest.raises(AlbMtlsError) as err:
        pki.build_pfx(**args, **kw)
    assert err.value.code == "INVALID_INPUT" and err.value.field == field


def _serialize(key, leaf, cas, encryption) -> bytes:
    return pkcs12.serialize_key_and_certificates(b"x", key, leaf, cas, encryption)


def test_verify_pfx_refuses_the_other_profile(pki_env):
    e = pki_env
    compat = pki.build_pfx(e["ec_key"], e["ec_leaf"], [e["ec_sub"].pem], PASSWORD, "compat")
    with pytest.raises(AlbMtlsError) as err:
        pki.verify_pfx(compat, PASSWORD, "modern")
    assert err.value.code == "PFX_CHECK_FAILED" and "pbeWithSHAAnd3-KeyTripleDES-CBC" in err.value.message
    # cryptography's BestAvailableEncryption is AES/SHA-256: not compat
    best = _serialize(e["ec_key"], e["ec_leaf"], [e["ec_sub"].cert],
                      serialization.BestAvailableEncryption(PASSWORD.encode()))
    with pytest.raises(AlbMtlsError) as err:
        pki.verify_pfx(best, PASSWORD, "compat")
    assert err.value.code == "PFX_CHECK_FAILED"


def test_verify_pfx_refuses_a_bag_without_the_issuing_ca(pki_env):
    e = pki_env
    enc = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(2048)
           .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
           .hmac_hash(hashes.SHA1()).build(PASSWORD.encode()))
    pfx = _serialize(e["ec_key"], e["ec_leaf"], [], enc)
    info = pki.inspect_pfx(pfx, PASSWORD)
    assert info.profile == "compat" and "issuing_ca_missing" in info.problems
    with pytest.raises(AlbMtlsError) as err:
        pki.verify_pfx(pfx, PASSWORD, "compat")
    assert "issuing_ca_missing" in err.value.message


def test_verify_pfx_flags_low_iterations_and_other_leaf(pki_env):
    e = pki_env
    enc = (serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(1000)
           .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
           .hmac_hash(hashes.SHA256()).build(PASSWORD.encode()))
    pfx = _serialize(e["ec_key"], e["ec_leaf"], [e["ec_sub"].cert], enc)
    assert "low_iterations" in pki.inspect_pfx(pfx, PASSWORD).problems
    good = pki.build_pfx(e["ec_key"], e["ec_leaf"], [e["ec_sub"].pem], PASSWORD)
    with pytest.raises(AlbMtlsError) as err:
        pki.verify_pfx(good, PASSWORD, "compat", expected_leaf=e["rsa_leaf"])
    assert "expected certificate" in err.value.message


def _patch_oid(pfx: bytes, old_last_arc: int, new_last_arc: int) -> bytes:
    """Rewrite every pbeWithSHAAnd…(1.2.840.113549.1.12.1.<n>) OID in place (same length)."""
    prefix = bytes.fromhex("060a2a864886f70d010c01")
    return pfx.replace(prefix + bytes([old_last_arc]), prefix + bytes([new_last_arc]))


@pytest.mark.parametrize("arc, name", [(6, "pbeWithSHAAnd40BitRC2-CBC"),
                                       (5, "pbeWithSHAAnd128BitRC2-CBC"),
                                       (1, "pbeWithSHAAnd128BitRC4")])
def test_rc2_and_rc4_are_refused(pki_env, arc, name):
    e = pki_env
    pfx = pki.build_pfx(e["ec_key"], e["ec_leaf"], [e["ec_sub"].pem], PASSWORD, "compat")
    weak = _patch_oid(pfx, 3, arc)
    assert weak != pfx
    with pytest.raises(AlbMtlsError) as err:
        pki.inspect_pfx(weak, PASSWORD)
    assert err.value.code == "PFX_CHECK_FAILED" and name in err.value.message


@pytest.mark.skipif(OPENSSL is None, reason="openssl CLI not installed")
def test_openssl_legacy_rc2_file_is_refused(pki_env, tmp_path):
    """A real RC2-40 file as OpenSSL 3 writes it with ``-legacy`` (skipped if no legacy provider)."""
    e = pki_env
    (tmp_path / "k.pem").write_bytes(pki.private_key_pem(e["ec_key"]))
    (tmp_path / "c.pem").write_text(pem(e["ec_leaf"]) + e["ec_sub"].pem)
    env = dict(os.environ, PFX_PW=PASSWORD)
    res = subprocess.run([str(OPENSSL), "pkcs12", "-export", "-legacy", "-inkey", str(tmp_path / "k.pem"),
                          "-in", str(tmp_path / "c.pem"), "-passout", "env:PFX_PW",
                          "-out", str(tmp_path / "rc2.pfx")], capture_output=True, env=env, timeout=30)
    if res.returncode != 0:
        pytest.skip("OpenSSL legacy provider not available")
    with pytest.raises(AlbMtlsError) as err:
        pki.inspect_pfx((tmp_path / "rc2.pfx").read_bytes(), PASSWORD)
    assert "RC2" in err.value.message


@pytest.mark.filterwarnings("ignore:PKCS#12 bundle could not be parsed as DER")
def test_ber_indefinite_length_is_read(pki_env):
    e = pki_env
    pfx = pki.build_pfx(e["ec_key"], e["ec_leaf"], [e["ec_sub"].pem], PASSWORD, "modern")
    node = pki._read(pfx)
    ber = b"\x30\x80" + node.content + b"\x00\x00"
    assert pki.inspect_pfx(ber, PASSWORD).profile == "modern"


@pytest.mark.parametrize("data", [b"", b"\x00", b"not a pfx at all", b"\x30\x82\xff\xff\x02\x01\x03",
                                  b"\x30\x03\x02\x01\x03"])
def test_garbage_is_refused(data):
    with pytest.raises(AlbMtlsError) as err:
        pki.inspect_pfx(data, PASSWORD)
    assert err.value.code == "PFX_CHECK_FAILED"


def test_wrong_password_is_refused(pki_env):
    e = pki_env
    pfx = pki.build_pfx(e["ec_key"], e["ec_leaf"], [e["ec_sub"].pem], PASSWORD)
    with pytest.raises(AlbMtlsError) as err:
        pki.inspect_pfx(pfx, PASSWORD + "x")
    assert err.value.code == "PFX_CHECK_FAILED"
    assert PASSWORD not in err.value.message


# ---------------------------------------------------------------------------------------------
# secrets never leak through exceptions
# ---------------------------------------------------------------------------------------------

def test_no_exception_message_carries_the_password_or_pem(pki_env):
    e = pki_env
    key_pem = pki.private_key_pem(e["ec_key"]).decode()
    leaf_pem = pem(e["ec_leaf"])
    good = pki.build_pfx(e["ec_key"], leaf_pem, [e["ec_sub"].pem], PASSWORD)
    other_pw = "Another-Secret_Passw0rd.7"
    broken_pem = leaf_pem.replace("M", "!", 3)
    calls = [
        lambda: pki.inspect_pfx(good, other_pw),
        lambda: pki.verify_pfx(good, PASSWORD, "modern"),
        lambda: pki.inspect_pfx(_patch_oid(good, 3, 6), PASSWORD),
        lambda: pki.inspect_pfx(good[:-5], PASSWORD),
        lambda: pki.build_pfx(pki.generate_key(), leaf_pem, [e["ec_sub"].pem], PASSWORD),
        lambda: pki.build_pfx(e["ec_key"], leaf_pem, [e["ec_sub"].pem], "pässwörd-" + PASSWORD),
        lambda: pki.build_pfx(e["ec_key"], leaf_pem, [e["ec_sub"].pem], PASSWORD[:8]),
        lambda: pki.build_pfx(e["ec_key"], broken_pem, [e["ec_sub"].pem], PASSWORD),
        lambda: pki.load_private_key_pem(key_pem[:-40]),
        lambda: pki.load_private_key_pem(pki.private_key_pem(e["ec_key"], PASSWORD), other_pw),
        lambda: pki.verify_leaf(issue(e["ec_sub"], e["ec_key"].public_key(), eku=None),
                                e["ec_sub"].pem, [], NOW),
        lambda: pki.check_leaf(broken_pem, e["ec_sub"].pem, [], NOW),
        lambda: pki.key_algorithm_of_certificate(broken_pem),
        lambda: pki.build_csr(e["ec_key"], PASSWORD + "," * 3, []),
    ]
    secrets_ = [PASSWORD, other_pw, PASSWORD[:8], "BEGIN", "PRIVATE KEY", key_pem.splitlines()[1],
                leaf_pem.splitlines()[1], broken_pem.splitlines()[1]]
    for i, call in enumerate(calls):
        with pytest.raises(AlbMtlsError) as err:
            call()
        exc = err.value
        texts = [str(exc), repr(exc), exc.message, str(exc.to_dict())]
        if exc.__cause__ is not None:
            texts.append(repr(exc.__cause__))
        for text in texts:
            for s in secrets_:
                assert s not in text, (i, s)


# ---------------------------------------------------------------------------------------------
# robustness: a damaged file never escapes as anything but AlbMtlsError
# ---------------------------------------------------------------------------------------------

_FUZZ_BASE: dict[str, bytes] = {}


def _fuzz_base() -> bytes:
    if not _FUZZ_BASE:
        key = pki.generate_key()
        root = make_ca("Fuzz Root", ec.generate_private_key(ec.SECP256R1()))
        leaf = issue(root, key.public_key())
        _FUZZ_BASE["pfx"] = pki.build_pfx(key, leaf, [root.cert], PASSWORD, "modern")
    return _FUZZ_BASE["pfx"]


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_damaged_pfx_only_raises_pfx_check_failed(data):
    pfx = bytearray(_fuzz_base())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(pfx) - 1))
        pfx[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(pfx) // 2, len(pfx)))
    try:
        pki.inspect_pfx(bytes(pfx[:cut]), PASSWORD)
    except AlbMtlsError as exc:
        assert exc.code == "PFX_CHECK_FAILED"

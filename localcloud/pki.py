"""Emulator-side PKI: real X.509 with ``cryptography`` for the local cloud's CAs and certificates.

Used by the PCA emulation (root → sub-CA → client certificates signed from a CSR), the CAS seed
(a local *server* root CA and the demo server certificate) and tests. Everything takes an explicit
``now`` (the local cloud's controllable clock) — nothing here reads the wall clock.

    root, root_key = make_root_ca("Demo Root CA", now=now)                   # EC P-256, 10 y
    sub, sub_key = make_sub_ca("Demo Sub CA", root, root_key, now=now)       # 5 y
    srv, srv_key = make_server_cert("app.example.test", ["app.example.test"], root, root_key, now=now)
    leaf = sign_csr_as_client(load_csr(csr_pem), sub, sub_key, not_before=nb, not_after=na)

Key algorithms: ``"EC"`` (P-256, the default), ``"RSA"`` (2048), or the API names ``ECC_256``,
``ECC_384``, ``RSA_2048``, ``RSA_4096`` … (see ``new_key``).
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

if TYPE_CHECKING:
    from collections.abc import Iterable

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
PublicKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey

BACKDATE = timedelta(minutes=5)   # notBefore is backdated against clock skew (docs/DECISIONS.md §3 "validity")
_CURVES: dict[int, type[ec.SECP256R1 | ec.SECP384R1 | ec.SECP521R1]] = {
    256: ec.SECP256R1, 384: ec.SECP384R1, 521: ec.SECP521R1, 512: ec.SECP521R1}


class PkiError(ValueError):
    """Bad input material (unparsable PEM, mismatched key, …)."""


# -- keys ----------------------------------------------------------------------------------------
def parse_algorithm(alg: str | None) -> tuple[str, int]:
    """``"EC"``/``"ECC"``/``"ECC_256"``/``"RSA"``/``"RSA_2048"``… → (family ``ECC``|``RSA``, size)."""
    a = (alg or "EC").upper().replace("-", "_")
    fam, _, size = a.partition("_")
    if fam in ("EC", "ECC", "ECDSA"):
        return "ECC", int(size or 256)
    if fam == "RSA":
        return "RSA", int(size or 2048)
    raise PkiError(f"unsupported key algorithm {alg!r}")


def new_key(alg: str | None = "EC") -> PrivateKey:
    """A fresh private key: EC P-256 by default, ``RSA`` = 2048 bits (see ``parse_algorithm``)."""
    fam, size = parse_algorithm(alg)
    if fam == "ECC":
        curve = _CURVES.get(size)
        if curve is None:
            raise PkiError(f"unsupported EC key size {size}")
        return ec.generate_private_key(curve())
    if size < 1024:
        raise PkiError(f"unsupported RSA key size {size}")
    return rsa.generate_private_key(public_exponent=65537, key_size=size)


def key_family(key: object) -> str:
    """``ECC`` or ``RSA`` (the PCA API's algorithm family names)."""
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return "ECC"
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return "RSA"
    raise PkiError(f"unsupported key type {type(key).__name__}")


def key_size(key: object) -> int:
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        return key.curve.key_size
    if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        return key.key_size
    raise PkiError(f"unsupported key type {type(key).__name__}")


def algorithm_name(key: object) -> str:
    """The PCA ``Algorithm`` request name of a key: ``ECC_256``, ``RSA_2048`` …"""
    size = key_size(key)
    return f"{key_family(key)}_{512 if size == 521 else size}"


def _sig_hash(issuer_key: PrivateKey) -> hashes.SHA256 | hashes.SHA384:
    return hashes.SHA384() if key_family(issuer_key) == "ECC" and key_size(issuer_key) >= 384 else hashes.SHA256()


def sign_algorithm_name(cert: x509.Certificate) -> str:
    """``SHA256WITHECDSA`` / ``SHA256WITHRSA``-style name of a certificate's signature algorithm."""
    h = (cert.signature_hash_algorithm.name if cert.signature_hash_algorithm else "none").upper()
    fam = "ECDSA" if cert.signature_algorithm_oid.dotted_string.startswith("1.2.840.10045.") else "RSA"
    return f"{h}WITH{fam}"


# -- PEM ------------------------------------------------------------------------------------------
def cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def key_pem(key: PrivateKey) -> str:
    """Unencrypted PKCS#8 PEM (emulator state only; never logged)."""
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def csr_pem(csr: x509.CertificateSigningRequest) -> str:
    return csr.public_bytes(serialization.Encoding.PEM).decode()


def load_cert(pem: str | bytes) -> x509.Certificate:
    """The first certificate of a PEM text."""
    certs = load_certs(pem)
    if not certs:
        raise PkiError("no certificate in PEM")
    return certs[0]


def load_certs(pem: str | bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM text, in order (leaf first in a chain)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        return x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise PkiError(f"invalid certificate PEM: {exc}") from None


def load_key(pem: str | bytes, password: bytes | None = None) -> PrivateKey:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=password)
    except (ValueError, TypeError) as exc:
        raise PkiError(f"invalid private key PEM: {exc}") from None
    if not isinstance(key, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)):
        raise PkiError("unsupported private key type")
    return key


def load_csr(pem: str | bytes) -> x509.CertificateSigningRequest:
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        csr = x509.load_pem_x509_csr(data)
    except ValueError as exc:
        raise PkiError(f"invalid CSR PEM: {exc}") from None
    if not csr.is_signature_valid:
        raise PkiError("the CSR signature does not verify")
    return csr


def keys_match(cert: x509.Certificate, key: PrivateKey) -> bool:
    """Whether ``key`` is the private half of the certificate's public key."""
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt)


# -- facts about a certificate ---------------------------------------------------------------------
def fingerprint(cert: x509.Certificate, algorithm: str = "sha256") -> str:
    """Upper-case hex digest of the DER certificate (``sha1``, ``sha256``, ``md5``)."""
    der = cert.public_bytes(serialization.Encoding.DER)
    return hashlib.new(algorithm, der).hexdigest().upper()


def serial_hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def common_name(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else ""


def name_attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attrs = name.get_attributes_for_oid(oid)
    return str(attrs[0].value) if attrs else ""


def dn_string(name: x509.Name) -> str:
    """RFC 4514 string of a name (``CN=…,O=…,C=…``)."""
    return name.rfc4514_string()


def dns_sans(cert: x509.Certificate) -> list[str]:
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return list(ext.value.get_values_for_type(x509.DNSName))


def san_entries(cert: x509.Certificate) -> list[dict]:
    """SANs as the PCA API renders them: ``[{Type: 1 email|2 DNS|6 URI|7 IP, Value}]``."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    out = []
    for gn in ext.value:
        if isinstance(gn, x509.RFC822Name):
            out.append({"Type": 1, "Value": gn.value})
        elif isinstance(gn, x509.DNSName):
            out.append({"Type": 2, "Value": gn.value})
        elif isinstance(gn, x509.UniformResourceIdentifier):
            out.append({"Type": 6, "Value": gn.value})
        elif isinstance(gn, x509.IPAddress):
            out.append({"Type": 7, "Value": str(gn.value)})
    return out


def not_before(cert: x509.Certificate) -> datetime:
    return cert.not_valid_before_utc


def not_after(cert: x509.Certificate) -> datetime:
    return cert.not_valid_after_utc


def to_ms(dt: datetime) -> int:
    return int(dt.timestamp() * 1000)


# -- certificate identifiers ----------------------------------------------------------------------
_GREGORIAN_OFFSET_100NS = 0x01B21DD213814000   # 1582-10-15 → 1970-01-01 in 100 ns ticks


def uuid6(when: datetime, *, seed: bytes | None = None) -> str:
    """An RFC 9562 UUID version 6 for ``when``: the shape of the current PCA and CAS certificate
    identifiers (``CertIdentifier``, ``UploadPCACert.Identifier``; e.g. ``1efd3cac-e8c1-611d-b971-…``
    in the Terraform alicloud ALB listener acceptance test, docs/ALIBABA-APIS.md §1.15).

    ``seed`` makes the clock sequence and node deterministic (the demo seed's fixed ids); without
    it they are random."""
    ticks = int(when.timestamp() * 10_000_000) + _GREGORIAN_OFFSET_100NS
    time_high, time_low = (ticks >> 12) & 0xFFFF_FFFF_FFFF, ticks & 0x0FFF
    rest = hashlib.sha256(seed).digest()[:8] if seed is not None else secrets.token_bytes(8)
    clock_seq = (int.from_bytes(rest[:2], "big") & 0x3FFF) | 0x8000     # RFC 9562 variant 10xx
    node = int.from_bytes(rest[2:8], "big")
    h = f"{time_high:012x}{0x6000 | time_low:04x}{clock_seq:04x}{node:012x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


# -- building certificates -------------------------------------------------------------------------
def make_name(cn: str, *, o: str | None = None, ou: str | None = None, c: str | None = None,
              st: str | None = None, l: str | None = None) -> x509.Name:  # noqa: E741 — X.509's L (locality)
    attrs = []
    if c:
        attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, c))
    if st:
        attrs.append(x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, st))
    if l:
        attrs.append(x509.NameAttribute(NameOID.LOCALITY_NAME, l))
    if o:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, o))
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attrs)


def _now(now: datetime | None) -> datetime:
    if now is None:
        raise ValueError("pass now= (the local cloud's clock)")
    return now.astimezone(UTC)


def random_serial() -> int:
    """A positive random 159-bit serial (RFC 5280: ≤ 20 octets, non-negative)."""
    return secrets.randbits(159) | (1 << 158)


def _ca_builder(subject: x509.Name, issuer: x509.Name, pub: PublicKey, issuer_pub: PublicKey,
                nb: datetime, na: datetime, path_len: int | None) -> x509.CertificateBuilder:
    return (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(issuer).public_key(pub)
            .serial_number(random_serial())
            .not_valid_before(nb).not_valid_after(na)
            .add_extension(x509.BasicConstraints(ca=True, path_length=path_len), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_pub), critical=False))


def make_root_ca(cn: str, *, key_alg: str = "EC", days: int = 3650, now: datetime | None = None,
                 o: str | None = "alb-mtls local cloud", c: str | None = "CN",
                 key: PrivateKey | None = None) -> tuple[x509.Certificate, PrivateKey]:
    """A self-signed root CA (pathLen 1)."""
    now = _now(now)
    key = key or new_key(key_alg)
    name = make_name(cn, o=o, c=c)
    cert = _ca_builder(name, name, key.public_key(), key.public_key(), now - BACKDATE,
                       now + timedelta(days=days), 1).sign(key, _sig_hash(key))
    return cert, key


def make_sub_ca(cn: str, issuer: x509.Certificate, issuer_key: PrivateKey, *, key_alg: str = "EC",
                days: int = 1825, now: datetime | None = None, o: str | None = "alb-mtls local cloud",
                c: str | None = "CN", key: PrivateKey | None = None) -> tuple[x509.Certificate, PrivateKey]:
    """A subordinate CA (pathLen 0) signed by ``issuer``; never outlives the issuer."""
    now = _now(now)
    key = key or new_key(key_alg)
    na = min(now + timedelta(days=days), not_after(issuer))
    cert = _ca_builder(make_name(cn, o=o, c=c), issuer.subject, key.public_key(), issuer_key.public_key(),
                       now - BACKDATE, na, 0).sign(issuer_key, _sig_hash(issuer_key))
    return cert, key


def _leaf_builder(subject: x509.Name, issuer: x509.Certificate, issuer_key: PrivateKey, pub: PublicKey,
                  nb: datetime, na: datetime, eku: list, sans: list[x509.GeneralName]) -> x509.CertificateBuilder:
    fam = key_family(pub)
    b = (x509.CertificateBuilder()
         .subject_name(subject).issuer_name(issuer.subject).public_key(pub)
         .serial_number(random_serial())
         .not_valid_before(nb).not_valid_after(na)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                      key_encipherment=(fam == "RSA"), data_encipherment=False,
                                      key_agreement=False, key_cert_sign=False, crl_sign=False,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage(eku), critical=False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                        critical=False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return b


def make_server_cert(cn: str, sans: Iterable[str], issuer: x509.Certificate, issuer_key: PrivateKey, *,
                     key_alg: str = "EC", days: int = 397, now: datetime | None = None,
                     key: PrivateKey | None = None) -> tuple[x509.Certificate, PrivateKey]:
    """A TLS server certificate (EKU serverAuth, DNS SANs; the CN is added to the SANs)."""
    now = _now(now)
    key = key or new_key(key_alg)
    names = list(dict.fromkeys([cn, *sans]))
    na = min(now + timedelta(days=days), not_after(issuer))
    cert = _leaf_builder(make_name(cn), issuer, issuer_key, key.public_key(), now - BACKDATE, na,
                         [ExtendedKeyUsageOID.SERVER_AUTH], [x509.DNSName(n) for n in names]
                         ).sign(issuer_key, _sig_hash(issuer_key))
    return cert, key


def sign_csr_as_client(csr: x509.CertificateSigningRequest, issuer: x509.Certificate, issuer_key: PrivateKey, *,
                       not_before: datetime, not_after: datetime, subject: x509.Name | None = None,
                       sans: list[x509.GeneralName] | None = None, crl_url: str | None = None) -> x509.Certificate:
    """A client certificate for the CSR's public key: EKU clientAuth, KeyUsage digitalSignature,
    ``CA:FALSE``, SKI/AKI, random serial. Subject = ``subject`` or the CSR's; SANs = ``sans`` or
    the CSR's requested SANs; ``crl_url``: a cRLDistributionPoints extension naming it."""
    if sans is None:
        try:
            sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
        except x509.ExtensionNotFound:
            sans = []
    pub = csr.public_key()
    if not isinstance(pub, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)):
        raise PkiError(f"unsupported key type {type(pub).__name__}")
    b = _leaf_builder(subject or csr.subject, issuer, issuer_key, pub, not_before, not_after,
                      [ExtendedKeyUsageOID.CLIENT_AUTH], sans)
    if crl_url:
        b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None,
            crl_issuer=None)]), critical=False)
    return b.sign(issuer_key, _sig_hash(issuer_key))


def make_crl(issuer: x509.Certificate, issuer_key: PrivateKey, revoked: Iterable[tuple[int, datetime]], *,
             this_update: datetime, next_update: datetime, number: int) -> x509.CertificateRevocationList:
    """An X.509 v2 CRL signed by ``issuer_key``: one entry per ``(serial, revocation time)``, the
    authority key identifier and ``cRLNumber`` ``number``. Entries carry no reasonCode."""
    b = (x509.CertificateRevocationListBuilder()
         .issuer_name(issuer.subject)
         .last_update(this_update.replace(microsecond=0))
         .next_update(next_update.replace(microsecond=0))
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False)
         .add_extension(x509.CRLNumber(number), critical=False))
    for serial, when in revoked:
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                      .revocation_date(when.replace(microsecond=0)).build())
    return b.sign(issuer_key, _sig_hash(issuer_key))


def make_csr(cn: str, key: PrivateKey | None = None, *, key_alg: str = "EC", o: str | None = None,
             sans: Iterable[str] = ()) -> tuple[x509.CertificateSigningRequest, PrivateKey]:
    """A CSR (for tests and tools): subject CN (+O), optional DNS SANs."""
    key = key or new_key(key_alg)
    b = x509.CertificateSigningRequestBuilder().subject_name(make_name(cn, o=o))
    sans = list(sans)
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(s) for s in sans]), critical=False)
    return b.sign(key, hashes.SHA256()), key

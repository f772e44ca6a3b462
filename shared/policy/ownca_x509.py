"""The own CA's certificates and CRLs, as ``cryptography`` builders (pure: nothing is signed here).

The caller signs each builder with the CA key — a ``shared.adapters.kmskeys`` key object, whose
``sign`` is KMS ``AsymmetricSign`` — and checks the result with :func:`check_ca_certificate`,
:func:`check_crl` or the leaf checks (``shared.policy.leaf``) before anything is stored or published.
``cryptography`` assembles the TBSCertificate / TBSCertList itself, so no ASN.1 library is needed
(docs/DECISIONS.md §8 "own CA").

Profiles (RFC 5280; the CA/Browser Forum's private-PKI practice):

* root — self-signed, ``basicConstraints CA:TRUE, pathlen:1`` (critical), ``keyUsage keyCertSign,
  cRLSign`` (critical), SKI = AKI;
* issuing sub-CA — ``CA:TRUE, pathlen:0``, the same key usage, ``extendedKeyUsage clientAuth`` (it
  issues client certificates only; OpenSSL and browsers read an EKU on a CA as a constraint), SKI,
  AKI = its issuer's SKI; its cross certificate (the new sub-CA signed by the previous root) is the
  same with the old root as issuer;
* client — from the holder's CSR: its subject and public key, its SANs plus the requested ones,
  ``CA:FALSE`` (critical), ``digitalSignature`` (+ ``keyEncipherment`` for RSA; critical),
  ``clientAuth``, SKI, AKI, and the CRL distribution point when one is published;
* CRL — v2, the issuing sub-CA as issuer, AKI, ``cRLNumber``, each entry with its reason code.

Serial numbers: 159 random bits (positive, at most 20 octets; RFC 5280 §4.1.2.2, CA/B BR 7.1).
"""
from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any, Literal

from shared.core.errors import AlbMtlsError, Code

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from cryptography import x509

    from shared.policy.ownca import Revoked

__all__ = ["ORGANIZATION", "ca_subject", "root_builder", "issuing_builder", "client_builder", "crl_builder",
           "check_csr", "check_ca_certificate", "check_crl", "new_serial", "REASON_FLAGS"]

ORGANIZATION = "alb-mtls own CA"

#: revocation reasons (``shared.policy.records.RevocationReason`` names and RFC 5280's) → ``x509.ReasonFlags``
REASON_FLAGS = {"unspecified": "unspecified", "key_compromise": "key_compromise", "keyCompromise": "key_compromise",
                "superseded": "superseded", "cessation": "cessation_of_operation",
                "cessationOfOperation": "cessation_of_operation", "affiliation_changed": "affiliation_changed",
                "privilege_withdrawn": "privilege_withdrawn"}


def new_serial() -> int:
    return secrets.randbits(159) | 1 << 158   # 159 bits, top bit set: always 20 octets of DER or fewer


def ca_subject(name: str, gen: int, role: Literal["root", "issuing"]) -> x509.Name:
    """``CN=<name> Root CA G<gen>`` / ``CN=<name> Issuing CA G<gen>``, ``O=alb-mtls own CA``."""
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    cn = f"{name} {'Root' if role == 'root' else 'Issuing'} CA G{gen}"
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _ca_usage() -> x509.KeyUsage:
    from cryptography import x509

    return x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                         encipher_only=False, decipher_only=False)


def _ski(cert: x509.Certificate) -> x509.SubjectKeyIdentifier:
    from cryptography import x509

    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.SubjectKeyIdentifier.from_public_key(cert.public_key())


def root_builder(public_key: Any, name: str, gen: int, not_before: datetime,
                 not_after: datetime) -> x509.CertificateBuilder:
    """The self-signed root of generation ``gen`` (sign it with the root key itself)."""
    from cryptography import x509

    subject = ca_subject(name, gen, "root")
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(public_key)
            .serial_number(new_serial()).not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .add_extension(ski, critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False))


def issuing_builder(public_key: Any, name: str, gen: int, issuer: x509.Certificate, not_before: datetime,
                    not_after: datetime, permitted_dns: Sequence[str] = ()) -> x509.CertificateBuilder:
    """The issuing sub-CA of generation ``gen`` signed by ``issuer`` — its own root, or the previous
    generation's root for the cross certificate (sign with that root's key). ``permitted_dns``: a
    critical ``nameConstraints`` with those ``dNSName`` permitted subtrees (RFC 5280 §4.2.1.10,
    ``shared.policy.nameconstraints``)."""
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    limit = issuer.not_valid_after_utc
    b = (x509.CertificateBuilder().subject_name(ca_subject(name, gen, "issuing")).issuer_name(issuer.subject)
         .public_key(public_key).serial_number(new_serial()).not_valid_before(not_before)
         .not_valid_after(min(not_after, limit))
         .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
         .add_extension(_ca_usage(), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(issuer)), critical=False))
    if permitted_dns:
        b = b.add_extension(x509.NameConstraints(permitted_subtrees=[x509.DNSName(d) for d in permitted_dns],
                                                 excluded_subtrees=None), critical=True)
    return b


def check_csr(csr_pem: str | bytes) -> x509.CertificateSigningRequest:
    """The holder's CSR, checked: it parses, its self-signature verifies, its key is EC P-256 or RSA
    of at least 2048 bits, and it names a subject. Raises ``AlbMtlsError(INVALID_INPUT)``."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        csr = x509.load_pem_x509_csr(csr_pem.encode() if isinstance(csr_pem, str) else csr_pem)
    except ValueError:
        raise AlbMtlsError(Code.INVALID_INPUT, "the CSR does not parse as PEM PKCS#10") from None
    if not csr.is_signature_valid:
        raise AlbMtlsError(Code.INVALID_INPUT, "the CSR's signature does not verify with its own key")
    pub = csr.public_key()
    ok = (isinstance(pub, ec.EllipticCurvePublicKey) and pub.curve.name == "secp256r1") or \
        (isinstance(pub, rsa.RSAPublicKey) and pub.key_size >= 2048)
    if not ok:
        raise AlbMtlsError(Code.CA_ALGORITHM_MISMATCH, "the CSR's key is neither EC P-256 nor RSA of 2048 bits or more")
    if not len(csr.subject):
        raise AlbMtlsError(Code.INVALID_INPUT, "the CSR names no subject")
    return csr


def client_builder(csr: x509.CertificateSigningRequest, issuer: x509.Certificate, not_before: datetime,
                   not_after: datetime, extra_sans: Sequence[x509.GeneralName] = (),
                   crl_url: str | None = None) -> x509.CertificateBuilder:
    """A client certificate for ``csr`` (checked with :func:`check_csr`) under ``issuer`` (the issuing
    sub-CA); SANs = the CSR's plus ``extra_sans`` (what ``SanType``/``SanValue`` asked)."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID

    pub = csr.public_key()
    try:
        sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        sans = []
    for s in extra_sans:
        if s not in sans:
            sans.append(s)
    rsa_key = isinstance(pub, rsa.RSAPublicKey)
    b = (x509.CertificateBuilder().subject_name(csr.subject).issuer_name(issuer.subject).public_key(pub)
         .serial_number(new_serial()).not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=rsa_key,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                      crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(issuer)),
                        critical=False))
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if crl_url:
        b = b.add_extension(x509.CRLDistributionPoints([x509.DistributionPoint(
            full_name=[x509.UniformResourceIdentifier(crl_url)], relative_name=None, reasons=None,
            crl_issuer=None)]), critical=False)
    return b


def crl_builder(issuer: x509.Certificate, revoked: Sequence[Revoked], number: int, this_update: datetime,
                next_update: datetime) -> x509.CertificateRevocationListBuilder:
    """The CRL of ``issuer`` (an issuing sub-CA) listing ``revoked`` (sign with its key)."""
    from cryptography import x509

    from shared.core.clock import parse_iso

    b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject).last_update(this_update)
         .next_update(next_update)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(_ski(issuer)), critical=False)
         .add_extension(x509.CRLNumber(number), critical=False))
    for e in revoked:
        flag = getattr(x509.ReasonFlags, REASON_FLAGS.get(e.reason, "unspecified"))
        rb = (x509.RevokedCertificateBuilder().serial_number(int(e.serial, 16))
              .revocation_date(parse_iso(e.revoked_at)))
        if flag is not x509.ReasonFlags.unspecified:
            rb = rb.add_extension(x509.CRLReason(flag), critical=False)
        b = b.add_revoked_certificate(rb.build())
    return b


def check_ca_certificate(cert: x509.Certificate, issuer: x509.Certificate, *, path_length: int,
                         public_key_der: bytes) -> None:
    """A freshly signed CA certificate before it is stored: signed by ``issuer``'s key (its own for a
    root), the KMS key's public key, a CA with ``path_length``, keyCertSign. Raises
    ``AlbMtlsError(CERT_CHECK_FAILED)``."""
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import serialization

    problems = []
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError) as exc:
        problems.append(f"not verifiably signed by {issuer.subject.rfc4514_string()} ({type(exc).__name__})")
    der = cert.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if der != public_key_der:
        problems.append("its public key is not the KMS key's")
    bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    if not bc.ca or bc.path_length != path_length:
        problems.append(f"basicConstraints is not CA:TRUE, pathlen:{path_length}")
    if not cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign:
        problems.append("keyUsage lacks keyCertSign")
    if problems:
        raise AlbMtlsError("CERT_CHECK_FAILED", f"the CA certificate {cert.subject.rfc4514_string()} failed its "
                           "checks: " + "; ".join(problems) + " — nothing was stored")


def check_crl(crl: x509.CertificateRevocationList, issuer: x509.Certificate, serials: Sequence[str]) -> None:
    """A freshly signed CRL: its signature verifies with the issuing sub-CA's key and it lists exactly
    ``serials``. Raises ``AlbMtlsError(CERT_CHECK_FAILED)``."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    pub = issuer.public_key()
    if not isinstance(pub, (ec.EllipticCurvePublicKey, rsa.RSAPublicKey)) or not crl.is_signature_valid(pub):
        raise AlbMtlsError("CERT_CHECK_FAILED", "the CRL's signature does not verify with the issuing sub-CA's key")
    listed = {format(r.serial_number, "x") for r in crl}
    if listed != set(serials):
        raise AlbMtlsError("CERT_CHECK_FAILED", f"the CRL lists {len(listed)} serials, {len(set(serials))} expected")

"""Leaf checks of an issued client certificate (``shared.policy.pki`` is the rest of the PKI): a leaf
is usable for mTLS only with EKU ``clientAuth``, KeyUsage ``digitalSignature``, ``CA:FALSE``, a
signature that verifies up to the CA bound on the listener, and a CA whose ``notAfter`` is not
before the leaf's. Pure over ``cryptography`` (imported inside the functions); no I/O.
"""
from __future__ import annotations

import datetime as _dt
from typing import TYPE_CHECKING, Any, NamedTuple

from shared.core.errors import AlbMtlsError, invalid_input
from shared.policy.pki import CertLike, _family_of_public_key, _spki, load_certificate, public_key_of

if TYPE_CHECKING:
    from collections.abc import Sequence

    from cryptography import x509

__all__ = ["LeafProblem", "check_leaf", "verify_leaf", "spki_of", "check_sans"]

class LeafProblem(NamedTuple):
    """One failed leaf check: a stable ``code`` and a human sentence (no PEM, no key)."""

    code: str
    message: str


def _utc(value: _dt.datetime, field: str) -> _dt.datetime:
    if not isinstance(value, _dt.datetime) or value.tzinfo is None:
        raise invalid_input(field, "a timezone-aware datetime is required")
    return value.astimezone(_dt.UTC)


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> Any:
    from cryptography import x509
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _common_name(cert: x509.Certificate) -> str | None:
    from cryptography.x509.oid import NameOID
    attrs = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else None


def _issued_by(child: x509.Certificate, parent: x509.Certificate) -> str | None:
    """``None`` when ``parent`` signed ``child``; else ``"issuer_mismatch"``/``"bad_signature"``."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
    try:
        child.verify_directly_issued_by(parent)
    except ValueError:
        return "issuer_mismatch"
    except (InvalidSignature, TypeError, UnsupportedAlgorithm):
        return "bad_signature"
    return None


def check_leaf(leaf_pem: CertLike, ca_pem: CertLike, chain_pems: Sequence[CertLike] = (),
               now: _dt.datetime | None = None, expected_cn: str | None = None,
               expected_public_key: object = None, *,
               clock_skew: _dt.timedelta = _dt.timedelta(0)) -> list[LeafProblem]:
    """Every reason why ``leaf_pem`` would fail mTLS against the listener's CA; ``[]`` if none.

    Parameters
    ----------
    leaf_pem
        The issued client certificate.
    ca_pem
        The CA certificate bound on the listener (``CaCertificates``), normally the issuing
        sub-CA.
    chain_pems
        The chain shipped with the leaf: issuing sub-CA first, then optionally its parents.
        Empty → the leaf must be issued directly by ``ca_pem``.
    now
        Current time (timezone-aware, required). The leaf must satisfy
        ``notBefore ≤ now + clock_skew`` and ``now ≤ notAfter`` — a backdated ``notBefore``
        is fine.
    expected_cn
        If given, the leaf's subject CN must equal it.
    expected_public_key
        If given (private/public key, CSR or its PEM), the leaf must carry that public key.

    Returns
    -------
    list[LeafProblem]
        Codes: ``no_client_auth_eku``, ``no_digital_signature``, ``is_ca``,
        ``issuer_mismatch``, ``bad_signature``, ``chain_broken``, ``not_chained_to_listener_ca``,
        ``ca_ends_before_leaf``, ``ca_not_valid_now``, ``not_yet_valid``, ``expired``,
        ``cn_mismatch``, ``public_key_mismatch``, ``key_family_mismatch``,
        ``weak_signature_hash``.

    Raises
    ------
    AlbMtlsError
        ``INVALID_INPUT`` when an input cannot be parsed or ``now`` is missing/naive.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID
    if now is None:
        raise invalid_input("now", "now is required (inject the clock)")
    now = _utc(now, "now")
    leaf = load_certificate(leaf_pem, field="leaf")
    ca = load_certificate(ca_pem, field="ca_certificate")
    chain = [load_certificate(c, field="chain") for c in (chain_pems or ())]
    problems: list[LeafProblem] = []

    def add(code: str, message: str) -> None:
        problems.append(LeafProblem(code, message))

    # Extensions of the leaf.
    eku = _ext(leaf, x509.ExtendedKeyUsage)
    if eku is None or ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
        add("no_client_auth_eku", "extendedKeyUsage does not include clientAuth")
    ku = _ext(leaf, x509.KeyUsage)
    if ku is None or not ku.digital_signature:
        add("no_digital_signature", "keyUsage does not include digitalSignature")
    bc = _ext(leaf, x509.BasicConstraints)
    if bc is not None and bc.ca:
        add("is_ca", "basicConstraints says CA:TRUE; a client certificate must be CA:FALSE")
    hash_alg = leaf.signature_hash_algorithm
    if isinstance(hash_alg, (hashes.SHA1, hashes.MD5)):
        add("weak_signature_hash", f"signed with {hash_alg.name}; ALB wants SHA-256 or better")

    # Chain: leaf → chain[0] → chain[1] …, and the listener CA somewhere on that path.
    path = [leaf, *chain]
    chained = False
    link_failed = False
    for i in range(len(path)):
        if path[i] == ca and i > 0:
            chained = True
            break
        if i + 1 < len(path):
            err = _issued_by(path[i], path[i + 1])
            if err is not None:
                link_failed = True
                if i == 0:
                    add(err, "the leaf is not signed by the first certificate of the chain"
                        if err == "bad_signature" else
                        "the leaf's issuer is not the first certificate of the chain")
                else:
                    add("chain_broken", f"chain certificate {i} is not issued by chain "
                        f"certificate {i + 1}")
                break
        else:
            err = _issued_by(path[i], ca)
            if err is None:
                chained = True
                path.append(ca)
            elif i == 0:
                link_failed = True
                add(err, "the leaf is not issued by the listener's CA certificate"
                    if err == "issuer_mismatch" else
                    "the leaf's signature does not verify with the listener's CA key")
    if not chained and not link_failed:
        add("not_chained_to_listener_ca", "the chain does not lead to the CA bound on the listener")

    issuer = path[1] if len(path) > 1 else ca
    leaf_family = _family_of_public_key(leaf.public_key())
    if leaf_family != _family_of_public_key(issuer.public_key()):
        add("key_family_mismatch", "the leaf key family differs from the issuing CA's")

    # Validity.
    leaf_nb, leaf_na = leaf.not_valid_before_utc, leaf.not_valid_after_utc
    cas_on_path = [c for c in path[1:]] or [ca]
    if ca not in cas_on_path:
        cas_on_path.append(ca)
    if any(c.not_valid_after_utc < leaf_na for c in cas_on_path):
        add("ca_ends_before_leaf", "a CA certificate expires before the leaf (notAfter)")
    if any(not (c.not_valid_before_utc <= now + clock_skew and now <= c.not_valid_after_utc)
           for c in cas_on_path):
        add("ca_not_valid_now", "a CA certificate is not valid at the given time")
    if now + clock_skew < leaf_nb:
        add("not_yet_valid", "the leaf's notBefore is in the future")
    if now > leaf_na:
        add("expired", "the leaf's notAfter has passed")

    # Identity.
    if expected_cn is not None and _common_name(leaf) != expected_cn:
        add("cn_mismatch", "the leaf's common name is not the one requested")
    if expected_public_key is not None:
        if _spki(leaf.public_key()) != _spki(public_key_of(expected_public_key)):
            add("public_key_mismatch", "the leaf's public key is not the CSR's key")
    return problems


def verify_leaf(leaf_pem: CertLike, ca_pem: CertLike, chain_pems: Sequence[CertLike] = (),
                now: _dt.datetime | None = None, expected_cn: str | None = None,
                expected_public_key: object = None, *,
                clock_skew: _dt.timedelta = _dt.timedelta(0)) -> None:
    """:func:`check_leaf`, raising ``AlbMtlsError("CERT_CHECK_FAILED")`` on any problem.

    The message lists the problem codes and sentences (never certificate or key text).
    """
    problems = check_leaf(leaf_pem, ca_pem, chain_pems, now, expected_cn, expected_public_key,
                          clock_skew=clock_skew)
    if problems:
        raise AlbMtlsError("CERT_CHECK_FAILED", "client certificate check failed: "
                           + "; ".join(f"{p.code} ({p.message})" for p in problems))




def spki_of(obj: Any) -> bytes:
    """The DER SubjectPublicKeyInfo of a key, certificate or CSR (PEM or object): what says two
    things hold the same key (an earlier attempt's certificate is ours when its SPKI is our key's)."""
    return _spki(public_key_of(obj))


def check_sans(leaf: Any, common_name: str, sans: tuple[str, ...]) -> None:
    """``CERT_CHECK_FAILED`` unless the issued leaf's subjectAltNames are exactly the requested ones."""
    from cryptography import x509

    from shared.policy import pki

    want = {pki.parse_san(s) for s in sans}
    try:
        got = set(leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        got = set()
    if got != want:
        raise AlbMtlsError("CERT_CHECK_FAILED", f"client {common_name!r}: the issued certificate's "
                           f"subjectAltNames ({len(got)}) differ from the requested ones ({len(want)})")

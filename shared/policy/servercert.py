"""The server certificate's rules, pure: which CAS certificate covers the listener's domain, when one
ends too soon to be used, what a PEM holds and how it is named when uploaded, and the id ALB takes
for it (``<CAS id>-<site region>``, docs/ALIBABA-APIS.md §2.3). ``shared.policy.listener`` runs them
as checks and plans; ``shared.steps.listener`` gathers what they read.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from shared.core.clock import iso_utc
from shared.core.errors import AlbMtlsError, Code
from shared.policy.checks import Violation
from shared.policy.ids import CertificateId

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

__all__ = ["EXPIRY_GUARD", "CasCertificateLike", "covers", "server_certificate_expiring", "choose_certificate",
           "PemFacts", "parse_pem", "upload_name", "own_site", "cas_site_of", "alb_id_of"]

#: A server certificate ending sooner than this is refused (``SERVER_CERT_EXPIRING``).
EXPIRY_GUARD = timedelta(days=7)


class CasCertificateLike(Protocol):
    @property
    def cas_id(self) -> int: ...
    @property
    def identifier(self) -> str | None: ...
    @property
    def name(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def has_key(self) -> bool | None: ...
    @property
    def not_after(self) -> datetime | None: ...

    @property
    def names(self) -> tuple[str, ...]: ...



def covers(names: Iterable[str], fqdn: str) -> bool:
    """True when one of ``names`` (CN/SANs) matches ``fqdn``: exactly (case-insensitive, trailing
    dot ignored) or as a wildcard ``*.<parent>`` matching exactly one left-most label."""
    want = fqdn.strip().lower().rstrip(".")
    for raw in names:
        n = (raw or "").strip().lower().rstrip(".")
        if not n:
            continue
        if n == want:
            return True
        if n.startswith("*.") and "." in want:
            label, _, parent = want.partition(".")
            if label and label != "*" and parent == n[2:]:
                return True
    return False


def server_certificate_expiring(not_after: datetime | None, now: datetime, what: str) -> Violation | None:
    """``SERVER_CERT_EXPIRING`` when ``not_after`` has passed or is within :data:`EXPIRY_GUARD` of
    ``now`` (both aware UTC); ``None`` when unknown or far enough."""
    if not_after is None:
        return None
    if not_after <= now:
        return Violation(Code.SERVER_CERT_EXPIRING, f"{what} expired on {iso_utc(not_after)}; renew it or choose "
                         "another `server_certificate`", "server_certificate")
    if not_after - now < EXPIRY_GUARD:
        return Violation(Code.SERVER_CERT_EXPIRING, f"{what} expires on {iso_utc(not_after)}, in less than "
                         f"{EXPIRY_GUARD.days} days; renew it or choose another `server_certificate`",
                         "server_certificate")
    return None


def choose_certificate(candidates: Iterable[CasCertificateLike], fqdn: str, now: datetime,
                       prefer_ids: Iterable[int] = ()) -> CasCertificateLike | None:
    """The CAS certificate to use for ``fqdn`` (``server_certificate: {}``), or ``None``.

    Candidates: covering ``fqdn`` (:func:`covers`), not revoked, with a private key (unless
    unknown), not yet expired. A candidate in ``prefer_ids`` (the listener's current certificate)
    with at least :data:`EXPIRY_GUARD` left wins (no churn); otherwise the one ending last.
    """
    usable = [c for c in candidates
              if covers(c.names, fqdn) and c.status != "revoked" and c.has_key is not False
              and (c.not_after is None or c.not_after > now)]
    prefer = set(prefer_ids)
    for c in usable:
        if c.cas_id in prefer and (c.not_after is None or c.not_after - now >= EXPIRY_GUARD):
            return c
    if not usable:
        return None
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return max(usable, key=lambda c: (c.not_after or far, c.cas_id))


@dataclass(frozen=True, slots=True)
class PemFacts:
    """What the server certificate in ``cert_pem`` says (its leaf): fingerprints, serial, names."""

    sha256: str
    sha1: str
    serial: str
    names: tuple[str, ...]
    not_after: datetime
    common_name: str | None


def parse_pem(pem: str) -> PemFacts | None:
    """The leaf of a PEM chain (``None`` when nothing parses)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    try:
        certs = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        return None
    if not certs:
        return None
    leaf = certs[0]
    cn_attrs = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cn_attrs[0].value) if cn_attrs else None
    sans: list[str] = []
    try:
        ext = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = [str(v) for v in ext.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        pass
    return PemFacts(sha256=leaf.fingerprint(hashes.SHA256()).hex(),
                    sha1=leaf.fingerprint(hashes.SHA1()).hex(),  # CAS lists SHA-1 fingerprints
                    serial=format(leaf.serial_number, "x"), names=tuple(([cn] if cn else []) + sans),
                    not_after=leaf.not_valid_after_utc, common_name=cn)


def upload_name(pem: PemFacts) -> str:
    """The CAS name an upload gets: ``albmtls-<cn>-<16 hex of its SHA-256>`` (≤ 63 chars, unique
    per leaf, so a re-run finds it)."""
    base = "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in (pem.common_name or "cert").lower())
    return f"albmtls-{base.strip('-.')[:36] or 'cert'}-{pem.sha256[:16]}"[:63]


def own_site(cert: CasCertificateLike) -> str | None:
    """The site region in the certificate's own ``<id>-<site>`` identifier, if it has one."""
    if not cert.identifier:
        return None
    try:
        parsed = CertificateId.parse(cert.identifier)
    except AlbMtlsError:
        return None
    return parsed.site_region if parsed.is_cas and parsed.cas_id == cert.cas_id else None


def cas_site_of(cert: CasCertificateLike, site_region: str) -> str:
    """The site region ALB knows the certificate by: its own identifier's, else ``site_region``
    (``settings.cas_site_region``)."""
    return own_site(cert) or site_region


def alb_id_of(cert: CasCertificateLike, site_region: str, given: CertificateId | None = None) -> str:
    """The ALB id of a CAS certificate: its own ``<id>-<site>`` identifier when it has one, else the
    given id's site, else ``site_region``."""
    if cert.identifier:
        try:
            parsed = CertificateId.parse(cert.identifier)
            if parsed.is_cas and parsed.cas_id == cert.cas_id and parsed.site_region:
                return str(parsed)
        except AlbMtlsError:
            pass
    if given is not None and given.is_cas and given.cas_id == cert.cas_id:
        return given.for_alb(site_region)
    return CertificateId("cas", cas_id=cert.cas_id).for_alb(site_region)



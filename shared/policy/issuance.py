"""The pure part of ``issue_client_cert``: what is stored for a client (the observation), whether
to reuse it or issue a new certificate (:func:`decide`, table-tested), and the PCA SAN request.
``shared.steps.issuance`` gathers, acts and reads back. No I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from shared.core.clock import parse_iso
from shared.core.errors import AlbMtlsError
from shared.policy import pki, renewal

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from shared.policy.contracts import ClientSpec
    from shared.policy.ids import SecretNames
    from shared.policy.records import CertMeta

__all__ = ["CurrentCert", "Decision", "decide", "norm_sans", "san_request", "NOT_YET_VALID_GRACE"]

#: A stored certificate whose notBefore is later than now by more than this is not reused: it was
#: issued at another time (a local cloud's clock moved ahead, then back) and every listener would
#: refuse it now. Within it, a fresh certificate and a clock a little behind are fine.
NOT_YET_VALID_GRACE = renewal.DEFAULT_BACKDATE


class IssuedLike(Protocol):
    """What :func:`decide` reads of the PCA certificate (``shared.adapters.pca.ClientCertificate``)."""

    @property
    def status(self) -> str | None: ...
    @property
    def parent_identifier(self) -> str | None: ...
    @property
    def serial(self) -> str: ...


def norm_sans(sans: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return tuple(sorted(set(sans)))


# ---------------------------------------------------------------------------------------------
# the sub-CA
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CurrentCert:
    """What is stored for a client: ``meta`` (``None`` if never issued), the ``ACSCurrent`` version ids
    of the pfx/password secrets, and the PCA certificate ``meta`` names (``None`` if gone)."""

    names: SecretNames
    meta: CertMeta | None
    pfx_version: str | None
    password_version: str | None
    certificate: IssuedLike | None

    @classmethod
    def from_record(cls, names: SecretNames, meta: CertMeta | None, certificate: IssuedLike | None) -> CurrentCert:
        """What is stored, from the record alone. The record is written last, after the PFX and the
        password versions of its serial, by the lane's one writer (``shared.policy.lane``): a record
        proves both — reading the two secrets again would only repeat what it says."""
        if meta is None:
            return cls(names, None, None, None, certificate)
        return cls(names, meta, meta.serial, meta.serial, certificate)

    @property
    def consistent(self) -> bool:
        """The pfx and password ``ACSCurrent`` versions are both the meta's serial."""
        return self.meta is not None and self.pfx_version == self.meta.serial == self.password_version


@dataclass(frozen=True, slots=True)
class Decision:
    """``action``: ``reuse`` the stored certificate or ``issue`` a new one; ``reason`` says why."""

    action: Literal["reuse", "issue"]
    reason: str


def decide(client: ClientSpec, current: CurrentCert, ca_identifier: str, now: datetime, *, force: bool,
           own_ids: set[str], previous_identifier: str | None = None) -> Decision:
    """Reuse the stored certificate when it is complete (pfx/password/meta versions agree), issued
    (``ISSUE``) by the same CA with the same serial, SANs and profile, valid at ``now`` (the
    cloud's time: neither expired nor starting more than :data:`NOT_YET_VALID_GRACE` later) and not
    due per the renewal policy (``client.renew_before_days``); else issue. ``force`` issues anyway unless the stored one
    was issued by this execution (``own_ids``) or already replaced ``previous_identifier``."""
    meta, cert = current.meta, current.certificate
    if meta is None:
        return Decision("issue", "first_issue")
    if not current.consistent:
        return Decision("issue", "secrets_inconsistent")
    if cert is None:
        return Decision("issue", "certificate_missing")
    if cert.status != "ISSUE":
        return Decision("issue", "revoked")
    if meta.ca != ca_identifier or (cert.parent_identifier and cert.parent_identifier != ca_identifier):
        return Decision("issue", "ca_changed")
    if cert.serial != meta.serial:
        return Decision("issue", "serial_mismatch")
    if norm_sans(meta.sans) != norm_sans(client.sans):
        return Decision("issue", "sans_changed")
    if meta.profile != client.profile:
        return Decision("issue", "profile_changed")
    if now < parse_iso(meta.not_before) - NOT_YET_VALID_GRACE:
        return Decision("issue", "not_yet_valid")   # issued while the (local) cloud's clock was ahead
    times = renewal.CertTimes(parse_iso(meta.not_before), parse_iso(meta.not_after), client.renew_before_days)
    try:
        st = renewal.state(times, now)
    except AlbMtlsError:
        st = "due"   # renew_before no shorter than the stored lifetime: renew with the new days
    if st != "valid":
        return Decision("issue", st)
    if force:
        if meta.custom_identifier in own_ids:
            return Decision("reuse", "issued_by_this_execution")
        if previous_identifier is not None and meta.identifier != previous_identifier:
            return Decision("reuse", "already_replaced")
        return Decision("issue", "forced")
    return Decision("reuse", "valid")


# ---------------------------------------------------------------------------------------------
# act
# ---------------------------------------------------------------------------------------------
def san_request(sans: tuple[str, ...]) -> tuple[int | None, str | None]:
    """``SanType``/``SanValue`` when every SAN is one kind (and has no comma); else ``(None, None)``:
    the CSR carries them (the issued certificate is checked either way).

    ASSUMPTION (unverified; ``localcloud/COVERAGE.md`` "Across products"): ``SanType`` takes one kind
    per request (docs/ALIBABA-APIS.md §2.2), so SANs of several kinds — every certificate carries the
    URI ``albmtls://<alb id>/<port>/<cn>`` (``shared.policy.ids.holder_uri``) beside the client's DNS,
    email or IP SANs — are requested through the CSR, and the private CA is assumed to copy the
    CSR's subjectAltNames (URI ones included) when no ``SanType`` is given. If it does not, the
    issued certificate fails the SAN check (``CERT_CHECK_FAILED``) before anything is stored."""
    if not sans:
        return None, None
    kinds = set()
    for s in sans:
        gn = pki.parse_san(s)
        kinds.add({"RFC822Name": 1, "DNSName": 2, "UniformResourceIdentifier": 6, "IPAddress": 7}[type(gn).__name__])
    if len(kinds) != 1 or any("," in s for s in sans):
        return None, None
    return kinds.pop(), ",".join(sans)



"""The records this automation keeps beside each client's PFX and password secrets, one type per
stored thing (docs/ARCHITECTURE.md "Stored records"). Pure: encoding and decoding only.

* ``…/meta`` (``shared.policy.ids.SecretNames.meta``): :class:`CertMeta`, the certificate the
  secrets hold — compact JSON, one version per certificate (``VersionId`` = the serial) and, after
  a rotation, one more version that adds the replaced certificate to ``supersedes`` (``VersionId``
  ``<serial>-s<old serial>``). Issuance writes it (last, so it marks a complete issuance), the
  scan, the report and the rotate step read it.
* ``…/access`` (``SecretNames.access``): :class:`AccessRecord`, the holder's access on the
  listener — ``orphaned`` (the CN left the listener's input; never renewed), ``revoked`` (with the
  one record of a revocation, :class:`Revocation`: reason, time, who asked, request id — the
  private CA keeps no reason, docs/ALIBABA-APIS.md §2.2) or ``active`` again (after a restore,
  :class:`Restoration`, or when the CN is back in the input). Written only by the offboarding step
  (``shared.steps.offboarding``): never by issuance or renewal, so a renewal running at the same
  time cannot overwrite a revocation. Absent = active. Never deleted (a deleted name stays blocked
  for the KMS recovery window), so ``albmtls status`` shows the reason on any machine, for ever.
"""
from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Literal

import msgspec

from shared.core.clock import parse_iso
from shared.policy import renewal

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["META_VERSION", "SupersededEntry", "CertMeta", "decode_meta", "encode_meta", "RevocationReason",
           "REASON_CODES", "RevokedCertificate", "Revocation", "Restoration", "AccessState", "AccessRecord",
           "decode_access", "encode_access", "access_version_id"]

META_VERSION = 1


class SupersededEntry(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A replaced certificate, in the ``supersedes`` list of its CN's record: ``retire_after`` = when
    it may be revoked (its own end when it is left to expire); ``revoke``: whether it is to be
    revoked at ``retire_after``."""

    identifier: str
    serial: str
    not_after: str
    superseded_at: str
    superseded_by: str
    retire_after: str
    revoke: bool = False


class CertMeta(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The certificate a client's secrets hold (times ISO 8601 UTC; ``fingerprint_sha256`` lowercase
    hex; ``sans`` sorted) and the certificates it replaced (``supersedes``)."""

    v: int = META_VERSION
    common_name: str
    identifier: str
    serial: str
    not_before: str
    not_after: str
    fingerprint_sha256: str
    profile: Literal["compat", "modern"]  # shared.policy.pfx.PfxProfile: the record holds what issuance wrote
    days: int
    sans: tuple[str, ...] = ()
    ca: str
    renew_before_days: int | None = None
    custom_identifier: str | None = None
    key_algorithm: str | None = None
    issued_at: str | None = None
    supersedes: tuple[SupersededEntry, ...] = ()
    #: the URI SAN naming the listener and the holder (``shared.policy.ids.holder_uri``)
    holder_uri: str | None = None

    def times(self) -> renewal.CertTimes:
        """Validity and ``renew_before_days`` for ``shared.policy.renewal``."""
        return renewal.CertTimes(parse_iso(self.not_before), parse_iso(self.not_after), self.renew_before_days)

    def superseded(self, identifier: str) -> SupersededEntry | None:
        """The ``supersedes`` entry of ``identifier``, if recorded."""
        return next((e for e in self.supersedes if e.identifier == identifier), None)

    def with_superseded(self, entry: SupersededEntry, now: datetime) -> CertMeta:
        """This record with ``entry`` added to ``supersedes`` (entries of certificates that have
        ended by ``now`` are dropped)."""
        keep = tuple(e for e in self.supersedes if parse_iso(e.not_after) > now)
        return msgspec.structs.replace(self, supersedes=keep + (entry,))


def decode_meta(text: str | bytes) -> CertMeta | None:
    """The record in ``text``, or ``None`` when it is not one (an unreadable record counts as
    never issued: the next issuance repairs it). Unknown fields are ignored."""
    try:
        return msgspec.json.decode(text, type=CertMeta)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def encode_meta(meta: CertMeta) -> str:
    """Compact JSON of ``meta`` (what the ``…/meta`` secret stores)."""
    return msgspec.json.encode(meta).decode()



# ---------------------------------------------------------------------------------------------
# the holder's access on a listener (``…/access``)
# ---------------------------------------------------------------------------------------------
RevocationReason = Literal["key_compromise", "cessation", "superseded", "unspecified"]
#: the RFC 5280 §5.3.1 CRLReason code of each reason, kept in our record only:
#: ``CreateRevokeClientCertificate`` takes no reason (docs/ALIBABA-APIS.md §2.2)
REASON_CODES: dict[str, int] = {"unspecified": 0, "key_compromise": 1, "superseded": 4, "cessation": 5}
AccessState = Literal["active", "orphaned", "revoked"]


class RevokedCertificate(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A certificate a revocation revoked at the private CA."""

    identifier: str
    serial: str
    not_after: str | None = None


class Revocation(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The record of one revocation of a holder on a listener (the product's own: the CA keeps no
    reason). ``via``: ``revoke`` (``albmtls revoke``, ``POST /clients/revocations``) or ``prune``
    (a provisioning run with ``prune: true``); ``certificates``: what was revoked at the CA;
    ``recovery_window_days``: the KMS window in which ``albmtls restore`` gets the secrets back."""

    reason: RevocationReason
    reason_code: int
    revoked_at: str
    requested_by: str
    request_id: str
    #: who signed the API request (its AccessKeyId) when the body named ``requested_by``: both kept
    signed_by: str | None = None
    via: Literal["revoke", "prune"] = "revoke"
    execution: str | None = None
    certificates: tuple[RevokedCertificate, ...] = ()
    recovery_window_days: int = 30


class Restoration(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The record of a restore (access given back after a revocation): who, when, the request,
    and the certificate issued in place of the revoked one."""

    restored_at: str
    requested_by: str
    request_id: str
    #: who signed the API request when the body named ``requested_by``
    signed_by: str | None = None
    execution: str | None = None
    serial: str | None = None
    identifier: str | None = None
    secrets_restored: bool = False


class AccessRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A holder's access on a listener (module doc). ``since``: when it entered ``state``;
    ``revocation`` / ``restoration``: the last of each (kept after the state moves on, for the
    record); ``seq``: counts the versions written (part of the ``VersionId``)."""

    v: int = 1
    common_name: str
    listener_key: str
    state: AccessState
    since: str
    revocation: Revocation | None = None
    restoration: Restoration | None = None
    seq: int = 1


def decode_access(text: str | bytes) -> AccessRecord | None:
    """The record in ``text``, or ``None`` when it is not one (unknown fields are ignored)."""
    try:
        return msgspec.json.decode(text, type=AccessRecord)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def encode_access(record: AccessRecord) -> str:
    """Compact JSON of ``record`` (what the ``…/access`` secret stores)."""
    return msgspec.json.encode(record).decode()


def access_version_id(record: AccessRecord) -> str:
    """``<seq>-<12 hex of the content>``: unique per content, so a retried write of the same record
    is recognised (``shared.adapters.kms.Kms.store_version``) and two different ones never collide."""
    return f"{record.seq}-{hashlib.sha256(encode_access(record).encode()).hexdigest()[:12]}"

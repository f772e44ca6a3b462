"""The one record type of the ``…/meta`` KMS secret (``shared.policy.ids.SecretNames.meta``).

Beside each client's PFX and password secrets this automation keeps a non-secret record of the
certificate they hold: :class:`CertMeta`, compact JSON, one version per certificate
(``VersionId`` = the serial) and, after a rotation, one more version that adds the replaced
certificate to ``supersedes`` (``VersionId`` ``<serial>-s<old serial>``). Issuance writes it
(last, so it marks a complete issuance), the scan, the report and the rotate step read it — all
through this type. Pure: encoding and decoding only.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import msgspec

from shared.core.clock import parse_iso
from shared.policy import renewal

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["META_VERSION", "SupersededEntry", "CertMeta", "decode_meta", "encode_meta"]

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

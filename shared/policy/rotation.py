"""The rotation's pure rules: its inputs (the scan policy, the timer event, the rotate flow's items),
the one classification of a client certificate (:func:`classify`, used by the scan and by the
certificate report), when a replaced certificate is retired (:func:`retire_due`) and the scan's
execution names. No I/O; the time is an argument. Design: docs/DECISIONS.md §3 "renewal",
"retirement"; docs/ROTATION.md; the renewal rule itself: ``shared.policy.renewal``.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal, Protocol

import msgspec
from msgspec import Meta

from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, Code, invalid_input
from shared.policy import renewal
from shared.policy.ids import parse_custom_identifier
from shared.policy.validation import pattern

if TYPE_CHECKING:
    from shared.policy.records import AccessRecord, CertMeta, SupersededEntry

__all__ = [
    "RevokeOld", "ScanPolicy", "ScanEvent", "RotateItem", "CertState", "Classification", "classify",
    "retire_due", "revoke_asked", "rotation_execution_name", "shown_state",
]

RevokeOld = Literal["never", "after_grace", "immediately"]
CertState = Literal["valid", "due", "superseded", "retired", "expired", "revoked", "orphaned"]


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
class ScanPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The timer payload (JSON text in FC's timer event) / ``POST /rotations`` body.

    ``secret_prefix``: the KMS prefix the certificates were stored under. ``revoke_old``: what
    happens to a replaced certificate — ``never`` (default: it expires naturally), ``after_grace``
    (revoked by the first run ``revoke_after_days`` after it was replaced), ``immediately`` (revoked
    in the same run once the replacement is stored: compromise). ``revoke_after_days`` alone implies
    ``after_grace``. ``renew_before_days``: renew this long before the end (when earlier than 2/3 of
    the lifetime) for every certificate; must be shorter than each certificate's lifetime.
    ``max_concurrency``: certificates renewed at once (the rotate flow's Map bound is 5).
    """

    secret_prefix: Annotated[str, pattern(r"^[A-Za-z0-9_+=.@-]{1,64}$",
                                          "1-64 ASCII letters, digits or _ + = . @ -")] = "albmtls"
    revoke_old: RevokeOld | None = None
    revoke_after_days: Annotated[int, Meta(ge=0, le=3650)] | None = None
    renew_before_days: Annotated[int, Meta(ge=1, le=3650)] | None = None

    @property
    def effective_revoke(self) -> RevokeOld:
        if self.revoke_old is not None:
            return self.revoke_old
        return "after_grace" if self.revoke_after_days is not None else "never"


class ScanEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What ``rotation_scan`` accepts: FC's timer event ``{triggerTime, triggerName, payload}``
    (``payload`` = the policy as JSON text, ``""``/``"{}"`` = defaults), or the policy fields
    themselves (CLI, HTTP API)."""

    triggerTime: str | None = None  # FC wire names
    triggerName: str | None = None
    payload: str | dict[str, Any] | None = None
    secret_prefix: str | None = None
    revoke_old: str | None = None
    revoke_after_days: int | None = None
    renew_before_days: int | None = None

    def policy(self) -> ScanPolicy:
        """The effective :class:`ScanPolicy`; raises ``AlbMtlsError(INVALID_INPUT)`` naming the field."""
        from shared.policy.validation import decode
        if self.payload is not None:
            raw: Any = self.payload
            if isinstance(raw, str):
                if not raw.strip():
                    raw = {}
                else:
                    try:
                        raw = json.loads(raw)
                    except ValueError as exc:
                        raise invalid_input("payload", f"the timer payload is not JSON: {exc}") from None
            if not isinstance(raw, dict):
                raise invalid_input("payload", "the timer payload must be a JSON object")
            return decode(ScanPolicy, raw)
        fields = {k: getattr(self, k) for k in ("secret_prefix", "revoke_old", "revoke_after_days",
                                                  "renew_before_days") if getattr(self, k) is not None}
        return decode(ScanPolicy, fields)


class RotateItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One Map item of the rotate flow (ids only): ``renew`` the certificate ``identifier`` of
    ``common_name`` on ``listener_key``, or ``retire`` (revoke) it — it was already replaced."""

    action: Literal["renew", "retire"]
    listener_key: Annotated[str, Meta(min_length=1, max_length=128)]
    common_name: Annotated[str, Meta(min_length=1, max_length=64)]
    identifier: Annotated[str, Meta(min_length=1, max_length=128)]
    serial: str = ""
    not_after: str = ""


# ---------------------------------------------------------------------------------------------
# the one classification
# ---------------------------------------------------------------------------------------------
class ListedCertificate(Protocol):
    """What :func:`classify` reads of a ``ListClientCertificate`` item
    (``shared.adapters.pca.ClientCertificate``)."""

    @property
    def identifier(self) -> str: ...
    @property
    def common_name(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def certificate_type(self) -> str | None: ...
    @property
    def custom_identifier(self) -> str | None: ...
    @property
    def not_before(self) -> datetime | None: ...
    @property
    def not_after(self) -> datetime | None: ...


class RulePolicy(Protocol):
    """What :func:`classify` reads of the policy (``ScanPolicy``; ``None`` = the defaults)."""

    @property
    def renew_before_days(self) -> int | None: ...
    @property
    def revoke_after_days(self) -> int | None: ...
    @property
    def effective_revoke(self) -> RevokeOld: ...


@dataclass(frozen=True, slots=True)
class Classification:
    """One certificate at one instant.

    ``ours``: a ``CLIENT`` certificate whose CustomIdentifier this automation made (its
    ``listener_key`` comes from it); ``state``: ``revoked`` > ``expired`` > ``retired`` (replaced,
    and recorded retired after its holder switched: it expires naturally) > ``superseded`` (the
    record names another certificate) > ``orphaned`` (its holder left the input) > ``due`` >
    ``valid``; ``due_at``: its renewal time;
    ``retire_after`` / ``superseded_by`` (the replacement's serial) / ``retire`` (revoke it now,
    per its record's marker or the policy) for a superseded one."""

    ours: bool
    state: CertState
    listener_key: str | None = None
    due_at: datetime | None = None
    retire_after: str | None = None
    superseded_by: str | None = None
    retire: bool = False


def _policy_renew_before(cert: ListedCertificate, rb_days: int | None) -> timedelta | None:
    """The policy's ``renew_before_days``, refused (``RENEW_BEFORE_TOO_LONG``) when not shorter than
    the certificate's nominal lifetime (the issued one less the few minutes of backdating): a
    30-day certificate with renew_before 30 days would be due the moment it is issued."""
    rb = renewal.as_renew_before(rb_days)
    if rb is None or cert.not_before is None or cert.not_after is None:
        return rb
    nominal = timedelta(days=round((cert.not_after - cert.not_before) / timedelta(days=1)))
    if rb >= nominal:
        raise AlbMtlsError(Code.RENEW_BEFORE_TOO_LONG,
                           f"renew_before_days ({rb.days}) is not shorter than the lifetime of "
                           f"{cert.common_name!r}'s certificate ({nominal.days} days): it would be renewed "
                           "again and again; use fewer days (default: renew at 2/3 of the lifetime)",
                           field="renew_before_days")
    return rb


def shown_state(state: str, not_before: datetime | None, now: datetime) -> str:
    """The state ``status`` and ``inventory`` show: ``not_yet_valid`` for a ``valid`` certificate whose
    not_before is still ahead (issued while a clock was ahead: every TLS peer refuses it until then),
    the classified state otherwise. Renewal decisions keep the classified state."""
    return "not_yet_valid" if state == "valid" and not_before is not None and now < not_before else state


def classify(cert: ListedCertificate, meta: CertMeta | None, policy: RulePolicy | None,
             now: datetime, access: AccessRecord | None = None, *, switched_at: datetime | None = None,
             retired: bool = False) -> Classification:
    """Classify ``cert`` at ``now`` — the one rule the scan and the certificate report share.

    ``meta``: the record of the certificate's CN (``None`` when not read or absent): it tells
    whether ``cert`` is still the current one (else ``superseded``, with the retirement time of
    its ``supersedes`` entry) and the ``renew_before_days`` it was issued with. ``policy``: the
    scan policy (``renew_before_days`` for every certificate; ``revoke_old``/``revoke_after_days``
    for :func:`retire_due`), ``None`` for the defaults. Due = ``shared.policy.renewal.due_at``
    with the longer of the two ``renew_before`` (either may make it due; neither delays it past
    2/3 of the lifetime); a record's ``renew_before_days`` that is not shorter than the lifetime
    makes it due. ``switched_at``: when the holder took the replacement into use (its first
    download or secret read, ``shared.policy.delivery.switched_at``); ``retired``: the replaced
    certificate is recorded retired (its delivery record).

    ``access``: the holder's record (``…/access``, ``None`` when not read or absent): a holder
    revoked there is ``revoked`` whatever the CA says yet; a valid or due certificate of a holder
    that left the listener's input is ``orphaned`` (never renewed).

    Raises ``AlbMtlsError(RENEW_BEFORE_TOO_LONG)`` when the *policy's* ``renew_before_days`` is not
    shorter than the certificate's lifetime (a configuration error: it would renew forever).
    """
    ref = parse_custom_identifier(cert.custom_identifier)
    ours = ref is not None and (cert.certificate_type or "CLIENT") == "CLIENT" and bool(cert.not_before) \
        and bool(cert.not_after)
    held = access.state if ours and access is not None else "active"
    if (cert.status or "ISSUE") != "ISSUE" or held == "revoked":
        return Classification(ours, "revoked", ref if ours else None)
    if not ours:
        expired = cert.not_after is not None and now > cert.not_after
        return Classification(False, "expired" if expired else "valid")
    assert cert.not_before is not None and cert.not_after is not None
    rb = _policy_renew_before(cert, policy.renew_before_days if policy is not None else None)
    due = renewal.due_at(cert.not_before, cert.not_after, rb)
    forced_due = False
    if meta is not None and meta.identifier == cert.identifier and meta.renew_before_days:
        try:
            due = min(due, renewal.due_at(cert.not_before, cert.not_after, meta.renew_before_days))
        except AlbMtlsError:
            forced_due = True     # issued with a renew_before no shorter than its lifetime
    if now > cert.not_after:
        return Classification(True, "expired", ref, due)
    if meta is not None and meta.identifier != cert.identifier:
        entry = meta.superseded(cert.identifier)
        if retired:
            return Classification(True, "retired", ref, due, retire_after=entry.retire_after if entry else None,
                                  superseded_by=meta.serial)
        retire = retire_due(entry, now, policy.effective_revoke if policy is not None else "never",
                            policy.revoke_after_days if policy is not None else None,
                            replaced_at=parse_iso(meta.not_before), switched_at=switched_at)
        return Classification(True, "superseded", ref, due,
                              retire_after=entry.retire_after if entry else iso_utc(cert.not_after),
                              superseded_by=meta.serial, retire=retire)
    if held == "orphaned":
        return Classification(True, "orphaned", ref, due)
    return Classification(True, "due" if forced_due or now >= due else "valid", ref, due)


def retire_due(entry: SupersededEntry | None, now: datetime, policy_revoke: RevokeOld,
               revoke_after_days: int | None, *, replaced_at: datetime | None = None,
               switched_at: datetime | None = None) -> bool:
    """Whether a replaced certificate is to be retired at ``now`` (pure): its holder switched to
    the replacement (``switched_at``: first download or secret read) — retirement never waits longer
    than that —, or its recorded marker says so and ``retire_after`` (the grace end) has passed, or
    today's policy does (``immediately``, or ``after_grace`` with ``revoke_after_days`` elapsed
    since it was replaced — ``replaced_at`` when there is no marker): the download or the grace
    end, whichever comes first. Whether retiring revokes is :func:`revoke_asked`."""
    if switched_at is not None and now >= switched_at:
        return True
    since = parse_iso(entry.superseded_at) if entry is not None else replaced_at
    if entry is not None and entry.revoke and now >= parse_iso(entry.retire_after):
        return True
    if policy_revoke == "immediately":
        return True
    if policy_revoke == "after_grace" and since is not None:
        return now >= since + timedelta(days=revoke_after_days or 0)
    return False



def revoke_asked(entry: SupersededEntry | None, policy_revoke: RevokeOld) -> bool:
    """Whether retiring a replaced certificate revokes it (its marker, or today's policy); else it
    is recorded retired and expires naturally."""
    return (entry is not None and entry.revoke) or policy_revoke in ("immediately", "after_grace")


def rotation_execution_name(secret_prefix: str, now: datetime, part: int = 1) -> str:
    """``rotate-<prefix>-<yyyymmdd>`` (UTC date) and ``-<part>`` from the second batch on."""
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", secret_prefix)
    name = f"rotate-{safe}-{now.astimezone(UTC):%Y%m%d}"
    return name if part == 1 else f"{name}-{part}"

"""Offboarding, the pure part: who holds certificates on a listener, who left its input (orphans),
and what a revocation, a restore and a provisioning run's reconciliation write — planned once, from
what was observed, before any write (``shared.steps.offboarding`` gathers, acts and reads back).
No I/O; the time is an argument.

A revocation of holder ``cn`` on a listener, in this order (each write idempotent, so a re-run
after any crash finishes the job and a second revoke writes nothing):

1. the holder's ``…/access`` record becomes ``revoked`` with a :class:`~shared.policy.records.Revocation`
   (reason, time, who asked, request id, the certificates about to be revoked) — first, so every
   later renewal stops (the scan and the renew step read it);
2. ``CreateRevokeClientCertificate`` for every valid certificate of ``cn`` on that listener (from
   the private CA's own list, not from our records: a certificate our records missed is revoked too);
3. ``DeleteSecret`` of the PFX and password secrets with the KMS recovery window (7–30 days), so a
   mistaken revoke can be undone (``albmtls restore``); the ``…/meta`` and ``…/access`` records stay.

Revocation at the listener: the private CA's documentation says a revoked certificate "cannot
establish HTTPS connections"; ALB documents no CRL or OCSP check. How soon a real listener refuses
is the assumption :data:`LISTENER_REFUSAL_BOUND` (one place; ``localcloud/COVERAGE.md``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal, Protocol

import msgspec
from msgspec import Meta

from shared.core.clock import iso_utc
from shared.policy.contracts import CommonName, LoadBalancerId, Port, Region, SecretPrefix
from shared.policy.ids import custom_identifier_matches_listener
from shared.policy.records import (
    REASON_CODES,
    AccessRecord,
    Restoration,
    Revocation,
    RevocationReason,
    RevokedCertificate,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = [
    "LISTENER_REFUSAL_BOUND", "RECOVERY_WINDOW_DAYS", "AUDIT_TEXT_MAX", "audit_text_problem",
    "REASONS", "RevokeRequest", "Holder", "holders",
    "valid_certificates", "orphans", "RevokePlan", "plan_revoke", "RestorePlan", "plan_restore",
    "mark_orphaned", "mark_active", "access_state", "restored", "refusal_deadline", "ReconcilePlan",
    "plan_reconcile",
]

#: ASSUMPTION (unverified on a real account; ``localcloud/COVERAGE.md`` "Across products"): a real
#: ALB listener refuses a client certificate that its PCA sub-CA revoked on new connections within
#: this time after ``CreateRevokeClientCertificate`` returns.
#: For: "After a client or server certificate is revoked, the client or server where the
#: certificate is installed cannot establish HTTPS connections with other devices"
#: (https://www.alibabacloud.com/help/en/ssl-certificate/api-createrevokeclientcertificate), and the
#: ALB binds the PCA CA by its identifier (it knows the CA, not only its PEM).
#: Against / unknown: the ALB API has no field about CRL, OCSP or revocation, its mTLS pages speak of
#: the CA certificate only, and no delay is documented (docs/ALIBABA-APIS.md §5.2). Backends that must
#: not rely on it deny by fingerprint (docs/BACKENDS.md). The local data plane enforces revocation
#: within ``localcloud.emulator.Settings.revocation_refresh_s`` (2 s), inside this bound.
LISTENER_REFUSAL_BOUND = timedelta(seconds=60)

#: KMS ``DeleteSecret.RecoveryWindowInDays``: 7–30, default 30 (docs/ALIBABA-APIS.md §6.1)
RECOVERY_WINDOW_DAYS = 30
REASONS: tuple[str, ...] = tuple(REASON_CODES)


#: the longest ``requested_by`` / ``request_id`` (stored in the record, printed by revoke and status)
AUDIT_TEXT_MAX = 128


def audit_text_problem(value: str) -> str | None:
    """Why ``value`` cannot be a ``requested_by`` / ``request_id`` (``None``: it can). They are
    stored in the access record and printed in audit lines, ``revoke`` and ``status``: printable
    characters only (no control characters such as ESC or newlines, no format characters such as
    bidi overrides — ``str.isprintable``), at most :data:`AUDIT_TEXT_MAX`, not blank."""
    if not value.strip():
        return "give who asked, e.g. 'ops@example.com' (it is empty or blank)"
    if len(value) > AUDIT_TEXT_MAX:
        return f"at most {AUDIT_TEXT_MAX} characters (it has {len(value)})"
    bad = sorted({f"U+{ord(ch):04X}" for ch in value if not ch.isprintable()})
    if bad:
        return (f"printable characters only, e.g. 'ops@example.com'; it contains {', '.join(bad[:5])} "
                "(control or format characters such as ESC, newline or a bidi override)")
    return None


class RevokeRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The revoke flow's execution input (``workflows/revoke.yaml``; ``albmtls revoke`` / ``albmtls
    restore``, ``POST /clients/revocations`` / ``/clients/restorations``): ``action`` on the holders
    ``common_names`` of listener ``<load_balancer_id>:<listener_port>``. ``requested_by`` and
    ``request_id`` go into the record and the audit log line."""

    action: Literal["revoke", "restore"] = "revoke"
    load_balancer_id: LoadBalancerId
    listener_port: Port
    common_names: Annotated[tuple[CommonName, ...], Meta(min_length=1, max_length=50)]
    reason: RevocationReason = "unspecified"
    #: both checked by :func:`audit_text_problem` only (one rule and message for '', blank, too long, ESC)
    requested_by: str = "unknown"
    request_id: str = "unknown"
    #: set by the HTTP API only: the signer's AccessKeyId when the body names ``requested_by`` (the
    #: audit record keeps both: who the body says asked, and whose key signed the request)
    signed_by: str | None = None
    secret_prefix: SecretPrefix = "albmtls"
    recovery_window_days: Annotated[int, Meta(ge=7, le=30)] = RECOVERY_WINDOW_DAYS
    region: Region | None = None

    def __post_init__(self) -> None:
        from shared.core.errors import InvalidInputError
        if len(set(self.common_names)) != len(self.common_names):
            raise InvalidInputError("common_names", "a common name is listed twice")
        for name in ("requested_by", "request_id", "signed_by"):
            if getattr(self, name) is None:
                continue
            bad = audit_text_problem(getattr(self, name))
            if bad:
                raise InvalidInputError(name, bad)

    @property
    def listener_key(self) -> str:
        return f"{self.load_balancer_id}-{self.listener_port}"


# ---------------------------------------------------------------------------------------------
# who holds what on a listener
# ---------------------------------------------------------------------------------------------
class ListedCertificate(Protocol):
    """What is read of a ``ListClientCertificate`` item (``shared.adapters.pca.ClientCertificate``)."""

    @property
    def identifier(self) -> str: ...
    @property
    def serial(self) -> str: ...
    @property
    def common_name(self) -> str | None: ...
    @property
    def status(self) -> str | None: ...
    @property
    def certificate_type(self) -> str | None: ...
    @property
    def custom_identifier(self) -> str | None: ...
    @property
    def not_after(self) -> datetime | None: ...


@dataclass(frozen=True, slots=True)
class Holder:
    """The certificates of one CN on one listener that this automation issued (every status)."""

    common_name: str
    certificates: tuple[ListedCertificate, ...] = field(default=())

    def valid(self, now: datetime) -> tuple[ListedCertificate, ...]:
        return valid_certificates(self.certificates, now)


def holders(listed: Iterable[ListedCertificate], listener_key: str) -> dict[str, Holder]:
    """CN → :class:`Holder` for the ``CLIENT`` certificates whose CustomIdentifier this automation
    made for ``listener_key`` (the private CA's list is the truth; our records may miss one)."""
    out: dict[str, list[ListedCertificate]] = {}
    for c in listed:
        if (c.certificate_type or "CLIENT") != "CLIENT" or not c.common_name:
            continue
        if custom_identifier_matches_listener(c.custom_identifier, listener_key):
            out.setdefault(c.common_name, []).append(c)
    return {cn: Holder(cn, tuple(certs)) for cn, certs in sorted(out.items())}


def valid_certificates(certs: Iterable[ListedCertificate], now: datetime) -> tuple[ListedCertificate, ...]:
    """Those still issued (``ISSUE``) and not past their end."""
    return tuple(c for c in certs if (c.status or "ISSUE") == "ISSUE" and (c.not_after is None or c.not_after > now))


def access_state(record: AccessRecord | None) -> str:
    """``active`` (no record, or active), ``orphaned`` or ``revoked``."""
    return record.state if record is not None else "active"


def orphans(by_cn: Mapping[str, Holder], input_cns: Iterable[str], records: Mapping[str, AccessRecord | None],
            now: datetime) -> list[str]:
    """CNs that hold a valid certificate on the listener but are not in its input, and were not
    revoked: provisioned earlier, then removed from the input (sorted)."""
    keep = set(input_cns)
    return sorted(cn for cn, h in by_cn.items()
                  if cn not in keep and h.valid(now) and access_state(records.get(cn)) != "revoked")


# ---------------------------------------------------------------------------------------------
# plans
# ---------------------------------------------------------------------------------------------
def _next(record: AccessRecord | None, common_name: str, listener_key: str, **changes: object) -> AccessRecord:
    if record is None:
        return AccessRecord(common_name=common_name, listener_key=listener_key, **changes)  # type: ignore[arg-type]  # changes are the record's own fields by name
    return msgspec.structs.replace(record, seq=record.seq + 1, **changes)


@dataclass(frozen=True, slots=True)
class RevokePlan:
    """What a revocation writes: ``record`` (``None``: the stored one already says revoked),
    ``revoke`` (identifiers still valid at the CA), ``delete`` (secret names not yet scheduled for
    deletion). ``revocation`` is the record of the revocation (new or the stored one)."""

    record: AccessRecord | None
    revocation: Revocation
    revoke: tuple[str, ...]
    delete: tuple[str, ...]

    @property
    def writes(self) -> int:
        return int(self.record is not None) + len(self.revoke) + len(self.delete)


def plan_revoke(record: AccessRecord | None, *, common_name: str, listener_key: str,
                valid: Iterable[ListedCertificate], secrets: Mapping[str, bool], reason: RevocationReason,
                requested_by: str, request_id: str, now: datetime, via: Literal["revoke", "prune"] = "revoke",
                execution: str | None = None, recovery_window_days: int = RECOVERY_WINDOW_DAYS,
                signed_by: str | None = None) -> RevokePlan:
    """The writes that revoke ``common_name`` on ``listener_key`` (module doc). ``valid``: its
    valid certificates at the CA; ``secrets``: secret name → already scheduled for deletion (only
    existing key-material secrets are given). An earlier revocation is kept as it was (its reason,
    time and requester stand); what it left undone is finished."""
    valid = tuple(valid)
    delete = tuple(sorted(n for n, pending in secrets.items() if not pending))
    if record is not None and record.state == "revoked" and record.revocation is not None:
        return RevokePlan(None, record.revocation, tuple(c.identifier for c in valid), delete)
    revocation = Revocation(
        reason=reason, reason_code=REASON_CODES[reason], revoked_at=iso_utc(now), requested_by=requested_by,
        request_id=request_id, signed_by=signed_by, via=via, execution=execution,
        recovery_window_days=recovery_window_days,
        certificates=tuple(RevokedCertificate(identifier=c.identifier, serial=c.serial,
                                              not_after=iso_utc(c.not_after) if c.not_after else None)
                           for c in valid))
    new = _next(record, common_name, listener_key, state="revoked", since=iso_utc(now), revocation=revocation)
    return RevokePlan(new, revocation, tuple(c.identifier for c in valid), delete)


@dataclass(frozen=True, slots=True)
class RestorePlan:
    """What a restore does: ``restore`` (secret names to ``RestoreSecret``), ``reissue`` (issue a
    certificate in place of the revoked one), then ``record`` (state ``active`` + the
    :class:`~shared.policy.records.Restoration`; written last). ``reason`` when nothing is to be done."""

    restore: tuple[str, ...] = ()
    reissue: bool = False
    reason: str = ""


def plan_restore(record: AccessRecord | None, secrets: Mapping[str, bool]) -> RestorePlan:
    """Restore only a revoked holder: ``secrets`` = secret name → pending deletion (existing ones
    only; after the recovery window they are gone and are made anew by the reissue)."""
    if record is None or record.state != "revoked":
        return RestorePlan(reason="not_revoked" if record is None or record.restoration is None else "already_restored")
    return RestorePlan(restore=tuple(sorted(n for n, pending in secrets.items() if pending)), reissue=True)


def restored(record: AccessRecord, restoration: Restoration, now: datetime) -> AccessRecord:
    """``record`` after a restore: ``active`` since ``now`` with ``restoration`` (the revocation kept)."""
    return _next(record, record.common_name, record.listener_key, state="active", since=iso_utc(now),
                 restoration=restoration)


def mark_orphaned(record: AccessRecord | None, common_name: str, listener_key: str,
                  now: datetime) -> AccessRecord | None:
    """The record once ``common_name`` left the input: ``orphaned`` since ``now`` (``None``: already
    orphaned, or revoked — nothing to write)."""
    if access_state(record) != "active":
        return None
    return _next(record, common_name, listener_key, state="orphaned", since=iso_utc(now))


def mark_active(record: AccessRecord | None, now: datetime) -> AccessRecord | None:
    """The record of an orphaned holder that is back in the input: ``active`` again (``None``
    otherwise). A revoked holder comes back only through a restore."""
    if record is None or record.state != "orphaned":
        return None
    return _next(record, record.common_name, record.listener_key, state="active", since=iso_utc(now))


@dataclass(frozen=True, slots=True)
class ReconcilePlan:
    """What a provisioning run's ``ReconcileClients`` does on one listener, planned once (the step
    ``shared.steps.offboarding.reconcile`` acts on it; ``albmtls plan`` shows it):

    * ``orphaned``: holders with a valid certificate that are not in the input and not revoked;
    * ``revoke``: the holders whose valid certificates it revokes (reason ``cessation``) — the
      orphans when the input says ``prune``, and any revocation a crash left unfinished;
    * ``marks``: the ``…/access`` records it writes (orphans marked ``orphaned`` when not pruning,
      holders back in the input made ``active`` again); ``readmitted`` names the latter."""

    orphaned: tuple[str, ...]
    revoke: tuple[str, ...]
    marks: Mapping[str, AccessRecord]
    readmitted: tuple[str, ...]

    @property
    def writes(self) -> bool:
        """True when the reconciliation would write anything."""
        return bool(self.revoke or self.marks)


def plan_reconcile(by_cn: Mapping[str, Holder], input_cns: Iterable[str],
                   records: Mapping[str, AccessRecord | None], now: datetime, *, listener_key: str,
                   prune: bool) -> ReconcilePlan:
    """The :class:`ReconcilePlan` of a listener from the private CA's holders (``by_cn``), the
    input's common names and the holders' access records."""
    cns = list(input_cns)
    unfinished = {cn for cn, h in by_cn.items() if access_state(records.get(cn)) == "revoked" and h.valid(now)}
    orphaned = orphans(by_cn, cns, records, now)
    marks: dict[str, AccessRecord] = {}
    readmitted: list[str] = []
    for cn in cns:
        rec = mark_active(records.get(cn), now)
        if rec is not None:
            marks[cn] = rec
            readmitted.append(cn)
    if not prune:
        for cn in orphaned:
            rec = mark_orphaned(records.get(cn), cn, listener_key, now)
            if rec is not None:
                marks[cn] = rec
    revoke = sorted(unfinished | (set(orphaned) if prune else set()))
    return ReconcilePlan(orphaned=tuple(orphaned), revoke=tuple(revoke), marks=marks, readmitted=tuple(readmitted))


def refusal_deadline(revoked_at: datetime) -> datetime:
    """When a listener is assumed to refuse a certificate revoked at ``revoked_at`` (:data:`LISTENER_REFUSAL_BOUND`)."""
    return revoked_at + LISTENER_REFUSAL_BOUND

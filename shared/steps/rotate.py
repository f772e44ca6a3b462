"""The rotate flow's per-certificate step (FC ``albmtls-renew-client-cert``; it mostly renews), two modes:

* ``renew`` — replace a due certificate: same CN, SANs, profile, days and sub-CA as its meta, a new
  key (``issue_for_client(force=True, previous=<old identifier>)``: the PFX, password and meta
  secrets get new versions named by the new serial), then mark the old one **superseded** with the
  time it may be retired: a new version of the CN's ``…/meta`` (``VersionId`` ``<new serial>-s<old
  serial>``) that carries a ``supersedes`` list. No key material in flow state or results.
* ``retire`` — retire a replaced certificate, only when its replacement is stored and valid, it
  is not the CN's current certificate, and its holder switched to the replacement (first download
  or secret read, ``…/delivery``) or its grace period is over (or ``revoke_old: immediately`` was
  asked) — whichever comes first. Retiring revokes (``CreateRevokeClientCertificate``) when a
  revocation is asked; by default the certificate is only recorded retired in its delivery record
  (no more reminders; ``status`` shows ``retired``) and expires naturally.

A holder that left the listener's input (``orphaned``) or was revoked is never renewed (``skipped``:
its ``…/access`` record says so). A revocation that runs while a renewal issues a certificate ends
with that certificate revoked too (``shared.steps.offboarding.enforce_revocation``).

Every write is idempotent: a re-run of the same execution finds the certificate it issued
(``reused``), the marker already stored, the certificate already revoked — zero writes.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import Meta

from shared.adapters import kms as kms_api
from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, Code
from shared.policy import renewal
from shared.policy.contracts import ClientCertificateResult, ClientSpec, ExecutionName, SecretPrefix
from shared.policy.ids import SecretNames, secret_names
from shared.policy.offboarding import access_state
from shared.policy.records import CertMeta, SupersededEntry, encode_meta
from shared.policy.rotation import RevokeOld, RotateItem, retire_due, revoke_asked
from shared.steps.issuance import StoredTarget, observe_client, read_meta
from shared.steps.issuers import describe_issued, issuer_for_identifier
from shared.steps.offboarding import enforce_revocation, read_access

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext

__all__ = ["STEP", "RotatePolicy", "RotateEvent", "RotateResult", "run", "renew", "retire", "quota_share"]

STEP = "renew_client_cert"


class RotatePolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The rotate execution's ``policy`` (see ``shared.steps.rotation.ScanPolicy``)."""

    secret_prefix: SecretPrefix = "albmtls"
    revoke_old: RevokeOld = "never"
    revoke_after_days: Annotated[int, Meta(ge=0, le=3650)] | None = None


class RotateEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``{"mode": "renew"|"retire", "item": RotateItem, "policy": RotatePolicy, "execution_name"}``."""

    mode: Literal["renew", "retire"]
    item: RotateItem
    policy: RotatePolicy = msgspec.field(default_factory=RotatePolicy)
    execution_name: ExecutionName | None = None


class RotateResult(msgspec.Struct, kw_only=True, omit_defaults=False):
    """One certificate's outcome. ``action``: ``renewed`` / ``already_renewed`` / ``not_due`` /
    ``retired`` / ``kept`` / ``skipped``; ``certificate``: the replacement (secret names and the
    new version ids — ``pfx_version`` is the version of both the PFX and the password secret);
    ``retire_after`` and ``revoke``: what happens to the old one."""

    mode: str
    action: str
    status: str = "ok"
    reason: str = ""
    writes: int = 0
    common_name: str = ""
    listener_key: str = ""
    old_identifier: str = ""
    old_serial: str = ""
    certificate: ClientCertificateResult | None = None
    retire_after: str | None = None
    revoke: bool | None = None
    revoked: bool = False
    item: RotateItem | None = None


def _retire_after(policy: RotatePolicy, old_not_after: datetime, now: datetime) -> tuple[datetime, bool]:
    if policy.revoke_old == "immediately":
        return now, True
    if policy.revoke_old == "after_grace":
        return min(old_not_after, now + timedelta(days=policy.revoke_after_days or 0)), True
    return old_not_after, False


def _mark_superseded(ctx: StepContext, names: SecretNames, meta: CertMeta, old: RotateItem, old_not_after: datetime,
                     policy: RotatePolicy, now: datetime) -> tuple[SupersededEntry, int]:
    """Add ``old`` to the ``supersedes`` list of the current record ``meta`` (a new version of the
    ``…/meta`` secret); 0 writes when it is already there. Entries of certificates that have ended
    are dropped."""
    found = meta.superseded(old.identifier)
    if found is not None:
        return found, 0
    retire_at, revoke = _retire_after(policy, old_not_after, now)
    entry = SupersededEntry(identifier=old.identifier, serial=old.serial, not_after=iso_utc(old_not_after),
                            superseded_at=iso_utc(now), superseded_by=meta.serial, retire_after=iso_utc(retire_at),
                            revoke=revoke)
    version = f"{meta.serial}-s{old.serial}"[:64]
    writes = ctx.adapter(kms_api.Kms).store_version(names.meta, encode_meta(meta.with_superseded(entry, now)), version,
                                   data_type="text", description=f"alb-mtls metadata of {names.pfx} (no secrets)")
    return entry, writes


def renew(event: RotateEvent, ctx: StepContext, *, due: bool = False) -> RotateResult:
    """Mode ``renew`` (module doc). The CN's record is read once (with the secrets' versions and the
    PCA certificate it names) and handed to the issuance. Raises ``AlbMtlsError``
    (``SECRET_NOT_FOUND`` when the CN has no record, ``CA_EXPIRES_TOO_SOON`` when the sub-CA cannot
    hold a full lifetime — refused before any write, issuance errors) or ``TransientError``."""
    from shared.steps.issuance import issue_for_client
    item, policy = event.item, event.policy
    out = RotateResult(mode="renew", action="renewed", common_name=item.common_name, listener_key=item.listener_key,
                       old_identifier=item.identifier, old_serial=item.serial, item=item)
    names = secret_names(policy.secret_prefix, item.listener_key, item.common_name)
    held = held_now(ctx, names)
    if held != "active":
        # orphaned (left the listener's input) or revoked: never renewed (shared.steps.offboarding)
        out.action, out.reason = "skipped", held
        ctx.logger.info("client certificate not renewed", extra={
            "common_name": item.common_name, "listener_key": item.listener_key, "reason": held})
        return out
    try:
        current = observe_client(ctx, names)
    except AlbMtlsError:
        if held_now(ctx, names) == "revoked":      # revoked meanwhile: its secrets are pending deletion
            out.action, out.reason = "skipped", "revoked_during_renewal"
            return out
        raise
    meta = current.meta
    if meta is None:
        raise AlbMtlsError(Code.SECRET_NOT_FOUND, f"client {item.common_name!r} on {item.listener_key}: no metadata "
                           f"secret {names.meta!r}; it was not issued by this automation with secret_prefix "
                           f"{policy.secret_prefix!r} — provision it again", field="item")
    now = ctx.clock.now()
    if meta.identifier == item.identifier and not due:    # due: renewed whatever its age (revoke --rekey)
        try:
            st = renewal.state(meta.times(), now)
        except AlbMtlsError:
            st = "due"
        if st == "valid":
            out.action, out.reason = "not_due", "valid"
            return out
    client = ClientSpec(common_name=item.common_name, sans=tuple(meta.sans), days=meta.days, profile=meta.profile,
                        renew_before_days=meta.renew_before_days)
    target = StoredTarget(listener_key=item.listener_key, ca_identifier=meta.ca, secret_prefix=policy.secret_prefix)
    try:
        issued = issue_for_client(ctx, target, client, force=True, previous=item.identifier, current=current)
    except AlbMtlsError:
        # revoked while this renewal ran (its secrets are then pending deletion): finish the revocation
        w = enforce_revocation(ctx, item.listener_key, item.common_name, policy.secret_prefix)
        if w or held_now(ctx, names) == "revoked":
            out.action, out.reason, out.writes = "skipped", "revoked_during_renewal", w
            return out
        raise
    w = enforce_revocation(ctx, item.listener_key, item.common_name, policy.secret_prefix)
    if w:   # the revocation ran meanwhile: the new certificate is revoked too
        out.action, out.reason, out.writes = "skipped", "revoked_during_renewal", issued.writes + w
        return out
    out.writes += issued.writes
    out.certificate = issued.result
    out.reason = issued.reason
    if issued.result.identifier == item.identifier:   # nothing new (cannot happen with force, kept for safety)
        out.action = "not_due"
        return out
    if issued.result.reused:
        out.action = "already_renewed"
    # the record the secrets now hold: written and read back by the issuance, or the one observed above
    new_meta = issued.meta
    old = describe_issued(ctx, item.identifier, names)
    old_end = old.not_after if old is not None and old.not_after else parse_iso(item.not_after or meta.not_before)
    entry, w = _mark_superseded(ctx, names, new_meta, item, old_end, policy, now)
    out.writes += w
    out.retire_after, out.revoke = entry.retire_after, entry.revoke
    ctx.logger.info("client certificate renewed", extra={
        "common_name": item.common_name, "listener_key": item.listener_key, "old_identifier": item.identifier,
        "identifier": issued.result.identifier, "serial": issued.result.serial, "not_after": issued.result.not_after,
        "retire_after": entry.retire_after, "revoke": entry.revoke, "writes": out.writes})
    return out


def held_now(ctx: StepContext, names: SecretNames) -> str:
    """The holder's access state (``…/access``) as it reads now."""
    return access_state(read_access(ctx, names.access))


def retire(event: RotateEvent, ctx: StepContext) -> RotateResult:
    """Mode ``retire`` (module doc): revoke ``item`` when that is safe and due; else keep it.
    Never revokes the CN's current certificate, nor one whose replacement is not stored, issued
    and valid. Source: KMS ``GetSecretValue``; PCA ``DescribeClientCertificate``,
    ``CreateRevokeClientCertificate``."""
    item, policy = event.item, event.policy
    out = RotateResult(mode="retire", action="kept", common_name=item.common_name, listener_key=item.listener_key,
                       old_identifier=item.identifier, old_serial=item.serial, item=item)
    names = secret_names(policy.secret_prefix, item.listener_key, item.common_name)
    meta = read_meta(ctx, names.meta)
    now = ctx.clock.now()
    if meta is None:
        out.reason = "no_metadata"
        return out
    if meta.identifier == item.identifier:
        out.reason = "current_certificate"          # the only valid certificate of the CN
        return out
    pfx_v = ctx.adapter(kms_api.Kms).get_secret_value(names.pfx, stage=kms_api.CURRENT)
    pw_v = ctx.adapter(kms_api.Kms).get_secret_value(names.password, stage=kms_api.CURRENT)
    current = describe_issued(ctx, meta.identifier, names)
    if pfx_v is None or pw_v is None or pfx_v.version_id != meta.serial or pw_v.version_id != meta.serial or \
            current is None or current.status != "ISSUE" or current.not_after is None or current.not_after <= now:
        out.reason = "replacement_not_ready"
        return out
    entry = meta.superseded(item.identifier)
    if entry is not None:
        out.retire_after, out.revoke = entry.retire_after, entry.revoke
    from shared.policy.delivery import switched_at
    from shared.steps.deliver import mark_retired, read_record
    record = read_record(ctx, names)
    switched = switched_at(record, meta.serial)
    if not retire_due(entry, now, policy.revoke_old, policy.revoke_after_days,
                      replaced_at=parse_iso(meta.not_before), switched_at=switched):
        out.reason = "grace_period" if (entry is not None and entry.revoke) or policy.revoke_old != "never" \
            else ("waiting_for_holder" if record is not None and record.holder is not None else "expires_naturally")
        return out
    if not revoke_asked(entry, policy.revoke_old):
        # the holder switched and no revocation is asked: recorded retired, it expires naturally
        w = mark_retired(ctx, names, item.serial, now)
        out.writes += w
        out.action, out.reason = "retired", "holder_switched"
        if w:
            ctx.logger.info("replaced client certificate retired (holder switched; expires naturally)", extra={
                "common_name": item.common_name, "listener_key": item.listener_key, "serial": item.serial,
                "replacement": meta.identifier, "switched_at": iso_utc(switched) if switched else None})
        return out
    old = describe_issued(ctx, item.identifier, names)
    if old is None:
        out.action, out.reason = "skipped", "certificate_missing"
        return out
    if old.status == "REVOKE":
        out.action, out.reason, out.revoked = "retired", "already_revoked", True
        return out
    wrote = issuer_for_identifier(ctx, item.identifier, policy.secret_prefix).revoke_client_certificate(
        item.identifier)
    out.writes += int(wrote)
    out.writes += mark_retired(ctx, names, item.serial, now) if record is not None else 0
    out.action, out.reason, out.revoked = "retired", "revoked", True
    ctx.logger.info("replaced client certificate revoked", extra={
        "common_name": item.common_name, "listener_key": item.listener_key, "identifier": item.identifier,
        "serial": item.serial, "replacement": meta.identifier, "writes": out.writes})
    return out


def quota_share(ctx: StepContext) -> Any:
    """``ctx`` with its own PCA limiter at ``pca_qps × ROTATE_QPS_MARGIN / ROTATE_MAP_CONCURRENCY``.

    The rotate flow runs up to ``ROTATE_MAP_CONCURRENCY`` items at once, each in its own FC instance
    whose process-wide limiter knows nothing of the others: each invocation keeps to its share, so
    all of them together stay under the quota. The limiter starts empty (its first PCA call waits
    one interval), so an invocation that follows another in the same Map slot does not burst."""
    import dataclasses

    from shared.adapters.retry import RateLimiter
    from shared.steps.rotation import ROTATE_MAP_CONCURRENCY, ROTATE_QPS_MARGIN
    if not dataclasses.is_dataclass(ctx) or not hasattr(ctx, "own_limiters"):
        return ctx
    qps = (getattr(ctx.settings, "pca_qps", None) or 10.0) * ROTATE_QPS_MARGIN / ROTATE_MAP_CONCURRENCY
    lim = RateLimiter(qps, name="pca-rotate-share")
    lim.acquire()        # take the initial token: no burst at the start of an invocation
    return dataclasses.replace(ctx, own_limiters={**ctx.own_limiters, "pca": lim})


def run(event: RotateEvent, ctx: StepContext) -> RotateResult:
    """The ``albmtls-renew-client-cert`` step: ``renew`` or ``retire`` per ``event.mode``. An item
    whose ``action`` differs from the mode (a ``retire`` item in the renew Task) is ``skipped``.
    PCA calls keep to this invocation's share of the quota (:func:`quota_share`)."""
    ctx = quota_share(ctx)
    if event.mode == "renew":
        if event.item.action != "renew":
            return RotateResult(mode="renew", action="skipped", reason="retire_item",
                                common_name=event.item.common_name, listener_key=event.item.listener_key,
                                old_identifier=event.item.identifier, old_serial=event.item.serial, item=event.item)
        return renew(event, ctx)
    return retire(event, ctx)

"""One certificate renewed in the calling invocation, outside the issuing lane: ``albmtls revoke
--rekey`` (``shared.steps.ownca_rekey``) gives every other holder of an own CA a replacement from its
new generation. An own CA signs through KMS (``AsymmetricSign``), not the PCA, so this spends
nothing of the PCA budget the lane holds (``shared.policy.lane``); the daily rotation renews in the
lane (``shared.steps.rotate``).

:func:`renew` — replace the certificate ``item`` names: same CN, SANs, profile, days and CA as its
record, a new key (``issue_for_client(force=True, previous=<old identifier>)``: the PFX, password
and record get new versions named by the new serial), then mark the old one **superseded** (a new
version of the record, ``<new serial>-s<old serial>``, with its ``supersedes`` entry). A holder that
left the listener's input or was revoked is never renewed (``skipped``); a revocation that runs
while the renewal issues ends with that certificate revoked too
(``shared.steps.offboarding.enforce_revocation``). Idempotent: a re-run finds the certificate it
issued (``already_renewed``) and the marker already stored — zero writes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

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
from shared.policy.rotation import RevokeOld, RotateItem
from shared.steps.issuance import StoredTarget, observe_client
from shared.steps.issuers import describe_issued
from shared.steps.offboarding import enforce_revocation, read_access
from shared.steps.rotate import retire_after

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from shared.steps.context import StepContext

__all__ = ["RotatePolicy", "RotateEvent", "RotateResult", "renew", "held_now"]


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


def _mark_superseded(ctx: StepContext, names: SecretNames, meta: CertMeta, old: RotateItem, old_not_after: datetime,
                     policy: RotatePolicy, now: datetime) -> tuple[SupersededEntry, int]:
    """Add ``old`` to the ``supersedes`` list of the current record ``meta`` (a new version of the
    ``…/meta`` secret); 0 writes when it is already there. Entries of certificates that have ended
    are dropped."""
    found = meta.superseded(old.identifier)
    if found is not None:
        return found, 0
    retire_at, revoke = retire_after(policy.revoke_old, policy.revoke_after_days, old_not_after, now)
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

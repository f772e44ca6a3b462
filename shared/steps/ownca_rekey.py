"""``albmtls revoke --rekey``: make a revocation under an own CA take effect at the listener by a
mechanism ALB documents — the CA it trusts (docs/DECISIONS.md, README "Your own CA").

ALB documents no reading of an uploaded CA's CRL, so a certificate an own CA revoked may still be
accepted by listeners that trust its sub-CA. After the revocation itself (the revoke flow: the
revocation list, the CRL signed through KMS, the secrets scheduled for deletion):

1. :func:`shared.steps.ownca.rekey` — a new generation (new root and issuing sub-CA keys in KMS, the
   cross certificate, its upload to the CAS repository); it issues from now on.
2. every other holder of the CA, on every listener, gets a replacement issued by the new generation
   and stored as the new version of its PFX (``shared.steps.renew_one.renew``: the revoked holders are
   skipped, their records say so), delivered exactly as a renewal is (:func:`_deliver_replacements`:
   a person's one-time download link, a system's webhook; docs/DELIVERY.md);
3. :func:`shared.steps.ownca_switch.switch` — listeners trust the new generation once every holder has
   switched to it (downloaded or read its replacement, or was handed it, or its grace ended:
   ``shared.policy.ownca.switch_due``) — at a later run when they have not yet: ``albmtls ca switch``
   or the daily rotation (:func:`switch_pending_cas`); ``at_once`` (``--now``): now, whatever the
   holders hold;
4. each listener of the CA is pointed at the new upload (:func:`point_listeners`:
   ``shared.steps.listener.run`` with the listener's desired state, ``CaCertificates`` changes,
   nothing else), so a certificate of the old generation — the revoked one among them — is refused
   in the handshake. ``albmtls ca switch`` runs steps 3-4 alone.

Each part is idempotent (a re-run for the same generation writes nothing more), so a failure is
finished by running the command again.
"""
from __future__ import annotations

import dataclasses
import time
from typing import TYPE_CHECKING, Any

import msgspec

from shared.adapters.kms import Kms
from shared.core.clock import iso_utc
from shared.core.errors import Code, InvalidInputError, TransientError
from shared.policy.contracts import ClientCertificateResult, StepEvent
from shared.policy.desired import desired_input
from shared.policy.ids import parse_custom_identifier
from shared.policy.rotation import RotateItem
from shared.steps import ownca as steps
from shared.steps.desired import read_desired
from shared.steps.ownca_switch import switch

if TYPE_CHECKING:  # pragma: no cover
    from shared.policy.contracts import ProvisionInput
    from shared.steps.context import StepContext

__all__ = ["RekeyOutcome", "own_ca_of_listener", "point_listeners", "rekey_after_revoke", "LISTENER_ATTEMPTS",
           "PendingSwitch", "switch_pending_cas"]

#: calls of the listener step per listener while it reports ``pending`` (each waits inside itself)
LISTENER_ATTEMPTS = 20


class RekeyOutcome(msgspec.Struct, kw_only=True):
    """What ``revoke --rekey`` did after the revocation."""

    ca: str
    generation: int
    renewed: list[ClientCertificateResult] = []
    #: ``<listener key>/<cn>`` of each certificate in ``renewed``, in the same order
    renewed_on: list[str] = []
    #: each replacement delivered as a renewal is (``shared.steps.deliver.ClientDelivery``)
    deliveries: list[dict[str, Any]] = []
    skipped: list[str] = []
    switched: bool = False
    waiting: list[str] = []
    listeners: list[str] = []
    alb_ca_certificate_id: str | None = None
    writes: int = 0


def own_ca_of_listener(ctx: StepContext, prefix: str, listener_key: str) -> tuple[str, ProvisionInput]:
    """(the own CA's name, the listener's desired input); ``INVALID_INPUT`` when the listener's CA is
    not an own CA (a private CA's revocation is enforced by the listener itself) or it has no
    recorded desired state."""
    rec = read_desired(ctx.adapter(Kms), prefix, listener_key)
    if rec is None:
        raise InvalidInputError("listener", f"listener {listener_key} has no recorded desired state under secret "
                                f"prefix {prefix!r}: provision it first")
    inp = desired_input(rec)
    if not inp.ca_id.is_own or inp.ca_id.own_name is None:
        raise InvalidInputError("rekey", f"--rekey is for an own CA; listener {listener_key} trusts the private CA "
                                f"{inp.ca_identifier}, which the listener itself enforces revocations of")
    return inp.ca_id.own_name, inp


def _renew_others(ctx: StepContext, prefix: str, name: str, out: RekeyOutcome) -> None:
    from shared.policy.ids import secret_names
    from shared.steps.issuance import read_meta
    from shared.steps.issuers import iter_own
    from shared.steps.renew_one import RotateEvent, RotatePolicy, renew

    now = ctx.clock.now()
    seen: set[tuple[str, str]] = set()
    for c in iter_own(ctx, prefix):
        lk = parse_custom_identifier(c.custom_identifier)
        cn = c.common_name or ""
        ref = c.parent_identifier or ""
        if lk is None or not cn or not ref.startswith(f"own/{name}/") or (lk, cn) in seen:
            continue
        if c.status != "ISSUE" or c.not_after is None or c.not_after <= now:
            continue
        meta = read_meta(ctx, secret_names(prefix, lk, cn).meta)
        if meta is None or meta.identifier != c.identifier:
            continue                                    # not the holder's current certificate
        seen.add((lk, cn))
        item = RotateItem(action="renew", listener_key=lk, common_name=cn, identifier=c.identifier, serial=c.serial,
                          not_after=iso_utc(c.not_after))
        if meta.ca == f"own/{name}/g{out.generation}":
            continue                                    # already on the new generation (a re-run)
        res = renew(RotateEvent(mode="renew", item=item, policy=RotatePolicy(secret_prefix=prefix)), ctx, due=True)
        out.writes += res.writes
        if res.certificate is not None and res.action in ("renewed", "already_renewed"):
            out.renewed.append(res.certificate)
            out.renewed_on.append(f"{lk}/{cn}")
        else:
            out.skipped.append(f"{lk}/{cn}: {res.reason or res.action}")


def _deliver_replacements(ctx: StepContext, prefix: str, out: RekeyOutcome) -> None:
    """Each replacement reaches its holder exactly as a renewal does (``shared.steps.deliver``): a
    person gets a one-time download link, a system's webhook is told; a client without a holder stays
    on the operator's path. A failing channel never fails the rekey (the delivery record and ``status``
    show it); a replacement already delivered is not sent again (a re-run)."""
    from shared.policy.ids import secret_names
    from shared.steps.deliver import deliver_client, load_config

    cfg = None
    for key in out.renewed_on:
        lk, cn = key.split("/", 1)
        if cfg is None:
            cfg = load_config(ctx, prefix)
        got, writes = deliver_client(ctx, cfg, secret_names(prefix, lk, cn), lk, cn, None, update_holder=False)
        out.writes += writes
        if got.action != "no_holder":
            out.deliveries.append(msgspec.to_builtins(got))


def _point_listener(ctx: StepContext, inp: ProvisionInput) -> int:
    """The listener step on ``inp`` until it is settled (its CA is the own CA's trusted upload)."""
    from shared.steps import listener

    attempt = 0
    while True:
        res = listener.run(StepEvent(input=inp, attempt=attempt), ctx)
        if res.status != "pending":
            return res.writes
        attempt = res.attempt
        if attempt >= LISTENER_ATTEMPTS:
            raise TransientError(Code.CLOUD_BUSY, f"listener {inp.listener_key} did not settle on the new sub-CA "
                                 f"after {attempt} attempts ({res.waiting_for}); run the command again")
        time.sleep(1.0)


def point_listeners(ctx: StepContext, prefix: str, name: str) -> tuple[list[str], int]:
    """Step 4 of the module doc: each listener whose recorded desired state names the own CA ``name``
    re-applied (the listener step: its ``CaCertificates`` become the CA's trusted upload, nothing
    else changes). (their keys, the writes); zero writes for a listener that trusts it already. Pass
    a fresh context after the CA's record changed (the issuer it memoises reads the record once)."""
    from shared.steps.desired import list_desired

    kms = ctx.adapter(Kms)
    keys: list[str] = []
    writes = 0
    for lk in sorted(set(list_desired(kms, prefix))):
        rec = read_desired(kms, prefix, lk)
        if rec is None:
            continue
        inp = desired_input(rec)
        if inp.ca_id.is_own and inp.ca_id.own_name == name:
            keys.append(lk)
            writes += _point_listener(ctx, inp)
    return keys, writes


def rekey_after_revoke(ctx: StepContext, prefix: str, listener_key: str, *, at_once: bool = False) -> RekeyOutcome:
    """Steps 1-4 of the module doc for the own CA of ``listener_key``."""
    name, _ = own_ca_of_listener(ctx, prefix, listener_key)
    before = steps.view(ctx, prefix, name)
    view = before
    if before.issuing_gen == before.trusted_gen:
        # a new generation only while listeners still trust one a live revoked certificate chains to
        # (a re-run after the switch finds none: nothing to do); one made already is kept (a re-run)
        revs, now = steps.issuer(ctx, prefix, name).revocations(), ctx.clock.now()
        if any(revs.live(g, now) for g in range(before.trusted_gen, before.issuing_gen + 1)):
            view = steps.rekey(ctx, prefix, name, from_gen=before.trusted_gen, at_once=False)
    out = RekeyOutcome(ca=name, generation=view.issuing_gen, writes=view.writes)
    # a fresh context after each change of the CA's record: the issuer it memoises reads the record once
    ctx = dataclasses.replace(ctx)
    _renew_others(ctx, prefix, name, out)
    _deliver_replacements(ctx, prefix, out)
    sw = switch(ctx, prefix, name, at_once=at_once)
    out.writes += sw.writes
    out.switched, out.waiting = sw.switched or sw.trusted_gen == view.issuing_gen, sw.waiting
    keys = set(sw.listeners) | {listener_key}
    if out.switched:
        ctx = dataclasses.replace(ctx)
        moved, writes = point_listeners(ctx, prefix, name)
        keys.update(moved)
        out.writes += writes
        out.alb_ca_certificate_id = steps.view(ctx, prefix, name).alb_ca_certificate_id
    out.listeners = sorted(keys)
    ctx.logger.info("own CA rekeyed after a revocation", extra={
        "ca": name, "generation": out.generation, "renewed": len(out.renewed), "switched": out.switched,
        "listeners": out.listeners, "writes": out.writes})
    return out


class PendingSwitch(msgspec.Struct, kw_only=True):
    """One own CA :func:`switch_pending_cas` looked at: switched now (and its listeners moved), or who
    it still waits for."""

    ca: str
    switched: bool
    waiting: list[str] = []
    listeners: list[str] = []
    writes: int = 0


def switch_pending_cas(ctx: StepContext, prefix: str) -> list[PendingSwitch]:
    """The daily rotation's part of a rekey: every own CA under ``prefix`` whose listeners still trust
    an older generation is switched once its holders have (:func:`shared.steps.ownca_switch.switch`), and its
    listeners are moved (:func:`point_listeners`). One ``ListSecrets`` and a record read per CA when
    nothing is pending; idempotent."""
    from shared.adapters.ownca import list_ca_names, read_record

    kms = ctx.adapter(Kms)
    out: list[PendingSwitch] = []
    for name in list_ca_names(kms, prefix):
        found = read_record(kms, prefix, name)
        if found is None or not found[0].complete or not found[0].switch_pending:
            continue
        sw = switch(ctx, prefix, name)
        item = PendingSwitch(ca=name, switched=sw.switched, waiting=sw.waiting, writes=sw.writes)
        if sw.switched:
            moved, writes = point_listeners(dataclasses.replace(ctx), prefix, name)
            item.listeners, item.writes = moved, item.writes + writes
        ctx.logger.info("own CA switch checked", extra={"ca": name, "switched": item.switched,
                                                        "waiting": len(item.waiting), "listeners": item.listeners,
                                                        "writes": item.writes})
        out.append(item)
    return out


def as_dict(o: RekeyOutcome) -> dict[str, Any]:
    doc: dict[str, Any] = msgspec.to_builtins(o)
    return doc

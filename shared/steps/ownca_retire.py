"""Retiring an old generation of an own CA (``albmtls ca retire``), and what ``albmtls ca status``
shows of every generation: the listeners that trust it and its keys' state.

After ``revoke --rekey`` and the switch, the old generation's root and sub-CA keys would stay in KMS
for ever (each key version billed daily, docs/COSTS.md). :func:`retire_generation`:

1. **gather** (reads only): the CA's record; the listeners that trust the generation — the ALB
   listener (``GetListenerAttribute``) of every listener whose recorded desired state names the CA,
   holding the generation's upload in ``CaCertificates`` (:func:`listeners_by_generation`); the
   holders whose current certificate (their ``…/meta``) is of that generation, neither ended nor
   revoked (:func:`holders_by_generation`);
2. **checks**: ``shared.policy.ownca.RETIRE_CHECKS`` (stable code ``CA_IN_USE`` naming the listeners
   or the holders; nothing written);
3. **act**, each part idempotent: a last CRL of the generation, signed while its key still can, valid
   until the generation's end (so it stays published — ``GET /crl/…/g<n>.crl`` — until then); the
   upload deleted from the CAS repository; both keys ``ScheduleKeyDeletion`` with
   ``PendingWindowInDays`` = ``shared.policy.ownca.KEY_DELETION_DAYS`` (``CancelKeyDeletion`` undoes
   it until then; KMS refuses ``AsymmetricSign`` on them from now on); the record marks it retired;
4. **read back**: both keys ``PendingDeletion`` (``DescribeKey``).

A retired generation is skipped: a second run writes nothing.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from shared.adapters.alb import Alb
from shared.adapters.cas import CasRepository
from shared.adapters.kms import Kms
from shared.adapters.kmskeys import KmsKeys
from shared.adapters.ownca import current_certificates, read_record
from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, Code
from shared.policy import ownca
from shared.policy.desired import desired_input
from shared.steps.desired import list_desired, read_desired

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext
    from shared.steps.ownca import OwnCaView

__all__ = ["RetireOutcome", "listeners_by_generation", "holders_by_generation", "retire_generation", "detail"]


class RetireOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`retire_generation` did: the generation, whether it was retired before
    (``already``), the keys scheduled and their deletion date, the upload deleted, the last CRL's
    end, the writes."""

    name: str
    generation: int
    already: bool = False
    keys: list[str] = []
    delete_date: str | None = None
    upload_deleted: str | None = None
    crl_valid_until: str | None = None
    retired_at: str | None = None
    writes: int = 0


def _listeners_of(ctx: StepContext, prefix: str, name: str) -> list[tuple[str, str, int]]:
    """(listener key, ALB id, port) of every recorded desired state naming own CA ``name``."""
    kms = ctx.adapter(Kms)
    out = []
    for lk in sorted(set(list_desired(kms, prefix))):
        rec = read_desired(kms, prefix, lk, strict=False)
        if rec is None:
            continue
        inp = desired_input(rec)
        if inp.ca_id.is_own and inp.ca_id.own_name == name:
            out.append((lk, inp.load_balancer_id, inp.listener_port))
    return out


def listeners_by_generation(ctx: StepContext, prefix: str, rec: ownca.OwnCaRecord) -> dict[int, list[str]]:
    """Generation → the listener keys whose ALB listener trusts its upload (``CaCertificates``), read
    from the cloud for every listener whose desired state names the CA. Reads only."""
    uploads = {g.uploaded: g.gen for g in rec.generations if g.uploaded}
    out: dict[int, list[str]] = {}
    alb = ctx.adapter(Alb)
    for lk, lb, port in _listeners_of(ctx, prefix, rec.name):
        found = alb.find_listener_on_port(lb, port)
        if found is None:
            continue
        for cid in alb.get_listener(found.id).ca_certificate_ids:
            if cid in uploads:
                out.setdefault(uploads[cid], []).append(lk)
    return out


def holders_by_generation(ctx: StepContext, prefix: str, rec: ownca.OwnCaRecord) -> dict[int, list[str]]:
    """Generation → ``<listener key>/<cn>`` whose current certificate is of it, not ended and not
    revoked (the ``…/meta`` records and the CA's revocation list). Reads only."""
    from shared.steps.ownca import issuer

    revoked = issuer(ctx, prefix, rec.name).revocations()
    now = ctx.clock.now()
    out: dict[int, list[str]] = {}
    for c in current_certificates(ctx.adapter(Kms), prefix, rec.name):
        if c.gen is None or parse_iso(c.not_after) <= now or revoked.find(c.serial) is not None:
            continue
        out.setdefault(c.gen, []).append(f"{c.listener_key}/{c.common_name}")
    return {g: sorted(v) for g, v in out.items()}


def retire_generation(ctx: StepContext, prefix: str, name: str, gen: int) -> RetireOutcome:
    """Retire generation ``gen`` of own CA ``name`` (module doc). ``CA_NOT_FOUND`` without the CA;
    ``INVALID_INPUT`` for a generation it does not have; ``CA_IN_USE`` while it issues, is trusted or
    is held — each before any write."""
    from shared.steps.ownca import issuer, write_record

    found = read_record(ctx.adapter(Kms), prefix, name)
    if found is None:
        raise AlbMtlsError(Code.CA_NOT_FOUND, f"no own CA {name!r} under secret prefix {prefix!r}", field="name")
    rec, version = found
    g = rec.generation(gen)
    if g is not None and g.retired_at:
        return RetireOutcome(name=name, generation=gen, already=True, retired_at=g.retired_at,
                             keys=[g.root_key.key_id, g.issuing_key.key_id])
    obs = ownca.RetireObservation(rec=rec, gen=gen)
    ownca.RETIRE_CHECKS.enforce(obs)          # the record alone first: no cloud read for a refused one
    obs = ownca.RetireObservation(rec=rec, gen=gen,
                                  trusting=tuple(listeners_by_generation(ctx, prefix, rec).get(gen, [])),
                                  holders=tuple(holders_by_generation(ctx, prefix, rec).get(gen, [])))
    ownca.RETIRE_CHECKS.enforce(obs)
    assert g is not None
    writes = issuer(ctx, prefix, name).publish_crl(gen, final=True)
    deleted = None
    if g.uploaded:
        w = ctx.adapter(CasRepository).delete_uploaded_ca(g.uploaded)
        writes += w
        deleted = g.uploaded if w else None
    keys = ctx.adapter(KmsKeys)
    for key in (g.root_key, g.issuing_key):
        writes += keys.schedule_key_deletion(key.key_id, ownca.KEY_DELETION_DAYS)
    states = [keys.describe_key(k.key_id) for k in (g.root_key, g.issuing_key)]
    if any(s is None or s.state != "PendingDeletion" for s in states):
        raise AlbMtlsError(Code.DRIFT_AFTER_APPLY, f"the keys of generation {gen} of own CA {name!r} do not read back "
                           f"as PendingDeletion (DescribeKey: {[s.state if s else None for s in states]}); run again")
    stamp = iso_utc(ctx.clock.now())
    write_record(ctx, prefix, rec.with_generation(msgspec.structs.replace(g, retired_at=stamp)), version)
    writes += 1
    ctx.logger.info("own CA generation retired", extra={"ca": name, "generation": gen, "writes": writes,
                                                        "root_key": g.root_key.key_id,
                                                        "issuing_key": g.issuing_key.key_id})
    return RetireOutcome(name=name, generation=gen, keys=[g.root_key.key_id, g.issuing_key.key_id],
                         delete_date=next((s.delete_date for s in states if s and s.delete_date), None),
                         upload_deleted=deleted, crl_valid_until=g.issuing_not_after, retired_at=stamp,
                         writes=writes)


def detail(ctx: StepContext, prefix: str, view: OwnCaView) -> OwnCaView:
    """``view`` with, per generation, the listeners that trust it (read from ALB), the holders whose
    current certificate is of it, and its keys' state (``DescribeKey``). Reads only."""
    found = read_record(ctx.adapter(Kms), prefix, view.name)
    if found is None:
        return view
    rec = found[0]
    listeners = listeners_by_generation(ctx, prefix, rec)
    holders = holders_by_generation(ctx, prefix, rec)
    keys = ctx.adapter(KmsKeys)
    gens = []
    for gv in view.generations:
        info = keys.describe_key(gv.root_key_id)
        gens.append(msgspec.structs.replace(gv, listeners=listeners.get(gv.gen, []),
                                            holders=len(holders.get(gv.gen, [])),
                                            key_state=info.state if info else "gone",
                                            keys_delete_date=info.delete_date if info else None))
    return msgspec.structs.replace(view, generations=gens)

"""An own CA's switch: its listeners trust the issuing generation once every holder switched to it
(``shared.policy.ownca.switch_due``; the listeners follow through
``shared.steps.ownca_rekey.point_listeners``). :func:`holders` gathers (reads only), :func:`switch`
decides and writes the CA's record — zero writes while holders wait.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from shared.adapters.kms import Kms
from shared.adapters.ownca import read_record
from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, Code
from shared.policy import ownca
from shared.steps.ownca import issuer, write_record

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext

__all__ = ["SwitchOutcome", "Holders", "holders", "switch"]


class SwitchOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """What :func:`switch` found and did: holders with a valid certificate of the CA, those on the
    issuing generation, those that switched (``shared.policy.ownca.holder_switched``), ``waiting``
    (``<listener key>/<cn>: why``), and whether listeners now trust it."""

    switched: bool
    holders: int
    on_issuing: int
    switched_holders: int = 0
    waiting: list[str] = []
    trusted_gen: int
    listeners: list[str] = []
    writes: int = 0


class Holders(msgspec.Struct, frozen=True, kw_only=True):
    """The holders of an own CA as its switch sees them (:func:`holders`)."""

    states: list[ownca.HolderSwitch] = []
    listeners: list[str] = []
    now: str

    @property
    def total(self) -> int:
        return len(self.states)

    @property
    def on_issuing(self) -> int:
        return sum(1 for h in self.states if h.on_issuing)

    @property
    def switched(self) -> int:
        now = parse_iso(self.now)
        return sum(1 for h in self.states if ownca.holder_switched(h, now))

    @property
    def waiting(self) -> list[str]:
        now = parse_iso(self.now)
        return [f"{h.key}: {why}" for h in self.states if (why := ownca.waiting_reason(h, now)) is not None]

    def as_dict(self) -> dict[str, Any]:
        return {"total": self.total, "on_issuing_generation": self.on_issuing, "switched": self.switched,
                "waiting": self.waiting}


def holders(ctx: StepContext, prefix: str, rec: ownca.OwnCaRecord) -> Holders:
    """Every holder whose current certificate (its ``…/meta``) is of this CA, neither ended nor revoked,
    and who is still active on the listener (not revoked, not orphaned: ``…/access``): on the issuing
    generation or not, and whether it took that certificate into use (``…/delivery``: downloaded or
    read). Reads only."""
    from shared.adapters.ownca import current_certificates
    from shared.policy.delivery import switched_at
    from shared.policy.ids import secret_names
    from shared.steps.deliver import read_record as read_delivery
    from shared.steps.offboarding import read_access

    revoked = issuer(ctx, prefix, rec.name).revocations()
    now = ctx.clock.now()
    states: list[ownca.HolderSwitch] = []
    listeners: set[str] = set()
    for c in current_certificates(ctx.adapter(Kms), prefix, rec.name):
        if parse_iso(c.not_after) <= now or revoked.find(c.serial) is not None:
            continue
        names = secret_names(prefix, c.listener_key, c.common_name)
        access = read_access(ctx, names.access)
        if access is not None and access.state != "active":
            continue
        listeners.add(c.listener_key)
        delivery = read_delivery(ctx, names)
        kind = delivery.holder.kind if delivery is not None and delivery.holder is not None else None
        took = switched_at(delivery, c.serial)
        states.append(ownca.HolderSwitch(key=f"{c.listener_key}/{c.common_name}", on_issuing=c.gen == rec.issuing_gen,
                                         holder_kind=kind, switched_at=iso_utc(took) if took else None,
                                         issued_at=c.not_before))
    return Holders(states=sorted(states, key=lambda h: h.key), listeners=sorted(listeners), now=iso_utc(now))


def switch(ctx: StepContext, prefix: str, name: str, *, at_once: bool = False) -> SwitchOutcome:
    """Listeners trust the issuing generation from now on, when every holder switched to a certificate
    of it (``shared.policy.ownca.switch_due``: downloaded or read, handed over, or its grace ended) —
    or ``at_once``. Only the record changes here; the listeners follow through
    ``shared.steps.ownca_rekey.point_listeners`` (``albmtls ca switch``, ``revoke --rekey --now`` and the
    daily rotation run it after this). Zero writes when nothing is pending or holders still wait."""
    kms = ctx.adapter(Kms)
    found = read_record(kms, prefix, name)
    if found is None or not found[0].complete:
        raise AlbMtlsError(Code.CA_NOT_FOUND, f"no complete own CA {name!r} under {prefix!r}", field="name")
    rec, version = found
    h = holders(ctx, prefix, rec)
    out = SwitchOutcome(switched=False, trusted_gen=rec.trusted_gen, holders=h.total, on_issuing=h.on_issuing,
                        switched_holders=h.switched, waiting=h.waiting, listeners=h.listeners)
    if not ownca.switch_due(rec, h.states, now=ctx.clock.now(), at_once=at_once):
        return out
    rec = msgspec.structs.replace(rec, trusted_gen=rec.issuing_gen, switch_requested_at=None)
    write_record(ctx, prefix, rec, version)
    ctx.logger.info("own CA switched", extra={"ca": name, "trusted_generation": rec.trusted_gen,
                                              "holders": h.total, "at_once": at_once})
    return msgspec.structs.replace(out, switched=True, trusted_gen=rec.trusted_gen, writes=1)

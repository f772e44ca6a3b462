"""The rotation scan's one ActionTrail query: a system holder's first read of its new secrets.

While the scan classifies the replaced certificates, :class:`WaitingForReads` collects the
``system`` holders that have not switched yet (no read recorded, old certificate not retired, not
due for retirement anyway). After the scan's pass, :meth:`WaitingForReads.observe` makes **one**
bounded query for the run (not one per holder) — ``LookupEvents`` with ``EventName`` =
``GetSecretValue`` from the oldest pending renewal to now, at most
``shared.policy.reads.MAX_PAGES`` pages of ``PAGE_SIZE`` — decides with the pure
``shared.policy.reads.first_reads`` which event is each holder's first read, and records it once in
the client's delivery record (``first_read_at``/``first_read_by``: the record a person's download
goes to, ``shared.policy.delivery``). A recorded read is a switch: the scan then classifies the
old certificate again and, when it is to be retired, hands it to the rotate flow now.

A failing ActionTrail (or STS) read never fails the scan: the run's warnings say so (kind
``actiontrail``), the function log too, and retirement falls back to the grace end.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError
from shared.policy.delivery import Delivery, stamp, switched_at
from shared.policy.ids import secret_names
from shared.policy.reads import (
    MAX_PAGES,
    PAGE_SIZE,
    FirstRead,
    Pending,
    Principal,
    caller_principal,
    first_reads,
    parse_event,
    query_window,
)

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from shared.policy.delivery import DeliveryRecord
    from shared.policy.records import CertMeta
    from shared.steps.context import StepContext

__all__ = ["WaitingForReads", "ReadsOutcome", "MAX_WAITING", "mark_read"]

#: holders one run looks for (beyond, the next runs take them): bounds memory and the match
MAX_WAITING = 1000


@dataclass
class ReadsOutcome:
    """What the query gave: the reads recorded now, the events read, whether there were more than
    one run reads (``truncated``), and the warning when it failed."""

    reads: list[FirstRead] = field(default_factory=list)
    events: int = 0
    pages: int = 0
    truncated: bool = False
    writes: int = 0
    warning: dict[str, Any] | None = None


def mark_read(ctx: StepContext, prefix: str, read: FirstRead) -> int:
    """Record ``read`` as the first read of its certificate in the client's delivery record; 0
    writes when a read (or a download) is already recorded or there is no record."""
    from shared.steps.deliver import read_record, store_record
    names = secret_names(prefix, read.listener_key, read.common_name)
    rec = read_record(ctx, names)
    if rec is None:
        return 0
    d = rec.entry(read.serial) or Delivery(serial=read.serial, identifier="", not_after="")
    if d.first_read_at:
        return 0
    rec = rec.with_entry(msgspec.structs.replace(d, first_read_at=stamp(read.at), first_read_by=read.by[:128]))
    return store_record(ctx, names, rec, f"read-{read.serial}")


class WaitingForReads:
    """The system holders of one scan waiting for their first read (module doc)."""

    def __init__(self, ctx: StepContext, prefix: str) -> None:
        self.ctx, self.prefix = ctx, prefix
        self.items: list[tuple[Pending, Any, CertMeta]] = []

    def consider(self, classification: Any, cert: Any, meta: CertMeta, listener_key: str,
                 rec: DeliveryRecord | None) -> None:
        """Keep ``cert`` (a replaced certificate) when its system holder has not switched and it is
        not to be retired anyway."""
        if rec is None or rec.holder is None or rec.holder.kind != "system" or len(self.items) >= MAX_WAITING:
            return
        if classification.state != "superseded" or classification.retire or switched_at(rec, meta.serial):
            return
        entry = meta.superseded(cert.identifier)
        since = parse_iso(entry.superseded_at) if entry is not None else parse_iso(meta.not_before)
        names = secret_names(self.prefix, listener_key, cert.common_name)
        self.items.append((Pending(listener_key=listener_key, common_name=cert.common_name, serial=meta.serial,
                                   pfx=names.pfx, password=names.password, since=since,
                                   ram_principal=rec.holder.ram_principal), cert, meta))

    def _own(self) -> Principal | None:
        """This automation's own principal (STS ``GetCallerIdentity``), for holders naming none."""
        from shared.adapters.sts import Sts
        return caller_principal(self.ctx.adapter(Sts).caller_identity().arn)

    def observe(self, now: datetime) -> ReadsOutcome:
        """The run's one query, the decision and the records (module doc). Never raises for the
        cloud: a failure is the outcome's ``warning``."""
        from shared.adapters.actiontrail import ActionTrail
        out = ReadsOutcome()
        pending = [p for p, _, _ in self.items]
        window = query_window(pending, now)
        if window is None:
            return out
        events = []
        try:
            own = self._own() if any(not p.ram_principal for p in pending) else None
            for page in self.ctx.adapter(ActionTrail).iter_events(
                    start=window[0], end=window[1], attributes=(("EventName", "GetSecretValue"),),
                    page_size=PAGE_SIZE, max_pages=MAX_PAGES):
                out.pages += 1
                out.events += len(page.events)
                events += [e for e in map(parse_event, page.events) if e is not None]
                out.truncated = page.next_token is not None
            out.reads = first_reads(pending, events, own)
            for r in out.reads:
                out.writes += mark_read(self.ctx, self.prefix, r)
        except AlbMtlsError as exc:
            out.warning = {"kind": "actiontrail", "level": "warning", "code": exc.code,
                           "message": f"the system holders' secret reads could not be read from ActionTrail "
                                      f"({exc.message}); their old certificates retire at their grace end"}
            self.ctx.logger.warning("system holder reads not observed", extra={
                "code": exc.code, "waiting": len(pending), "reads": len(out.reads)})
            return out
        if out.truncated:
            out.warning = {"kind": "actiontrail", "level": "warning", "code": "TRUNCATED",
                           "message": f"more GetSecretValue events since {iso_utc(window[0])} than one run reads "
                                      f"({MAX_PAGES * PAGE_SIZE}): only the newest were matched"}
        for r in out.reads:
            self.ctx.logger.info("system holder read its new certificate", extra={
                "common_name": r.common_name, "listener_key": r.listener_key, "serial": r.serial,
                "read_at": iso_utc(r.at), "read_by": r.by})
        return out

    def switched(self, out: ReadsOutcome) -> list[tuple[Any, CertMeta, str, datetime]]:
        """The waiting certificates whose holder read the new one: ``(cert, meta, listener key,
        read time)`` for the scan to classify again."""
        got = {(r.listener_key, r.common_name, r.serial): r.at for r in out.reads}
        return [(cert, meta, p.listener_key, got[(p.listener_key, p.common_name, p.serial)])
                for p, cert, meta in self.items if (p.listener_key, p.common_name, p.serial) in got]

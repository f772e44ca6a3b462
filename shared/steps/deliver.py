"""Delivering certificates to their holders and telling operators (FC ``albmtls-deliver``; docs/DELIVERY.md).

Modes of :func:`run` (``DeliverEvent.mode``):

* ``provision`` — the provision flow's last step: for every client with a ``holder``, the current
  certificate is delivered once — a person gets an email with a one-time download link, a system's
  webhook is told (secret names and version ids, never a value); the holder is kept in the
  client's delivery record (``shared.policy.delivery``).
* ``renewed`` — a replacement (the rotation order in the issuing lane delivers each renewal itself
  through :func:`deliver_client`; the mode stays for a single item).
* ``failed`` — the issuing lane's ``Catch`` for a rotation order (and the order itself for its
  domain failures): the operators are told the rotation failed (code and
  message of the failure: ids only).

Also used by the rotation scan (:func:`follow_up`: a reminder the day before the old certificate
ends, the operators' "holder has not switched" warning, sub-CA and server certificate warnings)
and by ``albmtls resend`` (:func:`resend`).

A failing channel never fails the step: each failure is logged (``notification failed``, channel
and code, never the URL) and kept in the delivery record, where ``albmtls status`` shows it. The
step is idempotent: a certificate whose link was sent (or whose system was told) is not delivered
again; a re-run writes nothing.

One module (~550 lines): the step's modes, ``resend`` and the scan's follow-ups share one sending
path and one delivery record, read together.
"""
from __future__ import annotations

import hashlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from shared.adapters import kms as kms_api
from shared.core.clock import parse_iso
from shared.core.errors import AlbMtlsError, Code
from shared.core.wait import Deadline
from shared.policy.contracts import ExecutionName, ProvisionInput
from shared.policy.delivery import (
    LINK_TTL,
    Delivery,
    DeliveryRecord,
    Failure,
    HolderRecord,
    decode_record,
    encode_record,
    new_token,
    not_switched_due,
    reminder_due,
    stamp,
    token_hash,
    version_id,
    with_new_link,
)
from shared.policy.ids import SecretNames, secret_names
from shared.policy.notify import (
    Notice,
    NoticeKind,
    NotifyConfig,
    SmtpChannel,
    channels_for,
    check_clean,
    decode_config,
)
from shared.policy.rotation import RotateItem

if TYPE_CHECKING:  # pragma: no cover
    from shared.policy.records import CertMeta
    from shared.steps.context import StepContext

__all__ = ["STEP", "DeliverEvent", "DeliverResult", "ClientDelivery", "config_secret", "load_config", "read_record",
           "run", "deliver_client", "holder_listeners", "resend", "notify_revoked", "follow_up", "notify_operators"]

STEP = "deliver"
CHANNEL_BUDGET_S = 10.0      # one channel's retries (backoff with jitter) never take more than this
DELIVER_WORKERS = 16         # clients delivered at once (their KMS reads and notices)
DELIVERIES_MAX = 50          # deliveries listed in the result (the rest counted; each is in its record)


def config_secret(prefix: str) -> str:
    """The KMS secret holding the notification configuration (``shared.policy.notify.NotifyConfig``)."""
    return f"{prefix}/notify/config"


class DeliverFailure(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    code: str
    detail: str = ""


class DeliverEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``{"mode": "provision", "input", "execution_name"}`` (provision flow),
    ``{"mode": "renewed", "item", "policy", "execution_name"}`` (one replacement),
    ``{"mode": "failed", "failure": {code, detail}, "execution_name", "order_kind"}`` (the issuing
    lane's Catch: told for a ``rotate`` order; a ``provision`` order's run reports its own failure)."""

    mode: Literal["provision", "renewed", "failed"]
    input: ProvisionInput | None = None
    item: RotateItem | None = None
    policy: dict[str, Any] = {}
    failure: DeliverFailure | None = None
    execution_name: ExecutionName | None = None
    attempt: int = 0
    order_kind: str | None = None


class ClientDelivery(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One client's delivery: ``action`` ``link_sent`` / ``notified`` / ``already_sent`` /
    ``not_delivered`` / ``no_holder``; ``to`` (the email, or the channels), failures by channel."""

    common_name: str
    listener_key: str
    serial: str = ""
    holder: str | None = None
    holder_kind: str | None = None
    action: str = "no_holder"
    to: str | None = None
    channels: list[str] = []
    failures: list[dict[str, str]] = []
    link_expires: str | None = None


class DeliverResult(msgspec.Struct, kw_only=True):
    """``deliveries``: what was sent to each holder — the first :data:`DELIVERIES_MAX` clients that
    have one (clients without a holder are only counted): the step's result is the flow's state,
    at most 64 KiB however many clients the listener has; ``counts``: every client by action."""

    status: str = "ok"
    writes: int = 0
    deliveries: list[ClientDelivery] = []
    counts: dict[str, int] = {}
    notified: list[str] = []
    failures: list[dict[str, str]] = []


# ---------------------------------------------------------------------------------------------
# configuration, records
# ---------------------------------------------------------------------------------------------
@dataclass
class _Config:
    cfg: NotifyConfig | None
    problem: str | None = None


def load_config(ctx: StepContext, prefix: str | None = None) -> _Config:
    """The notification configuration (KMS ``<prefix>/notify/config``); when absent or invalid,
    ``cfg`` is ``None`` and ``problem`` says why (nothing is sent; the records say so)."""
    name = config_secret(prefix or ctx.settings.secret_prefix)
    try:
        raw = ctx.adapter(kms_api.Kms).get_secret_value(name, stage=kms_api.CURRENT)
    except AlbMtlsError as exc:
        return _Config(None, f"the notification configuration {name!r} could not be read: {exc.code}")
    if raw is None:
        return _Config(None, f"no notification configuration: store one in the KMS secret {name!r} "
                       "(`albmtls channels set -f FILE`)")
    try:
        return _Config(decode_config(raw.data))
    except AlbMtlsError as exc:
        return _Config(None, exc.message)


def read_record(ctx: StepContext, names: SecretNames) -> DeliveryRecord | None:
    raw = ctx.adapter(kms_api.Kms).get_secret_value(names.delivery, stage=kms_api.CURRENT)
    return decode_record(raw.data) if raw is not None else None


def store_record(ctx: StepContext, names: SecretNames, record: DeliveryRecord, event: str, *,
                 new: bool | None = None) -> int:
    """A new ``ACSCurrent`` version of the record (0 writes when this content is stored already).
    ``new``: whether the caller just read no record (``True``) or one (``False``) — then one write
    without the existence check (``Kms.write_version``: a version of this content already there
    is a re-run, 0 writes); ``None``: observe first (``Kms.store_version``)."""
    kms = ctx.adapter(kms_api.Kms)
    tags = {"albmtls:listener": record.listener_key, "albmtls:cn": record.common_name}
    desc = f"alb-mtls delivery record of {names.pfx} (holder, link hashes, downloads; no secrets)"
    if new is not None:
        return int(kms.write_version(names.delivery, encode_record(record), version_id(record, event), new=new,
                                     data_type="text", tags=tags, description=desc))
    return kms.store_version(names.delivery, encode_record(record), version_id(record, event), data_type="text",
                             tags=tags, description=desc)


def _read_meta(ctx: StepContext, names: SecretNames) -> CertMeta | None:
    from shared.steps.issuance import read_meta
    return read_meta(ctx, names.meta)


# ---------------------------------------------------------------------------------------------
# sending
# ---------------------------------------------------------------------------------------------
def _msg_id(*parts: str) -> str:
    return "msg_" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:24]


def _send_all(ctx: StepContext, cfg: NotifyConfig, n: Notice, *, email_to: list[str] | None = None,
              webhook: str | None = None,
              only: Literal["email", "chat"] | None = None) -> tuple[list[str], list[Failure]]:
    """Send ``n`` to every channel of its audience (``only`` the email or the chat/webhook ones);
    returns (channels that took it, failures)."""
    from shared.adapters import notify as sender
    check_clean(n.title + "\n" + n.text + "\n" + str(n.facts))
    sent: list[str] = []
    failed: list[Failure] = []
    now = stamp(ctx.clock.now())
    for ch in channels_for(cfg, n.audience, webhook=webhook):
        if (only == "email" and not isinstance(ch, SmtpChannel)) or (only == "chat" and isinstance(ch, SmtpChannel)):
            continue
        if isinstance(ch, SmtpChannel):
            to = email_to if email_to is not None else list(ch.operators)
            if not to:
                continue
        else:
            to = None
            if n.link is not None:        # the link goes by email to the person only
                n = msgspec.structs.replace(n, link=None)
        budget = Deadline(min(CHANNEL_BUDGET_S, max(1.0, ctx.deadline.remaining() - 1.0)))
        try:
            sender.send(ch, n, budget, to=to, now_ms=lambda: int(ctx.clock.now().timestamp() * 1000))
            sent.append(ch.name)
            ctx.logger.info("notification sent", extra={"channel": ch.name, "channel_type": type(ch).__name__,
                                                        "kind": n.kind, "message_id": n.id})
        except AlbMtlsError as exc:
            failed.append(Failure(at=now, channel=ch.name, kind=n.kind, code=str(exc.details.get("answer") or exc.code),
                                  message=exc.message[:200]))
            ctx.logger.warning("notification failed", extra={"channel": ch.name, "kind": n.kind,
                                                              "error": exc.to_dict(), "message_id": n.id})
    if webhook and not channels_for(cfg, n.audience, webhook=webhook):
        failed.append(Failure(at=now, channel=webhook, kind=n.kind, code="CHANNEL_NOT_CONFIGURED",
                              message=f"the holder's webhook channel {webhook!r} is not configured"))
    return sent, failed


def notify_operators(ctx: StepContext, cfg: NotifyConfig | None, kind: NoticeKind, title: str, text: str,
                     facts: dict[str, Any]) -> tuple[list[str], list[Failure]]:
    """One notice to the operators' channels (never raises for a channel)."""
    if cfg is None:
        return [], []
    n = Notice(kind=kind, audience="operators", title=title, text=text, facts=facts,
               id=_msg_id(kind, title, str(sorted(facts.items()))))
    return _send_all(ctx, cfg, n)


def _mask_email(addr: str) -> str:
    local, _, domain = addr.partition("@")
    return f"{local[:1]}***@{domain}"


def _cert_facts(lk: str, meta: CertMeta, names: SecretNames) -> dict[str, Any]:
    return {"common_name": meta.common_name, "listener_key": lk, "serial": meta.serial,
            "identifier": meta.identifier, "not_before": meta.not_before, "not_after": meta.not_after,
            "fingerprint_sha256": meta.fingerprint_sha256, "pfx_secret": names.pfx,
            "password_secret": names.password, "version_id": meta.serial}


@dataclass
class _Outcome:
    record: DeliveryRecord
    out: ClientDelivery
    failures: list[Failure] = field(default_factory=list)


def _deliver_person(ctx: StepContext, cfg: NotifyConfig, rec: DeliveryRecord, meta: CertMeta, names: SecretNames,
                    *, reminder: bool, old_not_after: str | None = None) -> _Outcome:
    holder = rec.holder
    assert holder is not None and holder.email
    now = ctx.clock.now()
    out = ClientDelivery(common_name=meta.common_name, listener_key=rec.listener_key, serial=meta.serial,
                         holder=holder.name, holder_kind="person", to=_mask_email(holder.email))
    failures: list[Failure] = []
    entry = rec.entry(meta.serial) or Delivery(serial=meta.serial, identifier=meta.identifier, not_after=meta.not_after,
                                               fingerprint_sha256=meta.fingerprint_sha256)
    if not cfg.download_url or cfg.smtp is None:
        missing = "download_url" if not cfg.download_url else "an smtp channel"
        failures.append(Failure(at=stamp(now), channel="-", kind="certificate_ready", code="NOT_CONFIGURED",
                                message=f"the notification configuration has no {missing}"))
        out.action = "not_delivered"
        return _Outcome(rec.with_entry(entry), out, failures)
    ttl = timedelta(hours=cfg.link_ttl_hours) if cfg.link_ttl_hours else LINK_TTL
    base = names.pfx.rsplit("/", 1)[0]
    token = new_token(base)
    expires = now + ttl
    link = f"{cfg.download_url.rstrip('/')}/d/{token}"
    kind: NoticeKind = "reminder" if reminder else "certificate_ready"
    title = (f"Reminder: install your new client certificate for {meta.common_name}" if reminder
             else f"Your new client certificate for {meta.common_name} is ready")
    lines = [f"Hello {holder.name},", "",
             f"a new client certificate ({meta.common_name}, serial {meta.serial[:16]}…) was issued for "
             f"{rec.listener_key}. It is valid until {meta.not_after}.",
             "Open the link below, choose your own password and download the PKCS#12 file (the page says "
             "which format to pick for Windows, macOS or Linux).",
             f"The link works once and until {stamp(expires)}. If it has expired or was used, ask your operator "
             f"for a new one (albmtls resend --cn {meta.common_name})."]
    if reminder and old_not_after:
        lines.insert(2, f"Your current certificate ends {old_not_after}: after that only the new one works.")
    email = Notice(kind=kind, audience="holders", title=title, text="\n".join(lines),
                   facts={"common_name": meta.common_name, "listener_key": rec.listener_key, "serial": meta.serial},
                   to=holder.email, link=link, id=_msg_id(kind, names.delivery, meta.serial, token_hash(token)))
    sent, failed = _send_all(ctx, cfg, email, email_to=[holder.email], only="email")
    failures += failed
    smtp_ok = cfg.smtp.name in sent
    if smtp_ok:
        entry = with_new_link(entry, token_hash(token), stamp(now), stamp(expires))
        if reminder:
            entry = msgspec.structs.replace(entry, reminded_at=stamp(now))
        out.action, out.link_expires = ("reminded" if reminder else "link_sent"), stamp(expires)
    else:
        out.action = "not_delivered"
    del token, link
    # the chat channels for holders: a notice without the link (it went to the person's email)
    chat = Notice(kind=kind, audience="holders", title=title,
                  text=f"{holder.name}: a new client certificate for {meta.common_name} on {rec.listener_key} "
                       f"is ready; the download link was sent to {_mask_email(holder.email)}." if smtp_ok else
                       f"{holder.name}: a new client certificate for {meta.common_name} on {rec.listener_key} is "
                       "ready, but the email with the download link could not be sent; an operator must resend it.",
                  facts={"common_name": meta.common_name, "listener_key": rec.listener_key},
                  mention=holder.dingtalk, id=_msg_id(kind, "chat", names.delivery, meta.serial, stamp(now)))
    chat_sent, chat_failed = _send_all(ctx, cfg, chat, only="chat")
    failures += chat_failed
    out.channels = sent + chat_sent
    return _Outcome(rec.with_entry(entry), out, failures)


def _deliver_system(ctx: StepContext, cfg: NotifyConfig, rec: DeliveryRecord, meta: CertMeta,
                    names: SecretNames) -> _Outcome:
    holder = rec.holder
    assert holder is not None
    now = ctx.clock.now()
    out = ClientDelivery(common_name=meta.common_name, listener_key=rec.listener_key, serial=meta.serial,
                         holder=holder.name, holder_kind="system")
    entry = rec.entry(meta.serial) or Delivery(serial=meta.serial, identifier=meta.identifier, not_after=meta.not_after,
                                               fingerprint_sha256=meta.fingerprint_sha256)
    n = Notice(kind="certificate_ready", audience="systems",
               title=f"New client certificate for {meta.common_name} on {rec.listener_key}",
               text=f"{holder.name}: read the new version {meta.serial} of {names.pfx} and {names.password} "
                    f"(valid until {meta.not_after}).",
               facts=_cert_facts(rec.listener_key, meta, names) | {"holder": holder.name,
                                                                   "ram_principal": holder.ram_principal},
               id=_msg_id("certificate_ready", names.delivery, meta.serial))
    sent, failed = _send_all(ctx, cfg, n, webhook=holder.webhook)
    out.channels = sent
    if sent:
        entry = msgspec.structs.replace(entry, notified_at=stamp(now))
        out.action = "notified"
    else:
        out.action = "not_delivered"
    return _Outcome(rec.with_entry(entry), out, failed)


def deliver_client(ctx: StepContext, cfg: _Config | Future[_Config], names: SecretNames, listener_key: str,
                   common_name: str, holder: HolderRecord | None, *, update_holder: bool,
                   meta: CertMeta | None = None, force: bool = False) -> tuple[ClientDelivery, int]:
    """Deliver ``common_name``'s current certificate to its holder once (``force``: a new link
    even if one was sent). ``update_holder``: the input names the holder (provision); else the
    record's holder is used (rotation). ``cfg``: the notification configuration, or its read
    under way (waited for only when something is sent). The record and the certificate's ``…/meta``
    are read at once; the record is then written in one call. Returns (what happened, writes)."""
    if meta is None:
        with ThreadPoolExecutor(1, thread_name_prefix="deliver-meta") as pool:
            meta_f = pool.submit(_read_meta, ctx, names)
            rec = read_record(ctx, names)
            meta = meta_f.result()
    else:
        rec = read_record(ctx, names)
    before = rec
    if rec is None:
        rec = DeliveryRecord(common_name=common_name, listener_key=listener_key, holder=holder)
    elif update_holder and rec.holder != holder:
        rec = rec.with_holder(holder)
    holder = rec.holder
    if holder is None or meta is None:
        out = ClientDelivery(common_name=common_name, listener_key=listener_key, action="no_holder",
                             serial=meta.serial if meta else "")
        writes = store_record(ctx, names, rec, "holder", new=False) if before is not None and rec != before else 0
        return out, writes
    entry = rec.entry(meta.serial)
    done = entry is not None and (entry.link_sent_at if holder.kind == "person" else entry.notified_at)
    if done and not force:
        out = ClientDelivery(common_name=common_name, listener_key=listener_key, serial=meta.serial,
                             holder=holder.name, holder_kind=holder.kind, action="already_sent",
                             link_expires=entry.token_expires if entry else None)
        writes = store_record(ctx, names, rec, "holder", new=before is None) if rec != before else 0
        return out, writes
    if isinstance(cfg, Future):
        cfg = cfg.result()
    if cfg.cfg is None:
        f = Failure(at=stamp(ctx.clock.now()), channel="-", kind="certificate_ready", code="NOT_CONFIGURED",
                    message=(cfg.problem or "")[:200])
        ctx.logger.warning("notification failed", extra={"channel": "-", "kind": "certificate_ready",
                                                          "error": {"code": "NOT_CONFIGURED", "message": cfg.problem}})
        oc = _Outcome(rec.with_failure(f), ClientDelivery(common_name=common_name, listener_key=listener_key,
                                                          serial=meta.serial, holder=holder.name,
                                                          holder_kind=holder.kind, action="not_delivered"), [f])
    elif holder.kind == "person":
        oc = _deliver_person(ctx, cfg.cfg, rec, meta, names, reminder=False)
    else:
        oc = _deliver_system(ctx, cfg.cfg, rec, meta, names)
    rec = oc.record
    for f in oc.failures:
        rec = rec.with_failure(f)
    oc.out.failures = [{"channel": f.channel, "code": f.code, "message": f.message} for f in oc.failures]
    writes = store_record(ctx, names, rec, f"{oc.out.action}-{meta.serial}", new=before is None)
    return oc.out, writes


# ---------------------------------------------------------------------------------------------
# the step's modes
# ---------------------------------------------------------------------------------------------
def _provision(inp: ProvisionInput, ctx: StepContext) -> DeliverResult:
    """Every client at once (:data:`DELIVER_WORKERS`), the notification configuration read beside
    their records when a holder is named: the step runs after the health check, on the run's
    critical path — one round of reads, the notices, one write per client. Only the clients that name
    a holder are read (the others: ``shared.steps.desired.forget_removed_holders``)."""
    res = DeliverResult()
    with ThreadPoolExecutor(min(DELIVER_WORKERS, len(inp.clients) + 1), thread_name_prefix="deliver") as pool:
        held = [c for c in inp.clients if c.holder is not None]
        cfg: _Config | Future[_Config] = pool.submit(load_config, ctx) if held else _Config(None)

        def one(c: Any) -> tuple[ClientDelivery, int]:
            return deliver_client(ctx, cfg, inp.secrets(c.common_name), inp.listener_key, c.common_name,
                                  HolderRecord.of(c.holder), update_holder=True)

        # a client without a holder has nothing to deliver: RecordDesiredState already made its record
        # say so (shared.steps.desired.forget_removed_holders), beside the run's changes
        res.counts["no_holder"] = len(inp.clients) - len(held)
        if not res.counts["no_holder"]:
            del res.counts["no_holder"]
        for out, w in pool.map(one, held):
            res.counts[out.action] = res.counts.get(out.action, 0) + 1
            if out.action != "no_holder" and len(res.deliveries) < DELIVERIES_MAX:
                res.deliveries.append(out)
            res.writes += w
    return res


def _renewed(item: RotateItem, prefix: str, ctx: StepContext) -> DeliverResult:
    res = DeliverResult()
    names = secret_names(prefix, item.listener_key, item.common_name)
    out, w = deliver_client(ctx, load_config(ctx, prefix), names, item.listener_key, item.common_name, None,
                            update_holder=False)
    res.deliveries.append(out)
    res.writes += w
    return res


def _failed(failure: DeliverFailure | None, execution: str | None, ctx: StepContext) -> DeliverResult:
    res = DeliverResult()
    code = failure.code if failure else "UNKNOWN"
    detail = (failure.detail if failure else "")[:500]
    sent, failed = notify_operators(ctx, load_config(ctx).cfg, "renewal_failed",
                                    f"alb-mtls: certificate rotation failed ({code})",
                                    f"The rotation execution {execution or '?'} failed: {code}: {detail}\n"
                                    "Fix the cause; the next daily scan retries (or run `albmtls rotate`).",
                                    {"execution": execution, "code": code, "detail": detail})
    res.notified = sent
    res.failures = [{"channel": f.channel, "code": f.code, "message": f.message} for f in failed]
    return res


def run(event: DeliverEvent, ctx: StepContext) -> DeliverResult:
    """The ``albmtls-deliver`` step (module doc). Never fails for a channel."""
    if event.mode == "provision":
        if event.input is None:
            raise AlbMtlsError(Code.INVALID_INPUT, "mode provision needs `input`", field="input")
        return _provision(event.input, ctx)
    if event.mode == "renewed":
        if event.item is None:
            raise AlbMtlsError(Code.INVALID_INPUT, "mode renewed needs `item`", field="item")
        prefix = str(event.policy.get("secret_prefix") or ctx.settings.secret_prefix)
        return _renewed(event.item, prefix, ctx)
    if event.order_kind == "provision":
        return DeliverResult()      # a provisioning order: its run fails and reports the code itself
    return _failed(event.failure, event.execution_name, ctx)


# ---------------------------------------------------------------------------------------------
# resend, and the scan's follow-ups
# ---------------------------------------------------------------------------------------------
def holder_listeners(ctx: StepContext, prefix: str, common_name: str) -> list[str]:
    """The listener keys on which ``common_name`` has a delivery record (``ListSecrets``)."""
    tail = f"/{common_name}/delivery"
    out = []
    for name in ctx.adapter(kms_api.Kms).list_secret_names():
        if name.startswith(prefix + "/") and name.endswith(tail):
            middle = name[len(prefix) + 1:-len(tail)]
            if "/" not in middle:
                out.append(middle)
    return sorted(out)


def resend(ctx: StepContext, prefix: str, listener_key: str, common_name: str) -> tuple[ClientDelivery, int]:
    """A new one-time link for the current certificate of ``common_name`` (``albmtls resend``); the
    old link stops working. Raises ``CLIENT_NOT_FOUND`` when the client has no holder on record,
    ``CLIENT_REVOKED`` when its holder was revoked and ``INVALID_INPUT`` when the holder is not a
    person."""
    from shared.steps.offboarding import read_access
    names = secret_names(prefix, listener_key, common_name)
    rec = read_record(ctx, names)
    if rec is None or rec.holder is None:
        raise AlbMtlsError(Code.CLIENT_NOT_FOUND, f"client {common_name!r} on {listener_key} has no holder on record "
                           f"({names.delivery}); name one in the input (clients[].holder) and provision", field="cn")
    access = read_access(ctx, names.access)
    if access is not None and access.state == "revoked":
        raise AlbMtlsError(Code.CLIENT_REVOKED, f"{common_name!r} on {listener_key} was revoked: no link is sent "
                           "(albmtls restore gives the holder access again)", field="cn")
    if rec.holder.kind != "person":
        raise AlbMtlsError(Code.INVALID_INPUT, f"the holder of {common_name!r} is a system: it reads its secrets "
                           "itself (albmtls holder-policy --cn …)", field="cn")
    return deliver_client(ctx, load_config(ctx, prefix), names, listener_key, common_name, None,
                          update_holder=False, force=True)


def notify_revoked(ctx: StepContext, prefix: str, listener_key: str, common_name: str, *, reason: str,
                   requested_by: str, revoked_at: str, serials: list[str], via: str) -> list[str]:
    """Tell the operators a holder was revoked (``albmtls revoke``, or pruned): once, by the
    invocation that recorded the decision (``shared.steps.offboarding``). Returns the channels that
    took it; a failing channel is logged, never raised."""
    cfg = load_config(ctx, prefix).cfg
    what = "revoked" if via == "revoke" else "pruned (left the input) and revoked"
    sent, _ = notify_operators(
        ctx, cfg, "revoked", f"alb-mtls: {common_name} on {listener_key} {what}",
        f"{common_name} on {listener_key} was {what} at {revoked_at} by {requested_by} (reason {reason}); "
        f"certificates revoked: {', '.join(s[:16] + '…' for s in serials) or 'none valid'}. Its PFX and password "
        "secrets are scheduled for deletion (albmtls restore within the recovery window gives access back).",
        {"common_name": common_name, "listener_key": listener_key, "reason": reason, "requested_by": requested_by,
         "revoked_at": revoked_at, "serials": serials, "via": via})
    return sent


def follow_up(ctx: StepContext, cfg: _Config, prefix: str, listener_key: str, common_name: str, meta: CertMeta,
              old_serial: str, old_not_after: datetime, now: datetime) -> dict[str, Any]:
    """For a replaced certificate (the scan): remind a person who has not downloaded the new one
    the day before the old one ends; tell the operators once when a holder has not switched and
    the old one ends within ``not_switched_days``. Returns ``{reminded, warned, switched_at,
    writes}``; never raises for a channel."""
    names = secret_names(prefix, listener_key, common_name)
    rec = read_record(ctx, names)
    out: dict[str, Any] = {"reminded": False, "warned": False, "writes": 0}
    if rec is None or rec.holder is None or cfg.cfg is None:
        return out
    if reminder_due(rec, meta.serial, old_serial, old_not_after, now) and rec.holder.kind == "person":
        oc = _deliver_person(ctx, cfg.cfg, rec, meta, names, reminder=True, old_not_after=stamp(old_not_after))
        rec = oc.record
        for f in oc.failures:
            rec = rec.with_failure(f)
        out["reminded"] = oc.out.action == "reminded"
        out["writes"] += store_record(ctx, names, rec, f"remind-{meta.serial}")
    within = timedelta(days=cfg.cfg.not_switched_days)
    if not_switched_due(rec, meta.serial, old_not_after, now, within):
        holder = rec.holder
        assert holder is not None          # not_switched_due: only for a record with a holder
        sent, failed = notify_operators(
            ctx, cfg.cfg, "not_switched", f"alb-mtls: {holder.name} has not switched to the new certificate of "
            f"{common_name}",
            f"{holder.name} ({holder.kind}) has not {'downloaded' if holder.kind == 'person' else 'read'} the new "
            f"certificate {meta.serial[:16]}… of {common_name} on {listener_key}; the old one ({old_serial[:16]}…) "
            f"ends {stamp(old_not_after)}.",
            {"common_name": common_name, "listener_key": listener_key, "serial": meta.serial,
             "old_serial": old_serial, "old_not_after": stamp(old_not_after), "holder": holder.name})
        entry = rec.entry(meta.serial)
        if entry is not None and sent:
            rec = rec.with_entry(msgspec.structs.replace(entry, operator_warned_at=stamp(now)))
        for f in failed:
            rec = rec.with_failure(f)
        out["warned"] = bool(sent)
        out["writes"] += store_record(ctx, names, rec, f"warn-{meta.serial}")
    return out


def mark_retired(ctx: StepContext, names: SecretNames, old_serial: str, now: datetime) -> int:
    """Record that the replaced certificate ``old_serial`` is retired (no more reminders; ``status``
    shows it). 0 writes when already recorded or there is no record."""
    rec = read_record(ctx, names)
    if rec is None:
        return 0
    old = rec.entry(old_serial)
    if old is not None and old.retired_at:
        return 0
    if old is None:
        meta_old = Delivery(serial=old_serial, identifier="", not_after="", retired_at=stamp(now))
        rec = rec.with_entry(meta_old)
    else:
        rec = rec.with_entry(msgspec.structs.replace(old, retired_at=stamp(now)))
    return store_record(ctx, names, rec, f"retired-{old_serial}")


def parse_time(value: str | None) -> datetime | None:
    return parse_iso(value) if value else None

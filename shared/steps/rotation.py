"""Client certificate rotation: starting the daily rotation, and the certificate report (docs/ROTATION.md).

* :func:`start_rotation` (the ``rotation_scan`` function, FC ``albmtls-rotation-scan``, daily
  timer): validate the policy and place the day's rotation order in the issuing lane — one
  ``albmtls-issue`` execution named ``rotate-<prefix>-<yyyymmdd>``, so a second firing the same day
  starts nothing new; then switch every own CA whose holders have all switched after a rekey and
  move its listeners (``shared.steps.ownca_rekey.switch_pending_cas``; KMS and ALB, no PCA call).
  The lane's head scans, renews and retires (``shared.steps.rotate``): every PCA call of the
  rotation is made there, under the account's one PCA budget (``shared.policy.lane``); this
  function makes none.
* :func:`start_scan` / :func:`certificate_report` — the same start, and the report, for the HTTP
  API and the CLI.

Time comes from the invocation's clock (``ctx.clock``; ``shared.core.clock.clock_from_env`` for
:func:`start_scan` / :func:`certificate_report`): on the local cloud the FC invoker gives every
function the cloud's time, so ``albmtls rotate --now`` moves them all.
"""
from __future__ import annotations

import dataclasses
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, invalid_input
from shared.policy.ids import secret_names
from shared.policy.orders import RotateOrder
from shared.policy.rotation import (
    RevokeOld,
    RotateItem,
    ScanEvent,
    ScanPolicy,
    classify,
    retire_due,
    rotation_execution_name,
    shown_state,
)
from shared.steps.issuance import read_meta

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator

    from shared.steps.context import StepContext

__all__ = [
    "SERVER_CERT_WARN_DAYS", "ScanPolicy", "ScanEvent", "RotateItem", "RevokeOld", "classify", "retire_due",
    "RotationStarted", "start_rotation", "rotation_execution_name", "start_scan", "certificate_report",
    "make_context", "listener_view", "iter_listed",
]

SERVER_CERT_WARN_DAYS = 30
MAX_WARNED_LISTENERS = 100          # listeners whose CA and server certificate the report shows


class RotationStarted(msgspec.Struct, kw_only=True):
    """``rotation_scan`` result: the day's rotation order (``order``), whether this call started it
    (``started``; False: it already ran or runs today), the clock's ``now`` and the policy in force."""

    status: str = "ok"
    now: str = ""
    order: str = ""
    started: bool = False
    policy: dict[str, Any] = {}
    #: own CAs whose listeners wait for a rekey's switch: switched now (their listeners moved), or
    #: who they wait for (``shared.steps.ownca_rekey.switch_pending_cas``); a failure never stops
    #: the rotation (its code is here and in the log)
    own_ca_switches: list[dict[str, Any]] = []


class _MetaCache:
    """The CNs' records read during a scan or a report, in a bounded LRU: the ``…/meta`` record
    (``kind="meta"``) or the holder's ``…/access`` record (``kind="access"``)."""

    def __init__(self, ctx: StepContext, prefix: str, size: int = 4096, kind: str = "meta") -> None:
        self.ctx, self.prefix, self.size, self.kind = ctx, prefix, size, kind
        self.items: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.reads = 0

    def get(self, listener_key: str, cn: str) -> Any:
        key = (listener_key, cn)
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        self.reads += 1
        names = secret_names(self.prefix, listener_key, cn)
        if self.kind == "access":
            from shared.steps.offboarding import read_access
            value: Any = read_access(self.ctx, names.access)
        else:
            value = read_meta(self.ctx, names.meta)
        self.items[key] = value
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return value


def start_rotation(event: ScanEvent, ctx: StepContext) -> RotationStarted:
    """The ``rotation_scan`` step (module doc). Raises ``AlbMtlsError`` (``INVALID_INPUT`` naming the
    policy field; cloud errors). Source action: fnf ``StartExecution``."""
    from shared.steps.lane_client import place

    policy = event.policy()
    now = ctx.clock.now()
    name = rotation_execution_name(policy.secret_prefix, now)
    started = place(ctx, name, RotateOrder(policy=policy))
    ctx.logger.info("rotation order placed", extra={"order": name, "started": started})
    out = RotationStarted(now=iso_utc(now), order=name, started=started, policy=msgspec.to_builtins(policy))
    from shared.steps.ownca_rekey import switch_pending_cas
    try:                  # after the order is placed: a rekey's switch never delays the rotation
        out.own_ca_switches = [msgspec.to_builtins(s) for s in switch_pending_cas(ctx, policy.secret_prefix)]
    except AlbMtlsError as exc:
        if exc.retryable:
            raise
        ctx.logger.warning("own CA switch failed", extra={"error": exc.to_dict()})
        out.own_ca_switches = [{"error": exc.to_dict()}]
    return out


def _split_listener(listener_key: str) -> tuple[str, int] | None:
    lb, _, port = listener_key.rpartition("-")
    return (lb, int(port)) if lb.startswith("alb-") and port.isdigit() else None


def listener_view(ctx: StepContext, listener_key: str, *, with_ca: bool = True) -> dict[str, Any]:
    """The listener's CA and server certificate ends: ``{listener_key, listener_id, ca_certificate_ids,
    server_certificate_id, server_certificate_not_after, ca_not_after}`` (``None`` where unknown;
    ``ca_not_after`` only ``with_ca`` — the rotation has its CA's facts already). Read-only:
    ``ListListeners``, ``GetListenerAttribute``, ``GetUserCertificateDetail``, ``DescribeCACertificate``."""
    from shared.adapters import alb as alb_api
    from shared.adapters import cas as cas_api
    from shared.policy.ids import CertificateId
    out: dict[str, Any] = {"listener_key": listener_key, "listener_id": None, "ca_certificate_ids": [],
                           "ca_not_after": None, "server_certificate_id": None, "server_certificate_not_after": None}
    parts = _split_listener(listener_key)
    if parts is None:
        return out
    try:
        lst = ctx.adapter(alb_api.Alb).find_listener_on_port(parts[0], parts[1])
    except AlbMtlsError:
        return out
    if lst is None:
        return out
    out["listener_id"] = lst.id
    out["ca_certificate_ids"] = list(lst.ca_certificate_ids)
    for ca in lst.ca_certificate_ids[:1] if with_ca else ():
        ca_not_after = _pca_not_after(ctx, ca) or _uploaded_not_after(ctx, ca)
        if ca_not_after is not None:
            out["ca_not_after"] = iso_utc(ca_not_after)
    for cid in lst.certificate_ids[:1]:
        out["server_certificate_id"] = cid
        try:
            cas_id = CertificateId.parse(cid).cas_id
            if cas_id is None:
                continue
            cert = ctx.adapter(cas_api.Cas).get_certificate(cas_id)
        except (AlbMtlsError, ValueError):
            continue
        out["server_certificate_not_after"] = iso_utc(cert.not_after) if cert.not_after else None
    return out


def _pca_not_after(ctx: StepContext, ca: str) -> datetime | None:
    """The end of the private CA's sub-CA the listener names (in the form ALB takes), ``None`` when it
    is not one (an own CA's upload) or cannot be read."""
    from shared.adapters import pca as pca_api
    try:
        api = ctx.adapter(pca_api.Pca)
        ident = api.resolve_ca(ca, want_cert_identifier=False).identifier
        return api.describe_ca_certificate(ident).not_after
    except AlbMtlsError:
        return None


def _uploaded_not_after(ctx: StepContext, ca: str) -> datetime | None:
    """An own CA's listener trusts its upload to the CAS repository, ``[sub-CA, root]``: the sub-CA's
    end (``DescribeWarehouseCert``); ``None`` when it is no upload or cannot be read."""
    from cryptography import x509

    from shared.adapters import cas as cas_api
    try:
        up = ctx.adapter(cas_api.CasRepository).describe_uploaded_ca(ca)
        if up is None or not up.content:
            return None
        return x509.load_pem_x509_certificate(up.content.encode()).not_valid_after_utc
    except (AlbMtlsError, ValueError):
        return None


def iter_listed(ctx: StepContext, *, prefix: str | None = None) -> Iterator[Any]:
    """Every ``ListClientCertificate`` item, one page in memory; with ``prefix``, then every
    certificate the own CAs under it issued (``shared.steps.issuers.iter_own``)."""
    from shared.steps.issuers import iter_issued
    yield from iter_issued(ctx, prefix)


# ---------------------------------------------------------------------------------------------
# entry points for the HTTP API and the CLI
# ---------------------------------------------------------------------------------------------
def make_context(settings: Any, step: str, *, deadline_s: float = 900.0) -> Any:
    """A :class:`shared.steps.context.StepContext` outside a step function (HTTP API, CLI); its clock
    is ``clock_from_env()``, as a step function's."""
    from shared.core import logs
    from shared.core.clock import clock_from_env
    from shared.core.wait import Deadline
    from shared.steps.context import StepContext
    return StepContext(step=step, settings=settings, clock=clock_from_env(), logger=logs.get_logger(step),
                       deadline=Deadline(deadline_s), request_id=f"local-{uuid.uuid4().hex}")


def start_scan(settings: Any, payload: dict[str, Any]) -> dict[str, Any]:
    """Place today's rotation order now with ``payload`` (the timer payload fields) and return the
    ``rotation_scan`` result dict (``{"status": "failed", "error": …}`` for a refused configuration)."""
    from shared.policy.validation import decode
    ctx = make_context(settings, "rotation_scan")
    try:
        ev = decode(ScanEvent, payload or {})
        doc: dict[str, Any] = msgspec.to_builtins(start_rotation(ev, ctx))
        return doc
    except AlbMtlsError as exc:
        return {"status": "failed", "error": exc.to_dict()}


def certificate_report(settings: Any, *, secret_prefix: str | None = None) -> dict[str, Any]:
    """Every client certificate (this automation's first) with ``common_name``, ``serial``,
    ``identifier``, ``listener_key``, ``not_after``, ``days_left``, ``state`` (``valid``, ``due``,
    ``superseded``, ``orphaned``, ``revoked``, ``expired``, ``not_yet_valid``: a valid one whose
    ``not_before`` is still ahead; ``foreign`` ones are listed as ``ours:
    false``), ``fingerprint_sha256``/``fingerprint_sha1`` (the latter in the form of the listener's
    fingerprint header), ``retire_after`` for superseded ones, ``orphaned_since``, ``revocation`` (reason, when,
    who, request id: the holder's ``…/access`` record); ``pending_deletion``: the revoked holders'
    secrets KMS is to delete; and per listener its CA and server certificate ends. Read-only; its
    PCA calls keep to what the issuing lane leaves while an order works
    (``shared.steps.lane_client.reader_context``)."""
    from shared.steps.lane_client import reader_context

    prefix = secret_prefix or getattr(settings, "secret_prefix", None) or "albmtls"
    # the operator's read: out of the issuing lane's way (the lane's share while an order works)
    ctx = reader_context(make_context(settings, "certificate_report"))
    now = ctx.clock.now()
    metas = _MetaCache(ctx, prefix, size=4096)
    access = _MetaCache(ctx, prefix, size=4096, kind="access")
    records = _RecordCache(ctx, prefix)
    rows: list[dict[str, Any]] = []
    listeners: dict[str, None] = {}
    revoked_holders: dict[tuple[str, str], Any] = {}
    for cert in iter_listed(ctx, prefix=prefix):
        if (cert.certificate_type or "CLIENT") != "CLIENT":
            continue
        c = classify(cert, None, None, now)
        record = None
        if c.ours:
            assert c.listener_key is not None
            listeners.setdefault(c.listener_key, None)
            lk = c.listener_key
            if c.state in ("valid", "due", "revoked"):
                record = access.get(lk, cert.common_name or "")
            if c.state in ("valid", "due"):
                c = classify(cert, metas.get(lk, cert.common_name or ""), None, now, record)
            rec = records.get(lk, cert.common_name or "")
            if c.state == "superseded" and rec is not None:
                old = rec.entry(cert.serial)
                if old is not None and old.retired_at:
                    c = dataclasses.replace(c, state="retired")
        state = shown_state(c.state, cert.not_before, now)
        row: dict[str, Any] = {
            "common_name": cert.common_name, "serial": cert.serial, "identifier": cert.identifier,
            "listener_key": c.listener_key, "ours": c.ours,
            "not_before": iso_utc(cert.not_before) if cert.not_before else None,
            "not_after": iso_utc(cert.not_after) if cert.not_after else None,
            "days_left": round((cert.not_after - now) / timedelta(days=1), 1) if cert.not_after else None,
            "due_at": iso_utc(c.due_at) if c.due_at else None, "retire_after": c.retire_after,
            "state": state, "fingerprint_sha256": cert.sha256, "fingerprint_sha1": _sha1_of_pem(cert.cert_pem)}
        if c.superseded_by:
            row["superseded_by"] = c.superseded_by
        if record is not None and record.state == "orphaned" and c.state == "orphaned":
            row["orphaned_since"] = record.since
        r = record.revocation if record is not None else None
        if record is not None and r is not None and c.state == "revoked" and (
                record.state == "revoked" or any(x.identifier == cert.identifier for x in r.certificates)):
            row["revocation"] = {"reason": r.reason, "reason_code": r.reason_code, "revoked_at": r.revoked_at,
                                 "requested_by": r.requested_by, "request_id": r.request_id, "via": r.via}
            if (cert.status or "ISSUE") == "ISSUE":
                row["ca_status"] = "ISSUE"      # the revocation has not reached the CA yet
            if record.state == "revoked":
                revoked_holders[(c.listener_key or "", cert.common_name or "")] = r
        if c.ours and c.listener_key:
            row["delivery"] = _delivery_view(records.get(c.listener_key, cert.common_name or ""), cert.serial,
                                             c.superseded_by)
        rows.append(row)
    rows.sort(key=lambda r: (not r["ours"], r.get("listener_key") or "", r["common_name"] or "", r["not_after"] or ""))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    return {"now": iso_utc(now), "certificates": rows, "counts": counts,
            "pending_deletion": _pending_deletion(ctx, prefix, revoked_holders),
            "listeners": [listener_view(ctx, lk) for lk in list(listeners)[:MAX_WARNED_LISTENERS]]}


def _sha1_of_pem(pem: str | None) -> str | None:
    """SHA-1 of the certificate's DER, lowercase hex: the form of the listener's
    ``X-Forwarded-Clientcert-fingerprint`` header (docs/BACKENDS.md), for backends' allow and deny lists."""
    import base64
    import binascii
    import hashlib
    if not pem or "-----BEGIN CERTIFICATE-----" not in pem:
        return None
    body = pem.split("-----BEGIN CERTIFICATE-----", 1)[1].split("-----END CERTIFICATE-----", 1)[0]
    try:
        return hashlib.sha1(base64.b64decode("".join(body.split()), validate=True)).hexdigest()
    except (binascii.Error, ValueError):
        return None


def _pending_deletion(ctx: StepContext, prefix: str, holders: dict[tuple[str, str], Any]) -> list[dict[str, Any]]:
    """The key-material secrets of revoked holders that KMS is to delete (``DescribeSecret``):
    ``{secret, common_name, listener_key, planned_delete_time}`` — restorable until then."""
    from shared.adapters import kms as kms_api
    out = []
    for (lk, cn) in sorted(holders):
        for name in secret_names(prefix, lk, cn).key_material:
            info = ctx.adapter(kms_api.Kms).describe_secret(name)
            if info is not None and info.planned_delete_time:
                out.append({"secret": name, "common_name": cn, "listener_key": lk,
                            "planned_delete_time": info.planned_delete_time})
    return out


class _RecordCache:
    """The delivery records (``shared.policy.delivery``) of the report's CNs, one KMS read each."""

    def __init__(self, ctx: StepContext, prefix: str) -> None:
        self.ctx, self.prefix = ctx, prefix
        self.items: dict[tuple[str, str], Any] = {}

    def get(self, listener_key: str, cn: str) -> Any:
        from shared.steps.deliver import read_record
        key = (listener_key, cn)
        if key not in self.items:
            self.items[key] = read_record(self.ctx, secret_names(self.prefix, listener_key, cn))
        return self.items[key]


def _delivery_view(rec: Any, serial: str, superseded_by: str | None) -> dict[str, Any]:
    """``delivery`` of a report row: the holder and how far this certificate got to them
    (``shared.policy.delivery.adoption``); for a replaced one, whether its replacement was taken up;
    the last channel failure."""
    from shared.policy.delivery import adoption
    view: dict[str, Any] = dict(adoption(rec, serial))
    if superseded_by and rec is not None:
        view["replacement"] = adoption(rec, superseded_by).get("delivery")
    if rec is not None and rec.failures:
        f = rec.failures[-1]
        view["last_failure"] = {"at": f.at, "channel": f.channel, "kind": f.kind, "code": f.code}
    return view


def parse_now(value: str) -> datetime:
    """``--now`` / ``now`` values: ISO 8601 → aware UTC; ``INVALID_INPUT`` otherwise."""
    try:
        return parse_iso(value)
    except (ValueError, AttributeError, OverflowError):
        raise invalid_input("now", f"{value!r} is not an ISO 8601 time such as 2026-02-01T00:00:00Z") from None


"""Client certificate rotation: the daily scan and the certificate report (docs/ROTATION.md).

* :func:`scan` (the ``rotation_scan`` function, FC ``albmtls-rotation-scan``, daily timer): page
  through ``ListClientCertificate`` (every page, one rate-limited call per 100 certificates, one
  page in memory), decide per certificate with the pure :func:`decide_certificate`, confirm the
  candidates against the CN's ``…/meta`` secret (is it still the current certificate? which
  ``renew_before_days`` was it issued with? is an old one past its retirement time?), and start
  ``albmtls-rotate`` executions with the items — named from the date (``rotate-<prefix>-<yyyymmdd>``,
  ``-2``, ``-3`` … per 100 items) so a second firing the same day starts nothing new.
* :func:`start_scan` / :func:`certificate_report` — the same, for the HTTP API and the CLI.

Time comes from the invocation's clock (``ctx.clock``; ``shared.core.clock.clock_from_env`` for
:func:`start_scan` / :func:`certificate_report`): on the local cloud the FC invoker gives every
function the cloud's time, so ``albmtls rotate --now`` moves them all.

The scan writes nothing but the holders' delivery records (reminders, warnings, a system holder's
first read seen in ActionTrail: ``shared.steps.reads``) and starts executions (CloudFlow).

One module (~560 lines): the scan, its holders' follow-ups and the certificate report share one
classification and one record cache, read together.
"""
from __future__ import annotations

import dataclasses
import json
import os
import uuid
from collections import OrderedDict
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, invalid_input
from shared.policy import renewal
from shared.policy.ids import secret_names
from shared.policy.rotation import (
    RevokeOld,
    RotateItem,
    ScanEvent,
    ScanPolicy,
    classify,
    retire_due,
    rotation_execution_name,
)
from shared.steps.issuance import read_meta

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator

    from shared.policy.records import CertMeta
    from shared.steps.context import StepContext

__all__ = [
    "ROTATE_FLOW", "MAX_ITEMS_PER_EXECUTION", "ROTATE_MAP_CONCURRENCY", "ROTATE_QPS_MARGIN", "SERVER_CERT_WARN_DAYS",
    "ScanPolicy", "ScanEvent", "RotateItem", "RevokeOld", "classify", "retire_due", "ScanResult", "scan",
    "rotation_execution_name",
    "start_scan", "certificate_report", "make_context",
]

ROTATE_FLOW = "albmtls-rotate"
MAX_ITEMS_PER_EXECUTION = 100       # keeps the execution input and the Map output far below 64 KiB
#: the rotate flow's Map bound (``workflows/rotate.yaml`` MaxConcuccency/MaxConcurrency): on FC each concurrent
#: item runs in its own instance, so each takes 1/ROTATE_MAP_CONCURRENCY of the PCA quota
ROTATE_MAP_CONCURRENCY = 5
#: … at 85 %: 5 slots × 2 calls in any 1-second window, with room for the jitter between the
#: limiter and the server (``tests/reliability/test_rotation_rate.py``)
ROTATE_QPS_MARGIN = 0.85
SERVER_CERT_WARN_DAYS = 30
SCAN_QPS_MARGIN = 0.95              # the scan paces PCA calls at 95 % of the quota (9.5/s of 10/s)
META_CACHE = 256                    # (listener, cn) metas kept during a scan: bounded memory
MAX_WARNED_LISTENERS = 100          # listeners whose server certificate is checked per scan


# ---------------------------------------------------------------------------------------------
# the scan
# ---------------------------------------------------------------------------------------------
class ScanResult(msgspec.Struct, kw_only=True):
    """``rotation_scan`` result: counts (``scanned`` = this automation's client certificates,
    ``due``, ``retire``, ``started`` = executions started now) and ids only."""

    status: str = "ok"
    now: str = ""
    scanned: int = 0
    listed: int = 0
    due: int = 0
    retire: int = 0
    superseded: int = 0
    expired: int = 0
    revoked: int = 0
    started: int = 0
    executions: list[str] = []
    existing: list[str] = []
    warnings: list[dict[str, Any]] = []
    list_calls: int = 0
    #: due certificates not renewed because their holder left the listener's input
    #: (``<listener key>/<cn>``) or was revoked there (``skipped_revoked``)
    orphaned: list[str] = []
    skipped_revoked: int = 0
    reminded: int = 0            # holders reminded (the day before their old certificate ends)
    not_switched: int = 0        # holders the operators were told have not switched
    reads: int = 0               # system holders whose first read of the new secrets was recorded now


class _MetaCache:
    """The CNs' records read during a scan or a report, in a bounded LRU: the ``…/meta`` record
    (``kind="meta"``) or the holder's ``…/access`` record (``kind="access"``)."""

    def __init__(self, ctx: StepContext, prefix: str, size: int = META_CACHE, kind: str = "meta") -> None:
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


class _Holders:
    """The scan's view of the holders (``shared.steps.deliver``): for a replaced certificate, its
    CN's delivery record says whether the holder switched (retire it then) and whether it is time
    for a reminder or for telling the operators; the scan's warnings go to the operators. A channel
    that fails never fails the scan (its failure is in the record and the log)."""

    def __init__(self, ctx: StepContext, prefix: str) -> None:
        from shared.steps.reads import WaitingForReads
        self.ctx, self.prefix = ctx, prefix
        self._cfg: Any = None
        self.waiting = WaitingForReads(ctx, prefix)   # system holders: their first read (ActionTrail)

    def cfg(self) -> Any:
        if self._cfg is None:
            from shared.steps.deliver import load_config
            self._cfg = load_config(self.ctx, self.prefix)
        return self._cfg

    def classify(self, cert: Any, meta: CertMeta, listener_key: str, policy: ScanPolicy, now: datetime,
                 res: ScanResult) -> Any:
        from shared.policy.delivery import switched_at
        from shared.steps.deliver import follow_up, read_record
        rec = read_record(self.ctx, secret_names(self.prefix, listener_key, cert.common_name))
        if rec is None or rec.holder is None:
            return classify(cert, meta, policy, now)
        old = rec.entry(cert.serial)
        if old is None or not old.retired_at:
            done = follow_up(self.ctx, self.cfg(), self.prefix, listener_key, cert.common_name, meta, cert.serial,
                             cert.not_after, now)
            res.reminded += int(done.get("reminded", False))
            res.not_switched += int(done.get("warned", False))
            if done.get("writes"):
                rec = read_record(self.ctx, secret_names(self.prefix, listener_key, cert.common_name)) or rec
        c = classify(cert, meta, policy, now, switched_at=switched_at(rec, meta.serial),
                     retired=bool(old is not None and old.retired_at))
        self.waiting.consider(c, cert, meta, listener_key, rec)
        return c

    def read_switches(self, policy: ScanPolicy, now: datetime, res: ScanResult) -> Iterator[dict[str, Any]]:
        """The run's one ActionTrail query (``shared.steps.reads``): the retire items of the old
        certificates whose system holder read the new one. A failure is one of the run's warnings."""
        out = self.waiting.observe(now)
        res.reads += len(out.reads)
        if out.warning is not None:
            res.warnings.append(out.warning)
        for cert, meta, lk, at in self.waiting.switched(out):
            c = classify(cert, meta, policy, now, switched_at=at)
            if c.retire:
                res.retire += 1
                yield msgspec.to_builtins(RotateItem(action="retire", listener_key=lk, common_name=cert.common_name,
                                                     identifier=cert.identifier, serial=cert.serial,
                                                     not_after=iso_utc(cert.not_after)))

    def warn_operators(self, warnings: list[dict[str, Any]]) -> None:
        """The scan's warnings (sub-CA or server certificate ending) to the operators' channels."""
        from shared.steps.deliver import notify_operators
        if not warnings:
            return
        cfg = self.cfg().cfg
        for kind, title in (("ca", "a sub-CA ends soon"), ("server_certificate", "a server certificate ends soon")):
            ws = [w for w in warnings if w.get("kind") == kind]
            if ws:
                notify_operators(self.ctx, cfg, "ca_ending" if kind == "ca" else "server_certificate_ending",
                                 f"alb-mtls: {title}", "\n".join(str(w.get("message")) for w in ws),
                                 {"warnings": ws})


def _start(ctx: StepContext, name: str, policy: ScanPolicy, items: list[dict[str, Any]]) -> bool:
    """Start ``albmtls-rotate`` execution ``name``; False when it already exists (same day)."""
    from shared.adapters.fnf import Fnf
    doc = {"policy": {"secret_prefix": policy.secret_prefix, "revoke_old": policy.effective_revoke,
                      "revoke_after_days": policy.revoke_after_days}, "items": items}
    try:
        ctx.adapter(Fnf).start_execution(os.environ.get("ALBMTLS_ROTATE_FLOW", ROTATE_FLOW), name,
                                         json.dumps(doc, separators=(",", ":")))
    except AlbMtlsError as exc:
        if exc.cloud_code == "ExecutionAlreadyExists" or "AlreadyExist" in (exc.cloud_code or ""):
            return False
        raise
    return True


def _warn_ca(ctx: StepContext, ca_ident: str, lifetime: timedelta, now: datetime,
             warnings: list[dict[str, Any]], prefix: str) -> None:
    from shared.steps.issuers import issuer_for_identifier
    try:
        api = issuer_for_identifier(ctx, ca_ident, prefix)     # the PCA, or an own CA (own/<name>/g<n>)
        ca = api.describe_ca_certificate(ca_ident)
        inst = api.get_ca_instance_status(ca_ident)
    except AlbMtlsError as exc:
        warnings.append({"kind": "ca", "ca_identifier": ca_ident, "level": "warning", "code": exc.code,
                         "message": f"the issuing sub-CA could not be read: {exc.message}"})
        return
    end = ca.not_after
    if inst is not None and inst.use_expire_time is not None and (end is None or inst.use_expire_time < end):
        end = inst.use_expire_time
    if end is None:
        return
    w = renewal.ca_warning(end, lifetime, lifetime / 3, now)
    if w is not None:
        warnings.append({"kind": "ca", "ca_identifier": ca_ident, "level": w.level, "message": w.message,
                         "not_after": iso_utc(end)})


def _split_listener(listener_key: str) -> tuple[str, int] | None:
    lb, _, port = listener_key.rpartition("-")
    return (lb, int(port)) if lb.startswith("alb-") and port.isdigit() else None


def listener_view(ctx: StepContext, listener_key: str) -> dict[str, Any]:
    """The listener's CA and server certificate ends: ``{listener_key, listener_id, ca_certificate_ids,
    server_certificate_id, server_certificate_not_after, ca_not_after}`` (``None`` where unknown).
    Read-only: ``ListListeners``, ``GetListenerAttribute``, ``GetUserCertificateDetail``,
    ``DescribeCACertificate``."""
    from shared.adapters import alb as alb_api
    from shared.adapters import cas as cas_api
    from shared.adapters import pca as pca_api
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
    for ca in lst.ca_certificate_ids[:1]:
        try:   # the listener holds the CA in the form ALB takes: resolve it into its PCA Identifier
            api = ctx.adapter(pca_api.Pca)
            ident = api.resolve_ca(ca, want_cert_identifier=False).identifier
            ca_not_after = api.describe_ca_certificate(ident).not_after
        except AlbMtlsError:
            continue
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


def _warn_listener(ctx: StepContext, listener_key: str, now: datetime, warnings: list[dict[str, Any]]) -> None:
    v = listener_view(ctx, listener_key)
    end = v.get("server_certificate_not_after")
    if end and parse_iso(end) <= now + timedelta(days=SERVER_CERT_WARN_DAYS):
        left = (parse_iso(end) - now) / timedelta(days=1)
        warnings.append({"kind": "server_certificate", "listener_key": listener_key, "level":
                         "critical" if left <= 0 else "warning",
                         "certificate_id": v.get("server_certificate_id"), "not_after": end,
                         "message": f"the server certificate of listener {listener_key} ends {end} "
                                    f"({max(0.0, left):.0f} days); renew it in CAS and update the listener"})


def _paced(ctx: StepContext) -> Any:
    """``ctx`` with the PCA limit at :data:`SCAN_QPS_MARGIN` of ``settings.pca_qps``: the scan's own
    limiter, so that its requests stay under the quota in every 1-second window even with network
    jitter (the scan runs alone in its FC instance). Contexts that are not a ``StepContext`` pass."""
    import dataclasses
    if not dataclasses.is_dataclass(ctx) or not hasattr(ctx, "settings"):
        return ctx
    qps = getattr(ctx.settings, "pca_qps", None) or 10.0
    try:
        return dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, pca_qps=qps * SCAN_QPS_MARGIN))
    except (TypeError, ValueError):
        return ctx


def iter_listed(ctx: StepContext, result: ScanResult | None = None, *, prefix: str | None = None) -> Iterator[Any]:
    """Every ``ListClientCertificate`` item, one page in memory (``result.listed`` counts them); with
    ``prefix``, then every certificate the own CAs under it issued (``shared.steps.issuers.iter_own``)."""
    from shared.steps.issuers import iter_issued
    for cert in iter_issued(ctx, prefix):
        if result is not None:
            result.listed += 1
        yield cert


def scan(event: ScanEvent, ctx: StepContext) -> ScanResult:
    """The ``rotation_scan`` step (module doc). Returns counts, the executions started and the
    warnings (CA ending within lifetime + renew window; a listener's server certificate ending
    within 30 days). Raises ``AlbMtlsError`` (``RENEW_BEFORE_TOO_LONG``, ``INVALID_INPUT``, cloud)."""
    policy = event.policy()
    ctx = _paced(ctx)
    now = ctx.clock.now()
    res = ScanResult(now=iso_utc(now))
    metas = _MetaCache(ctx, policy.secret_prefix)
    access = _MetaCache(ctx, policy.secret_prefix, kind="access")
    holders = _Holders(ctx, policy.secret_prefix)
    cas: dict[str, timedelta] = {}
    listeners: set[str] = set()
    batch: list[dict[str, Any]] = []
    part = 0

    def flush() -> None:
        nonlocal part, batch
        if not batch:
            return
        part += 1
        name = rotation_execution_name(policy.secret_prefix, now, part)
        if _start(ctx, name, policy, batch):
            res.executions.append(name)
            res.started += 1
        else:
            res.existing.append(name)
        batch = []

    for cert in iter_listed(ctx, res, prefix=policy.secret_prefix):
        c = classify(cert, None, policy, now)
        if not c.ours:
            continue
        res.scanned += 1
        if c.state == "revoked":
            res.revoked += 1
            continue
        if c.state == "expired":
            res.expired += 1
            continue
        assert c.listener_key is not None and cert.common_name
        if len(listeners) < MAX_WARNED_LISTENERS:
            listeners.add(c.listener_key)
        if cert.parent_identifier:
            life = cert.not_after - cert.not_before
            if life > cas.get(cert.parent_identifier, timedelta(0)):
                cas[cert.parent_identifier] = life
        if c.state == "valid":
            # The record is read only for the candidates (one KMS read per CN, not per certificate):
            # it can make a due certificate superseded; a valid one stays valid for the scan.
            continue
        lk = c.listener_key
        meta = metas.get(lk, cert.common_name)
        c = classify(cert, meta, policy, now,
                     access.get(lk, cert.common_name) if c.state == "due" else None)
        if c.state == "superseded" and meta is not None:
            c = holders.classify(cert, meta, lk, policy, now, res)
        item = dict(listener_key=c.listener_key, common_name=cert.common_name, identifier=cert.identifier,
                    serial=cert.serial, not_after=iso_utc(cert.not_after))
        if c.state == "retired":
            res.superseded += 1
            continue
        if c.state in ("orphaned", "revoked"):
            # never renewed: the holder left the input, or was revoked (shared.steps.offboarding)
            if c.state == "orphaned":
                res.orphaned.append(f"{c.listener_key}/{cert.common_name}")
            else:
                res.skipped_revoked += 1
            continue
        if c.state == "superseded":
            res.superseded += 1
            if c.retire:
                res.retire += 1
                batch.append(msgspec.to_builtins(RotateItem(action="retire", **item)))
        else:
            res.due += 1
            batch.append(msgspec.to_builtins(RotateItem(action="renew", **item)))
        if len(batch) >= MAX_ITEMS_PER_EXECUTION:
            flush()
    for item in holders.read_switches(policy, now, res):     # one ActionTrail query for the run
        batch.append(item)
        if len(batch) >= MAX_ITEMS_PER_EXECUTION:
            flush()
    # the warnings' PCA reads before the last start: the scan's calls end before the Map's begin
    for ca_ident, life in sorted(cas.items()):
        _warn_ca(ctx, ca_ident, life, now, res.warnings, policy.secret_prefix)
    for lk in sorted(listeners):
        _warn_listener(ctx, lk, now, res.warnings)
    holders.warn_operators(res.warnings)
    flush()
    if res.orphaned or res.skipped_revoked:
        ctx.logger.warning("due certificates not renewed: their holders left the listener's input (orphaned) or "
                           "were revoked", extra={"orphaned": res.orphaned, "skipped_revoked": res.skipped_revoked})
    ctx.logger.info("rotation scan done", extra={
        "scanned": res.scanned, "listed": res.listed, "due": res.due, "retire": res.retire,
        "started": res.started, "executions": res.executions, "existing": res.existing,
        "warnings": len(res.warnings), "meta_reads": metas.reads, "access_reads": access.reads,
        "orphaned": len(res.orphaned), "reads": res.reads})
    return res


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
    """Run the scan now with ``payload`` (the timer payload fields) and return its result dict
    (``{"status": "failed", "error": …}`` for a refused configuration)."""
    from shared.policy.validation import decode
    ctx = make_context(settings, "rotation_scan")
    try:
        ev = decode(ScanEvent, payload or {})
        doc: dict[str, Any] = msgspec.to_builtins(scan(ev, ctx))
        return doc
    except AlbMtlsError as exc:
        return {"status": "failed", "error": exc.to_dict()}


def certificate_report(settings: Any, *, secret_prefix: str | None = None) -> dict[str, Any]:
    """Every client certificate (this automation's first) with ``common_name``, ``serial``,
    ``identifier``, ``listener_key``, ``not_after``, ``days_left``, ``state`` (``valid``, ``due``,
    ``superseded``, ``orphaned``, ``revoked``, ``expired``; ``foreign`` ones are listed as ``ours:
    false``), ``fingerprint_sha256``/``fingerprint_sha1`` (the latter in the form of the listener's
    fingerprint header), ``retire_after`` for superseded ones, ``orphaned_since``, ``revocation`` (reason, when,
    who, request id: the holder's ``…/access`` record); ``pending_deletion``: the revoked holders'
    secrets KMS is to delete; and per listener its CA and server certificate ends. Read-only."""
    prefix = secret_prefix or getattr(settings, "secret_prefix", None) or "albmtls"
    ctx = make_context(settings, "certificate_report")
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
        row: dict[str, Any] = {
            "common_name": cert.common_name, "serial": cert.serial, "identifier": cert.identifier,
            "listener_key": c.listener_key, "ours": c.ours,
            "not_before": iso_utc(cert.not_before) if cert.not_before else None,
            "not_after": iso_utc(cert.not_after) if cert.not_after else None,
            "days_left": round((cert.not_after - now) / timedelta(days=1), 1) if cert.not_after else None,
            "due_at": iso_utc(c.due_at) if c.due_at else None, "retire_after": c.retire_after,
            "state": c.state, "fingerprint_sha256": cert.sha256, "fingerprint_sha1": _sha1_of_pem(cert.cert_pem)}
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


"""Client certificate rotation: the daily scan and the certificate report (DESIGN.md §1 step 8).

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

Nothing here writes to a product: the scan only reads and starts executions (CloudFlow).
"""
from __future__ import annotations

import json
import os
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from shared.policy import renewal
from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, Code, invalid_input
from shared.policy.ids import parse_custom_identifier, secret_names
from shared.policy.records import CertMeta, SupersededEntry
from shared.policy.validation import pattern
from shared.steps.issuance import read_meta

__all__ = [
    "ROTATE_FLOW", "MAX_ITEMS_PER_EXECUTION", "ROTATE_MAP_CONCURRENCY", "ROTATE_QPS_MARGIN", "SERVER_CERT_WARN_DAYS",
    "ScanPolicy", "ScanEvent", "RotateItem", "Verdict", "decide_certificate", "retire_due", "ScanResult", "scan", "rotation_execution_name",
    "start_scan", "certificate_report", "make_context",
]

ROTATE_FLOW = "albmtls-rotate"
MAX_ITEMS_PER_EXECUTION = 100       # keeps the execution input and the Map output far below 64 KiB
#: the rotate flow's Map bound (``workflows/rotate.yaml`` MaxConcurrency): on FC each concurrent
#: item runs in its own instance, so each takes 1/ROTATE_MAP_CONCURRENCY of the PCA quota
ROTATE_MAP_CONCURRENCY = 5
#: … at 85 %: 5 slots × 2 calls in any 1-second window, with room for the jitter between the
#: limiter and the server (``tests/reliability/test_rotation_rate.py``)
ROTATE_QPS_MARGIN = 0.85
SERVER_CERT_WARN_DAYS = 30
SCAN_QPS_MARGIN = 0.95              # the scan paces PCA calls at 95 % of the quota (9.5/s of 10/s)
META_CACHE = 256                    # (listener, cn) metas kept during a scan: bounded memory
MAX_WARNED_LISTENERS = 100          # listeners whose server certificate is checked per scan
RevokeOld = Literal["never", "after_grace", "immediately"]


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
class ScanPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The timer payload (JSON text in FC's timer event) / ``POST /rotations`` body.

    ``secret_prefix``: the KMS prefix the certificates were stored under. ``revoke_old``: what
    happens to a replaced certificate — ``never`` (default: it expires naturally), ``after_grace``
    (revoked by the first run ``revoke_after_days`` after it was replaced), ``immediately`` (revoked
    in the same run once the replacement is stored: compromise). ``revoke_after_days`` alone implies
    ``after_grace``. ``renew_before_days``: renew this long before the end (when earlier than 2/3 of
    the lifetime) for every certificate; must be shorter than each certificate's lifetime.
    ``max_concurrency``: certificates renewed at once (the rotate flow's Map bound is 5).
    """

    secret_prefix: Annotated[str, pattern(r"^[A-Za-z0-9_+=.@-]{1,64}$",
                                          "1-64 ASCII letters, digits or _ + = . @ -")] = "albmtls"
    revoke_old: RevokeOld | None = None
    revoke_after_days: Annotated[int, Meta(ge=0, le=3650)] | None = None
    renew_before_days: Annotated[int, Meta(ge=1, le=3650)] | None = None

    @property
    def effective_revoke(self) -> RevokeOld:
        if self.revoke_old is not None:
            return self.revoke_old
        return "after_grace" if self.revoke_after_days is not None else "never"


class ScanEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """What ``rotation_scan`` accepts: FC's timer event ``{triggerTime, triggerName, payload}``
    (``payload`` = the policy as JSON text, ``""``/``"{}"`` = defaults), or the policy fields
    themselves (CLI, HTTP API)."""

    triggerTime: str | None = None  # noqa: N815 - FC wire name
    triggerName: str | None = None  # noqa: N815
    payload: str | dict[str, Any] | None = None
    secret_prefix: str | None = None
    revoke_old: str | None = None
    revoke_after_days: int | None = None
    renew_before_days: int | None = None

    def policy(self) -> ScanPolicy:
        """The effective :class:`ScanPolicy`; raises ``AlbMtlsError(INVALID_INPUT)`` naming the field."""
        from shared.policy.validation import decode
        if self.payload is not None:
            raw: Any = self.payload
            if isinstance(raw, str):
                if not raw.strip():
                    raw = {}
                else:
                    try:
                        raw = json.loads(raw)
                    except ValueError as exc:
                        raise invalid_input("payload", f"the timer payload is not JSON: {exc}") from None
            if not isinstance(raw, dict):
                raise invalid_input("payload", "the timer payload must be a JSON object")
            return decode(ScanPolicy, raw)
        fields = {k: getattr(self, k) for k in ("secret_prefix", "revoke_old", "revoke_after_days",
                                                  "renew_before_days") if getattr(self, k) is not None}
        return decode(ScanPolicy, fields)


class RotateItem(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """One Map item of the rotate flow (ids only): ``renew`` the certificate ``identifier`` of
    ``common_name`` on ``listener_key``, or ``retire`` (revoke) it — it was already replaced."""

    action: Literal["renew", "retire"]
    listener_key: Annotated[str, Meta(min_length=1, max_length=128)]
    common_name: Annotated[str, Meta(min_length=1, max_length=64)]
    identifier: Annotated[str, Meta(min_length=1, max_length=128)]
    serial: str = ""
    not_after: str = ""


# ---------------------------------------------------------------------------------------------
# decide (pure)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Verdict:
    """``state``: ``foreign`` (not this automation's, or not a client certificate), ``revoked``,
    ``expired``, ``valid`` or ``due`` (a candidate: confirmed against the meta); ``listener_key``
    (from the CustomIdentifier); ``due_at``."""

    state: Literal["foreign", "revoked", "expired", "valid", "due"]
    listener_key: str | None = None
    due_at: datetime | None = None


def decide_certificate(cert: Any, now: datetime, renew_before: int | timedelta | None = None) -> Verdict:
    """Sort one ``ListClientCertificate`` item (``shared.adapters.pca.ClientCertificate``) at ``now``.

    Ours = a ``CLIENT`` certificate whose ``CustomIdentifier`` this automation made. Precedence:
    revoked > expired > due (``now ≥ renewal.due_at(not_before, not_after, renew_before)``) > valid.

    Raises ``AlbMtlsError(RENEW_BEFORE_TOO_LONG)`` when ``renew_before`` is not shorter than the
    certificate's lifetime (a configuration error: it would renew forever).
    """
    ref = parse_custom_identifier(cert.custom_identifier)
    if ref is None or (cert.certificate_type or "CLIENT") != "CLIENT" or not cert.not_before or not cert.not_after:
        return Verdict("foreign")
    if (cert.status or "ISSUE") != "ISSUE":
        return Verdict("revoked", ref)
    rb = renewal.as_renew_before(renew_before)
    if rb is not None:
        # the nominal lifetime (the issued one less the few minutes of backdating): a 30-day
        # certificate with renew_before 30 days would be due the moment it is issued
        nominal = timedelta(days=round((cert.not_after - cert.not_before) / timedelta(days=1)))
        if rb >= nominal:
            raise AlbMtlsError(Code.RENEW_BEFORE_TOO_LONG,
                               f"renew_before_days ({rb.days}) is not shorter than the lifetime of "
                               f"{cert.common_name!r}'s certificate ({nominal.days} days): it would be renewed "
                               "again and again; use fewer days (default: renew at 2/3 of the lifetime)",
                               field="renew_before_days")
    due = renewal.due_at(cert.not_before, cert.not_after, rb)
    if now > cert.not_after:
        return Verdict("expired", ref, due)
    return Verdict("due" if now >= due else "valid", ref, due)


def retire_due(entry: SupersededEntry | None, now: datetime, policy_revoke: RevokeOld,
               revoke_after_days: int | None, *, replaced_at: datetime | None = None) -> bool:
    """Whether a replaced certificate is to be revoked at ``now`` (pure): its recorded marker says
    so and ``retire_after`` has passed, or today's policy does (``immediately``, or ``after_grace``
    with ``revoke_after_days`` elapsed since it was replaced — ``replaced_at`` when there is no
    marker)."""
    since = parse_iso(entry.superseded_at) if entry is not None else replaced_at
    if entry is not None and entry.revoke and now >= parse_iso(entry.retire_after):
        return True
    if policy_revoke == "immediately":
        return True
    if policy_revoke == "after_grace" and since is not None:
        return now >= since + timedelta(days=revoke_after_days or 0)
    return False


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


def rotation_execution_name(secret_prefix: str, now: datetime, part: int = 1) -> str:
    """``rotate-<prefix>-<yyyymmdd>`` (UTC date) and ``-<part>`` from the second batch on."""
    import re
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", secret_prefix)
    name = f"rotate-{safe}-{now.astimezone(UTC):%Y%m%d}"
    return name if part == 1 else f"{name}-{part}"


class _MetaCache:
    def __init__(self, ctx: Any, prefix: str, size: int = META_CACHE) -> None:
        self.ctx, self.prefix, self.size = ctx, prefix, size
        self.items: OrderedDict[tuple[str, str], CertMeta | None] = OrderedDict()
        self.reads = 0

    def get(self, listener_key: str, cn: str) -> CertMeta | None:
        key = (listener_key, cn)
        if key in self.items:
            self.items.move_to_end(key)
            return self.items[key]
        self.reads += 1
        meta = read_meta(self.ctx, secret_names(self.prefix, listener_key, cn).meta)
        self.items[key] = meta
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return meta


def _start(ctx: Any, name: str, policy: ScanPolicy, items: list[dict[str, Any]]) -> bool:
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


def _warn_ca(ctx: Any, ca_ident: str, lifetime: timedelta, now: datetime, warnings: list[dict[str, Any]]) -> None:
    from shared.adapters import pca as pca_api
    try:
        ca = ctx.adapter(pca_api.Pca).describe_ca_certificate(ca_ident)
        inst = ctx.adapter(pca_api.Pca).get_ca_instance_status(ca_ident)
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


def listener_view(ctx: Any, listener_key: str) -> dict[str, Any]:
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
        try:
            out["ca_not_after"] = iso_utc(ctx.adapter(pca_api.Pca).describe_ca_certificate(ca).not_after)
        except (AlbMtlsError, TypeError):
            pass
    for cid in lst.certificate_ids[:1]:
        out["server_certificate_id"] = cid
        try:
            cert = ctx.adapter(cas_api.Cas).get_certificate(CertificateId.parse(cid).cas_id)
            out["server_certificate_not_after"] = iso_utc(cert.not_after) if cert.not_after else None
        except (AlbMtlsError, AttributeError, TypeError, ValueError):
            pass
    return out


def _warn_listener(ctx: Any, listener_key: str, now: datetime, warnings: list[dict[str, Any]]) -> None:
    v = listener_view(ctx, listener_key)
    end = v.get("server_certificate_not_after")
    if end and parse_iso(end) <= now + timedelta(days=SERVER_CERT_WARN_DAYS):
        left = (parse_iso(end) - now) / timedelta(days=1)
        warnings.append({"kind": "server_certificate", "listener_key": listener_key, "level":
                         "critical" if left <= 0 else "warning",
                         "certificate_id": v.get("server_certificate_id"), "not_after": end,
                         "message": f"the server certificate of listener {listener_key} ends {end} "
                                    f"({max(0.0, left):.0f} days); renew it in CAS and update the listener"})


def _paced(ctx: Any) -> Any:
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


def iter_verdicts(ctx: Any, now: datetime, renew_before: int | None,
                  result: ScanResult | None = None) -> Iterator[tuple[Any, Verdict]]:
    """``(certificate, verdict)`` for every listed certificate, one page in memory."""
    from shared.adapters import pca as pca_api
    for cert in ctx.adapter(pca_api.Pca).list_client_certificates():
        if result is not None:
            result.listed += 1
        yield cert, decide_certificate(cert, now, renew_before)


def scan(event: ScanEvent, ctx: Any) -> ScanResult:
    """The ``rotation_scan`` step (module doc). Returns counts, the executions started and the
    warnings (CA ending within lifetime + renew window; a listener's server certificate ending
    within 30 days). Raises ``AlbMtlsError`` (``RENEW_BEFORE_TOO_LONG``, ``INVALID_INPUT``, cloud)."""
    policy = event.policy()
    ctx = _paced(ctx)
    now = ctx.clock.now()
    res = ScanResult(now=iso_utc(now))
    metas = _MetaCache(ctx, policy.secret_prefix)
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

    for cert, v in iter_verdicts(ctx, now, policy.renew_before_days, res):
        if v.state == "foreign":
            continue
        res.scanned += 1
        if v.state == "revoked":
            res.revoked += 1
            continue
        if v.state == "expired":
            res.expired += 1
            continue
        assert v.listener_key is not None and cert.common_name
        if len(listeners) < MAX_WARNED_LISTENERS:
            listeners.add(v.listener_key)
        if cert.parent_identifier:
            life = cert.not_after - cert.not_before
            if life > cas.get(cert.parent_identifier, timedelta(0)):
                cas[cert.parent_identifier] = life
        if v.state == "valid":
            # valid by the default rule: its own renew_before_days (stored in the meta) may make it due earlier
            continue
        meta = metas.get(v.listener_key, cert.common_name)
        if meta is not None and meta.identifier != cert.identifier:
            res.superseded += 1
            entry = meta.superseded(cert.identifier)
            if retire_due(entry, now, policy.effective_revoke, policy.revoke_after_days,
                          replaced_at=parse_iso(meta.not_before)):
                res.retire += 1
                batch.append(msgspec.to_builtins(RotateItem(
                    action="retire", listener_key=v.listener_key, common_name=cert.common_name,
                    identifier=cert.identifier, serial=cert.serial, not_after=iso_utc(cert.not_after))))
        else:
            res.due += 1
            batch.append(msgspec.to_builtins(RotateItem(
                action="renew", listener_key=v.listener_key, common_name=cert.common_name,
                identifier=cert.identifier, serial=cert.serial, not_after=iso_utc(cert.not_after))))
        if len(batch) >= MAX_ITEMS_PER_EXECUTION:
            flush()
    # the warnings' PCA reads before the last start: the scan's calls end before the Map's begin
    for ca_ident, life in sorted(cas.items()):
        _warn_ca(ctx, ca_ident, life, now, res.warnings)
    for lk in sorted(listeners):
        _warn_listener(ctx, lk, now, res.warnings)
    flush()
    ctx.logger.info("rotation scan done", extra={
        "scanned": res.scanned, "listed": res.listed, "due": res.due, "retire": res.retire,
        "started": res.started, "executions": res.executions, "existing": res.existing,
        "warnings": len(res.warnings), "meta_reads": metas.reads})
    return res


# ---------------------------------------------------------------------------------------------
# entry points for the HTTP API and the CLI
# ---------------------------------------------------------------------------------------------
def make_context(settings: Any, step: str, *, deadline_s: float = 900.0) -> Any:
    """A :class:`shared.entry.handler.StepContext` outside a step function (HTTP API, CLI); its clock
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
        return msgspec.to_builtins(scan(ev, ctx))
    except AlbMtlsError as exc:
        return {"status": "failed", "error": exc.to_dict()}


def certificate_report(settings: Any, *, secret_prefix: str | None = None) -> dict[str, Any]:
    """Every client certificate (this automation's first) with ``common_name``, ``serial``,
    ``identifier``, ``listener_key``, ``not_after``, ``days_left``, ``state`` (``valid``, ``due``,
    ``superseded``, ``revoked``, ``expired``; ``foreign`` ones are listed as ``ours: false``),
    ``retire_after`` for superseded ones; and per listener its CA and server certificate ends.
    Read-only."""
    prefix = secret_prefix or getattr(settings, "secret_prefix", None) or "albmtls"
    ctx = make_context(settings, "certificate_report")
    now = ctx.clock.now()
    metas = _MetaCache(ctx, prefix, size=4096)
    rows: list[dict[str, Any]] = []
    listeners: dict[str, None] = {}
    for cert, v in iter_verdicts(ctx, now, None):
        if (cert.certificate_type or "CLIENT") != "CLIENT":
            continue
        row: dict[str, Any] = {
            "common_name": cert.common_name, "serial": cert.serial, "identifier": cert.identifier,
            "listener_key": v.listener_key, "ours": v.state != "foreign",
            "not_before": iso_utc(cert.not_before) if cert.not_before else None,
            "not_after": iso_utc(cert.not_after) if cert.not_after else None,
            "days_left": round((cert.not_after - now) / timedelta(days=1), 1) if cert.not_after else None,
            "due_at": iso_utc(v.due_at) if v.due_at else None, "retire_after": None}
        state = v.state
        if v.state == "foreign":
            state = "revoked" if cert.status == "REVOKE" else (
                "expired" if cert.not_after and now > cert.not_after else "valid")
        else:
            assert v.listener_key is not None
            listeners.setdefault(v.listener_key, None)
            meta = metas.get(v.listener_key, cert.common_name or "")
            if v.state in ("valid", "due") and meta is not None:
                if meta.identifier != cert.identifier:
                    state = "superseded"
                    entry = meta.superseded(cert.identifier)
                    row["retire_after"] = entry.retire_after if entry else row["not_after"]
                    row["superseded_by"] = meta.serial
                elif meta.renew_before_days:
                    try:
                        due = renewal.due_at(cert.not_before, cert.not_after, meta.renew_before_days)
                        row["due_at"] = iso_utc(due)
                        state = "due" if now >= due else "valid"
                    except AlbMtlsError:
                        state = "due"
        row["state"] = state
        rows.append(row)
    rows.sort(key=lambda r: (not r["ours"], r.get("listener_key") or "", r["common_name"] or "", r["not_after"] or ""))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    return {"now": iso_utc(now), "certificates": rows, "counts": counts,
            "listeners": [listener_view(ctx, lk) for lk in list(listeners)[:MAX_WARNED_LISTENERS]]}


def parse_now(value: str) -> datetime:
    """``--now`` / ``now`` values: ISO 8601 → aware UTC; ``INVALID_INPUT`` otherwise."""
    try:
        return parse_iso(value)
    except (ValueError, AttributeError):
        raise invalid_input("now", f"{value!r} is not an ISO 8601 time such as 2026-02-01T00:00:00Z") from None


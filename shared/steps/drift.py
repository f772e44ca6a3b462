"""Drift: the cloud against each listener's recorded desired state (``shared.policy.desired``).

* :func:`observe_drift` — one listener, read-only: the listener's mTLS fields (``CaEnabled``, the
  CA, the server certificate, the TLS policy, the client-certificate headers, the server group it
  forwards to), the server group's members (server, port, weight) and the CNAME's target and TTL
  (the comparisons: ``shared.policy.plan``). It does not stop at the first problem: a listener
  deleted, a CNAME repointed and mutual authentication turned off are all reported.
* :func:`check` — every listener with a recorded state under a secret prefix (``ListSecrets``);
  with ``repair``, a drifted listener that says ``auto_repair: true`` gets a provision execution of
  its recorded input (the same path as ``albmtls apply``; its record is unchanged, so only the
  drifted resources are written). Drift is announced through :func:`notify_drift`.
* :func:`run` — the ``drift_check`` step (FC ``albmtls-drift-check``, daily timer; ``repair`` on).
* :func:`drift_report` — the same without repairs, for ``albmtls drift``, ``albmtls status`` and
  ``GET /drift``.

Time comes from the invocation's clock; listeners are checked a few at a time, every call through
the one retry layer and its per-product rate limiters.
"""
from __future__ import annotations

import json
import os
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import msgspec

from shared.adapters import alidns
from shared.adapters.kms import Kms
from shared.core.clock import iso_utc
from shared.core.errors import AlbMtlsError, invalid_input
from shared.policy.contracts import SecretPrefix
from shared.policy.desired import desired_input
from shared.policy.listener import desired_listener, plan_server_certificate, server_certificate_usable
from shared.policy.plan import DriftItem, as_drift, cname_drift, listener_changes, member_drift
from shared.steps.desired import list_desired, read_desired
from shared.steps.dns import current_cname

if TYPE_CHECKING:  # pragma: no cover
    from shared.policy.contracts import ProvisionInput
    from shared.steps.context import StepContext

__all__ = ["observe_drift", "ListenerDrift", "DriftResult", "DriftEvent", "check", "run", "drift_report",
           "notify_drift", "PARALLEL"]

#: listeners checked at once
PARALLEL = 4


def observe_drift(ctx: StepContext, inp: ProvisionInput) -> tuple[DriftItem, ...]:
    """What differs between the cloud and ``inp`` (module doc), read-only. Raises ``AlbMtlsError``
    only when the ALB itself cannot be read (``LOAD_BALANCER_NOT_FOUND``, cloud faults)."""
    from shared.steps.issuance import alb_ca_certificate_id
    from shared.steps.listener import gather

    o = gather(ctx, inp)
    items: list[DriftItem] = []
    existing = o.existing
    if existing is None or existing.protocol != "HTTPS":
        items.append(DriftItem(field="listener", desired=f"HTTPS listener on port {inp.listener_port}",
                               actual=f"{existing.protocol} listener {existing.id}" if existing else None))
    else:
        cert_id = plan_server_certificate(o).alb_id if server_certificate_usable(o) is None else None
        mine = o.mine
        try:
            ca_id: str | None = alb_ca_certificate_id(ctx, inp)      # the sub-CA in the form ALB takes
        except AlbMtlsError as exc:
            if exc.retryable:
                raise
            ca_id = None
            items.append(DriftItem(field="ca", desired=inp.ca_identifier, actual=f"{exc.code}: {exc.message}"))
        desired = desired_listener(inp, cert_id, mine.id if mine else None, ca_id or "")
        changes = [c for c in listener_changes(existing, desired)      # what cannot be known is not compared
                   if not (c.field == "Certificates" and cert_id is None) and not (c.field == "CaCertificates"
                                                                                    and ca_id is None)]
        items += as_drift(changes)
    mine = o.mine
    if mine is None:
        items.append(DriftItem(field="server_group", desired=inp.server_group.name, actual=None))
    else:
        have = {(sid, port): w for sid, port, w in o.server_group.weights}
        want = [(s.server_id, s.port, s.weight) for s in inp.server_group.servers]
        items += as_drift(member_drift(have, want))
    records = ctx.adapter(alidns.Alidns).sub_domain_records(inp.fqdn, inp.domain)
    now = current_cname(records, inp.rr)
    current = {"value": now.value, "ttl": now.ttl} if now is not None else None
    items += as_drift(cname_drift(current, value=o.lb.dns_name, ttl=inp.ttl))
    return tuple(items)


class ListenerDrift(msgspec.Struct, kw_only=True):
    """One listener's drift: ``items`` (empty: none), ``recorded_at`` / ``execution`` of its desired
    state, ``auto_repair``, ``repair`` (the execution started to repair it), ``error`` (what could
    not be read, ``{code, message}``)."""

    listener_key: str
    recorded_at: str | None = None
    execution: str | None = None
    auto_repair: bool = False
    items: tuple[DriftItem, ...] = ()
    repair: str | None = None
    repair_error: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def drifted(self) -> bool:
        return bool(self.items)


class DriftResult(msgspec.Struct, kw_only=True):
    """``drift_check`` / ``albmtls drift``: ``checked`` listeners, ``drifted``, ``repairs`` started,
    ``errors``, per-listener ``listeners`` (drifted and failed ones first)."""

    status: str = "ok"
    now: str = ""
    secret_prefix: str = "albmtls"
    checked: int = 0
    drifted: int = 0
    repairs: int = 0
    errors: int = 0
    listeners: list[ListenerDrift] = []


def _one(ctx: StepContext, prefix: str, listener_key: str, *, repair: bool, flow: str) -> ListenerDrift:
    out = ListenerDrift(listener_key=listener_key)
    try:
        rec = read_desired(ctx.adapter(Kms), prefix, listener_key)
        if rec is None:             # deleted between the listing and the read
            return out
        out.recorded_at, out.execution = rec.recorded_at, rec.execution
        inp = desired_input(rec)
        out.auto_repair = inp.auto_repair
        c = ctx if not inp.region or inp.region == ctx.settings.region else _in_region(ctx, inp.region)
        out.items = observe_drift(c, inp)
    except AlbMtlsError as exc:
        if exc.retryable:
            raise
        out.error = exc.to_dict()
        return out
    if out.items and out.auto_repair and repair:
        from shared.steps.provisioning import start_provision
        try:
            started = start_provision(ctx.settings, rec.input, listener_key, flow=flow, clock=ctx.clock)
            out.repair = started.name
        except AlbMtlsError as exc:
            out.repair_error = exc.to_dict()
    return out


def _in_region(ctx: StepContext, region: str) -> StepContext:
    import dataclasses
    return dataclasses.replace(ctx, settings=ctx.settings.with_(region=region))


def check(ctx: StepContext, secret_prefix: str, *, repair: bool, parallel: int = PARALLEL) -> DriftResult:
    """Drift of every listener recorded under ``secret_prefix`` (module doc); ``repair``: start a
    provision execution for each drifted ``auto_repair`` listener. Announces the drifted ones
    (:func:`notify_drift`). Raises ``AlbMtlsError`` only when the records cannot be listed."""
    flow = os.environ.get("ALBMTLS_PROVISION_FLOW", "albmtls-provision")
    keys = list(list_desired(ctx.adapter(Kms), secret_prefix))
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(keys)))) as pool:
        found = list(pool.map(lambda k: _one(ctx, secret_prefix, k, repair=repair, flow=flow), keys))
    found.sort(key=lambda d: (not d.drifted, d.error is None, d.listener_key))
    res = DriftResult(now=iso_utc(ctx.clock.now()), secret_prefix=secret_prefix, checked=len(found),
                      drifted=sum(1 for d in found if d.drifted), repairs=sum(1 for d in found if d.repair),
                      errors=sum(1 for d in found if d.error), listeners=found)
    notify_drift(ctx, res)
    return res


def notify_drift(ctx: StepContext, result: DriftResult) -> None:
    """THE place drift is announced: one structured WARNING line per drifted listener (the function
    log, which FC ships to SLS: alert on ``message = "listener drifted"``). The daily timer's step
    also tells the operators' channels (:func:`notify_channels`); a report (``albmtls drift``,
    ``status``, ``GET /drift``) only logs."""
    for d in result.listeners:
        if d.drifted:
            ctx.logger.warning("listener drifted", extra={
                "listener_key": d.listener_key, "fields": [i.field for i in d.items], "auto_repair": d.auto_repair,
                "repair_execution": d.repair, "repair_error": (d.repair_error or {}).get("code")})


def notify_channels(ctx: StepContext, result: DriftResult) -> list[str]:
    """One notice to the operators' channels (``shared.steps.deliver.notify_operators``) when the
    daily check found drifted listeners: each with its fields and whether a repair started. A
    failing channel is logged, never raised. Returns the channels that took it."""
    drifted = [d for d in result.listeners if d.drifted]
    if not drifted:
        return []
    from shared.steps.deliver import load_config, notify_operators
    lines = []
    for d in drifted:
        fields = ", ".join(f"{i.field} (recorded {repr(i.desired)[:80]}, found {repr(i.actual)[:80]})"
                           for i in d.items)
        then = (f"repair started: execution {d.repair}" if d.repair else
                f"repair not started: {(d.repair_error or {}).get('code')}" if d.repair_error else
                "not repaired (auto_repair is off: albmtls apply with its file)")
        lines.append(f"{d.listener_key}: {fields}; {then}")
    sent, _ = notify_operators(
        ctx, load_config(ctx, result.secret_prefix).cfg, "drift",
        f"alb-mtls: {len(drifted)} listener(s) drifted from their recorded state",
        "The daily drift check found listeners changed outside alb-mtls:\n" + "\n".join(lines),
        {"listeners": [{"listener_key": d.listener_key, "fields": [i.field for i in d.items], "repair": d.repair}
                       for d in drifted], "checked_at": result.now})
    return sent


# ---------------------------------------------------------------------------------------------
# the timer step
# ---------------------------------------------------------------------------------------------
class DriftPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """The drift timer's payload: ``secret_prefix`` (where the desired states are recorded; default
    the deployment's, ``ALBMTLS_SECRET_PREFIX``) and ``repair`` (start repairs for ``auto_repair``
    listeners; default true)."""

    secret_prefix: SecretPrefix | None = None
    repair: bool = True


class DriftEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """FC's timer event ``{triggerTime, triggerName, payload}`` (``payload``: the policy as JSON
    text) or the policy fields themselves."""

    triggerTime: str | None = None  # FC wire name
    triggerName: str | None = None  # FC wire name
    payload: str | dict[str, Any] | None = None
    secret_prefix: str | None = None
    repair: bool | None = None

    def policy(self) -> DriftPolicy:
        """The effective :class:`DriftPolicy`; ``INVALID_INPUT`` naming the field."""
        from shared.policy.validation import decode

        raw: Any
        if self.payload is not None:
            raw = self.payload
            if isinstance(raw, str):
                try:
                    raw = json.loads(raw) if raw.strip() else {}
                except ValueError as exc:
                    raise invalid_input("payload", f"the timer payload is not JSON: {exc}") from None
            if not isinstance(raw, dict):
                raise invalid_input("payload", "the timer payload must be a JSON object")
        else:
            raw = {k: v for k, v in (("secret_prefix", self.secret_prefix), ("repair", self.repair)) if v is not None}
        return decode(DriftPolicy, raw)


def run(event: DriftEvent, ctx: StepContext) -> DriftResult:
    """The ``drift_check`` step (module doc). Raises ``AlbMtlsError`` (a bad payload, the records
    not listable)."""
    policy = event.policy()
    res = check(ctx, policy.secret_prefix or ctx.settings.secret_prefix, repair=policy.repair)
    notify_channels(ctx, res)
    ctx.logger.info("drift check done", extra={"checked": res.checked, "drifted": res.drifted,
                                               "repairs": res.repairs, "errors": res.errors})
    return res


def drift_report(settings: Any, secret_prefix: str | None = None) -> dict[str, Any]:
    """:func:`check` without repairs, as a JSON document (CLI, status, HTTP API)."""
    from shared.steps.rotation import make_context

    ctx = make_context(settings, "drift_report")
    prefix = secret_prefix or getattr(settings, "secret_prefix", None) or "albmtls"
    doc: dict[str, Any] = msgspec.to_builtins(check(ctx, prefix, repair=False))
    return doc


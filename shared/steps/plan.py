"""``albmtls plan`` and ``POST /fleet/plan``: what an apply of a fleet document would change, per
listener, with zero writes (the pure comparisons: ``shared.policy.plan``).

For each listener, read-only (the same reads as the provision flow's steps, so the plan and the
apply cannot disagree):

* the preflight (``shared.steps.preflight.evaluate``): every check — a listener that would be
  refused is reported with the error the run would end with — and the listener, server
  certificate, server group and CNAME plans, shown field by field (old → new);
* every client: what ``issue_client_cert`` would do (``shared.steps.issuance.observe_client`` and
  ``decide``): issue, renew (due), reissue (SANs/profile/CA changed, revoked …) or keep;
* the holders of the listener in the private CA's own list and their ``…/access`` records: what
  the run's ``ReconcileClients`` would do (``shared.policy.offboarding.plan_reconcile``) — holders
  that left the file (``orphaned``, kept), those it revokes (``pruned``: ``prune: true``) and the
  records it writes;
* the recorded desired state (``shared.steps.desired``): whether the apply records a new one and
  the drift of the cloud from it (``shared.steps.drift.observe_drift``).

Reads run in parallel — listeners at once (``parallel``), and within a listener its clients — and
every call goes through the one retry layer and its per-product rate limiters
(``shared.adapters.retry``: the private CA at its 10 requests/s), so a plan stays within each
product's quota however wide it fans out. Dry runs (``DryRun=true``) are not writes.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from shared.adapters.kms import Kms
from shared.core.errors import AlbMtlsError
from shared.policy.desired import comparable, desired_input, same_input
from shared.policy.ids import desired_state_name
from shared.policy.offboarding import plan_reconcile
from shared.policy.plan import (
    Change,
    ClientPlan,
    FleetPlan,
    ListenerReport,
    ResourcePlan,
    client_action,
    cname_drift,
    cut_off_by_ca_change,
    has_changes,
    listener_changes,
    member_drift,
    record_changes,
)

if TYPE_CHECKING:  # pragma: no cover
    from shared.core.settings import Settings
    from shared.policy.contracts import ClientSpec, ProvisionInput
    from shared.policy.desired import DesiredState
    from shared.policy.fleet import Fleet
    from shared.policy.offboarding import ReconcilePlan
    from shared.steps.context import StepContext
    from shared.steps.preflight import Evaluation

__all__ = ["plan_listener", "plan_fleet", "DEFAULT_PARALLEL", "CLIENT_PARALLEL"]

#: listeners planned (and applied) at once
DEFAULT_PARALLEL = 4
#: clients of one listener read at once (each read waits for its product's rate limiter)
CLIENT_PARALLEL = 8


def _listener_plan(e: Evaluation) -> ResourcePlan:
    o, lp = e.o, e.plan["listener"]
    if o.existing is None:
        return ResourcePlan(action="create", changes=(
            Change(field="ListenerPort", new=o.inp.listener_port), Change(field="CaEnabled", new=True),
            Change(field="CaCertificates", new=[e.desired.ca_certificate_id]),
            Change(field="Certificates", new=[e.desired.server_certificate_id or "(new upload)"]),
            Change(field="SecurityPolicyId", new=e.desired.security_policy_id),
            Change(field="DefaultActions", new=[e.desired.server_group_id or "(new server group)"])))
    changes = listener_changes(o.existing, e.desired) if lp["action"] == "update" else ()
    return ResourcePlan(action=lp["action"], id=o.existing.id, changes=changes)


def _server_group_plan(e: Evaluation) -> ResourcePlan:
    sg, spec = e.plan["server_group"], e.o.inp.server_group
    want = tuple((s.server_id, s.port, s.weight) for s in spec.servers)
    if sg["action"] == "create":
        return ResourcePlan(action="create", changes=member_drift({}, want), detail={"name": spec.name})
    have = {(sid, port): w for sid, port, w in e.o.server_group.weights}
    changes = member_drift(have, want)       # missing, extra and reweighted members: the apply repairs all
    return ResourcePlan(action="update" if changes else "none", id=sg.get("id"), changes=changes,
                        detail={"name": spec.name})


def _dns_plan(e: Evaluation) -> ResourcePlan:
    dns, inp = e.plan["dns"], e.o.inp
    action = dns["action"]
    if action == "none" and dns.get("claim_remark"):
        action = "claim"                # an unmarked record with our value: the run marks it as ours
    current = dns.get("current")
    changes = cname_drift(current, value=dns["value"], ttl=inp.ttl) if action in ("add", "update") else ()
    return ResourcePlan(action=action, id=(current or {}).get("record_id"), changes=changes,
                        detail={"name": inp.fqdn})


def _client_plans(ctx: StepContext, inp: ProvisionInput, ca_identifier: str) -> tuple[ClientPlan, ...]:
    from shared.steps.issuance import decide, observe_client

    now = ctx.clock.now()

    def one(client: ClientSpec) -> ClientPlan:
        current = observe_client(ctx, inp.secrets(client.common_name))
        d = decide(client, current, ca_identifier, now, force=client.force_new, own_ids=set())
        return ClientPlan(common_name=client.common_name, action=client_action(d.action, d.reason), reason=d.reason)

    with ThreadPoolExecutor(max_workers=min(CLIENT_PARALLEL, max(1, len(inp.clients)))) as pool:
        return tuple(pool.map(one, inp.clients))


def _reconcile_plan(ctx: StepContext, inp: ProvisionInput) -> ReconcilePlan | None:
    """What the run's ``ReconcileClients`` would do: the same reads (``ListClientCertificate``, each
    holder's ``…/access`` record) and the same pure plan. ``None`` (unknown) when the private CA's
    list is refused."""
    from shared.steps.offboarding import holders_in_scope, read_access

    try:
        by_cn = holders_in_scope(ctx, inp)
        cns = [c.common_name for c in inp.clients]
        names = sorted(set(by_cn) | set(cns))
        with ThreadPoolExecutor(max_workers=min(CLIENT_PARALLEL, max(1, len(names)))) as pool:
            records = dict(zip(names, pool.map(lambda cn: read_access(ctx, inp.secrets(cn).access), names),
                               strict=True))
    except AlbMtlsError as exc:
        if exc.retryable:
            raise
        ctx.logger.info("holders not known", extra={"listener_key": inp.listener_key, "error_code": exc.code})
        return None
    return plan_reconcile(by_cn, cns, records, ctx.clock.now(), listener_key=inp.listener_key, prune=inp.prune)


def _record_plan(inp: ProvisionInput, recorded: DesiredState | None, region: str | None) -> ResourcePlan:
    """The desired-state record's plan: the recorded and the new input compared normalised
    (defaults written out, ``region`` the one it runs in)."""
    name = desired_state_name(inp.secret_prefix, inp.listener_key)
    if recorded is None:
        return ResourcePlan(action="create", id=name)
    if same_input(recorded, inp, region):
        return ResourcePlan(action="none", id=name)
    try:
        was: dict[str, Any] = comparable(desired_input(recorded), region)
    except AlbMtlsError:        # a record today's rules refuse: compared as it was written
        was = recorded.input
    return ResourcePlan(action="update", id=name, changes=record_changes(was, comparable(inp, region)))


def plan_listener(ctx: StepContext, inp: ProvisionInput, raw: dict[str, Any], *, path: str = "") -> ListenerReport:
    """The plan of one listener (module doc). Never raises for a refusal: it is the report's
    ``error`` (status ``error``); cloud faults past the retry layer raise ``AlbMtlsError``."""
    from shared.steps.desired import read_desired
    from shared.steps.drift import observe_drift
    from shared.steps.preflight import evaluate

    report = ListenerReport(listener_key=inp.listener_key, path=path, region=inp.region)
    try:
        recorded = read_desired(ctx.adapter(Kms), inp.secret_prefix, inp.listener_key, strict=False)
    except AlbMtlsError as exc:
        if exc.retryable:
            raise
        recorded = None
    report.desired_state = _record_plan(inp, recorded, ctx.settings.region)
    rp = _reconcile_plan(ctx, inp)
    if rp is not None:
        report.orphaned = () if inp.prune else rp.orphaned
        report.pruned, report.access_records = rp.revoke, tuple(sorted(rp.marks))
    if recorded is not None:
        try:
            report.drift = observe_drift(ctx, desired_input(recorded))
        except AlbMtlsError as exc:
            if exc.retryable:
                raise
            report.drift = ()
            ctx.logger.info("drift not known", extra={"listener_key": inp.listener_key, "error_code": exc.code})
    try:
        e = evaluate(ctx, inp)
    except AlbMtlsError as exc:
        if exc.retryable:
            raise
        report.status, report.error = "error", exc.to_dict()
        return report
    ca = e.plan["ca"]
    if ca.get("action") == "create":
        spec = inp.own_ca
        report.ca = ResourcePlan(action="create", id=ca.get("name"), detail={
            "name": ca.get("name"), "key_spec": ca.get("key_spec"), "kms_instance_id": ca.get("kms_instance_id"),
            "permitted_dns": list(spec.permitted_dns) if spec else [], "not_after": ca.get("not_after")})
    report.warnings = tuple(e.plan.get("channel_warnings") or ())
    report.listener = _listener_plan(e)
    if report.listener.action == "update":
        report.lose_access = cut_off_by_ca_change((c.field for c in report.listener.changes), report.orphaned)
    cert = e.plan["server_certificate"]
    report.server_certificate = ResourcePlan(action=cert["action"], id=cert.get("id"),
                                             detail={"mode": cert["mode"], "not_after": cert.get("not_after")})
    report.server_group = _server_group_plan(e)
    report.dns = _dns_plan(e)
    report.clients = _client_plans(ctx, inp, e.plan["ca"]["ca_identifier"])
    report.status = "changes" if has_changes(report) else "no_changes"
    return report


def plan_fleet(settings: Settings, fleet: Fleet, *, parallel: int = DEFAULT_PARALLEL,
               context: Any = None) -> FleetPlan:
    """The plan of every listener of ``fleet`` (``parallel`` at once), in the document's order.

    ``context(settings, step)``: builds each listener's step context (default
    ``shared.steps.rotation.make_context``); each listener's calls go to its own ``region``.
    A listener whose reads fail past the retry layer is reported as an error; the others go on."""
    from shared.steps.rotation import make_context

    build = context or make_context

    def one(index: int) -> ListenerReport:
        inp, raw = fleet.listeners[index], fleet.raw[index]
        s = settings.with_(region=inp.region) if inp.region and inp.region != settings.region else settings
        ctx = build(s, "fleet_plan")
        try:
            return plan_listener(ctx, inp, raw, path=fleet.path(index))
        except AlbMtlsError as exc:
            return ListenerReport(listener_key=inp.listener_key, path=fleet.path(index), region=inp.region,
                                  status="error", error=exc.to_dict())

    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(fleet)))) as pool:
        reports = list(pool.map(one, range(len(fleet))))
    errors = sum(1 for r in reports if r.status == "error")
    return FleetPlan(status="failed" if errors else "ok", changes=any(r.status == "changes" for r in reports),
                     errors=errors, listeners=reports)


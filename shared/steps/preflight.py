"""``preflight``: every read-only check before the first write of a provisioning run (zero writes).

The checks are the steps' own named chains (``shared.policy``), evaluated on the same gathered
observations, so the preflight and the steps that act can never disagree: the listener's
``TARGET_CHECKS``, the sub-CA's ``CA_CHECKS``, the DNS rules, then the listener's
``RESOURCE_CHECKS`` — each part gathered (reads only) just before its checks.

Order (the first failure is returned): the ALB exists (``LOAD_BALANCER_NOT_FOUND``) and is of the
``Standard``/``StandardWithWaf`` edition (``ALB_EDITION_UNSUPPORTED``); the listener port is free
or holds an HTTPS listener (``LISTENER_PORT_CONFLICT``); the TLS security policy exists
(``INVALID_INPUT``); the private CA (``shared.steps.issuance.preflight_ca``:
``CA_NOT_FOUND``/``CA_EXPIRES_TOO_SOON``/``CA_ALGORITHM_MISMATCH`` — in a provisioning run checked
in the issuing lane, below); no client of the input was revoked on this listener
(``shared.steps.offboarding.preflight_access``: ``CLIENT_REVOKED``); DNS
(``shared.steps.dns.preflight_dns``: ``DOMAIN_NOT_IN_ACCOUNT``/``DNS_CONFLICT``/
``APEX_CNAME_REFUSED``/``TTL_BELOW_MINIMUM``); the server certificate (``CERT_NOT_FOUND``,
``SERVER_CERT_MISMATCH``, ``SERVER_CERT_EXPIRING``, ``SECRET_NOT_FOUND``, ``INVALID_INPUT``); the
server group (``SERVER_GROUP_VPC_MISMATCH``). The CA and DNS checks come before the server
certificate: a wrong host record is the likelier mistake when both fail.

The private CA is checked by a check-only order in the issuing lane (``<execution>-check``,
``shared.steps.lane_client``): every PCA call of the automation is made there, under the account's one
PCA budget (``shared.policy.lane``). The order is placed first, so its check runs while the other
reads are made; the step answers ``pending`` (the flow loops) when the lane is busy.

Backends in the ALB's VPC (there is no ECS API in scope): a server group of that name in another
VPC is refused. When the group exists in the ALB's VPC, the servers not yet in it are checked with
``AddServersToServerGroup(DryRun=true)`` (``VpcNotMatch.BackendServer`` →
``SERVER_GROUP_VPC_MISMATCH``, ``ResourceNotFound.BackendServer`` → ``INVALID_INPUT``). When the
group does not exist yet, ``CreateServerGroup(DryRun=true)`` checks the VPC and the health-check
configuration, and the servers' VPC is checked by the first real write (``AddServersToServerGroup``
in ``enable_mutual_auth``) — the plan says so (``vpc_check``). Dry runs change nothing and are not
counted as writes.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from shared.adapters import alb, alidns
from shared.core.clock import SKEW_WARN_S, iso_utc
from shared.core.errors import AlbMtlsError
from shared.policy.checks import Violation
from shared.policy.listener import (
    RESOURCE_CHECKS,
    TARGET_CHECKS,
    DesiredListener,
    ListenerObservation,
    desired_listener,
    plan_listener,
    plan_server_certificate,
    plan_server_group,
)
from shared.policy.orders import ProvisionOrder
from shared.steps.dns import preflight_dns
from shared.steps.issuance import preflight_ca
from shared.steps.lane_client import checked, place, provision_order_name
from shared.steps.listener import gather, server_group_error
from shared.steps.offboarding import preflight_access

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from shared.policy.contracts import ProvisionInput, StepEvent
    from shared.steps.context import StepContext

__all__ = ["run", "check", "evaluate", "Evaluation", "CHECK_WAIT_S", "OWN_CA_PENDING"]

#: how long one invocation waits for the lane's CA check before answering ``pending``
CHECK_WAIT_S = 60.0
#: the listener's CA in the preflight's plan while an own CA is still to be created by EnsureOwnCa
OWN_CA_PENDING = "(the own CA's upload, made by EnsureOwnCa)"


def _dry_run_server_group(ctx: StepContext, o: ListenerObservation) -> Violation | None:
    """``CreateServerGroup(DryRun=true)`` for a group to create, ``AddServersToServerGroup(DryRun=true)``
    for the servers missing from an existing one: the cloud's refusal as a violation, or ``None``
    (an observation: the checks report it in their order)."""
    api = ctx.adapter(alb.Alb)
    spec, plan = o.inp.server_group, plan_server_group(o)
    try:
        if plan.group is None:
            api.create_server_group(name=spec.name, vpc_id=o.lb.vpc_id, protocol=spec.protocol,
                                    health_check=spec.health_check, dry_run=True)
        elif plan.missing:
            api.add_servers(plan.group.id, plan.missing, dry_run=True)
    except AlbMtlsError as err:
        if err.retryable:
            raise
        mapped = err if plan.group is None else server_group_error(err)
        return Violation(mapped.code, mapped.message, mapped.field)
    return None


def _server_group_summary(o: ListenerObservation) -> dict[str, Any]:
    plan = plan_server_group(o)
    if plan.group is None:
        return {"action": "create", "name": o.inp.server_group.name, "servers_to_add": len(plan.missing),
                "vpc_check": "servers are checked by the first write (AddServersToServerGroup)"}
    return {"action": plan.action, "id": plan.group.id, "name": o.inp.server_group.name,
            "servers_to_add": len(plan.missing), "servers_to_remove": len(plan.extra),
            "weights_to_set": len(plan.reweight), "vpc_check": "dry run" if plan.missing else "members present"}


@dataclass(frozen=True, slots=True)
class Evaluation:
    """What the preflight read and decided: the listener observation ``o`` (with the security
    policy's existence and the dry run's answer), the ``desired`` listener and the ``plan`` dict
    :func:`run` returns. The fleet plan (``shared.steps.plan``) reads it too."""

    o: ListenerObservation
    desired: DesiredListener
    plan: dict[str, Any]


def _ca_checked(ctx: StepContext, inp: ProvisionInput, check: str) -> dict[str, Any] | None:
    """The run's check-only order (placed by ``start_provision`` beside the execution, or here) and
    its CA plan, or ``None`` while it waits for the lane."""
    place(ctx, check, ProvisionOrder(input=inp, requester=ctx.execution_name, check_only=True))
    return checked(ctx, check, budget_s=CHECK_WAIT_S)


def evaluate(ctx: StepContext, inp: ProvisionInput) -> Evaluation:
    """Every read-only check, in the module doc's order, then the plans (see :func:`run`), with the
    private CA read here (``preflight_ca``: a few PCA reads outside the issuing lane) — for the
    fleet plan, ``albmtls provision``'s cloud plan and the doctor, which must not start anything.
    Raises ``AlbMtlsError`` with the codes in the module doc (the first violation)."""
    done = _evaluate(ctx, inp, lambda: preflight_ca(ctx, inp))
    assert done is not None         # preflight_ca never waits
    return done


def _evaluate(ctx: StepContext, inp: ProvisionInput,
              ca_check: Callable[[], dict[str, Any] | None]) -> Evaluation | None:
    """:func:`evaluate` with ``ca_check`` checking the private CA: a provisioning run passes its
    check order in the issuing lane, which answers ``None`` while the lane is busy — then so does
    this (the step answers ``pending``).

    Every read at once where none needs another's answer: the CA check, the clients' access
    records, the listener's reads (two rounds), the TLS policy, the zone and its records; then the
    server group's dry run. The checks still decide in their order (the first failure is raised)."""
    zones = ctx.adapter(alidns.Alidns)
    pool = ThreadPoolExecutor(6, thread_name_prefix="preflight")
    try:
        ca_f = pool.submit(ca_check)

        def folds() -> dict[str, list[str]]:
            # the holders the run's check order listed in the lane; read here when the CA was
            # checked without the lane (an own CA, the fleet plan, the doctor)
            from shared.steps.lane_client import reader_context
            from shared.steps.offboarding import holder_folds

            ca = ca_f.result()
            if ca is None:
                return {}          # the lane is busy: the step answers pending and looks again
            return ca["holder_folds"] if "holder_folds" in ca else holder_folds(reader_context(ctx), inp)

        access_f = pool.submit(preflight_access, ctx, inp, folds)
        policy_f = pool.submit(ctx.adapter(alb.Alb).security_policy_exists, inp.security_policy_id)
        zone_f = pool.submit(zones.describe_domain_info, inp.domain)
        records_f = pool.submit(zones.sub_domain_records, inp.fqdn, inp.domain)
        o = gather(ctx, inp)
        o = replace(o, security_policy_exists=policy_f.result())
        TARGET_CHECKS.enforce(o)
        dry_f = pool.submit(_dry_run_server_group, ctx, o) if o.mine is not None or not o.server_group.groups \
            else None
        ca = ca_f.result()          # CA_CHECKS, then every client's validity
        if ca is None:
            return None
        ca = {k: v for k, v in ca.items() if k != "holder_folds"}
        clients = access_f.result()     # CLIENT_REVOKED: a revoked client is not re-issued
        info = zone_f.result()
        dns = preflight_dns(ctx, inp, target=o.lb.dns_name,
                            reads=(info, records_f.result() if info is not None else None))
        if dry_f is not None:
            o = replace(o, server_group=replace(o.server_group, dry_run=dry_f.result()))
    finally:
        pool.shutdown(wait=False, cancel_futures=True)   # a refusal does not wait for the others
    RESOURCE_CHECKS.enforce(o)

    cert = plan_server_certificate(o)
    sg = _server_group_summary(o)
    # an own CA the run creates has no repository id yet: the listener plan names it by what makes it
    desired = desired_listener(inp, cert.alb_id, sg.get("id"), ca["alb_ca_certificate_id"] or OWN_CA_PENDING)
    listener_plan = plan_listener(o.existing, desired)
    listener: dict[str, Any] = {"action": listener_plan.action}
    if listener_plan.listener_id:
        listener["id"] = listener_plan.listener_id
    if listener_plan.changes:
        listener["changes"] = list(listener_plan.changes)
    lb = o.lb
    plan = {
        "load_balancer": {"id": lb.id, "edition": lb.edition, "dns_name": lb.dns_name, "vpc_id": lb.vpc_id},
        "listener": listener,
        "server_certificate": {"id": cert.alb_id, "mode": cert.mode,
                               "not_after": iso_utc(cert.not_after) if cert.not_after else None,
                               "action": "upload" if cert.needs_upload else "use",
                               **({"fingerprint_sha256": cert.fingerprint_sha256} if cert.fingerprint_sha256 else {})},
        "server_group": sg,
        "ca": ca,
        "dns": dns,
        "clients": clients,
        "channel_warnings": _channel_warnings(ctx, inp),
    }
    return Evaluation(o, desired, plan)


def _channel_warnings(ctx: StepContext, inp: ProvisionInput) -> list[dict[str, str]]:
    """A system holder's ``webhook`` that names no configured channel (``shared.policy.notify.
    webhook_warnings``): read only when a holder names one (KMS ``GetSecretValue`` of the configuration)."""
    if not any(getattr(c.holder, "webhook", None) for c in inp.clients):
        return []
    from shared.policy.notify import webhook_warnings
    from shared.steps.deliver import load_config
    conf = load_config(ctx, inp.secret_prefix)
    return webhook_warnings(inp.clients, conf.cfg, conf.problem)


def run(ev: StepEvent, ctx: StepContext) -> dict[str, Any]:
    """Check everything a provisioning run needs, read-only; returns ``{"status": "ok",
    "writes": 0, "plan": {load_balancer, listener, server_certificate, server_group, ca, dns, clients}}``,
    or ``{"status": "pending", "waiting_for": <check order>}`` while the issuing lane has not
    checked the CA yet (the flow calls again).

    ``plan.listener``: ``{action: create|update|none, id?, changes?}``; ``plan.server_certificate``:
    ``{id, mode, not_after, action: use|upload}``; ``plan.server_group``: ``{action:
    create|add_servers|update_servers|none, id?, servers_to_add, servers_to_remove?, weights_to_set?,
    vpc_check}``; ``plan.ca``/``plan.dns``: the
    summaries of ``preflight_ca``/``preflight_dns``. Source actions: ALB ``GetLoadBalancerAttribute``,
    ``ListListeners``, ``GetListenerAttribute``, ``ListSystemSecurityPolicies`` (+
    ``ListSecurityPolicies``), ``ListServerGroups``, ``ListServerGroupServers``,
    ``CreateServerGroup``/``AddServersToServerGroup`` with ``DryRun=true``; CAS
    ``GetUserCertificateDetail``/``ListCertificates``; KMS ``DescribeSecret``, ``GetSecretValue`` (the
    clients' access records); fnf ``DescribeExecution``/``StartExecution``/``GetExecutionHistory``
    (the CA's check order); plus those of the DNS checks. Raises ``AlbMtlsError`` with the codes in
    the module doc.
    """
    inp: ProvisionInput = ev.input
    check = provision_order_name(ctx, "-check")
    # an own CA makes no PCA call (its record and keys are in KMS): checked here, not in the lane
    done = _evaluate(ctx, inp, (lambda: preflight_ca(ctx, inp)) if inp.ca_id.is_own else
                     (lambda: _ca_checked(ctx, inp, check)))
    if done is None:
        ctx.logger.info("waiting for the issuing lane to check the CA", extra={"order": check})
        return {"status": "pending", "writes": 0, "waiting_for": check}
    return _passed(ctx, done.plan)


def check(ev: StepEvent, ctx: StepContext) -> dict[str, Any]:
    """:func:`run` without the issuing lane: the CA is read here (``preflight_ca``), nothing is
    started — for a plan shown before the first write (``albmtls provision --target cloud``, the
    doctor). Same result as :func:`run`."""
    return _passed(ctx, evaluate(ctx, ev.input).plan)


def _passed(ctx: StepContext, plan: dict[str, Any]) -> dict[str, Any]:
    ctx.logger.info("preflight passed", extra={"listener_action": plan["listener"]["action"],
                                                "server_group_action": plan["server_group"]["action"],
                                                "server_certificate_action": plan["server_certificate"]["action"]})
    return {"status": "ok", "writes": 0, "plan": plan,
            "warnings": [*plan["ca"].get("warnings", []), *plan.get("channel_warnings", []), *skew_warning(ctx)],
            "clock_skew_s": ctx.clock_skew_s}


def skew_warning(ctx: StepContext) -> list[dict[str, Any]]:
    """A warning when this invocation's clock differs from the cloud's by more than ``SKEW_WARN_S``
    (measured from the ``date`` header of its calls' answers: ``StepContext.clock_skew_s``)."""
    skew = ctx.clock_skew_s
    if skew is None or abs(skew) <= SKEW_WARN_S:
        return []
    where = "ahead of" if skew > 0 else "behind"
    return [{"kind": "clock_skew", "level": "warning", "clock_skew_s": skew,
             "message": f"this function's clock is {abs(skew):.0f} s {where} the cloud's (the Date header of its "
                        "answers); new certificates are backdated only 5 minutes and renewals are timed by this "
                        "clock: synchronise it (NTP)"}]

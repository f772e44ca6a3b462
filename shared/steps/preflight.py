"""``preflight``: every read-only check before the first write of a provisioning run (zero writes).

Order (the first failure is returned): the ALB exists (``LOAD_BALANCER_NOT_FOUND``) and is of the
``Standard``/``StandardWithWaf`` edition (``ALB_EDITION_UNSUPPORTED``); the listener port is free
or holds an HTTPS listener (``LISTENER_PORT_CONFLICT``); the TLS security policy exists
(``INVALID_INPUT``); the private CA (``shared.steps.issuance.preflight_ca``:
``CA_NOT_FOUND``/``CA_EXPIRES_TOO_SOON``/``CA_ALGORITHM_MISMATCH``); DNS
(``shared.steps.dns.preflight_dns``: ``DOMAIN_NOT_IN_ACCOUNT``/``DNS_CONFLICT``/
``APEX_CNAME_REFUSED``/``TTL_BELOW_MINIMUM``); the server certificate (``CERT_NOT_FOUND``,
``SERVER_CERT_MISMATCH``, ``SERVER_CERT_EXPIRING``, ``SECRET_NOT_FOUND``, ``INVALID_INPUT``); the
server group (``SERVER_GROUP_VPC_MISMATCH``). The CA and DNS checks come before the server
certificate: a wrong host record is the likelier mistake when both fail.

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

from typing import TYPE_CHECKING, Any

from shared.adapters import alb
from shared.core.clock import iso_utc
from shared.policy.contracts import ProvisionInput, StepEvent
from shared.core.errors import AlbMtlsError, Code
from shared.steps.dns import preflight_dns
from shared.steps.issuance import preflight_ca
from shared.steps.listener import (
    desired_listener,
    observe_server_certificate,
    observe_server_group,
    plan_listener,
    refuse_stopped,
    server_group_error,
)

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext

__all__ = ["run"]


def _server_group_plan(ctx: StepContext, inp: ProvisionInput, lb: alb.LoadBalancer) -> dict[str, Any]:
    state = observe_server_group(ctx, inp, lb)
    spec = inp.server_group
    if state.group is None:
        ctx.adapter(alb.Alb).create_server_group(name=spec.name, vpc_id=lb.vpc_id, protocol=spec.protocol,
                                health_check=spec.health_check, dry_run=True)
        return {"action": "create", "name": spec.name, "servers_to_add": len(state.missing),
                "vpc_check": "servers are checked by the first write (AddServersToServerGroup)"}
    if state.missing:
        try:
            ctx.adapter(alb.Alb).add_servers(state.group.id, state.missing, dry_run=True)
        except AlbMtlsError as err:
            raise server_group_error(err) from None
    return {"action": "add_servers" if state.missing else "none", "id": state.group.id, "name": spec.name,
            "servers_to_add": len(state.missing), "vpc_check": "dry run" if state.missing else "members present"}


def run(ev: StepEvent, ctx: StepContext) -> dict[str, Any]:
    """Check everything a provisioning run needs, read-only; returns ``{"status": "ok",
    "writes": 0, "plan": {load_balancer, listener, server_certificate, server_group, ca, dns}}``.

    ``plan.listener``: ``{action: create|update|none, id?, changes?}``; ``plan.server_certificate``:
    ``{id, mode, not_after, action: use|upload}``; ``plan.server_group``: ``{action:
    create|add_servers|none, id?, servers_to_add, vpc_check}``; ``plan.ca``/``plan.dns``: the
    summaries of ``preflight_ca``/``preflight_dns``. Source actions: ALB ``GetLoadBalancerAttribute``, ``ListListeners``,
    ``GetListenerAttribute``, ``ListSystemSecurityPolicies`` (+ ``ListSecurityPolicies``),
    ``ListServerGroups``, ``ListServerGroupServers``, ``CreateServerGroup``/``AddServersToServerGroup``
    with ``DryRun=true``; CAS ``GetUserCertificateDetail``/``ListCertificates``; KMS ``DescribeSecret``;
    plus those of the CA and DNS checks. Raises ``AlbMtlsError`` with the codes in the module doc.
    """
    inp = ev.input
    lb = ctx.adapter(alb.Alb).get_load_balancer(inp.load_balancer_id)
    if not lb.supports_mtls:
        plan_listener(lb.edition, None, desired_listener(inp, None, None))  # raises ALB_EDITION_UNSUPPORTED
    existing = ctx.adapter(alb.Alb).find_listener_on_port(lb.id, inp.listener_port)
    plan_listener(lb.edition, existing, desired_listener(inp, None, None))  # LISTENER_PORT_CONFLICT
    refuse_stopped(existing)
    if not ctx.adapter(alb.Alb).security_policy_exists(inp.security_policy_id):
        raise AlbMtlsError(Code.INVALID_INPUT, f"TLS security policy {inp.security_policy_id!r} does not exist; use "
                           "a system policy such as tls_cipher_policy_1_2", field="security_policy_id")

    ca = preflight_ca(ctx, inp)
    dns = preflight_dns(ctx, inp, target=lb.dns_name)

    cert = observe_server_certificate(ctx, inp, current_ids=existing.certificate_ids if existing else ())
    server_group = _server_group_plan(ctx, inp, lb)
    sg_id = server_group.get("id")
    listener_plan = plan_listener(lb.edition, existing, desired_listener(inp, cert.alb_id, sg_id))
    listener: dict[str, Any] = {"action": listener_plan.action}
    if listener_plan.listener_id:
        listener["id"] = listener_plan.listener_id
    if listener_plan.changes:
        listener["changes"] = list(listener_plan.changes)

    plan = {
        "load_balancer": {"id": lb.id, "edition": lb.edition, "dns_name": lb.dns_name, "vpc_id": lb.vpc_id},
        "listener": listener,
        "server_certificate": {"id": cert.alb_id, "mode": cert.mode,
                               "not_after": iso_utc(cert.not_after) if cert.not_after else None,
                               "action": "upload" if cert.needs_upload else "use",
                               **({"fingerprint_sha256": cert.fingerprint_sha256} if cert.fingerprint_sha256 else {})},
        "server_group": server_group,
        "ca": ca,
        "dns": dns,
    }
    ctx.logger.info("preflight passed", extra={"listener_action": listener_plan.action,
                                                "server_group_action": server_group["action"],
                                                "server_certificate_action": plan["server_certificate"]["action"]})
    return {"status": "ok", "writes": 0, "plan": plan}

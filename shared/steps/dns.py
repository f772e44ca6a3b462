"""DNS steps: the preflight's read-only DNS check and ``create_cname`` (FC ``albmtls-create-cname``).

``create_cname`` follows the one path (docs/DECISIONS.md §2): event → input → observe (the ALB's ``DNSName``,
the zone, the records on the host record) → decide (:func:`shared.policy.dns.plan_cname`) → act
(add + ownership remark / update / nothing) → read back → ask the zone's authoritative name servers
until they answer the CNAME (``pending_propagation`` meanwhile; the flow waits and calls again, and
a re-call finds the record and makes zero writes).
"""
from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from shared.adapters import alidns
from shared.adapters.alb import Alb
from shared.core.errors import AlbMtlsError, Code
from shared.policy.contracts import DnsResult, ProvisionInput, StepEvent
from shared.policy.dns import DEFAULT_LINE, canon_host, owner_remark, plan_cname

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext

__all__ = ["run", "preflight_dns", "alb_dns_name", "name_servers", "query_cname", "PROPAGATION_SLICE_S"]

PROPAGATION_SLICE_S = 10.0   # longest in-call wait for the name servers before returning pending
POLL_S = 0.5
QUERY_TIMEOUT_S = 2.0


# ---------------------------------------------------------------------------------------------
# observe helpers
# ---------------------------------------------------------------------------------------------
def alb_dns_name(ctx: StepContext, load_balancer_id: str) -> str:
    """The ALB's ``DNSName`` (``GetLoadBalancerAttribute``), the CNAME target.

    Raises ``AlbMtlsError`` ``LOAD_BALANCER_NOT_FOUND`` (unknown id) or ``CLOUD_ERROR`` when the ALB
    has no DNS name yet."""
    lb = ctx.adapter(Alb).get_load_balancer(load_balancer_id)
    if not lb.dns_name:
        raise AlbMtlsError(Code.CLOUD_ERROR, f"ALB {load_balancer_id} has no DNSName yet (status "
                           f"{lb.status}); wait until it is Active and run again", field="load_balancer_id")
    return canon_host(lb.dns_name)


def _ttl(inp: ProvisionInput) -> int:
    return int(inp.ttl or 600)


def _missing_domain_message(inp: ProvisionInput, txt: alidns.TxtVerification | None, added: bool) -> str:
    head = (f"the zone {inp.domain} was not in this Alibaba Cloud DNS account; create_cname added it (AddDomain)"
            if added else f"the zone {inp.domain} is not in this Alibaba Cloud DNS account")
    if txt is not None:
        return (f"{head}. Prove ownership: publish the TXT record RR '{txt.rr}' (host {txt.rr}.{inp.domain}) with "
                f"value '{txt.value}' at the domain's current DNS provider, delegate {inp.domain} to the zone's "
                "Alibaba name servers, then run again")
    return (f"{head}; nothing was changed. Add the zone first (Alidns console, or AddDomain: "
            f"`aliyun alidns AddDomain --DomainName {inp.domain}`), publish the TXT ownership record it asks for "
            "(GetTxtRecordForVerify) at the domain's current DNS provider, then run again — or fix `domain`")


def preflight_dns(ctx: StepContext, inp: ProvisionInput, target: str) -> dict[str, Any]:
    """Read-only DNS check for the preflight step.

    Parameters: ``inp`` the provision input; ``target`` the ALB ``DNSName`` (CNAME value).
    Calls ``DescribeDomainInfo`` and ``DescribeSubDomainRecords`` only.

    Returns the plan ``{"action": "add"|"update"|"none", "record_id"?, "ttl", "value", "rr", "line"}``.

    Raises ``AlbMtlsError``: ``DOMAIN_NOT_IN_ACCOUNT`` (says what create_cname would do — preflight
    adds nothing), ``APEX_CNAME_REFUSED``, ``TTL_BELOW_MINIMUM``, ``DNS_CONFLICT``.
    """
    info = ctx.adapter(alidns.Alidns).describe_domain_info(inp.domain)
    if info is None:
        raise AlbMtlsError(Code.DOMAIN_NOT_IN_ACCOUNT, _missing_domain_message(inp, None, False), field="domain")
    records = ctx.adapter(alidns.Alidns).sub_domain_records(inp.fqdn, inp.domain)
    plan = plan_cname(records, rr=inp.rr, domain=inp.domain, value=target, ttl=_ttl(inp), min_ttl=info.min_ttl,
                      listener_key=inp.listener_key, allow_apex=inp.allow_apex,
                      replace_owned=inp.replace_owned_records)
    return plan.to_dict()


# ---------------------------------------------------------------------------------------------
# propagation
# ---------------------------------------------------------------------------------------------
def name_servers(ctx: StepContext, info: alidns.DomainInfo | None) -> list[tuple[str, int]]:
    """``(ip, port)`` of the servers to ask: ``settings.dns_server_address()`` when set (the local
    cloud's DNS server), else the zone's ``DnsServers`` resolved to IPv4 addresses (port 53)."""
    local = ctx.settings.dns_server_address()
    if local is not None:
        return [local]
    out: list[tuple[str, int]] = []
    for host in (info.dns_servers if info else ()):
        try:
            for _, _, _, _, sa in socket.getaddrinfo(host, 53, socket.AF_INET, socket.SOCK_DGRAM):
                if (sa[0], 53) not in out:
                    out.append((sa[0], 53))
        except OSError:
            ctx.logger.warning("name server does not resolve", extra={"name_server": host})
    return out


def query_cname(servers: list[tuple[str, int]], fqdn: str, *, timeout: float = QUERY_TIMEOUT_S) -> str | None:
    """The CNAME target ``fqdn`` has at the first server that answers (lower case, no final dot), or
    ``None`` (NXDOMAIN, no CNAME, no server answered). Uses dnspython ``Resolver(configure=False)``."""
    import dns.exception
    import dns.rdatatype
    import dns.resolver

    for host, port in servers:
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = [host]
        r.port = port
        r.lifetime = timeout
        r.timeout = timeout
        r.cache = None
        try:
            ans = r.resolve(fqdn, "CNAME", raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return None
        except (dns.exception.DNSException, OSError):
            continue
        for rrset in ans.response.answer:
            if rrset.rdtype == dns.rdatatype.CNAME and canon_host(rrset.name.to_text()) == canon_host(fqdn):
                for rd in rrset:
                    return canon_host(rd.target.to_text())
        return None
    return None


def _wait_propagated(ctx: StepContext, servers: list[tuple[str, int]], fqdn: str, target: str) -> bool:
    """Ask ``servers`` every :data:`POLL_S` until they answer ``fqdn CNAME target``, for at most
    :data:`PROPAGATION_SLICE_S` (and never so long that the result misses ``ctx.deadline``)."""
    budget = ctx.deadline.slice(max(0.0, min(PROPAGATION_SLICE_S, ctx.deadline.remaining() - QUERY_TIMEOUT_S - 1)))
    _, ok = ctx.waiter.poll(lambda: query_cname(servers, fqdn), lambda got: got == target, budget, interval=POLL_S)
    return ok


# ---------------------------------------------------------------------------------------------
# the step
# ---------------------------------------------------------------------------------------------
def run(event: StepEvent, ctx: StepContext) -> dict[str, Any]:
    """``create_cname``: make ``<rr>.<domain> CNAME <ALB DNSName>`` hold and wait for propagation.

    Event: :class:`~shared.policy.contracts.StepEvent`. Cloud calls: ALB ``GetLoadBalancerAttribute``;
    Alidns ``DescribeDomainInfo``, ``AddDomain`` + ``GetTxtRecordForVerify`` (zone missing),
    ``DescribeSubDomainRecords``, ``AddDomainRecord`` + ``UpdateDomainRecordRemark`` (new record,
    TTL ``input.ttl`` s, line ``default``, remark ``alb-mtls:<listener key>``) or
    ``UpdateDomainRecord`` (our record pointing elsewhere); then DNS queries to the zone's name
    servers.

    Returns ``{"status": "ok"|"pending_propagation", "writes": int, "attempt": attempt + 1,
    "dns": DnsResult}``. Raises ``AlbMtlsError``: ``DOMAIN_NOT_IN_ACCOUNT`` (after adding the zone;
    the message gives the TXT record to publish), ``DNS_CONFLICT``, ``APEX_CNAME_REFUSED``,
    ``TTL_BELOW_MINIMUM``, ``LOAD_BALANCER_NOT_FOUND``.
    """
    inp = event.input
    attempt = event.attempt + 1
    writes = 0
    target = alb_dns_name(ctx, inp.load_balancer_id)

    info = ctx.adapter(alidns.Alidns).describe_domain_info(inp.domain)
    if info is None:
        if inp.rr == "@" and not inp.allow_apex:   # refuse before any write
            plan_cname([], rr=inp.rr, domain=inp.domain, value=target, ttl=_ttl(inp), min_ttl=1,
                       listener_key=inp.listener_key)
        added = ctx.adapter(alidns.Alidns).add_domain(inp.domain)
        txt = ctx.adapter(alidns.Alidns).get_txt_record_for_verify(inp.domain, "ADD_SUB_DOMAIN")
        ctx.logger.info("zone added; ownership TXT needed", extra={"domain": inp.domain, "added": added})
        raise AlbMtlsError(Code.DOMAIN_NOT_IN_ACCOUNT, _missing_domain_message(inp, txt, added), field="domain",
                           details={"writes": int(added), "txt_rr": txt.rr, "txt_value": txt.value})

    records = ctx.adapter(alidns.Alidns).sub_domain_records(inp.fqdn, inp.domain)
    plan = plan_cname(records, rr=inp.rr, domain=inp.domain, value=target, ttl=_ttl(inp), min_ttl=info.min_ttl,
                      listener_key=inp.listener_key, allow_apex=inp.allow_apex,
                      replace_owned=inp.replace_owned_records)
    remark = owner_remark(inp.listener_key)
    record_id = plan.record_id
    if plan.action == "add":
        record_id, added = ctx.adapter(alidns.Alidns).add_record(inp.domain, plan.rr, "CNAME", target, ttl=plan.ttl,
                                             line=plan.line)
        writes += int(added)
        ctx.adapter(alidns.Alidns).update_remark(record_id, remark)
        writes += 1
    elif plan.action == "update":
        assert record_id is not None
        writes += int(ctx.adapter(alidns.Alidns).update_record(record_id, plan.rr, "CNAME", target, ttl=plan.ttl,
                                                               line=plan.line))
        if plan.claim_remark:
            ctx.adapter(alidns.Alidns).update_remark(record_id, remark)
            writes += 1
    elif plan.claim_remark and record_id:
        ctx.adapter(alidns.Alidns).update_remark(record_id, remark)
        writes += 1
    ctx.logger.info("dns plan applied", extra={"action": plan.action, "writes": writes, "record_id": record_id})

    # read back
    now = [r for r in ctx.adapter(alidns.Alidns).sub_domain_records(inp.fqdn, inp.domain, line=DEFAULT_LINE)
           if r.type == "CNAME" and r.rr == plan.rr and canon_host(r.value) == target]
    if not now:
        raise AlbMtlsError(Code.CLOUD_ERROR, f"the CNAME {inp.fqdn} → {target} is not there after writing it "
                           "(changed concurrently?); run again", details={"writes": writes})
    rec = now[0]

    servers = name_servers(ctx, info)
    propagated = bool(servers) and _wait_propagated(ctx, servers, inp.fqdn, target)
    dns_result = DnsResult(record_id=rec.record_id, rr=rec.rr, domain=inp.domain, type="CNAME", value=rec.value,
                           ttl=rec.ttl, propagated=propagated)
    return {"status": "ok" if propagated else "pending_propagation", "writes": writes, "attempt": attempt,
            "dns": dns_result}

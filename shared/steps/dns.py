"""DNS steps: the preflight's read-only DNS check and ``create_cname`` (FC ``albmtls-create-cname``).

``create_cname`` follows the one path (docs/DECISIONS.md §2): event → input → observe (the ALB's ``DNSName``,
the zone, the records on the host record) → decide (:func:`shared.policy.dns.plan_cname`) → act
(add + ownership remark / update / nothing) → read back → ask every authoritative name server of
the zone until each answers the CNAME (``pending_propagation`` meanwhile; the flow waits and calls
again, and a re-call finds the record and makes zero writes).

The wait is bounded in time, not in attempts: the flow passes back ``since`` (the first call's
time), and past :func:`shared.policy.dns.propagation_bound` — the longer of the record's TTL and
the zone's negative-caching time, min(SOA TTL, SOA MINIMUM) read with a DNS query since no Alidns
API returns the SOA (docs/ALIBABA-APIS.md §3.5) — a server that still does not answer fails the
step with ``DNS_NOT_PROPAGATED`` naming it. The result says which servers were asked, which
answered and how long it waited.
"""
from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.adapters import alidns
from shared.adapters.alb import Alb
from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, Code
from shared.policy.contracts import DnsResult, PropagationResult, ProvisionInput, StepEvent
from shared.policy.dns import (
    DEFAULT_LINE,
    DEFAULT_NEGATIVE_TTL,
    DnsRecord,
    canon_host,
    negative_ttl,
    owner_remark,
    plan_cname,
    propagation_bound,
)

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from shared.steps.context import StepContext

__all__ = ["run", "preflight_dns", "current_cname", "alb_dns_name", "name_servers", "query_cname", "query_soa",
           "NameServer",
           "PROPAGATION_SLICE_S"]

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


def preflight_dns(ctx: StepContext, inp: ProvisionInput, target: str,
                  reads: tuple[Any, Any] | None = None) -> dict[str, Any]:
    """Read-only DNS check for the preflight step.

    Parameters: ``inp`` the provision input; ``target`` the ALB ``DNSName`` (CNAME value);
    ``reads``: ``(DescribeDomainInfo, DescribeSubDomainRecords)`` when the caller read them already
    (the preflight reads them beside its other reads; neither needs the other).

    Returns the plan ``{"action": "add"|"update"|"none", "record_id"?, "ttl", "value", "rr", "line"}``.

    Raises ``AlbMtlsError``: ``DOMAIN_NOT_IN_ACCOUNT`` (says what create_cname would do — preflight
    adds nothing), ``APEX_CNAME_REFUSED``, ``TTL_BELOW_MINIMUM``, ``DNS_CONFLICT``.
    """
    info, records = reads if reads is not None else (ctx.adapter(alidns.Alidns).describe_domain_info(inp.domain),
                                                     None)
    if info is None:
        raise AlbMtlsError(Code.DOMAIN_NOT_IN_ACCOUNT, _missing_domain_message(inp, None, False), field="domain")
    if records is None:
        records = ctx.adapter(alidns.Alidns).sub_domain_records(inp.fqdn, inp.domain)
    plan = plan_cname(records, rr=inp.rr, domain=inp.domain, value=target, ttl=_ttl(inp), min_ttl=info.min_ttl,
                      listener_key=inp.listener_key, allow_apex=inp.allow_apex,
                      replace_owned=inp.replace_owned_records)
    out = plan.to_dict()
    now = current_cname(records, inp.rr)
    if now is not None:
        out["current"] = {"record_id": now.record_id, "value": now.value, "ttl": now.ttl, "remark": now.remark}
    if plan.claim_remark:
        out["claim_remark"] = True
    return out


def current_cname(records: list[DnsRecord], rr: str) -> DnsRecord | None:
    """The CNAME on host record ``rr``, line ``default``, among ``records`` (or ``None``)."""
    return next((r for r in records if r.rr == rr and r.line == DEFAULT_LINE and r.type == "CNAME"), None)


# ---------------------------------------------------------------------------------------------
# propagation
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class NameServer:
    """One authoritative name server to ask; ``str()`` names it for results and messages
    (``dns29.hichina.com (203.0.113.53:53)``)."""

    name: str
    ip: str
    port: int = 53

    @property
    def address(self) -> tuple[str, int]:
        return self.ip, self.port

    def __str__(self) -> str:
        where = f"{self.ip}:{self.port}"
        return where if self.name == where else f"{self.name} ({where})"


def name_servers(ctx: StepContext, info: alidns.DomainInfo | None) -> list[NameServer]:
    """The servers to ask: ``settings.dns_server_address()`` when set (the local cloud's DNS server),
    else each of the zone's ``DnsServers`` at its first IPv4 address (port 53)."""
    local = ctx.settings.dns_server_address()
    if local is not None:
        return [NameServer(f"{local[0]}:{local[1]}", local[0], local[1])]
    out: list[NameServer] = []
    for host in (info.dns_servers if info else ()):
        try:
            infos = socket.getaddrinfo(host, 53, socket.AF_INET, socket.SOCK_DGRAM)
        except OSError:
            ctx.logger.warning("name server does not resolve", extra={"name_server": host})
            continue
        if infos:
            out.append(NameServer(canon_host(host), str(infos[0][4][0]), 53))
    return out


def _resolver(server: NameServer, timeout: float) -> Any:
    import dns.resolver

    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [server.address[0]]
    r.port = server.address[1]
    r.lifetime = timeout
    r.timeout = timeout
    r.cache = None
    return r


def ask_cname(server: NameServer, fqdn: str, *, timeout: float = QUERY_TIMEOUT_S) -> str | None:
    """The CNAME target ``server`` answers for ``fqdn`` (lower case, no final dot), or ``None``
    (NXDOMAIN, no CNAME, no answer). Uses dnspython ``Resolver(configure=False)``."""
    import dns.exception
    import dns.rdatatype
    import dns.resolver

    try:
        ans = _resolver(server, timeout).resolve(fqdn, "CNAME", raise_on_no_answer=False)
    except (dns.exception.DNSException, OSError):
        return None
    for rrset in ans.response.answer:
        if rrset.rdtype == dns.rdatatype.CNAME and canon_host(rrset.name.to_text()) == canon_host(fqdn):
            for rd in rrset:
                return canon_host(rd.target.to_text())
    return None


def query_cname(servers: list[NameServer], fqdn: str, *, timeout: float = QUERY_TIMEOUT_S) -> str | None:
    """The CNAME target the first answering server of ``servers`` gives ``fqdn`` (see :func:`ask_cname`)."""
    for server in servers:
        got = ask_cname(server, fqdn, timeout=timeout)
        if got is not None:
            return got
    return None


def query_soa(servers: list[NameServer], zone: str, *, timeout: float = QUERY_TIMEOUT_S) -> tuple[int, int] | None:
    """``(SOA TTL, SOA MINIMUM)`` of ``zone`` from the first server that answers, or ``None``. No
    Alidns API returns the SOA (docs/ALIBABA-APIS.md §3.5): a DNS query is the only way."""
    import dns.exception
    import dns.rdatatype

    for server in servers:
        try:
            ans = _resolver(server, timeout).resolve(zone, "SOA", raise_on_no_answer=False)
        except (dns.exception.DNSException, OSError):
            continue
        for rrset in ans.response.answer:
            if rrset.rdtype == dns.rdatatype.SOA:
                for rd in rrset:
                    return int(rrset.ttl), int(rd.minimum)
    return None


def _answering(servers: list[NameServer], fqdn: str, target: str) -> list[NameServer]:
    return [s for s in servers if ask_cname(s, fqdn) == target]


def _wait_propagated(ctx: StepContext, servers: list[NameServer], fqdn: str, target: str) -> list[NameServer]:
    """Ask ``servers`` every :data:`POLL_S` until each answers ``fqdn CNAME target``, for at most
    :data:`PROPAGATION_SLICE_S` (and never so long that the result misses ``ctx.deadline``);
    returns the servers that answered at the last ask."""
    budget = ctx.deadline.slice(max(0.0, min(PROPAGATION_SLICE_S, ctx.deadline.remaining() - QUERY_TIMEOUT_S - 1)))
    answered, _ = ctx.waiter.poll(lambda: _answering(servers, fqdn, target), lambda got: len(got) == len(servers),
                                  budget, interval=POLL_S)
    return list(answered or [])


def _since(ev: StepEvent, now: datetime) -> datetime:
    """When the propagation wait began: the ``since`` the flow passes back (the first call's time),
    or ``now`` on the first call (or when it is unreadable or in the future)."""
    text = getattr(ev, "since", "") or ""
    try:
        since = parse_iso(text) if text else now
    except (AlbMtlsError, ValueError):
        return now
    return min(since, now)


# ---------------------------------------------------------------------------------------------
# the step
# ---------------------------------------------------------------------------------------------
def run(event: StepEvent, ctx: StepContext) -> dict[str, Any]:
    """``create_cname``: make ``<rr>.<domain> CNAME <ALB DNSName>`` hold and wait for propagation.

    Event: :class:`~shared.policy.contracts.CnameEvent` (a ``StepEvent`` with ``since``). Cloud calls:
    ALB ``GetLoadBalancerAttribute``;
    Alidns ``DescribeDomainInfo``, ``AddDomain`` + ``GetTxtRecordForVerify`` (zone missing),
    ``DescribeSubDomainRecords``, ``AddDomainRecord`` + ``UpdateDomainRecordRemark`` (new record,
    TTL ``input.ttl`` s, line ``default``, remark ``alb-mtls:<listener key>``) or
    ``UpdateDomainRecord`` (our record pointing elsewhere); then DNS queries to the zone's name
    servers.

    Returns ``{"status": "ok"|"pending_propagation", "writes": int, "attempt": attempt + 1,
    "since": ISO UTC (the flow passes it back), "dns": DnsResult}`` (``dns.propagation``: the
    servers asked, those that answered, how long it waited). Raises ``AlbMtlsError``:
    ``DOMAIN_NOT_IN_ACCOUNT`` (after adding the zone; the message gives the TXT record to publish),
    ``DNS_CONFLICT``, ``APEX_CNAME_REFUSED``, ``TTL_BELOW_MINIMUM``, ``LOAD_BALANCER_NOT_FOUND``,
    ``DNS_NOT_PROPAGATED`` (a name server still silent past the bound, named).
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
    on_host = [r for r in ctx.adapter(alidns.Alidns).sub_domain_records(inp.fqdn, inp.domain, line=DEFAULT_LINE)
               if r.rr == plan.rr]
    now = [r for r in on_host if r.type == "CNAME" and canon_host(r.value) == target]
    if not now:
        read = "; ".join(r.describe() for r in on_host) or "no record"
        raise AlbMtlsError(Code.DRIFT_AFTER_APPLY, f"{inp.fqdn} (line {DEFAULT_LINE}) reads back other than what "
                           f"was written: wrote CNAME {target}, read {read}. Another writer changed it meanwhile; "
                           "run again (our record is found and repaired, someone else's is refused)", field="rr",
                           details={"writes": writes, "drift": [{"field": "Value", "written": target,
                                                                 "read": [r.value for r in on_host]}]})
    rec = now[0]

    servers = name_servers(ctx, info)
    propagation = _propagation(ctx, event, info, servers, inp, target, rec.ttl)
    propagated = bool(servers) and len(propagation.answered) == len(servers)
    dns_result = DnsResult(record_id=rec.record_id, rr=rec.rr, domain=inp.domain, type="CNAME", value=rec.value,
                           ttl=rec.ttl, propagated=propagated, propagation=propagation)
    return {"status": "ok" if propagated else "pending_propagation", "writes": writes, "attempt": attempt,
            "since": propagation.since, "dns": dns_result}


def _propagation(ctx: StepContext, event: StepEvent, info: alidns.DomainInfo, servers: list[NameServer],
                 inp: ProvisionInput, target: str, ttl: int) -> PropagationResult:
    """Ask every server (a bounded slice of this call), and fail with ``DNS_NOT_PROPAGATED`` once
    :func:`propagation_bound` has passed since the wait began and some server still does not answer
    (module doc)."""
    since = _since(event, ctx.clock.now())
    soa = query_soa(servers, inp.domain)
    neg = negative_ttl(*soa) if soa else None
    neg_s = DEFAULT_NEGATIVE_TTL if neg is None else neg
    bound = propagation_bound(ttl, neg_s)
    answered = _wait_propagated(ctx, servers, inp.fqdn, target) if servers else []
    waited = max(0.0, (ctx.clock.now() - since).total_seconds())
    result = PropagationResult(name_servers=[str(s) for s in servers], answered=[str(s) for s in answered],
                               since=iso_utc(since), waited_s=round(waited, 1), ttl_s=ttl, negative_ttl_s=neg_s,
                               negative_ttl_source="soa" if neg is not None else "default", bound_s=bound)
    ctx.logger.info("propagation", extra={"name_servers": result.name_servers, "answered": result.answered,
                                          "waited_s": result.waited_s, "bound_s": bound})
    missing = [str(s) for s in servers if s not in answered]
    if (missing or not servers) and waited >= bound:
        who = ", ".join(missing) if servers else f"no name server of {inp.domain} resolves ({info.dns_servers})"
        raise AlbMtlsError(Code.DNS_NOT_PROPAGATED,
                           f"{inp.fqdn} CNAME {target} is in Alibaba Cloud DNS, but after {waited:.0f} s (the bound: "
                           f"the longer of its TTL {ttl} s and the zone's negative-caching time {neg_s} s) these "
                           f"authoritative name servers still do not answer it: {who}. Check that {inp.domain} is "
                           "delegated to the zone's name servers (DescribeDomainInfo.DnsServers), then run again",
                           field="domain", details={"waited_s": round(waited, 1), "bound_s": bound,
                                                    "missing": missing})
    return result

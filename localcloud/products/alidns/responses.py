"""The Alidns (2015-01-09) actions: parameters → ``models`` → SDK-shaped bodies."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alibabacloud_alidns20150109 import models as m

from ... import errors
from ...registry import Ctx, action, shape
from . import models
from .exceptions import InvalidDomainNameFormat, InvalidDomainNameNoExist, InvalidLine, InvalidType
from .models import (
    ALL_TTLS,
    DEFAULT_TTL,
    DOMAIN,
    LINE_CODES,
    LINES,
    MAX_TTL,
    RECORD_TYPES,
    VERSION,
    add_record,
    check_rr,
    check_ttl,
    check_value,
    domain_out,
    existing_record,
    existing_zone,
    norm_name,
    record_out,
    records_at,
    txt_for_verify,
    valid_domain,
    zone_for,
)

if TYPE_CHECKING:
    from ...protocol import Params


def _page(p: Params, max_size: int) -> tuple[int, int]:
    return (p.int("PageNumber", default=1, min=1, max=10**6),
            p.int("PageSize", default=20, min=1, max=max_size))


def _record_fields(p: Params, zone: dict[str, Any]) -> tuple[str, str, str, int, str, int | None]:
    rr = check_rr(p.str("RR", required=True))
    rtype = p.str("Type", required=True).strip().upper()
    if rtype not in RECORD_TYPES:
        raise InvalidType()
    value = check_value(rtype, p.str("Value", required=True))
    ttl = p.int("TTL", default=DEFAULT_TTL)
    check_ttl(zone, ttl)
    line = p.str("Line", default="default")
    if line not in LINE_CODES:
        raise InvalidLine()
    priority = None
    if rtype == "MX":
        priority = p.int("Priority", required=True, min=1, max=50)
    return rr, rtype, value, ttl, line, priority


# ----------------------------------------------------------------------------------------------
# actions: zones
@action("alidns", VERSION, "DescribeDomains")
def describe_domains(ctx: Ctx, p: Params) -> dict[str, Any]:
    number, size = _page(p, 100)
    keyword = (p.str("KeyWord") or "").lower()
    mode = (p.str("SearchMode") or "LIKE").upper()
    if mode not in ("LIKE", "EXACT"):
        raise errors.InvalidParameter("SearchMode", "Valid values: LIKE, EXACT.")
    docs = ctx.store.list(DOMAIN)
    if keyword:
        docs = [d for d in docs if (d["DomainName"] == keyword if mode == "EXACT" else keyword in d["DomainName"])]
    page = docs[(number - 1) * size: number * size]
    return shape(m.DescribeDomainsResponseBody, {
        "Domains": {"Domain": [domain_out(ctx.store, d) for d in page]},
        "TotalCount": len(docs), "PageNumber": number, "PageSize": size})


@action("alidns", VERSION, "DescribeDomainInfo")
def describe_domain_info(ctx: Ctx, p: Params) -> dict[str, Any]:
    doc = existing_zone(ctx.store, p.str("DomainName", required=True))
    detail = p.bool("NeedDetailAttributes", default=False)
    min_ttl = int(doc.get("MinTtl") or 600)
    body: dict[str, Any] = {
        "DomainId": doc["DomainId"], "DomainName": doc["DomainName"],
        "DnsServers": {"DnsServer": list(doc.get("DnsServers") or [])},
        "VersionCode": doc.get("VersionCode"), "VersionName": doc.get("VersionName"), "MinTtl": min_ttl,
        "AvailableTtls": {"AvailableTtl": [str(t) for t in ALL_TTLS if min_ttl <= t <= MAX_TTL]},
        "LineType": "default", "AliDomain": False, "InBlackHole": False, "InClean": False, "SlaveDns": False,
        "RegionLines": False, "SubDomain": zone_for(ctx.store, doc["DomainName"].split(".", 1)[1]) is not None
        if doc["DomainName"].count(".") >= 2 else False,
        "Remark": doc.get("Remark") or None,
    }
    if detail:
        body["RecordLines"] = {"RecordLine": [
            {"LineCode": c, "LineName": n, "LineDisplayName": dn, **({"FatherCode": f} if f else {})}
            for c, n, dn, f in LINES]}
    return shape(m.DescribeDomainInfoResponseBody, body)


@action("alidns", VERSION, "AddDomain", write=True)
def add_domain_action(ctx: Ctx, p: Params) -> dict[str, Any]:
    name = norm_name(p.str("DomainName", required=True))
    doc = models.add_domain_checked(ctx.store, name)
    return shape(m.AddDomainResponseBody, {
        "DomainId": doc["DomainId"], "DomainName": name, "DnsServers": {"DnsServer": doc["DnsServers"]}})


@action("alidns", VERSION, "GetTxtRecordForVerify")
def get_txt_record_for_verify(ctx: Ctx, p: Params) -> dict[str, Any]:
    vtype = p.str("Type", required=True).strip().upper()
    if vtype not in ("ADD_SUB_DOMAIN", "ADD_SUBDOMAIN", "RETRIEVAL"):
        raise errors.InvalidParameter("Type", "Valid values: ADD_SUB_DOMAIN, RETRIEVAL.")
    domain = p.str("DomainName")
    if domain is not None:
        domain = norm_name(domain)
        if not valid_domain(domain):
            raise InvalidDomainNameFormat()
    body: dict[str, Any] = dict(txt_for_verify(vtype, domain))
    if domain:
        body["DomainName"] = domain
        body["ParentDomainName"] = domain.rsplit(".", 1)[-1]
    return shape(m.GetTxtRecordForVerifyResponseBody, body)


# ----------------------------------------------------------------------------------------------
# actions: records
@action("alidns", VERSION, "DescribeSubDomainRecords")
def describe_sub_domain_records(ctx: Ctx, p: Params) -> dict[str, Any]:
    sub = norm_name(p.str("SubDomain", required=True))
    number, size = _page(p, 100)
    domain = p.str("DomainName")
    if domain:
        zone = existing_zone(ctx.store, domain)
        zname = zone["DomainName"]
        if sub == zname:
            rr = "@"
        elif sub.endswith("." + zname):
            rr = sub[: -len(zname) - 1]
        else:
            raise errors.InvalidParameter("SubDomain", f"The subdomain is not under {zname}.")
    else:
        # Without DomainName the service looks the host up in the main domain (SDK doc).
        found = zone_for(ctx.store, sub, shortest=True)
        if found is None:
            raise InvalidDomainNameNoExist()
        zone, rr = found
        zname = zone["DomainName"]
    rtype = p.str("Type")
    line = p.str("Line")
    recs = records_at(ctx.store, zname, rr, type=rtype.upper() if rtype else None, line=line)
    page = recs[(number - 1) * size: number * size]
    return shape(m.DescribeSubDomainRecordsResponseBody, {
        "DomainRecords": {"Record": [record_out(r) for r in page]},
        "TotalCount": len(recs), "PageNumber": number, "PageSize": size})


def _contains(hay: Any, needle: str) -> bool:
    return needle.lower() in str(hay or "").lower()


@action("alidns", VERSION, "DescribeDomainRecords")
def describe_domain_records(ctx: Ctx, p: Params) -> dict[str, Any]:
    zone = existing_zone(ctx.store, p.str("DomainName", required=True))
    number, size = _page(p, 500)
    keyword = p.str("KeyWord")
    mode = (p.str("SearchMode") or ("LIKE" if keyword else "")).upper()
    if mode and mode not in ("LIKE", "EXACT", "ADVANCED", "COMBINATION"):
        raise errors.InvalidParameter("SearchMode", "Valid values: LIKE, EXACT, ADVANCED, COMBINATION.")
    recs = records_at(ctx.store, zone["DomainName"])
    if mode in ("LIKE", "EXACT"):
        if keyword:
            kw = keyword.lower()
            if mode == "EXACT":
                recs = [r for r in recs if r["RR"] == kw or str(r["Value"]).lower() == kw]
            else:
                recs = [r for r in recs if _contains(r["RR"], kw) or _contains(r["Value"], kw)]
    else:
        exact = mode == "COMBINATION"
        rrk, vk = p.str("RRKeyWord"), p.str("ValueKeyWord")
        tk, rtype, line, status = p.str("TypeKeyWord"), p.str("Type"), p.str("Line"), p.str("Status")
        if rrk:
            recs = [r for r in recs if (r["RR"] == rrk.lower() if exact else _contains(r["RR"], rrk))]
        if vk:
            recs = [r for r in recs if (str(r["Value"]).lower() == vk.lower() if exact else _contains(r["Value"], vk))]
        for t in (tk, rtype):
            if t:
                recs = [r for r in recs if r["Type"] == t.upper()]
        if line:
            recs = [r for r in recs if r["Line"] == line]
        if status:
            recs = [r for r in recs if r["Status"] == status.upper()]
    direction = (p.str("Direction") or "DESC").upper()
    if direction not in ("DESC", "ASC"):
        raise errors.InvalidParameter("Direction", "Valid values: DESC, ASC.")
    if direction == "DESC":
        recs = list(reversed(recs))
    page = recs[(number - 1) * size: number * size]
    return shape(m.DescribeDomainRecordsResponseBody, {
        "DomainRecords": {"Record": [record_out(r, timestamps=True) for r in page]},
        "TotalCount": len(recs), "PageNumber": number, "PageSize": size})


@action("alidns", VERSION, "AddDomainRecord", write=True)
def add_domain_record(ctx: Ctx, p: Params) -> dict[str, Any]:
    zone = existing_zone(ctx.store, p.str("DomainName", required=True))
    rr, rtype, value, ttl, line, priority = _record_fields(p, zone)
    doc = add_record(ctx.store, ctx.clock.now_ms(), zone["DomainName"], rr, rtype, value, ttl=ttl, line=line,
                     priority=priority)
    return shape(m.AddDomainRecordResponseBody, {"RecordId": doc["RecordId"]})


@action("alidns", VERSION, "UpdateDomainRecord", write=True)
def update_domain_record(ctx: Ctx, p: Params) -> dict[str, Any]:
    rec = existing_record(ctx.store, p.str("RecordId", required=True))
    zone_doc = existing_zone(ctx.store, rec["DomainName"])
    rr, rtype, value, ttl, line, priority = _record_fields(p, zone_doc)
    models.update_record(ctx.store, ctx.clock.now_ms(), rec, rr, rtype, value, ttl, line, priority)
    return shape(m.UpdateDomainRecordResponseBody, {"RecordId": rec["RecordId"]})


@action("alidns", VERSION, "UpdateDomainRecordRemark", write=True)
def update_domain_record_remark(ctx: Ctx, p: Params) -> dict[str, Any]:
    rec = existing_record(ctx.store, p.str("RecordId", required=True))
    models.set_remark(ctx.store, ctx.clock.now_ms(), rec, p.str("Remark", max_len=500))
    return shape(m.UpdateDomainRecordRemarkResponseBody, {})


@action("alidns", VERSION, "DeleteDomainRecord", write=True)
def delete_domain_record(ctx: Ctx, p: Params) -> dict[str, Any]:
    rec = existing_record(ctx.store, p.str("RecordId", required=True))
    models.delete_record(ctx.store, rec)
    return shape(m.DeleteDomainRecordResponseBody, {"RecordId": rec["RecordId"]})



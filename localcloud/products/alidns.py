"""Alibaba Cloud DNS (Alidns, API version ``2015-01-09``): zones and records.

State (``localcloud/SCHEMA.md``): ``dns.domain`` keyed by ``DomainName``, ``dns.record`` keyed
by ``RecordId`` (a string) with ``key2 = DomainName``. The DNS server (``localruntime/dnsserver.py``)
reads the same documents on every query, so a change here is visible on the next query.

Behaviour (``reference/alibaba-apis.md`` §3):

- lists wrapped as the real API wraps them (``DomainRecords.Record[]``, ``Domains.Domain[]``,
  ``DnsServers.DnsServer[]``), paging with ``PageNumber``/``PageSize``/``TotalCount``;
- ``DomainRecordDuplicate`` on an identical add (same RR, Type, Line, Value) and on an update that
  changes nothing; ``DomainRecordConflict`` per the conflict rules of §3.3 (CNAME against any
  other type on the same RR + Line, relaxed at the apex for MX/TXT);
- TTL outside the zone edition's range → ``QuotaExceeded.TTL`` (free edition: 600–86400 s);
- unknown zone → ``InvalidDomainName.NoExist``; unknown record → ``DomainRecordNotBelongToUser``;
- ``AddDomain`` adds a zone (``verified: false``); ``GetTxtRecordForVerify`` returns the TXT host
  record and value to publish; ``check_verification`` flips ``verified`` once that TXT is served.

Helpers others may use: ``zone_for`` (the zone of a FQDN), ``fqdn``, ``records_at``,
``add_record`` (seed records without the API), ``txt_for_verify``, ``check_verification``.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from typing import TYPE_CHECKING, Any

from alibabacloud_alidns20150109 import models as m

from .. import errors
from ..protocol import Params
from ..registry import Ctx, action, shape

if TYPE_CHECKING:  # pragma: no cover
    from ..emulator import Emulator
    from ..store import Store

VERSION = "2015-01-09"
DOMAIN = "dns.domain"
RECORD = "dns.record"

# Codes and behaviours that are not confirmed by a documented source (reference §3.4 lists the
# confirmed ones: DomainRecordDuplicate, DomainRecordConflict, DomainRecordLocked,
# InvalidDomainName.NoExist, InvalidDomainName.Format, DomainRecordNotBelongToUser;
# QuotaExceeded.TTL with "A valid TTL must be in the range of 600 to 86400" is seen in public
# issue threads, e.g. jeessy2/ddns-go#280 and aliyun/terraform-provider-alicloud#640).
ASSUMPTIONS: dict[str, str] = {
    "InvalidDomainName.NoExist": "HTTP 400 (reference says 400/404)",
    "InvalidDomainName.Duplicate": "AddDomain of a zone already in this account; HTTP 400",
    "InvalidRR.Format": "RR with characters outside [a-z0-9-_*.] or empty labels; HTTP 400",
    "InvalidType": "unknown record Type on add/update; code name guessed",
    "InvalidLine": "unknown Line code; code name guessed",
    "InvalidValue": "a Value that does not fit its Type (A not IPv4, AAAA not IPv6, empty); code name guessed",
    "MissingPriority": "MX without Priority → MissingParameter(Priority); Priority outside 1-50 → InvalidParameter",
    "InvalidType.Verify": "GetTxtRecordForVerify with a Type outside ADD_SUB_DOMAIN/ADD_SUBDOMAIN/RETRIEVAL "
                          "→ InvalidParameter",
    "PageSize": "PageSize above the documented max (100; 500 for DescribeDomainRecords) or < 1, and "
                "PageNumber < 1 → InvalidParameter (the service may clamp instead)",
    "UpdateDefaults": "UpdateDomainRecord without TTL/Line uses the documented defaults (600, default), "
                      "not the record's current values",
    "ConflictMatrix": "CNAME vs any other type on the same RR+Line conflicts (both directions); at '@' "
                      "MX and TXT may coexist with a CNAME; a second CNAME with another value conflicts; "
                      "NS/SRV/CAA/URL records are treated like A (reference §3.3 and §5.9)",
    "TxtVerifyRR": "GetTxtRecordForVerify RR is 'aliyunRetrieval' (SDK example) for RETRIEVAL and "
                   "'aliyunAddSubDomain' (guessed) for ADD_SUB_DOMAIN; Value is 32 hex, deterministic per "
                   "(Type, DomainName); ParentDomainName is the TLD (SDK doc)",
    "DomainId": "a UUID derived from the domain name (real ids are opaque strings)",
    "RecordId": "decimal strings from a counter starting at 100000000000001",
    "Ordering": "DescribeDomainRecords: creation order, newest first (Direction DESC default per SDK doc); "
                "DescribeSubDomainRecords and DescribeDomains: creation order, oldest first",
}

# Editions (VersionCode) → (VersionName, MinTtl). TTL ranges from help page doc-detail/29806.
EDITIONS: dict[str, tuple[str, int]] = {
    "mianfei": ("Alibaba Cloud DNS Free Edition", 600),
    "version_personal": ("Personal Edition", 600),
    "version_enterprise_basic": ("Enterprise Standard Edition", 60),
    "version_enterprise_advanced": ("Enterprise Ultimate Edition", 1),
}
MAX_TTL = 86400
DEFAULT_TTL = 600
ALL_TTLS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 43200, 86400)

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA", "REDIRECT_URL", "FORWARD_URL")
# (LineCode, LineName, LineDisplayName, FatherCode) of the basic lines every edition has.
LINES: tuple[tuple[str, str, str, str], ...] = (
    ("default", "默认", "默认", ""),
    ("telecom", "中国电信", "中国电信", ""),
    ("unicom", "中国联通", "中国联通", ""),
    ("mobile", "中国移动", "中国移动", ""),
    ("oversea", "境外", "境外", ""),
    ("edu", "中国教育网", "中国教育网", ""),
    ("drpeng", "鹏博士", "鹏博士", ""),
    ("btvn", "广电网", "广电网", ""),
    ("search", "搜索引擎", "搜索引擎", ""),
    ("google", "谷歌", "谷歌", "search"),
    ("baidu", "百度", "百度", "search"),
    ("biying", "必应", "必应", "search"),
    ("youdao", "有道", "有道", "search"),
    ("yahoo", "雅虎", "雅虎", "search"),
)
LINE_CODES = frozenset(code for code, *_ in LINES)

VERIFY_RR = {"RETRIEVAL": "aliyunRetrieval", "ADD_SUB_DOMAIN": "aliyunAddSubDomain"}

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_RR_LABEL = re.compile(r"^(?:\*|[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)$")
_HOST_TYPES = {"CNAME", "MX", "NS", "SRV"}      # values compared case-insensitively, without a final dot


# ----------------------------------------------------------------------------------------------
# errors
class DomainRecordDuplicate(errors.ApiError):
    code = "DomainRecordDuplicate"
    default_message = "The DNS record already exists."


class DomainRecordConflict(errors.ApiError):
    code = "DomainRecordConflict"
    default_message = "The DNS record conflicts with other records."


class DomainRecordLocked(errors.ApiError):
    code = "DomainRecordLocked"
    default_message = "The DNS record is locked and cannot be modified or deleted."


class DomainRecordNotBelongToUser(errors.ApiError):
    code = "DomainRecordNotBelongToUser"
    default_message = "The DNS record does not exist or does not belong to the current user."


class InvalidDomainNameNoExist(errors.ApiError):
    code = "InvalidDomainName.NoExist"
    default_message = "The specified domain name does not exist. Refresh the page and try again."


class InvalidDomainNameFormat(errors.ApiError):
    code = "InvalidDomainName.Format"
    default_message = "The format of the specified domain name is invalid."


class InvalidDomainNameDuplicate(errors.ApiError):
    code = "InvalidDomainName.Duplicate"
    default_message = "The domain name already exists in your account."


class QuotaExceededTTL(errors.ApiError):
    code = "QuotaExceeded.TTL"

    def __init__(self, min_ttl: int) -> None:
        super().__init__(f"The specified TTL is invalid. A valid TTL must be in the range of {min_ttl} to {MAX_TTL}.")


class InvalidRRFormat(errors.ApiError):
    code = "InvalidRR.Format"
    default_message = "The format of the host record (RR) is invalid."


class InvalidType(errors.ApiError):
    code = "InvalidType"
    default_message = "The specified record type is invalid."


class InvalidLine(errors.ApiError):
    code = "InvalidLine"
    default_message = "The specified DNS resolution line is invalid."


class InvalidValue(errors.ApiError):
    code = "InvalidValue"
    default_message = "The record value is invalid for the record type."


# ----------------------------------------------------------------------------------------------
# names
def norm_name(name: str) -> str:
    """Lower-case, without a final dot."""
    return name.strip().rstrip(".").lower()


def valid_domain(name: str) -> bool:
    labels = name.split(".")
    return len(labels) >= 2 and len(name) <= 253 and all(_LABEL.match(lb) for lb in labels) \
        and not labels[-1].isdigit()


def fqdn(rr: str, domain: str) -> str:
    """``rr`` + zone → the owner name (``@`` is the apex)."""
    return domain if rr in ("@", "") else f"{rr}.{domain}"


def zone_for(store: "Store", name: str, *, shortest: bool = False) -> tuple[dict[str, Any], str] | None:
    """The zone (``dns.domain`` doc) holding ``name`` and the host record (RR) of ``name`` in it,
    or ``None``. The most specific zone wins (as DNS delegation does) unless ``shortest``."""
    name = norm_name(name)
    labels = name.split(".")
    candidates = [".".join(labels[i:]) for i in range(len(labels) - 1)]   # most specific first
    if shortest:
        candidates.reverse()
    for cand in candidates:
        doc = store.get(DOMAIN, cand)
        if doc is not None:
            rr = "@" if cand == name else name[: -len(cand) - 1]
            return doc, rr
    return None


def records_at(store: "Store", domain: str, rr: str | None = None, *, type: str | None = None,
               line: str | None = None) -> list[dict[str, Any]]:
    """Records of a zone in creation order, optionally only of one RR / Type / Line."""
    rr = rr.lower() if rr is not None else None
    return store.list(RECORD, key2=domain, where=lambda d: (rr is None or d["RR"] == rr)
                      and (type is None or d["Type"] == type.upper())
                      and (line is None or d["Line"] == line))


# ----------------------------------------------------------------------------------------------
# records: validation, conflict rules, writes
def _canon_value(rtype: str, value: str) -> str:
    if rtype in _HOST_TYPES:
        return value.strip().rstrip(".").lower()
    if rtype in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            return value.strip()
    return value


def _check_rr(rr: str) -> str:
    rr = rr.strip().lower()
    if rr == "@":
        return rr
    if not rr or len(rr) > 253 or not all(_RR_LABEL.match(lb) for lb in rr.split(".")):
        raise InvalidRRFormat()
    return rr


def _check_value(rtype: str, value: str) -> str:
    value = value.strip() if rtype != "TXT" else value
    if value == "":
        raise InvalidValue()
    if rtype == "A":
        try:
            ipaddress.IPv4Address(value)
        except ValueError:
            raise InvalidValue("The value of an A record must be an IPv4 address.") from None
    elif rtype == "AAAA":
        try:
            ipaddress.IPv6Address(value)
        except ValueError:
            raise InvalidValue("The value of an AAAA record must be an IPv6 address.") from None
    elif rtype in _HOST_TYPES:
        host = value.rstrip(".").lower()
        if rtype in ("CNAME", "MX", "NS") and not valid_domain(host) and not _valid_host(host):
            raise InvalidValue(f"The value of a {rtype} record must be a domain name.")
        value = value.rstrip(".")
    return value


def _valid_host(host: str) -> bool:
    return bool(host) and all(_RR_LABEL.match(lb) for lb in host.split("."))


def _check_ttl(zone: dict[str, Any], ttl: int) -> None:
    min_ttl = int(zone.get("MinTtl") or EDITIONS.get(zone.get("VersionCode", "mianfei"), ("", 600))[1])
    if ttl < min_ttl or ttl > MAX_TTL:
        raise QuotaExceededTTL(min_ttl)


def _same(a: dict[str, Any], rtype: str, value: str) -> bool:
    return a["Type"] == rtype and _canon_value(rtype, a["Value"]) == _canon_value(rtype, value)


def _check_conflicts(store: "Store", domain: str, rr: str, line: str, rtype: str, value: str,
                     exclude: str | None = None) -> None:
    """Raise ``DomainRecordDuplicate`` / ``DomainRecordConflict`` against the records on the same
    RR and Line (reference §3.3)."""
    others = [r for r in records_at(store, domain, rr, line=line) if r["RecordId"] != exclude]
    for r in others:
        if _same(r, rtype, value):
            raise DomainRecordDuplicate()
    apex_ok = {"MX", "TXT"}
    for r in others:
        t = r["Type"]
        if rtype == "CNAME" and t == "CNAME":
            raise DomainRecordConflict(f"A CNAME record with another value already exists on {rr} (line {line}).")
        if rtype == "CNAME" or t == "CNAME":
            other = t if rtype == "CNAME" else rtype
            if rr == "@" and other in apex_ok:
                continue
            raise DomainRecordConflict(
                f"The {rtype} record conflicts with the existing {t} record on {rr} (line {line}).")


def add_record(store: "Store", now_ms: int, domain: str, rr: str, rtype: str, value: str, *,
               ttl: int = DEFAULT_TTL, line: str = "default", priority: int | None = None,
               remark: str | None = None) -> dict[str, Any]:
    """Insert a record after the duplicate/conflict checks (no TTL or zone checks); returns the
    stored doc. Used by ``AddDomainRecord`` and by seeds."""
    rr = rr.lower()
    rtype = rtype.upper()
    _check_conflicts(store, domain, rr, line, rtype, value)
    rid = str(100000000000000 + store.next_seq("alidns.record"))
    doc: dict[str, Any] = {
        "RecordId": rid, "DomainName": domain, "RR": rr, "Type": rtype, "Value": value, "TTL": int(ttl),
        "Line": line, "Status": "ENABLE", "Locked": False, "Weight": 1,
        "Priority": int(priority) if rtype == "MX" and priority is not None else None,
        "Remark": remark or None, "CreateTimestamp": now_ms, "UpdateTimestamp": now_ms,
    }
    store.put(RECORD, rid, doc, key2=domain)
    return doc


def _record_out(doc: dict[str, Any], *, timestamps: bool = False) -> dict[str, Any]:
    out = {k: doc.get(k) for k in ("RecordId", "DomainName", "RR", "Type", "Value", "TTL", "Line",
                                   "Status", "Locked", "Weight", "Priority", "Remark")}
    if timestamps:
        out["CreateTimestamp"] = doc.get("CreateTimestamp")
        out["UpdateTimestamp"] = doc.get("UpdateTimestamp")
    return {k: v for k, v in out.items() if v is not None and v != ""}


def _zone(store: "Store", name: str) -> dict[str, Any]:
    doc = store.get(DOMAIN, norm_name(name))
    if doc is None:
        raise InvalidDomainNameNoExist()
    return doc


def _record(store: "Store", rid: str) -> dict[str, Any]:
    doc = store.get(RECORD, str(rid).strip())
    if doc is None:
        raise DomainRecordNotBelongToUser()
    return doc


def _page(p: Params, max_size: int) -> tuple[int, int]:
    return (p.int("PageNumber", default=1, min=1, max=10**6),
            p.int("PageSize", default=20, min=1, max=max_size))


def _record_fields(p: Params, zone: dict[str, Any]) -> tuple[str, str, str, int, str, int | None]:
    rr = _check_rr(p.str("RR", required=True))
    rtype = p.str("Type", required=True).strip().upper()
    if rtype not in RECORD_TYPES:
        raise InvalidType()
    value = _check_value(rtype, p.str("Value", required=True))
    ttl = p.int("TTL", default=DEFAULT_TTL)
    _check_ttl(zone, ttl)
    line = p.str("Line", default="default")
    if line not in LINE_CODES:
        raise InvalidLine()
    priority = None
    if rtype == "MX":
        priority = p.int("Priority", required=True, min=1, max=50)
    return rr, rtype, value, ttl, line, priority


# ----------------------------------------------------------------------------------------------
# zones
def _dns_servers_for(name: str) -> list[str]:
    n = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 31 + 1   # dns1 … dns32 (pairs)
    return [f"dns{n}.hichina.com", f"dns{n + 1}.hichina.com"]


def _domain_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"alidns:{name}"))


def add_domain(store: "Store", name: str, *, edition: str = "mianfei", dns_servers: list[str] | None = None,
               verified: bool = False, remark: str | None = None) -> dict[str, Any]:
    """Create a zone doc (no API checks)."""
    version_name, min_ttl = EDITIONS.get(edition, (edition, 600))
    doc = {"DomainId": _domain_id(name), "DomainName": name, "VersionCode": edition, "VersionName": version_name,
           "MinTtl": min_ttl, "DnsServers": list(dns_servers or _dns_servers_for(name)),
           "verified": verified, "Remark": remark}
    store.put(DOMAIN, name, doc)
    return doc


def txt_for_verify(vtype: str, domain: str | None) -> dict[str, str]:
    """The TXT a caller must publish for ``GetTxtRecordForVerify``: ``{RR, Value}``."""
    vtype = "ADD_SUB_DOMAIN" if vtype == "ADD_SUBDOMAIN" else vtype
    digest = hashlib.sha256(f"localcloud-txt-verify:{vtype}:{norm_name(domain or '')}".encode()).hexdigest()
    return {"RR": VERIFY_RR[vtype], "Value": digest[:32]}


def check_verification(store: "Store", name: str) -> bool:
    """Mark zone ``name`` verified when a TXT record ``<RR>.<name>`` with the value of
    ``GetTxtRecordForVerify`` (either type) is held by any zone of this local cloud (the local
    stand-in for "published at the domain's current DNS host"). Returns the verified flag."""
    name = norm_name(name)
    doc = store.get(DOMAIN, name)
    if doc is None:
        return False
    if doc.get("verified"):
        return True
    for vtype in VERIFY_RR:
        want = txt_for_verify(vtype, name)
        found = zone_for(store, f"{want['RR']}.{name}")
        if found is None:
            continue
        zone, rr = found
        if any(r["Value"] == want["Value"] for r in records_at(store, zone["DomainName"], rr, type="TXT")):
            doc["verified"] = True
            store.put(DOMAIN, name, doc)
            return True
    return False


def _domain_out(store: "Store", doc: dict[str, Any]) -> dict[str, Any]:
    out = {"DomainId": doc["DomainId"], "DomainName": doc["DomainName"],
           "DnsServers": {"DnsServer": list(doc.get("DnsServers") or [])},
           "RecordCount": store.count(RECORD, key2=doc["DomainName"]),
           "VersionCode": doc.get("VersionCode"), "VersionName": doc.get("VersionName"),
           "AliDomain": False, "Starmark": False, "InstanceExpired": False,
           "ResourceGroupId": doc.get("ResourceGroupId")}
    if doc.get("Remark"):
        out["Remark"] = doc["Remark"]
    return out


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
        "Domains": {"Domain": [_domain_out(ctx.store, d) for d in page]},
        "TotalCount": len(docs), "PageNumber": number, "PageSize": size})


@action("alidns", VERSION, "DescribeDomainInfo")
def describe_domain_info(ctx: Ctx, p: Params) -> dict[str, Any]:
    doc = _zone(ctx.store, p.str("DomainName", required=True))
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
    if not valid_domain(name):
        raise InvalidDomainNameFormat()
    if ctx.store.get(DOMAIN, name) is not None:
        raise InvalidDomainNameDuplicate()
    doc = add_domain(ctx.store, name, verified=False)
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
        zone = _zone(ctx.store, domain)
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
        "DomainRecords": {"Record": [_record_out(r) for r in page]},
        "TotalCount": len(recs), "PageNumber": number, "PageSize": size})


def _contains(hay: Any, needle: str) -> bool:
    return needle.lower() in str(hay or "").lower()


@action("alidns", VERSION, "DescribeDomainRecords")
def describe_domain_records(ctx: Ctx, p: Params) -> dict[str, Any]:
    zone = _zone(ctx.store, p.str("DomainName", required=True))
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
        "DomainRecords": {"Record": [_record_out(r, timestamps=True) for r in page]},
        "TotalCount": len(recs), "PageNumber": number, "PageSize": size})


@action("alidns", VERSION, "AddDomainRecord", write=True)
def add_domain_record(ctx: Ctx, p: Params) -> dict[str, Any]:
    zone = _zone(ctx.store, p.str("DomainName", required=True))
    rr, rtype, value, ttl, line, priority = _record_fields(p, zone)
    doc = add_record(ctx.store, ctx.clock.now_ms(), zone["DomainName"], rr, rtype, value, ttl=ttl, line=line,
                     priority=priority)
    return shape(m.AddDomainRecordResponseBody, {"RecordId": doc["RecordId"]})


@action("alidns", VERSION, "UpdateDomainRecord", write=True)
def update_domain_record(ctx: Ctx, p: Params) -> dict[str, Any]:
    rec = _record(ctx.store, p.str("RecordId", required=True))
    zone = _zone(ctx.store, rec["DomainName"])
    rr, rtype, value, ttl, line, priority = _record_fields(p, zone)
    if rec.get("Locked"):
        raise DomainRecordLocked()
    unchanged = (rec["RR"] == rr and rec["Type"] == rtype and _same(rec, rtype, value) and rec["TTL"] == ttl
                 and rec["Line"] == line and (rtype != "MX" or rec.get("Priority") == priority))
    if unchanged:
        raise DomainRecordDuplicate()
    _check_conflicts(ctx.store, rec["DomainName"], rr, line, rtype, value, exclude=rec["RecordId"])
    rec.update({"RR": rr, "Type": rtype, "Value": value, "TTL": ttl, "Line": line,
                "Priority": priority if rtype == "MX" else None, "UpdateTimestamp": ctx.clock.now_ms()})
    ctx.store.put(RECORD, rec["RecordId"], rec, key2=rec["DomainName"])
    return shape(m.UpdateDomainRecordResponseBody, {"RecordId": rec["RecordId"]})


@action("alidns", VERSION, "UpdateDomainRecordRemark", write=True)
def update_domain_record_remark(ctx: Ctx, p: Params) -> dict[str, Any]:
    rec = _record(ctx.store, p.str("RecordId", required=True))
    remark = p.str("Remark", max_len=500)
    rec["Remark"] = remark or None
    rec["UpdateTimestamp"] = ctx.clock.now_ms()
    ctx.store.put(RECORD, rec["RecordId"], rec, key2=rec["DomainName"])
    return shape(m.UpdateDomainRecordRemarkResponseBody, {})


@action("alidns", VERSION, "DeleteDomainRecord", write=True)
def delete_domain_record(ctx: Ctx, p: Params) -> dict[str, Any]:
    rec = _record(ctx.store, p.str("RecordId", required=True))
    if rec.get("Locked"):
        raise DomainRecordLocked()
    ctx.store.delete(RECORD, rec["RecordId"])
    return shape(m.DeleteDomainRecordResponseBody, {"RecordId": rec["RecordId"]})


# ----------------------------------------------------------------------------------------------
# seed
def seed_demo(cloud: "Emulator", ids: dict[str, Any]) -> None:
    """The demo zone: free edition, with unrelated records (``www`` A, ``@`` MX, ``legacy`` A) so that
    conflict and no-clobber rules can be exercised."""
    store = cloud.store
    name = ids.get("domain", "example.test")
    if store.get(DOMAIN, name) is None:
        add_domain(store, name, edition=ids.get("zone_edition", "mianfei"),
                   dns_servers=["dns1.hichina.com", "dns2.hichina.com"], verified=True)
    now = cloud.clock.now_ms()
    for rr, rtype, value, prio in (("www", "A", "203.0.113.10", None),
                                   ("@", "MX", f"mx.{name}", 10),
                                   ("legacy", "A", "203.0.113.20", None)):
        if not records_at(store, name, rr, type=rtype):
            add_record(store, now, name, rr, rtype, value, priority=prio)
    ids["dns_domain_id"] = store.get(DOMAIN, name)["DomainId"]

"""Alidns zones and records over the store: names, the record rules (validation, duplicate and
conflict rules), zone verification (see the package doc)."""
from __future__ import annotations

import hashlib
import ipaddress
import re
import uuid
from typing import TYPE_CHECKING, Any

from .exceptions import (
    MAX_TTL,
    DomainRecordConflict,
    DomainRecordDuplicate,
    DomainRecordLocked,
    DomainRecordNotBelongToUser,
    InvalidDomainNameDuplicate,
    InvalidDomainNameFormat,
    InvalidDomainNameNoExist,
    InvalidRRFormat,
    InvalidValue,
    QuotaExceededTTL,
)

if TYPE_CHECKING:  # pragma: no cover
    from ...store import Store

VERSION = "2015-01-09"
DOMAIN = "dns.domain"
RECORD = "dns.record"

# Behaviour docs/ALIBABA-APIS.md (§3) does not settle; the codes are in exceptions.py.
ASSUMPTIONS: dict[str, str] = {
    "MissingPriority": "MX without Priority → MissingParameter(Priority); Priority outside 1-50 → InvalidParameter",
    "InvalidType.Verify": "GetTxtRecordForVerify with a Type outside ADD_SUB_DOMAIN/ADD_SUBDOMAIN/RETRIEVAL "
                          "→ InvalidParameter",
    "PageSize": "PageSize above the documented max (100; 500 for DescribeDomainRecords) or < 1, and "
                "PageNumber < 1 → InvalidParameter (the service may clamp instead)",
    "UpdateDefaults": "UpdateDomainRecord without TTL/Line uses the documented defaults (600, default), "
                      "not the record's current values",
    "ConflictMatrix": "CNAME vs any other type on the same RR+Line conflicts (both directions); at '@' "
                      "MX and TXT may coexist with a CNAME; a second CNAME with another value conflicts; "
                      "NS/SRV/CAA/URL records are treated like A (docs/ALIBABA-APIS.md §3.3 and §5.9)",
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


def zone_for(store: Store, name: str, *, shortest: bool = False) -> tuple[dict[str, Any], str] | None:
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


def records_at(store: Store, domain: str, rr: str | None = None, *, type: str | None = None,
               line: str | None = None) -> list[dict[str, Any]]:
    """Records of a zone in creation order, optionally only of one RR / Type / Line."""
    rr = rr.lower() if rr is not None else None
    return store.list(RECORD, key2=domain, where=lambda d: (rr is None or d["RR"] == rr)
                      and (type is None or d["Type"] == type.upper())
                      and (line is None or d["Line"] == line))


# ----------------------------------------------------------------------------------------------
# records: validation, conflict rules, writes
def canon_value(rtype: str, value: str) -> str:
    if rtype in _HOST_TYPES:
        return value.strip().rstrip(".").lower()
    if rtype in ("A", "AAAA"):
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            return value.strip()
    return value


def check_rr(rr: str) -> str:
    rr = rr.strip().lower()
    if rr == "@":
        return rr
    if not rr or len(rr) > 253 or not all(_RR_LABEL.match(lb) for lb in rr.split(".")):
        raise InvalidRRFormat()
    return rr


def check_value(rtype: str, value: str) -> str:
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


def check_ttl(zone: dict[str, Any], ttl: int) -> None:
    min_ttl = int(zone.get("MinTtl") or EDITIONS.get(zone.get("VersionCode", "mianfei"), ("", 600))[1])
    if ttl < min_ttl or ttl > MAX_TTL:
        raise QuotaExceededTTL(min_ttl)


def same(a: dict[str, Any], rtype: str, value: str) -> bool:
    return a["Type"] == rtype and canon_value(rtype, a["Value"]) == canon_value(rtype, value)


def check_conflicts(store: Store, domain: str, rr: str, line: str, rtype: str, value: str,
                     exclude: str | None = None) -> None:
    """Raise ``DomainRecordDuplicate`` / ``DomainRecordConflict`` against the records on the same
    RR and Line (docs/ALIBABA-APIS.md §3.3)."""
    others = [r for r in records_at(store, domain, rr, line=line) if r["RecordId"] != exclude]
    for r in others:
        if same(r, rtype, value):
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


def add_record(store: Store, now_ms: int, domain: str, rr: str, rtype: str, value: str, *,
               ttl: int = DEFAULT_TTL, line: str = "default", priority: int | None = None,
               remark: str | None = None) -> dict[str, Any]:
    """Insert a record after the duplicate/conflict checks (no TTL or zone checks); returns the
    stored doc. Used by ``AddDomainRecord`` and by seeds."""
    rr = rr.lower()
    rtype = rtype.upper()
    check_conflicts(store, domain, rr, line, rtype, value)
    rid = str(100000000000000 + store.next_seq("alidns.record"))
    doc: dict[str, Any] = {
        "RecordId": rid, "DomainName": domain, "RR": rr, "Type": rtype, "Value": value, "TTL": int(ttl),
        "Line": line, "Status": "ENABLE", "Locked": False, "Weight": 1,
        "Priority": int(priority) if rtype == "MX" and priority is not None else None,
        "Remark": remark or None, "CreateTimestamp": now_ms, "UpdateTimestamp": now_ms,
    }
    store.put(RECORD, rid, doc, key2=domain)
    return doc


def record_out(doc: dict[str, Any], *, timestamps: bool = False) -> dict[str, Any]:
    out = {k: doc.get(k) for k in ("RecordId", "DomainName", "RR", "Type", "Value", "TTL", "Line",
                                   "Status", "Locked", "Weight", "Priority", "Remark")}
    if timestamps:
        out["CreateTimestamp"] = doc.get("CreateTimestamp")
        out["UpdateTimestamp"] = doc.get("UpdateTimestamp")
    return {k: v for k, v in out.items() if v is not None and v != ""}


def existing_zone(store: Store, name: str) -> dict[str, Any]:
    doc = store.get(DOMAIN, norm_name(name))
    if doc is None:
        raise InvalidDomainNameNoExist()
    return doc


def existing_record(store: Store, rid: str) -> dict[str, Any]:
    doc = store.get(RECORD, str(rid).strip())
    if doc is None:
        raise DomainRecordNotBelongToUser()
    return doc


# ----------------------------------------------------------------------------------------------
# zones
def _dns_servers_for(name: str) -> list[str]:
    n = int(hashlib.sha256(name.encode()).hexdigest(), 16) % 31 + 1   # dns1 … dns32 (pairs)
    return [f"dns{n}.hichina.com", f"dns{n + 1}.hichina.com"]


def _domain_id(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"alidns:{name}"))


def add_domain(store: Store, name: str, *, edition: str = "mianfei", dns_servers: list[str] | None = None,
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


def check_verification(store: Store, name: str) -> bool:
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


def domain_out(store: Store, doc: dict[str, Any]) -> dict[str, Any]:
    out = {"DomainId": doc["DomainId"], "DomainName": doc["DomainName"],
           "DnsServers": {"DnsServer": list(doc.get("DnsServers") or [])},
           "RecordCount": store.count(RECORD, key2=doc["DomainName"]),
           "VersionCode": doc.get("VersionCode"), "VersionName": doc.get("VersionName"),
           "AliDomain": False, "Starmark": False, "InstanceExpired": False,
           "ResourceGroupId": doc.get("ResourceGroupId")}
    if doc.get("Remark"):
        out["Remark"] = doc["Remark"]
    return out


def add_domain_checked(store: Store, name: str) -> dict[str, Any]:
    """``AddDomain``: a new, unverified zone (the name already normalised)."""
    if not valid_domain(name):
        raise InvalidDomainNameFormat()
    if store.get(DOMAIN, name) is not None:
        raise InvalidDomainNameDuplicate()
    return add_domain(store, name, verified=False)


def update_record(store: Store, now_ms: int, rec: dict[str, Any], rr: str, rtype: str, value: str, ttl: int,
                  line: str, priority: int | None) -> dict[str, Any]:
    """``UpdateDomainRecord`` after its parameters were read: locked, unchanged and conflict rules."""
    if rec.get("Locked"):
        raise DomainRecordLocked()
    unchanged = (rec["RR"] == rr and rec["Type"] == rtype and same(rec, rtype, value) and rec["TTL"] == ttl
                 and rec["Line"] == line and (rtype != "MX" or rec.get("Priority") == priority))
    if unchanged:
        raise DomainRecordDuplicate()
    check_conflicts(store, rec["DomainName"], rr, line, rtype, value, exclude=rec["RecordId"])
    rec.update({"RR": rr, "Type": rtype, "Value": value, "TTL": ttl, "Line": line,
                "Priority": priority if rtype == "MX" else None, "UpdateTimestamp": now_ms})
    store.put(RECORD, rec["RecordId"], rec, key2=rec["DomainName"])
    return rec


def set_remark(store: Store, now_ms: int, rec: dict[str, Any], remark: str | None) -> None:
    rec["Remark"] = remark or None
    rec["UpdateTimestamp"] = now_ms
    store.put(RECORD, rec["RecordId"], rec, key2=rec["DomainName"])


def delete_record(store: Store, rec: dict[str, Any]) -> None:
    if rec.get("Locked"):
        raise DomainRecordLocked()
    store.delete(RECORD, rec["RecordId"])

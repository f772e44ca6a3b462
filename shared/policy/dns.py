"""Pure DNS decisions for the CNAME ``<rr>.<domain>`` → the ALB's ``DNSName`` (no I/O).

Conflict rules (docs/ALIBABA-APIS.md §3.3; only records on the same RR **and** the same
Line matter — different lines never conflict):

=====================================================  =============================================
existing records on (RR, line)                         decision
=====================================================  =============================================
a CNAME with the same value (case/final dot ignored)   ``none`` (no write; ``claim_remark`` when the
                                                       record carries no remark at all — a record we
                                                       added whose remark write was lost); ``update``
                                                       when its TTL is not the wanted one and it is
                                                       ours or unmarked (drift repaired)
one CNAME with another value, remark                   ``update`` when ``replace_owned_records``,
``alb-mtls:<listener key>`` (ours)                     else ``DNS_CONFLICT``
a CNAME with another value not ours                    ``DNS_CONFLICT`` naming it
A / AAAA / NS / SRV / CAA / URL / … (any type)         ``DNS_CONFLICT`` naming them
any record at the apex ``@`` (MX, TXT included)        ``APEX_CNAME_REFUSED`` naming them, even with
                                                       ``allow_apex``
nothing                                                ``add``
=====================================================  =============================================

Before that: ``@`` without ``allow_apex`` → ``APEX_CNAME_REFUSED``; a TTL below the zone edition's
minimum → ``TTL_BELOW_MINIMUM``.

The apex. A CNAME shares its name with no other record (RFC 1034 §3.6.2, RFC 2181 §10.1): a
resolver that finds a CNAME at ``example.test`` follows it and never sees the zone's MX or TXT
(SPF, ownership proofs). Only a DNS service that *flattens* the CNAME (answers the target's
addresses in its place) keeps them working. Alibaba Cloud DNS documents an ``ALIAS`` record type
for that in its FAQ, but no documented API ``Type`` value or edition setting says whether a zone
flattens (docs/ALIBABA-APIS.md §3.3; COVERAGE.md "Alidns apex CNAME"). So ``allow_apex`` places a
CNAME at ``@`` only when no other record of the line is there; otherwise the records are named and
nothing is written.

Ownership is marked in the record's remark (``owner_remark(listener_key)``), never by a TXT at the
same name (a TXT would itself conflict with the CNAME).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from shared.core.errors import Code
from shared.policy.checks import Chain, Violation

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["OWNER_PREFIX", "DEFAULT_LINE", "EDITION_MIN_TTL", "DnsRecord", "CnamePlan", "CnameRequest",
           "CNAME_CHECKS", "cname_plan", "owner_remark", "canon_host", "min_ttl_for", "plan_cname",
           "DEFAULT_NEGATIVE_TTL", "MAX_PROPAGATION_WAIT", "negative_ttl", "propagation_bound"]

OWNER_PREFIX = "alb-mtls:"
DEFAULT_LINE = "default"
#: Fallback minimum TTL (s) per Alidns edition ``VersionCode`` when ``MinTtl`` is not reported.
EDITION_MIN_TTL: dict[str, int] = {
    "mianfei": 600, "version_personal": 600, "version_enterprise_basic": 60, "version_enterprise_advanced": 1,
}


#: Negative-caching time (s) assumed when no name server answers the zone's SOA: the MINIMUM and SOA
#: TTL observed on Alibaba-hosted zones (docs/ALIBABA-APIS.md §3.5; read per zone whenever possible).
DEFAULT_NEGATIVE_TTL = 600
#: The longest propagation wait (s), whatever the TTLs: the flow's loop must stay well inside
#: CloudFlow's 5,000 history events per execution (docs/SERVERLESS.md §1.15); a zone whose name
#: servers do not answer a new record within half an hour has a problem a longer wait will not fix.
MAX_PROPAGATION_WAIT = 1800


def negative_ttl(soa_ttl: int | None, soa_minimum: int | None) -> int | None:
    """How long resolvers cache a negative answer (NXDOMAIN/NODATA) of the zone: ``min(SOA TTL,
    SOA MINIMUM)`` (RFC 2308 §5); ``None`` when the SOA was not read."""
    known = [int(v) for v in (soa_ttl, soa_minimum) if v is not None and int(v) >= 0]
    return min(known) if known else None


def propagation_bound(ttl: int, negative_ttl_s: int) -> int:
    """How long (s) to wait, from the first call, for the zone's authoritative name servers to answer
    a record: the longer of its TTL and the zone's negative-caching time (resolvers that asked before
    the record existed keep "no such name" that long; one that cached an earlier value keeps it up
    to a TTL), at most :data:`MAX_PROPAGATION_WAIT`. Past it a name server that still does not
    answer is a fault (``DNS_NOT_PROPAGATED``), not a cache."""
    return max(1, min(MAX_PROPAGATION_WAIT, max(int(ttl), int(negative_ttl_s))))


def owner_remark(listener_key: str) -> str:
    """The remark marking a record as ours: ``alb-mtls:<listener key>``."""
    return f"{OWNER_PREFIX}{listener_key}"


def canon_host(value: str | None) -> str:
    """A host name for comparison: trimmed, lower case, without a final dot."""
    return (value or "").strip().rstrip(".").lower()


def min_ttl_for(min_ttl: int | str | None, version_code: str | None) -> int:
    """The zone's minimum TTL in seconds: ``MinTtl`` when reported, else by edition (600 default)."""
    try:
        if min_ttl is not None and min_ttl != "":
            return max(1, int(min_ttl))
    except (TypeError, ValueError):
        pass
    return EDITION_MIN_TTL.get(version_code or "", 600)


@dataclass(frozen=True, slots=True)
class DnsRecord:
    """One Alidns record as read (``DescribeSubDomainRecords``): ``ttl`` in seconds."""

    record_id: str
    rr: str
    type: str
    value: str
    ttl: int = 600
    line: str = DEFAULT_LINE
    remark: str | None = None
    status: str = "ENABLE"

    @classmethod
    def from_api(cls, r: Any) -> DnsRecord:
        """From an SDK record model (``…DomainRecordsRecord``) or its wire dict."""
        def get(key: str, attr: str) -> Any:
            return r.get(key) if isinstance(r, dict) else getattr(r, attr, None)
        return cls(record_id=str(get("RecordId", "record_id") or ""), rr=str(get("RR", "rr") or "").lower(),
                   type=str(get("Type", "type") or "").upper(), value=str(get("Value", "value") or ""),
                   ttl=int(get("TTL", "ttl") or 600), line=str(get("Line", "line") or DEFAULT_LINE),
                   remark=get("Remark", "remark") or None, status=str(get("Status", "status") or "ENABLE"))

    def describe(self) -> str:
        """``legacy A 203.0.113.20 (line default, id 1001)`` — for error messages."""
        return f"{self.rr} {self.type} {self.value} (line {self.line}, id {self.record_id})"


@dataclass(frozen=True, slots=True)
class CnamePlan:
    """What to do: ``action`` ``add`` | ``update`` | ``none``; ``record_id`` of the record to update
    (or the one already right); ``claim_remark``: also set our ownership remark on it."""

    action: Literal["add", "update", "none"]
    rr: str
    value: str
    ttl: int
    line: str = DEFAULT_LINE
    record_id: str | None = None
    claim_remark: bool = False

    def to_dict(self) -> dict[str, Any]:
        """``{"action", "record_id"?, "ttl", "value", "rr", "line"}`` (the preflight's DNS plan)."""
        out: dict[str, Any] = {"action": self.action, "ttl": self.ttl, "value": self.value, "rr": self.rr,
                               "line": self.line}
        if self.record_id:
            out["record_id"] = self.record_id
        return out


@dataclass(frozen=True, slots=True)
class CnameRequest:
    """What the CNAME checks and plan decide on: the wanted record and every record on its host
    record (``DescribeSubDomainRecords``, any line; other lines are ignored)."""

    records: tuple[DnsRecord, ...]
    rr: str
    domain: str
    value: str
    ttl: int
    min_ttl: int
    listener_key: str
    allow_apex: bool = False
    replace_owned: bool = True
    line: str = DEFAULT_LINE

    @property
    def fqdn(self) -> str:
        return self.domain if self.rr == "@" else f"{self.rr}.{self.domain}"

    @property
    def same_line(self) -> list[DnsRecord]:
        return [r for r in self.records if r.rr == self.rr and r.line == self.line]

    @property
    def already(self) -> DnsRecord | None:
        """The CNAME with the wanted value, if it is there."""
        want = canon_host(self.value)
        return next((r for r in self.same_line if r.type == "CNAME" and canon_host(r.value) == want), None)


def apex_allowed(q: CnameRequest) -> Violation | None:
    """``@`` only with ``allow_apex``, and only when no other record shares the apex (module doc:
    the CNAME would hide the zone's MX/TXT; no API tells whether the zone flattens it)."""
    if q.rr != "@":
        return None
    if not q.allow_apex:
        return Violation(Code.APEX_CNAME_REFUSED, f"a CNAME at the zone apex of {q.domain} ('@') breaks its "
                         "SOA/NS/MX records; use a host record such as 'app', or set allow_apex=true", "rr")
    if q.already is not None:
        return None
    others = [r for r in q.same_line if r.type != "CNAME"]
    if others:
        return Violation(Code.APEX_CNAME_REFUSED, f"the apex of {q.domain} (line {q.line}) holds "
                         f"{'; '.join(r.describe() for r in others)}; a CNAME there would hide them from every "
                         "resolver that follows it (a CNAME shares its name with no other record, and Alibaba "
                         "Cloud DNS offers no documented API setting that flattens it). Use a host record such as "
                         "'app', or move those records first", "rr")
    return None


def ttl_at_least_minimum(q: CnameRequest) -> Violation | None:
    """The zone edition's minimum TTL."""
    if q.ttl < q.min_ttl:
        return Violation(Code.TTL_BELOW_MINIMUM, f"ttl {q.ttl} s is below the minimum of {q.min_ttl} s that the "
                         f"Alidns edition of {q.domain} allows; set ttl >= {q.min_ttl} or upgrade the zone's "
                         "edition", "ttl")
    return None


def no_other_types(q: CnameRequest) -> Violation | None:
    """A CNAME cannot coexist with other records on its (RR, line)."""
    if q.already is not None:
        return None
    others = [r for r in q.same_line if r.type != "CNAME"]
    if others:
        return Violation(Code.DNS_CONFLICT, f"{q.fqdn} (line {q.line}) already has "
                         f"{'; '.join(r.describe() for r in others)}; a CNAME cannot coexist with them. "
                         "Delete or move those records, or choose another `rr`", "rr")
    return None


def cname_is_ours(q: CnameRequest) -> Violation | None:
    """A CNAME pointing elsewhere must carry our remark, and we must be allowed to repoint it."""
    if q.already is not None:
        return None
    cnames = [r for r in q.same_line if r.type == "CNAME"]
    mine = owner_remark(q.listener_key)
    foreign = [r for r in cnames if r.remark != mine]
    if foreign:
        return Violation(Code.DNS_CONFLICT, f"{q.fqdn} (line {q.line}) already has the CNAME "
                         f"{'; '.join(r.describe() for r in foreign)} which this automation does not own "
                         f"(its remark is not {mine!r}); delete it or choose another `rr`", "rr")
    if cnames and not q.replace_owned:
        return Violation(Code.DNS_CONFLICT, f"{q.fqdn} (line {q.line}) has our CNAME {cnames[0].describe()} pointing "
                         f"elsewhere; set replace_owned_records=true to point it at {q.value}",
                         "replace_owned_records")
    return None


#: The preflight's DNS check and ``create_cname`` (conflict table in the module doc).
CNAME_CHECKS: Chain[CnameRequest] = Chain("cname", (
    ("apex_allowed", apex_allowed),                    # '@' only with allow_apex, and alone at the apex
    ("ttl_at_least_minimum", ttl_at_least_minimum),    # the zone edition's MinTtl
    ("no_other_types", no_other_types),                # A/AAAA/MX/TXT/… on the same (RR, line)
    ("cname_is_ours", cname_is_ours),                  # a CNAME elsewhere carries our remark
))


def cname_plan(q: CnameRequest) -> CnamePlan:
    """The plan once :data:`CNAME_CHECKS` passed (pure): ``none`` (the record is there; claim it
    when it has no remark at all), ``update`` (our record points elsewhere, or has another TTL — a
    record without a remark is claimed too; never someone else's) or ``add``."""
    same = q.already
    if same is not None:
        claimable = same.remark in (None, owner_remark(q.listener_key))
        if same.ttl != q.ttl and claimable and q.replace_owned:
            return CnamePlan("update", q.rr, q.value, q.ttl, q.line, same.record_id, claim_remark=not same.remark)
        return CnamePlan("none", q.rr, same.value, same.ttl, q.line, same.record_id, claim_remark=not same.remark)
    cnames = [r for r in q.same_line if r.type == "CNAME"]
    if cnames:
        return CnamePlan("update", q.rr, q.value, q.ttl, q.line, cnames[0].record_id)
    return CnamePlan("add", q.rr, q.value, q.ttl, q.line)


def plan_cname(records: Iterable[DnsRecord], *, rr: str, domain: str, value: str, ttl: int, min_ttl: int,
               listener_key: str, allow_apex: bool = False, replace_owned: bool = True,
               line: str = DEFAULT_LINE) -> CnamePlan:
    """Decide how to make ``rr.domain CNAME value`` (TTL ``ttl`` s, line ``line``) hold:
    :data:`CNAME_CHECKS` (the first violation is raised), then :func:`cname_plan`.

    ``records``: every record on the host record (any line; others are ignored). ``min_ttl``: the
    zone edition's minimum TTL, s.

    Returns a :class:`CnamePlan`. Raises :class:`AlbMtlsError` ``APEX_CNAME_REFUSED`` (``rr == "@"``
    without ``allow_apex``), ``TTL_BELOW_MINIMUM`` (``ttl < min_ttl``), ``DNS_CONFLICT`` (names the
    conflicting records and what to change).
    """
    q = CnameRequest(tuple(records), rr.strip().lower(), domain, value, ttl, min_ttl, listener_key,
                     allow_apex, replace_owned, line)
    CNAME_CHECKS.enforce(q)
    return cname_plan(q)

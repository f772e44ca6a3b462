"""Thin adapter over Alibaba Cloud DNS (``alibabacloud_alidns20150109``, API ``2015-01-09``).

Every call goes through the call policy (the one retry layer); errors come out as
:class:`~shared.core.errors.AlbMtlsError` (check ``err.cloud_code`` / ``err.is_not_found``). Lists are
read to the end (``PageNumber``/``PageSize``). Alidns has no ``ClientToken``: :func:`add_record`
looks before it adds again after a lost response. Reads return plain dataclasses; writes return
the record id. The SDK is imported lazily (cold start).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from shared.adapters.base import Adapter
from shared.core.errors import AlbMtlsError, Code
from shared.policy.dns import DEFAULT_LINE, DnsRecord, canon_host, min_ttl_for

__all__ = [
    "Alidns", "DomainInfo", "TxtVerification",
]

PAGE_SIZE = 100          # DescribeDomains / DescribeSubDomainRecords maximum
MAX_PAGES = 100          # safety bound on paging


def _models() -> Any:
    from alibabacloud_alidns20150109 import models

    return models


def _wrapped(obj: Any, attr: str) -> list[Any]:
    """``DnsServers.DnsServer[]``-style lists (the XML heritage of Alidns responses)."""
    inner = getattr(obj, attr, None) if obj is not None else None
    return list(inner or [])


@dataclass(frozen=True, slots=True)
class DomainInfo:
    """A zone in this account (``DescribeDomainInfo``): ``min_ttl`` in seconds; ``dns_servers`` =
    the authoritative name servers Alibaba assigned (host names)."""

    domain_name: str
    domain_id: str | None
    version_code: str | None
    min_ttl: int
    dns_servers: tuple[str, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class TxtVerification:
    """The TXT record the domain owner must publish (``GetTxtRecordForVerify``)."""

    rr: str
    value: str
    domain_name: str

    def describe(self) -> str:
        return f"TXT {self.rr}.{self.domain_name} = \"{self.value}\""


def _find_cname_raw(client: Any, m: Any, fqdn: str, domain: str, rr: str, value: str, line: str) -> str | None:
    """The look inside the retry loop (raw call: the retry layer around it maps its errors)."""
    body = client.describe_sub_domain_records(m.DescribeSubDomainRecordsRequest(
        sub_domain=fqdn, domain_name=domain, line=line, type="CNAME", page_number=1, page_size=PAGE_SIZE)).body
    for r in _wrapped(body.domain_records, "record"):
        rec = DnsRecord.from_api(r)
        if rec.rr == rr and canon_host(rec.value) == canon_host(value):
            return rec.record_id
    return None


class Alidns(Adapter):
    """Alibaba Cloud DNS 2015-01-09 (module doc)."""

    product = "alidns"

    def describe_domain_info(self, domain: str) -> DomainInfo | None:
        """``DescribeDomainInfo(DomainName)`` → :class:`DomainInfo`, or ``None`` when the zone is not in
        this account (``InvalidDomainName.NoExist`` / not-found codes). Raises other ``AlbMtlsError``."""
        m = _models()
        client = self.client
        try:
            resp = self.call("alidns:DescribeDomainInfo",
                            lambda: client.describe_domain_info(m.DescribeDomainInfoRequest(domain_name=domain)))
        except AlbMtlsError as exc:
            if exc.code == Code.DOMAIN_NOT_IN_ACCOUNT or exc.is_not_found:
                return None
            raise
        b = resp.body
        return DomainInfo(domain_name=b.domain_name or domain, domain_id=b.domain_id, version_code=b.version_code,
                          min_ttl=min_ttl_for(b.min_ttl, b.version_code),
                          dns_servers=tuple(_wrapped(b.dns_servers, "dns_server")))

    def add_domain(self, domain: str) -> bool:
        """``AddDomain(DomainName)``. Returns True when it added the zone (one write), False when the
        zone was already in this account (``InvalidDomainName.Duplicate``). Raises ``AlbMtlsError``
        (``DomainAddedByOthers`` → ``DOMAIN_NOT_IN_ACCOUNT`` with what to do)."""
        m = _models()
        client = self.client
        try:
            self.call("alidns:AddDomain", lambda: client.add_domain(m.AddDomainRequest(domain_name=domain)))
            return True
        except AlbMtlsError as exc:
            if exc.cloud_code == "InvalidDomainName.Duplicate":
                return False
            if exc.cloud_code == "DomainAddedByOthers":
                raise AlbMtlsError(Code.DOMAIN_NOT_IN_ACCOUNT, f"{domain} is held by another Alibaba Cloud account; "
                                   "retrieve it (GetTxtRecordForVerify Type=RETRIEVAL, publish the TXT, "
                                   "RetrieveDomain) or use that account", field="domain",
                                   request_id=exc.request_id) from None
            raise

    def get_txt_record_for_verify(self, domain: str, vtype: str = "ADD_SUB_DOMAIN") -> TxtVerification:
        """``GetTxtRecordForVerify(Type, DomainName)`` → the TXT (RR, value) to publish (valid 3 days)."""
        m = _models()
        client = self.client
        req = m.GetTxtRecordForVerifyRequest(type=vtype, domain_name=domain)
        b = self.call("alidns:GetTxtRecordForVerify", lambda: client.get_txt_record_for_verify(req)).body
        return TxtVerification(rr=b.rr or "", value=b.value or "", domain_name=b.domain_name or domain)

    def sub_domain_records(self, fqdn: str, domain: str, *, line: str | None = None,
                           rtype: str | None = None) -> list[DnsRecord]:
        """Every record on ``fqdn`` in zone ``domain`` (``DescribeSubDomainRecords``, all pages),
        optionally only of ``line`` / ``rtype``."""
        m = _models()
        client = self.client
        out: list[DnsRecord] = []
        for page in range(1, MAX_PAGES + 1):
            req = m.DescribeSubDomainRecordsRequest(sub_domain=fqdn, domain_name=domain, line=line, type=rtype,
                                                    page_number=page, page_size=PAGE_SIZE)
            body = self.call("alidns:DescribeSubDomainRecords",
                             partial(client.describe_sub_domain_records, req)).body
            items = _wrapped(body.domain_records, "record")
            out.extend(DnsRecord.from_api(r) for r in items)
            if not items or len(out) >= int(body.total_count or 0):
                break
        return out

    def _find_cname(self, fqdn: str, domain: str, rr: str, value: str, line: str) -> DnsRecord | None:
        for r in self.sub_domain_records(fqdn, domain, line=line):
            if r.rr == rr and r.type == "CNAME" and canon_host(r.value) == canon_host(value):
                return r
        return None

    def add_record(self, domain: str, rr: str, rtype: str, value: str, *, ttl: int,
                   line: str = DEFAULT_LINE) -> tuple[str, bool]:
        """``AddDomainRecord`` → ``(record_id, added)``. No ``ClientToken`` exists: before a retry
        (after a lost response) it looks the record up first, and ``DomainRecordDuplicate`` is answered
        by reading the existing record back (``added`` False: no write of ours landed for sure).
        Only for CNAME look-ups; other types are added without the look-before-retry."""
        m = _models()
        client = self.client
        fqdn = domain if rr == "@" else f"{rr}.{domain}"
        tries = {"n": 0}
        found: dict[str, str] = {}

        def attempt() -> Any:
            tries["n"] += 1
            if tries["n"] > 1 and rtype == "CNAME":
                prev = _find_cname_raw(client, m, fqdn, domain, rr, value, line)
                if prev is not None:
                    found["id"] = prev
                    return None
            return client.add_domain_record(m.AddDomainRecordRequest(domain_name=domain, rr=rr, type=rtype,
                                                                     value=value, ttl=ttl, line=line))

        try:
            resp = self.call("alidns:AddDomainRecord", attempt)
        except AlbMtlsError as exc:
            if exc.cloud_code == "DomainRecordDuplicate" and rtype == "CNAME":
                prev_rec = self._find_cname(fqdn, domain, rr, value, line)
                if prev_rec is not None:
                    return prev_rec.record_id, False
            raise
        if resp is None:
            return found["id"], True   # our first attempt landed; its response was lost
        return str(resp.body.record_id), True

    def update_record(self, record_id: str, rr: str, rtype: str, value: str, *, ttl: int,
                      line: str = DEFAULT_LINE) -> bool:
        """``UpdateDomainRecord``. Returns True when it changed the record, False on
        ``DomainRecordDuplicate`` (already so — e.g. a retry after a lost response)."""
        m = _models()
        client = self.client
        req = m.UpdateDomainRecordRequest(record_id=record_id, rr=rr, type=rtype, value=value, ttl=ttl, line=line)
        try:
            self.call("alidns:UpdateDomainRecord", lambda: client.update_domain_record(req))
            return True
        except AlbMtlsError as exc:
            if exc.cloud_code == "DomainRecordDuplicate":
                return False
            raise

    def update_remark(self, record_id: str, remark: str) -> None:
        """``UpdateDomainRecordRemark(RecordId, Remark)`` (idempotent: sets the value)."""
        m = _models()
        client = self.client
        req = m.UpdateDomainRecordRemarkRequest(record_id=record_id, remark=remark)
        self.call("alidns:UpdateDomainRecordRemark", lambda: client.update_domain_record_remark(req))

"""Alibaba Cloud DNS (Alidns, API version ``2015-01-09``): zones and records.

State (``localcloud/SCHEMA.md``): ``dns.domain`` keyed by ``DomainName``, ``dns.record`` keyed
by ``RecordId`` (a string) with ``key2 = DomainName``. The DNS server (``localruntime/dnsserver.py``)
reads the same documents on every query, so a change here is visible on the next query.

Behaviour (``docs/ALIBABA-APIS.md`` §3):

- lists wrapped as the real API wraps them (``DomainRecords.Record[]``, ``Domains.Domain[]``,
  ``DnsServers.DnsServer[]``), paging with ``PageNumber``/``PageSize``/``TotalCount``;
- ``DomainRecordDuplicate`` on an identical add (same RR, Type, Line, Value) and on an update that
  changes nothing; ``DomainRecordConflict`` per the conflict rules of §3.3 (CNAME against any
  other type on the same RR + Line, relaxed at the apex for MX/TXT);
- TTL outside the zone edition's range → ``QuotaExceeded.TTL`` (free edition: 600–86400 s);
- unknown zone → ``InvalidDomainName.NoExist``; unknown record → ``DomainRecordNotBelongToUser``;
- ``AddDomain`` adds a zone (``verified: false``); ``GetTxtRecordForVerify`` returns the TXT host
  record and value to publish; ``check_verification`` flips ``verified`` once that TXT is served.

Helpers for other parts of the local cloud (the DNS server, seeds, tests): ``zone_for`` (the zone
of a FQDN), ``fqdn``, ``norm_name``, ``records_at``, ``add_record`` (records without the API),
``txt_for_verify``, ``check_verification``; the store kinds ``DOMAIN`` and ``RECORD``.
"""
from . import responses  # noqa: F401 — registers the actions
from .models import (
                     DOMAIN,
                     RECORD,
                     VERSION,
                     add_record,
                     check_verification,
                     fqdn,
                     norm_name,
                     records_at,
                     txt_for_verify,
                     zone_for,
)

__all__ = ["DOMAIN", "RECORD", "VERSION", "add_record", "check_verification", "fqdn", "norm_name", "records_at",
           "txt_for_verify", "zone_for"]

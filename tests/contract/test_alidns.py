"""Contract: the real Alidns SDK (``alibabacloud_alidns20150109``) against the local cloud."""
from __future__ import annotations

import pytest
from alibabacloud_alidns20150109 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

from localcloud.products import alidns
from localcloud.products.alidns import exceptions as alidns_errors

ZONE = "example.test"
ALB = "alb-demostd000000000001.cn-hangzhou.alb.aliyuncs.com"


@pytest.fixture
def dns(clients):
    return clients("alidns")


def _err(fn, *args, **kw) -> ClientException:
    with pytest.raises(ClientException) as ei:
        fn(*args, **kw)
    return ei.value


def _sub(dns, sub, **kw):
    return dns.describe_sub_domain_records(m.DescribeSubDomainRecordsRequest(sub_domain=sub, **kw)).body


def _add(dns, rr, type, value, **kw):
    return dns.add_domain_record(m.AddDomainRecordRequest(domain_name=kw.pop("domain", ZONE), rr=rr, type=type,
                                                          value=value, **kw)).body


# -- zones ------------------------------------------------------------------------------------
def test_describe_domains_wraps_and_pages(dns):
    body = dns.describe_domains(m.DescribeDomainsRequest()).body
    assert body.total_count == 1 and body.page_number == 1 and body.page_size == 20
    d = body.domains.domain[0]
    assert d.domain_name == ZONE and d.version_code == "mianfei" and d.record_count == 3
    assert d.dns_servers.dns_server == ["dns1.hichina.com", "dns2.hichina.com"]
    raw = body.to_map()
    assert isinstance(raw["Domains"]["Domain"], list)
    assert isinstance(raw["Domains"]["Domain"][0]["DnsServers"]["DnsServer"], list)

    for name in ("b-zone.test", "c-zone.test"):
        dns.add_domain(m.AddDomainRequest(domain_name=name))
    page2 = dns.describe_domains(m.DescribeDomainsRequest(page_number=2, page_size=2)).body
    assert page2.total_count == 3 and [x.domain_name for x in page2.domains.domain] == ["c-zone.test"]
    kw = dns.describe_domains(m.DescribeDomainsRequest(key_word="zone")).body
    assert kw.total_count == 2
    exact = dns.describe_domains(m.DescribeDomainsRequest(key_word="zone", search_mode="EXACT")).body
    assert exact.total_count == 0 and exact.domains.domain == []
    assert _err(dns.describe_domains, m.DescribeDomainsRequest(page_size=101)).code == "InvalidParameter"


def test_describe_domain_info(dns):
    body = dns.describe_domain_info(m.DescribeDomainInfoRequest(domain_name=ZONE, need_detail_attributes=True)).body
    assert body.domain_name == ZONE and body.version_code == "mianfei"
    assert body.min_ttl == 600 and isinstance(body.min_ttl, int)
    assert body.dns_servers.dns_server == ["dns1.hichina.com", "dns2.hichina.com"]
    assert "600" in body.available_ttls.available_ttl and "60" not in body.available_ttls.available_ttl
    assert "default" in [line.line_code for line in body.record_lines.record_line]
    e = _err(dns.describe_domain_info, m.DescribeDomainInfoRequest(domain_name="nowhere.test"))
    assert e.code == "InvalidDomainName.NoExist" and e.status_code == 400
    e = _err(dns.describe_domain_info, m.DescribeDomainInfoRequest())
    assert e.code == "MissingParameter"


def test_add_domain_and_txt_verify(cloud, dns):
    body = dns.add_domain(m.AddDomainRequest(domain_name="New-Zone.test")).body
    assert body.domain_name == "new-zone.test" and body.domain_id
    ns = body.dns_servers.dns_server
    assert len(ns) == 2 and all(n.endswith(".hichina.com") for n in ns)
    info = dns.describe_domain_info(m.DescribeDomainInfoRequest(domain_name="new-zone.test")).body
    assert info.dns_servers.dns_server == ns and info.version_code == "mianfei"
    assert _err(dns.add_domain, m.AddDomainRequest(domain_name="new-zone.test")).code == "InvalidDomainName.Duplicate"
    assert _err(dns.add_domain, m.AddDomainRequest(domain_name="bad_name!.test")).code == "InvalidDomainName.Format"

    txt = dns.get_txt_record_for_verify(m.GetTxtRecordForVerifyRequest(domain_name="new-zone.test",
                                                                       type="ADD_SUB_DOMAIN")).body
    assert txt.rr and len(txt.value) == 32 and txt.domain_name == "new-zone.test" and txt.parent_domain_name == "test"
    again = dns.get_txt_record_for_verify(m.GetTxtRecordForVerifyRequest(domain_name="new-zone.test",
                                                                         type="ADD_SUB_DOMAIN")).body
    assert again.value == txt.value
    retrieval = dns.get_txt_record_for_verify(m.GetTxtRecordForVerifyRequest(domain_name="new-zone.test",
                                                                             type="RETRIEVAL")).body
    assert retrieval.rr == "aliyunRetrieval"
    assert _err(dns.get_txt_record_for_verify, m.GetTxtRecordForVerifyRequest(type="NOPE")).code == "InvalidParameter"

    assert cloud.store.get("dns.domain", "new-zone.test")["verified"] is False
    assert alidns.check_verification(cloud.store, "new-zone.test") is False
    _add(dns, txt.rr, "TXT", txt.value, domain="new-zone.test")
    assert alidns.check_verification(cloud.store, "new-zone.test") is True


# -- records: reads ---------------------------------------------------------------------------
def test_describe_sub_domain_records_seeded(dns):
    body = _sub(dns, f"legacy.{ZONE}")
    assert body.total_count == 1
    r = body.domain_records.record[0]
    assert (r.rr, r.type, r.value, r.line, r.status) == ("legacy", "A", "203.0.113.20", "default", "ENABLE")
    assert isinstance(r.record_id, str) and isinstance(r.ttl, int) and r.ttl == 600 and r.locked is False
    mx = _sub(dns, ZONE, type="mx").domain_records.record
    assert [(x.rr, x.value, x.priority) for x in mx] == [("@", f"mx.{ZONE}", 10)]
    assert _sub(dns, f"www.{ZONE}", type="CNAME").total_count == 0
    assert _sub(dns, f"www.{ZONE}", line="telecom").total_count == 0
    assert _sub(dns, f"www.{ZONE}", domain_name=ZONE).total_count == 1
    empty = _sub(dns, f"app.{ZONE}")
    assert empty.total_count == 0 and empty.domain_records.record == []
    assert empty.to_map()["DomainRecords"] == {"Record": []}
    assert _err(_sub, dns, "x.unknown.test").code == "InvalidDomainName.NoExist"


def test_describe_domain_records_paging_and_filters(dns):
    for i in range(4):
        _add(dns, f"h{i}", "A", f"192.0.2.{i + 1}")
    body = dns.describe_domain_records(m.DescribeDomainRecordsRequest(domain_name=ZONE, page_size=3)).body
    assert body.total_count == 7 and len(body.domain_records.record) == 3
    assert [r.rr for r in body.domain_records.record] == ["h3", "h2", "h1"]   # newest first (DESC)
    assert all(isinstance(r.create_timestamp, int) for r in body.domain_records.record)
    last = dns.describe_domain_records(m.DescribeDomainRecordsRequest(domain_name=ZONE, page_size=3,
                                                                      page_number=3)).body
    assert [r.rr for r in last.domain_records.record] == ["www"]
    asc = dns.describe_domain_records(m.DescribeDomainRecordsRequest(domain_name=ZONE, direction="ASC")).body
    assert [r.rr for r in asc.domain_records.record][:3] == ["www", "@", "legacy"]
    kw = dns.describe_domain_records(m.DescribeDomainRecordsRequest(domain_name=ZONE, key_word="203.0.113")).body
    assert {r.rr for r in kw.domain_records.record} == {"www", "legacy"}
    adv = dns.describe_domain_records(m.DescribeDomainRecordsRequest(domain_name=ZONE, search_mode="ADVANCED",
                                                                     type="MX")).body
    assert [r.rr for r in adv.domain_records.record] == ["@"]
    combo = dns.describe_domain_records(m.DescribeDomainRecordsRequest(domain_name=ZONE, search_mode="COMBINATION",
                                                                       rrkey_word="h")).body
    assert combo.total_count == 0
    e = _err(dns.describe_domain_records, m.DescribeDomainRecordsRequest(domain_name="unknown.test"))
    assert e.code == "InvalidDomainName.NoExist"
    big = dns.describe_domain_records(m.DescribeDomainRecordsRequest(domain_name=ZONE, page_size=500)).body
    assert big.page_size == 500


# -- records: writes --------------------------------------------------------------------------
def test_add_cname_then_duplicate(dns):
    body = _add(dns, "app", "CNAME", ALB)
    assert isinstance(body.record_id, str) and body.record_id and body.request_id
    r = _sub(dns, f"app.{ZONE}").domain_records.record[0]
    assert (r.record_id, r.type, r.value, r.ttl, r.line) == (body.record_id, "CNAME", ALB, 600, "default")
    e = _err(_add, dns, "app", "CNAME", ALB)
    assert e.code == "DomainRecordDuplicate" and e.status_code == 400
    assert e.data["Message"] == "The DNS record already exists."
    # the same value on another line is a different record
    assert _add(dns, "app", "CNAME", ALB, line="telecom").record_id != body.record_id


def test_conflict_rules(dns):
    e = _err(_add, dns, "legacy", "CNAME", ALB)
    assert e.code == "DomainRecordConflict" and e.status_code == 400
    # another line does not conflict
    _add(dns, "legacy", "CNAME", ALB, line="oversea")
    # a second CNAME value on the same host and line conflicts; an A next to a CNAME conflicts
    _add(dns, "app", "CNAME", ALB)
    assert _err(_add, dns, "app", "CNAME", "other.example.com").code == "DomainRecordConflict"
    assert _err(_add, dns, "app", "A", "192.0.2.1").code == "DomainRecordConflict"
    assert _err(_add, dns, "app", "TXT", "hello").code == "DomainRecordConflict"
    # several A records on one host are fine; the apex CNAME may sit next to MX (relaxed rule)
    _add(dns, "www", "A", "203.0.113.11")
    _add(dns, "@", "CNAME", ALB)
    _add(dns, "@", "TXT", "v=spf1 -all")
    assert _err(_add, dns, "@", "A", "192.0.2.9").code == "DomainRecordConflict"


def test_ttl_minimum_of_the_edition(dns):
    e = _err(_add, dns, "short", "A", "192.0.2.1", ttl=60)
    assert e.code == "QuotaExceeded.TTL" and e.status_code == 400 and "600" in e.data["Message"]
    assert _err(_add, dns, "long", "A", "192.0.2.1", ttl=86401).code == "QuotaExceeded.TTL"
    rid = _add(dns, "ok", "A", "192.0.2.1", ttl=3600).record_id
    assert _sub(dns, f"ok.{ZONE}").domain_records.record[0].ttl == 3600
    e = _err(dns.update_domain_record, m.UpdateDomainRecordRequest(record_id=rid, rr="ok", type="A",
                                                                   value="192.0.2.1", ttl=599))
    assert e.code == "QuotaExceeded.TTL"


def test_remarks(dns):
    rid = _add(dns, "app", "CNAME", ALB).record_id
    body = dns.update_domain_record_remark(m.UpdateDomainRecordRemarkRequest(record_id=rid,
                                                                             remark="alb-mtls:lsn-1")).body
    assert body.request_id
    assert _sub(dns, f"app.{ZONE}").domain_records.record[0].remark == "alb-mtls:lsn-1"
    dns.update_domain_record_remark(m.UpdateDomainRecordRemarkRequest(record_id=rid, remark=""))
    assert _sub(dns, f"app.{ZONE}").domain_records.record[0].remark is None
    e = _err(dns.update_domain_record_remark, m.UpdateDomainRecordRemarkRequest(record_id="999", remark="x"))
    assert e.code == "DomainRecordNotBelongToUser"


def test_update_and_delete(dns):
    rid = _add(dns, "app", "CNAME", "old.example.com").record_id
    upd = dns.update_domain_record(m.UpdateDomainRecordRequest(record_id=rid, rr="app", type="CNAME", value=ALB)).body
    assert upd.record_id == rid
    r = _sub(dns, f"app.{ZONE}").domain_records.record[0]
    assert (r.value, r.ttl) == (ALB, 600)
    # a no-op update is DomainRecordDuplicate
    e = _err(dns.update_domain_record, m.UpdateDomainRecordRequest(record_id=rid, rr="app", type="CNAME", value=ALB))
    assert e.code == "DomainRecordDuplicate"
    # moving it onto a host that holds an A record conflicts
    e = _err(dns.update_domain_record, m.UpdateDomainRecordRequest(record_id=rid, rr="legacy", type="CNAME",
                                                                   value=ALB))
    assert e.code == "DomainRecordConflict"
    e = _err(dns.update_domain_record, m.UpdateDomainRecordRequest(record_id="424242", rr="app", type="A",
                                                                   value="192.0.2.1"))
    assert e.code == "DomainRecordNotBelongToUser"
    deleted = dns.delete_domain_record(m.DeleteDomainRecordRequest(record_id=rid)).body
    assert deleted.record_id == rid
    assert _sub(dns, f"app.{ZONE}").total_count == 0
    assert _err(dns.delete_domain_record, m.DeleteDomainRecordRequest(record_id=rid)).code \
        == "DomainRecordNotBelongToUser"
    # after the delete the A record may take the host
    _add(dns, "app", "A", "192.0.2.5")


def test_parameter_validation(dns):
    assert _err(_add, dns, "mail", "MX", "mx2.example.test").code == "MissingParameter"
    assert _err(_add, dns, "mail", "MX", "mx2.example.test", priority=51).code == "InvalidParameter"
    _add(dns, "mail", "MX", "mx2.example.test", priority=5)
    assert _err(_add, dns, "bad", "A", "not-an-ip").code == alidns_errors.InvalidValue.code
    assert _err(_add, dns, "bad", "BOGUS", "x").code == alidns_errors.InvalidType.code
    assert _err(_add, dns, "bad", "A", "192.0.2.1", line="mars").code == alidns_errors.InvalidLine.code
    assert _err(_add, dns, "bad host", "A", "192.0.2.1").code == alidns_errors.InvalidRRFormat.code
    assert _err(_add, dns, "x", "A", "192.0.2.1", domain="unknown.test").code == "InvalidDomainName.NoExist"
    e = _err(dns.add_domain_record, m.AddDomainRecordRequest(domain_name=ZONE, type="A", value="192.0.2.1"))
    assert e.code == "MissingParameter"


def test_zone_for_helper(cloud):
    zone, rr = alidns.zone_for(cloud.store, "App.Example.Test.")
    assert zone["DomainName"] == ZONE and rr == "app"
    assert alidns.zone_for(cloud.store, ZONE)[1] == "@"
    assert alidns.zone_for(cloud.store, "a.b.example.test")[1] == "a.b"
    assert alidns.zone_for(cloud.store, "example.org") is None
    # guessed codes say so (listed in COVERAGE.md)
    assert all(c.assumed for c in (alidns_errors.InvalidValue, alidns_errors.InvalidType,
                                   alidns_errors.InvalidLine, alidns_errors.InvalidRRFormat))

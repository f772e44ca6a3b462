"""Contract: the local DNS server answers from the Alidns state (queried with dnspython)."""
from __future__ import annotations

import time

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import dnslib
import pytest
from alibabacloud_alidns20150109 import models as m

from localcloud.seed import DEMO
from localruntime.cloud import LocalCloud, Settings
from tests.conftest import make_client

ZONE = "example.test"
TIMEOUT = 2.0


@pytest.fixture
def dns_cloud(live_cloud):
    """The shared live cloud (its DNS server answers from the Alidns and ALB documents)."""
    return live_cloud


@pytest.fixture
def server(dns_cloud):
    host, port = dns_cloud.endpoints()["dns"].split(":")
    return host, int(port)


@pytest.fixture
def alidns(dns_cloud):
    return make_client("alidns", dns_cloud.endpoints())


def _resolver(server) -> dns.resolver.Resolver:
    r = dns.resolver.Resolver(configure=False)
    r.nameservers = [server[0]]
    r.port = server[1]
    r.timeout = TIMEOUT
    r.lifetime = TIMEOUT * 2
    r.cache = None
    return r


def _query(server, name, rtype="A", tcp=False) -> dns.message.Message:
    q = dns.message.make_query(name, rtype)
    fn = dns.query.tcp if tcp else dns.query.udp
    return fn(q, server[0], port=server[1], timeout=TIMEOUT)


def test_endpoint_registered(dns_cloud, server):
    assert server[0] == "127.0.0.1" and server[1] > 0
    assert dns_cloud.runtime["dns_endpoint"] == f"127.0.0.1:{server[1]}"


def test_cname_to_alb_resolves_to_localhost(server, alidns):
    alidns.add_domain_record(m.AddDomainRecordRequest(domain_name=ZONE, rr="app", type="CNAME",
                                                      value=DEMO["dns_name"]))
    ans = _resolver(server).resolve(f"app.{ZONE}", "A")
    assert [r.address for r in ans] == ["127.0.0.1"]
    assert ans.canonical_name.to_text() == DEMO["dns_name"] + "."
    cname = _resolver(server).resolve(f"app.{ZONE}", "CNAME")
    assert [r.target.to_text() for r in cname] == [DEMO["dns_name"] + "."]
    assert cname.rrset.ttl == 600
    direct = _resolver(server).resolve(DEMO["dns_name"], "A")
    assert [r.address for r in direct] == ["127.0.0.1"]


def test_seeded_records(server):
    r = _resolver(server)
    assert [a.address for a in r.resolve(f"www.{ZONE}", "A")] == ["203.0.113.10"]
    mx = r.resolve(ZONE, "MX")
    assert [(x.preference, x.exchange.to_text()) for x in mx] == [(10, f"mx.{ZONE}.")]
    assert mx.rrset.ttl == 600
    resp = _query(server, f"www.{ZONE}", tcp=True)
    assert resp.answer[0][0].address == "203.0.113.10"


def test_nxdomain_with_soa(server):
    with pytest.raises(dns.resolver.NXDOMAIN):
        _resolver(server).resolve(f"nope.{ZONE}", "A")
    resp = _query(server, f"nope.{ZONE}")
    assert resp.rcode() == dns.rcode.NXDOMAIN
    assert resp.authority and resp.authority[0].rdtype == dns.rdatatype.SOA
    assert resp.authority[0].name.to_text() == ZONE + "."
    nodata = _query(server, f"www.{ZONE}", "AAAA")
    assert nodata.rcode() == dns.rcode.NOERROR and not nodata.answer
    assert nodata.authority[0].rdtype == dns.rdatatype.SOA


def test_refused_outside_zones(server):
    assert _query(server, "www.example.org").rcode() == dns.rcode.REFUSED


def test_changes_visible_on_next_query(server, alidns):
    rid = alidns.add_domain_record(m.AddDomainRecordRequest(domain_name=ZONE, rr="svc", type="A",
                                                            value="192.0.2.1")).body.record_id
    assert [a.address for a in _resolver(server).resolve(f"svc.{ZONE}", "A")] == ["192.0.2.1"]
    alidns.update_domain_record(m.UpdateDomainRecordRequest(record_id=rid, rr="svc", type="A", value="192.0.2.2",
                                                            ttl=1800))
    ans = _resolver(server).resolve(f"svc.{ZONE}", "A")
    assert [a.address for a in ans] == ["192.0.2.2"] and ans.rrset.ttl == 1800
    alidns.add_domain_record(m.AddDomainRecordRequest(domain_name=ZONE, rr="svc", type="TXT", value="hello world"))
    txt = _resolver(server).resolve(f"svc.{ZONE}", "TXT")
    assert [b"".join(t.strings) for t in txt] == [b"hello world"]
    alidns.delete_domain_record(m.DeleteDomainRecordRequest(record_id=rid))
    with pytest.raises(dns.resolver.NoAnswer):
        _resolver(server).resolve(f"svc.{ZONE}", "A")


def test_resolve_without_sockets(dns_cloud):
    from localcloud.products.alidns import add_record
    svc = dns_cloud.services["dns"]
    add_record(dns_cloud.store, 0, ZONE, "*.wild", "A", "192.0.2.77")
    reply = svc.resolve(dnslib.DNSRecord.question(f"x.wild.{ZONE}"))
    assert reply.header.rcode == dnslib.RCODE.NOERROR and str(reply.rr[0].rdata) == "192.0.2.77"
    apex_ns = svc.resolve(dnslib.DNSRecord.question(ZONE, "NS"))
    assert sorted(str(r.rdata) for r in apex_ns.rr) == ["dns1.hichina.com.", "dns2.hichina.com."]
    empty_non_terminal = svc.resolve(dnslib.DNSRecord.question(f"wild.{ZONE}"))
    assert empty_non_terminal.header.rcode == dnslib.RCODE.NOERROR and not empty_non_terminal.rr


def test_stop_is_prompt(tmp_path):
    # a cloud of its own: the test stops it
    c = LocalCloud(tmp_path / "s2", seed="demo", settings=Settings(services=("dns",))).start()
    port = int(c.endpoints()["dns"].split(":")[1])
    t0 = time.monotonic()
    c.stop()
    assert time.monotonic() - t0 < 2.0
    assert "dns_endpoint" not in c.runtime
    with pytest.raises(dns.exception.Timeout):
        dns.query.udp(dns.message.make_query(f"www.{ZONE}", "A"), "127.0.0.1", port=port, timeout=0.3)

"""create_cname through its FC handler against the live local cloud (real DNS server)."""
from __future__ import annotations

import copy

from localcloud.seed import DEMO

FN = "albmtls-create-cname"


def _event(inp: dict, attempt: int = 0) -> dict:
    return {"input": inp, "execution_name": "test-exec", "attempt": attempt}


def _with(demo_input: dict, **changes) -> dict:
    inp = copy.deepcopy(demo_input)
    inp.update(changes)
    return inp


def test_adds_cname_resolves_and_second_call_is_a_no_op(live_cloud, invoke, writes, demo_input):
    out = invoke(FN, _event(demo_input))
    assert out["status"] == "ok", out
    assert out["attempt"] == 1
    dns = out["dns"]
    assert dns["rr"] == "app" and dns["domain"] == "example.test" and dns["type"] == "CNAME"
    assert dns["value"] == DEMO["dns_name"] and dns["ttl"] == 600 and dns["propagated"] is True
    made = writes.since()
    assert out["writes"] == len(made) == 2, made   # AddDomainRecord + UpdateDomainRecordRemark
    assert {c["action"] for c in made} == {"AddDomainRecord", "UpdateDomainRecordRemark"}

    # the record is ours (remark) and the local DNS server answers it
    rec = live_cloud.store.get("dns.record", dns["record_id"])
    assert rec["Remark"] == f"alb-mtls:{demo_input['load_balancer_id']}-443" and rec["Line"] == "default"
    import dns.resolver as dns_resolver

    from shared.core.settings import Settings
    host, port = Settings.load().dns_server_address()
    r = dns_resolver.Resolver(configure=False)
    r.nameservers, r.port, r.lifetime = [host], port, 3
    assert r.resolve("app.example.test", "A")[0].address == "127.0.0.1"

    writes.mark()
    again = invoke(FN, _event(demo_input, attempt=3))
    assert again["status"] == "ok" and again["writes"] == 0 and again["attempt"] == 4
    assert again["dns"]["record_id"] == dns["record_id"]
    assert writes.since() == []


def test_owned_record_pointing_elsewhere_is_updated(live_cloud, invoke, writes, demo_input):
    from localcloud.products.alidns import add_record
    add_record(live_cloud.store, 0, "example.test", "app", "CNAME", "old-alb.cn-hangzhou.alb.aliyuncs.com",
               remark=f"alb-mtls:{demo_input['load_balancer_id']}-443")
    writes.mark()
    out = invoke(FN, _event(demo_input))
    assert out["status"] == "ok", out
    assert out["writes"] == 1 and [c["action"] for c in writes.since()] == ["UpdateDomainRecord"]
    assert out["dns"]["value"] == DEMO["dns_name"]


def test_ttl_changed_in_the_console_is_put_back(live_cloud, invoke, writes, demo_input):
    """Drift of the CNAME's TTL (someone edited the record) is repaired; someone else's is not touched."""
    out = invoke(FN, _event(demo_input))
    rid = out["dns"]["record_id"]
    live_cloud.store.put("dns.record", rid, live_cloud.store.get("dns.record", rid) | {"TTL": 3600})
    writes.mark()
    again = invoke(FN, _event(demo_input))
    assert again["status"] == "ok" and again["dns"]["ttl"] == 600, again
    assert [c["action"] for c in writes.since()] == ["UpdateDomainRecord"]
    assert live_cloud.store.get("dns.record", rid)["TTL"] == 600
    # a CNAME with the right target owned by someone else keeps its TTL (it is not ours to change)
    live_cloud.store.put("dns.record", rid, live_cloud.store.get("dns.record", rid) | {"TTL": 3600, "Remark": "ops"})
    writes.mark()
    third = invoke(FN, _event(demo_input))
    assert third["status"] == "ok" and writes.since() == []


def test_foreign_cname_is_a_conflict(live_cloud, invoke, writes, demo_input):
    from localcloud.products.alidns import add_record
    add_record(live_cloud.store, 0, "example.test", "app", "CNAME", "someone-else.example.net")
    writes.mark()
    out = invoke(FN, _event(demo_input))
    assert out["status"] == "failed" and out["error"]["code"] == "DNS_CONFLICT", out
    assert "someone-else.example.net" in out["error"]["message"]
    assert writes.since() == []


def test_conflicting_a_record_is_refused(live_cloud, invoke, writes, demo_input):
    out = invoke(FN, _event(_with(demo_input, rr="legacy")))
    assert out["status"] == "failed" and out["error"]["code"] == "DNS_CONFLICT", out
    assert "legacy A 203.0.113.20" in out["error"]["message"]
    assert writes.since() == []


def test_apex_is_refused_without_allow_apex(live_cloud, invoke, writes, demo_input):
    out = invoke(FN, _event(_with(demo_input, rr="@")))
    assert out["status"] == "failed" and out["error"]["code"] == "APEX_CNAME_REFUSED", out
    assert writes.since() == []


def test_ttl_below_the_edition_minimum(live_cloud, invoke, writes, demo_input):
    out = invoke(FN, _event(_with(demo_input, ttl=60)))
    assert out["status"] == "failed" and out["error"]["code"] == "TTL_BELOW_MINIMUM", out
    assert "600" in out["error"]["message"]
    assert writes.since() == []


def test_unknown_domain_is_added_and_the_txt_is_named(live_cloud, invoke, writes, demo_input):
    out = invoke(FN, _event(_with(demo_input, domain="unknown-zone.test")))
    assert out["status"] == "failed" and out["error"]["code"] == "DOMAIN_NOT_IN_ACCOUNT", out
    from localcloud.products.alidns import txt_for_verify
    txt = txt_for_verify("ADD_SUB_DOMAIN", "unknown-zone.test")
    msg = out["error"]["message"]
    assert txt["RR"] in msg and txt["Value"] in msg
    assert [c["action"] for c in writes.since()] == ["AddDomain"]


def test_apex_beside_the_zones_mx_is_refused_even_with_allow_apex(live_cloud, invoke, writes, demo_input):
    """The demo zone holds '@ MX': a CNAME at the apex would hide it, so allow_apex does not place it."""
    out = invoke(FN, _event(_with(demo_input, rr="@", allow_apex=True)))
    assert out["status"] == "failed" and out["error"]["code"] == "APEX_CNAME_REFUSED", out
    assert "@ MX" in out["error"]["message"]
    assert writes.since() == []


def test_propagation_reports_the_name_servers_and_the_zones_negative_caching(live_cloud, invoke, demo_input):
    """The result names every authoritative server asked and those that answered, how long it waited,
    and the bound from the record's TTL and the zone's SOA (read with a DNS query, not an API)."""
    out = invoke(FN, _event(demo_input))
    assert out["status"] == "ok", out
    prop = out["dns"]["propagation"]
    server = f"127.0.0.1:{live_cloud.runtime['dns_endpoint'].rsplit(':', 1)[1]}"
    assert prop["name_servers"] == [server] and prop["answered"] == [server]
    assert prop["negative_ttl_source"] == "soa" and prop["negative_ttl_s"] == 600   # min(SOA TTL, MINIMUM)
    assert prop["ttl_s"] == 600 and prop["bound_s"] == 600
    assert prop["waited_s"] >= 0 and out["since"] == prop["since"]


def _silent_name_server(monkeypatch):
    """Point the propagation check at a local UDP port nobody answers on; a short in-call slice."""
    import socket

    import shared.steps.dns as dns_step
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                    # closed: queries are refused at once
    monkeypatch.setenv("ALBMTLS_DNS_SERVER", f"127.0.0.1:{port}")
    monkeypatch.setattr(dns_step, "PROPAGATION_SLICE_S", 0.6)
    return f"127.0.0.1:{port}"


def test_propagation_wait_is_bounded_in_time_not_attempts(live_cloud, invoke, demo_input, monkeypatch):
    from datetime import UTC, datetime, timedelta
    server = _silent_name_server(monkeypatch)
    first = invoke(FN, _event(demo_input))
    assert first["status"] == "pending_propagation", first
    assert first["dns"]["propagation"]["answered"] == [] and first["dns"]["propagation"]["name_servers"] == [server]
    assert first["dns"]["propagation"]["negative_ttl_source"] == "default"   # no SOA either: 600 s assumed
    since = first["since"]
    # a later call within the bound (600 s): still pending, whatever its attempt number
    later = invoke(FN, dict(_event(demo_input, attempt=150), since=since))
    assert later["status"] == "pending_propagation" and later["since"] == since, later
    # past the bound: the step itself fails, naming the silent server and how long it waited
    old = (datetime.now(UTC) - timedelta(seconds=700)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = invoke(FN, dict(_event(demo_input, attempt=2), since=old))
    assert out["status"] == "failed" and out["error"]["code"] == "DNS_NOT_PROPAGATED", out
    assert server in out["error"]["message"] and "600 s" in out["error"]["message"]
    assert out["since"] == old and out["attempt"] == 3


def test_read_back_otherwise_is_drift_naming_value_written_and_read(live_cloud, invoke, demo_input, monkeypatch):
    """Someone repoints the record between our write and the read-back: DRIFT_AFTER_APPLY with both values."""
    from shared.adapters import alidns
    from shared.policy.dns import DnsRecord

    real = alidns.Alidns.sub_domain_records

    def meddled(self, fqdn, domain, **kw):
        got = real(self, fqdn, domain, **kw)
        if "line" not in kw:                      # the observation, before the write
            return got
        return [DnsRecord(r.record_id, r.rr, r.type, "elsewhere.example.net", r.ttl, r.line, r.remark)
                for r in got]

    monkeypatch.setattr(alidns.Alidns, "sub_domain_records", meddled)
    out = invoke(FN, _event(demo_input))
    assert out["status"] == "failed" and out["error"]["code"] == "DRIFT_AFTER_APPLY", out
    msg = out["error"]["message"]
    assert f"wrote CNAME {DEMO['dns_name']}" in msg and "app CNAME elsewhere.example.net" in msg

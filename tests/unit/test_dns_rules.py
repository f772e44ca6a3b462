"""The pure CNAME conflict rules (shared.policy.dns), table-driven plus hypothesis."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.core.errors import AlbMtlsError
from shared.policy.dns import CnamePlan, DnsRecord, canon_host, min_ttl_for, owner_remark, plan_cname

LK = "alb-demostd000000000001-443"
MINE = owner_remark(LK)
ALB = "alb-demostd000000000001.cn-hangzhou.alb.aliyuncs.com"


def rec(rr="app", type="CNAME", value=ALB, line="default", remark=MINE, rid="1", ttl=600):
    return DnsRecord(record_id=rid, rr=rr, type=type, value=value, ttl=ttl, line=line, remark=remark)


# (id, records, kwargs, expected action | error code, expected record_id, claim_remark)
CASES = [
    ("empty → add", [], {}, "add", None, False),
    ("same value ours → none", [rec()], {}, "none", "1", False),
    ("same value, trailing dot and case → none", [rec(value=ALB.upper() + ".")], {}, "none", "1", False),
    ("same value without remark → none + claim", [rec(remark=None)], {}, "none", "1", True),
    ("same value foreign remark → none, no claim", [rec(remark="someone")], {}, "none", "1", False),
    ("ours elsewhere → update", [rec(value="old.alb.aliyuncs.com")], {}, "update", "1", False),
    ("ours elsewhere, replace off → conflict", [rec(value="old.alb.aliyuncs.com")],
     {"replace_owned": False}, "DNS_CONFLICT", None, False),
    ("other listener's CNAME → conflict", [rec(value="x.example.net", remark=owner_remark("alb-x-443"))], {},
     "DNS_CONFLICT", None, False),
    ("foreign CNAME → conflict", [rec(value="x.example.net", remark=None)], {}, "DNS_CONFLICT", None, False),
    ("A → conflict", [rec(type="A", value="203.0.113.20", remark=None)], {}, "DNS_CONFLICT", None, False),
    ("AAAA → conflict", [rec(type="AAAA", value="2001:db8::1", remark=None)], {}, "DNS_CONFLICT", None, False),
    ("MX on host → conflict", [rec(type="MX", value="mx.example.test", remark=None)], {}, "DNS_CONFLICT", None, False),
    ("TXT on host → conflict", [rec(type="TXT", value="v=spf1", remark=None)], {}, "DNS_CONFLICT", None, False),
    ("NS → conflict", [rec(type="NS", value="ns.example.net", remark=None)], {}, "DNS_CONFLICT", None, False),
    ("A on another line → add", [rec(type="A", value="203.0.113.20", line="telecom")], {}, "add", None, False),
    ("CNAME on another line → add", [rec(value="x.example.net", line="oversea", remark=None)], {}, "add", None,
     False),
    ("A on another rr → add", [rec(rr="www", type="A", value="203.0.113.10")], {}, "add", None, False),
    ("apex refused", [], {"rr": "@"}, "APEX_CNAME_REFUSED", None, False),
    ("apex allowed, alone at the apex → add", [], {"rr": "@", "allow_apex": True}, "add", None, False),
    ("apex allowed, beside MX → refused", [rec(rr="@", type="MX", value="mx.example.test", remark=None)],
     {"rr": "@", "allow_apex": True}, "APEX_CNAME_REFUSED", None, False),
    ("apex allowed, beside TXT → refused", [rec(rr="@", type="TXT", value="v=spf1", remark=None)],
     {"rr": "@", "allow_apex": True}, "APEX_CNAME_REFUSED", None, False),
    ("apex allowed, beside A → refused", [rec(rr="@", type="A", value="203.0.113.1", remark=None)],
     {"rr": "@", "allow_apex": True}, "APEX_CNAME_REFUSED", None, False),
    ("apex allowed, MX on another line → add", [rec(rr="@", type="MX", value="mx.example.test", line="telecom")],
     {"rr": "@", "allow_apex": True}, "add", None, False),
    ("apex allowed, ours already there → none", [rec(rr="@")], {"rr": "@", "allow_apex": True}, "none", "1",
     False),
    ("ttl below minimum", [], {"ttl": 60}, "TTL_BELOW_MINIMUM", None, False),
    ("ttl at minimum", [], {"ttl": 600}, "add", None, False),
    ("ttl 60 on a paid edition", [], {"ttl": 60, "min_ttl": 60}, "add", None, False),
    ("same value ours, other TTL → update (drift repaired)", [rec(ttl=1200)], {}, "update", "1", False),
    ("same value unmarked, other TTL → update + claim", [rec(ttl=1200, remark=None)], {}, "update", "1", True),
    ("same value foreign, other TTL → none (not ours)", [rec(ttl=1200, remark="someone")], {}, "none", "1", False),
    ("same value ours, other TTL, replace off → none", [rec(ttl=1200)], {"replace_owned": False}, "none", "1",
     False),
]


@pytest.mark.parametrize("name,records,kw,expected,rid,claim", CASES, ids=[c[0] for c in CASES])
def test_conflict_rules(name, records, kw, expected, rid, claim):
    args = {"rr": "app", "domain": "example.test", "value": ALB, "ttl": 600, "min_ttl": 600, "listener_key": LK}
    args.update(kw)
    if expected in ("add", "update", "none"):
        plan = plan_cname(records, **args)
        assert plan.action == expected
        assert plan.record_id == rid
        assert plan.claim_remark is claim
    else:
        with pytest.raises(AlbMtlsError) as ei:
            plan_cname(records, **args)
        assert ei.value.code == expected


def test_conflict_message_names_the_records():
    with pytest.raises(AlbMtlsError) as ei:
        plan_cname([rec(rr="legacy", type="A", value="203.0.113.20", rid="77", remark=None)], rr="legacy",
                   domain="example.test", value=ALB, ttl=600, min_ttl=600, listener_key=LK)
    assert "legacy.example.test" in ei.value.message and "legacy A 203.0.113.20" in ei.value.message
    assert "77" in ei.value.message


def test_apex_refusal_names_the_apex_records():
    """allow_apex never puts a CNAME beside the zone's MX/TXT: it would hide them (the records named)."""
    mx = rec(rr="@", type="MX", value="mx.example.test", rid="42", remark=None)
    with pytest.raises(AlbMtlsError) as ei:
        plan_cname([mx], rr="@", domain="example.test", value=ALB, ttl=600, min_ttl=600, listener_key=LK,
                   allow_apex=True)
    assert ei.value.code == "APEX_CNAME_REFUSED" and ei.value.field == "rr"
    assert "@ MX mx.example.test" in ei.value.message and "42" in ei.value.message


def test_plan_dict_and_helpers():
    assert CnamePlan("add", "app", ALB, 600).to_dict() == {"action": "add", "ttl": 600, "value": ALB, "rr": "app",
                                                          "line": "default"}
    assert CnamePlan("update", "app", ALB, 600, record_id="9").to_dict()["record_id"] == "9"
    assert min_ttl_for(None, "mianfei") == 600 and min_ttl_for("60", None) == 60
    assert min_ttl_for(None, "version_enterprise_advanced") == 1 and min_ttl_for(None, None) == 600
    assert canon_host(" A.B. ") == "a.b"
    assert DnsRecord.from_api({"RecordId": 5, "RR": "App", "Type": "cname", "Value": "x", "TTL": 600}).rr == "app"


_types = st.sampled_from(["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV", "CAA"])
_lines = st.sampled_from(["default", "telecom"])
_rrs = st.sampled_from(["app", "www", "@"])
_values = st.sampled_from([ALB, "x.example.net", "203.0.113.9"])
_remarks = st.sampled_from([None, MINE, "other"])
# record ids are unique within a zone (two records never share one)
_records = st.lists(st.builds(rec, rr=_rrs, type=_types, value=_values, line=_lines, remark=_remarks,
                              rid=st.text("0123456789", min_size=1, max_size=3)), max_size=6,
                    unique_by=lambda r: r.record_id)


@given(records=_records, rr=_rrs, allow_apex=st.booleans(), replace=st.booleans(), ttl=st.integers(1, 86400))
def test_plan_properties(records, rr, allow_apex, replace, ttl):
    args = dict(rr=rr, domain="example.test", value=ALB, ttl=ttl, min_ttl=600, listener_key=LK,
                allow_apex=allow_apex, replace_owned=replace)
    try:
        plan = plan_cname(records, **args)
    except AlbMtlsError as exc:
        assert exc.code in {"DNS_CONFLICT", "APEX_CNAME_REFUSED", "TTL_BELOW_MINIMUM"}
        return
    same = [r for r in records if r.rr == rr and r.line == "default"]
    assert rr != "@" or allow_apex
    assert ttl >= 600
    if plan.action == "add":          # nothing at all on (rr, default), at the apex too
        assert same == []
    elif plan.action == "update":     # only ever our own (or an unmarked) CNAME, and only when allowed
        target = next(r for r in same if r.record_id == plan.record_id)
        assert replace and target.type == "CNAME"
        if canon_host(target.value) != ALB.lower():
            assert target.remark == MINE            # repointed: ours only
        else:
            assert target.ttl != ttl and target.remark in (MINE, None)   # TTL drift of ours or unmarked
    else:                             # never a write against someone else's record value
        target = next(r for r in same if r.record_id == plan.record_id)
        assert target.type == "CNAME" and canon_host(target.value) == ALB.lower()
    # the decision does not depend on records of other hosts or lines
    assert plan_cname(same, **args).action == plan.action


def test_negative_ttl_and_propagation_bound():
    from shared.policy.dns import MAX_PROPAGATION_WAIT, negative_ttl, propagation_bound
    assert negative_ttl(600, 600) == 600 and negative_ttl(600, 360) == 360 and negative_ttl(300, 3600) == 300
    assert negative_ttl(None, None) is None and negative_ttl(None, 120) == 120
    assert propagation_bound(600, 600) == 600
    assert propagation_bound(60, 600) == 600          # a short TTL: the negative caching still bounds it
    assert propagation_bound(1200, 600) == 1200       # an update's longer TTL
    assert propagation_bound(86400, 600) == MAX_PROPAGATION_WAIT

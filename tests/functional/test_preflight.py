"""Functional tests of ``albmtls-preflight`` through the real FC handler: it refuses with its own
code and makes zero writes anywhere."""
from __future__ import annotations

import copy

import pytest

FN = "albmtls-preflight"


def _run(invoke, inp: dict) -> dict:
    return invoke(FN, {"input": inp, "execution_name": "preflight-test"})


def _refused(invoke, writes, inp: dict, code: str) -> dict:
    writes.mark()
    out = _run(invoke, inp)
    assert out["status"] == "failed", out
    assert out["error"]["code"] == code, out
    assert writes.since() == []
    return out


@pytest.fixture(autouse=True)
def _lane(lane):
    """The flows deployed: the preflight checks the CA through a check-only order in the issuing lane."""


def test_demo_input_passes_with_a_plan_and_zero_writes(live_cloud, invoke, writes, demo_input):
    seed = live_cloud.endpoints()["seed"]
    writes.mark()
    out = _run(invoke, demo_input)
    assert out["status"] == "ok", out
    assert out["writes"] == 0 and writes.since() == []
    plan = out["plan"]
    assert plan["load_balancer"] == {"id": seed["load_balancer_id"], "edition": "Standard",
                                     "dns_name": seed["dns_name"], "vpc_id": seed["vpc_id"]}
    assert plan["listener"] == {"action": "create"}
    assert plan["server_certificate"]["id"] == seed["server_cert_identifier"]
    assert plan["server_certificate"]["mode"] == "id" and plan["server_certificate"]["action"] == "use"
    assert plan["server_group"]["action"] == "create" and plan["server_group"]["servers_to_add"] == 2
    assert plan["dns"] != "not checked" and plan["dns"]["action"] == "add"
    assert plan["ca"]["ca_identifier"] == seed["pca_sub_identifier"]


def test_after_enable_the_plan_is_none(live_cloud, invoke, writes, demo_input):
    out = invoke("albmtls-enable-mutual-auth", {"input": demo_input, "execution_name": "e1"})
    for _ in range(5):
        if out["status"] != "pending":
            break
        out = invoke("albmtls-enable-mutual-auth", {"input": demo_input, "execution_name": "e1",
                                                   "attempt": out["attempt"]})
    assert out["status"] == "ok", out
    writes.mark()
    pre = _run(invoke, demo_input)
    assert pre["status"] == "ok", pre
    assert pre["plan"]["listener"] == {"action": "none", "id": out["listener"]["id"]}
    assert pre["plan"]["server_group"]["action"] == "none"
    assert writes.since() == []


def test_basic_edition_refused(live_cloud, invoke, writes, demo_input):
    inp = dict(demo_input, load_balancer_id=live_cloud.endpoints()["seed"]["basic_load_balancer_id"])
    _refused(invoke, writes, inp, "ALB_EDITION_UNSUPPORTED")


def test_unknown_load_balancer_refused(live_cloud, invoke, writes, demo_input):
    _refused(invoke, writes, dict(demo_input, load_balancer_id="alb-doesnotexist0000001"), "LOAD_BALANCER_NOT_FOUND")


def test_http_listener_port_refused(live_cloud, invoke, writes, demo_input):
    out = _refused(invoke, writes, dict(demo_input, listener_port=8080), "LISTENER_PORT_CONFLICT")
    assert out["error"]["field"] == "listener_port"


def test_server_certificate_not_covering_the_host_refused(live_cloud, invoke, writes, demo_input):
    _refused(invoke, writes, dict(demo_input, rr="other", domain="example.test"), "SERVER_CERT_MISMATCH")


def test_unknown_server_certificate_refused(live_cloud, invoke, writes, demo_input):
    inp = dict(demo_input, server_certificate={"certificate_id": "29999999"})
    _refused(invoke, writes, inp, "CERT_NOT_FOUND")


def test_find_mode_picks_the_seeded_certificate(live_cloud, invoke, writes, demo_input):
    seed = live_cloud.endpoints()["seed"]
    out = _run(invoke, dict(demo_input, server_certificate={}))
    assert out["status"] == "ok", out
    assert out["plan"]["server_certificate"]["id"] == seed["server_cert_identifier"]
    assert out["plan"]["server_certificate"]["mode"] == "find"


def test_server_group_name_in_another_vpc_refused(live_cloud, invoke, writes, demo_input):
    seed = live_cloud.endpoints()["seed"]
    doc = live_cloud.store.get("alb.servergroup", seed["demo_server_group_id"])
    live_cloud.store.put("alb.servergroup", doc["ServerGroupId"], dict(doc, VpcId=seed["other_vpc_id"]))
    inp = copy.deepcopy(demo_input)
    inp["server_group"]["name"] = doc["ServerGroupName"]
    _refused(invoke, writes, inp, "SERVER_GROUP_VPC_MISMATCH")


def test_server_in_another_vpc_refused_by_dry_run(live_cloud, invoke, writes, demo_input):
    seed = live_cloud.endpoints()["seed"]
    inp = copy.deepcopy(demo_input)
    inp["server_group"]["name"] = "demo-http"  # the seeded (empty) group in the ALB's VPC
    inp["server_group"]["servers"].append({"server_id": seed["other_vpc_ecs"], "port": 80})
    _refused(invoke, writes, inp, "SERVER_GROUP_VPC_MISMATCH")


def test_host_record_with_an_a_record_refused(live_cloud, invoke, writes, demo_input):
    inp = dict(demo_input, rr="legacy")
    _refused(invoke, writes, inp, "DNS_CONFLICT")


def test_cname_at_apex_refused(live_cloud, invoke, writes, demo_input):
    out = _refused(invoke, writes, dict(demo_input, rr="@"), "APEX_CNAME_REFUSED")
    assert out["error"]["field"] == "input.rr"


def test_sub_ca_ending_before_the_validity_refused(live_cloud, invoke, writes, demo_input):
    inp = copy.deepcopy(demo_input)
    inp["clients"][0]["days"] = 3650
    _refused(invoke, writes, inp, "CA_EXPIRES_TOO_SOON")


def test_unknown_sub_ca_refused(live_cloud, invoke, writes, demo_input):
    _refused(invoke, writes, dict(demo_input, ca_identifier="0123456789abcdef0123456789abcdef"), "CA_NOT_FOUND")


def test_clock_skew_with_the_cloud_is_measured_from_the_date_header_and_warned(live_cloud, invoke, demo_input,
                                                                               monkeypatch):
    """The function's clock 10 minutes ahead of the cloud: the Date header of the cloud's answers
    shows it, and the preflight warns (a certificate backdated 5 minutes would not yet be valid)."""
    from datetime import UTC, datetime, timedelta
    ahead = datetime.now(UTC) + timedelta(minutes=10)
    monkeypatch.setenv("ALBMTLS_NOW", ahead.strftime("%Y-%m-%dT%H:%M:%SZ"))
    out = _run(invoke, demo_input)
    assert out["status"] == "ok", out
    assert 590 <= out["clock_skew_s"] <= 610, out["clock_skew_s"]
    skew = [w for w in out["warnings"] if w["kind"] == "clock_skew"]
    assert len(skew) == 1 and "ahead of the cloud" in skew[0]["message"]
    monkeypatch.delenv("ALBMTLS_NOW")
    again = _run(invoke, demo_input)
    assert abs(again["clock_skew_s"]) <= 2 and not [w for w in again["warnings"] if w["kind"] == "clock_skew"]

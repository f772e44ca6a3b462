"""The fleet plan (shared.steps.plan) and the drift check (shared.steps.drift) against the live
local cloud: zero writes, what a fresh account would get, and drift found field by field."""
from __future__ import annotations

import copy
from pathlib import Path

import msgspec
import pytest

from shared.core.settings import Settings
from shared.policy.fleet import load_document, parse_fleet
from shared.steps.plan import plan_fleet

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet_doc() -> dict:
    return load_document((REPO / "examples" / "fleet.yaml").read_text(), "yaml")


def test_plan_on_a_fresh_account_creates_everything_with_zero_writes(live_cloud, writes, fleet_doc):
    writes.mark()
    plan = plan_fleet(Settings.load(), parse_fleet(fleet_doc))
    assert writes.since() == []
    assert plan.status == "ok" and plan.changes and plan.errors == 0 and plan.writes == 0
    first, second = plan.listeners
    assert (first.listener_key, first.path, first.status) == ("alb-demostd000000000001-443", "listeners[0]", "changes")
    assert second.listener_key == "alb-demostd000000000001-8443"
    assert first.listener.action == "create"
    assert {c.field: c.new for c in first.listener.changes}["CaEnabled"] is True
    assert first.server_group.action == "create" and len(first.server_group.changes) == 2
    assert first.dns.action == "add" and first.dns.changes[0].new["ttl"] == 600
    assert [c.action for c in first.clients] == ["issue"] * 12
    assert [c.action for c in second.clients] == ["issue"] * 8
    assert first.desired_state.action == "create" and first.drift is None
    doc = msgspec.to_builtins(plan)
    assert doc["listeners"][0]["listener"]["action"] == "create"


def test_a_refused_listener_is_reported_and_the_others_planned(live_cloud, writes, fleet_doc):
    bad = copy.deepcopy(fleet_doc)
    bad["listeners"][1]["load_balancer_id"] = live_cloud.endpoints()["seed"]["basic_load_balancer_id"]
    bad["listeners"][1]["rr"] = "api"
    writes.mark()
    plan = plan_fleet(Settings.load(), parse_fleet(bad))
    assert writes.since() == []
    assert plan.status == "failed" and plan.errors == 1
    assert plan.listeners[0].status == "changes"
    assert plan.listeners[1].status == "error" and plan.listeners[1].error["code"] == "ALB_EDITION_UNSUPPORTED"


def _provisioned(live_cloud, invoke, demo_input) -> None:
    """The demo listener made by its steps (enable_mutual_auth until Running, create_cname) and its
    input recorded as the desired state — what a provision run leaves, without the flow."""
    from datetime import UTC, datetime

    from shared.adapters.base import CallPolicy
    from shared.adapters.kms import Kms
    from shared.core.wait import Deadline
    from shared.policy.contracts import ProvisionInput
    from shared.policy.validation import decode
    from shared.steps.desired import record_desired
    for attempt in range(20):
        out = invoke("albmtls-enable-mutual-auth", {"input": demo_input, "execution_name": "t", "attempt": attempt})
        if out["status"] == "ok":
            break
    assert out["status"] == "ok", out
    assert invoke("albmtls-create-cname", {"input": demo_input, "execution_name": "t"})["status"] == "ok"
    record_desired(Kms(CallPolicy(Deadline(30)), settings=Settings.load()), decode(ProvisionInput, demo_input),
                   now=datetime.now(UTC), execution="t")


def _alb(live_cloud):
    from tests.conftest import make_client
    return make_client("alb", live_cloud.endpoints())


def test_drift_found_field_by_field(lane, live_cloud, invoke, writes, demo_input):
    from alibabacloud_alb20200616 import models as am

    from shared.steps.drift import drift_report
    _provisioned(live_cloud, invoke, demo_input)
    clean = drift_report(Settings.load())
    assert (clean["checked"], clean["drifted"]) == (1, 0), clean

    alb = _alb(live_cloud)
    lid = next(d for d in live_cloud.store.list("alb.listener") if d["ListenerPort"] == 443)["ListenerId"]
    alb.update_listener_attribute(am.UpdateListenerAttributeRequest(listener_id=lid, ca_enabled=False))
    rid = next(d for d in live_cloud.store.list("dns.record") if d["RR"] == "app" and d["Type"] == "CNAME")["RecordId"]
    live_cloud.store.put("dns.record", rid, live_cloud.store.get("dns.record", rid) | {"TTL": 3600})
    writes.mark()
    doc = drift_report(Settings.load())
    assert writes.since() == []
    assert doc["drifted"] == 1
    [lst] = doc["listeners"]
    fields = {i["field"]: i for i in lst["items"]}
    assert set(fields) == {"CaEnabled", "cname.ttl"}, fields
    assert fields["CaEnabled"] == {"field": "CaEnabled", "desired": True, "actual": False}
    assert fields["cname.ttl"]["desired"] == 600 and fields["cname.ttl"]["actual"] == 3600


def test_plan_shows_the_drift_and_its_repair(lane, live_cloud, invoke, writes, demo_input):
    from alibabacloud_alb20200616 import models as am
    _provisioned(live_cloud, invoke, demo_input)
    lid = next(d for d in live_cloud.store.list("alb.listener") if d["ListenerPort"] == 443)["ListenerId"]
    _alb(live_cloud).update_listener_attribute(am.UpdateListenerAttributeRequest(
        listener_id=lid, security_policy_id="tls_cipher_policy_1_0"))
    plan = plan_fleet(Settings.load(), parse_fleet(demo_input))
    [r] = plan.listeners
    assert [(d.field, d.desired, d.actual) for d in r.drift] == [
        ("SecurityPolicyId", "tls_cipher_policy_1_2", "tls_cipher_policy_1_0")]
    assert r.listener.action == "update"
    assert [(c.field, c.old, c.new) for c in r.listener.changes] == [
        ("SecurityPolicyId", "tls_cipher_policy_1_0", "tls_cipher_policy_1_2")]
    assert r.desired_state.action == "none" and r.status == "changes"


def test_member_drift_is_found_and_repaired_by_the_listener_step(lane, live_cloud, invoke, writes, demo_input):
    """Someone adds a backend by hand and changes a weight: drift names both; enable_mutual_auth (what
    apply runs) removes the unlisted member and sets the weight back; then no drift."""
    from alibabacloud_alb20200616 import models as am

    from shared.steps.drift import drift_report
    _provisioned(live_cloud, invoke, demo_input)
    sg = next(d for d in live_cloud.store.list("alb.servergroup") if d["ServerGroupName"] == "albmtls-app-443")
    alb = _alb(live_cloud)
    ecs1, ecs2 = (s["server_id"] for s in demo_input["server_group"]["servers"])
    alb.add_servers_to_server_group(am.AddServersToServerGroupRequest().from_map({
        "ServerGroupId": sg["ServerGroupId"], "Servers": [{"ServerType": "Ecs", "ServerId": ecs2, "Port": 8080}]}))
    for _ in range(50):
        try:
            alb.update_server_group_servers_attribute(am.UpdateServerGroupServersAttributeRequest().from_map({
                "ServerGroupId": sg["ServerGroupId"],
                "Servers": [{"ServerType": "Ecs", "ServerId": ecs1, "Port": 80, "Weight": 10}]}))
            break
        except Exception:  # the group is Configuring after the add: wait for Available
            import time
            time.sleep(0.1)
    [d] = drift_report(Settings.load())["listeners"]
    assert {(i["field"], json_safe(i["desired"]), json_safe(i["actual"])) for i in d["items"]} == {
        (f"members[{ecs1}:80]", "{'weight': 100}", "{'weight': 10}"),
        (f"members[{ecs2}:8080]", "None", "{'weight': 100}")}

    writes.mark()
    for attempt in range(40):
        out = invoke("albmtls-enable-mutual-auth", {"input": demo_input, "execution_name": "t2", "attempt": attempt})
        if out["status"] == "ok":
            break
    assert out["status"] == "ok", out
    assert sorted(c["action"] for c in writes.since()) == ["RemoveServersFromServerGroup",
                                                           "UpdateServerGroupServersAttribute"]
    assert drift_report(Settings.load())["drifted"] == 0


def json_safe(v) -> str:
    return str(v)


def test_plan_shows_orphans_and_what_prune_revokes_as_the_run_does(lane, live_cloud, invoke, writes, demo_input):
    """Holders come from the private CA's list: bob, provisioned before and no longer in the file, is
    orphaned (kept); with prune: true the plan says he is revoked — then the run's ReconcileClients
    does exactly that, a second plan has nothing left to prune, and the inventory gives the reason."""
    from shared.steps.inventory import inventory_report
    _provisioned(live_cloud, invoke, demo_input)
    both = copy.deepcopy(demo_input)
    both["clients"] = [{"common_name": "alice"}, {"common_name": "bob"}]
    assert invoke("albmtls-issue-client-cert", {"input": both, "execution_name": "t"})["status"] == "ok"
    only_alice = copy.deepcopy(both)
    only_alice["clients"] = [{"common_name": "alice"}]

    writes.mark()
    [r] = plan_fleet(Settings.load(), parse_fleet(only_alice)).listeners
    assert (r.orphaned, r.pruned, r.access_records) == (("bob",), (), ("bob",))      # marked orphaned by the run
    assert r.status == "changes"
    [p] = plan_fleet(Settings.load(), parse_fleet(only_alice | {"prune": True})).listeners
    assert (p.orphaned, p.pruned) == ((), ("bob",)) and p.status == "changes"
    assert writes.since() == []

    done = invoke("albmtls-offboard-client", {"mode": "reconcile", "input": only_alice | {"prune": True},
                                              "execution_name": "t-prune"})
    assert [o["common_name"] for o in done["pruned"]] == ["bob"], done
    [after] = plan_fleet(Settings.load(), parse_fleet(only_alice | {"prune": True})).listeners
    assert (after.orphaned, after.pruned, after.access_records) == ((), (), ())
    rows = {x["common_name"]: x for x in inventory_report(Settings.load())["rows"]}
    assert rows["bob"]["state"] == "revoked" and rows["bob"]["revocation_reason"] == "cessation"
    assert rows["alice"]["state"] == "valid" and rows["alice"]["revocation_reason"] is None


def test_the_plan_shows_an_own_ca_the_apply_creates_and_refuses_one_asked_otherwise(live_cloud, writes, fleet_doc):
    """A listener naming an own CA that does not exist yet: the plan says it is created, with its key
    spec, KMS instance and name constraints (zero writes); once it exists, asking for other name
    constraints or another key spec is refused in the plan (the preflight's one rule)."""
    import logging
    import uuid

    from shared.adapters.retry import Deadline
    from shared.core.clock import SystemClock
    from shared.policy import ownca
    from shared.steps import ownca as own_steps
    from shared.steps.context import StepContext

    for lst in fleet_doc["listeners"]:
        lst.pop("ca_identifier", None)
        lst["ca"] = {"kind": "own", "name": "nx", "permitted_dns": ["example.test"]}
        for c in lst["clients"]:
            c.pop("sans", None)
            c["common_name"] = c["common_name"].replace(".", "-")
    writes.mark()
    plan = plan_fleet(Settings.load(), parse_fleet(fleet_doc))
    assert writes.since() == []
    assert plan.errors == 0, [r.error for r in plan.listeners]
    for r in plan.listeners:
        assert r.ca is not None and r.ca.action == "create" and r.ca.id == "nx"
        assert r.ca.detail["key_spec"] == "EC_P256" and r.ca.detail["permitted_dns"] == ["example.test"]
        assert r.ca.detail["kms_instance_id"]
    ctx = StepContext(step="test", settings=Settings.load(), clock=SystemClock(), logger=logging.getLogger("t"),
                      deadline=Deadline(60), request_id=f"local-{uuid.uuid4().hex}")
    own_steps.ensure_ca(ctx, ownca.CreateOptions(name="nx", permitted_dns=("example.test",)), "albmtls")
    plan = plan_fleet(Settings.load(), parse_fleet(fleet_doc))
    assert all(r.ca is None for r in plan.listeners)
    for lst in fleet_doc["listeners"]:
        lst["ca"]["permitted_dns"] = ["other.test"]
    writes.mark()
    plan = plan_fleet(Settings.load(), parse_fleet(fleet_doc))
    assert writes.since() == []
    assert plan.errors == 2
    assert {(r.error["code"], r.error["field"]) for r in plan.listeners} == {("INVALID_INPUT", "ca.permitted_dns")}


def test_the_plan_warns_of_a_holder_webhook_that_reaches_no_one(live_cloud, writes, fleet_doc):
    """A system holder whose `webhook` names a channel the notification configuration does not have:
    the plan (and the run's preflight) warn CHANNEL_NOT_CONFIGURED naming the field — not a refusal:
    channels live only in the cloud and may be set after (docs/DELIVERY.md)."""
    first = fleet_doc["listeners"][0]
    first["clients"][0]["holder"] = {"kind": "system", "name": "Billing", "webhook": "no-such-hook"}
    writes.mark()
    plan = plan_fleet(Settings.load(), parse_fleet(fleet_doc))
    assert writes.since() == [] and plan.errors == 0
    [w] = plan.listeners[0].warnings
    assert w["code"] == "CHANNEL_NOT_CONFIGURED" and w["field"] == "clients[0].holder.webhook"
    assert "no-such-hook" in w["message"]
    assert plan.listeners[1].warnings == ()

"""The pure comparisons behind the fleet plan and the drift check (shared.policy.plan), table-tested."""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from shared.adapters.alb import Listener
from shared.policy.listener import CLIENT_CERT_XFF_FIELDS, DesiredListener
from shared.policy.plan import (
    Change,
    ClientPlan,
    ListenerReport,
    ResourcePlan,
    as_drift,
    client_action,
    cname_drift,
    has_changes,
    listener_changes,
    member_drift,
    record_changes,
)

CA, CERT, SG, POLICY = "ca-1", "20000001-cn-hangzhou", "sgp-1", "tls_cipher_policy_1_2"
ON = tuple((f, True) for f in CLIENT_CERT_XFF_FIELDS)
DESIRED = DesiredListener(port=443, ca_certificate_id=CA, security_policy_id=POLICY, client_cert_headers=True,
                          server_certificate_id=CERT, server_group_id=SG)


def listener(**over: Any) -> Listener:
    base: dict[str, Any] = dict(id="lsn-1", load_balancer_id="alb-1", port=443, protocol="HTTPS", status="Running",
                                security_policy_id=POLICY, ca_enabled=True, ca_certificate_ids=(CA,),
                                certificate_ids=(CERT,), server_group_ids=(SG,), xff=ON, detailed=True)
    base.update(over)
    return Listener(**base)


@pytest.mark.parametrize("over, desired, expected", [
    ({}, DESIRED, []),
    ({"ca_enabled": False}, DESIRED, [("CaEnabled", False, True)]),
    ({"ca_certificate_ids": ("ca-2",)}, DESIRED, [("CaCertificates", ["ca-2"], [CA])]),
    ({"ca_certificate_ids": ()}, DESIRED, [("CaCertificates", [], [CA])]),
    ({"certificate_ids": ("9-cn-hangzhou",)}, DESIRED, [("Certificates", ["9-cn-hangzhou"], [CERT])]),
    ({"security_policy_id": "tls_cipher_policy_1_0"}, DESIRED,
     [("SecurityPolicyId", "tls_cipher_policy_1_0", POLICY)]),
    ({"server_group_ids": ("sgp-9",)}, DESIRED, [("DefaultActions", ["sgp-9"], [SG])]),
    ({}, DesiredListener(443, CA, POLICY, True, None, None),       # ids still to come (upload, new group)
     [("Certificates", [CERT], ["(new upload)"]), ("DefaultActions", [SG], ["(new server group)"])]),
    ({"xff": ()}, DESIRED, [("XForwardedForConfig", {f: False for f in CLIENT_CERT_XFF_FIELDS},
                             {f: True for f in CLIENT_CERT_XFF_FIELDS})]),
    ({"ca_enabled": False, "security_policy_id": "x"}, DESIRED,
     [("CaEnabled", False, True), ("SecurityPolicyId", "x", POLICY)]),
])
def test_listener_changes_old_to_new(over, desired, expected):
    assert [(c.field, c.old, c.new) for c in listener_changes(listener(**over), desired)] == expected


@pytest.mark.parametrize("members, desired, expected", [
    ({("i-1", 80): 100}, [("i-1", 80, 100)], []),
    ({}, [("i-1", 80, 100)], [("members[i-1:80]", None, {"weight": 100})]),
    ({("i-1", 80): 100, ("i-9", 80): 50}, [("i-1", 80, 100)], [("members[i-9:80]", {"weight": 50}, None)]),
    ({("i-1", 80): 10}, [("i-1", 80, 100)], [("members[i-1:80]", {"weight": 10}, {"weight": 100})]),
    ({("i-1", 80): None}, [("i-1", 80, 100)], []),                      # weight not observed: not compared
    ({("i-1", 8080): 100}, [("i-1", 80, 100)],                           # another port is another member
     [("members[i-1:80]", None, {"weight": 100}), ("members[i-1:8080]", {"weight": 100}, None)]),
])
def test_member_drift(members, desired, expected):
    assert [(c.field, c.old, c.new) for c in member_drift(members, desired)] == expected


@pytest.mark.parametrize("current, expected", [
    ({"value": "alb.example", "ttl": 600}, []),
    ({"value": "ALB.example.", "ttl": 600}, []),                        # case and the final dot do not count
    (None, [("cname", None, {"value": "alb.example", "ttl": 600})]),
    ({"value": "other.example", "ttl": 600}, [("cname.value", "other.example", "alb.example")]),
    ({"value": "alb.example", "ttl": 3600}, [("cname.ttl", 3600, 600)]),
])
def test_cname_drift(current, expected):
    assert [(c.field, c.old, c.new) for c in cname_drift(current, value="alb.example", ttl=600)] == expected


def test_changes_read_as_drift_swap_sides():
    [d] = as_drift([Change(field="CaEnabled", old=False, new=True)])
    assert (d.field, d.desired, d.actual) == ("CaEnabled", True, False)


@pytest.mark.parametrize("decision, reason, action", [
    ("reuse", "valid", "keep"), ("issue", "first_issue", "issue"), ("issue", "due", "renew"),
    ("issue", "expired", "renew"), ("issue", "sans_changed", "reissue"), ("issue", "revoked", "reissue"),
    ("issue", "ca_changed", "reissue"), ("issue", "forced", "reissue"), ("issue", "secrets_inconsistent", "reissue"),
])
def test_client_action(decision, reason, action):
    assert client_action(decision, reason) == action


def test_record_changes_name_the_fields_and_the_clients_added_and_removed():
    old = {"ttl": 600, "clients": [{"common_name": "alice"}, {"common_name": "bob"}], "auto_repair": False}
    new = {"ttl": 1200, "clients": [{"common_name": "alice"}, {"common_name": "carol"}], "auto_repair": False}
    assert [(c.field, c.old, c.new) for c in record_changes(old, new)] == [
        ("clients", ["bob"], ["carol"]), ("ttl", 600, 1200)]
    assert record_changes(None, new) == () and record_changes(new, new) == ()


@pytest.mark.parametrize("parts, clients, changed", [
    ({}, (), False),
    ({"listener": ResourcePlan(action="none"), "server_certificate": ResourcePlan(action="use")}, (), False),
    ({"listener": ResourcePlan(action="update")}, (), True),
    ({"dns": ResourcePlan(action="claim")}, (), True),                   # marking the record is a write
    ({"desired_state": ResourcePlan(action="update")}, (), True),
    ({}, (ClientPlan(common_name="a", action="keep", reason="valid"),), False),
    ({}, (ClientPlan(common_name="a", action="renew", reason="due"),), True),
    ({"orphaned": ("bob",)}, (), False),                                 # reported, nothing written
    ({"pruned": ("bob",)}, (), True),                                    # revoked by the apply
    ({"access_records": ("bob",)}, (), True),                            # marked orphaned / active again
])
def test_has_changes(parts, clients, changed):
    assert has_changes(ListenerReport(listener_key="alb-1-443", clients=clients, **parts)) is changed


REPO = Path(__file__).resolve().parents[2]


def _doc(**over):
    from shared.policy.contracts import ProvisionInput
    from shared.policy.validation import decode

    doc = json.loads((REPO / "examples" / "provision.json").read_text())
    doc.update(over)
    return decode(ProvisionInput, json.dumps(doc))


@pytest.mark.parametrize("a, b", [
    ({"region": "cn-hangzhou"}, {"region": None}),
    ({"ttl": 600}, {}),
    ({"security_policy_id": "tls_cipher_policy_1_2", "client_cert_headers": True}, {}),
])
def test_the_same_setup_written_two_ways_is_no_change(a, b):
    """An input that leaves out `region` (the one it runs in) or a default is the same setup as one
    that writes it out: no desired-state change, nothing to print (was `region: cn-hangzhou → -`)."""
    from shared.policy.desired import comparable, desired_state, same_input

    one, two = _doc(**a), _doc(**{k: v for k, v in b.items() if v is not None})
    if "region" in b:
        two = msgspec.structs.replace(two, region=None)
    rec = desired_state(one, now=datetime(2026, 12, 7, tzinfo=UTC))
    assert same_input(rec, two, "cn-hangzhou")
    assert record_changes(comparable(one, "cn-hangzhou"), comparable(two, "cn-hangzhou")) == ()
    assert not same_input(rec, two, "cn-shanghai") or "region" not in b


def test_changes_are_named_by_path_with_readable_values():
    """Nested fields by their path; a kept client's fields under clients[<cn>] (a holder removed is
    `clients[alice].holder`, never an empty `clients:`); the CLI prints values in words, no dicts or None."""
    from albmtls.fleet import _change
    from shared.policy.desired import comparable

    doc = json.loads((REPO / "examples" / "provision.json").read_text())
    holder = doc["clients"][0].get("holder")
    assert holder, "the example's first client has a holder"
    new = copy.deepcopy(doc)
    new["clients"][0].pop("holder")
    new["server_group"]["health_check"] = {**(new["server_group"].get("health_check") or {}), "interval": 5}
    old_inp, new_inp = _doc(), _doc(clients=new["clients"], server_group=new["server_group"])
    changes = record_changes(comparable(old_inp), comparable(new_inp))
    fields = [c.field for c in changes]
    cn = doc["clients"][0]["common_name"]
    assert f"clients[{cn}].holder" in fields and "server_group.health_check.interval" in fields
    assert "clients" not in fields
    lines = [_change(msgspec.to_builtins(c)) for c in changes]
    assert all("None" not in line and "{" not in line and "'" not in line for line in lines), lines
    assert any(line.startswith(f"clients[{cn}].holder: (kind person") and line.endswith("→ -") for line in lines)

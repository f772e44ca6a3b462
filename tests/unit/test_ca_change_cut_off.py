"""A run that changes a listener's CA cuts off the holders not in its input (a newcomer ran
examples/provision-own-ca.json on 443 after the PCA run: bob, carol … were 'orphaned … kept, never
renewed' and their certificates stopped working, alert unknown ca). plan and provision name them
plainly: shared.policy.plan.cut_off_by_ca_change, one rule for both."""
from __future__ import annotations

import io

import pytest
from rich.console import Console

from albmtls.fleet import print_plan
from albmtls.provision import print_summary
from shared.policy.plan import cut_off_by_ca_change
from shared.steps.provisioning import Progress, result_document


@pytest.mark.parametrize("changes,orphaned,cut", [
    (["CaCertificates"], ["carol", "bob"], ("bob", "carol")),
    (["CaCertificates", "SecurityPolicyId"], ["bob", "bob"], ("bob",)),
    (["SecurityPolicyId"], ["bob"], ()),             # the CA stays: orphans keep working until their end
    (["CaCertificates"], [], ()),                    # nobody left out
    ([], ["bob"], ()),
])
def test_who_a_ca_change_cuts_off(changes, orphaned, cut):
    assert cut_off_by_ca_change(changes, orphaned) == cut


def _text(fn, *args) -> str:
    buf = io.StringIO()
    fn(Console(file=buf, width=200, color_system=None), *args)
    return buf.getvalue()


def test_plan_names_them():
    doc = {"changes": True, "errors": 0, "writes": 0, "listeners": [{
        "listener_key": "alb-demostd000000000001-443", "path": "", "status": "changes", "clients": [],
        "orphaned": ["bob", "carol"], "lose_access": ["bob", "carol"], "drift": [],
        "listener": {"action": "update", "changes": [{"field": "CaCertificates", "old": ["a"], "new": ["b"]}]}}]}
    out = _text(print_plan, doc)
    assert "CA changes: bob, carol" in out and "LOSE ACCESS" in out and "unknown ca" in out


def test_provision_names_them():
    orphan = {"common_name": "bob", "since": "2026-12-07T00:00:00Z", "certificates": 1,
              "not_after": "2027-01-06T00:00:00Z"}
    prog = Progress(flow="albmtls-provision", name="x", status="Succeeded", steps={
        "preflight": {"plan": {"listener": {"action": "update", "changes": ["CaCertificates"]}}},
        "reconcile_clients": {"orphaned": [orphan]}})
    doc = result_document(prog)
    assert doc["lose_access"] == ["bob"]
    out = _text(print_summary, doc)
    assert "LOSE ACCESS" in out and "bob" in out and "unknown" in out
    prog.steps["preflight"]["plan"]["listener"]["changes"] = ["SecurityPolicyId"]
    assert result_document(prog)["lose_access"] == []

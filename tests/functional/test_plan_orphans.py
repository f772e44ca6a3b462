"""The plan names the holders that left the file as the run finds them (``ReconcileClients``): a CN
with a valid certificate on the listener, not in the file, not revoked — ``orphaned`` (kept, never
renewed), or ``pruned`` with ``prune: true`` — from the cloud, not from the recorded desired state,
so an apply that already recorded the shorter file does not make the plan forget them."""
from __future__ import annotations

import copy
from datetime import UTC, datetime

from shared.core.settings import Settings
from shared.policy.fleet import parse_fleet
from shared.steps.plan import plan_fleet


def _input(demo_input: dict, *cns: str, prune: bool = False) -> dict:
    inp = copy.deepcopy(demo_input)
    inp["clients"] = [{"common_name": cn, "days": 30} for cn in cns]
    if prune:
        inp["prune"] = True
    return inp


def _record(inp: dict) -> None:
    """The desired state an apply of ``inp`` records (RecordDesiredState)."""
    from shared.adapters.base import CallPolicy
    from shared.adapters.kms import Kms
    from shared.core.wait import Deadline
    from shared.policy.contracts import ProvisionInput
    from shared.policy.validation import decode
    from shared.steps.desired import record_desired
    record_desired(Kms(CallPolicy(Deadline(30)), settings=Settings.load()), decode(ProvisionInput, inp),
                   now=datetime.now(UTC), execution="t")


def _plan(inp: dict):
    [r] = plan_fleet(Settings.load(), parse_fleet(inp)).listeners
    return r


def test_the_plan_names_orphans_and_prunes_from_the_cloud(lane, live_cloud, invoke, demo_input, writes):
    both = _input(demo_input, "alice", "bob")
    res = invoke("albmtls-issue-client-cert", {"input": both, "execution_name": "prov-1"})
    assert res["status"] == "ok", res
    _record(both)
    writes.mark()
    r = _plan(_input(demo_input, "alice"))
    assert (r.orphaned, r.pruned) == (("bob",), ())
    # an apply without prune: bob stays orphaned (ReconcileClients) and the shorter file is recorded
    done = invoke("albmtls-offboard-client", {"mode": "reconcile", "input": _input(demo_input, "alice"),
                                              "execution_name": "prov-2"})
    assert [o["common_name"] for o in done["orphaned"]] == ["bob"], done
    _record(_input(demo_input, "alice"))
    writes.mark()
    r = _plan(_input(demo_input, "alice"))
    assert (r.orphaned, r.pruned) == (("bob",), ())                 # still there, though no longer recorded
    p = _plan(_input(demo_input, "alice", prune=True))
    assert (p.orphaned, p.pruned) == ((), ("bob",))
    assert writes.since() == []                                      # a plan reads only
    # the prune applied: nobody left to name
    invoke("albmtls-offboard-client", {"mode": "reconcile", "input": _input(demo_input, "alice", prune=True),
                                       "execution_name": "prov-3"})
    r = _plan(_input(demo_input, "alice", prune=True))
    assert (r.orphaned, r.pruned) == ((), ())


def test_a_prune_is_a_change_an_orphan_is_not():
    from shared.policy.plan import ListenerReport, has_changes
    assert has_changes(ListenerReport(listener_key="alb-x-443", pruned=("bob",)))
    assert not has_changes(ListenerReport(listener_key="alb-x-443", orphaned=("bob",)))

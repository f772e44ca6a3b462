"""``shared.policy.offboarding.plan_reconcile``: what a provisioning run's ReconcileClients does on a
listener — the one plan the step acts on and ``albmtls plan`` shows (table tests, no cloud)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared.policy import offboarding as ob
from shared.policy.ids import custom_identifier
from shared.policy.records import AccessRecord, AccessState

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LK = "alb-x1-443"


@dataclass(frozen=True)
class Cert:
    identifier: str
    serial: str
    common_name: str | None
    status: str | None = "ISSUE"
    certificate_type: str | None = "CLIENT"
    custom_identifier: str | None = None
    not_before: datetime | None = NOW - timedelta(days=5)
    not_after: datetime | None = NOW + timedelta(days=25)


def held(*cns: str, revoked_at_ca: tuple[str, ...] = ()) -> dict[str, ob.Holder]:
    return ob.holders([Cert(f"id-{cn}", cn[:2], cn, status="REVOKE" if cn in revoked_at_ca else "ISSUE",
                            custom_identifier=custom_identifier(LK, "exec", cn)) for cn in cns], LK)


def rec(cn: str, state: AccessState) -> AccessRecord:
    return AccessRecord(common_name=cn, listener_key=LK, state=state, since="2026-02-01T00:00:00Z")


@pytest.mark.parametrize("by_cn,cns,records,prune,orphaned,revoke,marks,readmitted", [
    # everyone in the input: nothing to do
    (held("alice", "bob"), ["alice", "bob"], {}, False, (), (), [], ()),
    # bob left the input: orphaned and marked, kept
    (held("alice", "bob"), ["alice"], {}, False, ("bob",), (), ["bob"], ()),
    # already marked orphaned: reported, no write
    (held("alice", "bob"), ["alice"], {"bob": rec("bob", "orphaned")}, False, ("bob",), (), [], ()),
    # prune: bob revoked, no mark
    (held("alice", "bob"), ["alice"], {}, True, ("bob",), ("bob",), [], ()),
    # revoked by albmtls revoke: neither orphaned nor pruned again
    (held("alice", "bob", revoked_at_ca=("bob",)), ["alice"], {"bob": rec("bob", "revoked")}, True, (), (), [], ()),
    # a revocation left unfinished (record says revoked, the CA still lists it valid): finished either way
    (held("alice", "bob"), ["alice"], {"bob": rec("bob", "revoked")}, False, (), ("bob",), [], ()),
    # an orphan back in the input: made active again
    (held("alice", "bob"), ["alice", "bob"], {"bob": rec("bob", "orphaned")}, False, (), (), ["bob"], ("bob",)),
    # a holder with no valid certificate left is no orphan
    (held("alice", "carol", revoked_at_ca=("carol",)), ["alice"], {}, True, (), (), [], ()),
])
def test_reconcile_plan(by_cn, cns, records, prune, orphaned, revoke, marks, readmitted):
    p = ob.plan_reconcile(by_cn, cns, records, NOW, listener_key=LK, prune=prune)
    assert (p.orphaned, p.revoke, sorted(p.marks), p.readmitted) == (orphaned, revoke, marks, readmitted)
    assert p.writes == bool(revoke or marks)
    for cn, r in p.marks.items():
        assert r.common_name == cn and r.state == ("active" if cn in readmitted else "orphaned")

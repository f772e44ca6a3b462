"""Concurrency: two provisioning runs for one listener at the same time → one runs, the other is
refused with ``EXECUTION_RUNNING``; runs for different listeners proceed in parallel."""
from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from shared.adapters.retry import Deadline
from shared.core.clock import FixedClock
from shared.core.errors import AlbMtlsError, Code
from shared.steps.provisioning import describe_provision, start_provision


def _race(suite, inputs, clocks):
    """Start every input at the same instant (a barrier); returns [Started | AlbMtlsError]."""
    barrier = threading.Barrier(len(inputs))
    out: list = [None] * len(inputs)

    def go(i):
        from shared.policy.contracts import ProvisionInput
        from shared.policy.validation import decode
        inp = decode(ProvisionInput, inputs[i])
        barrier.wait(10)
        try:
            out[i] = start_provision(suite.settings, inputs[i], inp.listener_key, clock=clocks[i],
                                     deadline=Deadline(60))
        except AlbMtlsError as exc:
            out[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def _wait(suite, names, timeout=120):
    import time
    end = time.monotonic() + timeout
    progs = {}
    while time.monotonic() < end:
        progs = {n: describe_provision(suite.settings, n, with_history=False) for n in names}
        if all(p.done for p in progs.values()):
            return progs
        time.sleep(0.3)
    raise AssertionError(f"executions still running: {progs}")


def _executions(suite, listener_key):
    return [d for d in suite.cloud.store.list("fnf.execution")
            if d["Name"].startswith(listener_key + "-") and d.get("FlowName") == "albmtls-provision"]


T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("same_second", [False, True])
def test_two_runs_for_one_listener_one_runs_the_other_is_refused(suite, same_second):
    a = suite.provision_input(0)
    b = suite.provision_input(0)
    b["clients"] = [{"common_name": "someone-else", "days": 30}]        # a different request, same listener
    clocks = [FixedClock(T0), FixedClock(T0 if same_second else T0 + timedelta(seconds=1))]
    out = _race(suite, [a, b], clocks)
    started = [o for o in out if not isinstance(o, AlbMtlsError)]
    refused = [o for o in out if isinstance(o, AlbMtlsError)]
    assert len(started) == 1 and len(refused) == 1, out
    assert refused[0].code == Code.EXECUTION_RUNNING and started[0].name in refused[0].message
    assert refused[0].details.get("execution") == started[0].name
    progs = _wait(suite, [started[0].name])
    assert progs[started[0].name].status == "Succeeded"
    # only one execution ever ran for the listener; the refused request left nothing behind
    execs = _executions(suite, "alb-demostd000000000001-2000")
    assert [e["Status"] for e in execs if e["Status"] != "Stopped"] == ["Succeeded"]
    winner, loser = ("rel-client-0", "someone-else") if isinstance(out[1], AlbMtlsError) else \
        ("someone-else", "rel-client-0")
    certs = [d["CommonName"] for d in suite.cloud.store.list("pca.client")]
    assert loser not in certs and certs.count(winner) == 1


def test_the_same_request_twice_at_once_joins_one_execution(suite):
    """Identical input in the same second is indistinguishable from a retried start (a lost
    StartExecution response): it joins the one execution instead of starting a second."""
    a = suite.provision_input(1)
    out = _race(suite, [a, dict(a)], [FixedClock(T0), FixedClock(T0)])
    assert not any(isinstance(o, AlbMtlsError) and o.code != Code.EXECUTION_RUNNING for o in out), out
    names = {o.name for o in out if not isinstance(o, AlbMtlsError)}
    assert len(names) == 1
    _wait(suite, names)
    assert len([e for e in _executions(suite, "alb-demostd000000000001-2001") if e["Status"] != "Stopped"]) == 1


def test_runs_for_different_listeners_proceed_in_parallel(suite):
    inputs = [suite.provision_input(i) for i in (2, 3, 4)]
    out = _race(suite, inputs, [FixedClock(T0)] * 3)
    assert not any(isinstance(o, AlbMtlsError) for o in out), out
    names = [o.name for o in out]
    progs = _wait(suite, names)
    assert all(p.status == "Succeeded" for p in progs.values())
    # they overlapped in time: each started before any of them stopped
    docs = [d for d in suite.cloud.store.list("fnf.execution")
            if d["Name"] in names and d.get("FlowName") == "albmtls-provision"]
    assert max(d["StartedTime"] for d in docs) < min(d["StoppedTime"] for d in docs)

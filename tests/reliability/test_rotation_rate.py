"""One PCA budget for the whole account (``shared.policy.lane``): however many orders arrive at
once — provisioning runs of several listeners, rotations of two secret prefixes — the PCA never
throttles. Exact counts, no timing: the emulator enforces the documented 10 requests/s as a token
bucket, so one request over the budget is one ``Throttling.User`` answer in the log. The busiest
second of the server's log is printed, not asserted (a time: the lane spaces its calls 105 ms apart,
and a loaded machine can shift arrivals by more than that) — two lanes at once would put ~19 there.
What holds the budget is the count of throttled answers: zero.

Nothing here relies on memory shared between function instances: every FC invocation in this
process gets its own process-wide limiters (``_fresh_instances``), as every invocation of a real
account may run in another instance. What keeps the budget is the lane: one order works at a time,
and every PCA call of a provisioning run or a rotation is made by the order at the lane's head."""
from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bench.scan import max_in_window  # the same window count the benchmark reports

pytestmark = pytest.mark.reliability
REPO = Path(__file__).resolve().parents[2]
#: 30 in the full size (ALBMTLS_RELIABILITY_FULL=1); 12 in ``make test``
CNS = 30 if os.environ.get("ALBMTLS_RELIABILITY_FULL") == "1" else 12


def test_max_in_window():
    assert max_in_window([0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_window([0.1 * i for i in range(11)]) == 10
    assert max_in_window([]) == 0


@pytest.fixture
def _fresh_instances(suite):
    """Every invocation starts with empty process-wide limiters (a new FC instance, no memory shared
    with the others): a design that kept the quota only by sharing one limiter would throttle here."""
    from shared.adapters import retry

    inner = suite.cloud.runtime["flow_invoker"]

    def invoker(name, payload, info=None):
        with retry._limiters_lock:
            retry._limiters.clear()
        return inner(name, payload, info) if info is not None else inner(name, payload)

    suite.cloud.runtime["flow_invoker"] = invoker


def _pca_calls_within_budget(suite, mark) -> list[dict]:
    pca = [c for c in suite.cloud.store.calls(mark) if c["product"] == "pca"]
    # The busiest second is reported, never asserted: it is a time, and a loaded machine (three
    # xdist workers beside other work) shifts arrivals by more than the lane's 5 % reserve. Two lanes
    # at once (~19 a second) would empty the emulator's bucket (10 a second, burst 10) and show as
    # throttled answers — the exact count below.
    print(f"busiest second: {max_in_window([c['ts'] for c in pca])} PCA arrivals")
    # No throttled answer, ever. A DuplicateCustomIdentifier is what a re-driven issuance meets (the
    # key log then finds the certificate the earlier attempt issued: shared/steps/engine.py::_create);
    # one appeared once in a landing at load 5-11 — its cause is not traced yet (docs/PERFORMANCE.md
    # "Open points") — so it is allowed here while the exactly-once counts below still hold: one new
    # certificate per due CN, OK issuance calls = certificates, nothing revoked.
    codes = {c["code"] for c in pca} - {"OK", "DuplicateCustomIdentifier"}
    assert not codes, codes
    assert suite.cloud.faults.injected.get("qps_throttle", 0) == 0
    return pca


def _wait_done(suite, name: str):
    from shared.steps.provisioning import describe_provision
    prog = None
    for _ in range(1500):
        prog = describe_provision(suite.settings, name, with_history=False)
        if prog is not None and prog.done:
            break
        threading.Event().wait(0.2)
    assert prog is not None and prog.status == "Succeeded", (name, prog and prog.to_dict())


def test_concurrent_orders_keep_to_one_budget(suite, _fresh_instances):
    """Three listeners provisioned at once (CNS clients between them), then — with their
    certificates due — two rotations (two secret prefixes) and a fourth provisioning started
    together: every order waits for the lane; the PCA never throttles."""
    from albmtls.rotate import rotate_once
    from shared.policy.contracts import ProvisionInput
    from shared.policy.validation import decode
    from shared.steps.provisioning import start_provision

    mark = suite.cloud.store.last_call_n()

    def provision(i: int, prefix: str = "albmtls") -> str:
        inp = suite.provision_input(i)
        inp["clients"] = [{"common_name": f"map-{i}-{k}", "days": 30} for k in range(CNS // 3)]
        inp["secret_prefix"] = prefix
        return start_provision(suite.settings, inp, decode(ProvisionInput, inp).listener_key).name

    for name in [provision(i) for i in range(3)]:
        _wait_done(suite, name)
    _pca_calls_within_budget(suite, mark)

    issued = [d for d in suite.cloud.store.list("pca.client") if d.get("CommonName", "").startswith("map-")]
    assert len(issued) == CNS - CNS % 3
    nb = datetime.fromtimestamp(min(d["BeforeDate"] for d in issued) / 1000, tz=UTC)
    suite.cloud.clock.set(nb + timedelta(days=21))
    mark = suite.cloud.store.last_call_n()
    docs: dict[str, dict] = {}

    def rotate(prefix: str) -> None:
        docs[prefix] = rotate_once(suite.settings, policy={"secret_prefix": prefix}, timeout=300)

    threads = [threading.Thread(target=rotate, args=(p,)) for p in ("albmtls", "other")]
    threads.append(threading.Thread(target=lambda: docs.setdefault("provision", {"name": provision(3, "other")})))
    for t in threads:
        t.start()
    for t in threads:
        t.join(360)
    assert docs["albmtls"]["status"] == "succeeded", docs["albmtls"]
    assert docs["albmtls"]["scan"]["renewed"] == CNS - CNS % 3
    assert docs["other"]["status"] == "succeeded", docs["other"]
    _wait_done(suite, docs["provision"]["name"])
    pca = _pca_calls_within_budget(suite, mark)
    issues = sum(1 for c in pca if c["action"] == "CreateClientCertificateWithCsr" and c["code"] == "OK")
    assert issues == docs["albmtls"]["scan"]["renewed"] + CNS // 3   # the renewals and the fourth listener's clients
    # one new certificate per due CN, nothing revoked
    news = [d for d in suite.cloud.store.list("pca.client") if d.get("CommonName", "").startswith("map-")]
    assert len(news) == 2 * (CNS - CNS % 3) + CNS // 3
    assert not [d for d in news if d["Status"] != "ISSUE"]

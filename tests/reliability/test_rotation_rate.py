"""Concurrency of rotation: many certificates renewed in one ``Map`` (MaxConcurrency > 1) keep to
the CAS/PCA quota — never more than 10 PCA requests in any 1-second window of the local cloud's call
log, and no throttling. Each concurrent item takes its share of the quota
(``shared.steps.rotate.quota_share``): on FC every concurrent item runs in its own instance, whose
process-wide limiter knows nothing of the others — the in-process local run behaves the same way,
as every invocation gets its own limiter."""
from __future__ import annotations

import json
import os
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from bench.scan import max_in_window
from shared.core.clock import parse_iso

pytestmark = pytest.mark.reliability
REPO = Path(__file__).resolve().parents[2]
#: 30 in the full size (ALBMTLS_RELIABILITY_FULL=1); 12 in ``make test`` — still 3 Map rounds of 5
CNS = 30 if os.environ.get("ALBMTLS_RELIABILITY_FULL") == "1" else 12




def test_max_in_window():
    assert max_in_window([0, 0.5, 0.99, 1.0, 1.5]) == 3
    assert max_in_window([0.1 * i for i in range(11)]) == 10
    assert max_in_window([]) == 0


def test_map_concurrency_matches_the_quota_share():
    from shared.steps.rotation import ROTATE_MAP_CONCURRENCY
    flow = yaml.safe_load((REPO / "workflows" / "rotate.yaml").read_text())
    [m] = [s for s in flow["States"] if s["Type"] == "Map"]
    # both spellings of the key (localcloud/flow/definition.py MAP_CONCURRENCY_KEYS), one value
    assert m["MaxConcuccency"] == m["MaxConcurrency"] == ROTATE_MAP_CONCURRENCY > 1
    from localcloud.flow.definition import map_concurrency
    assert map_concurrency(m) == ROTATE_MAP_CONCURRENCY


def test_rotation_of_many_certificates_in_one_map_respects_the_pca_rate_limit(suite):
    from albmtls.rotate import rotate_once
    from localruntime.fc import invoke_function

    # CNS clients over 3 listeners, issued by the issue step (as provisioning does)
    for lst in range(3):
        inp = suite.provision_input(lst)
        inp["clients"] = [{"common_name": f"map-{lst}-{i}", "days": 30} for i in range(CNS // 3)]
        res = json.loads(invoke_function("albmtls-issue-client-cert",
                                         json.dumps({"input": inp, "execution_name": f"map-issue-{lst}"}).encode()))
        assert res["status"] == "ok", res
    nb = parse_iso(res["client_certificates"][0]["not_before"])
    suite.cloud.clock.set(nb + timedelta(days=21))

    # how many rotate-step invocations run at once (the Map really is concurrent)
    inner = suite.cloud.runtime["flow_invoker"]
    lock, live, peak = threading.Lock(), [0], [0]

    def invoker(name, payload, info=None):
        with lock:
            live[0] += 1
            peak[0] = max(peak[0], live[0])
        try:
            return inner(name, payload, info) if info is not None else inner(name, payload)
        finally:
            with lock:
                live[0] -= 1

    suite.cloud.runtime["flow_invoker"] = invoker
    mark = suite.cloud.store.last_call_n()
    doc = rotate_once(suite.settings, policy={"secret_prefix": "albmtls"}, timeout=300)
    assert doc["status"] == "succeeded", doc
    assert doc["scan"]["due"] == CNS and len(doc["executions"]) == 1 and len(doc["renewed"]) == CNS
    assert peak[0] > 1, "the Map ran its items one at a time"

    pca = [c for c in suite.cloud.store.calls(mark) if c["product"] == "pca"]
    assert len(pca) > 5 * CNS
    # arrival (start of handling) and completion times: both at most 10 in any second
    assert max_in_window([c["ts"] - c["duration_ms"] / 1000 for c in pca]) <= 10
    assert max_in_window([c["ts"] for c in pca]) <= 10
    assert not [c for c in pca if c["code"] != "OK"], {c["code"] for c in pca}
    assert suite.cloud.faults.injected.get("qps_throttle", 0) == 0
    # one new certificate per CN
    news = [d for d in suite.cloud.store.list("pca.client") if d.get("CommonName", "").startswith("map-")]
    assert len(news) == 2 * CNS and len({d["CommonName"] for d in news}) == CNS

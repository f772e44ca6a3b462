"""DESIGN §6 budgets as regression checks: the three benchmarks of ``bench/`` at a small size
(``python -m bench --small``), failing only when a ratio leaves its budget by a wide margin — so a
regression (a flow ``Wait`` back on the path, a poll that overshoots, an SDK imported eagerly, a
scan that stops paging by the hundred or keeps every page) is caught on a noisy 2-core machine,
without timed assertions in ordinary tests. The full figures: ``make bench``, docs/PERFORMANCE.md.
"""
from __future__ import annotations

import pytest

from bench import PROFILES_SMALL as SMALL

pytestmark = pytest.mark.slow

#: Wide margins over the budgets (1.15, 1.2, 1.25): the small sizes have relatively more fixed
#: overhead, and other work on the machine adds noise; a real regression costs far more.
PROVISION_MAX = 1.5       # one extra CloudFlow Wait (≥ 1 s) or a 1 s poll overshoot per job exceeds it
SCAN_MAX = 1.8            # 10 pages in ~0.9 s: a page size of 50, or unpaced throttling, exceeds it
COLD_MAX = 1.6            # an eager SDK or a heavy import (pydantic, rich) in a handler exceeds it


def test_provisioning_close_to_its_critical_path():
    from bench import provisioning
    r = provisioning.run(**SMALL["provisioning"])
    print("provisioning:", {k: r[k] for k in ("wall_s", "critical_path_s", "ratio", "flow_waits")}, r["api_calls"])
    assert r["api_calls"]["unattributed"] == 0
    assert r["flow_waits"] == 0, "a CloudFlow Wait state ran: a step returned pending instead of waiting in its slice"
    assert r["ratio"] <= PROVISION_MAX, r["components_s"]
    # no step repeats work: the calls per provisioning stay near the measured count (61-70)
    assert r["api_calls"]["total"] <= 90, r["api_calls"]["by_step"]


def test_rotation_scan_close_to_the_rate_floor_with_flat_memory():
    from bench import scan
    r = scan.run(**SMALL["scan"])
    print("scan:", r)
    assert r["throttled"] == 0 and r["max_requests_in_1s"] <= 10
    assert r["pages"] == 10 and r["listed"] == 1000
    assert r["ratio"] <= SCAN_MAX
    assert r["memory_flat"], r["memory"]


def test_cold_import_close_to_the_sdk_import():
    from bench import coldstart
    r = coldstart.run(**SMALL["coldstart"])
    print("cold start:", {k: (v["sdk_ms"], v["cold_ms"], v["ratio"]) for k, v in r["functions"].items()})
    for fn, row in r["functions"].items():
        assert row["ratio"] is not None and row["ratio"] <= COLD_MAX, (fn, row)
        # the handler alone never imports an SDK (lazy adapters): well under the SDK's time
        assert row["handler_ms"] < 0.6 * row["sdk_ms"], (fn, row)
        assert row["package"]["code_kib"] < 2048, (fn, row["package"])

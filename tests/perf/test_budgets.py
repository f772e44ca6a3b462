"""The budgets of docs/DECISIONS.md §6 and issue 19 as regression checks: benchmarks of ``bench/`` at a small size
(``python -m bench --small``), failing only when a ratio leaves its budget by a wide margin — so a
regression (a flow ``Wait`` back on the path, a poll that overshoots, an SDK imported eagerly, a
scan that stops paging by the hundred or keeps every page) is caught on a noisy 2-core machine,
without timed assertions in ordinary tests. The full figures: ``make bench``, docs/PERFORMANCE.md.

Never flaky on a loaded machine: every timing check compares quantities measured side by side
(cold import = SDK then handler in one interpreter, the median over interleaved rounds), its limit
is far above the budget, and a benchmark whose timing checks fail is measured again (best of
``TRIES``) — a real regression fails every try. What needs no timing is checked exactly: no flow
``Wait``, the call count, pages, and that importing a handler loads no SDK package.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from bench import PROFILES_SMALL as SMALL

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.slow

#: Wide margins over the budgets (1.2, 1.2, 1.25): the small sizes have relatively more fixed
#: overhead, and other work on the machine adds noise; a real regression costs far more.
PROVISION_MAX = 1.5       # one extra CloudFlow Wait (≥ 1 s) or a 1 s poll overshoot per job exceeds it
SCAN_MAX = 1.8            # 10 pages in ~0.9 s: a page size of 50, or unpaced throttling, exceeds it
COLD_MAX = 1.6            # an eager SDK or a heavy import (pydantic, rich) in a handler exceeds it
TRIES = 3                 # a timing check that fails is measured again, up to this many times


def _best_of(measure: Callable[[], dict[str, Any]], check: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """``measure()`` until ``check`` passes, at most ``TRIES`` times; the last failure otherwise."""
    for attempt in range(1, TRIES + 1):
        r = measure()
        try:
            check(r)
            return r
        except AssertionError:
            if attempt == TRIES:
                raise
            print(f"timing check failed on try {attempt}/{TRIES}; measuring again")
    raise AssertionError("unreachable")


def test_provisioning_close_to_its_floor():
    from bench import provisioning

    def measure() -> dict[str, Any]:
        r = provisioning.run(**SMALL["provisioning"])
        print("provisioning:", {k: r[k] for k in ("wall_s", "floor_s", "floor_formula", "ratio", "critical_path_s",
                                                  "flow_waits")}, r["api_calls"])
        return r

    def timing(r: dict[str, Any]) -> None:
        assert r["ratio"] <= PROVISION_MAX, r["components_s"]

    r = _best_of(measure, timing)
    assert r["api_calls"]["unattributed"] == 0
    assert r["flow_waits"] == 0, "a CloudFlow Wait state ran: a step returned pending instead of waiting in its slice"
    # no step repeats work: the calls per provisioning stay near the measured count (61-70)
    assert r["api_calls"]["total"] <= 90, r["api_calls"]["by_step"]


def test_rotation_scan_close_to_the_rate_floor_with_flat_memory():
    from bench import scan

    def measure() -> dict[str, Any]:
        r = scan.run(**SMALL["scan"])
        print("scan:", r)
        return r

    def timing(r: dict[str, Any]) -> None:
        # requests seen by the emulator within one second can bunch up when the machine stalls or
        # the answers' latency varies (the lane paces at 9.5/s: shared.policy.lane.LANE_SHARE)
        assert r["throttled"] == 0 and r["max_requests_in_1s"] <= 11
        assert r["ratio"] <= SCAN_MAX
        assert r["memory_flat"], r["memory"]

    r = _best_of(measure, timing)
    assert r["pages"] == 10 and r["listed"] == 1000


def test_cold_import_close_to_the_sdk_import():
    from bench import coldstart

    def measure() -> dict[str, Any]:
        r = coldstart.run(**SMALL["coldstart"])
        print("cold start:", {k: (v["sdk_ms"], v["cold_ms"], v["handler_ms"], v["ratios"])
                              for k, v in r["functions"].items()})
        for fn, row in r["functions"].items():
            # exact, no timing, not retried: importing the handler loads no SDK package (lazy adapters)
            assert row["sdk_loaded"] == [], (fn, "imports an SDK eagerly", row["sdk_loaded"])
        return r

    def timing(r: dict[str, Any]) -> None:
        for fn, row in r["functions"].items():
            # median of per-interpreter ratios: SDK and handler + SDK timed side by side
            assert row["ratio"] is not None and row["ratio"] <= COLD_MAX, (fn, row)
            # the handler alone is well under the SDK's time (best rounds, interleaved)
            assert row["handler_ms"] < 0.6 * row["sdk_ms"], (fn, row)

    r = _best_of(measure, timing)
    for fn, row in r["functions"].items():
        assert row["package"]["code_kib"] < 2048, (fn, row["package"])

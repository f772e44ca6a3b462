"""Benchmarks of docs/DECISIONS.md §6 and issue 19 (``python -m bench``; docs/PERFORMANCE.md):
:mod:`bench.provisioning`, :mod:`bench.lane` (first issue of 1,000 holders, second apply, rotation
of the 1,000), :mod:`bench.scan`, :mod:`bench.coldstart`. ``PROFILES``: the full run and the small
variant that ``tests/perf/test_budgets.py`` runs."""
from __future__ import annotations

from typing import Any

BENCHES = ("provisioning", "lane", "scan", "coldstart")

PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    "full": {"provisioning": {"latency_ms": (100.0, 300.0), "job_s": 3.0, "health_scale": 1.0},
             "lane": {"holders": 1000, "latency_ms": (100.0, 300.0), "job_s": 3.0},
             "scan": {"sizes": (1000, 10000)},
             "coldstart": {"runs": 5, "deps": "build"}},
    "small": {"provisioning": {"latency_ms": (50.0, 150.0), "job_s": 1.5, "health_scale": 0.5},
              "lane": {"holders": 40, "latency_ms": (50.0, 150.0), "job_s": 1.5},
              "scan": {"sizes": (200, 1000)},
              "coldstart": {"runs": 3, "deps": "installed",
                            "functions": ["issue_client_cert", "enable_mutual_auth", "create_cname"]}},
}
PROFILES_SMALL = PROFILES["small"]

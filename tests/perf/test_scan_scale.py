"""Rotation scan at (small) scale, in `make test`: memory that does not grow with the number of
certificates and a PCA request rate that never exceeds 10/s. The 10,000-certificate figures come
from `python -m bench.scan --count 10000` (docs/ROTATION.md)."""
from __future__ import annotations

import pytest

from bench.scan import load, scan_once


@pytest.fixture
def scan_cloud(cloud, monkeypatch):
    """The shared control-plane cloud, its endpoints file in the environment (the scan runs the
    rotation_scan step in this process)."""
    from shared.adapters import clients
    monkeypatch.setenv("ALBMTLS_ENDPOINTS_FILE", str(cloud.state_dir / "endpoints.json"))
    monkeypatch.setenv("ALBMTLS_TARGET", "local")
    clients.clear_cache()
    return cloud


def test_scan_memory_flat_and_rate_bounded(scan_cloud):
    cloud = scan_cloud
    load(cloud, 10)
    scan_once(cloud)                 # warm-up: imports and SDK clients are not the scan's memory
    load(cloud, 140, start=10)
    small = scan_once(cloud)
    load(cloud, 750, start=150)
    large = scan_once(cloud)
    print("scan figures:", small, large)
    assert (small["scanned"], large["scanned"]) == (150, 900)
    assert large["list_calls"] == 9 and large["due"] == 0
    # paced at 9.5/s (shared.policy.lane.LANE_SHARE); a 1-second window of answers can hold 11
    assert large["max_requests_in_1s"] <= 11 and small["max_requests_in_1s"] <= 11
    assert large["throttled"] == 0
    # 6x the certificates: the heap peak stays within a small constant of the smaller scan's
    assert large["peak_heap_mib"] <= small["peak_heap_mib"] * 1.5 + 1.0
    # close to the floor the limit sets (first call free, then one every 100 ms)
    assert large["wall_s"] <= large["floor_s"] * 1.5 + 1.0

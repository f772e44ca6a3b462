"""``shared.policy.health.assess``: the listener's health from its server groups (table)."""
from __future__ import annotations

import pytest

from shared.adapters.alb import BackendServer, NonNormalServer, ServerGroupHealth
from shared.policy.health import assess

M = {"sgp-1": [BackendServer("i-1", 80, 100, "Available"), BackendServer("i-2", 80, 100, "Available")]}


def group(count=2, *bad: NonNormalServer) -> ServerGroupHealth:
    return ServerGroupHealth("sgp-1", count, True, tuple(bad))


@pytest.mark.parametrize("groups, expected, state, healthy_backends", [
    ([group()], 2, "healthy", 2),
    ([], 2, "waiting", 0),                                                  # no data yet
    ([group(1)], 2, "waiting", 2),                                          # servers still being added
    ([group(2, NonNormalServer("i-1", 80, "Initial"))], 2, "waiting", 1),
    ([group(2, NonNormalServer("i-1", 80, "Unhealthy", reason_code="RESPONSE_MISMATCH"))], 2, "unhealthy", 1),
    ([group(2, NonNormalServer("i-2", 80, "Unused"))], 2, "unhealthy", 1),
])
def test_assess(groups, expected, state, healthy_backends):
    got, result = assess(groups, M if groups else {}, expected)
    assert got == state and result.healthy is (state == "healthy")
    assert sum(1 for b in result.backends if b.status == "Healthy") == healthy_backends
    if state == "unhealthy":
        assert result.non_normal and (result.non_normal[0].reason or "")

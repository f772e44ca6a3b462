"""The HTTP API tells the failing step's own code, as the CLI does: a branch of the provision
flow's Parallel fails (ALB refuses the listener write for good), the whole execution ends at its
Fail state (literal ``STEP_FAILED``), and ``GET /provisions/{name}`` reads the step's own code and
step from the execution's history."""
from __future__ import annotations

import pytest

from tests.api.test_serve import api, poll  # noqa: F401 — test_serve's live API fixture and its poller

pytestmark = pytest.mark.e2e


def test_a_failed_branch_is_reported_with_the_steps_own_code(api, demo_input, live_cloud):  # noqa: F811 — the fixture
    live_cloud.faults.configure({"rules": [{"kind": "busy", "product": "alb", "action": "CreateListener",
                                            "code": "QuotaExceeded.ListenersPerLoadBalancer", "status": 400,
                                            "message": "The number of listeners reached the quota."}]})
    status, _, doc = api("POST", "/provisions", demo_input)
    assert status == 202, doc
    final = poll(api, doc["execution"])
    assert final["status"] == "failed", final
    err = final["error"]
    assert err["code"] == "QUOTA_EXCEEDED" and err["step"] == "EnableMutualAuth", err
    assert err["execution_code"] == "STEP_FAILED" and "QuotaExceeded.ListenersPerLoadBalancer" in err["message"]

"""One execution per listener at a time, across the flows that act on a listener: a revocation is
refused with ``EXECUTION_RUNNING`` (naming the running execution) while a provision execution runs
for the same listener, and a provision while a revocation runs; another listener is not held up.
The executions are started as the CLI and the HTTP API start them (``start_provision``)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from shared.core.errors import AlbMtlsError, Code
from shared.core.settings import Settings
from shared.steps.provisioning import PROVISION_FLOW, REVOKE_FLOW, deploy_flows, describe_provision, start_provision

REPO = Path(__file__).resolve().parents[2]
LK = "alb-demostd000000000001-443"


def _revoke_request(cn: str, request_id: str, port: int = 443) -> dict:
    return {"action": "revoke", "load_balancer_id": "alb-demostd000000000001", "listener_port": port,
            "common_names": [cn], "requested_by": "ops@example.test", "request_id": request_id}


def _wait(settings: Settings, flow: str, name: str, timeout: float = 120) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        prog = describe_provision(settings, name, flow=flow, with_history=False)
        if prog is not None and prog.done:
            return prog.status
        time.sleep(0.2)
    raise AssertionError(f"{flow} execution {name} still running")


def test_a_revocation_and_a_provision_for_one_listener_never_run_at_once(live_cloud, demo_input):
    settings = Settings.load()
    deploy_flows(settings, REPO / "workflows")     # provision, revoke and the issuing lane's
    # every PCA list takes a second: both executions stay running long enough to be seen
    live_cloud.faults.configure({"latency_ms": {"pca:ListClientCertificate": [1000, 1000]}})

    prov = start_provision(settings, demo_input, LK)
    with pytest.raises(AlbMtlsError) as refused:
        start_provision(settings, _revoke_request("alice", "req-1"), LK, flow=REVOKE_FLOW, request_id="req-1")
    assert refused.value.code == Code.EXECUTION_RUNNING and refused.value.details["execution"] == prov.name
    # a revocation on another listener of the same ALB is not held up (it fails on its own: no such client)
    other = start_provision(settings, _revoke_request("alice", "req-2", 8443), "alb-demostd000000000001-8443",
                            flow=REVOKE_FLOW, request_id="req-2")
    assert _wait(settings, PROVISION_FLOW, prov.name) == "Succeeded"
    _wait(settings, REVOKE_FLOW, other.name)

    rev = start_provision(settings, _revoke_request("alice", "req-3"), LK, flow=REVOKE_FLOW, request_id="req-3")
    with pytest.raises(AlbMtlsError) as refused:
        start_provision(settings, demo_input, LK)
    assert refused.value.code == Code.EXECUTION_RUNNING and refused.value.details["execution"] == rev.name
    assert _wait(settings, REVOKE_FLOW, rev.name) == "Succeeded"
    provisions = [d for d in live_cloud.store.list("fnf.execution")
                  if d.get("FlowName") == PROVISION_FLOW and d["Name"].startswith(LK + "-")]
    assert [d["Status"] for d in provisions] == ["Succeeded"]          # the refused start left nothing behind

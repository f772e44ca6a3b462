"""Functional tests of ``albmtls-enable-mutual-auth`` through the real FC handler on the live local cloud."""
from __future__ import annotations

import copy

import pytest

from localcloud.products import alb as alb_emu

FN = "albmtls-enable-mutual-auth"


def _event(inp: dict, attempt: int = 0, execution: str | None = None) -> dict:
    ev: dict = {"input": inp, "attempt": attempt}
    if execution:
        ev["execution_name"] = execution
    return ev


def _until_ok(invoke, inp: dict, execution: str = "exec-1") -> tuple[dict, int]:
    """Call the step like the flow's wait loop does; returns the last result and the total writes."""
    total = 0
    attempt = 0
    for _ in range(10):
        out = invoke(FN, _event(inp, attempt, execution))
        total += out.get("writes", 0)
        if out["status"] != "pending":
            return out, total
        attempt = out["attempt"]
    raise AssertionError(f"still pending: {out}")


def test_creates_listener_with_mtls_then_second_call_writes_nothing(live_cloud, invoke, writes, demo_input):
    seed = live_cloud.endpoints()["seed"]
    out, total = _until_ok(invoke, demo_input)
    assert out["status"] == "ok", out
    lst = out["listener"]
    assert lst["ca_enabled"] is True
    assert lst["ca_certificate_id"] == seed["pca_sub_identifier"]
    assert lst["server_certificate_id"] == seed["server_cert_identifier"]
    assert lst["status"] == "Running" and lst["port"] == 443
    assert out["writes"] <= total == len(writes.since())
    doc = alb_emu.get_listener(live_cloud, lst["id"])
    assert doc["ListenerProtocol"] == "HTTPS" and doc["CaEnabled"] is True
    assert [c["CertificateId"] for c in doc["CaCertificates"]] == [seed["pca_sub_identifier"]]
    assert doc["XForwardedForConfig"]["XForwardedForClientCertSubjectDNEnabled"] is True
    sg = alb_emu.get_server_group(live_cloud, lst["server_group_id"])
    assert sg["ServerGroupName"] == demo_input["server_group"]["name"]
    assert sorted(s["ServerId"] for s in sg["Servers"]) == sorted(seed["ecs"].values())

    writes.mark()
    again = invoke(FN, _event(demo_input, 0, "exec-2"))
    assert again["status"] == "ok", again
    assert again["writes"] == 0 and writes.since() == []
    assert again["listener"] == lst

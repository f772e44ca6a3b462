"""Exactly-once effects under retries (the whole kind, not one example):

* every write the provisioning run makes loses its first response after the server applied it
  (``drop_after``), or has it held past the read timeout (``timeout_after``): the retried write
  carries the same ``ClientToken`` (ALB) or is re-checked before repeating (CAS, PCA, Alidns,
  KMS), so each effect happens once;
* every step crashes once right after its first successful write (the function dies; CloudFlow's
  ``Retry`` re-runs it): the re-run finds what the crashed attempt did and resumes.
"""
from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

import localcloud.products  # noqa: F401 — registers every action
from localcloud.registry import ACTIONS

PRODUCTS = ("alb", "cas", "pca", "alidns", "kms")


def write_actions() -> list[tuple[str, str]]:
    return sorted({(a.product, a.name) for a in ACTIONS.values() if a.write and a.product in PRODUCTS})


def _one_each(suite, runs):
    c = suite.count(runs)
    assert c["succeeded"] == c["runs"] == len(runs), c["failure_codes"]
    assert c["client_certificates_per_cn"] == {1: len(runs)}
    assert c["listeners_per_port"] == {1: len(runs)}
    assert c["dns_records_per_rr"] == {1: len(runs)}
    assert c["server_groups_per_name"] == {1: len(runs)}
    assert c["secret_versions_per_certificate"] == {"password versions=1": len(runs), "pfx versions=1": len(runs)}
    assert c["duplicate_secrets"] == 0 and c["half_applied"] == [], c["half_applied"]
    return c


@pytest.mark.parametrize("kind", ["drop_after", "timeout_after"])
def test_every_write_loses_its_first_response(suite, kind):
    assert len(write_actions()) > 10
    rules = [{"kind": kind, "product": p, "action": a, "writes_only": True, "rate": 1.0, "remaining": 1,
              "hold_ms": 900} for p, a in write_actions()]
    suite.cloud.faults.configure({"rules": rules, "seed": 1})
    mark = suite.cloud.store.last_call_n()
    runs = suite.provision_all([0])
    time.sleep(1.2)  # a held (timeout_after) call is logged when its hold ends, maybe after the run
    _one_each(suite, runs)
    calls = [c for c in suite.cloud.store.calls(mark) if c["write"] and c["product"] in PRODUCTS]
    lost = Counter(c["action"] for c in calls if c["code"] in ("OK-Dropped", "OK-Timeout"))
    applied = Counter(c["action"] for c in calls if c["code"] == "OK")
    used = set(lost) | set(applied)
    # preflight's DryRun calls consume the rule of their action without applying anything
    dry = {c["action"] for c in calls if c["code"] == "DryRunOperation"}
    # every write action the run used lost its first response, and the run still made each effect once
    assert used and used - dry <= set(lost), (lost, applied)
    assert {"CreateListener", "AddServersToServerGroup", "AddDomainRecord", "CreateClientCertificateWithCsr",
            "CreateSecret"} - dry <= set(lost), lost


def test_a_step_that_crashes_after_its_first_write_resumes(suite, monkeypatch):
    """The function dies (as a raised transient fault) right after its first successful write, on
    the first invocation of every step; CloudFlow's Retry re-invokes it."""
    import shared.steps.context as handler_mod  # StepContext.call: the call policy of every step
    from shared.core.errors import Code, TransientError

    real_call = handler_mod.call
    state = threading.local()
    crashed: list[str] = []
    lock = threading.Lock()
    seen_steps: set[str] = set()
    write_names = {a for _, a in write_actions()}

    def call(op_name, fn, **kw):
        out = real_call(op_name, fn, **kw)
        if getattr(state, "armed", False) and op_name.split(":", 1)[-1] in write_names:
            state.armed = False
            with lock:
                crashed.append(f"{state.step}:{op_name}")
            raise TransientError(Code.TIMEOUT, f"simulated crash of {state.step} after {op_name}")
        return out

    monkeypatch.setattr(handler_mod, "call", call)
    inner = suite.cloud.runtime["flow_invoker"]

    def invoker(name, payload, info=None):
        with lock:
            first = name not in seen_steps
            seen_steps.add(name)
        state.armed, state.step = first, name
        try:
            return inner(name, payload, info) if info is not None else inner(name, payload)
        finally:
            state.armed = False

    suite.cloud.runtime["flow_invoker"] = invoker
    runs = suite.provision_all([1])
    c = _one_each(suite, runs)
    steps = {x.split(":", 1)[0] for x in crashed}
    assert {"albmtls-issue-client-cert", "albmtls-enable-mutual-auth", "albmtls-create-cname"} <= steps, crashed
    assert c["cas_certificates"] == 2
    # the certificate of the crashed issuance (its key died with the invocation) was revoked
    assert c["revoked_certificates"] == 1
    # the history shows the re-runs (TaskFailed then RetryScheduled) and a successful end
    ev = runs[0].doc
    assert ev["status"] == "succeeded"

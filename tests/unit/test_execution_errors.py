"""Reading a failed execution's error back from its history: the workflows' Fail states carry
literal codes only (STEP_FAILED, FUNCTION_FAULT, a timeout's code), so the failing step's own code
comes from the events (``shared.steps.provisioning.step_failure``/``execution_failure``)."""
from __future__ import annotations

import json

import pytest

from shared.steps.provisioning import GENERIC_FAIL_CODES, execution_failure, step_failure


def ok(step, body):
    return {"type": "TaskSucceeded", "step": step, "detail": {"output": {"Body": body}}}


def task_failed(step, name, detail):
    return {"type": "TaskFailed", "step": step, "detail": {"error": {"Code": name, "Detail": detail}}}


def ended(code, detail="d"):
    return {"type": "ExecutionFailed", "step": "", "detail": {"error": {"Code": code, "Detail": detail}}}


FC_BODY = json.dumps({"errorMessage": "[TIMEOUT] alb:CreateListener did not succeed in time", "errorType": "X"})


@pytest.mark.parametrize(("events", "want"), [
    # a step returned its failure: its own code, the step's short name
    ([ok("Preflight", {"status": "ok"}),
      ok("Apply/Branch2/EnableMutualAuth", {"status": "failed", "error": {"code": "CA_NOT_FOUND", "message": "m"}})],
     {"code": "CA_NOT_FOUND", "message": "m", "step": "EnableMutualAuth"}),
    # a function fault past its retries: our code from FC's error body
    ([task_failed("HealthCheck", "FC.Unknown", FC_BODY)] * 3,
     {"code": "TIMEOUT", "message": "alb:CreateListener did not succeed in time", "step": "HealthCheck"}),
    # a Function Compute error: its CloudFlow name
    ([task_failed("Renew", "FC.ResourceThrottled", "throttled")],
     {"code": "FC.ResourceThrottled", "message": "throttled", "step": "Renew"}),
    # a step's failure wins over a later sibling's function fault
    ([ok("IssueClientCert", {"status": "failed", "error": {"code": "QUOTA_EXCEEDED", "message": "q"}}),
      task_failed("CreateCname", "FC.Unknown", "{}")],
     {"code": "QUOTA_EXCEEDED", "message": "q", "step": "IssueClientCert"}),
    ([ok("Preflight", {"status": "ok"})], None),
])
def test_step_failure(events, want):
    assert step_failure(events) == want


def test_execution_failure_reads_the_event_then_the_output():
    assert execution_failure([ended("LISTENER_NOT_RUNNING", "x")], None) == \
        {"code": "LISTENER_NOT_RUNNING", "message": "x"}
    assert execution_failure([], json.dumps({"Code": "STEP_FAILED", "Detail": "y"})) == \
        {"code": "STEP_FAILED", "message": "y"}
    assert execution_failure([], None)["code"] == "EXECUTION_FAILED" in GENERIC_FAIL_CODES
    # an undocumented EventDetail layout: the keys are looked for defensively
    odd = {"type": "ExecutionFailed", "detail": {"Error": "HEALTH_CHECK_TIMEOUT", "Cause": "c"}}
    assert execution_failure([odd], None) == {"code": "HEALTH_CHECK_TIMEOUT", "message": "c"}


def test_the_workflows_fail_codes_are_literal_and_known():
    """Every Fail state of the repository's workflows has a literal Code that is either generic (the
    step's own code is read from the history) or one the README's error table explains."""
    from pathlib import Path

    import yaml
    repo = Path(__file__).resolve().parents[2]
    readme = (repo / "README.md").read_text()

    def fails(states):
        for st in states:
            if st.get("Type") == "Fail":
                yield st
            for br in st.get("Branches") or []:
                if "States" in br:
                    yield from fails(br["States"])
            if "Processor" in st:
                yield from fails(st["Processor"]["States"])

    for wf in sorted((repo / "workflows").glob("*.yaml")):
        for st in fails(yaml.safe_load(wf.read_text())["States"]):
            assert "Code.$" not in st and "Detail.$" not in st and st.get("Detail"), (wf.name, st["Name"])
            assert f"`{st['Code']}`" in readme, f"{wf.name}: {st['Code']} is not in the README's error table"

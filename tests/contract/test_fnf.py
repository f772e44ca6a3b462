"""CloudFlow (fnf 2019-03-15) through the official SDK client against the local cloud, with a
fake function invoker (``cloud.runtime["flow_invoker"]``) and a no-op sleep."""
from __future__ import annotations

import json
import threading
import time

import pytest
from alibabacloud_fnf20190315 import models as fnf
from alibabacloud_tea_openapi.exceptions import ClientException

from localruntime.cloud import LocalCloud, Settings

ARN = "acs:fc:::functions/{}/LATEST"


@pytest.fixture
def cloud_settings() -> Settings:
    return Settings(alb_job_seconds=0.05, services=("fnf",))


def definition(name: str, extra_wait: bool = False) -> str:
    states = [
        {"Type": "Task", "Name": "Check", "Action": "FC:InvokeFunction",
         "Parameters": {"resourceArn": ARN.format("cert-check"), "invocationType": "Sync",
                        "body": {"domain.$": "$Input.domain"}},
         "Retry": [{"Description": "throttled", "Errors": ["FC.ResourceThrottled"], "IntervalSeconds": 1,
                    "MaxAttempts": 2}],
         "Catch": [{"Description": "anything else", "Errors": ["FnF.ALL"], "Next": "Failed",
                    "OutputConstructor": {"code.$": "$Context.Current.Error.Code"}}],
         "OutputConstructor": {"domain.$": "$Input.domain", "status.$": "$Output.Body.status"},
         "Next": "Route"},
        {"Type": "Choice", "Name": "Route",
         "Branches": [{"Condition": '$Input.status == "RENEW"', "Next": "Hold" if extra_wait else "Done"}],
         "Default": "Done"},
        {"Type": "Succeed", "Name": "Done"},
        {"Type": "Fail", "Name": "Failed", "Code": "CheckFailed", "Detail": "the check failed"},
    ]
    if extra_wait:
        states.insert(2, {"Type": "Wait", "Name": "Hold", "Seconds": 5, "Next": "Done"})
    return json.dumps({"Type": "StateMachine", "SpecVersion": "v1", "Name": name, "StartAt": "Check",
                       "States": states})


class FakeInvoker:
    def __init__(self):
        self.calls = []
        self.fail_domains: set[str] = set()

    def __call__(self, name, payload, info):
        body = json.loads(payload)
        self.calls.append((name, body))
        if body["domain"] in self.fail_domains:
            raise RuntimeError("cannot check")
        return json.dumps({"status": "RENEW" if body["domain"].startswith("renew") else "OK"}).encode()


@pytest.fixture
def fake(cloud):
    inv = FakeInvoker()
    cloud.runtime["flow_invoker"] = inv
    cloud.runtime["flow_sleep"] = lambda s: None
    return inv


@pytest.fixture
def client(clients):
    """The fnf SDK client; fails with a clear message when the control plane cannot serve the
    fnf SDK's wire forms (GET for Describe*/List*/GetExecutionHistory; RPC v2 signatures whose
    string-to-sign covers the form-body parameters of POST calls)."""
    c = clients("fnf")
    problems = []
    try:
        c.describe_flow(fnf.DescribeFlowRequest(name="probe"))
    except ClientException as e:
        if e.code != "FlowNotExists":
            problems.append(f"GET / must dispatch API calls (got {e.code})")
    try:
        c.delete_flow(fnf.DeleteFlowRequest(name="probe"))
    except ClientException as e:
        if e.code != "FlowNotExists":
            problems.append(f"verify_v2 must sign query + form-body parameters (got {e.code})")
    if problems:
        pytest.fail("localcloud/server.py: " + "; ".join(problems))
    return c


def create(client, name="rotate", **kw):
    return client.create_flow(fnf.CreateFlowRequest(name=name, definition=definition(name, **kw),
                                                    description="test flow", type="FDL")).body


def start(client, flow, name=None, inp=None):
    return client.start_execution(fnf.StartExecutionRequest(
        flow_name=flow, execution_name=name, input=json.dumps(inp or {"domain": "a.test"}))).body


def wait_done(client, flow, name, timeout=5.0):
    deadline = time.monotonic() + timeout
    while True:
        d = client.describe_execution(fnf.DescribeExecutionRequest(flow_name=flow, execution_name=name)).body
        if d.status not in ("Running", "Starting") or time.monotonic() > deadline:
            return d
        time.sleep(0.02)


def test_create_describe_update_flow(client, fake):
    body = create(client)
    assert body.name == "rotate" and body.type == "FDL" and body.id and body.created_time.endswith("Z")
    d = client.describe_flow(fnf.DescribeFlowRequest(name="rotate")).body
    assert json.loads(d.definition)["StartAt"] == "Check" and d.description == "test flow"
    with pytest.raises(ClientException) as ei:
        create(client)
    assert ei.value.code == "FlowAlreadyExists"
    u = client.update_flow(fnf.UpdateFlowRequest(name="rotate", description="v2", type="FDL")).body
    assert u.description == "v2"
    listed = client.list_flows(fnf.ListFlowsRequest()).body
    assert [f.name for f in listed.flows] == ["rotate"]
    with pytest.raises(ClientException) as ei:
        client.describe_flow(fnf.DescribeFlowRequest(name="nope"))
    assert ei.value.code == "FlowNotExists"


def test_invalid_definition_is_rejected_with_every_problem(client):
    bad = {"Type": "StateMachine", "SpecVersion": "v1", "Name": "other", "StartAt": "A",
           "States": [{"Type": "Choice", "Name": "A", "Branches": [{"Condition": "$Input.x == 1", "Next": "B"}]},
                      {"Type": "Fail", "Name": "B"}]}
    with pytest.raises(ClientException) as ei:
        client.create_flow(fnf.CreateFlowRequest(name="bad", definition=json.dumps(bad), description="d", type="FDL"))
    assert ei.value.code == "InvalidArgument"
    msg = str(ei.value)
    assert "must equal the flow name 'bad'" in msg and "Default is missing" in msg and "Detail is missing" in msg


def test_start_describe_history_succeeded(client, fake):
    create(client)
    s = start(client, "rotate", "e1", {"domain": "renew.test"})
    assert s.name == "e1" and s.status == "Running" and s.flow_name == "rotate"
    d = wait_done(client, "rotate", "e1")
    assert d.status == "Succeeded"
    assert json.loads(d.output) == {"domain": "renew.test", "status": "RENEW"}
    assert json.loads(d.input) == {"domain": "renew.test"}
    assert d.started_time and d.stopped_time and d.stopped_time >= d.started_time
    assert fake.calls == [("cert-check", {"domain": "renew.test"})]

    h = client.get_execution_history(fnf.GetExecutionHistoryRequest(flow_name="rotate", execution_name="e1")).body
    types = [e.type for e in h.events]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert "StepEntered" in types and "TaskScheduled" in types and "TaskSucceeded" in types
    assert [e.event_id for e in h.events] == list(range(1, len(types) + 1))
    entered = next(e for e in h.events if e.type == "StepEntered" and e.step_name == "Route")
    assert json.loads(entered.event_detail) == {"input": {"domain": "renew.test", "status": "RENEW"}}
    assert h.next_token is None

    # paging
    page1 = client.get_execution_history(
        fnf.GetExecutionHistoryRequest(flow_name="rotate", execution_name="e1", limit=3)).body
    assert len(page1.events) == 3 and page1.next_token
    page2 = client.get_execution_history(fnf.GetExecutionHistoryRequest(
        flow_name="rotate", execution_name="e1", limit=999, next_token=page1.next_token)).body
    assert [e.event_id for e in page1.events + page2.events] == [e.event_id for e in h.events]


def test_failed_execution_reports_error(client, fake):
    create(client)
    fake.fail_domains.add("broken.test")
    start(client, "rotate", "bad1", {"domain": "broken.test"})
    d = wait_done(client, "rotate", "bad1")
    assert d.status == "Failed"
    assert json.loads(d.output) == {"Code": "CheckFailed", "Detail": "the check failed"}
    h = client.get_execution_history(fnf.GetExecutionHistoryRequest(flow_name="rotate", execution_name="bad1")).body
    failed = [e for e in h.events if e.type == "TaskFailed"]
    assert json.loads(failed[0].event_detail)["error"] == {
        "Code": "FC.Unknown", "Detail": json.dumps({"errorMessage": "cannot check", "errorType": "RuntimeError"})}
    assert h.events[-1].type == "ExecutionFailed"


def test_same_name_semantics_running_then_finished(client, cloud, fake):
    create(client, extra_wait=True)
    gate = threading.Event()
    cloud.runtime["flow_sleep"] = lambda s: gate.wait(5)     # hold the execution in its Wait state
    first = start(client, "rotate", "same", {"domain": "renew.test"})
    again = start(client, "rotate", "same", {"domain": "renew.test"})
    assert first.status == again.status == "Running" and again.started_time == first.started_time
    running = client.list_executions(fnf.ListExecutionsRequest(flow_name="rotate", status="Running")).body
    assert [e.name for e in running.executions] == ["same"]
    gate.set()
    assert wait_done(client, "rotate", "same").status == "Succeeded"
    with pytest.raises(ClientException) as ei:
        start(client, "rotate", "same")
    assert ei.value.code == "ExecutionAlreadyExists"
    assert len(fake.calls) == 1


def test_list_executions_filter_and_paging(client, fake):
    create(client)
    fake.fail_domains.add("broken.test")
    names = [f"e{i}" for i in range(5)]
    for i, n in enumerate(names):
        start(client, "rotate", n, {"domain": "broken.test" if i == 2 else "ok.test"})
    for n in names:
        wait_done(client, "rotate", n)
    auto = start(client, "rotate")          # no name: generated
    assert auto.name and wait_done(client, "rotate", auto.name).status == "Succeeded"
    got, token = [], None
    while True:
        page = client.list_executions(fnf.ListExecutionsRequest(flow_name="rotate", limit=2, next_token=token)).body
        assert len(page.executions) <= 2
        got += [e.name for e in page.executions]
        token = page.next_token
        if not token:
            break
    assert got == names + [auto.name]
    failed = client.list_executions(fnf.ListExecutionsRequest(flow_name="rotate", status="Failed")).body
    assert [e.name for e in failed.executions] == ["e2"]
    with pytest.raises(ClientException) as ei:
        client.describe_execution(fnf.DescribeExecutionRequest(flow_name="rotate", execution_name="nope"))
    assert ei.value.code == "ExecutionNotExists"


def test_stop_execution(client, cloud, fake):
    create(client, extra_wait=True)
    gate = threading.Event()
    cloud.runtime["flow_sleep"] = lambda s: gate.wait(5)
    start(client, "rotate", "s1", {"domain": "renew.test"})
    time.sleep(0.05)
    r = client.stop_execution(fnf.StopExecutionRequest(flow_name="rotate", execution_name="s1",
                                                       error="Manual", cause="operator")).body
    assert r.status == "Stopped"
    gate.set()
    d = wait_done(client, "rotate", "s1")
    assert d.status == "Stopped" and json.loads(d.output) == {"Code": "Manual", "Detail": "operator"}


def test_running_execution_is_marked_failed_after_restart(tmp_path):
    # clouds of its own: one stopped mid-execution, then another started on its state directory
    state = tmp_path / "st"
    settings = Settings(alb_job_seconds=0.05, services=("fnf",))
    gate = threading.Event()
    c = LocalCloud(state, seed=None, settings=settings).start()
    try:
        from tests.conftest import make_client
        cl = make_client("fnf", c.endpoints())
        c.runtime["flow_invoker"] = FakeInvoker()
        c.runtime["flow_sleep"] = lambda s: gate.wait(10)
        create(cl, extra_wait=True)
        start(cl, "rotate", "r1", {"domain": "renew.test"})
        time.sleep(0.05)
    finally:
        t0 = time.monotonic()
        c.stop()              # the execution is still waiting: it is marked interrupted
        assert time.monotonic() - t0 < 5
        gate.set()
    c2 = LocalCloud(state, seed=None, settings=settings).start()
    try:
        cl = make_client("fnf", c2.endpoints())
        d = cl.describe_execution(fnf.DescribeExecutionRequest(flow_name="rotate", execution_name="r1")).body
        assert d.status == "Failed"
        assert json.loads(d.output)["Code"] == "FnF.ExecutionInterrupted"
    finally:
        c2.stop()


@pytest.mark.parametrize("fail", [
    {"Type": "Fail", "Name": "F", "Code.$": "$Input.code", "Detail": "d"},
    {"Type": "Fail", "Name": "F", "Code": "X", "Detail.$": "$Input.message"},
])
def test_create_and_update_flow_refuse_fail_expressions_with_the_docs_words(client, fail):
    """Only the documented FDL: a Fail's Code and Detail are literal strings, refused at CreateFlow
    and at UpdateFlow with the FDL's rule (and a link to it) in the message."""
    d = {"Type": "StateMachine", "SpecVersion": "v1", "Name": "strict", "StartAt": "F", "States": [fail]}
    with pytest.raises(ClientException) as ei:
        client.create_flow(fnf.CreateFlowRequest(name="strict", definition=json.dumps(d), description="d", type="FDL"))
    assert ei.value.code == "InvalidArgument"
    assert "literal strings" in str(ei.value) and "serverless-workflow/latest/fail" in str(ei.value)
    ok = {**d, "States": [{"Type": "Fail", "Name": "F", "Code": "X", "Detail": "literal"}]}
    client.create_flow(fnf.CreateFlowRequest(name="strict", definition=json.dumps(ok), description="d", type="FDL"))
    with pytest.raises(ClientException) as ei:
        client.update_flow(fnf.UpdateFlowRequest(name="strict", definition=json.dumps(d), description="d"))
    assert ei.value.code == "InvalidArgument" and "literal strings" in str(ei.value)

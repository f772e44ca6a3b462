"""The local CloudFlow runner: definitions, static checks, every state type, Retry/Catch,
expressions, limits — with a fake invoker and an injected sleep (no waiting, no cloud)."""
from __future__ import annotations

import json
import re
import threading
import time
from pathlib import Path

import pytest

from localcloud.flow import DefinitionError, FlowRunner, load_definition, run_flow
from localcloud.flow.errors import FUNCTION_EXHAUSTED, FUNCTION_THROTTLED, FcInvokeError
from localcloud.flow.expressions import ExpressionError, eval_condition, eval_expr, parse

ARN = "acs:fc:::functions/{}/LATEST"


def _described(states):
    """Every Retry/Catch rule gets the Description the FDL requires (a test of the rule itself
    passes ``Description=None`` to leave it out)."""
    for st in states:
        for key in ("Retry", "Catch"):
            for rule in st.get(key) or []:
                if isinstance(rule, dict):
                    if rule.get("Description", "") is None:
                        del rule["Description"]
                    else:
                        rule.setdefault("Description", f"{key.lower()} rule")
        for br in st.get("Branches") or []:
            if isinstance(br, dict) and isinstance(br.get("States"), list):
                _described(br["States"])
        if isinstance(st.get("Processor"), dict) and isinstance(st["Processor"].get("States"), list):
            _described(st["Processor"]["States"])
    return states


def flow(*states, start=None, **top):
    d = {"Type": "StateMachine", "SpecVersion": "v1", "Name": "t", "StartAt": start or states[0]["Name"],
         "States": _described(list(states))}
    d.update(top)
    return d


def task(name, fn="worker", **kw):
    st = {"Type": "Task", "Name": name, "Action": "FC:InvokeFunction",
          "Parameters": {"resourceArn": ARN.format(fn), "invocationType": "Sync", "body.$": "$Input"}}
    st.update(kw)
    if "Next" not in st and "End" not in st:
        st["End"] = True
    return st


class Fake:
    """A fake invoker: ``behaviours[name]`` is a callable(payload dict) -> result or raises."""

    def __init__(self, **behaviours):
        self.behaviours = behaviours
        self.calls: list[tuple[str, object, dict]] = []
        self.lock = threading.Lock()

    def __call__(self, name, payload, info):
        body = json.loads(payload) if payload else None
        with self.lock:
            self.calls.append((name, body, info))
        fn = self.behaviours.get(name, lambda b: {"echo": b})
        out = fn(body)
        return out if isinstance(out, bytes) else json.dumps(out).encode()


class CodedError(Exception):
    """An exception with a ``code`` attribute: CloudFlow never sees it (the name is FC.Unknown)."""

    def __init__(self, code, msg="boom"):
        super().__init__(msg)
        self.code = code


def fc_error(error, msg="fc says no"):
    """What an invoker raises for a Function Compute error (throttled, exhausted, …)."""
    def raise_(b):
        raise FcInvokeError(error, msg)
    return raise_


def run(defn, inp=None, invoker=None, **kw):
    sleeps: list[float] = []
    res = FlowRunner(defn, invoker or Fake(), sleep=sleeps.append, **kw).run(inp if inp is not None else {})
    res.sleeps = sleeps
    return res


# --------------------------------------------------------------------------------------
# loading
def test_loads_yaml_json_and_the_reference_example():
    # the example of docs/SERVERLESS.md §1.14 (assembled from the CloudFlow pages) runs as written
    text = (Path(__file__).resolve().parents[2] / "docs" / "SERVERLESS.md").read_text()
    yaml_text = re.search(r"### 1.14.*?```yaml\n(.*?)```", text, re.S).group(1)
    d = load_definition(yaml_text)
    assert d.name == "cert-rotation" and d.root.start_at == "CheckExpiry"
    inv = Fake(**{"cert-check": lambda b: {"status": "RENEW"}, "cert-issue": lambda b: {"certId": 7}})
    res = run(d, {"domain": "a.test"}, inv)
    assert res.status == "Succeeded", res.error
    assert [c[0] for c in inv.calls] == ["cert-check", "cert-issue", "cert-attach"]
    assert inv.calls[2][1] == {"domain": "a.test", "certId": 7}
    assert res.sleeps == [60.0]
    d = load_definition(json.dumps(flow({"Type": "Pass", "Name": "P", "End": True})))
    assert d.root.states["P"].type == "Pass"


# --------------------------------------------------------------------------------------
# state types
def test_task_output_is_wrapped_under_body_and_output_constructor():
    inv = Fake(worker=lambda b: {"status": "OK", "n": b["n"] + 1})
    d = flow(task("T", OutputConstructor={"n.$": "$Output.Body.n", "was.$": "$Input.n", "k": "lit"}, Next="P"),
             {"Type": "Pass", "Name": "P", "End": True})
    res = run(d, {"n": 1}, inv)
    assert res.status == "Succeeded"
    assert res.output == {"n": 2, "was": 1, "k": "lit"}
    name, body, info = inv.calls[0]
    assert name == "worker" and body == {"n": 1}
    assert info["execution_name"] == res.name and info["state"] == "T" and info["request_id"]


def test_task_without_constructor_passes_the_wrapper_and_non_json_body():
    inv = Fake(worker=lambda b: b"plain text")
    res = run(flow(task("T")), {}, inv)
    assert res.output == {"Body": "plain text"}


def test_task_body_template_and_json_template_expression():
    inv = Fake()
    d = flow(task("A", Parameters={"resourceArn": ARN.format("w"), "invocationType": "Sync",
                                   "body": {"domain.$": "$Input.d", "fixed": 30,
                                            "nested": {"x.$": "$Context.Execution.Name"}}},
                  Next="B"),
             task("B", Parameters={"resourceArn": ARN.format("w"), "invocationType": "Sync",
                                   "body.$": '{"action": "query", "body": $Context.Execution.Input}'}))
    res = FlowRunner(d, inv, sleep=lambda s: None).run({"d": "x.test"}, name="e1")
    assert res.status == "Succeeded"
    assert inv.calls[0][1] == {"domain": "x.test", "fixed": 30, "nested": {"x": "e1"}}
    assert inv.calls[1][1] == {"action": "query", "body": {"d": "x.test"}}


def test_pass_with_input_constructor_replaces_input():
    res = run(flow({"Type": "Pass", "Name": "P", "InputConstructor": {"FieldA": 123, "b.$": "$Input.b"}, "End": True}),
              {"b": [1, 2], "c": 3})
    assert res.output == {"FieldA": 123, "b": [1, 2]}


def choice_flow(cond):
    return flow({"Type": "Choice", "Name": "C", "Branches": [{"Condition": cond, "Next": "Yes"}], "Default": "No"},
                {"Type": "Pass", "Name": "Yes", "InputConstructor": {"r": "yes"}, "End": True},
                {"Type": "Pass", "Name": "No", "InputConstructor": {"r": "no"}, "End": True})


@pytest.mark.parametrize("cond,inp,want", [
    ('$Input.status == "RENEW"', {"status": "RENEW"}, "yes"),
    ("$Input.status == `RENEW`", {"status": "OK"}, "no"),
    ('$Input.status != "RENEW"', {"status": "OK"}, "yes"),
    ("$Input.n < 7", {"n": 3}, "yes"),
    ("$Input.n <= 7", {"n": 7}, "yes"),
    ("$Input.n > 7", {"n": 7}, "no"),
    ("$Input.n >= 7.5", {"n": 8}, "yes"),
    ('$Input.n < 7 && $Input.force == "yes"', {"n": 3, "force": "no"}, "no"),
    ('$Input.n < 7 && $Input.force == "yes"', {"n": 3, "force": "yes"}, "yes"),
    ('$Input.n < 7 || $Input.force == "yes"', {"n": 9, "force": "yes"}, "yes"),
    ('($Input.n < 7 || $Input.n > 100) && $Input.a[1].b == "z"', {"n": 200, "a": [{}, {"b": "z"}]}, "yes"),
    # && binds tighter
    ('$Input.a == "b" || $Input.c == "d" && $Input.e == "f"', {"a": "b", "c": "x", "e": "x"}, "yes"),
    ('$Input.n == "5"', {"n": 5}, "no"),          # strings vs numbers: type-strict equality
    ('"abc" < "abd"', {}, "yes"),                   # strings compare lexicographically
    ('$Input.missing == "x"', {}, "no"),           # missing path is null in conditions
    ("$Input.missing < 3", {}, "no"),
    ('$Context.Execution.Input.n == 1', {"n": 1}, "yes"),
    ("$Input.flag", {"flag": True}, "yes"),
    ("!($Input.n > 1)", {"n": 0}, "yes"),
])
def test_choice_operators(cond, inp, want):
    res = run(choice_flow(cond), inp)
    assert res.status == "Succeeded", res.error
    assert res.output == {"r": want}


def test_choice_comparing_string_with_number_is_an_expression_error():
    res = run(choice_flow("$Input.n < \"7\""), {"n": 3})
    assert res.status == "Failed"
    assert res.error["Code"] == "FnF.InvalidExpression"
    assert "state 'C'" in res.error["Detail"]


def test_wait_uses_injected_sleep_static_and_dynamic():
    d = flow({"Type": "Wait", "Name": "W1", "Seconds": 5, "Next": "W2"},
             {"Type": "Wait", "Name": "W2", "Seconds.$": "$Input.t", "End": True})
    t0 = time.monotonic()
    res = run(d, {"t": 120})
    assert res.status == "Succeeded" and res.output == {"t": 120}
    assert res.sleeps == [5.0, 120.0]
    assert time.monotonic() - t0 < 1


def test_succeed_and_fail():
    res = run(flow({"Type": "Succeed", "Name": "S"}), {"a": 1})
    assert res.status == "Succeeded" and res.output == {"a": 1}
    res = run(flow({"Type": "Fail", "Name": "F", "Code": "RotationFailed", "Detail": "see history"}))
    assert res.status == "Failed" and res.error == {"Code": "RotationFailed", "Detail": "see history"}
    res = run(flow({"Type": "Fail", "Name": "F", "Detail": "no code"}))
    assert res.error == {"Code": "FnF.Fail", "Detail": "no code"}


@pytest.mark.parametrize("fail", [
    {"Type": "Fail", "Name": "F", "Code": "X"},                                        # no Detail
    {"Type": "Fail", "Name": "F", "Code.$": "$Input.c", "Detail": "d"},                # an expression Code
    {"Type": "Fail", "Name": "F", "Code": "X", "Detail.$": "$Input.d"},                # an expression Detail
    {"Type": "Fail", "Name": "F", "Code": "X", "Detail": ""},                          # an empty Detail
])
def test_a_fail_needs_a_literal_detail_and_takes_no_expressions(fail):
    """The FDL's Fail: Code (string, optional), Detail (string, required); the doc's words in the
    error (https://www.alibabacloud.com/help/en/serverless-workflow/latest/fail)."""
    with pytest.raises(DefinitionError) as info:
        load_definition(flow(fail))
    text = "\n".join(info.value.problems)
    assert "state 'F'" in text and "serverless-workflow/latest/fail" in text
    assert "every Fail state requires a Detail value" in text or "literal string" in text


def test_parallel_outputs_branch_map_and_runs_concurrently():
    barrier = threading.Barrier(2, timeout=5)

    def meet(b):
        barrier.wait()          # both branches must be in flight together
        return {"who": b["who"]}

    d = flow({"Type": "Parallel", "Name": "Fan", "Next": "Done", "Branches": [
        {"StartAt": "A", "States": [task("A", fn="meet", InputConstructor={"who": "a"})]},
        {"StartAt": "B0", "States": [{"Type": "Pass", "Name": "B0", "Next": "B"},
                                     task("B", fn="meet", InputConstructor={"who": "b"})]},
    ]}, {"Type": "Pass", "Name": "Done", "End": True}, start="Fan")
    res = run(d, {"x": 1}, Fake(meet=meet))
    assert res.status == "Succeeded", res.error
    assert res.output == {"Branch0": {"Body": {"who": "a"}}, "Branch1": {"Body": {"who": "b"}}}
    states = [e["state"] for e in res.events if e["type"] == "StateEntered"]
    assert "Fan/Branch0/A" in states and "Fan/Branch1/B0" in states


def test_a_fail_in_a_parallel_branch_ends_the_execution_even_with_a_catch():
    """ "When a flow reaches a Fail state, all states in the current scope stop running and the flow
    ends" (the FDL's Fail page): not a catchable error on the Parallel state."""
    started = threading.Event()

    def slow(b):
        started.set()
        time.sleep(0.2)
        return {}

    d = flow({"Type": "Parallel", "Name": "Fan", "Next": "After",
              "Catch": [{"Errors": ["FnF.ALL"], "Next": "H",
                         "OutputConstructor": {"code.$": "$Context.Current.Error.Code"}}],
              "Branches": [{"StartAt": "W", "States": [task("W", fn="slow", Next="F"),
                                                       {"Type": "Fail", "Name": "F", "Code": "Boom", "Detail": "d"}]},
                           {"StartAt": "S", "States": [task("S", fn="slow", Next="S2"), task("S2", fn="slow")]}]},
             {"Type": "Pass", "Name": "After", "End": True},
             {"Type": "Pass", "Name": "H", "End": True}, start="Fan")
    res = run(d, {}, Fake(slow=slow))
    assert res.status == "Failed" and res.error == {"Code": "Boom", "Detail": "d"}
    entered = [e["state"] for e in res.events if e["type"] == "StateEntered"]
    assert "H" not in entered and "After" not in entered
    assert res.events[-1]["type"] == "ExecutionFailed"


def test_a_task_error_in_a_branch_is_catchable_on_the_parallel_state():
    d = flow({"Type": "Parallel", "Name": "Fan", "End": True,
              "Catch": [{"Errors": ["FnF.ALL"], "Next": "H",
                         "OutputConstructor": {"code.$": "$Context.Current.Error.Code"}}],
              "Branches": [{"StartAt": "T", "States": [task("T", fn="bad")]},
                           {"StartAt": "P", "States": [{"Type": "Pass", "Name": "P", "End": True}]}]},
             {"Type": "Pass", "Name": "H", "End": True})
    res = run(d, {}, Fake(bad=lambda b: (_ for _ in ()).throw(ValueError("x"))))
    assert res.status == "Succeeded" and res.output == {"code": "FC.Unknown"}


def test_map_collects_items_and_bounds_concurrency():
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def work(b):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.03)
        with lock:
            state["now"] -= 1
        return {"sq": b * b}

    d = flow({"Type": "Map", "Name": "M", "ItemsPath": "$Input.items", "MaxConcurrency": 3, "End": True,
              "Processor": {"StartAt": "W", "States": [task("W", fn="work")]}})
    res = run(d, {"items": list(range(10))}, Fake(work=work))
    assert res.status == "Succeeded", res.error
    assert res.output == {"Items": [{"Body": {"sq": i * i}} for i in range(10)]}
    assert state["max"] == 3


def test_map_accepts_documented_misspelling_and_failure_propagates():
    seen = []

    def work(b):
        seen.append(b)
        if b == 2:
            raise CodedError("Bad.Item", "item 2")
        return b

    d = flow({"Type": "Map", "Name": "M", "ItemsPath": "$Input.items", "MaxConcuccency": 1, "End": True,
              "Processor": {"StartAt": "W", "States": [task("W", fn="work")]}})
    res = run(d, {"items": [0, 1, 2, 3, 4]}, Fake(work=work))
    # the exception's ``code`` attribute is not CloudFlow's business: a raising function is FC.Unknown
    assert res.status == "Failed" and res.error["Code"] == "FC.Unknown"
    assert json.loads(res.error["Detail"]) == {"errorMessage": "item 2", "errorType": "CodedError"}
    assert seen[:3] == [0, 1, 2] and len(seen) < 5   # later items were cancelled


@pytest.mark.parametrize(("keys", "limit"), [({"MaxConcuccency": 2}, 2), ({"MaxConcurrency": 2}, 2),
                                             ({"MaxConcuccency": 2, "MaxConcurrency": 2}, 2), ({}, 40)])
def test_map_honours_either_spelling_of_the_concurrency_key(keys, limit):
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def work(b):
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.02)
        with lock:
            state["now"] -= 1
        return b

    d = flow({"Type": "Map", "Name": "M", "ItemsPath": "$Input.items", "End": True, **keys,
              "Processor": {"StartAt": "W", "States": [task("W", fn="work")]}})
    res = run(d, {"items": list(range(45))}, Fake(work=work))
    assert res.status == "Succeeded" and 1 < state["max"] <= limit


def test_map_concurrency_keys_must_agree():
    with pytest.raises(DefinitionError, match="MaxConcuccency and MaxConcurrency are both set, to different"):
        load_definition(flow({"Type": "Map", "Name": "M", "ItemsPath": "$Input.i", "End": True,
                              "MaxConcuccency": 2, "MaxConcurrency": 5,
                              "Processor": {"StartAt": "P", "States": [{"Type": "Pass", "Name": "P", "End": True}]}}))


def test_a_fail_in_a_map_item_ends_the_execution_even_with_a_catch():
    d = flow({"Type": "Map", "Name": "M", "ItemsPath": "$Input.items", "MaxConcuccency": 1, "Next": "After",
              "Catch": [{"Errors": ["FnF.ALL"], "Next": "H"}],
              "Processor": {"StartAt": "C", "States": [
                  {"Type": "Choice", "Name": "C", "Branches": [{"Condition": "$Input == 2", "Next": "F"}],
                   "Default": "Ok"},
                  {"Type": "Fail", "Name": "F", "Code": "STEP_FAILED", "Detail": "item 2"},
                  {"Type": "Succeed", "Name": "Ok"}]}},
             {"Type": "Pass", "Name": "After", "End": True}, {"Type": "Pass", "Name": "H", "End": True})
    res = run(d, {"items": [0, 1, 2, 3]})
    assert res.status == "Failed" and res.error == {"Code": "STEP_FAILED", "Detail": "item 2"}


def test_map_items_path_must_be_array():
    d = flow({"Type": "Map", "Name": "M", "ItemsPath": "$Input.x", "End": True,
              "Processor": {"StartAt": "P", "States": [{"Type": "Pass", "Name": "P", "End": True}]}})
    res = run(d, {"x": "nope"})
    assert res.error["Code"] == "FnF.InvalidExpression"


# --------------------------------------------------------------------------------------
# Retry / Catch
def test_retry_sleeps_interval_times_backoff_capped():
    attempts = []

    def flaky(b):
        attempts.append(1)
        if len(attempts) <= 4:
            raise FcInvokeError(FUNCTION_THROTTLED, "throttled")
        return {"ok": True}

    d = flow(task("T", fn="flaky", Retry=[
        {"Errors": ["Other"], "IntervalSeconds": 99, "MaxAttempts": 9},
        {"Errors": ["FC.ResourceThrottled"], "IntervalSeconds": 2, "MaxAttempts": 4, "BackoffRate": 3,
         "MaxBackoffSeconds": 30}]))
    res = run(d, {}, Fake(flaky=flaky))
    assert res.status == "Succeeded"
    assert res.sleeps == [2.0, 6.0, 18.0, 30.0]
    retries = [e for e in res.events if e["type"] == "RetryScheduled"]
    assert [r["detail"]["attempt"] for r in retries] == [1, 2, 3, 4]
    assert [e["type"] for e in res.events].count("TaskFailed") == 4


def test_retry_exhausted_then_catch_routes_with_error_code_and_detail():
    d = flow(task("T", fn="bad", Next="Ok",
                  Retry=[{"Errors": ["FnF.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2}],
                  Catch=[{"Errors": ["Nope"], "Next": "Ok"},
                         {"Errors": ["FnF.ALL"], "Next": "Handle",
                          "OutputConstructor": {"code.$": "$Context.Current.Error.Code",
                                                "detail.$": "$Context.Current.Error.Detail",
                                                "domain.$": "$Input.domain",
                                                "retries.$": "$Context.Current.RetryCount"}}]),
             {"Type": "Pass", "Name": "Ok", "End": True},
             {"Type": "Pass", "Name": "Handle", "End": True})
    inv = Fake(bad=lambda b: (_ for _ in ()).throw(ValueError("broken input")))
    res = run(d, {"domain": "d.test"}, inv)
    assert res.status == "Succeeded"
    assert res.output == {"code": "FC.Unknown", "detail": json.dumps({"errorMessage": "broken input",
                                                                      "errorType": "ValueError"}),
                          "domain": "d.test", "retries": 2}
    assert res.sleeps == [1.0, 1.0]
    assert len(inv.calls) == 3


def test_catch_without_constructor_passes_error_and_retry_count_visible():
    counts = []

    def f(b):
        counts.append(b["rc"])
        raise FcInvokeError(FUNCTION_EXHAUSTED, "no capacity")

    d = flow(task("T", fn="f", Parameters={"resourceArn": ARN.format("f"), "invocationType": "Sync",
                                          "body": {"rc.$": "$Context.Current.RetryCount"}},
                  Retry=[{"Errors": ["FC.ResourceExhausted"], "IntervalSeconds": 0, "MaxAttempts": 2}],
                  Catch=[{"Errors": ["FC.ResourceExhausted"], "Next": "H"}]),
             {"Type": "Pass", "Name": "H", "End": True})
    res = run(d, {}, Fake(f=f))
    assert counts == [0, 1, 2]
    assert res.output == {"Code": "FC.ResourceExhausted", "Detail": "no capacity"}


def test_uncaught_error_fails_execution():
    res = run(flow(task("T", fn="f", Catch=[{"Errors": ["Other"], "Next": "T"}])), {},
              Fake(f=fc_error(FUNCTION_EXHAUSTED, "full")))
    assert res.status == "Failed"
    assert res.error == {"Code": "FC.ResourceExhausted", "Detail": "full"}
    assert res.events[-1]["type"] == "ExecutionFailed"


def test_task_timeout():
    d = flow(task("T", fn="slow", Timeout="1"))
    res = FlowRunner(d, Fake(slow=lambda b: time.sleep(1.5) or {}), sleep=lambda s: None).run({})
    assert res.error["Code"] == "FnF.TaskTimeout"


# --------------------------------------------------------------------------------------
# limits, history, guards
def test_64k_limit_on_state_output():
    big = "x" * (64 * 1024)
    res = run(flow(task("T", fn="big", Catch=[{"Errors": ["FnF.ALL"], "Next": "H"}]),
                   {"Type": "Pass", "Name": "H", "End": True}), {}, Fake(big=lambda b: {"data": big}))
    assert res.status == "Failed"             # not catchable: the execution fails
    assert res.error["Code"] == "FnF.DataLimitExceeded"
    assert "state 'T'" in res.error["Detail"]
    ok = run(flow(task("T", fn="big")), {}, Fake(big=lambda b: {"data": "x" * 60000}))
    assert ok.status == "Succeeded"
    res = run(flow({"Type": "Pass", "Name": "P", "End": True}), {"d": big})
    assert res.error["Code"] == "FnF.DataLimitExceeded"


def test_history_events_and_live_callback():
    seen = []
    d = flow(task("T", Next="W"), {"Type": "Wait", "Name": "W", "Seconds": 1, "End": True})
    res = FlowRunner(d, Fake(), sleep=lambda s: None, on_event=seen.append).run({"a": 1}, name="n1")
    types = [e["type"] for e in res.events]
    assert types == ["ExecutionStarted", "StateEntered", "TaskScheduled", "TaskSucceeded", "StateExited",
                     "StateEntered", "StateExited", "ExecutionSucceeded"]
    assert seen == res.events
    assert [e["id"] for e in res.events] == list(range(1, 9))
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e["time"]) for e in res.events)
    assert res.name == "n1" and res.to_dict()["status"] == "Succeeded"


def test_max_steps_guard_stops_runaway_loops():
    d = flow({"Type": "Pass", "Name": "A", "Next": "C"},
             {"Type": "Choice", "Name": "C", "Branches": [{"Condition": "$Input.go == 1", "Next": "A"}],
              "Default": "E"},
             {"Type": "Succeed", "Name": "E"})
    res = run(d, {"go": 1}, max_steps=50)
    assert res.status == "Failed" and res.error["Code"] == "FnF.MaxStepsExceeded"


def test_cancel_stops_execution():
    ev = threading.Event()
    d = flow({"Type": "Wait", "Name": "W", "Seconds": 1, "Next": "P"}, {"Type": "Pass", "Name": "P", "End": True})
    res = FlowRunner(d, Fake(), sleep=lambda s: ev.set()).run({}, cancel=ev)
    assert res.status == "Stopped" and res.error["Code"] == "FnF.ExecutionStopped"


def test_unhandled_handler_exception_name_and_default_invoker_missing_function():
    res = run_flow(flow(task("T", fn="no-such-fn")), {}, sleep=lambda s: None)
    assert res.status == "Failed" and res.error["Code"] == "FC.FunctionNotFound"


# --------------------------------------------------------------------------------------
# expressions
def test_expression_functions_and_paths():
    env = {"Input": {"a": {"b": [10, {"c": "x"}]}, "s": '{"k": 1}', "list": [1, 1, 2]}, "Context": {}}
    assert eval_expr("$Input.a.b[0]", env) == 10
    assert eval_expr('$Input.a.b[1]["c"]', env) == "x"
    assert eval_expr("stringToJson($Input.s)", env) == {"k": 1}
    assert eval_expr("jsonToString($Input.a.b[0])", env) == "10"
    assert eval_expr("length($Input.list)", env) == 3
    assert eval_expr("arrayUnique($Input.list)", env) == [1, 2]
    assert eval_expr("arrayContains($Input.list, 2)", env) is True
    assert eval_expr('format("{}-{}", $Input.a.b[1].c, 5)', env) == "x-5"
    assert eval_expr("[1, -2.5, true, null]", env) == [1, -2.5, True, None]
    with pytest.raises(ExpressionError, match=r"\$Input.a.zz does not exist"):
        eval_expr("$Input.a.zz", env)
    with pytest.raises(ExpressionError, match="only inside an OutputConstructor"):
        eval_expr("$Output.x", env)
    assert eval_condition('$Input.a.zz == null', env) is True
    for bad in ["$Input ==", "foo", "$Foo.x", "nosuch(1)", '"unterminated', "1 < 2 < 3", "$Input.a ="]:
        with pytest.raises(ExpressionError):
            parse(bad)


# --------------------------------------------------------------------------------------
# static checks
def problems_of(defn) -> list[str]:
    with pytest.raises(DefinitionError) as ei:
        load_definition(defn)
    return ei.value.problems


def one(problems: list[str], pattern: str) -> None:
    assert any(re.search(pattern, p) for p in problems), f"{pattern!r} not in {problems}"


def test_static_checks_report_every_problem_naming_the_state():
    d = flow({"Type": "Pass", "Name": "A", "Next": "Missing"},
             {"Type": "Bogus", "Name": "B", "End": True},
             {"Type": "Pass", "Name": "Orphan", "End": True},
             {"Type": "Choice", "Name": "C", "Branches": [{"Condition": "$Input.x ==", "Next": "A"}]},
             {"Type": "Fail", "Name": "F", "Code": "x"},
             {"Type": "Pass", "Name": "NoEnd"},
             {"Type": "Pass", "Name": "Typo", "Nxt": "A", "End": True},
             {"Type": "Succeed", "Name": "S", "Next": "A"})
    ps = problems_of(d)
    one(ps, r"state 'A': Next 'Missing' is not a state")
    one(ps, r"state 'B': unknown Type 'Bogus'")
    one(ps, r"state 'Orphan': unreachable")
    one(ps, r"state 'C': Default is missing")
    one(ps, r"state 'C': Branches\[0\]\.Condition: expected|state 'C': Branches\[0\]\.Condition: unexpected")
    one(ps, r"state 'F': Detail is missing")
    one(ps, r"state 'NoEnd': missing Next or End")
    one(ps, r"state 'Typo': unknown field 'Nxt'")
    one(ps, r"state 'S': unknown field 'Next' for a Succeed state \(Succeed is terminal")
    assert len(ps) >= 9


def test_static_checks_header_and_terminal_and_loops():
    ps = problems_of({"Type": "Flow", "SpecVersion": "v2", "Name": "1bad", "StartAt": "X", "States": [
        {"Type": "Pass", "Name": "A", "Next": "B"}, {"Type": "Pass", "Name": "B", "Next": "A"}], "Extra": 1})
    one(ps, r"Type must be 'StateMachine'")
    one(ps, r"SpecVersion must be 'v1'")
    one(ps, r"Name must be a flow name")
    one(ps, r"StartAt 'X' is not a state")
    one(ps, r"unknown field 'Extra'")
    ps = problems_of(flow({"Type": "Pass", "Name": "A", "Next": "B"}, {"Type": "Pass", "Name": "B", "Next": "A"}))
    one(ps, r"no terminal state")
    ps = problems_of(flow({"Type": "Pass", "Name": "A", "Next": "B"}, {"Type": "Pass", "Name": "B", "Next": "A"},
                          {"Type": "Succeed", "Name": "S"}))
    one(ps, r"state 'A': can never reach a terminal state")
    one(ps, r"state 'S': unreachable")
    with pytest.raises(DefinitionError, match="legacy FDL"):
        load_definition({"version": "v1beta1", "type": "flow", "steps": []})
    one(problems_of({**flow({"Type": "Pass", "Name": "P", "End": True}), "States": []}),
        r"States must be a non-empty list")
    with pytest.raises(DefinitionError, match="must equal the flow name"):
        load_definition(flow({"Type": "Pass", "Name": "P", "End": True}), flow_name="other")


def test_retry_and_catch_rules_need_a_description():
    """ "Description string Yes A label for this retry rule" (the FDL's error-handling table)."""
    ps = problems_of(flow(task("T", Retry=[{"Errors": ["FnF.ALL"], "IntervalSeconds": 1, "MaxAttempts": 1,
                                            "Description": None}],
                               Catch=[{"Errors": ["FnF.ALL"], "Next": "H", "Description": None}], Next="H"),
                          {"Type": "Pass", "Name": "H", "End": True}))
    one(ps, r"state 'T': Retry\[0\].Description is missing: .*serverless-workflow/latest/error-handling")
    one(ps, r"state 'T': Catch\[0\].Description is missing")


def test_static_checks_retry_catch_task_wait_map_parallel():
    d = flow(task("T", Next="W", Action="ECS:DescribeInstances", TaskMode="WaitForCustomCallback", Timeout="x",
                  Parameters={"resourceArn": "arn:bad", "invocationType": "Async", "bogus": 1,
                              "body.$": "$Output.x"},
                  Retry=[{"Errors": [], "IntervalSeconds": -1, "BackoffRate": 0.5, "MaxBackoffSeconds": 0,
                          "Multiplier": 2}],
                  Catch=[{"Errors": ["FnF.ALL"]}, {"Errors": ["FnF.ALL"], "Next": "Nowhere", "Goto": "x"}]),
             {"Type": "Wait", "Name": "W", "Seconds": 301, "Next": "M"},
             {"Type": "Map", "Name": "M", "MaxConcurrency": 99, "Next": "Par",
              "Processor": {"StartAt": "I", "States": [{"Type": "Pass", "Name": "I", "Next": "Gone"}]}},
             {"Type": "Parallel", "Name": "Par", "End": True,
              "Branches": [{"StartAt": "Q", "States": [{"Type": "Pass", "Name": "Q"}]}]})
    ps = problems_of(d)
    for pat in [r"state 'T': Action 'ECS:DescribeInstances' is not supported",
                r"state 'T': TaskMode 'WaitForCustomCallback' is not supported",
                r"state 'T': Timeout must be",
                r"state 'T': Parameters.resourceArn 'arn:bad' is not an FC 3.0 function ARN",
                r"state 'T': Parameters.invocationType must be 'Sync'",
                r"state 'T': unknown FC:InvokeFunction parameter 'bogus'",
                r"Retry\[0\].Errors must be a non-empty list",
                r"Retry\[0\].IntervalSeconds must be",
                r"Retry\[0\].MaxAttempts is missing",
                r"Retry\[0\].BackoffRate must be",
                r"Retry\[0\].MaxBackoffSeconds must be",
                r"Retry\[0\]: unknown field 'Multiplier'",
                r"Catch\[0\].Next is missing",
                r"Catch\[1\]: unknown field 'Goto'",
                r"state 'T': Catch\[1\].Next 'Nowhere' is not a state",
                r"state 'W': Seconds must be an integer 1-300",
                r"state 'M': ItemsPath is missing",
                r"state 'M': MaxConcurrency must be",
                r"state 'M/Processor/I': Next 'Gone' is not a state",
                r"state 'Par/Branch0/Q': missing Next or End",
                r"\$Output is only allowed inside an OutputConstructor"]:
        one(ps, pat)

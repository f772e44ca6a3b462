"""CloudFlow (``fnf`` 2019-03-15, RPC): flows and Standard executions (reference §1.15).

Flows: CreateFlow, UpdateFlow, DescribeFlow, DeleteFlow, ListFlows — the definition is checked
by ``localcloud.flow.load_definition`` (current spec only; its top-level ``Name`` must equal the
flow name); problems answer ``InvalidArgument`` listing each one.
Executions: StartExecution (runs in the background service ``localruntime/flowservice.py``; same
name still running → that execution; same name finished → ``ExecutionAlreadyExists``),
DescribeExecution, GetExecutionHistory, ListExecutions, StopExecution.

Local choices where the real service is not documented:
- a ``Failed``/``Stopped`` execution's ``Output`` is ``{"Code": …, "Detail": …}`` (the error);
- history event types are the runner's (``StateEntered``/``StateExited`` are answered as
  ``StepEntered``/``StepExited``); ``EventDetail`` is the event's detail as a JSON string;
  ``ScheduleEventId`` is the id of the ``StepEntered`` event of the same state;
- ``DescribeExecution.WaitTimeSeconds`` is accepted but not honoured (returns at once): a long
  poll would hold the store transaction the server wraps around every action;
- ``StartSyncExecution`` (Express) is not emulated.
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any

from alibabacloud_fnf20190315 import models as m

from .. import errors
from ..flow.definition import DefinitionError, load_definition
from ..flow.runner import DATA_LIMIT_BYTES, data_size, iso
from ..protocol import Params
from ..registry import Ctx, action, shape

# Store kinds (the runtime's executor, localruntime/flowservice.py, keeps executions under the same kind).
KIND_FLOW = "fnf.flow"
KIND_EXECUTION = "fnf.execution"

V = "2019-03-15"
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")
STATUSES = ("Starting", "Running", "Stopped", "Succeeded", "Failed", "TimedOut")
_WIRE_TYPES = {"StateEntered": "StepEntered", "StateExited": "StepExited"}


# --- errors ------------------------------------------------------------------------------
class FlowAlreadyExists(errors.ApiError):
    code = "FlowAlreadyExists"
    status = 409


class FlowNotExists(errors.ApiError):
    code = "FlowNotExists"
    status = 404


class ExecutionAlreadyExists(errors.ApiError):
    code = "ExecutionAlreadyExists"
    status = 409


class ExecutionNotExists(errors.ApiError):
    code = "ExecutionNotExists"
    status = 404


class InvalidArgument(errors.ApiError):
    code = "InvalidArgument"
    status = 400


# --- helpers -----------------------------------------------------------------------------
def _name(p: Params, key: str, required: bool = True, check: bool = True) -> str | None:
    """A flow / execution name; ``check=False`` for look-ups (generated execution names are
    UUIDs, which may start with a digit)."""
    v = p.str(key, required=required, max_len=128)
    if check and v is not None and not NAME_RE.match(v):
        raise InvalidArgument(f"{key} {v!r} is invalid: 1-128 letters, digits, '_' or '-', "
                              "starting with a letter or '_'.")
    return v


def _check_definition(text: str, flow_name: str):
    try:
        return load_definition(text, flow_name=flow_name)
    except DefinitionError as exc:
        raise InvalidArgument("The flow definition is invalid: " + "; ".join(exc.problems)) from None


def _flow(ctx: Ctx, name: str) -> dict[str, Any]:
    doc = ctx.store.get(KIND_FLOW, name)
    if doc is None:
        raise FlowNotExists(f"Flow {name} does not exist.")
    return doc


def _service(ctx: Ctx):
    svc = ctx.cloud.runtime.get("fnf_service")
    if svc is None:
        raise errors.ServiceUnavailable("The local CloudFlow executor is not running "
                                        "(add 'fnf' to the local cloud's Settings.services).")
    return svc


def _environment(p: Params) -> dict[str, Any] | None:
    if not p.has("Environment"):
        return None
    env = p.obj("Environment")
    return env


def _flow_body(doc: dict[str, Any]) -> dict[str, Any]:
    body = {k: doc.get(k) for k in ("Name", "Id", "Definition", "Description", "Type", "RoleArn",
                                    "ExecutionMode", "CreatedTime", "LastModifiedTime", "ResourceGroupId")}
    if doc.get("Environment"):
        body["Environment"] = doc["Environment"]
    return {k: v for k, v in body.items() if v is not None}


def _execution_body(doc: dict[str, Any], metadata_only: bool = False) -> dict[str, Any]:
    body = {"FlowName": doc["FlowName"], "Name": doc["Name"], "Status": doc["Status"],
            "StartedTime": doc.get("StartedTime") or "", "StoppedTime": doc.get("StoppedTime") or ""}
    if not metadata_only:
        body.update({"Input": doc.get("Input") or "", "Output": doc.get("Output") or "",
                     "FlowDefinition": doc.get("FlowDefinition") or ""})
    return body


def _execution(ctx: Ctx, flow: str, name: str) -> dict[str, Any]:
    svc = ctx.cloud.runtime.get("fnf_service")
    doc = svc.get(flow, name) if svc is not None else ctx.store.get(KIND_EXECUTION, f"{flow}/{name}")
    if doc is None:
        raise ExecutionNotExists(f"Execution {name} of flow {flow} does not exist.")
    return doc


# --- flows -------------------------------------------------------------------------------
@action("fnf", V, "CreateFlow", write=True)
def create_flow(ctx: Ctx, p: Params) -> dict:
    name = _name(p, "Name")
    definition = p.str("Definition", required=True)
    description = p.str("Description", required=True)
    typ = p.str("Type", required=True, enum=("FDL",))
    mode = p.str("ExecutionMode", default="Standard", enum=("Standard", "Express"))
    if ctx.store.get(KIND_FLOW, name) is not None:
        raise FlowAlreadyExists(f"Flow {name} already exists.")
    _check_definition(definition, name)
    now = iso(ctx.clock.now())
    doc = {"Name": name, "Id": str(uuid.uuid4()), "Definition": definition, "Description": description,
           "Type": typ, "RoleArn": p.str("RoleArn", default=""), "ExecutionMode": mode,
           "ResourceGroupId": p.str("ResourceGroupId", default=""),
           "ExternalStorageLocation": p.str("ExternalStorageLocation", default=""),
           "CreatedTime": now, "LastModifiedTime": now}
    env = _environment(p)
    if env:
        doc["Environment"] = env
    ctx.store.put(KIND_FLOW, name, doc)
    return shape(m.CreateFlowResponseBody, _flow_body(doc))


@action("fnf", V, "UpdateFlow", write=True)
def update_flow(ctx: Ctx, p: Params) -> dict:
    name = _name(p, "Name")
    doc = _flow(ctx, name)
    if p.has("Type"):
        p.str("Type", enum=("FDL",))
    if p.has("Definition"):
        definition = p.str("Definition")
        _check_definition(definition, name)
        doc["Definition"] = definition
    for key in ("Description", "RoleArn"):
        if p.has(key):
            doc[key] = p.str(key)
    env = _environment(p)
    if env is not None:
        doc["Environment"] = env
    doc["LastModifiedTime"] = iso(ctx.clock.now())
    ctx.store.put(KIND_FLOW, name, doc)
    return shape(m.UpdateFlowResponseBody, _flow_body(doc))


@action("fnf", V, "DescribeFlow")
def describe_flow(ctx: Ctx, p: Params) -> dict:
    return shape(m.DescribeFlowResponseBody, _flow_body(_flow(ctx, _name(p, "Name"))))


@action("fnf", V, "DeleteFlow", write=True)
def delete_flow(ctx: Ctx, p: Params) -> dict:
    name = _name(p, "Name")
    _flow(ctx, name)
    ctx.store.delete(KIND_FLOW, name)
    return {}


@action("fnf", V, "ListFlows")
def list_flows(ctx: Ctx, p: Params) -> dict:
    limit = p.int("Limit", default=60, min=1, max=1000)
    token = p.str("NextToken")
    flows = ctx.store.list(KIND_FLOW)
    start = 0
    if token:
        names = [f["Name"] for f in flows]
        if token not in names:
            raise InvalidArgument(f"NextToken {token!r} is invalid.")
        start = names.index(token)
    page = flows[start:start + limit]
    body: dict[str, Any] = {"Flows": [_flow_body(f) for f in page]}
    if start + limit < len(flows):
        body["NextToken"] = flows[start + limit]["Name"]
    return shape(m.ListFlowsResponseBody, body)


# --- executions --------------------------------------------------------------------------
@action("fnf", V, "StartExecution", write=True)
def start_execution(ctx: Ctx, p: Params) -> dict:
    flow_name = _name(p, "FlowName")
    exec_name = _name(p, "ExecutionName", required=False)
    p.str("Qualifier")
    input_text = p.str("Input", default="") or ""
    flow = _flow(ctx, flow_name)
    if flow.get("ExecutionMode") == "Express":
        raise InvalidArgument(f"Flow {flow_name} is an Express flow; StartExecution supports Standard flows only.")
    svc = _service(ctx)
    if exec_name:
        existing = svc.get(flow_name, exec_name)
        if existing is not None:
            if existing["Status"] in ("Running", "Starting"):
                return shape(m.StartExecutionResponseBody, _execution_body(existing))
            raise ExecutionAlreadyExists(f"Execution {exec_name} of flow {flow_name} already exists.")
    else:
        exec_name = str(uuid.uuid4())
    input_obj: Any = {}
    if input_text:
        try:
            input_obj = json.loads(input_text)
        except ValueError:
            raise InvalidArgument("Input must be a JSON object.") from None
        if not isinstance(input_obj, dict):
            raise InvalidArgument("Input must be a JSON object.")
        if data_size(input_obj) > DATA_LIMIT_BYTES:
            raise InvalidArgument(f"Input is over the {DATA_LIMIT_BYTES // 1024} KiB limit.")
    definition = _check_definition(flow["Definition"], flow_name)
    doc = svc.start_execution(definition, flow, exec_name, input_text, input_obj)
    return shape(m.StartExecutionResponseBody, _execution_body(doc))


@action("fnf", V, "DescribeExecution")
def describe_execution(ctx: Ctx, p: Params) -> dict:
    flow_name = _name(p, "FlowName")
    exec_name = _name(p, "ExecutionName", check=False)
    p.int("WaitTimeSeconds", default=0, min=0, max=60)
    return shape(m.DescribeExecutionResponseBody, _execution_body(_execution(ctx, flow_name, exec_name)))


@action("fnf", V, "StopExecution", write=True)
def stop_execution(ctx: Ctx, p: Params) -> dict:
    flow_name = _name(p, "FlowName")
    exec_name = _name(p, "ExecutionName", check=False)
    code = p.str("Error", default="", max_len=128)
    cause = p.str("Cause", default="", max_len=4096)
    doc = _execution(ctx, flow_name, exec_name)
    if doc["Status"] not in ("Running", "Starting"):
        raise InvalidArgument(f"Execution {exec_name} is not running (status {doc['Status']}).")
    stopped = _service(ctx).stop_execution(flow_name, exec_name, code, cause) or doc
    return shape(m.StopExecutionResponseBody, _execution_body(stopped))


def wire_events(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Runner events → GetExecutionHistory ``Events`` items."""
    entered: dict[str, int] = {}
    out = []
    for ev in events:
        if ev["type"] == "StateEntered":
            entered[ev["state"]] = ev["id"]
        out.append({"EventId": ev["id"], "ScheduleEventId": entered.get(ev["state"], 0) if ev["state"] else 0,
                    "StepName": ev["state"], "Type": _WIRE_TYPES.get(ev["type"], ev["type"]),
                    "Time": ev["time"], "EventDetail": json.dumps(ev["detail"], ensure_ascii=False)})
    return out


@action("fnf", V, "GetExecutionHistory")
def get_execution_history(ctx: Ctx, p: Params) -> dict:
    flow_name = _name(p, "FlowName")
    exec_name = _name(p, "ExecutionName", check=False)
    limit = p.int("Limit", default=60, min=1, max=999)
    token = p.str("NextToken")
    start = 0
    if token:
        if not token.isdigit():
            raise InvalidArgument(f"NextToken {token!r} is invalid.")
        start = int(token)
    events = wire_events(_execution(ctx, flow_name, exec_name).get("events") or [])
    page = events[start:start + limit]
    body: dict[str, Any] = {"Events": page}
    if start + limit < len(events):
        body["NextToken"] = str(start + limit)
    return shape(m.GetExecutionHistoryResponseBody, body)


def _parse_time(p: Params, key: str) -> datetime | None:
    v = p.str(key)
    if not v:
        return None
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"{key} must be an RFC3339 UTC time.") from None


@action("fnf", V, "ListExecutions")
def list_executions(ctx: Ctx, p: Params) -> dict:
    flow_name = _name(p, "FlowName")
    _flow(ctx, flow_name)
    limit = p.int("Limit", default=60, min=1, max=99)
    token = p.str("NextToken")
    status = p.str("Status", enum=STATUSES)
    prefix = p.str("ExecutionNamePrefix", default="")
    metadata_only = p.bool("MetadataOnly", default=False)
    begin, end = _parse_time(p, "StartedTimeBegin"), _parse_time(p, "StartedTimeEnd")
    svc = ctx.cloud.runtime.get("fnf_service")
    docs = svc.list(flow_name) if svc is not None else ctx.store.list(KIND_EXECUTION, key2=flow_name)

    def keep(d: dict[str, Any]) -> bool:
        if status and d["Status"] != status:
            return False
        if prefix and not d["Name"].startswith(prefix):
            return False
        if begin or end:
            t = datetime.fromisoformat(d["StartedTime"].replace("Z", "+00:00"))
            if (begin and t < begin) or (end and t > end):
                return False
        return True

    docs = [d for d in docs if keep(d)]
    start = 0
    if token:
        names = [d["Name"] for d in docs]
        if token not in names:
            raise InvalidArgument(f"NextToken {token!r} is invalid.")
        start = names.index(token)
    page = docs[start:start + limit]
    body: dict[str, Any] = {"Executions": [_execution_body(d, metadata_only) for d in page]}
    if start + limit < len(docs):
        body["NextToken"] = docs[start + limit]["Name"]
    return shape(m.ListExecutionsResponseBody, body)

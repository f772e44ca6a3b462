"""The CloudFlow (fnf 2019-03-15) actions: parameters → ``models`` → SDK-shaped bodies."""
from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from alibabacloud_fnf20190315 import models as m

from ...registry import Ctx, action, shape
from . import models
from .exceptions import InvalidArgument
from .models import STATUSES, execution_body, flow_body
from .models import VERSION as V

if TYPE_CHECKING:
    from ...protocol import Params

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,127}$")


def _opt_name(p: Params, key: str, required: bool = False, check: bool = True) -> str | None:
    """A flow / execution name; ``check=False`` for look-ups (generated execution names are
    UUIDs, which may start with a digit)."""
    v = p.str(key, required=required, max_len=128)
    if check and v is not None and not NAME_RE.match(v):
        raise InvalidArgument(f"{key} {v!r} is invalid: 1-128 letters, digits, '_' or '-', "
                              "starting with a letter or '_'.")
    return v


def _name(p: Params, key: str, check: bool = True) -> str:
    """A required name (:func:`_opt_name`; ``MissingParameter`` when absent)."""
    v = _opt_name(p, key, required=True, check=check)
    assert v is not None  # required=True raised otherwise
    return v


def _environment(p: Params) -> dict[str, Any] | None:
    return p.obj("Environment") if p.has("Environment") else None


def _parse_time(p: Params, key: str) -> datetime | None:
    v = p.str(key)
    if not v:
        return None
    try:
        return datetime.fromisoformat(v.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArgument(f"{key} must be an RFC3339 UTC time.") from None


# --- flows -------------------------------------------------------------------------------
@action("fnf", V, "CreateFlow", write=True)
def create_flow(ctx: Ctx, p: Params) -> dict:
    name = _name(p, "Name")
    definition = p.str("Definition", required=True)
    description = p.str("Description", required=True)
    typ = p.str("Type", required=True, enum=("FDL",))
    mode = p.str("ExecutionMode", default="Standard", enum=("Standard", "Express"))
    doc = models.create_flow(ctx.cloud, name, definition, description, typ, mode,
                             role_arn=p.str("RoleArn", default=""),
                             resource_group_id=p.str("ResourceGroupId", default=""),
                             external_storage_location=p.str("ExternalStorageLocation", default=""),
                             environment=_environment(p))
    return shape(m.CreateFlowResponseBody, flow_body(doc))


@action("fnf", V, "UpdateFlow", write=True)
def update_flow(ctx: Ctx, p: Params) -> dict:
    name = _name(p, "Name")
    doc = models.flow(ctx.cloud, name)
    if p.has("Type"):
        p.str("Type", enum=("FDL",))
    if p.has("Definition"):
        definition = p.str("Definition")
        models.check_definition(definition, name)
        doc["Definition"] = definition
    for key in ("Description", "RoleArn"):
        if p.has(key):
            doc[key] = p.str(key)
    env = _environment(p)
    if env is not None:
        doc["Environment"] = env
    return shape(m.UpdateFlowResponseBody, flow_body(models.save_flow(ctx.cloud, doc)))


@action("fnf", V, "DescribeFlow")
def describe_flow(ctx: Ctx, p: Params) -> dict:
    return shape(m.DescribeFlowResponseBody, flow_body(models.flow(ctx.cloud, _name(p, "Name"))))


@action("fnf", V, "DeleteFlow", write=True)
def delete_flow(ctx: Ctx, p: Params) -> dict:
    models.delete_flow(ctx.cloud, _name(p, "Name"))
    return {}


@action("fnf", V, "ListFlows")
def list_flows(ctx: Ctx, p: Params) -> dict:
    limit = p.int("Limit", default=60, min=1, max=1000)
    token = p.str("NextToken")
    flows = ctx.store.list(models.KIND_FLOW)
    start = 0
    if token:
        names = [f["Name"] for f in flows]
        if token not in names:
            raise InvalidArgument(f"NextToken {token!r} is invalid.")
        start = names.index(token)
    page = flows[start:start + limit]
    body: dict[str, Any] = {"Flows": [flow_body(f) for f in page]}
    if start + limit < len(flows):
        body["NextToken"] = flows[start + limit]["Name"]
    return shape(m.ListFlowsResponseBody, body)


# --- executions --------------------------------------------------------------------------
@action("fnf", V, "StartExecution", write=True)
def start_execution(ctx: Ctx, p: Params) -> dict:
    flow_name = _name(p, "FlowName")
    exec_name = _opt_name(p, "ExecutionName")
    p.str("Qualifier")
    input_text = p.str("Input", default="") or ""
    doc = models.start_execution(ctx.cloud, flow_name, exec_name, input_text)
    return shape(m.StartExecutionResponseBody, execution_body(doc))


@action("fnf", V, "DescribeExecution")
def describe_execution(ctx: Ctx, p: Params) -> dict:
    flow_name = _name(p, "FlowName")
    exec_name = _name(p, "ExecutionName", check=False)
    p.int("WaitTimeSeconds", default=0, min=0, max=60)
    return shape(m.DescribeExecutionResponseBody, execution_body(models.execution(ctx.cloud, flow_name, exec_name)))


@action("fnf", V, "StopExecution", write=True)
def stop_execution(ctx: Ctx, p: Params) -> dict:
    flow_name = _name(p, "FlowName")
    exec_name = _name(p, "ExecutionName", check=False)
    code = p.str("Error", default="", max_len=128)
    cause = p.str("Cause", default="", max_len=4096)
    stopped = models.stop_execution(ctx.cloud, flow_name, exec_name, code, cause)
    return shape(m.StopExecutionResponseBody, execution_body(stopped))


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
    events = models.wire_events(models.execution(ctx.cloud, flow_name, exec_name).get("events") or [])
    page = events[start:start + limit]
    body: dict[str, Any] = {"Events": page}
    if start + limit < len(events):
        body["NextToken"] = str(start + limit)
    return shape(m.GetExecutionHistoryResponseBody, body)


@action("fnf", V, "ListExecutions")
def list_executions(ctx: Ctx, p: Params) -> dict:
    flow_name = _name(p, "FlowName")
    models.flow(ctx.cloud, flow_name)
    limit = p.int("Limit", default=60, min=1, max=99)
    token = p.str("NextToken")
    status = p.str("Status", enum=STATUSES)
    prefix = p.str("ExecutionNamePrefix", default="")
    metadata_only = p.bool("MetadataOnly", default=False)
    begin, end = _parse_time(p, "StartedTimeBegin"), _parse_time(p, "StartedTimeEnd")

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

    docs = [d for d in models.executions(ctx.cloud, flow_name) if keep(d)]
    start = 0
    if token:
        names = [d["Name"] for d in docs]
        if token not in names:
            raise InvalidArgument(f"NextToken {token!r} is invalid.")
        start = names.index(token)
    page = docs[start:start + limit]
    body: dict[str, Any] = {"Executions": [execution_body(d, metadata_only) for d in page]}
    if start + limit < len(docs):
        body["NextToken"] = docs[start + limit]["Name"]
    return shape(m.ListExecutionsResponseBody, body)

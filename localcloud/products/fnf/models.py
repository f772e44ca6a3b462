"""CloudFlow flows and executions over the store and the runtime's executor (see the package doc)."""
from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from ... import errors
from ...flow.definition import Definition, DefinitionError, load_definition
from ...flow.runner import DATA_LIMIT_BYTES, data_size, iso
from .exceptions import ExecutionAlreadyExists, ExecutionNotExists, FlowAlreadyExists, FlowNotExists, InvalidArgument

if TYPE_CHECKING:  # pragma: no cover
    from ...emulator import Emulator

VERSION = "2019-03-15"
# Store kinds (the runtime's executor, localruntime/flowservice.py, keeps executions under the same kind).
KIND_FLOW = "fnf.flow"
KIND_EXECUTION = "fnf.execution"
STATUSES = ("Starting", "Running", "Stopped", "Succeeded", "Failed", "TimedOut")
_WIRE_TYPES = {"StateEntered": "StepEntered", "StateExited": "StepExited"}

ASSUMPTIONS: dict[str, str] = {
    "Output of a failed execution": "a Failed/Stopped execution's Output is {\"Code\": …, \"Detail\": …} (the error).",
    "History events": "event types are the runner's (StateEntered/StateExited are answered as StepEntered/StepExited); "
                      "EventDetail is the event's detail as a JSON string; ScheduleEventId is the id of the "
                      "StepEntered event of the same state.",
    "WaitTimeSeconds": "DescribeExecution.WaitTimeSeconds is accepted but not honoured (returns at once): a long poll "
                       "would hold the store transaction the server wraps around every action.",
    "StartSyncExecution": "Express executions (StartSyncExecution) are not emulated.",
}


def check_definition(text: str, flow_name: str) -> Definition:
    try:
        return load_definition(text, flow_name=flow_name)
    except DefinitionError as exc:
        raise InvalidArgument("The flow definition is invalid: " + "; ".join(exc.problems)) from None


def flow(cloud: Emulator, name: str) -> dict[str, Any]:
    doc = cloud.store.get(KIND_FLOW, name)
    if doc is None:
        raise FlowNotExists(f"Flow {name} does not exist.")
    return doc


def executor(cloud: Emulator) -> Any:
    """The runtime's executor (``localruntime/flowservice.py``)."""
    svc = cloud.runtime.get("fnf_service")
    if svc is None:
        raise errors.ServiceUnavailable("The local CloudFlow executor is not running "
                                        "(add 'fnf' to the local cloud's Settings.services).")
    return svc


def execution(cloud: Emulator, flow_name: str, name: str) -> dict[str, Any]:
    svc = cloud.runtime.get("fnf_service")
    doc = svc.get(flow_name, name) if svc is not None else cloud.store.get(KIND_EXECUTION, f"{flow_name}/{name}")
    if doc is None:
        raise ExecutionNotExists(f"Execution {name} of flow {flow_name} does not exist.")
    return doc


def executions(cloud: Emulator, flow_name: str) -> list[dict[str, Any]]:
    svc = cloud.runtime.get("fnf_service")
    return svc.list(flow_name) if svc is not None else cloud.store.list(KIND_EXECUTION, key2=flow_name)


def create_flow(cloud: Emulator, name: str, definition: str, description: str, typ: str, mode: str, *,
                role_arn: str, resource_group_id: str, external_storage_location: str,
                environment: dict[str, Any] | None) -> dict[str, Any]:
    if cloud.store.get(KIND_FLOW, name) is not None:
        raise FlowAlreadyExists(f"Flow {name} already exists.")
    check_definition(definition, name)
    now = iso(cloud.clock.now())
    doc: dict[str, Any] = {"Name": name, "Id": str(uuid.uuid4()), "Definition": definition,
                           "Description": description, "Type": typ, "RoleArn": role_arn, "ExecutionMode": mode,
                           "ResourceGroupId": resource_group_id,
                           "ExternalStorageLocation": external_storage_location, "CreatedTime": now,
                           "LastModifiedTime": now}
    if environment:
        doc["Environment"] = environment
    cloud.store.put(KIND_FLOW, name, doc)
    return doc


def save_flow(cloud: Emulator, doc: dict[str, Any]) -> dict[str, Any]:
    doc["LastModifiedTime"] = iso(cloud.clock.now())
    cloud.store.put(KIND_FLOW, doc["Name"], doc)
    return doc


def delete_flow(cloud: Emulator, name: str) -> None:
    flow(cloud, name)
    cloud.store.delete(KIND_FLOW, name)


def start_execution(cloud: Emulator, flow_name: str, exec_name: str | None, input_text: str) -> dict[str, Any]:
    """Start (or, same name still running, join) an execution; returns its document."""
    doc = flow(cloud, flow_name)
    if doc.get("ExecutionMode") == "Express":
        raise InvalidArgument(f"Flow {flow_name} is an Express flow; StartExecution supports Standard flows only.")
    svc = executor(cloud)
    if exec_name:
        existing = svc.get(flow_name, exec_name)
        if existing is not None:
            if existing["Status"] in ("Running", "Starting"):
                return existing
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
    definition = check_definition(doc["Definition"], flow_name)
    return svc.start_execution(definition, doc, exec_name, input_text, input_obj)


def stop_execution(cloud: Emulator, flow_name: str, exec_name: str, code: str, cause: str) -> dict[str, Any]:
    doc = execution(cloud, flow_name, exec_name)
    if doc["Status"] not in ("Running", "Starting"):
        raise InvalidArgument(f"Execution {exec_name} is not running (status {doc['Status']}).")
    return executor(cloud).stop_execution(flow_name, exec_name, code, cause) or doc


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


def flow_body(doc: dict[str, Any]) -> dict[str, Any]:
    body = {k: doc.get(k) for k in ("Name", "Id", "Definition", "Description", "Type", "RoleArn",
                                    "ExecutionMode", "CreatedTime", "LastModifiedTime", "ResourceGroupId")}
    if doc.get("Environment"):
        body["Environment"] = doc["Environment"]
    return {k: v for k, v in body.items() if v is not None}


def execution_body(doc: dict[str, Any], metadata_only: bool = False) -> dict[str, Any]:
    body = {"FlowName": doc["FlowName"], "Name": doc["Name"], "Status": doc["Status"],
            "StartedTime": doc.get("StartedTime") or "", "StoppedTime": doc.get("StoppedTime") or ""}
    if not metadata_only:
        body.update({"Input": doc.get("Input") or "", "Output": doc.get("Output") or "",
                     "FlowDefinition": doc.get("FlowDefinition") or ""})
    return body

"""Starting and following provision executions through CloudFlow (fnf 2019-03-15).

The one code path used by ``albmtls provision`` and by the ``provision_api`` function, locally
(the local cloud serves the same fnf API) and in the cloud:

* :func:`deploy_flow` — create or update a flow definition when it changed
  (``DescribeFlow`` / ``CreateFlow`` / ``UpdateFlow``); :func:`deploy_flows` — the ones a run needs
  (the provision flow and the issuing lane's, from the repository's ``workflows/``).
* :func:`start_provision` — start an execution named ``<listener key>-<UTC timestamp>`` (or
  derived from an idempotency key); refuses with ``EXECUTION_RUNNING`` while another execution
  for the same listener key is running (``ListExecutions``), so two runs never act on one
  listener at once (``StartExecution``).
* :func:`describe_provision` — status, the step reached, the step results gathered from the
  execution history (ids and secret names only) or the error (``DescribeExecution``,
  ``GetExecutionHistory``). A failed execution's error is the failing step's own code, read from
  the history (:func:`step_failure`): a workflow's Fail states carry only literal codes
  (``STEP_FAILED``, ``FUNCTION_FAULT``, a timeout's code), and a Standard execution's
  ``DescribeExecution`` has no error fields (docs/SERVERLESS.md §1.15).

Nothing here reads or returns key material: step results never contain any.

One module (~540 lines): starting, following and reporting a provisioning run belong together.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.adapters.base import CallPolicy
from shared.adapters.fnf import Fnf
from shared.core.clock import Clock, clock_from_env, parse_iso
from shared.core.errors import AlbMtlsError, Code
from shared.core.wait import Deadline
from shared.policy.ids import execution_name
from shared.policy.lane import ISSUE_FLOW

if TYPE_CHECKING:
    from collections.abc import Iterator

    from shared.core.settings import Settings

PROVISION_FLOW = "albmtls-provision"
REVOKE_FLOW = "albmtls-revoke"
#: the flows that act on one listener: at most one execution per listener key across all of them
LISTENER_FLOWS = (PROVISION_FLOW, REVOKE_FLOW)
#: the largest provision input started: CloudFlow's 64 KiB per execution input and state
#: (docs/SERVERLESS.md §1.13), less room for the lane order's wrapper and the steps' own fields
MAX_INPUT_BYTES = 63 * 1024
#: the flows and their definition files (``workflows/``), as s.yaml deploys them
FLOW_FILES = {PROVISION_FLOW: "provision.yaml", ISSUE_FLOW: "issue.yaml", REVOKE_FLOW: "revoke.yaml"}

# Step (state) names of workflows/provision.yaml and revoke.yaml → result keys.
STEP_KEYS = {
    "Preflight": "preflight",
    "EnsureOwnCa": "ensure_own_ca",
    "RecordDesiredState": "record_desired_state",
    "IssueClientCert": "issue_client_cert",
    "ReconcileClients": "reconcile_clients",
    "EnableMutualAuth": "enable_mutual_auth",
    "CreateCname": "create_cname",
    "HealthCheck": "health_check",
    "Offboard": "offboard",
    "Deliver": "deliver",
}

_NAME_SAFE = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class Started:
    """Outcome of :func:`start_provision`: ``name`` of the execution, ``status`` as CloudFlow
    reports it, ``existing`` when an execution of that name was already there (idempotent retry)."""

    flow: str
    name: str
    status: str
    existing: bool = False


@dataclass
class Progress:
    """What :func:`describe_provision` reports about one execution.

    ``status``: CloudFlow status (``Running``, ``Succeeded``, ``Failed``, ``Stopped``…);
    ``step``: the last step entered; ``steps``: the last result of each step (``STEP_KEYS`` values);
    ``error``: ``{code, message}`` for a failed execution; ``events``: the history events read.
    """

    flow: str
    name: str
    status: str
    started: str | None = None
    stopped: str | None = None
    step: str | None = None
    steps: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status not in ("Starting", "Running")

    def to_dict(self) -> dict[str, Any]:
        return {"flow": self.flow, "name": self.name, "status": self.status, "started": self.started,
                "stopped": self.stopped, "step": self.step, "steps": self.steps, "error": self.error}


def _fnf(settings: Settings, deadline: Deadline | None) -> Fnf:
    """The CloudFlow adapter for ``settings``, its calls bounded by ``deadline`` (default 60 s)."""
    return Fnf(CallPolicy(deadline or Deadline(60)), settings=settings)


# --- flows --------------------------------------------------------------------------------
def deploy_flow(settings: Settings, name: str, definition: str, *, description: str = "alb-mtls",
                role_arn: str | None = None, deadline: Deadline | None = None) -> str:
    """Make flow ``name`` hold ``definition`` (YAML text). Returns ``created``, ``updated`` or
    ``unchanged``. Source: fnf ``DescribeFlow``/``CreateFlow``/``UpdateFlow``.
    Raises ``AlbMtlsError`` (mapped cloud errors; ``INVALID_INPUT`` for a rejected definition)."""
    fnf = _fnf(settings, deadline)
    cur = fnf.describe_flow(name)
    if cur is None:
        try:
            fnf.create_flow(name, definition, description=description, role_arn=role_arn)
            return "created"
        except AlbMtlsError as cexc:
            if cexc.cloud_code != "FlowAlreadyExists":
                raise
        # Our CreateFlow took effect but its response was lost (the retry met the flow), or another
        # deployer created it meanwhile: observe it again and continue — unchanged or updated below.
        cur = fnf.describe_flow(name)
        if cur is not None and (cur.definition or "") == definition:
            return "created"
    if cur is not None and (cur.definition or "") == definition:
        return "unchanged"
    fnf.update_flow(name, definition, description=description, role_arn=role_arn)
    return "updated"


def flow_action(settings: Settings, name: str, definition: str, *, deadline: Deadline | None = None) -> str:
    """What :func:`deploy_flow` would do, read-only: ``create``, ``update`` or ``unchanged``
    (``DescribeFlow``). For a plan shown before the first write."""
    cur = _fnf(settings, deadline).describe_flow(name)
    if cur is None:
        return "create"
    return "unchanged" if (cur.definition or "") == definition else "update"
def deploy_flows(settings: Settings, workflows_dir: Any, names: tuple[str, ...] = tuple(FLOW_FILES), *,
                 deadline: Deadline | None = None) -> dict[str, str]:
    """:func:`deploy_flow` for each of ``names`` from ``workflows_dir`` (a ``pathlib.Path``; the CLI,
    the local API and the tests — a real account gets them from s.yaml). Returns name → outcome."""
    return {n: deploy_flow(settings, n, (workflows_dir / FLOW_FILES[n]).read_text(), deadline=deadline)
            for n in names}


# --- executions ----------------------------------------------------------------------------
def _running(settings: Settings, flow: str, prefix: str, deadline: Deadline | None) -> Iterator[Any]:
    """The running executions of ``prefix`` (a listener key) in ``flow`` and in the other flows that
    act on a listener (:data:`LISTENER_FLOWS`; one not deployed yet has none)."""
    for f in dict.fromkeys((flow, *LISTENER_FLOWS)) if flow in LISTENER_FLOWS else (flow,):
        try:
            found = list(_fnf(settings, deadline).list_executions(f, status="Running", name_prefix=prefix))
        except AlbMtlsError as exc:
            if f != flow and (exc.is_not_found or "FlowNotExist" in (exc.cloud_code or "")):
                continue
            raise
        for ex in found:
            if ex.status in ("Running", "Starting") and (ex.name or "").startswith(prefix):
                yield ex


def idempotent_name(listener_key: str, key: str) -> str:
    """Execution name for an ``Idempotency-Key``: ``<listener key>-k<24 hex of sha256(key)>``."""
    digest = hashlib.sha256(key.encode("utf-8", "replace")).hexdigest()[:24]
    return f"{_NAME_SAFE.sub('-', listener_key)}-k{digest}"


def start_provision(settings: Settings, inp_json: dict[str, Any], listener_key: str, *,
                    flow: str = PROVISION_FLOW, clock: Clock | None = None,
                    idempotency_key: str | None = None, deadline: Deadline | None = None,
                    request_id: str | None = None) -> Started:
    """Start the provision execution for ``inp_json`` (an already validated provision input), or
    another flow's execution that acts on one listener (``flow``: :data:`LISTENER_FLOWS`).

    Name: ``<listener key>-<UTC yyyymmddThhmmssZ>`` at ``clock`` (default ``clock_from_env``: the
    cloud's time, as every other name and date — the local cloud's when it is moved), or from
    ``idempotency_key`` (a retried request with the same key gets the same execution, running or
    finished); ``request_id`` adds
    ``-r<10 hex of its sha256>``, so two different requests in the same second are two executions
    (a revocation of bob right after alice's is not alice's). Refuses with
    ``EXECUTION_RUNNING`` (naming the running execution) while another execution for the same
    listener key runs. If two starts race past that check, the later one stops itself and is
    refused the same way. Source: fnf ``ListExecutions``, ``StartExecution``,
    ``DescribeExecution``, ``StopExecution``.
    """
    text = json.dumps(inp_json, separators=(",", ":"))
    if len(text.encode()) > MAX_INPUT_BYTES:
        raise AlbMtlsError(Code.INVALID_INPUT, f"the provision input is {len(text.encode()) / 1024:.1f} KiB; CloudFlow "
                           f"takes at most 64 KiB per execution input and state (the run's order in the issuing lane "
                           f"carries it too: at most {MAX_INPUT_BYTES // 1024} KiB here) — split the clients over "
                           "listeners, or shorten common names and SANs", field="clients",
                           details={"bytes": len(text.encode()), "limit": MAX_INPUT_BYTES})
    fnf = _fnf(settings, deadline)
    clock = clock or clock_from_env()      # the one clock: the cloud's time (the local cloud's when moved)
    prefix = f"{_NAME_SAFE.sub('-', listener_key)}-"
    if idempotency_key:
        name = idempotent_name(listener_key, idempotency_key)
        existing = _describe_execution(settings, flow, name, deadline)
        if existing is not None:
            return Started(flow, name, existing.status, existing=True)
    else:
        name = execution_name(listener_key, clock.now())
        if request_id:
            name += "-r" + hashlib.sha256(request_id.encode("utf-8", "replace")).hexdigest()[:10]
    if flow == PROVISION_FLOW:
        # the preflight's CA check is placed first, beside this start's own reads (the running
        # executions, then StartExecution): it works in the issuing lane while they are made, so the
        # preflight finds it done or nearly (a start refused below leaves only a read-only check)
        from concurrent.futures import ThreadPoolExecutor
        check_pool = ThreadPoolExecutor(1, thread_name_prefix="place-check")
        check_pool.submit(_place_check, settings, inp_json, name, deadline)
        check_pool.shutdown(wait=False)
    same_name = False
    for ex in _running(settings, flow, prefix, deadline):
        if ex.name != name or getattr(ex, "flow_name", flow) not in (None, flow):
            raise AlbMtlsError(Code.EXECUTION_RUNNING,
                               f"execution {ex.name} is already running for listener {listener_key}; wait for it "
                               f"to finish (albmtls status, or GET /provisions/{ex.name}) and run again",
                               details={"execution": ex.name})
        same_name = True
    if same_name and not idempotency_key:
        # the same request again within the same second: the execution is there already
        running = _describe_execution(settings, flow, name, deadline)
        if running is not None and running.status in ("Running", "Starting"):
            if _other_input(getattr(running, "input", None), inp_json):
                raise AlbMtlsError(Code.EXECUTION_RUNNING,
                                   f"execution {name} is already running for listener {listener_key} with another "
                                   "input; wait for it to finish and run again", details={"execution": name})
            return Started(flow, name, running.status, existing=True)
    try:
        body = fnf.start_execution(flow, name, text)
        started = Started(flow, name, body.status or "Running")
        # Same name still running → CloudFlow answers with that execution. With our input it is
        # ours (a retried start whose response was lost); with another input it is another request
        # for this listener that started in the same second: refuse, never follow someone else's run.
        if not idempotency_key and _other_input(getattr(body, "input", None), inp_json):
            raise AlbMtlsError(Code.EXECUTION_RUNNING,
                               f"execution {name} is already running for listener {listener_key} with another "
                               "input; wait for it to finish and run again", details={"execution": name})
    except AlbMtlsError as exc:
        if exc.cloud_code != "ExecutionAlreadyExists":
            raise
        done = _describe_execution(settings, flow, name, deadline)
        return Started(flow, name, done.status if done else "Unknown", existing=True)
    # Optimistic concurrency: if another start slipped in, the one CloudFlow started later yields
    # (StartedTime, then the name). Not the later *name*: a start whose check ran before the other's
    # StartExecution landed sees nothing and runs; the other, started after it, must be the one to stop.
    running = list(_running(settings, flow, prefix, deadline))
    mine = next((ex for ex in running if ex.name == name), None)
    my_key = _start_order(getattr(mine, "started_time", None) or getattr(body, "started_time", None), name)
    ahead = sorted((_start_order(getattr(ex, "started_time", None), ex.name), ex.name)
                   for ex in running if ex.name != name)
    if ahead and ahead[0][0] < my_key:
        first = ahead[0][1]
        try:
            fnf.stop_execution(flow, name, error=Code.EXECUTION_RUNNING,
                               cause=f"{first} runs for the same listener")
        except AlbMtlsError:
            pass
        raise AlbMtlsError(Code.EXECUTION_RUNNING,
                           f"execution {first} is already running for listener {listener_key}; wait for it "
                           "to finish and run again", details={"execution": first})
    return started


def _place_check(settings: Settings, inp_json: dict[str, Any], name: str, deadline: Deadline | None) -> None:
    """Place the run's CA check (``<execution>-check``, a check-only order in the issuing lane) beside
    the execution, so it is done or under way when the preflight asks for it (the preflight places
    it itself otherwise: same name, same input; an execution refused meanwhile leaves only a
    read-only check behind). Best effort: a failure here is the preflight's to report."""
    from shared.policy.contracts import ProvisionInput
    from shared.policy.orders import ProvisionOrder, compact
    from shared.policy.validation import decode

    try:
        order = ProvisionOrder(input=decode(ProvisionInput, inp_json), requester=name, check_only=True)
        if order.input.ca_id.is_own:
            return    # an own CA makes no PCA call: the preflight checks it itself, outside the lane
        check = (name[:128 - len("-check")]) + "-check"
        fnf = _fnf(settings, deadline)
        from shared.steps.lane_client import issue_flow
        fnf.start_execution(issue_flow(), check, json.dumps(compact(order), separators=(",", ":")))
    except AlbMtlsError:
        pass          # already placed (ExecutionAlreadyExists), or the lane is not deployed


def _start_order(started_time: str | None, name: str) -> tuple[datetime, str]:
    """Sort key of a running execution: CloudFlow's ``StartedTime`` (unknown or unreadable sorts
    last), then the name."""
    try:
        at = parse_iso(started_time) if started_time else None
    except ValueError:
        at = None
    return (at or datetime.max.replace(tzinfo=UTC), name)


def _other_input(existing: str | None, inp_json: dict[str, Any]) -> bool:
    """True when an execution's ``Input`` text is known and is not ``inp_json``."""
    if not existing:
        return False
    try:
        return bool(json.loads(existing) != json.loads(json.dumps(inp_json)))
    except ValueError:
        return True


def _describe_execution(settings: Settings, flow: str, name: str, deadline: Deadline | None) -> Any | None:
    return _fnf(settings, deadline).describe_execution(flow, name)


def history(settings: Settings, flow: str, name: str, deadline: Deadline | None = None) -> list[dict[str, Any]]:
    """Every history event of an execution, oldest first: ``{id, type, step, time, detail}``.
    Source: fnf ``GetExecutionHistory`` (all pages)."""
    out: list[dict[str, Any]] = []
    for ev in _fnf(settings, deadline).execution_history(flow, name):
        try:
            detail = json.loads(ev.event_detail) if ev.event_detail else {}
        except ValueError:
            detail = {"raw": ev.event_detail}
        out.append({"id": ev.event_id, "type": ev.type, "step": ev.step_name, "time": ev.time, "detail": detail})
    return out


def step_key(step_name: str | None) -> str | None:
    """``Apply/Branch1/EnableMutualAuth`` → ``enable_mutual_auth`` (or ``None``)."""
    if not step_name:
        return None
    return STEP_KEYS.get(step_name.rsplit("/", 1)[-1])


def task_result(event: dict[str, Any]) -> Any:
    """The function result carried by a ``TaskSucceeded`` event (``{"output": {"Body": …}}``)."""
    detail = event.get("detail") or {}
    out = detail.get("output", detail)
    if isinstance(out, dict) and "Body" in out:
        out = out["Body"]
    if isinstance(out, str):
        try:
            out = json.loads(out)
        except ValueError:
            pass
    return out


def summarize(events: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any]]:
    """(last step entered, {step key: last result}) from history events."""
    step = None
    results: dict[str, Any] = {}
    for ev in events:
        key = step_key(ev.get("step"))
        if ev.get("type") in ("StepEntered", "StateEntered") and key:
            step = key
        if ev.get("type") == "TaskSucceeded" and key:
            results[key] = task_result(ev)
    return step, results


#: The workflows' Fail codes that only say *where* a run failed: the step's own code is in the history.
GENERIC_FAIL_CODES = frozenset({"STEP_FAILED", "FUNCTION_FAULT", "EXECUTION_FAILED"})
_OUR_ERROR = re.compile(r"^\[([A-Z][A-Z0-9_]+)\] (.*)$", re.S)


def _event_error(detail: Any) -> tuple[str | None, str]:
    """(name, text) of the error an event's ``EventDetail`` holds. Its layout is not documented
    (docs/SERVERLESS.md §1.15): look for ``error``/``Error`` → ``Code``/``Error`` and
    ``Detail``/``Cause``, at the top level or one level down."""
    if not isinstance(detail, dict):
        return None, ""
    inner = detail.get("error") or detail.get("Error") or detail
    if not isinstance(inner, dict):
        return str(inner), str(detail.get("cause") or detail.get("Cause") or "")
    code = inner.get("Code") or inner.get("code") or inner.get("Error") or inner.get("error")
    text = inner.get("Detail") or inner.get("detail") or inner.get("Cause") or inner.get("cause") or ""
    return (str(code) if code else None), str(text)


def _function_error(name: str | None, text: str) -> tuple[str, str]:
    """A Task's error (the function raised past its retries) as ``(code, message)``: our own code
    when the function raised one of ours (FC's error body ``{errorMessage, errorType}``, whose
    ``errorMessage`` reads ``[CODE] message``), else the CloudFlow error name."""
    message = text
    try:
        body = json.loads(text)
        if isinstance(body, dict) and body.get("errorMessage"):
            message = str(body["errorMessage"])
    except ValueError:
        pass
    m = _OUR_ERROR.match(message.strip())
    if m:
        return m.group(1), m.group(2)
    return name or "FUNCTION_FAULT", message


def step_failure(events: list[dict[str, Any]]) -> dict[str, str] | None:
    """The failing step's own error from the execution history, or ``None``: the last Task whose
    result says ``"status": "failed"`` (its ``{code, message}``), else the last ``TaskFailed`` (a
    function fault past its retries). ``{"code", "message", "step"}``."""
    found: dict[str, str] | None = None
    for ev in events:
        step = (ev.get("step") or "").rsplit("/", 1)[-1]
        if ev.get("type") == "TaskSucceeded":
            res = task_result(ev)
            err = res.get("error") if isinstance(res, dict) and res.get("status") == "failed" else None
            if isinstance(err, dict) and err.get("code"):
                found = {"code": str(err["code"]), "message": str(err.get("message") or ""), "step": step}
        elif ev.get("type") == "TaskFailed" and (found is None or "fault" in found):
            name, text = _event_error(ev.get("detail"))
            code, message = _function_error(name, text)
            found = {"code": code, "message": message, "step": step, "fault": "1"}
    if found is not None:
        found.pop("fault", None)
    return found


def execution_failure(events: list[dict[str, Any]], output: str | None) -> dict[str, str]:
    """The Fail state's ``{code, message}`` that ended an execution: from its ``ExecutionFailed``
    (or ``ExecutionStopped``/``ExecutionTimedOut``) event, else from ``DescribeExecution.Output``."""
    for ev in reversed(events):
        if ev.get("type") in ("ExecutionFailed", "ExecutionStopped", "ExecutionTimedOut"):
            code, text = _event_error(ev.get("detail"))
            if code:
                return {"code": code, "message": text}
    parsed: Any = {}
    try:
        parsed = json.loads(output) if output else {}
    except ValueError:
        parsed = {}
    err: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    code = err.get("Code") or err.get("code") or "EXECUTION_FAILED"
    detail = err.get("Detail") or err.get("detail") or err.get("message") or ""
    return {"code": str(code), "message": str(detail)}


def describe_provision(settings: Settings, name: str, *, flow: str = PROVISION_FLOW,
                       deadline: Deadline | None = None, with_history: bool = True) -> Progress | None:
    """The state of execution ``name`` (``None`` if there is none). Source: fnf
    ``DescribeExecution`` and ``GetExecutionHistory``."""
    body = _describe_execution(settings, flow, name, deadline)
    if body is None:
        return None
    prog = Progress(flow=flow, name=name, status=body.status or "Unknown", started=body.started_time,
                    stopped=body.stopped_time)
    if with_history:
        prog.events = history(settings, flow, name, deadline)
        prog.step, prog.steps = summarize(prog.events)
    if prog.status in ("Failed", "Stopped", "TimedOut"):
        ended = execution_failure(prog.events, body.output)
        own = step_failure(prog.events) if ended["code"] in GENERIC_FAIL_CODES else None
        if own is not None:     # the failing step's own code, and where the workflow stopped
            prog.error = {**own, "execution_code": ended["code"]}
        else:
            prog.error = ended
    return prog


def execution_state(status: str | None) -> str:
    """CloudFlow's execution status in the product's words (the API, ``--json``): ``running``
    (``Starting``/``Running``), ``succeeded``, or ``failed`` (``Failed``/``Stopped``/``TimedOut``)."""
    if status in (None, "", "Starting", "Running"):
        return "running"
    return "succeeded" if status == "Succeeded" else "failed"


#: How many executions of a flow :func:`executions_overview` reads at most (ListExecutions pages).
OVERVIEW_SCAN = 500


def executions_overview(settings: Settings, flows: tuple[str, ...] = (PROVISION_FLOW, ISSUE_FLOW, REVOKE_FLOW), *,
                        recent: int = 5, deadline: Deadline | None = None) -> dict[str, list[dict[str, Any]]]:
    """The executions ``albmtls status`` shows, so that ``EXECUTION_RUNNING`` can be followed:
    ``{"running": [...], "recent": [...]}`` — every running execution of ``flows`` (the issuing
    lane's orders too: what a provisioning run or the rotation waits behind) (oldest first)
    and the ``recent`` latest finished ones (newest first), each ``{flow, name, status
    (running|succeeded|failed), started, stopped}``. A flow not deployed yet has none. Read-only:
    fnf ``ListExecutions`` (at most :data:`OVERVIEW_SCAN` per flow)."""
    from itertools import islice
    running: list[dict[str, Any]] = []
    finished: list[dict[str, Any]] = []
    for flow in flows:
        try:
            items = list(islice(_fnf(settings, deadline).list_executions(flow), OVERVIEW_SCAN))
        except AlbMtlsError as exc:
            if "FlowNotExist" in (exc.cloud_code or "") or exc.is_not_found:
                continue
            raise
        for ex in items:
            row = {"flow": flow, "name": ex.name, "status": execution_state(ex.status),
                   "started": ex.started_time, "stopped": ex.stopped_time}
            (running if row["status"] == "running" else finished).append(row)
    running.sort(key=lambda r: str(r["started"] or ""))
    finished.sort(key=lambda r: str(r["stopped"] or r["started"] or ""), reverse=True)
    return {"running": running, "recent": finished[:recent]}


def result_document(prog: Progress | None) -> dict[str, Any]:
    """What a finished (or running) provision reports, from its step results — ids, fingerprints
    and secret names only: ``{status, listener, client_certificates, dns, health, probe, writes,
    warnings, deliveries, error?}``. ``writes`` sums the mutating calls every step invocation
    reported; ``warnings`` gathers every step's ``warnings`` (the sub-CA's end, clock skew …), each
    once; ``deliveries``: what each holder was sent (``shared.steps.deliver``)."""
    steps = prog.steps if prog else {}
    writes = 0
    warnings: list[dict[str, Any]] = []
    for ev in (prog.events if prog else []):
        if ev.get("type") == "TaskSucceeded":
            res = task_result(ev)
            if isinstance(res, dict):
                writes += int(res.get("writes") or 0)
                for w in res.get("warnings") or []:
                    if isinstance(w, dict) and w.get("message") not in {x.get("message") for x in warnings}:
                        warnings.append(w)
    listener = (steps.get("enable_mutual_auth") or {}).get("listener") or {}
    issue = steps.get("issue_client_cert") or {}
    dns = (steps.get("create_cname") or {}).get("dns") or {}
    hc = steps.get("health_check") or {}
    health = hc.get("health") or {}
    status = execution_state(prog.status if prog is not None else None)
    doc: dict[str, Any] = {
        "status": status,
        "step": prog.step if prog else None,
        "listener": {k: listener.get(k) for k in ("id", "port", "ca_enabled", "ca_certificate_id",
                                                  "security_policy_id", "server_certificate_id",
                                                  "server_group_id")} if listener else None,
        "client_certificates": [
            {k: c.get(k) for k in ("common_name", "identifier", "serial", "not_after", "fingerprint_sha256",
                                   "pfx_secret", "password_secret", "pfx_version", "reused")}
            for c in issue.get("client_certificates", []) if isinstance(c, dict)],
        "dns": ({k: dns.get(k) for k in ("record_id", "rr", "domain", "type", "value", "ttl", "propagated",
                                         "propagation")} if dns else None),
        "health": {"healthy": health.get("healthy"), "backends": health.get("backends", [])} if health else None,
        "probe": hc.get("probe") or None,
        "deliveries": (steps.get("deliver") or {}).get("deliveries") or [],
        "writes": writes,
        "warnings": warnings,
    }
    rc = steps.get("reconcile_clients") or {}
    doc["orphaned"] = [o for o in rc.get("orphaned", []) if isinstance(o, dict)]
    doc["pruned"] = [offboard_summary(o) for o in rc.get("pruned", []) if isinstance(o, dict)]
    from shared.policy.plan import cut_off_by_ca_change
    changed = (((steps.get("preflight") or {}).get("plan") or {}).get("listener") or {}).get("changes") or []
    doc["lose_access"] = list(cut_off_by_ca_change(changed, (str(o.get("common_name")) for o in doc["orphaned"])))
    if prog is not None and prog.error:
        doc["error"] = prog.error
    return doc


def offboard_summary(outcome: dict[str, Any]) -> dict[str, Any]:
    """One holder's revoke/prune/restore outcome (``shared.steps.offboarding.ClientOutcome``) as the
    CLI and the API report it: CN, action, the revocation record's reason/time/requester, the
    certificates revoked, the secrets and when they are deleted, the certificate a restore issued
    and how it reached its holder."""
    rv = outcome.get("revocation") or {}
    out: dict[str, Any] = {"common_name": outcome.get("common_name"), "action": outcome.get("action"),
                           "writes": int(outcome.get("writes") or 0)}
    if rv:
        out.update({k: rv.get(k) for k in ("reason", "reason_code", "revoked_at", "requested_by", "request_id", "via")})
        out["certificates"] = rv.get("certificates") or []
    if outcome.get("revoked"):
        out["revoked"] = outcome["revoked"]
    if outcome.get("secrets"):
        out["secrets"] = outcome["secrets"]
    if outcome.get("refused_by"):
        out["listener_refuses_by"] = outcome["refused_by"]
    cert = outcome.get("certificate")
    if isinstance(cert, dict):
        out["certificate"] = {k: cert.get(k) for k in ("common_name", "identifier", "serial", "not_after",
                                                        "fingerprint_sha256", "pfx_secret", "password_secret",
                                                        "pfx_version", "reused")}
    if isinstance(outcome.get("delivery"), dict):
        out["delivery"] = outcome["delivery"]       # how a restored certificate reached its holder
    return out


def offboard_document(prog: Progress | None) -> dict[str, Any]:
    """What a finished (or running) revoke-flow execution reports: ``{status, listener_key, action,
    clients: [offboard_summary …], writes, refusal_bound_s, error?}`` (ids and names only)."""
    res = (prog.steps if prog else {}).get("offboard") or {}
    status = "running"
    if prog is not None and prog.done:
        status = "succeeded" if prog.status == "Succeeded" else "failed"
    doc: dict[str, Any] = {"status": status, "listener_key": res.get("listener_key"), "action": res.get("mode"),
                           "clients": [offboard_summary(c) for c in res.get("clients", []) if isinstance(c, dict)],
                           "writes": int(res.get("writes") or 0), "refusal_bound_s": res.get("refusal_bound_s")}
    if prog is not None and prog.error:
        doc["error"] = prog.error
    return doc


"""Execute a CloudFlow definition locally (docs/DECISIONS.md §4 "Flow runner").

    from localcloud.flow import load_definition, FlowRunner
    runner = FlowRunner(load_definition(Path("workflows/provision.yaml")),
                        invoker=invoke,      # any invoke(name, payload, info) -> bytes; the local
                                             # FC invoker is localruntime.fc.FunctionInvoker
                        sleep=time.sleep,                    # tests: a fake that records
                        on_event=lambda ev: print(ev["type"], ev["state"]))
    result = runner.run({"domain": "app.example.test"}, name="exec-1")
    result.status        # "Succeeded" | "Failed" | "Stopped"
    result.output        # the last state's output (Succeeded)
    result.error         # {"Code", "Detail"} (Failed/Stopped)
    result.events        # [{id, type, state, time, detail}]

Error names produced by the runner (all matched by ``FnF.ALL`` in Retry/Catch unless *fatal*):

| name | when |
|---|---|
| ``FC.Unknown`` | the invoked function raised (Detail: FC's error body ``{errorMessage, errorType}`` as JSON) |
| ``FC.ResourceThrottled`` … | the invoker reported a Function Compute error (``errors.FcInvokeError``) |
| ``FnF.TaskTimeout`` | a Task ran longer than its ``Timeout`` |
| (every Task name, with its status) | ``localcloud/flow/errors.py`` — none is taken from the exception |
| ``<Fail.Code>`` / ``FnF.Fail`` | *fatal*: a Fail state, at the top level or inside a Parallel branch or Map |
|  | iteration: "all states in the current scope stop running and the flow ends" (definition.FAIL_DOC) |
| ``FnF.InvalidExpression`` | *fatal*: an expression failed (missing path, bad types, bad Seconds/ItemsPath value) |
| ``FnF.DataLimitExceeded`` | *fatal*: a state input or output (or the execution input) is over 64 KiB |
| ``FnF.MaxStepsExceeded`` | *fatal*: more than ``max_steps`` states entered (runaway loop guard) |
| ``FnF.ExecutionStopped`` | *fatal*: the ``cancel`` event was set (StopExecution / shutdown) → status ``Stopped`` |

*Fatal* errors are never retried or caught; they end the execution. Any Fail state ends the
execution as ``Failed`` with its literal ``Code`` (default ``FnF.Fail``) and ``Detail`` — a Catch on
an enclosing Parallel or Map does not see it (whether the real service lets such a Catch catch it is
unconfirmed; the product does not rely on it).
A Catch without an ``OutputConstructor`` passes ``{"Code": …, "Detail": …}`` to its ``Next``.

One module (~520 lines): one interpreter loop over every state type, sharing the data passing,
Retry/Catch and cancellation rules above; split by state type, those rules would be spread over
every file.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from .definition import Definition, Scope, State, function_from_arn, load_definition, map_concurrency
from .errors import FUNCTION_ERROR, FUNCTION_NOT_FOUND, TASK_TIMEOUT, FcInvokeError
from .expressions import ExpressionError, build, eval_condition, eval_expr

log = logging.getLogger("localcloud.flow")

ERR_ALL = "FnF.ALL"
ERR_UNHANDLED = FUNCTION_ERROR.name          # the function raised (errors.py says what is assumed)
ERR_TIMEOUT = TASK_TIMEOUT.name
ERR_FAIL = "FnF.Fail"
ERR_EXPRESSION = "FnF.InvalidExpression"
ERR_DATA_LIMIT = "FnF.DataLimitExceeded"
ERR_MAX_STEPS = "FnF.MaxStepsExceeded"
ERR_STOPPED = "FnF.ExecutionStopped"
ERR_CANCELLED = "FnF.BranchCancelled"      # internal: a sibling branch/iteration failed first

DATA_LIMIT_BYTES = 64 * 1024
DEFAULT_MAX_STEPS = 10_000

Invoker = Callable[[str, bytes, dict], Any]


class FlowError(Exception):
    """An error inside an execution: ``code`` (error name), ``detail``; ``fatal`` skips Retry/Catch."""

    def __init__(self, code: str, detail: str, *, fatal: bool = False) -> None:
        self.code = code
        self.detail = detail
        self.fatal = fatal
        super().__init__(f"{code}: {detail}")

    def as_dict(self) -> dict[str, str]:
        return {"Code": self.code, "Detail": self.detail}


def iso(dt: datetime) -> str:
    """``2024-05-01T12:00:00.123Z``"""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def data_size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def error_matches(names: list[str], code: str) -> bool:
    return ERR_ALL in names or code in names


@dataclass
class ExecutionResult:
    name: str
    flow_name: str
    status: str                     # Succeeded | Failed | Stopped
    input: Any
    output: Any = None
    error: dict[str, str] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    started: str = ""
    stopped: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "flow": self.flow_name, "status": self.status, "input": self.input,
                "output": self.output, "error": self.error, "started": self.started,
                "stopped": self.stopped, "events": self.events}


def encode_result(out: Any) -> bytes:
    """A handler's return value as FC encodes it: bytes as is, str as UTF-8, else JSON."""
    if out is None:
        return b""
    if isinstance(out, (bytes, bytearray)):
        return bytes(out)
    if isinstance(out, str):
        return out.encode("utf-8")
    return json.dumps(out, ensure_ascii=False).encode("utf-8")


def _no_invoker(function_name: str, payload: bytes, info: dict[str, Any]) -> bytes:
    """The runner alone invokes nothing: a Task needs an invoker (``localruntime.fc``)."""
    raise FcInvokeError(FUNCTION_NOT_FOUND, f"function {function_name!r} not found (this runner has no function "
                                            "invoker)")


def decode_result(raw: Any) -> Any:
    """An invocation's result → the ``Body`` value (JSON parsed when it is JSON)."""
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", "replace")
    if isinstance(raw, str):
        if raw == "":
            return ""
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


# --------------------------------------------------------------------------------------
class _Token:
    """Cancellation: an execution-wide event plus one per Parallel/Map group."""

    def __init__(self, parent: _Token | None = None, event: threading.Event | None = None) -> None:
        self.parent = parent
        self.event = event or threading.Event()

    def cancelled(self) -> str | None:
        t: _Token | None = self
        while t is not None:
            if t.event.is_set():
                return ERR_STOPPED if t.parent is None else ERR_CANCELLED
            t = t.parent
        return None


class _Exec:
    def __init__(self, runner: FlowRunner, name: str, input_: Any, cancel: threading.Event,
                 on_event: Callable[[dict], None] | None) -> None:
        self.runner = runner
        self.name = name
        self.input = input_
        self.events: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.steps = 0
        self.root = _Token(None, cancel)
        self.on_event = on_event

    def emit(self, type_: str, state: str, detail: dict[str, Any] | None = None) -> dict[str, Any]:
        with self.lock:
            ev = {"id": len(self.events) + 1, "type": type_, "state": state,
                  "time": iso(self.runner.now()), "detail": detail or {}}
            self.events.append(ev)
            cbs = [cb for cb in (self.runner.on_event, self.on_event) if cb is not None]
            for cb in cbs:
                try:
                    cb(ev)
                except Exception:  # a broken observer must not break the execution
                    log.exception("on_event callback failed")
        return ev

    def step(self, token: _Token) -> None:
        why = token.cancelled()
        if why == ERR_STOPPED:
            raise FlowError(ERR_STOPPED, "the execution was stopped", fatal=True)
        if why:
            raise FlowError(ERR_CANCELLED, "a sibling branch failed", fatal=True)
        with self.lock:
            self.steps += 1
            n = self.steps
        if n > self.runner.max_steps:
            raise FlowError(ERR_MAX_STEPS, f"more than {self.runner.max_steps} states entered; "
                                           "is there a loop without exit?", fatal=True)


_NO = object()


class FlowRunner:
    """Runs executions of one definition (see module doc). Thread-safe; one instance may run many."""

    def __init__(self, definition: Definition | Any, invoker: Invoker | None = None, *,
                 sleep: Callable[[float], Any] | None = None,
                 now: Callable[[], datetime] | None = None,
                 on_event: Callable[[dict], None] | None = None,
                 max_steps: int = DEFAULT_MAX_STEPS, data_limit: int = DATA_LIMIT_BYTES,
                 region: str = "cn-hangzhou", account_id: str = "1000000000000000") -> None:
        self.definition = definition if isinstance(definition, Definition) else load_definition(definition)
        self.invoker = invoker or _no_invoker
        self.sleep = sleep or time.sleep
        self.now = now or (lambda: datetime.now(UTC))
        self.on_event = on_event
        self.max_steps = max_steps
        self.data_limit = data_limit
        self.region = region
        self.account_id = account_id

    # -- public ------------------------------------------------------------------------
    def run(self, input: Any = None, name: str | None = None, *, cancel: threading.Event | None = None,
            on_event: Callable[[dict], None] | None = None) -> ExecutionResult:
        """Run one execution to its end (blocking) and return the result with its history."""
        input_ = {} if input is None else input
        name = name or f"exec-{uuid.uuid4().hex[:16]}"
        ex = _Exec(self, name, input_, cancel or threading.Event(), on_event)
        res = ExecutionResult(name=name, flow_name=self.definition.name, status="Running", input=input_,
                              started=iso(self.now()))
        ex.emit("ExecutionStarted", "", {"input": input_})
        try:
            self._limit(input_, "the execution input")
            res.output = self._run_scope(ex, self.definition.root, input_, "", ex.root)
            res.status = "Succeeded"
            ex.emit("ExecutionSucceeded", "", {"output": res.output})
        except FlowError as e:
            res.error = e.as_dict()
            if e.code == ERR_STOPPED:
                res.status = "Stopped"
                ex.emit("ExecutionStopped", "", {"error": res.error})
            else:
                res.status = "Failed"
                ex.emit("ExecutionFailed", "", {"error": res.error})
        except Exception as e:  # a bug in the runner: fail the execution, keep the process
            log.exception("flow runner crashed")
            res.status = "Failed"
            res.error = {"Code": "FnF.InternalError", "Detail": f"{type(e).__name__}: {e}"}
            ex.emit("ExecutionFailed", "", {"error": res.error})
        res.stopped = iso(self.now())
        res.events = ex.events
        return res

    # -- internals ---------------------------------------------------------------------
    def _limit(self, value: Any, what: str) -> None:
        n = data_size(value)
        if n > self.data_limit:
            raise FlowError(ERR_DATA_LIMIT, f"{what} is {n} bytes, over the {self.data_limit // 1024} KiB limit",
                            fatal=True)

    def _env(self, ex: _Exec, st: State, input_: Any, *, output: Any = _NO,
             error: dict | None = None, retry: int = 0) -> dict[str, Any]:
        current: dict[str, Any] = {"Name": st.name, "Input": input_, "RetryCount": retry}
        env: dict[str, Any] = {"Input": input_}
        if output is not _NO:
            current["Output"] = output
            env["Output"] = output
        if error is not None:
            current["Error"] = error
        env["Context"] = {"Execution": {"Name": ex.name, "Input": ex.input, "RoleArn": ""},
                          "Current": current}
        return env

    @staticmethod
    def _expr(label: str, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except ExpressionError as e:
            raise FlowError(ERR_EXPRESSION, f"state '{label}': {what}: {e}", fatal=True) from None

    def _run_scope(self, ex: _Exec, scope: Scope, input_: Any, prefix: str, token: _Token) -> Any:
        name = scope.start_at
        data = input_
        while True:
            ex.step(token)
            st = scope.states[name]
            data, nxt = self._run_state(ex, st, data, prefix, token)
            if nxt is None:
                return data
            name = nxt

    def _run_state(self, ex: _Exec, st: State, data: Any, prefix: str, token: _Token) -> tuple[Any, str | None]:
        label = prefix + st.name
        spec = st.spec
        self._limit(data, f"the input of state '{label}'")
        ex.emit("StateEntered", label, {"input": data})
        eff = data
        if "InputConstructor" in spec:
            env = self._env(ex, st, data)
            eff = self._expr(label, "InputConstructor", lambda: build(spec["InputConstructor"], env))
            self._limit(eff, f"the constructed input of state '{label}'")
        nxt: str | None = spec.get("Next")
        caught = False
        typ = st.type
        if typ in ("Pass", "Succeed"):
            out = eff
        elif typ == "Choice":
            out = eff
            env = self._env(ex, st, eff)
            nxt = spec["Default"]
            for i, br in enumerate(spec["Branches"]):
                if self._expr(label, f"Branches[{i}].Condition", partial(eval_condition, br["Condition"], env)):
                    nxt = br["Next"]
                    break
        elif typ == "Wait":
            out = eff
            if "Seconds.$" in spec:
                env = self._env(ex, st, eff)
                secs = self._expr(label, "Seconds.$", lambda: eval_expr(spec["Seconds.$"], env))
                if isinstance(secs, str) and secs.strip().isdigit():
                    secs = int(secs)
                if not isinstance(secs, (int, float)) or isinstance(secs, bool) or not 0 <= secs <= 300:
                    raise FlowError(ERR_EXPRESSION, f"state '{label}': Seconds.$ must give a number 0-300, "
                                                    f"got {json.dumps(secs)}", fatal=True)
            else:
                secs = int(spec["Seconds"])
            self._sleep(ex, token, float(secs))
        elif typ == "Fail":
            # literal Code/Detail (definition.py); the flow ends, from any scope (module doc)
            raise FlowError(str(spec.get("Code") or ERR_FAIL), str(spec["Detail"]), fatal=True)
        else:  # Task, Parallel, Map: with Retry / Catch
            body = {"Task": self._task, "Parallel": self._parallel, "Map": self._map}[typ]
            out, catch_next = self._guarded(ex, st, eff, label, token, body)
            if catch_next is not None:
                nxt, caught = catch_next, True
        if not caught and "OutputConstructor" in spec:
            env = self._env(ex, st, eff, output=out)
            out = self._expr(label, "OutputConstructor", lambda: build(spec["OutputConstructor"], env))
        self._limit(out, f"the output of state '{label}'")
        ex.emit("StateExited", label, {"output": out})
        if typ == "Succeed" or (spec.get("End") is True and not caught):
            return out, None
        return out, nxt

    def _sleep(self, ex: _Exec, token: _Token, secs: float) -> None:
        if secs > 0:
            self.sleep(secs)   # cancellation is checked at the next state boundary

    def _guarded(self, ex: _Exec, st: State, eff: Any, label: str, token: _Token,
                 body: Callable[..., Any]) -> tuple[Any, str | None]:
        retries = st.spec.get("Retry") or []
        catches = st.spec.get("Catch") or []
        used = [0] * len(retries)
        retry_count = 0
        while True:
            try:
                return body(ex, st, eff, label, token, retry_count), None
            except FlowError as e:
                if e.fatal:
                    raise
                err = e
            idx = next((i for i, r in enumerate(retries) if error_matches(r["Errors"], err.code)), None)
            if idx is not None and used[idx] < retries[idx]["MaxAttempts"]:
                rule = retries[idx]
                used[idx] += 1
                delay = float(rule["IntervalSeconds"]) * float(rule.get("BackoffRate", 1)) ** (used[idx] - 1)
                if "MaxBackoffSeconds" in rule:
                    delay = min(delay, float(rule["MaxBackoffSeconds"]))
                retry_count += 1
                ex.emit("RetryScheduled", label, {"error": err.as_dict(), "attempt": used[idx],
                                                  "maxAttempts": rule["MaxAttempts"], "delaySeconds": delay})
                self._sleep(ex, token, delay)
                ex.step(token)
                continue
            for c in catches:
                if error_matches(c["Errors"], err.code):
                    out: Any = err.as_dict()
                    if "OutputConstructor" in c:
                        env = self._env(ex, st, eff, error=err.as_dict(), retry=retry_count)
                        out = self._expr(label, "Catch.OutputConstructor", partial(build, c["OutputConstructor"], env))
                    return out, c["Next"]
            raise err

    # -- Task ----------------------------------------------------------------------------
    def _task(self, ex: _Exec, st: State, eff: Any, label: str, token: _Token, retry_count: int) -> Any:
        params = st.spec["Parameters"]
        env = self._env(ex, st, eff, retry=retry_count)
        fn_name, qualifier = function_from_arn(params["resourceArn"]) or ("", "LATEST")
        if "body.$" in params:
            body = self._expr(label, "Parameters.body.$", lambda: eval_expr(params["body.$"], env))
        elif "body" in params:
            body = self._expr(label, "Parameters.body", lambda: build(params["body"], env))
        else:
            body = None
        if body is None:
            payload = b""
        elif isinstance(body, str):
            payload = body.encode("utf-8")
        else:
            payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        timeout = int(st.spec.get("Timeout") or 0)
        request_id = str(uuid.uuid4())
        info = {"request_id": request_id, "function_name": fn_name, "qualifier": qualifier,
                "execution_name": ex.name, "flow_name": self.definition.name, "state": label,
                "timeout": timeout or None, "region": self.region, "account_id": self.account_id,
                "retry_count": retry_count}
        ex.emit("TaskScheduled", label, {"resourceArn": params["resourceArn"], "function": fn_name,
                                         "requestId": request_id, "body": body})
        try:
            raw = self._call(fn_name, payload, info, timeout)
        except FlowError as e:
            ex.emit("TaskFailed", label, {"error": e.as_dict()})
            raise
        except FcInvokeError as exc:       # Function Compute's own error, named as CloudFlow names it
            err = FlowError(exc.error.name, str(exc))
            ex.emit("TaskFailed", label, {"error": err.as_dict()})
            raise err from None
        except Exception as exc:           # the function's code raised: FC's UnhandledInvocationError body
            body = {"errorMessage": str(exc), "errorType": type(exc).__name__}
            err = FlowError(ERR_UNHANDLED, json.dumps(body, ensure_ascii=False))
            ex.emit("TaskFailed", label, {"error": err.as_dict()})
            raise err from None
        out = {"Body": decode_result(raw)}
        ex.emit("TaskSucceeded", label, {"output": out})
        return out

    def _call(self, fn_name: str, payload: bytes, info: dict, timeout: int) -> Any:
        if not timeout:
            return self.invoker(fn_name, payload, info)
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["out"] = self.invoker(fn_name, payload, info)
            except BaseException as exc:  # re-raised in the caller
                box["exc"] = exc

        t = threading.Thread(target=target, name=f"fc-{fn_name}", daemon=True)
        t.start()
        t.join(timeout)
        if t.is_alive():
            raise FlowError(ERR_TIMEOUT, f"function {fn_name!r} did not finish within {timeout} s")
        if "exc" in box:
            raise box["exc"]
        return box.get("out")

    # -- Parallel / Map ------------------------------------------------------------------
    def _fan_out(self, ex: _Exec, token: _Token, jobs: list[tuple[Scope, Any, str]], workers: int) -> list[Any]:
        group = _Token(token)
        results: list[Any] = [None] * len(jobs)
        errors: list[tuple[int, FlowError]] = []
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="flow") as pool:
            def job(sc: Scope, inp: Any, pre: str) -> Any:
                try:
                    return self._run_scope(ex, sc, inp, pre, group)
                except BaseException:
                    group.event.set()     # siblings stop at their next state boundary
                    raise

            futs = {pool.submit(job, sc, inp, pre): i for i, (sc, inp, pre) in enumerate(jobs)}
            pending = set(futs)
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                for f in done:
                    if f.cancelled():
                        continue
                    exc = f.exception()
                    if exc is None:
                        results[futs[f]] = f.result()
                    elif isinstance(exc, FlowError):
                        if exc.code != ERR_CANCELLED:
                            errors.append((futs[f], exc))
                    else:
                        errors.append((futs[f], FlowError("FnF.InternalError", f"{type(exc).__name__}: {exc}",
                                                          fatal=True)))
                if errors:
                    group.event.set()
                    for f in pending:
                        f.cancel()
        if errors:
            # a stop of the whole execution wins, then fatal errors, then the first failure
            errors.sort(key=lambda e: (e[1].code != ERR_STOPPED, not e[1].fatal, e[0]))
            raise errors[0][1]
        if token.cancelled():
            ex.step(token)
        return results

    def _parallel(self, ex: _Exec, st: State, eff: Any, label: str, token: _Token, retry_count: int) -> Any:
        jobs = [(sc, eff, f"{label}/Branch{i}/") for i, sc in enumerate(st.scopes)]
        results = self._fan_out(ex, token, jobs, len(jobs))
        return {f"Branch{i}": r for i, r in enumerate(results)}

    def _map(self, ex: _Exec, st: State, eff: Any, label: str, token: _Token, retry_count: int) -> Any:
        spec = st.spec
        env = self._env(ex, st, eff, retry=retry_count)
        items = self._expr(label, "ItemsPath", lambda: eval_expr(spec["ItemsPath"], env))
        if not isinstance(items, list):
            raise FlowError(ERR_EXPRESSION, f"state '{label}': ItemsPath must give an array, got "
                                            f"{json.dumps(items)[:80]}", fatal=True)
        workers = min(map_concurrency(spec), max(1, len(items)))
        proc = st.scopes[0]
        jobs = [(proc, item, f"{label}/{i}/") for i, item in enumerate(items)]
        return {"Items": self._fan_out(ex, token, jobs, workers) if jobs else []}


def run_flow(definition: Any, input: Any = None, *, invoker: Invoker | None = None,
             sleep: Callable[[float], Any] | None = None, on_event: Callable[[dict], None] | None = None,
             name: str | None = None, **kw: Any) -> ExecutionResult:
    """One-shot helper: load (and check) ``definition`` and run it."""
    return FlowRunner(definition, invoker, sleep=sleep, on_event=on_event, **kw).run(input, name)

"""The background executor behind the ``fnf`` API: runs Standard executions on a thread pool,
keeps the live ones in memory and persists them to the store (kind ``fnf.execution``, id
``<flow>/<execution>``, key2 = flow name).

Started by ``localruntime.cloud.LocalCloud`` (service ``fnf``); ``cloud.runtime["fnf_service"]`` is the instance.
Runtime overrides read at each execution start:
- ``cloud.runtime["flow_invoker"]``: ``invoke(function_name, payload, info) -> bytes`` (default:
  ``localruntime.fc.FunctionInvoker`` importing ``functions.<name>.index``);
- ``cloud.runtime["flow_sleep"]``: ``sleep(seconds)`` for Wait and Retry (default: real time
  times ``settings.flow_sleep_scale``, cut short when the execution is stopped);
- ``cloud.runtime["flow_on_event"]``: an extra ``on_event(flow, execution, event)`` observer.

Restart behaviour: an execution stored as ``Running`` that no thread of this process runs (the
process died or was stopped mid-run) is marked ``Failed`` with error
``FnF.ExecutionInterrupted`` when the service starts; a clean ``stop()`` stops running executions
(at their next state boundary, waiting up to ``STOP_GRACE_S``) and marks the rest the same way.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from localcloud.account import ACCOUNT_ID
from localcloud.flow.runner import ERR_STOPPED, FlowRunner, iso
from localcloud.products.fnf import KIND_EXECUTION

from .fc import FunctionInvoker

if TYPE_CHECKING:  # pragma: no cover
    from localcloud.flow.definition import Definition

    from .cloud import LocalCloud

log = logging.getLogger("localruntime.flowservice")

ERR_INTERRUPTED = "FnF.ExecutionInterrupted"
STOP_GRACE_S = 2.0
RESET_GRACE_S = 30.0    # pause(): how long running executions may take to reach a state boundary
FLUSH_EVERY_S = 0.25


def execution_key(flow: str, name: str) -> str:
    return f"{flow}/{name}"


@dataclass
class _Live:
    key: str
    doc: dict[str, Any]
    cancel: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_flush: float = 0.0
    stop_error: dict[str, str] | None = None
    abandoned: bool = False      # set by pause(): the execution's state is no longer persisted


class FlowService:
    """See module doc."""

    def __init__(self, cloud: LocalCloud, workers: int = 32) -> None:
        self.cloud = cloud
        self.workers = workers
        self.pool: ThreadPoolExecutor | None = None
        self.live: dict[str, _Live] = {}
        self.lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="fnf-exec")
        self._mark_interrupted(self.cloud.store.list(KIND_EXECUTION,
                                                     where=lambda d: d.get("Status") in ("Running", "Starting")))
        self.cloud.runtime["fnf_service"] = self

    def stop(self) -> None:
        if self.cloud.runtime.get("fnf_service") is self:
            del self.cloud.runtime["fnf_service"]
        with self.lock:
            lives = list(self.live.values())
        for lv in lives:
            lv.stop_error = {"Code": ERR_INTERRUPTED,
                             "Detail": "the local cloud stopped while the execution was running"}
            lv.cancel.set()
        deadline = time.monotonic() + STOP_GRACE_S
        for lv in lives:
            lv.done.wait(max(0.0, deadline - time.monotonic()))
        if self.pool:
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool = None
        with self.lock:
            left = [lv for lv in self.live.values() if not lv.done.is_set()]
        self._mark_interrupted([lv.doc for lv in left])

    def pause(self) -> None:
        """Stop every running execution (at its next state boundary, waiting up to
        ``RESET_GRACE_S``) and persist nothing more of them: the store is about to be restored."""
        with self.lock:
            lives = list(self.live.values())
        for lv in lives:
            with lv.lock:
                lv.abandoned = True
                lv.stop_error = {"Code": ERR_INTERRUPTED, "Detail": "the local cloud was reset"}
            lv.cancel.set()
        deadline = time.monotonic() + RESET_GRACE_S
        for lv in lives:
            if not lv.done.wait(max(0.0, deadline - time.monotonic())):
                log.warning("execution %s still running after the reset's grace period", lv.key)
        with self.lock:
            for lv in lives:
                self.live.pop(lv.key, None)

    def resume(self) -> None:
        pass

    def _mark_interrupted(self, docs: list[dict[str, Any]]) -> None:
        now = iso(self.cloud.clock.now())
        for doc in docs:
            doc = dict(doc)
            doc["Status"] = "Failed"
            doc["StoppedTime"] = now
            doc["error"] = {"Code": ERR_INTERRUPTED,
                            "Detail": "the local cloud stopped while the execution was running"}
            doc["Output"] = json.dumps(doc["error"])
            events = list(doc.get("events") or [])
            events.append({"id": len(events) + 1, "type": "ExecutionFailed", "state": "", "time": now,
                           "detail": {"error": doc["error"]}})
            doc["events"] = events
            self.cloud.store.put(KIND_EXECUTION, execution_key(doc["FlowName"], doc["Name"]), doc,
                                 key2=doc["FlowName"])

    # -- API used by localcloud/products/fnf/models.py -----------------------------------
    def get(self, flow: str, name: str) -> dict[str, Any] | None:
        """The execution document (live copy while running, else the stored one)."""
        key = execution_key(flow, name)
        with self.lock:
            lv = self.live.get(key)
        if lv is not None:
            with lv.lock:
                doc = dict(lv.doc)
                doc["events"] = list(lv.doc["events"])
                return doc
        return self.cloud.store.get(KIND_EXECUTION, key)

    def list(self, flow: str) -> list[dict[str, Any]]:
        docs = self.cloud.store.list(KIND_EXECUTION, key2=flow)
        out = []
        for d in docs:
            live = self.get(flow, d["Name"])
            out.append(live or d)
        return out

    def start_execution(self, definition: Definition, flow_doc: dict[str, Any], name: str,
                        input_text: str, input_obj: Any) -> dict[str, Any]:
        """Register and schedule a new execution; returns its document (Status Running)."""
        if self.pool is None:
            raise RuntimeError("the fnf service is not started")
        key = execution_key(flow_doc["Name"], name)
        doc = {"FlowName": flow_doc["Name"], "Name": name, "Status": "Running", "Input": input_text,
               "Output": "", "StartedTime": iso(self.cloud.clock.now()), "StoppedTime": "",
               "FlowDefinition": flow_doc["Definition"], "error": None, "events": []}
        lv = _Live(key, doc)
        with self.lock:
            self.live[key] = lv
        self.cloud.store.put(KIND_EXECUTION, key, doc, key2=flow_doc["Name"])
        self.pool.submit(self._run, lv, definition, input_obj)
        return dict(doc)

    def stop_execution(self, flow: str, name: str, code: str, detail: str) -> dict[str, Any] | None:
        """Stop a running execution; returns its document, or None when it is not running."""
        with self.lock:
            lv = self.live.get(execution_key(flow, name))
        if lv is None or lv.done.is_set():
            return None
        with lv.lock:
            lv.stop_error = {"Code": code or ERR_STOPPED, "Detail": detail or "stopped by StopExecution"}
            lv.doc["Status"] = "Stopped"
            lv.doc["StoppedTime"] = iso(self.cloud.clock.now())
            lv.doc["error"] = lv.stop_error
            lv.doc["Output"] = json.dumps(lv.stop_error, ensure_ascii=False)
        lv.cancel.set()
        return self.get(flow, name)

    # -- the execution thread ------------------------------------------------------------
    def _run(self, lv: _Live, definition: Definition, input_obj: Any) -> None:
        rt = self.cloud.runtime
        try:
            invoker = rt.get("flow_invoker") or FunctionInvoker(region=self.cloud.settings.region,
                                                                     account_id=ACCOUNT_ID)
            scale = self.cloud.settings.flow_sleep_scale
            sleep = rt.get("flow_sleep") or (lambda s: lv.cancel.wait(s * scale))
            extra = rt.get("flow_on_event")
            flow, name = lv.doc["FlowName"], lv.doc["Name"]

            def on_event(ev: dict[str, Any]) -> None:
                with lv.lock:
                    lv.doc["events"].append(ev)
                    flush = time.monotonic() - lv.last_flush >= FLUSH_EVERY_S
                if flush:
                    self._flush(lv)
                if extra is not None:
                    extra(flow, name, ev)

            runner = FlowRunner(definition, invoker, sleep=sleep, now=self.cloud.clock.now,
                                region=self.cloud.settings.region, account_id=ACCOUNT_ID)
            res = runner.run(input_obj, name, cancel=lv.cancel, on_event=on_event)
            with lv.lock:
                err: dict[str, str] | None
                if res.status == "Stopped" and lv.stop_error is not None:
                    err = lv.stop_error
                    status = "Failed" if err["Code"] == ERR_INTERRUPTED else "Stopped"
                else:
                    err, status = res.error, res.status
                lv.doc["Status"] = status
                lv.doc["error"] = err
                lv.doc["Output"] = json.dumps(res.output if status == "Succeeded" else err, ensure_ascii=False)
                if not lv.doc["StoppedTime"]:
                    lv.doc["StoppedTime"] = res.stopped
        except Exception as exc:  # pragma: no cover - never leave an execution Running
            log.exception("execution %s crashed", lv.key)
            with lv.lock:
                lv.doc["Status"] = "Failed"
                lv.doc["error"] = {"Code": "FnF.InternalError", "Detail": f"{type(exc).__name__}: {exc}"}
                lv.doc["Output"] = json.dumps(lv.doc["error"])
                lv.doc["StoppedTime"] = iso(self.cloud.clock.now())
        finally:
            try:
                self._flush(lv)
            finally:
                with self.lock:
                    self.live.pop(lv.key, None)
                lv.done.set()

    def _flush(self, lv: _Live) -> None:
        with lv.lock:
            if lv.abandoned:
                return
            doc = dict(lv.doc)
            doc["events"] = list(lv.doc["events"])
            lv.last_flush = time.monotonic()
        try:
            self.cloud.store.put(KIND_EXECUTION, lv.key, doc, key2=doc["FlowName"])
        except Exception:  # pragma: no cover - e.g. the store was closed during shutdown
            log.exception("persisting execution %s", lv.key)

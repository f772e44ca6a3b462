"""Placing orders in the issuing lane and following them (``shared.policy.lane``).

* :func:`place` — start the order's execution of the lane's flow under a name that says what it
  is for (the provisioning execution's name; ``rotate-<prefix>-<yyyymmdd>``). Names are unique per
  flow (docs/SERVERLESS.md §1.15): while it runs, starting it again returns it; once it ended, the
  start meets ``ExecutionAlreadyExists`` — either way there is one order, never two.
* :func:`ca_check` / :func:`checked` — a provisioning run's check-only order (the sub-CA, every
  client's validity), for the provision flow's preflight and ``enable_mutual_auth``: its CA plan, or
  the order's error.
* :func:`follow` — ``DescribeExecution`` once a second until the order ends or the caller's slice
  of time is used up (the caller then returns ``pending`` and its flow calls again).
* :func:`outcome` — the finished order's result, or its error as an ``AlbMtlsError``.
* :func:`reader_context` — for reads outside the lane (the operator's reports): PCA calls at the
  whole quota while no order runs, at the share the lane leaves while one does (looked at again
  every :data:`READER_LOOK_EVERY` calls).

Source actions: fnf ``StartExecution``, ``DescribeExecution`` (and ``GetExecutionHistory`` for a failed
order's error).
"""
from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import msgspec

from shared.adapters.fnf import Fnf
from shared.core.errors import AlbMtlsError, Code
from shared.policy.lane import ISSUE_FLOW
from shared.policy.orders import Cursor, DrainResult, Order, compact

if TYPE_CHECKING:  # pragma: no cover
    from shared.policy.contracts import ProvisionInput
    from shared.steps.context import StepContext

__all__ = ["FOLLOW_POLL_S", "issue_flow", "provision_order_name", "place", "checked", "ca_check", "follow",
           "outcome", "lane_busy", "reader_context"]

#: how often a waiting caller looks (``DescribeExecution``: 50 requests burst, 5/s refill per account)
FOLLOW_POLL_S = 1.0
READER_LOOK_EVERY = 10
#: a CA check ends within a second or two: looked at more often (the preflight waits for it)
CHECK_POLL_S = 0.1
DONE = ("Succeeded", "Failed", "Stopped", "TimedOut")


def issue_flow() -> str:
    """The lane's flow name (``ALBMTLS_ISSUE_FLOW`` overrides :data:`ISSUE_FLOW`, as s.yaml sets it)."""
    return os.environ.get("ALBMTLS_ISSUE_FLOW") or ISSUE_FLOW


def provision_order_name(ctx: StepContext, suffix: str = "") -> str:
    """A provisioning run's order: the execution's own name (names are per flow), ``suffix`` for
    the preflight's check (``-check``)."""
    base = str(ctx.execution_name or f"issue-{ctx.request_id}")
    return base[:128 - len(suffix)] + suffix


def place(ctx: StepContext, name: str, order: Order) -> bool:
    """Start order ``name`` (module doc); True when this call started it, False when it already
    existed (running or ended: ``DescribeExecution`` first, so a re-run costs one read). Raises
    ``AlbMtlsError`` (``EXECUTION_RUNNING`` when an order of that name runs with another input)."""
    text = msgspec.json.encode(compact(order)).decode()
    fnf = ctx.adapter(Fnf)
    if fnf.describe_execution(issue_flow(), name) is not None:
        return False              # placed before (running or ended): the same order
    try:
        body = fnf.start_execution(issue_flow(), name, text)
    except AlbMtlsError as exc:
        if exc.cloud_code == "ExecutionAlreadyExists" or "AlreadyExist" in (exc.cloud_code or ""):
            return False
        raise
    existing = getattr(body, "input", None)
    if existing:
        try:
            same = json.loads(existing) == json.loads(text)
        except ValueError:
            same = False
        if not same:
            raise AlbMtlsError(Code.EXECUTION_RUNNING, f"order {name} is already running with another input; wait "
                               "for it to finish and run again", details={"execution": name})
    return True


def ca_check(ctx: StepContext, inp: ProvisionInput, *, budget_s: float) -> dict[str, Any] | None:
    """The run's CA plan from its check-only order ``<execution>-check`` (placed here when it is not
    yet — the preflight places it first; a step run alone places it itself): the sub-CA resolved and
    checked in the lane (``shared.steps.issuance.ca_plan``), or ``None`` while the order waits for
    the lane. Raises the order's error (``CA_NOT_FOUND``, ``CA_EXPIRES_TOO_SOON``, …)."""
    from shared.policy.orders import ProvisionOrder

    name = provision_order_name(ctx, "-check")
    # one look first: after the preflight (which waited for it) the order has ended, and its
    # answer is read from this look — one round trip on the steps' critical path, not three
    body = ctx.adapter(Fnf).describe_execution(issue_flow(), name)
    if body is not None and body.status in DONE:
        return dict(outcome(ctx, name, body).cursor.ca or {})
    if body is None:
        place(ctx, name, ProvisionOrder(input=inp, requester=ctx.execution_name, check_only=True))
    return checked(ctx, name, budget_s=budget_s)


def checked(ctx: StepContext, name: str, *, budget_s: float) -> dict[str, Any] | None:
    """The CA plan of the check-only order ``name`` once it ended (it ends right after its check
    phase), or ``None`` when it has not within ``budget_s`` (it waits for the lane). Raises the
    order's own ``AlbMtlsError`` when the check failed. Source: fnf ``DescribeExecution`` (and
    ``GetExecutionHistory`` for a failed order's error)."""
    body = follow(ctx, name, budget_s=budget_s, interval=CHECK_POLL_S)
    if body is None:
        return None
    return dict(outcome(ctx, name, body).cursor.ca or {})


def follow(ctx: StepContext, name: str, *, budget_s: float, interval: float = FOLLOW_POLL_S) -> Any | None:
    """The order's ``DescribeExecution`` body once it ended, or ``None`` when it still runs after
    ``budget_s`` seconds (bounded by the invocation's deadline); looked at every ``interval`` s
    (the first time after a quarter second). Raises ``AlbMtlsError``."""
    fnf = ctx.adapter(Fnf)
    budget = ctx.waiter.deadline(max(0.0, min(budget_s, ctx.deadline.remaining() - 1.0)))
    body, done = ctx.waiter.poll(lambda: fnf.describe_execution(issue_flow(), name),
                                 lambda b: b is None or b.status in DONE, budget, interval=interval,
                                 first_delay=min(0.25, interval))
    if body is None:
        raise AlbMtlsError(Code.CLOUD_ERROR, f"order {name} is not in the issuing lane ({issue_flow()}); run again")
    return body if done else None


def _slice_results(ctx: StepContext, name: str) -> list[dict[str, Any]]:
    """The issuer's answers in the order's history, oldest first (``GetExecutionHistory``)."""
    out: list[dict[str, Any]] = []
    for ev in ctx.adapter(Fnf).execution_history(issue_flow(), name):
        if ev.type != "TaskSucceeded":
            continue
        try:
            detail = json.loads(ev.event_detail or "{}")
        except ValueError:
            continue
        res = detail.get("output", detail) if isinstance(detail, dict) else {}
        body = res.get("Body", res) if isinstance(res, dict) else res
        if isinstance(body, str):
            try:
                body = json.loads(body)
            except ValueError:
                continue
        if isinstance(body, dict):
            out.append(body)
    return out


def _failed_result(ctx: StepContext, name: str) -> dict[str, Any] | None:
    """The error of the order's last failed slice (its history): code, message and field."""
    last = None
    for body in _slice_results(ctx, name):
        if body.get("status") == "failed" and isinstance(body.get("error"), dict):
            last = body["error"]
    return last


def outcome(ctx: StepContext, name: str, body: Any) -> DrainResult:
    """The ended order's last result (its cursor holds the totals). Raises ``AlbMtlsError`` with the
    order's own error (code, message and field, from its history) when it failed."""
    try:
        out = json.loads(body.output or "{}")
    except ValueError:
        out = {}
    if body.status != "Succeeded":
        err = _failed_result(ctx, name) or {}
        code = err.get("code") or out.get("Code") or out.get("code") or Code.CLOUD_ERROR
        detail = err.get("message") or out.get("Detail") or out.get("detail") or \
            f"the issuing order {name} ended {body.status}"
        raise AlbMtlsError(str(code), str(detail), field=err.get("field"), details={"order": name})
    res = out.get("result") if isinstance(out, dict) else None
    if not isinstance(res, dict):
        return DrainResult(status="ok", kind="", cursor=Cursor())
    return msgspec.convert(res, DrainResult, strict=False)


def lane_busy(ctx: StepContext) -> bool:
    """True while an order runs in the lane (``ListExecutions`` of the lane's flow, ``Running``);
    False when the lane's flow is not deployed (nothing can be running)."""
    try:
        return next(iter(ctx.adapter(Fnf).list_executions(issue_flow(), status="Running")), None) is not None
    except AlbMtlsError as exc:
        if exc.cloud_code == "FlowNotExists":
            return False
        raise


def reader_context(ctx: StepContext) -> StepContext:
    """``ctx`` whose PCA calls keep out of the lane's way (module doc): its own limiter at
    ``settings.pca_qps`` while the lane is idle, at ``(1 - LANE_SHARE)`` of it while an order
    works. Contexts that are not a ``StepContext`` pass unchanged."""
    import dataclasses

    from shared.adapters.retry import RateLimiter
    from shared.policy.lane import LANE_SHARE

    if not dataclasses.is_dataclass(ctx) or not hasattr(ctx, "own_limiters"):
        return ctx
    full = getattr(ctx.settings, "pca_qps", None) or 10.0
    reserve = full * (1.0 - LANE_SHARE)

    class _LaneAware(RateLimiter):
        calls = 0

        def acquire(self, timeout: float | None = None) -> float:
            if self.calls % READER_LOOK_EVERY == 0:
                self.rate = reserve if lane_busy(ctx) else full * LANE_SHARE
            self.calls += 1
            return super().acquire(timeout)

    return dataclasses.replace(ctx, own_limiters={**ctx.own_limiters, "pca": _LaneAware(full, name="pca-reader")})

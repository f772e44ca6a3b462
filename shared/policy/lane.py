"""The issuing lane: one PCA budget for the whole account, by construction (pure rules).

The CAS private CA API allows 10 requests/s per account ("The single-user QPS limit for this
operation is 10 calls per second"; RAM users share the account's bucket, docs/ALIBABA-APIS.md
§2.1). Every concurrent execution, Map item and FC instance of this automation shares that one
bucket, and FC instances share no memory, so no in-process limiter can keep them under it
together. The budget is therefore held by *construction*:

* every certificate's PCA work — issue, renew, revoke, and the rotation scan's pages — is an
  **order**: an execution of one CloudFlow flow, :data:`ISSUE_FLOW` (``workflows/issue.yaml``);
* orders form a FIFO queue: only the **head** works — the oldest *running* execution of that flow,
  by ``(StartedTime, Name)`` as ``ListExecutions`` reports them (:func:`lane_position`); the others
  wait in the flow's ``Wait`` state (free) and look again (:func:`wait_seconds`). Execution names are
  unique per flow (SERVERLESS §1.15), so one provisioning run or one day's rotation is one order
  however often it is started;
* the head is one FC invocation at a time (a flow runs one Task at a time), which paces its PCA
  calls with its own in-process limiter at :data:`LANE_SHARE` of the quota — an in-process limiter
  is exact there, because nothing else is issuing.

Every PCA call of the deployed functions is made in the lane: the provisioning preflight checks the
sub-CA through a check-only order (``<execution>-check``), the provision flow's ``IssueClientCert``
and the daily ``rotation_scan`` place orders and follow them. What stays outside, by design: the
operator's reports (``albmtls status``, ``GET /certificates``: pages of ``ListClientCertificate``),
which keep to the ``1 - LANE_SHARE`` the lane leaves while an order runs
(``shared.steps.rotation.certificate_report``). docs/PERFORMANCE.md ("One PCA budget").

No I/O here; the step is ``shared.steps.issuer``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

__all__ = ["ISSUE_FLOW", "LANE_SHARE", "LANE_RECHECK_S", "WAIT_MIN_S", "WAIT_MAX_S", "RunningOrder",
           "lane_position", "wait_seconds"]

#: the flow whose executions are the orders (s.yaml ``issue_flow``; ``ALBMTLS_ISSUE_FLOW`` overrides)
ISSUE_FLOW = "albmtls-issue"
#: share of ``settings.pca_qps`` the head uses: 9.5 of 10 requests/s, one call every 105 ms — the
#: quota as a token bucket (the local cloud's: capacity 10, refilled 10/s) never throttles it, and
#: the last 5 % serve the operator's reads outside the lane (``albmtls status``). What it does not
#: promise: at most 10 *arrivals* in every sliding 1-second window at the server — the network
#: shifts each request by its own delay, and a loaded machine was seen to put 11 into one second
#: (docs/PERFORMANCE.md); if the real quota is a strict sliding window, such an 11th answer is a
#: throttle the retry layer absorbs, a fault and not the path.
LANE_SHARE = 0.95
#: the head checks it is still the head at least this often while it works (a late-listed older order)
LANE_RECHECK_S = 15.0
WAIT_MIN_S, WAIT_MAX_S = 1, 30


@dataclass(frozen=True, slots=True)
class RunningOrder:
    """A running execution of the lane's flow: its ``name`` and ``started`` time (ISO 8601 text as
    ``ListExecutions`` returns it; same format for every item, so text order is time order)."""

    name: str
    started: str


def lane_position(running: Iterable[RunningOrder], me: str) -> int | None:
    """How many running orders are ahead of ``me`` (0: ``me`` is the head and may work), or ``None``
    when ``me`` is not listed yet (just started: wait and look again). Order: ``(started, name)``."""
    ordered = sorted(running, key=lambda r: (r.started or "", r.name))
    for i, r in enumerate(ordered):
        if r.name == me:
            return i
    return None


def wait_seconds(position: int | None) -> int:
    """Seconds a waiting order sleeps before it looks again: 1 s when it is next (or not listed
    yet), longer the further back it is (2 s per order ahead, at most 30 s) — the head's work takes
    at least that long, and fewer looks keep ``ListExecutions`` far below its rate limit."""
    if position is None or position <= 1:
        return WAIT_MIN_S
    return max(WAIT_MIN_S, min(WAIT_MAX_S, 2 * (position - 1)))

"""The provision flow's ``issue_client_cert`` step (FC ``albmtls-issue-client-cert``): it places
the run's client certificates as one order in the issuing lane and follows it.

The order is an execution of ``albmtls-issue`` named like this provisioning execution
(``shared.steps.lane_client``: placed once, however often this step runs); the lane's head issues
(``shared.steps.issuer``, ``shared.steps.engine``). No PCA call is made here: every client
certificate of every listener is issued by the one lane that holds the account's PCA budget
(``shared.policy.lane``). Source actions: fnf ``DescribeExecution``, ``StartExecution``,
``GetExecutionHistory`` (a failed order's error).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from shared.policy.contracts import ClientCertificateResult, StepEvent, StepResult
from shared.policy.orders import ProvisionOrder
from shared.steps.lane_client import follow, outcome, place, provision_order_name

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext

__all__ = ["STEP", "FOLLOW_SLICE_S", "IssueClientCertResult", "run"]

STEP = "issue_client_cert"
#: how long one invocation follows its order before answering ``pending`` (the flow calls again)
FOLLOW_SLICE_S = 120.0


class IssueClientCertResult(StepResult, frozen=True, kw_only=True):
    """``issue_client_cert`` result: the order (``order``, its lane ``position`` while it waits),
    ``writes`` (mutating calls the order made), the totals (``clients``, ``issued``, ``reused``) and
    the first ``shared.policy.orders.SAMPLE_MAX`` clients' certificates (all of them for small
    listeners; the others are in their records — ``albmtls status``)."""

    order: str = ""
    position: int | None = None
    writes: int = 0
    clients: int = 0
    issued: int = 0
    reused: int = 0
    client_certificates: list[ClientCertificateResult] = []


def run(event: StepEvent, ctx: StepContext) -> IssueClientCertResult:
    """The ``issue_client_cert`` step (FC ``albmtls-issue-client-cert``): place the provisioning
    order (idempotent: a re-run of this step follows the same order) and follow it for up to
    :data:`FOLLOW_SLICE_S`; ``pending`` while it waits or works, ``ok`` with its totals when it
    ended. The order reuses every stored certificate that is still valid and issues the rest; all
    its reads and checks (the sub-CA, every client's validity) come before its first write, so an
    input that cannot be served fails with zero writes.

    Raises ``AlbMtlsError`` — the order's own code when it failed — or ``TransientError``."""
    inp = event.input
    name = provision_order_name(ctx)
    place(ctx, name, ProvisionOrder(input=inp, requester=ctx.execution_name))
    body = follow(ctx, name, budget_s=FOLLOW_SLICE_S)
    if body is None:
        return IssueClientCertResult(status="pending", order=name, clients=len(inp.clients))
    res = outcome(ctx, name, body)
    counts = res.cursor.counts
    return IssueClientCertResult(status="ok", order=name, writes=counts.get("writes", 0), clients=len(inp.clients),
                                 issued=counts.get("issued", 0), reused=counts.get("reused", 0),
                                 client_certificates=[o.certificate() for o in res.cursor.sample])

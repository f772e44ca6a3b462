"""The issuer (FC ``albmtls-issuer``): the head of the issuing lane works off one order per slice.

``workflows/issue.yaml`` calls :func:`run` in a loop. Each call:

1. **its turn** — ``ListExecutions`` of the lane's flow: only the oldest running order works
   (``shared.policy.lane``); the others answer ``waiting`` and the flow sleeps in a ``Wait`` state;
2. **a slice** of the order, through one :class:`~shared.steps.engine.Engine` (the lane's PCA
   limiter, the issuing threads, the key log) until the order is done, the function's time runs
   low (:data:`SLICE_MARGIN_S` left) or another order turns out to be older (looked at every
   ``LANE_RECHECK_S``); every certificate started is finished before the slice returns;
3. ``pending`` with the cursor (the flow calls again at once), or ``ok`` with the totals.

A crashed slice is re-run by the flow's ``Retry`` from its cursor: what the crashed attempt stored
is observed and reused, what it issued without storing is found by its logged key
(``shared.policy.keylog``) — nothing is issued twice and nothing is revoked.

Orders: provisioning (:func:`provision_slice`, here) and rotation
(``shared.steps.rotate.rotate_slice``). Source actions: fnf ``ListExecutions``; those of the engine
(PCA ``CreateClientCertificateWithCsr``, ``DescribeCACertificate``, ``GetCAInstanceStatus``,
``DescribeClientCertificateStatus``; KMS ``GetSecretValue``, ``CreateSecret``, ``PutSecretValue``).
"""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from shared.adapters.fnf import Fnf
from shared.core.errors import AlbMtlsError, Code
from shared.policy.ids import custom_identifier
from shared.policy.issuance import CurrentCert, decide
from shared.policy.lane import LANE_RECHECK_S, RunningOrder, lane_position, wait_seconds
from shared.policy.orders import Cursor, DrainEvent, DrainResult, Order, ProvisionOrder
from shared.steps.engine import Engine, Job, lane_context, result_of
from shared.steps.issuance import read_meta
from shared.steps.lane_client import issue_flow

if TYPE_CHECKING:  # pragma: no cover
    from shared.policy.contracts import ProvisionInput
    from shared.steps.context import StepContext

__all__ = ["STEP", "SLICE_MARGIN_S", "OBSERVE_CHUNK", "Lane", "run", "provision_slice"]

STEP = "issuer"
#: a slice stops taking new work when this much of the function's time is left: the certificates in
#: flight (at most two batches) finish well within it
SLICE_MARGIN_S = 20.0
#: clients observed together (their records read in parallel, their PCA status in one call)
OBSERVE_CHUNK = 50
#: the first chunk is one round of record reads: issuing starts after it, the next chunks are read
#: while it issues
FIRST_CHUNK = 16
OBSERVE_WORKERS = 24              # records read at once: 50 in ~2 round trips
MAX_CI_ATTEMPTS = 5


class Lane:
    """This order's place in the lane (``ListExecutions`` of the running orders)."""

    def __init__(self, ctx: StepContext, me: str) -> None:
        self.ctx, self.me = ctx, me
        self.position: int | None = None
        self._checked = 0.0

    def look(self) -> int | None:
        running = [RunningOrder(ex.name or "", ex.started_time or "")
                   for ex in self.ctx.adapter(Fnf).list_executions(issue_flow(), status="Running")]
        self.position = lane_position(running, self.me)
        self._checked = time.monotonic()
        return self.position

    def still_head(self) -> bool:
        """True while no older order showed up (looks again at most every ``LANE_RECHECK_S``)."""
        if time.monotonic() - self._checked >= LANE_RECHECK_S:
            self.look()
        return self.position == 0


@dataclass(frozen=True, slots=True)
class _Status:
    """``DescribeClientCertificateStatus`` as :func:`~shared.policy.issuance.decide` reads it."""

    status: str | None
    serial: str
    parent_identifier: str | None = None


def _slice_open(ctx: StepContext, lane: Lane) -> bool:
    return ctx.deadline.remaining() > SLICE_MARGIN_S and lane.still_head()


# ---------------------------------------------------------------------------------------------
# provisioning orders
# ---------------------------------------------------------------------------------------------
def _observe(ctx: StepContext, engine: Engine, inp: ProvisionInput, start: int,
             pool: ThreadPoolExecutor, size: int = OBSERVE_CHUNK) -> list[tuple[int, CurrentCert]]:
    """The stored state of clients ``start …`` (one chunk of ``size``): their records (KMS, in
    parallel), then the status of the certificates they name through their issuer (the PCA: one
    call per 50; an own CA: its revocation list)."""
    from shared.steps.issuers import issued_statuses

    chunk = list(enumerate(inp.clients[start:start + size], start))
    names = [inp.secrets(c.common_name) for _, c in chunk]
    metas = list(pool.map(lambda n: read_meta(engine.ctx, n.meta), names))
    idents = [m.identifier for m in metas if m is not None]
    statuses = issued_statuses(engine.ctx, idents, inp.secret_prefix) if idents else {}
    out = []
    for (i, _), n, meta in zip(chunk, names, metas, strict=True):
        st = statuses.get(meta.identifier) if meta is not None else None
        cert = _Status(st.status, st.serial) if st is not None and st.status is not None else None
        out.append((i, CurrentCert.from_record(n, meta, cert)))
    return out


def provision_slice(ctx: StepContext, engine: Engine, order: ProvisionOrder, cursor: Cursor,
                    lane: Lane) -> bool:
    """Every client of the order from ``cursor.next`` on: reuse the stored certificate when it is
    valid, else issue (``shared.policy.issuance.decide``); returns True when the order is done.

    The order's first slice is its check phase and nothing else: the sub-CA (``CA_CHECKS``) and
    every client's validity (``CA_EXPIRES_TOO_SOON`` names the client). The provision flow's
    preflight places a ``check_only`` order and waits for it, so no write of the run happens before
    the CA was checked — in the lane, like every PCA call. Raises ``AlbMtlsError``."""
    from shared.policy.ids import alb_ca_id
    from shared.steps.issuance import alb_ca_certificate_id, ca_plan, preflight_ca, resolve_ca

    inp = order.input
    me = engine.order
    now = engine.now()
    if not cursor.checked:
        # the check phase: the sub-CA resolved (for ALB too, in the preflight's check-only order, which
        # ends here), CA_CHECKS, then CA_EXPIRES_TOO_SOON for every client — before any write
        if order.check_only and inp.own_ca is not None:
            # an own CA: no PCA call (its record in KMS; one the run is to create is planned)
            cursor.ca = preflight_ca(engine.ctx, inp)
            cursor.checked = True
            return True
        folds: dict[str, list[str]] | None = None
        if order.check_only:
            # resolved for ALB beside the CA's own reads (an Identifier, the usual case, needs no
            # resolving for them; a CertIdentifier is resolved by them again): one round less; the
            # listener's holders listed beside them too (the preflight's letter-case check), so
            # every PCA call of the run stays in the lane
            from shared.adapters.pca import Pca
            from shared.steps.offboarding import holder_folds

            api = engine.ctx.adapter(Pca)
            want = engine.ctx.settings.alb_ca_id_form == "cert_identifier"
            with ThreadPoolExecutor(3, thread_name_prefix="ca-check") as pool:
                # asked in this order, as the lane's pace hands out the calls: the PCA list and the CA
                # (the join for ALB needs both answers), the CA's subscription, the holders' list
                listed_f = pool.submit(lambda: list(api.list_pca_ca_certificates())) if want else None
                view_f = pool.submit(engine.ca, inp)

                def folds_later() -> dict[str, list[str]]:
                    # asked after the CA's own calls: the lane's pace gives it the fourth call anyway,
                    # and the resolving waits for the CA's answer, not for this list
                    time.sleep(0.05)
                    return holder_folds(engine.ctx, inp)

                folds_f = pool.submit(folds_later)
                view = view_f.result()
                if want and view.identifier == inp.ca_id.for_pca():
                    # the CA's DescribeCACertificate answer serves the resolving too: not read again
                    resolved = api.resolve_ca(view.identifier, want_cert_identifier=True, found=view.ca,
                                              listed=listed_f.result() if listed_f is not None else None)
                else:
                    resolved = resolve_ca(engine.ctx, inp, for_alb=True)
                folds = folds_f.result()
        else:
            resolved = None
            view = engine.ca(inp)
        alb_id = "" if resolved is None else alb_ca_certificate_id(engine.ctx, inp) if inp.ca_id.is_own else \
            alb_ca_id(resolved, engine.ctx.settings.alb_ca_id_form)
        cursor.ca = ca_plan(view, inp, now, alb_id)
        if folds is not None:
            cursor.ca["holder_folds"] = folds        # usually empty: CNs with a letter-case twin held
        cursor.checked = True
        if order.check_only:
            return True
    ca = engine.ca(inp)
    batch, total = engine.batch_size(inp), len(inp.clients)
    with ThreadPoolExecutor(OBSERVE_WORKERS, thread_name_prefix="observe") as pool:
        pool.submit(engine.keylog.recovered)           # read while the first records are read
        fut = pool.submit(_observe, ctx, engine, inp, cursor.next, pool, FIRST_CHUNK) \
            if cursor.next < total else None
        while fut is not None:
            observed = fut.result()
            end = observed[-1][0] + 1
            # the next chunk is read while this one's certificates are issued
            fut = pool.submit(_observe, ctx, engine, inp, end, pool) if end < total and _slice_open(ctx, lane) else None
            jobs: list[Job] = []
            for i, current in observed:
                client = inp.clients[i]
                own = {custom_identifier(inp.listener_key, me, client.common_name, n) for n in range(MAX_CI_ATTEMPTS)}
                d = decide(client, current, ca.identifier, now, force=client.force_new, own_ids=own)
                if d.action == "reuse":
                    assert current.meta is not None
                    cursor.add("reused")
                    cursor.keep(result_of(current.meta, current.names, reused=True))
                else:
                    jobs.append(Job(target=inp, client=client, index=i, reason=d.reason))  # type: ignore[arg-type]  # a ProvisionInput is a Target
            for k in range(0, len(jobs), batch):
                _record(cursor, engine.submit(jobs[k:k + batch]))
            cursor.next = end             # every job started here ends before the slice returns
    _record(cursor, engine.drain())
    return cursor.next >= total


def _record(cursor: Cursor, done: list[Any]) -> None:
    for d in done:
        cursor.add("issued")
        cursor.add("writes", d.writes)
        cursor.keep(d.result)


# ---------------------------------------------------------------------------------------------
# the step
# ---------------------------------------------------------------------------------------------
def read_order(ctx: StepContext, name: str) -> Order:
    """This execution's order: its input (``DescribeExecution``; the flow's state does not carry
    it). Raises ``AlbMtlsError`` (``INVALID_INPUT`` naming ``order`` for an input that is not one)."""
    from shared.policy.validation import decode

    body = ctx.adapter(Fnf).describe_execution(issue_flow(), name)
    if body is None:
        raise AlbMtlsError(Code.CLOUD_ERROR, f"order {name} is not in the issuing lane ({issue_flow()})")
    try:
        raw = json.loads(body.input or "{}")
    except ValueError:
        raw = None
    order: Order = decode(_OrderDoc, {"order": raw}).order
    return order


class _OrderDoc(msgspec.Struct, frozen=True):
    """The execution's input as ``decode`` reads it (an order, tagged by ``kind``)."""

    order: Order

def run(ev: DrainEvent, ctx: StepContext) -> DrainResult:
    """One call of the lane's loop (module doc). Raises ``AlbMtlsError`` (the order fails with its
    code) or ``TransientError`` (the flow's ``Retry`` runs the slice again)."""
    # the lane's limiters now: their first interval (no burst after the previous slice's last call)
    # passes while the order is read and the lane looked at, not before the first PCA call
    ctx = lane_context(ctx)
    cursor = ev.cursor or Cursor()
    me = ctx.execution_name
    if not me:
        raise AlbMtlsError(Code.INVALID_INPUT, "the issuer needs its execution's name (execution_name)",
                           field="execution_name")
    lane = Lane(ctx, me)
    order = ev.order
    if order is None and ev.attempt == 0 and cursor.slices == 0:
        # the order's first call: its input is read beside the first look at the lane (one read
        # per order; later calls read it only once they are at the head)
        with ThreadPoolExecutor(1, thread_name_prefix="order") as pool:
            order_f = pool.submit(read_order, ctx, me)
            pos = lane.look()
            order = order_f.result()
    else:
        pos = lane.look()
    kind = "provision" if isinstance(order, ProvisionOrder) else "rotate" if order is not None else ""
    if pos != 0:
        return DrainResult(status="waiting", kind=kind, cursor=cursor, wait_s=wait_seconds(pos), position=pos)
    order = order or read_order(ctx, me)
    kind = "provision" if isinstance(order, ProvisionOrder) else "rotate"
    prefix = order.input.secret_prefix if isinstance(order, ProvisionOrder) else order.policy.secret_prefix
    before = cursor.counts.get("writes", 0)
    with Engine(ctx, order=me, secret_prefix=prefix) as engine:
        if isinstance(order, ProvisionOrder):
            done = provision_slice(ctx, engine, order, cursor, lane)
        else:
            from shared.steps.rotate import rotate_slice
            done = rotate_slice(ctx, engine, order, cursor, lane)
        cursor.add("writes", engine.keylog.writes)
    cursor.slices += 1
    ctx.logger.info("issuer slice done", extra={"kind": kind, "done": done, "next": cursor.next,
                                                "counts": cursor.counts})
    return DrainResult(status="ok" if done else "pending", kind=kind, cursor=cursor, position=0,
                       writes=cursor.counts.get("writes", 0) - before)

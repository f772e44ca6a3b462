"""Offboarding (FC ``albmtls-offboard-client``): revoke a holder's access, give it back, and keep a
listener's holders in line with its input — three modes of one function.

* ``revoke`` (the revoke flow, ``workflows/revoke.yaml``; ``albmtls revoke``, ``POST
  /clients/revocations``): for every CN of the request, the plan of ``shared.policy.offboarding``
  (module doc there): the ``…/access`` record says ``revoked`` (reason, time, who, request id),
  every valid certificate of the CN on the listener is revoked at the private CA, the PFX and
  password secrets are scheduled for deletion with the KMS recovery window. A CN that is no holder of
  the listener under the request's secret prefix is refused before any write (``CLIENT_NOT_FOUND``,
  naming those it has under that prefix; the private CA's list alone does not know the prefix).
* ``restore`` (the revoke flow; ``albmtls restore``): the secrets come back (``RestoreSecret``,
  inside the recovery window), a certificate is issued in place of the revoked one (same CN, SANs,
  profile, days and sub-CA as its ``…/meta`` record; the revoked one stays revoked — a CA cannot
  un-revoke), then the record says ``active`` with the restoration.
* ``reconcile`` (the provision flow, beside ``IssueClientCert``): CNs that hold a valid certificate on
  the listener but left its input are marked ``orphaned`` (the rotation scan and the renew step skip
  them and say so) and reported; CNs back in the input are ``active`` again; with ``prune: true``
  the orphans are revoked as above (reason ``cessation``).

Observe (reads: ``ListClientCertificate`` once, the records, ``DescribeSecret``) → decide (pure,
every CN before the first write) → act → read back. Every write is idempotent: a second run writes
nothing. One structured audit line per revoke, prune and restore (``"audit": {action, listener_key,
common_name, reason, requested_by, request_id, execution, serials}``), which FC ships to SLS with
the function's log. Results carry ids, serials and secret names — never a key or a password.

One module (~510 lines): the three modes and the preflight's access check share one holder view
(the CA's list, the access records read together) and one revocation path, read together.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from shared.adapters import kms as kms_api
from shared.core.clock import iso_utc
from shared.core.errors import AlbMtlsError, Code, InvalidInputError
from shared.policy import offboarding as policy
from shared.policy import ownca as ownca_ids
from shared.policy.contracts import ClientCertificateResult, ClientSpec, ExecutionName, ProvisionInput, StepResult
from shared.policy.ids import SecretNames, secret_names
from shared.policy.offboarding import Holder, RevokeRequest
from shared.policy.records import (
    AccessRecord,
    Restoration,
    RevocationReason,
    access_version_id,
    decode_access,
    encode_access,
)
from shared.steps.issuers import describe_issued, issuer_for_identifier, iter_issued

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable, Iterable

    from shared.steps.context import StepContext

__all__ = ["STEP", "OffboardEvent", "ClientOutcome", "OrphanEntry", "OffboardResult", "run", "gather_holders",
           "holder_folds", "read_access", "held_under_prefix", "holders_in_scope", "preflight_access",
           "enforce_revocation", "revoke_holders"]

STEP = "offboard_client"


class OffboardEvent(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``{"mode": "revoke"|"restore", "request": RevokeRequest}`` (the revoke flow) or ``{"mode":
    "reconcile", "input": ProvisionInput}`` (the provision flow); ``execution_name`` from the flow."""

    mode: Literal["revoke", "restore", "reconcile"]
    request: RevokeRequest | None = None
    input: ProvisionInput | None = None
    execution_name: ExecutionName | None = None

    def __post_init__(self) -> None:
        if self.mode == "reconcile" and self.input is None:
            raise InvalidInputError("input", "mode reconcile needs the provision input")
        if self.mode != "reconcile" and self.request is None:
            raise InvalidInputError("request", f"mode {self.mode} needs the request (listener and common names)")
        if self.request is not None and self.mode != self.request.action:
            raise InvalidInputError("mode", f"mode {self.mode} does not match the request's action "
                                    f"{self.request.action}")


class SecretState(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A key-material secret after the step: ``planned_delete_time`` when scheduled for deletion."""

    name: str
    state: Literal["pending_deletion", "present", "absent"]
    planned_delete_time: str | None = None


class ClientOutcome(msgspec.Struct, kw_only=True, omit_defaults=True):
    """One holder's outcome. ``action``: ``revoked`` / ``already_revoked`` (revoke, prune),
    ``restored`` / ``already_restored`` / ``not_revoked`` (restore); ``revocation``: the record
    (reason, revoked_at, requested_by, request_id …); ``revoked``: certificates revoked at the CA
    by this call; ``certificate``: the one issued by a restore; ``delivery``: how it reached its
    holder (``shared.steps.deliver.ClientDelivery``: a person gets a one-time link, as on issue)."""

    common_name: str
    action: str
    writes: int = 0
    revocation: dict[str, Any] | None = None
    revoked: list[dict[str, str]] = []
    secrets: list[SecretState] = []
    certificate: ClientCertificateResult | None = None
    refused_by: str | None = None
    delivery: dict[str, Any] | None = None


class OrphanEntry(msgspec.Struct, kw_only=True, omit_defaults=True):
    """A CN with a valid certificate on the listener that is not in its input (not renewed)."""

    common_name: str
    since: str
    certificates: int
    not_after: str | None = None


class OffboardResult(StepResult, frozen=True, kw_only=True):
    """The step's result: ``clients`` (revoke/restore), ``orphaned``/``pruned``/``readmitted``
    (reconcile), ``writes``; ``refusal_bound_s``: how long a listener is assumed to take to refuse
    a revoked certificate (``shared.policy.offboarding.LISTENER_REFUSAL_BOUND``)."""

    mode: str
    listener_key: str
    writes: int = 0
    clients: list[ClientOutcome] = []
    orphaned: list[OrphanEntry] = []
    pruned: list[ClientOutcome] = []
    readmitted: list[str] = []
    prune: bool = False
    refusal_bound_s: int = int(policy.LISTENER_REFUSAL_BOUND.total_seconds())


# ---------------------------------------------------------------------------------------------
# observe
# ---------------------------------------------------------------------------------------------
def gather_holders(ctx: StepContext, listener_key: str, prefix: str | None = None) -> dict[str, Holder]:
    """Every CN with a certificate of this automation on ``listener_key`` (``ListClientCertificate``,
    every page: the private CA's own list; with ``prefix``, the own CAs' certificates under it too)."""
    return policy.holders(iter_issued(ctx, prefix), listener_key)


#: holders' records read at once (a listener may have 1,000: one round trip per this many)
ACCESS_READERS = 32


def read_accesses(ctx: StepContext, names: dict[str, str]) -> dict[str, AccessRecord | None]:
    """``read_access`` of every ``key → secret name``, :data:`ACCESS_READERS` at once (KMS
    ``GetSecretValue``; the KMS limiter of ``ctx`` paces them)."""
    if len(names) <= 1:
        return {k: read_access(ctx, n) for k, n in names.items()}
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(ACCESS_READERS, len(names)), thread_name_prefix="access") as pool:
        return dict(zip(names, pool.map(lambda n: read_access(ctx, n), names.values()), strict=True))


def read_access(ctx: StepContext, name: str) -> AccessRecord | None:
    """The holder's ``…/access`` record (``GetSecretValue``), ``None`` when there is none."""
    raw = ctx.adapter(kms_api.Kms).get_secret_value(name, stage=kms_api.CURRENT)
    return decode_access(raw.data) if raw is not None else None


def _write_access(ctx: StepContext, names: SecretNames, record: AccessRecord) -> int:
    return ctx.adapter(kms_api.Kms).store_version(
        names.access, encode_access(record), access_version_id(record), data_type="text",
        tags={"albmtls:listener": record.listener_key, "albmtls:cn": record.common_name},
        description=f"alb-mtls access record of {record.common_name} on {record.listener_key} (no secrets)")


def _secrets(ctx: StepContext, names: SecretNames) -> dict[str, str | None]:
    """Existing key-material secrets → their ``PlannedDeleteTime`` (``None``: not scheduled)."""
    out: dict[str, str | None] = {}
    for name in names.key_material:
        info = ctx.adapter(kms_api.Kms).describe_secret(name)
        if info is not None:
            out[name] = info.planned_delete_time or None
    return out


def _secret_states(ctx: StepContext, names: SecretNames) -> list[SecretState]:
    found = _secrets(ctx, names)
    return [SecretState(name=n, state="absent") if n not in found else
            SecretState(name=n, state="pending_deletion", planned_delete_time=found[n]) if found[n] else
            SecretState(name=n, state="present") for n in names.key_material]


def _audit(ctx: StepContext, action: str, listener_key: str, cn: str, **fields: Any) -> None:
    """The one audit line of a revoke, prune or restore (module doc)."""
    ctx.logger.info(f"audit: {action} {cn} on {listener_key}", extra={"audit": {
        "action": action, "listener_key": listener_key, "common_name": cn, "execution": ctx.execution_name,
        "function_request_id": ctx.request_id, **fields}})


# ---------------------------------------------------------------------------------------------
# revoke
# ---------------------------------------------------------------------------------------------
def _revoke_one(ctx: StepContext, plan: policy.RevokePlan, names: SecretNames, *, listener_key: str, cn: str,
                window: int, secret_prefix: str) -> ClientOutcome:
    """Act on one planned revocation, in the plan's order, then read back."""
    kms = ctx.adapter(kms_api.Kms)
    prefix = names.pfx.split("/", 1)[0]
    writes = 0
    rv = plan.revocation
    if plan.record is not None:
        writes += _write_access(ctx, names, plan.record)
        # the audit line once the decision is stored: exactly one per revocation, even when this
        # invocation dies later and the flow's Retry finishes the job (that one writes no record)
        _audit(ctx, rv.via, listener_key, cn, reason=rv.reason, reason_code=rv.reason_code,
               requested_by=rv.requested_by, signed_by=rv.signed_by, request_id=rv.request_id,
               serials=sorted(c.serial for c in rv.certificates), secrets=list(names.key_material),
               recovery_window_days=rv.recovery_window_days)
    revoked = []
    for ident in plan.revoke:
        wrote = issuer_for_identifier(ctx, ident, prefix).revoke_client_certificate(ident)
        writes += int(wrote)
        revoked.append(ident)
    for name in plan.delete:
        kms.delete_secret(name, recovery_window_days=window)
        writes += 1
    # read back: revoked at the CA, the secrets pending deletion
    serials = {c.identifier: c.serial for c in plan.revocation.certificates}
    for ident in plan.revoke:
        back = describe_issued(ctx, ident, names)
        if back is not None and back.status != "REVOKE":
            raise AlbMtlsError(Code.CLOUD_ERROR, f"certificate {ident} of {cn!r} still reads as {back.status} after "
                               "CreateRevokeClientCertificate; run the revocation again")
        if back is not None:
            serials[ident] = back.serial
    states = _secret_states(ctx, names)
    if any(s.state == "present" for s in states):
        raise AlbMtlsError(Code.CLOUD_ERROR, f"the secrets of {cn!r} are not scheduled for deletion after "
                           "DeleteSecret; run the revocation again")
    action = "revoked" if writes else "already_revoked"
    # the listener's refusal is the PCA's (LISTENER_REFUSAL_BOUND); an own CA's revocation reaches the
    # listener only through `revoke --rekey` (ALB documents no CRL check of an uploaded CA)
    own = any(ownca_ids.is_own(c.identifier) for c in rv.certificates)
    refused_by = None if own else iso_utc(policy.refusal_deadline(datetime.fromisoformat(
        rv.revoked_at.replace("Z", "+00:00"))))
    if plan.record is not None and writes:
        # the operators are told once, by the invocation that recorded the decision (as the audit line)
        from shared.steps.deliver import notify_revoked
        notify_revoked(ctx, secret_prefix, listener_key, cn, reason=rv.reason,
                       requested_by=rv.requested_by, revoked_at=rv.revoked_at,
                       serials=sorted(c.serial for c in rv.certificates), via=rv.via)
    if writes and plan.record is None:
        ctx.logger.info("revocation finished", extra={"listener_key": listener_key, "common_name": cn,
                                                      "revoked": revoked, "writes": writes})
    return ClientOutcome(common_name=cn, action=action, writes=writes, revocation=msgspec.to_builtins(rv),
                         revoked=[{"identifier": i, "serial": serials.get(i, "")} for i in revoked],
                         secrets=states, refused_by=refused_by)


def revoke_holders(ctx: StepContext, listener_key: str, cns: Iterable[str], *, by_cn: dict[str, Holder],
                   reason: RevocationReason, requested_by: str, request_id: str, secret_prefix: str, window: int,
                   via: Literal["revoke", "prune"], now: datetime, signed_by: str | None = None) -> list[ClientOutcome]:
    """Revoke every CN of ``cns`` on the listener: every plan first (reads only), then the writes."""
    plans = []
    for cn in cns:
        names = secret_names(secret_prefix, listener_key, cn)
        holder = by_cn.get(cn) or Holder(cn)
        record = read_access(ctx, names.access)
        secrets = {n: bool(t) for n, t in _secrets(ctx, names).items()}
        plan = policy.plan_revoke(record, common_name=cn, listener_key=listener_key, valid=holder.valid(now),
                                  secrets=secrets, reason=reason, requested_by=requested_by,
                                  request_id=request_id, now=now, via=via, execution=ctx.execution_name,
                                  recovery_window_days=window, signed_by=signed_by)
        plans.append((cn, names, plan))
    return [_revoke_one(ctx, plan, names, listener_key=listener_key, cn=cn, window=window,
                        secret_prefix=secret_prefix) for cn, names, plan in plans]


def held_under_prefix(ctx: StepContext, secret_prefix: str, listener_key: str, cn: str) -> bool:
    """True when ``cn`` is a holder of ``listener_key`` *under* ``secret_prefix``: its ``…/access``
    or ``…/meta`` record or its PFX secret exists there (``DescribeSecret``; a secret pending
    deletion still exists). The private CA's list knows the listener, not the prefix: a holder
    found there under another prefix is not this prefix's to revoke, prune or restore."""
    names = secret_names(secret_prefix, listener_key, cn)
    kms = ctx.adapter(kms_api.Kms)
    return any(kms.describe_secret(n) is not None for n in (names.access, names.meta, names.pfx))


def _known(ctx: StepContext, req: RevokeRequest, by_cn: dict[str, Holder]) -> None:
    """``CLIENT_NOT_FOUND`` before any write for a CN that is no holder of the listener under the
    request's secret prefix (:func:`held_under_prefix`), naming the CNs that are."""
    missing = [cn for cn in req.common_names
               if not held_under_prefix(ctx, req.secret_prefix, req.listener_key, cn)]
    if missing:
        have = sorted(cn for cn in by_cn if held_under_prefix(ctx, req.secret_prefix, req.listener_key, cn))
        raise AlbMtlsError(Code.CLIENT_NOT_FOUND, f"no client {', '.join(map(repr, missing))} on listener "
                           f"{req.load_balancer_id}:{req.listener_port} under secret prefix {req.secret_prefix!r}; "
                           f"the clients it has under that prefix: {', '.join(have) or 'none'} (check --cn and "
                           "--secret-prefix)", field="common_names",
                           details={"missing": missing, "existing": have, "secret_prefix": req.secret_prefix})


def revoke(req: RevokeRequest, ctx: StepContext) -> OffboardResult:
    """Mode ``revoke`` (module doc)."""
    now = ctx.clock.now()
    by_cn = gather_holders(ctx, req.listener_key, req.secret_prefix)
    _known(ctx, req, by_cn)
    out = revoke_holders(ctx, req.listener_key, req.common_names, by_cn=by_cn, reason=req.reason,
                         requested_by=req.requested_by, request_id=req.request_id, secret_prefix=req.secret_prefix,
                         window=req.recovery_window_days, via="revoke", now=now, signed_by=req.signed_by)
    return OffboardResult(mode="revoke", listener_key=req.listener_key, writes=sum(o.writes for o in out), clients=out)


def enforce_revocation(ctx: StepContext, listener_key: str, cn: str, secret_prefix: str) -> int:
    """When ``cn``'s record says ``revoked``, revoke any certificate of it still valid at the CA (a
    renewal that raced the revocation issued one); returns the writes. Reads the record first: no
    listing unless revoked."""
    record = read_access(ctx, secret_names(secret_prefix, listener_key, cn).access)
    if policy.access_state(record) != "revoked":
        return 0
    holder = gather_holders(ctx, listener_key, secret_prefix).get(cn) or Holder(cn)
    writes = 0
    for c in holder.valid(ctx.clock.now()):
        writes += int(issuer_for_identifier(ctx, c.identifier, secret_prefix).revoke_client_certificate(c.identifier))
    if writes:
        ctx.logger.warning("revoked a certificate issued while its holder was being revoked",
                           extra={"listener_key": listener_key, "common_name": cn, "writes": writes})
    return writes


# ---------------------------------------------------------------------------------------------
# restore
# ---------------------------------------------------------------------------------------------
def _restore_one(ctx: StepContext, req: RevokeRequest, cn: str, now: datetime) -> ClientOutcome:
    from shared.steps.issuance import StoredTarget, issue_for_client, observe_client
    names = secret_names(req.secret_prefix, req.listener_key, cn)
    record = read_access(ctx, names.access)
    secrets = {n: bool(t) for n, t in _secrets(ctx, names).items()}
    plan = policy.plan_restore(record, secrets)
    if not plan.reissue:
        return ClientOutcome(common_name=cn, action=plan.reason, secrets=_secret_states(ctx, names))
    assert record is not None
    writes = 0
    for name in plan.restore:
        ctx.adapter(kms_api.Kms).restore_secret(name)
        writes += 1
    current = observe_client(ctx, names)
    if current.meta is None:
        raise AlbMtlsError(Code.SECRET_NOT_FOUND, f"{cn!r} on {req.listener_key} has no certificate record "
                           f"({names.meta}); provision it again with {cn!r} in the input", field="common_names")
    meta = current.meta
    client = ClientSpec(common_name=cn, sans=tuple(meta.sans), days=meta.days, profile=meta.profile,
                        renew_before_days=meta.renew_before_days)
    target = StoredTarget(listener_key=req.listener_key, ca_identifier=meta.ca, secret_prefix=req.secret_prefix)
    revoked_id = record.revocation.certificates[-1].identifier if record.revocation and \
        record.revocation.certificates else meta.identifier
    issued = issue_for_client(ctx, target, client, force=True, previous=revoked_id, current=current)
    writes += issued.writes
    restoration = Restoration(restored_at=iso_utc(now), requested_by=req.requested_by, signed_by=req.signed_by,
                              request_id=req.request_id,
                              execution=ctx.execution_name, serial=issued.result.serial,
                              identifier=issued.result.identifier, secrets_restored=bool(plan.restore))
    writes += _write_access(ctx, names, policy.restored(record, restoration, now))
    _audit(ctx, "restore", req.listener_key, cn, requested_by=req.requested_by, signed_by=req.signed_by,
           request_id=req.request_id,
           serial=issued.result.serial, secrets_restored=list(plan.restore), writes=writes,
           revoked_reason=record.revocation.reason if record.revocation else None)
    # the new certificate goes to its holder as on issue (a person: a one-time link); never fails the restore
    from shared.steps.deliver import deliver_client, load_config
    try:
        sent, w = deliver_client(ctx, load_config(ctx, req.secret_prefix), names, req.listener_key, cn, None,
                                 update_holder=False)
        writes += w
        delivery: dict[str, Any] | None = msgspec.to_builtins(sent)
    except AlbMtlsError as exc:
        if exc.retryable:
            raise
        ctx.logger.warning("delivery after the restore failed", extra={"common_name": cn, "error": exc.to_dict()})
        delivery = None
    return ClientOutcome(common_name=cn, action="restored", writes=writes, certificate=issued.result,
                         secrets=_secret_states(ctx, names), delivery=delivery)


def restore(req: RevokeRequest, ctx: StepContext) -> OffboardResult:
    """Mode ``restore`` (module doc). A CN the listener never had under the prefix is refused before
    any write (``CLIENT_NOT_FOUND``); one that is not revoked writes nothing (``not_revoked`` /
    ``already_restored``)."""
    now = ctx.clock.now()
    _known(ctx, req, gather_holders(ctx, req.listener_key, req.secret_prefix))
    out = [_restore_one(ctx, req, cn, now) for cn in req.common_names]
    return OffboardResult(mode="restore", listener_key=req.listener_key, writes=sum(o.writes for o in out), clients=out)


# ---------------------------------------------------------------------------------------------
# the provisioning run: preflight and reconcile
# ---------------------------------------------------------------------------------------------
def holder_folds(ctx: StepContext, inp: ProvisionInput) -> dict[str, list[str]]:
    """For each CN of ``inp``, the holders of its listener (the private CA's list, and the own CAs'
    under its prefix) whose CN differs from it only in letter case — only the CNs that have such
    holders (usually none). The issuing lane computes it in a provisioning run's check order (its
    PCA pages at the lane's pace); a preflight without the lane reads it itself."""
    by_fold: dict[str, list[str]] = {}
    for held in gather_holders(ctx, inp.listener_key, inp.secret_prefix):
        by_fold.setdefault(held.casefold(), []).append(held)
    out = {}
    for c in inp.clients:
        others = sorted(h for h in by_fold.get(c.common_name.casefold(), ()) if h != c.common_name)
        if others:
            out[c.common_name] = others
    return out


def preflight_access(ctx: StepContext, inp: ProvisionInput,
                     folds: Callable[[], dict[str, list[str]]] | None = None) -> dict[str, Any]:
    """Read-only, for the preflight: ``CLIENT_REVOKED`` when a CN of the input was revoked on this
    listener (re-issuing it would undo the revocation: restore it, or remove it from the input) —
    compared without letter case, so ``MALLORY`` is refused after ``mallory`` was revoked; then
    ``INVALID_INPUT`` when a CN differs only in letter case from a holder the listener already has
    (the private CA's list: a listener's CNs differ in more than letter case, across runs as within
    one input). ``folds``: :func:`holder_folds` as the run's check order in the issuing lane found it
    (called once the input's own records are read; it may wait for the order); without it the list
    is read here, outside the lane at the share it leaves. Returns ``{"readmitted": [orphaned CNs
    back in the input]}``."""
    from shared.steps.lane_client import reader_context

    # the input's own records at once (a listener may have 1,000 holders: one round trip per
    # ACCESS_READERS), while the holders' list is read (or the check order reads it)
    records = read_accesses(ctx, {c.common_name: inp.secrets(c.common_name).access for c in inp.clients})
    found = folds() if folds is not None else holder_folds(reader_context(ctx), inp)
    extra = sorted({cn for cns in found.values() for cn in cns} - set(records))
    records |= read_accesses(ctx, {cn: inp.secrets(cn).access for cn in extra})
    asked = {c.common_name: [c.common_name, *found.get(c.common_name, ())] for c in inp.clients}
    revoked, back, clash = [], [], []
    for i, c in enumerate(inp.clients):
        for cn in asked[c.common_name]:
            record = records[cn]
            state = policy.access_state(record)
            if state == "revoked":
                assert record is not None and record.revocation is not None
                revoked.append((i, c.common_name, cn, record.revocation))
            elif cn != c.common_name:
                clash.append((i, c.common_name, cn))
            elif state == "orphaned":
                back.append(c.common_name)
    if revoked:
        i, given, cn, r = revoked[0]
        alias = "" if given == cn else f" (the input's {given!r} differs from it only in letter case)"
        raise AlbMtlsError(Code.CLIENT_REVOKED, f"client {cn!r} was revoked on {inp.listener_key} at {r.revoked_at} "
                           f"by {r.requested_by!r} (reason {r.reason}){alias}; remove {given!r} from `clients`, or "
                           f"give {cn!r} access again with `albmtls restore --listener "
                           f"{inp.load_balancer_id}:{inp.listener_port} --cn {cn}`", field=f"clients[{i}].common_name",
                           details={"revoked": sorted({cn for _, _, cn, _ in revoked})})
    if clash:
        i, given, cn = clash[0]
        raise InvalidInputError(f"clients[{i}].common_name", f"common name {given!r} differs only in letter case "
                                f"from {cn!r}, which already holds a certificate on {inp.listener_key}: a listener's "
                                f"CNs differ in more than letter case; write it {cn!r}, or choose another name")
    return {"readmitted": back}


def holders_in_scope(ctx: StepContext, inp: ProvisionInput) -> dict[str, Holder]:
    """The listener's holders a provisioning run with ``inp`` answers for (reconcile, plan): those
    in its input and those held under its secret prefix (:func:`held_under_prefix`) — a holder of
    the listener under another prefix is never orphaned or pruned by this input."""
    in_input = {c.common_name for c in inp.clients}
    return {cn: h for cn, h in gather_holders(ctx, inp.listener_key, inp.secret_prefix).items()
            if cn in in_input or held_under_prefix(ctx, inp.secret_prefix, inp.listener_key, cn)}


def reconcile(inp: ProvisionInput, ctx: StepContext) -> OffboardResult:
    """Mode ``reconcile`` (module doc)."""
    now = ctx.clock.now()
    lk = inp.listener_key
    in_input = [c.common_name for c in inp.clients]
    by_cn = holders_in_scope(ctx, inp)
    records = read_accesses(ctx, {cn: inp.secrets(cn).access for cn in sorted(set(by_cn) | set(in_input))})
    plan = policy.plan_reconcile(by_cn, in_input, records, now, listener_key=lk, prune=inp.prune)
    orphaned, marks, readmitted = list(plan.orphaned), dict(plan.marks), list(plan.readmitted)
    writes = sum(_write_access(ctx, inp.secrets(cn), rec) for cn, rec in marks.items())
    pruned: list[ClientOutcome] = []
    if plan.revoke:
        done = revoke_holders(ctx, lk, plan.revoke, by_cn=by_cn, reason="cessation",
                              requested_by=f"provision {ctx.execution_name or ctx.request_id} (prune)",
                              request_id=ctx.execution_name or ctx.request_id, secret_prefix=inp.secret_prefix,
                              window=policy.RECOVERY_WINDOW_DAYS, via="prune", now=now)
        pruned = [o for o in done if o.common_name in orphaned or o.writes]
        writes += sum(o.writes for o in done)
    orphans: list[OrphanEntry] = []
    if not inp.prune:
        for cn in orphaned:
            valid = by_cn[cn].valid(now)
            rec = marks.get(cn) or records.get(cn)
            ends = [c.not_after for c in valid if c.not_after is not None]
            orphans.append(OrphanEntry(common_name=cn, since=rec.since if rec else iso_utc(now),
                                       certificates=len(valid), not_after=iso_utc(max(ends)) if ends else None))
    if orphans:
        ctx.logger.warning("clients no longer in the input still hold valid certificates (not renewed; "
                           "revoke them with prune: true or albmtls revoke)",
                           extra={"listener_key": lk, "orphaned": [o.common_name for o in orphans]})
    return OffboardResult(mode="reconcile", listener_key=lk, prune=inp.prune, writes=writes, orphaned=orphans,
                          pruned=pruned, readmitted=readmitted)


def run(event: OffboardEvent, ctx: StepContext) -> OffboardResult:
    """The ``albmtls-offboard-client`` step: ``revoke``, ``restore`` or ``reconcile`` per ``event.mode``.

    Its PCA calls (the list of the listener's holders, the revocations, a restore's issue) are made
    outside the issuing lane, and keep out of its way as the operator's reports do: at the share the
    lane leaves while an order works (``shared.steps.lane_client.reader_context``;
    docs/PERFORMANCE.md "One PCA budget")."""
    from shared.steps.lane_client import reader_context

    ctx = reader_context(ctx)
    if event.mode == "reconcile":
        assert event.input is not None
        return reconcile(event.input, ctx)
    assert event.request is not None
    return revoke(event.request, ctx) if event.mode == "revoke" else restore(event.request, ctx)

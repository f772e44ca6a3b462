"""``enable_mutual_auth``: the server certificate, the server group and the HTTPS listener with
mutual authentication (docs/DECISIONS.md §3 "listener plan"; the rules are
``shared.policy.listener``).

Path of :func:`run`:

1. :func:`gather` — reads only: the ALB (edition, VPC), the listener on the port
   (``GetListenerAttribute``; a listener whose job still runs is waited for, so the plan sees a
   settled one), the server certificate (CAS detail / list / the uploaded leaf, the key secret's
   existence), the server group and its members → a frozen ``ListenerObservation``.
2. ``LISTENER_CHECKS`` — the first violation is raised *before any write* (the preflight runs the
   same chain): ``ALB_EDITION_UNSUPPORTED``, ``LISTENER_PORT_CONFLICT``, a ``Stopped`` listener,
   ``CERT_NOT_FOUND``/``SERVER_CERT_MISMATCH``/``SERVER_CERT_EXPIRING``/``SECRET_NOT_FOUND``,
   ``SERVER_GROUP_VPC_MISMATCH``.
3. Plan the server certificate and the server group (pure, once) and apply them: upload the
   certificate if needed (once per fingerprint), create the group and add the missing servers
   (waiting for ``Available`` between writes).
4. Plan the listener once (its ids now known) and apply it: create, or update only the fields
   that differ. ALB writes carry ``ClientToken`` = ``ctx.client_token(<resource>, <digest of the
   parameters>)``.
5. Wait for the listener ``Running`` within one slice of at most :data:`WAIT_SLICE_S` seconds per
   invocation (never past ``ctx.deadline``); still busy → ``{"status": "pending", "attempt":
   n+1}`` and the next call observes again (no duplicate write).
6. Read back: the listener must not differ from the desired one (``listener_drift``; else
   ``DRIFT_AFTER_APPLY`` naming each field, the value written and the value read).

Results carry ids and fingerprints only; the server key read from KMS is passed to CAS and
dropped, never logged or returned.

One module (~520 lines): gather, plan, apply and read back of the listener step, and the ALB job
pacing they share, read in one sitting.
"""
from __future__ import annotations

import base64
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from shared.adapters import alb, cas
from shared.adapters.kms import Kms
from shared.core.clock import iso_utc
from shared.core.errors import AlbMtlsError, Code
from shared.policy.contracts import ListenerResult, ProvisionInput, StepEvent, StepResult
from shared.policy.ids import CertificateId
from shared.policy.listener import (
    CLIENT_CERT_XFF_FIELDS,
    INPUT_FIELD_OF,
    LISTENER_CHECKS,
    DesiredListener,
    ListenerLike,
    ListenerObservation,
    ListenerPlan,
    LoadBalancerLike,
    PemFacts,
    ServerCertificateObservation,
    ServerCertificatePlan,
    ServerGroupObservation,
    ServerGroupPlan,
    alb_id_of,
    desired_listener,
    desired_xff,
    listener_drift,
    parse_pem,
    plan_listener,
    plan_server_certificate,
    plan_server_group,
    upload_name,
)
from shared.steps.lane_client import ca_check

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from shared.core.wait import Deadline
    from shared.steps.context import StepContext

__all__ = [
    "run", "gather", "EnableMutualAuthResult", "ServerCertificateInfo", "ServerGroupInfo", "WAIT_SLICE_S",
    "listener_result", "server_group_error", "ensure_server_certificate", "ensure_server_group", "wait_budget",
]

T = TypeVar("T")
#: Longest time one invocation spends waiting for ALB jobs before returning ``pending`` (s).
WAIT_SLICE_S = 20.0
#: Time kept free after waiting for the read-back calls and the result (s).
_RESERVE_S = 1.5
#: ALB job polls: first after 0.1 s, the gap doubling up to 0.5 s (a job's end is seen ≤ 0.5 s late).
_POLL = {"first_delay": 0.1, "interval": 0.5}
#: An ALB job's expected length before one was seen in this invocation (s), and the fine step after
#: the expected end (``JobPacer``).
JOB_PRIOR_S = 0.5
JOB_STEP_S = 0.2
_SETTLED = ("Running", "Stopped")


def _digest(*parts: Any) -> str:
    raw = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


# =============================================================================================
# results
# =============================================================================================
class ServerCertificateInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The listener's server certificate: ALB ``id`` (``<CertId>-<site region>``), ``cas_id``,
    ``mode`` (``id``/``find``/``upload``), ``not_after`` (ISO UTC), ``uploaded`` (this call
    uploaded it), ``fingerprint_sha256`` (upload mode)."""

    id: str | None
    cas_id: int | None = None
    mode: str
    not_after: str | None = None
    uploaded: bool = False
    fingerprint_sha256: str | None = None


def certificate_info(plan: ServerCertificatePlan, *, uploaded: bool = False) -> ServerCertificateInfo:
    return ServerCertificateInfo(id=plan.alb_id, cas_id=plan.cas_id, mode=plan.mode,
                                 not_after=iso_utc(plan.not_after) if plan.not_after else None,
                                 uploaded=uploaded, fingerprint_sha256=plan.fingerprint_sha256)


class ServerGroupInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The server group: ``id``, ``name``, ``created`` (by this call), ``servers_added``."""

    id: str | None
    name: str
    created: bool = False
    servers_added: int = 0


class EnableMutualAuthResult(StepResult, frozen=True, kw_only=True):
    """``enable_mutual_auth`` result: ``status`` ``ok`` | ``pending`` (call again; the flow
    loops while ``attempt`` < its bound), ``attempt`` = calls so far, ``writes`` = mutating calls
    made by *this* call, ``listener`` (read back; ``None`` while pending before creation),
    ``waiting_for`` (what a pending call waits for)."""

    attempt: int
    writes: int
    listener: ListenerResult | None = None
    server_certificate: ServerCertificateInfo | None = None
    server_group: ServerGroupInfo | None = None
    listener_action: str | None = None
    waiting_for: str | None = None


def listener_result(lst: alb.Listener) -> ListenerResult:
    """A :class:`~shared.policy.contracts.ListenerResult` of a read-back listener."""
    return ListenerResult(id=lst.id, port=lst.port, ca_enabled=bool(lst.ca_enabled),
                          ca_certificate_id=lst.ca_certificate_ids[0] if lst.ca_certificate_ids else None,
                          security_policy_id=lst.security_policy_id or "", status=lst.status,
                          server_certificate_id=lst.certificate_ids[0] if lst.certificate_ids else None,
                          server_group_id=lst.server_group_ids[0] if lst.server_group_ids else None)


# =============================================================================================
# gather (reads only)
# =============================================================================================
def wait_budget(ctx: StepContext) -> Deadline:
    """This invocation's waiting budget: at most :data:`WAIT_SLICE_S` s, and never so long that
    the read-back after it cannot finish before ``ctx.deadline``."""
    return ctx.deadline.slice(max(0.0, min(WAIT_SLICE_S, ctx.deadline.remaining() - _RESERVE_S)))


class JobPacer:
    """When to look at an ALB job (docs/PERFORMANCE.md, issue 19): not from its start but from its
    expected end — the length of the jobs this invocation already saw (the prior
    :data:`JOB_PRIOR_S` before the first), less one round trip — then every :data:`JOB_STEP_S`.
    A job's end is seen at most one step (and a round trip) late, for a few reads per job."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx
        self.seen: list[float] = []

    def wait(self, observe: Callable[[], T], done: Callable[[T], bool], budget: Deadline) -> tuple[T, bool]:
        w = self.ctx.waiter
        started = w.monotonic()
        expected = (min(self.seen) if self.seen else JOB_PRIOR_S) - JOB_STEP_S
        if expected > 0:
            w.sleep(min(expected, max(0.0, budget.remaining())))
        got, ok = w.poll(observe, done, budget, first_delay=JOB_STEP_S, interval=JOB_STEP_S)
        if ok:
            self.seen.append(w.monotonic() - started)
        return got, ok


def _wait_settled(ctx: StepContext, listener_id: str, budget: Deadline,
                  pacer: JobPacer | None = None) -> alb.Listener | None:
    """Poll ``GetListenerAttribute`` until the listener's job is done (``Running``/``Stopped``);
    ``None`` when ``budget`` ends first."""
    lst, ok = (pacer or JobPacer(ctx)).wait(lambda: ctx.adapter(alb.Alb).get_listener(listener_id),
                                            lambda x: x.status in _SETTLED, budget)
    return lst if ok else None


def find_uploaded(ctx: StepContext, pem: PemFacts, name: str) -> cas.CasCertificate | None:
    """The CAS certificate with the same leaf (fingerprint), or our upload name; ``None``."""
    api = ctx.adapter(cas.Cas)
    ours = {pem.sha256, pem.sha1}
    maybe: list[cas.CasCertificate] = []
    for c in api.iter_certificates():
        if c.fingerprint and c.fingerprint in ours:
            return c
        if (c.serial and c.serial == pem.serial) or c.name == name:
            maybe.append(c)
    for c in maybe:  # serial/name match only: confirm with the detail's SHA-2 / fingerprint
        d = api.get_certificate(c.cas_id)
        if (d.sha256 and d.sha256 == pem.sha256) or (d.fingerprint and d.fingerprint in ours):
            return d
    return None


def gather_server_certificate(ctx: StepContext, inp: ProvisionInput) -> ServerCertificateObservation:
    """Read what CAS/KMS know of ``inp.server_certificate`` (docs/ALIBABA-APIS.md §2.3): the CAS
    detail (``id``), every CAS certificate (``find``), or the leaf already uploaded and — when it
    is not — whether the key secret exists (``upload``). Reads only; judged by the checks."""
    spec = inp.server_certificate
    if spec.mode == "id":
        given = spec.parsed_id
        assert given is not None
        try:
            detail: cas.CasCertificate | None = ctx.adapter(cas.Cas).get_certificate(given.for_cas())
        except AlbMtlsError as err:
            if err.code != Code.CERT_NOT_FOUND:
                raise
            detail = None
        return ServerCertificateObservation("id", detail=detail)
    if spec.mode == "find":
        return ServerCertificateObservation("find", candidates=tuple(ctx.adapter(cas.Cas).iter_certificates()))
    assert spec.cert_pem is not None and spec.key_secret_name is not None
    pem = parse_pem(spec.cert_pem)
    if pem is None:
        return ServerCertificateObservation("upload")
    uploaded = find_uploaded(ctx, pem, upload_name(pem))
    exists = None if uploaded is not None else ctx.adapter(Kms).describe_secret(spec.key_secret_name) is not None
    return ServerCertificateObservation("upload", pem=pem, uploaded=uploaded, key_secret_exists=exists)


def gather_server_group(ctx: StepContext, inp: ProvisionInput, lb: alb.LoadBalancer,
                        groups: tuple[alb.ServerGroup, ...] | None = None) -> ServerGroupObservation:
    """``ListServerGroups(ServerGroupNames=[name])`` (unless ``groups`` were read already) and the
    members of the one in the ALB's VPC."""
    api = ctx.adapter(alb.Alb)
    if groups is None:
        groups = _server_groups_named(ctx, inp)
    mine = sorted((g for g in groups if g.vpc_id == lb.vpc_id), key=lambda g: g.id)
    servers = api.list_server_group_servers(mine[0].id) if mine else []
    members = frozenset((s.server_id, s.port or 0) for s in servers)
    return ServerGroupObservation(groups, members,
                                  weights=tuple((s.server_id, s.port or 0, s.weight) for s in servers))


def _server_groups_named(ctx: StepContext, inp: ProvisionInput) -> tuple[alb.ServerGroup, ...]:
    name = inp.server_group.name
    return tuple(g for g in ctx.adapter(alb.Alb).list_server_groups(names=[name]) if g.name == name)


def gather(ctx: StepContext, inp: ProvisionInput, *, budget: Deadline | None = None) -> ListenerObservation:
    """Everything the listener checks and plans decide on (reads only), in two rounds: the ALB, the
    listener on the port, the server groups of that name and the server certificate at once (none
    needs another's answer), then the members of the group in the ALB's VPC. The ALB's own error
    (``LOAD_BALANCER_NOT_FOUND``) comes first. With ``budget``, a listener whose job still runs is
    waited for (within ``budget``) so the plan sees it settled."""
    api = ctx.adapter(alb.Alb)
    with ThreadPoolExecutor(4, thread_name_prefix="gather") as pool:
        lb_f = pool.submit(api.get_load_balancer, inp.load_balancer_id)
        lst_f = pool.submit(api.find_listener_on_port, inp.load_balancer_id, inp.listener_port)
        groups_f = pool.submit(_server_groups_named, ctx, inp)
        cert_f = pool.submit(gather_server_certificate, ctx, inp)
        lb = lb_f.result()
        existing = lst_f.result()
        server_group = gather_server_group(ctx, inp, lb, groups_f.result())
        server_certificate = cert_f.result()
    if budget is not None and existing is not None and existing.status not in _SETTLED \
            and existing.protocol == "HTTPS":
        existing = _wait_settled(ctx, existing.id, budget) or existing
    return ListenerObservation(
        inp=inp, now=ctx.clock.now(), site_region=ctx.settings.cas_site_region, lb=lb, existing=existing,
        server_certificate=server_certificate, server_group=server_group)


# =============================================================================================
# act
# =============================================================================================
def _kms_key_pem(ctx: StepContext, name: str) -> str:
    """``GetSecretValue`` of the server key secret (``ACSCurrent``). Never logged or returned."""
    value = ctx.adapter(Kms).get_secret_value(name)
    if value is None:
        raise AlbMtlsError(Code.SECRET_NOT_FOUND, f"the KMS secret {name!r} with the server key does not exist; "
                           "create it or fix `server_certificate.key_secret_name`",
                           field="server_certificate.key_secret_name")
    data = value.data
    if value.data_type.lower() == "binary":
        try:
            data = base64.b64decode(data).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            data = ""
    if "PRIVATE KEY-----" not in data:
        raise AlbMtlsError(Code.INVALID_INPUT, f"the KMS secret {name!r} does not hold a PEM private key",
                           field="server_certificate.key_secret_name")
    return data


def ensure_server_certificate(ctx: StepContext, inp: ProvisionInput, o: ListenerObservation,
                              plan: ServerCertificatePlan) -> tuple[ServerCertificatePlan, int]:
    """Upload the certificate when ``plan.needs_upload`` (key from KMS ``GetSecretValue``,
    ``UploadUserCertificate``); returns the certificate now in CAS and the writes (0 or 1). A
    duplicate/name conflict answer is resolved by looking the certificate up again."""
    if not plan.needs_upload:
        return plan, 0
    spec, pem = inp.server_certificate, o.server_certificate.pem
    assert spec.cert_pem is not None and spec.key_secret_name is not None and plan.upload_name and pem is not None
    key_pem = _kms_key_pem(ctx, spec.key_secret_name)
    site = ctx.settings.cas_site_region
    try:
        cas_id = ctx.adapter(cas.Cas).upload_certificate(name=plan.upload_name, cert_pem=spec.cert_pem, key_pem=key_pem,
                                                         client_token=ctx.client_token("server-cert", pem.sha256))
    except AlbMtlsError as err:
        if err.retryable:
            raise
        found = find_uploaded(ctx, pem, plan.upload_name)  # uploaded meanwhile (or by a lost response)
        if found is None:
            raise
        ctx.logger.info("server certificate already in CAS", extra={"cas_id": found.cas_id,
                                                                     "cloud_code": err.cloud_code})
        return ServerCertificatePlan("upload", found.cas_id, alb_id_of(found, site), plan.not_after,
                                     fingerprint_sha256=pem.sha256, upload_name=found.name), 0
    finally:
        del key_pem
    ctx.logger.info("server certificate uploaded", extra={"cas_id": cas_id, "fingerprint_sha256": pem.sha256})
    return ServerCertificatePlan("upload", cas_id, CertificateId("cas", cas_id=cas_id).for_alb(site), plan.not_after,
                                 fingerprint_sha256=pem.sha256, upload_name=plan.upload_name), 1


def _wait_group_available(ctx: StepContext, sg_id: str, budget: Deadline, pacer: JobPacer | None = None) -> bool:
    """Poll ``ListServerGroups`` until the group is ``Available`` or ``budget`` ends."""
    _, ok = (pacer or JobPacer(ctx)).wait(lambda: ctx.adapter(alb.Alb).get_server_group(sg_id),
                                          lambda g: g is not None and g.status == "Available", budget)
    return ok


def server_group_error(err: AlbMtlsError) -> AlbMtlsError:
    """Map ``VpcNotMatch*`` → ``SERVER_GROUP_VPC_MISMATCH`` and ``ResourceNotFound.BackendServer``
    → ``INVALID_INPUT`` (field ``server_group.servers``); other errors unchanged."""
    cc = err.cloud_code or ""
    if cc.startswith("VpcNotMatch"):
        return AlbMtlsError(Code.SERVER_GROUP_VPC_MISMATCH, f"a backend server is not in the ALB's VPC ({cc}); "
                            "list only servers of that VPC in `server_group.servers`", field="server_group.servers",
                            request_id=err.request_id, details=err.details)
    if cc == "ResourceNotFound.BackendServer":
        return AlbMtlsError(Code.INVALID_INPUT, f"a backend server of `server_group.servers` does not exist ({cc})",
                            field="server_group.servers", request_id=err.request_id, details=err.details)
    return err


def ensure_server_group(ctx: StepContext, inp: ProvisionInput, lb: LoadBalancerLike, plan: ServerGroupPlan,
                        budget: Deadline, pacer: JobPacer | None = None) -> tuple[str, int, bool, bool, int]:
    """Create the group if planned, wait for ``Available``, add the missing servers, wait again.

    Returns ``(server_group_id, writes, ready, created, servers_added)``; ``ready`` false when the
    wait ``budget`` ran out (call again). Raises ``SERVER_GROUP_VPC_MISMATCH`` for a server in
    another VPC (``VpcNotMatch.BackendServer``)."""
    api = ctx.adapter(alb.Alb)
    spec = inp.server_group
    writes = 0
    created = False
    if plan.group is None:
        got = api.create_server_group(
            name=spec.name, vpc_id=lb.vpc_id, protocol=spec.protocol, health_check=spec.health_check,
            client_token=ctx.client_token("server-group", lb.id, spec.name, _digest(lb.vpc_id, spec.protocol,
                                                                                    msgspec.to_builtins(spec.health_check))))
        assert got is not None
        sg_id = got[0]
        writes += 1
        created = True
        ctx.logger.info("server group created", extra={"server_group_id": sg_id, "job_id": got[1]})
    else:
        sg_id = plan.group.id
    if (plan.group is None or plan.group.status != "Available") and \
            not _wait_group_available(ctx, sg_id, budget, pacer):
        return sg_id, writes, False, created, 0
    missing = plan.missing
    if missing:
        try:
            job = api.add_servers(sg_id, missing, client_token=ctx.client_token(
                "servers", sg_id, _digest([msgspec.to_builtins(s) for s in missing])))
        except AlbMtlsError as err:
            raise server_group_error(err) from None
        writes += 1
        ctx.logger.info("servers added", extra={"server_group_id": sg_id, "count": len(missing), "job_id": job})
        if not _wait_group_available(ctx, sg_id, budget, pacer):
            return sg_id, writes, False, created, len(missing)
    # drift repaired: the group holds exactly the listed servers, with their weights (each write waits
    # for Available; a call that runs out of budget returns pending and the next one observes again)
    if plan.extra:
        job = api.remove_servers(sg_id, plan.extra, client_token=ctx.client_token(
            "servers-remove", sg_id, _digest(plan.extra)))
        writes += 1
        ctx.logger.info("servers removed", extra={"server_group_id": sg_id, "servers": [f"{i}:{p}" for i, p in
                                                                                         plan.extra], "job_id": job})
        if not _wait_group_available(ctx, sg_id, budget, pacer):
            return sg_id, writes, False, created, len(missing)
    if plan.reweight:
        job = api.update_server_weights(sg_id, plan.reweight, client_token=ctx.client_token(
            "servers-weight", sg_id, _digest([msgspec.to_builtins(s) for s in plan.reweight])))
        writes += 1
        ctx.logger.info("server weights set", extra={"server_group_id": sg_id, "count": len(plan.reweight),
                                                      "job_id": job})
        if not _wait_group_available(ctx, sg_id, budget, pacer):
            return sg_id, writes, False, created, len(missing)
    return sg_id, writes, True, created, len(missing)


def apply_listener(ctx: StepContext, lb: LoadBalancerLike, plan: ListenerPlan, existing: ListenerLike | None,
                   desired: DesiredListener) -> tuple[str, str | None]:
    """Make the planned listener write; returns ``(listener_id, job_id)``."""
    api = ctx.adapter(alb.Alb)
    xff_base = existing.xff_dict if existing is not None else {}
    if plan.action == "create":
        xff = {f: True for f in CLIENT_CERT_XFF_FIELDS} if desired.client_cert_headers else None
        params = (lb.id, desired.port, desired.server_certificate_id, desired.ca_certificate_id,
                  desired.security_policy_id, desired.server_group_id, xff)
        got = api.create_listener(
            load_balancer_id=lb.id, port=desired.port, server_certificate_id=desired.server_certificate_id or "",
            ca_certificate_id=desired.ca_certificate_id, security_policy_id=desired.security_policy_id,
            server_group_id=desired.server_group_id or "", xff=xff,
            client_token=ctx.client_token("listener", lb.id, desired.port, "create", _digest(*params)))
        assert got is not None
        return got
    assert plan.listener_id is not None
    ch = set(plan.changes)
    mtls = bool(ch & {"CaEnabled", "CaCertificates"})  # the mTLS pair is always sent together
    fields: dict[str, Any] = {
        "ca_enabled": True if mtls else None,
        "ca_certificate_id": desired.ca_certificate_id if mtls else None,
        "server_certificate_id": desired.server_certificate_id if "Certificates" in ch else None,
        "security_policy_id": desired.security_policy_id if "SecurityPolicyId" in ch else None,
        "server_group_id": desired.server_group_id if "DefaultActions" in ch else None,
        "xff": desired_xff(xff_base, desired.client_cert_headers) if "XForwardedForConfig" in ch else None,
    }
    job = api.update_listener(plan.listener_id, **fields, client_token=ctx.client_token(
        "listener", plan.listener_id, "update", _digest(fields)))
    return plan.listener_id, job


# =============================================================================================
# the step
# =============================================================================================
def run(ev: StepEvent, ctx: StepContext) -> EnableMutualAuthResult:
    """Enable mutual authentication on the HTTPS listener ``ev.input.listener_port`` (module doc).

    Source actions: ALB ``GetLoadBalancerAttribute``, ``ListListeners``, ``GetListenerAttribute``,
    ``ListServerGroups``, ``ListServerGroupServers``, ``CreateServerGroup``,
    ``AddServersToServerGroup``, ``CreateListener`` / ``UpdateListenerAttribute``,
    ``ListAsynJobs``; CAS ``GetUserCertificateDetail``, ``ListCertificates``,
    ``UploadUserCertificate``; KMS ``DescribeSecret``, ``GetSecretValue``.

    Returns :class:`EnableMutualAuthResult` (``ok`` with the read-back ``listener``, or
    ``pending`` with ``attempt = ev.attempt + 1``). Raises ``AlbMtlsError``: the codes of
    ``LISTENER_CHECKS``, ``DRIFT_AFTER_APPLY`` (the read-back after the job ended differs from what
    was written: each field with the value written and the value read);
    ``TransientError`` when the cloud stays busy past the deadline.
    """
    inp = ev.input
    attempt = ev.attempt + 1
    budget = wait_budget(ctx)
    writes = 0
    api = ctx.adapter(alb.Alb)
    pacer = JobPacer(ctx)

    # the sub-CA in the form ALB takes, as the run's CA check in the issuing lane resolved it (no PCA
    # call outside the lane; the preflight waited for that check, so it is there) — read beside the
    # listener's own reads
    with ThreadPoolExecutor(1, thread_name_prefix="ca-check") as pool:
        ca_f = pool.submit(ca_check, ctx, inp, budget_s=min(60.0, budget.remaining()))
        obs = gather(ctx, inp, budget=budget)
        LISTENER_CHECKS.enforce(obs)                   # every refusal before the first write
        checked_ca = ca_f.result()
    if checked_ca is None:
        return EnableMutualAuthResult(status="pending", attempt=attempt, writes=0, waiting_for="ca_check")
    ca_id = str(checked_ca["alb_ca_certificate_id"])
    cert_plan, sg_plan = plan_server_certificate(obs), plan_server_group(obs)

    cert, cert_writes = ensure_server_certificate(ctx, inp, obs, cert_plan)
    writes += cert_writes
    sg_id, n, ready, created, added = ensure_server_group(ctx, inp, obs.lb, sg_plan, budget, pacer)
    writes += n
    cert_info = certificate_info(cert, uploaded=cert_writes > 0)
    sg_info = ServerGroupInfo(id=sg_id, name=inp.server_group.name, created=created, servers_added=added)

    def pending(what: str, action: str | None = None) -> EnableMutualAuthResult:
        ctx.logger.info("waiting; returning pending", extra={"waiting_for": what, "attempt": attempt,
                                                              "writes": writes})
        return EnableMutualAuthResult(status="pending", attempt=attempt, writes=writes, server_certificate=cert_info,
                                      server_group=sg_info, listener_action=action, waiting_for=what)

    if not ready:
        return pending(f"server group {sg_id} to be Available")
    existing = obs.existing
    if existing is not None and existing.status not in _SETTLED:
        return pending(f"listener {existing.id} to be Running before the update", "update")

    desired = desired_listener(inp, cert.alb_id, sg_id, ca_id)
    plan = plan_listener(existing, desired)
    listener_id = existing.id if existing else None
    job_id: str | None = None
    if plan.action != "none":
        try:
            listener_id, job_id = apply_listener(ctx, obs.lb, plan, existing, desired)
        except AlbMtlsError as err:
            if plan.action == "create" and err.cloud_code == "ResourceAlreadyExist.Listener":
                # someone created a listener on the port since we looked: observe again next call
                return pending(f"port {inp.listener_port} was taken meanwhile; re-observing", plan.action)
            raise
        writes += 1
        ctx.logger.info("listener written", extra={"listener_id": listener_id, "action": plan.action,
                                                    "changes": list(plan.changes), "job_id": job_id})
    assert listener_id is not None

    # -- wait + read back: the listener must be what was planned ---------------------------------
    lst = _wait_settled(ctx, listener_id, budget, pacer)
    if lst is None:
        return pending(f"listener {listener_id} to be Running", plan.action)
    if lst.status == "Stopped":
        raise AlbMtlsError(Code.CLOUD_ERROR, f"listener {listener_id} is Stopped; start it (StartListener) and run "
                           "again", field="listener_port")
    drift = listener_drift(lst, desired)
    if drift:
        detail = ""
        if job_id:
            failed = [j for j in api.list_asyn_jobs(job_ids=[job_id]) if j.status == "Failed"]
            if failed:
                detail = f"; job {job_id} failed: {failed[0].error_code or ''} {failed[0].error_message or ''}".rstrip()
        raise AlbMtlsError(Code.DRIFT_AFTER_APPLY, f"listener {listener_id} is Running but reads back other than "
                           f"what was written: {'; '.join(d.describe() for d in drift)}{detail}. Another writer "
                           "(the console, Terraform, another tool) may manage this listener; run again, or check it "
                           "in the console", field=INPUT_FIELD_OF.get(drift[0].field),
                           details={"listener_id": listener_id, "writes": writes, "drift": [
                               {"field": d.field, "written": d.written, "read": d.read} for d in drift]})
    return EnableMutualAuthResult(status="ok", attempt=attempt, writes=writes, listener=listener_result(lst),
                                  server_certificate=cert_info, server_group=sg_info, listener_action=plan.action)

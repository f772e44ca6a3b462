"""``health_check`` (FC ``albmtls-health-check``): the proof that the job is done.

(a) The listener on ``input.listener_port`` of the ALB and ``GetListenerHealthStatus`` (all
    pages): healthy when no backend of its server group(s) is listed as non-normal and the group
    holds as many servers as the input names. ``Initial`` (no data yet), a server count short of
    the input, or ``Unhealthy`` for fewer than :data:`UNHEALTHY_MAX_ATTEMPTS` calls → ``pending``
    (the flow waits and calls again); ``Unhealthy``/``Unused``/``Unavailable`` after that →
    ``HEALTH_CHECK_FAILED`` naming the servers and reasons.
(b) The live probe (:mod:`shared.adapters.probe`) once healthy: with the client certificate every request
    answers 2xx, spread over the backends; without a certificate and with a foreign one the
    listener refuses. Otherwise ``PROBE_FAILED`` with what happened.

Read-only: ``writes`` is always 0.
"""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from shared.adapters import alb
from shared.core.clock import iso_utc
from shared.core.errors import AlbMtlsError, Code
from shared.policy.health import State, assess

if TYPE_CHECKING:  # pragma: no cover
    from datetime import datetime

    from shared.policy.contracts import BackendHealth, HealthResult, ProvisionInput, StepEvent
    from shared.steps.context import StepContext

__all__ = ["run", "assess", "HEALTH_SLICE_S", "UNHEALTHY_MAX_ATTEMPTS",
           "UNHEALTHY_GRACE_S"]

HEALTH_SLICE_S = 15.0          # longest in-call wait for Initial → Healthy
UNHEALTHY_GRACE_S = 2.0        # in-call wait for an Unhealthy backend to recover
UNHEALTHY_MAX_ATTEMPTS = 5     # calls that may see Unhealthy before the step fails
POLL_S = 0.5

def _observe(ctx: StepContext, listener: alb.Listener, expected: int) -> tuple[State, HealthResult]:
    """The listener's health and its groups' members, read at once (both need only the ids)."""
    api = ctx.adapter(alb.Alb)
    with ThreadPoolExecutor(4, thread_name_prefix="health-read") as pool:
        members_f = {sid: pool.submit(api.list_server_group_servers, sid) for sid in listener.server_group_ids}
        groups = [g for g in api.get_listener_health(listener.id)
                  if not listener.server_group_ids or g.server_group_id in listener.server_group_ids]
        members = {g.server_group_id: (members_f[g.server_group_id].result() if g.server_group_id in members_f
                                       else api.list_server_group_servers(g.server_group_id)) for g in groups}
    return assess(groups, members, expected)


def _wait_health(ctx: StepContext, listener: alb.Listener, expected: int) -> tuple[State, HealthResult]:
    """Observe every :data:`POLL_S` for at most :data:`HEALTH_SLICE_S` (8 s kept for the probe)
    until ``healthy``, or ``unhealthy`` for :data:`UNHEALTHY_GRACE_S` in a row."""
    budget = ctx.deadline.slice(max(0.0, min(HEALTH_SLICE_S, ctx.deadline.remaining() - 8.0)))
    unhealthy_since: list[float] = []

    def settled(obs: tuple[State, HealthResult]) -> bool:
        if obs[0] == "healthy":
            return True
        if obs[0] != "unhealthy":
            unhealthy_since.clear()
            return False
        now = ctx.waiter.monotonic()
        if not unhealthy_since:
            unhealthy_since.append(now)
        return now - unhealthy_since[0] >= UNHEALTHY_GRACE_S

    (state, result), _ = ctx.waiter.poll(lambda: _observe(ctx, listener, expected), settled, budget,
                                         interval=POLL_S)
    return state, result


# ---------------------------------------------------------------------------------------------
# the step
# ---------------------------------------------------------------------------------------------
def _names(items: list[BackendHealth]) -> str:
    return "; ".join(f"{b.server_id}:{b.port} {b.status}" + (f" ({b.reason})" if b.reason else "") for b in items)


def run(event: StepEvent, ctx: StepContext) -> dict[str, Any]:
    """Health of the listener's backends, then the live probe.

    Event: :class:`~shared.policy.contracts.StepEvent`. Cloud calls (read-only): ALB ``ListListeners``,
    ``GetListenerAttribute``, ``GetListenerHealthStatus``, ``ListServerGroupServers``; KMS
    ``GetSecretValue`` (the first client's PFX and password); then DNS queries and HTTPS requests.

    Returns ``{"status": "ok"|"pending", "writes": 0, "attempt": attempt + 1, "health":
    HealthResult, "probe": ProbeResult | None}``. Raises ``AlbMtlsError``: ``LISTENER_NOT_FOUND``,
    ``HEALTH_CHECK_FAILED`` (backends still unhealthy after ``UNHEALTHY_MAX_ATTEMPTS`` calls),
    ``PROBE_FAILED`` (names what the probe saw), ``SECRET_NOT_FOUND``, ``PFX_CHECK_FAILED``.
    """
    from shared.steps.dns import name_servers
    from shared.steps.issuance import load_client_pfx

    inp = event.input
    attempt = event.attempt + 1
    cn = inp.clients[0].common_name
    # what the probe needs (the client's PFX, the zone's name servers) is read beside the health
    # check, so nothing is waited for once the backends are healthy
    pool = ThreadPoolExecutor(2, thread_name_prefix="health")
    try:
        pfx_f = pool.submit(load_client_pfx, ctx, inp, cn)
        servers_f = pool.submit(lambda: name_servers(ctx, _zone_info(ctx, inp)))
        return _run(ctx, inp, attempt, cn, pfx_f, servers_f)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _run(ctx: StepContext, inp: ProvisionInput, attempt: int, cn: str, pfx_f: Future[tuple[bytes, str]],
         servers_f: Future[Any]) -> dict[str, Any]:
    from shared.adapters import probe
    listener = ctx.adapter(alb.Alb).listener_on_port(inp.load_balancer_id, inp.listener_port)
    if listener is None:
        raise AlbMtlsError(Code.LISTENER_NOT_FOUND, f"ALB {inp.load_balancer_id} has no listener on port "
                           f"{inp.listener_port}; run enable_mutual_auth first", field="listener_port")
    expected = len(inp.server_group.servers)
    state, health = _wait_health(ctx, listener, expected)
    ctx.logger.info("listener health", extra={"state": state, "attempt": attempt,
                                               "non_normal": len(health.non_normal)})
    if state == "unhealthy" and attempt >= UNHEALTHY_MAX_ATTEMPTS:
        raise AlbMtlsError(Code.HEALTH_CHECK_FAILED, f"listener {listener.id} (port {inp.listener_port}): backends "
                           f"not healthy after {attempt} checks: {_names(health.non_normal)}; check that they run "
                           f"and answer {inp.server_group.health_check.method} {inp.server_group.health_check.path} "
                           "with an expected code, and that security groups allow the ALB")
    if state != "healthy":
        return {"status": "pending", "writes": 0, "attempt": attempt, "health": health, "probe": None}

    # (b) the live probe
    servers = servers_f.result()
    if not servers:
        raise AlbMtlsError(Code.PROBE_FAILED, f"no name server of {inp.domain} could be resolved to ask for "
                           f"{inp.fqdn}")
    ip, chain = probe.resolve_address([s.address for s in servers], inp.fqdn)
    port = inp.listener_port + int(getattr(ctx.settings, "dataplane_port_offset", 0) or 0)
    ca_file = getattr(ctx.settings, "probe_ca_file", None)
    pfx, password = pfx_f.result()
    with_cert = probe.client_context_from_pfx(ca_file, pfx, password)
    not_before, not_after = _leaf_validity(pfx, password)
    del pfx, password
    result, outcomes = probe.run_probe(ip, port, inp.fqdn, with_cert=with_cert, ca_file=ca_file,
                                       requests=inp.probe_requests, public_port=inp.listener_port)
    healthy_backends = sum(1 for b in health.backends if b.status == "Healthy")
    problems = probe.judge(result, outcomes, expected_backends=healthy_backends)
    ctx.logger.info("probe", extra={"ip": ip, "port": port, "chain": chain,
                                    "backends": result.with_certificate.backends, "problems": len(problems)})
    now = ctx.clock.now()
    if problems and not not_before <= now <= not_after:
        # the listener checks validity at the cloud's time and just closes the connection
        # (a bare "RemoteDisconnected" to the client): say why
        problems.insert(0, f"the client certificate of {cn!r} is valid from {iso_utc(not_before)} to "
                           f"{iso_utc(not_after)}, not at the cloud's time {iso_utc(now)}, so the listener refuses it "
                           "(was the local cloud's clock moved? `albmtls clock show`)")
    if problems:
        raise AlbMtlsError(Code.PROBE_FAILED, f"https://{inp.fqdn}:{inp.listener_port}/ (via {ip}:{port}, client "
                           f"{cn!r}): " + "; ".join(problems))
    return {"status": "ok", "writes": 0, "attempt": attempt, "health": health, "probe": result}


def _leaf_validity(pfx: bytes, password: str) -> tuple[datetime, datetime]:
    """``(notBefore, notAfter)`` of the PFX's certificate (its key is loaded and dropped here)."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    _, leaf, _ = pkcs12.load_key_and_certificates(pfx, password.encode())
    assert leaf is not None
    return leaf.not_valid_before_utc, leaf.not_valid_after_utc


def _zone_info(ctx: StepContext, inp: ProvisionInput) -> Any:
    if ctx.settings.dns_server_address() is not None:
        return None
    from shared.adapters import alidns

    return ctx.adapter(alidns.Alidns).describe_domain_info(inp.domain)

"""ALB 2020-06-16 adapter (``alibabacloud_alb20200616``; docs/ALIBABA-APIS.md §1).

Reads return frozen dataclasses built from the response body's wire-name map; list calls follow
``NextToken`` to the last page. Writes are asynchronous on the real service: they return the
``JobId`` (poll :func:`get_listener` / :func:`get_server_group` / :func:`list_asyn_jobs`). Every
write takes ``client_token`` (≤ 64 ASCII chars, from the step's ``ctx.client_token(...)``) and ``dry_run``;
a passing dry run (the API answers ``DryRunOperation``) returns ``None``.

Errors: whatever the call policy raises — :class:`~shared.core.errors.AlbMtlsError` mapped from the cloud
code (``ResourceNotFound.LoadBalancer`` → ``LOAD_BALANCER_NOT_FOUND``, ``ResourceNotFound.Listener``
→ ``LISTENER_NOT_FOUND``, others keep ``err.cloud_code``), :class:`~shared.core.errors.TransientError`
when busy/throttled past the deadline (``IncorrectStatus.*`` are retried inside the call policy).

One module (~510 lines): one class over the ALB actions this automation calls, and their records.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Any

from shared.adapters.base import Adapter
from shared.core.errors import AlbMtlsError
from shared.policy.listener import CLIENT_CERT_XFF_FIELDS, MTLS_EDITIONS

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterator, Mapping, Sequence

    from shared.policy.contracts import HealthCheckSpec, ServerSpec

__all__ = [
    "Alb", "LoadBalancer", "Listener", "ServerGroup", "BackendServer", "AsynJob", "NonNormalServer",
    "ServerGroupHealth", "CLIENT_CERT_XFF_FIELDS", "MTLS_EDITIONS", "server_type_of",
    "is_dry_run_passed",
]


_PAGE = 100          # MaxResults for list calls (1-100)
_HEALTH_PAGE = 30    # GetListenerHealthStatus allows 1-30


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LoadBalancer:
    """``GetLoadBalancerAttribute``: ``edition`` (``Basic``/``Standard``/``StandardWithWaf``),
    ``dns_name`` (the CNAME target), ``vpc_id``, ``status`` (``Active`` …), ``business_status``
    (``Normal``/``Abnormal``), ``locks`` (``LoadBalancerOperationLocks[].LockType``)."""

    id: str
    edition: str
    dns_name: str
    vpc_id: str
    status: str
    business_status: str | None = None
    locks: tuple[str, ...] = ()

    @property
    def supports_mtls(self) -> bool:
        """True for the ``Standard`` and ``StandardWithWaf`` editions."""
        return self.edition in MTLS_EDITIONS


@dataclass(frozen=True, slots=True)
class Listener:
    """A listener. From ``ListListeners`` the CA fields are unknown (``ca_enabled is None``,
    ``detailed`` false); from ``GetListenerAttribute`` everything is filled.

    ``certificate_ids``: default server certificate(s) (``<CertId>-<site region>``);
    ``ca_certificate_ids``: ``CaCertificates[].CertificateId``; ``server_group_ids``: the
    ``ForwardGroup`` targets of ``DefaultActions``; ``xff``: ``XForwardedForConfig`` as
    ``((wire name, value), …)`` (see :attr:`xff_dict`)."""

    id: str
    load_balancer_id: str
    port: int
    protocol: str
    status: str
    security_policy_id: str | None = None
    ca_enabled: bool | None = None
    ca_certificate_ids: tuple[str, ...] = ()
    certificate_ids: tuple[str, ...] = ()
    server_group_ids: tuple[str, ...] = ()
    xff: tuple[tuple[str, Any], ...] = ()
    detailed: bool = False

    @property
    def xff_dict(self) -> dict[str, Any]:
        """``XForwardedForConfig`` as a dict of wire names."""
        return dict(self.xff)

    @property
    def client_cert_headers(self) -> bool:
        """True when all four ``XForwardedForClientCert*Enabled`` switches are on."""
        d = self.xff_dict
        return all(bool(d.get(f)) for f in CLIENT_CERT_XFF_FIELDS)


@dataclass(frozen=True, slots=True)
class ServerGroup:
    """``ListServerGroups`` item: ``status`` ``Creating``/``Available``/``Configuring``."""

    id: str
    name: str
    vpc_id: str | None
    status: str
    protocol: str | None = None
    type: str | None = None
    server_count: int | None = None


@dataclass(frozen=True, slots=True)
class BackendServer:
    """``ListServerGroupServers`` item; ``status`` is membership (``Adding``/``Available``/…), not health."""

    server_id: str
    port: int | None
    weight: int | None
    status: str | None
    server_type: str | None = None
    server_ip: str | None = None


@dataclass(frozen=True, slots=True)
class AsynJob:
    """``ListAsynJobs`` item: ``status`` ``Processing``/``Succeeded``/``Failed``."""

    id: str
    api_name: str | None
    resource_id: str | None
    status: str
    error_code: str | None = None
    error_message: str | None = None


@dataclass(frozen=True, slots=True)
class NonNormalServer:
    """A backend that is not healthy (``Initial``/``Unhealthy``/``Unused``/``Unavailable``)."""

    server_id: str
    port: int | None
    status: str
    server_ip: str | None = None
    reason_code: str | None = None
    expected_response: str | None = None
    actual_response: str | None = None


@dataclass(frozen=True, slots=True)
class ServerGroupHealth:
    """One server group of ``GetListenerHealthStatus`` (all pages merged)."""

    server_group_id: str
    server_count: int
    health_check_enabled: bool
    non_normal: tuple[NonNormalServer, ...] = field(default=())


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _models() -> Any:
    from alibabacloud_alb20200616 import models

    return models


def _body(resp: Any) -> dict[str, Any]:
    body = getattr(resp, "body", None)
    return body.to_map() if body is not None else {}


def is_dry_run_passed(err: AlbMtlsError) -> bool:
    """True for the ``DryRunOperation`` answer (a dry run that passed)."""
    return err.cloud_code == "DryRunOperation"


def _bool(v: Any) -> bool | None:
    if v is None:
        return None
    if isinstance(v, str):
        return v.strip().lower() == "true"
    return bool(v)


def _int(v: Any) -> int | None:
    try:
        return int(v) if v is not None and v != "" else None
    except (TypeError, ValueError):
        return None


def _listener(d: Mapping[str, Any], detailed: bool) -> Listener:
    groups: list[str] = []
    for a in d.get("DefaultActions") or []:
        for t in ((a.get("ForwardGroupConfig") or {}).get("ServerGroupTuples") or []):
            sid = t.get("ServerGroupId")
            if sid and sid not in groups:
                groups.append(sid)
    xff = d.get("XForwardedForConfig") or {}
    return Listener(
        id=d.get("ListenerId") or "", load_balancer_id=d.get("LoadBalancerId") or "",
        port=_int(d.get("ListenerPort")) or 0, protocol=d.get("ListenerProtocol") or "",
        status=d.get("ListenerStatus") or "", security_policy_id=d.get("SecurityPolicyId") or None,
        ca_enabled=_bool(d.get("CaEnabled")) if detailed else None,
        ca_certificate_ids=tuple(c.get("CertificateId") for c in d.get("CaCertificates") or []
                                 if c.get("CertificateId")),
        certificate_ids=tuple(c.get("CertificateId") for c in d.get("Certificates") or [] if c.get("CertificateId")),
        server_group_ids=tuple(groups), xff=tuple(sorted(xff.items())), detailed=detailed)


def _server_group(d: Mapping[str, Any]) -> ServerGroup:
    return ServerGroup(id=d.get("ServerGroupId") or "", name=d.get("ServerGroupName") or "",
                       vpc_id=d.get("VpcId") or None, status=d.get("ServerGroupStatus") or "",
                       protocol=d.get("Protocol"), type=d.get("ServerGroupType"),
                       server_count=_int(d.get("ServerCount")))


def server_type_of(server_id: str) -> str:
    """``ServerType`` for an id: ``eni-…`` → ``Eni``, ``eci-…`` → ``Eci``, anything else (ECS
    ``i-…``) → ``Ecs`` (server groups of type ``Instance``)."""
    if server_id.startswith("eni-"):
        return "Eni"
    if server_id.startswith("eci-"):
        return "Eci"
    return "Ecs"


# ---------------------------------------------------------------------------------------------
# load balancers and listeners
# ---------------------------------------------------------------------------------------------


def _default_actions(server_group_id: str) -> list[dict[str, Any]]:
    return [{"Type": "ForwardGroup", "ForwardGroupConfig": {"ServerGroupTuples": [{"ServerGroupId": server_group_id}]}}]


# ---------------------------------------------------------------------------------------------
# server groups
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# security policies
# ---------------------------------------------------------------------------------------------


# ---------------------------------------------------------------------------------------------
# health and jobs
# ---------------------------------------------------------------------------------------------


class Alb(Adapter):
    """ALB 2020-06-16 (module doc)."""

    product = "alb"

    def _write(self, op: str, fn: Any, dry_run: bool) -> dict[str, Any] | None:
        try:
            return _body(self.call(op, fn))
        except AlbMtlsError as err:
            if dry_run and is_dry_run_passed(err):
                return None
            raise

    def _pages(self, op: str, make_request: Any, call: Any, items_key: str) -> Iterator[dict[str, Any]]:
        token: str | None = None
        seen: set[str] = set()
        while True:
            req = make_request(token)
            body = _body(self.call(op, partial(call, req)))
            yield from body.get(items_key) or []
            token = body.get("NextToken") or None
            if not token or token in seen:  # a repeated token would loop forever
                return
            seen.add(token)

    def get_load_balancer(self, load_balancer_id: str) -> LoadBalancer:
        """``GetLoadBalancerAttribute``. Raises ``LOAD_BALANCER_NOT_FOUND`` when it does not exist."""
        m = _models()
        req = m.GetLoadBalancerAttributeRequest(load_balancer_id=load_balancer_id)
        d = _body(self.call("alb:GetLoadBalancerAttribute",
                           lambda: self.client.get_load_balancer_attribute(req)))
        return LoadBalancer(
            id=d.get("LoadBalancerId") or load_balancer_id, edition=d.get("LoadBalancerEdition") or "",
            dns_name=d.get("DNSName") or "", vpc_id=d.get("VpcId") or "", status=d.get("LoadBalancerStatus") or "",
            business_status=d.get("LoadBalancerBussinessStatus"),
            locks=tuple(lk.get("LockType") or "" for lk in d.get("LoadBalancerOperationLocks") or []))

    def list_listeners(self, load_balancer_id: str) -> list[Listener]:
        """``ListListeners(LoadBalancerIds=[id])``, all pages, every protocol. The items have no CA
        fields (``detailed`` false): call :func:`get_listener` for those."""
        m = _models()
        client = self.client
        return [_listener(d, detailed=False) for d in self._pages("alb:ListListeners",
            lambda tok: m.ListListenersRequest(load_balancer_ids=[load_balancer_id], max_results=_PAGE, next_token=tok),
            client.list_listeners, "Listeners")]

    def find_listener_on_port(self, load_balancer_id: str, port: int) -> Listener | None:
        """The listener (any protocol) on ``port`` of the ALB, read in full with ``GetListenerAttribute``,
        or ``None`` when the port is free (ports are unique per ALB across protocols, docs/ALIBABA-APIS.md §1.2)."""
        for lst in self.list_listeners(load_balancer_id):
            if lst.port == port:
                return self.get_listener(lst.id)
        return None

    def listener_on_port(self, load_balancer_id: str, port: int) -> Listener | None:
        """The listener on ``port`` as ``ListListeners`` lists it (id, status, server groups; no
        ``CaEnabled``), or ``None``: one read where :meth:`find_listener_on_port` makes two."""
        return next((lst for lst in self.list_listeners(load_balancer_id) if lst.port == port), None)

    def get_listener(self, listener_id: str) -> Listener:
        """``GetListenerAttribute`` (with ``CaEnabled``, ``CaCertificates``, ``Certificates``).
        Raises ``LISTENER_NOT_FOUND``."""
        m = _models()
        req = m.GetListenerAttributeRequest(listener_id=listener_id)
        d = _body(self.call("alb:GetListenerAttribute",
                           lambda: self.client.get_listener_attribute(req)))
        return _listener(d, detailed=True)

    def create_listener(self, *, load_balancer_id: str, port: int, server_certificate_id: str,
                        ca_certificate_id: str | None, security_policy_id: str, server_group_id: str,
                        xff: Mapping[str, Any] | None = None, client_token: str | None = None,
                        dry_run: bool = False) -> tuple[str, str] | None:
        """``CreateListener``: an HTTPS listener on ``port`` with the default server certificate
        ``server_certificate_id`` (``<CertId>-<site region>``), mutual authentication on with
        ``ca_certificate_id`` when given (``CaEnabled=true``, one ``CaCertificates``), the TLS
        ``security_policy_id``, a ``ForwardGroup`` default action to ``server_group_id`` and the
        ``XForwardedForConfig`` fields in ``xff`` (wire names).

        Returns ``(ListenerId, JobId)``, or ``None`` for a passing dry run. Raises on
        ``ResourceAlreadyExist.Listener`` (port taken), ``ResourceNotFound.Certificate``, ``VpcNotMatch``,
        ``OperationDenied.*`` (edition) … as ``AlbMtlsError`` with ``cloud_code``.
        """
        m = _models()
        wire: dict[str, Any] = {
            "LoadBalancerId": load_balancer_id, "ListenerProtocol": "HTTPS", "ListenerPort": port,
            "Certificates": [{"CertificateId": server_certificate_id}], "SecurityPolicyId": security_policy_id,
            "DefaultActions": _default_actions(server_group_id), "DryRun": dry_run,
        }
        if ca_certificate_id:
            wire.update(CaEnabled=True, CaCertificates=[{"CertificateId": ca_certificate_id}])
        if xff:
            wire["XForwardedForConfig"] = dict(xff)
        if client_token:
            wire["ClientToken"] = client_token
        req = m.CreateListenerRequest().from_map(wire)
        d = self._write("alb:CreateListener", lambda: self.client.create_listener(req), dry_run)
        return None if d is None else (d.get("ListenerId") or "", d.get("JobId") or "")

    def update_listener(self, listener_id: str, *, ca_enabled: bool | None = None,
                        ca_certificate_id: str | None = None, server_certificate_id: str | None = None,
                        security_policy_id: str | None = None, server_group_id: str | None = None,
                        xff: Mapping[str, Any] | None = None, client_token: str | None = None,
                        dry_run: bool = False) -> str | None:
        """``UpdateListenerAttribute`` with only the given fields (omitted ones stay unchanged).

        Returns the ``JobId``, or ``None`` for a passing dry run. ``IncorrectStatus.Listener`` (the
        listener is still ``Configuring``) is retried by the call policy within the deadline.
        """
        m = _models()
        wire: dict[str, Any] = {"ListenerId": listener_id, "DryRun": dry_run}
        if ca_enabled is not None:
            wire["CaEnabled"] = ca_enabled
        if ca_certificate_id:
            wire["CaCertificates"] = [{"CertificateId": ca_certificate_id}]
        if server_certificate_id:
            wire["Certificates"] = [{"CertificateId": server_certificate_id}]
        if security_policy_id:
            wire["SecurityPolicyId"] = security_policy_id
        if server_group_id:
            wire["DefaultActions"] = _default_actions(server_group_id)
        if xff:
            wire["XForwardedForConfig"] = dict(xff)
        if client_token:
            wire["ClientToken"] = client_token
        req = m.UpdateListenerAttributeRequest().from_map(wire)
        d = self._write("alb:UpdateListenerAttribute", lambda: self.client.update_listener_attribute(req), dry_run)
        return None if d is None else (d.get("JobId") or "")

    def list_server_groups(self, *, names: Sequence[str] = (), ids: Sequence[str] = (),
                           vpc_id: str | None = None) -> list[ServerGroup]:
        """``ListServerGroups`` filtered by ``ServerGroupNames`` (≤ 10), ``ServerGroupIds`` and
        ``VpcId``, all pages."""
        m = _models()
        client = self.client
        return [_server_group(d) for d in self._pages("alb:ListServerGroups",
            lambda tok: m.ListServerGroupsRequest(server_group_names=list(names) or None,
                                                  server_group_ids=list(ids) or None, vpc_id=vpc_id,
                                                  max_results=_PAGE, next_token=tok),
            client.list_server_groups, "ServerGroups")]

    def get_server_group(self, server_group_id: str) -> ServerGroup | None:
        """The server group with this id (``ListServerGroups(ServerGroupIds=[id])``) or ``None``."""
        found = [g for g in self.list_server_groups(ids=[server_group_id]) if g.id == server_group_id]
        return found[0] if found else None

    def create_server_group(self, *, name: str, vpc_id: str, protocol: str, health_check: HealthCheckSpec,
                            client_token: str | None = None, dry_run: bool = False) -> tuple[str, str] | None:
        """``CreateServerGroup`` of type ``Instance`` in ``vpc_id`` with backend ``protocol``
        (``HTTP``/``HTTPS``/``gRPC``) and the health check (``HealthCheckEnabled=true``, protocol
        ``HTTPS`` for HTTPS backends, else ``HTTP``; path, method, codes, interval/timeout in seconds,
        thresholds). Returns ``(ServerGroupId, JobId)`` or ``None`` for a passing dry run."""
        m = _models()
        hc = health_check
        wire: dict[str, Any] = {
            "ServerGroupName": name, "ServerGroupType": "Instance", "VpcId": vpc_id, "Protocol": protocol,
            "HealthCheckConfig": {
                "HealthCheckEnabled": True, "HealthCheckProtocol": "HTTPS" if protocol == "HTTPS" else "HTTP",
                "HealthCheckPath": hc.path, "HealthCheckMethod": hc.method, "HealthCheckCodes": list(hc.codes),
                "HealthCheckInterval": hc.interval, "HealthCheckTimeout": hc.timeout,
                "HealthyThreshold": hc.healthy_threshold, "UnhealthyThreshold": hc.unhealthy_threshold,
            },
            "DryRun": dry_run,
        }
        if client_token:
            wire["ClientToken"] = client_token
        req = m.CreateServerGroupRequest().from_map(wire)
        d = self._write("alb:CreateServerGroup", lambda: self.client.create_server_group(req), dry_run)
        return None if d is None else (d.get("ServerGroupId") or "", d.get("JobId") or "")

    def list_server_group_servers(self, server_group_id: str) -> list[BackendServer]:
        """``ListServerGroupServers(ServerGroupId)``, all pages."""
        m = _models()
        client = self.client
        out = []
        for d in self._pages("alb:ListServerGroupServers",
                        lambda tok: m.ListServerGroupServersRequest(server_group_id=server_group_id, max_results=_PAGE,
                                                                    next_token=tok),
                        client.list_server_group_servers, "Servers"):
            out.append(BackendServer(server_id=d.get("ServerId") or "", port=_int(d.get("Port")),
                                     weight=_int(d.get("Weight")), status=d.get("Status"),
                                     server_type=d.get("ServerType"), server_ip=d.get("ServerIp")))
        return out

    def add_servers(self, server_group_id: str, servers: Sequence[ServerSpec], *,
                    client_token: str | None = None, dry_run: bool = False) -> str | None:
        """``AddServersToServerGroup`` (≤ 200 servers; ``ServerType`` from :func:`server_type_of`,
        ``Port``, ``Weight``). Returns the ``JobId`` or ``None`` for a passing dry run. Raises with
        ``cloud_code`` e.g. ``VpcNotMatch.BackendServer``, ``ResourceNotFound.BackendServer``,
        ``ResourceAlreadyExist.BackendServer``."""
        m = _models()
        wire: dict[str, Any] = {
            "ServerGroupId": server_group_id, "DryRun": dry_run,
            "Servers": [{"ServerType": server_type_of(s.server_id), "ServerId": s.server_id, "Port": s.port,
                         "Weight": s.weight} for s in servers],
        }
        if client_token:
            wire["ClientToken"] = client_token
        req = m.AddServersToServerGroupRequest().from_map(wire)
        d = self._write("alb:AddServersToServerGroup", lambda: self.client.add_servers_to_server_group(req),
                   dry_run)
        return None if d is None else (d.get("JobId") or "")

    def remove_servers(self, server_group_id: str, servers: Sequence[tuple[str, int]], *,
                       client_token: str | None = None, dry_run: bool = False) -> str | None:
        """``RemoveServersFromServerGroup`` of the members ``(server id, port)`` (``ServerType`` from
        :func:`server_type_of`). Returns the ``JobId`` or ``None`` for a passing dry run."""
        m = _models()
        wire: dict[str, Any] = {
            "ServerGroupId": server_group_id, "DryRun": dry_run,
            "Servers": [{"ServerType": server_type_of(sid), "ServerId": sid, "Port": port} for sid, port in servers],
        }
        if client_token:
            wire["ClientToken"] = client_token
        req = m.RemoveServersFromServerGroupRequest().from_map(wire)
        d = self._write("alb:RemoveServersFromServerGroup",
                        lambda: self.client.remove_servers_from_server_group(req), dry_run)
        return None if d is None else (d.get("JobId") or "")

    def update_server_weights(self, server_group_id: str, servers: Sequence[ServerSpec], *,
                              client_token: str | None = None, dry_run: bool = False) -> str | None:
        """``UpdateServerGroupServersAttribute``: each member's ``Weight`` as in ``servers``. Returns
        the ``JobId`` or ``None`` for a passing dry run."""
        m = _models()
        wire: dict[str, Any] = {
            "ServerGroupId": server_group_id, "DryRun": dry_run,
            "Servers": [{"ServerType": server_type_of(s.server_id), "ServerId": s.server_id, "Port": s.port,
                         "Weight": s.weight} for s in servers],
        }
        if client_token:
            wire["ClientToken"] = client_token
        req = m.UpdateServerGroupServersAttributeRequest().from_map(wire)
        d = self._write("alb:UpdateServerGroupServersAttribute",
                        lambda: self.client.update_server_group_servers_attribute(req), dry_run)
        return None if d is None else (d.get("JobId") or "")

    def list_system_security_policy_ids(self) -> list[str]:
        """``ListSystemSecurityPolicies`` (no parameters, no paging) → the system policy ids."""
        body = _body(self.call("alb:ListSystemSecurityPolicies",
                              lambda: self.client.list_system_security_policies()))
        return [p.get("SecurityPolicyId") for p in body.get("SecurityPolicies") or [] if p.get("SecurityPolicyId")]

    def security_policy_exists(self, policy_id: str) -> bool:
        """True when ``policy_id`` is a system policy (``ListSystemSecurityPolicies``) or a custom one
        of the account (``ListSecurityPolicies(SecurityPolicyIds=[id])``)."""
        if policy_id in self.list_system_security_policy_ids():
            return True
        m = _models()
        req = m.ListSecurityPoliciesRequest(security_policy_ids=[policy_id], max_results=_PAGE)
        try:
            body = _body(self.call("alb:ListSecurityPolicies",
                                  lambda: self.client.list_security_policies(req)))
        except AlbMtlsError as err:
            if err.is_not_found or err.cloud_code in ("InvalidAction", "InvalidAction.NotFound"):
                return False
            raise
        return any(p.get("SecurityPolicyId") == policy_id for p in body.get("SecurityPolicies") or [])

    def get_listener_health(self, listener_id: str) -> list[ServerGroupHealth]:
        """``GetListenerHealthStatus`` over all pages (30 per page), merged per server group. Only
        abnormal backends are listed (``non_normal``); healthy = none listed and ``server_count`` as
        expected."""
        m = _models()
        client = self.client
        groups: dict[str, dict[str, Any]] = {}
        token: str | None = None
        seen: set[str] = set()
        while True:
            req = m.GetListenerHealthStatusRequest(listener_id=listener_id, max_results=_HEALTH_PAGE, next_token=token)
            body = _body(self.call("alb:GetListenerHealthStatus",
                                   partial(client.get_listener_health_status, req)))
            for lst in body.get("ListenerHealthStatus") or []:
                for g in lst.get("ServerGroupInfos") or []:
                    gid = g.get("ServerGroupId") or ""
                    enabled = str(g.get("HealthCheckEnabled", "on")).lower() in ("on", "true")
                    acc = groups.setdefault(gid, {"count": _int(g.get("ServerCount")) or 0, "enabled": enabled,
                                                  "servers": []})
                    for s in g.get("NonNormalServers") or []:
                        reason = s.get("Reason") or {}
                        acc["servers"].append(NonNormalServer(
                            server_id=s.get("ServerId") or "", port=_int(s.get("Port")), status=s.get("Status") or "",
                            server_ip=s.get("ServerIp"), reason_code=reason.get("ReasonCode"),
                            expected_response=reason.get("ExpectedResponse"),
                            actual_response=reason.get("ActualResponse")))
            token = body.get("NextToken") or None
            if not token or token in seen:
                break
            seen.add(token)
        return [ServerGroupHealth(server_group_id=gid, server_count=v["count"], health_check_enabled=v["enabled"],
                                  non_normal=tuple(v["servers"])) for gid, v in groups.items()]

    def list_asyn_jobs(self, *, job_ids: Sequence[str] = (), resource_ids: Sequence[str] = (),
                       api_name: str | None = None) -> list[AsynJob]:
        """``ListAsynJobs`` filtered by ``JobIds``/``ResourceIds``/``ApiName``, all pages."""
        m = _models()
        client = self.client
        out = []
        for d in self._pages("alb:ListAsynJobs",
                        lambda tok: m.ListAsynJobsRequest(job_ids=list(job_ids) or None,
                                                          resource_ids=list(resource_ids) or None, api_name=api_name,
                                                          max_results=_PAGE, next_token=tok),
                        client.list_asyn_jobs, "Jobs"):
            out.append(AsynJob(id=d.get("Id") or "", api_name=d.get("ApiName"), resource_id=d.get("ResourceId"),
                               status=d.get("Status") or "", error_code=d.get("ErrorCode"),
                               error_message=d.get("ErrorMessage")))
        return out

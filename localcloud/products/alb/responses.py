"""The ALB (2020-06-16) actions: typed parameters (``params``) → ``models`` → SDK-shaped bodies."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alibabacloud_alb20200616 import models as m

from ... import errors
from ...registry import Ctx, action, shape
from . import models, params
from .models import (
    PROTOCOLS,
    SYSTEM_SECURITY_POLICIES,
    VERSION,
    job_view,
    listener_server_group_ids,
    listener_view,
    server_group_view,
    tag_filter,
)

if TYPE_CHECKING:
    from ...protocol import Params


# -- load balancers ----------------------------------------------------------------------------
@action("alb", VERSION, "GetLoadBalancerAttribute")
def get_load_balancer_attribute(ctx: Ctx, p: Params) -> dict[str, Any]:
    doc = models.load_balancer(ctx.cloud, p.str("LoadBalancerId", required=True))
    return shape(m.GetLoadBalancerAttributeResponseBody, doc)


@action("alb", VERSION, "ListLoadBalancers")
def list_load_balancers(ctx: Ctx, p: Params) -> dict[str, Any]:
    ids = params.str_list(p, "LoadBalancerIds", 20)
    names = params.str_list(p, "LoadBalancerNames", 10)
    vpcs = params.str_list(p, "VpcIds", 10)
    addr = p.str("AddressType", enum=("Internet", "Intranet"))
    status = p.str("LoadBalancerStatus", enum=("Inactive", "Active", "Provisioning", "Configuring", "CreateFailed"))
    bstatus = p.str("LoadBalancerBussinessStatus", enum=("Normal", "Abnormal"))
    dns = p.str("DNSName")
    zone = p.str("ZoneId")
    tags = params.tags(p)
    docs = ctx.store.list("alb.loadbalancer")
    docs = [d for d in docs if (not ids or d["LoadBalancerId"] in ids)
            and (not names or d.get("LoadBalancerName") in names)
            and (not vpcs or d.get("VpcId") in vpcs)
            and (not addr or d.get("AddressType") == addr)
            and (not status or d.get("LoadBalancerStatus") == status)
            and (not bstatus or d.get("LoadBalancerBussinessStatus") == bstatus)
            and (not dns or d.get("DNSName") == dns)
            and (not zone or any(z.get("ZoneId") == zone for z in d.get("ZoneMappings") or []))]
    docs = tag_filter(docs, tags)
    page, meta = params.page(p, docs)
    return shape(m.ListLoadBalancersResponseBody, {"LoadBalancers": page, **meta})


# -- listeners ---------------------------------------------------------------------------------
@action("alb", VERSION, "CreateListener", write=True, idempotent_token=True)
def create_listener(ctx: Ctx, p: Params) -> dict[str, Any]:
    lb_id = p.str("LoadBalancerId", required=True)
    protocol = p.str("ListenerProtocol", required=True, enum=PROTOCOLS)
    port = p.int("ListenerPort", required=True, min=1, max=65535)
    dry = p.bool("DryRun", default=False)
    lb = models.load_balancer(ctx.cloud, lb_id)
    common = params.common(p)
    xff = params.xff(p)
    tags = params.tags(p)
    ca_enabled = p.bool("CaEnabled", default=False)
    default_actions = params.default_actions(ctx.cloud, p, lb, required=True)
    certs = params.server_certs(ctx.cloud, p) if protocol in ("HTTPS", "QUIC") else None
    if protocol in ("HTTPS", "QUIC") and not certs:
        raise errors.MissingParameter("Certificates.1.CertificateId")
    ca_certs = params.ca_certs(ctx.cloud, p) or []
    if ca_certs and protocol != "HTTPS":
        raise errors.InvalidParameter("CaCertificates", "CA certificates are supported only by HTTPS listeners.")
    job_id, listener_id = models.create_listener(
        ctx.cloud, lb, protocol=protocol, port=port, dry=dry, common=common, xff=xff, tags=tags,
        ca_enabled=ca_enabled, default_actions=default_actions, certs=certs, ca_certs=ca_certs)
    return shape(m.CreateListenerResponseBody, {"JobId": job_id, "ListenerId": listener_id})


@action("alb", VERSION, "UpdateListenerAttribute", write=True, idempotent_token=True)
def update_listener_attribute(ctx: Ctx, p: Params) -> dict[str, Any]:
    listener_id = p.str("ListenerId", required=True)
    dry = p.bool("DryRun", default=False)
    doc = models.listener(ctx.cloud, listener_id)
    lb = models.load_balancer(ctx.cloud, doc["LoadBalancerId"])
    protocol = doc["ListenerProtocol"]
    common = params.common(p)
    xff = params.xff(p)
    ca_enabled = p.bool("CaEnabled")
    default_actions = params.default_actions(ctx.cloud, p, lb, required=False)
    certs = params.server_certs(ctx.cloud, p) if protocol in ("HTTPS", "QUIC") else None
    ca_certs = params.ca_certs(ctx.cloud, p)
    if ca_certs and protocol != "HTTPS":
        raise errors.InvalidParameter("CaCertificates", "CA certificates are supported only by HTTPS listeners.")
    job_id = models.update_listener(ctx.cloud, doc, lb, dry=dry, common=common, xff=xff, ca_enabled=ca_enabled,
                                    default_actions=default_actions, certs=certs, ca_certs=ca_certs)
    return shape(m.UpdateListenerAttributeResponseBody, {"JobId": job_id})


def _start_stop(p: Params, ctx: Ctx, api: str, want_from: str, to: str, body_model: type) -> dict[str, Any]:
    listener_id = p.str("ListenerId", required=True)
    dry = p.bool("DryRun", default=False)
    return shape(body_model, {"JobId": models.start_stop(ctx.cloud, listener_id, api, want_from, to, dry)})


@action("alb", VERSION, "StartListener", write=True, idempotent_token=True)
def start_listener(ctx: Ctx, p: Params) -> dict[str, Any]:
    return _start_stop(p, ctx, "StartListener", "Stopped", "Running", m.StartListenerResponseBody)


@action("alb", VERSION, "StopListener", write=True, idempotent_token=True)
def stop_listener(ctx: Ctx, p: Params) -> dict[str, Any]:
    return _start_stop(p, ctx, "StopListener", "Running", "Stopped", m.StopListenerResponseBody)


@action("alb", VERSION, "GetListenerAttribute")
def get_listener_attribute(ctx: Ctx, p: Params) -> dict[str, Any]:
    doc = models.listener(ctx.cloud, p.str("ListenerId", required=True))
    return shape(m.GetListenerAttributeResponseBody, listener_view(doc, ctx.clock.time()))


@action("alb", VERSION, "ListListeners")
def list_listeners_action(ctx: Ctx, p: Params) -> dict[str, Any]:
    lb_ids = params.str_list(p, "LoadBalancerIds", 20)
    ids = params.str_list(p, "ListenerIds", 20)
    protocol = p.str("ListenerProtocol", enum=PROTOCOLS)
    tags = params.tags(p)
    now = ctx.clock.time()
    if lb_ids:
        docs = [d for lb in lb_ids for d in ctx.store.list("alb.listener", key2=lb)]
    else:
        docs = ctx.store.list("alb.listener")
    docs = [d for d in docs if (not ids or d["ListenerId"] in ids)
            and (not protocol or d["ListenerProtocol"] == protocol)]
    docs = tag_filter(docs, tags)
    page, meta = params.page(p, docs)
    return shape(m.ListListenersResponseBody, {"Listeners": [listener_view(d, now) for d in page], **meta})


@action("alb", VERSION, "ListListenerCertificates")
def list_listener_certificates(ctx: Ctx, p: Params) -> dict[str, Any]:
    doc = models.listener(ctx.cloud, p.str("ListenerId", required=True))
    ctype = p.str("CertificateType", enum=("Ca", "Server"))
    ids = params.str_list(p, "CertificateIds")
    v = listener_view(doc, ctx.clock.time())
    items = [{"CertificateId": c["CertificateId"], "CertificateType": "Server", "IsDefault": True,
              "Status": c["Status"]} for c in v.get("Certificates") or []]
    items += [{"CertificateId": c["CertificateId"], "CertificateType": "Ca",
               "IsDefault": bool(c.get("IsDefault", True)),
               "Status": c["Status"]} for c in v.get("CaCertificates") or []]
    items = [c for c in items if (not ctype or c["CertificateType"] == ctype)
             and (not ids or c["CertificateId"] in ids)]
    page, meta = params.page(p, items)
    return shape(m.ListListenerCertificatesResponseBody, {"Certificates": page, **meta})


@action("alb", VERSION, "GetListenerHealthStatus")
def get_listener_health_status(ctx: Ctx, p: Params) -> dict[str, Any]:
    doc = models.listener(ctx.cloud, p.str("ListenerId", required=True))
    include_rule = p.bool("IncludeRule", default=False)
    groups: list[dict[str, Any]] = []
    flat: list[tuple[str, dict[str, Any]]] = []
    for sg_id in listener_server_group_ids(doc):
        sg = ctx.store.get("alb.servergroup", sg_id)
        if sg is None:
            continue
        hc_on = bool((sg.get("HealthCheckConfig") or {}).get("HealthCheckEnabled", True))
        groups.append({"ServerGroupId": sg_id, "ActionType": "ForwardGroup",
                       "HealthCheckEnabled": "on" if hc_on else "off",
                       "ServerCount": len(sg.get("Servers") or []), "NonNormalServers": []})
        for srv in sg.get("Servers") or []:
            entry = models.health_entry(ctx.cloud, sg, srv)
            if entry is not None:
                flat.append((sg_id, entry))
    page, meta = params.page(p, flat, default=20, maximum=30)
    by_id = {g["ServerGroupId"]: g for g in groups}
    for sg_id, entry in page:
        by_id[sg_id]["NonNormalServers"].append(entry)
    body: dict[str, Any] = {
        "ListenerHealthStatus": [{"ListenerId": doc["ListenerId"], "ListenerPort": doc["ListenerPort"],
                                  "ListenerProtocol": doc["ListenerProtocol"], "ServerGroupInfos": groups}],
        "NextToken": meta.get("NextToken"),
    }
    if include_rule:
        body["RuleHealthStatus"] = []
    return shape(m.GetListenerHealthStatusResponseBody, body)


# -- server groups -----------------------------------------------------------------------------
@action("alb", VERSION, "CreateServerGroup", write=True, idempotent_token=True)
def create_server_group(ctx: Ctx, p: Params) -> dict[str, Any]:
    name = p.str("ServerGroupName", required=True, max_len=128)
    if len(name) < 2:
        raise errors.InvalidParameter("ServerGroupName", "2 to 128 characters.")
    sg_type = p.str("ServerGroupType", default="Instance", enum=("Instance", "Ip", "Fc"))
    vpc_id = p.str("VpcId", required=sg_type in ("Instance", "Ip"))
    protocol = p.str("Protocol", default="HTTP", enum=("HTTP", "HTTPS", "gRPC", "GRPC"))
    scheduler = p.str("Scheduler", default="Wrr", enum=("Wrr", "Wlc", "Sch", "Uch"))
    hc = params.health_check(p)
    sticky = params.sticky(p)
    cross_zone = p.bool("CrossZoneEnabled", default=True)
    keepalive = p.bool("UpstreamKeepaliveEnabled", default=False)
    ipv6 = p.bool("Ipv6Enabled", default=False)
    tags = params.tags(p)
    rg = p.str("ResourceGroupId")
    service = p.str("ServiceName")
    dry = p.bool("DryRun", default=False)
    job_id, sg_id = models.create_server_group(ctx.cloud, {
        "ServerGroupName": name, "ServerGroupType": sg_type, "VpcId": vpc_id, "Protocol": protocol,
        "Scheduler": scheduler, "HealthCheckConfig": hc, "StickySessionConfig": sticky, "CrossZoneEnabled": cross_zone,
        "UpstreamKeepaliveEnabled": keepalive, "Ipv6Enabled": ipv6, "ResourceGroupId": rg, "ServiceName": service,
        "Tags": tags}, dry=dry)
    return shape(m.CreateServerGroupResponseBody, {"JobId": job_id, "ServerGroupId": sg_id})


@action("alb", VERSION, "ListServerGroups")
def list_server_groups(ctx: Ctx, p: Params) -> dict[str, Any]:
    ids = params.str_list(p, "ServerGroupIds")
    names = params.str_list(p, "ServerGroupNames", 10)
    sg_type = p.str("ServerGroupType", enum=("Instance", "Ip", "Fc"))
    vpc = p.str("VpcId")
    rg = p.str("ResourceGroupId")
    tags = params.tags(p)
    docs = [d for d in ctx.store.list("alb.servergroup")
            if (not ids or d["ServerGroupId"] in ids) and (not names or d.get("ServerGroupName") in names)
            and (not sg_type or d.get("ServerGroupType") == sg_type) and (not vpc or d.get("VpcId") == vpc)
            and (not rg or d.get("ResourceGroupId") == rg)]
    docs = tag_filter(docs, tags)
    page, meta = params.page(p, docs)
    now = ctx.clock.time()
    rel = models.related_lbs(ctx.cloud)
    out = []
    for d in page:
        v = server_group_view(d, now)
        v["RelatedLoadBalancerIds"] = rel.get(d["ServerGroupId"], [])
        v.pop("Servers", None)
        out.append(v)
    return shape(m.ListServerGroupsResponseBody, {"ServerGroups": out, **meta})


_SERVER_TYPES = {"Instance": ("Ecs", "Eni", "Eci"), "Ip": ("Ip",), "Fc": ("Fc",)}


@action("alb", VERSION, "AddServersToServerGroup", write=True, idempotent_token=True)
def add_servers_to_server_group(ctx: Ctx, p: Params) -> dict[str, Any]:
    sg_id = p.str("ServerGroupId", required=True)
    dry = p.bool("DryRun", default=False)
    raw = params.items(p, "Servers", 200)
    if not raw:
        raise errors.MissingParameter("Servers")
    sg = models.server_group(ctx.cloud, sg_id)
    sg_type = sg.get("ServerGroupType", "Instance")
    existing = {(s["ServerId"], s.get("Port")) for s in sg.get("Servers") or []}
    servers = []
    for i, s in enumerate(raw, 1):
        pre = f"Servers.{i}"
        sp = params.sub(pre, s)
        stype = sp.str(f"{pre}.ServerType", required=True, enum=("Ecs", "Eni", "Eci", "Ip", "Fc"))
        sid = sp.str(f"{pre}.ServerId", required=True)
        port = sp.int(f"{pre}.Port", required=stype != "Fc", min=1, max=65535)
        weight = sp.int(f"{pre}.Weight", default=100, min=0, max=100)
        ip = sp.str(f"{pre}.ServerIp")
        desc = sp.str(f"{pre}.Description", max_len=256)
        remote_ip = sp.bool(f"{pre}.RemoteIpEnabled", default=False)
        if stype not in _SERVER_TYPES[sg_type]:
            accepted = ", ".join(_SERVER_TYPES[sg_type])
            raise errors.InvalidParameter(f"{pre}.ServerType", f"A server group of type {sg_type} accepts {accepted}.")
        ip = models.backend_ip(ctx.cloud, sg, stype, sid, ip)
        models.check_new_server(sg, existing, sid, port)
        srv = {"ServerId": sid, "ServerType": stype, "Port": port, "Weight": weight, "ServerIp": ip,
               "Description": desc, "RemoteIpEnabled": remote_ip, "Status": "Available"}
        servers.append({k: v for k, v in srv.items() if v is not None})
    job_id = models.add_servers(ctx.cloud, sg, servers, dry=dry)
    return shape(m.AddServersToServerGroupResponseBody, {"JobId": job_id})


def _member_items(p: Params, *, weights: bool) -> list[dict[str, Any]]:
    """The ``Servers.N`` of a members write: ``ServerId``, ``ServerType``, ``Port`` (not for ``Fc``),
    and with ``weights`` the optional ``Weight`` (0-100) and ``Description``."""
    raw = params.items(p, "Servers", 200)
    if not raw:
        raise errors.MissingParameter("Servers")
    out = []
    for i, s in enumerate(raw, 1):
        pre = f"Servers.{i}"
        sp = params.sub(pre, s)
        stype = sp.str(f"{pre}.ServerType", required=True, enum=("Ecs", "Eni", "Eci", "Ip", "Fc"))
        item: dict[str, Any] = {"ServerId": sp.str(f"{pre}.ServerId", required=True), "ServerType": stype,
                                "Port": sp.int(f"{pre}.Port", required=stype != "Fc", min=1, max=65535)}
        if weights:
            item["Weight"] = sp.int(f"{pre}.Weight", min=0, max=100)
            item["Description"] = sp.str(f"{pre}.Description", max_len=256)
        out.append(item)
    return out


@action("alb", VERSION, "RemoveServersFromServerGroup", write=True, idempotent_token=True)
def remove_servers_from_server_group(ctx: Ctx, p: Params) -> dict[str, Any]:
    sg = models.server_group(ctx.cloud, p.str("ServerGroupId", required=True))
    servers = [(s["ServerId"], s["Port"]) for s in _member_items(p, weights=False)]
    job_id = models.remove_servers(ctx.cloud, sg, servers, dry=p.bool("DryRun", default=False))
    return shape(m.RemoveServersFromServerGroupResponseBody, {"JobId": job_id})


@action("alb", VERSION, "UpdateServerGroupServersAttribute", write=True, idempotent_token=True)
def update_server_group_servers_attribute(ctx: Ctx, p: Params) -> dict[str, Any]:
    sg = models.server_group(ctx.cloud, p.str("ServerGroupId", required=True))
    job_id = models.update_servers(ctx.cloud, sg, _member_items(p, weights=True), dry=p.bool("DryRun", default=False))
    return shape(m.UpdateServerGroupServersAttributeResponseBody, {"JobId": job_id})


@action("alb", VERSION, "ListServerGroupServers")
def list_server_group_servers(ctx: Ctx, p: Params) -> dict[str, Any]:
    sg_id = p.str("ServerGroupId")
    ids = params.str_list(p, "ServerIds")
    tags = params.tags(p)
    now = ctx.clock.time()
    if sg_id:
        groups = [models.server_group(ctx.cloud, sg_id)]
    else:
        groups = tag_filter(ctx.store.list("alb.servergroup"), tags)
    items = [s for g in groups for s in server_group_view(g, now).get("Servers") or []
             if not ids or s["ServerId"] in ids]
    page, meta = params.page(p, items)
    return shape(m.ListServerGroupServersResponseBody, {"Servers": page, **meta})


# -- security policies, jobs -------------------------------------------------------------------
@action("alb", VERSION, "ListSystemSecurityPolicies")
def list_system_security_policies(ctx: Ctx, p: Params) -> dict[str, Any]:
    pols = [{"SecurityPolicyId": k, "TLSVersions": list(v["TLSVersions"]), "Ciphers": list(v["Ciphers"])}
            for k, v in SYSTEM_SECURITY_POLICIES.items()]
    return shape(m.ListSystemSecurityPoliciesResponseBody, {"SecurityPolicies": pols})


@action("alb", VERSION, "ListAsynJobs")
def list_asyn_jobs(ctx: Ctx, p: Params) -> dict[str, Any]:
    ids = params.str_list(p, "JobIds")
    rids = params.str_list(p, "ResourceIds")
    rtype = p.str("ResourceType", enum=("loadbalancer", "listener", "rule", "acl", "securitypolicy", "servergroup"))
    api = p.str("ApiName")
    begin = p.int("BeginTime", min=0)
    end = p.int("EndTime", min=0)
    now = ctx.clock.time()
    if ids:
        docs = [d for d in (ctx.store.get("alb.job", i) for i in ids) if d]
    else:
        docs = ctx.store.list("alb.job")
    docs = [d for d in docs if (not rids or d["ResourceId"] in rids) and (not rtype or d["ResourceType"] == rtype)
            and (not api or d["ApiName"] == api) and (begin is None or d["CreateTime"] >= begin)
            and (end is None or d["CreateTime"] <= end)]
    page, meta = params.page(p, docs)
    return shape(m.ListAsynJobsResponseBody, {"Jobs": [job_view(d, now) for d in page], **meta})

"""ALB state and behaviour over the store: load balancers, listeners, server groups, jobs and the
effective (job-derived) status views (see the package doc).

One module (~540 lines): the listener, server group and job behaviours share the job-derived status
views and the store's documents; split, each half would import the other's private helpers."""
from __future__ import annotations

import json
import random
import re
import string
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ... import errors
from ..cas.models import warehouse_cert
from ..pca.models import ca_by_cert_identifier, ca_doc
from .exceptions import (
    BackendServerExists,
    BackendServerNotFound,
    BackendServerVpcNotMatch,
    DryRunOperation,
    EditionDenied,
    ListenerExists,
    ListenerIncorrectStatus,
    ListenerNotFound,
    LoadBalancerIncorrectStatus,
    LoadBalancerNotFound,
    ServerGroupIncorrectStatus,
    ServerGroupNotFound,
    VpcNotFound,
)

if TYPE_CHECKING:  # pragma: no cover
    from ...emulator import Emulator
    from ...store import Store

VERSION = "2020-06-16"

# Behaviour docs/ALIBABA-APIS.md (§1.16, §5) does not settle; the codes are in exceptions.py.
ASSUMPTIONS: dict[str, str] = {
    "InvalidParameter.NextToken": "a NextToken this service did not issue → InvalidParameter (400).",
    "CaEnabled=false": "UpdateListenerAttribute with CaEnabled=false keeps CaCertificates (docs/ALIBABA-APIS.md §5.7).",
    "CaCertificates id": "a PCA CA in the configured form only (Settings.alb_ca_id_form, default its UUID "
                         "CertIdentifier), or an uploaded CA's UploadPCACert Identifier; see ca_certificate_exists "
                         "(docs/ALIBABA-APIS.md §1.15, §5.1).",
    "uploaded CA trust": "a listener bound to an uploaded CA verifies client certificates against the whole uploaded "
                         "chain (sub-CA + root); ALB's documented requirement is only that the chain be complete.",
    "uploaded CA name constraints": "a listener bound to an uploaded CA whose sub-CA carries a critical "
                                    "nameConstraints (RFC 5280 §4.2.1.10) refuses a client certificate outside it, "
                                    "as OpenSSL's verification (the local data plane's) does; ALB documents nothing "
                                    "of it. The product does not rely on it: issuance refuses such names before "
                                    "signing (shared/policy/nameconstraints.py).",
    "Partial update": "UpdateListenerAttribute changes only the fields given; XForwardedForConfig merges per field.",
    "CaEnabled on HTTP/QUIC": "refused with InvalidParameter (mutual authentication is HTTPS-only).",
    "Certificate status": "Associating while the listener job that set the certificate runs, then Associated.",
}

_ALNUM = string.ascii_lowercase + string.digits
_rng = random.SystemRandom()

PROTOCOLS = ("HTTP", "HTTPS", "QUIC")
XFF_BOOL_FIELDS = (
    "XForwardedForClientCertClientVerifyEnabled", "XForwardedForClientCertFingerprintEnabled",
    "XForwardedForClientCertIssuerDNEnabled", "XForwardedForClientCertSubjectDNEnabled",
    "XForwardedForClientSourceIpsEnabled", "XForwardedForClientSrcPortEnabled", "XForwardedForEnabled",
    "XForwardedForHostEnabled", "XForwardedForProtoEnabled", "XForwardedForSLBIdEnabled",
    "XForwardedForSLBPortEnabled",
)
XFF_ALIAS_FIELDS = (
    "XForwardedForClientCertClientVerifyAlias", "XForwardedForClientCertFingerprintAlias",
    "XForwardedForClientCertIssuerDNAlias", "XForwardedForClientCertSubjectDNAlias",
)

_TLS_CIPHERS_LEGACY = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                       "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                       "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA",
                       "ECDHE-RSA-AES128-SHA", "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA256",
                       "AES256-SHA256", "AES128-SHA", "AES256-SHA", "DES-CBC3-SHA"]
_TLS_CIPHERS_STRICT = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                       "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                       "ECDHE-ECDSA-AES128-SHA256", "ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384",
                       "ECDHE-RSA-AES256-SHA384"]
_TLS13 = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]

# docs/ALIBABA-APIS.md §1.12: system TLS security policies.
SYSTEM_SECURITY_POLICIES: dict[str, dict[str, list[str]]] = {
    "tls_cipher_policy_1_0": {"TLSVersions": ["TLSv1.0", "TLSv1.1", "TLSv1.2"], "Ciphers": _TLS_CIPHERS_LEGACY},
    "tls_cipher_policy_1_1": {"TLSVersions": ["TLSv1.1", "TLSv1.2"], "Ciphers": _TLS_CIPHERS_LEGACY},
    "tls_cipher_policy_1_2": {"TLSVersions": ["TLSv1.2"], "Ciphers": _TLS_CIPHERS_LEGACY},
    "tls_cipher_policy_1_2_strict": {"TLSVersions": ["TLSv1.2"], "Ciphers": _TLS_CIPHERS_STRICT},
    "tls_cipher_policy_1_2_strict_with_1_3": {"TLSVersions": ["TLSv1.2", "TLSv1.3"],
                                              "Ciphers": _TLS_CIPHERS_STRICT + _TLS13},
    "tls_cipher_policy_1_0_to_1_3": {"TLSVersions": ["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"],
                                     "Ciphers": _TLS_CIPHERS_LEGACY + _TLS13},
}
DEFAULT_SECURITY_POLICY = "tls_cipher_policy_1_0"


def new_resource_id(prefix: str) -> str:
    """``lsn-``/``sgp-`` + 17 lowercase alphanumerics, like the real ids."""
    return f"{prefix}-" + "".join(_rng.choice(_ALNUM) for _ in range(17))


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def tag_filter(docs: list[dict[str, Any]], tags: list[dict[str, str]]) -> list[dict[str, Any]]:
    if not tags:
        return docs
    def ok(d: dict[str, Any]) -> bool:
        have = {(t.get("Key"), t.get("Value", "")) for t in d.get("Tags") or []}
        keys = {t.get("Key") for t in d.get("Tags") or []}
        return all(((t["Key"], t["Value"]) in have) if t["Value"] else t["Key"] in keys for t in tags)
    return [d for d in docs if ok(d)]


def ca_certificate_exists(store: Store, cert_id: str, form: str = "cert_identifier") -> dict[str, Any] | None:
    """The single place of the open assumption (docs/ALIBABA-APIS.md §1.15, §5.1): which id a
    listener's ``CaCertificates.N.CertificateId`` takes. A PCA CA is named in the configured
    ``form`` only (``Settings.alb_ca_id_form``: ``cert_identifier``, the UUID that
    ``ListPcaCaCertificate`` returns — the only real-account evidence — or ``identifier``, the
    32-hex ``DescribeCACertificateList`` id); the other form is refused like an unknown CA. An
    uploaded CA (CAS 2020-04-07 ``UploadPCACert``) is named by the ``Identifier`` the upload
    returned. Returns ``{"kind": "pca"|"uploaded", "doc": …}`` (truthy) or ``None``."""
    if not isinstance(cert_id, str) or not cert_id:
        return None
    pca = ca_by_cert_identifier(store, cert_id) if form == "cert_identifier" else ca_doc(store, cert_id)
    if pca is not None:
        return {"kind": "pca", "doc": pca}
    uploaded = warehouse_cert(store, cert_id)
    if uploaded is not None and uploaded.get("CertType") == "CA":
        return {"kind": "uploaded", "doc": uploaded}
    return None


def ca_trust_pem(store: Store, cert_id: str) -> str | None:
    """The PEM a listener with ``CaCertificates`` = ``cert_id`` verifies client certificates
    against: a PCA CA's own certificate (either of its identifiers: the listener holds whichever
    the API accepted) or an uploaded CA's whole chain (``UploadPCACert.Cert``)."""
    pca = ca_doc(store, cert_id) or ca_by_cert_identifier(store, cert_id)
    if pca is not None and pca.get("Certificate"):
        return str(pca["Certificate"])
    uploaded = warehouse_cert(store, cert_id)
    if uploaded is not None and uploaded.get("Content"):
        return str(uploaded["Content"])
    return None


_SERVER_CERT_RE = re.compile(r"^(\d+)-([a-z]{2}-[a-z0-9-]+)$")


def server_certificate(store: Store, cert_id: str) -> dict[str, Any] | None:
    """The ``cas.cert`` document of a server ``CertificateId`` ``<CertId>-<site region>``; a bare
    numeric id (or any other form) is not a valid ALB certificate id → ``None``."""
    mt = _SERVER_CERT_RE.match(cert_id or "")
    if not mt:
        return None
    doc = store.get("cas.cert", mt.group(1))
    if doc is None:
        return None
    ident = doc.get("CertIdentifier") or f"{doc.get('CertId')}-cn-hangzhou"
    return doc if ident == cert_id else None


def listener_status(doc: dict[str, Any], now_s: float) -> str:
    """Effective ``ListenerStatus``: the job status while ``now_s < busy_until_s``, else the stored one."""
    if now_s < float(doc.get("busy_until_s") or 0):
        return doc.get("busy_status") or "Configuring"
    return doc.get("ListenerStatus") or "Running"


def listener_view(doc: dict[str, Any], now_s: float) -> dict[str, Any]:
    """A copy of a listener document with its effective status (listener and certificates)."""
    v = json.loads(json.dumps(doc))
    v["ListenerStatus"] = listener_status(doc, now_s)
    busy = now_s < float(doc.get("busy_until_s") or 0)
    pending = set(doc.get("pending_certs") or []) if busy else set()
    for c in v.get("CaCertificates") or []:
        c["Status"] = "Associating" if c.get("CertificateId") in pending else "Associated"
    for c in v.get("Certificates") or []:
        c["Status"] = "Associating" if c.get("CertificateId") in pending else "Associated"
    return v


def listener_server_group_ids(doc: dict[str, Any]) -> list[str]:
    """The server groups a listener forwards to (its DefaultActions), in order."""
    out: list[str] = []
    for a in doc.get("DefaultActions") or []:
        for t in ((a.get("ForwardGroupConfig") or {}).get("ServerGroupTuples") or []):
            sid = t.get("ServerGroupId")
            if sid and sid not in out:
                out.append(sid)
    return out


def get_listener(cloud: Emulator, listener_id: str) -> dict[str, Any] | None:
    doc = cloud.store.get("alb.listener", listener_id)
    return listener_view(doc, cloud.clock.time()) if doc else None


def list_listeners(cloud: Emulator, load_balancer_id: str | None = None) -> list[dict[str, Any]]:
    now = cloud.clock.time()
    docs = cloud.store.list("alb.listener", key2=load_balancer_id) if load_balancer_id else \
        cloud.store.list("alb.listener")
    return [listener_view(d, now) for d in docs]


def server_group_status(doc: dict[str, Any], now_s: float) -> str:
    if now_s < float(doc.get("busy_until_s") or 0):
        return doc.get("busy_status") or "Configuring"
    return "Available"


def server_group_view(doc: dict[str, Any], now_s: float) -> dict[str, Any]:
    v = json.loads(json.dumps(doc))
    v["ServerGroupStatus"] = server_group_status(doc, now_s)
    for s in v.get("Servers") or []:
        s["Status"] = "Adding" if now_s < float(s.get("busy_until_s") or 0) else "Available"
        s["ServerGroupId"] = doc["ServerGroupId"]
    v["ServerCount"] = len(v.get("Servers") or [])
    return v


def get_server_group(cloud: Emulator, server_group_id: str) -> dict[str, Any] | None:
    doc = cloud.store.get("alb.servergroup", server_group_id)
    return server_group_view(doc, cloud.clock.time()) if doc else None


def job_view(doc: dict[str, Any], now_s: float) -> dict[str, Any]:
    v = dict(doc)
    if now_s < float(doc.get("done_at_s") or 0):
        v["Status"] = "Processing"
        v["ModifyTime"] = doc.get("CreateTime")
    return v


def new_job(cloud: Emulator, api: str, resource_id: str, resource_type: str, operate: str) -> tuple[str, float]:
    now = cloud.clock.time()
    done = now + float(cloud.settings.alb_job_seconds)
    job_id = str(uuid.uuid4())
    cloud.store.put("alb.job", job_id, {
        "Id": job_id, "ApiName": api, "ResourceId": resource_id, "ResourceType": resource_type,
        "OperateType": operate, "Status": "Succeeded", "ErrorCode": None, "ErrorMessage": None,
        "CreateTime": int(now * 1000), "ModifyTime": int(done * 1000), "done_at_s": done,
    })
    return job_id, done


def load_balancer(cloud: Emulator, lb_id: str) -> dict[str, Any]:
    doc = cloud.store.get("alb.loadbalancer", lb_id)
    if doc is None:
        raise LoadBalancerNotFound(lb_id)
    return doc


def listener(cloud: Emulator, listener_id: str) -> dict[str, Any]:
    doc = cloud.store.get("alb.listener", listener_id)
    if doc is None:
        raise ListenerNotFound(listener_id)
    return doc


def server_group(cloud: Emulator, sg_id: str) -> dict[str, Any]:
    doc = cloud.store.get("alb.servergroup", sg_id)
    if doc is None:
        raise ServerGroupNotFound(sg_id)
    return doc


def default_xff() -> dict[str, Any]:
    d: dict[str, Any] = {f: False for f in XFF_BOOL_FIELDS}
    d["XForwardedForEnabled"] = True
    d.update({f: "" for f in XFF_ALIAS_FIELDS})
    d["XForwardedForProcessingMode"] = "append"
    d["XForwardedForClientSourceIpsTrusted"] = ""
    return d


def check_mtls(lb: dict[str, Any], protocol: str, ca_enabled: bool, ca_certs: list[Any]) -> None:
    if not ca_enabled:
        return
    if protocol != "HTTPS":
        raise errors.InvalidParameter("CaEnabled", "Mutual authentication is supported only by HTTPS listeners.")
    if lb.get("LoadBalancerEdition") == "Basic":
        raise EditionDenied(
                 f"Mutual authentication is not supported by the {lb.get('LoadBalancerEdition')} edition of "
                 f"load balancer {lb['LoadBalancerId']}.")
    if not ca_certs:
        raise errors.MissingParameter("CaCertificates.1.CertificateId")


def known_vpcs(cloud: Emulator) -> set[str]:
    vpcs = {d.get("VpcId") for d in cloud.store.list("alb.loadbalancer")}
    vpcs |= {d.get("VpcId") for d in cloud.store.list("ecs.instance")}
    vpcs |= {d.get("VpcId") for d in cloud.store.list("alb.servergroup")}
    return {v for v in vpcs if v}


def health_entry(cloud: Emulator, sg: dict[str, Any], srv: dict[str, Any]) -> dict[str, Any] | None:
    """The NonNormalServers entry of one backend, or None when it is healthy."""
    base = {"ServerId": srv["ServerId"], "Port": srv.get("Port"), "ServerIp": srv.get("ServerIp")}
    if not base["ServerIp"] and srv.get("ServerType") == "Ecs":
        ecs = cloud.store.get("ecs.instance", srv["ServerId"])
        base["ServerIp"] = (ecs or {}).get("PrivateIpAddress")
    hc = sg.get("HealthCheckConfig") or {}
    if not hc.get("HealthCheckEnabled", True):
        return {**base, "Status": "Unavailable"}
    if int(srv.get("Weight", 100)) == 0:
        return {**base, "Status": "Unused"}
    h = cloud.store.get("health.server", f"{sg['ServerGroupId']}/{srv['ServerId']}/{srv.get('Port')}") or {}
    status = h.get("Status") or "Initial"
    if status == "Healthy":
        return None
    entry = {**base, "Status": status}
    if status == "Unhealthy":
        reason = {k: h.get(k) for k in ("ReasonCode", "ExpectedResponse", "ActualResponse") if h.get(k) is not None}
        if reason:
            entry["Reason"] = reason
    return entry


def related_lbs(cloud: Emulator) -> dict[str, list[str]]:
    rel: dict[str, list[str]] = {}
    for lsn in cloud.store.list("alb.listener"):
        for sg_id in listener_server_group_ids(lsn):
            lbs = rel.setdefault(sg_id, [])
            if lsn["LoadBalancerId"] not in lbs:
                lbs.append(lsn["LoadBalancerId"])
    return rel


# -- writes ------------------------------------------------------------------------------------
def create_listener(cloud: Emulator, lb: dict[str, Any], *, protocol: str, port: int, dry: bool,
                    common: dict[str, Any], xff: dict[str, Any], tags: list[dict[str, str]], ca_enabled: bool,
                    default_actions: list[dict[str, Any]], certs: list[dict[str, str]] | None,
                    ca_certs: list[dict[str, Any]]) -> tuple[str, str]:
    """``CreateListener`` once its parameters are read: the mTLS, status and port rules, then the
    listener in ``Provisioning`` until its job ends. Returns ``(job_id, listener_id)``."""
    lb_id = lb["LoadBalancerId"]
    check_mtls(lb, protocol, ca_enabled, ca_certs)
    if lb.get("LoadBalancerStatus") != "Active":
        raise LoadBalancerIncorrectStatus(lb_id, lb.get("LoadBalancerStatus"))
    for other in cloud.store.list("alb.listener", key2=lb_id):
        if int(other["ListenerPort"]) == port:
            raise ListenerExists(port, lb_id, other["ListenerId"], other["ListenerProtocol"])
    if dry:
        raise DryRunOperation()

    listener_id = new_resource_id("lsn")
    https = protocol in ("HTTPS", "QUIC")
    doc: dict[str, Any] = {
        "ListenerId": listener_id,
        "LoadBalancerId": lb_id,
        "ListenerPort": port,
        "ListenerProtocol": protocol,
        "ListenerStatus": "Running",
        "ListenerDescription": common.get("ListenerDescription"),
        "Certificates": certs or [],
        "CaEnabled": bool(ca_enabled),
        "CaCertificates": ca_certs,
        "SecurityPolicyId": common.get("SecurityPolicyId", DEFAULT_SECURITY_POLICY) if https else None,
        "DefaultActions": default_actions,
        "XForwardedForConfig": {**default_xff(), **xff},
        "IdleTimeout": common.get("IdleTimeout", 15),
        "RequestTimeout": common.get("RequestTimeout", 60),
        "GzipEnabled": common.get("GzipEnabled", True),
        "Http2Enabled": common.get("Http2Enabled", True) if https else False,
        "QuicConfig": {"QuicUpgradeEnabled": False, **common.get("QuicConfig", {})} if protocol == "HTTPS" else None,
        "Tags": tags,
        "LogConfig": {"AccessLogRecordCustomizedHeadersEnabled": False,
                      "AccessLogTracingConfig": {"TracingEnabled": False}},
    }
    job_id, done = new_job(cloud, "CreateListener", listener_id, "listener", "Create")
    doc["busy_until_s"] = done
    doc["busy_status"] = "Provisioning"
    doc["pending_certs"] = [c["CertificateId"] for c in (certs or []) + ca_certs]
    cloud.store.put("alb.listener", listener_id, doc, key2=lb_id)
    return job_id, listener_id


def update_listener(cloud: Emulator, doc: dict[str, Any], lb: dict[str, Any], *, dry: bool,
                    common: dict[str, Any], xff: dict[str, Any], ca_enabled: bool | None,
                    default_actions: list[dict[str, Any]] | None, certs: list[dict[str, str]] | None,
                    ca_certs: list[dict[str, Any]] | None) -> str:
    """``UpdateListenerAttribute`` once its parameters are read: only the fields given change
    (``ASSUMPTIONS``); the listener reports ``Configuring`` until its job ends. Returns the job id."""
    listener_id, protocol = doc["ListenerId"], doc["ListenerProtocol"]
    new_ca_enabled = doc.get("CaEnabled", False) if ca_enabled is None else ca_enabled
    new_ca_certs = ca_certs if ca_certs is not None else (doc.get("CaCertificates") or [])
    if ca_enabled or ca_certs:
        check_mtls(lb, protocol, new_ca_enabled, new_ca_certs)
    status = listener_status(doc, cloud.clock.time())
    if status in ("Provisioning", "Configuring"):
        raise ListenerIncorrectStatus(f"The status of listener {listener_id} is {status}; wait until it is Running.")
    if dry:
        raise DryRunOperation()

    new = dict(doc)
    for k, v in common.items():
        if k == "SecurityPolicyId" and protocol == "HTTP":
            continue
        if k == "QuicConfig":
            v = {**(doc.get("QuicConfig") or {}), **v}
        new[k] = v
    if xff:
        new["XForwardedForConfig"] = {**default_xff(), **(doc.get("XForwardedForConfig") or {}), **xff}
    if default_actions is not None:
        new["DefaultActions"] = default_actions
    pending = []
    if certs is not None:
        new["Certificates"] = certs
        pending += [c["CertificateId"] for c in certs
                    if c["CertificateId"] not in {x.get("CertificateId") for x in doc.get("Certificates") or []}]
    if ca_certs is not None:
        new["CaCertificates"] = ca_certs
        pending += [c["CertificateId"] for c in ca_certs
                    if c["CertificateId"] not in {x.get("CertificateId") for x in doc.get("CaCertificates") or []}]
    new["CaEnabled"] = bool(new_ca_enabled)   # CaEnabled=false keeps CaCertificates (ASSUMPTIONS)
    job_id, done = new_job(cloud, "UpdateListenerAttribute", listener_id, "listener", "Update")
    new["busy_until_s"] = done
    new["busy_status"] = "Configuring"
    new["pending_certs"] = pending
    cloud.store.put("alb.listener", listener_id, new, key2=doc["LoadBalancerId"])
    return job_id


def start_stop(cloud: Emulator, listener_id: str, api: str, want_from: str, to: str, dry: bool) -> str:
    """``StartListener``/``StopListener``: from ``want_from`` to ``to``; returns the job id."""
    doc = listener(cloud, listener_id)
    status = listener_status(doc, cloud.clock.time())
    if status != want_from:
        raise ListenerIncorrectStatus(f"The status of listener {listener_id} is {status}; {want_from} is required.")
    if dry:
        raise DryRunOperation()
    job_id, done = new_job(cloud, api, listener_id, "listener", "Update")
    doc.update({"ListenerStatus": to, "busy_until_s": done, "busy_status": "Configuring", "pending_certs": []})
    cloud.store.put("alb.listener", listener_id, doc, key2=doc["LoadBalancerId"])
    return job_id


def create_server_group(cloud: Emulator, fields: dict[str, Any], *, dry: bool) -> tuple[str, str]:
    """``CreateServerGroup`` once its parameters are read (``fields``: the group's wire fields);
    the group reports ``Creating`` until its job ends. Returns ``(job_id, server_group_id)``."""
    vpc_id = fields.get("VpcId")
    if vpc_id and vpc_id not in known_vpcs(cloud):
        raise VpcNotFound(vpc_id)
    if dry:
        raise DryRunOperation()
    sg_id = new_resource_id("sgp")
    job_id, done = new_job(cloud, "CreateServerGroup", sg_id, "servergroup", "Create")
    doc = {"ServerGroupId": sg_id, **fields, "CreateTime": iso(cloud.clock.time()), "Servers": [],
           "busy_until_s": done, "busy_status": "Creating"}
    cloud.store.put("alb.servergroup", sg_id, doc)
    return job_id, sg_id


def backend_ip(cloud: Emulator, sg: dict[str, Any], server_type: str, server_id: str, ip: str | None) -> str | None:
    """The address of a server being added (an ECS instance must exist in the group's VPC)."""
    if server_type == "Ecs":
        ecs = cloud.store.get("ecs.instance", server_id)
        if ecs is None:
            raise BackendServerNotFound(server_id)
        if ecs.get("VpcId") != sg.get("VpcId"):
            raise BackendServerVpcNotMatch(
                f"The VPC {ecs.get('VpcId')} of instance {server_id} does not match the VPC {sg.get('VpcId')} "
                f"of server group {sg['ServerGroupId']}.")
        return ip or ecs.get("PrivateIpAddress")
    if server_type == "Ip":
        return ip or server_id
    return ip


def check_new_server(sg: dict[str, Any], existing: set[tuple[str, Any]], server_id: str, port: Any) -> None:
    if (server_id, port) in existing:
        raise BackendServerExists(server_id, port, sg["ServerGroupId"])
    existing.add((server_id, port))


def _member_change(cloud: Emulator, sg: dict[str, Any], api: str, *, dry: bool) -> tuple[str, float]:
    """A members write: the group must be ``Available``; a dry run ends here. Returns (job, done)."""
    sg_id = sg["ServerGroupId"]
    status = server_group_status(sg, cloud.clock.time())
    if status != "Available":
        raise ServerGroupIncorrectStatus(sg_id, status)
    if dry:
        raise DryRunOperation()
    return new_job(cloud, api, sg_id, "servergroup", "Update")


def _member(sg: dict[str, Any], server_id: str, port: Any) -> dict[str, Any]:
    for s in sg.get("Servers") or []:
        if s["ServerId"] == server_id and s.get("Port") == port:
            return s
    raise BackendServerNotFound(server_id)


def remove_servers(cloud: Emulator, sg: dict[str, Any], servers: list[tuple[str, Any]], *, dry: bool) -> str:
    """``RemoveServersFromServerGroup``: every (id, port) must be a member; they leave the group (and
    the data plane's rotation) at once, the group is ``Configuring`` until the job ends."""
    for sid, port in servers:
        _member(sg, sid, port)
    job_id, done = _member_change(cloud, sg, "RemoveServersFromServerGroup", dry=dry)
    gone = set(servers)
    sg["Servers"] = [s for s in sg.get("Servers") or [] if (s["ServerId"], s.get("Port")) not in gone]
    sg["busy_until_s"], sg["busy_status"] = done, "Configuring"
    cloud.store.put("alb.servergroup", sg["ServerGroupId"], sg)
    return job_id


def update_servers(cloud: Emulator, sg: dict[str, Any], changes: list[dict[str, Any]], *, dry: bool) -> str:
    """``UpdateServerGroupServersAttribute``: the ``Weight``/``Description`` of members (each must be one)."""
    for c in changes:
        _member(sg, c["ServerId"], c.get("Port"))
    job_id, done = _member_change(cloud, sg, "UpdateServerGroupServersAttribute", dry=dry)
    for c in changes:
        m = _member(sg, c["ServerId"], c.get("Port"))
        m.update({k: v for k, v in c.items() if k in ("Weight", "Description") and v is not None})
    sg["busy_until_s"], sg["busy_status"] = done, "Configuring"
    cloud.store.put("alb.servergroup", sg["ServerGroupId"], sg)
    return job_id


def add_servers(cloud: Emulator, sg: dict[str, Any], servers: list[dict[str, Any]], *, dry: bool) -> str:
    """``AddServersToServerGroup`` once the servers are read: the group must be ``Available``; the
    servers report ``Adding`` until the job ends. Returns the job id."""
    sg_id = sg["ServerGroupId"]
    status = server_group_status(sg, cloud.clock.time())
    if status != "Available":
        raise ServerGroupIncorrectStatus(sg_id, status)
    if dry:
        raise DryRunOperation()
    job_id, done = new_job(cloud, "AddServersToServerGroup", sg_id, "servergroup", "Update")
    for s in servers:
        s["busy_until_s"] = done
    sg["Servers"] = (sg.get("Servers") or []) + servers
    sg["busy_until_s"] = done
    sg["busy_status"] = "Configuring"
    cloud.store.put("alb.servergroup", sg_id, sg)
    return job_id

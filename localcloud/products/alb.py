"""ALB (Application Load Balancer) 2020-06-16 of the local cloud.

State lives in the store kinds of ``localcloud/SCHEMA.md``: ``alb.loadbalancer``, ``alb.listener``
(key2 = LoadBalancerId), ``alb.servergroup``, ``alb.job``; it reads ``ecs.instance``, ``cas.cert``,
``pca.ca`` and ``health.server``.

Writes are asynchronous like the real service: they return a ``JobId`` and the resource reports a
transitional status (listener ``Provisioning``/``Configuring``, server group ``Creating``/
``Configuring``, server ``Adding``, job ``Processing``) until ``cloud.clock.time()`` reaches the
resource's ``busy_until_s`` (now + ``settings.alb_job_seconds`` at the time of the write). Status is
derived lazily on every read from the clock — no threads. The change itself is stored at once.

Public helpers for other parts of the local cloud (data plane, health checker, CLI):

- ``listener_status(doc, now_s)`` / ``listener_view(doc, now_s)`` / ``get_listener(cloud, id)`` /
  ``list_listeners(cloud, load_balancer_id=None)`` — a listener with its *effective* status.
- ``server_group_status(doc, now_s)`` / ``server_group_view(doc, now_s)`` /
  ``get_server_group(cloud, id)`` — likewise for server groups (servers get ``Adding``/``Available``).
- ``listener_server_group_ids(doc)`` — the server groups a listener forwards to.
- ``server_certificate(store, cert_id)`` — the ``cas.cert`` doc of a listener ``CertificateId``.
- ``ca_certificate_exists(store, cert_id)`` — the ``pca.ca`` doc of a ``CaCertificates`` id (or None).
"""
from __future__ import annotations

import base64
import json
import random
import re
import string
import uuid
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from alibabacloud_alb20200616 import models as m

from .. import errors
from ..protocol import Params
from ..registry import Ctx, action, shape

if TYPE_CHECKING:  # pragma: no cover
    from ..emulator import Emulator
    from ..store import Store

VERSION = "2020-06-16"

# Choices made where the reference (alibaba-apis.md §1.16, §5) could not settle the real behaviour.
ASSUMPTIONS: dict[str, str] = {
    "OperationDenied.LoadBalancerEdition":
        "400; CaEnabled=true (mutual authentication) on a Basic-edition ALB (reference §5.4, code unverified).",
    "QuotaExceeded.CaCertificatesNum":
        "400; more than one CA certificate on a listener (SDK docs: only one CA supported; code unverified).",
    "ResourceNotFound.CaCertificate":
        "404; unknown CaCertificates.N.CertificateId (NLB uses this code; ALB unverified).",
    "ResourceNotFound.Certificate":
        "404; unknown server certificate, including a bare numeric CAS id without the site-region suffix "
        "(by analogy with ResourceNotFound.*).",
    "VpcNotMatch":
        "400; a server group whose VpcId differs from the ALB's VpcId in DefaultActions (code unverified).",
    "VpcNotMatch.BackendServer":
        "400; AddServersToServerGroup with an ECS instance in another VPC than the server group (unverified).",
    "ResourceNotFound.BackendServer":
        "404; AddServersToServerGroup with an unknown ECS instance (NLB's code; ALB unverified).",
    "ResourceAlreadyExist.BackendServer":
        "400; the same ServerId+Port added twice to a server group (unverified).",
    "ResourceNotFound.Vpc": "404; CreateServerGroup with a VpcId no ALB or ECS instance of the account uses.",
    "ResourceNotFound.SecurityPolicy": "404; SecurityPolicyId that is not a system policy (no custom policies here).",
    "IncorrectStatus.ServerGroup":
        "400; AddServersToServerGroup while the group is Creating/Configuring. Listeners may reference a group "
        "that is still Creating (lenient).",
    "IncorrectStatus.Listener":
        "400; Update/Start/Stop while the listener is Provisioning/Configuring. A Stopped listener may be updated.",
    "InvalidParameter.NextToken": "a NextToken this service did not issue → InvalidParameter (400).",
    "CaEnabled=false": "UpdateListenerAttribute with CaEnabled=false keeps CaCertificates (reference §5.7).",
    "CaCertificates id": "the PCA sub-CA Identifier (kind pca.ca); see ca_certificate_exists (reference §5.1).",
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
_ALIAS_RE = re.compile(r"^[a-z0-9_-]{1,40}$")

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

# Reference §1.12: system TLS security policies.
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


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------
def _e(code: str, message: str, status: int = 400) -> errors.ApiError:
    return errors.error(code, message, status)


def _not_found(kind: str, rid: str) -> errors.ApiError:
    return _e(f"ResourceNotFound.{kind}", f"The specified resource {rid} of {kind} is not found.", 404)


def _dry_run() -> errors.ApiError:
    return _e("DryRunOperation", "Request validation has been passed with DryRun flag set.", 400)


# --------------------------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------------------------
def new_resource_id(prefix: str) -> str:
    """``lsn-``/``sgp-`` + 17 lowercase alphanumerics, like the real ids."""
    return f"{prefix}-" + "".join(_rng.choice(_ALNUM) for _ in range(17))


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sub(prefix: str, obj: Any) -> Params:
    """A ``Params`` over a nested object whose names carry the full wire prefix (for error messages)."""
    if obj in (None, ""):
        obj = {}
    if not isinstance(obj, dict):
        raise errors.InvalidParameter(prefix, "An object is expected.")
    return Params({f"{prefix}.{k}": v for k, v in obj.items()})


def _items(p: Params, name: str, limit: int | None = None) -> list[dict[str, Any]]:
    """A flattened list of objects (``Name.N.Field``)."""
    out = p.list(name)
    for i, it in enumerate(out, 1):
        if not isinstance(it, dict):
            raise errors.InvalidParameter(f"{name}.{i}", "An object is expected.")
    if limit is not None and len(out) > limit:
        raise errors.InvalidParameter(name, f"At most {limit} items are allowed.")
    return out


def _str_list(p: Params, name: str, limit: int | None = None) -> list[str]:
    out = p.list(name)
    for i, it in enumerate(out, 1):
        if not isinstance(it, str) or not it:
            raise errors.InvalidParameter(f"{name}.{i}", "A string is expected.")
    if limit is not None and len(out) > limit:
        raise errors.InvalidParameter(name, f"At most {limit} items are allowed.")
    return out


def _tags(p: Params, name: str = "Tag") -> list[dict[str, str]]:
    out = []
    for i, t in enumerate(_items(p, name, 20), 1):
        sp = _sub(f"{name}.{i}", t)
        out.append({"Key": sp.str(f"{name}.{i}.Key", required=True, max_len=128),
                    "Value": sp.str(f"{name}.{i}.Value", default="", max_len=128)})
    return out


def _tag_filter(docs: list[dict[str, Any]], tags: list[dict[str, str]]) -> list[dict[str, Any]]:
    if not tags:
        return docs
    def ok(d: dict[str, Any]) -> bool:
        have = {(t.get("Key"), t.get("Value", "")) for t in d.get("Tags") or []}
        keys = {t.get("Key") for t in d.get("Tags") or []}
        return all(((t["Key"], t["Value"]) in have) if t["Value"] else t["Key"] in keys for t in tags)
    return [d for d in docs if ok(d)]


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def _offset(token: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        n = json.loads(raw)["o"]
        if not isinstance(n, int) or n < 0:
            raise ValueError
        return n
    except (ValueError, KeyError, TypeError):
        raise errors.InvalidParameter("NextToken", "The NextToken is invalid or expired.") from None


def _page(p: Params, items: list[Any], default: int = 20, maximum: int = 100) -> tuple[list[Any], dict[str, Any]]:
    """Slice ``items`` by NextToken/MaxResults; returns the page and the paging fields of the body."""
    max_results = p.int("MaxResults", default=default, min=1, max=maximum)
    token = p.str("NextToken")
    start = _offset(token) if token else 0
    if start > len(items):
        raise errors.InvalidParameter("NextToken", "The NextToken is invalid or expired.")
    end = start + max_results
    meta: dict[str, Any] = {"MaxResults": max_results, "TotalCount": len(items)}
    if end < len(items):
        meta["NextToken"] = _token(end)
    return items[start:end], meta


# --------------------------------------------------------------------------------------------
# lookups shared with other products / services
# --------------------------------------------------------------------------------------------
def ca_certificate_exists(store: "Store", cert_id: str) -> dict[str, Any] | None:
    """The single place of the open assumption (reference §5.1): a listener's
    ``CaCertificates.N.CertificateId`` is the PCA CA ``Identifier`` (kind ``pca.ca``, normally the
    sub-CA). Returns the ``pca.ca`` document (truthy) or ``None``."""
    if not isinstance(cert_id, str) or not cert_id:
        return None
    return store.get("pca.ca", cert_id)


_SERVER_CERT_RE = re.compile(r"^(\d+)-([a-z]{2}-[a-z0-9-]+)$")


def server_certificate(store: "Store", cert_id: str) -> dict[str, Any] | None:
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


def get_listener(cloud: "Emulator", listener_id: str) -> dict[str, Any] | None:
    doc = cloud.store.get("alb.listener", listener_id)
    return listener_view(doc, cloud.clock.time()) if doc else None


def list_listeners(cloud: "Emulator", load_balancer_id: str | None = None) -> list[dict[str, Any]]:
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


def get_server_group(cloud: "Emulator", server_group_id: str) -> dict[str, Any] | None:
    doc = cloud.store.get("alb.servergroup", server_group_id)
    return server_group_view(doc, cloud.clock.time()) if doc else None


def job_view(doc: dict[str, Any], now_s: float) -> dict[str, Any]:
    v = dict(doc)
    if now_s < float(doc.get("done_at_s") or 0):
        v["Status"] = "Processing"
        v["ModifyTime"] = doc.get("CreateTime")
    return v


def _new_job(ctx: Ctx, api: str, resource_id: str, resource_type: str, operate: str) -> tuple[str, float]:
    now = ctx.clock.time()
    done = now + float(ctx.cloud.settings.alb_job_seconds)
    job_id = str(uuid.uuid4())
    ctx.store.put("alb.job", job_id, {
        "Id": job_id, "ApiName": api, "ResourceId": resource_id, "ResourceType": resource_type,
        "OperateType": operate, "Status": "Succeeded", "ErrorCode": None, "ErrorMessage": None,
        "CreateTime": int(now * 1000), "ModifyTime": int(done * 1000), "done_at_s": done,
    })
    return job_id, done


def _lb(ctx: Ctx, lb_id: str) -> dict[str, Any]:
    doc = ctx.store.get("alb.loadbalancer", lb_id)
    if doc is None:
        raise _not_found("LoadBalancer", lb_id)
    return doc


def _listener(ctx: Ctx, listener_id: str) -> dict[str, Any]:
    doc = ctx.store.get("alb.listener", listener_id)
    if doc is None:
        raise _not_found("Listener", listener_id)
    return doc


def _server_group(ctx: Ctx, sg_id: str) -> dict[str, Any]:
    doc = ctx.store.get("alb.servergroup", sg_id)
    if doc is None:
        raise _not_found("ServerGroup", sg_id)
    return doc


# --------------------------------------------------------------------------------------------
# load balancers
# --------------------------------------------------------------------------------------------
@action("alb", VERSION, "GetLoadBalancerAttribute")
def get_load_balancer_attribute(ctx: Ctx, p: Params) -> dict[str, Any]:
    doc = _lb(ctx, p.str("LoadBalancerId", required=True))
    return shape(m.GetLoadBalancerAttributeResponseBody, doc)


@action("alb", VERSION, "ListLoadBalancers")
def list_load_balancers(ctx: Ctx, p: Params) -> dict[str, Any]:
    ids = _str_list(p, "LoadBalancerIds", 20)
    names = _str_list(p, "LoadBalancerNames", 10)
    vpcs = _str_list(p, "VpcIds", 10)
    addr = p.str("AddressType", enum=("Internet", "Intranet"))
    status = p.str("LoadBalancerStatus", enum=("Inactive", "Active", "Provisioning", "Configuring", "CreateFailed"))
    bstatus = p.str("LoadBalancerBussinessStatus", enum=("Normal", "Abnormal"))
    dns = p.str("DNSName")
    zone = p.str("ZoneId")
    tags = _tags(p)
    docs = ctx.store.list("alb.loadbalancer")
    docs = [d for d in docs if (not ids or d["LoadBalancerId"] in ids)
            and (not names or d.get("LoadBalancerName") in names)
            and (not vpcs or d.get("VpcId") in vpcs)
            and (not addr or d.get("AddressType") == addr)
            and (not status or d.get("LoadBalancerStatus") == status)
            and (not bstatus or d.get("LoadBalancerBussinessStatus") == bstatus)
            and (not dns or d.get("DNSName") == dns)
            and (not zone or any(z.get("ZoneId") == zone for z in d.get("ZoneMappings") or []))]
    docs = _tag_filter(docs, tags)
    page, meta = _page(p, docs)
    return shape(m.ListLoadBalancersResponseBody, {"LoadBalancers": page, **meta})


# --------------------------------------------------------------------------------------------
# listeners
# --------------------------------------------------------------------------------------------
def _parse_default_actions(ctx: Ctx, p: Params, lb: dict[str, Any], required: bool) -> list[dict[str, Any]] | None:
    acts = _items(p, "DefaultActions")
    if not acts:
        if required:
            raise errors.MissingParameter("DefaultActions")
        return None
    if len(acts) > 1:
        raise errors.InvalidParameter("DefaultActions", "Only one default action is supported.")
    out = []
    for i, a in enumerate(acts, 1):
        pre = f"DefaultActions.{i}"
        ap = _sub(pre, a)
        typ = ap.str(f"{pre}.Type", required=True, enum=("ForwardGroup",))
        fg = _sub(f"{pre}.ForwardGroupConfig", ap.obj(f"{pre}.ForwardGroupConfig", required=True))
        tuples = _items(fg, f"{pre}.ForwardGroupConfig.ServerGroupTuples")
        if not tuples:
            raise errors.MissingParameter(f"{pre}.ForwardGroupConfig.ServerGroupTuples.1.ServerGroupId")
        if len(tuples) > 20:
            raise errors.InvalidParameter(f"{pre}.ForwardGroupConfig.ServerGroupTuples", "At most 20 items.")
        norm = []
        for j, t in enumerate(tuples, 1):
            tn = f"{pre}.ForwardGroupConfig.ServerGroupTuples.{j}.ServerGroupId"
            sg_id = _sub(tn.rsplit(".", 1)[0], t).str(tn, required=True)
            sg = _server_group(ctx, sg_id)
            if sg.get("ServerGroupType", "Instance") != "Fc" and sg.get("VpcId") != lb.get("VpcId"):
                raise _e("VpcNotMatch", f"The VPC {sg.get('VpcId')} of server group {sg_id} does not match "
                                        f"the VPC {lb.get('VpcId')} of load balancer {lb['LoadBalancerId']}.")
            norm.append({"ServerGroupId": sg_id})
        out.append({"Type": typ, "ForwardGroupConfig": {"ServerGroupTuples": norm}})
    return out


def _parse_server_certs(ctx: Ctx, p: Params) -> list[dict[str, str]] | None:
    certs = _items(p, "Certificates")
    if not certs:
        return None
    if len(certs) > 1:
        raise errors.InvalidParameter("Certificates", "Only one default server certificate is supported; "
                                                      "use AssociateAdditionalCertificatesWithListener for more.")
    cid = _sub("Certificates.1", certs[0]).str("Certificates.1.CertificateId", required=True)
    if server_certificate(ctx.store, cid) is None:
        hint = " A certificate id must end with the site region, e.g. 12345-cn-hangzhou." \
            if cid.isdigit() else ""
        raise _e("ResourceNotFound.Certificate", f"The specified certificate {cid} is not found.{hint}", 404)
    return [{"CertificateId": cid}]


def _parse_ca_certs(ctx: Ctx, p: Params) -> list[dict[str, Any]] | None:
    cas = _items(p, "CaCertificates")
    if not cas:
        return None
    if len(cas) > 1:
        raise _e("QuotaExceeded.CaCertificatesNum", "Only one CA certificate can be associated with a listener.")
    cid = _sub("CaCertificates.1", cas[0]).str("CaCertificates.1.CertificateId", required=True)
    if not ca_certificate_exists(ctx.store, cid):
        raise _e("ResourceNotFound.CaCertificate", f"The specified CA certificate {cid} is not found.", 404)
    return [{"CertificateId": cid, "IsDefault": True, "Status": "Associated"}]


def _default_xff() -> dict[str, Any]:
    d: dict[str, Any] = {f: False for f in XFF_BOOL_FIELDS}
    d["XForwardedForEnabled"] = True
    d.update({f: "" for f in XFF_ALIAS_FIELDS})
    d["XForwardedForProcessingMode"] = "append"
    d["XForwardedForClientSourceIpsTrusted"] = ""
    return d


def _parse_xff(p: Params) -> dict[str, Any]:
    """Only the XForwardedForConfig fields given (for merging)."""
    if not p.has("XForwardedForConfig"):
        return {}
    pre = "XForwardedForConfig"
    xp = _sub(pre, p.obj(pre))
    out: dict[str, Any] = {}
    for f in XFF_BOOL_FIELDS:
        v = xp.bool(f"{pre}.{f}")
        if v is not None:
            out[f] = v
    for f in XFF_ALIAS_FIELDS:
        v = xp.str(f"{pre}.{f}")
        if v is not None:
            if not _ALIAS_RE.match(v):
                raise errors.InvalidParameter(f"{pre}.{f}", "1 to 40 characters: a-z, 0-9, '-' and '_'.")
            out[f] = v
    mode = xp.str(f"{pre}.XForwardedForProcessingMode", enum=("append", "remove"))
    if mode is not None:
        out["XForwardedForProcessingMode"] = mode
    trusted = xp.str(f"{pre}.XForwardedForClientSourceIpsTrusted")
    if trusted is not None:
        out["XForwardedForClientSourceIpsTrusted"] = trusted
    return out


def _parse_common(p: Params) -> dict[str, Any]:
    """Optional scalar listener fields given in the request (Create and Update)."""
    out: dict[str, Any] = {}
    desc = p.str("ListenerDescription", max_len=256)
    if desc is not None:
        if len(desc) < 2:
            raise errors.InvalidParameter("ListenerDescription", "2 to 256 characters.")
        out["ListenerDescription"] = desc
    for name in ("IdleTimeout", "RequestTimeout"):
        v = p.int(name, min=1, max=600)
        if v is not None:
            out[name] = v
    for name in ("GzipEnabled", "Http2Enabled"):
        v = p.bool(name)
        if v is not None:
            out[name] = v
    pol = p.str("SecurityPolicyId")
    if pol is not None:
        if pol not in SYSTEM_SECURITY_POLICIES:
            raise _e("ResourceNotFound.SecurityPolicy", f"The specified security policy {pol} is not found.", 404)
        out["SecurityPolicyId"] = pol
    if p.has("QuicConfig"):
        qp = _sub("QuicConfig", p.obj("QuicConfig"))
        q = {}
        up = qp.bool("QuicConfig.QuicUpgradeEnabled")
        if up is not None:
            q["QuicUpgradeEnabled"] = up
        qid = qp.str("QuicConfig.QuicListenerId")
        if qid is not None:
            q["QuicListenerId"] = qid
        out["QuicConfig"] = q
    return out


def _check_mtls(lb: dict[str, Any], protocol: str, ca_enabled: bool, ca_certs: list[Any]) -> None:
    if not ca_enabled:
        return
    if protocol != "HTTPS":
        raise errors.InvalidParameter("CaEnabled", "Mutual authentication is supported only by HTTPS listeners.")
    if lb.get("LoadBalancerEdition") == "Basic":
        raise _e("OperationDenied.LoadBalancerEdition",
                 f"Mutual authentication is not supported by the {lb.get('LoadBalancerEdition')} edition of "
                 f"load balancer {lb['LoadBalancerId']}.")
    if not ca_certs:
        raise errors.MissingParameter("CaCertificates.1.CertificateId")


@action("alb", VERSION, "CreateListener", write=True, idempotent_token=True)
def create_listener(ctx: Ctx, p: Params) -> dict[str, Any]:
    lb_id = p.str("LoadBalancerId", required=True)
    protocol = p.str("ListenerProtocol", required=True, enum=PROTOCOLS)
    port = p.int("ListenerPort", required=True, min=1, max=65535)
    dry = p.bool("DryRun", default=False)
    lb = _lb(ctx, lb_id)
    common = _parse_common(p)
    xff = _parse_xff(p)
    tags = _tags(p)
    ca_enabled = p.bool("CaEnabled", default=False)
    default_actions = _parse_default_actions(ctx, p, lb, required=True)
    certs = _parse_server_certs(ctx, p) if protocol in ("HTTPS", "QUIC") else None
    if protocol in ("HTTPS", "QUIC") and not certs:
        raise errors.MissingParameter("Certificates.1.CertificateId")
    ca_certs = _parse_ca_certs(ctx, p) or []
    if ca_certs and protocol != "HTTPS":
        raise errors.InvalidParameter("CaCertificates", "CA certificates are supported only by HTTPS listeners.")
    _check_mtls(lb, protocol, ca_enabled, ca_certs)
    if lb.get("LoadBalancerStatus") != "Active":
        raise _e("IncorrectStatus.LoadBalancer",
                 f"The status of load balancer {lb_id} is {lb.get('LoadBalancerStatus')}; Active is required.")
    for other in ctx.store.list("alb.listener", key2=lb_id):
        if int(other["ListenerPort"]) == port:
            raise _e("ResourceAlreadyExist.Listener",
                     f"The port {port} of load balancer {lb_id} is already used by listener {other['ListenerId']} "
                     f"({other['ListenerProtocol']}).")
    if dry:
        raise _dry_run()

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
        "XForwardedForConfig": {**_default_xff(), **xff},
        "IdleTimeout": common.get("IdleTimeout", 15),
        "RequestTimeout": common.get("RequestTimeout", 60),
        "GzipEnabled": common.get("GzipEnabled", True),
        "Http2Enabled": common.get("Http2Enabled", True) if https else False,
        "QuicConfig": {"QuicUpgradeEnabled": False, **common.get("QuicConfig", {})} if protocol == "HTTPS" else None,
        "Tags": tags,
        "LogConfig": {"AccessLogRecordCustomizedHeadersEnabled": False,
                      "AccessLogTracingConfig": {"TracingEnabled": False}},
    }
    job_id, done = _new_job(ctx, "CreateListener", listener_id, "listener", "Create")
    doc["busy_until_s"] = done
    doc["busy_status"] = "Provisioning"
    doc["pending_certs"] = [c["CertificateId"] for c in (certs or []) + ca_certs]
    ctx.store.put("alb.listener", listener_id, doc, key2=lb_id)
    return shape(m.CreateListenerResponseBody, {"JobId": job_id, "ListenerId": listener_id})


@action("alb", VERSION, "UpdateListenerAttribute", write=True, idempotent_token=True)
def update_listener_attribute(ctx: Ctx, p: Params) -> dict[str, Any]:
    listener_id = p.str("ListenerId", required=True)
    dry = p.bool("DryRun", default=False)
    doc = _listener(ctx, listener_id)
    lb = _lb(ctx, doc["LoadBalancerId"])
    protocol = doc["ListenerProtocol"]
    common = _parse_common(p)
    xff = _parse_xff(p)
    ca_enabled = p.bool("CaEnabled")
    default_actions = _parse_default_actions(ctx, p, lb, required=False)
    certs = _parse_server_certs(ctx, p) if protocol in ("HTTPS", "QUIC") else None
    ca_certs = _parse_ca_certs(ctx, p)
    if ca_certs and protocol != "HTTPS":
        raise errors.InvalidParameter("CaCertificates", "CA certificates are supported only by HTTPS listeners.")
    new_ca_enabled = doc.get("CaEnabled", False) if ca_enabled is None else ca_enabled
    new_ca_certs = ca_certs if ca_certs is not None else (doc.get("CaCertificates") or [])
    if ca_enabled or ca_certs:
        _check_mtls(lb, protocol, new_ca_enabled, new_ca_certs)
    status = listener_status(doc, ctx.clock.time())
    if status in ("Provisioning", "Configuring"):
        raise _e("IncorrectStatus.Listener", f"The status of listener {listener_id} is {status}; "
                                             f"wait until it is Running.")
    if dry:
        raise _dry_run()

    new = dict(doc)
    for k, v in common.items():
        if k == "SecurityPolicyId" and protocol == "HTTP":
            continue
        if k == "QuicConfig":
            v = {**(doc.get("QuicConfig") or {}), **v}
        new[k] = v
    if xff:
        new["XForwardedForConfig"] = {**_default_xff(), **(doc.get("XForwardedForConfig") or {}), **xff}
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
    job_id, done = _new_job(ctx, "UpdateListenerAttribute", listener_id, "listener", "Update")
    new["busy_until_s"] = done
    new["busy_status"] = "Configuring"
    new["pending_certs"] = pending
    ctx.store.put("alb.listener", listener_id, new, key2=doc["LoadBalancerId"])
    return shape(m.UpdateListenerAttributeResponseBody, {"JobId": job_id})


def _start_stop(ctx: Ctx, p: Params, api: str, want_from: str, to: str, body_model: type) -> dict[str, Any]:
    listener_id = p.str("ListenerId", required=True)
    dry = p.bool("DryRun", default=False)
    doc = _listener(ctx, listener_id)
    status = listener_status(doc, ctx.clock.time())
    if status != want_from:
        raise _e("IncorrectStatus.Listener", f"The status of listener {listener_id} is {status}; "
                                             f"{want_from} is required.")
    if dry:
        raise _dry_run()
    job_id, done = _new_job(ctx, api, listener_id, "listener", "Update")
    doc.update({"ListenerStatus": to, "busy_until_s": done, "busy_status": "Configuring", "pending_certs": []})
    ctx.store.put("alb.listener", listener_id, doc, key2=doc["LoadBalancerId"])
    return shape(body_model, {"JobId": job_id})


@action("alb", VERSION, "StartListener", write=True, idempotent_token=True)
def start_listener(ctx: Ctx, p: Params) -> dict[str, Any]:
    return _start_stop(ctx, p, "StartListener", "Stopped", "Running", m.StartListenerResponseBody)


@action("alb", VERSION, "StopListener", write=True, idempotent_token=True)
def stop_listener(ctx: Ctx, p: Params) -> dict[str, Any]:
    return _start_stop(ctx, p, "StopListener", "Running", "Stopped", m.StopListenerResponseBody)


@action("alb", VERSION, "GetListenerAttribute")
def get_listener_attribute(ctx: Ctx, p: Params) -> dict[str, Any]:
    doc = _listener(ctx, p.str("ListenerId", required=True))
    return shape(m.GetListenerAttributeResponseBody, listener_view(doc, ctx.clock.time()))


@action("alb", VERSION, "ListListeners")
def list_listeners_action(ctx: Ctx, p: Params) -> dict[str, Any]:
    lb_ids = _str_list(p, "LoadBalancerIds", 20)
    ids = _str_list(p, "ListenerIds", 20)
    protocol = p.str("ListenerProtocol", enum=PROTOCOLS)
    tags = _tags(p)
    now = ctx.clock.time()
    if lb_ids:
        docs = [d for lb in lb_ids for d in ctx.store.list("alb.listener", key2=lb)]
    else:
        docs = ctx.store.list("alb.listener")
    docs = [d for d in docs if (not ids or d["ListenerId"] in ids)
            and (not protocol or d["ListenerProtocol"] == protocol)]
    docs = _tag_filter(docs, tags)
    page, meta = _page(p, docs)
    return shape(m.ListListenersResponseBody, {"Listeners": [listener_view(d, now) for d in page], **meta})


@action("alb", VERSION, "ListListenerCertificates")
def list_listener_certificates(ctx: Ctx, p: Params) -> dict[str, Any]:
    doc = _listener(ctx, p.str("ListenerId", required=True))
    ctype = p.str("CertificateType", enum=("Ca", "Server"))
    ids = _str_list(p, "CertificateIds")
    v = listener_view(doc, ctx.clock.time())
    items = [{"CertificateId": c["CertificateId"], "CertificateType": "Server", "IsDefault": True,
              "Status": c["Status"]} for c in v.get("Certificates") or []]
    items += [{"CertificateId": c["CertificateId"], "CertificateType": "Ca",
               "IsDefault": bool(c.get("IsDefault", True)),
               "Status": c["Status"]} for c in v.get("CaCertificates") or []]
    items = [c for c in items if (not ctype or c["CertificateType"] == ctype)
             and (not ids or c["CertificateId"] in ids)]
    page, meta = _page(p, items)
    return shape(m.ListListenerCertificatesResponseBody, {"Certificates": page, **meta})


def _health_entry(ctx: Ctx, sg: dict[str, Any], srv: dict[str, Any]) -> dict[str, Any] | None:
    """The NonNormalServers entry of one backend, or None when it is healthy."""
    base = {"ServerId": srv["ServerId"], "Port": srv.get("Port"), "ServerIp": srv.get("ServerIp")}
    if not base["ServerIp"] and srv.get("ServerType") == "Ecs":
        ecs = ctx.store.get("ecs.instance", srv["ServerId"])
        base["ServerIp"] = (ecs or {}).get("PrivateIpAddress")
    hc = sg.get("HealthCheckConfig") or {}
    if not hc.get("HealthCheckEnabled", True):
        return {**base, "Status": "Unavailable"}
    if int(srv.get("Weight", 100)) == 0:
        return {**base, "Status": "Unused"}
    h = ctx.store.get("health.server", f"{sg['ServerGroupId']}/{srv['ServerId']}/{srv.get('Port')}")
    status = (h or {}).get("Status") or "Initial"
    if status == "Healthy":
        return None
    entry = {**base, "Status": status}
    if status == "Unhealthy":
        reason = {k: h.get(k) for k in ("ReasonCode", "ExpectedResponse", "ActualResponse") if h.get(k) is not None}
        if reason:
            entry["Reason"] = reason
    return entry


@action("alb", VERSION, "GetListenerHealthStatus")
def get_listener_health_status(ctx: Ctx, p: Params) -> dict[str, Any]:
    doc = _listener(ctx, p.str("ListenerId", required=True))
    include_rule = p.bool("IncludeRule", default=False)
    groups = []
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
            entry = _health_entry(ctx, sg, srv)
            if entry is not None:
                flat.append((sg_id, entry))
    page, meta = _page(p, flat, default=20, maximum=30)
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


# --------------------------------------------------------------------------------------------
# server groups
# --------------------------------------------------------------------------------------------
def _known_vpcs(ctx: Ctx) -> set[str]:
    vpcs = {d.get("VpcId") for d in ctx.store.list("alb.loadbalancer")}
    vpcs |= {d.get("VpcId") for d in ctx.store.list("ecs.instance")}
    vpcs |= {d.get("VpcId") for d in ctx.store.list("alb.servergroup")}
    return {v for v in vpcs if v}


def _parse_health_check(p: Params) -> dict[str, Any]:
    pre = "HealthCheckConfig"
    hp = _sub(pre, p.obj(pre, required=True))
    enabled = hp.bool(f"{pre}.HealthCheckEnabled", required=True)
    codes = hp.list(f"{pre}.HealthCheckCodes")
    for i, c in enumerate(codes, 1):
        if not isinstance(c, str) or not re.match(r"^(http_[2-5]xx|\d+(-\d+)?)$", c):
            raise errors.InvalidParameter(f"{pre}.HealthCheckCodes.{i}", "Valid values: http_2xx, http_3xx, "
                                                                         "http_4xx, http_5xx.")
    hc = {
        "HealthCheckEnabled": enabled,
        "HealthCheckProtocol": hp.str(f"{pre}.HealthCheckProtocol", default="HTTP",
                                      enum=("HTTP", "HTTPS", "TCP", "gRPC", "GRPC")),
        "HealthCheckPath": hp.str(f"{pre}.HealthCheckPath", default="/", max_len=80),
        "HealthCheckMethod": hp.str(f"{pre}.HealthCheckMethod", default="HEAD", enum=("HEAD", "GET", "POST")),
        "HealthCheckCodes": codes or ["http_2xx", "http_3xx"],
        "HealthCheckConnectPort": hp.int(f"{pre}.HealthCheckConnectPort", default=0, min=0, max=65535),
        "HealthCheckHost": hp.str(f"{pre}.HealthCheckHost"),
        "HealthCheckHttpVersion": hp.str(f"{pre}.HealthCheckHttpVersion", default="HTTP1.1",
                                         enum=("HTTP1.0", "HTTP1.1")),
        "HealthCheckInterval": hp.int(f"{pre}.HealthCheckInterval", default=2, min=1, max=50),
        "HealthCheckTimeout": hp.int(f"{pre}.HealthCheckTimeout", default=5, min=1, max=300),
        "HealthyThreshold": hp.int(f"{pre}.HealthyThreshold", default=3, min=2, max=10),
        "UnhealthyThreshold": hp.int(f"{pre}.UnhealthyThreshold", default=3, min=2, max=10),
    }
    if not hc["HealthCheckPath"].startswith("/"):
        raise errors.InvalidParameter(f"{pre}.HealthCheckPath", "The path must start with '/'.")
    if hc["HealthCheckHost"] is None:
        del hc["HealthCheckHost"]
    return hc


def _parse_sticky(p: Params) -> dict[str, Any]:
    pre = "StickySessionConfig"
    if not p.has(pre):
        return {"StickySessionEnabled": False}
    sp = _sub(pre, p.obj(pre))
    out = {"StickySessionEnabled": sp.bool(f"{pre}.StickySessionEnabled", default=False)}
    typ = sp.str(f"{pre}.StickySessionType", enum=("Insert", "Server"))
    if out["StickySessionEnabled"]:
        out["StickySessionType"] = typ or "Insert"
        if out["StickySessionType"] == "Insert":
            out["CookieTimeout"] = sp.int(f"{pre}.CookieTimeout", default=1000, min=1, max=86400)
        else:
            out["Cookie"] = sp.str(f"{pre}.Cookie", required=True, max_len=200)
    return out


@action("alb", VERSION, "CreateServerGroup", write=True, idempotent_token=True)
def create_server_group(ctx: Ctx, p: Params) -> dict[str, Any]:
    name = p.str("ServerGroupName", required=True, max_len=128)
    if len(name) < 2:
        raise errors.InvalidParameter("ServerGroupName", "2 to 128 characters.")
    sg_type = p.str("ServerGroupType", default="Instance", enum=("Instance", "Ip", "Fc"))
    vpc_id = p.str("VpcId", required=sg_type in ("Instance", "Ip"))
    protocol = p.str("Protocol", default="HTTP", enum=("HTTP", "HTTPS", "gRPC", "GRPC"))
    scheduler = p.str("Scheduler", default="Wrr", enum=("Wrr", "Wlc", "Sch", "Uch"))
    hc = _parse_health_check(p)
    sticky = _parse_sticky(p)
    cross_zone = p.bool("CrossZoneEnabled", default=True)
    keepalive = p.bool("UpstreamKeepaliveEnabled", default=False)
    ipv6 = p.bool("Ipv6Enabled", default=False)
    tags = _tags(p)
    rg = p.str("ResourceGroupId")
    service = p.str("ServiceName")
    dry = p.bool("DryRun", default=False)
    if vpc_id and vpc_id not in _known_vpcs(ctx):
        raise _e("ResourceNotFound.Vpc", f"The specified VPC {vpc_id} is not found.", 404)
    if dry:
        raise _dry_run()
    sg_id = new_resource_id("sgp")
    job_id, done = _new_job(ctx, "CreateServerGroup", sg_id, "servergroup", "Create")
    now = ctx.clock.time()
    doc = {
        "ServerGroupId": sg_id, "ServerGroupName": name, "ServerGroupType": sg_type, "VpcId": vpc_id,
        "Protocol": protocol, "Scheduler": scheduler, "HealthCheckConfig": hc, "StickySessionConfig": sticky,
        "CrossZoneEnabled": cross_zone, "UpstreamKeepaliveEnabled": keepalive, "Ipv6Enabled": ipv6,
        "ResourceGroupId": rg, "ServiceName": service, "Tags": tags, "CreateTime": _iso(now),
        "Servers": [], "busy_until_s": done, "busy_status": "Creating",
    }
    ctx.store.put("alb.servergroup", sg_id, doc)
    return shape(m.CreateServerGroupResponseBody, {"JobId": job_id, "ServerGroupId": sg_id})


def _related_lbs(ctx: Ctx) -> dict[str, list[str]]:
    rel: dict[str, list[str]] = {}
    for lsn in ctx.store.list("alb.listener"):
        for sg_id in listener_server_group_ids(lsn):
            lbs = rel.setdefault(sg_id, [])
            if lsn["LoadBalancerId"] not in lbs:
                lbs.append(lsn["LoadBalancerId"])
    return rel


@action("alb", VERSION, "ListServerGroups")
def list_server_groups(ctx: Ctx, p: Params) -> dict[str, Any]:
    ids = _str_list(p, "ServerGroupIds")
    names = _str_list(p, "ServerGroupNames", 10)
    sg_type = p.str("ServerGroupType", enum=("Instance", "Ip", "Fc"))
    vpc = p.str("VpcId")
    rg = p.str("ResourceGroupId")
    tags = _tags(p)
    docs = [d for d in ctx.store.list("alb.servergroup")
            if (not ids or d["ServerGroupId"] in ids) and (not names or d.get("ServerGroupName") in names)
            and (not sg_type or d.get("ServerGroupType") == sg_type) and (not vpc or d.get("VpcId") == vpc)
            and (not rg or d.get("ResourceGroupId") == rg)]
    docs = _tag_filter(docs, tags)
    page, meta = _page(p, docs)
    now = ctx.clock.time()
    rel = _related_lbs(ctx)
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
    raw = _items(p, "Servers", 200)
    if not raw:
        raise errors.MissingParameter("Servers")
    sg = _server_group(ctx, sg_id)
    sg_type = sg.get("ServerGroupType", "Instance")
    existing = {(s["ServerId"], s.get("Port")) for s in sg.get("Servers") or []}
    servers = []
    for i, s in enumerate(raw, 1):
        pre = f"Servers.{i}"
        sp = _sub(pre, s)
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
        if stype == "Ecs":
            ecs = ctx.store.get("ecs.instance", sid)
            if ecs is None:
                raise _e("ResourceNotFound.BackendServer", f"The specified backend server {sid} is not found.", 404)
            if ecs.get("VpcId") != sg.get("VpcId"):
                raise _e("VpcNotMatch.BackendServer",
                         f"The VPC {ecs.get('VpcId')} of instance {sid} does not match the VPC {sg.get('VpcId')} "
                         f"of server group {sg_id}.")
            ip = ip or ecs.get("PrivateIpAddress")
        elif stype == "Ip":
            ip = ip or sid
        if (sid, port) in existing:
            raise _e("ResourceAlreadyExist.BackendServer",
                     f"The backend server {sid}:{port} already exists in server group {sg_id}.")
        existing.add((sid, port))
        srv = {"ServerId": sid, "ServerType": stype, "Port": port, "Weight": weight, "ServerIp": ip,
               "Description": desc, "RemoteIpEnabled": remote_ip, "Status": "Available"}
        servers.append({k: v for k, v in srv.items() if v is not None})
    status = server_group_status(sg, ctx.clock.time())
    if status != "Available":
        raise _e("IncorrectStatus.ServerGroup", f"The status of server group {sg_id} is {status}; "
                                                f"wait until it is Available.")
    if dry:
        raise _dry_run()
    job_id, done = _new_job(ctx, "AddServersToServerGroup", sg_id, "servergroup", "Update")
    for s in servers:
        s["busy_until_s"] = done
    sg["Servers"] = (sg.get("Servers") or []) + servers
    sg["busy_until_s"] = done
    sg["busy_status"] = "Configuring"
    ctx.store.put("alb.servergroup", sg_id, sg)
    return shape(m.AddServersToServerGroupResponseBody, {"JobId": job_id})


@action("alb", VERSION, "ListServerGroupServers")
def list_server_group_servers(ctx: Ctx, p: Params) -> dict[str, Any]:
    sg_id = p.str("ServerGroupId")
    ids = _str_list(p, "ServerIds")
    tags = _tags(p)
    now = ctx.clock.time()
    if sg_id:
        groups = [_server_group(ctx, sg_id)]
    else:
        groups = _tag_filter(ctx.store.list("alb.servergroup"), tags)
    items = [s for g in groups for s in server_group_view(g, now).get("Servers") or []
             if not ids or s["ServerId"] in ids]
    page, meta = _page(p, items)
    return shape(m.ListServerGroupServersResponseBody, {"Servers": page, **meta})


# --------------------------------------------------------------------------------------------
# security policies, jobs
# --------------------------------------------------------------------------------------------
@action("alb", VERSION, "ListSystemSecurityPolicies")
def list_system_security_policies(ctx: Ctx, p: Params) -> dict[str, Any]:
    pols = [{"SecurityPolicyId": k, "TLSVersions": list(v["TLSVersions"]), "Ciphers": list(v["Ciphers"])}
            for k, v in SYSTEM_SECURITY_POLICIES.items()]
    return shape(m.ListSystemSecurityPoliciesResponseBody, {"SecurityPolicies": pols})


@action("alb", VERSION, "ListAsynJobs")
def list_asyn_jobs(ctx: Ctx, p: Params) -> dict[str, Any]:
    ids = _str_list(p, "JobIds")
    rids = _str_list(p, "ResourceIds")
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
    page, meta = _page(p, docs)
    return shape(m.ListAsynJobsResponseBody, {"Jobs": [job_view(d, now) for d in page], **meta})


# --------------------------------------------------------------------------------------------
# seed
# --------------------------------------------------------------------------------------------
def _lb_doc(ids: dict[str, Any], lb_id: str, name: str, edition: str, dns: str, now: float) -> dict[str, Any]:
    region = ids.get("region", "cn-hangzhou")
    zones = []
    for n, z in enumerate(("h", "i"), 1):
        zones.append({
            "ZoneId": f"{region}-{z}",
            "VSwitchId": f"vsw-bp1demozone{z}00000000{n}",
            "Status": "Active",
            "LoadBalancerAddresses": [{"Address": "127.0.0.1", "IntranetAddress": f"192.168.{n}.10",
                                       "IntranetAddressHcStatus": "Healthy"}],
        })
    return {
        "LoadBalancerId": lb_id, "LoadBalancerName": name, "LoadBalancerEdition": edition, "DNSName": dns,
        "LoadBalancerStatus": "Active", "LoadBalancerBussinessStatus": "Normal", "LoadBalancerOperationLocks": [],
        "VpcId": ids["vpc_id"], "AddressType": "Internet", "AddressIpVersion": "IPv4",
        "AddressAllocatedMode": "Dynamic", "RegionId": region, "ResourceGroupId": "rg-acfmdemo00000000",
        "ZoneMappings": zones, "ModificationProtectionConfig": {"Status": "NonProtection"},
        "DeletionProtectionConfig": {"Enabled": False}, "LoadBalancerBillingConfig": {"PayType": "PostPay"},
        "SecurityGroupIds": [], "Tags": [], "CreateTime": _iso(now),
    }


DEMO_SERVER_GROUP_ID = "sgp-demo0000000000001"
DEMO_HTTP_LISTENER_ID = "lsn-demohttp808000001"


def seed_demo(cloud: "Emulator", ids: dict[str, Any]) -> None:
    """Demo account: a Standard and a Basic ALB in ``vpc_id``, ECS01/ECS02 (and one ECS in
    ``other_vpc_id``), an empty server group and an HTTP listener on port 8080 of the Standard ALB
    (ports 80 and 443 stay free). Adds ``demo_server_group_id``/``demo_http_listener_id`` to ``ids``."""
    store = cloud.store
    now = cloud.clock.time()
    store.put("alb.loadbalancer", ids["load_balancer_id"],
              _lb_doc(ids, ids["load_balancer_id"], "demo-alb-standard", "Standard", ids["dns_name"], now))
    store.put("alb.loadbalancer", ids["basic_load_balancer_id"],
              _lb_doc(ids, ids["basic_load_balancer_id"], "demo-alb-basic", "Basic", ids["basic_dns_name"], now))
    for name, iid in ids["ecs"].items():
        store.put("ecs.instance", iid, {"InstanceId": iid, "InstanceName": name, "VpcId": ids["vpc_id"],
                                        "PrivateIpAddress": "127.0.0.1", "ports": [80], "running": True})
    other = ids["other_vpc_ecs"]
    store.put("ecs.instance", other, {"InstanceId": other, "InstanceName": "ECS-OTHER", "VpcId": ids["other_vpc_id"],
                                      "PrivateIpAddress": "127.0.0.1", "ports": [80], "running": True})
    store.put("alb.servergroup", DEMO_SERVER_GROUP_ID, {
        "ServerGroupId": DEMO_SERVER_GROUP_ID, "ServerGroupName": "demo-http", "ServerGroupType": "Instance",
        "VpcId": ids["vpc_id"], "Protocol": "HTTP", "Scheduler": "Wrr",
        "HealthCheckConfig": {"HealthCheckEnabled": True, "HealthCheckProtocol": "HTTP", "HealthCheckPath": "/",
                              "HealthCheckMethod": "HEAD", "HealthCheckCodes": ["http_2xx", "http_3xx"],
                              "HealthCheckConnectPort": 0, "HealthCheckHttpVersion": "HTTP1.1",
                              "HealthCheckInterval": 2, "HealthCheckTimeout": 5, "HealthyThreshold": 3,
                              "UnhealthyThreshold": 3},
        "StickySessionConfig": {"StickySessionEnabled": False}, "CrossZoneEnabled": True,
        "UpstreamKeepaliveEnabled": False, "Ipv6Enabled": False, "Tags": [], "CreateTime": _iso(now),
        "Servers": [], "busy_until_s": 0.0, "busy_status": "Creating",
    })
    store.put("alb.listener", DEMO_HTTP_LISTENER_ID, {
        "ListenerId": DEMO_HTTP_LISTENER_ID, "LoadBalancerId": ids["load_balancer_id"], "ListenerPort": 8080,
        "ListenerProtocol": "HTTP", "ListenerStatus": "Running", "ListenerDescription": "demo-http-8080",
        "Certificates": [], "CaEnabled": False, "CaCertificates": [], "SecurityPolicyId": None,
        "DefaultActions": [{"Type": "ForwardGroup",
                            "ForwardGroupConfig": {"ServerGroupTuples": [{"ServerGroupId": DEMO_SERVER_GROUP_ID}]}}],
        "XForwardedForConfig": _default_xff(), "IdleTimeout": 15, "RequestTimeout": 60, "GzipEnabled": True,
        "Http2Enabled": False, "QuicConfig": None, "Tags": [],
        "LogConfig": {"AccessLogRecordCustomizedHeadersEnabled": False,
                      "AccessLogTracingConfig": {"TracingEnabled": False}},
        "busy_until_s": 0.0, "busy_status": "Provisioning", "pending_certs": [],
    }, key2=ids["load_balancer_id"])
    ids["demo_server_group_id"] = DEMO_SERVER_GROUP_ID
    ids["demo_http_listener_id"] = DEMO_HTTP_LISTENER_ID

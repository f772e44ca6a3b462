"""Typed parameters of the ALB actions: the flattened lists and objects of the requests read into
plain values, each with the error the real API gives for a bad value (``MissingParameter``,
``InvalidParameter``, and the not-found codes of the resources a parameter names). Paging tokens.
"""
from __future__ import annotations

import base64
import json
import re
from typing import TYPE_CHECKING, Any, Literal, overload

from ... import errors
from ...protocol import Params
from . import models
from .exceptions import (
    CaCertificateNotFound,
    CaCertificatesQuotaExceeded,
    CertificateNotFound,
    SecurityPolicyNotFound,
    VpcNotMatch,
)
from .models import SYSTEM_SECURITY_POLICIES, XFF_ALIAS_FIELDS, XFF_BOOL_FIELDS

if TYPE_CHECKING:  # pragma: no cover
    from ...emulator import Emulator

_ALIAS_RE = re.compile(r"^[a-z0-9_-]{1,40}$")


def sub(prefix: str, obj: Any) -> Params:
    """A ``Params`` over a nested object whose names carry the full wire prefix (for error messages)."""
    if obj in (None, ""):
        obj = {}
    if not isinstance(obj, dict):
        raise errors.InvalidParameter(prefix, "An object is expected.")
    return Params({f"{prefix}.{k}": v for k, v in obj.items()})


def items(p: Params, name: str, limit: int | None = None) -> list[dict[str, Any]]:
    """A flattened list of objects (``Name.N.Field``)."""
    out = p.list(name)
    for i, it in enumerate(out, 1):
        if not isinstance(it, dict):
            raise errors.InvalidParameter(f"{name}.{i}", "An object is expected.")
    if limit is not None and len(out) > limit:
        raise errors.InvalidParameter(name, f"At most {limit} items are allowed.")
    return out


def str_list(p: Params, name: str, limit: int | None = None) -> list[str]:
    out = p.list(name)
    for i, it in enumerate(out, 1):
        if not isinstance(it, str) or not it:
            raise errors.InvalidParameter(f"{name}.{i}", "A string is expected.")
    if limit is not None and len(out) > limit:
        raise errors.InvalidParameter(name, f"At most {limit} items are allowed.")
    return out


def tags(p: Params, name: str = "Tag") -> list[dict[str, str]]:
    out = []
    for i, t in enumerate(items(p, name, 20), 1):
        sp = sub(f"{name}.{i}", t)
        out.append({"Key": sp.str(f"{name}.{i}.Key", required=True, max_len=128),
                    "Value": sp.str(f"{name}.{i}.Value", default="", max_len=128)})
    return out


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


def page(p: Params, items: list[Any], default: int = 20, maximum: int = 100) -> tuple[list[Any], dict[str, Any]]:
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


@overload
def default_actions(cloud: Emulator, p: Params, lb: dict[str, Any],
                    required: Literal[True]) -> list[dict[str, Any]]: ...


@overload
def default_actions(cloud: Emulator, p: Params, lb: dict[str, Any],
                    required: bool) -> list[dict[str, Any]] | None: ...


def default_actions(cloud: Emulator, p: Params, lb: dict[str, Any], required: bool) -> list[dict[str, Any]] | None:
    acts = items(p, "DefaultActions")
    if not acts:
        if required:
            raise errors.MissingParameter("DefaultActions")
        return None
    if len(acts) > 1:
        raise errors.InvalidParameter("DefaultActions", "Only one default action is supported.")
    out = []
    for i, a in enumerate(acts, 1):
        pre = f"DefaultActions.{i}"
        ap = sub(pre, a)
        typ = ap.str(f"{pre}.Type", required=True, enum=("ForwardGroup",))
        fg = sub(f"{pre}.ForwardGroupConfig", ap.obj(f"{pre}.ForwardGroupConfig", required=True))
        tuples = items(fg, f"{pre}.ForwardGroupConfig.ServerGroupTuples")
        if not tuples:
            raise errors.MissingParameter(f"{pre}.ForwardGroupConfig.ServerGroupTuples.1.ServerGroupId")
        if len(tuples) > 20:
            raise errors.InvalidParameter(f"{pre}.ForwardGroupConfig.ServerGroupTuples", "At most 20 items.")
        norm = []
        for j, t in enumerate(tuples, 1):
            tn = f"{pre}.ForwardGroupConfig.ServerGroupTuples.{j}.ServerGroupId"
            sg_id = sub(tn.rsplit(".", 1)[0], t).str(tn, required=True)
            sg = models.server_group(cloud, sg_id)
            if sg.get("ServerGroupType", "Instance") != "Fc" and sg.get("VpcId") != lb.get("VpcId"):
                raise VpcNotMatch(f"The VPC {sg.get('VpcId')} of server group {sg_id} does not match "
                                  f"the VPC {lb.get('VpcId')} of load balancer {lb['LoadBalancerId']}.")
            norm.append({"ServerGroupId": sg_id})
        out.append({"Type": typ, "ForwardGroupConfig": {"ServerGroupTuples": norm}})
    return out


def server_certs(cloud: Emulator, p: Params) -> list[dict[str, str]] | None:
    certs = items(p, "Certificates")
    if not certs:
        return None
    if len(certs) > 1:
        raise errors.InvalidParameter("Certificates", "Only one default server certificate is supported; "
                                                      "use AssociateAdditionalCertificatesWithListener for more.")
    cid = sub("Certificates.1", certs[0]).str("Certificates.1.CertificateId", required=True)
    if models.server_certificate(cloud.store, cid) is None:
        raise CertificateNotFound(cid)
    return [{"CertificateId": cid}]


def ca_certs(cloud: Emulator, p: Params) -> list[dict[str, Any]] | None:
    cas = items(p, "CaCertificates")
    if not cas:
        return None
    if len(cas) > 1:
        raise CaCertificatesQuotaExceeded()
    cid = sub("CaCertificates.1", cas[0]).str("CaCertificates.1.CertificateId", required=True)
    if not models.ca_certificate_exists(cloud.store, cid, cloud.settings.alb_ca_id_form):
        raise CaCertificateNotFound(cid)
    return [{"CertificateId": cid, "IsDefault": True, "Status": "Associated"}]


def xff(p: Params) -> dict[str, Any]:
    """Only the XForwardedForConfig fields given (for merging)."""
    if not p.has("XForwardedForConfig"):
        return {}
    pre = "XForwardedForConfig"
    xp = sub(pre, p.obj(pre))
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


def common(p: Params) -> dict[str, Any]:
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
            raise SecurityPolicyNotFound(pol)
        out["SecurityPolicyId"] = pol
    if p.has("QuicConfig"):
        qp = sub("QuicConfig", p.obj("QuicConfig"))
        q = {}
        up = qp.bool("QuicConfig.QuicUpgradeEnabled")
        if up is not None:
            q["QuicUpgradeEnabled"] = up
        qid = qp.str("QuicConfig.QuicListenerId")
        if qid is not None:
            q["QuicListenerId"] = qid
        out["QuicConfig"] = q
    return out


def health_check(p: Params) -> dict[str, Any]:
    pre = "HealthCheckConfig"
    hp = sub(pre, p.obj(pre, required=True))
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


def sticky(p: Params) -> dict[str, Any]:
    pre = "StickySessionConfig"
    if not p.has(pre):
        return {"StickySessionEnabled": False}
    sp = sub(pre, p.obj(pre))
    out = {"StickySessionEnabled": sp.bool(f"{pre}.StickySessionEnabled", default=False)}
    typ = sp.str(f"{pre}.StickySessionType", enum=("Insert", "Server"))
    if out["StickySessionEnabled"]:
        out["StickySessionType"] = typ or "Insert"
        if out["StickySessionType"] == "Insert":
            out["CookieTimeout"] = sp.int(f"{pre}.CookieTimeout", default=1000, min=1, max=86400)
        else:
            out["Cookie"] = sp.str(f"{pre}.Cookie", required=True, max_len=200)
    return out

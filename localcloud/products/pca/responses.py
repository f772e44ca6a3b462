"""The private CA (2020-06-30) actions: parameters → ``models`` → SDK-shaped bodies."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alibabacloud_cas20200630 import models as m

from ... import errors
from ...account import ACCOUNT_ID
from ...registry import Ctx, action, shape
from . import models
from .models import DEFAULT_CERT_TOTAL, MAX_SHOW_SIZE, ca_view, client_view, existing_ca
from .models import VERSION as V

if TYPE_CHECKING:
    from ...protocol import Params


@action("pca", V, "CreateClientCertificateWithCsr", write=True)
def create_client_certificate_with_csr(ctx: Ctx, p: Params) -> dict:
    csr = p.str("Csr", required=True)
    parent_id = p.str("ParentIdentifier", required=True)
    immediately = p.int("Immediately", default=0, min=0, max=2)
    nb, na = models.validity(ctx.clock.now(), days=p.int("Days", min=1), months=p.int("Months", min=1),
                             years=p.int("Years", min=1), before=p.int("BeforeTime", min=0),
                             after=p.int("AfterTime", min=0))
    sans = models.sans_from_request(p.int("SanType", min=0, max=8), p.str("SanValue"))
    tags = [{"TagKey": t.get("Key", ""), "TagValue": t.get("Value", "")}
            for t in p.list("Tags") if isinstance(t, dict)]
    doc = models.issue_client_certificate(ctx.cloud, parent_id, csr, not_before=nb, not_after=na, sans=sans,
                                          custom_identifier=p.str("CustomIdentifier", default="", max_len=64),
                                          tags=tags, algorithm=p.str("Algorithm"),
                                          enable_crl=p.int("EnableCrl", default=0, min=0, max=1) == 1)
    body: dict[str, Any] = {"Identifier": doc["Identifier"], "SerialNumber": doc["SerialNumber"]}
    if immediately >= 1:
        body["X509Certificate"] = doc["Certificate"]
    if immediately == 2:
        body["CertificateChain"] = doc["CertificateChain"]
    return shape(m.CreateClientCertificateWithCsrResponseBody, body)


@action("pca", V, "DescribeClientCertificate")
def describe_client_certificate(ctx: Ctx, p: Params) -> dict:
    doc = models.client(ctx.store, p.str("Identifier", required=True))
    return shape(m.DescribeClientCertificateResponseBody, {"Certificate": client_view(doc, with_chain=True)})


@action("pca", V, "ListClientCertificate")
def list_client_certificate(ctx: Ctx, p: Params) -> dict:
    page = p.int("CurrentPage", default=1, min=1)
    size = p.int("ShowSize", default=20, min=1, max=MAX_SHOW_SIZE)
    ident = p.str("Identifier")
    if ident:
        doc = ctx.store.get("pca.client", ident)
        docs = [doc] if doc is not None and page == 1 else []
        total = 1 if doc is not None else 0
    else:
        total = ctx.store.count("pca.client")
        docs = ctx.store.page("pca.client", (page - 1) * size, size)
    return shape(m.ListClientCertificateResponseBody, {
        "CertificateList": [client_view(d, with_chain=False) for d in docs],
        "TotalCount": total, "CurrentPage": page, "ShowSize": size, "MaxResults": size,
        "PageCount": (total + size - 1) // size,
    })


@action("pca", V, "DescribeClientCertificateStatus")
def describe_client_certificate_status(ctx: Ctx, p: Params) -> dict:
    out = []
    for ident in (s.strip() for s in p.str("Identifier", required=True).split(",")):
        if not ident:
            continue
        doc = ctx.store.get("pca.client", ident)
        if doc is None:
            out.append({"Status": "unknown"})
        elif doc["Status"] == "REVOKE":
            out.append({"SerialNumber": doc["SerialNumber"], "Status": "revoked", "RevokeTime": doc["RevokeDate"]})
        else:
            out.append({"SerialNumber": doc["SerialNumber"], "Status": "good"})
    return shape(m.DescribeClientCertificateStatusResponseBody, {"CertificateStatus": out})


@action("pca", V, "CreateRevokeClientCertificate", write=True)
def create_revoke_client_certificate(ctx: Ctx, p: Params) -> dict:
    models.revoke(ctx.cloud, p.str("Identifier", required=True))
    return shape(m.CreateRevokeClientCertificateResponseBody, {})


@action("pca", V, "DescribeCACertificateList")
def describe_ca_certificate_list(ctx: Ctx, p: Params) -> dict:
    page = p.int("CurrentPage", default=1, min=1)
    size = p.int("ShowSize", default=20, min=1, max=MAX_SHOW_SIZE)
    ident = p.str("Identifier")
    cert_type = p.str("CertType", enum=("root", "subRoot", "externalCa"))
    ca_status = p.str("CaStatus", enum=("issue", "forbidden", "revoke"))
    valid = p.str("ValidStatus", enum=("valid", "notValid"))
    now_ms = ctx.clock.now_ms()
    want_type = {"root": "ROOT", "subRoot": "SUB_ROOT", "externalCa": "EXTERNAL"}.get(cert_type or "")

    def keep(d: dict[str, Any]) -> bool:
        if ident and d["Identifier"] != ident:
            return False
        if want_type and d["CertificateType"] != want_type:
            return False
        if ca_status and d["Status"].lower() != ca_status:
            return False
        if valid:
            ok = d["BeforeDate"] <= now_ms < d["AfterDate"]
            if ok != (valid == "valid"):
                return False
        return True

    docs = ctx.store.list("pca.ca", where=keep)
    chunk = docs[(page - 1) * size: page * size]
    return shape(m.DescribeCACertificateListResponseBody, {
        "CertificateList": [ca_view(ctx.store, d, detail=False, now_ms=now_ms) for d in chunk],
        "TotalCount": len(docs), "CurrentPage": page, "ShowSize": size,
        "PageCount": (len(docs) + size - 1) // size,
    })


@action("pca", V, "DescribeCACertificate")
def describe_ca_certificate(ctx: Ctx, p: Params) -> dict:
    doc = existing_ca(ctx.store, p.str("Identifier", required=True))
    view = ca_view(ctx.store, doc, detail=True, now_ms=ctx.clock.now_ms(), crl_url=models.crl_url(ctx.cloud, doc))
    return shape(m.DescribeCACertificateResponseBody, {"Certificate": view, "Years": doc.get("Years")})


@action("pca", V, "GetCAInstanceStatus")
def get_ca_instance_status(ctx: Ctx, p: Params) -> dict:
    docs = models.instances(ctx.store, p.str("Identifier"), p.str("InstanceId"))
    out = [{"InstanceId": d["InstanceId"], "Identifier": d["Identifier"], "Type": d["CertificateType"],
            "Status": "USED" if d["Status"] == "ISSUE" else "REVOKE",
            "CertTotalCount": int(d.get("cert_total_count", DEFAULT_CERT_TOTAL)),
            "CertIssuedCount": models.issued_count(ctx.store, d), "BeforeTime": d["BeforeDate"],
            "AfterTime": d["AfterDate"], "UseExpireTime": d["subscription_end"]} for d in docs]
    return shape(m.GetCAInstanceStatusResponseBody, {"InstanceStatusList": out})


# ListPcaCaCertificate: MaxResults 1–2000 (default 20), NextToken paging (the SDK model's doc).
MAX_PCA_LIST = 2000


@action("pca", V, "ListPcaCaCertificate")
def list_pca_ca_certificate(ctx: Ctx, p: Params) -> dict:
    size = p.int("MaxResults", default=20, min=1, max=MAX_PCA_LIST)
    token = p.str("NextToken")
    start = 0
    if token:
        if not token.isdigit():
            raise errors.InvalidParameter("NextToken", "The NextToken was not issued by this service.")
        start = int(token)
    docs = ctx.store.list("pca.ca")
    chunk = docs[start:start + size]
    nxt = str(start + size) if start + size < len(docs) else None
    region, user = ctx.cloud.settings.region, ACCOUNT_ID
    return shape(m.ListPcaCaCertificateResponseBody, {
        "List": [models.pca_list_item(ctx.store, d, region=region, user_id=user) for d in chunk],
        "TotalCount": len(docs), "MaxResults": size, "NextToken": nxt,
    })


@action("pca", V, "DescribePcaAndExternalCACertificateList")
def describe_pca_and_external_ca_certificate_list(ctx: Ctx, p: Params) -> dict:
    page = p.int("CurrentPage", default=1, min=1)
    size = p.int("ShowSize", default=50, min=1, max=MAX_SHOW_SIZE)
    wanted = {s.strip() for s in (p.str("Identifiers") or "").split(",") if s.strip()}
    keyword = (p.str("KeyWord") or "").lower()

    def keep(d: dict[str, Any]) -> bool:
        if wanted and d["Identifier"] not in wanted:
            return False
        return not keyword or keyword in d["CommonName"].lower() or keyword in d["Identifier"].lower()

    docs = ctx.store.list("pca.ca", where=keep)
    chunk = docs[(page - 1) * size: page * size]
    return shape(m.DescribePcaAndExternalCACertificateListResponseBody, {
        "CertificateList": [models.pca_and_external_item(d) for d in chunk],
        "TotalCount": len(docs), "CurrentPage": page, "ShowSize": size,
        "PageCount": (len(docs) + size - 1) // size,
    })

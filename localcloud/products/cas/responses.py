"""The CAS (2020-04-07) actions: parameters → ``models`` → SDK-shaped bodies."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from alibabacloud_cas20200407 import models as m

from ... import errors, pki
from ...registry import Ctx, action, shape
from . import models
from .exceptions import Sm2NotSupported
from .models import KIND, date, status, using_products
from .models import VERSION as V

if TYPE_CHECKING:
    from ...protocol import Params


@action("cas", V, "ListCertificates")
def list_certificates(ctx: Ctx, p: Params) -> dict:
    page = p.int("CurrentPage", default=1, min=1)
    size = p.int("ShowSize", default=10, min=1, max=100)
    source = p.str("CertificateSource", enum=("BUY", "TEST", "UPLOAD"))
    want_status = p.str("CertificateStatus", enum=("issued", "revoked", "willExpire", "expired"))
    keyword = (p.str("Keyword") or "").lower()
    now_ms = ctx.clock.now_ms()

    def keep(d: dict[str, Any]) -> bool:
        if source and d.get("CertificateSource", "UPLOAD") != source:
            return False
        if want_status and status(d, now_ms) != want_status:
            return False
        if keyword:
            hay = [d["Name"], d["CommonName"], str(d["CertId"]), d.get("InstanceId", ""), *d.get("Sans", [])]
            if not any(keyword in h.lower() for h in hay):
                return False
        return True

    docs = ctx.store.list(KIND, where=keep)
    chunk = docs[(page - 1) * size: page * size]
    out = [{
        "CertificateId": str(d["CertId"]), "CertIdentifier": d["CertIdentifier"], "CertificateName": d["Name"],
        "CommonName": d["CommonName"], "Domain": ",".join(d.get("Sans") or [d["CommonName"]]),
        "SubjectAlternativeNames": d.get("Sans") or [], "NotBefore": d["NotBefore"], "NotAfter": d["NotAfter"],
        "CertificateStatus": status(d, now_ms), "CertificateSource": d.get("CertificateSource", "UPLOAD"),
        "Issuer": d["Issuer"], "Serial": d["SerialNo"], "FingerPrint": d["Fingerprint"],
        "Algorithm": d["Algorithm"], "KeySize": d.get("KeySize"), "ExistPrivateKey": bool(d.get("Key")),
        "InstanceId": d.get("InstanceId"), "UsingProductList": using_products(ctx.store, d),
    } for d in chunk]
    return shape(m.ListCertificatesResponseBody, {"CertificateList": out, "TotalCount": len(docs),
                                                  "CurrentPage": page, "ShowSize": size})


@action("cas", V, "GetUserCertificateDetail")
def get_user_certificate_detail(ctx: Ctx, p: Params) -> dict:
    doc = models.get(ctx.cloud, p.int("CertId", required=True))
    cert_filter = p.bool("CertFilter", default=False)
    now = ctx.clock.now()
    chain_view = []
    for c in pki.load_certs(doc["Cert"]):
        na = pki.not_after(c)
        chain_view.append({"CommonName": pki.common_name(c.subject), "IssuerCommonName": pki.common_name(c.issuer),
                           "NotBefore": pki.to_ms(pki.not_before(c)), "NotAfter": pki.to_ms(na),
                           "RemainDay": max(0, (na - now).days)})
    body: dict[str, Any] = {
        "Id": doc["CertId"], "CertIdentifier": doc["CertIdentifier"], "Name": doc["Name"],
        "Common": doc["CommonName"], "Sans": ",".join(doc.get("Sans") or []),
        "Issuer": doc["Issuer"], "StartDate": date(doc["NotBefore"]), "EndDate": date(doc["NotAfter"]),
        "NotBefore": doc["NotBefore"], "NotAfter": doc["NotAfter"], "Expired": doc["NotAfter"] <= pki.to_ms(now),
        "Fingerprint": doc["Fingerprint"], "Sha2": doc["Sha256"], "CertSha2": doc["Sha256"],
        "SerialNo": doc["SerialNo"], "Algorithm": doc["Algorithm"], "BuyInAliyun": False,
        "InstanceId": doc.get("InstanceId"), "ResourceGroupId": doc.get("ResourceGroupId") or None,
        "CertChain": chain_view,
        "Tags": [{"TagKey": t.get("TagKey"), "TagValue": t.get("TagValue")} for t in doc.get("Tags") or []],
    }
    if not cert_filter:
        body["Cert"] = doc["Cert"]
        body["Key"] = doc["Key"]
    return shape(m.GetUserCertificateDetailResponseBody, body)


@action("cas", V, "UploadUserCertificate", write=True, idempotent_token=True)
def upload_user_certificate(ctx: Ctx, p: Params) -> dict:
    name = p.str("Name", required=True, max_len=63)
    cert = p.str("Cert")
    key = p.str("Key")
    if not cert and not key and (p.has("SignCert") or p.has("EncryptCert")):
        raise Sm2NotSupported()
    if not cert:
        raise errors.MissingParameter("Cert")
    if not key:
        raise errors.MissingParameter("Key")
    tags = [{"TagKey": t.get("Key", ""), "TagValue": t.get("Value", "")} for t in p.list("Tags") if isinstance(t, dict)]
    doc = models.store_certificate(ctx.cloud, name, cert, key, tags=tags,
                                   resource_group_id=p.str("ResourceGroupId", default=""))
    return shape(m.UploadUserCertificateResponseBody, {"CertId": doc["CertId"], "ResourceId": doc["InstanceId"]})


@action("cas", V, "DeleteUserCertificate", write=True, idempotent_token=True)
def delete_user_certificate(ctx: Ctx, p: Params) -> dict:
    models.delete(ctx.cloud, p.int("CertId", required=True))
    return shape(m.DeleteUserCertificateResponseBody, {})


# -- the certificate repository ("warehouse"): uploaded CA certificates -------------------------------
@action("cas", V, "CreateWarehouse", write=True)
def create_warehouse(ctx: Ctx, p: Params) -> dict:
    type_ = p.str("Type", required=True, enum=tuple(models.WAREHOUSE_TYPES))
    doc = models.create_warehouse(ctx.cloud, p.str("Name", required=True, max_len=64), type_, p.str("Biz"))
    return shape(m.CreateWarehouseResponseBody, {"WarehouseInstanceId": doc["InstanceId"]})


@action("cas", V, "ListCertWarehouse")
def list_cert_warehouse(ctx: Ctx, p: Params) -> dict:
    page = p.int("CurrentPage", default=1, min=1)
    size = p.int("ShowSize", default=50, min=1, max=100)
    name = p.str("Name")
    kind = models.warehouse_kind(p.str("Type")) if p.has("Type") else None
    instance_id = p.str("InstanceId")

    def keep(d: dict[str, Any]) -> bool:
        return ((not name or name in d["Name"]) and (kind is None or models.warehouse_kind(d["Type"]) == kind)
                and (not instance_id or d["InstanceId"] == instance_id))

    docs = ctx.store.list(models.WAREHOUSE, where=keep)
    now_ms = ctx.clock.now_ms()
    return shape(m.ListCertWarehouseResponseBody, {
        "CertWarehouseList": [models.warehouse_view(d, now_ms) for d in docs[(page - 1) * size: page * size]],
        "TotalCount": len(docs), "CurrentPage": page, "ShowSize": size})


@action("cas", V, "ListWarehouse")
def list_warehouse(ctx: Ctx, p: Params) -> dict:
    size = p.int("MaxResults", default=20, min=1, max=100)
    token = p.str("NextToken")
    if token and not token.isdigit():
        raise errors.InvalidParameter("NextToken", "The NextToken was not issued by this service.")
    start = int(token or 0)
    ids = {str(i) for i in p.list("WarehouseInstanceIds")}
    kinds = {models.warehouse_kind(str(t)) for t in p.list("WarehouseTypes")}
    docs = ctx.store.list(models.WAREHOUSE, where=lambda d: (not ids or d["InstanceId"] in ids)
                          and (not kinds or models.warehouse_kind(d["Type"]) in kinds))
    chunk = docs[start:start + size]
    return shape(m.ListWarehouseResponseBody, {
        "Data": [{"WarehouseInstanceId": d["InstanceId"], "WarehouseName": d["Name"], "WarehouseType": d["Type"]}
                 for d in chunk],
        "MaxResults": size, "NextToken": str(start + size) if start + size < len(docs) else None,
        "TotalCount": len(docs)})


@action("cas", V, "DeleteWarehouse", write=True)
def delete_warehouse(ctx: Ctx, p: Params) -> dict:
    models.delete_warehouse(ctx.cloud, p.str("WarehouseInstanceId", required=True))
    return shape(m.DeleteWarehouseResponseBody, {})


@action("cas", V, "UploadPCACert", write=True)
def upload_pca_cert(ctx: Ctx, p: Params) -> dict:
    doc = models.upload_pca_cert(ctx.cloud, p.int("WarehouseId", required=True, min=1), p.str("Cert", required=True),
                                 name=p.str("Name", max_len=128), private_key_pem=p.str("PrivateKey"))
    return shape(m.UploadPCACertResponseBody, {"Identifier": doc["Identifier"]})


@action("cas", V, "DescribeWarehouseCert")
def describe_warehouse_cert(ctx: Ctx, p: Params) -> dict:
    d = models.existing_warehouse_cert(ctx.store, p.str("CertIdentifier", required=True))
    return shape(m.DescribeWarehouseCertResponseBody, {
        "CertIdentifier": d["Identifier"], "CertStatus": d["Status"], "CertType": d["CertType"],
        "CommonName": d["CommonName"], "Content": d["Content"], "Fingerprint": d["Fingerprint"],
        "Issuer": d["Issuer"], "IssuerIdentifier": None, "PrivateCaInstanceId": None, "PrivateCaRegionId": None,
        "WarehouseInstanceId": d["WarehouseInstanceId"]})


@action("cas", V, "ListCert")
def list_cert(ctx: Ctx, p: Params) -> dict:
    page = p.int("CurrentPage", default=1, min=1)
    size = p.int("ShowSize", default=50, min=1, max=100)
    wh_id = p.int("WarehouseId", min=1)
    if wh_id is not None:
        models.warehouse_by_id(ctx.store, wh_id)
    cert_type = p.str("CertType", enum=("CA", "CERT"))
    source = p.str("SourceType", enum=("upload", "aliyun"))
    want_status = p.str("Status", enum=("ISSUE", "REVOKE"))
    keyword = (p.str("KeyWord") or "").lower()
    wanted = {s.strip() for s in (p.str("Identifiers") or "").split(",") if s.strip()}

    def keep(d: dict[str, Any]) -> bool:
        return ((wh_id is None or d["WhId"] == wh_id) and (not cert_type or d["CertType"] == cert_type)
                and (not source or d["SourceType"] == source) and (not want_status or d["Status"] == want_status)
                and (not wanted or d["Identifier"] in wanted)
                and (not keyword or keyword in d["CommonName"].lower() or keyword in d["Name"].lower()))

    docs = ctx.store.list(models.WHCERT, where=keep)
    items = [{"Identifier": d["Identifier"], "CertType": d["CertType"], "SourceType": d["SourceType"],
              "WhId": d["WhId"], "WhInstanceId": d["WarehouseInstanceId"], "CommonName": d["CommonName"],
              "Issuer": d["Issuer"], "SerialNo": d["SerialNo"], "Sans": d["Sans"], "Algorithm": d["Algorithm"],
              "SignAlgorithm": d["SignAlgorithm"], "BeforeDate": d["BeforeDate"], "AfterDate": d["AfterDate"],
              "Status": d["Status"], "ExistPrivateKey": d["ExistPrivateKey"]}
             for d in docs[(page - 1) * size: page * size]]
    return shape(m.ListCertResponseBody, {"CertList": items, "TotalCount": len(docs), "CurrentPage": page,
                                          "ShowSize": size})


@action("cas", V, "DeletePCACert", write=True)
def delete_pca_cert(ctx: Ctx, p: Params) -> dict:
    models.delete_pca_cert(ctx.cloud, p.str("Identifier", required=True))
    return shape(m.DeletePCACertResponseBody, {})

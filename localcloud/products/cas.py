"""Certificate Management Service, version 2020-04-07 (``alibabacloud_cas20200407``): the
user's (server) certificates — upload, list, detail, delete.

State (``localcloud/SCHEMA.md``): ``cas.cert`` keyed by ``str(CertId)``; ``Cert`` holds the leaf
PEM followed by any chain certificates, ``Key`` the private key PEM.

The demo seed also makes a local *server* root CA: its PEM is in store meta ``server_root_ca_pem``
(and ``<state_dir>/server-root-ca.pem``) so clients can trust the data-plane listeners; its key is
in meta ``server_root_ca_key_pem`` (``make_server_certificate`` uses it).
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from alibabacloud_cas20200407 import models as m

from .. import errors, pki
from ..protocol import Params
from ..registry import Ctx, action, shape

if TYPE_CHECKING:  # pragma: no cover
    from ..emulator import Emulator

V = "2020-04-07"
SITE_REGION = "cn-hangzhou"   # China site: CertIdentifier = "<CertId>-cn-hangzhou"
CERT_ID_BASE = 20_000_000
WILL_EXPIRE_DAYS = 30

# Behaviour the reference (alibaba-apis.md §2.3/§2.4) could not settle; the emulator's choices.
ASSUMPTIONS: dict[str, str] = {
    "NameRepeat": "400 when Name is already used in the account (message 'The certificate name already "
                  "exists.', seen in public reports; the code string itself is a guess).",
    "CertificateRepeat": "400 when the same certificate (same SHA-256 fingerprint) is uploaded again under another "
                         "name; the message names the existing CertId. Public reports suggest the real API refuses "
                         "re-uploads, the exact code is unknown.",
    "InvalidParameter.Cert": "400 for a Cert that is not PEM X.509 (real message: the certificate format is abnormal).",
    "InvalidParameter.Key": "400 for a Key that is not a PEM private key.",
    "InvalidParameter.CertKeyMismatch": "400 when the private key does not belong to the (first) certificate.",
    "InvalidParameter.CertExpired": "400 when the uploaded certificate has already expired.",
    "Certificate.NotFound": "404 for an unknown CertId (GetUserCertificateDetail, DeleteUserCertificate).",
    "Certificate.InUse": "400 on DeleteUserCertificate while an ALB listener refers to the certificate.",
    "NotBefore/NotAfter": "epoch milliseconds in ListCertificates and GetUserCertificateDetail.",
    "Sans": "GetUserCertificateDetail.Sans is the comma-separated list of DNS names.",
}


def _e(code: str, message: str, status: int = 400) -> errors.ApiError:
    return errors.error(code, message, status)


def cert_identifier(cert_id: int) -> str:
    return f"{cert_id}-{SITE_REGION}"


# -- the store side ------------------------------------------------------------------------------------
def _next_cert_id(store) -> int:
    while True:
        cid = CERT_ID_BASE + store.next_seq("cas.cert_id")
        if store.get("cas.cert", str(cid)) is None:
            return cid


def store_certificate(cloud: "Emulator", name: str, cert_pem: str, key_pem: str, *,
                      cert_id: int | None = None, tags: list[dict[str, str]] | None = None,
                      resource_group_id: str = "") -> dict[str, Any]:
    """Validate and store a certificate (leaf + chain PEM) with its key; the ``UploadUserCertificate``
    rules (raises ``errors.ApiError``). Returns the ``cas.cert`` document."""
    store = cloud.store
    try:
        chain = pki.load_certs(cert_pem)
    except pki.PkiError:
        chain = []
    if not chain:
        raise _e("InvalidParameter.Cert", "The certificate format is invalid: a PEM X.509 certificate is expected.")
    try:
        key = pki.load_key(key_pem)
    except pki.PkiError:
        raise _e("InvalidParameter.Key", "The private key format is invalid: a PEM private key is expected.") from None
    leaf = chain[0]
    if not pki.keys_match(leaf, key):
        raise _e("InvalidParameter.CertKeyMismatch", "The certificate and the private key do not match.")
    if pki.not_after(leaf) <= cloud.clock.now():
        raise _e("InvalidParameter.CertExpired", "The certificate has expired.")
    if store.first("cas.cert", Name=name) is not None:
        raise _e("NameRepeat", "The certificate name already exists.")
    sha256 = pki.fingerprint(leaf, "sha256")
    same = store.first("cas.cert", Sha256=sha256)
    if same is not None:
        raise _e("CertificateRepeat", f"The certificate already exists (CertId {same['CertId']}).")
    cid = cert_id if cert_id is not None else _next_cert_id(store)
    sans = pki.dns_sans(leaf)
    doc = {
        "CertId": cid,
        "CertIdentifier": cert_identifier(cid),
        "Name": name,
        "Cert": "".join(pki.cert_pem(c) for c in chain),
        "Key": pki.key_pem(key),
        "CommonName": pki.common_name(leaf.subject),
        "Sans": sans,
        "Issuer": pki.common_name(leaf.issuer) or pki.dn_string(leaf.issuer),
        "NotBefore": pki.to_ms(pki.not_before(leaf)),
        "NotAfter": pki.to_ms(pki.not_after(leaf)),
        "Fingerprint": pki.fingerprint(leaf, "sha1"),
        "Sha256": sha256,
        "SerialNo": pki.serial_hex(leaf),
        "Algorithm": pki.key_family(key),
        "KeySize": pki.key_size(key),
        "CertificateSource": "UPLOAD",
        "InstanceId": f"cas-upload-{cid}",
        "ResourceGroupId": resource_group_id,
        "Tags": tags or [],
        "CreateTime": cloud.clock.now_ms(),
    }
    store.put("cas.cert", str(cid), doc)
    return doc


def server_root_ca(cloud: "Emulator") -> tuple[str, str] | None:
    """(cert PEM, key PEM) of the local server root CA made by the demo seed, if any."""
    cert = cloud.store.get_meta("server_root_ca_pem")
    key = cloud.store.get_meta("server_root_ca_key_pem")
    return (cert, key) if cert and key else None


def ensure_server_root_ca(cloud: "Emulator") -> tuple[str, str]:
    """The local server root CA (created on first use); also written to
    ``<state_dir>/server-root-ca.pem`` when the cloud has a state directory."""
    found = server_root_ca(cloud)
    if found is None:
        cert, key = pki.make_root_ca("alb-mtls Local Server Root CA", now=cloud.clock.now())
        found = (pki.cert_pem(cert), pki.key_pem(key))
        cloud.store.set_meta("server_root_ca_pem", found[0])
        cloud.store.set_meta("server_root_ca_key_pem", found[1])
    if cloud.state_dir is not None:
        path = cloud.state_dir / "server-root-ca.pem"
        if not path.exists() or path.read_text() != found[0]:
            path.write_text(found[0])
    return found


def make_server_certificate(cloud: "Emulator", domain: str, sans: list[str] | None = None, *,
                            days: int = 397, key_alg: str = "EC") -> tuple[str, str]:
    """(cert PEM, key PEM) of a new server certificate for ``domain`` signed by the local server
    root CA — e.g. for a test that uploads another certificate."""
    ca_pem, ca_key_pem = ensure_server_root_ca(cloud)
    cert, key = pki.make_server_cert(domain, sans or [domain], pki.load_cert(ca_pem), pki.load_key(ca_key_pem),
                                     key_alg=key_alg, days=days, now=cloud.clock.now())
    return pki.cert_pem(cert), pki.key_pem(key)


def seed_demo(cloud: "Emulator", ids: dict[str, Any]) -> None:
    """The local server root CA and the demo server certificate (``server_cert_id``) for
    ``app.example.test`` with SANs ``app.example.test``, ``example.test``."""
    domain = ids.get("server_cert_domain", "app.example.test")
    apex = ids.get("domain", "example.test")
    cert_pem, key_pem = make_server_certificate(cloud, domain, [domain, apex])
    store_certificate(cloud, domain, cert_pem, key_pem, cert_id=int(ids["server_cert_id"]))


# -- views ---------------------------------------------------------------------------------------------
def _status(doc: dict[str, Any], now_ms: int) -> str:
    if doc["NotAfter"] <= now_ms:
        return "expired"
    if doc["NotAfter"] - now_ms <= WILL_EXPIRE_DAYS * 86_400_000:
        return "willExpire"
    return "issued"


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d")


def _get(ctx: Ctx, cert_id: int) -> dict[str, Any]:
    doc = ctx.store.get("cas.cert", str(cert_id))
    if doc is None:
        raise _e("Certificate.NotFound", f"The certificate {cert_id} does not exist.", 404)
    return doc


def _using_products(store, doc: dict[str, Any]) -> list[str]:
    ids = {str(doc["CertId"]), doc["CertIdentifier"]}
    for lst in store.list("alb.listener"):
        if any(str(c.get("CertificateId")) in ids for c in lst.get("Certificates") or []):
            return ["ALB"]
    return []


@action("cas", V, "ListCertificates")
def list_certificates(ctx: Ctx, p: Params) -> dict:
    page = p.int("CurrentPage", default=1, min=1)
    size = p.int("ShowSize", default=10, min=1, max=100)
    source = p.str("CertificateSource", enum=("BUY", "TEST", "UPLOAD"))
    status = p.str("CertificateStatus", enum=("issued", "revoked", "willExpire", "expired"))
    keyword = (p.str("Keyword") or "").lower()
    now_ms = ctx.clock.now_ms()

    def keep(d: dict[str, Any]) -> bool:
        if source and d.get("CertificateSource", "UPLOAD") != source:
            return False
        if status and _status(d, now_ms) != status:
            return False
        if keyword:
            hay = [d["Name"], d["CommonName"], str(d["CertId"]), d.get("InstanceId", ""), *d.get("Sans", [])]
            if not any(keyword in h.lower() for h in hay):
                return False
        return True

    docs = ctx.store.list("cas.cert", where=keep)
    chunk = docs[(page - 1) * size: page * size]
    out = [{
        "CertificateId": str(d["CertId"]), "CertIdentifier": d["CertIdentifier"], "CertificateName": d["Name"],
        "CommonName": d["CommonName"], "Domain": ",".join(d.get("Sans") or [d["CommonName"]]),
        "SubjectAlternativeNames": d.get("Sans") or [], "NotBefore": d["NotBefore"], "NotAfter": d["NotAfter"],
        "CertificateStatus": _status(d, now_ms), "CertificateSource": d.get("CertificateSource", "UPLOAD"),
        "Issuer": d["Issuer"], "Serial": d["SerialNo"], "FingerPrint": d["Fingerprint"],
        "Algorithm": d["Algorithm"], "KeySize": d.get("KeySize"), "ExistPrivateKey": bool(d.get("Key")),
        "InstanceId": d.get("InstanceId"), "UsingProductList": _using_products(ctx.store, d),
    } for d in chunk]
    return shape(m.ListCertificatesResponseBody, {"CertificateList": out, "TotalCount": len(docs),
                                                  "CurrentPage": page, "ShowSize": size})


@action("cas", V, "GetUserCertificateDetail")
def get_user_certificate_detail(ctx: Ctx, p: Params) -> dict:
    doc = _get(ctx, p.int("CertId", required=True))
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
        "Issuer": doc["Issuer"], "StartDate": _date(doc["NotBefore"]), "EndDate": _date(doc["NotAfter"]),
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
        raise _e("InvalidParameter", "SM2 certificates are not supported by the local cloud.")
    if not cert:
        raise errors.MissingParameter("Cert")
    if not key:
        raise errors.MissingParameter("Key")
    tags = [{"TagKey": t.get("Key", ""), "TagValue": t.get("Value", "")} for t in p.list("Tags") if isinstance(t, dict)]
    doc = store_certificate(ctx.cloud, name, cert, key, tags=tags,
                            resource_group_id=p.str("ResourceGroupId", default=""))
    return shape(m.UploadUserCertificateResponseBody, {"CertId": doc["CertId"], "ResourceId": doc["InstanceId"]})


@action("cas", V, "DeleteUserCertificate", write=True, idempotent_token=True)
def delete_user_certificate(ctx: Ctx, p: Params) -> dict:
    doc = _get(ctx, p.int("CertId", required=True))
    if _using_products(ctx.store, doc):
        raise _e("Certificate.InUse", "The certificate is in use by a cloud product and cannot be deleted.")
    ctx.store.delete("cas.cert", str(doc["CertId"]))
    return shape(m.DeleteUserCertificateResponseBody, {})

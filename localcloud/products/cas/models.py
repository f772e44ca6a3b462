"""CAS certificates over the store: the upload rules, the local server root CA, status views
(see the package doc)."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from ... import pki
from .exceptions import (
    CertExpired,
    CertificateInUse,
    CertificateNotFound,
    CertificateRepeat,
    CertKeyMismatch,
    IncompleteChain,
    InvalidCert,
    InvalidKey,
    NameRepeat,
    WarehouseNotEmpty,
    WarehouseNotFound,
    WarehouseTypeMismatch,
)

if TYPE_CHECKING:  # pragma: no cover
    from ...emulator import Emulator
    from ...store import Store

VERSION = "2020-04-07"
KIND = "cas.cert"
SITE_REGION = "cn-hangzhou"   # China site: CertIdentifier = "<CertId>-cn-hangzhou"
CERT_ID_BASE = 20_000_000
WILL_EXPIRE_DAYS = 30

# Behaviour docs/ALIBABA-APIS.md (§2.3, §2.4) does not settle; the emulator's choices.
ASSUMPTIONS: dict[str, str] = {
    "NotBefore/NotAfter": "epoch milliseconds in ListCertificates and GetUserCertificateDetail.",
    "Sans": "GetUserCertificateDetail.Sans is the comma-separated list of DNS names.",
    "warehouse Type": "CreateWarehouse.Type takes the SDK's values (uploadCA, uploadPCA, aliyunPCA) and the API "
                      "doc's (uploadedAuthorityCertificate, uploadedCertificate, pcaCertificate, …); the two "
                      "spellings of one kind are the same kind for ListCertWarehouse/ListWarehouse filters.",
    "warehouse Name": "a repository Name is unique in the account (CreateWarehouse refuses a second one with "
                      "NameRepeat); ListCertWarehouse.Name matches as a substring.",
    "UploadPCACert Identifier": "a UUID version 6, the shape of the doc's example; it is also the CertIdentifier "
                                "DescribeWarehouseCert takes and the CaCertificates id ALB takes.",
    "UploadPCACert duplicate": "the same first certificate (SHA-256) uploaded twice into one repository is refused "
                               "with CertificateRepeat naming the existing Identifier.",
}


def cert_identifier(cert_id: int) -> str:
    return f"{cert_id}-{SITE_REGION}"


def _next_cert_id(store: Store) -> int:
    while True:
        cid = CERT_ID_BASE + store.next_seq("cas.cert_id")
        if store.get(KIND, str(cid)) is None:
            return cid


def store_certificate(cloud: Emulator, name: str, cert_pem: str, key_pem: str, *,
                      cert_id: int | None = None, tags: list[dict[str, str]] | None = None,
                      resource_group_id: str = "") -> dict[str, Any]:
    """Validate and store a certificate (leaf + chain PEM) with its key; the ``UploadUserCertificate``
    rules (raises the product's errors). Returns the ``cas.cert`` document."""
    store = cloud.store
    try:
        chain = pki.load_certs(cert_pem)
    except pki.PkiError:
        chain = []
    if not chain:
        raise InvalidCert()
    try:
        key = pki.load_key(key_pem)
    except pki.PkiError:
        raise InvalidKey() from None
    leaf = chain[0]
    if not pki.keys_match(leaf, key):
        raise CertKeyMismatch()
    if pki.not_after(leaf) <= cloud.clock.now():
        raise CertExpired()
    if store.first(KIND, Name=name) is not None:
        raise NameRepeat()
    sha256 = pki.fingerprint(leaf, "sha256")
    same = store.first(KIND, Sha256=sha256)
    if same is not None:
        raise CertificateRepeat(same["CertId"])
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
    store.put(KIND, str(cid), doc)
    return doc


def server_root_ca(cloud: Emulator) -> tuple[str, str] | None:
    """(cert PEM, key PEM) of the local server root CA made by the demo seed, if any."""
    cert = cloud.store.get_meta("server_root_ca_pem")
    key = cloud.store.get_meta("server_root_ca_key_pem")
    return (cert, key) if cert and key else None


def ensure_server_root_ca(cloud: Emulator) -> tuple[str, str]:
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


def make_server_certificate(cloud: Emulator, domain: str, sans: list[str] | None = None, *,
                            days: int = 397, key_alg: str = "EC") -> tuple[str, str]:
    """(cert PEM, key PEM) of a new server certificate for ``domain`` signed by the local server
    root CA — e.g. for a test that uploads another certificate."""
    ca_pem, ca_key_pem = ensure_server_root_ca(cloud)
    cert, key = pki.make_server_cert(domain, sans or [domain], pki.load_cert(ca_pem), pki.load_key(ca_key_pem),
                                     key_alg=key_alg, days=days, now=cloud.clock.now())
    return pki.cert_pem(cert), pki.key_pem(key)


# -- views -----------------------------------------------------------------------------------------
def status(doc: dict[str, Any], now_ms: int) -> str:
    if doc["NotAfter"] <= now_ms:
        return "expired"
    if doc["NotAfter"] - now_ms <= WILL_EXPIRE_DAYS * 86_400_000:
        return "willExpire"
    return "issued"


def date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def get(cloud: Emulator, cert_id: int) -> dict[str, Any]:
    doc = cloud.store.get(KIND, str(cert_id))
    if doc is None:
        raise CertificateNotFound(cert_id)
    return doc


def using_products(store: Store, doc: dict[str, Any]) -> list[str]:
    ids = {str(doc["CertId"]), doc["CertIdentifier"]}
    for lst in store.list("alb.listener"):
        if any(str(c.get("CertificateId")) in ids for c in lst.get("Certificates") or []):
            return ["ALB"]
    return []


def delete(cloud: Emulator, cert_id: int) -> None:
    doc = get(cloud, cert_id)
    if using_products(cloud.store, doc):
        raise CertificateInUse()
    cloud.store.delete(KIND, str(doc["CertId"]))


# -- the certificate repository ("warehouse", CAS 2020-04-07) -----------------------------------------
WAREHOUSE = "cas.warehouse"
WHCERT = "cas.whcert"
#: the two spellings of each repository type (SDK model doc vs the CreateWarehouse API doc, docs/ALIBABA-APIS.md §2.3)
WAREHOUSE_TYPES: dict[str, str] = {
    "uploadCA": "uploadedAuthorityCertificate", "uploadedAuthorityCertificate": "uploadedAuthorityCertificate",
    "uploadPCA": "uploadedCertificate", "uploadedCertificate": "uploadedCertificate",
    "aliyunPCA": "pcaCertificate", "pcaCertificate": "pcaCertificate",
    "pcaAuthorityCertificate": "pcaAuthorityCertificate", "ssl": "ssl", "free": "free", "personal": "personal",
    "disable": "disable",
}
_UPLOAD_KINDS = {"uploadedAuthorityCertificate": "CA", "uploadedCertificate": "CERT"}


def warehouse_kind(type_: str | None) -> str:
    """The canonical kind of a repository ``Type`` (either spelling; ``ASSUMPTIONS["warehouse Type"]``)."""
    return WAREHOUSE_TYPES.get(type_ or "", type_ or "")


def create_warehouse(cloud: Emulator, name: str, type_: str, biz: str | None) -> dict[str, Any]:
    """``CreateWarehouse``: a new repository (``cas.warehouse``), refused when ``name`` is taken."""
    store = cloud.store
    if store.first(WAREHOUSE, Name=name) is not None:
        raise NameRepeat(f"A certificate repository named {name!r} already exists.")
    wh_id = 1000 + store.next_seq("cas.warehouse_id")
    now = cloud.clock.now()
    doc: dict[str, Any] = {"WhId": wh_id, "InstanceId": f"cas-wh-{uuid.uuid4().hex[:12]}", "Name": name,
                           "Type": type_, "Biz": biz or "", "PcaInstanceId": "",
                           "EndTime": pki.to_ms(now + timedelta(days=365)), "Qps": 10, "CreateTime": pki.to_ms(now)}
    store.put(WAREHOUSE, doc["InstanceId"], doc)
    return doc


def warehouse_by_id(store: Store, wh_id: int) -> dict[str, Any]:
    doc = store.first(WAREHOUSE, WhId=wh_id)
    if doc is None:
        raise WarehouseNotFound(wh_id)
    return doc


def warehouse_view(doc: dict[str, Any], now_ms: int) -> dict[str, Any]:
    return {"WhId": doc["WhId"], "InstanceId": doc["InstanceId"], "Name": doc["Name"], "Type": doc["Type"],
            "PcaInstanceId": doc.get("PcaInstanceId") or None, "EndTime": doc["EndTime"],
            "IsExpired": doc["EndTime"] <= now_ms, "Qps": doc.get("Qps")}


def delete_warehouse(cloud: Emulator, instance_id: str) -> None:
    doc = cloud.store.get(WAREHOUSE, instance_id)
    if doc is None:
        raise WarehouseNotFound(instance_id)
    if cloud.store.count(WHCERT, key2=instance_id):
        raise WarehouseNotEmpty()
    cloud.store.delete(WAREHOUSE, instance_id)


def _check_ca_chain(chain: list[x509.Certificate]) -> None:
    """Each certificate a CA, each signed by the next, the last a self-signed root."""
    for i, c in enumerate(chain):
        try:
            bc = c.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            bc = None
        if bc is None or not bc.ca:
            raise IncompleteChain(f"Certificate {i + 1} of the chain ({pki.common_name(c.subject)!r}) is not a CA "
                                  "certificate.")
        issuer = chain[i + 1] if i + 1 < len(chain) else c
        try:
            c.verify_directly_issued_by(issuer)
        except (InvalidSignature, ValueError, TypeError) as exc:   # bad signature, names that differ
            if i + 1 < len(chain):
                raise IncompleteChain(f"Certificate {i + 1} ({pki.common_name(c.subject)!r}) is not issued by "
                                      f"certificate {i + 2} ({pki.common_name(issuer.subject)!r}).") from exc
            raise IncompleteChain(f"The chain ends with {pki.common_name(c.subject)!r}, which is not a self-signed "
                                  "root: a complete certificate chain is required.") from exc


def upload_pca_cert(cloud: Emulator, wh_id: int, cert_pem: str, *, name: str | None,
                    private_key_pem: str | None) -> dict[str, Any]:
    """``UploadPCACert``: store an uploaded certificate (and its chain) in repository ``wh_id``
    (``cas.whcert``, key2 = the repository's InstanceId). Returns the document."""
    store = cloud.store
    wh = warehouse_by_id(store, wh_id)
    kind = _UPLOAD_KINDS.get(warehouse_kind(wh["Type"]))
    if kind is None:
        raise WarehouseTypeMismatch(f"Repository {wh_id} ({wh['Type']}) does not hold uploaded certificates.")
    try:
        chain = pki.load_certs(cert_pem)
    except pki.PkiError:
        chain = []
    if not chain:
        raise InvalidCert()
    first = chain[0]
    if kind == "CA":
        _check_ca_chain(chain)
    now = cloud.clock.now()
    if pki.not_after(first) <= now:
        raise CertExpired()
    has_key = False
    if private_key_pem:
        try:
            key = pki.load_key(private_key_pem)
        except pki.PkiError:
            raise InvalidKey() from None
        if not pki.keys_match(first, key):
            raise CertKeyMismatch()
        has_key = True
    sha256 = pki.fingerprint(first, "sha256")
    same = store.first(WHCERT, Sha256=sha256, WhId=wh_id)
    if same is not None:
        raise CertificateRepeat(same["Identifier"])
    ident = pki.uuid6(now)
    doc = {
        "Identifier": ident, "WhId": wh_id, "WarehouseInstanceId": wh["InstanceId"],
        "Name": name or pki.common_name(first.subject), "CertType": kind, "SourceType": "upload", "Status": "ISSUE",
        "Content": "".join(pki.cert_pem(c) for c in chain), "CommonName": pki.common_name(first.subject),
        "Issuer": pki.common_name(first.issuer) or pki.dn_string(first.issuer),
        "Fingerprint": pki.fingerprint(first, "sha256").upper(), "Sha256": sha256, "SerialNo": pki.serial_hex(first),
        "Algorithm": pki.key_family(first.public_key()), "SignAlgorithm": pki.sign_algorithm_name(first),
        "BeforeDate": pki.to_ms(pki.not_before(first)), "AfterDate": pki.to_ms(pki.not_after(first)),
        "Sans": ",".join(pki.dns_sans(first)), "ExistPrivateKey": has_key, "CreateTime": pki.to_ms(now),
    }
    # the private key, when given, is checked but never kept: nothing here needs it, and no API returns it
    store.put(WHCERT, ident, doc, key2=wh["InstanceId"])
    return doc


def warehouse_cert(store: Store, identifier: str) -> dict[str, Any] | None:
    """The uploaded certificate ``identifier`` (``cas.whcert``), or ``None``."""
    return store.get(WHCERT, identifier) if identifier else None


def existing_warehouse_cert(store: Store, identifier: str) -> dict[str, Any]:
    doc = warehouse_cert(store, identifier)
    if doc is None:
        raise CertificateNotFound(identifier)
    return doc


def ca_in_use(store: Store, identifier: str) -> bool:
    """Does a listener's ``CaCertificates`` name the uploaded CA ``identifier``?"""
    return any(c.get("CertificateId") == identifier
               for lst in store.list("alb.listener") for c in lst.get("CaCertificates") or [])


def delete_pca_cert(cloud: Emulator, identifier: str) -> None:
    """``DeletePCACert``: refused while a listener uses the uploaded CA."""
    existing_warehouse_cert(cloud.store, identifier)
    if ca_in_use(cloud.store, identifier):
        raise CertificateInUse("The certificate is the CA of an ALB listener and cannot be deleted.")
    cloud.store.delete(WHCERT, identifier)

"""CAS certificates over the store: the upload rules, the local server root CA, status views
(see the package doc)."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ... import pki
from .exceptions import (
    CertExpired,
    CertificateInUse,
    CertificateNotFound,
    CertificateRepeat,
    CertKeyMismatch,
    InvalidCert,
    InvalidKey,
    NameRepeat,
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

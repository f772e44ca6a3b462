"""What the data plane needs to know about a listener, read from the documents afresh for each
connection: whether it serves now, its TLS versions by security policy, its server certificate and
key, the CA that verifies client certificates and — for a private CA (PCA) — the revocations it
enforces (see ``localruntime/dataplane.py``)."""
from __future__ import annotations

import hashlib
import ssl
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localcloud.products.alb import ca_trust_pem
from localcloud.products.pca.models import ca_by_cert_identifier, ca_doc

if TYPE_CHECKING:  # pragma: no cover
    from .cloud import LocalCloud


def listener_serving(listener: dict[str, Any], now_s: float) -> bool:
    """Does the data plane serve this listener now (see module doc)?"""
    if listener.get("ListenerProtocol", "").upper() != "HTTPS":
        return False
    if listener.get("ListenerStatus") != "Running":
        return False
    busy_until = float(listener.get("busy_until_s") or 0)
    if now_s < busy_until and (listener.get("busy_status") or "Provisioning") == "Provisioning":
        return False
    return True


def tls_versions(policy_id: str | None) -> tuple[ssl.TLSVersion, ssl.TLSVersion]:
    p = (policy_id or "tls_cipher_policy_1_0").lower()
    V = ssl.TLSVersion
    if "1_0_to_1_3" in p:
        return V.TLSv1, V.TLSv1_3
    if p.endswith("with_1_3"):
        return V.TLSv1_2, V.TLSv1_3
    if "1_2" in p:
        return V.TLSv1_2, V.TLSv1_2
    if "1_1" in p:
        return V.TLSv1_1, V.TLSv1_2
    if "1_0" in p:
        return V.TLSv1, V.TLSv1_2
    return V.TLSv1_2, V.TLSv1_3   # custom policies: a safe modern default


def cas_cert_id(certificate_id: str) -> str:
    """``12345-cn-hangzhou`` → ``12345`` (a plain id stays as it is)."""
    head = str(certificate_id).split("-", 1)[0]
    return head if head.isdigit() else str(certificate_id)


def _pick_ca_entry(listener: dict[str, Any]) -> dict[str, Any] | None:
    cas = listener.get("CaCertificates") or []
    for c in cas:
        if c.get("IsDefault"):
            return c
    return cas[0] if cas else None


def _utc(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def valid_at(cert, when: datetime) -> bool:
    nb = _utc(getattr(cert, "not_valid_before_utc", None) or cert.not_valid_before)
    na = _utc(getattr(cert, "not_valid_after_utc", None) or cert.not_valid_after)
    return nb <= when <= na


class TlsConfig:
    """What one connection needs, resolved from the documents; hashable for the context cache."""

    def __init__(self, cloud: LocalCloud, listener: dict[str, Any]) -> None:
        self.error = ""
        self.cert_pem = self.key_pem = ""
        certs = listener.get("Certificates") or []
        cert_doc = cloud.store.get("cas.cert", cas_cert_id(certs[0].get("CertificateId", ""))) if certs else None
        if cert_doc is None or not cert_doc.get("Cert") or not cert_doc.get("Key"):
            self.error = "no server certificate"
        else:
            self.cert_pem, self.key_pem = cert_doc["Cert"], cert_doc["Key"]
        self.policy = listener.get("SecurityPolicyId") or "tls_cipher_policy_1_0"
        self.ca_enabled = bool(listener.get("CaEnabled"))
        self.ca_pem = ""
        #: the PCA CA whose revocations the listener enforces (``None`` for an uploaded CA)
        self.pca_ca: str | None = None
        #: its CRL (PEM), set by the data plane from its cache (``DataPlaneService._revocations``)
        self.crl_pem = ""
        if self.ca_enabled:
            entry = _pick_ca_entry(listener)
            cid = (entry or {}).get("CertificateId", "")
            trusted = ca_trust_pem(cloud.store, cid) if cid else None
            if trusted:
                self.ca_pem = trusted
                pca = ca_doc(cloud.store, cid) or ca_by_cert_identifier(cloud.store, cid)
                self.pca_ca = pca["Identifier"] if pca is not None else None
            elif cid:
                doc = cloud.store.get("cas.cert", cas_cert_id(cid))
                if doc and doc.get("Cert"):
                    self.ca_pem = doc["Cert"]
            if not self.ca_pem:
                self.error = self.error or f"CA {cid!r} not found"

    def key(self) -> str:
        h = hashlib.sha256()
        for part in (self.cert_pem, self.key_pem, self.policy, str(self.ca_enabled), self.ca_pem, self.crl_pem):
            h.update(part.encode())
            h.update(b"\0")
        return h.hexdigest()

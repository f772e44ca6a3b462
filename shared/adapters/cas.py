"""CAS 2020-04-07 adapter: the user's server certificates (``alibabacloud_cas20200407``;
docs/ALIBABA-APIS.md §2.3). Calls go through the call policy with the ``cas`` rate limiter
(10 requests/s).

Private keys: :func:`get_certificate` always sends ``CertFilter=true`` (the response then has no
``Cert``/``Key``); :func:`upload_certificate` takes the key PEM only to pass it to the SDK — it is
never stored, logged or put in an exception. Times are aware UTC datetimes (the API gives epoch
milliseconds).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from shared.adapters.base import Adapter
from shared.core.errors import AlbMtlsError, Code

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "Cas", "CasCertificate", "CasRepository", "Warehouse", "UploadedCa", "UPLOADED_CA_TYPE", "normalize_hex",
]

_PAGE = 100  # ListCertificates ShowSize max


@dataclass(frozen=True, slots=True)
class CasCertificate:
    """A CAS certificate without key material.

    ``cas_id`` (int ``CertificateId``/``Id``), ``identifier`` (``CertIdentifier``,
    ``<id>-<site region>``, the ALB form; may be ``None`` when CAS did not return it),
    ``name``, ``common_name``, ``sans`` (DNS names), ``not_before``/``not_after`` (aware UTC),
    ``fingerprint`` (as CAS gives it, normalised to lowercase hex), ``sha256`` (lowercase hex when
    CAS gives a SHA-2 value, detail only), ``serial`` (lowercase hex, no leading zeros),
    ``status`` (``issued``/``willExpire``/``expired``/``revoked`` from ListCertificates),
    ``has_key`` (``ExistPrivateKey``; ``None`` when unknown), ``source`` (``UPLOAD``/``BUY``/…).
    """

    cas_id: int
    identifier: str | None
    name: str | None
    common_name: str | None
    sans: tuple[str, ...]
    not_before: datetime | None
    not_after: datetime | None
    fingerprint: str | None = None
    sha256: str | None = None
    serial: str | None = None
    status: str | None = None
    has_key: bool | None = None
    source: str | None = None

    @property
    def names(self) -> tuple[str, ...]:
        """CN and SANs, lower case, without duplicates."""
        out: list[str] = []
        for n in ((self.common_name,) if self.common_name else ()) + self.sans:
            n = n.strip().lower()
            if n and n not in out:
                out.append(n)
        return tuple(out)


def normalize_hex(value: Any) -> str | None:
    """``"AB:CD:01"`` / ``"abcd01"`` → ``"abcd01"``; ``None``/empty → ``None``."""
    if value in (None, ""):
        return None
    text = "".join(ch for ch in str(value).lower() if ch in "0123456789abcdef")
    return text or None


def _serial(value: Any) -> str | None:
    h = normalize_hex(value)
    return (h.lstrip("0") or "0") if h else None


def _when(ms: Any, date: Any = None) -> datetime | None:
    try:
        if ms not in (None, ""):
            return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        pass
    if isinstance(date, str) and date:
        try:
            return datetime.strptime(date[:10], "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            return None
    return None


def _split(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    items = value if isinstance(value, list) else str(value).split(",")
    return tuple(s.strip() for s in items if isinstance(s, str) and s.strip())


def _models() -> Any:
    from alibabacloud_cas20200407 import models

    return models


def _body(resp: Any) -> dict[str, Any]:
    body = getattr(resp, "body", None)
    return body.to_map() if body is not None else {}


def _from_list_item(d: dict[str, Any]) -> CasCertificate | None:
    try:
        cas_id = int(d["CertificateId"])
    except (KeyError, TypeError, ValueError):
        return None
    sans = _split(d.get("SubjectAlternativeNames")) or _split(d.get("Domain"))
    return CasCertificate(
        cas_id=cas_id, identifier=d.get("CertIdentifier") or None, name=d.get("CertificateName"),
        common_name=d.get("CommonName"), sans=sans, not_before=_when(d.get("NotBefore")),
        not_after=_when(d.get("NotAfter")), fingerprint=normalize_hex(d.get("FingerPrint")),
        serial=_serial(d.get("Serial")), status=d.get("CertificateStatus"),
        has_key=d.get("ExistPrivateKey") if isinstance(d.get("ExistPrivateKey"), bool) else None,
        source=d.get("CertificateSource"))


class Cas(Adapter):
    """CAS certificates 2020-04-07 (module doc)."""

    product = "cas"

    def iter_certificates(self, *, keyword: str | None = None, source: str | None = None) -> \
            Iterator[CasCertificate]:
        """``ListCertificates`` (``CurrentPage``/``ShowSize`` = 100), every page, lazily.
        ``keyword`` (fuzzy: domain names, names, resource ids) and ``source`` (``BUY``/``TEST``/
        ``UPLOAD``) filter on the server."""
        m = _models()
        client = self.client
        page = 1
        seen = 0
        while True:
            req = m.ListCertificatesRequest(current_page=page, show_size=_PAGE, keyword=keyword,
                                            certificate_source=source)
            body = _body(self.call("cas:ListCertificates", partial(client.list_certificates, req)))
            items = body.get("CertificateList") or []
            for d in items:
                c = _from_list_item(d)
                if c is not None:
                    yield c
            seen += len(items)
            total = body.get("TotalCount")
            try:
                total = int(total) if total is not None else None
            except (TypeError, ValueError):
                total = None
            if not items or len(items) < _PAGE or (total is not None and seen >= total):
                return
            page += 1

    def list_certificates(self, *, keyword: str | None = None, source: str | None = None) \
            -> list[CasCertificate]:
        """All of :func:`iter_certificates` as a list."""
        return list(self.iter_certificates(keyword=keyword, source=source))

    def get_certificate(self, cas_id: int) -> CasCertificate:
        """``GetUserCertificateDetail(CertId, CertFilter=true)`` — no PEM, no key.

        Raises ``AlbMtlsError(CERT_NOT_FOUND)`` when CAS does not know the id.
        """
        m = _models()
        req = m.GetUserCertificateDetailRequest(cert_id=int(cas_id), cert_filter=True)
        try:
            d = _body(self.call("cas:GetUserCertificateDetail",
                               lambda: self.client.get_user_certificate_detail(req)))
        except AlbMtlsError as err:
            if err.is_not_found:
                raise AlbMtlsError(Code.CERT_NOT_FOUND, f"CAS has no certificate {cas_id}; check "
                                   "`server_certificate.certificate_id` (CAS id, optionally with `-<site region>`)",
                                   field="server_certificate.certificate_id", request_id=err.request_id,
                                   details=err.details) from None
            raise
        d.pop("Key", None)
        d.pop("Cert", None)
        return CasCertificate(
            cas_id=int(d.get("Id") or cas_id), identifier=d.get("CertIdentifier") or None, name=d.get("Name"),
            common_name=d.get("Common"), sans=_split(d.get("Sans")),
            not_before=_when(d.get("NotBefore"), d.get("StartDate")),
            not_after=_when(d.get("NotAfter"), d.get("EndDate")),
            fingerprint=normalize_hex(d.get("Fingerprint")), sha256=normalize_hex(d.get("Sha2") or d.get("CertSha2")),
            serial=_serial(d.get("SerialNo")),
            status="expired" if d.get("Expired") is True else None)

    def upload_certificate(self, *, name: str, cert_pem: str, key_pem: str,
                           client_token: str | None = None) -> int:
        """``UploadUserCertificate(Name, Cert, Key, ClientToken)`` → the new ``CertId``.

        ``name`` must be unique in the account (≤ 63 chars). Raises ``AlbMtlsError`` with
        ``cloud_code`` (e.g. ``NameRepeat``, a duplicate-certificate code, ``InvalidParameter.*``);
        re-check with :func:`list_certificates` before repeating — the write is not idempotent.
        """
        m = _models()
        req = m.UploadUserCertificateRequest(name=name, cert=cert_pem, key=key_pem, client_token=client_token)
        d = _body(self.call("cas:UploadUserCertificate", lambda: self.client.upload_user_certificate(req)))
        try:
            return int(d["CertId"])
        except (KeyError, TypeError, ValueError):
            raise AlbMtlsError(Code.CLOUD_ERROR, "cas:UploadUserCertificate returned no CertId") from None


# ---------------------------------------------------------------------------------------------
# the certificate repository ("warehouse"): uploaded CA certificates (docs/ALIBABA-APIS.md §2.3)
# ---------------------------------------------------------------------------------------------
#: ``CreateWarehouse.Type`` of a repository of uploaded CA certificates, as the API doc spells it; the
#: SDK's model spells the same kind ``uploadCA`` (ListCertWarehouse): both are accepted when reading.
UPLOADED_CA_TYPE = "uploadedAuthorityCertificate"
UPLOADED_CA_TYPES = (UPLOADED_CA_TYPE, "uploadCA")


@dataclass(frozen=True, slots=True)
class Warehouse:
    """A certificate repository (``ListCertWarehouse`` item): ``wh_id`` the integer ``WhId``
    ``UploadPCACert`` takes, ``instance_id`` its ``InstanceId`` (``cas-wh-…``)."""

    wh_id: int
    instance_id: str
    name: str
    type: str | None
    expired: bool | None = None


@dataclass(frozen=True, slots=True)
class UploadedCa:
    """An uploaded CA certificate (``DescribeWarehouseCert``): ``identifier`` is what the listener's
    ``CaCertificates`` takes; ``content`` the certificate and its chain (PEM, public)."""

    identifier: str
    common_name: str | None
    status: str | None
    cert_type: str | None
    fingerprint: str | None
    warehouse_instance_id: str | None
    content: str | None


def _warehouse(d: dict[str, Any]) -> Warehouse | None:
    try:
        return Warehouse(wh_id=int(d["WhId"]), instance_id=str(d.get("InstanceId") or ""), name=str(d.get("Name")),
                         type=d.get("Type"), expired=d.get("IsExpired"))
    except (KeyError, TypeError, ValueError):
        return None


class CasRepository(Cas):
    """The CAS certificate repository of uploaded CA certificates (2020-04-07; module section above)."""

    def find_warehouse(self, name: str) -> Warehouse | None:
        """The repository named exactly ``name`` (``ListCertWarehouse`` matches names fuzzily), of an
        uploaded-CA type in either spelling; ``None`` when there is none."""
        m = _models()
        page = 1
        while True:
            req = m.ListCertWarehouseRequest(name=name, current_page=page, show_size=50)
            body = _body(self.call("cas:ListCertWarehouse", partial(self.client.list_cert_warehouse, req)))
            items = body.get("CertWarehouseList") or []
            for d in items:
                w = _warehouse(d)
                if w is not None and w.name == name and (w.type in UPLOADED_CA_TYPES or w.type is None):
                    return w
            if len(items) < 50:
                return None
            page += 1

    def create_warehouse(self, name: str) -> str:
        """``CreateWarehouse(Name, Type=uploadedAuthorityCertificate)`` → its ``WarehouseInstanceId``.
        A write without a client token: look it up first (:func:`find_warehouse`)."""
        m = _models()
        req = m.CreateWarehouseRequest(name=name, type=UPLOADED_CA_TYPE)
        d = _body(self.call("cas:CreateWarehouse", lambda: self.client.create_warehouse(req)))
        return str(d.get("WarehouseInstanceId") or "")

    def upload_ca(self, wh_id: int, chain_pem: str, name: str) -> str:
        """``UploadPCACert(WarehouseId, Cert, Name)`` — a CA certificate with its complete chain (no
        private key: it stays in KMS) → the ``Identifier``. Raises ``AlbMtlsError`` (a repeated
        upload answers the repository's duplicate code: callers look up their recorded id first)."""
        m = _models()
        req = m.UploadPCACertRequest(warehouse_id=wh_id, cert=chain_pem, name=name)
        d = _body(self.call("cas:UploadPCACert", lambda: self.client.upload_pcacert(req)))
        ident = d.get("Identifier")
        if not ident:
            raise AlbMtlsError(Code.CLOUD_ERROR, "cas:UploadPCACert returned no Identifier")
        return str(ident)

    def find_uploaded_ca(self, wh_id: int, serial_hex: str) -> str | None:
        """The ``Identifier`` of the CA certificate with serial ``serial_hex`` uploaded into repository
        ``wh_id`` (``ListCert``, every page), or ``None``: how an upload whose answer was lost is found."""
        m = _models()
        want = (_serial(serial_hex) or "").lower()
        page = 1
        while True:
            req = m.ListCertRequest(warehouse_id=wh_id, cert_type="CA", current_page=page, show_size=50)
            body = _body(self.call("cas:ListCert", partial(self.client.list_cert, req)))
            items = body.get("CertList") or []
            for d in items:
                if (_serial(d.get("SerialNo")) or "") == want and d.get("Identifier"):
                    return str(d["Identifier"])
            if len(items) < 50:
                return None
            page += 1

    def describe_uploaded_ca(self, identifier: str) -> UploadedCa | None:
        """``DescribeWarehouseCert(CertIdentifier)``; ``None`` when it does not exist."""
        m = _models()
        req = m.DescribeWarehouseCertRequest(cert_identifier=identifier)
        try:
            d = _body(self.call("cas:DescribeWarehouseCert", lambda: self.client.describe_warehouse_cert(req)))
        except AlbMtlsError as err:
            if err.is_not_found:
                return None
            raise
        return UploadedCa(identifier=str(d.get("CertIdentifier") or identifier), common_name=d.get("CommonName"),
                          status=d.get("CertStatus"), cert_type=d.get("CertType"),
                          fingerprint=normalize_hex(d.get("Fingerprint")),
                          warehouse_instance_id=d.get("WarehouseInstanceId"), content=d.get("Content"))

    def delete_uploaded_ca(self, identifier: str) -> int:
        """``DeletePCACert(Identifier)`` unless it is gone already: 0/1 writes. Refused by CAS while a
        listener uses it."""
        if self.describe_uploaded_ca(identifier) is None:
            return 0
        m = _models()
        req = m.DeletePCACertRequest(identifier=identifier)
        self.call("cas:DeletePCACert", lambda: self.client.delete_pcacert(req))
        return 1

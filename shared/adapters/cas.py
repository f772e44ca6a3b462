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
    "Cas", "CasCertificate", "normalize_hex",
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

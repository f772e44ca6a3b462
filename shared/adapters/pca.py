"""Thin adapter over the CAS Private CA API (``alibabacloud_cas20200630``, API ``2020-06-30``).

Every call goes through the adapter's call policy: the one retry layer plus the client-side
rate limiter of the documented CAS quota (10 requests/s). Errors come out as
:class:`~shared.core.errors.AlbMtlsError` (``err.cloud_code``, ``err.is_not_found``). Reads return frozen
dataclasses with aware UTC datetimes (the API's epoch-**ms** fields converted), normalised serials
(lowercase hex, no leading zeros) and fingerprints (lowercase hex). The SDK models are imported
lazily (cold start).

Shapes follow docs/ALIBABA-APIS.md §2.2 and the SDK model docs. Behaviour the docs
could not settle (PCA error codes, ``CustomIdentifier`` uniqueness) is handled as the local
cloud's ``localcloud/products/pca/models.py::ASSUMPTIONS`` describes (listed in
``localcloud/COVERAGE.md``), and noted where it matters.

One module (~550 lines): every private-CA call the product makes, each with its answer's shape, in
one place — split by call it would scatter the one product's quirks.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from shared.adapters.base import Adapter
from shared.core.errors import AlbMtlsError, Code
from shared.policy.ids import ResolvedCa

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "Pca", "LIST_PAGE_SIZE", "STATUS_BATCH", "CaCertificate", "CaInstanceStatus", "ClientCertificate",
    "CertificateStatus", "IssuedCertificate", "PcaCaItem", "is_duplicate_custom_identifier", "SAN_TYPES",
]

#: ``ShowSize`` used when paging ``ListClientCertificate`` / ``DescribeCACertificateList``: 100, the
#: largest the local cloud accepts (the real maximum is undocumented, docs/ALIBABA-APIS.md §5.6); at 10 req/s
#: that reads 1,000 certificates a second while holding one page (≤ 100 items) in memory.
LIST_PAGE_SIZE = 100
MAX_PAGES = 100_000   # safety bound on paging (10 M certificates)
#: identifiers per ``DescribeClientCertificateStatus`` call (a comma-separated list is accepted,
#: docs/ALIBABA-APIS.md §2.2; no maximum is documented — 50 keeps the query near 1.7 KB)
STATUS_BATCH = 50

#: PCA ``SanType`` codes (docs/ALIBABA-APIS.md §2.2) for the SAN kinds this project issues.
SAN_TYPES = {"email": 1, "dns": 2, "uri": 6, "ip": 7}


def _models() -> Any:
    from alibabacloud_cas20200630 import models

    return models


def _dt_ms(value: Any) -> datetime | None:
    """Epoch milliseconds (int or numeric string) → aware UTC datetime; ``None`` for empty."""
    if value in (None, "", 0, "0"):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def _serial(value: Any) -> str:
    s = re.sub(r"[^0-9a-fA-F]", "", str(value or "")).lower().lstrip("0")
    return s or ("0" if value not in (None, "") else "")


def _fp(value: Any) -> str | None:
    return re.sub(r"[^0-9a-fA-F]", "", str(value)).lower() if value else None


def _sans(raw: Any) -> tuple[dict[str, Any], ...]:
    """The ``Sans`` field: a JSON array string of ``{Type, Value}`` → tuple of dicts (bad → ``()``)."""
    if not raw:
        return ()
    try:
        items = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        return ()
    return tuple({"Type": i.get("Type"), "Value": i.get("Value")} for i in items or () if isinstance(i, dict))


# ---------------------------------------------------------------------------------------------
# CA certificates
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CaCertificate:
    """A PCA CA certificate (``DescribeCACertificate`` / ``DescribeCACertificateList``).

    ``certificate_type``: ``ROOT`` | ``SUB_ROOT``; ``status``: ``ISSUE`` | ``REVOKE``; ``algorithm``:
    key family ``RSA`` | ``ECC`` | ``SM2``; ``cert_max_days``: longest validity it issues (days,
    ``CertMaxTime``); ``remaining_count``: certificates left in its quota (``None`` when not given,
    e.g. in list items); ``cert_pem``/``chain_pem``: its certificate and ``CaCertChain`` (public).
    """

    identifier: str
    certificate_type: str | None
    status: str | None
    parent_identifier: str | None
    common_name: str | None
    algorithm: str | None
    key_size: int | None
    not_before: datetime | None
    not_after: datetime | None
    serial: str
    sha256: str | None
    cert_pem: str | None = field(default=None, repr=False)
    chain_pem: str | None = field(default=None, repr=False)
    cert_max_days: int | None = None
    remaining_count: int | None = None
    issued_count: int | None = None
    crl_status: str | None = None
    crl_url: str | None = None

    @property
    def publishes_crl(self) -> bool:
        """The sub-CA publishes a CRL (``CrlStatus`` enabled and a ``CrlUrl``): its leaves can name it
        in a CRL distribution point (``EnableCrl=1``)."""
        return bool(self.crl_url) and (self.crl_status or "").lower().startswith("enabl")


def _ca_from(c: Any, chain: Any = None) -> CaCertificate:
    return CaCertificate(
        identifier=c.identifier, certificate_type=c.certificate_type, status=c.status,
        parent_identifier=c.parent_identifier or None, common_name=c.common_name, algorithm=c.algorithm,
        key_size=c.key_size, not_before=_dt_ms(c.before_date), not_after=_dt_ms(c.after_date),
        serial=_serial(c.serial_number), sha256=_fp(getattr(c, "sha_2", None)),
        cert_pem=c.x_509certificate, chain_pem=chain,
        cert_max_days=getattr(c, "cert_max_time", None), remaining_count=getattr(c, "cert_remaining_count", None),
        issued_count=getattr(c, "cert_issued_count", None), crl_status=getattr(c, "crl_status", None),
        crl_url=getattr(c, "crl_url", None))


@dataclass(frozen=True, slots=True)
class PcaCaItem:
    """A ``ListPcaCaCertificate`` item: a CA by its ``CertIdentifier`` (UUID), its issuer's, its
    common name and status. The list has no ``Identifier`` and no validity (docs/ALIBABA-APIS.md §1.15)."""

    cert_identifier: str
    issuer_identifier: str | None
    common_name: str | None
    status: str | None


@dataclass(frozen=True, slots=True)
class CaInstanceStatus:
    """``GetCAInstanceStatus`` item: ``status`` ``BUY`` | ``USED`` | ``REFUND`` | ``REVOKE``;
    ``use_expire_time`` = end of the PCA subscription (the bound no certificate may pass)."""

    identifier: str | None
    instance_id: str | None
    type: str | None
    status: str | None
    cert_total_count: int | None
    cert_issued_count: int | None
    before_time: datetime | None
    after_time: datetime | None
    use_expire_time: datetime | None


# ---------------------------------------------------------------------------------------------
# client certificates
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client (or server) certificate as ``DescribeClientCertificate`` / ``ListClientCertificate``
    return it. ``status``: ``ISSUE`` | ``REVOKE``; ``certificate_type``: ``CLIENT`` | ``SERVER``;
    ``sans``: ``({"Type": 1|2|6|7, "Value": …}, …)``; ``cert_pem`` public; ``chain_pem`` only from
    ``DescribeClientCertificate`` (``CertChain``)."""

    identifier: str
    serial: str
    common_name: str | None
    status: str | None
    certificate_type: str | None
    parent_identifier: str | None
    not_before: datetime | None
    not_after: datetime | None
    custom_identifier: str | None
    algorithm: str | None
    sha256: str | None
    sans: tuple[dict[str, Any], ...] = ()
    cert_pem: str | None = field(default=None, repr=False)
    chain_pem: str | None = field(default=None, repr=False)


def _client_from(c: Any) -> ClientCertificate:
    return ClientCertificate(
        identifier=c.identifier, serial=_serial(c.serial_number), common_name=c.common_name, status=c.status,
        certificate_type=c.certificate_type, parent_identifier=c.parent_identifier or None,
        not_before=_dt_ms(c.before_date), not_after=_dt_ms(c.after_date),
        custom_identifier=c.custom_identifier or None, algorithm=c.algorithm, sha256=_fp(getattr(c, "sha_2", None)),
        sans=_sans(c.sans), cert_pem=c.x_509certificate, chain_pem=getattr(c, "cert_chain", None))


@dataclass(frozen=True, slots=True)
class IssuedCertificate:
    """What ``CreateClientCertificateWithCsr`` answered: the new ``identifier`` and ``serial``, and
    the certificate itself (``cert_pem``) when asked for with ``Immediately`` ≥ 1."""

    identifier: str
    serial: str
    cert_pem: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class CertificateStatus:
    """``DescribeClientCertificateStatus`` item: ``status`` ``ISSUE`` (the API's ``good``), ``REVOKE``
    (``revoked``) or ``None`` (``unknown``: no such certificate) — the statuses
    ``DescribeClientCertificate`` uses; ``serial`` normalised (empty when unknown)."""

    identifier: str
    serial: str
    status: str | None


_STATUS = {"good": "ISSUE", "revoked": "REVOKE"}


def is_duplicate_custom_identifier(exc: AlbMtlsError) -> bool:
    """True when ``exc`` says the ``CustomIdentifier`` is already used (``DuplicateCustomIdentifier``
    on the local cloud; the real code is undocumented, docs/ALIBABA-APIS.md §5.5, so any code naming a
    duplicate/existing custom identifier counts)."""
    cc = (exc.cloud_code or "").lower()
    return cc == "duplicatecustomidentifier" or ("customidentifier" in cc and ("duplicate" in cc or "exist" in cc))


def _issuer_cn(item: PcaCaItem, by_cert: dict[str, PcaCaItem]) -> str | None:
    """The common name of a ``ListPcaCaCertificate`` item's issuer (its own for a root)."""
    issuer = by_cert.get(item.issuer_identifier or "")
    return issuer.common_name if issuer is not None else item.common_name


def _ambiguous(value: str, common_name: str | None) -> AlbMtlsError:
    return AlbMtlsError(Code.INVALID_INPUT, f"several private CAs are named {common_name!r} under the same issuer, so "
                        f"{value!r} cannot be matched across DescribeCACertificateList and ListPcaCaCertificate; "
                        "give the CA in the form ALB takes (ALBMTLS_ALB_CA_ID_FORM; `albmtls doctor` shows both "
                        "lists), or give the CAs distinct names", field="ca_identifier")


class Pca(Adapter):
    """The private CA, CAS 2020-06-30 (module doc)."""

    product = "pca"

    def describe_ca_certificate(self, identifier: str) -> CaCertificate:
        """``DescribeCACertificate(Identifier)`` → :class:`CaCertificate` (with chain and quota).

        Raises ``AlbMtlsError(CA_NOT_FOUND, field="ca_identifier")`` when the CA does not exist; other
        ``AlbMtlsError`` / ``TransientError`` as mapped by the call policy.
        """
        m = _models()
        client = self.client
        try:
            req = m.DescribeCACertificateRequest(identifier=identifier)
            resp = self.call("pca:DescribeCACertificate", lambda: client.describe_cacertificate(req))
        except AlbMtlsError as exc:
            if exc.is_not_found:
                raise AlbMtlsError(Code.CA_NOT_FOUND, f"the private CA {identifier!r} does not exist in this account "
                                   "(DescribeCACertificate); check `ca_identifier` (the sub-CA Identifier from "
                                   "DescribeCACertificateList)", field="ca_identifier", request_id=exc.request_id,
                                   details=exc.details) from None
            raise
        c = resp.body.certificate
        if c is None or not c.identifier:
            raise AlbMtlsError(Code.CA_NOT_FOUND, f"the private CA {identifier!r} was not returned by "
                               "DescribeCACertificate; check `ca_identifier`", field="ca_identifier")
        return _ca_from(c, getattr(c, "ca_cert_chain", None))

    def get_ca_instance_status(self, identifier: str) -> CaInstanceStatus | None:
        """``GetCAInstanceStatus(Identifier)`` → the CA's instance status, or ``None`` when the API lists
        no instance for it (``CA_NOT_FOUND`` when the CA does not exist). Raises ``AlbMtlsError``."""
        m = _models()
        client = self.client
        try:
            status_req = m.GetCAInstanceStatusRequest(identifier=identifier)
            body = self.call("pca:GetCAInstanceStatus", lambda: client.get_cainstance_status(status_req)).body
        except AlbMtlsError as exc:
            if exc.is_not_found:
                raise AlbMtlsError(Code.CA_NOT_FOUND, f"the private CA {identifier!r} does not exist "
                                   "(GetCAInstanceStatus); check `ca_identifier`", field="ca_identifier",
                                   request_id=exc.request_id, details=exc.details) from None
            raise
        items = [i for i in (body.instance_status_list or []) if not i.identifier or i.identifier == identifier]
        if not items:
            return None
        i = items[0]
        return CaInstanceStatus(identifier=i.identifier, instance_id=i.instance_id, type=i.type, status=i.status,
                                cert_total_count=i.cert_total_count, cert_issued_count=i.cert_issued_count,
                                before_time=_dt_ms(i.before_time), after_time=_dt_ms(i.after_time),
                                use_expire_time=_dt_ms(i.use_expire_time))

    def list_ca_certificates(self, *, page_size: int = LIST_PAGE_SIZE) -> Iterator[CaCertificate]:
        """Every CA ``DescribeCACertificateList`` lists (root and sub-CAs, by their ``Identifier``),
        one page at a time. Read-only; raises ``AlbMtlsError``."""
        m = _models()
        client = self.client
        page = 1
        while page <= MAX_PAGES:
            req = m.DescribeCACertificateListRequest(current_page=page, show_size=page_size)
            body = self.call("pca:DescribeCACertificateList",
                            partial(client.describe_cacertificate_list, req)).body
            items = body.certificate_list or []
            for c in items:
                yield _ca_from(c)
            if not items or len(items) < page_size or (body.page_count is not None and page >= body.page_count):
                return
            page += 1

    def list_pca_ca_certificates(self, *, page_size: int = 100) -> Iterator[PcaCaItem]:
        """Every CA ``ListPcaCaCertificate`` lists (by its UUID ``CertIdentifier``; ``MaxResults`` +
        ``NextToken``). Read-only; raises ``AlbMtlsError``."""
        m = _models()
        client = self.client
        token: str | None = None
        for _ in range(MAX_PAGES):
            req = m.ListPcaCaCertificateRequest(max_results=page_size, next_token=token)
            body = self.call("pca:ListPcaCaCertificate", partial(client.list_pca_ca_certificate, req)).body
            for i in body.list or []:
                if i.cert_identifier:
                    yield PcaCaItem(cert_identifier=i.cert_identifier, issuer_identifier=i.issuer_identifier or None,
                                    common_name=i.common_name, status=i.status)
            token = body.next_token or None
            if not token or not body.list:
                return

    def resolve_ca(self, value: str, *, want_cert_identifier: bool = True, found: CaCertificate | None = None,
                   listed: list[Any] | None = None) -> ResolvedCa:
        """The private CA the user named by either of its identifiers (``value``: the ``Identifier``
        of ``DescribeCACertificateList`` or the ``CertIdentifier`` of ``ListPcaCaCertificate``),
        with both. Read-only.

        * ``value`` is an ``Identifier`` (``DescribeCACertificate`` finds it): its ``CertIdentifier``
          is ``value`` itself when ``ListPcaCaCertificate`` lists it (a real account's current CAs
          carry one UUID in both lists), else the one item with the same common name and issuer
          common name (only looked up with ``want_cert_identifier``; ``None`` when there is none).
        * otherwise ``value`` must be a ``CertIdentifier``: its ``Identifier`` is the one
          ``DescribeCACertificateList`` CA with the same common name and issuer common name.

        The two lists share no id field, so the join is on names (docs/ALIBABA-APIS.md §1.15: no
        public source ties them; ``albmtls doctor`` shows both lists). Raises
        ``AlbMtlsError(CA_NOT_FOUND, field="ca_identifier")`` when no CA has ``value``, or
        ``INVALID_INPUT`` when the names match several CAs.
        """
        from concurrent.futures import ThreadPoolExecutor

        # with want_cert_identifier, the CA and the PCA list are read at once (neither needs the other);
        # ``found`` / ``listed``: the caller read them already (``value``'s DescribeCACertificate, the
        # ListPcaCaCertificate items) — not read again
        if found is not None and found.identifier == value and listed is not None:
            pass
        else:
            with ThreadPoolExecutor(1, thread_name_prefix="ca-resolve") as pool:
                listed_f = pool.submit(lambda: list(self.list_pca_ca_certificates())) \
                    if want_cert_identifier and listed is None else None
                try:
                    found = self.describe_ca_certificate(value)
                except AlbMtlsError as exc:
                    if exc.code != Code.CA_NOT_FOUND:
                        raise
                    found = None
                if found is not None and not want_cert_identifier:
                    return ResolvedCa(identifier=found.identifier)
                if listed is None:
                    listed = listed_f.result() if listed_f is not None else list(self.list_pca_ca_certificates())
        by_cert = {i.cert_identifier: i for i in listed}
        if found is not None:
            if found.identifier in by_cert:
                return ResolvedCa(identifier=found.identifier, cert_identifier=found.identifier)
            cas = list(self.list_ca_certificates())
            names = {c.identifier: c.common_name for c in cas}
            key = (found.common_name, names.get(found.parent_identifier or "", found.common_name))
            matches = [i for i in listed if (i.common_name, _issuer_cn(i, by_cert)) == key]
            if len(matches) > 1:
                raise _ambiguous(value, found.common_name)
            return ResolvedCa(identifier=found.identifier,
                              cert_identifier=matches[0].cert_identifier if matches else None)
        item = by_cert.get(value)
        if item is None:
            raise AlbMtlsError(Code.CA_NOT_FOUND, f"no private CA has the identifier {value!r} (neither an Identifier "
                               "in DescribeCACertificateList nor a CertIdentifier in ListPcaCaCertificate); check "
                               "`ca_identifier`", field="ca_identifier")
        cas = list(self.list_ca_certificates())
        names = {c.identifier: c.common_name for c in cas}
        key = (item.common_name, _issuer_cn(item, by_cert))
        issuing = [c for c in cas if (c.common_name, names.get(c.parent_identifier or "", c.common_name)) == key]
        if len(issuing) > 1:
            raise _ambiguous(value, item.common_name)
        if not issuing:
            raise AlbMtlsError(Code.CA_NOT_FOUND, f"the private CA {value!r} ({item.common_name}) is listed by "
                               "ListPcaCaCertificate but not by DescribeCACertificateList, so it cannot issue here; "
                               "give its Identifier as `ca_identifier`", field="ca_identifier")
        return ResolvedCa(identifier=issuing[0].identifier, cert_identifier=value)

    def create_client_certificate_with_csr(self, *, parent_identifier: str, csr_pem: str, before_time: int,
                                           after_time: int, custom_identifier: str | None = None,
                                           san_type: int | None = None, san_value: str | None = None,
                                           immediately: int = 1, enable_crl: bool = False) -> IssuedCertificate:
        """``CreateClientCertificateWithCsr`` — issue a client certificate for our CSR under the sub-CA.

        Parameters: ``before_time``/``after_time`` epoch **seconds** (both set: the exact validity);
        ``custom_identifier`` ≤ 64 chars, a unique key (retry de-duplication); ``san_type``/``san_value``
        (one SAN kind, comma-separated values; the CSR's SANs are requested as well); ``immediately``
        0 (ids only), 1 (+ certificate: the default — the answer carries what a
        ``DescribeClientCertificate`` would, so nothing is read again), 2 (+ chain); ``enable_crl``:
        ``EnableCrl=1``, the certificate names the sub-CA's CRL in a CRL distribution point (when the
        sub-CA publishes one).

        A write (1 mutating call). No ``ClientToken`` exists on this action: a retry after a lost
        response surfaces as a duplicate ``CustomIdentifier`` (:func:`is_duplicate_custom_identifier`).

        Raises ``AlbMtlsError`` (``CA_NOT_FOUND`` for an unknown parent; ``QUOTA_EXCEEDED``; cloud codes
        such as ``InvalidParameter.Validity`` / ``.Algorithm`` / ``.Csr`` as ``CLOUD_ERROR`` with
        ``cloud_code``) or ``TransientError``.
        """
        m = _models()
        client = self.client
        req = m.CreateClientCertificateWithCsrRequest(
            csr=csr_pem, parent_identifier=parent_identifier, before_time=before_time, after_time=after_time,
            custom_identifier=custom_identifier, san_type=san_type, san_value=san_value, immediately=immediately,
            enable_crl=1 if enable_crl else None)
        try:
            body = self.call("pca:CreateClientCertificateWithCsr",
                            lambda: client.create_client_certificate_with_csr(req)).body
        except AlbMtlsError as exc:
            if exc.is_not_found:
                raise AlbMtlsError(Code.CA_NOT_FOUND, f"the issuing sub-CA {parent_identifier!r} does not exist; check "
                                   "`ca_identifier`", field="ca_identifier", request_id=exc.request_id,
                                   details=exc.details) from None
            if (exc.cloud_code or "").startswith("QuotaExceeded") and exc.code != Code.QUOTA_EXCEEDED:
                raise AlbMtlsError(Code.QUOTA_EXCEEDED, exc.message + "; buy more certificates for the sub-CA",
                                   request_id=exc.request_id, details=exc.details) from None
            raise
        return IssuedCertificate(identifier=body.identifier, serial=_serial(body.serial_number),
                                 cert_pem=getattr(body, "x_509certificate", None))

    def describe_client_certificate(self, identifier: str) -> ClientCertificate | None:
        """``DescribeClientCertificate(Identifier)`` → :class:`ClientCertificate` (with PEM and chain),
        or ``None`` when it does not exist. Raises other ``AlbMtlsError``."""
        m = _models()
        client = self.client
        try:
            body = self.call("pca:DescribeClientCertificate",
                            lambda: client.describe_client_certificate(
                                m.DescribeClientCertificateRequest(identifier=identifier))).body
        except AlbMtlsError as exc:
            if exc.is_not_found:
                return None
            raise
        c = body.certificate
        return _client_from(c) if c is not None and c.identifier else None

    def client_certificate_statuses(self, identifiers: list[str]) -> dict[str, CertificateStatus]:
        """``DescribeClientCertificateStatus`` of ``identifiers``, :data:`STATUS_BATCH` per call (a
        comma-separated ``Identifier``): one request reads the status of fifty certificates where
        ``DescribeClientCertificate`` reads one. Items are matched to identifiers by position (the
        answer lists them in the order asked). Raises ``AlbMtlsError``."""
        m = _models()
        client = self.client
        out: dict[str, CertificateStatus] = {}
        for i in range(0, len(identifiers), STATUS_BATCH):
            part = identifiers[i:i + STATUS_BATCH]
            req = m.DescribeClientCertificateStatusRequest(identifier=",".join(part))
            body = self.call("pca:DescribeClientCertificateStatus",
                             functools.partial(client.describe_client_certificate_status, req)).body
            items = body.certificate_status or []
            for ident, item in zip(part, items, strict=False):      # an unknown answer may be shorter
                out[ident] = CertificateStatus(ident, _serial(item.serial_number),
                                               _STATUS.get((item.status or "").lower()))
        return out

    def client_certificate_page(self, page: int, *,
                                page_size: int = LIST_PAGE_SIZE) -> tuple[list[ClientCertificate], bool, int | None]:
        """Page ``page`` (1-based) of ``ListClientCertificate``, whether another page follows (a
        full page that is not the last by ``PageCount``) and ``TotalCount``. One rate-limited call."""
        m = _models()
        client = self.client
        req = m.ListClientCertificateRequest(current_page=page, show_size=page_size)
        body = self.call("pca:ListClientCertificate", lambda: client.list_client_certificate(req)).body
        items = [_client_from(c) for c in body.certificate_list or []]
        more = len(items) >= page_size and (body.page_count is None or page < int(body.page_count))
        total = int(body.total_count) if body.total_count is not None else None
        return items, more, total

    def list_client_certificates(self, *, page_size: int = LIST_PAGE_SIZE,
                                 start_page: int = 1) -> Iterator[ClientCertificate]:
        """Every certificate ``ListClientCertificate`` lists (CLIENT and SERVER; filter on
        ``certificate_type`` / ``parent_identifier``), one page (``ShowSize`` = ``page_size``, default
        :data:`LIST_PAGE_SIZE`) at a time: memory is one page whatever the count; each page is one
        rate-limited call. Items carry no chain. Raises ``AlbMtlsError``."""
        m = _models()
        client = self.client
        page = start_page
        while page <= MAX_PAGES:
            req = m.ListClientCertificateRequest(current_page=page, show_size=page_size)
            body = self.call("pca:ListClientCertificate", partial(client.list_client_certificate, req)).body
            items = body.certificate_list or []
            for c in items:
                yield _client_from(c)
            if not items or len(items) < page_size or (body.page_count is not None and page >= body.page_count):
                return
            page += 1

    def find_by_custom_identifier(self, custom_identifier: str, *,
                                  hint_identifier: str | None = None) -> ClientCertificate | None:
        """The certificate issued under ``custom_identifier``, or ``None``.

        Tries ``hint_identifier`` first (the id a duplicate error named), then reads
        ``ListClientCertificate`` from the last page backwards (newest certificates last on the local
        cloud) and forwards from page 1, stopping at the first match. Read-only.
        """
        if hint_identifier:
            c = self.describe_client_certificate(hint_identifier)
            if c is not None and c.custom_identifier == custom_identifier:
                return c
        m = _models()
        client = self.client
        first = self.call("pca:ListClientCertificate",
                         lambda: client.list_client_certificate(
                             m.ListClientCertificateRequest(current_page=1, show_size=LIST_PAGE_SIZE))).body
        for c in first.certificate_list or []:
            if c.custom_identifier == custom_identifier:
                return self.describe_client_certificate(c.identifier)
        pages = int(first.page_count or 1)
        for page in range(pages, 1, -1):
            req = m.ListClientCertificateRequest(current_page=page, show_size=LIST_PAGE_SIZE)
            body = self.call("pca:ListClientCertificate", partial(client.list_client_certificate, req)).body
            for c in body.certificate_list or []:
                if c.custom_identifier == custom_identifier:
                    return self.describe_client_certificate(c.identifier)
        return None

    def revoke_client_certificate(self, identifier: str, *, known_status: str | None = None) -> bool:
        """Revoke (``CreateRevokeClientCertificate``) unless already revoked; returns True when it wrote.

        Looks first (``DescribeClientCertificate``) unless the caller already read the status
        (``known_status``, e.g. from ``ListClientCertificate``): an already ``REVOKE`` certificate
        makes no call. Raises ``AlbMtlsError(CERT_NOT_FOUND)`` for an unknown identifier, other
        ``AlbMtlsError``.
        """
        status = known_status
        if status is None:
            current = self.describe_client_certificate(identifier)
            if current is None:
                raise AlbMtlsError(Code.CERT_NOT_FOUND, f"client certificate {identifier!r} does not exist")
            status = current.status
        if status == "REVOKE":
            return False
        m = _models()
        client = self.client
        self.call("pca:CreateRevokeClientCertificate",
                 lambda: client.create_revoke_client_certificate(
                     m.CreateRevokeClientCertificateRequest(identifier=identifier)))
        return True

"""CAS Private CA API, version 2020-06-30 (``alibabacloud_cas20200630``): the CA hierarchy
(root → sub-CA) and client certificates issued **from the caller's CSR** with real X.509.

State (``localcloud/SCHEMA.md``): ``pca.ca`` (root and sub-CAs, with their key PEM) and
``pca.client`` (issued certificates, key2 = ``ParentIdentifier``).

Other modules may use ``issue_client_certificate`` (e.g. to bulk-load certificates for a rotation
benchmark without going through the QPS-limited API) and ``ca_doc``.
"""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from alibabacloud_cas20200630 import models as m
from cryptography import x509

from .. import errors, pki
from ..protocol import Params
from ..registry import Ctx, action, shape

if TYPE_CHECKING:  # pragma: no cover
    from ..emulator import Emulator

V = "2020-06-30"
DAY_MS = 86_400_000

# Behaviour the reference (alibaba-apis.md §2.2, §5.5) could not settle; the emulator's choices.
ASSUMPTIONS: dict[str, str] = {
    "CaCertificate.NotFound": "404 for an unknown CA Identifier / ParentIdentifier (real code unknown; "
                              "the reference only says 404 or a code ending in NotFound).",
    "Certificate.NotFound": "404 for an unknown client certificate Identifier.",
    "InvalidParameter.ParentIdentifier": "400 when the parent is a ROOT CA or is not ISSUE: only sub-CAs issue client certs.",
    "InvalidParameter.Validity": "400 when notAfter would pass the issuing CA's AfterDate or the PCA subscription "
                                 "end (UseExpireTime), or BeforeTime/AfterTime are inconsistent.",
    "InvalidParameter.Algorithm": "400 when the CSR key family (or Algorithm) differs from the sub-CA's (EC vs RSA).",
    "InvalidParameter.Csr": "400 for an unparsable CSR, a bad CSR signature or a CSR without CN.",
    "DuplicateCustomIdentifier": "400 when CustomIdentifier is already used (the SDK calls it 'a unique key'); "
                                 "the message names the existing Identifier.",
    "QuotaExceeded.Certificate": "400 when the sub-CA has no CertRemainingCount left.",
    "revoke-twice": "CreateRevokeClientCertificate on an already revoked certificate succeeds (no-op).",
    "subject": "The subject is the CSR's subject; request CommonName/Organization/... fields are ignored with a CSR.",
    "notBefore": "With Days/Months/Years notBefore is the request time (no backdating); with BeforeTime/AfterTime "
                 "exactly those (epoch seconds).",
    "ShowSize": "ListClientCertificate / DescribeCACertificateList accept ShowSize 1..100 (real maximum undocumented).",
    "AsynchronousFlag": "Ignored: issuance is always synchronous.",
}

MAX_SHOW_SIZE = 100
DEFAULT_CERT_TOTAL = 100_000


def _now(ctx_or_cloud) -> datetime:
    return ctx_or_cloud.clock.now()


def _e(code: str, message: str, status: int = 400) -> errors.ApiError:
    return errors.error(code, message, status)


def _ca_not_found(identifier: str) -> errors.ApiError:
    return _e("CaCertificate.NotFound", f"The CA certificate {identifier!r} does not exist.", 404)


def ca_doc(store, identifier: str) -> dict[str, Any] | None:
    return store.get("pca.ca", identifier)


# -- CA creation (seed and helpers) ------------------------------------------------------------------
def _ca_fields(cert: x509.Certificate, key) -> dict[str, Any]:
    return {
        "Certificate": pki.cert_pem(cert),
        "key_pem": pki.key_pem(key),
        "Algorithm": pki.algorithm_name(key),
        "KeyAlgorithm": pki.key_family(key),
        "KeySize": pki.key_size(key),
        "SignAlgorithm": pki.sign_algorithm_name(cert),
        "SubjectDN": pki.dn_string(cert.subject),
        "CommonName": pki.common_name(cert.subject),
        "Organization": pki.name_attr(cert.subject, x509.NameOID.ORGANIZATION_NAME),
        "CountryCode": pki.name_attr(cert.subject, x509.NameOID.COUNTRY_NAME),
        "SerialNumber": pki.serial_hex(cert),
        "BeforeDate": pki.to_ms(pki.not_before(cert)),
        "AfterDate": pki.to_ms(pki.not_after(cert)),
        "Sha256": pki.fingerprint(cert, "sha256"),
        "Md5": pki.fingerprint(cert, "md5"),
    }


def create_root_ca(cloud: "Emulator", identifier: str, cn: str, *, key_alg: str = "EC", years: int = 10,
                   subscription_end_ms: int | None = None) -> dict[str, Any]:
    """Create and store a ROOT CA (``pca.ca``)."""
    now = cloud.clock.now()
    cert, key = pki.make_root_ca(cn, key_alg=key_alg, days=365 * years, now=now)
    doc = {"Identifier": identifier, "ParentIdentifier": "", "CertificateType": "ROOT",
           **_ca_fields(cert, key), "CertificateChain": pki.cert_pem(cert), "Status": "ISSUE",
           "Years": years, "InstanceId": f"cas-pca-{identifier[:12]}",
           "subscription_end": subscription_end_ms or pki.to_ms(now + timedelta(days=365)),
           "cert_total_count": 5}
    cloud.store.put("pca.ca", identifier, doc)
    return doc


def create_sub_ca(cloud: "Emulator", identifier: str, parent_identifier: str, cn: str, *,
                  key_alg: str = "EC", years: int = 5, subscription_end_ms: int | None = None,
                  cert_total_count: int = DEFAULT_CERT_TOTAL) -> dict[str, Any]:
    """Create and store a SUB_ROOT CA signed by the root ``parent_identifier``."""
    parent = ca_doc(cloud.store, parent_identifier)
    if parent is None:
        raise KeyError(parent_identifier)
    now = cloud.clock.now()
    pcert, pkey = pki.load_cert(parent["Certificate"]), pki.load_key(parent["key_pem"])
    cert, key = pki.make_sub_ca(cn, pcert, pkey, key_alg=key_alg, days=365 * years, now=now)
    doc = {"Identifier": identifier, "ParentIdentifier": parent_identifier, "CertificateType": "SUB_ROOT",
           **_ca_fields(cert, key), "CertificateChain": pki.cert_pem(cert) + parent["Certificate"],
           "Status": "ISSUE", "Years": years, "InstanceId": f"cas-pca-{identifier[:12]}",
           "subscription_end": subscription_end_ms or parent.get("subscription_end")
           or pki.to_ms(now + timedelta(days=365)),
           "cert_total_count": cert_total_count}
    cloud.store.put("pca.ca", identifier, doc)
    return doc


def seed_demo(cloud: "Emulator", ids: dict[str, Any]) -> None:
    """Root ``pca_root_identifier`` (EC P-256, 10 y) and sub-CA ``pca_sub_identifier`` (5 y);
    PCA subscription ends ≈ 1 year from now."""
    sub_end = pki.to_ms(cloud.clock.now() + timedelta(days=365))
    create_root_ca(cloud, ids["pca_root_identifier"], "alb-mtls Demo Private Root CA", years=10,
                   subscription_end_ms=sub_end)
    create_sub_ca(cloud, ids["pca_sub_identifier"], ids["pca_root_identifier"], "alb-mtls Demo Client Sub CA",
                  years=5, subscription_end_ms=sub_end)


# -- issuing -----------------------------------------------------------------------------------------
_SAN_TYPES = {1: x509.RFC822Name, 2: x509.DNSName, 6: x509.UniformResourceIdentifier}


def _sans_from_request(san_type: int | None, san_value: str | None) -> list[x509.GeneralName] | None:
    if san_type is None or not san_value:
        return None
    out: list[x509.GeneralName] = []
    for v in (s.strip() for s in san_value.split(",")):
        if not v:
            continue
        if san_type == 7:
            import ipaddress
            try:
                out.append(x509.IPAddress(ipaddress.ip_address(v)))
            except ValueError:
                raise errors.InvalidParameter("SanValue", f"{v!r} is not an IP address.") from None
        elif san_type in _SAN_TYPES:
            out.append(_SAN_TYPES[san_type](v))
        else:
            raise errors.InvalidParameter("SanType", "Supported here: 1 (email), 2 (DNS), 6 (URI), 7 (IP).")
    return out


def _check_parent(parent: dict[str, Any] | None, identifier: str, now_ms: int) -> dict[str, Any]:
    if parent is None:
        raise _ca_not_found(identifier)
    if parent["CertificateType"] != "SUB_ROOT":
        raise _e("InvalidParameter.ParentIdentifier",
                 "Only a subordinate CA (SUB_ROOT) can issue client certificates; the given CA is a ROOT CA.")
    if parent.get("Status") != "ISSUE" or parent["AfterDate"] <= now_ms:
        raise _e("InvalidParameter.ParentIdentifier", "The issuing CA is not in a valid, issuing state.")
    return parent


def issue_client_certificate(cloud: "Emulator", parent_identifier: str, csr_pem: str, *,
                             not_before: datetime, not_after: datetime,
                             sans: list[x509.GeneralName] | None = None, custom_identifier: str = "",
                             alias_name: str = "", tags: list[dict[str, str]] | None = None,
                             algorithm: str | None = None) -> dict[str, Any]:
    """Issue a client certificate from ``csr_pem`` under the sub-CA and store it (``pca.client``).
    Applies every rule of ``CreateClientCertificateWithCsr`` (raises ``errors.ApiError``)."""
    store = cloud.store
    now = cloud.clock.now()
    now_ms = pki.to_ms(now)
    parent = _check_parent(ca_doc(store, parent_identifier), parent_identifier, now_ms)
    try:
        csr = pki.load_csr(csr_pem)
    except pki.PkiError as exc:
        raise _e("InvalidParameter.Csr", f"The CSR is invalid: {exc}") from None
    cn = pki.common_name(csr.subject)
    if not cn:
        raise _e("InvalidParameter.Csr", "The CSR subject has no common name (CN).")
    try:
        fam = pki.key_family(csr.public_key())
    except pki.PkiError:
        raise _e("InvalidParameter.Csr", "The CSR key type is not supported (RSA or EC).") from None
    if fam != parent["KeyAlgorithm"]:
        raise _e("InvalidParameter.Algorithm",
                 f"The key algorithm of the CSR ({fam}) must be the same family as the sub-CA's "
                 f"({parent['KeyAlgorithm']}).")
    if algorithm:
        try:
            afam, _ = pki.parse_algorithm(algorithm)
        except pki.PkiError:
            raise errors.InvalidParameter("Algorithm", "Valid values: RSA_1024, RSA_2048, RSA_4096, ECC_256, "
                                                       "ECC_384, ECC_512, SM2_256.") from None
        if afam != parent["KeyAlgorithm"]:
            raise _e("InvalidParameter.Algorithm",
                     f"The algorithm {algorithm} does not match the sub-CA's family ({parent['KeyAlgorithm']}).")
    nb_ms, na_ms = pki.to_ms(not_before), pki.to_ms(not_after)
    if na_ms <= nb_ms:
        raise _e("InvalidParameter.Validity", "The certificate's end time must be after its start time.")
    if na_ms > parent["AfterDate"]:
        raise _e("InvalidParameter.Validity",
                 "The validity period of the certificate cannot exceed the validity period of the issuing "
                 f"sub-CA (AfterDate {parent['AfterDate']} ms).")
    if na_ms > parent["subscription_end"]:
        raise _e("InvalidParameter.Validity",
                 "The validity period of the certificate cannot exceed the end of the private CA "
                 f"subscription (UseExpireTime {parent['subscription_end']} ms).")
    if custom_identifier:
        seen = store.get("pca.custom_id", custom_identifier)
        if seen is not None:
            raise _e("DuplicateCustomIdentifier",
                     f"The CustomIdentifier is already used by certificate {seen['Identifier']}.")
    issued = store.count("pca.client", key2=parent_identifier)
    if issued >= int(parent.get("cert_total_count", DEFAULT_CERT_TOTAL)):
        raise _e("QuotaExceeded.Certificate", "The certificate quota of the sub-CA is used up.")
    issuer = pki.load_cert(parent["Certificate"])
    issuer_key = pki.load_key(parent["key_pem"])
    cert = pki.sign_csr_as_client(csr, issuer, issuer_key, not_before=not_before, not_after=not_after, sans=sans)
    pub = csr.public_key()
    ident = uuid.uuid4().hex
    doc = {
        "Identifier": ident,
        "Id": store.next_seq("pca.client.id"),
        "ParentIdentifier": parent_identifier,
        "CertificateType": "CLIENT",
        "SerialNumber": pki.serial_hex(cert),
        "Certificate": pki.cert_pem(cert),
        "CertificateChain": parent["CertificateChain"],
        "CommonName": cn,
        "SubjectDN": pki.dn_string(cert.subject),
        "Organization": pki.name_attr(cert.subject, x509.NameOID.ORGANIZATION_NAME),
        "OrganizationUnit": pki.name_attr(cert.subject, x509.NameOID.ORGANIZATIONAL_UNIT_NAME),
        "CountryCode": pki.name_attr(cert.subject, x509.NameOID.COUNTRY_NAME),
        "State": pki.name_attr(cert.subject, x509.NameOID.STATE_OR_PROVINCE_NAME),
        "Locality": pki.name_attr(cert.subject, x509.NameOID.LOCALITY_NAME),
        "Sans": pki.san_entries(cert),
        "Algorithm": pki.algorithm_name(pub),
        "KeyAlgorithm": fam,
        "KeySize": pki.key_size(pub),
        "SignAlgorithm": pki.sign_algorithm_name(cert),
        "BeforeDate": pki.to_ms(pki.not_before(cert)),
        "AfterDate": pki.to_ms(pki.not_after(cert)),
        "Status": "ISSUE",
        "RevokeDate": None,
        "CustomIdentifier": custom_identifier,
        "AliasName": alias_name,
        "Sha256": pki.fingerprint(cert, "sha256"),
        "Md5": pki.fingerprint(cert, "md5"),
        "Tags": tags or [],
        "CreateTime": now_ms,
    }
    store.put("pca.client", ident, doc, key2=parent_identifier)
    if custom_identifier:
        store.put("pca.custom_id", custom_identifier, {"Identifier": ident})
    return doc


def _validity(p: Params, now: datetime) -> tuple[datetime, datetime]:
    days = p.int("Days", min=1)
    months = p.int("Months", min=1)
    years = p.int("Years", min=1)
    before = p.int("BeforeTime", min=0)
    after = p.int("AfterTime", min=0)
    if (before is None) != (after is None):
        raise _e("InvalidParameter.Validity", "BeforeTime and AfterTime must both be set or both be empty.")
    start = now.replace(microsecond=0)
    if days is not None:
        return start, start + timedelta(days=days)
    if before is not None:
        if after > 10_000_000_000 or before > 10_000_000_000:
            raise _e("InvalidParameter.Validity", "BeforeTime and AfterTime are UNIX timestamps in seconds.")
        return (datetime.fromtimestamp(before, tz=timezone.utc), datetime.fromtimestamp(after, tz=timezone.utc))
    if months is not None:
        return start, start + timedelta(days=30 * months)
    if years is not None:
        return start, start + timedelta(days=365 * years)
    raise errors.MissingParameter("Days")


@action("pca", V, "CreateClientCertificateWithCsr", write=True)
def create_client_certificate_with_csr(ctx: Ctx, p: Params) -> dict:
    csr = p.str("Csr", required=True)
    parent_id = p.str("ParentIdentifier", required=True)
    immediately = p.int("Immediately", default=0, min=0, max=2)
    nb, na = _validity(p, _now(ctx))
    sans = _sans_from_request(p.int("SanType", min=0, max=8), p.str("SanValue"))
    tags = [{"TagKey": t.get("Key", ""), "TagValue": t.get("Value", "")}
            for t in p.list("Tags") if isinstance(t, dict)]
    doc = issue_client_certificate(ctx.cloud, parent_id, csr, not_before=nb, not_after=na, sans=sans,
                                   custom_identifier=p.str("CustomIdentifier", default="", max_len=64),
                                   tags=tags, algorithm=p.str("Algorithm"))
    body: dict[str, Any] = {"Identifier": doc["Identifier"], "SerialNumber": doc["SerialNumber"]}
    if immediately >= 1:
        body["X509Certificate"] = doc["Certificate"]
    if immediately == 2:
        body["CertificateChain"] = doc["CertificateChain"]
    return shape(m.CreateClientCertificateWithCsrResponseBody, body)


# -- client certificate views -------------------------------------------------------------------------
def _days(doc: dict[str, Any]) -> int:
    return max(0, round((doc["AfterDate"] - doc["BeforeDate"]) / DAY_MS))


def _client_view(doc: dict[str, Any], *, with_chain: bool) -> dict[str, Any]:
    view = {
        "Identifier": doc["Identifier"], "Id": doc.get("Id"), "ParentIdentifier": doc["ParentIdentifier"],
        "CertificateType": doc.get("CertificateType", "CLIENT"), "CommonName": doc["CommonName"],
        "SerialNumber": doc["SerialNumber"], "Status": doc["Status"], "SubjectDN": doc["SubjectDN"],
        "BeforeDate": doc["BeforeDate"], "AfterDate": doc["AfterDate"], "Days": _days(doc),
        "Algorithm": doc["KeyAlgorithm"], "KeySize": doc["KeySize"], "SignAlgorithm": doc["SignAlgorithm"],
        "Sans": json.dumps(doc.get("Sans") or [], separators=(",", ":")),
        "X509Certificate": doc["Certificate"], "Sha2": doc["Sha256"], "Md5": doc.get("Md5"),
        "CustomIdentifier": doc.get("CustomIdentifier") or None, "AliasName": doc.get("AliasName") or None,
        "Organization": doc.get("Organization") or None, "OrganizationUnit": doc.get("OrganizationUnit") or None,
        "CountryCode": doc.get("CountryCode") or None, "State": doc.get("State") or None,
        "Locality": doc.get("Locality") or None, "UploadFlag": 0,
    }
    if with_chain:
        view["CertChain"] = doc["Certificate"] + doc["CertificateChain"]
        view["FullAlgorithm"] = doc["Algorithm"]
        view["Tags"] = doc.get("Tags") or []
    return view


def _client(ctx: Ctx, identifier: str) -> dict[str, Any]:
    doc = ctx.store.get("pca.client", identifier)
    if doc is None:
        raise _e("Certificate.NotFound", f"The certificate {identifier!r} does not exist.", 404)
    return doc


@action("pca", V, "DescribeClientCertificate")
def describe_client_certificate(ctx: Ctx, p: Params) -> dict:
    doc = _client(ctx, p.str("Identifier", required=True))
    return shape(m.DescribeClientCertificateResponseBody, {"Certificate": _client_view(doc, with_chain=True)})


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
        "CertificateList": [_client_view(d, with_chain=False) for d in docs],
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
    doc = _client(ctx, p.str("Identifier", required=True))
    if doc["Status"] != "REVOKE":
        doc["Status"] = "REVOKE"
        doc["RevokeDate"] = ctx.clock.now_ms()
        ctx.store.put("pca.client", doc["Identifier"], doc)
    return shape(m.CreateRevokeClientCertificateResponseBody, {})


# -- CA views -----------------------------------------------------------------------------------------
def _ca_view(store, doc: dict[str, Any], *, detail: bool, now_ms: int) -> dict[str, Any]:
    view = {
        "Identifier": doc["Identifier"], "CertificateType": doc["CertificateType"],
        "ParentIdentifier": doc["ParentIdentifier"] or None, "CommonName": doc["CommonName"],
        "SubjectDN": doc["SubjectDN"], "Status": doc["Status"], "BeforeDate": doc["BeforeDate"],
        "AfterDate": doc["AfterDate"], "Algorithm": doc["KeyAlgorithm"], "KeySize": doc["KeySize"],
        "SignAlgorithm": doc["SignAlgorithm"], "SerialNumber": doc["SerialNumber"], "Sha2": doc["Sha256"],
        "Md5": doc.get("Md5"), "X509Certificate": doc["Certificate"], "Years": doc.get("Years"),
        "Organization": doc.get("Organization") or None, "CountryCode": doc.get("CountryCode") or None,
    }
    if not detail:
        view.update({"Alias": doc["CommonName"], "Trial": 0, "Gift": 0})
        return view
    if doc["CertificateType"] == "SUB_ROOT":
        issued = store.count("pca.client", key2=doc["Identifier"])
    else:
        issued = len(store.find("pca.ca", ParentIdentifier=doc["Identifier"]))
    total = int(doc.get("cert_total_count", DEFAULT_CERT_TOTAL))
    max_days = max(0, (min(doc["AfterDate"], doc["subscription_end"]) - now_ms) // DAY_MS)
    view.update({
        "CaCertChain": doc["CertificateChain"], "CertIssuedCount": issued, "CertTotalCount": total,
        "CertRemainingCount": max(0, total - issued), "CertMaxTime": max_days, "IssuerType": "local",
        "CrlStatus": "disable", "FullAlgorithm": doc["Algorithm"], "Tags": [],
    })
    return view


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
        "CertificateList": [_ca_view(ctx.store, d, detail=False, now_ms=now_ms) for d in chunk],
        "TotalCount": len(docs), "CurrentPage": page, "ShowSize": size,
        "PageCount": (len(docs) + size - 1) // size,
    })


@action("pca", V, "DescribeCACertificate")
def describe_ca_certificate(ctx: Ctx, p: Params) -> dict:
    ident = p.str("Identifier", required=True)
    doc = ca_doc(ctx.store, ident)
    if doc is None:
        raise _ca_not_found(ident)
    view = _ca_view(ctx.store, doc, detail=True, now_ms=ctx.clock.now_ms())
    return shape(m.DescribeCACertificateResponseBody, {"Certificate": view, "Years": doc.get("Years")})


@action("pca", V, "GetCAInstanceStatus")
def get_ca_instance_status(ctx: Ctx, p: Params) -> dict:
    ident = p.str("Identifier")
    inst = p.str("InstanceId")
    if ident:
        doc = ca_doc(ctx.store, ident)
        if doc is None:
            raise _ca_not_found(ident)
        docs = [doc]
    elif inst:
        docs = ctx.store.find("pca.ca", InstanceId=inst)
        if not docs:
            raise _e("CaInstance.NotFound", f"The private CA instance {inst!r} does not exist.", 404)
    else:
        docs = ctx.store.list("pca.ca")
    out = []
    for d in docs:
        if d["CertificateType"] == "SUB_ROOT":
            issued = ctx.store.count("pca.client", key2=d["Identifier"])
        else:
            issued = len(ctx.store.find("pca.ca", ParentIdentifier=d["Identifier"]))
        out.append({"InstanceId": d["InstanceId"], "Identifier": d["Identifier"], "Type": d["CertificateType"],
                    "Status": "USED" if d["Status"] == "ISSUE" else "REVOKE",
                    "CertTotalCount": int(d.get("cert_total_count", DEFAULT_CERT_TOTAL)),
                    "CertIssuedCount": issued, "BeforeTime": d["BeforeDate"], "AfterTime": d["AfterDate"],
                    "UseExpireTime": d["subscription_end"]})
    return shape(m.GetCAInstanceStatusResponseBody, {"InstanceStatusList": out})

"""Private CA state and behaviour over the store: the CA hierarchy, issuing from a CSR, views
(see the package doc)."""
from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from cryptography import x509

from ... import errors, pki
from .exceptions import (
    CaCertificateNotFound,
    CaInstanceNotFound,
    CertificateNotFound,
    CertificateQuotaExceeded,
    DuplicateCustomIdentifier,
    InvalidAlgorithm,
    InvalidCsr,
    InvalidParentIdentifier,
    InvalidValidity,
)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from ...emulator import Emulator
    from ...store import Store

VERSION = "2020-06-30"
DAY_MS = 86_400_000

# Behaviour docs/ALIBABA-APIS.md (§2.2, §5.5) does not settle; the emulator's choices.
ASSUMPTIONS: dict[str, str] = {
    "revoke-twice": "CreateRevokeClientCertificate on an already revoked certificate succeeds (no-op).",
    "subject": "The subject is the CSR's subject; request CommonName/Organization/... fields are ignored with a CSR.",
    "notBefore": "With Days/Months/Years notBefore is the request time (no backdating); with BeforeTime/AfterTime "
                 "exactly those (epoch seconds).",
    "ShowSize": "ListClientCertificate / DescribeCACertificateList accept ShowSize 1..100 (real maximum undocumented).",
    "AsynchronousFlag": "Ignored: issuance is always synchronous.",
    "two CA identifiers": "Each CA has two distinct identifiers: `Identifier` (32 hex; DescribeCACertificateList, "
                          "DescribePcaAndExternalCACertificateList, and every PCA action that takes an Identifier "
                          "or ParentIdentifier) and `CertIdentifier` (UUID version 6; ListPcaCaCertificate only). On "
                          "a real account the two may well be the same UUID (docs/ALIBABA-APIS.md §1.15); the local "
                          "cloud keeps them apart, the worst case, so that the product must resolve the one ALB "
                          "wants.",
    "ListPcaCaCertificate.IssuerIdentifier": "the issuing CA's CertIdentifier; a root CA names itself.",
    "DescribePcaAndExternalCACertificateList": "lists the PCA's CAs with their 32-hex Identifier (its doc example's "
                                               "shape); no external CAs exist here.",
    "crl-url": "A sub-CA created with EnableCrl publishes its CRL at http://<control plane>/crl/<Identifier>.crl "
               "(real: an OSS URL, DescribeCACertificate.CrlUrl); CrlStatus answers 'enable'/'disable' (the real "
               "values are undocumented).",
    "crl-content": "The CRL is made when fetched: every revoked certificate of the sub-CA at once (the real CRL is "
                   "regenerated on a schedule, GetCaInstanceCrlAddress.NextUpdateTime; its delay is undocumented), "
                   "thisUpdate = now, nextUpdate = now + CrlDay; entries carry no reasonCode "
                   "(CreateRevokeClientCertificate takes no reason).",
    "leaf-cdp": "CreateClientCertificateWithCsr with EnableCrl=1 under a sub-CA that publishes a CRL adds a "
                "cRLDistributionPoints extension naming the CrlUrl (unverified: the CAS CRL page says certificates "
                "issued through OpenAPI Explorer carry none); without EnableCrl, or when the sub-CA publishes no "
                "CRL, none.",
}

MAX_SHOW_SIZE = 100
DEFAULT_CERT_TOTAL = 100_000


def ca_doc(store: Store, identifier: str) -> dict[str, Any] | None:
    return store.get("pca.ca", identifier)


def existing_ca(store: Store, identifier: str) -> dict[str, Any]:
    doc = ca_doc(store, identifier)
    if doc is None:
        raise CaCertificateNotFound(identifier)
    return doc


def cert_identifier(doc: dict[str, Any]) -> str:
    """A CA's ``CertIdentifier`` (UUID v6, ``ASSUMPTIONS["two CA identifiers"]``); a CA stored before
    the field existed gets a stable one derived from its ``Identifier``."""
    found = doc.get("CertIdentifier")
    if found:
        return str(found)
    return pki.uuid6(datetime.fromtimestamp(doc["BeforeDate"] / 1000, tz=UTC),
                     seed=doc["Identifier"].encode())


def ca_by_cert_identifier(store: Store, value: str) -> dict[str, Any] | None:
    """The ``pca.ca`` document whose ``CertIdentifier`` is ``value`` (or ``None``)."""
    if not value:
        return None
    for doc in store.list("pca.ca"):
        if cert_identifier(doc) == value:
            return doc
    return None


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


def create_root_ca(cloud: Emulator, identifier: str, cn: str, *, key_alg: str = "EC", years: int = 10,
                   subscription_end_ms: int | None = None, cert_identifier: str | None = None) -> dict[str, Any]:
    """Create and store a ROOT CA (``pca.ca``); ``cert_identifier`` defaults to a new UUID v6."""
    now = cloud.clock.now()
    cert, key = pki.make_root_ca(cn, key_alg=key_alg, days=365 * years, now=now)
    doc = {"Identifier": identifier, "CertIdentifier": cert_identifier or pki.uuid6(now),
           "ParentIdentifier": "", "CertificateType": "ROOT",
           **_ca_fields(cert, key), "CertificateChain": pki.cert_pem(cert), "Status": "ISSUE",
           "Years": years, "InstanceId": f"cas-pca-{identifier[:12]}",
           "subscription_end": subscription_end_ms or pki.to_ms(now + timedelta(days=365)),
           "cert_total_count": 5}
    cloud.store.put("pca.ca", identifier, doc)
    return doc


def create_sub_ca(cloud: Emulator, identifier: str, parent_identifier: str, cn: str, *,
                  key_alg: str = "EC", years: int = 5, subscription_end_ms: int | None = None,
                  cert_total_count: int = DEFAULT_CERT_TOTAL, cert_identifier: str | None = None,
                  enable_crl: bool = False, crl_day: int = 30) -> dict[str, Any]:
    """Create and store a SUB_ROOT CA signed by the root ``parent_identifier``; ``cert_identifier``
    defaults to a new UUID v6; ``enable_crl`` / ``crl_day`` as ``CreateSubCACertificate``'s
    ``EnableCrl`` / ``CrlDay`` (1–365 days)."""
    parent = ca_doc(cloud.store, parent_identifier)
    if parent is None:
        raise KeyError(parent_identifier)
    now = cloud.clock.now()
    pcert, pkey = pki.load_cert(parent["Certificate"]), pki.load_key(parent["key_pem"])
    cert, key = pki.make_sub_ca(cn, pcert, pkey, key_alg=key_alg, days=365 * years, now=now)
    doc = {"Identifier": identifier, "CertIdentifier": cert_identifier or pki.uuid6(now),
           "ParentIdentifier": parent_identifier, "CertificateType": "SUB_ROOT",
           **_ca_fields(cert, key), "CertificateChain": pki.cert_pem(cert) + parent["Certificate"],
           "Status": "ISSUE", "Years": years, "InstanceId": f"cas-pca-{identifier[:12]}",
           "subscription_end": subscription_end_ms or parent.get("subscription_end")
           or pki.to_ms(now + timedelta(days=365)),
           "cert_total_count": cert_total_count, "EnableCrl": bool(enable_crl),
           "CrlDay": max(1, min(365, int(crl_day)))}
    cloud.store.put("pca.ca", identifier, doc)
    return doc


# -- the CRL -----------------------------------------------------------------------------------------
CRL_PATH = "/crl/"


def crl_url(cloud: Emulator, doc: dict[str, Any]) -> str | None:
    """Where the sub-CA ``doc`` publishes its CRL (``None`` when it publishes none)."""
    if not doc.get("EnableCrl"):
        return None
    return f"http://{cloud.api_endpoint}{CRL_PATH}{doc['Identifier']}.crl"


def revoked_entries(store: Store, identifier: str) -> list[tuple[int, datetime]]:
    """``(serial, revocation time)`` of every revoked certificate the CA ``identifier`` issued."""
    out = []
    for d in store.list("pca.client", key2=identifier):
        if d.get("Status") == "REVOKE":
            when = datetime.fromtimestamp((d.get("RevokeDate") or d["CreateTime"]) / 1000, tz=UTC)
            out.append((int(d["SerialNumber"], 16), when))
    return sorted(out)


def crl(cloud: Emulator, identifier: str, *, require_published: bool = True) -> x509.CertificateRevocationList | None:
    """The CRL of CA ``identifier`` now (ASSUMPTIONS ``crl-content``), signed by its key; ``None``
    when there is no such CA or (``require_published``) it publishes no CRL."""
    doc = ca_doc(cloud.store, identifier)
    if doc is None or (require_published and not doc.get("EnableCrl")):
        return None
    now = cloud.clock.now()
    entries = revoked_entries(cloud.store, identifier)
    return pki.make_crl(pki.load_cert(doc["Certificate"]), pki.load_key(doc["key_pem"]), entries,
                        this_update=now, next_update=now + timedelta(days=int(doc.get("CrlDay") or 30)),
                        number=max(1, int(now.timestamp())))


# -- issuing -----------------------------------------------------------------------------------------
_SAN_TYPES: dict[int, Callable[[str], x509.GeneralName]] = {
    1: x509.RFC822Name, 2: x509.DNSName, 6: x509.UniformResourceIdentifier}


def sans_from_request(san_type: int | None, san_value: str | None) -> list[x509.GeneralName] | None:
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
        raise CaCertificateNotFound(identifier)
    if parent["CertificateType"] != "SUB_ROOT":
        raise InvalidParentIdentifier(
            "Only a subordinate CA (SUB_ROOT) can issue client certificates; the given CA is a ROOT CA.")
    if parent.get("Status") != "ISSUE" or parent["AfterDate"] <= now_ms:
        raise InvalidParentIdentifier("The issuing CA is not in a valid, issuing state.")
    return parent


def issue_client_certificate(cloud: Emulator, parent_identifier: str, csr_pem: str, *,
                             not_before: datetime, not_after: datetime,
                             sans: list[x509.GeneralName] | None = None, custom_identifier: str = "",
                             alias_name: str = "", tags: list[dict[str, str]] | None = None,
                             algorithm: str | None = None, enable_crl: bool = False) -> dict[str, Any]:
    """Issue a client certificate from ``csr_pem`` under the sub-CA and store it (``pca.client``).
    Applies every rule of ``CreateClientCertificateWithCsr`` (raises ``errors.ApiError``)."""
    store = cloud.store
    now = cloud.clock.now()
    now_ms = pki.to_ms(now)
    parent = _check_parent(ca_doc(store, parent_identifier), parent_identifier, now_ms)
    try:
        csr = pki.load_csr(csr_pem)
    except pki.PkiError as exc:
        raise InvalidCsr(f"The CSR is invalid: {exc}") from None
    cn = pki.common_name(csr.subject)
    if not cn:
        raise InvalidCsr("The CSR subject has no common name (CN).")
    try:
        fam = pki.key_family(csr.public_key())
    except pki.PkiError:
        raise InvalidCsr("The CSR key type is not supported (RSA or EC).") from None
    if fam != parent["KeyAlgorithm"]:
        raise InvalidAlgorithm(
                 f"The key algorithm of the CSR ({fam}) must be the same family as the sub-CA's "
                 f"({parent['KeyAlgorithm']}).")
    if algorithm:
        try:
            afam, _ = pki.parse_algorithm(algorithm)
        except pki.PkiError:
            raise errors.InvalidParameter("Algorithm", "Valid values: RSA_1024, RSA_2048, RSA_4096, ECC_256, "
                                                       "ECC_384, ECC_512, SM2_256.") from None
        if afam != parent["KeyAlgorithm"]:
            raise InvalidAlgorithm(
                     f"The algorithm {algorithm} does not match the sub-CA's family ({parent['KeyAlgorithm']}).")
    nb_ms, na_ms = pki.to_ms(not_before), pki.to_ms(not_after)
    if na_ms <= nb_ms:
        raise InvalidValidity("The certificate's end time must be after its start time.")
    if na_ms > parent["AfterDate"]:
        raise InvalidValidity(
                 "The validity period of the certificate cannot exceed the validity period of the issuing "
                 f"sub-CA (AfterDate {parent['AfterDate']} ms).")
    if na_ms > parent["subscription_end"]:
        raise InvalidValidity(
                 "The validity period of the certificate cannot exceed the end of the private CA "
                 f"subscription (UseExpireTime {parent['subscription_end']} ms).")
    if custom_identifier:
        seen = store.get("pca.custom_id", custom_identifier)
        if seen is not None:
            raise DuplicateCustomIdentifier(seen["Identifier"])
    issued = store.count("pca.client", key2=parent_identifier)
    if issued >= int(parent.get("cert_total_count", DEFAULT_CERT_TOTAL)):
        raise CertificateQuotaExceeded()
    issuer = pki.load_cert(parent["Certificate"])
    issuer_key = pki.load_key(parent["key_pem"])
    cert = pki.sign_csr_as_client(csr, issuer, issuer_key, not_before=not_before, not_after=not_after, sans=sans,
                                  crl_url=crl_url(cloud, parent) if enable_crl else None)
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


def validity(now: datetime, *, days: int | None, months: int | None, years: int | None, before: int | None,
             after: int | None) -> tuple[datetime, datetime]:
    """(notBefore, notAfter) from the request's Days / BeforeTime+AfterTime / Months / Years."""
    if (before is None) != (after is None):
        raise InvalidValidity("BeforeTime and AfterTime must both be set or both be empty.")
    start = now.replace(microsecond=0)
    if days is not None:
        return start, start + timedelta(days=days)
    if before is not None:
        assert after is not None
        if after > 10_000_000_000 or before > 10_000_000_000:
            raise InvalidValidity("BeforeTime and AfterTime are UNIX timestamps in seconds.")
        return (datetime.fromtimestamp(before, tz=UTC), datetime.fromtimestamp(after, tz=UTC))
    if months is not None:
        return start, start + timedelta(days=30 * months)
    if years is not None:
        return start, start + timedelta(days=365 * years)
    raise errors.MissingParameter("Days")


def client(store: Store, identifier: str) -> dict[str, Any]:
    doc = store.get("pca.client", identifier)
    if doc is None:
        raise CertificateNotFound(identifier)
    return doc


def revoke(cloud: Emulator, identifier: str) -> None:
    """Revoke a client certificate (a second revoke changes nothing)."""
    doc = client(cloud.store, identifier)
    if doc["Status"] != "REVOKE":
        doc["Status"] = "REVOKE"
        doc["RevokeDate"] = cloud.clock.now_ms()
        cloud.store.put("pca.client", doc["Identifier"], doc)


def issued_count(store: Store, doc: dict[str, Any]) -> int:
    """Certificates a CA issued: client certificates of a sub-CA, sub-CAs of a root."""
    if doc["CertificateType"] == "SUB_ROOT":
        return store.count("pca.client", key2=doc["Identifier"])
    return len(store.find("pca.ca", ParentIdentifier=doc["Identifier"]))


def instances(store: Store, identifier: str | None, instance_id: str | None) -> list[dict[str, Any]]:
    """The CAs of GetCAInstanceStatus: one by Identifier, those of an InstanceId, or all."""
    if identifier:
        return [existing_ca(store, identifier)]
    if instance_id:
        docs = store.find("pca.ca", InstanceId=instance_id)
        if not docs:
            raise CaInstanceNotFound(instance_id)
        return docs
    return store.list("pca.ca")


def lifetime_days(doc: dict[str, Any]) -> int:
    return max(0, round((doc["AfterDate"] - doc["BeforeDate"]) / DAY_MS))


def client_view(doc: dict[str, Any], *, with_chain: bool) -> dict[str, Any]:
    view = {
        "Identifier": doc["Identifier"], "Id": doc.get("Id"), "ParentIdentifier": doc["ParentIdentifier"],
        "CertificateType": doc.get("CertificateType", "CLIENT"), "CommonName": doc["CommonName"],
        "SerialNumber": doc["SerialNumber"], "Status": doc["Status"], "SubjectDN": doc["SubjectDN"],
        "BeforeDate": doc["BeforeDate"], "AfterDate": doc["AfterDate"], "Days": lifetime_days(doc),
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


def ca_view(store: Store, doc: dict[str, Any], *, detail: bool, now_ms: int,
            crl_url: str | None = None) -> dict[str, Any]:
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
    issued = issued_count(store, doc)
    total = int(doc.get("cert_total_count", DEFAULT_CERT_TOTAL))
    max_days = max(0, (min(doc["AfterDate"], doc["subscription_end"]) - now_ms) // DAY_MS)
    view.update({
        "CaCertChain": doc["CertificateChain"], "CertIssuedCount": issued, "CertTotalCount": total,
        "CertRemainingCount": max(0, total - issued), "CertMaxTime": max_days, "IssuerType": "local",
        "CrlStatus": "enable" if doc.get("EnableCrl") else "disable", "FullAlgorithm": doc["Algorithm"], "Tags": [],
    })
    if doc.get("EnableCrl"):
        view.update({"CrlUrl": crl_url, "CrlDay": int(doc.get("CrlDay") or 30)})
    return view


def pca_list_item(store: Store, doc: dict[str, Any], *, region: str, user_id: str) -> dict[str, Any]:
    """A ``ListPcaCaCertificate`` item: the CA by its ``CertIdentifier`` and its issuer's."""
    parent = ca_doc(store, doc["ParentIdentifier"]) if doc.get("ParentIdentifier") else None
    return {"CertIdentifier": cert_identifier(doc),
            "IssuerIdentifier": cert_identifier(parent) if parent else cert_identifier(doc),
            "CommonName": doc["CommonName"], "Status": doc["Status"], "PrivateCaInstanceId": doc.get("InstanceId"),
            "PrivateCaRegionId": region, "UserId": user_id}


def pca_and_external_item(doc: dict[str, Any]) -> dict[str, Any]:
    """A ``DescribePcaAndExternalCACertificateList`` item (32-hex ``Identifier``, the PEM, validity)."""
    return {
        "Identifier": doc["Identifier"], "ParentIdentifier": doc["ParentIdentifier"] or None,
        "CertificateType": doc["CertificateType"], "CommonName": doc["CommonName"], "SubjectDN": doc["SubjectDN"],
        "SerialNumber": doc["SerialNumber"], "Status": doc["Status"], "BeforeDate": doc["BeforeDate"],
        "AfterDate": doc["AfterDate"], "Algorithm": doc["KeyAlgorithm"], "KeySize": doc["KeySize"],
        "SignAlgorithm": doc["SignAlgorithm"], "Sha2": doc["Sha256"], "Md5": doc.get("Md5"),
        "X509Certificate": doc["Certificate"], "Years": doc.get("Years"),
        "Organization": doc.get("Organization") or None, "CountryCode": doc.get("CountryCode") or None,
    }

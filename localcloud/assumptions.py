"""Every assumption the local cloud makes that a real account has not confirmed, as one catalogue:
its key, what is assumed, its status, its public source, and the ``albmtls doctor`` check that
settles it against an account (or why none can without a write).

The assumptions themselves stay where the code keeps them (an error class's ``assumed``, a
product's ``models.ASSUMPTIONS``, ``Product.throttle``, ``localcloud/flow/errors.py``, the
cross-product list in ``localcloud/coverage.py``); :func:`catalogue` collects them, and
:data:`SETTLED_BY` gives each its status, source and check. ``localcloud/COVERAGE.md`` is
rendered from it and ``albmtls doctor`` reports on every entry; a test keeps the checks named here
and the doctor's checks the same set, so the two cannot drift.

Keys: ``<product>:code:<Code>``, ``<product>:behaviour:<name>``, ``<product>:throttling``,
``fnf:task-error:<name>``, ``cross:<name>``.
"""
from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass

from . import errors
from .products import PRODUCTS

__all__ = ["Assumption", "catalogue", "SETTLED_BY", "NOT_CHECKABLE", "DOCTOR_CHECKS"]

UNCONFIRMED = "unconfirmed"
NO_SOURCE = "no public source found"


@dataclass(frozen=True)
class Assumption:
    """One assumption (module doc). ``check`` is the doctor check that settles it, or ``None``
    with ``why_not`` saying why it cannot be checked without a write."""

    key: str
    text: str
    status: str
    source: str
    check: str | None
    why_not: str = ""


#: The doctor's checks (``albmtls/doctor``), each what it reads.
DOCTOR_CHECKS: dict[str, str] = {
    "credentials": "the default credential chain, then STS GetCallerIdentity (and its answer's Date header)",
    "ca-id-forms": "ListPcaCaCertificate, DescribeCACertificateList and DescribePcaAndExternalCACertificateList side "
                   "by side, and every existing listener's CaCertificates (ListLoadBalancers, ListListeners, "
                   "GetListenerAttribute) matched against them",
    "listener-dry-run": "CreateListener or UpdateListenerAttribute with DryRun=true and the sub-CA in each id form "
                        "(needs -f INPUT.json)",
    "alb-read": "GetLoadBalancerAttribute (edition, status) and ListListeners of the input's ALB",
    "pca-quota": "DescribeCACertificate (CertRemainingCount, AfterDate) and GetCAInstanceStatus (UseExpireTime) of "
                 "the sub-CA",
    "pca-codes": "DescribeCACertificate, DescribeClientCertificate and GetCAInstanceStatus of ids that do not exist; "
                 "ListClientCertificate with ShowSize=100",
    "cas-codes": "GetUserCertificateDetail of a CertId that does not exist; ListCertWarehouse",
    "alidns-codes": "DescribeDomainInfo of a domain that is not in the account",
    "kms-access": "ListSecrets (one page, and filtered by a name that does not exist), DescribeSecret of a name "
                  "and GetKmsInstance of a KMS instance that do not exist",
    "cloudflow": "ListFlows, DescribeFlow of albmtls-provision, albmtls-issue and albmtls-revoke (deployed, "
                 "current), and the history of the newest failed execution",
    "functions": "the deployed functions (FC 3.0 GetFunction on a real account; the local invoker locally): present, "
                 "python3.12, ALBMTLS_ALB_CA_ID_FORM as set here",
    "own-ca": "GetKmsInstance of ALBMTLS_KMS_INSTANCE_ID; for each own CA "
              "under the prefix (its KMS record): DescribeKey and GetPublicKey of every live generation's keys "
              "(EC_P256/RSA_2048, SIGN/VERIFY, Enabled, the certificate's key) and DescribeWarehouseCert of the "
              "upload listeners trust",
    "actiontrail": "LookupEvents of the last day's GetSecretValue events (one page of 50): the identity may read the "
                   "KMS audit trail, and whether a GetSecretValue event names its secret in "
                   "requestParameters.SecretName",
    "revocation": "ListClientCertificate (the revoked certificates still inside their validity, per listener) and "
                  "each such listener's XForwardedForConfig (GetListenerAttribute): the exposure if a listener does "
                  "not refuse revoked certificates, and whether its backends get the fingerprint to deny them — "
                  "settling it takes a revoke and a connection",
}

#: key → (status, public source, doctor check). Status: ``documented`` (a public page or SDK model
#: says so), ``partly`` (the shape is documented, the detail is not), ``unconfirmed`` (no public
#: source). Entries absent here are unconfirmed, with no source, and not checkable (NOT_CHECKABLE).
SETTLED_BY: dict[str, tuple[str, str, str]] = {
    "cross:ALB CaCertificates id": (
        "partly", "Terraform alicloud ALB listener acceptance test (commit f940fba8, PR #8127): UUID v6 CA ids; "
        "docs/ALIBABA-APIS.md §1.15", "listener-dry-run"),
    "alb:code:ResourceNotFound.CaCertificate": (UNCONFIRMED, "NLB uses this code; docs/ALIBABA-APIS.md §5.4",
                                               "listener-dry-run"),
    "alb:behaviour:CaCertificates id": ("partly", "docs/ALIBABA-APIS.md §1.15", "listener-dry-run"),
    "pca:behaviour:two CA identifiers": ("partly", "SDK models (ListPcaCaCertificate.CertIdentifier, "
                                                   "DescribeCACertificateList.Identifier); docs/ALIBABA-APIS.md §1.15",
                                         "ca-id-forms"),
    "pca:behaviour:ListPcaCaCertificate.IssuerIdentifier": ("partly", "SDK model field doc", "ca-id-forms"),
    "pca:behaviour:DescribePcaAndExternalCACertificateList": ("partly", "SDK model example (32 hex)", "ca-id-forms"),
    "pca:code:CaCertificate.NotFound": (UNCONFIRMED, "docs/ALIBABA-APIS.md §5.5", "pca-codes"),
    "pca:code:Certificate.NotFound": (UNCONFIRMED, "docs/ALIBABA-APIS.md §5.5", "pca-codes"),
    "pca:code:CaInstance.NotFound": (UNCONFIRMED, "docs/ALIBABA-APIS.md §5.5", "pca-codes"),
    "pca:behaviour:ShowSize": (UNCONFIRMED, "docs/ALIBABA-APIS.md §5.6", "pca-codes"),
    "cas:code:Certificate.NotFound": (UNCONFIRMED, "docs/ALIBABA-APIS.md §2.4", "cas-codes"),
    "cas:behaviour:warehouse Type": ("partly", "SDK model vs CreateWarehouse doc (Apr 2026), docs/ALIBABA-APIS.md "
                                               "§2.3", "cas-codes"),
    "alidns:code:InvalidDomainName.NoExist": ("partly", "docs/ALIBABA-APIS.md §3.4 (400 or 404)", "alidns-codes"),
    "fnf:behaviour:Output of a failed execution": (UNCONFIRMED, "docs/SERVERLESS.md §1.15 (DescribeExecution has no "
                                                                "error fields)", "cloudflow"),
    "fnf:behaviour:History events": ("partly", "SDK model (event Types), docs/SERVERLESS.md §1.15; EventDetail layout "
                                               "undocumented", "cloudflow"),
    "cross:CloudFlow Map concurrency key": ("partly", "the FDL inline-mode table (Mar 2026) spells it MaxConcuccency",
                                            "cloudflow"),
    # not checkable (NOT_CHECKABLE says why), but documented in part
    "cross:CloudFlow Fail in a branch": ("partly", "the FDL's Fail page (Mar 2026): \"the flow ends\"; whether a Catch "
                                                   "on the enclosing state sees it is not said", ""),
    "kms:behaviour:ListSecrets.Filters": (UNCONFIRMED, NO_SOURCE, "kms-access"),
    "kms:code:Forbidden.ResourceNotFound": ("partly", "documented for a secret that does not exist "
                                                      "(docs/ALIBABA-APIS.md §6.2), not for a KMS instance or a "
                                                      "key version", "kms-access"),
    "kms:behaviour:ProtectionLevel": ("partly", "KMS CreateKey SDK doc: ProtectionLevel is ignored with "
                                                "DKMSInstanceId (the instance decides)", "own-ca"),
    "cross:Date header": (UNCONFIRMED, "RFC 9110 §6.6.1 (servers send Date); docs/ALIBABA-APIS.md §4.5.1",
                          "credentials"),
    "cross:Revocation at the listener": (
        "partly", "the PCA CreateRevokeClientCertificate page (a revoked certificate cannot establish HTTPS "
        "connections); the ALB API has no CRL/OCSP field and no delay is documented; docs/ALIBABA-APIS.md §5.2",
        "revocation"),
    # not checkable without issuing or revoking (NOT_CHECKABLE says why), documented in part
    "cross:SANs from the CSR": (UNCONFIRMED, "docs/ALIBABA-APIS.md §2.2 (SanType takes one kind per request)", ""),
    "pca:behaviour:crl-url": ("partly", "SDK models (CreateSubCACertificate.EnableCrl/CrlDay, "
                                        "DescribeCACertificate.CrlUrl); docs/ALIBABA-APIS.md §2.2", ""),
    "pca:behaviour:leaf-cdp": ("partly", "SDK model (CreateClientCertificateWithCsr.EnableCrl); the CAS CRL page says "
                                         "OpenAPI Explorer leaves carry none; docs/ALIBABA-APIS.md §2.2", ""),
    "kms:behaviour:restore-not-deleted": (UNCONFIRMED, "DOCS-KMS RestoreSecret.md (says nothing of it)", ""),
    "cross:System holder reads": (
        "partly", "alibabacloud.com/help/en/kms/key-management-service/support/use-actiontrail-to-query-kms-event-logs "
        "(every KMS API call but DescribeRegions, service name Kms); …/kms/key-management-service/use-cases/"
        "query-usage-records-for-kms-keys-and-secrets (via a KMS instance endpoint: Simple Log Service only); "
        "…/actiontrail/developer-reference/api-actiontrail-2020-07-06-lookupevents (2 calls/s); how soon an event "
        "is queryable is not stated; docs/DELIVERY.md", "actiontrail"),
    "actiontrail:behaviour:GetSecretValue event": (
        "partly", "ActionTrail's sample events show request parameters under their API names "
        "(…/actiontrail/user-guide/query-actiontrail-events-by-assuming-a-ram-role); no public GetSecretValue sample",
        "actiontrail"),
    "actiontrail:behaviour:LookupEvents defaults": (
        "partly", "SDK model alibabacloud_actiontrail20200706 (MaxResults 0-50; StartTime default 7 days back); "
        "…/actiontrail/support/how-to-set-the-lookupattribute-parameter (one or two attributes, limits on two)", ""),
    "actiontrail:behaviour:query delay": (
        UNCONFIRMED, "…/actiontrail/latest/single-account-trail-overview (a trail delivers to SLS within 1 minute; "
        "the LookupEvents delay is not stated)", ""),
    "cross:Chat robot answers": ("partly", "open.dingtalk.com custom-robot-access, developer.work.weixin.qq.com "
                                           "document/path/99110, open.feishu.cn bot-v3/add-custom-bot (the refusal "
                                           "codes; the throttling codes are not shown answered); docs/DELIVERY.md",
                                 ""),
}

#: why the rest cannot be checked without a write (or without waiting for a failure to happen)
NOT_CHECKABLE: dict[str, str] = {
    "code": "the code is only answered to a write that fails (or a state the account is not in); a dry run "
            "cannot produce it",
    "behaviour": "observing it takes a write (or a failure) the doctor does not make",
    "throttling": "it takes exceeding the quota",
    "task-error": "it takes a failing function in a real execution",
    "cross": "it takes a write (or a failure) the doctor does not make",
}


def _entry(key: str, text: str, status: str | None = None, source: str | None = None) -> Assumption:
    settled = SETTLED_BY.get(key)
    if settled and settled[2]:
        return Assumption(key, text, settled[0], settled[1], settled[2])
    if settled:
        status, source = settled[0], settled[1]
    kind = "cross" if key.startswith("cross:") else key.split(":")[1]
    return Assumption(key, text, status or UNCONFIRMED, source or NO_SOURCE, None, NOT_CHECKABLE.get(kind, ""))


def catalogue() -> list[Assumption]:
    """Every assumption, in COVERAGE.md's order: per product its codes, behaviour and throttling;
    then the CloudFlow Task error names; then the cross-product ones."""
    from .coverage import CROSS_PRODUCT_ASSUMPTIONS
    from .flow.errors import TASK_ERROR_NAMES

    out: list[Assumption] = []
    for product in PRODUCTS:
        exc = importlib.import_module(f"{product.package.__name__}.exceptions")
        codes = sorted((c for _, c in inspect.getmembers(exc, inspect.isclass)
                        if issubclass(c, errors.ApiError) and c.__module__ == exc.__name__ and c.assumed),
                       key=lambda c: c.code)
        out += [_entry(f"{product.key}:code:{c.code}", f"HTTP {c.status}: {c.assumed}") for c in codes]
        models = importlib.import_module(f"{product.package.__name__}.models")
        out += [_entry(f"{product.key}:behaviour:{k}", str(v)) for k, v in getattr(models, "ASSUMPTIONS", {}).items()]
        t = product.throttle
        out.append(_entry(f"{product.key}:throttling", f"a throttled call answers {t.code} (HTTP {t.status})"
                          + (" with x-acs-retry-after" if t.retry_after else " without x-acs-retry-after"),
                          status="documented" if t.source else UNCONFIRMED, source=t.source or NO_SOURCE))
    for e in TASK_ERROR_NAMES:
        out.append(_entry(f"fnf:task-error:{e.name}", f"{e.name}: {e.when}", status=e.status, source=e.source))
    out += [_entry(f"cross:{k}", v) for k, v in CROSS_PRODUCT_ASSUMPTIONS.items()]
    return out

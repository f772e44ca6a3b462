"""The emulated products, one package each in moto's per-service shape:

- ``models.py``: state and behaviour over the store (what the product does, its views, the
  helpers other parts of the local cloud use) and ``ASSUMPTIONS``, the behaviour a real account
  has not confirmed;
- ``responses.py``: the registered action handlers — typed parameters → a model call → the
  response shaped through the SDK's own ``…ResponseBody`` model;
- ``exceptions.py``: one class per real error code, with its HTTP status (``assumed`` says what
  is not confirmed about a code);
- ``seed.py``: the demo account's part of the product (where it has one).

``PRODUCTS`` is the one declaration of the products; the server, the fault rules, the coverage
file and the endpoints file derive from it. Importing this package registers every action.
"""
from __future__ import annotations

from ..registry import Product, Quota, Throttle
from . import actiontrail, alb, alidns, cas, fnf, kms, pca, sts
from .alb import seed as alb_seed
from .alidns import seed as alidns_seed
from .cas import seed as cas_seed
from .kms import seed as kms_seed
from .pca import seed as pca_seed

# ALB listener writes: "流控信息 请求速率为200/60(s)" on api.aliyun.com (CreateListener, UpdateListenerAttribute,
# Associate/DissociateAdditionalCertificates…); docs/ALIBABA-APIS.md §1.16.
_ALB_WRITE_QUOTA = "api.aliyun.com/document/Alb/2020-06-16/CreateListener (and UpdateListenerAttribute): 200/60 s"
# KMS: "|429|Rejected.Throttling|The QPS upper limit is exceeded.|" (AlibabaCloudDocs/kms, CreateSecret.md);
# shared gateway 200 QPS per account for most operations (docs/ALIBABA-APIS.md §6.2).
_KMS_THROTTLE = Throttle("Rejected.Throttling", 429, retry_after=False, message="QPS Limit Exceeded",
                         source="KMS error table (AlibabaCloudDocs/kms CreateSecret.md), docs/ALIBABA-APIS.md §6.2")

# KMS key operations on the shared gateway, per account and region (the performance-data page,
# docs/ALIBABA-APIS.md §7.4): CreateKey 10/s, key reads 50/s, key writes 30/s, AsymmetricSign 200/s
# (the product's own cap); one bucket per action here (the page's groups share one).
_KMS_PERF = "alibabacloud.com/help/en/kms/key-management-service/product-overview/performance-data"
_KMS_KEY_QUOTAS = (
    Quota("CreateKey", 10, 1.0, _KMS_PERF),
    *(Quota(a, 50, 1.0, _KMS_PERF) for a in ("DescribeKey", "ListKeys", "ListKeyVersions", "GetPublicKey",
                                               "ListAliases", "ListAliasesByKeyId", "GetKmsInstance",
                                               "ListKmsInstances")),
    *(Quota(a, 30, 1.0, _KMS_PERF) for a in ("CreateAlias", "DeleteAlias", "ScheduleKeyDeletion",
                                               "CancelKeyDeletion", "EnableKey", "DisableKey")),
)

PRODUCTS: tuple[Product, ...] = (
    Product("alb", ("2020-06-16",), "alb.cn-hangzhou.aliyuncs.com", alb, "alibabacloud_alb20200616",
            "ALB 2020-06-16", busy_code="IncorrectStatus.Listener", seed_demo=alb_seed.seed_demo,
            quotas=tuple(Quota(a, 200, 60.0, _ALB_WRITE_QUOTA) for a in (
                "CreateListener", "UpdateListenerAttribute", "AssociateAdditionalCertificatesWithListener",
                "DissociateAdditionalCertificatesFromListener"))),
    Product("cas", ("2020-04-07",), "cas.aliyuncs.com", cas, "alibabacloud_cas20200407", "CAS 2020-04-07",
            qps=10.0, qps_source="UploadPCACert, ListCertWarehouse: 10/s per user (docs/ALIBABA-APIS.md §2.3)",
            seed_demo=cas_seed.seed_demo),
    # Documented quota: CAS (private CA API included) 10 requests/s per user.
    Product("pca", ("2020-06-30",), "cas.aliyuncs.com", pca, "alibabacloud_cas20200630",
            "CAS private CA 2020-06-30", qps=10.0, qps_source="10/s per user (docs/ALIBABA-APIS.md §2.1)",
            seed_demo=pca_seed.seed_demo),
    Product("alidns", ("2015-01-09",), "alidns.aliyuncs.com", alidns, "alibabacloud_alidns20150109",
            "Alidns 2015-01-09", busy_code="LastOperationNotFinished", seed_demo=alidns_seed.seed_demo),
    Product("kms", ("2016-01-20",), "kms.cn-hangzhou.aliyuncs.com", kms, "alibabacloud_kms20160120",
            "KMS 2016-01-20", qps=200.0, throttle=_KMS_THROTTLE, seed_demo=kms_seed.seed_demo,
            quotas=_KMS_KEY_QUOTAS,
            qps_source="shared gateway 200 QPS per account for most operations (docs/ALIBABA-APIS.md §6.2; the row "
                       "for secret operations unconfirmed)"),
    Product("fnf", ("2019-03-15",), "cn-hangzhou.fnf.aliyuncs.com", fnf, "alibabacloud_fnf20190315",
            "CloudFlow (fnf) 2019-03-15"),
    Product("sts", ("2015-04-01",), "sts.aliyuncs.com", sts, "alibabacloud_sts20150401", "STS 2015-04-01"),
    # the audit trail of the local KMS (a system holder's reads of its secrets, docs/DELIVERY.md)
    Product("actiontrail", ("2020-07-06",), "actiontrail.cn-hangzhou.aliyuncs.com", actiontrail,
            "alibabacloud_actiontrail20200706", "ActionTrail 2020-07-06",
            quotas=(Quota("LookupEvents", 2, 1.0, "the LookupEvents API reference: at most twice per second "
                                                   "(alibabacloud.com/help/en/doc-detail/185722.html)"),)),
)

BY_KEY: dict[str, Product] = {p.key: p for p in PRODUCTS}
BY_VERSION: dict[str, Product] = {v: p for p in PRODUCTS for v in p.versions}

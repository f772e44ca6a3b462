"""The Alibaba Cloud products this automation calls: one registry, one row per product.

Everything that needs to know a product reads it here — the SDK client factory
(``shared.adapters.clients``), the settings' endpoint keys (``shared.core.settings``), the retry
layer's default rate limits (``shared.adapters.retry``), the packager (``deploy/build.py``: which
SDK distribution a function ships), ``albmtls check-deploy`` (RAM action prefixes) and the
cold-start benchmark (``bench/coldstart.py``). The emulator keeps its own list (it never imports
the product).

Columns: ``key`` (endpoints file, settings, ``"<key>:<Action>"`` op names), the official SDK
package (import name; its distribution is the same with ``-``), the API version it speaks, the
RAM action prefix its actions are authorised under, and the documented per-account QPS this
automation keeps to on the client side (``None``: no documented limit applied). Sources:
docs/ALIBABA-APIS.md (the API versions, endpoints and quotas; §2.1 the CAS quota), docs/DECISIONS.md §3 "rate limits".

Stdlib only, no I/O: ``deploy/build.py`` imports it with any ``python3``.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

__all__ = ["Product", "ProductKey", "PRODUCTS", "PRODUCT_KEYS", "product"]

ProductKey = Literal["alb", "cas", "pca", "alidns", "kms", "fnf", "sts", "actiontrail"]


@dataclass(frozen=True, slots=True)
class Product:
    """One product (module doc)."""

    key: str
    title: str
    sdk_package: str
    api_version: str
    ram_prefix: str
    qps: float | None = None

    @property
    def sdk_distribution(self) -> str:
        """The SDK's distribution name as pip knows it (PEP 503 normalised)."""
        return self.sdk_package.replace("_", "-").lower()

    @property
    def sdk_client_module(self) -> str:
        """The module holding the SDK's ``Client``."""
        return f"{self.sdk_package}.client"


PRODUCTS: MappingProxyType[str, Product] = MappingProxyType({p.key: p for p in (
    Product("alb", "Application Load Balancer", "alibabacloud_alb20200616", "2020-06-16", "alb"),
    # CAS certificates (upload/list/detail): the 2020-04-07 API; 10 requests/s per account
    Product("cas", "Certificate Management Service", "alibabacloud_cas20200407", "2020-04-07", "yundun-cert", 10.0),
    # the private CA (PCA) lives in the CAS 2020-06-30 API, under the same RAM service and quota
    Product("pca", "Private CA (CAS)", "alibabacloud_cas20200630", "2020-06-30", "yundun-cert", 10.0),
    Product("alidns", "Alibaba Cloud DNS", "alibabacloud_alidns20150109", "2015-01-09", "alidns"),
    # secrets and an own CA's keys (AsymmetricSign): one shared gateway, 200 requests/s per account for
    # most operations (alibabacloud.com/help/en/kms/key-management-service/product-overview/performance-data)
    Product("kms", "Key Management Service (Secrets Manager)", "alibabacloud_kms20160120", "2016-01-20", "kms",
            200.0),
    Product("fnf", "CloudFlow (Serverless Workflow)", "alibabacloud_fnf20190315", "2019-03-15", "fnf"),
    # who the credentials are (GetCallerIdentity needs no permission): the CLI's first line on a real
    # account and albmtls doctor; no function calls it (deploy/build.py packages it nowhere)
    Product("sts", "Security Token Service", "alibabacloud_sts20150401", "2015-04-01", "sts"),
    # a system holder's reads of its secrets (rotation_scan, one LookupEvents query per run): at most two
    # LookupEvents calls per second (alibabacloud.com/help/en/doc-detail/185722.html)
    Product("actiontrail", "ActionTrail", "alibabacloud_actiontrail20200706", "2020-07-06", "actiontrail", 2.0),
)})

#: the keys in registry order
PRODUCT_KEYS: tuple[str, ...] = tuple(PRODUCTS)


def product(key: str) -> Product:
    """The registry row of ``key``. Raises ``KeyError`` naming the known keys."""
    try:
        return PRODUCTS[key]
    except KeyError:
        raise KeyError(f"unknown product {key!r}; known: {list(PRODUCTS)}") from None

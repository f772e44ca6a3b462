"""The one place that builds official SDK clients (endpoint, protocol, credentials, timeouts).

``make_client(product, settings)`` imports *only* that product's SDK, on first use (one Alibaba
SDK import costs 0.25–0.45 s of cold start; importing this module imports none). Clients are
cached per ``(product, settings)`` for warm invocations (:func:`get_client`).

* Local target: ``Config(endpoint=<host:port from the endpoints file>, protocol="http",
  access_key_id/secret=<the local fixed key>)``.
* Cloud target: explicit keys when the settings carry them (an FC context's ``credentials`` on
  python3.10 and older, put there by ``shared.entry.handler``), else
  ``Config(credential=alibabacloud_credentials.client.Client())`` — the default chain (env
  ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET``/``ALIBABA_CLOUD_SECURITY_TOKEN`` that FC 3.0 injects on
  python3.12, then OIDC, profiles, the ECS role …; ``shared.adapters.credentials`` checks it first).
  Endpoint: the explicit override, else :func:`cloud_endpoint` (the SDKs' own endpoint rules).
* SDK retries stay off (no ``retry_options``): ``shared.adapters.retry`` is the only retry layer.
"""
from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING, Any

from shared.core.errors import AlbMtlsError, Code
from shared.core.products import PRODUCTS

if TYPE_CHECKING:  # pragma: no cover
    from shared.core.settings import Settings

__all__ = ["make_client", "get_client", "cloud_endpoint", "sdk_module", "clear_cache", "SDK_MODULES"]

#: product → the official SDK package (its ``.client`` module holds ``Client``), from the registry
SDK_MODULES: dict[str, str] = {k: p.sdk_package for k, p in PRODUCTS.items()}

# Regions the CAS SDKs (2020-04-07 and 2020-06-30) map to the central endpoint cas.aliyuncs.com
# (copied from their client endpoint maps; checked by tests against the installed SDKs).
_CAS_CENTRAL = frozenset({
    "cn-hangzhou", "ap-northeast-2-pop", "ap-southeast-3", "ap-southeast-5", "cn-beijing",
    "cn-beijing-finance-1", "cn-beijing-finance-pop", "cn-beijing-gov-1", "cn-beijing-nu16-b01", "cn-chengdu",
    "cn-edge-1", "cn-fujian", "cn-haidian-cm12-c01", "cn-hangzhou-bj-b01", "cn-hangzhou-finance",
    "cn-hangzhou-internal-prod-1", "cn-hangzhou-internal-test-1", "cn-hangzhou-internal-test-2",
    "cn-hangzhou-internal-test-3", "cn-hangzhou-test-306", "cn-hongkong", "cn-hongkong-finance-pop",
    "cn-huhehaote", "cn-huhehaote-nebula-1", "cn-north-2-gov-1", "cn-qingdao", "cn-qingdao-nebula",
    "cn-shanghai", "cn-shanghai-et15-b01", "cn-shanghai-et2-b01", "cn-shanghai-finance-1", "cn-shanghai-inner",
    "cn-shanghai-internal-test-1", "cn-shenzhen", "cn-shenzhen-finance-1", "cn-shenzhen-inner",
    "cn-shenzhen-st4-d01", "cn-shenzhen-su18-b01", "cn-wuhan", "cn-wulanchabu", "cn-yushanfang", "cn-zhangbei",
    "cn-zhangbei-na61-b01", "cn-zhangjiakou", "cn-zhangjiakou-na62-a01", "cn-zhengzhou-nebula-1", "eu-west-1",
    "eu-west-1-oxs", "rus-west-1-pop", "us-east-1", "us-west-1",
})


# Regions the STS SDK (2015-04-01, endpoint rule "regional") maps to sts.aliyuncs.com; elsewhere
# sts.<region>.aliyuncs.com (copied from its client's endpoint map; checked by a test).
_STS_CENTRAL = frozenset({
    "ap-northeast-2-pop", "ap-south-1", "ap-southeast-2", "cn-beijing-finance-pop", "cn-beijing-gov-1",
    "cn-beijing-nu16-b01", "cn-edge-1", "cn-fujian", "cn-haidian-cm12-c01", "cn-hangzhou-bj-b01",
    "cn-hangzhou-internal-prod-1", "cn-hangzhou-internal-test-1", "cn-hangzhou-internal-test-2",
    "cn-hangzhou-internal-test-3", "cn-hangzhou-test-306", "cn-hongkong-finance-pop", "cn-huhehaote-nebula-1",
    "cn-shanghai-et15-b01", "cn-shanghai-et2-b01", "cn-shanghai-inner", "cn-shanghai-internal-test-1",
    "cn-shenzhen-inner", "cn-shenzhen-st4-d01", "cn-shenzhen-su18-b01", "cn-wuhan", "cn-yushanfang", "cn-zhangbei",
    "cn-zhangbei-na61-b01", "cn-zhangjiakou-na62-a01", "cn-zhengzhou-nebula-1", "eu-west-1-oxs", "rus-west-1-pop",
})


def cloud_endpoint(product: str, region: str) -> str:
    """The public endpoint of ``product`` in ``region`` (what the SDK would pick; docs/ALIBABA-APIS.md §0).

    ALB ``alb.<region>.aliyuncs.com``; CAS/PCA ``cas.aliyuncs.com`` for the regions in the SDK map,
    else ``cas.<region>.aliyuncs.com``; Alidns ``alidns.aliyuncs.com`` for ``cn-hangzhou``, else
    ``alidns.<region>.aliyuncs.com``; KMS ``kms.<region>.aliyuncs.com``; CloudFlow
    ``<region>.fnf.aliyuncs.com``; ActionTrail ``actiontrail.<region>.aliyuncs.com``.
    Raises ``AlbMtlsError(CONFIG_INVALID)`` for an unknown product.
    """
    if product == "alb":
        return "alb.cn-hangzhou.aliyuncs.com" if region == "cn-hangzhou-finance" else f"alb.{region}.aliyuncs.com"
    if product in ("cas", "pca"):
        return "cas.aliyuncs.com" if region in _CAS_CENTRAL else f"cas.{region}.aliyuncs.com"
    if product == "alidns":
        return "alidns.aliyuncs.com" if region in ("cn-hangzhou", "public") else f"alidns.{region}.aliyuncs.com"
    if product == "kms":
        return f"kms.{region}.aliyuncs.com"
    if product == "sts":
        return "sts.aliyuncs.com" if region in _STS_CENTRAL else f"sts.{region}.aliyuncs.com"
    if product == "actiontrail":
        return f"actiontrail.{region}.aliyuncs.com"     # the SDK's "regional" rule
    if product == "fnf":
        # The SDK maps cn-beijing/hangzhou/shanghai/shenzhen to this form and falls back to
        # fnf.<region>.aliyuncs.com elsewhere; CloudFlow's endpoint list uses <region>.fnf.… everywhere.
        return f"{region}.fnf.aliyuncs.com"
    raise AlbMtlsError(Code.CONFIG_INVALID, f"unknown product {product!r}; known: {sorted(SDK_MODULES)}",
                       field="product")


def sdk_module(product: str) -> Any:
    """Import and return ``<sdk>.client`` for ``product`` (lazy; the first call pays the import)."""
    try:
        pkg = SDK_MODULES[product]
    except KeyError:
        raise AlbMtlsError(Code.CONFIG_INVALID, f"unknown product {product!r}; known: {sorted(SDK_MODULES)}",
                           field="product") from None
    return importlib.import_module(f"{pkg}.client")


_credential_lock = threading.Lock()
_credential_client: Any = None


def _default_credential() -> Any:
    """One ``alibabacloud_credentials.client.Client()`` per process (the default chain caches)."""
    global _credential_client
    with _credential_lock:
        if _credential_client is None:
            from alibabacloud_credentials.client import Client as CredentialClient

            _credential_client = CredentialClient()
        return _credential_client


def make_client(product: str, settings: Settings) -> Any:
    """Build a new SDK client for ``product`` (``alb``, ``cas``, ``pca``, ``alidns``, ``kms``, ``fnf``).

    Returns the product's ``Client`` (e.g. ``alibabacloud_alb20200616.client.Client``).

    Raises
    ------
    AlbMtlsError
        ``CONFIG_INVALID`` for an unknown product, or on the local target when the endpoints file
        has no endpoint/key for it.
    """
    module = sdk_module(product)
    from alibabacloud_tea_openapi.utils_models import Config

    endpoint = settings.endpoint(product)
    kwargs: dict[str, Any] = dict(
        protocol=settings.protocol,
        region_id=settings.region,
        read_timeout=settings.read_timeout_ms,
        connect_timeout=settings.connect_timeout_ms,
    )
    if settings.is_local:
        if not endpoint:
            raise AlbMtlsError(Code.CONFIG_INVALID, f"no local endpoint for {product}: the endpoints file "
                               f"({settings.endpoints_file or 'unset'}) must name '{product}' "
                               f"or set ALBMTLS_ENDPOINT_{product.upper()}", field=f"endpoints.{product}")
        if not (settings.access_key_id and settings.access_key_secret):
            raise AlbMtlsError(Code.CONFIG_INVALID, "the local target needs access_key_id/access_key_secret "
                               "from the endpoints file", field="endpoints_file")
        kwargs.update(access_key_id=settings.access_key_id, access_key_secret=settings.access_key_secret)
    else:
        from shared.adapters.credentials import environment_problem, sts_key_problem
        if settings.access_key_id and settings.access_key_secret:  # explicit keys (an FC context's), else the chain
            problem = sts_key_problem(settings.access_key_id, settings.security_token, where="the settings")
            if problem:
                raise problem
            kwargs.update(access_key_id=settings.access_key_id, access_key_secret=settings.access_key_secret)
            if settings.security_token:
                kwargs.update(security_token=settings.security_token)
        else:
            problem = environment_problem()       # an STS key without its token: refused before any call
            if problem:
                raise problem
            kwargs.update(credential=_default_credential())
    kwargs["endpoint"] = endpoint or cloud_endpoint(product, settings.region)
    return module.Client(Config(**kwargs))


_cache_lock = threading.Lock()
_cache: dict[tuple[str, Settings], Any] = {}


_CACHE_MAX = 64   # settings differ per FC context's (rotating) credentials: keep the cache bounded


def get_client(product: str, settings: Settings) -> Any:
    """Cached :func:`make_client` (one client per ``(product, settings)`` per process; thread-safe)."""
    key = (product, settings)
    client = _cache.get(key)
    if client is None:
        with _cache_lock:
            client = _cache.get(key)
            if client is None:
                if len(_cache) >= _CACHE_MAX:
                    _cache.clear()
                client = make_client(product, settings)
                _cache[key] = client
    return client


def clear_cache() -> None:
    """Forget cached clients and the credential client (tests; after credentials change)."""
    global _credential_client
    with _cache_lock:
        _cache.clear()
    with _credential_lock:
        _credential_client = None

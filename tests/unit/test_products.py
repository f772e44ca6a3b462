"""One product registry (``shared.core.products``): every consumer reads it, and each row is true of
the installed SDK."""
from __future__ import annotations

import importlib

import pytest

from shared.core.products import PRODUCT_KEYS, PRODUCTS, product


@pytest.mark.parametrize("key", PRODUCT_KEYS)
def test_row_matches_the_installed_sdk(key):
    p = PRODUCTS[key]
    client_mod = importlib.import_module(p.sdk_client_module)
    assert hasattr(client_mod, "Client")
    models = importlib.import_module(f"{p.sdk_package}.models")
    assert models is not None
    # the API version is the date in the package name
    assert p.sdk_package.endswith(p.api_version.replace("-", ""))
    assert p.sdk_distribution == p.sdk_package.replace("_", "-")


def test_consumers_read_the_registry():
    from bench.coldstart import SDK_MODULES as bench_modules
    from deploy import build
    from deploy.check.ram import RAM_PREFIX
    from shared.adapters.clients import SDK_MODULES
    from shared.adapters.retry import DEFAULT_QPS
    from shared.core.settings import PRODUCTS as SETTINGS_PRODUCTS

    assert SETTINGS_PRODUCTS == PRODUCT_KEYS
    assert SDK_MODULES == {k: p.sdk_package for k, p in PRODUCTS.items()}
    assert build.PRODUCT_SDKS == {k: p.sdk_distribution for k, p in PRODUCTS.items()}
    assert RAM_PREFIX == {k: p.ram_prefix for k, p in PRODUCTS.items()}
    assert bench_modules == {k: p.sdk_client_module for k, p in PRODUCTS.items()}
    assert DEFAULT_QPS == {"cas": 10.0, "pca": 10.0, "kms": 200.0, "actiontrail": 2.0}


def test_unknown_product_names_the_known_ones():
    with pytest.raises(KeyError, match="known"):
        product("ecs")

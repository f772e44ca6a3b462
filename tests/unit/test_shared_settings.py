"""Settings precedence, the SDK client factory and the clock."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from shared.adapters.clients import SDK_MODULES, cloud_endpoint, get_client, make_client
from shared.core.clock import FixedClock, OffsetClock, ShiftedClock, SystemClock, clock_from_env, iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, Code
from shared.core.settings import Settings, retries_enabled

ENDPOINTS = {"alb": "127.0.0.1:18080", "cas": "127.0.0.1:18080", "pca": "127.0.0.1:18080",
             "alidns": "127.0.0.1:18080", "kms": "127.0.0.1:18080", "fnf": "127.0.0.1:18080", "sts": "127.0.0.1:18080",
             "actiontrail": "127.0.0.1:18080",
             "dns": "127.0.0.1:15353",
             "access_key_id": "local-ak", "access_key_secret": "local-sk", "region": "cn-hangzhou",
             "load_balancer_id": "alb-demo"}


@pytest.fixture
def ep_file(tmp_path):
    p = tmp_path / "endpoints.json"
    p.write_text(json.dumps(ENDPOINTS))
    return p


def test_defaults_are_cloud():
    s = Settings.load(env={})
    assert (s.region, s.target, s.protocol, s.endpoints, s.dns_server) == ("cn-hangzhou", "cloud", "https", (), None)
    assert (s.connect_timeout_ms, s.read_timeout_ms, s.secret_prefix, s.pca_qps) == (5000, 10000, "albmtls", 10.0)


def test_endpoints_file_means_local(ep_file):
    s = Settings.load(env={"ALBMTLS_ENDPOINTS_FILE": str(ep_file)})
    assert s.target == "local" and s.protocol == "http" and s.endpoint("alb") == "127.0.0.1:18080"
    assert s.dns_server == "127.0.0.1:15353" and s.dns_server_address() == ("127.0.0.1", 15353)
    assert s.access_key_id == "local-ak" and "local-sk" not in repr(s)


@pytest.mark.parametrize(("env", "overrides", "expected"), [
    ({}, {}, "cn-hangzhou"),
    ({"ALIBABA_CLOUD_REGION": "cn-beijing"}, {}, "cn-beijing"),
    ({"ALIBABA_CLOUD_REGION": "cn-beijing", "ALBMTLS_REGION": "cn-shanghai"}, {}, "cn-shanghai"),
    ({"ALBMTLS_REGION": "cn-shanghai"}, {"region": "ap-southeast-1"}, "ap-southeast-1"),
    ({"ALBMTLS_REGION": "cn-shanghai"}, {"region": None}, "cn-shanghai"),
    ({"FC_REGION": "cn-shenzhen"}, {}, "cn-shenzhen"),
])
def test_region_precedence(env, overrides, expected):
    assert Settings.load(env=env, **overrides).region == expected


def test_explicit_beats_env_beats_file(ep_file):
    env = {"ALBMTLS_ENDPOINTS_FILE": str(ep_file), "ALBMTLS_ENDPOINT_ALB": "10.0.0.1:1",
           "ALBMTLS_DNS_SERVER": "1.2.3.4:53", "ALBMTLS_REGION": "cn-shanghai"}
    s = Settings.load(env=env, endpoints={"kms": "http://127.0.0.2:9/"})
    assert (s.endpoint("alb"), s.endpoint("kms"), s.endpoint("pca")) == ("10.0.0.1:1", "127.0.0.2:9", "127.0.0.1:18080")
    assert s.dns_server == "1.2.3.4:53" and s.region == "cn-shanghai"
    assert Settings.load(env=env, target="cloud").protocol == "https"


@pytest.mark.parametrize(("env", "overrides", "field"), [
    ({"ALBMTLS_TARGET": "mars"}, {}, "target"),
    ({"ALBMTLS_REGION": "Hangzhou"}, {}, "region"),
    ({"ALBMTLS_PROTOCOL": "ftp"}, {}, "protocol"),
    ({"ALBMTLS_READ_TIMEOUT_MS": "soon"}, {}, "read_timeout_ms"),
    ({"ALBMTLS_ENDPOINTS_FILE": "/nonexistent/endpoints.json"}, {}, "endpoints_file"),
    ({"ALBMTLS_SECRET_PREFIX": "a/b"}, {}, "secret_prefix"),
    ({}, {"endpoints": {"s3": "x:1"}}, "endpoints"),
    ({}, {"bogus": 1}, "bogus"),
    ({"ALBMTLS_ALB_CA_ID_FORM": "uuid"}, {}, "alb_ca_id_form"),
])
def test_bad_settings(env, overrides, field):
    with pytest.raises(AlbMtlsError) as info:
        Settings.load(env=env, **overrides)
    assert info.value.code == Code.CONFIG_INVALID and info.value.field == field


def test_alb_ca_id_form_is_one_setting(ep_file, tmp_path):
    """Default the UUID CertIdentifier (the only real-account evidence); the local cloud's endpoints
    file announces its own form; the environment variable overrides both."""
    assert Settings.load(env={}).alb_ca_id_form == "cert_identifier"
    local = tmp_path / "identifier.json"
    local.write_text(json.dumps({**ENDPOINTS, "alb_ca_id_form": "identifier"}))
    assert Settings.load(env={"ALBMTLS_ENDPOINTS_FILE": str(local)}).alb_ca_id_form == "identifier"
    assert Settings.load(env={"ALBMTLS_ENDPOINTS_FILE": str(local),
                              "ALBMTLS_ALB_CA_ID_FORM": "CERT_IDENTIFIER"}).alb_ca_id_form == "cert_identifier"
    assert Settings.load(env={"ALBMTLS_ENDPOINTS_FILE": str(ep_file)}).alb_ca_id_form == "cert_identifier"


def test_retries_switch():
    assert retries_enabled({}) and retries_enabled({"ALBMTLS_RETRIES": "on"})
    assert not retries_enabled({"ALBMTLS_RETRIES": "off"}) and not retries_enabled({"ALBMTLS_RETRIES": "0"})


# -- client factory -------------------------------------------------------------------------------
@pytest.mark.parametrize("product", sorted(SDK_MODULES))
def test_local_clients_use_the_endpoints_file(product, ep_file):
    s = Settings.load(env={"ALBMTLS_ENDPOINTS_FILE": str(ep_file)}, read_timeout_ms=1234)
    c = make_client(product, s)
    assert type(c).__module__ == f"{SDK_MODULES[product]}.client"
    assert c._endpoint == "127.0.0.1:18080" and c._protocol == "http"
    assert c._read_timeout == 1234 and c._connect_timeout == 5000
    assert c._retry_options is None  # SDK retries off


def test_cloud_clients_use_the_default_credential_chain():
    s = Settings.load(env={}, region="cn-shanghai")
    c = make_client("alb", s)
    assert c._endpoint == "alb.cn-shanghai.aliyuncs.com" and c._protocol == "https"
    assert type(c._credential).__module__.startswith("alibabacloud_credentials")


@pytest.mark.parametrize("product", sorted(SDK_MODULES))
@pytest.mark.parametrize("region", ["cn-hangzhou", "cn-shanghai", "cn-beijing", "ap-southeast-1", "eu-central-1",
                                    "us-west-1"])
def test_cloud_endpoint_matches_the_sdk(product, region):
    if product == "fnf" and region not in ("cn-hangzhou", "cn-shanghai", "cn-beijing", "cn-shenzhen"):
        assert cloud_endpoint(product, region) == f"{region}.fnf.aliyuncs.com"
        return
    from alibabacloud_tea_openapi.utils_models import Config

    mod = importlib.import_module(f"{SDK_MODULES[product]}.client")
    sdk = mod.Client(Config(access_key_id="a", access_key_secret="b", region_id=region))
    assert cloud_endpoint(product, region) == sdk._endpoint


def test_local_without_endpoint_is_config_error(tmp_path):
    p = tmp_path / "e.json"
    p.write_text(json.dumps({"alb": "127.0.0.1:1", "access_key_id": "a", "access_key_secret": "b"}))
    s = Settings.load(env={"ALBMTLS_ENDPOINTS_FILE": str(p)})
    with pytest.raises(AlbMtlsError) as info:
        make_client("kms", s)
    assert info.value.code == Code.CONFIG_INVALID and info.value.field == "endpoints.kms"
    with pytest.raises(AlbMtlsError):
        make_client("s3", s)


def test_get_client_caches(ep_file):
    s = Settings.load(env={"ALBMTLS_ENDPOINTS_FILE": str(ep_file)})
    assert get_client("alidns", s) is get_client("alidns", Settings.load(env={"ALBMTLS_ENDPOINTS_FILE": str(ep_file)}))


def test_importing_shared_imports_no_sdk():
    code = ("import sys, shared.adapters.clients, shared.entry.handler, shared.policy.contracts, "
            "shared.adapters.retry, shared.core.settings, shared.core.logs;"
            "print([m for m in sys.modules if m.split('.')[0] in "
            "('Tea','darabonba','alibabacloud_tea_openapi','alibabacloud_credentials','aiohttp','requests')"
            " or m.startswith('alibabacloud_')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


# -- clock ----------------------------------------------------------------------------------------
def test_clocks():
    assert SystemClock().now().tzinfo is not None
    fc = FixedClock("2026-11-29T10:00:00Z")
    assert fc.now() == datetime(2026, 11, 29, 10, tzinfo=UTC)
    fc.advance(days=1, seconds=5)
    assert iso_utc(fc.now()) == "2026-11-30T10:00:05Z"
    assert parse_iso("2026-11-29T18:00:00+08:00") == datetime(2026, 11, 29, 10, tzinfo=UTC)
    assert parse_iso("2026-11-29T10:00:00") == datetime(2026, 11, 29, 10, tzinfo=UTC)
    t = [0.0]
    oc = OffsetClock(datetime(2026, 12, 20, tzinfo=UTC), monotonic=lambda: t[0])
    t[0] = 90
    assert oc.now() == datetime(2026, 12, 20, 0, 1, 30, tzinfo=UTC)


def test_clock_from_env():
    assert isinstance(clock_from_env({}), SystemClock)
    c = clock_from_env({"ALBMTLS_NOW": "2026-12-20T00:00:00Z"})
    assert abs((c.now() - datetime(2026, 12, 20, tzinfo=UTC)).total_seconds()) < 5
    with pytest.raises(AlbMtlsError) as info:
        clock_from_env({"ALBMTLS_NOW": "next tuesday"})
    assert info.value.code == Code.CONFIG_INVALID


@pytest.mark.parametrize(("env", "kind", "ahead_s"), [
    ({}, SystemClock, 0),
    ({"ALBMTLS_CLOCK_OFFSET_S": "86400"}, ShiftedClock, 86400),
    ({"ALBMTLS_CLOCK_OFFSET_S": "-3600.5"}, ShiftedClock, -3600.5),
    ({"ALBMTLS_CLOCK_OFFSET_S": ""}, SystemClock, 0),
    # an explicit ALBMTLS_NOW wins over the local runtime's offset
    ({"ALBMTLS_NOW": "2026-12-20T00:00:00Z", "ALBMTLS_CLOCK_OFFSET_S": "86400"}, OffsetClock, None),
])
def test_clock_from_env_offset(env, kind, ahead_s):
    c = clock_from_env(env)
    assert type(c) is kind
    if ahead_s is not None:
        delta = (c.now() - datetime.now(UTC)).total_seconds()
        assert abs(delta - ahead_s) < 5


@pytest.mark.parametrize("raw", ["soon", "nan", "1e300"])
def test_clock_offset_must_be_a_number(raw):
    with pytest.raises(AlbMtlsError) as info:
        clock_from_env({"ALBMTLS_CLOCK_OFFSET_S": raw})
    assert info.value.code == Code.CONFIG_INVALID and info.value.field == "ALBMTLS_CLOCK_OFFSET_S"

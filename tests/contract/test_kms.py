"""Contract: KMS Secrets Manager (2016-01-20) through the official SDK client."""
from __future__ import annotations

import base64
import json
import logging

import pytest
from alibabacloud_kms20160120 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException


@pytest.fixture
def kms(clients):
    return clients("kms")


def _err(fn, *args, **kw) -> ClientException:
    with pytest.raises(ClientException) as info:
        fn(*args, **kw)
    return info.value


def _create(kms, name: str, data: str = "v1-data", version: str = "v1", **kw):
    return kms.create_secret(m.CreateSecretRequest(secret_name=name, secret_data=data, version_id=version, **kw))


def _put(kms, name: str, data: str, version: str, stages: list[str] | None = None):
    return kms.put_secret_value(m.PutSecretValueRequest(
        secret_name=name, secret_data=data, version_id=version,
        version_stages=json.dumps(stages) if stages else None))


def _get(kms, name: str, **kw):
    return kms.get_secret_value(m.GetSecretValueRequest(secret_name=name, **kw)).body


def test_create_get_describe(kms):
    body = _create(kms, "albmtls/lst/client01/password", "s3cret", description="pfx password",
                   tags=json.dumps([{"TagKey": "app", "TagValue": "alb-mtls"}])).body
    assert body.secret_name == "albmtls/lst/client01/password" and body.version_id == "v1"
    assert body.arn == "acs:kms:cn-hangzhou:1234567890123456:secret/albmtls/lst/client01/password"
    got = _get(kms, "albmtls/lst/client01/password")
    assert (got.secret_data, got.version_id, got.secret_data_type) == ("s3cret", "v1", "text")
    assert got.version_stages.version_stage == ["ACSCurrent"] and got.create_time.endswith("Z")
    d = kms.describe_secret(m.DescribeSecretRequest(secret_name="albmtls/lst/client01/password",
                                                    fetch_tags="true")).body
    assert d.description == "pfx password" and d.secret_type == "Generic" and d.planned_delete_time is None
    assert [(t.tag_key, t.tag_value) for t in d.tags.tag] == [("app", "alb-mtls")]


def test_versions_and_stages(kms):
    _create(kms, "s", "one", "v1")
    put = _put(kms, "s", "two", "v2").body
    assert put.version_id == "v2" and put.version_stages.version_stage == ["ACSCurrent"]
    assert _get(kms, "s").secret_data == "two"
    prev = _get(kms, "s", version_stage="ACSPrevious")
    assert (prev.secret_data, prev.version_id) == ("one", "v1")
    _put(kms, "s", "three", "v3")
    assert _get(kms, "s", version_stage="ACSPrevious").version_id == "v2"
    old = _get(kms, "s", version_id="v1")
    assert old.secret_data == "one" and old.version_stages.version_stage == []
    _put(kms, "s", "pending", "v4", ["ACSPending"])               # a custom stage leaves ACSCurrent alone
    assert _get(kms, "s").version_id == "v3"
    assert _get(kms, "s", version_stage="ACSPending").secret_data == "pending"
    e = _err(_get, kms, "s", version_id="v9")
    assert (e.code, e.status_code) == ("Forbidden.ResourceNotFound", 404)
    e = _err(_get, kms, "s", version_id="v1", version_stage="ACSCurrent")
    assert e.code == "Forbidden.ResourceNotFound"


def test_duplicates_and_missing(kms):
    _create(kms, "d")
    e = _err(_create, kms, "d")
    assert (e.code, e.status_code) == ("Rejected.ResourceExist", 409)
    e = _err(_put, kms, "d", "again", "v1")
    assert (e.code, e.status_code) == ("Rejected.ResourceExist", 409)
    e = _err(kms.create_secret, m.CreateSecretRequest(secret_name="x", secret_data="y"))
    assert e.code == "MissingParameter"
    e = _err(kms.put_secret_value, m.PutSecretValueRequest(secret_name="d", secret_data="y"))
    assert e.code == "MissingParameter"
    e = _err(_create, kms, "acs/reserved")
    assert e.code == "InvalidParameter"
    e = _err(_create, kms, "b", "not base64!", secret_data_type="binary")
    assert e.code == "InvalidParameter"
    raw = base64.b64encode(b"\x00\x01pfx").decode()
    _create(kms, "b", raw, secret_data_type="binary")
    got = _get(kms, "b")
    assert got.secret_data_type == "binary" and base64.b64decode(got.secret_data) == b"\x00\x01pfx"


@pytest.mark.parametrize("call", ["get", "put", "describe", "delete"])
def test_unknown_secret_is_resource_not_found(kms, call):
    fn = {"get": lambda: _get(kms, "nope"),
          "put": lambda: _put(kms, "nope", "x", "v1"),
          "describe": lambda: kms.describe_secret(m.DescribeSecretRequest(secret_name="nope")),
          "delete": lambda: kms.delete_secret(m.DeleteSecretRequest(secret_name="nope"))}[call]
    e = _err(fn)
    assert (e.code, e.status_code) == ("Forbidden.ResourceNotFound", 404)


def test_list_secrets_pages(kms):
    names = [f"p/{i:02d}" for i in range(25)]
    for n in names:
        _create(kms, n)
    seen = []
    for page in (1, 2, 3):
        body = kms.list_secrets(m.ListSecretsRequest(page_number=page, page_size=10)).body
        assert (body.total_count, body.page_number, body.page_size) == (25, page, 10)
        seen += [s.secret_name for s in body.secret_list.secret]
    assert seen == names
    default = kms.list_secrets(m.ListSecretsRequest()).body
    assert default.page_size == 10 and len(default.secret_list.secret) == 10


def test_delete_with_recovery_window_and_force(cloud, kms):
    _create(kms, "w")
    body = kms.delete_secret(m.DeleteSecretRequest(secret_name="w", recovery_window_in_days="7")).body
    assert body.secret_name == "w" and body.planned_delete_time.endswith("Z")
    e = _err(_get, kms, "w")
    assert (e.code, e.status_code) == ("Rejected.ResourceInDeleteWindow", 409)
    assert kms.describe_secret(m.DescribeSecretRequest(secret_name="w")).body.planned_delete_time
    e = _err(_create, kms, "w")              # DOCS-KMS CreateSecret.md: the name is pending deletion
    assert (e.code, e.status_code) == ("Rejected.ResourceInDeleteWindow", 409)
    cloud.clock.advance(8 * 86400)
    e = _err(_get, kms, "w")
    assert e.code == "Forbidden.ResourceNotFound"
    _create(kms, "f")
    kms.delete_secret(m.DeleteSecretRequest(secret_name="f", force_delete_without_recovery="true"))
    assert _err(_get, kms, "f").code == "Forbidden.ResourceNotFound"
    assert kms.list_secrets(m.ListSecretsRequest()).body.total_count == 0


def test_restore_inside_the_recovery_window_only(cloud, kms):
    """RestoreSecret (DOCS-KMS RestoreSecret.md): inside the recovery window the secret comes back
    with every version; after it, or after a forced delete, it is gone."""
    _create(kms, "r", data="one", version="v1")
    _put(kms, "r", "two", "v2")
    kms.delete_secret(m.DeleteSecretRequest(secret_name="r", recovery_window_in_days="7"))
    assert kms.restore_secret(m.RestoreSecretRequest(secret_name="r")).body.secret_name == "r"
    assert not kms.describe_secret(m.DescribeSecretRequest(secret_name="r")).body.planned_delete_time
    assert _get(kms, "r").secret_data == "two" and _get(kms, "r", version_id="v1").secret_data == "one"
    kms.restore_secret(m.RestoreSecretRequest(secret_name="r"))            # not pending: nothing changes
    kms.delete_secret(m.DeleteSecretRequest(secret_name="r", recovery_window_in_days="7"))
    cloud.clock.advance(7 * 86400 + 1)
    assert _err(kms.restore_secret, m.RestoreSecretRequest(secret_name="r")).code == "Forbidden.ResourceNotFound"
    _create(kms, "f")
    kms.delete_secret(m.DeleteSecretRequest(secret_name="f", force_delete_without_recovery="true"))
    assert _err(kms.restore_secret, m.RestoreSecretRequest(secret_name="f")).code == "Forbidden.ResourceNotFound"


def test_secret_values_never_logged(cloud, kms, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    marker = "TOP-SECRET-MARKER-8f2c"
    _create(kms, "l", marker)
    _put(kms, "l", marker + "-2", "v2")
    _get(kms, "l")
    _err(_put, kms, "l", marker, "v2")
    out, err = capfd.readouterr()
    emulator_lines = [r.getMessage() for r in caplog.records if r.name.startswith("localcloud")]
    assert emulator_lines and not any(marker in line for line in emulator_lines)
    assert marker not in out and marker not in err
    assert marker not in json.dumps(cloud.store.calls())

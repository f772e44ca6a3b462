"""Contract: ActionTrail (2020-07-06) LookupEvents through the official SDK client, fed by the local KMS,
and the local cloud's keys for RAM principals (``POST /_admin/ram/access-keys``)."""
from __future__ import annotations

import time

import pytest
from alibabacloud_actiontrail20200706 import models as am
from alibabacloud_kms20160120 import models as km
from alibabacloud_tea_openapi.exceptions import ClientException

ACCOUNT = "1234567890123456"


@pytest.fixture
def trail(clients):
    return clients("actiontrail")


def _as(cloud, endpoints, product: str, principal: str, **body):
    import importlib

    from localcloud.products import BY_KEY
    from tests.conftest import sdk_config
    status, key = cloud.admin("POST", "ram/access-keys", {}, {"principal": principal, **body})
    assert status == 200, key
    cfg = sdk_config(endpoints)
    cfg.endpoint = endpoints[product]
    cfg.access_key_id, cfg.access_key_secret = key["AccessKeyId"], key["AccessKeySecret"]
    cfg.security_token = key.get("SecurityToken")
    return importlib.import_module(BY_KEY[product].sdk_client).Client(cfg), key


def _lookup(trail, *attrs: tuple[str, str], **kw):
    time.sleep(0.55)                # LookupEvents: at most two calls per second (the local quota too)
    return trail.lookup_events(am.LookupEventsRequest(lookup_attribute=[
        am.LookupEventsRequestLookupAttribute(key=k, value=v) for k, v in attrs] or None, **kw)).body


def test_kms_calls_become_events_with_the_callers_identity(cloud, endpoints, clients, trail):
    kms = clients("kms")
    kms.create_secret(km.CreateSecretRequest(secret_name="app/pfx", secret_data="c2VjcmV0LXZhbHVl",
                                             secret_data_type="binary", version_id="v1"))
    role_kms, key = _as(cloud, endpoints, "kms", f"acs:ram::{ACCOUNT}:role/billing-app", session="host-1")
    user_kms, _ = _as(cloud, endpoints, "kms", f"acs:ram::{ACCOUNT}:user/deployer")
    role_kms.get_secret_value(km.GetSecretValueRequest(secret_name="app/pfx"))
    user_kms.get_secret_value(km.GetSecretValueRequest(secret_name="app/pfx", version_stage="ACSCurrent"))
    with pytest.raises(ClientException):
        role_kms.get_secret_value(km.GetSecretValueRequest(secret_name="app/absent"))

    assert _lookup(trail, ("EventName", "GetSecretValue")).events == []    # not yet queryable (the delay)
    cloud.clock.advance(61)
    reads = _lookup(trail, ("EventName", "GetSecretValue")).events
    assert len(reads) == 3 and [e["eventTime"] for e in reads] == sorted((e["eventTime"] for e in reads),
                                                                        reverse=True)   # newest first
    failed, by_user, by_role = reads
    assert failed["errorCode"] == "Forbidden.ResourceNotFound" and failed["requestParameters"] == {
        "SecretName": "app/absent"}
    assert by_role["userIdentity"] == {"type": "assumed-role", "principalId": by_role["userIdentity"]["principalId"],
                                       "accountId": ACCOUNT, "userName": "billing-app:host-1",
                                       "accessKeyId": key["AccessKeyId"]}
    assert by_role["userIdentity"]["principalId"].endswith(":host-1")
    assert by_user["userIdentity"]["type"] == "ram-user" and by_user["userIdentity"]["userName"] == "deployer"
    assert by_user["requestParameters"] == {"SecretName": "app/pfx", "VersionStage": "ACSCurrent"}
    assert (by_role["serviceName"], by_role["eventRW"], by_role["resourceName"], by_role["acsRegion"]) == (
        "Kms", "Read", "app/pfx", "cn-hangzhou")
    [create] = _lookup(trail, ("EventName", "CreateSecret")).events
    assert create["eventRW"] == "Write" and "SecretData" not in create["requestParameters"]   # never a value
    assert create["userIdentity"]["userName"] == "albmtls-local"
    assert [e["eventName"] for e in _lookup(trail, ("User", "deployer")).events] == ["GetSecretValue"]
    assert len(_lookup(trail, ("RoleName", "billing-app"), ("EventName", "GetSecretValue")).events) == 2
    assert _lookup(trail, ("ServiceName", "Ecs")).events == []


def test_paging_time_range_and_refusals(cloud, clients, trail):
    kms = clients("kms")
    kms.create_secret(km.CreateSecretRequest(secret_name="s", secret_data="x", version_id="v1"))
    for _ in range(5):
        kms.get_secret_value(km.GetSecretValueRequest(secret_name="s"))
    cloud.clock.advance(120)
    seen, token, pages = [], None, 0
    while True:
        body = _lookup(trail, ("EventName", "GetSecretValue"), max_results="2", next_token=token)
        seen += [e["eventId"] for e in body.events]
        pages += 1
        token = body.next_token
        if not token:
            break
    assert pages == 3 and len(set(seen)) == 5
    now = cloud.clock.now()
    old = _lookup(trail, ("EventName", "GetSecretValue"), start_time=(now.replace(year=now.year - 1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"), end_time=(now.replace(year=now.year - 1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert old.events == []
    for bad in (dict(start_time="yesterday"), dict(next_token="bm90LWEtdG9rZW4"),
                dict(start_time="2030-01-02T00:00:00Z", end_time="2030-01-01T00:00:00Z")):
        with pytest.raises(ClientException) as info:
            _lookup(trail, ("EventName", "GetSecretValue"), **bad)
        assert info.value.code == "InvalidParameter", bad
    with pytest.raises(ClientException) as info:
        _lookup(trail, ("Nonsense", "x"))
    assert info.value.code == "InvalidParameter"
    with pytest.raises(ClientException) as info:
        _lookup(trail, ("EventName", "a"), ("User", "b"), ("EventRW", "Read"))
    assert info.value.code == "InvalidParameter"


def test_keys_for_principals_answer_who_they_are(cloud, endpoints):
    sts, _ = _as(cloud, endpoints, "sts", f"acs:ram::{ACCOUNT}:role/billing-app")
    body = sts.get_caller_identity().body
    assert (body.identity_type, body.arn) == ("AssumedRoleUser",
                                              f"acs:ram::{ACCOUNT}:assumed-role/billing-app/albmtls-local")
    for bad in ({"principal": "acs:ram::999:role/x"}, {"principal": "nonsense"},
                {"principal": f"acs:ram::{ACCOUNT}:role/x", "session": "!"}):
        assert cloud.admin("POST", "ram/access-keys", {}, bad)[0] == 400

"""The pure rules of a system holder's first read (shared/policy/reads.py), table-tested."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.policy.reads import (
    LOOKBACK,
    Pending,
    Principal,
    caller_principal,
    event_principal,
    first_reads,
    parse_event,
    parse_principal,
    query_window,
)

T0 = datetime(2026, 12, 1, tzinfo=UTC)
ACCT = "1234567890123456"
ROLE = f"acs:ram::{ACCT}:role/billing-app"
PFX, PW = "albmtls/alb-x-443/billing/pfx", "albmtls/alb-x-443/billing/password"


def pending(principal: str | None = ROLE, since: datetime = T0) -> Pending:
    return Pending(listener_key="alb-x-443", common_name="billing", serial="0B", pfx=PFX, password=PW,
                   since=since, ram_principal=principal)


def event(*, name: str = "GetSecretValue", secret: str = PFX, at: datetime = T0 + timedelta(hours=1),
          who: dict | None = None, version: str | None = None, stage: str | None = None,
          error: str | None = None) -> dict:
    params = {"SecretName": secret}
    if version:
        params["VersionId"] = version
    if stage:
        params["VersionStage"] = stage
    doc = {"eventName": name, "eventTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "requestParameters": params,
           "userIdentity": who if who is not None else {"type": "assumed-role", "userName": "billing-app:s1",
                                                         "principalId": "1:s1", "accountId": ACCT}}
    if error:
        doc["errorCode"] = error
    return doc


ME = {"type": "assumed-role", "userName": "albmtls-fc:fc-123", "accountId": ACCT}
OTHER_USER = {"type": "ram-user", "userName": "deployer", "accountId": ACCT}
OWN = Principal("role", "albmtls-fc", ACCT)


@pytest.mark.parametrize(("case", "pend", "ev", "own", "counted"), [
    ("the holder's role reads its pfx", pending(), event(), None, True),
    ("…or its password", pending(), event(secret=PW), None, True),
    ("another secret", pending(), event(secret="albmtls/alb-x-443/other/pfx"), None, False),
    ("another call", pending(), event(name="DescribeSecret"), None, False),
    ("a refused read", pending(), event(error="Forbidden.NoPermission"), None, False),
    ("before the renewal", pending(), event(at=T0 - timedelta(seconds=1)), None, False),
    ("the new version by id", pending(), event(version="0B"), None, True),
    ("the old version by id", pending(), event(version="0A"), None, False),
    ("ACSPrevious", pending(), event(stage="ACSPrevious"), None, False),
    ("ACSCurrent", pending(), event(stage="ACSCurrent"), None, True),
    ("another principal", pending(), event(who=OTHER_USER), None, False),
    ("another role", pending(), event(who={"type": "assumed-role", "userName": "billing-app2:s",
                                           "accountId": ACCT}), None, False),
    ("the role in another account", pending(), event(who={"type": "assumed-role", "userName": "billing-app:s",
                                                          "accountId": "999"}), None, False),
    ("a RAM user principal", pending(f"acs:ram::{ACCT}:user/deployer"), event(who=OTHER_USER), None, True),
    ("no principal named: anyone else", pending(None), event(who=OTHER_USER), OWN, True),
    ("no principal named: not this automation", pending(None), event(who=ME), OWN, False),
    ("no principal named, own identity unknown", pending(None), event(who=OTHER_USER), None, False),
    ("no identity in the event", pending(None), event(who={}), OWN, False),
])
def test_first_read_rules(case: str, pend: Pending, ev: dict, own: Principal | None, counted: bool) -> None:
    parsed = parse_event(ev)
    got = first_reads([pend], [parsed] if parsed else [], own)
    assert bool(got) is counted, case


def test_the_first_read_is_the_earliest_and_one_per_holder() -> None:
    later, earlier = event(at=T0 + timedelta(hours=5)), event(secret=PW, at=T0 + timedelta(hours=2))
    other = Pending(listener_key="alb-x-443", common_name="crm", serial="0C", pfx="p2", password="w2", since=T0,
                    ram_principal=ROLE)
    got = first_reads([pending(), other], [e for e in map(parse_event, [later, earlier]) if e])
    assert [(r.common_name, r.at, r.by) for r in got] == [("billing", T0 + timedelta(hours=2), "billing-app:s1")]


@pytest.mark.parametrize(("arn", "want"), [
    (f"acs:ram::{ACCT}:user/deployer", Principal("user", "deployer", ACCT)),
    (f"acs:ram::{ACCT}:assumed-role/albmtls-fc/fc-123", Principal("role", "albmtls-fc", ACCT)),
    (f"acs:ram::{ACCT}:role/x", Principal("role", "x", ACCT)),
    (f"acs:ram::{ACCT}:root", Principal("root", "", ACCT)),
    ("nonsense", None), (None, None),
])
def test_caller_principal(arn: str | None, want: Principal | None) -> None:
    assert caller_principal(arn) == want


@pytest.mark.parametrize(("who", "want"), [
    ({"type": "ram-user", "userName": "a", "accountId": ACCT}, Principal("user", "a", ACCT)),
    ({"type": "assumed-role", "userName": "r:sess", "accountId": ACCT}, Principal("role", "r", ACCT)),
    ({"type": "root-account", "accountId": ACCT}, Principal("root", "", ACCT)),
    ({"type": "ram-user"}, None), ({"type": "alibaba-cloud-account-service"}, None), (None, None),
])
def test_event_principal(who: dict | None, want: Principal | None) -> None:
    assert event_principal(who) == want


def test_parse_principal_takes_users_and_roles_only() -> None:
    assert parse_principal(ROLE) == Principal("role", "billing-app", ACCT)
    assert parse_principal(f"acs:ram::{ACCT}:assumed-role/a/b") is None and parse_principal(None) is None


@pytest.mark.parametrize("doc", [
    {"eventName": "GetSecretValue", "eventTime": "not a time", "requestParameters": {"SecretName": "x"}},
    {"eventName": "GetSecretValue", "eventTime": "2026-12-01T00:00:00Z", "requestParameters": {}},
    {"eventName": "GetSecretValue", "eventTime": "2026-12-01T00:00:00Z", "requestParameters": "x"},
    {"eventName": "PutSecretValue", "eventTime": "2026-12-01T00:00:00Z", "requestParameters": {"SecretName": "x"}},
    "not an event",
])
def test_events_that_are_not_reads_are_ignored(doc: object) -> None:
    assert parse_event(doc) is None


def test_query_window_starts_at_the_oldest_pending_renewal_within_the_lookback() -> None:
    now = T0 + timedelta(days=10)
    assert query_window([], now) is None
    assert query_window([pending(since=T0 + timedelta(days=3)), pending(since=T0)], now) == (T0, now)
    assert query_window([pending(since=T0 - timedelta(days=200))], now) == (now - LOOKBACK, now)

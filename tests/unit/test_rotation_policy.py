"""The rotation policy (pure): due time, per-certificate verdicts, retirement, the timer payload."""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.errors import AlbMtlsError
from shared.policy import renewal
from shared.policy.records import CertMeta, SupersededEntry
from shared.policy.rotation import ScanEvent, ScanPolicy, classify, retire_due, rotation_execution_name

T0 = datetime(2026, 1, 1, tzinfo=UTC)
OURS = "albmtls-alb-demo000000000001-443-0123456789ab"


@dataclass(frozen=True)
class Cert:
    not_before: datetime
    not_after: datetime
    custom_identifier: str | None = OURS
    status: str = "ISSUE"
    certificate_type: str = "CLIENT"
    common_name: str = "alice"
    identifier: str = "cert-1"


def decide_certificate(cert, now, renew_before=None):
    """The scan's view of a certificate without its record: ``classify`` with the policy only."""
    return classify(cert, None, ScanPolicy(renew_before_days=renew_before), now)


def cert30(backdate_min: int = 5) -> Cert:
    return Cert(T0 - timedelta(minutes=backdate_min), T0 + timedelta(days=30))


@pytest.mark.parametrize("day, renew_before, state", [
    (0, None, "valid"), (10, None, "valid"), (19.9, None, "valid"), (20.1, None, "due"), (21, None, "due"),
    (29.9, None, "due"), (30.1, None, "expired"),
    (14, 15, "valid"), (15.1, 15, "due"),          # renew_before earlier than 2/3 wins
    (20.1, 5, "due"), (19.9, 5, "valid"),          # a shorter renew_before never delays past 2/3
])
def test_verdict_table(day, renew_before, state):
    v = decide_certificate(cert30(), T0 + timedelta(days=day), renew_before)
    assert v.state == state
    assert v.listener_key == "alb-demo000000000001-443"


@pytest.mark.parametrize("cert, state", [
    (Cert(T0, T0 + timedelta(days=30), custom_identifier=None), "foreign"),
    (Cert(T0, T0 + timedelta(days=30), custom_identifier="someone-else"), "foreign"),
    (Cert(T0, T0 + timedelta(days=30), certificate_type="SERVER"), "foreign"),
    (Cert(T0, T0 + timedelta(days=30), status="REVOKE"), "revoked"),
])
def test_foreign_and_revoked(cert, state):
    c = decide_certificate(cert, T0 + timedelta(days=25))
    if state == "foreign":
        assert c.ours is False and c.listener_key is None
    else:
        assert c.ours is True and c.state == state


@pytest.mark.parametrize("rb", [30, 31, 365])
def test_renew_before_not_shorter_than_lifetime_is_refused(rb):
    with pytest.raises(AlbMtlsError) as e:
        decide_certificate(cert30(), T0, rb)
    assert e.value.code == "RENEW_BEFORE_TOO_LONG" and e.value.field == "renew_before_days"


def test_renewal_due_at_refuses_too_long():
    with pytest.raises(AlbMtlsError) as e:
        renewal.due_at(T0, T0 + timedelta(days=30), 30)
    assert e.value.code == "RENEW_BEFORE_TOO_LONG"


lifetimes = st.integers(min_value=1, max_value=825).map(lambda d: timedelta(days=d))


@settings(max_examples=200, deadline=None)
@given(lifetime=lifetimes, start=st.integers(0, 10**8), data=st.data())
def test_due_time_is_inside_the_lifetime(lifetime, start, data):
    nb = T0 + timedelta(seconds=start)
    na = nb + lifetime
    rb = data.draw(st.none() | st.integers(1, lifetime.days - 1) if lifetime.days > 1 else st.none())
    due = renewal.due_at(nb, na, rb)
    assert nb < due < na
    assert due <= nb + lifetime * 2 / 3 + timedelta(microseconds=1)


@settings(max_examples=200, deadline=None)
@given(days=st.integers(3, 825), a=st.integers(1, 824), b=st.integers(1, 824))
def test_due_time_is_monotone_in_renew_before(days, a, b):
    a, b = sorted((min(a, days - 1), min(b, days - 1)))
    nb, na = T0, T0 + timedelta(days=days)
    assert renewal.due_at(nb, na, b) <= renewal.due_at(nb, na, a) <= renewal.due_at(nb, na, None)


@settings(max_examples=100, deadline=None)
@given(days=st.integers(1, 825), offset=st.floats(-2, 900))
def test_verdict_is_consistent_with_due_at(days, offset):
    c = Cert(T0, T0 + timedelta(days=days))
    now = T0 + timedelta(days=offset)
    v = decide_certificate(c, now)
    if now > c.not_after:
        assert v.state == "expired"
    elif now >= renewal.due_at(c.not_before, c.not_after):
        assert v.state == "due"
    else:
        assert v.state == "valid"


def entry(revoke: bool, retire_after: datetime) -> SupersededEntry:
    return SupersededEntry(identifier="old", serial="1", not_after="2026-01-31T00:00:00Z",
                           superseded_at="2026-01-21T00:00:00Z", superseded_by="2",
                           retire_after=retire_after.strftime("%Y-%m-%dT%H:%M:%SZ"), revoke=revoke)


@pytest.mark.parametrize("marker, now_day, policy, grace, expected", [
    (entry(False, T0 + timedelta(days=30)), 25, "never", None, False),        # default: expires naturally
    (entry(True, T0 + timedelta(days=23)), 22, "never", None, False),         # marker: grace not over
    (entry(True, T0 + timedelta(days=23)), 24, "never", None, True),          # marker: grace over
    (entry(False, T0 + timedelta(days=30)), 22, "after_grace", 3, False),     # today's policy, 2 days in
    (entry(False, T0 + timedelta(days=30)), 24, "after_grace", 3, True),
    (entry(False, T0 + timedelta(days=30)), 21, "immediately", None, True),
    (None, 24, "after_grace", 3, True),                                      # no marker: since the replacement
    (None, 22, "after_grace", 3, False),
])
def test_retire_due_table(marker, now_day, policy, grace, expected):
    assert retire_due(marker, T0 + timedelta(days=now_day), policy, grace,
                      replaced_at=T0 + timedelta(days=20, hours=12)) is expected


def test_timer_event_payload():
    ev = ScanEvent(triggerTime="2026-01-01T02:00:00Z", triggerName="daily",
                   payload=json.dumps({"secret_prefix": "x", "revoke_after_days": 2}))
    p = ev.policy()
    assert p.secret_prefix == "x" and p.effective_revoke == "after_grace"
    assert ScanEvent(payload="").policy().effective_revoke == "never"
    assert ScanEvent(revoke_old="immediately").policy().effective_revoke == "immediately"
    with pytest.raises(AlbMtlsError) as e:
        ScanEvent(payload="[1]").policy()
    assert e.value.code == "INVALID_INPUT"
    with pytest.raises(AlbMtlsError):
        ScanEvent(payload='{"revoke_old": "sometimes"}').policy()


def test_execution_name_is_from_the_date():
    a = rotation_execution_name("albmtls", datetime(2026, 1, 21, 2, 0, tzinfo=UTC))
    b = rotation_execution_name("albmtls", datetime(2026, 1, 21, 23, 59, tzinfo=UTC))
    assert a == b == "rotate-albmtls-20260121"
    assert rotation_execution_name("albmtls", T0, 2) == "rotate-albmtls-20260101-2"


# -- one classification: the record's part (superseded, its own renew_before, retirement) ---------
def record(identifier: str, renew_before_days: int | None = None, supersedes=()) -> CertMeta:
    return CertMeta(common_name="alice", identifier=identifier, serial="2b", not_before="2026-01-21T00:00:00Z",
                    not_after="2026-02-20T00:00:00Z", fingerprint_sha256="ab" * 32, profile="compat", days=30,
                    ca="ca-1", renew_before_days=renew_before_days, supersedes=tuple(supersedes))


@pytest.mark.parametrize("day, meta, policy, state, retire", [
    (10, record("cert-1"), None, "valid", False),
    (10, record("cert-1", renew_before_days=25), None, "due", False),   # its own renew_before: due at day 5
    (10, record("cert-1", renew_before_days=30), None, "due", False),   # no shorter than its lifetime: due
    (21, record("cert-1"), None, "due", False),
    (21, record("cert-2"), None, "superseded", False),                  # the record names another one
    (21, record("cert-2"), ScanPolicy(revoke_old="immediately"), "superseded", True),
    (21, record("cert-2", supersedes=[SupersededEntry(
        identifier="cert-1", serial="1", not_after="2026-01-31T00:00:00Z", superseded_at="2026-01-21T00:00:00Z",
        superseded_by="2b", retire_after="2026-01-21T00:00:00Z", revoke=True)]), None, "superseded", True),
    (31, record("cert-2"), None, "expired", False),                     # expired wins over superseded
    (10, None, ScanPolicy(renew_before_days=25), "due", False),
])
def test_classify_with_the_record(day, meta, policy, state, retire):
    c = classify(cert30(), meta, policy, T0 + timedelta(days=day))
    assert (c.ours, c.state, c.retire) == (True, state, retire)
    if state == "superseded":
        assert c.superseded_by == "2b" and c.retire_after


def test_scan_and_report_agree_once_the_record_is_read():
    """The scan classifies with the policy, the report without one; with the same record and the
    default policy they give the same answer for every day of the lifetime."""
    for day in range(0, 32):
        for meta in (record("cert-1"), record("cert-2"), record("cert-1", renew_before_days=20)):
            now = T0 + timedelta(days=day, hours=1)
            assert classify(cert30(), meta, ScanPolicy(), now) == classify(cert30(), meta, None, now)


def test_shown_state_says_not_yet_valid_only_for_a_valid_certificate_from_the_future():
    """One rule for status and inventory (shared.policy.rotation.shown_state)."""
    from datetime import UTC, datetime, timedelta

    from shared.policy.rotation import shown_state

    now = datetime(2026, 12, 7, tzinfo=UTC)
    ahead, behind = now + timedelta(days=21), now - timedelta(days=1)
    table = [
        ("valid", ahead, "not_yet_valid"),
        ("valid", behind, "valid"),
        ("valid", now, "valid"),                   # valid from this second on
        ("valid", None, "valid"),
        ("due", ahead, "due"),                     # only a valid one is re-said
        ("revoked", ahead, "revoked"),
        ("orphaned", ahead, "orphaned"),
        ("expired", ahead, "expired"),
    ]
    for state, not_before, want in table:
        assert shown_state(state, not_before, now) == want, (state, not_before)

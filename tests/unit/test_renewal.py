"""Renewal policy (shared/policy/renewal.py): table-driven cases and hypothesis properties."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.errors import AlbMtlsError, Code
from shared.policy.renewal import CertTimes, ca_warning, due_at, state, validity_window

T0 = datetime(2026, 1, 1, tzinfo=UTC)
D = timedelta(days=1)


@pytest.mark.parametrize("days, renew_before, want", [
    (30, None, 20 * D),               # 2/3 of 30 days
    (30, 5, 20 * D),                  # 25 is later than 20 → the 2/3 point
    (30, 10, 20 * D),                 # equal
    (30, 15, 15 * D),                 # earlier wins
    (30, 29, 1 * D),
    (90, None, 60 * D),
    (3, None, 2 * D),
    (30, timedelta(hours=12), 20 * D),
    (1, timedelta(hours=20), timedelta(hours=4)),
])
def test_due_at_table(days, renew_before, want):
    assert due_at(T0, T0 + days * D, renew_before) == T0 + want


def test_due_at_with_backdated_start():
    nb = T0 - timedelta(minutes=5)
    assert due_at(nb, T0 + 30 * D) == nb + (30 * D + timedelta(minutes=5)) * 2 // 3


@pytest.mark.parametrize("days, renew_before", [(30, 30), (30, 31), (1, timedelta(days=1))])
def test_renew_before_too_long(days, renew_before):
    with pytest.raises(AlbMtlsError) as info:
        due_at(T0, T0 + days * D, renew_before)
    assert info.value.code == Code.RENEW_BEFORE_TOO_LONG


@pytest.mark.parametrize("nb, na, rb", [
    (T0, T0, None), (T0, T0 - D, None), (T0.replace(tzinfo=None), T0 + D, None), (T0, T0 + 30 * D, -1),
])
def test_due_at_invalid(nb, na, rb):
    with pytest.raises(AlbMtlsError) as info:
        due_at(nb, na, rb)
    assert info.value.code == Code.INVALID_INPUT


@pytest.mark.parametrize("offset, kw, want", [
    (timedelta(0), {}, "valid"),
    (-timedelta(minutes=1), {}, "valid"),          # not yet valid counts as valid (skew)
    (19 * D, {}, "valid"),
    (20 * D, {}, "due"),
    (30 * D, {}, "due"),
    (30 * D + timedelta(seconds=1), {}, "expired"),
    (D, {"revoked": True}, "revoked"),
    (D, {"superseded": True}, "superseded"),
    (40 * D, {"superseded": True}, "superseded"),
    (40 * D, {"revoked": True, "superseded": True}, "revoked"),
])
def test_state_table(offset, kw, want):
    assert state(CertTimes(T0, T0 + 30 * D), T0 + offset, **kw) == want


def test_state_with_renew_before():
    cert = CertTimes(T0, T0 + 30 * D, renew_before=15)
    assert state(cert, T0 + 14 * D) == "valid"
    assert state(cert, T0 + 15 * D) == "due"


@pytest.mark.parametrize("days, ca_end, sub_end, ok", [
    (30, 100 * D, None, True),
    (30, 30 * D, None, True),                    # ends exactly with the CA
    (31, 30 * D, None, False),
    (30, 100 * D, 29 * D, False),                # the subscription is the tighter bound
    (30, 100 * D, 60 * D, True),
    (3650, 5 * 365 * D, 365 * D, False),
])
def test_validity_window_table(days, ca_end, sub_end, ok):
    now = T0 + timedelta(microseconds=1234)
    kw = dict(ca_not_after=T0 + ca_end, subscription_end=(T0 + sub_end) if sub_end else None,
              common_name="alice", field="clients[0].days")
    if ok:
        w = validity_window(now, days, **kw)
        assert w.not_before == T0 - timedelta(minutes=5)
        assert w.not_after == w.not_before + days * D     # exactly `days` from notBefore, not days + 5 min
        assert w.after_time - w.before_time == days * 86400
    else:
        with pytest.raises(AlbMtlsError) as info:
            validity_window(now, days, **kw)
        e = info.value
        assert e.code == Code.CA_EXPIRES_TOO_SOON and e.field == "clients[0].days"
        assert "alice" in e.message and "2026-" in e.message
        assert e.details["max_days"] == min(ca_end, sub_end or ca_end).days


def test_validity_window_not_before_clamped_to_ca_start():
    w = validity_window(T0, 30, ca_not_after=T0 + 100 * D, ca_not_before=T0 - timedelta(minutes=1))
    assert w.not_before == T0 - timedelta(minutes=1) and w.not_after == w.not_before + 30 * D


@pytest.mark.parametrize("now_offset, want", [
    (0 * D, None),
    (55 * D, "warning"),       # within 10 days of the last full issue (day 70)
    (71 * D, "critical"),
    (100 * D, "expired"),
])
def test_ca_warning_table(now_offset, want):
    w = ca_warning(T0 + 100 * D, 30, 20, T0 + now_offset)
    assert (w.level if w else None) == want
    if w:
        assert w.last_full_issue == T0 + 70 * D


@pytest.mark.parametrize("ca_days, want, which", [
    (45, "warning", "the next renewal"),           # renewed at day 20, a 30-day certificate ends day 50 > 45
    (65, "warning", "the renewal after next"),     # day 40 + 30 = 70 > 65
    (71, None, None),                              # both fit: day 20 → 50, day 40 → 70
    (29, "critical", None),
])
def test_ca_warning_looks_two_renewals_ahead(ca_days, want, which):
    """A sub-CA ending in 45 days with 30-day certificates renewed at 2/3: the next renewal will be
    refused, so it warns now (it used to warn only within lifetime/3 of the last full issue)."""
    lifetime = timedelta(days=30)
    w = ca_warning(T0 + ca_days * D, lifetime, lifetime / 3, T0)
    assert (w.level if w else None) == want
    if which:
        assert which in w.message and "can no longer be issued in full" in w.message


# -- properties --------------------------------------------------------------------------------------
starts = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC))
lifetimes = st.timedeltas(min_value=timedelta(seconds=3), max_value=timedelta(days=3650))


@settings(max_examples=300, deadline=None)
@given(nb=starts, lifetime=lifetimes, frac=st.floats(min_value=0, max_value=0.999))
def test_due_inside_lifetime(nb, lifetime, frac):
    rb = lifetime * frac
    rb = rb if rb < lifetime else None
    due = due_at(nb, nb + lifetime, rb)
    assert nb < due < nb + lifetime
    assert due <= nb + lifetime * 2 // 3


@settings(max_examples=300, deadline=None)
@given(nb=starts, lifetime=lifetimes, a=st.floats(min_value=0, max_value=0.999),
       b=st.floats(min_value=0, max_value=0.999))
def test_due_monotone_in_renew_before(nb, lifetime, a, b):
    lo, hi = sorted((lifetime * a, lifetime * b))
    assert due_at(nb, nb + lifetime, hi) <= due_at(nb, nb + lifetime, lo)
    assert due_at(nb, nb + lifetime, lo) <= due_at(nb, nb + lifetime, None)


@settings(max_examples=200, deadline=None)
@given(nb=starts, lifetime=lifetimes, t=st.floats(min_value=-0.5, max_value=1.5))
def test_state_is_monotone_in_time(nb, lifetime, t):
    order = {"valid": 0, "due": 1, "expired": 2}
    cert = CertTimes(nb, nb + lifetime)
    s1 = state(cert, nb + lifetime * t)
    s2 = state(cert, nb + lifetime * t + timedelta(seconds=1))
    assert order[s1] <= order[s2]


@settings(max_examples=200, deadline=None)
@given(now=starts, days=st.integers(min_value=1, max_value=3650),
       ca_left=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=4000)),
       sub_left=st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=4000)))
def test_validity_never_past_bounds(now, days, ca_left, sub_left):
    ca_end, sub_end = now + ca_left, (now + sub_left) if sub_left is not None else None
    try:
        w = validity_window(now, days, ca_not_after=ca_end, subscription_end=sub_end)
    except AlbMtlsError as e:
        assert e.code == Code.CA_EXPIRES_TOO_SOON
        assert now.replace(microsecond=0) + timedelta(days=days) > min(ca_end, sub_end or ca_end)
        return
    assert w.not_after <= ca_end and (sub_end is None or w.not_after <= sub_end)
    assert w.not_before < w.not_after

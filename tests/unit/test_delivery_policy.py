"""The delivery record, link tokens and adoption rules (shared.policy.delivery) — pure, table-tested."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared.policy.delivery import (
    Delivery,
    DeliveryRecord,
    HolderRecord,
    claim_version,
    decode_record,
    encode_record,
    exported_to_operator,
    holder_kind,
    link_state,
    new_token,
    not_switched_due,
    parse_token,
    reminder_due,
    switched_at,
    token_hash,
    version_id,
    with_new_link,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
def iso(d: datetime) -> str:
    return d.strftime("%Y-%m-%dT%H:%M:%SZ")
BASE = "albmtls/alb-demostd000000000001-443/alice"
PERSON = HolderRecord(kind="person", name="Alice", email="alice@example.test")


def record(*entries: Delivery, holder: HolderRecord | None = PERSON) -> DeliveryRecord:
    return DeliveryRecord(common_name="alice", listener_key="alb-demostd000000000001-443", holder=holder,
                          deliveries=entries)


def test_token_points_at_the_client_and_only_its_hash_is_kept():
    tok = new_token(BASE)
    assert parse_token(tok) == BASE
    assert len(tok.split(".")[1]) == 43                       # 32 random bytes
    h = token_hash(tok)
    rec = record(Delivery(serial="01", identifier="i", not_after=iso(T0 + timedelta(days=30)), token_hash=h,
                          token_expires=iso(T0 + timedelta(hours=72))))
    assert tok not in encode_record(rec) and tok.split(".")[1] not in encode_record(rec)
    assert decode_record(encode_record(rec)) == rec
    assert new_token(BASE) != tok
    assert claim_version(tok) == claim_version(tok) != claim_version(new_token(BASE))


@pytest.mark.parametrize("token", ["", "abc", "x.y", "YWJj.short", "../../etc." + "A" * 43,
                                   "bm90IGEgbmFtZQ." + "A" * 43])      # "not a name": no prefix/listener/cn
def test_malformed_tokens_point_nowhere(token):
    assert parse_token(token) is None


@pytest.mark.parametrize("used,expires_in_h,current,want", [
    (None, 72, "01", "valid"),
    (iso(T0), 72, "01", "used"),
    (None, -1, "01", "expired"),
    (None, 0, "01", "expired"),
    (None, 72, "02", "replaced"),
])
def test_link_state(used, expires_in_h, current, want):
    tok = new_token(BASE)
    rec = record(Delivery(serial="01", identifier="i", not_after=iso(T0), token_hash=token_hash(tok),
                          token_expires=iso(T0 + timedelta(hours=expires_in_h)), token_used_at=used))
    state, entry = link_state(rec, tok, T0, current)
    assert state == want and entry is not None
    assert link_state(rec, new_token(BASE), T0, current)[0] == "unknown"
    assert link_state(None, tok, T0)[0] == "unknown"


def test_a_resent_link_makes_the_earlier_ones_out_of_date():
    d = Delivery(serial="01", identifier="i", not_after=iso(T0 + timedelta(days=30)))
    toks = [new_token(BASE) for _ in range(5)]
    for tok in toks:
        d = with_new_link(d, token_hash(tok), iso(T0), iso(T0 + timedelta(hours=72)))
    rec = record(d)
    assert link_state(rec, toks[-1], T0, "01")[0] == "valid"
    assert [link_state(rec, t, T0, "01")[0] for t in toks[:-1]] == ["unknown", "replaced", "replaced", "replaced"]
    assert len(d.replaced_token_hashes) == 3 and d.token_used_at is None
    assert all(t.split(".")[1] not in encode_record(rec) for t in toks)     # hashes only
    assert with_new_link(d, d.token_hash or "", iso(T0), iso(T0)).replaced_token_hashes == d.replaced_token_hashes


def test_switched_at_is_the_first_download_or_read():
    rec = record(Delivery(serial="02", identifier="i", not_after="", downloaded_at=iso(T0 + timedelta(days=2))),
                 Delivery(serial="03", identifier="j", not_after="", first_read_at=iso(T0 + timedelta(days=1))))
    assert switched_at(rec, "02") == T0 + timedelta(days=2)
    assert switched_at(rec, "03") == T0 + timedelta(days=1)
    assert switched_at(rec, "04") is None and switched_at(None, "02") is None


OLD_END = T0 + timedelta(days=30)


@pytest.mark.parametrize("now_days,new,old_retired,holder,want", [
    (29.5, Delivery(serial="new", identifier="n", not_after=""), False, PERSON, True),       # the day before
    (28.5, Delivery(serial="new", identifier="n", not_after=""), False, PERSON, False),      # too early
    (30.0, Delivery(serial="new", identifier="n", not_after=""), False, PERSON, False),      # old one ended
    (29.5, Delivery(serial="new", identifier="n", not_after="", downloaded_at=iso(T0)), False, PERSON, False),
    (29.5, Delivery(serial="new", identifier="n", not_after="", reminded_at=iso(T0)), False, PERSON, False),
    (29.5, Delivery(serial="new", identifier="n", not_after=""), True, PERSON, False),       # retired already
    (29.5, Delivery(serial="new", identifier="n", not_after=""), False,
     HolderRecord(kind="system", name="billing"), False),                                    # systems: no reminder
])
def test_reminder_due(now_days, new, old_retired, holder, want):
    old = Delivery(serial="old", identifier="o", not_after=iso(OLD_END), retired_at=iso(T0) if old_retired else None)
    rec = record(old, new, holder=holder)
    assert reminder_due(rec, "new", "old", OLD_END, T0 + timedelta(days=now_days)) is want


def test_not_switched_warning_once_within_the_window():
    new = Delivery(serial="new", identifier="n", not_after="")
    rec = record(new)
    within = timedelta(days=7)
    assert not not_switched_due(rec, "new", OLD_END, T0 + timedelta(days=22), within)
    assert not_switched_due(rec, "new", OLD_END, T0 + timedelta(days=24), within)
    warned = record(Delivery(serial="new", identifier="n", not_after="", operator_warned_at=iso(T0)))
    assert not not_switched_due(warned, "new", OLD_END, T0 + timedelta(days=24), within)
    assert not not_switched_due(record(new, holder=None), "new", OLD_END, T0 + timedelta(days=24), within)


def test_version_ids_name_the_event_and_the_content():
    a, b = record(), record(Delivery(serial="01", identifier="i", not_after=""))
    assert version_id(a, "link-01") == version_id(a, "link-01") != version_id(b, "link-01")
    assert len(version_id(b, "x" * 100)) <= 64


def test_record_keeps_the_newest_certificates_and_failures():
    rec = record()
    for i in range(6):
        rec = rec.with_entry(Delivery(serial=f"{i:02d}", identifier="i", not_after=""))
    assert [d.serial for d in rec.deliveries] == ["02", "03", "04", "05"]
    updated = rec.with_entry(Delivery(serial="03", identifier="i", not_after="", downloaded_at=iso(T0)))
    assert [d.serial for d in updated.deliveries] == ["02", "03", "04", "05"] and updated.entry("03").downloaded_at


@pytest.mark.parametrize(("holder", "kind", "exported"), [
    (None, None, True),                                                       # the operator's path
    ("person", "person", False),                                              # the download page only
    ("system", "system", False),                                              # reads its own secrets
])
def test_only_a_client_without_a_holder_is_exported_to_the_operator(holder, kind, exported):
    from shared.policy.contracts import PersonHolder, SystemHolder
    h = {None: None, "person": PersonHolder(name="Alice", email="alice@example.test"),
         "system": SystemHolder(name="Billing")}[holder]
    assert holder_kind(h) == kind
    assert exported_to_operator(holder_kind(h)) is exported

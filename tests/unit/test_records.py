"""The one record type of the ``…/meta`` secret (``shared.policy.records``) and the one secret-name
builder (``shared.policy.ids.secret_names``)."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.policy.ids import secret_names
from shared.policy.records import CertMeta, SupersededEntry, decode_meta, encode_meta

META = CertMeta(common_name="alice", identifier="id-new", serial="2b", not_before="2026-01-01T00:00:00Z",
                not_after="2026-01-31T00:00:00Z", fingerprint_sha256="ab" * 32, profile="compat", days=30,
                sans=("alice.example.test",), ca="ca-1", renew_before_days=5)


def entry(ident: str, not_after: str) -> SupersededEntry:
    return SupersededEntry(identifier=ident, serial="1", not_after=not_after, superseded_at="2026-01-01T00:00:00Z",
                           superseded_by="2b", retire_after=not_after)


def test_round_trip_and_defaults():
    text = encode_meta(META)
    assert decode_meta(text) == META
    assert '"supersedes"' not in text                                # omitted while empty


@pytest.mark.parametrize("text", ["", "{", "[]", '{"identifier": "x"}', "null"])
def test_unreadable_record_is_none(text):
    assert decode_meta(text) is None


def test_unknown_fields_are_ignored():
    assert decode_meta(encode_meta(META)[:-1] + ',"later":1}') == META


def test_with_superseded_drops_ended_entries():
    now = datetime(2026, 2, 10, tzinfo=UTC)
    old = META.with_superseded(entry("ended", "2026-02-01T00:00:00Z"), datetime(2026, 1, 20, tzinfo=UTC))
    assert [e.identifier for e in old.supersedes] == ["ended"]
    new = old.with_superseded(entry("id-old", "2026-03-01T00:00:00Z"), now)
    assert [e.identifier for e in new.supersedes] == ["id-old"]
    assert new.superseded("id-old") is not None and new.superseded("ended") is None
    assert decode_meta(encode_meta(new)) == new


def test_times_carry_renew_before():
    t = META.times()
    assert t.renew_before == 5 and (t.not_after - t.not_before).days == 30


def test_secret_names_are_built_in_one_place():
    n = secret_names("albmtls", "alb-x-443", "alice")
    assert (n.pfx, n.password, n.meta) == ("albmtls/alb-x-443/alice/pfx", "albmtls/alb-x-443/alice/password",
                                           "albmtls/alb-x-443/alice/meta")

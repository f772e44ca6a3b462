"""The pure part of offboarding (``shared.policy.offboarding``), the access record
(``shared.policy.records.AccessRecord``) and the holder URI: table tests, no cloud."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared.core.errors import AlbMtlsError
from shared.policy import offboarding as ob
from shared.policy.ids import custom_identifier, holder_uri, secret_names, split_listener_key
from shared.policy.records import AccessRecord, access_version_id, decode_access, encode_access
from shared.policy.rotation import classify
from shared.policy.validation import decode

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LK = "alb-x1-443"


@dataclass(frozen=True)
class Cert:
    identifier: str
    serial: str
    common_name: str | None
    status: str | None = "ISSUE"
    certificate_type: str | None = "CLIENT"
    custom_identifier: str | None = None
    not_before: datetime | None = NOW - timedelta(days=5)
    not_after: datetime | None = NOW + timedelta(days=25)


def cert(ident: str, cn: str, listener: str = LK, **kw) -> Cert:
    return Cert(ident, ident[-2:], cn, custom_identifier=custom_identifier(listener, "exec", cn), **kw)


def revoke_plan(record=None, valid=(), secrets=None, **kw):
    return ob.plan_revoke(record, common_name="alice", listener_key=LK, valid=valid,
                          secrets=secrets if secrets is not None else {"p/pfx": False, "p/password": False},
                          reason=kw.pop("reason", "key_compromise"), requested_by="ops", request_id="req-1",
                          now=NOW, **kw)


def test_holders_keep_this_listeners_client_certificates_only():
    listed = [cert("a1", "alice"), cert("a2", "alice", status="REVOKE"), cert("b1", "bob"),
              cert("o1", "alice", listener="alb-x1-8443"), Cert("f1", "01", "alice"),     # another listener, foreign
              cert("s1", "srv", certificate_type="SERVER")]
    h = ob.holders(listed, LK)
    assert sorted(h) == ["alice", "bob"]
    assert [c.identifier for c in h["alice"].certificates] == ["a1", "a2"]
    assert [c.identifier for c in h["alice"].valid(NOW)] == ["a1"]


def test_valid_means_issued_and_not_ended():
    certs = [cert("a1", "alice"), cert("a2", "alice", status="REVOKE"),
             cert("a3", "alice", not_after=NOW - timedelta(seconds=1))]
    assert [c.identifier for c in ob.valid_certificates(certs, NOW)] == ["a1"]


def test_orphans_are_holders_with_a_valid_certificate_not_in_the_input_nor_revoked():
    h = ob.holders([cert("a1", "alice"), cert("b1", "bob"), cert("c1", "carol", status="REVOKE"),
                    cert("d1", "dave"), cert("e1", "erin")], LK)
    revoked = AccessRecord(common_name="dave", listener_key=LK, state="revoked", since="2026-02-01T00:00:00Z")
    assert ob.orphans(h, ["alice"], {"dave": revoked}, NOW) == ["bob", "erin"]   # carol: nothing valid


@pytest.mark.parametrize("record,expect_write", [
    (None, True),
    (AccessRecord(common_name="alice", listener_key=LK, state="orphaned", since="2026-02-01T00:00:00Z", seq=3), True),
    (AccessRecord(common_name="alice", listener_key=LK, state="active", since="2026-02-01T00:00:00Z"), True),
])
def test_a_first_revocation_records_reason_time_requester_and_certificates(record, expect_write):
    p = revoke_plan(record, valid=[cert("a1", "alice")])
    assert p.record is not None and p.record.state == "revoked" and p.record.since == "2026-03-01T00:00:00Z"
    assert p.record.seq == (record.seq + 1 if record else 1)
    rv = p.revocation
    assert (rv.reason, rv.reason_code, rv.requested_by, rv.request_id, rv.via) == \
        ("key_compromise", 1, "ops", "req-1", "revoke")
    assert [c.identifier for c in rv.certificates] == ["a1"]
    assert p.revoke == ("a1",) and p.delete == ("p/password", "p/pfx") and p.writes == 4


def test_an_earlier_revocation_stands_and_only_what_is_left_is_done():
    first = revoke_plan(valid=[cert("a1", "alice")])
    again = revoke_plan(first.record, valid=[], secrets={"p/pfx": True, "p/password": True}, reason="cessation")
    assert again.record is None and again.revocation == first.revocation and again.writes == 0
    partial = revoke_plan(first.record, valid=[cert("a9", "alice")], secrets={"p/pfx": True, "p/password": False})
    assert partial.record is None and partial.revoke == ("a9",) and partial.delete == ("p/password",)


@pytest.mark.parametrize("reason,code", [("unspecified", 0), ("key_compromise", 1), ("superseded", 4),
                                         ("cessation", 5)])
def test_reason_codes_are_rfc5280(reason, code):
    assert revoke_plan(reason=reason).revocation.reason_code == code


def test_restore_only_a_revoked_holder():
    revoked = revoke_plan(valid=[cert("a1", "alice")]).record
    plan = ob.plan_restore(revoked, {"p/pfx": True, "p/password": True})
    assert plan.reissue and plan.restore == ("p/password", "p/pfx")
    after_window = ob.plan_restore(revoked, {})
    assert after_window.reissue and after_window.restore == ()
    assert ob.plan_restore(None, {}).reason == "not_revoked"
    from shared.policy.records import Restoration
    back = ob.restored(revoked, Restoration(restored_at="t", requested_by="ops", request_id="r2"), NOW)
    assert back.state == "active" and back.revocation == revoked.revocation and back.seq == revoked.seq + 1
    assert ob.plan_restore(back, {}).reason == "already_restored"


def test_orphan_marks():
    orphan = ob.mark_orphaned(None, "bob", LK, NOW)
    assert orphan is not None and orphan.state == "orphaned" and orphan.since == "2026-03-01T00:00:00Z"
    assert ob.mark_orphaned(orphan, "bob", LK, NOW + timedelta(days=1)) is None            # since stays
    revoked = revoke_plan().record
    assert ob.mark_orphaned(revoked, "alice", LK, NOW) is None and ob.mark_active(revoked, NOW) is None
    back = ob.mark_active(orphan, NOW + timedelta(days=2))
    assert back is not None and back.state == "active" and ob.mark_active(back, NOW) is None


def test_access_record_round_trip_and_version_ids():
    rec = revoke_plan(valid=[cert("a1", "alice")]).record
    assert decode_access(encode_access(rec)) == rec
    assert decode_access("{") is None and decode_access('{"state": "gone"}') is None
    assert access_version_id(rec) == access_version_id(decode_access(encode_access(rec)))
    other = revoke_plan(valid=[cert("a2", "alice")]).record
    assert access_version_id(other) != access_version_id(rec) and access_version_id(rec).startswith("1-")


def test_classify_with_the_access_record():
    c = cert("a1", "alice")
    orphan = AccessRecord(common_name="alice", listener_key=LK, state="orphaned", since="2026-02-01T00:00:00Z")
    revoked = AccessRecord(common_name="alice", listener_key=LK, state="revoked", since="2026-02-01T00:00:00Z")
    assert classify(c, None, None, NOW).state == "valid"
    assert classify(c, None, None, NOW, orphan).state == "orphaned"
    assert classify(c, None, None, NOW + timedelta(days=20), orphan).state == "orphaned"   # due: still not renewed
    assert classify(c, None, None, NOW, revoked).state == "revoked"
    assert classify(c, None, None, NOW + timedelta(days=30), orphan).state == "expired"


def test_holder_uri_and_secret_names():
    assert holder_uri(LK, "alice") == "albmtls://alb-x1/443/alice"
    assert split_listener_key("alb-x1-8443") == ("alb-x1", 8443) and split_listener_key("nope") is None
    with pytest.raises(AlbMtlsError):
        holder_uri("nope", "alice")
    n = secret_names("albmtls", LK, "alice")
    assert n.access == "albmtls/alb-x1-443/alice/access" and n.key_material == (n.pfx, n.password)


@pytest.mark.parametrize("change,field", [
    ({"reason": "stolen"}, "reason"), ({"recovery_window_days": 6}, "recovery_window_days"),
    ({"recovery_window_days": 31}, "recovery_window_days"), ({"common_names": []}, "common_names"),
    ({"common_names": ["a b"]}, "common_names[0]"), ({"listener_port": 0}, "listener_port"),
    ({"load_balancer_id": "lb-1"}, "load_balancer_id"), ({"common_names": ["a", "a"]}, "common_names"),
])
def test_revoke_request_refusals_name_the_field(change, field):
    raw = {"load_balancer_id": "alb-x1", "listener_port": 443, "common_names": ["alice"], **change}
    with pytest.raises(AlbMtlsError) as info:
        decode(ob.RevokeRequest, raw)
    assert info.value.code == "INVALID_INPUT" and info.value.field == field


def test_the_refusal_bound_is_one_assumption():
    assert ob.LISTENER_REFUSAL_BOUND == timedelta(seconds=60)
    assert ob.refusal_deadline(NOW) == NOW + timedelta(seconds=60)


@pytest.mark.parametrize("value", ["", " ", "   \t", "x" * 129, "ops\x1b[31m", "a\nb"])
def test_requested_by_has_one_rule_for_the_cli_and_the_api(value):
    """`revoke --requested-by ''` silently recorded the login (root@vm) while the API refused "" and the
    CLI refused '   ': only an absent --requested-by is the login; any given value goes through the one
    rule (audit_text_problem), with the same message from the CLI's request and the API's body."""
    from albmtls.offboard import build_request
    from shared.core.errors import AlbMtlsError
    from shared.policy.offboarding import RevokeRequest, audit_text_problem
    from shared.policy.validation import decode

    with pytest.raises(AlbMtlsError) as cli:
        build_request("revoke", "alb-demostd000000000001:443", ["alice"], requested_by=value)
    with pytest.raises(AlbMtlsError) as api:
        decode(RevokeRequest, {"load_balancer_id": "alb-demostd000000000001", "listener_port": 443,
                               "common_names": ["alice"], "requested_by": value})
    assert cli.value.field == api.value.field == "requested_by"
    assert audit_text_problem(value) in cli.value.message and audit_text_problem(value) in api.value.message
    raw, _ = build_request("revoke", "alb-demostd000000000001:443", ["alice"], requested_by=None)
    assert raw["requested_by"]

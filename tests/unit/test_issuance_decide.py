"""``shared.policy.issuance.decide``: reuse the stored client certificate or issue a new one (table)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.policy.contracts import ClientSpec
from shared.policy.ids import secret_names
from shared.policy.issuance import CurrentCert, decide, san_request
from shared.policy.records import CertMeta

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = secret_names("albmtls", "alb-x-443", "alice")


@dataclass(frozen=True)
class Issued:
    status: str | None = "ISSUE"
    parent_identifier: str | None = "ca-1"
    serial: str = "2b"


def meta(**over) -> CertMeta:
    base: dict[str, Any] = dict(common_name="alice", identifier="id-1", serial="2b",
                                not_before="2026-01-01T00:00:00Z", not_after="2026-01-31T00:00:00Z",
                                fingerprint_sha256="ab" * 32, profile="compat", days=30, ca="ca-1",
                                custom_identifier="albmtls-alb-x-443-000000000000")
    base.update(over)
    return CertMeta(**base)


def current(m=None, pfx="2b", pw="2b", cert=Issued()) -> CurrentCert:
    return CurrentCert(NAMES, m, pfx, pw, cert)


CLIENT = ClientSpec(common_name="alice")


@pytest.mark.parametrize("cur, client, day, force, own, prev, expected", [
    (current(), CLIENT, 5, False, set(), None, ("issue", "first_issue")),
    (current(meta(), pfx="1a"), CLIENT, 5, False, set(), None, ("issue", "secrets_inconsistent")),
    (current(meta(), cert=None), CLIENT, 5, False, set(), None, ("issue", "certificate_missing")),
    (current(meta(), cert=Issued(status="REVOKE")), CLIENT, 5, False, set(), None, ("issue", "revoked")),
    (current(meta(ca="ca-2")), CLIENT, 5, False, set(), None, ("issue", "ca_changed")),
    (current(meta(), cert=Issued(serial="99")), CLIENT, 5, False, set(), None, ("issue", "serial_mismatch")),
    (current(meta()), ClientSpec(common_name="alice", sans=("a.example.test",)), 5, False, set(), None,
     ("issue", "sans_changed")),
    (current(meta()), ClientSpec(common_name="alice", profile="modern"), 5, False, set(), None,
     ("issue", "profile_changed")),
    (current(meta()), CLIENT, 21, False, set(), None, ("issue", "due")),
    (current(meta()), CLIENT, 31, False, set(), None, ("issue", "expired")),        # at the cloud's time
    # issued while the (local) cloud's clock was 21 days ahead, the clock put back: never reused
    (current(meta(not_before="2026-01-22T00:00:00Z", not_after="2026-02-21T00:00:00Z")), CLIENT, 0, False, set(),
     None, ("issue", "not_yet_valid")),
    # a fresh certificate and a clock a little behind the issuer's: reused
    (current(meta()), CLIENT, -0.002, False, set(), None, ("reuse", "valid")),
    (current(meta()), CLIENT, 5, False, set(), None, ("reuse", "valid")),
    (current(meta()), CLIENT, 5, True, set(), None, ("issue", "forced")),
    (current(meta()), CLIENT, 5, True, {"albmtls-alb-x-443-000000000000"}, None, ("reuse", "issued_by_this_execution")),
    (current(meta()), CLIENT, 5, True, set(), "id-0", ("reuse", "already_replaced")),
])
def test_decide_table(cur, client, day, force, own, prev, expected):
    d = decide(client, cur, "ca-1", T0 + timedelta(days=day), force=force, own_ids=own, previous_identifier=prev)
    assert (d.action, d.reason) == expected


@pytest.mark.parametrize("sans, expected", [
    ((), (None, None)),
    (("a.example.test", "b.example.test"), (2, "a.example.test,b.example.test")),
    (("alice@example.test",), (1, "alice@example.test")),
    (("a.example.test", "203.0.113.7"), (None, None)),        # two kinds: the CSR carries them
])
def test_san_request(sans, expected):
    assert san_request(sans) == expected

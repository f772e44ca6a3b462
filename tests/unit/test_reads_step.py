"""The scan's ActionTrail step (shared/steps/reads.py) with a fake ActionTrail: who waits, one paged query
for the run, a failing or truncated query is a warning and never an exception."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, Literal

import pytest

from shared.core.errors import AlbMtlsError, Code
from shared.policy.delivery import Delivery, DeliveryRecord, HolderRecord
from shared.policy.reads import MAX_PAGES
from shared.policy.records import CertMeta, SupersededEntry
from shared.steps import reads as step

T0 = datetime(2026, 12, 1, tzinfo=UTC)
ROLE = "acs:ram::1234567890123456:role/billing-app"
LK = "alb-demostd000000000001-443"


def meta(cn: str) -> CertMeta:
    return CertMeta(common_name=cn, identifier=f"new-{cn}", serial=f"0B{cn}", not_before="2026-12-01T00:00:00Z",
                    not_after="2026-12-31T00:00:00Z", fingerprint_sha256="00", profile="modern", days=30, ca="ca",
                    supersedes=(SupersededEntry(identifier=f"old-{cn}", serial="0A", not_after="2026-12-10T00:00:00Z",
                                                superseded_at="2026-12-01T01:00:00Z", superseded_by=f"0B{cn}",
                                                retire_after="2026-12-10T00:00:00Z"),))


def record(kind: Literal["person", "system"] = "system", principal: str | None = ROLE,
           read: bool = False) -> DeliveryRecord:
    holder = HolderRecord(kind=kind, name="X", ram_principal=principal if kind == "system" else None,
                          email="x@example.test" if kind == "person" else None)
    d = Delivery(serial="0Bbilling", identifier="new-billing", not_after="",
                 first_read_at="2026-12-02T00:00:00Z" if read else None)
    return DeliveryRecord(common_name="billing", listener_key=LK, holder=holder, deliveries=(d,))


def cert(cn: str = "billing") -> Any:
    return SimpleNamespace(common_name=cn, identifier=f"old-{cn}", serial="0A")


def superseded(retire: bool = False) -> Any:
    return SimpleNamespace(state="superseded", retire=retire)


@dataclass
class FakeTrail:
    pages: list[list[dict]] = field(default_factory=list)
    fail: AlbMtlsError | None = None
    calls: list[dict] = field(default_factory=list)

    def iter_events(self, **kw: Any):
        self.calls.append(kw)
        if self.fail is not None:
            raise self.fail
        for i, events in enumerate(self.pages):
            yield SimpleNamespace(events=events, next_token="t" if i < len(self.pages) - 1 else None)


class _Ctx:
    def __init__(self, trail: FakeTrail) -> None:
        self.trail, self.logger = trail, logging.getLogger("test")

    def adapter(self, cls: type) -> Any:
        assert cls.__name__ == "ActionTrail", cls
        return self.trail


def Ctx(trail: FakeTrail) -> Any:
    """A step context whose ActionTrail adapter is ``trail``."""
    return _Ctx(trail)


@pytest.mark.parametrize(("case", "rec", "c", "kept"), [
    ("a system waiting", record(), superseded(), True),
    ("a person", record("person"), superseded(), False),
    ("no holder", None, superseded(), False),
    ("already read", record(read=True), superseded(), False),
    ("to be retired anyway", record(), superseded(retire=True), False),
    ("not replaced", record(), SimpleNamespace(state="valid", retire=False), False),
])
def test_who_waits_for_a_read(case: str, rec: DeliveryRecord | None, c: Any, kept: bool) -> None:
    w = step.WaitingForReads(Ctx(FakeTrail()), "albmtls")
    w.consider(c, cert(), meta("billing"), LK, rec)
    assert bool(w.items) is kept, case
    if kept:
        [(p, _, _)] = w.items
        assert (p.pfx, p.since, p.ram_principal) == (f"albmtls/{LK}/billing/pfx", T0 + timedelta(hours=1), ROLE)


def read_event(at: str, secret: str = f"albmtls/{LK}/billing/pfx") -> dict:
    return {"eventName": "GetSecretValue", "eventTime": at, "requestParameters": {"SecretName": secret},
            "userIdentity": {"type": "assumed-role", "userName": "billing-app:s1", "accountId": "1234567890123456"}}


def test_one_paged_query_for_the_run_and_one_record_per_read(monkeypatch) -> None:
    marked: list[Any] = []
    def mark(ctx: Any, prefix: str, r: Any) -> int:
        marked.append(r)
        return 1
    monkeypatch.setattr(step, "mark_read", mark)
    trail = FakeTrail(pages=[[read_event("2026-12-03T00:00:00Z")], [read_event("2026-12-02T00:00:00Z")]])
    w = step.WaitingForReads(Ctx(trail), "albmtls")
    w.consider(superseded(), cert(), meta("billing"), LK, record())
    w.consider(superseded(), cert("crm"), meta("crm"), LK, record().with_holder(HolderRecord(
        kind="system", name="CRM", ram_principal="acs:ram::1234567890123456:role/crm-app")))
    out = w.observe(T0 + timedelta(days=3))
    assert len(trail.calls) == 1 and trail.calls[0]["attributes"] == (("EventName", "GetSecretValue"),)
    assert trail.calls[0]["start"] == T0 + timedelta(hours=1) and trail.calls[0]["max_pages"] == MAX_PAGES
    assert (out.pages, out.events, out.writes, out.warning) == (2, 2, 1, None)
    assert [(r.common_name, r.at.day, r.by) for r in marked] == [("billing", 2, "billing-app:s1")]
    assert [c.identifier for c, _, _, _ in w.switched(out)] == ["old-billing"]


def test_nobody_waiting_means_no_query() -> None:
    trail = FakeTrail()
    out = step.WaitingForReads(Ctx(trail), "albmtls").observe(T0)
    assert trail.calls == [] and out.warning is None


@pytest.mark.parametrize("exc", [AlbMtlsError(Code.CLOUD_ERROR, "NoPermission: not authorized"),
                                 AlbMtlsError(Code.THROTTLED, "Throttling.User after the retries")])
def test_a_failing_query_is_a_warning_never_an_exception(exc: AlbMtlsError) -> None:
    w = step.WaitingForReads(Ctx(FakeTrail(fail=exc)), "albmtls")
    w.consider(superseded(), cert(), meta("billing"), LK, record())
    out = w.observe(T0 + timedelta(days=2))
    assert out.reads == [] and out.warning is not None and out.warning["kind"] == "actiontrail"
    assert out.warning["code"] == exc.code and "grace end" in out.warning["message"]
    assert w.switched(out) == []


def test_more_events_than_one_run_reads_is_said(monkeypatch) -> None:
    monkeypatch.setattr(step, "mark_read", lambda ctx, prefix, r: 0)
    pages = [[read_event("2026-12-02T00:00:00Z", secret="other")] for _ in range(3)]
    trail = FakeTrail(pages=pages)
    w = step.WaitingForReads(Ctx(trail), "albmtls")
    w.consider(superseded(), cert(), meta("billing"), LK, record())

    def capped(**kw: Any):                      # the adapter stops at max_pages with a token left
        trail.calls.append(kw)
        for events in pages[:2]:
            yield SimpleNamespace(events=events, next_token="more")
    monkeypatch.setattr(trail, "iter_events", capped)
    out = w.observe(T0 + timedelta(days=2))
    assert out.truncated and out.warning is not None and out.warning["code"] == "TRUNCATED"

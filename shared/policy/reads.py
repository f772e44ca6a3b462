"""A system holder's first read of its new secrets, from ActionTrail events: the pure rules.

A ``system`` holder fetches its renewed PFX and password itself (``kms:GetSecretValue`` on its two
secrets, ``albmtls holder-policy``). ActionTrail records every KMS call made through the KMS
(shared) endpoint, with the caller's identity (docs/DELIVERY.md "Adoption and retirement"). The
rotation scan asks ActionTrail once per run for the ``GetSecretValue`` events since its oldest
pending renewal (:func:`query_window`) and :func:`first_reads` decides, per holder waiting for its
switch (:class:`Pending`), which event is its first read of the new certificate:

* the event is a successful ``GetSecretValue`` (no ``errorCode``) of the holder's ``pfx`` or
  ``password`` secret (``requestParameters.SecretName``);
* it read the new version: no ``VersionId`` or the new serial, and no ``VersionStage`` or
  ``ACSCurrent`` (the renewal made the new version current);
* it happened at or after the renewal stored that version (``since``);
* by the holder's principal (:func:`event_principal` of ``userIdentity`` equals
  :func:`parse_principal` of ``ram_principal``: a RAM user by name, a role by the role's name in
  any session) — or, when the holder names no ``ram_principal``, by any principal but this
  automation's own (``own``, from STS ``GetCallerIdentity``).

Pure: the events and the time are arguments.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.core.clock import parse_iso

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Iterable

__all__ = ["Principal", "Pending", "ReadEvent", "FirstRead", "LOOKBACK", "MAX_PAGES", "PAGE_SIZE",
           "parse_principal", "caller_principal", "event_principal", "parse_event", "query_window", "first_reads"]

#: ActionTrail keeps the events of the last 90 days (alibabacloud.com/help/doc-detail/41920.htm)
LOOKBACK = timedelta(days=90)
#: LookupEvents ``MaxResults`` (0-50, the SDK model) and the pages one run reads at most (2 calls/s:
#: 20 pages take 10 s and hold 1,000 reads)
PAGE_SIZE = 50
MAX_PAGES = 20
_ARN = re.compile(r"^acs:ram::(?P<account>[0-9]{1,32}):(?P<type>user|role)/(?P<name>[A-Za-z0-9._@-]{1,128})$")
_CALLER = re.compile(r"^acs:ram::(?P<account>[0-9]{1,32}):(?P<type>user|role|assumed-role|root)(?:/(?P<name>[^/]+))?")


@dataclass(frozen=True, slots=True)
class Principal:
    """A RAM identity as events show it: ``kind`` ``user`` (a RAM user), ``role`` (any session of
    a RAM role) or ``root`` (the account); ``name`` the user's or the role's name."""

    kind: str
    name: str
    account: str = ""

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}" if self.kind != "root" else "root"


@dataclass(frozen=True, slots=True)
class Pending:
    """A system holder waiting for its switch: its new certificate (``serial``) and secret names,
    when the renewal stored it (``since``) and who it is (``ram_principal``, may be ``None``)."""

    listener_key: str
    common_name: str
    serial: str
    pfx: str
    password: str
    since: datetime
    ram_principal: str | None = None


@dataclass(frozen=True, slots=True)
class ReadEvent:
    """What :func:`first_reads` needs of one ActionTrail event."""

    at: datetime
    secret_name: str
    principal: Principal | None
    caller: str                      # ``userName`` as the event names it (shown in ``status``)
    version_id: str | None = None
    version_stage: str | None = None
    failed: bool = False


@dataclass(frozen=True, slots=True)
class FirstRead:
    """The first read of ``serial`` by its holder: when and by whom (the event's ``userName``)."""

    listener_key: str
    common_name: str
    serial: str
    at: datetime
    by: str


def parse_principal(arn: str | None) -> Principal | None:
    """``acs:ram::<account>:user/<name>`` or ``…:role/<name>`` (the input's ``ram_principal``)."""
    m = _ARN.match(arn or "")
    return Principal(m.group("type"), m.group("name"), m.group("account")) if m else None


def caller_principal(arn: str | None) -> Principal | None:
    """STS ``GetCallerIdentity``'s ``Arn`` as a principal: ``…:user/<name>``,
    ``…:assumed-role/<role>/<session>`` (the role), ``…:root``."""
    m = _CALLER.match(arn or "")
    if not m:
        return None
    kind, name = m.group("type"), m.group("name") or ""
    if kind == "root":
        return Principal("root", "", m.group("account"))
    return Principal("role" if kind in ("role", "assumed-role") else "user", name, m.group("account"))


def event_principal(who: dict[str, Any] | None) -> Principal | None:
    """An event's ``userIdentity`` as a principal: ``ram-user`` → the user ``userName``;
    ``assumed-role`` → the role, ``userName`` ``<role>:<session>``; ``root-account`` → root."""
    if not isinstance(who, dict):
        return None
    kind, name, account = str(who.get("type") or ""), str(who.get("userName") or ""), str(who.get("accountId") or "")
    if kind == "ram-user" and name:
        return Principal("user", name, account)
    if kind == "assumed-role" and name:
        return Principal("role", name.split(":", 1)[0], account)
    if kind == "root-account":
        return Principal("root", "", account)
    return None


def _param(params: Any, name: str) -> str | None:
    if not isinstance(params, dict):
        return None
    v = params.get(name)
    return str(v) if v not in (None, "") else None


def parse_event(doc: Any) -> ReadEvent | None:
    """A ``GetSecretValue`` event of LookupEvents' ``Events`` as a :class:`ReadEvent`; ``None`` for
    any other event or one without a secret name or a time."""
    if not isinstance(doc, dict) or doc.get("eventName") != "GetSecretValue":
        return None
    params = doc.get("requestParameters")
    name = _param(params, "SecretName")
    try:
        at = parse_iso(str(doc.get("eventTime") or ""))
    except (ValueError, AttributeError, OverflowError):
        return None
    if not name:
        return None
    raw = doc.get("userIdentity")
    who: dict[str, Any] = raw if isinstance(raw, dict) else {}
    return ReadEvent(at=at, secret_name=name, principal=event_principal(who), caller=str(who.get("userName") or "?"),
                     version_id=_param(params, "VersionId"), version_stage=_param(params, "VersionStage"),
                     failed=bool(doc.get("errorCode")))


def query_window(pending: Iterable[Pending], now: datetime) -> tuple[datetime, datetime] | None:
    """``(StartTime, EndTime)`` of the run's one query: from the oldest pending renewal (at most
    :data:`LOOKBACK` back) to ``now``; ``None`` when nobody waits."""
    times = [p.since for p in pending]
    if not times:
        return None
    return max(min(times), now - LOOKBACK), now


def _same(a: Principal | None, b: Principal | None) -> bool:
    if a is None or b is None or a.kind != b.kind or a.name != b.name:
        return False
    return not (a.account and b.account and a.account != b.account)


def _counts(p: Pending, e: ReadEvent, own: Principal | None) -> bool:
    if e.failed or e.secret_name not in (p.pfx, p.password) or e.at < p.since:
        return False
    if e.version_id is not None and e.version_id != p.serial:
        return False
    if e.version_stage is not None and e.version_stage != "ACSCurrent":
        return False
    wanted = parse_principal(p.ram_principal)
    if p.ram_principal:
        return _same(wanted, e.principal)
    # nobody named: anyone but this automation — which must then be known (else nothing counts)
    return e.principal is not None and own is not None and not _same(own, e.principal)


def first_reads(pending: Iterable[Pending], events: Iterable[ReadEvent],
                own: Principal | None = None) -> list[FirstRead]:
    """The first read of each pending holder's new certificate among ``events`` (module doc);
    holders without one are left out."""
    todo = list(pending)
    by_secret: dict[str, list[Pending]] = {}
    for p in todo:
        by_secret.setdefault(p.pfx, []).append(p)
        by_secret.setdefault(p.password, []).append(p)
    best: dict[tuple[str, str, str], FirstRead] = {}
    for e in events:
        for p in by_secret.get(e.secret_name, ()):
            if not _counts(p, e, own):
                continue
            key = (p.listener_key, p.common_name, p.serial)
            if key not in best or e.at < best[key].at:
                best[key] = FirstRead(p.listener_key, p.common_name, p.serial, e.at, e.caller)
    return [best[k] for k in sorted(best)]

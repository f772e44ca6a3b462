"""The pure part of the fleet plan and of the drift check: what differs between a listener's desired
state and what the cloud holds, field by field (old → new), and the plan's records.

Both read the cloud the same way (``shared.steps.plan``: the preflight's observations, reads only);
the *plan* compares the cloud with the input in the file, the *drift* check with the desired state
recorded by the last apply (``shared.policy.desired``). The fields compared are those the issue
names and ``enable_mutual_auth`` / ``create_cname`` own (docs/ALIBABA-APIS.md §1 for the ALB wire
names): ``CaEnabled``, ``CaCertificates``, ``Certificates`` (the default server certificate),
``SecurityPolicyId``, ``XForwardedForConfig`` (the four client-certificate switches),
``DefaultActions`` (the server group), the server group's members (server, port, weight), and the
CNAME's target and TTL. Other listener settings (timeouts, gzip, ACLs …) are not ours and are not
compared. A listener whose job still runs (``Configuring``) is compared as it is then.

No I/O.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from shared.policy.listener import CLIENT_CERT_XFF_FIELDS, DesiredListener, ListenerLike

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = [
    "Change", "DriftItem", "ClientAction", "ClientPlan", "ResourcePlan", "ListenerReport", "FleetPlan",
    "listener_changes", "member_drift", "cname_drift", "client_action", "record_changes", "has_changes",
]

ClientAction = Literal["issue", "renew", "reissue", "keep"]


class Change(msgspec.Struct, frozen=True, kw_only=True):
    """One field that differs: ``field`` (wire name, or ``members[i-…:80]``, ``cname.value`` …),
    ``old`` (what the cloud holds; ``None`` = nothing) and ``new`` (what the input wants)."""

    field: str
    old: Any = None
    new: Any = None


class DriftItem(msgspec.Struct, frozen=True, kw_only=True):
    """A field where the cloud drifted from the recorded desired state: ``desired`` vs ``actual``."""

    field: str
    desired: Any = None
    actual: Any = None


class ClientPlan(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What an apply does for one client: ``issue`` (first certificate), ``renew`` (due or ended),
    ``reissue`` (``reason``: SANs, profile or CA changed, revoked, forced …) or ``keep``."""

    common_name: str
    action: ClientAction
    reason: str


class ResourcePlan(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One resource of a listener: ``action`` (``create``/``update``/``add``/``upload``/``use``/
    ``none`` …), its ``id`` when it exists, and the field ``changes`` (old → new)."""

    action: str
    id: str | None = None  # the cloud id
    changes: tuple[Change, ...] = ()
    detail: dict[str, Any] | None = None


class ListenerReport(msgspec.Struct, kw_only=True):
    """The plan of one listener. ``status``: ``changes`` | ``no_changes`` | ``error`` (``error``: the
    refusal the preflight would make, ``{code, message, field}``; nothing of it would be applied).
    ``orphaned``: holders with a valid certificate on the listener (the private CA's list) that the
    file no longer names — never renewed, kept; ``pruned``: the holders whose certificates the apply
    revokes (``prune: true``, or a revocation left unfinished); ``access_records``: the holders whose
    ``…/access`` record the apply writes (orphaned, or active again).
    ``drift``: the cloud against the recorded desired state (``None``: nothing recorded yet)."""

    listener_key: str
    path: str = ""
    region: str | None = None
    status: Literal["changes", "no_changes", "error"] = "no_changes"
    error: dict[str, Any] | None = None
    listener: ResourcePlan | None = None
    server_certificate: ResourcePlan | None = None
    server_group: ResourcePlan | None = None
    dns: ResourcePlan | None = None
    clients: tuple[ClientPlan, ...] = ()
    orphaned: tuple[str, ...] = ()
    pruned: tuple[str, ...] = ()
    access_records: tuple[str, ...] = ()
    desired_state: ResourcePlan | None = None
    drift: tuple[DriftItem, ...] | None = None
    #: the own CA the run creates (``create``, its name and options); ``None``: the CA exists
    ca: ResourcePlan | None = None
    #: holders not in the file who lose access: the listener's CA changes and theirs is the old
    #: one (:func:`cut_off_by_ca_change`)
    lose_access: tuple[str, ...] = ()
    #: what the run would warn of without refusing (``{code, field, message}``): a holder's webhook
    #: naming no configured channel
    warnings: tuple[dict[str, Any], ...] = ()


class FleetPlan(msgspec.Struct, kw_only=True):
    """``albmtls plan``: ``changes`` (any listener would change), ``errors`` (listeners refused),
    per-listener ``listeners`` reports, ``writes`` (always 0: a plan only reads)."""

    status: Literal["ok", "failed"] = "ok"
    changes: bool = False
    errors: int = 0
    writes: int = 0
    listeners: list[ListenerReport] = []


# ---------------------------------------------------------------------------------------------
# field comparisons
# ---------------------------------------------------------------------------------------------
def _xff(existing: ListenerLike) -> dict[str, bool]:
    d = existing.xff_dict
    return {f: bool(d.get(f)) for f in CLIENT_CERT_XFF_FIELDS}


def listener_changes(existing: ListenerLike, desired: DesiredListener) -> tuple[Change, ...]:
    """The listener fields that differ, old → new (``shared.policy.listener.listener_differences``
    names the same fields; this adds the values). A desired id still unknown (a server certificate
    to upload, a server group to create) is shown as ``None`` → ``(new …)``."""
    out: list[Change] = []
    if existing.ca_enabled is not True:
        out.append(Change(field="CaEnabled", old=existing.ca_enabled, new=True))
    if tuple(existing.ca_certificate_ids) != (desired.ca_certificate_id,):
        out.append(Change(field="CaCertificates", old=list(existing.ca_certificate_ids),
                          new=[desired.ca_certificate_id]))
    if desired.server_certificate_id is None or tuple(existing.certificate_ids[:1]) != (desired.server_certificate_id,):
        out.append(Change(field="Certificates", old=list(existing.certificate_ids[:1]),
                          new=[desired.server_certificate_id or "(new upload)"]))
    if existing.security_policy_id != desired.security_policy_id:
        out.append(Change(field="SecurityPolicyId", old=existing.security_policy_id, new=desired.security_policy_id))
    if desired.server_group_id is None or tuple(existing.server_group_ids) != (desired.server_group_id,):
        out.append(Change(field="DefaultActions", old=list(existing.server_group_ids),
                          new=[desired.server_group_id or "(new server group)"]))
    xff = _xff(existing)
    if any(v != desired.client_cert_headers for v in xff.values()):
        out.append(Change(field="XForwardedForConfig", old=xff,
                          new={f: desired.client_cert_headers for f in CLIENT_CERT_XFF_FIELDS}))
    return tuple(out)


def member_drift(members: Mapping[tuple[str, int], int | None],
                 desired: Iterable[tuple[str, int, int]]) -> tuple[Change, ...]:
    """Server group members: missing (old ``None``), extra (new ``None``) and weight changes, keyed
    ``members[<server id>:<port>]``. ``members``: what ``ListServerGroupServers`` lists, (id, port)
    → weight (``None`` when unknown)."""
    want = {(sid, port): weight for sid, port, weight in desired}
    out: list[Change] = []
    for (sid, port), weight in want.items():
        key = f"members[{sid}:{port}]"
        if (sid, port) not in members:
            out.append(Change(field=key, old=None, new={"weight": weight}))
        elif members[(sid, port)] is not None and members[(sid, port)] != weight:
            out.append(Change(field=key, old={"weight": members[(sid, port)]}, new={"weight": weight}))
    for (sid, port), have in sorted(members.items()):
        if (sid, port) not in want:
            out.append(Change(field=f"members[{sid}:{port}]", old={"weight": have}, new=None))
    return tuple(out)


def cname_drift(current: Mapping[str, Any] | None, *, value: str, ttl: int) -> tuple[Change, ...]:
    """The CNAME record on (rr, default line) against the wanted target and TTL (``current``:
    ``{value, ttl}`` of the record there, ``None`` when there is none)."""
    if current is None:
        return (Change(field="cname", old=None, new={"value": value, "ttl": ttl}),)
    out: list[Change] = []
    got = str(current.get("value") or "").rstrip(".").lower()
    if got != value.rstrip(".").lower():
        out.append(Change(field="cname.value", old=current.get("value"), new=value))
    if current.get("ttl") != ttl:
        out.append(Change(field="cname.ttl", old=current.get("ttl"), new=ttl))
    return tuple(out)


def as_drift(changes: Iterable[Change]) -> tuple[DriftItem, ...]:
    """Changes read as drift: the desired value against the actual one."""
    return tuple(DriftItem(field=c.field, desired=c.new, actual=c.old) for c in changes)


# ---------------------------------------------------------------------------------------------
# clients and the record
# ---------------------------------------------------------------------------------------------
#: ``shared.policy.issuance.decide`` reasons → what the plan says
_RENEW = {"due", "expired"}


def client_action(decision: str, reason: str) -> ClientAction:
    """The plan's word for an issuance decision (``reuse``/``issue`` and its reason)."""
    if decision == "reuse":
        return "keep"
    if reason == "first_issue":
        return "issue"
    return "renew" if reason in _RENEW else "reissue"


def record_changes(recorded: Mapping[str, Any] | None, new: Mapping[str, Any]) -> tuple[Change, ...]:
    """The fields in which ``new`` differs from the recorded input, by path
    (``server_group.health_check.interval``, ``clients[alice].holder``): both should be normalised
    documents (``shared.policy.desired.comparable``: defaults written out), so leaving a default
    implicit is no change. ``clients`` are matched by common name: the names added and removed are
    one ``clients`` change, a kept client's fields are compared under ``clients[<cn>]``."""
    if recorded is None:
        return ()
    out: list[Change] = []
    _diff("", recorded, new, out)
    return tuple(out)


def _diff(path: str, old: Any, new: Any, out: list[Change]) -> None:
    if old == new:
        return
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        for key in sorted(set(old) | set(new)):
            _diff(f"{path}.{key}" if path else str(key), old.get(key), new.get(key), out)
        return
    if path == "clients" and isinstance(old, list) and isinstance(new, list):
        was = {c.get("common_name"): c for c in old if isinstance(c, Mapping)}
        now = {c.get("common_name"): c for c in new if isinstance(c, Mapping)}
        gone, added = sorted(set(was) - set(now), key=str), sorted(set(now) - set(was), key=str)
        if gone or added:
            out.append(Change(field="clients", old=gone or None, new=added or None))
        for cn in sorted(set(was) & set(now), key=str):
            _diff(f"clients[{cn}]", was[cn], now[cn], out)
        return
    if (isinstance(old, list) and isinstance(new, list) and len(old) == len(new)
            and all(isinstance(x, Mapping) for x in old + new)):
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            _diff(f"{path}[{i}]", a, b, out)
        return
    out.append(Change(field=path, old=old, new=new))


def has_changes(r: ListenerReport) -> bool:
    """True when applying ``r`` would write anything."""
    parts = (r.ca, r.listener, r.server_certificate, r.server_group, r.dns, r.desired_state)
    if any(p is not None and p.action not in ("none", "use") for p in parts):
        return True
    if r.pruned or r.access_records:
        return True
    return any(c.action != "keep" for c in r.clients)


def cut_off_by_ca_change(listener_changes: Iterable[str], orphaned: Iterable[str]) -> tuple[str, ...]:
    """The holders a run cuts off: when it changes the listener's CA (``CaCertificates`` among the
    listener's changed fields) the holders not in the input keep certificates of the old CA — kept,
    never renewed, and refused from then on in the handshake (alert unknown ca). The input's own
    clients are reissued of the new CA (``ca_changed``); these are not."""
    return tuple(sorted(set(orphaned))) if "CaCertificates" in set(listener_changes) else ()

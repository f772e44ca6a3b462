"""The pure part of ``health_check``: the listener's health from ``GetListenerHealthStatus`` and the
server groups' members (:func:`assess`, table-tested). ``shared.steps.health`` gathers, waits
and probes. No I/O. Health states: docs/ALIBABA-APIS.md §1.8 (``GetListenerHealthStatus``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol

from shared.policy.contracts import BackendHealth, HealthResult

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ["State", "assess"]


class NonNormalLike(Protocol):
    @property
    def server_id(self) -> str: ...
    @property
    def port(self) -> int | None: ...
    @property
    def status(self) -> str: ...
    @property
    def reason_code(self) -> str | None: ...
    @property
    def expected_response(self) -> str | None: ...
    @property
    def actual_response(self) -> str | None: ...


class GroupHealthLike(Protocol):
    @property
    def server_group_id(self) -> str: ...
    @property
    def server_count(self) -> int: ...
    @property
    def non_normal(self) -> tuple[NonNormalLike, ...]: ...


class MemberLike(Protocol):
    @property
    def server_id(self) -> str: ...
    @property
    def port(self) -> int | None: ...


State = Literal["healthy", "waiting", "unhealthy"]
_BAD = ("Unhealthy", "Unused", "Unavailable")
_REASONS = {"Unused": "weight 0 (or outside the ALB's zones): gets no traffic",
            "Unavailable": "health check disabled on the server group"}


def _reason(s: NonNormalLike) -> str | None:
    if s.reason_code:
        extra = ""
        if s.expected_response or s.actual_response:
            extra = f" (expected {s.expected_response or '?'}, got {s.actual_response or '?'})"
        return s.reason_code + extra
    return _REASONS.get(s.status)


def assess(groups: Sequence[GroupHealthLike], servers: Mapping[str, Sequence[MemberLike]],
           expected: int) -> tuple[State, HealthResult]:
    """Pure: the listener health from ``GetListenerHealthStatus`` groups, the groups' members
    (``ListServerGroupServers``, by group id) and the number of servers the input names.

    ``healthy``: no non-normal server and every group's ``ServerCount`` (sum) ≥ ``expected``;
    ``unhealthy``: some server ``Unhealthy``/``Unused``/``Unavailable``; ``waiting`` otherwise
    (``Initial``, servers still being added)."""
    non_normal: list[BackendHealth] = []
    bad: dict[tuple[str, int], NonNormalLike] = {}
    for g in groups:
        for s in g.non_normal:
            bad[(s.server_id, s.port or 0)] = s
            non_normal.append(BackendHealth(server_id=s.server_id, port=s.port or 0, status=s.status,
                                            reason=_reason(s)))
    backends: list[BackendHealth] = []
    for members in servers.values():
        for m in members:
            found = bad.get((m.server_id, m.port or 0))
            backends.append(BackendHealth(server_id=m.server_id, port=m.port or 0,
                                          status=found.status if found is not None else "Healthy",
                                          reason=_reason(found) if found is not None else None))
    count = sum(g.server_count for g in groups)
    healthy = bool(groups) and not non_normal and count >= expected
    state: State = "healthy" if healthy else ("unhealthy" if any(b.status in _BAD for b in non_normal)
                                              else "waiting")
    return state, HealthResult(healthy=healthy, backends=backends, non_normal=non_normal)

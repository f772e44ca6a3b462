"""Two starts for one listener that both pass the pre-start check: exactly one runs.

The race that made ``tests/reliability/test_concurrency.py`` flaky, made deterministic: B (the
later *name*) checks and starts first, before A's ``StartExecution`` lands; A's check ran before
B's landed too, so A starts as well. The one CloudFlow started later (A) must stop itself and be
refused — yielding by name let both run.
"""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from shared.core.clock import FixedClock
from shared.core.errors import AlbMtlsError, Code
from shared.core.settings import Settings
from shared.steps import provisioning
from shared.steps.provisioning import _start_order, start_provision

T0 = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)
KEY = "alb-demostd000000000001-443"


class FakeFnf:
    """CloudFlow's executions as ListExecutions/StartExecution/StopExecution show them; each start
    lands one millisecond after the previous one."""

    def __init__(self) -> None:
        self.executions: dict[str, dict[str, Any]] = {}
        self.landed = T0
        self.hidden_once: set[str] = set()     # callers whose next list misses what has landed

    def _view(self, name: str) -> SimpleNamespace:
        e = self.executions[name]
        return SimpleNamespace(name=name, status=e["status"], started_time=e["started"], input=e["input"],
                               flow_name=e["flow"])

    def list_executions(self, flow: str, *, status: str | None = None, name_prefix: str | None = None) -> list[Any]:
        return [self._view(n) for n, e in sorted(self.executions.items())
                if e["flow"] == flow and (status is None or e["status"] == status)
                and n.startswith(name_prefix or "")]

    def start_execution(self, flow: str, name: str, input_json: str) -> SimpleNamespace:
        self.landed += timedelta(milliseconds=1)
        self.executions[name] = {"flow": flow, "status": "Running", "input": input_json,
                                 "started": self.landed.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"}
        return self._view(name)

    def stop_execution(self, flow: str, name: str, **_: Any) -> None:
        self.executions[name]["status"] = "Stopped"

    def describe_execution(self, flow: str, name: str) -> Any | None:
        return self._view(name) if name in self.executions else None


@pytest.fixture()
def fnf(monkeypatch: pytest.MonkeyPatch) -> FakeFnf:
    fake = FakeFnf()
    monkeypatch.setattr(provisioning, "_fnf", lambda settings, deadline: fake)
    return fake


def _start(inp: dict[str, Any], at: datetime) -> Any:
    return start_provision(Settings(region="cn-hangzhou", target="local"), inp, KEY, clock=FixedClock(at))


def test_the_execution_started_later_yields_even_with_the_earlier_name(fnf: FakeFnf,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = {"clients": [{"common_name": "alice"}]}, {"clients": [{"common_name": "bob"}]}
    real_running = provisioning._running
    blind = {"on": True}

    def running(settings: Settings, flow: str, prefix: str, deadline: Any) -> Any:
        if blind["on"]:                # A's pre-start check, made before B's start landed
            blind["on"] = False
            return iter(())
        return real_running(settings, flow, prefix, deadline)

    b_started = _start(b, T0 + timedelta(seconds=1))           # B: later name, first to land
    monkeypatch.setattr(provisioning, "_running", running)
    with pytest.raises(AlbMtlsError) as refused:
        _start(a, T0)                                          # A: earlier name, landed second
    assert refused.value.code == Code.EXECUTION_RUNNING
    assert refused.value.details["execution"] == b_started.name
    statuses = {n: e["status"] for n, e in fnf.executions.items()}
    assert statuses[b_started.name] == "Running"
    assert sorted(statuses.values()) == ["Running", "Stopped"]


def test_start_order_is_started_time_then_name() -> None:
    early, late = "2026-05-01T12:00:00.001Z", "2026-05-01T12:00:00.002Z"
    assert _start_order(early, "z") < _start_order(late, "a")
    assert _start_order(early, "a") < _start_order(early, "b")
    assert _start_order(late, "z") < _start_order(None, "a")          # unknown sorts last
    assert _start_order(late, "z") < _start_order("not a time", "a")

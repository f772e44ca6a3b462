"""What every ``albmtls doctor`` check shares: the ``Finding`` it returns, the ``DoctorEnv`` it reads
(the target's settings, the input, what earlier checks resolved), and how a read is observed and rated
against the local cloud's assumption (``observe``, ``verdict``, ``finish``)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.adapters.base import CallPolicy
from shared.core.errors import AlbMtlsError
from shared.core.settings import Settings
from shared.core.wait import Deadline

REPO = Path(__file__).resolve().parents[2]
ABSENT_ID = "0" * 32


@dataclass
class Finding:
    """What a check found: ``result`` ``ok`` | ``fail`` (the target contradicts a setting or an
    assumption in a way that breaks a run) | ``warn`` | ``skip`` (could not run here); ``detail``;
    ``fix`` (what to change when it is not ``ok``); ``settles``: assumption key → verdict
    (``confirmed: …`` / ``contradicted: …`` / ``not seen: …``)."""

    check: str
    result: str
    detail: str
    fix: str = ""
    settles: dict[str, str] = field(default_factory=dict)
    observed: dict[str, Any] = field(default_factory=dict)


@dataclass
class DoctorEnv:
    """What the checks share: the settings of the target, the provision input (``-f``), the result of
    earlier checks (a check may use what another resolved)."""

    settings: Settings
    target: str
    inp: Any = None                 # shared.policy.contracts.ProvisionInput
    raw: dict[str, Any] | None = None
    resolved: Any = None            # shared.policy.ids.ResolvedCa of the input's sub-CA

    def adapter(self, cls: type) -> Any:
        return cls(CallPolicy(Deadline(60), pca_qps=self.settings.pca_qps), settings=self.settings)


@dataclass
class Observed:
    """One read: ``ok`` with its ``value``, or the cloud's ``code`` and HTTP ``status``."""

    ok: bool
    value: Any = None
    code: str | None = None
    status: int | None = None

    def shows(self) -> str:
        return "answered" if self.ok else f"{self.code} (HTTP {self.status})"


def observe(adapter: Any, op: str, fn: Callable[[Any], Any]) -> Observed:
    """``fn(client)`` through the adapter's call policy: its value, or the cloud's code and status."""
    client = adapter.client
    try:
        return Observed(True, adapter.call(op, lambda: fn(client)))
    except AlbMtlsError as err:
        if err.retryable:
            raise
        return Observed(False, code=err.cloud_code or err.code, status=err.status_code)


def verdict(obs: Observed, code: str, status: int) -> str:
    """``confirmed`` when the target answered ``code``/``status``, else ``contradicted: …``."""
    if obs.ok:
        return "contradicted: the call succeeded"
    if obs.code == code and obs.status == status:
        return f"confirmed: {code} (HTTP {status})"
    return f"contradicted: the target answers {obs.shows()}, the local cloud {code} (HTTP {status})"


def fix_for(key: str) -> str:
    product, kind, *rest = key.split(":")
    if kind == "code":
        return (f"change the code in localcloud/products/{product}/exceptions.py to what the account answered, and "
                "its handling in shared/ if the product branches on it")
    return f"update localcloud/products/{product}/models.py ASSUMPTIONS (and the product) to what was seen"


def finish(name: str, settles: dict[str, str], detail: str, observed: dict[str, Any] | None = None) -> Finding:
    """A finding from what a check settled: ``warn`` (with the fix) when the target contradicts an assumption."""
    bad = [k for k, v in settles.items() if v.startswith("contradicted")]
    return Finding(name, "warn" if bad else "ok", detail, "; ".join(f"{k}: {fix_for(k)}" for k in bad),
                   settles, observed or {})


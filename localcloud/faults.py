"""Latency, fault injection and QPS limits for the local cloud (settable at start and at run
time through the admin endpoint ``POST /_admin/faults``).

A rule matches actions by product and action name (``*`` wildcards) and applies, at ``rate``
(0..1), one of the kinds:

- ``throttle``: the product's throttling answer (``Product.throttle``: ``Throttling.User`` 400 with an
  ``x-acs-retry-after`` header of ``retry_after_ms``; KMS ``Rejected.Throttling`` 429 without one)
- ``5xx``: ``ServiceUnavailable`` (503)
- ``busy``: the product's busy code (``Product.busy_code``: ``IncorrectStatus.Listener`` for ALB,
  ``LastOperationNotFinished`` for Alidns, ``SystemBusy`` otherwise) or the rule's ``code`` (with
  its ``message`` and ``status`` when given: ALB's internal ``-21020`` travels in a message)
- ``drop``: the connection is closed before the request is processed
- ``drop_after``: the request is processed (a write takes effect) and the connection is closed
  without a response
- ``timeout_after``: processed, then the response is held back ``hold_ms`` before closing

``latency_ms: [lo, hi]`` adds a uniform delay to every matching call. ``qps`` per product caps
the request rate (token bucket; by default the products' documented quotas, ``Product.qps``), and
the documented per-action limits (``Product.quotas``, e.g. ALB listener writes 200/60 s) apply
unless ``"quotas": false``; excess calls get the product's throttling answer.
"""
from __future__ import annotations

import fnmatch
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from . import errors

KINDS = ("throttle", "5xx", "busy", "drop", "drop_after", "timeout_after")


def default_qps() -> dict[str, float]:
    """The products' documented request quotas (``Product.qps``), enforced unless configured."""
    from .products import PRODUCTS
    return {p.key: p.qps for p in PRODUCTS if p.qps}


def busy_code(product: str) -> str:
    from .products import BY_KEY
    found = BY_KEY.get(product)
    return found.busy_code if found else "SystemBusy"


def throttled(product: str, retry_after_ms: int) -> errors.Throttling:
    """The product's answer to a throttled call (``Product.throttle``)."""
    from .products import BY_KEY
    from .registry import Throttle
    found = BY_KEY.get(product)
    t = found.throttle if found else Throttle()
    return errors.Throttling(t.message, code=t.code, status=t.status,
                             retry_after_ms=retry_after_ms if t.retry_after else None)


def _quotas(product: str) -> tuple:
    from .products import BY_KEY
    found = BY_KEY.get(product)
    return found.quotas if found else ()


@dataclass
class FaultRule:
    kind: str
    rate: float = 1.0
    product: str = "*"
    action: str = "*"
    writes_only: bool = False
    code: str | None = None
    message: str | None = None     # busy: the error message (default: the generic one)
    status: int | None = None      # busy: the HTTP status (default 400)
    retry_after_ms: int = 200
    hold_ms: int = 1000
    remaining: int | None = None  # apply at most N times

    def matches(self, product: str, action: str, write: bool) -> bool:
        if self.writes_only and not write:
            return False
        return fnmatch.fnmatchcase(product, self.product) and fnmatch.fnmatchcase(action, self.action)


@dataclass
class Decision:
    kind: str | None = None
    error: errors.ApiError | None = None
    hold_ms: int = 0


class _Bucket:
    """``qps`` tokens a second, at most ``burst`` (default ``qps``: one second's worth) at once."""

    def __init__(self, qps: float, burst: float | None = None) -> None:
        self.qps = qps
        self.burst = burst if burst is not None else qps
        self.tokens = self.burst
        self.last = time.monotonic()

    def take(self) -> float:
        """0 if a token was taken, else seconds until one is available."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.last) * self.qps)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.qps


@dataclass
class Faults:
    """The fault, latency and QPS configuration (see module doc)."""

    rules: list[FaultRule] = field(default_factory=list)
    latency: dict[str, tuple[float, float]] = field(default_factory=dict)  # "product:action" glob → (lo, hi) ms
    qps: dict[str, float] = field(default_factory=default_qps)
    seed: int | None = None
    quotas: bool = True           # enforce the products' documented per-action quotas
    injected: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(self.seed)
        self._buckets: dict[str, _Bucket] = {}

    # -- configuration ----------------------------------------------------------------
    def configure(self, spec: dict[str, Any]) -> None:
        """Replace the configuration from a JSON spec:
        ``{"rules": [{kind, rate, product, action, writes_only, code, retry_after_ms, hold_ms}],
        "latency_ms": {"alb:*": [100, 300]}, "qps": {"pca": 10}, "seed": 1}``."""
        with self._lock:
            if "rules" in spec:
                rules = [FaultRule(**r) for r in spec["rules"]]
                for r in rules:
                    if r.kind not in KINDS:
                        raise ValueError(f"unknown fault kind {r.kind!r}; known: {', '.join(KINDS)}")
                    if not 0.0 <= float(r.rate) <= 1.0:
                        raise ValueError(f"fault rate {r.rate!r} is not between 0 and 1")
                self.rules = rules
            if "latency_ms" in spec:
                self.latency = {k: (float(v[0]), float(v[1])) for k, v in spec["latency_ms"].items()}
            if "qps" in spec:
                self.qps = {k: float(v) for k, v in spec["qps"].items() if v}
                self._buckets = {}
            if "seed" in spec:
                self.seed = spec["seed"]
                self._rng = random.Random(spec["seed"])
            if "quotas" in spec:
                self.quotas = bool(spec["quotas"])
                self._buckets = {}

    def spec(self) -> dict[str, Any]:
        """The current configuration as a :meth:`configure` spec (for :meth:`reset`)."""
        with self._lock:
            return {"rules": [dict(r.__dict__) for r in self.rules],
                    "latency_ms": {k: list(v) for k, v in self.latency.items()},
                    "qps": dict(self.qps), "seed": self.seed, "quotas": self.quotas}

    def reset(self, spec: dict[str, Any]) -> None:
        """Back to the configuration ``spec`` (from :meth:`spec`): rules, latency, QPS caps with
        full buckets, the random sequence from its seed, and no injected counts."""
        with self._lock:
            self.rules, self.latency, self.qps = [], {}, {}
            self._buckets = {}
            self.injected.clear()
        self.configure(spec)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": [r.__dict__ for r in self.rules],
                "latency_ms": {k: list(v) for k, v in self.latency.items()},
                "qps": dict(self.qps),
                "quotas": self.quotas,
                "injected": dict(self.injected),
            }

    # -- per request ------------------------------------------------------------------
    def latency_for(self, product: str, action: str) -> float:
        """Seconds of injected latency for this call."""
        with self._lock:
            for pattern, (lo, hi) in self.latency.items():
                if fnmatch.fnmatchcase(f"{product}:{action}", pattern):
                    return self._rng.uniform(lo, hi) / 1000.0
        return 0.0

    def check_qps(self, product: str, action: str = "") -> None:
        """Raise the product's throttling answer when its QPS cap, or a documented per-action
        quota (``Product.quotas``), is exceeded."""
        wait = 0.0
        with self._lock:
            qps = self.qps.get(product)
            if qps:
                wait = self._buckets.setdefault(product, _Bucket(qps)).take()
            if not wait and self.quotas and action:
                for q in _quotas(product):
                    if fnmatch.fnmatchcase(action, q.action):
                        key = f"{product}:{q.action}"
                        wait = self._buckets.setdefault(key, _Bucket(q.count / q.window_s, q.count)).take()
                        break
            if wait > 0:
                self.injected["qps_throttle"] = self.injected.get("qps_throttle", 0) + 1
        if wait > 0:
            raise throttled(product, max(1, int(wait * 1000) + 1))

    def decide(self, product: str, action: str, write: bool) -> Decision:
        with self._lock:
            for rule in self.rules:
                if not rule.matches(product, action, write):
                    continue
                if rule.remaining is not None and rule.remaining <= 0:
                    continue
                if self._rng.random() >= rule.rate:
                    continue
                if rule.remaining is not None:
                    rule.remaining -= 1
                self.injected[rule.kind] = self.injected.get(rule.kind, 0) + 1
                return self._decision(rule, product, action)
        return Decision()

    def _decision(self, rule: FaultRule, product: str, action: str) -> Decision:
        if rule.kind == "throttle":
            return Decision("throttle", throttled(product, rule.retry_after_ms))
        if rule.kind == "5xx":
            return Decision("5xx", errors.ServiceUnavailable())
        if rule.kind == "busy":
            return Decision("busy", errors.InjectedBusy(rule.code or busy_code(product), rule.message, rule.status))
        if rule.kind in ("drop", "drop_after"):
            return Decision(rule.kind)
        if rule.kind == "timeout_after":
            return Decision(rule.kind, hold_ms=rule.hold_ms)
        raise ValueError(f"unknown fault kind {rule.kind!r}")

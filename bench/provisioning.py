"""Benchmark 1 — provisioning wall time against its physical floor (issue 19; docs/PERFORMANCE.md).

One full provisioning run (``workflows/provision.yaml`` on the local cloud's fnf service, the real
step functions, the real SDK clients) with a cloud-like latency profile: every API call gets a
uniform ``latency_ms`` delay, ALB asynchronous jobs take ``job_s`` seconds, the health checker
probes at the server group's configured interval (``health_scale``).

*Wall time* — from the execution's ``ExecutionStarted`` to its ``ExecutionSucceeded`` event
(``wall_from_request_s``: from the ``start_provision`` call, which also places the CA's check
order in the issuing lane beside the execution).

*Floor* — what the cloud makes unavoidable, whatever the client does::

    floor = ALB jobs in series × job_s + SEQUENTIAL_CALLS × the lowest latency

The ALB jobs of a first run (``CreateServerGroup``, ``AddServersToServerGroup``,
``CreateListener``) each need the previous one's result, so they are in series; the backends turn
healthy during the listener's job. :data:`SEQUENTIAL_CALLS` are the round trips that need an
earlier answer (:data:`SEQUENTIAL_CALLS_WHY`). ``ratio = wall ÷ floor``, budget 1.2.

The critical path below is kept as a second figure: what this run's own calls and waits could not
overlap (it says how much of the ratio is the client's and how much the cloud's latency).

*Critical path* — the latencies and waits that cannot overlap, from the same run's recorded data
(the emulator's call log ``duration_ms``, which includes the injected latency; the ALB job
windows; the health checker's transitions)::

    critical = preflight
             + max(record, issue, cname, enable, enable_until_listener + health_wait)
             + health_after_healthy + probe

* ``preflight``, ``record``, ``issue``, ``cname``: the sum of the durations of that step's calls
  (a step's calls are sequential; the CNAME step's propagation wait is included through its DNS
  answers, which the local DNS server gives at once);
* ``enable``: the length of the union of the enable step's call intervals and the ALB job
  windows its writes started (a status read during a job is hidden by the job; a read after the
  job's end is not);
* ``enable_until_listener``: the same, up to the end of the listener write
  (``CreateListener``/``UpdateListenerAttribute``), after which the health checker starts;
* ``health_wait``: from that write to the moment every backend is ``Healthy`` (the emulator's
  health-check interval × ``HealthyThreshold`` timing);
* ``health_after_healthy``: the durations of the health step's calls that end after every
  backend became healthy; ``probe``: the live mTLS probe (DNS + TLS handshakes), measured around
  ``shared.adapters.probe.run_probe``.

Client-side work (SDK request building, key generation, PFX), FC invocation overhead, CloudFlow
``Wait`` states, polling overshoot and idle gaps are *not* in the critical path: they are what
the ratio measures.

Calls are attributed to steps by wrapping ``StepContext.call`` (client side: step, action,
start, end) and matching each emulator call by action and time containment.
"""
from __future__ import annotations

import importlib
import json
import os
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator

REPO = Path(__file__).resolve().parent.parent

#: Cloud-like latency profile (ms, uniform) applied to every product.
CLOUD_LATENCY_MS = (100.0, 300.0)
STEPS = ("preflight", "record_desired_state", "issue_client_cert", "offboard_client", "enable_mutual_auth",
         "create_cname", "health_check", "issuer", "deliver")
ALB_WRITES = {"CreateServerGroup", "AddServersToServerGroup", "CreateListener", "UpdateListenerAttribute"}
LISTENER_WRITES = {"CreateListener", "UpdateListenerAttribute"}
FUNCTIONS = ("preflight", "record_desired_state", "issue_client_cert", "offboard_client", "enable_mutual_auth",
             "create_cname", "health_check", "deliver")
SDK_CLIENTS = ("alb", "cas", "pca", "alidns", "kms")
#: The round trips a provisioning run cannot overlap (the issue's count: 18.8 s against 10.1 s).
SEQUENTIAL_CALLS_WHY = (
    "preflight: the ALB, its listener, groups, certificate, zone, records, TLS policy (one round)",
    "preflight: the members of the group in the ALB's VPC (needs its id)",
    "enable: the same reads again (the listener may have changed since)",
    "CreateServerGroup", "the group's job seen ended", "AddServersToServerGroup", "the members' job seen ended",
    "CreateListener", "the listener's job seen ended (its read-back)",
    "health: GetListenerHealth of the listener once it serves",
    "probe: the name server's answer and the mTLS handshake",
    "deliver: the holder's link recorded (its hash: the download page checks it) as the email goes out — "
    "only once the listener works with the certificate",
)
SEQUENTIAL_CALLS = len(SEQUENTIAL_CALLS_WHY)
BUDGET = 1.2


def _union_length(intervals: list[tuple[float, float]]) -> float:
    total = 0.0
    cur: tuple[float, float] | None = None
    for s, e in sorted(intervals):
        if cur is None or s > cur[1]:
            if cur is not None:
                total += cur[1] - cur[0]
            cur = (s, e)
        else:
            cur = (cur[0], max(cur[1], e))
    if cur is not None:
        total += cur[1] - cur[0]
    return total


class _Tracer:
    """Client-side trace of every ``StepContext.call`` and ``shared.adapters.probe.run_probe``."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.probes: list[tuple[float, float]] = []
        self.lock = threading.Lock()

    @contextmanager
    def installed(self) -> Iterator[_Tracer]:
        from shared.adapters import probe
        from shared.entry import handler
        orig_call, orig_probe = handler.StepContext.call, probe.run_probe
        tracer = self

        def call(ctx, op_name, fn, *, product=None):
            t0 = time.time()
            try:
                return orig_call(ctx, op_name, fn, product=product)
            finally:
                with tracer.lock:
                    tracer.calls.append({"step": ctx.step, "op": op_name, "t0": t0, "t1": time.time()})

        def run_probe(*a, **kw):
            t0 = time.time()
            try:
                return orig_probe(*a, **kw)
            finally:
                with tracer.lock:
                    tracer.probes.append((t0, time.time()))

        # the trace wraps every SDK call of every step: the class's method, patched for the run
        handler.StepContext.call = call  # type: ignore[method-assign]  # patched for the run (above)
        probe.run_probe = run_probe
        try:
            yield self
        finally:
            handler.StepContext.call = orig_call  # type: ignore[method-assign]  # the patch undone
            probe.run_probe = orig_probe

    def step_of(self, op: str, start: float, end: float, slack: float = 0.01) -> str | None:
        with self.lock:
            for c in self.calls:
                if c["op"] == op and c["t0"] - slack <= start and end <= c["t1"] + slack:
                    return c["step"]
        return None


class _HealthWatch:
    """Polls the emulator's ``health.server`` documents; notes when every backend is Healthy."""

    def __init__(self, cloud, expected: int, period: float = 0.01) -> None:
        self.cloud, self.expected, self.period = cloud, expected, period
        self.all_healthy_at: float | None = None
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name="bench-health-watch", daemon=True)

    def _run(self) -> None:
        end = time.monotonic() + 600
        while not self._stop.is_set() and time.monotonic() < end:
            docs = self.cloud.store.list("health.server")
            healthy = [d for d in docs if d.get("Status") == "Healthy"]
            if docs and len(healthy) >= self.expected:
                self.all_healthy_at = time.time()
                return
            self._stop.wait(self.period)

    def __enter__(self) -> _HealthWatch:
        self._t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._t.join(timeout=5)


def _warm_imports(settings) -> None:
    """Warm FC instances: handlers imported and SDK clients built before the run (cold start is
    benchmark 3)."""
    for fn in FUNCTIONS:
        importlib.import_module(f"functions.{fn}.index")
    from shared.adapters.clients import get_client
    for product in SDK_CLIENTS:
        get_client(product, settings)
    import dns.resolver  # noqa: F401 — warmed like the SDK clients: create_cname and health_check import it


def run(*, latency_ms: tuple[float, float] = CLOUD_LATENCY_MS, job_s: float = 3.0, health_scale: float = 1.0,
        seed: int = 7, timeout: float = 300.0, state_dir: Path | None = None,
        input_file: Path = REPO / "examples" / "provision.json") -> dict[str, Any]:
    """Run one provisioning and return the figures (see module doc)."""
    from localruntime.cloud import LocalCloud
    from localruntime.cloud import Settings as CloudSettings
    from localruntime.ports import free_offset
    from shared.core import logs
    from shared.core.settings import Settings
    from shared.steps.provisioning import PROVISION_FLOW, deploy_flows, start_provision

    tmp = None
    if state_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="albmtls-bench-")
        state_dir = Path(tmp.name)
    raw = json.loads(Path(input_file).read_text())
    from albmtls.provision import load_input
    _, inp = load_input(Path(input_file))
    old_env = {k: os.environ.get(k) for k in ("ALBMTLS_ENDPOINTS_FILE", "ALBMTLS_TARGET")}
    log_stream = open(Path(state_dir) / "functions.log", "a", buffering=1, encoding="utf-8")
    logs.configure(stream=log_stream)
    cloud = LocalCloud(state_dir, seed="demo",
                       settings=CloudSettings(alb_job_seconds=job_s, health_scale=health_scale,
                                              port_offset=free_offset((inp.listener_port,)))).start()
    try:
        ep = Path(state_dir) / "endpoints.json"
        cloud.write_endpoints(ep)
        os.environ["ALBMTLS_ENDPOINTS_FILE"] = str(ep)
        os.environ["ALBMTLS_TARGET"] = "local"
        settings = Settings.load(target="local", endpoints_file=str(ep))
        _warm_imports(settings)
        events: list[tuple[str, str, float]] = []
        # the provisioning execution's own events (the issuing lane's orders run beside it)
        cloud.runtime["flow_on_event"] = lambda flow, name, ev: events.append((ev["type"], ev["state"], time.time())) \
            if flow == PROVISION_FLOW else None
        deploy_flows(settings, REPO / "workflows")
        cloud.faults.configure({"latency_ms": {"*:*": list(latency_ms)}, "seed": seed})
        n0 = cloud.store.last_call_n()
        tracer = _Tracer()
        with tracer.installed(), _HealthWatch(cloud, expected=len(inp.server_group.servers)) as watch:
            # the run starts when it is asked for: start_provision places the CA's check order in the
            # issuing lane first, then the execution — both count
            events.append(("Requested", "", time.time()))
            started = start_provision(settings, raw, inp.listener_key)
            svc = cloud.runtime["fnf_service"]
            end = time.monotonic() + timeout
            doc = None
            while time.monotonic() < end:
                doc = svc.get(PROVISION_FLOW, started.name)
                if doc and doc.get("Status") not in ("Running", "Starting"):
                    break
                time.sleep(0.05)
        cloud.faults.configure({"latency_ms": {}})
        status = (doc or {}).get("Status")
        if status != "Succeeded":
            raise RuntimeError(f"provisioning did not succeed: {status} {(doc or {}).get('error')}")
        calls = [c for c in cloud.store.calls(n0) if c["product"] != "fnf"]
        jobs = cloud.store.list("alb.job")
        offset = cloud.clock.offset
        return analyse(events, calls, jobs, offset, tracer, watch.all_healthy_at,
                       profile={"latency_ms": list(latency_ms), "alb_job_seconds": job_s,
                                "health_scale": health_scale,
                                "health_check": {"interval_s": inp.server_group.health_check.interval,
                                                 "healthy_threshold": inp.server_group.health_check.healthy_threshold},
                                "seed": seed})
    finally:
        cloud.runtime.pop("flow_on_event", None)
        cloud.stop()
        logs.configure()
        log_stream.close()
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if tmp is not None:
            tmp.cleanup()


def analyse(events, calls, jobs, clock_offset: float, tracer: _Tracer, all_healthy_at: float | None,
            profile: dict[str, Any]) -> dict[str, Any]:
    """The figures of one run (see module doc for the definitions)."""
    t_requested = next((t for ty, _, t in events if ty == "Requested"), None)
    t_start = next(t for ty, _, t in events if ty == "ExecutionStarted")
    t_end = next(t for ty, _, t in events if ty in ("ExecutionSucceeded", "ExecutionFailed"))
    wall = t_end - t_start

    per_step: dict[str, list[dict[str, Any]]] = {s: [] for s in STEPS}
    unattributed = 0
    for c in calls:
        end = c["ts"]
        start = end - c["duration_ms"] / 1000.0
        op = f"{c['product']}:{c['action']}"
        step = tracer.step_of(op, start, end)
        if step not in per_step:
            unattributed += 1
            continue
        per_step[step].append({**c, "start": start, "end": end, "op": op})

    def total(step: str) -> float:
        return sum(c["duration_ms"] for c in per_step[step]) / 1000.0

    # ALB job windows started by the enable step's writes (cloud clock → time.time()).
    enable = per_step["enable_mutual_auth"]
    windows = []
    for j in jobs:
        s = float(j["CreateTime"]) / 1000.0 - clock_offset
        e = float(j["done_at_s"]) - clock_offset
        if t_start <= s <= t_end:
            windows.append((s, e))
    enable_iv = [(c["start"], c["end"]) for c in enable]
    enable_crit = _union_length(enable_iv + windows)
    lw = [c for c in enable if c["action"] in LISTENER_WRITES and c["code"] == "OK"]
    listener_write_end = lw[-1]["end"] if lw else None
    if listener_write_end is not None:
        until = [(s, min(e, listener_write_end)) for s, e in enable_iv + windows if s < listener_write_end]
        enable_until_listener = _union_length(until)
    else:
        enable_until_listener = enable_crit
    health_wait = 0.0
    if all_healthy_at is not None and listener_write_end is not None:
        health_wait = max(0.0, all_healthy_at - listener_write_end)
    hc = per_step["health_check"]
    healthy_at = all_healthy_at or t_start
    health_after = sum(c["duration_ms"] for c in hc if c["end"] > healthy_at) / 1000.0
    probe = sum(e - s for s, e in tracer.probes)

    pre, issue, cname = total("preflight"), total("issue_client_cert"), total("create_cname")
    # the branches of the Parallel: the issue branch (IssueClientCert, its order's calls in the
    # issuer) and ReconcileClients (albmtls-offboard-client) beside it
    branches = {"record_desired_state": total("record_desired_state"),
                "issue_client_cert": issue + total("issuer"), "reconcile_clients": total("offboard_client"),
                "create_cname": cname, "enable_mutual_auth": enable_crit,
                "enable_until_listener+health_wait": enable_until_listener + health_wait}
    longest = max(branches, key=lambda b: branches[b])
    # the delivery follows the health check (the holders get a certificate that works): its calls add up
    critical = pre + branches[longest] + health_after + probe + total("deliver")

    # the floor: the ALB jobs this run started (each needs the previous one's result) and the
    # round trips that need an earlier answer, at the lowest latency of the profile
    n_jobs = len(windows)
    lat_lo = float(profile["latency_ms"][0]) / 1000.0
    job_s = float(profile["alb_job_seconds"])
    floor = n_jobs * job_s + SEQUENTIAL_CALLS * lat_lo

    reads = sum(1 for c in calls if not c["write"])
    writes = sum(1 for c in calls if c["write"])
    by_step = {s: {"reads": sum(1 for c in per_step[s] if not c["write"]),
                   "writes": sum(1 for c in per_step[s] if c["write"]),
                   "call_s": round(total(s), 3)} for s in STEPS}
    invocations: dict[str, int] = {}
    waits = 0
    for ty, state, _ in events:
        name = state.rsplit("/", 1)[-1]
        if ty == "TaskScheduled":
            invocations[name] = invocations.get(name, 0) + 1
        if ty == "StateEntered" and name.startswith("WaitFor"):
            waits += 1
    timeline = [{"t": round(t - t_start, 3), "event": ty, "state": state.rsplit("/", 1)[-1]}
                 for ty, state, t in events if ty in ("TaskScheduled", "TaskSucceeded", "TaskFailed")]
    steps_span = {s: [round(min(c["start"] for c in per_step[s]) - t_start, 3),
                      round(max(c["end"] for c in per_step[s]) - t_start, 3)] for s in STEPS if per_step[s]}
    return {
        "wall_s": round(wall, 3),
        "wall_from_request_s": round(t_end - t_requested, 3) if t_requested is not None else None,
        "floor_s": round(floor, 3),
        "floor_formula": f"{n_jobs} ALB jobs × {job_s:g} s + {SEQUENTIAL_CALLS} sequential calls × "
                         f"{lat_lo * 1000:g} ms",
        "ratio": round(wall / floor, 3) if floor else None,
        "budget": BUDGET,
        "critical_path_s": round(critical, 3),
        "wall_over_critical_path": round(wall / critical, 3) if critical else None,
        "timeline": timeline, "steps_span": steps_span,
        "components_s": {"preflight": round(pre, 3), **{k: round(v, 3) for k, v in branches.items()},
                         "enable_until_listener": round(enable_until_listener, 3),
                         "health_wait": round(health_wait, 3), "health_after_healthy": round(health_after, 3),
                         "probe": round(probe, 3), "longest_branch": longest},
        "api_calls": {"total": len(calls), "reads": reads, "writes": writes,
                      "errors": sum(1 for c in calls if c["code"] not in ("OK",)),
                      "unattributed": unattributed, "by_step": by_step},
        "invocations": invocations,
        "flow_waits": waits,
        "profile": profile,
    }


if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(run(), indent=2))

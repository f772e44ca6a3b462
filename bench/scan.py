"""Benchmark 2 — the rotation scan at scale (docs/DECISIONS.md §6; issue 19).

Two ways in:

* :func:`load` / :func:`scan_once` on an in-process local cloud (``tests/perf/test_scan_scale.py``
  and ``python -m bench.scan --count 10000``);
* :func:`run` (``python -m bench``): the local cloud in a child process, so that the memory
  figures are the scanning process's alone — described below.

The local cloud runs in a child process (:mod:`bench.scan_cloud`) holding ``N`` client
certificates of this automation (valid, not due); the CAS/PCA quota of 10 requests/s is the
emulator's default (``Throttling.User`` beyond it), and every call gets a cloud-like latency
(``latency_ms``, 100–300 ms by default). This process runs the real scan — the rotation order's
slice at the issuing lane's head (``shared.steps.rotate.rotate_slice`` through an
``shared.steps.engine.Engine``: the lane's limiter, the next page read while one is handled) — and
measures:

* ``scan_s`` — wall time of one scan (nothing due: no renewal);
* ``floor_s`` — what the limit and the network impose on the pages needed: ``(pages - 1) / qps +
  latency_lo`` with ``pages = ceil(N / page)`` (the first request at once, then one every ``1/qps``
  s, and the last answer one round trip later); ``ratio = scan_s / floor_s`` (budget 1.2);
* ``peak_kib`` — ``tracemalloc`` peak of a scan at each size, in this (scanning) process only,
  after a warm-up scan so imports and client construction are not counted; memory is flat when
  the peak at the largest size is within 1.25× (+64 KiB) of the peak at the smallest;
* ``pca_calls`` — rate-limited calls the scan made (emulator call log), and throttled answers.

Page size: ``shared.adapters.pca.LIST_PAGE_SIZE`` (100, the largest ``ShowSize`` the API
accepts): the scan is bound by the request rate, so the time is ``N / (page · qps)`` and the
biggest page is the fastest; the memory it costs is one page of items (~100 × a few KiB).
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QPS = 10.0
LISTENER_KEY = "alb-demostd000000000001-443"


# ---------------------------------------------------------------------------------------------
# in-process helpers (tests/perf/test_scan_scale.py, docs/ROTATION.md)
# ---------------------------------------------------------------------------------------------
def load(cloud, n: int, *, start: int = 0) -> float:
    """Issue ``n`` client certificates of this automation (valid, not due; custom identifiers
    numbered from ``start``) under the demo sub-CA of the in-process ``cloud``, reusing one CSR.
    Returns the seconds it took."""
    from datetime import timedelta

    from localcloud.products import pca

    from .scan_cloud import _csr_pem
    sub = cloud.endpoints()["seed"]["pca_sub_identifier"]
    csr = _csr_pem(str((pca.ca_doc(cloud.store, sub) or {}).get("KeyAlgorithm") or "RSA"))
    now = cloud.clock.now()
    nb, na = now - timedelta(days=1), now + timedelta(days=29)
    t0 = time.perf_counter()
    for i in range(start, start + n):
        pca.issue_client_certificate(cloud, sub, csr, not_before=nb, not_after=na,
                                     custom_identifier=f"albmtls-{LISTENER_KEY}-{i:012x}")
    return time.perf_counter() - t0


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most requests in any ``window`` seconds."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


class _Head:
    """The lane as the benchmark has it: one order, always at the head (the scan's cloud runs no
    CloudFlow)."""

    def still_head(self) -> bool:
        return True


def scan_lane(settings: Any) -> Any:
    """One scan as the rotation order's head runs it (nothing due in the benchmark): the cursor
    with the counts. Source: ``shared.steps.rotate.rotate_slice``."""
    from shared.policy.orders import Cursor, RotateOrder
    from shared.steps.engine import Engine
    from shared.steps.rotate import rotate_slice
    from shared.steps.rotation import make_context

    ctx = make_context(settings, "issuer")
    cursor = Cursor()
    with Engine(ctx, order="bench-scan", secret_prefix="albmtls") as engine:
        done = rotate_slice(ctx, engine, RotateOrder(), cursor, _Head())  # type: ignore[arg-type]  # a Lane stand-in
    assert done
    return cursor


def scan_once(cloud: Any) -> dict[str, Any]:
    """One scan (:func:`scan_lane`, settings from the environment) against the in-process
    ``cloud``: ``{scanned, listed, due, list_calls, wall_s, floor_s, ratio, max_requests_in_1s,
    throttled, peak_heap_mib}`` (the heap peak includes the in-process emulator; :func:`run`
    measures the scanning process alone)."""
    from shared.core.settings import Settings
    settings = Settings.load()
    n0 = cloud.store.last_call_n()
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        cur = scan_lane(settings)
    finally:
        wall = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    pca = [c for c in cloud.store.calls(n0) if c["product"] == "pca"]
    list_calls = sum(1 for c in pca if c["action"] == "ListClientCertificate")
    floor = max(0, list_calls - 1) / QPS
    return {"scanned": cur.counts.get("scanned", 0), "listed": cur.counts.get("listed", 0),
            "due": cur.counts.get("due", 0), "list_calls": list_calls, "wall_s": round(wall, 3),
            "floor_s": round(floor, 3), "ratio": round(wall / floor, 3) if floor else None,
            "max_requests_in_1s": max_in_window([c["ts"] for c in pca]),
            "throttled": sum(1 for c in pca if c["code"].startswith("Throttling")),
            "peak_heap_mib": round(peak / 2**20, 3)}


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.scan --count N``: load N certificates in an in-process local cloud, scan
    once to warm up, scan again; print the figures (JSON)."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m bench.scan")
    ap.add_argument("--count", type=int, default=10000)
    args = ap.parse_args(argv)
    from localruntime.cloud import LocalCloud, Settings
    from shared.adapters import clients
    from shared.core import logs
    logs.configure(stream=open(os.devnull, "w"))
    with tempfile.TemporaryDirectory(prefix="albmtls-bench-scan-") as d:
        cloud = LocalCloud(Path(d) / "state", seed="demo", settings=Settings(services=())).start()
        try:
            ep = Path(d) / "state" / "endpoints.json"
            cloud.write_endpoints(ep)
            os.environ["ALBMTLS_ENDPOINTS_FILE"] = str(ep)
            os.environ["ALBMTLS_TARGET"] = "local"
            clients.clear_cache()
            loaded = load(cloud, args.count)
            scan_once(cloud)
            time.sleep(1.0)
            out = {"certificates": args.count, "load_s": round(loaded, 1), **scan_once(cloud)}
        finally:
            cloud.stop()
    print(json.dumps(out, indent=2))
    return 0


class _Cloud:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.ep = root / "endpoints.json"
        self.proc = subprocess.Popen([sys.executable, "-m", "bench.scan_cloud", "--state-dir", str(root / "state"),
                                      "--endpoints-file", str(self.ep)], cwd=REPO, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        end = time.monotonic() + 60
        while not self.ep.exists():
            if self.proc.poll() is not None or time.monotonic() > end:
                raise RuntimeError("the scan benchmark's local cloud did not start")
            time.sleep(0.05)
        self.endpoints = json.loads(self.ep.read_text())

    def load(self, n: int) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(f"load {n}\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def faults(self, spec: dict[str, Any]) -> None:
        req = urllib.request.Request(f"{self.endpoints['admin']}/faults", data=json.dumps(spec).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()

    def calls(self, since: int = 0) -> list[dict[str, Any]]:
        with urllib.request.urlopen(f"{self.endpoints['admin']}/calls?since={since}", timeout=30) as r:
            return json.loads(r.read())["calls"]

    def close(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.close()
            self.proc.wait(timeout=15)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=5)


def _scan_once(settings: Any, *, trace: bool) -> tuple[float, int | None, Any]:
    if trace:
        tracemalloc.start()
        tracemalloc.reset_peak()
    t0 = time.perf_counter()
    try:
        cur = scan_lane(settings)
    finally:
        elapsed = time.perf_counter() - t0
        peak = None
        if trace:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
    return elapsed, peak, cur


def run(*, sizes: tuple[int, ...] = (1000, 10000), timed: int | None = None,
        latency_ms: tuple[float, float] = (100.0, 300.0), seed: int = 5) -> dict[str, Any]:
    """Memory at every size of ``sizes`` (ascending); scan time at ``timed`` (default the largest),
    every call ``latency_ms`` away (uniform, fixed seed)."""
    from shared.adapters.pca import LIST_PAGE_SIZE
    from shared.core import logs
    from shared.core.settings import Settings
    sizes = tuple(sorted(sizes))
    timed = timed or sizes[-1]
    old = {k: os.environ.get(k) for k in ("ALBMTLS_ENDPOINTS_FILE", "ALBMTLS_TARGET")}
    tmp = tempfile.TemporaryDirectory(prefix="albmtls-bench-scan-")
    logs.configure(stream=open(os.devnull, "w"))
    cloud = _Cloud(Path(tmp.name))
    try:
        os.environ["ALBMTLS_ENDPOINTS_FILE"] = str(cloud.ep)
        os.environ["ALBMTLS_TARGET"] = "local"
        settings = Settings.load(target="local", endpoints_file=str(cloud.ep))
        memory: dict[str, Any] = {}
        load_s = 0.0
        timing: dict[str, Any] = {}
        for n in sizes:
            loaded = cloud.load(n)
            load_s += loaded["seconds"]
            if n == sizes[0]:
                _scan_once(settings, trace=False)          # warm-up: imports, clients, connections
            time.sleep(1.0)                                 # a full bucket, as a daily scan finds it
            _, peak, res = _scan_once(settings, trace=True)
            assert peak is not None  # traced
            memory[str(n)] = {"peak_kib": round(peak / 1024, 1), "listed": res.counts.get("listed", 0)}
            if n == timed:
                cloud.faults({"latency_ms": {"*:*": list(latency_ms)}, "seed": seed})
                time.sleep(1.0)
                n0 = max((c["n"] for c in cloud.calls()), default=0)
                elapsed, _, res = _scan_once(settings, trace=False)
                cloud.faults({"latency_ms": {}})
                pca = [c for c in cloud.calls(n0) if c["product"] == "pca"]
                pages = math.ceil(n / LIST_PAGE_SIZE)
                floor = (pages - 1) / QPS + latency_ms[0] / 1000
                timing = {"certificates": n, "listed": res.counts.get("listed", 0), "scan_s": round(elapsed, 3),
                          "pages": pages, "floor_s": round(floor, 3),
                          "floor": f"({pages} pages − 1) ÷ {QPS:g}/s + one round trip ({latency_ms[0]:g} ms)",
                          "ratio": round(elapsed / floor, 3), "latency_ms": list(latency_ms),
                          "pca_calls": len(pca), "by_action": dict(sorted(Counter(c["action"] for c in pca).items())),
                          "max_requests_in_1s": max_in_window([c["ts"] for c in pca]),
                          "throttled": sum(1 for c in pca if c["code"].startswith("Throttling"))}
        lo, hi = memory[str(sizes[0])]["peak_kib"], memory[str(sizes[-1])]["peak_kib"]
        return {**timing, "budget": 1.2, "qps": QPS, "page_size": LIST_PAGE_SIZE,
                "page_size_why": "largest ShowSize ListClientCertificate accepts; the scan is rate-bound, so "
                                 "time = N/(page·qps) and memory is one page",
                "memory": memory, "memory_growth": round(hi / lo, 3) if lo else None,
                "memory_flat": hi <= 1.25 * lo + 64, "load_s": round(load_s, 1)}
    finally:
        cloud.close()
        logs.configure()
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        tmp.cleanup()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

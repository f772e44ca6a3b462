"""Benchmarks 4–6 — the issuing lane at fleet scale (issue 19; issue 16 point 3), one run:

1. **First issue** of ``N`` holders on one listener: one provisioning (``albmtls provision``'s
   path: ``start_provision`` → the provision flow → its order in the issuing lane), N clients.
2. **Second apply** of the same input: zero writes.
3. **Rotation** of the same N certificates once due (the clock moved to day 21): the day's
   rotation order (``albmtls rotate``'s path) — seeded by step 1 through the product's own public
   path, so every certificate carries what a real run stores (PFX, password, record).

The local cloud runs in this process with every service; every API call of every product gets a
cloud-like latency (``latency_ms``, uniform, fixed seed); the emulator enforces the PCA's
documented 10 requests/s (``Throttling.User`` beyond it: every throttled answer is in the call log).
Figures, per part:

* ``wall_s`` — from the execution's ``ExecutionStarted`` to its end (the provisioning execution
  for 1 and 2, the rotation order for 3; the order's own wall beside it);
* ``floor_s`` — what the PCA quota alone imposes, with its formula: first issue ``N ÷ 10/s``
  (issue 16), rotation ``(renewals + list pages) ÷ 10/s`` (issue 19), second apply ``(1 + ⌈(N − 16)/50⌉
  status reads + 7 CA reads)`` is what it may read of the PCA (no ratio: its wall is the provisioning
  steps' reads, and what counts is zero writes); ``ratio = wall_s / floor_s``;
* ``pca`` — PCA calls by action, ``throttled`` answers, the most PCA requests in any 1-second
  window (server side); calls per certificate by product and action, each with its reason
  (:data:`REASONS`); product writes; new certificates; revocations;
* ``largest_state_bytes`` — the largest state input/output of the executions (CloudFlow's limit:
  64 KiB; the local runner fails an execution over it).
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
QPS = 10.0
STATE_LIMIT = 64 * 1024

#: why each call is made per certificate (docs/PERFORMANCE.md "Calls per certificate")
REASONS: dict[str, str] = {
    "pca:CreateClientCertificateWithCsr": "the issue itself (Immediately=1: the answer carries the certificate)",
    "pca:DescribeClientCertificateStatus": "the stored certificates' status, 50 per call (is it still issued?)",
    "pca:ListClientCertificate": "the scan: 100 certificates per page; a provisioning run reads the CA's list "
                                 "twice, every page: its check order in the lane (a CN differing only in "
                                 "letter case from a holder) and ReconcileClients outside it (orphans)",
    "pca:DescribeCACertificate": "the sub-CA's facts, once per order and invocation (not per certificate)",
    "pca:GetCAInstanceStatus": "the PCA subscription's end, once per order and invocation",
    "pca:ListPcaCaCertificate": "resolving the sub-CA's two identifiers, once per check",
    "pca:DescribeCACertificateList": "resolving the sub-CA's two identifiers, once per check",
    "pca:DescribeClientCertificate": "only to recover a certificate an earlier attempt issued (none here)",
    "pca:CreateRevokeClientCertificate": "retirement when asked (revoke_old); none by default",
    "kms:GetSecretValue": "the client's record (1: reuse or renew?), the key log (once per invocation), the "
                          "read-back of the three secrets stored (3: another writer? DRIFT_AFTER_APPLY), and a "
                          "renewal's delivery record (1: does a holder get a new link?)",
    "kms:CreateSecret": "the three secrets of a first issue (password, PFX, record); the key log's first version",
    "kms:PutSecretValue": "the three secrets' new versions of a renewal; the key log, one write per 32 keys",
}


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    from bench.scan import max_in_window
    return max_in_window(times, window)


def _wait(svc: Any, flow: str, name: str, timeout: float) -> dict[str, Any]:
    end = time.monotonic() + timeout
    doc: dict[str, Any] | None = None
    while time.monotonic() < end:
        doc = svc.get(flow, name)
        if doc and doc.get("Status") not in ("Running", "Starting"):
            return doc
        time.sleep(0.1)
    raise RuntimeError(f"{flow}/{name} still running after {timeout:.0f} s")


def _span(events: list[tuple[str, str, str, float]], flow: str, name: str) -> float:
    t0 = next(t for f, n, ty, t in events if f == flow and n == name and ty == "ExecutionStarted")
    t1 = next(t for f, n, ty, t in events
              if f == flow and n == name and ty.startswith("Execution") and ty != "ExecutionStarted")
    return t1 - t0


def _slices(events: list[tuple[str, str, str, float]], flow: str, name: str) -> dict[str, int]:
    """How the order's issuer invocations ended (``TaskSucceeded``/``TaskFailed``/...)."""
    return dict(Counter(ty for f, n, ty, _ in events if f == flow and n == name and ty.startswith("Task")))


def _kms_versions(cloud: Any) -> dict[str, int]:
    """Versions per KMS secret (what the writes left behind)."""
    return {d["SecretName"]: len(d.get("versions") or []) for d in cloud.store.list("kms.secret")}


def _kms_written(before: dict[str, int], after: dict[str, int], certs: int) -> dict[str, Any]:
    """KMS versions written between ``before`` and ``after``, by kind: the clients' three secrets
    (``…/pfx``, ``…/password``, ``…/meta``), the key log, the rest (desired state, server key)."""
    delta = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    clients = sum(v for k, v in delta.items() if k.endswith(("/pfx", "/password", "/meta")))
    keylog = sum(v for k, v in delta.items() if k.endswith("/.issuer/keys"))
    return {"client_secret_versions": clients, "keylog_versions": keylog,
            "other_versions": sum(delta.values()) - clients - keylog,
            "client_versions_per_certificate": round(clients / certs, 3) if certs else None}


def _largest_state(cloud: Any, names: set[str]) -> int:
    out = 0
    for d in cloud.store.list("fnf.execution"):
        if d["Name"] not in names and not any(d["Name"].startswith(n) for n in names):
            continue
        out = max(out, len((d.get("Input") or "").encode()), len((d.get("Output") or "").encode()))
        for ev in d.get("events") or []:
            out = max(out, len(json.dumps(ev.get("detail") or {}, separators=(",", ":")).encode()))
    return out


def _calls_summary(calls: list[dict[str, Any]], per: int) -> dict[str, Any]:
    ours = [c for c in calls if c["product"] != "fnf"]
    by_action = Counter(f"{c['product']}:{c['action']}" for c in ours)
    pca = [c for c in ours if c["product"] == "pca"]
    return {
        "by_action": dict(sorted(by_action.items())),
        "per_certificate": {k: round(v / per, 3) for k, v in sorted(by_action.items())} if per else {},
        "reasons": {k: REASONS.get(k, "") for k in sorted(by_action)},
        "pca_calls": len(pca),
        "throttled": sum(1 for c in ours if c["code"].startswith("Throttling")),
        "pca_max_in_1s": _max_in_window([c["ts"] - c["duration_ms"] / 1000 for c in pca]),
        "writes": sum(1 for c in ours if c["write"] and c["code"].startswith("OK")),
        "kms_writes": sum(1 for c in ours if c["write"] and c["product"] == "kms" and c["code"].startswith("OK")),
    }


def run(*, holders: int = 1000, latency_ms: tuple[float, float] = (100.0, 300.0), job_s: float = 3.0,
        seed: int = 11, timeout: float = 1200.0, keep: Path | None = None) -> dict[str, Any]:
    """One run of the three parts (module doc); returns the figures."""
    from localruntime.cloud import SERVICES, LocalCloud
    from localruntime.cloud import Settings as CloudSettings
    from localruntime.ports import free_offset
    from shared.adapters import clients
    from shared.core import logs
    from shared.core.settings import Settings
    from shared.policy.contracts import ProvisionInput
    from shared.policy.lane import ISSUE_FLOW
    from shared.policy.validation import decode
    from shared.steps.provisioning import PROVISION_FLOW, deploy_flows, start_provision

    old_env = {k: os.environ.get(k) for k in ("ALBMTLS_ENDPOINTS_FILE", "ALBMTLS_TARGET")}
    tmp = tempfile.TemporaryDirectory(prefix="albmtls-bench-lane-")
    state = Path(tmp.name)
    log_stream = open(state / "functions.log", "a", buffering=1, encoding="utf-8")  # closed below
    logs.configure(stream=log_stream)
    raw = json.loads((REPO / "examples" / "provision.json").read_text())
    raw["clients"] = [{"common_name": f"holder-{i:04d}"} for i in range(holders)]
    inp = decode(ProvisionInput, raw)
    cloud = LocalCloud(state / "state", seed="demo", settings=CloudSettings(
        alb_job_seconds=job_s, services=tuple(SERVICES), port_offset=free_offset((inp.listener_port,)))).start()
    events: list[tuple[str, str, str, float]] = []
    try:
        ep = state / "state" / "endpoints.json"
        cloud.write_endpoints(ep)
        os.environ["ALBMTLS_ENDPOINTS_FILE"] = str(ep)
        os.environ["ALBMTLS_TARGET"] = "local"
        clients.clear_cache()
        settings = Settings.load(target="local", endpoints_file=str(ep))
        deploy_flows(settings, REPO / "workflows")
        cloud.runtime["flow_on_event"] = lambda flow, name, ev: events.append((flow, name, ev["type"], time.time()))
        cloud.faults.configure({"latency_ms": {"*:*": list(latency_ms)}, "seed": seed})
        svc = cloud.runtime["fnf_service"]
        out: dict[str, Any] = {"holders": holders, "input_bytes": len(json.dumps(raw, separators=(",", ":"))),
                               "profile": {"latency_ms": list(latency_ms), "alb_job_seconds": job_s, "seed": seed,
                                           "qps": QPS}}

        # 1. first issue --------------------------------------------------------------------------
        n0 = cloud.store.last_call_n()
        v0 = _kms_versions(cloud)
        started = start_provision(settings, raw, inp.listener_key)
        doc = _wait(svc, PROVISION_FLOW, started.name, timeout)
        if doc.get("Status") != "Succeeded":
            raise RuntimeError(f"first issue: {doc.get('Status')} {doc.get('error')}")
        calls = cloud.store.calls(n0)
        wall = _span(events, PROVISION_FLOW, started.name)
        floor = holders / QPS
        out["first_issue"] = {
            "execution": started.name, "wall_s": round(wall, 2),
            "order_wall_s": round(_span(events, ISSUE_FLOW, started.name), 2),
            "check_wall_s": round(_span(events, ISSUE_FLOW, started.name + "-check"), 2),
            "floor_s": floor, "floor": f"{holders} CreateClientCertificateWithCsr ÷ {QPS:g}/s",
            "ratio": round(wall / floor, 3), **_calls_summary(calls, holders),
            "certificates": cloud.store.count("pca.client"),
            "kms_versions": _kms_written(v0, _kms_versions(cloud), holders),
            "largest_state_bytes": _largest_state(cloud, {started.name})}

        # 2. second apply (zero writes) -------------------------------------------------------------
        time.sleep(1.1)                                   # a new execution name (second resolution)
        n1 = cloud.store.last_call_n()
        again = start_provision(settings, raw, inp.listener_key)
        doc = _wait(svc, PROVISION_FLOW, again.name, timeout)
        if doc.get("Status") != "Succeeded":
            raise RuntimeError(f"second apply: {doc.get('Status')} {doc.get('error')}")
        calls = cloud.store.calls(n1)
        wall = _span(events, PROVISION_FLOW, again.name)
        from shared.steps.issuer import FIRST_CHUNK, OBSERVE_CHUNK
        # the status reads (the first 16 alone, then 50 a call) + the CA's: the check order's 4
        # (checked, and resolved for ALB with the same DescribeCACertificate answer) and the order's 2
        # + the pages of the CA's list (every certificate of the account, 100 a page) read twice: by
        # the check order in the lane (CNs that differ only in letter case) and by ReconcileClients
        reads = 1 + math.ceil(max(0, holders - FIRST_CHUNK) / OBSERVE_CHUNK) + 6 + \
            2 * math.ceil(cloud.store.count("pca.client") / 100)
        out["second_apply"] = {
            "execution": again.name, "wall_s": round(wall, 2),
            "order_wall_s": round(_span(events, ISSUE_FLOW, again.name), 2),
            # no floor of its own: the provisioning steps' reads around it dominate; what counts is
            # that nothing is written and the PCA reads are the status reads (50 a call) + the CA's
            "pca_reads_expected": reads, **_calls_summary(calls, holders),
            "largest_state_bytes": _largest_state(cloud, {again.name})}

        # 3. rotation of the N, due --------------------------------------------------------------------
        first = [d for d in cloud.store.list("pca.client") if d.get("CommonName", "").startswith("holder-")]
        from datetime import UTC, datetime
        nb = datetime.fromtimestamp(max(d["BeforeDate"] for d in first) / 1000, tz=UTC)
        cloud.clock.set(nb + timedelta(days=21))
        listed = cloud.store.count("pca.client")
        time.sleep(1.1)                                   # a full PCA bucket, as the daily timer finds it
        n2 = cloud.store.last_call_n()
        v2 = _kms_versions(cloud)
        from albmtls.rotate import rotate_once
        rot = rotate_once(settings, policy={"secret_prefix": inp.secret_prefix}, timeout=timeout)
        if rot["status"] != "succeeded":
            raise RuntimeError(f"rotation: {rot.get('error')}")
        calls = cloud.store.calls(n2)
        # renewals counted in the cloud (the new certificates), beside what the order reported
        old_ids = {f["Identifier"] for f in first}
        news = [d for d in cloud.store.list("pca.client") if d["Identifier"] not in old_ids]
        renewed = len(news)
        pages = math.ceil(listed / 100)
        wall = _span(events, ISSUE_FLOW, rot["order"])
        floor = (renewed + pages) / QPS
        summary = _calls_summary(calls, max(1, renewed))
        out["rotation"] = {
            "order": rot["order"], "wall_s": round(wall, 2), "floor_s": floor,
            "floor": f"({renewed} renewals + {pages} list pages) ÷ {QPS:g}/s", "ratio": round(wall / floor, 3),
            "due": rot["scan"]["due"], "renewed_reported": rot["scan"]["renewed"], "new_certificates": renewed,
            "distinct_holders_renewed": len({d.get("CommonName") for d in news}),
            "kms_versions": _kms_written(v2, _kms_versions(cloud), renewed),
            "slices": _slices(events, ISSUE_FLOW, rot["order"]),
            "revocations": summary["by_action"].get("pca:CreateRevokeClientCertificate", 0),
            "pca_calls_per_renewal": round(summary["pca_calls"] / max(1, renewed), 3), **summary,
            "largest_state_bytes": _largest_state(cloud, {rot["order"]})}
        return out
    finally:
        cloud.runtime.pop("flow_on_event", None)
        cloud.faults.configure({"latency_ms": {}})
        cloud.stop()
        logs.configure()
        log_stream.close()
        for k, v in old_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        if keep is not None:
            import shutil
            shutil.copy2(state / "functions.log", keep)
        tmp.cleanup()


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.lane --holders N``: the three parts, printed as JSON."""
    import argparse
    ap = argparse.ArgumentParser(prog="python -m bench.lane")
    ap.add_argument("--holders", type=int, default=1000)
    ap.add_argument("--latency-ms", type=float, nargs=2, default=(100.0, 300.0))
    ap.add_argument("--keep-log", type=Path, help="copy the functions' log here")
    args = ap.parse_args(argv)
    print(json.dumps(run(holders=args.holders, latency_ms=tuple(args.latency_ms), keep=args.keep_log), indent=2))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

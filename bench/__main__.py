"""``python -m bench`` (``make bench``): the benchmarks of docs/DECISIONS.md §6 and issue 19, each against
its physical floor (wall ÷ floor, the formula beside it) — provisioning with latency, the issuing
lane (first issue of 1,000 holders on one listener, a second apply, rotation of the 1,000), the
10,000-certificate scan, cold start per function — printed as tables and, with ``--json FILE``,
written as one JSON report. Method and last figures: docs/PERFORMANCE.md.

    python -m bench --json bench-report.json            # the full run (about 8 minutes)
    python -m bench --only provisioning --only coldstart
    python -m bench --small                              # the sizes of tests/perf/test_budgets.py
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import BENCHES, PROFILES


def run(only: list[str] | None = None, profile: str = "full") -> dict[str, Any]:
    """Run the chosen benchmarks with ``PROFILES[profile]``; returns the report."""
    from . import coldstart, lane, provisioning, scan
    mods = {"provisioning": provisioning, "lane": lane, "scan": scan, "coldstart": coldstart}
    report: dict[str, Any] = {"when": datetime.now(UTC).isoformat(timespec="seconds"),
                              "profile": profile, "python": platform.python_version(),
                              "machine": f"{platform.machine()}, {_cpus()} CPU"}
    for name in only or BENCHES:
        kw = dict(PROFILES[profile][name])
        t0 = time.perf_counter()
        try:
            report[name] = mods[name].run(**kw)
        except Exception as exc:  # a failed build (no PyPI) falls back to installed sizes
            if name == "coldstart" and kw.get("deps") == "build":
                kw["deps"] = "installed"
                report[name] = mods[name].run(**kw)
                report[name]["note"] = f"full build failed ({type(exc).__name__}); installed sizes"
            else:
                raise
        report[name]["bench_s"] = round(time.perf_counter() - t0, 1)
    report["ok"] = all(verdicts(report).values())
    return report


def _cpus() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def verdicts(report: dict[str, Any]) -> dict[str, bool]:
    """Budget checks of docs/DECISIONS.md §6 for the benchmarks present."""
    out: dict[str, bool] = {}
    if "provisioning" in report:
        out["provisioning ≤ 1.2 × floor"] = report["provisioning"]["ratio"] <= 1.2
    if "lane" in report:
        lane = report["lane"]
        n = lane["holders"]
        first, again, rot = lane["first_issue"], lane["second_apply"], lane["rotation"]
        out[f"first issue of {n} ≤ 1.2 × floor"] = first["ratio"] <= 1.2
        out[f"first issue: {n} certificates, 1 PCA issue each, 0 throttled"] = (
            first["by_action"].get("pca:CreateClientCertificateWithCsr") == n and first["throttled"] == 0)
        out["second apply: 0 writes"] = again["writes"] == 0
        out[f"rotation of {n} ≤ 1.2 × floor"] = rot["ratio"] <= 1.2
        out["rotation: 0 throttled PCA answers"] = rot["throttled"] == 0
        out["rotation: ≤ 2 PCA calls per renewal"] = rot["pca_calls_per_renewal"] <= 2
        out[f"rotation: exactly {n} new certificates, 0 revocations"] = (
            rot["new_certificates"] == n and rot["distinct_holders_renewed"] == n and rot["revocations"] == 0)
        out["state ≤ 64 KiB"] = max(first["largest_state_bytes"], again["largest_state_bytes"],
                                    rot["largest_state_bytes"]) <= 64 * 1024
    if "scan" in report:
        out["scan ≤ 1.2 × floor"] = report["scan"]["ratio"] <= 1.2
        out["scan memory flat"] = bool(report["scan"]["memory_flat"])
    if "coldstart" in report:
        out["cold import ≤ 1.25 × SDK"] = all(r["ratio"] is None or r["ratio"] <= 1.25
                                              for r in report["coldstart"]["functions"].values())
        out["no handler imports an SDK"] = not any(r.get("sdk_loaded")
                                                   for r in report["coldstart"]["functions"].values())
    return out


def table(report: dict[str, Any]) -> str:
    """The report as plain-text tables (the ones docs/PERFORMANCE.md shows)."""
    lines: list[str] = []
    p = report.get("provisioning")
    if p:
        c, a = p["components_s"], p["api_calls"]
        prof = p["profile"]
        lines += [f"Provisioning (latency {prof['latency_ms'][0]:g}–{prof['latency_ms'][1]:g} ms per call, ALB jobs "
                  f"{prof['alb_job_seconds']:g} s, health check every {prof['health_check']['interval_s']} s × "
                  f"{prof['health_scale']:g}, threshold {prof['health_check']['healthy_threshold']})",
                  "| wall | floor | floor formula | ratio | budget | critical path | API calls | reads | writes "
                  "| invocations | flow Waits |",
                  "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
                  f"| {p['wall_s']:.2f} s | {p['floor_s']:.2f} s | {p['floor_formula']} | **{p['ratio']:.3f}** "
                  f"| ≤ {p['budget']:g} | {p['critical_path_s']:.2f} s | {a['total']} | {a['reads']} | {a['writes']} "
                  f"| {sum(p['invocations'].values())} | {p['flow_waits']} |",
                  "",
                  "| critical path part | s |", "|---|---:|"]
        for k in ("preflight", "issue_client_cert", "create_cname", "enable_mutual_auth", "enable_until_listener",
                  "health_wait", "health_after_healthy", "probe"):
            lines.append(f"| {k} | {c[k]:.3f} |")
        lines.append(f"| longest branch | {c['longest_branch']} |")
        lines += ["", "| step | reads | writes | call time s |", "|---|---:|---:|---:|"]
        for k, v in a["by_step"].items():
            lines.append(f"| {k} | {v['reads']} | {v['writes']} | {v['call_s']:.2f} |")
        lines.append("")
    if report.get("lane"):
        lines += lane_table(report["lane"])
    s = report.get("scan")
    if s:
        mem = ", ".join(f"{int(k):,}: {v['peak_kib']:.0f} KiB" for k, v in s["memory"].items())
        lines += [f"Rotation scan ({s['certificates']:,} certificates, {s['qps']:g} requests/s, "
                  f"page size {s['page_size']})",
                  "| scan | floor | floor formula | ratio | budget | PCA calls | max in 1 s | throttled "
                  "| peak memory (scanning process) | flat |",
                  "|---:|---:|---|---:|---:|---:|---:|---:|---|---|",
                  f"| {s['scan_s']:.2f} s | {s['floor_s']:.2f} s | {s['floor']} | **{s['ratio']:.3f}** | ≤ 1.2 "
                  f"| {s['pca_calls']} | "
                  f"{s['max_requests_in_1s']} | {s['throttled']} | {mem} (×{s['memory_growth']}) | "
                  f"{'yes' if s['memory_flat'] else 'NO'} |", ""]
    cs = report.get("coldstart")
    if cs:
        lines += [f"Cold start (fresh interpreters, {cs['runs']} rounds, bytecode {cs.get('bytecode', 'inherit')}; "
                  "ratio: median of handler + SDK ÷ SDK in one interpreter; times: best round; "
                  "package: code + dependencies)",
                  "| function | SDKs | SDK import | handler import | handler + SDK | ratio | budget | package |",
                  "|---|---|---:|---:|---:|---:|---:|---:|"]
        for fn, r in cs["functions"].items():
            pk = r.get("package") or {}
            size = f"{pk.get('total_kib', 0) / 1024:.1f} MiB ({pk.get('code_kib')} KiB code)" if pk else "-"
            ratio = f"**{r['ratio']:.3f}**" if r["ratio"] is not None else "-"
            lines.append(f"| {fn} | {', '.join(r['products'])} | {r['sdk_ms'] or 0:.0f} ms "
                         f"| {r['handler_ms']:.0f} ms | {r['cold_ms']:.0f} ms | {ratio} | ≤ 1.25 | {size} |")
        lines.append("")
    for k, ok in verdicts(report).items():
        lines.append(f"{'PASS' if ok else 'FAIL'}  {k}")
    return "\n".join(lines)


def lane_table(r: dict[str, Any]) -> list[str]:
    """The issuing lane's tables: the three parts against their floors, then the calls per
    certificate with their reasons."""
    prof = r["profile"]
    lines = [f"Issuing lane ({r['holders']:,} holders on one listener; latency {prof['latency_ms'][0]:g}–"
             f"{prof['latency_ms'][1]:g} ms per call, ALB jobs {prof['alb_job_seconds']:g} s, PCA {prof['qps']:g} "
             f"requests/s; input {r['input_bytes']:,} bytes)",
             "| part | wall | floor | floor formula | ratio | budget | PCA calls | throttled | PCA max in 1 s "
             "| writes | new certificates | revocations | largest state |",
             "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for part, label in (("first_issue", "first issue"), ("second_apply", "second apply"), ("rotation", "rotation")):
        x = r[part]
        new = x.get("new_certificates", x.get("certificates", "-"))
        if part == "second_apply":
            new = 0
        floor = f"{x['floor_s']:.1f} s" if "floor_s" in x else "-"
        ratio = f"**{x['ratio']:.3f}**" if "ratio" in x else "-"
        budget = "≤ 1.2" if "ratio" in x else "0 writes"
        lines.append(f"| {label} | {x['wall_s']:.1f} s | {floor} | {x.get('floor', '-')} | {ratio} | {budget} "
                     f"| {x['pca_calls']} | {x['throttled']} | {x['pca_max_in_1s']} | {x['writes']} | {new} "
                     f"| {x.get('revocations', 0)} | {x['largest_state_bytes'] / 1024:.1f} KiB |")
    rot = r["rotation"]
    lines += ["", f"PCA calls per renewal: {rot['pca_calls_per_renewal']:.3f} (budget ≤ 2)", "",
              "| calls per certificate | first issue | rotation | why |", "|---|---:|---:|---|"]
    keys = sorted(set(r["first_issue"]["per_certificate"]) | set(rot["per_certificate"]))
    for k in keys:
        if not k.startswith(("pca:", "kms:")):
            continue
        why = r["first_issue"]["reasons"].get(k) or rot["reasons"].get(k) or ""
        lines.append(f"| {k} | {r['first_issue']['per_certificate'].get(k, 0):.3f} "
                     f"| {rot['per_certificate'].get(k, 0):.3f} | {why} |")
    lines.append("")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, metavar="FILE", help="write the report as JSON")
    ap.add_argument("--only", action="append", choices=BENCHES, help="run only this benchmark (repeatable)")
    ap.add_argument("--small", action="store_true", help="the small sizes of tests/perf/test_budgets.py")
    args = ap.parse_args(argv)
    report = run(args.only, "small" if args.small else "full")
    print(table(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nreport: {args.json}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

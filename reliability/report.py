"""The Markdown report of one suite run (``--write-doc docs/RELIABILITY.md``)."""
from __future__ import annotations

import json
from typing import Any

from reliability.suite import ROTATION_FIRST_DAY, ROTATION_POLICY


def render_markdown(report: dict[str, Any], command: str) -> str:
    p, c, s = report["parameters"], report["counts"], report["secrets"]
    lines = [
        "# Reliability: the fault suite",
        "",
        "Produced by `python -m reliability` (do not edit by hand; re-run the command below).",
        "",
        "Reproduce:",
        "",
        "```",
        command,
        "```",
        "",
        f"Verdict: **{'PASS' if report['verdict']['ok'] else 'FAIL'}**"
        + ("" if report["verdict"]["ok"] else " — " + "; ".join(report["verdict"]["problems"])),
        f"({report['seconds']} s wall time)",
        "",
        "## What was injected",
        "",
        f"Total fault rate {p['rate']:.0%} of calls (seed {p['seed']}, retry layer "
        f"{'on' if p['retries'] else 'OFF'}), spread over the kinds below; every product and action "
        "(ALB, CAS, PCA, Alidns, KMS, CloudFlow) unless scoped. ALB async jobs take "
        f"{p['alb_job_seconds']} s; PCA issuance and ALB/Alidns writes get 5–160 ms extra latency; "
        f"the SDK read timeout is {p['read_timeout_ms']} ms; the CAS/PCA QPS cap (10/s) stays on.",
        "",
        "| rule | scope | per-call probability | extra |",
        "|---|---|---|---|",
    ]
    for r in report["faults"]["rules"]:
        scope = f"{r.get('product', '*')}:{r.get('action', '*')}" + (" writes" if r.get("writes_only") else "")
        extra = ", ".join(f"{k}={r[k]}" for k in ("retry_after_ms", "hold_ms") if k in r)
        lines.append(f"| `{r['kind']}` | `{scope}` | {r['rate']} | {extra} |")
    lines += [
        "",
        f"Calls seen by the local cloud: {c['calls']} ({c['writes']} writes); faulted: {c['faulted_calls']} "
        f"(**{c['faulted_share']:.1%}**) — by call-log code:",
        "",
        "| code | calls |",
        "|---|---|",
    ]
    for code, n in c["faulted_by_code"].items():
        lines.append(f"| `{code}` | {n} |")
    rl = c["retry_layer"]
    lines += [
        "",
        f"Besides: {c['qps_throttled']} calls throttled by the QPS cap.",
        "",
        "## What was counted (from the local cloud's state)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| provisioning runs | {c['runs']} |",
        f"| rotation runs | {report['rotation']['runs']} (next section) |",
        f"| runs succeeded | {c['succeeded']} |",
        f"| runs failed (with a clear code) | {c['failed']} ({c['failed_with_clear_code']}) "
        f"{c['failure_codes'] or ''} |",
        *([f"| failure messages | {'<br>'.join(m.replace('|', '/') for m in c['failure_messages'])} |"]
          if c["failure_messages"] else []),
        f"| client certificates per CN | {_hist(c['client_certificates_per_cn'])} |",
        f"| duplicate certificates | {c['duplicate_certificates']} |",
        f"| listeners per port | {_hist(c['listeners_per_port'])} |",
        f"| duplicate listeners | {c['duplicate_listeners']} |",
        f"| server groups per name | {_hist(c['server_groups_per_name'])} |",
        f"| DNS records per RR | {_hist(c['dns_records_per_rr'])} |",
        f"| duplicate records | {c['duplicate_records']} |",
        f"| secret versions per certificate | {_pairs(c['secret_versions_per_certificate'])} |",
        f"| duplicate / orphan secret versions | {c['duplicate_secrets']} |",
        f"| writes faulted, then retried | {c['writes_faulted_then_retried']} |",
        f"| … of which applied with the response lost | {c['writes_applied_response_lost']} |",
        f"| retry layer: attempts / retries | {rl['attempts']} / {rl['retries']} |",
        f"| half-applied state | {len(c['half_applied'])} |",
        "",
        "Retried codes (retry layer): " + ", ".join(f"`{k}` {v}" for k, v in sorted(rl["retried_codes"].items())),
        "",
    ]
    if c["half_applied"]:
        lines += ["Half-applied items:", ""] + [f"- {h}" for h in c["half_applied"][:30]] + [""]
    lines += _rotation_markdown(report)
    lines += _offboarding_markdown(report)
    cli = report.get("cli")
    lines += [
        "## Secrets",
        "",
        f"Scanned {s['scanned_chars']} characters: " + ", ".join(f"{k} {v}" for k, v in s["scanned"].items())
        + " (items). Needles: " + ", ".join(f"{k} {v}" for k, v in s["needles"].items()) + ".",
        "",
        f"Found: **{len(s['found'])}**" + (f" — {s['found']}" if s["found"] else ""),
        "",
    ]
    if cli:
        lines += [f"CLI run (`albmtls provision --json --out …`, faults on): exit {cli['exit']}, status "
                  f"{cli['status']}; exported files: " + ", ".join(f"`{k}` {v}" for k, v in cli["file_modes"].items()),
                  ""]
    return "\n".join(lines)


def _rotation_markdown(report: dict[str, Any]) -> list[str]:
    r = report.get("rotation") or {}
    if not r.get("runs"):
        return []
    lines = [
        "## Rotation runs (from the local cloud's state)",
        "",
        f"{r['runs']} runs of `albmtls rotate` under the same faults (`albmtls.rotate.rotate_once`: the "
        "scan invoked as the daily timer invokes it, then the day's rotation order it placed in the issuing "
        "lane (`albmtls-issue`), followed through the fnf service; the last run through the CLI, a "
        "subprocess), one a day from day "
        f"{ROTATION_FIRST_DAY} after issue. Client lifetimes are 30, 32 … 48 days, so the runs renew the "
        f"certificates as each falls due (2/3 of its lifetime). Timer payload `{json.dumps(ROTATION_POLICY)}`: a "
        "replaced certificate is revoked by the first run 5 days after its replacement.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| calls during the rotation runs | {r['calls']} ({r['pca_calls']} PCA); faulted {r['faulted_calls']}: "
        + ", ".join(f"`{k}` {v}" for k, v in r["faulted_by_code"].items()) + " |",
        f"| rotation runs succeeded | {r['succeeded']} of {r['runs']} |",
        f"| runs failed (with a clear code) | {r['failed']} ({r['failed_with_clear_code']}) "
        f"{r['failure_codes'] or ''} |",
        *([f"| failure messages | {'<br>'.join(m.replace('|', '/') for m in r['failure_messages'])} |"]
          if r["failure_messages"] else []),
        f"| CNs due before a run (sum over runs) | {r['due']} |",
        f"| new certificates (one per due CN per run) | {r['renewed']} in {r['runs_renewing']} runs |",
        f"| due CNs not renewed / renewed but not due | {r['missing_renewals']} / {r['unexpected_renewals']} |",
        f"| duplicate certificates (per CN per run) | {r['duplicate_certificates']} |",
        f"| delivered certificates per CN (at the end) | {_hist(r['delivered_certificates_per_cn'])} |",
        f"| replaced: still valid and marked superseded | {r['superseded_still_valid']} |",
        f"| replaced: revoked after the 5-day grace | {r['revoked_after_grace']} "
        f"(runs reporting retirements: {r['retired']}) |",
        f"| replaced: expired naturally | {r['replaced_and_expired']} |",
        f"| revoked by the issue step (key lost in a crash, never delivered) | {r['revoked_lost_key']} |",
        f"| secret versions per certificate (pfx, password, meta) | {_pairs(r['secret_versions_per_certificate'])} |",
        f"| superseded markers (meta versions `<new>-s<old>`) | {r['superseded_markers']} |",
        f"| half-applied rotations | {len(r['half_applied'])} |",
        f"| other problems | {len(r['problems'])} |",
        "",
        "| run | now | due | new | retired | status | s |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in r["log"]:
        lines.append(f"| {e['run']}{' (CLI)' if e['cli'] else ''} | {e['now']} | {len(e['due'])} | "
                     f"{e.get('new_certificates', 0)} | {e['retired']} | {e['status']} {e['code'] or ''} "
                     f"| {e['seconds']} |")
    lines.append("")
    for title, items in (("Half-applied rotation items", r["half_applied"]), ("Problems", r["problems"])):
        if items:
            lines += [f"{title}:", ""] + [f"- {h}" for h in items[:30]] + [""]
    return lines


def _hist(d: dict[Any, int]) -> str:
    return ", ".join(f"{k}→{v}" for k, v in sorted(d.items(), key=lambda kv: int(kv[0]))) or "–"


def _pairs(d: dict[Any, Any]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in d.items())


def _offboarding_markdown(report: dict[str, Any]) -> list[str]:
    o = report.get("offboarding") or {}
    if not (o.get("revokes") or o.get("prunes")):
        return []
    lines = [
        "## Revocations and prunes (from the local cloud's state)",
        "",
        f"Under the same faults: {o['revokes']} holders revoked through the revoke flow (as `albmtls revoke` "
        f"starts it) and {o['prunes']} pruned by a provisioning run of their listener whose input replaced them "
        "(`prune: true`), all at once, then every request again.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| executions (two rounds) succeeded | {o['succeeded']} of {o['executions']} |",
        f"| pruned holders reported by the runs | {o['pruned_reported']} |",
        f"| revocations lost (a certificate still valid, no record, secrets not scheduled) | {o['revoke_lost']} |",
        f"| revocation records per target (access secret versions) | {_hist(o['record_versions_per_target'])} |",
        f"| audit lines per target | {_hist(o['audit_lines_per_target'])} |",
        f"| writes of the second round | {o['second_round_writes']} |",
        f"| other CNs whose valid certificates changed | {o['other_cns_touched']} of {o['other_cns_checked']} |",
        "",
    ]
    if o["problems"]:
        lines += ["Problems:", ""] + [f"- {p}" for p in o["problems"][:30]] + [""]
    return lines

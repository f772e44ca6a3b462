"""``albmtls rotate``: the daily rotation, as the timer runs it.

``rotate``: on the local target, set the local cloud's clock to ``--now`` (admin API: the local FC
invoker gives every function the cloud's time, ``localruntime/fc.py``), deploy the flows if they
changed, invoke ``albmtls-rotation-scan`` through the local FC invoker with an FC timer event (as the
daily trigger does) — it places the day's rotation order in the issuing lane — follow that order
(the scan, the renewals and the retirements run there), export each renewed PFX and password into
``--out`` (files mode 0600) and report — secret names and version ids, never secrets.
"""
from __future__ import annotations

import json
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from .export import Out, PasswordsBeside, PasswordsDir
from .options import (
    EXIT_FAILED,
    EXIT_INPUT,
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    check_target,
    check_timeout,
    emit_json,
    exit_for,
    local_banner,
    open_target,
    plural,
    quiet_logs,
    report,
)
from .options import console as _console

REPO = Path(__file__).resolve().parent.parent
SCAN_KEYS = ("scanned", "listed", "due", "retire", "superseded", "expired", "revoked", "renewed", "retired",
             "retired_switched", "kept", "unmanaged", "failed", "list_calls", "orphaned", "skipped_revoked",
             "reminded", "not_switched", "reads", "delivered", "not_delivered")


def set_cloud_clock(endpoints: dict[str, Any], now: str) -> str:
    """``POST {admin}/clock {"now": …}`` on the local cloud; returns the cloud's time after."""
    admin = endpoints["admin"].rstrip("/")
    req = urllib.request.Request(admin + "/clock", data=json.dumps({"now": now}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # 127.0.0.1 only
        return json.load(resp)["now"]




#: The summary lists this many renewed certificates; the rest are counted (``--json`` lists all).
SUMMARY_ROWS = 20


def rotate_once(settings, *, policy: dict[str, Any], timeout: float = 300.0, console=None) -> dict[str, Any]:
    """Deploy the flows, place the day's rotation order (as the timer would) and follow it.
    Returns the ``--json`` document (without exported paths): ``order``, ``started`` (False: it ran
    already today — nothing is done twice), the scan's counts, ``renewed`` (the first 20; every
    count in ``scan``), ``retired``, ``writes``, ``warnings``."""
    from localruntime.fc import invoke_function, local_clock_offset
    from shared.policy.lane import ISSUE_FLOW
    from shared.steps.lane_client import outcome
    from shared.steps.provisioning import deploy_flows

    from .provision import follow
    deployed = deploy_flows(settings, REPO / "workflows")
    now = datetime.now(UTC) + timedelta(seconds=local_clock_offset(settings.endpoints_file) or 0.0)
    event = {"triggerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "triggerName": "albmtls-rotate-cli",
             "payload": json.dumps(policy)}
    placed = json.loads(invoke_function("albmtls-rotation-scan", json.dumps(event).encode(), {"timeout": 300}))
    doc: dict[str, Any] = {"status": "succeeded", "now": placed.get("now"), "flow": ISSUE_FLOW,
                           "flow_deployed": deployed[ISSUE_FLOW], "order": placed.get("order"),
                           "started": bool(placed.get("started")), "scan": {}, "warnings": [],
                           "renewed": [], "retired": [], "deliveries": [], "writes": 0,
                           "own_ca_switches": placed.get("own_ca_switches") or []}
    if placed.get("status") == "failed":
        doc["status"] = "failed"
        doc["error"] = placed.get("error")
        return doc
    name = placed["order"]
    if console is not None:
        console.print(f"order [bold]{name}[/] ({'started' if doc['started'] else 'placed earlier today'})")
    prog = follow(settings, name, flow=ISSUE_FLOW, timeout=timeout, console=console)
    doc["execution"] = {"name": name, "status": prog.status}
    doc["scan"] = {"executions": [name]}           # the order: the execution the rotation runs as
    if prog.error:
        doc["status"] = "failed"
        doc["error"] = prog.error
        return doc
    if not doc["started"] and prog.done:
        return doc            # today's order ran before: nothing new, nothing written
    from shared.adapters.fnf import Fnf
    from shared.steps.rotation import make_context
    ctx = make_context(settings, "rotate_cli", deadline_s=60)
    res = outcome(ctx, name, ctx.adapter(Fnf).describe_execution(ISSUE_FLOW, name))
    counts = res.cursor.counts
    doc["scan"] = {k: counts.get(k, 0) for k in SCAN_KEYS}
    doc["scan"]["executions"] = [name]          # the order: the execution the rotation ran as
    doc["writes"] = counts.get("writes", 0)
    doc["warnings"] = res.cursor.warnings
    doc["scan"]["warnings"] = res.cursor.warnings    # as the scan reported them (the same list)
    doc["deliveries"] = list(res.cursor.deliveries)
    for r in res.cursor.sample:
        doc["renewed"].append({
            "common_name": r.common_name, "listener_key": r.listener_key, "identifier": r.identifier,
            "serial": r.serial, "not_before": r.not_before, "not_after": r.not_after,
            "fingerprint_sha256": r.fingerprint_sha256, "pfx_secret": r.pfx_secret,
            "password_secret": r.password_secret, "pfx_version": r.pfx_version, "password_version": r.pfx_version,
            "old_identifier": r.old_identifier, "old_serial": r.old_serial, "retire_after": r.retire_after,
            "revoke_old": r.revoke, "reused": r.reused})
    doc["retired"] = [{"common_name": r.common_name, "listener_key": r.listener_key, "identifier": r.identifier,
                       "serial": r.serial, "reason": r.reason} for r in res.cursor.retired]
    return doc


def _print_rotate(console, doc: dict[str, Any], notes=None) -> None:
    """The report on ``console`` (stdout); its error and warnings on ``notes`` (stderr) when given."""
    s = doc.get("scan") or {}
    notes = notes or console
    ok = doc["status"] == "succeeded"
    console.rule("[bold green]alb-mtls rotation" if ok else "[bold red]alb-mtls rotation failed")
    if doc.get("error"):
        notes.print(f"[red]{doc['error'].get('code')}[/]: {doc['error'].get('message')}", soft_wrap=True)
        if not s.get("scanned") and not doc.get("renewed"):
            return                                    # nothing was scanned: no summary of nothing
    console.print(f"now {doc.get('now')}: order {doc.get('order')}"
                  + ("" if doc.get("started") else " (already placed today: nothing new)")
                  + f"; {plural(s.get('scanned', 0), 'certificate')} scanned, {s.get('due', 0)} due, "
                  f"{s.get('retire', 0)} to retire")
    for w in doc.get("warnings") or []:
        notes.print(f"  [yellow]warning[/] {w.get('message')}")
    for sw in doc.get("own_ca_switches") or []:
        if sw.get("error"):
            notes.print(f"  [red]own CA switch failed[/]: {sw['error'].get('code')}: {sw['error'].get('message')}",
                        soft_wrap=True)
        elif sw.get("switched"):
            console.print(f"  [green]own CA {sw['ca']} switched[/]: listeners {', '.join(sw.get('listeners') or [])} "
                          "trust its new generation (every holder switched to it)", soft_wrap=True)
        else:
            console.print(f"  own CA {sw['ca']}: switch pending, waiting for "
                          f"{'; '.join((sw.get('waiting') or [])[:10]) or '-'}", soft_wrap=True)
    if s.get("orphaned") or s.get("skipped_revoked"):
        console.print(f"  [magenta]not renewed[/] {s.get('orphaned', 0)} orphaned (no longer in their listener's "
                      f"input; revoke them with albmtls revoke or provision --prune), {s.get('skipped_revoked', 0)} "
                      "revoked holder(s)")
    # the order reports its first renewals (its state stays small whatever their number) and counts all
    renewed = doc.get("renewed") or []
    total = max(int(s.get("renewed") or 0), len(renewed))
    for i, r in enumerate(renewed[:SUMMARY_ROWS], 1):
        console.print(f"  [{i}/{total}] [green]renewed[/] {r['common_name']} on {r['listener_key']}: serial "
                      f"{r['serial']} until {r['not_after']}; old {r['old_serial']} superseded, retire after "
                      f"{r['retire_after']}" + ("" if r.get("revoke_old") else " (expires naturally)"))
        if r.get("pfx_path"):
            console.print(f"    PFX {r['pfx_path']} (password in {r['password_path']})")
    if total > min(len(renewed), SUMMARY_ROWS):
        console.print(f"  and {plural(total - min(len(renewed), SUMMARY_ROWS), 'more renewed certificate')} "
                      "(albmtls status lists every certificate)")
    retired = doc.get("retired") or []
    for r in retired:
        if r.get("reason") == "holder_switched":
            console.print(f"  [cyan]retired[/] {r['common_name']} serial {r['serial']} (holder switched; expires "
                          "naturally)")
        else:
            console.print(f"  [red]revoked[/] {r['common_name']} serial {r['serial']}")
    if s.get("reads"):
        console.print(f"  {plural(s['reads'], 'system holder')} read the new certificate's secrets (ActionTrail): "
                      "the old one retires now")
    if s.get("reminded") or s.get("not_switched"):
        console.print(f"  reminded {s.get('reminded', 0)} holder(s); told the operators of "
                      f"{s.get('not_switched', 0)} holder(s) who have not switched")
    from .provision import print_deliveries
    print_deliveries(console, doc.get("deliveries") or [])
    revoked = max(int(s.get("retired") or 0) - int(s.get("retired_switched") or 0),
                  sum(1 for r in retired if r.get("reason") != "holder_switched"))
    console.print(f"{plural(total, 'certificate')} renewed, {revoked} revoked, "
                  f"{plural(int(doc.get('writes') or 0), 'write')}")


def rotate(now: str | None = typer.Option(None, "--now",
                                          help="Set the local cloud's clock to this time first: ISO 8601, or a "
                                          "shift from now as `clock set` takes (+21d, -3h)."),
           revoke_old: str | None = typer.Option(None, "--revoke-old",
                                                 help="never (default) | after_grace | immediately"),
           revoke_after_days: int | None = typer.Option(None, "--revoke-after-days",
                                                        help="Grace before a replaced certificate is revoked."),
           renew_before_days: int | None = typer.Option(
               None, "--renew-before-days", help="Renew this many days before the end (if earlier than 2/3)."),
           secret_prefix: str = typer.Option("albmtls", "--secret-prefix",
                                             help="KMS secret name prefix the certificates were stored under "
                                                  "(the input's secret_prefix)."),
           target: str = typer.Option("local", "--target", callback=check_target,
                                      help="local only: on a real account the daily timer runs "
                                           "albmtls-rotation-scan (`s rotation_scan invoke -e '{}'` runs it now)."),
           state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
           out: Path = Out,
           passwords_dir: Path | None = PasswordsDir,
           passwords_beside: bool = PasswordsBeside,
           port_offset: int = PortOffset,
           timeout: float = typer.Option(600.0, "--timeout", callback=check_timeout,
                                         help="Give up following the rotate executions after this many seconds."),
           json_out: bool = JsonOut) -> None:
    """Renew due client certificates: the day's rotation order in the issuing lane (local cloud)."""
    from shared.core.errors import AlbMtlsError, Code
    quiet_logs()
    console = _console()

    def fail(code: str, message: str, field: str | None = None, exit_code: int = EXIT_INPUT) -> None:
        doc = {"status": "failed", "error": {"code": code, "message": message, **({"field": field} if field else {})}}
        if json_out:
            emit_json(doc)
        else:
            console.print(f"[red]{code}[/]: {message}", soft_wrap=True)
        raise typer.Exit(exit_code)

    if target != "local":
        fail(Code.INVALID_INPUT, "rotate runs on the local target; in the cloud the daily timer runs "
             "albmtls-rotation-scan (s rotation_scan invoke -e '{}')", "target")
    if now is not None:
        from .clock import parse_when  # one rule with `clock set`: ISO 8601 or a shift (+21d)
        try:
            now = parse_when(now, datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
        except AlbMtlsError as exc:
            fail(exc.code, exc.message, "now")
        except ValueError as exc:
            fail(Code.INVALID_INPUT, str(exc), "now")
    policy = {k: v for k, v in {"secret_prefix": secret_prefix, "revoke_old": revoke_old,
                                "revoke_after_days": revoke_after_days,
                                "renew_before_days": renew_before_days}.items() if v is not None}
    from .export import export_pfx, export_target
    try:
        exports = export_target(out, passwords_dir, passwords_beside)
    except AlbMtlsError as exc:
        fail(exc.code, exc.message, exc.field)
    # the banner after --now moved the clock: it says the cloud's time
    with open_target("local", state_dir, endpoints_file, port_offset=port_offset, json_out=json_out, banner=False,
                     cloud_time=False) as opened:
        ep, settings = opened.endpoints, opened.settings
        if now is not None:
            set_cloud_clock(ep, now)
        if not json_out:
            console.print(local_banner(ep, state_dir), highlight=False)
        try:
            doc = rotate_once(settings, policy=policy, timeout=timeout, console=None if json_out else console)
            # only a client without a holder is exported (shared.policy.delivery.exported_to_operator)
            from shared.policy.delivery import exported_to_operator
            kinds = {(d.get("listener_key"), d.get("common_name")): d.get("holder_kind") for d in doc["deliveries"]}
            exported = [r for r in doc["renewed"]
                        if exported_to_operator(kinds.get((r["listener_key"], r["common_name"])))]
            if doc["status"] == "succeeded" and exported:
                export_pfx(settings, exported, exports)
        except AlbMtlsError as exc:
            fail(exc.code, exc.message, exc.field, EXIT_FAILED)
    if json_out:
        emit_json(doc)
    else:
        _print_rotate(report(), doc, console)
    if doc["status"] != "succeeded":
        err = doc.get("error") or {}
        raise typer.Exit(exit_for(err.get("code") or "FAILED"))

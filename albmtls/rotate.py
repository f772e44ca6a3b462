"""``albmtls rotate``: the rotation scan and the rotate flow, as the daily timer runs them.

``rotate``: on the local target, set the local cloud's clock to ``--now`` (admin API: the local FC
invoker gives every function the cloud's time, ``localruntime/fc.py``), deploy
``workflows/rotate.yaml`` if it changed, invoke ``albmtls-rotation-scan`` through the local FC
invoker with an FC timer event (as the daily trigger does), follow the executions it started,
export each renewed PFX into ``--out`` and its password into ``--passwords-dir`` (files mode 0600,
``albmtls/export.py``) and report — secret names and version ids, never secrets.
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
ROTATE_WORKFLOW = REPO / "workflows" / "rotate.yaml"


def set_cloud_clock(endpoints: dict[str, Any], now: str) -> str:
    """``POST {admin}/clock {"now": …}`` on the local cloud; returns the cloud's time after."""
    admin = endpoints["admin"].rstrip("/")
    req = urllib.request.Request(admin + "/clock", data=json.dumps({"now": now}).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # 127.0.0.1 only
        return json.load(resp)["now"]


def _results(prog, steps: tuple[str, ...] = ("Renew", "Retire")) -> list[dict[str, Any]]:
    from shared.steps.provisioning import task_result
    out = []
    for ev in prog.events if prog else []:
        if ev.get("type") == "TaskSucceeded" and (ev.get("step") or "").rsplit("/", 1)[-1] in steps:
            res = task_result(ev)
            if isinstance(res, dict):
                out.append(res)
    return out


_VERBS = {"renewed": "renewed", "already_renewed": "already renewed", "not_due": "not due", "retired": "revoked",
          "kept": "kept", "skipped": "skipped"}


class RotationProgress:
    """The rotate executions' progress by item, named and counted: a live bar on a terminal
    (``renewed alice on alb-…-443  12/100``), and on a pipe or CI log one line per tenth of the work
    (``[12/100] renewed alice on alb-…-443``); every failed item gets its own line either way.

    An item runs Renew then Retire (workflows/rotate.yaml; a retire item's Renew is ``skipped``, a
    renew item's Retire usually ``kept``): it is counted once, when its Retire ends or its Renew
    fails, and named by what happened to it (``renewed``, ``revoked``, ``renewed, old revoked``)."""

    def __init__(self, console: Any, total: int) -> None:
        self.console, self.total, self.done, self.failed = console, max(0, int(total)), 0, 0
        self._mark = 0
        self._renewed: dict[tuple[str, str, str], str] = {}      # item → what its Renew did
        self._bar: Any = None
        if console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), console=console)
            self._task = self._bar.add_task("rotating", total=self.total or None)
            self._bar.start()

    def event(self, ev: dict[str, Any]) -> None:
        """One history event of a rotate execution (``follow``'s ``on_event``)."""
        from shared.steps.provisioning import task_result
        if ev.get("type") != "TaskSucceeded" or (ev.get("step") or "").rsplit("/", 1)[-1] not in ("Renew", "Retire"):
            return
        res = task_result(ev)
        if not isinstance(res, dict):
            return
        key = (str(res.get("listener_key")), str(res.get("common_name")), str(res.get("old_identifier")))
        action = str(res.get("action") or "done")
        failed = res.get("status") == "failed"
        if res.get("mode") == "renew" and not failed:
            if action != "skipped":
                self._renewed[key] = action
            return                                     # the item goes on to Retire
        renew = self._renewed.pop(key, None)
        if failed:
            verb = "failed"
        elif renew is None:
            verb = _VERBS.get(action, action)
        else:
            verb = _VERBS.get(renew, renew) + (", old revoked" if action == "retired" else "")
        self.done += 1
        label = f"{res.get('common_name') or '?'} on {res.get('listener_key') or '?'}"
        count = f"{self.done}/{self.total}" if self.total else str(self.done)
        if failed:
            self.failed += 1
            err = res.get("error") or {}
            self.console.print(f"  [red]✗[/] [{count}] {label}: {err.get('code')}: {err.get('message')}")
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, description=f"{verb} {label}")
        elif not failed and (self.done == self.total or not self.total
                             or self.done * 10 >= (self._mark + 1) * self.total):
            self._mark = self.done * 10 // self.total if self.total else 0
            self.console.print(f"  [{count}] {verb} {label}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


#: The summary lists this many renewed certificates; the rest are counted (``--json`` lists all).
SUMMARY_ROWS = 20


def rotate_once(settings, *, policy: dict[str, Any], timeout: float = 300.0, console=None) -> dict[str, Any]:
    """Deploy the rotate flow, run the scan (as the timer would), follow what it started.
    Returns the ``--json`` document (without exported paths)."""
    from localruntime.fc import invoke_function, local_clock_offset
    from shared.steps.provisioning import deploy_flow
    from shared.steps.rotation import ROTATE_FLOW

    from .provision import follow
    deployed = deploy_flow(settings, ROTATE_FLOW, ROTATE_WORKFLOW.read_text())
    now = datetime.now(UTC) + timedelta(seconds=local_clock_offset(settings.endpoints_file) or 0.0)
    event = {"triggerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "triggerName": "albmtls-rotate-cli",
             "payload": json.dumps(policy)}
    scan = json.loads(invoke_function("albmtls-rotation-scan", json.dumps(event).encode(), {"timeout": 900}))
    doc: dict[str, Any] = {"status": "succeeded", "now": scan.get("now"), "flow": ROTATE_FLOW,
                           "flow_deployed": deployed,
                           "scan": {k: scan.get(k) for k in ("scanned", "listed", "due", "retire", "superseded",
                                                             "expired", "revoked", "started", "executions",
                                                             "existing", "warnings", "orphaned",
                                                             "skipped_revoked", "reminded", "not_switched",
                                                             "reads")},
                           "executions": [], "renewed": [], "retired": [], "deliveries": [], "writes": 0}
    if scan.get("status") == "failed":
        doc["status"] = "failed"
        doc["error"] = scan.get("error")
        return doc
    progress = RotationProgress(console, int(scan.get("due") or 0) + int(scan.get("retire") or 0)) \
        if console is not None else None
    try:
        for name in scan.get("executions") or []:
            if console is not None:
                console.print(f"execution [bold]{name}[/]")
            prog = follow(settings, name, flow=ROTATE_FLOW, timeout=timeout,
                          on_event=progress.event if progress is not None else None)
            _collect(doc, name, prog)
    finally:
        if progress is not None:
            progress.close()
    return doc


def _collect(doc: dict[str, Any], name: str, prog: Any) -> None:
    """Add one rotate execution's outcome to the ``--json`` document."""
    results = _results(prog)
    ex: dict[str, Any] = {"name": name, "status": prog.status, "items": len({
        (r.get("listener_key"), r.get("common_name"), r.get("old_identifier")) for r in results})}
    if prog.error:
        ex["error"] = prog.error
        doc["status"] = "failed"
        doc.setdefault("error", prog.error)
    doc["executions"].append(ex)
    for r in _results(prog, ("Deliver",)):
        doc["writes"] += int(r.get("writes") or 0)
        doc["deliveries"] += [d for d in r.get("deliveries") or [] if isinstance(d, dict)]
    for r in results:
        doc["writes"] += int(r.get("writes") or 0)
        if r.get("mode") == "renew" and r.get("action") in ("renewed", "already_renewed") and r.get("certificate"):
            c = r["certificate"]
            doc["renewed"].append({
                "common_name": r["common_name"], "listener_key": r["listener_key"],
                "identifier": c["identifier"], "serial": c["serial"], "not_before": c["not_before"],
                "not_after": c["not_after"], "fingerprint_sha256": c["fingerprint_sha256"],
                "pfx_secret": c["pfx_secret"], "password_secret": c["password_secret"],
                "pfx_version": c["pfx_version"], "password_version": c["pfx_version"],
                "old_identifier": r["old_identifier"], "old_serial": r["old_serial"],
                "retire_after": r.get("retire_after"), "revoke_old": r.get("revoke"),
                "reused": r["action"] == "already_renewed"})
        elif r.get("mode") == "retire" and r.get("action") == "retired":
            doc["retired"].append({"common_name": r["common_name"], "listener_key": r["listener_key"],
                                   "identifier": r["old_identifier"], "serial": r["old_serial"],
                                   "reason": r.get("reason")})


def _print_rotate(console, doc: dict[str, Any], notes=None) -> None:
    """The report on ``console`` (stdout); its error and warnings on ``notes`` (stderr) when given."""
    s = doc.get("scan") or {}
    notes = notes or console
    ok = doc["status"] == "succeeded"
    console.rule("[bold green]alb-mtls rotation" if ok else "[bold red]alb-mtls rotation failed")
    if doc.get("error"):
        notes.print(f"[red]{doc['error'].get('code')}[/]: {doc['error'].get('message')}", soft_wrap=True)
        if not s.get("scanned") and not doc.get("executions"):
            return                                    # nothing was scanned: no summary of nothing
    console.print(f"now {doc.get('now')}: {plural(s.get('scanned', 0), 'certificate')} scanned, "
                  f"{s.get('due', 0)} due, {s.get('retire', 0)} to retire, "
                  f"{plural(s.get('started', 0), 'execution')} started"
                  + (f" (already ran today: {', '.join(s['existing'])})" if s.get("existing") else ""))
    for w in s.get("warnings") or []:
        notes.print(f"  [yellow]warning[/] {w.get('message')}")
    for o in s.get("orphaned") or []:
        console.print(f"  [magenta]not renewed[/] {o}: no longer in its listener's input (orphaned; "
                      "revoke it with albmtls revoke or provision --prune)")
    renewed = doc.get("renewed") or []
    for r in renewed[:SUMMARY_ROWS]:
        console.print(f"  [green]renewed[/] {r['common_name']} on {r['listener_key']}: serial {r['serial']} until "
                      f"{r['not_after']}; old {r['old_serial']} superseded, retire after {r['retire_after']}"
                      + ("" if r.get("revoke_old") else " (expires naturally)"))
        if r.get("pfx_path"):
            console.print(f"    PFX {r['pfx_path']} (password in {r['password_path']})")
    if len(renewed) > SUMMARY_ROWS:
        console.print(f"  and {plural(len(renewed) - SUMMARY_ROWS, 'more renewed certificate')} (--json lists "
                      "every one)")
    for r in doc.get("retired") or []:
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
    revoked = sum(1 for r in doc.get("retired") or [] if r.get("reason") != "holder_switched")
    console.print(f"{plural(len(renewed), 'certificate')} renewed, {revoked} revoked, "
                  f"{plural(int(doc.get('writes') or 0), 'write')}")


def rotate(now: str | None = typer.Option(None, "--now",
                                          help="Set the local cloud's clock to this ISO 8601 time first."),
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
    """Renew due client certificates: the rotation scan and the rotate flow (local cloud)."""
    from shared.core.errors import AlbMtlsError, Code
    from shared.steps.rotation import parse_now
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
        from .clock import check_local_time
        try:
            now = check_local_time(parse_now(now), datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
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
            # a person's certificate leaves KMS only through their download page (their new link)
            people = {(d.get("listener_key"), d.get("common_name")) for d in doc["deliveries"]
                      if d.get("holder_kind") == "person"}
            exported = [r for r in doc["renewed"] if (r["listener_key"], r["common_name"]) not in people]
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

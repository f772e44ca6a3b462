"""``albmtls status``: every client certificate with its state, and each listener's CA and server
certificate ends (``shared.steps.rotation.certificate_report``)."""
from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

import typer

from .options import (
    EXIT_FAILED,
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    Target,
    cloud_identity,
    emit_json,
    fail_local,
    local_banner,
    local_cloud_settings,
    quiet_logs,
)
from .options import console as _console

STATE_STYLE = {"valid": "green", "due": "bold yellow", "superseded": "cyan", "revoked": "red", "expired": "dim red",
               "orphaned": "magenta"}


def _print_status(doc: dict[str, Any]) -> None:
    import shutil

    from rich.console import Console
    from rich.table import Table
    # Readable without a terminal too (pipes, CI logs): at least 140 columns.
    console = Console(highlight=False, width=max(140, shutil.get_terminal_size((140, 24)).columns))
    t = Table(title=f"client certificates at {doc['now']}", title_justify="left")
    for col in ("CN", "listener", "serial", "not_after", "days left", "state", "note"):
        t.add_column(col, justify="right" if col == "days left" else "left", no_wrap=col != "note")
    for r in doc["certificates"]:
        st = r["state"]
        days = r.get("days_left")
        day_style = "red" if days is not None and days <= 7 else ("yellow" if days is not None and days <= 10 else "")
        note = ""
        if st == "superseded":
            note = f"retire after {r.get('retire_after')}"
        elif st in ("valid", "due") and r.get("due_at"):
            note = f"due {r['due_at']}"
        elif st == "orphaned":
            note = f"not in the input since {r.get('orphaned_since')}: not renewed"
        elif st == "revoked" and r.get("revocation"):
            rv = r["revocation"]
            note = f"{rv['reason']}, {rv['revoked_at']} by {rv['requested_by']}"
        if not r["ours"]:
            note = (note + " " if note else "") + "(not issued by alb-mtls)"
        t.add_row(r["common_name"] or "", r.get("listener_key") or "-", (r["serial"] or "")[:16],
                  (r.get("not_after") or "").replace("T", " ").rstrip("Z"),
                  f"[{day_style}]{days}[/]" if day_style else str(days),
                  f"[{STATE_STYLE.get(st, '')}]{st}[/]", note)
    console.print(t)
    for lst in doc.get("listeners") or []:
        console.print(f"listener {lst['listener_key']} ({lst.get('listener_id') or 'not found'}): CA "
                      f"{', '.join(lst.get('ca_certificate_ids') or []) or '-'} ends {lst.get('ca_not_after') or '-'}; "
                      f"server certificate {lst.get('server_certificate_id') or '-'} ends "
                      f"{lst.get('server_certificate_not_after') or '-'}")
    for p in doc.get("pending_deletion") or []:
        console.print(f"secret {p['secret']} ({p['common_name']}): [red]pending deletion[/] until "
                      f"{p['planned_delete_time']} (albmtls restore gets it back until then)")
    _print_drift(console, doc.get("drift"))
    counts = ", ".join(f"{v} {k}" for k, v in sorted(doc.get("counts", {}).items()))
    console.print(counts or "no client certificates")


def _print_drift(console: Any, drift: dict[str, Any] | None) -> None:
    """Drift from the recorded desired states (``albmtls drift`` says more)."""
    from rich.markup import escape
    if not drift:
        return
    for d in drift["listeners"]:
        if d.get("items"):
            items = "; ".join(f"{i['field']} {i.get('actual')} (desired {i.get('desired')})" for i in d["items"])
            console.print(f"[red]drift[/] listener {d['listener_key']}: {escape(items)} — `albmtls apply` repairs it")
        elif d.get("error"):
            console.print(f"[yellow]drift unknown[/] listener {d['listener_key']}: {d['error']['code']}")
    console.print(f"drift: {drift['drifted']} of {drift['checked']} listener(s) with a recorded desired state")


def status(target: str = Target, state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
           secret_prefix: str = typer.Option("albmtls", "--secret-prefix",
                                             help="KMS secret name prefix of the certificates' records."),
           port_offset: int = PortOffset,
           json_out: bool = JsonOut) -> None:
    """Every client certificate (CN, serial, not_after, days left, state: valid, due, superseded,
    orphaned, revoked with its reason, expired), secrets pending deletion, the listeners' CA and
    server certificate ends."""
    from localruntime.environment import LocalCloudUnavailable, local_environment
    from localruntime.fc import local_time
    from shared.core.errors import AlbMtlsError
    from shared.core.settings import Settings
    from shared.steps.drift import drift_report
    from shared.steps.rotation import certificate_report
    quiet_logs()
    with ExitStack() as stack:
        if target == "local":
            try:
                ep = stack.enter_context(local_environment(state_dir, endpoints_file,
                                                           settings=local_cloud_settings(port_offset)))
            except LocalCloudUnavailable as exc:
                fail_local(exc, json_out)
            if not json_out:
                _console().print(local_banner(ep, state_dir), highlight=False)
            settings = Settings.load(target="local", endpoints_file=ep["endpoints_file"])
            stack.enter_context(local_time(ep["endpoints_file"]))    # the local cloud's time, as in a function
        try:
            identity = None
            if target == "cloud":
                settings = Settings.load(target="cloud")
                identity = cloud_identity(settings)         # who and where, before anything else
            doc = certificate_report(settings, secret_prefix=secret_prefix)
            doc["drift"] = drift_report(settings, secret_prefix)     # the listeners against their desired state
            if identity is not None:
                doc["account"] = identity
        except AlbMtlsError as exc:
            doc = {"status": "failed", "error": exc.to_dict()}
            if json_out:
                emit_json(doc)
            else:
                _console().print(f"[red]{exc.code}[/]: {exc.message}", soft_wrap=True)
            raise typer.Exit(EXIT_FAILED) from None
    if json_out:
        emit_json(doc)
    else:
        _print_status(doc)

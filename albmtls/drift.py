"""``albmtls drift``: every listener with a recorded desired state against what the cloud holds
(``shared.steps.drift``): mutual authentication on/off, the CA, the server certificate, the TLS
policy, the client-certificate headers, the server group and its members, the CNAME's target and
TTL. Read-only; exit ``0`` no drift, ``2`` drift found, ``1`` an error.

``--repair`` does what the daily timer does: on the local target it invokes ``albmtls-drift-check``
(the deployed function) with a timer event, which starts a provision execution for every drifted
listener that says ``auto_repair: true`` (on the cloud target the same check runs here, with your
credentials). Other drifted listeners are repaired by ``albmtls apply``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .options import (
    EXIT_FAILED,
    EXIT_OK,
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    Target,
    Yes,
    check_secret_prefix,
    emit_json,
    open_target,
    plural,
    quiet_logs,
    report,
)
from .options import console as _console

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

EXIT_DRIFT = 2
REPO = Path(__file__).resolve().parent.parent


def _v(value: Any) -> str:
    from .fleet import _v as show
    return show(value)


def print_drift(console: Console, doc: dict[str, Any]) -> None:
    """One block per drifted or unreadable listener, then a summary line."""
    from rich.markup import escape
    for d in doc["listeners"]:
        if d.get("error"):
            e = d["error"]
            console.print(f"[bold]{d['listener_key']}[/]: [red]{e['code']}[/]: {escape(e['message'])}")
        elif d.get("items"):
            console.print(f"[bold]{d['listener_key']}[/]: [red]drifted[/] from the desired state recorded "
                          f"{d.get('recorded_at')} ({d.get('execution') or 'no execution'})")
            for i in d["items"]:
                console.print(escape(f"  {i['field']}: {_v(i.get('actual'))} (desired {_v(i.get('desired'))})"))
            if d.get("repair"):
                console.print(f"  repair started: execution {d['repair']}")
            elif d.get("repair_error"):
                console.print(f"  repair not started: {d['repair_error']['code']}: {d['repair_error']['message']}")
            else:
                console.print("  repair: `albmtls apply` with its file" + ("" if d.get("auto_repair") else
                              ", or set auto_repair: true on the listener for the daily timer"))
    console.print(f"{plural(doc['checked'], 'listener')} checked: {doc['drifted']} drifted, "
                  f"{doc['errors']} unreadable"
                  + (f", {plural(doc['repairs'], 'repair')} started" if doc.get("repairs") else "")
                  + f" ({doc['now']})")


def _repair_local(settings: Any, prefix: str) -> dict[str, Any]:
    from datetime import UTC, datetime, timedelta

    from localruntime.fc import invoke_function, local_clock_offset
    from shared.steps.provisioning import deploy_flows
    deploy_flows(settings, REPO / "workflows")
    now = datetime.now(UTC) + timedelta(seconds=local_clock_offset(settings.endpoints_file) or 0.0)
    event = {"triggerTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "triggerName": "albmtls-drift-cli",
             "payload": json.dumps({"secret_prefix": prefix, "repair": True})}
    doc: dict[str, Any] = json.loads(invoke_function("albmtls-drift-check", json.dumps(event).encode(),
                                                     {"timeout": 900}))
    return doc


def drift(target: str = Target, state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
          secret_prefix: str = typer.Option("albmtls", "--secret-prefix",
                                            help="Where the desired states are recorded (KMS secret prefix)."),
          repair: bool = typer.Option(False, "--repair", help="As the daily timer: start a provision execution "
                                      "for each drifted listener with auto_repair: true."),
          port_offset: int = PortOffset, yes: bool = Yes,
          json_out: bool = JsonOut) -> None:
    """The cloud against each listener's last applied desired state. Exit 0 no drift, 2 drift, 1 error."""
    from shared.core.errors import AlbMtlsError
    from shared.steps.drift import drift_report

    quiet_logs()
    console = _console()
    try:
        check_secret_prefix(secret_prefix)     # an invalid one is an error (exit 1): drift's 2 means drift
        with open_target(target, state_dir, endpoints_file, port_offset=port_offset, json_out=json_out,
                         raise_unavailable=True) as opened:
            settings = opened.settings
            if repair and target == "local":
                doc = _repair_local(settings, secret_prefix)
            elif repair:
                import msgspec

                from shared.steps.drift import check
                from shared.steps.rotation import make_context

                from .options import confirm
                confirm([f"check every listener recorded under {secret_prefix}/ and start a provision execution "
                         "for each drifted one that says auto_repair: true (it re-applies its recorded desired "
                         "state)"], yes=yes, what=f"region {settings.region}")    # the cloud target
                doc = msgspec.to_builtins(check(make_context(settings, "drift_check"), secret_prefix, repair=True))
            else:
                doc = drift_report(settings, secret_prefix)
    except AlbMtlsError as exc:
        doc = {"status": "failed", "error": exc.to_dict()}
    if doc.get("status") == "failed":
        if json_out:
            emit_json(doc)
        else:
            console.print(f"[red]{doc['error']['code']}[/]: {doc['error']['message']}")
        raise typer.Exit(EXIT_FAILED)
    if json_out:
        emit_json(doc)
    else:
        print_drift(report(), doc)
    raise typer.Exit(EXIT_FAILED if doc["errors"] else (EXIT_DRIFT if doc["drifted"] else EXIT_OK))

"""``albmtls inventory``: every certificate the private CA lists, with its holder, CN, listener,
serial, SHA-256 fingerprint, validity, days left, state (``valid``, ``due``, ``superseded``,
``orphaned``, ``revoked``, ``expired``) and issuing CA — read from the cloud
(``shared.steps.inventory``), so it is right on a fresh machine. ``--format csv`` prints RFC 4180 CSV
on stdout (one row per certificate, a header first); ``json`` one JSON document; ``table`` a table.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from .options import (
    EXIT_INPUT,
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    Target,
    check_secret_prefix,
    emit_json,
    exit_for,
    open_target,
    plural,
    quiet_logs,
    report,
)
from .options import console as _console

STATE_STYLE = {"valid": "green", "due": "bold yellow", "superseded": "cyan", "orphaned": "magenta", "revoked": "red",
               "expired": "dim red"}


def print_table(doc: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from .status import days_text
    console = report(160)
    t = Table(title=f"certificates the private CA lists at {doc['now']}", title_justify="left")
    for col in ("holder", "CN", "listener", "serial", "SHA-256", "not_before", "not_after", "days left", "state",
                "CA"):
        t.add_column(col, justify="right" if col == "days left" else "left", overflow="fold")   # fold, never cut
    for r in doc["rows"]:
        st = r["state"]
        t.add_row(escape(r.get("holder") or "-"), escape(r.get("common_name") or ""), r.get("listener") or "-",
                  (r.get("serial") or "")[:16], (r.get("fingerprint_sha256") or "")[:16],
                  (r.get("not_before") or "")[:10], (r.get("not_after") or "")[:10], days_text(r.get("days_left")),
                  f"[{STATE_STYLE.get(st, '')}]{st}[/]", (r.get("ca") or "")[:12])
    console.print(t)
    counts = ", ".join(f"{v} {k}" for k, v in doc["counts"].items())
    console.print(f"{plural(doc['listed'], 'certificate')}: {counts or 'none'}")


def inventory(target: str = Target, state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
              secret_prefix: str = typer.Option("albmtls", "--secret-prefix",
                                                help="Where the desired states and records are kept (KMS prefix)."),
              fmt: str = typer.Option("table", "--format", help="table, csv or json."),
              port_offset: int = PortOffset, json_out: bool = JsonOut) -> None:
    """Every certificate the private CA lists: holder, CN, listener, serial, fingerprint, validity, state, CA."""
    from shared.core.errors import AlbMtlsError
    from shared.steps.inventory import inventory_report, to_csv

    quiet_logs()
    if json_out and fmt not in ("table", "json"):
        _console().print(f"[red]INVALID_INPUT[/]: --json and --format {fmt} ask for two formats; give one "
                         "(--json is --format json)")
        raise typer.Exit(EXIT_INPUT)
    fmt = "json" if json_out else fmt
    if fmt not in ("table", "csv", "json"):
        _console().print(f"[red]INVALID_INPUT[/]: --format must be table, csv or json, not {fmt!r}")
        raise typer.Exit(EXIT_INPUT)
    try:
        check_secret_prefix(secret_prefix)
        with open_target(target, state_dir, endpoints_file, port_offset=port_offset, json_out=fmt == "json",
                         raise_unavailable=True) as opened:
            doc = inventory_report(opened.settings, secret_prefix)
    except AlbMtlsError as exc:
        if fmt == "json":
            emit_json({"status": "failed", "error": exc.to_dict()})
        else:
            _console().print(f"[red]{exc.code}[/]: {exc.message}", soft_wrap=True)
        raise typer.Exit(exit_for(exc.code)) from None
    if fmt == "json":
        emit_json(doc)
    elif fmt == "csv":
        sys.stdout.write(to_csv(doc))
        sys.stdout.flush()
    else:
        print_table(doc)

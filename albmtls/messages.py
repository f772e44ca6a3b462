"""``albmtls messages``: every notification the local cloud's mail server and webhook receiver got
(``localruntime.notifysinks``; admin ``GET /_admin/messages``), with whether it passed their checks
(SMTP AUTH over STARTTLS; DingTalk's and Lark's signatures, WeCom's key, the Standard Webhooks HMAC)."""
from __future__ import annotations

import json
import urllib.request
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
    emit_json,
    open_target,
    quiet_logs,
    whole_number,
)
from .options import console as _console


def fetch_messages(endpoints: dict[str, Any], since: int = 0) -> list[dict[str, Any]]:
    """``GET {admin}/messages?since=N`` of a running local cloud."""
    url = endpoints["admin"].rstrip("/") + f"/messages?since={int(since)}"
    with urllib.request.urlopen(url, timeout=10) as resp:
        return list(json.load(resp)["messages"])


def _print(messages: list[dict[str, Any]]) -> None:
    import shutil

    from rich.console import Console
    console = Console(highlight=False, width=max(140, shutil.get_terminal_size((140, 24)).columns))
    if not messages:
        console.print("no messages")
        return
    for m in messages:
        ok = "[green]valid[/]" if m.get("verified") else f"[red]REFUSED[/] ({m.get('reason')})"
        head = f"#{m['n']} {m.get('at')} {m.get('service')} → {m.get('channel')}: {ok}"
        if m.get("service") == "smtp":
            console.print(f"{head}\n  to {', '.join(m.get('to') or [])}: {m.get('subject')}")
            for line in (m.get("text") or "").strip().splitlines():
                console.print(f"    {line}", soft_wrap=True)
        else:
            doc = m.get("json") or {}
            text = (doc.get("markdown") or {}).get("text") or (doc.get("markdown") or {}).get("content") or \
                (doc.get("content") or {}).get("text") or (doc.get("data") or {}).get("title") or ""
            console.print(f"{head}\n    {text.splitlines()[0] if text else ''}".rstrip())


def messages(since: int = typer.Option(0, "--since", parser=whole_number("--since", 0, None, "12"),
                                      help="Only messages after this number."),
             target: str = Target, state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
             port_offset: int = PortOffset, json_out: bool = JsonOut) -> None:
    """The notifications the local cloud's mail server and webhook receiver received (emails with their
    download links, chat robot and webhook messages), and whether each passed the service's checks."""
    quiet_logs()
    if target != "local":
        _console().print("[red]INVALID_INPUT[/]: messages shows what the local cloud received; on a real account "
                         "read your mailbox and chat groups")
        raise typer.Exit(EXIT_INPUT)
    with open_target(target, state_dir, endpoints_file, port_offset=port_offset, json_out=json_out, banner=False,
                     cloud_time=False) as opened:
        found = fetch_messages(opened.endpoints, since)
    if json_out:
        emit_json({"messages": found})
    else:
        _print(found)

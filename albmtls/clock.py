"""``albmtls clock show|set|reset``: the local cloud's clock.

The local cloud keeps its own clock (real time plus an offset, kept in its state directory), which
``albmtls rotate --now`` and the tests move forward so that renewals fall due without waiting.
Every command's banner says when it is not this machine's time; these commands show it, move it,
and put it back (``reset``: offset 0). Certificates issued while the clock was moved keep the
validity they were issued with (the product never reuses one that is not valid at the cloud's
time: it issues a new one).
"""
from __future__ import annotations

import json
import re
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import typer

from .options import (
    EXIT_INPUT,
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    emit_json,
    err,
    fail_local,
    human_offset,
    local_banner,
    local_cloud_settings,
)

clock_app = typer.Typer(no_args_is_help=True, help="Show, move or reset the local cloud's clock.")

_RELATIVE = re.compile(r"^([+-])(\d+(?:\.\d+)?)([smhd])$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def admin_clock(endpoints: dict[str, Any], body: dict[str, Any] | None = None) -> datetime:
    """``GET`` (or ``POST body``) ``{admin}/clock`` of a local cloud; returns its time after."""
    admin = str(endpoints["admin"]).rstrip("/")
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(admin + "/clock", data=data, method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:  # 127.0.0.1 only
        now = json.load(resp)["now"]
    return datetime.fromisoformat(now.replace("Z", "+00:00"))


def parse_when(value: str, wall: datetime) -> datetime:
    """``2027-01-01T00:00:00Z`` or a shift from this machine's time: ``+21d``, ``-3h``, ``+90m``,
    ``+30s`` — inside the local clock's window (:func:`check_local_time`). Raises ``ValueError``
    naming the forms, or the window."""
    m = _RELATIVE.match(value.strip())
    if m:
        sign = 1 if m.group(1) == "+" else -1
        try:
            at = wall + sign * timedelta(seconds=float(m.group(2)) * _UNIT[m.group(3)])
        except OverflowError:
            raise ValueError(f"{value!r} moves the clock outside the local clock's window (this machine's time "
                             "± 100 years, not before 1970)") from None
        return check_local_time(at, wall)
    from shared.core.clock import parse_iso
    try:
        at = parse_iso(value)
    except (ValueError, AttributeError, OverflowError):
        raise ValueError(f"{value!r} is neither an ISO 8601 time (2027-01-01T00:00:00Z) nor a shift from now "
                         "(+21d, -3h, +90m, +30s)") from None
    return check_local_time(at, wall)


def check_local_time(at: datetime, wall: datetime) -> datetime:
    """``at`` when the local cloud's clock can be there (``localcloud.clock.window_problem``, the one
    rule the local cloud applies too: ``clock set`` and ``rotate --now`` check it before anything
    moves); ``ValueError`` naming the window otherwise."""
    from localcloud.clock import window_problem
    problem = window_problem(at, wall)
    if problem:
        raise ValueError(problem)
    return at


def _run(state_dir: Path, endpoints_file: Path | None, port_offset: int, json_out: bool,
         body: dict[str, Any] | None) -> None:
    from localruntime.environment import LocalCloudUnavailable, local_environment
    try:
        with local_environment(state_dir, endpoints_file, settings=local_cloud_settings(port_offset)) as ep:
            if not json_out:
                err(local_banner(ep, state_dir, clock=False))     # the clock is this command's report
            now = admin_clock(ep, body)
    except LocalCloudUnavailable as exc:
        fail_local(exc, json_out)
        return
    wall = datetime.now(UTC)
    offset = (now - wall).total_seconds()
    doc = {"now": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "wall": wall.strftime("%Y-%m-%dT%H:%M:%SZ"),
           "offset_s": round(offset, 1), "at_wall_time": abs(offset) < 2}
    if json_out:
        emit_json(doc)
    elif doc["at_wall_time"]:
        typer.echo(f"local cloud clock {doc['now']}: this machine's time")
    else:
        typer.echo(f"local cloud clock {doc['now']}: {human_offset(offset)} {'ahead of' if offset > 0 else 'behind'} "
            "this machine's (`albmtls clock reset` puts it back)")


@clock_app.command("show")
def clock_show(state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
               port_offset: int = PortOffset, json_out: bool = JsonOut) -> None:
    """The local cloud's time and how far it is from this machine's."""
    _run(state_dir, endpoints_file, port_offset, json_out, None)


@clock_app.command("set")
def clock_set(when: str = typer.Argument(..., help="ISO 8601 time, or a shift from now: +21d, -3h, +90m, +30s."),
              state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
              port_offset: int = PortOffset, json_out: bool = JsonOut) -> None:
    """Move the local cloud's clock (it keeps running from there, and stays moved across restarts)."""
    try:
        at = parse_when(when, datetime.now(UTC))
    except ValueError as exc:
        if json_out:
            emit_json({"status": "failed", "error": {"code": "INVALID_INPUT", "message": str(exc), "field": "when"}})
        else:
            err(f"INVALID_INPUT: {exc}")
        raise typer.Exit(EXIT_INPUT) from None
    _run(state_dir, endpoints_file, port_offset, json_out, {"now": at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")})


@clock_app.command("reset")
def clock_reset(state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
                port_offset: int = PortOffset, json_out: bool = JsonOut) -> None:
    """Put the local cloud's clock back to this machine's time."""
    _run(state_dir, endpoints_file, port_offset, json_out, {"offset": 0})

"""``albmtls resend`` and ``albmtls holder-policy``: the holder side of delivery (issue 15).

``resend --cn CN [--listener ALB:PORT]`` sends a person holder a new one-time download link for the
current certificate of CN (the link the download page tells them to ask for when theirs was used or
expired); the old link stops working. It runs the delivery step (``shared.steps.deliver.resend``)
in this process against the target, with the notification channels stored in KMS
(``<prefix>/notify/config``): on ``--target cloud`` this machine must reach the SMTP server.

``holder-policy -f INPUT --cn CN [--listener ALB:PORT]`` (INPUT: one provision input or a fleet,
JSON or YAML, read as plan and apply read it) prints, for a ``system`` holder, the least-privilege RAM policy
that lets exactly its ``ram_principal`` read exactly its ``pfx`` and ``password`` secrets, the
``aliyun`` commands that create and attach it, and the one-liners the system runs to fetch them
(``shared.policy.holderpolicy``). It reads only the input file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .options import (
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    Target,
    check_secret_prefix,
    emit_json,
    exit_for,
    open_target,
    quiet_logs,
)
from .options import console as _console

#: codes that mean "the request itself is wrong" (exit 2)

CnOpt = typer.Option(..., "--cn", help="The client's common name.")
ListenerOpt = typer.Option(None, "--listener", help="The listener (<alb-id>:<port>); needed only when the CN "
                           "has a holder on several listeners.")
SecretPrefix = typer.Option("albmtls", "--secret-prefix", help="The KMS secret prefix the client was provisioned with.")


def _finish(doc: dict[str, Any], json_out: bool, printer: Any) -> None:
    if json_out:
        emit_json(doc)
    elif doc.get("error"):
        _console().print(f"[red]{doc['error']['code']}[/]: {doc['error']['message']}", soft_wrap=True)
    else:
        printer(doc)
    code = (doc.get("error") or {}).get("code")
    raise typer.Exit(exit_for(code))


def resend_link(settings: Any, cn: str, listener: str | None, secret_prefix: str) -> dict[str, Any]:
    """The ``--json`` document of ``albmtls resend`` (``delivery``: ``ClientDelivery``, ``writes``).
    Raises ``AlbMtlsError``."""
    import msgspec

    from shared.core.errors import invalid_input
    from shared.policy.ids import listener_key as make_key
    from shared.steps.deliver import holder_listeners, resend
    from shared.steps.rotation import make_context

    from .offboard import parse_listener
    ctx = make_context(settings, "resend", deadline_s=120)
    if listener is not None:
        lk = make_key(*parse_listener(listener))
    else:
        found = holder_listeners(ctx, secret_prefix, cn)
        if not found:
            from shared.core.errors import AlbMtlsError, Code
            raise AlbMtlsError(Code.CLIENT_NOT_FOUND, f"no client {cn!r} with a holder under the secret prefix "
                               f"{secret_prefix!r}: name the holder in the input (clients[].holder) and provision",
                               field="cn")
        if len(found) > 1:
            raise invalid_input("listener", f"{cn!r} has a holder on several listeners ({', '.join(found)}): "
                                "name one with --listener <alb-id>:<port>")
        lk = found[0]
    out, writes = resend(ctx, secret_prefix, lk, cn)
    return {"delivery": msgspec.to_builtins(out), "writes": writes}


def _print_resend(doc: dict[str, Any]) -> None:
    from .provision import print_deliveries
    print_deliveries(_console(), [doc["delivery"]])


def resend_cmd(cn: str = CnOpt, listener: str | None = ListenerOpt, secret_prefix: str = SecretPrefix,
               target: str = Target, state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
               port_offset: int = PortOffset, json_out: bool = JsonOut) -> None:
    """Send a person holder a new one-time download link for the current certificate of CN (the old
    link stops working). Exit 2 when the CN has no holder, its holder is a system, or it was revoked."""
    from shared.core.errors import AlbMtlsError
    quiet_logs()
    try:
        check_secret_prefix(secret_prefix)
        with open_target(target, state_dir, endpoints_file, port_offset=port_offset, json_out=json_out) as opened:
            doc = resend_link(opened.settings, cn, listener, secret_prefix)
    except AlbMtlsError as exc:
        doc = {"error": exc.to_dict()}
    _finish(doc, json_out, _print_resend)


def _print_policy(doc: dict[str, Any]) -> None:
    import json
    console = _console()
    who = doc["principal"] or "(no ram_principal in the input)"
    console.print(f"[bold]RAM policy {doc['policy_name']}[/] for {who}"
                  f" — read {doc['common_name']}'s PFX and password on {doc['listener_key']}, nothing else:")
    console.print(json.dumps(doc["policy"], indent=2), highlight=False, soft_wrap=True)
    console.print("[bold]create and attach it[/]:")
    for c in doc["attach"]:
        console.print(f"  {c}", highlight=False, soft_wrap=True)
    console.print("[bold]the system fetches its certificate with[/]:")
    for c in doc["fetch"]:
        console.print(f"  {c}", highlight=False, soft_wrap=True)
    for n in doc["notes"]:
        console.print(f"[dim]{n}[/]", soft_wrap=True)


def system_policy(inp: Any, cn: str) -> dict[str, Any]:
    """``holder-policy``'s document for client ``cn`` of input ``inp``. Raises ``AlbMtlsError``."""
    from shared.core.errors import AlbMtlsError, Code, invalid_input
    from shared.policy.contracts import SystemHolder
    from shared.policy.holderpolicy import holder_policy
    client = next((c for c in inp.clients if c.common_name == cn), None)
    if client is None:
        raise AlbMtlsError(Code.CLIENT_NOT_FOUND, f"no client {cn!r} in the input; clients: "
                           + ", ".join(c.common_name for c in inp.clients), field="cn")
    if not isinstance(client.holder, SystemHolder):
        raise invalid_input("cn", f"the holder of {cn!r} is not a system (clients[].holder.kind is not \"system\"): "
                            "a person downloads the certificate through the link sent by email")
    import os
    region = inp.region or os.environ.get("ALBMTLS_REGION") or os.environ.get("ALIBABA_CLOUD_REGION") or "cn-hangzhou"
    return holder_policy(region, inp.secrets(cn), inp.listener_key, cn, client.holder.ram_principal)


def input_for(fleet: Any, cn: str, listener: str | None) -> Any:
    """The provision input of ``fleet`` (a fleet or one provision input, as plan/apply read it) whose
    clients name ``cn`` — on ``listener`` (``<alb-id>:<port>``) when given. Raises ``AlbMtlsError``."""
    from shared.core.errors import AlbMtlsError, Code, invalid_input

    from .offboard import parse_listener
    inputs = list(fleet.listeners)
    if listener is not None:
        alb, port = parse_listener(listener)
        inputs = [i for i in inputs if (i.load_balancer_id, i.listener_port) == (alb, port)]
        if not inputs:
            raise invalid_input("listener", f"no listener {listener} in the input; its listeners: "
                                + ", ".join(f"{i.load_balancer_id}:{i.listener_port}" for i in fleet.listeners))
    named = [i for i in inputs if any(c.common_name == cn for c in i.clients)]
    if len(named) > 1:
        raise invalid_input("listener", f"{cn!r} is a client of several listeners in the input ("
                            + ", ".join(f"{i.load_balancer_id}:{i.listener_port}" for i in named)
                            + "): name one with --listener <alb-id>:<port>")
    if not named:
        raise AlbMtlsError(Code.CLIENT_NOT_FOUND, f"no client {cn!r} in the input; clients: "
                           + ", ".join(c.common_name for i in inputs for c in i.clients), field="cn")
    return named[0]


def holder_policy_cmd(file: Path = typer.Option(..., "-f", "--file", help="The input naming the client: one "
                                                "provision input or a fleet, JSON or YAML (.yaml/.yml), as "
                                                "plan and apply read it."),
                      cn: str = CnOpt, listener: str | None = ListenerOpt, json_out: bool = JsonOut) -> None:
    """Print the least-privilege RAM policy for a system holder (read exactly its own PFX and password
    secrets), the aliyun commands to create and attach it, and how the system fetches its certificate."""
    from shared.core.errors import AlbMtlsError

    from .fleet import load_fleet
    try:
        inp = input_for(load_fleet(file), cn, listener)
        doc = system_policy(inp, cn)
    except AlbMtlsError as exc:
        doc = {"error": exc.to_dict()}
    _finish(doc, json_out, _print_policy)

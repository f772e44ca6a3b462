"""``albmtls revoke`` and ``albmtls restore``: offboard holders of a listener, or give them access
back — one execution of the revoke flow (``workflows/revoke.yaml``, FC ``albmtls-offboard-client``)
per listener at a time, as ``POST /clients/revocations`` starts it (``shared.steps.offboarding``).

``revoke`` revokes every valid certificate of each CN on the listener at the private CA, schedules
its PFX and password secrets for deletion with the KMS recovery window, and records the reason,
time, requester and request id; the daily rotation never renews it again. ``restore`` (inside the
recovery window: the secrets come back) issues a certificate in place of the revoked one and, on the
local target, exports it as ``provision`` does (``--out``, ``--passwords-dir``). On ``--target
cloud`` both first name the account and show what they will change, and ask unless ``--yes``.
"""
from __future__ import annotations

import getpass
import socket
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import typer

from .export import Out, PasswordsBeside, PasswordsDir
from .options import (
    EXIT_INPUT,
    EXIT_OK,
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    Target,
    Yes,
    check_timeout,
    confirm,
    emit_json,
    exit_for,
    open_target,
    quiet_logs,
    report,
    safe_text,
)
from .options import console as _console

REPO = Path(__file__).resolve().parent.parent
REVOKE_WORKFLOW = REPO / "workflows" / "revoke.yaml"

ListenerOpt = typer.Option(..., "--listener", help="The listener: <alb-id>:<port>, e.g. alb-demostd000000000001:443.")
CnOpt = typer.Option(..., "--cn", help="A client's common name (repeat for several).")
RequestedBy = typer.Option(None, "--requested-by", help="Who asks (recorded with the revocation; default: "
                           "your user name @ this host).")
SecretPrefix = typer.Option("albmtls", "--secret-prefix",
                            help="The KMS secret prefix the clients were provisioned with.")
TimeoutOpt = typer.Option(600.0, "--timeout", callback=check_timeout,
                          help="Give up following the execution after this many seconds.")


def parse_listener(value: str) -> tuple[str, int]:
    """``alb-xxx:443`` → ``("alb-xxx", 443)``; ``INVALID_INPUT`` (field ``listener``) otherwise."""
    from shared.core.errors import invalid_input
    lb, sep, port = value.strip().rpartition(":")
    if not sep or not lb.startswith("alb-") or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise invalid_input("listener", f"{value!r} is not '<alb-id>:<port>' (e.g. alb-demostd000000000001:443)")
    return lb, int(port)


def default_requester() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"[:128]


def build_request(action: str, listener: str, cns: list[str], *, reason: str = "unspecified",
                  requested_by: str | None = None, secret_prefix: str = "albmtls",
                  recovery_window_days: int = 30) -> tuple[dict[str, Any], Any]:
    """The revoke flow's input (JSON dict, validated ``RevokeRequest``). Raises ``AlbMtlsError``
    (``INVALID_INPUT`` naming the field)."""
    from shared.policy.offboarding import RevokeRequest
    from shared.policy.validation import decode
    lb, port = parse_listener(listener)
    raw = {"action": action, "load_balancer_id": lb, "listener_port": port, "common_names": list(cns),
           # only an absent --requested-by is the login: '' is refused by the input's one rule, as the API refuses it
           "requested_by": default_requester() if requested_by is None else requested_by,
           "request_id": f"cli-{uuid.uuid4().hex}", "secret_prefix": secret_prefix}
    if action == "revoke":
        raw.update(reason=reason, recovery_window_days=recovery_window_days)
    return raw, decode(RevokeRequest, raw)


def run_offboard(settings: Any, raw: dict[str, Any], listener_key: str, *, timeout: float,
                 console: Any = None) -> dict[str, Any]:
    """Deploy the revoke flow if it changed, start one execution for the listener (refused while
    another execution acts on it), follow it; the ``--json`` document
    (``shared.steps.provisioning.offboard_document`` + ``execution``)."""
    from shared.steps.provisioning import REVOKE_FLOW, deploy_flows, offboard_document, start_provision

    from .provision import follow
    deploy_flows(settings, REVOKE_WORKFLOW.parent)
    started = start_provision(settings, raw, listener_key, flow=REVOKE_FLOW, request_id=raw["request_id"])
    if console is not None:
        console.print(f"flow {REVOKE_FLOW}; execution [bold]{started.name}[/]")
    prog = follow(settings, started.name, flow=REVOKE_FLOW, timeout=timeout, console=console)
    doc = offboard_document(prog)
    doc["execution"] = started.name
    doc["listener_key"] = doc.get("listener_key") or listener_key
    return doc


def _print(console: Any, doc: dict[str, Any], notes: Any = None) -> None:
    """The report on ``console`` (stdout), its error on ``notes`` (stderr) when given."""
    ok = doc["status"] == "succeeded"
    what = "revocation" if doc.get("action") != "restore" else "restore"
    console.rule(f"[bold green]alb-mtls {what}" if ok else f"[bold red]alb-mtls {what} failed")
    if doc.get("error"):
        (notes or console).print(f"[red]{doc['error'].get('code')}[/]: {safe_text(doc['error'].get('message'))}")
    for c in doc.get("clients") or []:
        if c["action"] in ("revoked", "already_revoked"):
            serials = ", ".join(r.get("serial", "") for r in c.get("revoked") or []) or "none left valid"
            console.print(f"  [red]{c['action']}[/] {c['common_name']} on {doc.get('listener_key')}: reason "
                          f"{c.get('reason')}, at {c.get('revoked_at')} by {safe_text(c.get('requested_by'))} "
                          f"(certificates revoked now: {serials})")
            for s in c.get("secrets") or []:
                console.print(f"    secret {s['name']}: {s['state'].replace('_', ' ')}"
                              + (f" until {s['planned_delete_time']}" if s.get("planned_delete_time") else ""))
            if c.get("listener_refuses_by"):
                console.print(f"    listeners refuse it by {c['listener_refuses_by']} (assumed bound "
                              f"{doc.get('refusal_bound_s')} s; backends: docs/BACKENDS.md)")
        elif c["action"] == "restored":
            cert = c.get("certificate") or {}
            console.print(f"  [green]restored[/] {c['common_name']}: new certificate serial {cert.get('serial')} "
                          f"until {cert.get('not_after')}")
            if cert.get("pfx_path"):
                console.print(f"    PFX {cert['pfx_path']} (password in {cert['password_path']})")
            if c.get("delivery") and c["delivery"].get("action") != "no_holder":
                from .provision import print_deliveries
                print_deliveries(console, [c["delivery"]])
        else:
            console.print(f"  {c['common_name']}: {c['action'].replace('_', ' ')} (nothing to do)")
    rk = doc.get("rekey")
    if rk:
        console.print(f"  own CA {rk['ca']}: generation {rk['generation']} issues; replacements for "
                      f"{len(rk.get('renewed') or [])} other holder(s)"
                      + (f", skipped: {'; '.join(rk['skipped'])}" if rk.get("skipped") else ""), soft_wrap=True)
        for c, on in zip(rk.get("renewed") or [], rk.get("renewed_on") or [], strict=False):
            console.print(f"    {on}: serial {c.get('serial')} until {c.get('not_after')}"
                          + (f", PFX {c['pfx_path']} (password in {c['password_path']})" if c.get("pfx_path") else ""),
                          soft_wrap=True)
        if rk.get("deliveries"):
            from .provision import print_deliveries
            print_deliveries(console, rk["deliveries"])
        if rk.get("switched"):
            console.print(f"  listeners {', '.join(rk.get('listeners') or []) or '-'} trust generation "
                          f"{rk['generation']} ({rk.get('alb_ca_certificate_id') or '-'}): certificates of the older "
                          "one, the revoked among them, are refused", soft_wrap=True)
        else:
            console.print(f"  [yellow]listeners still trust the older generation[/] until the other holders have "
                          f"switched (the daily rotation, or albmtls ca switch --name {rk['ca']}; --now at once); "
                          f"waiting: {'; '.join(rk.get('waiting') or []) or '-'}", soft_wrap=True)
    console.print(f"writes: {doc.get('writes')}")


def _cloud_plan(req: Any) -> list[str]:
    """What a revoke or restore will change, one line per holder (the cloud target asks first)."""
    where = f"{req.load_balancer_id}:{req.listener_port}"
    if req.action == "restore":
        return [f"restore {cn} on {where}: its PFX and password secrets back (inside the recovery window), a new "
                "certificate issued in place of the revoked one" for cn in req.common_names]
    return [f"revoke {cn} on {where} (reason {req.reason}): every valid certificate of it revoked at the private CA "
            "(not undoable), its PFX and password secrets scheduled for deletion (restorable for "
            f"{req.recovery_window_days} days), renewals stopped" for cn in req.common_names]


def _offboard(action: str, listener: str, cns: list[str], *, reason: str, requested_by: str | None,
              recovery_window_days: int, secret_prefix: str, target: str, state_dir: Path,
              endpoints_file: Path | None, export: tuple[Path, Path | None, bool] | None, json_out: bool,
              timeout: float, port_offset: int, yes: bool, rekey: bool = False, now: bool = False) -> None:
    from shared.core.errors import AlbMtlsError
    quiet_logs()
    console = _console()

    def finish(doc: dict[str, Any]) -> None:
        if json_out:
            emit_json(doc)
        elif "clients" in doc:
            _print(report(), doc, console)
        else:
            console.print(f"[red]{doc['error']['code']}[/]: {safe_text(doc['error']['message'])}", soft_wrap=True)
        code = (doc.get("error") or {}).get("code")
        raise typer.Exit(EXIT_OK if doc.get("status") == "succeeded" else exit_for(code or "FAILED"))

    try:
        raw, req = build_request(action, listener, cns, reason=reason, requested_by=requested_by,
                                 secret_prefix=secret_prefix, recovery_window_days=recovery_window_days)
        exports = None
        if export is not None and target == "local":
            from .export import export_target
            exports = export_target(*export)
    except AlbMtlsError as exc:
        finish({"status": "failed", "error": exc.to_dict()})
    with ExitStack() as stack:
        try:     # local: the cloud's clock names the execution; cloud: the account, identity and region first
            settings = stack.enter_context(open_target(target, state_dir, endpoints_file, port_offset=port_offset,
                                                       json_out=json_out)).settings
        except AlbMtlsError as exc:
            finish({"status": "failed", "error": exc.to_dict()})
        if target == "cloud":
            confirm(_cloud_plan(req), yes=yes, what=f"region {settings.region}")
        doc: dict[str, Any] = {}
        try:
            ctx = None
            if rekey:            # read-only, before anything changes: the listener's CA is an own CA
                from shared.steps.ownca_rekey import own_ca_of_listener
                from shared.steps.rotation import make_context
                ctx = make_context(settings, "revoke_rekey")
                own_ca_of_listener(ctx, req.secret_prefix, req.listener_key)
            doc = run_offboard(settings, raw, req.listener_key, timeout=timeout, console=None if json_out else console)
            # only a client without a holder is exported (shared.policy.delivery.exported_to_operator)
            from shared.policy.delivery import exported_to_operator
            restored = [c["certificate"] for c in doc["clients"]
                        if c.get("action") == "restored" and c.get("certificate")
                        and exported_to_operator((c.get("delivery") or {}).get("holder_kind"))]
            if ctx is not None and doc["status"] == "succeeded":
                from shared.steps.ownca_rekey import as_dict, rekey_after_revoke
                outcome = rekey_after_revoke(ctx, req.secret_prefix, req.listener_key, at_once=now)
                doc["rekey"] = as_dict(outcome)
                doc["writes"] = (doc.get("writes") or 0) + outcome.writes
                # a replacement is exported only for a client without a holder, as a renewal is
                kinds = {f"{d['listener_key']}/{d['common_name']}": d.get("holder_kind") for d in outcome.deliveries}
                restored = [c for c, on in zip(doc["rekey"]["renewed"], outcome.renewed_on, strict=True)
                            if exported_to_operator(kinds.get(on))]
            if exports is not None and restored and doc["status"] == "succeeded":
                from .export import export_pfx
                export_pfx(settings, restored, exports)
        except AlbMtlsError as exc:
            # a failed --rekey keeps what the revocation did (run the command again to finish the rekey)
            doc = {**doc, "status": "failed", "error": exc.to_dict(), "listener_key": req.listener_key}
    finish(doc)


def revoke(listener: str = ListenerOpt, cn: list[str] = CnOpt,
           reason: str = typer.Option("unspecified", "--reason",
                                      help="key_compromise | cessation | superseded | unspecified (recorded; the "
                                           "private CA takes no reason)"),
           requested_by: str | None = RequestedBy,
           recovery_window_days: int = typer.Option(30, "--recovery-window-days",
                                                    help="KMS recovery window of the PFX and password secrets, 7-30 "
                                                         "days: `albmtls restore` works until then."),
           secret_prefix: str = SecretPrefix,
           target: str = Target, state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
           port_offset: int = PortOffset, yes: bool = Yes, json_out: bool = JsonOut,
           timeout: float = TimeoutOpt,
           rekey: bool = typer.Option(False, "--rekey",
                                      help="Own CA only: then a new issuing sub-CA (new KMS keys), replacements for "
                                           "every other holder (delivered like renewals), and the listeners moved to "
                                           "the new sub-CA once every holder switched to it, so the revoked "
                                           "certificate is refused by the listener (ALB documents no CRL check of an "
                                           "uploaded CA)."),
           now: bool = typer.Option(False, "--now", help="With --rekey: move the listeners to the new sub-CA at "
                                                         "once, even if some holders have not switched yet."),
           out: Path = Out, passwords_dir: Path | None = PasswordsDir,
           passwords_beside: bool = PasswordsBeside) -> None:
    """Revoke clients' access on a listener: their certificates at the CA, their secrets
    (recoverable), every later renewal; --rekey (own CA) also issues the other holders' replacements
    from a new sub-CA, delivered like renewals (a person's download link, a system's webhook; the
    others exported like provision), and moves the listeners to it once they have switched (the daily
    rotation or `albmtls ca switch`; --now: at once). On --target cloud it first names the
    account and asks (unless --yes)."""
    if now and not rekey:
        from shared.core.errors import invalid_input
        emit_json({"status": "failed", "error": invalid_input("now", "--now goes with --rekey").to_dict()}) \
            if json_out else _console().print("[red]INVALID_INPUT[/]: --now goes with --rekey")
        raise typer.Exit(EXIT_INPUT)
    _offboard("revoke", listener, cn, reason=reason, requested_by=requested_by,
              recovery_window_days=recovery_window_days, secret_prefix=secret_prefix, target=target,
              state_dir=state_dir, endpoints_file=endpoints_file,
              export=(out, passwords_dir, passwords_beside) if rekey else None, json_out=json_out, timeout=timeout,
              port_offset=port_offset, yes=yes, rekey=rekey, now=now)


def restore(listener: str = ListenerOpt, cn: list[str] = CnOpt,
            requested_by: str | None = RequestedBy, secret_prefix: str = SecretPrefix,
            target: str = Target, state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
            out: Path = Out, passwords_dir: Path | None = PasswordsDir, passwords_beside: bool = PasswordsBeside,
            port_offset: int = PortOffset, yes: bool = Yes, json_out: bool = JsonOut,
            timeout: float = TimeoutOpt) -> None:
    """Give revoked clients access again: their secrets back (inside the recovery window) and a new
    certificate (the local target exports it as provision does)."""
    _offboard("restore", listener, cn, reason="unspecified", requested_by=requested_by, recovery_window_days=30,
              secret_prefix=secret_prefix, target=target, state_dir=state_dir, endpoints_file=endpoints_file,
              export=(out, passwords_dir, passwords_beside), json_out=json_out, timeout=timeout,
              port_offset=port_offset, yes=yes)

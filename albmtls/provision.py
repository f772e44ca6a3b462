"""``albmtls provision``: deploy the flow if it changed, start one execution for the listener,
follow it step by step, print a summary (or one JSON document), and on the local target export
each client's PFX into ``--out`` and its password into ``--passwords-dir`` (files mode 0600;
``albmtls/export.py``).
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import typer

from .export import Out, PasswordsBeside, PasswordsDir
from .options import (
    DEFAULT_PORT_OFFSET,
    EXIT_FAILED,
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
    exit_for,
    open_target,
    plural,
    quiet_logs,
    report,
)
from .options import console as _console

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / "workflows" / "provision.yaml"



def _fail_doc(code: str, message: str, field: str | None = None, **extra: Any) -> dict[str, Any]:
    err = {"code": code, "message": message}
    if field:
        err["field"] = field
    return {"status": "failed", "error": err, **extra}


def load_input(file: Path, *, prune: bool = False) -> tuple[dict[str, Any], Any]:
    """Read and validate a provision input file → (json dict, ProvisionInput); ``prune`` sets the
    input's ``prune`` (``--prune``). Raises AlbMtlsError."""
    from shared.core.errors import AlbMtlsError
    from shared.policy.contracts import ProvisionInput
    from shared.policy.fleet import load_document
    from shared.policy.validation import decode

    from .options import read_input
    try:
        raw = load_document(read_input(file), "json")
    except AlbMtlsError as exc:
        raise AlbMtlsError(exc.code, f"{file}: {exc.message}" if exc.field == "document" else exc.message,
                           field="file") from None
    if prune and isinstance(raw, dict):
        raw["prune"] = True
    inp = decode(ProvisionInput, raw)
    return raw, inp


def _step_label(step: str | None) -> str:
    return (step or "").rsplit("/", 1)[-1]


def follow(settings, name: str, *, flow: str, timeout: float, console=None,
           poll: float = 0.3, on_event: Any = None) -> Any:
    """Poll the execution until it ends (bounded by ``timeout`` seconds); print progress lines on
    ``console``, or hand each new history event to ``on_event`` instead."""
    from shared.core.errors import AlbMtlsError, Code
    from shared.steps.provisioning import describe_provision
    deadline = time.monotonic() + timeout
    seen = 0
    prog = None
    while time.monotonic() < deadline:
        prog = describe_provision(settings, name, flow=flow)
        if prog is None:
            raise AlbMtlsError(Code.INTERNAL, f"execution {name} disappeared")
        if console is not None or on_event is not None:
            for ev in prog.events[seen:]:
                if on_event is not None:
                    on_event(ev)
                else:
                    _print_event(console, ev)
            seen = len(prog.events)
        if prog.done:
            return prog
        time.sleep(poll)
    raise AlbMtlsError(Code.TIMEOUT, f"execution {name} still running after {timeout:.0f} s; follow it with "
                                     f"`albmtls status` (it goes on in the background)")


def _print_event(console, ev: dict[str, Any]) -> None:
    from shared.steps.provisioning import task_result
    t, step = ev.get("type"), _step_label(ev.get("step"))
    if t == "TaskSucceeded":
        res = task_result(ev)
        status = res.get("status") if isinstance(res, dict) else None
        if status == "ok":
            console.print(f"  [green]✓[/] {step}")
        elif status in ("pending", "pending_propagation"):
            console.print(f"  [yellow]…[/] {step}: {status} (attempt {res.get('attempt')})")
        elif status == "failed":
            err = res.get("error", {})
            console.print(f"  [red]✗[/] {step}: {err.get('code')}: {err.get('message')}")
    elif t == "TaskFailed":
        d = ev.get("detail") or {}
        console.print(f"  [red]![/] {step}: {d.get('error') or d.get('Code') or ''} (retrying if allowed)")
    elif t == "RetryScheduled":
        console.print(f"  [yellow]↻[/] {step}: retry scheduled")


def summarize(started_name: str, prog, listener_key: str) -> dict[str, Any]:
    """The ``--json`` document: see ``shared.steps.provisioning.result_document``."""
    from shared.steps.provisioning import result_document
    doc = result_document(prog)
    doc["execution"] = started_name
    doc["listener_key"] = listener_key
    return doc


def print_summary(console, doc: dict[str, Any], notes=None) -> None:
    """The summary on ``console`` (stdout); its error and warnings on ``notes`` (stderr) when given."""
    from rich.table import Table
    notes = notes or console
    ok = doc["status"] == "succeeded"
    console.print()
    console.rule("[bold green]alb-mtls: mutual TLS is on" if ok else "[bold red]alb-mtls: provisioning failed")
    if doc.get("error"):
        err = doc["error"]
        where = f" (step {err['step']}; the workflow ended with {err.get('execution_code')})" if err.get("step") else ""
        notes.print(f"[red]{err.get('code')}[/]{where}: {err.get('message')}", soft_wrap=True)
        notes.print("See the README's 'Troubleshooting by error code'. "
                    "Every step resumes: fix the cause and run again.")
    t = Table(show_header=False, box=None)
    lst = doc.get("listener") or {}
    if lst:
        t.add_row("listener", f"{lst.get('id')} port {lst.get('port')}  mTLS {'on' if lst.get('ca_enabled') else 'OFF'}"
                              f"  CA {lst.get('ca_certificate_id')}  policy {lst.get('security_policy_id')}")
    dns = doc.get("dns") or {}
    if dns:
        host = dns.get("domain") if dns.get("rr") == "@" else f"{dns.get('rr')}.{dns.get('domain')}"
        t.add_row("dns", f"{host} {dns.get('type')} → {dns.get('value')} "
                         f"(TTL {dns.get('ttl')} s, record {dns.get('record_id')})")
        prop = dns.get("propagation") or {}
        if prop.get("name_servers"):
            t.add_row("", f"answered by {len(prop.get('answered') or [])} of "
                          f"{plural(len(prop['name_servers']), 'name server')} after {prop.get('waited_s')} s: "
                          f"{', '.join(prop.get('answered') or []) or '-'}"
                          f" (wait bound {prop.get('bound_s')} s = max(TTL, negative caching "
                          f"{prop.get('negative_ttl_s')} s from the {prop.get('negative_ttl_source')}))")
    for c in doc.get("client_certificates") or []:
        pfx = f"\n  PFX {c['pfx_path']} (password in {c['password_path']})" if c.get("pfx_path") else ""
        t.add_row("client", f"{c.get('common_name')}: serial {c.get('serial')}, not_after {c.get('not_after')}"
                            f"{' (reused)' if c.get('reused') else ''}{pfx}")
    health = doc.get("health") or {}
    if health:
        t.add_row("health", "every backend healthy" if health.get("healthy") else "NOT healthy")
    probe = doc.get("probe") or {}
    if probe:
        w = probe.get("with_certificate") or {}
        backends = ", ".join(f"{k}×{v}" for k, v in (w.get("backends") or {}).items())
        t.add_row("probe", f"with certificate: HTTP {w.get('status')} from {backends or 'no backend'}")
        refused = (probe.get("without_certificate") or {}).get("refused")
        t.add_row("", "without certificate: " + ("refused" if refused else "NOT refused"))
        if probe.get("foreign_certificate") is not None:
            refused = probe["foreign_certificate"].get("refused")
            t.add_row("", "foreign certificate: " + ("refused" if refused else "NOT refused"))
    for o in doc.get("orphaned") or []:
        t.add_row("orphaned", f"[yellow]{o.get('common_name')}[/]: not in `clients` since {o.get('since')}, "
                              f"{plural(int(o.get('certificates') or 0), 'valid certificate')} until "
                              f"{o.get('not_after')} — not "
                              "renewed; revoke with --prune (or \"prune\": true) or albmtls revoke")
    if doc.get("lose_access"):
        t.add_row("[red]LOSE ACCESS[/]", f"[red]{', '.join(doc['lose_access'])}[/]: the listener's CA changed and they "
                  "are not in `clients`: their certificates are of the old CA, refused from now on (alert unknown "
                  "ca) — add them to `clients` to reissue them of the new CA, or revoke them")
    for p in doc.get("pruned") or []:
        t.add_row("pruned", f"[red]{p.get('common_name')}[/]: {p.get('action')} (reason {p.get('reason')}; "
                            f"{plural(len(p.get('revoked') or []), 'certificate')} revoked now, secrets scheduled for "
                            "deletion)")
    t.add_row("writes", str(doc.get("writes")))
    console.print(t)
    print_deliveries(notes, doc.get("deliveries") or [])     # what was sent: said on stderr, as progress
    for w in doc.get("warnings") or []:
        notes.print(f"[yellow]{w.get('level', 'warning')}[/]: {w.get('message')}")


def print_deliveries(console, deliveries: list[dict[str, Any]]) -> None:
    """One line per holder: what was sent (``shared.steps.deliver.ClientDelivery``)."""
    for d in deliveries:
        who, cn, act = d.get("holder") or "", d.get("common_name"), d.get("action")
        fails = "; ".join(f"{f.get('channel')}: {f.get('code')}" for f in d.get("failures") or [])
        if act in ("link_sent", "reminded"):
            extra = f" [yellow]({fails})[/]" if fails else ""
            console.print(f"[green]download link sent[/] to {who} ({d.get('to')}) for {cn}, valid until "
                          f"{d.get('link_expires')}; `albmtls messages` shows it{extra}")
        elif act == "already_sent":
            console.print(f"download link already sent to {who} for {cn} "
                          f"(`albmtls resend --cn {cn}` sends a new one)")
        elif act == "notified":
            via = ", ".join(d.get("channels") or [])
            console.print(f"[green]{who} notified[/] of the new certificate of {cn} via {via}")
        elif act == "not_delivered":
            console.print(f"[red]NOT delivered[/] to {who} for {cn}: {fails or 'see albmtls status'}")
        if d.get("holder_kind") == "system" and act != "already_sent":
            console.print(f"  {who} reads its PFX and password secrets itself: `albmtls holder-policy -f <input> "
                          f"--cn {cn}` prints the RAM policy that allows exactly that")


def run_provision(*, file: Path, target: str, state_dir: Path, endpoints_file: Path | None, out: Path,
                  json_out: bool, timeout: float, passwords_dir: Path | None = None,
                  passwords_beside: bool = False, port_offset: int = DEFAULT_PORT_OFFSET, yes: bool = False,
                  prune: bool = False) -> int:
    """The body of ``albmtls provision``; returns the exit code. Everything that can be checked
    locally (the input file, the export directories) is checked before any cloud is touched."""
    from shared.core.errors import AlbMtlsError

    from .export import export_target
    console = _console()
    emit = _emitter(json_out)
    try:
        raw, inp = load_input(file, prune=prune)
        exports = export_target(out, passwords_dir, passwords_beside)
    except AlbMtlsError as exc:
        emit(_fail_doc(exc.code, exc.message, exc.field), console)
        return EXIT_INPUT
    if target not in ("local", "cloud"):
        emit(_fail_doc("INVALID_INPUT", "--target must be local or cloud", "target"), console)
        return EXIT_INPUT

    return _run_in_environment(raw, inp, target=target, state_dir=state_dir, endpoints_file=endpoints_file,
                               out=exports, json_out=json_out, timeout=timeout, console=console, emit=emit,
                               port_offset=port_offset, yes=yes)


def region_served(inp: Any, settings: Any) -> Any:
    """On the local target the input's ``region`` must be the one the local cloud serves (its
    endpoints file's ``region``): ``AlbMtlsError`` ``INVALID_INPUT`` naming both, else ``None``."""
    from shared.core.errors import AlbMtlsError, Code
    if settings.target == "local" and inp.region and inp.region != settings.region:
        return AlbMtlsError(Code.INVALID_INPUT, f"region {inp.region!r} is not served by the local cloud, which "
                            f"serves {settings.region!r} only; set \"region\": \"{settings.region}\" (or leave it "
                            "out) on the local target", field="region")
    return None


def _run_in_environment(raw, inp, *, target, state_dir, endpoints_file, out, json_out, timeout, console, emit,
                        port_offset: int = DEFAULT_PORT_OFFSET, yes: bool = False) -> int:
    from shared.core.errors import AlbMtlsError
    if target == "cloud":
        quiet_logs()       # the preflight runs here: its log lines to stderr, stdout keeps the document
    try:     # local: the cloud's clock names the execution; cloud: who and where, then the plan and a yes
        with open_target(target, state_dir, endpoints_file, port_offset=port_offset, json_out=json_out,
                         listener_ports=[inp.listener_port], raise_unavailable=True) as opened:
            settings = opened.settings
            wrong_region = region_served(inp, settings)
            if wrong_region is not None:
                emit(_fail_doc(wrong_region.code, wrong_region.message, wrong_region.field), console)
                return EXIT_INPUT
            code = _provision(settings, raw, inp, target=target, out=out, json_out=json_out,
                              timeout=timeout, console=console, emit=emit, yes=yes)
            if opened.endpoints.get("in_process") and not json_out:
                console.print(f"function logs: {state_dir}/functions.log; local cloud state: {state_dir}/")
            return code
    except AlbMtlsError as exc:
        emit(_fail_doc(exc.code, exc.message, exc.field), console)
        return EXIT_FAILED


def _emitter(json_out: bool):
    def emit(doc: dict[str, Any], console) -> None:
        if json_out:
            sys.stdout.write(json.dumps(doc, indent=2, default=str) + "\n")
            sys.stdout.flush()
        elif doc.get("status") == "failed" and "listener" not in doc:
            err = doc.get("error", {})
            console.print(f"[red]{err.get('code')}[/]: {err.get('message')}", soft_wrap=True)
        else:
            print_summary(report(), doc, console)
    return emit


def cloud_plan(settings, raw: dict[str, Any], inp) -> list[str]:
    """The changes a cloud run would make, read before any write: the preflight run here, in this
    process, with these credentials (read-only calls and DryRuns; ``shared.steps.preflight``), and
    whether the flow definition must be created or updated (``DescribeFlow``). Raises
    ``AlbMtlsError`` with the preflight's refusal (nothing was changed)."""
    from shared.core.errors import AlbMtlsError
    from shared.entry.handler import fc_handler
    from shared.policy.contracts import StepEvent
    from shared.steps import preflight
    from shared.steps.provisioning import PROVISION_FLOW, flow_action

    run = fc_handler(StepEvent, preflight.check, step="preflight", settings=settings)
    res = json.loads(run(json.dumps({"input": raw}).encode(), None))
    if res.get("status") == "failed":
        e = res.get("error") or {}
        raise AlbMtlsError(e.get("code", "INTERNAL"), str(e.get("message")), field=e.get("field"))
    plan = res.get("plan") or {}
    lst, cert, sg, ca, dns = (plan.get(k) or {}
                              for k in ("listener", "server_certificate", "server_group", "ca", "dns"))
    lines = [f"flow {PROVISION_FLOW}: {flow_action(settings, PROVISION_FLOW, WORKFLOW.read_text())}",
             f"listener {inp.load_balancer_id}:{inp.listener_port}: {lst.get('action')}"
             + (f" ({', '.join(lst['changes'])})" if lst.get("changes") else "")
             + f", CA {ca.get('alb_ca_certificate_id')}",
             f"server certificate {cert.get('id')}: {cert.get('action')}",
             f"server group {sg.get('name')}: {sg.get('action')}"
             + (f", {sg['servers_to_add']} server(s) to add" if sg.get("servers_to_add") else ""),
             f"DNS {inp.rr}.{inp.domain} CNAME: {dns.get('action')}",
             f"client certificates from sub-CA {ca.get('ca_identifier')}: "
             + ", ".join(c.get("common_name", "?") for c in ca.get("clients") or [])
             + " (issued unless a valid one exists)",
             f"KMS secrets under {inp.secret_prefix}/{inp.listener_key}/"]
    return lines


def _provision(settings, raw, inp, *, target, out, json_out, timeout, console, emit, yes: bool = False) -> int:
    from shared.steps.provisioning import PROVISION_FLOW, deploy_flows, start_provision
    if target == "cloud":          # the plan, then a yes — before the first write
        confirm(cloud_plan(settings, raw, inp), yes=yes, what=f"region {settings.region}")
    deployed = deploy_flows(settings, WORKFLOW.parent)[PROVISION_FLOW]
    started = start_provision(settings, raw, inp.listener_key)
    if not json_out:
        console.print(f"flow {PROVISION_FLOW} ({deployed}); execution [bold]{started.name}[/]")
    prog = follow(settings, started.name, flow=PROVISION_FLOW, timeout=timeout,
                  console=None if json_out else console)
    doc = summarize(started.name, prog, inp.listener_key)
    # only a client without a holder is exported (shared.policy.delivery.exported_to_operator)
    from shared.policy.delivery import exported_to_operator, holder_kind
    kinds = {c.common_name: holder_kind(c.holder) for c in inp.clients}
    exported = [c for c in doc["client_certificates"] if exported_to_operator(kinds.get(c.get("common_name")))]
    if target == "local" and doc["status"] == "succeeded" and exported:
        from .export import export_pfx
        export_pfx(settings, exported, out)
    emit(doc, console)      # CLIENT_REVOKED, INVALID_INPUT …: the input is wrong, exit 2 (README "Exit codes")
    return EXIT_OK if doc["status"] == "succeeded" else exit_for((doc.get("error") or {}).get("code") or "FAILED")


def provision(file: Path = typer.Option(..., "-f", "--file",
                                        help="Provision input (JSON), e.g. examples/provision.json."),
              target: str = Target,
              state_dir: Path = StateDir,
              endpoints_file: Path | None = EndpointsFile,
              out: Path = Out,
              passwords_dir: Path | None = PasswordsDir,
              passwords_beside: bool = PasswordsBeside,
              port_offset: int = PortOffset,
              json_out: bool = JsonOut,
              timeout: float = typer.Option(900.0, "--timeout", callback=check_timeout,
                                            help="Give up following the execution after this many seconds."),
              yes: bool = Yes,
              prune: bool = typer.Option(False, "--prune", help="Revoke the clients provisioned on this listener that "
                                         "are no longer in `clients` (as \"prune\": true in the input); without it "
                                         "they are reported as orphaned and never renewed."),
              ) -> None:
    """The main job: preflight, client certificates, listener mTLS, CNAME, health check and live probe.
    On --target cloud it first names the account and region, shows the plan and asks (unless --yes)."""
    code = run_provision(file=file, target=target, state_dir=state_dir, endpoints_file=endpoints_file, out=out,
                         json_out=json_out, timeout=timeout, passwords_dir=passwords_dir,
                         passwords_beside=passwords_beside, port_offset=port_offset, yes=yes,
                         prune=prune)
    raise typer.Exit(code)

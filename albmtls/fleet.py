"""``albmtls plan`` and ``albmtls apply``: a fleet document (``shared.policy.fleet``; YAML or JSON,
or a single provision input) against the cloud.

``plan`` reads only (``shared.steps.plan``) and prints, per listener, what an apply would create,
update (field: old → new), issue, renew or reissue, the DNS records it would add or change, the
holders that left the file (orphaned; revoked — pruned — on a listener with ``prune: true``) and
the drift from the recorded desired state. Exit codes
(as ``terraform plan -detailed-exitcode``, for CI): ``0`` no changes, ``2`` changes, ``1`` an error
(an invalid document included: nothing was read then).

``apply`` plans first and applies nothing when any listener would be refused; on the cloud target
it shows the plan and asks before the first write unless ``--yes``. Then it deploys the provision
flow if it changed and runs one execution per listener that has changes — ``--parallel`` at once —
printing each one's progress prefixed with its listener, and a summary table. Exit codes: ``0`` every
listener applied (or nothing to do), ``1`` one failed, ``2`` an invalid document.
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .options import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    Target,
    check_timeout,
    emit_json,
    open_target,
    plural,
    quiet_logs,
    report,
)
from .options import console as _console

if TYPE_CHECKING:  # pragma: no cover

    from rich.console import Console

EXIT_CHANGES = 2
FleetFile = typer.Option(..., "-f", "--file", help="Fleet document (YAML or JSON; a single provision input too), "
                         "e.g. examples/fleet.yaml.")
Parallel = typer.Option(4, "--parallel", min=1, max=16, help="Listeners read (plan) or applied at once.")


# ---------------------------------------------------------------------------------------------
# shared by the commands
# ---------------------------------------------------------------------------------------------
def load_fleet(file: Path) -> Any:
    """Read and validate a fleet document (YAML for .yaml/.yml, else JSON). Raises ``AlbMtlsError``
    naming the field (``listeners[1].clients[7].common_name``) or the file."""
    from shared.policy.fleet import load_document, parse_fleet

    from .options import read_input
    text = read_input(file)
    yaml = Path(file).suffix.lower() in (".yaml", ".yml")
    return parse_fleet(load_document(text, "yaml" if yaml else "json"))


def _error_doc(code: str, message: str, field: str | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": code, "message": message}
    if field:
        err["field"] = field
    return {"status": "failed", "error": err}


def _fail(console: Console, json_out: bool, doc: dict[str, Any]) -> None:
    if json_out:
        emit_json(doc)
    else:
        e = doc["error"]
        console.print(f"[red]{e['code']}[/]: {e['message']}")


# ---------------------------------------------------------------------------------------------
# printing a plan
# ---------------------------------------------------------------------------------------------
def _v(value: Any) -> str:
    """A plan value in words: switches summarised, lists joined, a member's weight, a record's target."""
    if isinstance(value, dict) and value and all(isinstance(v, bool) for v in value.values()):
        on = sum(1 for v in value.values() if v)
        return "all on" if on == len(value) else ("all off" if on == 0 else f"{on}/{len(value)} on")
    if isinstance(value, dict) and set(value) == {"weight"}:
        return f"weight {value['weight']}"
    if isinstance(value, dict) and "value" in value:
        return f"{value['value']} (TTL {value.get('ttl')})"
    if isinstance(value, dict):     # an input object (a holder, a health check): its set fields, in words
        parts = [f"{k} {_v(v)}" for k, v in value.items() if v not in (None, [], {}, "")]
        return "(" + ", ".join(parts) + ")" if parts else "-"
    if isinstance(value, list):
        return ", ".join(_v(x) for x in value) or "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return "-" if value is None else str(value)


def _change(c: dict[str, Any]) -> str:
    field, old, new = c["field"], c.get("old"), c.get("new")
    if field == "clients":
        return "clients: " + "; ".join(p for p in (f"removed {_v(old)}" if old else "",
                                                   f"added {_v(new)}" if new else "") if p)
    if field.startswith("members["):
        member = field[len("members["):-1]
        if old is None:
            return f"+ {member} ({_v(new)})"
        if new is None:
            return f"- {member}"
        return f"{member} {_v(old)} → {_v(new)}"
    if old is None:
        return f"{field} {_v(new)}"
    return f"{field}: {_v(old)} → {_v(new)}"


def _changes(changes: list[dict[str, Any]]) -> str:
    from rich.markup import escape
    return escape("; ".join(_change(c) for c in changes))


_MARK = {"create": "[green]+[/]", "add": "[green]+[/]", "upload": "[green]+[/]", "update": "[yellow]~[/]",
         "claim": "[yellow]~[/]", "issue": "[green]+[/]", "renew": "[yellow]~[/]", "reissue": "[yellow]~[/]"}


def print_plan(console: Console, doc: dict[str, Any]) -> None:
    """The plan in words, listener by listener, then one summary line."""
    from rich.markup import escape
    for r in doc["listeners"]:
        where = f" ({r['path']})" if r.get("path") else ""
        head = {"changes": "[yellow]changes[/]", "no_changes": "[green]no changes[/]", "error": "[red]refused[/]"}
        console.print(f"[bold]{r['listener_key']}[/]{where}: {head[r['status']]}")
        if r.get("error"):
            e = r["error"]
            where = f" ({e['field']})" if e.get("field") else ""
            console.print(f"  [red]{e['code']}[/]{escape(where)}: {escape(e['message'])}")
        for key, label in (("ca", "own CA"), ("listener", "listener"), ("server_certificate", "server certificate"),
                           ("server_group", "server group"), ("dns", "CNAME"), ("desired_state", "desired state")):
            p = r.get(key)
            if not p or p["action"] in ("none", "use"):
                continue
            name = (p.get("detail") or {}).get("name") or p.get("id") or ""
            line = f"  {_MARK.get(p['action'], '~')} {' '.join(x for x in (label, escape(name), p['action']) if x)}"
            if p.get("changes"):
                line += f": {_changes(p['changes'])}"
            if key == "ca":
                d = p.get("detail") or {}
                permitted = ", ".join(d.get("permitted_dns") or []) or "none"
                line += escape(f": {d.get('key_spec')} keys in KMS instance {d.get('kms_instance_id')}, name "
                               f"constraints {permitted}")
            console.print(line)
        groups: dict[str, list[str]] = {}
        for c in r.get("clients") or []:
            if c["action"] != "keep":
                groups.setdefault(c["action"], []).append(
                    c["common_name"] + ("" if c["action"] in ("issue", "renew") else f" ({c['reason']})"))
        for action in ("issue", "renew", "reissue"):
            if groups.get(action):
                names = groups[action]
                shown = escape(", ".join(names[:8])) + (f" … and {len(names) - 8} more" if len(names) > 8 else "")
                console.print(f"  {_MARK[action]} {action} {plural(len(names), 'client certificate')}: {shown}")
        kept = sum(1 for c in r.get("clients") or [] if c["action"] == "keep")
        if kept:
            console.print(f"    {plural(kept, 'client certificate')} kept")
        if r.get("pruned"):
            console.print(f"  [red]-[/] revoke {plural(len(r['pruned']), 'holder')} no longer in the file "
                          f"(prune: true; their secrets scheduled for deletion): {escape(', '.join(r['pruned']))}")
        if r.get("orphaned"):
            console.print(f"  [yellow]![/] orphaned (no longer in the file; kept, never renewed — prune: true "
                          f"revokes them): {escape(', '.join(r['orphaned']))}")
        if r.get("lose_access"):
            console.print(f"  [red]![/] the listener's CA changes: {escape(', '.join(r['lose_access']))} — not in the "
                          "file — LOSE ACCESS (their certificates are of the old CA: refused, alert unknown ca); "
                          "add them to clients to reissue them of the new CA, or revoke them")
        for w in r.get("warnings") or []:
            console.print(f"  [yellow]! {w['code']}[/] ({escape(w.get('field') or '')}): {escape(w['message'])}")
        if r.get("drift") is None:
            console.print("  drift: no desired state recorded yet")
        elif r["drift"]:
            items = escape("; ".join(f"{d['field']}: {_v(d.get('actual'))} (desired {_v(d.get('desired'))})"
                                     for d in r["drift"]))
            console.print(f"  [red]drift[/] from the last apply: {items}")
    n = len(doc["listeners"])
    changing = sum(1 for r in doc["listeners"] if r["status"] == "changes")
    console.print(f"Plan: {changing} of {plural(n, 'listener')} to change, {doc['errors']} refused; writes made: 0.")


def plan_document(settings: Any, fleet: Any, parallel: int) -> dict[str, Any]:
    import msgspec

    from shared.steps.plan import plan_fleet
    doc: dict[str, Any] = msgspec.to_builtins(plan_fleet(settings, fleet, parallel=parallel))
    return doc


def plan(file: Path = FleetFile, target: str = Target, state_dir: Path = StateDir,
         endpoints_file: Path | None = EndpointsFile, parallel: int = Parallel, port_offset: int = PortOffset,
         json_out: bool = JsonOut) -> None:
    """What `apply` would change, per listener, with zero writes. Exit 0 no changes, 2 changes, 1 error."""
    from shared.core.errors import AlbMtlsError
    quiet_logs()
    console = _console()
    try:
        fleet = load_fleet(file)
    except AlbMtlsError as exc:
        _fail(console, json_out, _error_doc(exc.code, exc.message, exc.field))
        raise typer.Exit(EXIT_FAILED) from None
    try:
        with open_target(target, state_dir, endpoints_file, port_offset=port_offset, json_out=json_out,
                         raise_unavailable=True) as opened:
            doc = plan_document(opened.settings, fleet, parallel)
    except AlbMtlsError as exc:
        _fail(console, json_out, _error_doc(exc.code, exc.message, exc.field))
        raise typer.Exit(EXIT_FAILED) from None
    if json_out:
        emit_json(doc)
    else:
        print_plan(report(), doc)
    raise typer.Exit(EXIT_FAILED if doc["errors"] else (EXIT_CHANGES if doc["changes"] else EXIT_OK))


# ---------------------------------------------------------------------------------------------
# apply
# ---------------------------------------------------------------------------------------------
def plan_lines(plan_doc: dict[str, Any], todo: list[int]) -> list[str]:
    """One line per listener an apply changes, naming what changes (for the confirmation)."""
    out = []
    for i in todo:
        r = plan_doc["listeners"][i]
        labels = (("ca", "own CA"), ("listener", "listener"), ("server_certificate", "server certificate"),
                  ("server_group", "server group"), ("dns", "CNAME"), ("desired_state", "desired state"))
        parts = [f"{label} {r[key]['action']}" for key, label in labels
                 if r.get(key) and r[key]["action"] not in ("none", "use")]
        acted = [c for c in r.get("clients") or [] if c["action"] != "keep"]
        if acted:
            parts.append(f"{plural(len(acted), 'client certificate')} issued or renewed")
        if r.get("pruned"):
            parts.append(f"{plural(len(r['pruned']), 'holder')} revoked (prune): {', '.join(r['pruned'])}")
        out.append(f"{r['listener_key']}: " + (", ".join(parts) or "changes"))
    return out


def confirm_cloud_writes(plan_doc: dict[str, Any], todo: list[int], yes: bool) -> bool:
    """The cloud target shows what changes and asks before the first write unless ``--yes``
    (``options.confirm``, as every command that writes to a real account)."""
    from .options import confirm
    try:
        confirm(plan_lines(plan_doc, todo), yes=yes, what=f"apply {plural(len(todo), 'listener')}")
    except typer.Exit:
        return False
    return True


class _Follower:
    """Runs one listener's execution and prints its progress lines, prefixed with its key."""

    def __init__(self, settings: Any, console: Console | None, timeout: float, lock: threading.Lock) -> None:
        self.settings, self.console, self.timeout, self.lock = settings, console, timeout, lock

    def say(self, key: str, text: str) -> None:
        if self.console is not None:
            with self.lock:
                self.console.print(f"[dim]{key}[/] {text}")

    def run(self, inp: Any, raw: dict[str, Any]) -> dict[str, Any]:
        import time

        from shared.core.errors import AlbMtlsError, Code
        from shared.steps.provisioning import PROVISION_FLOW, describe_provision, result_document, start_provision
        from shared.steps.provisioning import task_result as result_of
        key = inp.listener_key
        try:
            started = start_provision(self.settings, raw, key)
        except AlbMtlsError as exc:
            self.say(key, f"[red]✗ not started[/]: {exc.code}: {exc.message}")
            return {"listener_key": key, "status": "failed", "execution": None, "error": exc.to_dict()}
        self.say(key, f"execution {started.name}")
        deadline, seen = time.monotonic() + self.timeout, 0
        while True:
            prog = describe_provision(self.settings, started.name, flow=PROVISION_FLOW)
            if prog is None:
                return {"listener_key": key, "status": "failed", "execution": started.name,
                        "error": {"code": Code.INTERNAL, "message": f"execution {started.name} disappeared"}}
            for ev in prog.events[seen:]:
                step = str(ev.get("step") or "").rsplit("/", 1)[-1]
                if ev.get("type") == "TaskSucceeded":
                    res = result_of(ev)
                    st = res.get("status") if isinstance(res, dict) else None
                    if st == "ok":
                        self.say(key, f"[green]✓[/] {step}")
                    elif st == "failed":
                        e = res.get("error") or {}
                        self.say(key, f"[red]✗[/] {step}: {e.get('code')}: {e.get('message')}")
            seen = len(prog.events)
            if prog.done:
                break
            if time.monotonic() > deadline:
                return {"listener_key": key, "status": "running", "execution": started.name,
                        "error": {"code": Code.TIMEOUT, "message": f"still running after {self.timeout:.0f} s; "
                                  "follow it with `albmtls status` (it goes on in the background)"}}
            time.sleep(0.3)
        doc = result_document(prog)
        out = {"listener_key": key, "status": doc["status"], "execution": started.name, "writes": doc["writes"],
               "listener": doc["listener"], "dns": doc["dns"], "client_certificates": doc["client_certificates"],
               "health": doc["health"]}
        if doc.get("error"):
            out["error"] = doc["error"]
        self.say(key, "[green]succeeded[/]" if doc["status"] == "succeeded" else f"[red]{doc['status']}[/]")
        return out


def print_summary(console: Console, doc: dict[str, Any]) -> None:
    from rich.table import Table
    t = Table(title="apply", title_justify="left")
    for col in ("listener", "result", "execution", "writes", "certificates", "note"):   # as status: fold, never cut
        t.add_column(col, overflow="fold", no_wrap=col == "result")
    for r in doc["listeners"]:
        style = {"succeeded": "green", "unchanged": "dim", "failed": "red", "running": "yellow"}.get(r["status"], "")
        certs = r.get("client_certificates") or []
        issued = sum(1 for c in certs if not c.get("reused"))
        note = (r.get("error") or {}).get("code") or ""
        if r["status"] == "succeeded" and r.get("health"):
            note = "healthy" if r["health"].get("healthy") else "NOT healthy"
        t.add_row(r["listener_key"], f"[{style}]{r['status']}[/]", r.get("execution") or "-",
                  str(r.get("writes", 0)), f"{issued} new, {len(certs) - issued} kept" if certs else "-", note)
    console.print(t)
    for r in doc["listeners"]:      # the operator's files, as provision names them
        for c in r.get("client_certificates") or []:
            if c.get("pfx_path"):
                console.print(f"{r['listener_key']}/{c.get('common_name')}: PFX {c['pfx_path']}, password "
                              f"{c.get('password_path')}", highlight=False, soft_wrap=True)
    console.print(f"{doc['succeeded']} applied, {doc['unchanged']} unchanged, {doc['failed']} failed")
    for line in doc.get("certificates_at") or []:
        console.print(line, highlight=False, soft_wrap=True)


def certificates_at(fleet: Any, target: str, out: Path | None) -> list[str]:
    """Where apply's certificates are (the summary's last lines, ``certificates_at`` in ``--json``):
    in KMS, each client's PFX and password secrets; people get a download link, systems read their own; ``--out``
    exported the clients without a holder here (local target), else how to export them."""
    prefixes = sorted({inp.secret_prefix for inp in fleet.listeners})
    lines = ["certificates: in KMS, " + ", ".join(f"{p}/<alb id>-<port>/<common name>/pfx" for p in prefixes)
             + " and …/password; a person holder gets a download link, a system reads its own secrets "
             "(never a file here)"]
    if target != "local":
        lines.append("a system holder reads its two secrets (`albmtls holder-policy`); others: read them from KMS")
    elif out is not None:
        from .export import passwords_dir_for
        lines.append(f"exported: {out}/<alb id>-<port>/<common name>.pfx, passwords in "
                     f"{passwords_dir_for(out)}/<alb id>-<port>/ (clients without a holder)")
    else:
        lines.append("not exported: `--out DIR` writes the PFX files of clients without a holder "
                     "(as `albmtls provision` does to out/)")
    return lines


def apply(file: Path = FleetFile, target: str = Target, state_dir: Path = StateDir,
          endpoints_file: Path | None = EndpointsFile, parallel: int = Parallel,
          yes: bool = typer.Option(False, "--yes", help="Apply on the cloud target without asking."),
          out: Path | None = typer.Option(None, "--out", help="Local target: export each client's PFX into "
                                          "DIR/<listener key>/ and its password into DIR-passwords/<listener key>/ "
                                          "(files mode 0600)."),
          timeout: float = typer.Option(1800.0, "--timeout", callback=check_timeout,
                                        help="Stop following after this many seconds."),
          port_offset: int = PortOffset,
          json_out: bool = JsonOut) -> None:
    """Plan, then one provision execution per listener with changes (several at once); a summary table."""
    from shared.core.errors import AlbMtlsError
    quiet_logs()
    console = _console()
    try:
        fleet = load_fleet(file)
        if out is not None:
            from .export import export_target
            export_target(out, None, False)            # checked before anything runs
    except AlbMtlsError as exc:
        _fail(console, json_out, _error_doc(exc.code, exc.message, exc.field))
        raise typer.Exit(EXIT_INPUT) from None
    try:
        with open_target(target, state_dir, endpoints_file, port_offset=port_offset, json_out=json_out,
                         listener_ports=[lst.listener_port for lst in fleet.listeners],
                         raise_unavailable=True) as opened:
            code, doc = _apply(opened.settings, fleet, target=target, parallel=parallel, yes=yes, out=out,
                               timeout=timeout, console=console, json_out=json_out)
    except AlbMtlsError as exc:
        _fail(console, json_out, _error_doc(exc.code, exc.message, exc.field))
        raise typer.Exit(EXIT_FAILED) from None
    if json_out:
        emit_json(doc)
    raise typer.Exit(code)


def creation_waves(fleet: Any, plan_doc: dict[str, Any], todo: list[int]) -> list[list[int]]:
    """``todo`` in at most two waves: a new own CA is created by the first listener that names it
    (with the others that create none, in parallel), the other listeners naming it run after — they
    find it made instead of creating it at the same moment."""
    first: set[tuple[str, str]] = set()
    now, later = [], []
    for i in todo:
        inp, ca = fleet.listeners[i], plan_doc["listeners"][i].get("ca")
        key = (inp.secret_prefix, ca.get("id") or "") if ca and ca.get("action") == "create" else None
        if key is not None and key in first:
            later.append(i)
        else:
            now.append(i)
            if key is not None:
                first.add(key)
    return [w for w in (now, later) if w]


def _apply(settings: Any, fleet: Any, *, target: str, parallel: int, yes: bool, out: Path | None, timeout: float,
           console: Console, json_out: bool) -> tuple[int, dict[str, Any]]:
    from shared.steps.provisioning import PROVISION_FLOW, deploy_flows

    from .export import ExportTarget, export_pfx, passwords_dir_for
    from .provision import WORKFLOW
    plan_doc = plan_document(settings, fleet, parallel)
    if not json_out:
        print_plan(report(), plan_doc)
    doc: dict[str, Any] = {"status": "failed", "plan": plan_doc, "listeners": [], "succeeded": 0, "unchanged": 0,
                           "failed": 0}
    if plan_doc["errors"]:
        doc["error"] = {"code": "PLAN_REFUSED", "message": f"{plural(plan_doc['errors'], 'listener')} would be refused "
                        "(see the plan); nothing was applied"}
        if not json_out:
            report().print(f"[red]nothing applied[/]: {doc['error']['message']}")
        return EXIT_FAILED, doc
    todo = [i for i, r in enumerate(plan_doc["listeners"]) if r["status"] == "changes"]
    for i, r in enumerate(plan_doc["listeners"]):
        if i not in todo:
            doc["listeners"].append({"listener_key": r["listener_key"], "status": "unchanged", "writes": 0})
    if todo and target == "cloud" and not confirm_cloud_writes(plan_doc, todo, yes):
        doc["error"] = {"code": "NOT_CONFIRMED", "message": "not confirmed; nothing was applied"}
        return EXIT_FAILED, doc
    if todo:
        # the provision flow and the issuing lane's (and the revoke flow): as s.yaml deploys them
        state = deploy_flows(settings, WORKFLOW.parent)[PROVISION_FLOW]
        if not json_out:
            console.print(f"flow {PROVISION_FLOW} ({state}); applying {plural(len(todo), 'listener')}, "
                          f"{parallel} at a time")
        follower = _Follower(settings, None if json_out else console, timeout, threading.Lock())
        results = []
        for wave in creation_waves(fleet, plan_doc, todo):
            with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(wave)))) as pool:
                results += list(pool.map(lambda i: follower.run(fleet.listeners[i], fleet.raw[i]), wave))
        doc["listeners"] += results
        if target == "local" and out is not None:
            # only a client without a holder is exported (shared.policy.delivery.exported_to_operator)
            from shared.policy.delivery import exported_to_operator, holder_kind
            kinds = {(inp.listener_key, c.common_name): holder_kind(c.holder)
                     for inp in fleet.listeners for c in inp.clients}
            for r in results:
                certs = [c for c in r.get("client_certificates") or []
                         if exported_to_operator(kinds.get((r["listener_key"], c.get("common_name"))))]
                if r["status"] == "succeeded" and certs:
                    export_pfx(settings, certs,
                               ExportTarget(out / r["listener_key"], passwords_dir_for(out) / r["listener_key"]))
    order = {inp.listener_key: i for i, inp in enumerate(fleet.listeners)}
    doc["listeners"].sort(key=lambda r: order.get(r["listener_key"], 0))
    for r in doc["listeners"]:
        key = {"succeeded": "succeeded", "unchanged": "unchanged"}.get(r["status"], "failed")
        doc[key] += 1
    doc["status"] = "succeeded" if doc["failed"] == 0 else "failed"
    doc["certificates_at"] = certificates_at(fleet, target, out)
    if not json_out:
        print_summary(report(), doc)
    return (EXIT_OK if doc["failed"] == 0 else EXIT_FAILED), doc

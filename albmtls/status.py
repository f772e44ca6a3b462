"""``albmtls status``: every client certificate with its state, and each listener's CA and server
certificate ends (``shared.steps.rotation.certificate_report``)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from .options import (
    EXIT_FAILED,
    EXIT_INPUT,
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    Target,
    check_secret_prefix,
    emit_json,
    open_target,
    plural,
    quiet_logs,
    safe_text,
)
from .options import console as _console

STATE_STYLE = {"valid": "green", "not_yet_valid": "bold yellow",
               "due": "bold yellow", "superseded": "cyan", "retired": "dim cyan", "revoked": "red",
               "expired": "dim red", "orphaned": "magenta"}
DELIVERY_TEXT = {"link_sent": "link sent, not yet downloaded", "notified": "system notified, not yet read",
                 "downloaded": "downloaded", "read": "read", "not_delivered": "NOT delivered"}


def listener_key(value: str | None) -> str | None:
    """``--listener`` as a listener key: ``alb-…-443`` as it is, ``alb-…:443`` (as ``revoke`` takes
    it) turned into the key; anything else is ``INVALID_INPUT`` saying both forms."""
    import re

    from shared.core.errors import AlbMtlsError, Code
    if value is None:
        return None
    m = re.fullmatch(r"(alb-[a-z0-9]+)[:-]([0-9]{1,5})", value.strip())
    if m is None or not 1 <= int(m.group(2)) <= 65535:
        raise AlbMtlsError(Code.INVALID_INPUT, f"--listener {value!r}: give the listener as <alb id>:<port> "
                           "(alb-demostd000000000001:443) or as its key <alb id>-<port> "
                           "(alb-demostd000000000001-443)", field="listener")
    return f"{m.group(1)}-{int(m.group(2))}"


def delivery_text(d: dict[str, Any] | None) -> str:
    """The ``holder`` column: who holds the certificate and whether it reached them (issue 15)."""
    if not d or d.get("delivery") == "no_holder":
        return "-"
    what = d.get("delivery") or ""
    text = f"{d.get('holder')}: {DELIVERY_TEXT.get(what, what)}"
    if what == "read":        # a system's first read of its secrets (ActionTrail): by whom and when
        text += f" by {d.get('first_read_by') or '?'} at {str(d.get('first_read_at'))[:16].replace('T', ' ')}"
    else:
        when = d.get("downloaded_at") or d.get("first_read_at") or d.get("link_sent_at")
        if when:
            text += f" {str(when)[:10]}"
    if d.get("replacement"):
        text += f"; new one {DELIVERY_TEXT.get(d['replacement'], d['replacement'])}"
    if what == "not_delivered" and d.get("last_failure"):
        f = d["last_failure"]
        text += f" ({f.get('channel')}: {f.get('code')})"
    return text


def holder_text(row: dict[str, Any]) -> str:
    """The ``holder`` column: :func:`delivery_text`, and when the local data plane saw the
    certificate at the listener."""
    text = delivery_text(row.get("delivery"))
    seen = row.get("seen_at_listener")
    if seen:
        used = f"used at the listener {when(seen.get('last'))}"
        text = used if text == "-" else f"{text}; {used}"
    return text


def seen_at_listener(doc: dict[str, Any], endpoints: dict[str, Any]) -> None:
    """On the local cloud: mark each certificate the data plane passed to the backends
    (``X-Forwarded-Clientcert-fingerprint``, ``GET /_admin/dataplane/clientcerts``) with
    ``seen_at_listener: {first, last}`` — which certificate a holder really connected with. A real
    ALB shows this to the backends only (docs/DELIVERY.md), so the cloud target has no such field."""
    import json
    import urllib.request
    try:
        with urllib.request.urlopen(endpoints["admin"].rstrip("/") + "/dataplane/clientcerts", timeout=5) as resp:
            seen = json.load(resp).get("clientcerts") or []
    except (OSError, ValueError, KeyError):
        return
    by = {(f"{s.get('LoadBalancerId')}-{s.get('ListenerPort')}", s.get("fingerprint")): s for s in seen}
    for r in doc.get("certificates") or []:
        s = by.get((r.get("listener_key"), r.get("fingerprint_sha1")))
        if s is not None:
            r["seen_at_listener"] = {"first": s.get("first_seen"), "last": s.get("last_seen")}


def days_text(days: float | None) -> str:
    """``days_left`` for people: whole days (``29``), hours under a day (``14 h``), ``ended`` once
    past; the ``--json`` document keeps the number."""
    if days is None:
        return "-"
    if days < 0:
        return "ended"
    if days < 1:
        return f"{days * 24:.0f} h"
    return f"{int(days)}"


def when(ts: str | None) -> str:
    """``2027-01-17T02:36:08Z`` → ``2027-01-17 02:36`` (UTC; the ``--json`` document keeps seconds)."""
    return (ts or "").replace("T", " ").rstrip("Z")[:16]


def _print_status(doc: dict[str, Any]) -> None:
    from rich.table import Table

    from .options import report
    # Readable without a terminal too (pipes, CI logs): at least 140 columns; nothing is cut with
    # "…": a column too narrow folds instead.
    console = report(140)
    t = Table(title=f"client certificates at {when(doc['now'])} UTC", title_justify="left")
    for col in ("CN", "listener", "serial", "not_after (UTC)", "days left", "state", "holder", "note"):
        t.add_column(col, justify="right" if col == "days left" else "left", overflow="fold",
                     no_wrap=col in ("not_after (UTC)", "days left", "state"))
    for r in doc["certificates"]:
        st = r["state"]
        days = r.get("days_left")
        day_style = "red" if days is not None and days <= 7 else ("yellow" if days is not None and days <= 10 else "")
        note = ""
        if st == "superseded":
            note = f"retire after {when(r.get('retire_after'))} or once the holder switched"
        elif st == "retired":
            note = "holder switched; expires naturally"
        elif st == "not_yet_valid":
            note = (f"valid from {when(r.get('not_before'))}: refused by every TLS peer until then (issued while a "
                    "clock was ahead)")
        elif st in ("valid", "due") and r.get("due_at"):
            note = f"due {when(r['due_at'])}"
        elif st == "orphaned":
            note = f"not in the input since {when(r.get('orphaned_since'))}: not renewed"
        elif st == "revoked" and r.get("revocation"):
            rv = r["revocation"]
            note = f"{safe_text(rv['reason'])}, {when(rv['revoked_at'])} by {safe_text(rv['requested_by'])}"
            if rv.get("signed_by"):
                note += f" (signed by {safe_text(rv['signed_by'])})"
        if not r["ours"]:
            note = (note + " " if note else "") + "(not issued by alb-mtls)"
        shown = days_text(days)
        t.add_row(r["common_name"] or "", r.get("listener_key") or "-", (r["serial"] or "")[:16],
                  when(r.get("not_after")), f"[{day_style}]{shown}[/]" if day_style else shown,
                  f"[{STATE_STYLE.get(st, '')}]{st.replace('_', ' ')}[/]", holder_text(r), note)
    console.print(t)
    for lst in doc.get("listeners") or []:
        cas = ", ".join(lst.get("ca_certificate_ids") or []) or "-"
        console.print(f"listener {lst['listener_key']} ({lst.get('listener_id') or 'not found'}): CA "
                      f"{cas} ends {when(lst.get('ca_not_after')) or '-'}; server certificate "
                      f"{lst.get('server_certificate_id') or '-'} ends "
                      f"{when(lst.get('server_certificate_not_after')) or '-'}")
    for p in doc.get("pending_deletion") or []:
        console.print(f"secret {p['secret']} ({p['common_name']}): [red]pending deletion[/] until "
                      f"{when(p['planned_delete_time'])} (albmtls restore gets it back until then)")
    _print_drift(console, doc.get("drift"))
    _print_executions(console, doc.get("executions"))
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(doc.get("counts", {}).items()))
    console.print(counts or ("no client certificates match" if doc.get("filters") else "no client certificates"))


def _print_executions(console: Any, ex: dict[str, Any] | None) -> None:
    """Running and recent executions (what ``EXECUTION_RUNNING`` points at)."""
    if not ex:
        return
    for r in ex.get("running") or []:
        console.print(f"[yellow]running[/] {r['flow']} {r['name']} since {when(r.get('started'))}")
    for r in ex.get("recent") or []:
        style = "green" if r["status"] == "succeeded" else "red"
        console.print(f"[{style}]{r['status']}[/] {r['flow']} {r['name']} {when(r.get('started'))} → "
                      f"{when(r.get('stopped'))}")
    if not ex.get("running"):
        console.print("no execution running")


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
    console.print(f"drift: {drift['drifted']} of {plural(drift['checked'], 'listener')} with a recorded desired state")


def listener_keys(doc: dict[str, Any]) -> set[str]:
    """Every listener key the report knows: its certificates', its listeners' and drift's."""
    keys = {r.get("listener_key") for r in doc.get("certificates") or []}
    keys |= {lst.get("listener_key") for lst in doc.get("listeners") or []}
    keys |= {d.get("listener_key") for d in (doc.get("drift") or {}).get("listeners") or []}
    return {k for k in keys if k}


def known_listener(doc: dict[str, Any], listener: str) -> bool:
    """``--listener`` names a listener the report knows (else the filter would read as all clear)."""
    return listener in listener_keys(doc)


def select(doc: dict[str, Any], *, listener: str | None = None, states: list[str] | None = None,
           cn: str | None = None) -> dict[str, Any]:
    """The report narrowed to one listener key, some states and one CN (exact; ``*``/``?``
    wildcards allowed), with the counts of what is left and ``filters`` saying what was applied."""
    from fnmatch import fnmatchcase
    filters = {k: v for k, v in {"listener": listener, "state": states or None, "cn": cn}.items() if v}
    if not filters:
        return doc
    rows = [r for r in doc.get("certificates") or []
            if (not listener or r.get("listener_key") == listener)
            and (not states or r.get("state") in states)
            and (not cn or fnmatchcase(r.get("common_name") or "", cn))]
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["state"]] = counts.get(r["state"], 0) + 1
    out = dict(doc, certificates=rows, counts=counts, filters=filters)
    if listener:
        out["listeners"] = [lst for lst in doc.get("listeners") or [] if lst.get("listener_key") == listener]
    return out


def status(target: str = Target, state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
           secret_prefix: str = typer.Option("albmtls", "--secret-prefix",
                                             help="KMS secret name prefix of the certificates' records."),
           listener: str | None = typer.Option(None, "--listener",
                                               help="Only this listener: <alb id>:<port> or its key <alb id>-<port>."),
           state: list[str] | None = typer.Option(None, "--state",
                                                  help="Only certificates in this state (repeatable): valid, due, "
                                                       "superseded, retired, orphaned, revoked, expired, "
                                                       "not_yet_valid."),
           cn: str | None = typer.Option(None, "--cn", help="Only this common name (* and ? match any)."),
           port_offset: int = PortOffset,
           json_out: bool = JsonOut) -> None:
    """Every client certificate (CN, serial, not_after, days left, state: valid, due, superseded,
    orphaned, revoked with its reason, expired), secrets pending deletion, the listeners' CA and
    server certificate ends, drift, and the running and recent executions."""
    from shared.core.errors import AlbMtlsError
    from shared.steps.drift import drift_report
    from shared.steps.provisioning import executions_overview
    from shared.steps.rotation import certificate_report
    quiet_logs()
    try:
        listener = listener_key(listener)
        check_secret_prefix(secret_prefix)
        unknown = sorted(set(state or ()) - set(STATE_STYLE))
        if unknown:
            raise AlbMtlsError("INVALID_INPUT", f"--state {', '.join(unknown)}: not a state; use "
                               f"{', '.join(STATE_STYLE)}", field="state")
    except AlbMtlsError as exc:
        if json_out:
            emit_json({"status": "failed", "error": exc.to_dict()})
        else:
            _console().print(f"[red]{exc.code}[/]: {exc.message}")
        raise typer.Exit(EXIT_INPUT) from None
    try:     # local: the local cloud's time, as in a function; cloud: who and where, before anything else
        with open_target(target, state_dir, endpoints_file, port_offset=port_offset, json_out=json_out) as opened:
            settings = opened.settings
            doc = certificate_report(settings, secret_prefix=secret_prefix)
            doc["drift"] = drift_report(settings, secret_prefix)     # the listeners against their desired state
            doc["executions"] = executions_overview(settings)        # what EXECUTION_RUNNING points at
            if opened.endpoints:
                seen_at_listener(doc, opened.endpoints)              # what the data plane saw (issue 15)
            if opened.identity is not None:
                doc["account"] = opened.identity
    except AlbMtlsError as exc:
        doc = {"status": "failed", "error": exc.to_dict()}
        if json_out:
            emit_json(doc)
        else:
            _console().print(f"[red]{exc.code}[/]: {exc.message}", soft_wrap=True)
        raise typer.Exit(EXIT_FAILED) from None
    if listener and not known_listener(doc, listener):
        unknown_listener = AlbMtlsError(
            "LISTENER_NOT_FOUND", f"--listener {listener}: no certificate, record or desired state of that listener "
            f"under secret prefix {secret_prefix!r}; known: {', '.join(sorted(listener_keys(doc))) or 'none'}",
            field="listener")
        if json_out:
            emit_json({"status": "failed", "error": unknown_listener.to_dict()})
        else:
            from rich.markup import escape
            _console().print(f"[red]{unknown_listener.code}[/]: {escape(unknown_listener.message)}", soft_wrap=True)
        raise typer.Exit(EXIT_INPUT)
    doc = select(doc, listener=listener, states=state, cn=cn)
    if json_out:
        emit_json(doc)
    else:
        _print_status(doc)

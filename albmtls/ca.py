"""``albmtls ca create|list|status|switch|retire|cost``: your own CA, its keys in KMS (``shared.steps.ownca``).

``create`` makes (or finds) the root and the issuing sub-CA — each key a KMS asymmetric key that
never leaves KMS, the sub-CA with its root uploaded to the CAS certificate repository so listeners can
trust it — and prints each key id, its protection and the CA's end. ``list`` / ``status`` show them.
A new generation (new keys, a new root and sub-CA, the cross certificate) comes from
``albmtls revoke --rekey``; ``switch`` moves the CA's listeners to the issuing generation once every
holder holds a certificate of it (``--now``: at once) by re-applying each listener's recorded desired
state (``shared.steps.ownca_rekey.point_listeners``, the one ``revoke --rekey`` uses). ``cost`` is the
fleet's cost a year per CA choice (``shared.policy.costs``; no cloud). ``retire`` schedules an unused
old generation's keys for deletion (``shared.steps.ownca_retire``). Exit codes: 0, 1 (the cloud
refused or a step failed), 2 (invalid input, or ``CA_IN_USE``: refused, nothing changed).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
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
    Yes,
    emit_json,
    open_target,
    quiet_logs,
    report,
    whole_number,
)
from .options import console as _console

ca_app = typer.Typer(no_args_is_help=True, help="Your own CA: its keys in KMS, its sub-CA trusted by listeners.")

Name = typer.Option(..., "--name", help="The CA's name: 2-32 lowercase letters, digits or inner hyphens.")
SecretPrefix = typer.Option("albmtls", "--secret-prefix", help="KMS secret name prefix the CA's records live under.")


@contextmanager
def _context(target: str, state_dir: Path, endpoints_file: Path | None, port_offset: int,
             json_out: bool, *, plan: list[str] | None = None, yes: bool = False) -> Iterator[Any]:
    """A step context on the local cloud (running or in-process) or a real account. On the cloud
    target the account, identity and region come first (``cloud_identity``); a command that writes
    passes its ``plan`` and is asked before its first write unless ``yes`` (``confirm``)."""
    from shared.core.errors import AlbMtlsError
    from shared.steps.rotation import make_context

    from .options import confirm
    quiet_logs()
    if target not in ("local", "cloud"):
        _fail({"code": "INVALID_INPUT", "message": f"--target must be local or cloud, not {target!r}"},
              json_out, EXIT_INPUT)
    with ExitStack() as stack:
        try:                            # on the cloud: the account, identity and region first
            settings = stack.enter_context(open_target(target, state_dir, endpoints_file, port_offset=port_offset,
                                                       json_out=json_out)).settings
        except AlbMtlsError as exc:
            _fail(exc.to_dict(), json_out)
        if target == "cloud" and plan is not None:
            confirm(plan, yes=yes, what=f"region {settings.region}")
        yield make_context(settings, "ownca")


def _fail(error: dict[str, Any], json_out: bool, code: int = EXIT_FAILED) -> None:
    if json_out:
        emit_json({"status": "failed", "error": error})
    else:
        _console().print(f"[red]{error['code']}[/]: {error['message']}")
    raise typer.Exit(code)


def _run(fn: Any, json_out: bool) -> Any:
    from shared.core.errors import AlbMtlsError
    try:
        return fn()
    except AlbMtlsError as exc:
        _fail(exc.to_dict(), json_out, EXIT_INPUT if exc.code in ("INVALID_INPUT", "CA_IN_USE") else EXIT_FAILED)


def _print(v: dict[str, Any]) -> None:
    from rich.table import Table
    con = report(140)
    state = "created" if v.get("created") else "exists"
    con.print(f"own CA [bold]{v['name']}[/] ({state}, {v['key_spec']}, prefix {v['secret_prefix']}): issuing "
              f"generation {v['issuing_gen']}, listeners trust generation {v['trusted_gen']}"
              + (f" — [yellow]switch pending[/] (albmtls ca switch --name {v['name']})"
                 if v.get("switch_pending") else ""))
    con.print(f"listener CA id (CaCertificates): {v.get('alb_ca_certificate_id') or '-'}; issuing sub-CA "
              f"{v['issuing_identifier']} ends {v.get('not_after') or '-'}; writes {v.get('writes', 0)}")
    if v.get("permitted_dns"):
        con.print(f"name constraints: DNS {', '.join(v['permitted_dns'])} and names below them", highlight=False)
    t = Table(title_justify="left")
    gens = v.get("generations") or []
    detailed = any("listeners" in g for g in gens)
    cols = ["gen", "role", "root key (KMS)", "issuing key (KMS)", "protection", "root ends", "sub-CA ends",
            "uploaded CA id"] + (["keys", "listeners trusting it", "holders"] if detailed else [])
    for col in cols:
        t.add_column(col, overflow="fold")
    for g in gens:
        row = [str(g["gen"]), ", ".join(g.get("roles") or []) or "-", g["root_key_id"], g["issuing_key_id"],
               g.get("protection_level") or "-", g["root_not_after"][:10], g["issuing_not_after"][:10],
               g.get("uploaded_identifier") or "-"]
        if detailed:
            state = g.get("key_state") or "-"
            if g.get("keys_delete_date"):
                state += f" (deleted {g['keys_delete_date'][:10]})"
            row += [state, ", ".join(g.get("listeners") or []) or "-", str(g.get("holders", 0))]
        t.add_row(*row)
    con.print(t)


def create(name: str = Name,
           key_spec: str = typer.Option("EC_P256", "--key-spec", help="EC_P256 (default) or RSA_2048."),
           root_days: int = typer.Option(3650, "--root-days", parser=whole_number("--root-days", 2, 7300, "3650"),
                                         help="Validity of the root, days (2-7300)."),
           issuing_days: int = typer.Option(730, "--issuing-days",
                                            parser=whole_number("--issuing-days", 1, 7300, "730"),
                                            help="Validity of the issuing sub-CA, days (shorter than the root)."),
           permitted_dns: list[str] = typer.Option([], "--permitted-dns",
                                                   help="Name constraints: the sub-CA may issue only for this DNS "
                                                        "name and names below it (repeat for more; RFC 5280)."),
           secret_prefix: str = SecretPrefix, target: str = Target, state_dir: Path = StateDir,
           endpoints_file: Path | None = EndpointsFile, port_offset: int = PortOffset,
           yes: bool = Yes, json_out: bool = JsonOut) -> None:
    """Create (or find) the own CA NAME: a root and an issuing sub-CA whose keys are KMS keys, the
    sub-CA uploaded with its root to the CAS certificate repository. With --permitted-dns the sub-CA
    carries critical name constraints and issuance refuses (NAME_NOT_PERMITTED, before any write) a
    client whose CN (a host name) or DNS SAN falls outside. Idempotent."""
    import msgspec

    from shared.policy.ownca import CreateOptions
    from shared.policy.validation import decode
    from shared.steps import ownca as steps
    opts = _run(lambda: decode(CreateOptions, {"name": name, "key_spec": key_spec, "root_days": root_days,
                                               "issuing_days": issuing_days, "permitted_dns": permitted_dns}),
                json_out)
    names = f", constrained to DNS {', '.join(opts.permitted_dns)}" if opts.permitted_dns else ""
    plan = [f"own CA {opts.name} ({opts.key_spec}), unless it exists: a root ({opts.root_days} days) and an issuing "
            f"sub-CA ({opts.issuing_days} days{names}), each key a new KMS asymmetric key; the sub-CA and root "
            f"uploaded to the CAS certificate repository; its record in KMS secrets under {secret_prefix}/"]
    with _context(target, state_dir, endpoints_file, port_offset, json_out, plan=plan, yes=yes) as ctx:
        v = msgspec.to_builtins(_run(lambda: steps.ensure_ca(ctx, opts, secret_prefix), json_out))
    emit_json(v) if json_out else _print(v)


def list_(secret_prefix: str = SecretPrefix, target: str = Target, state_dir: Path = StateDir,
          endpoints_file: Path | None = EndpointsFile, port_offset: int = PortOffset,
          json_out: bool = JsonOut) -> None:
    """Every own CA under the prefix, one line each: key spec, the issuing and the trusted
    generation, the listeners' CA id, the issuing sub-CA's end, generations (retired). The details
    of one: albmtls ca status --name NAME."""
    import msgspec

    from shared.steps import ownca as steps
    with _context(target, state_dir, endpoints_file, port_offset, json_out) as ctx:
        views = [msgspec.to_builtins(v) for v in _run(lambda: steps.list_views(ctx, secret_prefix), json_out)]
    if json_out:
        emit_json({"cas": views})
        return
    con = report(140)
    for v in views:
        gens = v.get("generations") or []
        retired = sum(1 for g in gens if "retired" in (g.get("roles") or []))
        con.print(f"{v['name']}  {v['key_spec']}  issuing g{v['issuing_gen']} (ends {(v.get('not_after') or '-')[:10]})"
                  f"  trusted g{v['trusted_gen']} ({v.get('alb_ca_certificate_id') or '-'})  {len(gens)} generation(s)"
                  + (f", {retired} retired" if retired else "")
                  + ("  [yellow]switch pending[/]" if v.get("switch_pending") else ""), soft_wrap=True, highlight=False)
    if not views:
        con.print(f"no own CA under secret prefix {secret_prefix!r} (albmtls ca create --name …)")


def status(name: str = Name, secret_prefix: str = SecretPrefix, target: str = Target, state_dir: Path = StateDir,
           endpoints_file: Path | None = EndpointsFile, port_offset: int = PortOffset,
           json_out: bool = JsonOut) -> None:
    """The own CA NAME: per generation its key ids, protection and state (a retired one's keys are
    PendingDeletion until their date), which one issues, which listeners trust it (read from ALB) and
    how many holders' current certificate is of it; its end, and the holders still waiting for a
    pending switch."""
    import msgspec

    from shared.steps import ownca as steps
    from shared.steps.ownca_retire import detail
    with _context(target, state_dir, endpoints_file, port_offset, json_out) as ctx:
        view = _run(lambda: steps.view(ctx, secret_prefix, name), json_out)
        v = msgspec.to_builtins(_run(lambda: detail(ctx, secret_prefix, view), json_out))
        if v.get("switch_pending"):
            from shared.adapters.kms import Kms
            from shared.adapters.ownca import read_record
            found = _run(lambda: read_record(ctx.adapter(Kms), secret_prefix, name), json_out)
            from shared.steps.ownca_switch import holders
            v["holders"] = _run(lambda: holders(ctx, secret_prefix, found[0]), json_out).as_dict()
    if json_out:
        emit_json(v)
        return
    _print(v)
    if v.get("holders"):
        h = v["holders"]
        report().print(f"holders on generation {v['issuing_gen']}: {h['on_issuing_generation']} of {h['total']}, "
                       f"switched {h['switched']}" + (f"; waiting: {'; '.join(h['waiting'][:20])}"
                                                      if h["waiting"] else ""), soft_wrap=True)


def switch(name: str = Name,
           now: bool = typer.Option(False, "--now", help="Switch even though holders still hold only certificates "
                                                        "of the older generation (theirs are refused from then on)."),
           secret_prefix: str = SecretPrefix, target: str = Target, state_dir: Path = StateDir,
           endpoints_file: Path | None = EndpointsFile, port_offset: int = PortOffset,
           yes: bool = Yes, json_out: bool = JsonOut) -> None:
    """Move the listeners of the own CA NAME to its issuing generation: once every holder holds a
    certificate of it (or at once with --now), the CA's record trusts it and each listener of the CA
    is re-applied from its recorded desired state (its CaCertificates become the new upload). Shows
    how many holders are on the issuing generation and which wait; writes nothing while they wait.
    Idempotent: a run with nothing to switch writes nothing."""
    import dataclasses

    import msgspec

    from shared.steps import ownca as steps
    from shared.steps.ownca_rekey import point_listeners
    from shared.steps.ownca_switch import switch as switch_ca
    plan = [f"own CA {name}: when every holder holds a certificate of its issuing generation"
            + (" (--now: at once)" if now else "") + ", its record (KMS secret under "
            f"{secret_prefix}/) trusts that generation and each listener whose recorded desired state names the CA "
            "is updated: CaCertificates becomes the generation's uploaded CA, nothing else changes"]
    with _context(target, state_dir, endpoints_file, port_offset, json_out, plan=plan, yes=yes) as ctx:
        sw = _run(lambda: switch_ca(ctx, secret_prefix, name, at_once=now), json_out)
        v = msgspec.to_builtins(_run(lambda: steps.view(dataclasses.replace(ctx), secret_prefix, name), json_out))
        doc: dict[str, Any] = {"status": "succeeded", "name": name, "switched": sw.switched,
                               "issuing_gen": v["issuing_gen"], "trusted_gen": v["trusted_gen"],
                               "switch_pending": bool(v.get("switch_pending")),
                               "holders": {"total": sw.holders, "on_issuing_generation": sw.on_issuing,
                                           "switched": sw.switched_holders, "waiting": sw.waiting},
                               "listeners": [], "listener_writes": 0, "repaired": False,
                               "alb_ca_certificate_id": v.get("alb_ca_certificate_id"), "writes": sw.writes}
        if not doc["switch_pending"]:            # switched now, or before: the listeners follow (idempotent)
            moved, w = _run(lambda: point_listeners(dataclasses.replace(ctx), secret_prefix, name), json_out)
            # listener writes without a switch now: a listener had drifted from the switched generation
            doc.update(listeners=moved, listener_writes=w, writes=sw.writes + w, repaired=bool(w) and not sw.switched)
        else:
            doc["listeners"] = sw.listeners
    if json_out:
        emit_json(doc)
        return
    con = _console(140)
    h = doc["holders"]
    con.print(f"own CA [bold]{name}[/]: issuing generation {doc['issuing_gen']}, listeners trust generation "
              f"{doc['trusted_gen']}; holders on generation {doc['issuing_gen']}: {h['on_issuing_generation']} of "
              f"{h['total']}, switched {h['switched']}" + (f"; waiting: {'; '.join(h['waiting'][:20])}"
                                                           if h["waiting"] else ""), soft_wrap=True)
    if doc["switch_pending"]:
        con.print(f"[yellow]not switched[/]: {len(h['waiting'])} holder(s) have not switched to the new generation "
                  "(renew them: albmtls rotate; a replacement counts once downloaded or read, or its grace ended; or "
                  f"switch anyway: albmtls ca switch --name {name} --now); "
                  f"listeners {', '.join(doc['listeners']) or '-'} unchanged; writes 0", soft_wrap=True)
    else:
        word = ("[green]switched[/]" if doc["switched"] else
                "[green]repaired[/] (the switch was made before; a listener no longer trusted its generation)"
                if doc["repaired"] else "nothing pending")
        con.print(word + f": listeners {', '.join(doc['listeners']) or '-'} trust "
                  f"{doc['alb_ca_certificate_id'] or '-'} (generation {doc['trusted_gen']}); writes {doc['writes']} "
                  f"(record {sw.writes}, listeners {doc['listener_writes']})", soft_wrap=True)


def cost(file: Path = typer.Option(..., "--file", "-f", help="A fleet document (YAML or JSON) or one provision "
                                                           "input."),
         json_out: bool = JsonOut) -> None:
    """What the fleet in FILE costs a year under each CA choice (PCA; own CA on a KMS instance already
    in the account, on a new pay-as-you-go or a new subscription instance), from its own listeners,
    clients, days and renew_before_days, at the prices of docs/COSTS.md. Reads no cloud."""
    from shared.policy import costs

    from .fleet import load_fleet
    fleet = _run(lambda: load_fleet(file), json_out)
    fc = costs.forecast(costs.fleet_use(fleet.listeners))
    u = fc.use
    doc: dict[str, Any] = {
        "file": str(file), "listeners": u.listeners, "holders": u.holders,
        "certificates_a_year": round(u.certificates, 1),
        "renewal_intervals": [{"days": d, "holders": n} for d, n in u.intervals.items()],
        "pca_sub_cas": list(u.pca_sub_cas), "own_cas": list(u.own_cas),
        "choices": [{"choice": c.choice, "label": c.label, "current": c.current,
                     "fixed_usd_a_year": round(c.fixed_a_year, 2),
                     "certificates_usd_a_year": round(c.certificates_a_year, 2),
                     "total_usd_a_year": round(c.total_a_year, 2), "total_usd_a_month": round(c.total_a_month, 2),
                     "notes": list(c.notes)} for c in fc.choices],
        "prices": {k: {"usd": v.usd, "per": v.unit, "source": v.source} for k, v in costs.PRICES.items()},
        "prices_doc": "docs/COSTS.md"}
    if json_out:
        emit_json(doc)
        return
    con = report(140)
    every = ", ".join(f"{n} every {d:g} days" for d, n in u.intervals.items())
    con.print(f"{file}: {u.holders} holder(s) on {u.listeners} listener(s), renewed {every or '-'}: "
              f"{u.certificates:,.0f} certificates a year", soft_wrap=True)
    width = max(len(c.label) for c in fc.choices)
    for c in fc.choices:
        parts = (f"USD {c.fixed_a_year:,.0f} fixed + USD {c.certificates_a_year:,.0f} for certificates = "
                 if c.certificates_a_year else "")
        con.print(f"{c.label:<{width}}  {parts}USD {c.total_a_year:,.0f} a year (USD {c.total_a_month:,.0f} a month)"
                  + ("  <- the fleet's choice now" if c.current else "")
                  + "".join(f"; {n}" for n in c.notes), soft_wrap=True, highlight=False)
    con.print("USD, international site, prices and sources in docs/COSTS.md (the buy page prevails); KMS secrets "
              "and a rekey's extra keys until retired are not counted", soft_wrap=True, highlight=False)


def retire(name: str = Name,
           generation: int = typer.Option(..., "--generation", "-g",
                                          parser=whole_number("--generation", 1, None, "1"),
                                          help="The generation to retire (ca status "
                                                                                  "lists them)."),
           secret_prefix: str = SecretPrefix, target: str = Target, state_dir: Path = StateDir,
           endpoints_file: Path | None = EndpointsFile, port_offset: int = PortOffset,
           yes: bool = Yes, json_out: bool = JsonOut) -> None:
    """Retire generation G of the own CA NAME once nothing uses it: refused (CA_IN_USE, naming them)
    while it issues, any listener trusts it or any holder's current certificate is of it, unended
    and unrevoked. Then its last CRL (valid until the generation's end) is published, its upload
    deleted from the CAS repository and its two KMS keys scheduled for deletion (PendingWindowInDays
    30; CancelKeyDeletion undoes it until then). Idempotent: a retired generation writes nothing."""
    from shared.policy.ownca import KEY_DELETION_DAYS
    from shared.steps.ownca_retire import retire_generation
    plan = [f"own CA {name}, generation {generation}, unless a listener trusts it or a holder holds it: its last CRL "
            f"published (valid until the generation's end), its uploaded CA deleted from the CAS repository, its root "
            f"and sub-CA KMS keys scheduled for deletion in {KEY_DELETION_DAYS} days (CancelKeyDeletion undoes it)"]
    with _context(target, state_dir, endpoints_file, port_offset, json_out, plan=plan, yes=yes) as ctx:
        out = _run(lambda: retire_generation(ctx, secret_prefix, name, generation), json_out)
    import msgspec
    doc: dict[str, Any] = {"status": "succeeded", **msgspec.to_builtins(out)}
    if json_out:
        emit_json(doc)
        return
    con = report(140)
    if out.already:
        con.print(f"generation {generation} of own CA [bold]{name}[/] was retired at {out.retired_at}: nothing to do; "
                  "writes 0", soft_wrap=True)
        return
    con.print(f"[green]retired[/] generation {generation} of own CA [bold]{name}[/]: keys {', '.join(out.keys)} "
              f"PendingDeletion, deleted on {(out.delete_date or '-')[:10]} (CancelKeyDeletion undoes it until then); "
              f"uploaded CA {out.upload_deleted or '-'} deleted; its last CRL valid until {out.crl_valid_until}; "
              f"writes {out.writes}", soft_wrap=True)


ca_app.command("create")(create)
ca_app.command("list")(list_)
ca_app.command("status")(status)
ca_app.command("switch")(switch)
ca_app.command("retire")(retire)
ca_app.command("cost")(cost)

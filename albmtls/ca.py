"""``albmtls ca create|list|status|switch|cost``: your own CA, its keys in KMS (``shared.steps.ownca``).

``create`` makes (or finds) the root and the issuing sub-CA — each key a KMS asymmetric key that
never leaves KMS, the sub-CA with its root uploaded to the CAS certificate repository so listeners can
trust it — and prints each key id, its protection and the CA's end. ``list`` / ``status`` show them.
A new generation (new keys, a new root and sub-CA, the cross certificate) comes from
``albmtls revoke --rekey``; ``switch`` moves the CA's listeners to the issuing generation once every
holder holds a certificate of it (``--now``: at once) by re-applying each listener's recorded desired
state (``shared.steps.ownca_rekey.point_listeners``, the one ``revoke --rekey`` uses). ``cost`` is the
fleet's cost a year per CA choice (``shared.policy.costs``; no cloud). Exit codes: 0,
1 (the cloud refused or a step failed), 2 (invalid input).
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
        _fail(exc.to_dict(), json_out, EXIT_INPUT if exc.code == "INVALID_INPUT" else EXIT_FAILED)


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
    t = Table(title_justify="left")
    for col in ("gen", "role", "root key (KMS)", "issuing key (KMS)", "protection", "root ends", "sub-CA ends",
                "uploaded CA id"):
        t.add_column(col, overflow="fold")
    for g in v.get("generations") or []:
        t.add_row(str(g["gen"]), ", ".join(g.get("roles") or []) or "-", g["root_key_id"], g["issuing_key_id"],
                  g.get("protection_level") or "-", g["root_not_after"][:10], g["issuing_not_after"][:10],
                  g.get("uploaded_identifier") or "-")
    con.print(t)


def create(name: str = Name,
           key_spec: str = typer.Option("EC_P256", "--key-spec", help="EC_P256 (default) or RSA_2048."),
           root_days: int = typer.Option(3650, "--root-days", help="Validity of the root, days (2-7300)."),
           issuing_days: int = typer.Option(730, "--issuing-days",
                                            help="Validity of the issuing sub-CA, days (shorter than the root)."),
           secret_prefix: str = SecretPrefix, target: str = Target, state_dir: Path = StateDir,
           endpoints_file: Path | None = EndpointsFile, port_offset: int = PortOffset,
           yes: bool = Yes, json_out: bool = JsonOut) -> None:
    """Create (or find) the own CA NAME: a root and an issuing sub-CA whose keys are KMS keys, the
    sub-CA uploaded with its root to the CAS certificate repository. Idempotent."""
    import msgspec

    from shared.policy.ownca import CreateOptions
    from shared.policy.validation import decode
    from shared.steps import ownca as steps
    opts = _run(lambda: decode(CreateOptions, {"name": name, "key_spec": key_spec, "root_days": root_days,
                                               "issuing_days": issuing_days}), json_out)
    plan = [f"own CA {opts.name} ({opts.key_spec}), unless it exists: a root ({opts.root_days} days) and an issuing "
            f"sub-CA ({opts.issuing_days} days), each key a new KMS asymmetric key; the sub-CA and root uploaded to "
            f"the CAS certificate repository; its record in KMS secrets under {secret_prefix}/"]
    with _context(target, state_dir, endpoints_file, port_offset, json_out, plan=plan, yes=yes) as ctx:
        v = msgspec.to_builtins(_run(lambda: steps.ensure_ca(ctx, opts, secret_prefix), json_out))
    emit_json(v) if json_out else _print(v)


def list_(secret_prefix: str = SecretPrefix, target: str = Target, state_dir: Path = StateDir,
          endpoints_file: Path | None = EndpointsFile, port_offset: int = PortOffset,
          json_out: bool = JsonOut) -> None:
    """Every own CA under the prefix: its KMS key ids, its generations and its end."""
    import msgspec

    from shared.steps import ownca as steps
    with _context(target, state_dir, endpoints_file, port_offset, json_out) as ctx:
        views = [msgspec.to_builtins(v) for v in _run(lambda: steps.list_views(ctx, secret_prefix), json_out)]
    if json_out:
        emit_json({"cas": views})
        return
    for v in views:
        _print(v)
    if not views:
        report().print(f"no own CA under secret prefix {secret_prefix!r} (albmtls ca create --name …)")


def status(name: str = Name, secret_prefix: str = SecretPrefix, target: str = Target, state_dir: Path = StateDir,
           endpoints_file: Path | None = EndpointsFile, port_offset: int = PortOffset,
           json_out: bool = JsonOut) -> None:
    """The own CA NAME: key ids and protection per generation, which one issues and which listeners
    trust, its end, and the holders still waiting for a pending switch."""
    import msgspec

    from shared.steps import ownca as steps
    with _context(target, state_dir, endpoints_file, port_offset, json_out) as ctx:
        v = msgspec.to_builtins(_run(lambda: steps.view(ctx, secret_prefix, name), json_out))
        if v.get("switch_pending"):
            from shared.adapters.kms import Kms
            from shared.adapters.ownca import read_record
            found = _run(lambda: read_record(ctx.adapter(Kms), secret_prefix, name), json_out)
            total, on, waiting, _ = _run(lambda: steps.holders(ctx, secret_prefix, found[0]), json_out)
            v["holders"] = {"total": total, "on_issuing_generation": on, "waiting": waiting}
    if json_out:
        emit_json(v)
        return
    _print(v)
    if v.get("holders"):
        h = v["holders"]
        report().print(f"holders on generation {v['issuing_gen']}: {h['on_issuing_generation']} of {h['total']}"
                       + (f"; waiting: {', '.join(h['waiting'][:20])}" if h["waiting"] else ""))


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
    plan = [f"own CA {name}: when every holder holds a certificate of its issuing generation"
            + (" (--now: at once)" if now else "") + ", its record (KMS secret under "
            f"{secret_prefix}/) trusts that generation and each listener whose recorded desired state names the CA "
            "is updated: CaCertificates becomes the generation's uploaded CA, nothing else changes"]
    with _context(target, state_dir, endpoints_file, port_offset, json_out, plan=plan, yes=yes) as ctx:
        sw = _run(lambda: steps.switch(ctx, secret_prefix, name, at_once=now), json_out)
        v = msgspec.to_builtins(_run(lambda: steps.view(dataclasses.replace(ctx), secret_prefix, name), json_out))
        doc: dict[str, Any] = {"status": "succeeded", "name": name, "switched": sw.switched,
                               "issuing_gen": v["issuing_gen"], "trusted_gen": v["trusted_gen"],
                               "switch_pending": bool(v.get("switch_pending")),
                               "holders": {"total": sw.holders, "on_issuing_generation": sw.on_issuing,
                                           "waiting": sw.waiting},
                               "listeners": [], "listener_writes": 0,
                               "alb_ca_certificate_id": v.get("alb_ca_certificate_id"), "writes": sw.writes}
        if not doc["switch_pending"]:            # switched now, or before: the listeners follow (idempotent)
            moved, w = _run(lambda: point_listeners(dataclasses.replace(ctx), secret_prefix, name), json_out)
            doc.update(listeners=moved, listener_writes=w, writes=sw.writes + w)
        else:
            doc["listeners"] = sw.listeners
    if json_out:
        emit_json(doc)
        return
    con = _console(140)
    h = doc["holders"]
    con.print(f"own CA [bold]{name}[/]: issuing generation {doc['issuing_gen']}, listeners trust generation "
              f"{doc['trusted_gen']}; holders on generation {doc['issuing_gen']}: {h['on_issuing_generation']} of "
              f"{h['total']}" + (f"; waiting: {', '.join(h['waiting'][:20])}" if h["waiting"] else ""), soft_wrap=True)
    if doc["switch_pending"]:
        con.print(f"[yellow]not switched[/]: {len(h['waiting'])} holder(s) still hold only certificates of an older "
                  f"generation (renew them: albmtls rotate; or switch anyway: albmtls ca switch --name {name} --now); "
                  f"listeners {', '.join(doc['listeners']) or '-'} unchanged; writes 0", soft_wrap=True)
    else:
        con.print(("[green]switched[/]" if doc["switched"] else "nothing pending")
                  + f": listeners {', '.join(doc['listeners']) or '-'} trust "
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


ca_app.command("create")(create)
ca_app.command("list")(list_)
ca_app.command("status")(status)
ca_app.command("switch")(switch)
ca_app.command("cost")(cost)

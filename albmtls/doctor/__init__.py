"""``albmtls doctor``: every assumption of ``localcloud/COVERAGE.md`` that can be checked without a
write (or with a ``DryRun``), checked against the target, with what to change when the target
disagrees (e.g. ``set ALBMTLS_ALB_CA_ID_FORM=identifier``).

The checks (``checks.CHECKS`` names them; the modules ``alb``, ``reads``, ``ownca`` and ``runtime``
hold them by product, ``trail`` the ActionTrail one) read the target and dry-run the listener write; the
assumptions and the check that settles each are ``localcloud/assumptions.py`` (the same catalogue
COVERAGE.md is rendered from). The text output is two tables — the checks, and every checkable
assumption with its result — and a count of those only a write could settle; ``--json`` lists
every assumption with a result. Exit 1 when a check fails (a setting is wrong for this target, or
something a run needs is missing), else 0.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from ..options import (
    EXIT_FAILED,
    EXIT_INPUT,
    EXIT_OK,
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    Target,
    emit_json,
    err,
    plural,
    report,
)

REPO = Path(__file__).resolve().parents[2]
DEMO_INPUT = REPO / "examples" / "provision.json"


def run_checks(settings: Any, target: str, raw: dict[str, Any] | None, inp: Any,
               only: list[str] | None = None) -> dict[str, Any]:
    """Run every check (credentials first: without them nothing else runs; ``only``: just these and
    the credentials) and rate every assumption of the catalogue. Returns the ``--json`` document."""
    from localcloud.assumptions import DOCTOR_CHECKS, catalogue
    from shared.core.errors import AlbMtlsError

    from .checks import CHECKS, DoctorEnv, Finding
    env = DoctorEnv(settings=settings, target=target, inp=inp, raw=raw)
    findings: dict[str, Finding] = {}
    for name, check in CHECKS.items():
        if name != "credentials" and findings["credentials"].result == "fail":
            findings[name] = Finding(name, "skip", "no usable credentials", findings["credentials"].fix)
            continue
        if only and name != "credentials" and name not in only:
            findings[name] = Finding(name, "skip", "not selected (--check)")
            continue
        try:
            findings[name] = check(env)
        except AlbMtlsError as exc:
            fix = exc.message.split("; ", 1)[1] if "; " in exc.message else ""
            findings[name] = Finding(name, "fail", f"{exc.code}: {exc.message}", fix)
    rows = []
    for a in catalogue():
        row: dict[str, Any] = {"assumption": a.key, "text": a.text, "status": a.status, "source": a.source,
                               "check": a.check}
        if a.check is None:
            row.update(how="not checkable without a write", result="not checkable", detail=a.why_not, fix="")
        else:
            f = findings[a.check]
            seen = f.settles.get(a.key)
            if seen is None:
                seen = f"not seen: the check {f.result}: {f.detail}" if f.result in ("skip", "fail") else \
                    f"checked: {f.detail}"
            result = seen.split(":", 1)[0]
            row.update(how=DOCTOR_CHECKS[a.check], result=result, detail=seen,
                       fix=f.fix if result == "contradicted" or f.result == "fail" else "")
        rows.append(row)
    ok = all(f.result != "fail" for f in findings.values())
    return {"status": "ok" if ok else "failed", "target": target, "region": settings.region,
            "alb_ca_id_form": settings.alb_ca_id_form,
            "checks": [{"check": f.check, "how": DOCTOR_CHECKS[f.check], "result": f.result, "detail": f.detail,
                        "fix": f.fix} for f in findings.values()],
            "assumptions": rows}


def _print(doc: dict[str, Any]) -> None:
    from rich.table import Table
    console = report(160)
    style = {"ok": "green", "fail": "bold red", "warn": "yellow", "skip": "dim", "confirmed": "green",
             "contradicted": "bold red", "not seen": "dim", "checked": "green"}
    t = Table(title=f"albmtls doctor — {doc['target']} target, region {doc['region']}, "
                    f"ALBMTLS_ALB_CA_ID_FORM={doc['alb_ca_id_form']}", title_justify="left")
    for col in ("check", "how checked", "result", "what was seen", "what to change"):
        t.add_column(col, overflow="fold")
    for c in doc["checks"]:
        t.add_row(c["check"], c["how"], f"[{style.get(c['result'], '')}]{c['result']}[/]", c["detail"], c["fix"])
    console.print(t)
    a = Table(title="assumptions (localcloud/COVERAGE.md) a read or a dry run settles", title_justify="left")
    for col in ("assumption", "how checked", "result", "what to change if it fails"):
        a.add_column(col, overflow="fold")
    rest = 0
    for r in doc["assumptions"]:
        if r["check"] is None:
            rest += 1
            continue
        a.add_row(r["assumption"], r["check"], f"[{style.get(r['result'], '')}]{r['detail']}[/]", r["fix"])
    console.print(a)
    console.print(f"{plural(rest, 'more assumption')} {'needs' if rest == 1 else 'need'} "
                  "a write (or a failure) to settle: see `--json` or "
                  "localcloud/COVERAGE.md", soft_wrap=True)


def doctor(target: str = Target, state_dir: Path = StateDir, endpoints_file: Path | None = EndpointsFile,
           file: Path | None = typer.Option(None, "-f", "--file",
                                            help="A provision input: dry-run its listener with its sub-CA, read its "
                                                 "ALB and sub-CA (local target: examples/provision.json)."),
           check: list[str] | None = typer.Option(None, "--check", help="Run only this check (repeatable); "
                                                  "the credentials are always checked."),
           port_offset: int = PortOffset,
           json_out: bool = JsonOut) -> None:
    """Check every assumption that a read or a dry run can settle against the target, and say what to
    change when the target disagrees (e.g. set ALBMTLS_ALB_CA_ID_FORM=identifier). Reads only."""
    from shared.core.errors import AlbMtlsError

    from ..options import open_target, quiet_logs
    from ..provision import load_input
    quiet_logs()
    from .checks import CHECKS
    raw = inp = None
    path = file or (DEMO_INPUT if target == "local" else None)
    try:
        unknown = sorted(set(check or ()) - set(CHECKS))
        if unknown:
            raise AlbMtlsError("INVALID_INPUT", f"unknown {'check' if len(unknown) == 1 else 'checks'} "
                               f"{', '.join(unknown)}; known: {', '.join(CHECKS)}", field="check")
        if path is not None:
            raw, inp = load_input(path)
    except AlbMtlsError as exc:
        if json_out:                  # --json: one JSON document on stdout, a refusal too
            emit_json({"status": "failed", "error": exc.to_dict()})
        else:
            err(f"{exc.code}: {exc.message}")
        raise typer.Exit(EXIT_INPUT) from None
    try:
        with open_target(target, state_dir, endpoints_file, port_offset=port_offset, json_out=json_out) as opened:
            doc = run_checks(opened.settings, target, raw, inp, check)
    except AlbMtlsError as exc:
        if json_out:
            emit_json({"status": "failed", "error": exc.to_dict()})
        else:
            err(f"{exc.code}: {exc.message}")
        raise typer.Exit(EXIT_FAILED) from None
    if json_out:
        emit_json(doc)
    else:
        _print(doc)
    raise typer.Exit(EXIT_OK if doc["status"] == "ok" else EXIT_FAILED)

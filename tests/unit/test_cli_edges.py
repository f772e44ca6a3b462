"""The command line's edges that need no cloud: bad arguments and inputs end with a stable error
code and exit 2, never a Python traceback, and change nothing (typer's CliRunner, in process)."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from albmtls.app import app

runner = CliRunner()


def _deep(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def test_up_with_an_unknown_seed_is_refused_before_anything_is_created(tmp_path):
    state = tmp_path / "st"
    r = runner.invoke(app, ["up", "--seed", "bogus", "--state-dir", str(state)])
    assert r.exit_code == 2, r.output
    assert "INVALID_INPUT" in r.stderr and "known: demo" in r.stderr and "Traceback" not in r.output
    assert not state.exists()


def test_deeply_nested_input_file_is_invalid_input_not_a_traceback(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text(_deep())
    r = runner.invoke(app, ["provision", "-f", str(f), "--json", "--state-dir", str(tmp_path / "st")])
    assert r.exit_code == 2, r.output
    doc = json.loads(r.stdout)
    assert doc["error"]["code"] == "INVALID_INPUT" and "nested too deeply" in doc["error"]["message"]
    assert not (tmp_path / "st").exists()


def test_deeply_nested_flow_input_is_invalid_input(tmp_path):
    f = tmp_path / "deep.json"
    f.write_text(_deep())
    r = runner.invoke(app, ["flow", "run", "workflows/provision.yaml", "--input", f"@{f}"])
    assert r.exit_code == 2, r.output
    assert "INVALID_INPUT" in r.stderr and "nested too deeply" in r.stderr


# -- where PFX files and passwords go (albmtls/export.py) ---------------------------------------------
def test_passwords_go_apart_from_the_pfx_by_default(tmp_path):
    from albmtls.export import export_target
    t = export_target(tmp_path / "out", None, False)
    assert t.out == tmp_path / "out" and t.passwords == tmp_path / "out-passwords"
    assert export_target(tmp_path / "out", None, True).passwords == tmp_path / "out"        # the old layout
    assert export_target(tmp_path / "out", tmp_path / "pw", False).passwords == tmp_path / "pw"
    assert not (tmp_path / "out").exists() and not (tmp_path / "out-passwords").exists()    # checks create nothing


def test_bad_export_paths_are_refused_before_anything_runs(tmp_path):
    import pytest

    from albmtls.export import export_target
    from shared.core.errors import AlbMtlsError
    a_file = tmp_path / "f"
    a_file.write_text("x")
    for out, pw, field, words in [(a_file, None, "--out", "is a file"),
                                  (a_file / "sub", None, "--out", "is a file"),
                                  (tmp_path / "out", a_file, "--passwords-dir", "is a file"),
                                  (tmp_path / "out", tmp_path / "out" / "pw", "--passwords-dir", "inside --out"),
                                  (tmp_path / "out", tmp_path / "out", "--passwords-dir", "inside --out")]:
        with pytest.raises(AlbMtlsError) as ei:
            export_target(out, pw, False)
        assert (ei.value.code, ei.value.field) == ("INVALID_INPUT", field) and words in ei.value.message


def test_provision_with_out_naming_a_file_stops_before_the_run(tmp_path):
    """It used to run the whole provisioning, then crash with a traceback and no summary."""
    a_file = tmp_path / "out.txt"
    a_file.write_text("x")
    r = runner.invoke(app, ["provision", "-f", "examples/provision.json", "--out", str(a_file), "--json",
                            "--state-dir", str(tmp_path / "st")])
    assert r.exit_code == 2, r.output
    doc = json.loads(r.stdout)
    assert doc["error"]["code"] == "INVALID_INPUT" and doc["error"]["field"] == "--out"
    assert not (tmp_path / "st").exists()


def _commands():
    """Every leaf command of the CLI as (path, its options), by duck typing: typer may bring its own
    copy of click (typer._click), so isinstance checks against ``click`` would find nothing."""
    from typer.main import get_command

    def walk(group, path=()):
        for name, sub in group.commands.items():
            if hasattr(sub, "commands"):
                yield from walk(sub, (*path, name))
            else:
                yield " ".join((*path, name)), [o for o in sub.params if o.param_type_name == "option"]
    found = list(walk(get_command(app)))
    assert len(found) > 15 and {"provision", "clock set", "flow run"} <= {p for p, _ in found}
    return found


def test_version_and_every_option_has_help():
    from importlib.metadata import version
    r = runner.invoke(app, ["--version"])
    assert r.exit_code == 0 and r.stdout.strip() == f"albmtls {version('alb-mtls')}"
    missing = [f"{path} {opt.opts[0]}" for path, opts in _commands() for opt in opts if not opt.help]
    assert missing == []


def test_serve_and_clock_refuse_bad_arguments_with_exit_2(tmp_path):
    r = runner.invoke(app, ["serve", "--target", "Cloud"])
    assert r.exit_code == 2 and "INVALID_INPUT" in r.stderr
    r = runner.invoke(app, ["clock", "set", "next tuesday", "--state-dir", str(tmp_path / "st")])
    assert r.exit_code == 2 and "+21d" in r.stderr and not (tmp_path / "st").exists()


# -- albmtls status: readable days and times, filters --------------------------------------------------
def test_status_days_and_times_for_people():
    from albmtls.status import days_text, when
    assert [days_text(d) for d in (29.9, 1.0, 0.6, -0.1, None)] == ["29", "1", "14 h", "ended", "-"]
    assert when("2027-01-17T02:36:08Z") == "2027-01-17 02:36" and when(None) == ""


def test_inventory_prints_days_as_status_does(capsys):
    """One format for people: inventory's table printed ``29.9`` where status printed ``29`` (the
    ``--json``/CSV documents keep the number)."""
    from albmtls import inventory
    inventory.print_table({"now": "2026-12-07T00:00:00Z", "listed": 1, "counts": {"valid": 1}, "rows": [
        {"common_name": "alice", "state": "valid", "days_left": 29.9}]})
    out = capsys.readouterr().out
    assert " 29 " in out and "29.9" not in out


def test_status_filters_by_listener_state_and_cn():
    from albmtls.status import select
    rows = [{"common_name": "alice", "listener_key": "alb-a-443", "state": "valid"},
            {"common_name": "alice", "listener_key": "alb-a-443", "state": "superseded"},
            {"common_name": "bob", "listener_key": "alb-a-8443", "state": "due"}]
    doc = {"certificates": rows, "counts": {"valid": 1, "superseded": 1, "due": 1},
           "listeners": [{"listener_key": "alb-a-443"}, {"listener_key": "alb-a-8443"}]}
    assert select(doc) is doc
    got = select(doc, listener="alb-a-443", states=["valid", "due"])
    assert [r["state"] for r in got["certificates"]] == ["valid"] and got["counts"] == {"valid": 1}
    assert got["listeners"] == [{"listener_key": "alb-a-443"}] and got["filters"]["listener"] == "alb-a-443"
    assert [r["common_name"] for r in select(doc, cn="b*")["certificates"]] == ["bob"]


def test_status_refuses_an_unknown_state(tmp_path):
    r = runner.invoke(app, ["status", "--state", "gone", "--json", "--state-dir", str(tmp_path / "st")])
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["field"] == "state"
    assert not (tmp_path / "st").exists()


def test_every_command_that_starts_a_local_cloud_takes_port_offset():
    """A command with --state-dir can start an in-process local cloud; each must take --port-offset
    (a second local cloud on the same machine otherwise binds the same data-plane ports)."""
    cmds = {path: {o for opt in opts for o in opt.opts} for path, opts in _commands()}
    # check-deploy's --state-dir is an observed run's directory to read, no cloud is started
    local = {path for path, opts in cmds.items() if "--state-dir" in opts} - {"check-deploy"}
    assert {"provision", "rotate", "status", "serve", "doctor", "up", "clock set"} <= local
    assert sorted(path for path in local if "--port-offset" not in cmds[path]) == []


# -- output: the report on stdout, folded at 120 columns, real plurals -----------------------------------
LONG_CN = "a-very-long-common-name-for-a-service-account.payments.internal.example.com"


def _cells(out: str, column: int) -> str:
    """The text of one table column, its folded lines joined (rich's heavy/light box borders)."""
    rows = [line for line in out.splitlines() if line.startswith("│")]
    return "".join(line.split("│")[column + 1].strip() for line in rows)


def test_tables_fold_rather_than_cut_at_120_columns(monkeypatch, capsys):
    """In a pipe at 120 columns apply's summary was cut (headers "w…", "no…", "he…"): every table
    folds a long cell instead, on stdout (apply's summary, status, inventory)."""
    from albmtls.fleet import print_summary
    from albmtls.inventory import print_table
    from albmtls.options import report
    from albmtls.status import _print_status
    monkeypatch.setenv("COLUMNS", "120")
    execution = "alb-demostd000000000001-443-20261207T053300Z-r0123456789"
    print_summary(report(), {"listeners": [{
        "listener_key": "alb-demostd000000000001-443", "status": "succeeded", "execution": execution, "writes": 14,
        "client_certificates": [{"reused": False}], "health": {"healthy": True}}], "succeeded": 1, "unchanged": 0,
        "failed": 0})
    out = capsys.readouterr().out
    assert "…" not in out
    for header in ("listener", "result", "execution", "writes", "certificates", "note", "healthy"):
        assert header in out, out
    assert _cells(out, 2) == execution
    _print_status({"now": "2026-12-07T05:00:00Z", "counts": {"valid": 1}, "certificates": [{
        "common_name": LONG_CN, "listener_key": "alb-demostd000000000001-443", "serial": "0123456789abcdef",
        "not_after": "2027-01-17T02:36:08Z", "days_left": 40.2, "state": "valid", "ours": True}]})
    out = capsys.readouterr().out
    assert "…" not in out and _cells(out, 0) == LONG_CN
    print_table({"now": "2026-12-07T05:00:00Z", "listed": 1, "counts": {"valid": 1}, "rows": [{
        "holder": "albmtls://alb-demostd000000000001/443/" + LONG_CN, "common_name": LONG_CN,
        "listener": "alb-demostd000000000001-443", "serial": "0123456789abcdef", "fingerprint_sha256": "ab" * 32,
        "not_before": "2026-12-07T05:00:00Z", "not_after": "2027-01-06T05:00:00Z", "days_left": 30, "state": "valid",
        "ca": "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42"}]})
    out = capsys.readouterr().out
    assert "…" not in out and _cells(out, 1) == LONG_CN and "1 certificate: 1 valid" in out


def test_counts_are_real_plurals(capsys):
    """No "listener(s)" / "certificate(s)": plan, drift, inventory and doctor say 1 listener, 2 listeners."""
    from albmtls.doctor import _print as print_doctor
    from albmtls.drift import print_drift
    from albmtls.fleet import print_plan
    from albmtls.options import report
    client = {"action": "issue", "common_name": "alice", "reason": "new"}
    kept = {"action": "keep", "common_name": "bob", "reason": "valid"}
    print_plan(report(), {"errors": 0, "changes": 1, "listeners": [{
        "listener_key": "alb-a-443", "status": "changes", "clients": [client, kept], "drift": []}]})
    print_drift(report(), {"listeners": [], "checked": 1, "drifted": 0, "errors": 0, "repairs": 1, "now": "t"})
    print_drift(report(), {"listeners": [], "checked": 2, "drifted": 0, "errors": 0, "now": "t"})
    print_doctor({"target": "local", "region": "cn-hangzhou", "alb_ca_id_form": "id", "checks": [],
                  "assumptions": [{"check": None}]})
    out = " ".join(capsys.readouterr().out.split())
    assert "(s)" not in out, out
    assert "issue 1 client certificate: alice" in out and "1 client certificate kept" in out
    assert "Plan: 1 of 1 listener to change" in out
    assert "1 listener checked" in out and "1 repair started" in out and "2 listeners checked" in out
    assert "1 more assumption needs a write" in out

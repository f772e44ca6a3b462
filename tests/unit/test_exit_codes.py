"""Every command's exit code for bad input, against the README's rule ("Exit codes": ``2`` invalid
input, ``1`` the cloud refused or a step failed; ``plan`` and ``drift`` answer CI's question with ``2``
and exit ``1`` for any error). One row per leaf command of the CLI: a new command without a row
fails here. Each bad input is refused before anything is changed (the state directory is never
created), with a stable code and no traceback (typer's CliRunner, in process)."""
from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from albmtls.app import app
from albmtls.options import EXIT_FAILED, EXIT_INPUT, INPUT_CODES, exit_for

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

#: command → a bad input of its own (what a user gets wrong there), checked before any cloud is opened
BAD_INPUT: dict[str, list[str]] = {
    "up": ["--seed", "bogus"],
    "provision": ["-f", "/nonexistent/input.json"],
    "rotate": ["--now", "next tuesday"],
    "revoke": ["--listener", "alb-demostd000000000001", "--cn", "alice"],
    "restore": ["--listener", "alb-demostd000000000001", "--cn", "alice"],
    "status": ["--secret-prefix", "no/slash"],
    "plan": ["-f", "/nonexistent/fleet.yaml"],
    "apply": ["-f", "/nonexistent/fleet.yaml"],
    "drift": ["--secret-prefix", "no/slash"],
    "inventory": ["--format", "xml"],
    "messages": ["--target", "cloud"],
    "resend": ["--cn", "alice", "--secret-prefix", "no/slash"],
    "holder-policy": ["-f", "/nonexistent/input.json", "--cn", "alice"],
    "serve": ["--port", "70000"],
    "doctor": ["--check", "no-such-check"],
    "flow run": ["workflows/provision.yaml", "--input", "{not json"],
    "clock set": ["next tuesday"],
    "ca create": ["--name", "Not_A_Name"],
    "ca cost": ["-f", "/nonexistent/fleet.yaml"],
    "channels set": ["-f", "/nonexistent/channels.json"],
    "channels test": ["--secret-prefix", "no/slash"],
}
#: commands a user gives no input to get wrong (their options are typed and checked by the parser)
NO_INPUT = {"check-deploy", "clock show", "clock reset", "ca list"}
#: not checked here: these look their --name up in the cloud (CA_NOT_FOUND, exit 1) rather than
#: checking its form first (albmtls/ca.py, kept as it is by this test's change)
LOOKED_UP = {"ca status", "ca switch", "ca retire"}
#: the state directory option, where the command has one (nothing may be created there)
NO_STATE_DIR = {"holder-policy", "flow run", "ca cost", "check-deploy"}


def _readme_ci_commands() -> set[str]:
    """The commands whose ``2`` means something else, as README's "Exit codes" paragraph names them."""
    text = (REPO / "README.md").read_text()
    para = text[text.index("Exit codes: `0` success"):].split("\n\n", 1)[0]
    assert "`2` invalid input" in para and "`1` the cloud refused or a step failed" in para
    return set(re.findall(r"`(\w+)` \(`2` \w+\)", para))


def _leaf_commands() -> set[str]:
    from typer.main import get_command

    def walk(group, path=()):
        for name, sub in group.commands.items():
            if hasattr(sub, "commands"):
                yield from walk(sub, (*path, name))
            else:
                yield " ".join((*path, name))
    return set(walk(get_command(app)))


def test_every_command_has_a_row():
    assert _readme_ci_commands() == {"plan", "drift"}
    assert _leaf_commands() - NO_INPUT - LOOKED_UP == set(BAD_INPUT), "a command without a row (or a row too many)"


@pytest.mark.parametrize("command", sorted(BAD_INPUT))
def test_bad_input_exits_as_the_readme_says(command, tmp_path):
    state = tmp_path / "st"
    args = [*command.split(), *BAD_INPUT[command]]
    if command not in NO_STATE_DIR:
        args += ["--state-dir", str(state)]
    r = runner.invoke(app, args)
    want = EXIT_FAILED if command in _readme_ci_commands() else EXIT_INPUT
    assert r.exit_code == want, (command, r.exit_code, r.output)
    assert "INVALID_INPUT" in r.output and "Traceback" not in r.output, r.output
    assert not state.exists(), f"{command} created its state directory for a bad input"


def test_json_commands_refuse_with_one_json_document(tmp_path):
    """With --json even a refusal is one JSON document on stdout (doctor printed none)."""
    for command in ("doctor", "status", "drift", "resend", "provision", "rotate", "revoke"):
        r = runner.invoke(app, [*command.split(), *BAD_INPUT[command], "--json", "--state-dir", str(tmp_path / "st")])
        doc = json.loads(r.stdout)
        assert doc["error"]["code"] == "INVALID_INPUT" and r.exit_code in (1, 2), (command, r.output)


def test_the_codes_of_bad_input_exit_2_and_the_rest_1():
    """CLIENT_REVOKED used to exit 1 from provision (the input lists a revoked client: fix the input);
    NAME_NOT_PERMITTED too (a client's name outside the own CA's constraints: the input is wrong)."""
    assert {c for c in INPUT_CODES if exit_for(c) == EXIT_INPUT} == {
        "INVALID_INPUT", "CLIENT_NOT_FOUND", "CLIENT_REVOKED", "CONFIG_INVALID", "RENEW_BEFORE_TOO_LONG",
        "NAME_NOT_PERMITTED"}
    readme = (REPO / "README.md").read_text()
    para = readme[readme.index("Exit codes: `0` success"):].split("\n\n", 1)[0]
    assert all(f"`{c}`" in para for c in INPUT_CODES)
    for code in ("DNS_CONFLICT", "PROBE_FAILED", "THROTTLED", "LOCAL_PORT_IN_USE", "CREDENTIALS_MISSING"):
        assert exit_for(code) == EXIT_FAILED
    assert exit_for(None) == 0


def test_serve_on_a_port_in_use_says_so_before_starting_anything(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = runner.invoke(app, ["serve", "--port", str(port), "--state-dir", str(tmp_path / "st")])
    assert r.exit_code == 1 and f"LOCAL_PORT_IN_USE: 127.0.0.1:{port}" in r.stderr and "--port" in r.stderr
    assert not (tmp_path / "st").exists()


@pytest.mark.parametrize("value", ["70000", "-1", "65001"])
def test_port_offset_out_of_range_is_refused(value, tmp_path):
    for command in ("up", "status", "provision"):
        extra = ["-f", "examples/provision.json"] if command == "provision" else []
        r = runner.invoke(app, [command, *extra, "--port-offset", value, "--state-dir", str(tmp_path / "st")])
        assert r.exit_code == 2 and "INVALID_INPUT" in r.output and "0-65000" in r.output, (command, r.output)
    assert not (tmp_path / "st").exists()


def test_status_listener_takes_both_forms_and_refuses_others():
    from albmtls.status import listener_key
    from shared.core.errors import AlbMtlsError
    assert listener_key("alb-demostd000000000001:443") == "alb-demostd000000000001-443"
    assert listener_key("alb-demostd000000000001-443") == "alb-demostd000000000001-443"
    for bad in ("alb-demostd000000000001", "443", "alb-x:99999", "ALB-X:443"):
        with pytest.raises(AlbMtlsError) as ei:
            listener_key(bad)
        assert ei.value.field == "listener" and "<alb id>:<port>" in ei.value.message


def test_inventory_takes_json_like_every_command(tmp_path):
    r = runner.invoke(app, ["inventory", "--json", "--format", "csv", "--state-dir", str(tmp_path / "st")])
    assert r.exit_code == 2 and "give one" in r.stderr


def test_status_of_a_listener_it_does_not_know_is_an_error_not_an_empty_table():
    """`status --listener alb-x:443` for a listener with no certificate, record or desired state under
    the prefix: LISTENER_NOT_FOUND naming the known ones (exit 2), never an empty table that reads as
    all clear. A listener known by any part of the report is known."""
    from albmtls.status import known_listener, listener_keys
    doc = {"certificates": [{"listener_key": "alb-a-443"}], "listeners": [{"listener_key": "alb-b-443"}],
           "drift": {"listeners": [{"listener_key": "alb-c-443"}]}}
    assert listener_keys(doc) == {"alb-a-443", "alb-b-443", "alb-c-443"}
    assert all(known_listener(doc, k) for k in ("alb-a-443", "alb-b-443", "alb-c-443"))
    assert not known_listener(doc, "alb-a-8443") and not known_listener({}, "alb-a-443")


def test_status_listener_not_found_on_the_local_cloud(tmp_path):
    r = runner.invoke(app, ["status", "--listener", "alb-demostd000000000001:9443", "--state-dir",
                            str(tmp_path / "st")])
    assert r.exit_code == 2 and "LISTENER_NOT_FOUND" in r.output and "9443" in r.output, r.output


@pytest.mark.parametrize("args, words", [
    (["ca", "retire", "--name", "demo", "--generation", "0"], "--generation 0: give a whole number from 1"),
    (["ca", "retire", "--name", "demo", "--generation", "x"], "--generation 'x': give a whole number"),
    (["ca", "create", "--name", "x1", "--issuing-days", "abc"], "--issuing-days 'abc': give a whole number from 1"),
    (["ca", "create", "--name", "x1", "--root-days", "99999"], "--root-days 99999: give a whole number from 2 to"),
    (["messages", "--since", "abc"], "--since 'abc': give a whole number from 0"),
    (["messages", "--since", "-1"], "--since -1: give a whole number from 0"),
])
def test_a_number_option_refusal_carries_the_code(args, words, tmp_path):
    r = runner.invoke(app, [*args, "--state-dir", str(tmp_path / "st")])
    text = " ".join(r.output.replace("│", " ").split())
    assert r.exit_code == 2 and "INVALID_INPUT" in text and words in text, r.output
    assert not (tmp_path / "st").exists()


@pytest.mark.parametrize("command", ["status", "switch", "retire"])
def test_ca_commands_check_the_name_before_looking_it_up(command, tmp_path):
    """`ca status --name NOPE` said CA_NOT_FOUND and advised `ca create --name NOPE`, itself refused."""
    extra = ["--generation", "1"] if command == "retire" else []
    yes = [] if command == "status" else ["--yes"]
    r = runner.invoke(app, ["ca", command, "--name", "NOPE", *extra, "--state-dir", str(tmp_path / "st"), *yes])
    text = " ".join(r.output.split())
    assert r.exit_code == 2 and "INVALID_INPUT" in text and "not an own CA name" in text, r.output
    assert "ca create" not in text

"""Bad input of every kind the newcomer trial and the bad-input attack found still answered with a
traceback, a Python message or a wrong code: each is refused with ``INVALID_INPUT`` naming what to
change, in the input's terms, before anything is created (typer's CliRunner, in process)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from albmtls.app import app
from shared.core.errors import AlbMtlsError
from shared.policy.fleet import load_document, parse_fleet

REPO = Path(__file__).resolve().parents[2]
DEMO = json.loads((REPO / "examples" / "provision.json").read_text())
runner = CliRunner()


def _provision(tmp_path: Path, *args: str) -> tuple[int, dict]:
    r = runner.invoke(app, ["provision", *args, "--json", "--state-dir", str(tmp_path / "st")])
    assert not (tmp_path / "st").exists(), "a local cloud was started for a bad input"
    assert "Traceback" not in r.output
    return r.exit_code, json.loads(r.stdout)


def _file(tmp_path: Path, data: str | bytes, name: str = "input.json") -> str:
    f = tmp_path / name
    f.write_bytes(data if isinstance(data, bytes) else data.encode())
    return str(f)


@pytest.mark.parametrize("args, words", [
    (["--timeout", "-1"], "more than 0"),
    (["--timeout", "0"], "more than 0"),
    (["--out", "/proc/nope"], "nothing can be written under /proc"),
    (["--passwords-dir", "pw", "--passwords-beside"], "give one of them"),
])
def test_provision_options_are_checked_before_the_run(tmp_path, args, words):
    r = runner.invoke(app, ["provision", "-f", "examples/provision.json", *args, "--state-dir", str(tmp_path / "st")])
    assert r.exit_code == 2 and "INVALID_INPUT" in r.output and words in r.output, r.output
    assert not (tmp_path / "st").exists() and not Path("pw").exists()


def test_input_files_have_a_size_limit(tmp_path):
    for command in (["provision", "-f"], ["plan", "-f"], ["apply", "-f"], ["holder-policy", "--cn", "a", "-f"]):
        r = runner.invoke(app, [*command, "/dev/zero", "--state-dir" if command[0] != "holder-policy" else "--json",
                                *([str(tmp_path / "st")] if command[0] != "holder-policy" else [])])
        assert r.exit_code in (1, 2) and "INVALID_INPUT" in r.output and "larger than 1 MiB" in r.output, r.output
    assert not (tmp_path / "st").exists()


@pytest.mark.parametrize("text, words", [
    ('{"ttl": 600, "ttl": 60}', "the key 'ttl' is given twice"),
    ('{"ttl": ' + "9" * 5000 + "}", "number too long"),
    ("[" * 5000 + "]" * 5000, "nested too deeply"),
    ("\ufeff\ufeff{}", "not valid JSON"),
    (b"\xff\xfe{\x00}\x00", "UTF-16 text; save it as UTF-8"),
    (b"{\"rr\": \"\xe9\"}", "not UTF-8 text"),
])
def test_json_input_errors_say_what_to_write(tmp_path, text, words):
    code, doc = _provision(tmp_path, "-f", _file(tmp_path, text))
    assert code == 2 and doc["error"]["code"] == "INVALID_INPUT" and words in doc["error"]["message"], doc
    for python in ("sys.set_int_max_str_digits", "recursion", "Expecting value: line 1 column 1 (char 0)"):
        assert python not in doc["error"]["message"]


def test_a_utf8_byte_order_mark_is_read_as_the_text_after_it(tmp_path):
    """Windows editors save UTF-8 with a BOM; the input is the same document."""
    assert load_document(b"\xef\xbb\xbf" + json.dumps(DEMO).encode(), "json") == DEMO
    assert load_document("\ufeff" + json.dumps(DEMO), "yaml") == DEMO


def test_yaml_reads_only_true_and_false_as_booleans():
    """YAML 1.1 reads NO (Norway), yes, on, off as booleans: a CN or rr `NO` became false."""
    doc = load_document("rr: NO\nregion: on\nallow_apex: true\nprune: False\n", "yaml")
    assert doc == {"rr": "NO", "region": "on", "allow_apex": True, "prune": False}
    text = "\n".join(f"{k}: {json.dumps(v)}" for k, v in DEMO.items()) + "\nallow_apex: yes\n"
    with pytest.raises(AlbMtlsError) as ei:
        parse_fleet(load_document(text, "yaml"))
    assert ei.value.field == "allow_apex" and "must be true or false, unquoted" in ei.value.message


@pytest.mark.parametrize("field, value, words", [
    ("listener_port", "443", "must be a whole number, unquoted (e.g. 443), not text"),
    ("clients", "alice", "must be a list"),
    ("rr", 5, "must be text in quotes, not a number"),
])
def test_a_value_of_the_wrong_kind_says_what_to_write(field, value, words):
    with pytest.raises(AlbMtlsError) as ei:
        parse_fleet({**DEMO, field: value})
    assert ei.value.field == field and words in ei.value.message and "Expected" not in ei.value.message


def test_flow_input_file_gets_the_same_reader(tmp_path):
    twice = _file(tmp_path, '{"a": 1, "a": 2}')
    r = runner.invoke(app, ["flow", "run", "workflows/provision.yaml", "--input", f"@{twice}"])
    assert r.exit_code == 2 and "the key 'a' is given twice" in r.stderr, r.output

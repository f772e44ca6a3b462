"""The examples agree with each other and with the demo (a newcomer's trial): the fleet names alice
with the same holder as examples/provision.json (applying it after that example silently dropped
her person holder); examples/provision-system.json has a system holder whose webhook is a channel
the local cloud configures, so it delivers; ``holder-policy`` reads what plan and apply read (a
YAML fleet was 'not valid JSON')."""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from typer.testing import CliRunner

from albmtls.app import app
from shared.policy.contracts import SystemHolder
from shared.policy.fleet import load_document, parse_fleet

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def _fleet(name: str):
    path = EXAMPLES / name
    return parse_fleet(load_document(path.read_text(), "yaml" if path.suffix == ".yaml" else "json"))


def _client(fleet, port: int, cn: str):
    [inp] = [i for i in fleet.listeners if i.listener_port == port]
    return next(c for c in inp.clients if c.common_name == cn)


def test_every_example_names_alice_on_443_the_same_way():
    alice = _client(_fleet("provision.json"), 443, "alice")
    for name in ("fleet.yaml", "provision-system.json"):
        assert _client(_fleet(name), 443, "alice") == alice, name


def test_the_system_example_names_a_demo_channel():
    demo = set(re.findall(r'"name": "([a-z-]+)"', (REPO / "localruntime" / "notifysinks.py").read_text()))
    holders = [c.holder for c in _fleet("provision-system.json").listeners[0].clients
               if isinstance(c.holder, SystemHolder)]
    assert holders and all(h.webhook in demo for h in holders), (holders, demo)
    delivery = (REPO / "docs" / "DELIVERY.md").read_text()
    assert set(re.findall(r'"webhook": "([a-z-]+)"', delivery)) <= demo


def test_holder_policy_reads_a_yaml_fleet_like_plan(tmp_path):
    runner = CliRunner()
    r = runner.invoke(app, ["holder-policy", "-f", str(EXAMPLES / "fleet.yaml"), "--cn", "alice", "--json"])
    assert r.exit_code == 2 and json.loads(r.stdout)["error"]["code"] == "INVALID_INPUT"   # a person, not JSON
    assert "not a system" in json.loads(r.stdout)["error"]["message"]
    doc = json.loads((EXAMPLES / "provision-system.json").read_text())
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump({"listeners": [doc, dict(doc, listener_port=8443,
                                                           server_group={**doc["server_group"], "name": "g8443"})]}))
    r = runner.invoke(app, ["holder-policy", "-f", str(fleet), "--cn", "billing", "--json"])
    assert r.exit_code == 2 and "--listener" in json.loads(r.stdout)["error"]["message"]
    r = runner.invoke(app, ["holder-policy", "-f", str(fleet), "--cn", "billing", "--listener",
                            "alb-demostd000000000001:8443", "--json"])
    assert r.exit_code == 0, r.stdout
    assert json.loads(r.stdout)["listener_key"] == "alb-demostd000000000001-8443"


def test_the_apply_summary_says_where_the_certificates_are(tmp_path):
    from albmtls.fleet import certificates_at
    fleet = _fleet("fleet.yaml")
    kms, how = certificates_at(fleet, "local", None)
    assert "albmtls/<alb id>-<port>/<common name>/pfx" in kms and "download link" in kms
    assert "--out DIR" in how and "not exported" in how
    _, done = certificates_at(fleet, "local", tmp_path / "out")
    assert f"{tmp_path}/out/<alb id>-<port>/<common name>.pfx" in done and "out-passwords" in done
    assert "holder-policy" in certificates_at(fleet, "cloud", None)[1]

"""The fleet document (shared.policy.fleet): the example, paths in errors, the cross-listener rules,
YAML pitfalls, the single-listener input as a fleet of one, and the published JSON Schema."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import msgspec
import pytest

from shared.core.errors import AlbMtlsError
from shared.policy.fleet import FIELD_HELP, json_schema, load_document, parse_fleet

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "schemas" / "fleet.schema.json"


@pytest.fixture
def doc() -> dict:
    return load_document((REPO / "examples" / "fleet.yaml").read_text(), "yaml")


def _err(doc) -> AlbMtlsError:
    with pytest.raises(AlbMtlsError) as exc:
        parse_fleet(doc)
    return exc.value


def test_the_example_is_two_listeners_on_the_demo_alb_with_20_clients(doc):
    fleet = parse_fleet(doc)
    assert [i.listener_key for i in fleet.listeners] == ["alb-demostd000000000001-443", "alb-demostd000000000001-8443"]
    names = [c.common_name for i in fleet.listeners for c in i.clients]
    assert len(names) == 20 and "payments-service-prod" in names
    assert max(len(n) for n in names) == 60
    assert fleet.listeners[1].auto_repair is True and fleet.listeners[0].auto_repair is False
    # each listener's raw input is a complete provision input (what its execution receives)
    assert fleet.raw[1]["listener_port"] == 8443 and "x-demo-alb" not in fleet.raw[1]


def test_a_single_provision_input_is_a_fleet_of_one_with_its_own_paths():
    raw = json.loads((REPO / "examples" / "provision.json").read_text())
    fleet = parse_fleet(raw)
    assert fleet.single and len(fleet) == 1 and fleet.path(0) == ""
    raw["clients"][0]["days"] = 0
    assert _err(raw).field == "clients[0].days"


@pytest.mark.parametrize("edit, field, words", [
    (lambda d: d["listeners"][1]["clients"][7].update(common_name="x" * 65), "listeners[1].clients[7].common_name",
     "1-64 characters long: the X.509 limit"),
    (lambda d: d["listeners"][1]["clients"][7].update(common_name="bad name"), "listeners[1].clients[7].common_name",
     "ASCII letters, digits"),
    (lambda d: d["listeners"][0]["clients"][2].update(profile="legacy"), "listeners[0].clients[2].profile",
     "expected one of: compat, modern"),
    (lambda d: d["listeners"][0].update(colour="blue"), "listeners[0].colour", "not a known field"),
    (lambda d: d["listeners"][1].pop("server_group"), "listeners[1].server_group", "is required"),
    (lambda d: d.update(listeners=[]), "listeners", "1-200 listeners per document"),
    (lambda d: d.update(extra=1), "extra", "not a known field"),
])
def test_errors_name_the_field_by_its_path_and_say_the_rule(doc, edit, field, words):
    edit(doc)
    err = _err(doc)
    assert err.code == "INVALID_INPUT" and err.field == field, (err.field, err.message)
    assert words in err.message


def test_names_as_long_as_the_services_allow(doc):
    # a 64-character CN fits the KMS names with the default prefix: <prefix>/<alb>-<port>/<cn>/password ≤ 192
    doc["listeners"][0]["clients"][0]["common_name"] = "c" * 64
    fleet = parse_fleet(doc)
    assert len(fleet.listeners[0].secrets("c" * 64).password) <= 192
    # past 192 characters in all, the message gives the rule and the limit
    doc["listeners"][0]["secret_prefix"] = "p" * 64
    doc["listeners"][0]["load_balancer_id"] = "alb-" + "a" * 60
    err = _err(doc)
    assert err.field == "listeners[0].clients[0].common_name"
    assert "at most 192" in err.message and "secret_prefix" in err.message


@pytest.mark.parametrize("edit, field, words", [
    (lambda d: d["listeners"][1].update(listener_port=443), "listeners[1].listener_port", "appears once"),
    (lambda d: d["listeners"][1]["server_group"].update(name="albmtls-app-443", servers=[
        {"server_id": "i-bp1demoecs00000000001", "port": 8080}]), "listeners[1].server_group", "the same way"),
    (lambda d: d["listeners"][1].update(load_balancer_id="alb-other000000000001"), "listeners[1].rr",
     "one host name points at one ALB"),
    (lambda d: d["listeners"][1].update(ttl=1200), "listeners[1].ttl", "one record has one TTL"),
])
def test_cross_listener_rules(doc, edit, field, words):
    edit(doc)
    err = _err(doc)
    assert err.field == field and words in err.message, (err.field, err.message)


def test_a_shared_server_group_defined_the_same_way_is_fine(doc):
    doc["listeners"][1]["server_group"] = copy.deepcopy(doc["listeners"][0]["server_group"])
    assert len(parse_fleet(doc)) == 2


def test_yaml_refuses_duplicate_keys_but_lets_a_listener_override_an_anchor():
    text = "listeners:\n  - listener_port: 443\n    listener_port: 8443\n"
    with pytest.raises(AlbMtlsError) as exc:
        load_document(text, "yaml")
    assert "appears twice" in exc.value.message and "line 3" in exc.value.message
    merged = load_document("x-a: &a {listener_port: 443, rr: app}\nlisteners:\n  - <<: *a\n    listener_port: 8443\n",
                           "yaml")
    assert merged["listeners"][0] == {"listener_port": 8443, "rr": "app"}


@pytest.mark.parametrize("text, media, words", [
    ("listeners: [\n", "yaml", "line 2"), ("{", "json", "not valid JSON"), ("", "yaml", "empty"),
    (b"\xff\xfe", "yaml", "UTF-8"),
])
def test_unreadable_documents(text, media, words):
    with pytest.raises(AlbMtlsError) as exc:
        load_document(text, media)
    assert exc.value.field == "document" and words in exc.value.message


def test_not_a_mapping():
    assert _err(["listeners"]).field == "document"


# --------------------------------------------------------------------------------------------
# the published schema
# --------------------------------------------------------------------------------------------
def test_published_schema_is_the_generated_one():
    assert json.loads(SCHEMA.read_text()) == json_schema(), \
        "schemas/fleet.schema.json is stale: python -m shared.policy.fleet > schemas/fleet.schema.json"


def test_every_field_has_help_for_editors():
    for name, comp in json_schema()["$defs"].items():
        for field in comp.get("properties", {}):
            if field != "$schema":
                assert field in FIELD_HELP.get(name, {}), f"{name}.{field} has no entry in FIELD_HELP"


def test_the_examples_validate_against_the_schema(doc):
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    jsonschema.Draft202012Validator.check_schema(validator.schema)
    assert list(validator.iter_errors(doc)) == []
    assert list(validator.iter_errors(json.loads((REPO / "examples" / "provision.json").read_text()))) == []


@pytest.mark.parametrize("edit", [
    lambda d: d["listeners"][0].update(listener_port=0),
    lambda d: d["listeners"][0].update(listener_port="443"),
    lambda d: d["listeners"][0]["clients"][0].update(profile="legacy"),
    lambda d: d["listeners"][0]["clients"][0].update(common_name="x" * 65),
    lambda d: d["listeners"][0]["clients"][0].update(common_name=" lead"),
    lambda d: d["listeners"][0].update(unknown=True),
    lambda d: d["listeners"][0].pop("clients"),
    lambda d: d["listeners"][0]["server_group"]["servers"][0].update(weight=101),
    lambda d: d.update(listeners=[]),
])
def test_schema_and_types_refuse_the_same_documents(doc, edit):
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    edit(doc)
    assert list(validator.iter_errors(doc)), "the schema accepts what the types refuse"
    with pytest.raises(AlbMtlsError):
        parse_fleet(doc)


def test_schema_of_types_is_msgspec_generated():
    # the schema's definitions are msgspec's own for the types (descriptions added), so they cannot drift
    _, comps = msgspec.json.schema_components([__import__("shared.policy.fleet", fromlist=["x"]).FleetDocument])
    assert set(comps) <= set(json_schema()["$defs"])


def test_the_readme_example_is_a_valid_fleet_and_the_schema_line_resolves():
    import re
    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("## A fleet in one file"):]
    block = re.search(r"```yaml\n(.*?)```", section, re.S)
    assert block is not None
    fleet = parse_fleet(load_document(block.group(1), "yaml"))
    assert [c.common_name for c in fleet.listeners[0].clients] == ["alice", "payments-service-prod"]
    first = (REPO / "examples" / "fleet.yaml").read_text().splitlines()[0]
    m = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert m is not None and (REPO / "examples" / m.group(1)).resolve() == SCHEMA.resolve()
    assert first in block.group(1)


def _two_own(doc, a: dict, b: dict) -> dict:
    for lst, extra in zip(doc["listeners"], (a, b), strict=False):
        lst.pop("ca_identifier", None)
        lst["ca"] = {"kind": "own", "name": "nx", **extra}
    return doc


@pytest.mark.parametrize("a, b, field", [
    ({"permitted_dns": ["a.test"]}, {"permitted_dns": ["b.test"]}, "permitted_dns"),
    ({"permitted_dns": ["a.test", "b.test"]}, {"permitted_dns": ["a.test"]}, "permitted_dns"),
    ({}, {"permitted_dns": ["a.test"]}, "permitted_dns"),
    ({"permitted_dns": ["a.test"]}, {}, "permitted_dns"),
    ({"permitted_dns": ["a.test"]}, {"permitted_dns": ["a.test", "a.test"]}, None),
    ({"key_spec": "EC_P256"}, {"key_spec": "RSA_2048"}, "key_spec"),
    ({}, {"key_spec": "RSA_2048"}, "key_spec"),
    ({"root_days": 3650}, {"root_days": 3000}, "root_days"),
    ({"issuing_days": 730}, {"issuing_days": 365}, "issuing_days"),
])
def test_one_own_ca_defined_two_ways_is_refused_before_any_read(doc, a, b, field):
    """Two listeners naming one own CA define it the same way, or the document is refused (the plan
    and the apply parse it first: nothing applied) — the CA a parallel apply created would depend on
    which listener ran first (none on one listener is a difference too)."""
    _two_own(doc, a, b)
    if field is None:
        assert len(parse_fleet(doc)) == 2
        return
    err = _err(doc)
    assert err.code == "INVALID_INPUT" and err.field == f"listeners[1].ca.{field}", (err.field, err.message)
    assert "listeners[0]" in err.message and "'nx'" in err.message


def test_one_own_ca_defined_the_same_way_or_under_another_prefix_is_fine(doc):
    _two_own(doc, {"permitted_dns": ["example.test", "corp.test"]}, {"permitted_dns": ["corp.test", "example.test"]})
    assert len(parse_fleet(doc)) == 2
    _two_own(doc, {"key_spec": "RSA_2048"}, {})
    doc["listeners"][1]["secret_prefix"] = "other"
    assert len(parse_fleet(doc)) == 2


def test_apply_creates_a_new_own_ca_from_one_listener_first(doc):
    """albmtls apply: of the listeners whose plan creates one own CA, the first runs in the first wave
    (with every listener creating none), the others after it — never two creating it at once."""
    from albmtls.fleet import creation_waves

    extra = copy.deepcopy(doc["listeners"][1])
    extra.update(listener_port=9443, rr="api3")
    doc["listeners"].append(extra)
    _two_own(doc, {}, {})
    doc["listeners"][2].pop("ca_identifier", None)
    doc["listeners"][2]["ca"] = {"kind": "own", "name": "nx"}
    fleet = parse_fleet(doc)
    create = {"action": "create", "id": "nx"}
    plan = {"listeners": [{"ca": create}, {"ca": create}, {"ca": None}]}
    assert creation_waves(fleet, plan, [0, 1, 2]) == [[0, 2], [1]]
    assert creation_waves(fleet, plan, [1, 2]) == [[1, 2]]
    assert creation_waves(fleet, {"listeners": [{}, {}, {}]}, [0, 1, 2]) == [[0, 1, 2]]

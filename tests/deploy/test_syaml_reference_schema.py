"""s.yaml's fc3 resources validate against the fc3 component's schema as the repository holds it
(``deploy/schema/fc3-schema.json``, devsapp/fc3 ``src/schema.json``) — no file outside the clone.

One extra check, where the project handbook sits beside the clone (``../shared/data/``, the copy's
origin): the repository's copy still equals it. Only that check skips on a plain clone."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from deploy.check import SCHEMA_FILE, Resolver

REPO = Path(__file__).resolve().parents[2]
HANDBOOK_COPY = REPO.parent / "shared" / "data" / "fc3-schema.json"


@pytest.mark.parametrize("env", [{}, {"ALBMTLS_REGION": "ap-southeast-1",
                                       "ALBMTLS_FUNCTION_ROLE_ARN": "acs:ram::1:role/albmtls-function",
                                       "ALBMTLS_FLOW_ROLE_ARN": "acs:ram::1:role/albmtls-flow"}])
def test_every_fc3_resource_validates_against_the_reference_schema(env):
    schema = json.loads(SCHEMA_FILE.read_text())
    doc = yaml.safe_load((REPO / "s.yaml").read_text())
    resolver = Resolver(doc, env, [])
    fc3 = {k: resolver.value(r["props"], this=(k, r)) for k, r in doc["resources"].items() if r["component"] == "fc3"}
    # one fc3 resource per function in functions/
    assert len(fc3) == sum(1 for d in (REPO / "functions").iterdir() if (d / "index.py").is_file())
    validator = Draft7Validator(schema)
    for key, props in fc3.items():
        assert [e.message for e in validator.iter_errors(props)] == [], key
        assert set(props) <= set(schema["properties"]), (key, set(props) - set(schema["properties"]))


@pytest.mark.skipif(not HANDBOOK_COPY.is_file(), reason=f"no handbook beside the clone ({HANDBOOK_COPY})")
def test_the_repository_copy_equals_the_handbooks():
    assert json.loads(HANDBOOK_COPY.read_text()) == json.loads(SCHEMA_FILE.read_text()), \
        "deploy/schema/fc3-schema.json differs from the handbook's"

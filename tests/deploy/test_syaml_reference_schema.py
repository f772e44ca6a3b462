"""s.yaml's fc3 resources validate against the handbook's schema itself (../shared/data/fc3-schema.json),
and deploy/schema/ holds an identical copy (what check-deploy uses from a clone alone)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft7Validator

from deploy.check import SCHEMA_FILE, Resolver

REPO = Path(__file__).resolve().parents[2]
REFERENCE = REPO.parent / "shared" / "data" / "fc3-schema.json"


@pytest.mark.skipif(not REFERENCE.is_file(), reason=f"the handbook's schema is not at {REFERENCE}")
@pytest.mark.parametrize("env", [{}, {"ALBMTLS_REGION": "ap-southeast-1",
                                       "ALBMTLS_FUNCTION_ROLE_ARN": "acs:ram::1:role/albmtls-function",
                                       "ALBMTLS_FLOW_ROLE_ARN": "acs:ram::1:role/albmtls-flow"}])
def test_every_fc3_resource_validates_against_the_reference_schema(env):
    schema = json.loads(REFERENCE.read_text())
    assert schema == json.loads(SCHEMA_FILE.read_text()), "deploy/schema/fc3-schema.json differs from the handbook's"
    doc = yaml.safe_load((REPO / "s.yaml").read_text())
    resolver = Resolver(doc, env, [])
    fc3 = {k: resolver.value(r["props"], this=(k, r)) for k, r in doc["resources"].items() if r["component"] == "fc3"}
    assert len(fc3) == 8
    validator = Draft7Validator(schema)
    for key, props in fc3.items():
        assert [e.message for e in validator.iter_errors(props)] == [], key
        assert set(props) <= set(schema["properties"]), (key, set(props) - set(schema["properties"]))

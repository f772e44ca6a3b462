"""The desired-state record (shared.policy.desired) and its secret name (shared.policy.ids)."""
from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shared.core.errors import AlbMtlsError
from shared.policy import ids
from shared.policy.contracts import ProvisionInput
from shared.policy.desired import (
    TEXT_MAX,
    decode_desired,
    desired_input,
    desired_state,
    encode_desired,
    same_input,
    version_id,
)
from shared.policy.validation import decode

REPO = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def raw() -> dict:
    return json.loads((REPO / "examples" / "provision.json").read_text())


def test_name_builder_and_parser_round_trip():
    name = ids.desired_state_name("albmtls", "alb-demostd000000000001-443")
    assert name == "albmtls/alb-demostd000000000001-443/desired"
    assert ids.parse_desired_state_name(name) == ("albmtls", "alb-demostd000000000001-443")
    # a client's secrets never parse as a desired-state record, not even a client named "desired"
    for cn in ("desired", "alice"):
        names = ids.secret_names("albmtls", "alb-x1-443", cn)
        for leaf in (names.pfx, names.password, names.meta):
            assert ids.parse_desired_state_name(leaf) is None
    assert ids.parse_desired_state_name("albmtls/not-a-listener/desired") is None


def test_record_round_trips_as_text(raw):
    inp = decode(ProvisionInput, raw)
    rec = desired_state(inp, now=NOW, execution="alb-x-443-20260301T120000Z")
    data, data_type = encode_desired(rec)
    assert data_type == "text" and json.loads(data)["listener_key"] == inp.listener_key
    back = decode_desired(data, data_type)
    assert back == rec and desired_input(back) == inp
    vid = version_id(rec)
    assert vid.startswith("20260301T120000Z-") and len(vid) <= 64


def test_large_record_is_compressed_and_round_trips(raw):
    raw["clients"] = [{"common_name": f"client-{i:04d}.partners.example", "sans": [f"c{i}.example.test"]}
                      for i in range(50)]
    raw["server_group"]["servers"] = [{"server_id": f"i-bp1demoecs{i:011d}", "port": 80} for i in range(200)]
    inp = decode(ProvisionInput, raw)
    rec = desired_state(inp, now=NOW)
    assert len(json.dumps(rec.input)) > TEXT_MAX
    data, data_type = encode_desired(rec)
    assert data_type == "binary" and len(data) < TEXT_MAX
    assert decode_desired(data, data_type) == rec


def test_same_input_ignores_key_order_and_written_out_defaults(raw):
    inp = decode(ProvisionInput, raw)
    rec = desired_state(inp, now=NOW)
    spelled = copy.deepcopy(raw)
    spelled["probe_requests"] = 10                      # the default, written out
    spelled = dict(reversed(list(spelled.items())))     # another key order
    assert same_input(rec, decode(ProvisionInput, spelled))
    changed = copy.deepcopy(raw)
    changed["ttl"] = 1200
    assert not same_input(rec, decode(ProvisionInput, changed))
    assert not same_input(None, inp)


@pytest.mark.parametrize("data, data_type", [("not json", "text"), ("{}", "text"), ("bm90IHpsaWI=", "binary"),
                                             ("%%%", "binary")])
def test_anything_else_is_not_a_record(data, data_type):
    assert decode_desired(data, data_type) is None


def test_a_record_that_todays_rules_refuse_names_the_listener_and_the_field(raw):
    rec = desired_state(decode(ProvisionInput, raw), now=NOW)
    broken = rec.input | {"listener_port": 70000}
    bad = type(rec)(listener_key=rec.listener_key, recorded_at=rec.recorded_at, digest=rec.digest, input=broken)
    with pytest.raises(AlbMtlsError) as exc:
        desired_input(bad)
    assert exc.value.field == "listener_port" and rec.listener_key in exc.value.message
    assert not same_input(bad, decode(ProvisionInput, raw))

"""A provision input over what CloudFlow takes (64 KiB per execution input and state; 63 KiB here,
the run's order in the issuing lane carries it too) is refused before anything starts — no call,
INVALID_INPUT naming ``clients`` and saying what to change (issue 16: 1,000 clients fit)."""
from __future__ import annotations

import json

import pytest

from shared.core.errors import AlbMtlsError
from shared.steps.provisioning import MAX_INPUT_BYTES, start_provision


def test_an_input_over_63_kib_is_refused_before_any_call():
    raw = {"clients": [{"common_name": f"holder-{i:04d}", "sans": [f"{'x' * 50}-{i}.example.test"]}
                       for i in range(1000)]}
    assert len(json.dumps(raw, separators=(",", ":"))) > MAX_INPUT_BYTES
    with pytest.raises(AlbMtlsError) as info:
        start_provision(None, raw, "alb-x-443")        # no settings: nothing is called before the refusal
    err = info.value
    assert (err.code, err.field) == ("INVALID_INPUT", "clients") and "64 KiB" in err.message
    assert err.details["limit"] == MAX_INPUT_BYTES


def test_a_thousand_clients_fit():
    raw = {"clients": [{"common_name": f"holder-{i:04d}"} for i in range(1000)]}
    assert len(json.dumps(raw, separators=(",", ":"))) < MAX_INPUT_BYTES

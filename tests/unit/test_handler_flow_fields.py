"""Every step result carries ``status`` and ``attempt`` — also failed ones — because the workflow's
OutputConstructors read ``$Output.Body.attempt`` (a missing path fails the execution with an
expression error that would hide the step's own error code). And the input's ``region`` decides
the regional endpoints."""
from __future__ import annotations

import json

import pytest

from shared.core.errors import AlbMtlsError, Code
from shared.core.settings import Settings
from shared.entry.handler import fc_handler
from shared.policy.contracts import StepEvent

EXAMPLE = json.load(open("examples/provision.json"))


def _ok(inp, ctx):
    return {"seen_region": ctx.settings.region}


def _domain_error(inp, ctx):
    raise AlbMtlsError(Code.HEALTH_CHECK_FAILED, "backend down")


def _bug(inp, ctx):
    raise KeyError("boom")


SETTINGS = Settings.load(env={}, target="cloud", region="cn-hangzhou")


@pytest.mark.parametrize("use_case,status", [(_ok, "ok"), (_domain_error, "failed"), (_bug, "failed")])
@pytest.mark.parametrize("attempt", [0, 3])
def test_every_result_has_status_and_attempt(use_case, status, attempt):
    h = fc_handler(StepEvent, use_case, step="t", settings=SETTINGS)
    out = json.loads(h(json.dumps({"input": EXAMPLE, "attempt": attempt})))
    assert out["status"] == status
    assert out["attempt"] == attempt + 1


def test_undecodable_event_still_has_attempt():
    h = fc_handler(StepEvent, _ok, step="t", settings=SETTINGS)
    out = json.loads(h(b"{not json"))
    assert out["status"] == "failed" and out["error"]["code"] == "INVALID_INPUT" and out["attempt"] == 1


def test_input_region_selects_the_endpoints():
    h = fc_handler(StepEvent, _ok, step="t", settings=SETTINGS)
    out = json.loads(h(json.dumps({"input": dict(EXAMPLE, region="cn-beijing")})))
    assert out["seen_region"] == "cn-beijing"
    out = json.loads(h(json.dumps({"input": {k: v for k, v in EXAMPLE.items() if k != "region"}})))
    assert out["seen_region"] == "cn-hangzhou"

"""The FC handler wrapper: decoding, result encoding, error paths, logging."""
from __future__ import annotations

import io
import json
from pathlib import Path

import msgspec
import pytest

from shared.core import logs
from shared.core.clock import FixedClock
from shared.core.errors import AlbMtlsError, Code, TransientError
from shared.core.settings import Settings
from shared.entry.handler import fc_handler
from shared.policy.contracts import DnsResult, StepEvent, StepResult

INPUT = json.loads((Path(__file__).parents[2] / "examples" / "provision.json").read_bytes())
EXAMPLE = json.dumps({"input": INPUT}).encode()   # a step event (what workflows/provision.yaml sends)
SETTINGS = Settings(region="cn-hangzhou")


class Ctx:
    request_id = "fc-req-1"

    def get_remaining_time_in_millis(self):
        return 30_000


class DnsOutput(StepResult, frozen=True, kw_only=True):
    record: DnsResult


@pytest.fixture
def log_stream():
    s = io.StringIO()
    logs.configure(stream=s)
    yield s
    logs.configure()


def make(use_case, step="create_cname", input_type=StepEvent):
    return fc_handler(input_type, use_case, step=step, settings=SETTINGS, clock=FixedClock("2026-11-29T00:00:00Z"))


def decode(b: bytes) -> dict:
    assert isinstance(b, bytes)
    return json.loads(b)


def test_success_struct_result(log_stream):
    seen = {}

    def use_case(inp, ctx):
        seen.update(step=ctx.step, rid=ctx.request_id, exe=ctx.execution_name, now=ctx.clock.now().isoformat(),
                    remaining=ctx.deadline.remaining(), token=ctx.client_token("record", inp.input.fqdn))
        return DnsOutput(record=DnsResult(record_id="1", rr=inp.input.rr, domain=inp.input.domain, type="CNAME",
                                          value="alb.example", ttl=inp.input.ttl))

    event = json.loads(EXAMPLE) | {"execution_name": "exec-1"}
    out = decode(make(use_case)(json.dumps(event).encode(), Ctx()))
    assert out["status"] == "ok" and "error" not in out
    assert out["record"]["rr"] == "app" and out["record"]["propagated"] is False
    assert seen["step"] == "create_cname" and seen["rid"] == "fc-req-1" and seen["exe"] == "exec-1"
    assert seen["now"].startswith("2026-11-29") and 20 < seen["remaining"] <= 27
    lines = [json.loads(x) for x in log_stream.getvalue().splitlines()]
    assert [x["message"] for x in lines] == ["invocation start", "invocation end"]
    assert all(x["request_id"] == "fc-req-1" and x["step"] == "create_cname" for x in lines)
    assert lines[-1]["status"] == "ok" and "duration_ms" in lines[-1] and "retry" in lines[-1]


@pytest.mark.parametrize("event", [EXAMPLE, EXAMPLE.decode(), json.loads(EXAMPLE), bytearray(EXAMPLE)])
def test_accepts_bytes_str_dict(event):
    out = decode(make(lambda inp, ctx: {"fqdn": inp.input.fqdn})(event, None))
    assert out == {"fqdn": "app.example.test", "status": "ok", "attempt": 1}


def test_dict_results_keep_their_status():
    out = decode(make(lambda inp, ctx: {"status": "pending", "waited_s": 5})(EXAMPLE, Ctx()))
    assert out == {"status": "pending", "waited_s": 5, "attempt": 1}


@pytest.mark.parametrize(("event", "field"), [
    (b"{not json", None),
    (b"", None),
    (json.dumps({"input": INPUT | {"surprise": 1}}).encode(), "input.surprise"),
    (json.dumps({"input": INPUT | {"listener_port": 0}}).encode(), "input.listener_port"),
    (json.dumps({"input": {k: v for k, v in INPUT.items() if k != "domain"}}).encode(), "input.domain"),
    (json.dumps({"input": INPUT, "surprise": 1}).encode(), "surprise"),
])
def test_bad_input_is_a_failed_result(event, field, log_stream):
    called = []
    out = decode(make(lambda inp, ctx: called.append(1))(event, Ctx()))
    assert called == []
    assert out["status"] == "failed" and out["error"]["code"] == "INVALID_INPUT"
    if field:
        assert out["error"]["field"] == field and field in out["error"]["message"]
    end = json.loads(log_stream.getvalue().splitlines()[-1])
    assert end["status"] == "failed" and end["error_code"] == "INVALID_INPUT"


def test_domain_error_is_returned_not_raised():
    def use_case(inp, ctx):
        raise AlbMtlsError(Code.ALB_EDITION_UNSUPPORTED, "the ALB is Basic edition; upgrade to Standard",
                           request_id="cloud-req-9")

    out = decode(make(use_case)(EXAMPLE, Ctx()))
    assert out == {"status": "failed", "error": {"code": "ALB_EDITION_UNSUPPORTED",
                                                 "message": "the ALB is Basic edition; upgrade to Standard",
                                                 "request_id": "cloud-req-9"}, "attempt": 1}


def test_transient_error_is_reraised(log_stream):
    def use_case(inp, ctx):
        raise TransientError(Code.LISTENER_BUSY, "listener is configuring")

    with pytest.raises(TransientError):
        make(use_case)(EXAMPLE, Ctx())
    end = json.loads(log_stream.getvalue().splitlines()[-1])
    assert end["message"] == "invocation end" and end["status"] == "transient"


def test_unexpected_exception_is_internal_without_its_message(log_stream):
    def use_case(inp, ctx):
        raise RuntimeError("password=hunter2 leaked in a message")

    out = decode(make(use_case)(EXAMPLE, Ctx()))
    assert out["status"] == "failed" and out["error"]["code"] == "INTERNAL"
    assert "RuntimeError" in out["error"]["message"]
    assert "hunter2" not in json.dumps(out) and "hunter2" not in log_stream.getvalue()


def test_result_with_private_key_is_withheld():
    def use_case(inp, ctx):
        return {"oops": "-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----"}

    out = decode(make(use_case)(EXAMPLE, Ctx()))
    assert out["status"] == "failed" and out["error"]["code"] == "INTERNAL"
    assert "PRIVATE KEY" not in json.dumps(out)


def test_settings_from_environment_when_not_given(monkeypatch):
    monkeypatch.setenv("ALBMTLS_REGION", "cn-shanghai")
    h = fc_handler(StepEvent, lambda inp, ctx: {"region": ctx.settings.region}, step="s")
    event = {"input": {k: v for k, v in INPUT.items() if k != "region"}}
    assert decode(h(event, None))["region"] == "cn-shanghai"


def test_bad_settings_are_a_failed_result(monkeypatch):
    monkeypatch.setenv("ALBMTLS_TARGET", "mars")
    h = fc_handler(StepEvent, lambda inp, ctx: {}, step="s")
    out = decode(h(EXAMPLE, None))
    assert out["error"]["code"] == "CONFIG_INVALID" and out["error"]["field"] == "target"


def test_ctx_call_uses_deadline_and_maps_errors():
    from alibabacloud_tea_openapi.exceptions import ClientException

    def use_case(inp, ctx):
        def boom():
            raise ClientException(code="ResourceNotFound.LoadBalancer", status_code=404, request_id="R-1")
        return ctx.call("alb:GetLoadBalancerAttribute", boom)

    out = decode(make(use_case)(EXAMPLE, Ctx()))
    assert out["error"]["code"] == "LOAD_BALANCER_NOT_FOUND" and out["error"]["request_id"] == "R-1"


def test_handler_metadata():
    h = make(lambda inp, ctx: {})
    assert h.step == "create_cname" and h.input_type is StepEvent
    assert msgspec.json.decode(h(EXAMPLE, None))["status"] == "ok"


def test_a_region_the_local_cloud_does_not_serve_is_invalid_input():
    """On the local target the input's region is checked against the one the local cloud serves
    (mars-1 used to succeed); on the cloud target it picks the regional endpoints."""
    seen = []
    use_case = lambda inp, ctx: seen.append(ctx.settings.region) or {}  # noqa: E731 — a one-line use case
    local = fc_handler(StepEvent, use_case, step="s", settings=Settings(region="cn-hangzhou", target="local"))
    out = decode(local({"input": dict(INPUT, region="mars-1")}, None))
    assert out["status"] == "failed" and out["error"]["code"] == "INVALID_INPUT"
    assert out["error"]["field"] == "region" and "cn-hangzhou" in out["error"]["message"] and seen == []
    cloud = fc_handler(StepEvent, use_case, step="s", settings=Settings(region="cn-hangzhou", target="cloud"))
    assert decode(cloud({"input": dict(INPUT, region="ap-southeast-1")}, None))["status"] == "ok"
    assert seen == ["ap-southeast-1"]


# -- credentials of an FC context -------------------------------------------------------------------
class Creds:
    """FC's python3.10 ``context.credentials``: snake_case fields (the function role's STS key)."""

    def __init__(self, ak="STS.NUfromcontext12", sk="secret-from-context", token="token-from-context"):
        self.access_key_id, self.access_key_secret, self.security_token = ak, sk, token


class Py310Ctx(Ctx):
    credentials = Creds()


def _seen_settings(context, settings=SETTINGS):
    seen = {}

    def use_case(inp, ctx):
        seen["s"] = ctx.settings
        return {"status": "ok"}
    fc_handler(StepEvent, use_case, step="preflight", settings=settings)(EXAMPLE, context)
    return seen["s"]


def test_an_fc_context_s_credentials_are_used_when_the_runtime_provides_them():
    s = _seen_settings(Py310Ctx())
    assert (s.access_key_id, s.access_key_secret, s.security_token) == \
        ("STS.NUfromcontext12", "secret-from-context", "token-from-context")
    assert "secret-from-context" not in repr(s) and "token-from-context" not in repr(s)


def test_python312_contexts_have_none_and_the_default_chain_applies():
    s = _seen_settings(Ctx())
    assert s.access_key_id is None and s.security_token is None
    # the local target keeps its own key; explicit keys are never replaced
    local = Settings(target="local", access_key_id="LOCAL", access_key_secret="x")
    assert _seen_settings(Py310Ctx(), local).access_key_id == "LOCAL"


def test_clients_use_explicit_credentials_and_refuse_an_sts_key_without_token(monkeypatch):
    from shared.adapters.clients import make_client
    c = make_client("alb", Settings(access_key_id="STS.NUabcdefghijklm", access_key_secret="s",
                                    security_token="tok"))
    assert c is not None
    with pytest.raises(AlbMtlsError) as info:
        make_client("alb", Settings(access_key_id="STS.NUabcdefghijklm", access_key_secret="s"))
    assert info.value.code == Code.CREDENTIALS_INVALID
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", "STS.NUfromtheenvironment")
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)
    with pytest.raises(AlbMtlsError) as info:
        make_client("kms", Settings())
    assert info.value.code == Code.CREDENTIALS_INVALID and "ALIBABA_CLOUD_SECURITY_TOKEN" in info.value.message

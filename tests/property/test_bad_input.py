"""Bad input everywhere (hypothesis): every step function, the HTTP API, the CLI's input files and
the workflow input answer malformed JSON, wrong types, huge strings, unicode in CN and domain,
out-of-range ports and TTLs, invalid labels and PEM garbage with a clear error code naming the
field — never an unhandled exception, never a change in the cloud."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from shared.core.errors import AlbMtlsError, Code
from shared.policy.contracts import ProvisionInput, StepEvent
from shared.policy.validation import decode

from .strategies import DEMO, JUNK, broken_input, top_field

CODES = {c.value for c in Code} - {Code.INTERNAL.value}
FUNCTIONS = ["preflight", "issue_client_cert", "enable_mutual_auth", "create_cname", "health_check"]
PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])
JSONISH = st.recursive(JUNK, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                       max_leaves=8)


def _payload(doc):
    """JSON bytes, or the dict itself when it holds NaN/Infinity (not JSON; FC local callers may pass dicts)."""
    try:
        return json.dumps(doc, allow_nan=False).encode()
    except ValueError:
        return doc


def _valid(type_, data) -> bool:
    try:
        decode(type_, data)
        return True
    except AlbMtlsError:
        return False


def _assert_clear(doc: dict, dotted: str | None = None, prefix: str = "") -> None:
    assert doc["status"] == "failed", doc
    err = doc["error"]
    assert err["code"] in CODES, err
    assert err["message"] and "Traceback" not in err["message"]
    if dotted is not None:
        assert err.get("field"), err
        top = top_field(dotted)
        assert (err["field"].startswith(prefix + top) or err["field"] == prefix.rstrip(".")
                or top == "unexpected_field"), (err, dotted)


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_step_functions_refuse_bad_input_without_writes(fn, live_cloud, writes):
    handler = importlib.import_module(f"functions.{fn}.index").handler

    @PROPS
    @given(case=broken_input())
    def broken_field(case):
        inp, dotted = case
        event = {"input": inp, "execution_name": "prop-test", "attempt": 0}
        assume(not _valid(StepEvent, event))
        out = json.loads(handler(_payload(event)))
        _assert_clear(out, dotted, prefix="input.")

    @PROPS
    @given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(str.encode),
                         JSONISH.map(lambda v: json.dumps(v).encode()),
                         st.builds(lambda a, n: json.dumps({"input": DEMO, "execution_name": n, "attempt": a}).encode(),
                                   st.one_of(st.integers(max_value=-1), st.integers(min_value=10001),
                                             st.text(max_size=5)),
                                   st.text(max_size=5))))
    def garbage(raw):
        try:
            ok = _valid(StepEvent, raw)
        except Exception:
            ok = False
        assume(not ok)
        out = json.loads(handler(raw))
        _assert_clear(out)

    writes.mark()
    broken_field()
    garbage()
    assert writes.since() == []
    assert not [c for c in live_cloud.store.calls() if c["write"] and c["product"] != "fnf"]


def test_http_api_answers_every_bad_request_with_a_code():
    from shared.entry.api import Api, make_handler
    started = []
    api = Api(lambda: None, start=lambda *a, **k: started.append(a), describe=lambda *a, **k: None,
              rotate=lambda *a, **k: {"started": True}, certificates=lambda *a, **k: {"certificates": []})
    handler = make_handler(lambda: api)

    @PROPS
    @given(case=broken_input(), as_text=st.booleans())
    def bad_body(case, as_text):
        inp, dotted = case
        assume(not _valid(ProvisionInput, inp))
        body = json.dumps(inp, allow_nan=False) if not isinstance(_payload(inp), dict) else "{\"x\": NaN}"
        if body.startswith('{"x"'):
            dotted = "body.unexpected_field"
        ev = {"version": "v1", "rawPath": "/provisions", "requestContext": {"http": {"method": "POST"}},
              "headers": {"content-type": "application/json"}, "body": body, "isBase64Encoded": False}
        resp = handler(json.dumps(ev).encode() if as_text else ev, None)
        assert 400 <= resp["statusCode"] < 500, resp
        doc = json.loads(resp["body"])
        err = doc.get("error", doc)
        assert err["code"] in CODES | {"BODY_TOO_LARGE"}, doc
        if err["code"] != "BODY_TOO_LARGE" and top_field(dotted) != "unexpected_field":
            assert err.get("field"), doc

    @PROPS
    @given(method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "\u00e9"]),
           path=st.one_of(st.sampled_from(["/provisions", "/provisions/", "/provisions/../../etc", "/rotations",
                                           "/certificates", "/"]), st.text(max_size=40).map(lambda s: "/" + s)),
           body=st.one_of(st.binary(max_size=300).map(lambda b: b.decode("latin-1")), JSONISH.map(json.dumps)),
           b64=st.booleans(), headers=st.dictionaries(st.sampled_from(["content-type", "idempotency-key", "x"]),
                                                      st.text(max_size=200), max_size=3))
    def anything(method, path, body, b64, headers):
        ev = {"version": "v1", "rawPath": path, "requestContext": {"http": {"method": method}},
              "headers": headers, "body": body, "isBase64Encoded": b64}
        resp = handler(ev, None)
        assert isinstance(resp["statusCode"], int) and resp["statusCode"] != 500, resp
        json.loads(resp["body"])

    bad_body()
    anything()
    assert started == []    # nothing invalid ever reached the start of an execution


def test_cli_input_files_are_refused_with_exit_2_and_the_field(tmp_path):
    import contextlib
    import io

    from albmtls.provision import EXIT_INPUT, run_provision

    @PROPS
    @given(case=st.one_of(broken_input(), st.binary(max_size=300).map(lambda b: (b, None)),
                          JSONISH.map(lambda v: (json.dumps(v).encode(), None))))
    def files(case):
        content, dotted = case
        if isinstance(content, dict):
            assume(not _valid(ProvisionInput, content))
            content = json.dumps(content).encode()
            if b"NaN" in content or b"Infinity" in content:
                dotted = None
        else:
            try:
                assume(not _valid(ProvisionInput, json.loads(content)))
            except ValueError:
                pass
        f = tmp_path / "input.json"
        f.write_bytes(content)
        state = tmp_path / "state-never-created"
        buf = io.StringIO()
        with contextlib.redirect_stdout(buf):
            code = run_provision(file=f, target="local", state_dir=state, endpoints_file=None, out=tmp_path / "out",
                                 json_out=True, timeout=5)
        assert code == EXIT_INPUT, buf.getvalue()
        doc = json.loads(buf.getvalue())
        _assert_clear(doc, dotted)
        assert not state.exists() and not (tmp_path / "out").exists()

    files()


def test_workflow_input_is_refused_by_preflight_before_any_write(live_cloud, writes):
    """An execution started straight on CloudFlow with a bad input fails at Preflight with the
    field's code; nothing is written."""
    import os
    import time

    from localcloud.flow.runner import DATA_LIMIT_BYTES, data_size
    from shared.core.settings import Settings
    from shared.steps.provisioning import deploy_flows, describe_provision, start_provision
    s = Settings.load(target="local", endpoints_file=os.environ["ALBMTLS_ENDPOINTS_FILE"])
    live_cloud.runtime["flow_sleep"] = lambda sec: None
    deploy_flows(s, Path(__file__).resolve().parents[2] / "workflows")
    names: list[tuple[str, str]] = []

    @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=broken_input())
    def start(case):
        inp, dotted = case
        assume(not _valid(ProvisionInput, inp))
        # CloudFlow itself refuses an execution input over its limit (StartExecution, InvalidArgument):
        # such an input never reaches Preflight
        assume(data_size(inp) <= DATA_LIMIT_BYTES)
        started = start_provision(s, inp, f"prop-{len(names)}")
        names.append((started.name, dotted))

    writes.mark()
    start()
    for name, _ in names:
        for _ in range(200):
            prog = describe_provision(s, name)
            if prog.done:
                break
            time.sleep(0.05)
        assert prog.status == "Failed" and prog.error["code"] in CODES, prog.to_dict()
        assert prog.step == "preflight"
    assert writes.since() == []

"""Property-based: whatever body, headers, path, method or event shape reaches the provision_api
handler, it answers with JSON, never 500, never a stack trace; a 4xx names an ``error.code``.
The handler runs directly with injected fakes for start/describe (no cloud)."""
from __future__ import annotations

import base64
import json
from pathlib import Path
from types import SimpleNamespace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.entry.api import MAX_BODY, Api, make_handler
from shared.steps.provisioning import Progress, Started

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = json.loads((REPO / "examples" / "provision.json").read_text())
TRACE_MARKERS = ("Traceback", 'File "', "line ", "Error(")


def fake_start(settings, raw, listener_key, *, idempotency_key=None):
    return Started("albmtls-provision", f"{listener_key}-k{len(idempotency_key or '')}", "Running",
                   existing=bool(idempotency_key))


def fake_describe(settings, name):
    if name.startswith("missing"):
        return None
    return Progress(flow="albmtls-provision", name=name, status="Succeeded", started="2025-01-01T00:00:00Z",
                    stopped="2025-01-01T00:01:00Z", step="health_check")


def make() -> object:
    return make_handler(lambda: Api(lambda: SimpleNamespace(), start=fake_start, describe=fake_describe,
                                    rotate=lambda s, p: {"started": 0}, certificates=lambda s: {"certificates": []}))


HANDLER = make()
CTX = SimpleNamespace(request_id="req-prop")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda kids: st.lists(kids, max_size=5) | st.dictionaries(st.text(max_size=20), kids, max_size=5),
    max_leaves=30)
field_names = st.sampled_from(sorted(EXAMPLE) + ["listener_port", "clients", "unknown", "Listener_Port", ""])


@st.composite
def mutated_inputs(draw):
    """The example input with one to three fields replaced/added/removed."""
    doc = json.loads(json.dumps(EXAMPLE))
    for _ in range(draw(st.integers(1, 3))):
        k = draw(field_names)
        if draw(st.booleans()) and k in doc:
            del doc[k]
        else:
            doc[k] = draw(json_values | st.integers(-2**70, 2**70) | st.text(min_size=1000, max_size=3000))
    return json.dumps(doc)


bodies = st.one_of(
    mutated_inputs(),
    json_values.map(json.dumps),
    st.text(max_size=300),                                          # unicode, not JSON mostly
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["[" * 5000, "{\"a\":" * 3000, "", " ", "null", "\"\\ud800\"", "{\"a\":1,\"a\":2}",
                     "x" * (MAX_BODY + 1), json.dumps({"domain": "é" * 40000}), "\x00", "1e999999"]),
)
header_names = st.sampled_from(["Content-Type", "content-type", "Idempotency-Key", "idempotency-key",
                                "Content-Length", "Accept", "X-Anything"]) | st.text(max_size=20)
header_values = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                                 "application/x-www-form-urlencoded", "", "key-1", "k" * 129, "é",
                                 "multipart/form-data; boundary=x"]) | st.text(max_size=200)
paths = st.sampled_from(["/provisions", "/provisions/", "/provisions/alb-1-443-20250101T000000Z",
                         "/provisions/missing-1", "/provisions/..%2f", "/provisions/a/b", "/rotations",
                         "/certificates", "/", "", "//provisions", "/provisions?x=1"]) | \
    st.text(max_size=60).map(lambda t: "/" + t) | st.text(max_size=140).map(lambda t: "/provisions/" + t)
methods = (st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "get", ""])
           | st.text(max_size=10))


def check(resp: dict) -> dict:
    assert isinstance(resp, dict) and isinstance(resp.get("statusCode"), int), resp
    status = resp["statusCode"]
    assert status != 500 and status < 500 or status == 503, resp
    text = resp["body"]
    assert isinstance(text, str)
    for marker in ("Traceback", 'File "'):
        assert marker not in text, text
    doc = json.loads(text)
    if 400 <= status < 500:
        assert isinstance(doc.get("error"), dict) and doc["error"].get("code"), doc
        assert doc["error"].get("message")
    assert resp["headers"]["Content-Type"] == "application/json"
    return doc


def event(method, path, headers, body, b64=False, query=None) -> bytes:
    if b64:
        body = base64.b64encode(body.encode("utf-8", "surrogatepass")).decode()
    return json.dumps({"version": "v1", "rawPath": path, "headers": headers, "queryParameters": query or {},
                       "body": body, "isBase64Encoded": b64,
                       "requestContext": {"http": {"method": method, "path": path}}}).encode()


PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPS
@given(body=bodies, headers=st.dictionaries(header_names, header_values, max_size=4), b64=st.booleans())
def test_post_provisions_any_body_and_headers(body, headers, b64):
    check(HANDLER(event("POST", "/provisions", headers, body, b64), CTX))


@PROPS
@given(method=methods, path=paths, headers=st.dictionaries(header_names, header_values, max_size=3), body=bodies,
       query=st.dictionaries(st.text(max_size=10), st.text(max_size=10), max_size=3))
def test_any_method_and_path(method, path, headers, body, query):
    check(HANDLER(event(method, path, headers, body, query=query), CTX))


@PROPS
@given(ev=json_values | st.dictionaries(st.sampled_from(["version", "rawPath", "headers", "queryParameters", "body",
                                                         "isBase64Encoded", "requestContext", "httpMethod"]),
                                        json_values, max_size=8))
def test_any_event_shape(ev):
    check(HANDLER(json.dumps(ev).encode(), CTX))


@PROPS
@given(raw=st.binary(max_size=500))
def test_raw_event_bytes(raw):
    check(HANDLER(raw, CTX))


@PROPS
@given(body=mutated_inputs())
def test_invalid_input_names_the_field(body):
    """A mutated input is either accepted (202/200) or refused with 400 naming a field."""
    resp = HANDLER(event("POST", "/provisions", {"Content-Type": "application/json"}, body), CTX)
    doc = check(resp)
    if resp["statusCode"] == 400:
        assert doc["error"]["code"] in ("INVALID_INPUT", "APEX_CNAME_REFUSED", "RENEW_BEFORE_TOO_LONG"), doc
        assert doc["error"].get("field") or doc["error"]["code"] != "INVALID_INPUT", doc
    elif resp["statusCode"] == 413:
        assert doc["error"]["code"] == "BODY_TOO_LARGE"
    else:
        assert resp["statusCode"] in (200, 202), resp


def test_examples_that_used_to_500():
    """Regression: JSON nested past the parser's limit was a RecursionError → 500; and a deeply
    nested event itself escaped the handler (FC would answer with a stack trace)."""
    for body in ("[" * 30000, "{\"a\":" * 12000):
        resp = HANDLER(event("POST", "/provisions", {}, body), CTX)
        assert resp["statusCode"] == 400 and check(resp)["error"]["field"] == "body"
        resp = HANDLER(event("POST", "/rotations", {}, body), CTX)
        assert resp["statusCode"] == 400 and check(resp)["error"]["field"] == "body"
    resp = HANDLER(("[" * 30000).encode(), CTX)
    assert resp["statusCode"] == 400
    check(resp)
    big = HANDLER(event("POST", "/rotations", {}, "{}" + " " * MAX_BODY), CTX)
    assert big["statusCode"] == 413 and check(big)["error"]["code"] == "BODY_TOO_LARGE"
    for key in ("", "a`b"):       # unknown keys msgspec quotes oddly were refused without the field named
        resp = HANDLER(event("POST", "/provisions", {}, json.dumps(dict(EXAMPLE, **{key: 1}))), CTX)
        assert resp["statusCode"] == 400 and check(resp)["error"]["field"] == (key or '""'), resp
    for body in ("[]", "1", "null", "\"x\""):
        resp = HANDLER(event("POST", "/provisions", {}, body), CTX)
        assert resp["statusCode"] == 400 and check(resp)["error"]["field"] == "body", resp


def test_an_unexpected_fault_is_500_without_internals():
    def boom(*a, **k):
        raise KeyError("secret-internal-detail")
    h = make_handler(lambda: Api(lambda: None, start=boom, describe=boom))
    resp = h(event("POST", "/provisions", {}, json.dumps(EXAMPLE)), CTX)
    assert resp["statusCode"] == 500
    doc = json.loads(resp["body"])
    assert doc["error"]["code"] == "INTERNAL" and "req-prop" in doc["error"]["message"]
    assert "secret-internal-detail" not in resp["body"] and "Traceback" not in resp["body"]


def test_invoke_function_paths_are_post_provisions():
    """FC InvokeFunction through the trigger (path /2023-03-30/functions/<fn>/invocations,
    octet-stream) and a direct `s invoke -e '<input>'` (the event is the input) both provision."""
    path = "/2023-03-30/functions/albmtls-provision-api/invocations"
    resp = HANDLER(event("POST", path, {"Content-Type": "application/octet-stream"}, json.dumps(EXAMPLE)), CTX)
    assert resp["statusCode"] == 202 and check(resp)["execution"].startswith("alb-demostd000000000001-443"), resp
    resp = HANDLER(event("GET", path, {}, ""), CTX)
    assert resp["statusCode"] == 405
    resp = HANDLER(json.dumps(EXAMPLE).encode(), CTX)
    assert resp["statusCode"] == 202, resp
    resp = HANDLER(json.dumps(dict(EXAMPLE, listener_port=0)).encode(), CTX)
    assert resp["statusCode"] == 400 and check(resp)["error"]["field"] == "listener_port"

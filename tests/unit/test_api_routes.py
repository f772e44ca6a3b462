"""One list of the API's routes (shared.entry.api.ROUTES): every route it names is dispatched (a
wrong method is 405 with Allow, never 404), and `albmtls serve`'s startup line and the 404 answer
print that list — the startup line named 7 of the 12."""
from __future__ import annotations

import inspect

import pytest

from shared.entry.api import ROUTES, Api, Request


def _path(route: str) -> str:
    return (route.split(" ", 1)[1].replace("{name}", "x1").replace("{prefix}", "albmtls").replace("{ca}", "demo")
            .replace("{n}", "1"))


@pytest.mark.parametrize("route", ROUTES)
def test_every_listed_route_is_dispatched(route):
    method = route.split(" ", 1)[0]
    wrong = "PUT" if method != "PUT" else "GET"
    api = Api(lambda: None)
    resp = api.handle(Request(wrong, _path(route), {}, {}, b""))
    assert resp["statusCode"] == 405 and resp["headers"]["Allow"] == method, (route, resp)


def test_the_startup_line_and_the_404_name_every_route():
    import albmtls.serve as serve
    assert "ROUTES" in inspect.getsource(serve.serve)
    resp = Api(lambda: None).handle(Request("GET", "/nope", {}, {}, b""))
    assert resp["statusCode"] == 404
    assert all(r in resp["body"] for r in ROUTES)
    assert {"POST /fleet/plan", "POST /fleet/apply", "GET /drift", "GET /inventory"} <= set(ROUTES)


@pytest.mark.parametrize("body_extra, want_by, want_signed", [
    ({}, "access key LTAIabc", None),
    ({"requested_by": "alice@ops"}, "alice@ops", "access key LTAIabc"),
    ({"requested_by": "alice@ops", "signed_by": "forged"}, "alice@ops", "access key LTAIabc"),
])
def test_a_body_requested_by_keeps_the_signer_beside_it(body_extra, want_by, want_signed):
    """An API body's requested_by replaced the signer's AccessKeyId in the audit record: now both
    are kept (signed_by is never the body's to say), and the revocation record carries them."""
    import json
    from datetime import UTC, datetime
    from types import SimpleNamespace

    from shared.policy import offboarding as ob
    from shared.policy.validation import decode

    seen = {}

    def start(settings, body, key, **kw):
        seen.update(body)
        return SimpleNamespace(name="x1", status="RUNNING", existing=False)

    api = Api(lambda: None, start=start)
    body = {"load_balancer_id": "alb-demostd000000000001", "listener_port": 443, "common_names": ["alice"],
            **body_extra}
    resp = api.handle(Request("POST", "/clients/revocations", {
        "content-type": "application/json",
        "authorization": "ACS3-HMAC-SHA256 Credential=LTAIabc,SignedHeaders=host,Signature=00"}, {},
        json.dumps(body).encode()), "req-1")
    assert resp["statusCode"] == 202, resp
    assert seen["requested_by"] == want_by and seen.get("signed_by") == want_signed
    req = decode(ob.RevokeRequest, seen)
    plan = ob.plan_revoke(None, common_name="alice", listener_key=req.listener_key, valid=(), secrets={},
                          reason="unspecified", requested_by=req.requested_by, request_id=req.request_id,
                          now=datetime(2026, 12, 7, tzinfo=UTC), signed_by=req.signed_by)
    assert (plan.revocation.requested_by, plan.revocation.signed_by) == (want_by, want_signed)


@pytest.mark.parametrize("path", ["/provisions", "/clients/revocations", "/fleet/plan"])
@pytest.mark.parametrize("depth", [33, 900, 30000])
def test_a_deeply_nested_body_is_refused_naming_the_limit(path, depth):
    """Every JSON body of the API through one depth rule (the fleet document's, shared.policy.fleet.
    nesting_depth / MAX_DEPTH): 'nested too deeply (N levels …, 32 are allowed)', never a parser's
    recursion text."""
    body = ('{"a":' + "[" * depth + "]" * depth + "}").encode()
    resp = Api(lambda: None).handle(Request("POST", path, {"content-type": "application/json"}, {}, body))
    assert resp["statusCode"] == 400, resp
    assert "nested too deeply" in resp["body"] and "32 are allowed" in resp["body"], resp["body"]
    assert "recursion" not in resp["body"]


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
@pytest.mark.parametrize("path", ["/d/abc", "/d/" + "A" * 43, "/d/" + "A" * 43 + "/", "/d/"])
def test_the_download_page_answers_other_methods_405_with_allow(method, path):
    """The download page: any other method on a link path is 405 with `Allow: GET, HEAD, POST`
    (HEAD is served), whatever the token — a short token answered PUT with 404."""
    from shared.entry.download import handle
    resp = handle(Request(method, path, {}, {}, b""), lambda: None)
    assert resp["statusCode"] == 405 and resp["headers"]["Allow"] == "GET, HEAD, POST", resp["statusCode"]
    assert handle(Request(method, "/elsewhere", {}, {}, b""), lambda: None)["statusCode"] == 404

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

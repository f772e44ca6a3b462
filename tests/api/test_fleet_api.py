"""The HTTP API's fleet routes for real (albmtls serve's server in front of the provision_api
handler, on a live local cloud): POST /fleet/plan and /fleet/apply take the same document as
`albmtls plan`/`apply` (YAML or JSON), GET /drift and GET /inventory (JSON or CSV)."""
from __future__ import annotations

import csv
import http.client
import io
import json
import threading
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
FLEET = (REPO / "examples" / "fleet.yaml").read_text()


@pytest.fixture
def api(live_cloud):
    from albmtls.httpserver import make_server
    from functions.provision_api.index import handler
    from shared.core.settings import Settings
    from shared.steps.provisioning import deploy_flows
    deploy_flows(Settings.load(), REPO / "workflows")
    server = make_server(handler, 0)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    port = server.server_address[1]

    def request(method: str, path: str, body: str | None = None, ctype: str = "application/json"):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request(method, path, body=body.encode() if body is not None else None,
                         headers={"Content-Type": ctype} if body is not None else {})
            resp = conn.getresponse()
            raw = resp.read().decode()
            assert "Traceback" not in raw
            kind = resp.getheader("Content-Type") or ""
            return resp.status, kind, (json.loads(raw) if kind.startswith("application/json") else raw)
        finally:
            conn.close()

    try:
        yield request
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)


def listed_by_the_ca(live_cloud) -> int:
    """How many certificates the private CA lists (ListClientCertificate, every page), as any SDK user
    would count them."""
    from alibabacloud_cas20200630 import models as cm

    from tests.conftest import make_client
    pca, n, page = make_client("pca", live_cloud.endpoints()), 0, 1
    while True:
        body = pca.list_client_certificate(cm.ListClientCertificateRequest(current_page=page, show_size=50)).body
        items = body.certificate_list or []
        n += len(items)
        if len(items) < 50:
            return n
        page += 1


def _wait(api, name: str, timeout: float = 150) -> dict:
    end = time.monotonic() + timeout
    while True:
        status, _, doc = api("GET", f"/provisions/{name}")
        assert status == 200, doc
        if doc["status"] != "running" or time.monotonic() > end:
            return doc
        time.sleep(0.3)


def test_plan_apply_plan_drift_inventory_over_http(api, live_cloud, writes):
    writes.mark()
    status, _, plan = api("POST", "/fleet/plan", FLEET, "application/yaml")
    assert status == 200 and plan["changes"] is True and plan["errors"] == 0, plan
    assert [r["status"] for r in plan["listeners"]] == ["changes", "changes"]
    assert writes.since() == []

    status, _, applied = api("POST", "/fleet/apply", FLEET, "application/yaml")
    assert status == 202, applied
    assert [e["listener_key"] for e in applied["executions"]] == ["alb-demostd000000000001-443",
                                                                  "alb-demostd000000000001-8443"]
    for e in applied["executions"]:
        assert _wait(api, e["execution"])["status"] == "succeeded"

    status, _, again = api("POST", "/fleet/plan", FLEET, "application/yaml")
    assert status == 200 and again["changes"] is False, again
    status, _, nothing = api("POST", "/fleet/apply", FLEET, "application/yaml")
    assert status == 200 and nothing["executions"] == [] and len(nothing["unchanged"]) == 2

    status, _, drift = api("GET", "/drift")
    assert status == 200 and (drift["checked"], drift["drifted"]) == (2, 0), drift
    status, kind, text = api("GET", "/inventory?format=csv")
    assert status == 200 and kind.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == listed_by_the_ca(live_cloud) == 20
    assert {r["state"] for r in rows} == {"valid"}
    status, _, certs = api("GET", "/certificates")
    assert status == 200 and certs["drift"]["checked"] == 2


def test_bad_documents_name_the_field(api):
    bad = FLEET.replace("listener_port: 8443", "listener_port: 443")
    status, _, doc = api("POST", "/fleet/plan", bad, "application/yaml")
    assert status == 400 and doc["error"]["field"] == "listeners[1].listener_port", doc
    status, _, doc = api("POST", "/fleet/apply", "listeners: [", "application/yaml")
    assert status == 400 and doc["error"]["field"] == "document"
    status, _, doc = api("POST", "/fleet/plan", FLEET, "text/plain")
    assert status == 415
    status, _, doc = api("GET", "/inventory?format=xml")
    assert status == 400 and doc["error"]["field"] == "format"
    status, _, doc = api("GET", "/drift?secret_prefix=a%20b")
    assert status == 400 and doc["error"]["field"] == "secret_prefix"

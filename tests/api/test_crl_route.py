"""GET /crl/{prefix}/{ca}/g{n}.crl through `albmtls serve`'s HTTP server on a live local cloud: an own
CA's CRL, signed through KMS and kept in KMS, served as DER (application/pkix-crl) — the distribution
point ALBMTLS_CRL_BASE_URL names, as the local cloud serves a PCA sub-CA's."""
from __future__ import annotations

import http.client
import logging
import subprocess
import threading
import uuid
from datetime import timedelta

import pytest
from cryptography import x509

pytestmark = pytest.mark.e2e


def test_own_ca_crl_is_served_as_der_and_verifies(live_cloud, tmp_path):
    from albmtls.httpserver import make_server
    from functions.provision_api.index import handler
    from shared.adapters.ownca import OwnCa
    from shared.adapters.retry import Deadline
    from shared.core.clock import SystemClock, iso_utc
    from shared.core.settings import Settings
    from shared.policy import ownca
    from shared.steps import ownca as steps
    from shared.steps.context import StepContext

    ctx = StepContext(step="test", settings=Settings.load(), clock=SystemClock(), logger=logging.getLogger("t"),
                      deadline=Deadline(60), request_id=f"local-{uuid.uuid4().hex}")
    view = steps.ensure_ca(ctx, ownca.CreateOptions(name="demo"), "albmtls")
    now = ctx.clock.now()
    revoked = ownca.RevocationList(entries=(ownca.Revoked(serial="4a1f", gen=1, revoked_at=iso_utc(now),
                                                          not_after=iso_utc(now + timedelta(days=30))),),
                                   crl_number=1)
    ca = OwnCa(ctx.call, settings=ctx.settings, prefix="albmtls", name="demo", now=ctx.clock.now)
    assert ca.publish_crl(1, revoked) == 1

    server = make_server(handler, 0)
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()

    def get(path: str) -> tuple[int, str | None, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)
        try:
            conn.request("GET", path)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type"), resp.read()
        finally:
            conn.close()

    try:
        status, ctype, der = get("/crl/albmtls/demo/g1.crl")
        assert status == 200 and ctype == "application/pkix-crl", der[:200]
        crl = x509.load_der_x509_crl(der)
        assert view.issuing_gen == 1
        sub = x509.load_pem_x509_certificate(
            ca.describe_ca_certificate(ownca.issuing_identifier("demo", 1)).cert_pem.encode())
        assert crl.is_signature_valid(sub.public_key())           # signed by the sub-CA's KMS key
        assert [r.serial_number for r in crl] == [0x4A1F]
        (tmp_path / "g1.crl").write_bytes(der)
        text = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(tmp_path / "g1.crl"), "-noout",
                               "-text"], capture_output=True, text=True, timeout=20).stdout
        assert "Serial Number: 4A1F" in text
        # no CRL of a generation that has none; a malformed path is named
        assert get("/crl/albmtls/demo/g2.crl")[0] == 404
        status, _, body = get("/crl/albmtls/demo/../x")
        assert status in (400, 404) and b"Traceback" not in body
        assert get("/crl/albmtls/Demo/g1.crl")[0] == 400
    finally:
        server.shutdown()
        server.server_close()
        t.join(5)

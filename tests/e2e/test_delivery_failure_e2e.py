"""A failed rotation is told to the operators (issue 15, "Done when" 3): with the PCA refusing issuance
(fault injected), `albmtls rotate` reports the failure, an operator notification arrives at the
webhook receiver with a valid Standard-Webhooks signature (and at the signed DingTalk and Lark
robots), and no secret appears in any message, log line or result — the secrets scan covers the mail
server's and the webhook receiver's stores. A failing channel never fails a rotation."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from reliability.scan import message_texts, needles_from_store
from shared.core.clock import parse_iso

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
ISO = "%Y-%m-%dT%H:%M:%SZ"


def albmtls(*args: str) -> tuple[int, dict, str]:
    p = subprocess.run([sys.executable, "-m", "albmtls", *args, "--json"], cwd=REPO, capture_output=True, text=True,
                       timeout=240, env={k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")})
    try:
        return p.returncode, json.loads(p.stdout), p.stderr
    except ValueError:
        pytest.fail(f"no JSON document on stdout (exit {p.returncode}):\n{p.stdout}\n{p.stderr[-3000:]}")


@pytest.fixture
def function_log():
    """The functions' JSON log lines (the flows run in this process), as FC ships them to SLS."""
    import io

    from shared.core import logs
    buf = io.StringIO()
    logs.configure(stream=buf)
    try:
        yield buf
    finally:
        logs.configure(stream=sys.stderr)


def test_refused_issuance_is_told_to_the_operators_without_secrets(live_cloud, tmp_path, function_log):
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    code, doc, err1 = albmtls("provision", "-f", str(REPO / "examples" / "provision.json"), "--endpoints-file", ep,
                              "--out", str(tmp_path / "out"))
    assert code == 0, err1[-2000:]
    issued = parse_iso(doc["client_certificates"][0]["not_after"]) - timedelta(days=30)
    # a failing channel on top: the WeCom robot answers 500 (retried, then given up) — the rotation
    # still reports its own failure, and the other channels still get the notice
    admin = live_cloud.endpoints()["admin"]
    import urllib.request
    urllib.request.urlopen(urllib.request.Request(f"{admin}/messages/fail", data=json.dumps(
        {"channel": "ops-wecom", "status": 500}).encode(), method="POST"), timeout=10).read()
    live_cloud.faults.configure({"rules": [{"kind": "busy", "product": "pca",
                                            "action": "CreateClientCertificateWithCsr",
                                            "code": "QuotaExceeded.Certificate"}]})
    code, rot, err2 = albmtls("rotate", "--now", (issued + timedelta(days=21)).strftime(ISO), "--endpoints-file", ep,
                              "--out", str(tmp_path / "r"))
    assert code == 1 and rot["status"] == "failed", rot
    assert rot["error"]["code"] == "QUOTA_EXCEEDED", rot["error"]

    msgs = [m for m in live_cloud.store.list("notify.message")]
    failed = [m for m in msgs if (m.get("json") or {}).get("type") == "albmtls.renewal_failed"]
    assert failed and all(m["verified"] for m in failed) and failed[0]["channel"] == "ops-webhook", failed
    data = failed[0]["json"]["data"]
    assert data["code"] == "QUOTA_EXCEEDED" and data["execution"] in rot["scan"]["executions"]
    robots = {m["channel"]: m["verified"] for m in msgs if m["channel"] in ("ops-dingtalk", "ops-lark", "ops-wecom")
              and "rotation failed" in json.dumps(m.get("json"))}
    assert robots.get("ops-dingtalk") is True and robots.get("ops-lark") is True, robots
    mail = [m for m in msgs if m["service"] == "smtp" and m["to"] == ["ops@example.test"]]
    assert mail and "rotation failed" in mail[-1]["subject"] and mail[-1]["verified"]
    # the failing channel is in the function log, with its code and never its URL
    log_lines = function_log.getvalue().splitlines()
    failures = [json.loads(ln) for ln in log_lines if '"notification failed"' in ln]
    assert any(f.get("channel") == "ops-wecom" and "WECOM" not in f["error"]["code"] for f in failures), failures
    assert not any("key=" in ln for ln in log_lines)

    # the secrets scan over every message, the function log, the results and the CLI output
    texts = {"messages": message_texts(live_cloud.store), "logs": log_lines + err1.splitlines() + err2.splitlines(),
             "results": [json.dumps(doc), json.dumps(rot)],
             "histories": [json.dumps(d, default=str) for d in live_cloud.store.list("fnf.execution")]}
    needles = needles_from_store(live_cloud.store)
    assert needles["password"] and needles["pfx_raw"] and needles["channel_secret"]
    found = [f"{kind} in {where}" for where, items in texts.items() for kind, values in needles.items()
             for v in values if v and v in "\n".join(items)]
    assert found == [], found

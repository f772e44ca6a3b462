"""The holder commands end to end on the local cloud (issue 15): ``albmtls resend`` sends a person
a new one-time link and the old one stops working; a system holder is refused (it reads its
secrets) and ``albmtls holder-policy`` prints its least-privilege RAM policy; ``albmtls channels
test`` reaches every operator channel with a valid signature; ``channels set`` validates before
it stores and never echoes a secret."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def albmtls(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "albmtls", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")})


def messages(ep: str) -> list[dict]:
    p = albmtls("messages", "--endpoints-file", ep, "--json")
    assert p.returncode == 0, p.stderr[-2000:]
    return json.loads(p.stdout)["messages"]


def status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _input(tmp_path: Path) -> Path:
    doc = json.loads((REPO / "examples" / "provision.json").read_text())
    doc["clients"].append({"common_name": "billing", "days": 30, "profile": "modern", "holder": {
        "kind": "system", "name": "Billing", "ram_principal": "acs:ram::1234567890123456:role/billing-app"}})
    doc["clients"].append({"common_name": "kiosk", "days": 30, "profile": "compat"})      # no holder
    path = tmp_path / "input.json"
    path.write_text(json.dumps(doc))
    return path


def test_resend_replaces_the_link_and_refuses_systems(live_cloud, tmp_path):
    import re
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    inp = _input(tmp_path)
    p = albmtls("provision", "-f", str(inp), "--endpoints-file", ep, "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr[-3000:]
    assert "albmtls holder-policy" in p.stderr                       # the system holder's pull access is named
    # only a client without a holder is exported: alice downloads, billing reads KMS itself
    exported = {f.name for f in (tmp_path / "out").iterdir()}
    assert "kiosk.pfx" in exported and not {"alice.pfx", "billing.pfx"} & exported, exported
    [first] = [m for m in messages(ep) if m["service"] == "smtp" and m["to"] == ["alice@example.test"]]
    old = re.search(r"(http://127\.0\.0\.1:\d+/d/[A-Za-z0-9_.-]+)", first["text"]).group(1)
    assert status_of(old) == 200

    p = albmtls("resend", "--cn", "alice", "--endpoints-file", ep)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "download link sent to Alice Example" in p.stderr
    mails = [m for m in messages(ep) if m["service"] == "smtp" and m["to"] == ["alice@example.test"]]
    assert len(mails) == 2 and mails[1]["verified"]
    new = re.search(r"(http://127\.0\.0\.1:\d+/d/[A-Za-z0-9_.-]+)", mails[1]["text"]).group(1)
    assert new != old
    assert status_of(new) == 200
    assert status_of(old) == 410                                      # the old link: "out of date"

    p = albmtls("resend", "--cn", "billing", "--endpoints-file", ep, "--json")
    assert p.returncode == 2 and json.loads(p.stdout)["error"]["code"] == "INVALID_INPUT"
    p = albmtls("resend", "--cn", "nobody", "--endpoints-file", ep, "--json")
    assert p.returncode == 2 and json.loads(p.stdout)["error"]["code"] == "CLIENT_NOT_FOUND"

    p = albmtls("holder-policy", "-f", str(inp), "--cn", "billing", "--json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["policy"]["Statement"][0]["Resource"] == [
        "acs:kms:cn-hangzhou:1234567890123456:secret/albmtls/alb-demostd000000000001-443/billing/pfx",
        "acs:kms:cn-hangzhou:1234567890123456:secret/albmtls/alb-demostd000000000001-443/billing/password"]
    assert any("AttachPolicyToRole --RoleName billing-app" in c for c in doc["attach"])
    p = albmtls("holder-policy", "-f", str(inp), "--cn", "alice", "--json")
    assert p.returncode == 2 and json.loads(p.stdout)["error"]["code"] == "INVALID_INPUT"


def test_resend_and_channels_take_the_clouds_clock_when_it_is_moved(live_cloud, tmp_path):
    """README runs ``resend`` after ``rotate --now +21d`` and before ``clock reset``: the link is valid
    for 72 h of the cloud's time (it said machine time + 72 h: already expired in the cloud) and the
    DingTalk robot takes the signature's timestamp (it refused machine time as invalid)."""
    from datetime import UTC, datetime, timedelta
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    p = albmtls("provision", "-f", str(REPO / "examples" / "provision.json"), "--endpoints-file", ep,
                "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr[-3000:]
    p = albmtls("clock", "set", "+21d", "--endpoints-file", ep)
    assert p.returncode == 0, p.stderr[-2000:]
    try:
        p = albmtls("resend", "--cn", "alice", "--endpoints-file", ep, "--json")
        assert p.returncode == 0, p.stdout + p.stderr[-3000:]
        expires = datetime.fromisoformat(json.loads(p.stdout)["delivery"]["link_expires"].replace("Z", "+00:00"))
        assert expires > datetime.now(UTC) + timedelta(days=21), expires      # 72 h after the cloud's now
        mails = [m for m in messages(ep) if m["service"] == "smtp" and m["to"] == ["alice@example.test"]]
        assert mails[-1]["verified"]
        p = albmtls("channels", "test", "--endpoints-file", ep, "--json")
        assert p.returncode == 0, p.stdout + p.stderr[-2000:]
        got = [m for m in messages(ep) if "test notice" in json.dumps(m)]
        assert got and all(m["verified"] for m in got), got                   # DingTalk/WeCom/Lark signatures
    finally:
        albmtls("clock", "reset", "--endpoints-file", ep)


def test_channels_test_reaches_every_operator_channel_and_set_validates(live_cloud, tmp_path):
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    p = albmtls("channels", "test", "--endpoints-file", ep, "--json")
    assert p.returncode == 0, p.stdout + p.stderr[-2000:]
    sent = json.loads(p.stdout)["sent"]
    assert sent == ["mail", "ops-dingtalk", "ops-wecom", "ops-lark", "ops-webhook"]
    got = [m for m in messages(ep) if "test notice" in json.dumps(m)]
    assert len(got) == 5 and all(m["verified"] for m in got), got

    bad = tmp_path / "channels.json"
    bad.write_text(json.dumps({"channels": [{"type": "webhook", "name": "ops", "url": "https://h.example/x",
                                             "secret": "not-a-whsec-key-but-a-secret-value"}]}))
    p = albmtls("channels", "set", "-f", str(bad), "--endpoints-file", ep, "--json")
    assert p.returncode == 2, p.stdout + p.stderr
    assert json.loads(p.stdout)["error"]["code"] == "CONFIG_INVALID"
    assert "not-a-whsec-key-but-a-secret-value" not in p.stdout + p.stderr


def test_a_revocation_is_told_to_the_operators_and_stops_resends(live_cloud, tmp_path):
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    p = albmtls("provision", "-f", str(REPO / "examples" / "provision.json"), "--endpoints-file", ep,
                "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr[-3000:]
    [mail] = [m for m in messages(ep) if m["service"] == "smtp" and m["to"] == ["alice@example.test"]]
    import re
    link = re.search(r"(http://127\.0\.0\.1:\d+/d/[A-Za-z0-9_.-]+)", mail["text"]).group(1)
    assert status_of(link) == 200
    before = len(messages(ep))
    p = albmtls("revoke", "--listener", "alb-demostd000000000001:443", "--cn", "alice", "--reason", "cessation",
                "--requested-by", "ops@example.test", "--endpoints-file", ep, "--json")
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]
    notices = [m for m in messages(ep)[before:] if "alice on alb-demostd000000000001-443 revoked" in json.dumps(m)]
    assert {m["service"] for m in notices} >= {"smtp", "dingtalk", "wecom", "lark", "webhook"}, notices
    assert all(m["verified"] for m in notices)
    assert any("ops@example.test" in json.dumps(m) and "cessation" in json.dumps(m) for m in notices)

    p = albmtls("revoke", "--listener", "alb-demostd000000000001:443", "--cn", "alice", "--endpoints-file", ep,
                "--json")                                                  # a second revoke: no second notice
    assert p.returncode == 0
    assert not [m for m in messages(ep)[before + len(notices):] if "revoked" in json.dumps(m)]

    p = albmtls("resend", "--cn", "alice", "--endpoints-file", ep, "--json")
    assert p.returncode == 2 and json.loads(p.stdout)["error"]["code"] == "CLIENT_REVOKED"
    assert status_of(link) == 410                                      # her unused link: "Access was revoked"

    # a restore issues a new certificate: it reaches alice as on issue (a new link), never as a file
    mails = len([m for m in messages(ep) if m["service"] == "smtp" and m["to"] == ["alice@example.test"]])
    p = albmtls("restore", "--listener", "alb-demostd000000000001:443", "--cn", "alice", "--endpoints-file", ep,
                "--out", str(tmp_path / "restored"), "--json")
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]
    [c] = json.loads(p.stdout)["clients"]
    assert c["action"] == "restored" and c["delivery"]["action"] == "link_sent", c
    assert not (tmp_path / "restored" / "alice.pfx").exists()
    alice = [m for m in messages(ep) if m["service"] == "smtp" and m["to"] == ["alice@example.test"]]
    assert len(alice) == mails + 1 and c["certificate"]["serial"][:16] in alice[-1]["text"]
    new = re.search(r"(http://127\.0\.0\.1:\d+/d/[A-Za-z0-9_.-]+)", alice[-1]["text"]).group(1)
    assert status_of(new) == 200 and status_of(link) == 410


def test_the_daily_drift_check_tells_the_operators(live_cloud, tmp_path):
    from tests.e2e.test_fleet_e2e import ca_enabled_off
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    p = albmtls("provision", "-f", str(REPO / "examples" / "provision.json"), "--endpoints-file", ep,
                "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr[-3000:]
    ca_enabled_off(live_cloud, 443)
    before = len(messages(ep))
    p = albmtls("drift", "--endpoints-file", ep, "--json")            # a report: logged, nobody messaged
    assert p.returncode == 2, p.stderr[-2000:]
    assert len(messages(ep)) == before
    p = albmtls("drift", "--repair", "--endpoints-file", ep, "--json")  # what the daily timer runs
    assert p.returncode == 2, p.stderr[-2000:]
    notices = [m for m in messages(ep)[before:] if "drifted from their recorded state" in json.dumps(m)]
    assert {m["service"] for m in notices} >= {"smtp", "dingtalk", "wecom", "lark", "webhook"}, notices
    assert all(m["verified"] for m in notices)
    assert any("alb-demostd000000000001-443: CaEnabled (recorded True, found False)" in json.dumps(m)
               for m in notices)

"""Delivery across a rotation (issue 15, "Done when" 2): `albmtls rotate --now <+21 days>` sends alice a
new link and `status` shows "not yet downloaded"; on the old certificate's last day she is reminded
(and the operators are told she has not switched); after her download `status` shows it, and the
next run retires the old certificate (no revocation asked: recorded retired, it expires naturally)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from shared.core.clock import parse_iso

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
ISO = "%Y-%m-%dT%H:%M:%SZ"


def albmtls(*args: str, timeout: float = 240) -> dict:
    p = subprocess.run([sys.executable, "-m", "albmtls", *args, "--json"], cwd=REPO, capture_output=True, text=True,
                       timeout=timeout, env={k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")})
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-3000:])
    return json.loads(p.stdout)


def mails(ep: str, to: str) -> list[dict]:
    return [m for m in albmtls("messages", "--endpoints-file", ep)["messages"]
            if m["service"] == "smtp" and to in (m.get("to") or [])]


def link(mail: dict) -> str:
    m = re.search(r"(http://127\.0\.0\.1:\d+/d/[A-Za-z0-9_.-]+)", mail["text"])
    assert m is not None, mail["text"]
    return m.group(1)


def download(url: str, password: str) -> tuple[int, bytes]:
    data = urllib.parse.urlencode({"password": password, "confirm": password, "profile": "modern"}).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def row(status: dict, serial: str) -> dict:
    return next(r for r in status["certificates"] if r["serial"] == serial)


def test_rotation_delivers_reminds_and_retires_after_the_download(live_cloud, tmp_path):
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    doc = albmtls("provision", "-f", str(REPO / "examples" / "provision.json"), "--endpoints-file", ep,
                  "--out", str(tmp_path / "out"))
    [first] = doc["client_certificates"]
    [d] = doc["deliveries"]
    assert d["action"] == "link_sent" and d["holder"] == "Alice Example"
    end = parse_iso(first["not_after"])
    issued = end - timedelta(days=30)

    # day 21: renewed, and alice gets a new link for the new certificate
    r21 = albmtls("rotate", "--now", (issued + timedelta(days=21)).strftime(ISO), "--endpoints-file", ep,
                  "--out", str(tmp_path / "r"))
    [new] = r21["renewed"]
    assert new["serial"] != first["serial"] and "pfx_path" not in new     # a person's PFX is not exported
    ready = [m for m in mails(ep, "alice@example.test") if "is ready" in m["subject"]]
    assert len(ready) == 2 and f"serial {new['serial'][:16]}" in ready[-1]["text"]
    st = albmtls("status", "--endpoints-file", ep)
    assert row(st, new["serial"])["delivery"]["delivery"] == "link_sent"      # not yet downloaded
    old = row(st, first["serial"])
    assert old["state"] == "superseded" and old["delivery"]["replacement"] == "link_sent"

    # the old certificate's last day: a reminder with a fresh link; the operators are told
    last_day = datetime.combine((end - timedelta(minutes=1)).date(), datetime.min.time(), end.tzinfo) \
        - timedelta(minutes=1)
    if last_day < end - timedelta(hours=24):
        last_day = end - timedelta(hours=23, minutes=59)
    rl = albmtls("rotate", "--now", last_day.strftime(ISO), "--endpoints-file", ep)
    reminders = [m for m in mails(ep, "alice@example.test") if m["subject"].startswith("Reminder")]
    assert len(reminders) == 1 and "ends " + first["not_after"] in reminders[0]["text"], rl
    ops = [m for m in albmtls("messages", "--endpoints-file", ep)["messages"]
           if m["channel"] == "ops-webhook" and (m.get("json") or {}).get("type") == "albmtls.not_switched"]
    assert ops and ops[0]["verified"]
    assert download(link(ready[-1]), "a long and unguessable passphrase 42")[0] == 410   # out of date: the reminder's
                                                                                          # link replaced it

    # alice downloads with the reminder's link
    code, body = download(link(reminders[0]), "a long and unguessable passphrase 42")
    assert code == 200 and len(body) > 500
    st = albmtls("status", "--endpoints-file", ep)
    assert row(st, new["serial"])["delivery"]["delivery"] == "downloaded"
    assert row(st, first["serial"])["state"] == "superseded"

    # the next run retires the old certificate (no revocation asked: it expires naturally)
    rn = albmtls("rotate", "--now", (end - timedelta(minutes=1)).strftime(ISO), "--endpoints-file", ep)
    assert [r["serial"] for r in rn["retired"]] == [first["serial"]], rn
    assert rn["retired"][0]["reason"] == "holder_switched"
    st = albmtls("status", "--endpoints-file", ep)
    assert row(st, first["serial"])["state"] == "retired"

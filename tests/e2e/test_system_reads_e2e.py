"""A system holder's first read of its new secrets retires its old certificate (issue 15, point 4).

On the local cloud: two system holders are renewed at day 21 with a 5-day grace (`--revoke-old
after_grace --revoke-after-days 5`). Billing reads its PFX and password with the call the one-liner of
`albmtls holder-policy --cn billing` makes (KMS GetSecretValue of the two secret names it prints) as its
own principal (a key for its `ram_principal` role); the local ActionTrail records the reads. The next
day's rotate run — one LookupEvents query — records the read in billing's delivery record, `status` shows
it ("read by … at …"), and billing's old certificate is retired then, before its grace end (a run while
ActionTrail refuses only warns). CRM's secret
is read only by the automation's own identity, which is not CRM's principal: CRM's old certificate waits
for its grace end, as before.
"""
from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from shared.core.clock import parse_iso
from shared.policy.reads import MAX_PAGES

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
ISO = "%Y-%m-%dT%H:%M:%SZ"
ACCOUNT = "1234567890123456"
GRACE = ("--revoke-old", "after_grace", "--revoke-after-days", "5")


def run(*args: str, json_out: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")}
    env["COLUMNS"] = "300"
    return subprocess.run([sys.executable, "-m", "albmtls", *args, *(["--json"] if json_out else [])], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=env)


def albmtls(*args: str) -> dict:
    p = run(*args)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-3000:])
    return json.loads(p.stdout)


def system(cn: str, role: str) -> dict:
    return {"common_name": cn, "days": 30, "profile": "modern",
            "holder": {"kind": "system", "name": cn.title(), "ram_principal": f"acs:ram::{ACCOUNT}:role/{role}"}}


def kms_client(endpoints: dict, key_id: str, key_secret: str, token: str | None = None):
    from alibabacloud_kms20160120.client import Client
    from alibabacloud_tea_openapi.utils_models import Config
    return Client(Config(endpoint=endpoints["kms"], protocol="http", region_id=endpoints["region"],
                         access_key_id=key_id, access_key_secret=key_secret, security_token=token))


def fetch_with_one_liner(client, command: str) -> tuple[str, str]:
    """The call the `aliyun kms GetSecretValue --region R --SecretName N …` one-liner makes (the
    aliyun CLI itself is not installed here): GetSecretValue of that secret name → (version, data)."""
    from alibabacloud_kms20160120 import models as m
    assert command.startswith("aliyun kms GetSecretValue "), command
    found = re.search(r"--SecretName (\S+)", command)
    assert found is not None, command
    name = found.group(1)
    body = client.get_secret_value(m.GetSecretValueRequest(secret_name=name)).body
    return body.version_id, body.secret_data


def row(status: dict, serial: str) -> dict:
    return next(r for r in status["certificates"] if r["serial"] == serial)


def test_a_system_holders_first_read_retires_its_old_certificate(live_cloud, tmp_path):
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    endpoints = json.loads(Path(ep).read_text())
    doc = json.loads((REPO / "examples" / "provision.json").read_text())
    doc["clients"] += [system("billing", "billing-app"), system("crm", "crm-app")]
    inp = tmp_path / "input.json"
    inp.write_text(json.dumps(doc))
    first = {c["common_name"]: c for c in albmtls("provision", "-f", str(inp), "--endpoints-file", ep,
                                                  "--out", str(tmp_path / "out"))["client_certificates"]}
    issued = parse_iso(first["billing"]["not_after"]) - timedelta(days=30)

    # day 21: both renewed, their old certificates superseded with a 5-day grace
    r21 = albmtls("rotate", "--now", (issued + timedelta(days=21)).strftime(ISO), *GRACE, "--endpoints-file", ep,
                  "--out", str(tmp_path / "r"))
    new = {r["common_name"]: r for r in r21["renewed"]}
    assert {"billing", "crm"} <= set(new), r21
    assert not [c for c in live_cloud.store.calls() if c["product"] == "actiontrail"]   # nobody waited: no query

    # billing reads its two secrets as its own principal, with the holder-policy one-liners
    policy = albmtls("holder-policy", "-f", str(inp), "--cn", "billing")
    req = urllib.request.Request(endpoints["admin"].rstrip("/") + "/ram/access-keys", method="POST",
                                 data=json.dumps({"principal": policy["principal"]}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        key = json.load(resp)
    billing = kms_client(endpoints, key["AccessKeyId"], key["AccessKeySecret"], key["SecurityToken"])
    (pfx_v, pfx), (pw_v, password) = (fetch_with_one_liner(billing, c) for c in policy["fetch"])
    assert pfx_v == pw_v == new["billing"]["serial"] and len(base64.b64decode(pfx)) > 500 and password
    # crm's secret is read only by the automation's own identity (the local cloud's fixed key): not crm's
    own = kms_client(endpoints, endpoints["access_key_id"], endpoints["access_key_secret"])
    crm_policy = albmtls("holder-policy", "-f", str(inp), "--cn", "crm")
    fetch_with_one_liner(own, crm_policy["fetch"][0])

    # ActionTrail refusing (no actiontrail:LookupEvents): the run succeeds with a warning, nothing retires
    live_cloud.faults.configure({"rules": [{"kind": "busy", "product": "actiontrail", "action": "LookupEvents",
                                            "rate": 1.0, "code": "NoPermission", "status": 403,
                                            "message": "You are not authorized to do this action."}]})
    # (day 22: the issuing lane runs one rotation order per day — a second run on day 21 starts nothing)
    refused = albmtls("rotate", "--now", (issued + timedelta(days=22)).strftime(ISO), *GRACE,
                      "--endpoints-file", ep)
    live_cloud.faults.configure({"rules": []})
    assert refused["status"] == "succeeded" and refused["scan"]["reads"] == 0 and not refused["retired"], refused
    assert [w["kind"] for w in refused["scan"]["warnings"]] == ["actiontrail"], refused["scan"]
    assert "grace end" in refused["scan"]["warnings"][0]["message"]

    # day 23: one ActionTrail query; billing's read is recorded and its old certificate retired now
    mark = live_cloud.store.last_call_n()
    r22 = albmtls("rotate", "--now", (issued + timedelta(days=23)).strftime(ISO), *GRACE, "--endpoints-file", ep)
    assert r22["scan"]["reads"] == 1 and not r22["scan"]["warnings"], r22["scan"]
    assert [(r["common_name"], r["serial"]) for r in r22["retired"]] == [("billing", first["billing"]["serial"])]
    st = albmtls("status", "--endpoints-file", ep)
    read = row(st, new["billing"]["serial"])["delivery"]
    assert read["delivery"] == "read" and read["first_read_by"] == "billing-app:albmtls-local", read
    assert issued + timedelta(days=21) <= parse_iso(read["first_read_at"]) < issued + timedelta(days=22)
    assert row(st, first["billing"]["serial"])["state"] == "revoked"          # before its grace end (day 26)
    assert row(st, first["crm"]["serial"])["state"] == "superseded"           # crm: no read of its own
    assert row(st, new["crm"]["serial"])["delivery"]["delivery"] != "read"
    text = run("status", "--endpoints-file", ep, json_out=False)
    assert text.returncode == 0, text.stderr[-2000:]
    assert "read by billing-app:albmtls-local at" in " ".join(text.stdout.split()), text.stdout[-3000:]
    # day 23 made one query, its pages at most MAX_PAGES
    calls = [c for c in live_cloud.store.calls(mark) if c["product"] == "actiontrail"]
    assert 1 <= len(calls) <= MAX_PAGES and {(c["action"], c["code"]) for c in calls} == {("LookupEvents", "OK")}

    # a run with nothing new to see reads nothing again; crm retires at its grace end, as before
    r27 = albmtls("rotate", "--now", (issued + timedelta(days=26, hours=1)).strftime(ISO), *GRACE,
                  "--endpoints-file", ep)
    retired = {(r["common_name"], r["serial"]) for r in r27["retired"]}
    assert ("crm", first["crm"]["serial"]) in retired and "billing" not in {cn for cn, _ in retired}, r27
    assert r27["scan"]["reads"] == 0

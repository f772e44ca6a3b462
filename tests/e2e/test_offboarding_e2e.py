"""Offboarding end to end, as a person runs it (CLI subprocesses against a live local cloud with real
TLS; curl and openssl as a holder and a relying party would use them):

* revoke alice, keep bob: alice refused by the listener within the assumed bound, bob answered by
  both backends, ``status`` says why, the rotation renews bob only, alice's secrets are pending
  deletion, a second revoke writes nothing, the CRL at a new certificate's distribution point lists
  alice's serial;
* remove bob from the input: reported orphaned, still valid, never renewed; ``--prune`` revokes him.
"""
from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path

import pytest

from shared.core.clock import parse_iso
from shared.policy.offboarding import LISTENER_REFUSAL_BOUND

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
LISTENER = "alb-demostd000000000001:443"


def albmtls(*args: str, timeout: float = 240) -> tuple[int, dict, str]:
    p = subprocess.run([sys.executable, "-m", "albmtls", *args, "--json"], cwd=REPO, capture_output=True,
                       text=True, timeout=timeout,
                       env={k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")})
    try:
        return p.returncode, json.loads(p.stdout), p.stderr
    except ValueError:
        pytest.fail(f"no JSON document on stdout (exit {p.returncode}):\n{p.stdout}\n{p.stderr[-3000:]}")


@pytest.fixture
def ep(live_cloud) -> str:
    return os.environ["ALBMTLS_ENDPOINTS_FILE"]


def write_input(tmp_path: Path, demo_input: dict, *cns: str) -> Path:
    inp = copy.deepcopy(demo_input)
    inp["clients"] = [{"common_name": cn, "days": 30} for cn in cns]
    f = tmp_path / f"input-{'-'.join(cns)}.json"
    f.write_text(json.dumps(inp))
    return f


def curl(live_cloud, pfx: str, password: str) -> tuple[str, str, dict | None]:
    """(HTTP status or '000', curl's error text, the backend's JSON answer) for one request with the PFX."""
    port = 443 + live_cloud.settings.port_offset
    ca = Path(live_cloud.endpoints()["state_dir"]) / "server-root-ca.pem"
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(ca), "--resolve",
                        f"app.example.test:{port}:127.0.0.1", "-w", "\n%{http_code}", "--cert-type", "P12",
                        "--cert", f"{pfx}:{password}", f"https://app.example.test:{port}/"],
                       capture_output=True, text=True, timeout=20)
    body, _, code = p.stdout.rpartition("\n")
    try:
        answer = json.loads(body) if body else None
    except ValueError:
        answer = None
    return code, p.stderr, answer


def provisioned(ep: str, tmp_path: Path, demo_input: dict, *cns: str, prune: bool = False) -> dict:
    args = ["provision", "-f", str(write_input(tmp_path, demo_input, *cns)), "--endpoints-file", ep,
            "--out", str(tmp_path / "out")] + (["--prune"] if prune else [])
    code, doc, err = albmtls(*args)
    assert code == 0 and doc["status"] == "succeeded", (doc, err[-2000:])
    return doc


def test_revoke_alice_keeps_bob(live_cloud, ep, tmp_path, demo_input, writes):
    doc = provisioned(ep, tmp_path, demo_input, "alice", "bob")
    certs = {c["common_name"]: c for c in doc["client_certificates"]}
    out = tmp_path / "out"
    pw = {cn: Path(c["password_path"]).read_text() for cn, c in certs.items()}
    assert curl(live_cloud, str(out / "alice.pfx"), pw["alice"])[0] == "200"

    code, rev, err = albmtls("revoke", "--listener", LISTENER, "--cn", "alice", "--reason", "key_compromise",
                             "--requested-by", "security@example.test", "--endpoints-file", ep)
    assert code == 0 and rev["status"] == "succeeded", (rev, err[-2000:])
    [alice] = rev["clients"]
    assert alice["action"] == "revoked" and alice["reason"] == "key_compromise"
    assert [r["serial"] for r in alice["revoked"]] == [certs["alice"]["serial"]]
    revoked_at = parse_iso(alice["revoked_at"])
    assert parse_iso(alice["listener_refuses_by"]) == revoked_at + LISTENER_REFUSAL_BOUND

    # the listener refuses alice within the bound (a TLS handshake failure); bob gets through to both backends
    deadline = time.monotonic() + LISTENER_REFUSAL_BOUND.total_seconds()
    while (result := curl(live_cloud, str(out / "alice.pfx"), pw["alice"]))[0] != "000":
        assert time.monotonic() < deadline, f"alice still accepted: {result}"
        time.sleep(0.5)
    assert re.search(r"(?i)alert certificate revoked", result[1]), result[1]
    backends, seen = set(), set()
    for _ in range(6):
        code_b, _, answer = curl(live_cloud, str(out / "bob.pfx"), pw["bob"])
        assert code_b == "200" and answer is not None
        backends.add(answer["instance_name"])
        seen.add({k.lower(): v for k, v in answer["headers"].items()}["x-forwarded-clientcert-fingerprint"])
    assert backends == {"ECS01", "ECS02"}

    # status (read from the cloud: the record, not this machine) says revoked, why, when, by whom
    code, st, err = albmtls("status", "--endpoints-file", ep)
    assert code == 0, err[-2000:]
    rows = {r["serial"]: r for r in st["certificates"]}
    a = rows[certs["alice"]["serial"]]
    assert a["state"] == "revoked" and a["revocation"]["reason"] == "key_compromise"
    assert a["revocation"]["requested_by"] == "security@example.test"
    assert rows[certs["bob"]["serial"]]["state"] == "valid"
    # the fingerprint status exports is the one the backends see (docs/BACKENDS.md: allow/deny lists)
    assert seen == {rows[certs["bob"]["serial"]]["fingerprint_sha1"]}
    pending = {p["secret"] for p in st["pending_deletion"]}
    assert pending == {f"albmtls/alb-demostd000000000001-443/alice/{k}" for k in ("pfx", "password")}
    for name in pending:
        assert live_cloud.store.get("kms.secret", name)["PlannedDeleteTime"]

    # the doctor-ready check of the assumption: the listener passes the client-certificate headers,
    # so backends can deny alice's fingerprint even if a real ALB does not refuse her → "unverified"
    import logging
    import uuid

    from shared.adapters.retry import Deadline
    from shared.core.settings import Settings
    from shared.steps.context import StepContext
    from shared.steps.revocation_check import check_revocation_enforcement
    check = check_revocation_enforcement(StepContext(
        step="doctor", settings=Settings.load(), clock=live_cloud.clock, logger=logging.getLogger("albmtls.test"),
        deadline=Deadline(60), request_id=f"local-{uuid.uuid4().hex}"))
    assert check["result"] == "unverified" and check["listeners"] == [
        {"listener_key": "alb-demostd000000000001-443", "revoked_unexpired": 1, "client_cert_headers": True}]

    # a second revoke writes nothing (counted from the cloud's call log)
    writes.mark()
    code, again, err = albmtls("revoke", "--listener", LISTENER, "--cn", "alice", "--endpoints-file", ep)
    assert code == 0 and again["writes"] == 0 and again["clients"][0]["action"] == "already_revoked", again
    assert writes.since() == []

    # provisioning alice again is bad input (CLIENT_REVOKED, exit 2 as README's rule says), changing nothing
    code, back, err = albmtls("provision", "-f", str(write_input(tmp_path, demo_input, "alice", "bob")),
                              "--endpoints-file", ep, "--out", str(tmp_path / "again"))
    assert code == 2 and back["error"]["code"] == "CLIENT_REVOKED", (back, err[-2000:])
    assert writes.since() == []

    # 21 days on: the rotation renews bob and not alice
    now = (parse_iso(certs["bob"]["not_after"]) - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ")   # day 21
    code, rot, err = albmtls("rotate", "--now", now, "--endpoints-file", ep, "--out", str(tmp_path / "rot"))
    assert code == 0, (rot, err[-2000:])
    assert [r["common_name"] for r in rot["renewed"]] == ["bob"]
    new_bob = rot["renewed"][0]

    # the CRL at the new certificate's distribution point lists alice's serial (openssl, as a relying party)
    from cryptography import x509
    [row] = [r for r in live_cloud.store.list("pca.client") if r["Identifier"] == new_bob["identifier"]]
    leaf = x509.load_pem_x509_certificate(row["Certificate"].encode())
    [url] = [n.value for p in leaf.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
             for n in p.full_name]
    crl_file = tmp_path / "sub.crl"
    with urllib.request.urlopen(url, timeout=10) as resp:
        crl_file.write_bytes(resp.read())
    text = subprocess.run(["openssl", "crl", "-inform", "DER", "-in", str(crl_file), "-noout", "-text"],
                          capture_output=True, text=True, check=True).stdout
    listed = {int(h, 16) for h in re.findall(r"Serial Number: ([0-9A-Fa-f]+)", text)}
    assert int(certs["alice"]["serial"], 16) in listed and int(certs["bob"]["serial"], 16) not in listed
    # the new certificate names its listener as well as its holder (docs/BACKENDS.md: what backends authorize on)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == ["albmtls://alb-demostd000000000001/443/bob"]

    # a CN the listener never had: exit 2, naming the ones it has, nothing written
    writes.mark()
    code, missing, err = albmtls("revoke", "--listener", LISTENER, "--cn", "carol", "--endpoints-file", ep)
    assert code == 2 and missing["error"]["code"] == "CLIENT_NOT_FOUND", (missing, err[-2000:])
    assert missing["error"]["message"].endswith("the clients it has under that prefix: alice, bob (check --cn and "
                                                "--secret-prefix)") and writes.since() == []


def test_orphaned_then_pruned(live_cloud, ep, tmp_path, demo_input, writes):
    doc = provisioned(ep, tmp_path, demo_input, "alice", "bob")
    bob = next(c for c in doc["client_certificates"] if c["common_name"] == "bob")
    out = tmp_path / "out"
    bob_pfx, bob_pw = tmp_path / "bob.pfx", Path(bob["password_path"]).read_text()
    bob_pfx.write_bytes((out / "bob.pfx").read_bytes())

    # bob left the input: reported orphaned, still valid, not revoked
    without = provisioned(ep, tmp_path, demo_input, "alice")
    assert [o["common_name"] for o in without["orphaned"]] == ["bob"] and without["pruned"] == []
    assert curl(live_cloud, str(bob_pfx), bob_pw)[0] == "200"
    code, st, _ = albmtls("status", "--endpoints-file", ep)
    assert {r["serial"]: r["state"] for r in st["certificates"]}[bob["serial"]] == "orphaned"

    # and never renewed: the scan skips him and says so
    now = (parse_iso(bob["not_after"]) - timedelta(days=9)).strftime("%Y-%m-%dT%H:%M:%SZ")          # day 21
    code, rot, err = albmtls("rotate", "--now", now, "--endpoints-file", ep, "--out", str(tmp_path / "rot"))
    assert code == 0, (rot, err[-2000:])
    assert [r["common_name"] for r in rot["renewed"]] == ["alice"]
    not_renewed = [(w["listener_key"], w["common_name"]) for w in rot["warnings"] if w.get("kind") == "not_renewed"]
    assert rot["scan"]["orphaned"] == 1 and not_renewed == [("alb-demostd000000000001-443", "bob")]

    # with --prune he is revoked, and the summary says so
    pruned = provisioned(ep, tmp_path, demo_input, "alice", prune=True)
    assert [(p["common_name"], p["action"], p["reason"]) for p in pruned["pruned"]] == [("bob", "revoked", "cessation")]
    assert pruned["orphaned"] == []
    code, st, _ = albmtls("status", "--endpoints-file", ep)
    rows = {r["serial"]: r for r in st["certificates"]}
    assert rows[bob["serial"]]["state"] == "revoked" and rows[bob["serial"]]["revocation"]["via"] == "prune"
    assert all(r["state"] != "revoked" for r in st["certificates"] if r["common_name"] == "alice")
    writes.mark()
    again = provisioned(ep, tmp_path, demo_input, "alice", prune=True)
    assert again["pruned"] == [] and again["writes"] == 0 and writes.since() == []

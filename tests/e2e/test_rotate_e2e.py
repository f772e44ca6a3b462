"""`albmtls provision` then `albmtls rotate --now …` and `albmtls status` as a person runs them (CLI
subprocesses against a live local cloud): renewal at day 21, nothing at day 10, idempotent re-run,
the exported PFX of the renewed certificate gets through the listener."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from shared.core.clock import parse_iso

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def albmtls(*args: str, timeout: float = 240) -> tuple[int, dict, str]:
    p = subprocess.run([sys.executable, "-m", "albmtls", *args], cwd=REPO, capture_output=True, text=True,
                       timeout=timeout, env={k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")})
    try:
        return p.returncode, json.loads(p.stdout), p.stderr
    except ValueError:
        pytest.fail(f"no JSON document on stdout (exit {p.returncode}):\n{p.stdout}\n{p.stderr[-3000:]}")


def test_rotate_cli(live_cloud, tmp_path, writes):
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    inp = json.loads((REPO / "examples" / "provision.json").read_text())
    for c in inp["clients"]:
        c.pop("holder", None)         # the operator exports the PFX (a person: tests/e2e/test_delivery_e2e.py)
    (tmp_path / "operator.json").write_text(json.dumps(inp))
    code, doc, err = albmtls("provision", "-f", str(tmp_path / "operator.json"), "--endpoints-file", ep,
                             "--json", "--out", str(tmp_path / "out"))
    assert code == 0, (doc, err[-2000:])
    [alice] = doc["client_certificates"]
    issued = parse_iso(alice["not_after"]) - timedelta(days=30)

    def iso(d: int) -> str:
        return (issued + timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ")

    code, r10, err = albmtls("rotate", "--now", iso(10), "--endpoints-file", ep, "--json", "--out", str(tmp_path / "r"))
    assert code == 0, (r10, err[-2000:])
    assert r10["started"] is True and r10["scan"]["due"] == 0 and r10["renewed"] == [] and r10["writes"] == 0

    code, r21, err = albmtls("rotate", "--now", iso(21), "--endpoints-file", ep, "--json", "--out", str(tmp_path / "r"))
    assert code == 0, (r21, err[-2000:])
    [new] = r21["renewed"]
    assert new["common_name"] == "alice" and new["serial"] != alice["serial"]
    assert abs(parse_iso(new["not_after"]) - parse_iso(iso(51))) < timedelta(minutes=10)
    assert new["pfx_version"] == new["serial"] and Path(new["pfx_path"]).exists()

    writes.mark()
    code, again, err = albmtls("rotate", "--now", iso(21), "--endpoints-file", ep, "--json",
                               "--out", str(tmp_path / "r"))
    assert code == 0, (again, err[-2000:])
    assert again["started"] is False and again["renewed"] == [] and again["writes"] == 0
    assert writes.since() == []

    code, st, err = albmtls("status", "--endpoints-file", ep, "--json")
    assert code == 0, err[-2000:]
    states = {r["serial"]: r["state"] for r in st["certificates"]}
    assert states[alice["serial"]] == "superseded" and states[new["serial"]] == "valid"
    [lst] = st["listeners"]
    assert lst["ca_not_after"] and lst["server_certificate_not_after"]

    # the renewed PFX works against the live listener (curl, as a person would)
    port = 443 + live_cloud.settings.port_offset
    ca = Path(live_cloud.endpoints()["state_dir"]) / "server-root-ca.pem"
    pw = Path(new["password_path"]).read_text()
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", str(ca), "--resolve",
                        f"app.example.test:{port}:127.0.0.1", "-o", "/dev/null", "-w", "%{http_code}",
                        "--cert-type", "P12", "--cert", f"{new['pfx_path']}:{pw}", f"https://app.example.test:{port}/"],
                       capture_output=True, text=True, timeout=20)
    assert p.stdout == "200", p.stderr

    code, rv, err = albmtls("rotate", "--now", iso(22), "--revoke-old", "immediately", "--endpoints-file", ep, "--json",
                            "--out", str(tmp_path / "r"))
    assert code == 0, (rv, err[-2000:])
    assert [r["serial"] for r in rv["retired"]] == [alice["serial"]]
    code, st2, _ = albmtls("status", "--endpoints-file", ep, "--json")
    assert {r["serial"]: r["state"] for r in st2["certificates"]}[alice["serial"]] == "revoked"

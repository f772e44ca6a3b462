"""An own CA end to end (issue 18): `albmtls provision` with ``"ca": {"kind": "own", "name": "demo"}``
on a fresh local cloud creates the CA (its keys in the local KMS, the sub-CA uploaded to the CAS
certificate repository), issues alice through KMS AsymmetricSign, turns on mTLS with the upload as
the listener's CA, and the probe passes; ``openssl verify`` builds alice → sub-CA → root."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def albmtls(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "albmtls", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={k: v for k, v in os.environ.items()
                                                           if not k.startswith("ALBMTLS_")})


def own_input(tmp_path: Path, clients: list[dict] | None = None) -> Path:
    doc = json.loads((REPO / "examples" / "provision.json").read_text())
    del doc["ca_identifier"]
    doc["ca"] = {"kind": "own", "name": "demo"}
    if clients is not None:
        doc["clients"] = clients
    path = tmp_path / "own.json"
    path.write_text(json.dumps(doc))
    return path


def run_json(*args: str) -> tuple[int, dict, str]:
    p = albmtls(*args, "--json")
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        pytest.fail(f"no JSON document on stdout (exit {p.returncode}):\n{p.stdout}\n{p.stderr[-3000:]}")
    return p.returncode, doc, p.stderr


def pfx_chain(pfx: Path, password: str, tmp_path: Path) -> Path:
    """The leaf of ``pfx`` in PEM (openssl pkcs12, the way a holder would read it)."""
    out = tmp_path / f"{pfx.stem}-leaf.pem"
    p = subprocess.run(["openssl", "pkcs12", "-in", str(pfx), "-passin", f"pass:{password}", "-clcerts", "-nokeys",
                        "-out", str(out)], capture_output=True, text=True, timeout=20)
    if p.returncode != 0:      # OpenSSL 3 and a legacy (compat) profile
        p = subprocess.run(["openssl", "pkcs12", "-legacy", "-in", str(pfx), "-passin", f"pass:{password}",
                            "-clcerts", "-nokeys", "-out", str(out)], capture_output=True, text=True, timeout=20)
    assert p.returncode == 0, p.stderr
    return out


def curl_status(live_cloud, pfx: Path | None, password: str | None) -> str:
    port = 443 + live_cloud.settings.port_offset
    ca = Path(live_cloud.endpoints()["state_dir"]) / "server-root-ca.pem"
    cmd = ["curl", "-sS", "--max-time", "10", "--cacert", str(ca), "--resolve", f"app.example.test:{port}:127.0.0.1",
           "-o", "/dev/null", "-w", "%{http_code}"]
    if pfx is not None:
        cmd += ["--cert-type", "P12", "--cert", f"{pfx}:{password}"]
    p = subprocess.run([*cmd, f"https://app.example.test:{port}/"], capture_output=True, text=True, timeout=20)
    return p.stdout


def test_provision_with_an_own_ca_end_to_end(live_cloud, tmp_path, writes):
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    out = tmp_path / "out"
    code, doc, err = run_json("provision", "-f", str(own_input(tmp_path)), "--endpoints-file", ep,
                              "--out", str(out))
    assert code == 0, (doc, err[-3000:])
    assert doc["status"] == "succeeded"
    # the CA exists now, its keys in the local KMS, and the listener trusts its upload
    ca_code, ca, ca_err = run_json("ca", "status", "--name", "demo", "--endpoints-file", ep)
    assert ca_code == 0, ca_err[-2000:]
    assert ca["issuing_gen"] == ca["trusted_gen"] == 1
    lst = doc["listener"]
    assert lst["ca_enabled"] is True and lst["ca_certificate_id"] == ca["alb_ca_certificate_id"]
    upload = live_cloud.store.get("cas.whcert", ca["alb_ca_certificate_id"])
    assert upload is not None and upload.get("CertType") == "CA"
    # the probe: 200 with the PFX, refused without and with a foreign certificate
    probe = doc["probe"]
    assert 200 <= probe["with_certificate"]["status"] < 300
    assert probe["without_certificate"]["refused"] is True
    assert probe["foreign_certificate"]["refused"] is True
    [alice] = doc["client_certificates"]
    pfx, pw = Path(alice["pfx_path"]), Path(alice["password_path"])
    assert curl_status(live_cloud, pfx, pw.read_text()) == "200"
    assert curl_status(live_cloud, None, None) != "200"
    # the leaf was signed through KMS AsymmetricSign with the sub-CA's key; no PCA certificate was made
    calls = live_cloud.store.calls()
    assert any(c["product"] == "kms" and c["action"] == "AsymmetricSign" for c in calls)
    assert not any(c["product"] == "pca" and c["action"].startswith("CreateClientCertificate") for c in calls)
    # openssl verify builds alice → sub-CA → root from the PFX and the root
    chain = x509_chain(upload["Content"])
    root_pem, sub_pem = tmp_path / "root.pem", tmp_path / "sub.pem"
    root_pem.write_text(chain[-1])
    sub_pem.write_text(chain[0])
    leaf = pfx_chain(pfx, pw.read_text(), tmp_path)
    v = subprocess.run(["openssl", "verify", "-x509_strict", "-purpose", "sslclient", "-CAfile", str(root_pem),
                        "-untrusted", str(sub_pem), str(leaf)], capture_output=True, text=True, timeout=20)
    assert v.returncode == 0 and v.stdout.strip().endswith(": OK"), (v.stdout, v.stderr)

    # a second run: nothing written
    writes.mark()
    code2, doc2, err2 = run_json("provision", "-f", str(own_input(tmp_path)), "--endpoints-file", ep,
                                 "--out", str(tmp_path / "out2"))
    assert code2 == 0, (doc2, err2[-3000:])
    assert doc2["writes"] == 0 and writes.since() == []
    assert doc2["client_certificates"][0]["serial"] == alice["serial"]


def x509_chain(content: str) -> list[str]:
    """The PEM certificates of an upload (sub-CA first, then the root), each as its own PEM text."""
    parts = content.split("-----END CERTIFICATE-----")
    return [p.strip() + "\n-----END CERTIFICATE-----\n" for p in parts if "BEGIN CERTIFICATE" in p]

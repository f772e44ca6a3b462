"""No private key of an own CA exists outside the local KMS (issue 18): after a CA's whole life on the
local cloud — created by a provisioning run, issuing two holders, a revocation with --rekey (a CRL
and a second generation signed through KMS, a replacement issued), a rotation — every CA private
key the emulator's KMS holds is looked for, in every encoding, in every file the run left (state
directory, outputs, the repository's files changed meanwhile), every stored document and secret
(all versions; flow executions and their histories), every log line and every result the commands
printed. And the keys were used only through the KMS key actions (AsymmetricSign for signatures):
no action that could export key material was called."""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import types
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]

#: the KMS key actions a run may make on a CA key: none returns key material
KEY_ACTIONS = {"CreateKey", "CreateAlias", "DescribeKey", "GetPublicKey", "AsymmetricSign", "AsymmetricVerify",
               "ListAliases", "ListAliasesByKeyId", "ListKeys", "ListKeyVersions", "GetKmsInstance",
               "ListKmsInstances", "ScheduleKeyDeletion"}
SECRET_ACTIONS = {"CreateSecret", "PutSecretValue", "GetSecretValue", "DescribeSecret", "ListSecrets", "DeleteSecret",
                  "RestoreSecret"}


def albmtls(*args: str) -> tuple[int, dict, str, str]:
    p = subprocess.run([sys.executable, "-m", "albmtls", *args, "--json"], cwd=REPO, capture_output=True, text=True,
                       timeout=300, env={k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")})
    try:
        doc = json.loads(p.stdout[p.stdout.find("{\n"):] if "{\n" in p.stdout else p.stdout)
    except ValueError:
        doc = {}
    return p.returncode, doc, p.stdout, p.stderr


def needles(priv: object) -> list[bytes]:
    """Every form the private key could leak in: DER (PKCS#8 and the traditional form), their base64
    (a PEM's body) and its first PEM line, the private scalar/exponent raw, in hex and base64."""
    assert isinstance(priv, (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey))
    out: list[bytes] = []
    for fmt in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        der = priv.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
        b64 = base64.b64encode(der)
        out += [der, b64, b64[:64], base64.urlsafe_b64encode(der)[:64]]
    if isinstance(priv, ec.EllipticCurvePrivateKey):
        secret = priv.private_numbers().private_value
    else:
        secret = priv.private_numbers().d
    raw = secret.to_bytes((secret.bit_length() + 7) // 8, "big")
    out += [raw, raw.hex().encode(), raw.hex().upper().encode(), base64.b64encode(raw), str(secret).encode()]
    return out


def test_no_ca_private_key_outside_the_local_kms(live_cloud, tmp_path):
    started = time.time()
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    doc = json.loads((REPO / "examples" / "provision.json").read_text())
    del doc["ca_identifier"]
    doc["ca"] = {"kind": "own", "name": "demo"}
    doc["clients"] = [{"common_name": "alice", "days": 30, "profile": "compat"},
                     {"common_name": "bob", "days": 30, "profile": "compat"}]
    inp = tmp_path / "own.json"
    inp.write_text(json.dumps(doc))
    texts: list[str] = []

    def run(*args: str) -> dict:
        code, d, out, err = albmtls(*args, "--endpoints-file", ep)
        texts.extend((out, err))
        assert code == 0, (d.get("error"), out[-2000:], err[-3000:])
        return d

    first = run("provision", "-f", str(inp), "--out", str(tmp_path / "out"))
    run("ca", "list")
    run("ca", "status", "--name", "demo")
    run("revoke", "--listener", "alb-demostd000000000001:443", "--cn", "alice", "--rekey", "--out",
        str(tmp_path / "rk"))
    end = min(c["not_after"] for c in first["client_certificates"])
    from shared.core.clock import parse_iso
    now = (parse_iso(end) - timedelta(days=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    run("rotate", "--now", now, "--out", str(tmp_path / "r"))
    run("status")

    # the CA keys, from the emulator's KMS (sealed there under its master key)
    from localcloud.products.kms import keys as kms_keys
    cloud = types.SimpleNamespace(store=live_cloud.store)
    privs = [kms_keys._unseal(cloud, k["KeyId"], v["sealed"])
             for k in live_cloud.store.list("kms.key") for v in k["versions"]]
    assert len(privs) == 4                         # root + issuing, two generations
    look = [n for p in privs for n in needles(p)]
    # the scan sees a key written out in any usual way (PEM, DER, a JWK-ish scalar): it can fail
    for p in privs:
        for blob in (p.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()),
                     p.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption()),
                     json.dumps({"d": needles(p)[-3].decode()}).encode()):
            assert any(n in blob for n in needles(p))

    # every stored document (secrets with all their versions, flow executions, listeners …) but the
    # KMS's own key documents, which hold the sealed material
    stored = [json.dumps(d, sort_keys=True).encode() for kind in live_cloud.store.kinds() if kind != "kms.key"
              for d in live_cloud.store.list(kind)]
    assert stored and any(b"ensure_own_ca" in s or b"EnsureOwnCa" in s for s in stored)   # histories included
    # every file the run left: the local cloud's state directory, the outputs, repository files changed since
    state = Path(live_cloud.endpoints()["state_dir"])
    files = [p for root in (state, tmp_path) for p in root.rglob("*") if p.is_file()]
    files += [p for p in REPO.rglob("*") if p.is_file() and p.stat().st_mtime >= started
              and not ({".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache"} & set(p.parts))]
    assert any(p.suffix == ".pfx" for p in files)
    blobs = [(str(p), p.read_bytes()) for p in files]
    blobs += [(f"stored[{i}]", s) for i, s in enumerate(stored)]
    blobs += [(f"output[{i}]", t.encode()) for i, t in enumerate(texts)]
    found = [(where, n[:12]) for where, blob in blobs for n in look if n in blob]
    assert found == [], f"a CA private key outside the local KMS: {found[:5]}"
    for t in texts:
        assert "PRIVATE KEY" not in t

    # the keys were used only through KMS key actions (no export exists; none was tried)
    kms_actions = {c["action"] for c in live_cloud.store.calls() if c["product"] == "kms"}
    assert kms_actions <= KEY_ACTIONS | SECRET_ACTIONS, kms_actions - KEY_ACTIONS - SECRET_ACTIONS
    assert "AsymmetricSign" in kms_actions

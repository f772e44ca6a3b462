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
    doc = json.loads((REPO / "examples" / "provision-own-ca.json").read_text())   # make run INPUT=…
    assert doc["ca"] == {"kind": "own", "name": "demo"} and "ca_identifier" not in doc
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


def test_rotation_renews_alice_under_the_own_ca(live_cloud, tmp_path, writes):
    """Rotation at +21 days renews alice under the own CA (signed through KMS, no PCA certificate):
    the renewed PFX works through the listener, the old one is retired (revoked into the CA's CRL)
    when asked, and status shows both."""
    from datetime import timedelta

    from shared.core.clock import parse_iso
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    code, doc, err = run_json("provision", "-f", str(own_input(tmp_path)), "--endpoints-file", ep,
                              "--out", str(tmp_path / "out"))
    assert code == 0, (doc, err[-3000:])
    [alice] = doc["client_certificates"]
    issued = parse_iso(alice["not_after"]) - timedelta(days=30)

    def iso(d: int) -> str:
        return (issued + timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ")

    code, r10, err = run_json("rotate", "--now", iso(10), "--endpoints-file", ep, "--out", str(tmp_path / "r"))
    assert code == 0, (r10, err[-2000:])
    assert r10["scan"]["due"] == 0 and r10["renewed"] == []
    writes.mark()
    code, r21, err = run_json("rotate", "--now", iso(21), "--endpoints-file", ep, "--out", str(tmp_path / "r"))
    assert code == 0, (r21, err[-2000:])
    [new] = r21["renewed"]
    assert new["common_name"] == "alice" and new["serial"] != alice["serial"]
    assert new["identifier"].startswith("own/demo/")
    assert not any(c["product"] == "pca" and c["action"].startswith("CreateClientCertificate")
                   for c in live_cloud.store.calls(writes.n))
    assert any(c["product"] == "kms" and c["action"] == "AsymmetricSign" for c in live_cloud.store.calls(writes.n))
    assert curl_status(live_cloud, Path(new["pfx_path"]), Path(new["password_path"]).read_text()) == "200"

    code, st, err = run_json("status", "--endpoints-file", ep)
    assert code == 0, err[-2000:]
    states = {r["serial"]: r["state"] for r in st["certificates"]}
    assert states[alice["serial"]] == "superseded" and states[new["serial"]] == "valid"

    code, rv, err = run_json("rotate", "--now", iso(22), "--revoke-old", "immediately", "--endpoints-file", ep,
                             "--out", str(tmp_path / "r"))
    assert code == 0, (rv, err[-2000:])
    assert [r["serial"] for r in rv["retired"]] == [alice["serial"]]
    code, st2, _ = run_json("status", "--endpoints-file", ep)
    assert {r["serial"]: r["state"] for r in st2["certificates"]}[alice["serial"]] == "revoked"


def _wait_status(live_cloud, pfx: Path | None, password: str | None, want_ok: bool, tries: int = 20) -> str:
    """curl until the answer is (or is not) 200 — the data plane reloads a listener's CA on change."""
    import time
    got = ""
    for _ in range(tries):
        got = curl_status(live_cloud, pfx, password)
        if (got == "200") == want_ok:
            return got
        time.sleep(0.5)
    return got


def test_revoke_rekey_keeps_the_other_holder_and_refuses_the_revoked_one(live_cloud, tmp_path):
    """revoke --rekey on one of two holders of an own CA: a new generation (new KMS keys, a new
    upload), bob's replacement issued by it, the listener moved to it — bob works through the
    listener with his replacement, alice's certificate is refused in the handshake."""
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    clients = [{"common_name": "alice", "days": 30, "profile": "compat"},
               {"common_name": "bob", "days": 30, "profile": "compat"}]
    code, doc, err = run_json("provision", "-f", str(own_input(tmp_path, clients)), "--endpoints-file", ep,
                              "--out", str(tmp_path / "out"))
    assert code == 0, (doc, err[-3000:])
    certs = {c["common_name"]: c for c in doc["client_certificates"]}
    alice_pfx, alice_pw = Path(certs["alice"]["pfx_path"]), Path(certs["alice"]["password_path"]).read_text()
    bob_old = Path(certs["bob"]["pfx_path"]), Path(certs["bob"]["password_path"]).read_text()
    assert curl_status(live_cloud, alice_pfx, alice_pw) == "200" and curl_status(live_cloud, *bob_old) == "200"
    old_ca = doc["listener"]["ca_certificate_id"]

    code, rv, err = run_json("revoke", "--listener", "alb-demostd000000000001:443", "--cn", "alice", "--rekey",
                             "--endpoints-file", ep, "--out", str(tmp_path / "rk"), "--reason", "key_compromise")
    assert code == 0, (rv, err[-3000:])
    assert rv["status"] == "succeeded"
    rk = rv["rekey"]
    [gone] = rv["clients"]           # no assumed listener refusal for an own CA: --rekey is the mechanism
    assert gone["action"] == "revoked" and not gone.get("listener_refuses_by")
    assert rk["ca"] == "demo" and rk["generation"] == 2 and rk["switched"] is True
    assert [c["common_name"] for c in rk["renewed"]] == ["bob"]
    assert rk["alb_ca_certificate_id"] and rk["alb_ca_certificate_id"] != old_ca
    # the listener trusts the new generation's upload
    code, ca, _ = run_json("ca", "status", "--name", "demo", "--endpoints-file", ep)
    assert ca["trusted_gen"] == ca["issuing_gen"] == 2 and ca["alb_ca_certificate_id"] == rk["alb_ca_certificate_id"]
    [lst] = [x for x in live_cloud.store.list("alb.listener") if x.get("ListenerPort") == 443]
    assert [c["CertificateId"] for c in lst["CaCertificates"]] == [rk["alb_ca_certificate_id"]]
    # bob works with his replacement; alice (revoked) and bob's old certificate are refused
    new_bob = rk["renewed"][0]
    assert _wait_status(live_cloud, Path(new_bob["pfx_path"]), Path(new_bob["password_path"]).read_text(),
                        True) == "200"
    assert _wait_status(live_cloud, alice_pfx, alice_pw, False) != "200"
    assert _wait_status(live_cloud, *bob_old, False) != "200"
    # status: alice revoked (in the own CA's revocation list), bob valid on generation 2
    code, st, _ = run_json("status", "--endpoints-file", ep)
    by = {r["serial"]: r for r in st["certificates"]}
    assert by[certs["alice"]["serial"]]["state"] == "revoked"
    assert by[new_bob["serial"]]["state"] == "valid"
    # a second run writes nothing more: alice is revoked already, bob already on generation 2
    code, again, err = run_json("revoke", "--listener", "alb-demostd000000000001:443", "--cn", "alice", "--rekey",
                                "--endpoints-file", ep, "--out", str(tmp_path / "rk2"))
    assert code == 0, (again, err[-3000:])
    assert again["rekey"]["generation"] == 2 and again["rekey"]["renewed"] == [] and again["writes"] == 0


def test_doctor_checks_the_own_ca_keys_and_upload(live_cloud, tmp_path):
    """albmtls doctor --check own-ca: the KMS instance, each own CA's keys (spec, SIGN/VERIFY,
    enabled, the certificate's key) and its upload; a disabled key or a missing instance fails with
    what to change."""
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    code, ca, err = run_json("ca", "create", "--name", "demo", "--endpoints-file", ep)
    assert code == 0, err[-2000:]
    code, doc, err = run_json("doctor", "--check", "own-ca", "--endpoints-file", ep)
    assert code == 0, (doc, err[-2000:])
    [f] = [c for c in doc["checks"] if c["check"] == "own-ca"]
    assert f["result"] == "ok" and "own CA demo: G1 issues, listeners trust G1" in f["detail"]
    rows = {r["assumption"]: r for r in doc["assumptions"]}
    assert rows["kms:behaviour:ProtectionLevel"]["result"] == "confirmed"
    # the issuing key disabled by hand: the doctor says which key and what is wrong
    key = ca["generations"][0]["issuing_key_id"]
    doc_key = live_cloud.store.get("kms.key", key)
    live_cloud.store.put("kms.key", key, {**doc_key, "KeyState": "Disabled"})
    code, doc, _ = run_json("doctor", "--check", "own-ca", "--endpoints-file", ep)
    [f] = [c for c in doc["checks"] if c["check"] == "own-ca"]
    assert code == 1 and f["result"] == "fail" and f"{key} is Disabled" in f["fix"], f


def test_ca_switch_waits_for_holders_then_moves_the_listener_with_now(live_cloud, tmp_path, writes):
    """`albmtls ca switch` (issue 18): after a rekey without --now the switch is pending and alice
    still holds only a generation-1 certificate — the command names her and writes nothing; with
    --now the record trusts generation 2 and the listener follows (its CaCertificates read back from
    the ALB listener are generation 2's upload); a second run writes nothing."""
    import logging
    import uuid

    from shared.adapters.retry import Deadline
    from shared.core.settings import Settings
    from shared.steps import ownca as steps
    from shared.steps.context import StepContext
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    code, doc, err = run_json("provision", "-f", str(own_input(tmp_path)), "--endpoints-file", ep,
                              "--out", str(tmp_path / "out"))
    assert code == 0, (doc, err[-3000:])
    old_ca = doc["listener"]["ca_certificate_id"]
    # a new generation that issues from now on, listeners still on generation 1: a switch pending
    ctx = StepContext(step="ownca", settings=Settings.load(), clock=live_cloud.clock,
                      logger=logging.getLogger("albmtls.test"), deadline=Deadline(120),
                      request_id=f"local-{uuid.uuid4().hex}")
    v = steps.rekey(ctx, "albmtls", "demo")
    assert (v.issuing_gen, v.trusted_gen, v.switch_pending) == (2, 1, True)

    writes.mark()
    p = albmtls("ca", "switch", "--name", "demo", "--endpoints-file", ep)
    text = p.stdout + p.stderr                       # the rich console writes to stderr
    assert p.returncode == 0, text[-3000:]
    assert ("holders on generation 2: 0 of 1, switched 0; waiting: alb-demostd000000000001-443/alice: no certificate "
            "of the new generation yet") in text, text
    assert "not switched" in text and "writes 0" in text, text
    code, sw, err = run_json("ca", "switch", "--name", "demo", "--endpoints-file", ep)
    assert code == 0, err[-3000:]
    assert sw["switched"] is False and sw["switch_pending"] is True and sw["writes"] == 0
    assert sw["holders"] == {"total": 1, "on_issuing_generation": 0, "switched": 0,
                             "waiting": ["alb-demostd000000000001-443/alice: no certificate of the new generation yet"]}
    assert writes.since() == []
    [lst] = [x for x in live_cloud.store.list("alb.listener") if x.get("ListenerPort") == 443]
    assert [c["CertificateId"] for c in lst["CaCertificates"]] == [old_ca]

    code, sw, err = run_json("ca", "switch", "--name", "demo", "--now", "--endpoints-file", ep)
    assert code == 0, (sw, err[-3000:])
    assert sw["switched"] is True and sw["trusted_gen"] == sw["issuing_gen"] == 2 and sw["switch_pending"] is False
    assert sw["listeners"] == ["alb-demostd000000000001-443"] and sw["listener_writes"] >= 1
    new_ca = sw["alb_ca_certificate_id"]
    assert new_ca and new_ca != old_ca
    [lst] = [x for x in live_cloud.store.list("alb.listener") if x.get("ListenerPort") == 443]
    assert [c["CertificateId"] for c in lst["CaCertificates"]] == [new_ca]
    code, ca, _ = run_json("ca", "status", "--name", "demo", "--endpoints-file", ep)
    assert ca["trusted_gen"] == 2 and ca["alb_ca_certificate_id"] == new_ca

    writes.mark()
    code, again, err = run_json("ca", "switch", "--name", "demo", "--now", "--endpoints-file", ep)
    assert code == 0, err[-3000:]
    assert again["switched"] is False and again["writes"] == 0 and again["listeners"] == sw["listeners"]
    assert again["repaired"] is False and sw["repaired"] is False
    assert writes.since() == []

    # another writer puts the listener back on generation 1 (the console): the next switch repairs it
    # and says so — it said "nothing pending … writes 1 (listeners 1)"
    [lst] = [x for x in live_cloud.store.list("alb.listener") if x.get("ListenerPort") == 443]
    lst["CaCertificates"] = [{**lst["CaCertificates"][0], "CertificateId": old_ca}]
    live_cloud.store.put("alb.listener", lst["ListenerId"], lst)
    code, fixed, err = run_json("ca", "switch", "--name", "demo", "--endpoints-file", ep)
    assert code == 0 and fixed["repaired"] is True and fixed["switched"] is False and fixed["listener_writes"] >= 1
    [lst] = [x for x in live_cloud.store.list("alb.listener") if x.get("ListenerPort") == 443]
    assert [c["CertificateId"] for c in lst["CaCertificates"]] == [new_ca]
    p = albmtls("ca", "switch", "--name", "demo", "--endpoints-file", ep)
    assert "nothing pending" in " ".join((p.stdout + p.stderr).split()), p.stdout + p.stderr
    # status shows the own CA listener's CA end: its issuing sub-CA's (it showed "-")
    code, st, err = run_json("status", "--endpoints-file", ep)
    [row] = [x for x in st["listeners"] if x["listener_key"] == "alb-demostd000000000001-443"]
    code, ca, _ = run_json("ca", "status", "--name", "demo", "--endpoints-file", ep)
    [g2] = [g for g in ca["generations"] if g["gen"] == 2]
    assert row["ca_not_after"] == g2["issuing_not_after"], (row, g2)


def test_ca_retire_refuses_while_used_then_schedules_the_old_keys(live_cloud, tmp_path, writes):
    """`albmtls ca retire` (issue 18): generation 1 is refused (CA_IN_USE, nothing written) while the
    listener trusts it — `ca status` names that listener per generation — and, after the switch,
    while alice's current certificate is of it (named); once alice holds a generation-2 certificate
    its last CRL is published valid until its end, its upload deleted, both keys PendingDeletion (KMS
    then refuses AsymmetricSign with them, as the real one does), `ca status` and `ca list` say
    retired, and a second run writes nothing."""
    import logging
    import uuid

    from cryptography import x509

    from shared.adapters.kmskeys import KmsKeys
    from shared.adapters.retry import Deadline
    from shared.core.errors import AlbMtlsError
    from shared.core.settings import Settings
    from shared.steps import ownca as steps
    from shared.steps.context import StepContext
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    lk = "alb-demostd000000000001-443"
    code, doc, err = run_json("provision", "-f", str(own_input(tmp_path)), "--endpoints-file", ep,
                              "--out", str(tmp_path / "out"))
    assert code == 0, (doc, err[-3000:])

    def ctx() -> StepContext:
        return StepContext(step="ownca", settings=Settings.load(), clock=live_cloud.clock,
                           logger=logging.getLogger("albmtls.test"), deadline=Deadline(120),
                           request_id=f"local-{uuid.uuid4().hex}")
    steps.rekey(ctx(), "albmtls", "demo")
    code, st, _ = run_json("ca", "status", "--name", "demo", "--endpoints-file", ep)
    g1, g2 = st["generations"]
    assert (g1["listeners"], g1["holders"], g1["key_state"]) == ([lk], 1, "Enabled")
    assert (g2["listeners"], g2["holders"]) == ([], 0)

    writes.mark()
    code, out, _ = run_json("ca", "retire", "--name", "demo", "--generation", "1", "--endpoints-file", ep)
    assert code == 2 and out["error"]["code"] == "CA_IN_USE" and "ca switch" in out["error"]["message"], out
    code, out, _ = run_json("ca", "retire", "--name", "demo", "--generation", "2", "--endpoints-file", ep)
    assert code == 2 and out["error"]["code"] == "CA_IN_USE" and "issues" in out["error"]["message"], out
    code, out, _ = run_json("ca", "retire", "--name", "demo", "--generation", "7", "--endpoints-file", ep)
    assert code == 2 and out["error"]["code"] == "INVALID_INPUT" and "has: 1, 2" in out["error"]["message"], out
    code, sw, err = run_json("ca", "switch", "--name", "demo", "--now", "--endpoints-file", ep)
    assert code == 0 and sw["switched"], err[-3000:]
    writes.mark()
    code, out, _ = run_json("ca", "retire", "--name", "demo", "--generation", "1", "--endpoints-file", ep)
    assert code == 2 and out["error"]["code"] == "CA_IN_USE", out
    assert f"{lk}/alice" in out["error"]["message"] and "renew" in out["error"]["message"], out
    assert writes.since() == []

    # alice gets a generation-2 certificate; now nothing uses generation 1
    code, doc, err = run_json("provision", "-f", str(own_input(tmp_path, [{"common_name": "alice",
                                                                           "force_new": True}])),
                              "--endpoints-file", ep, "--out", str(tmp_path / "out2"))
    assert code == 0, (doc, err[-3000:])
    rec = steps.issuer(ctx(), "albmtls", "demo").record(fresh=True)
    old = rec.generation(1)
    p = albmtls("ca", "retire", "--name", "demo", "--generation", "1", "--endpoints-file", ep)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert "retired generation 1 of own CA demo" in p.stdout and "PendingDeletion" in p.stdout, p.stdout
    for key in (old.root_key, old.issuing_key):
        doc = live_cloud.store.get("kms.key", key.key_id)
        assert doc["KeyState"] == "PendingDeletion" and doc["DeleteDate"]
        with pytest.raises(AlbMtlsError) as info:
            KmsKeys(ctx().call, settings=Settings.load()).sign_digest(key.key_id, key.version_id, "ECDSA_SHA_256",
                                                                      b"\0" * 32)
        assert "PendingDeletion" in (info.value.cloud_code or ""), info.value.details
    assert live_cloud.store.get("cas.whcert", old.uploaded) is None
    crl = x509.load_der_x509_crl(steps.issuer(ctx(), "albmtls", "demo").read_crl(1))
    assert crl.is_signature_valid(x509.load_pem_x509_certificate(old.issuing_pem.encode()).public_key())
    assert crl.next_update_utc.isoformat().replace("+00:00", "Z") == old.issuing_not_after

    code, st, _ = run_json("ca", "status", "--name", "demo", "--endpoints-file", ep)
    g1, g2 = st["generations"]
    assert "retired" in g1["roles"] and g1["key_state"] == "PendingDeletion" and g1["keys_delete_date"]
    assert (g2["listeners"], g2["holders"]) == ([lk], 1)
    p = albmtls("ca", "list", "--endpoints-file", ep)
    [line] = [ln for ln in p.stdout.splitlines() if ln.startswith("demo ")]
    assert "issuing g2" in line and "trusted g2" in line and "2 generation(s), 1 retired" in line, p.stdout

    writes.mark()
    code, again, _ = run_json("ca", "retire", "--name", "demo", "--generation", "1", "--endpoints-file", ep)
    assert code == 0 and again["already"] is True and again["writes"] == 0, again
    assert writes.since() == []


def test_name_constraints_refuse_a_client_outside_before_any_write(live_cloud, tmp_path, writes):
    """`ca create --permitted-dns example.test`: the sub-CA says so in `ca create`; a provisioning run
    whose client has a DNS SAN outside is refused by the preflight (NAME_NOT_PERMITTED naming
    clients[0].sans[0] and the permitted names) with zero writes — for the existing CA (the CA chain's
    names_permitted) and for one the run is to create with `ca.permitted_dns`."""
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    p = albmtls("ca", "create", "--name", "demo", "--permitted-dns", "example.test", "--endpoints-file", ep)
    assert p.returncode == 0, (p.stdout + p.stderr)[-3000:]
    assert "name constraints: DNS example.test" in p.stdout, p.stdout
    bad = [{"common_name": "alice", "sans": ["alice.example.test", "alice.other.test"]}]
    for ca in ({"kind": "own", "name": "demo"}, {"kind": "own", "name": "fresh", "permitted_dns": ["example.test"]}):
        path = own_input(tmp_path, bad)
        doc = json.loads(path.read_text())
        doc["ca"] = ca
        path.write_text(json.dumps(doc))
        writes.mark()
        code, out, err = run_json("provision", "-f", str(path), "--endpoints-file", ep, "--out", str(tmp_path / "o"))
        assert code != 0, out
        error = out.get("error") or {}
        assert error.get("code") == "NAME_NOT_PERMITTED", (out, err[-2000:])
        assert "alice.other.test" in error["message"] and "example.test" in error["message"], error
        assert "(clients[0].sans[1])" in error["message"], error
        assert [w for w in writes.since() if w["product"] != "fnf"] == [], writes.since()
    code, ok, err = run_json("provision", "-f", str(own_input(tmp_path, [{"common_name": "alice",
                                                                          "sans": ["alice.example.test"]}])),
                             "--endpoints-file", ep, "--out", str(tmp_path / "ok"))
    assert code == 0, (ok, err[-3000:])


def _mails(to: str) -> list[dict]:
    code, doc, err = run_json("messages", "--endpoints-file", os.environ["ALBMTLS_ENDPOINTS_FILE"])
    assert code == 0, err[-2000:]
    return [m for m in doc["messages"] if m["service"] == "smtp" and to in (m.get("to") or [])]


def _download(mail: dict, password: str, dest: Path) -> Path:
    import re
    import urllib.error
    import urllib.parse
    import urllib.request
    found = re.search(r"(http://127\.0\.0\.1:\d+/d/[A-Za-z0-9_.-]+)", mail["text"])
    assert found is not None, mail["text"]
    data = urllib.parse.urlencode({"password": password, "confirm": password, "profile": "modern"}).encode()
    with urllib.request.urlopen(urllib.request.Request(found.group(1), data=data), timeout=30) as r:
        assert r.status == 200
        dest.write_bytes(r.read())
    return dest


def test_rekey_replacements_go_by_link_and_the_listener_switches_after_the_download(live_cloud, tmp_path):
    """revoke --rekey under an own CA (issues 15 point 2, 18 point 3): alice (a person) and bob; bob is
    revoked with --rekey. Alice's replacement is delivered as a renewal is — a one-time download link
    by email, her PFX never exported to --out — and the listener keeps trusting generation 1 while she
    has not downloaded it (the command and `ca switch` say who it waits for); once she downloaded, the
    next run (the daily rotation) moves the listener: her new PFX gets HTTP 200, bob's old one is
    refused."""
    ep = os.environ["ALBMTLS_ENDPOINTS_FILE"]
    clients = [{"common_name": "alice", "holder": {"kind": "person", "name": "Alice Example",
                                                   "email": "alice@example.test"}},
               {"common_name": "bob"}]
    code, doc, err = run_json("provision", "-f", str(own_input(tmp_path, clients)), "--endpoints-file", ep,
                              "--out", str(tmp_path / "out"))
    assert code == 0, (doc, err[-3000:])
    certs = {c["common_name"]: c for c in doc["client_certificates"]}
    bob_old = Path(certs["bob"]["pfx_path"]), Path(certs["bob"]["password_path"]).read_text()
    assert "pfx_path" not in certs["alice"]
    old_ca = doc["listener"]["ca_certificate_id"]
    assert len(_mails("alice@example.test")) == 1

    code, rv, err = run_json("revoke", "--listener", "alb-demostd000000000001:443", "--cn", "bob", "--rekey",
                             "--endpoints-file", ep, "--out", str(tmp_path / "rk"), "--reason", "key_compromise")
    assert code == 0 and rv["status"] == "succeeded", (rv, err[-3000:])
    rk = rv["rekey"]
    assert rk["generation"] == 2 and rk["renewed_on"] == ["alb-demostd000000000001-443/alice"]
    assert "pfx_path" not in rk["renewed"][0] and not (tmp_path / "rk" / "alice.pfx").exists()
    [sent] = rk["deliveries"]
    assert sent["action"] == "link_sent" and sent["holder"] == "Alice Example"
    assert rk["switched"] is False and rk["waiting"] and "alice: not downloaded yet" in rk["waiting"][0], rk
    mails = _mails("alice@example.test")
    assert len(mails) == 2 and mails[-1]["verified"] and rk["renewed"][0]["serial"][:16] in mails[-1]["text"]
    [lst] = [x for x in live_cloud.store.list("alb.listener") if x.get("ListenerPort") == 443]
    assert [c["CertificateId"] for c in lst["CaCertificates"]] == [old_ca]      # not switched yet

    # the next run before the download: nothing moves
    code, sw, err = run_json("ca", "switch", "--name", "demo", "--endpoints-file", ep)
    assert code == 0 and sw["switched"] is False and sw["writes"] == 0, (sw, err[-2000:])
    assert sw["holders"]["switched"] == 0 and "not downloaded" in sw["holders"]["waiting"][0]

    alice_new = _download(mails[-1], "Corr3ct-Horse-Battery", tmp_path / "alice.p12")
    # the daily rotation is the next run: it switches the CA and moves its listener
    code, rot, err = run_json("rotate", "--endpoints-file", ep, "--out", str(tmp_path / "rot"))
    assert code == 0, (rot, err[-3000:])
    assert rot["own_ca_switches"] == [{"ca": "demo", "switched": True, "waiting": [],
                                       "listeners": ["alb-demostd000000000001-443"],
                                       "writes": rot["own_ca_switches"][0]["writes"]}], rot
    code, st, _ = run_json("ca", "status", "--name", "demo", "--endpoints-file", ep)
    new_ca = st["alb_ca_certificate_id"]
    assert st["trusted_gen"] == 2 and new_ca and new_ca != old_ca
    [lst] = [x for x in live_cloud.store.list("alb.listener") if x.get("ListenerPort") == 443]
    assert [c["CertificateId"] for c in lst["CaCertificates"]] == [new_ca]
    assert _wait_status(live_cloud, alice_new, "Corr3ct-Horse-Battery", True) == "200"
    assert _wait_status(live_cloud, *bob_old, False) != "200"

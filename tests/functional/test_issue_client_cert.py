"""Functional: ``albmtls-issue-client-cert`` against the local cloud (PCA + KMS through the real SDKs)."""
from __future__ import annotations

import base64
import copy
import json
import logging
import os
import subprocess
import uuid
from datetime import timedelta

import pytest

from shared.adapters.retry import Deadline
from shared.core import logs as shared_logs
from shared.core.clock import SystemClock
from shared.core.settings import Settings
from shared.policy import ids
from shared.policy.contracts import ProvisionInput
from shared.policy.validation import decode
from shared.steps import issuance
from shared.steps.context import StepContext

FN = "albmtls-issue-client-cert"


def _event(inp: dict, execution: str | None = "exec-1") -> dict:
    ev = {"input": inp, "attempt": 0}
    if execution:
        ev["execution_name"] = execution
    return ev


def _ctx(execution: str | None = None) -> StepContext:
    return StepContext(step="test", settings=Settings.load(), clock=SystemClock(),
                       logger=logging.getLogger("albmtls.test"), deadline=Deadline(30),
                       request_id=f"local-{uuid.uuid4().hex}", execution_name=execution)


def _load(inp: dict, cn: str) -> tuple[bytes, str]:
    return issuance.load_client_pfx(_ctx(), decode(ProvisionInput, inp), cn)


def _openssl_info(pfx: bytes, password: str, tmp_path) -> str:
    path = tmp_path / f"{uuid.uuid4().hex}.p12"
    path.write_bytes(pfx)
    env = dict(os.environ, PFX_PW=password)
    out = subprocess.run(["openssl", "pkcs12", "-info", "-in", str(path), "-passin", "env:PFX_PW", "-nokeys"],
                         capture_output=True, text=True, env=env, timeout=10)
    assert out.returncode == 0, out.stderr[-500:]
    return out.stdout + out.stderr


def _kinds(writes) -> list[tuple[str, str]]:
    return [(c["product"], c["action"]) for c in writes.since()]


def test_issue_compat_then_reuse(live_cloud, invoke, writes, demo_input, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    r = invoke(FN, _event(demo_input))
    assert r["status"] == "ok", r
    (cert,) = r["client_certificates"]
    assert cert["common_name"] == "alice" and cert["reused"] is False
    assert cert["pfx_secret"] == "albmtls/alb-demostd000000000001-443/alice/pfx"
    assert cert["password_secret"] == "albmtls/alb-demostd000000000001-443/alice/password"
    assert cert["pfx_version"] == cert["serial"]
    # the lifetime is exactly `days` from the (backdated) notBefore, not days + the backdate
    from shared.core.clock import parse_iso
    assert parse_iso(cert["not_after"]) - parse_iso(cert["not_before"]) == timedelta(days=30)
    kinds = _kinds(writes)
    assert r["writes"] == len(kinds) == 4
    assert kinds.count(("pca", "CreateClientCertificateWithCsr")) == 1

    pfx, password = _load(demo_input, "alice")
    info = _openssl_info(pfx, password, tmp_path)
    assert "MAC: sha1" in info
    assert "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" in info
    assert "Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC" in info
    assert info.count("-----BEGIN CERTIFICATE-----") == 2          # leaf + sub-CA
    assert "alb-mtls Demo Client Sub CA" in info and "CN = alice" in info
    from shared.policy import pki
    pinfo = pki.verify_pfx(pfx, password, "compat")
    assert pinfo.key_matches_leaf and pinfo.issuing_ca_present
    assert pinfo.leaf_fingerprint_sha256 == cert["fingerprint_sha256"]

    # second call: reused, zero writes
    writes.mark()
    r2 = invoke(FN, _event(demo_input))
    assert r2["status"] == "ok" and r2["writes"] == 0 and writes.since() == []
    assert r2["client_certificates"][0]["reused"] is True
    assert r2["client_certificates"][0]["serial"] == cert["serial"]
    # a different execution without force_new reuses too
    r3 = invoke(FN, _event(demo_input, "exec-2"))
    assert r3["writes"] == 0 and r3["client_certificates"][0]["reused"] is True and writes.since() == []

    # no secret anywhere in results or logs
    captured = capsys.readouterr()
    text = json.dumps([r, r2, r3]) + captured.out + captured.err + "\n".join(
        rec.getMessage() + json.dumps(shared_logs.redact(rec.__dict__), default=str) for rec in caplog.records)
    b64 = base64.b64encode(pfx).decode()
    assert "PRIVATE KEY" not in text
    assert password not in text
    assert b64[:60] not in text and b64[-60:] not in text


def test_modern_profile(live_cloud, invoke, demo_input, tmp_path):
    inp = copy.deepcopy(demo_input)
    inp["clients"] = [{"common_name": "bob", "profile": "modern", "sans": ["bob@example.test"]}]
    r = invoke(FN, _event(inp))
    assert r["status"] == "ok", r
    pfx, password = _load(inp, "bob")
    info = _openssl_info(pfx, password, tmp_path)
    assert "MAC: sha256" in info
    assert "AES-256-CBC" in info and "3DES" not in info and "TripleDES" not in info
    from shared.policy import pki
    leaf = pki.verify_pfx(pfx, password, "modern")
    assert leaf.leaf_common_name == "bob"


def test_force_new_issues_new_serial_and_versions(live_cloud, invoke, writes, demo_input):
    first = invoke(FN, _event(demo_input))["client_certificates"][0]
    inp = copy.deepcopy(demo_input)
    inp["clients"][0]["force_new"] = True
    writes.mark()
    r = invoke(FN, _event(inp, "exec-force"))
    assert r["status"] == "ok", r
    c = r["client_certificates"][0]
    assert c["reused"] is False and c["serial"] != first["serial"] and c["identifier"] != first["identifier"]
    assert c["pfx_version"] == c["serial"]
    kinds = _kinds(writes)
    assert r["writes"] == len(kinds) == 4
    assert kinds.count(("kms", "PutSecretValue")) == 3
    pfx, password = _load(demo_input, "alice")
    from shared.policy import pki
    assert pki.verify_pfx(pfx, password, "compat").leaf_fingerprint_sha256 == c["fingerprint_sha256"]
    # the same execution again (a CloudFlow retry): force_new does not issue twice
    writes.mark()
    again = invoke(FN, _event(inp, "exec-force"))
    assert again["writes"] == 0 and again["client_certificates"][0]["serial"] == c["serial"]
    assert writes.since() == []


def test_days_beyond_ca_fails_without_writes(live_cloud, invoke, writes, demo_input):
    inp = copy.deepcopy(demo_input)
    inp["clients"] = [{"common_name": "carol"}, {"common_name": "dave", "days": 3650}]
    r = invoke(FN, _event(inp))
    assert r["status"] == "failed"
    assert r["error"]["code"] == "CA_EXPIRES_TOO_SOON"
    assert r["error"]["field"] == "clients[1].days"
    assert "dave" in r["error"]["message"]
    assert writes.since() == []


def test_lost_response_is_not_issued_twice(live_cloud, invoke, writes, demo_input):
    live_cloud.faults.configure({"rules": [{"kind": "drop_after", "product": "pca",
                                            "action": "CreateClientCertificateWithCsr", "remaining": 1}]})
    r = invoke(FN, _event(demo_input, "exec-lost"))
    assert r["status"] == "ok", r
    kinds = _kinds(writes)
    assert kinds.count(("pca", "CreateClientCertificateWithCsr")) == 1   # the retry met the duplicate
    assert r["writes"] == len(kinds) == 4
    pfx, password = _load(demo_input, "alice")
    from shared.policy import pki
    assert pki.verify_pfx(pfx, password, "compat").leaf_fingerprint_sha256 == \
        r["client_certificates"][0]["fingerprint_sha256"]


def test_custom_identifier_taken_by_a_lost_key(live_cloud, invoke, demo_input):
    """A certificate issued under this execution's identifier by an attempt that died before storing
    it (its key is gone) is skipped: the next identifier is used."""
    from localcloud import pki as lpki
    from localcloud.products import pca as lpca
    from localcloud.seed import DEMO
    from shared.policy.contracts import ProvisionInput as PI

    inp = decode(PI, demo_input)
    taken = ids.custom_identifier(inp.listener_key, "exec-crash", "alice", 0)
    csr, _ = lpki.make_csr("alice")
    from cryptography.hazmat.primitives import serialization
    now = live_cloud.clock.now()
    from datetime import timedelta
    lpca.issue_client_certificate(live_cloud, DEMO["pca_sub_identifier"],
                                  csr.public_bytes(serialization.Encoding.PEM).decode(), not_before=now,
                                  not_after=now + timedelta(days=30), custom_identifier=taken)
    r = invoke(FN, _event(demo_input, "exec-crash"))
    assert r["status"] == "ok", r
    assert r["client_certificates"][0]["reused"] is False
    pfx, password = _load(demo_input, "alice")
    from shared.policy import pki
    assert pki.verify_pfx(pfx, password, "compat").key_matches_leaf


def test_preflight_ca(live_cloud, demo_input):
    from localcloud.seed import DEMO
    from shared.core.errors import AlbMtlsError

    inp = decode(ProvisionInput, demo_input)
    out = issuance.preflight_ca(_ctx(), inp)
    assert out["ca_identifier"] == DEMO["pca_sub_identifier"]
    assert out["key_family"] == "EC" and out["leaf_key_algorithm"] == "EC_P256"
    assert out["clients"][0]["common_name"] == "alice" and out["subscription_end"]

    bad = decode(ProvisionInput, {**demo_input, "ca_identifier": "0123456789abcdef0123456789abcdef"})
    with pytest.raises(AlbMtlsError) as info:
        issuance.preflight_ca(_ctx(), bad)
    assert info.value.code == "CA_NOT_FOUND"

    root = decode(ProvisionInput, {**demo_input, "ca_identifier": DEMO["pca_root_identifier"]})
    with pytest.raises(AlbMtlsError) as info:
        issuance.preflight_ca(_ctx(), root)
    assert info.value.field == "ca_identifier"

    long = decode(ProvisionInput, {**demo_input, "clients": [{"common_name": "eve", "days": 400}]})
    with pytest.raises(AlbMtlsError) as info:
        issuance.preflight_ca(_ctx(), long)
    e = info.value
    assert e.code == "CA_EXPIRES_TOO_SOON" and e.field == "clients[0].days" and "eve" in e.message
    assert "subscription" in e.message


def test_custom_identifier_shape():
    ci = ids.custom_identifier("alb-demostd000000000001-443", "exec-1", "alice")
    assert len(ci) <= 64 and ci.startswith("albmtls-alb-demostd000000000001-443-")
    assert ids.custom_identifier_matches_listener(ci, "alb-demostd000000000001-443")
    assert not ids.custom_identifier_matches_listener(ci, "alb-demostd000000000001-8443")
    assert ci != ids.custom_identifier("alb-demostd000000000001-443", "exec-1", "alice", 1)
    long_key = "alb-" + "x" * 60 + "-443"
    ci2 = ids.custom_identifier(long_key, "exec-1", "alice")
    assert len(ci2) <= 64 and ids.custom_identifier_matches_listener(ci2, long_key)
    assert ids.parse_custom_identifier("someone-else") is None


def test_rsa_sub_ca_gives_rsa_2048_leaf(live_cloud, invoke, demo_input):
    from localcloud.products import pca as lpca
    from localcloud.seed import DEMO
    from shared.policy import pki

    rsa_id = "5b1e0c7d9a2f4e6b8c3d1a0f9e7b5c33"
    lpca.create_sub_ca(live_cloud, rsa_id, DEMO["pca_root_identifier"], "alb-mtls RSA Sub CA", key_alg="RSA", years=2)
    inp = {**demo_input, "ca_identifier": rsa_id, "clients": [{"common_name": "rsa-user", "days": 10}]}
    r = invoke(FN, _event(inp))
    assert r["status"] == "ok", r
    pfx, password = _load(inp, "rsa-user")
    info = pki.verify_pfx(pfx, password, "compat")
    assert info.key_algorithm == pki.KeyAlgorithm.RSA_2048


def test_revoked_or_changed_certificate_is_replaced(live_cloud, invoke, writes, demo_input):
    from shared.adapters import pca as pca_api

    first = invoke(FN, _event(demo_input))["client_certificates"][0]
    ctx = _ctx()
    assert ctx.adapter(pca_api.Pca).revoke_client_certificate(first["identifier"]) is True
    assert ctx.adapter(pca_api.Pca).revoke_client_certificate(first["identifier"]) is False      # idempotent
    from alibabacloud_cas20200630 import models as pm
    (st,) = ctx.client("pca").describe_client_certificate_status(
        pm.DescribeClientCertificateStatusRequest(identifier=first["identifier"])).body.certificate_status
    assert st.status == "revoked" and st.serial_number.lower().lstrip("0") == first["serial"]
    second = invoke(FN, _event(demo_input, "exec-2"))["client_certificates"][0]
    assert second["reused"] is False and second["serial"] != first["serial"]
    # a SAN change needs a new certificate as well
    inp = copy.deepcopy(demo_input)
    inp["clients"][0]["sans"] = ["alice.example.test"]
    third = invoke(FN, _event(inp, "exec-3"))["client_certificates"][0]
    assert third["reused"] is False and third["serial"] != second["serial"]
    # the scan recognises this listener's certificates
    ours = [c for c in ctx.adapter(pca_api.Pca).list_client_certificates(page_size=2)
            if ids.custom_identifier_matches_listener(c.custom_identifier, "alb-demostd000000000001-443")]
    assert {c.identifier for c in ours} >= {first["identifier"], second["identifier"], third["identifier"]}


def test_secrets_reading_back_otherwise_is_drift_naming_secret_written_and_read(live_cloud, invoke, demo_input,
                                                                                monkeypatch):
    """The meta version never lands (another writer, a lost write): DRIFT_AFTER_APPLY names the secret,
    the version written and what was read, instead of a generic CLOUD_ERROR."""
    from shared.adapters import kms as kms_api

    real = kms_api.Kms.store_version

    def lossy(self, name, *args, **kw):
        return 1 if name.endswith("/meta") else real(self, name, *args, **kw)

    monkeypatch.setattr(kms_api.Kms, "store_version", lossy)
    r = invoke(FN, _event(demo_input))
    assert r["status"] == "failed" and r["error"]["code"] == "DRIFT_AFTER_APPLY", r
    assert "/alice/meta ACSCurrent: wrote version" in r["error"]["message"]
    assert "read nothing" in r["error"]["message"]

"""Functional: ``albmtls-issue-client-cert`` against the local cloud (PCA + KMS through the real SDKs).

The step places its order in the issuing lane (``albmtls-issue``, run by the local CloudFlow
executor) and follows it: the certificates are issued by ``albmtls-issuer``. Writes per new
certificate: one ``CreateClientCertificateWithCsr``, the three secrets it stores, and one key-log
write per order batch (``shared.policy.keylog``)."""
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


@pytest.fixture(autouse=True)
def _lane(lane):
    """Every test here runs with the lane's flow deployed."""


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
    assert r["writes"] == len(kinds) == 5       # issue + password, PFX, record + the order's key log
    assert kinds.count(("pca", "CreateClientCertificateWithCsr")) == 1
    assert kinds.count(("kms", "CreateSecret")) == 4
    assert not any(a == "DescribeClientCertificate" for _, a, *_ in
                   [(c["product"], c["action"]) for c in live_cloud.store.calls(0)])  # the answer had the PEM

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

    # the same execution again (a CloudFlow retry of the step): the same order, its same result, no write
    writes.mark()
    r2 = invoke(FN, _event(demo_input))
    assert r2["status"] == "ok" and writes.since() == []
    assert r2["client_certificates"] == r["client_certificates"] and r2["order"] == r["order"] == "exec-1"
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
    assert r["writes"] == len(kinds) == 5
    assert kinds.count(("kms", "PutSecretValue")) == 4          # the three secrets' versions + the key log
    pfx, password = _load(demo_input, "alice")
    from shared.policy import pki
    assert pki.verify_pfx(pfx, password, "compat").leaf_fingerprint_sha256 == c["fingerprint_sha256"]
    # the same execution again (a CloudFlow retry): force_new does not issue twice
    writes.mark()
    again = invoke(FN, _event(inp, "exec-force"))
    assert again["client_certificates"][0]["serial"] == c["serial"]
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
    assert r["writes"] == len(kinds) == 5
    pfx, password = _load(demo_input, "alice")
    from shared.policy import pki
    assert pki.verify_pfx(pfx, password, "compat").leaf_fingerprint_sha256 == \
        r["client_certificates"][0]["fingerprint_sha256"]


def test_custom_identifier_taken_by_a_lost_key(live_cloud, invoke, writes, demo_input):
    """A certificate issued under this order's identifier for a key that is not in the key log (it
    cannot happen with the log; a foreign certificate) is skipped: the next identifier is used, and
    nothing is revoked — nobody else's certificate is touched."""
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
    writes.mark()
    r = invoke(FN, _event(demo_input, "exec-crash"))
    assert r["status"] == "ok", r
    assert r["client_certificates"][0]["reused"] is False
    assert ("pca", "CreateRevokeClientCertificate") not in _kinds(writes)
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

    real = kms_api.Kms.write_version

    def lossy(self, name, *args, **kw):
        return True if name.endswith("/meta") else real(self, name, *args, **kw)

    monkeypatch.setattr(kms_api.Kms, "write_version", lossy)
    r = invoke(FN, _event(demo_input))
    assert r["status"] == "failed" and r["error"]["code"] == "DRIFT_AFTER_APPLY", r
    assert "/alice/meta ACSCurrent: wrote version" in r["error"]["message"]
    assert "read nothing" in r["error"]["message"]


def test_many_clients_in_short_slices_and_a_crash_resume_where_they_stopped(live_cloud, invoke, writes, demo_input,
                                                                              monkeypatch):
    """Issue 16 point 3 at a small size: 40 clients on one listener, the issuer's FC timeout so short
    that each invocation works about a second (every slice ends within its timeout and hands its
    cursor to the next), and the issuer dying once right after the PCA answered: every client gets
    exactly one certificate, nothing is revoked, every state stays small."""
    import threading

    import localruntime.fc as fc
    import shared.steps.context as context_mod
    from shared.core.errors import Code, TransientError
    from shared.steps import issuer

    timeouts = dict(fc.function_timeouts())
    monkeypatch.setattr(fc, "function_timeouts", lambda: {**timeouts, "albmtls-issuer": 25})
    monkeypatch.setattr(issuer, "SLICE_MARGIN_S", 24.0)
    real_call = context_mod.call
    lock = threading.Lock()
    issued: list[str] = []

    def call(op_name, fn, **kw):
        out = real_call(op_name, fn, **kw)
        if op_name.endswith("CreateClientCertificateWithCsr"):
            with lock:
                issued.append(op_name)
                if len(issued) == 12:
                    raise TransientError(Code.TIMEOUT, "simulated death of the issuer after the PCA answered")
        return out

    monkeypatch.setattr(context_mod, "call", call)
    inp = copy.deepcopy(demo_input)
    inp["clients"] = [{"common_name": f"holder-{i:02d}"} for i in range(40)]
    r = invoke(FN, _event(inp, "exec-many"))
    assert r["status"] == "ok", r
    assert (r["clients"], r["issued"] + r["reused"]) == (40, 40)
    kinds = _kinds(writes)
    assert kinds.count(("pca", "CreateClientCertificateWithCsr")) == 40          # one each, the dead one's kept
    assert ("pca", "CreateRevokeClientCertificate") not in kinds
    certs = [d for d in live_cloud.store.list("pca.client") if d["CommonName"].startswith("holder-")]
    assert len({d["CommonName"] for d in certs}) == len(certs) == 40
    assert all(d["Status"] == "ISSUE" for d in certs)
    from shared.policy.lane import ISSUE_FLOW
    (order,) = [d for d in live_cloud.store.list("fnf.execution") if d["Name"] == "exec-many"
                and d.get("FlowName") == ISSUE_FLOW]
    events = order.get("events") or []
    tasks = [e["type"] for e in events if e["type"].startswith("Task")]
    print("issuer tasks:", tasks)
    assert tasks.count("TaskFailed") == 1 and tasks.count("TaskSucceeded") >= 3, tasks   # short slices, resumed
    largest = max(len(json.dumps(e.get("detail") or {}, separators=(",", ":"))) for e in events)
    assert largest < 16 * 1024
    for i in (0, 11, 39):
        pfx, password = _load(inp, f"holder-{i:02d}")
        from shared.policy import pki
        assert pki.verify_pfx(pfx, password, "compat").key_matches_leaf

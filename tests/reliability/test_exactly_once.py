"""Exactly-once effects under retries (the whole kind, not one example):

* every write the provisioning run makes loses its first response after the server applied it
  (``drop_after``), or has it held past the read timeout (``timeout_after``): the retried write
  carries the same ``ClientToken`` (ALB) or is re-checked before repeating (CAS, PCA, Alidns,
  KMS), so each effect happens once;
* every step crashes once right after its first successful write (the function dies; CloudFlow's
  ``Retry`` re-runs it): the re-run finds what the crashed attempt did and resumes;
* the kind behind issue 19's 44 unexpected revocations — an issuing invocation that dies after the
  PCA issued a certificate but before its PFX was stored — under throttling, lost answers and
  crashes, for first issues and renewals: every certificate is issued exactly once (the re-run
  continues with the one already issued: its key is in the key log) and nothing is revoked.
"""
from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC

import pytest

import localcloud.products  # noqa: F401 — registers every action
from localcloud.registry import ACTIONS

PRODUCTS = ("alb", "cas", "pca", "alidns", "kms")


def write_actions() -> list[tuple[str, str]]:
    return sorted({(a.product, a.name) for a in ACTIONS.values() if a.write and a.product in PRODUCTS})


def _one_each(suite, runs):
    c = suite.count(runs)
    assert c["succeeded"] == c["runs"] == len(runs), c["failure_codes"]
    assert c["client_certificates_per_cn"] == {1: len(runs)}
    assert c["listeners_per_port"] == {1: len(runs)}
    assert c["dns_records_per_rr"] == {1: len(runs)}
    assert c["server_groups_per_name"] == {1: len(runs)}
    assert c["secret_versions_per_certificate"] == {"password versions=1": len(runs), "pfx versions=1": len(runs)}
    assert c["duplicate_secrets"] == 0 and c["half_applied"] == [], c["half_applied"]
    return c


@pytest.mark.parametrize("kind", ["drop_after", "timeout_after"])
def test_every_write_loses_its_first_response(suite, kind):
    assert len(write_actions()) > 10
    rules = [{"kind": kind, "product": p, "action": a, "writes_only": True, "rate": 1.0, "remaining": 1,
              "hold_ms": 900} for p, a in write_actions()]
    suite.cloud.faults.configure({"rules": rules, "seed": 1})
    mark = suite.cloud.store.last_call_n()
    runs = suite.provision_all([0])
    time.sleep(1.2)  # a held (timeout_after) call is logged when its hold ends, maybe after the run
    _one_each(suite, runs)
    calls = [c for c in suite.cloud.store.calls(mark) if c["write"] and c["product"] in PRODUCTS]
    lost = Counter(c["action"] for c in calls if c["code"] in ("OK-Dropped", "OK-Timeout"))
    applied = Counter(c["action"] for c in calls if c["code"] == "OK")
    used = set(lost) | set(applied)
    # preflight's DryRun calls consume the rule of their action without applying anything
    dry = {c["action"] for c in calls if c["code"] == "DryRunOperation"}
    # every write action the run used lost its first response, and the run still made each effect once
    assert used and used - dry <= set(lost), (lost, applied)
    assert {"CreateListener", "AddServersToServerGroup", "AddDomainRecord", "CreateClientCertificateWithCsr",
            "CreateSecret"} - dry <= set(lost), lost


def test_a_step_that_crashes_after_its_first_write_resumes(suite, monkeypatch):
    """The function dies (as a raised transient fault) right after its first successful write, in
    every step that writes (the first invocation that writes; the preflight's check-only order in the
    lane writes nothing); CloudFlow's Retry re-invokes it."""
    import shared.steps.context as handler_mod  # StepContext.call: the call policy of every step
    from shared.core.errors import Code, TransientError

    real_call = handler_mod.call
    state = threading.local()
    crashed: list[str] = []
    lock = threading.Lock()
    done_steps: set[str] = set()
    write_names = {a for _, a in write_actions()}

    def call(op_name, fn, **kw):
        out = real_call(op_name, fn, **kw)
        step = getattr(state, "step", None)
        if step and op_name.split(":", 1)[-1] in write_names:
            with lock:
                if step in done_steps:
                    return out
                done_steps.add(step)
                crashed.append(f"{step}:{op_name}")
            raise TransientError(Code.TIMEOUT, f"simulated crash of {step} after {op_name}")
        return out

    monkeypatch.setattr(handler_mod, "call", call)
    inner = suite.cloud.runtime["flow_invoker"]

    def invoker(name, payload, info=None):
        state.step = name
        try:
            return inner(name, payload, info) if info is not None else inner(name, payload)
        finally:
            state.step = None

    suite.cloud.runtime["flow_invoker"] = invoker
    runs = suite.provision_all([1])
    c = _one_each(suite, runs)
    steps = {x.split(":", 1)[0] for x in crashed}
    # the issuer's first write is its key log (then it issues): the re-run recovers the keys
    assert {"albmtls-issuer", "albmtls-enable-mutual-auth", "albmtls-create-cname"} <= steps, crashed
    assert c["cas_certificates"] == 2          # the two server certificates (seed + the suite's), untouched
    # one client certificate (``_one_each``), and nothing revoked: the re-run recovered the logged keys
    assert c["revoked_certificates"] == 0
    # the history shows the re-runs (TaskFailed then RetryScheduled) and a successful end
    ev = runs[0].doc
    assert ev["status"] == "succeeded"


def _issuer_dies_after(monkeypatch, action: str, times: int) -> list[str]:
    """The issuer dies (a raised transient fault: its key material gone with the invocation) right
    after each of the first ``times`` successful ``action`` calls — in whichever of its threads."""
    import shared.steps.context as context_mod
    from shared.core.errors import Code, TransientError

    real_call = getattr(context_mod, "call")  # noqa: B009 - the module's name for the retry layer's call
    lock = threading.Lock()
    died: list[str] = []

    def call(op_name, fn, **kw):
        out = real_call(op_name, fn, **kw)
        if op_name.split(":", 1)[-1] == action:
            with lock:
                if len(died) >= times:
                    return out
                died.append(op_name)
            raise TransientError(Code.TIMEOUT, f"simulated death of the issuer after {op_name}")
        return out

    monkeypatch.setattr(context_mod, "call", call)
    return died


def _issued_once_nothing_revoked(suite, cns: list[str]) -> None:
    """Each CN: every PCA certificate of it is stored (three secret versions of its serial), and
    none is revoked."""
    certs = suite.client_certificates()
    versions = {}
    for s in suite.cloud.store.list("kms.secret"):
        if "/rel-client-" in s["SecretName"]:
            versions[s["SecretName"]] = [v["VersionId"] for v in s.get("versions") or []]
    for d in certs:
        assert d["Status"] == "ISSUE", f"{d['CommonName']}: certificate {d['Identifier']} revoked"
        serial = str(d["SerialNumber"]).lower()
        stored = [n for n, vs in versions.items() if f"/{d['CommonName']}/" in n and serial in vs]
        assert len(stored) == 3, f"{d['CommonName']}: certificate {serial} issued but stored in {stored}"
    assert {d["CommonName"] for d in certs} >= set(cns)


def test_first_issue_survives_the_issuer_dying_after_the_pca_answered(suite, monkeypatch):
    """The issuer dies right after ``CreateClientCertificateWithCsr`` answered (twice); CloudFlow's
    ``Retry`` re-runs the slice: exactly one certificate per client, none revoked."""
    died = _issuer_dies_after(monkeypatch, "CreateClientCertificateWithCsr", 2)
    runs = suite.provision_all([0, 1])
    assert [r.status for r in runs] == ["succeeded", "succeeded"], [(r.code, r.message) for r in runs]
    assert len(died) == 2
    _issued_once_nothing_revoked(suite, ["rel-client-0", "rel-client-1"])
    assert Counter(d["CommonName"] for d in suite.client_certificates()) == {"rel-client-0": 1, "rel-client-1": 1}


@pytest.mark.parametrize("fault", ["die", "lost_answer", "throttled"])
def test_a_due_certificate_gets_exactly_one_replacement(suite, monkeypatch, fault):
    """The rotation of due certificates under one kind of fault at the issuing call: the issuer dies
    after the PCA answered, the answer is lost (the write applied), or the PCA throttles. Each due
    certificate gets exactly one replacement, and nothing is revoked (``revoke_old`` at its default)."""
    from datetime import timedelta

    from albmtls.rotate import rotate_once

    runs = suite.provision_all([0, 1, 2])
    assert all(r.status == "succeeded" for r in runs), [(r.code, r.message) for r in runs]
    first = {d["CommonName"]: d["Identifier"] for d in suite.client_certificates()}
    t0 = max(d["BeforeDate"] for d in suite.client_certificates()) / 1000
    from datetime import datetime
    # all three due (2/3 of 30, 32, 34 days)
    suite.cloud.clock.set(datetime.fromtimestamp(t0, tz=UTC) + timedelta(days=23))
    if fault == "die":
        died = _issuer_dies_after(monkeypatch, "CreateClientCertificateWithCsr", 2)
    elif fault == "lost_answer":
        suite.cloud.faults.configure({"rules": [{"kind": "drop_after", "product": "pca",
                                                 "action": "CreateClientCertificateWithCsr", "remaining": 2}]})
    else:
        suite.cloud.faults.configure({"rules": [{"kind": "throttle", "product": "pca", "action": "*",
                                                 "rate": 0.5, "retry_after_ms": 50}], "seed": 3})
    doc = rotate_once(suite.settings, policy={"secret_prefix": "albmtls"}, timeout=180)
    assert doc["status"] == "succeeded", doc
    if fault == "die":
        # the counts are the re-run's (a slice that died reports nothing); the cloud's state is the truth
        assert len(died) == 2 and 1 <= doc["scan"]["renewed"] <= 3, doc["scan"]
    else:
        assert doc["scan"]["due"] == 3 and doc["scan"]["renewed"] == 3, doc["scan"]
    certs = suite.client_certificates()
    per_cn = Counter(d["CommonName"] for d in certs)
    assert per_cn == {"rel-client-0": 2, "rel-client-1": 2, "rel-client-2": 2}, per_cn   # the old one + one new
    _issued_once_nothing_revoked(suite, list(first))
    calls = suite.cloud.store.calls(0)
    assert not [c for c in calls if c["action"] == "CreateRevokeClientCertificate"]
    metas = suite.client_metas()
    for name, meta in metas.items():
        cn = name.rsplit("/", 2)[-2]
        assert meta["identifier"] != first[cn] and [e["identifier"] for e in meta["supersedes"]] == [first[cn]]

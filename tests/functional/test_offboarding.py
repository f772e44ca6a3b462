"""Functional: ``albmtls-offboard-client`` (``shared.steps.offboarding``) against the local cloud —
revoke, restore and a provisioning run's reconcile (orphans, prune) through the FC handler, counted
from the cloud's own state (PCA certificates, KMS secrets, the call log)."""
from __future__ import annotations

import copy
import json
import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest

from shared.core.clock import parse_iso

FN = "albmtls-offboard-client"
LB = "alb-demostd000000000001"
LK = f"{LB}-443"
REPO = Path(__file__).resolve().parents[2]


def _input(demo_input: dict, *cns: str, prune: bool = False) -> dict:
    inp = copy.deepcopy(demo_input)
    inp["clients"] = [{"common_name": cn, "days": 30} for cn in cns]
    if prune:
        inp["prune"] = True
    return inp


def _request(action: str, *cns: str, **kw) -> dict:
    return {"action": action, "load_balancer_id": LB, "listener_port": 443, "common_names": list(cns),
            "requested_by": "ops@example.test", "request_id": "req-42", **kw}


@pytest.fixture(autouse=True)
def _lane(lane):
    """The flows deployed: certificates are issued and renewed in the issuing lane."""


@pytest.fixture
def issued(live_cloud, invoke, demo_input):
    """alice and bob issued by the issue step, as a provisioning run does."""
    res = invoke("albmtls-issue-client-cert", {"input": _input(demo_input, "alice", "bob"), "execution_name": "prov-1"})
    assert res["status"] == "ok", res
    return {c["common_name"]: c for c in res["client_certificates"]}


def certs(cloud, cn: str) -> list[dict]:
    return [d for d in cloud.store.list("pca.client") if d["CommonName"] == cn]


def secret(cloud, name: str) -> dict | None:
    return cloud.store.get("kms.secret", name)


def record(cloud, cn: str) -> dict | None:
    doc = secret(cloud, f"albmtls/{LK}/{cn}/access")
    if doc is None:
        return None
    [cur] = [v for v in doc["versions"] if "ACSCurrent" in v["VersionStages"]]
    return json.loads(cur["SecretData"])


def test_revoke_one_holder_then_zero_writes(live_cloud, invoke, issued, writes, caplog):
    caplog.set_level(logging.INFO, logger="albmtls")
    writes.mark()
    r = invoke(FN, {"mode": "revoke", "request": _request("revoke", "alice", reason="key_compromise"),
                    "execution_name": "rev-1"})
    assert r["status"] == "ok", r
    [alice] = r["clients"]
    assert alice["action"] == "revoked" and alice["revocation"]["reason"] == "key_compromise"
    assert alice["revocation"]["reason_code"] == 1 and alice["revocation"]["requested_by"] == "ops@example.test"
    assert [c["serial"] for c in alice["revoked"]] == [issued["alice"]["serial"]]
    assert {s["state"] for s in alice["secrets"]} == {"pending_deletion"}
    assert r["refusal_bound_s"] == 60
    # the cloud's state: alice revoked at the CA, her key material pending deletion, her records kept
    assert [d["Status"] for d in certs(live_cloud, "alice")] == ["REVOKE"]
    assert [d["Status"] for d in certs(live_cloud, "bob")] == ["ISSUE"]
    for kind in ("pfx", "password"):
        assert secret(live_cloud, f"albmtls/{LK}/alice/{kind}")["PlannedDeleteTime"]
        assert not secret(live_cloud, f"albmtls/{LK}/bob/{kind}")["PlannedDeleteTime"]
    assert not secret(live_cloud, f"albmtls/{LK}/alice/meta")["PlannedDeleteTime"]
    rec = record(live_cloud, "alice")
    assert rec["state"] == "revoked" and rec["revocation"]["request_id"] == "req-42"
    kinds = sorted((c["product"], c["action"]) for c in writes.since())
    assert kinds == [("kms", "CreateSecret"), ("kms", "DeleteSecret"), ("kms", "DeleteSecret"),
                     ("pca", "CreateRevokeClientCertificate")]
    # one audit line: who, what, why, request id
    audits = [rec.audit for rec in caplog.records if hasattr(rec, "audit")]
    assert len(audits) == 1 and audits[0]["action"] == "revoke" and audits[0]["common_name"] == "alice"
    assert audits[0]["requested_by"] == "ops@example.test" and audits[0]["request_id"] == "req-42"
    assert audits[0]["reason"] == "key_compromise" and audits[0]["serials"] == [issued["alice"]["serial"]]

    writes.mark()
    again = invoke(FN, {"mode": "revoke", "request": _request("revoke", "alice", reason="cessation"),
                        "execution_name": "rev-2"})
    assert again["status"] == "ok" and again["writes"] == 0, again
    assert again["clients"][0]["action"] == "already_revoked"
    assert again["clients"][0]["revocation"]["reason"] == "key_compromise"     # the first record stands
    assert writes.since() == []


def test_unknown_holder_is_refused_before_any_write(live_cloud, invoke, issued, writes):
    writes.mark()
    r = invoke(FN, {"mode": "revoke", "request": _request("revoke", "alice", "carol")})
    assert r["status"] == "failed" and r["error"]["code"] == "CLIENT_NOT_FOUND", r
    assert "'carol'" in r["error"]["message"] and "alice, bob" in r["error"]["message"]
    assert writes.since() == []
    assert [d["Status"] for d in certs(live_cloud, "alice")] == ["ISSUE"]


def test_bad_request_names_the_field(live_cloud, invoke):
    for req, field in (({**_request("revoke", "alice"), "reason": "stolen"}, "request.reason"),
                       ({**_request("revoke", "alice"), "recovery_window_days": 3}, "request.recovery_window_days"),
                       (_request("revoke", "alice", "alice"), "request.common_names")):
        r = invoke(FN, {"mode": "revoke", "request": req})
        assert r["status"] == "failed" and r["error"]["code"] == "INVALID_INPUT" and r["error"]["field"] == field, r


def test_restore_issues_a_new_certificate_into_the_restored_secrets(live_cloud, invoke, issued, writes):
    invoke(FN, {"mode": "revoke", "request": _request("revoke", "alice")})
    writes.mark()
    r = invoke(FN, {"mode": "restore", "request": _request("restore", "alice"), "execution_name": "res-1"})
    assert r["status"] == "ok", r
    [alice] = r["clients"]
    assert alice["action"] == "restored" and alice["certificate"]["serial"] != issued["alice"]["serial"]
    kinds = [(c["product"], c["action"]) for c in writes.since()]
    assert kinds.count(("kms", "RestoreSecret")) == 2 and ("pca", "CreateClientCertificateWithCsr") in kinds
    pfx = secret(live_cloud, f"albmtls/{LK}/alice/pfx")
    assert not pfx["PlannedDeleteTime"] and len(pfx["versions"]) == 2       # the old version came back too
    assert record(live_cloud, "alice")["state"] == "active"
    assert record(live_cloud, "alice")["revocation"]["reason"] == "unspecified"     # kept for the record
    assert sorted(d["Status"] for d in certs(live_cloud, "alice")) == ["ISSUE", "REVOKE"]
    writes.mark()
    again = invoke(FN, {"mode": "restore", "request": _request("restore", "alice")})
    assert again["clients"][0]["action"] == "already_restored" and writes.since() == []
    never = invoke(FN, {"mode": "restore", "request": _request("restore", "bob")})
    assert never["clients"][0]["action"] == "not_revoked" and writes.since() == []


def test_restore_after_the_recovery_window_makes_new_secrets(live_cloud, invoke, issued):
    invoke(FN, {"mode": "revoke", "request": _request("revoke", "alice", recovery_window_days=7)})
    live_cloud.clock.advance(8 * 86400)
    r = invoke(FN, {"mode": "restore", "request": _request("restore", "alice")})
    assert r["status"] == "ok" and r["clients"][0]["action"] == "restored", r
    pfx = secret(live_cloud, f"albmtls/{LK}/alice/pfx")
    assert len(pfx["versions"]) == 1 and pfx["versions"][0]["VersionId"] == r["clients"][0]["certificate"]["serial"]


def test_reconcile_reports_orphans_and_prunes_only_when_asked(live_cloud, invoke, issued, demo_input, writes):
    only_alice = _input(demo_input, "alice")
    r = invoke(FN, {"mode": "reconcile", "input": only_alice, "execution_name": "prov-2"})
    assert r["status"] == "ok", r
    assert [o["common_name"] for o in r["orphaned"]] == ["bob"] and r["orphaned"][0]["certificates"] == 1
    assert r["pruned"] == [] and [d["Status"] for d in certs(live_cloud, "bob")] == ["ISSUE"]
    assert record(live_cloud, "bob")["state"] == "orphaned"
    writes.mark()
    again = invoke(FN, {"mode": "reconcile", "input": only_alice, "execution_name": "prov-3"})
    assert [o["common_name"] for o in again["orphaned"]] == ["bob"] and writes.since() == []   # reported every run

    pruned = invoke(FN, {"mode": "reconcile", "input": _input(demo_input, "alice", prune=True),
                         "execution_name": "prov-4"})
    assert pruned["status"] == "ok", pruned
    assert [(p["common_name"], p["action"]) for p in pruned["pruned"]] == [("bob", "revoked")]
    rv = pruned["pruned"][0]["revocation"]
    assert rv["via"] == "prune" and rv["reason"] == "cessation"
    assert [d["Status"] for d in certs(live_cloud, "bob")] == ["REVOKE"]
    assert [d["Status"] for d in certs(live_cloud, "alice")] == ["ISSUE"]           # no other CN touched
    writes.mark()
    invoke(FN, {"mode": "reconcile", "input": _input(demo_input, "alice", prune=True), "execution_name": "prov-5"})
    assert writes.since() == []


def test_a_holder_back_in_the_input_is_active_again(live_cloud, invoke, issued, demo_input):
    invoke(FN, {"mode": "reconcile", "input": _input(demo_input, "alice")})
    assert record(live_cloud, "bob")["state"] == "orphaned"
    r = invoke(FN, {"mode": "reconcile", "input": _input(demo_input, "alice", "bob")})
    assert r["readmitted"] == ["bob"] and r["orphaned"] == [] and record(live_cloud, "bob")["state"] == "active"


def test_preflight_refuses_a_revoked_client(live_cloud, invoke, issued, demo_input, writes):
    invoke(FN, {"mode": "revoke", "request": _request("revoke", "bob")})
    writes.mark()
    r = invoke("albmtls-preflight", {"input": _input(demo_input, "alice", "bob")})
    assert r["status"] == "failed" and r["error"]["code"] == "CLIENT_REVOKED", r
    assert r["error"]["field"] == "clients[1].common_name" and "albmtls restore" in r["error"]["message"]
    assert writes.since() == []


def test_an_orphaned_or_revoked_holder_is_never_renewed(live_cloud, invoke, issued, demo_input, writes):
    """The rotation (in the issuing lane) skips them, counts them and names them in a warning; a
    second rotation the same day writes nothing."""

    from albmtls.rotate import rotate_once
    from shared.core.settings import Settings
    settings = Settings.load(target="local", endpoints_file=os.environ["ALBMTLS_ENDPOINTS_FILE"])
    invoke(FN, {"mode": "reconcile", "input": _input(demo_input, "alice")})        # bob orphaned
    live_cloud.clock.set(parse_iso(issued["bob"]["not_before"]) + timedelta(days=21))
    doc = rotate_once(settings, policy={"secret_prefix": "albmtls"}, timeout=60)
    assert doc["status"] == "succeeded", doc
    assert [r["common_name"] for r in doc["renewed"]] == ["alice"]
    assert doc["scan"]["orphaned"] == 1 and doc["scan"]["renewed"] == 1, doc["scan"]
    assert [(w["common_name"], w["reason"]) for w in doc["warnings"] if w.get("kind") == "not_renewed"] == \
        [("bob", "orphaned")]
    assert [d["Status"] for d in certs(live_cloud, "bob")] == ["ISSUE"]            # still valid, not renewed
    writes.mark()
    again = rotate_once(settings, policy={"secret_prefix": "albmtls"}, timeout=60)
    assert again["started"] is False and writes.since() == []


def test_a_renewal_racing_a_revocation_leaves_nothing_valid(live_cloud, invoke, issued, monkeypatch):
    """The rotation listed bob's certificate and read his record just before the revocation wrote
    it (the revocation runs right then); after issuing, the lane reads the record again, finds the
    holder revoked and revokes what it issued (shared.steps.offboarding.enforce_revocation)."""
    from albmtls.rotate import rotate_once
    from shared.core.settings import Settings
    from shared.steps import rotate

    settings = Settings.load(target="local", endpoints_file=os.environ["ALBMTLS_ENDPOINTS_FILE"])
    real = rotate.read_access
    raced = []

    def revoked_meanwhile(ctx, name):
        if name.endswith("/bob/access") and not raced:
            raced.append(name)
            before = real(ctx, name)                  # the rotation's look: not revoked yet
            invoke(FN, {"mode": "revoke", "request": _request("revoke", "bob")})
            # the revocation has written its record and revoked what it listed; its DeleteSecret
            # calls have not happened yet (the secrets are taken out of their deletion window again)
            for kind in ("pfx", "password"):
                doc = live_cloud.store.get("kms.secret", f"albmtls/{LK}/bob/{kind}")
                doc["PlannedDeleteTime"] = None
                live_cloud.store.put("kms.secret", doc["SecretName"], doc)
            return before
        return real(ctx, name)

    live_cloud.clock.set(parse_iso(issued["bob"]["not_before"]) + timedelta(days=21))
    monkeypatch.setattr(rotate, "read_access", revoked_meanwhile)
    doc = rotate_once(settings, policy={"secret_prefix": "albmtls"}, timeout=60)
    assert raced and doc["status"] == "succeeded", doc
    assert doc["scan"]["skipped_revoked"] == 1 and [r["common_name"] for r in doc["renewed"]] == ["alice"], doc
    bob = certs(live_cloud, "bob")
    assert len(bob) == 2 and all(d["Status"] == "REVOKE" for d in bob)     # the one it issued as well


def test_the_revocation_assumption_check_reads_only(live_cloud, invoke, issued, writes):
    """``check_revocation_enforcement`` (for albmtls doctor): no write; counts the revoked certificates
    still inside their validity and says whether the listener passes the client-certificate headers."""
    import logging as _logging
    import uuid

    from shared.adapters.retry import Deadline
    from shared.core.settings import Settings
    from shared.steps.context import StepContext
    from shared.steps.revocation_check import check_revocation_enforcement
    invoke(FN, {"mode": "revoke", "request": _request("revoke", "alice")})
    ctx = StepContext(step="doctor", settings=Settings.load(), clock=live_cloud.clock,
                      logger=_logging.getLogger("albmtls.test"), deadline=Deadline(60),
                      request_id=f"local-{uuid.uuid4().hex}")
    writes.mark()
    out = check_revocation_enforcement(ctx)
    assert writes.since() == []
    # no listener exists on the port yet (only the issue step ran): no headers to pass → at risk
    assert out["result"] == "at_risk" and out["listeners"] == [
        {"listener_key": LK, "revoked_unexpired": 1, "client_cert_headers": False}]
    assert "60 s" in out["assumption"] and "BACKENDS.md" in out["fix"]


# ---------------------------------------------------------------------------------------------
# bad input (attack findings): each is refused with its code before any write
# ---------------------------------------------------------------------------------------------
def test_a_holder_is_one_only_under_its_secret_prefix(live_cloud, invoke, issued, demo_input, writes):
    """The private CA's list knows the listener, not the secret prefix: a typo in the prefix must
    not revoke, restore, orphan or prune the holders kept under another one (nor claim they are
    "under" it)."""
    writes.mark()
    for action in ("revoke", "restore"):
        for cn, prefix in (("alice", "other"), ("nobody", "zzz")):
            r = invoke(FN, {"mode": action, "request": _request(action, cn, secret_prefix=prefix)})
            assert r["status"] == "failed" and r["error"]["code"] == "CLIENT_NOT_FOUND", r
            assert f"under secret prefix '{prefix}'" in r["error"]["message"], r
            assert r["error"]["message"].endswith("the clients it has under that prefix: none (check --cn and "
                                                  "--secret-prefix)"), r
    # a provisioning run under another prefix: alice and bob are not its holders to orphan or prune
    other = {**_input(demo_input, "carol", prune=True), "secret_prefix": "other"}
    r = invoke(FN, {"mode": "reconcile", "input": other})
    assert r["status"] == "ok" and r["orphaned"] == [] and r["pruned"] == [] and r["writes"] == 0, r
    assert writes.since() == []
    assert [d["Status"] for d in certs(live_cloud, "alice") + certs(live_cloud, "bob")] == ["ISSUE", "ISSUE"]
    assert secret(live_cloud, f"other/{LK}/alice/access") is None and record(live_cloud, "alice") is None
    # under the right prefix the same listing names them
    r = invoke(FN, {"mode": "revoke", "request": _request("revoke", "nobody")})
    assert r["error"]["code"] == "CLIENT_NOT_FOUND" and "that prefix: alice, bob (" in r["error"]["message"], r


def test_restore_of_a_client_the_listener_never_had_is_not_found(live_cloud, invoke, issued, writes):
    writes.mark()
    r = invoke(FN, {"mode": "restore", "request": _request("restore", "nobody")})
    assert r["status"] == "failed" and r["error"]["code"] == "CLIENT_NOT_FOUND", r
    assert "'nobody'" in r["error"]["message"] and "alice, bob" in r["error"]["message"]
    assert writes.since() == []


def test_letter_case_neither_bypasses_a_revocation_nor_makes_a_second_holder(live_cloud, invoke, issued, demo_input,
                                                                              writes):
    invoke(FN, {"mode": "revoke", "request": _request("revoke", "bob")})
    writes.mark()
    for given in ("BOB", "Bob"):
        r = invoke("albmtls-preflight", {"input": _input(demo_input, "alice", given)})
        assert r["status"] == "failed" and r["error"]["code"] == "CLIENT_REVOKED", r
        assert r["error"]["field"] == "clients[1].common_name" and "'bob'" in r["error"]["message"]
        assert "client 'bob' was revoked" in r["error"]["message"] and f"{given!r}" in r["error"]["message"]
    # an active holder: a CN that differs only in letter case is refused, naming it
    r = invoke("albmtls-preflight", {"input": _input(demo_input, "ALICE")})
    assert r["status"] == "failed" and r["error"]["code"] == "INVALID_INPUT", r
    assert r["error"]["field"] == "clients[0].common_name" and "'alice'" in r["error"]["message"]
    # the issuing step is never reached: no certificate issued, nothing written
    assert writes.since() == [] and certs(live_cloud, "BOB") == [] and certs(live_cloud, "ALICE") == []
    assert invoke("albmtls-preflight", {"input": _input(demo_input, "alice")})["status"] == "ok"


@pytest.mark.parametrize("requested_by", ["ops\x1b[2J\x1b[31mforged", "ops\nINFO audit: revoke bob", "ops\r",
                                          "ops\u202eevil", "ops\x00", " ", "x" * 129])
def test_requested_by_takes_printable_text_only(live_cloud, invoke, issued, writes, requested_by):
    writes.mark()
    for action in ("revoke", "restore"):
        r = invoke(FN, {"mode": action, "request": _request(action, "alice") | {"requested_by": requested_by}})
        assert r["status"] == "failed" and r["error"]["code"] == "INVALID_INPUT", r
        assert r["error"]["field"] == "request.requested_by", r
        r = invoke(FN, {"mode": action, "request": _request(action, "alice") | {"request_id": requested_by}})
        assert r["error"]["field"] == "request.request_id", r
    assert writes.since() == []
    from albmtls.offboard import build_request
    from shared.core.errors import AlbMtlsError
    with pytest.raises(AlbMtlsError) as exc:
        build_request("revoke", f"{LB}:443", ["alice"], requested_by=requested_by)
    assert exc.value.code == "INVALID_INPUT" and exc.value.field == "requested_by"


def test_stored_requesters_are_printed_as_one_inert_line(capsys):
    """A record written before the input rule (or by hand) still cannot forge a line or restyle
    ``status`` and ``revoke``."""
    from albmtls.offboard import _print
    from albmtls.options import safe_text
    from albmtls.status import _print_status
    evil = "ops\x1b[2J\nINFO audit [bold]x[/bold]\u202e"
    assert safe_text(evil) == "ops\\x1b[2J\\nINFO audit \\[bold]x\\[/bold]\\u202e"
    row = {"common_name": "alice", "listener_key": LK, "serial": "01", "not_after": "2027-01-01T00:00:00Z",
           "days_left": 3.0, "state": "revoked", "ours": True,
           "revocation": {"reason": "cessation", "revoked_at": "2026-12-01T00:00:00Z", "requested_by": evil}}
    _print_status({"now": "2026-12-02T00:00:00Z", "certificates": [row], "counts": {"revoked": 1}})
    import io

    from rich.console import Console
    con = Console(file=io.StringIO(), width=300)
    _print(con, {"status": "succeeded", "action": "revoke", "listener_key": LK, "writes": 1,
                 "clients": [{"common_name": "alice", "action": "revoked", "requested_by": evil}]})
    captured = capsys.readouterr()
    for out in (captured.out + captured.err, con.file.getvalue()):
        assert "\x1b" not in out and "\u202e" not in out, out
        assert "[bold]x[/bold]" in out and not any(line.lstrip("│ ").startswith("INFO") for line in out.splitlines())

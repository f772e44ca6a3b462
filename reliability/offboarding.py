"""The fault suite's offboarding runs: revocations (the revoke flow, as ``albmtls revoke`` starts it)
and prunes (a provisioning run of the listener whose input replaced its client, with ``prune:
true``), under the same injected faults, each run twice — counted from the local cloud's own state:

* no revoke lost: every target CN has no valid certificate left at the CA, its ``…/access`` record
  says ``revoked`` (``via`` revoke or prune) and its PFX and password secrets are pending deletion;
* none twice: one revocation record per target (the access secret has one version), one audit line,
  and the second round of the same requests makes no write at all;
* no other CN touched: every other CN of the suite keeps exactly the valid certificates it had.
"""
from __future__ import annotations

import copy
import json
import time
import uuid
from collections import Counter
from typing import TYPE_CHECKING, Any

from reliability.suite import REPO

if TYPE_CHECKING:
    from reliability.suite import Suite


def _valid(suite: Suite) -> dict[str, set[str]]:
    """CN → identifiers of its valid (issued, not ended) certificates under the suite's sub-CA."""
    now_ms = int(suite.cloud.clock.now().timestamp() * 1000)
    out: dict[str, set[str]] = {}
    for d in suite.cloud.store.list("pca.client", key2=suite.seed_ids["pca_sub_identifier"]):
        if d.get("Status") == "ISSUE" and d["AfterDate"] > now_ms:
            out.setdefault(d["CommonName"], set()).add(d["Identifier"])
    return out


def _secret(suite: Suite, name: str) -> dict[str, Any] | None:
    return suite.cloud.store.get("kms.secret", name)


def _wait(suite: Suite, started: dict[str, tuple[str, str]]) -> dict[str, dict[str, Any]]:
    """execution → its result document, once every execution of ``started`` (name → (flow, kind)) ended."""
    from shared.adapters.retry import Deadline
    from shared.core.errors import AlbMtlsError
    from shared.steps.provisioning import describe_provision, offboard_document, result_document
    pending, docs = dict(started), {}
    end = time.monotonic() + suite.timeout_s
    while pending and time.monotonic() < end:
        for name, (flow, kind) in list(pending.items()):
            try:
                prog = describe_provision(suite.settings, name, flow=flow, deadline=Deadline(60))
            except AlbMtlsError as exc:          # the suite's own reads see the faults too
                suite.texts["exceptions"].append(f"{exc.code}: {exc.message}")
                continue
            if prog is not None and prog.done:
                doc = offboard_document(prog) if kind == "revoke" else result_document(prog)
                docs[name] = doc
                suite.texts["results"].append(json.dumps(doc, default=str))
                pending.pop(name)
        if pending:
            time.sleep(0.5)
    for name in pending:
        docs[name] = {"status": "failed", "error": {"code": "SUITE_TIMEOUT", "message": name}}
    return docs


def _round(suite: Suite, revokes: list[Any], prunes: list[Any]) -> dict[str, dict[str, Any]]:
    """Start every revocation and prune at once (distinct listeners), then wait for all."""
    from shared.adapters.retry import Deadline
    from shared.core.errors import AlbMtlsError
    from shared.steps.provisioning import PROVISION_FLOW, REVOKE_FLOW, start_provision
    started: dict[str, tuple[str, str]] = {}
    failed: dict[str, dict[str, Any]] = {}
    lb = suite.seed_ids["load_balancer_id"]
    jobs = [("revoke", r, {"action": "revoke", "load_balancer_id": lb, "listener_port": r.port,
                           "common_names": [r.cn], "reason": "key_compromise", "requested_by": "reliability",
                           "request_id": f"rel-{uuid.uuid4().hex}"}) for r in revokes]
    for r in prunes:
        inp = copy.deepcopy(suite.provision_input(r.index))
        inp["clients"] = [{"common_name": f"rel-new-{r.index}", "days": 30, "profile": "compat"}]
        inp["prune"] = True
        jobs.append(("prune", r, inp))
    for kind, r, body in jobs:
        flow = REVOKE_FLOW if kind == "revoke" else PROVISION_FLOW
        for _attempt in range(5):    # the start itself meets the faults (and is not retried with them off)
            try:
                s = start_provision(suite.settings, body, r.listener_key, flow=flow, deadline=Deadline(120),
                                    request_id=body.get("request_id"))
                started[s.name] = (flow, "revoke" if kind == "revoke" else "provision")
                break
            except AlbMtlsError as exc:
                suite.texts["exceptions"].append(f"{exc.code}: {exc.message}")
                time.sleep(1.0)
        else:
            failed[f"{kind}-{r.index}"] = {"status": "failed", "error": {"code": "SUITE_START_FAILED"}}
    return {**_wait(suite, started), **failed}


def offboard_all(suite: Suite, *, revokes: int, prunes: int) -> dict[str, Any]:
    """Revoke ``revokes`` holders and prune ``prunes`` (one per listener, from the provisioning
    runs that succeeded), twice, under the configured faults; the counts (module doc)."""
    from shared.steps.provisioning import REVOKE_FLOW, deploy_flow
    deploy_flow(suite.settings, REVOKE_FLOW, (REPO / "workflows" / "revoke.yaml").read_text())
    ok = [r for r in suite.results if r.kind == "provision" and r.status == "succeeded" and r.index < suite.runs]
    revoke_runs, prune_runs = ok[:revokes], ok[revokes:revokes + prunes]
    targets = {r.cn: r for r in revoke_runs + prune_runs}
    before = _valid(suite)
    log_mark = len(suite.log_lines())
    t0 = time.monotonic()
    first = _round(suite, revoke_runs, prune_runs)
    calls_mark = suite.cloud.store.last_call_n()
    second = _round(suite, revoke_runs, prune_runs)
    seconds = round(time.monotonic() - t0, 1)
    second_writes = [c for c in suite.cloud.store.calls(calls_mark)
                     if c["write"] and c["code"].startswith("OK") and c["product"] != "fnf"]
    after = _valid(suite)

    problems: list[str] = []
    for name, doc in {**first, **second}.items():
        if doc.get("status") != "succeeded":
            problems.append(f"{name}: {doc.get('status')} {(doc.get('error') or {}).get('code')}")
    lost: list[str] = []
    records: Counter[int] = Counter()
    for cn, r in targets.items():
        base = f"albmtls/{r.listener_key}/{cn}/"
        if after.get(cn):
            lost.append(f"{cn}: {len(after[cn])} certificate(s) still valid")
        acc = _secret(suite, base + "access") or {}
        versions = acc.get("versions") or []
        records[len(versions)] += 1
        cur = next((v for v in versions if "ACSCurrent" in v["VersionStages"]), None)
        state = json.loads(cur["SecretData"]).get("state") if cur else None
        if state != "revoked":
            lost.append(f"{cn}: access record {state}")
        for kind in ("pfx", "password"):
            found = _secret(suite, base + kind)
            if found is not None and not found.get("PlannedDeleteTime"):
                lost.append(f"{cn}: {kind} secret not scheduled for deletion")
    touched = [f"{cn}: {sorted(ids)} → {sorted(after.get(cn, set()))}" for cn, ids in before.items()
               if cn not in targets and after.get(cn, set()) != ids]
    audits: Counter[str] = Counter()
    for line in suite.log_lines()[log_mark:]:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        a = rec.get("audit") if isinstance(rec, dict) else None
        if isinstance(a, dict) and a.get("action") in ("revoke", "prune"):
            audits[str(a.get("common_name"))] += 1
    twice = {cn: n for cn, n in audits.items() if n != 1}
    twice.update({cn: 0 for cn in targets if cn not in audits})
    problems += lost + [f"other CN touched: {t}" for t in touched]
    if records and set(records) != {1}:
        problems.append(f"access record versions per target: {dict(records)} (one revocation each expected)")
    if twice:
        problems.append(f"audit lines per target not 1: {twice}")
    if second_writes:
        problems.append(f"the second round wrote {len(second_writes)} time(s): "
                        f"{sorted({c['product'] + ':' + c['action'] for c in second_writes})}")
    pruned = sum(len(d.get("pruned") or []) for d in first.values())
    return {
        "revokes": len(revoke_runs), "prunes": len(prune_runs), "executions": len(first) + len(second),
        "succeeded": sum(1 for d in [*first.values(), *second.values()] if d.get("status") == "succeeded"),
        "pruned_reported": pruned, "revoke_lost": len(lost), "record_versions_per_target": dict(records),
        "audit_lines_per_target": dict(Counter(audits.values())), "second_round_writes": len(second_writes),
        "other_cns_checked": sum(1 for cn in before if cn not in targets), "other_cns_touched": len(touched),
        "seconds": seconds, "problems": problems,
    }

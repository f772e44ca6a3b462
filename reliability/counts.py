"""Counting what happened — from the local cloud's own state, never from what the runs reported —
and the verdict over those counts.

Provisioning (:func:`count_provisioning`): runs succeeded / failed (with which code), client
certificates per CN, listeners per port, server groups per name, DNS records per RR, secret
versions per certificate, and any half-applied state. Rotation (:func:`count_rotation`): per run,
the CNs due got exactly one new certificate and no other CN got one; replaced certificates are
valid and marked superseded, or revoked past the grace. :func:`call_stats`: the call log's faults
and the retry layer's counters.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from reliability.faults import INJECTED_CODES
from reliability.suite import DOMAIN, ROTATION_POLICY

if TYPE_CHECKING:
    from reliability.suite import Run, Suite


def count_provisioning(suite: Suite, runs: list[Run] | None = None) -> dict[str, Any]:
    """Counts of the provisioning runs from the local cloud's state (see module doc)."""
    store = suite.cloud.store
    runs = [r for r in suite.results if r.kind == "provision"] if runs is None else runs
    ports = {r.port for r in runs}
    rrs = {r.rr for r in runs}
    cns = {r.cn for r in runs}
    lb = suite.seed_ids["load_balancer_id"]
    lb_doc = store.get("alb.loadbalancer", lb) or {}
    sub = suite.seed_ids["pca_sub_identifier"]
    now_s = suite.cloud.clock.now().timestamp()

    listeners = [d for d in store.list("alb.listener", key2=lb) if d.get("ListenerPort") in ports]
    per_port = Counter(d["ListenerPort"] for d in listeners)
    groups = [d for d in store.list("alb.servergroup") if str(d.get("ServerGroupName", "")).startswith("albmtls-rel-")]
    per_group = Counter(d["ServerGroupName"] for d in groups)
    records = [d for d in store.list("dns.record", key2=DOMAIN) if d.get("RR") in rrs]
    per_rr = Counter(d["RR"] for d in records)
    certs = [d for d in store.list("pca.client", key2=sub) if d.get("CommonName") in cns]
    per_cn = Counter(d["CommonName"] for d in certs if d.get("Status") == "ISSUE")
    secrets = {d["SecretName"]: d for d in store.list("kms.secret")}
    cas_certs = store.count("cas.cert")

    half: list[str] = []
    # the listener names the sub-CA in the form the local cloud's ALB takes (alb_ca_id_form)
    expected_ca = (suite.seed_ids["pca_sub_cert_identifier"]
                   if suite.cloud.settings.alb_ca_id_form == "cert_identifier" else sub)
    listener_by_port = {d["ListenerPort"]: d for d in listeners}
    group_ids = {d["ServerGroupId"] for d in groups}
    used_groups: set[str] = set()
    for r in runs:
        lst = listener_by_port.get(r.port)
        if lst is None:
            if r.status == "succeeded":
                half.append(f"port {r.port}: no listener after a successful run")
            continue
        cas = [c.get("CertificateId") for c in lst.get("CaCertificates") or []]
        if not lst.get("CaEnabled") or cas != [expected_ca]:
            half.append(f"listener {lst['ListenerId']} (port {r.port}): CaEnabled={lst.get('CaEnabled')} CA={cas}")
        if (lst.get("busy_until_s") or 0) > now_s + 5:
            half.append(f"listener {lst['ListenerId']}: still configuring")
        for a in lst.get("DefaultActions") or []:
            for t in ((a.get("ForwardGroupConfig") or {}).get("ServerGroupTuples") or []):
                used_groups.add(t.get("ServerGroupId"))
                if t.get("ServerGroupId") not in group_ids:
                    half.append(f"listener {lst['ListenerId']}: forwards to unknown group {t.get('ServerGroupId')}")
        if not lst.get("Certificates"):
            half.append(f"listener {lst['ListenerId']}: no server certificate")
    for g in groups:
        if g["ServerGroupId"] not in used_groups:
            half.append(f"server group {g['ServerGroupName']} ({g['ServerGroupId']}) not used by any listener")
        if len(g.get("Servers") or []) != 2:
            half.append(f"server group {g['ServerGroupName']}: {len(g.get('Servers') or [])} servers, expected 2")
    for rec in records:
        if rec.get("Type") != "CNAME" or rec.get("Value") != lb_doc.get("DNSName"):
            half.append(f"record {rec['RR']}: {rec.get('Type')} {rec.get('Value')}")
    # secrets per certificate: each issued certificate has one PFX and one password version
    # (VersionId = serial), and every secret version belongs to an issued certificate
    secrets_per_cert: Counter = Counter()
    serials_by_cn: dict[str, set[str]] = defaultdict(set)
    for c in certs:
        if c.get("Status") != "ISSUE":
            continue
        serials_by_cn[c["CommonName"]].add(str(c.get("SerialNumber", "")).lower())
    orphan_versions = 0
    for r in runs:
        for kind in ("pfx", "password"):
            name = f"albmtls/{r.listener_key}/{r.cn}/{kind}"
            s = secrets.get(name)
            versions = [str(v.get("VersionId", "")).lower() for v in (s or {}).get("versions", [])]
            for serial in serials_by_cn.get(r.cn, ()):
                n = versions.count(serial)
                secrets_per_cert[(r.cn, kind, n)] += 1
                if n == 0:
                    half.append(f"certificate {serial} of {r.cn}: no {kind} secret version")
            for v in versions:
                if v not in serials_by_cn.get(r.cn, set()):
                    orphan_versions += 1
                    half.append(f"secret {name} version {v}: no issued certificate with that serial")
    running = [d["Name"] for d in store.list("fnf.execution") if d.get("Status") in ("Running", "Starting")]
    half += [f"execution {n} still running" for n in running]
    jobs = [d for d in store.list("alb.job") if d.get("Status") == "Failed"]
    half += [f"ALB job {j['Id']} failed: {j.get('ErrorCode')}" for j in jobs]

    succeeded = [r for r in runs if r.status == "succeeded"]
    failed = [r for r in runs if r.status != "succeeded"]
    from shared.core.errors import Code
    clear = {c.value for c in Code} - {Code.INTERNAL.value}
    return {**call_stats(suite),
        "runs": len(runs),
        "succeeded": len(succeeded),
        "failed": len(failed),
        "failed_with_clear_code": sum(1 for r in failed if r.code in clear),
        "failure_codes": dict(Counter(str(r.code) for r in failed)),
        "failure_messages": sorted({f"{r.code}: {(r.message or '')[:300]}" for r in failed})[:10],
        "client_certificates_per_cn": dict(Counter(per_cn.get(cn, 0) for cn in cns)),
        "duplicate_certificates": sum(n - 1 for n in per_cn.values() if n > 1),
        "revoked_certificates": sum(1 for d in certs if d.get("Status") != "ISSUE"),
        "listeners_per_port": dict(Counter(per_port.get(p, 0) for p in ports)),
        "duplicate_listeners": sum(n - 1 for n in per_port.values() if n > 1),
        "server_groups_per_name": dict(Counter(per_group.values())),
        "duplicate_server_groups": sum(n - 1 for n in per_group.values() if n > 1),
        "dns_records_per_rr": dict(Counter(per_rr.get(rr, 0) for rr in rrs)),
        "duplicate_records": sum(n - 1 for n in per_rr.values() if n > 1),
        "secret_versions_per_certificate": _fold_secret_counts(secrets_per_cert),
        "duplicate_secrets": sum(v for (cn, kind, n), v in secrets_per_cert.items() if n > 1) + orphan_versions,
        "cas_certificates": cas_certs,
        "half_applied": half,
    }


def call_stats(suite: Suite) -> dict[str, Any]:
    """The call log since the faults were configured: calls, faulted calls by code, retries."""
    from shared.adapters.retry import STATS
    calls = [c for c in suite.cloud.store.calls(suite.calls_mark)]
    injected_calls = [c for c in calls if c["code"] in INJECTED_CODES]
    faulted_writes = [c for c in injected_calls if c["write"]]
    by_kind = Counter(c["code"] for c in injected_calls)
    ok_codes = Counter(c["code"] for c in calls)
    return {
        "calls": len(calls),
        "writes": sum(1 for c in calls if c["write"]),
        "faulted_calls": len(injected_calls),
        "faulted_share": round(len(injected_calls) / max(1, len(calls)), 3),
        "faulted_by_code": dict(sorted(by_kind.items())),
        "writes_faulted_then_retried": len(faulted_writes),
        "writes_applied_response_lost": sum(1 for c in faulted_writes if c["code"] in ("OK-Dropped", "OK-Timeout")),
        "qps_throttled": sum(ok_codes.get(t, 0) - by_kind.get(t, 0)
                             for t in ("Throttling.User", "Rejected.Throttling")),
        "injected": dict(suite.cloud.faults.injected),
        "retry_layer": STATS.snapshot(),
    }


def count_rotation(suite: Suite) -> dict[str, Any]:
    """Counts of the rotation runs from the local cloud's state (see module doc)."""
    from shared.core.errors import Code
    log = suite.rotation_log
    runs = [r for r in suite.results if r.kind == "rotation"]
    certs = suite.client_certificates()
    # the certificate's own secrets (the delivery record's versions are events, not certificates)
    secrets = {s["SecretName"]: s for s in suite.cloud.store.list("kms.secret") if "/rel-client-" in s["SecretName"]
               and not s["SecretName"].endswith("/delivery")}
    metas = suite.client_metas()
    by_cn: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in certs:
        by_cn[d["CommonName"]].append(d)
    versions: dict[tuple[str, str], list[str]] = {}
    names_by_cn: dict[str, str] = {}
    for name, s in secrets.items():
        prefix, kind = name.rsplit("/", 1)
        cn = prefix.rsplit("/", 1)[-1]
        names_by_cn[cn] = prefix
        versions[(cn, kind)] = [str(v.get("VersionId", "")).lower() for v in s.get("versions") or []]
    half: list[str] = []
    problems: list[str] = []
    per_cert: Counter = Counter()
    delivered: dict[str, dict[str, Any]] = {}
    lost_key_revoked = 0
    for d in certs:
        cn, serial = d["CommonName"], str(d.get("SerialNumber", "")).lower()
        n = {k: versions.get((cn, k), []).count(serial) for k in ("pfx", "password", "meta")}
        for k, v in n.items():
            per_cert[f"{k} versions={v}"] += 1
        if all(v == 1 for v in n.values()):
            delivered[d["Identifier"]] = d
        elif not any(n.values()):
            # issued but never stored: before the key log, a crashed invocation's certificate (its key
            # gone) was revoked by the re-run — the 44 revocations of issue 19; now none may exist
            lost_key_revoked += 1
            half.append(f"certificate {serial} of {cn} ({d.get('Status')}): issued but never stored")
        else:
            half.append(f"certificate {serial} of {cn} ({d.get('Status')}): secret versions {n}")
    serials_by_cn = {cn: {str(d.get("SerialNumber", "")).lower() for d in ds} for cn, ds in by_cn.items()}
    markers = 0
    for (cn, kind), vs in versions.items():
        for ver in vs:
            base = ver.split("-s", 1)[0] if kind == "meta" else ver
            if kind == "meta" and "-s" in ver:          # a record version of the rotate flow before the lane
                old = ver.split("-s", 1)[1]
                # the VersionId is "<new serial>-s<old serial>" cut to 64 characters
                if not any(sn.startswith(old) for sn in serials_by_cn.get(cn, set())):
                    half.append(f"meta marker {ver} of {cn}: no such old certificate")
            if base not in serials_by_cn.get(cn, set()):
                half.append(f"secret {cn}/{kind} version {ver}: no certificate with that serial")
        dup = [ver for ver, times in Counter(vs).items() if times > 1]
        if dup:
            half.append(f"secret {cn}/{kind}: repeated versions {dup}")
    # the current certificate of each CN (its meta) is delivered, issued and the newest
    current: dict[str, str | None] = {}
    for name, meta in metas.items():
        cn = name.rsplit("/", 2)[-2]
        current[cn] = meta.get("identifier")
        cur = delivered.get(meta.get("identifier") or "")
        if cur is None or d.get("Status") != "ISSUE":
            half.append(f"{cn}: current certificate {meta.get('identifier')} not delivered/issued")
        newest = max((x for x in by_cn.get(cn, []) if x["Identifier"] in delivered), key=lambda x: x["BeforeDate"],
                     default=None)
        if newest is not None and newest["Identifier"] != meta.get("identifier"):
            half.append(f"{cn}: a newer certificate {newest['Identifier']} than the meta's")
    # per rotation run: the due CNs got exactly one new certificate, the others none
    new_per_run: Counter = Counter()
    dup_certs = missing = unexpected = 0
    last_ms = log[-1]["now_ms"] if log else 0
    for run, entry in enumerate(log):
        lo = entry["now_ms"] - 15 * 60_000
        hi = log[run + 1]["now_ms"] - 15 * 60_000 if run + 1 < len(log) else entry["now_ms"] + 86_400_000
        fresh = Counter(d["CommonName"] for d in certs if d["Identifier"] in delivered and lo <= d["BeforeDate"] < hi)
        for cn, count in fresh.items():
            if count > 1:
                dup_certs += count - 1
                half.append(f"run {run}: {count} certificates for {cn}")
            if cn not in entry["due"]:
                unexpected += 1
                problems.append(f"run {run}: {cn} renewed but not due")
        for cn in entry["due"]:
            if fresh.get(cn, 0) == 0:
                missing += 1
                problems.append(f"run {run} ({entry['status']} {entry['code'] or ''}): due {cn} not renewed")
        new_per_run[len(fresh)] += 1
        entry["new_certificates"] = sum(fresh.values())
    # replaced certificates: valid and marked superseded, or revoked past the 5-day grace
    superseded_valid = revoked_after_grace = expired_old = 0
    grace_ms = ROTATION_POLICY["revoke_after_days"] * 86_400_000
    for ident, d in delivered.items():
        cn = d["CommonName"]
        if current.get(cn) == ident:
            continue
        repl = [x for x in by_cn[cn] if x["Identifier"] in delivered and x["BeforeDate"] > d["BeforeDate"]]
        if not repl:
            half.append(f"{cn}: old certificate {ident} without a replacement")
            continue
        replaced_ms = min(x["BeforeDate"] for x in repl)
        meta = metas.get(f"{names_by_cn.get(cn)}/meta") or {}
        marked = ident in {e.get("identifier") for e in meta.get("supersedes") or []}
        markers += int(marked)      # the CN's record names the certificate it replaced
        if d.get("Status") == "ISSUE":
            if d["AfterDate"] <= last_ms:
                expired_old += 1
            elif last_ms >= replaced_ms + grace_ms + 86_400_000:
                problems.append(f"{cn}: old certificate {ident} still valid past its grace")
            elif not marked:
                half.append(f"{cn}: old certificate {ident} valid but not marked superseded")
            else:
                superseded_valid += 1
        else:
            if last_ms < replaced_ms + grace_ms - 15 * 60_000:
                problems.append(f"{cn}: old certificate {ident} revoked before its grace ended")
            revoked_after_grace += 1
    running = [d["Name"] for d in suite.cloud.store.list("fnf.execution")
               if d["Name"].startswith("rotate-") and d.get("Status") in ("Running", "Starting")]
    half += [f"execution {n} still running" for n in running]
    failed = [r for r in runs if r.status != "succeeded"]
    clear = {c.value for c in Code} - {Code.INTERNAL.value}
    per_cn = Counter(len([x for x in by_cn[cn] if x["Identifier"] in delivered]) for cn in by_cn)
    calls = suite.cloud.store.calls(suite.rotation_calls_mark)
    injected = [c for c in calls if c["code"] in INJECTED_CODES]
    return {
        "calls": len(calls), "faulted_calls": len(injected),
        "faulted_by_code": dict(sorted(Counter(c["code"] for c in injected).items())),
        "pca_calls": sum(1 for c in calls if c["product"] == "pca"),
        "runs": len(runs), "succeeded": len(runs) - len(failed), "failed": len(failed),
        "failed_with_clear_code": sum(1 for r in failed if r.code in clear),
        "failure_codes": dict(Counter(str(r.code) for r in failed)),
        "failure_messages": sorted({f"{r.code}: {(r.message or '')[:300]}" for r in failed})[:10],
        "due": sum(len(e["due"]) for e in log),
        "renewed": sum(e.get("new_certificates", 0) for e in log),
        "retired": sum(e["retired"] for e in log),
        "runs_renewing": sum(1 for e in log if e.get("new_certificates")),
        "missing_renewals": missing, "unexpected_renewals": unexpected,
        "duplicate_certificates": dup_certs,
        "delivered_certificates_per_cn": dict(sorted(per_cn.items())),
        "superseded_still_valid": superseded_valid, "revoked_after_grace": revoked_after_grace,
        "replaced_and_expired": expired_old, "revoked_lost_key": lost_key_revoked,
        "secret_versions_per_certificate": dict(sorted(per_cert.items())),
        "superseded_markers": markers,
        "half_applied": half, "problems": problems, "log": log,
    }


def _fold_secret_counts(c: Counter) -> dict[str, int]:
    out: Counter = Counter()
    for (_cn, kind, n), v in c.items():
        out[f"{kind} versions={n}"] += v
    return dict(sorted(out.items()))



def verdict(report: dict[str, Any]) -> dict[str, Any]:
    """``{ok, problems}``: every run succeeded, no duplicate, nothing half-applied, no secret."""
    c = report["counts"]
    problems = []
    if c["succeeded"] != c["runs"]:
        problems.append(f"{c['failed']} of {c['runs']} runs failed: {c['failure_codes']}")
    for k in ("duplicate_certificates", "duplicate_listeners", "duplicate_server_groups", "duplicate_records",
              "duplicate_secrets"):
        if c[k]:
            problems.append(f"{k}: {c[k]}")
    if c["half_applied"]:
        problems.append(f"half-applied state: {len(c['half_applied'])} item(s), e.g. {c['half_applied'][:3]}")
    rot = report.get("rotation") or {}
    if rot.get("runs"):
        if rot["succeeded"] != rot["runs"]:
            problems.append(f"{rot['failed']} of {rot['runs']} rotation runs failed: {rot['failure_codes']} "
                            f"{rot['failure_messages'][:3]}")
        if rot["duplicate_certificates"]:
            problems.append(f"rotation duplicate_certificates: {rot['duplicate_certificates']}")
        if rot["half_applied"]:
            problems.append(f"half-applied rotation: {len(rot['half_applied'])} item(s), "
                            f"e.g. {rot['half_applied'][:3]}")
        if rot["problems"]:
            problems.append(f"rotation: {len(rot['problems'])} problem(s), e.g. {rot['problems'][:3]}")
    off = report.get("offboarding") or {}
    if off.get("problems"):
        problems.append(f"offboarding: {len(off['problems'])} problem(s), e.g. {off['problems'][:3]}")
    if report["secrets"]["found"]:
        problems.append(f"secrets found: {report['secrets']['found']}")
    cli = report.get("cli")
    if cli:
        bad = {k: v for k, v in {**cli["file_modes"], **(cli.get("rotate_file_modes") or {})}.items() if v != "0o600"}
        if bad:
            problems.append(f"exported files not 0600: {bad}")
    return {"ok": not problems, "problems": problems}

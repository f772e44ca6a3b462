#!/usr/bin/env python3
"""The fault suite: N provisioning runs (and M rotation runs, once rotation exists) against one
in-process local cloud with faults injected at a given rate, then counts — from the local
cloud's own state — what happened: runs succeeded / failed (with which code), client
certificates per CN, listeners per port, DNS records per RR, secrets per certificate, writes
retried, and any half-applied state; then scans every log line, result, execution history,
exception message and CLI output for key material, PFX bytes and passwords.

    .venv/bin/python -m reliability                      # default: 100 runs, 20 % faults
    .venv/bin/python -m reliability --runs 8 --rate 0.2 --json
    .venv/bin/python -m reliability --write-doc docs/RELIABILITY.md

Exit code 0 when every run succeeded, nothing is duplicated or half-applied and no secret was
found; 1 otherwise. The same engine runs reduced in ``tests/reliability/`` (``make test``).

Fault kinds (``localcloud/faults.py``): ``throttle`` (``Throttling.User`` + ``x-acs-retry-after``),
``5xx`` (``ServiceUnavailable``), ``busy`` (ALB ``IncorrectStatus.Listener`` on listener writes,
Alidns ``LastOperationNotFinished`` on record writes), ``drop`` (connection closed before the
request is processed), ``drop_after`` (processed — a write takes effect — then the response is
lost), ``timeout_after`` (processed, the response held past the SDK read timeout). Slow async jobs:
ALB jobs take ``--alb-job-seconds``; PCA issuance and ALB writes get extra latency.
"""
from __future__ import annotations

import argparse
import base64
import copy
import io
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

REPO = Path(__file__).resolve().parent.parent

DOMAIN = "example.test"
WILDCARD_CERT_ID = 20000099
SITE = "cn-hangzhou"

#: The fault mix: share of the total rate per kind (sums to 1) over *every* call (all products,
#: fnf included). On top of it, the product busy codes hit listener writes (ALB
#: ``IncorrectStatus.Listener``) and record writes (Alidns ``LastOperationNotFinished``) at
#: 1.5 × the rate of those calls.
MIX: dict[str, float] = {"throttle": 0.28, "5xx": 0.22, "drop": 0.17, "drop_after": 0.23, "timeout_after": 0.10}
#: Call-log codes the fault injection produces (``localcloud/server.py``).
INJECTED_CODES = {"Throttling.User", "ServiceUnavailable", "IncorrectStatus.Listener", "LastOperationNotFinished",
                  "Dropped", "OK-Dropped", "OK-Timeout"}


def fault_spec(rate: float, *, seed: int, retry_after_ms: int = 150, hold_ms: int = 900) -> dict[str, Any]:
    """The ``Faults.configure`` spec for a total fault rate ``rate`` spread over :data:`MIX`.

    Rules are tried in order, each with its own draw, so the effective total is close to
    ``rate`` (slightly less, as later rules only see calls earlier ones let through)."""
    if rate <= 0:
        return {"rules": [], "seed": seed, "latency_ms": {}}
    # per-rule probability so that the *sequential* rules give the intended share of all calls
    busy = round(min(0.5, rate * 1.5), 5)
    rules: list[dict[str, Any]] = [
        {"kind": "busy", "product": "alb", "action": "*Listener*", "writes_only": True, "rate": busy},
        {"kind": "busy", "product": "alidns", "action": "*DomainRecord*", "writes_only": True, "rate": busy},
    ]
    left = 1.0
    for kind, part in MIX.items():
        share = rate * part
        r: dict[str, Any] = {"kind": kind, "rate": round(min(1.0, share / left), 5)}
        if kind == "throttle":
            r["retry_after_ms"] = retry_after_ms
        if kind == "timeout_after":
            r["hold_ms"] = hold_ms
        rules.append(r)
        left -= share
    return {"rules": rules, "seed": seed,
            "latency_ms": {"pca:CreateClientCertificate*": [40, 160], "alb:Create*": [10, 60],
                           "alb:Update*": [10, 60], "alidns:Add*": [5, 30]}}


def lifetime_days(i: int) -> int:
    """Client certificate lifetime of provisioning run ``i`` (30 … 48 days)."""
    return 30 + 2 * (i % 10)


#: the rotation runs' timer payload: replaced certificates are revoked 5 days after their replacement
ROTATION_POLICY = {"secret_prefix": "albmtls", "revoke_after_days": 5}
ROTATION_FIRST_DAY = 21


# ---------------------------------------------------------------------------------------------
# the suite
# ---------------------------------------------------------------------------------------------
@dataclass
class Run:
    kind: str            # provision | rotation
    index: int
    listener_key: str
    port: int
    rr: str
    cn: str
    execution: str | None = None
    status: str = "pending"       # succeeded | failed
    code: str | None = None
    message: str | None = None
    doc: dict[str, Any] | None = None
    seconds: float = 0.0


@dataclass
class Suite:
    """One local cloud, the provision flow deployed, faults configured; see module doc."""

    workdir: Path
    runs: int = 100
    rotations: int = 20
    rate: float = 0.2
    seed: int = 1
    alb_job_seconds: float = 0.6
    health_scale: float = 0.1
    flow_sleep_scale: float = 0.05
    base_port: int = 2000
    timeout_s: float = 900.0
    cli_run: bool = True
    log: Callable[[str], None] = lambda s: None
    texts: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    results: list[Run] = field(default_factory=list)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> "Suite":
        from localruntime.cloud import LocalCloud, Settings as CloudSettings
        from shared.core import logs
        from shared.adapters.retry import STATS

        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log_buf = io.StringIO()
        self._log_lock = threading.Lock()
        logs.configure(stream=self._log_buf)
        # every other logger (local cloud, flow runner) too: their lines are part of what is scanned
        self._root_handler = logging.StreamHandler(self._log_buf)
        self._root_handler.setLevel(logging.INFO)
        logging.getLogger().addHandler(self._root_handler)
        # one port per run, and one more for the CLI run (``base_port + runs``)
        ports = [self.base_port + i for i in range(max(self.runs, 1) + 1)] + [443, 8443]
        from localruntime.ports import free_offset
        offset = free_offset(ports)
        self._env_before = {k: os.environ.get(k) for k in ("ALBMTLS_ENDPOINTS_FILE", "ALBMTLS_TARGET",
                                                            "ALBMTLS_READ_TIMEOUT_MS")}
        self.cloud = LocalCloud(self.workdir / "state", seed="demo", settings=CloudSettings(
            alb_job_seconds=self.alb_job_seconds, port_offset=offset, health_scale=self.health_scale,
            services=("ecs", "health", "dataplane", "dns", "fnf"))).start()
        scale = self.flow_sleep_scale
        self.cloud.runtime["flow_sleep"] = lambda s: time.sleep(max(0.0, min(s * scale, 2.0)))
        self.ep = self.workdir / "state" / "endpoints.json"
        self.cloud.write_endpoints(self.ep)
        os.environ["ALBMTLS_ENDPOINTS_FILE"] = str(self.ep)
        os.environ["ALBMTLS_TARGET"] = "local"
        # a read timeout shorter than timeout_after's hold, so "timeout_after" is a real read timeout
        os.environ["ALBMTLS_READ_TIMEOUT_MS"] = "600"
        from shared.adapters import clients
        clients.clear_cache()
        from shared.core.settings import Settings
        self.settings = Settings.load(target="local", endpoints_file=str(self.ep))
        # one server certificate covering every rel-N.example.test
        from localcloud.products.cas import make_server_certificate, store_certificate
        cert, key = make_server_certificate(self.cloud, f"rel.{DOMAIN}", [f"rel.{DOMAIN}", f"*.{DOMAIN}"])
        store_certificate(self.cloud, "reliability-wildcard", cert, key, cert_id=WILDCARD_CERT_ID)
        from shared.steps.provisioning import PROVISION_FLOW, deploy_flow
        deploy_flow(self.settings, PROVISION_FLOW, (REPO / "workflows" / "provision.yaml").read_text())
        self.seed_ids = self.cloud.endpoints()["seed"]
        STATS.reset()
        self.calls_mark = self.cloud.store.last_call_n()
        return self

    def stop(self) -> None:
        from shared.core import logs
        try:
            self.cloud.stop()
        finally:
            logging.getLogger().removeHandler(self._root_handler)
            logs.configure()
            for k, v in self._env_before.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            from shared.adapters import clients
            clients.clear_cache()

    def configure_faults(self, rate: float | None = None) -> dict[str, Any]:
        spec = fault_spec(self.rate if rate is None else rate, seed=self.seed)
        self.cloud.faults.configure(spec)
        self.cloud.faults.injected.clear()
        self.spec = spec
        return spec

    # -- inputs ---------------------------------------------------------------------------
    def provision_input(self, i: int) -> dict[str, Any]:
        base = json.loads((REPO / "examples" / "provision.json").read_text())
        inp = copy.deepcopy(base)
        inp["load_balancer_id"] = self.seed_ids["load_balancer_id"]
        inp["listener_port"] = self.base_port + i
        inp["rr"] = f"rel-{i}"
        inp["domain"] = DOMAIN
        inp["ca_identifier"] = self.seed_ids["pca_sub_identifier"]
        inp["server_certificate"] = {"certificate_id": f"{WILDCARD_CERT_ID}-{SITE}"}
        inp["server_group"]["name"] = f"albmtls-rel-{i}"
        # lifetimes 30, 32 … 48 days: due (2/3) on days 20 … 32, so daily rotation runs each renew a share
        inp["clients"] = [{"common_name": f"rel-client-{i}", "days": lifetime_days(i), "profile": "compat"}]
        inp["probe_requests"] = 4
        return inp

    # -- provisioning runs ----------------------------------------------------------------
    def provision_all(self, indexes: list[int] | None = None) -> list[Run]:
        from shared.policy.contracts import ProvisionInput
        from shared.core.errors import AlbMtlsError
        from shared.steps.provisioning import describe_provision, result_document, start_provision
        from shared.adapters.retry import Deadline
        from shared.policy.validation import decode

        indexes = list(range(self.runs)) if indexes is None else indexes
        runs: list[Run] = []
        t0 = time.monotonic()
        for i in indexes:
            raw = self.provision_input(i)
            inp = decode(ProvisionInput, raw)
            run = Run("provision", i, inp.listener_key, inp.listener_port, inp.rr, raw["clients"][0]["common_name"])
            try:
                started = start_provision(self.settings, raw, inp.listener_key, deadline=Deadline(120))
                run.execution = started.name
            except AlbMtlsError as exc:
                run.status, run.code, run.message = "failed", exc.code, exc.message
                self.texts["exceptions"].append(f"{exc.code}: {exc.message} {json.dumps(exc.details, default=str)}")
            except Exception as exc:  # an unhandled exception is a finding, not a crash of the suite
                run.status, run.code, run.message = "failed", f"UNHANDLED:{type(exc).__name__}", str(exc)
                self.texts["exceptions"].append(f"{type(exc).__name__}: {exc}")
            runs.append(run)
        self.log(f"started {sum(1 for r in runs if r.execution)} of {len(runs)} executions "
                 f"in {time.monotonic() - t0:.1f} s")
        pending = {r.execution: r for r in runs if r.execution}
        end = time.monotonic() + self.timeout_s
        while pending and time.monotonic() < end:
            for name in list(pending):
                try:
                    prog = describe_provision(self.settings, name, deadline=Deadline(60), with_history=False)
                except AlbMtlsError as exc:  # the status call itself failed for good: try later
                    self.texts["exceptions"].append(f"{exc.code}: {exc.message}")
                    continue
                if prog is not None and prog.done:
                    pending.pop(name)
            if pending:
                time.sleep(0.5)
        for run in runs:
            if not run.execution:
                continue
            if run.execution in pending:
                run.status, run.code = "failed", "SUITE_TIMEOUT"
                continue
            prog = None
            for _ in range(40):  # the suite's own reads see the faults too (and no retries with them off)
                try:
                    prog = describe_provision(self.settings, run.execution, deadline=Deadline(60))
                    break
                except AlbMtlsError as exc:
                    self.texts["exceptions"].append(f"{exc.code}: {exc.message}")
            if prog is None:
                run.status, run.code = "failed", "SUITE_UNOBSERVED"
                continue
            doc = result_document(prog)
            run.doc = doc
            self.texts["results"].append(json.dumps(doc, default=str))
            self.texts["results"].append(json.dumps(prog.to_dict() if prog else None, default=str))
            run.status = doc["status"]
            if doc.get("error"):
                run.code, run.message = doc["error"].get("code"), doc["error"].get("message")
                self.texts["exceptions"].append(f"{run.code}: {run.message}")
        self.log(f"{len(runs)} provisioning runs done in {time.monotonic() - t0:.1f} s")
        self.results.extend(runs)
        return runs

    # -- rotation runs ------------------------------------------------------------------------
    def rotation_available(self) -> bool:
        try:
            import shared.steps.rotation  # noqa: F401
        except Exception:
            return False
        return (REPO / "workflows" / "rotate.yaml").exists()

    def _certs(self) -> list[dict[str, Any]]:
        sub = self.seed_ids["pca_sub_identifier"]
        return [d for d in self.cloud.store.list("pca.client", key2=sub)
                if str(d.get("CommonName", "")).startswith("rel-client-")]

    def due_now(self, now_ms: int) -> dict[str, str]:
        """CN → current identifier for every CN whose current certificate (per its meta) is due at
        ``now_ms`` by the default rule (2/3 of the issued lifetime) — what a scan must renew."""
        from shared.policy import renewal
        from datetime import datetime, timezone
        certs = {d["Identifier"]: d for d in self._certs()}
        out: dict[str, str] = {}
        for name, meta in self._metas().items():
            d = certs.get(meta.get("identifier"))
            if d is None or d.get("Status") != "ISSUE":
                continue
            nb = datetime.fromtimestamp(d["BeforeDate"] / 1000, tz=timezone.utc)
            na = datetime.fromtimestamp(d["AfterDate"] / 1000, tz=timezone.utc)
            due = renewal.due_at(nb, na, None).timestamp() * 1000
            if due <= now_ms < d["AfterDate"]:
                out[d["CommonName"]] = d["Identifier"]
        return out

    def _metas(self) -> dict[str, dict[str, Any]]:
        out = {}
        for s in self.cloud.store.list("kms.secret"):
            if s["SecretName"].endswith("/meta") and "/rel-client-" in s["SecretName"] and s.get("versions"):
                cur = [v for v in s["versions"] if "ACSCurrent" in (v.get("VersionStages") or [])] or s["versions"][-1:]
                try:
                    out[s["SecretName"]] = json.loads(cur[-1]["SecretData"])
                except (ValueError, KeyError):
                    pass
        return out

    def rotate_all(self, rotations: int | None = None) -> list[Run]:
        """``rotations`` runs of ``albmtls rotate`` (``albmtls.rotate.rotate_once``: the scan as
        the daily timer invokes it, then the rotate executions it started, followed through the fnf
        service), one per day from day 21 after issue, under the configured faults; the last one
        through the CLI (a subprocess) when ``cli_run``. Records, per run, the CNs due before it."""
        from datetime import timedelta
        from albmtls.rotate import rotate_once
        from shared.core.errors import AlbMtlsError
        from shared.core.clock import iso_utc
        rotations = self.rotations if rotations is None else rotations
        certs = self._certs()
        t0 = max(d["BeforeDate"] for d in certs) / 1000 + 600        # the latest issue (+ the backdating)
        from datetime import datetime, timezone
        base = datetime.fromtimestamp(t0, tz=timezone.utc)
        self.rotation_log: list[dict[str, Any]] = []
        self.revoked_before_rotation = {d["Identifier"] for d in certs if d.get("Status") != "ISSUE"}
        self.rotation_calls_mark = self.cloud.store.last_call_n()
        runs: list[Run] = []
        for j in range(rotations):
            now = base + timedelta(days=ROTATION_FIRST_DAY + j)
            self.cloud.clock.set(now)
            now = self.cloud.clock.now()
            due = self.due_now(int(now.timestamp() * 1000))
            run = Run("rotation", j, "", 0, "", "", execution=f"day {ROTATION_FIRST_DAY + j}")
            t = time.monotonic()
            via_cli = self.cli_run and j == rotations - 1
            try:
                doc = self.cli_rotate(now, j) if via_cli else rotate_once(
                    self.settings, policy=dict(ROTATION_POLICY), timeout=self.timeout_s)
                run.status = doc.get("status", "failed")
                if doc.get("error"):
                    run.code, run.message = doc["error"].get("code"), doc["error"].get("message")
            except AlbMtlsError as exc:
                run.status, run.code, run.message = "failed", exc.code, exc.message
                doc = {"status": "failed", "error": exc.to_dict()}
            except Exception as exc:  # a finding, not a crash of the suite
                run.status, run.code, run.message = "failed", f"UNHANDLED:{type(exc).__name__}", str(exc)
                doc = {"status": "failed", "error": {"code": run.code, "message": str(exc)}}
            run.seconds = round(time.monotonic() - t, 1)
            run.doc = doc
            self.texts["results"].append(json.dumps(doc, default=str))
            if run.status != "succeeded":
                self.texts["exceptions"].append(f"{run.code}: {run.message}")
            self.rotation_log.append({"run": j, "now": iso_utc(now), "now_ms": int(now.timestamp() * 1000),
                                      "due": due, "status": run.status, "code": run.code, "cli": via_cli,
                                      "renewed": len(doc.get("renewed") or []),
                                      "retired": len(doc.get("retired") or []),
                                      "executions": [e.get("name") for e in doc.get("executions") or []],
                                      "seconds": run.seconds})
            self.log(f"rotation run {j} ({iso_utc(now)}): {run.status} {run.code or ''} — due {len(due)}, "
                     f"renewed {len(doc.get('renewed') or [])}, retired {len(doc.get('retired') or [])} "
                     f"in {run.seconds} s")
            runs.append(run)
        self.results.extend(runs)
        return runs

    def cli_rotate(self, now: Any, j: int) -> dict[str, Any]:
        """``albmtls rotate --now … --json --out …`` (a subprocess against this local cloud)."""
        out = self.workdir / f"cli-rotate-out-{j}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")}
        env["ALBMTLS_READ_TIMEOUT_MS"] = "600"
        p = subprocess.run([sys.executable, "-m", "albmtls", "rotate", "--now", now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                            "--revoke-after-days", str(ROTATION_POLICY["revoke_after_days"]), "--endpoints-file",
                            str(self.ep), "--json", "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                           timeout=600, env=env)
        self.texts["cli"].extend([p.stdout, p.stderr])
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            doc = {"status": "failed", "error": {"code": "CLI_OUTPUT", "message": p.stdout[-500:]}}
        doc["exit"] = p.returncode
        self.cli_rotate_modes = {fp.name: oct(fp.stat().st_mode & 0o777) for fp in sorted(out.iterdir())} \
            if out.exists() else {}
        return doc

    def count_rotation(self) -> dict[str, Any]:
        """Counts of the rotation runs from the local cloud's state (see module doc)."""
        from shared.core.errors import Code
        log = getattr(self, "rotation_log", [])
        runs = [r for r in self.results if r.kind == "rotation"]
        certs = self._certs()
        secrets = {s["SecretName"]: s for s in self.cloud.store.list("kms.secret") if "/rel-client-" in s["SecretName"]}
        metas = self._metas()
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
            elif d.get("Status") != "ISSUE" and not any(n.values()):
                lost_key_revoked += 1          # revoked by the issue step: its key died with a crashed invocation
            else:
                half.append(f"certificate {serial} of {cn} ({d.get('Status')}): secret versions {n}")
        serials_by_cn = {cn: {str(d.get("SerialNumber", "")).lower() for d in ds} for cn, ds in by_cn.items()}
        markers = 0
        for (cn, kind), vs in versions.items():
            for v in vs:
                base = v.split("-s", 1)[0] if kind == "meta" else v
                if kind == "meta" and "-s" in v:
                    markers += 1
                    old = v.split("-s", 1)[1]
                    # the VersionId is "<new serial>-s<old serial>" cut to 64 characters
                    if not any(s.startswith(old) for s in serials_by_cn.get(cn, set())):
                        half.append(f"meta marker {v} of {cn}: no such old certificate")
                if base not in serials_by_cn.get(cn, set()):
                    half.append(f"secret {cn}/{kind} version {v}: no certificate with that serial")
            dup = [v for v, k in Counter(vs).items() if k > 1]
            if dup:
                half.append(f"secret {cn}/{kind}: repeated versions {dup}")
        # the current certificate of each CN (its meta) is delivered, issued and the newest
        current = {}
        for name, meta in metas.items():
            cn = name.rsplit("/", 2)[-2]
            current[cn] = meta.get("identifier")
            d = delivered.get(meta.get("identifier"))
            if d is None or d.get("Status") != "ISSUE":
                half.append(f"{cn}: current certificate {meta.get('identifier')} not delivered/issued")
            newest = max((x for x in by_cn.get(cn, []) if x["Identifier"] in delivered), key=lambda x: x["BeforeDate"],
                         default=None)
            if newest is not None and newest["Identifier"] != meta.get("identifier"):
                half.append(f"{cn}: a newer certificate {newest['Identifier']} than the meta's")
        # per rotation run: the due CNs got exactly one new certificate, the others none
        new_per_run: Counter = Counter()
        dup_certs = missing = unexpected = 0
        last_ms = log[-1]["now_ms"] if log else 0
        for k, entry in enumerate(log):
            lo = entry["now_ms"] - 15 * 60_000
            hi = log[k + 1]["now_ms"] - 15 * 60_000 if k + 1 < len(log) else entry["now_ms"] + 86_400_000
            fresh = Counter(d["CommonName"] for d in certs if d["Identifier"] in delivered and lo <= d["BeforeDate"] < hi)
            for cn, n in fresh.items():
                if n > 1:
                    dup_certs += n - 1
                    half.append(f"run {k}: {n} certificates for {cn}")
                if cn not in entry["due"]:
                    unexpected += 1
                    problems.append(f"run {k}: {cn} renewed but not due")
            for cn in entry["due"]:
                if fresh.get(cn, 0) == 0:
                    missing += 1
                    problems.append(f"run {k} ({entry['status']} {entry['code'] or ''}): due {cn} not renewed")
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
        running = [d["Name"] for d in self.cloud.store.list("fnf.execution")
                   if d["Name"].startswith("rotate-") and d.get("Status") in ("Running", "Starting")]
        half += [f"execution {n} still running" for n in running]
        failed = [r for r in runs if r.status != "succeeded"]
        clear = {c.value for c in Code} - {Code.INTERNAL.value}
        per_cn = Counter(len([x for x in by_cn[cn] if x["Identifier"] in delivered]) for cn in by_cn)
        calls = self.cloud.store.calls(getattr(self, "rotation_calls_mark", 0))
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

    # -- the CLI, end to end ----------------------------------------------------------------
    def cli_provision(self, i: int) -> dict[str, Any]:
        """``albmtls provision`` (a subprocess, against this local cloud) for run ``i``; PFX and
        password exported to a directory whose files are checked for mode 0600."""
        f = self.workdir / f"cli-{i}.json"
        f.write_text(json.dumps(self.provision_input(i)))
        out = self.workdir / f"cli-out-{i}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")}
        env["ALBMTLS_READ_TIMEOUT_MS"] = "600"
        p = subprocess.run([sys.executable, "-m", "albmtls", "provision", "-f", str(f), "--endpoints-file",
                            str(self.ep), "--json", "--out", str(out)], cwd=REPO, capture_output=True, text=True,
                           timeout=300, env=env)
        self.texts["cli"].extend([p.stdout, p.stderr])
        try:
            doc = json.loads(p.stdout)
        except ValueError:
            doc = {"status": "failed", "error": {"code": "CLI_OUTPUT", "message": p.stdout[-500:]}}
        modes = {}
        if out.exists():
            for fp in sorted(out.iterdir()):
                modes[fp.name] = oct(fp.stat().st_mode & 0o777)
        return {"exit": p.returncode, "doc": doc, "modes": modes}

    # -- counting ---------------------------------------------------------------------------
    def count(self, runs: list[Run] | None = None) -> dict[str, Any]:
        """Counts from the local cloud's state (see module doc)."""
        from shared.adapters.retry import STATS
        store = self.cloud.store
        runs = [r for r in self.results if r.kind == "provision"] if runs is None else runs
        ports = {r.port for r in runs}
        rrs = {r.rr for r in runs}
        cns = {r.cn for r in runs}
        lb = self.seed_ids["load_balancer_id"]
        lb_doc = store.get("alb.loadbalancer", lb) or {}
        sub = self.seed_ids["pca_sub_identifier"]
        now_s = self.cloud.clock.now().timestamp()

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
        expected_ca = sub
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
        return {**self.call_stats(),
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

    def call_stats(self) -> dict[str, Any]:
        """The call log since the faults were configured: calls, faulted calls by code, retries."""
        from shared.adapters.retry import STATS
        calls = [c for c in self.cloud.store.calls(self.calls_mark)]
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
            "qps_throttled": ok_codes.get("Throttling.User", 0) - by_kind.get("Throttling.User", 0),
            "injected": dict(self.cloud.faults.injected),
            "retry_layer": STATS.snapshot(),
        }


    # -- secrets scan -------------------------------------------------------------------------
    def gather_texts(self) -> dict[str, list[str]]:
        """Everything a user or an operator can read: function/local-cloud log lines, results,
        execution histories (fnf ``GetExecutionHistory`` and the stored ``fnf.execution``
        documents), exception messages and CLI output."""
        from shared.steps.provisioning import PROVISION_FLOW, history
        from shared.adapters.retry import Deadline
        texts = {k: list(v) for k, v in self.texts.items()}
        texts["logs"] = self._log_buf.getvalue().splitlines()
        texts["histories"] = [json.dumps(d, default=str) for d in self.cloud.store.list("fnf.execution")]
        for r in self.results[:5]:
            if r.execution:
                try:
                    texts["histories"].append(json.dumps(history(self.settings, PROVISION_FLOW, r.execution,
                                                                 Deadline(60)), default=str))
                except Exception as exc:  # the scan still covers the stored documents
                    texts["exceptions"].append(f"{type(exc).__name__}: {exc}")
        from shared.steps.rotation import ROTATE_FLOW
        rot_names = sorted({n for e in getattr(self, "rotation_log", []) for n in e["executions"] if n})
        for name in rot_names[:5]:
            try:
                texts["histories"].append(json.dumps(history(self.settings, ROTATE_FLOW, name, Deadline(60)),
                                                     default=str))
            except Exception as exc:  # the scan still covers the stored documents
                texts["exceptions"].append(f"{type(exc).__name__}: {exc}")
        fl = self.workdir / "state" / "functions.log"
        if fl.exists():
            texts["logs"].extend(fl.read_text(errors="replace").splitlines())
        return texts

    def secret_needles(self) -> dict[str, list[str]]:
        """What must never appear: passwords and PFX (base64 and raw bytes) from the KMS secrets,
        private-key PEM bodies from the emulator's own keys, and the ``PRIVATE KEY`` marker."""
        store = self.cloud.store
        needles: dict[str, list[str]] = {"marker": ["PRIVATE KEY"], "password": [], "pfx_base64": [],
                                         "pfx_raw": [], "key_body": []}
        for s in store.list("kms.secret"):
            for v in s.get("versions") or []:
                data = str(v.get("SecretData") or "")
                if s["SecretName"].endswith("/password") and data:
                    needles["password"].append(data)
                elif s["SecretName"].endswith("/pfx") and data:
                    needles["pfx_base64"].extend(_windows(data))
                    try:
                        raw = base64.b64decode(data)
                        needles["pfx_raw"].append(raw[len(raw) // 2: len(raw) // 2 + 24].decode("latin-1"))
                        needles["pfx_base64"].extend(_windows(base64.urlsafe_b64encode(raw).decode()))
                    except ValueError:
                        pass
        for kind, fld in (("pca.ca", "key_pem"), ("cas.cert", "Key")):
            for d in store.list(kind):
                body = "".join(ln for ln in str(d.get(fld) or "").splitlines() if ln and not ln.startswith("-----"))
                if body:
                    needles["key_body"].extend(_windows(body))
        return needles

    def scan(self) -> dict[str, Any]:
        texts = self.gather_texts()
        needles = self.secret_needles()
        found: list[str] = []
        for source, items in texts.items():
            blob = "\n".join(t for t in items if t)
            for kind, values in needles.items():
                for v in values:
                    if v and v in blob:
                        found.append(f"{kind} in {source}")
                        break
        return {"found": sorted(set(found)),
                "scanned": {k: len(v) for k, v in texts.items()},
                "scanned_chars": sum(len(t or "") for v in texts.values() for t in v),
                "needles": {k: len(v) for k, v in needles.items()}}


def _fold_secret_counts(c: Counter) -> dict[str, int]:
    out: Counter = Counter()
    for (_cn, kind, n), v in c.items():
        out[f"{kind} versions={n}"] += v
    return dict(sorted(out.items()))


def _windows(text: str, size: int = 40) -> list[str]:
    """A few distinctive ``size``-char slices of ``text`` (start, middle, end)."""
    text = text.replace("\n", "")
    if len(text) <= size:
        return [text] if len(text) >= 16 else []
    mid = len(text) // 2
    return [text[:size], text[mid: mid + size], text[-size:]]


# ---------------------------------------------------------------------------------------------
# one whole run of the suite
# ---------------------------------------------------------------------------------------------
def run_suite(*, runs: int = 100, rotations: int = 20, rate: float = 0.2, seed: int = 1,
              workdir: Path | None = None, cli_run: bool = True, retries: bool = True,
              alb_job_seconds: float = 0.6, log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run the suite; returns the report document (see :func:`render_markdown`)."""
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix="albmtls-reliability-")
        workdir = Path(tmp.name)
    old_retries = os.environ.get("ALBMTLS_RETRIES")
    if not retries:
        os.environ["ALBMTLS_RETRIES"] = "off"
    t0 = time.monotonic()
    suite = Suite(Path(workdir), runs=runs, rotations=rotations, rate=rate, seed=seed, cli_run=cli_run,
                  alb_job_seconds=alb_job_seconds, log=log)
    suite.start()
    try:
        spec = suite.configure_faults()
        suite.provision_all()
        cli = None
        if cli_run:
            # the end-to-end CLI run (faults still on) — its output joins the secrets scan
            cli = suite.cli_provision(runs)
            cli_run_doc = cli["doc"]
            r = Run("provision", runs, cli_run_doc.get("listener_key") or "", suite.base_port + runs,
                    f"rel-{runs}", f"rel-client-{runs}", execution=cli_run_doc.get("execution"),
                    status=cli_run_doc.get("status", "failed"),
                    code=(cli_run_doc.get("error") or {}).get("code"))
            if not r.listener_key:
                r.listener_key = f"{suite.seed_ids['load_balancer_id']}-{suite.base_port + runs}"
            suite.results.append(r)
        # the provisioning counts before any rotation (a rotation adds certificates and versions)
        counts = suite.count()
        rotation: dict[str, Any] = {"available": suite.rotation_available(), "runs": 0}
        if rotations and rotation["available"]:
            suite.rotate_all(rotations)
        suite.cloud.faults.configure({"rules": [], "latency_ms": {}})
        time.sleep(1.0)   # a held (timeout_after) call is logged when its hold ends
        if rotations and rotation["available"]:
            rotation.update(suite.count_rotation())
        counts.update(suite.call_stats())          # calls, faults and retries of the whole suite
        scan = suite.scan()
    finally:
        suite.stop()
        if old_retries is None:
            os.environ.pop("ALBMTLS_RETRIES", None)
        else:
            os.environ["ALBMTLS_RETRIES"] = old_retries
        if tmp is not None:
            tmp.cleanup()
    report = {
        "parameters": {"runs": runs, "rotations": rotations, "rate": rate, "seed": seed, "retries": retries,
                       "alb_job_seconds": alb_job_seconds, "read_timeout_ms": 600, "mix": MIX},
        "faults": spec,
        "counts": counts,
        "rotation": rotation,
        "cli": {"exit": cli["exit"], "status": cli["doc"].get("status"), "file_modes": cli["modes"],
                **({"rotate_file_modes": getattr(suite, "cli_rotate_modes", {})} if rotations else {})} if cli else None,
        "secrets": scan,
        "seconds": round(time.monotonic() - t0, 1),
    }
    report["verdict"] = verdict(report)
    return report


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
            problems.append(f"half-applied rotation: {len(rot['half_applied'])} item(s), e.g. {rot['half_applied'][:3]}")
        if rot["problems"]:
            problems.append(f"rotation: {len(rot['problems'])} problem(s), e.g. {rot['problems'][:3]}")
    if report["secrets"]["found"]:
        problems.append(f"secrets found: {report['secrets']['found']}")
    cli = report.get("cli")
    if cli:
        bad = {k: v for k, v in {**cli["file_modes"], **(cli.get("rotate_file_modes") or {})}.items() if v != "0o600"}
        if bad:
            problems.append(f"exported files not 0600: {bad}")
    return {"ok": not problems, "problems": problems}


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------
def render_markdown(report: dict[str, Any], command: str) -> str:
    p, c, s = report["parameters"], report["counts"], report["secrets"]
    lines = [
        "# Reliability: the fault suite",
        "",
        "Produced by `reliability/suite.py` (do not edit by hand; re-run the command below).",
        "",
        "Reproduce:",
        "",
        "```",
        command,
        "```",
        "",
        f"Verdict: **{'PASS' if report['verdict']['ok'] else 'FAIL'}**"
        + ("" if report["verdict"]["ok"] else " — " + "; ".join(report["verdict"]["problems"])),
        f"({report['seconds']} s wall time)",
        "",
        "## What was injected",
        "",
        f"Total fault rate {p['rate']:.0%} of calls (seed {p['seed']}, retry layer "
        f"{'on' if p['retries'] else 'OFF'}), spread over the kinds below; every product and action "
        "(ALB, CAS, PCA, Alidns, KMS, CloudFlow) unless scoped. ALB async jobs take "
        f"{p['alb_job_seconds']} s; PCA issuance and ALB/Alidns writes get 5–160 ms extra latency; "
        f"the SDK read timeout is {p['read_timeout_ms']} ms; the CAS/PCA QPS cap (10/s) stays on.",
        "",
        "| rule | scope | per-call probability | extra |",
        "|---|---|---|---|",
    ]
    for r in report["faults"]["rules"]:
        scope = f"{r.get('product', '*')}:{r.get('action', '*')}" + (" writes" if r.get("writes_only") else "")
        extra = ", ".join(f"{k}={r[k]}" for k in ("retry_after_ms", "hold_ms") if k in r)
        lines.append(f"| `{r['kind']}` | `{scope}` | {r['rate']} | {extra} |")
    lines += [
        "",
        f"Calls seen by the local cloud: {c['calls']} ({c['writes']} writes); faulted: {c['faulted_calls']} "
        f"(**{c['faulted_share']:.1%}**) — by call-log code:",
        "",
        "| code | calls |",
        "|---|---|",
    ]
    for code, n in c["faulted_by_code"].items():
        lines.append(f"| `{code}` | {n} |")
    rl = c["retry_layer"]
    lines += [
        "",
        f"Besides: {c['qps_throttled']} calls throttled by the QPS cap.",
        "",
        "## What was counted (from the local cloud's state)",
        "",
        "| figure | value |",
        "|---|---|",
        f"| provisioning runs | {c['runs']} |",
        f"| rotation runs | {report['rotation']['runs']} (next section) |",
        f"| runs succeeded | {c['succeeded']} |",
        f"| runs failed (with a clear code) | {c['failed']} ({c['failed_with_clear_code']}) {c['failure_codes'] or ''} |",
        *([f"| failure messages | {'<br>'.join(m.replace('|', '/') for m in c['failure_messages'])} |"]
          if c["failure_messages"] else []),
        f"| client certificates per CN | {_hist(c['client_certificates_per_cn'])} |",
        f"| duplicate certificates | {c['duplicate_certificates']} |",
        f"| listeners per port | {_hist(c['listeners_per_port'])} |",
        f"| duplicate listeners | {c['duplicate_listeners']} |",
        f"| server groups per name | {_hist(c['server_groups_per_name'])} |",
        f"| DNS records per RR | {_hist(c['dns_records_per_rr'])} |",
        f"| duplicate records | {c['duplicate_records']} |",
        f"| secret versions per certificate | {', '.join(f'{k}: {v}' for k, v in c['secret_versions_per_certificate'].items())} |",
        f"| duplicate / orphan secret versions | {c['duplicate_secrets']} |",
        f"| writes faulted, then retried | {c['writes_faulted_then_retried']} |",
        f"| … of which applied with the response lost | {c['writes_applied_response_lost']} |",
        f"| retry layer: attempts / retries | {rl['attempts']} / {rl['retries']} |",
        f"| half-applied state | {len(c['half_applied'])} |",
        "",
        "Retried codes (retry layer): " + ", ".join(f"`{k}` {v}" for k, v in sorted(rl["retried_codes"].items())),
        "",
    ]
    if c["half_applied"]:
        lines += ["Half-applied items:", ""] + [f"- {h}" for h in c["half_applied"][:30]] + [""]
    lines += _rotation_markdown(report)
    cli = report.get("cli")
    lines += [
        "## Secrets",
        "",
        f"Scanned {s['scanned_chars']} characters: " + ", ".join(f"{k} {v}" for k, v in s["scanned"].items())
        + " (items). Needles: " + ", ".join(f"{k} {v}" for k, v in s["needles"].items()) + ".",
        "",
        f"Found: **{len(s['found'])}**" + (f" — {s['found']}" if s["found"] else ""),
        "",
    ]
    if cli:
        lines += [f"CLI run (`albmtls provision --json --out …`, faults on): exit {cli['exit']}, status "
                  f"{cli['status']}; exported files: " + ", ".join(f"`{k}` {v}" for k, v in cli["file_modes"].items()),
                  ""]
    return "\n".join(lines)


def _rotation_markdown(report: dict[str, Any]) -> list[str]:
    r = report.get("rotation") or {}
    if not r.get("runs"):
        return []
    lines = [
        "## Rotation runs (from the local cloud's state)",
        "",
        f"{r['runs']} runs of `albmtls rotate` under the same faults (`albmtls.rotate.rotate_once`: the "
        "scan invoked as the daily timer invokes it, then the `albmtls-rotate` executions it started, followed "
        "through the fnf service; the last run through the CLI, a subprocess), one a day from day "
        f"{ROTATION_FIRST_DAY} after issue. Client lifetimes are 30, 32 … 48 days, so the runs renew the "
        f"certificates as each falls due (2/3 of its lifetime). Timer payload `{json.dumps(ROTATION_POLICY)}`: a "
        "replaced certificate is revoked by the first run 5 days after its replacement.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| calls during the rotation runs | {r['calls']} ({r['pca_calls']} PCA); faulted {r['faulted_calls']}: "
        + ", ".join(f"`{k}` {v}" for k, v in r["faulted_by_code"].items()) + " |",
        f"| rotation runs succeeded | {r['succeeded']} of {r['runs']} |",
        f"| runs failed (with a clear code) | {r['failed']} ({r['failed_with_clear_code']}) {r['failure_codes'] or ''} |",
        *([f"| failure messages | {'<br>'.join(m.replace('|', '/') for m in r['failure_messages'])} |"]
          if r["failure_messages"] else []),
        f"| CNs due before a run (sum over runs) | {r['due']} |",
        f"| new certificates (one per due CN per run) | {r['renewed']} in {r['runs_renewing']} runs |",
        f"| due CNs not renewed / renewed but not due | {r['missing_renewals']} / {r['unexpected_renewals']} |",
        f"| duplicate certificates (per CN per run) | {r['duplicate_certificates']} |",
        f"| delivered certificates per CN (at the end) | {_hist(r['delivered_certificates_per_cn'])} |",
        f"| replaced: still valid and marked superseded | {r['superseded_still_valid']} |",
        f"| replaced: revoked after the 5-day grace | {r['revoked_after_grace']} (runs reporting retirements: {r['retired']}) |",
        f"| replaced: expired naturally | {r['replaced_and_expired']} |",
        f"| revoked by the issue step (key lost in a crash, never delivered) | {r['revoked_lost_key']} |",
        f"| secret versions per certificate (pfx, password, meta) | {', '.join(f'{k}: {v}' for k, v in r['secret_versions_per_certificate'].items())} |",
        f"| superseded markers (meta versions `<new>-s<old>`) | {r['superseded_markers']} |",
        f"| half-applied rotations | {len(r['half_applied'])} |",
        f"| other problems | {len(r['problems'])} |",
        "",
        "| run | now | due | new | retired | status | s |",
        "|---|---|---|---|---|---|---|",
    ]
    for e in r["log"]:
        lines.append(f"| {e['run']}{' (CLI)' if e['cli'] else ''} | {e['now']} | {len(e['due'])} | "
                     f"{e.get('new_certificates', 0)} | {e['retired']} | {e['status']} {e['code'] or ''} | {e['seconds']} |")
    lines.append("")
    for title, items in (("Half-applied rotation items", r["half_applied"]), ("Problems", r["problems"])):
        if items:
            lines += [f"{title}:", ""] + [f"- {h}" for h in items[:30]] + [""]
    return lines


def _hist(d: dict[Any, int]) -> str:
    return ", ".join(f"{k}→{v}" for k, v in sorted(d.items(), key=lambda kv: int(kv[0]))) or "–"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100, help="provisioning runs (default 100)")
    ap.add_argument("--rotations", type=int, default=20, help="rotation runs after the provisioning runs (default 20)")
    ap.add_argument("--rate", type=float, default=0.2, help="share of calls faulted (default 0.2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--alb-job-seconds", type=float, default=0.6)
    ap.add_argument("--no-retries", action="store_true", help="turn the retry layer off (the suite must fail)")
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--write-doc", type=Path, help="write the Markdown report here (docs/RELIABILITY.md)")
    a = ap.parse_args(argv)
    log = (lambda s: sys.stderr.write(f"[reliability] {s}\n"))
    rep = run_suite(runs=a.runs, rotations=a.rotations, rate=a.rate, seed=a.seed, cli_run=not a.no_cli,
                    retries=not a.no_retries, alb_job_seconds=a.alb_job_seconds, log=log)
    cmd = "make reliability   # = .venv/bin/python -m reliability " + " ".join(
        x for x in [f"--runs {a.runs}", f"--rotations {a.rotations}", f"--rate {a.rate}", f"--seed {a.seed}",
                    "--write-doc docs/RELIABILITY.md"])
    md = render_markdown(rep, cmd)
    if a.write_doc:
        a.write_doc.write_text(md + "\n")
    if a.json:
        print(json.dumps(rep, indent=2, default=str))
    else:
        print(md)
    return 0 if rep["verdict"]["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

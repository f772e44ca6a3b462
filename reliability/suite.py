"""The fault suite's engine: one in-process local cloud with the provision flow deployed and
faults injected (:mod:`reliability.faults`), and the runs against it — N provisioning runs (one more
through the ``albmtls provision`` CLI) and M daily rotation runs (the last through ``albmtls rotate``).

What happened is counted from the local cloud's own state (:mod:`reliability.counts`), everything
readable is scanned for secrets (:mod:`reliability.scan`), :mod:`reliability.run` puts one whole run
together and :mod:`reliability.report` writes docs/RELIABILITY.md; ``python -m reliability`` is the
command line. The same engine runs reduced in ``tests/reliability/`` (``make test``).
"""
from __future__ import annotations

import copy
import io
import json
import logging
import os
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reliability.faults import fault_spec

if TYPE_CHECKING:
    from collections.abc import Callable

REPO = Path(__file__).resolve().parent.parent

DOMAIN = "example.test"
WILDCARD_CERT_ID = 20000099
SITE = "cn-hangzhou"

def lifetime_days(i: int) -> int:
    """Client certificate lifetime of provisioning run ``i`` (30 … 48 days)."""
    return 30 + 2 * (i % 10)


#: the rotation runs' timer payload: replaced certificates are revoked 5 days after their replacement
ROTATION_POLICY: dict[str, Any] = {"secret_prefix": "albmtls", "revoke_after_days": 5}
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
    #: per rotation run: when, which CNs were due, what it reported (:meth:`rotate_all`)
    rotation_log: list[dict[str, Any]] = field(default_factory=list)
    rotation_calls_mark: int = 0
    #: file modes of the last ``albmtls rotate --out`` directory (:meth:`cli_rotate`)
    cli_rotate_modes: dict[str, str] = field(default_factory=dict)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> Suite:
        from localruntime.cloud import LocalCloud
        from localruntime.cloud import Settings as CloudSettings
        from shared.adapters.retry import STATS
        from shared.core import logs

        self.workdir.mkdir(parents=True, exist_ok=True)
        self._log_buf = io.StringIO()
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
            services=("ecs", "health", "dataplane", "dns", "fnf", "http", "notify"))).start()
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
        from shared.steps.provisioning import deploy_flows
        deploy_flows(self.settings, REPO / "workflows")
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
        if i % 2 == 0:   # every other client has a person holder (a link by email); the others are the operator's
            inp["clients"][0]["holder"] = {"kind": "person", "name": f"Holder {i}",
                                           "email": f"rel-client-{i}@example.test"}
        inp["probe_requests"] = 4
        return inp

    # -- provisioning runs ----------------------------------------------------------------
    def provision_all(self, indexes: list[int] | None = None) -> list[Run]:
        from shared.adapters.retry import Deadline
        from shared.core.errors import AlbMtlsError
        from shared.policy.contracts import ProvisionInput
        from shared.policy.validation import decode
        from shared.steps.provisioning import describe_provision, result_document, start_provision

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
            self.texts["results"].append(json.dumps(prog.to_dict(), default=str))
            run.status = doc["status"]
            if doc.get("error"):
                run.code, run.message = doc["error"].get("code"), doc["error"].get("message")
                self.texts["exceptions"].append(f"{run.code}: {run.message}")
        self.log(f"{len(runs)} provisioning runs done in {time.monotonic() - t0:.1f} s")
        self.results.extend(runs)
        return runs

    # -- rotation runs ------------------------------------------------------------------------
    def client_certificates(self) -> list[dict[str, Any]]:
        """The suite's client certificates (``rel-client-*``) under the demo sub-CA, as the PCA stores them."""
        sub = self.seed_ids["pca_sub_identifier"]
        return [d for d in self.cloud.store.list("pca.client", key2=sub)
                if str(d.get("CommonName", "")).startswith("rel-client-")]

    def due_now(self, now_ms: int) -> dict[str, str]:
        """CN → current identifier for every CN whose current certificate (per its meta) is due at
        ``now_ms`` by the default rule (2/3 of the issued lifetime) — what a scan must renew."""
        from datetime import datetime

        from shared.policy import renewal
        certs = {d["Identifier"]: d for d in self.client_certificates()}
        out: dict[str, str] = {}
        for meta in self.client_metas().values():
            d = certs.get(meta.get("identifier"))
            if d is None or d.get("Status") != "ISSUE":
                continue
            nb = datetime.fromtimestamp(d["BeforeDate"] / 1000, tz=UTC)
            na = datetime.fromtimestamp(d["AfterDate"] / 1000, tz=UTC)
            due = renewal.due_at(nb, na, None).timestamp() * 1000
            if due <= now_ms < d["AfterDate"]:
                out[d["CommonName"]] = d["Identifier"]
        return out

    def client_metas(self) -> dict[str, dict[str, Any]]:
        """Secret name → the current version of each ``…/rel-client-*/meta`` secret, parsed."""
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
        """``rotations`` runs of ``albmtls rotate`` (``albmtls.rotate.rotate_once``: the day's
        rotation order placed as the daily timer does, followed in the issuing lane through the fnf
        service), one per day from day 21 after issue, under the configured faults; the last one
        through the CLI (a subprocess) when ``cli_run``. Records, per run, the CNs due before it."""
        from datetime import timedelta

        from albmtls.rotate import rotate_once
        from shared.core.clock import iso_utc
        from shared.core.errors import AlbMtlsError
        rotations = self.rotations if rotations is None else rotations
        certs = self.client_certificates()
        t0 = max(d["BeforeDate"] for d in certs) / 1000 + 600        # the latest issue (+ the backdating)
        from datetime import datetime
        base = datetime.fromtimestamp(t0, tz=UTC)
        self.rotation_log = []
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
                                      "executions": [doc["order"]] if doc.get("order") else [],
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
        self.cli_rotate_modes = _file_modes(out)
        return doc

    # -- the CLI, end to end ----------------------------------------------------------------
    def cli_provision(self, i: int) -> dict[str, Any]:
        """``albmtls provision`` (a subprocess, against this local cloud) for run ``i``; PFX and
        password exported to a directory whose files are checked for mode 0600."""
        f = self.workdir / f"cli-{i}.json"
        inp = self.provision_input(i)
        for c in inp["clients"]:
            c.pop("holder", None)      # the operator's path: the PFX is exported (a person's goes by the page)
        f.write_text(json.dumps(inp))
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
        return {"exit": p.returncode, "doc": doc, "modes": _file_modes(out)}


    # -- what the runs left behind ------------------------------------------------------------
    def log_lines(self) -> list[str]:
        """Every log line written while the suite ran (function and local-cloud loggers)."""
        return self._log_buf.getvalue().splitlines()

    def count(self, runs: list[Run] | None = None) -> dict[str, Any]:
        """:func:`reliability.counts.count_provisioning` of ``runs`` (default: every provisioning run)."""
        from reliability.counts import count_provisioning
        return count_provisioning(self, runs)

    def scan(self) -> dict[str, Any]:
        """:func:`reliability.scan.scan`: secrets in anything readable."""
        from reliability.scan import scan
        return scan(self)


def _file_modes(out: Path) -> dict[str, str]:
    """``{file name: mode}`` of what the CLI exported: the PFX files in ``out`` and the passwords in
    ``<out>-passwords`` (the CLI's default layout, albmtls/export.py)."""
    modes: dict[str, str] = {}
    for d in (out, out.with_name(out.name + "-passwords")):
        if d.exists():
            for fp in sorted(d.iterdir()):
                modes[fp.name] = oct(fp.stat().st_mode & 0o777)
    return modes

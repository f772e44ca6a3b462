"""One whole run of the fault suite: start the local cloud, inject faults, run the provisioning
runs (and one through the CLI), count, run the rotation runs, count them, revoke and prune holders
(``reliability.offboarding``), count them, scan for secrets, judge."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reliability.counts import call_stats, count_rotation, verdict
from reliability.faults import MIX
from reliability.offboarding import offboard_all
from reliability.scan import scan as scan_secrets
from reliability.suite import Run, Suite

if TYPE_CHECKING:
    from collections.abc import Callable


def run_suite(*, runs: int = 100, rotations: int = 20, rate: float = 0.2, seed: int = 1,
              workdir: Path | None = None, cli_run: bool = True, retries: bool = True,
              alb_job_seconds: float = 0.6, revokes: int = 0, prunes: int = 0,
              log: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run the suite; returns the report document (:func:`reliability.report.render_markdown` renders it)."""
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
        rotation: dict[str, Any] = {"runs": 0}
        if rotations:
            suite.rotate_all(rotations)
        suite.cloud.faults.configure({"rules": [], "latency_ms": {}})
        time.sleep(1.0)   # a held (timeout_after) call is logged when its hold ends
        if rotations:
            rotation.update(count_rotation(suite))
        offboarding: dict[str, Any] = {"revokes": 0, "prunes": 0}
        if revokes or prunes:
            # the same faults again, for the revocations and prunes (counted apart: they revoke
            # certificates the rotation counts above looked at)
            suite.cloud.faults.configure({k: v for k, v in spec.items() if k != "seed"})
            offboarding = offboard_all(suite, revokes=revokes, prunes=prunes)
            suite.cloud.faults.configure({"rules": [], "latency_ms": {}})
            time.sleep(1.0)
            log(f"offboarding: {offboarding['revokes']} revokes, {offboarding['prunes']} prunes, twice, in "
                f"{offboarding['seconds']} s; problems: {offboarding['problems'][:3]}")
        counts.update(call_stats(suite))          # calls, faults and retries of the whole suite
        scan = scan_secrets(suite)
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
        "offboarding": offboarding,
        "cli": {"exit": cli["exit"], "status": cli["doc"].get("status"), "file_modes": cli["modes"],
                **({"rotate_file_modes": suite.cli_rotate_modes} if rotations else {})} if cli else None,
        "secrets": scan,
        "seconds": round(time.monotonic() - t0, 1),
    }
    report["verdict"] = verdict(report)
    return report

"""The fault suite: provisioning and rotation runs against one local cloud with faults injected at
a given rate, counted from the cloud's own state, and every log line, result and history scanned
for secrets (``python -m reliability``, ``make reliability``).

    .venv/bin/python -m reliability                      # default: 100 runs, 20 rotations, 20 % faults
    .venv/bin/python -m reliability --runs 8 --rate 0.2 --json
    .venv/bin/python -m reliability --write-doc docs/RELIABILITY.md

Exit code 0 when every run succeeded, nothing is duplicated or half-applied and no secret was
found; 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from reliability.report import render_markdown
from reliability.run import run_suite


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reliability", description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=100, help="provisioning runs (default 100)")
    ap.add_argument("--rotations", type=int, default=20, help="rotation runs after the provisioning runs (default 20)")
    ap.add_argument("--rate", type=float, default=0.2, help="share of calls faulted (default 0.2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--revokes", type=int, default=10, help="holders revoked after the rotations (default 10)")
    ap.add_argument("--prunes", type=int, default=10, help="holders pruned after the rotations (default 10)")
    ap.add_argument("--alb-job-seconds", type=float, default=0.6)
    ap.add_argument("--no-retries", action="store_true", help="turn the retry layer off (the suite must fail)")
    ap.add_argument("--no-cli", action="store_true", help="skip the end-to-end CLI run")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--write-doc", type=Path, help="write the Markdown report here (docs/RELIABILITY.md)")
    a = ap.parse_args(argv)
    def log(s: str) -> None:
        sys.stderr.write(f"[reliability] {s}\n")
    rep = run_suite(runs=a.runs, rotations=a.rotations, rate=a.rate, seed=a.seed, cli_run=not a.no_cli,
                    retries=not a.no_retries, alb_job_seconds=a.alb_job_seconds, revokes=a.revokes,
                    prunes=a.prunes, log=log)
    cmd = "make reliability   # = .venv/bin/python -m reliability " + " ".join(
        x for x in [f"--runs {a.runs}", f"--rotations {a.rotations}", f"--revokes {a.revokes}",
                    f"--prunes {a.prunes}", f"--rate {a.rate}", f"--seed {a.seed}", "--write-doc docs/RELIABILITY.md"])
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

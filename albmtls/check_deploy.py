"""``albmtls check-deploy``.

Validates ``s.yaml``, the function packages, the workflows and the RAM policies offline
(``deploy/check/__init__.py`` says what exactly); exits 1 naming each problem.
"""
from __future__ import annotations

from pathlib import Path

import typer

from .options import emit_json


def check_deploy(state_dir: Path = typer.Option(Path(".albmtls-observe"), "--state-dir",
                                                help="State directory of the observed run (python -m "
                                                     "deploy.observe; `make check-deploy` runs both) whose call "
                                                     "log the function role is compared with."),
                 build: bool = typer.Option(True, "--build/--no-build",
                                            help="--build: check a fresh code-only build in a temporary directory; "
                                                 "--no-build: check the existing build/ (what `s deploy` uploads)."),
                 json_out: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
                 root: Path = typer.Option(Path("."), "--root", help="Repository root (where s.yaml is)."),
                 skip_observation: bool = typer.Option(
                     False, "--skip-observation", help="Do not compare the function role with observed calls."),
                 ) -> None:
    """Validate s.yaml, packages, workflows and RAM policies offline; exit 1 naming each problem."""
    from deploy.check import check_deploy as run_check
    report = run_check(root, state_dir=state_dir, build=build, observe=not skip_observation)
    if json_out:
        emit_json(report.to_dict())
    else:
        typer.echo(report.text(), err=not report.ok)
    raise typer.Exit(0 if report.ok else 1)

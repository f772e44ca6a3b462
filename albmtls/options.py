"""What every ``albmtls`` command shares: the common options, output helpers and the local cloud's
demo timings. Commands import from here, never from each other's modules for these.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:  # pragma: no cover
    from rich.console import Console

    from localruntime.cloud import Settings as LocalCloudSettings

DEFAULT_STATE_DIR = ".albmtls"
EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2

StateDir = typer.Option(Path(DEFAULT_STATE_DIR), "--state-dir", help="Local cloud state directory.")
EndpointsFile = typer.Option(None, "--endpoints-file",
                             help="Endpoints file of a running local cloud (from `albmtls up`).")
Target = typer.Option("local", "--target",
                      help="local (the local cloud) or cloud (a real account via the default credential chain).")
JsonOut = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def err(msg: str) -> None:
    """One line on stderr."""
    typer.echo(msg, err=True)


def emit_json(doc: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


def load_json_arg(text: str, what: str) -> Any:
    """JSON from the text itself or ``@file``; raises ``ValueError`` naming ``what``."""
    try:
        if text.startswith("@"):
            text = Path(text[1:]).read_text()
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{what}: not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{what}: not valid JSON (nested too deeply)") from None


def console(width: int = 120) -> Console:
    """A rich console on stderr, readable without a terminal too (pipes, CI logs): at least
    ``width`` columns."""
    import shutil

    from rich.console import Console
    return Console(stderr=True, highlight=False, width=max(width, shutil.get_terminal_size((width, 24)).columns))


def quiet_logs() -> None:
    """Functions run in this process log JSON lines; keep stdout for the one JSON document."""
    import os

    from shared.core import logs
    logs.configure(stream=sys.stderr, level=os.environ.get("ALBMTLS_LOG_LEVEL", "WARNING"))


def local_cloud_settings() -> LocalCloudSettings:
    """Demo-like timings of an in-process local cloud: ALB jobs take a second, health checks at
    half their configured intervals."""
    from localruntime.cloud import Settings
    return Settings(alb_job_seconds=1.0, health_scale=0.5)

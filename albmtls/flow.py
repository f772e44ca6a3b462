"""``albmtls flow run``: any CloudFlow definition on the local runner (Tasks invoke the handlers
in ``functions/`` in-process, as the local FC does)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from .options import (
    EndpointsFile,
    JsonOut,
    PortOffset,
    StateDir,
    emit_json,
    err,
    fail_local,
    load_json_arg,
    local_banner,
    local_cloud_settings,
)

flow_app = typer.Typer(no_args_is_help=True, help="Run CloudFlow definitions on the local flow runner.")


@flow_app.command("run")
def flow_run(file: Path = typer.Argument(..., exists=True, readable=True, help="Flow definition (YAML or JSON)."),
             input: str = typer.Option("{}", "--input", help="Execution input: JSON text or @file."),
             name: str | None = typer.Option(None, "--name", help="Execution name."),
             state_dir: Path = StateDir,
             endpoints_file: Path | None = EndpointsFile,
             port_offset: int = PortOffset,
             json_out: bool = JsonOut) -> None:
    """Run any CloudFlow definition on the local runner (Tasks invoke the handlers in functions/)."""
    from localruntime import environment
    try:
        doc = load_json_arg(input, "--input")
    except ValueError as exc:
        err(f"INVALID_INPUT: {exc}")
        raise typer.Exit(2) from None
    try:
        with environment.local_environment(state_dir, endpoints_file,
                                           settings=local_cloud_settings(port_offset)) as env:
            if not json_out:
                err(local_banner(env, state_dir))
            result = run_flow_file(file, doc, name=name, progress=not json_out)
    except environment.LocalCloudUnavailable as exc:
        fail_local(exc, json_out)
    if json_out:
        emit_json(result)
    else:
        brief = {k: result.get(k) for k in ("name", "status", "error", "output")}
        err(json.dumps(brief, indent=2, default=str))
        err(f"({len(result.get('events') or [])} history events; --json prints them; function logs in "
             f"{Path(env.get('state_dir') or state_dir)}/functions.log)")
    raise typer.Exit(0 if result.get("status") == "Succeeded" else 1)


def run_flow_file(path: Path, input_doc: Any, *, name: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Run a flow definition on the local runner in this process (Tasks → ``functions/``),
    printing progress on stderr; returns ``{status, output, error, events}``."""
    import sys
    import time as _time
    import uuid

    from localcloud.flow import DefinitionError, FlowRunner, load_definition
    from localruntime.fc import invoke_function

    try:
        definition = load_definition(Path(path))
    except DefinitionError as exc:
        return {"status": "Failed", "error": {"Code": "InvalidDefinition", "Detail": "; ".join(exc.problems)},
                "output": None, "events": []}

    def on_event(ev: dict) -> None:
        if progress:
            sys.stderr.write(f"{ev['time']} {ev['type']:<18} {ev['state']}\n")

    runner = FlowRunner(definition, invoker=invoke_function, sleep=_time.sleep, on_event=on_event)
    res = runner.run(input_doc, name=name or f"local-{uuid.uuid4().hex[:12]}")
    return res.to_dict()

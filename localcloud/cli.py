"""``albmtls``: the command line of alb-mtls (never deployed).

Commands: ``up`` (run the local cloud), ``provision`` (the main job), ``rotate``, ``status``,
``serve`` (the provisioning HTTP API locally), ``flow run`` (any CloudFlow definition),
``check-deploy``. Every reporting command takes ``--json`` and then prints one JSON document on
stdout; progress goes to stderr.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_show_locals=False,
                  help="Mutual TLS on Alibaba Cloud ALB listeners, on the local cloud or a real account.")
flow_app = typer.Typer(no_args_is_help=True, help="Run CloudFlow definitions on the local flow runner.")
app.add_typer(flow_app, name="flow")

DEFAULT_STATE_DIR = ".albmtls"

StateDir = typer.Option(Path(DEFAULT_STATE_DIR), "--state-dir", help="Local cloud state directory.")
EndpointsFile = typer.Option(None, "--endpoints-file", help="Endpoints file of a running local cloud (from `albmtls up`).")
Target = typer.Option("local", "--target", help="local (the local cloud) or cloud (a real account via the default credential chain).")
JsonOut = typer.Option(False, "--json", help="Print one JSON document on stdout.")


def _err(msg: str) -> None:
    typer.echo(msg, err=True)


def emit_json(doc: Any) -> None:
    """Print one JSON document on stdout."""
    sys.stdout.write(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()


@app.command()
def up(seed: str = typer.Option("demo", "--seed", help="Seed of a fresh state directory (demo)."),
       state_dir: Path = StateDir,
       endpoints_file: Path = typer.Option(None, "--endpoints-file",
                                           help="Where to write the endpoints JSON once ready (default: <state-dir>/endpoints.json)."),
       port: int = typer.Option(0, "--port", help="Control-plane port on 127.0.0.1 (0 = a free port)."),
       port_offset: int = typer.Option(10000, "--port-offset", help="Data plane: listener port + offset on 127.0.0.1."),
       dns_port: int = typer.Option(0, "--dns-port", help="DNS server port on 127.0.0.1 (0 = a free port)."),
       alb_job_seconds: float = typer.Option(1.0, "--alb-job-seconds", help="How long ALB async jobs take (seconds)."),
       health_scale: float = typer.Option(1.0, "--health-scale", help="Multiply health-check intervals (e.g. 0.25 for demos)."),
       faults: Optional[str] = typer.Option(None, "--faults", help="Fault, latency and QPS spec: JSON text or @file "
                                            "(see localcloud/faults.py; also settable at run time: POST <admin>/faults)."),
       ) -> None:
    """Run the local Alibaba Cloud until interrupted (SIGINT/SIGTERM)."""
    from .cloud import LocalCloud, Settings
    from .faults import Faults
    from .runtime import load_json_arg
    fault_cfg = Faults()
    if faults:
        try:
            fault_cfg.configure(load_json_arg(faults, "--faults"))
        except (ValueError, TypeError, KeyError) as exc:
            _err(f"INVALID_INPUT: {exc}")
            raise typer.Exit(2)
    settings = Settings(port_offset=port_offset, alb_job_seconds=alb_job_seconds, dns_port=dns_port,
                        health_scale=health_scale)
    from .runtime import LocalCloudInUse, function_logs, state_lock
    stop = threading.Event()

    def _on_signal(signum, frame):  # noqa: ARG001
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        lock = state_lock(state_dir)
        lock.__enter__()
    except LocalCloudInUse as exc:
        _err(f"LOCAL_CLOUD_IN_USE: {exc}")
        raise typer.Exit(1)
    logs_ctx = function_logs(state_dir)
    log_path = logs_ctx.__enter__()
    cloud = LocalCloud(state_dir, seed=seed, port=port, settings=settings, faults=fault_cfg)
    cloud.start()
    target = endpoints_file or (state_dir / "endpoints.json")
    cloud.write_endpoints(target)
    # Flows run in this process: their functions find the local cloud as FC functions would
    # find their endpoints (environment variables).
    os.environ["ALBMTLS_ENDPOINTS_FILE"] = str(target.resolve())
    os.environ["ALBMTLS_TARGET"] = "local"
    _err(f"local cloud ready: API {cloud.api_endpoint}, endpoints in {target}, function logs in {log_path}")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        _err("stopping local cloud")
        cloud.stop()
        try:
            target.unlink()
        except OSError:
            pass
        logs_ctx.__exit__(None, None, None)
        lock.__exit__(None, None, None)


@flow_app.command("run")
def flow_run(file: Path = typer.Argument(..., exists=True, readable=True, help="Flow definition (YAML or JSON)."),
             input: str = typer.Option("{}", "--input", help="Execution input: JSON text or @file."),
             name: Optional[str] = typer.Option(None, "--name", help="Execution name."),
             state_dir: Path = StateDir,
             endpoints_file: Optional[Path] = EndpointsFile,
             json_out: bool = JsonOut) -> None:
    """Run any CloudFlow definition on the local runner (Tasks invoke the handlers in functions/)."""
    from . import runtime
    try:
        doc = runtime.load_json_arg(input, "--input")
    except ValueError as exc:
        _err(f"INVALID_INPUT: {exc}")
        raise typer.Exit(2)
    try:
        with runtime.local_environment(state_dir, endpoints_file) as env:
            result = runtime.run_flow_file(file, doc, name=name, progress=not json_out)
    except runtime.LocalCloudInUse as exc:
        _err(f"LOCAL_CLOUD_IN_USE: {exc}")
        raise typer.Exit(1)
    if json_out:
        emit_json(result)
    else:
        brief = {k: result.get(k) for k in ("name", "status", "error", "output")}
        _err(json.dumps(brief, indent=2, default=str))
        _err(f"({len(result.get('events') or [])} history events; --json prints them; function logs in "
             f"{Path(env.get('state_dir') or state_dir)}/functions.log)")
    raise typer.Exit(0 if result.get("status") == "Succeeded" else 1)


def main() -> None:
    """Console entry point."""
    app()




# --- provision -----------------------------------------------------------------------------
@app.command()
def provision(file: Path = typer.Option(..., "-f", "--file", help="Provision input (JSON), e.g. examples/provision.json."),
              target: str = Target,
              state_dir: Path = StateDir,
              endpoints_file: Optional[Path] = EndpointsFile,
              out: Path = typer.Option(Path("out"), "--out", help="Where the local target exports each client's PFX and password."),
              json_out: bool = JsonOut,
              timeout: float = typer.Option(900.0, "--timeout", help="Give up following the execution after this many seconds."),
              ) -> None:
    """The main job: preflight, client certificates, listener mTLS, CNAME, health check and live probe."""
    from . import provisioning_cli
    code = provisioning_cli.run_provision(file=file, target=target, state_dir=state_dir,
                                          endpoints_file=endpoints_file, out=out, json_out=json_out,
                                          timeout=timeout)
    raise typer.Exit(code)


@app.command()
def serve(port: int = typer.Option(8080, "--port", help="Port on 127.0.0.1."),
          state_dir: Path = StateDir,
          endpoints_file: Optional[Path] = EndpointsFile) -> None:
    """Serve the provisioning HTTP API (the provision_api function) on 127.0.0.1, on the local cloud."""
    from . import runtime
    from .provisioning_cli import WORKFLOW, _local_cloud_settings
    from .serve import make_server
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with runtime.local_environment(state_dir, endpoints_file, settings=_local_cloud_settings()) as ep:
        from shared.provisioning import PROVISION_FLOW, deploy_flow
        from shared.settings import Settings
        deploy_flow(Settings.load(target="local", endpoints_file=ep["endpoints_file"]), PROVISION_FLOW,
                    WORKFLOW.read_text())
        from functions.provision_api.index import handler
        server = make_server(handler, port)
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        t.start()
        _err(f"provisioning API on http://127.0.0.1:{server.server_address[1]} (POST /provisions, "
             "GET /provisions/{name}, POST /rotations, GET /certificates)")
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.shutdown()
            server.server_close()
from . import cli_deploy  # noqa: E402,F401  (registers check-deploy)
from . import cli_rotate  # noqa: E402,F401  (registers rotate and status)


if __name__ == "__main__":  # pragma: no cover
    # `python -m localcloud.cli` runs this file as __main__; the commands of cli_deploy/cli_rotate
    # register on the app of the module `localcloud.cli`, so run that one.
    from localcloud.cli import main as _main
    _main()

"""``albmtls serve``: the provisioning HTTP API (the ``provision_api`` function) on 127.0.0.1."""
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import typer

from .options import EndpointsFile, PortOffset, StateDir, Target, err, open_target


def check_port(value: int) -> int:
    """``--port``: a TCP port, 1-65535."""
    if not 1 <= value <= 65535:
        raise typer.BadParameter(f"INVALID_INPUT: {value} is not a port; give 1-65535 (e.g. 8080)")
    return value


def serve(port: int = typer.Option(8080, "--port", callback=check_port, help="Port on 127.0.0.1 (1-65535)."),
          target: str = Target,
          state_dir: Path = StateDir,
          endpoints_file: Path | None = EndpointsFile,
          port_offset: int = PortOffset) -> None:
    """Serve the provisioning HTTP API (the provision_api function) on 127.0.0.1: on the local cloud
    (the flow is deployed there first), or with --target cloud against a real account whose flows
    are already deployed (s deploy)."""
    from localruntime.ports import is_free

    from .httpserver import make_server
    from .provision import WORKFLOW
    if target not in ("local", "cloud"):
        err("INVALID_INPUT: --target must be local or cloud")
        raise typer.Exit(2)
    if not is_free(port):             # before the local cloud starts: nothing is started for nothing
        err(f"LOCAL_PORT_IN_USE: 127.0.0.1:{port} is held by another process; pass another --port "
            "(e.g. --port 8081), or stop that process")
        raise typer.Exit(1)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with ExitStack() as stack:
        if target == "local":
            from shared.steps.provisioning import deploy_flows

            local = stack.enter_context(open_target("local", state_dir, endpoints_file, port_offset=port_offset,
                                                    cloud_time=False)).settings
            deploy_flows(local, WORKFLOW.parent)
        else:
            # the handler reads its settings from the environment, as in FC: the default credential
            # chain and the public endpoints of the input's region
            stack.enter_context(_env(ALBMTLS_TARGET="cloud", ALBMTLS_ENDPOINTS_FILE=None))
            from shared.core.errors import AlbMtlsError
            from shared.core.settings import Settings

            from .options import cloud_identity, quiet_logs
            quiet_logs()
            try:
                cloud_identity(Settings.load(target="cloud"))   # the account, identity and region first
            except AlbMtlsError as exc:
                err(f"{exc.code}: {exc.message}")
                raise typer.Exit(1) from None
            err("alb-mtls on a real account (the default credential chain); the flows must be deployed (s deploy)")
        from functions.provision_api.index import handler
        if target == "local":
            handler = _in_cloud_time(handler, local.endpoints_file)
        try:
            server = make_server(handler, port)
        except OSError as exc:        # taken since the check above
            err(f"LOCAL_PORT_IN_USE: 127.0.0.1:{port}: {exc.strerror}; pass another --port, or stop that process")
            raise typer.Exit(1) from None
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        t.start()
        from shared.entry.api import ROUTES
        err(f"provisioning API on http://127.0.0.1:{server.server_address[1]} ({', '.join(ROUTES)})")
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.shutdown()
            server.server_close()


def _in_cloud_time(handler: Any, endpoints_file: str | None) -> Any:
    """``handler`` run in the local cloud's time, read at each request as FC gives each invocation
    its clock (``localruntime.fc.local_time``): a ``clock set`` while serve runs is seen at once."""
    from localruntime.fc import local_time

    def run(event: Any, context: Any) -> Any:
        with local_time(endpoints_file):
            return handler(event, context)
    return run


@contextmanager
def _env(**values: str | None) -> Iterator[None]:
    """Environment variables set (``None``: unset) for the duration."""
    old = {k: os.environ.get(k) for k in values}
    try:
        for k, v in values.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v

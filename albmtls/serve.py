"""``albmtls serve``: the provisioning HTTP API (the ``provision_api`` function) on 127.0.0.1."""
from __future__ import annotations

import signal
import threading
from pathlib import Path

import typer

from .options import EndpointsFile, StateDir, err, local_cloud_settings


def serve(port: int = typer.Option(8080, "--port", help="Port on 127.0.0.1."),
          state_dir: Path = StateDir,
          endpoints_file: Path | None = EndpointsFile) -> None:
    """Serve the provisioning HTTP API (the provision_api function) on 127.0.0.1, on the local cloud."""
    from localruntime import environment

    from .httpserver import make_server
    from .provision import WORKFLOW
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with environment.local_environment(state_dir, endpoints_file, settings=local_cloud_settings()) as ep:
        from shared.core.settings import Settings
        from shared.steps.provisioning import PROVISION_FLOW, deploy_flow
        deploy_flow(Settings.load(target="local", endpoints_file=ep["endpoints_file"]), PROVISION_FLOW,
                    WORKFLOW.read_text())
        from functions.provision_api.index import handler
        server = make_server(handler, port)
        t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        t.start()
        err(f"provisioning API on http://127.0.0.1:{server.server_address[1]} (POST /provisions, "
             "GET /provisions/{name}, POST /rotations, GET /certificates)")
        try:
            while not stop.wait(0.5):
                pass
        finally:
            server.shutdown()
            server.server_close()

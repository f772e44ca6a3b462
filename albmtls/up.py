"""``albmtls up``: run the local Alibaba Cloud until interrupted, writing its endpoints file."""
from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import typer

from .options import DEFAULT_PORT_OFFSET, StateDir, check_port_offset, err, human_offset, load_json_arg


def up(seed: str = typer.Option("demo", "--seed", help="Seed of a fresh state directory (demo)."),
       state_dir: Path = StateDir,
       endpoints_file: Path | None = typer.Option(None, "--endpoints-file",
                                           help="Where to write the endpoints JSON once ready "
                                                "(default: <state-dir>/endpoints.json)."),
       port: int = typer.Option(0, "--port", help="Control-plane port on 127.0.0.1 (0 = a free port)."),
       port_offset: int = typer.Option(DEFAULT_PORT_OFFSET, "--port-offset", callback=check_port_offset,
                                       help="Data plane: listener port + offset on 127.0.0.1 (0-65000)."),
       dns_port: int = typer.Option(0, "--dns-port", help="DNS server port on 127.0.0.1 (0 = a free port)."),
       alb_job_seconds: float = typer.Option(1.0, "--alb-job-seconds", help="How long ALB async jobs take (seconds)."),
       health_scale: float = typer.Option(1.0, "--health-scale",
                                          help="Multiply health-check intervals (e.g. 0.25 for demos)."),
       faults: str | None = typer.Option(None, "--faults",
                                         help="Fault, latency and QPS spec: JSON text or @file (see "
                                              "localcloud/faults.py; also settable at run time: POST <admin>/faults)."),
       alb_ca_id_form: str = typer.Option("cert_identifier", "--alb-ca-id-form",
                                          help="Which id of a private CA this ALB takes in CaCertificates: "
                                               "cert_identifier (the UUID of ListPcaCaCertificate) or identifier "
                                               "(the 32-hex one of DescribeCACertificateList); the other is "
                                               "refused. Published in the endpoints file as alb_ca_id_form."),
       ) -> None:
    """Run the local Alibaba Cloud until interrupted (SIGINT/SIGTERM)."""
    from localcloud.faults import Faults
    from localcloud.seed import SEEDS
    from localruntime.cloud import LocalCloud, Settings
    if seed not in SEEDS:
        err(f"INVALID_INPUT: --seed {seed!r} is not a seed; known: {', '.join(SEEDS)} (a state directory "
            "seeded earlier keeps its state whatever the seed)")
        raise typer.Exit(2)
    fault_cfg = Faults()
    if faults:
        try:
            fault_cfg.configure(load_json_arg(faults, "--faults"))
        except (ValueError, TypeError, KeyError) as exc:
            err(f"INVALID_INPUT: {exc}")
            raise typer.Exit(2) from None
    from localcloud.emulator import CA_ID_FORMS
    if alb_ca_id_form not in CA_ID_FORMS:
        err(f"INVALID_INPUT: --alb-ca-id-form must be {' or '.join(CA_ID_FORMS)}, got {alb_ca_id_form!r}")
        raise typer.Exit(2)
    settings = Settings(port_offset=port_offset, alb_job_seconds=alb_job_seconds, dns_port=dns_port,
                        health_scale=health_scale, alb_ca_id_form=alb_ca_id_form)
    from localruntime.environment import (
        LocalCloudInUse,
        LocalPortInUse,
        check_listener_ports,
        function_logs,
        state_lock,
    )
    stop = threading.Event()

    def _on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        lock = state_lock(state_dir)
        lock.__enter__()
    except LocalCloudInUse as exc:
        err(f"LOCAL_CLOUD_IN_USE: {exc}")
        raise typer.Exit(1) from None
    logs_ctx = function_logs(state_dir)
    log_path = logs_ctx.__enter__()
    cloud = LocalCloud(state_dir, seed=seed, port=port, settings=settings, faults=fault_cfg)
    cloud.start()
    try:
        check_listener_ports(cloud)        # a listener of this state whose port another process holds
    except LocalPortInUse as exc:
        cloud.stop()
        logs_ctx.__exit__(None, None, None)
        lock.__exit__(None, None, None)
        err(f"{exc.code}: {exc}")
        raise typer.Exit(1) from None
    target = endpoints_file if endpoints_file is not None else state_dir / "endpoints.json"
    cloud.write_endpoints(target)
    # Flows run in this process: their functions find the local cloud as FC functions would
    # find their endpoints (environment variables).
    os.environ["ALBMTLS_ENDPOINTS_FILE"] = str(target.resolve())
    os.environ["ALBMTLS_TARGET"] = "local"
    err(f"local cloud ready: API {cloud.api_endpoint}, endpoints in {target}, function logs in {log_path}, "
        f"listeners on 127.0.0.1:<port + {settings.port_offset}>")
    if abs(cloud.clock.offset) >= 2:
        err(f"local cloud clock {cloud.clock.now():%Y-%m-%dT%H:%M:%SZ}: {human_offset(cloud.clock.offset)} "
            f"{'ahead of' if cloud.clock.offset > 0 else 'behind'} this machine's (kept from the state directory; "
            "`albmtls clock reset` puts it back)")
    try:
        while not stop.wait(0.5):
            pass
    finally:
        err("stopping local cloud")
        cloud.stop()
        try:
            target.unlink()
        except OSError:
            pass
        logs_ctx.__exit__(None, None, None)
        lock.__exit__(None, None, None)

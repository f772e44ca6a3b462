"""Which local cloud a command talks to — a running one named by an endpoints file, or one
started in-process on the state directory — and the environment the functions see there (the
same variables FC would give them), with the state directory's lock and the functions' log file.
"""
from __future__ import annotations

import json
import os
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator


def read_endpoints(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


class LocalCloudUnavailable(RuntimeError):
    """The local cloud a command needs cannot be used; ``code`` is the stable error code the
    command reports (exit 1)."""

    code = "LOCAL_CLOUD_UNAVAILABLE"


class LocalCloudInUse(LocalCloudUnavailable):
    """Another process runs a local cloud on this state directory and no live endpoints file
    says how to reach it."""

    code = "LOCAL_CLOUD_IN_USE"


class LocalPortInUse(LocalCloudUnavailable):
    """A data-plane port of the local cloud started by this command is held by another process
    (often another local cloud with the same port offset): the command would talk to that one."""

    code = "LOCAL_PORT_IN_USE"

    def __init__(self, port: int, listener_port: int, offset: int) -> None:
        self.port, self.listener_port, self.offset = port, listener_port, offset
        super().__init__(
            f"127.0.0.1:{port} (listener port {listener_port} + port offset {offset}) is in use by another process "
            f"— another local cloud? This command's local cloud cannot serve listener {listener_port} there; pass "
            f"--port-offset N (e.g. --port-offset {_suggest(offset)}), or stop that process")


def _suggest(offset: int) -> int:
    return 20000 if offset != 20000 else 30000


def check_listener_ports(cloud: Any, listener_ports: Any = ()) -> None:
    """Raise :class:`LocalPortInUse` when the data plane of ``cloud`` (started in this process) could
    not bind a listener it serves, or when one of ``listener_ports`` (listeners about to be made)
    maps to a port another process holds now."""
    from .ports import is_free
    offset = int(cloud.settings.port_offset)
    failed = cloud.runtime.get("dataplane_bind_failures") or {}
    if failed:
        port, listener_port = min(failed.values())
        raise LocalPortInUse(port, listener_port, offset)
    served = set((cloud.runtime.get("dataplane") or {}).values())
    for lp in sorted({int(p) for p in listener_ports}):
        if lp + offset not in served and not is_free(lp + offset):
            raise LocalPortInUse(lp + offset, lp, offset)


def endpoints_alive(doc: dict[str, Any], timeout: float = 1.0) -> bool:
    """True when the local cloud named by an endpoints document answers its admin health check."""
    import urllib.request
    admin = doc.get("admin")
    if not admin or not str(admin).startswith("http://127.0.0.1:"):
        return False
    try:
        with urllib.request.urlopen(f"{admin}/health", timeout=timeout) as resp:
            return resp.status == 200
    except OSError:
        return False


@contextmanager
def state_lock(state_dir: Path) -> Iterator[None]:
    """Hold ``<state_dir>/.lock`` (exclusive, non-blocking) while a local cloud runs on it.
    Raises ``LocalCloudInUse`` when another process holds it."""
    import fcntl
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(state_dir / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LocalCloudInUse(
                f"another albmtls process runs a local cloud on {state_dir}/; pass --endpoints-file "
                f"{state_dir}/endpoints.json to use it, or choose another --state-dir") from None
        yield
    finally:
        os.close(fd)


@contextmanager
def function_logs(state_dir: Path) -> Iterator[Path]:
    """Send the functions' JSON log lines (run in this process) to ``<state_dir>/functions.log``,
    as FC ships them to SLS, so that stdout stays for the command's own output."""
    from shared.core import logs
    Path(state_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    path = Path(state_dir) / "functions.log"
    stream = open(path, "a", buffering=1, encoding="utf-8")
    os.chmod(path, 0o600)
    logs.configure(stream=stream)
    try:
        yield path
    finally:
        logs.configure(stream=sys.stderr)
        stream.close()


@contextmanager
def local_environment(state_dir: Path, endpoints_file: Path | None = None, *,
                      settings=None, listener_ports: Any = ()) -> Iterator[dict[str, Any]]:
    """Yield the endpoints document of the local cloud to use.

    With ``endpoints_file``: a running local cloud (``albmtls up``). Without: the local cloud
    already running on ``state_dir`` if its ``endpoints.json`` answers; otherwise one started
    in-process on ``state_dir`` (demo seed on a fresh directory) for the duration, with every
    service (the state directory is locked meanwhile; its endpoints file is removed at the end).
    The functions' environment (``ALBMTLS_ENDPOINTS_FILE``, ``ALBMTLS_TARGET``) is set either way;
    functions run in this process log to ``<state dir>/functions.log``. The document says
    ``in_process`` (True when this command started the cloud).

    ``listener_ports``: listener ports the command is about to serve (a provision input's); an
    in-process cloud checks that their data-plane ports (and those of the listeners it already
    serves) are free, so a port held by another process is reported as what it is.
    Raises ``LocalCloudInUse``, ``LocalPortInUse``.
    """
    old = {k: os.environ.get(k) for k in ("ALBMTLS_ENDPOINTS_FILE", "ALBMTLS_TARGET")}
    default_ep = Path(state_dir) / "endpoints.json"
    if endpoints_file is None and default_ep.exists():
        try:
            if endpoints_alive(read_endpoints(default_ep)):
                endpoints_file = default_ep
        except (OSError, ValueError):
            pass
    with ExitStack() as stack:
        try:
            if endpoints_file is not None:
                ep_path = Path(endpoints_file).resolve()
                endpoints = read_endpoints(ep_path)
                stack.enter_context(function_logs(Path(endpoints.get("state_dir") or state_dir)))
            else:
                from .cloud import LocalCloud
                stack.enter_context(state_lock(state_dir))
                stack.enter_context(function_logs(state_dir))
                cloud = LocalCloud(state_dir, seed="demo", settings=settings).start()
                stack.callback(cloud.stop)
                check_listener_ports(cloud, listener_ports)
                ep_path = default_ep.resolve()
                cloud.write_endpoints(ep_path)
                stack.callback(lambda: ep_path.unlink(missing_ok=True))
                endpoints = cloud.endpoints()
            os.environ["ALBMTLS_ENDPOINTS_FILE"] = str(ep_path)
            os.environ["ALBMTLS_TARGET"] = "local"
            yield dict(endpoints, endpoints_file=str(ep_path), in_process=endpoints_file is None)
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v

"""Glue between the CLI and the local cloud: which local cloud to talk to (a running one named by
an endpoints file, or one started in-process on the state directory), the environment the
functions see (the same variables FC would give them), and the local FC invoker used by the flow
runner (``FC:InvokeFunction`` → ``functions/<dir>/index.handler``).
"""
from __future__ import annotations

import json
import os
import uuid
import sys
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Iterator

from .flow.runner import LocalFunctionInvoker

# FC function name → code directory under functions/ (s.yaml names them the same way).
FUNCTION_PREFIX = "albmtls-"


def function_module(function_name: str) -> str:
    """``albmtls-issue-client-cert`` → ``functions.issue_client_cert.index``."""
    base = function_name[len(FUNCTION_PREFIX):] if function_name.startswith(FUNCTION_PREFIX) else function_name
    return f"functions.{base.replace('-', '_')}.index"


class _Invoker(LocalFunctionInvoker):
    """The flow runner's in-process FC invoker, with this project's function names."""

    def module_name(self, function_name: str) -> str:
        return function_module(function_name)


_INVOKER = _Invoker()


def invoke_function(function_name: str, payload: bytes, context_info: dict | None = None) -> bytes:
    """Invoke a function's handler in-process, as FC would (event bytes, FC-like context)."""
    return _INVOKER(function_name, payload, context_info or {"timeout": 120})


def load_json_arg(text: str, what: str) -> Any:
    """JSON from the text itself or ``@file``; raises ``ValueError`` naming ``what``."""
    try:
        if text.startswith("@"):
            text = Path(text[1:]).read_text()
        return json.loads(text)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{what}: not valid JSON ({exc})") from None


def read_endpoints(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())


class LocalCloudInUse(RuntimeError):
    """Another process runs a local cloud on this state directory and no live endpoints file
    says how to reach it."""


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
    from shared import logs
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
                      settings=None) -> Iterator[dict[str, Any]]:
    """Yield the endpoints document of the local cloud to use.

    With ``endpoints_file``: a running local cloud (``albmtls up``). Without: the local cloud
    already running on ``state_dir`` if its ``endpoints.json`` answers; otherwise one started
    in-process on ``state_dir`` (demo seed on a fresh directory) for the duration, with every
    service (the state directory is locked meanwhile; its endpoints file is removed at the end).
    The functions' environment (``ALBMTLS_ENDPOINTS_FILE``, ``ALBMTLS_TARGET``) is set either way;
    functions run in this process log to ``<state dir>/functions.log``.
    Raises ``LocalCloudInUse``.
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
                ep_path = default_ep.resolve()
                cloud.write_endpoints(ep_path)
                stack.callback(lambda: ep_path.unlink(missing_ok=True))
                endpoints = cloud.endpoints()
            os.environ["ALBMTLS_ENDPOINTS_FILE"] = str(ep_path)
            os.environ["ALBMTLS_TARGET"] = "local"
            yield dict(endpoints, endpoints_file=str(ep_path))
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def run_flow_file(path: Path, input_doc: Any, *, name: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Run a flow definition on the local runner in this process (Tasks → ``functions/``),
    printing progress on stderr; returns ``{status, output, error, events}``."""
    import sys
    import time as _time

    from .flow import DefinitionError, FlowRunner, load_definition

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

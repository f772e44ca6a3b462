"""The local Function Compute: invoke a function's handler in-process, as FC 3.0 would.

``FunctionInvoker`` maps an FC function name to its code directory under ``functions/``
(``albmtls-issue-client-cert`` → ``functions.issue_client_cert.index``), builds the context FC
3.0's python3.12 runtime passes, calls the module's optional ``initialize(context)`` once, then
``handler(event_bytes, context)``, and encodes the return value as FC does (bytes as is, str as
UTF-8, anything else as JSON). The flow runner (``localcloud.flow``) and the fnf executor call it.

Time. In the cloud every function reads real time; here the local cloud keeps its own clock
(tests and ``albmtls rotate --now`` move it), and the functions must share it. The invoker gives
each invocation the local cloud's clock offset in the environment, as FC gives a function its
configuration: ``ALBMTLS_CLOCK_OFFSET_S`` (seconds ahead of this machine's clock), which the FC
handler wrapper reads through ``shared.core.clock.clock_from_env``. The offset comes from the
invoker's ``clock`` (the local cloud's ``localcloud.clock.Clock``, when the invoker runs beside it)
or else from the local cloud named by ``ALBMTLS_ENDPOINTS_FILE`` (``GET {admin}/clock``).
In-process callers that run a step outside an invocation (``albmtls status``, the CLI's scan)
use :func:`local_time` for the same environment.
"""
from __future__ import annotations

import importlib
import json
import logging
import os
import threading
import time
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localcloud.flow.errors import FUNCTION_NOT_FOUND, FcInvokeError
from localcloud.flow.runner import encode_result

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# FC function name → code directory under functions/ (s.yaml names them the same way).
FUNCTION_PREFIX = "albmtls-"
#: the environment variable ``shared.core.clock.clock_from_env`` reads (kept equal to its OFFSET_ENV)
CLOCK_OFFSET_ENV = "ALBMTLS_CLOCK_OFFSET_S"


def local_clock_offset(endpoints_file: str | None = None, *, timeout: float = 5.0) -> float | None:
    """Seconds the local cloud's clock is ahead of this machine's: ``GET {admin}/clock`` of the
    endpoints file (default ``ALBMTLS_ENDPOINTS_FILE``). ``None`` when no local cloud is named (the
    cloud target: functions read the system time). Raises ``OSError`` when the named local cloud
    does not answer."""
    path = endpoints_file or os.environ.get("ALBMTLS_ENDPOINTS_FILE")
    if not path or os.environ.get("ALBMTLS_TARGET", "local") != "local":
        return None
    with open(path) as f:
        admin = json.load(f).get("admin")
    if not (isinstance(admin, str) and admin.startswith("http://127.0.0.1:")):
        return None
    with urllib.request.urlopen(admin.rstrip("/") + "/clock", timeout=timeout) as resp:  # 127.0.0.1
        now = json.load(resp)["now"]
    return datetime.fromisoformat(now.replace("Z", "+00:00")).timestamp() - time.time()


_env_lock = threading.Lock()
_env_users = 0
_env_saved: str | None = None


@contextmanager
def function_environment(clock_offset: float | None) -> Iterator[None]:
    """``ALBMTLS_CLOCK_OFFSET_S`` = ``clock_offset`` while the body runs (nothing when ``None``).

    Invocations run concurrently in threads (a flow's Map): the variable is set by each and
    restored to its earlier value when the last one ends, so nothing outlives the invocations."""
    global _env_users, _env_saved
    if clock_offset is None:
        yield
        return
    with _env_lock:
        if _env_users == 0:
            _env_saved = os.environ.get(CLOCK_OFFSET_ENV)
        _env_users += 1
        os.environ[CLOCK_OFFSET_ENV] = repr(float(clock_offset))
    try:
        yield
    finally:
        with _env_lock:
            _env_users -= 1
            if _env_users == 0:
                if _env_saved is None:
                    os.environ.pop(CLOCK_OFFSET_ENV, None)
                else:
                    os.environ[CLOCK_OFFSET_ENV] = _env_saved


@contextmanager
def local_time(endpoints_file: str | None = None) -> Iterator[None]:
    """The local cloud's time for code run in this process outside an invocation (module doc)."""
    with function_environment(local_clock_offset(endpoints_file)):
        yield


_TIMEOUTS: dict[str, int] | None = None


def function_timeouts() -> dict[str, int]:
    """FC function name → its ``timeout`` (s) as ``s.yaml`` deploys it, read once: a local
    invocation gets the time the deployed function would (``{}`` without an ``s.yaml``)."""
    global _TIMEOUTS
    if _TIMEOUTS is None:
        import yaml

        path = Path(__file__).resolve().parents[1] / "s.yaml"
        out: dict[str, int] = {}
        try:
            doc = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            doc = {}
        for res in (doc.get("resources") or {}).values():
            props = (res or {}).get("props") or {}
            if res.get("component") == "fc3" and props.get("functionName") and isinstance(props.get("timeout"), int):
                out[props["functionName"]] = props["timeout"]
        _TIMEOUTS = out
    return _TIMEOUTS


def function_module(function_name: str, package: str = "functions") -> str:
    """``albmtls-issue-client-cert`` → ``functions.issue_client_cert.index``."""
    base = function_name[len(FUNCTION_PREFIX):] if function_name.startswith(FUNCTION_PREFIX) else function_name
    return f"{package}.{base.replace('-', '_')}.index"


@dataclass
class FcFunction:
    name: str
    handler: str = "index.handler"
    memory: int = 512
    timeout: int = 60
    version_id: str = ""
    qualifier: str = "LATEST"


class FcContext:
    """What FC 3.0 (python3.12) passes as ``context`` to a Python handler
    (docs/ARCHITECTURE.md, "Function Compute 3.0")."""

    def __init__(self, request_id: str, function: FcFunction, region: str, account_id: str,
                 deadline: float | None = None) -> None:
        self.request_id = request_id
        self.function = function
        self.region = region
        self.account_id = account_id
        # No ``credentials``: the python3.12 runtime removed them (functions read the
        # ALIBABA_CLOUD_* environment through the default credential chain instead).
        self.log_project = ""
        self.log_store = ""
        self.logger = logging.getLogger(f"fc.{function.name}")
        self._deadline = deadline if deadline is not None else time.monotonic() + function.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class FunctionInvoker:
    """Invoke ``functions/<dir>/index.py::handler`` in-process (see module doc)."""

    def __init__(self, package: str = "functions", *, region: str = "cn-hangzhou",
                 account_id: str = "1000000000000000", memory: int = 512, clock: Any = None,
                 clock_offset: Callable[[], float | None] | None = None) -> None:
        """``clock``: the local cloud's clock (its ``offset`` is passed to each invocation);
        ``clock_offset``: where the offset comes from otherwise (default :func:`local_clock_offset`)."""
        self.package = package
        if clock is not None:
            self._clock_offset: Callable[[], float | None] = lambda: float(clock.offset)
        else:
            self._clock_offset = clock_offset or local_clock_offset
        self.region = region
        self.account_id = account_id
        self.memory = memory
        self._initialized: set[str] = set()
        self._lock = threading.Lock()

    def module_name(self, function_name: str) -> str:
        return function_module(function_name, self.package)

    def __call__(self, function_name: str, payload: bytes, info: dict[str, Any]) -> bytes:
        modname = self.module_name(function_name)
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name and modname.startswith(exc.name):
                raise FcInvokeError(FUNCTION_NOT_FOUND, f"function {function_name!r} not found (no module "
                                                        f"{modname})") from None
            raise
        timeout = int(info.get("timeout") or function_timeouts().get(function_name) or 60)
        fn = FcFunction(name=function_name, memory=self.memory, timeout=timeout,
                        qualifier=str(info.get("qualifier") or "LATEST"))
        ctx = FcContext(str(info.get("request_id") or uuid.uuid4()), fn, str(info.get("region") or self.region),
                        str(info.get("account_id") or self.account_id))
        init = getattr(mod, "initialize", None)
        if init is not None and modname not in self._initialized:
            with self._lock:
                if modname not in self._initialized:
                    init(ctx)
                    self._initialized.add(modname)
        with function_environment(self._clock_offset()):
            out = mod.handler(payload, ctx)
        return encode_result(out)


_INVOKER = FunctionInvoker()


def invoke_function(function_name: str, payload: bytes, context_info: dict | None = None) -> bytes:
    """Invoke a function's handler in-process, as FC would (event bytes, FC-like context)."""
    return _INVOKER(function_name, payload, context_info or {"timeout": 120})

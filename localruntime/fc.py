"""The local Function Compute: invoke a function's handler in-process, as FC 3.0 would.

``FunctionInvoker`` maps an FC function name to its code directory under ``functions/``
(``albmtls-issue-client-cert`` → ``functions.issue_client_cert.index``), builds the context FC
3.0's python3.12 runtime passes, calls the module's optional ``initialize(context)`` once, then
``handler(event_bytes, context)``, and encodes the return value as FC does (bytes as is, str as
UTF-8, anything else as JSON). The flow runner (``localcloud.flow``) and the fnf executor call it.
"""
from __future__ import annotations

import importlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from localcloud.flow.runner import encode_result

# FC function name → code directory under functions/ (s.yaml names them the same way).
FUNCTION_PREFIX = "albmtls-"


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
                 account_id: str = "1000000000000000", memory: int = 512) -> None:
        self.package = package
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
                err = LookupError(f"function {function_name!r} not found (no module {modname})")
                err.code = "FC.FunctionNotFound"  # type: ignore[attr-defined]
                raise err from None
            raise
        timeout = int(info.get("timeout") or 60)
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
        out = mod.handler(payload, ctx)
        return encode_result(out)


_INVOKER = FunctionInvoker()


def invoke_function(function_name: str, payload: bytes, context_info: dict | None = None) -> bytes:
    """Invoke a function's handler in-process, as FC would (event bytes, FC-like context)."""
    return _INVOKER(function_name, payload, context_info or {"timeout": 120})

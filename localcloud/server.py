"""The control plane: one HTTP server on 127.0.0.1 serving every emulated product's RPC
OpenAPI, dispatching on ``x-acs-version``/``x-acs-action`` (fallback: query ``Version``/``Action``),
plus an admin API under ``/_admin/``.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sys
import threading
import time
import traceback
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from . import errors
from .products import BY_VERSION
from .products.actiontrail import models as trail
from .protocol import Params, unflatten, verify_acs3, verify_v2
from .registry import ACTIONS, Ctx

if TYPE_CHECKING:  # pragma: no cover
    from .emulator import Emulator

log = logging.getLogger("localcloud.server")

#: paths served without a signature, as public files (``Emulator.public``)
PUBLIC_PREFIXES = ("/crl/",)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, addr, handler, cloud: Emulator) -> None:
        self.cloud = cloud
        super().__init__(addr, handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True   # headers and body go out as two writes: avoid the 40 ms delayed-ACK stall
    server: _Server
    timeout = 60

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        # never log query strings: parameters may carry secret values (KMS SecretData) or keys
        args = tuple(a.split("?", 1)[0] + " …" if isinstance(a, str) and "?" in a else a for a in args)
        log.debug("%s " + fmt, self.address_string(), *args)

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header in the cloud's time (its clock, which tests and ``albmtls clock``
        move), as a real endpoint sends its own: callers measure their clock skew from it."""
        return super().date_time_string(self.server.cloud.clock.time() if timestamp is None else timestamp)

    # -- plumbing ---------------------------------------------------------------------
    def _read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send_json(self, status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _drop(self) -> None:
        self.close_connection = True
        try:
            import socket
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path.startswith("/_admin"):
            self._admin("GET", url, self._read_body())
        elif url.path.startswith(PUBLIC_PREFIXES):
            self._public(url.path)
        else:  # some SDKs (fnf) use GET for read actions
            self._api(url, self._read_body())

    def _public(self, path: str) -> None:
        """A public, unsigned download (what the real cloud serves from OSS, e.g. a CA's CRL)."""
        status, ctype, data = self.server.cloud.public(path)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        body = self._read_body()
        if url.path.startswith("/_admin"):
            self._admin("POST", url, body)
            return
        self._api(url, body)

    # -- admin ------------------------------------------------------------------------
    def _admin(self, method: str, url, body: bytes) -> None:
        cloud = self.server.cloud
        try:
            payload = json.loads(body) if body else {}
            status, out = cloud.admin(method, url.path[len("/_admin"):].strip("/"),
                                      dict(parse_qsl(url.query)), payload)
        except (ValueError, KeyError, TypeError) as exc:
            status, out = 400, {"error": str(exc)}
        self._send_json(status, out)

    # -- API --------------------------------------------------------------------------
    def _api(self, url, body: bytes) -> None:
        """One API call: answer it, or drop the connection as a fault says. The call is logged
        before anything is sent, so a caller that got its answer finds it in the call log."""
        cloud = self.server.cloud
        started = time.monotonic()
        headers = {k.lower(): v for k, v in self.headers.items()}
        query = parse_qsl(url.query, keep_blank_values=True)
        pairs = list(query)
        if headers.get("content-type", "").startswith("application/x-www-form-urlencoded") and body:
            pairs += parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        qd = dict(query)
        version = headers.get("x-acs-version") or qd.get("Version", "")
        name = headers.get("x-acs-action") or qd.get("Action", "")
        declared = BY_VERSION.get(version)
        product = declared.key if declared else "unknown"
        host_id = declared.host_id if declared else "aliyuncs.com"
        request_id = str(uuid.uuid4()).upper()
        act = ACTIONS.get((version, name))
        write = bool(act and act.write)
        akid: str | None = None
        code, status = "OK", 200
        answer: tuple[int, dict[str, Any], dict[str, str]] | None = None
        hold_ms = 0     # a dropped connection (no answer): after this hold
        try:
            if declared is None:
                raise errors.InvalidVersion()
            if act is None:
                raise errors.InvalidAction()
            if "authorization" in headers:
                akid = verify_acs3(self.command, url.path or "/", query, headers, body, cloud.access_keys)
            elif "Signature" in qd:
                akid = verify_v2(self.command, pairs, cloud.access_keys)
            else:
                raise errors.IncompleteSignature()
            delay = cloud.faults.latency_for(product, name)
            if delay:
                time.sleep(delay)
            cloud.faults.check_qps(product, name)
            decision = cloud.faults.decide(product, name, write)
            if decision.kind == "drop":
                code, status = "Dropped", 0
                return
            if decision.error is not None:
                raise decision.error
            params = Params(unflatten((k, v) for k, v in pairs if k not in _SIG_PARAMS))
            ctx = Ctx(cloud=cloud, product=product, action=name, request_id=request_id, access_key_id=akid)
            result = _invoke(ctx, act, params)
            if decision.kind == "drop_after":
                code, status = "OK-Dropped", 200
                return
            if decision.kind == "timeout_after":
                code, status, hold_ms = "OK-Timeout", 200, decision.hold_ms
                return
            out = dict(result)
            out["RequestId"] = request_id
            answer = (200, out, {})
        except errors.ApiError as exc:
            code, status = exc.code, exc.status
            extra = {}
            if exc.retry_after_ms:
                extra["x-acs-retry-after"] = str(exc.retry_after_ms)
            answer = (exc.status, {"RequestId": request_id, "HostId": host_id,
                                   "Code": exc.code, "Message": exc.message,
                                   "Recommend": f"https://api.aliyun.com/troubleshoot?q={exc.code}"}, extra)
        except Exception:  # a bug in the emulator: answer like the real service would
            code, status = "InternalError", 500
            traceback.print_exc(file=sys.stderr)
            answer = (500, {"RequestId": request_id, "HostId": host_id,
                            "Code": "InternalError",
                            "Message": "The request processing has failed due to some unknown error."}, {})
        finally:
            if declared is not None:
                cloud.store.record_call(product, name or "?", write, code, status,
                                        (time.monotonic() - started) * 1000)
                if akid and product in trail.AUDITED and code != "Dropped":
                    failed = answer is not None and answer[0] != 200
                    try:      # the audit trail (products/actiontrail): never in the way of the answer
                        trail.record(cloud, product=product, action=name, write=write, access_key_id=akid,
                                     pairs=pairs, request_id=request_id, api_version=version,
                                     error_code=code if failed else None,
                                     error_message=str(answer[1].get("Message")) if failed and answer else None)
                    except Exception:      # a bug here must not drop the call's answer
                        log.exception("could not record the ActionTrail event of %s %s", product, name)
            if answer is not None:
                self._send_json(*answer)
            else:
                if hold_ms:
                    time.sleep(hold_ms / 1000.0)
                self._drop()


_SIG_PARAMS = {"Action", "Version", "Format", "Timestamp", "SignatureNonce", "SignatureMethod",
               "SignatureVersion", "AccessKeyId", "Signature", "RegionId", "SecurityToken"}


def _invoke(ctx: Ctx, act, params: Params) -> dict[str, Any]:
    store = ctx.store
    token = params.raw.get("ClientToken") if act.idempotent_token else None
    if not token:
        with store.tx():
            return act.fn(ctx, params)
    fp = hashlib.sha256(json.dumps({k: v for k, v in params.raw.items() if k != "ClientToken"},
                                   sort_keys=True).encode()).hexdigest()
    key = f"{ctx.product}:{act.name}:{token}"
    with store.tx():
        seen = store.get("idem", key)
        if seen is not None:
            if seen["fp"] != fp:
                raise errors.IdempotentParameterMismatch()
            return seen["response"]
        result = act.fn(ctx, params)
        store.put("idem", key, {"fp": fp, "response": result})
        return result


class ControlPlane:
    """The control-plane HTTP server, run in a background thread."""

    def __init__(self, cloud: Emulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.httpd = _Server((host, port), _Handler, cloud)
        bound_host, bound_port = self.httpd.server_address[:2]
        self.host, self.port = str(bound_host), int(bound_port)
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="localcloud-control", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

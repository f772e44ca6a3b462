"""The local FC HTTP trigger of ``albmtls-download`` (``authType: anonymous``): an HTTP server on
127.0.0.1 that turns each request into the FC 3.0 HTTP-trigger event (docs/SERVERLESS.md §2.4:
``version``, ``rawPath``, ``headers``, ``queryParameters``, ``body`` + ``isBase64Encoded``,
``requestContext.http``) and answers with the handler's ``{statusCode, headers, isBase64Encoded,
body}`` — as FC's gateway does. It checks no signature (that is what ``anonymous`` means); the
function itself checks the link's token.

The port is kept in the state (store meta ``download_port``), so a link sent by ``make run``
(an in-process local cloud) works again once ``albmtls up`` runs on the same state directory.
``cloud.runtime["download_url"]`` is the trigger's base URL (the endpoints file names it).
"""
from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

if TYPE_CHECKING:  # pragma: no cover
    from .cloud import LocalCloud

log = logging.getLogger("localruntime.httptrigger")
FUNCTION = "albmtls-download"
MAX_BODY = 1 << 20


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], service: HttpTriggerService) -> None:
        self.service = service
        super().__init__(addr, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = 30

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet; never the path (it holds the token)
        log.debug("download trigger %s", self.command)

    def _event(self, body: bytes) -> dict[str, Any]:
        url = urlsplit(self.path)
        headers: dict[str, str] = {}
        for k, v in self.headers.items():
            headers[k] = f"{headers[k]},{v}" if k in headers else v
        query: dict[str, str] = {}
        for k, v in parse_qsl(url.query, keep_blank_values=True):
            query[k] = f"{query[k]},{v}" if k in query else v
        try:
            text, b64 = body.decode("utf-8"), False
        except UnicodeDecodeError:
            text, b64 = base64.b64encode(body).decode(), True
        now = time.time()
        return {"version": "v1", "rawPath": url.path, "body": text, "isBase64Encoded": b64, "headers": headers,
                "queryParameters": query,
                "requestContext": {"accountId": "1234567890123456",
                                   "domainName": f"127.0.0.1:{self.server.server_port}",
                                   "domainPrefix": "local", "requestId": str(uuid.uuid4()),
                                   "http": {"method": self.command, "path": url.path, "protocol": self.request_version,
                                            "sourceIp": self.client_address[0],
                                            "userAgent": self.headers.get("User-Agent", "")},
                                   "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
                                   "timeEpoch": str(int(now * 1000))}}

    def _serve(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.send_error(413)
            return
        body = self.rfile.read(n) if n > 0 else b""
        event = self._event(body)
        try:
            raw = self.server.service.invoke(FUNCTION, json.dumps(event).encode(),
                                              {"timeout": 30, "request_id": event["requestContext"]["requestId"]})
            resp = json.loads(raw)
            status = int(resp.get("statusCode", 200))
            out = resp.get("body") or ""
            data = base64.b64decode(out) if resp.get("isBase64Encoded") else str(out).encode()
            headers = resp.get("headers") or {}
        except Exception:  # FC answers a function fault with 502
            log.exception("download function failed")
            status, data, headers = 502, b'{"errorMessage":"function error"}', {"Content-Type": "application/json"}
        self.send_response(status)
        for k, v in headers.items():
            if k.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(k, str(v))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_HEAD = do_PUT = do_DELETE = _serve


class HttpTriggerService:
    """The download function's anonymous HTTP trigger on 127.0.0.1 (module doc)."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def invoke(self, function: str, payload: bytes, info: dict[str, Any]) -> bytes:
        from .fc import FunctionInvoker
        invoker = self.cloud.runtime.get("trigger_invoker")
        if invoker is None:
            invoker = self.cloud.runtime["trigger_invoker"] = FunctionInvoker(clock=self.cloud.clock)
        return bytes(invoker(function, payload, info))

    def start(self) -> None:
        want = int(self.cloud.store.get_meta("download_port") or 0)
        try:
            self.httpd = _Server(("127.0.0.1", want), self)
        except OSError:
            self.httpd = _Server(("127.0.0.1", 0), self)
        port = self.httpd.server_address[1]
        self.cloud.store.set_meta("download_port", port)
        self.cloud.runtime["download_url"] = f"http://127.0.0.1:{port}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="download-trigger", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        port = self.httpd.server_address[1] if self.httpd else 0
        self.cloud.store.set_meta("download_port", port)

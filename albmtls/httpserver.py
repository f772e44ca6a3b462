"""``albmtls serve``: a real HTTP server on 127.0.0.1 that turns each request into the FC 3.0
HTTP-trigger event, calls the ``provision_api`` handler, and writes its response back — so
``curl`` against it behaves as against the deployed trigger."""
from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_READ = 1024 * 1024  # the FC gateway's own request limit is larger than the API's 64 KiB


def request_to_event(method: str, raw_path: str, headers: dict[str, str], body: bytes,
                     client_ip: str = "127.0.0.1") -> dict[str, Any]:
    """Build the FC 3.0 HTTP-trigger event for one request (docs/SERVERLESS.md §2.4)."""
    url = urlsplit(raw_path)
    query: dict[str, str] = {}
    for k, v in parse_qsl(url.query, keep_blank_values=True):
        query[k] = f"{query[k]},{v}" if k in query else v
    try:
        text, b64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, b64 = base64.b64encode(body).decode(), True
    now = datetime.now(UTC)
    return {
        "version": "v1",
        "rawPath": url.path,
        "headers": headers,
        "queryParameters": query,
        "body": text,
        "isBase64Encoded": b64,
        "requestContext": {
            "accountId": "1234567890123456",
            "domainName": "127.0.0.1",
            "domainPrefix": "local",
            "http": {"method": method, "path": unquote(url.path), "protocol": "HTTP/1.1",
                     "sourceIp": client_ip, "userAgent": headers.get("User-Agent", "")},
            "requestId": str(uuid.uuid4()),
            "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "timeEpoch": str(int(now.timestamp() * 1000)),
        },
    }


class _Ctx:
    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._deadline = time.monotonic() + 60

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def make_server(handler: Callable[[Any, Any], dict[str, Any]], port: int = 0) -> ThreadingHTTPServer:
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 30

        def log_message(self, fmt: str, *args: Any) -> None:
            pass

        def _do(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            if n > MAX_READ:
                self._send(413, {"Content-Type": "application/json"},
                           b'{"error":{"code":"BODY_TOO_LARGE","message":"request too large"}}')
                self.close_connection = True
                return
            body = self.rfile.read(n) if n else b""
            event = request_to_event(self.command, self.path, dict(self.headers.items()), body,
                                     self.client_address[0])
            resp = handler(json.dumps(event).encode(), _Ctx(event["requestContext"]["requestId"]))
            data = resp.get("body") or ""
            raw = base64.b64decode(data) if resp.get("isBase64Encoded") else data.encode()
            self._send(int(resp.get("statusCode", 200)), resp.get("headers") or {}, raw)

        def _send(self, status: int, headers: dict[str, str], raw: bytes) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, str(v))
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(raw)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _do

    server = ThreadingHTTPServer(("127.0.0.1", port), H)
    server.daemon_threads = True
    return server

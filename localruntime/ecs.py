"""Local ECS instances: each ``ecs.instance`` document becomes one small threaded HTTP server on
127.0.0.1 per port in its ``ports`` (a free local port each), answering any path with JSON::

    {"instance_id", "instance_name", "method", "path", "headers": {received headers}}

(200; HEAD gets the same headers without a body). ``cloud.runtime["ecs_ports"]`` maps
``(InstanceId, port) → local port``; the mapping survives stop/start of an instance (the same
local port is re-bound on start when possible).

Admin API (``cloud.admin_routes["ecs"]``):

    GET  /_admin/ecs                      → {"instances": [{InstanceId, InstanceName, running, ports}]}
    POST /_admin/ecs/<InstanceId>/stop    → closes the listening sockets (connects are refused)
    POST /_admin/ecs/<InstanceId>/start   → listens again

Stop/start also set ``running`` in the document; a reconcile loop follows ``running`` and new or
deleted documents, so products may also change the documents directly.
"""
from __future__ import annotations

import json
import logging
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from .services import Periodic

if TYPE_CHECKING:  # pragma: no cover
    from .cloud import LocalCloud

log = logging.getLogger("localruntime.ecs")

RECONCILE_SECONDS = 0.2


class _BackendServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True          # server_close() joins the (short-lived) handler threads
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, addr, instance_id: str, instance_name: str) -> None:
        self.instance_id = instance_id
        self.instance_name = instance_name
        super().__init__(addr, _BackendHandler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that leaves before the answer (a TCP health check that only connects, a probe
        that timed out) is normal for a backend: logged at debug, not a traceback on ``up``'s
        terminal. Anything else keeps socketserver's report."""
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            log.debug("%s: client %s left before the answer: %r", self.instance_id, client_address, exc)
            return
        super().handle_error(request, client_address)


class _BackendHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after stop
    server: _BackendServer
    timeout = 5

    def log_message(self, fmt: str, *args: Any) -> None:  # quiet
        log.debug("%s %s " + fmt, self.server.instance_id, self.address_string(), *args)

    def _answer(self, send_body: bool) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        if n > 0:
            self.rfile.read(min(n, 1 << 20))
        body = json.dumps({"instance_id": self.server.instance_id,
                           "instance_name": self.server.instance_name,
                           "method": self.command, "path": self.path,
                           "headers": {k: v for k, v in self.headers.items()}},
                          separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Instance-Id", self.server.instance_id)
        self.end_headers()
        if send_body:
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self._answer(False)

    def __getattr__(self, name: str):
        # every other method (GET, POST, PUT, DELETE, PATCH, OPTIONS …) answers the same way
        if name.startswith("do_"):
            return lambda: self._answer(True)
        raise AttributeError(name)


class _Backend:
    """One listening port of one instance."""

    def __init__(self, instance_id: str, name: str, port: int) -> None:
        self.instance_id, self.name, self.port = instance_id, name, port
        self.local_port = 0
        self.httpd: _BackendServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self.httpd is not None

    def start(self) -> int:
        if self.httpd is not None:
            return self.local_port
        httpd = None
        if self.local_port:
            try:
                httpd = _BackendServer(("127.0.0.1", self.local_port), self.instance_id, self.name)
            except OSError:
                httpd = None   # taken meanwhile: pick a new one
        if httpd is None:
            httpd = _BackendServer(("127.0.0.1", 0), self.instance_id, self.name)
        self.httpd = httpd
        self.local_port = httpd.server_address[1]
        self.thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=f"ecs-{self.instance_id}-{self.port}", daemon=True)
        self.thread.start()
        return self.local_port

    def stop(self) -> None:
        httpd, self.httpd = self.httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self.thread:
            self.thread.join(timeout=5)
            self.thread = None


class EcsService:
    """Runs the local ECS backends (see module doc)."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self._backends: dict[tuple[str, int], _Backend] = {}
        self._lock = threading.RLock()
        self._worker = Periodic("localcloud-ecs", self.reconcile, RECONCILE_SECONDS, delay_first=True)

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.cloud.runtime.setdefault("ecs_ports", {})
        self.cloud.admin_routes["ecs"] = self.admin
        self.reconcile()
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
        with self._lock:
            for b in self._backends.values():
                b.stop()
            self._backends.clear()
        self.cloud.admin_routes.pop("ecs", None)

    def pause(self) -> None:
        self._worker.pause()

    def resume(self) -> None:
        """Follow the restored documents (instances stopped by the last test run again)."""
        self.reconcile()
        self._worker.resume()

    # -- state ------------------------------------------------------------------------------
    def reconcile(self) -> None:
        """Make the running backends follow the ``ecs.instance`` documents."""
        with self._lock:
            docs = self.cloud.store.list("ecs.instance")
            ports_map: dict = self.cloud.runtime.setdefault("ecs_ports", {})
            wanted: set[tuple[str, int]] = set()
            for doc in docs:
                iid = doc["InstanceId"]
                for port in doc.get("ports") or [80]:
                    key = (iid, int(port))
                    wanted.add(key)
                    b = self._backends.get(key)
                    if b is None:
                        b = self._backends[key] = _Backend(iid, doc.get("InstanceName", iid), int(port))
                    if doc.get("running", True):
                        if not b.running:
                            try:
                                b.start()
                            except OSError:
                                log.exception("ecs %s port %s: cannot listen", iid, port)
                    elif b.running:
                        b.stop()
                    if b.local_port:
                        ports_map[key] = b.local_port
            for key in list(self._backends):
                if key not in wanted:
                    self._backends.pop(key).stop()
                    ports_map.pop(key, None)

    def set_running(self, instance_id: str, running: bool) -> dict[str, Any] | None:
        store = self.cloud.store
        with store.tx():
            doc = store.get("ecs.instance", instance_id)
            if doc is None:
                return None
            doc["running"] = running
            store.put("ecs.instance", instance_id, doc)
        self.reconcile()
        return self._describe(doc)

    def _describe(self, doc: dict[str, Any]) -> dict[str, Any]:
        iid = doc["InstanceId"]
        with self._lock:
            ports = {str(k[1]): b.local_port for k, b in self._backends.items() if k[0] == iid}
            listening = any(b.running for k, b in self._backends.items() if k[0] == iid)
        return {"InstanceId": iid, "InstanceName": doc.get("InstanceName"),
                "running": bool(doc.get("running", True)), "listening": listening, "ports": ports}

    # -- admin ------------------------------------------------------------------------------
    def admin(self, method: str, rest: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        parts = [p for p in rest.split("/") if p]
        if not parts:
            return 200, {"instances": [self._describe(d) for d in self.cloud.store.list("ecs.instance")]}
        iid = parts[0]
        if len(parts) == 1:
            doc = self.cloud.store.get("ecs.instance", iid)
            return (200, self._describe(doc)) if doc else (404, {"error": f"no instance {iid}"})
        if len(parts) == 2 and parts[1] in ("stop", "start") and method == "POST":
            out = self.set_running(iid, parts[1] == "start")
            return (200, out) if out else (404, {"error": f"no instance {iid}"})
        return 404, {"error": f"no admin route ecs/{rest}"}


def port_reachable(port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False

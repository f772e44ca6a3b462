"""The health checker: for every server group that a listener forwards to, probe each server for
real (HTTP/HTTPS request, or TCP connect) as its ``HealthCheckConfig`` says, and keep one
``health.server`` document per server (id ``<ServerGroupId>/<ServerId>/<Port>``, key2
``ServerGroupId``) — what ``GetListenerHealthStatus`` reports.

Status: ``Initial`` (configured, not decided yet) → ``Healthy`` after ``HealthyThreshold``
successes in a row, → ``Unhealthy`` after ``UnhealthyThreshold`` failures in a row (from Initial
or Healthy). ``Unused`` for weight 0, ``Unavailable`` when the check is disabled (neither probed).
A failure carries ``ReasonCode`` (``CONNECT_FAILED``, ``CONNECT_TIMEOUT``, ``SEND_REQUEST_FAILED``,
``RECV_RESPONSE_TIMEOUT``, ``RECV_RESPONSE_FAILED``, ``RESPONSE_FORMAT_ERROR``,
``RESPONSE_MISMATCH`` with ``ExpectedResponse`` ``HTTP_2xx,HTTP_3xx`` and ``ActualResponse``
``"404"``); the reason fields are filled only while ``Unhealthy``.

Intervals and timeouts are multiplied by ``cloud.settings.health_scale``. ECS servers are
reached through ``cloud.runtime["ecs_ports"]``; ``Ip`` servers at ``ServerIp:Port`` directly.
"""
from __future__ import annotations

import http.client
import logging
import socket
import ssl
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .services import Periodic

if TYPE_CHECKING:  # pragma: no cover
    from .cloud import LocalCloud

log = logging.getLogger("localruntime.health")

TICK_SECONDS = 0.05
DEFAULTS: dict[str, Any] = {"HealthCheckInterval": 2, "HealthCheckTimeout": 5, "HealthyThreshold": 3,
            "UnhealthyThreshold": 3, "HealthCheckPath": "/", "HealthCheckMethod": "HEAD",
            "HealthCheckProtocol": "HTTP", "HealthCheckCodes": ["http_2xx", "http_3xx"]}


class ProbeFailure(Exception):
    def __init__(self, reason: str, actual: str = "") -> None:
        super().__init__(reason)
        self.reason, self.actual = reason, actual


def health_id(server_group_id: str, server_id: str, port: Any) -> str:
    return f"{server_group_id}/{server_id}/{port}"


def referenced_server_groups(store) -> list[str]:
    """Server groups named in any listener's forward actions (creation order, no duplicates)."""
    out: list[str] = []
    for lst in store.list("alb.listener"):
        for sg in forward_group_ids(lst):
            if sg not in out:
                out.append(sg)
    return out


def forward_group_ids(listener: dict[str, Any]) -> list[str]:
    ids = []
    for act in listener.get("DefaultActions") or []:
        fwd = act.get("ForwardGroupConfig") or {}
        for t in fwd.get("ServerGroupTuples") or []:
            if t.get("ServerGroupId"):
                ids.append(t["ServerGroupId"])
    return ids


def backend_address(cloud: LocalCloud, server: dict[str, Any], port: int) -> tuple[str, int] | None:
    """Where a server-group member listens locally, or None when it cannot be reached."""
    stype = (server.get("ServerType") or "Ecs").lower()
    if stype in ("ecs", "eni", "eci"):
        local = cloud.runtime.get("ecs_ports", {}).get((server.get("ServerId"), int(port)))
        return ("127.0.0.1", local) if local else None
    ip = server.get("ServerIp") or server.get("ServerId")
    if ip in ("127.0.0.1", "localhost"):
        return ("127.0.0.1", int(port))
    return None


def code_matches(status: int, codes: list[str]) -> bool:
    for c in codes:
        c = str(c).strip().lower()
        if c.startswith("http_") and len(c) == 8 and c.endswith("xx"):
            if str(status)[0] == c[5]:
                return True
        elif c.isdigit() and int(c) == status:
            return True
    return False


def expected_text(codes: list[str]) -> str:
    return ",".join(str(c).upper().replace("XX", "xx") for c in codes)


class HealthService:
    """Background health checker (see module doc)."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self._worker = Periodic("localcloud-health", self.tick, TICK_SECONDS)
        self._stop = self._worker.stopped
        self._pool: ThreadPoolExecutor | None = None
        self._next_due: dict[str, float] = {}
        self._inflight: dict[str, Future] = {}
        self._lock = threading.Lock()
        self._generation = 0     # bumped by pause(): results of probes started before are dropped

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="localcloud-health-probe")
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
        if self._pool:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def pause(self) -> None:
        """Hold the loop and forget every schedule; probes still running record nothing."""
        self._worker.pause()
        with self._lock:
            self._generation += 1
            self._next_due.clear()
            self._inflight.clear()

    def resume(self) -> None:
        self._worker.resume()

    # -- one pass -----------------------------------------------------------------------------
    def tick(self) -> None:
        store = self.cloud.store
        scale = self.cloud.settings.health_scale
        now = time.monotonic()
        live: set[str] = set()
        for sg_id in referenced_server_groups(store):
            sg = store.get("alb.servergroup", sg_id)
            if sg is None:
                continue
            given = sg.get("HealthCheckConfig") or {}
            cfg = {**DEFAULTS, **{k: v for k, v in given.items() if v not in (None, "", [])}}
            enabled = bool((sg.get("HealthCheckConfig") or {}).get("HealthCheckEnabled", True))
            for server in sg.get("Servers") or []:
                sid, port = server.get("ServerId"), server.get("Port")
                if sid is None or port is None:
                    continue
                hid = health_id(sg_id, sid, port)
                live.add(hid)
                doc = store.get("health.server", hid)
                if doc is None:
                    doc = self._write(hid, {"ServerGroupId": sg_id, "ServerId": sid, "Port": port,
                                            "Status": "Initial", "ReasonCode": "", "ExpectedResponse": "",
                                            "ActualResponse": "", "ok_streak": 0, "fail_streak": 0,
                                            "checked_s": 0.0})
                if int(server.get("Weight", 100) or 0) == 0 or not enabled:
                    status = "Unused" if int(server.get("Weight", 100) or 0) == 0 else "Unavailable"
                    if doc["Status"] != status:
                        doc.update(Status=status, ReasonCode="", ExpectedResponse="", ActualResponse="",
                                   ok_streak=0, fail_streak=0)
                        self._write(hid, doc)
                    continue
                if doc["Status"] in ("Unused", "Unavailable"):
                    doc.update(Status="Initial", ok_streak=0, fail_streak=0)
                    self._write(hid, doc)
                with self._lock:
                    busy = hid in self._inflight and not self._inflight[hid].done()
                    due = self._next_due.get(hid, 0.0)
                if busy or now < due or self._pool is None:
                    continue
                interval = max(float(cfg["HealthCheckInterval"]) * scale, 0.02)
                with self._lock:
                    self._next_due[hid] = now + interval
                    try:
                        self._inflight[hid] = self._pool.submit(self._probe_and_record, hid, sg_id, server, cfg,
                                                                self._generation)
                    except RuntimeError:  # pool shut down
                        return
        # forget servers no longer checked
        for doc in store.list("health.server"):
            hid = health_id(doc["ServerGroupId"], doc["ServerId"], doc["Port"])
            if hid not in live:
                store.delete("health.server", hid)
        with self._lock:
            for hid in list(self._next_due):
                if hid not in live:
                    self._next_due.pop(hid, None)
                    self._inflight.pop(hid, None)

    def _write(self, hid: str, doc: dict[str, Any]) -> dict[str, Any]:
        return self.cloud.store.put("health.server", hid, doc, key2=doc["ServerGroupId"])

    def _probe_and_record(self, hid: str, sg_id: str, server: dict[str, Any], cfg: dict[str, Any],
                          generation: int) -> None:
        if self._stop.is_set():
            return
        failure: ProbeFailure | None = None
        try:
            self.probe(server, cfg)
        except ProbeFailure as exc:
            failure = exc
        except Exception as exc:  # pragma: no cover - defensive
            failure = ProbeFailure("RECV_RESPONSE_FAILED", type(exc).__name__)
        store = self.cloud.store
        with store.tx():
            doc = store.get("health.server", hid)
            if doc is None or self._stop.is_set() or generation != self._generation:
                return
            doc["checked_s"] = self.cloud.clock.time()
            if failure is None:
                doc["ok_streak"] = int(doc.get("ok_streak", 0)) + 1
                doc["fail_streak"] = 0
                if doc["Status"] != "Healthy" and doc["ok_streak"] >= int(cfg["HealthyThreshold"]):
                    doc.update(Status="Healthy", ReasonCode="", ExpectedResponse="", ActualResponse="")
            else:
                doc["fail_streak"] = int(doc.get("fail_streak", 0)) + 1
                doc["ok_streak"] = 0
                if doc["Status"] != "Unhealthy" and doc["fail_streak"] >= int(cfg["UnhealthyThreshold"]):
                    doc["Status"] = "Unhealthy"
                if doc["Status"] == "Unhealthy":
                    doc["ReasonCode"] = failure.reason
                    if failure.reason == "RESPONSE_MISMATCH":
                        doc["ExpectedResponse"] = expected_text(cfg["HealthCheckCodes"])
                        doc["ActualResponse"] = failure.actual
                    else:
                        doc["ExpectedResponse"] = doc["ActualResponse"] = ""
            self._write(hid, doc)

    # -- the probe ----------------------------------------------------------------------------
    def probe(self, server: dict[str, Any], cfg: dict[str, Any]) -> None:
        """One check; raises ``ProbeFailure`` with a reason code."""
        scale = self.cloud.settings.health_scale
        timeout = max(float(cfg["HealthCheckTimeout"]) * scale, 0.05)
        port = int(cfg.get("HealthCheckConnectPort") or 0) or int(server["Port"])
        addr = backend_address(self.cloud, server, port)
        if addr is None:
            raise ProbeFailure("CONNECT_FAILED")
        try:
            sock = socket.create_connection(addr, timeout=timeout)
        except TimeoutError:
            raise ProbeFailure("CONNECT_TIMEOUT") from None
        except OSError:
            raise ProbeFailure("CONNECT_FAILED") from None
        proto = str(cfg.get("HealthCheckProtocol") or "HTTP").upper()
        if proto == "TCP":
            sock.close()
            return
        try:
            if proto == "HTTPS":
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                try:
                    sock = ctx.wrap_socket(sock)
                except TimeoutError:
                    raise ProbeFailure("CONNECT_TIMEOUT") from None
                except OSError:
                    raise ProbeFailure("CONNECT_FAILED") from None
            conn = http.client.HTTPConnection(addr[0], addr[1], timeout=timeout)
            conn.sock = sock
            method = str(cfg.get("HealthCheckMethod") or "HEAD").upper()
            host = cfg.get("HealthCheckHost") or server.get("ServerIp") or addr[0]
            try:
                conn.putrequest(method, cfg.get("HealthCheckPath") or "/", skip_host=True,
                                skip_accept_encoding=True)
                conn.putheader("Host", str(host))
                conn.putheader("User-Agent", "localcloud-alb-healthcheck")
                conn.putheader("Connection", "close")
                conn.endheaders()
            except TimeoutError:
                raise ProbeFailure("SEND_REQUEST_TIMEOUT") from None
            except OSError:
                raise ProbeFailure("SEND_REQUEST_FAILED") from None
            try:
                resp = conn.getresponse()
                resp.read()
            except TimeoutError:
                raise ProbeFailure("RECV_RESPONSE_TIMEOUT") from None
            except http.client.BadStatusLine:
                raise ProbeFailure("RESPONSE_FORMAT_ERROR") from None
            except (OSError, http.client.HTTPException):
                raise ProbeFailure("RECV_RESPONSE_FAILED") from None
            finally:
                conn.close()
            codes = cfg.get("HealthCheckCodes") or DEFAULTS["HealthCheckCodes"]
            if not code_matches(resp.status, codes):
                raise ProbeFailure("RESPONSE_MISMATCH", str(resp.status))
        finally:
            try:
                sock.close()
            except OSError:
                pass

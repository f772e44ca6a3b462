"""The TLS data plane: for every HTTPS ``alb.listener`` that is serving, a real TLS server on
``127.0.0.1:(ListenerPort + settings.port_offset)`` (``cloud.runtime["dataplane"]`` maps
``ListenerId → local port``; also ``GET /_admin/dataplane``).

Serving = stored ``ListenerStatus == "Running"`` and not being created (while
``clock.time() < busy_until_s`` with ``busy_status == "Provisioning"`` the listener does not exist
yet; an update in progress — ``Configuring`` — keeps serving). A reconcile loop starts and stops
servers as listeners appear, stop or move.

Per connection the listener document is read afresh, so a changed CA, mTLS switched off, a new
server certificate or security policy apply to the next connection:

* server certificate: ``Certificates[0].CertificateId`` (``<CertId>-<region>``) → ``cas.cert``
  ``<CertId>`` (``Cert`` PEM with chain, ``Key``);
* TLS versions by ``SecurityPolicyId`` (``tls_cipher_policy_1_0`` 1.0+, ``_1_1`` 1.1+,
  ``_1_2``/``_1_2_strict`` 1.2 only, ``…_with_1_3`` 1.2–1.3, ``1_0_to_1_3`` 1.0–1.3; minimums below
  what the local OpenSSL accepts are clamped by it);
* ``CaEnabled``: a client certificate is required and verified against the CA named by
  ``CaCertificates`` (the default entry, else the first): a ``pca.ca`` ``Identifier`` (its
  ``Certificate`` is the trust anchor; partial chains allowed, so a sibling sub-CA under the same
  root is *not* trusted), or a ``cas.cert`` id (an uploaded CA). Validity times are checked
  against ``cloud.clock`` (not the system time — OpenSSL's own time check is switched off), for
  the client certificate and the CA; failures close the connection without an HTTP response.
* Revocation: a client certificate the PCA CA has revoked (``CreateRevokeClientCertificate``) is
  refused in the handshake (OpenSSL's CRL check on the leaf, alert ``certificate revoked``), as
  the PCA documentation says a revoked certificate "cannot establish HTTPS connections". The
  listener re-reads the CA's revocations at most every ``settings.revocation_refresh_s`` (a CRL
  made from the PCA's state, ``localcloud.products.pca.models.crl``), so a revocation takes effect
  within that bound. Whether and how soon the real ALB does this is the assumption
  ``shared.policy.offboarding.LISTENER_REFUSAL_BOUND`` (``localcloud/COVERAGE.md``).

Forwarding (one request per connection, answered with ``Connection: close``): the server groups
of ``DefaultActions[].ForwardGroupConfig.ServerGroupTuples`` → their ``Servers`` (weight > 0, not
still being added), minus those whose ``health.server`` status is ``Unhealthy``; smooth weighted round robin (nginx's);
a backend that refuses the connection is skipped for the next. No candidate → 503, every
candidate unreachable → 502, backend timeout → 504.

Headers added toward the backend (nginx/Tengine conventions, which ALB builds on):
``X-Forwarded-For`` (append the client IP; ``XForwardedForProcessingMode=remove`` drops it;
``XForwardedForEnabled=false`` leaves it alone), ``X-Forwarded-Proto: https`` always, and when
enabled (under the ``*Alias`` name when set): ``X-Forwarded-Clientcert-subjectdn`` /
``-issuerdn`` (RFC 4514 strings, e.g. ``CN=client1,O=Example``), ``-fingerprint`` (SHA-1 of the
DER, lowercase hex without colons, like nginx ``$ssl_client_fingerprint``), ``-clientverify``
(``SUCCESS`` with a verified certificate, ``NONE`` without one). Client-sent headers with those
names are removed first. Optional ``X-Forwarded-Host``, ``X-Forwarded-Port``,
``X-Forwarded-Client-Port`` and ``SLB-ID`` follow their ``…Enabled`` flags.

What the fingerprint header reported is kept (store kind ``dataplane.clientcert``, one document per
listener and fingerprint: subject, first and last seen by the local cloud's clock, at most one
write a minute per certificate; the automation's own probe, ``User-Agent: alb-mtls-probe``, is
not counted) and shown by ``GET /_admin/dataplane/clientcerts``: on the local
cloud ``albmtls status`` says which certificate a holder really connected with (issue 15; a real
ALB shows this only to the backends, docs/DELIVERY.md).

One module (~580 lines): the listener's handshake rules above are one decision per connection, read together.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
import warnings
from typing import TYPE_CHECKING, Any

from .health import backend_address, health_id
from .http1 import BadRequest, read_request, send
from .listener_tls import TlsConfig, listener_serving, tls_versions, valid_at
from .services import Periodic

if TYPE_CHECKING:  # pragma: no cover
    from .cloud import LocalCloud

log = logging.getLogger("localruntime.dataplane")

RECONCILE_SECONDS = 0.1
ACCEPT_POLL_SECONDS = 0.2
HANDSHAKE_TIMEOUT = 5.0
CLIENT_READ_TIMEOUT = 15.0
MAX_CONNECTIONS = 256
SEEN_KIND = "dataplane.clientcert"
SEEN_WRITE_EVERY_S = 60.0         # one store write a minute per (listener, certificate) at most
PROBE_USER_AGENT = "alb-mtls-probe"  # shared/adapters/probe.py: this automation's own probe is not a holder

_X509_V_FLAG_NO_CHECK_TIME = 0x200000   # OpenSSL: do not check validity times (we use the cloud clock)

_HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
               "trailer", "trailers", "transfer-encoding", "upgrade", "proxy-connection"}

_CERT_HEADERS = (  # (config prefix, default header name)
    ("XForwardedForClientCertSubjectDN", "X-Forwarded-Clientcert-subjectdn"),
    ("XForwardedForClientCertIssuerDN", "X-Forwarded-Clientcert-issuerdn"),
    ("XForwardedForClientCertFingerprint", "X-Forwarded-Clientcert-fingerprint"),
    ("XForwardedForClientCertClientVerify", "X-Forwarded-Clientcert-clientverify"),
)


class _ListenerServer:
    """The accept loop of one listener's local port."""

    def __init__(self, plane: DataPlaneService, listener_id: str, port: int) -> None:
        self.plane, self.listener_id, self.port = plane, listener_id, port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self.sock.bind(("127.0.0.1", port))
            self.sock.listen(128)
        except OSError:
            self.sock.close()
            raise
        self.sock.settimeout(ACCEPT_POLL_SECONDS)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._accept_loop, name=f"dataplane-{listener_id}", daemon=True)
        self.thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stop.is_set():
                    break
                continue
            self.plane._spawn(self.listener_id, conn, addr, self.port)

    def stop(self) -> None:
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)   # wakes the blocked accept() at once (Linux)
        except OSError:
            pass
        self.thread.join(timeout=5)
        try:
            self.sock.close()
        except OSError:
            pass


class DataPlaneService:
    """The listeners' TLS servers (see module doc)."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self._servers: dict[str, _ListenerServer] = {}
        self._lock = threading.RLock()
        self._worker = Periodic("localcloud-dataplane", self.reconcile, RECONCILE_SECONDS, delay_first=True)
        self._stop = self._worker.stopped
        self._conns: dict[threading.Thread, socket.socket] = {}
        self._ctx_cache: dict[str, ssl.SSLContext] = {}
        self._rr: dict[str, dict[tuple[str, str, int], int]] = {}   # listener → smooth WRR state
        self._tmpdir = ""
        self._bind_failures: dict[str, int] = {}
        self._crls: dict[str, tuple[float, str]] = {}   # PCA CA identifier → (read at, CRL PEM)
        self._seen: dict[str, float] = {}               # "<listener>/<fingerprint>" → last written (clock s)

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._tmpdir = tempfile.mkdtemp(prefix="localcloud-dataplane-")
        os.chmod(self._tmpdir, 0o700)
        self.cloud.runtime["dataplane"] = {}
        self.cloud.admin_routes["dataplane"] = self.admin
        self._stop.clear()
        self.reconcile()
        self._worker.start()

    def stop(self) -> None:
        self._worker.stop()
        with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        for s in servers:
            s.stop()
        with self._lock:
            conns = list(self._conns.items())
        for _, sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t, _ in conns:
            t.join(timeout=5)
        self.cloud.runtime["dataplane"] = {}
        self.cloud.admin_routes.pop("dataplane", None)
        self._ctx_cache.clear()
        if self._tmpdir:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = ""

    def pause(self) -> None:
        self._worker.pause()

    def resume(self) -> None:
        """Follow the restored documents: servers of listeners that no longer serve closed (with
        their open connections), round-robin and TLS-context state forgotten."""
        with self._lock:
            self._rr.clear()
            self._ctx_cache.clear()
            self._bind_failures.clear()
            self._crls.clear()
        self.reconcile()
        with self._lock:
            conns = [(t, sock) for t, sock in self._conns.items()]
        for _, sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._worker.resume()

    def reconcile(self) -> float | None:
        """Start and stop listener servers to match the documents. Returns the seconds until the
        next listener being created is due to serve (its ``busy_until_s``), so that the loop binds
        its port as its job ends rather than up to a tick later: a caller that has seen the
        listener ``Running`` finds it listening."""
        with self._lock:
            now = self.cloud.clock.time()
            offset = self.cloud.settings.port_offset
            wanted: dict[str, int] = {}
            failed: dict[str, tuple[int, int]] = {}
            taken: set[int] = set()
            due: list[float] = []
            for lst in self.cloud.store.list("alb.listener"):
                if listener_serving(lst, now):
                    port = int(lst["ListenerPort"]) + offset
                    if port in taken:
                        continue  # two load balancers on one port: the first one wins locally
                    taken.add(port)
                    wanted[lst["ListenerId"]] = port
                elif float(lst.get("busy_until_s") or 0) > now:
                    due.append(float(lst["busy_until_s"]) - now)
            for lid, srv in list(self._servers.items()):
                if wanted.get(lid) != srv.port:
                    self._servers.pop(lid).stop()
                    self._rr.pop(lid, None)
            for lid, port in wanted.items():
                if lid in self._servers or self._stop.is_set():
                    continue
                try:
                    self._servers[lid] = _ListenerServer(self, lid, port)
                    self._bind_failures.pop(lid, None)
                except OSError as exc:
                    n = self._bind_failures.get(lid, 0) + 1
                    self._bind_failures[lid] = n
                    failed[lid] = (port, port - offset)
                    if n == 1:
                        log.warning("listener %s: cannot listen on 127.0.0.1:%s (%s)", lid, port, exc)
            self.cloud.runtime["dataplane"] = {lid: s.port for lid, s in self._servers.items()}
            # listener → (local port, listener port) the last pass could not bind (another process holds it)
            self.cloud.runtime["dataplane_bind_failures"] = failed
        return min(due) if due else None

    def admin(self, method: str, rest: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if rest == "clientcerts":
            return 200, {"clientcerts": self.cloud.store.list(SEEN_KIND)}
        return 200, {"listeners": dict(self.cloud.runtime.get("dataplane", {})),
                     "port_offset": self.cloud.settings.port_offset,
                     "bind_failures": {lid: port for lid, (port, _) in
                                       (self.cloud.runtime.get("dataplane_bind_failures") or {}).items()}}

    # -- connections ----------------------------------------------------------------------------
    def _spawn(self, listener_id: str, conn: socket.socket, addr, port: int) -> None:
        with self._lock:
            if self._stop.is_set() or len(self._conns) >= MAX_CONNECTIONS:
                conn.close()
                return
            t = threading.Thread(target=self._serve_conn, args=(listener_id, conn, addr, port),
                                 name=f"dataplane-conn-{listener_id}", daemon=True)
            self._conns[t] = conn
        t.start()

    def _serve_conn(self, listener_id: str, conn: socket.socket, addr, port: int) -> None:
        tls: ssl.SSLSocket | None = None
        try:
            listener = self.cloud.store.get("alb.listener", listener_id)
            if listener is None or not listener_serving(listener, self.cloud.clock.time()):
                return
            cfg = TlsConfig(self.cloud, listener)
            if cfg.pca_ca:
                cfg.crl_pem = self._revocations(cfg.pca_ca)
            if cfg.error:
                log.info("listener %s: refusing connection: %s", listener_id, cfg.error)
                return
            ctx = self._context(cfg)
            conn.settimeout(HANDSHAKE_TIMEOUT)
            tls = ctx.wrap_socket(conn, server_side=True, do_handshake_on_connect=False)
            with self._lock:   # stop() shuts this socket down, even mid-handshake
                if self._stop.is_set():
                    return
                self._conns[threading.current_thread()] = tls
            try:
                tls.do_handshake()
            except (ssl.SSLError, OSError) as exc:
                log.debug("listener %s: handshake failed: %s", listener_id, exc)
                return
            der = tls.getpeercert(binary_form=True)
            client = None
            if der:
                from cryptography import x509
                client = x509.load_der_x509_certificate(der)
                now = self.cloud.clock.now()
                ca = x509.load_pem_x509_certificate(cfg.ca_pem.encode()) if cfg.ca_pem else None
                if not valid_at(client, now) or (ca is not None and not valid_at(ca, now)):
                    log.info("listener %s: client certificate outside its validity at %s", listener_id, now)
                    return
            elif cfg.ca_enabled:
                return  # CERT_REQUIRED makes this unreachable; belt and braces
            tls.settimeout(CLIENT_READ_TIMEOUT)
            self._handle_http(listener, tls, addr, port, client, der)
        except Exception:  # pragma: no cover - one connection must not kill the service
            log.exception("listener %s: connection", listener_id)
        finally:
            for s in (tls, conn):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass
            with self._lock:
                self._conns.pop(threading.current_thread(), None)

    def _revocations(self, ca_identifier: str) -> str:
        """The CRL (PEM) of the PCA CA's revocations, re-read at most every
        ``settings.revocation_refresh_s`` (module doc)."""
        from cryptography.hazmat.primitives.serialization import Encoding

        from localcloud.products.pca.models import crl
        now = time.monotonic()
        with self._lock:
            cached = self._crls.get(ca_identifier)
        if cached is not None and now - cached[0] < float(self.cloud.settings.revocation_refresh_s):
            return cached[1]
        found = crl(self.cloud, ca_identifier, require_published=False)
        pem = found.public_bytes(Encoding.PEM).decode() if found is not None else ""
        if cached is not None and _same_entries(cached[1], pem):
            pem = cached[1]     # same revocations: keep the cached TLS context
        with self._lock:
            self._crls[ca_identifier] = (now, pem)
        return pem

    def _context(self, cfg: TlsConfig) -> ssl.SSLContext:
        key = cfg.key()
        ctx = self._ctx_cache.get(key)
        if ctx is not None:
            return ctx
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        lo, hi = tls_versions(cfg.policy)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            ctx.maximum_version = hi
            try:
                ctx.minimum_version = lo
            except (ValueError, ssl.SSLError):  # not offered by the local OpenSSL: clamp
                ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        if "strict" in cfg.policy:
            try:
                ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20")
            except ssl.SSLError:  # pragma: no cover
                pass
        fd, path = tempfile.mkstemp(dir=self._tmpdir or None, suffix=".pem")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(cfg.cert_pem.strip() + "\n" + cfg.key_pem.strip() + "\n")
            ctx.load_cert_chain(path)
        finally:
            os.unlink(path)
        if cfg.ca_enabled:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.verify_flags = ctx.verify_flags | ssl.VERIFY_X509_PARTIAL_CHAIN | _X509_V_FLAG_NO_CHECK_TIME
            if cfg.crl_pem:
                # a file, not cadata: OpenSSL reads CRLs only from files (X509_load_cert_crl_file)
                fd, path = tempfile.mkstemp(dir=self._tmpdir or None, suffix=".pem")
                try:
                    with os.fdopen(fd, "w") as fh:
                        fh.write(cfg.ca_pem.strip() + "\n" + cfg.crl_pem.strip() + "\n")
                    ctx.load_verify_locations(cafile=path)
                finally:
                    os.unlink(path)
                ctx.verify_flags = ctx.verify_flags | ssl.VERIFY_CRL_CHECK_LEAF
            else:
                ctx.load_verify_locations(cadata=cfg.ca_pem)
        else:
            ctx.verify_mode = ssl.CERT_NONE
        with self._lock:
            if len(self._ctx_cache) >= 64:
                self._ctx_cache.clear()
            self._ctx_cache[key] = ctx
        return ctx

    # -- HTTP ---------------------------------------------------------------------------------
    def _handle_http(self, listener: dict[str, Any], tls: ssl.SSLSocket, addr, local_port: int,
                     client, der: bytes | None) -> None:
        rfile = tls.makefile("rb")
        try:
            req = read_request(rfile)
        except BadRequest as exc:
            send(tls, exc.status, [], (exc.message + "\n").encode())
            return
        except (OSError, ValueError):
            return
        if req is None:
            return
        method, target, version, headers, body = req
        headers = self._forward_headers(listener, headers, addr, client, der)
        status, resp_headers, resp_body = self._forward(listener, method, target, headers, body)
        send(tls, status, resp_headers, resp_body, head=(method == "HEAD"))
        try:
            rfile.close()
        except OSError:
            pass

    def _forward_headers(self, listener: dict[str, Any], headers: list[tuple[str, str]], addr,
                         client, der: bytes | None) -> list[tuple[str, str]]:
        xff = listener.get("XForwardedForConfig") or {}
        drop = {n.lower() for _, n in _CERT_HEADERS}
        for prefix, _ in _CERT_HEADERS:
            alias = xff.get(prefix + "Alias")
            if alias:
                drop.add(str(alias).lower())
        drop |= {"x-forwarded-proto"}
        out = [(k, v) for k, v in headers if k.lower() not in drop and k.lower() not in _HOP_BY_HOP]
        host = next((v for k, v in headers if k.lower() == "host"), "")
        if xff.get("XForwardedForEnabled", True):
            mode = str(xff.get("XForwardedForProcessingMode") or "append").lower()
            prior = [v for k, v in out if k.lower() == "x-forwarded-for"]
            out = [(k, v) for k, v in out if k.lower() != "x-forwarded-for"]
            if mode != "remove":
                out.append(("X-Forwarded-For", ", ".join(prior + [addr[0]])))
        out.append(("X-Forwarded-Proto", "https"))
        if xff.get("XForwardedForHostEnabled"):
            out.append(("X-Forwarded-Host", host))
        if xff.get("XForwardedForSLBPortEnabled"):
            out.append(("X-Forwarded-Port", str(listener.get("ListenerPort", ""))))
        if xff.get("XForwardedForClientSrcPortEnabled"):
            out.append(("X-Forwarded-Client-Port", str(addr[1])))
        if xff.get("XForwardedForSLBIdEnabled"):
            out.append(("SLB-ID", str(listener.get("LoadBalancerId", ""))))
        values = client_cert_values(client, der)
        for (prefix, default), value in zip(_CERT_HEADERS, values, strict=True):
            if xff.get(prefix + "Enabled") and value is not None:
                out.append((str(xff.get(prefix + "Alias") or default), value))
        probe = any(k.lower() == "user-agent" and v == PROBE_USER_AGENT for k, v in headers)
        if xff.get("XForwardedForClientCertFingerprintEnabled") and values[2] is not None and not probe:
            self._note_seen(listener, values[0], values[2])
        return out

    def _note_seen(self, listener: dict[str, Any], subject: str | None, fingerprint: str) -> None:
        """Keep that ``fingerprint`` reached the backends of ``listener`` (module doc)."""
        from datetime import UTC, datetime
        key = f"{listener.get('ListenerId')}/{fingerprint}"
        now = self.cloud.clock.time()
        with self._lock:
            last = self._seen.get(key)
            if last is not None and 0 <= now - last < SEEN_WRITE_EVERY_S:
                return
            self._seen[key] = now
        at = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        with self.cloud.store.tx():
            doc = self.cloud.store.get(SEEN_KIND, key) or {
                "ListenerId": listener.get("ListenerId"), "LoadBalancerId": listener.get("LoadBalancerId"),
                "ListenerPort": listener.get("ListenerPort"), "fingerprint": fingerprint, "subject": subject,
                "first_seen": at}
            doc["last_seen"] = at
            self.cloud.store.put(SEEN_KIND, key, doc, key2=str(listener.get("ListenerId")))

    def _candidates(self, listener: dict[str, Any]) -> list[tuple[tuple[str, str, int], dict[str, Any], int]]:
        store = self.cloud.store
        out = []
        tuples = []
        for act in listener.get("DefaultActions") or []:
            for t in (act.get("ForwardGroupConfig") or {}).get("ServerGroupTuples") or []:
                tuples.append(t)
        multi = len(tuples) > 1
        now = self.cloud.clock.time()
        for t in tuples:
            sg_id = t.get("ServerGroupId")
            sg = store.get("alb.servergroup", sg_id) if sg_id else None
            if sg is None:
                continue
            group_weight = int(t.get("Weight") or 100) if multi else 1
            for s in sg.get("Servers") or []:
                w = int(s.get("Weight", 100) if s.get("Weight") is not None else 100)
                if w <= 0 or group_weight <= 0 or now < float(s.get("busy_until_s") or 0):
                    continue   # no weight, or still being added
                h = store.get("health.server", health_id(sg_id, s.get("ServerId"), s.get("Port")))
                if h is not None and h.get("Status") == "Unhealthy":
                    continue
                out.append(((sg_id, str(s.get("ServerId")), int(s.get("Port"))), {**s, "_sg": sg}, w * group_weight))
        return out

    def _pick_order(self, listener_id: str, cands: list) -> list:
        """Smooth weighted round robin: the chosen one first, then the rest by the same rule."""
        order = []
        with self._lock:
            state = self._rr.setdefault(listener_id, {})
            keys = {k for k, _, _ in cands}
            for k in list(state):
                if k not in keys:
                    state.pop(k)
            remaining = list(cands)
            first = True
            while remaining:
                total = sum(w for _, _, w in remaining)
                if first:
                    best = remaining[0]
                    for k, s, w in remaining:
                        state[k] = state.get(k, 0) + w
                        if state[k] > state[best[0]]:
                            best = (k, s, w)
                    state[best[0]] -= total
                    first = False
                else:  # fall-backs: by current score, without touching the state
                    best = max(remaining, key=lambda c: state.get(c[0], 0))
                order.append(best)
                remaining = [c for c in remaining if c[0] != best[0]]
        return order

    def _forward(self, listener: dict[str, Any], method: str, target: str,
                 headers: list[tuple[str, str]], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        cands = self._candidates(listener)
        if not cands:
            return 503, [("Content-Type", "text/plain")], b"503 Service Temporarily Unavailable\n"
        timeout = min(float(listener.get("RequestTimeout") or 60), 60.0)
        timed_out = False
        for _, server, _ in self._pick_order(listener["ListenerId"], cands):
            addr = backend_address(self.cloud, server, int(server["Port"]))
            if addr is None:
                continue
            https = str(server["_sg"].get("Protocol") or "HTTP").upper() == "HTTPS"
            conn: http.client.HTTPConnection
            if https:
                bctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                bctx.check_hostname = False
                bctx.verify_mode = ssl.CERT_NONE
                conn = http.client.HTTPSConnection(addr[0], addr[1], timeout=timeout, context=bctx)
            else:
                conn = http.client.HTTPConnection(addr[0], addr[1], timeout=timeout)
            try:
                try:
                    conn.connect()
                except OSError:
                    continue  # stopped instance: try the next one
                conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                for k, v in headers:
                    conn.putheader(k, v)
                if body or method in ("POST", "PUT", "PATCH"):
                    conn.putheader("Content-Length", str(len(body)))
                conn.putheader("Connection", "close")
                conn.endheaders(body or None)
                resp = conn.getresponse()
                data = resp.read()
                rh = [(k, v) for k, v in resp.getheaders()
                      if k.lower() not in _HOP_BY_HOP and (k.lower() != "content-length" or method == "HEAD")]
                return resp.status, rh, data
            except TimeoutError:
                timed_out = True
                break
            except (OSError, http.client.HTTPException) as exc:
                log.debug("backend %s: %s", addr, exc)
                continue
            finally:
                conn.close()
        if timed_out:
            return 504, [("Content-Type", "text/plain")], b"504 Gateway Time-out\n"
        return 502, [("Content-Type", "text/plain")], b"502 Bad Gateway\n"


# -- helpers -------------------------------------------------------------------------------------
def _same_entries(a: str, b: str) -> bool:
    """Two CRLs (PEM) list the same revoked serials (their update times differ at every read)."""
    if not a or not b:
        return a == b
    from cryptography import x509
    sa = {r.serial_number for r in x509.load_pem_x509_crl(a.encode())}
    sb = {r.serial_number for r in x509.load_pem_x509_crl(b.encode())}
    return sa == sb


def client_cert_values(client, der: bytes | None) -> tuple[str | None, str | None, str | None, str]:
    """(subject DN, issuer DN, fingerprint, verify result) for the clientcert headers."""
    if client is None or not der:
        return None, None, None, "NONE"
    return (client.subject.rfc4514_string(), client.issuer.rfc4514_string(),
            hashlib.sha1(der).hexdigest(), "SUCCESS")



"""The local cloud's mail server and webhook receiver: where the product's notifications land, checked
as the real services check them, every message kept (store kind ``notify.message``).

* **SMTP** (aiosmtpd, 127.0.0.1): STARTTLS required (a certificate for ``localhost`` from the local
  server root CA, ``<state_dir>/server-root-ca.pem``), then AUTH (LOGIN/PLAIN) required; MAIL
  before STARTTLS gets 530, AUTH before STARTTLS is not offered, a wrong password 535 (RFC 3207,
  RFC 4954).
* **Webhook receiver** (http.server, 127.0.0.1), one route per service:
  ``POST /robot/send?access_token=…&timestamp=…&sign=…`` — DingTalk: the token, the timestamp within
  an hour and the signature, else ``{"errcode": 310000, …}`` (HTTP 200, as DingTalk answers);
  ``POST /cgi-bin/webhook/send?key=…`` — WeCom: the key, else ``errcode 93000``;
  ``POST /open-apis/bot/v2/hook/<id>`` — Lark: the hook, ``timestamp``/``sign`` in the body, else
  ``code 19021``; ``POST /hooks/<name>`` — Standard Webhooks v1: ``webhook-signature`` over
  ``id.timestamp.body`` within 5 minutes, else 401 (sources: ``shared.policy.notify``).

On start (and after a reset) the service stores the account's notification configuration — these
two servers as channels, the download trigger's URL — in the KMS secret ``albmtls/notify/config``,
as an operator configures it once on a real account (``albmtls channels set``). The credentials are
random per start; only KMS and this service know them.

Admin (``cloud.admin_routes["messages"]``): ``GET /_admin/messages[?since=N]`` → ``{"messages":
[…]}``; ``POST /_admin/messages/fail {"channel": name, "status": 500, "times": n}`` makes a channel
answer with an error (tests of "a failing channel never fails a rotation").
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import socket
import ssl
import tempfile
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus, urlsplit

if TYPE_CHECKING:  # pragma: no cover
    from .cloud import LocalCloud

log = logging.getLogger("localruntime.notify")
KIND = "notify.message"
CONFIG_SECRET = "albmtls/notify/config"
SMTP_USER = "alb-mtls"
DINGTALK_TOLERANCE_MS = 3_600_000     # "与请求调用时间误差不能超过1小时" (DingTalk)
LARK_TOLERANCE_S = 3600
STDWH_TOLERANCE_S = 300               # the Standard Webhooks reference library's 5 minutes


def _free_port() -> int:
    with socket.socket() as s:      # aiosmtpd cannot take port 0 (its readiness probe connects to it)
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NotifySinks:
    """SMTP server + webhook receiver (module doc)."""

    def __init__(self, cloud: LocalCloud) -> None:
        self.cloud = cloud
        self.smtp_password = secrets.token_urlsafe(18)
        self.dingtalk_token = secrets.token_hex(16)
        self.dingtalk_secret = "SEC" + secrets.token_hex(32)
        self.wecom_key = str(__import__("uuid").uuid4())
        self.lark_hook = str(__import__("uuid").uuid4())
        self.lark_secret = secrets.token_urlsafe(24)
        self.hook_secrets = {name: "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
                             for name in ("ops", "systems")}
        self.failing: dict[str, list[int]] = {}       # channel → [status, remaining]
        self._lock = threading.Lock()
        self._controller: Any = None
        self.httpd: ThreadingHTTPServer | None = None
        self.smtp_port = 0
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._ca_pem = ""

    # -- storage -----------------------------------------------------------------------------
    def record(self, **doc: Any) -> dict[str, Any]:
        with self._lock:
            n = self.cloud.store.next_seq("notify.message")
            doc = {"n": n, "at": self.cloud.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"), **doc}
            self.cloud.store.put(KIND, f"{n:08d}", doc)
        return doc

    def messages(self, since: int = 0) -> list[dict[str, Any]]:
        return [d for d in self.cloud.store.list(KIND) if int(d.get("n", 0)) > since]

    def fail_answer(self, channel: str) -> int | None:
        with self._lock:
            f = self.failing.get(channel)
            if not f or f[1] <= 0:
                return None
            f[1] -= 1
            return f[0]

    # -- SMTP -------------------------------------------------------------------------------
    def _start_smtp(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        from localcloud.products.cas.models import ensure_server_root_ca, make_server_certificate
        logging.getLogger("mail.log").setLevel(logging.ERROR)   # aiosmtpd 1.4.6: a deprecation line per AUTH
        self._ca_pem = ensure_server_root_ca(self.cloud)[0]
        cert_pem, key_pem = make_server_certificate(self.cloud, "localhost", ["localhost"])
        self._tmp = tempfile.TemporaryDirectory(prefix="albmtls-smtp-")
        cert_file, key_file = Path(self._tmp.name) / "cert.pem", Path(self._tmp.name) / "key.pem"
        cert_file.write_text(cert_pem)
        key_file.write_text(key_pem)
        key_file.chmod(0o600)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(cert_file), str(key_file))
        sinks = self

        def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> Any:
            ok = isinstance(auth_data, LoginPassword) and auth_data.login == SMTP_USER.encode() and \
                hmac.compare_digest(auth_data.password, sinks.smtp_password.encode())
            return AuthResult(success=ok, handled=False, auth_data=auth_data.login if ok else None)

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                status = sinks.fail_answer("mail")
                if status:
                    return f"{status} Service temporarily unavailable"
                msg = message_from_bytes(envelope.content, policy=policy.default)
                body = msg.get_body(preferencelist=("plain",))
                sinks.record(service="smtp", channel="mail", verified=bool(session.authenticated),
                             tls=session.ssl is not None, answer="250", user=SMTP_USER if session.authenticated
                             else None, sender=envelope.mail_from, to=list(envelope.rcpt_tos),
                             subject=str(msg.get("Subject", "")), message_id=str(msg.get("Message-ID", "")),
                             text=body.get_content() if body is not None else "")
                return "250 Message accepted for delivery"

        last: Exception | None = None
        for _ in range(5):
            self.smtp_port = _free_port()
            ctl = Controller(Handler(), hostname="127.0.0.1", port=self.smtp_port, server_hostname="localhost",
                             ready_timeout=10.0, tls_context=tls, require_starttls=True,
                             authenticator=authenticator, auth_required=True, auth_require_tls=True)
            try:
                ctl.start()
                self._controller = ctl
                return
            except (OSError, RuntimeError, TimeoutError) as exc:   # the picked port was taken meanwhile
                last = exc
        raise RuntimeError(f"the local SMTP server did not start: {last}")

    # -- webhooks ---------------------------------------------------------------------------
    def check(self, path: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> tuple[int, bytes, dict]:
        """Answer one webhook request as the real service would; record it."""
        now_ms = int(self.cloud.clock.now().timestamp() * 1000)
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            doc = None
        rec: dict[str, Any] = {"path": path.split("?")[0][:40], "json": doc if isinstance(doc, dict) else None}

        def answer(service: str, channel: str, ok: bool, reason: str, status: int, payload: dict) -> tuple:
            forced = self.fail_answer(channel) if ok else None
            if forced:
                status, payload, ok, reason = forced, {"error": "injected failure"}, False, f"injected HTTP {forced}"
            self.record(service=service, channel=channel, verified=ok, answer=str(payload.get(
                "errcode", payload.get("code", status))), reason=reason, **rec)
            return status, json.dumps(payload).encode(), {"Content-Type": "application/json"}

        if path == "/robot/send":
            if query.get("access_token") != self.dingtalk_token:
                return answer("dingtalk", "ops-dingtalk", False, "token missing or wrong", 200,
                              {"errcode": 300001, "errmsg": "token is not exist"})
            try:
                ts = int(query.get("timestamp", ""))
            except ValueError:
                ts = 0
            from shared.policy.notify import dingtalk_sign
            if abs(now_ms - ts) > DINGTALK_TOLERANCE_MS:
                return answer("dingtalk", "ops-dingtalk", False, "invalid timestamp", 200,
                              {"errcode": 310000, "errmsg": "invalid timestamp"})
            if not hmac.compare_digest(query.get("sign", ""), dingtalk_sign(self.dingtalk_secret, ts)):
                return answer("dingtalk", "ops-dingtalk", False, "sign not match", 200,
                              {"errcode": 310000, "errmsg": "sign not match"})
            return answer("dingtalk", "ops-dingtalk", True, "signature valid", 200, {"errcode": 0, "errmsg": "ok"})
        if path == "/cgi-bin/webhook/send":
            ok = hmac.compare_digest(query.get("key", ""), self.wecom_key)
            return answer("wecom", "ops-wecom", ok, "key valid" if ok else "invalid webhook url", 200,
                          {"errcode": 0, "errmsg": "ok"} if ok else {"errcode": 93000, "errmsg": "invalid webhook url"})
        if path.startswith("/open-apis/bot/v2/hook/"):
            from shared.policy.notify import lark_sign
            hook = path.rsplit("/", 1)[-1]
            d = doc if isinstance(doc, dict) else {}
            try:
                ts = int(d.get("timestamp", "0"))
            except (TypeError, ValueError):
                ts = 0
            ok = hook == self.lark_hook and abs(now_ms // 1000 - ts) <= LARK_TOLERANCE_S and \
                hmac.compare_digest(str(d.get("sign", "")), lark_sign(self.lark_secret, ts))
            return answer("lark", "ops-lark", ok, "signature valid" if ok else "sign match fail", 200,
                          {"code": 0, "data": {}, "msg": "success"} if ok else
                          {"code": 19021, "data": {}, "msg": "sign match fail or timestamp is not within one hour "
                           "from current time"})
        if path.startswith("/hooks/"):
            name = path.rsplit("/", 1)[-1]
            channel = f"{name}-webhook"
            secret = self.hook_secrets.get(name)
            msg_id, ts_raw = headers.get("webhook-id", ""), headers.get("webhook-timestamp", "")
            sigs = headers.get("webhook-signature", "").split()
            rec["webhook_id"] = msg_id
            if secret is None:
                return answer("webhook", channel, False, "no such hook", 404, {"error": "not found"})
            try:
                ts = int(ts_raw)
            except ValueError:
                return answer("webhook", channel, False, "no timestamp", 401, {"error": "missing timestamp"})
            if abs(now_ms // 1000 - ts) > STDWH_TOLERANCE_S:
                return answer("webhook", channel, False, "timestamp too old or new", 401, {"error": "stale timestamp"})
            key = base64.b64decode(secret.removeprefix("whsec_"))
            want = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
            ok = any(s.startswith("v1,") and hmac.compare_digest(s[3:], want) for s in sigs)
            return answer("webhook", channel, ok, "signature valid" if ok else "bad signature", 204 if ok else 401,
                          {} if ok else {"error": "bad signature"})
        return answer("unknown", "-", False, "no such route", 404, {"error": "not found"})

    def _start_http(self) -> None:
        sinks = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = 10

            def log_message(self, fmt: str, *args: Any) -> None:  # never the query (it holds keys)
                pass

            def do_POST(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if 0 < n <= 1 << 20 else b""
                url = urlsplit(self.path)
                query = {k: v for k, v in parse_qsl(url.query, keep_blank_values=True)}
                status, data, hdrs = sinks.check(unquote_plus(url.path), query,
                                                 {k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                for k, v in hdrs.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(0 if status == 204 else len(data)))
                self.end_headers()
                if status != 204:
                    self.wfile.write(data)

        class S(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self.httpd = S(("127.0.0.1", 0), H)
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="webhook-receiver",
                         daemon=True).start()

    # -- configuration ------------------------------------------------------------------------
    @property
    def webhook_base(self) -> str:
        assert self.httpd is not None
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def config(self) -> dict[str, Any]:
        """The notification configuration pointing at these servers (``shared.policy.notify.NotifyConfig``)."""
        w = self.webhook_base
        return {"v": 1, "download_url": self.cloud.runtime.get("download_url"), "link_ttl_hours": 72,
                "not_switched_days": 7, "channels": [
                    {"type": "smtp", "name": "mail", "host": "localhost", "port": self.smtp_port,
                     "username": SMTP_USER, "password": self.smtp_password, "sender": "alb-mtls@example.test",
                     "operators": ["ops@example.test"], "starttls": True, "ca_pem": self._ca_pem,
                     "audience": ["operators", "holders"]},
                    {"type": "dingtalk", "name": "ops-dingtalk", "url": f"{w}/robot/send?access_token="
                     f"{self.dingtalk_token}", "secret": self.dingtalk_secret, "audience": ["operators", "holders"]},
                    {"type": "wecom", "name": "ops-wecom", "url": f"{w}/cgi-bin/webhook/send?key={self.wecom_key}",
                     "audience": ["operators"]},
                    {"type": "lark", "name": "ops-lark", "url": f"{w}/open-apis/bot/v2/hook/{self.lark_hook}",
                     "secret": self.lark_secret, "audience": ["operators"]},
                    {"type": "webhook", "name": "ops-webhook", "url": f"{w}/hooks/ops",
                     "secret": self.hook_secrets["ops"], "audience": ["operators"]},
                    {"type": "webhook", "name": "systems-webhook", "url": f"{w}/hooks/systems",
                     "secret": self.hook_secrets["systems"], "audience": ["systems"]},
                ]}

    def write_config(self) -> None:
        """Store the configuration as a new version of the KMS secret (as ``albmtls channels set``)."""
        from localcloud.products.kms import models as kms
        data = json.dumps(self.config(), separators=(",", ":"))
        version = "local-" + hashlib.sha256(data.encode()).hexdigest()[:24]
        with self.cloud.store.tx():
            doc = kms.load(self.cloud, CONFIG_SECRET)
            if doc is None:
                kms.create_secret(self.cloud, CONFIG_SECRET, version, data, "text", "Generic",
                                  description="alb-mtls notification channels (local cloud)", encryption_key_id="",
                                  dkms_instance_id="", tags=[])
            elif not any(v["VersionId"] == version for v in doc["versions"]):
                kms.put_secret_value(self.cloud, CONFIG_SECRET, version, data, "text", [kms.CURRENT])

    # -- Service ------------------------------------------------------------------------------
    def admin(self, method: str, rest: str, query: dict[str, str], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "POST" and rest == "fail":
            with self._lock:
                self.failing[str(body["channel"])] = [int(body.get("status", 500)), int(body.get("times", 1000))]
            return 200, {"failing": self.failing}
        return 200, {"messages": self.messages(int(query.get("since", 0)))}

    def start(self) -> None:
        self._start_smtp()
        self._start_http()
        self.write_config()
        self.cloud.admin_routes["messages"] = self.admin
        self.cloud.runtime.setdefault("published", {}).update({
            "smtp": f"localhost:{self.smtp_port}", "webhooks": self.webhook_base,
            "download_url": self.cloud.runtime.get("download_url")})

    def stop(self) -> None:
        if self._controller is not None:
            try:
                self._controller.stop()
            except Exception:  # pragma: no cover - best effort
                log.exception("stopping the SMTP server")
            self._controller = None
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.httpd = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def pause(self) -> None:
        pass

    def resume(self) -> None:
        with self._lock:
            self.failing.clear()
        self.write_config()


__all__ = ["NotifySinks", "KIND", "CONFIG_SECRET"]

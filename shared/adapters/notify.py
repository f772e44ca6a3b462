"""Sending notifications: chat robots and webhooks over HTTPS (``urllib``), email over SMTP
(``smtplib``: STARTTLS with the certificate verified, then AUTH). What is sent and how it is
signed is ``shared.policy.notify``; here only the transport.

Every send goes through the one retry layer (``shared.adapters.retry.call``, op name
``notify:<type>``): a throttled or unavailable service (HTTP 429/5xx, a robot's rate-limit code,
a dropped connection, SMTP 4xx) is a ``TransientError`` retried with backoff within the deadline;
a refusal (bad signature, unknown key, SMTP 5xx) is an ``AlbMtlsError`` at once. Request URLs
(which hold robot keys) and SMTP passwords never reach a log line or an exception message.
"""
from __future__ import annotations

import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import TYPE_CHECKING

from shared.core.errors import AlbMtlsError, TransientError
from shared.policy.notify import Channel, Notice, SmtpChannel, build_http, classify_http, mask_url

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Callable

    from shared.core.wait import Deadline

__all__ = ["NOTIFY_FAILED", "send", "send_email", "send_http", "email_message"]

NOTIFY_FAILED = "NOTIFY_FAILED"
HTTP_TIMEOUT_S = 15.0


def _deadline_timeout(deadline: Deadline, cap: float) -> float:
    return max(0.5, min(cap, deadline.remaining()))


def send_http(ch: Channel, n: Notice, deadline: Deadline, now_ms: Callable[[], int]) -> str:
    """POST ``n`` to ``ch`` (signed anew on each attempt at ``now_ms()``: the invocation's clock);
    returns the service's answer code."""
    from shared.adapters.retry import call

    def attempt() -> str:
        req = build_http(ch, n, now_ms())
        r = urllib.request.Request(req.url, data=req.body, headers=req.headers, method="POST")
        try:
            with urllib.request.urlopen(r, timeout=_deadline_timeout(deadline, HTTP_TIMEOUT_S)) as resp:
                status, body = resp.status, resp.read(65536)
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read(65536) if exc.fp is not None else b""
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TransientError("CLOUD_UNREACHABLE", f"channel {ch.name!r} ({mask_url(req.url)}) did not answer: "
                                 f"{type(reason).__name__}") from None
        ok, retryable, code = classify_http(type(ch).__name__.removesuffix("Channel").lower(), status, body)
        if ok:
            return code
        msg = f"channel {ch.name!r} refused the message: {code}"
        if retryable:
            raise TransientError("THROTTLED" if status in (200, 429) else "CLOUD_UNAVAILABLE", msg,
                                 details={"channel": ch.name, "answer": code})
        raise AlbMtlsError(NOTIFY_FAILED, msg, details={"channel": ch.name, "answer": code})

    return call(f"notify:{type(ch).__name__.removesuffix('Channel').lower()}", attempt, deadline=deadline)


def email_message(ch: SmtpChannel, n: Notice, to: list[str]) -> EmailMessage:
    """The email for ``n``: plain text (the link, when there is one, on its own line)."""
    msg = EmailMessage()
    msg["From"] = ch.sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = n.title
    if n.id:
        msg["Message-ID"] = f"<{n.id}@alb-mtls>"
    body = n.text
    if n.link:
        body += f"\n\nYour one-time download link:\n{n.link}\n"
    msg.set_content(body)
    return msg


def send_email(ch: SmtpChannel, n: Notice, to: list[str], deadline: Deadline) -> str:
    """Send ``n`` to ``to`` through ``ch``: STARTTLS (verified against ``ch.ca_pem`` or the system
    trust store, host name checked), AUTH when a username is set. Returns ``"OK"``."""
    from shared.adapters.retry import call

    def attempt() -> str:
        ctx = ssl.create_default_context(cadata=ch.ca_pem) if ch.ca_pem else ssl.create_default_context()
        try:
            with smtplib.SMTP(ch.host, ch.port, timeout=_deadline_timeout(deadline, 20.0)) as s:
                s.ehlo()
                if ch.starttls:
                    s.starttls(context=ctx)
                    s.ehlo()
                if ch.username:
                    s.login(ch.username, ch.password or "")
                s.send_message(email_message(ch, n, to))
            return "OK"
        except smtplib.SMTPAuthenticationError as exc:
            raise AlbMtlsError(NOTIFY_FAILED, f"channel {ch.name!r}: SMTP authentication refused ({exc.smtp_code})",
                               details={"channel": ch.name}) from None
        except smtplib.SMTPResponseException as exc:
            msg = f"channel {ch.name!r}: the SMTP server answered {exc.smtp_code}"
            if 400 <= exc.smtp_code < 500:
                raise TransientError("CLOUD_UNAVAILABLE", msg, details={"channel": ch.name}) from None
            raise AlbMtlsError(NOTIFY_FAILED, msg, details={"channel": ch.name}) from None
        except smtplib.SMTPRecipientsRefused:
            raise AlbMtlsError(NOTIFY_FAILED, f"channel {ch.name!r}: the SMTP server refused the recipient",
                               details={"channel": ch.name}) from None
        except (smtplib.SMTPException, ssl.SSLError) as exc:
            raise AlbMtlsError(NOTIFY_FAILED, f"channel {ch.name!r}: {type(exc).__name__}",
                               details={"channel": ch.name}) from None
        except OSError as exc:
            raise TransientError("CLOUD_UNREACHABLE", f"channel {ch.name!r}: SMTP server {ch.host}:{ch.port} "
                                 f"not reachable ({type(exc).__name__})") from None

    return call("notify:smtp", attempt, deadline=deadline)


def send(ch: Channel, n: Notice, deadline: Deadline, *, to: list[str] | None = None,
         now_ms: Callable[[], int]) -> str:
    """Send ``n`` through ``ch`` (email needs ``to``); ``now_ms`` is the caller's clock (the step's
    ``ctx.clock``: the cloud's time locally), never this machine's."""
    if isinstance(ch, SmtpChannel):
        return send_email(ch, n, to or [], deadline)
    return send_http(ch, n, deadline, now_ms)

"""Notification channels and messages, pure: the channel configuration (kept in one KMS secret,
never in the input), what each message says, and the exact request each channel's service expects
— signatures included. Sending is ``shared.adapters.notify``; facts and sources: docs/DELIVERY.md.

Channels (``type``):

* ``dingtalk`` — DingTalk custom robot. With a signing secret (``SEC…``) every request carries
  ``&timestamp=<ms>&sign=<urlencode(base64(HMAC-SHA256(key=secret, msg="<ms>\\n<secret>")))>``; the
  body ``{"msgtype": "markdown", …}``; success is ``errcode == 0`` (HTTP 200 either way).
  (open.dingtalk.com/document/group/custom-robot-access; the official Python sample.)
* ``wecom`` — WeCom group robot ``…/cgi-bin/webhook/send?key=K``: no signature, the key is the
  credential; markdown ≤ 4096 bytes; ``errcode == 0`` (developer.work.weixin.qq.com/document/path/99110).
* ``lark`` — Lark/Feishu custom bot: ``timestamp`` (seconds) and ``sign`` =
  ``base64(HMAC-SHA256(key="<ts>\\n<secret>", msg=b""))`` in the JSON body; success ``code == 0``
  or ``StatusCode == 0`` (open.feishu.cn/document/client-docs/bot-v3/add-custom-bot).
* ``webhook`` — a generic JSON webhook signed as Standard Webhooks v1: ``webhook-id``,
  ``webhook-timestamp``, ``webhook-signature: v1,<base64(HMAC-SHA256(key, "<id>.<ts>.<body>"))>``
  with a ``whsec_`` Base64 key; any 2xx is success (github.com/standard-webhooks/standard-webhooks,
  ``spec/standard-webhooks.md``).
* ``smtp`` — email over SMTP with STARTTLS (certificate verified) and AUTH (RFC 3207, RFC 4954).

Audiences: ``operators`` (renewal failed, holder not switched, sub-CA or server certificate
ending, revocation, drift found by the daily check), ``holders`` (a person's "new certificate
ready" and reminder — chat notices never carry the link: it goes only to the person's own email),
``systems`` (a system holder's renewal notice). No message holds a private key, a PFX or a
password (:func:`check_clean`).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec
from msgspec import Meta

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = [
    "Audience", "NoticeKind", "DingTalkChannel", "WeComChannel", "LarkChannel", "WebhookChannel", "SmtpChannel",
    "Channel", "NotifyConfig", "decode_config", "encode_config", "Notice", "HttpRequest", "dingtalk_sign",
    "lark_sign", "standard_webhook_headers", "build_http", "markdown_escape", "classify_http", "mask_url",
    "check_clean", "channels_for", "webhook_warnings",
]

Audience = Literal["operators", "holders", "systems"]
NoticeKind = Literal["certificate_ready", "reminder", "renewal_failed", "not_switched", "ca_ending",
                     "server_certificate_ending", "revoked", "drift", "test"]
Url = Annotated[str, Meta(pattern=r"^https?://[^\s]+$", max_length=2048)]
Name = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class _Channel(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="type"):
    name: Name
    audience: tuple[Audience, ...] = ("operators",)


class DingTalkChannel(_Channel, frozen=True, tag="dingtalk", kw_only=True):
    url: Url
    secret: str | None = None          # SEC…: signed requests; None = keyword/IP security only


class WeComChannel(_Channel, frozen=True, tag="wecom", kw_only=True):
    url: Url


class LarkChannel(_Channel, frozen=True, tag="lark", kw_only=True):
    url: Url
    secret: str | None = None


class WebhookChannel(_Channel, frozen=True, tag="webhook", kw_only=True):
    url: Url
    secret: Annotated[str, Meta(pattern=r"^whsec_[A-Za-z0-9+/=]{32,700}$")]


class SmtpChannel(_Channel, frozen=True, tag="smtp", kw_only=True):
    host: Annotated[str, Meta(min_length=1, max_length=253)]
    port: Annotated[int, Meta(ge=1, le=65535)] = 587
    username: str | None = None
    password: str | None = None
    sender: Annotated[str, Meta(min_length=3, max_length=254)]
    operators: tuple[str, ...] = ()     # operator addresses (audience operators)
    starttls: bool = True
    ca_pem: str | None = None           # trust this CA instead of the system store (the local cloud)
    audience: tuple[Audience, ...] = ("operators", "holders")


Channel = DingTalkChannel | WeComChannel | LarkChannel | WebhookChannel | SmtpChannel


class NotifyConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The account's notification configuration (the KMS secret ``<prefix>/notify/config``):
    ``download_url`` (the download function's HTTP trigger URL, …/d/<token> is appended),
    ``link_ttl_hours``, ``not_switched_days`` (operators are told when a holder has not switched
    and the old certificate ends within that many days) and the channels."""

    v: int = 1
    download_url: Url | None = None
    link_ttl_hours: Annotated[int, Meta(ge=1, le=720)] = 72
    not_switched_days: Annotated[int, Meta(ge=1, le=60)] = 7
    channels: tuple[Channel, ...] = ()

    def channel(self, name: str) -> Channel | None:
        return next((c for c in self.channels if c.name == name), None)

    @property
    def smtp(self) -> SmtpChannel | None:
        return next((c for c in self.channels if isinstance(c, SmtpChannel)), None)


def decode_config(text: str | bytes) -> NotifyConfig:
    """The configuration in ``text``. Raises ``AlbMtlsError(CONFIG_INVALID)`` naming the field
    (the message never echoes a value)."""
    from shared.core.errors import AlbMtlsError, Code
    from shared.policy.validation import decode
    try:
        cfg = decode(NotifyConfig, text)
    except AlbMtlsError as exc:
        raise AlbMtlsError(Code.CONFIG_INVALID, f"the notification configuration is invalid: {exc.message}",
                           field=exc.field) from None
    names = [c.name for c in cfg.channels]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise AlbMtlsError(Code.CONFIG_INVALID, f"channel names must be unique: {', '.join(dup)}", field="channels")
    return cfg


def encode_config(cfg: NotifyConfig) -> str:
    return msgspec.json.encode(cfg).decode()


# ---------------------------------------------------------------------------------------------
# messages
# ---------------------------------------------------------------------------------------------
class Notice(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One message: ``kind``, ``audience``, a one-line ``title``, plain ``text`` lines and the
    facts (ids, names, times) a receiving system reads. ``link`` (a person's one-time download
    URL) and ``to`` (their email) appear only on the email to that person; ``mention`` is the
    DingTalk mobile/user id to @-mention."""

    kind: NoticeKind
    audience: Audience
    title: str
    text: str
    facts: dict[str, Any] = {}
    to: str | None = None
    link: str | None = None
    mention: str | None = None
    id: str = ""


_SECRETISH = re.compile(r"PRIVATE KEY|BEGIN ENCRYPTED|MII[A-Za-z0-9+/]{60}")


def check_clean(text: str, forbidden: tuple[str, ...] = ()) -> None:
    """Raise ``AlbMtlsError(INTERNAL)`` when ``text`` holds key material, a long Base64 DER run, or
    any of ``forbidden`` (passwords, PFX Base64 known to the caller): a message is built from ids,
    names and times only, so this is a guard against a bug."""
    from shared.core.errors import AlbMtlsError, Code
    if _SECRETISH.search(text) or any(f and f in text for f in forbidden):
        raise AlbMtlsError(Code.INTERNAL, "a notification would have carried key material; it was not sent "
                           "(this is a bug: messages carry ids, names and times only)")


def channels_for(cfg: NotifyConfig, audience: Audience, *, webhook: str | None = None) -> list[Channel]:
    """The channels a notice for ``audience`` goes to. A system holder's own ``webhook`` channel
    (when named) replaces the ``systems`` channels."""
    if audience == "systems" and webhook:
        ch = cfg.channel(webhook)
        return [ch] if ch is not None else []
    return [c for c in cfg.channels if audience in c.audience]


# ---------------------------------------------------------------------------------------------
# signatures and requests
# ---------------------------------------------------------------------------------------------
def webhook_warnings(clients: Sequence[Any], cfg: NotifyConfig | None, problem: str | None = None,
                     ) -> list[dict[str, str]]:
    """Warnings (``CHANNEL_NOT_CONFIGURED``, ``field`` ``clients[i].holder.webhook``) for a system
    holder whose ``webhook`` names no channel of ``cfg``: its renewals would reach no one. A warning,
    not a refusal: channels live only in the cloud (``albmtls channels set``, docs/DELIVERY.md), set
    before or after a listener is provisioned — the plan and the run say it so it is fixed first."""
    out: list[dict[str, str]] = []
    for i, c in enumerate(clients):
        name = getattr(getattr(c, "holder", None), "webhook", None)
        if not name:
            continue
        if cfg is None:
            why = f"there is no usable notification configuration ({problem})" if problem else \
                "there is no notification configuration"
        elif cfg.channel(name) is None:
            known = ", ".join(sorted(ch.name for ch in cfg.channels)) or "none"
            why = f"no channel is named so (configured: {known})"
        else:
            continue
        out.append({"code": "CHANNEL_NOT_CONFIGURED", "field": f"clients[{i}].holder.webhook",
                    "message": f"client {c.common_name!r}: its holder's webhook {name!r} reaches no one — {why}; "
                               "add it with `albmtls channels set -f FILE`, or name a configured channel"})
    return out


def dingtalk_sign(secret: str, ts_ms: int) -> str:
    """DingTalk: base64(HMAC-SHA256(key=secret, msg="<ms>\\n<secret>")) (not URL-encoded yet)."""
    mac = hmac.new(secret.encode(), f"{ts_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def lark_sign(secret: str, ts_s: int) -> str:
    """Lark/Feishu: base64(HMAC-SHA256(key="<s>\\n<secret>", msg=b"")) — not DingTalk's order."""
    mac = hmac.new(f"{ts_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(mac).decode()


def standard_webhook_signature(secret: str, msg_id: str, ts_s: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    mac = hmac.new(key, f"{msg_id}.{ts_s}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def standard_webhook_headers(secret: str, body: bytes, msg_id: str, ts_s: int) -> dict[str, str]:
    """Standard Webhooks v1 headers for ``body``."""
    return {"webhook-id": msg_id, "webhook-timestamp": str(ts_s),
            "webhook-signature": standard_webhook_signature(secret, msg_id, ts_s, body)}


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """What to POST: ``url`` (may hold a credential: never log it, see :func:`mask_url`),
    headers, JSON body."""

    url: str
    headers: dict[str, str]
    body: bytes


def _quote_b64(text: str) -> str:
    """URL-encode Base64 text (``urllib.parse.quote_plus`` of its alphabet: ``+ / =``)."""
    return text.replace("+", "%2B").replace("/", "%2F").replace("=", "%3D")


#: characters CommonMark gives a meaning inline (emphasis, links, images, code, HTML, tables, strike)
_MD_INLINE = re.compile(r"([\\`*_{}\[\]()<>#!|~&])")
#: what makes a line a heading, quote, list item or rule when it starts the line
_MD_LINE_START = re.compile(r"^(\s*)(\d*)([-+>=.])")


def markdown_escape(text: str) -> str:
    """``text`` (a notice's plain title or lines, holding names and other user-supplied text) as
    markdown that renders as that same text: every character with an inline meaning backslash-escaped
    (CommonMark §2.4), and a line start that would make a heading, quote or list escaped too — a holder
    named ``**URGENT** [reset here](http://evil.test/login)`` shows those characters, not a bold link.
    The one escaping of every markdown channel (DingTalk, WeCom)."""
    out = []
    for line in text.splitlines() or [""]:
        line = _MD_INLINE.sub(r"\\\1", line)
        out.append(_MD_LINE_START.sub(lambda m: m.group(1) + m.group(2) + "\\" + m.group(3), line))
    return "\n".join(out)


def _markdown(n: Notice) -> str:
    """The markdown body of the DingTalk and WeCom channels: the title as a heading, then the lines,
    both through :func:`markdown_escape`; the @-mention is ours."""
    lines = [f"### {markdown_escape(n.title)}", "", *markdown_escape(n.text).splitlines()]
    if n.mention:
        lines += ["", f"@{n.mention}"]
    return "\n".join(lines)


def build_http(ch: Channel, n: Notice, now_ms: int) -> HttpRequest:
    """The request ``ch``'s service expects for notice ``n``, signed at ``now_ms`` (sign right
    before each attempt: DingTalk and Lark refuse stamps older than an hour)."""
    headers = {"Content-Type": "application/json; charset=utf-8"}
    if isinstance(ch, DingTalkChannel):
        body: dict[str, Any] = {"msgtype": "markdown", "markdown": {"title": n.title[:60], "text": _markdown(n)},
                                "at": {"isAtAll": False}}
        if n.mention:
            key = "atMobiles" if re.fullmatch(r"\+?[0-9-]+", n.mention) else "atUserIds"
            body["at"][key] = [n.mention]
        url = ch.url
        if ch.secret:
            sign = _quote_b64(dingtalk_sign(ch.secret, now_ms))
            url += ("&" if "?" in url else "?") + f"timestamp={now_ms}&sign={sign}"
        return HttpRequest(url, headers, json.dumps(body, ensure_ascii=False).encode())
    if isinstance(ch, WeComChannel):
        content = _markdown(n).encode()[:4096].decode("utf-8", "ignore")
        return HttpRequest(ch.url, headers, json.dumps({"msgtype": "markdown", "markdown": {"content": content}},
                                                       ensure_ascii=False).encode())
    if isinstance(ch, LarkChannel):
        lark: dict[str, Any] = {"msg_type": "text", "content": {"text": f"{n.title}\n{n.text}"}}
        if ch.secret:
            ts = now_ms // 1000
            lark = {"timestamp": str(ts), "sign": lark_sign(ch.secret, ts), **lark}
        return HttpRequest(ch.url, headers, json.dumps(lark, ensure_ascii=False).encode())
    if isinstance(ch, WebhookChannel):
        doc = {"type": f"albmtls.{n.kind}", "timestamp": now_ms // 1000, "data": {
            "kind": n.kind, "audience": n.audience, "title": n.title, "text": n.text, **n.facts}}
        raw = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        msg_id = n.id or "msg_" + hashlib.sha256(raw).hexdigest()[:24]
        return HttpRequest(ch.url, {**headers, **standard_webhook_headers(ch.secret, raw, msg_id, now_ms // 1000)}, raw)
    raise TypeError(f"{type(ch).__name__} is not an HTTP channel")


#: per channel type: body codes that mean "throttled, try again later" (never 310000/19021: a
#: wrong signature does not get better by retrying)
_RETRYABLE_CODES = {"dingtalk": {130101, 90030}, "wecom": {45009}, "lark": {11232}}


def classify_http(kind: str, status: int, body: bytes) -> tuple[bool, bool, str]:
    """``(ok, retryable, code)`` of a channel's answer: chat robots answer HTTP 200 with an error
    code in the body; the generic webhook succeeds on any 2xx (429/5xx retryable)."""
    if status >= 500 or status == 429:
        return False, True, f"HTTP_{status}"
    if kind == "webhook":
        return (200 <= status < 300), False, "OK" if 200 <= status < 300 else f"HTTP_{status}"
    if status != 200:
        return False, False, f"HTTP_{status}"
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return False, True, "UNREADABLE_ANSWER"
    if not isinstance(doc, dict):
        return False, False, "UNREADABLE_ANSWER"
    code = doc.get("errcode", doc.get("code", doc.get("StatusCode")))
    if kind == "lark" and (doc.get("code") == 0 or doc.get("StatusCode") == 0):
        return True, False, "OK"
    if code == 0:
        return True, False, "OK"
    try:
        icode = int(str(code))
    except (TypeError, ValueError):
        return False, False, "UNKNOWN_ANSWER"
    return False, icode in _RETRYABLE_CODES.get(kind, set()), f"{kind.upper()}_{icode}"


_MASK = re.compile(r"(access_token|key|sign|timestamp)=[^&\s]+")


def mask_url(url: str) -> str:
    """``url`` without its credentials (``access_token=``, ``key=``, a Lark hook id) for logs."""
    u = _MASK.sub(r"\1=…", url)
    return re.sub(r"(/hook/)[^/?\s]+", r"\1…", u)

"""The download page behind its own anonymous FC 3.0 HTTP trigger (``albmtls-download``).

Routes (nothing else; everything else is 404):

* ``GET /d/<token>`` — the page: which certificate, until when the link works, a password form
  (typed twice), the format (``compat`` / ``modern``, one line on which to pick for Windows,
  macOS or Linux). A used, expired, replaced or unknown link gets a page saying so and how to get
  a new one (``albmtls resend --cn <cn>``) with HTTP 410 (404 for unknown).
* ``POST /d/<token>`` (form: ``password``, ``confirm``, ``profile``) — the PKCS#12 as an
  attachment (``application/x-pkcs12``), or the form again with what to change (HTTP 400: the
  link stays valid).

Every answer: ``Cache-Control: no-store``, ``Referrer-Policy: no-referrer`` (the token is in the
URL), a strict ``Content-Security-Policy`` (no script at all), ``X-Frame-Options: DENY``.
The trigger is ``authType: anonymous`` (docs/SERVERLESS.md §2.4): the token is the only
credential, and this function can do nothing but this (its RAM role reads the client secrets and
writes the delivery record only).
"""
from __future__ import annotations

import base64
import html
import re
import urllib.parse
import uuid
from typing import TYPE_CHECKING, Any

from shared.core.errors import AlbMtlsError, Code
from shared.core.wait import Deadline

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["make_handler", "handle", "page"]

_ROUTE = re.compile(r"^/d/(?P<token>[A-Za-z0-9_.-]{10,500})/?$")
MAX_FORM = 4096
DEADLINE_S = 25.0      # the trigger's function timeout is 30 s
_HEADERS = {
    "Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'",
}
_CSS = ("body{font-family:system-ui,sans-serif;max-width:38rem;margin:3rem auto;padding:0 1rem;color:#222}"
        "h1{font-size:1.4rem}label{display:block;margin:.8rem 0 .2rem}input[type=password]{width:100%;"
        "padding:.4rem;font-size:1rem}.hint{color:#555;font-size:.9rem}.err{color:#a00}"
        "button{margin-top:1.2rem;padding:.5rem 1.2rem;font-size:1rem}code{background:#eee;padding:0 .2rem}")


def page(title: str, body: str, status: int = 200) -> dict[str, Any]:
    doc = (f"<!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport "
           f"content='width=device-width,initial-scale=1'><meta name=robots content=noindex><title>"
           f"{html.escape(title)}</title><style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>{body}"
           f"</body></html>")
    return {"statusCode": status, "headers": {"Content-Type": "text/html; charset=utf-8", **_HEADERS},
            "isBase64Encoded": False, "body": doc}


_STATE_TEXT = {
    "used": ("This link was already used", 410, "The certificate was downloaded with this link before. A link works "
             "only once."),
    "expired": ("This link has expired", 410, "Download links work for a limited time."),
    "replaced": ("This link is out of date", 410, "A newer link or a newer certificate was sent since this link; "
                 "use the link of the newest message."),
    "unknown": ("This link is not valid", 404, "The link is incomplete or was never issued."),
    "revoked": ("Access was revoked", 410, "The access this certificate gave was revoked; no link works for it "
                "any more."),
}


def _refused(state: str, cn: str | None) -> dict[str, Any]:
    title, status, why = _STATE_TEXT.get(state, _STATE_TEXT["unknown"])
    if state == "revoked":
        return page(title, f"<p>{html.escape(why)}</p><p>Ask your operator if you need access again.</p>", status)
    how = (f"Ask your operator for a new link: <code>albmtls resend --cn {html.escape(cn)}</code>" if cn else
           "Ask your operator for a new link (<code>albmtls resend --cn &lt;your certificate's name&gt;</code>).")
    return page(title, f"<p>{html.escape(why)}</p><p>{how}</p>", status)


def _form(view: Any, token: str, errors: list[str] | None = None, status: int = 200) -> dict[str, Any]:
    rec, entry = view.record, view.entry
    errs = "".join(f"<p class=err>{html.escape(e)}</p>" for e in (errors or []))
    body = (f"<p>Client certificate <b>{html.escape(rec.common_name)}</b> for <b>{html.escape(rec.listener_key)}"
            f"</b>, valid until {html.escape(entry.not_after or '?')}. This link works once, until "
            f"{html.escape(entry.token_expires or '?')}.</p>{errs}"
            f"<form method=post action='/d/{html.escape(token)}' autocomplete=off>"
            "<label for=password>Choose a password for the file (at least 12 characters, hard to guess)</label>"
            "<input type=password id=password name=password required minlength=12 maxlength=128>"
            "<label for=confirm>Type it again</label>"
            "<input type=password id=confirm name=confirm required minlength=12 maxlength=128>"
            "<p><label><input type=radio name=profile value=compat checked> <b>compat</b> — Windows and macOS "
            "(the keychain), and most tools: pick this if unsure</label>"
            "<label><input type=radio name=profile value=modern> <b>modern</b> (AES-256) — Linux with OpenSSL 3 "
            "(curl), Firefox/NSS; older Windows and the macOS keychain cannot open it</label></p>"
            "<p class=hint>Windows or macOS: <b>compat</b>. Linux: <b>modern</b> (or compat).</p>"
            "<button type=submit id=download>Download the certificate (.p12)</button></form>"
            "<p class=hint>Nobody else knows this password: keep it, you need it to import the file.</p>")
    return page(f"Download your client certificate {rec.common_name}", body, status)


def _file(data: bytes, filename: str) -> dict[str, Any]:
    return {"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(data).decode("ascii"),
            "headers": {**_HEADERS, "Content-Type": "application/x-pkcs12",
                        "Content-Disposition": f'attachment; filename="{filename}"'}}


def handle(req: Any, ctx_factory: Callable[[], Any]) -> dict[str, Any]:
    """One request (``shared.entry.api.Request``) → the FC HTTP response struct."""
    from shared.steps.download import download, open_link
    # the method first for every link path, valid token or not: /d/… answers GET, HEAD and POST only
    if req.path.startswith("/d/") and req.method not in ("GET", "HEAD", "POST"):
        resp = page("Method not allowed", "<p>Use the link from your message.</p>", 405)
        resp["headers"]["Allow"] = "GET, HEAD, POST"
        return resp
    m = _ROUTE.match(req.path)
    if not m:
        return page("Not found", "<p>There is nothing here.</p>", 404)
    token = m.group("token")
    ctx = ctx_factory()
    if req.method in ("GET", "HEAD"):
        view = open_link(ctx, token)
        if view.state != "valid":
            return _refused(view.state, view.record.common_name if view.record else None)
        return _form(view, token)
    if len(req.body) > MAX_FORM:
        return page("Request too large", "<p>The form is too large.</p>", 413)
    form = dict(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace"), keep_blank_values=True))
    try:
        data, name, _ = download(ctx, token, form.get("password", ""), form.get("confirm", ""),
                                 form.get("profile", "compat"))
    except AlbMtlsError as exc:
        if exc.code.startswith("LINK_"):
            view = open_link(ctx, token)
            return _refused(exc.code.removeprefix("LINK_").lower(), view.record.common_name if view.record else None)
        if exc.code == Code.INVALID_INPUT:
            view = open_link(ctx, token)
            if view.state != "valid":
                return _refused(view.state, view.record.common_name if view.record else None)
            return _form(view, token, [exc.message], 400)
        raise
    return _file(data, name)


def make_handler(ctx_factory: Callable[[str], Any] | None = None) -> Callable[[Any, Any], dict[str, Any]]:
    """The FC handler of the download trigger: never raises, never answers with a stack trace.
    ``ctx_factory(request_id)`` builds the step context (default: settings from the environment)."""

    def default_ctx(request_id: str) -> Any:
        from shared.core import logs
        from shared.core.clock import clock_from_env
        from shared.core.settings import Settings
        from shared.steps.context import StepContext
        s = Settings.load()
        return StepContext(step=STEP_NAME, settings=s, clock=clock_from_env(), logger=logs.get_logger(STEP_NAME),
                           deadline=Deadline(DEADLINE_S), request_id=request_id)

    factory = ctx_factory or default_ctx

    def handler(event: Any, context: Any = None) -> dict[str, Any]:
        from shared.core import logs
        from shared.entry.httpevent import parse_event
        request_id = str(getattr(context, "request_id", "") or f"local-{uuid.uuid4().hex}")
        with logs.bind(request_id=request_id, step=STEP_NAME):
            log = logs.get_logger(STEP_NAME)
            try:
                req = parse_event(event)
            except Exception:
                return page("Bad request", "<p>The request could not be read.</p>", 400)
            try:
                resp = handle(req, lambda: factory(request_id))
            except AlbMtlsError as exc:
                log.warning("download failed", extra={"error": exc.to_dict()})
                return page("Try again later", "<p>The certificate could not be prepared right now "
                            f"({html.escape(exc.code)}). Reload this page in a minute; the link still works.</p>"
                            f"<p class=hint>Request id {html.escape(request_id)}</p>", 503)
            except Exception as exc:
                log.error("unexpected error", extra={"error_type": type(exc).__name__})
                return page("Something went wrong", f"<p>Request id {html.escape(request_id)}.</p>", 500)
            log.info("request", extra={"method": req.method, "route": "/d/…", "status": resp["statusCode"]})
            return resp

    return handler


STEP_NAME = "download"

"""Logging: stdlib ``logging``, one JSON object per line, with redaction of key material.

Every line carries ``time`` (UTC ISO 8601, ms), ``level``, ``message``, ``request_id``, ``step``
and any ``extra={...}`` fields. ``request_id``/``step`` come from context variables that the FC
handler wrapper sets for the invocation (:func:`bind`), so any logger under ``albmtls`` gets them.

Redaction (:class:`RedactionFilter`, :func:`redact`, :func:`redact_text`) removes, from the
message, extra fields and formatted tracebacks:

* PEM private keys (``-----BEGIN … PRIVATE KEY-----`` … ``END``), also unterminated ones;
* long base64 blobs (≥ 60 chars of the base64 alphabet, not pure hex) such as PFX/DER bodies;
* values of keys named like ``password``, ``passphrase``, ``secret_value``/``secret_data``,
  ``pfx``, ``private_key``, ``key_pem``, ``access_key_secret``, ``security_token`` — in dicts and in
  ``key=value`` / ``"key": "value"`` text. (``pfx_secret``/``password_secret`` hold secret
  *names* and are kept.)

Environment: ``ALBMTLS_LOG_LEVEL`` (default ``INFO``).
"""
from __future__ import annotations

import contextvars
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["get_logger", "configure", "bind", "redact", "redact_text", "JsonFormatter", "RedactionFilter",
           "REDACTED"]

ROOT_LOGGER = "albmtls"
REDACTED = "[REDACTED]"

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("albmtls_request_id", default=None)
_step: contextvars.ContextVar[str | None] = contextvars.ContextVar("albmtls_step", default=None)

# ---------------------------------------------------------------------------------------------
# redaction
# ---------------------------------------------------------------------------------------------
_PEM_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)", re.S)
# base64 / base64url runs; escaped newlines ("\n" inside JSON strings) are allowed inside the run.
_B64_RUN = re.compile(r"(?:[A-Za-z0-9+/_-]|\\n|\n){60,}={0,2}")
_HEX_ONLY = re.compile(r"[0-9a-fA-F:\-]+")
_SENSITIVE_NORMALISED = (
    "password", "passwd", "passphrase", "pfxpassword", "secretvalue", "secretdata", "secretstring", "pfx",
    "pfxb64", "pfxbase64", "pfxbytes", "pfxdata", "privatekey", "privatekeypem", "keypem", "accesskeysecret",
    "securitytoken", "pkcs12",
)
_KV_TEXT = re.compile(
    r"""(?ix)
    (\b(?:password|passwd|passphrase|secret[_-]?value|secret[_-]?data|secret[_-]?string|pfx|
          private[_-]?key|key[_-]?pem|access[_-]?key[_-]?secret|security[_-]?token)\b)
    (\s*["']?\s*[:=]\s*)
    ("[^"]*"|'[^']*'|[^\s,;&}\]]+)
    """)


def _is_sensitive_key(key: Any) -> bool:
    if not isinstance(key, str):
        return False
    norm = re.sub(r"[^a-z0-9]", "", key.lower())
    return norm in _SENSITIVE_NORMALISED or norm.endswith(("password", "passphrase", "privatekey", "secretvalue"))


def _b64_sub(match: re.Match[str]) -> str:
    text = match.group(0)
    compact = text.replace("\\n", "").replace("\n", "")
    if len(compact) < 60 or _HEX_ONLY.fullmatch(compact):
        return text
    # Real base64 data has long stretches mixing upper case, lower case and digits; names such as
    # "albmtls/alb-xxx-443/alice/password" (secret names, ids, paths) split into short or
    # single-case segments and are kept.
    for seg in re.split(r"[/_\-]", compact):
        if (len(seg) >= 32 and any(c.isupper() for c in seg) and any(c.islower() for c in seg)
                and any(c.isdigit() for c in seg)):
            return REDACTED
    return text


def redact_text(text: str) -> str:
    """Return ``text`` with private keys, base64 blobs and sensitive ``key=value`` values replaced."""
    if not text:
        return text
    text = _PEM_KEY.sub("[REDACTED PRIVATE KEY]", text)
    text = _KV_TEXT.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _B64_RUN.sub(_b64_sub, text)


def redact(value: Any, _depth: int = 0) -> Any:
    """Recursively redact a JSON-like value (dict/list/tuple/str); other scalars pass through.

    Dict values whose *key* is sensitive become ``"[REDACTED]"``; strings go through
    :func:`redact_text`. Returns a new object; the input is not changed.
    """
    if _depth > 20:
        return REDACTED
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, (bytes, bytearray)):
        return REDACTED if len(value) > 32 else value.hex()
    if isinstance(value, Mapping):
        return {k: (REDACTED if _is_sensitive_key(k) and v not in (None, "", False) else redact(v, _depth + 1))
                for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [redact(v, _depth + 1) for v in value]
    return value


# ---------------------------------------------------------------------------------------------
# formatter and filter
# ---------------------------------------------------------------------------------------------
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {
    "message", "asctime", "request_id", "step", "taskName"}


class RedactionFilter(logging.Filter):
    """Redacts the message (after %-formatting), extra fields and exception text of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            msg = str(record.msg)
        record.msg = redact_text(msg)
        record.args = None
        for key, val in list(vars(record).items()):
            if key in _STANDARD_ATTRS:
                continue
            record.__dict__[key] = REDACTED if _is_sensitive_key(key) and val not in (None, "") else redact(val)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        record.exc_info = None
        return True


class _ContextFilter(logging.Filter):
    """Adds ``request_id``/``step`` from the invocation's context variables when not given."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = _request_id.get()
        if getattr(record, "step", None) is None:
            record.step = _step.get()
        return True


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    try:
        import msgspec

        return msgspec.to_builtins(obj)
    except Exception:
        return repr(obj)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: ``time``, ``level``, ``message``, ``request_id``,
    ``step``, ``logger``, then the extra fields, then ``exception`` (redacted traceback) if any."""

    def format(self, record: logging.LogRecord) -> str:
        ts = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"
        out: dict[str, Any] = {
            "time": ts,
            "level": record.levelname,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "step": getattr(record, "step", None),
            "logger": record.name,
        }
        for key, val in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in out:
                out[key] = val
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_text(self.formatException(record.exc_info))
        if record.exc_text:
            out["exception"] = record.exc_text
        return json.dumps(out, default=_json_default, ensure_ascii=False, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------------------------
_configured_handler: logging.Handler | None = None


def configure(stream: TextIO | None = None, level: str | int | None = None) -> logging.Logger:
    """(Re)configure the ``albmtls`` logger: one stdout JSON handler with redaction, no propagation.

    Idempotent; ``stream`` replaces the output (tests pass a ``StringIO``); ``level`` defaults to
    env ``ALBMTLS_LOG_LEVEL`` or ``INFO``. Returns the ``albmtls`` logger.
    """
    global _configured_handler
    root = logging.getLogger(ROOT_LOGGER)
    if _configured_handler is not None:
        root.removeHandler(_configured_handler)
    handler = logging.StreamHandler(stream if stream is not None else sys.stdout)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(_ContextFilter())
    handler.addFilter(RedactionFilter())
    root.addHandler(handler)
    root.propagate = False
    lvl = level if level is not None else os.environ.get("ALBMTLS_LOG_LEVEL", "INFO")
    root.setLevel(lvl.upper() if isinstance(lvl, str) else lvl)
    _configured_handler = handler
    return root


def get_logger(step: str | None = None) -> logging.Logger:
    """The logger for ``step`` (``albmtls.<step>``), configuring the JSON output on first use.

    Use ``extra={...}`` for fields: ``log.info("listener updated", extra={"listener_id": lid})``.
    """
    if _configured_handler is None:
        configure()
    return logging.getLogger(f"{ROOT_LOGGER}.{step}" if step else ROOT_LOGGER)


@contextmanager
def bind(*, request_id: str | None = None, step: str | None = None) -> Iterator[None]:
    """Set ``request_id``/``step`` for every log line emitted inside the ``with`` block."""
    t1 = _request_id.set(request_id)
    t2 = _step.set(step)
    try:
        yield
    finally:
        _request_id.reset(t1)
        _step.reset(t2)

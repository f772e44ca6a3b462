"""The FC 3.0 HTTP-trigger event (docs/SERVERLESS.md §2.4) as a :class:`Request`: shared by the
provisioning API (``shared.entry.api``) and the download page (``shared.entry.download``), which
imports nothing else of the API."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from shared.core.errors import AlbMtlsError, Code

__all__ = ["Request", "parse_event"]

_HTTP_KEYS = ("requestContext", "httpMethod", "rawPath", "isBase64Encoded", "queryParameters")


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    query: dict[str, str]
    body: bytes


def parse_event(event: Any) -> Request:
    """Decode an FC HTTP-trigger event (bytes/str/dict). Raises ``AlbMtlsError(INVALID_INPUT)``
    when the event itself is not an HTTP-trigger event."""
    if isinstance(event, (bytes, bytearray, str)):
        try:
            event = json.loads(event)
        except (ValueError, RecursionError):
            raise AlbMtlsError(Code.INVALID_INPUT, "the event is not an HTTP trigger event (not JSON)") from None
    if not isinstance(event, dict):
        raise AlbMtlsError(Code.INVALID_INPUT, "the event is not an HTTP trigger event")
    if not any(k in event for k in _HTTP_KEYS):
        # Invoked directly (`s provision_api invoke -e '<input>'`): the event is the body itself.
        return Request("POST", "/provisions", {"content-type": "application/json"}, {},
                       json.dumps(event, separators=(",", ":")).encode())
    ctx = _object(event.get("requestContext"))
    http = _object(ctx.get("http"))
    method = str(http.get("method") or event.get("httpMethod") or "").upper()
    path = http.get("path") or event.get("rawPath") or "/"
    if not isinstance(path, str):
        path = "/"
    headers = {str(k).lower(): str(v) for k, v in _object(event.get("headers")).items()}
    query = _object(event.get("queryParameters"))
    body = event.get("body") or ""
    if not isinstance(body, str):
        body = json.dumps(body)
    if event.get("isBase64Encoded") is True:
        try:
            data = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise AlbMtlsError(Code.INVALID_INPUT, "the body is marked base64 but is not valid base64",
                               field="body") from None
    else:
        data = body.encode("utf-8", "surrogatepass") if body else b""
    if not method:
        raise AlbMtlsError(Code.INVALID_INPUT, "the event has no HTTP method")
    return Request(method, path, headers, {str(k): str(v) for k, v in query.items()}, data)


def _object(v: Any) -> dict[str, Any]:
    """``v`` if it is a JSON object, else an empty one."""
    return v if isinstance(v, dict) else {}

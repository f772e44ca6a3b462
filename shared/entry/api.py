"""The provisioning HTTP API behind the FC 3.0 HTTP trigger of ``provision_api``.

Event (FC 3.0 HTTP trigger): ``{version, rawPath, headers, queryParameters, body,
isBase64Encoded, requestContext{http{method, path}}}``; response: ``{statusCode, headers,
isBase64Encoded, body}`` (body: JSON text).

Routes:

* ``POST /provisions`` (also ``POST /2023-03-30/functions/<fn>/invocations``, what an FC
  ``InvokeFunction`` call looks like through the trigger, and a direct ``s invoke -e '<input>'``
  whose event is the input itself) — body: the provision input (the same as the workflow's); starts the
  provision execution exactly as ``albmtls provision`` does (``shared.steps.provisioning``) → ``202
  {"execution", "status", "status_url"}``. An ``Idempotency-Key`` header (1–128 printable ASCII)
  maps to the execution name: a retried request gets the same execution (``200`` then).
* ``GET /provisions/{name}`` — ``{"execution", "status": running|succeeded|failed, "step",
  "result": {...ids and secret names...}, "error"?}``.
* ``POST /rotations`` — starts a rotation scan now (``shared.steps.rotation``); ``GET /certificates``
  — the client certificates and their states (what ``albmtls status --json`` shows).

Errors: ``{"error": {"code", "message", "field"?}}`` with 400 (bad JSON, unknown field, bad value
— the field is named), 404, 405 (with ``Allow``), 409 (``EXECUTION_RUNNING``), 413 (body over
64 KiB), 415 (not JSON). Bad input never yields a 500; an unexpected fault yields 500 with a
request id and no stack trace.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.core.errors import AlbMtlsError, Code

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_BODY = 64 * 1024
_EXEC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
_IDEM_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
#: FC 3.0 ``InvokeFunction`` (SDK, ``aliyun fc``) reaches an HTTP-triggered function as this path
#: with ``Content-Type: application/octet-stream`` (docs/SERVERLESS.md §2.4): = POST /provisions.
_INVOKE_PATH = re.compile(r"^/2023-03-30/functions/[A-Za-z0-9_-]{1,64}/invocations$")
_HTTP_KEYS = ("requestContext", "httpMethod", "rawPath", "isBase64Encoded", "queryParameters")

STATUS_BY_CODE: dict[str, int] = {
    Code.INVALID_INPUT: 400, Code.APEX_CNAME_REFUSED: 400, Code.RENEW_BEFORE_TOO_LONG: 400,
    Code.EXECUTION_RUNNING: 409,
}


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    query: dict[str, str]
    body: bytes


def _response(status: int, doc: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return {"statusCode": status, "headers": h, "isBase64Encoded": False,
            "body": json.dumps(doc, separators=(",", ":"), default=str)}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": str(code), "message": message}
    if field:
        err["field"] = field
    return _response(status, {"error": err}, headers)


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


def _json_body(body: bytes) -> Any:
    """The body as JSON; ``AlbMtlsError(INVALID_INPUT, field="body")`` when it is not UTF-8 JSON
    (nesting deeper than the parser's limit included: bad input, never a 500)."""
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise AlbMtlsError(Code.INVALID_INPUT, f"the body is not valid JSON: {str(exc)[:200]}", field="body") from None
    except RecursionError:
        raise AlbMtlsError(Code.INVALID_INPUT, "the body is not valid JSON: nested too deeply", field="body") from None


def _json_type(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)


class Api:
    """The routes above over injectable operations (``shared.steps.provisioning`` by default)."""

    def __init__(self, settings_factory: Callable[[], Any], *, start: Callable[..., Any] | None = None,
                 describe: Callable[..., Any] | None = None, rotate: Callable[..., Any] | None = None,
                 certificates: Callable[..., Any] | None = None) -> None:
        self._settings_factory = settings_factory
        self._start = start
        self._describe = describe
        self._rotate = rotate
        self._certificates = certificates

    # -- routing --------------------------------------------------------------------------
    def handle(self, req: Request, request_id: str = "") -> dict[str, Any]:
        path = req.path.rstrip("/") or "/"
        try:
            if _INVOKE_PATH.match(path):
                return self._only(req, "POST") or self.post_provision(req, octet_stream=True)
            if path == "/provisions":
                return self._only(req, "POST") or self.post_provision(req)
            if path.startswith("/provisions/"):
                name = path[len("/provisions/"):]
                return self._only(req, "GET") or self.get_provision(name)
            if path == "/rotations":
                return self._only(req, "POST") or self.post_rotation(req)
            if path == "/certificates":
                return self._only(req, "GET") or self.get_certificates()
            return error_response(404, "NOT_FOUND", f"no route {path}; routes: POST /provisions, "
                                  "GET /provisions/{name}, POST /rotations, GET /certificates")
        except AlbMtlsError as exc:
            status = STATUS_BY_CODE.get(exc.code, 400 if exc.field else 502)
            if exc.code in (Code.CLOUD_UNAVAILABLE, Code.CLOUD_UNREACHABLE, Code.THROTTLED,
                            Code.CLOUD_BUSY, Code.TIMEOUT):
                status = 503
            return error_response(status, exc.code, exc.message, exc.field)

    @staticmethod
    def _only(req: Request, method: str) -> dict[str, Any] | None:
        if req.method == method:
            return None
        return error_response(405, "METHOD_NOT_ALLOWED", f"use {method} on this path", headers={"Allow": method})

    # -- routes ---------------------------------------------------------------------------
    def post_provision(self, req: Request, *, octet_stream: bool = False) -> dict[str, Any]:
        from shared.policy.contracts import ProvisionInput
        from shared.policy.validation import decode
        if len(req.body) > MAX_BODY:
            return error_response(413, "BODY_TOO_LARGE", f"the body is {len(req.body)} bytes; at most {MAX_BODY}")
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", "") and not (octet_stream and ctype == "application/octet-stream"):
            return error_response(415, "UNSUPPORTED_MEDIA_TYPE", "send the provision input as application/json")
        key = req.headers.get("idempotency-key")
        if key is not None and not _IDEM_KEY.match(key):
            return error_response(400, Code.INVALID_INPUT, "Idempotency-Key must be 1–128 printable ASCII characters",
                                  "Idempotency-Key")
        raw = _json_body(req.body)
        if not isinstance(raw, dict):
            return error_response(400, Code.INVALID_INPUT, "the body must be one JSON object: the provision input "
                                  f"(got {_json_type(raw)})", "body")
        inp = decode(ProvisionInput, raw)
        settings = self._settings_factory()
        if self._start is not None:
            started = self._start(settings, raw, inp.listener_key, idempotency_key=key)
        else:
            from shared.steps.provisioning import start_provision
            started = start_provision(settings, raw, inp.listener_key, idempotency_key=key)
        doc = {"execution": started.name, "status": started.status,
               "status_url": f"/provisions/{started.name}", "existing": started.existing}
        return _response(200 if started.existing else 202, doc, {"Location": f"/provisions/{started.name}"})

    def get_provision(self, name: str) -> dict[str, Any]:
        if not _EXEC_NAME.match(name):
            return error_response(400, Code.INVALID_INPUT, "an execution name is 1–128 characters of "
                                  "letters, digits, '_' and '-', starting with a letter or '_'", "name")
        settings = self._settings_factory()
        if self._describe is not None:
            prog = self._describe(settings, name)
        else:
            from shared.steps.provisioning import describe_provision
            prog = describe_provision(settings, name)
        if prog is None:
            return error_response(404, "NOT_FOUND", f"no provision execution named {name}")
        from shared.steps.provisioning import result_document
        result = result_document(prog)
        doc: dict[str, Any] = {"execution": name, "status": result.pop("status"), "step": result.pop("step"),
                               "started": prog.started, "stopped": prog.stopped}
        err = result.pop("error", None)
        doc["result"] = result
        if err:
            doc["error"] = err
        return _response(200, doc)

    def post_rotation(self, req: Request) -> dict[str, Any]:
        if self._rotate is None:
            from shared.steps.rotation import start_scan as rotate
        else:
            rotate = self._rotate
        payload: dict[str, Any] = {}
        if len(req.body) > MAX_BODY:
            return error_response(413, "BODY_TOO_LARGE", f"the body is {len(req.body)} bytes; at most {MAX_BODY}")
        if req.body.strip():
            doc = _json_body(req.body)
            if not isinstance(doc, dict):
                return error_response(400, Code.INVALID_INPUT, "the body must be a JSON object", "body")
            payload = doc
        return _response(202, rotate(self._settings_factory(), payload))

    def get_certificates(self) -> dict[str, Any]:
        if self._certificates is None:
            from shared.steps.rotation import certificate_report as report
        else:
            report = self._certificates
        return _response(200, report(self._settings_factory()))


def make_handler(api_factory: Callable[[], Api]) -> Callable[[Any, Any], dict[str, Any]]:
    """An FC handler for the HTTP trigger: never raises, never returns a stack trace."""

    def handler(event: Any, context: Any) -> dict[str, Any]:
        from shared.core import logs
        log = logs.get_logger("provision_api")
        request_id = getattr(context, "request_id", "") or ""
        with logs.bind(request_id=request_id or None, step="provision_api"):
            return _handle(event, request_id, log)

    def _handle(event: Any, request_id: str, log: Any) -> dict[str, Any]:
        try:
            req = parse_event(event)
        except AlbMtlsError as exc:
            return error_response(400, exc.code, exc.message, exc.field)
        except Exception as exc:  # never let FC answer with a stack trace
            log.error("unexpected error reading the event", extra={"error_type": type(exc).__name__})
            return error_response(400, Code.INVALID_INPUT, "the event is not an HTTP trigger event")
        try:
            resp = api_factory().handle(req, request_id)
        except Exception as exc:  # an unexpected fault: log the type only, answer without internals
            log.error("unexpected error", extra={"error_type": type(exc).__name__})
            return error_response(500, Code.INTERNAL, f"internal error; request id {request_id or 'n/a'}")
        log.info("request", extra={"method": req.method, "path": req.path, "status": resp["statusCode"]})
        return resp

    return handler

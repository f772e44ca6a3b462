"""The provisioning HTTP API behind the FC 3.0 HTTP trigger of ``provision_api``.

Event (FC 3.0 HTTP trigger): ``{version, rawPath, headers, queryParameters, body,
isBase64Encoded, requestContext{http{method, path}}}``; response: ``{statusCode, headers,
isBase64Encoded, body}`` (body: JSON text).

Routes:

* ``POST /provisions`` (also ``POST /2023-03-30/functions/<fn>/invocations``, what an FC
  ``InvokeFunction`` call looks like through the trigger, and a direct ``s invoke -e '<input>'``
  whose event is the input itself) — body: the provision input (the same as the workflow's); starts the
  provision execution exactly as ``albmtls provision`` does (``shared.steps.provisioning``) → ``202
  {"execution", "status": running|succeeded|failed (the words GET uses), "status_url", "existing"}``
  (``200`` with ``existing: true`` when the same request already runs). An ``Idempotency-Key``
  header (1–128 printable ASCII) maps to the execution name: a retried request gets the same
  execution (``200`` then).
* ``GET /provisions/{name}`` — ``{"execution", "status": running|succeeded|failed, "step",
  "result": {...ids and secret names...}, "error"?}``.
* ``POST /rotations`` — starts a rotation scan now (``shared.steps.rotation``) → ``202`` with the
  scan's result, or the error status of a refused policy (``400`` naming the field); ``GET /certificates``
  — the client certificates and their states, and the listeners' drift (what ``albmtls status
  --json`` shows).
* ``POST /fleet/plan`` — body: a fleet document (``shared.policy.fleet``; JSON, or YAML with
  ``Content-Type: application/yaml``; a single provision input too) → ``200`` the plan
  (``shared.steps.plan``, zero writes; ``changes``: whether an apply would change anything).
* ``POST /fleet/apply`` — the same body → plans, then starts one provision execution per listener
  with changes (``202 {"executions": [{listener_key, execution, status_url}], "unchanged": […]}``;
  ``200`` when nothing changes; ``422 PLAN_REFUSED`` with the plan when a listener would be refused:
  nothing is started).
* ``GET /drift`` — every listener against its recorded desired state (``shared.steps.drift``);
  ``GET /inventory`` — every certificate the private CA lists (``shared.steps.inventory``; JSON, or
  ``?format=csv`` as ``text/csv``). Both take ``?secret_prefix=``.
* ``POST /clients/revocations`` — body ``{"load_balancer_id", "listener_port", "common_names": [...]
  (or "common_name"), "reason"?, "requested_by"?, "secret_prefix"?, "recovery_window_days"?}``:
  starts the revoke flow for that listener (one execution per listener at a time, with the
  provisions) → ``202 {"execution", "status", "status_url"}``; ``POST /clients/restorations`` the
  same for a restore; ``GET /clients/revocations/{name}`` (or ``/clients/restorations/{name}``) —
  ``{"execution", "status", "result": {listener_key, action, clients, writes}, "error"?}``. Who
  asked (``requested_by``) is the body's, else the signer's AccessKeyId from the request's
  ``Authorization`` header (the FC gateway checked that signature); when the body names it, the
  signer is recorded beside it (``signed_by``, never taken from the body); the request id is FC's.
* ``GET /crl/{secret prefix}/{own CA}/g{n}.crl`` — generation ``n``'s latest CRL of an own CA
  (DER, ``application/pkix-crl``; signed through KMS, kept in KMS: ``shared.adapters.ownca``), the
  distribution point ``ALBMTLS_CRL_BASE_URL`` names; 404 before its first revocation. Behind the
  function's signature like every route here: a CRL for clients outside the account needs a public
  copy (README "Your own CA").

Errors: ``{"error": {"code", "message", "field"?}}`` with 400 (bad JSON, unknown field, bad value
— the field is named), 404, 405 (with ``Allow``), 409 (``EXECUTION_RUNNING``), 413 (body over
64 KiB; a fleet document over 1 MiB), 415 (not JSON, or for the fleet routes not JSON/YAML), 422
(``PLAN_REFUSED``). Bad input never yields a 500; an unexpected fault yields 500 with a request id
and no stack trace.
"""
from __future__ import annotations

import base64
import json
import re
import uuid
from typing import TYPE_CHECKING, Any

from shared.core.errors import AlbMtlsError, Code
from shared.entry.httpevent import Request, parse_event

__all__ = ["Api", "Request", "ROUTES", "error_response", "http_status", "make_handler", "parse_event"]

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_BODY = 64 * 1024
#: a fleet document: every listener's input still goes into its own execution (≤ 64 KiB each)
MAX_FLEET_BODY = 1024 * 1024
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
_SECRET_PREFIX = re.compile(r"^[A-Za-z0-9_+=.@-]{1,64}$")
_EXEC_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,127}$")
_IDEM_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
#: FC 3.0 ``InvokeFunction`` (SDK, ``aliyun fc``) reaches an HTTP-triggered function as this path
#: with ``Content-Type: application/octet-stream`` (docs/SERVERLESS.md §2.4): = POST /provisions.
_INVOKE_PATH = re.compile(r"^/2023-03-30/functions/[A-Za-z0-9_-]{1,64}/invocations$")

STATUS_BY_CODE: dict[str, int] = {
    Code.INVALID_INPUT: 400, Code.APEX_CNAME_REFUSED: 400, Code.RENEW_BEFORE_TOO_LONG: 400,
    Code.EXECUTION_RUNNING: 409,
}
_CREDENTIAL = re.compile(r"Credential=([A-Za-z0-9.]{1,128})")


def http_status(code: str, field: str | None = None) -> int:
    """The HTTP status of an error: 400 for bad input (a code of its own, or any code naming a
    field), 409 for a running execution, 503 for a cloud that is busy or unreachable, else 502."""
    if code in (Code.CLOUD_UNAVAILABLE, Code.CLOUD_UNREACHABLE, Code.THROTTLED, Code.CLOUD_BUSY, Code.TIMEOUT):
        return 503
    return STATUS_BY_CODE.get(code, 400 if field else 502)


_CRL_PATH = re.compile(r"^(?P<prefix>[A-Za-z0-9_+=.@-]{1,64})/(?P<name>[a-z][a-z0-9-]{0,30}[a-z0-9])/"
                       r"g(?P<gen>[1-9][0-9]{0,3})\.crl$")


def _response(status: int, doc: Any, headers: dict[str, str] | None = None) -> dict[str, Any]:
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return {"statusCode": status, "headers": h, "isBase64Encoded": False,
            "body": json.dumps(doc, separators=(",", ":"), default=str)}


def _text_response(status: int, text: str, content_type: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": content_type}, "isBase64Encoded": False, "body": text}


def error_response(status: int, code: str, message: str, field: str | None = None,
                   headers: dict[str, str] | None = None) -> dict[str, Any]:
    err: dict[str, Any] = {"code": str(code), "message": message}
    if field:
        err["field"] = field
    return _response(status, {"error": err}, headers)


#: every route of the API, as the 404 answer and ``albmtls serve``'s startup line name them
ROUTES = ("POST /provisions", "GET /provisions/{name}", "POST /rotations", "GET /certificates", "POST /fleet/plan",
          "POST /fleet/apply", "GET /drift", "GET /inventory", "POST /clients/revocations",
          "POST /clients/restorations", "GET /clients/revocations/{name}", "GET /crl/{prefix}/{ca}/g{n}.crl")


def _json_body(body: bytes) -> Any:
    """The body as JSON; ``AlbMtlsError(INVALID_INPUT, field="body")`` when it is not UTF-8 JSON
    (nesting deeper than the parser's limit included: bad input, never a 500)."""
    from shared.policy.fleet import MAX_DEPTH, nesting_depth
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AlbMtlsError(Code.INVALID_INPUT, f"the body is not valid JSON: {str(exc)[:200]}", field="body") from None
    if (deep := nesting_depth(text)) > MAX_DEPTH:     # the fleet document's one rule and message
        raise AlbMtlsError(Code.INVALID_INPUT, f"the body is nested too deeply ({deep} levels of [ or {{; an input "
                           f"is at most a few levels deep, {MAX_DEPTH} are allowed)", field="body")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise AlbMtlsError(Code.INVALID_INPUT, f"the body is not valid JSON: {str(exc)[:200]}", field="body") from None
    except RecursionError:      # pragma: no cover - the depth check above comes first
        raise AlbMtlsError(Code.INVALID_INPUT, f"the body is nested too deeply (at most {MAX_DEPTH} levels)",
                           field="body") from None


def _json_type(v: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(v), type(v).__name__)


class Api:
    """The routes above over injectable operations (``shared.steps.provisioning`` by default)."""

    def __init__(self, settings_factory: Callable[[], Any], *, start: Callable[..., Any] | None = None,
                 describe: Callable[..., Any] | None = None, rotate: Callable[..., Any] | None = None,
                 certificates: Callable[..., Any] | None = None, plan: Callable[..., Any] | None = None,
                 drift: Callable[..., Any] | None = None, inventory: Callable[..., Any] | None = None) -> None:
        self._settings_factory = settings_factory
        self._start = start
        self._describe = describe
        self._rotate = rotate
        self._certificates = certificates
        self._plan = plan
        self._drift = drift
        self._inventory = inventory

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
            if path in ("/fleet/plan", "/fleet/apply"):
                return self._only(req, "POST") or self.post_fleet(req, apply=path.endswith("apply"))
            if path == "/drift":
                return self._only(req, "GET") or self.get_drift(req)
            if path == "/inventory":
                return self._only(req, "GET") or self.get_inventory(req)
            if path.startswith("/crl/"):
                return self._only(req, "GET") or self.get_crl(path[len("/crl/"):])
            for action, base in (("revoke", "/clients/revocations"), ("restore", "/clients/restorations")):
                if path == base:
                    return self._only(req, "POST") or self.post_offboard(req, action, request_id)
                if path.startswith(base + "/"):
                    return self._only(req, "GET") or self.get_offboard(path[len(base) + 1:])
            return error_response(404, "NOT_FOUND", f"no route {path}; routes: {', '.join(ROUTES)}")
        except AlbMtlsError as exc:
            return error_response(http_status(exc.code, exc.field), exc.code, exc.message, exc.field)

    def get_crl(self, rest: str) -> dict[str, Any]:
        m = _CRL_PATH.match(rest)
        if m is None:
            return error_response(400, Code.INVALID_INPUT, "a CRL path is /crl/<secret prefix>/<own CA name>/g<n>.crl",
                                  "path")
        from shared.adapters.ownca import OwnCa
        from shared.steps.rotation import make_context
        ctx = make_context(self._settings_factory(), "crl", deadline_s=30)
        ca = OwnCa(ctx.call, settings=ctx.settings, prefix=m["prefix"], name=m["name"], now=ctx.clock.now)
        der = ca.read_crl(int(m["gen"]))
        if der is None:
            return error_response(404, "NOT_FOUND", f"own CA {m['name']!r} generation {m['gen']} under prefix "
                                  f"{m['prefix']!r} has published no CRL (none before its first revocation)")
        return {"statusCode": 200, "isBase64Encoded": True, "body": base64.b64encode(der).decode(),
                "headers": {"Content-Type": "application/pkix-crl", "Cache-Control": "max-age=300"}}

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
        from shared.steps.provisioning import execution_state
        doc = {"execution": started.name, "status": execution_state(started.status),
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
        doc = rotate(self._settings_factory(), payload)
        if doc.get("status") == "failed":            # a refused policy or a cloud failure: not "accepted"
            err = doc.get("error") or {}
            code = str(err.get("code") or Code.INTERNAL)
            return error_response(http_status(code, err.get("field")), code, str(err.get("message") or ""),
                                  err.get("field"))
        return _response(202, doc)

    def post_offboard(self, req: Request, action: str, request_id: str) -> dict[str, Any]:
        """``POST /clients/revocations`` / ``/clients/restorations`` (module doc)."""
        from shared.policy.offboarding import RevokeRequest
        from shared.policy.validation import decode
        if len(req.body) > MAX_BODY:
            return error_response(413, "BODY_TOO_LARGE", f"the body is {len(req.body)} bytes; at most {MAX_BODY}")
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", ""):
            return error_response(415, "UNSUPPORTED_MEDIA_TYPE", "send the request as application/json")
        raw = _json_body(req.body)
        if not isinstance(raw, dict):
            return error_response(400, Code.INVALID_INPUT, "the body must be one JSON object: "
                                  '{"load_balancer_id", "listener_port", "common_names": [...]}', "body")
        body = dict(raw)
        if "common_name" in body and "common_names" not in body:
            body["common_names"] = [body.pop("common_name")]
        m = _CREDENTIAL.search(req.headers.get("authorization", ""))
        signer = f"access key {m.group(1)}" if m else "unknown (unsigned request)"
        body.pop("signed_by", None)         # never the body's to say
        if "requested_by" not in body:
            body["requested_by"] = signer
        else:                               # the body names who asked: the signer is kept beside it
            body["signed_by"] = signer
        body["action"] = action
        body["request_id"] = request_id or f"api-{uuid.uuid4().hex}"
        inp = decode(RevokeRequest, body)
        settings = self._settings_factory()
        from shared.steps.provisioning import REVOKE_FLOW
        if self._start is not None:
            started = self._start(settings, body, inp.listener_key, flow=REVOKE_FLOW, request_id=inp.request_id)
        else:
            from shared.steps.provisioning import start_provision
            started = start_provision(settings, body, inp.listener_key, flow=REVOKE_FLOW, request_id=inp.request_id)
        base = "/clients/revocations" if action == "revoke" else "/clients/restorations"
        doc = {"execution": started.name, "status": started.status, "status_url": f"{base}/{started.name}",
               "existing": started.existing}
        return _response(202, doc, {"Location": f"{base}/{started.name}"})

    def get_offboard(self, name: str) -> dict[str, Any]:
        if not _EXEC_NAME.match(name):
            return error_response(400, Code.INVALID_INPUT, "an execution name is 1–128 characters of "
                                  "letters, digits, '_' and '-', starting with a letter or '_'", "name")
        from shared.steps.provisioning import REVOKE_FLOW, offboard_document
        settings = self._settings_factory()
        if self._describe is not None:
            prog = self._describe(settings, name, flow=REVOKE_FLOW)
        else:
            from shared.steps.provisioning import describe_provision
            prog = describe_provision(settings, name, flow=REVOKE_FLOW)
        if prog is None:
            return error_response(404, "NOT_FOUND", f"no revocation or restore execution named {name}")
        result = offboard_document(prog)
        doc: dict[str, Any] = {"execution": name, "status": result.pop("status"), "started": prog.started,
                               "stopped": prog.stopped}
        err = result.pop("error", None)
        doc["result"] = result
        if err:
            doc["error"] = err
        return _response(200, doc)

    def get_certificates(self) -> dict[str, Any]:
        settings = self._settings_factory()
        if self._certificates is None:
            from shared.steps.drift import drift_report
            from shared.steps.rotation import certificate_report
            doc = certificate_report(settings)
            doc["drift"] = drift_report(settings)
        else:
            doc = self._certificates(settings)
        return _response(200, doc)

    # -- the fleet ------------------------------------------------------------------------
    def _fleet(self, req: Request) -> Any:
        """The body as a validated fleet (``AlbMtlsError`` naming the field when it is not one)."""
        from shared.policy.fleet import load_document, parse_fleet
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        return parse_fleet(load_document(req.body, "yaml" if ctype in _YAML_TYPES else "json"))

    def post_fleet(self, req: Request, *, apply: bool) -> dict[str, Any]:
        if len(req.body) > MAX_FLEET_BODY:
            return error_response(413, "BODY_TOO_LARGE", f"the body is {len(req.body)} bytes; at most {MAX_FLEET_BODY}")
        ctype = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in ("application/json", "", *_YAML_TYPES):
            return error_response(415, "UNSUPPORTED_MEDIA_TYPE", "send the fleet document as application/json or "
                                  "application/yaml")
        fleet = self._fleet(req)
        settings = self._settings_factory()
        if self._plan is not None:
            plan = self._plan(settings, fleet)
        else:
            import msgspec

            from shared.steps.plan import plan_fleet
            plan = msgspec.to_builtins(plan_fleet(settings, fleet))
        if not apply:
            return _response(200, plan)
        if plan["errors"]:
            return _response(422, {"error": {"code": "PLAN_REFUSED", "message": f"{plan['errors']} listener(s) would "
                                             "be refused (see plan); nothing was started"}, "plan": plan})
        started: list[dict[str, Any]] = []
        unchanged: list[str] = []
        from shared.steps.provisioning import start_provision
        start: Callable[..., Any] = self._start or start_provision
        for (inp, raw), report in zip(fleet, plan["listeners"], strict=True):
            if report["status"] != "changes":
                unchanged.append(inp.listener_key)
                continue
            try:
                s = start(settings, raw, inp.listener_key)
                started.append({"listener_key": inp.listener_key, "execution": s.name, "status": s.status,
                                "status_url": f"/provisions/{s.name}"})
            except AlbMtlsError as exc:
                started.append({"listener_key": inp.listener_key, "execution": None, "error": exc.to_dict()})
        doc = {"executions": started, "unchanged": unchanged, "plan": plan}
        return _response(202 if any(e.get("execution") for e in started) else 200, doc)

    def _prefix(self, req: Request) -> str | None:
        prefix = req.query.get("secret_prefix")
        if prefix is not None and not _SECRET_PREFIX.match(prefix):
            raise AlbMtlsError(Code.INVALID_INPUT, "secret_prefix must be 1-64 ASCII letters, digits or _ + = . @ -",
                               field="secret_prefix")
        return prefix

    def get_drift(self, req: Request) -> dict[str, Any]:
        prefix = self._prefix(req)
        if self._drift is not None:
            return _response(200, self._drift(self._settings_factory(), prefix))
        from shared.steps.drift import drift_report
        return _response(200, drift_report(self._settings_factory(), prefix))

    def get_inventory(self, req: Request) -> dict[str, Any]:
        prefix = self._prefix(req)
        fmt = req.query.get("format", "json")
        if fmt not in ("json", "csv"):
            return error_response(400, Code.INVALID_INPUT, "format must be json or csv", "format")
        if self._inventory is not None:
            doc = self._inventory(self._settings_factory(), prefix)
        else:
            from shared.steps.inventory import inventory_report
            doc = inventory_report(self._settings_factory(), prefix)
        if fmt == "csv":
            from shared.steps.inventory import to_csv
            return _text_response(200, to_csv(doc), "text/csv; charset=utf-8")
        return _response(200, doc)


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

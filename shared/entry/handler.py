"""The FC handler wrapper: event bytes → typed input → use case → JSON result bytes.

A function's ``index.py`` is only::

    from shared.policy.contracts import StepEvent
    from shared.entry.handler import fc_handler
    from shared.steps.health import run          # the use case: (event, ctx) -> result

    handler = fc_handler(StepEvent, run, step="health_check")

Behaviour of ``handler(event, context)``:

* ``event``: ``bytes`` (FC), ``str`` or ``dict`` (local callers) → decoded into ``input_type`` with
  unknown fields refused. A bad event returns ``{"status": "failed", "error": {"code":
  "INVALID_INPUT", "message": "… names the field …", "field": …}}``.
* ``use_case(inp, ctx)`` gets a :class:`~shared.steps.context.StepContext` (settings, clock,
  logger, deadline, waiter, request id, execution name, the call policy and the product adapters
  built over it) and returns a msgspec Struct (normally a
  ``shared.policy.contracts.StepResult`` subclass) or a dict; ``status`` defaults to ``"ok"``.
* :class:`~shared.core.errors.AlbMtlsError` → returned as ``{"status": "failed", "error": {code,
  message, field?, request_id?}}``; :class:`~shared.core.errors.TransientError` → **re-raised** (CloudFlow
  ``Retry`` handles it); any other exception → logged by type and location only, returned as
  ``INTERNAL``.
* One JSON log line at start and one at end (``status``, ``duration_ms``, retry counters).
* The result is returned as JSON ``bytes``; a result that contains a PEM private key is withheld.
"""
from __future__ import annotations

import time
import traceback
import uuid
from typing import TYPE_CHECKING, Any, TypeVar

import msgspec

from shared.adapters.retry import STATS, RetryStats
from shared.core import logs
from shared.core.clock import Clock, clock_from_env
from shared.core.errors import AlbMtlsError, Code, TransientError
from shared.core.settings import Settings
from shared.core.wait import Deadline, Waiter
from shared.policy.validation import decode
from shared.steps.context import StepContext

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["fc_handler", "StepContext", "failed_result"]

InT = TypeVar("InT")


def failed_result(exc: AlbMtlsError) -> dict[str, Any]:
    """``{"status": "failed", "error": {"code", "message", "field"?, "request_id"?}}`` for ``exc``
    (``request_id`` is the failed cloud call's ``RequestId`` when there was one)."""
    return {"status": "failed", "error": exc.to_dict()}


def _to_output(result: Any) -> dict[str, Any]:
    out = msgspec.to_builtins(result) if result is not None else {}
    if not isinstance(out, dict):
        out = {"result": out}
    out.setdefault("status", "ok")
    if out.get("error") is None:
        out.pop("error", None)
    return out


def _next_attempt(inp: Any) -> int:
    """``attempt`` of every result: the step's calls so far in its wait loop (input ``attempt`` + 1;
    1 when the input has none or could not be decoded), so a flow's Choice can always read it."""
    try:
        return int(getattr(inp, "attempt", 0) or 0) + 1
    except (TypeError, ValueError):
        return 1


def _loop_fields(input_type: type, inp: Any) -> dict[str, Any]:
    """What every result of a looping step carries for the flow's next call, failed ones included
    (an OutputConstructor reading a missing path fails): ``attempt`` and, for an event type with
    ``since`` (``CnameEvent``), ``since`` as it came in (``""`` when the event was not decoded)."""
    out: dict[str, Any] = {"attempt": _next_attempt(inp)}
    if "since" in getattr(input_type, "__struct_fields__", ()):
        out["since"] = str(getattr(inp, "since", "") or "")
    return out


def _with_input_region(s: Settings, inp: Any) -> Settings:
    """The provision input's ``region`` (if given) decides which regional endpoints are called. The
    local cloud serves one region (its endpoints file's ``region``): another one is ``INVALID_INPUT``
    there, as an unknown region's endpoint would fail in the cloud, never silently served."""
    body = getattr(inp, "input", inp)
    region = getattr(body, "region", None)
    if isinstance(region, str) and region and region != s.region:
        if s.target == "local":
            raise AlbMtlsError(Code.INVALID_INPUT, f"region {region!r} is not served by the local cloud, which serves "
                               f"{s.region!r} only; set region to {s.region!r} (or leave it out) on the local target",
                               field="region")
        return s.with_(region=region)
    return s


def _with_context_credentials(s: Settings, context: Any) -> Settings:
    """The FC context's credentials, when the runtime provides them: ``context.credentials`` with
    snake_case ``access_key_id``/``access_key_secret``/``security_token`` (the function role's STS
    key) on FC's python3.10 and older runtimes. python3.12 has no such field — the runtime sets
    ``ALIBABA_CLOUD_*`` in the environment and the default chain reads them (docs/SERVERLESS.md §2.3).
    Only on the cloud target, and only when the settings carry no key of their own."""
    creds = getattr(context, "credentials", None)
    if s.target != "cloud" or creds is None or s.access_key_id:
        return s
    ak = getattr(creds, "access_key_id", None)
    sk = getattr(creds, "access_key_secret", None)
    if not (isinstance(ak, str) and ak and isinstance(sk, str) and sk):
        return s
    token = getattr(creds, "security_token", None)
    return s.with_(access_key_id=ak, access_key_secret=sk, security_token=token if isinstance(token, str) else None)


def _where(exc: BaseException) -> list[str]:
    frames = traceback.extract_tb(exc.__traceback__)[-6:]
    return [f"{f.filename.rsplit('/', 2)[-1] if '/' in f.filename else f.filename}:{f.lineno} {f.name}" for f in frames]


def fc_handler(input_type: type[InT], use_case: Callable[[InT, StepContext], Any], *, step: str,
               settings: Settings | Callable[[], Settings] | None = None,
               clock: Clock | None = None, waiter: Waiter | None = None) -> Callable[..., bytes]:
    """Build the FC entry point ``handler(event, context) -> bytes`` for one step.

    Parameters
    ----------
    input_type: the msgspec Struct to decode the event into (e.g. ``StepEvent``).
    use_case: ``(inp, ctx) -> Struct | dict``; may raise ``AlbMtlsError``/``TransientError``.
    step: the step name put on every log line and into ``ClientToken``s.
    settings: fixed settings or a factory; default ``Settings.load()`` at each invocation.
    clock: default ``clock_from_env()`` at each invocation (``ALBMTLS_NOW``, ``ALBMTLS_CLOCK_OFFSET_S``).
    waiter: sleep and monotonic time of the step's waits and deadline (default the real ones).

    Returns
    -------
    ``handler(event: bytes | str | dict, context) -> bytes`` (JSON). Raises only ``TransientError``.
    """

    def handler(event: Any, context: Any = None) -> bytes:
        request_id = str(getattr(context, "request_id", None) or f"local-{uuid.uuid4().hex}")
        with logs.bind(request_id=request_id, step=step):
            log = logs.get_logger(step)
            started = time.perf_counter()
            before = STATS.snapshot()
            size = len(event) if isinstance(event, (bytes, bytearray, str)) else None
            log.info("invocation start", extra={"event_bytes": size})
            status = "failed"
            error_code: str | None = None
            inp: Any = None
            try:
                s = settings() if callable(settings) else (settings or Settings.load())
                clk = clock or clock_from_env()
                wt = waiter or Waiter()
                inp = decode(input_type, event)
                s = _with_context_credentials(_with_input_region(s, inp), context)
                ctx: StepContext = StepContext(
                    step=step, settings=s, clock=clk, logger=log,
                    deadline=Deadline.from_context(context, margin_ms=s.deadline_margin_ms,
                                                   default_ms=s.default_deadline_ms, monotonic=wt.monotonic),
                    request_id=request_id, execution_name=getattr(inp, "execution_name", None),
                    fc_context=context, waiter=wt)
                out = _to_output(use_case(inp, ctx))
                for k, v in _loop_fields(input_type, inp).items():
                    out.setdefault(k, v)
                encoded = msgspec.json.encode(out)
                if b"PRIVATE KEY-----" in encoded:
                    raise AlbMtlsError(Code.INTERNAL, f"{step} produced a result containing key material; it was "
                                       "withheld (this is a bug: results must carry secret names only)")
                status = str(out.get("status"))
                return encoded
            except TransientError as exc:
                status, error_code = "transient", exc.code
                log.warning("transient failure; raising for the workflow's Retry",
                            extra={"error": exc.to_dict(), "details": exc.details})
                raise
            except AlbMtlsError as exc:
                error_code = exc.code
                log.warning("step failed", extra={"error": exc.to_dict(), "details": exc.details})
                return msgspec.json.encode(dict(failed_result(exc), **_loop_fields(input_type, inp)))
            except Exception as exc:  # never leak the message: it may hold parameters or key material
                error_code = Code.INTERNAL
                log.error("unexpected error", extra={"error_type": type(exc).__name__, "where": _where(exc)})
                err = AlbMtlsError(Code.INTERNAL, f"{step} failed with an unexpected {type(exc).__name__}; see the "
                                   f"function log for request {request_id}")
                return msgspec.json.encode(dict(failed_result(err), **_loop_fields(input_type, inp)))
            finally:
                log.info("invocation end", extra={
                    "status": status, "error_code": error_code,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 1),
                    "retry": RetryStats.delta(before, STATS.snapshot())})

    # What the handler serves, for introspection (tests, tooling). FC calls a plain function, so the
    # handler stays one and carries these as function attributes, which mypy does not model.
    handler.step = step  # type: ignore[attr-defined]  # a function attribute (above)
    handler.input_type = input_type  # type: ignore[attr-defined]  # a function attribute (above)
    handler.use_case = use_case  # type: ignore[attr-defined]  # a function attribute (above)
    return handler


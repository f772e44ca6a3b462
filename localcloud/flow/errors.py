"""The error names a CloudFlow execution gives a failing Task, in one place.

What CloudFlow calls the error of an ``FC:InvokeFunction`` Task is barely documented: the FDL pages
say only that ``FnF.ALL`` "hits all errors" and that user Fail states carry their own ``Code``
(https://www.alibabacloud.com/help/en/serverless-workflow/latest/error-handling ; …/fail). The one
public sample naming Function Compute errors — an Alibaba sample flow (legacy FDL, 2020, printed
by ``aliyun fnf``) — retries on ``FC.ResourceThrottled``, ``FC.ResourceExhausted``,
``FC.InternalServerError``, ``FC.Unknown`` and ``FnF.TaskTimeout``. No public source names the error
of a function whose code raises (FC answers HTTP 200 with ``X-Fc-Error-Type:
UnhandledInvocationError`` and a body ``{errorMessage, errorType, stackTrace}``). Each name below
says whether it is confirmed; ``localcloud/COVERAGE.md`` lists them. The product never branches on
them: its workflows retry and catch with ``FnF.ALL``, and a step reports its own failure in its
output (``{"status": "failed", "error": {code, message}}``), read back from the execution history.

An invoker (``localruntime.fc.FunctionInvoker``) reports a Function Compute error — not one of the
function's code — by raising :class:`FcInvokeError` with one of these names; any other exception a
handler raises is the function's own error (:data:`FUNCTION_ERROR`).
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ErrorName", "FcInvokeError", "FUNCTION_ERROR", "FUNCTION_THROTTLED", "FUNCTION_EXHAUSTED",
           "FC_INTERNAL", "FUNCTION_NOT_FOUND", "TASK_TIMEOUT", "TASK_ERROR_NAMES"]

_SAMPLE = ("an Alibaba sample flow's Retry list (legacy FDL, 2020: FC.ResourceThrottled, FC.ResourceExhausted, "
           "FC.InternalServerError, FC.Unknown, FnF.TaskTimeout)")


@dataclass(frozen=True)
class ErrorName:
    """A Task error name: ``name`` as Retry/Catch ``Errors`` match it, ``when`` it is raised,
    ``status`` (``sample``: named by a public sample; ``pattern``: follows the documented
    ``FC.{ErrorCode}`` rule; ``unconfirmed``: no public source) and ``source``."""

    name: str
    when: str
    status: str
    source: str


FUNCTION_ERROR = ErrorName(
    "FC.Unknown", "the function's code raised (FC: UnhandledInvocationError); Detail is FC's error body "
    "{errorMessage, errorType} as JSON", "unconfirmed",
    "no public source names it; FC.Unknown is the sample's catch-all (" + _SAMPLE + ")")
FUNCTION_THROTTLED = ErrorName("FC.ResourceThrottled", "Function Compute throttled the invocation", "sample", _SAMPLE)
FUNCTION_EXHAUSTED = ErrorName("FC.ResourceExhausted", "Function Compute had no capacity for the invocation",
                               "sample", _SAMPLE)
FC_INTERNAL = ErrorName("FC.InternalServerError", "Function Compute failed internally", "sample", _SAMPLE)
FUNCTION_NOT_FOUND = ErrorName("FC.FunctionNotFound", "the Task names a function that does not exist",
                               "pattern", "the FDL names FC integration errors FC.{ErrorCode} for FC answers other "
                               "than 200 (docs/SERVERLESS.md §1.10); FC's own code is FunctionNotFound (HTTP 404)")
TASK_TIMEOUT = ErrorName("FnF.TaskTimeout", "the Task ran longer than its Timeout", "sample", _SAMPLE)

#: every name a Task can fail with (COVERAGE.md lists them)
TASK_ERROR_NAMES: tuple[ErrorName, ...] = (FUNCTION_ERROR, FUNCTION_THROTTLED, FUNCTION_EXHAUSTED, FC_INTERNAL,
                                          FUNCTION_NOT_FOUND, TASK_TIMEOUT)


class FcInvokeError(Exception):
    """Raised by an invoker for a Function Compute error (not the function's own): the Task fails
    with ``error.name``."""

    def __init__(self, error: ErrorName, message: str) -> None:
        super().__init__(message)
        self.error = error

"""Errors of the emulated APIs, rendered as the real services render them: HTTP status + JSON
``{RequestId, HostId, Code, Message}``. ``ApiError`` is the base of every error class; the
gateway's own errors (signature, parameters, throttling, …) are here, each product's codes in
``localcloud/products/<p>/exceptions.py`` — one class per real error code, raised one way only.
A class whose code or status a real account has not confirmed says what is assumed in
``assumed`` (listed in ``localcloud/COVERAGE.md``).
"""
from __future__ import annotations


class ApiError(Exception):
    """An API error answered to the SDK. ``status`` is the HTTP status."""

    code: str = "InternalError"
    status: int = 400
    default_message: str = "The request failed."
    assumed: str = ""      # what is not confirmed about this code (COVERAGE.md); "" = documented

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 status: int | None = None, retry_after_ms: int | None = None) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.retry_after_ms = retry_after_ms
        super().__init__(f"{self.code}: {self.message}")


# --- gateway (POP) errors ---------------------------------------------------------------
class MissingParameter(ApiError):
    code = "MissingParameter"

    def __init__(self, name: str) -> None:
        super().__init__(f"The input parameter \"{name}\" that is mandatory for processing this request "
                         "is not supplied.")


class InvalidParameter(ApiError):
    code = "InvalidParameter"

    def __init__(self, name: str, detail: str = "") -> None:
        msg = f"The parameter \"{name}\" is invalid."
        if detail:
            msg += f" {detail}"
        super().__init__(msg)


class SignatureDoesNotMatch(ApiError):
    code = "SignatureDoesNotMatch"
    default_message = "The request signature does not conform to Aliyun standards."


class IncompleteSignature(ApiError):
    code = "IncompleteSignature"
    default_message = "The request signature is missing or malformed."


class InvalidAccessKeyIdNotFound(ApiError):
    code = "InvalidAccessKeyId.NotFound"
    status = 404
    default_message = "Specified access key is not found."


class InvalidAction(ApiError):
    code = "InvalidAction.NotFound"
    status = 404
    default_message = "Specified api is not found, please check your url and method."


class InvalidVersion(ApiError):
    code = "InvalidVersion"
    status = 400
    default_message = "Specified parameter Version is not valid."


class Throttling(ApiError):
    """A throttled call: the product's answer (``Product.throttle``: ``Throttling.User``/400 with
    ``x-acs-retry-after`` by default, KMS ``Rejected.Throttling``/429)."""

    code = "Throttling.User"
    status = 400
    default_message = "Request was denied due to user flow control."


class ServiceUnavailable(ApiError):
    code = "ServiceUnavailable"
    status = 503
    default_message = "The request has failed due to a temporary failure of the server."


class InternalError(ApiError):
    code = "InternalError"
    status = 500
    default_message = "The request processing has failed due to some unknown error."


class IdempotentParameterMismatch(ApiError):
    code = "IdempotentParameterMismatch"
    default_message = "The ClientToken was already used with other parameters."


class InjectedBusy(ApiError):
    """A "busy" fault (``localcloud/faults.py``): the product's busy code, or the rule's own code,
    message and status (e.g. ALB's internal ``-21020`` inside a message, as Terraform matches it)."""

    default_message = "The resource is busy; retry later."

    def __init__(self, code: str, message: str | None = None, status: int | None = None) -> None:
        super().__init__(message, code=code, status=status)

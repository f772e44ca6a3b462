"""Errors of the automation: one base class with a stable ``code``, and the SDK error mapping.

Every failure a person can act on is an :class:`AlbMtlsError` whose ``code`` is stable (a
workflow ``Choice`` or a script may branch on it) and whose ``message`` says what to change.
Retryable faults are :class:`TransientError`; the retry layer (``shared.adapters.retry``) retries them
and, once the deadline is spent, the FC handler wrapper *raises* them so CloudFlow's ``Retry``
sees a function-level fault. All other ``AlbMtlsError`` are *returned* as
``{"status": "failed", "error": {...}}``.

:func:`map_sdk_error` turns exceptions of the official SDK (``alibabacloud_tea_openapi``,
``darabonba``, ``alibabacloud_credentials``) into these, keeping the cloud's ``Code``, HTTP status
and request id but never the raw exception text (it can hold request URLs with parameters).

This module imports no SDK: classification is by class name and attributes, so importing it
costs nothing at cold start.
"""
from __future__ import annotations

import re
from enum import StrEnum
from typing import Any

__all__ = [
    "Code",
    "AlbMtlsError",
    "InvalidInputError",
    "TransientError",
    "invalid_input",
    "map_sdk_error",
    "credential_chain_message",
    "is_retryable_cloud_code",
    "BUSY_CODES",
    "ALB_BODY_BUSY_MARKERS",
    "body_busy_marker",
]


class Code(StrEnum):
    """Stable error codes (the ``error.code`` of a failed step result)."""

    INVALID_INPUT = "INVALID_INPUT"
    CONFIG_INVALID = "CONFIG_INVALID"
    CREDENTIALS_MISSING = "CREDENTIALS_MISSING"
    CREDENTIALS_INVALID = "CREDENTIALS_INVALID"
    ALB_EDITION_UNSUPPORTED = "ALB_EDITION_UNSUPPORTED"
    LISTENER_PORT_CONFLICT = "LISTENER_PORT_CONFLICT"
    DNS_CONFLICT = "DNS_CONFLICT"
    APEX_CNAME_REFUSED = "APEX_CNAME_REFUSED"
    TTL_BELOW_MINIMUM = "TTL_BELOW_MINIMUM"
    DOMAIN_NOT_IN_ACCOUNT = "DOMAIN_NOT_IN_ACCOUNT"
    CA_EXPIRES_TOO_SOON = "CA_EXPIRES_TOO_SOON"
    CA_ALGORITHM_MISMATCH = "CA_ALGORITHM_MISMATCH"
    CA_NOT_FOUND = "CA_NOT_FOUND"
    CA_IN_USE = "CA_IN_USE"
    NAME_NOT_PERMITTED = "NAME_NOT_PERMITTED"
    CERT_NOT_FOUND = "CERT_NOT_FOUND"
    SERVER_CERT_MISMATCH = "SERVER_CERT_MISMATCH"
    SERVER_CERT_EXPIRING = "SERVER_CERT_EXPIRING"
    SERVER_GROUP_VPC_MISMATCH = "SERVER_GROUP_VPC_MISMATCH"
    LOAD_BALANCER_NOT_FOUND = "LOAD_BALANCER_NOT_FOUND"
    LISTENER_NOT_FOUND = "LISTENER_NOT_FOUND"
    SECRET_NOT_FOUND = "SECRET_NOT_FOUND"
    LISTENER_BUSY = "LISTENER_BUSY"
    EXECUTION_RUNNING = "EXECUTION_RUNNING"
    DNS_NOT_PROPAGATED = "DNS_NOT_PROPAGATED"
    HEALTH_CHECK_FAILED = "HEALTH_CHECK_FAILED"
    PROBE_FAILED = "PROBE_FAILED"
    PFX_CHECK_FAILED = "PFX_CHECK_FAILED"
    RENEW_BEFORE_TOO_LONG = "RENEW_BEFORE_TOO_LONG"
    CLIENT_NOT_FOUND = "CLIENT_NOT_FOUND"
    CLIENT_REVOKED = "CLIENT_REVOKED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    DRIFT_AFTER_APPLY = "DRIFT_AFTER_APPLY"
    CLOUD_ERROR = "CLOUD_ERROR"
    # transient (retryable) codes
    THROTTLED = "THROTTLED"
    CLOUD_BUSY = "CLOUD_BUSY"
    CLOUD_UNAVAILABLE = "CLOUD_UNAVAILABLE"
    CLOUD_UNREACHABLE = "CLOUD_UNREACHABLE"
    TIMEOUT = "TIMEOUT"
    INTERNAL = "INTERNAL"


class AlbMtlsError(Exception):
    """A failure the caller can act on.

    Parameters
    ----------
    code:
        A :class:`Code` (or its string value); stable across releases.
    message:
        Human text saying what is wrong *and what to change*. Never carries key material.
    field:
        Dotted input path the error is about (``"clients[0].common_name"``), if any.
    request_id:
        The cloud ``RequestId`` of the failed call, if any (for support tickets).
    details:
        Extra JSON-safe facts (``cloud_code``, ``status_code``, ``action``, ``retry_after_ms`` …).
    """

    retryable: bool = False

    def __init__(self, code: str, message: str, *, field: str | None = None,
                 request_id: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.field = field
        self.request_id = request_id
        self.details: dict[str, Any] = dict(details or {})

    # -- convenience accessors for adapters --------------------------------------------------
    @property
    def cloud_code(self) -> str | None:
        """The cloud's error ``Code`` (``"ResourceNotFound.Listener"``) when mapped from the SDK."""
        return self.details.get("cloud_code")

    @property
    def status_code(self) -> int | None:
        """The HTTP status of the failed cloud call, when mapped from the SDK."""
        return self.details.get("status_code")

    @property
    def is_not_found(self) -> bool:
        """True when the cloud said the resource does not exist (404 or a ``*NotFound``/``NoExist`` code)."""
        cc = self.cloud_code or ""
        return (self.status_code == 404 or cc.startswith("ResourceNotFound")
                or cc.endswith(("NotFound", "NotExist", "NoExist", ".NotFound", "NotExists")))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used in step results: ``{"code", "message", "field"?, "request_id"?}``."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field:
            out["field"] = self.field
        if self.request_id:
            out["request_id"] = self.request_id
        return out

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, field={self.field!r})"

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across processes (flow runner, multiprocessing)
        return (_rebuild, (type(self), self.code, self.message, self.field, self.request_id, self.details))


def _rebuild(cls: type[AlbMtlsError], code: str, message: str, field: str | None, request_id: str | None,
             details: dict[str, Any] | None) -> AlbMtlsError:  # pragma: no cover - pickle helper
    obj = cls.__new__(cls)
    AlbMtlsError.__init__(obj, code, message, field=field, request_id=request_id, details=details)
    return obj


class InvalidInputError(AlbMtlsError, ValueError):
    """``INVALID_INPUT`` naming the field. Also a ``ValueError`` so that msgspec, when it is raised
    in a ``__post_init__`` during decoding, wraps it into a ``ValidationError`` with the JSON path."""

    def __init__(self, field: str, message: str, *, code: str = Code.INVALID_INPUT) -> None:
        super().__init__(code, message, field=field)

    def __str__(self) -> str:
        # The form msgspec keeps (it appends " - at `$.path`"); parsed back by shared.policy.validation.
        return f"invalid `{self.field}`: {self.message}" if self.code == Code.INVALID_INPUT \
            else f"[{self.code}] `{self.field}`: {self.message}"


class TransientError(AlbMtlsError):
    """A retryable fault (throttling, 5xx, busy resource, dropped connection, deadline spent).

    ``retry_after_ms`` is the server's hint (``x-acs-retry-after``) when it gave one. The FC
    handler wrapper re-raises it so CloudFlow's ``Retry`` (``FC.*``/``FnF.ALL``) takes over.
    """

    retryable = True

    def __init__(self, code: str, message: str, *, retry_after_ms: int | None = None,
                 request_id: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(code, message, request_id=request_id, details=details)
        self.retry_after_ms = retry_after_ms
        if retry_after_ms is not None:
            self.details.setdefault("retry_after_ms", retry_after_ms)


def invalid_input(field: str, message: str) -> InvalidInputError:
    """Build (not raise) an ``INVALID_INPUT`` error about ``field``; ``raise invalid_input(...)``."""
    return InvalidInputError(field, message)


# ---------------------------------------------------------------------------------------------
# SDK error classification
# ---------------------------------------------------------------------------------------------

#: Cloud codes meaning "busy / locked / still applying: try again shortly". ALB: the codes the
#: Terraform alicloud provider retries on listener, ACL and server-group writes
#: (``resource_alicloud_alb_listener.go`` CreateListener/UpdateListenerAttribute/StartListener/
#: DeleteListener, ``resource_alicloud_alb_listener_acl_attachment.go`` — ``LockFailed``,
#: ``IncorrectStatus.Acl``, ``Conflict.Acl`` —, ``resource_alicloud_alb_server_group.go``; commit
#: 81c43b67, docs/ALIBABA-APIS.md §1.16). ``Conflict.Lock`` is not among them: Terraform knows it
#: for NLB and Express Connect Router only, so an ALB answering it is not retried. Alidns:
#: ``LastOperationNotFinished`` (§3.4). Any ``Throttling*``/``*.Throttling`` code and any 5xx are
#: retryable too (:func:`is_retryable_cloud_code`, Terraform's ``NeedRetry``).
BUSY_CODES: frozenset[str] = frozenset({
    "IncorrectStatus.Listener", "IncorrectStatus.LoadBalancer", "IncorrectBusinessStatus.LoadBalancer",
    "IncorrectStatus.ServerGroup", "ResourceInUse.ServerGroup", "ResourceInConfiguring.Listener",
    "SystemBusy", "ServiceUnavailable", "IdempotenceProcessing", "LastOperationNotFinished",
    "LockFailed", "IncorrectStatus.Acl", "Conflict.Acl", "VipStatusNotSupport", "InternalError", "UnknownError",
    "ServiceTimeout", "OperationConflict", "Operation.Conflict",
})

#: ALB's internal busy codes that Terraform matches as *substrings of the error body* (its
#: ``IsExpectedErrors`` also matches ``strings.Contains(e.Data, code)``), per the action it retries
#: them on (``resource_alicloud_alb_listener.go``: ``-21020`` on CreateListener, ``-22001`` on
#: Start/Stop/UpdateListenerAttribute/UpdateListenerLogConfig, ``-22031`` on DeleteListener;
#: docs/ALIBABA-APIS.md §1.16). Which ``Code`` carries them is not public.
ALB_BODY_BUSY_MARKERS: dict[str, frozenset[str]] = {
    "-21020": frozenset({"alb:CreateListener"}),
    "-22001": frozenset({"alb:StartListener", "alb:StopListener", "alb:UpdateListenerAttribute",
                         "alb:UpdateListenerLogConfig"}),
    "-22031": frozenset({"alb:DeleteListener"}),
}


def body_busy_marker(action: str | None, body: Any) -> str | None:
    """The ALB internal busy code (:data:`ALB_BODY_BUSY_MARKERS`) found in an error ``body`` (the
    SDK's parsed error dict or text) of ``action`` (``"alb:CreateListener"``), or ``None``."""
    if not action or body is None:
        return None
    text = body if isinstance(body, str) else " ".join(str(v) for v in body.values()) if isinstance(body, dict) \
        else str(body)
    for marker, actions in ALB_BODY_BUSY_MARKERS.items():
        if action in actions and marker in text:
            return marker
    return None


# cloud code → our code, for failures that have a dedicated meaning.
_CODE_TABLE: dict[str, Code] = {
    "ResourceNotFound.LoadBalancer": Code.LOAD_BALANCER_NOT_FOUND,
    "ResourceNotFound.Listener": Code.LISTENER_NOT_FOUND,
    "ResourceNotFound.Certificate": Code.CERT_NOT_FOUND,
    "ResourceNotFound.CaCertificate": Code.CA_NOT_FOUND,
    "InvalidDomainName.NoExist": Code.DOMAIN_NOT_IN_ACCOUNT,
    "InvalidDomain.NotFound": Code.DOMAIN_NOT_IN_ACCOUNT,
    "DomainRecordConflict": Code.DNS_CONFLICT,
    "Forbidden.SecretNotFound": Code.SECRET_NOT_FOUND,
    "InvalidCredentials": Code.CREDENTIALS_MISSING,
    # the gateway refused the key itself (docs/ALIBABA-APIS.md §4.6): no retry can help
    "InvalidAccessKeyId.NotFound": Code.CREDENTIALS_INVALID,
    "InvalidAccessKeyId": Code.CREDENTIALS_INVALID,
    "InvalidAccessKeyId.Inactive": Code.CREDENTIALS_INVALID,
    "SignatureDoesNotMatch": Code.CREDENTIALS_INVALID,
    "InvalidSecurityToken.Expired": Code.CREDENTIALS_INVALID,
    "InvalidSecurityToken.Malformed": Code.CREDENTIALS_INVALID,
    "InvalidSecurityToken.MismatchWithAccessKey": Code.CREDENTIALS_INVALID,
}

_HINTS: dict[Code, str] = {
    Code.LOAD_BALANCER_NOT_FOUND: "check `load_balancer_id` and `region`",
    Code.LISTENER_NOT_FOUND: "check `listener_port`",
    Code.CERT_NOT_FOUND: "check `server_certificate.certificate_id` (CAS id, optionally with `-<site region>`)",
    Code.CA_NOT_FOUND: "check `ca_identifier`; if the CA exists, ALB may take its other identifier: "
                       "`albmtls doctor` shows which, then set ALBMTLS_ALB_CA_ID_FORM",
    Code.DOMAIN_NOT_IN_ACCOUNT: "add the domain to Alibaba Cloud DNS in this account, or fix `domain`",
    Code.DNS_CONFLICT: "another record of a conflicting type exists on this host record; "
                       "remove it or choose another `rr`",
    Code.SECRET_NOT_FOUND: "create the KMS secret or fix the secret name",
    Code.CREDENTIALS_MISSING: "set ALIBABA_CLOUD_ACCESS_KEY_ID / ALIBABA_CLOUD_ACCESS_KEY_SECRET "
                              "(and ALIBABA_CLOUD_SECURITY_TOKEN for STS)",
    Code.CREDENTIALS_INVALID: "the cloud refused the credentials: check the AccessKey pair (and that an STS "
                              "token has not expired) in the environment or profile the default chain used",
    Code.PERMISSION_DENIED: "grant the function's RAM role the permission for this action",
    Code.QUOTA_EXCEEDED: "raise the quota in the console or free resources",
}


def is_retryable_cloud_code(code: str | None, status_code: int | None = None) -> bool:
    """True for throttling (``Throttling*``, ``*.Throttling``), busy/lock codes and HTTP 5xx.

    Parameters: ``code`` the cloud ``Code`` (may be ``None``/``'None'``); ``status_code`` HTTP status.
    """
    c = code or ""
    if c.startswith("Throttling") or c.endswith("Throttling") or c in BUSY_CODES:
        return True
    return status_code is not None and status_code >= 500


_MAX_CLOUD_MESSAGE = 240


def _sanitize_cloud_message(text: Any) -> str | None:
    """The cloud's own ``Message`` field, redacted and truncated (never the SDK's composite text)."""
    if not isinstance(text, str) or not text.strip():
        return None
    from shared.core.logs import redact_text  # local import: logs imports nothing heavy either

    out = redact_text(" ".join(text.split()))
    # URLs can echo request parameters: drop query strings.
    out = re.sub(r"(https?://[^\s?]+)\?\S*", r"\1?…", out)
    if len(out) > _MAX_CLOUD_MESSAGE:
        out = out[:_MAX_CLOUD_MESSAGE] + "…"
    return out


# The default credential chain's providers (alibabacloud_credentials 1.0.12, provider/default.py),
# as a person knows them; docs/ALIBABA-APIS.md §4.2.
_CHAIN = (("EnvironmentVariable", "environment (ALIBABA_CLOUD_ACCESS_KEY_ID/_SECRET)"),
          ("OIDCRoleArn", "OIDC role (ALIBABA_CLOUD_OIDC_*)"),
          ("CLIProfile", "~/.aliyun/config.json"),
          ("Profile", "~/.alibabacloud/credentials.ini"),
          ("EcsRamRole", "ECS instance RAM role (100.100.100.200)"),
          ("URL", "ALIBABA_CLOUD_CREDENTIALS_URI"))


def credential_chain_message(exc: BaseException) -> str:
    """One line: no usable credentials, and which sources the default chain tried (read from the
    ``CredentialException``'s message, which names its providers — never a file's contents or a key)."""
    text = str(getattr(exc, "message", None) or exc)
    tried = [label for key, label in _CHAIN if re.search(rf"(?<![A-Za-z]){key}CredentialsProvider", text)]
    where = ", ".join(tried) if tried else "the default credential chain"
    return (f"no usable Alibaba Cloud credentials (tried {where}); {_HINTS[Code.CREDENTIALS_MISSING]}, or "
            "configure a profile")


def _classify_name(exc: BaseException) -> str:
    return type(exc).__name__


def map_sdk_error(exc: BaseException, action: str) -> AlbMtlsError:
    """Map an SDK exception raised by ``action`` (e.g. ``"alb:UpdateListenerAttribute"``) to ours.

    Returns (does not raise) an :class:`AlbMtlsError`; a :class:`TransientError` for throttling
    (``retry_after_ms`` from ``ThrottlingException.retry_after``), 5xx, busy codes and connection
    failures (``darabonba.exceptions.UnretryableException``). ``details`` carries ``action``,
    ``cloud_code``, ``status_code``. The message is built from the cloud code, HTTP status and the
    server's sanitized ``Message`` only. An :class:`AlbMtlsError` passes through unchanged; any
    other non-SDK exception becomes ``INTERNAL`` with its type name only.
    """
    if isinstance(exc, AlbMtlsError):
        return exc
    name = _classify_name(exc)
    mro = {c.__name__ for c in type(exc).__mro__}
    details: dict[str, Any] = {"action": action}

    # Response errors: ClientException / ServerException / ThrottlingException (AlibabaCloudException).
    if "AlibabaCloudException" in mro or "ResponseException" in mro:
        cloud_code = getattr(exc, "code", None)
        if cloud_code in (None, "None", ""):
            cloud_code = None
        status = getattr(exc, "status_code", None) or getattr(exc, "statusCode", None)
        try:
            status = int(status) if status is not None else None
        except (TypeError, ValueError):
            status = None
        request_id = getattr(exc, "request_id", None) or None
        data = getattr(exc, "data", None)
        server_message = _sanitize_cloud_message(data.get("Message") or data.get("message")) \
            if isinstance(data, dict) else None
        details.update(cloud_code=cloud_code, status_code=status)
        base = f"{action} failed: {cloud_code or 'error'} (HTTP {status if status is not None else '?'})"
        if server_message:
            base += f": {server_message}"
        if "ThrottlingException" in mro:
            retry_after = getattr(exc, "retry_after", None)
            try:
                retry_after = int(retry_after) if retry_after is not None else None
            except (TypeError, ValueError):
                retry_after = None
            return TransientError(Code.THROTTLED, base + "; throttled, retry later", retry_after_ms=retry_after,
                                  request_id=request_id, details=details)
        marker = body_busy_marker(action, data)
        if marker:
            details["busy_marker"] = marker
        if marker or is_retryable_cloud_code(cloud_code, status):
            if (cloud_code or "").startswith("Throttling") or (cloud_code or "").endswith("Throttling"):
                code = Code.THROTTLED
            elif status is not None and status >= 500 and cloud_code not in BUSY_CODES:
                code = Code.CLOUD_UNAVAILABLE
            elif cloud_code in ("IncorrectStatus.Listener", "ResourceInConfiguring.Listener"):
                code = Code.LISTENER_BUSY
            else:
                code = Code.CLOUD_BUSY
            return TransientError(code, base + "; the resource is busy or the service unavailable, retry later",
                                  request_id=request_id, details=details)
        ours = _CODE_TABLE.get(cloud_code or "")
        if ours is None:
            cc = cloud_code or ""
            if status == 403 or cc.startswith(("Forbidden", "NoPermission")) or cc == "Forbidden.RAM":
                ours = Code.PERMISSION_DENIED
            elif cc.startswith("QuotaExceeded") or cc.startswith("ResourceQuotaExceeded"):
                ours = Code.QUOTA_EXCEEDED
            else:
                ours = Code.CLOUD_ERROR
        hint = _HINTS.get(ours)
        return AlbMtlsError(ours, base + (f"; {hint}" if hint else ""), request_id=request_id, details=details)

    # Transport errors: darabonba/Tea UnretryableException wraps a RetryError (connection, timeout)
    # or a RuntimeError (non-JSON body, e.g. a gateway's HTML page). Their text holds the URL with
    # all query parameters, so only the inner type name is kept.
    if "UnretryableException" in mro:
        inner = getattr(exc, "inner_exception", None)
        if inner is not None and "CredentialException" in {c.__name__ for c in type(inner).__mro__}:
            # the default chain found nothing usable: say so at once, never retry (docs/ALIBABA-APIS.md §4.2)
            details.update(cause="CredentialException")
            return AlbMtlsError(Code.CREDENTIALS_MISSING, f"{action} failed: {credential_chain_message(inner)}",
                                details=details)
        inner_name = type(inner).__name__ if inner is not None else "unknown"
        details.update(cause=inner_name)
        if inner is not None and type(inner).__name__ == "RetryError":
            text = str(getattr(inner, "message", "") or "")
            kind = "timed out" if ("timed out" in text.lower() or "timeout" in text.lower()) else "connection failed"
            return TransientError(Code.CLOUD_UNREACHABLE, f"{action} failed: {kind} ({inner_name}); retry later",
                                  details=details)
        return TransientError(Code.CLOUD_UNAVAILABLE,
                              f"{action} failed: the service returned an unreadable response ({inner_name}); "
                              "retry later",
                              details=details)

    if name == "CredentialException" or "CredentialException" in mro:
        return AlbMtlsError(Code.CREDENTIALS_MISSING, f"{action} failed: {credential_chain_message(exc)}",
                            details=details)
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return TransientError(Code.CLOUD_UNREACHABLE, f"{action} failed: {name}; retry later", details=details)
    details.update(cause=name)
    return AlbMtlsError(Code.INTERNAL, f"{action} failed with an unexpected {name}", details=details)


def is_sdk_exception(exc: BaseException) -> bool:
    """True when ``exc`` comes from the Alibaba SDK runtime (response, transport or credential error)."""
    mro = {c.__name__ for c in type(exc).__mro__}
    return bool(mro & {"AlibabaCloudException", "ResponseException", "TeaException", "DaraException",
                       "UnretryableException", "CredentialException"})

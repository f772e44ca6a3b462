"""CloudFlow (fnf 2019-03-15) error codes."""
from __future__ import annotations

from ...errors import ApiError


class FlowAlreadyExists(ApiError):
    code = "FlowAlreadyExists"
    status = 409


class FlowNotExists(ApiError):
    code = "FlowNotExists"
    status = 404


class ExecutionAlreadyExists(ApiError):
    code = "ExecutionAlreadyExists"
    status = 409


class ExecutionNotExists(ApiError):
    code = "ExecutionNotExists"
    status = 404


class InvalidArgument(ApiError):
    code = "InvalidArgument"
    status = 400

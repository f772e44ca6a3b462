"""CloudFlow adapter (``alibabacloud_fnf20190315``, API ``2019-03-15``; the new CloudFlow keeps the
Serverless Workflow API, docs/SERVERLESS.md §1.15): flows and executions.

Every call goes through the call policy (the one retry layer). Reads return the SDK's response
bodies' fields as plain values; lists are read to the end (``NextToken``). Errors come out as
:class:`~shared.core.errors.AlbMtlsError` with ``cloud_code`` (``FlowNotExists``,
``FlowAlreadyExists``, ``ExecutionNotExists``, ``ExecutionAlreadyExists``).
"""
from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any

from shared.adapters.base import Adapter
from shared.core.errors import AlbMtlsError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["Fnf", "MAX_PAGES"]

MAX_PAGES = 1000          # safety bound on paging


def _models() -> Any:
    from alibabacloud_fnf20190315 import models

    return models


class Fnf(Adapter):
    """CloudFlow 2019-03-15 (module doc)."""

    product = "fnf"

    # -- flows ---------------------------------------------------------------------------------
    def describe_flow(self, name: str) -> Any | None:
        """``DescribeFlow`` → the response body (``definition``, …), or ``None`` (``FlowNotExists``)."""
        m = _models()
        try:
            return self.call("fnf:DescribeFlow",
                             lambda: self.client.describe_flow(m.DescribeFlowRequest(name=name))).body
        except AlbMtlsError as exc:
            if exc.cloud_code == "FlowNotExists":
                return None
            raise

    def create_flow(self, name: str, definition: str, *, description: str, role_arn: str | None) -> None:
        """``CreateFlow`` (type ``FDL``). A write; ``FlowAlreadyExists`` raises."""
        m = _models()
        req = m.CreateFlowRequest(name=name, definition=definition, description=description, type="FDL",
                                  role_arn=role_arn)
        self.call("fnf:CreateFlow", lambda: self.client.create_flow(req))

    def update_flow(self, name: str, definition: str, *, description: str, role_arn: str | None) -> None:
        """``UpdateFlow`` (type ``FDL``). A write."""
        m = _models()
        req = m.UpdateFlowRequest(name=name, definition=definition, description=description, type="FDL",
                                  role_arn=role_arn)
        self.call("fnf:UpdateFlow", lambda: self.client.update_flow(req))

    # -- executions ----------------------------------------------------------------------------
    def start_execution(self, flow: str, name: str, input_json: str) -> Any:
        """``StartExecution`` → the response body (``status``, ``input``). ``ExecutionAlreadyExists``
        raises (a finished execution of that name)."""
        m = _models()
        req = m.StartExecutionRequest(flow_name=flow, execution_name=name, input=input_json)
        return self.call("fnf:StartExecution", lambda: self.client.start_execution(req)).body

    def describe_execution(self, flow: str, name: str) -> Any | None:
        """``DescribeExecution`` → the response body, or ``None`` when there is no such execution."""
        m = _models()
        req = m.DescribeExecutionRequest(flow_name=flow, execution_name=name)
        try:
            return self.call("fnf:DescribeExecution", lambda: self.client.describe_execution(req)).body
        except AlbMtlsError as exc:
            if exc.cloud_code == "ExecutionNotExists" or exc.is_not_found:
                return None
            raise

    def stop_execution(self, flow: str, name: str, *, error: str, cause: str) -> None:
        """``StopExecution``. A write."""
        m = _models()
        req = m.StopExecutionRequest(flow_name=flow, execution_name=name, error=error, cause=cause)
        self.call("fnf:StopExecution", lambda: self.client.stop_execution(req))

    def list_executions(self, flow: str, *, status: str | None = None, name_prefix: str | None = None) -> Iterator[Any]:
        """``ListExecutions`` (every page, ``Limit`` 99) → the execution items."""
        m = _models()
        token = None
        for _ in range(MAX_PAGES):
            req = m.ListExecutionsRequest(flow_name=flow, status=status, execution_name_prefix=name_prefix, limit=99,
                                          next_token=token)
            body = self.call("fnf:ListExecutions", partial(self.client.list_executions, req)).body
            yield from body.executions or []
            token = body.next_token
            if not token:
                return

    def execution_history(self, flow: str, name: str) -> Iterator[Any]:
        """``GetExecutionHistory`` (every page, ``Limit`` 999) → the events, oldest first."""
        m = _models()
        token = None
        for _ in range(MAX_PAGES):
            req = m.GetExecutionHistoryRequest(flow_name=flow, execution_name=name, limit=999, next_token=token)
            body = self.call("fnf:GetExecutionHistory", partial(self.client.get_execution_history, req)).body
            yield from body.events or []
            token = body.next_token
            if not token:
                return

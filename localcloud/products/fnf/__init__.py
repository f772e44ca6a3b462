"""CloudFlow (``fnf`` 2019-03-15, RPC): flows and Standard executions (docs/SERVERLESS.md §1.15).

Flows: CreateFlow, UpdateFlow, DescribeFlow, DeleteFlow, ListFlows — the definition is checked
by ``localcloud.flow.load_definition`` (current spec only; its top-level ``Name`` must equal the
flow name); problems answer ``InvalidArgument`` listing each one.
Executions: StartExecution (runs in the background service ``localruntime/flowservice.py``; same
name still running → that execution; same name finished → ``ExecutionAlreadyExists``),
DescribeExecution, GetExecutionHistory, ListExecutions, StopExecution.

Local choices where the real service is not documented are ``models.ASSUMPTIONS``.
"""
from . import responses  # noqa: F401 — registers the actions
from .models import KIND_EXECUTION, KIND_FLOW, VERSION

__all__ = ["KIND_EXECUTION", "KIND_FLOW", "VERSION"]

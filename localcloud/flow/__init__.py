"""Local CloudFlow: definition loader + static checks, expressions and the runner. Tasks are
invoked through an injected invoker (the local FC: ``localruntime.fc``); the background executor
behind the ``fnf`` API is ``localruntime.flowservice``.

    from localcloud.flow import load_definition, FlowRunner, run_flow
"""
from .definition import Definition, DefinitionError, load_definition
from .expressions import ExpressionError
from .runner import (
                     ERR_ALL,
                     ERR_DATA_LIMIT,
                     ERR_EXPRESSION,
                     ERR_FAIL,
                     ERR_MAX_STEPS,
                     ERR_STOPPED,
                     ERR_TIMEOUT,
                     ERR_UNHANDLED,
                     ExecutionResult,
                     FlowError,
                     FlowRunner,
                     run_flow,
)

__all__ = ["Definition", "DefinitionError", "load_definition", "ExpressionError", "ExecutionResult",
           "FlowError", "FlowRunner", "run_flow",
           "ERR_ALL", "ERR_DATA_LIMIT", "ERR_EXPRESSION", "ERR_FAIL", "ERR_MAX_STEPS", "ERR_STOPPED",
           "ERR_TIMEOUT", "ERR_UNHANDLED"]

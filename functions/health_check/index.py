"""FC ``albmtls-health-check``: listener health of every backend, then the live mTLS probe
(``shared.steps.health.run``)."""
from shared.entry.handler import fc_handler
from shared.policy.contracts import StepEvent
from shared.steps.health import run

handler = fc_handler(StepEvent, run, step="health_check")

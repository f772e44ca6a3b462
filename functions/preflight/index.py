"""FC function ``albmtls-preflight``: see ``shared.steps.preflight.run``."""
from shared.entry.handler import fc_handler
from shared.policy.contracts import StepEvent
from shared.steps.preflight import run

handler = fc_handler(StepEvent, run, step="preflight")

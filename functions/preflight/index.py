"""FC function ``albmtls-preflight``: see ``shared.steps.preflight.run``."""
from shared.contracts import StepEvent
from shared.handler import fc_handler
from shared.steps.preflight import run

handler = fc_handler(StepEvent, run, step="preflight")

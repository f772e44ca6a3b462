"""FC function ``albmtls-enable-mutual-auth``: see ``shared.steps.listener.run``."""
from shared.entry.handler import fc_handler
from shared.policy.contracts import StepEvent
from shared.steps.listener import run

handler = fc_handler(StepEvent, run, step="enable_mutual_auth")

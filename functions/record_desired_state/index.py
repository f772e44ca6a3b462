"""FC function ``albmtls-record-desired-state``: see ``shared.steps.desired.run``."""
from shared.entry.handler import fc_handler
from shared.policy.contracts import StepEvent
from shared.steps.desired import run

handler = fc_handler(StepEvent, run, step="record_desired_state")

"""FC function ``albmtls-ensure-own-ca``: see ``shared.steps.ownca.run``."""
from shared.entry.handler import fc_handler
from shared.policy.contracts import StepEvent
from shared.steps.ownca import run

handler = fc_handler(StepEvent, run, step="ensure_own_ca")

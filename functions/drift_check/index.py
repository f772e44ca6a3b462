"""FC ``albmtls-drift-check`` (daily timer): the cloud against each listener's recorded desired
state; drifted listeners with ``auto_repair`` get a provision execution (``shared.steps.drift.run``).

The event is FC's timer event ``{triggerTime, triggerName, payload}`` with the payload as JSON text
(``{"secret_prefix": …, "repair": true}``), or the payload fields themselves.
"""
from shared.entry.handler import fc_handler
from shared.steps.drift import DriftEvent, run

handler = fc_handler(DriftEvent, run, step="drift_check")

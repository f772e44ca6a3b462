"""FC ``albmtls-rotation-scan`` (daily timer): find due client certificates, start the rotate flow.

The event is FC's timer event ``{triggerTime, triggerName, payload}`` with the payload as JSON
text (docs/ROTATION.md), or the payload fields themselves. Time: ``shared.steps.rotation.TARGET_CLOCK``.
"""
from shared.entry.handler import fc_handler
from shared.steps.rotation import TARGET_CLOCK, ScanEvent, scan

handler = fc_handler(ScanEvent, scan, step="rotation_scan", clock=TARGET_CLOCK)

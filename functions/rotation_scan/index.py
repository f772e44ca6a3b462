"""FC ``albmtls-rotation-scan`` (daily timer): find due client certificates, start the rotate flow.

The event is FC's timer event ``{triggerTime, triggerName, payload}`` with the payload as JSON
text (docs/ROTATION.md), or the payload fields themselves (``shared.steps.rotation.scan``).
"""
from shared.entry.handler import fc_handler
from shared.steps.rotation import ScanEvent, scan

handler = fc_handler(ScanEvent, scan, step="rotation_scan")

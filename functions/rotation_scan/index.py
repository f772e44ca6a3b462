"""FC ``albmtls-rotation-scan`` (daily timer): place the day's rotation order in the issuing lane.

The event is FC's timer event ``{triggerTime, triggerName, payload}`` with the payload as JSON
text (docs/ROTATION.md), or the payload fields themselves (``shared.steps.rotation.start_rotation``).
The scan, the renewals and the retirements run in the lane (FC ``albmtls-issuer``).
"""
from shared.entry.handler import fc_handler
from shared.steps.rotation import ScanEvent, start_rotation

handler = fc_handler(ScanEvent, start_rotation, step="rotation_scan")

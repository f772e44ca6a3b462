"""FC ``albmtls-renew-client-cert``: the rotate flow's per-certificate step — ``mode: renew``
(issue the replacement, store it, mark the old one superseded) or ``mode: retire`` (revoke a
replaced certificate when that is safe and asked); ``shared.steps.rotate.run``.
"""
from shared.entry.handler import fc_handler
from shared.steps.rotate import RotateEvent, run

handler = fc_handler(RotateEvent, run, step="renew_client_cert")

"""FC ``albmtls-offboard-client``: revoke a holder's access on a listener, give it back, or keep the
listener's holders in line with its input — ``mode: revoke | restore | reconcile``;
``shared.steps.offboarding.run``.
"""
from shared.entry.handler import fc_handler
from shared.steps.offboarding import OffboardEvent, run

handler = fc_handler(OffboardEvent, run, step="offboard_client")

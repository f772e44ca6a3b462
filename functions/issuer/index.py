"""FC ``albmtls-issuer``: the issuing lane's worker — one slice of one order per call
(``workflows/issue.yaml``; ``shared.steps.issuer``): provisioning orders' certificates, the daily
rotation (scan, renew, retire), every PCA call of the automation's certificate work."""
from shared.entry.handler import fc_handler
from shared.policy.orders import DrainEvent
from shared.steps.issuer import run

handler = fc_handler(DrainEvent, run, step="issuer")

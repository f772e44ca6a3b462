"""FC ``albmtls-create-cname``: the CNAME ``<rr>.<domain>`` → the ALB's DNSName, then propagation
(``shared.steps.dns.run``)."""
from shared.entry.handler import fc_handler
from shared.policy.contracts import CnameEvent
from shared.steps.dns import run

handler = fc_handler(CnameEvent, run, step="create_cname")

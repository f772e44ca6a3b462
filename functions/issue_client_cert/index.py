"""FC ``albmtls-issue-client-cert``: the run's client certificates as one order in the issuing lane
(``albmtls-issue``: reuse what is valid, issue the rest; PFX + password to KMS), followed until it ends."""
from shared.entry.handler import fc_handler
from shared.policy.contracts import StepEvent
from shared.steps.issue_request import run

handler = fc_handler(StepEvent, run, step="issue_client_cert")

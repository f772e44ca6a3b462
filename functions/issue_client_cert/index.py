"""FC ``albmtls-issue-client-cert``: issue (or reuse) each client's certificate; PFX + password to KMS."""
from shared.entry.handler import fc_handler
from shared.policy.contracts import StepEvent
from shared.steps.issuance import run

handler = fc_handler(StepEvent, run, step="issue_client_cert")

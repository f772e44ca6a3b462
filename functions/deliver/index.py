"""FC ``albmtls-deliver``: deliver each new certificate to its holder (a person's one-time download
link by email, a system's webhook) and tell the operators when a rotation failed;
``shared.steps.deliver.run``."""
from shared.entry.handler import fc_handler
from shared.steps.deliver import DeliverEvent, run

handler = fc_handler(DeliverEvent, run, step="deliver")

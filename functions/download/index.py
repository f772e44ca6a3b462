"""FC ``albmtls-download``: the self-service download page behind its own anonymous HTTP trigger
(the link's one-time token is the credential; it does nothing else); ``shared.entry.download``."""
from shared.entry.download import make_handler

handler = make_handler()

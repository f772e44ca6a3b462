"""FC 3.0 HTTP trigger: the provisioning API (routes and errors in ``shared.entry.api``)."""
from shared.core.settings import Settings
from shared.entry.api import Api, make_handler

handler = make_handler(lambda: Api(Settings.load))

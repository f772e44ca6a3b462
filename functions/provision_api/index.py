"""FC 3.0 HTTP trigger: the provisioning API (routes and errors in ``shared.api``)."""
from shared.api import Api, make_handler
from shared.settings import Settings

handler = make_handler(lambda: Api(Settings.load))

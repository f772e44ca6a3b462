"""Security Token Service (``sts`` 2015-04-01, RPC) of the local cloud: ``GetCallerIdentity`` only —
who the caller's AccessKey is, so the CLI's first line (account and region) and ``albmtls doctor``
work against the local cloud as against a real account.

Local choices are ``models.ASSUMPTIONS``.
"""
from . import responses  # noqa: F401 — registers the actions
from .models import VERSION

__all__ = ["VERSION"]

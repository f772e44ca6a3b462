"""ActionTrail (``actiontrail`` 2020-07-06, RPC) of the local cloud: the audit trail of the local KMS.

Every KMS call signed with a key the local cloud knows (the fixed one, or one made for a RAM
principal: ``localcloud/ram.py``) becomes an event — as the real service records every KMS API call
except ``DescribeRegions`` — with the caller's ``userIdentity``; ``LookupEvents`` queries them with
the documented lookup attributes, time range and paging. Local choices are ``models.ASSUMPTIONS``.
"""
from . import responses  # noqa: F401 — registers the actions
from .models import VERSION

__all__ = ["VERSION"]

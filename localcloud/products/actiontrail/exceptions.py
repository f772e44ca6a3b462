"""ActionTrail error codes: LookupEvents answers the gateway's parameter errors
(``localcloud/errors.py``: ``InvalidParameter``, ``MissingParameter``) and, over its quota, the
product's throttling answer (``localcloud/products/__init__.py``)."""
from __future__ import annotations

"""STS error codes: GetCallerIdentity has none of its own (the gateway's, ``localcloud/errors.py``)."""
from __future__ import annotations

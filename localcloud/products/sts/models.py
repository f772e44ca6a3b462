"""The caller's identity over the local cloud's one account (``localcloud/account.py``; the keys
made for principals: ``localcloud/ram.py``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ... import ram

if TYPE_CHECKING:
    from ...store import Store

VERSION = "2015-04-01"

# Behaviour a real account has not confirmed; the local cloud's choices.
ASSUMPTIONS: dict[str, str] = {
    "caller": "the local cloud's fixed AccessKey is a RAM user `albmtls-local` of its one account "
              "(IdentityType RAMUser, Arn acs:ram::<account>:user/albmtls-local); the SDK model's example type. "
              "A key made for a role (`POST /_admin/ram/access-keys`) answers IdentityType AssumedRoleUser, Arn "
              "acs:ram::<account>:assumed-role/<role>/<session> (`localcloud/ram.py`).",
}

USER_NAME = ram.LOCAL_USER


def caller_identity(store: Store, access_key_id: str) -> dict[str, Any]:
    """``GetCallerIdentity`` of ``access_key_id`` (``localcloud/ram.py::caller``)."""
    return ram.caller(store, access_key_id)

"""The caller's identity over the local cloud's one account (``localcloud/account.py``)."""
from __future__ import annotations

import hashlib
from typing import Any

from ...account import ACCOUNT_ID

VERSION = "2015-04-01"

# Behaviour a real account has not confirmed; the local cloud's choices.
ASSUMPTIONS: dict[str, str] = {
    "caller": "the local cloud's fixed AccessKey is a RAM user `albmtls-local` of its one account "
              "(IdentityType RAMUser, Arn acs:ram::<account>:user/albmtls-local); the SDK model's example type.",
}

USER_NAME = "albmtls-local"


def caller_identity(access_key_id: str) -> dict[str, Any]:
    """``GetCallerIdentity`` of ``access_key_id`` (a RAM user of the local account)."""
    user_id = str(int(hashlib.sha256(access_key_id.encode()).hexdigest()[:15], 16))[:16]
    return {"AccountId": ACCOUNT_ID, "Arn": f"acs:ram::{ACCOUNT_ID}:user/{USER_NAME}", "IdentityType": "RAMUser",
            "PrincipalId": user_id, "UserId": user_id, "RoleId": None}

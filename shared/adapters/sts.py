"""Who the credentials are: STS 2015-04-01 ``GetCallerIdentity`` (``alibabacloud_sts20150401``,
imported on first use — only the CLI and ``albmtls doctor`` call it; no function does).

The call needs no RAM permission and takes no parameters; the answer is the account (``AccountId``),
the identity's ``Arn``, ``IdentityType`` (``Account``, ``RAMUser``, ``AssumedRoleUser`` …),
``PrincipalId``, ``UserId``, ``RoleId`` (wire names from the SDK model
``_get_caller_identity_response_body.py``; docs/ALIBABA-APIS.md §4.2).
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.adapters.base import Adapter

__all__ = ["CallerIdentity", "Sts"]


@dataclass(frozen=True, slots=True)
class CallerIdentity:
    """``GetCallerIdentity``'s answer (module doc)."""

    account_id: str
    arn: str | None
    identity_type: str | None
    principal_id: str | None
    user_id: str | None
    role_id: str | None


class Sts(Adapter):
    """The Security Token Service (module doc)."""

    product = "sts"

    def caller_identity(self) -> CallerIdentity:
        """``GetCallerIdentity``. Raises ``AlbMtlsError`` (``CREDENTIALS_MISSING``/``_INVALID`` among
        others) or ``TransientError``."""
        client = self.client
        body = self.call("sts:GetCallerIdentity", lambda: client.get_caller_identity()).body
        return CallerIdentity(account_id=str(body.account_id or ""), arn=body.arn, identity_type=body.identity_type,
                              principal_id=body.principal_id, user_id=body.user_id, role_id=body.role_id)

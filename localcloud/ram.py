"""Who a signed request comes from: the local cloud's RAM identities.

The local cloud has one fixed AccessKey (``localcloud/account.py``), a RAM user ``albmtls-local``
that the product, the CLI and the tests use. A holder that reads its own secrets does so as its own
principal (``clients[].holder.ram_principal``, docs/DELIVERY.md "Systems: pull access"), so the
admin API makes an AccessKey for a principal (``POST /_admin/ram/access-keys {"principal": ARN}``):

* ``acs:ram::<account>:user/<name>`` — a RAM user's permanent key (``LTAI…``), as ``CreateAccessKey``
  gives one;
* ``acs:ram::<account>:role/<name>`` — a role's temporary key (``STS.…`` with a security token), as
  ``AssumeRole`` gives one (session name ``session`` in the body, default ``albmtls-local``).

:func:`identity` is what a call by a key is recorded as — the ``userIdentity`` of an ActionTrail
event, in the shape of ActionTrail's public samples (``type`` ``ram-user`` with ``principalId``
the user id and ``userName`` the user's name; ``assumed-role`` with ``principalId``
``<role id>:<session>`` and ``userName`` ``<role name>:<session>``; both with ``accountId`` and
``accessKeyId``) — and STS ``GetCallerIdentity`` answers from the same record.

The local cloud does not evaluate RAM policies: any key may call any action (COVERAGE.md).
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .account import ACCESS_KEY_ID, ACCESS_KEY_SECRET, ACCOUNT_ID

if TYPE_CHECKING:
    from .store import Store

__all__ = ["Principal", "AccessKeys", "create_access_key", "identity", "caller", "admin", "LOCAL_USER"]

KIND = "ram_access_key"
LOCAL_USER = "albmtls-local"
_ARN = re.compile(r"^acs:ram::(?P<account>[0-9]{1,32}):(?P<type>user|role)/(?P<name>[A-Za-z0-9._@-]{1,128})$")
_SESSION = re.compile(r"^[A-Za-z0-9._@-]{2,64}$")


@dataclass(frozen=True)
class Principal:
    """A RAM user or an assumed role (``session``) of the local account."""

    type: str            # "user" | "role"
    name: str
    session: str = ""

    @property
    def id(self) -> str:
        """A stable numeric id (the user id, or the role id), as RAM's are digits."""
        return str(int(hashlib.sha256(f"{self.type}/{self.name}".encode()).hexdigest()[:15], 16))[:16]

    @property
    def arn(self) -> str:
        return f"acs:ram::{ACCOUNT_ID}:{self.type}/{self.name}"


def _digest_id(access_key_id: str) -> str:
    return str(int(hashlib.sha256(access_key_id.encode()).hexdigest()[:15], 16))[:16]


class AccessKeys(dict):
    """The keys the control plane verifies signatures with: the fixed one, then those made for
    principals (kept in the store, so they survive a restart of ``albmtls up``)."""

    def __init__(self, store: Store) -> None:
        super().__init__({ACCESS_KEY_ID: ACCESS_KEY_SECRET})
        self._store = store

    def get(self, key: Any, default: Any = None) -> Any:
        found = super().get(key)
        if found is not None:
            return found
        doc = self._store.get(KIND, str(key)) if isinstance(key, str) else None
        return doc["secret"] if doc else default


def parse_principal(arn: str, session: str | None = None) -> Principal:
    """The principal an ARN names; ``ValueError`` for another account or a malformed ARN."""
    m = _ARN.match(arn or "")
    if not m:
        raise ValueError(f"principal {arn!r} is not acs:ram::<account>:user/<name> or …:role/<name>")
    if m.group("account") != ACCOUNT_ID:
        raise ValueError(f"principal {arn!r} is not of the local account {ACCOUNT_ID}")
    if m.group("type") == "role":
        s = session or LOCAL_USER
        if not _SESSION.match(s):
            raise ValueError("session: 2-64 letters, digits and . _ @ -")
        return Principal("role", m.group("name"), s)
    return Principal("user", m.group("name"))


def create_access_key(store: Store, arn: str, session: str | None = None) -> dict[str, Any]:
    """A new AccessKey for principal ``arn`` (module doc): ``{AccessKeyId, AccessKeySecret,
    SecurityToken?, principal}``."""
    p = parse_principal(arn, session)
    if p.type == "role":
        akid = "STS." + secrets.token_hex(12).upper()
        token = secrets.token_urlsafe(32)
    else:
        akid = "LTAI" + secrets.token_hex(10).upper()
        token = None
    secret = secrets.token_urlsafe(24)
    store.put(KIND, akid, {"secret": secret, "type": p.type, "name": p.name, "session": p.session})
    out: dict[str, Any] = {"AccessKeyId": akid, "AccessKeySecret": secret, "principal": p.arn}
    if token:
        out["SecurityToken"] = token
    return out


def _principal_of(store: Store, access_key_id: str) -> Principal | None:
    if access_key_id == ACCESS_KEY_ID or not access_key_id:
        return None
    doc = store.get(KIND, access_key_id)
    if doc is None:
        return None
    return Principal(doc["type"], doc["name"], doc.get("session") or "")


def identity(store: Store, access_key_id: str) -> dict[str, Any]:
    """The ``userIdentity`` of a call signed with ``access_key_id`` (module doc)."""
    p = _principal_of(store, access_key_id)
    if p is None:     # the fixed key: the RAM user albmtls-local
        return {"type": "ram-user", "principalId": _digest_id(access_key_id or ACCESS_KEY_ID),
                "accountId": ACCOUNT_ID, "userName": LOCAL_USER, "accessKeyId": access_key_id}
    if p.type == "role":
        return {"type": "assumed-role", "principalId": f"{p.id}:{p.session}", "accountId": ACCOUNT_ID,
                "userName": f"{p.name}:{p.session}", "accessKeyId": access_key_id}
    return {"type": "ram-user", "principalId": p.id, "accountId": ACCOUNT_ID, "userName": p.name,
            "accessKeyId": access_key_id}


def caller(store: Store, access_key_id: str) -> dict[str, Any]:
    """STS ``GetCallerIdentity`` of ``access_key_id`` (wire names of its SDK model)."""
    p = _principal_of(store, access_key_id)
    if p is None:
        uid = _digest_id(access_key_id or ACCESS_KEY_ID)
        return {"AccountId": ACCOUNT_ID, "Arn": f"acs:ram::{ACCOUNT_ID}:user/{LOCAL_USER}",
                "IdentityType": "RAMUser", "PrincipalId": uid, "UserId": uid, "RoleId": None}
    if p.type == "role":
        return {"AccountId": ACCOUNT_ID, "Arn": f"acs:ram::{ACCOUNT_ID}:assumed-role/{p.name}/{p.session}",
                "IdentityType": "AssumedRoleUser", "PrincipalId": f"{p.id}:{p.session}", "UserId": None,
                "RoleId": p.id}
    return {"AccountId": ACCOUNT_ID, "Arn": p.arn, "IdentityType": "RAMUser", "PrincipalId": p.id,
            "UserId": p.id, "RoleId": None}


def admin(store: Store, method: str, rest: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """``/_admin/ram/access-keys``: ``POST {"principal", "session"?}`` makes a key (module doc)."""
    if rest.strip("/") != "access-keys":
        return 404, {"error": f"no admin route ram/{rest}"}
    if method != "POST":
        return 405, {"error": "POST {\"principal\": \"acs:ram::<account>:user/<name>\" or …:role/<name>}"}
    try:
        return 200, create_access_key(store, str(body.get("principal") or ""), body.get("session"))
    except ValueError as exc:
        return 400, {"error": str(exc)}

"""Wire protocol of Alibaba Cloud RPC OpenAPIs as the Tea/Darabonba SDK speaks it
(``docs/ALIBABA-APIS.md`` §4): request signature checks, flattened parameters, typed
parameter access.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from . import errors

if TYPE_CHECKING:
    import builtins
    from collections.abc import Iterable

_AUTH_RE = re.compile(
    r"^ACS3-HMAC-SHA256\s+Credential=(?P<cred>[^,]+),\s*SignedHeaders=(?P<sh>[^,]+),\s*Signature=(?P<sig>[0-9a-fA-F]+)$")


def _pct(value: str) -> str:
    return quote(value, safe="~")


def verify_acs3(method: str, path: str, query: list[tuple[str, str]], headers: dict[str, str],
                body: bytes, keys: dict[str, str]) -> str:
    """Check an ACS3-HMAC-SHA256 request signature; returns the access key id.

    Raises ``IncompleteSignature``, ``InvalidAccessKeyId.NotFound`` or ``SignatureDoesNotMatch``.
    ``headers`` must have lower-case names.
    """
    auth = headers.get("authorization", "")
    m = _AUTH_RE.match(auth.strip())
    if not m:
        raise errors.IncompleteSignature()
    akid = m.group("cred")
    secret = keys.get(akid)
    if secret is None:
        raise errors.InvalidAccessKeyIdNotFound()
    signed = m.group("sh").split(";")
    body_hash = hashlib.sha256(body).hexdigest()
    claimed_hash = headers.get("x-acs-content-sha256", "")
    if claimed_hash and claimed_hash != body_hash:
        raise errors.SignatureDoesNotMatch("The request body does not match x-acs-content-sha256.")
    canon_query = "&".join(f"{_pct(k)}={_pct(v)}" for k, v in sorted(query))
    canon_headers = "".join(f"{h}:{headers.get(h, '').strip()}\n" for h in signed)
    canon_req = "\n".join([method.upper(), path or "/", canon_query, canon_headers, ";".join(signed),
                           claimed_hash or body_hash])
    sts = "ACS3-HMAC-SHA256\n" + hashlib.sha256(canon_req.encode()).hexdigest()
    want = hmac.new(secret.encode(), sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, m.group("sig").lower()):
        raise errors.SignatureDoesNotMatch()
    return akid


def _pct_v2(value: str) -> str:
    return quote(value, safe="~")


def verify_v2(method: str, query: list[tuple[str, str]], keys: dict[str, str]) -> str:
    """Check a legacy RPC (HMAC-SHA1, signature version 1.0) signature; returns the access key id."""
    params = dict(query)
    sig = params.pop("Signature", None)
    akid = params.get("AccessKeyId")
    if not sig or not akid:
        raise errors.IncompleteSignature()
    secret = keys.get(akid)
    if secret is None:
        raise errors.InvalidAccessKeyIdNotFound()
    canon = "&".join(f"{_pct_v2(k)}={_pct_v2(v)}" for k, v in sorted(params.items()))
    sts = f"{method.upper()}&{_pct_v2('/')}&{_pct_v2(canon)}"
    want = base64.b64encode(hmac.new((secret + "&").encode(), sts.encode(), hashlib.sha1).digest()).decode()
    if not hmac.compare_digest(want, sig):
        raise errors.SignatureDoesNotMatch()
    return akid


def unflatten(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Rebuild lists and objects from flattened names (``Name.1.Field``, 1-based indices)."""
    root: dict[Any, Any] = {}
    for key, value in pairs:
        parts = key.split(".")
        node = root
        for i, part in enumerate(parts):
            k: Any = int(part) if part.isdigit() else part
            last = i == len(parts) - 1
            if last:
                node[k] = value
            else:
                nxt = node.get(k)
                if not isinstance(nxt, dict):
                    nxt = {}
                    node[k] = nxt
                node = nxt
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(isinstance(k, int) for k in node):
        return [_listify(node[k]) for k in sorted(node)]
    return {k: _listify(v) for k, v in node.items()}


_TRUE = {"true", "1"}
_FALSE = {"false", "0"}
_MISSING = object()


class Params:
    """Typed access to a request's (unflattened) parameters.

    Each getter raises ``MissingParameter`` for an absent required parameter and
    ``InvalidParameter`` for a value of the wrong type, out of range or outside an enum.
    """

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def has(self, name: str) -> bool:
        return name in self.raw and self.raw[name] not in ("", None)

    def _get(self, name: str, required: bool) -> Any:
        v = self.raw.get(name, _MISSING)
        if v is _MISSING or v == "" or v is None:
            if required:
                raise errors.MissingParameter(name)
            return _MISSING
        return v

    def str(self, name: str, required: bool = False, default: Any = None,
            enum: Iterable[str] | None = None, max_len: int | None = None) -> Any:
        v = self._get(name, required)
        if v is _MISSING:
            return default
        if not isinstance(v, str):
            raise errors.InvalidParameter(name, "A string is expected.")
        if enum is not None and v not in set(enum):
            raise errors.InvalidParameter(name, f"Valid values: {', '.join(enum)}.")
        if max_len is not None and len(v) > max_len:
            raise errors.InvalidParameter(name, f"At most {max_len} characters.")
        return v

    def int(self, name: builtins.str, required: builtins.bool = False, default: Any = None,
            min: int | None = None, max: int | None = None) -> Any:
        v = self._get(name, required)
        if v is _MISSING:
            return default
        try:
            n = int(v)
        except (TypeError, ValueError):
            raise errors.InvalidParameter(name, "An integer is expected.") from None
        if (min is not None and n < min) or (max is not None and n > max):
            raise errors.InvalidParameter(name, f"The value must be between {min} and {max}.")
        return n

    def bool(self, name: builtins.str, required: builtins.bool = False, default: Any = None) -> Any:
        v = self._get(name, required)
        if v is _MISSING:
            return default
        if isinstance(v, bool):
            return v
        s = str(v).strip().lower()
        if s in _TRUE:
            return True
        if s in _FALSE:
            return False
        raise errors.InvalidParameter(name, "A boolean (true or false) is expected.")

    def list(self, name: builtins.str, required: builtins.bool = False) -> builtins.list[Any]:
        """A flattened list (``Name.1``…); a single value becomes a one-item list."""
        v = self._get(name, required)
        if v is _MISSING:
            return []
        if isinstance(v, list):
            return v
        if isinstance(v, dict):
            raise errors.InvalidParameter(name, "A list is expected.")
        if isinstance(v, str) and v.startswith("["):
            import json
            try:
                parsed = json.loads(v)
            except ValueError:
                raise errors.InvalidParameter(name, "A list is expected.") from None
            if isinstance(parsed, list):
                return parsed
        return [v]

    def obj(self, name: builtins.str, required: builtins.bool = False) -> dict[builtins.str, Any]:
        v = self._get(name, required)
        if v is _MISSING:
            return {}
        if isinstance(v, str) and v.startswith("{"):
            import json
            try:
                v = json.loads(v)
            except ValueError:
                raise errors.InvalidParameter(name, "An object is expected.") from None
        if not isinstance(v, dict):
            raise errors.InvalidParameter(name, "An object is expected.")
        return v


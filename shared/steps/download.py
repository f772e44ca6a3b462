"""Self-service download of a person's certificate (FC ``albmtls-download``, its own anonymous
HTTP trigger: the link's token is the credential; docs/DELIVERY.md).

* :func:`open_link` — what a link's token is worth (``shared.policy.delivery.link_state``): the
  client's delivery record is found from the token's locator, the token by its SHA-256.
* :func:`download` — the holder's password checked for strength (zxcvbn score ≥ 3, 12–128
  printable ASCII), the PKCS#12 built anew for that password in the chosen profile from the key in
  KMS (the stored PFX and its password, read by the certificate's version id, never leave this
  function), then the link is **claimed** — a new version of the delivery record whose
  ``VersionId`` is derived from the token: KMS refuses a second version of the same id, so only
  one download per link succeeds — and only then the file is returned.

Nothing here logs the token, the password or the file; log lines carry the CN, the listener and
the serial.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import msgspec

from shared.adapters import kms as kms_api
from shared.core.errors import AlbMtlsError, Code, InvalidInputError
from shared.policy.delivery import (
    Delivery,
    DeliveryRecord,
    LinkState,
    claim_version,
    encode_record,
    link_state,
    parse_token,
    stamp,
)
from shared.policy.ids import SecretNames, secret_names

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext

__all__ = ["STEP", "LinkView", "open_link", "download", "password_problems", "MIN_SCORE"]

STEP = "download"
MIN_SCORE = 3          # zxcvbn 0-4: 3 = "safely unguessable: moderate protection from offline attacks"
ZXCVBN_MAX = 72        # zxcvbn 4.5 raises ValueError past its max_length (a DoS guard): score the first 72


@dataclass(frozen=True, slots=True)
class LinkView:
    """A link at one instant: its state, and (when found) the record, entry and secret names."""

    state: LinkState
    names: SecretNames | None = None
    record: DeliveryRecord | None = None
    entry: Delivery | None = None
    current_serial: str | None = None


def _names(base: str) -> SecretNames:
    prefix, listener_key, cn = base.split("/")
    return secret_names(prefix, listener_key, cn)


def open_link(ctx: StepContext, token: str) -> LinkView:
    """Read-only: the delivery record the token points at and the token's state there."""
    from shared.steps.deliver import read_record
    from shared.steps.issuance import read_meta
    base = parse_token(token)
    if base is None:
        return LinkView("unknown")
    names = _names(base)
    record = read_record(ctx, names)
    if record is None:
        return LinkView("unknown", names)
    meta = read_meta(ctx, names.meta)
    current = meta.serial if meta is not None else None
    state, entry = link_state(record, token, ctx.clock.now(), current)
    if state == "valid":
        from shared.steps.offboarding import read_access
        access = read_access(ctx, names.access)
        if access is not None and access.state == "revoked":    # albmtls revoke: no link works any more
            return LinkView("revoked", names, record, entry, current)
    return LinkView(state, names, record, entry, current)


def password_problems(password: str, user_inputs: list[str]) -> list[str]:
    """What is wrong with ``password`` for a PFX a person types in (empty when it is fine):
    12–128 printable ASCII characters (the importers' common ground,
    ``shared.policy.pfx.validate_password``) and a zxcvbn score of at least :data:`MIN_SCORE`."""
    from shared.policy.pfx import validate_password
    try:
        validate_password(password)
    except InvalidInputError as exc:
        return [exc.message]
    from zxcvbn import zxcvbn  # type: ignore[import-untyped]  # (no type information shipped)
    result = zxcvbn(password[:ZXCVBN_MAX], user_inputs=[u for u in user_inputs if u])
    if int(result.get("score", 0)) >= MIN_SCORE:
        return []
    fb = result.get("feedback") or {}
    out = ["this password is too easy to guess"]
    if fb.get("warning"):
        out.append(str(fb["warning"]))
    out += [str(s) for s in fb.get("suggestions") or []]
    return out


def download(ctx: StepContext, token: str, password: str, confirm: str,
             profile: Literal["compat", "modern"]) -> tuple[bytes, str, LinkView]:
    """The PFX for ``password`` (module doc); returns (file bytes, file name, the link as it was).

    Raises ``AlbMtlsError``: ``LINK_USED`` / ``LINK_EXPIRED`` / ``LINK_REPLACED`` / ``LINK_UNKNOWN`` /
    ``LINK_REVOKED`` (the holder was revoked; nothing is read beyond the records),
    ``INVALID_INPUT`` (field ``password`` or ``profile``: the link stays valid),
    ``SECRET_NOT_FOUND``, cloud errors."""
    from cryptography.hazmat.primitives.serialization import pkcs12

    from shared.policy.pfx import build_pfx
    view = open_link(ctx, token)
    if view.state != "valid":
        raise AlbMtlsError(f"LINK_{view.state.upper()}", f"this download link is {view.state}")
    assert view.names is not None and view.record is not None and view.entry is not None
    if profile not in ("compat", "modern"):
        raise InvalidInputError("profile", "choose compat or modern")
    if password != confirm:
        raise InvalidInputError("password", "the two passwords differ")
    holder = view.record.holder
    problems = password_problems(password, [view.record.common_name, "alb-mtls", "albmtls",
                                            holder.name if holder else "", holder.email if holder and holder.email
                                            else ""])
    if problems:
        raise InvalidInputError("password", "; ".join(problems))
    kms = ctx.adapter(kms_api.Kms)
    serial = view.entry.serial
    pfx_v = kms.get_secret_value(view.names.pfx, version_id=serial)
    pw_v = kms.get_secret_value(view.names.password, version_id=serial)
    if pfx_v is None or pw_v is None:
        raise AlbMtlsError(Code.SECRET_NOT_FOUND, f"the certificate {serial[:16]}… of "
                           f"{view.record.common_name!r} is no longer stored; ask for a new link")
    key, cert, cas = pkcs12.load_key_and_certificates(base64.b64decode(pfx_v.data), pw_v.data.encode())
    del pfx_v, pw_v
    if key is None or cert is None:
        raise AlbMtlsError(Code.PFX_CHECK_FAILED, "the stored PKCS#12 holds no key or certificate")
    data = build_pfx(key, cert, list(cas or []), password, profile,  # type: ignore[arg-type]  # our own key: RSA/EC
                     verify=True)
    del key
    now = ctx.clock.now()
    entry = view.entry
    claimed = msgspec.structs.replace(entry, token_used_at=stamp(now), downloaded_at=entry.downloaded_at or stamp(now),
                                      download_profile=profile)
    record = view.record.with_entry(claimed)
    try:   # the claim: one version per token (module doc)
        kms.put_secret_value(view.names.delivery, encode_record(record), claim_version(token), data_type="text")
    except AlbMtlsError as exc:
        if (exc.cloud_code or "").startswith("Rejected.ResourceExist") or exc.status_code == 409:
            raise AlbMtlsError("LINK_USED", "this download link is used") from None
        raise
    ctx.logger.info("certificate downloaded", extra={
        "common_name": view.record.common_name, "listener_key": view.record.listener_key, "serial": serial,
        "profile": profile, "first_download": entry.downloaded_at is None})
    safe = "".join(c if c.isalnum() or c in "-_.@" else "_" for c in view.record.common_name)
    return data, f"{safe}.p12", view

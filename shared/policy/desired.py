"""The one record type of a listener's desired state: :class:`DesiredState`.

What a listener should look like — its whole provision input, as last applied — is kept in the
cloud, in ONE place: the KMS secret ``<secret prefix>/<listener key>/desired``
(``shared.policy.ids.desired_state_name``; docs/ARCHITECTURE.md "stored records"). Every start of a
provision execution records it first (``shared.steps.provisioning.start_provision``, the one path of
``albmtls provision``, ``albmtls apply`` and the HTTP API), and only when it changed, so a second
apply writes nothing. The drift check (``shared.steps.drift``), the fleet plan and the inventory read
it back: it is what makes them right on a fresh machine, and what the daily drift timer compares
the cloud with (and re-applies when the listener says ``auto_repair``).

The record is not secret (no key, PFX or password is ever part of an input); KMS is simply where
this automation already keeps its per-listener records. Encoding: compact JSON text; above
:data:`TEXT_MAX` bytes (hundreds of clients), zlib-compressed and stored as a ``binary`` secret
(Base64) — the KMS secret value limit is not documented in the sources read (localcloud/COVERAGE.md).

Pure: encoding, decoding and comparison only.
"""
from __future__ import annotations

import base64
import hashlib
import zlib
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from shared.core.errors import AlbMtlsError
from shared.policy.contracts import ProvisionInput
from shared.policy.validation import decode

__all__ = ["DESIRED_VERSION", "TEXT_MAX", "DesiredState", "desired_state", "encode_desired", "decode_desired",
           "desired_input", "same_input", "comparable", "version_id", "input_digest"]

DESIRED_VERSION = 1
#: above this many bytes of JSON the record is stored zlib-compressed as a binary secret
TEXT_MAX = 16 * 1024
_ZLIB_MARK = "zlib:"

DataType = Literal["text", "binary"]


class DesiredState(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A listener's desired state: ``input`` = its provision input (every field, defaults
    included: ``msgspec.to_builtins`` of the decoded ``ProvisionInput``), ``recorded_at`` (ISO UTC),
    ``execution`` = the provision execution started to apply it, ``digest`` = SHA-256 of ``input``'s
    canonical JSON (what the ``VersionId`` carries)."""

    v: int = DESIRED_VERSION
    listener_key: str
    recorded_at: str
    digest: str
    execution: str | None = None
    input: dict[str, Any]


def input_digest(doc: dict[str, Any]) -> str:
    """SHA-256 (hex) of ``doc`` as canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(msgspec.json.encode(doc, order="sorted")).hexdigest()


def desired_state(inp: ProvisionInput, *, now: datetime, execution: str | None = None) -> DesiredState:
    """The record of ``inp`` recorded at ``now``."""
    doc = msgspec.json.decode(msgspec.json.encode(inp))   # JSON types only (lists, not tuples)
    at = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return DesiredState(listener_key=inp.listener_key, recorded_at=at, digest=input_digest(doc),
                        execution=execution, input=doc)


def version_id(rec: DesiredState) -> str:
    """The KMS ``VersionId`` of ``rec``: ``<yyyymmddThhmmssZ>-<16 hex of its digest>`` (≤ 64 chars;
    unique per recording, so going back to an earlier input stores a new version)."""
    stamp = rec.recorded_at.replace("-", "").replace(":", "")
    return f"{stamp}-{rec.digest[:16]}"


def encode_desired(rec: DesiredState) -> tuple[str, DataType]:
    """``(secret data, SecretDataType)``: compact JSON, or ``zlib:`` + Base64 of the compressed JSON
    (``binary``) when the JSON is longer than :data:`TEXT_MAX` bytes."""
    raw = msgspec.json.encode(rec)
    if len(raw) <= TEXT_MAX:
        return raw.decode("utf-8"), "text"
    packed = _ZLIB_MARK.encode() + zlib.compress(raw, 9)
    return base64.b64encode(packed).decode("ascii"), "binary"


def decode_desired(data: str, data_type: str = "text") -> DesiredState | None:
    """The record in ``data`` (as :func:`encode_desired` wrote it), or ``None`` when it is not one."""
    try:
        raw: bytes = data.encode("utf-8")
        if data_type == "binary":
            packed = base64.b64decode(data, validate=True)
            if not packed.startswith(_ZLIB_MARK.encode()):
                return None
            raw = zlib.decompress(packed[len(_ZLIB_MARK):])
        return msgspec.json.decode(raw, type=DesiredState)
    except (ValueError, zlib.error, msgspec.DecodeError, msgspec.ValidationError):
        return None


def desired_input(rec: DesiredState) -> ProvisionInput:
    """The recorded input decoded as a ``ProvisionInput``. Raises ``AlbMtlsError`` (the field named)
    when today's rules refuse it — apply the listener again to record a valid one."""
    try:
        return decode(ProvisionInput, rec.input)
    except AlbMtlsError as exc:
        raise AlbMtlsError(exc.code, f"the desired state recorded for {rec.listener_key} on {rec.recorded_at} is no "
                           f"longer valid ({exc.message}); apply that listener again",
                           field=exc.field) from None


def comparable(inp: ProvisionInput, default_region: str | None = None) -> dict[str, Any]:
    """``inp`` normalised for comparison: JSON builtins with every default written out, and
    ``region`` the one it runs in (``default_region``, the settings' region, when it names none) — an
    input that leaves out ``region`` or a default is the same setup as one that writes it."""
    doc: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(inp))   # JSON types (lists, not tuples)
    if doc.get("region") is None and default_region:
        doc["region"] = default_region
    return doc


def same_input(rec: DesiredState | None, inp: ProvisionInput, default_region: str | None = None) -> bool:
    """True when ``rec`` records the same setup as ``inp`` (compared as :func:`comparable` documents,
    so key order, defaults written out or left implicit, and a region left to its default do not
    matter)."""
    if rec is None:
        return False
    try:
        return comparable(desired_input(rec), default_region) == comparable(inp, default_region)
    except AlbMtlsError:
        return False

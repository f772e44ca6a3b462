"""Decode untrusted events into typed inputs; every failure becomes an ``AlbMtlsError``.

``decode(ProvisionInput, data)`` accepts JSON ``bytes``/``bytearray``/``memoryview``/``str``
(what FC passes) or already-parsed builtins (``dict``; local callers). Failures raise
:class:`~shared.errors.AlbMtlsError` — ``INVALID_INPUT`` (or the specific code a ``__post_init__``
chose, e.g. ``APEX_CNAME_REFUSED``) with ``field`` = the dotted path (``clients[0].days``) and a
message naming it. Nothing else escapes (not ``msgspec.ValidationError``, not ``UnicodeError``).
"""
from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from shared.errors import AlbMtlsError, Code

__all__ = ["decode", "error_from_validation"]

T = TypeVar("T")

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_OURS = re.compile(r"^(?:invalid `(?P<f1>[^`]+)`: |\[(?P<code>[A-Z_]+)\] `(?P<f2>[^`]+)`: )(?P<msg>.*)$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>.*)`$", re.S)  # any key: empty, or with backticks
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")


def _join(path: str, name: str) -> str:
    if not path:
        return name
    return f"{path}.{name}" if not name.startswith("[") else f"{path}{name}"


def error_from_validation(exc: msgspec.ValidationError | msgspec.DecodeError) -> AlbMtlsError:
    """Turn a msgspec decode/validation error into an ``AlbMtlsError`` naming the field."""
    text = str(exc)
    if isinstance(exc, msgspec.ValidationError):
        m = _AT.match(text)
        msg = (m.group("msg") if m else text).strip()
        path = (m.group("path") or "") if m else ""
        path = path.lstrip(".")
        ours = _OURS.match(msg)
        if ours:
            fld = _join(path, ours.group("f1") or ours.group("f2"))
            code = ours.group("code") or Code.INVALID_INPUT
            return AlbMtlsError(code, f"`{fld}`: {ours.group('msg')}", field=fld)
        unknown = _UNKNOWN.match(msg)
        if unknown:
            fld = _join(path, unknown.group("name") or '""')
            return AlbMtlsError(Code.INVALID_INPUT, f"`{fld}` is not a known field; remove it or check its spelling "
                                "(see docs/CONTRACTS.md)", field=fld)
        missing = _MISSING.match(msg)
        if missing:
            fld = _join(path, missing.group("name"))
            return AlbMtlsError(Code.INVALID_INPUT, f"`{fld}` is required", field=fld)
        fld = path or None
        where = f"`{fld}`" if fld else "the input"
        return AlbMtlsError(Code.INVALID_INPUT, f"{where}: {msg}", field=fld)
    return AlbMtlsError(Code.INVALID_INPUT, "the event is not valid JSON (send one JSON object)")


def decode(type_: type[T], data: Any) -> T:
    """Decode ``data`` (JSON bytes/str, or builtins) into ``type_`` (a msgspec Struct type).

    Raises
    ------
    AlbMtlsError
        ``INVALID_INPUT`` (or a more specific code from the struct's own checks) naming the field.
    """
    try:
        if isinstance(data, (bytes, bytearray, memoryview)):
            raw = bytes(data)
            if not raw.strip():
                raise AlbMtlsError(Code.INVALID_INPUT, "the event is empty; send the provision input as a JSON object")
            return msgspec.json.decode(raw, type=type_)
        if isinstance(data, str):
            if not data.strip():
                raise AlbMtlsError(Code.INVALID_INPUT, "the event is empty; send the provision input as a JSON object")
            return msgspec.json.decode(data.encode("utf-8", "surrogatepass"), type=type_)
        if isinstance(data, type_):
            return data
        return msgspec.convert(data, type=type_)
    except AlbMtlsError:
        raise
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise error_from_validation(exc) from None
    except (UnicodeError, ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise AlbMtlsError(Code.INVALID_INPUT, f"the event could not be decoded ({type(exc).__name__})") from None

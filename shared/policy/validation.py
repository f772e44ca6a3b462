"""Decode untrusted events into typed inputs; every failure becomes an ``AlbMtlsError``.

``decode(ProvisionInput, data)`` accepts JSON ``bytes``/``bytearray``/``memoryview``/``str``
(what FC passes) or already-parsed builtins (``dict``; local callers). Failures raise
:class:`~shared.core.errors.AlbMtlsError` — ``INVALID_INPUT`` (or the specific code a ``__post_init__``
chose, e.g. ``APEX_CNAME_REFUSED``) with ``field`` = the dotted path (``clients[0].days``) and a
message naming it. Nothing else escapes (not ``msgspec.ValidationError``, not ``UnicodeError``).

Messages say what is allowed: a value outside a ``Literal``/``Enum`` lists the valid values
(``expected one of: compat, modern``, found by walking ``type_`` along the error's path), and a
string that misses its pattern gets the words registered with :func:`pattern` instead of the regex.
"""
from __future__ import annotations

import re
from typing import Any, TypeVar

import msgspec

from shared.core.errors import AlbMtlsError, Code

__all__ = ["decode", "error_from_validation", "pattern", "limit"]

T = TypeVar("T")

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_OURS = re.compile(r"^(?:invalid `(?P<f1>[^`]+)`: |\[(?P<code>[A-Z_]+)\] `(?P<f2>[^`]+)`: )(?P<msg>.*)$", re.S)
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>.*)`$", re.S)  # any key: empty, or with backticks
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")
_REGEX = re.compile(r"^Expected `str` matching regex (?P<regex>'.*')$", re.S)
_ENUM = re.compile(r"^Invalid enum value (?P<value>.*)$", re.S)
_TAG = re.compile(r"^Invalid value (?P<value>.*)$", re.S)      # a tagged union's tag (``ca.kind``)
_WRONG_TYPE = re.compile(r"^Expected `[^`]+`, got `[^`]+`$")
_LENGTH = re.compile(r"^Expected `(?:str|array|object)` of length [<>]=? ?\d+$")
_PATH_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")

#: regex → what it allows, in words (filled by :func:`pattern`; msgspec's message quotes the regex).
_PATTERN_WORDS: dict[str, str] = {}


def pattern(regex: str, words: str, **constraints: Any) -> msgspec.Meta:
    """``msgspec.Meta(pattern=regex, **constraints)`` whose failure message says ``words``
    (e.g. ``"1-64 ASCII letters, digits or _ + = . @ -"``) instead of quoting the regex."""
    _PATTERN_WORDS[regex] = words
    return msgspec.Meta(pattern=regex, **constraints)


def _pattern_words(quoted: str) -> str | None:
    """The words for msgspec's ``'<regex>'`` (a Python repr of the pattern)."""
    try:
        import ast
        regex = ast.literal_eval(quoted)
    except (ValueError, SyntaxError):
        return None
    return _PATTERN_WORDS.get(regex) if isinstance(regex, str) else None


def _members(t: Any) -> list[Any]:
    from msgspec import inspect as mi

    while isinstance(t, mi.Metadata):
        t = t.type
    return list(t.types) if isinstance(t, mi.UnionType) else [t]


def _nodes_at(type_: Any, path: str) -> list[Any]:
    """The type nodes (``msgspec.inspect``, metadata kept) at ``path`` (``clients[0].profile``)."""
    from msgspec import inspect as mi

    nodes: list[Any] = [mi.type_info(type_)]
    for name, index in _PATH_PART.findall(path):
        nxt: list[Any] = []
        for t in (m for n in nodes for m in _members(n)):
            if name and isinstance(t, mi.StructType):
                nxt += [f.type for f in t.fields if f.encode_name == name]
            elif name and isinstance(t, mi.DictType):
                nxt.append(t.value_type)
            elif index and isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
                nxt.append(t.item_type)
            elif index and isinstance(t, mi.TupleType) and int(index) < len(t.item_types):
                nxt.append(t.item_types[int(index)])
        nodes = nxt
    return nodes


def limit(words: str, **constraints: Any) -> msgspec.Meta:
    """``msgspec.Meta(**constraints)`` whose length/size failure says ``words`` (the rule and its
    limit, e.g. ``"at most 64 characters (the X.509 limit for a common name, RFC 5280)"``)."""
    return msgspec.Meta(**constraints, extra={"limit_words": words})


def _limit_words(type_: Any, path: str) -> str | None:
    """The :func:`limit` words of the field at ``path``, if it has some."""
    from msgspec import inspect as mi

    for node in _nodes_at(type_, path):
        while isinstance(node, mi.Metadata):
            words = (node.extra or {}).get("limit_words")
            if words:
                return str(words)
            node = node.type
    return None


def _choices(type_: Any, path: str) -> list[Any] | None:
    """The values a ``Literal``/``Enum`` at ``path`` (``clients[0].profile``) of ``type_`` accepts."""
    from msgspec import inspect as mi

    nodes = _nodes_at(type_, path)
    values: list[Any] = []
    for t in (m for n in nodes for m in _members(n)):
        if isinstance(t, mi.LiteralType):
            values += [v for v in t.values if v not in values]
        elif isinstance(t, mi.EnumType):
            values += [e.value for e in t.cls if e.value not in values]
    return values or None


def _tags(type_: Any, path: str) -> list[str] | None:
    """The tags a tagged union accepts at ``path`` (``ca.kind``: the union at ``ca``, tag field ``kind``)."""
    from msgspec import inspect as mi

    parent, _, field = path.rpartition(".")
    tags = [str(t.tag) for n in _nodes_at(type_, parent) for t in _members(n)
            if isinstance(t, mi.StructType) and t.tag_field == field and t.tag is not None]
    return tags or None


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


_KINDS = re.compile(r"^Expected `(?P<want>\w+)`(?: \| `null`)?, got `(?P<got>\w+)`$")
#: what to write, for a value of the wrong kind (msgspec names the kinds as JSON does)
_WRITE = {"bool": "must be true or false, unquoted (YAML's yes/no/on/off are text here)",
          "int": "must be a whole number, unquoted (e.g. 443)",
          "str": "must be text in quotes",
          "array": "must be a list ([…])",
          "object": "must be an object ({…})"}
_A_KIND = {"str": "text", "int": "a number", "float": "a number", "bool": "true/false", "null": "null",
           "array": "a list", "object": "an object"}


def _reword(msg: str, path: str, type_: Any) -> str:
    """msgspec's own message, with the valid values of an enum and a pattern in words."""
    enum = _ENUM.match(msg)
    if enum or _WRONG_TYPE.match(msg):
        try:
            values = _choices(type_, path) if type_ is not None else None
        except Exception:  # never let the message builder hide the error itself
            values = None
        if values:
            listed = ", ".join(str(v) for v in values)
            if enum:
                return f"invalid value {_short(enum.group('value'))}; expected one of: {listed}"
            return f"{msg} (expected one of: {listed})"
        kinds = _KINDS.match(msg)
        if kinds and kinds.group("want") in _WRITE:
            return f"{_WRITE[kinds.group('want')]}, not {_A_KIND.get(kinds.group('got'), kinds.group('got'))}"
        return msg
    if _LENGTH.match(msg) and type_ is not None:
        try:
            words = _limit_words(type_, path)
        except Exception:  # never let the message builder hide the error itself
            words = None
        if words:
            return f"must be {words}"
    tag = _TAG.match(msg)
    if tag and type_ is not None:
        try:
            tags = _tags(type_, path)
        except Exception:  # never let the message builder hide the error itself
            tags = None
        if tags:
            return f"invalid value {_short(tag.group('value'))}; expected one of: {', '.join(tags)}"
    regex = _REGEX.match(msg)
    if regex:
        words = _pattern_words(regex.group("regex"))
        return f"must be {words}" if words else msg
    return msg


def _join(path: str, name: str) -> str:
    if not path:
        return name
    return f"{path}.{name}" if not name.startswith("[") else f"{path}{name}"


def error_from_validation(exc: msgspec.ValidationError | msgspec.DecodeError, type_: Any = None) -> AlbMtlsError:
    """Turn a msgspec decode/validation error into an ``AlbMtlsError`` naming the field.

    ``type_`` (the type being decoded) lets the message list the valid values of an enum."""
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
        where = f"`{path}`" if path else "the input"
        return AlbMtlsError(Code.INVALID_INPUT, f"{where}: {_reword(msg, path, type_)}", field=path or None)
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
        raise error_from_validation(exc, type_) from None
    except (UnicodeError, ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise AlbMtlsError(Code.INVALID_INPUT, f"the event could not be decoded ({type(exc).__name__})") from None

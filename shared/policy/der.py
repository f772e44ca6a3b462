"""A tiny DER/BER reader for PKCS#12 files: no ``cryptography`` API exposes the PBE algorithms of
a file, so ``shared.policy.pfx`` reads its ASN.1 with this (bounded depth, definite and indefinite
lengths, single-byte tags). Pure; no I/O.
"""
from __future__ import annotations

from typing import NamedTuple


class _DerError(ValueError):
    pass


class _Node(NamedTuple):
    tag: int          # the identifier octet (single-byte tags only)
    data: bytes       # the whole buffer
    start: int        # first content octet
    end: int          # one past the last content octet
    next: int         # one past this element (after an end-of-contents for indefinite length)

    @property
    def constructed(self) -> bool:
        return bool(self.tag & 0x20)

    @property
    def content(self) -> bytes:
        return self.data[self.start:self.end]


_MAX_DEPTH = 32


def _read(data: bytes, pos: int = 0, limit: int | None = None, depth: int = 0) -> _Node:
    limit = len(data) if limit is None else limit
    if depth > _MAX_DEPTH:
        raise _DerError("nesting too deep")
    if pos + 2 > limit:
        raise _DerError("truncated")
    tag = data[pos]
    if tag & 0x1F == 0x1F:
        raise _DerError("multi-byte tags are not used in PKCS#12")
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    elif first == 0x80:                       # BER indefinite length: children up to 00 00
        if not tag & 0x20:
            raise _DerError("indefinite length on a primitive")
        cur = pos
        while True:
            if cur + 2 > limit:
                raise _DerError("truncated")
            if data[cur] == 0 and data[cur + 1] == 0:
                return _Node(tag, data, pos, cur, cur + 2)
            cur = _read(data, cur, limit, depth + 1).next
    else:
        n = first & 0x7F
        if n > 4 or pos + n > limit:
            raise _DerError("bad length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    if pos + length > limit:
        raise _DerError("truncated")
    return _Node(tag, data, pos, pos + length, pos + length)


def _children(node: _Node, depth: int = 0) -> list[_Node]:
    if not node.constructed:
        raise _DerError("expected a constructed element")
    out, pos = [], node.start
    while pos < node.end:
        child = _read(node.data, pos, node.end, depth + 1)
        out.append(child)
        pos = child.next
    return out


def _expect(node: _Node, tag: int) -> _Node:
    if node.tag != tag:
        raise _DerError(f"expected tag {tag:#x}, got {node.tag:#x}")
    return node


def _octets(node: _Node) -> bytes:
    """Content of an OCTET STRING, primitive (0x04) or BER-constructed (0x24)."""
    if node.tag == 0x04:
        return node.content
    if node.tag == 0x24:
        return b"".join(_octets(c) for c in _children(node))
    raise _DerError("expected an OCTET STRING")


def _oid(node: _Node) -> str:
    raw = _expect(node, 0x06).content
    if not raw:
        raise _DerError("empty OID")
    arcs, value = [], 0
    for b in raw:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            arcs.append(value)
            value = 0
    first = min(arcs[0] // 40, 2)
    return ".".join(str(a) for a in [first, arcs[0] - 40 * first, *arcs[1:]])


def _int(node: _Node) -> int:
    return int.from_bytes(_expect(node, 0x02).content, "big", signed=True)


def _explicit0(node: _Node) -> _Node:
    kids = _children(_expect(node, 0xA0))
    if len(kids) != 1:
        raise _DerError("expected one element in [0]")
    return kids[0]


def _parse_whole(data: bytes) -> _Node:
    node = _read(data, 0)
    if node.next != len(data):
        raise _DerError("trailing data")
    return node

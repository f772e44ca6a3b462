"""Hypothesis strategies: a valid provision input with one field broken in every way a user (or
an attacker) might break it."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

REPO = Path(__file__).resolve().parents[2]
DEMO = json.loads((REPO / "examples" / "provision.json").read_text())

PEM_GARBAGE = st.sampled_from([
    "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n",
    "-----BEGIN CERTIFICATE-----\nMIIB\n",
    "-----BEGIN PRIVATE KEY-----\nMIIEvQ==\n-----END PRIVATE KEY-----\n",
    "-----BEGIN CERTIFICATE-----\n" + "A" * 5000 + "\n-----END CERTIFICATE-----\n",
    "\x00\x01\x02binary",
])
HUGE = st.integers(min_value=300, max_value=70_000).map(lambda n: "x" * n)
UNICODE = st.text(alphabet=st.characters(min_codepoint=0x80, max_codepoint=0x2FFFF, exclude_categories=["Cs"]),
                  min_size=1, max_size=40)
JUNK = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**70, max_value=2**70),
                 st.floats(allow_nan=True), st.text(max_size=30), UNICODE, HUGE,
                 st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=3))

# field path → strategies of bad values for it (plus JUNK everywhere)
BAD: dict[tuple, Any] = {
    ("listener_port",): st.one_of(st.integers(max_value=0), st.integers(min_value=65536), st.just("443")),
    ("ttl",): st.one_of(st.integers(max_value=0), st.integers(min_value=86401), st.floats()),
    ("domain",): st.one_of(UNICODE, st.sampled_from(["-bad.example", "a..b", "exa_mple.com", "com", "x" * 64 + ".com",
                                                     "ex ample.com", "例子.测试", "EXAMPLE.test."[:0] or "."])),
    ("rr",): st.one_of(UNICODE, st.sampled_from(["-a", "a-", "a..b", "@", "a b", "x" * 64, "*.*", "ä"])),
    ("clients", 0, "common_name"): st.one_of(UNICODE,
                                             st.sampled_from(["", " alice", "a/b", "a" * 65, "ålice", "a\nb"])),
    ("clients", 0, "days"): st.one_of(st.integers(max_value=0), st.integers(min_value=3651)),
    ("clients", 0, "profile"): st.text(max_size=10).filter(lambda s: s not in ("compat", "modern")),
    ("clients",): st.one_of(st.just([]), st.just([{"common_name": "a"}, {"common_name": "a"}])),
    ("load_balancer_id",): st.one_of(UNICODE, st.sampled_from(["", "lb-1", "alb-", "alb-UPPER"])),
    ("ca_identifier",): st.one_of(st.just(""), HUGE, UNICODE),
    ("server_certificate",): st.one_of(
        PEM_GARBAGE.map(lambda p: {"cert_pem": p, "key_secret_name": "k"}),
        PEM_GARBAGE.map(lambda p: {"cert_pem": p}),
        st.just({"certificate_id": "abc"}), st.just({"certificate_id": "1", "cert_pem": "x"})),
    ("server_group", "servers"): st.one_of(st.just([]), st.just([{"server_id": "i-1", "port": 0}])),
    ("server_group", "name"): st.one_of(st.just("1abc"), HUGE, UNICODE),
    ("region",): st.one_of(UNICODE, st.just("CN-HANGZHOU")),
    ("probe_requests",): st.one_of(st.integers(max_value=0), st.integers(min_value=101)),
    ("secret_prefix",): st.one_of(st.just(""), st.just("a b"), HUGE),
    ("unexpected_field",): JUNK,
}


def _set(doc: dict, path: tuple, value: Any) -> dict:
    doc = copy.deepcopy(doc)
    cur = doc
    for k in path[:-1]:
        cur = cur[k]
    cur[path[-1]] = value
    return doc


@st.composite
def broken_input(draw) -> tuple[dict, str]:
    """(a provision input with one field broken, the dotted path of that field)."""
    path = draw(st.sampled_from(sorted(BAD, key=str)))
    value = draw(st.one_of(BAD[path], JUNK) if path != ("unexpected_field",) else JUNK)
    dotted = ".".join(f"[{p}]" if isinstance(p, int) else p for p in path).replace(".[", "[")
    return _set(DEMO, path, value), dotted


def top_field(dotted: str) -> str:
    return dotted.split(".")[0].split("[")[0]

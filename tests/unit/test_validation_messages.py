"""What a user reads when an input is refused (``shared.policy.validation`` over ``shared.policy.contracts``):
enums list their values, patterns are said in words (never the regex), and a ``cert_pem`` that
is not PEM certificates is refused at validation, naming ``server_certificate.cert_pem``."""
from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from shared.core.errors import AlbMtlsError, Code
from shared.policy import validation
from shared.policy.contracts import ProvisionInput, StepEvent
from shared.policy.orders import DrainEvent
from shared.steps.rotation import ScanEvent, ScanPolicy

DEMO = json.loads((Path(__file__).resolve().parents[2] / "examples" / "provision.json").read_text())
GARBAGE_PEM = "-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n"


def _with(path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(DEMO)
    keys = [int(i) if i else k for k, i in re.findall(r"([^.\[\]]+)|\[(\d+)\]", path)]
    cur: Any = doc
    for k in keys[:-1]:
        cur = cur.setdefault(k, {}) if isinstance(k, str) else cur[k]
    cur[keys[-1]] = value
    return doc


def _refusal(doc: Any, type_: Any = ProvisionInput) -> AlbMtlsError:
    with pytest.raises(AlbMtlsError) as ei:
        validation.decode(type_, json.dumps(doc))
    return ei.value


# (field set, value, field named in the error, words the message must contain)
ENUMS = [
    ("clients[0].profile", "legacy", "clients[0].profile", "invalid value 'legacy'; expected one of: compat, modern"),
    ("clients[0].profile", 3, "clients[0].profile", "(expected one of: compat, modern)"),
    ("server_group.protocol", "TCP", "server_group.protocol", "expected one of: HTTP, HTTPS, gRPC"),
    ("server_group.health_check.method", "PUT", "server_group.health_check.method",
     "expected one of: GET, HEAD, POST"),
    ("server_group.health_check.codes", ["http_2xx", "http_6xx"], "server_group.health_check.codes[1]",
     "expected one of: http_2xx, http_3xx, http_4xx, http_5xx"),
]

PATTERNS = [
    ("clients[0].common_name", "Jürgen", "clients[0].common_name",
     "ASCII letters, digits and . _ @ + - only, starting with a letter or digit"),
    ("clients[0].common_name", "Alice Smith", "clients[0].common_name", "no spaces"),
    ("clients[0].common_name", "-alice", "clients[0].common_name", "starting with a letter or digit"),
    ("clients[0].common_name", "爱丽丝", "clients[0].common_name", "no accented or non-Latin letters"),
    ("clients[0].sans", ["bücher.example"], "clients[0].sans[0]", "internationalised names in xn-- form"),
    ("load_balancer_id", "lb-1", "load_balancer_id", "'alb-' then 1-64 lowercase ASCII letters or digits"),
    ("region", "CN-HANGZHOU", "region", "a region id such as cn-hangzhou"),
    ("secret_prefix", "a b", "secret_prefix", "1-64 ASCII letters, digits or _ + = . @ -"),
    ("security_policy_id", "policy!", "security_policy_id", "a TLS security policy id"),
    ("server_group.name", "1group", "server_group.name", "starting with a letter"),
    ("server_group.servers[0].server_id", "-i", "server_group.servers[0].server_id", "a backend id"),
    ("server_group.health_check.path", "/a b", "server_group.health_check.path", "percent-encode anything else"),
    ("server_certificate", {"cert_pem": "x -----BEGIN CERTIFICATE-----", "key_secret_name": "a key"},
     "server_certificate.key_secret_name", "a KMS secret name"),
]

CERT_PEM = [
    GARBAGE_PEM,
    "-----BEGIN CERTIFICATE-----\nMIIB\n",                                    # no END line
    "-----BEGIN CERTIFICATE-----\n" + "A" * 400 + "\n-----END CERTIFICATE-----\n",  # base64, not DER
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\nü",       # not ASCII
]


@pytest.mark.parametrize("path,value,field,words", ENUMS, ids=[c[0] + "=" + repr(c[1]) for c in ENUMS])
def test_an_enum_lists_its_values(path, value, field, words):
    err = _refusal(_with(path, value))
    assert err.code == Code.INVALID_INPUT and err.field == field
    assert words in err.message and "Invalid enum value" not in err.message


@pytest.mark.parametrize("path,value,field,words", PATTERNS, ids=[c[0] + "=" + repr(c[1]) for c in PATTERNS])
def test_a_pattern_is_said_in_words(path, value, field, words):
    err = _refusal(_with(path, value))
    assert err.code == Code.INVALID_INPUT and err.field == field
    assert words in err.message
    assert "regex" not in err.message and "^" not in err.message and "[A-Z" not in err.message


def test_a_length_limit_says_the_rule_and_the_limit():
    err = _refusal(_with("clients[0].common_name", "c" * 65))
    assert err.field == "clients[0].common_name"
    assert "1-64 characters long: the X.509 limit for a common name (RFC 5280" in err.message
    assert "Expected" not in err.message


def test_names_as_long_as_kms_allows():
    # 64 characters (the X.509 limit) fit with the default prefix; the example was refused at 64
    assert validation.decode(ProvisionInput, _with("clients[0].common_name", "payments-service-prod" + "x" * 43))
    err = _refusal(_with("secret_prefix", "p" * 64) | {"load_balancer_id": "alb-" + "a" * 60,
                                                        "clients": [{"common_name": "c" * 64}]})
    assert err.field == "clients[0].common_name" and "KMS allows at most 192" in err.message


def test_the_step_event_names_the_nested_field_and_lists_the_values():
    err = _refusal({"input": _with("clients[0].profile", "legacy")}, StepEvent)
    assert err.field == "input.clients[0].profile"
    assert "expected one of: compat, modern" in err.message


def test_a_long_bad_enum_value_is_shortened():
    err = _refusal(_with("clients[0].profile", "x" * 500))
    assert "expected one of: compat, modern" in err.message and len(err.message) < 200


@pytest.mark.parametrize("pem", CERT_PEM, ids=["not-base64", "no-end", "not-der", "not-ascii"])
def test_cert_pem_must_parse_as_pem_certificates(pem):
    err = _refusal(_with("server_certificate", {"cert_pem": pem, "key_secret_name": "albmtls/server-key"}))
    assert err.code == Code.INVALID_INPUT and err.field == "server_certificate.cert_pem"
    assert "does not parse as PEM certificates" in err.message
    assert pem.splitlines()[1][:20] not in err.message          # the input is not echoed


def test_cert_pem_with_a_real_chain_passes():
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    def cert(cn: str) -> str:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
        now = dt.datetime.now(dt.UTC)
        c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
             .serial_number(x509.random_serial_number()).not_valid_before(now)
             .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
        return c.public_bytes(serialization.Encoding.PEM).decode()

    chain = cert("app.example.test") + cert("intermediate")
    inp = validation.decode(ProvisionInput, json.dumps(
        _with("server_certificate", {"cert_pem": chain, "key_secret_name": "albmtls/server-key"})))
    assert inp.server_certificate.mode == "upload"


def test_the_parse_is_not_paid_at_import():
    """``cryptography.x509`` is imported by the check, not by importing the contracts (cold start)."""
    import subprocess
    import sys
    code = "import sys, shared.policy.contracts, shared.policy.validation; print('cryptography.x509' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout.strip()
    assert out == "False"


def _patterns(type_: Any) -> set[str]:
    """Every ``pattern`` constraint reachable from ``type_``."""
    from msgspec import inspect as mi
    found: set[str] = set()
    seen: set[int] = set()

    def walk(t: Any) -> None:
        if id(t) in seen:
            return
        seen.add(id(t))
        if isinstance(t, mi.Metadata):
            walk(t.type)
        elif isinstance(t, mi.StrType):
            if t.pattern:
                found.add(t.pattern)
        elif isinstance(t, mi.UnionType):
            for m in t.types:
                walk(m)
        elif isinstance(t, mi.StructType):
            for f in t.fields:
                walk(f.type)
        elif isinstance(t, (mi.ListType, mi.VarTupleType, mi.SetType, mi.FrozenSetType)):
            walk(t.item_type)
        elif isinstance(t, mi.TupleType):
            for m in t.item_types:
                walk(m)
        elif isinstance(t, mi.DictType):
            walk(t.key_type)
            walk(t.value_type)

    walk(mi.type_info(type_))
    return found


@pytest.mark.parametrize("type_", [ProvisionInput, StepEvent, ScanEvent, ScanPolicy, DrainEvent])
def test_every_input_pattern_has_words(type_):
    """A new ``Meta(pattern=…)`` without words would show users a regex again: use
    ``shared.policy.validation.pattern(regex, words)``."""
    missing = sorted(p for p in _patterns(type_) if p not in validation._PATTERN_WORDS)
    assert not missing, missing


def test_without_the_type_the_message_still_names_the_field_and_what_to_write():
    class X(msgspec.Struct):
        p: str = "a"
        b: bool = False

    for doc, words in [({"p": 1}, "must be text in quotes, not a number"),
                       ({"b": "no"}, "must be true or false, unquoted")]:
        try:
            msgspec.convert(doc, X)
        except msgspec.ValidationError as exc:
            err = validation.error_from_validation(exc)
        assert err.field == next(iter(doc)) and words in err.message and "Expected" not in err.message


def test_common_names_differing_only_in_case_are_refused_not_normalised():
    """Alice and alice on one listener: their PFX files collide on case-insensitive file systems.
    Refused (the CN is kept exactly as written), naming both clients."""
    base = _with("clients[0].common_name", "Alice")
    err = _refusal(base | {"clients": [{"common_name": "Alice"}, {"common_name": "bob"}, {"common_name": "alice"}]})
    assert err.code == Code.INVALID_INPUT and err.field == "clients[2].common_name"
    assert "'alice' differs from clients[0].common_name 'Alice' only in letter case" in err.message
    same = _refusal(base | {"clients": [{"common_name": "bob"}, {"common_name": "bob"}]})
    assert same.field == "clients[1].common_name" and "listed twice" in same.message
    ok = validation.decode(ProvisionInput, base | {"clients": [{"common_name": "Alice"}, {"common_name": "Bob"}]})
    assert [c.common_name for c in ok.clients] == ["Alice", "Bob"]      # kept as written

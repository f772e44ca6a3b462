"""ProvisionInput / StepEvent validation (docs/CONTRACTS.md) and the result structs."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.core.errors import AlbMtlsError, Code
from shared.policy.contracts import (
    ClientCertificateResult,
    ProbeRefusal,
    ProbeResult,
    ProbeWithCertificate,
    ProvisionInput,
    StepError,
    StepEvent,
    StepResult,
)
from shared.policy.validation import decode

EXAMPLE = json.loads((Path(__file__).parents[2] / "examples" / "provision.json").read_text())


def minimal() -> dict:
    return {
        "load_balancer_id": "alb-abc123", "domain": "example.test", "rr": "app",
        "ca_identifier": "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42",
        "server_group": {"name": "sg-app", "servers": [{"server_id": "i-1", "port": 80}]},
        "clients": [{"common_name": "alice"}],
    }


def test_example_decodes_with_defaults():
    inp = decode(ProvisionInput, json.dumps(EXAMPLE).encode())
    assert inp.listener_key == "alb-demostd000000000001-443"
    assert inp.fqdn == "app.example.test"
    assert inp.server_certificate.mode == "id"
    assert inp.server_certificate.parsed_id.for_cas() == 20000001
    assert inp.server_group.protocol == "HTTP"
    assert inp.server_group.health_check.codes == ("http_2xx", "http_3xx")
    assert inp.clients[0].days == 30 and inp.clients[0].profile == "compat"
    assert inp.secrets("alice").pfx == "albmtls/alb-demostd000000000001-443/alice/pfx"
    assert inp.secrets("alice").meta == "albmtls/alb-demostd000000000001-443/alice/meta"


def test_minimal_defaults():
    inp = decode(ProvisionInput, minimal())
    assert (inp.listener_port, inp.ttl, inp.allow_apex, inp.replace_owned_records) == (443, 600, False, True)
    assert inp.security_policy_id == "tls_cipher_policy_1_2" and inp.probe_requests == 10
    assert inp.server_certificate.mode == "find" and inp.client_cert_headers and inp.secret_prefix == "albmtls"
    assert inp.region is None
    assert inp.server_group.servers[0].weight == 100


def test_normalises_domain_and_rr():
    d = minimal() | {"domain": "Example.TEST.", "rr": "App"}
    inp = decode(ProvisionInput, d)
    assert inp.domain == "example.test" and inp.rr == "app" and inp.fqdn == "app.example.test"


def test_step_event_carries_execution_name_and_attempt():
    ev = decode(StepEvent, {"input": minimal(), "execution_name": "alb-abc123-443-20261129T000000Z", "attempt": 2})
    assert ev.execution_name.endswith("Z") and ev.attempt == 2 and ev.input.listener_port == 443
    with pytest.raises(AlbMtlsError) as info:
        decode(StepEvent, {"input": minimal() | {"attempt": 2}})
    assert info.value.field == "input.attempt"


def _set(d: dict, path: str, value):
    d = copy.deepcopy(d)
    cur = d
    parts = path.replace("]", "").replace("[", ".").split(".")
    for p in parts[:-1]:
        cur = cur[int(p)] if p.isdigit() else cur.setdefault(p, {})
    last = parts[-1]
    if value is _DEL:
        del cur[last]
    elif last.isdigit():
        cur[int(last)] = value
    else:
        cur[last] = value
    return d


_DEL = object()


@pytest.mark.parametrize(("path", "value", "code", "field"), [
    ("bogus", 1, Code.INVALID_INPUT, "bogus"),
    ("server_group.bogus", 1, Code.INVALID_INPUT, "server_group.bogus"),
    ("clients[0].bogus", 1, Code.INVALID_INPUT, "clients[0].bogus"),
    ("load_balancer_id", _DEL, Code.INVALID_INPUT, "load_balancer_id"),
    ("load_balancer_id", "lb-1", Code.INVALID_INPUT, "load_balancer_id"),
    ("listener_port", 0, Code.INVALID_INPUT, "listener_port"),
    ("listener_port", 65536, Code.INVALID_INPUT, "listener_port"),
    ("listener_port", "443", Code.INVALID_INPUT, "listener_port"),
    ("ttl", 0, Code.INVALID_INPUT, "ttl"),
    ("ttl", 86401, Code.INVALID_INPUT, "ttl"),
    ("domain", "localhost", Code.INVALID_INPUT, "domain"),
    ("domain", "exa mple.com", Code.INVALID_INPUT, "domain"),
    ("domain", "-bad.com", Code.INVALID_INPUT, "domain"),
    ("domain", "例子.com", Code.INVALID_INPUT, "domain"),
    ("rr", "@", Code.APEX_CNAME_REFUSED, "rr"),
    ("rr", "a..b", Code.INVALID_INPUT, "rr"),
    ("rr", "app-", Code.INVALID_INPUT, "rr"),
    ("rr", "a.*", Code.INVALID_INPUT, "rr"),
    ("ca_identifier", "not valid!", Code.INVALID_INPUT, "ca_identifier"),
    ("server_certificate", {"certificate_id": "abc!"}, Code.INVALID_INPUT, "server_certificate.certificate_id"),
    ("server_certificate", {"certificate_id": "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42"}, Code.INVALID_INPUT,
     "server_certificate.certificate_id"),
    ("server_certificate", {"certificate_id": "123", "key_secret_name": "k"}, Code.INVALID_INPUT,
     "server_certificate.certificate_id"),
    ("server_certificate", {"cert_pem": "-----BEGIN CERTIFICATE-----\nMII\n-----END CERTIFICATE-----"},
     Code.INVALID_INPUT, "server_certificate.key_secret_name"),
    ("server_certificate", {"cert_pem": "-----BEGIN PRIVATE KEY-----\nx\n-----END PRIVATE KEY-----",
                            "key_secret_name": "k"}, Code.INVALID_INPUT, "server_certificate.cert_pem"),
    ("server_certificate", {"key_pem": "x"}, Code.INVALID_INPUT, "server_certificate.key_pem"),
    ("server_group.servers", [], Code.INVALID_INPUT, "server_group.servers"),
    ("server_group.servers[0].port", 70000, Code.INVALID_INPUT, "server_group.servers[0].port"),
    ("server_group.servers[0].weight", 101, Code.INVALID_INPUT, "server_group.servers[0].weight"),
    ("server_group.servers", [{"server_id": "i-1", "port": 80}, {"server_id": "i-1", "port": 80}],
     Code.INVALID_INPUT, "server_group.servers[1]"),
    ("server_group.protocol", "TCP", Code.INVALID_INPUT, "server_group.protocol"),
    ("server_group.health_check", {"codes": []}, Code.INVALID_INPUT, "server_group.health_check.codes"),
    ("server_group.health_check", {"path": "no-slash"}, Code.INVALID_INPUT, "server_group.health_check.path"),
    ("clients", [], Code.INVALID_INPUT, "clients"),
    ("clients", [{"common_name": f"c{i}"} for i in range(1001)], Code.INVALID_INPUT, "clients"),
    ("clients", [{"common_name": "a"}, {"common_name": "a"}], Code.INVALID_INPUT, "clients[1].common_name"),
    ("clients[0].common_name", "", Code.INVALID_INPUT, "clients[0].common_name"),
    ("clients[0].common_name", "x" * 65, Code.INVALID_INPUT, "clients[0].common_name"),
    ("clients[0].common_name", "Alice Smith", Code.INVALID_INPUT, "clients[0].common_name"),
    ("clients[0].days", 0, Code.INVALID_INPUT, "clients[0].days"),
    ("clients[0].days", 3651, Code.INVALID_INPUT, "clients[0].days"),
    ("clients[0].profile", "legacy", Code.INVALID_INPUT, "clients[0].profile"),
    ("clients[0].renew_before_days", 30, Code.RENEW_BEFORE_TOO_LONG, "clients[0].renew_before_days"),
    ("probe_requests", 0, Code.INVALID_INPUT, "probe_requests"),
    ("secret_prefix", "a/b", Code.INVALID_INPUT, "secret_prefix"),
    ("region", "Hangzhou", Code.INVALID_INPUT, "region"),
])
def test_invalid_inputs_name_the_field(path, value, code, field):
    with pytest.raises(AlbMtlsError) as info:
        decode(ProvisionInput, _set(minimal(), path, value))
    err = info.value
    assert (err.code, err.field) == (code, field), err.message
    assert field.split("[")[0].split(".")[0] in err.message


def test_apex_allowed_when_asked():
    inp = decode(ProvisionInput, minimal() | {"rr": "@", "allow_apex": True})
    assert inp.fqdn == "example.test"


def test_renew_before_below_days_ok():
    d = _set(minimal(), "clients[0]", {"common_name": "bob", "days": 30, "renew_before_days": 10})
    assert decode(ProvisionInput, d).clients[0].renew_before_days == 10


@pytest.mark.parametrize("event", [b"", b"   ", b"{", b"[]", b"null", b"42", "not json", b"\xff\xfe", "{}"])
def test_bad_events(event):
    with pytest.raises(AlbMtlsError) as info:
        decode(ProvisionInput, event)
    assert info.value.code == Code.INVALID_INPUT


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10**20, max_value=10**20) | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_decode_arbitrary_json_raises_only_albmtls_error(value):
    for form in (value, json.dumps(value)):
        try:
            decode(ProvisionInput, form)
        except AlbMtlsError as exc:
            assert exc.code in (Code.INVALID_INPUT, Code.APEX_CNAME_REFUSED, Code.RENEW_BEFORE_TOO_LONG)


field_paths = st.sampled_from([
    "load_balancer_id", "listener_port", "domain", "rr", "ttl", "allow_apex", "ca_identifier", "server_certificate",
    "security_policy_id", "server_group", "server_group.name", "server_group.servers", "server_group.servers[0]",
    "server_group.servers[0].port", "server_group.health_check", "clients", "clients[0]", "clients[0].common_name",
    "clients[0].days", "clients[0].renew_before_days", "clients[0].sans", "probe_requests", "secret_prefix", "region",
])


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(field_paths, json_values)
def test_mutating_a_valid_input_raises_only_albmtls_error(path, value):
    try:
        inp = decode(ProvisionInput, _set(minimal(), path, value))
    except AlbMtlsError as exc:
        assert exc.message and exc.code in (Code.INVALID_INPUT, Code.APEX_CNAME_REFUSED, Code.RENEW_BEFORE_TOO_LONG)
    else:
        # whatever was accepted round-trips through JSON unchanged
        assert decode(ProvisionInput, msgspec.json.encode(inp)) == inp


def test_results_encode_without_surprises():
    cert = ClientCertificateResult(common_name="alice", identifier="abc", serial="01",
                                   not_before="2026-01-01T00:00:00Z",
                                   not_after="2026-01-31T00:00:00Z", fingerprint_sha256="ab" * 32,
                                   pfx_secret="albmtls/x/alice/pfx", password_secret="albmtls/x/alice/password",
                                   pfx_version="v1", reused=False)
    out = msgspec.to_builtins(cert)
    assert set(out) == {"common_name", "identifier", "serial", "not_before", "not_after", "fingerprint_sha256",
                        "pfx_secret", "password_secret", "pfx_version", "reused"}
    probe = ProbeResult(with_certificate=ProbeWithCertificate(status=200, backends={"ECS01": 5, "ECS02": 5}),
                        without_certificate=ProbeRefusal(refused=True), foreign_certificate=ProbeRefusal(refused=True))
    assert msgspec.to_builtins(probe)["with_certificate"]["backends"] == {"ECS01": 5, "ECS02": 5}
    failed = StepResult(status="failed", error=StepError(code="X", message="m"))
    assert msgspec.to_builtins(failed) == {"status": "failed", "error": {"code": "X", "message": "m"}}

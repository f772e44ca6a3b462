"""JSON log lines and the redaction filter."""
from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core import logs
from shared.core.logs import REDACTED, redact, redact_text

PEM_KEY = ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIOGk1Yh8X8lW2i0bWb3dC2PHh7Ih9Q7y9xT7cX3tZs6ZoAoGCCqGSM49\n"
           "AwEHoUQDQgAEx1u2zF3oJ0PZrUGh3+KQeXzq9l5Wm7uF1vW3xG9pQ2sX0cL8y5eR\n-----END EC PRIVATE KEY-----")
PFX_B64 = ("MIIJmQIBAzCCCU8GCSqGSIb3DQEHAaCCCUAEggk8MIIJODCCA+8GCSqGSIb3DQEHBqCCA+AwggPcAgEAMIID1QYJKoZIhvcNAQcB"
           "MBwGCiqGSIb3DQEMAQYwDgQIq3Xo9Zb8KZICAggAgIIDqLq7yJ1xYz8Qw9Ts0Ue2Lr4Kp6Nd2Vh5Fw3Gx7Jy9Mz1Ab4Cd6Ef8Gh0")


@pytest.fixture
def stream():
    s = io.StringIO()
    logs.configure(stream=s, level="DEBUG")
    yield s
    logs.configure()


def lines(stream):
    return [json.loads(x) for x in stream.getvalue().splitlines() if x.strip()]


@pytest.mark.parametrize(("text", "secret"), [
    (f"key is {PEM_KEY} ok", "MHcCAQEEIOGk1Yh8X8lW2i0bWb3dC2PHh7Ih9Q7y9xT7cX3tZs6ZoAoGCCqGSM49"),
    ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC (truncated", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"),
    (f"pfx body {PFX_B64}", "MIIJmQIBAzCCCU8GCSqGSIb3DQEHAaCCCUAEggk8"),
    ("password=hunter2 next", "hunter2"),
    ('{"password": "hunter2"}', "hunter2"),
    ("SecretData=c2VjcmV0&Other=1", "c2VjcmV0"),
    ("secret_value: 's3cr3t value'", "s3cr3t value"),
    ("private_key=abc123", "abc123"),
    ("access_key_secret=LTAIxxxx", "LTAIxxxx"),
])
def test_redact_text_removes(text, secret):
    assert secret not in redact_text(text)


@pytest.mark.parametrize("text", [
    "secret albmtls/alb-demostd000000000001-443/some-long-common-name.example/password created",
    "pfx_secret=albmtls/alb-demostd000000000001-443/alice/pfx",
    "fingerprint 3f2a9c4b1d0e8f7a6b5c4d3e2f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a",
    "ca 8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42 listener lsn-abcdefghijklmnop123 request 6F88A4A5-A4E7-4EFB-BC4E-9EAA823130C5",
    "path /work/main/.venv/lib/python3.11/site-packages/alibabacloud_alb20200616/client.py",
])
def test_redact_text_keeps_ordinary_text(text):
    assert redact_text(text) == text


def test_redact_nested_structures():
    value = {"password": "pw", "nested": [{"pfx": "AAAA", "private_key": PEM_KEY, "pfx_secret": "albmtls/x/a/pfx"}],
             "note": f"blob {PFX_B64}", "n": 3, "password_secret": "albmtls/x/a/password"}
    out = redact(value)
    assert out["password"] == REDACTED and out["nested"][0]["pfx"] == REDACTED
    assert out["nested"][0]["private_key"] == REDACTED
    assert out["nested"][0]["pfx_secret"] == "albmtls/x/a/pfx" and out["password_secret"] == "albmtls/x/a/password"
    assert PFX_B64 not in out["note"] and out["n"] == 3
    assert value["password"] == "pw"  # input untouched


@settings(max_examples=200)
@given(st.text(max_size=60), st.text(max_size=60))
def test_embedded_private_key_never_survives(before, after):
    out = redact_text(before + PEM_KEY + after)
    assert "PRIVATE KEY-----\nMHc" not in out
    assert "MHcCAQEEIOGk1Yh8X8lW2i0bWb3dC2PHh7Ih9Q7y9xT7cX3tZs6ZoAoGCCqGSM49" not in out


@settings(max_examples=200)
@given(st.binary(min_size=64, max_size=600))
def test_base64_blobs_never_survive(data):
    import base64

    blob = base64.b64encode(data).decode()
    # random data: with overwhelming probability it has a long mixed-case-digit stretch
    segs = [s for s in blob.replace("+", "/").split("/") if len(s) >= 32]
    if any(any(c.isupper() for c in s) and any(c.islower() for c in s) and any(c.isdigit() for c in s) for s in segs):
        assert blob not in redact_text(f"x {blob} y")


def test_json_lines_have_context_and_extras(stream):
    log = logs.get_logger("issue_client_cert")
    with logs.bind(request_id="req-1", step="issue_client_cert"):
        log.info("issued %s", "alice", extra={"serial": "01", "password": "pw"})
    log.warning("outside")
    first, second = lines(stream)
    assert first["message"] == "issued alice" and first["level"] == "INFO"
    assert first["request_id"] == "req-1" and first["step"] == "issue_client_cert"
    assert first["serial"] == "01" and first["password"] == REDACTED
    assert first["time"].endswith("Z")
    assert second["request_id"] is None


def test_exception_text_is_redacted(stream):
    log = logs.get_logger("x")
    try:
        raise ValueError(f"boom {PEM_KEY}")
    except ValueError:
        log.exception("failed")
    (line,) = lines(stream)
    assert "MHcCAQEEIOGk1Yh8X8lW2i0bWb3dC2PHh7Ih9Q7y9xT7cX3tZs6ZoAoGCCqGSM49" not in json.dumps(line)
    assert "ValueError" in line["exception"]

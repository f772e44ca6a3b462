"""CertificateId parsing/rendering, ClientToken and execution names."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.core.errors import AlbMtlsError, Code
from shared.policy.ids import CertificateId, ResolvedCa, alb_ca_id, client_token, execution_name, is_uuid, listener_key


@pytest.mark.parametrize(("raw", "kind", "alb", "cas", "text"), [
    ("123", "cas", "123-cn-hangzhou", 123, "123"),
    (123, "cas", "123-cn-hangzhou", 123, "123"),
    ("23759533-cn-hangzhou", "cas", "23759533-cn-hangzhou", 23759533, "23759533-cn-hangzhou"),
    ("20000001-ap-southeast-1", "cas", "20000001-ap-southeast-1", 20000001, "20000001-ap-southeast-1"),
    ("8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42", "pca", "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42", None,
     "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42"),
    ("abcdef0123456789", "pca", "abcdef0123456789", None, "abcdef0123456789"),
    # UUID-shaped CA ids (CertIdentifier), also one whose first group is all digits
    ("1efd3cac-e8c1-611d-b971-f96e5e432aba", "pca", None, None, "1efd3cac-e8c1-611d-b971-f96e5e432aba"),
    ("12345678-e8c1-611d-b971-f96e5e432aba", "pca", None, None, "12345678-e8c1-611d-b971-f96e5e432aba"),
])
def test_parse_and_render(raw, kind, alb, cas, text):
    cid = CertificateId.parse(raw)
    assert cid.kind == kind
    assert str(cid) == text
    if cas is None:
        with pytest.raises(AlbMtlsError):   # a CA's id for ALB needs resolving (alb_ca_id)
            cid.for_alb()
        with pytest.raises(AlbMtlsError):
            cid.for_cas()
        assert cid.for_pca() == raw
    else:
        assert cid.for_alb() == alb
        assert cid.for_cas() == cas
        with pytest.raises(AlbMtlsError):
            cid.for_pca()


def test_site_region_comes_from_the_id_or_the_setting():
    assert CertificateId.parse("123").for_alb("ap-southeast-1") == "123-ap-southeast-1"
    assert CertificateId.parse("123-cn-hangzhou").for_alb("ap-southeast-1") == "123-cn-hangzhou"


def test_ca_assumption_lives_in_one_function():
    ca = ResolvedCa(identifier="8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42",
                    cert_identifier="1efd3cac-e8c1-611d-b971-f96e5e432aba")
    assert alb_ca_id(ca, "cert_identifier") == "1efd3cac-e8c1-611d-b971-f96e5e432aba"
    assert alb_ca_id(ca, "identifier") == "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42"
    with pytest.raises(AlbMtlsError) as info:      # no CertIdentifier found: say what to change
        alb_ca_id(ResolvedCa(identifier="8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42"), "cert_identifier")
    assert info.value.code == Code.CA_NOT_FOUND and "ALBMTLS_ALB_CA_ID_FORM=identifier" in info.value.message
    assert is_uuid(ca.cert_identifier) and not is_uuid(ca.identifier)


@pytest.mark.parametrize("raw", ["", " 123", "123 ", "0", "-1", -5, 0, "0123", "123-", "123-CN-HANGZHOU",
                                 "abc", "a b c d e f g h", "x" * 200, True, None, 1.5, "99999999999999999999",
                                 "12-cn", "ab/cd/ef/gh", "é" * 10])
def test_bad_ids_raise_invalid_input(raw):
    with pytest.raises(AlbMtlsError) as info:
        CertificateId.parse(raw, field="server_certificate.certificate_id")
    assert info.value.code == Code.INVALID_INPUT
    assert info.value.field == "server_certificate.certificate_id"


regions = st.from_regex(r"\A[a-z]{2,4}(-[a-z0-9]{1,8}){1,3}\Z")
cas_ids = st.integers(min_value=1, max_value=2**63 - 1)
pca_ids = st.from_regex(r"\A[0-9a-f]{32}\Z").filter(lambda s: not s.isdigit())


@given(cas_ids, st.one_of(st.none(), regions))
def test_cas_round_trip(n, region):
    text = f"{n}-{region}" if region else str(n)
    cid = CertificateId.parse(text)
    assert CertificateId.parse(str(cid)) == cid
    assert cid.for_cas() == n
    assert cid.for_alb("ap-southeast-1") == f"{n}-{region or 'ap-southeast-1'}"
    assert CertificateId.parse(cid.for_alb()).for_cas() == n


@given(pca_ids)
def test_pca_round_trip(ident):
    cid = CertificateId.parse(ident)
    assert cid.is_pca and CertificateId.parse(str(cid)) == cid and cid.for_pca() == ident


@given(st.one_of(st.text(max_size=80), st.integers(), st.none(), st.booleans(), st.floats()))
def test_parse_never_raises_anything_but_albmtls_error(value):
    try:
        cid = CertificateId.parse(value)
    except AlbMtlsError as exc:
        assert exc.code == Code.INVALID_INPUT
    else:
        assert CertificateId.parse(str(cid)) == cid


def test_client_token_and_names():
    a = client_token("exec-1", "enable_mutual_auth", "listener", "lsn-1")
    assert a == client_token("exec-1", "enable_mutual_auth", "listener", "lsn-1")
    assert a != client_token("exec-2", "enable_mutual_auth", "listener", "lsn-1")
    assert len(a) <= 64 and a.isascii()
    assert listener_key("alb-abc", 443) == "alb-abc-443"
    at = datetime(2026, 11, 29, 19, 57, 6, tzinfo=UTC)
    assert execution_name("alb-abc-443", at) == "alb-abc-443-20261129T195706Z"
    east8 = at.astimezone(timezone(timedelta(hours=8)))
    assert execution_name("alb-abc-443", east8) == "alb-abc-443-20261129T195706Z"
    assert len(execution_name("x" * 300, at)) <= 128


@pytest.mark.parametrize(("written", "kept"), [
    ("8C3E5A7F1B9D4E2A6C0F3B5D7E9A1C42", "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42"),
    ("1EFD3CAC-EE8E-6A00-AD80-5E318B70B839", "1efd3cac-ee8e-6a00-ad80-5e318b70b839"),
    ("1efd3cac-ee8e-6a00-ad80-5e318b70b839", "1efd3cac-ee8e-6a00-ad80-5e318b70b839"),
])
def test_pca_ids_in_hex_are_kept_in_the_cloud_s_lower_case(written, kept):
    """An Identifier copied in upper case named no CA (CA_NOT_FOUND from the cloud, after the run began)."""
    import json
    from pathlib import Path

    from shared.policy.contracts import ProvisionInput
    from shared.policy.validation import decode
    assert CertificateId.parse(written, field="ca_identifier").identifier == kept
    demo = json.loads((Path(__file__).resolve().parents[2] / "examples" / "provision.json").read_text())
    assert decode(ProvisionInput, {**demo, "ca_identifier": written}).ca_identifier == kept
    demo.pop("ca_identifier", None)
    assert decode(ProvisionInput, {**demo, "ca": {"kind": "pca", "identifier": written}}).ca_label == kept


@pytest.mark.parametrize(("written", "words"), [
    ("8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c4", "has 31 hex digits; a PCA Identifier has 32"),
    ("8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c422", "has 33 hex digits"),
    ("1efd3cac-ee8e-6a00-ad80-5e318b70b83", "groups have 8-4-4-4-11 hex digits, not 8-4-4-4-12"),
    ("1efd3caceee8e-6a00-ad80-5e318b70b839", "groups have 13-4-4-12"),
])
def test_a_pca_id_cut_short_is_refused_saying_so(written, words):
    with pytest.raises(AlbMtlsError) as ei:
        CertificateId.parse(written, field="ca_identifier")
    assert ei.value.code == Code.INVALID_INPUT and ei.value.field == "ca_identifier" and words in ei.value.message

"""The input validator applies the issuing step's own rules for a client's CN and SANs
(``shared.policy.pki.check_common_name`` / ``san_kind``, which the CSR applies too): a client the
issuing step would refuse is refused when the input is decoded — before Preflight, RecordDesiredState,
CreateCname or EnableMutualAuth write anything — naming the client and the SAN (found by a bad-input
attack: a CN with ``=`` and the SANs below passed the input and failed IssueClientCert after three
steps had written)."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.core.errors import AlbMtlsError
from shared.policy import pki
from shared.policy.contracts import ClientSpec, ProvisionInput
from shared.policy.validation import decode

BAD_SANS = ["*.x.example.test", "a:b", "_x.example.test", "@", "a@", "a@b", "x..example.test", "-a.example.test",
            "a_b.example.test", "user@*.example.test", "a:b:c:d:e:f:g:h:i"]
GOOD_SANS = ["x.example.test", "alice@example.test", "10.0.0.1", "2001:db8::1",
             "urn:uuid:123e4567-e89b-12d3-a456-426614174000", "xn--bcher-kva.example"]


def _client(**kw) -> dict:
    return {"common_name": "alice", "days": 30, **kw}


def _issuing_refuses_cn(cn: str) -> bool:
    try:
        pki.check_common_name(cn)
    except AlbMtlsError:
        return True
    return False


@pytest.mark.parametrize("san", BAD_SANS)
def test_a_san_the_csr_refuses_is_refused_by_the_input_naming_client_and_san(san):
    with pytest.raises(AlbMtlsError):
        pki.parse_san(san)                                       # the issuing step's rule refuses it …
    with pytest.raises(AlbMtlsError) as exc:                      # … so the input does, before any step
        decode(ClientSpec, _client(sans=["ok.example.test", san]))
    assert exc.value.code == "INVALID_INPUT" and exc.value.field == "sans[1]", exc.value
    assert "'alice'" in exc.value.message and repr(san) in exc.value.message


@pytest.mark.parametrize("san", GOOD_SANS)
def test_a_san_the_csr_takes_is_taken(san):
    pki.parse_san(san)
    assert decode(ClientSpec, _client(sans=[san])).sans == (san,)


@pytest.mark.parametrize("cn", ["a=b", "alice=admin", "CN=alice"])
def test_a_cn_the_csr_refuses_is_refused_by_the_input(cn, demo_input):
    assert _issuing_refuses_cn(cn)
    with pytest.raises(AlbMtlsError) as exc:
        decode(ProvisionInput, {**demo_input, "clients": [_client(common_name="bob"), _client(common_name=cn)]})
    assert exc.value.code == "INVALID_INPUT" and exc.value.field == "clients[1].common_name", exc.value


@settings(max_examples=300, deadline=None)
@given(cn=st.text(alphabet="abcXYZ019._@+=-:/ ()&'é*", min_size=1, max_size=70),
       san=st.text(alphabet="abz09.-_*@:/[]", min_size=1, max_size=30))
def test_whatever_the_input_takes_the_issuing_step_takes(cn, san):
    """One rule: no CN or SAN passes the input and then fails the issuing step's checks."""
    try:
        spec = decode(ClientSpec, _client(common_name=cn, sans=[san]))
    except AlbMtlsError:
        return
    pki.check_common_name(spec.common_name)
    for s in spec.sans:
        pki.parse_san(s)


URIS_OK = ["spiffe://corp.test/bob", "https://a.corp.test/", "https://a.corp.test:8443/x?y=1#z", "urn:x:y",
           "urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66", "ldap://[2001:db8::7]/c=GB?objectClass?one",
           "https://a.corp.test/%20x"]
URIS_BAD = ["https://a b", "https:///x", "x://h/%zz", "https://h/é", "spiffe://", "https://h/<x>", "https://h/\"q\""]


@pytest.mark.parametrize("value", URIS_OK)
def test_a_uri_san_per_rfc_3986_passes_the_input_and_the_csr(value):
    """README allows URI SANs: the input took urn:x:y but refused spiffe://corp.test/bob and
    https://a.corp.test/ (its character pattern had no / or %); now the input and the CSR apply one
    rule (pki.san_kind → uri_problem): a scheme, RFC 3986's characters, a host after //."""
    from cryptography import x509

    from shared.policy.pki import parse_san, san_kind
    _decode_with_san(value)
    assert san_kind(value) == "uri" and isinstance(parse_san(value), x509.UniformResourceIdentifier)


@pytest.mark.parametrize("value", URIS_BAD)
def test_a_malformed_uri_san_is_refused_by_both_saying_what_to_fix(value):
    from shared.core.errors import AlbMtlsError
    from shared.policy.pki import parse_san
    with pytest.raises(AlbMtlsError) as a:
        _decode_with_san(value)
    assert a.value.code == "INVALID_INPUT" and a.value.field == "clients[0].sans[0]"
    assert "* . _" not in a.value.message      # the old message offered characters other rules refuse
    with pytest.raises(AlbMtlsError):
        parse_san(value)


def _decode_with_san(value: str):
    import json
    from pathlib import Path

    from shared.policy.contracts import ProvisionInput
    from shared.policy.validation import decode
    doc = json.loads((Path(__file__).resolve().parents[2] / "examples" / "provision.json").read_text())
    doc["clients"][0]["sans"] = [value]
    return decode(ProvisionInput, json.dumps(doc))

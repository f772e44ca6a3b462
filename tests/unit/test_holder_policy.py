"""The RAM policy of a system holder (issue 15, point 3): exactly its principal, exactly its own
``pfx`` and ``password`` secrets, read only (shared.policy.holderpolicy)."""
from __future__ import annotations

import pytest

from shared.policy.holderpolicy import holder_policy, policy_name
from shared.policy.ids import secret_names

NAMES = secret_names("albmtls", "alb-demostd000000000001-443", "billing")


@pytest.mark.parametrize(("principal", "account", "attach"), [
    ("acs:ram::1234567890123456:role/billing-app", "1234567890123456", "AttachPolicyToRole --RoleName billing-app"),
    ("acs:ram::4200000000000042:user/svc.billing", "4200000000000042", "AttachPolicyToUser --UserName svc.billing"),
    (None, "<account-id>", "AttachPolicyToRole --RoleName <RoleName>"),
])
def test_the_policy_reads_exactly_the_two_secrets(principal, account, attach):
    doc = holder_policy("cn-shanghai", NAMES, "alb-demostd000000000001-443", "billing", principal)
    [stmt] = doc["policy"]["Statement"]
    assert stmt == {"Effect": "Allow", "Action": ["kms:GetSecretValue"], "Resource": [
        f"acs:kms:cn-shanghai:{account}:secret/albmtls/alb-demostd000000000001-443/billing/pfx",
        f"acs:kms:cn-shanghai:{account}:secret/albmtls/alb-demostd000000000001-443/billing/password"]}
    assert "*" not in str(doc["policy"])
    assert any(attach in c for c in doc["attach"])
    assert doc["fetch"][0].startswith("aliyun kms GetSecretValue --region cn-shanghai --SecretName "
                                      "albmtls/alb-demostd000000000001-443/billing/pfx")
    assert ("no ram_principal" in doc["notes"][0]) is (principal is None)


def test_policy_names_use_rams_alphabet_and_length():
    assert policy_name("alb-x-443", "svc_a.b@c") == "albmtls-holder-alb-x-443-svc-a-b-c"
    assert len(policy_name("alb-x-443", "a" * 64 + "." * 64)) == 128


@pytest.mark.parametrize("principal", ["acs:ram::12:role/x", "acs:ram::123456789012345:role/x",
                                       "acs:ram::12345678901234567:role/x", "acs:ram::abcdefghijklmnop:role/x",
                                       "acs:ram:::role/x"])
def test_a_ram_principal_names_a_16_digit_account(principal):
    """A system holder's ram_principal names an account that can exist (16-digit UID): `acs:ram::12:role/x`
    made holder-policy build resources for account 12."""
    from shared.core.errors import AlbMtlsError
    from shared.policy.contracts import SystemHolder
    from shared.policy.validation import decode

    with pytest.raises(AlbMtlsError) as err:
        decode(SystemHolder, {"kind": "system", "name": "billing", "ram_principal": principal})
    assert err.value.code == "INVALID_INPUT" and "16-digit account id" in err.value.message, err.value
    ok = decode(SystemHolder, {"kind": "system", "name": "billing",
                               "ram_principal": "acs:ram::1234567890123456:role/x"})
    assert ok.ram_principal.endswith(":role/x")

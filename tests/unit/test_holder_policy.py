"""The RAM policy of a system holder (issue 15, point 3): exactly its principal, exactly its own
``pfx`` and ``password`` secrets, read only (shared.policy.holderpolicy)."""
from __future__ import annotations

import pytest

from shared.policy.holderpolicy import holder_policy, policy_name
from shared.policy.ids import secret_names

NAMES = secret_names("albmtls", "alb-demostd000000000001-443", "billing")


@pytest.mark.parametrize(("principal", "account", "attach"), [
    ("acs:ram::1234567890123456:role/billing-app", "1234567890123456", "AttachPolicyToRole --RoleName billing-app"),
    ("acs:ram::42:user/svc.billing", "42", "AttachPolicyToUser --UserName svc.billing"),
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

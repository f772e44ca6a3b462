"""Pull access for a ``system`` holder (issue 15, point 3): the least-privilege RAM policy that lets
exactly its principal read exactly its own ``pfx`` and ``password`` secrets, and the commands to
attach it and to fetch the two secrets (``albmtls holder-policy``; printed by ``provision``).

Facts it relies on (docs/ALIBABA-APIS.md §6.1, docs/SERVERLESS.md "RAM"): a KMS secret's ARN is
``acs:kms:{region}:{account}:secret/{name}``; reading a value is ``kms:GetSecretValue``; a secret
encrypted with a customer key also needs ``kms:Decrypt`` on that key (this automation stores its
secrets with the KMS instance's default key, so the policy does not grant it). A RAM principal ARN is
``acs:ram::{account}:user/{name}`` or ``…:role/{name}``. A RAM policy name is 1-128 letters, digits
and ``-`` ([CreatePolicy](https://www.alibabacloud.com/help/en/ram/developer-reference/api-ram-2015-05-01-createpolicy)).

Pure: no I/O.
"""
from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from shared.policy.ids import SecretNames

__all__ = ["holder_policy", "policy_name"]

_PRINCIPAL = re.compile(r"^acs:ram::(?P<account>[0-9]{1,32}):(?P<type>user|role)/(?P<name>[A-Za-z0-9._@-]{1,128})$")


def policy_name(listener_key: str, common_name: str) -> str:
    """``albmtls-holder-<listener key>-<cn>`` in RAM's alphabet (letters, digits, ``-``), at most 128."""
    raw = f"albmtls-holder-{listener_key}-{common_name}"
    return re.sub(r"[^A-Za-z0-9-]", "-", raw)[:128]


def holder_policy(region: str, names: SecretNames, listener_key: str, common_name: str,
                  ram_principal: str | None) -> dict[str, Any]:
    """``{policy, policy_name, principal, attach: [commands], fetch: [commands], notes: [...]}``:
    the policy document granting ``kms:GetSecretValue`` on the two secrets only, the ``aliyun``
    commands creating it and attaching it to ``ram_principal`` (placeholders when the input names
    none) and the one-liners the system runs to fetch its PFX and password."""
    m = _PRINCIPAL.match(ram_principal or "")
    account = m.group("account") if m else "<account-id>"
    arn = f"acs:kms:{region}:{account}:secret/"
    policy = {"Version": "1", "Statement": [{
        "Effect": "Allow", "Action": ["kms:GetSecretValue"],
        "Resource": [arn + names.pfx, arn + names.password]}]}
    name = policy_name(listener_key, common_name)
    doc = json.dumps(policy, separators=(",", ":"))
    if m:
        kind, who = m.group("type"), m.group("name")
    else:
        kind, who = "role", "<RoleName>"
    attach_api = "AttachPolicyToRole --RoleName" if kind == "role" else "AttachPolicyToUser --UserName"
    attach = [
        f"aliyun ram CreatePolicy --PolicyName {name} --Description 'alb-mtls: read {common_name} PFX and password' "
        f"--PolicyDocument '{doc}'",
        f"aliyun ram {attach_api} {who} --PolicyType Custom --PolicyName {name}",
    ]
    fetch = [
        f"aliyun kms GetSecretValue --region {region} --SecretName {names.pfx} | jq -r .SecretData | base64 -d "
        f"> {common_name}.pfx",
        f"aliyun kms GetSecretValue --region {region} --SecretName {names.password} | jq -r .SecretData "
        f"> {common_name}.password",
    ]
    notes = ["The PFX secret is binary (SecretDataType=binary): SecretData is its Base64; the password secret is "
             "text. Both get a new version (VersionId = the new serial) on every renewal; read ACSCurrent.",
             "Grants kms:GetSecretValue on exactly these two secrets; add kms:Decrypt on the key only if the "
             "secrets were moved to a customer key."]
    if not m:
        notes.insert(0, "The input names no ram_principal for this holder: replace <account-id> and <RoleName> "
                        "(or use AttachPolicyToUser --UserName for a RAM user).")
    return {"common_name": common_name, "listener_key": listener_key, "principal": ram_principal,
            "policy_name": name, "policy": policy, "attach": attach, "fetch": fetch, "notes": notes}

#!/usr/bin/env python3
r"""Render the RAM policy templates in deploy/ram/ for one account and print the commands that
create the roles and policies with the official `aliyun` CLI (stdlib only; nothing is called).

    python3 deploy/render.py --account-id 1234567890123456 --region cn-hangzhou \
        [--secret-prefix albmtls] [--out build/ram]

Templates use ``${account_id}``, ``${region}`` and ``${secret_prefix}``; every other ``${...}``
is an error (so a typo cannot produce a policy that silently matches nothing). The rendered
documents go to ``--out`` (default ``build/ram/``, git-ignored) because they are account-specific.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

RAM_DIR = Path(__file__).resolve().parent / "ram"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z_]+)\}")

# role name → (trust policy file, permission policy file, policy name)
ROLES = {
    "albmtls-function": ("function-role-trust.json", "function-role-policy.json", "albmtls-function-policy"),
    "albmtls-flow": ("flow-role-trust.json", "flow-role-policy.json", "albmtls-flow-policy"),
}
DEPLOYER = ("deployer-policy.json", "albmtls-deployer-policy")


def render_text(text: str, values: dict[str, str]) -> str:
    """Substitute ``${name}`` placeholders; raises ``KeyError`` naming an unknown one."""
    def sub(m: re.Match[str]) -> str:
        if m.group(1) not in values:
            raise KeyError(f"unknown placeholder ${{{m.group(1)}}} (known: {', '.join(sorted(values))})")
        return values[m.group(1)]
    return PLACEHOLDER.sub(sub, text)


def render(values: dict[str, str], ram_dir: Path = RAM_DIR) -> dict[str, dict]:
    """Every ``*.json`` policy of ``ram_dir`` rendered (``unobserved.json`` is not a policy)."""
    out = {}
    for path in sorted(ram_dir.glob("*.json")):
        if path.name == "unobserved.json":
            continue
        out[path.name] = json.loads(render_text(path.read_text(), values))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--account-id", required=True, help="your Alibaba Cloud account id (16 digits)")
    ap.add_argument("--region", default="cn-hangzhou")
    ap.add_argument("--secret-prefix", default="albmtls")
    ap.add_argument("--out", type=Path, default=Path("build/ram"))
    a = ap.parse_args(argv)
    if not re.fullmatch(r"\d{6,20}", a.account_id):
        ap.error("--account-id must be the numeric account id")
    values = {"account_id": a.account_id, "region": a.region, "secret_prefix": a.secret_prefix}
    docs = render(values)
    a.out.mkdir(parents=True, exist_ok=True)
    for name, doc in docs.items():
        (a.out / name).write_text(json.dumps(doc, indent=2) + "\n")
    o = a.out
    print(f"# rendered {len(docs)} documents into {o}/ ; create the roles and policies with:")
    for role, (trust, policy, pname) in ROLES.items():
        print(f"aliyun ram CreateRole --RoleName {role} --AssumeRolePolicyDocument \"$(cat {o}/{trust})\"")
        print(f"aliyun ram CreatePolicy --PolicyName {pname} --PolicyDocument \"$(cat {o}/{policy})\"")
        print(f"aliyun ram AttachPolicyToRole --PolicyType Custom --PolicyName {pname} --RoleName {role}")
    dfile, dname = DEPLOYER
    print(f"aliyun ram CreatePolicy --PolicyName {dname} --PolicyDocument \"$(cat {o}/{dfile})\"")
    print(f"aliyun ram AttachPolicyToUser --PolicyType Custom --PolicyName {dname} "
          "--UserName <the RAM user that runs s deploy>")
    print(f"export ALBMTLS_FUNCTION_ROLE_ARN=acs:ram::{a.account_id}:role/albmtls-function")
    print(f"export ALBMTLS_FLOW_ROLE_ARN=acs:ram::{a.account_id}:role/albmtls-flow")
    return 0


if __name__ == "__main__":
    sys.exit(main())

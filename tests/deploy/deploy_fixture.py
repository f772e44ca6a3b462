"""Helpers for tests/deploy: a self-contained copy of the repository layout for the deployment checks: this checkout's
s.yaml and deploy/, plus fake functions, a fake shared package, small workflows and a local cloud
call log that exercises exactly the function role's observable actions."""
from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import yaml

from localcloud.store import Store

REPO = Path(__file__).resolve().parents[2]

FUNCTIONS = {
    "albmtls-preflight": "preflight",
    "albmtls-record-desired-state": "record_desired_state",
    "albmtls-ensure-own-ca": "ensure_own_ca",
    "albmtls-issue-client-cert": "issue_client_cert",
    "albmtls-enable-mutual-auth": "enable_mutual_auth",
    "albmtls-create-cname": "create_cname",
    "albmtls-health-check": "health_check",
    "albmtls-rotation-scan": "rotation_scan",
    "albmtls-drift-check": "drift_check",
    "albmtls-offboard-client": "offboard_client",
    "albmtls-issuer": "issuer",
    "albmtls-provision-api": "provision_api",
    "albmtls-deliver": "deliver",
    "albmtls-download": "download",
}
REVERSE_PREFIX = {"alb": "alb", "yundun-cert": "pca", "alidns": "alidns", "kms": "kms", "fnf": "fnf"}


def _flow(name: str, fns: list[str]) -> str:
    """A linear flow: one FC task per function, then Succeed."""
    states = [{"Type": "Task", "Name": f"S{i}", "Action": "FC:InvokeFunction", "TaskMode": "RequestComplete",
               "Parameters": {"resourceArn": f"acs:fc:::functions/{fn}/LATEST", "invocationType": "Sync",
                              "body.$": "$Input"},
               "Next": f"S{i + 1}" if i + 1 < len(fns) else "Done"} for i, fn in enumerate(fns)]
    states.append({"Type": "Succeed", "Name": "Done"})
    return yaml.safe_dump({"Type": "StateMachine", "SpecVersion": "v1", "Name": name, "StartAt": "S0",
                           "States": states}, sort_keys=False)


SHARED_INIT = '"""fake shared package for the deployment tests"""\n'
SHARED_HANDLER = textwrap.dedent('''\
    import json

    def fc_handler(use_case, step):
        def handler(event, context):
            return json.dumps(use_case(event, context) or {"status": "ok", "step": step}).encode()
        return handler
    ''')
INDEX = textwrap.dedent('''\
    from shared.entry.handler import fc_handler

    def run(inp, ctx):
        return {{"status": "ok"}}

    handler = fc_handler(run, step="{step}")
    ''')


def policy_actions(root: Path, name: str = "function-role-policy.json") -> set[str]:
    doc = json.loads((root / "deploy" / "ram" / name).read_text())
    out = set()
    for st in doc["Statement"]:
        a = st["Action"]
        out |= set(a if isinstance(a, list) else [a])
    return out


def record_observed(root: Path, state_dir: Path, *, skip: frozenset[str] | set[str] = frozenset(),
                    add: frozenset[str] | set[str] = frozenset()) -> None:
    """Log one call per observable function-role action (minus the unobserved allowances)."""
    allow = set(json.loads((root / "deploy" / "ram" / "unobserved.json").read_text())["allow"])
    store = Store(state_dir / "cloud.sqlite3")
    try:
        for a in sorted((policy_actions(root) - allow - set(skip)) | set(add)):
            prefix, _, action = a.partition(":")
            if prefix in REVERSE_PREFIX:
                store.record_call(REVERSE_PREFIX[prefix], action, False, "OK", 200)
        for a in ("CreateFlow", "DescribeFlow", "UpdateFlow"):    # the CLI deploying the flow: deployer's
            store.record_call("fnf", a, True, "OK", 200)
    finally:
        store.close()
    from deploy.check.ram import OBSERVED_MARKER
    (state_dir / OBSERVED_MARKER).write_text("{}\n")              # as deploy.observe leaves it


def make_repo(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "s.yaml", root / "s.yaml")
    shutil.copy2(REPO / "requirements.txt", root / "requirements.txt")
    shutil.copytree(REPO / "deploy", root / "deploy", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "shared").mkdir()
    (root / "shared" / "__init__.py").write_text(SHARED_INIT)
    (root / "shared" / "entry").mkdir()
    (root / "shared" / "entry" / "__init__.py").write_text("")
    (root / "shared" / "entry" / "handler.py").write_text(SHARED_HANDLER)
    (root / "shared" / "tests").mkdir()
    (root / "shared" / "tests" / "test_x.py").write_text("")          # must not be packaged
    (root / "functions").mkdir()
    (root / "functions" / "__init__.py").write_text("")
    for fdir in FUNCTIONS.values():
        d = root / "functions" / fdir
        d.mkdir()
        (d / "__init__.py").write_text("")
        (d / "index.py").write_text(INDEX.format(step=fdir))
    (root / "workflows" / "examples").mkdir(parents=True)
    (root / "workflows" / "provision.yaml").write_text(_flow("albmtls-provision", [
        "albmtls-preflight", "albmtls-ensure-own-ca", "albmtls-record-desired-state",
        "albmtls-issue-client-cert", "albmtls-enable-mutual-auth",
        "albmtls-create-cname", "albmtls-health-check", "albmtls-deliver"]))
    (root / "workflows" / "issue.yaml").write_text(_flow("albmtls-issue", ["albmtls-issuer", "albmtls-deliver"]))
    (root / "workflows" / "revoke.yaml").write_text(_flow("albmtls-revoke", ["albmtls-offboard-client"]))
    (root / "workflows" / "examples" / "provision-input.json").write_text("{}")
    return root



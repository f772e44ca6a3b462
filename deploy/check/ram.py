"""The ``ram`` check: policy documents parse, trust principals, the flow role invokes exactly the
workflows' functions, and the function role equals what the local cloud observed
(:data:`OBSERVATION_RULE`)."""
from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.core.products import PRODUCTS

if TYPE_CHECKING:
    from deploy.check.report import Report

#: local cloud product (call log) → RAM action prefix (the product registry, shared.core.products)
RAM_PREFIX = {k: p.ram_prefix for k, p in PRODUCTS.items()}
OBSERVABLE_PREFIXES = frozenset(RAM_PREFIX.values())
#: The file deploy/observe.py leaves in a state directory whose calls are the observed run's.
OBSERVED_MARKER = "observed-run.json"
#: CloudFlow calls that are not the functions' (they are ``s deploy``'s and the operator's)
FNF_DEPLOY_ACTIONS = frozenset({"CreateFlow", "UpdateFlow", "DescribeFlow", "DeleteFlow", "ListFlows"})
FNF_OPERATOR_ACTIONS = frozenset({"GetExecutionHistory", "StopExecution"})
OBSERVATION_RULE = """\
Least privilege by observation: every call the local cloud logged (table `calls` of
<state-dir>/cloud.sqlite3, all runs on that state directory — deploy/observe.py makes the
reference run: provision, an update of the same listener, a rotation with revocation, a revoke and a restore) is
mapped to a RAM action
(alb→alb:, cas and pca→yundun-cert:, alidns→alidns:, kms→kms:, fnf→fnf:). CloudFlow flow
management (CreateFlow, UpdateFlow, DescribeFlow, DeleteFlow, ListFlows) is `s deploy`'s and the
operator's GetExecutionHistory/StopExecution are the CLI's: both must be in the deployer policy and
are not the functions'. Every other call — including fnf StartExecution, DescribeExecution and
ListExecutions, which the CLI makes locally and provision_api/rotation_scan make in the cloud —
must be allowed by the function role, and the function role allows nothing else except the
actions listed with a reason in deploy/ram/unobserved.json (paths a normal run does not take, and
platform actions such as log:PostLogStoreLogs that the local cloud cannot observe)."""

_POLICY_PLACEHOLDERS = {"account_id", "region", "secret_prefix"}
_KNOWN_PREFIXES = OBSERVABLE_PREFIXES | {"fc", "log", "ram", "sts"}


def _load_policy(rep: Report, path: Path) -> dict | None:
    where = f"deploy/ram/{path.name}"
    if not path.is_file():
        rep.add("ram", where, "missing")
        return None
    text = path.read_text()
    for m in re.finditer(r"\$\{([^}]*)\}", text):
        if m.group(1) not in _POLICY_PLACEHOLDERS:
            rep.add("ram", where, f"unknown placeholder ${{{m.group(1)}}} "
                                  f"(known: {', '.join(sorted(_POLICY_PLACEHOLDERS))})")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        rep.add("ram", where, f"not valid JSON: {exc}")
        return None
    if doc.get("Version") != "1" or not isinstance(doc.get("Statement"), list) or not doc["Statement"]:
        rep.add("ram", where, "a policy document needs Version \"1\" and a non-empty Statement list")
        return None
    for i, st in enumerate(doc["Statement"]):
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny") or "Action" not in st:
            rep.add("ram", f"{where} Statement[{i}]", "needs Effect Allow|Deny and Action")
            continue
        for a in _as_list(st.get("Action")):
            pre, _, name = str(a).partition(":")
            if not name or pre not in _KNOWN_PREFIXES:
                rep.add("ram", f"{where} Statement[{i}]",
                        f"action {a!r} has no known prefix ({', '.join(sorted(_KNOWN_PREFIXES))})")
            elif "*" in name:
                rep.add("ram", f"{where} Statement[{i}]", f"wildcard action {a!r}: list the actions")
        if "Principal" not in st and "Resource" not in st:
            rep.add("ram", f"{where} Statement[{i}]", "needs Resource")
    return doc


def _as_list(v: Any) -> list:
    return v if isinstance(v, list) else [v] if v is not None else []


def _allowed(doc: dict | None) -> dict[str, list[str]]:
    """action → resources, over the Allow statements."""
    out: dict[str, list[str]] = {}
    for st in (doc or {}).get("Statement") or []:
        if isinstance(st, dict) and st.get("Effect") == "Allow":
            for a in _as_list(st.get("Action")):
                out.setdefault(str(a), []).extend(str(r) for r in _as_list(st.get("Resource")))
    return out


def observed_calls(state_dir: Path) -> dict[tuple[str, str], int] | None:
    """``{(product, action): count}`` from the local cloud's call log, or ``None`` without one."""
    db = Path(state_dir) / "cloud.sqlite3"
    if not db.is_file():
        return None
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute("SELECT product, action, COUNT(*) FROM calls GROUP BY product, action").fetchall()
    except sqlite3.Error:
        return None
    finally:
        con.close()
    return {(p, a): n for p, a, n in rows}


def _check_trust(rep: Report, doc: dict | None, where: str, service: str) -> None:
    if doc is None:
        return
    ok = any(isinstance(st, dict) and st.get("Effect") == "Allow" and "sts:AssumeRole" in _as_list(st.get("Action"))
             and service in _as_list((st.get("Principal") or {}).get("Service")) for st in doc["Statement"])
    if not ok:
        rep.add("ram", where, f"must let {service} assume the role (sts:AssumeRole, Principal.Service)")


def check_ram(root: Path, rep: Report, invoked: dict[str, list[str]], state_dir: Path | None) -> None:
    ram = root / "deploy" / "ram"
    fn_policy = _load_policy(rep, ram / "function-role-policy.json")
    flow_policy = _load_policy(rep, ram / "flow-role-policy.json")
    deployer = _load_policy(rep, ram / "deployer-policy.json")
    _check_trust(rep, _load_policy(rep, ram / "function-role-trust.json"), "deploy/ram/function-role-trust.json",
                 "fc.aliyuncs.com")
    _check_trust(rep, _load_policy(rep, ram / "flow-role-trust.json"), "deploy/ram/flow-role-trust.json",
                 "fnf.aliyuncs.com")

    # flow role: fc:InvokeFunction on exactly the functions the workflows invoke
    if flow_policy is not None:
        allowed = _allowed(flow_policy)
        where = "deploy/ram/flow-role-policy.json"
        for a in sorted(set(allowed) - {"fc:InvokeFunction"}):
            rep.add("ram", where, f"the flow role needs only fc:InvokeFunction; remove {a}")
        targets: set[str] = set()
        for r in allowed.get("fc:InvokeFunction", []):
            m = re.fullmatch(r"acs:fc:[^:]*:[^:]*:functions/([A-Za-z0-9_\-]+)(?:/\*)?", r)
            if not m:
                rep.add("ram", where,
                        f"resource {r!r} is not one function (acs:fc:${{region}}:${{account_id}}:functions/<name>)")
            else:
                targets.add(m.group(1))
        for fn in sorted(set(invoked) - targets):
            rep.add("ram", where, f"missing fc:InvokeFunction on {fn} (invoked by {invoked[fn][0]})")
        for fn in sorted(targets - set(invoked)):
            rep.add("ram", where, f"fc:InvokeFunction on {fn}, which no workflow invokes: remove it")

    # function role: least privilege by observation
    allow_file = ram / "unobserved.json"
    allowances: dict[str, str] = {}
    if allow_file.is_file():
        try:
            allowances = dict(json.loads(allow_file.read_text()).get("allow") or {})
        except (ValueError, AttributeError) as exc:
            rep.add("ram", "deploy/ram/unobserved.json", f"not valid: {exc}")
    for a, why in allowances.items():
        if not str(why).strip():
            rep.add("ram", "deploy/ram/unobserved.json", f"{a}: give the reason it is allowed without being observed")
    fn_allowed = set(_allowed(fn_policy)) if fn_policy is not None else set()
    where = "deploy/ram/function-role-policy.json"
    for a in sorted(fn_allowed):
        if a.partition(":")[0] not in OBSERVABLE_PREFIXES and a not in allowances:
            rep.add("ram", where, f"{a} cannot be observed on the local cloud: list it with its reason in "
                                  "deploy/ram/unobserved.json, or remove it")
    for a in sorted(set(allowances) - fn_allowed):
        rep.add("ram", "deploy/ram/unobserved.json",
                f"{a} is listed but the function role does not allow it: remove it from the list")
    if state_dir is None:
        return
    calls = observed_calls(state_dir)
    if calls is None:
        rep.add("ram", str(state_dir), "no local cloud call log (cloud.sqlite3): run `make check-deploy` (the "
                "observed run on a fresh .albmtls-observe/, then this check), or `python -m deploy.observe "
                f"--state-dir {state_dir}` on a fresh directory (or pass --skip-observation)")
        return
    if not (Path(state_dir) / OBSERVED_MARKER).exists():
        rep.add("ram", str(state_dir), f"{state_dir} is a local cloud's state but not the observed run's (no "
                f"{OBSERVED_MARKER}): a `make run` state covers only the provisioning path, so the update and "
                "rotation paths' permissions would look extra. Run `make check-deploy` (the observed run on a fresh "
                ".albmtls-observe/, then this check), or `python -m deploy.observe --state-dir DIR` on a fresh "
                "directory and pass --state-dir DIR")
        return
    runtime: dict[str, int] = {}
    deploy_plane: dict[str, int] = {}
    for (product, action), n in calls.items():
        prefix = RAM_PREFIX.get(product)
        if prefix is None or action in ("?", ""):
            rep.notes.append(f"call log: {product}:{action} ({n}x) is not a known product action; ignored")
            continue
        ram_action = f"{prefix}:{action}"
        if product == "fnf" and (action in FNF_DEPLOY_ACTIONS or action in FNF_OPERATOR_ACTIONS):
            deploy_plane[ram_action] = deploy_plane.get(ram_action, 0) + n
        else:
            runtime[ram_action] = runtime.get(ram_action, 0) + n
    rep.checked["observed_actions"] = sorted(runtime)
    rep.checked["observed_deploy_actions"] = sorted(deploy_plane)
    if not runtime:
        rep.add("ram", str(state_dir),
                "the call log holds no product calls: run the end-to-end job on this state directory first")
        return
    if fn_policy is not None:
        observable_allowed = {a for a in fn_allowed if a.partition(":")[0] in OBSERVABLE_PREFIXES}
        for a in sorted(set(runtime) - observable_allowed):
            rep.add("ram", where, f"missing {a}: called {runtime[a]}x during the observed run")
        for a in sorted(observable_allowed - set(runtime) - set(allowances)):
            rep.add("ram", where, f"extra {a}: never called in the observed run; remove it, or list it with "
                    "its reason in deploy/ram/unobserved.json")
        for a in sorted(set(allowances) & set(runtime)):
            rep.notes.append(f"{a} is listed in unobserved.json but was observed: the entry can go")
    if deployer is not None:
        dep_allowed = set(_allowed(deployer))
        for a in sorted(set(deploy_plane) - dep_allowed):
            rep.add("ram", "deploy/ram/deployer-policy.json",
                    f"missing {a}: flow management/operator call observed {deploy_plane[a]}x")

"""The runtime checks of ``albmtls doctor``: the deployed CloudFlow flows and FC functions, and
whether a listener refuses a revoked certificate (the exposure, measured)."""
from __future__ import annotations

from functools import partial
from typing import Any

from shared.adapters.base import CallPolicy
from shared.core.errors import AlbMtlsError
from shared.core.wait import Deadline

from .base import REPO, DoctorEnv, Finding, finish

# -- CloudFlow and the functions --------------------------------------------------------------------------
FLOWS = {"albmtls-provision": REPO / "workflows" / "provision.yaml",
         "albmtls-issue": REPO / "workflows" / "issue.yaml",
         "albmtls-revoke": REPO / "workflows" / "revoke.yaml"}


def cloudflow(env: DoctorEnv) -> Finding:
    from shared.adapters.fnf import Fnf
    from shared.steps.provisioning import execution_failure, history, step_failure
    fnf = env.adapter(Fnf)
    states, problems = [], []
    kept = "not seen: no workflow uses a Map (the rotation runs in the issuing lane, workflows/issue.yaml)"
    for name, path in FLOWS.items():
        cur = fnf.describe_flow(name)
        if cur is None:
            states.append(f"{name} not deployed")
            problems.append(f"deploy {name} (s deploy, or albmtls provision on this target)")
            continue
        current = (cur.definition or "") == path.read_text()
        states.append(f"{name} {'current' if current else 'differs from ' + path.name}")
    out_v, hist_v = "not seen: no failed execution to read", "not seen: no failed execution to read"
    failed = next((e for e in fnf.list_executions("albmtls-provision", status="Failed")), None) \
        if fnf.describe_flow("albmtls-provision") else None
    if failed is not None:
        body = fnf.describe_execution("albmtls-provision", failed.name)
        events = history(env.settings, "albmtls-provision", failed.name)
        ended = execution_failure(events, None)
        own = step_failure(events)
        out_v = (f"confirmed: Output {body.output[:80]!r}" if body and body.output and "Code" in body.output
                 else f"contradicted: a failed execution's Output is {(body.output if body else '')!r:.80}")
        hist_v = (f"confirmed: the history names the failure ({ended['code']}"
                  + (f"; step {own['step']} {own['code']}" if own else "") + ")"
                  if ended["code"] != "EXECUTION_FAILED" else
                  "contradicted: no ExecutionFailed event with an error the product can read")
    settles = {"cross:CloudFlow Map concurrency key": kept, "fnf:behaviour:Output of a failed execution": out_v,
               "fnf:behaviour:History events": hist_v}
    f = finish("cloudflow", settles, "; ".join(states))
    if problems:
        f.result, f.fix = "warn", "; ".join(problems)
    return f


def functions(env: DoctorEnv) -> Finding:
    import yaml
    spec = yaml.safe_load((REPO / "s.yaml").read_text())
    fns = {str(r["props"]["functionName"]): str(r["props"].get("code", "")).rsplit("/", 1)[-1]
           for r in (spec.get("resources") or {}).values() if r.get("component") == "fc3"}
    if env.target == "local":
        import importlib

        from localruntime.fc import function_module
        missing = [n for n in fns
                   if not callable(getattr(importlib.import_module(function_module(n)), "handler", None))]
        return Finding("functions", "fail" if missing else "ok",
                       f"{len(fns) - len(missing)} of {len(fns)} functions of s.yaml have a handler in functions/",
                       f"add {', '.join(missing)}" if missing else "")
    try:
        from alibabacloud_fc20230330 import models as fm
        from alibabacloud_fc20230330.client import Client as FcClient
    except ImportError:
        return Finding("functions", "skip", "the FC 3.0 SDK is not installed", "pip install alibabacloud-fc20230330")
    from alibabacloud_tea_openapi.utils_models import Config

    from shared.adapters.clients import _default_credential
    s = env.settings
    cfg = Config(region_id=s.region, protocol=s.protocol, read_timeout=s.read_timeout_ms,
                 connect_timeout=s.connect_timeout_ms)
    if s.access_key_id and s.access_key_secret:
        cfg.access_key_id, cfg.access_key_secret, cfg.security_token = s.access_key_id, s.access_key_secret, \
            s.security_token
    else:
        cfg.credential = _default_credential()
    client, policy = FcClient(cfg), CallPolicy(Deadline(60))
    seen: list[str] = []
    problems: list[str] = []

    def get(name: str) -> Any:
        return client.get_function(name, fm.GetFunctionRequest())
    for name in fns:
        try:
            fn = policy(f"fc:GetFunction {name}", partial(get, name), product="fc").body
        except AlbMtlsError as err:
            if err.retryable:
                raise
            problems.append(f"{name}: {err.cloud_code or err.code}")
            continue
        envs = dict(fn.environment_variables or {})
        form = envs.get("ALBMTLS_ALB_CA_ID_FORM", "cert_identifier")
        if fn.runtime != "python3.12":
            problems.append(f"{name}: runtime {fn.runtime}")
        if form != s.alb_ca_id_form:
            problems.append(f"{name}: ALBMTLS_ALB_CA_ID_FORM={form}, here {s.alb_ca_id_form}")
        seen.append(name)
    return Finding("functions", "fail" if problems else "ok",
                   f"{len(seen)} of {len(fns)} functions deployed" + (f"; {'; '.join(problems)}" if problems else ""),
                   "deploy again (s deploy) with the ALBMTLS_ALB_CA_ID_FORM this doctor settled" if problems else "")


# -- revocation at the listener ----------------------------------------------------------------------------
def revocation(env: DoctorEnv) -> Finding:
    """``shared.steps.revocation_check.check_revocation_enforcement``: the assumption that a listener
    refuses a revoked PCA certificate takes a write to settle; this measures the exposure instead."""
    from shared.steps.revocation_check import check_revocation_enforcement
    from shared.steps.rotation import make_context
    out = check_revocation_enforcement(make_context(env.settings, "doctor", deadline_s=120))
    verdict = f"not seen: {out['how'].split(';', 1)[0]}; {out['detail']}"
    f = finish("revocation", {"cross:Revocation at the listener": verdict}, out["detail"])
    if out["result"] == "at_risk":
        f.result, f.fix = "warn", out["fix"]
    return f

"""`albmtls check-deploy`: passes on a good fixture, names each problem on a broken one."""
from __future__ import annotations

import json
from typing import TYPE_CHECKING

from deploy.check import check_deploy

from .deploy_fixture import FUNCTIONS, REPO, record_observed

if TYPE_CHECKING:
    from pathlib import Path


def _messages(report) -> list[str]:
    return [str(p) for p in report.problems]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_good_fixture_passes(repo, state_dir):
    rep = check_deploy(repo, state_dir=state_dir, build=True, env={})
    assert rep.ok, rep.text()
    assert set(rep.checked["functions"]) == set(FUNCTIONS)     # every fixture function deployed and checked
    assert rep.checked["handlers_imported"] == rep.checked["functions"]
    assert "alb:ListSystemSecurityPolicies" in rep.checked["observed_actions"]
    assert "fnf:CreateFlow" in rep.checked["observed_deploy_actions"]


def test_missing_function_dir_is_named(repo, state_dir):
    import shutil
    shutil.rmtree(repo / "functions" / "provision_api")
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("albmtls-provision-api" in m and "functions/provision_api/index.py is missing" in m for m in msgs), msgs


def test_broken_handler_is_named(repo, state_dir):
    (repo / "functions" / "health_check" / "index.py").write_text("def run(event, context):\n    return {}\n")
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("albmtls-health-check" in m and "defines no `handler`" in m for m in msgs), msgs


def test_handler_import_failure_is_named(repo, state_dir):
    (repo / "functions" / "preflight" / "index.py").write_text(
        "from shared.nowhere import thing\n\ndef handler(event, context):\n    return thing\n")
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("albmtls-preflight" in m and "importing index failed" in m and "shared.nowhere" in m for m in msgs), msgs


def test_code_path_not_matching_function_is_named(repo, state_dir):
    _edit(repo / "s.yaml", "code: ./build/create_cname", "code: ./build/create_record")
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("resources.create_cname.props.code" in m and "albmtls-create-cname" in m for m in msgs), msgs


def test_workflow_function_name_typo_is_named(repo, state_dir):
    _edit(repo / "workflows" / "provision.yaml", "functions/albmtls-create-cname/", "functions/albmtls-create-cnam/")
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("workflows/provision.yaml" in m and "'albmtls-create-cnam'" in m and "not a function in s.yaml" in m
               for m in msgs), msgs
    # the flow role no longer matches what the workflows invoke, both ways
    assert any("flow-role-policy.json" in m and "albmtls-create-cnam" in m for m in msgs), msgs


def test_invalid_workflow_is_named(repo, state_dir):
    _edit(repo / "workflows" / "issue.yaml", "Next: Done", "Next: Nowhere")
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("workflows/issue.yaml" in m and "'Nowhere' is not a state" in m for m in msgs), msgs


def test_ram_action_missing_is_named(repo, state_dir):
    _edit(repo / "deploy" / "ram" / "function-role-policy.json", '"alb:ListSystemSecurityPolicies"',
          '"alb:ListSystemSecurityPolicie"')
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("missing alb:ListSystemSecurityPolicies" in m for m in msgs), msgs
    assert any("extra alb:ListSystemSecurityPolicie:" in m for m in msgs), msgs


def test_ram_extra_action_is_named(tmp_path, repo):
    sd = tmp_path / "state2"
    record_observed(repo, sd, skip={"kms:GetSecretValue"})
    msgs = _messages(check_deploy(repo, state_dir=sd, env={}))
    assert msgs == ["[ram] deploy/ram/function-role-policy.json: extra kms:GetSecretValue: never called in the "
                    "observed run; remove it, or list it with its reason in deploy/ram/unobserved.json"], msgs


def test_observed_call_outside_the_role_is_named(tmp_path, repo):
    sd = tmp_path / "state3"
    record_observed(repo, sd, add={"alb:DeleteListener"})
    msgs = _messages(check_deploy(repo, state_dir=sd, env={}))
    assert any("missing alb:DeleteListener: called 1x" in m for m in msgs), msgs


def test_no_call_log_is_a_problem_unless_skipped(tmp_path, repo):
    rep = check_deploy(repo, state_dir=tmp_path / "empty", env={})
    assert any("no local cloud call log" in m for m in _messages(rep))
    assert check_deploy(repo, state_dir=tmp_path / "empty", observe=False, env={}).ok


def test_a_make_run_state_says_what_to_run_instead_of_listing_extras(tmp_path, repo):
    """`make check-deploy` right after `make run` used to fail with three "extra" permissions (that
    state covers only the provisioning path); a call log that is not the observed run's now gets one
    problem saying what to run."""
    from deploy.check.ram import OBSERVED_MARKER
    sd = tmp_path / "made-by-make-run"
    record_observed(repo, sd, skip={"alb:UpdateListenerAttribute", "yundun-cert:ListCertificates"})
    (sd / OBSERVED_MARKER).unlink()
    msgs = _messages(check_deploy(repo, state_dir=sd, env={}))
    assert len(msgs) == 1 and "not the observed run's" in msgs[0] and "make check-deploy" in msgs[0], msgs


def test_make_check_deploy_runs_the_observed_run_on_a_fresh_directory():
    make = (REPO / "Makefile").read_text()
    target = make[make.index("check-deploy: "):].split("\n\n")[0]
    assert "rm -rf .albmtls-observe" in target and "deploy.observe --state-dir .albmtls-observe" in target
    assert "check-deploy --state-dir .albmtls-observe" in target


def test_undeclared_product_is_named(repo, state_dir):
    (repo / "functions" / "record_desired_state" / "index.py").write_text(
        "def handler(event, context):\n    return context.client('alidns')\n")
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("albmtls-record-desired-state" in m and "['alidns'] not declared" in m for m in msgs), msgs


def test_account_specific_value_is_named(repo, state_dir):
    _edit(repo / "s.yaml", "${env('ALBMTLS_FLOW_ROLE_ARN')}", "acs:ram::1234567890123456:role/albmtls-flow")
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("[s.yaml] s.yaml:" in m and "account id" in m for m in msgs), msgs


def test_no_build_checks_existing_build_dir(repo, state_dir):
    rep = check_deploy(repo, state_dir=state_dir, build=False, env={})
    assert any("not built: run `make build`" in m for m in _messages(rep))


def test_cli_json(repo, state_dir):
    from typer.testing import CliRunner

    import albmtls.check_deploy  # noqa: F401 — registers the command
    from albmtls.app import app
    res = CliRunner().invoke(app, ["check-deploy", "--root", str(repo), "--state-dir", str(state_dir), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["ok"] is True and doc["problems"] == []
    _edit(repo / "deploy" / "ram" / "function-role-policy.json", '"kms:GetSecretValue",', "")
    res = CliRunner().invoke(app, ["check-deploy", "--root", str(repo), "--state-dir", str(state_dir), "--json"])
    assert res.exit_code == 1
    assert any("missing kms:GetSecretValue" in p["message"] for p in json.loads(res.stdout)["problems"])


def test_http_triggers_have_their_auth_types(repo, state_dir):
    """The signed API stays signed and only the download page is anonymous (issue 15)."""
    rep = check_deploy(repo, state_dir=state_dir, env={})
    assert rep.checked["http_triggers"] == {"albmtls-provision-api": "function", "albmtls-download": "anonymous"}
    assert not [m for m in _messages(rep) if "authType" in m or "HTTP trigger" in m], _messages(rep)


def test_anonymous_provision_api_is_refused(repo, state_dir):
    _edit(repo / "s.yaml", "authType: function", "authType: anonymous")
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("authType 'anonymous' on albmtls-provision-api" in m and "lets anyone provision" in m
               for m in msgs), msgs


def test_signed_download_trigger_is_refused(repo, state_dir):
    _edit(repo / "s.yaml", "authType: anonymous", "authType: function")
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("authType 'function' on albmtls-download" in m for m in msgs), msgs


def test_missing_download_trigger_and_stray_trigger_are_named(repo, state_dir):
    text = (repo / "s.yaml").read_text()
    start = text.index("      triggers:\n        - triggerName: download")
    text = text[:start] + text[start:].split("\n\n", 1)[-1] if "\n\n" in text[start:] else text[:start]
    text = text.replace("      functionName: albmtls-deliver\n",
                        "      functionName: albmtls-deliver\n      triggers:\n"
                        "        - triggerName: web\n          triggerType: http\n          triggerConfig:\n"
                        "            authType: function\n            methods: [GET]\n", 1)
    (repo / "s.yaml").write_text(text)
    msgs = _messages(check_deploy(repo, state_dir=state_dir, env={}))
    assert any("albmtls-download" in m and "needs its HTTP trigger (authType anonymous)" in m for m in msgs), msgs
    assert any("albmtls-deliver must not have an HTTP trigger" in m for m in msgs), msgs

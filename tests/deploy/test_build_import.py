"""Each function as FC 3.0 loads it: a fresh isolated interpreter (`python -I -S`) whose sys.path is
only the package `build/<fn>/` (deploy/build.py --no-deps) plus the requirements installed for this
interpreter (the real build's cp312 wheels do not import on 3.11) — no repository path, so
localcloud/tests/functions cannot leak in — imports `index.handler` and answers a sample event.
Against a live local cloud (endpoints file in the environment, as FC functions get their settings):
preflight with the demo input → ok; provision_api with the FC sample HTTP event and real routes;
rotation_scan with its timer event."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]

# The FC 3.0 HTTP-trigger sample (reference data fc3-http-event.json; body and path as sent).
FC3_HTTP_EVENT = {
    "version": "v1",
    "rawPath": "/2023-03-30/functions/fc3-event-test-http-trigger-Darwin-x86_64/invocations",
    "headers": {"Accept": "application/json", "Content-Type": "application/octet-stream",
                "X-Acs-Action": "InvokeFunction", "X-Acs-Version": "2023-03-30", "X-Fc-Log-Type": "Tail"},
    "queryParameters": {}, "body": "haha", "isBase64Encoded": False,
    "requestContext": {"accountId": "143**********149", "domainName": "143**********149.cn-huhehaote.fc.aliyuncs.com",
                       "domainPrefix": "143**********149", "requestId": "", "time": "2023-08-17T14:08:11Z",
                       "timeEpoch": "1692281291805",
                       "http": {"method": "POST",
                                "path": "/2023-03-30/functions/fc3-event-test-http-trigger-Darwin-x86_64/invocations",
                                "protocol": "HTTP/1.1", "sourceIp": "112.10.236.5", "userAgent": "AlibabaCloud"}},
}


def http_event(method: str, path: str, body: str = "", headers: dict | None = None) -> dict:
    ev = json.loads(json.dumps(FC3_HTTP_EVENT))
    ev.update(rawPath=path, body=body, headers=headers or {"Content-Type": "application/json"})
    ev["requestContext"]["http"].update(method=method, path=path)
    return ev


# Runs in the isolated interpreter: argv = [code dir, deps dir, repo, events JSON]; prints one JSON line.
PROBE = r"""
import json, os, sys
code, deps, repo, events = sys.argv[1], sys.argv[2], os.path.realpath(sys.argv[3]), json.loads(sys.argv[4])
sys.path[:0] = [code, deps]
leaks = [p for p in sys.path if p in ("", ".") or (os.path.realpath(p) + "/").startswith(repo + "/")
         and os.path.realpath(p) not in (os.path.realpath(code), os.path.realpath(deps))]
class Fn:
    name = os.path.basename(code); handler = "index.handler"; memory = 512; timeout = 60
class Ctx:
    request_id = "probe-1"; region = "cn-hangzhou"; account_id = "1234567890123456"; function = Fn()
    def get_remaining_time_in_millis(self): return 55000
import index
out = {"sys_path": sys.path, "leaks": leaks, "index": index.__file__,
       "shared": sys.modules["shared"].__file__, "answers": []}
for ev in events:
    r = index.handler(json.dumps(ev).encode(), Ctx())
    out["answers"].append(json.loads(r) if isinstance(r, (bytes, str)) else r)
for name in ("localcloud", "tests", "functions"):
    out[name] = name in sys.modules
    try:
        __import__(name)
        out[name + "_importable"] = True
    except ImportError:
        out[name + "_importable"] = False
print(json.dumps(out, default=str))
"""


def _load_build_tool():
    from deploy import build
    return build


@pytest.fixture(scope="session")
def host_deps() -> Path:
    tool = _load_build_tool()
    try:
        return tool.ensure_host_deps(REPO, REPO / "build", log=lambda m: None)
    except (tool.BuildError, subprocess.TimeoutExpired) as exc:
        text = str(exc)
        if any(s in text for s in ("NewConnectionError", "Name or service not known", "Temporary failure in name",
                                   "No matching distribution", "Could not find a version", "Network is unreachable",
                                   "ConnectTimeout", "ReadTimeout", "ProxyError", "timed out")):
            pytest.skip("PyPI is unreachable, the requirements cannot be installed for this interpreter: "
                        f"{text[-300:]}")
        raise


@pytest.fixture(scope="session")
def packages(tmp_path_factory) -> tuple[Path, dict]:
    tool = _load_build_tool()
    out = tmp_path_factory.mktemp("build")
    manifest = tool.build(REPO, out, deps=False, log=lambda m: None)
    return out, manifest


def probe(code: Path, deps: Path, events: list[dict], env: dict[str, str]) -> dict:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp"),
            "ALBMTLS_REGION": "cn-hangzhou"}
    p = subprocess.run([sys.executable, "-I", "-S", "-c", PROBE, str(code), str(deps), str(REPO), json.dumps(events)],
                       capture_output=True, text=True, timeout=120, cwd=str(code), env={**base, **env})
    assert p.returncode == 0, f"{code.name}: {p.stderr[-3000:]}"
    return json.loads(p.stdout.strip().splitlines()[-1])


def invalid_step_event() -> dict:
    return {"input": {"listener_port": "not-a-port"}, "execution_name": "probe"}


def test_every_function_imports_from_its_package_alone(packages, host_deps, lane, demo_input):
    out, manifest = packages
    functions = sorted(manifest["functions"])
    assert {"preflight", "issue_client_cert", "enable_mutual_auth", "create_cname", "health_check",
            "provision_api"} <= set(functions)
    env = {"ALBMTLS_ENDPOINTS_FILE": os.environ["ALBMTLS_ENDPOINTS_FILE"], "ALBMTLS_TARGET": "local"}
    events: dict[str, list[dict]] = {}
    for fn in functions:
        if fn == "provision_api":
            events[fn] = [FC3_HTTP_EVENT,
                          http_event("GET", "/provisions/no-such-execution"),
                          http_event("POST", "/provisions", json.dumps(dict(demo_input, listener_port=70000))),
                          # the fleet document as YAML: PyYAML is packaged with the function
                          http_event("POST", "/fleet/plan", (REPO / "examples" / "fleet.yaml").read_text(),
                                     headers={"Content-Type": "application/yaml"})]
        elif fn in ("rotation_scan", "drift_check"):
            events[fn] = [{"triggerTime": "2025-01-01T02:00:00Z", "triggerName": "daily", "payload": "{}"}]
        elif fn == "download":
            events[fn] = [http_event("GET", "/d/not-a-link-token-at-all")]
        else:
            events[fn] = [invalid_step_event()]
    events["preflight"].append({"input": demo_input, "execution_name": "probe-preflight"})

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(functions, pool.map(lambda f: probe(out / f, host_deps, events[f], env), functions),
                           strict=True))

    for fn, res in results.items():
        code = str((out / fn).resolve())
        assert res["leaks"] == [], (fn, res["sys_path"])
        assert str(REPO) not in res["sys_path"] and "" not in res["sys_path"], (fn, res["sys_path"])
        assert res["index"].startswith(code) and res["shared"].startswith(code), (fn, res)
        for name in ("localcloud", "tests", "functions"):
            assert res[name] is False and res[name + "_importable"] is False, (fn, name, res)
        if fn == "download":   # the anonymous page: an unknown link is a 404 page, never a trace
            assert res["answers"][0]["statusCode"] == 404, (fn, res["answers"][0])
        elif fn not in ("provision_api", "rotation_scan", "drift_check"):
            err = res["answers"][0]
            assert err["status"] == "failed" and err["error"]["code"] == "INVALID_INPUT", (fn, err)
            # the provision steps and deliver name the bad port; the issuer (another event shape: an
            # order) names `input`
            want = {"issuer": "input"}.get(fn, "input.listener_port")
            assert err["error"].get("field") == want, (fn, err)

    pre = results["preflight"]["answers"][1]
    assert pre["status"] == "ok", pre

    sample, unknown, bad, plan = results["provision_api"]["answers"]
    assert plan["statusCode"] == 200, plan
    assert [r["listener_key"] for r in json.loads(plan["body"])["listeners"]] == [
        "alb-demostd000000000001-443", "alb-demostd000000000001-8443"]
    for resp in (sample, unknown, bad):
        assert resp["headers"]["Content-Type"] == "application/json"
        assert "error" in json.loads(resp["body"])
    # the sample is an InvokeFunction call (octet-stream, body "haha"): POST /provisions with a non-JSON body
    assert sample["statusCode"] == 400 and json.loads(sample["body"])["error"]["field"] == "body", sample
    assert unknown["statusCode"] == 404              # a real DescribeExecution on the local cloud
    assert bad["statusCode"] == 400 and json.loads(bad["body"])["error"]["field"] == "listener_port"

    if "rotation_scan" in results:
        [scan] = results["rotation_scan"]["answers"]
        assert scan["status"] == "ok", scan
    [drift] = results["drift_check"]["answers"]
    assert drift["status"] == "ok" and drift["checked"] == 0, drift

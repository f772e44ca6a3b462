"""The main job end to end: `albmtls provision` runs the real workflow on the local cloud (flow
runner → FC handlers → real SDK clients → emulated APIs), with real TLS and real DNS."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]


def albmtls(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "albmtls", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=timeout, env={k: v for k, v in os.environ.items()
                                                           if not k.startswith("ALBMTLS_")})


def provision(ep: Path, input_file: Path, out: Path) -> tuple[int, dict, str]:
    p = albmtls("provision", "-f", str(input_file), "--endpoints-file", str(ep), "--json", "--out", str(out))
    try:
        doc = json.loads(p.stdout)
    except ValueError:
        pytest.fail(f"no JSON document on stdout (exit {p.returncode}):\n{p.stdout}\n{p.stderr[-3000:]}")
    return p.returncode, doc, p.stderr


def test_existing_out_keeps_its_mode_and_passwords_beside_keeps_the_old_layout(live_cloud, ep, tmp_path):
    """--out naming an existing directory does not chmod it; --passwords-beside puts <cn>.password next
    to <cn>.pfx, as before."""
    out = tmp_path / "shared-out"
    out.mkdir(mode=0o755)
    os.chmod(out, 0o755)
    p = albmtls("provision", "-f", str(operator_input(tmp_path)), "--endpoints-file", str(ep),
                "--json", "--out", str(out), "--passwords-beside")
    assert p.returncode == 0, p.stderr[-3000:]
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert sorted(x.name for x in out.iterdir()) == ["alice.password", "alice.pfx"]
    assert not (tmp_path / "shared-out-passwords").exists()


@pytest.fixture
def ep(live_cloud, tmp_path) -> Path:
    return Path(os.environ["ALBMTLS_ENDPOINTS_FILE"])


def operator_input(tmp_path: Path) -> Path:
    """The example input without alice's holder: the operator gets the PFX in --out (a person's
    certificate goes through the download page instead: tests/e2e/test_delivery_e2e.py)."""
    inp = json.loads((REPO / "examples" / "provision.json").read_text())
    for c in inp["clients"]:
        c.pop("holder", None)
    f = tmp_path / "operator.json"
    f.write_text(json.dumps(inp))
    return f


def test_provision_end_to_end_then_idempotent(live_cloud, ep, tmp_path, writes):
    out = tmp_path / "out"
    seed = live_cloud.endpoints()["seed"]
    example = operator_input(tmp_path)
    code, doc, err = provision(ep, example, out)
    assert code == 0, (doc, err[-3000:])
    assert doc["status"] == "succeeded"
    lst = doc["listener"]
    assert lst["ca_enabled"] is True and lst["port"] == 443
    assert lst["ca_certificate_id"] == seed["pca_sub_cert_identifier"]
    assert doc["dns"]["type"] == "CNAME" and doc["dns"]["value"] == seed["dns_name"]
    assert doc["health"]["healthy"] is True
    probe = doc["probe"]
    assert 200 <= probe["with_certificate"]["status"] < 300
    assert set(probe["with_certificate"]["backends"]) == set(seed["ecs"].values()) or \
        set(probe["with_certificate"]["backends"]) == set(seed["ecs"])
    assert probe["without_certificate"]["refused"] is True
    assert probe["foreign_certificate"]["refused"] is True
    assert doc["writes"] > 0
    [alice] = doc["client_certificates"]
    assert alice["common_name"] == "alice"
    # the PFX in --out, its password apart in <out>-passwords (never side by side), files 0600
    pfx, pw = out / "alice.pfx", tmp_path / "out-passwords" / "alice.password"
    assert sorted(p.name for p in out.iterdir()) == ["alice.pfx"]
    assert (alice["pfx_path"], alice["password_path"]) == (str(pfx), str(pw))
    assert stat.S_IMODE(pfx.stat().st_mode) == 0o600 and stat.S_IMODE(pw.stat().st_mode) == 0o600
    assert stat.S_IMODE(out.stat().st_mode) == 0o700 == stat.S_IMODE(pw.parent.stat().st_mode)   # created by us

    # A real client (curl, OpenSSL) with the exported PFX gets through the local listener.
    port = 443 + live_cloud.settings.port_offset
    ca = Path(live_cloud.endpoints()["state_dir"]) / "server-root-ca.pem"
    curl = ["curl", "-sS", "--max-time", "10", "--cacert", str(ca), "--resolve", f"app.example.test:{port}:127.0.0.1",
            "-o", "/dev/null", "-w", "%{http_code}"]
    ok = subprocess.run(curl + ["--cert-type", "P12", "--cert", f"{pfx}:{pw.read_text()}",
                                f"https://app.example.test:{port}/"], capture_output=True, text=True, timeout=20)
    assert ok.stdout == "200", ok.stderr
    refused = subprocess.run(curl + [f"https://app.example.test:{port}/"], capture_output=True, text=True, timeout=20)
    assert refused.stdout != "200"

    # Second run: the same ids, zero writes (as reported by the steps and as seen by the cloud).
    writes.mark()
    code2, doc2, err2 = provision(ep, example, tmp_path / "out2")
    assert code2 == 0, (doc2, err2[-3000:])
    assert doc2["writes"] == 0
    assert writes.since() == []
    assert doc2["listener"]["id"] == lst["id"]
    assert doc2["dns"]["record_id"] == doc["dns"]["record_id"]
    assert doc2["client_certificates"][0]["serial"] == alice["serial"]
    # Secrets never reach the output.
    password = pw.read_text()
    for text in (json.dumps(doc), json.dumps(doc2), err, err2):
        assert password not in text
        assert "PRIVATE KEY" not in text


def test_basic_alb_refused_with_zero_writes(live_cloud, ep, tmp_path, writes):
    seed = live_cloud.endpoints()["seed"]
    inp = json.loads((REPO / "examples" / "provision.json").read_text())
    inp["load_balancer_id"] = seed["basic_load_balancer_id"]
    f = tmp_path / "basic.json"
    f.write_text(json.dumps(inp))
    writes.mark()
    code, doc, err = provision(ep, f, tmp_path / "out")
    assert code != 0
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "ALB_EDITION_UNSUPPORTED", doc
    assert doc["writes"] == 0
    assert writes.since() == []


def test_invalid_input_names_the_field(tmp_path):
    inp = json.loads((REPO / "examples" / "provision.json").read_text())
    inp["listener_port"] = 70000
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(inp))
    p = albmtls("provision", "-f", str(f), "--json", "--state-dir", str(tmp_path / "st"))
    assert p.returncode == 2
    doc = json.loads(p.stdout)
    assert doc["error"]["code"] == "INVALID_INPUT" and doc["error"]["field"] == "listener_port"
    assert not (tmp_path / "st").exists()


def test_unhealthy_backend_fails_with_the_steps_own_code(live_cloud, ep, tmp_path):
    """A failing step's code reaches the user (not a workflow expression error)."""
    import urllib.request
    seed = live_cloud.endpoints()["seed"]
    admin = live_cloud.endpoints()["admin"]
    req = urllib.request.Request(f"{admin}/ecs/{seed['ecs']['ECS02']}/stop", data=b"{}", method="POST")
    urllib.request.urlopen(req, timeout=10).read()
    code, doc, err = provision(ep, REPO / "examples" / "provision.json", tmp_path / "out")
    assert code == 1
    assert doc["status"] == "failed"
    assert doc["error"]["code"] in ("HEALTH_CHECK_FAILED", "PROBE_FAILED"), doc["error"]
    assert seed["ecs"]["ECS02"] in doc["error"]["message"] or "ECS02" in doc["error"]["message"]


@pytest.mark.parametrize("alb_form", ["cert_identifier", "identifier"])
def test_provision_names_the_sub_ca_by_either_identifier(live_cloud, ep, tmp_path, demo_input, alb_form):
    """The user names the sub-CA by its CertIdentifier (the example names it by its Identifier);
    the product resolves it into the form the local cloud's ALB takes (published in the endpoints
    file as ``alb_ca_id_form``), and the read-back compares in that form."""
    seed = live_cloud.endpoints()["seed"]
    live_cloud.settings.alb_ca_id_form = alb_form
    live_cloud.write_endpoints(ep)
    try:
        inp = tmp_path / "input.json"
        inp.write_text(json.dumps({**demo_input, "ca_identifier": seed["pca_sub_cert_identifier"]}))
        code, doc, err = provision(ep, inp, tmp_path / "out")
    finally:
        live_cloud.settings.alb_ca_id_form = "cert_identifier"
        live_cloud.write_endpoints(ep)
    assert code == 0, (doc, err[-3000:])
    want = seed["pca_sub_cert_identifier"] if alb_form == "cert_identifier" else seed["pca_sub_identifier"]
    assert doc["listener"]["ca_certificate_id"] == want
    assert doc["probe"]["with_certificate"]["status"] == 200 and doc["probe"]["without_certificate"]["refused"]
    # the issued certificate's record names the CA by the Identifier the PCA issues under
    [alice] = doc["client_certificates"]
    meta = json.loads(live_cloud.store.get("kms.secret", alice["pfx_secret"].rsplit("/", 1)[0] + "/meta")
                      ["versions"][-1]["SecretData"])
    assert meta["ca"] == seed["pca_sub_identifier"]


def test_every_warning_is_in_the_summary_text_and_json(live_cloud, ep, tmp_path):
    """The private CA subscription ends in 45 days and the clients get 30-day certificates renewed at
    day 20: the next renewal will be refused, so the run warns — in the --json document and in the
    text summary, not only inside the preflight's result."""
    import time
    sub = live_cloud.endpoints()["seed"]["pca_sub_identifier"]
    doc = live_cloud.store.get("pca.ca", sub)
    doc["subscription_end"] = int((time.time() + 45 * 86400) * 1000)
    live_cloud.store.put("pca.ca", sub, doc)
    code, out, err = provision(ep, REPO / "examples" / "provision.json", tmp_path / "out")
    assert code == 0, (out, err[-3000:])
    [w] = [w for w in out["warnings"] if "CA ends" in w["message"]]
    assert w["level"] == "warning" and "the next renewal" in w["message"]
    p = albmtls("provision", "-f", str(REPO / "examples" / "provision.json"), "--endpoints-file", str(ep),
                "--out", str(tmp_path / "out"))
    assert p.returncode == 0, p.stderr[-3000:]
    assert "the next renewal" in " ".join(p.stderr.split()), p.stderr[-3000:]


def test_a_failing_parallel_branch_ends_the_run_and_the_cli_names_the_steps_own_code(live_cloud, ep, tmp_path):
    """ALB refuses the listener write for good (a non-retryable code, injected): EnableMutualAuth
    returns its failure, its branch reaches a Fail (literal STEP_FAILED) and the whole execution
    ends — HealthCheck never starts — while the CLI (and the API, from the same history) report the
    step's own code."""
    live_cloud.faults.configure({"rules": [{"kind": "busy", "product": "alb", "action": "CreateListener",
                                            "code": "QuotaExceeded.ListenersPerLoadBalancer", "status": 400,
                                            "message": "The number of listeners reached the quota."}]})
    code, doc, err = provision(ep, REPO / "examples" / "provision.json", tmp_path / "out")
    assert code == 1, (doc, err[-2000:])
    assert doc["status"] == "failed"
    assert doc["error"]["code"] == "QUOTA_EXCEEDED" and doc["error"]["step"] == "EnableMutualAuth"
    assert doc["error"]["execution_code"] == "STEP_FAILED"
    assert "QuotaExceeded.ListenersPerLoadBalancer" in doc["error"]["message"]
    from shared.core.settings import Settings
    from shared.steps.provisioning import describe_provision
    prog = describe_provision(Settings.load(target="local", endpoints_file=str(ep)), doc["execution"])
    entered = {(e.get("step") or "").rsplit("/", 1)[-1] for e in prog.events if e["type"] == "StepEntered"}
    assert "HealthCheck" not in entered and prog.events[-1]["type"] == "ExecutionFailed"
    # the human-readable form names it too
    p = albmtls("provision", "-f", str(REPO / "examples" / "provision.json"), "--endpoints-file", str(ep),
                "--out", str(tmp_path / "out2"))
    assert p.returncode == 1
    assert "QUOTA_EXCEEDED" in p.stderr + p.stdout and "EnableMutualAuth" in p.stderr + p.stdout

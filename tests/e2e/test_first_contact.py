"""First contact with a real account, as a new user meets it: `albmtls … --target cloud` without
credentials, with unusable ones, with good ones (the account and region first), and the plan and
a confirmation before the first write. "The cloud" here is the local cloud reached through the
cloud target's own code path (public-endpoint overrides, the default credential chain, STS
GetCallerIdentity) — the same code a real account gets."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
PRODUCTS = ("alb", "cas", "pca", "alidns", "kms", "fnf", "sts", "actiontrail")


def blank_env(home: Path, **extra: str) -> dict[str, str]:
    """No ALIBABA_CLOUD_* and no ALBMTLS_* variables, HOME an empty directory (no profiles)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ALIBABA_CLOUD_", "ALBMTLS_", "ALICLOUD_"))}
    env["HOME"] = str(home)
    env.update(extra)
    return env


def albmtls(*args: str, env: dict[str, str], timeout: float = 120, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "albmtls", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env, input=stdin)


def test_without_credentials_status_fails_in_seconds_with_one_line(tmp_path):
    """The issue's test: a blank environment (no ALIBABA_CLOUD_* variables, HOME a temp dir, the
    metadata service not serving credentials) — exit 1 within 10 s (the subprocess timeout),
    fewer than 5 lines, one naming the missing credentials and the chain tried, no traceback."""
    p = albmtls("status", "--target", "cloud", env=blank_env(tmp_path), timeout=10)
    out = (p.stdout + p.stderr).strip().splitlines()
    assert p.returncode == 1, p.stdout + p.stderr
    assert len(out) < 5, out
    [line] = [x for x in out if "CREDENTIALS_MISSING" in x]
    assert "credentials" in line and "ALIBABA_CLOUD_ACCESS_KEY_ID" in line and "~/.aliyun/config.json" in line
    assert "Traceback" not in p.stderr
    js = albmtls("status", "--target", "cloud", "--json", env=blank_env(tmp_path), timeout=10)
    assert js.returncode == 1 and json.loads(js.stdout)["error"]["code"] == "CREDENTIALS_MISSING"


@pytest.mark.parametrize("setup, words", [
    ({"ALIBABA_CLOUD_ACCESS_KEY_ID": "LTAI5tExampleKey1234"},
     "ALIBABA_CLOUD_ACCESS_KEY_ID is set (LTAI…1234) but ALIBABA_CLOUD_ACCESS_KEY_SECRET is not"),
    ({"ALIBABA_CLOUD_ACCESS_KEY_SECRET": "not-shown-anywhere"},
     "ALIBABA_CLOUD_ACCESS_KEY_SECRET is set but ALIBABA_CLOUD_ACCESS_KEY_ID is not"),
    ({".aliyun/config.json": '{"current": "default", "profiles": ['}, "/.aliyun/config.json) is malformed: not valid "
     "JSON at line 1"),
])
def test_half_set_credentials_are_named_not_called_missing(tmp_path, setup, words):
    """A key id without its secret, or a CLI profile file that is not JSON, was reported as no
    credentials at all (the chain skips them silently): the line says which and where."""
    env = blank_env(tmp_path, ALIBABA_CLOUD_ECS_METADATA_DISABLED="true")
    for k, v in setup.items():
        if k.startswith("."):
            (tmp_path / k).parent.mkdir(parents=True)
            (tmp_path / k).write_text(v)
        else:
            env[k] = v
    p = albmtls("status", "--target", "cloud", env=env, timeout=30)
    assert p.returncode == 1 and "CREDENTIALS_MISSING" in p.stderr and words in p.stderr, p.stderr
    assert "not-shown-anywhere" not in p.stdout + p.stderr and "Traceback" not in p.stderr


@pytest.mark.parametrize("bad", ["Cloud", "CLOUD", "prod", "locall"])
def test_target_takes_exactly_local_or_cloud(tmp_path, bad):
    for cmd in (["status"], ["provision", "-f", str(REPO / "examples" / "provision.json")], ["rotate"], ["doctor"],
                ["inventory"], ["drift"]):
        p = albmtls(*cmd, "--target", bad, env=blank_env(tmp_path), timeout=30)
        assert p.returncode == 2 and "must be local or cloud" in p.stderr, (cmd, p.stderr)


@pytest.fixture
def as_cloud(live_cloud, tmp_path):
    """The environment of a cloud-target run whose public endpoints are the local cloud's: explicit
    endpoint overrides and the local AccessKey in the standard environment variables."""
    ep = live_cloud.endpoints()

    def env(**creds: str) -> dict[str, str]:
        e = blank_env(tmp_path, ALBMTLS_PROTOCOL="http", ALIBABA_CLOUD_ECS_METADATA_DISABLED="true",
                      **{f"ALBMTLS_ENDPOINT_{p.upper()}": ep[p] for p in PRODUCTS})
        e.update(creds or {"ALIBABA_CLOUD_ACCESS_KEY_ID": ep["access_key_id"],
                           "ALIBABA_CLOUD_ACCESS_KEY_SECRET": ep["access_key_secret"]})
        return e
    return env


def test_an_sts_key_without_its_token_is_refused_before_any_call(live_cloud, as_cloud):
    mark = live_cloud.store.last_call_n()
    p = albmtls("status", "--target", "cloud", env=as_cloud(ALIBABA_CLOUD_ACCESS_KEY_ID="STS.NUxxxxxxxxxxxxxxx",
                                                            ALIBABA_CLOUD_ACCESS_KEY_SECRET="x"), timeout=30)
    assert p.returncode == 1 and "CREDENTIALS_INVALID" in p.stderr and "ALIBABA_CLOUD_SECURITY_TOKEN" in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert live_cloud.store.calls(mark) == []          # nothing was sent


def test_a_refused_key_fails_at_once_with_credentials_invalid(live_cloud, as_cloud):
    ep = live_cloud.endpoints()
    env = as_cloud(ALIBABA_CLOUD_ACCESS_KEY_ID=ep["access_key_id"], ALIBABA_CLOUD_ACCESS_KEY_SECRET="not-the-secret")
    p = albmtls("status", "--target", "cloud", env=env, timeout=30)
    assert p.returncode == 1
    [line] = p.stderr.strip().splitlines()
    assert line.startswith("CREDENTIALS_INVALID") and "SignatureDoesNotMatch" in line


def test_status_on_the_cloud_target_names_the_account_and_region_first(live_cloud, as_cloud):
    p = albmtls("status", "--target", "cloud", env=as_cloud(), timeout=60)
    assert p.returncode == 0, p.stderr
    first = p.stderr.strip().splitlines()[0]
    assert first.startswith("account 1234567890123456 (RAMUser acs:ram::1234567890123456:user/albmtls-local)")
    assert "region cn-hangzhou" in first and "credentials from environment" in first.lower()
    doc = json.loads(albmtls("status", "--target", "cloud", "--json", env=as_cloud(), timeout=60).stdout)
    assert doc["account"]["account_id"] == "1234567890123456" and doc["account"]["region"] == "cn-hangzhou"


def test_provision_on_the_cloud_target_shows_the_plan_and_asks_first(live_cloud, as_cloud, writes):
    seed = live_cloud.endpoints()["seed"]
    inp = str(REPO / "examples" / "provision.json")
    writes.mark()
    no = albmtls("provision", "-f", inp, "--target", "cloud", env=as_cloud(), stdin="n\n", timeout=120)
    assert no.returncode == 1, no.stderr
    err = no.stderr
    assert err.index("account 1234567890123456") < err.index("plan (region cn-hangzhou):")
    assert f"listener {seed['load_balancer_id']}:443: create, CA {seed['pca_sub_cert_identifier']}" in err
    assert "flow albmtls-provision: " in err and "make these changes?" in err
    assert "CONFIRMATION_REQUIRED: nothing was changed" in err
    assert writes.since() == [] and [c for c in live_cloud.store.calls(writes.n) if c["product"] == "fnf"
                                     and c["write"] and c["code"] == "OK"] == []
    # end of input is no answer: nothing changes either
    assert albmtls("provision", "-f", inp, "--target", "cloud", env=as_cloud(), timeout=120).returncode == 1
    assert writes.since() == []
    # --yes: the same plan, then the run
    yes = albmtls("provision", "-f", inp, "--target", "cloud", "--yes", "--json", env=as_cloud(), timeout=240)
    assert yes.returncode == 0, yes.stderr[-3000:]
    doc = json.loads(yes.stdout)
    assert doc["status"] == "succeeded" and doc["listener"]["ca_certificate_id"] == seed["pca_sub_cert_identifier"]
    assert "make these changes?" not in yes.stderr and "plan (region cn-hangzhou):" in yes.stderr


def test_every_cloud_command_names_the_account_first(live_cloud, as_cloud):
    """The fleet's commands share the same first line (their cloud settings go through
    ``albmtls.options.cloud_identity``)."""
    p = albmtls("inventory", "--target", "cloud", "--format", "json", env=as_cloud(), timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stderr.startswith("account 1234567890123456 (RAMUser"), p.stderr
    json.loads(p.stdout)


def test_the_own_ca_and_the_drift_repair_name_the_account_and_ask_before_writing(live_cloud, as_cloud, writes):
    """The other commands that write on the cloud target: ``ca create`` (KMS keys, CAS uploads) and
    ``drift --repair`` (provision executions) name the account first and ask; no answer, no write."""
    writes.mark()
    no = albmtls("ca", "create", "--name", "corp", "--target", "cloud", env=as_cloud(), stdin="n\n", timeout=60)
    assert no.returncode == 1, no.stderr
    assert no.stderr.startswith("account 1234567890123456 (RAMUser"), no.stderr
    assert "own CA corp (EC_P256), unless it exists" in no.stderr and "make these changes?" in no.stderr
    assert "CONFIRMATION_REQUIRED: nothing was changed" in no.stderr
    rep = albmtls("drift", "--repair", "--target", "cloud", env=as_cloud(), stdin="n\n", timeout=60)
    assert rep.returncode == 1, rep.stderr
    assert rep.stderr.startswith("account 1234567890123456 (RAMUser") and "auto_repair: true" in rep.stderr
    assert "CONFIRMATION_REQUIRED: nothing was changed" in rep.stderr
    assert writes.since() == [] and [c for c in live_cloud.store.calls(writes.n) if c["product"] == "fnf"
                                     and c["write"] and c["code"] == "OK"] == []
    listed = albmtls("ca", "list", "--target", "cloud", env=as_cloud(), timeout=60)
    assert listed.returncode == 0 and listed.stderr.startswith("account 1234567890123456 (RAMUser"), listed.stderr

"""What a newcomer meets on the local target, end to end through the CLI (subprocesses): the
banner says which local cloud is used and when its clock is moved, the clock can be put back and
a certificate not valid at the cloud's time is never reused, a data-plane port held by another
process is reported as such, and a region the local cloud does not serve is refused."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "provision.json"


def albmtls(*args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "albmtls", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env={k: v for k, v in os.environ.items() if not k.startswith("ALBMTLS_")})


def text(p: subprocess.CompletedProcess) -> str:
    return " ".join((p.stdout + p.stderr).split())


@pytest.fixture
def ep(live_cloud) -> str:
    return os.environ["ALBMTLS_ENDPOINTS_FILE"]


def test_clock_moved_is_shown_put_back_and_a_certificate_from_the_future_is_never_reused(live_cloud, ep, tmp_path):
    out = ["--out", str(tmp_path / "out")]
    first = albmtls("provision", "-f", str(EXAMPLE), "--endpoints-file", ep, "--json", *out)
    assert first.returncode == 0, first.stderr[-2000:]
    # the cloud's clock 40 days ahead (past alice's end): the banner says so, alice is issued anew
    moved = albmtls("clock", "set", "+40d", "--endpoints-file", ep, "--json")
    assert moved.returncode == 0 and json.loads(moved.stdout)["offset_s"] > 39 * 86400, moved.stderr
    ahead = albmtls("provision", "-f", str(EXAMPLE), "--endpoints-file", ep, *out)
    assert ahead.returncode == 0, ahead.stderr[-2000:]
    assert "running, endpoints" in text(ahead) and "days ahead of this machine's" in text(ahead)
    assert "albmtls clock reset" in text(ahead)
    # back to this machine's time: the certificate issued "in the future" is not valid now; it is
    # replaced, and the live probe passes (it used to be reused and fail with RemoteDisconnected)
    back = albmtls("clock", "reset", "--endpoints-file", ep, "--json")
    assert back.returncode == 0 and json.loads(back.stdout)["at_wall_time"] is True, back.stderr
    # status does not call the certificate from the future valid: "not yet valid", from its not_before
    future = json.loads(albmtls("status", "--endpoints-file", ep, "--json").stdout)
    [row] = [r for r in future["certificates"] if r["common_name"] == "alice" and r["state"] not in ("superseded",
                                                                                                   "expired")]
    assert row["state"] == "not_yet_valid" and row["not_before"] > future["now"], (row, future["now"])
    table = text(albmtls("status", "--endpoints-file", ep, "--cn", "alice"))
    assert "not yet valid" in table and "valid from" in table and "1 not yet valid" in table, table
    again = albmtls("provision", "-f", str(EXAMPLE), "--endpoints-file", ep, "--json", *out)
    assert again.returncode == 0, (again.stdout[-2000:], again.stderr[-2000:])
    [alice] = json.loads(again.stdout)["client_certificates"]
    assert alice["reused"] is False
    shown = albmtls("clock", "show", "--endpoints-file", ep)
    assert "this machine's time" in text(shown)


def test_a_held_data_plane_port_is_reported_as_such(tmp_path):
    from localruntime.ports import free_offset
    offset = free_offset((443,))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 443 + offset))
        holder.listen(1)
        p = albmtls("provision", "-f", str(EXAMPLE), "--state-dir", str(tmp_path / "st"), "--port-offset",
                    str(offset), "--json", "--out", str(tmp_path / "out"))
    assert p.returncode == 1, p.stdout[-2000:]
    err = json.loads(p.stdout)["error"]
    assert err["code"] == "LOCAL_PORT_IN_USE" and f"127.0.0.1:{443 + offset}" in err["message"]
    assert "--port-offset" in err["message"] and "Traceback" not in p.stderr


def test_a_region_the_local_cloud_does_not_serve_is_refused(live_cloud, ep, tmp_path):
    f = tmp_path / "mars.json"
    f.write_text(json.dumps(dict(json.loads(EXAMPLE.read_text()), region="mars-1")))
    p = albmtls("provision", "-f", str(f), "--endpoints-file", ep, "--json", "--out", str(tmp_path / "out"))
    assert p.returncode == 2, p.stdout[-2000:]
    err = json.loads(p.stdout)["error"]
    assert (err["code"], err["field"]) == ("INVALID_INPUT", "region") and "cn-hangzhou" in err["message"]


def _ecs(live_cloud, action: str) -> None:
    import urllib.request
    admin = live_cloud.endpoints()["admin"]
    for iid in live_cloud.endpoints()["seed"]["ecs"].values():
        urllib.request.urlopen(urllib.request.Request(f"{admin}/ecs/{iid}/{action}", data=b"{}", method="POST"),
                               timeout=10).read()


def test_status_shows_the_running_execution_that_execution_running_points_at(live_cloud, ep, demo_input):
    """EXECUTION_RUNNING says "wait for it (albmtls status)": status lists running and recent executions.
    The backends are stopped so that the execution waits in its health check while status looks."""
    import time

    from shared.core.settings import Settings
    from shared.policy.contracts import ProvisionInput
    from shared.policy.validation import decode
    from shared.steps.provisioning import PROVISION_FLOW, deploy_flows, start_provision
    deploy_flows(Settings.load(), REPO / "workflows")       # the provision flow and the issuing lane's
    _ecs(live_cloud, "stop")
    try:
        started = start_provision(Settings.load(), demo_input, decode(ProvisionInput, demo_input).listener_key)
        shown = albmtls("status", "--endpoints-file", ep)
        assert f"running albmtls-provision {started.name}" in text(shown), text(shown)[-1500:]
        p = albmtls("status", "--endpoints-file", ep, "--json")
        running = json.loads(p.stdout)["executions"]["running"]
        assert [(r["flow"], r["name"], r["status"]) for r in running] == [(PROVISION_FLOW, started.name, "running")]
    finally:
        _ecs(live_cloud, "start")
    deadline = time.monotonic() + 180
    while json.loads(albmtls("status", "--endpoints-file", ep, "--json").stdout)["executions"]["running"]:
        assert time.monotonic() < deadline
        time.sleep(1)
    recent = json.loads(albmtls("status", "--endpoints-file", ep, "--json", "--state", "valid", "--cn", "alice").stdout)
    assert recent["executions"]["recent"][0]["name"] == started.name
    assert [(c["common_name"], c["state"]) for c in recent["certificates"]] == [("alice", "valid")]
    table = albmtls("status", "--endpoints-file", ep)
    assert "…" not in table.stdout and "alice" in table.stdout     # nothing cut at 140 columns


def test_rotation_progress_names_each_item_with_counts_and_plurals_are_right(live_cloud, ep, tmp_path):
    from datetime import UTC, datetime, timedelta
    out = ["--out", str(tmp_path / "out")]
    assert albmtls("provision", "-f", str(EXAMPLE), "--endpoints-file", ep, "--json", *out).returncode == 0
    now = (datetime.now(UTC) + timedelta(days=21)).strftime("%Y-%m-%dT%H:%M:%SZ")
    p = albmtls("rotate", "--now", now, "--endpoints-file", ep, *out)
    assert p.returncode == 0, p.stderr[-2000:]
    said = text(p)
    assert "[1/1] renewed alice on alb-demostd000000000001-443" in said          # the item, named and counted
    assert "✓ Renew" not in said and "[2/1]" not in said                       # no bare step lines; items counted once
    assert "1 certificate scanned" in said and "order rotate-albmtls-" in said   # the day's order in the lane
    assert "1 certificate renewed, 0 revoked" in said and "certificates scanned" not in said


BANNER = "alb-mtls on the local cloud (running, endpoints"


def test_every_command_writes_its_report_to_stdout_and_its_banner_to_stderr(live_cloud, ep, tmp_path):
    """As Terraform and kubectl: ``cmd > report.txt`` holds the report (``albmtls doctor | grep ok``
    works); the banner, progress and errors stay on stderr. Most commands wrote everything to
    stderr, and drift, inventory and clock printed no banner."""
    out = ["--out", str(tmp_path / "out")]
    runs = {
        "apply": (["apply", "-f", str(EXAMPLE), *out], "1 applied, 0 unchanged, 0 failed"),
        "plan": (["plan", "-f", str(EXAMPLE)], "Plan: 0 of 1 listener to change"),
        "status": (["status"], "client certificates at"),
        "inventory": (["inventory"], "certificates the private CA lists"),
        "drift": (["drift"], "1 listener checked: 0 drifted"),
        "doctor": (["doctor", "--check", "alb-read"], "albmtls doctor — local target"),
        "clock show": (["clock", "show"], "local cloud clock"),
        "ca list": (["ca", "list"], "no own CA under secret prefix"),
        "rotate": (["rotate", *out], "alb-mtls rotation"),
    }
    for name, (args, said) in runs.items():
        p = albmtls(*args, "--endpoints-file", ep)
        assert p.returncode in (0, 2), (name, p.stdout[-1500:], p.stderr[-1500:])
        assert said in " ".join(p.stdout.split()), (name, p.stdout[-1500:], p.stderr[-1500:])
        assert p.stderr.startswith(BANNER), (name, p.stderr[:500])
        assert BANNER not in p.stdout, (name, p.stdout[:500])
    apply_progress = albmtls("apply", "-f", str(EXAMPLE), "--endpoints-file", ep, *out)
    assert "Plan: 0 of 1 listener to change" in apply_progress.stdout
    csv = albmtls("inventory", "--format", "csv", "--endpoints-file", ep)
    assert csv.stdout.splitlines()[0].startswith("holder,") and csv.stderr.startswith(BANNER), csv.stdout[:300]


def test_execution_names_take_the_cloud_clock(live_cloud, ep, tmp_path):
    """One clock: with the local cloud's clock moved, provision, apply and revoke name their
    executions at the cloud's time, as drift --repair (the timer's function) does — they used this
    machine's."""
    out = ["--out", str(tmp_path / "out")]
    moved = albmtls("clock", "set", "+21d", "--endpoints-file", ep, "--json")
    assert moved.returncode == 0, moved.stderr
    stamp = f"-443-{json.loads(moved.stdout)['now'][:10].replace('-', '')}T"
    p = albmtls("provision", "-f", str(EXAMPLE), "--endpoints-file", ep, "--json", *out)
    assert p.returncode == 0, p.stderr[-2000:]
    assert stamp in json.loads(p.stdout)["execution"], p.stdout[:400]
    two = json.loads(EXAMPLE.read_text())
    two["clients"].append({"common_name": "bob", "days": 30})
    (tmp_path / "two.json").write_text(json.dumps(two))
    a = albmtls("apply", "-f", str(tmp_path / "two.json"), "--endpoints-file", ep, "--json", *out)
    assert a.returncode == 0, (a.stdout[-1500:], a.stderr[-1500:])
    [applied] = json.loads(a.stdout)["listeners"]
    assert stamp in applied["execution"], a.stdout[:600]
    r = albmtls("revoke", "--listener", "alb-demostd000000000001:443", "--cn", "bob", "--endpoints-file", ep,
                "--json")
    assert r.returncode == 0, r.stderr[-2000:]
    assert stamp in json.loads(r.stdout)["execution"], r.stdout[:600]

"""``LocalCloud.reset``: back to the freshly seeded account in place — the store (documents,
counters, metadata, call log) as seeded with the seed's key material unchanged, the clock, faults,
settings and runtime overrides as at start — with every runtime service following: data-plane
servers of listeners that no longer exist closed, stopped ECS backends running again, health
state forgotten, running executions stopped without a trace in the store."""
from __future__ import annotations

import json
import threading
import time

import pytest
from alibabacloud_alb20200616 import models as am

from localruntime.cloud import LocalCloud, Settings
from localruntime.ecs import port_reachable
from tests.conftest import make_client


def wait_for(pred, timeout: float = 10.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("timed out")


def test_store_reset_restores_documents_counters_meta_and_calls(tmp_path):
    from localcloud.store import Store
    for path in (None, tmp_path / "s.sqlite3"):
        s = Store(path)
        s.put("k", "1", {"v": 1})
        s.set_meta("m", "seeded")
        s.next_seq("c")
        s.snapshot()
        s.put("k", "1", {"v": 2})
        s.put("k", "2", {"v": 3})
        s.set_meta("m", "changed")
        s.record_call("alb", "CreateListener", True, "OK", 200)
        assert s.next_seq("c") == 2
        s.reset()
        assert s.list("k") == [{"v": 1}] and s.get_meta("m") == "seeded"
        assert s.calls() == [] and s.next_seq("c") == 2
        s.close()


def test_store_reset_needs_a_snapshot():
    from localcloud.store import Store
    with pytest.raises(RuntimeError):
        Store(None).reset()


def test_control_plane_reset(cloud, clients):
    ids = cloud.store.get_meta("seed")["seed"]
    root_before = cloud.store.get_meta("server_root_ca_pem")
    sub_before = cloud.store.get("pca.ca", ids["pca_sub_identifier"])["Certificate"]
    kinds_before = cloud.store.kinds()
    alb = clients("alb")
    alb.create_server_group(am.CreateServerGroupRequest(
        server_group_name="to-be-forgotten", vpc_id=ids["vpc_id"],
        health_check_config=am.CreateServerGroupRequestHealthCheckConfig(health_check_enabled=False)))
    cloud.clock.advance(86400 * 30)
    cloud.faults.configure({"rules": [{"kind": "5xx", "rate": 1.0, "product": "kms"}], "qps": {"alb": 1}})
    cloud.settings.alb_job_seconds = 600
    cloud.runtime["flow_sleep"] = lambda s: None
    assert cloud.store.calls()

    cloud.reset()
    assert cloud.store.kinds() == kinds_before and cloud.store.calls() == []
    assert cloud.store.get_meta("server_root_ca_pem") == root_before           # same key material
    assert cloud.store.get("pca.ca", ids["pca_sub_identifier"])["Certificate"] == sub_before
    assert abs(cloud.clock.offset) < 1e-6
    assert cloud.faults.describe()["rules"] == [] and cloud.faults.describe()["qps"] == {"cas": 10.0, "pca": 10.0,
                                                                                          "kms": 200.0}
    assert cloud.faults.injected == {}
    assert cloud.settings.alb_job_seconds == 0.05
    assert "flow_sleep" not in cloud.runtime
    # the API answers from the restored state
    names = [g.server_group_name for g in alb.list_server_groups(am.ListServerGroupsRequest()).body.server_groups]
    assert "to-be-forgotten" not in names and names == ["demo-http"]


def test_live_services_follow_a_reset(live_cloud):
    cloud = live_cloud
    ids = cloud.store.get_meta("seed")["seed"]
    ecs01 = ids["ecs"]["ECS01"]
    ports = cloud.runtime["ecs_ports"]
    # a serving listener (documents written straight into the store), a stopped backend, health state
    listener = dict(cloud.store.get("alb.listener", ids["demo_http_listener_id"]), ListenerId="lsn-reset0000000000001",
                    ListenerPort=443, ListenerProtocol="HTTPS", busy_until_s=0.0,
                    Certificates=[{"CertificateId": ids["server_cert_identifier"]}])
    cloud.store.put("alb.listener", listener["ListenerId"], listener, key2=ids["load_balancer_id"])
    sg = cloud.store.get("alb.servergroup", ids["demo_server_group_id"])
    sg["Servers"] = [{"ServerId": ecs01, "ServerType": "Ecs", "Port": 80, "Weight": 100}]
    cloud.store.put("alb.servergroup", sg["ServerGroupId"], sg)
    port = 443 + cloud.settings.port_offset
    wait_for(lambda: cloud.runtime["dataplane"].get(listener["ListenerId"]) == port)
    wait_for(lambda: cloud.store.count("health.server") == 1)
    cloud.services["ecs"].set_running(ecs01, False)
    assert not port_reachable(ports[(ecs01, 80)])

    cloud.reset()
    assert cloud.runtime["dataplane"] == {} and not port_reachable(port)
    assert port_reachable(ports[(ecs01, 80)])                     # running again, on the same port
    assert cloud.store.count("health.server") == 0
    time.sleep(0.3)                                                # loops resumed: nothing comes back
    assert cloud.runtime["dataplane"] == {} and cloud.store.count("health.server") == 0


def test_a_running_execution_is_stopped_and_leaves_no_trace(live_cloud):
    cloud = live_cloud
    fnf = make_client("fnf", cloud.endpoints())
    from alibabacloud_fnf20190315 import models as fm
    entered = threading.Event()

    def invoker(name, payload, info):
        entered.set()
        return json.dumps({"ok": True}).encode()

    cloud.runtime["flow_invoker"] = invoker
    definition = {"Type": "StateMachine", "SpecVersion": "v1", "Name": "held", "StartAt": "Call",
                  "States": [{"Type": "Task", "Name": "Call", "Action": "FC:InvokeFunction",
                              "Parameters": {"resourceArn": "acs:fc:::functions/x/LATEST", "invocationType": "Sync"},
                              "Next": "Hold"},
                             {"Type": "Wait", "Name": "Hold", "Seconds": 300, "Next": "Done"},
                             {"Type": "Succeed", "Name": "Done"}]}
    fnf.create_flow(fm.CreateFlowRequest(name="held", definition=json.dumps(definition), description="d", type="FDL"))
    fnf.start_execution(fm.StartExecutionRequest(flow_name="held", execution_name="e1"))
    assert entered.wait(10)
    t0 = time.monotonic()
    cloud.reset()
    assert time.monotonic() - t0 < 5                               # the Wait is cut short
    assert cloud.store.count("fnf.execution") == 0 and cloud.store.count("fnf.flow") == 0
    assert cloud.services["fnf"].live == {}
    assert cloud.runtime["flow_invoker"] is not invoker
    time.sleep(0.5)                                                # nothing is flushed afterwards
    assert cloud.store.count("fnf.execution") == 0


def test_a_cloud_started_on_a_seeded_state_directory_is_seeded_anew(tmp_path):
    # clouds of their own: the second starts on the first one's state directory
    settings = Settings(services=())
    with LocalCloud(tmp_path / "st", seed="demo", settings=settings) as c:
        c.store.put("extra", "1", {})
    with LocalCloud(tmp_path / "st", seed="demo", settings=settings) as c:
        assert c.store.get("extra", "1") is not None
        c.reset()
        assert c.store.get("extra", "1") is None
        assert c.store.get_meta("seed")["seed"]["load_balancer_id"] == "alb-demostd000000000001"

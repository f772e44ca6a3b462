"""Contract tests of the local cloud's ALB 2020-06-16, driven through the official SDK client."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import pytest
from alibabacloud_alb20200616 import models as m
from alibabacloud_tea_openapi.exceptions import ClientException

if TYPE_CHECKING:
    from collections.abc import Callable

DEADLINE_S = 5.0


# ------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------
@pytest.fixture
def ids(cloud) -> dict[str, Any]:
    return cloud.store.get_meta("seed")["seed"]


@pytest.fixture
def alb(clients):
    return clients("alb")


@pytest.fixture
def certs(cloud, ids) -> dict[str, str]:
    """The seeded server certificate and CAs; minimal documents (SCHEMA.md) where the CAS/PCA
    seeds do not provide them yet."""
    store = cloud.store
    if store.get("cas.cert", str(ids["server_cert_id"])) is None:
        store.put("cas.cert", str(ids["server_cert_id"]), {
            "CertId": ids["server_cert_id"], "CertIdentifier": ids["server_cert_identifier"], "Name": "demo",
            "Cert": "", "Key": "", "CommonName": ids["server_cert_domain"], "Sans": [ids["server_cert_domain"]],
            "Issuer": "test", "NotBefore": 0, "NotAfter": 4102444800000, "Fingerprint": "", "Sha256": "",
            "SerialNo": "01", "Algorithm": "RSA"})
    for ident, typ in ((ids["pca_root_identifier"], "ROOT"), (ids["pca_sub_identifier"], "SUB_ROOT")):
        if store.get("pca.ca", ident) is None:
            store.put("pca.ca", ident, {"Identifier": ident, "ParentIdentifier": "", "CertificateType": typ,
                                        "Certificate": "", "CertificateChain": "", "Status": "ISSUE",
                                        "CommonName": typ.lower()})
    # ALB takes a CA by its CertIdentifier by default (Settings.alb_ca_id_form, docs/ALIBABA-APIS.md §1.15)
    return {"server": ids["server_cert_identifier"], "ca": ids["pca_sub_cert_identifier"],
            "ca2": ids["pca_root_cert_identifier"]}


@pytest.fixture
def slow_jobs(cloud):
    """Jobs that do not finish by themselves (so transitional states can be asserted without a race);
    ``finish()`` moves the cloud clock past them."""
    cloud.settings.alb_job_seconds = 600.0

    class Jobs:
        @staticmethod
        def finish() -> None:
            cloud.clock.advance(601.0)

    return Jobs


def expect_error(fn: Callable[[], Any], code: str, status: int) -> ClientException:
    with pytest.raises(ClientException) as ei:
        fn()
    assert ei.value.code == code, (ei.value.code, ei.value.message)
    assert ei.value.status_code == status, ei.value.status_code
    return ei.value


def wait_for(fn: Callable[[], Any], want: Any) -> Any:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        got = fn()
        if got == want:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"still {got!r}, want {want!r}")
        time.sleep(0.01)


def _subset(raw: Any, rt: Any, path: str = "") -> None:
    if isinstance(raw, dict):
        assert isinstance(rt, dict), path
        for k, v in raw.items():
            assert k in rt, f"{path}.{k} is not a field of the SDK model"
            _subset(v, rt[k], f"{path}.{k}")
    elif isinstance(raw, list):
        assert isinstance(rt, list) and len(rt) == len(raw), path
        for i, (a, b) in enumerate(zip(raw, rt, strict=True)):
            _subset(a, b, f"{path}[{i}]")
    else:
        assert raw == rt and type(raw) is type(rt), (path, raw, rt)


def raw_call(client, fn: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """Call ``fn`` and capture the raw JSON body the emulator answered."""
    captured: dict[str, Any] = {}
    orig = client.call_api

    def spy(params, req, runtime):
        out = orig(params, req, runtime)
        captured["body"] = out["body"]
        return out

    client.call_api = spy
    try:
        resp = fn()
    finally:
        del client.call_api
    return resp, captured["body"]


def assert_shape(model_cls: type, raw: dict[str, Any]) -> None:
    """Every key and value the emulator sent survives the SDK model (names and JSON types)."""
    _subset(raw, model_cls().from_map(raw).to_map())
    assert isinstance(raw.get("RequestId"), str)


def listener_status(alb, lid: str) -> str:
    return alb.get_listener_attribute(m.GetListenerAttributeRequest(listener_id=lid)).body.listener_status


def sg_status(alb, sg_id: str) -> str:
    body = alb.list_server_groups(m.ListServerGroupsRequest(server_group_ids=[sg_id])).body
    return body.server_groups[0].server_group_status


def make_server_group(alb, vpc_id: str, name: str = "sg-test", wait: bool = True) -> str:
    req = m.CreateServerGroupRequest(
        server_group_name=name, vpc_id=vpc_id, server_group_type="Instance", protocol="HTTP",
        health_check_config=m.CreateServerGroupRequestHealthCheckConfig(
            health_check_enabled=True, health_check_path="/health", health_check_codes=["http_2xx"]))
    sg_id = alb.create_server_group(req).body.server_group_id
    if wait:
        wait_for(lambda: sg_status(alb, sg_id), "Available")
    return sg_id


def add_servers(alb, sg_id: str, instance_ids: list[str], wait: bool = True) -> str:
    job = alb.add_servers_to_server_group(m.AddServersToServerGroupRequest(
        server_group_id=sg_id,
        servers=[m.AddServersToServerGroupRequestServers(server_type="Ecs", server_id=i, port=80, weight=100)
                 for i in instance_ids])).body.job_id
    if wait:
        wait_for(lambda: sg_status(alb, sg_id), "Available")
    return job


def https_request(lb_id: str, sg_id: str, server_cert: str, port: int = 443, ca: list[str] | None = None,
                  ca_enabled: bool | None = None, **kw) -> m.CreateListenerRequest:
    return m.CreateListenerRequest(
        load_balancer_id=lb_id, listener_protocol="HTTPS", listener_port=port,
        certificates=[m.CreateListenerRequestCertificates(certificate_id=server_cert)],
        ca_enabled=ca_enabled,
        ca_certificates=[m.CreateListenerRequestCaCertificates(certificate_id=c) for c in ca] if ca else None,
        default_actions=[m.CreateListenerRequestDefaultActions(
            type="ForwardGroup",
            forward_group_config=m.CreateListenerRequestDefaultActionsForwardGroupConfig(
                server_group_tuples=[m.CreateListenerRequestDefaultActionsForwardGroupConfigServerGroupTuples(
                    server_group_id=sg_id)]))],
        **kw)


def all_listeners(alb, lb_id: str) -> list[Any]:
    out, token = [], None
    for _ in range(100):
        body = alb.list_listeners(m.ListListenersRequest(load_balancer_ids=[lb_id], next_token=token)).body
        out += body.listeners
        token = body.next_token
        if not token:
            return out
    raise AssertionError("paging did not end")


# ------------------------------------------------------------------------------------------
# load balancers, policies
# ------------------------------------------------------------------------------------------
def test_get_load_balancer_attribute(alb, ids):
    resp, raw = raw_call(alb, lambda: alb.get_load_balancer_attribute(
        m.GetLoadBalancerAttributeRequest(load_balancer_id=ids["load_balancer_id"])))
    assert_shape(m.GetLoadBalancerAttributeResponseBody, raw)
    b = resp.body
    assert b.load_balancer_edition == "Standard"
    assert b.dnsname == ids["dns_name"]
    assert b.vpc_id == ids["vpc_id"]
    assert b.load_balancer_status == "Active"
    assert b.address_type == "Internet"
    assert len(b.zone_mappings) == 2 and all(z.zone_id and z.v_switch_id for z in b.zone_mappings)
    basic = alb.get_load_balancer_attribute(
        m.GetLoadBalancerAttributeRequest(load_balancer_id=ids["basic_load_balancer_id"])).body
    assert basic.load_balancer_edition == "Basic"
    expect_error(lambda: alb.get_load_balancer_attribute(
        m.GetLoadBalancerAttributeRequest(load_balancer_id="alb-nope")), "ResourceNotFound.LoadBalancer", 404)
    expect_error(lambda: alb.get_load_balancer_attribute(m.GetLoadBalancerAttributeRequest()),
                 "MissingParameter", 400)


def test_list_load_balancers_paging(alb, ids):
    resp, raw = raw_call(alb, lambda: alb.list_load_balancers(m.ListLoadBalancersRequest(max_results=1)))
    assert_shape(m.ListLoadBalancersResponseBody, raw)
    first = resp.body
    assert first.total_count == 2 and len(first.load_balancers) == 1 and first.next_token
    second = alb.list_load_balancers(m.ListLoadBalancersRequest(max_results=1, next_token=first.next_token)).body
    assert len(second.load_balancers) == 1 and not second.next_token
    assert {first.load_balancers[0].load_balancer_id, second.load_balancers[0].load_balancer_id} == \
        {ids["load_balancer_id"], ids["basic_load_balancer_id"]}
    one = alb.list_load_balancers(m.ListLoadBalancersRequest(load_balancer_ids=[ids["basic_load_balancer_id"]])).body
    assert [lb.load_balancer_edition for lb in one.load_balancers] == ["Basic"]
    expect_error(lambda: alb.list_load_balancers(m.ListLoadBalancersRequest(max_results=101)),
                 "InvalidParameter", 400)
    expect_error(lambda: alb.list_load_balancers(m.ListLoadBalancersRequest(next_token="garbage!")),
                 "InvalidParameter", 400)


def test_list_system_security_policies(alb):
    resp, raw = raw_call(alb, lambda: alb.list_system_security_policies())
    assert_shape(m.ListSystemSecurityPoliciesResponseBody, raw)
    pols = {p.security_policy_id: p for p in resp.body.security_policies}
    assert {"tls_cipher_policy_1_0", "tls_cipher_policy_1_1", "tls_cipher_policy_1_2",
            "tls_cipher_policy_1_2_strict", "tls_cipher_policy_1_2_strict_with_1_3"} <= set(pols)
    assert pols["tls_cipher_policy_1_2"].tlsversions == ["TLSv1.2"]
    assert "TLSv1.3" in pols["tls_cipher_policy_1_2_strict_with_1_3"].tlsversions
    assert all(p.ciphers for p in pols.values())


# ------------------------------------------------------------------------------------------
# server groups
# ------------------------------------------------------------------------------------------
def test_server_group_lifecycle(alb, ids, slow_jobs):
    resp, raw = raw_call(alb, lambda: alb.create_server_group(m.CreateServerGroupRequest(
        server_group_name="app-backends", vpc_id=ids["vpc_id"],
        health_check_config=m.CreateServerGroupRequestHealthCheckConfig(health_check_enabled=True))))
    assert_shape(m.CreateServerGroupResponseBody, raw)
    sg_id, job_id = resp.body.server_group_id, resp.body.job_id
    assert sg_id.startswith("sgp-") and job_id
    body = alb.list_server_groups(m.ListServerGroupsRequest(server_group_ids=[sg_id])).body
    assert body.server_groups[0].server_group_status == "Creating"
    jobs = alb.list_asyn_jobs(m.ListAsynJobsRequest(job_ids=[job_id])).body.jobs
    assert jobs[0].status == "Processing" and jobs[0].api_name == "CreateServerGroup"
    slow_jobs.finish()
    assert sg_status(alb, sg_id) == "Available"
    resp, raw = raw_call(alb, lambda: alb.list_server_groups(m.ListServerGroupsRequest(server_group_ids=[sg_id])))
    assert_shape(m.ListServerGroupsResponseBody, raw)
    sg = resp.body.server_groups[0]
    assert (sg.vpc_id, sg.protocol, sg.scheduler, sg.server_group_type) == (ids["vpc_id"], "HTTP", "Wrr", "Instance")
    assert sg.health_check_config.health_check_enabled is True
    assert sg.health_check_config.health_check_interval == 2 and sg.server_count == 0

    job2 = add_servers(alb, sg_id, list(ids["ecs"].values()), wait=False)
    assert sg_status(alb, sg_id) == "Configuring"
    servers = alb.list_server_group_servers(m.ListServerGroupServersRequest(server_group_id=sg_id)).body.servers
    assert [s.status for s in servers] == ["Adding", "Adding"]
    assert alb.list_asyn_jobs(m.ListAsynJobsRequest(job_ids=[job2])).body.jobs[0].status == "Processing"
    slow_jobs.finish()
    assert alb.list_asyn_jobs(m.ListAsynJobsRequest(job_ids=[job2])).body.jobs[0].status == "Succeeded"
    resp, raw = raw_call(alb, lambda: alb.list_server_group_servers(
        m.ListServerGroupServersRequest(server_group_id=sg_id)))
    assert_shape(m.ListServerGroupServersResponseBody, raw)
    servers = resp.body.servers
    assert {s.server_id for s in servers} == set(ids["ecs"].values())
    assert all(s.status == "Available" and s.port == 80 and s.weight == 100 and s.server_type == "Ecs"
               and s.server_group_id == sg_id for s in servers)
    assert sg_status(alb, sg_id) == "Available"
    page = alb.list_server_group_servers(m.ListServerGroupServersRequest(server_group_id=sg_id, max_results=1)).body
    assert page.total_count == 2 and len(page.servers) == 1 and page.next_token


def test_create_server_group_errors(alb, ids, cloud):
    before = cloud.store.count("alb.servergroup")
    expect_error(lambda: alb.create_server_group(m.CreateServerGroupRequest(
        server_group_name="x1", vpc_id=ids["vpc_id"])), "MissingParameter", 400)
    expect_error(lambda: alb.create_server_group(m.CreateServerGroupRequest(
        server_group_name="x1", vpc_id=ids["vpc_id"],
        health_check_config=m.CreateServerGroupRequestHealthCheckConfig(health_check_path="/"))),
        "MissingParameter", 400)
    expect_error(lambda: alb.create_server_group(m.CreateServerGroupRequest(
        server_group_name="x1", vpc_id=ids["vpc_id"], scheduler="Random",
        health_check_config=m.CreateServerGroupRequestHealthCheckConfig(health_check_enabled=True))),
        "InvalidParameter", 400)
    expect_error(lambda: alb.create_server_group(m.CreateServerGroupRequest(
        server_group_name="x1", vpc_id="vpc-doesnotexist",
        health_check_config=m.CreateServerGroupRequestHealthCheckConfig(health_check_enabled=True))),
        "ResourceNotFound.Vpc", 404)
    expect_error(lambda: alb.create_server_group(m.CreateServerGroupRequest(
        server_group_name="x1", vpc_id=ids["vpc_id"], dry_run=True,
        health_check_config=m.CreateServerGroupRequestHealthCheckConfig(health_check_enabled=True))),
        "DryRunOperation", 400)
    assert cloud.store.count("alb.servergroup") == before


def test_add_servers_errors(alb, ids, slow_jobs):
    sg_id = make_server_group(alb, ids["vpc_id"], wait=False)
    ecs1 = ids["ecs"]["ECS01"]
    expect_error(lambda: add_servers(alb, sg_id, [ecs1], wait=False), "IncorrectStatus.ServerGroup", 400)
    slow_jobs.finish()
    expect_error(lambda: add_servers(alb, sg_id, ["i-doesnotexist000000001"], wait=False),
                 "ResourceNotFound.BackendServer", 404)
    expect_error(lambda: add_servers(alb, sg_id, [ids["other_vpc_ecs"]], wait=False),
                 "VpcNotMatch.BackendServer", 400)
    expect_error(lambda: add_servers(alb, "sgp-doesnotexist00000", [ecs1], wait=False),
                 "ResourceNotFound.ServerGroup", 404)
    expect_error(lambda: alb.add_servers_to_server_group(m.AddServersToServerGroupRequest(server_group_id=sg_id)),
                 "MissingParameter", 400)
    expect_error(lambda: alb.add_servers_to_server_group(m.AddServersToServerGroupRequest(
        server_group_id=sg_id, servers=[m.AddServersToServerGroupRequestServers(server_type="Ecs", server_id=ecs1)])),
        "MissingParameter", 400)
    expect_error(lambda: alb.add_servers_to_server_group(m.AddServersToServerGroupRequest(
        server_group_id=sg_id, servers=[m.AddServersToServerGroupRequestServers(
            server_type="Vm", server_id=ecs1, port=80)])), "InvalidParameter", 400)
    expect_error(lambda: alb.add_servers_to_server_group(m.AddServersToServerGroupRequest(
        server_group_id=sg_id, dry_run=True, servers=[m.AddServersToServerGroupRequestServers(
            server_type="Ecs", server_id=ecs1, port=80)])), "DryRunOperation", 400)
    assert alb.list_server_group_servers(
        m.ListServerGroupServersRequest(server_group_id=sg_id)).body.total_count == 0
    add_servers(alb, sg_id, [ecs1], wait=False)
    expect_error(lambda: add_servers(alb, sg_id, [ids["ecs"]["ECS02"]], wait=False), "IncorrectStatus.ServerGroup", 400)
    slow_jobs.finish()
    expect_error(lambda: add_servers(alb, sg_id, [ecs1], wait=False), "ResourceAlreadyExist.BackendServer", 400)
    expect_error(lambda: alb.list_server_group_servers(
        m.ListServerGroupServersRequest(server_group_id="sgp-doesnotexist00000")), "ResourceNotFound.ServerGroup", 404)


def test_add_servers_client_token_replay(alb, ids):
    sg_id = make_server_group(alb, ids["vpc_id"])
    req = m.AddServersToServerGroupRequest(server_group_id=sg_id, client_token="add-1", servers=[
        m.AddServersToServerGroupRequestServers(server_type="Ecs", server_id=ids["ecs"]["ECS01"], port=80)])
    j1 = alb.add_servers_to_server_group(req).body.job_id
    j2 = alb.add_servers_to_server_group(req).body.job_id   # replay: same answer, no second add
    assert j1 == j2
    assert alb.list_server_group_servers(
        m.ListServerGroupServersRequest(server_group_id=sg_id)).body.total_count == 1


def test_remove_servers_and_update_weights(alb, ids, slow_jobs):
    """RemoveServersFromServerGroup and UpdateServerGroupServersAttribute (the drift repair of a server
    group): members only, the group Available, a job that leaves it Configuring, dry runs, replays."""
    sg_id = make_server_group(alb, ids["vpc_id"], wait=False)
    slow_jobs.finish()
    ecs1, ecs2 = ids["ecs"]["ECS01"], ids["ecs"]["ECS02"]
    add_servers(alb, sg_id, [ecs1, ecs2], wait=False)
    slow_jobs.finish()

    def servers() -> dict[str, int]:
        body = alb.list_server_group_servers(m.ListServerGroupServersRequest(server_group_id=sg_id)).body
        return {s.server_id: s.weight for s in body.servers}

    weight = m.UpdateServerGroupServersAttributeRequest(server_group_id=sg_id, client_token="w-1", servers=[
        m.UpdateServerGroupServersAttributeRequestServers(server_type="Ecs", server_id=ecs1, port=80, weight=10)])
    expect_error(lambda: alb.update_server_group_servers_attribute(m.UpdateServerGroupServersAttributeRequest(
        server_group_id=sg_id, dry_run=True, servers=weight.servers)), "DryRunOperation", 400)
    j1 = alb.update_server_group_servers_attribute(weight).body.job_id
    assert alb.update_server_group_servers_attribute(weight).body.job_id == j1     # replay
    assert servers() == {ecs1: 10, ecs2: 100} and sg_status(alb, sg_id) == "Configuring"
    remove = m.RemoveServersFromServerGroupRequest(server_group_id=sg_id, servers=[
        m.RemoveServersFromServerGroupRequestServers(server_type="Ecs", server_id=ecs2, port=80)])
    expect_error(lambda: alb.remove_servers_from_server_group(remove), "IncorrectStatus.ServerGroup", 400)
    slow_jobs.finish()
    expect_error(lambda: alb.remove_servers_from_server_group(m.RemoveServersFromServerGroupRequest(
        server_group_id=sg_id, servers=[m.RemoveServersFromServerGroupRequestServers(
            server_type="Ecs", server_id=ecs2, port=8080)])), "ResourceNotFound.BackendServer", 404)
    expect_error(lambda: alb.remove_servers_from_server_group(m.RemoveServersFromServerGroupRequest(
        server_group_id=sg_id)), "MissingParameter", 400)
    alb.remove_servers_from_server_group(remove)
    assert servers() == {ecs1: 10}


# ------------------------------------------------------------------------------------------
# listeners
# ------------------------------------------------------------------------------------------
def test_create_https_listener_with_mtls(alb, ids, certs, slow_jobs):
    lb = ids["load_balancer_id"]
    sg_id = make_server_group(alb, ids["vpc_id"], wait=False)
    slow_jobs.finish()
    resp, raw = raw_call(alb, lambda: alb.create_listener(
        https_request(lb, sg_id, certs["server"], ca=[certs["ca"]], ca_enabled=True)))
    assert_shape(m.CreateListenerResponseBody, raw)
    lid, job_id = resp.body.listener_id, resp.body.job_id
    assert len(lid) == 21 and lid.startswith("lsn-") and lid[4:].isalnum() and lid[4:].islower()
    assert listener_status(alb, lid) == "Provisioning"
    job = alb.list_asyn_jobs(m.ListAsynJobsRequest(job_ids=[job_id])).body.jobs[0]
    assert (job.status, job.api_name, job.resource_id, job.resource_type, job.operate_type) == \
        ("Processing", "CreateListener", lid, "listener", "Create")
    cas = alb.list_listener_certificates(m.ListListenerCertificatesRequest(listener_id=lid, certificate_type="Ca"))
    assert [c.status for c in cas.body.certificates] == ["Associating"]
    slow_jobs.finish()
    assert listener_status(alb, lid) == "Running"
    resp, raw = raw_call(alb, lambda: alb.list_asyn_jobs(m.ListAsynJobsRequest(job_ids=[job_id])))
    assert_shape(m.ListAsynJobsResponseBody, raw)
    assert resp.body.jobs[0].status == "Succeeded"
    assert resp.body.jobs[0].modify_time >= resp.body.jobs[0].create_time

    resp, raw = raw_call(alb, lambda: alb.get_listener_attribute(m.GetListenerAttributeRequest(listener_id=lid)))
    assert_shape(m.GetListenerAttributeResponseBody, raw)
    a = resp.body
    assert (a.listener_port, a.listener_protocol, a.load_balancer_id) == (443, "HTTPS", lb)
    assert a.ca_enabled is True
    assert [(c.certificate_id, c.is_default, c.status) for c in a.ca_certificates] == \
        [(certs["ca"], True, "Associated")]
    assert [c.certificate_id for c in a.certificates] == [certs["server"]]
    # defaults of CreateListener (SDK docs)
    assert a.security_policy_id == "tls_cipher_policy_1_0"
    assert (a.idle_timeout, a.request_timeout, a.gzip_enabled, a.http_2enabled) == (15, 60, True, True)
    assert a.xforwarded_for_config.xforwarded_for_enabled is True
    assert a.xforwarded_for_config.xforwarded_for_client_cert_subject_dnenabled is False
    assert a.default_actions[0].forward_group_config.server_group_tuples[0].server_group_id == sg_id

    resp, raw = raw_call(alb, lambda: alb.list_listener_certificates(
        m.ListListenerCertificatesRequest(listener_id=lid)))
    assert_shape(m.ListListenerCertificatesResponseBody, raw)
    got = {(c.certificate_id, c.certificate_type, c.is_default, c.status) for c in resp.body.certificates}
    assert got == {(certs["server"], "Server", True, "Associated"), (certs["ca"], "Ca", True, "Associated")}
    cas = alb.list_listener_certificates(m.ListListenerCertificatesRequest(listener_id=lid, certificate_type="Ca"))
    assert [c.certificate_id for c in cas.body.certificates] == [certs["ca"]]

    resp, raw = raw_call(alb, lambda: alb.list_listeners(m.ListListenersRequest(load_balancer_ids=[lb])))
    assert_shape(m.ListListenersResponseBody, raw)
    assert {x.listener_port for x in resp.body.listeners} == {443, 8080}
    assert "CaEnabled" not in raw["Listeners"][0]    # not returned by ListListeners
    https = alb.list_listeners(m.ListListenersRequest(load_balancer_ids=[lb], listener_protocol="HTTPS")).body
    assert [x.listener_id for x in https.listeners] == [lid]


def test_create_listener_validation(alb, ids, certs):
    lb = ids["load_balancer_id"]
    sg_id = make_server_group(alb, ids["vpc_id"])
    expect_error(lambda: alb.create_listener(m.CreateListenerRequest(load_balancer_id=lb, listener_protocol="HTTPS")),
                 "MissingParameter", 400)
    expect_error(lambda: alb.create_listener(_with(https_request(lb, sg_id, certs["server"]), listener_protocol="FTP")),
                 "InvalidParameter", 400)
    expect_error(lambda: alb.create_listener(_with(https_request(lb, sg_id, certs["server"]), listener_port=70000)),
                 "InvalidParameter", 400)
    expect_error(lambda: alb.create_listener(_with(https_request(lb, sg_id, certs["server"]), certificates=None)),
                 "MissingParameter", 400)
    expect_error(lambda: alb.create_listener(_with(https_request(lb, sg_id, certs["server"]), default_actions=None)),
                 "MissingParameter", 400)
    expect_error(lambda: alb.create_listener(https_request("alb-doesnotexist", sg_id, certs["server"])),
                 "ResourceNotFound.LoadBalancer", 404)
    expect_error(lambda: alb.create_listener(https_request(lb, "sgp-doesnotexist00000", certs["server"])),
                 "ResourceNotFound.ServerGroup", 404)
    expect_error(lambda: alb.create_listener(https_request(lb, sg_id, "99999999-cn-hangzhou")),
                 "ResourceNotFound.Certificate", 404)
    expect_error(lambda: alb.create_listener(https_request(lb, sg_id, str(ids["server_cert_id"]))),
                 "ResourceNotFound.Certificate", 404)   # bare CAS id without the site region
    expect_error(lambda: alb.create_listener(https_request(lb, sg_id, certs["server"], ca=["0123deadbeef"],
                                                           ca_enabled=True)),
                 "ResourceNotFound.CaCertificate", 404)
    expect_error(lambda: alb.create_listener(https_request(lb, sg_id, certs["server"], ca_enabled=True)),
                 "MissingParameter", 400)
    expect_error(lambda: alb.create_listener(https_request(lb, sg_id, certs["server"],
                                                           security_policy_id="tls_nope")),
                 "ResourceNotFound.SecurityPolicy", 404)
    assert [x.listener_port for x in all_listeners(alb, lb)] == [8080]


def _with(req, **kw):
    for k, v in kw.items():
        setattr(req, k, v)
    return req


def test_second_ca_refused(alb, ids, certs):
    sg_id = make_server_group(alb, ids["vpc_id"])
    expect_error(lambda: alb.create_listener(https_request(ids["load_balancer_id"], sg_id, certs["server"],
                                                           ca=[certs["ca"], certs["ca2"]], ca_enabled=True)),
                 "QuotaExceeded.CaCertificatesNum", 400)


def test_basic_edition_refuses_mtls(alb, ids, certs):
    lb = ids["basic_load_balancer_id"]
    sg_id = make_server_group(alb, ids["vpc_id"])
    expect_error(lambda: alb.create_listener(https_request(lb, sg_id, certs["server"], ca=[certs["ca"]],
                                                           ca_enabled=True)),
                 "OperationDenied.LoadBalancerEdition", 400)
    # one-way TLS is fine on Basic, but mutual authentication cannot be switched on later either
    lid = alb.create_listener(https_request(lb, sg_id, certs["server"])).body.listener_id
    wait_for(lambda: listener_status(alb, lid), "Running")
    expect_error(lambda: alb.update_listener_attribute(m.UpdateListenerAttributeRequest(
        listener_id=lid, ca_enabled=True,
        ca_certificates=[m.UpdateListenerAttributeRequestCaCertificates(certificate_id=certs["ca"])])),
        "OperationDenied.LoadBalancerEdition", 400)


def test_port_conflict(alb, ids, certs):
    lb = ids["load_balancer_id"]
    sg_id = make_server_group(alb, ids["vpc_id"])
    # 8080 is held by the seeded HTTP listener: ports are unique per ALB across protocols
    expect_error(lambda: alb.create_listener(https_request(lb, sg_id, certs["server"], port=8080)),
                 "ResourceAlreadyExist.Listener", 400)
    lid = alb.create_listener(https_request(lb, sg_id, certs["server"])).body.listener_id
    expect_error(lambda: alb.create_listener(https_request(lb, sg_id, certs["server"])),
                 "ResourceAlreadyExist.Listener", 400)
    # the same port on another ALB is fine
    other = alb.create_listener(https_request(ids["basic_load_balancer_id"], sg_id, certs["server"])).body
    assert other.listener_id != lid


def test_server_group_in_other_vpc_refused(alb, ids, certs):
    sg_other = make_server_group(alb, ids["other_vpc_id"], name="other-vpc")
    expect_error(lambda: alb.create_listener(https_request(ids["load_balancer_id"], sg_other, certs["server"])),
                 "VpcNotMatch", 400)


def test_client_token_replay_creates_one_listener(alb, ids, certs):
    lb = ids["load_balancer_id"]
    sg_id = make_server_group(alb, ids["vpc_id"])
    req = https_request(lb, sg_id, certs["server"], ca=[certs["ca"]], ca_enabled=True, client_token="tok-443")
    first = alb.create_listener(req).body
    second = alb.create_listener(req).body
    assert (first.listener_id, first.job_id) == (second.listener_id, second.job_id)
    wait_for(lambda: listener_status(alb, first.listener_id), "Running")
    third = alb.create_listener(req).body       # still the first result after the job finished
    assert third.listener_id == first.listener_id
    assert [x.listener_port for x in all_listeners(alb, lb)].count(443) == 1
    expect_error(lambda: alb.create_listener(_with(https_request(lb, sg_id, certs["server"], port=444),
                                                   client_token="tok-443")),
                 "IdempotentParameterMismatch", 400)


def test_dry_run_changes_nothing(alb, ids, certs, cloud):
    lb = ids["load_balancer_id"]
    sg_id = make_server_group(alb, ids["vpc_id"])
    jobs_before = cloud.store.count("alb.job")
    expect_error(lambda: alb.create_listener(https_request(lb, sg_id, certs["server"], ca=[certs["ca"]],
                                                           ca_enabled=True, dry_run=True)),
                 "DryRunOperation", 400)
    # a dry run still validates: the first failing check wins over DryRunOperation
    expect_error(lambda: alb.create_listener(https_request(lb, sg_id, certs["server"], port=8080, dry_run=True)),
                 "ResourceAlreadyExist.Listener", 400)
    assert [x.listener_port for x in all_listeners(alb, lb)] == [8080]
    assert cloud.store.count("alb.job") == jobs_before
    lid = alb.create_listener(https_request(lb, sg_id, certs["server"])).body.listener_id
    wait_for(lambda: listener_status(alb, lid), "Running")
    expect_error(lambda: alb.update_listener_attribute(m.UpdateListenerAttributeRequest(
        listener_id=lid, dry_run=True, security_policy_id="tls_cipher_policy_1_2")), "DryRunOperation", 400)
    a = alb.get_listener_attribute(m.GetListenerAttributeRequest(listener_id=lid)).body
    assert (a.security_policy_id, a.listener_status) == ("tls_cipher_policy_1_0", "Running")


def test_update_listener_partial_and_async(alb, ids, certs, slow_jobs):
    lb = ids["load_balancer_id"]
    sg_id = make_server_group(alb, ids["vpc_id"], wait=False)
    slow_jobs.finish()
    lid = alb.create_listener(https_request(lb, sg_id, certs["server"], idle_timeout=30)).body.listener_id
    upd = m.UpdateListenerAttributeRequest(listener_id=lid, security_policy_id="tls_cipher_policy_1_2")
    expect_error(lambda: alb.update_listener_attribute(upd), "IncorrectStatus.Listener", 400)   # Provisioning
    slow_jobs.finish()
    resp, raw = raw_call(alb, lambda: alb.update_listener_attribute(upd))
    assert_shape(m.UpdateListenerAttributeResponseBody, raw)
    assert resp.body.job_id
    assert listener_status(alb, lid) == "Configuring"
    expect_error(lambda: alb.update_listener_attribute(upd), "IncorrectStatus.Listener", 400)   # Configuring
    slow_jobs.finish()
    assert listener_status(alb, lid) == "Running"
    a = alb.get_listener_attribute(m.GetListenerAttributeRequest(listener_id=lid)).body
    assert (a.security_policy_id, a.idle_timeout, a.ca_enabled) == ("tls_cipher_policy_1_2", 30, False)
    assert [c.certificate_id for c in a.certificates] == [certs["server"]]

    # switch mTLS on with the CA and the client-certificate headers
    alb.update_listener_attribute(m.UpdateListenerAttributeRequest(
        listener_id=lid, ca_enabled=True,
        ca_certificates=[m.UpdateListenerAttributeRequestCaCertificates(certificate_id=certs["ca"])],
        xforwarded_for_config=m.UpdateListenerAttributeRequestXForwardedForConfig(
            xforwarded_for_client_cert_subject_dnenabled=True,
            xforwarded_for_client_cert_subject_dnalias="x-client-dn")))
    cas = alb.list_listener_certificates(m.ListListenerCertificatesRequest(listener_id=lid, certificate_type="Ca"))
    assert [c.status for c in cas.body.certificates] == ["Associating"]
    slow_jobs.finish()
    a = alb.get_listener_attribute(m.GetListenerAttributeRequest(listener_id=lid)).body
    assert a.ca_enabled is True and [c.certificate_id for c in a.ca_certificates] == [certs["ca"]]
    x = a.xforwarded_for_config
    assert x.xforwarded_for_client_cert_subject_dnenabled is True
    assert x.xforwarded_for_client_cert_subject_dnalias == "x-client-dn"
    assert x.xforwarded_for_enabled is True          # untouched fields keep their values
    assert a.security_policy_id == "tls_cipher_policy_1_2"

    # CaEnabled=false keeps the CA certificate (docs/ALIBABA-APIS.md §5.7, see ASSUMPTIONS)
    alb.update_listener_attribute(m.UpdateListenerAttributeRequest(listener_id=lid, ca_enabled=False))
    slow_jobs.finish()
    a = alb.get_listener_attribute(m.GetListenerAttributeRequest(listener_id=lid)).body
    assert a.ca_enabled is False and [c.certificate_id for c in a.ca_certificates] == [certs["ca"]]

    # second CA on update, unknown CA, unknown listener
    expect_error(lambda: alb.update_listener_attribute(m.UpdateListenerAttributeRequest(
        listener_id=lid, ca_certificates=[m.UpdateListenerAttributeRequestCaCertificates(certificate_id=c)
                                          for c in (certs["ca"], certs["ca2"])])),
        "QuotaExceeded.CaCertificatesNum", 400)
    expect_error(lambda: alb.update_listener_attribute(m.UpdateListenerAttributeRequest(
        listener_id=lid, ca_enabled=True,
        ca_certificates=[m.UpdateListenerAttributeRequestCaCertificates(certificate_id="feedface")])),
        "ResourceNotFound.CaCertificate", 404)
    expect_error(lambda: alb.update_listener_attribute(m.UpdateListenerAttributeRequest(
        listener_id="lsn-doesnotexist00000")), "ResourceNotFound.Listener", 404)
    expect_error(lambda: alb.update_listener_attribute(m.UpdateListenerAttributeRequest()), "MissingParameter", 400)


def test_update_client_token_replay(alb, ids, certs, slow_jobs):
    sg_id = make_server_group(alb, ids["vpc_id"], wait=False)
    slow_jobs.finish()
    lid = alb.create_listener(https_request(ids["load_balancer_id"], sg_id, certs["server"])).body.listener_id
    slow_jobs.finish()
    upd = m.UpdateListenerAttributeRequest(listener_id=lid, ca_enabled=True, client_token="upd-1",
                                           ca_certificates=[m.UpdateListenerAttributeRequestCaCertificates(
                                               certificate_id=certs["ca"])])
    j1 = alb.update_listener_attribute(upd).body.job_id
    assert listener_status(alb, lid) == "Configuring"
    j2 = alb.update_listener_attribute(upd).body.job_id   # replay while Configuring: no IncorrectStatus
    assert j1 == j2


def test_start_stop_listener(alb, ids, slow_jobs):
    lid = ids["demo_http_listener_id"]
    assert listener_status(alb, lid) == "Running"
    expect_error(lambda: alb.start_listener(m.StartListenerRequest(listener_id=lid)), "IncorrectStatus.Listener", 400)
    alb.stop_listener(m.StopListenerRequest(listener_id=lid))
    assert listener_status(alb, lid) == "Configuring"
    expect_error(lambda: alb.start_listener(m.StartListenerRequest(listener_id=lid)), "IncorrectStatus.Listener", 400)
    slow_jobs.finish()
    assert listener_status(alb, lid) == "Stopped"
    alb.start_listener(m.StartListenerRequest(listener_id=lid))
    slow_jobs.finish()
    assert listener_status(alb, lid) == "Running"


def test_listeners_paging(alb, ids, certs):
    lb = ids["load_balancer_id"]
    sg_id = make_server_group(alb, ids["vpc_id"])
    for port in (443, 444, 445, 446):
        alb.create_listener(https_request(lb, sg_id, certs["server"], port=port))
    seen, token, pages = [], None, 0
    while True:
        body = alb.list_listeners(m.ListListenersRequest(load_balancer_ids=[lb], max_results=2,
                                                         next_token=token)).body
        pages += 1
        assert body.total_count == 5 and body.max_results == 2
        seen += [x.listener_port for x in body.listeners]
        token = body.next_token
        if not token:
            break
        assert pages < 10
    assert pages == 3 and sorted(seen) == [443, 444, 445, 446, 8080]
    expect_error(lambda: alb.list_listeners(m.ListListenersRequest(max_results=0)), "InvalidParameter", 400)
    expect_error(lambda: alb.list_listeners(m.ListListenersRequest(next_token="eyJvIjogOTk5fQ")),
                 "InvalidParameter", 400)
    jobs = alb.list_asyn_jobs(m.ListAsynJobsRequest(api_name="CreateListener", max_results=3)).body
    assert jobs.total_count == 4 and len(jobs.jobs) == 3 and jobs.next_token
    rest = alb.list_asyn_jobs(m.ListAsynJobsRequest(api_name="CreateListener", max_results=3,
                                                    next_token=jobs.next_token)).body
    assert len(rest.jobs) == 1 and not rest.next_token


def test_get_listener_attribute_errors(alb):
    expect_error(lambda: alb.get_listener_attribute(m.GetListenerAttributeRequest(listener_id="lsn-nope")),
                 "ResourceNotFound.Listener", 404)
    expect_error(lambda: alb.list_listener_certificates(m.ListListenerCertificatesRequest(listener_id="lsn-nope")),
                 "ResourceNotFound.Listener", 404)
    expect_error(lambda: alb.get_listener_health_status(m.GetListenerHealthStatusRequest(listener_id="lsn-nope")),
                 "ResourceNotFound.Listener", 404)


# ------------------------------------------------------------------------------------------
# health
# ------------------------------------------------------------------------------------------
def test_listener_health_status(alb, ids, certs, cloud):
    lb = ids["load_balancer_id"]
    sg_id = make_server_group(alb, ids["vpc_id"])
    ecs1, ecs2 = ids["ecs"]["ECS01"], ids["ecs"]["ECS02"]
    add_servers(alb, sg_id, [ecs1, ecs2])
    lid = alb.create_listener(https_request(lb, sg_id, certs["server"])).body.listener_id

    resp, raw = raw_call(alb, lambda: alb.get_listener_health_status(
        m.GetListenerHealthStatusRequest(listener_id=lid)))
    assert_shape(m.GetListenerHealthStatusResponseBody, raw)
    st = resp.body.listener_health_status[0]
    assert (st.listener_id, st.listener_port, st.listener_protocol) == (lid, 443, "HTTPS")
    info = st.server_group_infos[0]
    assert (info.server_group_id, info.action_type, info.health_check_enabled, info.server_count) == \
        (sg_id, "ForwardGroup", "on", 2)
    assert {(s.server_id, s.status, s.port) for s in info.non_normal_servers} == {(ecs1, "Initial", 80),
                                                                                  (ecs2, "Initial", 80)}
    assert not resp.body.next_token

    page = alb.get_listener_health_status(m.GetListenerHealthStatusRequest(listener_id=lid, max_results=1)).body
    assert len(page.listener_health_status[0].server_group_infos[0].non_normal_servers) == 1 and page.next_token
    page2 = alb.get_listener_health_status(m.GetListenerHealthStatusRequest(
        listener_id=lid, max_results=1, next_token=page.next_token)).body
    assert len(page2.listener_health_status[0].server_group_infos[0].non_normal_servers) == 1
    assert not page2.next_token
    expect_error(lambda: alb.get_listener_health_status(m.GetListenerHealthStatusRequest(
        listener_id=lid, max_results=31)), "InvalidParameter", 400)

    # what the health checker writes (SCHEMA.md kind health.server)
    cloud.store.put("health.server", f"{sg_id}/{ecs1}/80", {
        "ServerGroupId": sg_id, "ServerId": ecs1, "Port": 80, "Status": "Healthy", "ok_streak": 3,
        "fail_streak": 0, "checked_s": time.time()}, key2=sg_id)
    cloud.store.put("health.server", f"{sg_id}/{ecs2}/80", {
        "ServerGroupId": sg_id, "ServerId": ecs2, "Port": 80, "Status": "Unhealthy",
        "ReasonCode": "RESPONSE_MISMATCH", "ExpectedResponse": "HTTP_2xx", "ActualResponse": "302",
        "ok_streak": 0, "fail_streak": 3, "checked_s": time.time()}, key2=sg_id)
    body = alb.get_listener_health_status(m.GetListenerHealthStatusRequest(listener_id=lid)).body
    info = body.listener_health_status[0].server_group_infos[0]
    assert info.server_count == 2
    assert [(s.server_id, s.status) for s in info.non_normal_servers] == [(ecs2, "Unhealthy")]
    r = info.non_normal_servers[0].reason
    assert (r.reason_code, r.expected_response, r.actual_response) == ("RESPONSE_MISMATCH", "HTTP_2xx", "302")

    cloud.store.put("health.server", f"{sg_id}/{ecs2}/80", {
        "ServerGroupId": sg_id, "ServerId": ecs2, "Port": 80, "Status": "Healthy"}, key2=sg_id)
    body = alb.get_listener_health_status(m.GetListenerHealthStatusRequest(listener_id=lid)).body
    info = body.listener_health_status[0].server_group_infos[0]
    assert info.non_normal_servers == [] and info.server_count == 2   # "Healthy" as the console says


# ------------------------------------------------------------------------------------------
# helpers for the rest of the local cloud
# ------------------------------------------------------------------------------------------
def test_public_helpers(cloud, ids, alb, certs, slow_jobs):
    from localcloud.products.alb import models as albmod
    assert albmod.ca_certificate_exists(cloud.store, certs["ca"])
    assert not albmod.ca_certificate_exists(cloud.store, "nope")
    assert albmod.server_certificate(cloud.store, certs["server"])["CertId"] == ids["server_cert_id"]
    assert albmod.server_certificate(cloud.store, str(ids["server_cert_id"])) is None
    sg_id = make_server_group(alb, ids["vpc_id"], wait=False)
    assert albmod.get_server_group(cloud, sg_id)["ServerGroupStatus"] == "Creating"
    slow_jobs.finish()
    lid = alb.create_listener(https_request(ids["load_balancer_id"], sg_id, certs["server"])).body.listener_id
    assert albmod.get_listener(cloud, lid)["ListenerStatus"] == "Provisioning"
    slow_jobs.finish()
    assert albmod.get_listener(cloud, lid)["ListenerStatus"] == "Running"
    assert albmod.listener_server_group_ids(albmod.get_listener(cloud, lid)) == [sg_id]
    assert {x["ListenerId"] for x in albmod.list_listeners(cloud, ids["load_balancer_id"])} == \
        {lid, ids["demo_http_listener_id"]}
    assert albmod.get_server_group(cloud, sg_id)["ServerGroupStatus"] == "Available"
    assert isinstance(albmod.ASSUMPTIONS, dict) and albmod.ASSUMPTIONS


def test_seed(cloud, ids):
    for name, iid in ids["ecs"].items():
        doc = cloud.store.get("ecs.instance", iid)
        assert doc["VpcId"] == ids["vpc_id"] and doc["running"] and doc["ports"] == [80]
        assert doc["InstanceName"] == name
    assert cloud.store.get("ecs.instance", ids["other_vpc_ecs"])["VpcId"] == ids["other_vpc_id"]
    sg = cloud.store.get("alb.servergroup", ids["demo_server_group_id"])
    assert sg["Servers"] == [] and sg["ServerGroupId"].startswith("sgp-demo")

"""The demo account's ALB part: two load balancers, ECS instances, a server group and an HTTP listener."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .models import default_xff, iso

if TYPE_CHECKING:  # pragma: no cover
    from ...emulator import Emulator


def _lb_doc(ids: dict[str, Any], lb_id: str, name: str, edition: str, dns: str, now: float) -> dict[str, Any]:
    region = ids.get("region", "cn-hangzhou")
    zones = []
    for n, z in enumerate(("h", "i"), 1):
        zones.append({
            "ZoneId": f"{region}-{z}",
            "VSwitchId": f"vsw-bp1demozone{z}00000000{n}",
            "Status": "Active",
            "LoadBalancerAddresses": [{"Address": "127.0.0.1", "IntranetAddress": f"192.168.{n}.10",
                                       "IntranetAddressHcStatus": "Healthy"}],
        })
    return {
        "LoadBalancerId": lb_id, "LoadBalancerName": name, "LoadBalancerEdition": edition, "DNSName": dns,
        "LoadBalancerStatus": "Active", "LoadBalancerBussinessStatus": "Normal", "LoadBalancerOperationLocks": [],
        "VpcId": ids["vpc_id"], "AddressType": "Internet", "AddressIpVersion": "IPv4",
        "AddressAllocatedMode": "Dynamic", "RegionId": region, "ResourceGroupId": "rg-acfmdemo00000000",
        "ZoneMappings": zones, "ModificationProtectionConfig": {"Status": "NonProtection"},
        "DeletionProtectionConfig": {"Enabled": False}, "LoadBalancerBillingConfig": {"PayType": "PostPay"},
        "SecurityGroupIds": [], "Tags": [], "CreateTime": iso(now),
    }


DEMO_SERVER_GROUP_ID = "sgp-demo0000000000001"
DEMO_HTTP_LISTENER_ID = "lsn-demohttp808000001"


def seed_demo(cloud: Emulator, ids: dict[str, Any]) -> None:
    """Demo account: a Standard and a Basic ALB in ``vpc_id``, ECS01/ECS02 (and one ECS in
    ``other_vpc_id``), an empty server group and an HTTP listener on port 8080 of the Standard ALB
    (ports 80 and 443 stay free). Adds ``demo_server_group_id``/``demo_http_listener_id`` to ``ids``."""
    store = cloud.store
    now = cloud.clock.time()
    store.put("alb.loadbalancer", ids["load_balancer_id"],
              _lb_doc(ids, ids["load_balancer_id"], "demo-alb-standard", "Standard", ids["dns_name"], now))
    store.put("alb.loadbalancer", ids["basic_load_balancer_id"],
              _lb_doc(ids, ids["basic_load_balancer_id"], "demo-alb-basic", "Basic", ids["basic_dns_name"], now))
    for name, iid in ids["ecs"].items():
        store.put("ecs.instance", iid, {"InstanceId": iid, "InstanceName": name, "VpcId": ids["vpc_id"],
                                        "PrivateIpAddress": "127.0.0.1", "ports": [80], "running": True})
    other = ids["other_vpc_ecs"]
    store.put("ecs.instance", other, {"InstanceId": other, "InstanceName": "ECS-OTHER", "VpcId": ids["other_vpc_id"],
                                      "PrivateIpAddress": "127.0.0.1", "ports": [80], "running": True})
    store.put("alb.servergroup", DEMO_SERVER_GROUP_ID, {
        "ServerGroupId": DEMO_SERVER_GROUP_ID, "ServerGroupName": "demo-http", "ServerGroupType": "Instance",
        "VpcId": ids["vpc_id"], "Protocol": "HTTP", "Scheduler": "Wrr",
        "HealthCheckConfig": {"HealthCheckEnabled": True, "HealthCheckProtocol": "HTTP", "HealthCheckPath": "/",
                              "HealthCheckMethod": "HEAD", "HealthCheckCodes": ["http_2xx", "http_3xx"],
                              "HealthCheckConnectPort": 0, "HealthCheckHttpVersion": "HTTP1.1",
                              "HealthCheckInterval": 2, "HealthCheckTimeout": 5, "HealthyThreshold": 3,
                              "UnhealthyThreshold": 3},
        "StickySessionConfig": {"StickySessionEnabled": False}, "CrossZoneEnabled": True,
        "UpstreamKeepaliveEnabled": False, "Ipv6Enabled": False, "Tags": [], "CreateTime": iso(now),
        "Servers": [], "busy_until_s": 0.0, "busy_status": "Creating",
    })
    store.put("alb.listener", DEMO_HTTP_LISTENER_ID, {
        "ListenerId": DEMO_HTTP_LISTENER_ID, "LoadBalancerId": ids["load_balancer_id"], "ListenerPort": 8080,
        "ListenerProtocol": "HTTP", "ListenerStatus": "Running", "ListenerDescription": "demo-http-8080",
        "Certificates": [], "CaEnabled": False, "CaCertificates": [], "SecurityPolicyId": None,
        "DefaultActions": [{"Type": "ForwardGroup",
                            "ForwardGroupConfig": {"ServerGroupTuples": [{"ServerGroupId": DEMO_SERVER_GROUP_ID}]}}],
        "XForwardedForConfig": default_xff(), "IdleTimeout": 15, "RequestTimeout": 60, "GzipEnabled": True,
        "Http2Enabled": False, "QuicConfig": None, "Tags": [],
        "LogConfig": {"AccessLogRecordCustomizedHeadersEnabled": False,
                      "AccessLogTracingConfig": {"TracingEnabled": False}},
        "busy_until_s": 0.0, "busy_status": "Provisioning", "pending_certs": [],
    }, key2=ids["load_balancer_id"])
    ids["demo_server_group_id"] = DEMO_SERVER_GROUP_ID
    ids["demo_http_listener_id"] = DEMO_HTTP_LISTENER_ID

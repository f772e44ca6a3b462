"""Every busy and throttling answer the real products send is absorbed by the one retry layer, each
injected for certain (not by chance, as in the statistical suite): the ALB busy codes the Terraform
provider retries on listener writes and its internal codes inside the error body
(``reliability.faults.ALB_BUSY``), and KMS's ``Rejected.Throttling`` (HTTP 429, no retry-after) on
the secret writes. Two provisioning runs: one updates a listener that exists without mTLS
(``UpdateListenerAttribute``), one creates its listener (``CreateListener``)."""
from __future__ import annotations

from alibabacloud_alb20200616 import models as am

from reliability.faults import ALB_BUSY


def _https_listener_without_mtls(suite, port: int) -> str:
    from tests.conftest import make_client
    seed = suite.seed_ids
    alb = make_client("alb", suite.cloud.endpoints())
    return alb.create_listener(am.CreateListenerRequest(
        load_balancer_id=seed["load_balancer_id"], listener_port=port, listener_protocol="HTTPS",
        certificates=[am.CreateListenerRequestCertificates(certificate_id=seed["server_cert_identifier"])],
        default_actions=[am.CreateListenerRequestDefaultActions(
            type="ForwardGroup", forward_group_config=am.CreateListenerRequestDefaultActionsForwardGroupConfig(
                server_group_tuples=[am.CreateListenerRequestDefaultActionsForwardGroupConfigServerGroupTuples(
                    server_group_id=seed["demo_server_group_id"])]))])).body.listener_id


def test_each_alb_busy_answer_and_kms_429_is_retried_to_success(suite):
    existing = _https_listener_without_mtls(suite, suite.base_port)
    suite.cloud.clock.advance(5)                      # its creation job is over
    rules = [{"kind": "busy", "product": "alb", "action": b.get("action", "*Listener*"), "writes_only": True,
              "remaining": 1, **{k: v for k, v in b.items() if k != "action"}} for b in ALB_BUSY]
    rules += [{"kind": "throttle", "product": "kms", "action": a, "remaining": 1}
              for a in ("CreateSecret", "DescribeSecret", "GetSecretValue")]
    suite.cloud.faults.configure({"rules": rules, "seed": 1})
    mark = suite.cloud.store.last_call_n()
    runs = suite.provision_all([0, 1])
    c = suite.count(runs)
    assert c["succeeded"] == c["runs"] == 2, (c["failure_codes"], [r.message for r in runs])
    assert c["listeners_per_port"] == {1: 2} and c["half_applied"] == [], c["half_applied"]
    assert c["client_certificates_per_cn"] == {1: 2}
    calls = suite.cloud.store.calls(mark)
    faulted = [(x["product"], x["action"], x["code"], x["status"]) for x in calls
               if x["code"] not in ("OK", "DryRunOperation")]
    # every rule fired once: each ALB busy code on a listener write, KMS 429 on the secret calls
    assert sorted(code for p, _, code, _ in faulted if p == "alb") == sorted(b["code"] for b in ALB_BUSY)
    assert ("alb", "CreateListener", "OperationFailed", 400) in faulted            # -21020
    assert ("alb", "UpdateListenerAttribute", "OperationFailed", 400) in faulted   # -22001
    throttled = [(a, st) for p, a, code, st in faulted if p == "kms" and code == "Rejected.Throttling"]
    assert sorted(throttled) == [("CreateSecret", 429), ("DescribeSecret", 429), ("GetSecretValue", 429)]
    # the pre-existing listener was updated in place (mTLS on), not replaced
    doc = suite.cloud.store.get("alb.listener", existing)
    assert doc["CaEnabled"] is True and doc["ListenerPort"] == suite.base_port

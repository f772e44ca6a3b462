"""Throttling and busy answers as each product sends them, through the official SDK clients: KMS
``Rejected.Throttling`` (HTTP 429, no ``x-acs-retry-after``: a plain ``ClientException``), the
generic ``Throttling.User`` with the header (``ThrottlingException``), ALB's documented 200/60 s
quota on listener writes, and busy faults carrying ALB's internal codes in the message — and the
product's retry layer absorbing each (``shared.core.errors``)."""
from __future__ import annotations

import time

import pytest
from alibabacloud_alb20200616 import models as am
from alibabacloud_kms20160120 import models as km
from alibabacloud_tea_openapi.exceptions import ClientException, ThrottlingException

from shared.core.errors import TransientError, map_sdk_error


def test_kms_throttles_with_429_rejected_throttling_and_no_retry_after(cloud, clients):
    cloud.faults.configure({"rules": [{"kind": "throttle", "product": "kms", "remaining": 1}]})
    kms = clients("kms")
    with pytest.raises(ClientException) as info:
        kms.list_secrets(km.ListSecretsRequest())
    exc = info.value
    assert not isinstance(exc, ThrottlingException)          # no x-acs-retry-after header
    assert (exc.code, exc.status_code) == ("Rejected.Throttling", 429)
    err = map_sdk_error(exc, "kms:ListSecrets")
    assert isinstance(err, TransientError) and err.code == "THROTTLED"
    kms.list_secrets(km.ListSecretsRequest())                 # the next call goes through


def test_other_products_throttle_with_the_retry_after_header(cloud, clients):
    cloud.faults.configure({"rules": [{"kind": "throttle", "product": "alb", "remaining": 1,
                                       "retry_after_ms": 321}]})
    with pytest.raises(ThrottlingException) as info:
        clients("alb").list_load_balancers(am.ListLoadBalancersRequest())
    assert (info.value.code, info.value.retry_after) == ("Throttling.User", 321)


def _dry_listener(seed: dict) -> am.CreateListenerRequest:
    return am.CreateListenerRequest(
        load_balancer_id=seed["load_balancer_id"], listener_port=8443, listener_protocol="HTTPS", dry_run=True,
        certificates=[am.CreateListenerRequestCertificates(certificate_id=seed["server_cert_identifier"])],
        default_actions=[am.CreateListenerRequestDefaultActions(
            type="ForwardGroup", forward_group_config=am.CreateListenerRequestDefaultActionsForwardGroupConfig(
                server_group_tuples=[am.CreateListenerRequestDefaultActionsForwardGroupConfigServerGroupTuples(
                    server_group_id=seed["demo_server_group_id"])]))])


def test_alb_listener_writes_are_limited_to_200_per_60_seconds(cloud, clients, endpoints):
    alb = clients("alb")
    req = _dry_listener(endpoints["seed"])
    answers: list[str] = []
    started = time.monotonic()
    while len(answers) < 400 and "Throttling.User" not in answers:
        try:
            alb.create_listener(req)
        except (ClientException, ThrottlingException) as exc:
            answers.append(exc.code)
    elapsed = time.monotonic() - started
    # a burst of 200, refilled at 200/60 per second meanwhile; a dry run counts against the quota too
    assert answers[-1] == "Throttling.User", answers[-3:]
    assert set(answers[:-1]) == {"DryRunOperation"}
    assert 200 <= len(answers) - 1 <= 200 + elapsed * 200 / 60 + 1
    cloud.faults.configure({"quotas": False})                  # the knob the fault suite can turn
    with pytest.raises(ClientException) as info:
        alb.create_listener(req)
    assert info.value.code == "DryRunOperation"


def test_a_busy_fault_carries_alb_internal_code_in_its_message(cloud, clients, endpoints):
    cloud.faults.configure({"rules": [{"kind": "busy", "product": "alb", "action": "CreateListener",
                                       "code": "OperationFailed", "status": 400, "remaining": 1,
                                       "message": "The operation failed (-21020)."}]})
    with pytest.raises(ClientException) as info:
        clients("alb").create_listener(_dry_listener(endpoints["seed"]))
    assert (info.value.code, info.value.status_code) == ("OperationFailed", 400)
    err = map_sdk_error(info.value, "alb:CreateListener")
    assert err.retryable and err.details["busy_marker"] == "-21020"

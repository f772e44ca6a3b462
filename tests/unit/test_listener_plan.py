"""Table-driven tests of the pure listener decisions (``shared.policy.listener``): the plan, the
named checks shared by the preflight and ``enable_mutual_auth``, the certificate rules."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.alb import Listener, LoadBalancer, ServerGroup
from shared.adapters.cas import CasCertificate
from shared.core.errors import Code
from shared.policy.contracts import ProvisionInput
from shared.policy.listener import (
    CLIENT_CERT_XFF_FIELDS,
    EXPIRY_GUARD,
    LISTENER_CHECKS,
    DesiredListener,
    ListenerObservation,
    ListenerPlan,
    ServerCertificateObservation,
    ServerGroupObservation,
    choose_certificate,
    covers,
    desired_xff,
    plan_listener,
    plan_server_certificate,
    plan_server_group,
    server_certificate_expiring,
)
from shared.policy.validation import decode

CA = "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42"
CERT = "20000001-cn-hangzhou"
SG = "sgp-aaaaaaaaaaaaaaaaa"
POLICY = "tls_cipher_policy_1_2"
ON = tuple((f, True) for f in CLIENT_CERT_XFF_FIELDS) + (("XForwardedForEnabled", True),)
OFF = tuple((f, False) for f in CLIENT_CERT_XFF_FIELDS) + (("XForwardedForEnabled", True),)

INPUT = decode(ProvisionInput, {
    "load_balancer_id": "alb-1", "domain": "example.test", "rr": "app", "ca_identifier": CA,
    "server_certificate": {"certificate_id": "20000001"},
    "server_group": {"name": "web", "servers": [{"server_id": "i-1", "port": 80}, {"server_id": "i-2", "port": 80}]},
    "clients": [{"common_name": "alice"}]})


def observation(*, edition="Standard", existing=None, detail="default", groups=(), members=frozenset(),
                now=None, weights=()) -> ListenerObservation:
    """What gather() would have read (shared.steps.listener.gather)."""
    if detail == "default":
        detail = cas_cert(20000001, ("app.example.test",), 90)
    return ListenerObservation(
        inp=INPUT, now=now or NOW, site_region="cn-hangzhou",
        lb=LoadBalancer(id="alb-1", edition=edition, dns_name="alb-1.example", vpc_id="vpc-1", status="Active"),
        existing=existing, server_certificate=ServerCertificateObservation("id", detail=detail),
        server_group=ServerGroupObservation(tuple(groups), frozenset(members), weights=tuple(weights)))


DESIRED = DesiredListener(port=443, ca_certificate_id=CA, security_policy_id=POLICY, client_cert_headers=True,
                          server_certificate_id=CERT, server_group_id=SG)


def https(**over) -> Listener:
    base: dict[str, Any] = dict(id="lsn-1", load_balancer_id="alb-1", port=443, protocol="HTTPS", status="Running",
                                security_policy_id=POLICY, ca_enabled=True, ca_certificate_ids=(CA,),
                                certificate_ids=(CERT,), server_group_ids=(SG,), xff=ON, detailed=True)
    base.update(over)
    return Listener(**base)


@pytest.mark.parametrize("edition, existing, desired, expected", [
    ("Standard", None, DESIRED, ListenerPlan("create")),
    ("StandardWithWaf", None, DESIRED, ListenerPlan("create")),
    ("Standard", https(), DESIRED, ListenerPlan("none", "lsn-1")),
    ("Standard", https(ca_enabled=False), DESIRED, ListenerPlan("update", "lsn-1", ("CaEnabled",))),
    ("Standard", https(ca_enabled=False, ca_certificate_ids=()), DESIRED,
     ListenerPlan("update", "lsn-1", ("CaEnabled", "CaCertificates"))),
    ("Standard", https(ca_certificate_ids=("other",)), DESIRED, ListenerPlan("update", "lsn-1", ("CaCertificates",))),
    ("Standard", https(certificate_ids=("1-cn-hangzhou",)), DESIRED,
     ListenerPlan("update", "lsn-1", ("Certificates",))),
    ("Standard", https(security_policy_id="tls_cipher_policy_1_0"), DESIRED,
     ListenerPlan("update", "lsn-1", ("SecurityPolicyId",))),
    ("Standard", https(server_group_ids=("sgp-other",)), DESIRED,
     ListenerPlan("update", "lsn-1", ("DefaultActions",))),
    ("Standard", https(server_group_ids=(SG, "sgp-other")), DESIRED,
     ListenerPlan("update", "lsn-1", ("DefaultActions",))),
    ("Standard", https(xff=OFF), DESIRED, ListenerPlan("update", "lsn-1", ("XForwardedForConfig",))),
    ("Standard", https(), DesiredListener(443, CA, POLICY, False, CERT, SG),
     ListenerPlan("update", "lsn-1", ("XForwardedForConfig",))),
    ("Standard", https(xff=OFF), DesiredListener(443, CA, POLICY, False, CERT, SG), ListenerPlan("none", "lsn-1")),
    # ids still unknown (upload / group creation pending) count as differing
    ("Standard", https(), DesiredListener(443, CA, POLICY, True, None, None),
     ListenerPlan("update", "lsn-1", ("Certificates", "DefaultActions"))),
    # a listener from ListListeners (CA fields unknown) is never taken as converged
    ("Standard", https(ca_enabled=None, ca_certificate_ids=(), detailed=False), DESIRED,
     ListenerPlan("update", "lsn-1", ("CaEnabled", "CaCertificates"))),
    ("Standard", https(ca_enabled=False, ca_certificate_ids=(), certificate_ids=("9-cn-hangzhou",),
                       security_policy_id="tls_cipher_policy_1_0", server_group_ids=("sgp-x",), xff=OFF), DESIRED,
     ListenerPlan("update", "lsn-1", ("CaEnabled", "CaCertificates", "Certificates", "SecurityPolicyId",
                                      "DefaultActions", "XForwardedForConfig"))),
    # a listener still Configuring is planned the same way (the step waits before writing)
    ("Standard", https(status="Configuring"), DESIRED, ListenerPlan("none", "lsn-1")),
])
def test_plan(edition, existing, desired, expected):
    assert plan_listener(existing, desired) == expected
    assert LISTENER_CHECKS.evaluate(observation(edition=edition, existing=existing)) is None


@pytest.mark.parametrize("edition, existing, code", [
    ("Basic", None, Code.ALB_EDITION_UNSUPPORTED),
    ("Basic", https(), Code.ALB_EDITION_UNSUPPORTED),
    ("Basic", https(protocol="HTTP"), Code.ALB_EDITION_UNSUPPORTED),   # edition is checked first
    ("", None, Code.ALB_EDITION_UNSUPPORTED),
    ("Standard", https(protocol="HTTP", ca_enabled=False, ca_certificate_ids=()), Code.LISTENER_PORT_CONFLICT),
    ("Standard", https(protocol="QUIC"), Code.LISTENER_PORT_CONFLICT),
    ("StandardWithWaf", https(protocol="HTTP"), Code.LISTENER_PORT_CONFLICT),
])
def test_refusals(edition, existing, code):
    found = LISTENER_CHECKS.evaluate(observation(edition=edition, existing=existing))
    assert found is not None and found.code == code
    assert found.field in ("load_balancer_id", "listener_port")


def test_desired_xff_keeps_other_fields():
    existing = {"XForwardedForEnabled": False, "XForwardedForProcessingMode": "remove",
                "XForwardedForClientCertSubjectDNAlias": "x-dn", "XForwardedForClientSourceIpsTrusted": None}
    out = desired_xff(existing, True)
    assert out["XForwardedForEnabled"] is False and out["XForwardedForProcessingMode"] == "remove"
    assert out["XForwardedForClientCertSubjectDNAlias"] == "x-dn"
    assert "XForwardedForClientSourceIpsTrusted" not in out
    assert all(out[f] is True for f in CLIENT_CERT_XFF_FIELDS)
    assert all(desired_xff(existing, False)[f] is False for f in CLIENT_CERT_XFF_FIELDS)


@pytest.mark.parametrize("names, fqdn, ok", [
    (["app.example.test"], "app.example.test", True),
    (["APP.Example.Test."], "app.example.test", True),
    (["*.example.test"], "app.example.test", True),
    (["*.example.test"], "example.test", False),
    (["*.example.test"], "a.b.example.test", False),
    (["*.b.example.test"], "a.b.example.test", True),
    (["example.test"], "app.example.test", False),
    (["app.example.test.evil"], "app.example.test", False),
    ([], "app.example.test", False),
    (["", "*.", "*"], "app.example.test", False),
])
def test_covers(names, fqdn, ok):
    assert covers(names, fqdn) is ok


_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@given(st.lists(_LABEL, min_size=2, max_size=4), _LABEL)
def test_covers_wildcard_matches_exactly_one_label(labels, extra):
    fqdn = ".".join(labels)
    parent = ".".join(labels[1:])
    assert covers([fqdn], fqdn)
    assert covers([f"*.{parent}"], fqdn)
    assert not covers([f"*.{fqdn}"], fqdn)
    assert not covers([f"*.{parent}"], f"{extra}.{fqdn}")


NOW = datetime(2026, 6, 1, tzinfo=UTC)


@pytest.mark.parametrize("left, raises", [
    (timedelta(days=30), False),
    (EXPIRY_GUARD, False),
    (EXPIRY_GUARD - timedelta(seconds=1), True),
    (timedelta(0), True),
    (-timedelta(days=1), True),
])
def test_expiry_guard(left, raises):
    found = server_certificate_expiring(NOW + left, NOW, "cert")
    assert (found is not None and found.code == Code.SERVER_CERT_EXPIRING) if raises else found is None
    assert server_certificate_expiring(None, NOW, "cert") is None


def cas_cert(cid: int, names: tuple[str, ...], days: float, **over) -> CasCertificate:
    base: dict[str, Any] = dict(cas_id=cid, identifier=f"{cid}-cn-hangzhou", name=f"c{cid}",
                                common_name=names[0] if names else None, sans=names,
                                not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=days))
    base.update(over)
    return CasCertificate(**base)


@pytest.mark.parametrize("certs, prefer, expected", [
    ([], (), None),
    ([cas_cert(1, ("other.test",), 90)], (), None),
    ([cas_cert(1, ("app.example.test",), 90)], (), 1),
    ([cas_cert(1, ("app.example.test",), 90), cas_cert(2, ("*.example.test",), 200)], (), 2),
    ([cas_cert(1, ("app.example.test",), 90), cas_cert(2, ("app.example.test",), 200, status="revoked")], (), 1),
    ([cas_cert(1, ("app.example.test",), 90), cas_cert(2, ("app.example.test",), 200, has_key=False)], (), 1),
    ([cas_cert(1, ("app.example.test",), -1)], (), None),                      # expired: never chosen
    ([cas_cert(1, ("app.example.test",), 3)], (), 1),                          # chosen, refused later (expiring)
    # the listener's current certificate wins while it has 7+ days left …
    ([cas_cert(1, ("app.example.test",), 90), cas_cert(2, ("app.example.test",), 200)], (1,), 1),
    # … but not when it is about to expire
    ([cas_cert(1, ("app.example.test",), 3), cas_cert(2, ("app.example.test",), 200)], (1,), 2),
])
def test_choose_certificate(certs, prefer, expected):
    got = choose_certificate(certs, "app.example.test", NOW, prefer)
    assert (got.cas_id if got else None) == expected


def group(gid: str, vpc: str, status: str = "Available") -> ServerGroup:
    return ServerGroup(id=gid, name="web", vpc_id=vpc, status=status)


@pytest.mark.parametrize("kw, code, field", [
    ({}, None, None),
    ({"detail": None}, Code.CERT_NOT_FOUND, "server_certificate.certificate_id"),
    ({"detail": cas_cert(20000001, ("other.test",), 90)}, Code.SERVER_CERT_MISMATCH,
     "server_certificate.certificate_id"),
    ({"detail": cas_cert(20000001, ("app.example.test",), 3)}, Code.SERVER_CERT_EXPIRING, "server_certificate"),
    ({"groups": [group("sgp-2", "vpc-other")]}, Code.SERVER_GROUP_VPC_MISMATCH, "server_group.name"),
    ({"groups": [group("sgp-2", "vpc-other"), group("sgp-1", "vpc-1")]}, None, None),
    # the edition is reported before anything else
    ({"edition": "Basic", "detail": None}, Code.ALB_EDITION_UNSUPPORTED, "load_balancer_id"),
    ({"existing": https(status="Stopped"), "detail": None}, Code.CLOUD_ERROR, "listener_port"),
])
def test_listener_check_chain(kw, code, field):
    found = LISTENER_CHECKS.evaluate(observation(**kw))
    assert (found.code, found.field) == (code, field) if code else found is None


def test_plans_from_the_observation():
    o = observation(groups=[group("sgp-2", "vpc-other"), group("sgp-9", "vpc-1"), group("sgp-1", "vpc-1")],
                    members={("i-1", 80)})
    sg = plan_server_group(o)
    assert sg.group.id == "sgp-1" and [s.server_id for s in sg.missing] == ["i-2"] and sg.action == "add_servers"
    assert plan_server_group(observation()).action == "create"
    cert = plan_server_certificate(o)
    assert (cert.mode, cert.cas_id, cert.alb_id, cert.needs_upload) == ("id", 20000001, "20000001-cn-hangzhou", False)


@pytest.mark.parametrize("members, weights, action, missing, extra, reweight", [
    # (server id, port) members; (id, port, weight) observed; the input lists i-1:80 and i-2:80 at weight 100
    ({("i-1", 80), ("i-2", 80)}, [("i-1", 80, 100), ("i-2", 80, 100)], "none", [], [], []),
    ({("i-1", 80)}, [("i-1", 80, 100)], "add_servers", ["i-2"], [], []),
    ({("i-1", 80), ("i-2", 80), ("i-9", 80)}, [], "update_servers", [], [("i-9", 80)], []),     # added by hand
    ({("i-1", 80), ("i-2", 8080)}, [], "add_servers", ["i-2"], [("i-2", 8080)], []),           # another port
    ({("i-1", 80), ("i-2", 80)}, [("i-1", 80, 10), ("i-2", 80, 100)], "update_servers", [], [], ["i-1"]),
    ({("i-1", 80), ("i-2", 80)}, [("i-1", 80, None)], "none", [], [], []),                     # weight unknown
])
def test_server_group_members_are_exactly_the_listed_ones(members, weights, action, missing, extra, reweight):
    o = observation(groups=[group("sgp-1", "vpc-1")], members=members, weights=weights)
    sg = plan_server_group(o)
    assert sg.action == action
    assert [s.server_id for s in sg.missing] == missing and list(sg.extra) == extra
    assert [s.server_id for s in sg.reweight] == reweight


@pytest.mark.parametrize("given, own_identifier, code, site_in_message", [
    ("20000001-cn-hangzhou", "20000001-cn-hangzhou", None, None),
    ("20000001", "20000001-ap-southeast-1", None, None),               # no suffix given: the certificate's own
    ("20000001-ap-southeast-1", "20000001-cn-hangzhou", Code.INVALID_INPUT, "cn-hangzhou"),   # its CertIdentifier
    ("20000001-ap-southeast-1", None, Code.INVALID_INPUT, "cn-hangzhou"),                      # configured site
    ("20000001-ap-southeast-1", "20000001-ap-southeast-1", None, None),
])
def test_explicit_site_suffix_must_match_never_rewritten(given, own_identifier, code, site_in_message):
    """A certificate id with an explicit `-<site region>` that is not the certificate's site is an
    error naming both, not a silent rewrite to the configured site."""
    import dataclasses

    import msgspec
    inp = decode(ProvisionInput, dict(msgspec.to_builtins(INPUT), server_certificate={"certificate_id": given}))
    detail = dataclasses.replace(cas_cert(20000001, ("app.example.test",), 90), identifier=own_identifier)
    o = dataclasses.replace(observation(detail=detail), inp=inp)
    found = LISTENER_CHECKS.evaluate(o)
    if code is None:
        assert found is None
        assert plan_server_certificate(o).alb_id == (own_identifier or "20000001-cn-hangzhou")
    else:
        assert (found.code, found.field) == (code, "server_certificate.certificate_id")
        assert "ap-southeast-1" in found.message and site_in_message in found.message

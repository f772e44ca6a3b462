"""Table-driven tests of the pure listener decisions in ``shared.steps.listener``."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.adapters.alb import CLIENT_CERT_XFF_FIELDS, Listener
from shared.adapters.cas import CasCertificate
from shared.core.errors import AlbMtlsError, Code
from shared.steps.listener import (
    EXPIRY_GUARD,
    DesiredListener,
    ListenerPlan,
    check_not_expiring,
    choose_certificate,
    covers,
    desired_xff,
    plan_listener,
)

CA = "8c3e5a7f1b9d4e2a6c0f3b5d7e9a1c42"
CERT = "20000001-cn-hangzhou"
SG = "sgp-aaaaaaaaaaaaaaaaa"
POLICY = "tls_cipher_policy_1_2"
ON = tuple((f, True) for f in CLIENT_CERT_XFF_FIELDS) + (("XForwardedForEnabled", True),)
OFF = tuple((f, False) for f in CLIENT_CERT_XFF_FIELDS) + (("XForwardedForEnabled", True),)

DESIRED = DesiredListener(port=443, ca_certificate_id=CA, security_policy_id=POLICY, client_cert_headers=True,
                          server_certificate_id=CERT, server_group_id=SG)


def https(**over) -> Listener:
    base = dict(id="lsn-1", load_balancer_id="alb-1", port=443, protocol="HTTPS", status="Running",
                security_policy_id=POLICY, ca_enabled=True, ca_certificate_ids=(CA,), certificate_ids=(CERT,),
                server_group_ids=(SG,), xff=ON, detailed=True)
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
    assert plan_listener(edition, existing, desired) == expected


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
    with pytest.raises(AlbMtlsError) as ei:
        plan_listener(edition, existing, DESIRED)
    assert ei.value.code == code
    assert ei.value.field in ("load_balancer_id", "listener_port")


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
    if raises:
        with pytest.raises(AlbMtlsError) as ei:
            check_not_expiring(NOW + left, NOW, "cert")
        assert ei.value.code == Code.SERVER_CERT_EXPIRING
    else:
        check_not_expiring(NOW + left, NOW, "cert")
    check_not_expiring(None, NOW, "cert")


def cas_cert(cid: int, names: tuple[str, ...], days: float, **over) -> CasCertificate:
    base = dict(cas_id=cid, identifier=f"{cid}-cn-hangzhou", name=f"c{cid}", common_name=names[0] if names else None,
                sans=names, not_before=NOW - timedelta(days=1), not_after=NOW + timedelta(days=days))
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

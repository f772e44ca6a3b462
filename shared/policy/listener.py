"""The pure part of ``enable_mutual_auth`` and its preflight: what is observed, the named checks,
and the plans (server certificate, server group, listener). No I/O: ``shared.steps.listener``
gathers the observation and acts; ``shared.steps.preflight`` runs the same checks read-only.

Shape (docs/DECISIONS.md §2; §3 "listener plan"): ``gather() -> ListenerObservation`` (reads only) →
:data:`LISTENER_CHECKS` (first violation wins) → :func:`plan_server_certificate`,
:func:`plan_server_group` → act → :func:`plan_listener` once the ids are known → act → read back
(:func:`listener_differences` of the read-back listener and the desired one must be empty).

API facts (docs/ALIBABA-APIS.md §1): mutual authentication needs the ``Standard`` or
``StandardWithWaf`` edition (§1.1); a port holds one listener of any protocol (§1.2); ALB server
certificate ids are ``<CAS id>-<site region>`` (§2.3, ``shared.policy.ids``); the four
``XForwardedForClientCert*Enabled`` switches pass the client certificate to the backends (§1.14).

The server certificate's own rules (which certificate covers the domain, its PEM, its ALB id) are
in ``shared.policy.servercert``; the names are importable from here too.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from shared.core.errors import AlbMtlsError, Code
from shared.policy.checks import Chain, Violation
from shared.policy.ids import CertificateId
from shared.policy.servercert import (
    EXPIRY_GUARD,
    CasCertificateLike,
    PemFacts,
    alb_id_of,
    cas_site_of,
    choose_certificate,
    covers,
    own_site,
    parse_pem,
    server_certificate_expiring,
    upload_name,
)

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Mapping
    from datetime import datetime

    from shared.policy.contracts import ProvisionInput, ServerSpec

__all__ = [
    "MTLS_EDITIONS", "CLIENT_CERT_XFF_FIELDS", "EXPIRY_GUARD", "LISTENER_FIELDS", "covers", "choose_certificate",
    "PemFacts", "parse_pem", "upload_name", "alb_id_of", "ServerCertificateObservation", "ServerGroupObservation",
    "ListenerObservation", "LISTENER_CHECKS", "TARGET_CHECKS", "RESOURCE_CHECKS", "ServerCertificatePlan",
    "plan_server_certificate",
    "ServerGroupPlan", "plan_server_group", "DesiredListener", "ListenerPlan", "desired_listener", "desired_xff",
    "plan_listener", "listener_differences", "listener_drift", "FieldDrift", "INPUT_FIELD_OF",
    "server_certificate_expiring",
]

#: ALB editions that support mutual authentication (docs/ALIBABA-APIS.md §1.1).
MTLS_EDITIONS: frozenset[str] = frozenset({"Standard", "StandardWithWaf"})
#: The ``XForwardedForConfig`` switches that pass the client certificate to the backends (§1.14).
CLIENT_CERT_XFF_FIELDS: tuple[str, ...] = (
    "XForwardedForClientCertSubjectDNEnabled", "XForwardedForClientCertIssuerDNEnabled",
    "XForwardedForClientCertFingerprintEnabled", "XForwardedForClientCertClientVerifyEnabled",
)
#: Field names a plan may change (wire names of ``UpdateListenerAttribute``).
LISTENER_FIELDS: tuple[str, ...] = ("CaEnabled", "CaCertificates", "Certificates", "SecurityPolicyId",
                                    "DefaultActions", "XForwardedForConfig")


# =============================================================================================
# what the policy reads of the adapters' records (shared.adapters.alb / .cas)
# =============================================================================================
class LoadBalancerLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def edition(self) -> str: ...
    @property
    def vpc_id(self) -> str: ...
    @property
    def dns_name(self) -> str: ...


class ListenerLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def protocol(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def security_policy_id(self) -> str | None: ...
    @property
    def ca_enabled(self) -> bool | None: ...
    @property
    def ca_certificate_ids(self) -> tuple[str, ...]: ...
    @property
    def certificate_ids(self) -> tuple[str, ...]: ...
    @property
    def server_group_ids(self) -> tuple[str, ...]: ...

    @property
    def xff_dict(self) -> dict[str, Any]: ...


class ServerGroupLike(Protocol):
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def vpc_id(self) -> str | None: ...
    @property
    def status(self) -> str: ...


# =============================================================================================
# observations (built by shared.steps.listener.gather: reads only)
# =============================================================================================
@dataclass(frozen=True, slots=True)
class ServerCertificateObservation:
    """What CAS/KMS say about ``inp.server_certificate``, per mode:

    * ``id``: ``detail`` (``GetUserCertificateDetail``; ``None`` = CAS has no such certificate);
    * ``find``: ``candidates`` (``ListCertificates``, every page);
    * ``upload``: ``pem`` (``None`` = ``cert_pem`` unreadable), ``uploaded`` (the same leaf already in
      CAS), ``key_secret_exists`` (``DescribeSecret``; read only when an upload is needed)."""

    mode: Literal["id", "find", "upload"]
    detail: CasCertificateLike | None = None
    candidates: tuple[CasCertificateLike, ...] = ()
    pem: PemFacts | None = None
    uploaded: CasCertificateLike | None = None
    key_secret_exists: bool | None = None


@dataclass(frozen=True, slots=True)
class ServerGroupObservation:
    """``ListServerGroups(ServerGroupNames=[name])`` (every VPC) and, for the group in the ALB's
    VPC, its members ``(server id, port)`` (``ListServerGroupServers``). ``dry_run``: the preflight's
    ``CreateServerGroup``/``AddServersToServerGroup(DryRun=true)`` answer (a violation, or ``None``)."""

    groups: tuple[ServerGroupLike, ...]
    members: frozenset[tuple[str, int]] = frozenset()
    dry_run: Violation | None = None
    #: the members with their weights ``((server id, port, weight), …)`` (drift and the fleet plan)
    weights: tuple[tuple[str, int, int | None], ...] = ()


@dataclass(frozen=True, slots=True)
class ListenerObservation:
    """Everything ``enable_mutual_auth`` (and its preflight) decide on, read at ``now``."""

    inp: ProvisionInput
    now: datetime
    site_region: str
    lb: LoadBalancerLike
    existing: ListenerLike | None
    server_certificate: ServerCertificateObservation
    server_group: ServerGroupObservation
    security_policy_exists: bool | None = None     # preflight only (ListSystemSecurityPolicies …)

    @property
    def mine(self) -> ServerGroupLike | None:
        """The group of that name in the ALB's VPC (the lowest id when several)."""
        mine = sorted((g for g in self.server_group.groups if g.vpc_id == self.lb.vpc_id), key=lambda g: g.id)
        return mine[0] if mine else None

    @property
    def preferred_cas_ids(self) -> tuple[int, ...]:
        """The CAS ids of the listener's current server certificate(s) (``find`` prefers them)."""
        out: list[int] = []
        for cid in (self.existing.certificate_ids if self.existing else ()):
            try:
                parsed = CertificateId.parse(cid)
            except AlbMtlsError:
                continue
            if parsed.is_cas and parsed.cas_id is not None:
                out.append(parsed.cas_id)
        return tuple(out)

    def chosen(self) -> CasCertificateLike | None:
        """``find`` mode: :func:`choose_certificate` over the candidates."""
        return choose_certificate(self.server_certificate.candidates, self.inp.fqdn, self.now,
                                  self.preferred_cas_ids)


# =============================================================================================
# the checks (first violation wins; shared by preflight and the step)
# =============================================================================================
def edition_supports_mtls(o: ListenerObservation) -> Violation | None:
    """``Basic`` ALBs cannot verify client certificates."""
    if o.lb.edition in MTLS_EDITIONS:
        return None
    return Violation(Code.ALB_EDITION_UNSUPPORTED, f"the ALB edition is {o.lb.edition or 'unknown'}; mutual "
                     "authentication needs the Standard or StandardWithWaf edition: upgrade the ALB or use another "
                     "`load_balancer_id`", "load_balancer_id")


def port_free_or_https(o: ListenerObservation) -> Violation | None:
    """A port holds one listener of any protocol: an HTTP/QUIC one is not ours to convert."""
    if o.existing is None or o.existing.protocol == "HTTPS":
        return None
    return Violation(Code.LISTENER_PORT_CONFLICT, f"port {o.inp.listener_port} already has a {o.existing.protocol} "
                     f"listener ({o.existing.id}); mutual authentication needs HTTPS: choose another "
                     "`listener_port` or remove that listener", "listener_port")


def listener_not_stopped(o: ListenerObservation) -> Violation | None:
    """A ``Stopped`` listener would never serve the traffic; starting it is left to its owner."""
    if o.existing is None or o.existing.status != "Stopped":
        return None
    return Violation(Code.CLOUD_ERROR, f"listener {o.existing.id} on port {o.existing.port} is Stopped; start it "
                     "(StartListener, or in the console) and run again", "listener_port")


def security_policy_exists(o: ListenerObservation) -> Violation | None:
    """The TLS security policy is a system policy or one of the account's (preflight reads it)."""
    if o.security_policy_exists is not False:
        return None
    return Violation(Code.INVALID_INPUT, f"TLS security policy {o.inp.security_policy_id!r} does not exist; use a "
                     "system policy such as tls_cipher_policy_1_2", "security_policy_id")


def server_certificate_usable(o: ListenerObservation) -> Violation | None:
    """The server certificate exists (or is found, or uploadable), covers the FQDN and does not
    end within :data:`EXPIRY_GUARD` (docs/ALIBABA-APIS.md §2.3)."""
    sc, spec, fqdn = o.server_certificate, o.inp.server_certificate, o.inp.fqdn
    if sc.mode == "id":
        given = spec.parsed_id
        if sc.detail is None:
            return Violation(Code.CERT_NOT_FOUND, f"CAS has no certificate {given.for_cas() if given else '?'}; check "
                             "`server_certificate.certificate_id` (CAS id, optionally with `-<site region>`)",
                             "server_certificate.certificate_id")
        site = cas_site_of(sc.detail, o.site_region)
        if given is not None and given.site_region and given.site_region != site:
            return Violation(Code.INVALID_INPUT, f"`server_certificate.certificate_id` {given} names site region "
                             f"{given.site_region!r}, but CAS certificate {given.for_cas()} is in site {site!r} "
                             f"({'its CertIdentifier' if own_site(sc.detail) else 'the configured cas_site_region'}); "
                             f"use {given.for_cas()}-{site} or just {given.for_cas()} — the id is never rewritten",
                             "server_certificate.certificate_id")
        if not covers(sc.detail.names, fqdn):
            return Violation(Code.SERVER_CERT_MISMATCH, f"CAS certificate {given} covers "
                             f"{', '.join(sc.detail.names) or 'no names'}, not {fqdn}; choose a certificate for this "
                             "domain", "server_certificate.certificate_id")
        return server_certificate_expiring(sc.detail.not_after, o.now, f"CAS certificate {given}")
    if sc.mode == "find":
        chosen = o.chosen()
        if chosen is None:
            return Violation(Code.CERT_NOT_FOUND, f"no valid CAS certificate with a private key covers {fqdn}; upload "
                             "one (`server_certificate: {cert_pem, key_secret_name}`) or name it with "
                             "`server_certificate.certificate_id`", "server_certificate")
        return server_certificate_expiring(chosen.not_after, o.now,
                                           f"the newest CAS certificate for {fqdn} ({chosen.cas_id})")
    if sc.pem is None:
        return Violation(Code.INVALID_INPUT, "`server_certificate.cert_pem` is not a readable PEM certificate chain "
                         "(leaf first)", "server_certificate.cert_pem")
    if not covers(sc.pem.names, fqdn):
        return Violation(Code.SERVER_CERT_MISMATCH, f"the certificate in `cert_pem` covers "
                         f"{', '.join(sc.pem.names) or 'no names'}, not {fqdn}", "server_certificate.cert_pem")
    found = server_certificate_expiring(sc.pem.not_after, o.now, "the certificate in `cert_pem`")
    if found is not None:
        return found
    if sc.uploaded is None and sc.key_secret_exists is False:
        return Violation(Code.SECRET_NOT_FOUND, f"the KMS secret {spec.key_secret_name!r} with the server key does "
                         "not exist; create it or fix `server_certificate.key_secret_name`",
                         "server_certificate.key_secret_name")
    return None


def server_group_in_alb_vpc(o: ListenerObservation) -> Violation | None:
    """ALB forwards only within its VPC: a group of that name only in other VPCs is refused; the
    preflight's dry run of the group's writes must pass."""
    name = o.inp.server_group.name
    if o.mine is None and o.server_group.groups:
        others = ", ".join(sorted({g.vpc_id or "?" for g in o.server_group.groups}))
        return Violation(Code.SERVER_GROUP_VPC_MISMATCH, f"server group {name!r} exists in VPC {others}, but the ALB "
                         f"is in {o.lb.vpc_id}; choose another `server_group.name`", "server_group.name")
    return o.server_group.dry_run


#: The ALB and the port (the preflight reports these before the CA and DNS checks).
TARGET_CHECKS: Chain[ListenerObservation] = Chain("listener target", (
    ("edition_supports_mtls", edition_supports_mtls),          # Basic edition: no client certificates
    ("port_free_or_https", port_free_or_https),                # an HTTP/QUIC listener holds the port
    ("listener_not_stopped", listener_not_stopped),            # a Stopped listener never serves
    ("security_policy_exists", security_policy_exists),        # preflight reads it; the step leaves it to the API
))
#: What the listener will use (reported after the CA and DNS checks: a wrong host record is the
#: likelier mistake when both fail).
RESOURCE_CHECKS: Chain[ListenerObservation] = Chain("listener resources", (
    ("server_certificate_usable", server_certificate_usable),  # exists, covers the FQDN, not ending soon
    ("server_group_in_alb_vpc", server_group_in_alb_vpc),      # same VPC as the ALB
))
#: ``enable_mutual_auth``: both, in that order.
LISTENER_CHECKS: Chain[ListenerObservation] = Chain("listener", TARGET_CHECKS.checks + RESOURCE_CHECKS.checks)


# =============================================================================================
# plans (pure; each computed once)
# =============================================================================================
@dataclass(frozen=True, slots=True)
class ServerCertificatePlan:
    """The listener's server certificate: ``cas_id``/``alb_id`` (``None`` while an upload is needed,
    ``needs_upload``); ``upload_name`` = the CAS name it gets; ``fingerprint_sha256`` (upload mode)."""

    mode: Literal["id", "find", "upload"]
    cas_id: int | None
    alb_id: str | None
    not_after: datetime | None
    fingerprint_sha256: str | None = None
    needs_upload: bool = False
    upload_name: str | None = None


def plan_server_certificate(o: ListenerObservation) -> ServerCertificatePlan:
    """Which certificate the listener gets (call after :data:`LISTENER_CHECKS` passed)."""
    sc, site = o.server_certificate, o.site_region
    if sc.mode == "id":
        assert sc.detail is not None
        alb_id = alb_id_of(sc.detail, site, o.inp.server_certificate.parsed_id)
        return ServerCertificatePlan("id", sc.detail.cas_id, alb_id, sc.detail.not_after)
    if sc.mode == "find":
        chosen = o.chosen()
        assert chosen is not None
        return ServerCertificatePlan("find", chosen.cas_id, alb_id_of(chosen, site), chosen.not_after)
    assert sc.pem is not None
    if sc.uploaded is not None:
        return ServerCertificatePlan("upload", sc.uploaded.cas_id, alb_id_of(sc.uploaded, site), sc.pem.not_after,
                                     fingerprint_sha256=sc.pem.sha256, upload_name=sc.uploaded.name)
    return ServerCertificatePlan("upload", None, None, sc.pem.not_after, fingerprint_sha256=sc.pem.sha256,
                                 needs_upload=True, upload_name=upload_name(sc.pem))


@dataclass(frozen=True, slots=True)
class ServerGroupPlan:
    """The group in the ALB's VPC (``group``, ``None`` = to create), the servers of the input not yet
    in it (``missing``; all of them when the group is to be created), the members the input does not
    list (``extra``: removed — the group holds exactly the listed servers, as Terraform's
    ``alicloud_alb_server_group`` keeps it) and the listed members whose weight differs
    (``reweight``, with the input's weight)."""

    group: ServerGroupLike | None
    missing: tuple[ServerSpec, ...] = field(default=())
    extra: tuple[tuple[str, int], ...] = field(default=())
    reweight: tuple[ServerSpec, ...] = field(default=())

    @property
    def action(self) -> Literal["create", "add_servers", "update_servers", "none"]:
        if self.group is None:
            return "create"
        if self.missing:
            return "add_servers"
        return "update_servers" if self.extra or self.reweight else "none"


def plan_server_group(o: ListenerObservation) -> ServerGroupPlan:
    """Create the group; or add the missing servers, remove the unlisted members and set the listed
    members' weights; or nothing. Members whose weight was not observed keep it."""
    servers = tuple(o.inp.server_group.servers)
    mine = o.mine
    if mine is None:
        return ServerGroupPlan(None, servers)
    want = {(s.server_id, s.port) for s in servers}
    weights = {(sid, port): w for sid, port, w in o.server_group.weights}
    return ServerGroupPlan(
        mine, missing=tuple(s for s in servers if (s.server_id, s.port) not in o.server_group.members),
        extra=tuple(sorted(m for m in o.server_group.members if m not in want)),
        reweight=tuple(s for s in servers if (s.server_id, s.port) in o.server_group.members
                       and weights.get((s.server_id, s.port)) not in (None, s.weight)))


@dataclass(frozen=True, slots=True)
class DesiredListener:
    """What the listener on ``port`` must look like. ``server_certificate_id`` /
    ``server_group_id`` may be ``None`` while unknown (upload or creation still to come): they
    then count as differing."""

    port: int
    ca_certificate_id: str
    security_policy_id: str
    client_cert_headers: bool
    server_certificate_id: str | None = None
    server_group_id: str | None = None


ListenerAction = Literal["create", "update", "none"]


@dataclass(frozen=True, slots=True)
class ListenerPlan:
    """``action`` and, for ``update``, the differing fields (a subset of :data:`LISTENER_FIELDS`
    in that order); ``listener_id`` of the existing listener."""

    action: ListenerAction
    listener_id: str | None = None
    changes: tuple[str, ...] = ()


def desired_listener(inp: ProvisionInput, cert_id: str | None, sg_id: str | None,
                     ca_certificate_id: str) -> DesiredListener:
    """The :class:`DesiredListener` for ``inp``; ``ca_certificate_id``: the sub-CA in the form ALB
    takes (``shared.policy.ids.alb_ca_id`` of the resolved CA), so the read-back compares in it."""
    return DesiredListener(port=inp.listener_port, ca_certificate_id=ca_certificate_id,
                           security_policy_id=inp.security_policy_id, client_cert_headers=inp.client_cert_headers,
                           server_certificate_id=cert_id, server_group_id=sg_id)


def desired_xff(existing: Mapping[str, Any], client_cert_headers: bool) -> dict[str, Any]:
    """The full ``XForwardedForConfig`` to send: the existing one with the four client-certificate
    switches set to ``client_cert_headers`` (other fields kept as they are)."""
    out = {k: v for k, v in existing.items() if v is not None}
    for f in CLIENT_CERT_XFF_FIELDS:
        out[f] = bool(client_cert_headers)
    return out


@dataclass(frozen=True, slots=True)
class FieldDrift:
    """One listener field (wire name) that differs: the value wanted (``written``) and the value read."""

    field: str
    written: Any
    read: Any

    def describe(self) -> str:
        """``CaEnabled: wrote true, read false``."""
        return f"{self.field}: wrote {_show(self.written)}, read {_show(self.read)}"


#: The input field each listener field comes from (an error names it).
INPUT_FIELD_OF: dict[str, str] = {
    "CaEnabled": "ca_identifier", "CaCertificates": "ca_identifier", "Certificates": "server_certificate",
    "SecurityPolicyId": "security_policy_id", "DefaultActions": "server_group",
    "XForwardedForConfig": "client_cert_headers",
}


def _show(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "nothing"
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)


def listener_drift(existing: ListenerLike, desired: DesiredListener) -> tuple[FieldDrift, ...]:
    """Each of the :data:`LISTENER_FIELDS` in which ``existing`` (from ``GetListenerAttribute``)
    differs from ``desired``, with both values; a listener from ``ListListeners`` has unknown CA
    fields: they differ."""
    out: list[FieldDrift] = []
    if existing.ca_enabled is not True:
        out.append(FieldDrift("CaEnabled", True, existing.ca_enabled))
    if tuple(existing.ca_certificate_ids) != (desired.ca_certificate_id,):
        out.append(FieldDrift("CaCertificates", (desired.ca_certificate_id,), tuple(existing.ca_certificate_ids)))
    if desired.server_certificate_id is None or tuple(existing.certificate_ids[:1]) != (desired.server_certificate_id,):
        out.append(FieldDrift("Certificates", desired.server_certificate_id, existing.certificate_ids[:1] or None))
    if existing.security_policy_id != desired.security_policy_id:
        out.append(FieldDrift("SecurityPolicyId", desired.security_policy_id, existing.security_policy_id))
    if desired.server_group_id is None or tuple(existing.server_group_ids) != (desired.server_group_id,):
        out.append(FieldDrift("DefaultActions", desired.server_group_id, tuple(existing.server_group_ids) or None))
    xff = existing.xff_dict
    off = [f for f in CLIENT_CERT_XFF_FIELDS if bool(xff.get(f)) != desired.client_cert_headers]
    if off:
        out.append(FieldDrift("XForwardedForConfig", {f: desired.client_cert_headers for f in off},
                              {f: bool(xff.get(f)) for f in off}))
    return tuple(out)


def listener_differences(existing: ListenerLike, desired: DesiredListener) -> tuple[str, ...]:
    """The :data:`LISTENER_FIELDS` in which ``existing`` differs from ``desired`` (:func:`listener_drift`)."""
    return tuple(d.field for d in listener_drift(existing, desired))


def plan_listener(existing: ListenerLike | None, desired: DesiredListener) -> ListenerPlan:
    """What to do with the listener port (pure; the refusals are :data:`LISTENER_CHECKS`): no
    listener → ``create``; an HTTPS listener → ``update`` of the differing fields, or ``none``."""
    if existing is None:
        return ListenerPlan("create")
    changes = listener_differences(existing, desired)
    return ListenerPlan("update" if changes else "none", existing.id, changes)

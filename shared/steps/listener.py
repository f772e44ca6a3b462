"""``enable_mutual_auth``: the server certificate, the server group and the HTTPS listener with
mutual authentication (DESIGN.md §1 points 1 and 5, §3 "ALB writes", "listener plan").

Path of :func:`run` — observe (read-only) → decide (pure plans) → act (idempotent, counted writes)
→ wait (bounded) → read back → result:

1. Observe: the ALB (edition, VPC), the listener on the port (``GetListenerAttribute``), the
   server certificate (:func:`observe_server_certificate`), the server group
   (:func:`observe_server_group`).
2. Decide: :func:`plan_listener` (pure) refuses a ``Basic`` edition (``ALB_EDITION_UNSUPPORTED``)
   and a non-HTTPS listener on the port (``LISTENER_PORT_CONFLICT``) *before any write*.
3. Act: upload the server certificate if needed (once per fingerprint), create the server group
   and add missing servers (waiting for ``Available`` between writes), then create the listener
   or update only the fields that differ. ALB writes carry ``ClientToken`` =
   ``ctx.client_token(<resource>, <digest of the parameters>)``.
4. Wait for the listener ``Running`` within one slice of at most :data:`WAIT_SLICE_S` seconds per
   invocation (never past ``ctx.deadline``); still busy → ``{"status": "pending", "attempt": n+1}``
   and the next call observes again (no duplicate write).
5. Read back ``CaEnabled``/``CaCertificates`` (and the other planned fields) before ``ok``.

Results carry ids and fingerprints only; the server key read from KMS is passed to CAS and
dropped, never logged or returned.
"""
from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from shared.adapters import alb, cas
from shared.core.clock import iso_utc
from shared.policy.contracts import ListenerResult, ProvisionInput, ServerSpec, StepEvent, StepResult
from shared.core.errors import AlbMtlsError, Code
from shared.policy.ids import CertificateId, alb_ca_id

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext
    from shared.core.wait import Deadline

__all__ = [
    "run", "plan_listener", "DesiredListener", "ListenerPlan", "desired_xff", "covers", "choose_certificate",
    "check_not_expiring", "observe_server_certificate", "ServerCertificateState", "observe_server_group",
    "ServerGroupState", "EnableMutualAuthResult", "ServerCertificateInfo", "ServerGroupInfo",
    "EXPIRY_GUARD", "WAIT_SLICE_S", "listener_result", "desired_listener", "server_group_error",
    "ensure_server_certificate", "ensure_server_group", "wait_budget", "LISTENER_FIELDS", "refuse_stopped",
]

#: A server certificate ending sooner than this is refused (``SERVER_CERT_EXPIRING``).
EXPIRY_GUARD = timedelta(days=7)
#: Longest time one invocation spends waiting for ALB jobs before returning ``pending`` (s).
WAIT_SLICE_S = 20.0
#: Time kept free after waiting for the read-back calls and the result (s).
_RESERVE_S = 1.5
#: ALB job polls: first after 0.1 s, the gap doubling up to 0.5 s (a job's end is seen ≤ 0.5 s late).
_POLL = {"first_delay": 0.1, "interval": 0.5}

# =============================================================================================
# pure decisions
# =============================================================================================


def covers(names: Iterable[str], fqdn: str) -> bool:
    """True when one of ``names`` (CN/SANs) matches ``fqdn``: exactly (case-insensitive, trailing
    dot ignored) or as a wildcard ``*.<parent>`` matching exactly one left-most label."""
    want = fqdn.strip().lower().rstrip(".")
    for raw in names:
        n = (raw or "").strip().lower().rstrip(".")
        if not n:
            continue
        if n == want:
            return True
        if n.startswith("*.") and "." in want:
            label, _, parent = want.partition(".")
            if label and label != "*" and parent == n[2:]:
                return True
    return False


def check_not_expiring(not_after: datetime | None, now: datetime, what: str) -> None:
    """Raise ``SERVER_CERT_EXPIRING`` when ``not_after`` is unknown-past or within
    :data:`EXPIRY_GUARD` of ``now`` (both aware UTC)."""
    if not_after is None:
        return
    if not_after <= now:
        raise AlbMtlsError(Code.SERVER_CERT_EXPIRING, f"{what} expired on {iso_utc(not_after)}; renew it or "
                           "choose another `server_certificate`", field="server_certificate")
    if not_after - now < EXPIRY_GUARD:
        raise AlbMtlsError(Code.SERVER_CERT_EXPIRING, f"{what} expires on {iso_utc(not_after)}, in less than "
                           f"{EXPIRY_GUARD.days} days; renew it or choose another `server_certificate`",
                           field="server_certificate")


def choose_certificate(candidates: Iterable[cas.CasCertificate], fqdn: str, now: datetime,
                       prefer_ids: Iterable[int] = ()) -> cas.CasCertificate | None:
    """The CAS certificate to use for ``fqdn`` (``server_certificate: {}``), or ``None``.

    Candidates: covering ``fqdn`` (:func:`covers`), not revoked, with a private key (unless
    unknown), not yet expired. A candidate in ``prefer_ids`` (the listener's current certificate)
    with at least :data:`EXPIRY_GUARD` left wins (no churn); otherwise the one ending last.
    """
    usable = [c for c in candidates
              if covers(c.names, fqdn) and c.status != "revoked" and c.has_key is not False
              and (c.not_after is None or c.not_after > now)]
    prefer = set(prefer_ids)
    for c in usable:
        if c.cas_id in prefer and (c.not_after is None or c.not_after - now >= EXPIRY_GUARD):
            return c
    if not usable:
        return None
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return max(usable, key=lambda c: (c.not_after or far, c.cas_id))


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

#: Field names a plan may change (wire names of ``UpdateListenerAttribute``).
LISTENER_FIELDS: tuple[str, ...] = ("CaEnabled", "CaCertificates", "Certificates", "SecurityPolicyId",
                                    "DefaultActions", "XForwardedForConfig")


@dataclass(frozen=True, slots=True)
class ListenerPlan:
    """``action`` and, for ``update``, the differing fields (a subset of :data:`LISTENER_FIELDS`
    in that order); ``listener_id`` of the existing listener."""

    action: ListenerAction
    listener_id: str | None = None
    changes: tuple[str, ...] = ()


def desired_xff(existing: Mapping[str, Any], client_cert_headers: bool) -> dict[str, Any]:
    """The full ``XForwardedForConfig`` to send: the existing one with the four client-certificate
    switches set to ``client_cert_headers`` (other fields kept as they are)."""
    out = {k: v for k, v in existing.items() if v is not None}
    for f in alb.CLIENT_CERT_XFF_FIELDS:
        out[f] = bool(client_cert_headers)
    return out


def plan_listener(edition: str, existing: alb.Listener | None, desired: DesiredListener) -> ListenerPlan:
    """Decide what to do with the listener port (pure).

    * ``edition`` not ``Standard``/``StandardWithWaf`` → ``ALB_EDITION_UNSUPPORTED`` (always first);
    * no listener → ``create``;
    * a non-HTTPS listener (HTTP, QUIC) on the port → ``LISTENER_PORT_CONFLICT``;
    * an HTTPS listener → ``update`` of the differing fields, or ``none``.

    ``existing`` must come from ``GetListenerAttribute`` (``detailed``); a listener from
    ``ListListeners`` has unknown CA fields and counts as differing on them.
    """
    if edition not in alb.MTLS_EDITIONS:
        raise AlbMtlsError(Code.ALB_EDITION_UNSUPPORTED, f"the ALB edition is {edition or 'unknown'}; mutual "
                           "authentication needs the Standard or StandardWithWaf edition: upgrade the ALB or use "
                           "another `load_balancer_id`", field="load_balancer_id")
    if existing is None:
        return ListenerPlan("create")
    if existing.protocol != "HTTPS":
        raise AlbMtlsError(Code.LISTENER_PORT_CONFLICT, f"port {desired.port} already has a {existing.protocol} "
                           f"listener ({existing.id}); mutual authentication needs HTTPS: choose another "
                           "`listener_port` or remove that listener", field="listener_port")
    changes: list[str] = []
    if existing.ca_enabled is not True:
        changes.append("CaEnabled")
    if tuple(existing.ca_certificate_ids) != (desired.ca_certificate_id,):
        changes.append("CaCertificates")
    if desired.server_certificate_id is None or tuple(existing.certificate_ids[:1]) != (desired.server_certificate_id,):
        changes.append("Certificates")
    if existing.security_policy_id != desired.security_policy_id:
        changes.append("SecurityPolicyId")
    if desired.server_group_id is None or tuple(existing.server_group_ids) != (desired.server_group_id,):
        changes.append("DefaultActions")
    xff = existing.xff_dict
    if any(bool(xff.get(f)) != desired.client_cert_headers for f in alb.CLIENT_CERT_XFF_FIELDS):
        changes.append("XForwardedForConfig")
    return ListenerPlan("update" if changes else "none", existing.id, tuple(changes))


def _digest(*parts: Any) -> str:
    raw = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


# =============================================================================================
# results
# =============================================================================================
class ServerCertificateInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The listener's server certificate: ALB ``id`` (``<CertId>-<site region>``), ``cas_id``,
    ``mode`` (``id``/``find``/``upload``), ``not_after`` (ISO UTC), ``uploaded`` (this call
    uploaded it), ``fingerprint_sha256`` (upload mode)."""

    id: str | None  # noqa: A003
    cas_id: int | None = None
    mode: str
    not_after: str | None = None
    uploaded: bool = False
    fingerprint_sha256: str | None = None


class ServerGroupInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The server group: ``id``, ``name``, ``created`` (by this call), ``servers_added``."""

    id: str | None  # noqa: A003
    name: str
    created: bool = False
    servers_added: int = 0


class EnableMutualAuthResult(StepResult, kw_only=True):
    """``enable_mutual_auth`` result: ``status`` ``ok`` | ``pending`` (call again; the flow
    loops while ``attempt`` < its bound), ``attempt`` = calls so far, ``writes`` = mutating calls
    made by *this* call, ``listener`` (read back; ``None`` while pending before creation),
    ``waiting_for`` (what a pending call waits for)."""

    attempt: int
    writes: int
    listener: ListenerResult | None = None
    server_certificate: ServerCertificateInfo | None = None
    server_group: ServerGroupInfo | None = None
    listener_action: str | None = None
    waiting_for: str | None = None


def listener_result(lst: alb.Listener) -> ListenerResult:
    """A :class:`~shared.policy.contracts.ListenerResult` of a read-back listener."""
    return ListenerResult(id=lst.id, port=lst.port, ca_enabled=bool(lst.ca_enabled),
                          ca_certificate_id=lst.ca_certificate_ids[0] if lst.ca_certificate_ids else None,
                          security_policy_id=lst.security_policy_id or "", status=lst.status,
                          server_certificate_id=lst.certificate_ids[0] if lst.certificate_ids else None,
                          server_group_id=lst.server_group_ids[0] if lst.server_group_ids else None)


# =============================================================================================
# waiting
# =============================================================================================
def wait_budget(ctx: StepContext) -> Deadline:
    """This invocation's waiting budget: at most :data:`WAIT_SLICE_S` s, and never so long that
    the read-back after it cannot finish before ``ctx.deadline``."""
    return ctx.deadline.slice(max(0.0, min(WAIT_SLICE_S, ctx.deadline.remaining() - _RESERVE_S)))


# =============================================================================================
# server certificate
# =============================================================================================
@dataclass(frozen=True, slots=True)
class ServerCertificateState:
    """What :func:`observe_server_certificate` found. ``cas_id``/``alb_id`` are ``None`` when an
    upload is still needed (``needs_upload``); ``upload_name`` is the CAS name it will get."""

    mode: Literal["id", "find", "upload"]
    cas_id: int | None
    alb_id: str | None
    not_after: datetime | None
    fingerprint_sha256: str | None = None
    needs_upload: bool = False
    upload_name: str | None = None

    def info(self, *, uploaded: bool = False) -> ServerCertificateInfo:
        return ServerCertificateInfo(id=self.alb_id, cas_id=self.cas_id, mode=self.mode,
                                     not_after=iso_utc(self.not_after) if self.not_after else None,
                                     uploaded=uploaded, fingerprint_sha256=self.fingerprint_sha256)


def _alb_id(cert: cas.CasCertificate, site_region: str, given: CertificateId | None = None) -> str:
    if cert.identifier:
        try:
            parsed = CertificateId.parse(cert.identifier)
            if parsed.is_cas and parsed.cas_id == cert.cas_id and parsed.site_region:
                return str(parsed)
        except AlbMtlsError:
            pass
    if given is not None and given.is_cas and given.cas_id == cert.cas_id:
        return given.for_alb(site_region)
    return CertificateId("cas", cas_id=cert.cas_id).for_alb(site_region)


@dataclass(frozen=True, slots=True)
class _Pem:
    sha256: str
    sha1: str
    serial: str
    names: tuple[str, ...]
    not_after: datetime
    common_name: str | None


def _parse_pem(pem: str) -> _Pem:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    try:
        certs = x509.load_pem_x509_certificates(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        certs = []
    if not certs:
        raise AlbMtlsError(Code.INVALID_INPUT, "`server_certificate.cert_pem` is not a readable PEM certificate "
                           "chain (leaf first)", field="server_certificate.cert_pem")
    leaf = certs[0]
    cn_attrs = leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    cn = str(cn_attrs[0].value) if cn_attrs else None
    sans: list[str] = []
    try:
        ext = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        sans = [str(v) for v in ext.value.get_values_for_type(x509.DNSName)]
    except x509.ExtensionNotFound:
        pass
    names = tuple(([cn] if cn else []) + sans)
    return _Pem(sha256=leaf.fingerprint(hashes.SHA256()).hex(), sha1=leaf.fingerprint(hashes.SHA1()).hex(),  # noqa: S303
                serial=format(leaf.serial_number, "x"), names=names, not_after=leaf.not_valid_after_utc,
                common_name=cn)


def _upload_name(pem: _Pem) -> str:
    base = "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in (pem.common_name or "cert").lower())
    return f"albmtls-{base.strip('-.')[:36] or 'cert'}-{pem.sha256[:16]}"[:63]


def _find_uploaded(ctx: StepContext, pem: _Pem, name: str) -> cas.CasCertificate | None:
    """The CAS certificate with the same leaf (fingerprint), or our upload name; ``None``."""
    ours = {pem.sha256, pem.sha1}
    maybe: list[cas.CasCertificate] = []
    for c in ctx.adapter(cas.Cas).iter_certificates():
        if c.fingerprint and c.fingerprint in ours:
            return c
        if (c.serial and c.serial == pem.serial) or c.name == name:
            maybe.append(c)
    for c in maybe:  # serial/name match only: confirm with the detail's SHA-2 / fingerprint
        d = ctx.adapter(cas.Cas).get_certificate(c.cas_id)
        if (d.sha256 and d.sha256 == pem.sha256) or (d.fingerprint and d.fingerprint in ours):
            return d
    return None


def _kms_secret_exists(ctx: StepContext, name: str) -> bool:
    """``DescribeSecret`` (metadata only, never the value)."""
    from shared.adapters import kms

    return ctx.adapter(kms.Kms).describe_secret(name) is not None


def _kms_key_pem(ctx: StepContext, name: str) -> str:
    """``GetSecretValue`` of the server key secret (``ACSCurrent``). Never logged or returned."""
    from shared.adapters import kms

    value = ctx.adapter(kms.Kms).get_secret_value(name)
    if value is None:
        raise AlbMtlsError(Code.SECRET_NOT_FOUND, f"the KMS secret {name!r} with the server key does not exist; "
                           "create it or fix `server_certificate.key_secret_name`",
                           field="server_certificate.key_secret_name")
    data = value.data
    if value.data_type.lower() == "binary":
        try:
            data = base64.b64decode(data).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            data = ""
    if "PRIVATE KEY-----" not in data:
        raise AlbMtlsError(Code.INVALID_INPUT, f"the KMS secret {name!r} does not hold a PEM private key",
                           field="server_certificate.key_secret_name")
    return data


def observe_server_certificate(ctx: StepContext, inp: ProvisionInput, *,
                               current_ids: Sequence[str] = ()) -> ServerCertificateState:
    """Resolve ``inp.server_certificate`` read-only (reference §2.3).

    * ``{certificate_id}`` → ``GetUserCertificateDetail``: must exist (``CERT_NOT_FOUND``), cover
      ``inp.fqdn`` (``SERVER_CERT_MISMATCH``) and not end within 7 days (``SERVER_CERT_EXPIRING``).
    * ``{}`` → ``ListCertificates`` (all pages): :func:`choose_certificate` (the listener's
      ``current_ids`` preferred); none → ``CERT_NOT_FOUND``; the chosen one ending soon →
      ``SERVER_CERT_EXPIRING``.
    * ``{cert_pem, key_secret_name}`` → the PEM must parse (``INVALID_INPUT``), cover the FQDN and
      not expire soon; a CAS certificate with the same fingerprint is reused; otherwise
      ``needs_upload`` (the key secret is checked with ``DescribeSecret``: ``SECRET_NOT_FOUND``).
    """
    spec = inp.server_certificate
    site = ctx.settings.cas_site_region
    now = ctx.clock.now()
    fqdn = inp.fqdn
    if spec.mode == "id":
        given = spec.parsed_id
        assert given is not None
        cert = ctx.adapter(cas.Cas).get_certificate(given.for_cas())
        if not covers(cert.names, fqdn):
            raise AlbMtlsError(Code.SERVER_CERT_MISMATCH, f"CAS certificate {given} covers "
                               f"{', '.join(cert.names) or 'no names'}, not {fqdn}; choose a certificate for this "
                               "domain", field="server_certificate.certificate_id")
        check_not_expiring(cert.not_after, now, f"CAS certificate {given}")
        return ServerCertificateState("id", cert.cas_id, _alb_id(cert, site, given), cert.not_after)
    if spec.mode == "find":
        prefer: list[int] = []
        for cid in current_ids:
            try:
                parsed = CertificateId.parse(cid)
            except AlbMtlsError:
                continue
            if parsed.is_cas and parsed.cas_id is not None:
                prefer.append(parsed.cas_id)
        chosen = choose_certificate(ctx.adapter(cas.Cas).iter_certificates(), fqdn, now, prefer)
        if chosen is None:
            raise AlbMtlsError(Code.CERT_NOT_FOUND, f"no valid CAS certificate with a private key covers {fqdn}; "
                               "upload one (`server_certificate: {cert_pem, key_secret_name}`) or name it with "
                               "`server_certificate.certificate_id`", field="server_certificate")
        check_not_expiring(chosen.not_after, now, f"the newest CAS certificate for {fqdn} ({chosen.cas_id})")
        return ServerCertificateState("find", chosen.cas_id, _alb_id(chosen, site), chosen.not_after)
    # upload
    assert spec.cert_pem is not None and spec.key_secret_name is not None
    pem = _parse_pem(spec.cert_pem)
    if not covers(pem.names, fqdn):
        raise AlbMtlsError(Code.SERVER_CERT_MISMATCH, f"the certificate in `cert_pem` covers "
                           f"{', '.join(pem.names) or 'no names'}, not {fqdn}", field="server_certificate.cert_pem")
    check_not_expiring(pem.not_after, now, "the certificate in `cert_pem`")
    name = _upload_name(pem)
    found = _find_uploaded(ctx, pem, name)
    if found is not None:
        return ServerCertificateState("upload", found.cas_id, _alb_id(found, site), pem.not_after,
                                      fingerprint_sha256=pem.sha256, upload_name=found.name)
    if not _kms_secret_exists(ctx, spec.key_secret_name):
        raise AlbMtlsError(Code.SECRET_NOT_FOUND, f"the KMS secret {spec.key_secret_name!r} with the server key "
                           "does not exist; create it or fix `server_certificate.key_secret_name`",
                           field="server_certificate.key_secret_name")
    return ServerCertificateState("upload", None, None, pem.not_after, fingerprint_sha256=pem.sha256,
                                  needs_upload=True, upload_name=name)


def ensure_server_certificate(ctx: StepContext, inp: ProvisionInput,
                              state: ServerCertificateState) -> tuple[ServerCertificateState, int]:
    """Upload the certificate when ``state.needs_upload`` (key from KMS ``GetSecretValue``,
    ``UploadUserCertificate``); returns the resolved state and the number of writes (0 or 1).
    A duplicate/name conflict answer is resolved by looking the certificate up again."""
    if not state.needs_upload:
        return state, 0
    spec = inp.server_certificate
    assert spec.cert_pem is not None and spec.key_secret_name is not None and state.upload_name
    pem = _parse_pem(spec.cert_pem)
    key_pem = _kms_key_pem(ctx, spec.key_secret_name)
    site = ctx.settings.cas_site_region
    try:
        cas_id = ctx.adapter(cas.Cas).upload_certificate(name=state.upload_name, cert_pem=spec.cert_pem, key_pem=key_pem,
                                        client_token=ctx.client_token("server-cert", pem.sha256))
    except AlbMtlsError as err:
        del key_pem
        if err.retryable:
            raise
        found = _find_uploaded(ctx, pem, state.upload_name)  # uploaded meanwhile (or by a lost response)
        if found is None:
            raise
        ctx.logger.info("server certificate already in CAS", extra={"cas_id": found.cas_id,
                                                                     "cloud_code": err.cloud_code})
        return ServerCertificateState("upload", found.cas_id, _alb_id(found, site), state.not_after,
                                      fingerprint_sha256=pem.sha256, upload_name=found.name), 0
    del key_pem
    ctx.logger.info("server certificate uploaded", extra={"cas_id": cas_id, "fingerprint_sha256": pem.sha256})
    return ServerCertificateState("upload", cas_id, CertificateId("cas", cas_id=cas_id).for_alb(site), state.not_after,
                                  fingerprint_sha256=pem.sha256, upload_name=state.upload_name), 1


# =============================================================================================
# server group
# =============================================================================================
@dataclass(frozen=True, slots=True)
class ServerGroupState:
    """The server group found by name in the ALB's VPC (``group``, ``None`` = to create) and the
    servers of the input not yet in it (``missing``; all of them when the group is to be created)."""

    group: alb.ServerGroup | None
    missing: tuple[ServerSpec, ...]


def observe_server_group(ctx: StepContext, inp: ProvisionInput, lb: alb.LoadBalancer) -> ServerGroupState:
    """``ListServerGroups(ServerGroupNames=[name])``: the group in ``lb.vpc_id`` (the lowest id
    if several), then ``ListServerGroupServers`` for the servers still missing. A group of that name
    only in other VPCs → ``SERVER_GROUP_VPC_MISMATCH`` (ALB forwards only within its VPC)."""
    spec = inp.server_group
    groups = [g for g in ctx.adapter(alb.Alb).list_server_groups(names=[spec.name]) if g.name == spec.name]
    mine = sorted((g for g in groups if g.vpc_id == lb.vpc_id), key=lambda g: g.id)
    if not mine:
        if groups:
            others = ", ".join(sorted({g.vpc_id or "?" for g in groups}))
            raise AlbMtlsError(Code.SERVER_GROUP_VPC_MISMATCH, f"server group {spec.name!r} exists in VPC {others}, "
                               f"but the ALB is in {lb.vpc_id}; choose another `server_group.name`",
                               field="server_group.name")
        return ServerGroupState(None, tuple(spec.servers))
    group = mine[0]
    have = {(s.server_id, s.port) for s in ctx.adapter(alb.Alb).list_server_group_servers(group.id)}
    return ServerGroupState(group, tuple(s for s in spec.servers if (s.server_id, s.port) not in have))


def _wait_group_available(ctx: StepContext, sg_id: str, budget: Deadline) -> bool:
    """Poll ``GetServerGroup`` (``ListServerGroups``) until the group is ``Available`` or ``budget`` ends."""
    _, ok = ctx.waiter.poll(lambda: ctx.adapter(alb.Alb).get_server_group(sg_id),
                            lambda g: g is not None and g.status == "Available", budget, **_POLL)
    return ok


def server_group_error(err: AlbMtlsError) -> AlbMtlsError:
    """Map ``VpcNotMatch*`` → ``SERVER_GROUP_VPC_MISMATCH`` and ``ResourceNotFound.BackendServer``
    → ``INVALID_INPUT`` (field ``server_group.servers``); other errors unchanged."""
    cc = err.cloud_code or ""
    if cc.startswith("VpcNotMatch"):
        return AlbMtlsError(Code.SERVER_GROUP_VPC_MISMATCH, f"a backend server is not in the ALB's VPC ({cc}); "
                            "list only servers of that VPC in `server_group.servers`", field="server_group.servers",
                            request_id=err.request_id, details=err.details)
    if cc == "ResourceNotFound.BackendServer":
        return AlbMtlsError(Code.INVALID_INPUT, f"a backend server of `server_group.servers` does not exist ({cc})",
                            field="server_group.servers", request_id=err.request_id, details=err.details)
    return err


def ensure_server_group(ctx: StepContext, inp: ProvisionInput, lb: alb.LoadBalancer, state: ServerGroupState,
                        budget: Deadline) -> tuple[str, int, bool, bool, int]:
    """Create the group if needed, wait for ``Available``, add the missing servers, wait again.

    Returns ``(server_group_id, writes, ready, created, servers_added)``; ``ready`` false when the
    wait ``budget`` ran out (call again). Raises ``SERVER_GROUP_VPC_MISMATCH`` for a server in
    another VPC (``VpcNotMatch.BackendServer``)."""
    spec = inp.server_group
    writes = 0
    created = False
    if state.group is None:
        got = ctx.adapter(alb.Alb).create_server_group(name=spec.name, vpc_id=lb.vpc_id, protocol=spec.protocol, health_check=spec.health_check,
            client_token=ctx.client_token("server-group", lb.id, spec.name, _digest(lb.vpc_id, spec.protocol,
                                                                                    msgspec.to_builtins(spec.health_check))))
        assert got is not None
        sg_id = got[0]
        writes += 1
        created = True
        ctx.logger.info("server group created", extra={"server_group_id": sg_id, "job_id": got[1]})
    else:
        sg_id = state.group.id
    if (state.group is None or state.group.status != "Available") and not _wait_group_available(ctx, sg_id, budget):
        return sg_id, writes, False, created, 0
    if not state.missing:
        return sg_id, writes, True, created, 0
    missing = state.missing
    try:
        job = ctx.adapter(alb.Alb).add_servers(sg_id, missing, client_token=ctx.client_token(
            "servers", sg_id, _digest([msgspec.to_builtins(s) for s in missing])))
    except AlbMtlsError as err:
        raise server_group_error(err) from None
    writes += 1
    ctx.logger.info("servers added", extra={"server_group_id": sg_id, "count": len(missing), "job_id": job})
    ready = _wait_group_available(ctx, sg_id, budget)
    return sg_id, writes, ready, created, len(missing)


# =============================================================================================
# the step
# =============================================================================================
def desired_listener(inp: ProvisionInput, cert_id: str | None, sg_id: str | None) -> DesiredListener:
    """The :class:`DesiredListener` for ``inp`` (CA = ``alb_ca_id(ca_identifier)``)."""
    return DesiredListener(port=inp.listener_port, ca_certificate_id=alb_ca_id(inp.ca_id.for_pca()),
                           security_policy_id=inp.security_policy_id, client_cert_headers=inp.client_cert_headers,
                           server_certificate_id=cert_id, server_group_id=sg_id)


def _apply(ctx: StepContext, inp: ProvisionInput, lb: alb.LoadBalancer, plan: ListenerPlan,
           existing: alb.Listener | None, desired: DesiredListener) -> tuple[str, str | None]:
    """Make the planned write; returns ``(listener_id, job_id)``."""
    xff_base = existing.xff_dict if existing is not None else {}
    if plan.action == "create":
        xff = {f: True for f in alb.CLIENT_CERT_XFF_FIELDS} if desired.client_cert_headers else None
        params = (lb.id, desired.port, desired.server_certificate_id, desired.ca_certificate_id,
                  desired.security_policy_id, desired.server_group_id, xff)
        got = ctx.adapter(alb.Alb).create_listener(load_balancer_id=lb.id, port=desired.port, server_certificate_id=desired.server_certificate_id or "",
            ca_certificate_id=desired.ca_certificate_id, security_policy_id=desired.security_policy_id,
            server_group_id=desired.server_group_id or "", xff=xff,
            client_token=ctx.client_token("listener", lb.id, desired.port, "create", _digest(*params)))
        assert got is not None
        return got
    assert plan.listener_id is not None
    ch = set(plan.changes)
    mtls = bool(ch & {"CaEnabled", "CaCertificates"})  # the mTLS pair is always sent together
    fields: dict[str, Any] = {
        "ca_enabled": True if mtls else None,
        "ca_certificate_id": desired.ca_certificate_id if mtls else None,
        "server_certificate_id": desired.server_certificate_id if "Certificates" in ch else None,
        "security_policy_id": desired.security_policy_id if "SecurityPolicyId" in ch else None,
        "server_group_id": desired.server_group_id if "DefaultActions" in ch else None,
        "xff": desired_xff(xff_base, desired.client_cert_headers) if "XForwardedForConfig" in ch else None,
    }
    job = ctx.adapter(alb.Alb).update_listener(plan.listener_id, **fields, client_token=ctx.client_token(
        "listener", plan.listener_id, "update", _digest(fields)))
    return plan.listener_id, job


def refuse_stopped(existing: alb.Listener | None) -> None:
    """Raise ``CLOUD_ERROR`` for a ``Stopped`` listener on the port: it would never serve the
    mutual-TLS traffic; starting it is left to its owner (``StartListener``)."""
    if existing is not None and existing.status == "Stopped":
        raise AlbMtlsError(Code.CLOUD_ERROR, f"listener {existing.id} on port {existing.port} is Stopped; start it "
                           "(StartListener, or in the console) and run again", field="listener_port")


def _wait_running(ctx: StepContext, listener_id: str, budget: Deadline) -> alb.Listener | None:
    """Poll ``GetListenerAttribute`` until the listener's job is done (``Running``/``Stopped``);
    ``None`` when ``budget`` ends first."""
    lst, ok = ctx.waiter.poll(lambda: ctx.adapter(alb.Alb).get_listener(listener_id),
                              lambda x: x.status in ("Running", "Stopped"), budget, **_POLL)
    return lst if ok else None


def run(ev: StepEvent, ctx: StepContext) -> EnableMutualAuthResult:
    """Enable mutual authentication on the HTTPS listener ``ev.input.listener_port`` (see module doc).

    Source actions: ALB ``GetLoadBalancerAttribute``, ``ListListeners``, ``GetListenerAttribute``,
    ``ListServerGroups``, ``ListServerGroupServers``, ``CreateServerGroup``,
    ``AddServersToServerGroup``, ``CreateListener`` / ``UpdateListenerAttribute``,
    ``ListAsynJobs``; CAS ``GetUserCertificateDetail``, ``ListCertificates``,
    ``UploadUserCertificate``; KMS ``DescribeSecret``, ``GetSecretValue``.

    Returns :class:`EnableMutualAuthResult` (``ok`` with the read-back ``listener``, or
    ``pending`` with ``attempt = ev.attempt + 1``). Raises ``AlbMtlsError``:
    ``LOAD_BALANCER_NOT_FOUND``, ``ALB_EDITION_UNSUPPORTED``, ``LISTENER_PORT_CONFLICT``,
    ``CERT_NOT_FOUND``, ``SERVER_CERT_MISMATCH``, ``SERVER_CERT_EXPIRING``, ``SECRET_NOT_FOUND``,
    ``SERVER_GROUP_VPC_MISMATCH``, ``CLOUD_ERROR`` (read-back differs after the job ended);
    ``TransientError`` when the cloud stays busy past the deadline.
    """
    inp = ev.input
    attempt = ev.attempt + 1
    budget = wait_budget(ctx)
    writes = 0

    # -- observe ------------------------------------------------------------------------------
    lb = ctx.adapter(alb.Alb).get_load_balancer(inp.load_balancer_id)
    existing = ctx.adapter(alb.Alb).find_listener_on_port(lb.id, inp.listener_port)
    plan_listener(lb.edition, existing, desired_listener(inp, None, None))  # refusals before any write
    refuse_stopped(existing)
    cert = observe_server_certificate(ctx, inp, current_ids=existing.certificate_ids if existing else ())
    sg_state = observe_server_group(ctx, inp, lb)

    # -- act: server certificate, server group ---------------------------------------------------
    cert, cert_writes = ensure_server_certificate(ctx, inp, cert)
    writes += cert_writes
    sg_id, n, ready, created, added = ensure_server_group(ctx, inp, lb, sg_state, budget)
    writes += n
    cert_info = cert.info(uploaded=cert_writes > 0)
    sg_info = ServerGroupInfo(id=sg_id, name=inp.server_group.name, created=created, servers_added=added)

    def pending(what: str, action: str | None = None) -> EnableMutualAuthResult:
        ctx.logger.info("waiting; returning pending", extra={"waiting_for": what, "attempt": attempt,
                                                              "writes": writes})
        return EnableMutualAuthResult(status="pending", attempt=attempt, writes=writes, server_certificate=cert_info,
                                      server_group=sg_info, listener_action=action, waiting_for=what)

    if not ready:
        return pending(f"server group {sg_id} to be Available")

    # -- decide + act: the listener -------------------------------------------------------------
    desired = desired_listener(inp, cert.alb_id, sg_id)
    plan = plan_listener(lb.edition, existing, desired)
    listener_id = existing.id if existing else None
    job_id: str | None = None
    if plan.action == "update" and existing is not None and existing.status != "Running":
        fresh = _wait_running(ctx, existing.id, budget)  # a job still runs: wait, then plan on what it left
        if fresh is None:
            return pending(f"listener {existing.id} to be Running before the update", plan.action)
        existing = fresh
        plan = plan_listener(lb.edition, existing, desired)
    if plan.action != "none":
        try:
            listener_id, job_id = _apply(ctx, inp, lb, plan, existing, desired)
        except AlbMtlsError as err:
            if plan.action == "create" and err.cloud_code == "ResourceAlreadyExist.Listener":
                # someone created a listener on the port since we looked: observe again next call
                return pending(f"port {inp.listener_port} was taken meanwhile; re-observing", plan.action)
            raise
        writes += 1
        ctx.logger.info("listener written", extra={"listener_id": listener_id, "action": plan.action,
                                                    "changes": list(plan.changes), "job_id": job_id})
    assert listener_id is not None

    # -- wait + read back ---------------------------------------------------------------------
    lst = _wait_running(ctx, listener_id, budget)
    if lst is None:
        return pending(f"listener {listener_id} to be Running", plan.action)
    if lst.status == "Stopped":
        raise AlbMtlsError(Code.CLOUD_ERROR, f"listener {listener_id} is Stopped; start it (StartListener) and run "
                           "again", field="listener_port")
    after = plan_listener(lb.edition, lst, desired)
    if after.action != "none" or lst.ca_enabled is not True or lst.ca_certificate_ids != (desired.ca_certificate_id,):
        detail = ""
        if job_id:
            jobs = ctx.adapter(alb.Alb).list_asyn_jobs(job_ids=[job_id])
            failed = [j for j in jobs if j.status == "Failed"]
            if failed:
                detail = f"; job {job_id} failed: {failed[0].error_code or ''} {failed[0].error_message or ''}".rstrip()
        raise AlbMtlsError(Code.CLOUD_ERROR, f"listener {listener_id} is Running but still differs in "
                           f"{', '.join(after.changes) or 'CaEnabled/CaCertificates'} after the write{detail}; "
                           "run again, or check the listener in the console")
    return EnableMutualAuthResult(status="ok", attempt=attempt, writes=writes, listener=listener_result(lst),
                                  server_certificate=cert_info, server_group=sg_info, listener_action=plan.action)

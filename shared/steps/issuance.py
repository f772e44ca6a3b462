"""Client certificates: the sub-CA's checks and the stored records.

* :func:`resolve_ca` / :func:`alb_ca_certificate_id` / :func:`observe_ca` / :func:`ca_plan` — the
  sub-CA (``DescribeCACertificate``, ``GetCAInstanceStatus``, and the lists that resolve its two
  identifiers) through ``shared.policy.ca.CA_CHECKS``. They run in the issuing lane
  (``shared.steps.engine``, once per invocation and CA): the provision flow's preflight reads the
  lane's check (``shared.steps.lane_client.checked``), so no PCA call is made outside the lane.
* :func:`read_meta` / :func:`load_client_pfx` — what is stored per client.
* :func:`issue_for_client` — one certificate issued in the calling invocation, outside the lane:
  only ``albmtls restore`` uses it (``shared.steps.offboarding``: one holder's certificate at an
  operator's request — a handful of PCA calls, like the operator's reports; docs/PERFORMANCE.md).
  Provisioning and rotation issue in the lane.
* the ``issue_client_cert`` step itself is ``shared.steps.issue_request``: it places the run's
  order in the issuing lane; the lane's head issues (``shared.steps.engine``, ``shared.steps.issuer``).

Where things are kept, per client ``cn`` on listener ``<lb>-<port>`` (``inp.secrets(cn)``,
``shared.policy.ids.secret_names``):

* ``<prefix>/<listener>/<cn>/pfx`` — the PKCS#12 (``SecretDataType=binary``: Base64 of the DER);
* ``<prefix>/<listener>/<cn>/password`` — its password (text), delivered through a separate channel;
* ``<prefix>/<listener>/<cn>/meta`` — non-secret certificate metadata (compact JSON, the one record
  type ``shared.policy.records.CertMeta``), written last, so it marks a complete issuance.

Every version's ``VersionId`` is the certificate serial (lowercase hex), so the three are matched by
version. ``CustomIdentifier`` of an issued certificate: ``albmtls-<listener key>-<12 hex>``
(``shared.policy.ids.custom_identifier``, seeded by the lane order's name): the rotation scan
recognises this automation's certificates and their listener from it.

Private keys and passwords never leave the issuer: results, logs and exceptions carry ids, serials,
fingerprints and secret names only.

One module (~500 lines): the sub-CA's checks, the stored records and the one issuance outside the
lane (a restore), read in one sitting.
"""
from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shared.adapters import kms as kms_api
from shared.adapters import pca as pca_api
from shared.core.clock import iso_utc
from shared.core.errors import AlbMtlsError, Code, TransientError
from shared.policy import leaf as leaf_checks
from shared.policy import pfx as pfx_files
from shared.policy import pki, renewal
from shared.policy.ca import CA_CHECKS, CaObservation, CaTarget, client_window
from shared.policy.ca import key_algorithm as ca_key_algorithm
from shared.policy.contracts import ClientCertificateResult, ClientSpec, ProvisionInput
from shared.policy.ids import (
    CertificateId,
    ResolvedCa,
    SecretNames,
    alb_ca_id,
    custom_identifier,
    custom_identifier_matches_listener,
    holder_uri,
    parse_custom_identifier,
    secret_names,
)
from shared.policy.issuance import CurrentCert, Decision, decide, norm_sans, san_request
from shared.policy.records import CertMeta, decode_meta, encode_meta
from shared.steps.issuers import CaHolder, OwnCa, ca_issuer, describe_issued

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext

__all__ = [
    "IssueTarget", "custom_identifier", "parse_custom_identifier", "custom_identifier_matches_listener",
    "CaView", "resolve_ca", "alb_ca_certificate_id", "gather_ca", "observe_ca", "preflight_ca", "ca_plan",
    "PLAN_CLIENTS", "CurrentCert", "observe_client", "Decision", "decide", "IssueOutcome", "issue_for_client",
    "load_client_pfx", "StoredTarget", "read_meta",
]


class IssueTarget(CaTarget, Protocol):
    """What issuance reads of its input: the sub-CA (``ca_id``), the listener key and the secret
    names per CN — a ``ProvisionInput``, or the rotation's target for one stored certificate
    (``shared.steps.engine.Target``)."""

    @property
    def listener_key(self) -> str: ...

    def secrets(self, common_name: str) -> SecretNames: ...


MAX_ISSUE_ATTEMPTS = 5             # CustomIdentifier suffixes tried before giving up
BACKDATE = renewal.DEFAULT_BACKDATE
CLOCK_SKEW = timedelta(minutes=5)  # tolerated between our clock and the PCA's when checking a new leaf
#: clients listed in the CA plan (the rest are counted: the plan is part of the flow's state)
PLAN_CLIENTS = 20


@dataclass(frozen=True, slots=True)
class CaView:
    """The issuing sub-CA once ``CA_CHECKS`` passed: the certificate, its subscription end, the leaf
    key algorithm."""

    obs: CaObservation
    key_algorithm: pki.KeyAlgorithm
    #: the sub-CA as ``DescribeCACertificate`` gave it, and its certificate (``CA_CHECKS`` refused one without)
    ca: pca_api.CaCertificate
    cert_pem: str

    @property
    def identifier(self) -> str:
        return self.obs.ca.identifier

    @property
    def subscription_end(self) -> datetime | None:
        return self.obs.subscription_end

    def window(self, now: datetime, client: ClientSpec, index: int | None = None) -> renewal.ValidityWindow:
        """The validity for ``client`` issued at ``now`` (``CA_EXPIRES_TOO_SOON`` if it does not fit)."""
        return client_window(replace(self.obs, now=now), client, index)


def resolve_ca(ctx: StepContext, inp: CaHolder, *, for_alb: bool = False) -> ResolvedCa:
    """The sub-CA ``inp.ca_identifier`` names (by either identifier), resolved: its ``Identifier``
    for the PCA calls and, when ``for_alb`` and ALB takes CAs by ``CertIdentifier``
    (``settings.alb_ca_id_form``), that too. Reads only (``Pca.resolve_ca``)."""
    api = ca_issuer(ctx, inp)
    if isinstance(api, OwnCa):            # an own CA: its issuing generation, and the upload listeners trust
        return api.resolve_ca(str(inp.ca_id), want_cert_identifier=for_alb)
    want = for_alb and ctx.settings.alb_ca_id_form == "cert_identifier"
    return api.resolve_ca(inp.ca_id.for_pca(), want_cert_identifier=want)


def alb_ca_certificate_id(ctx: StepContext, inp: ProvisionInput) -> str:
    """The listener's ``CaCertificates`` id for ``inp``: the sub-CA resolved into the form ALB takes
    (``shared.policy.ids.alb_ca_id``); for an own CA the repository ``Identifier`` of the generation
    listeners trust. Reads only; ``CA_NOT_FOUND`` when it cannot be resolved."""
    api = ca_issuer(ctx, inp)
    if isinstance(api, OwnCa):
        return api.alb_ca_id()
    return alb_ca_id(resolve_ca(ctx, inp, for_alb=True), ctx.settings.alb_ca_id_form)


def gather_ca(ctx: StepContext, inp: IssueTarget, resolved: ResolvedCa | None = None) -> CaObservation:
    """Read the sub-CA ``inp.ca_identifier`` (resolved into its ``Identifier`` unless ``resolved``
    is given): ``DescribeCACertificate`` (``CA_NOT_FOUND`` when it does not exist) and
    ``GetCAInstanceStatus``. Reads only."""
    from concurrent.futures import ThreadPoolExecutor

    api = ca_issuer(ctx, inp)
    if isinstance(api, OwnCa):            # an own CA: its record in KMS, read once per invocation
        ident = (resolved or resolve_ca(ctx, inp)).identifier
        return CaObservation(inp=inp, now=ctx.clock.now(), ca=api.describe_ca_certificate(ident),
                             instance=None)        # an own CA has no subscription instance
    ident = resolved.identifier if resolved is not None else inp.ca_id.for_pca()
    # the certificate and the instance status at once: neither needs the other's answer
    with ThreadPoolExecutor(1, thread_name_prefix="ca-read") as pool:
        # the certificate asked first (in the lane its answer is what the ALB resolving waits for)
        ca_f = pool.submit(api.describe_ca_certificate, ident)
        inst = api.get_ca_instance_status
        try:
            instance_first: Any = inst(ident)
        except AlbMtlsError as exc:
            instance_first = exc
        try:
            ca = ca_f.result()
        except AlbMtlsError as exc:
            if resolved is not None or exc.code != Code.CA_NOT_FOUND:
                raise
            # not an Identifier: a CertIdentifier to resolve (the usual case, an Identifier, is one read)
            resolved = resolve_ca(ctx, inp)
            ca = api.describe_ca_certificate(resolved.identifier)
            return CaObservation(inp=inp, now=ctx.clock.now(), ca=ca,
                                 instance=api.get_ca_instance_status(resolved.identifier))
        instance = instance_first if not isinstance(instance_first, AlbMtlsError) else \
            inst(ca.identifier)        # its own error, now that the CA exists
    return CaObservation(inp=inp, now=ctx.clock.now(), ca=ca, instance=instance)


def observe_ca(ctx: StepContext, inp: IssueTarget, resolved: ResolvedCa | None = None) -> CaView:
    """:func:`gather_ca`, then ``shared.policy.ca.CA_CHECKS`` (the preflight runs the same).

    Raises
    ------
    AlbMtlsError
        ``INVALID_INPUT`` (field ``ca_identifier``) for a CAS id or a ROOT CA; ``CA_NOT_FOUND`` when it
        does not exist or cannot issue (revoked/forbidden, instance not in use);
        ``CA_EXPIRES_TOO_SOON`` when it has ended; ``CA_ALGORITHM_MISMATCH`` when its key is neither
        EC nor RSA (e.g. SM2); ``QUOTA_EXCEEDED`` when its certificate quota is used up.
    """
    obs = gather_ca(ctx, inp, resolved)
    CA_CHECKS.enforce(obs)
    assert isinstance(obs.ca, pca_api.CaCertificate) and obs.ca.cert_pem  # gather_ca read it; CA_CHECKS held
    return CaView(obs=obs, key_algorithm=ca_key_algorithm(obs), ca=obs.ca, cert_pem=obs.ca.cert_pem)


def preflight_ca(ctx: StepContext, inp: ProvisionInput) -> dict[str, Any]:
    """The sub-CA's checks and its part of the preflight plan: :func:`resolve_ca` (for ALB too, so
    a CA that cannot be named to ALB fails before any write), :func:`observe_ca`, :func:`ca_plan`.
    The issuing lane runs it as a provisioning order's check phase (``shared.steps.issuer``). An own
    CA the run is to create (EnsureOwnCa) is planned, not read (``shared.steps.ownca_preflight``).
    Source API actions: ``DescribeCACertificate``, ``GetCAInstanceStatus`` (and the CA lists when
    the identifier needs resolving); an own CA's record in KMS."""
    if inp.own_ca is not None:                # an own CA the run creates (EnsureOwnCa) is planned, not read
        from shared.steps.ownca_preflight import preflight_new
        planned = preflight_new(ctx, inp)
        if planned is not None:
            return planned
    resolved = resolve_ca(ctx, inp, for_alb=True)
    alb_id = alb_ca_certificate_id(ctx, inp) if inp.own_ca is not None else \
        alb_ca_id(resolved, ctx.settings.alb_ca_id_form)
    view = observe_ca(ctx, inp, resolved)
    return ca_plan(view, inp, ctx.clock.now(), alb_id)


def ca_plan(view: CaView, inp: ProvisionInput, now: datetime, alb_id: str) -> dict[str, Any]:
    """The sub-CA's part of the preflight plan, after the checks: it issues, its key family gives a
    usable leaf key (EC → P-256, RSA → 2048), and it and the PCA subscription outlive the asked
    validity of every client.

    Returns ``{"ca_identifier", "alb_ca_certificate_id", "common_name", "key_family" ("EC"|"RSA"),
    "leaf_key_algorithm", "not_before", "not_after", "subscription_end" (ISO UTC or None),
    "remaining_count", "clients": [{"common_name", "days", "not_after"}] (the first
    :data:`PLAN_CLIENTS`), "clients_total", "warnings": [{"level", "message"}]}``.

    Raises ``CA_EXPIRES_TOO_SOON`` naming the client (field ``clients[i].days``) and the dates.
    """
    clients = []
    for i, c in enumerate(inp.clients):
        w = view.window(now, c, i)
        if i < PLAN_CLIENTS:
            clients.append({"common_name": c.common_name, "days": c.days, "not_after": iso_utc(w.not_after)})
    warnings = []
    limit = view.ca.not_after
    if view.subscription_end is not None and limit is not None:
        limit = min(limit, view.subscription_end)
    longest = max(c.days for c in inp.clients)
    warning = renewal.ca_warning(limit, timedelta(days=longest), timedelta(days=longest) / 3, now) if limit else None
    if warning is not None:
        warnings.append({"level": warning.level, "message": warning.message})
    return {
        "kind": "own" if inp.own_ca is not None else "pca", "action": "use",
        "ca_identifier": view.identifier, "alb_ca_certificate_id": alb_id, "common_name": view.ca.common_name,
        "key_family": view.key_algorithm.family, "leaf_key_algorithm": view.key_algorithm.value,
        "not_before": iso_utc(view.ca.not_before) if view.ca.not_before else None,
        "not_after": iso_utc(view.ca.not_after) if view.ca.not_after else None,
        "subscription_end": iso_utc(view.subscription_end) if view.subscription_end else None,
        "remaining_count": view.ca.remaining_count, "clients": clients, "clients_total": len(inp.clients),
        "warnings": warnings,
    }


@dataclass(frozen=True, slots=True)
class StoredTarget:
    """An :class:`IssueTarget` for a certificate issued outside a provisioning run (a renewal, a
    restore): the listener, the sub-CA and the secret prefix of the stored certificate."""

    listener_key: str
    ca_identifier: str
    secret_prefix: str

    @property
    def ca_id(self) -> CertificateId:
        return CertificateId.parse(self.ca_identifier, field="ca_identifier")

    def secrets(self, common_name: str) -> SecretNames:
        return secret_names(self.secret_prefix, self.listener_key, common_name)


# ---------------------------------------------------------------------------------------------
# what is stored per client
# ---------------------------------------------------------------------------------------------
def _seed(ctx: StepContext) -> str:
    return str(ctx.execution_name or ctx.request_id)


def _own_ids(ctx: StepContext, listener_key: str, cn: str) -> set[str]:
    seed = _seed(ctx)
    return {custom_identifier(listener_key, seed, cn, n) for n in range(MAX_ISSUE_ATTEMPTS)}


def _current_version(ctx: StepContext, name: str) -> str | None:
    v = ctx.adapter(kms_api.Kms).get_secret_value(name, stage=kms_api.CURRENT)
    return v.version_id if v is not None else None


def read_meta(ctx: StepContext, name: str) -> CertMeta | None:
    """The ``ACSCurrent`` record in the ``…/meta`` secret ``name`` (``GetSecretValue``), or ``None``
    when absent or unreadable (treated as never issued: a new issuance repairs it)."""
    raw = ctx.adapter(kms_api.Kms).get_secret_value(name, stage=kms_api.CURRENT)
    return decode_meta(raw.data) if raw is not None else None


def observe_client(ctx: StepContext, names: SecretNames) -> CurrentCert:
    """Read (only) what this automation stored for one client (``names``): the record, the pfx and
    password ``ACSCurrent`` versions (``GetSecretValue``; values are discarded) and
    ``DescribeClientCertificate`` of the recorded identifier — the record is read once. Raises
    ``AlbMtlsError`` on cloud failures (a missing secret is not one)."""
    meta = read_meta(ctx, names.meta)
    if meta is None:
        return CurrentCert(names, None, None, None, None)
    cert = describe_issued(ctx, meta.identifier, names)
    return CurrentCert(names, meta, _current_version(ctx, names.pfx), _current_version(ctx, names.password), cert)


# ---------------------------------------------------------------------------------------------
# decide (pure)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IssueOutcome:
    """A client's certificate after :func:`issue_for_client`; ``writes`` = mutating calls made;
    ``meta`` = the record its secrets now hold (the one written, or the one observed when reused)."""

    result: ClientCertificateResult
    writes: int
    reason: str
    meta: CertMeta


def _result(meta: CertMeta, names: SecretNames, *, reused: bool) -> ClientCertificateResult:
    return ClientCertificateResult(
        common_name=meta.common_name, identifier=meta.identifier, serial=meta.serial, not_before=meta.not_before,
        not_after=meta.not_after, fingerprint_sha256=meta.fingerprint_sha256, pfx_secret=names.pfx,
        password_secret=names.password, pfx_version=meta.serial, reused=reused)


_NAMED_ID = re.compile(r"certificate\s+['\"]?([A-Za-z0-9_-]{8,128})")


def _create(ctx: StepContext, inp: IssueTarget, client: ClientSpec, ca: CaView, window: renewal.ValidityWindow,
            csr_pem: str, key: Any, sans: tuple[str, ...]) -> tuple[pca_api.IssuedCertificate, str, int]:
    """``CreateClientCertificateWithCsr`` under a fresh CustomIdentifier (``EnableCrl=1`` when the
    sub-CA publishes a CRL); returns (issued, custom id, writes)."""
    san_type, san_value = san_request(sans)
    seed = _seed(ctx)
    ours = leaf_checks.spki_of(key)
    writes = 0
    for n in range(MAX_ISSUE_ATTEMPTS):
        ci = custom_identifier(inp.listener_key, seed, client.common_name, n)
        try:
            issued = ca_issuer(ctx, inp).create_client_certificate_with_csr(
                parent_identifier=ca.identifier, csr_pem=csr_pem, before_time=window.before_time,
                after_time=window.after_time, custom_identifier=ci, san_type=san_type, san_value=san_value,
                enable_crl=ca.ca.publishes_crl)
            return issued, ci, writes + 1
        except AlbMtlsError as exc:
            if not pca_api.is_duplicate_custom_identifier(exc):
                raise
            m = _NAMED_ID.search(exc.message or "")
            found = ctx.adapter(pca_api.Pca).find_by_custom_identifier(ci, hint_identifier=m.group(1) if m else None)
            if found is not None and found.cert_pem and leaf_checks.spki_of(found.cert_pem) == ours:
                ctx.logger.info("continuing with the certificate issued before a lost response",
                                extra={"common_name": client.common_name, "identifier": found.identifier})
                return pca_api.IssuedCertificate(found.identifier, found.serial), ci, writes + 1
            ctx.logger.warning("custom identifier taken by an earlier attempt whose key is gone; trying the next",
                               extra={"common_name": client.common_name, "attempt": n,
                                      "identifier": found.identifier if found else None})
            if found is not None:
                # Its key died with the invocation that issued it, before any secret was stored:
                # nobody can hold it, so revoking it is safe and leaves one valid certificate per client.
                try:
                    writes += int(ctx.adapter(pca_api.Pca).revoke_client_certificate(found.identifier))
                except AlbMtlsError as rexc:
                    if rexc.retryable:
                        raise
                    ctx.logger.warning("could not revoke the orphaned certificate; it will expire",
                                       extra={"identifier": found.identifier, "error_code": rexc.code})
    raise AlbMtlsError(Code.CLOUD_ERROR, f"client {client.common_name!r}: {MAX_ISSUE_ATTEMPTS} custom identifiers of "
                       "this execution are already used by certificates whose keys are lost; start a new execution")


def _issue_new(ctx: StepContext, inp: IssueTarget, client: ClientSpec, ca: CaView, window: renewal.ValidityWindow,
               names: SecretNames) -> tuple[CertMeta, int]:
    """Issue, check, pack and store a new certificate for ``client``; returns (meta, writes)."""
    writes = 0
    cn = client.common_name
    # the client's SANs and the URI naming the listener and the holder (docs/BACKENDS.md)
    sans = tuple(client.sans) + (holder_uri(inp.listener_key, cn),)
    key = pki.generate_key(ca.key_algorithm)
    csr_pem = pki.build_csr(key, cn, sans)
    issued, ci, w = _create(ctx, inp, client, ca, window, csr_pem, key, sans)
    writes += w
    cert_pem = issued.cert_pem if isinstance(ca_issuer(ctx, inp), OwnCa) else None   # an own CA returns it
    if cert_pem is None:
        cert = ctx.adapter(pca_api.Pca).describe_client_certificate(issued.identifier)
        if cert is None or not cert.cert_pem:
            raise TransientError(Code.CLOUD_BUSY, f"client {cn!r}: certificate {issued.identifier} is not readable "
                                 "yet (DescribeClientCertificate); retry", details={"identifier": issued.identifier})
        cert_pem = cert.cert_pem
    leaf = pki.load_certificate(cert_pem, field="leaf")
    leaf_checks.verify_leaf(leaf, ca.cert_pem, [ca.cert_pem], now=ctx.clock.now(), expected_cn=cn,
                    expected_public_key=key, clock_skew=CLOCK_SKEW)
    leaf_checks.check_sans(leaf, client.common_name, sans)
    serial = pki.serial_hex(leaf)
    fingerprint = pki.fingerprint_sha256(leaf)
    if leaf.not_valid_after_utc > window.limit:
        raise AlbMtlsError("CERT_CHECK_FAILED", f"client {cn!r}: the issued certificate ends after the CA / "
                           f"subscription bound {iso_utc(window.limit)}")

    password = pfx_files.generate_password()
    pfx = pfx_files.build_pfx(key, leaf, [ca.cert_pem], password, client.profile, verify=True)  # verify_pfx re-read
    del key
    meta = CertMeta(common_name=cn, identifier=issued.identifier, serial=serial,
                    not_before=iso_utc(leaf.not_valid_before_utc), not_after=iso_utc(leaf.not_valid_after_utc),
                    fingerprint_sha256=fingerprint, profile=client.profile, days=client.days,
                    sans=norm_sans(client.sans), ca=ca.identifier, renew_before_days=client.renew_before_days,
                    custom_identifier=ci, key_algorithm=ca.key_algorithm.value, issued_at=iso_utc(ctx.clock.now()),
                    holder_uri=sans[-1])
    tags = {"albmtls:listener": inp.listener_key, "albmtls:cn": cn}
    pfx_b64 = base64.b64encode(pfx).decode("ascii")
    writes += ctx.adapter(kms_api.Kms).store_version(names.pfx, pfx_b64, serial, data_type="binary", tags=tags,
                                    description=f"alb-mtls client certificate (PKCS#12, {client.profile}) for {cn} "
                                    f"on {inp.listener_key}; password in {names.password}")
    writes += ctx.adapter(kms_api.Kms).store_version(names.password, password, serial, data_type="text", tags=tags,
                                    description=f"alb-mtls password of {names.pfx}")
    del password
    writes += ctx.adapter(kms_api.Kms).store_version(names.meta, encode_meta(meta), serial, data_type="text",
                                    tags=tags, description=f"alb-mtls metadata of {names.pfx} (no secrets)")
    # read back: the current pfx is the one just built, and all three versions agree
    back = ctx.adapter(kms_api.Kms).get_secret_value(names.pfx, stage=kms_api.CURRENT)
    pfx_read: str | None = back.version_id if back is not None else None
    if back is not None and back.version_id == serial and \
            hashlib.sha256(base64.b64decode(back.data)).digest() != hashlib.sha256(pfx).digest():
        pfx_read = f"{serial} with other content"
    del back, pfx, pfx_b64
    read = {names.pfx: pfx_read, names.password: _current_version(ctx, names.password),
            names.meta: _current_version(ctx, names.meta)}
    drift = {name: got for name, got in read.items() if got != serial}
    if drift:
        raise AlbMtlsError(Code.DRIFT_AFTER_APPLY, f"client {cn!r}: the stored secrets read back other than what was "
                           "written: " + "; ".join(f"{name} ACSCurrent: wrote version {serial}, read "
                                                   f"{got or 'nothing'}" for name, got in drift.items())
                           + " (another writer?); re-run the step",
                           details={"writes": writes, "drift": [{"field": f"{name} ACSCurrent", "written": serial,
                                                                 "read": got} for name, got in drift.items()]})
    return meta, writes


def issue_for_client(ctx: StepContext, inp: IssueTarget, client: ClientSpec, *, force: bool,
                     previous: ClientCertificateResult | CertMeta | str | None = None,
                     ca: CaView | None = None, current: CurrentCert | None = None,
                     index: int | None = None) -> IssueOutcome:
    """Make sure ``client`` has a usable certificate in KMS; issue one when needed.

    Parameters
    ----------
    force:
        Issue a new certificate even if the stored one is valid (``client.force_new`` or rotation),
        unless this execution already issued it (re-runs stay write-free).
    previous:
        The certificate the caller wants replaced (result, meta or PCA identifier): if the stored
        one is already a different certificate, it is reused instead of issuing again.
    ca, current:
        Already observed sub-CA / stored state (saves reads); observed here when ``None``.
    index:
        Position in ``inp.clients`` for error fields (``clients[i].days``).

    Returns
    -------
    :class:`IssueOutcome` (``result.reused`` says whether a stored certificate was kept).

    Raises
    ------
    AlbMtlsError
        As :func:`observe_ca`; ``CA_EXPIRES_TOO_SOON`` before any write when ``client.days`` does not
        fit; ``CERT_CHECK_FAILED`` / ``PFX_CHECK_FAILED`` when the issued leaf or the PFX fails its
        checks (nothing is stored then); cloud errors. ``TransientError`` for retryable faults.
    Source API actions: DescribeCACertificate, GetCAInstanceStatus, GetSecretValue,
    DescribeClientCertificate, CreateClientCertificateWithCsr, ListClientCertificate (duplicate
    recovery only), DescribeSecret, CreateSecret, PutSecretValue.
    """
    ca = ca or observe_ca(ctx, inp)
    current = current or observe_client(ctx, inp.secrets(client.common_name))
    prev_id = previous if isinstance(previous, str) or previous is None else previous.identifier
    now = ctx.clock.now()
    decision = decide(client, current, ca.identifier, now, force=force,
                      own_ids=_own_ids(ctx, inp.listener_key, client.common_name), previous_identifier=prev_id)
    if decision.action == "reuse":
        assert current.meta is not None
        return IssueOutcome(_result(current.meta, current.names, reused=True), 0, decision.reason, current.meta)
    window = ca.window(now, client, index)
    meta, writes = _issue_new(ctx, inp, client, ca, window, current.names)
    ctx.logger.info("client certificate issued", extra={
        "common_name": client.common_name, "identifier": meta.identifier, "serial": meta.serial,
        "fingerprint_sha256": meta.fingerprint_sha256, "not_after": meta.not_after, "reason": decision.reason,
        "writes": writes})
    return IssueOutcome(_result(meta, current.names, reused=False), writes, decision.reason, meta)


def load_client_pfx(ctx: StepContext, inp: ProvisionInput, cn: str) -> tuple[bytes, str]:
    """The current PFX (DER bytes) and its password for client ``cn`` (e.g. the health check's live
    probe). Reads the pfx and password ``ACSCurrent`` versions at once (one round trip, not two:
    the health check runs on the provisioning's critical path); when the password's is not the
    PFX's (a renewal stored between the two reads), the password of the PFX's ``VersionId``.
    Keep both in memory only.

    Raises ``AlbMtlsError(SECRET_NOT_FOUND)`` when either is missing (never issued, or the versions
    disagree); other ``AlbMtlsError`` on cloud failures.
    """
    from concurrent.futures import ThreadPoolExecutor

    names = inp.secrets(cn)
    kms = ctx.adapter(kms_api.Kms)
    with ThreadPoolExecutor(1, thread_name_prefix="pfx-password") as pool:
        pw_f = pool.submit(kms.get_secret_value, names.password, stage=kms_api.CURRENT)
        pfx = kms.get_secret_value(names.pfx, stage=kms_api.CURRENT)
        pw = pw_f.result()
    if pfx is None:
        raise AlbMtlsError(Code.SECRET_NOT_FOUND, f"no PFX stored in {names.pfx!r} for client {cn!r}; run "
                           "issue_client_cert first")
    if pw is None or pw.version_id != pfx.version_id:
        pw = kms.get_secret_value(names.password, version_id=pfx.version_id)
    if pw is None:
        raise AlbMtlsError(Code.SECRET_NOT_FOUND, f"{names.password!r} has no version {pfx.version_id!r} matching "
                           f"the current PFX; re-run issue_client_cert")
    return base64.b64decode(pfx.data), pw.data

"""The lane's issuing engine: what the head of the issuing lane (``shared.policy.lane``) uses to
issue and renew certificates at the PCA quota with the fewest calls per certificate.

Per certificate, exactly (docs/PERFORMANCE.md "Calls per certificate"):

* PCA: one ``CreateClientCertificateWithCsr`` with ``Immediately=1`` — the answer carries the
  certificate, so nothing is read again. The sub-CA's facts (``DescribeCACertificate``,
  ``GetCAInstanceStatus``) are read once per invocation and CA (:meth:`Engine.ca`).
* An own CA (``shared.steps.issuers``: the target's ``ca`` is ``own/<name>…``): one KMS
  ``AsymmetricSign`` instead of the PCA call (``shared.adapters.ownca``); its record is read once
  per invocation and CA.
* KMS: the three secrets it stores, one write each, in this order — ``…/password``, ``…/pfx``,
  ``…/meta`` (the record last: it marks a complete issuance; a renewal's record already names the
  certificate it replaces, so no fourth write) — plus one key-log write per batch of certificates
  (``shared.policy.keylog``: the keys survive a crash, so a re-run never issues twice).

Throughput: PCA calls go through one limiter at ``LANE_SHARE`` of ``settings.pca_qps`` (the lane's
whole budget: this invocation is the only one issuing), and KMS calls — an own CA's
``AsymmetricSign`` among them — through one at ``LANE_SHARE`` of KMS's documented 200 requests/s
(``shared.core.products``; the same construction: the lane is the only issuer); the rest of each
certificate's work — key, CSR, leaf checks, PFX, the KMS writes, each 100–300 ms away on a real
network — runs in
:data:`ENGINE_WORKERS` threads, so the next issue call never waits for the last certificate's
writes. A re-run (after a lost answer, a crash, a timeout) meets the duplicate ``CustomIdentifier``,
finds the certificate the first attempt issued (its key is the logged one) and continues with it;
a version that is already stored is read, not written again.

Private keys and passwords stay in this process and the two KMS secrets; results carry ids,
serials, fingerprints and secret names only.
"""
from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from shared.adapters import kms as kms_api
from shared.adapters import pca as pca_api
from shared.adapters.retry import RateLimiter
from shared.core.clock import iso_utc
from shared.core.errors import AlbMtlsError, Code, TransientError
from shared.policy import keylog as kl
from shared.policy import leaf as leaf_checks
from shared.policy import pfx as pfx_files
from shared.policy import pki, renewal
from shared.policy.contracts import ClientCertificateResult, ClientSpec
from shared.policy.ids import CertificateId, SecretNames, custom_identifier, holder_uri, secret_names
from shared.policy.issuance import norm_sans, san_request
from shared.policy.lane import LANE_SHARE
from shared.policy.records import CertMeta, SupersededEntry, encode_meta

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext
    from shared.steps.issuance import CaView

__all__ = ["ENGINE_WORKERS", "Target", "Job", "Done", "Engine", "lane_context"]

#: certificates in flight: 9.5 issue calls/s × ~1.5 s of other calls per certificate (100–300 ms each)
ENGINE_WORKERS = 16
MAX_CI_ATTEMPTS = 5
CLOCK_SKEW = timedelta(minutes=5)  # tolerated between our clock and the PCA's when checking a new leaf
_NAMED_ID = re.compile(r"certificate\s+['\"]?([A-Za-z0-9_-]{8,128})")


def lane_context(ctx: StepContext) -> StepContext:
    """``ctx`` with the lane's limiters: PCA at ``settings.pca_qps × LANE_SHARE``, starting empty
    (the first call waits one interval), so an invocation that follows another never bursts; KMS
    at ``LANE_SHARE`` of its documented quota (an own CA's ``AsymmetricSign``: 200/s per account)."""
    from shared.core.products import PRODUCTS

    qps = (getattr(ctx.settings, "pca_qps", None) or 10.0) * LANE_SHARE
    lim = RateLimiter(qps, name="pca-lane")
    lim.acquire()
    kms = RateLimiter((PRODUCTS["kms"].qps or 200.0) * LANE_SHARE, name="kms-lane")
    return dataclasses.replace(ctx, own_limiters={**ctx.own_limiters, "pca": lim, "kms": kms})


@dataclass(frozen=True, slots=True)
class Target:
    """What issuing needs of a listener: its key, the issuing sub-CA and the secret prefix (a
    ``ProvisionInput`` has the same attributes)."""

    listener_key: str
    ca_identifier: str
    secret_prefix: str

    @property
    def ca_id(self) -> CertificateId:
        return CertificateId.parse(self.ca_identifier, field="ca_identifier")

    def secrets(self, common_name: str) -> SecretNames:
        return secret_names(self.secret_prefix, self.listener_key, common_name)


@dataclass
class Job:
    """One certificate to issue: for ``client`` of ``target``; ``reason`` from the decision;
    ``replaces``: the record of the certificate it replaces (a renewal: its secrets exist) and
    ``supersede``: the entry to record for it. ``key`` is set by :meth:`Engine.submit`."""

    target: Target
    client: ClientSpec
    index: int
    reason: str
    replaces: CertMeta | None = None
    supersede: SupersededEntry | None = None
    ci: str = ""
    key: Any = field(default=None, repr=False)


@dataclass(frozen=True, slots=True)
class Done:
    """A finished job: the stored record, the result, the writes made."""

    job: Job
    meta: CertMeta
    result: ClientCertificateResult
    writes: int


def _key_der(key: Any) -> str:
    from cryptography.hazmat.primitives import serialization

    return base64.b64encode(key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                              serialization.NoEncryption())).decode("ascii")


def _load_key(b64: str) -> Any:
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(base64.b64decode(b64), None)


def result_of(meta: CertMeta, names: SecretNames, *, reused: bool) -> ClientCertificateResult:
    return ClientCertificateResult(
        common_name=meta.common_name, identifier=meta.identifier, serial=meta.serial, not_before=meta.not_before,
        not_after=meta.not_after, fingerprint_sha256=meta.fingerprint_sha256, pfx_secret=names.pfx,
        password_secret=names.password, pfx_version=meta.serial, reused=reused)


class KeyLog:
    """The key log of one order (``shared.policy.keylog``): the keys recovered from an earlier
    attempt of the same order, and one write per batch."""

    def __init__(self, ctx: StepContext, prefix: str, order: str) -> None:
        self.ctx, self.order, self.name = ctx, order, kl.keylog_secret(prefix)
        self._recovered: dict[str, str] | None = None
        self._next = 0
        self._exists = False
        self._lock = threading.Lock()
        self.writes = 0

    def recovered(self) -> dict[str, str]:
        """``ci`` → key (Base64 PKCS#8) logged by an earlier attempt of this order (one KMS read)."""
        with self._lock:
            if self._recovered is None:
                self._recovered = {}
                raw = self.ctx.adapter(kms_api.Kms).get_secret_value(self.name, stage=kms_api.CURRENT)
                self._exists = raw is not None
                log = kl.decode_keylog(raw.data) if raw is not None else None
                if log is not None and log.order == self.order:
                    self._recovered = {e.ci: e.key for e in log.entries}
                    self._next = log.batch + 1
            return self._recovered

    def write(self, entries: list[kl.KeyEntry]) -> None:
        """A new version holding ``entries`` (this batch and the unfinished one before it)."""
        self.recovered()
        doc = kl.encode_keylog(kl.KeyLog(order=self.order, batch=self._next, entries=tuple(entries)))
        if len(doc) > kl.MAX_BYTES:  # pragma: no cover - batch sizes keep far below
            raise AlbMtlsError(Code.INTERNAL, f"key log batch of {len(entries)} keys is {len(doc)} bytes")
        wrote = self.ctx.adapter(kms_api.Kms).write_version(
            self.name, doc, kl.keylog_version(self.order, self._next), new=not self._exists,
            description="alb-mtls issuer: keys of certificates being issued (until their PFX is stored)")
        self.writes += int(wrote)
        self._exists = True
        self._next += 1


class Engine:
    """One invocation's issuing machinery (module doc). ``order``: the lane execution's name (the
    seed of every ``CustomIdentifier`` and the key log's owner). Use as a context manager."""

    def __init__(self, ctx: StepContext, *, order: str, secret_prefix: str, workers: int = ENGINE_WORKERS) -> None:
        # the lane's limiters, unless the caller made them at the invocation's start (its first
        # interval then passes while it reads its order and looks at the lane)
        lim = ctx.own_limiters.get("pca")
        self.ctx = ctx if lim is not None and lim.name == "pca-lane" else lane_context(ctx)
        self.order = order
        self.keylog = KeyLog(self.ctx, secret_prefix, order)
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="issuer")
        self._reads = ThreadPoolExecutor(workers, thread_name_prefix="issuer-read")   # a job's reads at once
        self._cas: dict[str, CaView] = {}
        self._ca_lock = threading.Lock()
        self._window: deque[tuple[list[Job], list[Future[Done]]]] = deque()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._reads.shutdown(wait=True, cancel_futures=True)

    # -- the sub-CA, once -----------------------------------------------------------------------
    def ca(self, target: Any, resolved: Any = None) -> CaView:
        """The sub-CA of ``target`` after ``CA_CHECKS`` (read once per invocation; ``resolved``: its
        identifiers, when the caller resolved them already). Raises like
        ``shared.steps.issuance.observe_ca``."""
        from shared.steps.issuance import observe_ca

        cid = target.ca_id
        ident = str(cid) if cid.is_own else cid.for_pca()
        with self._ca_lock:
            view = self._cas.get(ident)
            if view is None:
                view = self._cas[ident] = observe_ca(self.ctx, target, resolved)
            return view

    def now(self) -> datetime:
        return self.ctx.clock.now()

    # -- issuing ----------------------------------------------------------------------------------
    def submit(self, jobs: list[Job], *, tolerate: bool = False) -> list[Any]:
        """Start ``jobs`` (one batch): their keys (recovered from the key log, else new), one key-log
        write, then the jobs in the pool. Keeps two batches in flight: returns the results of the
        batch that had to finish first — a job's ``AlbMtlsError`` is raised (after the others of its
        batch ended), or with ``tolerate`` returned in its place (a ``TransientError`` is always
        raised: the slice is re-run)."""
        finished: list[Any] = []
        if len(self._window) >= 2:
            finished = self._collect(self._window.popleft(), tolerate)
        if not jobs:
            return finished
        recovered = self.keylog.recovered()
        for job in jobs:
            job.ci = custom_identifier(job.target.listener_key, self.order, job.client.common_name)
            old = recovered.get(job.ci)
            job.key = _load_key(old) if old else pki.generate_key(self.ca(job.target).key_algorithm)
        entries = [kl.KeyEntry(ci=j.ci, key=_key_der(j.key)) for js, _ in self._window for j in js]
        entries += [kl.KeyEntry(ci=j.ci, key=_key_der(j.key)) for j in jobs]
        self.keylog.write(entries)
        self._window.append((jobs, [self._pool.submit(self._run, job) for job in jobs]))
        return finished

    def drain(self, *, tolerate: bool = False) -> list[Any]:
        """Wait for every job in flight; their results (errors as in :meth:`submit`)."""
        out: list[Any] = []
        first: BaseException | None = None
        while self._window:
            try:
                out += self._collect(self._window.popleft(), tolerate)
            except BaseException as exc:
                first = first or exc
        if first is not None:
            raise first
        return out

    def batch_size(self, target: Any) -> int:
        return kl.batch_size(self.ca(target).key_algorithm.family)

    @staticmethod
    def _collect(item: tuple[list[Job], list[Future[Done]]], tolerate: bool) -> list[Any]:
        out: list[Any] = []
        first: BaseException | None = None
        for fut in item[1]:
            try:
                out.append(fut.result())
            except AlbMtlsError as exc:
                if tolerate and not isinstance(exc, TransientError):
                    out.append(exc)
                else:
                    first = first or exc
            except BaseException as exc:
                first = first or exc
        if first is not None:
            raise first
        return out

    # -- one certificate --------------------------------------------------------------------------
    def _run(self, job: Job) -> Done:
        ca = self.ca(job.target)
        now = self.now()
        window = ca.window(now, job.client, job.index if job.replaces is None else None)
        cn = job.client.common_name
        # the client's SANs and the URI naming the listener and the holder (docs/BACKENDS.md)
        sans = (*job.client.sans, holder_uri(job.target.listener_key, cn))
        csr_pem = pki.build_csr(job.key, cn, sans)
        issued, ci, writes = self._create(job, ca, window, csr_pem, sans)
        assert issued.cert_pem is not None   # _create returns a certificate with its PEM
        leaf = pki.load_certificate(issued.cert_pem, field="leaf")
        leaf_checks.verify_leaf(leaf, ca.cert_pem, [ca.cert_pem], now=self.now(), expected_cn=cn,
                                expected_public_key=job.key, clock_skew=CLOCK_SKEW)
        leaf_checks.check_sans(leaf, job.client.common_name, sans)
        if leaf.not_valid_after_utc > window.limit:
            raise AlbMtlsError("CERT_CHECK_FAILED", f"client {cn!r}: the issued certificate ends after the CA / "
                               f"subscription bound {iso_utc(window.limit)}")
        serial = pki.serial_hex(leaf)
        names = job.target.secrets(cn)
        meta = CertMeta(common_name=cn, identifier=issued.identifier, serial=serial,
                        not_before=iso_utc(leaf.not_valid_before_utc), not_after=iso_utc(leaf.not_valid_after_utc),
                        fingerprint_sha256=pki.fingerprint_sha256(leaf), profile=job.client.profile,
                        days=job.client.days, sans=norm_sans(job.client.sans), ca=ca.identifier,
                        renew_before_days=job.client.renew_before_days, custom_identifier=ci,
                        key_algorithm=ca.key_algorithm.value, issued_at=iso_utc(now), holder_uri=sans[-1])
        if job.replaces is not None and job.supersede is not None:
            # a renewal's record names what it replaces (and keeps the earlier entries still valid)
            keep = tuple(e for e in job.replaces.supersedes if e.identifier != job.supersede.identifier)
            entry = msgspec.structs.replace(job.supersede, superseded_by=serial)
            meta = msgspec.structs.replace(meta, supersedes=keep).with_superseded(entry, now)
        writes += self._store(job, names, meta, leaf, ca)
        self.ctx.logger.info("client certificate issued", extra={
            "common_name": cn, "listener_key": job.target.listener_key, "identifier": meta.identifier,
            "serial": serial, "fingerprint_sha256": meta.fingerprint_sha256, "not_after": meta.not_after,
            "reason": job.reason, "replaces": job.replaces.identifier if job.replaces else None, "writes": writes})
        return Done(job, meta, result_of(meta, names, reused=False), writes)

    def _create(self, job: Job, ca: CaView, window: renewal.ValidityWindow, csr_pem: str,
                sans: tuple[str, ...]) -> tuple[pca_api.IssuedCertificate, str, int]:
        """``CreateClientCertificateWithCsr`` under the job's ``CustomIdentifier`` (``EnableCrl=1``
        when the sub-CA publishes a CRL) through the target's issuer (the PCA, or an own CA that signs
        through KMS and writes nothing: no duplicate there); a duplicate is the certificate an
        earlier attempt issued for this key (continue with it), else the next id."""
        from shared.steps.issuers import ca_issuer

        api = ca_issuer(self.ctx, job.target)
        san_type, san_value = san_request(sans)
        ours = leaf_checks.spki_of(job.key)
        cn = job.client.common_name
        for n in range(MAX_CI_ATTEMPTS):
            ci = job.ci if n == 0 else custom_identifier(job.target.listener_key, self.order, cn, n)
            try:
                issued = api.create_client_certificate_with_csr(
                    parent_identifier=ca.identifier, csr_pem=csr_pem, before_time=window.before_time,
                    after_time=window.after_time, custom_identifier=ci, san_type=san_type, san_value=san_value,
                    enable_crl=ca.ca.publishes_crl)
                if not issued.cert_pem:      # the PCA's answer without the PEM (an own CA always has it)
                    cert = self.ctx.adapter(pca_api.Pca).describe_client_certificate(issued.identifier)
                    issued = pca_api.IssuedCertificate(issued.identifier, issued.serial,
                                                       cert.cert_pem if cert else None)
                if not issued.cert_pem:
                    raise AlbMtlsError(Code.CLOUD_ERROR, f"client {cn!r}: certificate {issued.identifier} came "
                                       "without its PEM; retry")
                return issued, ci, 1
            except AlbMtlsError as exc:
                if not pca_api.is_duplicate_custom_identifier(exc):
                    raise
                m = _NAMED_ID.search(exc.message or "")
                found = api.find_by_custom_identifier(ci, hint_identifier=m.group(1) if m else None)
                if found is not None and found.cert_pem and leaf_checks.spki_of(found.cert_pem) == ours:
                    self.ctx.logger.info("continuing with the certificate an earlier attempt issued for this key",
                                         extra={"common_name": cn, "identifier": found.identifier})
                    return pca_api.IssuedCertificate(found.identifier, found.serial, found.cert_pem), ci, 1
                # Not our key: an attempt whose key was never logged (cannot happen with the key log).
                # Nobody holds that certificate's key; it is left to expire, never revoked.
                self.ctx.logger.warning("custom identifier used by a certificate of another key; trying the next",
                                        extra={"common_name": cn, "attempt": n,
                                               "identifier": found.identifier if found else None})
        raise AlbMtlsError(Code.CLOUD_ERROR, f"client {cn!r}: {MAX_CI_ATTEMPTS} custom identifiers of order "
                           f"{self.order} are used by certificates of other keys; start a new run")

    def _store(self, job: Job, names: SecretNames, meta: CertMeta, leaf: Any, ca: CaView) -> int:
        """The three secrets, one write each: password, PFX, record. A version already stored (a
        re-run) is kept: the password is read back and the PFX built with it."""
        kms = self.ctx.adapter(kms_api.Kms)
        cn, new, serial = job.client.common_name, job.replaces is None, meta.serial
        tags = {"albmtls:listener": job.target.listener_key, "albmtls:cn": cn}
        writes = 0
        password = pfx_files.generate_password()
        if kms.write_version(names.password, password, serial, new=new, tags=tags,
                             description=f"alb-mtls password of {names.pfx}"):
            writes += 1
        else:
            stored = kms.get_secret_value(names.password, version_id=serial)
            if stored is None:
                raise AlbMtlsError(Code.CLOUD_ERROR, f"client {cn!r}: {names.password!r} version {serial} exists "
                                   "but cannot be read; re-run")
            password = stored.data
        pfx = pfx_files.build_pfx(job.key, leaf, [ca.cert_pem], password, job.client.profile, verify=True)
        del password
        pfx_b64 = base64.b64encode(pfx).decode("ascii")
        if kms.write_version(names.pfx, pfx_b64, serial, new=new, data_type="binary", tags=tags,
                             description=f"alb-mtls client certificate (PKCS#12, {job.client.profile}) for {cn} on "
                             f"{job.target.listener_key}; password in {names.password}"):
            writes += 1
        else:
            stored_pfx = kms.get_secret_value(names.pfx, version_id=serial)
            pfx = base64.b64decode(stored_pfx.data) if stored_pfx is not None else pfx   # kept: built with it
        if kms.write_version(names.meta, encode_meta(meta), serial, new=new, tags=tags,
                             description=f"alb-mtls metadata of {names.pfx} (no secrets)"):
            writes += 1
        self._read_back(names, serial, pfx, cn, writes)
        del pfx, pfx_b64
        return writes

    def _read_back(self, names: SecretNames, serial: str, pfx: bytes, cn: str, writes: int) -> None:
        """The three secrets' ``ACSCurrent`` versions are what was just written (the PFX byte for
        byte): ``DRIFT_AFTER_APPLY`` naming each that is not — another writer. Three KMS reads per
        certificate, at once (docs/PERFORMANCE.md lists them); the lane's single writer makes a
        difference rare."""
        kms = self.ctx.adapter(kms_api.Kms)
        pfx_f, pw_f, meta_f = (self._reads.submit(kms.get_secret_value, n, stage=kms_api.CURRENT)
                               for n in (names.pfx, names.password, names.meta))
        back = pfx_f.result()
        pfx_read: str | None = back.version_id if back is not None else None
        if back is not None and back.version_id == serial and \
                hashlib.sha256(base64.b64decode(back.data)).digest() != hashlib.sha256(pfx).digest():
            pfx_read = f"{serial} with other content"
        del back
        pw, rec = pw_f.result(), meta_f.result()
        read = {names.pfx: pfx_read, names.password: pw.version_id if pw is not None else None,
                names.meta: rec.version_id if rec is not None else None}
        drift = {name: got for name, got in read.items() if got != serial}
        if drift:
            raise AlbMtlsError(Code.DRIFT_AFTER_APPLY, f"client {cn!r}: the stored secrets read back other than what "
                               "was written: " + "; ".join(f"{name} ACSCurrent: wrote version {serial}, read "
                                                       f"{got or 'nothing'}" for name, got in drift.items())
                               + " (another writer?); re-run the step",
                               details={"writes": writes, "drift": [{"field": f"{name} ACSCurrent", "written": serial,
                                                                     "read": got} for name, got in drift.items()]})

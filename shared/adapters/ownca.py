"""An own CA, answering as the private CA adapter does (``shared.adapters.pca.Pca``): the sub-CA,
the certificates it issued, issuance from a CSR and revocation — so issuance, rotation, inventory,
status and offboarding work on it unchanged (docs/DECISIONS.md §8 "own CA").

* The CA is its record in KMS (``shared.policy.ownca``; created by ``shared.steps.ownca``). Its keys
  are KMS keys; every signature is ``AsymmetricSign`` through ``shared.adapters.kmskeys``.
* ``create_client_certificate_with_csr`` checks the CSR, builds the certificate with
  ``cryptography`` (``shared.policy.ownca_x509``), signs it through KMS and verifies it: no cloud
  write (issuance stores the certificate's ``…/meta`` record, which is the CA's record of it).
* The certificates it issued are the ``…/meta`` records under the prefix whose ``ca`` is one of its
  generations (``list_client_certificates`` reads them: ``ListSecrets`` + one ``GetSecretValue`` per
  client); revoked ones are in its revocation list.
* ``revoke_client_certificate`` adds the serial to the revocation list and publishes the CRL of its
  generation (signed through KMS, kept in KMS: ``<prefix>/ca/<name>/g<gen>/crl``).

Identifiers: the sub-CA of generation ``g`` is ``own/<name>/g<g>``, a certificate ``own/<name>/<serial>``.
Issuance's request quota: ``AsymmetricSign`` is one call per certificate under KMS's 200/s shared
gateway, paced by the ``kms`` limiter of the one retry layer (``shared.core.products``: 200/s) and
retried on ``Rejected.Throttling`` — as the PCA's calls are by theirs (10/s).
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters.kms import CURRENT, Kms
from shared.adapters.kmskeys import KmsKeys, KmsSigningKey, signing_key
from shared.adapters.pca import SAN_TYPES, CaCertificate, ClientCertificate, IssuedCertificate
from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, Code, TransientError
from shared.policy import ownca, ownca_x509
from shared.policy.ids import ResolvedCa, custom_identifier
from shared.policy.records import CertMeta, decode_meta

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from cryptography import x509

    from shared.policy.ids import SecretNames

__all__ = ["OwnCa", "OwnCertificates", "MAX_WRITE_CONFLICTS", "crl_secret_name", "CurrentCertificate",
           "current_certificates"]

MAX_WRITE_CONFLICTS = 5    # another writer took the next version this often: give up (retryable)
_META_NAME = re.compile(r"^(?P<prefix>[A-Za-z0-9_+=.@-]{1,64})/(?P<listener>alb-[a-z0-9]{1,64}-[0-9]{1,5})/"
                        r"(?P<cn>[A-Za-z0-9][A-Za-z0-9._@+=-]{0,63})/meta$")
_SAN_KIND = {v: k for k, v in SAN_TYPES.items()}


def crl_secret_name(prefix: str, name: str, gen: int) -> str:
    """``<prefix>/ca/<name>/g<gen>/crl``: generation ``gen``'s latest CRL (DER, ``binary``)."""
    return f"{prefix}/ca/{name}/g{gen}/crl"


def _x509() -> Any:
    from cryptography import x509

    return x509


def _load(pem: str) -> x509.Certificate:
    loaded: x509.Certificate = _x509().load_pem_x509_certificate(pem.encode())
    return loaded


def _check_names(csr: x509.CertificateSigningRequest, extra: list[x509.GeneralName], issuer: x509.Certificate,
                 ca: str) -> None:
    """``NAME_NOT_PERMITTED`` before anything is signed when the CSR's CN or a DNS SAN (its own or
    asked for) falls outside the sub-CA's name constraints (``shared.policy.nameconstraints``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.x509.oid import NameOID

    from shared.policy.nameconstraints import check_names, permitted_dns_of
    permitted = permitted_dns_of(issuer.public_bytes(serialization.Encoding.PEM))
    if not permitted:
        return
    cns = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    try:
        sans = list(csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        sans = []
    dns = [s.value for s in sans + extra if isinstance(s, x509.DNSName)]
    check_names(str(cns[0].value) if cns else None, dns, permitted, ca)


def _pem(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM).decode()


@dataclass
class OwnCertificates:
    """Every certificate the own CAs under a prefix issued, from the ``…/meta`` records (one pass over
    ``ListSecrets``): ``by_ca`` = CA name → its certificates."""

    by_ca: dict[str, list[ClientCertificate]] = field(default_factory=dict)
    metas: int = 0


class OwnCa:
    """Own CA ``name`` under secret prefix ``prefix`` (module doc). ``now`` is the invocation's clock."""

    product = "kms"

    def __init__(self, policy: Any, *, settings: Any, prefix: str, name: str, now: Callable[[], datetime]) -> None:
        self.prefix, self.name, self._now = prefix, name, now
        self._crl_base = (getattr(settings, "crl_base_url", None) or "").rstrip("/") or None
        self.kms = Kms(policy, settings=settings)
        self.keys = KmsKeys(policy, settings=settings)
        self.names = ownca.ca_secret_names(prefix, name)
        self._record: OwnCaRecord | None = None
        self._signers: dict[str, KmsSigningKey] = {}

    # -- the record --------------------------------------------------------------------------
    def record(self, *, fresh: bool = False) -> ownca.OwnCaRecord:
        """The CA's record; ``CA_NOT_FOUND`` when it does not exist or is not complete (create it with
        ``albmtls ca create --name <name>``, or let a provisioning run create it)."""
        if self._record is None or fresh:
            found = read_record(self.kms, self.prefix, self.name)
            if found is None or not found[0].complete:
                raise AlbMtlsError(Code.CA_NOT_FOUND, f"the own CA {self.name!r} does not exist under secret prefix "
                                   f"{self.prefix!r} (KMS secret {self.names.record}); create it: albmtls ca create "
                                   f"--name {self.name}", field="ca.name")
            self._record = found[0]
        return self._record

    def _generation(self, identifier: str | None) -> ownca.Generation:
        rec = self.record()
        ref = ownca.parse_own(identifier) if identifier else None
        gen = rec.generation(ref.gen) if ref is not None and ref.gen is not None else rec.issuing
        if gen is None:
            raise AlbMtlsError(Code.CA_NOT_FOUND, f"the own CA {self.name!r} has no generation {identifier!r}",
                               field="ca.name")
        return gen

    def signer(self, key: ownca.KeyRef) -> KmsSigningKey:
        """The KMS key object of ``key`` (its public key read once per invocation)."""
        found = self._signers.get(key.key_id)
        if found is None:
            found = self._signers[key.key_id] = signing_key(self.keys, key.key_id, key.version_id)
        return found

    # -- the PCA adapter's surface -------------------------------------------------------------
    def resolve_ca(self, value: str, *, want_cert_identifier: bool = True) -> ResolvedCa:
        """The issuing sub-CA (``own/<name>/g<issuing>``) and, as ``cert_identifier``, the repository
        ``Identifier`` listeners trust now (the trusted generation's upload)."""
        rec = self.record()
        trusted = rec.trusted
        return ResolvedCa(identifier=ownca.issuing_identifier(self.name, rec.issuing_gen),
                          cert_identifier=trusted.uploaded if trusted is not None else None)

    def alb_ca_id(self) -> str:
        """The ``CaCertificates`` id a listener of this CA takes: the trusted generation's upload
        (an uploaded CA has one identifier; ``ALBMTLS_ALB_CA_ID_FORM`` is about PCA CAs)."""
        rec = self.record()
        assert rec.trusted is not None and rec.trusted.uploaded   # record() returned a complete one
        return rec.trusted.uploaded

    def describe_ca_certificate(self, identifier: str) -> CaCertificate:
        """Generation ``identifier``'s issuing sub-CA (default: the issuing one) as a
        :class:`~shared.adapters.pca.CaCertificate`. ``cert_pem`` is the certificate its leaves carry:
        the cross certificate while listeners still trust the previous generation, else its own."""
        from shared.policy import pki

        rec = self.record()
        g = self._generation(identifier)
        transitional = g.cross_pem is not None and rec.trusted_gen < g.gen
        cert_pem = g.cross_pem if transitional and g.cross_pem else g.issuing_pem
        chain_root = rec.generation(g.gen - 1) if transitional else g
        cert = _load(g.issuing_pem)
        alg = pki.key_algorithm_of_certificate(cert)
        return CaCertificate(
            identifier=ownca.issuing_identifier(self.name, g.gen), certificate_type="SUB_ROOT",
            status="REVOKE" if g.retired_at else "ISSUE", parent_identifier=None,
            common_name=f"{self.name} Issuing CA G{g.gen}", algorithm="ECC" if alg.family == "EC" else "RSA",
            key_size=getattr(cert.public_key(), "key_size", None), not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc, serial=format(cert.serial_number, "x"),
            sha256=pki.fingerprint_sha256(cert), cert_pem=cert_pem,
            chain_pem=(chain_root.root_pem if chain_root is not None else g.root_pem))

    def get_ca_instance_status(self, identifier: str) -> None:
        """An own CA has no subscription: ``None`` (nothing bounds its certificates but itself)."""
        return None

    def create_client_certificate_with_csr(self, *, parent_identifier: str, csr_pem: str, before_time: int,
                                           after_time: int, custom_identifier: str | None = None,
                                           san_type: int | None = None, san_value: str | None = None,
                                           immediately: int = 0, enable_crl: bool = False) -> IssuedCertificate:
        """Issue a client certificate for ``csr_pem`` under generation ``parent_identifier`` (validity
        ``before_time``..``after_time``, epoch seconds; ``san_type``/``san_value`` as the PCA takes them):
        CSR checked, certificate built, signed through KMS and verified against the sub-CA. No cloud
        write; ``custom_identifier`` is kept by the caller (the ``…/meta`` record)."""
        from shared.policy import pki

        g = self._generation(parent_identifier)
        if g.retired_at:
            raise AlbMtlsError(Code.CA_NOT_FOUND, f"generation {g.gen} of own CA {self.name!r} is retired")
        issuer = _load(g.issuing_pem)
        csr = ownca_x509.check_csr(csr_pem)
        extra: list[x509.GeneralName] = []
        if san_type is not None and san_value:
            if san_type not in _SAN_KIND:
                raise AlbMtlsError(Code.INVALID_INPUT, f"SanType {san_type} is not one this CA issues", field="sans")
            extra = [pki.parse_san(v.strip()) for v in san_value.split(",") if v.strip()]
        _check_names(csr, extra, issuer, f"own CA {self.name!r} (generation {g.gen})")
        nb = datetime.fromtimestamp(before_time, tz=UTC)
        na = min(datetime.fromtimestamp(after_time, tz=UTC), issuer.not_valid_after_utc)
        url = self.crl_url(g.gen) if enable_crl else None
        builder = ownca_x509.client_builder(csr, issuer, nb, na, extra, crl_url=url)
        from cryptography.hazmat.primitives import hashes

        leaf = builder.sign(self.signer(g.issuing_key), hashes.SHA256())
        try:
            leaf.verify_directly_issued_by(issuer)
        except Exception as exc:   # cryptography raises InvalidSignature / ValueError / TypeError
            raise AlbMtlsError("CERT_CHECK_FAILED", f"the certificate signed by own CA {self.name!r} does not verify "
                               f"with its sub-CA ({type(exc).__name__}); nothing was stored") from None
        serial = format(leaf.serial_number, "x")
        return IssuedCertificate(identifier=ownca.certificate_identifier(self.name, serial), serial=serial,
                                 cert_pem=_pem(leaf))

    def describe_client_certificate(self, identifier: str, *, names: SecretNames | None = None) \
            -> ClientCertificate | None:
        """The certificate ``own/<name>/<serial>``, from the ``…/meta`` record ``names`` (its current
        certificate or one it superseded), or from every record under the prefix when ``names`` is
        not given; ``None`` when no record has it."""
        ref = ownca.parse_own(identifier)
        if ref is None or ref.serial is None:
            return None
        revoked = self.revocations()
        if names is not None:
            raw = self.kms.get_secret_value(names.meta, stage=CURRENT)
            meta = decode_meta(raw.data) if raw is not None else None
            listener = names.meta.split("/")[-3]
            for c in _from_meta(meta, listener, revoked, self.name) if meta is not None else ():
                if c.identifier == identifier:
                    return c
            return None
        for c in self.list_client_certificates():
            if c.identifier == identifier:
                return c
        return None

    def list_client_certificates(self, **_: Any) -> Iterator[ClientCertificate]:
        """Every certificate this CA issued that a ``…/meta`` record under the prefix holds."""
        listed = list_own_certificates(self.kms, self.prefix, {self.name: self.revocations()})
        yield from listed.by_ca.get(self.name, [])

    def find_by_custom_identifier(self, custom_identifier: str, *,
                                  hint_identifier: str | None = None) -> ClientCertificate | None:
        """Never needed: issuing through an own CA writes nothing, so a retry never meets a duplicate."""
        return None

    # -- revocation and the CRL -----------------------------------------------------------------
    def revocations(self) -> ownca.RevocationList:
        raw = self.kms.get_secret_value(self.names.revoked, stage=CURRENT)
        found = ownca.decode_revocations(raw.data) if raw is not None else None
        return found or ownca.RevocationList()

    def revoke_client_certificate(self, identifier: str, *, reason: str = "unspecified",
                                  certificate: ClientCertificate | None = None) -> bool:
        """Revoke ``own/<name>/<serial>`` unless already revoked: the revocation list gets it (a new
        version, raced writers re-read), then the generation's CRL is published. Returns True when it
        wrote. ``CERT_NOT_FOUND`` when no record has the certificate."""
        ref = ownca.parse_own(identifier)
        if ref is None or ref.serial is None or ref.name != self.name:
            raise AlbMtlsError(Code.CERT_NOT_FOUND, f"{identifier!r} is not a certificate of own CA {self.name!r}")
        cert = certificate or self.describe_client_certificate(identifier)
        if cert is None:
            raise AlbMtlsError(Code.CERT_NOT_FOUND, f"client certificate {identifier!r} does not exist")
        parent = ownca.parse_own(cert.parent_identifier)
        gen = parent.gen if parent is not None and parent.gen is not None else self.record().issuing_gen
        now = self._now()
        for _ in range(MAX_WRITE_CONFLICTS):
            raw = self.kms.get_secret_value(self.names.revoked, stage=CURRENT)
            current = (ownca.decode_revocations(raw.data) if raw is not None else None) or ownca.RevocationList()
            if current.find(ref.serial) is not None:
                self.publish_crl(gen, current)
                return False
            entry = ownca.Revoked(serial=ref.serial, gen=gen, revoked_at=iso_utc(now), reason=reason,
                                  not_after=iso_utc(cert.not_after or now))
            new = current.with_revoked(entry, now)
            if put_next(self.kms, self.names.revoked, ownca.encode(new), raw.version_id if raw else None, "n",
                        description=f"alb-mtls own CA {self.name}: revoked serials (no secrets)"):
                self.publish_crl(gen, new)
                return True
        raise TransientError(Code.CLOUD_BUSY, f"own CA {self.name!r}: the revocation list kept changing under this "
                             "write; retry")

    def crl_url(self, gen: int) -> str | None:
        """Where generation ``gen``'s CRL is served (``ALBMTLS_CRL_BASE_URL``/<prefix>/<name>/g<gen>.crl),
        or ``None`` when no base URL is configured (no distribution point in the certificates)."""
        return f"{self._crl_base}/{self.prefix}/{self.name}/g{gen}.crl" if self._crl_base else None

    def publish_crl(self, gen: int, revocations: ownca.RevocationList | None = None, *, final: bool = False) -> int:
        """Sign generation ``gen``'s CRL through KMS (its issuing key), check it, store it
        (``…/g<gen>/crl``, version ``crl<number>``); 0 writes when that number is stored already.
        ``final``: the last CRL before the generation is retired — number one past the list's, valid
        until the generation's end (its keys cannot sign another). A retired generation's CRL is not
        signed again (0 writes): its last one stands."""
        from cryptography.hazmat.primitives import hashes, serialization

        revs = revocations or self.revocations()
        g = self._generation(ownca.issuing_identifier(self.name, gen))
        if g.retired_at:
            return 0
        now = self._now()
        live = revs.live(gen, now)
        issuer = _load(g.issuing_pem)
        number = max(revs.crl_number, 1) + (1 if final else 0)
        next_update = parse_iso(g.issuing_not_after) if final else now + timedelta(days=ownca.CRL_DAYS)
        crl = ownca_x509.crl_builder(issuer, live, number, now, max(next_update, now + timedelta(minutes=1))) \
            .sign(self.signer(g.issuing_key), hashes.SHA256())
        ownca_x509.check_crl(crl, issuer, [e.serial for e in live])
        der = crl.public_bytes(serialization.Encoding.DER)
        return self.kms.store_version(crl_secret_name(self.prefix, self.name, gen), base64.b64encode(der).decode(),
                                      f"crl{number}", data_type="binary",
                                      description=f"alb-mtls own CA {self.name} G{gen}: CRL (public)")

    def read_crl(self, gen: int) -> bytes | None:
        """Generation ``gen``'s latest CRL (DER), or ``None`` before the first revocation."""
        raw = self.kms.get_secret_value(crl_secret_name(self.prefix, self.name, gen), stage=CURRENT)
        return base64.b64decode(raw.data) if raw is not None else None


# ---------------------------------------------------------------------------------------------
# records in KMS
# ---------------------------------------------------------------------------------------------
OwnCaRecord = ownca.OwnCaRecord


def read_record(kms: Kms, prefix: str, name: str) -> tuple[ownca.OwnCaRecord, str] | None:
    """(the CA's record, its current ``VersionId``), or ``None`` when there is none. A ``name`` that is
    no CA name is ``INVALID_INPUT`` before any read (:func:`shared.policy.ownca.check_name`)."""
    ownca.check_name(name)
    raw = kms.get_secret_value(ownca.ca_secret_names(prefix, name).record, stage=CURRENT)
    if raw is None:
        return None
    rec = ownca.decode_record(raw.data)
    if rec is None:
        raise AlbMtlsError(Code.CLOUD_ERROR, f"the own CA record {ownca.ca_secret_names(prefix, name).record} is "
                           "not readable (written by another tool?); nothing was changed")
    return rec, raw.version_id


def put_next(kms: Kms, name: str, data: str, current_version: str | None, letter: str, *,
             description: str) -> bool:
    """Write ``data`` as the version after ``current_version`` of secret ``name`` (``<letter>1`` for a
    new secret). True when it is stored (by this call, or by an earlier attempt of it whose answer
    was lost); False when another writer took that version first (re-read and decide again)."""
    version = ownca.next_version(current_version, letter)
    try:
        if current_version is None:
            kms.create_secret(name, data, version, description=description)
        else:
            kms.put_secret_value(name, data, version)
        return True
    except AlbMtlsError as exc:
        exists = exc.cloud_code == "Rejected.ResourceExist" or (exc.status_code == 409 and "Exist" in (exc.cloud_code
                                                                                                       or ""))
        if not exists:
            raise
    stored = kms.get_secret_value(name, version_id=version)
    return stored is not None and stored.data == data


def list_ca_names(kms: Kms, prefix: str) -> list[str]:
    """The own CAs under ``prefix`` (their ``…/ca/<name>/record`` secrets)."""
    pat = re.compile(r"^" + re.escape(prefix) + r"/ca/([a-z][a-z0-9-]{0,30}[a-z0-9])/record$")
    return sorted({mt.group(1) for n in kms.list_secret_names() if (mt := pat.match(n))})


def _from_meta(meta: CertMeta, listener: str, revoked: ownca.RevocationList, name: str) -> list[ClientCertificate]:
    """The certificates one ``…/meta`` record names, if its CA is own CA ``name``: the current one and
    those it superseded that have not ended."""
    ref = ownca.parse_own(meta.ca)
    if ref is None or ref.name != name:
        return []
    out = []

    def item(serial: str, nb: datetime, na: datetime, ci: str | None, sha256: str | None = None) -> ClientCertificate:
        st = "REVOKE" if revoked.find(serial) is not None else "ISSUE"
        return ClientCertificate(identifier=ownca.certificate_identifier(name, serial), serial=serial,
                                 common_name=meta.common_name, status=st, certificate_type="CLIENT",
                                 parent_identifier=meta.ca, not_before=nb, not_after=na, custom_identifier=ci,
                                 algorithm="RSA" if (meta.key_algorithm or "").startswith("RSA") else "ECC",
                                 sha256=sha256)

    out.append(item(meta.serial, parse_iso(meta.not_before), parse_iso(meta.not_after), meta.custom_identifier,
                    meta.fingerprint_sha256))
    for e in meta.supersedes:
        na = parse_iso(e.not_after)
        nb = na - timedelta(days=meta.days)
        out.append(item(e.serial, nb, na, custom_identifier(listener, f"superseded:{e.serial}", meta.common_name)))
    return out


@dataclass(frozen=True, slots=True)
class CurrentCertificate:
    """A holder's current certificate under an own CA (its ``…/meta`` record's own, not those it
    superseded): the listener, CN, the generation that issued it, serial and end."""

    listener_key: str
    common_name: str
    gen: int | None
    serial: str
    not_after: str
    not_before: str


def current_certificates(kms: Kms, prefix: str, name: str) -> Iterator[CurrentCertificate]:
    """Every holder's current certificate issued by own CA ``name`` under ``prefix`` (``ListSecrets``,
    one ``GetSecretValue`` per ``…/meta``)."""
    for n in kms.list_secret_names():
        mt = _META_NAME.match(n)
        if mt is None or mt.group("prefix") != prefix:
            continue
        raw = kms.get_secret_value(n, stage=CURRENT)
        meta = decode_meta(raw.data) if raw is not None else None
        ref = ownca.parse_own(meta.ca) if meta is not None else None
        if meta is None or ref is None or ref.name != name:
            continue
        yield CurrentCertificate(listener_key=mt.group("listener"), common_name=meta.common_name, gen=ref.gen,
                                 serial=meta.serial, not_after=meta.not_after, not_before=meta.not_before)


def list_own_certificates(kms: Kms, prefix: str, revoked: dict[str, ownca.RevocationList]) -> OwnCertificates:
    """One pass over the ``…/meta`` records under ``prefix``: the certificates of the own CAs named in
    ``revoked`` (CA name → its revocation list)."""
    out = OwnCertificates()
    for n in kms.list_secret_names():
        mt = _META_NAME.match(n)
        if mt is None or mt.group("prefix") != prefix:
            continue
        raw = kms.get_secret_value(n, stage=CURRENT)
        meta = decode_meta(raw.data) if raw is not None else None
        out.metas += 1
        if meta is None:
            continue
        ref = ownca.parse_own(meta.ca)
        if ref is None or ref.name not in revoked:
            continue
        out.by_ca.setdefault(ref.name, []).extend(_from_meta(meta, mt.group("listener"), revoked[ref.name], ref.name))
    return out


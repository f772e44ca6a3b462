"""Your own CA, its keys in KMS: create it, give it a new key generation, move listeners to it, retire
the old one, and report it (the records and the design: ``shared.policy.ownca``).

* :func:`ensure_ca` — ``albmtls ca create`` and the provision flow's ``EnsureOwnCa`` step (FC
  ``albmtls-ensure-own-ca``): the CA exists, complete, with these options. Idempotent: each write is
  looked up first (a key by its alias, the repository by its name, the upload by its serial), the
  record is written before and after the upload, so a re-run after any crash finishes the job and a
  second run writes nothing. Runs creating one CA at once converge on one (a refused create is looked
  up again; the run whose record write lost starts over).
* :func:`rekey` — a new generation (new root and sub-CA keys, the cross certificate), issuing from
  then on; listeners keep trusting the old one until :func:`switch` (at once with ``at_once``).
* the switch — listeners trust the issuing generation once every holder switched to it:
  ``shared.steps.ownca_switch``.
* retiring a generation no listener trusts and no holder holds: ``shared.steps.ownca_retire``.

Over 500 lines: creation, rekey and switch share the generation-making and record helpers (one
record, one writer); splitting them would spread the record's write protocol over modules.
* :func:`view` / :func:`list_views` — ``albmtls ca list`` / ``status``.

Every new CA certificate is built by ``cryptography`` (``shared.policy.ownca_x509``), signed through
KMS ``AsymmetricSign`` and checked before it is recorded. Writes: KMS ``CreateKey``, ``CreateAlias``,
``CreateSecret``/``PutSecretValue`` (the record); CAS ``CreateWarehouse``, ``UploadPCACert``. Reads:
``DescribeKey``, ``GetPublicKey``, ``GetSecretValue``, ``ListSecrets``, ``ListCertWarehouse``,
``ListCert``, ``DescribeWarehouseCert``.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from shared.adapters.cas import CasRepository
from shared.adapters.kms import Kms
from shared.adapters.kmskeys import KmsKeys, signing_key
from shared.adapters.ownca import OwnCa, list_ca_names, put_next, read_record
from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, Code, InvalidInputError, TransientError
from shared.policy import ownca
from shared.policy.contracts import StepEvent, StepResult
from shared.steps.ownca_preflight import instance_id as _instance

if TYPE_CHECKING:  # pragma: no cover
    from cryptography import x509

    from shared.steps.context import StepContext

__all__ = ["GenerationView", "OwnCaView", "ensure_ca", "rekey", "view", "list_views", "issuer", "write_record",
           "EnsureOwnCaResult", "run", "STEP"]

STEP = "ensure_own_ca"

BACKDATE = timedelta(minutes=5)


class GenerationView(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One generation as reported: its KMS keys, their protection, its ends, its repository id and
    what it does (``issuing``, ``trusted`` by listeners, ``retired``); ``albmtls ca status`` adds the
    listeners whose ``CaCertificates`` hold its upload, how many holders' current certificate is of
    it, and its keys' state (``shared.steps.ownca_retire.detail``)."""

    gen: int
    root_key_id: str
    issuing_key_id: str
    key_spec: str
    protection_level: str | None = None
    root_not_after: str
    issuing_not_after: str
    uploaded_identifier: str | None = None
    roles: list[str] = []
    issuing_common_name: str
    retired_at: str | None = None
    listeners: list[str] | None = None
    holders: int | None = None
    key_state: str | None = None
    keys_delete_date: str | None = None


class OwnCaView(StepResult, frozen=True, kw_only=True):
    """An own CA (``albmtls ca create|list|status``; the ``EnsureOwnCa`` step's result)."""

    name: str = ""
    secret_prefix: str = ""
    key_spec: str = ""
    issuing_gen: int = 0
    trusted_gen: int = 0
    #: the repository ``Identifier`` listeners trust (their ``CaCertificates``)
    alb_ca_certificate_id: str | None = None
    issuing_identifier: str = ""
    warehouse_id: int | None = None
    switch_pending: bool = False
    not_after: str | None = None
    generations: list[GenerationView] = []
    created: bool = False
    writes: int = 0
    #: name constraints of its issuing sub-CAs (``dNSName`` permitted subtrees; empty: none)
    permitted_dns: list[str] = []


def issuer(ctx: StepContext, prefix: str, name: str) -> OwnCa:
    """The :class:`~shared.adapters.ownca.OwnCa` of ``name`` under ``prefix`` over ``ctx``'s call
    policy and clock."""
    return OwnCa(ctx.call, settings=ctx.settings, prefix=prefix, name=name, now=ctx.clock.now)


# ---------------------------------------------------------------------------------------------
# views
# ---------------------------------------------------------------------------------------------
def _view(rec: ownca.OwnCaRecord, prefix: str, *, created: bool = False, writes: int = 0) -> OwnCaView:
    gens = []
    for g in rec.generations:
        roles = [r for r, on in (("issuing", g.gen == rec.issuing_gen), ("trusted", g.gen == rec.trusted_gen),
                                 ("retired", bool(g.retired_at))) if on]
        gens.append(GenerationView(gen=g.gen, root_key_id=g.root_key.key_id, issuing_key_id=g.issuing_key.key_id,
                                   key_spec=g.root_key.spec, protection_level=g.root_key.protection_level,
                                   root_not_after=g.root_not_after, issuing_not_after=g.issuing_not_after,
                                   uploaded_identifier=g.uploaded, roles=roles,
                                   issuing_common_name=f"{rec.name} Issuing CA G{g.gen}", retired_at=g.retired_at))
    trusted, issuing = rec.trusted, rec.issuing
    return OwnCaView(name=rec.name, secret_prefix=prefix, key_spec=rec.key_spec, issuing_gen=rec.issuing_gen,
                     trusted_gen=rec.trusted_gen, alb_ca_certificate_id=trusted.uploaded if trusted else None,
                     issuing_identifier=ownca.issuing_identifier(rec.name, rec.issuing_gen),
                     warehouse_id=rec.warehouse_id, switch_pending=rec.switch_pending,
                     not_after=issuing.issuing_not_after if issuing else None, generations=gens, created=created,
                     writes=writes, permitted_dns=list(rec.permitted_dns))


def view(ctx: StepContext, prefix: str, name: str) -> OwnCaView:
    """The CA ``name`` (``CA_NOT_FOUND`` when it does not exist). Reads only."""
    found = read_record(ctx.adapter(Kms), prefix, name)
    if found is None:
        raise AlbMtlsError(Code.CA_NOT_FOUND, f"no own CA {name!r} under secret prefix {prefix!r}; create it: "
                           f"albmtls ca create --name {name}", field="name")
    return _view(found[0], prefix)


def list_views(ctx: StepContext, prefix: str) -> list[OwnCaView]:
    """Every own CA under ``prefix`` (``ListSecrets``, then each record). Reads only."""
    kms = ctx.adapter(Kms)
    out = []
    for name in list_ca_names(kms, prefix):
        found = read_record(kms, prefix, name)
        if found is not None:
            out.append(_view(found[0], prefix))
    return out


# ---------------------------------------------------------------------------------------------
# a generation: keys, certificates, upload
# ---------------------------------------------------------------------------------------------
#: the pending window of a key made by a run that lost the race to create the CA (KMS minimum: 7)
_LOST_KEY_DAYS = 7


def _key(ctx: StepContext, prefix: str, name: str, spec: ownca.KeySpec, gen: int,
         role: Literal["root", "issuing"]) -> tuple[ownca.KeyRef, int]:
    """The KMS key of ``role`` in generation ``gen``: found by its alias, else created (tagged, so a
    key whose alias was never written can be found) and aliased."""
    keys = ctx.adapter(KmsKeys)
    alias = ownca.key_alias(prefix, name, gen, role)
    writes = 0
    info = keys.describe_key(alias)
    if info is None:
        mine = keys.create_key(spec=spec, instance_id=_instance(ctx),
                               description=f"alb-mtls own CA {name}: {role} key of generation {gen}",
                               tags={"albmtls:ca": name, "albmtls:role": f"g{gen}-{role}", "albmtls:prefix": prefix})
        writes += 1
        try:
            writes += keys.create_alias(alias, mine.key_id)
            info = mine
        except AlbMtlsError:
            info = keys.describe_key(alias)
            if info is None or info.key_id == mine.key_id:
                raise
            # another run created this CA at the same moment (two listeners, two `ca create`): the alias
            # is the arbiter — its key is the CA's; ours was never used and is scheduled for deletion
            writes += keys.schedule_key_deletion(mine.key_id, _LOST_KEY_DAYS)
            ctx.logger.info("own CA key made by another run", extra={"ca": name, "alias": alias,
                                                                     "key_id": info.key_id})
    if info.state != "Enabled" or not info.primary_version:
        raise AlbMtlsError(Code.CA_NOT_FOUND, f"the KMS key {alias} ({info.key_id}) is {info.state}: enable it "
                           f"(or cancel its deletion) to use own CA {name!r}", field="name")
    if info.spec != spec:
        raise AlbMtlsError(Code.CA_ALGORITHM_MISMATCH, f"the KMS key {alias} is {info.spec}, not {spec}")
    return ownca.KeyRef(key_id=info.key_id, version_id=info.primary_version, alias=alias, spec=spec,
                        protection_level=info.protection_level, instance_id=info.instance_id), writes


def _spki(cert: x509.Certificate) -> bytes:
    from cryptography.hazmat.primitives import serialization

    der: bytes = cert.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return der


def _load(pem: str) -> x509.Certificate:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem.encode())


def _pem(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import serialization

    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _make_generation(ctx: StepContext, prefix: str, name: str, spec: ownca.KeySpec, gen: int, root_days: int,
                     issuing_days: int, previous: ownca.Generation | None,
                     permitted_dns: tuple[str, ...] = ()) -> tuple[ownca.Generation, int]:
    """Keys (found or created), then the root, the sub-CA and — after the first generation — the
    cross certificate, each signed through KMS and checked."""
    from cryptography.hazmat.primitives import hashes

    from shared.policy import ownca_x509

    root_ref, w1 = _key(ctx, prefix, name, spec, gen, "root")
    issuing_ref, w2 = _key(ctx, prefix, name, spec, gen, "issuing")
    keys = ctx.adapter(KmsKeys)
    root_key = signing_key(keys, root_ref.key_id, root_ref.version_id)
    issuing_key = signing_key(keys, issuing_ref.key_id, issuing_ref.version_id)
    now = ctx.clock.now()
    nb = now - BACKDATE
    root = ownca_x509.root_builder(root_key.public_key(), name, gen, nb, nb + timedelta(days=root_days)) \
        .sign(root_key, hashes.SHA256())
    ownca_x509.check_ca_certificate(root, root, path_length=1, public_key_der=_spki(root))
    sub = ownca_x509.issuing_builder(issuing_key.public_key(), name, gen, root, nb, nb + timedelta(days=issuing_days),
                                     permitted_dns).sign(root_key, hashes.SHA256())
    ownca_x509.check_ca_certificate(sub, root, path_length=0, public_key_der=_spki(sub))
    cross_pem = None
    if previous is not None:
        old_root = _load(previous.root_pem)
        old_key = signing_key(keys, previous.root_key.key_id, previous.root_key.version_id)
        cross = ownca_x509.issuing_builder(issuing_key.public_key(), name, gen, old_root, nb,
                                           nb + timedelta(days=issuing_days), permitted_dns) \
            .sign(old_key, hashes.SHA256())
        ownca_x509.check_ca_certificate(cross, old_root, path_length=0, public_key_der=_spki(sub))
        cross_pem = _pem(cross)
    g = ownca.Generation(gen=gen, root_key=root_ref, issuing_key=issuing_ref, root_pem=_pem(root),
                         issuing_pem=_pem(sub), cross_pem=cross_pem, created_at=iso_utc(now),
                         root_not_after=iso_utc(root.not_valid_after_utc),
                         issuing_not_after=iso_utc(sub.not_valid_after_utc))
    return g, w1 + w2


def _warehouse(ctx: StepContext, prefix: str, name: str) -> tuple[int, str, int]:
    """(``WhId``, ``InstanceId``, writes) of the CA's certificate repository, found by name or created."""
    repo = ctx.adapter(CasRepository)
    wh_name = ownca.warehouse_name(prefix, name)
    found = repo.find_warehouse(wh_name)
    writes = 0
    if found is None:
        try:
            repo.create_warehouse(wh_name)
            writes = 1
        except AlbMtlsError:
            # another run (a second `ca create`, a listener of the same fleet) created it between our
            # look-up and the write (CAS answers NameRepeat; COVERAGE: the code is unconfirmed, so the
            # repository itself is the answer): it exists — read it back; it does not — the error stands
            if repo.find_warehouse(wh_name) is None:
                raise
        found = repo.find_warehouse(wh_name)
        if found is None:
            raise TransientError(Code.CLOUD_BUSY, f"the certificate repository {wh_name} was created but is not "
                                 "listed yet (ListCertWarehouse); retry")
    return found.wh_id, found.instance_id, writes


def _upload(ctx: StepContext, rec: ownca.OwnCaRecord, g: ownca.Generation) -> tuple[str, int]:
    """The repository ``Identifier`` of ``[sub-CA, root]`` of ``g``: found by the sub-CA's serial (an
    upload whose answer was lost), else uploaded. Read back: its content starts with the sub-CA."""
    repo = ctx.adapter(CasRepository)
    assert rec.warehouse_id is not None
    sub = _load(g.issuing_pem)
    serial = format(sub.serial_number, "x")
    writes = 0
    ident = repo.find_uploaded_ca(rec.warehouse_id, serial)
    if ident is None:
        try:
            ident = repo.upload_ca(rec.warehouse_id, g.issuing_pem.strip() + "\n" + g.root_pem.strip() + "\n",
                                   f"{rec.name}-g{g.gen}")
            writes = 1
        except AlbMtlsError:
            # another run uploaded the same generation meanwhile (its duplicate code): use that upload
            ident = repo.find_uploaded_ca(rec.warehouse_id, serial)
            if ident is None:
                raise
    back = repo.describe_uploaded_ca(ident)
    if back is None or not back.content or _load(back.content).serial_number != sub.serial_number:
        raise AlbMtlsError(Code.DRIFT_AFTER_APPLY, f"the uploaded CA {ident} does not read back as generation "
                           f"{g.gen} of own CA {rec.name!r} (DescribeWarehouseCert); run again")
    return ident, writes


class _RecordTaken(TransientError):
    """The CA's record was written by another run between our read and our write."""


def write_record(ctx: StepContext, prefix: str, rec: ownca.OwnCaRecord, version: str | None) -> str:
    """Store ``rec`` as the record's next version after ``version``; ``TransientError`` when another
    writer took it (the step is run again and re-plans)."""
    kms = ctx.adapter(Kms)
    name = ownca.ca_secret_names(prefix, rec.name).record
    if not put_next(kms, name, ownca.encode(rec), version, "r",
                    description=f"alb-mtls own CA {rec.name}: keys, certificates, repository ids (no secrets)"):
        raise _RecordTaken(Code.CLOUD_BUSY, f"own CA {rec.name!r}: its record changed under this write (another "
                           "run?); run again")
    back = read_record(kms, prefix, rec.name)
    if back is None or back[0] != rec:
        raise AlbMtlsError(Code.DRIFT_AFTER_APPLY, f"the own CA record {name} read back other than written "
                           "(another writer?); run again")
    return back[1]


def _complete_generation(ctx: StepContext, prefix: str, rec: ownca.OwnCaRecord, version: str, g: ownca.Generation,
                         writes: int) -> tuple[ownca.OwnCaRecord, str, int]:
    """Record ``g`` (before the upload, so a re-run uploads the same certificates), upload it, record
    its ``Identifier``."""
    if rec.generation(g.gen) != g:
        rec = rec.with_generation(g)
        version = write_record(ctx, prefix, rec, version)
        writes += 1
    if not g.uploaded:
        ident, w = _upload(ctx, rec, g)
        writes += w
        g = msgspec.structs.replace(g, uploaded=ident)
        rec = rec.with_generation(g)
        version = write_record(ctx, prefix, rec, version)
        writes += 1
    return rec, version, writes


# ---------------------------------------------------------------------------------------------
# create
# ---------------------------------------------------------------------------------------------
def _same_ca(rec: ownca.OwnCaRecord, opts: ownca.CreateOptions, have: str = "exists with") -> None:
    """The CA asked for is this one (:func:`shared.policy.ownca.definition_conflict`): key spec and
    name constraints are in its certificates. Not asking for constraints keeps whatever it has."""
    problem = ownca.definition_conflict(opts.name, rec.key_spec, rec.permitted_dns, opts.key_spec, opts.permitted_dns,
                                        have=have)
    if problem is not None:
        raise problem


#: times ensure_ca starts over when another run wrote the CA's record under it
_ENSURE_ATTEMPTS = 3


def ensure_ca(ctx: StepContext, opts: ownca.CreateOptions, prefix: str) -> OwnCaView:
    """The own CA ``opts.name`` exists and is complete (module doc). An existing CA made with another
    key spec or other name constraints is refused (``INVALID_INPUT``) before any write; other options
    apply to new generations only. Returns its view with ``created`` and ``writes``.

    Two runs creating the same CA at once (two ``ca create``, two listeners of one fleet) converge on
    one: the repository and the key aliases are looked up again when their write is refused, and the
    run whose record write lost starts over from the record the other wrote."""
    for attempt in range(_ENSURE_ATTEMPTS):
        try:
            return _ensure_ca(ctx, opts, prefix)
        except _RecordTaken:
            if attempt == _ENSURE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _ensure_ca(ctx: StepContext, opts: ownca.CreateOptions, prefix: str) -> OwnCaView:
    kms = ctx.adapter(Kms)
    found = read_record(kms, prefix, opts.name)
    if found is not None and found[0].complete:
        rec = found[0]
        _same_ca(rec, opts)
        return _view(rec, prefix)
    writes = 0
    if found is None:
        wh_id, wh_instance, writes = _warehouse(ctx, prefix, opts.name)
        rec = ownca.OwnCaRecord(name=opts.name, key_spec=opts.key_spec, root_days=opts.root_days,
                                issuing_days=opts.issuing_days, warehouse_id=wh_id, warehouse_instance_id=wh_instance,
                                created_at=iso_utc(ctx.clock.now()), permitted_dns=tuple(opts.permitted_dns))
        version: str | None = None
    else:
        rec, version = found
        _same_ca(rec, opts, have="is being created with")
    g = rec.generation(1)
    if g is None:
        g, w = _make_generation(ctx, prefix, rec.name, rec.key_spec, 1, rec.root_days, rec.issuing_days, None,
                                rec.permitted_dns)
        writes += w
    if version is None:       # the first version of the record holds generation 1 already
        rec = rec.with_generation(g)
        version = write_record(ctx, prefix, rec, None)
        writes += 1
    rec, version, writes = _complete_generation(ctx, prefix, rec, version, g, writes)
    ctx.logger.info("own CA created", extra={"ca": rec.name, "writes": writes, "root_key": g.root_key.key_id,
                                             "issuing_key": g.issuing_key.key_id})
    return _view(rec, prefix, created=True, writes=writes)


# ---------------------------------------------------------------------------------------------
# rekey, switch, retire
# ---------------------------------------------------------------------------------------------
def rekey(ctx: StepContext, prefix: str, name: str, *, from_gen: int | None = None,
          at_once: bool = False) -> OwnCaView:
    """A new generation after ``from_gen`` (default: the issuing one now), issuing from then on; with
    ``at_once`` listeners are to trust it at once too. A re-run for the same ``from_gen`` finishes the
    same generation and writes nothing more. Refused (``INVALID_INPUT``) while an earlier switch is
    pending unless ``at_once``."""
    kms = ctx.adapter(Kms)
    found = read_record(kms, prefix, name)
    if found is None or not found[0].complete:
        raise AlbMtlsError(Code.CA_NOT_FOUND, f"no complete own CA {name!r} under {prefix!r}", field="name")
    rec, version = found
    base = from_gen if from_gen is not None else rec.issuing_gen
    target = base + 1
    writes = 0
    if rec.issuing_gen >= target:                      # done already (a re-run)
        if at_once and rec.trusted_gen < rec.issuing_gen:
            rec = msgspec.structs.replace(rec, trusted_gen=rec.issuing_gen, switch_requested_at=None)
            write_record(ctx, prefix, rec, version)
            writes += 1
        return _view(rec, prefix, writes=writes)
    if rec.switch_pending and not at_once:
        raise InvalidInputError("rekey", f"own CA {name!r} still waits for its listeners to move to generation "
                                f"{rec.issuing_gen}: finish that first (albmtls ca switch --name {name}), or "
                                "rekey with --now")
    previous = rec.trusted
    assert previous is not None
    g = rec.generation(target)
    if g is None:
        g, writes = _make_generation(ctx, prefix, name, rec.key_spec, target, rec.root_days, rec.issuing_days,
                                     previous, rec.permitted_dns)
    rec, version, writes = _complete_generation(ctx, prefix, rec, version, g, writes)
    rec = msgspec.structs.replace(rec, issuing_gen=target, trusted_gen=target if at_once else rec.trusted_gen,
                                  switch_requested_at=None if at_once else iso_utc(ctx.clock.now()))
    write_record(ctx, prefix, rec, version)
    writes += 1
    ctx.logger.info("own CA rekeyed", extra={"ca": name, "generation": target, "at_once": at_once, "writes": writes})
    return _view(rec, prefix, writes=writes)


def ca_end(rec: ownca.OwnCaRecord) -> datetime | None:
    g = rec.issuing
    return parse_iso(g.issuing_not_after) if g is not None else None


def as_dict(v: OwnCaView) -> dict[str, Any]:
    out: dict[str, Any] = msgspec.to_builtins(v)
    return out


# ---------------------------------------------------------------------------------------------
# the provision flow's EnsureOwnCa step (its preflight: shared.steps.ownca_preflight)
# ---------------------------------------------------------------------------------------------
class EnsureOwnCaResult(StepResult, frozen=True, kw_only=True):
    """The ``ensure_own_ca`` step's result: the CA (``None`` for a PCA input: nothing to do)."""

    writes: int = 0
    ca: OwnCaView | None = None


def run(event: StepEvent, ctx: StepContext) -> EnsureOwnCaResult:
    """The ``ensure_own_ca`` step (FC ``albmtls-ensure-own-ca``; the provision flow runs it after the
    preflight when the input's CA is an own one, before the changes): :func:`ensure_ca` with the
    input's ``ca`` options under its secret prefix."""
    spec = event.input.own_ca
    if spec is None:
        return EnsureOwnCaResult(status="ok")
    opts = ownca.CreateOptions(name=spec.name, key_spec=spec.key_spec, root_days=spec.root_days,
                               issuing_days=spec.issuing_days, permitted_dns=spec.permitted_dns)
    v = ensure_ca(ctx, opts, event.input.secret_prefix)
    return EnsureOwnCaResult(status="ok", writes=v.writes, ca=v)

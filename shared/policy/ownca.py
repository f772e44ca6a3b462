"""Your own CA whose keys live in KMS — the pure part: its name and identifiers, the records it
keeps in KMS, the plan of its creation and of a new key generation, and when listeners switch to a
new one. No I/O. The certificates themselves are built by ``shared.policy.ownca_x509``; the steps
(``shared.steps.ownca``) gather, act and read back; ``shared.adapters.ownca.OwnCa`` issues through it.

An own CA is a **generation** at a time: a root and an issuing sub-CA, each key a KMS asymmetric
key (``EC_P256`` or ``RSA_2048``) that never leaves KMS. The sub-CA's certificate with the root is
uploaded to the CAS certificate repository; the listener trusts the ``Identifier`` of that upload.
``rekey`` makes generation ``g+1`` (a new root and a new sub-CA, new keys) and a cross certificate of
the new sub-CA signed by the old root: certificates issued under ``g+1`` carry that cross certificate
in their PFX, so they work on a listener that still trusts generation ``g`` and, once the listener
trusts ``g+1``, through the new sub-CA. Certificates of ``g`` (a revoked holder's among them) chain to
nothing a switched listener trusts: revocation takes effect by the listener's CA certificate — the one
mechanism ALB documents (it documents no CRL check for an uploaded CA; docs/ALIBABA-APIS.md §5.2).
A new root (not only a new sub-CA) because ALB's trust in an uploaded chain is undocumented: an
OpenSSL-based verifier with the root in its store would accept any sub-CA under it.

Records (KMS secrets, no key material; names from :func:`ca_secret_names`):

* ``<prefix>/ca/<name>/record`` — :class:`OwnCaRecord` (versions ``r1``, ``r2`` …; a writer that
  loses the race for the next version re-reads, so concurrent writers never overwrite each other);
* ``<prefix>/ca/<name>/revoked`` — :class:`RevocationList` (serials revoked, until they expire);
* ``<prefix>/ca/<name>/crl`` — the latest CRL (DER, ``binary``), version ``crl<number>``.

The certificates an own CA issued are the clients' ``…/meta`` records (``CertMeta.ca`` =
``own/<name>/g<gen>``, one version per certificate): one record type per stored thing.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from msgspec import Meta

from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import Code, InvalidInputError
from shared.policy.checks import Chain, Violation
from shared.policy.delivery import LINK_TTL
from shared.policy.nameconstraints import MAX_PERMITTED, PermittedDns, normalize_permitted
from shared.policy.validation import pattern

if TYPE_CHECKING:  # pragma: no cover
    from collections.abc import Sequence

__all__ = [
    "OWN_PREFIX", "CaName", "KeySpec", "KEY_SPECS", "OwnRef", "parse_own", "is_own", "issuing_identifier",
    "ca_identifier", "certificate_identifier", "CaSecretNames", "ca_secret_names", "key_alias", "warehouse_name",
    "KeyRef", "Generation", "OwnCaRecord", "Revoked", "RevocationList", "CreateOptions", "encode", "decode_record",
    "decode_revocations", "next_version", "switch_due", "CRL_DAYS", "DEFAULT_ROOT_DAYS", "DEFAULT_ISSUING_DAYS",
    "RetireObservation", "RETIRE_CHECKS", "KEY_DELETION_DAYS", "definition_conflict", "REKEY_GRACE", "HolderSwitch",
    "holder_switched", "waiting_reason", "check_name", "CA_NAME_RULE",
]

OWN_PREFIX = "own/"
#: the CA name: in secret names, KMS aliases, the repository name and the certificates' subject
CA_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,30}[a-z0-9]$"
CA_NAME_RULE = ("2-32 lowercase ASCII letters, digits or inner hyphens, starting with a letter (it is part of KMS "
                "secret and alias names)")
CaName = Annotated[str, pattern(CA_NAME_PATTERN, CA_NAME_RULE,
                                description="own CA name: 2-32 lowercase letters, digits, inner hyphens")]


def check_name(name: str, field: str = "name") -> None:
    """``INVALID_INPUT`` naming ``field`` when ``name`` is no CA name (:data:`CaName`): checked before a
    CA is looked up, so ``ca status --name NOPE`` says what a name is instead of advising
    ``ca create --name NOPE``, which would be refused too."""
    if not re.fullmatch(CA_NAME_PATTERN, name):
        raise InvalidInputError(field, f"{name[:80]!r} is not an own CA name: {CA_NAME_RULE}")
KeySpec = Literal["EC_P256", "RSA_2048"]
KEY_SPECS: tuple[KeySpec, ...] = ("EC_P256", "RSA_2048")
DEFAULT_ROOT_DAYS = 3650
DEFAULT_ISSUING_DAYS = 730
#: a CRL's nextUpdate: this long after thisUpdate (republished on every revocation and by the scan)
CRL_DAYS = 7

_OWN_RE = re.compile(r"^own/(?P<name>[a-z][a-z0-9-]{0,30}[a-z0-9])"
                     r"(?:/(?:g(?P<gen>[0-9]{1,6})|(?P<serial>[0-9a-f]{1,40})))?$")


class OwnRef(msgspec.Struct, frozen=True):
    """A parsed own-CA identifier: ``own/<name>`` (the CA), ``own/<name>/g<gen>`` (one generation's
    issuing sub-CA, what ``CertMeta.ca`` holds) or ``own/<name>/<serial>`` (a certificate it issued)."""

    name: str
    gen: int | None = None
    serial: str | None = None


def parse_own(value: str | None) -> OwnRef | None:
    """The :class:`OwnRef` of an own-CA identifier, ``None`` for anything else (a PCA id)."""
    mt = _OWN_RE.match(value or "")
    if mt is None:
        return None
    return OwnRef(mt.group("name"), int(mt.group("gen")) if mt.group("gen") else None, mt.group("serial"))


def is_own(value: str | None) -> bool:
    return (value or "").startswith(OWN_PREFIX)


def ca_identifier(name: str) -> str:
    """``own/<name>``: the CA, whatever its current generation (the input's ``ca``)."""
    return f"{OWN_PREFIX}{name}"


def issuing_identifier(name: str, gen: int) -> str:
    """``own/<name>/g<gen>``: generation ``gen``'s issuing sub-CA (``CertMeta.ca``, ``parent_identifier``)."""
    return f"{OWN_PREFIX}{name}/g{gen}"


def certificate_identifier(name: str, serial: str) -> str:
    """``own/<name>/<serial>``: a client certificate the CA issued (serial: lowercase hex)."""
    return f"{OWN_PREFIX}{name}/{serial}"


class CaSecretNames(msgspec.Struct, frozen=True):
    """The KMS secrets of own CA ``name`` under ``prefix`` (module doc)."""

    record: str
    revoked: str
    crl: str


def ca_secret_names(prefix: str, name: str) -> CaSecretNames:
    """``<prefix>/ca/<name>/{record,revoked,crl}`` — ``ca`` is never a listener key (those start
    with ``alb-``), so a CA's secrets never meet a client's."""
    base = f"{prefix}/ca/{name}/"
    return CaSecretNames(record=base + "record", revoked=base + "revoked", crl=base + "crl")


def key_alias(prefix: str, name: str, gen: int, role: Literal["root", "issuing"]) -> str:
    """``alias/<prefix>/ca/<name>/g<gen>/<role>``: how a key is found again (idempotent creation);
    characters an alias does not take (``+ = . @``) become ``-``."""
    safe = re.sub(r"[^A-Za-z0-9_/-]", "-", prefix)
    return f"alias/{safe}/ca/{name}/g{gen}/{role}"


def warehouse_name(prefix: str, name: str) -> str:
    """The CAS certificate repository holding the CA's uploads: ``<prefix>-ca-<name>`` (≤ 64)."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", f"{prefix}-ca-{name}")[:64]


# ---------------------------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------------------------
class KeyRef(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A KMS key of the CA: id, the version every sign call names, its alias, spec and protection."""

    key_id: str
    version_id: str
    alias: str
    spec: KeySpec
    protection_level: str | None = None
    instance_id: str | None = None


class Generation(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One root + issuing sub-CA. PEMs are public; ``cross_pem``: the sub-CA signed by the previous
    generation's root (``None`` for the first); ``uploaded``: the repository ``Identifier`` of
    ``[sub-CA, root]``; ``retired_at``: when its keys were scheduled for deletion."""

    gen: int
    root_key: KeyRef
    issuing_key: KeyRef
    root_pem: str
    issuing_pem: str
    cross_pem: str | None = None
    uploaded: str | None = None
    created_at: str
    root_not_after: str
    issuing_not_after: str
    retired_at: str | None = None


class OwnCaRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The CA (``<prefix>/ca/<name>/record``): its options, the repository, its generations,
    ``issuing_gen`` (issues new certificates) and ``trusted_gen`` (what listeners trust; behind
    ``issuing_gen`` until the holders switched, see :func:`switch_due`)."""

    v: int = 1
    name: str
    key_spec: KeySpec
    root_days: int
    issuing_days: int
    warehouse_id: int | None = None
    warehouse_instance_id: str | None = None
    generations: tuple[Generation, ...] = ()
    issuing_gen: int = 1
    trusted_gen: int = 1
    created_at: str
    switch_requested_at: str | None = None
    #: the ``dNSName`` subtrees every issuing sub-CA of this CA is constrained to (empty: none)
    permitted_dns: tuple[str, ...] = ()

    def generation(self, gen: int) -> Generation | None:
        return next((g for g in self.generations if g.gen == gen), None)

    @property
    def issuing(self) -> Generation | None:
        return self.generation(self.issuing_gen)

    @property
    def trusted(self) -> Generation | None:
        return self.generation(self.trusted_gen)

    @property
    def complete(self) -> bool:
        """Its issuing generation is uploaded and its listeners' generation too: usable."""
        issuing, trusted = self.issuing, self.trusted
        return issuing is not None and trusted is not None and bool(issuing.uploaded) and bool(trusted.uploaded)

    @property
    def switch_pending(self) -> bool:
        return self.trusted_gen != self.issuing_gen

    def with_generation(self, g: Generation) -> OwnCaRecord:
        rest = tuple(x for x in self.generations if x.gen != g.gen)
        return msgspec.structs.replace(self, generations=tuple(sorted(rest + (g,), key=lambda x: x.gen)))


class Revoked(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A revoked certificate: serial (lowercase hex), the generation that issued it, when, why
    (RFC 5280 reason name), and its end (dropped from the list, and the CRL, once ended)."""

    serial: str
    gen: int
    revoked_at: str
    not_after: str
    reason: str = "unspecified"


class RevocationList(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``<prefix>/ca/<name>/revoked``: the CA's revoked serials and the number of its last CRL."""

    v: int = 1
    entries: tuple[Revoked, ...] = ()
    crl_number: int = 0

    def find(self, serial: str) -> Revoked | None:
        return next((e for e in self.entries if e.serial == serial), None)

    def with_revoked(self, entry: Revoked, now: datetime) -> RevocationList:
        """This list with ``entry`` added, ended entries dropped, the CRL number one higher."""
        keep = tuple(e for e in self.entries if parse_iso(e.not_after) > now and e.serial != entry.serial)
        return RevocationList(entries=keep + (entry,), crl_number=self.crl_number + 1)

    def live(self, gen: int, now: datetime) -> tuple[Revoked, ...]:
        """The entries of generation ``gen`` that have not ended at ``now`` (what its CRL lists)."""
        return tuple(e for e in self.entries if e.gen == gen and parse_iso(e.not_after) > now)


class CreateOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``albmtls ca create`` / the ``ensure_own_ca`` step: the CA to have."""

    name: CaName
    key_spec: KeySpec = "EC_P256"
    root_days: Annotated[int, Meta(ge=2, le=7300)] = DEFAULT_ROOT_DAYS
    issuing_days: Annotated[int, Meta(ge=1, le=7300)] = DEFAULT_ISSUING_DAYS
    #: name constraints of the issuing sub-CA: the DNS names (and those below them) it may issue for
    permitted_dns: Annotated[tuple[PermittedDns, ...], Meta(max_length=MAX_PERMITTED)] = ()

    def __post_init__(self) -> None:
        if self.issuing_days >= self.root_days:
            raise InvalidInputError("issuing_days", f"the issuing sub-CA ({self.issuing_days} days) must end before "
                                    f"its root ({self.root_days} days): give fewer issuing days or more root days")
        msgspec.structs.force_setattr(self, "permitted_dns",
                                      normalize_permitted(self.permitted_dns, "permitted_dns"))


def definition_conflict(name: str, have_key_spec: str, have_permitted: Sequence[str], want_key_spec: str,
                        want_permitted: Sequence[str], *, at: str = "", have: str = "exists with",
                        fix: str = "keep them (or leave them out), or choose another CA name",
                        ) -> InvalidInputError | None:
    """The one check that an own CA asked for is the one there is (or is to be): the same key spec, and
    — when any are asked for — the same name constraints (compared as sets: order and repeats do not
    matter; none asked keeps the CA's). Both are in its certificates and cannot change without a new
    CA. ``None`` when they agree; else the ``INVALID_INPUT`` to raise, its field ``at`` + ``key_spec``
    or ``permitted_dns``. Used by the preflight (plan, provision), ``ensure_ca`` (``ca create``, the
    run's step) and a fleet that names one new CA on several listeners."""
    if have_key_spec != want_key_spec:
        return InvalidInputError(f"{at}key_spec", f"own CA {name!r} {have} {have_key_spec} keys, not {want_key_spec}: "
                                 "keep its key spec, or choose another CA name")
    if want_permitted and set(want_permitted) != set(have_permitted):
        return InvalidInputError(f"{at}permitted_dns", f"own CA {name!r} {have} name constraints "
                                 f"{sorted(set(have_permitted)) or 'none'}, not {sorted(set(want_permitted))}: they "
                                 f"are in its sub-CA certificates; {fix}")
    return None


def encode(obj: OwnCaRecord | RevocationList) -> str:
    return msgspec.json.encode(obj).decode()


def decode_record(text: str | bytes) -> OwnCaRecord | None:
    try:
        return msgspec.json.decode(text, type=OwnCaRecord)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def decode_revocations(text: str | bytes) -> RevocationList | None:
    try:
        return msgspec.json.decode(text, type=RevocationList)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def next_version(current: str | None, letter: str = "r") -> str:
    """The next ``VersionId`` of a record written version after version: ``r1``, ``r2`` …"""
    if current and current.startswith(letter) and current[len(letter):].isdigit():
        return f"{letter}{int(current[len(letter):]) + 1}"
    return f"{letter}1"


#: how long after its replacement was issued a holder who has not taken it into use (no download, no
#: observed read) is counted as switched: the replacement's download link lives this long
#: (``shared.policy.delivery.LINK_TTL``); past it the listener moves on and a holder without the new
#: certificate asks for another link (``albmtls resend``)
REKEY_GRACE = LINK_TTL


class HolderSwitch(msgspec.Struct, frozen=True, kw_only=True):
    """One holder of an own CA as the switch sees it: ``key`` ``<listener key>/<cn>``; ``on_issuing``
    — its current certificate is of the issuing generation; ``holder_kind`` ``person`` | ``system`` |
    ``None`` (no holder: the operator's path, the PFX handed over at issue); ``switched_at`` — its
    first download or observed read (``shared.policy.delivery.switched_at``); ``issued_at`` — its
    current certificate's notBefore."""

    key: str
    on_issuing: bool
    holder_kind: str | None = None
    switched_at: str | None = None
    issued_at: str | None = None


def holder_switched(h: HolderSwitch, now: datetime) -> bool:
    """The adoption rule of a rekey (as a renewal's retirement, ``shared.policy.delivery``): the
    holder holds a certificate of the issuing generation and took it into use — downloaded (people),
    read (systems, where observed), handed over (no holder) — or its grace (:data:`REKEY_GRACE`
    after issue) ended."""
    if not h.on_issuing:
        return False
    if h.holder_kind is None or h.switched_at:
        return True
    return h.issued_at is not None and parse_iso(h.issued_at) + REKEY_GRACE <= now


def waiting_reason(h: HolderSwitch, now: datetime) -> str | None:
    """Why ``h`` holds the switch back (``None``: it does not): no certificate of the issuing
    generation yet, or not downloaded / read until its grace ends."""
    if holder_switched(h, now):
        return None
    if not h.on_issuing:
        return "no certificate of the new generation yet"
    until = iso_utc(parse_iso(h.issued_at) + REKEY_GRACE) if h.issued_at else "-"
    return f"{'not downloaded' if h.holder_kind == 'person' else 'not read'} yet (grace until {until})"


def switch_due(rec: OwnCaRecord, holders: Sequence[HolderSwitch], *, now: datetime, at_once: bool) -> bool:
    """Whether the listeners move to the issuing generation now: at once when asked (``--now``), or
    when every holder still holding a valid certificate of this CA has switched
    (:func:`holder_switched`)."""
    if not rec.switch_pending:
        return False
    if at_once:
        return True
    return all(holder_switched(h, now) for h in holders)


def generation_window(now: datetime, days: int, limit: datetime | None, backdate: timedelta) -> tuple[datetime,
                                                                                                      datetime]:
    """(notBefore, notAfter) of a CA certificate: backdated like a leaf, ``days`` long, never past
    ``limit`` (its issuer's end)."""
    nb = now - backdate
    na = nb + timedelta(days=days)
    if limit is not None and na > limit:
        na = limit
    return nb, na


def iso(dt: datetime) -> str:
    return iso_utc(dt)


# ---------------------------------------------------------------------------------------------
# retiring a generation (``albmtls ca retire``; the step: shared.steps.ownca_retire)
# ---------------------------------------------------------------------------------------------
#: ``ScheduleKeyDeletion.PendingWindowInDays`` of a retired generation's keys (KMS takes 7-366): the
#: time ``CancelKeyDeletion`` can still undo a retirement
KEY_DELETION_DAYS = 30


class RetireObservation(msgspec.Struct, frozen=True, kw_only=True):
    """What the retirement of generation ``gen`` of ``rec`` is decided on: ``trusting`` — the
    listener keys whose ALB listener holds that generation's upload in ``CaCertificates`` (read from
    the cloud); ``holders`` — ``<listener key>/<cn>`` whose current certificate (its ``…/meta``) is of
    that generation and neither ended nor revoked."""

    rec: OwnCaRecord
    gen: int
    trusting: tuple[str, ...] = ()
    holders: tuple[str, ...] = ()


def _generation_exists(o: RetireObservation) -> Violation | None:
    if o.rec.generation(o.gen) is not None:
        return None
    have = ", ".join(str(g.gen) for g in o.rec.generations) or "none"
    return Violation(Code.INVALID_INPUT, f"own CA {o.rec.name!r} has no generation {o.gen} (it has: {have}); "
                     f"albmtls ca status --name {o.rec.name} lists them", "generation")


def _not_issuing(o: RetireObservation) -> Violation | None:
    if o.gen != o.rec.issuing_gen:
        return None
    return Violation(Code.CA_IN_USE, f"generation {o.gen} of own CA {o.rec.name!r} issues its certificates: a newer "
                     "generation must issue first (albmtls revoke --rekey makes one), then switch and retire",
                     "generation")


def _not_trusted(o: RetireObservation) -> Violation | None:
    if o.gen != o.rec.trusted_gen:
        return None
    return Violation(Code.CA_IN_USE, f"the listeners of own CA {o.rec.name!r} trust generation {o.gen}: move them "
                     f"first (albmtls ca switch --name {o.rec.name}), then retire it", "generation")


def _no_listener_trusts(o: RetireObservation) -> Violation | None:
    if not o.trusting:
        return None
    g = o.rec.generation(o.gen)
    return Violation(Code.CA_IN_USE, f"listener(s) {', '.join(o.trusting)} still trust generation {o.gen} of own CA "
                     f"{o.rec.name!r} (CaCertificates {g.uploaded if g else '-'}): point them at the trusted "
                     f"generation (albmtls ca switch --name {o.rec.name}, or provision them again), then retire it",
                     "generation")


def _no_holder_uses(o: RetireObservation) -> Violation | None:
    if not o.holders:
        return None
    shown = ", ".join(o.holders[:20]) + (f" and {len(o.holders) - 20} more" if len(o.holders) > 20 else "")
    return Violation(Code.CA_IN_USE, f"{len(o.holders)} holder(s) still hold a valid certificate of generation {o.gen} "
                     f"of own CA {o.rec.name!r} as their current one: {shown}; renew them (albmtls rotate, or "
                     "provision) or revoke them (albmtls revoke), then retire it", "generation")


#: the refusals of ``albmtls ca retire``, in order (a retired generation skips them: nothing to do)
RETIRE_CHECKS: Chain[RetireObservation] = Chain("own_ca_retire", (
    ("generation_exists", _generation_exists),
    ("not_issuing", _not_issuing),
    ("not_trusted", _not_trusted),
    ("no_listener_trusts", _no_listener_trusts),
    ("no_holder_uses", _no_holder_uses),
))

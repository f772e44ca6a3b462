"""The one record type of a client's delivery, and the pure rules of one-time download links.

Beside each client's ``pfx``, ``password`` and ``meta`` secrets this automation keeps a non-secret
record of who holds the certificate and how far each certificate got to them:
:class:`DeliveryRecord`, compact JSON in the KMS secret ``…/<cn>/delivery``
(``shared.policy.ids.SecretNames.delivery``; docs/ARCHITECTURE.md "Stored records"). It holds

* ``holder`` — the person or system named in the input (``shared.policy.contracts.Holder``);
* one :class:`Delivery` per certificate (by serial): when its link was sent and until when it is
  valid, the **SHA-256 of the link's token** (never the token), when it was used (first download),
  when the holder was reminded, when the operators were warned, when the old certificate was
  retired, and the first secret read a system made where the cloud reports one;
* the last channel failures (``status`` shows them).

Tokens (:func:`new_token`): ``<locator>.<secret>`` — the locator is the Base64url of the record's
base name (``<prefix>/<listener key>/<cn>``, not secret), the secret 32 random bytes. Single use,
expire :data:`LINK_TTL` after they are made (72 h by default). A token's use is claimed by storing
a record version named after its hash (:func:`claim_version`): KMS refuses a second version of the
same ``VersionId`` (docs/ALIBABA-APIS.md §6.1), so two concurrent downloads cannot both succeed.

Pure: encoding, decoding and decisions; the time is an argument.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

import msgspec

from shared.core.clock import iso_utc, parse_iso

if TYPE_CHECKING:  # pragma: no cover
    from shared.policy.contracts import PersonHolder, SystemHolder

__all__ = [
    "RECORD_VERSION", "LINK_TTL", "REMIND_BEFORE", "HolderRecord", "Delivery", "Failure", "DeliveryRecord",
    "decode_record", "encode_record", "new_token", "token_hash", "parse_token", "LinkState", "link_state",
    "claim_version", "version_id", "with_new_link", "reminder_due", "not_switched_due", "switched_at", "adoption",
    "holder_kind", "exported_to_operator",
]

RECORD_VERSION = 1
LINK_TTL = timedelta(hours=72)
#: the reminder goes out this long before the old certificate ends (issue 15: "the day before")
REMIND_BEFORE = timedelta(days=1)
MAX_DELIVERIES = 4          # certificates kept in the record (the current one and those it replaced)
MAX_FAILURES = 10
MAX_REPLACED = 3
_TOKEN = re.compile(r"^(?P<loc>[A-Za-z0-9_-]{4,400})\.(?P<secret>[A-Za-z0-9_-]{43})$")
_BASE = re.compile(r"^[A-Za-z0-9_+=.@-]{1,64}/[A-Za-z0-9_+=.@-]{1,80}/[A-Za-z0-9._@+=-]{1,64}$")


class HolderRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The holder as the input named it (``kind`` ``person`` or ``system``); no secrets."""

    kind: Literal["person", "system"]
    name: str
    email: str | None = None
    dingtalk: str | None = None
    ram_principal: str | None = None
    webhook: str | None = None

    @classmethod
    def of(cls, holder: PersonHolder | SystemHolder) -> HolderRecord:
        """From the input's holder (``shared.policy.contracts``)."""
        if type(holder).__name__ == "PersonHolder":
            return cls(kind="person", name=holder.name, email=getattr(holder, "email", None),
                       dingtalk=getattr(holder, "dingtalk", None))
        return cls(kind="system", name=holder.name, ram_principal=getattr(holder, "ram_principal", None),
                   webhook=getattr(holder, "webhook", None))


class Delivery(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """How far one certificate (``serial``) got to its holder. Times ISO 8601 UTC."""

    serial: str
    identifier: str
    not_after: str
    fingerprint_sha256: str = ""
    link_sent_at: str | None = None
    token_hash: str | None = None          # sha256 hex of the link's token
    token_expires: str | None = None
    token_used_at: str | None = None
    #: the hashes of this certificate's earlier links, replaced by a newer one (``albmtls resend``,
    #: the reminder): they answer "out of date", not "not valid" (the last :data:`MAX_REPLACED`)
    replaced_token_hashes: tuple[str, ...] = ()
    notified_at: str | None = None         # a system's webhook / a person's chat notice
    downloaded_at: str | None = None
    download_profile: str | None = None
    first_read_at: str | None = None       # a system's first GetSecretValue, where the cloud reports it
    first_read_by: str | None = None
    reminded_at: str | None = None
    operator_warned_at: str | None = None
    retired_at: str | None = None


class Failure(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A notification that could not be delivered (after the retries): channel, what, the code."""

    at: str
    channel: str
    kind: str
    code: str
    message: str = ""


class DeliveryRecord(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """The delivery record of one client (module doc)."""

    v: int = RECORD_VERSION
    common_name: str
    listener_key: str
    holder: HolderRecord | None = None
    deliveries: tuple[Delivery, ...] = ()
    failures: tuple[Failure, ...] = ()

    def entry(self, serial: str) -> Delivery | None:
        """The delivery of certificate ``serial``, if recorded."""
        return next((d for d in self.deliveries if d.serial == serial), None)

    def with_entry(self, d: Delivery) -> DeliveryRecord:
        """This record with ``d`` replacing the entry of its serial (or appended; oldest dropped)."""
        rest = tuple(x for x in self.deliveries if x.serial != d.serial)
        kept = (rest + (d,))[-MAX_DELIVERIES:]
        if any(x.serial == d.serial for x in self.deliveries):
            kept = tuple(d if x.serial == d.serial else x for x in self.deliveries)
        return msgspec.structs.replace(self, deliveries=kept)

    def with_failure(self, f: Failure) -> DeliveryRecord:
        return msgspec.structs.replace(self, failures=(self.failures + (f,))[-MAX_FAILURES:])

    def with_holder(self, holder: HolderRecord | None) -> DeliveryRecord:
        return msgspec.structs.replace(self, holder=holder)


def decode_record(text: str | bytes) -> DeliveryRecord | None:
    """The record in ``text`` or ``None`` when it is not one (unknown fields are ignored)."""
    try:
        return msgspec.json.decode(text, type=DeliveryRecord)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def encode_record(record: DeliveryRecord) -> str:
    """Compact JSON of ``record`` (what the ``…/delivery`` secret stores)."""
    return msgspec.json.encode(record).decode()


def version_id(record: DeliveryRecord, event: str) -> str:
    """A ``VersionId`` for a new version of the record: the event (``link-<serial>``,
    ``remind-<serial>`` …) and a hash of the content, ≤ 64 characters: storing the same content
    for the same event again is recognised as done (``Kms.store_version``)."""
    digest = hashlib.sha256(encode_record(record).encode()).hexdigest()[:16]
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", event)[:47]
    return f"{safe}-{digest}"


# ---------------------------------------------------------------------------------------------
# tokens
# ---------------------------------------------------------------------------------------------
def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def new_token(base: str) -> str:
    """A fresh link token for the client whose secrets are named ``<base>/…`` (module doc)."""
    return f"{_b64(base.encode())}.{_b64(secrets.token_bytes(32))}"


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256 (hex)."""
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def parse_token(token: str) -> str | None:
    """The secret base name (``<prefix>/<listener key>/<cn>``) a well-formed token points at, or
    ``None`` (a malformed token is answered like an unknown one)."""
    m = _TOKEN.match(token or "")
    if not m:
        return None
    loc = m.group("loc")
    try:
        base = base64.urlsafe_b64decode(loc + "=" * (-len(loc) % 4)).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return base if _BASE.match(base) else None


def claim_version(token: str) -> str:
    """The ``VersionId`` that marks ``token`` used (one per token: KMS refuses a second)."""
    return f"used-{token_hash(token)[:40]}"


LinkState = Literal["valid", "used", "expired", "replaced", "unknown", "revoked"]


def link_state(record: DeliveryRecord | None, token: str, now: datetime,
               current_serial: str | None = None) -> tuple[LinkState, Delivery | None]:
    """What a link's token is worth at ``now``: ``valid`` (its delivery is found by the hash, unused
    and not expired), ``used``, ``expired``, ``replaced`` (its certificate is no longer the current
    one, or a newer link was sent for it) or ``unknown`` (no delivery has this hash)."""
    if record is None:
        return "unknown", None
    h = token_hash(token)
    for d in record.deliveries:
        if d.token_hash is not None and hmac.compare_digest(d.token_hash, h):
            if d.token_used_at is not None:
                return "used", d
            if current_serial is not None and d.serial != current_serial:
                return "replaced", d
            if d.token_expires is None or now >= parse_iso(d.token_expires):
                return "expired", d
            return "valid", d
        if any(hmac.compare_digest(r, h) for r in d.replaced_token_hashes):
            return "replaced", d
    return "unknown", None


def with_new_link(d: Delivery, token_digest: str, sent_at: str, expires: str) -> Delivery:
    """``d`` with a new link (its hash, when it was sent, until when it works); an earlier unused
    link's hash moves to ``replaced_token_hashes`` (it then answers "out of date")."""
    replaced = d.replaced_token_hashes
    if d.token_hash and d.token_hash != token_digest:
        replaced = (replaced + (d.token_hash,))[-MAX_REPLACED:]
    return msgspec.structs.replace(d, link_sent_at=sent_at, token_hash=token_digest, token_expires=expires,
                                   token_used_at=None, replaced_token_hashes=replaced)


# ---------------------------------------------------------------------------------------------
# adoption: who switched, reminders, retirement
# ---------------------------------------------------------------------------------------------
def switched_at(record: DeliveryRecord | None, serial: str) -> datetime | None:
    """When the holder took certificate ``serial`` into use, as far as this automation can see:
    its first download (people) or the first read of its secrets (systems, where observed)."""
    d = record.entry(serial) if record is not None else None
    if d is None:
        return None
    times = [parse_iso(t) for t in (d.downloaded_at, d.first_read_at) if t]
    return min(times) if times else None


def reminder_due(record: DeliveryRecord | None, new_serial: str, old_serial: str, old_not_after: datetime,
                 now: datetime) -> bool:
    """The day before the old certificate ends (:data:`REMIND_BEFORE`), a person who has not yet
    downloaded the new one gets one reminder (a new link): pure."""
    if record is None or record.holder is None or record.holder.kind != "person":
        return False
    new, old = record.entry(new_serial), record.entry(old_serial)
    if new is None or switched_at(record, new_serial) is not None:
        return False
    if (new.reminded_at is not None) or (old is not None and old.retired_at is not None):
        return False
    return old_not_after - REMIND_BEFORE <= now < old_not_after


def not_switched_due(record: DeliveryRecord | None, new_serial: str, old_not_after: datetime, now: datetime,
                     within: timedelta) -> bool:
    """The operators are told once when a holder has not switched to ``new_serial`` and the old
    certificate ends within ``within``."""
    if record is None or record.holder is None:
        return False
    new = record.entry(new_serial)
    if new is None or new.operator_warned_at is not None or switched_at(record, new_serial) is not None:
        return False
    return old_not_after - within <= now < old_not_after


AdoptionState = Literal["not_delivered", "link_sent", "notified", "downloaded", "read", "no_holder"]


def adoption(record: DeliveryRecord | None, serial: str) -> dict[str, str | None]:
    """What ``status`` shows per certificate: ``delivery`` (``no_holder``, ``not_delivered``,
    ``link_sent``, ``notified``, ``downloaded``, ``read``) and its times."""
    if record is None or record.holder is None:
        return {"delivery": "no_holder"}
    d = record.entry(serial)
    out: dict[str, str | None] = {"holder": record.holder.name, "holder_kind": record.holder.kind}
    if d is None:
        out["delivery"] = "not_delivered"
        return out
    if d.downloaded_at:
        out["delivery"] = "downloaded"
    elif d.first_read_at:
        out["delivery"] = "read"
    elif d.link_sent_at:
        out["delivery"] = "link_sent"
    elif d.notified_at:
        out["delivery"] = "notified"
    else:
        out["delivery"] = "not_delivered"
    for k in ("link_sent_at", "token_expires", "downloaded_at", "first_read_at", "first_read_by", "reminded_at",
              "retired_at"):
        v = getattr(d, k)
        if v:
            out[k] = v
    return out


def holder_kind(holder: PersonHolder | SystemHolder | None) -> str | None:
    """``person``, ``system`` or ``None`` (no holder) for the input's ``clients[].holder``."""
    return None if holder is None else HolderRecord.of(holder).kind


def exported_to_operator(holder_kind: str | None) -> bool:
    """Whether the CLI writes a client's PFX and password to the operator's ``--out`` directory: only
    for a client without a holder. A person's certificate leaves KMS only through their download page
    (issue 15 point 2); a system reads its own secrets with the RAM policy ``albmtls holder-policy``
    prints (point 3) — a copy on the operator's disk would be one more place the key lives
    (docs/DELIVERY.md "Holders")."""
    return holder_kind is None


def stamp(now: datetime) -> str:
    """ISO 8601 UTC of ``now`` (the record's time format)."""
    return iso_utc(now)

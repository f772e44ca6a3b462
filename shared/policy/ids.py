"""Certificate identifiers, ALB ``ClientToken``s and execution names.

One type, :class:`CertificateId`, parses every form the APIs use and renders the one each wants:

===========================  =========================  ======================  ================
input                        kind                       ``for_alb()``           ``for_cas()``
===========================  =========================  ======================  ================
``123`` / ``"123"``          CAS certificate            ``123-<site region>``   ``123``
``"123-cn-hangzhou"``        CAS certificate + site     ``123-cn-hangzhou``     ``123``
``"8c3e…1c42"`` / UUID       PCA CA certificate         see :func:`alb_ca_id`   error
``"own/demo"``               own CA (KMS keys)          its upload's id         error
===========================  =========================  ======================  ================

The ALB wants ``<CAS id>-<site region>`` for server certificates (the *site* — ``cn-hangzhou``
on the China site, ``ap-southeast-1`` on the International site — not the ALB's region); CAS wants
the integer. Mixing them up is a classic failure, so adapters never format ids by hand.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from shared.core.errors import InvalidInputError

__all__ = ["CertificateId", "SecretNames", "CaIdForm", "ResolvedCa", "alb_ca_id", "is_uuid", "client_token",
           "execution_name", "listener_key", "secret_names", "split_listener_key", "holder_uri", "desired_state_name",
           "parse_desired_state_name", "custom_identifier", "parse_custom_identifier",
           "custom_identifier_matches_listener"]

CUSTOM_ID_PREFIX = "albmtls-"
CUSTOM_ID_MAX = 64                 # PCA CustomIdentifier length limit (local cloud; real one undocumented)

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_CAS_PLAIN = re.compile(r"^[0-9]{1,19}$")
_CAS_SITE = re.compile(r"^([0-9]{1,19})-([a-z]{2,}(?:-[a-z0-9]+)+)$")
# PCA identifiers: 32 hex (Identifier of older CAs and of the local cloud) or a UUID (CertIdentifier,
# current Identifiers; docs/ALIBABA-APIS.md §1.15); accept similar opaque tokens (letters/digits,
# optional '-'/'_' inside), as long as they are not one of the CAS forms above.
_PCA = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_-]{6,126})[A-Za-z0-9]$")
_MAX_CAS_ID = 2**63 - 1
# what a copied PCA id looks like: hex digits, maybe with hyphens (a UUID), in either case
_HEXISH = re.compile(r"^[0-9a-fA-F][0-9a-fA-F-]{14,48}[0-9a-fA-F]$")


def _hex_identifier(text: str, field: str) -> str | None:
    """A PCA id made of hex digits: a 32-hex ``Identifier`` or a UUID ``CertIdentifier`` in lower case
    (hex has no case; the cloud answers in lower case). Hex of nearly 32 digits, or a UUID whose
    groups are not 8-4-4-4-12, is a copy cut short or run together: ``InvalidInputError`` saying so.
    ``None``: another opaque token (left to the general form)."""
    digits = text.replace("-", "")
    if "-" not in text and len(text) == 32:
        return text.lower()
    if _UUID.match(text):
        return text.lower()
    if not (28 <= len(digits) <= 36 and ("-" not in text or text.count("-") >= 3)):
        return None
    if "-" in text:
        groups = "-".join(str(len(g)) for g in text.split("-"))
        raise InvalidInputError(field, f"{text[:80]!r} looks like a PCA CertIdentifier (a UUID) but its groups have "
                                f"{groups} hex digits, not 8-4-4-4-12: copy it again from ListPcaCaCertificate (the "
                                "console's CA details)")
    raise InvalidInputError(field, f"{text[:80]!r} has {len(digits)} hex digits; a PCA Identifier has 32 (a "
                            "CertIdentifier is a UUID, 8-4-4-4-12): copy it again from DescribeCACertificateList (the "
                            "console's CA details)")
# an own CA: own/<name>, own/<name>/g<generation>, own/<name>/<serial> (shared.policy.ownca)
_OWN = re.compile(r"^own/[a-z][a-z0-9-]{0,30}[a-z0-9](?:/(?:g[0-9]{1,6}|[0-9a-f]{1,40}))?$")


CaIdForm = Literal["cert_identifier", "identifier"]


@dataclass(frozen=True, slots=True)
class ResolvedCa:
    """A private CA named by the user, resolved (``shared.adapters.pca.Pca.resolve_ca``) into both
    of its identifiers: ``identifier`` (the ``Identifier`` of ``DescribeCACertificateList``, which
    every PCA action takes) and ``cert_identifier`` (the UUID ``CertIdentifier`` of
    ``ListPcaCaCertificate``; ``None`` when it was not looked up or not found). On a real account
    the two may be the same string."""

    identifier: str
    cert_identifier: str | None = None


def alb_ca_id(ca: ResolvedCa, form: CaIdForm) -> str:
    """The ``CaCertificates.N.CertificateId`` the ALB wants for a private CA, in ``form``
    (``Settings.alb_ca_id_form``: ``ALBMTLS_ALB_CA_ID_FORM``).

    UNSETTLED (docs/ALIBABA-APIS.md §1.15 and §5.1): the only real-account evidence (the Terraform
    alicloud ALB listener acceptance test) passes UUID-shaped ids, the shape of ``CertIdentifier``
    — the default. The id is passed unchanged (no ``-<site region>`` suffix). Raises
    ``AlbMtlsError(CA_NOT_FOUND)`` when ``form`` is ``cert_identifier`` and the CA has none.
    """
    if form == "identifier":
        return ca.identifier
    if not ca.cert_identifier:
        from shared.core.errors import AlbMtlsError, Code
        raise AlbMtlsError(Code.CA_NOT_FOUND, f"the private CA {ca.identifier!r} has no CertIdentifier in "
                           "ListPcaCaCertificate, which ALB's CaCertificates takes (ALBMTLS_ALB_CA_ID_FORM="
                           "cert_identifier); give the sub-CA's CertIdentifier as `ca_identifier`, or set "
                           "ALBMTLS_ALB_CA_ID_FORM=identifier if your account's ALB takes the Identifier "
                           "(albmtls doctor checks which)", field="ca_identifier")
    return ca.cert_identifier


@dataclass(frozen=True, slots=True)
class CertificateId:
    """A parsed certificate id. Build with :meth:`parse`; compare, hash and ``str()`` freely.

    Attributes: ``kind`` (``"cas"`` or ``"pca"``), ``cas_id`` (int, CAS only), ``site_region``
    (CAS suffix or ``None``), ``identifier`` (PCA only). ``str()`` gives the canonical form that
    :meth:`parse` accepts again (round trip).
    """

    kind: Literal["cas", "pca", "own"]
    cas_id: int | None = None
    site_region: str | None = None
    identifier: str | None = None

    @classmethod
    def parse(cls, value: str | int, *, field: str = "certificate_id") -> CertificateId:
        """Parse ``123``, ``"123"``, ``"123-cn-hangzhou"`` or a PCA identifier.

        Raises ``InvalidInputError`` (``INVALID_INPUT``, naming ``field``) for anything else
        (empty, whitespace, negative, zero, too long, bad characters, bools).
        """
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise InvalidInputError(field, f"expected a certificate id string, got {type(value).__name__}")
        if isinstance(value, str) and _UUID.match(value):     # before the CAS forms: "12345678-…" is a UUID
            return cls("pca", identifier=value.lower())       # hex: the cloud's own form is lower case
        if isinstance(value, str) and _OWN.match(value):      # an own CA (shared.policy.ownca): own/<name>[/…]
            return cls("own", identifier=value)
        if isinstance(value, int):
            if not 0 < value <= _MAX_CAS_ID:
                raise InvalidInputError(field, f"CAS certificate id must be a positive integer, got {value}")
            return cls("cas", cas_id=value)
        text = value
        if text != text.strip() or not text:
            raise InvalidInputError(field, "certificate id must be non-empty without surrounding spaces")
        if _CAS_PLAIN.match(text):
            n = int(text)
            if not 0 < n <= _MAX_CAS_ID or text.startswith("0"):
                raise InvalidInputError(field, f"CAS certificate id must be a positive integer without leading "
                                        f"zeros, got {text!r}")
            return cls("cas", cas_id=n)
        m = _CAS_SITE.match(text)
        if m:
            n = int(m.group(1))
            if not 0 < n <= _MAX_CAS_ID or m.group(1).startswith("0"):
                raise InvalidInputError(field, f"CAS certificate id must be a positive integer, got {text!r}")
            return cls("cas", cas_id=n, site_region=m.group(2))
        if re.match(r"^[0-9]+-", text):
            raise InvalidInputError(field, f"{text[:80]!r} looks like a CAS id with a malformed site region; use "
                                    "'<id>-<site region>' in lower case, e.g. '123-cn-hangzhou'")
        hexed = _hex_identifier(text, field) if _HEXISH.match(text) and not text.isdigit() else None
        if hexed is not None:
            return cls("pca", identifier=hexed)
        if _PCA.match(text) and not text.isdigit():
            return cls("pca", identifier=text)
        raise InvalidInputError(field, f"{text[:80]!r} is not a certificate id: use a CAS id ('123' or "
                                "'123-cn-hangzhou') or a private CA Identifier (32 hex characters)")

    @property
    def is_cas(self) -> bool:
        """True for a CAS (2020-04-07) certificate id."""
        return self.kind == "cas"

    @property
    def is_own(self) -> bool:
        """True for an own CA (``own/<name>``, ``own/<name>/g<gen>``; ``shared.policy.ownca``)."""
        return self.kind == "own"

    @property
    def own_name(self) -> str | None:
        """The own CA's name (``None`` for other kinds)."""
        return (self.identifier or "").split("/")[1] if self.kind == "own" else None

    @property
    def is_pca(self) -> bool:
        """True for a PCA (2020-06-30) CA Identifier."""
        return self.kind == "pca"

    def for_alb(self, site_region: str = "cn-hangzhou") -> str:
        """The server certificate id the ALB wants: ``<cas id>-<site region>`` (own suffix if parsed
        with one, else ``site_region`` — pass ``settings.cas_site_region``). A private CA's id for
        ALB comes from :func:`alb_ca_id` once resolved; raises ``InvalidInputError`` here."""
        if self.kind == "cas":
            return f"{self.cas_id}-{self.site_region or site_region}"
        raise InvalidInputError("certificate_id", f"{self} is a private CA identifier, not a server certificate id")

    def for_cas(self) -> int:
        """The CAS integer id. Raises ``InvalidInputError`` for a PCA identifier (it has none)."""
        if self.kind != "cas" or self.cas_id is None:
            raise InvalidInputError("certificate_id", f"{self} is a private CA Identifier, not a CAS certificate id")
        return self.cas_id

    def for_pca(self) -> str:
        """The PCA ``Identifier``. Raises ``InvalidInputError`` for a CAS id."""
        if self.kind != "pca" or not self.identifier:
            what = "an own CA" if self.kind == "own" else "a CAS certificate id"
            raise InvalidInputError("ca_identifier", f"{self} is {what}, not a private CA Identifier")
        return self.identifier

    def __str__(self) -> str:
        if self.kind == "cas":
            return f"{self.cas_id}-{self.site_region}" if self.site_region else str(self.cas_id)
        return self.identifier or ""


def is_uuid(value: str) -> bool:
    """True for a UUID-shaped id (``8-4-4-4-12`` hex digits): a ``CertIdentifier`` or current ``Identifier``."""
    return bool(_UUID.match(value or ""))


def listener_key(load_balancer_id: str, port: int) -> str:
    """``<load_balancer_id>-<port>``: the unit of "one writer at a time" and of secret names."""
    return f"{load_balancer_id}-{port}"


@dataclass(frozen=True, slots=True)
class SecretNames:
    """The KMS secret names of one client certificate (the only place they are built):
    ``<secret prefix>/<listener key>/<common name>/{pfx,password,meta,access,delivery}`` — the
    PKCS#12, its password, and the non-secret records (``shared.policy.records``: ``CertMeta`` of the
    certificate, ``AccessRecord`` of the holder's access; ``shared.policy.delivery.DeliveryRecord``:
    holder, links as hashes, downloads, reminders)."""

    pfx: str
    password: str
    meta: str
    access: str
    delivery: str

    @property
    def key_material(self) -> tuple[str, str]:
        """The secrets a revocation schedules for deletion (the records stay)."""
        return (self.pfx, self.password)


def secret_names(secret_prefix: str, listener_key: str, common_name: str) -> SecretNames:
    """:class:`SecretNames` of client ``common_name`` on listener ``listener_key``."""
    base = f"{secret_prefix}/{listener_key}/{common_name}/"
    return SecretNames(pfx=base + "pfx", password=base + "password", meta=base + "meta", access=base + "access",
                       delivery=base + "delivery")


def split_listener_key(listener_key: str) -> tuple[str, int] | None:
    """``alb-xxx-443`` → ``("alb-xxx", 443)``; ``None`` when it is not ``<load balancer id>-<port>``."""
    lb, _, port = listener_key.rpartition("-")
    return (lb, int(port)) if lb.startswith("alb-") and port.isdigit() else None


HOLDER_URI_SCHEME = "albmtls"


def holder_uri(listener_key: str, common_name: str) -> str:
    """The URI SAN every issued certificate carries: ``albmtls://<alb id>/<port>/<cn>`` — the
    listener it was issued for and its holder, so a backend (or anything that sees the
    certificate) can tell a certificate meant for another listener under the same CA apart."""
    parts = split_listener_key(listener_key)
    if parts is None:
        raise InvalidInputError("listener_key", f"{listener_key!r} is not '<load balancer id>-<port>'")
    return f"{HOLDER_URI_SCHEME}://{parts[0]}/{parts[1]}/{common_name}"


#: the last path part of a listener's desired-state record (``shared.policy.desired``); a client's
#: secrets always end in ``/pfx``, ``/password`` or ``/meta``, so a client named ``desired`` cannot clash
DESIRED_STATE_LEAF = "desired"


def desired_state_name(secret_prefix: str, listener_key: str) -> str:
    """``<secret prefix>/<listener key>/desired``: the KMS secret holding the listener's desired state
    (``shared.policy.desired.DesiredState``; docs/ARCHITECTURE.md "stored records")."""
    return f"{secret_prefix}/{listener_key}/{DESIRED_STATE_LEAF}"


_DESIRED_RE = re.compile(r"^(?P<prefix>[A-Za-z0-9_+=.@-]{1,64})/(?P<key>alb-[a-z0-9]{1,64}-[0-9]{1,5})/"
                         + DESIRED_STATE_LEAF + "$")


def parse_desired_state_name(name: str) -> tuple[str, str] | None:
    """``(secret prefix, listener key)`` of a :func:`desired_state_name`, else ``None``."""
    m = _DESIRED_RE.match(name or "")
    return (m.group("prefix"), m.group("key")) if m else None


def client_token(*parts: object) -> str:
    """A deterministic ALB ``ClientToken`` (≤ 64 ASCII chars) from (execution, step, resource, …).

    Same parts → same token, so a retried write is applied once. ``None`` parts are rendered as
    ``-``. Returns ``"albmtls-" + 56 hex chars``.
    """
    raw = "\x1f".join("-" if p is None else str(p) for p in parts)
    return "albmtls-" + hashlib.sha256(raw.encode()).hexdigest()[:56]


def execution_name(key: str, at: datetime) -> str:
    """CloudFlow execution name ``<listener key>-<UTC yyyymmddThhmmssZ>`` (≤ 128 chars, [A-Za-z0-9_-])."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC)
    stamp = at.strftime("%Y%m%dT%H%M%SZ")
    safe = re.sub(r"[^A-Za-z0-9_-]", "-", key)[: 127 - len(stamp)]
    return f"{safe}-{stamp}"


# ---------------------------------------------------------------------------------------------
# PCA CustomIdentifier of the client certificates this automation issues
# ---------------------------------------------------------------------------------------------
def _listener_ref(listener_key: str) -> str:
    """The listener key itself when it fits the CustomIdentifier, else ``h`` + 16 hex of its hash."""
    if len(CUSTOM_ID_PREFIX) + len(listener_key) + 13 <= CUSTOM_ID_MAX:
        return listener_key
    return "h" + hashlib.sha256(listener_key.encode()).hexdigest()[:16]


def custom_identifier(listener_key: str, seed: str, cn: str, n: int = 0) -> str:
    """``albmtls-<listener key>-<12 hex of sha256(seed, cn[, n])>`` (≤ 64 chars; a listener key too long
    for that is replaced by ``h<16 hex of its sha256>``). ``seed``: the execution name, or the request
    id when there is none; ``n`` > 0 after an identifier was taken by a certificate whose key is lost."""
    raw = f"{seed}\x1f{cn}" + (f"\x1f{n}" if n else "")
    return f"{CUSTOM_ID_PREFIX}{_listener_ref(listener_key)}-{hashlib.sha256(raw.encode()).hexdigest()[:12]}"


_CUSTOM_ID_RE = re.compile(r"^albmtls-(.+)-([0-9a-f]{12})$")


def parse_custom_identifier(value: str | None) -> str | None:
    """The listener reference (listener key, or ``h<hash>``) of a CustomIdentifier this automation
    made; ``None`` for anything else. Compare with :func:`custom_identifier_matches_listener`."""
    m = _CUSTOM_ID_RE.match(value or "")
    return m.group(1) if m else None


def custom_identifier_matches_listener(value: str | None, listener_key: str) -> bool:
    """True when ``value`` is a CustomIdentifier this automation made for ``listener_key``."""
    ref = parse_custom_identifier(value)
    return ref is not None and ref == _listener_ref(listener_key)

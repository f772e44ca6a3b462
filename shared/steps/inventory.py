"""The certificate inventory: one row per certificate the private CA lists (``albmtls inventory``,
``GET /inventory``), read from the cloud only — so it is right on a fresh machine.

Sources: PCA ``ListClientCertificate`` (every page; the rows), each listener's recorded desired
state (KMS, ``shared.steps.desired``: which common names the listener should have, and their
holders), each current certificate's ``…/meta`` record (``shared.policy.records.CertMeta``:
superseded or not, its ``renew_before``) and each holder's ``…/access`` record
(``shared.policy.records.AccessRecord``: orphaned, or revoked with its reason). The state is the one
classification the rotation and ``status`` use (``shared.policy.rotation.classify``: ``valid``,
``due``, ``superseded``, ``orphaned``, ``revoked``, ``expired``); a valid or due certificate of a
common name that its listener's recorded desired state no longer lists is ``orphaned`` too (left the
input before any run marked it). A revoked row carries ``revocation_reason`` (JSON) when the
revocation was this automation's (the private CA keeps no reason). Certificates this automation did
not issue are listed too, without a listener.

Read-only. Memory: one PCA page, the records of the listeners, and bounded caches of ``meta`` and
``access``.
"""
from __future__ import annotations

import csv
import io
from collections import OrderedDict
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from shared.adapters.kms import Kms
from shared.core.clock import iso_utc
from shared.core.errors import AlbMtlsError
from shared.policy.ids import secret_names
from shared.policy.rotation import classify, shown_state

if TYPE_CHECKING:  # pragma: no cover
    from shared.policy.records import AccessRecord, CertMeta
    from shared.steps.context import StepContext

__all__ = ["COLUMNS", "InventoryRow", "Inventory", "inventory", "inventory_report", "to_csv", "csv_cell"]

#: the columns, in order (CSV header, table)
COLUMNS = ("holder", "common_name", "listener", "serial", "fingerprint_sha256", "not_before", "not_after",
           "days_left", "state", "ca", "identifier")
META_CACHE = 1024


class InventoryRow(msgspec.Struct, kw_only=True):
    """One certificate (times ISO 8601 UTC; ``days_left`` to ``not_after``, one decimal, negative when
    ended). ``listener``: ``<alb id>-<port>`` (``None`` for certificates this automation did not
    issue); ``holder``: from the listener's desired state (the client's ``holder``), when given;
    ``ca``: the issuing CA's PCA ``Identifier``; ``revocation_reason``: from the holder's access
    record (JSON only; not a CSV column)."""

    holder: str | None = None
    common_name: str | None = None
    listener: str | None = None
    serial: str = ""
    fingerprint_sha256: str | None = None
    not_before: str | None = None
    not_after: str | None = None
    days_left: float | None = None
    state: str = "valid"
    ca: str | None = None
    identifier: str = ""
    revocation_reason: str | None = None


class Inventory(msgspec.Struct, kw_only=True):
    """``now``, the ``rows`` (the private CA's listing order) and ``counts`` per state; ``listed`` = the
    certificates the CA listed (= rows)."""

    now: str
    listed: int
    counts: dict[str, int]
    rows: list[InventoryRow]


def _holder(client: dict[str, Any] | None) -> str | None:
    """A client spec's holder as one string: ``name <email>``, a name, or a plain string."""
    h = (client or {}).get("holder")
    if isinstance(h, str):
        return h or None
    if isinstance(h, dict):
        name, email = h.get("name"), h.get("email")
        if name and email:
            return f"{name} <{email}>"
        return str(name or email or h.get("ram_principal") or "") or None
    return None


def _fingerprint(cert: Any) -> str | None:
    if cert.sha256:
        return str(cert.sha256)
    if cert.cert_pem:
        from shared.policy import pki
        try:
            return str(pki.fingerprint_sha256(pki.load_certificate(cert.cert_pem, field="cert_pem")))
        except AlbMtlsError:
            return None
    return None


def _desired_clients(ctx: StepContext, prefix: str) -> dict[str, dict[str, dict[str, Any]]]:
    """listener key → common name → client spec, from every recorded desired state."""
    from shared.steps.desired import list_desired, read_desired

    kms = ctx.adapter(Kms)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for key in list_desired(kms, prefix):
        rec = read_desired(kms, prefix, key, strict=False)
        if rec is not None:
            out[key] = {c["common_name"]: c for c in rec.input.get("clients") or []
                        if isinstance(c, dict) and c.get("common_name")}
    return out


def inventory(ctx: StepContext, secret_prefix: str) -> Inventory:
    """The inventory (module doc). Raises ``AlbMtlsError`` when the CA or KMS cannot be read."""
    from shared.steps.issuance import read_meta
    from shared.steps.offboarding import read_access
    from shared.steps.rotation import iter_listed

    now = ctx.clock.now()
    desired = _desired_clients(ctx, secret_prefix)
    metas: OrderedDict[tuple[str, str], CertMeta | None] = OrderedDict()
    accesses: OrderedDict[tuple[str, str], AccessRecord | None] = OrderedDict()

    def meta(listener: str, cn: str) -> CertMeta | None:
        k = (listener, cn)
        if k not in metas:
            metas[k] = read_meta(ctx, secret_names(secret_prefix, listener, cn).meta)
            if len(metas) > META_CACHE:
                metas.popitem(last=False)
        return metas[k]

    def access(listener: str, cn: str) -> AccessRecord | None:
        k = (listener, cn)
        if k not in accesses:
            accesses[k] = read_access(ctx, secret_names(secret_prefix, listener, cn).access)
            if len(accesses) > META_CACHE:
                accesses.popitem(last=False)
        return accesses[k]

    rows: list[InventoryRow] = []
    for cert in iter_listed(ctx, prefix=secret_prefix):
        c = classify(cert, None, None, now)
        state: str = c.state
        cn = cert.common_name or ""
        listener = c.listener_key
        held = access(listener, cn) if c.ours and listener is not None and cn and state in (
            "valid", "due", "revoked") else None
        if c.ours and listener is not None and state in ("valid", "due"):
            c = classify(cert, meta(listener, cn), None, now, held)
            state = c.state
            wanted = desired.get(listener)
            if wanted is not None and cn not in wanted and state in ("valid", "due"):
                state = "orphaned"
        state = shown_state(state, cert.not_before, now)
        reason = held.revocation.reason if state == "revoked" and held is not None and held.revocation else None
        client = desired.get(c.listener_key or "", {}).get(cn) if c.ours else None
        rows.append(InventoryRow(
            holder=_holder(client), common_name=cert.common_name, listener=c.listener_key if c.ours else None,
            serial=cert.serial, fingerprint_sha256=_fingerprint(cert),
            not_before=iso_utc(cert.not_before) if cert.not_before else None,
            not_after=iso_utc(cert.not_after) if cert.not_after else None,
            days_left=round((cert.not_after - now) / timedelta(days=1), 1) if cert.not_after else None,
            state=state, ca=cert.parent_identifier, identifier=cert.identifier, revocation_reason=reason))
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.state] = counts.get(r.state, 0) + 1
    return Inventory(now=iso_utc(now), listed=len(rows), counts=dict(sorted(counts.items())), rows=rows)


def inventory_report(settings: Any, secret_prefix: str | None = None) -> dict[str, Any]:
    """:func:`inventory` as a JSON document (CLI, HTTP API)."""
    from shared.steps.rotation import make_context

    prefix = secret_prefix or getattr(settings, "secret_prefix", None) or "albmtls"
    doc: dict[str, Any] = msgspec.to_builtins(inventory(make_context(settings, "inventory"), prefix))
    return doc


#: a text cell starting with one of these is read as a formula by spreadsheet programs
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> object:
    """``value`` as a CSV cell a spreadsheet shows as text: a string starting with ``= + - @``, a TAB
    or a CR gets a leading single quote (OWASP "CSV Injection": a holder named ``=HYPERLINK(…)`` is
    otherwise a live formula); numbers stay numbers (a negative ``days_left`` is data)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def to_csv(doc: dict[str, Any]) -> str:
    """The rows of an inventory document as CSV (header :data:`COLUMNS`, RFC 4180 quoting; text cells
    through :func:`csv_cell`)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(COLUMNS)
    for r in doc["rows"]:
        w.writerow([csv_cell(r.get(col)) for col in COLUMNS])
    return buf.getvalue()

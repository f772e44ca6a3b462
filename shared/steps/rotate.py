"""The rotation order (``kind: rotate``) in the issuing lane: scan, renew, retire — one pass.

The head of the lane (``shared.steps.issuer``) pages through ``ListClientCertificate`` (100 per
page, the next page read while this one is handled, so the scan runs at the lane's rate even 300 ms
away from the API) and decides per certificate with the one classification
(``shared.policy.rotation.classify``):

* **due** — renewed at once: same CN, SANs, profile, days and sub-CA as its record, a new key; the
  PFX, password and record get new versions named by the new serial, and the new record already
  lists the certificate it replaces (``supersedes``, with its retirement time) — three KMS writes,
  one PCA call. The listing says everything the renewal needs of the old certificate (status,
  serial, end): nothing is read again. A certificate whose CN has no record (not issued by this
  automation under this secret prefix) is counted as ``unmanaged`` and left alone.
* **superseded and due for retirement** — its holder switched to the replacement (first download
  or secret read, the CN's ``…/delivery`` record: ``shared.policy.delivery``), or its grace is over
  (``revoke_old`` ``after_grace`` / ``immediately``, or its record's marker), whichever comes first;
  once its replacement is stored, issued and valid, never the CN's current certificate. Retiring
  revokes (``CreateRevokeClientCertificate``, or an own CA's revocation list) only when a revocation
  is asked; by default the certificate is recorded retired in its delivery record and expires
  naturally: no revocation at all.

The holders (``shared.steps.deliver``): each renewal is delivered once its secrets are stored (a
person gets a new one-time download link, a system its webhook; a failing channel never fails the
order — one KMS read of the CN's delivery record per renewal, in the slice's pool); a replaced
certificate's holder is reminded the day before it ends and the operators are told once when a
holder has not switched; the scan's sub-CA and server certificate warnings, and a failed order, go
to the operators' channels.

An own CA's certificates (``shared.steps.issuers``: their ``…/meta`` records, its revocation list)
are scanned after the private CA's pages — the own CAs under the prefix are looked up while the
pages are read — and renewed the same way, signed through KMS (``AsymmetricSign``) at the lane's
share of KMS's quota.

A holder that left the listener's input (``orphaned``) or was revoked (``shared.steps.offboarding``)
is never renewed: the holder's ``…/access`` record is read beside the ``…/meta`` record of each due
certificate (one KMS read more per renewal), and such certificates are counted (``orphaned``,
``skipped_revoked``) and named in a warning. A revocation that runs while a renewal issues ends
with that certificate revoked too: after each renewal its holder's record is read again
(``shared.steps.offboarding.enforce_revocation``; one KMS read, in the slice's pool).

A page is done when its renewals and retirements are; the cursor is the next page. A renewal
whose certificate was issued in a crashed slice is continued with the logged key
(``shared.policy.keylog``); a certificate already renewed reads as ``superseded`` (its record names
the new one). Per-certificate failures are counted and the order fails with the first code after
every other certificate was handled — the next day's order retries them.

One module (~600 lines): the scan, the renewals, the retirements and the holders' follow-ups share
one slice (its pool, its record caches, its cursor) and one classification, read together.

Over 600 lines (618): scan, renew and retire are one pass over each page of the listing and share
its per-slice state; delivery and retirement are the parts to move out next (a follow-up).
"""
from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from shared.adapters import pca as pca_api
from shared.adapters.pca import LIST_PAGE_SIZE
from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, TransientError
from shared.policy import renewal
from shared.policy.contracts import ClientSpec
from shared.policy.ids import secret_names
from shared.policy.orders import Cursor, Retired, RotateOrder
from shared.policy.records import CertMeta, SupersededEntry
from shared.policy.rotation import Classification, RevokeOld, ScanPolicy, classify, revoke_asked
from shared.steps.engine import Done, Engine, Job, Target
from shared.steps.issuance import read_meta
from shared.steps.issuers import OwnCa, issued_statuses, issuer_for_identifier
from shared.steps.offboarding import read_access

if TYPE_CHECKING:  # pragma: no cover
    from shared.steps.context import StepContext
    from shared.steps.issuer import Lane

__all__ = ["META_CACHE", "MAX_WARNED_LISTENERS", "SERVER_CERT_WARN_DAYS", "rotate_slice", "retire_after"]

META_CACHE = 4096                   # (listener, cn) records kept during a slice: bounded memory
MAX_WARNED_LISTENERS = 100          # listeners whose server certificate is checked per rotation
SERVER_CERT_WARN_DAYS = 30
READ_WORKERS = 24                   # records read at once: a group in one round trip
PAGES_AHEAD = 3                     # list pages in flight: 3 × 105 ms covers a 300 ms round trip
RECORD_GROUP = 24


def retire_after(revoke_old: RevokeOld, revoke_after_days: int | None, old_not_after: datetime,
                 now: datetime) -> tuple[datetime, bool]:
    """When a replaced certificate may be retired, and whether it is to be revoked then (pure)."""
    if revoke_old == "immediately":
        return now, True
    if revoke_old == "after_grace":
        return min(old_not_after, now + timedelta(days=revoke_after_days or 0)), True
    return old_not_after, False


class _Records:
    """The CNs' records read during a slice (bounded LRU; a renewal puts the new one back):
    ``read`` is ``read_meta`` (``…/meta``) or ``read_access`` (the holder's ``…/access``)."""

    def __init__(self, ctx: StepContext, prefix: str, kind: str = "meta") -> None:
        self.ctx, self.prefix, self.kind = ctx, prefix, kind
        self.items: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.reads = 0

    def _read(self, key: tuple[str, str]) -> Any:
        names = secret_names(self.prefix, *key)
        if self.kind == "access":
            return read_access(self.ctx, names.access)
        return read_meta(self.ctx, names.meta)

    def fetch(self, keys: list[tuple[str, str]], pool: ThreadPoolExecutor) -> None:
        missing = [k for k in dict.fromkeys(keys) if k not in self.items]
        values = pool.map(self._read, missing)
        for k, value in zip(missing, values, strict=True):
            self.put(k, value)
        self.reads += len(missing)

    def get(self, key: tuple[str, str]) -> Any:
        self.items.move_to_end(key)
        return self.items[key]

    def put(self, key: tuple[str, str], value: Any) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        while len(self.items) > META_CACHE:
            self.items.popitem(last=False)


def _renewal(cert: pca_api.ClientCertificate, meta: CertMeta, listener_key: str, policy: ScanPolicy,
             now: datetime) -> Job:
    client = ClientSpec(common_name=meta.common_name, sans=tuple(meta.sans), days=meta.days, profile=meta.profile,
                        renew_before_days=meta.renew_before_days)
    old_end = cert.not_after or parse_iso(meta.not_after)
    at, revoke = retire_after(policy.effective_revoke, policy.revoke_after_days, old_end, now)
    entry = SupersededEntry(identifier=cert.identifier, serial=cert.serial, not_after=iso_utc(old_end),
                            superseded_at=iso_utc(now), superseded_by="", retire_after=iso_utc(at), revoke=revoke)
    return Job(target=Target(listener_key, meta.ca, policy.secret_prefix), client=client, index=0,
               reason="due", replaces=meta, supersede=entry)


def _warn_ca(engine: Engine, ca_ident: str, lifetime: timedelta, prefix: str, cursor: Cursor) -> None:
    now = engine.now()
    try:
        view = engine.ca(Target("", ca_ident, prefix))
    except AlbMtlsError as exc:
        cursor.warn({"kind": "ca", "ca_identifier": ca_ident, "level": "warning", "code": exc.code,
                     "message": f"the issuing sub-CA could not be used: {exc.message}"})
        return
    end = view.ca.not_after
    if view.subscription_end is not None and (end is None or view.subscription_end < end):
        end = view.subscription_end
    w = renewal.ca_warning(end, lifetime, lifetime / 3, now) if end is not None else None
    if w is not None:
        cursor.warn({"kind": "ca", "ca_identifier": ca_ident, "level": w.level, "message": w.message,
                     "not_after": iso_utc(end) if end is not None else None})


def _warn_listener(ctx: StepContext, listener_key: str, now: datetime, cursor: Cursor) -> None:
    from shared.steps.rotation import listener_view

    v = listener_view(ctx, listener_key, with_ca=False)
    end = v.get("server_certificate_not_after")
    if end and parse_iso(end) <= now + timedelta(days=SERVER_CERT_WARN_DAYS):
        left = (parse_iso(end) - now) / timedelta(days=1)
        cursor.warn({"kind": "server_certificate", "listener_key": listener_key,
                     "level": "critical" if left <= 0 else "warning",
                     "certificate_id": v.get("server_certificate_id"), "not_after": end,
                     "message": f"the server certificate of listener {listener_key} ends {end} "
                                f"({max(0.0, left):.0f} days); renew it in CAS and update the listener"})


class _Holder(NamedTuple):
    """A replaced certificate as its holder's delivery record shows it: its classification with the
    switch and the retirement taken into account, whether the record exists, and what the follow-up
    did (a reminder, the operators told, the writes)."""

    k: Classification
    record: bool
    reminded: bool = False
    warned: bool = False
    writes: int = 0


class _Slice:
    """One slice of a rotation order (module doc)."""

    def __init__(self, ctx: StepContext, engine: Engine, order: RotateOrder, cursor: Cursor, lane: Lane) -> None:
        self.ctx, self.engine, self.policy, self.cursor, self.lane = ctx, engine, order.policy, cursor, lane
        self.now = engine.now()
        self.records = _Records(engine.ctx, self.policy.secret_prefix)
        self.access = _Records(engine.ctx, self.policy.secret_prefix, kind="access")
        self.pool: ThreadPoolExecutor | None = None
        # the scan's summary inputs: the CAs' longest lifetimes; each listener's server certificate is
        # looked at (ALB, CAS) in the background the first time one of its certificates is listed
        self.cas: dict[str, timedelta] = {}
        self.listeners: dict[str, Any] = {}
        self._cfg: Any = None
        self._cfg_lock = threading.Lock()
        self.own_cas: Future[list[str]] | None = None     # the own CAs under the prefix (looked up once)
        from shared.steps.reads import WaitingForReads
        # system holders waiting for their switch: their first read of the new secrets (ActionTrail)
        self.waiting = WaitingForReads(engine.ctx, self.policy.secret_prefix)

    def cfg(self) -> Any:
        """The notification configuration (``shared.steps.deliver.load_config``), read once per slice."""
        with self._cfg_lock:
            if self._cfg is None:
                from shared.steps.deliver import load_config
                self._cfg = load_config(self.engine.ctx, self.policy.secret_prefix)
            return self._cfg

    def holder(self, cert: pca_api.ClientCertificate, meta: CertMeta, lk: str) -> _Holder:
        """A superseded certificate through its CN's delivery record (a pool thread): the holder's
        reminder and the operators' "not switched" notice when due, then the classification with
        ``switched_at`` (retire it) and ``retired`` (recorded retired: it expires naturally)."""
        from shared.policy.delivery import switched_at
        from shared.steps.deliver import follow_up, read_record

        ctx, p = self.engine.ctx, self.policy
        names = secret_names(p.secret_prefix, lk, cert.common_name or "")
        rec = read_record(ctx, names)
        if rec is None or rec.holder is None:
            return _Holder(classify(cert, meta, p, self.now), rec is not None)
        old = rec.entry(cert.serial)
        done: dict[str, Any] = {}
        if old is None or not old.retired_at:
            assert cert.not_after is not None
            done = follow_up(ctx, self.cfg(), p.secret_prefix, lk, cert.common_name or "", meta, cert.serial,
                             cert.not_after, self.now)
            if done.get("writes"):
                rec = read_record(ctx, names) or rec
        k = classify(cert, meta, p, self.now, switched_at=switched_at(rec, meta.serial),
                     retired=bool(old is not None and old.retired_at))
        self.waiting.consider(k, cert, meta, lk, rec)
        return _Holder(k, True, bool(done.get("reminded")), bool(done.get("warned")), int(done.get("writes") or 0))

    def fetch(self, page: int) -> tuple[list[pca_api.ClientCertificate], bool, int | None]:
        """One ``ListClientCertificate`` page (a pool thread): items, whether one follows, total."""
        return self.engine.ctx.adapter(pca_api.Pca).client_certificate_page(page)

    def account(self, page: int, items: list[pca_api.ClientCertificate], more: bool, total: int | None) -> bool:
        """Whether another page is needed after ``page``: one follows, and not every certificate that
        was listed when the scan began has been seen yet (those this order issued since are
        skipped: in whatever order the list keeps them, they come on top of the ``TotalCount`` of
        the first page — so the scan reads the pages of the certificates it found, not of the ones
        it made)."""
        if page == 1 and total is not None and "listed_at_start" not in self.cursor.counts:
            self.cursor.counts["listed_at_start"] = total
        self.cursor.add("seen_before", sum(1 for cert in items if not self._ours(cert)))
        start = self.cursor.counts.get("listed_at_start")
        return more and not (start is not None and self.cursor.counts.get("seen_before", 0) >= start)

    def planned(self, page: int) -> int:
        """The last page worth reading ahead of ``page``: what the first page's total needs."""
        start = self.cursor.counts.get("listed_at_start")
        return max(page + 1, math.ceil(start / LIST_PAGE_SIZE)) if start else page + 1

    def _ours(self, cert: pca_api.ClientCertificate) -> bool:
        """Issued by this order (its CustomIdentifier is one of this order's for that CN)."""
        from shared.policy.ids import custom_identifier, parse_custom_identifier

        ref = parse_custom_identifier(cert.custom_identifier)
        if ref is None or not cert.common_name:
            return False
        # the listener part of a CustomIdentifier is the same whether built from the key or its reference
        return cert.custom_identifier in {custom_identifier(ref, self.engine.order, cert.common_name, n)
                                          for n in range(5)}

    def handle(self, items: list[pca_api.ClientCertificate], pool: ThreadPoolExecutor) -> None:
        c, p = self.cursor, self.policy
        c.add("list_calls")
        c.add("listed", len(items))
        candidates = []
        for cert in items:
            k = classify(cert, None, p, self.now)
            if not k.ours:
                continue
            c.add("scanned")
            if k.state in ("revoked", "expired"):
                c.add(k.state)
                continue
            assert k.listener_key is not None and cert.not_before and cert.not_after
            if len(self.listeners) < MAX_WARNED_LISTENERS and k.listener_key not in self.listeners:
                self.listeners[k.listener_key] = pool.submit(_warn_listener, self.engine.ctx, k.listener_key,
                                                             self.now, c)
            if cert.parent_identifier:
                life = cert.not_after - cert.not_before
                if cert.parent_identifier not in self.cas:       # its facts read now, beside the pages
                    pool.submit(self._ca_facts, cert.parent_identifier)
                self.cas[cert.parent_identifier] = max(life, self.cas.get(cert.parent_identifier, timedelta(0)))
            if k.state != "valid":        # the record is read for the candidates only
                candidates.append((cert, k.listener_key))
        # records read a group at a time, each group's renewals started as soon as its records are in:
        # the next group is read while they issue
        for i in range(0, len(candidates), RECORD_GROUP):
            self._group(candidates[i:i + RECORD_GROUP], pool)

    def _group(self, candidates: list[tuple[pca_api.ClientCertificate, str]], pool: ThreadPoolExecutor) -> None:
        c, p = self.cursor, self.policy
        keys = [(lk, cert.common_name or "") for cert, lk in candidates]
        # the holders' access records for the due ones, read beside the records (orphaned, revoked)
        due_keys = [key for (cert, _), key in zip(candidates, keys, strict=True) if
                    classify(cert, None, p, self.now).state == "due"]
        access_f = pool.submit(self.access.fetch, due_keys, pool) if due_keys else None
        self.records.fetch(keys, pool)
        if access_f is not None:
            access_f.result()
        renew: list[Job] = []
        retire: list[tuple[pca_api.ClientCertificate, CertMeta, str, bool]] = []
        # the replaced ones through their holders' delivery records, read at once
        replaced = [(i, cert, self.records.get(key), lk) for i, ((cert, lk), key) in
                    enumerate(zip(candidates, keys, strict=True))
                    if self.records.get(key) is not None and
                    classify(cert, self.records.get(key), p, self.now).state == "superseded"]
        views = dict(zip([i for i, *_ in replaced], pool.map(lambda t: self.holder(*t[1:]), replaced), strict=True))
        for i, ((cert, lk), key) in enumerate(zip(candidates, keys, strict=True)):
            meta = self.records.get(key)
            k = classify(cert, meta, p, self.now)
            if k.state == "due":
                k = classify(cert, meta, p, self.now, self.access.get(key) if key in self.access.items else None)
            view = views.get(i)
            if view is not None:
                k = view.k
                c.add("reminded", int(view.reminded))
                c.add("not_switched", int(view.warned))
                c.add("writes", view.writes)
            if meta is None:
                c.add("unmanaged")
            elif k.state == "retired":
                c.add("superseded")           # recorded retired after its holder switched: expires naturally
            elif k.state in ("orphaned", "revoked"):
                # never renewed: the holder left the input, or was revoked (shared.steps.offboarding)
                c.add("orphaned" if k.state == "orphaned" else "skipped_revoked")
                c.warn({"kind": "not_renewed", "listener_key": lk, "common_name": cert.common_name,
                        "level": "warning", "reason": k.state,
                        "message": f"{cert.common_name} on {lk} is due but not renewed: "
                                   + ("no longer in its listener's input (orphaned; revoke it with albmtls revoke "
                                      "or provision --prune)" if k.state == "orphaned" else "its holder was revoked")})
            elif k.state == "superseded":
                c.add("superseded")
                if k.retire:
                    c.add("retire")
                    retire.append((cert, meta, lk, bool(view and view.record)))
            elif k.state == "due":
                c.add("due")
                renew.append(_renewal(cert, meta, lk, p, self.now))
        batch = min((self.engine.batch_size(j.target) for j in renew), default=1)
        for i in range(0, len(renew), batch):
            self._renewed(self.engine.submit(renew[i:i + batch], tolerate=True))
        if retire:
            self._retire(retire)

    def _failed(self, exc: AlbMtlsError, **about: Any) -> None:
        self.cursor.add("failed")
        if self.cursor.first_error is None:
            self.cursor.first_error = {"code": exc.code, "message": exc.message, **about}

    def _raced(self, done: list[Done | AlbMtlsError]) -> set[int]:
        """The renewals whose holder was revoked while they issued: the new certificate is revoked
        too (``enforce_revocation``: the holder's record read again, in the pool); their indexes."""
        from shared.steps.offboarding import enforce_revocation

        ok = [(i, d) for i, d in enumerate(done) if not isinstance(d, AlbMtlsError)]
        if not ok:
            return set()
        ctx, prefix = self.engine.ctx, self.policy.secret_prefix

        def check(d: Done) -> int:
            return enforce_revocation(ctx, d.job.target.listener_key, d.meta.common_name, prefix)

        if self.pool is not None:
            wrote = list(self.pool.map(check, [d for _, d in ok]))
        else:
            wrote = [check(d) for _, d in ok]
        raced = set()
        for (i, _), w in zip(ok, wrote, strict=True):
            if w:
                raced.add(i)
                self.cursor.add("skipped_revoked")
                self.cursor.add("writes", w)
        return raced

    def _deliver(self, d: Done) -> tuple[Any, int]:
        """The renewal ``d`` to its holder (``shared.steps.deliver.deliver_client``: the record's
        holder; nothing without one); never raises for a channel."""
        from shared.steps.deliver import deliver_client

        lk = d.job.target.listener_key
        names = secret_names(self.policy.secret_prefix, lk, d.meta.common_name)
        try:
            return deliver_client(self.engine.ctx, self.cfg(), names, lk, d.meta.common_name, None,
                                  update_holder=False, meta=d.meta)
        except AlbMtlsError as exc:        # a delivery that cannot be made never fails the rotation
            self.engine.ctx.logger.warning("delivery failed", extra={"common_name": d.meta.common_name,
                                                                      "listener_key": lk, "error": exc.to_dict()})
            return None, 0

    def _delivered(self, done: list[Done]) -> None:
        if not done:
            return
        outs = list(self.pool.map(self._deliver, done)) if self.pool is not None else [self._deliver(d) for d in done]
        for out, writes in outs:
            self.cursor.add("writes", writes)
            if out is None or out.action == "no_holder":
                continue
            self.cursor.add("delivered" if out.action in ("link_sent", "notified") else "not_delivered")
            self.cursor.delivered(msgspec.to_builtins(out))

    def _renewed(self, done: list[Done | AlbMtlsError]) -> None:
        raced = self._raced(done)
        delivered: list[Done] = []
        for i, d in enumerate(done):
            if isinstance(d, AlbMtlsError):
                self._failed(d)
                continue
            if i in raced:
                self.cursor.add("writes", d.writes)
                continue
            self.cursor.add("renewed")
            self.cursor.add("writes", d.writes)
            lk = d.job.target.listener_key
            entry = d.job.supersede
            self.cursor.keep(d.result, listener_key=lk, old_identifier=entry.identifier if entry else None,
                             old_serial=entry.serial if entry else None,
                             retire_after=entry.retire_after if entry else None, revoke=entry.revoke if entry else None)
            self.records.put((lk, d.meta.common_name), d.meta)
            delivered.append(d)
            if entry is not None and entry.revoke and parse_iso(entry.retire_after) <= self.now:
                # revoke_old: immediately — the replacement is stored
                self._revoke(entry.identifier, "ISSUE", d.meta.common_name, lk, entry.serial)
        self._delivered(delivered)

    def _retire(self, items: list[tuple[pca_api.ClientCertificate, CertMeta, str, bool]]) -> None:
        """Retire replaced certificates whose replacement is issued and valid (one status call for
        the page's replacements, through their issuer); never the CN's current certificate. Revoked
        when a revocation is asked (the record's marker or the policy); else — its holder switched —
        recorded retired in the delivery record, and it expires naturally."""
        from shared.steps.deliver import mark_retired

        ctx, p = self.engine.ctx, self.policy
        current = issued_statuses(ctx, list(dict.fromkeys(m.identifier for _, m, _, _ in items)), p.secret_prefix)
        for cert, meta, lk, has_record in items:
            st = current.get(meta.identifier)
            if meta.identifier == cert.identifier or st is None or st.status != "ISSUE" or \
                    parse_iso(meta.not_after) <= self.now:
                self.cursor.add("kept")
                continue
            cn = cert.common_name or ""
            if not revoke_asked(meta.superseded(cert.identifier), p.effective_revoke):
                w = mark_retired(ctx, secret_names(p.secret_prefix, lk, cn), cert.serial, self.now)
                self.cursor.add("retired")
                self.cursor.add("retired_switched")
                self.cursor.add("writes", w)
                self.cursor.revoked(Retired(common_name=cn, listener_key=lk, identifier=cert.identifier,
                                            serial=cert.serial, reason="holder_switched"))
                ctx.logger.info("replaced client certificate retired (holder switched; expires naturally)", extra={
                    "common_name": cn, "listener_key": lk, "serial": cert.serial, "replacement": meta.identifier})
                continue
            self._revoke(cert.identifier, cert.status, cn, lk, cert.serial, cert=cert, record=has_record)

    def _revoke(self, identifier: str, status: str | None, cn: str, listener_key: str, serial: str, *,
                cert: pca_api.ClientCertificate | None = None, record: bool = False) -> None:
        """Revoke ``identifier`` through its issuer (the PCA, or an own CA's revocation list and CRL);
        ``record``: the CN has a delivery record, which then says the certificate is retired."""
        from shared.steps.deliver import mark_retired

        ctx, prefix = self.engine.ctx, self.policy.secret_prefix
        try:
            api = issuer_for_identifier(ctx, identifier, prefix)
            if isinstance(api, OwnCa):
                wrote = api.revoke_client_certificate(identifier, certificate=cert)
            else:
                wrote = api.revoke_client_certificate(identifier, known_status=status)
            if record:
                self.cursor.add("writes", mark_retired(ctx, secret_names(prefix, listener_key, cn), serial, self.now))
        except TransientError:
            raise
        except AlbMtlsError as exc:
            self._failed(exc, identifier=identifier)
            return
        self.cursor.add("retired")
        self.cursor.add("writes", int(wrote))
        self.cursor.revoked(Retired(common_name=cn, listener_key=listener_key, identifier=identifier, serial=serial))

    def _ca_facts(self, ca_ident: str) -> None:
        try:
            self.engine.ca(Target("", ca_ident, self.policy.secret_prefix))
        except AlbMtlsError:
            pass                      # the summary's warning says why (engine.ca raises it again there)

    def summary(self) -> None:
        """The warnings, after the last page (CA facts from the engine: no extra PCA read for a CA
        already used; the listeners' server certificates from ALB and CAS)."""
        for ca_ident, life in sorted(self.cas.items()):
            _warn_ca(self.engine, ca_ident, life, self.policy.secret_prefix, self.cursor)
        for fut in self.listeners.values():
            fut.result()
        self.warn_operators()

    def warn_operators(self) -> None:
        """The scan's sub-CA and server certificate warnings to the operators' channels (one notice
        per kind; a failing channel is logged, never raised)."""
        from shared.steps.deliver import notify_operators

        warnings = self.cursor.warnings
        for kind, title in (("ca", "a sub-CA ends soon"), ("server_certificate", "a server certificate ends soon")):
            ws = [w for w in warnings if w.get("kind") == kind]
            if ws:
                notify_operators(self.engine.ctx, self.cfg().cfg, "ca_ending" if kind == "ca" else
                                 "server_certificate_ending", f"alb-mtls: {title}",
                                 "\n".join(str(w.get("message")) for w in ws), {"warnings": ws})

    def read_switches(self) -> None:
        """The slice's one ActionTrail query (``shared.steps.reads``): the system holders seen waiting
        in this slice whose first read of the new secrets is there are recorded, and their old
        certificates retired now. A failing query is one of the order's warnings (retirement then
        waits for the grace end)."""
        if not self.waiting.items:
            return
        out = self.waiting.observe(self.now)
        self.cursor.add("reads", len(out.reads))
        self.cursor.add("writes", out.writes)
        if out.warning is not None:
            self.cursor.warn(out.warning)
        retire = []
        for cert, meta, lk, at in self.waiting.switched(out):
            if classify(cert, meta, self.policy, self.now, switched_at=at).retire:
                self.cursor.add("retire")
                retire.append((cert, meta, lk, True))
        if retire:
            self._retire(retire)

    def look_up_own(self, pool: ThreadPoolExecutor) -> None:
        """Start looking up the own CAs under the prefix (``ListSecrets``), beside the pages."""
        from shared.adapters.kms import Kms
        from shared.adapters.ownca import list_ca_names

        self.own_cas = pool.submit(list_ca_names, self.engine.ctx.adapter(Kms), self.policy.secret_prefix)

    def own(self, pool: ThreadPoolExecutor) -> None:
        """The own CAs' certificates (their records; revoked ones from each CA's list), handled as a
        page is — after the private CA's last page."""
        from shared.adapters.kms import Kms
        from shared.adapters.ownca import list_own_certificates
        from shared.steps.issuers import own_issuer

        names = self.own_cas.result() if self.own_cas is not None else []
        if not names:
            return
        ctx, prefix = self.engine.ctx, self.policy.secret_prefix
        revoked = {n: own_issuer(ctx, prefix, n).revocations() for n in names}
        certs = [c for n in names for c in list_own_certificates(ctx.adapter(Kms), prefix, revoked).by_ca.get(n, [])]
        for i in range(0, len(certs), LIST_PAGE_SIZE):
            self.handle(certs[i:i + LIST_PAGE_SIZE], pool)


def rotate_slice(ctx: StepContext, engine: Engine, order: RotateOrder, cursor: Cursor, lane: Lane) -> bool:
    """Pages from ``cursor.next`` (1-based; 0 = start) until the last page, the slice's time, or
    the lane's head changes; True when the order is done. Raises ``AlbMtlsError`` (the first
    per-certificate failure, after the rest) or ``TransientError``."""
    from shared.steps.issuer import _slice_open

    s = _Slice(ctx, engine, order, cursor, lane)
    done = False
    nxt = max(1, cursor.next)
    with ThreadPoolExecutor(READ_WORKERS, thread_name_prefix="scan") as pool:
        s.pool = pool
        s.look_up_own(pool)
        inflight: deque[tuple[int, Future[tuple[list[pca_api.ClientCertificate], bool, int | None]]]] = deque()
        inflight.append((nxt, pool.submit(s.fetch, nxt)))
        nxt += 1
        while inflight:
            page, fut = inflight.popleft()
            items, more, total = fut.result()
            more = s.account(page, items, more, total)
            # the next pages are read while this one is handled, up to PAGES_AHEAD in flight: a
            # page 100-300 ms away never stalls the lane's rate
            while more and len(inflight) < PAGES_AHEAD and nxt <= s.planned(page) and _slice_open(ctx, lane):
                inflight.append((nxt, pool.submit(s.fetch, nxt)))
                nxt += 1
            s.handle(items, pool)
            cursor.next = page + 1
            done = not more
            if done or (not inflight and not _slice_open(ctx, lane)):
                break
        if done:
            s.own(pool)
        s._renewed(engine.drain(tolerate=True))
        s.read_switches()
    if done:
        s.summary()
    failed = cursor.counts.get("failed", 0)
    if done and failed and cursor.first_error is not None:
        first = cursor.first_error
        _notify_failed(engine, first, failed)
        raise AlbMtlsError(first["code"], f"{failed} certificate(s) could not be renewed or retired; the first: "
                           f"{first['message']} (every other certificate was handled; the next run retries them)",
                           details={"failed": failed})
    return done


def _notify_failed(engine: Engine, first: dict[str, Any], failed: int) -> None:
    """Tell the operators the rotation order failed (its first code; ids only), as the rotate flow's
    failure notice did — a channel that fails is logged, never raised."""
    from shared.steps.deliver import DeliverEvent, DeliverFailure
    from shared.steps.deliver import run as deliver

    try:
        deliver(DeliverEvent(mode="failed", execution_name=engine.order,
                             failure=DeliverFailure(code=str(first.get("code")),
                                                    detail=f"{failed} certificate(s) failed; the first: "
                                                           f"{first.get('message')}")), engine.ctx)
    except AlbMtlsError as exc:
        engine.ctx.logger.warning("notification failed", extra={"kind": "renewal_failed", "error": exc.to_dict()})

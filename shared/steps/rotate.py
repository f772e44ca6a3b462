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
* **superseded and due for retirement** (``revoke_old`` ``after_grace`` / ``immediately``, or its
  record's marker) — revoked (``CreateRevokeClientCertificate``) once its replacement is stored,
  issued and valid; never the CN's current certificate. By default replaced certificates expire
  naturally: no revocation at all.

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
"""
from __future__ import annotations

import math
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.adapters import pca as pca_api
from shared.adapters.pca import LIST_PAGE_SIZE
from shared.core.clock import iso_utc, parse_iso
from shared.core.errors import AlbMtlsError, TransientError
from shared.policy import renewal
from shared.policy.contracts import ClientSpec
from shared.policy.ids import secret_names
from shared.policy.orders import Cursor, Retired, RotateOrder
from shared.policy.records import CertMeta, SupersededEntry
from shared.policy.rotation import RevokeOld, ScanPolicy, classify
from shared.steps.engine import Done, Engine, Job, Target
from shared.steps.issuance import read_meta
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
        retire: list[tuple[pca_api.ClientCertificate, CertMeta, str]] = []
        for (cert, lk), key in zip(candidates, keys, strict=True):
            meta = self.records.get(key)
            k = classify(cert, meta, p, self.now)
            if k.state == "due":
                k = classify(cert, meta, p, self.now, self.access.get(key) if key in self.access.items else None)
            if meta is None:
                c.add("unmanaged")
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
                    retire.append((cert, meta, lk))
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

    def _renewed(self, done: list[Done | AlbMtlsError]) -> None:
        raced = self._raced(done)
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
            if entry is not None and entry.revoke and parse_iso(entry.retire_after) <= self.now:
                # revoke_old: immediately — the replacement is stored
                self._revoke(entry.identifier, "ISSUE", d.meta.common_name, lk, entry.serial)

    def _retire(self, items: list[tuple[pca_api.ClientCertificate, CertMeta, str]]) -> None:
        """Revoke replaced certificates whose replacement is issued and valid (one status call for
        the page's replacements); never the CN's current certificate."""
        current = self.engine.ctx.adapter(pca_api.Pca).client_certificate_statuses(
            list(dict.fromkeys(m.identifier for _, m, _ in items)))
        for cert, meta, lk in items:
            st = current.get(meta.identifier)
            if meta.identifier == cert.identifier or st is None or st.status != "ISSUE" or \
                    parse_iso(meta.not_after) <= self.now:
                self.cursor.add("kept")
                continue
            self._revoke(cert.identifier, cert.status, cert.common_name or "", lk, cert.serial)

    def _revoke(self, identifier: str, status: str | None, cn: str, listener_key: str, serial: str) -> None:
        try:
            wrote = self.engine.ctx.adapter(pca_api.Pca).revoke_client_certificate(identifier, known_status=status)
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
        s._renewed(engine.drain(tolerate=True))
    if done:
        s.summary()
    failed = cursor.counts.get("failed", 0)
    if done and failed and cursor.first_error is not None:
        first = cursor.first_error
        raise AlbMtlsError(first["code"], f"{failed} certificate(s) could not be renewed or retired; the first: "
                           f"{first['message']} (every other certificate was handled; the next run retries them)",
                           details={"failed": failed})
    return done

"""State of the local cloud: an embedded SQLite document store.

Every emulated object is a JSON document keyed by ``(kind, id)``; ``key2`` is an optional
secondary key (indexed) for the lists that must page over many objects (for example the client
certificates of one sub-CA). ``seq`` keeps creation order, which is the order lists return.

One store is shared by all products (ALB refers to CAS and PCA certificates). It is thread-safe:
every method takes the store lock; ``with store.tx():`` groups several calls atomically.
State survives restarts when a file path is given; ``Store(None)`` is in memory for tests.

``snapshot()`` remembers the current state (an in-memory copy through SQLite's backup API) and
``reset()`` brings the store back to it in milliseconds — documents, counters, metadata and the
call log alike. The local cloud snapshots right after seeding, so a reset returns to the freshly
seeded account with the seed's key material unchanged.

Kinds and their documents are listed in ``localcloud/SCHEMA.md``.
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import builtins
    from collections.abc import Callable, Iterator

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    id   TEXT NOT NULL,
    key2 TEXT,
    seq  INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (kind, id)
);
CREATE INDEX IF NOT EXISTS docs_kind_seq ON docs(kind, seq);
CREATE INDEX IF NOT EXISTS docs_kind_key2_seq ON docs(kind, key2, seq);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS calls (
    n INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    product TEXT NOT NULL,
    action TEXT NOT NULL,
    write INTEGER NOT NULL,
    code TEXT NOT NULL,
    status INTEGER NOT NULL,
    duration_ms REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Store:
    """SQLite-backed JSON document store (see module doc)."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else ":memory:"
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # Emulated secrets and key material live here: the database is owner-only from its
            # first byte, and SQLite gives its -wal/-shm files the database file's mode.
            os.close(os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600))
            os.chmod(self.path, 0o600)
            for side in ("-wal", "-shm"):
                if os.path.exists(self.path + side):
                    os.chmod(self.path + side, 0o600)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL" if path is not None else "PRAGMA journal_mode=MEMORY")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self.lock = threading.RLock()
        self._depth = 0
        self._snapshot: sqlite3.Connection | None = None

    # -- transactions ----------------------------------------------------------------
    @contextmanager
    def tx(self) -> Iterator[Store]:
        """Group calls atomically (re-entrant)."""
        with self.lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            else:
                self._depth -= 1
                if outer:
                    self._db.execute("COMMIT")

    # -- documents -------------------------------------------------------------------
    def put(self, kind: str, id: str, doc: dict[str, Any], key2: str | None = None) -> dict[str, Any]:
        """Insert or replace a document; keeps the original creation order on replace."""
        data = json.dumps(doc, separators=(",", ":"), sort_keys=False)
        with self.lock:
            row = self._db.execute("SELECT seq, key2 FROM docs WHERE kind=? AND id=?", (kind, id)).fetchone()
            if row is None:
                seq = self.next_seq("docs")
                self._db.execute("INSERT INTO docs(kind,id,key2,seq,data) VALUES (?,?,?,?,?)",
                                 (kind, id, key2, seq, data))
            else:
                k2 = key2 if key2 is not None else row[1]
                self._db.execute("UPDATE docs SET data=?, key2=? WHERE kind=? AND id=?", (data, k2, kind, id))
        return doc

    def get(self, kind: str, id: str) -> dict[str, Any] | None:
        with self.lock:
            row = self._db.execute("SELECT data FROM docs WHERE kind=? AND id=?", (kind, id)).fetchone()
        return json.loads(row[0]) if row else None

    def delete(self, kind: str, id: str) -> bool:
        with self.lock:
            cur = self._db.execute("DELETE FROM docs WHERE kind=? AND id=?", (kind, id))
        return cur.rowcount > 0

    def list(self, kind: str, where: Callable[[dict[str, Any]], bool] | None = None,
             key2: str | None = None) -> list[dict[str, Any]]:
        """All documents of a kind in creation order, optionally filtered."""
        with self.lock:
            if key2 is None:
                rows = self._db.execute("SELECT data FROM docs WHERE kind=? ORDER BY seq", (kind,)).fetchall()
            else:
                rows = self._db.execute("SELECT data FROM docs WHERE kind=? AND key2=? ORDER BY seq",
                                        (kind, key2)).fetchall()
        docs = [json.loads(r[0]) for r in rows]
        return [d for d in docs if where(d)] if where else docs

    def find(self, kind: str, **eq: Any) -> builtins.list[dict[str, Any]]:
        """Documents whose top-level fields equal the given values."""
        return self.list(kind, where=lambda d: all(d.get(k) == v for k, v in eq.items()))

    def first(self, kind: str, **eq: Any) -> dict[str, Any] | None:
        found = self.find(kind, **eq)
        return found[0] if found else None

    def page(self, kind: str, offset: int, limit: int, key2: str | None = None) -> builtins.list[dict[str, Any]]:
        """One page of a kind in creation order (memory bounded by ``limit``)."""
        with self.lock:
            if key2 is None:
                rows = self._db.execute("SELECT data FROM docs WHERE kind=? ORDER BY seq LIMIT ? OFFSET ?",
                                        (kind, limit, offset)).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT data FROM docs WHERE kind=? AND key2=? ORDER BY seq LIMIT ? OFFSET ?",
                    (kind, key2, limit, offset)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def count(self, kind: str, key2: str | None = None) -> int:
        with self.lock:
            if key2 is None:
                return self._db.execute("SELECT COUNT(*) FROM docs WHERE kind=?", (kind,)).fetchone()[0]
            return self._db.execute("SELECT COUNT(*) FROM docs WHERE kind=? AND key2=?",
                                    (kind, key2)).fetchone()[0]

    def kinds(self) -> dict[str, int]:
        with self.lock:
            return dict(self._db.execute("SELECT kind, COUNT(*) FROM docs GROUP BY kind").fetchall())

    # -- counters and metadata ---------------------------------------------------------
    def next_seq(self, name: str) -> int:
        """A persistent counter: 1, 2, 3, … per name."""
        with self.lock:
            self._db.execute("INSERT INTO counters(name,value) VALUES (?,1) "
                             "ON CONFLICT(name) DO UPDATE SET value=value+1", (name,))
            return self._db.execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()[0]

    def get_meta(self, name: str, default: Any = None) -> Any:
        with self.lock:
            row = self._db.execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return json.loads(row[0]) if row else default

    def set_meta(self, name: str, value: Any) -> None:
        with self.lock:
            self._db.execute("INSERT INTO meta(name,value) VALUES (?,?) "
                             "ON CONFLICT(name) DO UPDATE SET value=excluded.value",
                             (name, json.dumps(value)))

    # -- call log ---------------------------------------------------------------------
    def record_call(self, product: str, action: str, write: bool, code: str, status: int,
                    duration_ms: float = 0.0) -> None:
        """Log one API call (``code`` is ``OK`` on success)."""
        with self.lock:
            self._db.execute("INSERT INTO calls(ts,product,action,write,code,status,duration_ms) "
                             "VALUES (?,?,?,?,?,?,?)",
                             (time.time(), product, action, int(write), code, status, duration_ms))

    def calls(self, since: int = 0) -> builtins.list[dict[str, Any]]:
        """Call-log rows with ``n > since``."""
        with self.lock:
            rows = self._db.execute("SELECT n,ts,product,action,write,code,status,duration_ms FROM calls "
                                    "WHERE n>? ORDER BY n",
                                    (since,)).fetchall()
        keys = ("n", "ts", "product", "action", "write", "code", "status", "duration_ms")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    def last_call_n(self) -> int:
        with self.lock:
            row = self._db.execute("SELECT MAX(n) FROM calls").fetchone()
        return row[0] or 0

    # -- snapshot and reset -----------------------------------------------------------------
    def snapshot(self) -> None:
        """Remember the current state as the one :meth:`reset` returns to."""
        with self.lock:
            if self._depth:
                raise RuntimeError("snapshot() inside a transaction")
            snap = sqlite3.connect(":memory:", check_same_thread=False)
            self._db.backup(snap)
            if self._snapshot is not None:
                self._snapshot.close()
            self._snapshot = snap

    @property
    def has_snapshot(self) -> bool:
        return self._snapshot is not None

    def reset(self) -> None:
        """Back to the state of the last :meth:`snapshot` (raises ``RuntimeError`` without one)."""
        with self.lock:
            if self._snapshot is None:
                raise RuntimeError("reset() needs a snapshot() first")
            if self._depth:
                raise RuntimeError("reset() inside a transaction")
            self._snapshot.backup(self._db)

    def clear(self) -> None:
        """Remove every document, counter, metadata entry and logged call (and the snapshot)."""
        with self.lock:
            if self._depth:
                raise RuntimeError("clear() inside a transaction")
            self._db.executescript("DELETE FROM docs; DELETE FROM counters; DELETE FROM calls; "
                                   "DELETE FROM meta; DELETE FROM sqlite_sequence;")
            if self._snapshot is not None:
                self._snapshot.close()
                self._snapshot = None

    def close(self) -> None:
        with self.lock:
            if self._snapshot is not None:
                self._snapshot.close()
                self._snapshot = None
            self._db.close()

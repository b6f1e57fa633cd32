"""Stored responses: one SQLite file (WAL), owned by this module with its schema and migrations.

A row is one response: its id, the tenant (the sha256 of the API key that created it; "" when the
server has no keys), when it was made, the response object and the input items the model saw (the
whole conversation, earlier responses' items included, so a continuation never walks a chain that
eviction may have broken). Rows beyond `max_count`, or older than `max_age` seconds, are deleted on
each write.

Every method blocks (disk I/O, an fsync per write): call them off the event loop. One connection,
shared by threads under a lock; other processes may open the same file (WAL, a busy timeout).
Durability: a `put` has returned only once its transaction is committed with `synchronous=FULL`,
so a response the client has been sent survives a kill -9 of the server, and power loss too.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

# Each entry upgrades the schema by one version (PRAGMA user_version); append, never edit.
MIGRATIONS = (
    """
    CREATE TABLE responses (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        created_at REAL NOT NULL,
        response TEXT NOT NULL,
        input_items TEXT NOT NULL
    );
    CREATE INDEX responses_by_age ON responses (created_at);
    """,
)
BUSY_TIMEOUT_MS = 10_000


@dataclass(slots=True, frozen=True)
class Stored:
    response: dict[str, Any]
    input_items: list[dict[str, Any]]

    @property
    def context(self) -> list[dict[str, Any]]:
        """What a continuation (`previous_response_id`) starts from: the input, then the output."""
        return [*self.input_items, *self.response.get("output", [])]


@dataclass(slots=True, frozen=True)
class Page:
    items: list[dict[str, Any]]
    has_more: bool


class ResponseStore:
    """Responses by id, per tenant; the file is created (with its folder) on first use."""

    def __init__(self, path: Path, *, max_age: float, max_count: int) -> None:
        if max_age <= 0 or max_count < 1:
            raise ValueError("the response store needs max_age > 0 and max_count >= 1")
        self.path = path
        self.max_age = max_age
        self.max_count = max_count
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def put(self, response: dict[str, Any], input_items: list[dict[str, Any]], *, tenant: str) -> None:
        """Stores a finished response (replacing one with its id); durable when it returns."""
        row = (response["id"], tenant, time.time(), json.dumps(response), json.dumps(input_items))
        with self._lock:
            db = self._open()
            with _transaction(db):  # one transaction: the insert and the pruning
                db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)", row)
                self._prune(db)

    def get(self, response_id: str, *, tenant: str) -> Stored | None:
        query = "SELECT response, input_items FROM responses WHERE id = ? AND tenant = ? AND created_at >= ?"
        with self._lock:
            cursor = self._open().execute(query, (response_id, tenant, time.time() - self.max_age))
            found = cursor.fetchone()
        return None if found is None else Stored(json.loads(found[0]), json.loads(found[1]))

    def delete(self, response_id: str, *, tenant: str) -> bool:
        with self._lock:
            db = self._open()
            with _transaction(db):
                query = "DELETE FROM responses WHERE id = ? AND tenant = ?"
                cursor = db.execute(query, (response_id, tenant))
        return cursor.rowcount > 0

    def input_items(
        self,
        response_id: str,
        *,
        tenant: str,
        limit: int = 20,
        order: Literal["asc", "desc"] = "desc",
        after: str | None = None,
    ) -> Page | None:
        """A page of the response's input items (OpenAI's list semantics); None: no such response."""
        stored = self.get(response_id, tenant=tenant)
        if stored is None:
            return None
        items = stored.input_items if order == "asc" else stored.input_items[::-1]
        if after is not None:
            ids = [item.get("id") for item in items]
            items = items[ids.index(after) + 1 :] if after in ids else []
        return Page(items[:limit], has_more=len(items) > limit)

    def count(self) -> int:
        with self._lock:
            return int(self._open().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _open(self) -> sqlite3.Connection:
        if self._db is not None:
            return self._db
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False, isolation_level=None
        )
        try:
            _set_up(db)
        except sqlite3.Error:
            db.close()
            raise
        self._db = db
        return db

    def _prune(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM responses WHERE created_at < ?", (time.time() - self.max_age,))
        db.execute(
            "DELETE FROM responses WHERE id IN "
            "(SELECT id FROM responses ORDER BY created_at DESC LIMIT -1 OFFSET ?)",
            (self.max_count,),
        )


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    """BEGIN IMMEDIATE … COMMIT (the connection is in autocommit mode: transactions are explicit)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _set_up(db: sqlite3.Connection) -> None:
    """WAL, full sync and the schema, retried while another connection holds the file's lock: switching
    a new file to WAL needs it alone and does not wait on the busy timeout (two stores opening one new
    file at once failed with "database is locked" in tests/test_responses_store.py)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            _migrate(db)
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _migrate(db: sqlite3.Connection) -> None:
    """Brings the schema up to date in one transaction (two processes opening a new file do not both
    create the table)."""
    with _transaction(db):
        version = int(db.execute("PRAGMA user_version").fetchone()[0])
        if version > len(MIGRATIONS):
            raise sqlite3.DatabaseError(
                f"the response store is at schema version {version}, newer than this fncall knows"
            )
        for step, script in enumerate(MIGRATIONS[version:], start=version + 1):
            for statement in filter(str.strip, script.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {step}")

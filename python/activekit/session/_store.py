"""The SQLite file of a labelling session: its schema, its versions and their migrations.

The file holds pool ids and events, never feature rows. ``PRAGMA application_id`` marks it as
an activekit session (a foreign SQLite file is refused before anything is written to it) and
``PRAGMA user_version`` is its schema version. The schema is built by running the migrations
in order, so a new file and a migrated old one end up with the same tables:

- version 1: ``meta`` (key -> JSON value), ``pool`` (position -> pool id), ``queries`` (one
  row per asked id: round, rank in its batch, strategy, score, model version, params hash,
  seed, time, and the event that answered it), ``label_events`` (label, deletion and skip
  events: pool id, label, annotator, time, lead time, unsolicited flag), ``checkpoints``
  (model version -> file name beside the database, its SHA-256, the labels it was fitted on),
  and the view ``current_labels`` (each id's latest label or deletion event, kept where it is a
  label);
- version 2: ``label_events.note``, a free-text note per event.

Connections run in autocommit mode; writers open ``BEGIN IMMEDIATE`` transactions
themselves (see :func:`transaction`), so that a write either lands whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import time

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "StoreError",
    "check_file",
    "connect",
    "migrate",
    "transaction",
]

#: ``PRAGMA application_id`` of a session file: "AKSS" (activekit session store).
APPLICATION_ID = 0x414B5353

#: How long a connection waits on another process's lock before SQLite reports it busy (ms).
BUSY_TIMEOUT_MS = 5000

#: How many times a transaction is tried when SQLite still reports the database busy.
BUSY_RETRIES = 8


class StoreError(ValueError):
    """The file is no usable session: foreign, corrupt, or of a newer schema."""


_V1 = [
    """CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )""",
    """CREATE TABLE pool (
        position INTEGER PRIMARY KEY,
        pool_id UNIQUE NOT NULL
    )""",
    """CREATE TABLE queries (
        query_id INTEGER PRIMARY KEY AUTOINCREMENT,
        round INTEGER NOT NULL,
        rank INTEGER NOT NULL,
        pool_id NOT NULL,
        strategy TEXT NOT NULL,
        score REAL,
        model_version INTEGER NOT NULL,
        params_hash TEXT NOT NULL,
        seed INTEGER NOT NULL,
        time REAL NOT NULL,
        answered_by INTEGER
    )""",
    "CREATE INDEX queries_open ON queries (answered_by, round)",
    "CREATE INDEX queries_pool_id ON queries (pool_id)",
    """CREATE TABLE label_events (
        event_id INTEGER PRIMARY KEY AUTOINCREMENT,
        pool_id NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('label', 'delete', 'skip')),
        label,
        annotator TEXT,
        time REAL NOT NULL,
        lead_time REAL,
        unsolicited INTEGER NOT NULL DEFAULT 0
    )""",
    "CREATE INDEX label_events_pool_id ON label_events (pool_id, event_id)",
    """CREATE TABLE checkpoints (
        model_version INTEGER PRIMARY KEY,
        file TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        n_labels INTEGER NOT NULL,
        last_event_id INTEGER NOT NULL,
        time REAL NOT NULL
    )""",
    # Each id's latest label or deletion event, kept where it is a label: the current labels.
    """CREATE VIEW current_labels AS
        SELECT e.* FROM label_events AS e
        JOIN (
            SELECT pool_id, MAX(event_id) AS event_id FROM label_events
            WHERE kind IN ('label', 'delete') GROUP BY pool_id
        ) AS latest ON e.event_id = latest.event_id
        WHERE e.kind = 'label'
    """,
]

_V2 = ["ALTER TABLE label_events ADD COLUMN note TEXT"]

#: ``MIGRATIONS[v]`` takes a file from schema version ``v`` to ``v + 1`` (0: an empty file).
MIGRATIONS = [_V1, _V2]

#: The schema version this code writes and reads; older files are migrated on open.
SCHEMA_VERSION = len(MIGRATIONS)


def connect(path, *, create=False):
    """A connection to ``path`` in autocommit mode, usable from any thread (the session
    serialises its use), waiting ``BUSY_TIMEOUT_MS`` on other processes' locks.

    Without ``create``, a missing file is a FileNotFoundError and nothing is created."""
    path = os.fspath(path)
    if not create and not os.path.exists(path):
        raise FileNotFoundError(f"no session database at {path!r}")
    uri = "file:" + _quote(os.path.abspath(path)) + ("?mode=rwc" if create else "?mode=rw")
    try:
        conn = sqlite3.connect(
            uri, uri=True, isolation_level=None, check_same_thread=False, timeout=0
        )
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the session database {path!r}: {exc}") from exc
    conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_MS)}")
    return conn


def _quote(path):
    from urllib.parse import quote

    return quote(path, safe="/:")


def check_file(conn, path):
    """Raise :class:`StoreError` unless ``conn`` is an activekit session file this code can
    read; migrate an older schema; then switch to WAL mode. Reads before it writes, so that a
    foreign file is never changed."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{path!r} is not an activekit session database: SQLite cannot read it ({exc})"
        ) from exc
    if app_id != APPLICATION_ID and os.path.getsize(path) == 0:
        raise StoreError(f"{path!r} is an empty file, not an activekit session database")
    if app_id != APPLICATION_ID:
        tables = _tables(conn, path)
        what = f"tables {sorted(tables)}" if tables else "no tables"
        raise StoreError(
            f"{path!r} is an SQLite database but not an activekit session "
            f"(application_id {app_id:#x}, expected {APPLICATION_ID:#x}; it has {what})"
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path!r} has session schema version {version}, newer than this activekit reads "
            f"(up to {SCHEMA_VERSION}); upgrade activekit to open it"
        )
    if version < 1:
        raise StoreError(f"{path!r} is an activekit session file with no schema (version 0)")
    try:
        problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path!r} is a corrupt session database: {exc}") from exc
    if problems != ["ok"]:
        raise StoreError(f"{path!r} is a corrupt session database: {'; '.join(problems[:5])}")
    missing = {"meta", "pool", "queries", "label_events", "checkpoints"} - _tables(conn, path)
    if missing:
        raise StoreError(f"{path!r} is a damaged session database: no tables {sorted(missing)}")
    if version < SCHEMA_VERSION:
        migrate(conn, version, SCHEMA_VERSION)
    set_wal(conn, path)


def _tables(conn, path):
    try:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path!r} is a corrupt session database: {exc}") from exc
    return {name for (name,) in rows}


def set_wal(conn, path):
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise StoreError(f"{path!r}: SQLite refused WAL mode (journal_mode is {mode!r})")
    # FULL: a committed label survives a power cut too, not only a killed process.
    conn.execute("PRAGMA synchronous = FULL")


def migrate(conn, start, stop):
    """Run ``MIGRATIONS[start:stop]`` in one transaction and set ``user_version`` to
    ``stop``: a file is at one version or the next, never between. The version is read
    again under the write lock, so that two processes opening an old file at once migrate it
    once."""
    with transaction(conn):
        if start > 0:
            start = max(start, conn.execute("PRAGMA user_version").fetchone()[0])
        for version in range(start, stop):
            for statement in MIGRATIONS[version]:
                conn.execute(statement)
        if start == 0:
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {stop}")


@contextlib.contextmanager
def transaction(conn):
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back if the block raises (KeyboardInterrupt
    too). The write lock is taken at ``BEGIN``, so a transaction that starts never fails later
    for a lock held by another process."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise


def is_busy(exc):
    """Whether ``exc`` says another connection holds the lock (SQLITE_BUSY / LOCKED)."""
    text = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text)


def retry_busy(function, path, retries=None):
    """Call ``function()`` (which runs one transaction), again after a short random pause
    while SQLite reports the database busy beyond its busy timeout, at most ``retries``
    times (``BUSY_RETRIES`` by default); then a TimeoutError naming the file."""
    if retries is None:
        retries = BUSY_RETRIES
    for attempt in range(retries):
        try:
            return function()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            if attempt == retries - 1:
                raise TimeoutError(
                    f"the session database {path!r} stayed locked by another connection "
                    f"through {retries} tries of {BUSY_TIMEOUT_MS / 1000:g} s each: {exc}"
                ) from exc
            time.sleep(random.uniform(0.01, 0.1) * (attempt + 1))
    raise AssertionError("unreachable")  # pragma: no cover

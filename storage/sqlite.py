"""SQLite connections for the stores beside the collections (index, journal, accounts, feeds, outbox).

One connection per thread and per process: sqlite3 connections must not be
shared between threads, and a gunicorn worker must not reuse a connection
its parent opened before the fork.  Autocommit mode (transactions are
explicit), WAL so readers never wait for the one writer.
"""

import contextlib
import os
import sqlite3
import threading
import time
from typing import Callable


class Connections:
    def __init__(self, path: str, setup: Callable[[sqlite3.Connection], None], *,
                 timeout: float = 30, synchronous: str = "FULL"):
        self.path = path
        self._setup = setup
        self._timeout = timeout
        self._synchronous = synchronous
        self._local = threading.local()

    def __call__(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None)
            _in_wal_mode(conn, self._timeout)
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            self._setup(conn)
            self._local.conn, self._local.pid = conn, os.getpid()
        return conn


def _in_wal_mode(conn: sqlite3.Connection, timeout: float) -> None:
    """WAL, set once per file.  Switching takes the file's exclusive lock, and SQLite answers
    "database is locked" at once, without its busy wait, when many connections are opened
    together (a fresh file, threads starting at once): so look first, and retry."""
    deadline = time.monotonic() + timeout
    while conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
        try:
            conn.execute("PRAGMA journal_mode=WAL")
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class SQLiteDatabase:
    """A store's SQLite file as a ``storage.database`` database."""
    dialect = "sqlite"

    def __init__(self, path: str, setup: Callable[[sqlite3.Connection], None], **options):
        self.path = path
        self._connections = Connections(path, setup, **options)
        self._depth = threading.local()

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (for what only SQLite has: `roomcal check`, backups)."""
        return self._connections()

    def execute(self, sql: str, params=()) -> sqlite3.Cursor:
        return self._connections().execute(sql, params)

    def executemany(self, sql: str, rows) -> sqlite3.Cursor:
        return self._connections().executemany(sql, rows)

    @contextlib.contextmanager
    def transaction(self):
        """BEGIN IMMEDIATE … COMMIT (ROLLBACK on any exception); nested: part of the outer one."""
        depth = getattr(self._depth, "n", 0)
        if depth:
            self._depth.n = depth + 1
            try:
                yield
            finally:
                self._depth.n = depth
            return
        conn = self._connections()
        conn.execute("BEGIN IMMEDIATE")
        self._depth.n = 1
        try:
            yield
        except BaseException:
            self._depth.n = 0
            conn.execute("ROLLBACK")
            raise
        self._depth.n = 0
        conn.execute("COMMIT")

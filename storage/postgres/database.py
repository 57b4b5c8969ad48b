"""The PostgreSQL database that every host shares, as a ``storage.database`` database.

A pool of connections per process, made in the process that uses it (a gunicorn worker
never reuses its parent's).  A connection idle for more than a second is checked before it
is used again, so that a restarted server or a failover heals by itself; one back from use
a moment ago is not (a round trip each time it is taken): if the server went away in that
moment, its first statement answers 503 and the pool drops it.  Statements are written
with ``?`` (storage/database.py) and sent with psycopg's ``%s``.

``request(mode)`` is the transaction of a request: Radicale's ``acquire_lock``
(storage/postgres/store.py).  While it is open on a thread every statement of every
store on that thread is part of it: READ COMMITTED for writes (row and advisory locks
order them; a snapshot taken before a lock would miss rows committed meanwhile), a
read-only REPEATABLE READ snapshot for reads.  Outside it, a statement commits alone
and ``transaction()`` is a short one of its own.

A connection that cannot be had or is lost becomes ``StoreUnavailable`` (503 with
Retry-After), never a 500: nothing half-written stays, the transaction is gone.
"""

import contextlib
import functools
import logging
import os
import threading
import time
import weakref
from typing import Iterator, Optional

import psycopg
import psycopg_pool

from roomcal.storage import context
from roomcal.storage.errors import StoreUnavailable

logger = logging.getLogger("roomcal.storage.postgres")
POOL_SIZE = 12      # per process: gunicorn's threads, the mail sender and the releaser
WAIT_SECONDS = 5    # for a free connection, or for the server to answer
RECHECK_IDLE = 1.0  # seconds back in the pool after which a connection is checked before use
_DOWN = (psycopg.OperationalError, psycopg.InterfaceError, psycopg_pool.PoolTimeout)
STREAM_CHUNK = 1000   # rows a stream reads at a time (``PostgresDatabase.stream``)


@functools.lru_cache(maxsize=2048)
def _sql(statement: str) -> str:
    return statement.replace("%", "%%").replace("?", "%s")


@contextlib.contextmanager
def _unavailable_when_down():
    try:
        yield
    except _DOWN as e:
        said = str(e).splitlines()[0] if str(e) else type(e).__name__
        if (getattr(e, "sqlstate", None) or "").startswith("40"):   # a deadlock, a serialization failure
            logger.warning("PostgreSQL rolled a transaction back: %s", said)
            refusal = StoreUnavailable("Another change at the same moment got in the way of this one; "
                                       "nothing was changed. Try again.")
        else:
            logger.warning("PostgreSQL is unavailable: %s", said)
            refusal = StoreUnavailable()
        context.record_refusal(refusal)   # for the front, when Radicale answers it with a 500
        raise refusal from None


class Rows:
    """What ``execute`` answers when the rows were read before the connection went back
    to its pool: the same use as a DB-API cursor's."""

    def __init__(self, rows: Optional[list], rowcount: int = -1):
        self._rows = rows or []
        self._next = 0
        self.rowcount = rowcount

    def fetchone(self):
        if self._next >= len(self._rows):
            return None
        self._next += 1
        return self._rows[self._next - 1]

    def fetchall(self) -> list:
        rows, self._next = self._rows[self._next:], len(self._rows)
        return rows

    def __iter__(self):
        return iter(self.fetchall())


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = POOL_SIZE):
        self.url = url
        self._pool_size = pool_size
        self._pool = None
        self._pid = None
        self._guard = threading.Lock()
        self._local = threading.local()

    # -- connections ---------------------------------------------------------------------
    def _pool_here(self) -> psycopg_pool.ConnectionPool:
        if self._pool is None or self._pid != os.getpid():
            with self._guard:
                if self._pool is None or self._pid != os.getpid():
                    self._pool = psycopg_pool.ConnectionPool(
                        self.url, min_size=1, max_size=self._pool_size, open=False,
                        timeout=WAIT_SECONDS, check=self._check_if_idle, reset=self._note_returned,
                        kwargs={"autocommit": True, "connect_timeout": WAIT_SECONDS},
                        name="roomcal")
                    # Not waiting for the first connection: a server started while the
                    # database is down answers 503 until it is back.
                    self._pool.open(wait=False)
                    self._pid = os.getpid()
        return self._pool

    _returned = weakref.WeakKeyDictionary()   # connection -> when it came back to the pool

    @classmethod
    def _note_returned(cls, conn) -> None:
        cls._returned[conn] = time.monotonic()

    @classmethod
    def _check_if_idle(cls, conn) -> None:
        if time.monotonic() - cls._returned.get(conn, float("-inf")) > RECHECK_IDLE:
            psycopg_pool.ConnectionPool.check_connection(conn)

    def _bound(self):
        """The connection of this thread's open transaction, if any."""
        if getattr(self._local, "pid", None) != os.getpid():
            self._local.conn, self._local.pid = None, os.getpid()
        return self._local.conn

    @contextlib.contextmanager
    def _bind(self, conn, writing: bool, begin: str):
        self._local.conn, self._local.pid = conn, os.getpid()
        self._local.writing, self._local.doomed = writing, False
        self._local.begin = begin   # (None once sent)
        self._local.memo, self._local.taken = {}, set()
        try:
            yield conn
        finally:
            self._local.conn = None
            if writing:
                self._local.writes_ended = self.writes_ended() + 1

    def in_transaction(self) -> bool:
        """Is a transaction open on this thread (Radicale's lock, or ``transaction()``)?"""
        return self._bound() is not None

    def memo(self) -> Optional[dict]:
        """Rows the open transaction has read, kept for it (None outside one): whoever
        writes what a kept row shows calls ``forget``."""
        return self._local.memo if self._bound() is not None else None

    def forget(self) -> None:
        if self._bound() is not None:
            self._local.memo.clear()

    def taken(self) -> Optional[set]:
        """The advisory locks the open transaction holds (None outside one)."""
        return self._local.taken if self._bound() is not None else None

    def writes_ended(self) -> int:
        """How many write transactions this thread has ended: what it read outside them
        holds until the next one."""
        return getattr(self._local, "writes_ended", 0)

    def writing(self) -> bool:
        """Is this thread in a request's write transaction (Radicale's "w" lock)?"""
        return self._bound() is not None and self._local.writing

    def rollback_only(self) -> None:
        """The transaction open on this thread ends in a rollback, whatever comes."""
        if self._bound() is not None:
            self._local.doomed = True

    def close(self) -> None:
        if self._pool is not None and self._pid == os.getpid():
            self._pool.close()
        self._pool = None

    # -- statements ----------------------------------------------------------------------
    def execute(self, sql: str, params=()):
        conn = self._bound()
        with _unavailable_when_down():
            if conn is not None:
                with self._begun(conn):
                    return conn.execute(_sql(sql), params)
            ahead = self._ahead()
            if ahead.answered and ahead.writes_ended != self.writes_ended():
                ahead.answered = {}   # (a write transaction ended since: read again, as a memo would)
            answered = ahead.answered.pop(_read_key(sql, params), None) if ahead.answered else None
            if answered is not None:
                return Rows(answered)
            with self._pool_here().connection() as conn:
                return self._with_reads_ahead(conn, sql, params)

    def stream(self, sql: str, params=()) -> Iterator[tuple]:
        """The rows of the read ``sql`` in the open transaction, read a chunk at a time:
        libpq holds a whole result beside the rows made of it (a room's listing of 100 000
        items: 20 MB more at its peak).  Read them all before the next statement.  Outside a
        transaction or in a pipeline, ``execute``'s."""
        conn = self._bound()
        if conn is None or getattr(self._local, "pipeline", None) is not None:
            yield from self.execute(sql, params)
            return
        # (chunks need libpq 17; an older one reads a row at a time)
        size = STREAM_CHUNK if psycopg.pq.version() >= 170000 else 1
        with _unavailable_when_down():
            begin, self._local.begin = self._local.begin, None
            if begin is not None:   # (a stream cannot travel in a pipeline with it)
                conn.execute(begin)
            yield from conn.cursor().stream(_sql(sql), params, size=size)

    # -- reads sent ahead ------------------------------------------------------------------
    # A request asks for its room before its transaction (the front's 404, the rights), a
    # round trip of its own after the sign-in's.  The front names the room before signing in:
    # the read goes with the sign-in's statement, and its answer waits, for this request only.
    def send_ahead(self, sql: str, params=()) -> None:
        """Send the read ``sql`` with this thread's next statement outside a transaction;
        ``execute`` of the same read answers from it once, until ``drop_ahead``."""
        key = _read_key(sql, params)
        if key is not None:
            self._ahead().pending.append(key)

    def drop_ahead(self) -> None:
        """The request is over: what was sent ahead and not used is forgotten."""
        self._local.ahead = _Ahead()

    def _ahead(self) -> "_Ahead":
        ahead = getattr(self._local, "ahead", None)
        if ahead is None:
            ahead = self._local.ahead = _Ahead()
        return ahead

    def _with_reads_ahead(self, conn, sql: str, params) -> Rows:
        ahead = self._ahead()
        key = _read_key(sql, params)
        pending = [read for read in ahead.pending if read != key]
        ahead.pending = []
        if not pending or not psycopg.Pipeline.is_supported():
            cursor = conn.execute(_sql(sql), params)
            return Rows(cursor.fetchall() if cursor.description else None, cursor.rowcount)
        with conn.pipeline():
            sent = [(read, conn.execute(_sql(read[0]), read[1])) for read in pending]
            cursor = conn.execute(_sql(sql), params)
        for read, sent_cursor in sent:
            ahead.answered[read] = sent_cursor.fetchall()
        ahead.writes_ended = self.writes_ended()
        return Rows(cursor.fetchall() if cursor.description else None, cursor.rowcount)

    def executemany(self, sql: str, rows):
        rows = list(rows)
        if not rows:
            return Rows(None, 0)
        with self.transaction(), _unavailable_when_down():
            conn = self._bound()
            with self._begun(conn):
                cursor = conn.cursor()
                cursor.executemany(_sql(sql), rows)
            return cursor

    def _begun(self, conn):
        """The transaction's BEGIN, sent with its first statement: one round trip for both
        (a lock taken to read one row is then two round trips, not three; one taken
        for nothing, none)."""
        begin = self._local.begin
        if begin is None:
            return contextlib.nullcontext()
        self._local.begin = None
        if getattr(self._local, "pipeline", None) is not None:   # it travels with the others
            conn.execute(begin)
            return contextlib.nullcontext()
        return _sent_before(conn, begin)

    @contextlib.contextmanager
    def pipelined(self):
        """Statements of the open transaction sent without waiting for each answer
        (psycopg's pipeline mode): they travel together until a result is read, ``flush``
        or the end of the block, and an error shows there.  Outside a transaction, as usual."""
        conn = self._bound()
        if conn is None or getattr(self._local, "pipeline", None) is not None \
                or not psycopg.Pipeline.is_supported():
            yield
            return
        with _unavailable_when_down(), conn.pipeline() as pipeline:
            self._local.pipeline = pipeline
            try:
                yield
            finally:
                self._local.pipeline = None

    def flush(self) -> None:
        """The statements sent so far answered (their errors raised here)."""
        pipeline = getattr(self._local, "pipeline", None)
        if pipeline is not None:
            with _unavailable_when_down():
                pipeline.sync()

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self):
        """A transaction of its own, or part of the one open on this thread."""
        if self._bound() is not None:
            yield
            return
        with self._open("BEGIN", writing=True):
            yield

    @contextlib.contextmanager
    def request(self, mode: str, outcome: Optional["Outcome"] = None):
        """The transaction of one request (Radicale's lock): ``"w"`` or ``"r"``.  ``outcome``,
        when given, says once it has ended whether it committed a change."""
        if self._bound() is not None:   # a lock taken again inside one: the same transaction
            yield                       # (whose end is the outer lock's, and its outcome)
            return
        begin = ("BEGIN ISOLATION LEVEL READ COMMITTED" if mode == "w"
                 else "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        with self._open(begin, writing=mode == "w", outcome=outcome):
            yield

    @contextlib.contextmanager
    def _open(self, begin: str, writing: bool, outcome: Optional["Outcome"] = None):
        with _unavailable_when_down(), self._pool_here().connection() as conn:
            try:
                with self._bind(conn, writing, begin):
                    yield conn
                    doomed = self._local.doomed
                    begun = self._local.begin is None
                    # A transaction that inserted, updated, deleted or locked a row has an id.
                    changed = (outcome is not None and not doomed and begun and conn.execute(
                        "SELECT txid_current_if_assigned() IS NOT NULL").fetchone()[0])
            except BaseException:
                if self._local.begin is None:
                    with contextlib.suppress(*_DOWN):
                        conn.execute("ROLLBACK")
                raise
            if begun:
                conn.execute("ROLLBACK" if doomed else "COMMIT")
            if outcome is not None:
                outcome.changed = changed


@contextlib.contextmanager
def _sent_before(conn, begin: str):
    if not psycopg.Pipeline.is_supported():
        conn.execute(begin)
        yield
        return
    with conn.pipeline():   # (its end waits for both answers)
        conn.execute(begin)
        yield


def _read_key(sql: str, params):
    """What names a read sent ahead: its statement and parameters (None for parameters that
    cannot be a key, a list for ``ANY(?)``: such a read is never sent ahead)."""
    try:
        key = (sql, tuple(params))
        hash(key)
        return key
    except TypeError:
        return None


class _Ahead:
    """A thread's reads sent ahead (``PostgresDatabase.send_ahead``): to send, and answered."""

    def __init__(self):
        self.pending = []    # [(sql, params)]
        self.answered = {}   # (sql, params) -> rows
        self.writes_ended = 0   # the thread's count of write transactions when they came


class Outcome:
    """How a request's transaction ended: ``changed`` once it committed a change."""

    def __init__(self):
        self.changed = False


_shared = {}
_shared_guard = threading.Lock()


def shared(url: str) -> PostgresDatabase:
    """The one database object of this process for ``url``: every store on it shares the
    pool, and so the request's transaction."""
    with _shared_guard:
        database = _shared.get(url)
        if database is None:
            database = _shared[url] = PostgresDatabase(url)
        return database

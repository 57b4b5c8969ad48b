"""A change journal per collection, for JSON sync in O(changes).

Radicale's own ``sync()`` recomputes a token over every item (O(N), about
0.5 s at 10k items) and cannot continue a partial answer.  Every write of
our storage appends (collection, href) with the collection's next number here,
*before* the file is written: a crash in between can only announce a change
that did not happen (the client refetches), never hide one.

A token is a sequence number.  A page lists each href's latest change after
the token, in change order, at most N; the next token is the last listed
change, so pages continue without gaps or repeats while others write.
A whole-collection replace or journal pruning raises the collection's floor:
older tokens are refused (the client starts again with an empty token).

An initial sync (empty token) lists the collection itself, in href order,
also in pages of N (``listing``).  Its continuing token carries the sequence
number of the moment the first page was read and the last href listed: the
next page lists the hrefs after that one as they are then, and the last page
answers the plain token of that first moment.  So an href is listed once, and
every change committed while the pages were read — to an href already listed
or not — comes again in the next delta.
"""

import base64
import binascii
import time
from typing import Callable, Iterable, List, Optional, Tuple

from roomcal.storage.database import POSTGRESQL, open_database

PREFIX = "urn:roomcal:sync:"
AFTER = ":after:"  # PREFIX <seq> AFTER <last href listed>: the next page of an initial sync
KEEP_SECONDS = 30 * 86400  # like Radicale's max_sync_token_age

# SQLite's tables (PostgreSQL's: storage/postgres/migrations/0001).
SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_counters(collection TEXT PRIMARY KEY,
    seq INTEGER NOT NULL DEFAULT 0, floor INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS sync_changes(collection TEXT NOT NULL, seq INTEGER NOT NULL,
    href TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY(collection, seq, href));
"""


def _setup(conn) -> None:
    conn.executescript(SCHEMA)
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'changes'").fetchone():
        # The journal of before per-collection counters numbered all changes in one
        # sequence: every counter starts above it, so the tokens clients hold stay valid.
        conn.executescript("""
        BEGIN IMMEDIATE;
        INSERT OR IGNORE INTO sync_counters(collection, seq, floor)
            SELECT collection, (SELECT coalesce(max(seq), 0) FROM sqlite_sequence WHERE name = 'changes'), 0
            FROM (SELECT collection FROM changes UNION SELECT collection FROM floors);
        UPDATE sync_counters SET floor = coalesce(
            (SELECT seq FROM floors WHERE floors.collection = sync_counters.collection), 0);
        INSERT OR IGNORE INTO sync_changes SELECT collection, seq, href, at FROM changes;
        DROP TABLE changes; DROP TABLE floors;
        COMMIT;""")


class InvalidToken(ValueError):
    pass


class Journal:
    """Per collection: a counter, bumped by every write in the writing transaction (it orders
    writers of one collection by commit: with PostgreSQL a later commit never carries a
    smaller number), the changes with their numbers, and a floor under which tokens are void."""

    def __init__(self, path: str, configuration=None):
        self.path = path
        # FULL durability: a lost journal entry would hide a change from sync clients.
        self._db = open_database(configuration, path, _setup, timeout=60)

    # -- writes (callers hold Radicale's write lock) -----------------------------------
    def record(self, collection: str, hrefs) -> None:
        """The next numbers of the collection, one per href, in one transaction."""
        hrefs = list(hrefs)
        if not hrefs:
            return
        now, key = time.time(), _key(collection)
        if self._db.dialect == POSTGRESQL:   # one statement, whose answer nobody waits for (the
            # save step's statements travel together: storage/postgres/store.py)
            self._db.execute(
                "WITH counter AS (INSERT INTO sync_counters(collection, seq, floor) VALUES (?, ?, 0) "
                "ON CONFLICT(collection) DO UPDATE SET seq = sync_counters.seq + excluded.seq RETURNING seq) "
                "INSERT INTO sync_changes(collection, seq, href, at) "
                "SELECT ?, counter.seq - ? + h.n, h.href, ? "
                "FROM counter, unnest(?::text[]) WITH ORDINALITY AS h(href, n)",
                (key, len(hrefs), key, len(hrefs), now, hrefs))
            return
        with self._db.transaction():
            last = self._db.execute(
                "INSERT INTO sync_counters(collection, seq, floor) VALUES (?, ?, 0) "
                "ON CONFLICT(collection) DO UPDATE SET seq = sync_counters.seq + excluded.seq "
                "RETURNING seq", (key, len(hrefs))).fetchone()[0]
            first = last - len(hrefs) + 1
            self._db.executemany("INSERT INTO sync_changes(collection, seq, href, at) VALUES (?, ?, ?, ?)",
                                 [(key, first + n, href, now) for n, href in enumerate(hrefs)])

    def reset(self, collection: str) -> None:
        """Everything in the collection changed at once: older tokens are void."""
        key = _key(collection)
        with self._db.transaction():
            self._db.execute("DELETE FROM sync_changes WHERE collection = ?", (key,))
            self._db.execute("INSERT INTO sync_counters(collection, seq, floor) VALUES (?, 0, 0) "
                             "ON CONFLICT(collection) DO UPDATE SET floor = sync_counters.seq", (key,))

    def prune(self, collection: str) -> None:
        """Forget changes older than KEEP_SECONDS (their tokens become invalid)."""
        key = _key(collection)
        cutoff = time.time() - KEEP_SECONDS
        row = self._db.execute("SELECT max(seq) FROM sync_changes WHERE collection = ? AND at < ?",
                               (key, cutoff)).fetchone()
        if row and row[0]:
            with self._db.transaction():
                self._db.execute("DELETE FROM sync_changes WHERE collection = ? AND seq <= ?", (key, row[0]))
                self._db.execute("UPDATE sync_counters SET floor = CASE WHEN floor > ? THEN floor ELSE ? END "
                                 "WHERE collection = ?", (row[0], row[0], key))

    def restart(self, collection: str, seq: int) -> None:
        """A collection copied from another store (storage/migrate.py): its counter goes on from
        ``seq`` with nothing recorded behind it.  Older tokens are void (the client starts
        again); the latest one stays valid, the items being the same.  (A counter started at 0
        would accept old tokens again once it passed them, and hide what changed.)"""
        self._db.execute("INSERT INTO sync_counters(collection, seq, floor) VALUES (?, ?, ?) "
                         "ON CONFLICT(collection) DO UPDATE SET seq = excluded.seq, floor = excluded.floor",
                         (_key(collection), seq, seq))

    # -- reads -----------------------------------------------------------------------------
    def current(self, collection: str) -> str:
        """A token for "now": the collection's last number."""
        return f"{PREFIX}{self._counter(collection)[0]}"

    def counter(self, collection: str) -> int:
        return self._counter(collection)[0]

    def _counter(self, collection: str) -> Tuple[int, int]:
        row = self._db.execute("SELECT seq, floor FROM sync_counters WHERE collection = ?",
                               (_key(collection),)).fetchone()
        return (row[0], row[1]) if row else (0, 0)

    def changes(self, collection: str, token: str, limit: Optional[int]) -> Tuple[List[str], str, bool]:
        """(hrefs changed since ``token`` in change order, next token, more?)."""
        since = self._parse(collection, token)
        query = ("SELECT href, max(seq) AS last FROM sync_changes WHERE collection = ? AND seq > ? "
                 "GROUP BY href ORDER BY last")
        args: tuple = (_key(collection), since)
        if limit is not None:
            query += " LIMIT ?"
            args += (limit + 1,)
        rows = self._db.execute(query, args).fetchall()
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if more else rows
        next_token = f"{PREFIX}{rows[-1][1]}" if more else self.current(collection)
        return [href for href, _ in rows], next_token, more

    def sync(self, collection: str, old_token: str, hrefs: Callable[[], Iterable[str]]):
        """Radicale's ``Collection.sync`` answered from the journal: (token, hrefs changed
        since ``old_token``), every href (``hrefs()``) for an empty one.  An unknown token is
        Radicale's ValueError (403 DAV:valid-sync-token: the client starts again)."""
        token = self.current(collection)
        if not old_token:
            return token, hrefs()
        try:
            changed, _, _ = self.changes(collection, old_token, None)
        except InvalidToken as e:
            raise ValueError(str(e)) from None
        return token, changed

    def listing(self, collection: str, token: str, names_after: Callable[[Optional[str], Optional[int]], List[str]],
                limit: Optional[int]) -> Tuple[List[str], str, bool]:
        """A page of an initial sync: the collection's hrefs now after the last one ``token``
        listed (empty: from the first), in the store's href order, at most ``limit``;
        (that page, next token, more?).  ``names_after(after, count)`` gives them (the
        collection's: at most ``count``, None for all)."""
        if token:
            since, after = self._parse_listing(collection, token)
        else:
            since, after = self._counter(collection)[0], None
        names = names_after(after, None if limit is None else limit + 1)
        if limit is not None and len(names) > limit:
            names = names[:limit]
            return names, f"{PREFIX}{since}{AFTER}{_encode(names[-1])}", True
        return names, f"{PREFIX}{since}", False

    def _parse_listing(self, collection: str, token: str) -> Tuple[int, str]:
        head, _, tail = token.partition(AFTER)
        try:
            after = base64.b64decode(tail + "=" * (-len(tail) % 4), altchars=b"-_",
                                     validate=True).decode("utf-8")
        except (binascii.Error, ValueError):
            raise InvalidToken("This sync-token is not one of this server's.") from None
        return self._parse(collection, head), after

    def _parse(self, collection: str, token: str) -> int:
        if not token.startswith(PREFIX) or not token[len(PREFIX):].isdigit():
            raise InvalidToken("This sync-token is not one of this server's.")
        since = int(token[len(PREFIX):])
        current, floor = self._counter(collection)
        if since < floor:
            raise InvalidToken("This sync-token is too old; start again with an empty sync-token.")
        if since > current:
            raise InvalidToken("This sync-token is from the future.")
        return since


def continues_listing(token: str) -> bool:
    """Is ``token`` empty or one that continues an initial sync (not a delta's)?"""
    return not token or AFTER in token


def _key(collection: str) -> str:
    return collection.strip("/")


def _encode(href: str) -> str:
    return base64.urlsafe_b64encode(href.encode("utf-8")).decode("ascii").rstrip("=")

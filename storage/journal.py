"""A change journal per collection, for JSON sync in O(changes).

Radicale's own ``sync()`` recomputes a token over every item (O(N), about
0.5 s at 10k items) and cannot continue a partial answer.  Every write of
our storage appends (collection, href) with a global sequence number here,
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
from typing import Iterable, List, Optional, Tuple

from roomcal.storage.sqlite import Connections

PREFIX = "urn:roomcal:sync:"
AFTER = ":after:"  # PREFIX <seq> AFTER <last href listed>: the next page of an initial sync
KEEP_SECONDS = 30 * 86400  # like Radicale's max_sync_token_age

SCHEMA = """
CREATE TABLE IF NOT EXISTS changes(seq INTEGER PRIMARY KEY AUTOINCREMENT,
    collection TEXT NOT NULL, href TEXT NOT NULL, at REAL NOT NULL);
CREATE INDEX IF NOT EXISTS changes_by_collection ON changes(collection, seq);
CREATE TABLE IF NOT EXISTS floors(collection TEXT PRIMARY KEY, seq INTEGER NOT NULL);
"""


class InvalidToken(ValueError):
    pass


class Journal:
    def __init__(self, path: str):
        self.path = path
        # FULL durability: a lost journal entry would hide a change from sync clients.
        self._db = Connections(path, lambda conn: conn.executescript(SCHEMA), timeout=60)

    # -- writes (callers hold Radicale's write lock) -----------------------------------
    def record(self, collection: str, hrefs) -> None:
        """One transaction for all of them (autocommit would sync once per href)."""
        now = time.time()
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.executemany("INSERT INTO changes(collection, href, at) VALUES (?, ?, ?)",
                           [(_key(collection), href, now) for href in hrefs])
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def reset(self, collection: str) -> None:
        """Everything in the collection changed at once: older tokens are void."""
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        db.execute("DELETE FROM changes WHERE collection = ?", (_key(collection),))
        db.execute("INSERT OR REPLACE INTO floors VALUES (?, (SELECT coalesce(max(seq), 0) FROM "
                   "sqlite_sequence WHERE name = 'changes'))", (_key(collection),))
        db.execute("COMMIT")

    def prune(self, collection: str) -> None:
        """Forget changes older than KEEP_SECONDS (their tokens become invalid)."""
        db = self._db()
        cutoff = time.time() - KEEP_SECONDS
        row = db.execute("SELECT max(seq) FROM changes WHERE collection = ? AND at < ?",
                         (_key(collection), cutoff)).fetchone()
        if row and row[0]:
            db.execute("BEGIN IMMEDIATE")
            db.execute("DELETE FROM changes WHERE collection = ? AND seq <= ?", (_key(collection), row[0]))
            db.execute("INSERT OR REPLACE INTO floors VALUES (?, max(?, coalesce((SELECT seq FROM "
                       "floors WHERE collection = ?), 0)))", (_key(collection), row[0], _key(collection)))
            db.execute("COMMIT")

    # -- reads -----------------------------------------------------------------------------
    def current(self) -> str:
        """A token for "now" (any collection): the latest sequence number."""
        row = self._db().execute("SELECT seq FROM sqlite_sequence WHERE name = 'changes'").fetchone()
        return f"{PREFIX}{row[0] if row else 0}"

    def changes(self, collection: str, token: str, limit: Optional[int]) -> Tuple[List[str], str, bool]:
        """(hrefs changed since ``token`` in change order, next token, more?)."""
        since = self._parse(collection, token)
        db = self._db()
        query = ("SELECT href, max(seq) AS last FROM changes WHERE collection = ? AND seq > ? "
                 "GROUP BY href ORDER BY last")
        args: tuple = (_key(collection), since)
        if limit is not None:
            query += " LIMIT ?"
            args += (limit + 1,)
        rows = db.execute(query, args).fetchall()
        more = limit is not None and len(rows) > limit
        rows = rows[:limit] if more else rows
        next_token = f"{PREFIX}{rows[-1][1]}" if more else self.current()
        return [href for href, _ in rows], next_token, more

    def listing(self, collection: str, token: str, hrefs: Iterable[str],
                limit: Optional[int]) -> Tuple[List[str], str, bool]:
        """A page of an initial sync: of ``hrefs`` (the collection's, now) those after the
        last one ``token`` listed (empty: from the first), in href order, at most ``limit``;
        (that page, next token, more?)."""
        if token:
            since, after = self._parse_listing(collection, token)
        else:
            since, after = int(self.current()[len(PREFIX):]), None
        names = sorted(h for h in hrefs if after is None or h > after)
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
        floor = self._db().execute("SELECT seq FROM floors WHERE collection = ?",
                                   (_key(collection),)).fetchone()
        if floor and since < floor[0]:
            raise InvalidToken("This sync-token is too old; start again with an empty sync-token.")
        if since > int(self.current()[len(PREFIX):]):
            raise InvalidToken("This sync-token is from the future.")
        return since


def continues_listing(token: str) -> bool:
    """Is ``token`` empty or one that continues an initial sync (not a delta's)?"""
    return not token or AFTER in token


def _key(collection: str) -> str:
    return collection.strip("/")


def _encode(href: str) -> str:
    return base64.urlsafe_b64encode(href.encode("utf-8")).decode("ascii").rstrip("=")

"""Schedule inboxes (RFC 6638 §4): the scheduling messages delivered to each user.

One SQLite file beside the index (with PostgreSQL, tables of the shared database).  Radicale cannot hold a dot-named collection, and the
inbox must not look like a calendar, so its messages (one iCalendar object with METHOD
each: REQUEST, CANCEL, REPLY) are rows here, written by storage/scheduling/people.py inside the
write lock it already holds (each write here is its own SQLite transaction), read and
deleted by the owner's client through server/scheduling/boxes.py.

Sync (RFC 6578): every row has a sequence number, global and increasing: the counter
row of ``inbox_counter``, bumped in the writing transaction, so that a number is never
committed after a greater one was read (a token would skip it).  Removing a
message (the client's DELETE, or housekeeping) replaces its row by a tombstone with a
new number, so a token — the number of the last change — answers "what changed since":
rows after it, live ones as present, tombstones as 404.  Hrefs are random and never
reused.  Tombstones are kept ``KEEP_SECONDS`` and at most ``MAX_TOMBSTONES`` per user;
forgetting them raises the user's floor, and tokens under it are refused (the client
starts again with an empty token).

Bounds: at most ``max_messages`` live messages per user (the oldest go) and none older
than ``KEEP_SECONDS``; both are enforced when a message is added.
"""

import dataclasses
import time
import uuid
from typing import List, Optional, Tuple

from roomcal.storage.database import open_database

PREFIX = "urn:roomcal:inbox:"
MAX_MESSAGES = 500
MAX_TOMBSTONES = 2000
KEEP_SECONDS = 60 * 86400
NO_LIMIT = 2 ** 62   # "all the rows" for LIMIT … OFFSET

SCHEMA = """
CREATE TABLE IF NOT EXISTS inbox(seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user TEXT NOT NULL, href TEXT NOT NULL, uid TEXT NOT NULL DEFAULT '',
    method TEXT NOT NULL DEFAULT '', body TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL, gone INTEGER NOT NULL DEFAULT 0);
CREATE UNIQUE INDEX IF NOT EXISTS inbox_href ON inbox(user, href);
CREATE INDEX IF NOT EXISTS inbox_by_user ON inbox(user, gone, seq);
CREATE TABLE IF NOT EXISTS inbox_floors(user TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS inbox_counter(id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL);
-- A file made before the counter: it goes on from the last number handed out (tokens stay valid).
INSERT INTO inbox_counter(id, seq) SELECT 1, coalesce((SELECT seq FROM sqlite_sequence
    WHERE name = 'inbox'), 0) WHERE NOT EXISTS (SELECT 1 FROM inbox_counter);
"""


class InvalidToken(ValueError):
    pass


@dataclasses.dataclass(frozen=True)
class Message:
    href: str
    uid: str
    method: str
    text: str
    created: float
    seq: int

    @property
    def etag(self) -> str:
        return f'"inbox-{self.seq}"'   # a message never changes: its number is its version


class Inbox:
    def __init__(self, path: str, configuration=None, max_messages: int = MAX_MESSAGES,
                 keep_seconds: float = KEEP_SECONDS, max_tombstones: int = MAX_TOMBSTONES):
        self.path = path
        self.max_messages = max_messages
        self.keep_seconds = keep_seconds
        self.max_tombstones = max_tombstones
        # FULL durability: a lost tombstone would hide a removal from sync clients.
        self._db = open_database(configuration, path, lambda conn: conn.executescript(SCHEMA), timeout=10)

    # -- writes ----------------------------------------------------------------------------
    def add(self, user: str, uid: str, method: str, text: str, now: Optional[float] = None) -> str:
        """File a message for ``user``; its href (a name inside the inbox)."""
        now = time.time() if now is None else now
        href = f"{uuid.uuid4().hex}.ics"
        with self._db.transaction():
            self._db.execute('INSERT INTO inbox(seq, "user", href, uid, method, body, created) '
                             'VALUES (?, ?, ?, ?, ?, ?, ?)', (self._next(), user, href, uid, method, text, now))
            self._housekeeping(user, now)
        return href

    def remove(self, user: str, href: str) -> bool:
        """Delete a message (a tombstone takes its place); False when there is none."""
        with self._db.transaction():
            gone = self._bury(user, [href], time.time())
        return bool(gone)

    def _next(self) -> int:
        """The next number (inside the writing transaction: its row stays locked until then)."""
        return self._db.execute("UPDATE inbox_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq").fetchone()[0]

    def _bury(self, user: str, hrefs: List[str], now: float) -> int:
        buried = 0
        for href in hrefs:
            row = self._db.execute('DELETE FROM inbox WHERE "user" = ? AND href = ? AND gone = 0 RETURNING created',
                                   (user, href)).fetchone()
            if row is not None:
                self._db.execute('INSERT INTO inbox(seq, "user", href, created, gone) VALUES (?, ?, ?, ?, 1)',
                                 (self._next(), user, href, now))
                buried += 1
        return buried

    def _housekeeping(self, user: str, now: float) -> None:
        db = self._db
        cutoff = now - self.keep_seconds
        old = [r[0] for r in db.execute(
            'SELECT href FROM inbox WHERE "user" = ? AND gone = 0 AND created < ?', (user, cutoff))]
        # (OFFSET needs a LIMIT in SQLite, and PostgreSQL refuses SQLite's LIMIT -1.)
        over = [r[0] for r in db.execute(
            'SELECT href FROM inbox WHERE "user" = ? AND gone = 0 ORDER BY seq DESC LIMIT ? OFFSET ?',
            (user, NO_LIMIT, self.max_messages))]
        self._bury(user, list(dict.fromkeys(old + over)), now)
        # Forget old tombstones (and beyond the cap): tokens from before them are void.
        last = db.execute(
            'SELECT max(seq) FROM (SELECT seq FROM inbox WHERE "user" = ? AND gone = 1 AND created < ? '
            'UNION ALL SELECT seq FROM (SELECT seq FROM inbox WHERE "user" = ? AND gone = 1 '
            'ORDER BY seq DESC LIMIT ? OFFSET ?) AS beyond) AS forgotten',
            (user, cutoff, user, NO_LIMIT, self.max_tombstones)).fetchone()[0]
        if last is not None:
            db.execute('DELETE FROM inbox WHERE "user" = ? AND gone = 1 AND seq <= ?', (user, last))
            db.execute('INSERT INTO inbox_floors("user", seq) VALUES (?, ?) ON CONFLICT("user") DO UPDATE '
                       'SET seq = CASE WHEN excluded.seq > inbox_floors.seq THEN excluded.seq '
                       'ELSE inbox_floors.seq END', (user, last))

    # -- a copy to another store (storage/migrate.py) ----------------------------------------
    def export(self) -> Tuple[List[tuple], int]:
        """((user, href, uid, method, text, created) of every message, oldest first; the last
        number handed out)."""
        rows = [tuple(r) for r in self._db.execute(
            'SELECT "user", href, uid, method, body, created FROM inbox WHERE gone = 0 ORDER BY seq')]
        return rows, int(self.token()[len(PREFIX):])

    def restore(self, rows: List[tuple], last: int, users) -> None:
        """Messages of ``export`` with their hrefs, numbered after ``last`` (the source's last
        number); ``users``' tokens from before are void (no tombstones came along): their
        clients start again."""
        with self._db.transaction():
            self._db.execute("UPDATE inbox_counter SET seq = CASE WHEN seq > ? THEN seq ELSE ? END WHERE id = 1",
                             (last, last))
            for user, href, uid, method, text, created in rows:
                self._db.execute('INSERT INTO inbox(seq, "user", href, uid, method, body, created) '
                                 'VALUES (?, ?, ?, ?, ?, ?, ?)', (self._next(), user, href, uid, method, text, created))
            self._db.executemany('INSERT INTO inbox_floors("user", seq) VALUES (?, ?) ON CONFLICT("user") '
                                 'DO UPDATE SET seq = CASE WHEN excluded.seq > inbox_floors.seq THEN excluded.seq '
                                 'ELSE inbox_floors.seq END', [(user, last) for user in sorted(set(users))])

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM inbox WHERE gone = 0").fetchone()[0]

    # -- reads ----------------------------------------------------------------------------
    def list(self, user: str) -> List[Message]:
        rows = self._db.execute('SELECT href, uid, method, body, created, seq FROM inbox '
                                'WHERE "user" = ? AND gone = 0 ORDER BY seq', (user,))
        return [Message(*row) for row in rows]

    def get(self, user: str, href: str) -> Optional[Message]:
        row = self._db.execute('SELECT href, uid, method, body, created, seq FROM inbox '
                               'WHERE "user" = ? AND href = ? AND gone = 0', (user, href)).fetchone()
        return Message(*row) if row else None

    def token(self) -> str:
        """A sync-token for "now" (any user's inbox)."""
        row = self._db.execute("SELECT seq FROM inbox_counter WHERE id = 1").fetchone()
        return f"{PREFIX}{row[0] if row else 0}"

    def ctag(self, user: str) -> str:
        """Changes whenever a message of ``user`` comes or goes."""
        db = self._db
        last = db.execute('SELECT max(seq) FROM inbox WHERE "user" = ?', (user,)).fetchone()[0] or 0
        floor = db.execute('SELECT seq FROM inbox_floors WHERE "user" = ?', (user,)).fetchone()
        return f'"inbox-{max(last, floor[0] if floor else 0)}"'

    def changes(self, user: str, token: str) -> Tuple[List[Message], List[str], str]:
        """(messages added since ``token``, hrefs removed since it, the new token); an empty
        token: every message, nothing removed.  InvalidToken for one this inbox cannot answer."""
        now = self.token()
        if not token:
            return self.list(user), [], now
        since = self._parse(user, token, int(now[len(PREFIX):]))
        rows = self._db.execute('SELECT href, uid, method, body, created, seq, gone FROM inbox '
                                'WHERE "user" = ? AND seq > ? ORDER BY seq', (user, since)).fetchall()
        added = [Message(*row[:6]) for row in rows if not row[6]]
        removed = [row[0] for row in rows if row[6]]
        return added, removed, now

    def _parse(self, user: str, token: str, latest: int) -> int:
        if not token.startswith(PREFIX) or not token[len(PREFIX):].isdigit():
            raise InvalidToken("This sync-token is not one of this inbox's.")
        since = int(token[len(PREFIX):])
        floor = self._db.execute('SELECT seq FROM inbox_floors WHERE "user" = ?', (user,)).fetchone()
        if floor and since < floor[0]:
            raise InvalidToken("This sync-token is too old; start again with an empty sync-token.")
        if since > latest:
            raise InvalidToken("This sync-token is from the future.")
        return since

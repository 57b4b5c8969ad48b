"""The outbox: mails waiting to be sent, one SQLite file beside the store (with
PostgreSQL, a table of the shared database: storage/database.py).

Writes only ``add`` a row (inside the write lock, no network); the sender
threads of ``roomcal serve`` (server/mailer.py, one per worker process) take
rows with ``claim``, which is atomic across processes and, with PostgreSQL, hosts
(one ``UPDATE ... RETURNING`` in a transaction; PostgreSQL skips rows another
sender is claiming): a row is handed to one sender at a time, for a
lease of ``claim_timeout`` seconds.  ``done`` marks it sent; ``retry`` hands it
back with a later ``next_try`` (exponential backoff); ``fail`` keeps it as
failed (a permanent SMTP refusal).  A sender that dies while holding a row
(crash, kill -9) loses its lease when it expires, or as soon as a sender starting
on the same host sees that its process is gone: another sender takes the row
then.  So nothing is lost across restarts; a crash between the SMTP server's
"250 OK" and ``done`` sends that one mail again (at least once).
"""

import dataclasses
import sqlite3
import time
from typing import List, Optional

from roomcal.storage.database import POSTGRESQL, open_database
from roomcal.storage.errors import NotFound, Refusal

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox(
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    body TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT '',
    room TEXT NOT NULL DEFAULT '',
    uid TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL DEFAULT 'pending',      -- pending, sent, failed
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claimed_until REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    sent REAL);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(state, next_try);
"""
# Added later: an outbox file made before gets them by ALTER TABLE (old rows: plain mail).
# An iMIP message (RFC 6047) carries its iCalendar text and METHOD, sent as a text/calendar
# part and as an attached invite.ics; replies go to ``reply_to`` (an organizer, an attendee).
# ``attachment``: a booking as iCalendar text, attached as booking.ics (text/calendar;
# method=PUBLISH) to a confirmation, for any calendar app to add (storage/notify.py).
LATER_COLUMNS = (("calendar", "TEXT NOT NULL DEFAULT ''"), ("method", "TEXT NOT NULL DEFAULT ''"),
                 ("reply_to", "TEXT NOT NULL DEFAULT ''"), ("attachment", "TEXT NOT NULL DEFAULT ''"))
EXPORTED = ("created", "recipient", "subject", "body", "kind", "room", "uid", "state", "attempts",
            "next_try", "last_error", "calendar", "method", "reply_to", "attachment")
KEEP_SENT = 30 * 86400  # sent rows are kept this long (what went out, for admins)
STATES = ("pending", "sent", "failed")
# What ``list`` shows of a mail: never its body (long; and it is the recipient's business).
LISTED = ("id", "created", "recipient", "subject", "kind", "room", "uid", "state", "attempts",
          "next_try", "last_error", "sent")


class AlreadySent(Refusal):
    """Sending again a mail that went out: it would reach its recipient twice."""
    caldav_status = json_status = 409
    precondition = json_type = "invalidState"


@dataclasses.dataclass(frozen=True)
class Mail:
    id: int
    recipient: str
    subject: str
    body: str
    kind: str = ""
    room: str = ""
    uid: str = ""
    attempts: int = 0
    calendar: str = ""
    method: str = ""
    reply_to: str = ""
    attachment: str = ""


class Outbox:
    def __init__(self, path: str, configuration=None):
        """``path``: the SQLite file, unless ``configuration`` names a PostgreSQL database."""
        self.path = path
        # A short busy timeout: writers append under Radicale's lock and must not stall;
        # every transaction here is a few rows.
        self._db = open_database(configuration, path, _setup, timeout=5, synchronous="NORMAL")
        # Two senders' claims at once: PostgreSQL's second one would wait for the first and
        # then take the same row (READ COMMITTED re-checks only ``id = …``); it skips
        # the row instead.  SQLite's BEGIN IMMEDIATE already lets one writer in at a time.
        self._skip_claimed = " FOR UPDATE SKIP LOCKED" if self._db.dialect == POSTGRESQL else ""

    def add(self, recipient: str, subject: str, body: str, *, kind: str = "", room: str = "",
            uid: str = "", calendar: str = "", method: str = "", reply_to: str = "",
            attachment: str = "") -> int:
        now = time.time()
        return self._db.execute(
            "INSERT INTO outbox(created, recipient, subject, body, kind, room, uid, next_try, "
            "calendar, method, reply_to, attachment) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "RETURNING id",
            (now, recipient, subject, body, kind, room, uid, now, calendar, method, reply_to,
             attachment)).fetchone()[0]

    def claim(self, owner: str, lease: float, now: Optional[float] = None) -> Optional[Mail]:
        """The oldest due mail, leased to ``owner`` for ``lease`` seconds; None if none is due."""
        now = time.time() if now is None else now
        with self._db.transaction():
            row = self._db.execute(
                "UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE id = ("
                "  SELECT id FROM outbox WHERE state = 'pending' AND next_try <= ? AND claimed_until <= ?"
                f"  ORDER BY next_try, id LIMIT 1{self._skip_claimed}) "
                "RETURNING id, recipient, subject, body, kind, room, uid, attempts, calendar, method, "
                "reply_to, attachment",
                (owner, now + lease, now, now)).fetchone()
        return Mail(*row) if row else None

    def done(self, mail_id: int, owner: str) -> None:
        self._db.execute("UPDATE outbox SET state = 'sent', sent = ?, attempts = attempts + 1, "
                           "claimed_by = NULL, claimed_until = 0, last_error = '' "
                           "WHERE id = ? AND claimed_by = ?", (time.time(), mail_id, owner))

    def retry(self, mail_id: int, owner: str, error: str, delay: float) -> None:
        self._db.execute("UPDATE outbox SET attempts = attempts + 1, next_try = ?, last_error = ?, "
                           "claimed_by = NULL, claimed_until = 0 WHERE id = ? AND claimed_by = ?",
                           (time.time() + delay, error[:1000], mail_id, owner))

    def fail(self, mail_id: int, owner: str, error: str) -> None:
        self._db.execute("UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?, "
                           "claimed_by = NULL, claimed_until = 0 WHERE id = ? AND claimed_by = ?",
                           (error[:1000], mail_id, owner))

    def release(self, owner: str) -> None:
        """Hand back every lease of ``owner`` (a sender stopping cleanly)."""
        self._db.execute("UPDATE outbox SET claimed_by = NULL, claimed_until = 0 "
                           "WHERE claimed_by = ? AND state = 'pending'", (owner,))

    def holders(self) -> List[str]:
        """The owners holding a lease now."""
        rows = self._db.execute("SELECT DISTINCT claimed_by FROM outbox WHERE state = 'pending' "
                                  "AND claimed_by IS NOT NULL AND claimed_until > ?", (time.time(),))
        return [row[0] for row in rows]

    def add_unless_sent_lately(self, recipient: str, subject: str, body: str, *, kind: str, room: str,
                               uid: str, within: float) -> Optional[int]:
        """``add``, unless a mail of this kind with the same body went to this recipient about
        this uid (and room) less than ``within`` seconds ago: a client retrying a refused write
        in a loop gets one mail.  One statement, so two processes cannot both add it."""
        now = time.time()
        with self._db.transaction():
            if self._db.dialect == POSTGRESQL:
                # Writers on other hosts are not serialized by one file's lock: the same
                # mail's writers wait for each other here, until the end of the transaction.
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext(?))",
                                 (f"outbox\n{kind}\n{recipient}\n{room}\n{uid}",))
            row = self._db.execute(
                "INSERT INTO outbox(created, recipient, subject, body, kind, room, uid, next_try) "
                "SELECT ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM outbox WHERE kind = ? "
                "AND recipient = ? AND room = ? AND uid = ? AND body = ? AND created > ?) RETURNING id",
                (now, recipient, subject, body, kind, room, uid, now,
                 kind, recipient, room, uid, body, now - within)).fetchone()
        return row[0] if row else None

    def export_unsent(self) -> List[tuple]:
        """The mails not sent yet, pending or failed (``EXPORTED``), oldest first: storage/migrate.py."""
        return [tuple(r) for r in self._db.execute(
            f"SELECT {', '.join(EXPORTED)} FROM outbox WHERE state <> 'sent' ORDER BY id")]

    def restore(self, rows: List[tuple]) -> None:
        """Mails of ``export_unsent`` (new ids, no sender's lease)."""
        self._db.executemany(f"INSERT INTO outbox({', '.join(EXPORTED)}) VALUES "
                             f"({', '.join('?' * len(EXPORTED))})", rows)

    def next_due(self) -> Optional[float]:
        """When the next pending mail is due (its lease counted), or None."""
        row = self._db.execute("SELECT MIN(CASE WHEN next_try > claimed_until THEN next_try ELSE claimed_until END) FROM outbox "
                                 "WHERE state = 'pending'").fetchone()
        return row[0] if row else None

    def prune(self, now: Optional[float] = None) -> None:
        now = time.time() if now is None else now
        self._db.execute("DELETE FROM outbox WHERE state = 'sent' AND sent < ?", (now - KEEP_SENT,))

    def list(self, state: Optional[str] = None, limit: Optional[int] = None) -> List[dict]:
        """The mails (``LISTED``), oldest first; with ``limit``, the newest ``limit`` of them."""
        query = f"SELECT {', '.join(LISTED)} FROM outbox"
        args = ()
        if state:
            query += " WHERE state = ?"
            args = (state,)
        if limit is not None:
            query = f"SELECT * FROM ({query} ORDER BY id DESC LIMIT {int(limit)}) AS newest"
        return [dict(zip(LISTED, row)) for row in self._db.execute(query + " ORDER BY id", args)]

    def get(self, mail_id: int) -> Optional[dict]:
        row = self._db.execute(f"SELECT {', '.join(LISTED)} FROM outbox WHERE id = ?",
                                 (mail_id,)).fetchone()
        return dict(zip(LISTED, row)) if row else None

    def requeue(self, ids: Optional[List[int]] = None) -> List[int]:
        """Send again, at once: the mails ``ids`` (failed ones, or pending ones waiting for
        their next try), or with None every failed mail.  Their attempts and last error stay
        (what happened); the sender takes them at its next look.  NotFound for an unknown
        id, AlreadySent for a sent one; nothing is requeued then.  Returns the ids requeued."""
        db = self._db
        with db.transaction():
            if ids is None:
                chosen = [row[0] for row in db.execute("SELECT id FROM outbox WHERE state = 'failed' "
                                                       "ORDER BY id")]
            else:
                chosen = []
                for mail_id in dict.fromkeys(ids):
                    row = db.execute("SELECT state FROM outbox WHERE id = ?", (mail_id,)).fetchone() \
                        if 0 < mail_id < 2 ** 63 else None
                    if row is None:
                        raise NotFound(f"There is no mail {mail_id} in the outbox.")
                    if row[0] == "sent":
                        raise AlreadySent(f"Mail {mail_id} was sent already; it is not sent twice.")
                    chosen.append(mail_id)
            now = time.time()
            # A pending mail being sent right now (claimed) is left to its sender: not sent twice.
            # ``state <> 'sent'`` again: with PostgreSQL, a sender may mark it sent after the
            # look above (SQLite's BEGIN IMMEDIATE keeps senders out meanwhile).
            chosen = [mail_id for mail_id in chosen if db.execute(
                "UPDATE outbox SET state = 'pending', next_try = ? WHERE id = ? AND state <> 'sent' "
                "AND (state = 'failed' OR claimed_until <= ?)", (now, mail_id, now)).rowcount]
        return chosen


def _setup(conn: sqlite3.Connection) -> None:
    conn.executescript(SCHEMA)
    have = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
    for name, definition in LATER_COLUMNS:
        if name not in have:
            try:
                conn.execute(f"ALTER TABLE outbox ADD COLUMN {name} {definition}")
            except sqlite3.OperationalError:   # another process added it first
                if name not in {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}:
                    raise

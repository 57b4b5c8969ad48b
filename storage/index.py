"""The booking index: one SQLite file beside the collections.

One row per stored item of a room: its UID, whether it can block, and its
span in UTC seconds — exact for a single booking, the envelope for a series
(expanded on demand, in the window asked).  Overlap queries on single
bookings use ``start`` bounded below by the room's longest single booking, so
they are O(log n + k).  A room's rows carry the fingerprint of the room folder
(its mtime); any write that did not come through us changes it, and the room
is rebuilt from its items on next use.

Beside the rows, a ``Stamp`` per file: what Radicale would read from it (ETag, UID,
time range), valid while the file keeps its size and mtime.  Listings and ETags are
served from stamps without reading the files (storage/stamps.py), and a rebuild
re-reads only the files whose stamp no longer matches.
"""

import dataclasses
import sqlite3
from typing import Dict, Iterable, List, NamedTuple, Optional

from roomcal.storage.instances import INFINITY
from roomcal.storage.database import open_database


@dataclasses.dataclass(frozen=True)
class Row:
    href: str
    uid: str
    start: int
    end: int
    recurring: bool
    blocking: bool
    status: str = ""
    summary: str = ""
    owner: str = ""   # who booked (booking.OWNER): quotas count per booker
    outline: str = ""  # what lists show of it (storage/outline.py), "" when not kept


COLUMNS = 'href, uid, start, "end", recurring, blocking, status, summary, owner, outline'


class Stamp(NamedTuple):   # (a tuple: a room's listing makes one per file)
    href: str
    size: int
    mtime_ns: int
    etag: str
    uid: Optional[str]
    component: str      # the item's component (VEVENT)
    time_range: Optional[tuple]   # Radicale's enclosing (start, end), for its REPORT prefilter

    # A stamp that matches its file stands for the file's stat in a room's listing
    # (storage/store.py ``_scan``): one object for each file, not two.
    @property
    def st_size(self) -> int:
        return self.size

    @property
    def st_mtime_ns(self) -> int:
        return self.mtime_ns


SCHEMA = """
CREATE TABLE IF NOT EXISTS rooms(room TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
    newest INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS bookings(
    room TEXT NOT NULL, href TEXT NOT NULL, uid TEXT NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL,
    recurring INTEGER NOT NULL, blocking INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT '', summary TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT '', outline TEXT NOT NULL DEFAULT '',
    PRIMARY KEY(room, href));
CREATE INDEX IF NOT EXISTS bookings_by_start ON bookings(room, recurring, start);
CREATE INDEX IF NOT EXISTS bookings_by_uid ON bookings(room, uid);
CREATE INDEX IF NOT EXISTS bookings_by_length ON bookings(room, recurring, ("end" - start));
CREATE INDEX IF NOT EXISTS bookings_by_owner ON bookings(room, owner, "end");
CREATE TABLE IF NOT EXISTS stamps(
    room TEXT NOT NULL, href TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL,
    etag TEXT NOT NULL, uid TEXT NOT NULL, component TEXT NOT NULL,
    range_start INTEGER NOT NULL, range_end INTEGER NOT NULL,
    PRIMARY KEY(room, href));
"""


HREF_OF_UID = "SELECT href FROM bookings WHERE room = ? AND uid = ?"   # (``Index.href_of_uid``)


def _overlapping_query(room: str, start: int, end: int, blocking_only: bool = True) -> tuple:
    """(SQL, parameters) of ``Index.overlapping``: one statement (a round trip, with
    PostgreSQL), singles that start at most the room's longest single before the window
    (an index range), and series envelopes.  A zero-length booking at ``start`` still counts
    as inside the window."""
    block = " AND blocking = 1" if blocking_only else ""
    return (f"SELECT {COLUMNS} FROM bookings WHERE room = ? AND recurring = 0 AND start < ? "
            'AND start >= ? - coalesce((SELECT max("end" - start) FROM bookings '
            "                           WHERE room = ? AND recurring = 0), 0) "
            'AND ("end" > ? OR start = ?)' + block + " UNION ALL "
            f"SELECT {COLUMNS} FROM bookings "
            'WHERE room = ? AND recurring = 1 AND start < ? AND "end" > ?' + block,
            (room, end, start, room, start, start, room, end, start))


def _setup(conn: sqlite3.Connection) -> None:
    columns = [r[1] for r in conn.execute("PRAGMA table_info(rooms)")]
    booking_columns = [r[1] for r in conn.execute("PRAGMA table_info(bookings)")]
    if (columns and "newest" not in columns) or (booking_columns and "outline" not in booking_columns):
        # an older layout: the index is a cache, rebuilt from the items
        conn.executescript("DROP TABLE IF EXISTS rooms; DROP TABLE IF EXISTS bookings;")
    conn.executescript(SCHEMA)


class Index:
    # What a room's files looked like when indexed: each file's stamp (storage/stamps.py) and
    # the folder's fingerprint (``state``), to see changes made behind the store's back.  A
    # database of items has no files and writes neither (one statement less for each write).
    WATCHES_FILES = True

    def __init__(self, path: str, configuration=None):
        self.path = path
        # A cache of the collections (rebuilt when stale), so NORMAL durability is enough.
        self._db = open_database(configuration, path, _setup, timeout=60, synchronous="NORMAL")

    # -- freshness -----------------------------------------------------------
    def state(self, room: str) -> Optional[tuple]:
        """(folder fingerprint, newest item mtime seen) of the last indexed state."""
        row = self._db.execute("SELECT fingerprint, newest FROM rooms WHERE room = ?",
                               (room,)).fetchone()
        return tuple(row) if row else None

    def replace_room(self, room: str, rows: Iterable[Row], fingerprint: str, newest: int = 0,
                     stamps: Iterable[Stamp] = ()) -> None:
        with self._db.transaction():
            self._db.execute("DELETE FROM bookings WHERE room = ?", (room,))
            self._db.executemany(ROW_UPSERT, [_values(room, r) for r in rows])
            if self.WATCHES_FILES:
                self._db.execute("DELETE FROM stamps WHERE room = ?", (room,))
                self._db.executemany(STAMP_UPSERT, [_stamp_values(room, s) for s in stamps])
                self._db.execute("INSERT INTO rooms VALUES (?, ?, ?) ON CONFLICT(room) DO UPDATE SET "
                                 "fingerprint = excluded.fingerprint, newest = excluded.newest",
                                 (room, fingerprint, newest))

    def drop_room(self, room: str) -> None:
        with self._db.transaction():
            self._db.execute("DELETE FROM bookings WHERE room = ?", (room,))
            if self.WATCHES_FILES:
                self._db.execute("DELETE FROM stamps WHERE room = ?", (room,))
                self._db.execute("DELETE FROM rooms WHERE room = ?", (room,))

    # -- single rows (callers hold Radicale's write lock) ---------------------
    def put(self, room: str, row: Row, fingerprint: str) -> None:
        self.change(room, fingerprint, put=[row])

    def change(self, room: str, fingerprint: str, put=(), remove=(), newest: int = 0,
               stamps: Iterable[Stamp] = ()) -> None:
        with self._db.transaction():
            self._db.executemany("DELETE FROM bookings WHERE room = ? AND href = ?", [(room, h) for h in remove])
            self._db.executemany(ROW_UPSERT, [_values(room, r) for r in put])
            if self.WATCHES_FILES:
                self._db.executemany("DELETE FROM stamps WHERE room = ? AND href = ?", [(room, h) for h in remove])
                self._db.executemany(STAMP_UPSERT, [_stamp_values(room, s) for s in stamps])
                self._db.execute("INSERT INTO rooms VALUES (?, ?, ?) ON CONFLICT(room) DO UPDATE SET "
                                 "fingerprint = excluded.fingerprint, newest = CASE "
                                 "WHEN rooms.newest > excluded.newest THEN rooms.newest ELSE excluded.newest END",
                                 (room, fingerprint, newest))

    # -- queries ---------------------------------------------------------------
    def overlapping_many(self, rooms: List[str], start: int, end: int) -> Dict[str, List[Row]]:
        """``overlapping`` (blocking rows) of each room: one room after another here; a
        database a round trip away asks once (storage/postgres/index.py)."""
        return {room: self.overlapping(room, start, end) for room in rooms}

    def overlapping(self, room: str, start: int, end: int, *, blocking_only: bool = True) -> List[Row]:
        """Rows whose span meets [start, end): exact singles, series envelopes."""
        return [_row(r) for r in self._db.execute(*_overlapping_query(room, start, end, blocking_only)).fetchall()]

    def owned(self, room: str, owner: str, start: int, end: int) -> List[Row]:
        """The blocking rows of ``owner``'s bookings whose span meets [start, end) (singles
        exact, series by envelope): what a quota counts."""
        rows = self._db.execute(
            f"SELECT {COLUMNS} FROM bookings WHERE room = ? AND owner = ? AND blocking = 1 "
            'AND "end" >= ? AND start < ? AND ("end" > ? OR start = ?)',
            (room, owner, start, end, start, start)).fetchall()
        return [_row(r) for r in rows]

    def href_of_uid(self, room: str, uid: str) -> Optional[str]:
        row = self._db.execute(HREF_OF_UID, (room, uid)).fetchone()
        return row[0] if row else None

    def uids_present(self, room: str, uids: Iterable[str]) -> set:
        """Which of ``uids`` the room has: an import's check, 500 names a query."""
        uids, present = list(uids), set()
        for i in range(0, len(uids), 500):
            chunk = uids[i:i + 500]
            present.update(uid for uid, in self._db.execute(
                f"SELECT uid FROM bookings WHERE room = ? AND uid IN ({', '.join('?' * len(chunk))})",
                (room, *chunk)))
        return present

    def rows(self, room: str) -> dict:
        """Every row of the room, by href."""
        return {row.href: row for row in map(_row, self._db.execute(
            f"SELECT {COLUMNS} FROM bookings WHERE room = ?", (room,)))}

    def stamps(self, room: str, etags_only: bool = False) -> dict:
        """Every stamp of the room's files, by href (the few component names shared, not a
        copy of "VEVENT" per file); for a listing of ETags without UIDs and time ranges
        (a sixth of a room's listing in memory)."""
        names = {}
        columns = "NULL, component, NULL, NULL" if etags_only else "uid, component, range_start, range_end"
        return {href: Stamp(href, size, mtime_ns, etag, uid, names.setdefault(component, component),
                            (start, end) if start is not None else None)
                for href, size, mtime_ns, etag, uid, component, start, end in self._db.execute(
                    f"SELECT href, size, mtime_ns, etag, {columns} FROM stamps WHERE room = ?", (room,))}

    def stamp(self, room: str, href: str) -> Optional[Stamp]:
        values = self._db.execute(
            "SELECT href, size, mtime_ns, etag, uid, component, range_start, range_end FROM stamps "
            "WHERE room = ? AND href = ?", (room, href)).fetchone()
        return Stamp(*values[:6], (values[6], values[7])) if values else None

    def forget_stamps(self, room: str, hrefs: Iterable[str]) -> None:
        """Before files change: from now until their new stamps, they are read as files."""
        with self._db.transaction():   # one commit for all of them
            self._db.executemany("DELETE FROM stamps WHERE room = ? AND href = ?", [(room, h) for h in hrefs])

    def count(self, room: str) -> int:
        return self._db.execute("SELECT count(*) FROM bookings WHERE room = ?", (room,)).fetchone()[0]


def _values(room: str, r: Row) -> tuple:
    return (room, r.href, r.uid, r.start, min(r.end, INFINITY), int(r.recurring),
            int(r.blocking), r.status, r.summary, r.owner, r.outline)


ROW_UPSERT = ("INSERT INTO bookings VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(room, href) DO UPDATE SET "
              'uid = excluded.uid, start = excluded.start, "end" = excluded."end", '
              "recurring = excluded.recurring, blocking = excluded.blocking, status = excluded.status, "
              "summary = excluded.summary, owner = excluded.owner, outline = excluded.outline")
STAMP_UPSERT = ("INSERT INTO stamps VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(room, href) DO UPDATE SET "
                "size = excluded.size, mtime_ns = excluded.mtime_ns, etag = excluded.etag, uid = excluded.uid, "
                "component = excluded.component, range_start = excluded.range_start, "
                "range_end = excluded.range_end")


def _stamp_values(room: str, s: Stamp) -> tuple:
    return (room, s.href, s.size, s.mtime_ns, s.etag, s.uid, s.component, *s.time_range)


def _row(values) -> Row:
    href, uid, start, end, recurring, blocking, status, summary, owner, outline = values
    return Row(href, uid, start, end, bool(recurring), bool(blocking), status, summary, owner, outline)

"""Auto-release (issue 18): occurrences of rooms with a ``check-in`` rule that nobody checked
in are given back by the server itself, within a minute of their window closing.

``sweep`` runs every ``[rooms] release_interval`` seconds in a thread of every server
process (server/releaser.py).  One of them acts per interval: the one holding the lease,
a row (owner, expiry) beside the booking index (its SQLite file, or the shared PostgreSQL
database: then one process of all hosts acts) that a process takes when it is free or expired, and renews while it runs.  The lease only saves work: each release is
decided again inside the write lock (the booking re-read in ``build``), so two sweeps
that meet release an occurrence once.

Finding what to release is cheap: only rooms whose rule is on, and only the index rows
meeting the starts whose window closed in the last ``MARGIN`` seconds.  A single booking
becomes ``STATUS:CANCELLED``, a series gets an EXDATE for that occurrence (storage/
series.py ``without_occurrences``); both through the booking verbs' one write
(storage/verbs.py ``change``), so the journal (JSON sync), the index, feeds, the organizer's
copy of a meeting and the mail (kind ``released``) follow as for any other change.
"""

import dataclasses
import logging
import time
from typing import List, Optional

from roomcal.storage import checkin, notify, verbs
from roomcal.storage.series import without_occurrences
from roomcal.storage.context import Actor
from roomcal.storage.database import open_database
from roomcal.storage.errors import NotFound, Refusal
from roomcal.storage.instances import BadBooking, Booking, TooManyOccurrences

logger = logging.getLogger("roomcal.release")
LEASE = "release"
# Seconds after its window closed that an occurrence is still released (a sweep missed
# while the server was down or busy).  Older ones are history: turning check-in on for a
# room does not release what was held before.
MARGIN = 600


# -- who sweeps ---------------------------------------------------------------------------------
def _setup(conn) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS leases(name TEXT PRIMARY KEY, owner TEXT NOT NULL, "
                 "until REAL NOT NULL)")


class Lease:
    """Named leases in an SQLite file (or PostgreSQL's ``leases``): one holder at a time,
    until it expires."""

    def __init__(self, path: str, configuration=None):
        self.path = path
        self._db = open_database(configuration, path, _setup, timeout=5, synchronous="NORMAL")

    def take(self, name: str, owner: str, seconds: float, now: Optional[float] = None) -> bool:
        """Hold ``name`` for ``seconds`` when it is free, expired or ``owner``'s already."""
        now = time.time() if now is None else now
        with self._db.transaction():
            # The upsert locks the row (PostgreSQL) or the file (SQLite) until the end of the
            # transaction: the holder read next is the one that stays.
            self._db.execute("INSERT INTO leases(name, owner, until) VALUES (?, ?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET "
                             "owner = excluded.owner, until = excluded.until "
                             "WHERE leases.until <= ? OR leases.owner = excluded.owner",
                             (name, owner, now + seconds, now))
            holder = self._db.execute("SELECT owner FROM leases WHERE name = ?", (name,)).fetchone()[0]
        return holder == owner

    def give_back(self, name: str, owner: str) -> None:
        self._db.execute("DELETE FROM leases WHERE name = ? AND owner = ?", (name, owner))


# -- what to release ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Due:
    room_id: str
    uid: str
    start: int   # the occurrence (UTC seconds)
    end: int
    closes: int  # when its check-in closed


def due(storage, now: int) -> List[Due]:
    """The occurrences whose check-in closed in (now - MARGIN, now] unchecked, in every room
    with the rule on.  Read under a read lock per room; decided again when released."""
    found = []
    for room in storage.registry.all():
        if room.check_in is None:
            continue
        try:
            found += _due_in(storage, room, now)
        except Exception:   # one room's trouble (a broken index, a full disk) leaves the others
            logger.exception("Could not look for bookings to release in %s", room.path)
    return found


def _due_in(storage, room, now: int) -> List[Due]:
    window = room.check_in.seconds
    first, last = now - window - MARGIN, now - window   # starts in (first, last]
    with storage.acquire_lock("r"):
        try:
            collection = storage.room_collection(room.id)
        except NotFound:   # removed meanwhile
            return []
        rows = storage.index.overlapping(collection.view().room_key, first, last + 1)
        texts = [item.serialize() for _, item in
                 collection.get_multi(sorted({row.href for row in rows})) if item is not None]
    found = []
    for text in texts:
        try:
            booking = Booking(text, room.tz)
            if not checkin.applies(room, booking):
                continue
            occurrences = booking.occurrences(first, last + 1, storage.core.max_occurrences)
        except (BadBooking, TooManyOccurrences):
            continue
        taken = checkin.check_ins(booking)
        found += [Due(room.id, booking.uid, o.start, o.end, o.start + window) for o in occurrences
                  if first < o.start <= last and o.blocking and o.start not in taken]
    return found


# -- releasing ----------------------------------------------------------------------------------
class _Settled(Exception):
    """Nothing to release any more (checked in, cancelled, moved, rule off): no write."""


SERVER = Actor(user="", admin=True)   # the server itself; organizers are told by mail


def release(storage, item: Due) -> bool:
    """Release one occurrence, if it is still due (decided inside the write lock).
    True when it was released by this call."""
    room = storage.registry.get(item.room_id)
    if room is None or room.check_in is None:
        return False

    def apply(booking: Booking, stored) -> Optional[str]:
        if not checkin.applies(stored, booking) or checkin.checked_in(booking, item.start) is not None:
            raise _Settled()
        try:
            current = booking.occurrences(item.start, item.start + 1, storage.core.max_occurrences)
        except (BadBooking, TooManyOccurrences):
            raise _Settled() from None
        if not any(o.start == item.start and o.blocking for o in current):
            raise _Settled()   # released, cancelled or moved since
        if not booking.recurring:
            booking.set_status("CANCELLED")
            return None
        text = without_occurrences(booking, {item.start})
        if text is None:   # overrides only, no main event to carry an EXDATE
            raise _Settled()
        return text

    span = checkin.window(item.start, room.check_in.seconds, storage.check_in.opens)
    try:
        with notify.releasing(item.start, item.end):
            verbs.change(storage, SERVER, room, item.uid, "release", apply,
                         reason=checkin.release_reason(room, span))
    except (_Settled, NotFound):
        return False
    except Refusal as refusal:
        logger.warning("Could not release %s in %s: %s", item.uid, room.path, refusal)
        return False
    logger.info("Released %s in %s (occurrence at %d): nobody checked in", item.uid, room.path,
                item.start)
    return True


def sweep(storage, lease: Lease, owner: str, interval: float, now: Optional[int] = None) -> int:
    """One round: if this process holds the lease, release every occurrence due.  Returns how
    many were released."""
    if not lease.take(LEASE, owner, 1.5 * interval):   # renewed every interval while it runs
        return 0
    now = int(time.time()) if now is None else now
    released = 0
    for item in due(storage, now):
        try:
            released += release(storage, item)
        except Exception:   # the next round tries again
            logger.exception("Could not release %s in room %s", item.uid, item.room_id)
    roll_forward = getattr(storage, "roll_forward", None)   # PostgreSQL's open series (postgres/store.py)
    if roll_forward is not None:
        try:
            roll_forward(now)
        except Exception:
            logger.exception("Could not roll the open series' occupancy forward")
    return released

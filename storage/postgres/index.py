"""The booking index on PostgreSQL, and the rows that make a double booking impossible.

The index's rows are storage/index.py's, in the shared database.  Beside them,
``occupancy``: one row per blocking occurrence of each booking, its span as the
booking core defines it (``overlap.occupied``: start, then its end or one second,
then the room's buffer as it was when written), an open series up to the room's
horizon.  A room of quantity 1 cannot hold two overlapping rows: an exclusion
constraint (migration 0001) refuses them, whatever our code decided.  Writes to one
room are ordered by a transaction-scoped advisory lock (``lock_room``), so the
booking core decides on what is committed, also for rooms of quantity > 1 where no
constraint can count.
"""

import contextlib
import datetime
import time
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import psycopg

from roomcal.storage import overlap
from roomcal.storage.booking import EARLIEST, until
from roomcal.storage.errors import DoubleBooking
from roomcal.storage.index import COLUMNS, HREF_OF_UID, Index, Row, _overlapping_query, _row

_ROOM_LOCKS = 0x524F4F4D   # the advisory locks' first key: "ROOM"
_PREFIXED = ", ".join(f"x.{column.strip()}" for column in COLUMNS.split(","))


def _moment(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)


@contextlib.contextmanager
def refused_as_double_booking(room_of: Callable[[], object]):
    """The exclusion constraint's verdict, a booking that overlaps one our booking core did not
    see (saved at the same moment elsewhere), as the core's refusal (409, the room named)."""
    try:
        yield
    except psycopg.errors.ExclusionViolation:
        raise DoubleBooking(f"{room_of().name} is already booked at that time: another booking was "
                            "saved at the same moment. Nothing was changed; choose another time.") from None


class OccupancyIndex(Index):
    WATCHES_FILES = False

    def lock_room(self, room_key: str) -> None:
        """Until the transaction ends, the only writer of this room (or, a user's home path,
        of that user's calendars among writes that take it).  Rows read before may have
        changed meanwhile: they are read again."""
        taken = self._db.taken()
        if taken is not None and room_key in taken:
            return
        self._db.forget()
        self._db.execute("SELECT pg_advisory_xact_lock(?, hashtext(?))", (_ROOM_LOCKS, room_key))
        if taken is not None:
            taken.add(room_key)

    # -- a new booking's reads, sent ahead (storage/postgres/store.py ``acquire_lock``) ---------
    def read_ahead(self, room_key: str, uid: str, lo: int, hi: int) -> Callable[[], None]:
        """Send what a PUT of a new booking ``uid`` reads next, with the lock's statements:
        the href of ``uid`` in the room (Radicale's check that it is new) and the room's
        blocking rows meeting [lo, hi) (the booking core's).  The function returned keeps
        their answers for the transaction, once answered: ``href_of_uid`` and ``overlapping``
        answer from them until a write of the room's rows (two round trips less)."""
        uid_rows = self._db.execute(HREF_OF_UID, (room_key, uid))
        window_rows = self._db.execute(*_overlapping_query(room_key, lo, hi))

        def keep():
            memo = self._db.memo()
            found = uid_rows.fetchone()
            memo[("uid", room_key, uid)] = found[0] if found else None
            memo[("window", room_key)] = (lo, hi, overlap.Rows(map(_row, window_rows.fetchall())))
        return keep

    def href_of_uid(self, room: str, uid: str) -> Optional[str]:
        memo = self._db.memo()
        if memo is not None and ("uid", room, uid) in memo:
            return memo[("uid", room, uid)]
        return super().href_of_uid(room, uid)

    def overlapping(self, room: str, start: int, end: int, *, blocking_only: bool = True) -> List[Row]:
        memo = self._db.memo()
        window = memo.get(("window", room)) if memo is not None and blocking_only else None
        if window is not None and window[0] <= start and end <= window[1]:
            return window[2].overlapping(start, end)
        return super().overlapping(room, start, end, blocking_only=blocking_only)

    def change(self, *args, **kwargs) -> None:
        self._db.forget()   # (what was read ahead of the room's rows)
        super().change(*args, **kwargs)

    def replace_room(self, *args, **kwargs) -> None:
        self._db.forget()
        super().replace_room(*args, **kwargs)

    def drop_room(self, room: str) -> None:
        self._db.forget()
        super().drop_room(room)

    def overlapping_many(self, rooms: List[str], start: int, end: int) -> Dict[str, List[Row]]:
        """``overlapping`` of every room in two queries (the finder asks a hundred rooms):
        each room's singles from its own longest booking on, as ``overlapping`` reads them."""
        found: Dict[str, List[Row]] = {room: [] for room in rooms}
        singles = self._db.execute(
            f"SELECT x.room, {_PREFIXED} FROM unnest(?::text[]) AS r(room), "
            "LATERAL (SELECT max(\"end\" - start) AS longest FROM bookings "
            "         WHERE room = r.room AND recurring = 0) AS l, "
            "LATERAL (SELECT * FROM bookings WHERE room = r.room AND recurring = 0 "
            "         AND start >= ? - coalesce(l.longest, 0) AND start < ? "
            "         AND (\"end\" > ? OR start = ?) AND blocking = 1) AS x",
            (list(rooms), start, end, start, start)).fetchall()
        series = self._db.execute(
            f"SELECT x.room, {_PREFIXED} FROM bookings AS x WHERE x.room = ANY(?) AND x.recurring = 1 "
            "AND x.start < ? AND x.\"end\" > ? AND x.blocking = 1", (list(rooms), end, start)).fetchall()
        for values in singles + series:
            found[values[0]].append(_row(values[1:]))
        return found

    def spared(self, room_key: str) -> set:
        """The hrefs whose rows the constraint spares (an admin's --allow-conflicts import,
        overlaps copied from a file store): a rebuild or a roll-forward keeps them spared;
        a write through the booking core makes them count again."""
        return {href for (href,) in self._db.execute(
            "SELECT DISTINCT href FROM occupancy WHERE room = ? AND NOT one_at_a_time", (room_key,))}

    def occupy(self, room_key: str, room, core, put: Sequence, remove: Sequence[str] = (),
               now: Optional[int] = None) -> None:
        """The occupancy rows of written bookings (``Put``s), after their index rows."""
        hrefs = [*remove, *(p.href for p in put)]
        self._db.executemany("DELETE FROM occupancy WHERE room = ? AND href = ?", [(room_key, h) for h in hrefs])
        now = int(time.time()) if now is None else now
        spans, expanded = occupancy(room, core, put, room.buffer_seconds(), core.horizon_of(room, now))
        # (in the save step's pipeline, the constraint's verdict comes with its end: there)
        with refused_as_double_booking(lambda: room):
            self._db.executemany("INSERT INTO occupancy(room, href, during, one_at_a_time) "
                                 "VALUES (?, ?, tstzrange(?, ?, '[)'), ?)",
                                 [(room_key, href, _moment(start), _moment(end), one_at_a_time)
                                  for href, start, end, one_at_a_time in spans])
            self._db.executemany("INSERT INTO expanded(room, href, until) VALUES (?, ?, ?) "
                                 "ON CONFLICT(room, href) DO UPDATE SET until = excluded.until",
                                 [(room_key, href, last) for href, last in expanded])

    def occupied(self, room_key: str) -> Tuple[Dict[str, List[tuple]], Dict[str, int]]:
        """What is stored: the spans (seconds) of each booking's occupancy rows, in order, and
        how far each open series was expanded."""
        spans: Dict[str, List[tuple]] = {}
        for href, start, end in self._db.execute(
                "SELECT href, extract(epoch FROM lower(during))::bigint, extract(epoch FROM upper(during))::bigint "
                "FROM occupancy WHERE room = ? ORDER BY href, lower(during)", (room_key,)):
            spans.setdefault(href, []).append((start, end))
        return spans, dict(self._db.execute("SELECT href, until FROM expanded WHERE room = ?", (room_key,)).fetchall())


def occupancy(room, core, put: Sequence, buffer: int, horizon: int, until_of=lambda href: None):
    """(href, start, end, one_at_a_time) of every blocking occurrence of the bookings ``put``,
    and (href, until) of each open series: expanded up to ``until_of(href)``, else ``horizon``."""
    spans, expanded = [], []
    for p in put:
        if p.booking is None or not p.row.blocking:
            continue
        # An admin's import --allow-conflicts stores what overlaps on purpose (legacy data,
        # to be sorted out with clear-bookings): the constraint spares those rows.
        one_at_a_time = room.rules.quantity == 1 and p.checked
        last = (p.booking.infinite and until_of(p.href)) or until(p.booking, horizon)
        for o in p.booking.occurrences(EARLIEST, last, core.max_occurrences):
            if o.blocking:
                start, end = overlap.occupied(o.start, o.end, buffer)
                spans.append((p.href, start, end, one_at_a_time))
        if p.booking.infinite:
            expanded.append((p.href, last))
    return spans, expanded

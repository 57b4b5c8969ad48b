"""The PostgreSQL store: rooms guarded by the booking core (storage/guarded.py) on
collections and items that are rows (storage/postgres/collections.py), for several hosts.

What it gives the save step: writes to a room take the room's advisory lock first
(``view``), so the booking core decides on what is committed; the index rows and the
occupancy rows (storage/postgres/index.py) are written in the same transaction as the
items and the journal, and the database's exclusion constraint is the last line.
A request refused by a refusal that Radicale answers itself (a 4xx) rolls back
whatever it wrote before (``acquire_lock``).
"""

import contextlib
from typing import Sequence

from radicale import types

from roomcal.storage import context
from roomcal.storage.booking import row_for
from roomcal.storage.commit import HELD_MARGIN, Put
from roomcal.storage.errors import Refusal
from roomcal.storage.guarded import GuardedCollection, GuardedStorage, RoomView, room_id_of
from roomcal.storage.instances import BadBooking, Booking
from roomcal.storage.postgres.collections import SqlCollection, SqlStorage
from roomcal.storage.postgres.index import OccupancyIndex, refused_as_double_booking
from roomcal.storage.postgres.rooms import DatabaseRoomRegistry
from roomcal.storage.registry import registry_for
from roomcal.storage.rooms import ROOMS


BULK = 1000          # rows written at once after which the planner's statistics are refreshed
ROLL_SLACK = 86400   # seconds an open series' rows may lag behind the horizon before they are rolled


class Collection(GuardedCollection, SqlCollection):

    def view(self) -> RoomView:
        if self._storage.db.writing():
            self._storage.index.lock_room(self.path)
        return RoomView(self, self._storage.index, self.path)

    def reindex(self, trust_stamps: bool = True, spared=()) -> int:
        """The room's index and occupancy rows again, from its items; ``spared``: hrefs the
        constraint leaves alone too (overlaps copied from a file store: storage/migrate.py)."""
        index, core = self._storage.index, self._storage.core
        room = self.room()
        unchecked = index.spared(self.path) | set(spared)
        puts = [self._put_of(item.href, item, item.href not in unchecked) for item in self.get_all()]
        index.replace_room(self.path, [p.row for p in puts], "")
        index.occupy(self.path, room, core, [p for p in puts if p.booking is not None])
        return len(puts)

    def _put_of(self, href: str, item, checked: bool = True) -> Put:
        """A stored item as the save step's ``Put``: its booking and index row; one that cannot
        be read has no booking and the row that keeps it visible, blocking nothing."""
        try:
            booking = Booking(item.serialize(), self.room().tz)
            return Put(href, item, booking, row_for(href, booking, self._storage.core.max_occurrences), checked)
        except (BadBooking, Refusal, ValueError):
            return Put(href, item, None, self._row(href, item), checked)

    # -- the save step's writes (storage/commit.py) -----------------------------------------
    @contextlib.contextmanager
    def _writes_together(self):
        """The save step's statements go to the database together, in one round trip instead
        of one each (eight for a booking): the pipeline's end, which brings the exclusion
        constraint's verdict on the room's occupancy (storage/postgres/index.py)."""
        with refused_as_double_booking(self.room), self._storage.db.pipelined():
            yield

    def _before_write(self, hrefs: Sequence[str]) -> None:
        pass

    def _remove_item(self, href: str) -> None:
        self._remove_row(href)

    def _store_items(self, put: Sequence[Put], progress=None) -> list:
        results = self._store_rows([(p.href, p.item) for p in put])
        if progress and put:
            progress(len(put), len(put))
        return results

    def _indexed(self, put: Sequence[Put] = (), remove: Sequence[str] = ()) -> None:
        index = self._storage.index
        index.change(self.path, "", put=[p.row for p in put], remove=remove)
        index.occupy(self.path, self.room(), self._storage.core, put, remove)


# A new booking's rows read with its lock: around its span by a day for floating times
# (HELD_MARGIN) and a room's buffer of up to a day; a longer buffer's window is read when
# the booking core asks for it.  Only for a booking of at most a week.
READ_AHEAD_REACH = HELD_MARGIN + 86400
READ_AHEAD_SPAN = 7 * 86400


class Storage(GuardedStorage, SqlStorage):
    _collection_class = Collection

    def __init__(self, configuration):
        super().__init__(configuration)
        self._open_stores(configuration)

    def _open_registry(self, configuration) -> DatabaseRoomRegistry:
        return registry_for(configuration)

    def _open_index(self, path: str, configuration) -> OccupancyIndex:
        return OccupancyIndex(path, configuration)

    def roll_forward(self, now: int) -> int:
        """Open series whose occupancy rows end before today's horizon (they were written
        earlier): expanded further, room by room under the room's lock, so that the
        constraint keeps covering them as time passes.  Returns how many were."""
        rolled = 0
        for room_id in self.registry.ids():
            # The transaction alone, not a request's lock: derived rows, no change of an
            # item that Radicale's hook would be told of.
            with self.db.request("w"):
                collection = self.room_collection(room_id)
                room = collection.room()
                horizon = self.core.horizon_of(room, now)
                behind = [href for (href,) in self.db.execute(
                    "SELECT href FROM expanded WHERE room = ? AND until < ?", (collection.path, horizon - ROLL_SLACK))]
                if not behind:
                    continue
                collection.view()   # the room's lock
                spared = self.index.spared(collection.path)
                puts = [put for put in (collection._put_of(href, item, href not in spared)
                                        for href, item in collection.get_multi(behind) if item is not None)
                        if put.booking is not None]
                self.index.occupy(collection.path, room, self.core, puts, now=now)
                rolled += len(puts)
        return rolled

    def import_bookings(self, room_id: str, text: str, actor, **options) -> list:
        hrefs = super().import_bookings(room_id, text, actor, **options)
        if len(hrefs) >= BULK and not options.get("dry_run"):
            self.refresh_statistics()
        return hrefs

    def refresh_statistics(self) -> None:
        """The planner's statistics of the tables a bulk write filled.  Until autovacuum
        analyzes them (a minute or more later), a room imported just now is planned as if
        it were empty: its overlap queries read all its rows (at 10 000 bookings a new
        booking took 11 ms instead of 7)."""
        self.db.execute("ANALYZE items, bookings, occupancy, expanded, sync_changes")

    def lock_writes(self, room_ids=(), users=()) -> None:
        """The advisory locks of the rooms (as ``acquire_lock`` takes them) and of the users'
        homes, in the order of their paths.  A write of one user's calendar alone takes none
        (its rows lock it): a user's lock orders writes that change several collections."""
        if self.db.writing():
            paths = [*(f"{ROOMS}/{room_id}" for room_id in room_ids), *(f"{user}/" for user in users)]
            with self.db.pipelined():   # (one round trip)
                for path in sorted(paths):
                    self.index.lock_room(path)

    @types.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args, **kwargs):
        with super().acquire_lock(mode, user, *args, **kwargs):
            # First, with the BEGIN: what the request reads of a room (the item an If-Match
            # is checked against) is then what its booking core decides on, and is read
            # once (storage/postgres/database.py).  In one order: no two requests wait
            # for each other.  What a PUT or DELETE reads first goes with them.
            locks, writes_item = sorted(_locks_of(mode, kwargs)), _writes_item(mode, kwargs)
            if locks or writes_item:
                with self.db.pipelined():
                    for path in locks:
                        self.index.lock_room(path)
                    keep = self.read_ahead(kwargs["path"]) if writes_item else None
                    keep_booking = self._read_ahead_new_booking(kwargs) if writes_item else None
                for kept in (keep, keep_booking):
                    if kept is not None:
                        kept()
            state = context.current()
            refused_before = state.refusal if state is not None else None
            yield
            if state is not None and state.refusal is not refused_before:
                # Radicale answered a refusal itself (a 4xx, no exception reaches us): what
                # the request wrote before it was refused must not stay.
                self.db.rollback_only()

    def _read_ahead_new_booking(self, lock_arguments: dict):
        """A PUT creating one item in a room (storage/context.py ``new_item``): the index's
        reads of a new booking, sent with the lock's statements (``OccupancyIndex.read_ahead``).
        A booking longer than a week (a series) leaves its reads to the booking core."""
        new = context.new_item()
        room_key = lock_arguments["path"].strip("/").rpartition("/")[0]
        if new is None or lock_arguments.get("request") != "PUT" or room_id_of(room_key) is None:
            return None
        uid, (start, end) = new
        if end - start > READ_AHEAD_SPAN:
            return None
        return self.index.read_ahead(room_key, uid, start - READ_AHEAD_REACH, end + READ_AHEAD_REACH)


def _writes_item(mode: str, lock_arguments: dict) -> bool:
    """Is it Radicale's PUT or DELETE, or a write of JSON or /api (which name themselves so)?"""
    return mode == "w" and lock_arguments.get("request") in ("PUT", "DELETE") and bool(lock_arguments.get("path"))


def _locks_of(mode: str, lock_arguments: dict) -> set:
    """The advisory locks a write takes first, by the paths ``Storage.lock_writes`` names them
    with: the rooms (their collections' paths) a PUT, DELETE, MOVE or PROPPATCH of Radicale's,
    or a write of JSON or /api, changes (the one its path is in, and a MOVE's destination's);
    and for a MOVE, which journals two calendars, the owner's home of each one that is no
    room (two MOVEs the opposite ways between two calendars deadlocked)."""
    request = lock_arguments.get("request")
    if mode != "w" or request not in ("PUT", "DELETE", "MOVE", "PROPPATCH"):
        return set()
    found = set()
    for path in (lock_arguments.get("path"), lock_arguments.get("to_path")):
        parts = (path or "").strip("/").split("/")
        if len(parts) in (2, 3) and room_id_of("/".join(parts[:2])) is not None:
            found.add("/".join(parts[:2]))
        elif request == "MOVE" and len(parts) >= 2 and parts[0]:
            found.add(f"{parts[0]}/")
    return found

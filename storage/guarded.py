"""What makes a Radicale storage roomcal's, whatever keeps the items: rooms guarded by the
booking core.

Only collections under ``/rooms/<id>/`` are touched; personal calendars behave
exactly as in Radicale.  Every way an item can enter a room ends in
``BookingCore.admit`` under the storage's write lock: ``upload`` (item PUT, JSON,
/api), ``create_collection`` (whole-collection PUT), ``move`` (MOVE into a room),
``import_bookings`` (CLI) and ``replace_period``; every item written goes through
storage/commit.py (journal, item, index, mail).

``GuardedCollection`` and ``GuardedStorage`` come before a backend's classes in the
bases: Radicale's files (storage/store.py) or PostgreSQL (storage/postgres/store.py).
A backend's collection gives the save step what only it knows (``view``, ``reindex``,
``_get``, ``_writes_together``, ``_before_write``, ``_remove_item``, ``_store_items``,
``_indexed``), its storage the room registry (``_open_registry``).
"""

import functools
import logging
import os
from typing import Dict, List, NamedTuple, Optional, Tuple

import radicale.item as radicale_item
from radicale import pathutils, types
from radicale.item import filter as radicale_filter

from roomcal.storage import availability, context, iana_zones, overlap, replace, roles, rooms, series
from roomcal.storage.accounts import Accounts
from roomcal.storage.booking import EARLIEST, BookingCore, Decision, row_for
from roomcal.storage.checkin import settings_from as check_in_settings
from roomcal.storage.commit import DELETE, IMPORT, MOVE, PUT, Put, admit, admit_batch, commit, held_reach
from roomcal.storage.context import Actor
from roomcal.storage.durations import parse as parse_duration
from roomcal.storage.errors import InvalidBooking, InvalidRoom, NotFound, PreconditionFailed, Refusal, UidConflict
from roomcal.storage.feeds import feeds_from
from roomcal.storage.index import Index, Row
from roomcal.storage.instances import INFINITY, BadBooking, Booking
from roomcal.storage.items import free_href, plain_item, screened, split_calendar
from roomcal.storage.journal import Journal
from roomcal.storage.notify import Notifier
from roomcal.storage.scheduling import addresses, implicit
from roomcal.storage.scheduling.inbox import Inbox

logger = logging.getLogger("roomcal.storage")
MARGIN = 86400  # floating times: Radicale reads them as UTC, we in the room's zone


def room_id_of(path: str) -> Optional[str]:
    parts = path.strip("/").split("/")  # Collection.path is stored without slashes
    if len(parts) == 2 and parts[0] == rooms.ROOMS and parts[1]:
        return parts[1]
    return None


def _refusing(function):
    """Record a refusal for the front before Radicale swallows it."""
    def wrapper(*args, **kwargs):
        try:
            return function(*args, **kwargs)
        except Refusal as refusal:
            context.record_refusal(refusal)
            raise
    wrapper.__name__ = function.__name__
    wrapper.__doc__ = function.__doc__
    return wrapper


class Written(NamedTuple):
    """One item written by ``Storage.write_item``."""
    href: str
    uid: str
    etag: str
    created: bool
    text: str   # as stored: with what the booking core stamped (owner, approval status)
    skipped: tuple = ()   # occurrences left out because they conflict (storage/series.py)



class RoomView:
    """What the booking core sees of a room: the index plus the stored items."""

    def __init__(self, collection: "GuardedCollection", index: Index, room_key: str):
        self.collection = collection
        self.index = index
        self.room_key = room_key
        self.extra: List[tuple] = []  # (Row, Booking) admitted earlier in a batch
        self.replacing = False        # whole-collection PUT: the stored items go away
        # ``extra`` in a lookup (the batch appends to it), so a batch is not O(n²):
        self._seen = 0                    # entries of ``extra`` taken in so far
        self._extra_rows = overlap.Rows()
        self._held: Optional[tuple] = None   # (lo, hi, Rows): see ``hold``

    def hold(self, lo: int, hi: int, rows: Optional[List[Row]] = None) -> None:
        """Read the stored rows meeting [lo, hi) once: a window inside it is answered from
        them, as the index would (a batch asks two per item), any other by the index.
        ``rows``: those rows (or more), read already (``Index.overlapping_many``)."""
        if not self.replacing:
            self._held = (lo, hi, overlap.Rows(self.index.overlapping(self.room_key, lo, hi) if rows is None
                                               else rows))

    def overlapping(self, start: int, end: int) -> List[Row]:
        if self.replacing:
            rows = []
        elif self._held is not None and self._held[0] <= start and end <= self._held[1]:
            rows = self._held[2].overlapping(start, end)
        else:
            rows = self.index.overlapping(self.room_key, start, end)
        for row, _ in self.extra[self._seen:]:
            self._extra_rows.add(row)
        self._seen = len(self.extra)
        return rows + self._extra_rows.overlapping(start, end)

    def owned(self, owner: str, start: int, end: int) -> List[Row]:
        rows = [] if self.replacing else self.index.owned(self.room_key, owner, start, end)
        return rows + [row for row, _ in self.extra if row.owner == owner and row.blocking
                       and overlap.meets(row.start, row.end, start, end)]

    def booking(self, href: str) -> Optional[Booking]:
        for row, booking in self.extra:
            if row.href == href:
                return booking
        if self.replacing:
            return None
        item = self.collection._get(href)
        if item is None:
            return None
        try:
            return Booking(item.serialize(), self.collection.room().tz)
        except BadBooking:
            return None


def under_read_lock(function):
    """A collection's answer worked out under the storage's read lock.  Radicale's PROPFIND
    writes its answer after releasing the lock: a calendar's ETag, sync token, last change
    and length, listed in a home beside the rooms being booked, were read from files that
    a write was removing (a 500)."""
    @functools.wraps(function)
    def wrapper(self, *args, **kwargs):
        with self._storage.reading():
            return function(self, *args, **kwargs)
    return wrapper


class GuardedCollection:
    """A collection of roomcal's: a room's writes go through the booking core."""

    @property
    @under_read_lock
    def etag(self) -> str:
        return super().etag

    @property
    @under_read_lock
    def last_modified(self) -> str:
        return super().last_modified

    @under_read_lock
    def sync(self, old_token: str = ""):
        return super().sync(old_token)

    @under_read_lock
    def serialize(self, *args, **kwargs) -> str:
        return super().serialize(*args, **kwargs)

    @property
    def room_id(self) -> Optional[str]:
        try:
            return self._room_id
        except AttributeError:   # (asked for every item of a listing)
            self._room_id = room_id_of(self.path)
            return self._room_id

    def room(self) -> rooms.Room:
        room = getattr(self, "_room_cache", None)
        if room is None:
            try:
                room = rooms.Room.from_props(self.room_id, self.get_meta())
            except (ValueError, TypeError) as e:
                raise InvalidBooking(f"Room {self.room_id!r} is misconfigured ({e}); "
                                     "ask an admin to fix it with 'roomcal room set'.") from None
            self._room_cache = room
        return room

    # -- the index ---------------------------------------------------------------
    # (Kept fresh by each backend's ``view``: storage/store.py, storage/hand_edits.py.)
    def _row(self, href: str, item) -> Row:
        try:
            return row_for(href, Booking(item.serialize(), self.room().tz),
                           self._storage.core.max_occurrences)
        except (BadBooking, Refusal, ValueError) as e:
            # Kept visible to REPORTs; it cannot take part in conflict checks.
            logger.warning("Booking %s%s cannot be read: %s", self.path, href, e)
            return Row(href, item.uid or href, EARLIEST, INFINITY, True, False)

    # -- writes: every file written or removed goes through storage/commit.py -------------
    @_refusing
    def upload(self, href: str, item: radicale_item.Item):
        if self.room_id is None:   # a meeting books its rooms, invites its people: storage/scheduling/implicit.py
            item = implicit.on_put(self, href, item)
            return commit(self, put=[Put(href, item)], reason=PUT)[0]
        room, view, actor = self.room(), self.view(), self._storage.actor()
        previous = view.booking(href)
        put = admit(self, room, view, href, item, actor, previous=previous)
        return commit(self, put=[put], reason=PUT, actor=actor, before={href: previous}.get)[0]

    def _item(self, text: str) -> radicale_item.Item:
        item = plain_item(self.path.strip("/"), text)   # vobject's text without vobject (items.py)
        if item is not None:
            return item
        vobject_item, = radicale_item.read_components(text)
        item = radicale_item.Item(collection_path=self.path.strip("/"), vobject_item=vobject_item)
        item.prepare()
        return item

    @_refusing
    def delete(self, href: Optional[str] = None) -> None:
        if href is None:  # the collection itself
            # A room that goes away declines the meetings that invited it.
            invited = implicit.invitations(self) if self.room_id is not None else []
            room = self.room() if invited else None
            super().delete(None)
            self._storage.journal.reset(self.path)
            for booking in invited:
                self._storage.reflect(room, booking, None)
            if self.room_id is not None:
                self._storage.index.drop_room(self.path)
                self._storage.feeds.drop_room(self.room_id)
                self._storage.notifier.templates.drop_room(self.room_id)
            return
        if self.room_id is None:
            implicit.on_delete(self, href)
            commit(self, remove=[href], reason=DELETE)
            return
        view, actor = self.view(), self._storage.actor()
        previous = view.booking(href)
        self._storage.core.check_change(self.room(), actor, previous, "delete")
        commit(self, remove=[href], reason=DELETE, actor=actor, before={href: previous}.get)

    def get_meta(self, key=None):
        """A room advertises events only, whatever its stored properties say (rooms made
        before, an admin's PROPPATCH): the booking core refuses anything else."""
        meta = super().get_meta()
        if self.room_id is not None:
            meta = {**meta, rooms.COMPONENTS: "VEVENT"}
        return meta if key is None else meta.get(key)

    @_refusing
    def set_meta(self, props) -> None:
        if self.room_id is not None:
            try:
                rooms.Room.from_props(self.room_id, props)
            except (ValueError, TypeError) as e:
                raise InvalidRoom(f"These room properties are not valid: {e}.") from None
            self._room_cache = None
        super().set_meta(props)

    # -- Radicale's history housekeeping, cheaper (same results) ----------------------
    def has_uid(self, uid: str) -> bool:
        if self.room_id is None:
            return super().has_uid(uid)
        return self._storage.index.href_of_uid(self.view().room_key, uid) is not None

    def get_filtered(self, filters):
        if self.room_id is None or not self.tag:
            yield from super().get_filtered(filters)
            return
        tag, start, end, simple = radicale_filter.simplify_prefilters(filters, self.tag)
        if tag not in (None, "VEVENT") or (start <= radicale_filter.TIMESTAMP_MIN
                                           and end >= radicale_filter.TIMESTAMP_MAX):
            yield from super().get_filtered(filters)
            return
        view = self.view()
        rows = self._storage.index.overlapping(view.room_key, start - MARGIN, end + MARGIN,
                                               blocking_only=False)
        for _, item in self.get_multi(sorted({row.href for row in rows})):
            # The index only narrows the candidates; then exactly Radicale's own prefilter
            # (BaseCollection.get_filtered) on the cached time range, so items outside the
            # window are never parsed and simple time-range filters need no vobject parse.
            if item is None or (tag is not None and tag != item.component_name):
                continue
            istart, iend = item.time_range
            if istart >= end or iend <= start:
                continue
            yield item, simple and (start <= istart or iend <= end)



class GuardedStorage:
    """A storage of roomcal's: rooms in users' homes, whole-collection writes, MOVE, imports
    and the writes of JSON and /api, all through the booking core."""

    def _open_stores(self, configuration) -> None:
        """Everything beside the items (after the backend's own ``__init__``)."""
        iana_zones.install()   # before Radicale's parser (vobject) reads any time zone
        folder = configuration.get("storage", "filesystem_folder")
        self.registry = self._open_registry(configuration)
        self.accounts = accounts_from(configuration)
        self.feeds = feeds_from(configuration, self.accounts.db_path)
        self.notifier = Notifier(configuration, self.accounts)  # mail to organizers
        self.scheduling = addresses.settings_from(configuration)
        self.directory = addresses.Directory(self.registry, self.accounts, self.scheduling)
        self.check_in = check_in_settings(configuration)   # [rooms]: check-in and release
        # A room-side change of a booking made by invitation, shown in the organizer's copy.
        self.reflect = functools.partial(implicit.reflect, self)
        index_path = _option(configuration, "storage", "roomcal_index",
                             os.path.join(folder, "roomcal-index.sqlite"))
        self.index = self._open_index(index_path, configuration)
        self.journal = Journal(index_path, configuration)
        # Schedule inboxes (RFC 6638 §4): their own file, beside the index.
        self.inbox = Inbox(os.path.join(os.path.dirname(os.path.abspath(index_path)), "roomcal-inbox.sqlite"),
                           configuration)
        self.core = BookingCore(
            self.accounts,
            parse_duration(_option(configuration, "storage", "roomcal_horizon", "P2Y"), calendar_ok=True),
            int(_option(configuration, "storage", "roomcal_max_occurrences", "5000")))

    def _open_index(self, path: str, configuration) -> Index:
        return Index(path, configuration)

    # -- who is writing -----------------------------------------------------------------
    @types.contextmanager
    def acquire_lock(self, mode: str, user: str = "", *args, **kwargs):
        state = context.current()
        actor_name = kwargs.get("actor", user) or ""
        if state is not None and state.actor is None and actor_name:
            state.actor = self.actor_named(actor_name)
        with super().acquire_lock(mode, user, *args, **kwargs), context.holding_lock(mode):
            yield

    @types.contextmanager
    def reading(self):
        """Radicale's read lock, unless this thread holds the lock already."""
        if context.lock_held():
            yield
        else:
            with self.acquire_lock("r"):
                yield

    def refresh_statistics(self) -> None:
        """After a bulk write: the database planner's statistics (PostgreSQL's store)."""

    def actor_named(self, name: str) -> Actor:
        return self.accounts.identity(name).actor()

    def actor(self) -> Actor:
        actor = context.current_actor()
        if actor is None:
            raise Refusal("This write has no known author, so it cannot go into a room.")
        return actor

    # -- discovery: bookable rooms appear in the user's calendar home ---------------------
    def discover(self, path: str, depth: str = "0", child_context_manager=None,
                 user_groups=set()):
        found = False
        actor = context.current_actor()
        parts = path.strip("/").split("/")
        for item in super().discover(path, depth, child_context_manager, user_groups):
            found = True
            if depth != "0" and parts == [rooms.ROOMS] and self._hidden_from(item, actor):
                continue
            yield item
        # Only under an existing home: Radicale auto-creates /<user>/ when discover() yields nothing.
        if found and depth != "0" and actor and actor.user and parts == [actor.user]:
            for room in self.registry.all():
                if self.core.may_book(room, actor) and roles.is_listed(room, actor):
                    yield self._collection_class(self, room.path)

    def _hidden_from(self, item, actor) -> bool:
        """A hidden room in a listing of /rooms/, for anyone but an admin."""
        room_id = room_id_of(getattr(item, "path", "") or "")
        room = self.registry.get(room_id) if room_id is not None else None
        return room is not None and not roles.is_listed(room, actor)

    # -- writes of whole collections -------------------------------------------------------
    @_refusing
    def create_collection(self, href: str, items=None, props=None):
        room_id = room_id_of(href)
        if room_id is None:
            result = super().create_collection(href, items, props)
            if items is not None:
                self.journal.reset(href)
            return result
        existing = self.registry.get(room_id)
        if items is None:  # a new room: `roomcal room add`, or MKCALENDAR by an admin
            props = dict(props or {})
            defaults = rooms.Room(id=room_id, name=props.get("D:displayname") or room_id)
            props = {**defaults.to_props(), **props, "tag": "VCALENDAR"}
            try:
                rooms.Room.from_props(room_id, props)
            except (ValueError, TypeError) as e:
                raise InvalidRoom(f"This is not a valid room: {e}.") from None
            return super().create_collection(href, None, props)
        # Whole-collection PUT: the uploaded events replace the room's bookings;
        # the room's own properties stay.
        items = list(items)
        if existing is None:
            raise NotFound(f"There is no room {room_id!r}; create it with 'roomcal room add' first.")
        collection = next(iter(self.discover(href)))
        room_props = collection.get_meta()
        view = collection.view()
        view.replacing = True
        stored = admit_batch(collection, existing, view, [(i.href, i) for i in items],
                             self.actor(), check=True)
        result = super().create_collection(href, [put.item for put in stored], room_props)
        self.journal.reset(href)
        # Radicale picks the new hrefs and swaps the folder in: index what is there now.
        next(iter(self.discover(href))).reindex()
        return result

    @_refusing
    def move(self, item: radicale_item.Item, to_collection, to_href: str) -> None:
        source = item.collection
        if room_id_of(source.path) is None and room_id_of(to_collection.path) is None:
            self._journal_move(item, to_collection, to_href)
            return super().move(item, to_collection, to_href)
        actor = self.actor()
        if room_id_of(source.path) is not None:
            source_view = source.view()
            self.core.check_change(source.room(), actor, source_view.booking(item.href), "move")
        if room_id_of(to_collection.path) is not None and (
                source.path != to_collection.path or item.href != to_href):
            # Into a room: the target decides, exactly as for a PUT there.  Within one
            # room the item is its own previous version, so it never conflicts with itself.
            target_view = to_collection.view()
            previous = target_view.booking(to_href) or (
                source.view().booking(item.href) if source.path == to_collection.path else None)
            put = admit(to_collection, to_collection.room(), target_view, to_href, item, actor,
                        previous=previous)
            if source.path == to_collection.path:   # one write: the booking never holds the room twice
                commit(to_collection, put=[put], remove=[item.href], reason=MOVE, actor=actor)
            else:
                commit(to_collection, put=[put], reason=MOVE, actor=actor)
                commit(source, remove=[item.href], reason=MOVE, actor=actor)
            return
        # Out of a room (into a calendar): the backend's move (one rename, one UPDATE),
        # journaled and unindexed as commit would.
        self._journal_move(item, to_collection, to_href)
        super().move(item, to_collection, to_href)
        if room_id_of(source.path) is not None:
            source._indexed(remove=[item.href])

    def _journal_move(self, item, to_collection, to_href: str) -> None:
        """Both ends of a MOVE in the change journal (JSON sync; CalDAV sync on PostgreSQL)."""
        self.journal.record(item.collection.path, [item.href])
        self.journal.record(to_collection.path, [to_href])

    # -- command line -------------------------------------------------------------------------
    def room_collection(self, room_id: str) -> GuardedCollection:
        collection = next(iter(self.discover(f"/{rooms.ROOMS}/{room_id}/")), None)
        if not isinstance(collection, GuardedCollection) or self.registry.get(room_id) is None:
            raise NotFound(f"There is no room {room_id!r}.")
        return collection

    def import_bookings(self, room_id: str, text: str, actor: Actor, *, allow_conflicts=False,
                        dry_run=False, progress=None) -> List[str]:
        """Add every event of an .ics file to a room, all or nothing.  Returns the hrefs."""
        path = f"/{rooms.ROOMS}/{room_id}/"
        items = split_calendar(self.configuration, path, text)
        with self.acquire_lock("w", actor.user, path=path, request="IMPORT"):
            collection = self.room_collection(room_id)
            room, view = collection.room(), collection.view()
            present = view.index.uids_present(view.room_key, (item.uid for item in items))
            taken = set(collection._list())   # every name in the room, readable or not
            batch = []
            for item in items:
                if item.uid in present:
                    raise InvalidBooking(f"A booking with UID {item.uid!r} is already in {room.name}.")
                href = free_href(item.uid, taken.__contains__)
                taken.add(href)
                batch.append((href, item))
            stored = admit_batch(collection, room, view, batch, actor, check=not allow_conflicts)
            if not dry_run:
                commit(collection, put=stored, reason=IMPORT, actor=actor, progress=progress)
            return [put.href for put in stored]

    def replace_period(self, room_id: str, start: int, end: int, texts: List[str], actor: Actor):
        """Replace every booking of a room starting in [start, end) (UTC seconds) with
        ``texts`` (one iCalendar object each), all or nothing under one write lock:
        storage/replace.py (``ReplaceRefused`` lists every problem, nothing changed)."""
        return replace.replace_period(self, room_id, start, end, texts, actor)

    def put_booking(self, room_id: str, text: str, actor: Actor, **preconditions) -> "Written":
        """A booking from /api: ``write_item`` into the room."""
        self.room_collection_exists(room_id)
        return self.write_item(f"/{rooms.ROOMS}/{room_id}/", text, actor, **preconditions)

    def free_rooms(self, spans: Dict[str, Tuple[int, int]], actor: Actor, now: int) -> List[str]:
        """The finder: of the rooms ``spans`` names (id -> [start, end)), those whose span the
        booking core would grant ``actor`` now.  Every room's stored rows around its span are
        read at once, not a few queries per room."""
        with self.acquire_lock("r", actor.user):
            collections = {}
            for room_id in spans:
                try:
                    collections[room_id] = self.room_collection(room_id)
                except NotFound:   # removed meanwhile
                    continue
            views = {room_id: collection.view() for room_id, collection in collections.items()}
            reach = {room_id: held_reach(collection.room()) for room_id, collection in collections.items()}
            windows = {room_id: (spans[room_id][0] - reach[room_id], spans[room_id][1] + reach[room_id])
                       for room_id in collections}
            if not windows:
                return []
            rows = self.index.overlapping_many([view.room_key for view in views.values()],
                                               min(lo for lo, _ in windows.values()),
                                               max(hi for _, hi in windows.values()))
            free = []
            for room_id, view in views.items():
                view.hold(*windows[room_id], rows[view.room_key])
                if availability.grants(self.core, collections[room_id].room(), view, *spans[room_id],
                                       now=now, actor=actor):
                    free.append(room_id)
            return free

    def lock_writes(self, room_ids=(), users=()) -> None:
        """Before a write changes several rooms, or calendars of several users: their write
        locks, in one order.  The file store's one lock holds every one already."""

    def ask_ahead(self, path: str) -> None:
        """A request about ``path`` is about to sign in: the row of its room goes with the
        sign-in's query (PostgreSQL; one round trip fewer), for this request only."""
        parts = pathutils.sanitize_path(path).strip("/").split("/")
        if len(parts) >= 2 and parts[0] == rooms.ROOMS:
            self.registry.ask_ahead(parts[1])

    def forget_ahead(self) -> None:
        """The request is over (see ``ask_ahead``)."""
        self.registry.forget_ahead()

    def absent_room(self, path: str) -> Optional[str]:
        """The room id when ``path`` (sanitized) lies inside ``/rooms/<id>/`` and there is no
        such room: the answer is 404 then, not the 403 of a room nobody has rights on."""
        parts = path.strip("/").split("/")
        if len(parts) >= 2 and parts[0] == rooms.ROOMS and self.registry.get(parts[1]) is None:
            return parts[1]
        return None

    def room_collection_exists(self, room_id: str) -> None:
        if self.registry.get(room_id) is None:
            raise NotFound(f"There is no room {room_id!r}.")

    def calendar(self, path: str) -> "GuardedCollection":
        """The calendar collection at ``path`` (call under a lock)."""
        collection = next(iter(self.discover(path)), None)
        if not isinstance(collection, GuardedCollection) or collection.tag != "VCALENDAR":
            raise NotFound(f"There is no calendar at {path}.")
        return collection

    def write_item(self, collection_path: str, text: Optional[str], actor: Actor, *,
                   href: Optional[str] = None, if_match: Optional[str] = None,
                   if_none_match: bool = False, build=None) -> "Written":
        """A write from outside Radicale (JSON, /api) into any calendar: the same ``upload``
        as a CalDAV PUT, so rooms go through the booking core.  Preconditions as in
        CalDAV's PUT.  ``build(current_item or None) -> text`` instead of ``text`` runs
        inside the write lock (read-modify-write: JSON PUT and PATCH).
        Returns what was written (`Written`)."""
        with self.acquire_lock("w", actor.user, path=collection_path, request="PUT", actor=actor.user):
            collection = self.calendar(collection_path)
            if build is not None:
                text = build(collection._get(href) if href else None)
            items = split_calendar(self.configuration, collection_path, text)
            if len(items) != 1:
                raise InvalidBooking("Send exactly one event (one UID) at a time.")
            item, = items
            existing_href = self._href_of_uid(collection, item.uid)
            if href is None:
                href = existing_href or free_href(item.uid, lambda h: collection._get(h) is not None)
            elif existing_href not in (None, href):
                raise UidConflict(f"An event with UID {item.uid!r} already exists at "
                                  f"/{collection.path}/{existing_href}.")
            current = collection._get(href)
            if current is not None and current.uid != item.uid:
                raise UidConflict("The UID of an event cannot change.")
            if (if_none_match and current is not None) or (
                    if_match and if_match != "*" and (current is None or current.etag != if_match)) or (
                    if_match == "*" and current is None):
                raise PreconditionFailed("The event changed since you read it (ETag mismatch).")
            stored, _ = collection.upload(href, item)
            return Written(href, item.uid, stored.etag, current is None, stored.serialize())

    def delete_item(self, collection_path: str, href: str, actor: Actor,
                    if_match: Optional[str] = None) -> None:
        with self.acquire_lock("w", actor.user, path=collection_path + href, request="DELETE",
                               actor=actor.user):
            collection = self.calendar(collection_path)
            current = collection._get(href)
            if current is None:
                raise NotFound(f"There is no event at {collection_path}{href}.")
            if if_match and if_match not in ("*", current.etag):
                raise PreconditionFailed("The event changed since you read it (ETag mismatch).")
            collection.delete(href)

    @staticmethod
    def _href_of_uid(collection: "GuardedCollection", uid: str) -> Optional[str]:
        if collection.room_id is not None:
            return collection._storage.index.href_of_uid(collection.view().room_key, uid)
        for item in collection.get_all():
            if item.uid == uid:
                return item.href
        return None

    def check_booking(self, room_id: str, text: str, actor: Actor, *,
                      skip_conflicts: bool = False) -> Decision:
        """The dry run of /api/rooms/<id>/check: every violation and conflict, nothing stored.
        With ``skip_conflicts``, of the series as it would be stored (``Decision.skipped``)."""
        with self.acquire_lock("r", actor.user):
            skipped = []
            if skip_conflicts:
                text, skipped = self.skip_conflicts(room_id, text, actor)
            room, view, candidate, previous = self._proposed(room_id, text)
            decision = self.core.decide(room, candidate, view, previous=previous, actor=actor)
            decision.skipped = skipped
            return decision

    def skip_conflicts(self, room_id: str, text: str, actor: Actor) -> tuple:
        """(``text`` without the occurrences of its series that are taken, those occurrences as
        ``actor`` may see them): storage/series.py.  Call it under the lock of the write or dry
        run that uses the text, so that nothing takes a kept occurrence in between."""
        room, view, candidate, previous = self._proposed(room_id, text)
        kept, skipped = series.skip_conflicts(self.core, room, candidate, view, actor, previous=previous)
        return kept or text, skipped

    def _proposed(self, room_id: str, text: str) -> tuple:
        """(room, its view, the booking ``text`` proposes, the stored one of its UID or None);
        under a lock."""
        collection = self.room_collection(room_id)
        room, view = collection.room(), collection.view()
        screened(text)
        candidate = self.core.parse(room, text)
        href = self.index.href_of_uid(view.room_key, candidate.uid)
        return room, view, candidate, (view.booking(href) if href else None)


def _option(configuration, section: str, option: str, default: str) -> str:
    try:
        value = configuration.get(section, option)
    except KeyError:
        return default
    return value if value not in (None, "") else default


def accounts_from(configuration) -> Accounts:
    folder = configuration.get("storage", "filesystem_folder")
    return Accounts(
        configuration,
        _option(configuration, "auth", "htpasswd_filename", os.path.join(folder, "users")),
        _option(configuration, "auth", "roomcal_accounts", os.path.join(folder, "accounts.sqlite")),
        int(_option(configuration, "auth", "roomcal_bcrypt_rounds", "12")))


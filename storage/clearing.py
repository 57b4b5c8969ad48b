"""Clearing rooms of cancelled and overlapping bookings (``DELETE /api/clear-bookings``).

``plan`` is pure: from a room's stored bookings, the moment and the horizon it
decides what goes, without I/O.  ``clear`` applies a plan under one write lock
through the storage (``Collection.delete`` / ``upload``), so the index, the
change journal and the booking core see every change.

The rule (the seed's): bookings are taken in the order they were created —
CREATED, else DTSTAMP, else X-ROOMCAL-BOOKED-AT, else the file's time; ties by
UID — and each keeps every occurrence that still fits next to the ones kept
before it (quantity and buffer as in the booking core: ``overlap.blockers``).
A single booking that does not fit is deleted; a series loses only the
occurrences that do not fit (EXDATE; a moved occurrence loses its override
too).  Cancelled bookings (``STATUS:CANCELLED``) are deleted.
Only occurrences that end after now count, series up to the room's horizon; an
occurrence that has already begun is never touched (it is reported as ignored,
and still occupies its slot).
"""

import dataclasses
import logging
import time
from typing import Dict, List, Optional

from roomcal.storage import notify, overlap
from roomcal.storage.booking import OWNER
from roomcal.storage.created import created_at
from roomcal.storage.errors import Refusal
from roomcal.storage.instances import INFINITY, BadBooking, Booking, TooManyOccurrences, utc
from roomcal.storage.series import without_occurrences

logger = logging.getLogger("roomcal.storage")


@dataclasses.dataclass(frozen=True)
class Stored:
    """One stored booking as the planner sees it."""
    href: str
    text: str
    stored_at: Optional[float] = None  # the file's modification time, the last resort for "created"


@dataclasses.dataclass(frozen=True)
class Event:
    """A booking, or one occurrence of a series, as reported."""
    href: str
    uid: str
    name: str
    start: int
    end: int
    created: Optional[int]
    organizer: Optional[str]   # ORGANIZER without mailto:
    booked_by: Optional[str]   # X-ROOMCAL-BOOKED-BY
    recurring: bool = False


@dataclasses.dataclass(frozen=True)
class Overlap:
    event: Event           # the later booking (or occurrence)
    overlaps_with: Event   # the earlier one it collides with
    reason: str = ""       # why it was left alone (ignored only)


@dataclasses.dataclass
class Plan:
    cancelled: List[Event] = dataclasses.field(default_factory=list)
    deleted: List[Overlap] = dataclasses.field(default_factory=list)    # later single bookings
    excluded: List[Overlap] = dataclasses.field(default_factory=list)   # occurrences of later series
    ignored: List[Overlap] = dataclasses.field(default_factory=list)
    deletes: List[str] = dataclasses.field(default_factory=list)        # hrefs
    rewrites: Dict[str, str] = dataclasses.field(default_factory=dict)  # href -> text with EXDATEs
    unreadable: List[str] = dataclasses.field(default_factory=list)     # hrefs left alone

    def drop_rewrite(self, href: str, reason: str) -> None:
        """A rewrite the booking core refused: its occurrences are ignored instead."""
        self.rewrites.pop(href, None)
        keep = []
        for lost_to in self.excluded:
            if lost_to.event.href == href:
                self.ignored.append(dataclasses.replace(lost_to, reason=reason))
            else:
                keep.append(lost_to)
        self.excluded = keep


@dataclasses.dataclass
class _Candidate:
    stored: Stored
    booking: Booking
    key: tuple
    created: Optional[int]


def plan(room, stored: List[Stored], *, now: int, horizon: int, max_occurrences: int = 5000) -> Plan:
    """What clearing ``room`` would do; ``stored`` is every item in it."""
    result = Plan()
    candidates = []
    for entry in stored:
        try:
            booking = Booking(entry.text, room.tz)
        except BadBooking as e:
            logger.warning("clear-bookings: %s%s cannot be read (%s); left alone", room.path, entry.href, e)
            result.unreadable.append(entry.href)
            continue
        created = created_at(booking, entry.stored_at)
        candidate = _Candidate(entry, booking, (created if created is not None else INFINITY, booking.uid),
                               created)
        if (booking.get("STATUS") or "").upper() == "CANCELLED":
            result.cancelled.append(_event(candidate, None))
            result.deletes.append(entry.href)
            continue
        candidates.append(candidate)
    candidates.sort(key=lambda c: c.key)

    buffer = room.buffer_seconds()
    quantity = room.rules.quantity
    earlier = overlap.Spans()  # the occurrences kept so far: (start, end, (key, event))
    for candidate in candidates:
        booking = candidate.booking
        try:
            occurrences = [o for o in booking.occurrences(now, horizon if booking.recurring else INFINITY,
                                                          max_occurrences) if o.blocking]
        except (BadBooking, TooManyOccurrences) as e:
            logger.warning("clear-bookings: %s%s cannot be expanded (%s); left alone",
                           room.path, candidate.stored.href, e)
            result.unreadable.append(candidate.stored.href)
            continue
        losing = []  # (occurrence, winner)
        for o in occurrences:
            others = [(s, e, (key, event)) for s, e, (key, event)
                      in earlier.meeting(*overlap.reach(o.start, o.end, buffer)) if event.uid != booking.uid]
            winners = [what for _, _, what in overlap.blockers((o.start, o.end), others, buffer, quantity)]
            if winners:  # (key, event): it is reported against the one made first
                losing.append((o, min(winners, key=lambda what: what[0])[1]))
        lost = {id(o) for o, _ in losing}
        started = {id(o) for o, _ in losing if o.start < now}
        for o in occurrences:
            if id(o) not in lost or id(o) in started:  # what stays occupies its slot
                earlier.add(o.start, o.end, (candidate.key, _event(candidate, o)))
        for o, winner in losing:
            lost_to = Overlap(_event(candidate, o if booking.recurring else None), winner)
            if id(o) in started:
                result.ignored.append(dataclasses.replace(lost_to, reason="it has already begun"))
            elif booking.recurring:
                result.excluded.append(lost_to)
            else:
                result.deleted.append(lost_to)
        if not booking.recurring and losing and not started:
            result.deletes.append(candidate.stored.href)
        excluded = [o for o, _ in losing if booking.recurring and id(o) not in started]
        if excluded:
            text = without_occurrences(booking, {o.start for o in excluded})
            if text is None:
                result.drop_rewrite(candidate.stored.href, "the series has no main event to exclude "
                                                           "occurrences from")
            else:
                result.rewrites[candidate.stored.href] = text
    return result




def _event(candidate: _Candidate, occurrence) -> Event:
    booking = candidate.booking
    if occurrence is None:  # the booking itself: its main event's span
        main = booking._occurrence(booking.master)
        start, end, name = main.start, main.end, booking.summary
    else:
        start, end, name = occurrence.start, occurrence.end, occurrence.summary or booking.summary
    organizer = booking.get("ORGANIZER")
    if organizer and organizer.lower().startswith("mailto:"):
        organizer = organizer[7:]
    return Event(candidate.stored.href, booking.uid, name, start, end, candidate.created,
                 organizer or None, booking.get(OWNER), booking.recurring)


# -- applying a plan --------------------------------------------------------------------------
@dataclasses.dataclass
class RoomResult:
    room: object   # storage.rooms.Room
    plan: Plan


def clear(storage, room_ids: List[str], actor, *, test: bool, now: Optional[int] = None) -> List[RoomResult]:
    """Plan every room and, unless ``test``, apply the plans — all under one lock
    (a read lock in test mode: nothing changes).  Call inside a request scope
    whose actor is ``actor`` (``Front.run_as``)."""
    now = int(time.time()) if now is None else now
    results = []
    with storage.acquire_lock("r" if test else "w", actor.user, path="/rooms/", request="DELETE",
                              actor=actor.user):
        storage.lock_writes(room_ids=room_ids)   # (in one order: another clearing waits, no deadlock)
        for room_id in room_ids:
            collection = storage.room_collection(room_id)
            room, view = collection.room(), collection.view()
            horizon = int((room.max_advance or storage.core.horizon).after(utc(now)).timestamp())
            stored = [Stored(item.href, item.serialize(), collection.modified(item.href))
                      for item in collection.get_all()]
            result = plan(room, stored, now=now, horizon=horizon,
                          max_occurrences=storage.core.max_occurrences)
            for href, text in list(result.rewrites.items()):
                try:  # the booking core's verdict, without storing: removing occurrences passes
                    storage.core.admit(room, text, view, actor, previous=view.booking(href))
                except Refusal as refusal:
                    result.drop_rewrite(href, refusal.message)
            if not test:
                with notify.clearing(room.id, result):  # the overlaps, for the organizers' mails
                    for href in result.deletes:
                        collection.delete(href)
                    for href, text in result.rewrites.items():
                        collection.upload(href, collection._item(text))
            results.append(RoomResult(room, result))
    return results

"""What people do to a room's bookings, whichever door they use (/api, the web pages).

Book, list, and the verbs of a booking's life: cancel, approve, decline, reschedule,
check in.
Every verb is one ``Storage.write_item`` of the changed booking whose ``build`` runs
inside the write lock, so the booking core decides as for any other write (who may
change it, rules and conflicts of the moved occurrences only, the booking never
conflicting with itself): a refused reschedule leaves the booking as it was.  The reason
goes into the request context for the mail to the organizer.  No HTTP here: the route
modules and the pages turn the answers and refusals into their own language.
"""

import dataclasses
import time
from typing import Callable, List, Optional, Tuple

from roomcal.storage import checkin, context
from roomcal.storage.booking import EARLIEST, checking_in
from roomcal.storage.context import Actor
from roomcal.storage.errors import BadRequest, Forbidden, InvalidBooking, NotFound, PreconditionFailed, Refusal
from roomcal.storage.instances import INFINITY, BadBooking, Booking, TooManyOccurrences, instant
from roomcal.storage.outline import Outline, status_named
from roomcal.storage.reschedule import BadTime, move
from roomcal.storage.rooms import Room, parse_local

STATUSES = ("confirmed", "pending", "cancelled")
MAX_REASON = 2000


class StateConflict(Refusal):
    """The verb does not apply to the booking as it is (e.g. approving a confirmed one)."""
    caldav_status = json_status = 409
    precondition = json_type = "invalidState"


class UidTaken(Refusal):
    caldav_status = json_status = 409
    precondition = json_type = "uidTaken"


def status_of(booking: Booking) -> str:
    return status_named(booking.get("STATUS"))


# -- book --------------------------------------------------------------------------------------
def book(storage, actor: Actor, room: Room, text: str, *, skip_conflicts: bool = False):
    """Store a new booking (``Written``); a UID the room has already is ``UidTaken``.

    With ``skip_conflicts`` a series is stored without its occurrences that are taken
    (``Written.skipped``; storage/series.py), decided inside the write that stores it."""
    if not storage.core.may_book(room, actor):
        raise Forbidden(f"You may not book {room.name}.")
    skipped = []

    def without_conflicts(current):
        kept, found = storage.skip_conflicts(room.id, text, actor)
        skipped.extend(found)
        return kept

    build = without_conflicts if skip_conflicts else None
    with context.request(actor):
        try:
            written = storage.put_booking(room.id, None if build else text, actor, if_none_match=True,
                                          build=build)
        except PreconditionFailed:
            raise UidTaken(f"{room.name} already has a booking with this UID; change it with "
                           "PUT or PATCH on its href, or leave the uid out.") from None
    return written._replace(skipped=tuple(skipped))


# -- read --------------------------------------------------------------------------------------
@dataclasses.dataclass
class Listed:
    href: str
    outline: Outline
    first: Tuple[int, Optional[int]]   # its first occurrence in the window (UTC seconds)


def bookings_in(storage, actor: Actor, room_id: str, window=(EARLIEST, INFINITY), *,
                statuses=(), mine: bool = False) -> List[Listed]:
    """The room's bookings with an occurrence in ``window``, by first occurrence there.
    Only the index's rows that meet the window are read; a single booking's row says all
    a list shows (its times are exact), a series is read for its first occurrence there."""
    found, hrefs = [], []
    with storage.acquire_lock("r", actor.user):
        collection = storage.room_collection(room_id)
        room = collection.room()
        rows = storage.index.overlapping(collection.view().room_key, *window, blocking_only=False)
        if statuses:   # the row has the status and the booker: read and parse only those asked for
            rows = [row for row in rows if status_named(row.status) in statuses]
        if mine:
            rows = [row for row in rows if row.owner == actor.user]
        for row in rows:
            outline = None if row.recurring else Outline.from_text(row.outline)
            if outline is None or not outline.holds_times_in(room.tz):
                hrefs.append(row.href)
            else:
                found.append(Listed(row.href, outline, (row.start, row.end)))
        texts = [(href, item.serialize()) for href, item in
                 collection.get_multi(sorted(set(hrefs))) if item is not None]
    for href, text in texts:
        try:
            booking = Booking(text, room.tz)
        except BadBooking:
            continue
        outline = Outline.of(booking)
        if mine and outline.owner != actor.user:
            continue
        if statuses and outline.status not in statuses:
            continue
        first = first_occurrence(booking, window, storage.core.max_occurrences)
        if first is None:  # a series with no occurrence in the window
            continue
        found.append(Listed(href, outline, first))
    found.sort(key=lambda f: (f.first[0], f.outline.uid))
    return found


def first_occurrence(booking: Booking, window=(EARLIEST, INFINITY), limit: int = 5000):
    """(start, end) of the booking's first occurrence meeting the window (the booking's
    own times for a single one); None when a series has none there.  A series is
    expanded in growing steps from the window's start, so an open-ended one costs a
    few occurrences, not the whole horizon."""
    lo, hi = window
    try:
        if not booking.recurring:
            occurrence = booking.occurrences(EARLIEST, INFINITY, 1)[0]
            return occurrence.start, occurrence.end
        begin = max(lo, min(instant(e["DTSTART"].dt, booking.tz) for e in booking.events) - 86400)
        for days in (8, 93, 733, None):
            end = hi if days is None else min(hi, begin + days * 86400)
            found = booking.occurrences(begin, end, limit)
            if found:
                first = min(found, key=lambda o: (o.start, o.end))
                return first.start, first.end
            if end >= hi:
                return None
        return None
    except TooManyOccurrences:  # thousands in a few days: say when it starts
        return max(lo, booking.envelope(1)[0]), None
    except (BadBooking, IndexError, KeyError):
        return None


def read(storage, actor: Actor, room: Room, uid: str) -> Tuple[str, str, str]:
    """(href, text, etag) of the booking ``uid``; NotFound when the room has none."""
    with storage.acquire_lock("r", actor.user):
        collection = storage.room_collection(room.id)
        href = storage.index.href_of_uid(collection.view().room_key, uid)
        item = collection._get(href) if href else None
        if item is None:
            raise NotFound(f"There is no booking {uid!r} in {room.name}.")
        return href, item.serialize(), item.etag


# -- the verbs ---------------------------------------------------------------------------------
def change(storage, actor: Actor, room: Room, uid: str, verb: str,
           apply: Callable[[Booking, Room], Optional[str]], *, reason: Optional[str] = None,
           if_match: Optional[str] = None, managers_only: bool = False):
    """One atomic write of ``apply(booking, room)`` to the stored booking ``uid``: ``Written``.
    ``apply`` changes the booking in place, or returns the new text of it."""
    core = storage.core
    if managers_only and not core.is_manager(room, actor):
        raise Forbidden(f"Only managers of {room.name} and admins may {verb} its bookings.")
    if reason is not None and (not isinstance(reason, str) or len(reason) > MAX_REASON):
        raise BadRequest(f"'reason' must be text of at most {MAX_REASON} characters.")
    with storage.acquire_lock("r", actor.user):
        collection = storage.room_collection(room.id)
        href = storage.index.href_of_uid(collection.view().room_key, uid)
    if href is None:
        raise NotFound(f"There is no booking {uid!r} in {room.name}.")

    def build(current):
        if current is None or current.uid != uid:  # gone (or replaced) since the lookup
            raise NotFound(f"There is no booking {uid!r} in {room.name}.")
        stored = storage.registry.get(room.id) or room
        try:
            booking = Booking(current.serialize(), stored.tz)
        except BadBooking as e:
            raise InvalidBooking(f"The booking {uid!r} cannot be read: {e}.") from None
        core.check_change(stored, actor, booking, verb)  # yours, or you manage the room
        replaced = apply(booking, stored)
        if replaced is not None:
            booking = Booking(replaced, stored.tz)
        booking.touch()
        return booking.to_ical()

    with context.request(actor):
        context.set_reason(reason.strip() if isinstance(reason, str) and reason.strip() else None)
        return storage.write_item(room.path, None, actor, href=href, build=build, if_match=if_match)


def cancel(storage, actor, room, uid, *, reason=None, if_match=None):
    """STATUS:CANCELLED, kept as history; the slot is free again."""
    def apply(booking, room):
        if status_of(booking) == "cancelled":
            raise StateConflict(f"The booking {uid!r} is already cancelled.")
        booking.set_status("CANCELLED")
    return change(storage, actor, room, uid, "cancel", apply, reason=reason, if_match=if_match)


def approve(storage, actor, room, uid, *, reason=None, if_match=None):
    """A pending booking becomes confirmed (managers and admins)."""
    def apply(booking, room):
        _pending(booking, uid, "approved")
        booking.set_status("CONFIRMED")
    return change(storage, actor, room, uid, "approve", apply, reason=reason, if_match=if_match,
                  managers_only=True)


def decline(storage, actor, room, uid, *, reason=None, if_match=None):
    """A pending booking becomes cancelled (managers and admins); the reason is mailed."""
    def apply(booking, room):
        _pending(booking, uid, "declined")
        booking.set_status("CANCELLED")
    return change(storage, actor, room, uid, "decline", apply, reason=reason, if_match=if_match,
                  managers_only=True)


def reschedule(storage, actor, room, uid, start: str, end: Optional[str] = None, *,
               reason=None, if_match=None):
    """Move the booking to ``start`` (and ``end``, ISO 8601, the room's zone when floating):
    the old slot is released only if the new one is granted."""
    if not start:
        raise BadRequest("'start' is required: the new start (ISO 8601).")

    def apply(booking, room):
        if status_of(booking) == "cancelled":
            raise StateConflict(f"The booking {uid!r} is cancelled; book the new time instead.")
        try:
            move(booking, start, end)
        except BadTime as e:
            raise BadRequest(str(e)) from None
    return change(storage, actor, room, uid, "reschedule", apply, reason=reason, if_match=if_match)


def _pending(booking: Booking, uid: str, done: str) -> None:
    status = status_of(booking)
    if status != "pending":
        raise StateConflict(f"Only a pending booking can be {done}; {uid!r} is {status}.")


@dataclasses.dataclass(frozen=True)
class CheckedIn:
    written: object          # storage.store.Written
    start: int               # the occurrence checked in (UTC seconds)
    end: int
    at: int                  # when


def check_in(storage, actor, room, uid, recurrence_id: Optional[str] = None, *,
             now: Optional[int] = None) -> CheckedIn:
    """Check in the booking's occurrence under way (or about to start; ``recurrence_id``,
    ISO 8601 in the room's zone or with an offset, names one of a series): by its booker,
    a manager of the room or an admin, within its window (storage/checkin.py)."""
    if recurrence_id is not None and not isinstance(recurrence_id, str):
        raise BadRequest("'recurrenceId' must be the start of one occurrence (ISO 8601).")
    wanted = None
    if recurrence_id:
        try:
            wanted = int(parse_local(recurrence_id, room.tz).timestamp())
        except ValueError as e:
            raise BadRequest(f"'recurrenceId': {e}.") from None
    found = {}

    def apply(booking, room):
        if room.check_in is None:
            raise StateConflict(f"Bookings of {room.name} need no check-in.")
        if not checkin.applies(room, booking):
            raise StateConflict("All-day bookings need no check-in.")
        if status_of(booking) == "cancelled":
            raise StateConflict(f"The booking {uid!r} is cancelled.")
        moment = int(time.time()) if now is None else now
        opens, limit = storage.check_in.opens, storage.core.max_occurrences
        try:
            occurrence = checkin.occurrence_to_check_in(booking, room.check_in.seconds, opens, moment,
                                                        wanted, limit)
        except (BadBooking, TooManyOccurrences) as e:
            raise InvalidBooking(f"The booking {uid!r} cannot be read: {e}.") from None
        if occurrence is None:
            raise (NotFound(f"The booking {uid!r} has no occurrence starting at {recurrence_id}.")
                   if wanted is not None else StateConflict(f"The booking {uid!r} has no occurrence left."))
        if occurrence.status == "CANCELLED":
            raise StateConflict(f"This occurrence of {uid!r} is cancelled.")
        done = checkin.checked_in(booking, occurrence.start)
        if done is not None:
            raise StateConflict(f"This booking was checked in already, at "
                                f"{checkin.clock(room, done, moment)} ({room.timezone}).")
        refusal = checkin.outside(room, checkin.window(occurrence.start, room.check_in.seconds, opens),
                                  moment)
        if refusal:
            raise StateConflict(refusal)
        checkin.mark(booking, occurrence.start, moment)
        found.update(start=occurrence.start, end=occurrence.end, at=moment)

    with checking_in():
        written = change(storage, actor, room, uid, "check in", apply)
    return CheckedIn(written, found["start"], found["end"], found["at"])

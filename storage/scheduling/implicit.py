"""Implicit scheduling (RFC 6638 §3.2): a meeting in the organizer's calendar books its rooms.

When a client writes an event into a user's own calendar and that user is its
ORGANIZER, every room among its ATTENDEEs (matched by address, storage/scheduling/addresses.py;
``SCHEDULE-AGENT=CLIENT`` left alone) gets its copy admitted by the booking core, in
the same write lock as the organizer's write: the room holds what it can hold and
nothing else, whoever races for it.  The organizer's stored copy carries each room's
answer — PARTSTAT ACCEPTED, TENTATIVE (an approval room waits for its manager) or
DECLINED with the core's sentence in a COMMENT — and SCHEDULE-STATUS.  The
organizer's write itself never fails because a room said no.

A series is decided per occurrence (``BookingCore.decide_each``): when the core
refuses only some occurrences (taken, in a blackout, outside opening hours…), the
room's copy leaves them out (EXDATE) and the organizer's copy declines them one by
one (overrides marked ``X-ROOMCAL-SCHEDULED``, which the next write may drop again).

Schedule-Tag (RFC 6638 §3.2.10) is a digest of what the organizer or attendee wrote,
blind to the answers merged in (``schedule_tag``); If-Schedule-Tag-Match is checked
against it under the lock.

People among the attendees are storage/scheduling/people.py's.  The room's side — a manager
approving or cancelling, clear-bookings, replace — comes back to the organizer's
copy through ``reflect`` (called by storage/commit.py).  Copies written here go
through commit with the reason ``SCHEDULED``: they mail nobody and are not reflected.
"""

import copy
import dataclasses
import datetime
import hashlib
import logging
from typing import Dict, List, Optional, Set

import icalendar

from roomcal.storage import context, series
from roomcal.storage.booking import OWNER
from roomcal.storage.commit import SCHEDULED, Put, admit, commit
from roomcal.storage.errors import BookingRefused, PreconditionFailed, Refusal
from roomcal.storage.instances import BadBooking, Booking, iso, values_of
from roomcal.storage.items import free_href
from roomcal.storage.scheduling import copies, itip, people
from roomcal.storage.scheduling.addresses import normalized
from roomcal.storage.scheduling.itip import GENERATED   # on overrides and comments this module wrote

logger = logging.getLogger("roomcal.scheduling")

DELIVERED = "1.2"   # RFC 6638 §3.2.9: the room received it; its answer is PARTSTAT
FAILED = "5.1"      # could not be delivered
ROOM_PARAM = "X-ROOMCAL-ROOM"       # on a COMMENT: the room address it speaks for
# Declining occurrences one by one stops here: past it, the whole series is declined
# (an organizer's copy with hundreds of overrides helps nobody).
MAX_DECLINED_OCCURRENCES = 52


@dataclasses.dataclass
class Answer:
    """One room's answer to one version of a meeting."""
    partstat: str                                # ACCEPTED, TENTATIVE or DECLINED
    message: str = ""                            # why declined, or which occurrences
    declined: list = dataclasses.field(default_factory=list)   # RECURRENCE-ID values
    status: str = DELIVERED                      # SCHEDULE-STATUS


# -- entry points (storage/guarded.py, under the write lock) --------------------------------------------
def on_put(collection, href: str, item):
    """The item to store for a client's write of ``item`` into a personal calendar: as
    sent, or with the rooms' answers stamped (then the client gets no ETag)."""
    storage = collection._storage
    if context.wanted_schedule_tag() is not None:
        _check_schedule_tag(collection._get(href))
    text = item.serialize()
    if not storage.scheduling.enabled or "ORGANIZER" not in text.upper():
        return item
    old_item = collection._get(href)
    new = itip.calendar(text)
    if new is None or itip.organizer(new) is None:
        return item
    owner = _owner(collection)
    old = itip.calendar(old_item.serialize()) if old_item is not None else None
    if storage.directory.user_for(itip.organizer(new)) == owner:
        stamped = _organize(storage, owner, old, new)
        if stamped is not None:
            context.note_rewritten()
            item = collection._item(stamped)
    elif _attends(storage, new, owner):
        _for_people(people.reply, storage, owner, old, new, storage.actor_named(owner))
    context.note_schedule_tag(schedule_tag(item.serialize()))
    return item


def on_delete(collection, href: str) -> None:
    """Before a client removes an event from a personal calendar: an organizer's meeting
    releases its rooms (and cancels for its people); an attendee's removal is a reply."""
    storage = collection._storage
    if not storage.scheduling.enabled:
        return
    old_item = collection._get(href)
    old = itip.calendar(old_item.serialize()) if old_item is not None else None
    if old is None or itip.organizer(old) is None:
        return
    owner = _owner(collection)
    booker = storage.actor_named(owner)
    if storage.directory.user_for(itip.organizer(old)) == owner:
        rooms_before, lookup = _rooms_of(storage, old), people.Lookup(storage)
        _lock_writes(storage, owner, rooms_before, old, None, lookup)
        for room in rooms_before.values():
            _release(storage, room, itip.uid(old), booker)
        _for_people(people.deliver, storage, owner, old, None, booker, lookup)
    elif _attends(storage, old, owner):
        _for_people(people.reply, storage, owner, old, None, booker)


def reflect(storage, room, previous: Optional[Booking], new: Optional[Booking]) -> None:
    """A room's copy changed on the room's side (a manager's approval or cancellation,
    clear-bookings, replace): the organizer's copy shows the room's new answer."""
    booking = new or previous
    if booking is None or not storage.scheduling.enabled:
        return
    organizer = booking.get("ORGANIZER")
    user = storage.directory.user_for(organizer) if organizer else None
    if user is None or user != booking.get(OWNER):
        return   # booked directly, not by invitation (or by someone else than the organizer)
    found = copies.find_copy(storage, user, booking.uid)
    if found is None:
        return
    collection, href = found
    item = collection._get(href)
    calendar = itip.calendar(item.serialize()) if item is not None else None
    if calendar is None or storage.directory.user_for(itip.organizer(calendar) or "") != user:
        return
    status = (new.get("STATUS") or "").upper() if new is not None else "CANCELLED"
    answer = {"CANCELLED": Answer("DECLINED", f"{room.name} cancelled this booking."),
              "TENTATIVE": Answer("TENTATIVE", f"{room.name} waits for a manager's approval.") if
              room.rules.approval else Answer("ACCEPTED")}.get(status, Answer("ACCEPTED"))
    if not _restamp(calendar, storage.directory.room_addresses(room), answer):
        return
    put = Put(href, collection._item(calendar.to_ical().decode()))
    commit(collection, put=[put], reason=SCHEDULED)


def invitations(collection) -> List[Booking]:
    """The bookings of a room made by invitation (they name an ORGANIZER): what ``reflect``
    tells when the room itself goes away."""
    if not collection._storage.scheduling.enabled:
        return []
    found = []
    for item in collection.get_all():
        if "ORGANIZER" not in item.serialize().upper():
            continue
        try:
            found.append(Booking(item.serialize(), collection.room().tz))
        except BadBooking:
            continue
    return found


# -- Schedule-Tag (RFC 6638 §3.2.10) ---------------------------------------------------------------
def schedule_tag(text: str) -> Optional[str]:
    """The Schedule-Tag of a scheduling object (an event with an ORGANIZER and attendees), or
    None.  It changes with what the organizer (or, in an attendee's copy, the attendee)
    writes, not with answers the server merges in — PARTSTAT, SCHEDULE-STATUS, RSVP and the
    rooms' comments — so a client holding it may still save over such a merge."""
    if "ORGANIZER" not in text.upper() or "ATTENDEE" not in text.upper():
        return None
    calendar = itip.calendar(text)
    if calendar is None or itip.organizer(calendar) is None:
        return None
    for event in itip.events(calendar):
        for attendee in itip.attendees(event):
            for name in ("PARTSTAT", "SCHEDULE-STATUS", "RSVP"):
                attendee.params.pop(name, None)
        _drop_generated_comments(event)
    digest = hashlib.blake2b(calendar.to_ical(), digest_size=12).hexdigest()
    return f'"{digest}"'


def _check_schedule_tag(current) -> None:
    """If-Schedule-Tag-Match: the write applies to the version the client read, as the
    organizer or attendee wrote it (answers merged since do not count)."""
    wanted = context.wanted_schedule_tag()
    if current is None or schedule_tag(current.serialize()) != wanted.strip():
        raise PreconditionFailed("The meeting changed since you read it (Schedule-Tag mismatch); "
                                 "read it again and save your change over it.")


# -- the organizer's side ------------------------------------------------------------------------------
def _organize(storage, owner: str, old, new) -> Optional[str]:
    """Book, move or release the meeting's rooms; deliver to its people.  The organizer's
    copy as text with the answers stamped, or None when nothing in it changed."""
    booker = storage.actor_named(owner)
    before = new.to_ical()   # delivery writes the people's PARTSTAT into ``new`` too
    rooms_now = _rooms_of(storage, new)
    rooms_before = _rooms_of(storage, old) if old is not None else {}
    lookup = people.Lookup(storage)
    _lock_writes(storage, owner, {**rooms_now, **rooms_before}, old, new, lookup)
    answers = {}
    for room_id, room in rooms_now.items():
        try:
            answer = _book(storage, room, new, booker)
        except Exception:   # noqa: BLE001 — a fault of ours must not lose the organizer's meeting
            logger.exception("Scheduling %s for %s failed", room.id, owner)
            answer = Answer("DECLINED", f"{room.name} could not answer because of a server error; "
                                        "save the meeting again to retry.", status=FAILED)
        answers[room_id] = (storage.directory.room_addresses(room), answer)
    for room_id, room in rooms_before.items():
        if room_id not in rooms_now:
            _release(storage, room, itip.uid(old), booker)
    _stamp(new, answers)   # the rooms' answers first: the people's copies carry them
    _stamp_people(new, _for_people(people.deliver, storage, owner, old, new, booker, lookup) or {})
    return None if new.to_ical() == before else new.to_ical().decode()


def _lock_writes(storage, owner: str, rooms, old, new, lookup) -> None:
    """Every room, and the calendars of every person (the organizer included), that an
    organizer's write may change, locked first in one order: two meetings inviting A, B and
    B, A at once wait for each other rather than deadlock.  ``lookup``: the addresses looked
    up, kept for the delivery."""
    storage.lock_writes(room_ids=set(rooms),
                        users={owner, *(_for_people(people.local_users, storage, owner, old, new, lookup) or ())})


def _for_people(deliver, storage, owner: str, *args):
    """storage/scheduling/people.py's part of a write.  A fault there is logged and leaves
    the people unscheduled: the rooms may already hold their copies, so the user's own
    write must still be stored (failing it now would leave the room booked for nothing)."""
    try:
        return deliver(storage, owner, *args)
    except Exception:   # noqa: BLE001
        logger.exception("Scheduling the people of %s's meeting failed", owner)
        return None


def _book(storage, room, meeting, booker) -> Answer:
    """The room's answer, its copy stored (or removed) accordingly."""
    try:
        collection = storage.room_collection(room.id)
    except Refusal as refusal:
        return Answer("DECLINED", refusal.message)
    view = collection.view()
    uid = itip.uid(meeting)
    href = storage.index.href_of_uid(view.room_key, uid)
    previous = view.booking(href) if href else None
    if previous is not None and previous.get(OWNER) not in (None, booker.user):
        return Answer("DECLINED", f"{room.name} already holds another booking with this meeting's "
                                  "UID; it cannot take this one.")
    address = storage.directory.room_addresses(room)
    new_href = href or free_href(uid, lambda h: collection._get(h) is not None)
    text = _room_copy(meeting, address)
    declined, refusal = [], None
    try:
        put = admit(collection, room, view, new_href, collection._item(text), booker, previous=previous)
    except BookingRefused as refused:
        # A series: the occurrences the core refuses one by one are declined, the rest held.
        declined = _declined_occurrences(storage, room, text, view, previous, booker)
        put, refusal = None, refused
        held = series.without_occurrences(Booking(text, room.tz), [d.start for d in declined]) \
            if declined else None
        if held is not None:
            try:
                put = admit(collection, room, view, new_href, collection._item(held), booker,
                            previous=previous)
            except Refusal as again:
                refusal, declined = again, []
    except Refusal as refused:
        put, refusal = None, refused
    if put is None:
        if href is not None:   # the meeting moved where the room cannot follow: its old time is free again
            commit(collection, remove=[href], reason=SCHEDULED, actor=booker)
        return Answer("DECLINED", refusal.message)
    pending = (put.booking.get("STATUS") or "").upper() == "TENTATIVE" and room.rules.approval
    commit(collection, put=[put], reason=SCHEDULED, actor=booker, before={new_href: previous}.get)
    partstat = "TENTATIVE" if pending else "ACCEPTED"
    message = f"{room.name} waits for a manager's approval." if pending else ""
    if declined:
        message = " ".join(filter(None, [_declined_sentence(room, declined), message]))
    return Answer(partstat, message, [d.rid for d in declined])


@dataclasses.dataclass
class Declined:
    """One occurrence of a series a room cannot take."""
    rid: object      # its RECURRENCE-ID value
    start: int
    why: str         # the core's sentence for it alone


def _declined_occurrences(storage, room, text: str, view, previous, booker=None) -> list:
    """The occurrences of a refused series that the core refuses one by one (``Declined``);
    empty when it is no series, when every occurrence is refused (the series as a whole
    is), or when more than MAX_DECLINED_OCCURRENCES are."""
    try:
        booking = Booking(text, room.tz)
    except BadBooking:
        return []
    if not booking.recurring:
        return []
    decided = storage.core.decide_each(room, booking, view, previous=previous, actor=booker) or []
    refused = [(o, decision) for o, decision in decided if not decision.ok]
    if not refused or len(refused) == len(decided) or len(refused) > MAX_DECLINED_OCCURRENCES:
        return []
    rids = series.recurrence_ids(booking, [o.start for o, _ in refused])
    return [Declined(rid, o.start, decision.message()) for rid, (o, decision) in zip(rids, refused)]


def _declined_sentence(room, declined: list) -> str:
    shown = [f"{iso(room, d.start)[:16].replace('T', ' ')}: {d.why}" for d in declined[:3]]
    more = f" (and {len(declined) - 3} more)" if len(declined) > 3 else ""
    return (f"{room.name} declined {len(declined)} occurrence(s) and accepted the others. "
            f"{' '.join(shown)}{more}")


def _release(storage, room, uid: str, booker) -> None:
    """The room's copy of a meeting that no longer invites it (or no longer exists)."""
    try:
        collection = storage.room_collection(room.id)
    except Refusal:
        return
    view = collection.view()
    href = storage.index.href_of_uid(view.room_key, uid)
    previous = view.booking(href) if href else None
    if previous is None or previous.get(OWNER) != booker.user:
        return   # not this organizer's booking: someone else's with the same UID stays
    commit(collection, remove=[href], reason=SCHEDULED, actor=booker)


# -- iCalendar ---------------------------------------------------------------------------------------------
def _rooms_of(storage, calendar) -> Dict[str, object]:
    """{room id: Room} of the rooms the server schedules for in this meeting."""
    found = {}
    for event in itip.events(calendar):
        for attendee in itip.attendees(event):
            if itip.scheduled(attendee):
                room = storage.directory.room_for(str(attendee))
                if room is not None:
                    found[room.id] = room
    return found


def _attends(storage, calendar, user: str) -> bool:
    return any(storage.directory.user_for(str(a)) == user
               for e in itip.events(calendar) for a in itip.attendees(e))


def _owner(collection) -> str:
    return collection.path.strip("/").split("/")[0]


def _is_room(attendee, addresses) -> bool:
    return normalized(str(attendee)) in {normalized(a) for a in addresses}


def _room_copy(meeting, addresses) -> str:
    """The room's copy of a meeting: its VEVENTs that invite the room, without alarms, other
    attendees or what this module wrote into the organizer's copy."""
    calendar = icalendar.Calendar()
    for name, value in meeting.property_items(recursive=False):
        if name not in ("BEGIN", "END", "METHOD"):
            calendar.add(name, value)
    excluded = []   # occurrences that no longer invite the room
    events = []
    for component in meeting.subcomponents:
        if component.name == "VTIMEZONE":
            calendar.add_component(component)
            continue
        if component.name != "VEVENT":
            continue
        event = copy.deepcopy(component)
        event.subcomponents = [c for c in event.subcomponents if c.name != "VALARM"]
        invited = [a for a in itip.attendees(event) if _is_room(a, addresses) and itip.scheduled(a)]
        # The room keeps itself as attendee, and the organizer: whoever may read the room
        # needs no list of the people invited (their addresses stay with the organizer).
        event.pop("ATTENDEE", None)
        for attendee in invited:
            event.add("ATTENDEE", attendee)
        if GENERATED in event:   # a copy of the master we wrote: the rule makes it again
            continue
        if "RECURRENCE-ID" in event and not invited:
            excluded.append(event["RECURRENCE-ID"].dt)
            continue
        _drop_generated_comments(event)
        for attendee in invited:
            attendee.params["PARTSTAT"] = "ACCEPTED"
            attendee.params.pop("SCHEDULE-STATUS", None)
            attendee.params.pop("RSVP", None)
        events.append(event)
    master = next((e for e in events if "RECURRENCE-ID" not in e), None)
    if master is not None and excluded:
        master.add("EXDATE", excluded)
    for event in events:
        calendar.add_component(event)
    return calendar.to_ical().decode()


def _drop_generated_comments(event, address: Optional[str] = None) -> None:
    """The COMMENTs a room's answer put there: every room's, or the room ``address``'s."""
    comments = values_of(event, "COMMENT")
    if not comments:
        return
    kept = [c for c in comments if ROOM_PARAM not in getattr(c, "params", {}) or (
        address is not None and normalized(str(c.params[ROOM_PARAM])) != normalized(address))]
    event.pop("COMMENT")
    for comment in kept:
        event.add("COMMENT", comment)


def _stamp(calendar, answers: Dict[str, tuple]) -> None:
    """Write the rooms' ``answers`` ({room id: (addresses, Answer)}) into the organizer's
    copy: PARTSTAT per VEVENT, an override per declined occurrence (ours that are no
    longer needed go), one COMMENT per room that has something to say."""
    master = itip.master(calendar)
    declined_by: Dict[object, Set[str]] = {}
    for room_id, (_, answer) in answers.items():
        for rid in answer.declined:
            declined_by.setdefault(itip.key(rid), set()).add(room_id)
    overrides = {itip.key(e["RECURRENCE-ID"].dt): e for e in itip.events(calendar) if "RECURRENCE-ID" in e}
    for key, event in overrides.items():   # ours, no longer needed: gone
        if GENERATED in event and key not in declined_by:
            calendar.subcomponents.remove(event)
    for room_id, (addresses, answer) in answers.items():
        for rid in answer.declined:
            if itip.key(rid) not in overrides or overrides[itip.key(rid)] not in calendar.subcomponents:
                overrides[itip.key(rid)] = _add_override(calendar, master, rid)
    for event in itip.events(calendar):
        rid = itip.key(event["RECURRENCE-ID"].dt) if "RECURRENCE-ID" in event else None
        for attendee in itip.attendees(event):
            for room_id, (addresses, answer) in answers.items():
                if _is_room(attendee, addresses) and itip.scheduled(attendee):
                    partstat = "DECLINED" if room_id in declined_by.get(rid, ()) else answer.partstat
                    attendee.params["PARTSTAT"] = partstat
                    attendee.params["SCHEDULE-STATUS"] = answer.status
                    attendee.params.pop("RSVP", None)
        _comment(event, answers, rid is None)


def _stamp_people(calendar, statuses: Dict[str, str]) -> None:
    """The people's SCHEDULE-STATUS (``statuses``: {normalized address: status}) in the
    organizer's copy."""
    for event in itip.events(calendar):
        for attendee in itip.attendees(event):
            status = statuses.get(normalized(str(attendee)))
            if status is not None:
                attendee.params["SCHEDULE-STATUS"] = status


def _restamp(calendar, addresses, answer: Answer) -> bool:
    """One room's new answer (from the room's side) in the organizer's copy: its PARTSTAT
    wherever it did not decline an occurrence, and its COMMENT.  Whether anything changed."""
    before = calendar.to_ical()
    for event in itip.events(calendar):
        for attendee in itip.attendees(event):
            if _is_room(attendee, addresses) and itip.scheduled(attendee) and not (
                    GENERATED in event and str(attendee.params.get("PARTSTAT", "")).upper() == "DECLINED"):
                attendee.params["PARTSTAT"] = answer.partstat
                attendee.params["SCHEDULE-STATUS"] = DELIVERED
        _drop_generated_comments(event, addresses[0])
        if answer.message and "RECURRENCE-ID" not in event:
            event.add("COMMENT", answer.message, parameters={ROOM_PARAM: addresses[0]})
    return calendar.to_ical() != before


def _add_override(calendar, master, rid):
    """A copy of the master for one occurrence (RECURRENCE-ID ``rid``), marked as ours."""
    event = copy.deepcopy(master)
    for name in ("RRULE", "RDATE", "EXDATE", "DTSTART", "DTEND", "DURATION", "RECURRENCE-ID"):
        event.pop(name, None)
    start = master["DTSTART"].dt
    length = (master["DTEND"].dt - start) if "DTEND" in master else master.get("DURATION").dt \
        if "DURATION" in master else datetime.timedelta(0)
    event.add("RECURRENCE-ID", rid)
    event.add("DTSTART", rid)
    event.add("DTEND", rid + length)
    event.add(GENERATED, "declined")
    event.subcomponents = [c for c in event.subcomponents if c.name != "VALARM"] + \
        [c for c in master.subcomponents if c.name == "VALARM"]
    calendar.add_component(event)
    return event


def _comment(event, answers: Dict[str, tuple], is_master: bool) -> None:
    """One COMMENT per room that said something (declined, or waits): the sentence the
    organizer reads, marked with the room's address so the next answer replaces it."""
    _drop_generated_comments(event)
    for room_id, (addresses, answer) in sorted(answers.items()):
        if answer.message and (is_master or answer.partstat == "DECLINED"):
            event.add("COMMENT", answer.message, parameters={ROOM_PARAM: addresses[0]})

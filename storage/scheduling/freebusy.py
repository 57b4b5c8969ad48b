"""Free/busy of rooms and people: the answer to a VFREEBUSY REQUEST (RFC 5546 §3.3.2,
RFC 6638 §5 through the schedule outbox).

- ``parse_request``: the client's iCalendar text (one VCALENDAR, METHOD:REQUEST, one
  VFREEBUSY with DTSTART, DTEND, ORGANIZER and ATTENDEEs), refused with a sentence
  otherwise.  A range longer than ``MAX_RANGE`` is answered up to its limit: the
  reply's DTEND and a COMMENT say so (Thunderbird shows the rest as unknown).
- ``busy_of_room``: from the room's availability (storage/availability.py, the same
  intervals as ``/api/rooms/<ID>/availability``).  BUSY where every unit of the room
  (its quantity) is held by confirmed bookings, BUSY-TENTATIVE where pending (approval)
  bookings complete that, BUSY-UNAVAILABLE wherever else nothing can be booked: closed
  hours, blackouts, the buffers next to bookings, and the whole range of a room that is
  ``unavailable``.
- ``busy_of_user``: the VEVENTs of all of a user's calendars, expanded in the range;
  TRANSPARENT and CANCELLED ones do not count, TENTATIVE ones (and invitations the
  user has not answered) are BUSY-TENTATIVE, declined invitations do not count.
- ``reply``: the VFREEBUSY METHOD:REPLY for one recipient.

Periods are half-open UTC epoch seconds, merged and disjoint: where kinds overlap the
stronger one is kept (BUSY, then BUSY-TENTATIVE, then BUSY-UNAVAILABLE).  Nothing but
times and kinds leaves this module: no titles, no UIDs of bookings.
"""

import dataclasses
import datetime
import zoneinfo
from typing import Dict, Iterable, List, Optional, Sequence

import icalendar

from roomcal.storage import availability as avail
from roomcal.storage.errors import Refusal
from roomcal.storage.instances import BadBooking, Booking, TooManyOccurrences, instant, utc, values_of
from roomcal.storage.items import screened
from roomcal.storage.rrule_budget import TooMuchWork
from roomcal.storage.scheduling import addresses
from roomcal.storage.guarded import MARGIN, room_id_of

CALDAV = "urn:ietf:params:xml:ns:caldav"
BUSY, TENTATIVE, UNAVAILABLE = "BUSY", "BUSY-TENTATIVE", "BUSY-UNAVAILABLE"
STRONGEST_FIRST = (BUSY, TENTATIVE, UNAVAILABLE)
MAX_RANGE = 400 * 86400       # seconds one answer covers (longer requests are clipped)
MAX_RECIPIENTS = 100
MAX_OCCURRENCES = 20_000      # occurrences of one person's events looked at in one answer
PRODID = "-//roomcal//free-busy//EN"


# -- refusals ------------------------------------------------------------------------------
class FreeBusyRefused(Refusal):
    """A POST to the outbox that is not answered per recipient; CalDAV's own
    preconditions (RFC 6638 §6.1) where one fits."""
    namespace = CALDAV

    def __init__(self, message: str, precondition: str, status: int = 403):
        super().__init__(message)
        self.precondition = precondition
        self.caldav_status = self.json_status = status


def unreadable(reason: str) -> FreeBusyRefused:
    return FreeBusyRefused(f"The free/busy request cannot be read: {reason}.", "valid-calendar-data", 400)


ONLY_FREEBUSY = ("This outbox takes free/busy requests only (a VCALENDAR with METHOD:REQUEST and "
                 "one VFREEBUSY); invitations are sent by saving the event in your calendar, "
                 "and the server delivers them (RFC 6638 implicit scheduling).")


# -- the request -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Request:
    uid: str
    organizer: icalendar.vCalAddress
    attendees: List[str]        # as sent, one per distinct address, in order
    start: int
    end: int
    clipped: bool               # the range asked for was longer than MAX_RANGE


def parse_request(text: str, recipient_header: str = "") -> Request:
    """The VFREEBUSY REQUEST in ``text``; FreeBusyRefused with a sentence otherwise.
    ``recipient_header``: the Recipient header, used when the VFREEBUSY names no ATTENDEE."""
    try:
        screened(text)   # storage/screen.py: nesting and VTIMEZONE rules, before parsing
    except Refusal as refusal:
        raise FreeBusyRefused(refusal.message, "valid-calendar-data", 400) from None
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except TooMuchWork:
        raise unreadable("its time zones take too much work to read") from None
    except Exception as e:   # icalendar raises ValueError and friends
        raise unreadable(str(e) or type(e).__name__) from None
    if len(calendars) != 1 or calendars[0].name != "VCALENDAR":
        raise unreadable("send exactly one VCALENDAR")
    calendar, = calendars
    method = str(calendar.get("METHOD", "")).upper()
    kinds = [c.name for c in calendar.subcomponents if c.name != "VTIMEZONE"]
    if method != "REQUEST" or kinds != ["VFREEBUSY"]:
        raise FreeBusyRefused(ONLY_FREEBUSY, "valid-scheduling-message")
    freebusy = calendar.subcomponents[[c.name for c in calendar.subcomponents].index("VFREEBUSY")]
    for name, error in getattr(freebusy, "errors", None) or ():
        raise unreadable(f"{name} ({error})")
    try:
        start, end = _moment(freebusy, "DTSTART"), _moment(freebusy, "DTEND")
    except TooMuchWork:
        raise unreadable("its time zones take too much work to read") from None
    if end <= start:
        raise unreadable("DTEND must be after DTSTART")
    clipped = end - start > MAX_RANGE
    if clipped:
        end = start + MAX_RANGE
    organizer = freebusy.get("ORGANIZER")
    if organizer is None or isinstance(organizer, list) or not str(organizer).strip():
        raise FreeBusyRefused("A free/busy request needs one ORGANIZER: your own address.",
                              "organizer-allowed")
    values = [str(v) for v in values_of(freebusy, "ATTENDEE")]
    if not values:   # RFC 6638 names the recipients by ATTENDEE; Recipient: as a fallback
        values = [v.strip() for v in recipient_header.split(",")]
    attendees, seen = [], set()
    for value in values:
        key = addresses.normalized(value)
        if value.strip() and key not in seen:
            seen.add(key)
            attendees.append(value.strip())
    if not attendees:
        raise FreeBusyRefused("A free/busy request needs at least one ATTENDEE: whose free/busy "
                              "time is asked for.", "recipient-specified")
    if len(attendees) > MAX_RECIPIENTS:
        raise FreeBusyRefused(f"This free/busy request names {len(attendees)} attendees; at most "
                              f"{MAX_RECIPIENTS} are answered at once: ask in parts.", "max-recipients")
    return Request(str(freebusy.get("UID", "")), organizer, attendees, start, end, clipped)


def _moment(component, name: str) -> int:
    prop = component.get(name)
    if prop is None or isinstance(prop, list):
        raise unreadable(f"the VFREEBUSY needs one {name}")
    value = getattr(prop, "dt", None)
    if not isinstance(value, (datetime.date, datetime.datetime)):
        raise unreadable(f"{name} is not a date-time")
    if isinstance(value, datetime.datetime) and value.tzinfo is None and prop.params.get("TZID"):
        raise unreadable(f"{name} names an unknown time zone {prop.params['TZID']!r} "
                         "(use an IANA name or include its VTIMEZONE)")
    seconds = instant(value, datetime.timezone.utc)   # RFC 5546 asks for UTC; floating: as UTC
    if not FIRST <= seconds <= LAST:
        raise unreadable(f"{name} must lie between the years 1970 and 9000")
    return seconds


FIRST = 0
LAST = int(datetime.datetime(9000, 1, 1, tzinfo=datetime.timezone.utc).timestamp())


# -- periods -----------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, order=True)
class Period:
    start: int
    end: int
    fbtype: str   # BUSY, BUSY-TENTATIVE or BUSY-UNAVAILABLE


def periods(by_type: Dict[str, Iterable[avail.Interval]], lo: int, hi: int) -> List[Period]:
    """Disjoint merged periods inside [lo, hi), the stronger kind kept where kinds meet."""
    out, covered = [], []
    for fbtype in STRONGEST_FIRST:
        spans = avail.merge(avail.subtract(avail.clip(by_type.get(fbtype, ()), lo, hi), covered))
        out += [Period(s, e, fbtype) for s, e in spans]
        covered = avail.merge(covered + spans)
    return sorted(out)


def busy_of_room(room, existing, lo: int, hi: int, max_occurrences: int) -> List[Period]:
    """A room's free/busy in [lo, hi).  ``existing`` as for storage/availability.py (a
    ``Snapshot`` or the collection's view, read under the storage's lock)."""
    result = avail.availability(room, existing, lo, hi, max_occurrences)
    confirmed = [(b.start, b.end) for b in result.busy if b.kind == "booked"]
    held = confirmed + [(b.start, b.end) for b in result.busy if b.kind == "pending"]
    quantity = room.rules.quantity
    # With a quantity of N a stretch is taken only where N bookings meet.
    full = avail.at_least(held, quantity)
    unbookable = avail.subtract(avail.complement(result.free, lo, hi), full)
    if room.status == "unavailable":   # it takes no new bookings at all
        unbookable = [(lo, hi)]
    return periods({BUSY: avail.at_least(confirmed, quantity), TENTATIVE: full,
                    UNAVAILABLE: unbookable}, lo, hi)


def busy_of_events(objects: Iterable[tuple], lo: int, hi: int, own: Sequence[str],
                   limit: int = MAX_OCCURRENCES) -> List[Period]:
    """A person's free/busy in [lo, hi) from ``(text, tz, (first, last))``: iCalendar
    objects (one UID each) of their calendars, the zone of their floating times and the
    span they cover.  ``own``: the person's addresses (normalized), to read their
    PARTSTAT in invitations.  At most ``limit`` occurrences are expanded in all; an object past
    that bound, or one that cannot be expanded, is busy for its whole span (as the
    booking core counts such a booking in a room)."""
    by_type: Dict[str, list] = {BUSY: [], TENTATIVE: []}
    left = limit
    for text, tz, (first, last) in objects:
        try:
            booking = Booking(text, tz)
        except BadBooking:   # a task, a journal entry, or unreadable: no time taken
            continue
        answer = _partstat(booking, own)
        if answer == "DECLINED":
            continue
        try:
            found = booking.occurrences(lo, hi, left)
        except (TooManyOccurrences, BadBooking):
            status, transp = (booking.get("STATUS") or "").upper(), (booking.get("TRANSP") or "").upper()
            if status != "CANCELLED" and transp != "TRANSPARENT":
                by_type[BUSY].append((first, last))
            continue
        left -= len(found)
        for occurrence in found:
            if not occurrence.blocking:   # TRANSPARENT or CANCELLED
                continue
            tentative = occurrence.pending or answer in ("NEEDS-ACTION", "TENTATIVE")
            span = (occurrence.start, max(occurrence.end, occurrence.start + 1))
            by_type[TENTATIVE if tentative else BUSY].append(span)
    return periods(by_type, lo, hi)


def _partstat(booking: Booking, own: Sequence[str]) -> str:
    """The person's PARTSTAT in an event they are invited to; "" when they organize it
    or are not among its attendees (their own event)."""
    master = booking.master
    organizer = master.get("ORGANIZER")
    if organizer is not None and addresses.normalized(str(organizer)) in own:
        return ""
    for attendee in values_of(master, "ATTENDEE"):
        if addresses.normalized(str(attendee)) in own:
            return str(attendee.params.get("PARTSTAT", "NEEDS-ACTION")).upper()
    return ""


def busy_of_user(storage, name: str, lo: int, hi: int) -> List[Period]:
    """The free/busy of user ``name`` over all their calendars (call under the storage's
    read lock)."""
    own = [addresses.normalized(a) for a in storage.directory.user_addresses(name)]
    objects = []
    for collection in storage.discover(f"/{name}/", depth="1"):
        path = getattr(collection, "path", None)
        if (path is None or path.strip("/") == name or room_id_of(path) is not None
                or path.strip("/").split("/")[-1].startswith(".")
                or getattr(collection, "tag", "") != "VCALENDAR"):
            continue   # the home, the rooms discovery adds, the schedule inbox, address books
        tz = _zone_of(collection)
        for item in collection.get_all():
            if item.component_name != "VEVENT":
                continue
            first, last = item.time_range   # Radicale reads floating times as UTC
            if first < hi + MARGIN and last > lo - MARGIN:
                objects.append((item.serialize(), tz, (first, last)))
    return busy_of_events(objects, lo, hi, own)


def _zone_of(collection) -> datetime.tzinfo:
    """A calendar's CALDAV:calendar-timezone (an IANA name) for its floating times, else UTC."""
    text = collection.get_meta("C:calendar-timezone") or ""
    for line in text.splitlines():
        if line.upper().startswith("TZID:") or line.upper().startswith("TZID;"):
            name = line.split(":", 1)[1].strip()
            try:
                return zoneinfo.ZoneInfo(name)
            except (zoneinfo.ZoneInfoNotFoundError, ValueError):
                break
    return datetime.timezone.utc


# -- the reply -------------------------------------------------------------------------------
def reply(request: Request, attendee: icalendar.vCalAddress, found: List[Period],
          now: Optional[datetime.datetime] = None) -> str:
    """The VCALENDAR METHOD:REPLY for one recipient (RFC 5546 §3.3.3)."""
    now = now or datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    calendar = icalendar.Calendar()
    calendar.add("PRODID", PRODID)
    calendar.add("VERSION", "2.0")
    calendar.add("METHOD", "REPLY")
    component = icalendar.FreeBusy()
    if request.uid:
        component.add("UID", request.uid)
    component.add("DTSTAMP", now)
    component.add("DTSTART", utc(request.start))
    component.add("DTEND", utc(request.end))
    component.add("ORGANIZER", request.organizer)
    component.add("ATTENDEE", attendee)
    if request.clipped:   # DTEND says it too; Thunderbird shows the rest as unknown
        component.add("COMMENT", f"Free/busy time is given up to {utc(request.end):%Y-%m-%dT%H:%M:%SZ} "
                                 f"only: at most {MAX_RANGE // 86400} days are answered at once.")
    for period in found:
        component.add("FREEBUSY", (utc(period.start), utc(period.end)),
                      parameters={"FBTYPE": period.fbtype})
    calendar.add_component(component)
    return calendar.to_ical(sorted=False).decode()

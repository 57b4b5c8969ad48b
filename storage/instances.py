"""A booking's occurrences as UTC instants.

Reads one iCalendar object (all VEVENTs of one UID: the master, RRULE/RDATE/
EXDATE and RECURRENCE-ID overrides) with ``icalendar`` and expands it with
``recurring_ical_events``.  Floating times and all-day dates are read in the
room's time zone; a TZID that is neither a known IANA name nor defined by a
VTIMEZONE in the object is an error rather than a silent UTC guess.
Expansion is always bounded by a window and a count, and its work by
storage/rrule_budget.py; an object whose expansion goes over that budget is
unreadable (``BadBooking``), and is remembered as such so that reading it
again costs nothing.
"""

import dataclasses
import datetime
import hashlib
import itertools
from typing import Iterator, List, Optional

import icalendar
import recurring_ical_events

from roomcal.storage import ical_text
from roomcal.storage.rrule_budget import TooMuchWork
from roomcal.storage.unreadable import Unreadable

ical_text.install()   # (icalendar's writing of TEXT loses a literal backslash-N)

INFINITY = 2 ** 62  # "no end" for an open series in the index
UTC = datetime.timezone.utc
BLOCKING_STATUSES = ("CONFIRMED", "TENTATIVE", "")
PRIVATE_CLASSES = ("PRIVATE", "CONFIDENTIAL")
TIME_PROPERTIES = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")


class BadBooking(ValueError):
    """The iCalendar object cannot be read as a booking."""


class NotAnEvent(BadBooking):
    """A calendar object of another kind: a task, a journal entry…"""

    def __init__(self, component: str):
        super().__init__(f"a booking is a VEVENT, not a {component}")
        self.component = component


TOO_MUCH_WORK = ("its recurrence takes too much work to expand (it repeats too often for too "
                 "long, or its rules rarely or never match a date)")


# Texts (with their zone) that took too much work: the expensive failures, not paid twice.
_unreadable = Unreadable()


@dataclasses.dataclass(frozen=True)
class Occurrence:
    start: int  # UTC epoch seconds, half-open [start, end)
    end: int
    status: str  # CONFIRMED, TENTATIVE, CANCELLED or ""
    transparent: bool
    summary: str = ""

    @property
    def blocking(self) -> bool:
        return not self.transparent and self.status in BLOCKING_STATUSES

    @property
    def pending(self) -> bool:
        return self.status == "TENTATIVE"


def instant(value, tz: datetime.tzinfo) -> int:
    """Epoch seconds of a DATE or DATE-TIME; floating and dates in ``tz``."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime.combine(value, datetime.time())
    if value.tzinfo is None:
        value = value.replace(tzinfo=tz)
    return int(value.timestamp())


def utc(seconds: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, UTC)


def like(moment, form, tz: datetime.tzinfo):
    """``moment`` written as ``form`` (a stored value) is written: a date, floating (the
    wall clock in ``tz``), or in ``form``'s zone.  A floating ``moment`` is read in ``tz``;
    a date ``moment`` is returned as it is."""
    if not isinstance(moment, datetime.datetime):
        return moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=tz)
    if not isinstance(form, datetime.datetime):
        return moment.astimezone(tz).date()
    if form.tzinfo is None:
        return moment.astimezone(tz).replace(tzinfo=None)
    return moment.astimezone(form.tzinfo)


def iso(room, seconds: Optional[int]) -> Optional[str]:
    """UTC seconds as ISO 8601 text in ``room``'s zone; None for no time or no end."""
    if seconds is None or seconds >= INFINITY:
        return None
    return utc(seconds).astimezone(room.tz).isoformat()


class Booking:
    """One stored or proposed booking (all components of one UID)."""

    def __init__(self, text: str, tz: datetime.tzinfo):
        self.tz = tz
        self._key = key = hashlib.blake2b(f"{tz}\0{text}".encode(), digest_size=16).digest()
        known = _unreadable.get(key)
        if known is not None:
            raise BadBooking(known)
        try:
            self._read(text)
        except TooMuchWork:   # a VTIMEZONE's rules, converted when a time is first read
            _unreadable.add(key, TOO_MUCH_WORK)
            raise BadBooking(TOO_MUCH_WORK) from None

    def _read(self, text: str) -> None:
        try:
            self.calendar = icalendar.Calendar.from_ical(text)
        except TooMuchWork:
            raise
        except Exception as e:  # icalendar raises ValueError and friends
            raise BadBooking(f"the calendar data cannot be read: {e}") from None
        others = sorted(c.name for c in self.calendar.subcomponents
                        if c.name not in ("VEVENT", "VTIMEZONE") and not c.name.startswith("X-"))
        if others:
            raise NotAnEvent(others[0])
        self.events = self.calendar.walk("VEVENT")
        if not self.events:
            raise BadBooking("a booking needs a VEVENT")
        for event in self.events:  # icalendar keeps unparsable values and raises on use
            for name, error in getattr(event, "errors", None) or ():
                if name in TIME_PROPERTIES:
                    raise BadBooking(f"{name} cannot be read ({error})")
        uids = {str(e.get("UID", "")) for e in self.events}
        if len(uids) != 1:
            raise BadBooking("all VEVENTs of one booking must share one UID")
        self.uid = uids.pop()
        masters = [e for e in self.events if "RECURRENCE-ID" not in e]
        self.master = masters[0] if masters else self.events[0]
        for event in self.events:
            self._check_times(event)
        self.recurring = any(("RRULE" in e or "RDATE" in e) for e in self.events) or len(self.events) > 1
        self.infinite = any(_open_rule(rule) for e in masters for rule in rrules(e))
        self.summary = str(self.master.get("SUMMARY", ""))

    def _check_times(self, event) -> None:
        if "DTSTART" not in event:
            raise BadBooking("a booking needs DTSTART")
        for name in ("DTSTART", "DTEND", "RECURRENCE-ID"):
            prop = event.get(name)
            if prop is None:
                continue
            tzid = prop.params.get("TZID")
            value = getattr(prop, "dt", None)
            if tzid and isinstance(value, datetime.datetime) and value.tzinfo is None:
                raise BadBooking(f"unknown time zone {tzid!r} in {name} "
                                 "(use an IANA name or include its VTIMEZONE)")
        start = event["DTSTART"].dt
        end = event.get("DTEND")
        if end is not None:
            end = end.dt
            if isinstance(start, datetime.datetime) != isinstance(end, datetime.datetime):
                raise BadBooking("DTSTART and DTEND must both be dates or both date-times")
            if instant(end, self.tz) < instant(start, self.tz):
                raise BadBooking("DTEND is before DTSTART")

    @property
    def all_day(self) -> bool:
        return not isinstance(self.master["DTSTART"].dt, datetime.datetime)

    def occurrences(self, start: int, end: int, limit: int) -> List[Occurrence]:
        """Occurrences overlapping [start, end), at most ``limit`` (then raise)."""
        found = []
        for occurrence in self._iterate(start, end):
            found.append(occurrence)
            if len(found) > limit:
                raise TooManyOccurrences(limit)
        return found

    def _iterate(self, start: int, end: int) -> Iterator[Occurrence]:
        if not self.recurring:
            occurrence = self._occurrence(self.master)
            if occurrence.start < end and occurrence.end > start or occurrence.start == start:
                yield occurrence
            return
        # The library compares the window's bounds (naive) with each occurrence's wall-clock
        # time in its own zone: widen the window by a day on both sides and filter on exact
        # instants below.  Only a series in UTC needs no margin (a day of a rule repeating
        # every second is 86 400 occurrences for nothing).
        margin = 0 if all(_in_utc(e["DTSTART"].dt) for e in self.events) else 86400
        try:
            lo = start - margin
            # No occurrence starts before the earliest DTSTART of the master and its
            # overrides (unless an RDATE says so): start the search there, not at EARLIEST.
            # In the library's terms (wall-clock times) that is the first window's start:
            # never after a run of empty windows grown wide, which a rule repeating every
            # second then filled by the hundred thousand.
            if not any("RDATE" in e for e in self.events):
                lo = max(lo, min(instant(_wall(e["DTSTART"].dt), UTC) for e in self.events))
            query = recurring_ical_events.of(self.calendar)
            lo, stop = max(lo, FIRST_INSTANT), min(end + margin, LAST_INSTANT)
            # A window returns every occurrence overlapping it, the ones begun before it too:
            # no narrower than an occurrence is long, or each pays for them again.
            shortest = max(FIRST_WINDOW, min(self._length(), 7 * 86400))
            span, seen = shortest, set()
            while lo < stop:
                hi = min(lo + span, stop)
                found = 0
                for event in _between(query, lo, hi):
                    occurrence = self._occurrence_of(event)
                    if occurrence in seen:   # met again in the next window (it spans both)
                        continue
                    seen.add(occurrence)
                    found += 1
                    if occurrence.start < end and (occurrence.end > start or occurrence.start == start):
                        yield occurrence
                span = _next_window(span, found, shortest)
                lo = hi
        except TooManyOccurrences:
            raise
        except TooMuchWork:
            # Work is counted from DTSTART: later windows would cost as much again.
            _unreadable.add(self._key, TOO_MUCH_WORK)
            raise BadBooking(TOO_MUCH_WORK) from None
        except Exception as e:  # the library's errors on broken rules
            raise BadBooking(f"the recurrence cannot be expanded: {e}") from None

    def _length(self) -> int:
        """The master's length in seconds (0 when it cannot be told)."""
        occurrence = self._occurrence(self.master)
        return max(0, occurrence.end - occurrence.start)

    def _occurrence_of(self, found) -> Occurrence:
        """One occurrence as recurring_ical_events found it: its times, and the status,
        transparency and title of the VEVENT it repeats (the master's, or an override's)."""
        return Occurrence(instant(found.start, self.tz), instant(found.end, self.tz),
                          *_traits(found._adapter._component))

    def _occurrence(self, event) -> Occurrence:
        start_value = event["DTSTART"].dt
        begin = instant(start_value, self.tz)
        if "DTEND" in event:
            finish = instant(event["DTEND"].dt, self.tz)
        elif "DURATION" in event:
            finish = instant(start_value + event["DURATION"].dt, self.tz)
        elif isinstance(start_value, datetime.datetime):
            finish = begin
        else:
            finish = instant(start_value + datetime.timedelta(days=1), self.tz)
        return Occurrence(begin, finish, *_traits(event))

    def envelope(self, limit: int) -> tuple:
        """(first start, last end) over all occurrences; INFINITY for open series."""
        if not self.recurring:
            occurrence = self._occurrence(self.master)
            return occurrence.start, occurrence.end
        first = min(instant(e["DTSTART"].dt, self.tz) for e in self.events) - 86400
        if self.infinite:   # its end is INFINITY: only its first occurrences are needed
            starts = [o.start for o in itertools.islice(self._iterate(first, INFINITY), FIRST_FEW)]
            return (min(starts) if starts else first), INFINITY
        starts, ends = [], []
        for count, occurrence in enumerate(self._iterate(first, INFINITY)):
            if count >= limit:
                return min(starts), INFINITY
            starts.append(occurrence.start)
            ends.append(occurrence.end)
        if not starts:
            return first, first
        return min(starts), (INFINITY if self.infinite else max(ends))

    def set_status(self, status: str) -> None:
        for event in self.events:
            if str(event.get("STATUS", "")).upper() != "CANCELLED" or event is self.master:
                event.pop("STATUS", None)
                event.add("STATUS", status)

    def stamp(self, name: str, value: Optional[str]) -> None:
        """Set (or, with None, remove) a server-owned property on every VEVENT."""
        for event in self.events:
            event.pop(name, None)
            if value is not None:
                event.add(name, value)

    def touch(self, now: Optional[datetime.datetime] = None) -> None:
        """Mark a significant change: SEQUENCE + 1 and LAST-MODIFIED on every VEVENT.
        (DTSTAMP stays: clear-bookings falls back to it for when a booking was created.)"""
        if now is None:
            now = datetime.datetime.now(UTC).replace(microsecond=0)
        for event in self.events:
            try:
                sequence = int(str(event.get("SEQUENCE", 0))) + 1
            except ValueError:
                sequence = 1
            event.pop("SEQUENCE", None)
            event.add("SEQUENCE", sequence)
            event.pop("LAST-MODIFIED", None)
            event.add("LAST-MODIFIED", now)

    def get(self, name: str) -> Optional[str]:
        value = self.master.get(name)
        return None if value is None else str(value)

    @property
    def private(self) -> bool:
        """CLASS:PRIVATE or CONFIDENTIAL: others are shown when, not what."""
        return (self.get("CLASS") or "").upper() in PRIVATE_CLASSES

    @property
    def public_title(self) -> Optional[str]:
        """The title anyone who may view the room sees (None when private or empty)."""
        return None if self.private else (self.summary or None)

    def to_ical(self) -> str:
        return self.calendar.to_ical().decode()


class TooManyOccurrences(ValueError):
    def __init__(self, limit: int):
        super().__init__(f"more than {limit} occurrences")
        self.limit = limit


# The library is asked window by window, each window sized to hold about WINDOW_OCCURRENCES
# at the density seen so far.  (Its own search, ``after``, halves its window down to 15
# minutes wherever it finds something, and every query re-reads the series from its
# start: 5 000 hourly occurrences cost 4 s of CPU that way.)
FIRST_WINDOW = 900                 # seconds
FIRST_FEW = 8   # occurrences looked at for an open series' start (windows meet floating times a day apart)
WINDOW_OCCURRENCES = 500
FIRST_INSTANT = int(datetime.datetime(1, 1, 2, tzinfo=UTC).timestamp())
LAST_INSTANT = int(datetime.datetime(9999, 12, 30, tzinfo=UTC).timestamp())


def _traits(event) -> tuple:
    """(status, transparent, summary) of the VEVENT an occurrence repeats."""
    return (str(event.get("STATUS", "")).upper(), str(event.get("TRANSP", "")).upper() == "TRANSPARENT",
            str(event.get("SUMMARY", "")))


def _between(query, lo: int, hi: int) -> list:
    """recurring_ical_events' occurrences in [lo, hi] (UTC seconds, compared naively), without
    the copy of the whole VEVENT its public ``between`` makes of every one (three quarters of
    the time a series' expansion took).  Private API of recurring-ical-events 3.8, pinned in
    pyproject.toml; tests/test_decide_unit.py and test_hostile_ical.py expand through it."""
    return query._occurrences_between(query.to_datetime(utc(lo).replace(tzinfo=None)),
                                      query.to_datetime(utc(hi).replace(tzinfo=None)))


def _next_window(span: int, found: int, shortest: int = 0) -> int:
    if not found:
        return span * 2
    return max(FIRST_WINDOW, shortest, min(span * 2, span * WINDOW_OCCURRENCES // found))


def _in_utc(value) -> bool:
    """A DATE-TIME in UTC, whose wall-clock time is its instant."""
    return (isinstance(value, datetime.datetime) and value.tzinfo is not None
            and str(value.tzinfo).upper() in ("UTC", "ETC/UTC", "Z", "GMT", "ETC/GMT"))


def _wall(value):
    """A DATE or DATE-TIME as the wall-clock time it names (its zone dropped)."""
    return value.replace(tzinfo=None) if isinstance(value, datetime.datetime) else value


def floating(value) -> bool:
    """A DATE-TIME without a zone (no TZID, no Z): read in the room's zone."""
    return isinstance(value, datetime.datetime) and value.tzinfo is None


def values_of(component, name: str) -> list:
    """Every value of a property that may appear more than once (icalendar gives one or a list)."""
    value = component.get(name)
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def rrules(event) -> list:
    """An event's RRULEs."""
    return values_of(event, "RRULE")


def _open_rule(rule) -> bool:
    return "UNTIL" not in rule and "COUNT" not in rule

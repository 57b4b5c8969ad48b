"""Check-in (issue 18): a room with the rule ``check-in`` (a duration W) wants each
occurrence of a booking checked in from ``[rooms] check_in_opens`` before its start until
W after it; one that nobody checked in is released by the server (storage/release.py).

The check-in is kept in the booking itself (iCalendar is the one truth): one property on
its main VEVENT per occurrence checked in, naming the occurrence's start and the moment
of the check-in, both in UTC::

    X-ROOMCAL-CHECKED-IN;X-ROOMCAL-START=20271206T090000Z:20271206T085512Z

Naming the start makes the check-in of a booking moved since stale by itself.  Only the
check-in verb (storage/verbs.py ``check_in``) writes it: on every other write the booking
core puts back the stored ones (booking.py ``_stamp``, ``keep``), so a client can neither
forge one nor drop one by rewriting the booking without it.

Everything here is pure (times are UTC seconds); ``[rooms]`` in radicale.conf is carried
to the storage as ``[storage] roomcal_rooms_<option>`` (Radicale refuses unknown sections).
"""

import dataclasses
import datetime
from typing import Dict, Optional

from roomcal.storage import carried, durations
from roomcal.storage.durations import human
from roomcal.storage.instances import INFINITY, Booking, Occurrence, utc, values_of

SECTION = "rooms"
OPTIONS = ("check_in_opens", "release_interval")
CARRIED = "roomcal_rooms_"

CHECKED_IN = "X-ROOMCAL-CHECKED-IN"
START = "X-ROOMCAL-START"   # its parameter: which occurrence
UTC_FORMAT = "%Y%m%dT%H%M%SZ"


# -- settings ---------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Settings:
    opens: int = 900                # seconds before the start a check-in opens (PT15M)
    release_interval: float = 30.0  # seconds between the server's sweeps for bookings to release


def parse_settings(values: dict) -> Settings:
    opens_text = (values.get("check_in_opens") or "PT15M").strip()
    try:
        opens = durations.parse(opens_text).seconds
    except ValueError as e:
        raise ValueError(f"[rooms] check_in_opens: {e}") from None
    interval_text = (values.get("release_interval") or "30").strip()
    try:
        interval = float(interval_text)
        if not 0 < interval <= 3600:
            raise ValueError
    except ValueError:
        raise ValueError(f"[rooms] release_interval must be a number of seconds from 0 to 3600, "
                         f"not {interval_text!r}") from None
    return Settings(opens, interval)


def settings_from(configuration) -> Settings:
    return parse_settings(carried.options_of(configuration, CARRIED, OPTIONS))


def applies(room, booking) -> bool:
    """Whether the booking (a ``Booking`` or its ``Outline``) must be checked in: the room has
    the rule, and it is not an all-day booking (its start is midnight, not when people arrive)."""
    return room.check_in is not None and not booking.all_day


# -- the window --------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Window:
    """When the occurrence starting at ``start`` may be checked in: [opens, closes)."""
    start: int
    opens: int
    closes: int

    def holds(self, now: int) -> bool:
        return self.opens <= now < self.closes


def window(start: int, check_in: int, opens: int) -> Window:
    """The check-in window of an occurrence starting at ``start``: from ``opens`` seconds
    before it until ``check_in`` seconds after it."""
    return Window(start, start - opens, start + check_in)


def clock(room, seconds: int, now: int) -> str:
    """A moment as people read it in the room: 09:45, with the date when it is not today's."""
    moment, today = utc(seconds).astimezone(room.tz), utc(now).astimezone(room.tz)
    return moment.strftime("%H:%M" if moment.date() == today.date() else "%Y-%m-%d %H:%M")


def outside(room, span: Window, now: int) -> Optional[str]:
    """Why the occurrence cannot be checked in at ``now`` (a sentence), or None when it can."""
    if now < span.opens:
        return (f"Check-in for this booking opens at {clock(room, span.opens, now)} "
                f"({room.timezone}), {human(span.start - span.opens)} before it starts.")
    if now >= span.closes:
        return (f"Check-in for this booking closed at {clock(room, span.closes, now)} "
                f"({room.timezone}), {human(span.closes - span.start)} after it started.")
    return None


def release_reason(room, span: Window) -> str:
    """What the organizer is told of a release."""
    return f"Released: nobody checked in by {clock(room, span.closes, span.closes)}"


def occurrence_to_check_in(booking: Booking, check_in: int, opens: int, now: int,
                           start: Optional[int] = None, limit: int = 5000) -> Optional[Occurrence]:
    """The occurrence a check-in at ``now`` is for: the one starting at ``start`` when given;
    else the one whose window holds ``now``, else the next to start (or the one under way),
    whose window then says why not.  None when there is none (not an occurrence of it,
    or the series is over)."""
    if start is not None:
        found = booking.occurrences(start, start + 1, limit)
        return next((o for o in found if o.start == start), None)
    if not booking.recurring:
        return booking.occurrences(-INFINITY, INFINITY, 1)[0]
    around = booking.occurrences(now - check_in, now + opens + 1, limit)
    for occurrence in sorted(around, key=lambda o: o.start):
        if window(occurrence.start, check_in, opens).holds(now) and occurrence.status != "CANCELLED":
            return occurrence
    for days in (1, 8, 93, 733):   # growing steps: a dense series costs a few occurrences
        later = [o for o in booking.occurrences(now, now + days * 86400, limit) if o.status != "CANCELLED"]
        if later:
            return min(later, key=lambda o: o.start)
    return None


# -- the property -------------------------------------------------------------------------------
def _stamp(seconds: int) -> str:
    return utc(seconds).strftime(UTC_FORMAT)


def _seconds(text: str) -> Optional[int]:
    try:
        moment = datetime.datetime.strptime(str(text).strip(), UTC_FORMAT)
    except ValueError:
        return None
    return int(moment.replace(tzinfo=datetime.timezone.utc).timestamp())


def check_ins(booking: Booking) -> Dict[int, int]:
    """{occurrence start: moment of its check-in} (UTC seconds) as the booking holds them."""
    found = {}
    for prop in values_of(booking.master, CHECKED_IN):
        start = _seconds(getattr(prop, "params", {}).get(START, ""))
        moment = _seconds(prop)
        if start is not None and moment is not None:
            found[start] = moment
    return found


def checked_in(booking: Booking, start: int) -> Optional[int]:
    """When the occurrence starting at ``start`` was checked in, or None."""
    return check_ins(booking).get(start)


def mark(booking: Booking, start: int, moment: int) -> None:
    """Record that the occurrence starting at ``start`` was checked in at ``moment``."""
    _write(booking, {**check_ins(booking), start: moment})


def keep(candidate: Booking, previous: Optional[Booking]) -> bool:
    """The candidate with exactly the check-ins of the stored booking (none for a new one),
    whatever the client sent; True when that changed the candidate."""
    wanted = check_ins(previous) if previous is not None else {}
    sent = sum(len(values_of(event, CHECKED_IN)) for event in candidate.events)
    if sent == len(wanted) and check_ins(candidate) == wanted:
        return False
    _write(candidate, wanted)
    return True


def _properties(check_ins_by_start: Dict[int, int]) -> list:
    return [(_stamp(moment), {START: _stamp(start)}) for start, moment in sorted(check_ins_by_start.items())]


def _write(booking: Booking, check_ins_by_start: Dict[int, int]) -> None:
    for event in booking.events:
        event.pop(CHECKED_IN, None)
    for value, params in _properties(check_ins_by_start):
        booking.master.add(CHECKED_IN, value, parameters=params)

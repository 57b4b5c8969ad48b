"""Room rules as pure functions.

Each rule looks at the occurrences a write adds or moves (``new``), the whole
candidate and the moment of the request, and returns violations: the rule's
public name and a sentence.  No I/O, no HTTP: ``decide`` in booking.py calls
them all.  Conflicts with other bookings (buffer, quantity) are in overlap.py.
"""

import dataclasses
import datetime
from typing import List

from roomcal.storage.durations import human
from roomcal.storage.instances import Occurrence, utc


@dataclasses.dataclass(frozen=True)
class Violation:
    rule: str
    message: str

    def to_json(self) -> dict:
        return {"rule": self.rule, "message": self.message}


@dataclasses.dataclass
class Facts:
    """What the rules may look at."""
    room: object                 # storage.rooms.Room
    new: List[Occurrence]        # occurrences this write adds or moves
    instance_count: int          # occurrences of the whole series (capped)
    count_capped: bool           # instance_count stopped at its cap
    recurring: bool
    infinite: bool
    last_start: int              # latest occurrence start (INFINITY when open)
    now: int


def _local(room, seconds: int) -> datetime.datetime:
    return utc(seconds).astimezone(room.tz)


def _when(room, seconds: int) -> str:
    return _local(room, seconds).strftime("%a %Y-%m-%d %H:%M")


def zero_length(f: Facts):
    for o in f.new:
        if o.end <= o.start:
            yield Violation("duration", f"the booking at {_when(f.room, o.start)} has no duration; "
                                        "give it an end after its start")
            return


def min_duration(f: Facts):
    limit = f.room.min_duration
    for o in f.new:
        if limit and 0 < o.end - o.start < limit.seconds:
            yield Violation("min-duration", f"{human(o.end - o.start)} is shorter than this room's "
                                            f"minimum of {human(limit.seconds)}")
            return


def max_duration(f: Facts):
    limit = f.room.max_duration
    for o in f.new:
        if limit and o.end - o.start > limit.seconds:
            yield Violation("max-duration", f"{human(o.end - o.start)} is longer than this room's "
                                            f"maximum of {human(limit.seconds)}")
            return


def min_notice(f: Facts):
    limit = f.room.min_notice
    for o in f.new:
        if limit and o.start < f.now + limit.seconds:
            yield Violation("min-notice", f"the booking at {_when(f.room, o.start)} starts too soon: "
                                          f"this room must be booked at least {human(limit.seconds)} ahead")
            return


def max_advance(f: Facts):
    limit = f.room.max_advance
    if not limit or not f.new:
        return
    latest = limit.after(utc(f.now)).timestamp()
    if f.infinite:
        yield Violation("max-advance", "a series without an end reaches beyond this room's booking "
                                       f"window of {limit.text}; give it an end date or a count")
    elif f.last_start > latest:
        yield Violation("max-advance", f"this room can be booked at most {limit.text} ahead "
                                       f"(until {_when(f.room, int(latest))})")


def opening_hours(f: Facts):
    opening = f.room.opening
    if not opening:
        return
    for o in f.new:
        if not opening.fits(_local(f.room, o.start), _local(f.room, o.end)):
            yield Violation("opening-hours", f"{_when(f.room, o.start)}–"
                                             f"{_local(f.room, o.end).strftime('%H:%M')} is outside "
                                             f"this room's opening hours ({opening.text})")
            return


def no_multiday(f: Facts):
    if not f.room.rules.no_multiday:
        return
    for o in f.new:
        first = _local(f.room, o.start).date()
        last = _local(f.room, max(o.start, o.end - 1)).date()
        if last != first:
            yield Violation("no-multiday", f"the booking from {_when(f.room, o.start)} spans several "
                                           "days; this room takes bookings within one day only")
            return


def no_recurring(f: Facts):
    if f.room.rules.no_recurring and f.recurring and f.new:  # removing occurrences is fine
        yield Violation("no-recurring", "this room does not take recurring bookings; book each date on its own")


def max_instances(f: Facts):
    limit = f.room.rules.max_instances
    if limit is None or not f.recurring or not f.new:  # removing occurrences is fine
        return
    if f.infinite:
        yield Violation("max-instances", f"a series without an end has more than this room's "
                                         f"maximum of {limit} occurrences")
    elif f.instance_count > limit:
        count = f"more than {f.instance_count - 1}" if f.count_capped else str(f.instance_count)
        yield Violation("max-instances", f"the series has {count} occurrences; this room allows "
                                         f"at most {limit}")


def blackout(f: Facts):
    for span in f.room.blackout_spans:
        start, end = int(span.start.timestamp()), int(span.end.timestamp())
        for o in f.new:
            if o.start < end and start < o.end:
                yield Violation("blackout", f"the booking at {_when(f.room, o.start)} falls in a "
                                            f"blackout period of this room ({span.text})")
                break


ALL = (zero_length, min_duration, max_duration, min_notice, max_advance, opening_hours,
       no_multiday, no_recurring, max_instances, blackout)


def check(facts: Facts) -> List[Violation]:
    return [v for rule in ALL for v in rule(facts)]


def in_words(room) -> List[str]:
    """The room's rules as sentences for people (the room's page), one per rule set."""
    r, said = room.rules, []
    if room.opening:
        said.append(f"Open {room.opening.text}.")
    if room.min_duration:
        said.append(f"Bookings last at least {human(room.min_duration.seconds)}.")
    if room.max_duration:
        said.append(f"Bookings last at most {human(room.max_duration.seconds)}.")
    if room.min_notice:
        said.append(f"Book at least {human(room.min_notice.seconds)} ahead.")
    if room.max_advance:
        ahead = room.max_advance.text if room.max_advance.calendar_based else human(room.max_advance.seconds)
        said.append(f"Book at most {ahead} ahead.")
    if room.buffer:
        said.append(f"{human(room.buffer.seconds)} free between bookings.")
    if r.quantity > 1:
        said.append(f"Can be booked {r.quantity} times at once.")
    if r.no_recurring:
        said.append("No recurring bookings.")
    if r.max_instances is not None:
        said.append(f"A series has at most {r.max_instances} occurrences.")
    if r.no_multiday:
        said.append("Each booking stays within one day.")
    said += [f"Not bookable {span.text} (blackout)." for span in room.blackout_spans]
    if r.approval:
        said.append("Bookings wait for a manager's approval.")
    return said

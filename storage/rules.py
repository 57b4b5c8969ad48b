"""Room rules as pure functions.

Each rule looks at the occurrences a write adds or moves (``new``), the whole
candidate and the moment of the request, and returns violations: the rule's
public name and a sentence.  No I/O, no HTTP: ``decide`` in booking.py calls
them all.
"""

import dataclasses
import datetime
from typing import Iterable, List, Tuple

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


# -- conflicts: the one definition of buffer and quantity --------------------------------------
# A room's buffer B is the time a booking needs after it (cleaning, set-up for the next
# one), as LibreBooking's and Cal.com's buffers: consecutive bookings need a gap of at
# least B.  The booking core, availability and clear-bookings all ask these functions.
Span = Tuple[int, int]


def occupied(start: int, end: int, buffer: int) -> Span:
    """What a booking keeps from others: its own time (an instant counts as one second),
    then the buffer.  With quantity N, it ties up one of the N for this span."""
    return start, max(end, start + 1) + buffer


def reach(start: int, end: int, buffer: int) -> Span:
    """Where another booking's own time must meet [start, end) to conflict with it."""
    return start - buffer, max(end, start + 1) + buffer


def clash(a: Span, b: Span, buffer: int) -> bool:
    """Two bookings conflict when they overlap or the gap between them is shorter than
    the buffer (half-open: back to back is fine without one)."""
    (a_start, a_end), (b_start, b_end) = occupied(*a, buffer), occupied(*b, buffer)
    return a_start < b_end and b_start < a_end


def too_many(span: Span, others: Iterable[Span], buffer: int, quantity: int) -> bool:
    """Is ``span`` one booking too many next to ``others`` (those it clashes with):
    are all N already tied up at some instant of its occupied span?"""
    others = list(others)
    if len(others) < quantity:
        return False
    start, end = occupied(*span, buffer)
    return peak(start, end, [occupied(s, e, buffer) for s, e in others]) >= quantity


def peak(start: int, end: int, spans: Iterable[Span]) -> int:
    """Most spans covering one instant of [start, end)."""
    points = []
    for s, e in spans:
        s, e = max(s, start), min(e, end)
        if s < e:
            points.append((s, 1))
            points.append((e, -1))
    points.sort()  # ends (-1) sort before starts at the same instant: half-open
    depth = most = 0
    for _, step in points:
        depth += step
        most = max(most, depth)
    return most

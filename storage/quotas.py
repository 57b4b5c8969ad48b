"""Quotas: how much of a room one booker may hold, as pure functions.

- ``quota-bookings N``: at most N upcoming bookings per booker (a booking is upcoming
  while one of its occurrences ends after now; a series is one booking).
- ``quota-time T`` per ``quota-period`` (P1D, P1W = Monday to Sunday, P1M = calendar
  month, all in the room's time zone): the booked time of a booker in each period, each
  occurrence of a series in its period (one that crosses into the next period counts
  there with the part that lies there).

Only what holds the room counts (not cancelled, not transparent: ``Occurrence.blocking``).
A quota refuses a write only for what it adds: a booking that becomes upcoming, a
period whose time grows.  So an edit of one's own booking never trips over itself (the
booking core leaves it out of the others, by UID, and gives its earlier version as
``before``), and a room whose quota was lowered still lets people edit and shrink.

The booking core (``BookingCore._quotas``) asks ``windows`` where to read the booker's
other bookings, reads them from the index, and asks ``check``.  Managers and admins are
exempt (the core does not ask).  No I/O, no HTTP.
"""

import bisect
import dataclasses
import datetime
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from roomcal.storage.durations import human
from roomcal.storage.instances import instant, utc
from roomcal.storage.rules import Violation

Span = Tuple[int, int]   # half-open, UTC epoch seconds
MAX_PERIODS = 5000       # periods one write may touch (a day of P1D: 13 years)
MAX_WINDOWS = 64         # index queries one write may cause
UNITS = {"P1D": "day", "P1W": "week", "P1M": "month"}


@dataclasses.dataclass(frozen=True)
class Held:
    """One occurrence another booking of the same booker holds in the room."""
    booking: str   # which booking (its href)
    start: int
    end: int


def applies(room) -> bool:
    """Does the room have a quota at all (only then does anyone pay for one)?"""
    return room.rules.quota_bookings is not None or getattr(room, "quota_time", None) is not None


# -- periods ----------------------------------------------------------------------------------------
def period(room, seconds: int) -> Span:
    """The quota period of ``room`` holding the instant ``seconds``: local midnights, so a
    day is 23 or 25 hours long when the clocks change."""
    day = utc(seconds).astimezone(room.tz).date()
    if room.quota_period == "P1D":
        first, following = day, day + datetime.timedelta(days=1)
    elif room.quota_period == "P1W":
        first = day - datetime.timedelta(days=day.weekday())
        following = first + datetime.timedelta(days=7)
    else:
        first = day.replace(day=1)
        following = (first + datetime.timedelta(days=32)).replace(day=1)
    return _midnight(first, room.tz), _midnight(following, room.tz)


def _midnight(day: datetime.date, tz) -> int:
    return instant(datetime.datetime.combine(day, datetime.time()), tz)


def name(room, span: Span) -> str:
    """How a message names a period: on 7 December 2026, in the week of 7 December 2026,
    in December 2026."""
    first = utc(span[0]).astimezone(room.tz).date()
    date = f"{first.day} {first.strftime('%B %Y')}"
    if room.quota_period == "P1D":
        return f"on {date}"
    if room.quota_period == "P1W":
        return f"in the week of {date}"
    return f"in {first.strftime('%B %Y')}"


class TooManyPeriods(ValueError):
    pass


def _time_by_period(room, spans: Iterable[Span]) -> Dict[Span, int]:
    """{period: seconds of ``spans`` inside it} for every period a span touches (a
    zero-length span touches the period of its instant); TooManyPeriods past MAX_PERIODS."""
    found: Dict[Span, int] = {}
    for start, end in spans:
        moment = start
        while True:
            span = period(room, moment)
            found[span] = found.get(span, 0) + max(0, min(end, span[1]) - max(start, span[0]))
            if len(found) > MAX_PERIODS:
                raise TooManyPeriods()
            if span[1] >= end:
                break
            moment = span[1]
    return found


def _grown(room, candidate: Sequence[Span], before: Sequence[Span]) -> Dict[Span, int]:
    """{period: the candidate's time there} for the periods where the write adds time."""
    mine = _time_by_period(room, candidate)
    had = _within(before, sorted(mine))
    return {span: seconds for span, seconds in mine.items() if seconds > had.get(span, 0)}


def _within(spans: Iterable[Span], periods: List[Span]) -> Dict[Span, int]:
    """{period: seconds of ``spans`` inside it} for the given sorted, disjoint periods only."""
    ends = [p[1] for p in periods]
    found: Dict[Span, int] = {}
    for start, end in spans:
        position = bisect.bisect_right(ends, start)
        while position < len(periods) and periods[position][0] < end:
            p = periods[position]
            found[p] = found.get(p, 0) + max(0, min(end, p[1]) - max(start, p[0]))
            position += 1
    return found


def _upcoming(spans: Iterable[Span], now: int) -> bool:
    return any(end > now for _, end in spans)


# -- what the core asks -------------------------------------------------------------------------------
def windows(room, candidate: Sequence[Span], before: Sequence[Span], now: int,
            horizon: int) -> Tuple[Optional[Span], List[Span]]:
    """Where ``check`` needs the booker's other occurrences: (from now to the horizon when
    the write adds an upcoming booking, else None — one upcoming occurrence of each
    booking is enough there; the periods where it adds time, merged into at most
    MAX_WINDOWS windows — every occurrence there)."""
    upcoming = None
    if room.rules.quota_bookings is not None and _upcoming(candidate, now) and not _upcoming(before, now):
        upcoming = (now, max(now + 1, horizon))
    periods: List[Span] = []
    if room.quota_time is not None:
        try:
            periods = sorted(_grown(room, candidate, before))
        except TooManyPeriods:
            pass   # check() refuses without reading anything
    return upcoming, _merge(periods, MAX_WINDOWS)


def _merge(spans: List[Span], most: int) -> List[Span]:
    """The union of ``spans`` as sorted windows; then the closest ones joined until at
    most ``most`` are left."""
    merged: List[list] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    while len(merged) > most:
        gap = min(range(len(merged) - 1), key=lambda i: merged[i + 1][0] - merged[i][1])
        merged[gap:gap + 2] = [[merged[gap][0], merged[gap + 1][1]]]
    return [(s, e) for s, e in merged]


def check(room, candidate: Sequence[Span], before: Sequence[Span], others: Iterable[Held],
          now: int) -> List[Violation]:
    """The quota violations of a write by one booker.

    ``candidate``: the blocking occurrences of the booking as written; ``before``: those
    of its earlier version (empty for a new booking); ``others``: the booker's other
    bookings' blocking occurrences where ``windows`` says: every one meeting its periods,
    and at least one upcoming occurrence of each booking that has one."""
    others = list(others)
    violations = []
    limit = room.rules.quota_bookings
    if limit is not None and _upcoming(candidate, now) and not _upcoming(before, now):
        upcoming = len({h.booking for h in others if h.end > now})
        if upcoming + 1 > limit:
            violations.append(Violation(
                "quota-bookings", f"you already have {upcoming} upcoming booking"
                f"{'' if upcoming == 1 else 's'} in {room.name}; the limit is {limit}"))
    if room.quota_time is not None:
        violations.extend(_time(room, candidate, before, others))
    return violations


def _time(room, candidate, before, others: List[Held]) -> List[Violation]:
    unit, limit = UNITS[room.quota_period], room.quota_time.seconds
    try:
        grown = _grown(room, candidate, before)
    except TooManyPeriods:
        return [Violation("quota-time", f"this booking spans more than {MAX_PERIODS} {unit}s, "
                                        f"more than this server checks against {room.name}'s "
                                        f"limit of {human(limit)} per {unit}")]
    periods = sorted(grown)
    theirs = _within(((h.start, h.end) for h in others), periods)
    over = [(p, grown[p] + theirs.get(p, 0)) for p in periods if grown[p] + theirs.get(p, 0) > limit]
    if not over:
        return []
    (first, total), more = over[0], len(over) - 1
    also = f" (and {more} more {unit}{'' if more == 1 else 's'})" if more else ""
    return [Violation("quota-time", f"this booking would bring your booked time in {room.name} "
                                    f"{name(room, first)} to {human(total)}{also}; "
                                    f"the limit is {human(limit)} per {unit}")]

"""Availability of a room: busy intervals, free windows and bookable start times.

Pure: no I/O, no locks, no HTTP.  The caller hands in the room, the booking
core and an ``Existing`` (the bookings already in the room, as
``storage.booking.Existing``: the index plus the stored items); the route
(``server/routes/availability.py``) takes the read lock and builds it.

Intervals are half-open ``(start, end)`` pairs of UTC epoch seconds.

- **busy**: every blocking occurrence in the window (``booked``, or ``pending``
  for TENTATIVE), the stretches next to them that a new booking cannot touch
  (``buffer``: the room's buffer before and after each, since consecutive
  bookings need a gap of at least the buffer, ``overlap.clash``), the hours
  outside the opening hours (``closed``) and blackout periods (``blackout``).
- **free**: the stretches where a booking lying entirely inside one of them
  passes every conflict check — with quantity N, where fewer than N are held
  (``overlap.occupied``) — inside opening hours and outside blackouts.  Free windows
  are cut at the end of each opening window (an occurrence must fit one window
  of its day).  Other rules (durations, notice, advance, ...) are not part of
  "free"; they are what ``bookable`` asks the core about.
- **bookable**: start times every ``step`` whose slot of ``duration`` the
  booking core itself grants (``BookingCore.decide`` on a synthetic
  one-occurrence candidate) — the same decision a real booking would get, not
  a copy of the rules.
"""

import bisect
import dataclasses
import datetime
import uuid
from typing import Dict, Iterable, List, Optional, Tuple

from roomcal.storage import overlap
from roomcal.storage.booking import blocking_occurrences
from roomcal.storage.instances import (BadBooking, Booking, Occurrence, TooManyOccurrences, instant,
                               utc)

Interval = Tuple[int, int]
KINDS = ("booked", "pending", "buffer", "closed", "blackout")


# -- interval arithmetic ----------------------------------------------------------------------
def merge(intervals: Iterable[Interval]) -> List[Interval]:
    """Sorted, non-overlapping, non-touching union; empty intervals dropped."""
    result: List[list] = []
    for start, end in sorted(i for i in intervals if i[0] < i[1]):
        if result and start <= result[-1][1]:
            result[-1][1] = max(result[-1][1], end)
        else:
            result.append([start, end])
    return [(s, e) for s, e in result]


def clip(intervals: Iterable[Interval], lo: int, hi: int) -> List[Interval]:
    """Each interval cut to [lo, hi); the empty ones dropped (order kept)."""
    out = []
    for start, end in intervals:
        start, end = max(start, lo), min(end, hi)
        if start < end:
            out.append((start, end))
    return out


def subtract(intervals: Iterable[Interval], holes: Iterable[Interval]) -> List[Interval]:
    """Each interval minus the union of ``holes``, in order; pieces of one interval stay apart."""
    holes = merge(holes)
    starts = [h[0] for h in holes]
    out = []
    for start, end in intervals:
        position = max(0, bisect.bisect_right(starts, start) - 1)
        cursor = start
        for hole_start, hole_end in holes[position:]:
            if hole_start >= end:
                break
            if hole_end <= cursor:
                continue
            if hole_start > cursor:
                out.append((cursor, hole_start))
            cursor = max(cursor, hole_end)
        if cursor < end:
            out.append((cursor, end))
    return out


def complement(intervals: Iterable[Interval], lo: int, hi: int) -> List[Interval]:
    """[lo, hi) minus the union of ``intervals``."""
    return subtract([(lo, hi)], intervals) if lo < hi else []


def at_least(intervals: Iterable[Interval], depth: int) -> List[Interval]:
    """Where ``depth`` or more of ``intervals`` overlap (half-open: touching ones do not)."""
    out, since = [], None
    for moment, level in overlap.levels(intervals):
        if level >= depth and since is None:
            since = moment
        elif level < depth and since is not None:
            if since < moment:
                out.append((since, moment))
            since = None
    return merge(out)


# -- the room's calendar -------------------------------------------------------------------
def open_spans(room, lo: int, hi: int) -> List[Interval]:
    """The room's opening windows meeting [lo, hi), one interval per window (not merged:
    an occurrence must lie inside one window of its day), clipped.  Without opening
    hours the room is open all the time: ``[(lo, hi)]``."""
    opening = getattr(room, "opening", None)
    if lo >= hi:
        return []
    if not opening:
        return [(lo, hi)]
    tz = room.tz
    first = utc(lo).astimezone(tz).date() - datetime.timedelta(days=1)
    last = utc(hi).astimezone(tz).date() + datetime.timedelta(days=1)
    spans, day = [], first
    while day <= last:
        midnight = datetime.datetime.combine(day, datetime.time())  # naive: wall-clock minutes
        for begin, finish in opening.open_spans(day):
            start = instant(midnight + datetime.timedelta(minutes=begin), tz)
            end = instant(midnight + datetime.timedelta(minutes=finish), tz)
            spans.append((start, end))
        day += datetime.timedelta(days=1)
    return clip(sorted(spans), lo, hi)


def closed_spans(room, lo: int, hi: int) -> List[Interval]:
    """[lo, hi) outside opening hours; empty without opening hours."""
    if not getattr(room, "opening", None):
        return []
    return complement(open_spans(room, lo, hi), lo, hi)


def blackout_spans(room, lo: int, hi: int) -> List[Interval]:
    return merge(clip([(int(b.start.timestamp()), int(b.end.timestamp()))
                       for b in getattr(room, "blackout_spans", ())], lo, hi))


# -- bookings in the window ------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Taken:
    """One blocking occurrence of a stored booking."""
    href: str
    uid: str
    start: int
    end: int
    pending: bool
    title: Optional[str]  # None for CLASS:PRIVATE/CONFIDENTIAL or no SUMMARY


def taken(existing, lo: int, hi: int, max_occurrences: int) -> List[Taken]:
    """Every blocking occurrence meeting [lo, hi), as the core sees them."""
    found = []
    for row in existing.overlapping(lo, hi):
        if not row.recurring:
            if row.blocking:
                found.append(Taken(row.href, row.uid, row.start, row.end,
                                   row.status == "TENTATIVE", row.summary or None))
            continue
        booking = existing.booking(row.href)
        if booking is None:
            continue
        title = booking.public_title
        for occurrence in blocking_occurrences(row, booking, lo, hi, max_occurrences):
            found.append(Taken(row.href, row.uid, occurrence.start, occurrence.end,
                               occurrence.pending, title))
    return sorted(found, key=lambda t: (t.start, t.end, t.href))


@dataclasses.dataclass(frozen=True)
class Busy:
    start: int
    end: int
    kind: str                      # one of KINDS
    taken: Optional[Taken] = None  # for booked and pending


@dataclasses.dataclass
class Availability:
    busy: List[Busy]
    free: List[Interval]


def availability(room, existing, lo: int, hi: int, max_occurrences: int) -> Availability:
    """Busy intervals and free windows of ``room`` in [lo, hi)."""
    buffer = room.buffer_seconds()
    # A booking within a buffer's length of the window can still keep one out of it.
    occurrences = taken(existing, lo - buffer, hi + buffer, max_occurrences)
    spans = [(t.start, max(t.end, t.start + 1)) for t in occurrences]
    busy = [Busy(s, e, "pending" if t.pending else "booked", t)
            for t, (s, e) in zip(occurrences, spans) if s < hi and e > lo]
    if buffer:  # a new booking must end B before one starts and start B after one ends
        around = [(s - buffer, s) for s, _ in spans] + [(e, e + buffer) for _, e in spans]
        busy += [Busy(s, e, "buffer") for s, e in clip(subtract(merge(around), spans), lo, hi)]
    blackouts = blackout_spans(room, lo, hi)
    busy += [Busy(s, e, "closed") for s, e in closed_spans(room, lo, hi)]
    busy += [Busy(s, e, "blackout") for s, e in blackouts]
    busy.sort(key=lambda b: (b.start, b.end, KINDS.index(b.kind)))
    # Where all N are held (overlap.occupied); a new booking holds one until B after its
    # end, so it must also end B before such a stretch begins.
    full = at_least([overlap.occupied(s, e, buffer) for s, e in spans], room.rules.quantity)
    free = subtract(open_spans(room, lo, hi), [(s - buffer, e) for s, e in full] + blackouts)
    return Availability(busy, free)


# -- bookable start times --------------------------------------------------------------------
def slot_starts(room, lo: int, hi: int, duration: int, step: int) -> List[int]:
    """Starts every ``step`` seconds, on the grid that begins at local midnight of ``lo``'s
    day, from ``lo`` on, whose slot of ``duration`` ends by ``hi``."""
    midnight = instant(datetime.datetime.combine(utc(lo).astimezone(room.tz).date(),
                                                 datetime.time()), room.tz)
    first = midnight + -(-(lo - midnight) // step) * step
    return list(range(first, hi - duration + 1, step))


def count_slots(room, lo: int, hi: int, duration: int, step: int) -> int:
    midnight = instant(datetime.datetime.combine(utc(lo).astimezone(room.tz).date(),
                                                 datetime.time()), room.tz)
    first = midnight + -(-(lo - midnight) // step) * step
    last = hi - duration
    return 0 if last < first else (last - first) // step + 1


def probe(room, start: int, end: int) -> Booking:
    """A synthetic one-occurrence candidate [start, end): what a new booking would be."""
    stamp = utc(start).strftime("%Y%m%dT%H%M%SZ")
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//roomcal//availability//EN\r\n"
            "BEGIN:VEVENT\r\n"
            f"UID:roomcal-probe-{uuid.uuid4().hex}\r\n"
            f"DTSTAMP:{stamp}\r\n"
            f"DTSTART:{stamp}\r\n"
            f"DTEND:{utc(end).strftime('%Y%m%dT%H%M%SZ')}\r\n"
            "SUMMARY:Availability probe\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n")
    return Booking(text, room.tz)


def grants(core, room, existing, start: int, end: int, *, now: Optional[int] = None,
           actor=None) -> bool:
    """Would the booking core take a new booking [start, end) now (from ``actor``: their
    quotas too)?"""
    return core.decide(room, probe(room, start, end), existing, now=now, actor=actor).ok


def bookable(core, room, existing, starts: Iterable[int], duration: int, *,
             now: Optional[int] = None, actor=None) -> List[int]:
    """The starts whose slot [start, start + duration) the core grants (to ``actor``: a
    booker at a quota gets none, or only those the quota leaves)."""
    starts = list(starts)
    if not starts:
        return []
    candidate = probe(room, starts[0], starts[0] + duration)
    granted = []
    for start in starts:
        # The same candidate, moved: one parse for all slots (stamp replaces the value).
        candidate.stamp("DTSTART", utc(start))
        candidate.stamp("DTEND", utc(start + duration))
        if core.decide(room, candidate, existing, now=now, actor=actor).ok:
            granted.append(start)
    return granted


# -- a snapshot of the room for many decisions --------------------------------------------
class _Expanded:
    """A stored series with its occurrences in a window expanded once.

    ``occurrences`` answers exactly as ``Booking.occurrences`` for any query inside the
    window; outside it, or when the window could not be expanded, the booking answers."""

    def __init__(self, booking: Booking, lo: int, hi: int, limit: int):
        self._booking, self._lo, self._hi = booking, lo, hi
        try:
            self._all = booking.occurrences(lo, hi, limit)
        except (BadBooking, TooManyOccurrences):
            self._all = None
        self._outside: Dict[tuple, List[Occurrence]] = {}

    def occurrences(self, start: int, end: int, limit: int) -> List[Occurrence]:
        if self._all is None or start < self._lo or end > self._hi:
            # Quotas ask about the same windows outside this one for every slot: once.
            key = (start, end, limit)
            if key not in self._outside:
                if len(self._outside) >= 64:
                    self._outside.clear()
                self._outside[key] = self._booking.occurrences(start, end, limit)
            return self._outside[key]
        found = [o for o in self._all if o.start < end and (o.end > start or o.start == start)]
        if len(found) > limit:
            raise TooManyOccurrences(limit)
        return found

    def __getattr__(self, name):
        return getattr(self._booking, name)


class Snapshot:
    """An ``Existing`` over the rows of [lo, hi) read once (many decisions, one query).

    ``overlapping`` answers as the index does for any window inside [lo, hi), from the
    rows fetched up front; outside it the source answers.  Series are parsed and
    expanded once.  Build it under the storage's lock and use it there."""

    def __init__(self, source, lo: int, hi: int, max_occurrences: int):
        self._source, self._lo, self._hi = source, lo, hi
        self._limit = max_occurrences
        self._rows = overlap.Rows(source.overlapping(lo, hi))
        self._bookings: Dict[str, object] = {}
        self._owned: Dict[tuple, list] = {}

    def overlapping(self, start: int, end: int) -> list:
        if start < self._lo or end > self._hi:
            return self._source.overlapping(start, end)
        return self._rows.overlapping(start, end)

    def owned(self, owner: str, start: int, end: int) -> list:
        """As the source answers; asked again with the same window (quotas, for every
        slot), from memory."""
        key = (owner, start, end)
        if key not in self._owned:
            if len(self._owned) >= 64:
                self._owned.clear()
            self._owned[key] = self._source.owned(owner, start, end)
        return self._owned[key]

    def booking(self, href: str):
        if href not in self._bookings:
            booking = self._source.booking(href)
            if booking is not None and booking.recurring:
                booking = _Expanded(booking, self._lo, self._hi, self._limit)
            self._bookings[href] = booking
        return self._bookings[href]

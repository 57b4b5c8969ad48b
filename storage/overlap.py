"""Overlap of bookings: the one definition of buffer and quantity, and the one span lookup.

Pure: spans are ``(start, end)`` pairs of UTC epoch seconds, half-open; no Radicale,
no HTTP, no I/O.  The booking core (``BookingCore.decide``), clear-bookings
(``clearing.plan``), availability and the in-memory views of the index
(``RoomView``, ``Snapshot``) all ask here, so they cannot disagree.

A room's buffer B is the time a booking needs after it (cleaning, set-up for the next
one), as LibreBooking's and Cal.com's buffers: consecutive bookings need a gap of at
least B.  With quantity N, a booking is refused when all N would be tied up at some
instant of what it occupies.
"""

import bisect
from typing import Generic, Iterable, Iterator, List, Tuple, TypeVar

Span = Tuple[int, int]
T = TypeVar("T")


# -- buffer and quantity ------------------------------------------------------------------------
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


def blockers(span: Span, others: Iterable[Tuple[int, int, T]], buffer: int,
             quantity: int) -> List[Tuple[int, int, T]]:
    """The ``(start, end, what)`` of ``others`` that leave no room for ``span``: every one
    it clashes with when, next to them, it is one too many; else none.  This is the
    conflict verdict of the booking core and of clear-bookings."""
    hits = [other for other in others if clash(span, (other[0], other[1]), buffer)]
    return hits if too_many(span, [(s, e) for s, e, _ in hits], buffer, quantity) else []


# -- how many at once ---------------------------------------------------------------------------
def levels(spans: Iterable[Span]) -> Iterator[Tuple[int, int]]:
    """(instant, how many spans cover it from then on) at every start and end, in order:
    the one sweep behind ``peak`` and availability's ``at_least``.  At one instant ends
    come before starts: half-open, touching spans do not overlap."""
    points = []
    for start, end in spans:
        if start < end:
            points.append((start, 1))
            points.append((end, -1))
    points.sort()
    level = 0
    for moment, step in points:
        level += step
        yield moment, level


def peak(start: int, end: int, spans: Iterable[Span]) -> int:
    """Most spans covering one instant of [start, end)."""
    return max((level for _, level in levels((max(s, start), min(e, end)) for s, e in spans)),
               default=0)


# -- which spans meet a window --------------------------------------------------------------------
def meets(start: int, end: int, lo: int, hi: int) -> bool:
    """Does [start, end) meet the window [lo, hi)?  A zero-length span at ``lo`` does
    (it is inside the window), as the index answers (``Index.overlapping``)."""
    return start < hi and (end > lo or start == lo)


class Spans(Generic[T]):
    """``(start, end, what)`` sorted by start, and which of them meet a window, in
    O(log n + k): one that meets [lo, hi) starts before ``hi`` and no earlier than ``lo``
    minus the longest span.  Spans may be added between queries."""

    def __init__(self, spans: Iterable[Tuple[int, int, T]] = ()):
        self._spans: List[Tuple[int, int, T]] = list(spans)
        self._starts = sorted((span[0], position) for position, span in enumerate(self._spans))
        self._longest = max((end - start for start, end, _ in self._spans), default=0)

    def __len__(self) -> int:
        return len(self._spans)

    def add(self, start: int, end: int, what: T) -> None:
        bisect.insort(self._starts, (start, len(self._spans)))
        self._spans.append((start, end, what))
        self._longest = max(self._longest, end - start)

    def meeting(self, lo: int, hi: int) -> List[Tuple[int, int, T]]:
        """Those that meet [lo, hi) (``meets``), by start, then in the order added."""
        first = bisect.bisect_left(self._starts, (lo - self._longest, -1))
        last = bisect.bisect_left(self._starts, (hi, -1))
        found = (self._spans[position] for _, position in self._starts[first:last])
        return [span for span in found if meets(span[0], span[1], lo, hi)]


class Rows:
    """Index rows held in memory (anything with ``start``, ``end``, ``recurring``),
    answering ``overlapping`` as ``Index.overlapping`` does for the rows it was given
    (which ones, e.g. blocking only, is the caller's choice): single bookings through
    ``Spans``; series by their envelope, scanned, since an envelope can reach INFINITY
    and would widen the singles' bound to everything."""

    def __init__(self, rows: Iterable = ()):
        rows = list(rows)
        self._singles: Spans = Spans((row.start, row.end, row) for row in rows if not row.recurring)
        self._series = [row for row in rows if row.recurring]

    def add(self, row) -> None:
        if row.recurring:
            self._series.append(row)
        else:
            self._singles.add(row.start, row.end, row)

    def overlapping(self, lo: int, hi: int) -> list:
        """Singles by start, then series in the order added."""
        return ([row for _, _, row in self._singles.meeting(lo, hi)]
                + [row for row in self._series if row.start < hi and row.end > lo])

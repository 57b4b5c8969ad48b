"""storage/overlap.py on its own: buffer and quantity, the peak sweep and the span lookup,
checked against brute-force models.  Plain integers: no booking, no server."""

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from roomcal.storage import overlap

spans = st.lists(st.tuples(st.integers(0, 200), st.integers(0, 60)).map(lambda p: (p[0], p[0] + p[1])),
                 max_size=25)


def covering(moment, spans):
    return sum(1 for s, e in spans if s <= moment < e)


# -- buffer and quantity ------------------------------------------------------------------------
def test_peak_counts_simultaneous_overlap_not_pairs():
    # three bookings overlapping pairwise, never all at once
    assert overlap.peak(0, 100, [(0, 40), (30, 70), (60, 100)]) == 2
    assert overlap.peak(0, 100, [(0, 50), (10, 60), (20, 70)]) == 3
    assert overlap.peak(0, 100, [(0, 50), (50, 100)]) == 1  # half-open: back to back


def test_buffer_is_the_gap_consecutive_bookings_need():
    b = 900
    assert not overlap.clash((0, 3600), (3600 + b, 7200), b)          # gap exactly B
    assert overlap.clash((0, 3600), (3600 + b - 1, 7200), b)          # one second less
    assert overlap.clash((3600 + b - 1, 7200), (0, 3600), b)          # either order
    assert not overlap.clash((0, 3600), (3600, 7200), 0)              # back to back, no buffer
    assert overlap.clash((0, 0), (0, 60), 0)                          # an instant counts
    assert overlap.reach(100, 200, b) == (100 - b, 200 + b)
    # quantity 2: two held until 3600 + B, the third may start then
    held = [(0, 3600), (0, 3600)]
    assert overlap.too_many((3600 + b - 1, 7200), held, b, 2)
    assert not overlap.too_many((3600 + b, 7200), held, b, 2)
    assert not overlap.too_many((0, 3600), held[:1], b, 2)


def test_an_instant_occupies_one_second_and_then_the_buffer():
    assert overlap.occupied(50, 50, 0) == (50, 51)
    assert overlap.occupied(50, 80, 10) == (50, 90)
    assert overlap.clash((50, 50), (50, 50), 0)         # two instants at one moment
    assert not overlap.clash((50, 50), (51, 60), 0)     # the next second is free
    assert overlap.clash((50, 50), (51, 60), 1)         # unless a buffer follows


def test_blockers_names_every_clashing_span_when_one_too_many():
    others = [(0, 40, "a"), (30, 70, "b"), (60, 100, "c"), (200, 300, "far")]
    # quantity 1: anything it clashes with blocks it; what it does not touch is not named
    assert overlap.blockers((35, 36), others, 0, 1) == [(0, 40, "a"), (30, 70, "b")]
    assert overlap.blockers((100, 150), others, 0, 1) == []             # back to back
    assert overlap.blockers((100, 150), others, 10, 1) == [(60, 100, "c")]  # within the buffer
    # quantity 2: at 35 two are held, so all it clashes with are named; at 50 only one is
    assert overlap.blockers((35, 36), others, 0, 2) == [(0, 40, "a"), (30, 70, "b")]
    assert overlap.blockers((45, 55), others, 0, 2) == []
    # ... and pairs are not a peak: (20, 80) meets all three, never more than two at once
    assert overlap.blockers((20, 80), others, 0, 3) == []
    assert overlap.blockers((20, 80), others, 0, 2) == others[:3]
    assert overlap.blockers((0, 10), [], 0, 1) == []


@settings(max_examples=200, deadline=None)
@given(spans, st.tuples(st.integers(0, 200), st.integers(0, 60)), st.integers(0, 30), st.integers(1, 4))
def test_blockers_is_a_seat_count_second_by_second(others, new, buffer, quantity):
    """Brute force: with each booking holding a seat from its start until B after its end
    (an instant for one second), the new one is refused exactly when at some second of
    what it holds all N seats are held by others it clashes with."""
    span = (new[0], new[0] + new[1])
    labelled = [(s, e, i) for i, (s, e) in enumerate(others)]
    held = [overlap.occupied(s, e, buffer) for s, e in others]
    mine = overlap.occupied(*span, buffer)
    full = any(covering(t, held) >= quantity for t in range(*mine))
    found = overlap.blockers(span, labelled, buffer, quantity)
    assert bool(found) == full
    if found:
        assert found == [(s, e, i) for s, e, i in labelled
                         if any(s2 <= t < e2 for t in range(*mine) for s2, e2 in [held[i]])]


@settings(max_examples=200, deadline=None)
@given(spans, st.integers(0, 260), st.integers(0, 80))
def test_peak_and_levels_agree_with_counting(spans, lo, length):
    hi = lo + length
    assert overlap.peak(lo, hi, spans) == max((covering(t, spans) for t in range(lo, hi)), default=0)
    levels = list(overlap.levels(spans))
    assert [m for m, _ in levels] == sorted(m for m, _ in levels)
    after = dict(levels)  # the last level at each instant: what covers it from then on
    assert all(level == covering(moment, spans) for moment, level in after.items())


# -- which spans meet a window --------------------------------------------------------------------
def test_meets_is_overlap_or_an_instant_at_the_start():
    assert overlap.meets(0, 10, 5, 20) and overlap.meets(10, 30, 5, 20)
    assert not overlap.meets(0, 5, 5, 20) and not overlap.meets(20, 30, 5, 20)  # half-open
    assert overlap.meets(5, 5, 5, 20)          # an instant at the window's start is in it
    assert not overlap.meets(20, 20, 5, 20)    # ... at its end it is not


@settings(max_examples=200, deadline=None)
@given(spans, spans, st.integers(-10, 260), st.integers(0, 80))
def test_spans_finds_what_brute_force_finds_in_order(first, later, lo, length):
    hi = lo + length
    lookup = overlap.Spans((s, e, ("first", i)) for i, (s, e) in enumerate(first))
    for i, (s, e) in enumerate(later):  # added between queries, as clear-bookings does
        lookup.add(s, e, ("later", i))
    everything = ([(s, e, ("first", i)) for i, (s, e) in enumerate(first)]
                  + [(s, e, ("later", i)) for i, (s, e) in enumerate(later)])
    want = sorted((span for span in everything if overlap.meets(span[0], span[1], lo, hi)),
                  key=lambda span: span[0])  # stable: by start, then in the order added
    assert lookup.meeting(lo, hi) == want
    assert len(lookup) == len(everything)


@dataclasses.dataclass(frozen=True)
class Row:
    start: int
    end: int
    recurring: bool
    name: str


def test_rows_answer_as_the_index_does():
    rows = [Row(10, 20, False, "a"), Row(15, 15, False, "instant"), Row(0, 10**12, True, "open series"),
            Row(30, 30, True, "empty series"), Row(5, 12, False, "b"), Row(40, 50, True, "series")]
    lookup = overlap.Rows(rows[:3])
    for row in rows[3:]:
        lookup.add(row)
    names = lambda lo, hi: [r.name for r in lookup.overlapping(lo, hi)]  # noqa: E731
    # singles by start (exact, an instant at the window's start included), then series
    assert names(0, 100) == ["b", "a", "instant", "open series", "empty series", "series"]
    assert names(15, 16) == ["a", "instant", "open series"]
    assert names(12, 15) == ["a", "open series"]
    # a series is found by its envelope, as the index's SQL asks (start < hi and end > lo):
    # one with no occurrences (a zero-length envelope) is never in the way
    assert names(30, 31) == ["open series"]
    assert names(50, 60) == ["open series"]

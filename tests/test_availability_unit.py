"""storage/availability.py without a server: interval arithmetic, opening hours, slots,
the snapshot used for many decisions, and busy/free from a fake room."""

import datetime
import random

from fake_existing import Fake
from roomcal.storage import availability as av
from roomcal.storage.booking import BookingCore
from roomcal.storage.durations import parse
from roomcal.storage.rooms import Room, Rules

BERLIN = "Europe/Berlin"


def ts(text: str, tz=BERLIN) -> int:
    import zoneinfo
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=zoneinfo.ZoneInfo(tz)).timestamp())


def room(**rules) -> Room:
    return Room(id="u", name="U", timezone=BERLIN, rules=Rules(**rules)).validate()


def ics(uid, start, end, extra=""):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//t//EN", "BEGIN:VEVENT", f"UID:{uid}",
             "DTSTAMP:20260101T000000Z", f"DTSTART;TZID={BERLIN}:{start}", f"DTEND;TZID={BERLIN}:{end}",
             "SUMMARY:" + uid] + [line for line in extra.splitlines() if line] + ["END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"


# -- interval arithmetic ----------------------------------------------------------------------
def test_merge_clip_subtract_complement():
    assert av.merge([(5, 7), (1, 3), (3, 4), (6, 9), (10, 10)]) == [(1, 4), (5, 9)]
    assert av.clip([(0, 5), (8, 20), (30, 40)], 2, 10) == [(2, 5), (8, 10)]
    assert av.subtract([(0, 10), (20, 30)], [(2, 3), (5, 22), (29, 40)]) == [(0, 2), (3, 5), (22, 29)]
    assert av.subtract([(0, 10)], []) == [(0, 10)]
    assert av.subtract([(0, 10)], [(0, 10)]) == []
    assert av.complement([(2, 3), (8, 12)], 0, 10) == [(0, 2), (3, 8)]
    assert av.complement([], 5, 5) == []


def test_at_least_counts_half_open_overlaps():
    spans = [(0, 10), (5, 15), (10, 20), (12, 13)]
    assert av.at_least(spans, 1) == [(0, 20)]
    assert av.at_least(spans, 2) == [(5, 15)]   # (0,10) and (10,20) touch: no overlap at 10
    assert av.at_least(spans, 3) == [(12, 13)]
    assert av.at_least(spans, 4) == []


def test_subtract_matches_a_brute_force_model():
    rng = random.Random(5)
    for _ in range(200):
        base = [(a, a + rng.randint(1, 20)) for a in sorted(rng.sample(range(0, 100, 25), 3))]
        holes = [(a, a + rng.randint(0, 15)) for a in (rng.randint(0, 100) for _ in range(4))]
        got = {t for s, e in av.subtract(base, holes) for t in range(s, e)}
        want = {t for s, e in base for t in range(s, e)} - {t for s, e in holes for t in range(s, e)}
        assert got == want


# -- the room's calendar ----------------------------------------------------------------------
def test_open_and_closed_spans_follow_the_opening_hours_in_local_time():
    r = room(opening_hours="Mo-Fr 08:00-12:00,13:00-18:00")
    lo, hi = ts("2027-06-11T00:00"), ts("2027-06-14T10:00")  # Friday to Monday 10:00
    assert av.open_spans(r, lo, hi) == [(ts("2027-06-11T08:00"), ts("2027-06-11T12:00")),
                                        (ts("2027-06-11T13:00"), ts("2027-06-11T18:00")),
                                        (ts("2027-06-14T08:00"), ts("2027-06-14T10:00"))]
    assert av.closed_spans(r, lo, hi) == [(lo, ts("2027-06-11T08:00")),
                                          (ts("2027-06-11T12:00"), ts("2027-06-11T13:00")),
                                          (ts("2027-06-11T18:00"), ts("2027-06-14T08:00"))]
    assert av.closed_spans(room(), lo, hi) == []
    assert av.open_spans(room(), lo, hi) == [(lo, hi)]


def test_opening_hours_across_a_dst_change_stay_local():
    r = room(opening_hours="Mo-Su 08:00-18:00")
    spans = av.open_spans(r, ts("2027-03-27T00:00"), ts("2027-03-29T00:00"))
    assert spans == [(ts("2027-03-27T08:00"), ts("2027-03-27T18:00")),
                     (ts("2027-03-28T08:00"), ts("2027-03-28T18:00"))]
    assert spans[1][0] - spans[0][0] == 23 * 3600  # the clocks went forward


def test_slot_starts_are_on_the_grid_from_local_midnight():
    r = room()
    starts = av.slot_starts(r, ts("2027-06-07T09:07"), ts("2027-06-07T11:00"), 3600, 1800)
    assert starts == [ts("2027-06-07T09:30"), ts("2027-06-07T10:00")]
    assert av.count_slots(r, ts("2027-06-07T09:07"), ts("2027-06-07T11:00"), 3600, 1800) == 2
    assert av.slot_starts(r, ts("2027-06-07T09:00"), ts("2027-06-07T09:30"), 3600, 1800) == []
    assert av.count_slots(r, ts("2027-06-07T09:00"), ts("2027-06-07T09:30"), 3600, 1800) == 0


# -- busy and free ------------------------------------------------------------------------------
def test_busy_kinds_and_free_windows():
    r = room(opening_hours="Mo-Fr 08:00-18:00", buffer="PT15M", blackouts=["2027-06-07T16:00/2027-06-07T17:00"])
    existing = Fake(r, [ics("a", "20270607T100000", "20270607T110000"),
                        ics("p", "20270607T130000", "20270607T140000", "STATUS:TENTATIVE"),
                        ics("x", "20270607T150000", "20270607T153000", "STATUS:CANCELLED"),
                        ics("s", "20270607T120000", "20270607T121000", "CLASS:PRIVATE")])
    result = av.availability(r, existing, ts("2027-06-07T07:00"), ts("2027-06-07T19:00"), 1000)
    busy = [(b.kind, b.start, b.end) for b in result.busy]
    assert busy == [
        ("closed", ts("2027-06-07T07:00"), ts("2027-06-07T08:00")),
        ("buffer", ts("2027-06-07T09:45"), ts("2027-06-07T10:00")),
        ("booked", ts("2027-06-07T10:00"), ts("2027-06-07T11:00")),
        ("buffer", ts("2027-06-07T11:00"), ts("2027-06-07T11:15")),
        ("buffer", ts("2027-06-07T11:45"), ts("2027-06-07T12:00")),
        ("booked", ts("2027-06-07T12:00"), ts("2027-06-07T12:10")),
        ("buffer", ts("2027-06-07T12:10"), ts("2027-06-07T12:25")),
        ("buffer", ts("2027-06-07T12:45"), ts("2027-06-07T13:00")),
        ("pending", ts("2027-06-07T13:00"), ts("2027-06-07T14:00")),
        ("buffer", ts("2027-06-07T14:00"), ts("2027-06-07T14:15")),
        ("blackout", ts("2027-06-07T16:00"), ts("2027-06-07T17:00")),
        ("closed", ts("2027-06-07T18:00"), ts("2027-06-07T19:00")),
    ]
    titles = {b.taken.uid: b.taken.title for b in result.busy if b.taken}
    assert titles == {"a": "a", "p": "p", "s": None}  # private: no title
    # Between bookings: a gap of the buffer on both sides.
    assert result.free == [(ts("2027-06-07T08:00"), ts("2027-06-07T09:45")),
                           (ts("2027-06-07T11:15"), ts("2027-06-07T11:45")),
                           (ts("2027-06-07T12:25"), ts("2027-06-07T12:45")),
                           (ts("2027-06-07T14:15"), ts("2027-06-07T16:00")),
                           (ts("2027-06-07T17:00"), ts("2027-06-07T18:00"))]


def test_quantity_frees_until_the_peak_is_reached():
    r = room(quantity=2)
    existing = Fake(r, [ics("a", "20270607T100000", "20270607T120000"),
                        ics("b", "20270607T110000", "20270607T130000")])
    result = av.availability(r, existing, ts("2027-06-07T09:00"), ts("2027-06-07T14:00"), 1000)
    assert [b.kind for b in result.busy] == ["booked", "booked"]
    assert result.free == [(ts("2027-06-07T09:00"), ts("2027-06-07T11:00")),
                           (ts("2027-06-07T12:00"), ts("2027-06-07T14:00"))]


def test_series_occurrences_are_busy_one_by_one():
    r = room()
    existing = Fake(r, [ics("weekly", "20270607T100000", "20270607T110000",
                            "RRULE:FREQ=DAILY;COUNT=5\nEXDATE;TZID=Europe/Berlin:20270608T100000")])
    result = av.availability(r, existing, ts("2027-06-07T00:00"), ts("2027-06-10T00:00"), 1000)
    assert [(b.start, b.kind) for b in result.busy] == [(ts("2027-06-07T10:00"), "booked"),
                                                       (ts("2027-06-09T10:00"), "booked")]


def test_free_windows_and_bookable_slots_agree_with_the_core():
    """Every slot inside a free window is granted, and bookable() is exactly decide()."""
    r = room(opening_hours="Mo-Fr 08:00-18:00", buffer="PT10M", quantity=1)
    core = BookingCore(None, parse("P2Y", calendar_ok=True))
    existing = Fake(r, [ics("a", "20270607T100000", "20270607T110000"),
                        ics("b", "20270607T143000", "20270607T150000")])
    lo, hi = ts("2027-06-07T07:00"), ts("2027-06-07T19:00")
    now = ts("2027-01-01T00:00")
    starts = av.slot_starts(r, lo, hi, 1800, 900)
    granted = av.bookable(core, r, existing, starts, 1800, now=now)
    for start in starts:
        decided = core.decide(r, av.probe(r, start, start + 1800), existing, now=now).ok
        assert (start in granted) == decided
        inside = any(s <= start and start + 1800 <= e
                     for s, e in av.availability(r, existing, lo, hi, 1000).free)
        assert decided == inside
    assert ts("2027-06-07T10:00") not in granted and ts("2027-06-07T11:30") in granted
    assert ts("2027-06-07T11:00") not in granted and ts("2027-06-07T11:15") in granted  # B is 10 min
    assert ts("2027-06-07T09:30") not in granted and ts("2027-06-07T09:15") in granted
    # The free window between them starts and ends exactly a buffer away.
    free = av.availability(r, existing, lo, hi, 1000).free
    assert (ts("2027-06-07T11:10"), ts("2027-06-07T14:20")) in free


def test_free_windows_agree_with_the_core_with_buffer_and_quantity():
    r = room(buffer="PT10M", quantity=2)
    core = BookingCore(None, parse("P2Y", calendar_ok=True))
    existing = Fake(r, [ics("a", "20270607T100000", "20270607T110000"),
                        ics("b", "20270607T103000", "20270607T113000"),
                        ics("c", "20270607T130000", "20270607T140000")])
    lo, hi = ts("2027-06-07T08:00"), ts("2027-06-07T16:00")
    now = ts("2027-01-01T00:00")
    free = av.availability(r, existing, lo, hi, 1000).free
    for length in (300, 1800):
        for start in range(lo, hi - length + 1, 300):
            decided = core.decide(r, av.probe(r, start, start + length), existing, now=now).ok
            inside = any(s <= start and start + length <= e for s, e in free)
            assert decided == inside, (start, length)


def test_snapshot_answers_like_its_source():
    r = room()
    texts = [ics(f"b{i}", f"20270607T{8 + i:02d}0000", f"20270607T{9 + i:02d}3000") for i in range(6)]
    texts.append(ics("series", "20270601T070000", "20270601T080000", "RRULE:FREQ=DAILY;COUNT=20"))
    source = Fake(r, texts)
    lo, hi = ts("2027-06-07T06:00"), ts("2027-06-07T20:00")
    snapshot = av.Snapshot(source, lo, hi, 1000)
    before = source.queries
    for start in range(lo, hi, 600):
        for length in (0, 600, 5400):
            end = min(start + length, hi)
            assert sorted(snapshot.overlapping(start, end), key=lambda x: x.href) == \
                sorted(source.overlapping(start, end), key=lambda x: x.href)
    series = snapshot.booking("series.ics")
    assert series.occurrences(lo, hi, 10) == source.booking("series.ics").occurrences(lo, hi, 10)
    assert snapshot.booking("series.ics") is series  # parsed and expanded once
    assert source.queries - before == len(range(lo, hi, 600)) * 3  # the brute-force comparisons only

"""The booking core's conflict verdict without a server: ``BookingCore.decide`` against a
fake room (tests/fake_existing.py), as test_booking_conflicts.py checks it over CalDAV,
and clear-bookings' planner (``clearing.plan``) agreeing with it on random rooms."""

import datetime
import zoneinfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import event
from fake_existing import Fake
from roomcal.storage import availability, clearing
from roomcal.storage.booking import EARLIEST, BookingCore
from roomcal.storage.durations import parse
from roomcal.storage.instances import INFINITY, Booking
from roomcal.storage.rooms import Room, Rules

CORE = BookingCore(None, parse("P2Y", calendar_ok=True))
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def utc(text: str) -> int:
    return int(datetime.datetime.strptime(text, "%Y%m%dT%H%M%SZ")
               .replace(tzinfo=datetime.timezone.utc).timestamp())


NOW = utc("20260101T000000Z")


def room(**rules) -> Room:
    return Room(id="d", name="D", timezone="Europe/Berlin", rules=Rules(**rules)).validate()


def decide(r, existing, start, end, **kw):
    return CORE.decide(r, Booking(event(start, end, **kw), r.tz), existing, now=NOW)


def conflicts(r, existing, start, end, **kw):
    """[(href, start, end)] of what refuses [start, end); [] when it is allowed."""
    decision = decide(r, existing, start, end, **kw)
    assert not decision.violations, decision.violations
    return [(c.href, c.start, c.end) for c in decision.conflicts]


# -- plain overlaps ---------------------------------------------------------------------------
def test_overlap_is_a_conflict_naming_the_booking_and_back_to_back_is_not():
    r = room()
    existing = Fake(r, [event("20270106T100000Z", "20270106T110000Z", uid="first", summary="Standup")])
    one = ("first.ics", utc("20270106T100000Z"), utc("20270106T110000Z"))
    for start, end in [("20270106T103000Z", "20270106T113000Z"),   # overlaps the end
                       ("20270106T093000Z", "20270106T100100Z"),   # overlaps the start
                       ("20270106T101500Z", "20270106T104500Z"),   # inside
                       ("20270106T090000Z", "20270106T120000Z"),   # encloses
                       ("20270106T100000Z", "20270106T110000Z")]:  # identical
        assert conflicts(r, existing, start, end) == [one]
    conflict, = decide(r, existing, "20270106T103000Z", "20270106T113000Z").conflicts
    assert (conflict.uid, conflict.title) == ("first", "Standup")
    assert conflicts(r, existing, "20270106T110000Z", "20270106T120000Z") == []
    assert conflicts(r, existing, "20270106T090000Z", "20270106T100000Z") == []


def test_an_edit_of_the_same_booking_does_not_conflict_with_itself():
    r = room()
    existing = Fake(r, [event("20270106T100000Z", "20270106T110000Z", uid="mine")])
    assert conflicts(r, existing, "20270106T103000Z", "20270106T113000Z", uid="mine") == []


def test_buffer_is_the_gap_consecutive_bookings_need():
    r = room(buffer="PT15M")
    existing = Fake(r, [event("20270111T100000Z", "20270111T110000Z", uid="a")])
    for start, end in [("20270111T110000Z", "20270111T120000Z"),    # back to back
                       ("20270111T111459Z", "20270111T120000Z"),    # 15 min minus a second after
                       ("20270111T090000Z", "20270111T094501Z")]:   # the same before
        assert [c[0] for c in conflicts(r, existing, start, end)] == ["a.ics"]
    assert conflicts(r, existing, "20270111T111500Z", "20270111T120000Z") == []   # exactly B after
    assert conflicts(r, existing, "20270111T080000Z", "20270111T094500Z") == []   # exactly B before


def test_quantity_counts_the_peak_not_the_pairs():
    r = room(quantity=2)
    existing = Fake(r, [event("20270112T100000Z", "20270112T110000Z", uid="a"),
                        event("20270112T120000Z", "20270112T130000Z", uid="b")])
    # C overlaps A and B, never both at once
    assert conflicts(r, existing, "20270112T103000Z", "20270112T123000Z") == []
    existing.add(event("20270112T103000Z", "20270112T123000Z", uid="c"))
    # D would be the third at 10:45, with A and C: both are named
    assert {c[0] for c in conflicts(r, existing, "20270112T104000Z", "20270112T105000Z")} == \
        {"a.ics", "c.ics"}
    assert "2 times at once" in decide(r, existing, "20270112T104000Z", "20270112T105000Z").message()
    assert conflicts(r, existing, "20270112T111500Z", "20270112T114500Z") == []   # only C


def test_buffer_with_quantity_holds_one_of_n_until_b_after_the_end():
    r = room(buffer="PT15M", quantity=2)
    existing = Fake(r, [event("20270119T100000Z", "20270119T110000Z", uid="a"),
                        event("20270119T100000Z", "20270119T110000Z", uid="b")])
    assert len(conflicts(r, existing, "20270119T111459Z", "20270119T120000Z")) == 2
    assert conflicts(r, existing, "20270119T111500Z", "20270119T120000Z") == []


def test_cancelled_and_transparent_do_not_block_but_tentative_does():
    r = room()
    existing = Fake(r, [event("20270113T100000Z", "20270113T110000Z", uid="x", extra="STATUS:CANCELLED"),
                        event("20270113T120000Z", "20270113T130000Z", uid="t", extra="TRANSP:TRANSPARENT"),
                        event("20270113T140000Z", "20270113T150000Z", uid="p", extra="STATUS:TENTATIVE")])
    assert conflicts(r, existing, "20270113T100000Z", "20270113T133000Z") == []
    assert [c[0] for c in conflicts(r, existing, "20270113T143000Z", "20270113T153000Z")] == ["p.ics"]
    # a cancelled or transparent candidate takes no slot, so nothing refuses it
    assert conflicts(r, existing, "20270113T143000Z", "20270113T153000Z", extra="STATUS:CANCELLED") == []
    assert conflicts(r, existing, "20270113T143000Z", "20270113T153000Z", extra="TRANSP:TRANSPARENT") == []


# -- series -------------------------------------------------------------------------------------
def test_a_series_blocks_with_each_occurrence():
    r = room()
    existing = Fake(r, [event("20270104T090000Z", "20270104T100000Z", uid="weekly", summary="Weekly",
                              extra="RRULE:FREQ=WEEKLY;COUNT=10\nEXDATE:20270118T090000Z")])
    # the conflict names the occurrence, not the series' first date
    conflict, = decide(r, existing, "20270201T093000Z", "20270201T103000Z").conflicts
    assert (conflict.href, conflict.start, conflict.end, conflict.title) == \
        ("weekly.ics", utc("20270201T090000Z"), utc("20270201T100000Z"), "Weekly")
    assert len(conflicts(r, existing, "20270308T085959Z", "20270308T090001Z")) == 1  # the last
    assert conflicts(r, existing, "20270118T090000Z", "20270118T100000Z") == []       # excluded
    assert conflicts(r, existing, "20270202T090000Z", "20270202T100000Z") == []       # a Tuesday
    assert conflicts(r, existing, "20270315T090000Z", "20270315T100000Z") == []       # over


def test_each_occurrence_of_a_new_series_is_checked():
    r = room(buffer="PT10M")
    existing = Fake(r, [event("20270303T143000Z", "20270303T150000Z", uid="single"),
                        event("20270203T150500Z", "20270203T160000Z", uid="later")])
    # Wednesdays 14:00-15:00 from 2027-01-06: the 5th meets "later" within the buffer,
    # the 9th overlaps "single"
    found = conflicts(r, existing, "20270106T140000Z", "20270106T150000Z", extra="RRULE:FREQ=WEEKLY;COUNT=12")
    assert found == [("later.ics", utc("20270203T150500Z"), utc("20270203T160000Z")),
                     ("single.ics", utc("20270303T143000Z"), utc("20270303T150000Z"))]
    assert conflicts(r, existing, "20270106T140000Z", "20270106T150000Z", extra="RRULE:FREQ=WEEKLY;COUNT=4") == []


def test_a_series_against_a_series_with_quantity():
    r = room(quantity=2)
    existing = Fake(r, [event("20270201T090000Z", "20270201T100000Z", uid="daily", extra="RRULE:FREQ=DAILY;COUNT=5"),
                        event("20270203T093000Z", "20270203T094500Z", uid="once")])
    # a second daily series fits beside the first, except on the 3rd, where "once" is the second
    found = conflicts(r, existing, "20270201T090000Z", "20270201T100000Z", extra="RRULE:FREQ=DAILY;COUNT=5")
    assert found == [("daily.ics", utc("20270203T090000Z"), utc("20270203T100000Z")),
                     ("once.ics", utc("20270203T093000Z"), utc("20270203T094500Z"))]


# -- clear-bookings agrees with the booking core ----------------------------------------------------
BASE = utc("20300330T060000Z")   # the day before Berlin moves its clocks (31 March): daily series cross it
LATER = utc("20300101T000000Z")  # "now" for both: every occurrence is still to come

START = st.integers(0, 36).map(lambda quarter: BASE + quarter * 900)
KIND = st.sampled_from(["", "", "", "STATUS:TENTATIVE", "STATUS:CANCELLED", "TRANSP:TRANSPARENT"])
LENGTHS = [15, 30, 60, 90, 180]
single = st.fixed_dictionaries({"start": START, "minutes": st.sampled_from([0] + LENGTHS), "kind": KIND,
                                "repeat": st.none()})
# Series of instants are left out: see test_the_last_instant_of_a_series_blocks_like_the_others.
series = st.fixed_dictionaries({"start": START, "minutes": st.sampled_from(LENGTHS), "kind": KIND,
                                "repeat": st.sampled_from(["FREQ=DAILY;COUNT=3", "FREQ=HOURLY;COUNT=3",
                                                           "FREQ=HOURLY;INTERVAL=2;COUNT=3"])})
bookings = st.lists(st.one_of(single, single, series), min_size=1, max_size=7)


def text_of(position: int, spec: dict) -> str:
    """Booking ``position``, made (CREATED) after the ones before it; in Berlin time, so a
    daily series keeps its wall-clock time across the DST change."""
    def local(seconds):
        return datetime.datetime.fromtimestamp(seconds, BERLIN).strftime("%Y%m%dT%H%M%S")
    created = datetime.datetime.fromtimestamp(LATER - 86400 + position, datetime.timezone.utc)
    extra = [f"CREATED:{created.strftime('%Y%m%dT%H%M%SZ')}", spec["kind"]]
    if spec["repeat"]:
        extra.append("RRULE:" + spec["repeat"])
    return event(local(spec["start"]), local(spec["start"] + spec["minutes"] * 60), uid=f"b{position}",
                 extra="\n".join(line for line in extra if line), tz="Europe/Berlin")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bookings, st.sampled_from([None, "PT10M", "PT1H"]), st.integers(1, 3))
def test_clear_bookings_keeps_exactly_what_the_core_would_admit_in_order(specs, buffer, quantity):
    """Clear-bookings takes bookings in the order they were made and drops what does not
    fit next to the ones kept before: a single when ``decide`` finds conflicts with it, an
    occurrence of a series when ``decide`` finds conflicts with it alone.

    What stays of a series is kept as its occurrences, not re-read from the series with
    EXDATEs: recurring-ical-events 3.8.2 (as installed) drops the wrong occurrences of an
    HOURLY series in Europe/Berlin in winter time when it has an EXDATE, which is another
    matter than this test's."""
    r = room(buffer=buffer, quantity=quantity)
    texts = [text_of(position, spec) for position, spec in enumerate(specs)]
    plan = clearing.plan(r, [clearing.Stored(f"b{i}.ics", text) for i, text in enumerate(texts)],
                         now=LATER, horizon=LATER + 3 * 365 * 86400)

    kept = Fake(r)
    deleted, excluded = [], set()   # what the core refuses, admitting them one by one
    for position, text in enumerate(texts):   # CREATED: in the order of the list
        href, booking = f"b{position}.ics", Booking(text, r.tz)
        if booking.get("STATUS") == "CANCELLED":
            continue
        if not booking.recurring:
            if CORE.decide(r, booking, kept, now=LATER).conflicts:
                deleted.append(href)
            else:
                kept.add(text, href)
            continue
        occurrences = booking.occurrences(EARLIEST, INFINITY, 100)
        lost = {o.start for o in occurrences
                if o.blocking and CORE.decide(r, availability.probe(r, o.start, o.end), kept,
                                              now=LATER).conflicts}
        excluded |= {(href, start) for start in lost}
        if not lost:
            kept.add(text, href)
        else:  # what stays of it, one by one (not as the series with EXDATEs: see below)
            for o in occurrences:
                if o.start not in lost:
                    kept.add(availability.probe(r, o.start, o.end).to_ical(), f"{href}#{o.start}")

    cancelled = [f"b{i}.ics" for i, spec in enumerate(specs) if spec["kind"] == "STATUS:CANCELLED"]
    assert plan.deletes == cancelled + deleted
    assert sorted(o.event.href for o in plan.deleted) == sorted(deleted)
    assert {(o.event.href, o.event.start) for o in plan.excluded} == excluded
    assert plan.ignored == [] and plan.unreadable == []


@pytest.mark.xfail(strict=True, reason="a series' index row (and so Index.overlapping) ends where its last "
                                       "occurrence ends: an instant there is not found from that instant on")
def test_the_last_instant_of_a_series_blocks_like_the_others():
    """Found by the property above, on main as well: clear-bookings counts an instant as one
    second (overlap.occupied) for every occurrence, the core misses the last one of a series."""
    r = room()
    existing = Fake(r, [event("20270104T090000Z", "20270104T090000Z", uid="s", extra="RRULE:FREQ=DAILY;COUNT=3")])
    assert len(conflicts(r, existing, "20270105T090000Z", "20270105T100000Z")) == 1   # the 2nd
    assert len(conflicts(r, existing, "20270106T090000Z", "20270106T100000Z")) == 1   # the last


# -- a series, occurrence by occurrence (scheduling declines only what cannot be held) --------
def test_decide_each_refuses_the_clashing_and_the_blacked_out_weeks_only():
    r = room(blackouts=["2027-01-20/2027-01-20"], quantity=2)
    existing = Fake(r, [event("20270113T090000Z", "20270113T100000Z", uid="a"),
                        event("20270113T093000Z", "20270113T103000Z", uid="b"),   # week 2: full (2 of 2)
                        event("20270127T090000Z", "20270127T100000Z", uid="c")])  # week 4: one of 2 left
    series = Booking(event("20270106T090000Z", "20270106T100000Z", uid="s",
                           extra="RRULE:FREQ=WEEKLY;COUNT=4"), r.tz)
    decided = CORE.decide_each(r, series, existing, now=NOW)
    verdicts = {datetime.datetime.fromtimestamp(o.start, BERLIN).date().isoformat(): d for o, d in decided}
    assert sorted(verdicts) == ["2027-01-06", "2027-01-13", "2027-01-20", "2027-01-27"]
    assert [day for day, d in sorted(verdicts.items()) if not d.ok] == ["2027-01-13", "2027-01-20"]
    assert verdicts["2027-01-13"].conflicts and not verdicts["2027-01-13"].violations
    assert [v.rule for v in verdicts["2027-01-20"].violations] == ["blackout"]
    # the whole series is refused, for both reasons at once
    whole = CORE.decide(r, series, existing, now=NOW)
    assert whole.conflicts and [v.rule for v in whole.violations] == ["blackout"]


def test_decide_each_does_not_count_the_series_against_its_earlier_version():
    r = room()
    earlier = event("20270106T090000Z", "20270106T100000Z", uid="s", extra="RRULE:FREQ=WEEKLY;COUNT=3")
    existing = Fake(r, [earlier])
    moved = Booking(event("20270106T093000Z", "20270106T103000Z", uid="s",
                          extra="RRULE:FREQ=WEEKLY;COUNT=3"), r.tz)
    assert all(d.ok for _, d in CORE.decide_each(r, moved, existing, now=NOW,
                                                 previous=Booking(earlier, r.tz)))


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Tokyo", "Etc/UTC"])
def test_a_series_in_any_zone_is_found_from_its_first_occurrence(zone):
    """The expansion's windows start at the series' first occurrence, compared (by the
    library) in the series' own wall-clock time: west of UTC, a start at the UTC instant
    missed the first hours of the first day."""
    r = room()
    tz = zoneinfo.ZoneInfo(zone)
    first = datetime.datetime(2027, 1, 6, 9, tzinfo=tz)
    series = event("20270106T090000", "20270106T100000", uid="s", tz=zone, extra="RRULE:FREQ=DAILY;COUNT=3")
    single = event(first.astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
                   (first + datetime.timedelta(minutes=30)).astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
                   uid="one")
    # the stored series blocks a booking in its first hour, and a new series meets a stored booking there
    assert decide(r, Fake(r, [series]), single.split("DTSTART:")[1][:16], single.split("DTEND:")[1][:16]).conflicts
    assert CORE.decide(r, Booking(series, r.tz), Fake(r, [single]), now=NOW).conflicts
    starts = [o.start for o in Booking(series, r.tz).occurrences(int(first.timestamp()) - 3600, INFINITY, 10)]
    assert starts[0] == int(first.timestamp()) and len(starts) == 3


def test_decide_each_reads_the_earlier_version_once_not_per_occurrence():
    """An update of a 1000-occurrence daily series into one conflict: each occurrence's
    decision compared against the earlier version expanded again (30 s of CPU, in the
    write lock); the earlier version's occurrences are now read once."""
    import time
    r = room()
    earlier = event("20270106T090000Z", "20270106T100000Z", uid="s", extra="RRULE:FREQ=DAILY;COUNT=1000")
    existing = Fake(r, [earlier, event("20270301T093000Z", "20270301T094500Z", uid="x")])
    moved = Booking(event("20270106T093000Z", "20270106T103000Z", uid="s",
                          extra="RRULE:FREQ=DAILY;COUNT=1000"), r.tz)
    t0 = time.thread_time()
    decided = CORE.decide_each(r, moved, existing, previous=Booking(earlier, r.tz), now=NOW)
    assert time.thread_time() - t0 < 3.0   # ~0.2 s idle; 30 s before
    refused = [datetime.datetime.fromtimestamp(o.start, BERLIN).date().isoformat()
               for o, d in decided if not d.ok]
    assert len(decided) == 1000 and refused == ["2027-03-01"]

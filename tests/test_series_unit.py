"""Occurrences left out of a series without a server: ``storage/series.py`` (the one EXDATE
writer, and skipConflicts' decision against a fake room) and the short booking body's
``recurrenceRules``/``excludedRecurrenceDates`` and flags (``server/booking_body.py``)."""

import datetime
import zoneinfo

import pytest

from conftest import event
from fake_existing import Fake
from roomcal.server import booking_body
from roomcal.storage import series
from roomcal.storage.booking import BookingCore
from roomcal.storage.context import Actor
from roomcal.storage.durations import parse
from roomcal.storage.errors import BadRequest
from roomcal.storage.instances import INFINITY, Booking
from roomcal.storage.rooms import Room, Rules

CORE = BookingCore(None, parse("P2Y", calendar_ok=True))
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
ALICE, BOB = Actor("alice"), Actor("bob")


def room(**rules) -> Room:
    return Room(id="s", name="S", timezone="Europe/Berlin", rules=Rules(**rules)).validate()


def at(text: str) -> int:
    """UTC seconds of a local Berlin time "2027-01-13T10:00"."""
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp())


def starts(text: str, r: Room) -> list:
    return [datetime.datetime.fromtimestamp(o.start, BERLIN).strftime("%Y-%m-%dT%H:%M")
            for o in Booking(text, r.tz).occurrences(0, INFINITY, 100)]


WEEKLY = event("20270106T100000", "20270106T110000", uid="s", tz="Europe/Berlin",
               extra="RRULE:FREQ=WEEKLY;COUNT=4")


# -- without_occurrences: the one EXDATE writer ----------------------------------------------------
def test_left_out_occurrences_are_exdates_written_as_dtstart_is():
    r = room()
    booking = Booking(WEEKLY, r.tz)
    text = series.without_occurrences(booking, [at("2027-01-13T10:00"), at("2027-01-27T10:00")])
    assert "EXDATE;TZID=Europe/Berlin:20270113T100000" in text
    assert "EXDATE;TZID=Europe/Berlin:20270127T100000" in text
    assert starts(text, r) == ["2027-01-06T10:00", "2027-01-20T10:00"]
    assert "EXDATE" not in booking.to_ical()   # the booking itself stays as it was
    for form, extra, exdate in (("20270106T090000Z", "", "EXDATE:20270113T090000Z"),   # UTC
                                ("20270106T100000", "", "EXDATE:20270113T100000")):  # floating
        utc_or_floating = Booking(event(form, form[:9] + "11" + form[11:], uid="u",
                                        extra="RRULE:FREQ=WEEKLY;COUNT=3"), r.tz)
        assert exdate in series.without_occurrences(utc_or_floating, [at("2027-01-13T10:00")])
    all_day = Booking(event("20270106", "20270107", uid="d", dates=True, extra="RRULE:FREQ=WEEKLY;COUNT=3"), r.tz)
    assert "EXDATE;VALUE=DATE:20270113" in series.without_occurrences(all_day, [at("2027-01-13T00:00")])


def test_the_left_out_starts_are_read_back_from_the_exdates():
    r = room()
    left_out = [at("2027-01-27T10:00"), at("2027-01-13T10:00")]
    text = series.without_occurrences(Booking(WEEKLY, r.tz), left_out)
    assert series.left_out_starts(Booking(text, r.tz)) == sorted(left_out)
    assert series.left_out_starts(Booking(WEEKLY, r.tz)) == []
    # one EXDATE line with two values, in UTC
    both = WEEKLY.replace("RRULE:", "EXDATE:20270113T090000Z,20270120T090000Z\r\nRRULE:")
    assert series.left_out_starts(Booking(both, r.tz)) == [at("2027-01-13T10:00"), at("2027-01-20T10:00")]


def test_a_moved_occurrence_loses_its_override_and_is_excluded_by_its_recurrence_id():
    r = room()
    moved = WEEKLY.replace("END:VCALENDAR", "BEGIN:VEVENT\r\nUID:s\r\nDTSTAMP:20260101T000000Z\r\n"
                           "RECURRENCE-ID;TZID=Europe/Berlin:20270113T100000\r\n"
                           "DTSTART;TZID=Europe/Berlin:20270113T150000\r\n"
                           "DTEND;TZID=Europe/Berlin:20270113T160000\r\nEND:VEVENT\r\nEND:VCALENDAR")
    booking = Booking(moved, r.tz)
    assert series.recurrence_ids(booking, [at("2027-01-13T15:00"), at("2027-01-20T10:00")]) == [
        datetime.datetime(2027, 1, 13, 10, tzinfo=BERLIN), datetime.datetime(2027, 1, 20, 10, tzinfo=BERLIN)]
    text = series.without_occurrences(booking, [at("2027-01-13T15:00")])
    assert "RECURRENCE-ID" not in text and "EXDATE;TZID=Europe/Berlin:20270113T100000" in text
    assert starts(text, r) == ["2027-01-06T10:00", "2027-01-20T10:00", "2027-01-27T10:00"]
    only_overrides = Booking(moved.split("BEGIN:VEVENT", 1)[0] + "BEGIN:VEVENT" + moved.split("BEGIN:VEVENT")[2], r.tz)
    assert series.without_occurrences(only_overrides, [at("2027-01-13T15:00")]) is None


# -- skip_conflicts: what the core finds taken, and nothing else -------------------------------------
def test_only_the_taken_occurrences_are_skipped_each_with_its_conflict():
    r = room()
    existing = Fake(r, [event("20270113T093000Z", "20270113T100000Z", uid="a", summary="A"),
                        event("20270127T080000Z", "20270127T093000Z", uid="b", summary="B")])
    kept, skipped = series.skip_conflicts(CORE, r, Booking(WEEKLY, r.tz), existing, ALICE)
    assert starts(kept, r) == ["2027-01-06T10:00", "2027-01-20T10:00"]
    assert [(s.start, s.end) for s in skipped] == [(at("2027-01-13T10:00"), at("2027-01-13T11:00")),
                                                   (at("2027-01-27T10:00"), at("2027-01-27T11:00"))]
    assert [(s.conflict.uid, s.conflict.title, s.conflict.href) for s in skipped] == [
        ("a", "A", "a.ics"), ("b", "B", "b.ics")]
    assert skipped[0].to_json(r) == {"start": "2027-01-13T10:00:00+01:00", "end": "2027-01-13T11:00:00+01:00",
                                     "conflict": {"href": "/rooms/s/a.ics", "uid": "a", "title": "A",
                                                  "start": "2027-01-13T10:30:00+01:00",
                                                  "end": "2027-01-13T11:00:00+01:00"}}
    assert CORE.decide(r, Booking(kept, r.tz), existing).ok   # what is left passes the core


def test_nothing_is_skipped_when_all_none_or_a_rule_speaks():
    r = room(blackouts=["2027-01-20/2027-01-20"])
    taken = [event(f"202701{day}T090000Z", f"202701{day}T100000Z", uid=f"t{day}") for day in ("06", "13", "20", "27")]
    assert series.skip_conflicts(CORE, room(), Booking(WEEKLY, r.tz), Fake(r, taken), ALICE) == (None, [])
    assert series.skip_conflicts(CORE, room(), Booking(WEEKLY, r.tz), Fake(r), ALICE) == (None, [])
    single = Booking(event("20270113T100000Z", "20270113T110000Z", uid="one"), r.tz)
    assert series.skip_conflicts(CORE, r, single, Fake(r, taken), ALICE) == (None, [])
    # The blacked-out week stays in (the write is refused for it), taken or not; the others go.
    kept, skipped = series.skip_conflicts(CORE, r, Booking(WEEKLY, r.tz), Fake(r, taken), ALICE)
    assert [s.conflict.uid for s in skipped] == ["t06", "t13", "t27"]
    assert starts(kept, r) == ["2027-01-20T10:00"]
    whole = CORE.decide(r, Booking(kept, r.tz), Fake(r, taken))
    assert [v.rule for v in whole.violations] == ["blackout"] and whole.conflicts


def test_who_may_not_see_a_booking_gets_its_conflict_busy_only():
    r = Room(id="s", name="S", timezone="Europe/Berlin", managers=["mgr"]).validate()
    private = event("20270113T093000Z", "20270113T100000Z", uid="p", summary="Secret",
                    extra="CLASS:PRIVATE\nX-ROOMCAL-BOOKED-BY:bob")
    existing = Fake(r, [private])
    seen = {actor.user: series.skip_conflicts(CORE, r, Booking(WEEKLY, r.tz), existing, actor)[1][0].conflict
            for actor in (ALICE, BOB, Actor("mgr"))}
    assert (seen["alice"].href, seen["alice"].uid, seen["alice"].title) == (None, None, None)
    assert seen["bob"].uid == "p" and seen["mgr"].uid == "p"   # its booker and the room's managers
    closed = Room(id="c", name="C", timezone="Europe/Berlin", viewers=["mgr"], bookers=["mgr"]).validate()
    public = Fake(closed, [event("20270113T093000Z", "20270113T100000Z", uid="x")])
    conflict = series.skip_conflicts(CORE, closed, Booking(WEEKLY, closed.tz), public, ALICE)[1][0].conflict
    assert conflict.uid is None   # free/busy only: times only


# -- the short body ----------------------------------------------------------------------------------
def test_the_short_body_converts_recurrence_rules_with_the_jscalendar_code():
    r = room()
    text, problems = booking_body.read({
        "title": "Weekly", "start": "2027-03-02T10:00:00", "end": "2027-03-02T11:00:00", "uid": "w",
        "recurrenceRules": [{"frequency": "weekly", "interval": 2, "until": "2027-04-30T00:00:00",
                             "byDay": [{"day": "tu"}, {"day": "th"}]}],
        "excludedRecurrenceDates": ["2027-03-16T10:00:00", "2027-03-18T10:00:00+01:00"]}, r)
    assert problems == []
    assert "RRULE:FREQ=WEEKLY;UNTIL=20270429T220000Z;INTERVAL=2;BYDAY=TU,TH" in text
    assert "EXDATE;TZID=Europe/Berlin:20270316T100000" in text
    assert "EXDATE;TZID=Europe/Berlin:20270318T100000" in text
    assert starts(text, r)[:3] == ["2027-03-02T10:00", "2027-03-04T10:00", "2027-03-30T10:00"]
    single, problems = booking_body.read({"title": "x", "start": "2027-03-02T10:00:00",
                                          "end": "2027-03-02T11:00:00", "recurrenceRules": None}, r)
    assert problems == [] and "RRULE" not in single


def test_flags_are_booleans_in_the_body_or_true_false_in_the_query():
    assert booking_body.query_flag({}, "skipConflicts") is None
    assert booking_body.query_flag({"skipConflicts": "TRUE"}, "skipConflicts") is True
    assert booking_body.query_flag({"skipConflicts": "0"}, "skipConflicts") is False
    with pytest.raises(BadRequest, match="skipConflicts=true or skipConflicts=false"):
        booking_body.query_flag({"skipConflicts": ""}, "skipConflicts")
    body = {"title": "x", "skipConflicts": True}
    assert booking_body.take_flag(body, "skipConflicts", None) is True and body == {"title": "x"}
    assert booking_body.take_flag({"title": "x"}, "skipConflicts", False) is False
    with pytest.raises(BadRequest, match="must be true or false"):
        booking_body.take_flag({"skipConflicts": "yes"}, "skipConflicts", None)
    with pytest.raises(BadRequest, match="send it once"):
        booking_body.take_flag({"skipConflicts": False}, "skipConflicts", True)

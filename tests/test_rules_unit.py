"""The pure parts of the booking core, without HTTP: parsing, expansion, rules.
(Buffer, quantity and peak: test_overlap_unit.py.)"""

import datetime
import zoneinfo

import pytest

from roomcal.storage import durations, openinghours, rules
from roomcal.storage.instances import BadBooking, Booking
from roomcal.storage.rooms import Room, Rules

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def ics(*lines):
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:t", *lines, "END:VCALENDAR", ""])


def local(*args):
    return int(datetime.datetime(*args, tzinfo=BERLIN).timestamp())


def test_durations_parse_and_explain():
    assert durations.parse("PT4H").seconds == 4 * 3600
    assert durations.parse("p1dt30m").seconds == 86400 + 1800
    assert durations.parse("P2Y", calendar_ok=True).years == 2
    with pytest.raises(ValueError, match="ISO 8601"):
        durations.parse("4 hours")
    with pytest.raises(ValueError, match="no fixed length"):
        durations.parse("P1M")
    assert durations.human(5 * 3600) == "5 h"
    assert durations.human(5400) == "1 h 30 min"


def test_opening_hours_windows_and_errors():
    hours = openinghours.parse("Mo-Fr 08:00-18:00; Sa 09:00-12:00")
    monday = datetime.datetime(2027, 3, 1, tzinfo=BERLIN)
    assert hours.fits(monday.replace(hour=8), monday.replace(hour=18))
    assert not hours.fits(monday.replace(hour=7, minute=59), monday.replace(hour=9))
    sunday = monday + datetime.timedelta(days=6)
    assert not hours.fits(sunday.replace(hour=10), sunday.replace(hour=11))
    late = openinghours.parse("Fr-Mo 20:00-24:00")
    assert late.fits(monday.replace(hour=20), monday + datetime.timedelta(days=1))
    for bad in ("Mo 8-18", "Xy 08:00-09:00", "Mo 18:00-08:00", ""):
        with pytest.raises(ValueError):
            openinghours.parse(bad)


def test_weekly_series_keeps_wall_clock_time_across_both_berlin_transitions():
    booking = Booking(ics("BEGIN:VEVENT", "UID:s", "DTSTART;TZID=Europe/Berlin:20270322T090000",
                          "DTEND;TZID=Europe/Berlin:20270322T100000", "RRULE:FREQ=WEEKLY;COUNT=34",
                          "END:VEVENT"), BERLIN)
    starts = [o.start for o in booking.occurrences(local(2027, 3, 1), local(2027, 12, 1), 100)]
    assert local(2027, 3, 22, 9) in starts and local(2027, 3, 29, 9) in starts   # spring forward
    assert local(2027, 10, 25, 9) in starts and local(2027, 11, 1, 9) in starts  # fall back
    assert local(2027, 3, 29, 9) - local(2027, 3, 22, 9) == 7 * 86400 - 3600


def test_floating_and_all_day_are_read_in_the_room_zone():
    floating = Booking(ics("BEGIN:VEVENT", "UID:f", "DTSTART:20270601T090000", "DTEND:20270601T100000",
                           "END:VEVENT"), BERLIN)
    assert floating.occurrences(0, 2 ** 40, 5)[0].start == local(2027, 6, 1, 9)
    day = Booking(ics("BEGIN:VEVENT", "UID:d", "DTSTART;VALUE=DATE:20270601", "END:VEVENT"), BERLIN)
    occurrence = day.occurrences(0, 2 ** 40, 5)[0]
    assert (occurrence.start, occurrence.end) == (local(2027, 6, 1), local(2027, 6, 2))


def test_unknown_time_zone_and_broken_data_are_refused():
    with pytest.raises(BadBooking, match="unknown time zone"):
        Booking(ics("BEGIN:VEVENT", "UID:x", "DTSTART;TZID=Mars/Olympus:20270601T090000",
                    "DTEND;TZID=Mars/Olympus:20270601T100000", "END:VEVENT"), BERLIN)
    with pytest.raises(BadBooking, match="before"):
        Booking(ics("BEGIN:VEVENT", "UID:x", "DTSTART:20270601T100000Z", "DTEND:20270601T090000Z",
                    "END:VEVENT"), BERLIN)


def test_exdate_and_cancelled_override_free_their_slots():
    booking = Booking(ics(
        "BEGIN:VEVENT", "UID:s", "DTSTART:20270104T090000Z", "DTEND:20270104T100000Z",
        "RRULE:FREQ=DAILY;COUNT=4", "EXDATE:20270105T090000Z", "END:VEVENT",
        "BEGIN:VEVENT", "UID:s", "RECURRENCE-ID:20270106T090000Z", "DTSTART:20270106T090000Z",
        "DTEND:20270106T100000Z", "STATUS:CANCELLED", "END:VEVENT"), BERLIN)
    blocking = [o for o in booking.occurrences(0, 2 ** 40, 10) if o.blocking]
    days = [datetime.datetime.fromtimestamp(o.start, datetime.timezone.utc).day for o in blocking]
    assert days == [4, 7]


def facts(room, start, end, **extra):
    from roomcal.storage.instances import Occurrence
    base = dict(room=room, new=[Occurrence(start, end, "", False)], instance_count=1, count_capped=False,
                recurring=False, infinite=False, last_start=start, now=local(2027, 1, 1))
    base.update(extra)
    return rules.Facts(**base)


def test_each_rule_names_itself_and_explains():
    room = Room(id="r", name="R", timezone="Europe/Berlin", rules=Rules(
        opening_hours="Mo-Fr 08:00-18:00", max_duration="PT4H", min_duration="PT30M",
        min_notice="PT2H", max_advance="P30D", no_multiday=True, no_recurring=True, max_instances=3,
        blackouts=["2027-01-20/2027-01-21"])).validate()
    five_hours = rules.check(facts(room, local(2027, 1, 11, 9), local(2027, 1, 11, 14)))
    assert [v.rule for v in five_hours] == ["max-duration"]
    assert five_hours[0].message == "5 h is longer than this room's maximum of 4 h"
    named = {v.rule for v in rules.check(facts(room, local(2027, 1, 1, 0, 30), local(2027, 1, 1, 0, 40)))}
    assert {"min-duration", "min-notice", "opening-hours"} <= named
    assert "max-advance" in {v.rule for v in rules.check(facts(room, local(2027, 3, 1, 9), local(2027, 3, 1, 10)))}
    assert "blackout" in {v.rule for v in rules.check(facts(room, local(2027, 1, 21, 9), local(2027, 1, 21, 10)))}
    multi = rules.check(facts(room, local(2027, 1, 11, 17), local(2027, 1, 12, 9)))
    assert "no-multiday" in {v.rule for v in multi}
    series = rules.check(facts(room, local(2027, 1, 11, 9), local(2027, 1, 11, 10), recurring=True,
                               instance_count=5))
    assert {"no-recurring", "max-instances"} <= {v.rule for v in series}
    assert [v.rule for v in rules.check(facts(room, local(2027, 1, 11, 9), local(2027, 1, 11, 9)))] == ["duration"]

"""The booking verbs' iCalendar editing, without HTTP: moving a booking or a whole
series (across DST too), marking a change, the written forms of an instant."""

import datetime
import zoneinfo

import pytest

from roomcal.storage.errors import InvalidBooking
from roomcal.storage.instances import INFINITY, Booking, iso, like
from roomcal.storage.reschedule import BadTime, move
from roomcal.storage.rooms import Room

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UTC = datetime.timezone.utc


def ics(*lines):
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:t", *lines, "END:VCALENDAR", ""])


def event(*lines, uid="u"):
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20270101T000000Z", *lines, "END:VEVENT"]


def moved(text, start, end=None, tz=BERLIN) -> Booking:
    """``text`` moved, then written and read back as the storage would."""
    booking = Booking(text, tz)
    move(booking, start, end)
    return Booking(booking.to_ical(), tz)


def starts(booking, limit=50):
    return sorted(datetime.datetime.fromtimestamp(o.start, BERLIN).strftime("%Y-%m-%d %H:%M")
                  for o in booking.occurrences(-2208988800, INFINITY, limit))


def test_a_single_booking_moves_and_keeps_its_length_and_form():
    text = ics(*event("DTSTART;TZID=Europe/Berlin:20270720T090000",
                      "DTEND;TZID=Europe/Berlin:20270720T103000"))
    after = moved(text, "2027-07-21T14:00")
    assert after.master["DTSTART"].to_ical() == b"20270721T140000"
    assert after.master["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert after.master["DTEND"].dt == datetime.datetime(2027, 7, 21, 15, 30, tzinfo=BERLIN)
    # An offset in the request is converted to the stored zone; an end is taken as given.
    after = moved(text, "2027-07-21T12:00:00Z", "2027-07-21T17:00")
    assert after.master["DTSTART"].dt == datetime.datetime(2027, 7, 21, 14, 0, tzinfo=BERLIN)
    assert after.master["DTEND"].dt == datetime.datetime(2027, 7, 21, 17, 0, tzinfo=BERLIN)


def test_utc_and_floating_values_stay_utc_and_floating():
    utc_text = ics(*event("DTSTART:20270720T070000Z", "DTEND:20270720T080000Z"))
    after = moved(utc_text, "2027-07-21T11:00")  # naive: the room's zone (Berlin, UTC+2)
    assert after.master["DTSTART"].to_ical() == b"20270721T090000Z"
    assert after.master["DTEND"].to_ical() == b"20270721T100000Z"
    floating = ics(*event("DTSTART:20270720T090000", "DTEND:20270720T100000"))
    after = moved(floating, "2027-07-21T11:00")
    assert after.master["DTSTART"].to_ical() == b"20270721T110000"
    assert after.master["DTEND"].to_ical() == b"20270721T120000"


def test_the_length_is_kept_in_seconds_across_a_dst_change():
    # Two hours from 01:00 on the night the clocks go forward (02:00 -> 03:00) end at 04:00.
    text = ics(*event("DTSTART;TZID=Europe/Berlin:20270320T010000",
                      "DTEND;TZID=Europe/Berlin:20270320T030000"))
    after = moved(text, "2027-03-28T01:00")
    assert after.master["DTEND"].dt == datetime.datetime(2027, 3, 28, 4, 0, tzinfo=BERLIN)


def test_a_duration_is_kept_or_rewritten_from_a_new_end():
    text = ics(*event("DTSTART;TZID=Europe/Berlin:20270720T090000", "DURATION:PT1H"))
    after = moved(text, "2027-07-21T10:00")
    assert after.master["DURATION"].dt == datetime.timedelta(hours=1) and "DTEND" not in after.master
    after = moved(text, "2027-07-21T10:00", "2027-07-21T12:30")
    assert after.master["DURATION"].dt == datetime.timedelta(hours=2, minutes=30)


def test_an_all_day_booking_moves_by_whole_days():
    text = ics(*event("DTSTART;VALUE=DATE:20270720", "DTEND;VALUE=DATE:20270722"))
    after = moved(text, "2027-08-02")
    assert after.master["DTSTART"].dt == datetime.date(2027, 8, 2)
    assert after.master["DTEND"].dt == datetime.date(2027, 8, 4)
    after = moved(text, "2027-08-02", "2027-08-05")
    assert after.master["DTEND"].dt == datetime.date(2027, 8, 5)


def test_a_series_moves_whole_and_keeps_its_wall_clock_across_dst():
    # Daily at 09:00 from the Friday before the clocks go forward (Sun 2027-03-28),
    # without the Monday, the Tuesday moved to 12:00, until the Wednesday.
    text = ics(*event("DTSTART;TZID=Europe/Berlin:20270326T090000",
                      "DTEND;TZID=Europe/Berlin:20270326T100000",
                      "RRULE:FREQ=DAILY;UNTIL=20270331T070000Z",
                      "EXDATE;TZID=Europe/Berlin:20270329T090000",
                      "RDATE;TZID=Europe/Berlin:20270402T090000"),
               *event("RECURRENCE-ID;TZID=Europe/Berlin:20270330T090000",
                      "DTSTART;TZID=Europe/Berlin:20270330T120000",
                      "DTEND;TZID=Europe/Berlin:20270330T130000"))
    assert starts(Booking(text, BERLIN)) == [
        "2027-03-26 09:00", "2027-03-27 09:00", "2027-03-28 09:00", "2027-03-30 12:00",
        "2027-03-31 09:00", "2027-04-02 09:00"]
    after = moved(text, "2027-03-27T10:30")
    assert starts(after) == [
        "2027-03-27 10:30", "2027-03-28 10:30", "2027-03-29 10:30", "2027-03-31 13:30",
        "2027-04-01 10:30", "2027-04-03 10:30"]
    master = after.master
    assert master["EXDATE"].dts[0].dt == datetime.datetime(2027, 3, 30, 10, 30, tzinfo=BERLIN)
    # UNTIL is UTC: 07:00Z was 09:00 summer time, the moved one is 10:30 summer time.
    assert master["RRULE"]["UNTIL"] == [datetime.datetime(2027, 4, 1, 8, 30, tzinfo=UTC)]
    override = [e for e in after.events if "RECURRENCE-ID" in e][0]
    assert override["RECURRENCE-ID"].dt == datetime.datetime(2027, 3, 31, 10, 30, tzinfo=BERLIN)
    assert override["DTEND"].dt == datetime.datetime(2027, 3, 31, 14, 30, tzinfo=BERLIN)


def test_a_series_pinned_by_its_rule_is_refused_where_the_move_changes_the_pin():
    weekly = ics(*event("DTSTART;TZID=Europe/Berlin:20270802T080000",
                        "DTEND;TZID=Europe/Berlin:20270802T090000",
                        "RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3"))
    with pytest.raises(InvalidBooking, match="repeats by BYDAY"):
        moved(weekly, "2027-08-03T08:00")
    assert starts(moved(weekly, "2027-08-09T09:00")) == [
        "2027-08-09 09:00", "2027-08-16 09:00", "2027-08-23 09:00"]
    hourly = ics(*event("DTSTART;TZID=Europe/Berlin:20270802T080000",
                        "DTEND;TZID=Europe/Berlin:20270802T083000",
                        "RRULE:FREQ=DAILY;BYHOUR=8,12;COUNT=4"))
    with pytest.raises(InvalidBooking, match="repeats by BYHOUR"):
        moved(hourly, "2027-08-02T09:00")
    assert moved(hourly, "2027-08-03T08:00").master["DTSTART"].dt.day == 3


@pytest.mark.parametrize("start, end, message", [
    ("tomorrow", None, "'start': 'tomorrow' is not an ISO 8601 date or date-time."),
    ("2027-07-21", None, "This booking has times: 'start' must be a date-time."),
    ("2027-07-21T10:00", "2027-07-21T09:00", "'end' must be after 'start'."),
    ("2027-07-21T10:00", "2027-07-21T10:00", "'end' must be after 'start'."),
    ("9999-07-21T10:00", None, "'start': '9999-07-21T10:00' is outside the years 1900 to 8999."),
])
def test_bad_times_are_the_callers_mistake(start, end, message):
    text = ics(*event("DTSTART;TZID=Europe/Berlin:20270720T090000",
                      "DTEND;TZID=Europe/Berlin:20270720T100000"))
    booking = Booking(text, BERLIN)
    with pytest.raises(BadTime) as raised:
        move(booking, start, end)
    assert str(raised.value) == message
    assert booking.to_ical() == Booking(text, BERLIN).to_ical()  # untouched


def test_an_all_day_booking_takes_dates_only():
    text = ics(*event("DTSTART;VALUE=DATE:20270720", "DTEND;VALUE=DATE:20270721"))
    with pytest.raises(BadTime, match="all-day booking: 'start' must be a date"):
        moved(text, "2027-07-21T10:00")
    with pytest.raises(BadTime, match="'end': '2027-13-01' is not an ISO 8601 date"):
        moved(text, "2027-07-21", "2027-13-01")


def test_touch_counts_the_sequence_and_stamps_last_modified():
    booking = Booking(ics(*event("DTSTART:20270720T090000Z", "RRULE:FREQ=DAILY;COUNT=2", "SEQUENCE:3"),
                          *event("RECURRENCE-ID:20270721T090000Z", "DTSTART:20270721T100000Z",
                                 "SEQUENCE:x")), BERLIN)
    now = datetime.datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)
    booking.touch(now)
    assert [int(e["SEQUENCE"]) for e in booking.events] == [4, 1]
    assert all(e["LAST-MODIFIED"].dt == now for e in booking.events)
    assert all(e["DTSTAMP"].to_ical() == b"20270101T000000Z" for e in booking.events)
    fresh = Booking(ics(*event("DTSTART:20270720T090000Z")), BERLIN)
    fresh.touch()
    assert int(fresh.master["SEQUENCE"]) == 1 and "LAST-MODIFIED" in fresh.master


def test_an_instant_written_like_a_stored_value_and_as_room_time():
    moment = datetime.datetime(2027, 7, 20, 7, 30, tzinfo=UTC)
    zoned = datetime.datetime(2027, 1, 1, tzinfo=zoneinfo.ZoneInfo("America/New_York"))
    assert like(moment, zoned, BERLIN) == datetime.datetime(2027, 7, 20, 3, 30, tzinfo=zoned.tzinfo)
    assert like(moment, datetime.datetime(2027, 1, 1), BERLIN) == datetime.datetime(2027, 7, 20, 9, 30)
    assert like(moment, datetime.date(2027, 1, 1), BERLIN) == datetime.date(2027, 7, 20)
    assert like(datetime.datetime(2027, 7, 20, 9, 30), zoned, BERLIN) == moment.astimezone(zoned.tzinfo)
    assert like(datetime.date(2027, 7, 20), zoned, BERLIN) == datetime.date(2027, 7, 20)
    room = Room(id="r", name="R", timezone="Europe/Berlin").validate()
    assert iso(room, int(moment.timestamp())) == "2027-07-20T09:30:00+02:00"
    assert iso(room, None) is None and iso(room, INFINITY) is None

"""Quotas without a server: the pure arithmetic of storage/quotas.py (periods in the room's
time zone, across DST changes) and the booking core's verdict on a fake room
(tests/fake_existing.py), as tests/test_quotas.py checks it over HTTP."""

import datetime
import sqlite3
import zoneinfo

import pytest

from conftest import event
from fake_existing import Fake
from roomcal.storage import quotas
from roomcal.storage.booking import OWNER, BookingCore
from roomcal.storage.context import Actor
from roomcal.storage.durations import parse
from roomcal.storage.index import Index, Row
from roomcal.storage.instances import Booking
from roomcal.storage.rooms import Room, Rules

CORE = BookingCore(None, parse("P2Y", calendar_ok=True))
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
ALICE, BOB = Actor("alice"), Actor("bob")
HOUR = 3600


def local(text: str) -> int:
    """UTC seconds of a Berlin wall-clock time "2027-03-28 10:00"."""
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp())


def ical(text: str) -> str:
    """A Berlin wall-clock time as an iCalendar UTC value."""
    return datetime.datetime.fromtimestamp(local(text), datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


NOW = local("2026-12-01 00:00")


def room(**rules) -> Room:
    return Room(id="board", name="Board room", timezone="Europe/Berlin", managers=["mgr"],
                rules=Rules(**rules)).validate()


def owned_by(owner: str, start: str, end: str, **kw) -> str:
    extra = f"{OWNER}:{owner}\n" + kw.pop("extra", "")
    return event(ical(start), ical(end), extra=extra, **kw)


def decide(r, existing, start, end, actor=ALICE, now=NOW, previous=None, **kw):
    candidate = Booking(event(ical(start), ical(end), **kw), r.tz)
    return CORE.decide(r, candidate, existing, now=now, actor=actor, previous=previous)


def messages(decision):
    return [(v.rule, v.message) for v in decision.violations]


# -- periods ----------------------------------------------------------------------------------------
def test_a_day_is_23_or_25_hours_long_on_the_days_the_clocks_change_in_berlin():
    day = room(quota_time="PT4H", quota_period="P1D")
    spring = quotas.period(day, local("2027-03-28 12:00"))
    autumn = quotas.period(day, local("2027-10-31 12:00"))
    assert spring == (local("2027-03-28 00:00"), local("2027-03-29 00:00"))
    assert spring[1] - spring[0] == 23 * HOUR
    assert autumn[1] - autumn[0] == 25 * HOUR
    assert quotas.period(day, local("2027-03-27 23:59"))[1] == spring[0]


def test_weeks_run_monday_to_sunday_and_months_are_calendar_months_in_the_rooms_zone():
    week = room(quota_time="PT4H")   # P1W is the default
    assert week.quota_period == "P1W"
    change = quotas.period(week, local("2027-03-28 23:30"))   # the Sunday of the change, late
    assert change == (local("2027-03-22 00:00"), local("2027-03-29 00:00"))
    assert change[1] - change[0] == (7 * 24 - 1) * HOUR
    # 00:30 on Monday in Berlin is still Sunday in UTC: it belongs to the next week
    assert quotas.period(week, local("2027-03-29 00:30"))[0] == local("2027-03-29 00:00")
    month = room(quota_time="PT4H", quota_period="P1M")
    assert quotas.period(month, local("2027-02-14 10:00")) == (local("2027-02-01 00:00"),
                                                                local("2027-03-01 00:00"))
    assert quotas.period(month, local("2026-12-31 23:59")) == (local("2026-12-01 00:00"),
                                                                local("2027-01-01 00:00"))
    assert quotas.name(week, change) == "in the week of 22 March 2027"
    assert quotas.name(month, quotas.period(month, local("2027-02-14 10:00"))) == "in February 2027"


def test_the_rules_are_checked_with_sentences():
    for rules, sentence in [({"quota_bookings": 0}, "quota-bookings must be a whole number >= 1"),
                            ({"quota_bookings": True}, "quota-bookings must be a whole number >= 1"),
                            ({"quota_time": "P1M"}, "quota-time: 'P1M': years and months have no fixed length"),
                            ({"quota_time": "PT0S"}, "quota-time must be longer than zero"),
                            ({"quota_time": "PT4H", "quota_period": "P2W"},
                             "quota-period must be P1D (a day), P1W (a week, Monday to Sunday) or "
                             "P1M (a calendar month), not 'P2W'")]:
        with pytest.raises(ValueError) as e:
            room(**rules)
        assert str(e.value).startswith(sentence)
    assert Rules(quota_bookings=3).to_json()["quota-bookings"] == 3
    assert Rules.from_json({"quota-time": "PT4H", "quota-period": "P1D"}).quota_period == "P1D"


# -- the count quota ------------------------------------------------------------------------------------
def test_the_booking_after_the_quota_is_refused_with_a_sentence():
    r = room(quota_bookings=2)
    existing = Fake(r, [owned_by("alice", "2026-12-07 10:00", "2026-12-07 11:00"),
                        owned_by("alice", "2026-12-08 10:00", "2026-12-08 11:00"),
                        owned_by("bob", "2026-12-09 10:00", "2026-12-09 11:00"),   # not hers
                        owned_by("alice", "2026-11-20 10:00", "2026-11-20 11:00"),  # past
                        owned_by("alice", "2026-12-10 10:00", "2026-12-10 11:00",  # cancelled
                                 extra="STATUS:CANCELLED")])
    assert messages(decide(r, existing, "2026-12-11 10:00", "2026-12-11 11:00")) == [
        ("quota-bookings", "you already have 2 upcoming bookings in Board room; the limit is 2")]
    assert decide(r, existing, "2026-12-11 10:00", "2026-12-11 11:00").message() == (
        "You already have 2 upcoming bookings in Board room; the limit is 2.")
    assert decide(r, existing, "2026-12-11 10:00", "2026-12-11 11:00", actor=BOB).ok
    # a booking in the past is not an upcoming one (min-notice is another rule)
    assert decide(r, existing, "2026-11-25 10:00", "2026-11-25 11:00").ok
    # the moment the first one ends, it no longer counts
    assert decide(r, existing, "2026-12-11 10:00", "2026-12-11 11:00", now=local("2026-12-07 11:00")).ok


def test_a_series_is_one_booking_and_counts_while_one_occurrence_is_ahead():
    r = room(quota_bookings=2)
    existing = Fake(r, [owned_by("alice", "2026-11-02 10:00", "2026-11-02 11:00",
                                 extra="RRULE:FREQ=WEEKLY;COUNT=10")])   # until 4 January
    assert decide(r, existing, "2026-12-11 10:00", "2026-12-11 11:00").ok
    ended = local("2027-01-04 11:00")
    existing.add(owned_by("alice", "2027-01-10 10:00", "2027-01-10 11:00"))
    assert not decide(r, existing, "2027-01-11 10:00", "2027-01-11 11:00", now=ended - 1).ok
    assert decide(r, existing, "2027-01-11 10:00", "2027-01-11 11:00", now=ended).ok
    # an open series of one's own is one booking, not one per week
    open_series = room(quota_bookings=1)
    assert decide(open_series, Fake(open_series), "2026-12-07 10:00", "2026-12-07 11:00",
                  extra="RRULE:FREQ=WEEKLY").ok


def test_an_update_of_ones_own_booking_does_not_count_against_itself():
    r = room(quota_bookings=2)
    mine = owned_by("alice", "2026-12-07 10:00", "2026-12-07 11:00", uid="mine")
    existing = Fake(r, [mine, owned_by("alice", "2026-12-08 10:00", "2026-12-08 11:00")])
    previous = Booking(mine, r.tz)
    moved = decide(r, existing, "2026-12-14 10:00", "2026-12-14 12:00", uid="mine", previous=previous)
    assert moved.ok, moved.message()
    # a quota lowered below what someone holds: they may still move what they have
    lowered = room(quota_bookings=1)
    assert decide(lowered, Fake(lowered, [mine, owned_by("alice", "2026-12-08 10:00", "2026-12-08 11:00")]),
                  "2026-12-14 10:00", "2026-12-14 12:00", uid="mine", previous=previous).ok
    # but bringing a past booking back to the future adds one
    past = owned_by("alice", "2026-11-07 10:00", "2026-11-07 11:00", uid="past")
    existing.add(past)
    assert [v.rule for v in decide(r, existing, "2026-12-14 10:00", "2026-12-14 11:00", uid="past",
                                   previous=Booking(past, r.tz)).violations] == ["quota-bookings"]


def test_managers_admins_and_writes_without_an_author_are_exempt():
    r = room(quota_bookings=1, quota_time="PT1H")
    existing = Fake(r, [owned_by("mgr", "2026-12-07 10:00", "2026-12-07 11:00"),
                        owned_by("root", "2026-12-07 12:00", "2026-12-07 13:00")])
    for actor in (Actor("mgr"), Actor("root", admin=True), None):
        assert decide(r, existing, "2026-12-08 10:00", "2026-12-08 12:00", actor=actor).ok


def test_a_room_without_a_quota_never_reads_who_booked_what():
    class NoOwners(Fake):
        def owned(self, owner, start, end):
            raise AssertionError("read the booker's bookings in a room without a quota")
    r = room(max_duration="PT4H")
    assert decide(r, NoOwners(r), "2026-12-08 10:00", "2026-12-08 12:00").ok


# -- the time quota -----------------------------------------------------------------------------------
def test_time_per_week_counts_the_other_bookings_of_that_week_only():
    r = room(quota_time="PT4H", quota_period="P1W")
    existing = Fake(r, [owned_by("alice", "2026-12-07 09:00", "2026-12-07 12:00"),   # Monday, 3 h
                        owned_by("alice", "2026-12-14 09:00", "2026-12-14 12:00"),   # next week
                        owned_by("bob", "2026-12-08 09:00", "2026-12-08 10:00")])
    assert decide(r, existing, "2026-12-10 10:00", "2026-12-10 11:00").ok   # 4 h: the limit
    assert decide(r, existing, "2026-12-10 10:00", "2026-12-10 12:00").message() == (
        "This booking would bring your booked time in Board room in the week of 7 December 2026 "
        "to 5 h; the limit is 4 h per week.")
    assert decide(r, existing, "2026-12-10 10:00", "2026-12-10 12:00", actor=BOB).ok


def test_time_per_day_and_per_month():
    day = room(quota_time="PT2H", quota_period="P1D")
    existing = Fake(day, [owned_by("alice", "2026-12-07 09:00", "2026-12-07 10:30")])
    assert decide(day, existing, "2026-12-08 10:00", "2026-12-08 12:00").ok
    assert messages(decide(day, existing, "2026-12-07 14:00", "2026-12-07 15:00")) == [
        ("quota-time", "this booking would bring your booked time in Board room on 7 December 2026 "
                       "to 2 h 30 min; the limit is 2 h per day")]
    # across midnight: each day counts the part that lies in it
    assert decide(day, Fake(day), "2026-12-08 22:00", "2026-12-09 01:00").ok
    month = room(quota_time="PT5H", quota_period="P1M")
    existing = Fake(month, [owned_by("alice", "2026-12-01 09:00", "2026-12-01 13:00"),
                            owned_by("alice", "2027-01-04 09:00", "2027-01-04 13:00")])
    assert decide(month, existing, "2026-12-31 09:00", "2026-12-31 10:00").ok
    assert messages(decide(month, existing, "2026-12-31 09:00", "2026-12-31 11:00")) == [
        ("quota-time", "this booking would bring your booked time in Board room in December 2026 "
                       "to 6 h; the limit is 5 h per month")]


def test_a_series_counts_each_occurrence_in_its_own_period():
    r = room(quota_time="PT4H", quota_period="P1W")
    existing = Fake(r, [owned_by("alice", "2026-12-16 09:00", "2026-12-16 12:00")])   # 3 h, 2nd week
    weekly = "RRULE:FREQ=WEEKLY;COUNT=4"
    assert messages(decide(r, existing, "2026-12-07 10:00", "2026-12-07 12:00", extra=weekly)) == [
        ("quota-time", "this booking would bring your booked time in Board room in the week of "
                       "14 December 2026 to 5 h; the limit is 4 h per week")]
    assert decide(r, existing, "2026-12-07 10:00", "2026-12-07 11:00", extra=weekly).ok
    # five daily hours in one week: 5 h, in the week they fall in; the next week alike
    assert messages(decide(r, Fake(r), "2026-12-07 10:00", "2026-12-07 11:00",
                           extra="RRULE:FREQ=DAILY;COUNT=12")) == [
        ("quota-time", "this booking would bring your booked time in Board room in the week of "
                       "7 December 2026 to 7 h (and 1 more week); the limit is 4 h per week")]
    # another series of one's own counts with each of its occurrences
    other = Fake(r, [owned_by("alice", "2026-12-01 09:00", "2026-12-01 12:00", extra="RRULE:FREQ=WEEKLY")])
    assert decide(r, other, "2026-12-07 10:00", "2026-12-07 11:00").ok
    assert [v.rule for v in decide(r, other, "2027-03-02 13:00", "2027-03-02 15:00").violations] == ["quota-time"]


def test_an_update_adds_only_what_it_adds():
    r = room(quota_time="PT4H")
    mine = owned_by("alice", "2026-12-07 10:00", "2026-12-07 12:00", uid="mine")
    existing = Fake(r, [mine, owned_by("alice", "2026-12-08 10:00", "2026-12-08 12:00")])
    previous = Booking(mine, r.tz)
    assert decide(r, existing, "2026-12-09 10:00", "2026-12-09 12:00", uid="mine", previous=previous).ok
    assert [v.rule for v in decide(r, existing, "2026-12-09 10:00", "2026-12-09 12:30", uid="mine",
                                   previous=previous).violations] == ["quota-time"]
    # a limit lowered below what someone holds: moving within the week adds nothing
    lowered = room(quota_time="PT3H")
    assert decide(lowered, Fake(lowered, [mine, owned_by("alice", "2026-12-08 10:00", "2026-12-08 12:00")]),
                  "2026-12-09 10:00", "2026-12-09 12:00", uid="mine", previous=previous).ok


def test_the_day_and_the_week_of_a_dst_change_in_berlin():
    day = room(quota_time="PT23H", quota_period="P1D")
    # all of the short spring Sunday is 23 h: within the limit; the long autumn one is not
    assert decide(day, Fake(day), "2027-03-28 00:00", "2027-03-29 00:00", now=local("2027-03-01 00:00")).ok
    assert messages(decide(day, Fake(day), "2027-10-31 00:00", "2027-11-01 00:00",
                           now=local("2027-10-01 00:00"))) == [
        ("quota-time", "this booking would bring your booked time in Board room on 31 October 2027 "
                       "to 1 d 1 h; the limit is 23 h per day")]
    week = room(quota_time="PT4H")
    now = local("2027-03-01 00:00")
    existing = Fake(week, [owned_by("alice", "2027-03-22 09:00", "2027-03-22 12:00"),   # Monday
                           owned_by("alice", "2027-03-29 00:00", "2027-03-29 03:00")])  # next Monday
    # Sunday night after the change is still that week (22:00 local = 20:00 UTC)...
    assert [v.rule for v in decide(week, existing, "2027-03-28 22:00", "2027-03-28 23:30",
                                   now=now).violations] == ["quota-time"]
    assert decide(week, existing, "2027-03-28 22:00", "2027-03-28 23:00", now=now).ok
    # ...and Monday 00:30 local (Sunday 22:30 UTC) is the next week's
    assert decide(week, existing, "2027-03-29 03:00", "2027-03-29 04:00", now=now).ok
    assert [v.rule for v in decide(week, existing, "2027-03-29 03:00", "2027-03-29 04:30",
                                   now=now).violations] == ["quota-time"]
    # a daily series through the change counts 1 h every day in local time
    daily = decide(week, Fake(week), "2027-03-25 10:00", "2027-03-25 11:00", now=now,
                   extra="RRULE:FREQ=DAILY;COUNT=5")   # Thu..Sun: 4 h; Monday: the next week
    assert daily.ok, daily.message()


def test_work_is_bounded_in_periods_and_in_reads():
    r = room(quota_time="PT4H", quota_period="P1D")
    # a booking of more days than the server counts is refused with a sentence
    decision = decide(r, Fake(r), "2030-01-01 00:00", "2045-01-01 00:00")
    assert [v.rule for v in decision.violations] == ["quota-time"]
    assert f"more than {quotas.MAX_PERIODS} days" in decision.message()
    # a series touching many periods asks the index a bounded number of times

    class Counting(Fake):
        reads = 0

        def owned(self, owner, start, end):
            Counting.reads += 1
            return super().owned(owner, start, end)
    assert decide(r, Counting(r), "2026-12-07 10:00", "2026-12-07 11:00",
                  extra="RRULE:FREQ=WEEKLY;COUNT=200").ok
    assert 0 < Counting.reads <= quotas.MAX_WINDOWS


def test_windows_are_only_what_check_needs():
    r = room(quota_bookings=2, quota_time="PT4H", quota_period="P1D")
    mine = [(local("2026-12-07 10:00"), local("2026-12-07 11:00"))]
    horizon = local("2028-12-01 00:00")
    day = (local("2026-12-07 00:00"), local("2026-12-08 00:00"))
    assert quotas.windows(r, mine, [], NOW, horizon) == ((NOW, horizon), [day])
    assert quotas.windows(r, mine, mine, NOW, horizon) == (None, [])      # nothing added
    past = [(NOW - 7 * 86400, NOW - 7 * 86400 + 3600)]
    assert quotas.windows(r, past, [], NOW, horizon)[0] is None          # not upcoming
    assert quotas._merge([(0, 1), (5, 6), (10, 11), (12, 13)], 2) == [(0, 6), (10, 13)]


# -- decide_each (meetings that invite the room) ------------------------------------------------------
def test_each_occurrence_of_an_invitation_is_decided_against_the_quota():
    r = room(quota_bookings=1)
    existing = Fake(r, [owned_by("alice", "2026-12-08 10:00", "2026-12-08 11:00")])
    candidate = Booking(event(ical("2026-12-07 10:00"), ical("2026-12-07 11:00"),
                              extra="RRULE:FREQ=WEEKLY;COUNT=3"), r.tz)
    decided = CORE.decide_each(r, candidate, existing, now=NOW, actor=ALICE)
    assert [d.violations[0].rule for _, d in decided] == ["quota-bookings"] * 3
    assert all(d.ok for _, d in CORE.decide_each(r, candidate, existing, now=NOW, actor=BOB))


# -- the index knows who booked --------------------------------------------------------------------------
def test_the_index_answers_a_bookers_rows_and_rebuilds_an_older_layout(tmp_path):
    path = str(tmp_path / "index.sqlite")
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE rooms(room TEXT PRIMARY KEY, fingerprint TEXT NOT NULL, "
                      "newest INTEGER NOT NULL DEFAULT 0);"
                      "CREATE TABLE bookings(room TEXT NOT NULL, href TEXT NOT NULL, uid TEXT NOT NULL, "
                      "start INTEGER NOT NULL, end INTEGER NOT NULL, recurring INTEGER NOT NULL, "
                      "blocking INTEGER NOT NULL, status TEXT NOT NULL DEFAULT '', "
                      "summary TEXT NOT NULL DEFAULT '', PRIMARY KEY(room, href));"
                      "INSERT INTO rooms VALUES ('/rooms/a/', '1', 0);")
    old.commit()
    old.close()
    index = Index(path)
    assert index.state("/rooms/a/") is None   # rebuilt from the items on next use
    index.replace_room("/rooms/a/", [Row("1.ics", "1", 100, 200, False, True, owner="alice"),
                                     Row("2.ics", "2", 300, 400, False, True, owner="bob"),
                                     Row("3.ics", "3", 500, 600, False, False, owner="alice"),
                                     Row("4.ics", "4", 0, 10**12, True, True, owner="alice")], "1")
    assert [r.href for r in index.owned("/rooms/a/", "alice", 150, 550)] == ["1.ics", "4.ics"]
    assert [r.href for r in index.owned("/rooms/a/", "alice", 200, 250)] == ["4.ics"]
    assert index.owned("/rooms/a/", "alice", 150, 160)[0].owner == "alice"

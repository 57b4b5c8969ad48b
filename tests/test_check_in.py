"""Check-in and auto-release (issue 18): rooms with ``--check-in``, the check-in verb over
/api, the check-in kept in the iCalendar item, and the server releasing (within seconds here:
``[rooms] release_interval = 1``) the occurrences nobody checked in — once, whatever the
number of workers.  The window arithmetic and the property have unit tests at the end.
"""

import datetime
import time
import uuid
import zoneinfo

import pytest
import requests

from conftest import assert_no_500, event
from roomcal.storage import checkin, release
from roomcal.storage.booking import BookingCore
from roomcal.storage.durations import parse as duration
from roomcal.storage.instances import Booking
from roomcal.storage.rooms import Room, Rules
from support.databases import database  # noqa: F401 (a fixture: the test runs on both databases)
from support.smtp import mailing_server

ADMIN, ALICE, BOB, MGR = "ci-admin", "ci-alice", "ci-bob", "ci-mgr"
ALICE_MAIL = "ci-alice@example.org"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UTC = datetime.timezone.utc
JSON = {"Accept": "application/json"}


def _configured(make_server, smtp, workers):
    server = mailing_server(make_server, smtp, ("release_interval = 30", "release_interval = 1"),
                            workers=workers)
    server.add_user(ADMIN, admin=True)
    server.add_user(ALICE, email=ALICE_MAIL)
    server.add_user(BOB, email="ci-bob@example.org")
    server.add_user(MGR)
    return server


@pytest.fixture(scope="module")
def srv(make_server, smtp):
    server = _configured(make_server, smtp, workers=1)
    yield server
    assert_no_500(server)


@pytest.fixture(scope="module")
def four(make_server, smtp):
    server = _configured(make_server, smtp, workers=4)
    yield server
    assert_no_500(server)


def room(server, window, *options) -> str:
    room_id = f"ci{uuid.uuid4().hex[:8]}"
    server.add_room(room_id, "--timezone", "Europe/Berlin", "--managers", MGR, "--check-in", window,
                    *options)
    return room_id


def ical(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def now() -> datetime.datetime:
    return datetime.datetime.now(UTC).replace(microsecond=0)


def put(server, room_id, start, end, user=ALICE, extra="", uid=None):
    uid = uid or f"ci-{uuid.uuid4().hex[:10]}"
    answer = server.put_ics(f"/rooms/{room_id}/{uid}.ics",
                            event(ical(start), ical(end), uid=uid, summary=f"Meeting {uid}", extra=extra),
                            user=user)
    assert answer.status_code == 201, answer.text
    return uid


def check_in(server, room_id, uid, user=ALICE, body=None):
    return server.request("POST", f"/api/rooms/{room_id}/bookings/{uid}/check-in", user=user, json=body)


def listed(server, room_id, uid, user=ALICE, **params):
    answer = server.request("GET", f"/api/rooms/{room_id}/bookings", user=user, params=params)
    assert answer.status_code == 200, answer.text
    return [b for b in answer.json()["bookings"] if b["uid"] == uid]


def stored(server, room_id, uid, user=ALICE) -> str:
    answer = server.request("GET", f"/rooms/{room_id}/{uid}.ics", user=user)
    assert answer.status_code == 200, answer.text
    return answer.text


def until(predicate, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s")


def status(server, room_id, uid):
    return server.request("GET", f"/api/rooms/{room_id}/bookings/{uid}", user=ADMIN).json()["roomcal"]["status"]


# -- the rule --------------------------------------------------------------------------------------
def test_the_rule_is_a_room_setting_shown_in_json_and_words_and_turned_off_with_none(srv):
    room_id = room(srv, "PT10M")
    shown = srv.request("GET", f"/api/rooms/{room_id}", user=ALICE).json()
    assert shown["rules"]["check-in"] == "PT10M"
    props = srv.request("PROPFIND", f"/rooms/{room_id}/", user=ALICE, headers={"Depth": "0"}).text
    assert "check in by 10 min after the start" in props
    patched = srv.request("PATCH", f"/api/admin/rooms/{room_id}", user=ADMIN, json={"rules": {"checkIn": "PT5M"}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["rules"]["check-in"] == "PT5M"
    wrong = srv.request("PATCH", f"/api/admin/rooms/{room_id}", user=ADMIN, json={"rules": {"check-in": "soon"}})
    assert wrong.status_code == 422 and "Check-in: 'soon'" in wrong.json()["message"]
    srv.cli("room", "set", room_id, "--check-in", "none")
    assert srv.request("GET", f"/api/rooms/{room_id}", user=ALICE).json()["rules"]["check-in"] is None
    start = now() + datetime.timedelta(minutes=5)
    uid = put(srv, room_id, start, start + datetime.timedelta(hours=1))
    assert listed(srv, room_id, uid)[0]["checkedIn"] is None   # no check-in wanted
    refused = check_in(srv, room_id, uid)
    assert refused.status_code == 409 and "need no check-in" in refused.json()["message"]


# -- checking in -----------------------------------------------------------------------------------
def test_check_in_inside_the_window_is_stored_in_the_item_and_shown(srv):
    room_id = room(srv, "PT10M")
    start = now() + datetime.timedelta(minutes=5)
    uid = put(srv, room_id, start, start + datetime.timedelta(hours=1))
    assert listed(srv, room_id, uid)[0]["checkedIn"] is False
    answer = check_in(srv, room_id, uid)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["checkedIn"] is True and body["uid"] == uid and body["checkedInAt"]
    assert body["start"] == start.astimezone(BERLIN).isoformat()
    text = stored(srv, room_id, uid)
    assert f"X-ROOMCAL-CHECKED-IN;X-ROOMCAL-START={ical(start)}:" in text.replace("\r\n ", "")
    assert listed(srv, room_id, uid)[0]["checkedIn"] is True
    one = srv.request("GET", f"/api/rooms/{room_id}/bookings/{uid}", user=ALICE).json()
    assert one["roomcal"]["checkedIn"] is True
    again = check_in(srv, room_id, uid)
    assert again.status_code == 409 and "checked in already" in again.json()["message"]


def as_read(moment) -> str:
    """A moment as the answers write it: 09:45 in Berlin, with the date when it is not
    today's there (three hours from 21:30 UTC is tomorrow)."""
    local = moment.astimezone(BERLIN)
    return local.strftime("%H:%M" if local.date() == now().astimezone(BERLIN).date() else "%Y-%m-%d %H:%M")


def test_before_the_window_opens_and_after_it_closes_the_answer_says_when(srv):
    room_id = room(srv, "PT10M")
    later = (now() + datetime.timedelta(hours=3)).replace(minute=0, second=0)
    uid = put(srv, room_id, later, later + datetime.timedelta(hours=1))
    early = check_in(srv, room_id, uid)
    assert early.status_code == 409 and early.json()["type"] == "invalidState"
    opens = as_read(later - datetime.timedelta(minutes=15))
    assert early.json()["message"].startswith(f"Check-in for this booking opens at {opens} (Europe/Berlin)")
    begun = now() - datetime.timedelta(hours=1)
    late_uid = put(srv, room_id, begun, begun + datetime.timedelta(hours=2))
    late = check_in(srv, room_id, late_uid)
    assert late.status_code == 409 and late.json()["type"] == "invalidState"
    closed = as_read(begun + datetime.timedelta(minutes=10))
    assert late.json()["message"].startswith(f"Check-in for this booking closed at {closed} (Europe/Berlin)")
    assert listed(srv, room_id, late_uid)[0]["checkedIn"] is False


def test_who_may_check_in(srv):
    room_id = room(srv, "PT10M")
    start = now() + datetime.timedelta(minutes=2)
    uid = put(srv, room_id, start, start + datetime.timedelta(minutes=30))
    other = check_in(srv, room_id, uid, user=BOB)
    assert other.status_code == 403 and "only the person who booked it" in other.json()["message"]
    assert check_in(srv, room_id, "no-such-booking").status_code == 404
    assert srv.request("POST", f"/api/rooms/nosuchroom/bookings/{uid}/check-in", user=ALICE).status_code == 404
    manager = check_in(srv, room_id, uid, user=MGR)
    assert manager.status_code == 200 and manager.json()["checkedIn"] is True
    read_only = srv.token(ALICE, "--read-only")
    assert srv.request("POST", f"/api/rooms/{room_id}/bookings/{uid}/check-in",
                       token=read_only).status_code == 403


def test_a_cancelled_booking_cannot_be_checked_in(srv):
    room_id = room(srv, "PT10M")
    start = now() + datetime.timedelta(minutes=2)
    uid = put(srv, room_id, start, start + datetime.timedelta(minutes=30))
    assert srv.request("POST", f"/api/rooms/{room_id}/bookings/{uid}/cancel", user=ALICE).status_code == 200
    answer = check_in(srv, room_id, uid)
    assert answer.status_code == 409 and "cancelled" in answer.json()["message"]


def test_clients_can_neither_forge_nor_drop_a_check_in(srv):
    room_id = room(srv, "PT10M")
    start = now() + datetime.timedelta(minutes=3)
    end = start + datetime.timedelta(minutes=30)
    forged = f"X-ROOMCAL-CHECKED-IN;X-ROOMCAL-START={ical(start)}:{ical(now())}"
    uid = put(srv, room_id, start, end, extra=forged)
    assert "X-ROOMCAL-CHECKED-IN" not in stored(srv, room_id, uid)
    assert listed(srv, room_id, uid)[0]["checkedIn"] is False
    assert check_in(srv, room_id, uid).status_code == 200
    # A calendar app rewrites the booking (a new title) without the property: it stays.
    rewritten = srv.put_ics(f"/rooms/{room_id}/{uid}.ics",
                            event(ical(start), ical(end), uid=uid, summary="Renamed"), user=ALICE)
    assert rewritten.status_code in (201, 204), rewritten.text
    text = stored(srv, room_id, uid)
    assert "Renamed" in text and "X-ROOMCAL-CHECKED-IN" in text
    # JSON: the member is the server's
    patch = srv.request("PATCH", f"/rooms/{room_id}/{uid}.ics", user=ALICE,
                        headers={"Content-Type": "application/json"},
                        data='{"X-ROOMCAL-CHECKED-IN": "20270101T000000Z"}')
    assert patch.status_code == 422
    patch = srv.request("PATCH", f"/rooms/{room_id}/{uid}.ics", user=ALICE,
                        headers={"Content-Type": "application/json"}, data='{"title": "Patched"}')
    assert patch.status_code in (200, 204), patch.text
    text = stored(srv, room_id, uid)
    assert "Patched" in text and "X-ROOMCAL-CHECKED-IN" in text
    assert listed(srv, room_id, uid)[0]["checkedIn"] is True


def test_one_occurrence_of_a_series_by_recurrence_id(srv):
    room_id = room(srv, "PT10M")
    start = now() + datetime.timedelta(minutes=5)
    uid = put(srv, room_id, start, start + datetime.timedelta(minutes=30), extra="RRULE:FREQ=DAILY;COUNT=3")
    tomorrow = (start + datetime.timedelta(days=1)).astimezone(BERLIN).replace(tzinfo=None).isoformat()
    early = check_in(srv, room_id, uid, body={"recurrenceId": tomorrow})
    assert early.status_code == 409 and "opens at" in early.json()["message"]
    missing = check_in(srv, room_id, uid, body={"recurrenceId": "2020-01-01T10:00:00"})
    assert missing.status_code == 404
    assert check_in(srv, room_id, uid, body={"recurrenceId": 5}).status_code == 400
    today = check_in(srv, room_id, uid, body={"recurrenceId": start.isoformat()})
    assert today.status_code == 200, today.text
    assert listed(srv, room_id, uid)[0]["checkedIn"] is True   # the first listed: today's
    later = listed(srv, room_id, uid, **{"from": (start + datetime.timedelta(hours=12)).isoformat()})
    assert later[0]["checkedIn"] is False


# -- auto-release ----------------------------------------------------------------------------------
def sync_token(server, room_id):
    answer = server.request("GET", f"/rooms/{room_id}/", user=ALICE, headers=JSON, params={"sync-token": ""})
    assert answer.status_code == 200, answer.text
    return answer.json()["sync-token"]


def test_a_booking_nobody_checked_in_is_released_and_the_slot_is_free_again(srv, smtp):
    room_id = room(srv, "PT1M")
    start = now() - datetime.timedelta(minutes=2)
    end = start + datetime.timedelta(minutes=30)
    token = sync_token(srv, room_id)
    feed = srv.cli("feed", "create", room_id).stdout.strip().splitlines()[-1]
    tomorrow = start + datetime.timedelta(days=1)
    kept = put(srv, room_id, tomorrow, tomorrow + datetime.timedelta(minutes=30))
    uid = put(srv, room_id, start, end)
    until(lambda: status(srv, room_id, uid) == "cancelled")
    shown = requests.get(feed, timeout=10).text
    assert kept in shown and uid not in shown
    text = stored(srv, room_id, uid)
    assert "STATUS:CANCELLED" in text
    mail = smtp.wait_for(lambda m: uid in m["Subject"])
    assert len(mail) == 1 and mail[0]["To"] == ALICE_MAIL and mail[0]["Subject"].startswith("Released:")
    closed = (start + datetime.timedelta(minutes=1)).astimezone(BERLIN).strftime("%H:%M")
    assert f"Released: nobody checked in by {closed}" in mail[0].get_body(("plain",)).get_content()
    delta = srv.request("GET", f"/rooms/{room_id}/", user=ALICE, headers=JSON, params={"sync-token": token})
    change = delta.json()["responses"][f"/rooms/{room_id}/{uid}.ics"]
    assert change["status"] == "cancelled"
    free = srv.request("GET", f"/api/rooms/{room_id}/availability", user=BOB,
                       params={"start": now().isoformat(), "end": end.isoformat()}).json()
    assert free["busy"] == []
    put(srv, room_id, now() + datetime.timedelta(minutes=1), end, user=BOB)   # bookable again


def test_only_the_occurrence_nobody_checked_in_leaves_a_series(srv):
    room_id = room(srv, "PT1M")
    today = now() - datetime.timedelta(minutes=2)
    first = today - datetime.timedelta(days=1)
    uid = put(srv, room_id, first, first + datetime.timedelta(minutes=30), extra="RRULE:FREQ=DAILY;COUNT=3")
    until(lambda: "EXDATE" in stored(srv, room_id, uid))
    text = stored(srv, room_id, uid)
    assert text.count("EXDATE") == 1 and f"EXDATE:{ical(today)}" in text
    assert "STATUS:CANCELLED" not in text
    left = srv.request("GET", f"/api/rooms/{room_id}/availability", user=ALICE,
                       params={"start": first.isoformat(), "end": (first + datetime.timedelta(days=3)).isoformat()})
    busy = [(b["start"], b["end"]) for b in left.json()["busy"]]
    assert [s for s, _ in busy] == [first.astimezone(BERLIN).isoformat(),
                                    (first + datetime.timedelta(days=2)).astimezone(BERLIN).isoformat()]


def test_a_checked_in_booking_is_not_released(srv):
    kept, control = room(srv, "PT1M"), room(srv, "PT1M")
    start = now() - datetime.timedelta(seconds=52)   # its window closes in 8 s
    end = start + datetime.timedelta(minutes=30)
    uid, other = put(srv, kept, start, end), put(srv, control, start, end)
    assert check_in(srv, kept, uid).status_code == 200
    until(lambda: status(srv, control, other) == "cancelled", timeout=30)
    time.sleep(1.5)   # another sweep or so
    assert status(srv, kept, uid) == "confirmed"


def test_all_day_bookings_need_no_check_in(srv):
    room_id = room(srv, "PT1M")
    today = now().astimezone(BERLIN).date()
    uid = f"ci-day-{uuid.uuid4().hex[:8]}"
    answer = srv.put_ics(f"/rooms/{room_id}/{uid}.ics",
                         event(f"{today:%Y%m%d}", f"{today + datetime.timedelta(days=1):%Y%m%d}", uid=uid,
                               dates=True), user=ALICE)
    assert answer.status_code == 201, answer.text
    refused = check_in(srv, room_id, uid)
    assert refused.status_code == 409 and "All-day bookings need no check-in" in refused.json()["message"]
    assert listed(srv, room_id, uid)[0]["checkedIn"] is None


def test_four_workers_release_once(four, smtp):
    room_id = room(four, "PT1M")
    start = now() - datetime.timedelta(minutes=2)
    single = put(four, room_id, start, start + datetime.timedelta(minutes=20))
    series_start = start - datetime.timedelta(days=1) + datetime.timedelta(minutes=30)
    series = put(four, room_id, series_start, series_start + datetime.timedelta(minutes=20),
                 extra="RRULE:FREQ=DAILY;COUNT=3")
    other_room = room(four, "PT1M")
    token = sync_token(four, other_room)
    third = put(four, other_room, start, start + datetime.timedelta(minutes=20))
    until(lambda: status(four, room_id, single) == "cancelled" and status(four, other_room, third) == "cancelled")
    smtp.wait_for(lambda m: single in m["Subject"])
    time.sleep(3)   # three more sweeps of every worker
    assert len(smtp.about(single)) == 1 and len(smtp.about(third)) == 1
    assert "SEQUENCE:1" in stored(four, room_id, single)   # written once
    assert "EXDATE" not in stored(four, room_id, series)   # its occurrence today starts later
    delta = four.request("GET", f"/rooms/{other_room}/", user=ALICE, headers=JSON,
                         params={"sync-token": token}).json()
    assert list(delta["responses"]) == [f"/rooms/{other_room}/{third}.ics"]


def test_four_workers_exclude_an_occurrence_once(four, smtp):
    room_id = room(four, "PT1M")
    today = now() - datetime.timedelta(minutes=2)
    first = today - datetime.timedelta(days=1)
    uid = put(four, room_id, first, first + datetime.timedelta(minutes=30), extra="RRULE:FREQ=DAILY;COUNT=3")
    until(lambda: "EXDATE" in stored(four, room_id, uid))
    smtp.wait_for(lambda m: uid in m["Subject"])
    time.sleep(3)
    text = stored(four, room_id, uid)
    assert text.count("EXDATE") == 1 and "SEQUENCE:1" in text
    assert len(smtp.about(uid)) == 1


# -- the window and the property, without HTTP ------------------------------------------------------
def berlin(text) -> int:
    return int(datetime.datetime.fromisoformat(text).replace(tzinfo=BERLIN).timestamp())


def test_the_window_opens_before_the_start_and_closes_after_it():
    span = checkin.window(berlin("2027-12-06T10:00"), 600, 900)
    assert (span.opens, span.closes) == (berlin("2027-12-06T09:45"), berlin("2027-12-06T10:10"))
    assert not span.holds(berlin("2027-12-06T09:44:59")) and span.holds(berlin("2027-12-06T09:45"))
    assert span.holds(berlin("2027-12-06T10:09:59")) and not span.holds(berlin("2027-12-06T10:10"))


def test_the_sentences_name_the_local_time_and_the_date_when_not_today():
    room = Room(id="r", name="R", timezone="Europe/Berlin").validate()
    span = checkin.window(berlin("2027-12-06T10:00"), 600, 900)
    assert checkin.outside(room, span, berlin("2027-12-06T09:00")) == (
        "Check-in for this booking opens at 09:45 (Europe/Berlin), 15 min before it starts.")
    assert checkin.outside(room, span, berlin("2027-12-06T10:10")) == (
        "Check-in for this booking closed at 10:10 (Europe/Berlin), 10 min after it started.")
    assert checkin.outside(room, span, berlin("2027-12-06T10:00")) is None
    assert "opens at 2027-12-06 09:45" in checkin.outside(room, span, berlin("2027-12-05T12:00"))
    assert checkin.release_reason(room, span) == "Released: nobody checked in by 10:10"
    # across a change of clocks (2027-03-28 02:00 -> 03:00 in Berlin)
    dst = checkin.window(berlin("2027-03-28T03:05"), 600, 900)
    assert "opens at 01:50" in checkin.outside(room, dst, berlin("2027-03-28T01:00"))


def series(start="20271206T090000Z", count=3, extra=""):
    return Booking(event(start, start[:9] + "100000Z", uid="s", extra=f"RRULE:FREQ=DAILY;COUNT={count}\n{extra}"),
                   BERLIN)


def test_which_occurrence_a_check_in_is_for():
    day = berlin("2027-12-07T10:00")   # 09:00Z on the second day
    booking = series()
    assert checkin.occurrence_to_check_in(booking, 600, 900, day - 300).start == day   # its window
    assert checkin.occurrence_to_check_in(booking, 600, 900, day - 3600).start == day  # the next
    assert checkin.occurrence_to_check_in(booking, 600, 900, day + 1200).start == day  # under way
    assert checkin.occurrence_to_check_in(booking, 600, 900, day + 86400 * 5) is None  # over
    assert checkin.occurrence_to_check_in(booking, 600, 900, day, start=day + 86400).start == day + 86400
    assert checkin.occurrence_to_check_in(booking, 600, 900, day, start=day + 60) is None


def test_all_day_bookings_are_never_due():
    room = Room(id="r", name="R", timezone="Europe/Berlin", rules=Rules(check_in="PT10M")).validate()
    assert checkin.applies(room, series())
    assert not checkin.applies(room, Booking(event("20271206", "20271207", dates=True), BERLIN))
    assert not checkin.applies(Room(id="r", name="R").validate(), series())


def test_check_ins_live_on_the_main_event_and_only_the_stored_ones_are_kept():
    booking = series()
    day = berlin("2027-12-07T10:00")
    checkin.mark(booking, day, day - 60)
    assert checkin.check_ins(booking) == {day: day - 60}
    assert checkin.checked_in(booking, day) == day - 60 and checkin.checked_in(booking, day + 86400) is None
    again = Booking(booking.to_ical(), BERLIN)   # survives a round trip through text
    assert checkin.check_ins(again) == {day: day - 60}
    forged = series(extra="X-ROOMCAL-CHECKED-IN;X-ROOMCAL-START=20271208T090000Z:20271208T085000Z")
    assert checkin.keep(forged, again) and checkin.check_ins(forged) == {day: day - 60}
    assert not checkin.keep(forged, again)   # nothing more to change
    assert checkin.keep(forged, None) and checkin.check_ins(forged) == {}


def test_the_core_stamps_check_ins_from_the_stored_booking():
    core = BookingCore(None, duration("P2Y", calendar_ok=True))
    room = Room(id="r", name="R", timezone="Europe/Berlin", rules=Rules(check_in="PT10M")).validate()
    previous = series()
    day = berlin("2027-12-07T10:00")
    checkin.mark(previous, day, day)
    candidate = series()
    assert core._stamp(room, candidate, previous, None)
    assert checkin.check_ins(candidate) == {day: day}


def test_settings_of_the_rooms_section():
    assert checkin.parse_settings({}) == checkin.Settings(900, 30.0)
    assert checkin.parse_settings({"check_in_opens": "PT5M", "release_interval": "1"}) == checkin.Settings(300, 1.0)
    for values in ({"check_in_opens": "soon"}, {"release_interval": "0"}, {"release_interval": "x"}):
        with pytest.raises(ValueError):
            checkin.parse_settings(values)
    with pytest.raises(ValueError, match="check-in must be longer than 0"):
        Room(id="r", name="R", rules=Rules(check_in="PT0M")).validate()
    assert Room(id="r", name="R", rules=Rules(check_in="None")).validate().check_in is None


def test_one_holder_of_the_release_lease_at_a_time(tmp_path, database):
    lease = release.Lease(str(tmp_path / "index.sqlite"), database)
    assert lease.take("release", "a", 2, now=100)
    assert not lease.take("release", "b", 2, now=101)   # a holds it
    assert lease.take("release", "a", 2, now=101.5)     # and renews it
    assert not lease.take("release", "b", 2, now=103)
    assert lease.take("release", "b", 2, now=103.5)     # expired: b's now
    lease.give_back("release", "b")
    assert lease.take("release", "a", 2, now=104)

"""Quotas per booker through a real server: the N+1th booking refused over CalDAV (403
booking-rule-violated) and /api (422 ruleViolation) with the sentence, managers and
admins exempt, a cancelled booking freeing the quota, booked time per week across a
DST change, the dry run, availability for a booker at the quota, meetings that invite
the room, and the rules in the CLI and the room's JSON.  The arithmetic itself:
tests/test_quotas_unit.py."""

import uuid

import icalendar
import pytest
from lxml import etree

from conftest import assert_no_500, event, new_room

D, R = "DAV:", "urn:roomcal:caldav"


@pytest.fixture(scope="module", autouse=True)
def users(server):
    server.add_user("q-admin", admin=True)
    server.add_user("q-alice", email="q-alice@example.org")
    server.add_user("q-bob")
    server.add_user("q-mgr")
    yield
    assert_no_500(server)


def room(server, *options):
    room_id = new_room(server, "q", "--timezone", "Europe/Berlin", "--managers", "q-mgr", *options)
    server.cli("room", "set", room_id, "--name", "Board room")
    return room_id


def put(server, room_id, start, end, user="q-alice", name=None, **kw):
    """A CalDAV PUT of one booking (Berlin wall-clock times "20270308T100000")."""
    name = name or f"{uuid.uuid4().hex}.ics"
    return server.put_ics(f"/rooms/{room_id}/{name}", event(start, end, tz="Europe/Berlin", **kw), user=user)


def post(server, room_id, start, end, user="q-alice", route="bookings"):
    return server.request("POST", f"/api/rooms/{room_id}/{route}", user=user,
                          json={"title": "Meeting", "start": start, "end": end})


def caldav_violations(response) -> dict:
    """{rule: sentence} of a 403 DAV:error with the booking-rule-violated precondition."""
    assert response.status_code == 403, (response.status_code, response.text)
    root = etree.fromstring(response.content)
    condition = root.find(f"{{{R}}}booking-rule-violated")
    assert condition is not None, response.text
    return {element.get("rule"): element.text for element in condition.findall(f"{{{R}}}violation")}


COUNT_SENTENCE = "You already have 2 upcoming bookings in Board room; the limit is 2."


def test_the_booking_after_the_quota_is_refused_over_caldav_and_the_api(server):
    r = room(server, "--quota-bookings", "2")
    assert put(server, r, "20270308T100000", "20270308T110000", name="one.ics", uid="one").status_code == 201
    assert post(server, r, "2027-03-09T10:00:00", "2027-03-09T11:00:00").status_code == 201
    refused = put(server, r, "20270310T100000", "20270310T110000")
    assert caldav_violations(refused) == {"quota-bookings": COUNT_SENTENCE[0].lower() + COUNT_SENTENCE[1:-1]}
    assert etree.fromstring(refused.content).findtext(f"{{{D}}}responsedescription") == COUNT_SENTENCE
    refused = post(server, r, "2027-03-10T10:00:00", "2027-03-10T11:00:00")
    assert refused.status_code == 422
    body = refused.json()
    assert body["type"] == "ruleViolation" and body["message"] == COUNT_SENTENCE
    assert [v["rule"] for v in body["violations"]] == ["quota-bookings"]
    # her own booking changes without tripping over itself (same href, same UID)
    assert put(server, r, "20270311T100000", "20270311T120000", name="one.ics", uid="one").status_code == 204
    # others have their own quota; managers and admins have none
    assert put(server, r, "20270310T100000", "20270310T110000", user="q-bob").status_code == 201
    for user in ("q-mgr", "q-admin"):
        for day in ("12", "15", "16"):
            assert post(server, r, f"2027-03-{day}T{10 + len(user)}:00:00",
                        f"2027-03-{day}T{11 + len(user)}:00:00", user=user).status_code == 201, user


def test_a_cancelled_booking_frees_the_quota(server):
    r = room(server, "--quota-bookings", "1")
    first = post(server, r, "2027-04-05T10:00:00", "2027-04-05T11:00:00")
    assert first.status_code == 201
    assert post(server, r, "2027-04-06T10:00:00", "2027-04-06T11:00:00").status_code == 422
    cancel = server.request("POST", f"/api/rooms/{r}/bookings/{first.json()['uid']}/cancel", user="q-alice",
                            json={"reason": "plans changed"})
    assert cancel.status_code == 200, cancel.text
    assert post(server, r, "2027-04-06T10:00:00", "2027-04-06T11:00:00").status_code == 201
    # ... and a deleted one too
    second = server.request("GET", f"/api/rooms/{r}/bookings?mine=1&status=confirmed", user="q-alice").json()
    href, = [b["href"] for b in second["bookings"]]
    assert post(server, r, "2027-04-07T10:00:00", "2027-04-07T11:00:00").status_code == 422
    assert server.request("DELETE", href, user="q-alice").status_code in (200, 204)
    assert post(server, r, "2027-04-07T10:00:00", "2027-04-07T11:00:00").status_code == 201


def test_booked_time_per_week_across_the_change_to_summer_time(server):
    # Berlin moves its clocks on Sunday 28 March 2027: that week is 167 hours long.
    r = room(server, "--quota-time", "PT4H")
    assert put(server, r, "20270322T090000", "20270322T120000").status_code == 201   # Monday, 3 h
    # Sunday 22:00-23:30 local (after the change, 20:00 UTC): still that week, 4 h 30 min
    found = caldav_violations(put(server, r, "20270328T220000", "20270328T233000"))
    assert found == {"quota-time": "this booking would bring your booked time in Board room in the "
                                   "week of 22 March 2027 to 4 h 30 min; the limit is 4 h per week"}
    assert put(server, r, "20270328T220000", "20270328T230000").status_code == 201   # 4 h: the limit
    # Monday 00:30 local is Sunday in UTC, but the next week here
    assert put(server, r, "20270329T003000", "20270329T043000").status_code == 201
    refused = post(server, r, "2027-03-29T05:00:00", "2027-03-29T05:30:00")
    assert refused.status_code == 422
    assert refused.json()["message"] == ("This booking would bring your booked time in Board room in the "
                                         "week of 29 March 2027 to 4 h 30 min; the limit is 4 h per week.")
    # a weekly series counts each occurrence in its own week: the full ones refuse it
    series = put(server, r, "20270315T130000", "20270315T140000", extra="RRULE:FREQ=WEEKLY;COUNT=4")
    assert "week of 22 March 2027 to 5 h (and 1 more week)" in caldav_violations(series)["quota-time"]


def test_the_dry_run_reports_quotas_like_other_rules(server):
    r = room(server, "--quota-bookings", "1", "--quota-time", "PT2H", "--quota-period", "P1D")
    assert post(server, r, "2027-05-03T10:00:00", "2027-05-03T11:30:00").status_code == 201
    check = post(server, r, "2027-05-04T10:00:00", "2027-05-04T11:00:00", route="check")
    assert check.status_code == 200
    assert check.json()["ok"] is False
    assert [v["rule"] for v in check.json()["violations"]] == ["quota-bookings"]
    assert post(server, r, "2027-05-04T10:00:00", "2027-05-04T11:00:00", user="q-bob",
                route="check").json()["ok"] is True
    server.cli("room", "set", r, "--quota-bookings", "none")
    check = post(server, r, "2027-05-03T14:00:00", "2027-05-03T15:00:00", route="check").json()
    assert check["violations"] == [{"rule": "quota-time", "message": (
        "this booking would bring your booked time in Board room on 3 May 2027 to 2 h 30 min; "
        "the limit is 2 h per day")}]
    assert post(server, r, "2027-05-03T14:00:00", "2027-05-03T14:30:00", route="check").json()["ok"]


def test_availability_shows_a_booker_at_the_quota_no_bookable_start(server):
    r = room(server, "--quota-bookings", "1", "--quota-time", "PT3H", "--quota-period", "P1D")
    query = f"/api/rooms/{r}/availability?start=2027-06-08T08:00&end=2027-06-08T12:00&duration=PT1H&step=PT1H"
    assert len(server.request("GET", query, user="q-alice").json()["slots"]) == 4
    assert post(server, r, "2027-06-08T13:00:00", "2027-06-08T15:00:00").status_code == 201
    mine = server.request("GET", query, user="q-alice").json()
    assert mine["slots"] == [] and mine["free"]   # free for others, nothing for her
    assert len(server.request("GET", query, user="q-bob").json()["slots"]) == 4
    # without the count quota, the day's 2 h leave room for one more hour only
    server.cli("room", "set", r, "--quota-bookings", "")
    longer = query.replace("PT1H&step=PT1H", "PT2H&step=PT1H")
    assert server.request("GET", longer, user="q-alice").json()["slots"] == []
    assert len(server.request("GET", query, user="q-alice").json()["slots"]) == 4
    # the room finder answers for the caller too
    finder = "/api/rooms?free-from=2027-06-08T09:00&free-until=2027-06-08T11:00"
    assert r not in [x["id"] for x in server.request("GET", finder, user="q-alice").json()["rooms"]]
    assert r in [x["id"] for x in server.request("GET", finder, user="q-bob").json()["rooms"]]


def test_a_meeting_that_invites_the_room_is_declined_past_the_quota(server):
    r = room(server, "--quota-bookings", "1")
    assert server.request("MKCALENDAR", "/q-alice/calendar/", user="q-alice").status_code == 201
    assert post(server, r, "2027-09-06T10:00:00", "2027-09-06T11:00:00").status_code == 201
    uid = str(uuid.uuid4())
    body = "\r\n".join([
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//roomcal tests//EN", "BEGIN:VEVENT",
        f"UID:{uid}", "DTSTAMP:20261201T000000Z", "DTSTART:20270907T090000Z",
        "DTEND:20270907T100000Z", "SUMMARY:Planning",
        "ORGANIZER:mailto:q-alice@example.org",
        "ATTENDEE;PARTSTAT=ACCEPTED:mailto:q-alice@example.org",
        f"ATTENDEE;CUTYPE=ROOM;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{r}@rooms.localhost",
        "END:VEVENT", "END:VCALENDAR", ""])
    assert server.put_ics(f"/q-alice/calendar/{uid}.ics", body, user="q-alice").status_code in (201, 204)
    mine = server.request("GET", f"/q-alice/calendar/{uid}.ics", user="q-alice")
    meeting = icalendar.Calendar.from_ical(mine.text).walk("VEVENT")[0]
    attendee, = [a for a in meeting["ATTENDEE"] if "rooms.localhost" in str(a)]
    assert attendee.params["PARTSTAT"] == "DECLINED"
    assert str(meeting["COMMENT"]) == "You already have 1 upcoming booking in Board room; the limit is 1."


def test_the_quotas_are_rules_of_the_room_everywhere(server):
    r = room(server, "--quota-bookings", "3", "--quota-time", "PT4H")
    rules = server.request("GET", f"/api/rooms/{r}", user="q-alice").json()["rules"]
    assert (rules["quota-bookings"], rules["quota-time"], rules["quota-period"]) == (3, "PT4H", None)
    shown = server.cli("room", "show", r).stdout
    assert "rule quota-bookings: 3" in shown and "rule quota-time: PT4H" in shown
    bad = server.cli("room", "set", r, "--quota-period", "P2W", check=False)
    assert bad.returncode != 0
    assert "Quota-period must be P1D (a day), P1W (a week, Monday to Sunday) or P1M (a calendar month), " \
           "not 'P2W'." in bad.stderr
    patched = server.request("PATCH", f"/api/admin/rooms/{r}", user="q-admin",
                             json={"rules": {"quotaTime": "PT2H", "quota-period": "P1M"}})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["rules"]["quota-time"], patched.json()["rules"]["quota-period"]) == ("PT2H", "P1M")
    bad = server.request("PATCH", f"/api/admin/rooms/{r}", user="q-admin", json={"rules": {"quota-bookings": 0}})
    assert bad.status_code == 422 and bad.json()["properties"] == ["rules.quota-bookings"]
    server.cli("room", "set", r, "--quota-time", "none", "--quota-bookings", "none", "--quota-period", "")
    rules = server.request("GET", f"/api/rooms/{r}", user="q-alice").json()["rules"]
    assert (rules["quota-bookings"], rules["quota-time"], rules["quota-period"]) == (None, None, None)

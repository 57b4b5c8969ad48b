"""Room rules over real CalDAV: each rule by name with its sentence, the 403 body,
approval (pending bookings stored TENTATIVE and holding the slot), the rules in
GET /api/rooms/<id>, and the dry run POST /api/rooms/<id>/check."""

import datetime
import json
import uuid

import pytest
from lxml import etree

from conftest import assert_no_500, event, new_room
from conftest import book as book_event

D = "DAV:"
R = "urn:roomcal:caldav"
UTC = datetime.timezone.utc


@pytest.fixture(scope="module", autouse=True)
def users(server):
    server.add_user("r-admin", admin=True)
    server.add_user("r-alice")
    server.add_user("r-bob")
    server.add_user("r-manager")
    yield
    assert_no_500(server)


def room(server, *options, tz=None):
    return new_room(server, "r", *options, tz=tz)


def book(server, room_id, start, end, name=None, user="r-alice", **kw):
    return book_event(server, room_id, start, end, user, name=name, **kw)


def snapshot(server, room_id):
    response = server.request("GET", f"/rooms/{room_id}/", user="r-admin")
    assert response.status_code == 200
    return response.text


def ical(moment: datetime.datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def violations(response):
    """{rule: sentence} of a 403 DAV:error body, checking its shape."""
    assert response.status_code == 403, (response.status_code, response.text)
    assert response.headers["Content-Type"].startswith("application/xml")
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{D}}}error"
    condition = root.find(f"{{{R}}}booking-rule-violated")
    assert condition is not None, response.text
    found = {}
    for element in condition.findall(f"{{{R}}}violation"):
        assert etree.QName(element).namespace == R
        found[element.get("rule")] = element.text
    assert found, response.text
    assert root.findtext(f"{{{D}}}responsedescription")
    return found


def refused(server, room_id, start, end, rule, *fragments, **kw):
    """Book, expect 403 naming ``rule`` with each fragment in its sentence; storage unchanged."""
    before = snapshot(server, room_id)
    name = f"{uuid.uuid4().hex}.ics"
    found = violations(book(server, room_id, start, end, name=name, **kw))
    assert rule in found, found
    for fragment in fragments:
        assert fragment in found[rule], (fragment, found[rule])
    assert snapshot(server, room_id) == before
    assert server.request("GET", f"/rooms/{room_id}/{name}", user="r-admin").status_code == 404
    return found


def allowed(server, room_id, start, end, **kw):
    response = book(server, room_id, start, end, **kw)
    assert response.status_code == 201, response.text
    return response


# -- one rule at a time ------------------------------------------------------------------------------
def test_opening_hours(server):
    r = room(server, "--opening-hours", "Mo-Fr 08:00-18:00; Sa 09:00-12:00", tz="Europe/Berlin")
    # Monday 2027-01-11 17:00-19:00 Berlin (16:00-18:00Z): past closing
    refused(server, r, "20270111T160000Z", "20270111T180000Z", "opening-hours",
            "outside this room's opening hours", "Mo-Fr 08:00-18:00; Sa 09:00-12:00", "Mon 2027-01-11 17:00")
    refused(server, r, "20270111T063000Z", "20270111T073000Z", "opening-hours")    # 07:30 local: too early
    refused(server, r, "20270117T100000", "20270117T110000", "opening-hours")     # Sunday, floating
    refused(server, r, "20270116T110000", "20270116T123000", "opening-hours")     # Saturday past 12:00
    allowed(server, r, "20270111T070000Z", "20270111T170000Z")                    # 08:00-18:00 local
    allowed(server, r, "20270116T090000", "20270116T120000")                      # Saturday morning
    # in summer (CEST) 08:00 local is 06:00Z
    allowed(server, r, "20270614T060000Z", "20270614T070000Z")
    refused(server, r, "20270614T160000Z", "20270614T170000Z", "opening-hours")   # 18:00-19:00 CEST


def test_min_and_max_duration(server):
    r = room(server, "--min-duration", "PT30M", "--max-duration", "PT4H")
    refused(server, r, "20270112T100000Z", "20270112T101500Z", "min-duration",
            "15 min is shorter than this room's minimum of 30 min")
    refused(server, r, "20270112T100000Z", "20270112T150000Z", "max-duration",
            "5 h is longer than this room's maximum of 4 h")
    allowed(server, r, "20270112T080000Z", "20270112T083000Z")
    allowed(server, r, "20270112T090000Z", "20270112T130000Z")
    # DURATION instead of DTEND is measured the same way
    ics = event("20270113T090000Z", "20270113T100000Z").replace("DTEND:20270113T100000Z", "DURATION:PT5H")
    response = server.put_ics(f"/rooms/{r}/duration.ics", ics, user="r-alice")
    assert "5 h is longer" in violations(response)["max-duration"]


def test_zero_length_booking(server):
    r = room(server)
    refused(server, r, "20270112T100000Z", "20270112T100000Z", "duration", "has no duration")


def test_min_notice(server):
    r = room(server, "--min-notice", "PT2H")
    now = datetime.datetime.now(UTC).replace(second=0, microsecond=0)
    soon = now + datetime.timedelta(hours=1)
    refused(server, r, ical(soon), ical(soon + datetime.timedelta(hours=1)), "min-notice",
            "starts too soon", "at least 2 h ahead")
    later = now + datetime.timedelta(hours=3)
    allowed(server, r, ical(later), ical(later + datetime.timedelta(hours=1)))
    # a series whose first instance is too soon is refused as a whole
    refused(server, r, ical(soon), ical(soon + datetime.timedelta(minutes=30)), "min-notice",
            extra="RRULE:FREQ=DAILY;COUNT=3")


def test_max_advance(server):
    r = room(server, "--max-advance", "P30D")
    now = datetime.datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    far = now + datetime.timedelta(days=40)
    refused(server, r, ical(far), ical(far + datetime.timedelta(hours=1)), "max-advance",
            "at most P30D ahead")
    near = now + datetime.timedelta(days=10)
    allowed(server, r, ical(near), ical(near + datetime.timedelta(hours=1)))
    # a series starting inside the window but ending outside it
    refused(server, r, ical(near + datetime.timedelta(hours=2)), ical(near + datetime.timedelta(hours=3)),
            "max-advance", extra="RRULE:FREQ=WEEKLY;COUNT=8")
    # a series without an end
    refused(server, r, ical(near + datetime.timedelta(hours=4)), ical(near + datetime.timedelta(hours=5)),
            "max-advance", "without an end", extra="RRULE:FREQ=WEEKLY")
    # series that start past the window: finite and open-ended
    refused(server, r, ical(far), ical(far + datetime.timedelta(hours=1)), "max-advance",
            extra="RRULE:FREQ=DAILY;COUNT=3")
    refused(server, r, ical(far), ical(far + datetime.timedelta(hours=1)), "max-advance",
            extra="RRULE:FREQ=DAILY")
    # editing a booking inside the window is not refused for it
    name, slot = "edit.ics", near + datetime.timedelta(hours=6)
    allowed(server, r, ical(slot), ical(slot + datetime.timedelta(minutes=30)), name=name, uid="in-window")
    edited = book(server, r, ical(slot), ical(slot + datetime.timedelta(minutes=45)), name=name, uid="in-window")
    assert edited.status_code == 204, edited.text
    # ... but moving it past the window is
    moved = book(server, r, ical(far), ical(far + datetime.timedelta(minutes=45)), name=name, uid="in-window")
    assert "max-advance" in violations(moved)


def test_no_recurring(server):
    r = room(server, "--no-recurring")
    refused(server, r, "20270112T100000Z", "20270112T110000Z", "no-recurring",
            "does not take recurring bookings", extra="RRULE:FREQ=WEEKLY;COUNT=2")
    refused(server, r, "20270112T100000Z", "20270112T110000Z", "no-recurring",
            extra="RDATE:20270113T100000Z")
    allowed(server, r, "20270112T100000Z", "20270112T110000Z")


def test_max_instances(server):
    r = room(server, "--max-instances", "3")
    refused(server, r, "20270112T100000Z", "20270112T110000Z", "max-instances",
            "the series has 4 occurrences; this room allows at most 3", extra="RRULE:FREQ=DAILY;COUNT=4")
    refused(server, r, "20270112T100000Z", "20270112T110000Z", "max-instances",
            "without an end", extra="RRULE:FREQ=DAILY")
    allowed(server, r, "20270112T100000Z", "20270112T110000Z", extra="RRULE:FREQ=DAILY;COUNT=3")


def test_no_multiday(server):
    r = room(server, "--no-multiday", tz="Europe/Berlin")
    refused(server, r, "20270112T220000", "20270113T020000", "no-multiday", "spans several days")
    refused(server, r, "20270114", "20270116", "no-multiday", dates=True)
    allowed(server, r, "20270117", "20270118", dates=True)                  # one whole day
    allowed(server, r, "20270119T220000", "20270120T000000")                # ends at midnight
    # 23:30Z-00:30Z is 00:30-01:30 in Berlin: one local day
    allowed(server, r, "20270121T233000Z", "20270122T003000Z")


def test_blackout(server):
    r = room(server, "--blackout", "2027-12-24/2027-12-26", "--blackout", "2027-08-02T12:00/2027-08-02T14:00",
             tz="Europe/Berlin")
    refused(server, r, "20271225T100000", "20271225T110000", "blackout",
            "falls in a blackout period", "2027-12-24/2027-12-26")
    refused(server, r, "20271226T230000", "20271226T233000", "blackout")    # the end day counts whole
    refused(server, r, "20270802T113000", "20270802T123000", "blackout", "2027-08-02T12:00/2027-08-02T14:00")
    allowed(server, r, "20271227T000000", "20271227T010000")
    allowed(server, r, "20270802T140000", "20270802T150000")
    # a series with one instance in the blackout is refused
    refused(server, r, "20271210T100000", "20271210T110000", "blackout", extra="RRULE:FREQ=WEEKLY;COUNT=4")


def test_too_many_occurrences_is_a_named_violation(server):
    r = room(server)
    refused(server, r, "20270112T100000Z", "20270112T101500Z", "too-many-occurrences",
            "more than 5000 occurrences", extra="RRULE:FREQ=HOURLY;COUNT=6000")


def test_every_broken_rule_is_listed_with_its_sentence(server):
    r = room(server, "--max-duration", "PT1H", "--opening-hours", "Mo-Fr 08:00-18:00", "--no-recurring")
    found = refused(server, r, "20270116T100000Z", "20270116T130000Z", "max-duration",
                    "3 h is longer than this room's maximum of 1 h", extra="RRULE:FREQ=DAILY;COUNT=2")
    assert set(found) == {"max-duration", "opening-hours", "no-recurring"}
    assert all(len(sentence) > 20 for sentence in found.values())


def test_rules_in_the_api_are_shown_as_given(server):
    r = room(server, "--min-duration", "PT30M", "--max-duration", "PT4H", "--min-notice", "PT2H",
             "--max-advance", "P90D", "--buffer", "PT15M", "--quantity", "3", "--max-instances", "10",
             "--no-multiday", "--opening-hours", "Mo-Fr 08:00-18:00", "--blackout", "2027-12-24/2027-12-26",
             "--approval")
    rules = server.request("GET", f"/api/rooms/{r}", user="r-alice").json()["rules"]
    assert rules["min-duration"] == "PT30M" and rules["max-duration"] == "PT4H"
    assert rules["min-notice"] == "PT2H" and rules["max-advance"] == "P90D" and rules["buffer"] == "PT15M"
    assert rules["quantity"] == 3 and rules["max-instances"] == 10
    assert rules["no-multiday"] is True and rules["no-recurring"] is False and rules["approval"] is True
    assert rules["opening-hours"] == "Mo-Fr 08:00-18:00"
    assert rules["blackout"] == ["2027-12-24/2027-12-26"]
    server.cli("room", "set", r, "--clear", "max-duration")
    assert book(server, r, "20270112T090000Z", "20270112T150000Z").status_code == 201


# -- approval ------------------------------------------------------------------------------------------
def test_approval_stores_tentative_and_a_pending_booking_blocks(server):
    r = room(server, "--approval", "--managers", "r-manager")
    assert book(server, r, "20270112T100000Z", "20270112T110000Z", name="p.ics").status_code == 201
    stored = server.request("GET", f"/rooms/{r}/p.ics", user="r-alice")
    assert stored.status_code == 200
    assert "STATUS:TENTATIVE" in stored.text
    assert "X-ROOMCAL-BOOKED-BY:r-alice" in stored.text and "X-ROOMCAL-BOOKED-AT:" in stored.text
    # a client asking for CONFIRMED still gets a pending booking
    assert book(server, r, "20270113T100000Z", "20270113T110000Z", name="c.ics",
                extra="STATUS:CONFIRMED").status_code == 201
    text = server.request("GET", f"/rooms/{r}/c.ics", user="r-alice").text
    assert "STATUS:TENTATIVE" in text and "STATUS:CONFIRMED" not in text
    # the pending booking holds its slot
    before = snapshot(server, r)
    clash = book(server, r, "20270112T103000Z", "20270112T113000Z", user="r-bob")
    assert clash.status_code == 409
    assert f"/rooms/{r}/p.ics" in clash.text
    assert snapshot(server, r) == before
    # the booker cannot approve herself by editing the status
    edited = book(server, r, "20270112T100000Z", "20270112T110000Z", name="p.ics", extra="STATUS:CONFIRMED",
                  uid=_uid_of(stored.text))
    assert edited.status_code == 204, edited.text
    assert "STATUS:TENTATIVE" in server.request("GET", f"/rooms/{r}/p.ics", user="r-alice").text


def test_approval_applies_to_imports_too(server):
    r = room(server, "--approval")
    ics = event("20270114T100000Z", "20270114T110000Z", uid="imported-pending", extra="STATUS:CONFIRMED")
    server.cli("import", r, "-", input=ics)
    text = server.request("GET", f"/rooms/{r}/imported-pending.ics", user="r-alice").text
    assert "STATUS:TENTATIVE" in text and "STATUS:CONFIRMED" not in text
    assert book(server, r, "20270114T100000Z", "20270114T103000Z", user="r-bob").status_code == 409


def _uid_of(text):
    return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("UID:"))


def test_stamps_cannot_be_forged(server):
    r = room(server)
    response = book(server, r, "20270112T100000Z", "20270112T110000Z", name="f.ics",
                    extra="X-ROOMCAL-BOOKED-BY:r-bob")
    assert response.status_code == 201
    text = server.request("GET", f"/rooms/{r}/f.ics", user="r-alice").text
    assert "X-ROOMCAL-BOOKED-BY:r-alice" in text and "X-ROOMCAL-BOOKED-BY:r-bob" not in text


# -- dry run ---------------------------------------------------------------------------------------------
def check(server, room_id, body, content_type, user="r-bob"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    if isinstance(data, str):
        data = data.encode()
    return server.request("POST", f"/api/rooms/{room_id}/check", user=user, data=data,
                          headers={"Content-Type": content_type})


def test_dry_run_reports_conflicts_and_violations_and_stores_nothing(server):
    r = room(server, "--max-duration", "PT2H", tz="Europe/Berlin")
    assert book(server, r, "20270112T090000Z", "20270112T100000Z", name="a.ics", uid="dry-a",
                summary="Planning").status_code == 201
    before = snapshot(server, r)

    # iCalendar body, a conflict
    response = check(server, r, event("20270112T093000Z", "20270112T103000Z", uid="dry-1"), "text/calendar")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False and body["violations"] == []
    assert len(body["conflicts"]) == 1
    conflict = body["conflicts"][0]
    assert conflict["href"] == f"/rooms/{r}/a.ics" and conflict["uid"] == "dry-a"
    assert conflict["start"].startswith("2027-01-12T10:00:00") and conflict["end"].startswith("2027-01-12T11:00:00")
    assert "already booked" in body["message"]

    # a rule and a conflict at once
    body = check(server, r, event("20270112T080000Z", "20270112T120000Z"), "text/calendar").json()
    assert body["ok"] is False
    assert [v["rule"] for v in body["violations"]] == ["max-duration"]
    assert "4 h is longer than this room's maximum of 2 h" in body["violations"][0]["message"]
    assert [c["uid"] for c in body["conflicts"]] == ["dry-a"]

    # the short JSON form: local times in the room's zone (10:00 Berlin = 09:00Z)
    body = check(server, r, {"title": "Retro", "start": "2027-01-12T10:30:00", "end": "2027-01-12T11:30:00"},
                 "application/json").json()
    assert body["ok"] is False and [c["uid"] for c in body["conflicts"]] == ["dry-a"]
    body = check(server, r, {"title": "Retro", "start": "2027-01-12T11:00:00", "end": "2027-01-12T12:00:00"},
                 "application/json").json()
    assert body == {"ok": True, "message": body["message"], "violations": [], "conflicts": []}

    # a JSCalendar Event
    body = check(server, r, {"@type": "Event", "uid": "js-1", "title": "JS", "start": "2027-01-12T09:30:00",
                             "timeZone": "Europe/Berlin", "duration": "PT1H"}, "application/json").json()
    assert body["ok"] is False and [c["uid"] for c in body["conflicts"]] == ["dry-a"]
    body = check(server, r, {"@type": "Event", "uid": "js-2", "title": "JS", "start": "2027-01-12T09:00:00",
                             "timeZone": "UTC", "duration": "PT3H"}, "application/json").json()
    assert body["ok"] is False and [v["rule"] for v in body["violations"]] == ["max-duration"]

    # nothing of all that was stored, and the slot the dry run found free still is
    assert snapshot(server, r) == before
    for uid in ("dry-1", "js-1", "js-2"):
        assert server.request("GET", f"/rooms/{r}/{uid}.ics", user="r-admin").status_code == 404
    assert book(server, r, "20270112T100000Z", "20270112T110000Z", user="r-bob").status_code == 201


def test_dry_run_of_an_edit_does_not_conflict_with_itself(server):
    r = room(server)
    assert book(server, r, "20270112T090000Z", "20270112T100000Z", name="own.ics", uid="own").status_code == 201
    body = check(server, r, event("20270112T093000Z", "20270112T103000Z", uid="own"), "text/calendar",
                 user="r-alice").json()
    assert body["ok"] is True, body


def test_dry_run_bad_input_is_a_4xx_not_a_500(server):
    r = room(server)
    # 400: not JSON / not text at all; 415: neither type; 422: read, but no booking
    for data, content_type, status in [
            (b"garbage", "text/calendar", 422), (b"{not json", "application/json", 400),
            (b'{"title": "x"}', "application/json", 422),
            (b'{"title": "x", "start": "tomorrow", "end": "later"}', "application/json", 422),
            (b"[1, 2]", "application/json", 422),
            (event("20270112T100000", "20270112T110000", tz="Mars/Olympus").encode(), "text/calendar", 422),
            (event("20270112T110000Z", "20270112T100000Z").encode(), "text/calendar", 422),
            (b"\xff\xfe", "text/calendar", 400),
            (b"x", "image/png", 415)]:
        response = check(server, r, data, content_type)
        assert response.status_code == status, (data, response.status_code, response.text)
        assert response.json()["message"]
    assert check(server, "no-such-room", event("20270112T100000Z", "20270112T110000Z"),
                 "text/calendar").status_code == 404

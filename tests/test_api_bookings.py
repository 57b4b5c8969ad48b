"""JSON writes into rooms go through the same booking core: 201, 409 and 422 bodies."""

import pytest


@pytest.fixture(scope="module", autouse=True)
def setup(server):
    server.add_user("j-admin", admin=True)
    server.add_user("j-alice")
    server.add_user("j-bob")
    server.add_user("j-carol")
    server.add_room("jr", "--timezone", "Europe/Berlin", "--max-duration", "PT4H")
    server.add_room("jonly", "--bookers", "j-alice")


def post(server, room, body, user="j-alice", **kw):
    return server.request("POST", f"/api/rooms/{room}/bookings", user=user, json=body, **kw)


def test_created_booking_is_the_caldav_item(server):
    created = post(server, "jr", {"title": "Plan", "start": "2027-05-03T10:00:00", "end": "2027-05-03T11:00:00"})
    assert created.status_code == 201
    body = created.json()
    assert created.headers["Location"] == body["href"] and body["href"].startswith("/rooms/jr/")
    item = server.request("GET", body["href"], user="j-bob")
    assert item.status_code == 200 and item.headers["ETag"] == body["etag"]
    assert "SUMMARY:Plan" in item.text and "DTSTART;TZID=Europe/Berlin:20270503T100000" in item.text
    assert "X-ROOMCAL-BOOKED-BY:j-alice" in item.text


def test_conflict_answers_409_with_the_conflicting_booking(server):
    first = post(server, "jr", {"title": "Taken", "start": "2027-05-04T10:00:00", "end": "2027-05-04T11:00:00"})
    clash = post(server, "jr", {"title": "Late", "start": "2027-05-04T10:30:00+02:00",
                                "end": "2027-05-04T11:30:00+02:00"}, user="j-bob")
    assert clash.status_code == 409
    body = clash.json()
    assert body["error"] == 409 and body["type"] == "conflict" and "already booked" in body["message"]
    conflict, = body["conflicts"]
    assert conflict["href"] == first.json()["href"] and conflict["uid"] == first.json()["uid"]
    assert conflict["start"] == "2027-05-04T10:00:00+02:00" and conflict["end"] == "2027-05-04T11:00:00+02:00"


def test_rule_violation_answers_422_listing_each_rule(server):
    refused = post(server, "jr", {"title": "Long", "start": "2027-05-05T08:00:00", "end": "2027-05-05T13:00:00"})
    assert refused.status_code == 422
    body = refused.json()
    assert body["type"] == "ruleViolation" and body["error"] == 422
    assert body["violations"] == [{"rule": "max-duration",
                                   "message": "5 h is longer than this room's maximum of 4 h"}]
    listing = server.request("REPORT", "/rooms/jr/", user="j-alice", headers={"Depth": "1"},
                             data='<C:calendar-query xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:D="DAV:">'
                                  '<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
                                  '<C:comp-filter name="VEVENT"><C:time-range start="20270505T000000Z" '
                                  'end="20270506T000000Z"/></C:comp-filter></C:comp-filter></C:filter>'
                                  '</C:calendar-query>')
    assert listing.status_code == 207 and ".ics" not in listing.text  # nothing stored


def test_who_may_book_by_json(server):
    slot = {"title": "x", "start": "2027-05-06T10:00:00Z", "end": "2027-05-06T11:00:00Z"}
    assert post(server, "jonly", slot, user="j-bob").status_code == 403
    assert post(server, "jonly", slot, user="j-alice").status_code == 201
    token = server.token("j-carol", "--read-only")
    read_only = server.request("POST", "/api/rooms/jr/bookings", token=token, json=slot)
    assert read_only.status_code == 403 and read_only.json()["type"] == "forbidden"
    assert post(server, "nope", slot).status_code == 404


@pytest.mark.parametrize("body", [
    {"title": "no end", "start": "2027-05-07T10:00:00"},
    {"title": "bad", "start": "yesterday", "end": "2027-05-07T11:00:00"},
    {"title": "reversed", "start": "2027-05-07T11:00:00", "end": "2027-05-07T10:00:00"},
    ["not", "an", "object"],
])
def test_bad_json_bookings_are_4xx_with_a_message(server, body):
    answer = post(server, "jr", body)
    assert 400 <= answer.status_code < 500
    assert answer.json()["message"]

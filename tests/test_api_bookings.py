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
    assert answer.status_code == 422 and answer.json()["type"] == "invalidProperties"
    assert answer.json()["message"]


# -- one definition of a booking body -----------------------------------------------------------
# Every route that takes a booking body: the booking API, its dry run and the seed's route.
BODY_ROUTES = ["/api/rooms/jr/bookings", "/api/rooms/jr/check", "/api/jr/events/"]
SLOT = {"start": "2027-05-10T10:00:00", "end": "2027-05-10T11:00:00"}


def stored_titles(server):
    listing = server.request("GET", "/api/rooms/jr/bookings", user="j-admin",
                             params={"from": "2027-05-10", "to": "2027-05-10"})
    return sorted(b["title"] for b in listing.json()["bookings"])


@pytest.mark.parametrize("route", BODY_ROUTES)
@pytest.mark.parametrize("body,pointers", [
    (SLOT, ["/title"]),                                                    # title missing
    ({"title": "  ", **SLOT}, ["/title"]),                                 # blank
    ({"name": "", **SLOT}, ["/title"]),                                    # blank, the seed's spelling
    ({"title": 7, **SLOT}, ["/title"]),
    ({"title": "x", "guests": 5, **SLOT}, ["/guests"]),                    # unknown member
    ({"title": "x", "duration": "PT1H", "start": SLOT["start"]}, ["/end", "/duration"]),
    ({"title": "x", "start": "soon", "end": SLOT["end"]}, ["/start"]),
    ({"title": "x", "start": SLOT["end"], "end": SLOT["start"]}, ["/end"]),  # end before start
    ({"title": "x", "start": SLOT["start"], "end": SLOT["start"]}, ["/end"]),  # no length
    ({"title": "x", "uid": " ", **SLOT}, ["/uid"]),
    ({"title": "x", "name": "y", **SLOT}, ["/name"]),                      # two titles
    ({"@type": "Task", "title": "x", **SLOT}, ["/@type"]),
    ({"@type": "Event", "title": "x", "start": "soon"}, ["/start"]),       # JSCalendar's own checks
    (["not", "an", "object"], [""]),
])
def test_every_booking_route_refuses_the_same_bad_bodies_alike(server, route, body, pointers):
    before = stored_titles(server)
    answer = server.request("POST", route, user="j-alice", json=body)
    assert answer.status_code == 422, answer.text
    error = answer.json()
    assert error["error"] == 422 and error["type"] == "invalidProperties"
    assert sorted(error["properties"]) == sorted(pointers)
    assert error["message"].startswith("This booking is not valid: ")
    for pointer in pointers:  # the message names each bad member
        assert pointer.lstrip("/").split("/")[0] in error["message"]
    assert stored_titles(server) == before


@pytest.mark.parametrize("route", BODY_ROUTES)
def test_every_booking_route_takes_the_same_good_bodies(server, route):
    day = 11 + BODY_ROUTES.index(route)
    good = [{"title": "Short", "start": f"2027-05-{day}T08:00:00", "end": f"2027-05-{day}T09:00:00",
             "description": "notes", "uid": f"short-{day}"},
            {"name": "Seed-style", "start": f"2027-05-{day}T09:00:00", "end": f"2027-05-{day}T10:00:00"},
            {"title": "Same", "name": "Same", "start": f"2027-05-{day}T10:00:00",
             "end": f"2027-05-{day}T11:00:00"},
            {"@type": "Event", "title": "JS", "start": f"2027-05-{day}T11:00:00",
             "timeZone": "Europe/Berlin", "duration": "PT1H"}]
    for body in good:
        answer = server.request("POST", route, user="j-alice", json=body)
        assert answer.status_code == (200 if route.endswith("/check") else 201), (body, answer.text)
        if route.endswith("/check"):
            assert answer.json()["ok"] is True
    if route.endswith("/events/"):  # the seed's route keeps a uid it is given, as the others do
        assert server.request("GET", f"/rooms/jr/short-{day}.ics", user="j-alice").status_code == 200


def test_replace_names_the_same_problems_in_its_own_shape(server):
    bodies = [{"title": "  ", **SLOT}, {"title": "x", "guests": 5, **SLOT}, {"title": "x", "start": "soon",
                                                                          "end": SLOT["end"]}]
    answer = server.request("POST", "/api/rooms/jr/bookings/replace", user="j-admin", json={
        "period": {"start": "2027-05-10T00:00:00", "end": "2027-05-11T00:00:00"}, "bookings": bodies})
    assert answer.status_code == 400
    shapes = {index: {field: [e["code"] for e in entries] for field, entries in fields.items()}
              for index, fields in answer.json()["bookings"].items()}
    assert shapes == {"0": {"title": ["blank"]}, "1": {"guests": ["unknown"]}, "2": {"start": ["invalid"]}}
    for index, body in enumerate(bodies):
        single = server.request("POST", "/api/rooms/jr/bookings", user="j-alice", json=body).json()
        assert [p.lstrip("/") for p in single["properties"]] == list(shapes[str(index)])

"""The room finder (GET /api/rooms?free-from=&free-until=&capacity=&feature=) and
GET /api/rooms/<ID>/availability, over HTTP on a real server.

Times are Europe/Berlin summer time (+02:00); 2027-06-07 is a Monday.
"""

import uuid

import pytest

from conftest import assert_no_500, book, event

ADMIN, ALICE, BOB, MGR = "av-admin", "av-alice", "av-bob", "av-mgr"
MAIN, PEND, FB, QTY, NOTICE = "av-main", "av-pend", "av-fb", "av-qty", "av-notice"
BERLIN = ("--timezone", "Europe/Berlin")


@pytest.fixture(scope="module")
def world(server):
    server.add_user(ADMIN, admin=True)
    for user in (ALICE, BOB, MGR):
        server.add_user(user)
    server.add_room(MAIN, *BERLIN, "--opening-hours", "Mo-Fr 08:00-18:00", "--buffer", "PT15M",
                    "--max-duration", "PT4H", "--blackout", "2027-06-07T16:00/2027-06-07T17:00")
    server.add_room(PEND, *BERLIN, "--approval", "--managers", MGR)
    server.add_room(FB, *BERLIN, "--bookers", ALICE, "--viewers", ALICE)
    server.add_room(QTY, *BERLIN, "--quantity", "2")
    server.add_room(NOTICE, *BERLIN, "--min-notice", "P400D")
    yield server
    assert_no_500(server)


def post(server, room, title, start, end, user=ALICE):
    answer = server.request("POST", f"/api/rooms/{room}/bookings", user=user,
                            json={"title": title, "start": start, "end": end})
    assert answer.status_code == 201, answer.text
    return answer.json()


def availability(server, room, user=ALICE, **params):
    answer = server.request("GET", f"/api/rooms/{room}/availability", user=user, params=params)
    assert answer.headers["Content-Type"].startswith("application/json")
    return answer


def day(server, room, date, user=ALICE, **params):
    answer = availability(server, room, user, start=f"{date}T07:00", end=f"{date}T19:00", **params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def t(date_time):
    return f"{date_time}:00+02:00"


# -- availability ---------------------------------------------------------------------------------
def test_busy_intervals_have_kinds_and_free_windows_are_where_a_booking_fits(world):
    standup = post(world, MAIN, "Standup", "2027-06-07T10:00", "2027-06-07T11:00")
    body = day(world, MAIN, "2027-06-07")
    assert body["room"] == MAIN and body["timeZone"] == "Europe/Berlin" and body["quantity"] == 1
    assert body["start"] == t("2027-06-07T07:00") and body["end"] == t("2027-06-07T19:00")
    busy = [(b["kind"], b["start"], b["end"]) for b in body["busy"]]
    assert busy == [("closed", t("2027-06-07T07:00"), t("2027-06-07T08:00")),
                    # Consecutive bookings need a gap of the buffer (15 min).
                    ("buffer", t("2027-06-07T09:45"), t("2027-06-07T10:00")),
                    ("booked", t("2027-06-07T10:00"), t("2027-06-07T11:00")),
                    ("buffer", t("2027-06-07T11:00"), t("2027-06-07T11:15")),
                    ("blackout", t("2027-06-07T16:00"), t("2027-06-07T17:00")),
                    ("closed", t("2027-06-07T18:00"), t("2027-06-07T19:00"))]
    booked = body["busy"][2]
    assert booked["title"] == "Standup" and booked["uid"] == standup["uid"] and booked["href"] == standup["href"]
    assert body["free"] == [{"start": t("2027-06-07T08:00"), "end": t("2027-06-07T09:45")},
                            {"start": t("2027-06-07T11:15"), "end": t("2027-06-07T16:00")},
                            {"start": t("2027-06-07T17:00"), "end": t("2027-06-07T18:00")}]
    assert "slots" not in body


def test_free_slot_between_bookings_a_buffer_apart(world):
    # 09:00-10:00 and 11:30-12:00 with a buffer of 15 min: 10:15-11:15 is exactly bookable.
    post(world, MAIN, "First", "2027-06-14T09:00", "2027-06-14T10:00")
    post(world, MAIN, "Second", "2027-06-14T11:30", "2027-06-14T12:00")
    body = day(world, MAIN, "2027-06-14", duration="PT1H", step="PT15M")
    assert {"start": t("2027-06-14T10:15"), "end": t("2027-06-14T11:15")} in body["free"]
    starts = [s["start"] for s in body["slots"]]
    assert t("2027-06-14T10:15") in starts
    assert t("2027-06-14T10:00") not in starts and t("2027-06-14T10:30") not in starts
    # ... and the booking core agrees: the slot is booked, a second earlier or later is not.
    for start, end in (("10:14:59", "11:14:59"), ("10:15:01", "11:15:01")):
        check = world.request("POST", f"/api/rooms/{MAIN}/check", user=BOB, json={
            "title": "x", "start": f"2027-06-14T{start}", "end": f"2027-06-14T{end}"})
        assert check.json()["ok"] is False, start
    post(world, MAIN, "Between", "2027-06-14T10:15", "2027-06-14T11:15", user=BOB)


def test_pending_bookings_are_busy_as_pending(world):
    post(world, PEND, "Waiting", "2027-06-08T09:00", "2027-06-08T10:00", user=BOB)
    body = day(world, PEND, "2027-06-08", user=BOB)
    assert [(b["kind"], b["start"], b["title"]) for b in body["busy"]] == \
        [("pending", t("2027-06-08T09:00"), "Waiting")]
    assert body["free"] == [{"start": t("2027-06-08T07:00"), "end": t("2027-06-08T09:00")},
                            {"start": t("2027-06-08T10:00"), "end": t("2027-06-08T19:00")}]


def test_titles_only_for_those_who_may_read_them(world):
    post(world, FB, "Secret plan", "2027-06-09T10:00", "2027-06-09T11:00", user=ALICE)
    mine = day(world, FB, "2027-06-09", user=ALICE)["busy"]
    assert [b.get("title") for b in mine] == ["Secret plan"] and mine[0]["uid"]
    theirs = day(world, FB, "2027-06-09", user=BOB)["busy"]  # free/busy only: times and kinds
    assert theirs == [{"start": t("2027-06-09T10:00"), "end": t("2027-06-09T11:00"), "kind": "booked"}]
    # A private booking keeps its title from every reader.
    assert book(world, MAIN, "20270609T120000", "20270609T130000", BOB, summary="Doctor",
                tz="Europe/Berlin", extra="CLASS:PRIVATE").status_code == 201
    private, = [b for b in day(world, MAIN, "2027-06-09", user=ALICE)["busy"] if b["kind"] == "booked"]
    assert "title" not in private and private["start"] == t("2027-06-09T12:00")


def test_bookable_start_times_are_what_the_booking_core_grants(world):
    post(world, MAIN, "Lunch talk", "2027-06-08T12:00", "2027-06-08T13:00")
    body = day(world, MAIN, "2027-06-08", duration="PT1H")
    assert body["duration"] == "PT1H" and body["step"] == "PT30M"
    starts = [s["start"] for s in body["slots"]]
    expected = [t(f"2027-06-08T{h}") for h in ("08:00", "08:30", "09:00", "09:30", "10:00", "10:30",
                                               "13:30", "14:00", "14:30", "15:00", "15:30", "16:00",
                                               "16:30", "17:00")]
    assert starts == expected
    assert all(s["end"] == t(f"2027-06-08T{int(s['start'][11:13]) + 1:02d}:{s['start'][14:16]}")
               for s in body["slots"])
    # Every start on the grid: listed exactly when the dry run says the core would take it.
    for hour in range(7, 19):
        for minute in ("00", "30"):
            start = f"2027-06-08T{hour:02d}:{minute}:00"
            end = f"2027-06-08T{hour + 1:02d}:{minute}:00"
            check = world.request("POST", f"/api/rooms/{MAIN}/check", user=ALICE,
                                  json={"title": "x", "start": start, "end": end})
            assert check.json()["ok"] == (start + "+02:00" in starts), start


def test_bookable_start_times_respect_every_rule(world):
    # Longer than max-duration: free windows stay, no slot.
    body = day(world, MAIN, "2027-06-10", duration="PT5H")
    assert body["free"] and body["slots"] == []
    # min-notice P400D: nothing in June 2027 can be booked yet.
    body = day(world, NOTICE, "2027-06-10", duration="PT1H")
    assert body["free"] and body["slots"] == []
    # A step of its own; a short duration is its own step.
    body = day(world, MAIN, "2027-06-10", duration="PT1H", step="PT2H")
    assert [s["start"] for s in body["slots"]] == [t(f"2027-06-10T{h:02d}:00") for h in (8, 10, 12, 14, 16)]
    body = availability(world, MAIN, start="2027-06-10T08:00", end="2027-06-10T09:00",
                        duration="PT15M").json()
    assert body["step"] == "PT15M" and len(body["slots"]) == 4


def test_quantity_and_series(world):
    post(world, QTY, "One", "2027-06-11T10:00", "2027-06-11T12:00")
    body = day(world, QTY, "2027-06-11")
    assert body["quantity"] == 2 and [b["kind"] for b in body["busy"]] == ["booked"]
    assert body["free"] == [{"start": t("2027-06-11T07:00"), "end": t("2027-06-11T19:00")}]
    post(world, QTY, "Two", "2027-06-11T11:00", "2027-06-11T13:00", user=BOB)
    body = day(world, QTY, "2027-06-11", duration="PT1H", step="PT1H")
    assert body["free"] == [{"start": t("2027-06-11T07:00"), "end": t("2027-06-11T11:00")},
                            {"start": t("2027-06-11T12:00"), "end": t("2027-06-11T19:00")}]
    assert t("2027-06-11T11:00") not in [s["start"] for s in body["slots"]]
    assert t("2027-06-11T10:00") in [s["start"] for s in body["slots"]]
    series = event("20270614T090000", "20270614T093000", summary="Daily", tz="Europe/Berlin",
                   extra="RRULE:FREQ=DAILY;COUNT=3")
    assert world.put_ics(f"/rooms/{QTY}/daily.ics", series, user=ALICE).status_code == 201
    body = availability(world, QTY, start="2027-06-13", end="2027-06-17").json()
    assert [(b["start"], b["title"]) for b in body["busy"]] == \
        [(t(f"2027-06-{d}T09:00"), "Daily") for d in (14, 15, 16)]


@pytest.mark.parametrize("params", [
    {},
    {"start": "2027-06-07T08:00"},
    {"start": "yesterday", "end": "2027-06-08"},
    {"start": "2027-06-08T10:00", "end": "2027-06-08T09:00"},
    {"start": "2027-06-01", "end": "2027-08-15"},                     # more than 62 days
    {"start": "2027-06-01", "end": "2027-07-31", "duration": "PT5M", "step": "PT5M"},  # too many
    {"start": "2027-06-07", "end": "2027-06-08", "duration": "1h"},
    {"start": "2027-06-07", "end": "2027-06-08", "duration": "PT0M"},
    {"start": "2027-06-07", "end": "2027-06-08", "duration": "P1M"},
    {"start": "2027-06-07", "end": "2027-06-08", "step": "PT30M"},    # step without duration
    {"start": "2027-06-07", "end": "2027-06-08", "duration": "PT1H", "step": "PT10S"},
])
def test_bad_availability_parameters_are_400_with_a_message(world, params):
    answer = availability(world, MAIN, **params)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == 400 and body["message"]


def test_availability_of_an_unknown_room_is_404_and_anonymous_401(world):
    assert availability(world, "av-nope", start="2027-06-07", end="2027-06-08").status_code == 404
    anonymous = world.request("GET", f"/api/rooms/{MAIN}/availability",
                              params={"start": "2027-06-07", "end": "2027-06-08"})
    assert anonymous.status_code == 401


def test_a_wide_range_with_many_slots_answers_in_time(world):
    answer = availability(world, MAIN, start="2027-08-01", end="2027-10-01", duration="PT1H")
    assert answer.status_code == 200 and answer.elapsed.total_seconds() < 10
    body = answer.json()
    assert len(body["slots"]) > 500 and all(b["kind"] == "closed" for b in body["busy"])


# -- the room finder --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finder(world):
    tag = f"fx{uuid.uuid4().hex[:6]}"
    rooms = {
        "small": ("--capacity", "4", "--buffer", "PT15M"),
        "large": ("--capacity", "12", "--feature", "video", "--opening-hours", "Mo-Fr 08:00-18:00"),
        "pool": ("--capacity", "6", "--quantity", "2"),
        "short": ("--max-duration", "PT1H"),
    }
    ids = {}
    for name, options in rooms.items():
        ids[name] = f"{tag}-{name}"
        world.add_room(ids[name], *BERLIN, "--feature", tag, *options)
    post(world, ids["small"], "Taken", "2027-06-09T10:00", "2027-06-09T11:00")
    post(world, ids["pool"], "Half", "2027-06-09T10:00", "2027-06-09T11:00")
    return tag, ids


def find(server, tag, user=BOB, **params):
    answer = server.request("GET", "/api/rooms", user=user, params={"feature": tag, **params})
    assert answer.status_code == 200, answer.text
    return sorted(r["id"].split("-", 1)[1] for r in answer.json()["rooms"])


def test_finder_capacity_and_features(world, finder):
    tag, _ = finder
    assert find(world, tag) == ["large", "pool", "short", "small"]
    assert find(world, tag, capacity="6") == ["large", "pool"]
    assert find(world, tag, capacity="0") == ["large", "pool", "small"]  # no capacity: not listed
    answer = world.request("GET", "/api/rooms", user=BOB, params=[("feature", tag), ("feature", "VIDEO")])
    assert [r["id"] for r in answer.json()["rooms"]] == [f"{tag}-large"]


def test_finder_free_span_as_the_booking_core_sees_it(world, finder):
    tag, ids = finder
    # 10 min after "Taken": inside small's buffer (a gap of 15 min is needed).
    assert find(world, tag, **{"free-from": "2027-06-09T11:10", "free-until": "2027-06-09T12:00"}) == \
        ["large", "pool", "short"]
    assert find(world, tag, **{"free-from": "2027-06-09T11:15", "free-until": "2027-06-09T12:00"}) == \
        ["large", "pool", "short", "small"]
    # Over "Taken": pool still has one of two places; short is limited to 1 h; large is open.
    assert find(world, tag, **{"free-from": "2027-06-09T10:00", "free-until": "2027-06-09T12:00"}) == \
        ["large", "pool"]
    # After 18:00 large is closed; an offset is as good as local time.
    assert find(world, tag, **{"free-from": "2027-06-09T17:00:00Z", "free-until": "2027-06-09T17:30:00Z"}) == \
        ["pool", "short", "small"]
    post(world, ids["pool"], "Full", "2027-06-09T10:30", "2027-06-09T11:30", user=BOB)
    assert find(world, tag, capacity="5", **{"free-from": "2027-06-09T10:00",
                                            "free-until": "2027-06-09T12:00"}) == ["large"]


def test_finder_sees_long_bookings_and_series_begun_long_before(world):
    """The finder reads every room's rows at once: a booking of several days begun before the
    span, and a weekly series begun months before, still hold their rooms."""
    tag = "longago"
    for name in ("days", "weekly", "open"):
        world.add_room(f"{tag}-{name}", *BERLIN, "--feature", tag)
    post(world, f"{tag}-days", "Retreat", "2027-09-06T08:00", "2027-09-09T18:00")
    weekly = event("20270607T090000", "20270607T110000", summary="Weekly", tz="Europe/Berlin",
                   extra="RRULE:FREQ=WEEKLY;COUNT=30")
    assert world.put_ics(f"/rooms/{tag}-weekly/weekly.ics", weekly, user=ALICE).status_code == 201
    # Monday 2027-09-13 is the 15th week of the series; the retreat runs Monday to Thursday before
    assert find(world, tag, **{"free-from": "2027-09-08T10:00", "free-until": "2027-09-08T11:00"}) == \
        ["open", "weekly"]
    assert find(world, tag, **{"free-from": "2027-09-13T10:00", "free-until": "2027-09-13T10:30"}) == \
        ["days", "open"]
    assert find(world, tag, **{"free-from": "2027-09-14T10:00", "free-until": "2027-09-14T10:30"}) == \
        ["days", "open", "weekly"]


@pytest.mark.parametrize("params", [
    {"capacity": "many"},
    {"capacity": "-1"},
    {"feature": ""},
    {"free-from": "2027-06-09T10:00"},
    {"free-until": "2027-06-09T10:00"},
    {"free-from": "2027-06-09T10:00", "free-until": "2027-06-09T09:00"},
    {"free-from": "soon", "free-until": "2027-06-09T09:00"},
])
def test_bad_finder_parameters_are_400_with_a_message(world, params):
    answer = world.request("GET", "/api/rooms", user=BOB, params=params)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == 400 and answer.json()["message"]

"""POST /api/rooms/<id>/bookings/replace (issue 5, seed 002): every 400 shape, atomicity,
rights, and a successful replace seen over CalDAV and JSON sync — real server, real HTTP."""

import datetime
import re
import uuid
import zoneinfo

import pytest

from conftest import assert_no_500, book, new_room

ADMIN, MGR, ALICE = "rp-admin", "rp-mgr", "rp-alice"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
BASE = datetime.date.today() + datetime.timedelta(days=40)


def at(day, hour, minute=0) -> str:
    """ISO local time (Berlin) ``day`` days after BASE; no offset: the room's zone."""
    moment = datetime.datetime.combine(BASE + datetime.timedelta(days=day), datetime.time(hour, minute))
    return moment.isoformat()


def ical(day, hour, minute=0) -> str:
    return at(day, hour, minute).replace("-", "").replace(":", "")


@pytest.fixture(scope="module")
def world(server):
    server.add_user(ADMIN, admin=True)
    server.add_user(MGR)
    server.add_user(ALICE)
    yield server
    assert_no_500(server)


def room(server, *options):
    return new_room(server, "rp", "--managers", MGR, *options, tz="Europe/Berlin")


def replace(server, room_id, period, bookings, user=MGR, **kw):
    return server.request("POST", f"/api/rooms/{room_id}/bookings/replace", user=user,
                          json={"period": period, "bookings": bookings}, **kw)


def period(start_day, end_day):
    return {"start": at(start_day, 0), "end": at(end_day, 0)}


def codes(entries):
    assert all(set(e) == {"message", "code"} and e["message"] for e in entries), entries
    return [e["code"] for e in entries]


def snapshot(server, room_id):
    """href -> ETag of every item (JSON on the CalDAV URL)."""
    r = server.request("GET", f"/rooms/{room_id}/?props[]=getetag", user=ADMIN,
                       headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    return r.json()["responses"]


def titles(server, room_id):
    r = server.request("GET", f"/rooms/{room_id}/", user=ADMIN, headers={"Accept": "application/json"})
    return sorted(e["title"] for e in r.json()["responses"].values())


# -- rights ------------------------------------------------------------------------------------
def test_rights(world):
    rid = room(world)
    body = {"period": period(0, 1), "bookings": []}
    url = f"/api/rooms/{rid}/bookings/replace"
    assert world.request("POST", url, json=body).status_code == 401
    r = world.request("POST", url, user=ALICE, json=body)
    assert r.status_code == 403 and r.json()["type"] == "forbidden"
    r = world.request("POST", url, token=world.token(MGR, "--read-only"), json=body)
    assert r.status_code == 403 and "read-only" in r.json()["message"]
    assert world.request("POST", "/api/rooms/rp-nowhere/bookings/replace", user=MGR,
                         json=body).status_code == 404
    # GET .../bookings/replace is not this route (405, or another route's 404 for a UID "replace").
    assert world.request("GET", url, user=MGR).status_code == 404
    assert world.request("POST", url, user=MGR, json=body).status_code == 200
    assert world.request("POST", url, user=ADMIN, json=body).status_code == 200
    assert world.request("POST", url, token=world.token(MGR), json=body).status_code == 200


# -- 400 shapes --------------------------------------------------------------------------------
def test_period_end_before_start_is_the_seeds_shape(world):
    rid = room(world)
    r = replace(world, rid, {"start": at(5, 19), "end": at(2, 17)},
                [{"title": "a", "start": at(2, 17), "end": at(2, 18)}])
    assert r.status_code == 400
    assert r.json() == {"period": {"non_field_errors": [
        {"message": "period end must occur after start", "code": "invalid"}]}}
    # An empty period is no period either.
    r = replace(world, rid, {"start": at(2, 17), "end": at(2, 17)}, [])
    assert r.json() == {"period": {"non_field_errors": [
        {"message": "period end must occur after start", "code": "invalid"}]}}


def test_period_and_body_fields(world):
    rid = room(world)
    url = f"/api/rooms/{rid}/bookings/replace"
    r = world.request("POST", url, user=MGR, json={})
    assert r.status_code == 400
    assert {k: codes(v) for k, v in r.json().items()} == {"period": ["required"], "bookings": ["required"]}
    r = world.request("POST", url, user=MGR, json={"period": {"start": "soon"}, "bookings": {}})
    body = r.json()
    assert codes(body["period"]["start"]) == ["invalid"] and codes(body["period"]["end"]) == ["required"]
    assert codes(body["bookings"]) == ["not_a_list"]
    r = world.request("POST", url, user=MGR, json={"period": "today", "bookings": [], "guests": 3})
    body = r.json()
    assert codes(body["period"]["non_field_errors"]) == ["invalid"]
    assert codes(body["guests"]) == ["unknown"]
    r = world.request("POST", url, user=MGR, json=[1, 2])
    assert r.status_code == 400 and codes(r.json()["non_field_errors"]) == ["invalid"]
    r = world.request("POST", url, user=MGR, data=b"{nope", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["type"] == "badRequest"


def test_bad_bookings_per_index_and_field(world):
    rid = room(world)
    good = {"title": "ok", "start": at(1, 9), "end": at(1, 10)}
    r = replace(world, rid, period(0, 3), [
        good,
        {"title": "no start", "end": at(1, 11)},                           # 1: start missing
        {"title": "bad end", "start": at(1, 11), "end": "half past ten"},  # 2: end invalid
        {"start": at(1, 12), "end": at(1, 13)},                            # 3: title missing
        {"title": "  ", "start": at(1, 12), "end": at(1, 13)},             # 4: title blank
        {"title": 7, "start": at(1, 12), "end": at(1, 13)},                # 5: title not a string
        {"title": "backwards", "start": at(1, 14), "end": at(1, 13)},      # 6: end before start
        "a string",                                                        # 7: not an object
        {"title": "x", "start": at(1, 15), "end": at(1, 16), "guests": 5},  # 8: unknown field
        {"@type": "Event", "title": "js", "duration": "PT1H"},             # 9: JSCalendar, no start
        {"@type": "Event", "start": at(1, 17), "duration": "soon"},        # 10: bad duration
        {"@type": "Task", "start": at(1, 17)},                             # 11: not an Event
    ])
    assert r.status_code == 400
    body = r.json()
    assert set(body) == {"bookings"}
    shapes = {index: {field: codes(entries) for field, entries in fields.items()}
              for index, fields in body["bookings"].items()}
    assert shapes == {
        "1": {"start": ["required"]},
        "2": {"end": ["invalid"]},
        "3": {"title": ["required"]},
        "4": {"title": ["blank"]},
        "5": {"title": ["invalid"]},
        "6": {"end": ["invalid"]},
        "7": {"non_field_errors": ["invalid"]},
        "8": {"guests": ["unknown"]},
        "9": {"start": ["invalid"]},
        "10": {"duration": ["invalid"]},
        "11": {"@type": ["invalid"]},
    }
    assert body["bookings"]["6"]["end"][0]["message"] == "end must occur after start"
    assert snapshot(world, rid) == {}


def test_booking_outside_the_period_is_the_seeds_shape(world):
    rid = room(world)
    r = replace(world, rid, {"start": at(0, 19), "end": at(3, 17)}, [
        {"title": "inside", "start": at(1, 17), "end": at(1, 18)},
        {"title": "before", "start": at(0, 17), "end": at(0, 18)},
        {"title": "runs past the end", "start": at(3, 16), "end": at(3, 18)},
    ])
    assert r.status_code == 400
    body = r.json()
    assert list(body) == ["non_field_errors"]
    messages = [e["message"] for e in body["non_field_errors"]]
    assert codes(body["non_field_errors"]) == ["invalid", "invalid"]
    start = datetime.datetime.fromisoformat(at(0, 17)).replace(tzinfo=BERLIN)
    p0 = datetime.datetime.fromisoformat(at(0, 19)).replace(tzinfo=BERLIN)
    p1 = datetime.datetime.fromisoformat(at(3, 17)).replace(tzinfo=BERLIN)
    assert messages[0] == f"booking '{start}' must be within given time period '{p0} - {p1}'"
    assert re.match(r"booking '\d{4}-\d\d-\d\d 16:00:00\+0[12]:00' must be within", messages[1])


def test_overlapping_bookings_in_the_list(world):
    rid = room(world)
    r = replace(world, rid, period(0, 3), [
        {"title": "a", "start": at(1, 9), "end": at(1, 11)},
        {"title": "b", "start": at(1, 12), "end": at(1, 13)},
        {"title": "c", "start": at(1, 10), "end": at(1, 12, 30)},  # overlaps a and b
        {"title": "d", "start": at(1, 9), "end": at(1, 11)},       # the same slot as a
    ])
    assert r.status_code == 400
    body = r.json()
    assert list(body) == ["non_field_errors"]
    messages = [e["message"] for e in body["non_field_errors"]]
    assert codes(body["non_field_errors"]) == ["invalid", "invalid"]
    assert messages[0].startswith("booking 2 overlaps booking(s) 0, 1 of the list")
    assert messages[1].startswith("booking 3 overlaps booking(s) 0 of the list")
    # With quantity 2 the same list fits (the peak is 2).
    pool = room(world, "--quantity", "2")
    r = replace(world, pool, period(0, 3), [
        {"title": "a", "start": at(1, 9), "end": at(1, 11)},
        {"title": "b", "start": at(1, 12), "end": at(1, 13)},
        {"title": "c", "start": at(1, 10), "end": at(1, 12, 30)},
    ])
    assert r.status_code == 200, r.text


def test_rule_and_conflict_problems_per_index(world):
    rid = room(world, "--max-duration", "PT2H", "--opening-hours", "Mo-Su 07:00-20:00")
    # A booking that starts before the period is kept, and blocks.
    assert book(world, rid, ical(0, 18), ical(0, 19, 30), ALICE,
                tz="Europe/Berlin", summary="Kept").status_code == 201
    r = replace(world, rid, {"start": at(0, 19), "end": at(2, 0)}, [
        {"title": "fine", "start": at(1, 9), "end": at(1, 10)},
        {"title": "too long", "start": at(1, 10), "end": at(1, 13)},             # max-duration
        {"title": "meets kept", "start": at(0, 19), "end": at(0, 20)},           # conflict
        {"title": "late", "start": at(1, 19), "end": at(1, 21)},                 # opening hours
    ])
    assert r.status_code == 400
    body = r.json()
    assert list(body) == ["bookings"]
    shapes = {index: {field: codes(entries) for field, entries in fields.items()}
              for index, fields in body["bookings"].items()}
    assert shapes == {"1": {"non_field_errors": ["max-duration"]},
                      "2": {"non_field_errors": ["conflict"]},
                      "3": {"non_field_errors": ["opening-hours"]}}
    assert "Kept" in body["bookings"]["2"]["non_field_errors"][0]["message"]
    assert titles(world, rid) == ["Kept"]


def test_uids(world):
    rid = room(world)
    kept = f"kept-{uuid.uuid4().hex[:6]}"
    assert book(world, rid, ical(5, 9), ical(5, 10), ALICE, uid=kept, name=f"{kept}.ics",
                tz="Europe/Berlin").status_code == 201
    r = replace(world, rid, period(0, 3), [
        {"title": "a", "uid": "same", "start": at(1, 9), "end": at(1, 10)},
        {"title": "b", "uid": "same", "start": at(1, 11), "end": at(1, 12)},
        {"title": "c", "uid": kept, "start": at(1, 13), "end": at(1, 14)},
    ])
    assert r.status_code == 400
    body = r.json()
    assert codes(body["bookings"]["1"]["uid"]) == ["unique"]
    # The uid clash with a kept booking is found once the list itself is right.
    r = replace(world, rid, period(0, 3), [
        {"title": "c", "uid": kept, "start": at(1, 13), "end": at(1, 14)}])
    assert r.status_code == 400
    assert {i: codes(f["uid"]) for i, f in r.json()["bookings"].items()} == {"0": ["unique"]}


# -- atomicity ---------------------------------------------------------------------------------
def test_a_refused_replace_changes_nothing(world):
    rid = room(world, "--max-duration", "PT2H")
    for hour, name in ((9, "Old 1"), (14, "Old 2")):
        assert book(world, rid, ical(1, hour), ical(1, hour + 1), ALICE, summary=name,
                    tz="Europe/Berlin").status_code == 201
    before = snapshot(world, rid)
    token = world.request("GET", f"/rooms/{rid}/?sync-token=", user=ADMIN,
                          headers={"Accept": "application/json"}).json()["sync-token"]
    r = replace(world, rid, period(0, 3), [
        {"title": "New 1", "start": at(1, 9), "end": at(1, 10)},      # fine (replaces Old 1's slot)
        {"title": "New 2", "start": at(2, 9), "end": at(2, 12)},      # breaks max-duration
    ])
    assert r.status_code == 400
    assert list(r.json()["bookings"]) == ["1"]
    assert snapshot(world, rid) == before
    assert titles(world, rid) == ["Old 1", "Old 2"]
    changes = world.request("GET", f"/rooms/{rid}/?sync-token={token}", user=ADMIN,
                            headers={"Accept": "application/json"}).json()
    assert changes["responses"] == {}
    # The slots are still held: a CalDAV PUT over Old 1 is still a conflict.
    assert book(world, rid, ical(1, 9), ical(1, 10), ALICE, tz="Europe/Berlin").status_code == 409


# -- success -----------------------------------------------------------------------------------
def test_replace_is_visible_over_caldav(world):
    rid = room(world)
    names = {}
    for day, hour, name in ((1, 9, "Old 1"), (2, 14, "Old 2"), (3, 9, "Starts at the end")):
        href = f"{uuid.uuid4().hex}.ics"
        assert book(world, rid, ical(day, hour), ical(day, hour + 1), ALICE, name=href, summary=name,
                    tz="Europe/Berlin").status_code == 201
        names[name] = href
    cancelled = f"{uuid.uuid4().hex}.ics"
    assert book(world, rid, ical(2, 8), ical(2, 9), ALICE, name=cancelled, summary="Cancelled",
                tz="Europe/Berlin", extra="STATUS:CANCELLED").status_code == 201
    token = world.request("GET", f"/rooms/{rid}/?sync-token=", user=ADMIN,
                          headers={"Accept": "application/json"}).json()["sync-token"]
    r = replace(world, rid, period(1, 3), [
        # In Old 1's slot: the replaced bookings do not block their replacements.
        {"title": "New 1", "start": at(1, 9), "end": at(1, 10, 30), "description": "d"},
        {"@type": "Event", "title": "New 2", "start": at(2, 15), "timeZone": "Europe/Berlin",
         "duration": "PT1H"},
        {"title": "New 3", "start": at(2, 23), "end": at(3, 0)},  # ends exactly at the period's end
    ])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["room"] == rid
    assert [b["title"] for b in body["bookings"]] == ["New 1", "New 2", "New 3"]
    assert sorted(b["title"] for b in body["removed"]) == ["Cancelled", "Old 1", "Old 2"]
    for entry in body["bookings"] + body["removed"]:
        assert set(entry) >= {"uid", "href", "title", "start", "end"}
        assert entry["href"].startswith(f"/rooms/{rid}/")
    assert body["bookings"][0]["start"] == datetime.datetime.fromisoformat(at(1, 9)).replace(
        tzinfo=BERLIN).isoformat()
    # CalDAV: the new ones are there as iCalendar, the old ones are gone, the rest stays.
    for entry in body["bookings"]:
        item = world.request("GET", entry["href"], user=ALICE)
        assert item.status_code == 200 and item.headers["Content-Type"].startswith("text/calendar")
        assert f"SUMMARY:{entry['title']}" in item.text
    for name in ("Old 1", "Old 2"):
        assert world.request("GET", f"/rooms/{rid}/{names[name]}", user=ALICE).status_code == 404
    assert world.request("GET", f"/rooms/{rid}/{names['Starts at the end']}", user=ALICE).status_code == 200
    propfind = world.request("PROPFIND", f"/rooms/{rid}/", user=ALICE, headers={"Depth": "1"})
    assert propfind.status_code == 207
    listed = set(re.findall(rf"/rooms/{rid}/([^<]+\.ics)", propfind.text))
    assert listed == {e["href"].rsplit("/", 1)[1] for e in body["bookings"]} | {names["Starts at the end"]}
    # JSON sync sees every change: three new, three deleted.
    changes = world.request("GET", f"/rooms/{rid}/?sync-token={token}", user=ADMIN,
                            headers={"Accept": "application/json"}).json()["responses"]
    assert sorted(k for k, v in changes.items() if v is None) == sorted(
        e["href"] for e in body["removed"])
    assert sorted(v["title"] for v in changes.values() if v) == ["New 1", "New 2", "New 3"]
    # The index knows: the new slots block CalDAV writes, the freed ones do not.
    assert book(world, rid, ical(2, 15, 30), ical(2, 16), ALICE, tz="Europe/Berlin").status_code == 409
    assert book(world, rid, ical(2, 14), ical(2, 15), ALICE, tz="Europe/Berlin").status_code == 201


def test_replace_twice_and_empty(world):
    rid = room(world)
    bookings = [{"title": "A", "uid": "rp-a", "start": at(1, 9), "end": at(1, 10)},
                {"title": "B", "start": at(1, 11), "end": at(1, 12)}]
    first = replace(world, rid, period(1, 2), bookings)
    assert first.status_code == 200, first.text
    second = replace(world, rid, period(1, 2), bookings)
    assert second.status_code == 200, second.text
    # The same UID keeps its href (an update for sync clients); the rest is new.
    assert second.json()["bookings"][0]["href"] == first.json()["bookings"][0]["href"] == \
        f"/rooms/{rid}/rp-a.ics"
    assert sorted(b["title"] for b in second.json()["removed"]) == ["A", "B"]
    assert titles(world, rid) == ["A", "B"]
    empty = replace(world, rid, period(1, 2), [])
    assert empty.status_code == 200 and empty.json()["bookings"] == []
    assert titles(world, rid) == []


def test_approval_room_stores_pending(world):
    rid = room(world, "--approval")
    r = replace(world, rid, period(1, 2), [{"title": "Asked", "start": at(1, 9), "end": at(1, 10)}])
    assert r.status_code == 200, r.text
    assert r.json()["bookings"][0]["status"] == "TENTATIVE"


def test_unavailable_room_refuses_per_index(world):
    rid = room(world, "--status", "unavailable", "--status-reason", "renovation")
    r = replace(world, rid, period(1, 2), [{"title": "x", "start": at(1, 9), "end": at(1, 10)}])
    assert r.status_code == 400
    assert codes(r.json()["bookings"]["0"]["non_field_errors"]) == ["unavailable"]

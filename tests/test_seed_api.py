"""The Django Room Booking app's scripts against roomcal (issue 8 §1), over real HTTP.

The seed README's curl examples run as they are written, through bash and curl,
with only the host (and the placeholder token) changed.
"""

import datetime
import importlib
import json
import shutil
import subprocess
import uuid

import pytest

from conftest import assert_no_500, event

ADMIN, ALICE, BOB, MGR = "sd-admin", "sd-alice", "sd-bob", "sd-mgr"
CAL = "test-kalender"
needs_curl = pytest.mark.skipif(not (shutil.which("curl") and shutil.which("bash")),
                                reason="curl and bash are needed to run the seed's examples")


@pytest.fixture(scope="module")
def world(server):
    server.add_user(ADMIN, admin=True)
    for user in (ALICE, BOB, MGR):
        server.add_user(user, email=f"{user}@example.org")
    server.add_room(CAL, "--timezone", "Europe/Berlin", "--managers", MGR, name="Test-Kalender")
    server.add_room("meeting-room-1", "--managers", MGR, name="Meeting room 1")
    server.add_room("sd-rules", "--timezone", "Europe/Berlin", "--max-duration", "PT2H")
    yield server
    assert_no_500(server)


def seed_shell(server, script, token):
    """Run a seed README example: only the host and the placeholder token change."""
    script = script.replace("localhost:8000", f"127.0.0.1:{server.port}").replace("secrettoken", token)
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)


def day(days, hour, minute=0):
    when = datetime.datetime.now().date() + datetime.timedelta(days=days)
    return datetime.datetime.combine(when, datetime.time(hour, minute)).isoformat()


def post(server, path, body, user=ALICE, **kw):
    return server.request("POST", path, user=user, json=body, **kw)


# -- the README's examples, verbatim ---------------------------------------------------------
CREATE = r'''curl -s \
-H "Authorization: Bearer secrettoken" \
-H "Content-Type: application/json" \
-d "{\"name\": \"Test-Event\", \"start\": \"$(date --iso-8601=minutes)\", \"end\": \"$(date --iso-8601=minutes -d '+2 hours')\"}" \
localhost:8000/api/test-kalender/event'''

DELETE = r'''curl -s -X DELETE \
-H "Authorization: Bearer secrettoken" \
-H "Content-Type: application/json" \
localhost:8000/api/test-kalender/event/4zx3QAFzoxV3vaZSKGaH2S'''

# As in the README, except for the opening quote the README lost before the URL
# (without it bash reports an unterminated string before curl runs).
CLEAR = r'''curl -s -X DELETE \
-H "Authorization: Bearer secrettoken" \
"localhost:8000/api/clear-bookings?calendar=meeting-room-1&test=on" | jq "."'''


@needs_curl
def test_readme_create_and_delete_examples(world):
    token = world.token(ALICE)
    created = seed_shell(world, CREATE, token)
    assert created.returncode == 0, created.stderr
    body = json.loads(created.stdout)
    assert list(body) == ["id"] and len(body["id"]) == 22
    event_id = body["id"]
    # The id is the UID, and the booking is a CalDAV item at <id>.ics.
    item = world.request("GET", f"/rooms/{CAL}/{event_id}.ics", user=BOB)
    assert item.status_code == 200
    assert f"UID:{event_id}" in item.text and "SUMMARY:Test-Event" in item.text
    assert f"X-ROOMCAL-BOOKED-BY:{ALICE}" in item.text

    deleted = seed_shell(world, DELETE.replace("4zx3QAFzoxV3vaZSKGaH2S", event_id), token)
    assert deleted.returncode == 0 and deleted.stdout == ""  # "The response will be empty"
    assert world.request("GET", f"/rooms/{CAL}/{event_id}.ics", user=BOB).status_code == 404


@needs_curl
@pytest.mark.skipif(not shutil.which("jq"), reason="the README pipes into jq")
def test_readme_clear_bookings_example(world):
    listing = seed_shell(world, CLEAR, world.token(MGR))
    assert listing.returncode == 0, listing.stderr
    body = json.loads(listing.stdout)
    assert set(body) == {"deleted_cancelled_events", "deleted_overlapping_events",
                         "cancelled_overlapping_recurring_events", "ignored_overlapping_events", "test_mode"}
    assert body["test_mode"] is True


def test_delete_answers_204_with_an_empty_body(world):
    event_id = post(world, f"/api/{CAL}/events/", {"name": "x", "start": day(3, 9), "end": day(3, 10)}).json()["id"]
    # The README's headers: Bearer token and a JSON content type, no body.
    answer = world.request("DELETE", f"/api/{CAL}/event/{event_id}", token=world.token(ALICE),
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 204 and answer.content == b""
    again = world.request("DELETE", f"/api/{CAL}/event/{event_id}", user=ALICE)
    assert again.status_code == 404 and event_id in again.json()["message"]


# -- the route's variants ---------------------------------------------------------------------
@pytest.mark.parametrize("suffix", ["events/", "events", "event", "event/"])
def test_every_spelling_of_the_create_route(world, suffix):
    hour = 8 + ["events/", "events", "event", "event/"].index(suffix)
    created = post(world, f"/api/{CAL}/{suffix}", {"name": suffix, "start": day(4, hour), "end": day(4, hour, 30)})
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == f"/rooms/{CAL}/{created.json()['id']}.ics"


@pytest.mark.parametrize("suffix", ["events", "event"])
def test_both_spellings_of_the_delete_route(world, suffix):
    event_id = post(world, f"/api/{CAL}/events", {"name": "d", "start": day(5, 9), "end": day(5, 10)}).json()["id"]
    assert world.request("DELETE", f"/api/{CAL}/{suffix}/{event_id}", user=ALICE).status_code == 204


def test_times_without_offset_are_in_the_rooms_zone_and_with_offset_exact(world):
    local = post(world, f"/api/{CAL}/events/", {"name": "local", "start": "2027-07-01T09:00:00",
                                                "end": "2027-07-01T10:00:00"}).json()["id"]
    text = world.request("GET", f"/rooms/{CAL}/{local}.ics", user=ALICE).text
    assert "DTSTART;TZID=Europe/Berlin:20270701T090000" in text
    offset = post(world, f"/api/{CAL}/events/", {"name": "offset", "start": "2027-07-01T12:00+02:00",
                                                 "end": "2027-07-01T13:00+02:00"}).json()["id"]
    text = world.request("GET", f"/rooms/{CAL}/{offset}.ics", user=ALICE).text
    assert "DTSTART:20270701T100000Z" in text


def test_basic_auth_works_too(world):
    created = post(world, f"/api/{CAL}/events/", {"name": "basic", "start": day(6, 9), "end": day(6, 10)}, user=BOB)
    assert created.status_code == 201


def test_conflicts_and_rules_answer_the_booking_cores_json(world):
    first = post(world, "/api/sd-rules/events/", {"name": "first", "start": day(7, 10), "end": day(7, 11)})
    assert first.status_code == 201
    clash = post(world, "/api/sd-rules/events/", {"name": "clash", "start": day(7, 10, 30), "end": day(7, 11, 30)},
                 user=BOB)
    assert clash.status_code == 409
    body = clash.json()
    assert body["type"] == "conflict" and body["conflicts"][0]["uid"] == first.json()["id"]
    long = post(world, "/api/sd-rules/events/", {"name": "long", "start": day(8, 8), "end": day(8, 12)})
    assert long.status_code == 422
    assert long.json()["type"] == "ruleViolation" and long.json()["violations"][0]["rule"] == "max-duration"
    bad = post(world, "/api/sd-rules/events/", {"name": "bad", "start": "soon", "end": day(8, 12)})
    assert bad.status_code == 422 and "start" in bad.json()["message"]
    not_object = post(world, "/api/sd-rules/events/", ["name"])
    assert not_object.status_code == 422


def test_unknown_calendar_is_404_and_read_only_tokens_cannot_write(world):
    assert post(world, "/api/no-such-room/events/", {"name": "x", "start": day(9, 9), "end": day(9, 10)}).status_code == 404
    assert world.request("DELETE", "/api/no-such-room/events/abc", user=ALICE).status_code == 404
    read_only = world.token(ALICE, "--read-only")
    answer = world.request("POST", f"/api/{CAL}/events/", token=read_only,
                           json={"name": "x", "start": day(9, 9), "end": day(9, 10)})
    assert answer.status_code == 403 and answer.json()["type"] == "forbidden"


def test_delete_is_403_unless_yours_or_you_manage_the_room(world):
    event_id = post(world, f"/api/{CAL}/events/", {"name": "alice's", "start": day(10, 9), "end": day(10, 10)}).json()["id"]
    refused = world.request("DELETE", f"/api/{CAL}/events/{event_id}", user=BOB)
    assert refused.status_code == 403 and ALICE in refused.json()["message"]
    assert world.request("GET", f"/rooms/{CAL}/{event_id}.ics", user=ALICE).status_code == 200
    assert world.request("DELETE", f"/api/{CAL}/events/{event_id}", user=MGR).status_code == 204


def test_the_id_works_for_bookings_made_over_caldav(world):
    uid = f"caldav-{uuid.uuid4().hex[:8]}"
    put = world.put_ics(f"/rooms/{CAL}/somewhere-else.ics",
                        event("20270802T090000Z", "20270802T100000Z", uid=uid), user=ALICE)
    assert put.status_code == 201
    assert world.request("DELETE", f"/api/{CAL}/events/{uid}", user=ALICE).status_code == 204
    assert world.request("GET", f"/rooms/{CAL}/somewhere-else.ics", user=ALICE).status_code == 404


# -- fixed /api routes win over <calendar> ------------------------------------------------------
def fixed_first_segments():
    from roomcal.server.api import ROUTE_MODULES
    segments = set()
    for name in ROUTE_MODULES:
        for rule in importlib.import_module(name).ROUTES:
            first = rule.rule.split("/")[2]
            if "<" not in first:
                segments.add(first)
    return segments


def test_every_fixed_first_segment_is_a_reserved_room_id():
    from roomcal.storage.rooms import RESERVED_IDS
    segments = fixed_first_segments()
    assert {"rooms", "admin", "clear-bookings"} <= segments
    assert segments <= RESERVED_IDS
    assert {"openapi.json", "docs", "feeds"} <= RESERVED_IDS


@pytest.mark.parametrize("room_id", sorted({"rooms", "admin", "clear-bookings", "openapi.json", "docs",
                                            "feeds", "Clear-Bookings"}))
def test_room_add_refuses_ids_of_fixed_routes(world, room_id):
    result = world.cli("room", "add", room_id, "--name", "Clash", check=False)
    assert result.returncode != 0 and "reserved" in result.stderr


def test_fixed_routes_answer_not_the_calendar_routes(world):
    # /api/clear-bookings is the clearing route, whatever the seed's <calendar>/events pattern.
    assert world.request("DELETE", "/api/clear-bookings?test=1", user=BOB).status_code == 403
    assert world.request("DELETE", "/api/clear-bookings?test=1", user=MGR).json()["test_mode"] is True
    assert world.request("GET", "/api/rooms", user=BOB).status_code == 200
    # /api/admin/... and /api/rooms/... are never read as a room called "admin" or "rooms".
    assert world.request("GET", "/api/admin/rooms", user=BOB).status_code == 403
    stray = post(world, "/api/admin/events/", {"name": "x", "start": day(11, 9), "end": day(11, 10)})
    assert stray.status_code == 404 and "admin" in stray.json()["message"]

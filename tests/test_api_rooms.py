"""GET /api/rooms and GET /api/rooms/<id> (issue 2, "URLs"), over HTTP on a real server."""

import datetime

import pytest
import requests

from conftest import event

ADMIN, ALICE, BOB, MGR = "api-adm", "api-alice", "api-bob", "api-mgr"
FIELDS = {"id", "name", "capacity", "location", "timezone", "features", "rules", "may"}


@pytest.fixture(scope="module")
def world(server):
    server.add_user(ADMIN, admin=True)
    for user in (ALICE, BOB, MGR):
        server.add_user(user)
    server.add_room("api-conf", "--capacity", "12", "--location", "2nd floor, east wing",
                    "--timezone", "Europe/Berlin", "--feature", "projector", "--feature", "whiteboard",
                    "--min-duration", "PT30M", "--max-duration", "PT4H", "--buffer", "PT15M",
                    "--max-advance", "P90D", "--opening-hours", "Mo-Fr 08:00-18:00",
                    name="Conference Room")
    server.add_room("api-quiet", "--bookers", ALICE, "--managers", MGR, name="Quiet Room")
    server.add_room("api-bare", name="Bare")
    return server


def get(server, path, user=None, token=None):
    response = server.request("GET", path, user=user, token=token)
    assert response.headers.get("Content-Type", "").startswith("application/json"), response.headers
    return response


def assert_error_shape(response, status):
    assert response.status_code == status
    assert response.headers.get("Content-Type", "").startswith("application/json")
    body = response.json()
    assert body["error"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["message"], str) and body["message"]
    return body


def test_list_rooms(world):
    response = get(world, "/api/rooms", user=BOB)
    assert response.status_code == 200
    rooms = {room["id"]: room for room in response.json()["rooms"]}
    # Every room, also those bob may not book: authenticated users read rooms.
    assert {"api-conf", "api-quiet", "api-bare"} <= set(rooms)
    for room in rooms.values():
        assert FIELDS <= set(room)
    assert rooms["api-conf"]["name"] == "Conference Room"
    assert rooms["api-quiet"]["may"]["book"] is False
    assert rooms["api-conf"]["may"]["book"] is True


def test_one_room_with_every_field(world):
    response = get(world, "/api/rooms/api-conf", user=ALICE)
    assert response.status_code == 200
    room = response.json()
    assert room["id"] == "api-conf"
    assert room["name"] == "Conference Room"
    assert room["capacity"] == 12
    assert room["location"] == "2nd floor, east wing"
    assert room["timezone"] == "Europe/Berlin"
    assert room["features"] == ["projector", "whiteboard"]
    rules = room["rules"]
    # Durations as given.
    assert rules["min-duration"] == "PT30M"
    assert rules["max-duration"] == "PT4H"
    assert rules["buffer"] == "PT15M"
    assert rules["max-advance"] == "P90D"
    assert rules["opening-hours"] == "Mo-Fr 08:00-18:00"
    assert room["may"] == {"read": True, "book": True, "manage": False, "administer": False}


def test_the_list_and_the_single_room_agree(world):
    listed = next(r for r in get(world, "/api/rooms", user=ALICE).json()["rooms"] if r["id"] == "api-conf")
    single = get(world, "/api/rooms/api-conf", user=ALICE).json()
    assert listed == single


def test_a_room_without_options_has_empty_defaults(world):
    room = get(world, "/api/rooms/api-bare", user=ALICE).json()
    assert room["capacity"] is None
    assert room["location"] == ""
    assert room["features"] == []
    assert room["timezone"] == "UTC"
    assert room["rules"]["max-duration"] is None and room["rules"]["opening-hours"] is None


@pytest.mark.parametrize("user,may", [
    (ADMIN, {"read": True, "book": True, "manage": True, "administer": True}),
    (ALICE, {"read": True, "book": True, "manage": False, "administer": False}),
    (BOB, {"read": True, "book": False, "manage": False, "administer": False}),
    (MGR, {"read": True, "book": True, "manage": True, "administer": False}),
], ids=["admin", "booker", "not-a-booker", "manager"])
def test_may_says_what_the_caller_may_do(world, user, may):
    assert get(world, "/api/rooms/api-quiet", user=user).json()["may"] == may


def test_may_matches_what_caldav_allows(world):
    """`may.book` is not decoration: the same users get 201 and 403 on a PUT."""
    day = datetime.date.today() + datetime.timedelta(days=30)
    for hour, user in enumerate((ALICE, BOB, MGR)):
        may = get(world, "/api/rooms/api-quiet", user=user).json()["may"]["book"]
        start, end = f"{day:%Y%m%d}T{10 + hour:02d}0000Z", f"{day:%Y%m%d}T{10 + hour:02d}3000Z"
        put = world.put_ics(f"/rooms/api-quiet/may-{user}.ics", event(start, end), user=user)
        assert put.status_code == (201 if may else 403), (user, put.status_code)


def test_bearer_token_and_read_only_token(world):
    token = world.token(ALICE)
    response = get(world, "/api/rooms/api-quiet", token=token)
    assert response.status_code == 200 and response.json()["may"]["book"] is True
    read_only = world.token(ADMIN, "--read-only")
    may = get(world, "/api/rooms/api-quiet", token=read_only).json()["may"]
    assert may["read"] is True
    assert may["book"] is False and may["manage"] is False and may["administer"] is False


def test_changes_from_the_cli_show_at_once(world):
    world.add_room("api-live", "--capacity", "3", name="Live")
    assert get(world, "/api/rooms/api-live", user=BOB).json()["capacity"] == 3
    world.cli("room", "set", "api-live", "--capacity", "5", "--max-duration", "PT2H", "--feature", "tv")
    room = get(world, "/api/rooms/api-live", user=BOB).json()
    assert room["capacity"] == 5 and room["rules"]["max-duration"] == "PT2H" and room["features"] == ["tv"]
    world.cli("room", "remove", "api-live")
    assert_error_shape(get(world, "/api/rooms/api-live", user=BOB), 404)
    assert "api-live" not in {r["id"] for r in get(world, "/api/rooms", user=BOB).json()["rooms"]}


def test_unknown_room_is_a_404_json_error(world):
    body = assert_error_shape(get(world, "/api/rooms/api-nosuch", user=ALICE), 404)
    assert "api-nosuch" in body["message"]


def test_unknown_route_is_a_404_json_error(world):
    assert_error_shape(get(world, "/api/no-such-route", user=ALICE), 404)


def test_wrong_method_is_a_json_error(world):
    response = world.request("DELETE", "/api/rooms/api-conf", user=ADMIN)
    assert_error_shape(response, 405)
    assert get(world, "/api/rooms/api-conf", user=ALICE).status_code == 200


@pytest.mark.parametrize("path", ["/api/rooms", "/api/rooms/api-conf", "/api/rooms/api-nosuch"])
def test_anonymous_is_a_401_json_error(world, path):
    response = requests.get(world.url + path, timeout=30)
    body = assert_error_shape(response, 401)
    assert "api-conf" not in response.text and "Conference" not in response.text
    assert response.headers.get("WWW-Authenticate")
    assert body["type"]


def test_wrong_password_is_a_401_json_error(world):
    response = requests.get(world.url + "/api/rooms", auth=(ALICE, "wrong"), timeout=30)
    assert_error_shape(response, 401)
    assert response.headers.get("WWW-Authenticate")

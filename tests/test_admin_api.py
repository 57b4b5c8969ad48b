"""/api/admin (issue 8 §2) over real HTTP: rooms, users, groups, tokens; admins only;
bad input is 422 with the offending fields and changes nothing; room status
(available / unavailable / hidden) holds on every path; every change is logged.
"""

import uuid
import xml.etree.ElementTree as ET

import caldav
import pytest

from conftest import assert_no_500, event

ADMIN, ALICE, BOB, MGR = "ad-admin", "ad-alice", "ad-bob", "ad-mgr"
DAV = "{DAV:}"


@pytest.fixture(scope="module")
def world(server):
    server.add_user(ADMIN, admin=True)
    for user in (ALICE, BOB, MGR):
        server.add_user(user)
    server.add_room("ad-base", name="Base")
    yield server
    assert_no_500(server)


def call(server, method, path, body=None, user=ADMIN, **kw):
    if body is not None:
        kw["json"] = body
    return server.request(method, f"/api/admin{path}", user=user, **kw)


def invalid(answer, *properties):
    assert answer.status_code == 422, answer.text
    body = answer.json()
    assert body["error"] == 422 and body["type"] == "invalidProperties" and body["message"]
    assert set(body["properties"]) == set(properties), body
    return body


def fresh(prefix="ad"):
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def room_ids(server, user):
    return {r["id"] for r in server.request("GET", "/api/rooms", user=user).json()["rooms"]}


# -- admins only ------------------------------------------------------------------------------
ROUTES = [
    ("GET", "/rooms", None), ("POST", "/rooms", {"id": "ad-x", "name": "X"}),
    ("GET", "/rooms/ad-base", None), ("PATCH", "/rooms/ad-base", {"capacity": 3}),
    ("DELETE", "/rooms/ad-base", None),
    ("GET", "/users", None), ("POST", "/users", {"name": "ad-x", "password": "pw"}),
    ("GET", f"/users/{BOB}", None), ("PATCH", f"/users/{BOB}", {"admin": True}),
    ("DELETE", f"/users/{BOB}", None),
    ("GET", "/groups", None), ("POST", "/groups", {"name": "ad-g"}), ("GET", "/groups/ad-g", None),
    ("POST", "/groups/ad-g/members", {"members": [BOB]}), ("DELETE", f"/groups/ad-g/members/{BOB}", None),
    ("GET", "/tokens", None), ("POST", "/tokens", {"user": BOB}), ("DELETE", "/tokens/000000000000", None),
]


@pytest.mark.parametrize("method,path,body", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_non_admins_get_403(world, method, path, body):
    for user in (BOB, MGR):
        answer = call(world, method, path, body, user=user)
        assert answer.status_code == 403, answer.text
        assert answer.json()["type"] == "forbidden"
    assert call(world, method, path, body, user=None).status_code == 401
    # Nothing happened.
    assert world.request("GET", "/api/rooms/ad-base", user=BOB).json()["capacity"] is None
    assert call(world, "GET", f"/users/{BOB}").json()["admin"] is False


def test_read_only_admin_tokens_only_read(world):
    token = world.token(ADMIN, "--read-only")
    assert world.request("GET", "/api/admin/users", token=token).status_code == 200
    for method, path, body in ROUTES:
        if method != "GET":
            answer = world.request(method, f"/api/admin{path}", token=token, json=body)
            assert answer.status_code == 403, (method, path, answer.text)
    assert world.request("GET", "/api/rooms/ad-base", user=BOB).json()["capacity"] is None


# -- rooms ------------------------------------------------------------------------------------
def test_room_create_change_and_remove(world):
    created = call(world, "POST", "/rooms", {
        "id": "ad-board", "name": "Board room", "capacity": 12, "timezone": "Europe/Berlin",
        "features": ["projector"], "managers": [MGR],
        "rules": {"max-duration": "PT4H", "opening-hours": "Mo-Fr 08:00-18:00"}})
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == "/api/rooms/ad-board"
    room = world.request("GET", "/api/rooms/ad-board", user=BOB).json()
    assert (room["name"], room["capacity"], room["managers"], room["rules"]["max-duration"]) == \
        ("Board room", 12, [MGR], "PT4H")
    assert room["status"] == "available"
    # The CLI sees the same room.
    assert '"Board room"' in world.cli("room", "show", "ad-board", "--json").stdout

    changed = call(world, "PATCH", "/rooms/ad-board", {"capacity": 10, "rules": {"max-duration": None,
                                                                                 "buffer": "PT10M"}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["capacity"] == 10 and changed.json()["rules"]["max-duration"] is None
    assert changed.json()["rules"]["buffer"] == "PT10M"
    assert changed.json()["rules"]["opening-hours"] == "Mo-Fr 08:00-18:00"  # untouched

    put = world.put_ics("/rooms/ad-board/one.ics", event("20270303T100000Z", "20270303T110000Z"), user=BOB)
    assert put.status_code == 201
    busy = call(world, "DELETE", "/rooms/ad-board")
    assert busy.status_code == 409 and "force" in busy.json()["message"]
    assert world.request("GET", "/rooms/ad-board/one.ics", user=BOB).status_code == 200
    assert call(world, "DELETE", "/rooms/ad-board?force=1").status_code == 204
    assert world.request("GET", "/api/rooms/ad-board", user=BOB).status_code == 404
    assert call(world, "DELETE", "/rooms/ad-board").status_code == 404
    assert call(world, "PATCH", "/rooms/ad-board", {"capacity": 1}).status_code == 404


@pytest.mark.parametrize("body,properties", [
    ({"name": "X", "capacity": -1}, ["capacity"]),
    ({"name": "X", "capacity": "12"}, ["capacity"]),
    ({"name": "X", "timezone": "Mars/Olympus_Mons"}, ["timezone"]),
    ({"name": "X", "rules": {"max-duration": "4 hours"}}, ["rules.max-duration"]),
    ({"name": "X", "rules": {"min-duration": "PT2H", "max-duration": "PT1H"}},
     ["rules.min-duration", "rules.max-duration"]),
    ({"name": "X", "rules": {"no-such-rule": 1}}, ["rules.no-such-rule"]),
    ({"name": "X", "rules": {"quantity": 0}, "timezone": "Nowhere"}, ["rules.quantity", "timezone"]),
    ({"name": "X", "bookers": ["ad-nobody"]}, ["bookers"]),
    ({"name": "X", "managers": ["@ad-no-group"]}, ["managers"]),
    ({"name": "X", "status": "closed"}, ["status"]),
    ({"name": "X", "colour": "red"}, ["colour"]),
    ({"name": ""}, ["name"]),
    ({}, ["name"]),
])
def test_room_create_with_bad_input_is_422_and_creates_nothing(world, body, properties):
    room_id = fresh()
    invalid(call(world, "POST", "/rooms", {"id": room_id, **body}), *properties)
    assert world.request("GET", f"/api/rooms/{room_id}", user=ADMIN).status_code == 404


def test_room_members_may_come_in_camel_case(world):
    room_id = fresh()
    created = call(world, "POST", "/rooms", {
        "id": room_id, "name": "Camel", "busy-title": "Taken", "status_reason": "",
        "rules": {"maxDuration": "PT2H", "minNotice": "PT1H", "openingHours": "Mo-Fr 08:00-18:00",
                  "noRecurring": True, "max_instances": 3, "buffer": "PT5M"}})
    assert created.status_code == 201, created.text
    body = created.json()  # answers keep today's spelling
    assert body["busyTitle"] == "Taken"
    assert {k: body["rules"][k] for k in ("max-duration", "min-notice", "opening-hours", "no-recurring",
                                          "max-instances", "buffer")} == \
        {"max-duration": "PT2H", "min-notice": "PT1H", "opening-hours": "Mo-Fr 08:00-18:00",
         "no-recurring": True, "max-instances": 3, "buffer": "PT5M"}
    assert not any(key[0].islower() and any(c.isupper() for c in key) for key in body["rules"])
    # PATCH: camelCase too; null resets; the same value in two spellings is fine.
    changed = call(world, "PATCH", f"/rooms/{room_id}", {
        "rules": {"maxDuration": None, "maxAdvance": "P30D", "max-advance": "P30D"},
        "statusReason": "works", "status-reason": "works", "status": "unavailable"})
    assert changed.status_code == 200, changed.text
    rules = changed.json()["rules"]
    assert rules["max-duration"] is None and rules["max-advance"] == "P30D" and rules["min-notice"] == "PT1H"
    assert changed.json()["statusReason"] == "works"
    # The rule works as a rule: the booking core reads what camelCase wrote.
    refused = world.request("POST", f"/api/rooms/{room_id}/check", user=BOB, json={
        "title": "x", "start": "2027-03-01T10:00:00Z", "end": "2027-03-01T11:00:00Z"})
    assert refused.json()["ok"] is False
    assert {v["rule"] for v in refused.json()["violations"]} == {"max-advance", "unavailable"}
    # Bad values in camelCase are named like any other.
    invalid(call(world, "PATCH", f"/rooms/{room_id}", {"rules": {"minNotice": "soon"}}), "rules.min-notice")


@pytest.mark.parametrize("body,properties", [
    ({"rules": {"maxDuration": "PT1H", "max-duration": "PT2H"}}, ["rules.maxDuration", "rules.max-duration"]),
    ({"rules": {"max_duration": "PT1H", "maxDuration": "PT2H"}}, ["rules.max_duration", "rules.maxDuration"]),
    ({"busyTitle": "a", "busy-title": "b", "capacity": 2}, ["busyTitle", "busy-title"]),
])
def test_two_spellings_with_different_values_are_422_and_change_nothing(world, body, properties):
    before = world.request("GET", "/api/rooms/ad-base", user=ADMIN).json()
    answer = invalid(call(world, "PATCH", "/rooms/ad-base", body), *properties)
    assert "spellings" in answer["message"] and "different values" in answer["message"]
    assert world.request("GET", "/api/rooms/ad-base", user=ADMIN).json() == before
    room_id = fresh()
    invalid(call(world, "POST", "/rooms", {"id": room_id, "name": "X", **body}), *properties)
    assert world.request("GET", f"/api/rooms/{room_id}", user=ADMIN).status_code == 404


@pytest.mark.parametrize("room_id", ["clear-bookings", "admin", "rooms", "bad/id", "", 7])
def test_room_ids_that_collide_or_are_malformed_are_refused(world, room_id):
    invalid(call(world, "POST", "/rooms", {"id": room_id, "name": "X"}), "id")


def test_existing_room_id_is_409(world):
    answer = call(world, "POST", "/rooms", {"id": "ad-base", "name": "Again"})
    assert answer.status_code == 409 and "exists" in answer.json()["message"]
    assert world.request("GET", "/api/rooms/ad-base", user=BOB).json()["name"] == "Base"


@pytest.mark.parametrize("body,properties", [
    ({"capacity": 5, "timezone": "Not/AZone"}, ["timezone"]),
    ({"rules": {"buffer": "PT"}, "location": "ok"}, ["rules.buffer"]),
    ({"id": "ad-renamed"}, ["id"]),
    ({"features": "a", "bookers": 3}, ["bookers"]),
    ({"status": "unavailable", "statusReason": "two\nlines"}, ["statusReason"]),
])
def test_room_change_with_bad_input_is_422_and_changes_nothing(world, body, properties):
    before = world.request("GET", "/api/rooms/ad-base", user=ADMIN).json()
    invalid(call(world, "PATCH", "/rooms/ad-base", body), *properties)
    assert world.request("GET", "/api/rooms/ad-base", user=ADMIN).json() == before


def test_bad_json_is_a_4xx_with_a_message(world):
    answer = world.request("POST", "/api/admin/rooms", user=ADMIN, data=b"{nope",
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 400 and answer.json()["message"]
    invalid(call(world, "PATCH", "/rooms/ad-base", ["capacity"]))


# -- room status --------------------------------------------------------------------------------
def test_unavailable_room_refuses_new_bookings_everywhere_and_keeps_old_ones(world):
    room_id = fresh("ad-un")
    assert call(world, "POST", "/rooms", {"id": room_id, "name": "Lab", "timezone": "Europe/Berlin"}).status_code == 201
    old = world.put_ics(f"/rooms/{room_id}/old.ics", event("20270505T100000Z", "20270505T110000Z", uid="old"),
                        user=BOB)
    assert old.status_code == 201
    patched = call(world, "PATCH", f"/rooms/{room_id}", {"status": "unavailable", "statusReason": "being painted"})
    assert patched.status_code == 200 and patched.json()["statusReason"] == "being painted"
    shown = world.request("GET", f"/api/rooms/{room_id}", user=BOB).json()
    assert shown["status"] == "unavailable" and shown["may"]["book"] is False

    caldav_put = world.put_ics(f"/rooms/{room_id}/new.ics", event("20270506T100000Z", "20270506T110000Z"), user=BOB)
    assert caldav_put.status_code == 403
    assert "booking-rule-violated" in caldav_put.text and "being painted" in caldav_put.text
    for path, body in ((f"/api/rooms/{room_id}/bookings", {"title": "x", "start": "2027-05-06T10:00:00",
                                                          "end": "2027-05-06T11:00:00"}),
                       (f"/api/{room_id}/events/", {"name": "x", "start": "2027-05-06T10:00:00",
                                                    "end": "2027-05-06T11:00:00"})):
        refused = world.request("POST", path, user=BOB, json=body)
        assert refused.status_code == 422, refused.text
        assert refused.json()["violations"][0]["rule"] == "unavailable"
        assert "Lab is unavailable (being painted)" in refused.json()["message"]
    assert world.request("POST", f"/api/rooms/{room_id}/bookings", user=ADMIN, json={
        "title": "x", "start": "2027-05-06T10:00:00", "end": "2027-05-06T11:00:00"}).status_code == 422
    # Existing bookings stay, and their owner may still change and cancel them.
    assert world.request("GET", f"/rooms/{room_id}/old.ics", user=BOB).status_code == 200
    edited = world.put_ics(f"/rooms/{room_id}/old.ics",
                           event("20270505T100000Z", "20270505T110000Z", uid="old", summary="Renamed"), user=BOB)
    assert edited.status_code == 204, edited.text
    # Available again: the reason goes with the status, and booking works.
    available = call(world, "PATCH", f"/rooms/{room_id}", {"status": "available"}).json()
    assert available["status"] == "available" and available["statusReason"] == ""
    assert world.put_ics(f"/rooms/{room_id}/new.ics", event("20270506T100000Z", "20270506T110000Z"),
                         user=BOB).status_code == 201


def test_cli_sets_the_status_too(world):
    room_id = fresh("ad-cli")
    world.add_room(room_id, "--status", "unavailable", "--status-reason", "moving")
    assert world.request("GET", f"/api/rooms/{room_id}", user=BOB).json()["statusReason"] == "moving"
    assert "status: unavailable (moving)" in world.cli("room", "show", room_id).stdout
    assert world.put_ics(f"/rooms/{room_id}/x.ics", event("20270506T100000Z", "20270506T110000Z"),
                         user=BOB).status_code == 403
    world.cli("room", "set", room_id, "--status", "available")
    assert world.put_ics(f"/rooms/{room_id}/x.ics", event("20270506T100000Z", "20270506T110000Z"),
                         user=BOB).status_code == 201


def listing(server, user, path, depth="1"):
    answer = server.request("PROPFIND", path, user=user, headers={"Depth": depth},
                            data='<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/></D:prop></D:propfind>')
    assert answer.status_code == 207, answer.text
    return {href.text for href in ET.fromstring(answer.content).iter(f"{DAV}href")}


def test_hidden_rooms_are_listed_to_admins_only(world):
    room_id = fresh("ad-hid")
    assert call(world, "POST", "/rooms", {"id": room_id, "name": "Hidden", "status": "hidden"}).status_code == 201
    path = f"/rooms/{room_id}/"
    assert room_id not in room_ids(world, BOB)
    assert room_id in room_ids(world, ADMIN)
    assert path not in listing(world, BOB, "/rooms/") and "/rooms/ad-base/" in listing(world, BOB, "/rooms/")
    assert path in listing(world, ADMIN, "/rooms/")
    assert path not in listing(world, BOB, f"/{BOB}/")
    assert path in listing(world, ADMIN, f"/{ADMIN}/")
    client = caldav.DAVClient(url=world.url, username=BOB, password=world.passwords[BOB])
    assert path not in {c.url.path for c in client.principal().calendars()}
    # Unlisted, not closed: who has the address can still open it.
    assert world.request("GET", f"/api/rooms/{room_id}", user=BOB).status_code == 200
    call(world, "PATCH", f"/rooms/{room_id}", {"status": "available"})
    assert room_id in room_ids(world, BOB) and path in listing(world, BOB, f"/{BOB}/")


# -- users --------------------------------------------------------------------------------------
def test_user_lifecycle(world):
    name = fresh("ad-user")
    created = call(world, "POST", "/users", {"name": name, "password": "first pw", "email": "u@example.org"})
    assert created.status_code == 201, created.text
    assert created.json() == {"name": name, "admin": False, "email": "u@example.org", "groups": []}
    assert "first pw" not in created.text
    assert name in {u["name"] for u in call(world, "GET", "/users").json()["users"]}
    world.passwords[name] = "first pw"
    assert world.request("GET", "/api/rooms", user=name).status_code == 200

    assert call(world, "PATCH", f"/users/{name}", {"password": "second pw"}).status_code == 200
    assert world.request("GET", "/api/rooms", user=name).status_code == 401
    world.passwords[name] = "second pw"
    assert world.request("GET", "/api/rooms", user=name).status_code == 200

    assert call(world, "PATCH", f"/users/{name}", {"admin": True, "email": "new@example.org"}).json()["admin"]
    assert world.request("GET", "/api/rooms/ad-base", user=name).json()["may"]["administer"] is True
    assert call(world, "GET", f"/users/{name}").json()["email"] == "new@example.org"
    assert call(world, "PATCH", f"/users/{name}", {"admin": False}).json()["admin"] is False

    assert call(world, "DELETE", f"/users/{name}").status_code == 204
    assert world.request("GET", "/api/rooms", user=name).status_code == 401
    assert call(world, "DELETE", f"/users/{name}").status_code == 404
    assert call(world, "PATCH", f"/users/{name}", {"email": ""}).status_code == 404


@pytest.mark.parametrize("body,properties", [
    ({"name": "bad/name", "password": "pw"}, ["name"]),
    ({"name": "api", "password": "pw"}, ["name"]),
    ({"password": "pw"}, ["name"]),
    ({"name": "NAME", "password": ""}, ["password"]),
    ({"name": "NAME"}, ["password"]),
    ({"name": "NAME", "password": "pw", "email": "not an address"}, ["email"]),
    ({"name": "NAME", "password": "pw", "admin": "yes"}, ["admin"]),
    ({"name": "NAME", "password": "pw", "role": "admin"}, ["role"]),
])
def test_user_create_with_bad_input_is_422_and_creates_nothing(world, body, properties):
    name = fresh("ad-bad")
    body = {k: (name if v == "NAME" else v) for k, v in body.items()}
    invalid(call(world, "POST", "/users", body), *properties)
    assert call(world, "GET", f"/users/{name}").status_code == 404


def test_duplicate_user_is_409(world):
    answer = call(world, "POST", "/users", {"name": BOB, "password": "other"})
    assert answer.status_code == 409
    assert world.request("GET", "/api/rooms", user=BOB).status_code == 200  # password unchanged


def test_user_change_with_bad_input_changes_nothing(world):
    invalid(call(world, "PATCH", f"/users/{ALICE}", {"password": "changed", "email": "nope"}), "email")
    invalid(call(world, "PATCH", f"/users/{ALICE}", {"password": "changed", "admin": 1}), "admin")
    invalid(call(world, "PATCH", f"/users/{ALICE}", {"password": ""}), "password")
    invalid(call(world, "PATCH", f"/users/{ALICE}", {"name": "renamed"}), "name")
    assert world.request("GET", "/api/rooms", user=ALICE).status_code == 200
    assert call(world, "GET", f"/users/{ALICE}").json() == {"name": ALICE, "admin": False, "email": "",
                                                            "groups": []}


def test_admins_cannot_lock_themselves_out(world):
    invalid(call(world, "PATCH", f"/users/{ADMIN}", {"admin": False}), "admin")
    assert call(world, "DELETE", f"/users/{ADMIN}").status_code == 403
    assert call(world, "GET", f"/users/{ADMIN}").json()["admin"] is True


# -- groups -------------------------------------------------------------------------------------
def test_groups(world):
    group = fresh("ad-grp")
    created = call(world, "POST", "/groups", {"name": group, "members": [ALICE]})
    assert created.status_code == 201 and created.json() == {"name": group, "members": [ALICE]}
    assert call(world, "POST", f"/groups/{group}/members", {"members": [BOB]}).json()["members"] == [ALICE, BOB]
    assert {"name": group, "members": [ALICE, BOB]} in call(world, "GET", "/groups").json()["groups"]
    assert call(world, "GET", f"/users/{BOB}").json()["groups"] == [group]
    # The group works in a room's bookers.
    room_id = fresh("ad-grp-room")
    assert call(world, "POST", "/rooms", {"id": room_id, "name": "G", "bookers": [f"@{group}"]}).status_code == 201
    assert world.put_ics(f"/rooms/{room_id}/b.ics", event("20270707T100000Z", "20270707T110000Z"),
                         user=BOB).status_code == 201
    assert call(world, "DELETE", f"/groups/{group}/members/{BOB}").status_code == 204
    assert call(world, "GET", f"/groups/{group}").json()["members"] == [ALICE]
    assert world.put_ics(f"/rooms/{room_id}/c.ics", event("20270708T100000Z", "20270708T110000Z"),
                         user=BOB).status_code == 403
    assert call(world, "DELETE", f"/groups/{group}/members/{BOB}").status_code == 404
    assert call(world, "GET", "/groups/ad-no-such-group").status_code == 404
    assert call(world, "POST", "/groups/ad-no-such-group/members", {"members": [BOB]}).status_code == 404


def test_group_bad_input_is_422_and_changes_nothing(world):
    group = fresh("ad-grp")
    invalid(call(world, "POST", "/groups", {"name": group, "members": [ALICE, "ad-ghost"]}), "members")
    invalid(call(world, "POST", "/groups", {"name": "bad name", "members": []}), "name")
    invalid(call(world, "POST", "/groups", {"name": group, "members": "ad-alice"}), "members")
    assert call(world, "GET", f"/groups/{group}").status_code == 404
    call(world, "POST", "/groups", {"name": group})
    invalid(call(world, "POST", f"/groups/{group}/members", {"members": [BOB, "ad-ghost"]}), "members")
    invalid(call(world, "POST", f"/groups/{group}/members", {}), "members")
    assert call(world, "GET", f"/groups/{group}").json()["members"] == []


# -- tokens -------------------------------------------------------------------------------------
def test_tokens(world):
    created = call(world, "POST", "/tokens", {"user": ALICE, "label": "laptop"})
    assert created.status_code == 201, created.text
    body = created.json()
    secret, token_id = body["token"], body["id"]
    assert body["user"] == ALICE and body["label"] == "laptop" and body["readOnly"] is False
    assert world.request("GET", "/api/rooms", token=secret).status_code == 200
    listed = call(world, "GET", f"/tokens?user={ALICE}")
    assert token_id in {t["id"] for t in listed.json()["tokens"]}
    assert secret not in listed.text and all("token" not in t for t in listed.json()["tokens"])
    read_only = call(world, "POST", "/tokens", {"user": ALICE, "readOnly": True}).json()
    assert world.request("POST", "/api/rooms/ad-base/bookings", token=read_only["token"], json={
        "title": "x", "start": "2027-01-01T10:00:00Z", "end": "2027-01-01T11:00:00Z"}).status_code == 403
    assert call(world, "DELETE", f"/tokens/{token_id}").status_code == 204
    assert world.request("GET", "/api/rooms", token=secret).status_code == 401
    assert call(world, "DELETE", f"/tokens/{token_id}").status_code == 404
    assert call(world, "GET", "/tokens?user=ad-ghost").status_code == 404


@pytest.mark.parametrize("body,properties", [
    ({"user": "ad-ghost"}, ["user"]),
    ({}, ["user"]),
    ({"user": ALICE, "readOnly": "yes"}, ["readOnly"]),
    ({"user": ALICE, "label": 5}, ["label"]),
    ({"user": ALICE, "scope": "all"}, ["scope"]),
])
def test_token_bad_input_is_422_and_creates_nothing(world, body, properties):
    before = call(world, "GET", "/tokens").json()["tokens"]
    answer = call(world, "POST", "/tokens", body)
    invalid(answer, *properties)
    assert "rc_" not in answer.text
    assert call(world, "GET", "/tokens").json()["tokens"] == before


# -- the audit log ---------------------------------------------------------------------------------
def test_every_change_is_logged_with_who_made_it_and_no_secret(world):
    name = fresh("ad-logged")
    call(world, "POST", "/users", {"name": name, "password": "s3cret-pw"})
    call(world, "PATCH", f"/users/{name}", {"password": "an0ther-pw", "email": "l@example.org"})
    secret = call(world, "POST", "/tokens", {"user": name}).json()["token"]
    call(world, "POST", "/rooms", {"id": name, "name": "Logged"})
    call(world, "PATCH", f"/rooms/{name}", {"capacity": 4})
    call(world, "DELETE", f"/rooms/{name}")
    log = world.read_log()
    for line in (f"{ADMIN} added user {name}", f"{ADMIN} changed the password of {name}",
                 f"{ADMIN} set the e-mail of {name} to l@example.org", f"{ADMIN} created token",
                 f"{ADMIN} added room {name}", f"{ADMIN} changed room {name}: capacity=4",
                 f"{ADMIN} removed room {name}"):
        assert line in log, line
    for secret_text in ("s3cret-pw", "an0ther-pw", secret):
        assert secret_text not in log

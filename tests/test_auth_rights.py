"""Authentication (Basic, Bearer, read-only tokens) and rights, over HTTP on a real server.

Cast: ``ar-adm`` (admin), ``ar-alice`` (may book the restricted room), ``ar-bob``
(may not), ``ar-mgr`` (manager of the restricted room only).  Rooms: ``ar-open``
(everyone books) and ``ar-priv`` (``--bookers ar-alice --managers ar-mgr``).
"""

import datetime
import itertools
import uuid
import xml.etree.ElementTree as ET

import pytest
import requests

from conftest import event

DAV = "{DAV:}"
ADMIN, ALICE, BOB, MGR = "ar-adm", "ar-alice", "ar-bob", "ar-mgr"
OPEN, PRIV = "ar-open", "ar-priv"

_slot = itertools.count()
_BASE = (datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0, tzinfo=None)
         + datetime.timedelta(days=20))


def booking(summary="Booking", uid=None, extra=""):
    """(uid, ics) of a one-hour booking in a time slot no other test uses."""
    start = _BASE + datetime.timedelta(hours=2 * next(_slot))
    end = start + datetime.timedelta(hours=1)
    uid = uid or str(uuid.uuid4())
    return uid, event(start.strftime("%Y%m%dT%H%M%SZ"), end.strftime("%Y%m%dT%H%M%SZ"),
                      uid=uid, summary=summary, extra=extra)


def same_slot(ics, summary):
    """The same booking (UID, times) with another summary."""
    return ics.replace("SUMMARY:", f"SUMMARY:{summary} ", 1)


PROPPATCH = """<?xml version="1.0" encoding="utf-8"?>
<D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><D:displayname>{name}</D:displayname></D:prop></D:set>
</D:propertyupdate>"""
MKCALENDAR = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop>
<D:displayname>{name}</D:displayname></D:prop></D:set></C:mkcalendar>"""
QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/></D:prop>
<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter>
</C:calendar-query>"""


def dav_error(response):
    """The child elements of a DAV:error body."""
    root = ET.fromstring(response.content)
    assert root.tag == f"{DAV}error", response.text
    return [child.tag for child in root]


def raw(server, method, path, auth=None, token=None, **kwargs):
    """A request with arbitrary credentials (the fixture's helper knows only real passwords)."""
    headers = dict(kwargs.pop("headers", {}) or {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return requests.request(method, server.url + path, auth=auth, headers=headers, timeout=30, **kwargs)


def challenged(response):
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers.get("WWW-Authenticate"), response.headers
    return response


def room_name(server, room):
    return server.request("GET", f"/api/rooms/{room}", user=ADMIN).json()["name"]


@pytest.fixture(scope="module")
def world(server):
    server.add_user(ADMIN, admin=True)
    for user in (ALICE, BOB, MGR):
        server.add_user(user)
    server.add_room(OPEN, name="Open Space")
    server.add_room(PRIV, "--bookers", ALICE, "--managers", MGR, name="Private Office")
    seeded = {}
    for room in (OPEN, PRIV):
        uid, ics = booking("Seed")
        href = f"/rooms/{room}/{uid}.ics"
        assert server.put_ics(href, ics, user=ALICE).status_code == 201
        seeded[room] = href
    return seeded


# -- Basic and Bearer -------------------------------------------------------------------------
def test_basic_auth_on_caldav_and_api(server, world):
    response = server.request("PROPFIND", f"/{ALICE}/", user=ALICE, headers={"Depth": "0"})
    assert response.status_code == 207
    assert f"/{ALICE}/" in response.text
    api = server.request("GET", "/api/rooms", user=ALICE)
    assert api.status_code == 200 and api.headers["Content-Type"].startswith("application/json")
    assert {r["id"] for r in api.json()["rooms"]} >= {OPEN, PRIV}


def test_bearer_token_on_caldav_and_api_acts_as_its_user(server, world):
    token = server.token(ALICE, "--label", "ar")
    api = server.request("GET", f"/api/rooms/{PRIV}", token=token)
    assert api.status_code == 200 and api.json()["may"]["book"] is True
    propfind = server.request("PROPFIND", f"/{ALICE}/", token=token, headers={"Depth": "0"})
    assert propfind.status_code == 207
    uid, ics = booking("Via token")
    href = f"/rooms/{PRIV}/{uid}.ics"
    assert server.put_ics(href, ics, token=token).status_code == 201
    assert server.request("GET", href, token=token).status_code == 200
    # The booking belongs to the token's user: bob may not delete it, alice (by password) may.
    assert server.request("DELETE", href, user=BOB).status_code == 403
    assert server.request("DELETE", href, user=ALICE).status_code == 200


def test_a_token_carries_its_users_groups_and_admin_right(server, world):
    """A token signs in as its user with everything the user is: their groups' rights and,
    for an admin, the admin's (read from the accounts with the token itself)."""
    server.add_user("ar-carol")
    server.cli("group", "add", "ar-bookers", "ar-carol")
    server.add_room("ar-grouped", "--bookers", "@ar-bookers", name="Group Room")
    carol, outsider = server.token("ar-carol"), server.token(BOB)
    uid, ics = booking("By a group's member")
    assert server.put_ics(f"/rooms/ar-grouped/{uid}.ics", ics, token=carol).status_code == 201
    uid, ics = booking("By someone outside the group")
    assert server.put_ics(f"/rooms/ar-grouped/{uid}.ics", ics, token=outsider).status_code == 403
    admin = server.token(ADMIN)
    assert server.request("GET", "/api/admin/users", token=admin).status_code == 200
    assert server.request("GET", "/api/admin/users", token=carol).status_code == 403


@pytest.mark.parametrize("path", ["/", f"/{ALICE}/", "/rooms/", f"/rooms/{OPEN}/", "/api/rooms"])
def test_wrong_password_is_401_with_challenge(server, world, path):
    challenged(raw(server, "PROPFIND" if not path.startswith("/api") else "GET", path,
                   auth=(ALICE, "not her password"), headers={"Depth": "0"}))


def test_unknown_user_is_401(server, world):
    challenged(raw(server, "PROPFIND", "/rooms/", auth=("ar-nobody", "x"), headers={"Depth": "0"}))
    challenged(raw(server, "GET", "/api/rooms", auth=("ar-nobody", "x")))


@pytest.mark.parametrize("token", ["rc_000000000000_forged", "garbage", ""])
def test_unknown_token_is_401(server, world, token):
    challenged(raw(server, "PROPFIND", f"/rooms/{OPEN}/", token=token, headers={"Depth": "0"}))
    challenged(raw(server, "GET", "/api/rooms", token=token))


def test_forged_token_with_a_real_id_is_401(server, world):
    token = server.token(ALICE)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    challenged(raw(server, "GET", "/api/rooms", token=forged))
    challenged(raw(server, "PROPFIND", f"/{ALICE}/", token=forged, headers={"Depth": "0"}))


def test_revoked_token_is_401(server, world):
    token = server.token(BOB, "--label", "ar-revoke-me")
    assert raw(server, "GET", "/api/rooms", token=token).status_code == 200
    row = next(line for line in server.cli("token", "list").stdout.splitlines() if "ar-revoke-me" in line)
    server.cli("token", "revoke", row.split()[0])
    challenged(raw(server, "GET", "/api/rooms", token=token))
    challenged(raw(server, "PROPFIND", f"/{BOB}/", token=token, headers={"Depth": "0"}))
    uid, ics = booking()
    challenged(raw(server, "PUT", f"/rooms/{OPEN}/{uid}.ics", token=token, data=ics.encode(),
                   headers={"Content-Type": "text/calendar"}))


@pytest.mark.parametrize("method,path", [
    ("PROPFIND", "/"), ("PROPFIND", f"/{ALICE}/"), ("PROPFIND", "/rooms/"),
    ("PROPFIND", f"/rooms/{OPEN}/"), ("GET", f"/rooms/{OPEN}/"), ("PUT", f"/rooms/{OPEN}/anon.ics"),
    ("GET", "/api/rooms"), ("GET", f"/api/rooms/{OPEN}"),
])
def test_anonymous_is_401_with_challenge(server, world, method, path):
    kwargs = {"headers": {"Depth": "0"}}
    if method == "PUT":
        kwargs = {"data": booking()[1].encode(), "headers": {"Content-Type": "text/calendar"}}
    challenged(raw(server, method, path, **kwargs))
    if method == "PUT":
        assert server.request("GET", path, user=ADMIN).status_code == 404


def test_removed_user_loses_password_and_tokens(server, world):
    server.add_user("ar-leaver")
    token = server.token("ar-leaver")
    assert server.request("GET", "/api/rooms", user="ar-leaver").status_code == 200
    server.cli("user", "remove", "ar-leaver")
    challenged(server.request("GET", "/api/rooms", user="ar-leaver"))
    challenged(raw(server, "GET", "/api/rooms", token=token))


# -- read-only tokens -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def read_only(server, world):
    return server.token(ALICE, "--read-only", "--label", "ar-ro")


def test_read_only_token_can_read(server, world, read_only):
    href = world[OPEN]
    assert server.request("GET", href, token=read_only).status_code == 200
    propfind = server.request("PROPFIND", f"/rooms/{OPEN}/", token=read_only, headers={"Depth": "1"})
    assert propfind.status_code == 207 and href in propfind.text
    report = server.request("REPORT", f"/rooms/{OPEN}/", token=read_only, data=QUERY,
                            headers={"Depth": "1", "Content-Type": "application/xml"})
    assert report.status_code == 207 and href in report.text
    assert server.request("PROPFIND", f"/{ALICE}/", token=read_only, headers={"Depth": "1"}).status_code == 207
    assert server.request("GET", "/api/rooms", token=read_only).status_code == 200


def test_read_only_token_cannot_put_or_delete(server, world, read_only):
    uid, ics = booking("Read-only attempt")
    href = f"/rooms/{OPEN}/{uid}.ics"
    put = server.put_ics(href, ics, token=read_only)
    assert put.status_code == 403
    assert dav_error(put)  # a DAV:error body that says why
    assert "read-only" in put.text.lower()
    assert server.request("GET", href, user=ALICE).status_code == 404

    own = world[OPEN]  # alice's own booking: still not with this token
    before = server.request("GET", own, user=ALICE).text
    delete = server.request("DELETE", own, token=read_only)
    assert delete.status_code == 403 and dav_error(delete)
    overwrite = server.put_ics(own, same_slot(before, "Changed"), token=read_only)
    assert overwrite.status_code == 403
    assert server.request("GET", own, user=ALICE).text == before


@pytest.mark.parametrize("method,path,body", [
    ("MKCALENDAR", f"/{ALICE}/ro-cal/", ""),
    ("PROPPATCH", f"/{ALICE}/", PROPPATCH.format(name="x")),
    ("DELETE", f"/{ALICE}/", ""),
    ("MOVE", "seeded", ""),
])
def test_read_only_token_cannot_write_anything_else(server, world, read_only, method, path, body):
    path = world[OPEN] if path == "seeded" else path
    response = server.request(method, path, token=read_only, data=body.encode(),
                              headers={"Destination": server.url + f"/{ALICE}/moved.ics"})
    assert response.status_code == 403
    assert server.request("GET", world[OPEN], user=ALICE).status_code == 200
    assert server.request("PROPFIND", f"/{ALICE}/ro-cal/", user=ALICE, headers={"Depth": "0"}).status_code == 404


def test_read_only_token_may_not_book_in_api(server, world, read_only):
    may = server.request("GET", f"/api/rooms/{OPEN}", token=read_only).json()["may"]
    assert may["read"] is True and may["book"] is False


# -- the rooms collection ---------------------------------------------------------------------------
# Users x rooms x verbs (PROPFIND, REPORT, GET, PUT, PROPPATCH, MKCALENDAR, MKCOL, DELETE of the
# room) is the generated matrix's: tests/test_rights_matrix.py, which pins these users' codes too.
def test_non_admins_cannot_touch_the_rooms_collection_itself(server, world):
    listing = server.request("PROPFIND", "/rooms/", user=BOB, headers={"Depth": "1"})
    assert listing.status_code == 207
    assert f"/rooms/{OPEN}/" in listing.text and f"/rooms/{PRIV}/" in listing.text
    for method, body in (("PROPPATCH", PROPPATCH.format(name="Mine")), ("DELETE", ""),
                         ("MKCALENDAR", ""), ("MKCOL", "")):
        response = server.request(method, "/rooms/", user=ALICE, data=body.encode())
        assert response.status_code == 403, method
    assert server.request("GET", f"/api/rooms/{OPEN}", user=ALICE).status_code == 200


def test_whole_collection_put_into_a_room_is_refused_for_users(server, world):
    _, ics = booking("Replace everything")
    response = server.put_ics(f"/rooms/{OPEN}/", ics, user=BOB)
    assert response.status_code == 403
    assert server.request("GET", world[OPEN], user=BOB).status_code == 200
    listing = server.request("PROPFIND", f"/rooms/{OPEN}/", user=ADMIN, headers={"Depth": "1"})
    assert world[OPEN] in listing.text
    assert server.request("GET", f"/api/rooms/{OPEN}", user=BOB).json()["name"] == "Open Space"


def test_alice_cannot_proppatch_delete_or_mkcalendar_under_rooms(server, world):
    name = room_name(server, OPEN)
    proppatch = server.request("PROPPATCH", f"/rooms/{OPEN}/", user=ALICE,
                               data=PROPPATCH.format(name="Alice's now").encode())
    assert proppatch.status_code == 403
    assert room_name(server, OPEN) == name
    delete = server.request("DELETE", f"/rooms/{OPEN}/", user=ALICE)
    assert delete.status_code == 403
    assert server.request("GET", world[OPEN], user=ALICE).status_code == 200
    mkcalendar = server.request("MKCALENDAR", "/rooms/ar-alices-room/", user=ALICE,
                                data=MKCALENDAR.format(name="Alice's room").encode())
    assert mkcalendar.status_code == 403
    assert server.request("GET", "/api/rooms/ar-alices-room", user=ALICE).status_code == 404


def test_admin_administers_rooms_over_http(server, world):
    room = "ar-http-room"
    made = server.request("MKCALENDAR", f"/rooms/{room}/", user=ADMIN,
                          data=MKCALENDAR.format(name="Made over HTTP").encode())
    assert made.status_code == 201
    api = server.request("GET", f"/api/rooms/{room}", user=BOB)
    assert api.status_code == 200 and api.json()["name"] == "Made over HTTP"
    assert api.json()["may"]["book"] is True  # default: every user books
    shown = server.cli("room", "show", room, "--json").stdout
    assert "Made over HTTP" in shown

    uid, ics = booking("In the new room")
    assert server.put_ics(f"/rooms/{room}/{uid}.ics", ics, user=BOB).status_code == 201

    renamed = server.request("PROPPATCH", f"/rooms/{room}/", user=ADMIN,
                             data=PROPPATCH.format(name="Renamed over HTTP").encode())
    assert renamed.status_code == 207 and "200 OK" in renamed.text
    assert room_name(server, room) == "Renamed over HTTP"

    deleted = server.request("DELETE", f"/rooms/{room}/", user=ADMIN)
    assert deleted.status_code == 200
    assert server.request("GET", f"/api/rooms/{room}", user=BOB).status_code == 404


def test_admin_cannot_create_a_room_with_a_reserved_id(server, world):
    response = server.request("MKCALENDAR", "/rooms/api/", user=ADMIN)
    assert response.status_code == 400
    assert "api" not in {r["id"] for r in server.request("GET", "/api/rooms", user=ADMIN).json()["rooms"]}


# -- who may change a booking ---------------------------------------------------------------------
def alices_booking(server, room=OPEN):
    uid, ics = booking("Alice's meeting")
    href = f"/rooms/{room}/{uid}.ics"
    assert server.put_ics(href, ics, user=ALICE).status_code == 201
    return href, ics


@pytest.mark.parametrize("intruder,room", [(BOB, OPEN), (MGR, OPEN)],
                         ids=["bob", "manager-of-another-room"])
def test_bob_cannot_change_or_delete_alices_booking(server, world, intruder, room):
    href, ics = alices_booking(server, room)
    stored = server.request("GET", href, user=ALICE).text

    change = server.put_ics(href, same_slot(ics, "Taken over by"), user=intruder)
    assert change.status_code == 403, change.text
    assert dav_error(change)
    delete = server.request("DELETE", href, user=intruder)
    assert delete.status_code == 403, delete.text
    assert dav_error(delete)
    server.request("MKCALENDAR", f"/{intruder}/loot/", user=intruder)
    move = server.request("MOVE", href, user=intruder,
                          headers={"Destination": f"{server.url}/{intruder}/loot/stolen.ics"})
    assert move.status_code == 403

    after = server.request("GET", href, user=ALICE)
    assert after.status_code == 200 and after.text == stored
    assert "Taken over by" not in after.text


def test_a_booking_cannot_be_claimed_through_its_icalendar_data(server, world):
    """Ownership is the server's: a client cannot write someone else's name into it."""
    uid, ics = booking("Bob pretends", extra="X-ROOMCAL-BOOKED-BY:ar-alice")
    href = f"/rooms/{OPEN}/{uid}.ics"
    assert server.put_ics(href, ics, user=BOB).status_code == 201
    assert server.request("DELETE", href, user=ALICE).status_code == 403
    # nor can alice hand her own booking to bob by editing it
    mine, mine_ics = alices_booking(server)
    edited = server.put_ics(mine, mine_ics.replace("END:VEVENT", "X-ROOMCAL-BOOKED-BY:ar-bob\r\nEND:VEVENT"),
                            user=ALICE)
    assert edited.status_code == 204
    assert server.request("DELETE", mine, user=BOB).status_code == 403
    assert server.request("DELETE", href, user=BOB).status_code == 200
    assert server.request("DELETE", mine, user=ALICE).status_code == 200


def test_the_booker_changes_and_deletes_her_own_booking(server, world):
    href, ics = alices_booking(server, PRIV)
    changed = server.put_ics(href, same_slot(ics, "Renamed"), user=ALICE)
    assert changed.status_code == 204
    assert "Renamed" in server.request("GET", href, user=ALICE).text
    assert server.request("DELETE", href, user=ALICE).status_code == 200
    assert server.request("GET", href, user=ALICE).status_code == 404


@pytest.mark.parametrize("who", [MGR, ADMIN], ids=["manager", "admin"])
def test_a_manager_or_admin_can_change_and_delete_anyones_booking(server, world, who):
    href, ics = alices_booking(server, PRIV)
    changed = server.put_ics(href, same_slot(ics, f"Moved by {who}"), user=who)
    assert changed.status_code == 204, changed.text
    assert f"Moved by {who}" in server.request("GET", href, user=ALICE).text
    # It is still alice's booking: she may delete it after the manager's change...
    assert server.put_ics(href, same_slot(ics, "Back"), user=ALICE).status_code == 204
    # ...and the manager may delete it.
    assert server.request("DELETE", href, user=who).status_code == 200
    assert server.request("GET", href, user=ALICE).status_code == 404


def test_non_booker_cannot_book_but_reads_the_room(server, world):
    uid, ics = booking("Bob tries the private office")
    href = f"/rooms/{PRIV}/{uid}.ics"
    assert server.put_ics(href, ics, user=BOB).status_code == 403
    assert server.request("GET", href, user=ALICE).status_code == 404
    assert server.request("GET", world[PRIV], user=BOB).status_code == 200
    may = server.request("GET", f"/api/rooms/{PRIV}", user=BOB).json()["may"]
    assert may == {"read": True, "book": False, "manage": False, "administer": False}


# -- personal calendars: plain Radicale, owner only -----------------------------------------------------
@pytest.fixture(scope="module")
def alices_calendar(server, world):
    path = f"/{ALICE}/ar-private/"
    made = server.request("MKCALENDAR", path, user=ALICE, data=MKCALENDAR.format(name="Private").encode())
    assert made.status_code == 201
    uid, ics = booking("Dentist")
    href = f"{path}{uid}.ics"
    assert server.put_ics(href, ics, user=ALICE).status_code == 201
    return path, href, ics


def test_owner_can_put_overlapping_events_in_a_personal_calendar(server, alices_calendar):
    path, href, ics = alices_calendar
    overlapping = ics.replace(ics.split("UID:")[1].split("\r\n")[0], str(uuid.uuid4()))
    second = f"{path}{uuid.uuid4()}.ics"
    response = server.put_ics(second, overlapping, user=ALICE)
    assert response.status_code == 201, response.text
    listing = server.request("PROPFIND", path, user=ALICE, headers={"Depth": "1"})
    assert listing.status_code == 207 and href in listing.text and second in listing.text
    assert server.request("DELETE", second, user=ALICE).status_code == 200


@pytest.mark.parametrize("other", [BOB, ADMIN], ids=["bob", "admin"])
def test_personal_calendars_are_private(server, alices_calendar, other):
    path, href, ics = alices_calendar
    forbidden = 403   # owner_only: someone else's calendar is refused, not hidden
    assert server.request("PROPFIND", path, user=other, headers={"Depth": "1"}).status_code == forbidden
    assert server.request("PROPFIND", f"/{ALICE}/", user=other, headers={"Depth": "1"}).status_code == forbidden
    assert server.request("GET", href, user=other).status_code == forbidden
    assert server.request("REPORT", path, user=other, data=QUERY,
                          headers={"Depth": "1"}).status_code == forbidden
    uid, new = booking("Intruder")
    assert server.put_ics(f"{path}{uid}.ics", new, user=other).status_code == forbidden
    assert server.put_ics(href, same_slot(ics, "Intruder"), user=other).status_code == forbidden
    assert server.request("DELETE", href, user=other).status_code == forbidden
    assert server.request("MKCALENDAR", f"/{ALICE}/from-{other}/", user=other).status_code == forbidden
    assert server.request("DELETE", path, user=other).status_code == forbidden
    # Nothing changed.
    assert server.request("GET", href, user=ALICE).text.count("Intruder") == 0
    assert server.request("GET", f"{path}{uid}.ics", user=ALICE).status_code == 404
    assert server.request("PROPFIND", f"/{ALICE}/from-{other}/", user=ALICE,
                          headers={"Depth": "0"}).status_code == 404


def test_a_token_reaches_only_its_own_users_calendars(server, alices_calendar):
    path, href, _ = alices_calendar
    bobs = server.token(BOB)
    assert server.request("GET", href, token=bobs).status_code == 403
    alices = server.token(ALICE)
    assert server.request("GET", href, token=alices).status_code == 200


def test_a_brand_new_user_can_make_a_calendar_straight_away(server, world):
    """The home /<user>/ is created on the first request, even when rooms exist."""
    server.add_user("ar-newbie")
    made = server.request("MKCALENDAR", "/ar-newbie/first/", user="ar-newbie",
                          data=MKCALENDAR.format(name="First").encode())
    assert made.status_code == 201, made.text
    uid, ics = booking("Mine")
    assert server.put_ics(f"/ar-newbie/first/{uid}.ics", ics, user="ar-newbie").status_code == 201
    home = server.request("PROPFIND", "/ar-newbie/", user="ar-newbie", headers={"Depth": "1"})
    assert home.status_code == 207 and "/ar-newbie/first/" in home.text

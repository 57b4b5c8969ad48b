"""Discovery: with server URL + login, a client sees every room it may book as a calendar.

Checked with python-caldav (principal discovery), with the raw requests Apple
Calendar makes (well-known, current-user-principal, calendar-home-set), and by
replaying the Thunderbird 153 traffic of /work/shared/reference/clients/ against
a room.
"""

import datetime
import uuid
import xml.etree.ElementTree as ET

import caldav
import pytest
from caldav.lib import error as caldav_error

from conftest import THUNDERBIRD_EVENT, event

DAV, CAL, CS, RC = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}", "{http://calendarserver.org/ns/}", \
    "{urn:roomcal:caldav}"
ALICE, BOB, CAROL = "dv-alice", "dv-bob", "dv-carol"
# room id -> (name, CLI options); who may book: atrium everyone, board bob, lab bob + carol (manager)
ROOMS = {
    "dv-atrium": ("Atrium Hall", ()),
    "dv-board": ("Board Room", ("--bookers", BOB)),
    "dv-lab": ("Lab 3", ("--bookers", BOB, "--managers", CAROL, "--capacity", "8",
                         "--location", "Building B", "--timezone", "Europe/Berlin", "--max-duration", "PT4H")),
}
BOOKABLE = {ALICE: {"dv-atrium"}, BOB: {"dv-atrium", "dv-board", "dv-lab"}, CAROL: {"dv-atrium", "dv-lab"}}
TB_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Thunderbird/153.0"


def ical_time(days, hour, minute=0):
    day = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=days)
    return datetime.datetime.combine(day, datetime.time(hour, minute)).strftime("%Y%m%dT%H%M%SZ")


@pytest.fixture(scope="module")
def world(server):
    server.add_user("dv-admin", admin=True)
    for user in (ALICE, BOB, CAROL):
        server.add_user(user)
    for room_id, (name, options) in ROOMS.items():
        server.add_room(room_id, *options, name=name)
    return server


def client(server, user):
    return caldav.DAVClient(url=server.url, username=user, password=server.passwords[user])


def room_calendars(server, user):
    """{room path: display name} of the /rooms/ calendars python-caldav discovers for ``user``."""
    found = {}
    for calendar in client(server, user).principal().calendars():
        path = calendar.url.path
        if path.startswith("/rooms/"):
            found[path] = calendar.get_display_name()
    return found


def calendar_for(server, user, room_id):
    for calendar in client(server, user).principal().calendars():
        if calendar.url.path == f"/rooms/{room_id}/":
            return calendar
    raise AssertionError(f"{room_id} is not among {user}'s calendars")


def multistatus(response):
    assert response.status_code == 207, (response.status_code, response.text)
    return ET.fromstring(response.content)


# -- python-caldav -----------------------------------------------------------------------------
@pytest.mark.parametrize("user", [ALICE, BOB, CAROL])
def test_principal_calendars_include_exactly_the_bookable_rooms(world, user):
    found = room_calendars(world, user)
    expected = {f"/rooms/{r}/": ROOMS[r][0] for r in BOOKABLE[user]}
    assert found == expected


def test_a_brand_new_user_discovers_rooms_on_the_very_first_request(world):
    world.add_user("dv-newcomer")
    found = room_calendars(world, "dv-newcomer")
    assert found == {"/rooms/dv-atrium/": "Atrium Hall"}


def test_rooms_appear_beside_personal_calendars(world):
    principal = client(world, CAROL).principal()
    principal.make_calendar(name="Carol's own", cal_id="dv-own")
    paths = {c.url.path: c.get_display_name() for c in principal.calendars()}
    assert paths[f"/{CAROL}/dv-own/"] == "Carol's own"
    assert paths["/rooms/dv-lab/"] == "Lab 3" and paths["/rooms/dv-atrium/"] == "Atrium Hall"
    # Personal calendars of others are never listed.
    assert not any(p.startswith(f"/{ALICE}/") for p in paths)


def test_new_and_changed_rooms_need_no_per_user_setup(world):
    world.add_room("dv-pop-up", name="Pop-up Room")
    assert room_calendars(world, ALICE)["/rooms/dv-pop-up/"] == "Pop-up Room"
    world.cli("room", "set", "dv-pop-up", "--name", "Pop-up Room (renamed)")
    assert room_calendars(world, ALICE)["/rooms/dv-pop-up/"] == "Pop-up Room (renamed)"
    world.cli("room", "set", "dv-pop-up", "--bookers", BOB)
    assert "/rooms/dv-pop-up/" not in room_calendars(world, ALICE)
    assert "/rooms/dv-pop-up/" in room_calendars(world, BOB)
    world.cli("room", "remove", "dv-pop-up")
    assert "/rooms/dv-pop-up/" not in room_calendars(world, BOB)


def test_book_through_a_discovered_calendar_and_get_a_conflict_error(world):
    calendar = calendar_for(world, ALICE, "dv-atrium")
    start, end = ical_time(12, 9), ical_time(12, 10)
    saved = calendar.add_event(event(start, end, summary="Planning via python-caldav"))
    assert saved.url.path.startswith("/rooms/dv-atrium/")
    stored = world.request("GET", saved.url.path, user=BOB)
    assert stored.status_code == 200 and "Planning via python-caldav" in stored.text

    clash = calendar_for(world, BOB, "dv-atrium")
    with pytest.raises(caldav_error.DAVError) as raised:
        clash.add_event(event(ical_time(12, 9, 30), ical_time(12, 11),
                              summary="Overlaps"))
    assert "409" in str(raised.value) or "no-booking-conflict" in str(raised.value)
    summaries = [e.icalendar_component["SUMMARY"] for e in calendar.events()]
    assert "Overlaps" not in summaries and "Planning via python-caldav" in summaries


def test_a_room_one_may_not_book_is_readable_but_not_writable_by_url(world):
    room = client(world, ALICE).calendar(url=f"{world.url}/rooms/dv-board/")
    booked = world.put_ics("/rooms/dv-board/bob.ics", event(ical_time(13, 9), ical_time(13, 10), summary="Bob's"),
                           user=BOB)
    assert booked.status_code == 201
    assert [e.url.path for e in room.events()] == ["/rooms/dv-board/bob.ics"]
    with pytest.raises(caldav_error.DAVError):
        room.add_event(event(ical_time(13, 11), ical_time(13, 12), summary="Alice tries"))
    assert len(room.events()) == 1


def test_room_metadata_is_readable_over_propfind(world):
    body = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:" xmlns:R="urn:roomcal:caldav"><D:prop><D:displayname/>
<R:capacity/><R:location/><R:timezone/><R:rules/></D:prop></D:propfind>"""
    # alice may not book the lab, but may read what it is
    root = multistatus(world.request("PROPFIND", "/rooms/dv-lab/", user=ALICE, data=body,
                                     headers={"Depth": "0"}))
    prop = root.find(f"{DAV}response/{DAV}propstat/{DAV}prop")
    assert prop.findtext(f"{DAV}displayname") == "Lab 3"
    assert prop.findtext(f"{RC}capacity") == "8"
    assert prop.findtext(f"{RC}location") == "Building B"
    assert prop.findtext(f"{RC}timezone") == "Europe/Berlin"
    assert '"PT4H"' in prop.findtext(f"{RC}rules")


# -- the raw discovery of Apple Calendar and Thunderbird ------------------------------------------------
def test_discovery_from_server_url_and_login(world):
    well_known = world.request("PROPFIND", "/.well-known/caldav", user=ALICE, allow_redirects=False,
                               headers={"Depth": "0"})
    assert well_known.status_code == 301
    root_path = well_known.headers["Location"]
    assert root_path.endswith("/")

    body = """<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>
<D:current-user-principal/></D:prop></D:propfind>"""
    principal = multistatus(world.request("PROPFIND", "/", user=ALICE, data=body, headers={"Depth": "0"})) \
        .findtext(f".//{DAV}current-user-principal/{DAV}href")
    assert principal == f"/{ALICE}/"

    body = """<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"
 xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-home-set/></D:prop></D:propfind>"""
    home = multistatus(world.request("PROPFIND", principal, user=ALICE, data=body, headers={"Depth": "0"})) \
        .findtext(f".//{CAL}calendar-home-set/{DAV}href")
    assert home == f"/{ALICE}/"

    body = """<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>
<D:resourcetype/><D:displayname/><D:current-user-privilege-set/></D:prop></D:propfind>"""
    listing = multistatus(world.request("PROPFIND", home, user=ALICE, data=body, headers={"Depth": "1"}))
    calendars = {}
    for response in listing.findall(f"{DAV}response"):
        href = response.findtext(f"{DAV}href")
        prop = response.find(f"{DAV}propstat/{DAV}prop")
        if prop is not None and prop.find(f"{DAV}resourcetype/{CAL}calendar") is not None:
            privileges = {p.tag for p in prop.iter() if p.tag.startswith(DAV) and
                          p.tag not in (f"{DAV}privilege", f"{DAV}prop", f"{DAV}current-user-privilege-set")}
            calendars[href] = (prop.findtext(f"{DAV}displayname"), f"{DAV}write" in privileges)
    assert calendars.get("/rooms/dv-atrium/") == ("Atrium Hall", True)
    assert "/rooms/dv-board/" not in calendars and "/rooms/dv-lab/" not in calendars


def test_a_home_its_user_deleted_is_there_again_at_the_next_request(world):
    """As with Radicale: the home is made again when its user comes back (the store keeps no
    stale "it is there" of a home deleted through it)."""
    user = "dv-dora"
    world.add_user(user)
    body = """<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:"><D:prop>
<D:resourcetype/></D:prop></D:propfind>"""
    made = world.request("MKCALENDAR", f"/{user}/own/", user=user)
    assert made.status_code == 201, made.text
    listing = multistatus(world.request("PROPFIND", f"/{user}/", user=user, data=body, headers={"Depth": "1"}))
    assert f"/{user}/own/" in {r.findtext(f"{DAV}href") for r in listing.findall(f"{DAV}response")}
    deleted = world.request("DELETE", f"/{user}/", user=user)
    assert deleted.status_code in (200, 204), deleted.text
    multistatus(world.request("PROPFIND", f"/{user}/", user=user, data=body, headers={"Depth": "0"}))
    listing = multistatus(world.request("PROPFIND", f"/{user}/", user=user, data=body, headers={"Depth": "1"}))
    hrefs = {r.findtext(f"{DAV}href") for r in listing.findall(f"{DAV}response")}
    assert f"/{user}/" in hrefs and f"/{user}/own/" not in hrefs
    assert world.request("PROPFIND", f"/{user}/own/", user=user, data=body,
                         headers={"Depth": "0"}).status_code == 404


# -- Thunderbird 153, replayed (clients/thunderbird-153-traffic.log) ------------------------------------------
TB_MULTIGET = """<?xml version="1.0" encoding="UTF-8"?>
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>{href}</D:href></C:calendar-multiget>"""
TB_PROPFIND = """<?xml version="1.0" encoding="UTF-8"?>
<D:propfind xmlns:D='DAV:' xmlns:C='urn:ietf:params:xml:ns:caldav' xmlns:CS='http://calendarserver.org/ns/'><D:prop><D:resourcetype/><D:owner/><D:current-user-principal/><D:current-user-privilege-set/><D:supported-report-set/><C:supported-calendar-component-set/><CS:getctag/></D:prop></D:propfind>"""
TB_SYNC = """<?xml version="1.0" encoding="UTF-8"?>
<sync-collection xmlns="DAV:"><sync-token>{token}</sync-token><sync-level>1</sync-level><prop><getcontenttype/><getetag/></prop></sync-collection>"""


def tb(server, method, path, body="", depth=None, user=ALICE, **headers):
    headers = {"User-Agent": TB_AGENT, **headers}
    if depth is not None:
        headers["Depth"] = depth
    if body and "Content-Type" not in headers:
        headers["Content-Type"] = "text/xml; charset=utf-8"
    return server.request(method, path, user=user, data=body.encode(), headers=headers)


def tb_put(server, path, uid, summary, start, end, user=ALICE, **headers):
    body = THUNDERBIRD_EVENT.format(uid=uid, summary=summary, start=start, end=end).replace("\n", "\r\n")
    return tb(server, "PUT", path, body, user=user, **{"Content-Type": "text/calendar; charset=utf-8", **headers})


def sync(server, room, token, user=ALICE):
    root = multistatus(tb(server, "REPORT", f"/rooms/{room}/", TB_SYNC.format(token=token), depth="1", user=user))
    changes = {}
    for response in root.findall(f"{DAV}response"):
        href = response.findtext(f"{DAV}href")
        status = response.findtext(f"{DAV}status")
        if status and "404" in status:
            changes[href] = None
        else:
            changes[href] = response.findtext(f"{DAV}propstat/{DAV}prop/{DAV}getetag")
    return root.findtext(f"{DAV}sync-token"), changes


def test_thunderbird_flow_against_a_room(world):
    room = "dv-atrium"
    uid = str(uuid.uuid4())
    href = f"/rooms/{room}/{uid}.ics"
    start, end = ical_time(20, 9), ical_time(20, 10)

    # Initial sync of the (subscribed) room.
    token0, _ = sync(world, room, "")
    # Opaque URIs (RFC 6578): a room's are the change journal's numbers (storage/journal.py),
    # on both stores.
    assert token0.startswith("urn:roomcal:sync:")

    # PUT, as Thunderbird creates an event.
    put = tb_put(world, href, uid, "Booked via Thunderbird", start, end, **{"If-None-Match": "*"})
    assert put.status_code == 201, put.text
    # The room stamped the booking (who, when): the stored object is not Thunderbird's, so no
    # ETag (RFC 4791 §5.3.4); Thunderbird then fetches it, as below.
    assert "ETag" not in put.headers

    # calendar-multiget of what it just wrote.
    root = multistatus(tb(world, "REPORT", f"/rooms/{room}/", TB_MULTIGET.format(href=href), depth="1"))
    responses = root.findall(f"{DAV}response")
    assert [r.findtext(f"{DAV}href") for r in responses] == [href]
    prop = responses[0].find(f"{DAV}propstat/{DAV}prop")
    etag = prop.findtext(f"{DAV}getetag")
    assert etag
    data = prop.findtext(f"{CAL}calendar-data")
    assert f"UID:{uid}" in data and "SUMMARY:Booked via Thunderbird" in data and f"DTSTART:{start}" in data

    # PROPFIND depth 0 on the calendar: a writable VEVENT calendar.
    root = multistatus(tb(world, "PROPFIND", f"/rooms/{room}/", TB_PROPFIND, depth="0"))
    prop = root.find(f"{DAV}response/{DAV}propstat/{DAV}prop")
    assert prop.find(f"{DAV}resourcetype/{CAL}calendar") is not None
    assert prop.find(f"{DAV}resourcetype/{DAV}collection") is not None
    assert prop.findtext(f"{DAV}current-user-principal/{DAV}href") == f"/{ALICE}/"
    privileges = {p[0].tag for p in prop.findall(f"{DAV}current-user-privilege-set/{DAV}privilege")}
    assert {f"{DAV}read", f"{DAV}write"} <= privileges
    assert f"{DAV}write-properties" not in privileges  # rooms are configured by admins only
    reports = {r[0].tag for r in prop.findall(f"{DAV}supported-report-set/{DAV}supported-report/{DAV}report")}
    assert {f"{DAV}sync-collection", f"{CAL}calendar-multiget", f"{CAL}calendar-query"} <= reports
    components = {c.get("name") for c in prop.findall(f"{CAL}supported-calendar-component-set/{CAL}comp")}
    assert "VEVENT" in components
    ctag = prop.findtext(f"{CS}getctag")
    assert ctag

    options = tb(world, "OPTIONS", f"/{ALICE}/")
    assert options.status_code == 200 and "calendar-access" in options.headers.get("DAV", "")

    # sync-collection: the new event, then nothing, then someone else's booking and a deletion.
    token1, changes = sync(world, room, token0)
    assert changes.get(href) == etag and token1 != token0
    token2, changes = sync(world, room, token1)
    assert changes == {} and token2 == token1

    other_uid = str(uuid.uuid4())
    other = f"/rooms/{room}/{other_uid}.ics"
    assert tb_put(world, other, other_uid, "Bob's", ical_time(20, 11), ical_time(20, 12), user=BOB).status_code == 201
    token3, changes = sync(world, room, token2)
    assert set(changes) == {other} and changes[other] and token3 != token2
    # The ctag moved with the change.
    root = multistatus(tb(world, "PROPFIND", f"/rooms/{room}/", TB_PROPFIND, depth="0"))
    assert root.findtext(f".//{CS}getctag") != ctag
    assert world.request("DELETE", other, user=BOB).status_code == 200
    token4, changes = sync(world, room, token3)
    assert changes == {other: None} and token4 != token3


    # Editing with If-Match, as Thunderbird does; a stale ETag is refused.
    edited = tb_put(world, href, uid, "Booked via Thunderbird (moved)", ical_time(20, 13), ical_time(20, 14),
                    **{"If-Match": etag})
    assert edited.status_code == 204, edited.text
    stale = tb_put(world, href, uid, "Stale", ical_time(20, 15), ical_time(20, 16), **{"If-Match": etag})
    assert stale.status_code == 412
    assert "moved" in world.request("GET", href, user=ALICE).text

    # A conflicting booking from Thunderbird gets a 409 with an explanation.
    clash_uid = str(uuid.uuid4())
    clash = tb_put(world, f"/rooms/{room}/{clash_uid}.ics", clash_uid, "Clash", ical_time(20, 13),
                   ical_time(20, 14), user=CAROL, **{"If-None-Match": "*"})
    assert clash.status_code == 409
    error = ET.fromstring(clash.content)
    assert error.tag == f"{DAV}error" and error.findtext(f"{DAV}responsedescription")
    assert href in clash.text


def test_thunderbird_sees_a_room_it_may_not_book_as_read_only(world):
    root = multistatus(tb(world, "PROPFIND", "/rooms/dv-board/", TB_PROPFIND, depth="0"))
    privileges = {p[0].tag for p in root.findall(f".//{DAV}current-user-privilege-set/{DAV}privilege")}
    assert f"{DAV}read" in privileges
    assert f"{DAV}write" not in privileges and f"{DAV}write-content" not in privileges


def test_thunderbird_with_an_unknown_sync_token_starts_over(world):
    response = tb(world, "REPORT", "/rooms/dv-atrium/",
                  TB_SYNC.format(token="http://radicale.org/ns/sync/" + "0" * 64), depth="1")
    assert response.status_code == 403   # RFC 6578: DAV:valid-sync-token is a 403 precondition
    assert "valid-sync-token" in response.text

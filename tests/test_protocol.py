"""Protocol correctness found by external suites (issue 12): names in URLs, components,
ETags of writes, [auth] type = none.  Through a real server, with raw HTTP and python-caldav."""

import json
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote

import caldav
import pytest

from conftest import assert_no_500, event, new_room

ALICE, BOB, ADMIN = "pr-alice", "pr-bob", "pr-admin"
CALENDAR = f"/{ALICE}/cal/"
SLOT = ("20271206T100000Z", "20271206T110000Z")
SLOT_LATER = ("20271206T120000Z", "20271206T130000Z")
JSON = {"Accept": "application/json"}
# The names vdirsyncer's storage tests use (test_specialchars, test_dav_unicode_href), and
# the characters URLs get wrong most often: one percent-decoding too many turns "a%41" into
# "aA", "+" into " ", Latin-1 turns "ä" into "Ã¤".
NAMES = ["ä.ics", "lolätvdirsynceröü град сатану.ics", "test @ foo ät bar град сатану.ics",
         "a%41.ics", "100%.ics", "a+b.ics", "a b.ics", "x@y.ics", "Ã¤.ics", "日本語.ics"]


@pytest.fixture(scope="module", autouse=True)
def setup(server):
    server.add_user(ALICE)
    server.add_user(BOB)
    server.add_user(ADMIN, admin=True)
    assert server.request("MKCALENDAR", CALENDAR, user=ALICE).status_code == 201
    yield
    assert_no_500(server)


def hrefs_of(multistatus) -> set:
    return {h.text for h in ET.fromstring(multistatus.content).iter("{DAV:}href")}


# -- 1. names in URLs -----------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_a_name_round_trips_through_caldav_and_json(server, name):
    url = CALENDAR + quote(name)
    put = server.put_ics(url, event(*SLOT, summary=f"Named {name}"), user=ALICE)
    assert put.status_code == 201, put.text
    got = server.request("GET", url, user=ALICE)
    assert got.status_code == 200 and f"Named {name}" in got.text
    as_json = server.request("GET", url, user=ALICE, headers=JSON)
    assert as_json.status_code == 200 and as_json.json()["title"] == f"Named {name}"
    # PROPFIND lists the href in the form the client used; that href fetches the item.
    listed = hrefs_of(server.request("PROPFIND", CALENDAR, user=ALICE, headers={"Depth": "1"}))
    assert url in listed
    # The JSON listing has the same href.
    responses = server.request("GET", CALENDAR, user=ALICE, headers=JSON).json()["responses"]
    assert responses[url]["title"] == f"Named {name}"
    assert server.request("DELETE", url, user=ALICE).status_code == 200
    assert server.request("GET", url, user=ALICE).status_code == 404


def test_move_to_a_special_name(server):
    source = CALENDAR + f"{uuid.uuid4()}.ics"
    assert server.put_ics(source, event(*SLOT, summary="Moved"), user=ALICE).status_code == 201
    target = CALENDAR + quote("verschoben nach Köln 100%.ics")
    moved = server.request("MOVE", source, user=ALICE, headers={"Destination": server.url + target})
    assert moved.status_code == 201, moved.text
    assert "Moved" in server.request("GET", target, user=ALICE).text
    assert target in hrefs_of(server.request("PROPFIND", CALENDAR, user=ALICE, headers={"Depth": "1"}))
    assert server.request("DELETE", target, user=ALICE).status_code == 200


SYNC = ('<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token>'
        '<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>')


def sync(server, path, token=""):
    answer = server.request("REPORT", path, user=ALICE, data=SYNC.format(token=token), headers={"Depth": "1"})
    assert answer.status_code == 207, answer.text
    root = ET.fromstring(answer.content)
    changed = {r.findtext("{DAV:}href"): "404" not in (r.findtext("{DAV:}status") or "")
               for r in root.iter("{DAV:}response")}
    return root.findtext("{DAV:}sync-token"), changed


def test_a_move_between_calendars_reaches_sync_clients_of_both(server):
    other = f"/{ALICE}/moved-to/"
    assert server.request("MKCALENDAR", other, user=ALICE).status_code == 201
    source, target = CALENDAR + f"{uuid.uuid4()}.ics", other + quote("ziel ä.ics")
    assert server.put_ics(source, event(*SLOT, summary="Moving"), user=ALICE).status_code == 201
    (from_token, _), (to_token, _) = sync(server, CALENDAR), sync(server, other)
    moved = server.request("MOVE", source, user=ALICE, headers={"Destination": server.url + target})
    assert moved.status_code == 201, moved.text
    assert sync(server, CALENDAR, from_token)[1] == {source: False}   # gone from here
    assert sync(server, other, to_token)[1] == {target: True}        # new there


def test_an_encoded_slash_is_a_path_separator_as_in_radicale(server):
    # Radicale's own server unquotes %2F too: a PUT there is a PUT into a sub-collection.
    put = server.put_ics(CALENDAR + "foo%2Fbar.ics", event(*SLOT), user=ALICE)
    assert put.status_code == 403


def test_json_writes_answer_encoded_locations(server):
    name = "Bespr échung 100%.ics"
    url = CALENDAR + quote(name)
    created = server.request("PUT", url, user=ALICE, data=json.dumps({
        "@type": "Event", "title": "JSON", "start": "2027-12-07T10:00:00", "timeZone": "UTC",
        "duration": "PT1H"}), headers={"Content-Type": "application/json"})
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == url
    assert server.request("GET", created.headers["Location"], user=ALICE).status_code == 200
    uid = "posted ä 100%"
    posted = server.request("POST", CALENDAR, user=ALICE, data=json.dumps({
        "@type": "Event", "uid": uid, "title": "Posted", "start": "2027-12-08T10:00:00",
        "timeZone": "UTC", "duration": "PT1H"}), headers={"Content-Type": "application/json"})
    assert posted.status_code == 201 and posted.headers["Location"] == CALENDAR + quote(uid + ".ics")
    assert server.request("GET", posted.headers["Location"], user=ALICE).status_code == 200


def test_special_names_in_a_room(server):
    room_id = new_room(server, "prnames")
    for number, name in enumerate(["ä.ics", "град сатану.ics", "a%41.ics"]):
        url = f"/rooms/{room_id}/{quote(name)}"
        start, end = f"2027120{number + 1}T100000Z", f"2027120{number + 1}T110000Z"
        assert server.put_ics(url, event(start, end), user=ALICE).status_code == 201
        assert url in hrefs_of(server.request("PROPFIND", f"/rooms/{room_id}/", user=BOB,
                                              headers={"Depth": "1"}))
        # The booking core sees it under that name: a clash names its href, encoded.
        clash = server.put_ics(f"/rooms/{room_id}/{uuid.uuid4()}.ics", event(start, end), user=BOB)
        assert clash.status_code == 409 and f"<D:href>{url}</D:href>" in clash.text
        assert server.request("GET", url, user=BOB, headers=JSON).status_code == 200
        listed = server.request("GET", f"/api/rooms/{room_id}/bookings", user=BOB).json()["bookings"]
        assert url in {b["href"] for b in listed}
        # Only the booker may delete it (the booking core found it by its name).
        assert server.request("DELETE", url, user=BOB).status_code == 403
        assert server.request("DELETE", url, user=ALICE).status_code == 200


def test_python_caldav_with_a_unicode_uid(server):
    client = caldav.DAVClient(url=server.url, username=ALICE, password=server.passwords[ALICE])
    calendar = client.calendar(url=server.url + CALENDAR)
    uid = f"test @ foo ät bar град сатану {uuid.uuid4()}"
    calendar.save_event(event(*SLOT, uid=uid, summary="python-caldav"))
    found = [e for e in calendar.events() if uid in e.data]
    assert len(found) == 1
    again = calendar.event_by_uid(uid)
    assert "python-caldav" in again.data
    again.delete()
    assert not [e for e in calendar.events() if uid in e.data]


# -- 2. components ---------------------------------------------------------------------------
CALDAV_NS = "urn:ietf:params:xml:ns:caldav"
TODO = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//roomcal tests//EN\r\nBEGIN:VTODO\r\n"
        "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDUE:20271206T100000Z\r\nSUMMARY:Task\r\n"
        "END:VTODO\r\nEND:VCALENDAR\r\n")
COMPONENTS_PROPFIND = (f'<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:C="{CALDAV_NS}"><D:prop>'
                       '<C:supported-calendar-component-set/></D:prop></D:propfind>')


def components_of(server, path, user=ALICE) -> list:
    answer = server.request("PROPFIND", path, user=user, data=COMPONENTS_PROPFIND, headers={"Depth": "0"})
    assert answer.status_code == 207
    return [c.get("name") for c in ET.fromstring(answer.content).iter(f"{{{CALDAV_NS}}}comp")]


def assert_unsupported_component(answer, room_name, what):
    assert answer.status_code == 403, answer.text
    root = ET.fromstring(answer.content)
    assert root.tag == "{DAV:}error"
    assert root.find(f"{{{CALDAV_NS}}}supported-calendar-component") is not None
    assert root.findtext("{DAV:}responsedescription") == (
        f"{room_name} takes events (VEVENT) only, not {what}: a room is booked with an event.")


@pytest.mark.parametrize("kind, what", [("VTODO", "a task (VTODO)"),
                                        ("VJOURNAL", "a journal entry (VJOURNAL)")])
def test_a_task_or_journal_entry_put_into_a_room_is_403_supported_calendar_component(server, kind, what):
    room_id = new_room(server, "prcomp")
    body = TODO.replace("VTODO", kind).replace("DUE:", "DTSTART:").format(uid=uuid.uuid4())
    assert_unsupported_component(server.put_ics(f"/rooms/{room_id}/t.ics", body, user=ALICE),
                                 f"Room {room_id}", what)
    # A personal calendar takes it, as in Radicale.
    assert server.put_ics(CALENDAR + f"{uuid.uuid4()}.ics", body, user=ALICE).status_code == 201


def test_every_way_into_a_room_refuses_a_task(server):
    room_id = new_room(server, "prways")
    name = f"Room {room_id}"
    sentence = f"{name} takes events (VEVENT) only, not a task (VTODO): a room is booked with an event."
    todo = TODO.format(uid=uuid.uuid4())
    # MOVE from a personal calendar
    source = CALENDAR + f"{uuid.uuid4()}.ics"
    assert server.put_ics(source, todo, user=ALICE).status_code == 201
    moved = server.request("MOVE", source, user=ALICE,
                           headers={"Destination": f"{server.url}/rooms/{room_id}/moved.ics"})
    assert_unsupported_component(moved, name, "a task (VTODO)")
    # JSON on the CalDAV URL: a JSCalendar Task, by POST and by PUT
    task = {"@type": "Task", "title": "Task", "due": "2027-12-06T10:00:00"}
    for method, path in (("POST", f"/rooms/{room_id}/"), ("PUT", f"/rooms/{room_id}/task.ics")):
        answer = server.request(method, path, user=ALICE, data=json.dumps(task),
                                headers={"Content-Type": "application/json"})
        assert answer.status_code == 422 and answer.json() == {
            "error": 422, "type": "unsupportedComponent", "message": sentence, "properties": ["/@type"]}
    # /api: iCalendar and JSON
    api = server.request("POST", f"/api/rooms/{room_id}/bookings", user=ALICE, data=todo,
                         headers={"Content-Type": "text/calendar"})
    assert api.status_code == 422 and api.json()["message"] == sentence
    api = server.request("POST", f"/api/rooms/{room_id}/bookings", user=ALICE, json={
        **task, "start": "2027-12-06T10:00:00", "end": "2027-12-06T11:00:00"})
    assert api.status_code == 422 and sentence.rstrip(".") in api.json()["message"]
    # JSON PATCH turning a booking into a task
    booked = server.put_ics(f"/rooms/{room_id}/e.ics", event(*SLOT), user=ALICE)
    assert booked.status_code == 201
    patched = server.request("PATCH", f"/rooms/{room_id}/e.ics", user=ALICE,
                             data=json.dumps({"@type": "Task"}), headers={"Content-Type": "application/json"})
    assert patched.status_code == 422 and patched.json()["message"] == sentence
    assert [h for h in hrefs_of(server.request("PROPFIND", f"/rooms/{room_id}/", user=ALICE,
                                               headers={"Depth": "1"})) if h.endswith(".ics")] == [
        f"/rooms/{room_id}/e.ics"]


def stored_props(server, path, props=None) -> dict:
    """A collection's properties as the store holds them (its .Radicale.props, its row),
    or written there behind the server's back."""
    if server.store == "file":
        props_file = f"{server.dir}/data/collections/collection-root/{path}/.Radicale.props"
        with open(props_file, "r" if props is None else "w") as f:
            return json.load(f) if props is None else json.dump(props, f)
    import psycopg
    with psycopg.connect(server.database) as db:
        if props is not None:
            db.execute("UPDATE collections SET props = %s WHERE path = %s", (json.dumps(props), path))
            return props
        return json.loads(db.execute("SELECT props FROM collections WHERE path = %s", (path,)).fetchone()[0])


def test_rooms_advertise_events_only(server, tmp_path):
    room_id = new_room(server, "pradv")
    assert components_of(server, f"/rooms/{room_id}/") == ["VEVENT"]
    assert sorted(components_of(server, CALENDAR)) == ["VEVENT", "VJOURNAL", "VTODO"]
    client = caldav.DAVClient(url=server.url, username=ALICE, password=server.passwords[ALICE])
    assert client.calendar(url=f"{server.url}/rooms/{room_id}/").get_supported_components() == ["VEVENT"]
    # A room whose stored properties say otherwise (made by an older roomcal, or an admin's
    # PROPPATCH) still advertises, and takes, events only: no migration.
    proppatch = server.request("PROPPATCH", f"/rooms/{room_id}/", user=ADMIN, data=(
        f'<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:C="{CALDAV_NS}"><D:set><D:prop>'
        '<C:supported-calendar-component-set><C:comp name="VTODO"/></C:supported-calendar-component-set>'
        '</D:prop></D:set></D:propertyupdate>'))
    assert proppatch.status_code == 207
    props = stored_props(server, f"rooms/{room_id}")
    assert props["C:supported-calendar-component-set"] == "VTODO"
    del props["C:supported-calendar-component-set"]
    stored_props(server, f"rooms/{room_id}", props)
    assert components_of(server, f"/rooms/{room_id}/") == ["VEVENT"]
    assert server.put_ics(f"/rooms/{room_id}/t.ics", TODO.format(uid=uuid.uuid4()),
                          user=ALICE).status_code == 403


# -- 3. ETags of writes ------------------------------------------------------------------------
def test_a_put_the_room_changes_gets_no_etag_and_a_client_following_the_rules_works(server):
    room_id = new_room(server, "pretag")
    url = f"/rooms/{room_id}/{uuid.uuid4()}.ics"
    put = server.put_ics(url, event(*SLOT, summary="Mine"), user=ALICE, **{"If-None-Match": "*"})
    # Stored with who booked it and when: not the client's object, so no ETag (RFC 4791 §5.3.4).
    assert put.status_code == 201 and "ETag" not in put.headers
    got = server.request("GET", url, user=ALICE)
    assert f"X-ROOMCAL-BOOKED-BY:{ALICE}" in got.text
    # The client edits what it fetched (the stamps kept, as clients keep X- properties):
    # stored as sent, so this answer has the ETag, the one GET and PROPFIND give.
    edited = got.text.replace("SUMMARY:Mine", "SUMMARY:Mine edited")
    again = server.put_ics(url, edited, user=ALICE, **{"If-Match": got.headers["ETag"]})
    assert again.status_code == 204 and again.headers.get("ETag")
    after = server.request("GET", url, user=ALICE)
    assert after.headers["ETag"] == again.headers["ETag"] and "Mine edited" in after.text
    # Its copy is stale to nobody: the ETag it has is the server's.
    stale = server.put_ics(url, edited, user=ALICE, **{"If-Match": got.headers["ETag"]})
    assert stale.status_code == 412
    assert server.request("DELETE", url, user=ALICE,
                          headers={"If-Match": again.headers["ETag"]}).status_code == 200


def test_approval_status_set_by_the_room_means_no_etag(server):
    room_id = new_room(server, "prappr", "--approval")
    url = f"/rooms/{room_id}/{uuid.uuid4()}.ics"
    put = server.put_ics(url, event(*SLOT, extra="STATUS:CONFIRMED"), user=ALICE)
    assert put.status_code == 201 and "ETag" not in put.headers
    got = server.request("GET", url, user=ALICE)
    assert "STATUS:TENTATIVE" in got.text
    # Asking for CONFIRMED again: the room keeps it pending, so again no ETag.
    confirmed = got.text.replace("STATUS:TENTATIVE", "STATUS:CONFIRMED")
    again = server.put_ics(url, confirmed, user=ALICE, **{"If-Match": got.headers["ETag"]})
    assert again.status_code == 204 and "ETag" not in again.headers
    assert "STATUS:TENTATIVE" in server.request("GET", url, user=ALICE).text


def test_personal_calendars_and_whole_collection_puts(server):
    # Nothing changes what a personal calendar stores: its PUT keeps its ETag, as in Radicale.
    url = CALENDAR + f"{uuid.uuid4()}.ics"
    put = server.put_ics(url, event(*SLOT), user=ALICE)
    assert put.status_code == 201 and put.headers["ETag"] == server.request("GET", url, user=ALICE).headers["ETag"]
    # An admin's whole-room upload is stamped too: no ETag.
    room_id = new_room(server, "prwhole")
    whole = server.put_ics(f"/rooms/{room_id}/", event(*SLOT), user=ADMIN)
    assert whole.status_code == 201 and "ETag" not in whole.headers


def test_json_writes_give_the_etag_with_the_stored_event_only(server):
    room_id = new_room(server, "prjson")
    body = {"@type": "Event", "title": "JSON", "start": "2027-12-06T10:00:00", "timeZone": "UTC",
            "duration": "PT1H"}
    url = f"/rooms/{room_id}/json.ics"
    plain = server.request("PUT", url, user=ALICE, data=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert plain.status_code == 201 and "ETag" not in plain.headers
    shown = server.request("PUT", url, user=ALICE, data=json.dumps({**body, "title": "Shown"}),
                           headers={"Content-Type": "application/json", "Prefer": "return=representation",
                                    "If-Match": server.request("GET", url, user=ALICE).headers["ETag"]})
    assert shown.status_code == 200 and shown.json()["title"] == "Shown"
    got = server.request("GET", url, user=ALICE, headers=JSON)
    assert shown.headers["ETag"] == got.headers["ETag"] and shown.json() == got.json()
    patched = server.request("PATCH", url, user=ALICE, data=json.dumps({"title": "Patched"}),
                             headers={"Content-Type": "application/json", "If-Match": shown.headers["ETag"]})
    assert patched.status_code == 204 and "ETag" not in patched.headers
    patched = server.request("PATCH", url, user=ALICE, data=json.dumps({"title": "Patched again"}),
                             headers={"Content-Type": "application/json", "Prefer": "return=representation",
                                      "If-Match": server.request("GET", url, user=ALICE).headers["ETag"]})
    assert patched.status_code == 200 and patched.json()["title"] == "Patched again"
    assert patched.headers["ETag"] == server.request("GET", url, user=ALICE).headers["ETag"]
    # /api: the body names the stored booking's ETag; no header claims the answer is the booking.
    api = server.request("POST", f"/api/rooms/{room_id}/bookings", user=ALICE, json={
        "title": "API", "start": "2027-12-07T10:00:00", "end": "2027-12-07T11:00:00"})
    assert api.status_code == 201 and "ETag" not in api.headers
    assert api.json()["etag"] == server.request("GET", api.json()["href"], user=ALICE).headers["ETag"]


def test_python_caldav_edits_a_room_booking(server):
    room_id = new_room(server, "prpycal")
    client = caldav.DAVClient(url=server.url, username=ALICE, password=server.passwords[ALICE])
    room = client.calendar(url=f"{server.url}/rooms/{room_id}/")
    uid = str(uuid.uuid4())
    room.save_event(event(*SLOT, uid=uid, summary="Before"))
    booking = room.event_by_uid(uid)
    booking.vobject_instance.vevent.summary.value = "After"
    booking.save()
    assert "SUMMARY:After" in room.event_by_uid(uid).data


# -- 4. [auth] type = none ---------------------------------------------------------------------
def test_auth_none_opens_personal_calendars_as_radicale_does_but_never_rooms(make_server):
    srv = make_server(start=False)
    # Radicale's own auth types take no options of roomcal's: the accounts go to their default.
    srv.configure(("type = roomcal.plugins.auth", "type = none"),
                  ("roomcal_accounts = data/accounts.sqlite\n", ""), ("roomcal_bcrypt_rounds = 4\n", ""))
    srv.start()
    srv.add_user(ALICE)
    srv.add_user(BOB)
    open_room, hidden_room = new_room(srv, "pranon"), new_room(srv, "prhidden", "--status", "hidden")
    booking = f"/rooms/{open_room}/{uuid.uuid4()}.ics"
    assert srv.put_ics(booking, event(*SLOT), user=ALICE).status_code == 201

    # Personal calendars: what Radicale's owner_only does with [auth] type = none (its tests
    # test_collections_and_items and test_put_collections_and_items): anyone, anonymous too.
    assert srv.request("MKCOL", "/someone/").status_code == 201
    assert srv.request("MKCALENDAR", "/someone/cal/").status_code == 201
    assert srv.put_ics("/someone/cal/e.ics", event(*SLOT)).status_code == 201
    assert srv.request("GET", "/someone/cal/e.ics").status_code == 200
    assert srv.request("MKCALENDAR", f"/{ALICE}/cal/", user=ALICE).status_code == 201
    assert srv.put_ics(f"/{ALICE}/cal/from-bob.ics", event(*SLOT), user=BOB).status_code == 201
    assert srv.request("MKCALENDAR", "/").status_code == 401

    # Rooms: anonymous requests may read, never book, change, move in or delete.
    assert srv.request("GET", booking).status_code == 200
    listed = hrefs_of(srv.request("PROPFIND", "/rooms/", headers={"Depth": "1"}))
    assert f"/rooms/{open_room}/" in listed and f"/rooms/{hidden_room}/" not in listed
    assert srv.put_ics(f"/rooms/{open_room}/anon.ics", event(*SLOT_LATER)).status_code == 401
    assert srv.put_ics(booking, event(*SLOT, summary="Taken over")).status_code == 401
    assert srv.request("DELETE", booking).status_code == 401
    assert srv.put_ics(f"/rooms/{open_room}/", event(*SLOT_LATER)).status_code == 401
    assert srv.request("MOVE", "/someone/cal/e.ics",
                       headers={"Destination": f"{srv.url}/rooms/{open_room}/moved.ics"}).status_code == 401
    assert srv.request("MKCALENDAR", "/rooms/anon-room/").status_code == 401
    assert srv.request("POST", f"/rooms/{open_room}/", data=json.dumps({
        "@type": "Event", "title": "JSON", "start": "2027-12-06T12:00:00", "timeZone": "UTC",
        "duration": "PT1H"}), headers={"Content-Type": "application/json"}).status_code == 401
    assert "Taken over" not in srv.request("GET", booking, user=ALICE).text
    assert [h for h in hrefs_of(srv.request("PROPFIND", f"/rooms/{open_room}/", user=ALICE,
                                            headers={"Depth": "1"})) if h.endswith(".ics")] == [booking]
    # People who log in book as before.
    assert srv.put_ics(f"/rooms/{open_room}/{uuid.uuid4()}.ics", event(*SLOT_LATER),
                       user=BOB).status_code == 201
    assert_no_500(srv)


# -- 5. expanding floating recurring events ---------------------------------------------------
EXPAND = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
          '<D:prop><C:calendar-data><C:expand start="20280101T000000Z" end="20280801T000000Z"/>'
          '</C:calendar-data></D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
          '<C:time-range start="20280101T000000Z" end="20280801T000000Z"/></C:comp-filter></C:comp-filter>'
          '</C:filter></C:calendar-query>')
FLOATING_SERIES = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\n"
                   "DTSTAMP:20270101T000000Z\r\nDTSTART:20280103T100000\r\nDTEND:20280103T110000\r\n"
                   "RRULE:FREQ=MONTHLY;COUNT=7\r\nEXDATE:20280203T100000\r\nSUMMARY:Floating\r\n"
                   "END:VEVENT\r\nEND:VCALENDAR\r\n")


def expanded_starts(server, collection, uid):
    r = server.request("REPORT", collection, user=ADMIN if collection.startswith("/rooms/") else ALICE,
                       headers={"Depth": "1", "Content-Type": "application/xml"}, data=EXPAND)
    assert r.status_code == 207, r.text
    data = "".join(e.text or "" for e in ET.fromstring(r.content).iter("{urn:ietf:params:xml:ns:caldav}calendar-data"))
    blocks = [b for b in data.split("BEGIN:VEVENT")[1:] if f"UID:{uid}" in b]
    return sorted(line.split(":", 1)[1].strip() for b in blocks for line in b.splitlines()
                  if line.startswith("DTSTART"))


def test_expanding_a_floating_series_reads_it_in_the_calendars_zone(server):
    """Radicale 3.9 answered <C:expand> of a recurring event with floating times with a 500
    (its expansion compares them with the UTC range).  RFC 4791 §9.6.5: floating times are read
    in the calendar's time zone — a room's own zone (as the booking core reads them), UTC
    in a personal calendar without one."""
    uid = uuid.uuid4().hex
    assert server.put_ics(f"{CALENDAR}{uid}.ics", FLOATING_SERIES.format(uid=uid), user=ALICE).status_code == 201
    assert expanded_starts(server, CALENDAR, uid) == [
        "20280103T100000Z", "20280303T100000Z", "20280403T100000Z", "20280503T100000Z",
        "20280603T100000Z", "20280703T100000Z"]
    room = new_room(server, "fl-", tz="Europe/Berlin")
    uid = uuid.uuid4().hex
    assert server.put_ics(f"/rooms/{room}/{uid}.ics", FLOATING_SERIES.format(uid=uid), user=ALICE).status_code == 201
    assert expanded_starts(server, f"/rooms/{room}/", uid) == [   # 10:00 in Berlin, CET then CEST
        "20280103T090000Z", "20280303T090000Z", "20280403T080000Z", "20280503T080000Z",
        "20280603T080000Z", "20280703T080000Z"]


BERLIN_SERIES = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
                 "BEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\n"
                 "DTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n"
                 "BEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\n"
                 "DTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\n"
                 "END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20270101T000000Z\r\n"
                 "DTSTART;TZID=Europe/Berlin:20280103T100000\r\nDTEND;TZID=Europe/Berlin:20280103T110000\r\n"
                 "RRULE:FREQ=MONTHLY;COUNT=7\r\nSUMMARY:Berlin\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def test_a_series_in_a_named_zone_keeps_its_wall_clock_time_across_dst(server):
    """10:00 in Berlin is 09:00Z in winter and 08:00Z in summer, in Radicale's own expansion
    and free-busy too (a zone that vobject takes from pytz kept January's offset all year)."""
    uid = uuid.uuid4().hex
    assert server.put_ics(f"{CALENDAR}{uid}.ics", BERLIN_SERIES.format(uid=uid), user=ALICE).status_code == 201
    assert expanded_starts(server, CALENDAR, uid) == [
        "20280103T090000Z", "20280203T090000Z", "20280303T090000Z", "20280403T080000Z",
        "20280503T080000Z", "20280603T080000Z", "20280703T080000Z"]
    r = server.request("REPORT", CALENDAR, user=ALICE, headers={"Depth": "1", "Content-Type": "application/xml"},
                       data='<?xml version="1.0"?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
                            '<C:time-range start="20280601T000000Z" end="20280701T000000Z"/></C:free-busy-query>')
    assert r.status_code == 200 and "20280603T080000Z/20280603T090000Z" in r.text.replace("\r\n ", ""), r.text

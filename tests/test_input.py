"""Input that got a 500 or slipped through (issue 12), through a real server and the CLI:
XML bodies in any encoding, line breaks in JSCalendar members, dates at the ends of the
calendar, whole-value name and e-mail patterns, server-stamped members, room properties
in our words, unknown rooms and anonymous requests, unknown TZIDs in the log.
"""

import json
import os
import re
import uuid

import bcrypt
import psycopg
import pytest
import requests

from conftest import assert_no_500, event, new_room

ADMIN, ALICE, BOB = "in-admin", "in-alice", "in-bob"
XML = {"Content-Type": "application/xml"}
JSON = {"Content-Type": "application/json"}
PROPFIND = '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>'


@pytest.fixture(scope="module")
def srv(server):
    server.add_user(ADMIN, admin=True)
    server.add_user(ALICE, email="alice@example.org")
    server.add_user(BOB)
    yield server
    assert_no_500(server)


@pytest.fixture
def room(srv):
    return new_room(srv, "in", tz="Europe/Berlin")


def js_event(day=10, **members):
    return {"@type": "Event", "title": "Input", "start": f"2031-03-{day:02d}T10:00:00",
            "timeZone": "Europe/Berlin", "duration": "PT1H", **members}


def stored(srv, room_id, user=ALICE) -> dict:
    body = srv.request("GET", f"/rooms/{room_id}/", user=user,
                       headers={"Accept": "application/json"}).json()
    return body["responses"]


def dav_error(answer, status, condition, words):
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/xml"), answer.headers
    assert f"<R:{condition}" in answer.text and "<D:responsedescription>" in answer.text, answer.text
    assert words in answer.text, answer.text


# -- 1. XML: a DOCTYPE is refused on the parsed document, whatever its encoding ----------------
DOCTYPE = '<!DOCTYPE d [<!ENTITY e "x">]>'
BODIES = {
    "utf-16 (BOM), charset given": (f'<?xml version="1.0" encoding="UTF-16"?>{DOCTYPE}{PROPFIND}'
                                    .encode("utf-16"), "utf-16"),
    "utf-16-le with BOM": (f'\ufeff<?xml version="1.0" encoding="UTF-16"?>{DOCTYPE}{PROPFIND}'
                           .encode("utf-16-le"), "utf-16-le"),
    "utf-16-be with BOM": (f'\ufeff<?xml version="1.0" encoding="UTF-16"?>{DOCTYPE}{PROPFIND}'
                           .encode("utf-16-be"), "utf-16-be"),
    "utf-8 with BOM": (f"\ufeff<?xml version=\"1.0\"?>{DOCTYPE}{PROPFIND}".encode(), None),
    "DOCTYPE after a comment": (f"<?xml version=\"1.0\"?><!-- hi --><!DOCTYPE d>{PROPFIND}".encode(), None),
    "external entity": ('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                        '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname>&e;</D:displayname>'
                        '</D:prop></D:propfind>'.encode(), None),
    "parameter entity": (('<?xml version="1.0"?><!DOCTYPE d [<!ENTITY % p "x"> %p;]>' + PROPFIND).encode(),
                         None),
}


@pytest.mark.parametrize("method", ["PROPFIND", "REPORT", "PROPPATCH"])
@pytest.mark.parametrize("name", list(BODIES))
def test_xml_with_a_doctype_is_400_in_any_encoding(srv, room, method, name):
    body, charset = BODIES[name]
    content_type = "application/xml" + (f"; charset={charset}" if charset else "")
    answer = srv.request(method, f"/rooms/{room}/", user=ADMIN, data=body,
                         headers={"Content-Type": content_type, "Depth": "0"})
    dav_error(answer, 400, "valid-xml", "DOCTYPE")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-8-sig"])
def test_xml_without_a_doctype_in_utf16_or_with_a_bom_is_read(srv, room, encoding):
    answer = srv.request("PROPFIND", f"/rooms/{room}/", user=ALICE, data=PROPFIND.encode(encoding),
                         headers={"Content-Type": f"application/xml; charset={encoding.split('-sig')[0]}",
                                  "Depth": "0"})
    assert answer.status_code == 207 and f"Room {room}" in answer.text, answer.text


def test_empty_propfind_is_400_with_a_sentence(srv, room):
    answer = srv.request("PROPFIND", f"/rooms/{room}/", user=ALICE, data=b'<D:propfind xmlns:D="DAV:"/>',
                         headers={**XML, "Depth": "0"})
    dav_error(answer, 400, "valid-xml", "empty")


# -- 2. line breaks and control characters in JSCalendar members ------------------------------
ONE_LINE = [
    ("/replyTo/imip", {"replyTo": {"imip": "mailto:a@example.org\r\nX-EVIL:1"}}),
    ("/participants/p1/sendTo/imip",
     {"participants": {"p1": {"@type": "Participant", "sendTo": {"imip": "mailto:a@example.org\nX:1"}}}}),
    ("/participants/p1/sendTo/example.com:x",
     {"participants": {"p1": {"@type": "Participant", "sendTo": {"example.com:x": "mailto:a@b.c\nX:1"}}}}),
    ("/participants/p1/email", {"participants": {"p1": {"@type": "Participant", "email": "a@example.org\r\n"}}}),
    ("/links/l1/href", {"links": {"l1": {"@type": "Link", "href": "https://example.org/\r\nX:1"}}}),
    ("/uid", {"uid": "in\r\nX:1"}),
    ("/keywords/a\nb", {"keywords": {"a\nb": True}}),
    ("/title", {"title": "bell\x07"}),
    ("/x-vendor", {"x-vendor": "a\u2028b"}),
]


@pytest.mark.parametrize("pointer,members", ONE_LINE, ids=[p for p, _ in ONE_LINE])
def test_line_breaks_where_iCalendar_cannot_take_them_are_422_naming_the_member(srv, room, pointer, members):
    answer = srv.request("POST", f"/rooms/{room}/", user=ALICE, headers=JSON,
                         data=json.dumps(js_event(**members)))
    assert answer.status_code == 422, answer.text
    assert answer.json()["properties"] == [pointer], answer.text
    assert stored(srv, room) == {}


def test_put_and_patch_are_checked_too(srv, room):
    path = f"/rooms/{room}/in-put.ics"
    assert srv.request("PUT", path, user=ALICE, headers=JSON, data=json.dumps(js_event())).status_code == 201
    bad = {"replyTo": {"imip": "mailto:a@example.org\nBcc: x@example.org"}}
    put = srv.request("PUT", path, user=ALICE, headers=JSON, data=json.dumps(js_event(**bad)))
    patch = srv.request("PATCH", path, user=ALICE, headers=JSON, data=json.dumps(bad))
    for answer in (put, patch):
        assert answer.status_code == 422 and answer.json()["properties"] == ["/replyTo/imip"], answer.text
    assert "replyTo" not in stored(srv, room)[path]


def test_line_breaks_in_free_text_are_escaped_not_refused(srv, room):
    text = "first line\nsecond line\r\nthird\ttabbed"
    answer = srv.request("POST", f"/rooms/{room}/", user=ALICE, headers=JSON, data=json.dumps(js_event(
        title="Two\nlines", description=text,
        participants={"p1": {"@type": "Participant", "name": "Ann\nLee", "email": "ann@example.org"}})))
    assert answer.status_code == 201, answer.text
    ical = srv.request("GET", answer.headers["Location"], user=ALICE).text
    assert "SUMMARY:Two\\nlines" in ical and "DESCRIPTION:first line\\nsecond line\\n" in ical
    assert "CN=Ann^nLee" in ical  # RFC 6868
    event_back, = stored(srv, room).values()
    assert event_back["title"] == "Two\nlines" and event_back["description"].startswith("first line\n")


@pytest.mark.parametrize("body,name", [({"uid": "a\nb"}, "uid"), ({"description": "nul\x00"}, "description")])
def test_short_booking_form_refuses_control_characters(srv, room, body, name):
    answer = srv.request("POST", f"/api/rooms/{room}/bookings", user=ALICE, json={
        "title": "x", "start": "2031-03-01T10:00", "end": "2031-03-01T11:00", **body})
    assert answer.status_code == 422 and answer.json()["properties"] == [f"/{name}"], answer.text
    assert f"{name} must" in answer.json()["message"]


# -- 3. dates at year 1 and 9999 ---------------------------------------------------------------
@pytest.mark.parametrize("query", [
    "start=0001-01-01&end=0001-01-05", "start=9999-12-30&end=9999-12-31",
    "start=0001-01-01T00:00:00Z&end=0001-01-02T00:00:00Z&duration=PT1H",
    "start=9999-12-31T00:00&end=9999-12-31T05:00&duration=PT1H"])
def test_availability_at_the_ends_of_the_calendar_is_400(srv, room, query):
    answer = srv.request("GET", f"/api/rooms/{room}/availability?{query}", user=ALICE)
    assert answer.status_code == 400 and "outside the years 1900 to 8999" in answer.json()["message"], answer.text


@pytest.mark.parametrize("query", ["free-from=0001-01-01T00:00&free-until=0001-01-01T05:00",
                                   "free-from=9999-12-31&free-until=9999-12-31"])
def test_finder_at_the_ends_of_the_calendar_is_400(srv, room, query):
    answer = srv.request("GET", f"/api/rooms?{query}", user=ALICE)
    assert answer.status_code == 400 and "outside the years" in answer.json()["message"], answer.text


def test_listings_from_year_1_to_9999_list_everything(srv, room):
    assert srv.request("POST", f"/rooms/{room}/", user=ALICE, headers=JSON,
                       data=json.dumps(js_event(uid="in-ends"))).status_code == 201
    everything = srv.request("GET", f"/rooms/{room}/?start=0001-01-01&end=9999-12-31", user=ALICE,
                             headers={"Accept": "application/json"})
    assert everything.status_code == 200 and len(everything.json()["responses"]) == 1, everything.text
    listed = srv.request("GET", f"/api/rooms/{room}/bookings?from=0001-01-01&to=9999-12-31", user=ALICE)
    assert [b["uid"] for b in listed.json()["bookings"]] == ["in-ends"], listed.text
    later = srv.request("GET", f"/api/rooms/{room}/bookings?from=9999-12-31T23:59:59", user=ALICE)
    assert later.status_code == 200 and later.json()["bookings"] == []


@pytest.mark.parametrize("start,extra", [("00010101T100000Z", "DURATION:PT1H"), ("99991231T100000Z", "DURATION:PT1H"),
                                         ("89991231T100000Z", "DURATION:P20000W"),
                                         ("89901231T100000Z", "DURATION:PT1H\nRRULE:FREQ=YEARLY;COUNT=20")])
def test_bookings_at_the_ends_of_the_calendar_are_refused(srv, room, start, extra):
    ics = event(start, "x", extra=extra).replace("DTEND:x\r\n", "")  # DURATION instead
    answer = srv.put_ics(f"/rooms/{room}/{uuid.uuid4().hex}.ics", ics, user=ALICE)
    dav_error(answer, 400, "valid-booking", "1900 to 8999")
    assert srv.request("GET", f"/api/rooms/{room}/bookings", user=ALICE).status_code == 200


@pytest.mark.parametrize("body", [js_event(start="0001-01-01T10:00:00"), js_event(start="9999-12-31T23:00:00"),
                                  {"title": "x", "start": "9999-12-31T10:00", "end": "9999-12-31T11:00"}])
def test_json_bookings_at_the_ends_of_the_calendar_are_422(srv, room, body):
    answer = srv.request("POST", f"/api/rooms/{room}/bookings", user=ALICE, json=body)
    assert answer.status_code == 422 and "1900 to 8999" in answer.json()["message"], answer.text


# -- 4. names, room ids and e-mail addresses are matched whole ---------------------------------
def users_file(srv) -> str:
    return os.path.join(srv.dir, "data", "users")


def password_names(srv) -> list:
    """The names that have a password: the htpasswd file's lines, or PostgreSQL's rows."""
    if srv.store == "file":
        with open(users_file(srv)) as f:
            return [line.partition(":")[0] for line in f]
    with psycopg.connect(srv.database) as db:
        return [name for (name,) in db.execute("SELECT name FROM passwords")]


def test_a_user_name_with_a_trailing_newline_is_refused(srv):
    answer = srv.cli("user", "add", "eve\n", "--password", "eve-pw", check=False)
    assert answer.returncode != 0 and "user name" in answer.stderr.lower(), answer
    assert not [name for name in password_names(srv) if name == "" or name.startswith("eve")]
    assert requests.get(srv.url + "/api/rooms", auth=("", "eve-pw"), timeout=30).status_code == 401


def test_a_password_line_without_a_name_never_logs_in(srv):
    # what the old writer produced for "eve\n"
    hashed = bcrypt.hashpw(b"nobody-pw", bcrypt.gensalt(4)).decode()
    if srv.store == "file":
        with open(users_file(srv), "a") as f:
            f.write(":" + hashed + "\n")
    else:
        with psycopg.connect(srv.database) as db:
            db.execute("INSERT INTO passwords(name, hash) VALUES ('', %s)", (hashed,))
    for method, path in (("GET", "/api/rooms"), ("PROPFIND", "/")):
        answer = requests.request(method, srv.url + path, auth=("", "nobody-pw"), timeout=30)
        assert answer.status_code == 401, (method, answer.text)


@pytest.mark.parametrize("email", ["bob@example.org\n", "bob@example.org\r\nBcc: eve@example.org",
                                   "bob@example.org, eve@example.org", "Bob <bob@example.org>", "bob@exa mple.org"])
def test_e_mail_addresses_are_one_address_on_every_path(srv, email):
    name = f"in-{uuid.uuid4().hex[:6]}"
    add = srv.cli("user", "add", name, "--password", "pw", "--email", email, check=False)
    assert add.returncode != 0 and "not an e-mail address" in add.stderr, add
    set_ = srv.cli("user", "set", BOB, "--email", email, check=False)
    assert set_.returncode != 0 and "not an e-mail address" in set_.stderr, set_
    post = srv.request("POST", "/api/admin/users", user=ADMIN, json={"name": name, "password": "pw", "email": email})
    patch = srv.request("PATCH", f"/api/admin/users/{BOB}", user=ADMIN, json={"email": email})
    for answer in (post, patch):
        assert answer.status_code == 422 and answer.json()["properties"] == ["email"], answer.text
    assert srv.request("GET", f"/api/admin/users/{BOB}", user=ADMIN).json()["email"] == ""
    assert name not in srv.cli("user", "list").stdout


def test_room_ids_with_a_newline_are_refused(srv, room):
    answer = srv.cli("room", "add", "in-r1\n", "--name", "R", check=False)
    assert answer.returncode != 0 and "room id" in answer.stderr.lower(), answer
    if srv.store == "file":
        folders = os.listdir(os.path.join(srv.dir, "data", "collections", "collection-root", "rooms"))
    else:
        with psycopg.connect(srv.database) as db:
            folders = [path.partition("/")[2] for (path,) in db.execute(
                "SELECT path FROM collections WHERE path LIKE 'rooms/%'")]
    assert room in folders and not [n for n in folders if "\n" in n]


# -- 5. what the server stamps is never taken from the client -----------------------------------
@pytest.mark.parametrize("member", ["x-roomcal-booked-by", "X-ROOMCAL-BOOKED-AT"])
def test_json_cannot_set_stamped_members(srv, room, member):
    path = f"/rooms/{room}/in-stamp.ics"
    post = srv.request("POST", f"/rooms/{room}/", user=ALICE, headers=JSON,
                       data=json.dumps(js_event(**{member: BOB})))
    assert srv.request("PUT", path, user=ALICE, headers=JSON, data=json.dumps(js_event(day=11))).status_code == 201
    put = srv.request("PUT", path, user=ALICE, headers=JSON, data=json.dumps(js_event(day=11, **{member: BOB})))
    patch = srv.request("PATCH", path, user=ALICE, headers=JSON, data=json.dumps({member: BOB}))
    api = srv.request("POST", f"/api/rooms/{room}/bookings", user=ALICE, json=js_event(day=12, **{member: BOB}))
    for answer in (post, put, patch, api):
        assert answer.status_code == 422 and answer.json()["properties"] == [f"/{member}"], answer.text


def test_caldav_cannot_forge_who_booked_and_json_shows_the_truth(srv, room):
    forged = ('X-ROOMCAL-BOOKED-BY:in-bob\nX-ROOMCAL-BOOKED-AT:20000101T000000Z\n'
              'X-JSCALENDAR-PROP:{"p":"/x-roomcal-booked-by"%2C"b":null%2C"v":"in-bob"}')
    answer = srv.put_ics(f"/rooms/{room}/in-forged.ics",
                         event("20310320T090000Z", "20310320T100000Z", uid="in-forged", extra=forged), user=ALICE)
    assert answer.status_code == 201, answer.text
    ical = srv.request("GET", f"/rooms/{room}/in-forged.ics", user=ALICE).text
    assert f"X-ROOMCAL-BOOKED-BY:{ALICE}" in ical and "BOOKED-AT:2000" not in ical
    assert not [k for k in stored(srv, room)[f"/rooms/{room}/in-forged.ics"] if "roomcal" in k.lower()]
    summary = srv.request("GET", f"/api/rooms/{room}/bookings/in-forged", user=ALICE).json()
    assert summary["roomcal"]["bookedBy"] == ALICE


# -- 6. room properties are read in our words ---------------------------------------------------
@pytest.mark.parametrize("name,value,words", [
    ("capacity", "lots", "capacity must be a whole number, not 'lots'"),
    ("rules", "no json", "rules must be a JSON object"),
    ("rules", "[1]", "rules must be a JSON object"),
    ("rules", '{"approval": "yes"}', "approval must be true or false"),
    ("rules", '{"opening-hours": 8}', "opening-hours must be text"),
    ("rules", '{"blackout": "2031-12-24/2031-12-26"}', "blackout must be a list"),
    ("timezone", "Mars/Base", "unknown time zone"),
])
def test_proppatch_of_a_bad_room_property_says_what_is_wrong(srv, room, name, value, words):
    body = ('<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:R="urn:roomcal:caldav"><D:set>'
            f'<D:prop><R:{name}>{value}</R:{name}></D:prop></D:set></D:propertyupdate>')
    answer = srv.request("PROPPATCH", f"/rooms/{room}/", user=ADMIN, data=body, headers=XML)
    dav_error(answer, 400, "valid-room", words)
    assert not re.search(r"invalid literal|Expecting value|sequence item|object has no attribute", answer.text)


# -- 7. unknown rooms are 404, anonymous requests are told to log in ---------------------------
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE", "PROPFIND", "PROPPATCH"])
@pytest.mark.parametrize("user", [ALICE, ADMIN])
def test_caldav_inside_an_unknown_room_is_404(srv, method, user):
    data = event("20310401T100000Z", "20310401T110000Z") if method == "PUT" else None
    answer = srv.request(method, "/rooms/in-nosuch/x.ics", user=user, data=data,
                         headers={"Content-Type": "text/calendar"} if data else {})
    dav_error(answer, 404, "notFound", "There is no room 'in-nosuch'")


@pytest.mark.parametrize("method,path", [("PUT", "/rooms/in-nosuch/x.ics"), ("POST", "/rooms/in-nosuch/"),
                                         ("PATCH", "/rooms/in-nosuch/x.ics")])
def test_json_inside_an_unknown_room_is_404(srv, method, path):
    answer = srv.request(method, path, user=ALICE, headers=JSON, data=json.dumps(js_event()))
    assert answer.status_code == 404 and answer.json()["message"] == "There is no room 'in-nosuch'.", answer.text


def test_a_new_room_by_mkcalendar_is_still_created(srv):
    room_id = f"in-{uuid.uuid4().hex[:6]}"
    assert srv.request("MKCALENDAR", f"/rooms/{room_id}/", user=ADMIN).status_code == 201
    assert srv.request("GET", f"/api/rooms/{room_id}", user=ADMIN).status_code == 200


@pytest.mark.parametrize("method", ["PROPFIND", "PUT", "GET"])
def test_anonymous_caldav_is_told_to_log_in(srv, room, method):
    answer = srv.request(method, f"/rooms/{room}/x.ics", data=b"" if method == "PUT" else None)
    dav_error(answer, 401, "authentication-required", "Authentication is required")
    assert "forbidden" not in answer.text.lower()
    challenges = answer.raw.headers.getlist("WWW-Authenticate")
    assert [c.split()[0] for c in challenges] == ["Basic", "Bearer"], challenges


def test_anonymous_json_is_told_to_log_in(srv, room):
    answer = srv.request("GET", f"/rooms/{room}/", headers={"Accept": "application/json"})
    assert answer.status_code == 401 and "Log in" in answer.json()["message"], answer.text


# -- 8. an unknown TZID is one WARNING with context ---------------------------------------------
def test_an_unknown_tzid_is_one_warning_with_context(srv, room):
    tzid = f"Mars/Olympus-{uuid.uuid4().hex[:6]}"
    answer = srv.put_ics(f"/rooms/{room}/in-tz.ics",
                         event("20310401T100000", "20310401T110000", uid="in-tz", tz=tzid), user=ALICE)
    dav_error(answer, 400, "valid-booking", f"unknown time zone '{tzid}'")
    home = srv.request("MKCALENDAR", f"/{ALICE}/in-cal/", user=ALICE)
    assert home.status_code == 201, home.text
    personal = srv.put_ics(f"/{ALICE}/in-cal/in-tz.ics",
                           event("20310401T100000", "20310401T110000", uid="in-tz", tz=tzid), user=ALICE)
    assert personal.status_code == 201  # Radicale reads it as UTC in a personal calendar
    lines = [line for line in srv.read_log().splitlines() if tzid in line and "[" in line]
    assert len(lines) == 2, lines
    for line, path in zip(lines, (f"PUT /rooms/{room}/in-tz.ics", f"PUT /{ALICE}/in-cal/in-tz.ics")):
        assert "[WARNING]" in line and path in line and f"by {ALICE}" in line, line

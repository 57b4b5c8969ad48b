"""Discovery for scheduling (issue 13): what calendar apps must find before they invite a room.

Through the real server, with raw HTTP (bodies as Thunderbird 153 and Apple Calendar
send them, answers parsed with lxml) and python-caldav: the DAV header, the
scheduling properties of a user's principal, room principals ``/.rooms/<id>/``, the
schedule inbox and outbox, and the principal searches.
"""

import json

import caldav
import pytest
from lxml import etree

from conftest import assert_no_500

D, C, CS, RC = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}", "{http://calendarserver.org/ns/}", \
    "{urn:roomcal:caldav}"
ALICE, BOB, ADMIN = "pr-alice", "pr-bob", "pr-admin"
XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
# What Thunderbird 153 PROPFINDs (Depth 0) on the principal to decide whether the server
# schedules (calendar/providers/caldav: checkPrincipalsNameSpace).
THUNDERBIRD_PRINCIPAL = (
    XML_HEADER + '<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop>'
    "<C:calendar-home-set/><C:calendar-user-address-set/><C:schedule-inbox-URL/>"
    "<C:schedule-outbox-URL/></D:prop></D:propfind>")
TB_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:153.0) Gecko/20100101 Thunderbird/153.0"


def cs_search(tokens, context=None, limit=None, props=("D:displayname", "C:calendar-user-type",
                                                       "C:calendar-user-address-set", "CS:record-type")):
    """An Apple Calendar calendarserver-principal-search body."""
    attribute = f' context="{context}"' if context else ""
    body = (XML_HEADER + '<CS:calendarserver-principal-search xmlns:CS="http://calendarserver.org/ns/" '
            f'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"{attribute}>')
    body += "".join(f"<CS:search-token>{t}</CS:search-token>" for t in tokens)
    if limit is not None:
        body += f"<CS:limit><CS:nresults>{limit}</CS:nresults></CS:limit>"
    body += "<D:prop>" + "".join(f"<{p}/>" for p in props) + "</D:prop>"
    return body + "</CS:calendarserver-principal-search>"


def property_search(match, prop="D:displayname", match_type=None, test=None, apply_to=False,
                    extra=""):
    attribute = f' match-type="{match_type}"' if match_type else ""
    body = (XML_HEADER + '<D:principal-property-search xmlns:D="DAV:" '
            f'xmlns:C="urn:ietf:params:xml:ns:caldav"{f" test={chr(34)}{test}{chr(34)}" if test else ""}>'
            f"<D:property-search><D:prop><{prop}/></D:prop><D:match{attribute}>{match}</D:match>"
            f"</D:property-search>{extra}")
    if apply_to:
        body += "<D:apply-to-principal-collection-set/>"
    return body + ("<D:prop><D:displayname/><C:calendar-user-type/><C:calendar-home-set/></D:prop>"
                   "</D:principal-property-search>")


@pytest.fixture(scope="module")
def world(server):
    server.add_user(ALICE, email="Alice@Example.org")
    server.add_user(BOB)
    server.add_user(ADMIN, admin=True)
    server.add_room("pr-meet", "--capacity", "12", "--location", "Building B, 2nd floor",
                    name="Meeting Room Alpha")
    server.add_room("pr-small", name="Small Meet")
    server.add_room("pr-hidden", "--status", "hidden", name="Hidden Meeting Place")
    server.add_room("pr-board", "--bookers", BOB, "--viewers", BOB, name="Board Meeting Room")
    server.cli("room", "set", "pr-small", "--email", "small@rooms.example.org")
    yield server
    assert_no_500(server)


def dav(server, method, path, user, body=None, depth=None, **headers):
    if depth is not None:
        headers["Depth"] = depth
    if body is not None:
        headers.setdefault("Content-Type", "application/xml; charset=utf-8")
    return server.request(method, path, user=user, data=body.encode() if body else None,
                          headers=headers)


def xml(response):
    return etree.fromstring(response.content)


def responses(root) -> dict:
    """{href: {property tag: element}} of the 200 propstats of a multistatus."""
    found = {}
    for response in root.findall(f"{D}response"):
        props = {}
        for propstat in response.findall(f"{D}propstat"):
            if " 200 " in (propstat.findtext(f"{D}status") or ""):
                props.update({p.tag: p for p in propstat.find(f"{D}prop")})
        found[response.findtext(f"{D}href")] = props
    return found


def missing(root, href) -> set:
    for response in root.findall(f"{D}response"):
        if response.findtext(f"{D}href") == href:
            return {p.tag for propstat in response.findall(f"{D}propstat")
                    if " 404 " in (propstat.findtext(f"{D}status") or "") for p in propstat.find(f"{D}prop")}
    raise AssertionError(f"no response for {href}")


def href_list(element):
    return [h.text for h in element.findall(f"{D}href")]


def dav_error(response):
    """(precondition tag, sentence) of a DAV:error body."""
    root = xml(response)
    assert root.tag == f"{D}error", response.text
    return root[0].tag, root.findtext(f"{D}responsedescription")


# -- the DAV header ------------------------------------------------------------------
def test_options_advertises_auto_scheduling(world):
    answer = world.request("OPTIONS", f"/{ALICE}/", user=ALICE, headers={"User-Agent": TB_AGENT})
    assert answer.status_code == 200
    tokens = [t.strip() for t in answer.headers["DAV"].split(",")]
    assert "calendar-auto-schedule" in tokens and "calendar-access" in tokens
    assert "calendarserver-principal-search" in tokens
    assert tokens.count("calendar-auto-schedule") == 1


def test_propfind_answers_carry_the_dav_header_too(world):
    answer = dav(world, "PROPFIND", f"/{ALICE}/", ALICE, THUNDERBIRD_PRINCIPAL, "0")
    assert "calendar-auto-schedule" in answer.headers["DAV"]
    answer = dav(world, "PROPFIND", "/.rooms/pr-meet/", ALICE, THUNDERBIRD_PRINCIPAL, "0")
    assert "calendar-auto-schedule" in answer.headers["DAV"]


def test_python_caldav_sees_scheduling_support(world):
    client = caldav.DAVClient(url=world.url, username=ALICE, password=world.passwords[ALICE])
    assert client.check_scheduling_support()


def test_nothing_advertised_or_answered_when_scheduling_is_off(make_server):
    server = make_server(start=False)
    server.configure(("[scheduling]\nenabled = true", "[scheduling]\nenabled = false"))
    server.start()
    server.add_user("off-user", email="off@example.org")
    server.add_room("off-room", name="Off Room")
    answer = server.request("OPTIONS", "/off-user/", user="off-user")
    assert "calendar-auto-schedule" not in answer.headers["DAV"]
    answer = dav(server, "PROPFIND", "/off-user/", "off-user", THUNDERBIRD_PRINCIPAL, "0")
    assert answer.status_code == 207
    assert C + "schedule-inbox-URL" in missing(xml(answer), "/off-user/")
    assert dav(server, "PROPFIND", "/.rooms/off-room/", "off-user", depth="0").status_code != 207
    assert_no_500(server)


# -- a user's principal ------------------------------------------------------------------
def test_thunderbird_principal_propfind_finds_scheduling(world):
    answer = dav(world, "PROPFIND", f"/{ALICE}/", ALICE, THUNDERBIRD_PRINCIPAL, "0",
                 **{"User-Agent": TB_AGENT})
    assert answer.status_code == 207
    root = xml(answer)
    props = responses(root)[f"/{ALICE}/"]
    # Thunderbird takes the first mailto: of the set; the principal URL follows it
    assert href_list(props[C + "calendar-user-address-set"]) == ["mailto:Alice@Example.org", f"/{ALICE}/"]
    assert href_list(props[C + "calendar-home-set"]) == [f"/{ALICE}/"]
    assert href_list(props[C + "schedule-inbox-URL"]) == [f"/{ALICE}/.schedule-inbox/"]
    assert href_list(props[C + "schedule-outbox-URL"]) == [f"/{ALICE}/.schedule-outbox/"]
    assert missing(root, f"/{ALICE}/") == set()


def test_gzip_answers_are_filled_in_too(world):
    answer = dav(world, "PROPFIND", f"/{ALICE}/", ALICE, THUNDERBIRD_PRINCIPAL, "0",
                 **{"Accept-Encoding": "gzip"})
    props = responses(xml(answer))[f"/{ALICE}/"]
    assert C + "schedule-outbox-URL" in props


def test_user_type_and_default_calendar(world):
    body = (XML_HEADER + '<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            "<D:prop><C:calendar-user-type/><C:schedule-default-calendar-URL/></D:prop></D:propfind>")
    answer = dav(world, "PROPFIND", f"/{BOB}/", BOB, body, "0")   # no calendar yet: left out
    assert C + "schedule-default-calendar-URL" in missing(xml(answer), f"/{BOB}/")
    assert responses(xml(answer))[f"/{BOB}/"][C + "calendar-user-type"].text == "INDIVIDUAL"
    assert world.request("MKCALENDAR", f"/{BOB}/work/", user=BOB).status_code == 201
    assert world.request("MKCALENDAR", f"/{BOB}/personal/", user=BOB).status_code == 201
    todos = (XML_HEADER + '<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set>'
             '<D:prop><C:supported-calendar-component-set><C:comp name="VTODO"/>'
             "</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>")
    assert dav(world, "MKCALENDAR", f"/{BOB}/a-tasks/", BOB, todos).status_code == 201
    answer = dav(world, "PROPFIND", f"/{BOB}/", BOB, body, "0")
    # the first event calendar by path: not the task list, and never a room the home lists
    assert href_list(responses(xml(answer))[f"/{BOB}/"][C + "schedule-default-calendar-URL"]) == \
        [f"/{BOB}/personal/"]


def test_only_the_principals_own_response_is_filled_in(world):
    world.request("MKCALENDAR", f"/{ALICE}/cal/", user=ALICE)
    answer = dav(world, "PROPFIND", f"/{ALICE}/", ALICE, THUNDERBIRD_PRINCIPAL, "1")
    root = xml(answer)
    found = responses(root)
    assert C + "schedule-inbox-URL" in found[f"/{ALICE}/"]
    assert C + "schedule-inbox-URL" in missing(root, f"/{ALICE}/cal/")
    assert C + "calendar-user-address-set" not in found[f"/{ALICE}/cal/"]


def test_allprop_leaves_the_scheduling_urls_out(world):
    body = XML_HEADER + '<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>'
    props = responses(xml(dav(world, "PROPFIND", f"/{ALICE}/", ALICE, body, "0")))[f"/{ALICE}/"]
    assert C + "schedule-inbox-URL" not in props   # RFC 6638: not in allprop
    # the address set Radicale lists with allprop has the mailto: too
    assert href_list(props[C + "calendar-user-address-set"])[0] == "mailto:Alice@Example.org"


def test_a_reverse_proxy_prefix_is_in_every_href(world):
    answer = dav(world, "PROPFIND", f"/{ALICE}/", ALICE, THUNDERBIRD_PRINCIPAL, "0",
                 **{"X-Script-Name": "/caldav"})
    props = responses(xml(answer))[f"/caldav/{ALICE}/"]
    assert href_list(props[C + "schedule-inbox-URL"]) == [f"/caldav/{ALICE}/.schedule-inbox/"]
    assert href_list(props[C + "calendar-user-address-set"]) == \
        ["mailto:Alice@Example.org", f"/caldav/{ALICE}/"]


def test_python_caldav_principal(world):
    client = caldav.DAVClient(url=world.url, username=ALICE, password=world.passwords[ALICE])
    principal = client.principal()
    assert principal.calendar_user_address_set() == ["mailto:Alice@Example.org", f"/{ALICE}/"]
    assert principal.schedule_inbox().url.path == f"/{ALICE}/.schedule-inbox/"
    assert principal.schedule_outbox().url.path == f"/{ALICE}/.schedule-outbox/"
    assert principal.calendar_home_set.url.path == f"/{ALICE}/"
    assert str(principal.get_vcal_address()) == "mailto:Alice@Example.org"


# -- room principals ------------------------------------------------------------------------
ROOM_PROPS = (XML_HEADER + '<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" '
              'xmlns:CS="http://calendarserver.org/ns/" xmlns:R="urn:roomcal:caldav"><D:prop>'
              "<D:resourcetype/><D:displayname/><C:calendar-user-type/><C:calendar-user-address-set/>"
              "<C:calendar-home-set/><CS:record-type/><R:capacity/><R:location/><D:getetag/>"
              "</D:prop></D:propfind>")


def test_room_principal_depth_0(world):
    answer = dav(world, "PROPFIND", "/.rooms/pr-meet/", ALICE, ROOM_PROPS, "0")
    assert answer.status_code == 207
    root = xml(answer)
    assert len(root.findall(f"{D}response")) == 1
    props = responses(root)["/.rooms/pr-meet/"]
    assert {child.tag for child in props[D + "resourcetype"]} == {D + "collection", D + "principal"}
    assert props[D + "displayname"].text == "Meeting Room Alpha"
    assert props[C + "calendar-user-type"].text == "ROOM"
    assert href_list(props[C + "calendar-user-address-set"]) == \
        ["mailto:pr-meet@rooms.localhost", "/.rooms/pr-meet/"]   # the room_domain default
    assert href_list(props[C + "calendar-home-set"]) == ["/.rooms/pr-meet/"]
    assert props[CS + "record-type"].text == "locations"
    assert props[RC + "capacity"].text == "12"
    assert props[RC + "location"].text == "Building B, 2nd floor"
    assert missing(root, "/.rooms/pr-meet/") == {D + "getetag"}


def test_room_principal_depth_1_lists_its_calendar(world):
    answer = dav(world, "PROPFIND", "/.rooms/pr-meet/", ALICE, ROOM_PROPS, "1")
    assert answer.status_code == 207
    found = responses(xml(answer))
    assert list(found) == ["/.rooms/pr-meet/", "/rooms/pr-meet/"]
    calendar = found["/rooms/pr-meet/"]
    assert {child.tag for child in calendar[D + "resourcetype"]} == {D + "collection", C + "calendar"}
    assert calendar[D + "displayname"].text == "Meeting Room Alpha"
    assert calendar[D + "getetag"].text   # Radicale's own answer for the calendar


def test_python_caldav_finds_a_rooms_calendar_through_its_principal(world):
    client = caldav.DAVClient(url=world.url, username=ALICE, password=world.passwords[ALICE])
    room = caldav.Principal(client=client, url=world.url + "/.rooms/pr-meet/")
    assert [c.url.path for c in room.calendars()] == ["/rooms/pr-meet/"]
    assert room.calendar_user_address_set()[0] == "mailto:pr-meet@rooms.localhost"


def test_room_email_set_by_cli_is_its_address(world):
    props = responses(xml(dav(world, "PROPFIND", "/.rooms/pr-small/", ALICE, ROOM_PROPS, "0")))
    assert href_list(props["/.rooms/pr-small/"][C + "calendar-user-address-set"])[0] == \
        "mailto:small@rooms.example.org"
    assert world.request("GET", "/api/rooms/pr-small", user=ALICE).json()["email"] == "small@rooms.example.org"


def test_hidden_and_unseeable_rooms_have_no_principal(world):
    for room_id in ("pr-hidden", "pr-board", "pr-nothing"):
        answer = dav(world, "PROPFIND", f"/.rooms/{room_id}/", ALICE, ROOM_PROPS, "0")
        assert answer.status_code == 404
        tag, sentence = dav_error(answer)
        assert sentence == f"There is no room {room_id!r}."   # hidden and absent alike
    assert dav(world, "PROPFIND", "/.rooms/pr-hidden/", ADMIN, ROOM_PROPS, "0").status_code == 207
    assert dav(world, "PROPFIND", "/.rooms/pr-board/", BOB, ROOM_PROPS, "0").status_code == 207


def test_room_principal_collection_lists_what_the_user_sees(world):
    alice = responses(xml(dav(world, "PROPFIND", "/.rooms/", ALICE, ROOM_PROPS, "1")))
    assert set(alice) == {"/.rooms/", "/.rooms/pr-meet/", "/.rooms/pr-small/"}
    admin = responses(xml(dav(world, "PROPFIND", "/.rooms/", ADMIN, ROOM_PROPS, "1")))
    assert {"/.rooms/pr-hidden/", "/.rooms/pr-board/"} <= set(admin)
    only = responses(xml(dav(world, "PROPFIND", "/.rooms/", ALICE, ROOM_PROPS, "0")))
    assert list(only) == ["/.rooms/"]


def test_room_principals_are_read_only(world):
    for method in ("GET", "PUT", "DELETE", "MKCOL", "PROPPATCH", "POST"):
        answer = world.request(method, "/.rooms/pr-meet/", user=ALICE)
        assert answer.status_code == 405, method
        assert "PROPFIND" in answer.headers["Allow"]
        assert dav_error(answer)[1].startswith(f"{method} is not allowed on a room's principal")
    assert world.request("OPTIONS", "/.rooms/pr-meet/", user=ALICE).status_code == 200
    answer = dav(world, "PROPFIND", "/.rooms/pr-meet/calendar/", ALICE, ROOM_PROPS, "0")
    assert answer.status_code == 404


def test_anonymous_requests_are_asked_to_log_in(world):
    for path in ("/.rooms/pr-meet/", f"/{ALICE}/.schedule-inbox/"):
        answer = world.request("PROPFIND", path, headers={"Depth": "0"})
        assert answer.status_code == 401
        assert "WWW-Authenticate" in answer.headers
        assert "log in" in dav_error(answer)[1]
    answer = world.request("REPORT", "/", data=cs_search(["meet"]).encode())
    assert answer.status_code == 401


# -- inbox and outbox ------------------------------------------------------------------------
def test_inbox_and_outbox(world):
    body = (XML_HEADER + '<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop>'
            "<D:resourcetype/><D:current-user-privilege-set/><CS:getctag/><D:owner/></D:prop></D:propfind>")
    inbox = dav(world, "PROPFIND", f"/{ALICE}/.schedule-inbox/", ALICE, body, "1")
    assert inbox.status_code == 207
    found = responses(xml(inbox))
    assert list(found) == [f"/{ALICE}/.schedule-inbox/"]   # nothing inside
    props = found[f"/{ALICE}/.schedule-inbox/"]
    assert {c.tag for c in props[D + "resourcetype"]} == {D + "collection", C + "schedule-inbox"}
    privileges = {p[0].tag for p in props[D + "current-user-privilege-set"]}
    assert C + "schedule-deliver" in privileges
    assert href_list(props[D + "owner"]) == [f"/{ALICE}/"]
    outbox = responses(xml(dav(world, "PROPFIND", f"/{ALICE}/.schedule-outbox/", ALICE, body, "0")))
    props = outbox[f"/{ALICE}/.schedule-outbox/"]
    assert {c.tag for c in props[D + "resourcetype"]} == {D + "collection", C + "schedule-outbox"}
    assert C + "schedule-send" in {p[0].tag for p in props[D + "current-user-privilege-set"]}
    # the admin may look; nobody else
    assert dav(world, "PROPFIND", f"/{ALICE}/.schedule-inbox/", ADMIN, body, "0").status_code == 207


def test_someone_elses_inbox_is_forbidden(world):
    for box in (".schedule-inbox", ".schedule-outbox"):
        answer = dav(world, "PROPFIND", f"/{ALICE}/{box}/", BOB, depth="0")
        assert answer.status_code == 403
        assert dav_error(answer) == (RC + "not-owner",
                                     f"This is {ALICE}'s schedule {box.split('-')[1]}; only they can use it.")


def test_boxes_take_no_writes_and_report_nothing(world):
    for method in ("GET", "PUT", "DELETE"):
        for box in (".schedule-inbox", ".schedule-outbox"):
            answer = world.request(method, f"/{ALICE}/{box}/", user=ALICE)
            assert answer.status_code == 405, (method, box)
            assert "PROPFIND" in answer.headers["Allow"]
    query = (XML_HEADER + '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
             '<D:prop><D:getetag/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter>'
             "</C:calendar-query>")
    answer = dav(world, "REPORT", f"/{ALICE}/.schedule-inbox/", ALICE, query, "1")
    assert answer.status_code == 207 and len(xml(answer)) == 0
    assert world.request("POST", f"/{ALICE}/.schedule-inbox/", user=ALICE).status_code == 405
    assert world.request("GET", f"/{ALICE}/.schedule-inbox/x.ics", user=ALICE).status_code == 404


# -- searches --------------------------------------------------------------------------------
def found_hrefs(answer):
    assert answer.status_code == 207, answer.text
    return [r.findtext(f"{D}href") for r in xml(answer).findall(f"{D}response")]


def test_principal_property_search_by_displayname(world):
    answer = dav(world, "REPORT", "/", ALICE, property_search("meet"), "0")
    found = responses(xml(answer))
    # contains, case-insensitive; hidden rooms and rooms alice may not see are left out
    assert set(found) == {"/.rooms/pr-meet/", "/.rooms/pr-small/"}
    assert found["/.rooms/pr-meet/"][C + "calendar-user-type"].text == "ROOM"
    assert href_list(found["/.rooms/pr-meet/"][C + "calendar-home-set"]) == ["/.rooms/pr-meet/"]
    admin = found_hrefs(dav(world, "REPORT", f"/{ADMIN}/", ADMIN, property_search("MEET"), "0"))
    assert "/.rooms/pr-hidden/" in admin and "/.rooms/pr-board/" in admin


def test_principal_property_search_match_types_and_tests(world):
    def hrefs(body, path="/"):
        return set(found_hrefs(dav(world, "REPORT", path, ALICE, body, "0")))
    assert hrefs(property_search("small", match_type="starts-with")) == {"/.rooms/pr-small/"}
    assert hrefs(property_search("alpha", match_type="ends-with")) == {"/.rooms/pr-meet/"}
    assert hrefs(property_search("meet", match_type="equals")) == set()
    assert hrefs(property_search("ROOM", prop="C:calendar-user-type")) == {"/.rooms/pr-meet/", "/.rooms/pr-small/"}
    assert hrefs(property_search("mailto:alice@", prop="C:calendar-user-address-set",
                                 match_type="starts-with")) == {f"/{ALICE}/"}
    both = ('<D:property-search><D:prop><C:calendar-user-type/></D:prop><D:match>INDIVIDUAL</D:match>'
            "</D:property-search>")
    assert hrefs(property_search("pr-bob", extra=both)) == {f"/{BOB}/"}
    assert hrefs(property_search("small", test="anyof", extra=both)) >= {"/.rooms/pr-small/", f"/{ALICE}/",
                                                                        f"/{BOB}/"}
    # under /.rooms/, only rooms, unless the whole principal collection set is asked for
    assert hrefs(property_search("pr-", prop="C:calendar-home-set"), "/.rooms/") == \
        {"/.rooms/pr-meet/", "/.rooms/pr-small/"}
    assert f"/{ALICE}/" in hrefs(property_search("pr-", prop="C:calendar-home-set", apply_to=True), "/.rooms/")


def test_thunderbird_fallback_search_by_home(world):
    # Thunderbird without a principal URL: Depth 1, matching the home path without its slash
    body = (XML_HEADER + '<D:principal-property-search xmlns:D="DAV:" '
            'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:property-search><D:prop><C:calendar-home-set/>'
            f"</D:prop><D:match>/{ALICE}</D:match></D:property-search><D:prop><C:calendar-home-set/>"
            "<C:calendar-user-address-set/><C:schedule-inbox-URL/><C:schedule-outbox-URL/></D:prop>"
            "</D:principal-property-search>")
    found = responses(xml(dav(world, "REPORT", "/", ALICE, body, "1")))
    assert list(found) == [f"/{ALICE}/"]
    assert href_list(found[f"/{ALICE}/"][C + "schedule-outbox-URL"]) == [f"/{ALICE}/.schedule-outbox/"]
    assert href_list(found[f"/{ALICE}/"][C + "calendar-user-address-set"])[0] == "mailto:Alice@Example.org"


def test_python_caldav_search_principals(world):
    client = caldav.DAVClient(url=world.url, username=ALICE, password=world.passwords[ALICE])
    found = {p.url.path: p for p in client.search_principals(name="meet")}
    assert set(found) == {"/.rooms/pr-meet/", "/.rooms/pr-small/"}


def test_calendarserver_search_contexts(world):
    def search(*args, **kwargs):
        return set(found_hrefs(dav(world, "REPORT", f"/{ALICE}/", ALICE, cs_search(*args, **kwargs), "0")))
    assert search(["meet"], "location") == {"/.rooms/pr-meet/", "/.rooms/pr-small/"}
    assert search(["pr"], "location") == {"/.rooms/pr-meet/", "/.rooms/pr-small/"}   # room ids too
    assert search(["pr-"], "attendee") == {f"/{ALICE}/", f"/{BOB}/", f"/{ADMIN}/",
                                           "/.rooms/pr-meet/", "/.rooms/pr-small/"}
    assert search(["pr-"], "user") == {f"/{ALICE}/", f"/{BOB}/", f"/{ADMIN}/"}
    assert search(["pr-"], "resource") == set()
    assert search(["small", "meet"]) == {"/.rooms/pr-small/"}   # every token must match
    # e-mail addresses match from their start
    assert search(["alice@ex"], "attendee") == {f"/{ALICE}/"}
    assert search(["example.org"], "attendee") == set()
    assert search(["small@"], "location") == {"/.rooms/pr-small/"}


def test_calendarserver_search_answers_the_props_asked(world):
    answer = dav(world, "REPORT", "/", ALICE, cs_search(["alpha"], "location", props=(
        "D:displayname", "CS:record-type", "CS:email-address-set", "C:calendar-user-type",
        "D:principal-URL", "CS:first-name")), "0")
    root = xml(answer)
    props = responses(root)["/.rooms/pr-meet/"]
    assert props[D + "displayname"].text == "Meeting Room Alpha"
    assert props[CS + "record-type"].text == "locations"
    assert [e.text for e in props[CS + "email-address-set"]] == ["pr-meet@rooms.localhost"]
    assert href_list(props[D + "principal-URL"]) == ["/.rooms/pr-meet/"]
    assert missing(root, "/.rooms/pr-meet/") == {CS + "first-name"}
    user = responses(xml(dav(world, "REPORT", "/", ALICE, cs_search(["pr-alice"], "user", props=(
        "CS:record-type", "C:calendar-user-type")), "0")))[f"/{ALICE}/"]
    assert (user[CS + "record-type"].text, user[C + "calendar-user-type"].text) == ("users", "INDIVIDUAL")


def test_search_limits(world):
    answer = dav(world, "REPORT", "/", ALICE, cs_search(["pr-"], "attendee", limit=2), "0")
    root = xml(answer)
    listed = root.findall(f"{D}response")
    assert len(listed) == 3   # two principals, then what says the list is cut
    last = listed[-1]
    assert last.findtext(f"{D}status") == "HTTP/1.1 507 Insufficient Storage"
    assert last.find(f"{D}error/{D}number-of-matches-within-limits") is not None
    assert last.findtext(f"{D}responsedescription") == \
        "Only the first 2 of 5 matches are listed; narrow the search."
    # exactly as many as asked: nothing cut
    assert len(found_hrefs(dav(world, "REPORT", "/", ALICE, cs_search(["meet"], limit=2), "0"))) == 2


def test_search_refusals_are_sentences(world):
    cases = [
        (cs_search([]), "calendarserver-principal-search needs a search-token with some text."),
        (cs_search(["x" * 101]), "A search term is 101 characters long; at most 100 are taken."),
        (cs_search(["a"] * 51), "This search has 51 search-token elements; at most 50 are taken."),
        (cs_search(["a"], limit="many"), "limit/nresults must be a whole number, not 'many'."),
        (property_search("a", match_type="regex"),
         "match-type must be one of contains, starts-with, ends-with, equals, not 'regex'."),
        (property_search("a", test="some"), 'principal-property-search test must be "allof" or "anyof", '
                                            "not 'some'."),
    ]
    for body, sentence in cases:
        answer = dav(world, "REPORT", "/", ALICE, body, "0")
        assert answer.status_code == 400, body
        assert dav_error(answer) == (RC + "valid-search", sentence)


def test_bad_xml_is_a_400_never_a_500(world):
    for path, method in (("/.rooms/pr-meet/", "PROPFIND"), (f"/{ALICE}/.schedule-inbox/", "PROPFIND"),
                         ("/.rooms/", "PROPFIND")):
        answer = dav(world, method, path, ALICE, "<D:propfind xmlns:D='DAV:'><D:prop>", "0")
        assert answer.status_code == 400, path
        tag, sentence = dav_error(answer)
        assert sentence.startswith("The request body is not well-formed XML")
        answer = dav(world, method, path, ALICE, "<D:nonsense xmlns:D='DAV:'><D:prop/></D:nonsense>", "0")
        assert answer.status_code == 400
        assert dav_error(answer)[1] == "A PROPFIND body must be a DAV:propfind element, not DAV:nonsense."
    entity = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "meet">]>'
              '<CS:calendarserver-principal-search xmlns:CS="http://calendarserver.org/ns/">'
              "<CS:search-token>&e;</CS:search-token></CS:calendarserver-principal-search>")
    answer = dav(world, "REPORT", "/", ALICE, entity, "0")
    assert answer.status_code == 400
    broken = dav(world, "REPORT", "/", ALICE, "<CS:calendarserver-principal-search", "0")
    assert broken.status_code == 400


def test_principal_search_property_set(world):
    answer = dav(world, "REPORT", "/", ALICE,
                 XML_HEADER + '<D:principal-search-property-set xmlns:D="DAV:"/>', "0")
    assert answer.status_code == 200
    root = xml(answer)
    assert root.tag == D + "principal-search-property-set"
    searchable = {p.find(f"{D}prop")[0].tag for p in root.findall(f"{D}principal-search-property")}
    assert searchable == {D + "displayname", C + "calendar-user-address-set", C + "calendar-user-type"}
    assert all(p.findtext(f"{D}description") for p in root.findall(f"{D}principal-search-property"))


def test_someone_elses_home_is_not_a_search_path(world):
    answer = dav(world, "REPORT", f"/{BOB}/", ALICE, cs_search(["meet"]), "0")
    assert answer.status_code in (403, 404)


# -- the room's address in the CLI and /api --------------------------------------------------
def test_room_email_through_cli_and_api(world):
    world.add_room("pr-mail", name="Mail Room")
    assert world.request("GET", "/api/rooms/pr-mail", user=ALICE).json()["email"] == "pr-mail@rooms.localhost"
    world.cli("room", "set", "pr-mail", "--email", "Mail.Room@Example.org")
    assert world.request("GET", "/api/rooms/pr-mail", user=ALICE).json()["email"] == "Mail.Room@Example.org"
    shown = world.cli("room", "show", "pr-mail").stdout
    assert "email: Mail.Room@Example.org" in shown
    assert json.loads(world.cli("room", "show", "pr-mail", "--json").stdout)["email"] == "Mail.Room@Example.org"
    listed = world.request("GET", "/api/rooms", user=ALICE).json()["rooms"]
    assert {r["id"]: r["email"] for r in listed}["pr-mail"] == "Mail.Room@Example.org"
    world.cli("room", "set", "pr-mail", "--email", "")
    assert world.request("GET", "/api/rooms/pr-mail", user=ALICE).json()["email"] == "pr-mail@rooms.localhost"
    refused = world.cli("room", "set", "pr-mail", "--email", "not an address", check=False)
    assert refused.returncode != 0 and "not an e-mail address" in refused.stderr
    taken = world.cli("room", "set", "pr-mail", "--email", "small@rooms.example.org", check=False)
    assert taken.returncode != 0 and "already room pr-small's" in taken.stderr
    taken = world.cli("room", "set", "pr-mail", "--email", "alice@example.org", check=False)
    assert taken.returncode != 0 and "already a user's" in taken.stderr


def test_room_email_through_the_admin_api(world):
    world.add_room("pr-api", name="Api Room")
    changed = world.request("PATCH", "/api/admin/rooms/pr-api", user=ADMIN,
                            json={"email": "api-room@example.org"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["email"] == "api-room@example.org"
    refused = world.request("PATCH", "/api/admin/rooms/pr-api", user=ADMIN, json={"email": "nope"})
    assert refused.status_code == 422
    assert refused.json()["properties"] == ["email"]
    # what GET showed, sent back unchanged, keeps the default address a default
    world.add_room("pr-api2", name="Api Room 2")
    shown = world.request("GET", "/api/rooms/pr-api2", user=ADMIN).json()
    back = world.request("PATCH", "/api/admin/rooms/pr-api2", user=ADMIN, json={"email": shown["email"]})
    assert back.status_code == 200
    assert "email: pr-api2@rooms.localhost" in world.cli("room", "show", "pr-api2").stdout
    stored = (XML_HEADER + '<D:propfind xmlns:D="DAV:" xmlns:R="urn:roomcal:caldav"><D:prop><R:email/>'
              "</D:prop></D:propfind>")
    props = responses(xml(dav(world, "PROPFIND", "/rooms/pr-api2/", ADMIN, stored, "0")))
    assert not props["/rooms/pr-api2/"][RC + "email"].text   # none of its own


def test_propname_and_the_rooms_collection_stay_radicales(world):
    body = XML_HEADER + '<D:propfind xmlns:D="DAV:"><D:propname/></D:propfind>'
    answer = dav(world, "PROPFIND", f"/{ALICE}/", ALICE, body, "0")
    props = responses(xml(answer))[f"/{ALICE}/"]
    assert len(props[C + "calendar-user-address-set"]) == 0   # a name, no value
    answer = dav(world, "PROPFIND", "/rooms/", ALICE, THUNDERBIRD_PRINCIPAL, "0")
    assert answer.status_code == 207
    assert C + "schedule-inbox-URL" in missing(xml(answer), "/rooms/")   # no one's principal


def test_a_name_with_a_control_character_is_still_answered(world):
    world.add_room("pr-bell", name="Bell\x07Room")
    answer = dav(world, "PROPFIND", "/.rooms/pr-bell/", ALICE, ROOM_PROPS, "1")
    assert answer.status_code == 207
    assert responses(xml(answer))["/.rooms/pr-bell/"][D + "displayname"].text == "Bell\ufffdRoom"
    answer = dav(world, "REPORT", "/", ALICE, cs_search(["bell"], "location"), "0")
    assert found_hrefs(answer) == ["/.rooms/pr-bell/"]

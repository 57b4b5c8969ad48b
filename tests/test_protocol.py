"""Protocol correctness found by external suites (issue 12): names in URLs, components,
ETags of writes.  Through a real server, with raw HTTP and python-caldav."""

import json
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote

import caldav
import pytest

from conftest import assert_no_500, event, new_room

ALICE, BOB = "pr-alice", "pr-bob"
CALENDAR = f"/{ALICE}/cal/"
SLOT = ("20271206T100000Z", "20271206T110000Z")
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
    assert server.request("DELETE", url, user=ALICE).status_code in (200, 204)
    assert server.request("GET", url, user=ALICE).status_code == 404


def test_an_encoded_slash_is_a_path_separator_as_in_radicale(server):
    # Radicale's own server unquotes %2F too: a PUT there is a PUT into a sub-collection.
    put = server.put_ics(CALENDAR + "foo%2Fbar.ics", event(*SLOT), user=ALICE)
    assert put.status_code in (403, 409)


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
        assert server.request("DELETE", url, user=ALICE).status_code in (200, 204)


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

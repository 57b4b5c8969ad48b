"""A calendar's ETag listing (server/etag_listing.py) is Radicale's own answer, byte for byte.

The server on its port answers; the oracle is Radicale's unmodified ``Application`` built
in this process on the same configuration and store, handed the same identity as the
front hands it."""

import datetime
import os

import pytest
import radicale.app
from lxml import etree
from werkzeug.test import EnvironBuilder, run_wsgi_app

from conftest import book, event, new_room
from roomcal.plugins.auth import hand_over
from roomcal.server import config as roomcal_config
from roomcal.storage.accounts import Identity

PROPFIND = '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:">{}</D:propfind>'
ETAGS = PROPFIND.format("<D:prop><D:getetag/><D:getcontenttype/></D:prop>")


@pytest.fixture(scope="module")
def site(server):
    server.add_user("el-ann")
    server.add_user("el-bob")
    room = new_room(server, "el")
    names = ["plain.ics", "with space.ics", "ümlaut+plus.ics", "amp&semi;colon.ics"]
    for day, name in enumerate(names, 1):
        answer = book(server, room, f"2027090{day}T080000Z", f"2027090{day}T090000Z", "el-ann", name=name)
        assert answer.status_code == 201, answer.text
    empty = new_room(server, "el")
    personal = "/el-ann/work/"
    assert server.request("MKCALENDAR", personal, user="el-ann").status_code == 201
    assert server.put_ics(personal + "mine.ics", event("20270910T080000Z", "20270910T090000Z"),
                          user="el-ann").status_code == 201
    oracle = radicale.app.Application(roomcal_config.load(server.config))
    return server, room, empty, personal, oracle


def radicales_answer(oracle, path, user, body, depth="1", method="PROPFIND", **headers):
    """(status, headers, body) of stock Radicale's Application for the same request."""
    environ = EnvironBuilder(path=path, method=method, data=body.encode(),
                             headers={"Depth": depth, "Content-Type": "application/xml", **headers}).get_environ()
    hand_over(environ, Identity(user, False, frozenset()))
    chunks, status, headers = run_wsgi_app(oracle, environ, buffered=True)
    return int(status.split()[0]), dict(headers), b"".join(chunks)


def servers_answer(server, path, user, body, depth="1", method="PROPFIND"):
    answer = server.request(method, path, user=user, data=body.encode(),
                            headers={"Depth": depth, "Content-Type": "application/xml"})
    return answer.status_code, answer.headers, answer.content


@pytest.mark.parametrize("props", [
    "<D:prop><D:getetag/><D:getcontenttype/></D:prop>",
    "<D:prop><D:getcontenttype/><D:getetag/></D:prop>",
    "<D:prop><D:getetag/></D:prop>",
    "<D:prop><D:getetag/><D:getetag/></D:prop>",
    # what the listing leaves to Radicale, answered as before
    "<D:prop><D:getetag/><D:getlastmodified/></D:prop>",
    "<D:prop><D:getetag/><D:unknown-thing/></D:prop>",
    "<D:allprop/>",
])
@pytest.mark.parametrize("which", ["room", "empty room", "personal calendar"])
def test_the_listing_is_radicales_answer_byte_for_byte(site, props, which):
    server, room, empty, personal, oracle = site
    path = {"room": f"/rooms/{room}/", "empty room": f"/rooms/{empty}/",
            "personal calendar": personal}[which]
    body = PROPFIND.format(props)
    status, headers, content = servers_answer(server, path, "el-ann", body)
    expected_status, expected_headers, expected = radicales_answer(oracle, path, "el-ann", body)
    assert (status, content) == (expected_status, expected)
    assert status == 207
    assert headers["Content-Type"] == expected_headers["Content-Type"]
    # (the front adds its own capabilities to every CalDAV answer's DAV header)
    assert headers["DAV"] == servers_answer(server, path, "el-ann", body, depth="0")[1]["DAV"]


@pytest.mark.parametrize("method, body", [("PROPFIND", ETAGS), ("REPORT", None)])
@pytest.mark.parametrize("encoding", ["gzip", "identity", "gzip;q=1.0, br"])
def test_the_bytes_sent_are_radicales_compressed_or_not(site, method, body, encoding):
    """The listing is compressed as it is made, when (as Radicale decides it) the client takes
    gzip: the bytes on the wire are the ones Radicale sends, its Content-Encoding too."""
    server, room, *_, oracle = site
    path, body = f"/rooms/{room}/", body or SYNC.format(token="", props=THUNDERBIRDS)
    headers = {"Depth": "1", "Content-Type": "application/xml", "Accept-Encoding": encoding}
    answer = server.request(method, path, user="el-ann", data=body.encode(), headers=headers, stream=True)
    sent = answer.raw.read(decode_content=False)
    expected_status, expected_headers, expected = radicales_answer(
        oracle, path, "el-ann", body, method=method, **{"Accept-Encoding": encoding})
    assert (answer.status_code, sent) == (expected_status, expected) and answer.status_code == 207
    assert answer.headers.get("Content-Encoding") == expected_headers.get("Content-Encoding") == \
        ("gzip" if encoding == "gzip" else None)
    assert int(answer.headers["Content-Length"]) == len(sent)


def test_every_item_is_listed_with_its_own_etag_and_the_collections(site):
    server, room, *_ = site
    _, _, content = servers_answer(server, f"/rooms/{room}/", "el-ann", ETAGS)
    listed = {r.findtext("{DAV:}href"): r.findtext(".//{DAV:}getetag")
              for r in etree.fromstring(content).iter("{DAV:}response")}
    assert len(listed) == 5   # the room and its four bookings
    for href, etag in listed.items():
        if href.endswith(".ics"):   # the href is quoted: requests sends it as it is
            assert server.request("GET", href, user="el-ann").headers["ETag"] == etag
    _, _, alone = servers_answer(server, f"/rooms/{room}/", "el-ann", ETAGS, depth="0")
    assert etree.fromstring(alone).findtext(".//{DAV:}getetag") == listed[f"/rooms/{room}/"]


def test_a_room_of_more_items_than_one_read_is_listed_whole_as_radicale_lists_it(site):
    """A room's items come from PostgreSQL a thousand rows at a time (storage/postgres/
    database.py ``stream``), and the file store lists each file by its stamp: a room of
    2 500 is listed whole, byte for byte Radicale's answer, by a PROPFIND and a first sync."""
    server, *_, oracle = site
    room = new_room(server, "el")
    start = datetime.datetime(2027, 3, 1, 8, tzinfo=datetime.timezone.utc)
    hours = [start + datetime.timedelta(hours=i) for i in range(2500)]
    events = [event(f"{h:%Y%m%dT%H%M%SZ}", f"{h + datetime.timedelta(minutes=30):%Y%m%dT%H%M%SZ}", uid=f"many-{i}")
              for i, h in enumerate(hours)]
    vevents = "".join(text[text.index("BEGIN:VEVENT"):text.index("END:VCALENDAR")] for text in events)
    server.cli("import", room, "-", input=f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
                                          f"{vevents}END:VCALENDAR\r\n")
    path = f"/rooms/{room}/"
    status, _, content = servers_answer(server, path, "el-ann", ETAGS)
    assert (status, content) == radicales_answer(oracle, path, "el-ann", ETAGS)[::2]
    assert content.count(b"<response>") == 2501
    status, content = same_sync_answers(site, path, SYNC.format(token="", props=THUNDERBIRDS))
    assert status == 207 and content.count(b"<response>") == 2500


@pytest.mark.parametrize("depth", ["0", "infinity"])
def test_other_depths_are_radicales(site, depth):
    server, room, _, _, oracle = site
    assert servers_answer(server, f"/rooms/{room}/", "el-ann", ETAGS, depth)[::2] == \
        radicales_answer(oracle, f"/rooms/{room}/", "el-ann", ETAGS, depth)[::2]


def test_a_calendar_one_may_not_read_is_refused_as_radicale_refuses_it(site):
    server, _, _, personal, oracle = site
    status, _, content = servers_answer(server, personal, "el-bob", ETAGS)
    expected_status, _, expected = radicales_answer(oracle, personal, "el-bob", ETAGS)
    assert status == expected_status and status in (403, 404)
    assert content == expected


def test_an_unreadable_body_is_refused_not_listed(site):
    server, room, *_ = site
    answer = server.request("PROPFIND", f"/rooms/{room}/", user="el-ann", data=b"<D:propfind",
                            headers={"Depth": "1", "Content-Type": "application/xml"})
    assert answer.status_code == 400


def test_files_radicale_skips_are_skipped_alike(site, tmp_path):
    """An unreadable file put into a room's folder by hand: left out of the answers, as
    Radicale leaves it out (file store only: PostgreSQL has no folder)."""
    server, room, _, _, oracle = site
    if server.store != "file":
        pytest.skip("files put into the folder by hand are the file store's")
    folder = f"{server.dir}/data/collections/collection-root/rooms/{room}"
    with open(f"{folder}/broken.ics", "w") as f:
        f.write("BEGIN:VCALENDAR\r\nthis is not iCalendar\r\n")
    try:
        status, _, content = servers_answer(server, f"/rooms/{room}/", "el-ann", ETAGS)
        expected_status, _, expected = radicales_answer(oracle, f"/rooms/{room}/", "el-ann", ETAGS)
        assert (status, content) == (expected_status, expected) and b"broken.ics" not in content
        # a first sync lists it as Radicale does (gone, as it cannot read it), not from the
        # room's listing that skips it
        _, content = same_sync_answers(site, f"/rooms/{room}/", SYNC.format(token="", props=THUNDERBIRDS))
        assert content.count(b"<response>") == 5 and b"broken.ics</href><status>HTTP/1.1 404" in content
    finally:
        os.remove(f"{folder}/broken.ics")


# -- the first sync-collection of a calendar app: Radicale's answer too --------------------------------
SYNC = ('<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:" '
        'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:sync-token>{token}</D:sync-token>'
        "<D:sync-level>1</D:sync-level>{props}</D:sync-collection>")
THUNDERBIRDS = "<D:prop><D:getcontenttype/><D:getetag/></D:prop>"


def sync_token(content: bytes) -> str:
    return etree.fromstring(content).findtext("{DAV:}sync-token")


def same_sync_answers(site, path, body, user="el-ann"):
    server, *_, oracle = site
    status, headers, content = servers_answer(server, path, user, body, depth="0", method="REPORT")
    expected_status, expected_headers, expected = radicales_answer(oracle, path, user, body, "0", "REPORT")
    assert (status, content) == (expected_status, expected)
    if status == 207:
        assert headers["Content-Type"] == expected_headers["Content-Type"]
    return status, content


@pytest.mark.parametrize("props", [
    THUNDERBIRDS,
    "<D:prop><D:getetag/><D:getcontenttype/></D:prop>",
    "<D:prop><D:getetag/></D:prop>",
    # what the listing leaves to Radicale, answered as before
    "<D:prop><D:getetag/><C:calendar-data/></D:prop>",
    "<D:prop><D:getetag/><D:getlastmodified/></D:prop>",
    "",
])
@pytest.mark.parametrize("which", ["room", "empty room", "personal calendar"])
def test_a_first_sync_is_radicales_answer_byte_for_byte(site, props, which):
    server, room, empty, personal, oracle = site
    path = {"room": f"/rooms/{room}/", "empty room": f"/rooms/{empty}/",
            "personal calendar": personal}[which]
    status, content = same_sync_answers(site, path, SYNC.format(token="", props=props))
    assert status == 207
    if props == THUNDERBIRDS and which == "room":
        hrefs = {r.findtext("{DAV:}href") for r in etree.fromstring(content).iter("{DAV:}response")}
        assert len(hrefs) == 4 and all(href.startswith(f"/rooms/{room}/") for href in hrefs)


@pytest.mark.parametrize("which", ["room", "personal calendar"])
def test_a_sync_after_changes_is_radicales_answer_byte_for_byte(site, which):
    """The items changed since the token, and a 404 for the one deleted."""
    server, room, _, personal, _ = site
    path = f"/rooms/{room}/" if which == "room" else personal
    _, first = same_sync_answers(site, path, SYNC.format(token="", props=THUNDERBIRDS))
    if which == "room":
        added = book(server, room, "20270920T080000Z", "20270920T090000Z", "el-ann", name="later.ics")
    else:
        added = server.put_ics(personal + "later.ics", event("20270920T080000Z", "20270920T090000Z"),
                               user="el-ann")
    assert added.status_code == 201, added.text
    assert server.request("DELETE", path + "later.ics", user="el-ann").status_code in (200, 204)
    again = book(server, room, "20270921T080000Z", "20270921T090000Z", "el-ann", name="changed.ics") \
        if which == "room" else server.put_ics(personal + "changed.ics", event("20270921T080000Z",
                                                                               "20270921T090000Z"), user="el-ann")
    assert again.status_code == 201, again.text
    status, content = same_sync_answers(site, path, SYNC.format(token=sync_token(first), props=THUNDERBIRDS))
    assert status == 207
    responses = {r.findtext("{DAV:}href"): r.findtext("{DAV:}status")
                 for r in etree.fromstring(content).iter("{DAV:}response")}
    assert responses == {path + "later.ics": "HTTP/1.1 404 Not Found", path + "changed.ics": None}


def test_a_sync_with_a_token_it_does_not_know_is_refused_as_radicale_refuses_it(site):
    _, room, *_ = site
    status, content = same_sync_answers(site, f"/rooms/{room}/",
                                        SYNC.format(token="http://example.org/not-ours", props=THUNDERBIRDS))
    assert status == 403 and b"valid-sync-token" in content


def test_a_sync_of_a_calendar_one_may_not_read_is_refused_as_radicale_refuses_it(site):
    _, _, _, personal, _ = site
    status, _ = same_sync_answers(site, personal, SYNC.format(token="", props=THUNDERBIRDS), user="el-bob")
    assert status in (403, 404)

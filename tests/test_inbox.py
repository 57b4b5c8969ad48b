"""Schedule inboxes (RFC 6638 §4): the scheduling messages delivered to a user, beside
the copies in their calendar, through the real server; and storage/scheduling/inbox.py's bounds
and sync tokens without HTTP.
"""

import contextlib
import glob
import os
import sqlite3
import uuid
import xml.etree.ElementTree as ET

import icalendar
import psycopg
import pytest

from conftest import assert_no_500, new_room
from support.databases import database  # noqa: F401 (a fixture: the test runs on both databases)
from test_delivery import answered, get, meeting, put

MONDAY, TUESDAY = "20271206", "20271207"
D, C = "{DAV:}", "{urn:ietf:params:xml:ns:caldav}"
ANN, BOB, CAROL = "ib-ann", "ib-bob", "ib-carol"
XML = '<?xml version="1.0" encoding="UTF-8"?>'
SYNC = (XML + '<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token>'
        "<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>")
# What Thunderbird's pollInbox sends (calDavCalendar.js): a listing of etags, a multiget of
# what it has not seen, then a DELETE of each processed message.
TB_PROPFIND = (XML + '<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/" '
               'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:resourcetype/><D:owner/>'
               "<D:current-user-principal/><D:supported-report-set/><C:supported-calendar-component-set/>"
               "<CS:getctag/></D:prop></D:propfind>")
TB_ETAGS = (XML + '<D:propfind xmlns:D="DAV:"><D:prop><D:getcontenttype/><D:resourcetype/><D:getetag/>'
            "</D:prop></D:propfind>")
TB_MULTIGET = (XML + '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
               "<D:prop><D:getetag/><C:calendar-data/></D:prop>{hrefs}</C:calendar-multiget>")


@pytest.fixture(scope="module")
def srv(make_server):
    server = make_server()
    server.add_user(ANN, email="ann@example.org")
    server.add_user(BOB, email="bob@example.org")
    server.add_user(CAROL, email="carol@example.org")
    for name in (ANN, BOB, CAROL):
        assert server.request("MKCALENDAR", f"/{name}/calendar/", user=name).status_code == 201
    yield server
    assert_no_500(server)


def box(user):
    return f"/{user}/.schedule-inbox/"


def dav(server, method, path, user, body="", depth="1"):
    return server.request(method, path, user=user, data=body.encode(),
                          headers={"Depth": depth, "Content-Type": "application/xml; charset=utf-8"})


def listing(server, user):
    """{href: etag} of the inbox's messages (PROPFIND Depth 1)."""
    answer = dav(server, "PROPFIND", box(user), user, TB_ETAGS)
    assert answer.status_code == 207, answer.text
    found = {}
    for response in ET.fromstring(answer.content).findall(f"{D}response"):
        href = response.findtext(f"{D}href")
        if href != box(user):
            prop = response.find(f"{D}propstat/{D}prop")
            assert prop.findtext(f"{D}getcontenttype") == "text/calendar; component=VEVENT; charset=utf-8"
            assert len(prop.find(f"{D}resourcetype")) == 0
            found[href] = prop.findtext(f"{D}getetag")
    return found


def message(server, user, href):
    answer = server.request("GET", href, user=user)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/calendar")
    return icalendar.Calendar.from_ical(answer.text)


def messages(server, user, uid):
    """[(href, calendar)] of the inbox's messages about ``uid``, oldest first."""
    found = []
    for href in listing(server, user):
        calendar = message(server, user, href)
        if str(next(iter(calendar.walk("VEVENT")))["UID"]) == uid:
            found.append((href, calendar))
    return found


def method_of(calendar):
    return str(calendar["METHOD"])


def sync(server, user, token=""):
    answer = dav(server, "REPORT", box(user), user, SYNC.format(token=token))
    assert answer.status_code == 207, answer.text
    root = ET.fromstring(answer.content)
    present, gone = [], []
    for response in root.findall(f"{D}response"):
        href = response.findtext(f"{D}href")
        (gone if "404" in (response.findtext(f"{D}status") or "") else present).append(href)
    return root.findtext(f"{D}sync-token"), present, gone


def ctag(server, user):
    body = XML + '<D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/"><D:prop><CS:getctag/>' \
                 "<D:sync-token/></D:prop></D:propfind>"
    root = ET.fromstring(dav(server, "PROPFIND", box(user), user, body, "0").content)
    return (root.findtext(".//{http://calendarserver.org/ns/}getctag"), root.findtext(f".//{D}sync-token"))


# -- through the server --------------------------------------------------------------------------------
def test_invitation_move_removal_and_reply_reach_the_inboxes(srv):
    uid = str(uuid.uuid4())
    before = ctag(srv, BOB)
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", "bob@example.org",
                               "carol@example.org"))
    assert ctag(srv, BOB) != before
    [(href, invitation)] = messages(srv, BOB, uid)
    assert method_of(invitation) == "REQUEST"
    event = next(iter(invitation.walk("VEVENT")))
    assert str(event["UID"]) == uid and not list(event.walk("VALARM"))   # ann's alarm is hers
    assert get(srv, BOB, uid) is not None   # the copy in the calendar stays as before
    # the organizer moves it: another REQUEST
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T110000Z", f"{MONDAY}T120000Z", "bob@example.org",
                               "carol@example.org"))
    found = messages(srv, BOB, uid)
    assert [method_of(c) for _, c in found] == ["REQUEST", "REQUEST"]
    assert next(iter(found[1][1].walk("VEVENT")))["DTSTART"].dt.hour == 11
    # bob accepts in his copy: a REPLY in ann's inbox, only bob's part
    copy = get(srv, BOB, uid)
    put(srv, BOB, uid, answered(copy, "bob@example.org", "ACCEPTED"))
    [(_, reply)] = messages(srv, ANN, uid)
    assert method_of(reply) == "REPLY"
    lines = next(iter(reply.walk("VEVENT")))["ATTENDEE"]
    assert str(lines).lower() == "mailto:bob@example.org" and lines.params["PARTSTAT"] == "ACCEPTED"
    # carol is taken off: a CANCEL for her
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T110000Z", f"{MONDAY}T120000Z", "bob@example.org"))
    cancel = messages(srv, CAROL, uid)[-1][1]
    assert method_of(cancel) == "CANCEL"
    assert str(next(iter(cancel.walk("VEVENT")))["STATUS"]) == "CANCELLED"
    # the meeting deleted: a CANCEL for bob
    assert srv.request("DELETE", f"/{ANN}/calendar/{uid}.ics", user=ANN).status_code in (200, 204)
    assert [method_of(c) for _, c in messages(srv, BOB, uid)] == ["REQUEST", "REQUEST", "CANCEL"]


def test_an_unchanged_reput_files_nothing(srv):
    uid = str(uuid.uuid4())
    body = meeting(uid, f"{TUESDAY}T090000Z", f"{TUESDAY}T100000Z", "bob@example.org")
    put(srv, ANN, uid, body)
    put(srv, ANN, uid, body)
    assert len(messages(srv, BOB, uid)) == 1


def test_delete_and_incremental_sync(srv):
    token, present, _ = sync(srv, BOB)
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{TUESDAY}T130000Z", f"{TUESDAY}T140000Z", "bob@example.org"))
    token2, added, gone = sync(srv, BOB, token)
    assert len(added) == 1 and gone == [] and added[0] not in present
    # nothing new: nothing listed, and the token still works
    token3, again, gone = sync(srv, BOB, token2)
    assert again == [] and gone == []
    # DELETE: 204, then 404; the next sync says it went
    assert srv.request("DELETE", added[0], user=BOB).status_code == 204
    assert srv.request("DELETE", added[0], user=BOB).status_code == 404
    assert srv.request("GET", added[0], user=BOB).status_code == 404
    _, again, gone = sync(srv, BOB, token3)
    assert again == [] and gone == added
    # the first token still sees the whole story: the message came and went
    _, again, gone = sync(srv, BOB, token)
    assert again == [] and gone == added
    answer = dav(srv, "REPORT", box(BOB), BOB, SYNC.format(token="urn:roomcal:inbox:999999999"))
    assert answer.status_code == 403 and b"valid-sync-token" in answer.content


def test_thunderbird_polls_fetches_and_deletes(srv):
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{TUESDAY}T150000Z", f"{TUESDAY}T160000Z", "carol@example.org"))
    answer = dav(srv, "PROPFIND", box(CAROL), CAROL, TB_PROPFIND, "0")
    assert answer.status_code == 207
    assert b"schedule-inbox" in answer.content and b"getctag" in answer.content
    etags = listing(srv, CAROL)
    assert etags
    hrefs = "".join(f"<D:href>{h}</D:href>" for h in etags) + f"<D:href>{box(CAROL)}nothing.ics</D:href>"
    answer = dav(srv, "REPORT", box(CAROL), CAROL, TB_MULTIGET.format(hrefs=hrefs))
    assert answer.status_code == 207, answer.text
    got = {}
    for response in ET.fromstring(answer.content).findall(f"{D}response"):
        href = response.findtext(f"{D}href")
        if href.endswith("nothing.ics"):
            assert "404" in response.findtext(f"{D}status")
            continue
        prop = response.find(f"{D}propstat/{D}prop")
        assert prop.findtext(f"{D}getetag") == etags[href]
        got[href] = icalendar.Calendar.from_ical(prop.findtext(f"{C}calendar-data"))
    assert set(got) == set(etags)
    assert any(str(next(iter(c.walk("VEVENT")))["UID"]) == uid and method_of(c) == "REQUEST"
               for c in got.values())
    for href in etags:
        assert srv.request("DELETE", href, user=CAROL, headers={"If-Match": etags[href]}).status_code == 204
    assert listing(srv, CAROL) == {}


def test_python_caldav_syncs_the_inbox(srv):
    """What caldav-server-tester uses: sync-collection with the items loaded, then a
    sync that finds the next message (no fallback to PROPFIND + GET)."""
    import caldav
    client = caldav.DAVClient(url=srv.url + "/", username=BOB, password=srv.passwords[BOB])
    inbox = client.principal().schedule_inbox()
    items = inbox.objects(load_objects=True)
    known = {str(item.url) for item in items}
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{TUESDAY}T080000Z", f"{TUESDAY}T083000Z", "bob@example.org"))
    updated, deleted = items.sync()
    assert [str(o.icalendar_component["UID"]) for o in updated] == [uid] and not deleted
    assert {str(item.url) for item in items} - known == {str(updated[0].url)}
    updated[0].delete()
    _, deleted = items.sync()
    assert [str(o.url) for o in deleted] == [str(updated[0].url)]


def test_only_the_owner_and_no_writes(srv):
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{TUESDAY}T170000Z", f"{TUESDAY}T180000Z", "bob@example.org"))
    href = next(iter(listing(srv, BOB)))
    for method in ("GET", "DELETE", "PROPFIND"):
        answer = srv.request(method, href, user=CAROL)
        assert answer.status_code == 403 and b"only they can use it" in answer.content
    answer = dav(srv, "PROPFIND", box(BOB), CAROL)
    assert answer.status_code == 403
    answer = srv.put_ics(f"{box(BOB)}mine.ics", meeting("x", f"{TUESDAY}T170000Z", f"{TUESDAY}T180000Z"),
                         user=BOB)
    assert answer.status_code == 403 and b"responsedescription" in answer.content
    assert srv.request("GET", href, user=BOB).status_code == 200   # still there


def test_rooms_answer_themselves_and_get_no_messages(srv):
    room = new_room(srv, "ib-room")
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{TUESDAY}T190000Z", f"{TUESDAY}T200000Z",
                               f"ATTENDEE;CUTYPE=ROOM;PARTSTAT=NEEDS-ACTION:mailto:{room}@rooms.localhost"))
    assert messages(srv, ANN, uid) == []
    # Not even a row (messages could hide one): in the inbox's SQLite file, or its table on PostgreSQL.
    count = 'SELECT count(*) FROM inbox WHERE "user" = %s'
    if srv.store == "file":
        [path] = glob.glob(os.path.join(srv.dir, "**", "roomcal-inbox.sqlite"), recursive=True)
        with contextlib.closing(sqlite3.connect(path)) as db:
            assert db.execute(count.replace("%s", "?"), (room,)).fetchone()[0] == 0
    else:
        with psycopg.connect(srv.database) as db:
            assert db.execute(count, (room,)).fetchone()[0] == 0


# -- the store, without HTTP ---------------------------------------------------------------------------
def test_bounds_and_tokens(tmp_path, database):
    from roomcal.storage.scheduling.inbox import Inbox, InvalidToken
    inbox = Inbox(str(tmp_path / "inbox.sqlite"), database, max_messages=3, keep_seconds=100, max_tombstones=2)
    start = inbox.token()
    hrefs = [inbox.add("u", f"uid{i}", "REQUEST", f"text {i}", now=1000 + i) for i in range(5)]
    assert [m.href for m in inbox.list("u")] == hrefs[2:]   # the oldest went
    assert inbox.list("v") == [] and inbox.get("v", hrefs[4]) is None
    added, removed, _ = inbox.changes("u", start)
    assert [m.href for m in added] == hrefs[2:] and removed == hrefs[:2]
    # a sixth: a third tombstone, over the two kept, so the start token can no longer
    # tell everything that went
    hrefs.append(inbox.add("u", "uid5", "REQUEST", "text 5", now=1005))
    with pytest.raises(InvalidToken):
        inbox.changes("u", start)
    token = inbox.token()
    assert inbox.remove("u", hrefs[3]) and not inbox.remove("u", hrefs[3])
    added, removed, _ = inbox.changes("u", token)
    assert added == [] and removed == [hrefs[3]]
    # messages older than keep_seconds go when the next one comes
    newest = inbox.add("u", "late", "CANCEL", "text", now=1200)
    assert [m.href for m in inbox.list("u")] == [newest]
    assert inbox.get("u", newest).method == "CANCEL"
    with pytest.raises(InvalidToken):
        inbox.changes("u", "urn:roomcal:inbox:nonsense")

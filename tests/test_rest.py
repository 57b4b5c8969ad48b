"""JSCalendar JSON on the CalDAV URLs: negotiation, verbs, errors, sync, rooms.

Everything through a real server; the same items are read and written over
CalDAV and JSON.
"""

import concurrent.futures
import json
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import quote, unquote

import pytest

from conftest import event

JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module", autouse=True)
def setup(server):
    server.add_user("rs-admin", admin=True)
    server.add_user("rs-alice")
    server.add_user("rs-bob")
    server.add_room("rsroom", "--timezone", "Europe/Berlin", "--max-duration", "PT4H")
    assert server.request("MKCALENDAR", "/rs-alice/cal/", user="rs-alice").status_code == 201


def get_json(server, path, user="rs-alice", **kw):
    return server.request("GET", path, user=user, headers={**JSON, **kw.pop("headers", {})}, **kw)


def send(server, method, path, body, user="rs-alice", headers=None, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return server.request(method, path, user=user, data=data,
                          headers={"Content-Type": content_type, **(headers or {})})


def simple(title="Meeting", start="2027-06-01T10:00:00", duration="PT1H", **extra):
    return {"@type": "Event", "title": title, "start": start, "timeZone": "Europe/Berlin",
            "duration": duration, **extra}


# -- negotiation -------------------------------------------------------------------------
def test_same_url_two_representations(server):
    ics = event("20270601T080000Z", "20270601T090000Z", uid="neg-1", summary="Negotiated",
                extra="X-CLIENT-THING;X-P=1:keep me")
    assert server.put_ics("/rs-alice/cal/neg-1.ics", ics, user="rs-alice").status_code == 201
    as_ical = server.request("GET", "/rs-alice/cal/neg-1.ics", user="rs-alice")
    assert as_ical.headers["Content-Type"].startswith("text/calendar")
    both = server.request("GET", "/rs-alice/cal/neg-1.ics", user="rs-alice", headers={"Accept": "*/*"})
    assert both.headers["Content-Type"].startswith("text/calendar")
    as_json = get_json(server, "/rs-alice/cal/neg-1.ics")
    assert as_json.status_code == 200
    assert as_json.headers["Content-Type"].startswith("application/jscalendar+json")
    assert as_json.headers["ETag"] == as_ical.headers["ETag"]
    assert as_json.json()["title"] == "Negotiated" and as_json.json()["uid"] == "neg-1"
    assert get_json(server, "/rs-alice/cal/neg-1.ics",
                    headers={"If-None-Match": as_ical.headers["ETag"]}).status_code == 304


def test_collection_listing_props_and_pretty(server):
    send(server, "PUT", "/rs-alice/cal/list-1.ics", simple("Listed", uid="list-1"))
    listing = get_json(server, "/rs-alice/cal/")
    assert listing.status_code == 200
    responses = listing.json()["responses"]
    assert responses["/rs-alice/cal/list-1.ics"]["title"] == "Listed"
    etags = get_json(server, "/rs-alice/cal/", params={"props[]": "getetag"}).json()["responses"]
    item = server.request("GET", "/rs-alice/cal/list-1.ics", user="rs-alice")
    assert etags["/rs-alice/cal/list-1.ics"] == item.headers["ETag"]
    pretty = server.request("GET", "/rs-alice/cal/", user="rs-alice",
                            headers={"Accept": "application/pretty+json"})
    assert pretty.status_code == 200 and "\n  " in pretty.text


def test_listing_filters_by_time_range_and_text(server):
    send(server, "PUT", "/rs-alice/cal/f-june.ics", simple("Budget review", "2027-06-10T10:00:00", uid="f-june"))
    send(server, "PUT", "/rs-alice/cal/f-july.ics", simple("Garden party", "2027-07-10T10:00:00", uid="f-july"))
    june = get_json(server, "/rs-alice/cal/", params={"start": "2027-06-09", "end": "2027-06-11"})
    hrefs = set(june.json()["responses"])
    assert "/rs-alice/cal/f-june.ics" in hrefs and "/rs-alice/cal/f-july.ics" not in hrefs
    text = get_json(server, "/rs-alice/cal/", params={"text": "garden"})
    assert set(text.json()["responses"]) == {"/rs-alice/cal/f-july.ics"}


# -- writes ----------------------------------------------------------------------------------
def test_post_fills_server_fields_and_returns_location(server):
    created = send(server, "POST", "/rs-alice/cal/", simple("Posted"))
    assert created.status_code == 201
    # The server filled fields in: what is stored is not what was sent, so no ETag (RFC 4791
    # §5.3.4); the client reads the event (and its ETag) when it needs them.
    location = created.headers["Location"]
    assert location.startswith("/rs-alice/cal/") and "ETag" not in created.headers
    stored = get_json(server, location).json()
    assert stored["uid"] and stored["created"] and stored["updated"] and stored["prodId"]
    caldav = server.request("GET", location, user="rs-alice").text
    assert "SUMMARY:Posted" in caldav
    shown = send(server, "POST", "/rs-alice/cal/", simple("Shown"), headers={"Prefer": "return=representation"})
    assert shown.status_code == 201 and shown.json()["title"] == "Shown"
    # With the stored event in the answer comes its ETag.
    again = get_json(server, shown.headers["Location"])
    assert shown.headers["ETag"] == again.headers["ETag"] and shown.json() == again.json()


def test_put_replaces_creates_and_checks_preconditions(server):
    path = "/rs-alice/cal/put-1.ics"
    new = send(server, "PUT", path, simple("First", uid="put-1", description="goes away"))
    assert new.status_code == 201 and new.headers["Location"] == path and "ETag" not in new.headers
    etag = get_json(server, path).headers["ETag"]
    replaced = send(server, "PUT", path, simple("Second", uid="put-1"), headers={"If-Match": etag})
    assert replaced.status_code == 204
    after = get_json(server, path).json()
    assert after["title"] == "Second" and "description" not in after
    assert send(server, "PUT", path, simple("Third", uid="put-1"),
                headers={"If-Match": etag}).status_code == 412
    assert send(server, "PUT", path, simple("Third", uid="put-1"),
                headers={"If-None-Match": "*"}).status_code == 412
    changed_uid = send(server, "PUT", path, simple("Third", uid="another"))
    assert changed_uid.status_code == 422 and changed_uid.json()["properties"] == ["/uid"]
    shown = send(server, "PUT", path, simple("Fourth", uid="put-1"), headers={"Prefer": "return=representation"})
    assert shown.status_code == 200 and shown.json()["title"] == "Fourth"


def test_patch_is_atomic_and_keeps_what_a_caldav_client_stored(server):
    ics = event("20270602T080000Z", "20270602T090000Z", uid="patch-1", summary="Before",
                extra="DESCRIPTION:remove me\nX-THUNDERBIRD-THING;X-PARAM=yes:kept\nCATEGORIES:Work")
    path = "/rs-alice/cal/patch-1.ics"
    assert server.put_ics(path, ics, user="rs-alice").status_code == 201
    patched = send(server, "PATCH", path, {"title": "After", "description": None})
    assert patched.status_code == 204
    after = get_json(server, path).json()
    assert after["title"] == "After" and "description" not in after
    caldav = server.request("GET", path, user="rs-alice").text
    assert "X-THUNDERBIRD-THING;X-PARAM=yes:kept" in caldav.replace("\r\n ", "")
    assert "SUMMARY:After" in caldav and "DESCRIPTION" not in caldav
    before_bad = server.request("GET", path, user="rs-alice").text
    for bad in ({"title": "x", "nothere/deeper": 1}, {"keywords": {}, "keywords/Work": True},
                {"title": 5}):
        answer = send(server, "PATCH", path, bad)
        assert answer.status_code == 422, bad
        assert answer.json()["type"] in ("invalidPatch", "invalidProperties")
    assert server.request("GET", path, user="rs-alice").text == before_bad  # nothing applied
    assert send(server, "PATCH", "/rs-alice/cal/missing.ics", {"title": "x"}).status_code == 404
    assert send(server, "PATCH", path, {"title": "y"}, headers={"If-Match": '"stale"'}).status_code == 412


def test_delete_and_errors_are_json(server):
    path = "/rs-alice/cal/del-1.ics"
    send(server, "PUT", path, simple("Doomed", uid="del-1"))
    assert server.request("DELETE", path, user="rs-alice", headers=JSON).status_code == 204
    missing = server.request("DELETE", path, user="rs-alice", headers=JSON)
    assert missing.status_code == 404 and missing.json()["type"] == "notFound"
    broken = send(server, "POST", "/rs-alice/cal/", "{not json")
    assert broken.status_code == 400 and broken.json()["error"] == 400
    wrong_type = send(server, "POST", "/rs-alice/cal/", simple(**{"@type": "Task"}))
    assert wrong_type.status_code == 422 and "/@type" in wrong_type.json()["properties"]
    bad_values = send(server, "POST", "/rs-alice/cal/", simple(priority=12, status="maybe"))
    assert bad_values.status_code == 422
    assert {"/priority", "/status"} <= set(bad_values.json()["properties"])


def test_rights_apply_to_json(server):
    assert get_json(server, "/rs-alice/cal/", user="rs-bob").status_code == 403
    assert send(server, "POST", "/rs-alice/cal/", simple("Intruder"), user="rs-bob").status_code == 403
    token = server.token("rs-alice", "--read-only")
    read_only = server.request("POST", "/rs-alice/cal/", token=token, data=json.dumps(simple("RO")),
                               headers={"Content-Type": "application/json"})
    assert read_only.status_code == 403


# -- rooms -----------------------------------------------------------------------------------
def test_json_writes_into_rooms_go_through_the_booking_core(server):
    first = send(server, "POST", "/rooms/rsroom/", simple("Board", "2027-06-03T10:00:00"))
    assert first.status_code == 201
    clash = send(server, "POST", "/rooms/rsroom/", simple("Clash", "2027-06-03T10:30:00"), user="rs-bob")
    assert clash.status_code == 409 and clash.json()["type"] == "conflict"
    assert clash.json()["conflicts"][0]["href"] == first.headers["Location"]
    long = send(server, "POST", "/rooms/rsroom/", simple("Long", "2027-06-04T08:00:00", duration="PT5H"))
    assert long.status_code == 422 and long.json()["violations"][0]["rule"] == "max-duration"
    # bob may not change alice's booking by JSON either
    assert send(server, "PATCH", first.headers["Location"], {"title": "Mine now"}, user="rs-bob").status_code == 403
    # a participant of kind location naming the room is kept
    located = simple("With room", "2027-06-05T10:00:00", participants={
        "room": {"@type": "Participant", "name": "Room rsroom", "kind": "location",
                 "sendTo": {"imip": "mailto:rsroom@rooms.example"}}})
    made = send(server, "POST", "/rooms/rsroom/", located)
    assert made.status_code == 201
    kinds = [p.get("kind") for p in get_json(server, made.headers["Location"]).json()["participants"].values()]
    assert "location" in kinds
    # CalDAV sees the JSON booking: a conflicting CalDAV PUT is refused
    caldav = server.put_ics("/rooms/rsroom/c.ics", event("20270605T083000Z", "20270605T090000Z"), user="rs-bob")
    assert caldav.status_code == 409


# -- sync ------------------------------------------------------------------------------------
def sync(server, path, token, nresults=None, user="rs-alice"):
    params = {"sync-token": token}
    if nresults:
        params["nresults"] = nresults
    return get_json(server, path, user=user, params=params)


def test_sync_full_delta_deletions_and_invalid_tokens(server):
    assert server.request("MKCALENDAR", "/rs-alice/sync/", user="rs-alice").status_code == 201
    for n in range(3):
        send(server, "PUT", f"/rs-alice/sync/s{n}.ics", simple(f"S{n}", uid=f"s{n}"))
    full = sync(server, "/rs-alice/sync/", "").json()
    assert len(full["responses"]) == 3 and full["sync-token"]
    token = full["sync-token"]
    nothing = sync(server, "/rs-alice/sync/", token).json()
    assert nothing["responses"] == {} and nothing["sync-token"]
    send(server, "PATCH", "/rs-alice/sync/s1.ics", {"title": "S1 changed"})
    server.put_ics("/rs-alice/sync/s3.ics", event("20270601T080000Z", "20270601T090000Z", uid="s3"),
                   user="rs-alice")  # a CalDAV write shows up in JSON sync
    assert server.request("DELETE", "/rs-alice/sync/s0.ics", user="rs-alice").status_code == 200
    delta = sync(server, "/rs-alice/sync/", token).json()
    assert list(delta["responses"]) == ["/rs-alice/sync/s1.ics", "/rs-alice/sync/s3.ics", "/rs-alice/sync/s0.ics"]
    assert delta["responses"]["/rs-alice/sync/s1.ics"]["title"] == "S1 changed"
    assert delta["responses"]["/rs-alice/sync/s0.ics"] is None
    for bad in ("garbage", "urn:roomcal:sync:999999999"):
        refused = sync(server, "/rs-alice/sync/", bad)
        assert refused.status_code == 403 and refused.json()["type"] == "cannotCalculateChanges"
    # CalDAV sync-collection keeps working
    report = server.request("REPORT", "/rs-alice/sync/", user="rs-alice", headers={"Depth": "1"},
                            data='<sync-collection xmlns="DAV:"><sync-token/><sync-level>1</sync-level>'
                                 '<prop><getetag/></prop></sync-collection>')
    assert report.status_code == 207 and "s3.ics" in report.text


def test_a_move_between_calendars_shows_in_both_syncs(server):
    for name in ("mv-from", "mv-to"):
        assert server.request("MKCALENDAR", f"/rs-alice/{name}/", user="rs-alice").status_code == 201
    server.put_ics("/rs-alice/mv-from/m.ics", event("20270601T080000Z", "20270601T090000Z", uid="mv"),
                   user="rs-alice")
    tokens = {name: sync(server, f"/rs-alice/{name}/", "").json()["sync-token"] for name in ("mv-from", "mv-to")}
    caldav_token = _caldav_sync_token(server, "/rs-alice/mv-to/")
    moved = server.request("MOVE", "/rs-alice/mv-from/m.ics", user="rs-alice",
                           headers={"Destination": server.url + "/rs-alice/mv-to/m.ics"})
    assert moved.status_code == 201
    assert sync(server, "/rs-alice/mv-from/", tokens["mv-from"]).json()["responses"] == {"/rs-alice/mv-from/m.ics": None}
    assert list(sync(server, "/rs-alice/mv-to/", tokens["mv-to"]).json()["responses"]) == ["/rs-alice/mv-to/m.ics"]
    report = server.request("REPORT", "/rs-alice/mv-to/", user="rs-alice", headers={"Depth": "1"},
                            data=f'<sync-collection xmlns="DAV:"><sync-token>{caldav_token}</sync-token>'
                                 '<sync-level>1</sync-level><prop><getetag/></prop></sync-collection>')
    assert report.status_code == 207 and "/rs-alice/mv-to/m.ics" in report.text


def _caldav_sync_token(server, path):
    report = server.request("REPORT", path, user="rs-alice", headers={"Depth": "1"},
                            data='<sync-collection xmlns="DAV:"><sync-token/><sync-level>1</sync-level>'
                                 '<prop><getetag/></prop></sync-collection>')
    return ET.fromstring(report.content).find("{DAV:}sync-token").text   # (its prefix varies)


def test_paged_sync_has_no_gaps_or_repeats_while_others_write(server):
    assert server.request("MKCALENDAR", "/rs-alice/paged/", user="rs-alice").status_code == 201
    token = sync(server, "/rs-alice/paged/", "").json()["sync-token"]
    written = [f"p{n}.ics" for n in range(30)]

    def write(name):
        return send(server, "PUT", f"/rs-alice/paged/{name}", simple(name, uid=name[:-4])).status_code
    seen = []
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(write, name) for name in written]
        while True:  # page while the writers are still going
            page = sync(server, "/rs-alice/paged/", token, nresults=4).json()
            seen.extend(page["responses"])
            token = page["sync-token"]
            if not page.get("more-results") and all(f.done() for f in futures):
                break
        assert all(f.result() == 201 for f in futures)
    final = sync(server, "/rs-alice/paged/", token).json()  # whatever landed after the last page
    seen.extend(final["responses"])
    names = [href.rsplit("/", 1)[1] for href in seen]
    assert sorted(set(names)) == sorted(written)  # no gaps
    assert len(names) == len(set(names))          # no repeats (each item written once)


def replay(server, path, token, state, nresults=None):
    """Follow ``token`` page by page into ``state`` (href -> event) as a client would;
    returns the last token.  An href may come only once per initial sync."""
    listed = set()
    initial = not token
    while True:
        page = sync(server, path, token, nresults=nresults).json()
        for href, item in page["responses"].items():
            if initial:
                assert href not in listed, f"{href} listed twice"
                listed.add(href)
            if item is None:
                state.pop(href, None)
            else:
                state[href] = item
        token = page["sync-token"]
        if not page.get("more-results"):
            return token


def test_initial_sync_pages_with_nresults(server):
    uids = [f"init-{n:02d}" for n in range(7)]
    for n, uid in enumerate(uids):  # a room: the same paging on a room's URL
        created = send(server, "PUT", f"/rooms/rsroom/{uid}.ics",
                       simple(uid, start=f"2027-09-{n + 1:02d}T10:00:00", uid=uid), user="rs-bob")
        assert created.status_code == 201, created.text
    pages, token = [], ""
    while True:
        page = sync(server, "/rooms/rsroom/", token, nresults=3, user="rs-bob").json()
        pages.append(page)
        token = page["sync-token"]
        if not page.get("more-results"):
            break
    mine = [[h for h in p["responses"] if "/init-" in h] for p in pages]
    assert all(len(p["responses"]) <= 3 for p in pages) and len(pages) >= 3
    assert [h for p in mine for h in p] == [f"/rooms/rsroom/{uid}.ics" for uid in uids]  # href order
    assert all(p["more-results"] is True for p in pages[:-1])
    # The last token is a delta token: nothing changed since the first page.
    assert sync(server, "/rooms/rsroom/", token, user="rs-bob").json()["responses"] == {}
    # Without nresults everything comes at once, as before.
    whole = sync(server, "/rooms/rsroom/", "", user="rs-bob").json()
    assert "more-results" not in whole and len(whole["responses"]) == sum(len(p["responses"]) for p in pages)
    # A continuing token that is not one of ours is refused like any bad token.
    bad = sync(server, "/rooms/rsroom/", pages[0]["sync-token"] + "!!", user="rs-bob")
    assert bad.status_code == 403 and bad.json()["type"] == "cannotCalculateChanges"


def test_initial_sync_pages_names_in_one_order_whatever_their_letters(server):
    """A page lists the names after the last one listed, read by the store (PostgreSQL in
    byte order, whatever its collation, which would put "a" beside "A" and skip "-"): pages
    of 2 list every name once, in Python's order of them, on both stores."""
    path = "/rs-alice/letters/"
    assert server.request("MKCALENDAR", path, user="rs-alice").status_code == 201
    names = ["b.ics", "B.ics", "a.ics", "Z.ics", "-x.ics", "ä.ics", "ab.ics", "a-c.ics", "10.ics", "9.ics"]
    for n, name in enumerate(names):
        answer = send(server, "PUT", f"{path}{quote(name)}", simple(name, uid=f"letters-{n}"))
        assert answer.status_code == 201, answer.text
    listed, token = [], ""
    while True:
        page = sync(server, path, token, nresults=2).json()
        assert len(page["responses"]) <= 2
        listed += [unquote(href.rsplit("/", 1)[1]) for href in page["responses"]]
        token = page["sync-token"]
        if not page.get("more-results"):
            break
    assert listed == sorted(names)


def test_a_sync_of_etags_alone_lists_what_the_full_sync_lists(server):
    """props[]=getetag answers each event's ETag without reading or converting the items
    (server/rest.py): the same hrefs as a full sync (a task is no Event, in both), each
    the ETag a CalDAV GET gives, an item deleted since the token as null; in a room too."""
    path = "/rs-alice/etags/"
    assert server.request("MKCALENDAR", path, user="rs-alice").status_code == 201
    for n in range(3):
        assert send(server, "PUT", f"{path}e{n}.ics", simple(f"e{n}", uid=f"etags-{n}")).status_code == 201
    task = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VTODO\r\nUID:etags-task\r\n" \
           "DTSTAMP:20270101T000000Z\r\nSUMMARY:A task\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    assert server.put_ics(f"{path}task.ics", task, user="rs-alice").status_code == 201
    room = "/rooms/rsroom/"
    assert send(server, "PUT", f"{room}etags-room.ics", simple("r", start="2027-09-20T10:00:00", uid="etags-room"),
                user="rs-bob").status_code == 201

    def etags(where, token="", user="rs-alice"):
        return get_json(server, where, user=user, params={"sync-token": token, "props[]": "getetag"}).json()

    for where, user in ((path, "rs-alice"), (room, "rs-bob")):
        full = get_json(server, where, user=user, params={"sync-token": ""}).json()["responses"]
        alone = etags(where, user=user)["responses"]
        assert set(alone) == set(full) and alone
        for href, etag in alone.items():
            assert etag == server.request("GET", href, user=user).headers["ETag"]
    assert f"{path}task.ics" not in etags(path)["responses"]
    token = etags(path)["sync-token"]
    assert server.request("DELETE", f"{path}e1.ics", user="rs-alice").status_code in (200, 204)
    assert etags(path, token)["responses"] == {f"{path}e1.ics": None}


def test_initial_sync_pages_miss_nothing_when_others_write_between_pages(server):
    path = "/rs-alice/initial/"
    assert server.request("MKCALENDAR", path, user="rs-alice").status_code == 201

    def put(name, title=None):
        answer = send(server, "PUT", f"{path}{name}.ics", simple(title or name, uid=name))
        assert answer.status_code == (204 if title else 201), answer.text   # changed / new
    for n in range(12):
        put(f"m{n:02d}")
    state, listed = {}, []
    first = sync(server, path, "", nresults=4).json()
    listed += first["responses"]
    state.update(first["responses"])
    assert first["more-results"] is True and sorted(listed) == listed
    # Between pages: changes before and after the position reached (m03).
    put("a-new")                           # sorts before: only a delta can bring it
    put("z-new")                           # sorts after: a later page brings it
    put("m01", "m01 changed")              # listed already: changed
    put("m09", "m09 changed")              # not listed yet: a later page has the new title
    assert server.request("DELETE", f"{path}m02.ics", user="rs-alice").status_code == 200
    assert server.request("DELETE", f"{path}m10.ics", user="rs-alice").status_code == 200
    token = replay(server, path, first["sync-token"], state, nresults=4)
    assert f"{path}m10.ics" not in state and state[f"{path}m09.ics"]["title"] == "m09 changed"
    put("m05", "m05 changed after the pages")
    replay(server, path, token, state)     # the next delta: whatever the pages could not show
    now = sync(server, path, "").json()["responses"]
    assert {href: event["title"] for href, event in state.items()} == \
        {href: event["title"] for href, event in now.items()}
    assert f"{path}a-new.ics" in state and f"{path}m02.ics" not in state


def test_initial_sync_pages_while_others_write_concurrently(server):
    path = "/rs-alice/busy/"
    assert server.request("MKCALENDAR", path, user="rs-alice").status_code == 201
    for n in range(10):
        send(server, "PUT", f"{path}b{n:02d}.ics", simple(f"b{n:02d}", uid=f"b{n:02d}"))

    def write(n):
        if n % 3 == 2:
            return server.request("DELETE", f"{path}b{n // 3:02d}.ics", user="rs-alice").status_code
        return send(server, "PUT", f"{path}{'a' if n % 2 else 'c'}{n:02d}.ics",
                    simple(f"w{n}", uid=f"w{n}")).status_code
    state = {}
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(write, n) for n in range(24)]
        token = replay(server, path, "", state, nresults=3)
        assert all(f.result() in (200, 201, 204) for f in futures)
    replay(server, path, token, state)
    now = sync(server, path, "").json()["responses"]
    assert {h: e["title"] for h, e in state.items()} == {h: e["title"] for h, e in now.items()}


def test_patch_paths_stay_valid_across_reads(server):
    ics = event("20270607T080000Z", "20270607T090000Z", uid="ids-1",
                extra="ORGANIZER;CN=Alice:mailto:alice@example.org\n"
                      "ATTENDEE;CN=Bob;PARTSTAT=NEEDS-ACTION:mailto:bob@example.org")
    path = "/rs-alice/cal/ids-1.ics"
    server.put_ics(path, ics, user="rs-alice")
    first = get_json(server, path).json()["participants"]
    again = get_json(server, path).json()["participants"]
    assert first == again
    bob = next(pid for pid, p in first.items() if "bob" in json.dumps(p))
    assert send(server, "PATCH", path, {f"participants/{bob}/participationStatus": "accepted"}).status_code == 204
    assert "PARTSTAT=ACCEPTED" in server.request("GET", path, user="rs-alice").text
    assert get_json(server, path).json()["participants"][bob]["participationStatus"] == "accepted"


def test_unique_ids_are_not_reused(server):
    uid = str(uuid.uuid4())
    assert send(server, "PUT", "/rs-alice/cal/a-dup.ics", simple("A", uid=uid)).status_code == 201
    duplicate = send(server, "PUT", "/rs-alice/cal/b-dup.ics", simple("B", uid=uid))
    assert duplicate.status_code == 422


def test_tasks_in_a_personal_calendar_are_not_events(server):
    todo = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VTODO\r\nUID:todo-1\r\n"
            "DTSTAMP:20270101T000000Z\r\nSUMMARY:Buy milk\r\nEND:VTODO\r\nEND:VCALENDAR\r\n")
    assert server.request("MKCALENDAR", "/rs-alice/mixed/", user="rs-alice").status_code == 201
    assert server.put_ics("/rs-alice/mixed/todo-1.ics", todo, user="rs-alice").status_code == 201
    send(server, "PUT", "/rs-alice/mixed/ev-1.ics", simple("An event", uid="ev-1"))
    listing = get_json(server, "/rs-alice/mixed/")
    assert listing.status_code == 200
    assert set(listing.json()["responses"]) == {"/rs-alice/mixed/ev-1.ics"}
    assert get_json(server, "/rs-alice/mixed/todo-1.ics").status_code == 406

"""Subscription feeds and free/busy (issue 6), over HTTP on a real server.

Cast: ``fd-adm`` (admin), ``fd-mgr`` (manager of every room here), ``fd-bkr`` (books),
``fd-out`` (an ordinary user), ``fd-view`` (a viewer of the restricted room).
Rooms: ``fd-main`` (Europe/Berlin, everyone books and reads) holds the bookings every
feed test reads; ``fd-fb`` (``--bookers fd-bkr --viewers fd-view``) is free/busy only
for everyone else; ``fd-pend`` needs approval (pending = tentative).
Every feed body is parsed with ``icalendar``; every secret created here is checked
against serve.log and the data folder at the end.
"""

import datetime
import os
import textwrap
import uuid

import icalendar
import pytest
import recurring_ical_events
import requests

from conftest import assert_no_500, event

ADMIN, MGR, BKR, OUT, VIEW = "fd-adm", "fd-mgr", "fd-bkr", "fd-out", "fd-view"
MAIN, FB, PEND = "fd-main", "fd-fb", "fd-pend"
UTC = datetime.timezone.utc
TODAY = datetime.datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
SECRETS = []  # every feed secret handed out in this module
BUSY_KEYS = {"UID", "DTSTAMP", "DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE",
             "RECURRENCE-ID", "SUMMARY", "STATUS"}
DETAILED_UID = "board-layoffs-2027"  # a UID that says what the booking is
LEAKS = ("Layoffs", "Severance plan", "mailto:", "Glass box", "HR-ONLY", "X-SECRET", "https://intra",
         "ROOMCAL-BOOKED", BKR, DETAILED_UID, "Private talk", "VALARM", "CLASS")

FREE_BUSY_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">
<C:time-range start="{start}" end="{end}"/></C:free-busy-query>"""
CALENDAR_QUERY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:calendar-data/></D:prop>
<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter>
</C:calendar-query>"""
PROPFIND = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"""
MULTIGET = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><C:calendar-data/></D:prop><D:href>{href}</D:href></C:calendar-multiget>"""
SYNC = """<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:sync-token/><D:sync-level>1</D:sync-level><D:prop><C:calendar-data/></D:prop></D:sync-collection>"""


# -- helpers ------------------------------------------------------------------------------------
def at(days, hour=10, minute=0):
    return TODAY + datetime.timedelta(days=days, hours=hour, minutes=minute)


def ical(moment, floating=False):
    return moment.strftime("%Y%m%dT%H%M%S") + ("" if floating else "Z")


def put(server, room, ics, user=BKR):
    response = server.put_ics(f"/rooms/{room}/{uuid.uuid4().hex}.ics", ics, user=user)
    assert response.status_code == 201, response.text
    return response


def one(server, room, days, summary, hour=10, user=BKR, **options):
    put(server, room, event(ical(at(days, hour)), ical(at(days, hour + 1)), summary=summary, **options),
        user=user)


def create_feed(server, room=MAIN, user=MGR, busy_only=False, label="test"):
    response = server.request("POST", f"/api/rooms/{room}/feeds", user=user,
                              json={"busyOnly": busy_only, "label": label})
    assert response.status_code == 201, response.text
    body = response.json()
    SECRETS.append(body["url"].rsplit("/", 1)[1][:-len(".ics")])
    return body


def random_part(secret):
    """The 43 random characters after rcf_<id>_ (they may contain '_' themselves)."""
    assert len(secret) == len("rcf_") + 12 + 1 + 43, secret
    return secret[len("rcf_") + 13:]


def fetch(url, **headers):
    response = requests.get(url, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "text/calendar; charset=utf-8"
    return response


def parse(response):
    calendars = icalendar.Calendar.from_ical(response.content, multiple=True)
    assert len(calendars) == 1
    return calendars[0]


def events_by_summary(calendar):
    found = {}
    for component in calendar.walk("VEVENT"):
        found.setdefault(str(component.get("SUMMARY")), []).append(component)
    return found


@pytest.fixture(scope="module")
def site(server):
    for name in (ADMIN, MGR, BKR, OUT, VIEW):
        server.add_user(name, admin=name == ADMIN)
    server.add_room(MAIN, "--timezone", "Europe/Berlin", "--managers", MGR, name="Main hall")
    server.add_room(FB, "--bookers", BKR, "--viewers", VIEW, "--managers", MGR, name="Boardroom")
    server.add_room(PEND, "--approval", "--managers", MGR, name="Pending room")

    put(server, MAIN, event(ical(at(3)), ical(at(3, 11)), uid=DETAILED_UID, summary="Layoffs", extra="""
        DESCRIPTION:Severance plan for Q1
        ORGANIZER;CN=Boss:mailto:boss@example.org
        ATTENDEE;CN=Someone:mailto:someone@example.org
        ATTENDEE:mailto:other@example.org
        LOCATION:Glass box
        CATEGORIES:HR-ONLY
        CLASS:PUBLIC
        URL:https://intra.example.org/layoffs
        X-SECRET:do not share
        BEGIN:VALARM
        ACTION:DISPLAY
        TRIGGER:-PT15M
        DESCRIPTION:Layoffs soon
        END:VALARM"""))
    one(server, MAIN, -20, "Past inside")
    one(server, MAIN, -40, "Past outside")
    one(server, MAIN, 300, "Far inside")
    one(server, MAIN, 400, "Too far")
    one(server, MAIN, 5, "Called off", extra="STATUS:CANCELLED")
    one(server, MAIN, 6, "Just a note", extra="TRANSP:TRANSPARENT")
    one(server, MAIN, 8, "Private talk", extra="CLASS:PRIVATE\nDESCRIPTION:Private talk details")
    put(server, MAIN, event(ical(at(7, 14), floating=True), ical(at(7, 15), floating=True),
                            summary="Floating"))
    put(server, MAIN, SERIES)
    put(server, MAIN, textwrap.dedent(f"""\
        BEGIN:VCALENDAR
        VERSION:2.0
        PRODID:-//t//EN
        BEGIN:VEVENT
        UID:old-series
        DTSTAMP:20260101T000000Z
        DTSTART:{ical(at(-100, 7))}
        DTEND:{ical(at(-100, 8))}
        RRULE:FREQ=WEEKLY;COUNT=3
        SUMMARY:Old series
        END:VEVENT
        END:VCALENDAR
        """).replace("\n", "\r\n"))
    one(server, FB, 2, "Confidential merger")
    one(server, PEND, 2, "Waiting for approval")
    return server


SERIES_START = at(-14, 7)
SERIES = textwrap.dedent(f"""\
    BEGIN:VCALENDAR
    VERSION:2.0
    PRODID:-//t//EN
    BEGIN:VEVENT
    UID:standup-series
    DTSTAMP:20260101T000000Z
    DTSTART:{ical(SERIES_START)}
    DTEND:{ical(SERIES_START + datetime.timedelta(minutes=30))}
    RRULE:FREQ=WEEKLY;COUNT=10
    EXDATE:{ical(SERIES_START + datetime.timedelta(weeks=2))}
    SUMMARY:Standup
    DESCRIPTION:Daily-ish standup notes
    END:VEVENT
    BEGIN:VEVENT
    UID:standup-series
    DTSTAMP:20260101T000000Z
    RECURRENCE-ID:{ical(SERIES_START + datetime.timedelta(weeks=3))}
    DTSTART:{ical(SERIES_START + datetime.timedelta(weeks=3, hours=2))}
    DTEND:{ical(SERIES_START + datetime.timedelta(weeks=3, hours=2, minutes=30))}
    SUMMARY:Moved standup
    END:VEVENT
    BEGIN:VEVENT
    UID:standup-series
    DTSTAMP:20260101T000000Z
    RECURRENCE-ID:{ical(SERIES_START + datetime.timedelta(weeks=4))}
    DTSTART:{ical(SERIES_START + datetime.timedelta(weeks=4))}
    DTEND:{ical(SERIES_START + datetime.timedelta(weeks=4, minutes=30))}
    STATUS:CANCELLED
    SUMMARY:Standup
    END:VEVENT
    END:VCALENDAR
    """).replace("\n", "\r\n")


@pytest.fixture(scope="module")
def feeds(site):
    """A full and a busy-only feed of the main room, fetched once."""
    full, busy = create_feed(site), create_feed(site, busy_only=True)
    return {"full": full, "busy": busy,
            "full_response": fetch(full["url"]), "busy_response": fetch(busy["url"])}


# -- content ------------------------------------------------------------------------------------
def test_full_feed_has_the_details_minus_alarms(feeds):
    calendar = parse(feeds["full_response"])
    assert str(calendar["X-WR-CALNAME"]) == "Main hall"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT1H" in feeds["full_response"].text
    assert str(calendar["X-PUBLISHED-TTL"]) == "PT1H"
    by = events_by_summary(calendar)
    layoffs, = by["Layoffs"]
    assert str(layoffs["UID"]) == DETAILED_UID
    assert str(layoffs["DESCRIPTION"]) == "Severance plan for Q1"
    assert str(layoffs["ORGANIZER"]) == "mailto:boss@example.org"
    assert sorted(str(a) for a in layoffs["ATTENDEE"]) == ["mailto:other@example.org",
                                                             "mailto:someone@example.org"]
    assert str(layoffs["LOCATION"]) == "Glass box"
    assert "HR-ONLY" in layoffs["CATEGORIES"].to_ical().decode()
    assert str(layoffs["X-SECRET"]) == "do not share"
    assert not layoffs.walk("VALARM"), "alarms of the booker must not ring on subscribers' devices"
    assert layoffs["DTSTART"].dt == at(3)
    assert "Just a note" in by  # transparent bookings are bookings too in a full feed
    # A private booking is busy-only even in a full feed.
    assert "Private talk" not in feeds["full_response"].text
    assert len(by["Busy"]) == 1 and "DESCRIPTION" not in by["Busy"][0]


def test_busy_only_feed_has_times_and_nothing_else(feeds):
    text = feeds["busy_response"].text
    for word in LEAKS + ("Standup", "Floating", "Past inside", "Far inside"):
        assert word not in text, word
    calendar = parse(feeds["busy_response"])
    full_events = {(e["DTSTART"].dt, e["DTEND"].dt) for e in parse(feeds["full_response"]).walk("VEVENT")
                   if str(e.get("TRANSP", "")) != "TRANSPARENT"}
    busy_events = calendar.walk("VEVENT")
    assert {(e["DTSTART"].dt, e["DTEND"].dt) for e in busy_events} == full_events
    for component in busy_events:
        assert set(component.keys()) <= BUSY_KEYS, set(component.keys()) - BUSY_KEYS
        assert str(component["SUMMARY"]) == "Busy"
        assert not component.subcomponents
        assert str(component.get("STATUS", "TENTATIVE")) == "TENTATIVE"
        assert str(component["UID"]).endswith("@roomcal")
    layoffs, = [e for e in busy_events if e["DTSTART"].dt == at(3)]
    for name in ("DESCRIPTION", "ORGANIZER", "ATTENDEE", "LOCATION", "CATEGORIES", "CLASS", "URL",
                 "X-SECRET", "X-ROOMCAL-BOOKED-BY"):
        assert name not in layoffs


def test_window_cancelled_and_transparent(feeds):
    full = events_by_summary(parse(feeds["full_response"]))
    assert "Past inside" in full and "Far inside" in full
    assert "Past outside" not in full and "Too far" not in full
    assert "Old series" not in full  # every occurrence before the window
    assert "Called off" not in full
    busy_starts = {e["DTSTART"].dt for e in parse(feeds["busy_response"]).walk("VEVENT")}
    assert at(-20) in busy_starts and at(300) in busy_starts
    assert at(-40) not in busy_starts and at(400) not in busy_starts and at(5) not in busy_starts
    assert at(6) not in busy_starts  # transparent: not busy


def test_recurring_bookings_stay_recurring_with_their_exceptions(feeds):
    expected = [SERIES_START + datetime.timedelta(weeks=w) for w in range(10) if w not in (2, 4)]
    expected[2] += datetime.timedelta(hours=2)  # week 3 was moved
    for kind in ("full", "busy"):
        calendar = parse(feeds[f"{kind}_response"])
        series = [e for e in calendar.walk("VEVENT") if "RRULE" in e or "RECURRENCE-ID" in e]
        masters = [e for e in series if "RRULE" in e]
        overrides = [e for e in series if "RECURRENCE-ID" in e]
        assert len(masters) == 1 and len(overrides) == 1, kind
        assert str(masters[0]["UID"]) == str(overrides[0]["UID"])
        exdates = {d.dt for d in masters[0]["EXDATE"].dts} if not isinstance(masters[0]["EXDATE"], list) \
            else {d.dt for v in masters[0]["EXDATE"] for d in v.dts}
        assert exdates == {SERIES_START + datetime.timedelta(weeks=2),
                           SERIES_START + datetime.timedelta(weeks=4)}, kind
        assert "CANCELLED" not in calendar.to_ical().decode()
        occurrences = recurring_ical_events.of(calendar).between(at(-30, 0), at(400, 0))
        starts = sorted(o["DTSTART"].dt for o in occurrences if str(o["UID"]) == str(masters[0]["UID"]))
        assert starts == expected, kind
        if kind == "full":
            assert str(overrides[0]["SUMMARY"]) == "Moved standup"
            assert str(masters[0]["UID"]) == "standup-series"
        else:
            assert str(overrides[0]["SUMMARY"]) == "Busy"
            assert "standup" not in str(masters[0]["UID"])


def test_time_zones_and_floating_times(feeds):
    for kind in ("full", "busy"):
        calendar = parse(feeds[f"{kind}_response"])
        zones = {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")}
        assert zones == calendar.get_used_tzids() == {"Europe/Berlin"}, kind
        # Floating 14:00 is read in the room's zone: the feed says so.
        floating, = [e for e in calendar.walk("VEVENT")
                     if e["DTSTART"].dt.replace(tzinfo=None) == at(7, 14).replace(tzinfo=None)]
        assert floating["DTSTART"].params["TZID"] == "Europe/Berlin", kind
        assert floating["DTEND"].params["TZID"] == "Europe/Berlin", kind


def test_pending_bookings_are_tentative_in_busy_feeds(site):
    calendar = parse(fetch(create_feed(site, room=PEND, busy_only=True)["url"]))
    pending, = calendar.walk("VEVENT")
    assert str(pending["STATUS"]) == "TENTATIVE" and str(pending["SUMMARY"]) == "Busy"


# -- HTTP: caching, HEAD, revoke ------------------------------------------------------------------
def test_etag_304_head_and_changes(site, feeds):
    url = feeds["busy"]["url"]
    first = fetch(url)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert fetch(url).headers["ETag"] == etag
    again = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    assert requests.get(url, headers={"If-Modified-Since": modified}, timeout=30).status_code == 304
    head = requests.head(url, timeout=30)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["ETag"] == etag and int(head.headers["Content-Length"]) == len(first.content)
    one(site, MAIN, 10, "Added later")
    changed = requests.get(url, headers={"If-None-Match": etag}, timeout=30)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert len(parse(changed).walk("VEVENT")) == len(parse(first).walk("VEVENT")) + 1


def test_revoked_unknown_and_malformed_links_are_404(site):
    feed = create_feed(site, label="to revoke")
    url, secret = feed["url"], SECRETS[-1]
    fetch(url)
    base = url[:url.index("/.feeds/")]
    tampered = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    for path in (f"/.feeds/{tampered}.ics", "/.feeds/rcf_000000000000_" + "x" * 43 + ".ics",
                 "/.feeds/nothing.ics", "/.feeds/", "/.feeds", f"/.feeds/{secret}", f"/.feeds/{secret}.ics/",
                 f"/.feeds/{secret}.ics/x.ics", f"/.feeds/x/{secret}.ics"):
        response = requests.get(base + path, timeout=30)
        assert response.status_code == 404, path
    assert site.request("DELETE", f"/api/rooms/{MAIN}/feeds/{feed['id']}", user=MGR).status_code == 204
    gone = requests.get(url, timeout=30)
    assert gone.status_code == 404 and "revoked" in gone.text
    assert site.request("DELETE", f"/api/rooms/{MAIN}/feeds/{feed['id']}", user=MGR).status_code == 404


def test_the_secret_grants_the_feed_and_nothing_else(site, feeds):
    url, secret = feeds["full"]["url"], SECRETS[0]
    base = url[:url.index("/.feeds/")]
    for method in ("PROPFIND", "REPORT", "PUT", "DELETE", "POST", "PATCH", "OPTIONS", "PROPPATCH",
                   "MKCALENDAR", "MKCOL", "MOVE", "COPY", "LOCK"):
        response = requests.request(method, url, data=CALENDAR_QUERY if method == "REPORT" else b"",
                                    headers={"Depth": "1"}, timeout=30)
        assert response.status_code == 405, method
        assert response.headers["Allow"] == "GET, HEAD"
        assert "Layoffs" not in response.text
    bearer = {"Authorization": f"Bearer {secret}"}
    for method, path, body in (("GET", "/api/rooms", None), ("GET", f"/api/rooms/{MAIN}/feeds", None),
                               ("PROPFIND", f"/rooms/{MAIN}/", PROPFIND),
                               ("REPORT", f"/rooms/{MAIN}/", CALENDAR_QUERY),
                               ("GET", f"/rooms/{MAIN}/", None), ("PUT", f"/rooms/{MAIN}/x.ics", "x"),
                               ("DELETE", f"/rooms/{MAIN}/", None), ("GET", url[len(base):], None)):
        response = requests.request(method, base + path, headers={**bearer, "Depth": "1"}, data=body,
                                    timeout=30)
        if path.startswith("/.feeds/"):  # the feed URL ignores credentials: still just the feed
            assert response.status_code == 200
            continue
        assert response.status_code == 401, (method, path)
        assert "Layoffs" not in response.text
    for auth in ((secret, "x"), ("fd-bkr", secret), ("x", secret)):
        assert requests.get(base + f"/rooms/{MAIN}/", auth=auth, timeout=30).status_code == 401
    for path in (f"/.token/v1/{secret}/", f"/rooms/{MAIN}/{secret}.ics", f"/{secret}/",
                 f"/api/feeds/{secret}", f"/.feeds/{secret}.ics".upper()):
        for method in ("GET", "PROPFIND", "REPORT"):
            response = requests.request(method, base + path, headers={"Depth": "1"}, timeout=30)
            # anonymous: a login is asked for, but Radicale refuses paths of dot-folders outright
            refused = 403 if path.startswith("/.token/") else 401
            assert response.status_code == refused, (method, path, response.status_code)
            assert "Layoffs" not in response.text


def test_a_removed_room_takes_its_feeds_along(site):
    room = "fd-gone"
    site.add_room(room)
    url = create_feed(site, room=room, user=ADMIN)["url"]
    fetch(url)
    site.cli("room", "remove", room, "--force")
    assert requests.get(url, timeout=30).status_code == 404
    site.add_room(room)  # a new room with the same id does not revive old links
    assert requests.get(url, timeout=30).status_code == 404
    assert site.request("GET", f"/api/rooms/{room}/feeds", user=MGR).status_code == 403
    assert site.request("GET", f"/api/rooms/{room}/feeds", user=ADMIN).json() == {"feeds": []}


# -- /api/rooms/<id>/feeds ------------------------------------------------------------------------
def test_api_feeds_for_managers_and_admins_only(site, feeds):
    path = f"/api/rooms/{MAIN}/feeds"
    listing = site.request("GET", path, user=MGR)
    assert listing.status_code == 200
    entries = {f["id"]: f for f in listing.json()["feeds"]}
    assert entries[feeds["busy"]["id"]]["busyOnly"] is True
    assert entries[feeds["full"]["id"]]["busyOnly"] is False
    assert all("url" not in f and "webcal" not in f for f in entries.values())
    for secret in SECRETS:
        assert secret not in listing.text and random_part(secret) not in listing.text
    created = create_feed(site, user=ADMIN, busy_only=True, label="door display")
    assert created["webcal"] == "webcal" + created["url"][len("http"):]
    assert created["createdBy"] == ADMIN and created["label"] == "door display"
    assert site.request("GET", f"{path}/{created['id']}", user=ADMIN).json()["label"] == "door display"
    for user in (BKR, OUT, VIEW):
        assert site.request("GET", path, user=user).status_code == 403
        assert site.request("POST", path, user=user, json={}).status_code == 403
        assert site.request("DELETE", f"{path}/{created['id']}", user=user).status_code == 403
    read_only = site.token(MGR, "--read-only")
    assert site.request("GET", path, token=read_only).status_code == 200
    assert site.request("POST", path, token=read_only, json={}).status_code == 403
    assert site.request("DELETE", f"{path}/{created['id']}", token=read_only).status_code == 403
    assert site.request("GET", path).status_code == 401
    assert site.request("GET", "/api/rooms/fd-nowhere/feeds", user=ADMIN).status_code == 404
    assert site.request("DELETE", f"/api/rooms/{PEND}/feeds/{created['id']}", user=MGR).status_code == 404
    assert site.request("DELETE", f"{path}/{created['id']}", user=MGR).status_code == 204
    assert requests.get(created["url"], timeout=30).status_code == 404


def test_api_feed_bodies_are_checked(site):
    path = f"/api/rooms/{MAIN}/feeds"
    for body in ({"busyOnly": "yes"}, {"busy_only": True}, [True], {"label": 5}, {"label": "x" * 500},
                 {"label": "two\nlines"}):
        response = site.request("POST", path, user=MGR, json=body)
        assert response.status_code == 400, body
        assert response.json()["message"]
    response = site.request("POST", path, user=MGR, data=b"{not json",
                            headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    empty = site.request("POST", path, user=MGR)  # no body: a full feed without a label
    assert empty.status_code == 201 and empty.json()["busyOnly"] is False
    assert empty.headers["Cache-Control"] == "no-store"
    SECRETS.append(empty.json()["url"].rsplit("/", 1)[1][:-4])


# -- free/busy ------------------------------------------------------------------------------------
def free_busy(server, room, user):
    body = FREE_BUSY_QUERY.format(start=ical(at(-1)), end=ical(at(30)))
    return server.request("REPORT", f"/rooms/{room}/", user=user, data=body, headers={"Depth": "1"})


def test_free_busy_query_for_a_free_busy_only_user(site):
    for user in (OUT, VIEW, BKR):
        response = free_busy(site, FB, user)
        assert response.status_code == 200, (user, response.text)
        calendar = parse(response)
        freebusy, = calendar.walk("VFREEBUSY")
        assert f"{ical(at(2))}/{ical(at(2, 11))}" in freebusy.to_ical().decode(), user
        assert "Confidential merger" not in response.text
    path = f"/rooms/{FB}/"
    listing = site.request("REPORT", path, user=VIEW, data=CALENDAR_QUERY, headers={"Depth": "1"})
    assert listing.status_code == 207 and "Confidential merger" in listing.text
    href = listing.text.split("<D:href>" if "<D:href>" in listing.text else "<href>")[1].split("<")[0]
    assert site.request("GET", href, user=VIEW).status_code == 200
    # Everyone else: busy periods only.
    for method, target, body, depth in (("GET", href, None, "0"), ("REPORT", path, CALENDAR_QUERY, "1"),
                                        ("PROPFIND", path, PROPFIND, "1"), ("GET", path, None, "0"),
                                        ("REPORT", path, MULTIGET.format(href=href), "1"),
                                        ("REPORT", path, SYNC, "1"), ("PROPFIND", href, PROPFIND, "0")):
        response = site.request(method, target, user=OUT, data=body, headers={"Depth": depth})
        assert response.status_code == 403, (method, response.status_code)
        assert "Confidential merger" not in response.text
    assert site.request("GET", f"/api/rooms/{FB}", user=OUT).json()["may"]["read"] is False
    check = site.request("POST", f"/api/rooms/{FB}/check", user=OUT,
                         json={"title": "Try", "start": at(2).isoformat(), "end": at(2, 11).isoformat()})
    assert check.status_code == 200 and check.json()["conflicts"], check.text
    assert "Confidential merger" not in check.text
    # Without viewers nothing changes: every user reads every room, and free-busy-query works.
    assert site.request("REPORT", f"/rooms/{MAIN}/", user=OUT, data=CALENDAR_QUERY,
                        headers={"Depth": "1"}).status_code == 207
    assert free_busy(site, MAIN, OUT).status_code == 200


# -- command line ---------------------------------------------------------------------------------
def test_cli_feed_create_list_revoke(site):
    result = site.cli("feed", "create", MAIN, "--busy-only", "--label", "lobby screen")
    lines = result.stdout.strip().splitlines()
    url = lines[-1]
    assert url.startswith(site.url + "/.feeds/rcf_") and url.endswith(".ics")
    assert ("webcal" + url[len("http"):]) in lines[:-1]
    SECRETS.append(url.rsplit("/", 1)[1][:-4])
    assert str(parse(fetch(url)).walk("VEVENT")[0]["SUMMARY"]) == "Busy"
    site.cli("room", "set", MAIN, "--busy-title", "Occupied")
    try:
        assert {str(e["SUMMARY"]) for e in parse(fetch(url)).walk("VEVENT")} == {"Occupied"}
    finally:
        site.cli("room", "set", MAIN, "--busy-title", "")
    listing = site.cli("feed", "list", MAIN).stdout
    feed_id = url.rsplit("/", 1)[1].split("_")[1]
    assert feed_id in listing and "lobby screen" in listing and "busy-only" in listing
    assert all(secret not in listing for secret in SECRETS)
    assert "revoked" in site.cli("feed", "revoke", feed_id).stdout
    assert requests.get(url, timeout=30).status_code == 404
    assert feed_id not in site.cli("feed", "list", MAIN).stdout


@pytest.mark.parametrize("args, words", [
    (("feed", "create", "fd-nowhere"), ("no room", "fd-nowhere")),
    (("feed", "list", "fd-nowhere"), ("no room",)),
    (("feed", "revoke", "000000000000"), ("no feed",)),
    (("room", "set", MAIN, "--viewers", "fd-nobody"), ("no user", "fd-nobody")),
    (("room", "set", MAIN, "--viewers", "@fd-nogroup"), ("no group",)),
])
def test_cli_feed_errors(site, args, words):
    result = site.cli(*args, check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_cli_uses_the_public_url_and_rejects_a_bad_one(make_server):
    other = make_server(start=False)
    with open(other.config) as f:
        text = f.read()
    with open(other.config, "w") as f:
        f.write(text.replace("[storage]\n", "[storage]\nroomcal_public_url = https://rooms.example.org/cal/\n"))
    other.add_room("fd-lobby")
    url = other.cli("feed", "create", "fd-lobby").stdout.strip().splitlines()[-1]
    assert url.startswith("https://rooms.example.org/cal/.feeds/rcf_")
    with open(other.config, "w") as f:
        f.write(text.replace("[storage]\n", "[storage]\nroomcal_public_url = rooms.example.org\n"))
    result = other.cli("feed", "list", check=False)
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1
    assert "roomcal_public_url" in result.stderr


# -- secrets stay secret ------------------------------------------------------------------------
def test_secrets_are_never_logged_or_stored_in_clear(site):
    assert len(SECRETS) >= 5
    log = site.read_log()
    assert "/.feeds/rcf_" in log and "_….ics" in log  # the request lines are there, masked
    for secret in SECRETS:
        assert random_part(secret) not in log
    data = os.path.join(site.dir, "data")
    for folder, _, files in os.walk(data):
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                content = f.read()
            for secret in SECRETS:
                assert random_part(secret).encode() not in content, os.path.join(folder, name)
    assert_no_500(site)


# -- rendering details (the pure function behind the feeds) -------------------------------------
OUTLOOK = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:x
BEGIN:VTIMEZONE
TZID:W. Europe Standard Time
BEGIN:STANDARD
DTSTART:16010101T030000
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:16010101T020000
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3
END:DAYLIGHT
END:VTIMEZONE
BEGIN:VEVENT
UID:outlook-1
DTSTART;TZID=W. Europe Standard Time:{start}T100000
DTEND;TZID=W. Europe Standard Time:{start}T110000
RRULE:FREQ=DAILY;UNTIL={until}T100000
SUMMARY:Outlook series
END:VEVENT
END:VCALENDAR
"""


def test_render_keeps_custom_zones_and_reads_floating_until_in_the_start_zone():
    from roomcal.storage.feeds import Source, render
    from roomcal.storage.rooms import Room
    room = Room(id="r", name="R", timezone="America/New_York").validate()
    first = (TODAY + datetime.timedelta(days=10)).date()
    text = OUTLOOK.format(start=first.strftime("%Y%m%d"),
                          until=(first + datetime.timedelta(days=4)).strftime("%Y%m%d")).replace("\n", "\r\n")
    window = (int(TODAY.timestamp()) - 86400, int(TODAY.timestamp()) + 400 * 86400)
    for busy_only in (False, True):
        calendar = icalendar.Calendar.from_ical(render(room, [Source("a.ics", text, 0)], busy_only=busy_only,
                                                       key="k", window=window))
        assert {str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE")} == {"W. Europe Standard Time"}
        series, = calendar.walk("VEVENT")
        assert "DTSTAMP" in series  # required; the stored booking had none
        # 10:00 in the event's own zone (UTC+1 in winter months), not in the room's.
        occurrences = recurring_ical_events.of(calendar).between(TODAY, TODAY + datetime.timedelta(days=40))
        assert len(occurrences) == 5, busy_only


def test_mask_hides_every_secret():
    from roomcal.storage.feeds import mask
    secret = "rcf_0123456789ab_" + "Ab_-" * 10 + "xyz"
    for line in (f'"GET /.feeds/{secret}.ics HTTP/1.1"', f'"GET /%2Efeeds/{secret}.ics HTTP/1.1"',
                 f'"GET /rooms/x/{secret} HTTP/1.1"', f"Error handling request /.feeds/{secret}.ics?x=1"):
        masked = mask(line)
        assert secret[17:] not in masked and "rcf_0123456789ab_…" in masked, masked

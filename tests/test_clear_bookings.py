"""DELETE /api/clear-bookings (issue 5, seed shape) on legacy data imported with
``roomcal import --allow-conflicts``: singles and series, test mode first, over real HTTP.
The planner (storage/clearing.py) is also checked on its own, without a server.
"""

import datetime
import zoneinfo

import pytest

from conftest import assert_no_500, event
from roomcal.storage import clearing, rooms
from roomcal.storage.instances import INFINITY, Booking

ADMIN, MGR, ALICE, BOB = "cb-admin", "cb-mgr", "cb-alice", "cb-bob"
ROOM, OTHER, QTY, BUF = "cb-room", "cb-other", "cb-qty", "cb-buf"
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
LISTS = ("deleted_cancelled_events", "deleted_overlapping_events",
         "cancelled_overlapping_recurring_events", "ignored_overlapping_events")


def local(days, hour, minute=0) -> str:
    """An iCalendar local time in Berlin, ``days`` from today."""
    today = datetime.datetime.now(BERLIN).date()
    moment = datetime.datetime.combine(today + datetime.timedelta(days=days), datetime.time(hour, minute))
    return moment.strftime("%Y%m%dT%H%M%S")


def iso(days, hour, minute=0) -> str:
    moment = datetime.datetime.strptime(local(days, hour, minute), "%Y%m%dT%H%M%S").replace(tzinfo=BERLIN)
    return moment.isoformat()


def utc_from_now(hours) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0) + datetime.timedelta(hours=hours)
    return moment.strftime("%Y%m%dT%H%M%SZ")


def vevent(uid, summary, start, end, created=None, dtstamp="20250101T000000Z", extra=(), tz=True):
    zone = ";TZID=Europe/Berlin" if tz else ""
    lines = ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTAMP:{dtstamp}", f"DTSTART{zone}:{start}",
             f"DTEND{zone}:{end}", f"SUMMARY:{summary}"]
    if created:
        lines.append(f"CREATED:{created}")
    return lines + list(extra) + ["END:VEVENT"]


def calendar(*events) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//legacy//EN"]
    for e in events:
        lines += e
    return "\r\n".join(lines + ["END:VCALENDAR"]) + "\r\n"


def import_legacy(server, room, *events):
    result = server.cli("import", room, "-", "--allow-conflicts", input=calendar(*events))
    assert "imported" in result.stdout


LEGACY = [
    vevent("cb-fin", "Finance Monthly", local(10, 10), local(10, 12), "20250114T073320Z",
           extra=["ORGANIZER:mailto:head-of-finance@my-awesome.org"]),
    vevent("cb-fund", "Fundraising Weekly", local(9, 0), local(14, 0), "20250709T131119Z",
           extra=["ORGANIZER:mailto:head-of-fundraising@my-awesome.org"]),
    vevent("cb-council", "Workers Council Meeting", local(20, 14), local(20, 15), "20250210T113339Z",
           extra=["RRULE:FREQ=WEEKLY;COUNT=4", "ORGANIZER:mailto:workers-council@my-awesome.org"]),
    vevent("cb-interviews", "Job Interviews", local(20, 14), local(20, 15), "20250630T100414Z",
           extra=["RRULE:FREQ=DAILY;COUNT=5", "ORGANIZER:mailto:head-of-hr@my-awesome.org"]),
    vevent("cb-old", "Old meeting", local(30, 9), local(30, 10), "20240101T000000Z", extra=["STATUS:CANCELLED"]),
    vevent("cb-quiet", "Quiet", local(40, 9), local(40, 10), "20240101T000000Z"),
    # CREATED, else DTSTAMP: g was made before h although h has the earlier DTSTAMP.
    vevent("cb-g", "Early by DTSTAMP", local(50, 9), local(50, 11), None, dtstamp="20240101T000000Z"),
    vevent("cb-h", "Late by CREATED", local(50, 10), local(50, 12), "20240601T000000Z", dtstamp="20200101T000000Z"),
    # Same CREATED: the smaller UID wins.
    vevent("cb-tie-a", "Tie A", local(60, 9), local(60, 10), "20240301T000000Z"),
    vevent("cb-tie-b", "Tie B", local(60, 9), local(60, 10), "20240301T000000Z"),
    # A series made after a single loses only the occurrence that collides.
    vevent("cb-board", "Board", local(70, 9), local(70, 10), "20230101T000000Z"),
    vevent("cb-standup", "Standup", local(69, 9), local(69, 9, 30), "20240101T000000Z",
           extra=["RRULE:FREQ=DAILY;COUNT=3"]),
    # A moved occurrence (override) that collides: the override goes, EXDATE at its RECURRENCE-ID.
    vevent("cb-breakfast", "Breakfast", local(87, 8), local(87, 9), "20230101T000000Z"),
    vevent("cb-yoga", "Yoga", local(80, 18), local(80, 19), "20240501T000000Z", extra=["RRULE:FREQ=WEEKLY;COUNT=3"]),
    vevent("cb-yoga", "Yoga (early)", local(87, 8), local(87, 9), "20240501T000000Z",
           extra=[f"RECURRENCE-ID;TZID=Europe/Berlin:{local(87, 18)}"]),
    # Already under way: the later one is left alone (ignored).
    vevent("cb-now-first", "Running first", utc_from_now(-2), utc_from_now(2), "20240101T000000Z", tz=False),
    vevent("cb-now-later", "Running later", utc_from_now(-1), utc_from_now(1), "20240201T000000Z", tz=False),
    # Overlaps alice's own booking (made below) and was created long before it.
    vevent("cb-legacy", "Legacy", local(90, 10, 30), local(90, 11, 30), "20200101T000000Z"),
]
DELETED = {"cb-fund", "cb-h", "cb-tie-b", "cb-alice"}
KEPT = {"cb-fin", "cb-council", "cb-interviews", "cb-quiet", "cb-g", "cb-tie-a", "cb-board", "cb-standup",
        "cb-breakfast", "cb-yoga", "cb-now-first", "cb-now-later", "cb-legacy"}


@pytest.fixture(scope="module")
def world(server):
    server.add_user(ADMIN, admin=True)
    server.add_user(MGR)
    server.add_user(ALICE, email="alice@example.org")
    server.add_user(BOB)
    server.add_room(ROOM, "--timezone", "Europe/Berlin", "--managers", MGR, name="Meeting room 1")
    server.add_room(OTHER, "--timezone", "Europe/Berlin", name="Other room")
    server.add_room(QTY, "--timezone", "Europe/Berlin", "--quantity", "2", "--managers", MGR)
    server.add_room(BUF, "--timezone", "Europe/Berlin", "--buffer", "PT15M", "--managers", MGR)
    put = server.put_ics(f"/rooms/{ROOM}/cb-alice.ics",
                         event(local(90, 10), local(90, 11), uid="cb-alice", summary="Alice's", tz="Europe/Berlin"),
                         user=ALICE)
    assert put.status_code == 201, put.text
    import_legacy(server, ROOM, *LEGACY)
    import_legacy(server, OTHER, vevent("cb-o1", "O1", local(12, 9), local(12, 10), "20240101T000000Z"),
                  vevent("cb-o2", "O2", local(12, 9), local(12, 10), "20240102T000000Z"))
    import_legacy(server, QTY, *[vevent(f"cb-q{n}", f"Q{n}", local(15, 9), local(15, 10), f"2024010{n}T000000Z")
                                 for n in (1, 2, 3)])
    import_legacy(server, BUF, vevent("cb-b1", "B1", local(16, 9), local(16, 10), "20240101T000000Z"),
                  vevent("cb-b2", "B2", local(16, 10), local(16, 11), "20240102T000000Z"),
                  vevent("cb-b3", "B3", local(16, 10, 15), local(16, 10, 45), "20240103T000000Z"),
                  vevent("cb-b4", "B4", local(16, 10, 59), local(16, 11, 30), "20240104T000000Z"))
    yield server
    assert_no_500(server)


def clear(server, query="", user=MGR, **kw):
    return server.request("DELETE", f"/api/clear-bookings{query}", user=user, **kw)


def etags(server, room, uids):
    found = {}
    for uid in uids:
        answer = server.request("GET", f"/rooms/{room}/{uid}.ics", user=ADMIN)
        found[uid] = answer.headers.get("ETag") if answer.status_code == 200 else None
    return found


def by_uid(entries):
    return {entry["event"]["uid"]: entry for entry in entries}


def occurrences(server, uid):
    text = server.request("GET", f"/rooms/{ROOM}/{uid}.ics", user=ADMIN).text
    return text, Booking(text, BERLIN).occurrences(0, INFINITY, 100)


# -- test mode first: the answer, and nothing changes --------------------------------------------
def test_test_mode_reports_and_changes_nothing(world):
    before = etags(world, ROOM, DELETED | KEPT | {"cb-old"})
    answers = [clear(world, f"?calendar={ROOM}&test={value}") for value in ("1", "ok", "on")]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.json() == answers[0].json()
    body = answers[0].json()
    assert body["test_mode"] is True
    assert etags(world, ROOM, DELETED | KEPT | {"cb-old"}) == before

    cancelled, = body["deleted_cancelled_events"]
    assert cancelled["event"]["uid"] == "cb-old" and cancelled["calendar"] == ROOM

    deleted = by_uid(body["deleted_overlapping_events"])
    assert set(deleted) == DELETED
    fund = deleted["cb-fund"]
    assert fund["calendar"] == ROOM
    assert fund["event"] == {"uid": "cb-fund", "name": "Fundraising Weekly", "start": iso(9, 0),
                             "end": iso(14, 0), "created": "2025-07-09T15:11:19+02:00",
                             "organizer": "head-of-fundraising@my-awesome.org"}
    assert fund["overlaps_with"] == {"uid": "cb-fin", "name": "Finance Monthly", "start": iso(10, 10),
                                     "end": iso(10, 12), "created": "2025-01-14T08:33:20+01:00",
                                     "organizer": "head-of-finance@my-awesome.org"}
    assert deleted["cb-h"]["overlaps_with"]["uid"] == "cb-g"
    assert deleted["cb-h"]["event"]["created"] == "2024-06-01T02:00:00+02:00"
    assert deleted["cb-tie-b"]["overlaps_with"]["uid"] == "cb-tie-a"
    # No ORGANIZER: the booker's e-mail.
    assert deleted["cb-alice"]["event"]["organizer"] == "alice@example.org"
    assert deleted["cb-alice"]["overlaps_with"]["uid"] == "cb-legacy"

    series = body["cancelled_overlapping_recurring_events"]
    assert sorted((e["event"]["uid"], e["event"]["start"], e["overlaps_with"]["uid"]) for e in series) == sorted([
        ("cb-interviews", iso(20, 14), "cb-council"),
        ("cb-standup", iso(70, 9), "cb-board"),
        ("cb-yoga", iso(87, 8), "cb-breakfast"),
    ])
    interviews = next(e for e in series if e["event"]["uid"] == "cb-interviews")
    assert interviews["event"]["end"] == iso(20, 15) and interviews["event"]["name"] == "Job Interviews"
    assert interviews["overlaps_with"]["start"] == iso(20, 14)

    ignored, = body["ignored_overlapping_events"]
    assert ignored["event"]["uid"] == "cb-now-later" and ignored["overlaps_with"]["uid"] == "cb-now-first"
    assert "begun" in ignored["reason"]


def test_only_admins_and_room_managers_may_clear(world):
    assert clear(world, f"?calendar={ROOM}&test=1", user=BOB).status_code == 403
    assert clear(world, "?test=1", user=BOB).status_code == 403  # manages no room
    other = clear(world, f"?calendar={OTHER}&test=1", user=MGR)
    assert other.status_code == 403 and other.json()["type"] == "forbidden"
    assert clear(world, "?calendar=cb-nowhere&test=1").status_code == 404
    bad = clear(world, f"?calendar={ROOM}&test=maybe")
    assert bad.status_code == 400 and "test" in bad.json()["message"]
    read_only = world.token(MGR, "--read-only")
    assert clear(world, f"?calendar={ROOM}", user=None, token=read_only).status_code == 403
    assert clear(world, f"?calendar={ROOM}&test=1", user=None, token=read_only).status_code == 200


def test_without_calendar_every_room_the_caller_manages(world):
    mine = clear(world, "?test=1").json()
    calendars = {e["calendar"] for name in LISTS for e in mine[name]}
    assert calendars == {ROOM, QTY, BUF}
    everything = clear(world, "?test=on", user=ADMIN).json()
    assert {e["calendar"] for name in LISTS for e in everything[name]} == {ROOM, OTHER, QTY, BUF}
    assert by_uid(everything["deleted_overlapping_events"])["cb-o2"]["overlaps_with"]["uid"] == "cb-o1"


def test_quantity_and_buffer_count_as_in_the_booking_core(world):
    body = clear(world, "?test=1").json()
    deleted = by_uid(body["deleted_overlapping_events"])
    # quantity 2: the third-made booking is the one too many; it collides with the first.
    assert "cb-q3" in deleted and "cb-q1" not in deleted and "cb-q2" not in deleted
    assert deleted["cb-q3"]["overlaps_with"]["uid"] == "cb-q1"
    # buffer 15 min: back to back is too close, a gap of exactly 15 min is enough (B3 after
    # B1; B2 is gone, so it does not count), 14 min is not.
    assert deleted["cb-b2"]["overlaps_with"]["uid"] == "cb-b1"
    assert "cb-b3" not in deleted
    assert deleted["cb-b4"]["overlaps_with"]["uid"] == "cb-b3"


# -- then for real -------------------------------------------------------------------------------
def test_clearing_deletes_later_singles_and_excludes_occurrences_of_later_series(world):
    kept_before = etags(world, ROOM, KEPT - {"cb-interviews", "cb-standup", "cb-yoga"})
    preview = clear(world, f"?calendar={ROOM}&test=1").json()
    done = clear(world, f"?calendar={ROOM}")
    assert done.status_code == 200
    body = done.json()
    assert body["test_mode"] is False
    assert {k: v for k, v in body.items() if k != "test_mode"} == \
        {k: v for k, v in preview.items() if k != "test_mode"}

    gone = etags(world, ROOM, DELETED | {"cb-old"})
    assert all(etag is None for etag in gone.values()), gone
    assert etags(world, ROOM, kept_before) == kept_before  # untouched

    text, left = occurrences(world, "cb-interviews")
    assert "EXDATE" in text and len(left) == 4
    assert iso(20, 14) not in {datetime.datetime.fromtimestamp(o.start, BERLIN).isoformat() for o in left}
    _, left = occurrences(world, "cb-standup")
    assert len(left) == 2
    text, left = occurrences(world, "cb-yoga")
    assert "RECURRENCE-ID" not in text and len(left) == 2
    assert all(datetime.datetime.fromtimestamp(o.start, BERLIN).hour == 18 for o in left)
    assert etags(world, ROOM, {"cb-now-later"})["cb-now-later"] is not None


def test_the_index_knows_what_clearing_did(world):
    # The deleted fundraiser no longer blocks its days outside the finance meeting ...
    free = world.put_ics(f"/rooms/{ROOM}/after-clear.ics",
                         event(local(11, 15), local(11, 16), tz="Europe/Berlin"), user=BOB)
    assert free.status_code == 201, free.text
    # ... the interviews' excluded occurrence is only the council's now ...
    clash = world.request("POST", f"/api/rooms/{ROOM}/check", user=BOB,
                          json={"title": "x", "start": iso(20, 14), "end": iso(20, 15)}).json()
    assert [c["uid"] for c in clash["conflicts"]] == ["cb-council"]
    # ... and the interviews' other days are still taken.
    kept = world.request("POST", f"/api/rooms/{ROOM}/check", user=BOB,
                         json={"title": "x", "start": iso(21, 14), "end": iso(21, 15)}).json()
    assert [c["uid"] for c in kept["conflicts"]] == ["cb-interviews"]


def test_clearing_again_finds_nothing_new(world):
    body = clear(world, f"?calendar={ROOM}").json()
    assert body["deleted_cancelled_events"] == body["deleted_overlapping_events"] == []
    assert body["cancelled_overlapping_recurring_events"] == []
    assert [e["event"]["uid"] for e in body["ignored_overlapping_events"]] == ["cb-now-later"]


def test_clearing_is_logged_with_who_did_it(world):
    assert f"{MGR} cleared room {ROOM}" in world.read_log()


# -- the planner on its own ------------------------------------------------------------------------
def room(**rules):
    return rooms.Room(id="unit", name="Unit", timezone="Europe/Berlin", rules=rooms.Rules(**rules)).validate()


def stored(href, *events):
    return clearing.Stored(href, calendar(*events))


NOW = int(datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc).timestamp())
HORIZON = NOW + 3 * 365 * 86400


def test_all_day_series_gets_a_date_exdate():
    plan = clearing.plan(room(), [
        stored("s.ics", ["BEGIN:VEVENT", "UID:s", "DTSTAMP:20250101T000000Z", "DTSTART;VALUE=DATE:20300301",
                         "DTEND;VALUE=DATE:20300302", "RRULE:FREQ=DAILY;COUNT=3", "CREATED:20250102T000000Z",
                         "SUMMARY:Fair", "END:VEVENT"]),
        stored("d.ics", ["BEGIN:VEVENT", "UID:d", "DTSTAMP:20250101T000000Z", "DTSTART;VALUE=DATE:20300302",
                         "DTEND;VALUE=DATE:20300303", "CREATED:20250101T000000Z", "SUMMARY:Day", "END:VEVENT"]),
    ], now=NOW, horizon=HORIZON)
    assert plan.deletes == [] and list(plan.rewrites) == ["s.ics"]
    assert "EXDATE;VALUE=DATE:20300302" in plan.rewrites["s.ics"]
    assert len(Booking(plan.rewrites["s.ics"], BERLIN).occurrences(0, INFINITY, 10)) == 2


def test_utc_series_gets_a_utc_exdate_and_the_earlier_series_wins():
    plan = clearing.plan(room(), [
        stored("a.ics", vevent("a", "A", "20300301T090000Z", "20300301T100000Z", "20250101T000000Z",
                               extra=["RRULE:FREQ=DAILY;COUNT=2"], tz=False)),
        stored("b.ics", vevent("b", "B", "20300302T093000Z", "20300302T103000Z", "20250102T000000Z",
                               extra=["RRULE:FREQ=DAILY;COUNT=2"], tz=False)),
    ], now=NOW, horizon=HORIZON)
    assert list(plan.rewrites) == ["b.ics"] and "EXDATE:20300302T093000Z" in plan.rewrites["b.ics"]
    loser, = plan.excluded
    assert (loser.event.uid, loser.overlaps_with.uid) == ("b", "a")


def test_cancelled_transparent_and_past_bookings():
    plan = clearing.plan(room(), [
        stored("c.ics", vevent("c", "C", "20300301T090000", "20300301T100000", "20250101T000000Z",
                               extra=["STATUS:CANCELLED"])),
        stored("t.ics", vevent("t", "T", "20300301T090000", "20300301T100000", "20250102T000000Z",
                               extra=["TRANSP:TRANSPARENT"])),
        stored("p1.ics", vevent("p1", "P1", "20200301T090000", "20200301T100000", "20190101T000000Z")),
        stored("p2.ics", vevent("p2", "P2", "20200301T090000", "20200301T100000", "20190102T000000Z")),
        stored("x.ics", ["BEGIN:VEVENT", "UID:x", "END:VEVENT"]),
    ], now=NOW, horizon=HORIZON)
    assert [e.uid for e in plan.cancelled] == ["c"] and plan.deletes == ["c.ics"]
    assert plan.deleted == plan.excluded == plan.ignored == []
    assert plan.unreadable == ["x.ics"]


def test_series_in_a_room_that_no_longer_takes_series_can_still_lose_occurrences(world):
    room_id = "cb-norec"
    world.add_room(room_id, "--timezone", "Europe/Berlin", "--no-recurring", "--max-instances", "2")
    import_legacy(world, room_id,
                  vevent("cb-nr-single", "Single", local(25, 9), local(25, 10), "20230101T000000Z"),
                  vevent("cb-nr-series", "Series", local(24, 9), local(24, 10), "20240101T000000Z",
                         extra=["RRULE:FREQ=DAILY;COUNT=3"]))
    body = world.request("DELETE", f"/api/clear-bookings?calendar={room_id}", user=ADMIN).json()
    excluded, = body["cancelled_overlapping_recurring_events"]
    assert excluded["event"]["uid"] == "cb-nr-series" and body["ignored_overlapping_events"] == []
    text = world.request("GET", f"/rooms/{room_id}/cb-nr-series.ics", user=ADMIN).text
    assert len(Booking(text, BERLIN).occurrences(0, INFINITY, 10)) == 2

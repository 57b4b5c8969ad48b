"""/api/rooms/<ID>/bookings: create (short form, JSCalendar), list with filters, read one,
and the verbs cancel, reschedule, approve and decline — over HTTP on a real server.

Times are Europe/Berlin summer time (+02:00).
"""

import pytest

from conftest import assert_no_500, event
from support.stored import on_index

ADMIN, ALICE, BOB, MGR, CAROL = "bv-admin", "bv-alice", "bv-bob", "bv-mgr", "bv-carol"
MAIN, LIST, APPR, FB = "bv-main", "bv-list", "bv-appr", "bv-fb"
BERLIN = ("--timezone", "Europe/Berlin")


@pytest.fixture(scope="module")
def world(server):
    server.add_user(ADMIN, admin=True)
    for user in (ALICE, BOB, MGR, CAROL):
        server.add_user(user)
    server.add_room(MAIN, *BERLIN, "--managers", MGR, "--max-duration", "PT4H")
    server.add_room(LIST, *BERLIN)
    server.add_room(APPR, *BERLIN, "--approval", "--managers", MGR)
    server.add_room(FB, *BERLIN, "--bookers", ALICE, "--viewers", ALICE)
    yield server
    assert_no_500(server)


def create(server, room, title, start, end, user=ALICE, status=201):
    answer = server.request("POST", f"/api/rooms/{room}/bookings", user=user,
                            json={"title": title, "start": start, "end": end})
    assert answer.status_code == status, answer.text
    return answer.json()


def verb(server, room, uid, name, body=None, user=ALICE, **kwargs):
    return server.request("POST", f"/api/rooms/{room}/bookings/{uid}/{name}", user=user,
                          json=body, **kwargs)


def one(server, room, uid, user=ALICE):
    return server.request("GET", f"/api/rooms/{room}/bookings/{uid}", user=user)


def ics(server, href, user=ALICE):
    answer = server.request("GET", href, user=user)
    assert answer.status_code == 200
    return answer


def listed(server, room, user=ALICE, **params):
    answer = server.request("GET", f"/api/rooms/{room}/bookings", user=user, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()["bookings"]


def t(date_time):
    return f"{date_time}:00+02:00"


# -- create and read --------------------------------------------------------------------------
def test_create_from_a_jscalendar_event_and_read_it_back(world):
    answer = world.request("POST", f"/api/rooms/{MAIN}/bookings", user=ALICE, json={
        "@type": "Event", "title": "Retro", "start": "2027-07-05T10:00:00", "timeZone": "Europe/Berlin",
        "duration": "PT1H", "description": "What went well"})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    got = one(world, MAIN, created["uid"], user=BOB)
    assert got.status_code == 200 and got.headers["ETag"] == created["etag"]
    assert got.headers["Content-Type"].startswith("application/jscalendar+json")
    body = got.json()
    assert body["@type"] == "Event" and body["uid"] == created["uid"] and body["title"] == "Retro"
    assert body["description"] == "What went well" and body["duration"] == "PT1H"
    assert body["roomcal"] == {"href": created["href"], "start": t("2027-07-05T10:00"),
                               "end": t("2027-07-05T11:00"), "status": "confirmed", "recurring": False,
                               "organizer": None, "bookedBy": ALICE, "room": MAIN, "etag": created["etag"],
                               "checkedIn": None}
    assert "DTSTART;TZID=Europe/Berlin:20270705T100000" in ics(world, created["href"]).text


def test_create_short_form_still_works_and_a_taken_uid_is_409(world):
    created = create(world, MAIN, "Plan", "2027-07-05T12:00", "2027-07-05T13:00")
    assert one(world, MAIN, created["uid"]).json()["title"] == "Plan"
    again = world.request("POST", f"/api/rooms/{MAIN}/bookings", user=BOB, json={
        "uid": created["uid"], "title": "Mine now", "start": "2027-07-06T12:00", "end": "2027-07-06T13:00"})
    assert again.status_code == 409 and again.json()["type"] == "uidTaken"
    assert one(world, MAIN, created["uid"]).json()["title"] == "Plan"


def test_bad_jscalendar_is_422_unknown_booking_404_and_free_busy_readers_403(world):
    bad = world.request("POST", f"/api/rooms/{MAIN}/bookings", user=ALICE, json={
        "@type": "Event", "title": "x", "start": "2027-07-05T10:00:00", "duration": "one hour"})
    assert bad.status_code == 422 and bad.json()["properties"] == ["/duration"]
    task = world.request("POST", f"/api/rooms/{MAIN}/bookings", user=ALICE, json={"@type": "Task"})
    assert task.status_code == 422
    assert one(world, MAIN, "no-such-uid").status_code == 404
    assert one(world, "bv-nope", "x").status_code == 404
    secret = create(world, FB, "Secret", "2027-07-05T10:00", "2027-07-05T11:00")
    assert one(world, FB, secret["uid"], user=ALICE).status_code == 200
    assert one(world, FB, secret["uid"], user=BOB).status_code == 403


# -- the list -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bookings(world):
    a = create(world, LIST, "Alpha", "2027-07-06T10:00", "2027-07-06T11:00", user=ALICE)
    b = create(world, LIST, "Beta", "2027-07-07T10:00", "2027-07-07T11:00", user=BOB)
    c = create(world, LIST, "Gamma", "2027-07-08T10:00", "2027-07-08T11:00", user=ALICE)
    assert verb(world, LIST, c["uid"], "cancel", {"reason": "not needed"}).status_code == 200
    private = event("20270709T100000", "20270709T110000", uid="bv-private", summary="Dentist",
                    tz="Europe/Berlin", extra="CLASS:PRIVATE\nORGANIZER:mailto:alice@example.org")
    assert world.put_ics(f"/rooms/{LIST}/bv-private.ics", private, user=ALICE).status_code == 201
    series = event("20270712T080000", "20270712T083000", uid="bv-series", summary="Daily",
                   tz="Europe/Berlin", extra="RRULE:FREQ=DAILY;COUNT=3")
    assert world.put_ics(f"/rooms/{LIST}/bv-series.ics", series, user=BOB).status_code == 201
    return {"a": a["uid"], "b": b["uid"], "c": c["uid"], "p": "bv-private", "s": "bv-series"}


def uids(entries, names):
    back = {uid: name for name, uid in names.items()}
    return [back[e["uid"]] for e in entries]


def test_list_has_every_field_in_start_order(world, bookings):
    entries = listed(world, LIST)
    assert uids(entries, bookings) == ["a", "b", "c", "p", "s"]
    alpha = entries[0]
    assert alpha == {"uid": bookings["a"], "href": f"/rooms/{LIST}/{bookings['a']}.ics", "title": "Alpha",
                     "start": t("2027-07-06T10:00"), "end": t("2027-07-06T11:00"), "status": "confirmed",
                     "recurring": False, "organizer": None, "bookedBy": ALICE, "checkedIn": None}
    assert entries[2]["status"] == "cancelled"
    assert entries[3]["organizer"] == "alice@example.org" and entries[3]["title"] == "Dentist"
    assert entries[4]["recurring"] is True and entries[4]["start"] == t("2027-07-12T08:00")


def test_list_filters(world, bookings):
    assert uids(listed(world, LIST, status="cancelled"), bookings) == ["c"]
    assert uids(listed(world, LIST, status="confirmed"), bookings) == ["a", "b", "p", "s"]
    assert uids(listed(world, LIST, status="pending,cancelled"), bookings) == ["c"]
    assert uids(listed(world, LIST, **{"from": "2027-07-07", "to": "2027-07-08"}), bookings) == ["b", "c"]
    assert uids(listed(world, LIST, **{"from": "2027-07-07T10:30"}), bookings) == ["b", "c", "p", "s"]
    # A series counts where it has an occurrence; its start is its first one there.
    window = listed(world, LIST, **{"from": "2027-07-13T00:00", "to": "2027-07-13T23:59"})
    assert uids(window, bookings) == ["s"] and window[0]["start"] == t("2027-07-13T08:00")
    assert listed(world, LIST, **{"from": "2027-07-20"}) == []
    assert uids(listed(world, LIST, mine="1"), bookings) == ["a", "c", "p"]
    assert uids(listed(world, LIST, user=BOB, mine="1"), bookings) == ["b", "s"]
    assert uids(listed(world, LIST, user=BOB, mine="1", status="confirmed",
                       **{"to": "2027-07-10"}), bookings) == ["b"]


def test_list_hides_what_the_caller_may_not_read(world, bookings):
    private = [e for e in listed(world, LIST, user=BOB) if e["uid"] == "bv-private"][0]
    assert private["title"] is None  # CLASS:PRIVATE: for its booker and the room's managers only
    assert [e for e in listed(world, LIST, user=ALICE) if e["uid"] == "bv-private"][0]["title"] == "Dentist"
    create(world, FB, "Board meeting", "2027-07-06T10:00", "2027-07-06T11:00")
    assert "Board meeting" in [e["title"] for e in listed(world, FB, user=ALICE)]
    for entry in listed(world, FB, user=BOB):  # free/busy only
        assert set(entry) == {"start", "end", "status", "recurring"}


def test_one_private_booking_shows_when_but_not_what_to_others(world, bookings):
    others = one(world, LIST, "bv-private", user=BOB)
    assert others.status_code == 200
    event = others.json()
    assert event["start"] == "2027-07-09T10:00:00" and event["timeZone"] == "Europe/Berlin"
    assert event["duration"] == "PT1H" and event["privacy"] == "private"
    assert "Dentist" not in others.text and "alice@example.org" not in others.text
    assert "title" not in event and event["roomcal"]["organizer"] is None
    own = one(world, LIST, "bv-private", user=ALICE).json()
    assert own["title"] == "Dentist" and own["roomcal"]["organizer"] == "alice@example.org"


def test_an_open_ended_series_is_listed_by_its_first_occurrence_in_the_range(world):
    weekly = event("20270906T080000", "20270906T090000", uid="bv-forever", summary="Weekly",
                   tz="Europe/Berlin", extra="RRULE:FREQ=WEEKLY")
    assert world.put_ics(f"/rooms/{MAIN}/bv-forever.ics", weekly, user=BOB).status_code == 201
    answer = world.request("GET", f"/api/rooms/{MAIN}/bookings", user=ALICE,
                           params={"from": "2028-03-01", "to": "2028-03-31"})
    assert answer.status_code == 200 and answer.elapsed.total_seconds() < 5
    entry, = answer.json()["bookings"]
    assert entry["uid"] == "bv-forever" and entry["recurring"] is True
    assert (entry["start"], entry["end"]) == ("2028-03-06T08:00:00+01:00", "2028-03-06T09:00:00+01:00")
    assert one(world, MAIN, "bv-forever").json()["roomcal"]["start"] == t("2027-09-06T08:00")


def test_the_list_is_the_same_read_from_the_index_or_from_the_bookings(world, bookings):
    """A single booking is listed from its index row (storage/outline.py); a row without an
    outline (written before they were kept) is read from the booking: the same list, and
    ``roomcal check --repair`` fills the outlines in."""
    asked = [(user, params) for user in (ALICE, BOB, MGR, ADMIN)
             for params in ({}, {"status": "cancelled"}, {"status": "confirmed,pending"}, {"mine": "1"},
                            {"from": "2027-07-07", "to": "2027-07-09"}, {"from": "2027-07-13T00:00"})]
    before = [listed(world, LIST, user=user, **params) for user, params in asked]
    assert on_index(world, "UPDATE bookings SET outline = '' WHERE room LIKE ?", (f"%{LIST}%",)) >= 4
    assert [listed(world, LIST, user=user, **params) for user, params in asked] == before
    check = world.cli("check", LIST, check=False)
    assert check.returncode == 1 and "booking index row differs from the item (outline)" in check.stdout
    assert world.cli("check", LIST, "--repair", check=False).returncode == 0
    assert world.cli("check", LIST, check=False).returncode == 0
    assert [listed(world, LIST, user=user, **params) for user, params in asked] == before


def test_floating_bookings_are_listed_in_the_rooms_zone_after_it_changed(world):
    """A floating time, or a date, is read in the room's zone: after the zone changed, the
    list shows where the booking is now, not where its index row was read."""
    world.add_room("bv-zone", *BERLIN)
    for uid, text in (("bv-floating", event("20270806T100000", "20270806T110000", uid="bv-floating")),
                      ("bv-day", event("20270807", "20270808", uid="bv-day", dates=True)),
                      ("bv-utc", event("20270806T120000Z", "20270806T130000Z", uid="bv-utc"))):
        assert world.put_ics(f"/rooms/bv-zone/{uid}.ics", text, user=ALICE).status_code == 201
    week = {"from": "2027-08-02", "to": "2027-08-08"}
    assert [(e["uid"], e["start"]) for e in listed(world, "bv-zone", **week)] == [
        ("bv-floating", "2027-08-06T10:00:00+02:00"), ("bv-utc", "2027-08-06T14:00:00+02:00"),
        ("bv-day", "2027-08-07T00:00:00+02:00")]
    world.cli("room", "set", "bv-zone", "--timezone", "America/New_York")
    assert [(e["uid"], e["start"]) for e in listed(world, "bv-zone", **week)] == [
        ("bv-utc", "2027-08-06T08:00:00-04:00"), ("bv-floating", "2027-08-06T10:00:00-04:00"),
        ("bv-day", "2027-08-07T00:00:00-04:00")]


@pytest.mark.parametrize("params", [{"status": "accepted"}, {"mine": "maybe"}, {"from": "later"},
                                    {"from": "2027-07-08", "to": "2027-07-07"}])
def test_bad_list_parameters_are_400(world, params):
    answer = world.request("GET", f"/api/rooms/{LIST}/bookings", user=ALICE, params=params)
    assert answer.status_code == 400 and answer.json()["message"]


# -- cancel -------------------------------------------------------------------------------------
def test_cancel_keeps_the_booking_as_history_and_frees_the_slot(world):
    mine = create(world, MAIN, "Cancel me", "2027-07-14T10:00", "2027-07-14T11:00")
    create(world, MAIN, "Too early", "2027-07-14T10:00", "2027-07-14T11:00", user=BOB, status=409)
    assert verb(world, MAIN, mine["uid"], "cancel", user=BOB).status_code == 403
    done = verb(world, MAIN, mine["uid"], "cancel", {"reason": "Plans changed"})
    assert done.status_code == 200, done.text
    # "etag" is the stored booking's (this summary is not the booking: no ETag header).
    assert done.json()["status"] == "cancelled" and "ETag" not in done.headers
    stored = ics(world, mine["href"]).text
    assert ics(world, mine["href"]).headers["ETag"] == done.json()["etag"]
    assert "STATUS:CANCELLED" in stored and "SEQUENCE:1" in stored
    create(world, MAIN, "Now free", "2027-07-14T10:00", "2027-07-14T11:00", user=BOB)
    again = verb(world, MAIN, mine["uid"], "cancel")
    assert again.status_code == 409 and again.json()["type"] == "invalidState"


def test_who_may_cancel(world):
    for who in (MGR, ADMIN):
        theirs = create(world, MAIN, "Bob's", "2027-07-15T10:00", "2027-07-15T11:00", user=BOB)
        assert verb(world, MAIN, theirs["uid"], "cancel", user=CAROL).status_code == 403
        answer = verb(world, MAIN, theirs["uid"], "cancel", {"reason": "Room needed"}, user=who)
        assert answer.status_code == 200 and answer.json()["status"] == "cancelled"
    token = world.token(BOB, "--read-only")
    theirs = create(world, MAIN, "Bob's", "2027-07-15T12:00", "2027-07-15T13:00", user=BOB)
    read_only = world.request("POST", f"/api/rooms/{MAIN}/bookings/{theirs['uid']}/cancel", token=token)
    assert read_only.status_code == 403
    assert one(world, MAIN, theirs["uid"]).json()["roomcal"]["status"] == "confirmed"
    assert verb(world, MAIN, "no-such-uid", "cancel").status_code == 404
    assert verb(world, MAIN, theirs["uid"], "cancel", {"reason": 42}, user=BOB).status_code == 400


def test_verbs_honour_if_match(world):
    mine = create(world, MAIN, "Guarded", "2027-07-15T15:00", "2027-07-15T16:00")
    stale = verb(world, MAIN, mine["uid"], "cancel", headers={"If-Match": '"not-the-etag"'})
    assert stale.status_code == 412
    fresh = verb(world, MAIN, mine["uid"], "reschedule", {"start": "2027-07-15T16:00"},
                 headers={"If-Match": mine["etag"]})
    assert fresh.status_code == 200 and fresh.json()["etag"] != mine["etag"]


# -- reschedule ---------------------------------------------------------------------------------
def test_reschedule_moves_the_booking_and_keeps_its_length(world):
    mine = create(world, MAIN, "Move me", "2027-07-16T10:00", "2027-07-16T11:00")
    moved = verb(world, MAIN, mine["uid"], "reschedule", {"start": "2027-07-16T14:00"})
    assert moved.status_code == 200, moved.text
    assert (moved.json()["start"], moved.json()["end"]) == (t("2027-07-16T14:00"), t("2027-07-16T15:00"))
    stored = ics(world, mine["href"]).text
    assert "DTSTART;TZID=Europe/Berlin:20270716T140000" in stored
    assert "DTEND;TZID=Europe/Berlin:20270716T150000" in stored
    # Overlapping its own old slot is fine: a booking never conflicts with itself.
    moved = verb(world, MAIN, mine["uid"], "reschedule", {"start": "2027-07-16T14:30:00+02:00"})
    assert moved.status_code == 200 and moved.json()["end"] == t("2027-07-16T15:30")
    moved = verb(world, MAIN, mine["uid"], "reschedule",
                 {"start": "2027-07-16T07:00:00Z", "end": "2027-07-16T09:30:00+02:00"})
    assert (moved.json()["start"], moved.json()["end"]) == (t("2027-07-16T09:00"), t("2027-07-16T09:30"))
    # The old slot is free again.
    create(world, MAIN, "Afternoon", "2027-07-16T14:00", "2027-07-16T16:00", user=BOB)


def test_a_refused_reschedule_leaves_the_booking_untouched(world):
    mine = create(world, MAIN, "Stay", "2027-07-19T09:00", "2027-07-19T10:00")
    create(world, MAIN, "Bob's slot", "2027-07-19T16:00", "2027-07-19T17:00", user=BOB)
    before = ics(world, mine["href"])
    clash = verb(world, MAIN, mine["uid"], "reschedule", {"start": "2027-07-19T16:30"})
    assert clash.status_code == 409 and clash.json()["type"] == "conflict"
    assert clash.json()["conflicts"][0]["start"] == t("2027-07-19T16:00")
    too_long = verb(world, MAIN, mine["uid"], "reschedule",
                    {"start": "2027-07-19T11:00", "end": "2027-07-19T16:00"})
    assert too_long.status_code == 422 and too_long.json()["violations"][0]["rule"] == "max-duration"
    after = ics(world, mine["href"])
    assert after.headers["ETag"] == before.headers["ETag"] and after.text == before.text
    create(world, MAIN, "Into the old slot", "2027-07-19T09:00", "2027-07-19T10:00", user=BOB, status=409)


def test_reschedule_rights_and_bad_input(world):
    mine = create(world, MAIN, "Mine", "2027-07-20T09:00", "2027-07-20T10:00")
    assert verb(world, MAIN, mine["uid"], "reschedule", {"start": "2027-07-20T11:00"}, user=BOB).status_code == 403
    for body in ({}, {"start": "tomorrow"}, {"start": 5}, {"start": "2027-07-20"},
                 {"start": "2027-07-20T12:00", "end": "2027-07-20T11:00"}):
        answer = verb(world, MAIN, mine["uid"], "reschedule", body)
        assert answer.status_code == 400 and answer.json()["message"], body
    by_manager = verb(world, MAIN, mine["uid"], "reschedule", {"start": "2027-07-20T12:00"}, user=MGR)
    assert by_manager.status_code == 200 and by_manager.json()["bookedBy"] == ALICE
    assert verb(world, MAIN, mine["uid"], "cancel").status_code == 200
    cancelled = verb(world, MAIN, mine["uid"], "reschedule", {"start": "2027-07-20T13:00"})
    assert cancelled.status_code == 409
    assert verb(world, MAIN, "no-such-uid", "reschedule", {"start": "2027-07-20T13:00"}).status_code == 404


def test_reschedule_moves_a_whole_series(world):
    series = event("20270726T080000", "20270726T090000", uid="bv-daily", summary="Daily",
                   tz="Europe/Berlin",
                   extra="RRULE:FREQ=DAILY;COUNT=4\nEXDATE;TZID=Europe/Berlin:20270727T080000")
    assert world.put_ics(f"/rooms/{MAIN}/bv-daily.ics", series, user=ALICE).status_code == 201
    moved = verb(world, MAIN, "bv-daily", "reschedule", {"start": "2027-07-26T11:00"})
    assert moved.status_code == 200, moved.text
    stored = ics(world, f"/rooms/{MAIN}/bv-daily.ics").text
    assert "DTSTART;TZID=Europe/Berlin:20270726T110000" in stored
    assert "EXDATE;TZID=Europe/Berlin:20270727T110000" in stored
    busy = world.request("GET", f"/api/rooms/{MAIN}/availability", user=ALICE,
                         params={"start": "2027-07-26", "end": "2027-07-29"}).json()["busy"]
    assert [b["start"] for b in busy] == [t(f"2027-07-{d}T11:00") for d in (26, 28, 29)]
    weekly = event("20270802T080000", "20270802T090000", uid="bv-weekly", tz="Europe/Berlin",
                   extra="RRULE:FREQ=WEEKLY;BYDAY=MO;COUNT=3")
    assert world.put_ics(f"/rooms/{MAIN}/bv-weekly.ics", weekly, user=ALICE).status_code == 201
    tuesday = verb(world, MAIN, "bv-weekly", "reschedule", {"start": "2027-08-03T08:00"})
    assert tuesday.status_code == 422 and "BYDAY" in tuesday.json()["message"]
    later = verb(world, MAIN, "bv-weekly", "reschedule", {"start": "2027-08-02T09:00"})
    assert later.status_code == 200


# -- approve and decline --------------------------------------------------------------------------
def test_approve_a_pending_booking(world):
    pending = create(world, APPR, "Please", "2027-07-21T10:00", "2027-07-21T11:00", user=BOB)
    assert one(world, APPR, pending["uid"]).json()["roomcal"]["status"] == "pending"
    for who in (BOB, ALICE):  # the booker, or anyone else who does not manage the room
        refused = verb(world, APPR, pending["uid"], "approve", user=who)
        assert refused.status_code == 403 and refused.json()["type"] == "forbidden"
    token = world.token(MGR, "--read-only")
    assert world.request("POST", f"/api/rooms/{APPR}/bookings/{pending['uid']}/approve",
                         token=token).status_code == 403
    approved = verb(world, APPR, pending["uid"], "approve", user=MGR)
    assert approved.status_code == 200 and approved.json()["status"] == "confirmed"
    assert "STATUS:CONFIRMED" in ics(world, pending["href"], user=BOB).text
    again = verb(world, APPR, pending["uid"], "approve", user=MGR)
    assert again.status_code == 409 and again.json()["type"] == "invalidState"
    assert verb(world, APPR, pending["uid"], "decline", user=MGR).status_code == 409
    other = create(world, APPR, "Also", "2027-07-21T12:00", "2027-07-21T13:00", user=ALICE)
    assert verb(world, APPR, other["uid"], "approve", user=ADMIN).json()["status"] == "confirmed"
    assert verb(world, APPR, "no-such-uid", "approve", user=MGR).status_code == 404


def test_a_booker_who_moves_an_approved_booking_asks_again(world):
    booking = create(world, APPR, "Review", "2027-07-23T10:00", "2027-07-23T11:00", user=BOB)
    assert verb(world, APPR, booking["uid"], "approve", user=MGR).json()["status"] == "confirmed"
    # A new title over CalDAV: still approved.
    text = ics(world, booking["href"], user=BOB).text.replace("SUMMARY:Review", "SUMMARY:Design review")
    assert world.put_ics(booking["href"], text, user=BOB).status_code == 204
    assert one(world, APPR, booking["uid"]).json()["roomcal"]["status"] == "confirmed"
    # New times: pending again, until a manager approves them.
    moved = verb(world, APPR, booking["uid"], "reschedule", {"start": "2027-07-23T14:00"}, user=BOB)
    assert moved.status_code == 200 and moved.json()["status"] == "pending"
    assert "STATUS:TENTATIVE" in ics(world, booking["href"], user=BOB).text
    assert verb(world, APPR, booking["uid"], "approve", user=MGR).json()["status"] == "confirmed"
    # A manager's move keeps it approved.
    by_manager = verb(world, APPR, booking["uid"], "reschedule", {"start": "2027-07-23T16:00"}, user=MGR)
    assert by_manager.status_code == 200 and by_manager.json()["status"] == "confirmed"


def test_decline_a_pending_booking_frees_the_slot(world):
    pending = create(world, APPR, "Maybe", "2027-07-22T10:00", "2027-07-22T11:00", user=BOB)
    create(world, APPR, "Same time", "2027-07-22T10:00", "2027-07-22T11:00", user=ALICE, status=409)
    assert verb(world, APPR, pending["uid"], "decline", {"reason": "x"}, user=BOB).status_code == 403
    declined = verb(world, APPR, pending["uid"], "decline", {"reason": "Board meeting"}, user=MGR)
    assert declined.status_code == 200 and declined.json()["status"] == "cancelled"
    assert "STATUS:CANCELLED" in ics(world, pending["href"], user=BOB).text
    assert verb(world, APPR, pending["uid"], "decline", user=MGR).status_code == 409
    assert verb(world, APPR, pending["uid"], "approve", user=MGR).status_code == 409
    create(world, APPR, "Same time", "2027-07-22T10:00", "2027-07-22T11:00", user=ALICE)
    statuses = {e["uid"]: e["status"] for e in listed(world, APPR, user=MGR, **{"from": "2027-07-22"})}
    assert statuses[pending["uid"]] == "cancelled" and "pending" in statuses.values()
    assert listed(world, APPR, user=MGR, status="pending", **{"from": "2027-07-22"})[0]["title"] == "Same time"

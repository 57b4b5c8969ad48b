"""Booking core over real CalDAV: what conflicts and what does not.

Overlap, back-to-back, buffer, quantity (peak), cancelled/transparent/tentative,
series against singles and singles against series, EXDATE, RECURRENCE-ID
overrides, infinite series, time zones across both Europe/Berlin DST changes,
floating times and all-day dates in the room's zone, editing your own booking,
the 409 body, and refused writes leaving storage as it was.
"""

import uuid

import pytest
from lxml import etree

from conftest import assert_no_500, event, new_room

D = "DAV:"
R = "urn:roomcal:caldav"


@pytest.fixture(scope="module", autouse=True)
def users(server):
    server.add_user("c-admin", admin=True)
    server.add_user("c-alice")
    server.add_user("c-bob")
    yield
    assert_no_500(server)


def room(server, *options, tz=None):
    return new_room(server, "c", *options, tz=tz)


def put(server, room_id, ics, name=None, user="c-alice"):
    name = name or f"{uuid.uuid4().hex}.ics"
    return server.put_ics(f"/rooms/{room_id}/{name}", ics, user=user)


def book(server, room_id, start, end, name=None, user="c-alice", **kw):
    return put(server, room_id, event(start, end, **kw), name=name, user=user)


def snapshot(server, room_id):
    """The whole room as GET answers it (every stored item, byte for byte)."""
    response = server.request("GET", f"/rooms/{room_id}/", user="c-admin")
    assert response.status_code == 200, response.text
    return response.text


def calendar(*vevents, vtimezone=""):
    """A VCALENDAR of several VEVENT bodies (lines without BEGIN/END:VEVENT)."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//roomcal tests//EN"]
    if vtimezone:
        lines += [line.strip() for line in vtimezone.strip().splitlines()]
    for body in vevents:
        lines.append("BEGIN:VEVENT")
        lines += [line.strip() for line in body.strip().splitlines() if line.strip()]
        if not any(line.strip().startswith("DTSTAMP") for line in body.splitlines()):
            lines.append("DTSTAMP:20260101T000000Z")
        lines.append("END:VEVENT")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def conflicts_of(response):
    """[(href, uid, start, end, title)] of a 409 DAV:error body, checking its shape."""
    assert response.status_code == 409, (response.status_code, response.text)
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{D}}}error"
    condition = root.find(f"{{{R}}}no-booking-conflict")
    assert condition is not None, response.text
    found = []
    for conflict in condition.findall(f"{{{R}}}conflict"):
        def text(tag):
            element = conflict.find(tag)
            return None if element is None else element.text
        found.append((text(f"{{{D}}}href"), text(f"{{{R}}}uid"), text(f"{{{R}}}start"),
                      text(f"{{{R}}}end"), text(f"{{{R}}}title")))
    assert found, "a 409 names at least one conflicting booking"
    return found


def assert_conflict(response, href=None):
    found = conflicts_of(response)
    if href is not None:
        assert href in [c[0] for c in found], found
    return found


# -- plain overlaps ------------------------------------------------------------------------
def test_overlap_is_refused_and_leaves_storage_as_it_was(server):
    r = room(server)
    first = book(server, r, "20270106T100000Z", "20270106T110000Z", name="first.ics", summary="Standup")
    assert first.status_code == 201, first.text
    before = snapshot(server, r)
    for start, end in [("20270106T103000Z", "20270106T113000Z"),   # overlaps the end
                       ("20270106T093000Z", "20270106T100100Z"),   # overlaps the start
                       ("20270106T101500Z", "20270106T104500Z"),   # inside
                       ("20270106T090000Z", "20270106T120000Z"),   # encloses
                       ("20270106T100000Z", "20270106T110000Z")]:  # identical
        clash = book(server, r, start, end, name="clash.ics", user="c-bob")
        assert_conflict(clash, f"/rooms/{r}/first.ics")
        assert snapshot(server, r) == before
        assert server.request("GET", f"/rooms/{r}/clash.ics", user="c-bob").status_code == 404


def test_back_to_back_bookings_are_allowed(server):
    r = room(server)
    assert book(server, r, "20270107T100000Z", "20270107T110000Z").status_code == 201
    assert book(server, r, "20270107T110000Z", "20270107T120000Z", user="c-bob").status_code == 201
    assert book(server, r, "20270107T090000Z", "20270107T100000Z", user="c-bob").status_code == 201
    # ... and the slot between them really is full now
    assert_conflict(book(server, r, "20270107T095959Z", "20270107T100001Z"))


def test_409_body_is_a_namespaced_dav_error_with_each_conflict(server):
    r = room(server, tz="Europe/Berlin")
    assert book(server, r, "20270108T090000Z", "20270108T100000Z", name="a.ics", uid="uid-a",
                summary="Board meeting").status_code == 201
    assert book(server, r, "20270108T110000Z", "20270108T120000Z", name="b.ics", uid="uid-b",
                summary="Secret", extra="CLASS:PRIVATE").status_code == 201
    clash = book(server, r, "20270108T093000Z", "20270108T113000Z", user="c-bob")
    assert clash.status_code == 409
    assert clash.headers["Content-Type"].startswith("application/xml")
    root = etree.fromstring(clash.content)
    assert etree.QName(root).namespace == D and etree.QName(root).localname == "error"
    condition = root.find(f"{{{R}}}no-booking-conflict")
    assert condition is not None and etree.QName(condition).namespace == R
    by_uid = {}
    for element in condition.findall(f"{{{R}}}conflict"):
        by_uid[element.findtext(f"{{{R}}}uid")] = element
    assert set(by_uid) == {"uid-a", "uid-b"}
    a = by_uid["uid-a"]
    assert a.findtext(f"{{{D}}}href") == f"/rooms/{r}/a.ics"
    # start and end as ISO 8601 instants (in the room's zone: 09:00Z is 10:00 in Berlin)
    assert a.findtext(f"{{{R}}}start").startswith("2027-01-08T10:00:00")
    assert a.findtext(f"{{{R}}}end").startswith("2027-01-08T11:00:00")
    assert a.findtext(f"{{{R}}}title") == "Board meeting"
    # a private booking's title is not shown to someone else
    b = by_uid["uid-b"]
    assert b.findtext(f"{{{D}}}href") == f"/rooms/{r}/b.ics"
    assert b.find(f"{{{R}}}title") is None
    assert "Secret" not in clash.text
    sentence = root.findtext(f"{{{D}}}responsedescription")
    assert sentence and "already booked" in sentence and "Board meeting" in sentence


def test_what_calendar_apps_create_with_if_none_match_is_checked_alike(server):
    """Thunderbird creates an event with If-None-Match: * (PostgreSQL then reads the room's
    rows around it with the room's lock: storage/postgres/store.py): overlaps, a buffer,
    floating times in the room's zone, a series longer than a week, a UID the room has
    under another name, and a slot freed in the same moment are decided as for any PUT."""
    def create(r, start, end, user="c-bob", name=None, **kw):
        return server.put_ics(f"/rooms/{r}/{name or uuid.uuid4().hex + '.ics'}", event(start, end, **kw),
                              user=user, **{"If-None-Match": "*"})

    r = room(server, "--buffer", "PT15M", tz="Europe/Berlin")
    assert create(r, "20270118T100000Z", "20270118T110000Z", user="c-alice", name="first.ics",
                  uid="first").status_code == 201
    before = snapshot(server, r)
    assert_conflict(create(r, "20270118T103000Z", "20270118T113000Z"))
    assert_conflict(create(r, "20270118T111000Z", "20270118T120000Z"))            # inside the buffer
    assert_conflict(create(r, "20270118T113000", "20270118T120000"))              # 10:30Z, floating in Berlin
    assert_conflict(create(r, "20270104T100000Z", "20270104T103000Z",
                           extra="RRULE:FREQ=WEEKLY;COUNT=3"))                   # its third is 18 January
    refused = create(r, "20270119T100000Z", "20270119T110000Z", uid="first")       # the room has this UID
    assert refused.status_code == 409 and "no-uid-conflict" in refused.text, refused.text
    assert snapshot(server, r) == before
    assert create(r, "20270118T111500Z", "20270118T120000Z").status_code == 201    # after the buffer
    assert server.request("DELETE", f"/rooms/{r}/first.ics", user="c-alice").status_code in (200, 204)
    assert create(r, "20270118T094500Z", "20270118T103000Z").status_code == 201    # its slot, freed


# -- buffer -------------------------------------------------------------------------------
def test_buffer_is_the_gap_consecutive_bookings_need(server):
    r = room(server, "--buffer", "PT15M")
    assert book(server, r, "20270111T100000Z", "20270111T110000Z", name="a.ics").status_code == 201
    before = snapshot(server, r)
    # after: back to back, 10 min and 15 min minus one second are too short
    assert_conflict(book(server, r, "20270111T110000Z", "20270111T120000Z", user="c-bob"), f"/rooms/{r}/a.ics")
    assert_conflict(book(server, r, "20270111T111000Z", "20270111T120000Z", user="c-bob"))
    assert_conflict(book(server, r, "20270111T111459Z", "20270111T120000Z", user="c-bob"))
    # before: the same
    assert_conflict(book(server, r, "20270111T090000Z", "20270111T100000Z", user="c-bob"))
    assert_conflict(book(server, r, "20270111T090000Z", "20270111T094501Z", user="c-bob"))
    assert snapshot(server, r) == before
    # a gap of exactly the buffer, on either side, is enough
    assert book(server, r, "20270111T111500Z", "20270111T120000Z", user="c-bob").status_code == 201
    assert book(server, r, "20270111T080000Z", "20270111T094500Z", user="c-bob").status_code == 201


def test_buffer_gap_through_the_booking_api(server):
    r = room(server, "--buffer", "PT15M")

    def post(start, end):
        return server.request("POST", f"/api/rooms/{r}/bookings", user="c-bob",
                              json={"title": "API", "start": start, "end": end})
    assert post("2027-01-18T10:00:00Z", "2027-01-18T11:00:00Z").status_code == 201
    refused = post("2027-01-18T11:14:59Z", "2027-01-18T12:00:00Z")
    assert refused.status_code == 409 and refused.json()["type"] == "conflict"
    refused = post("2027-01-18T09:00:00Z", "2027-01-18T09:45:01Z")
    assert refused.status_code == 409
    assert post("2027-01-18T11:15:00Z", "2027-01-18T12:00:00Z").status_code == 201
    assert post("2027-01-18T09:00:00Z", "2027-01-18T09:45:00Z").status_code == 201


def test_buffer_with_quantity_holds_one_of_n_until_b_after_the_end(server):
    r = room(server, "--buffer", "PT15M", "--quantity", "2")
    assert book(server, r, "20270119T100000Z", "20270119T110000Z").status_code == 201
    assert book(server, r, "20270119T100000Z", "20270119T110000Z", user="c-bob").status_code == 201
    # both are held until 11:15: a third may start then, not a second earlier
    assert_conflict(book(server, r, "20270119T111459Z", "20270119T120000Z"))
    assert book(server, r, "20270119T111500Z", "20270119T120000Z").status_code == 201


# -- quantity -------------------------------------------------------------------------------
def test_quantity_counts_the_peak_not_the_pairs(server):
    r = room(server, "--quantity", "2")
    assert book(server, r, "20270112T100000Z", "20270112T110000Z", name="a.ics").status_code == 201
    assert book(server, r, "20270112T120000Z", "20270112T130000Z", name="b.ics").status_code == 201
    # C overlaps both A and B, but never both at once: at most 2 at any instant
    assert book(server, r, "20270112T103000Z", "20270112T123000Z", name="c.ics", user="c-bob").status_code == 201
    # D would be the third at 10:45 (A and C) -> refused
    before = snapshot(server, r)
    clash = book(server, r, "20270112T104000Z", "20270112T105000Z", user="c-bob")
    found = assert_conflict(clash)
    assert {c[0] for c in found} == {f"/rooms/{r}/a.ics", f"/rooms/{r}/c.ics"}
    assert "2 times at once" in etree.fromstring(clash.content).findtext(f"{{{D}}}responsedescription")
    assert snapshot(server, r) == before
    # E overlaps only C (between A and B) -> allowed; F then is third with C and E
    assert book(server, r, "20270112T111500Z", "20270112T114500Z", user="c-bob").status_code == 201
    assert_conflict(book(server, r, "20270112T113000Z", "20270112T120000Z"))
    # back-to-back never counts: G starts when C ends, so only B and G overlap
    assert book(server, r, "20270112T123000Z", "20270112T133000Z").status_code == 201
    assert_conflict(book(server, r, "20270112T124500Z", "20270112T125000Z", user="c-bob"))
    assert book(server, r, "20270112T130000Z", "20270112T140000Z", user="c-bob").status_code == 201


# -- status and transparency --------------------------------------------------------------------
def test_cancelled_and_transparent_do_not_block_but_tentative_does(server):
    r = room(server)
    assert book(server, r, "20270113T100000Z", "20270113T110000Z", extra="STATUS:CANCELLED").status_code == 201
    assert book(server, r, "20270113T120000Z", "20270113T130000Z", extra="TRANSP:TRANSPARENT").status_code == 201
    assert book(server, r, "20270113T140000Z", "20270113T150000Z", name="pending.ics",
                extra="STATUS:TENTATIVE").status_code == 201
    assert book(server, r, "20270113T100000Z", "20270113T133000Z", user="c-bob").status_code == 201
    assert_conflict(book(server, r, "20270113T143000Z", "20270113T153000Z", user="c-bob"),
                    f"/rooms/{r}/pending.ics")
    # a cancelled or transparent booking does not take a busy slot, so it is not refused
    assert book(server, r, "20270113T103000Z", "20270113T110000Z", extra="STATUS:CANCELLED").status_code == 201
    assert book(server, r, "20270113T103000Z", "20270113T110000Z", extra="TRANSP:TRANSPARENT").status_code == 201


# -- recurrence ---------------------------------------------------------------------------------
def test_weekly_series_blocks_single_bookings(server):
    r = room(server)
    # Mondays 09:00-10:00Z, 2027-01-04 .. 2027-03-08 (10 times)
    assert book(server, r, "20270104T090000Z", "20270104T100000Z", name="weekly.ics", uid="weekly",
                extra="RRULE:FREQ=WEEKLY;COUNT=10").status_code == 201
    before = snapshot(server, r)
    found = assert_conflict(book(server, r, "20270201T093000Z", "20270201T103000Z", user="c-bob"),
                            f"/rooms/{r}/weekly.ics")
    # the conflict names the occurrence, not the series' first date
    assert found[0][2].startswith("2027-02-01T09:00:00") and found[0][3].startswith("2027-02-01T10:00:00")
    assert_conflict(book(server, r, "20270308T085959Z", "20270308T090001Z", user="c-bob"))
    assert snapshot(server, r) == before
    assert book(server, r, "20270201T100000Z", "20270201T110000Z", user="c-bob").status_code == 201  # after it
    assert book(server, r, "20270202T090000Z", "20270202T100000Z", user="c-bob").status_code == 201  # Tuesday
    assert book(server, r, "20270315T090000Z", "20270315T100000Z", user="c-bob").status_code == 201  # series over


def test_new_series_is_checked_against_existing_singles_and_series(server):
    r = room(server)
    assert book(server, r, "20270303T143000Z", "20270303T150000Z", name="single.ics").status_code == 201
    before = snapshot(server, r)
    # Wednesdays 14:00-15:00 from 2027-01-06, 12 times: the 9th is 2027-03-03
    found = assert_conflict(book(server, r, "20270106T140000Z", "20270106T150000Z", user="c-bob",
                                 extra="RRULE:FREQ=WEEKLY;COUNT=12"), f"/rooms/{r}/single.ics")
    assert found[0][2].startswith("2027-03-03T14:30:00")
    # RDATE adds an occurrence that hits the single
    assert_conflict(book(server, r, "20270106T140000Z", "20270106T150000Z", user="c-bob",
                         extra="RDATE:20270303T140000Z"), f"/rooms/{r}/single.ics")
    assert snapshot(server, r) == before
    # 8 times ends 2027-02-24: no clash
    assert book(server, r, "20270106T140000Z", "20270106T150000Z", name="series.ics", user="c-bob",
                extra="RRULE:FREQ=WEEKLY;COUNT=8").status_code == 201
    # a second series against the first: daily at 14:45 in February meets Wednesday 2027-02-03
    assert_conflict(book(server, r, "20270201T144500Z", "20270201T151500Z",
                         extra="RRULE:FREQ=DAILY;UNTIL=20270205T000000Z"), f"/rooms/{r}/series.ics")
    # ... and the same daily series on the other side of the hour is fine
    assert book(server, r, "20270201T150000Z", "20270201T153000Z",
                extra="RRULE:FREQ=DAILY;UNTIL=20270205T000000Z").status_code == 201


def test_exdate_frees_the_slot(server):
    r = room(server)
    assert book(server, r, "20270104T090000Z", "20270104T100000Z", name="s.ics", uid="exdate-series",
                extra="RRULE:FREQ=WEEKLY;COUNT=5\nEXDATE:20270118T090000Z").status_code == 201
    assert book(server, r, "20270118T090000Z", "20270118T100000Z", user="c-bob").status_code == 201
    assert_conflict(book(server, r, "20270125T090000Z", "20270125T100000Z", user="c-bob"), f"/rooms/{r}/s.ics")
    # editing the series to skip 2027-01-25 too frees that slot
    edited = book(server, r, "20270104T090000Z", "20270104T100000Z", name="s.ics", uid="exdate-series",
                  extra="RRULE:FREQ=WEEKLY;COUNT=5\nEXDATE:20270118T090000Z,20270125T090000Z")
    assert edited.status_code == 204, edited.text
    assert book(server, r, "20270125T090000Z", "20270125T100000Z", user="c-bob").status_code == 201


def test_override_moves_an_instance_out_of_its_slot_and_into_another(server):
    r = room(server)
    ics = calendar(
        "UID:override-series\nDTSTART:20270104T090000Z\nDTEND:20270104T100000Z\n"
        "RRULE:FREQ=WEEKLY;COUNT=5\nSUMMARY:Weekly",
        # the 3rd instance moves to 14:00
        "UID:override-series\nRECURRENCE-ID:20270118T090000Z\nDTSTART:20270118T140000Z\n"
        "DTEND:20270118T150000Z\nSUMMARY:Weekly (moved)",
        # the 4th is cancelled
        "UID:override-series\nRECURRENCE-ID:20270125T090000Z\nDTSTART:20270125T090000Z\n"
        "DTEND:20270125T100000Z\nSTATUS:CANCELLED\nSUMMARY:Weekly")
    response = put(server, r, ics, name="o.ics")
    assert response.status_code == 201, response.text
    assert book(server, r, "20270118T090000Z", "20270118T100000Z", user="c-bob").status_code == 201
    found = assert_conflict(book(server, r, "20270118T143000Z", "20270118T153000Z", user="c-bob"),
                            f"/rooms/{r}/o.ics")
    assert found[0][2].startswith("2027-01-18T14:00:00")
    assert book(server, r, "20270125T090000Z", "20270125T100000Z", user="c-bob").status_code == 201
    assert_conflict(book(server, r, "20270111T090000Z", "20270111T100000Z", user="c-bob"))
    assert_conflict(book(server, r, "20270201T090000Z", "20270201T100000Z", user="c-bob"))


def test_override_in_a_new_series_moves_it_onto_a_busy_slot(server):
    r = room(server)
    assert book(server, r, "20270118T140000Z", "20270118T150000Z", name="busy.ics").status_code == 201
    assert book(server, r, "20270111T090000Z", "20270111T100000Z", name="busy2.ics").status_code == 201
    # the plain series would hit 2027-01-11 09:00; its override moves that instance away ...
    moved_away = calendar(
        "UID:ov2\nDTSTART:20270104T090000Z\nDTEND:20270104T100000Z\nRRULE:FREQ=WEEKLY;COUNT=3",
        "UID:ov2\nRECURRENCE-ID:20270111T090000Z\nDTSTART:20270111T120000Z\nDTEND:20270111T130000Z")
    assert put(server, r, moved_away, name="ov2.ics", user="c-bob").status_code == 201
    # ... and an override moving an instance onto a busy slot is refused
    before = snapshot(server, r)
    onto_busy = calendar(
        "UID:ov3\nDTSTART:20270104T160000Z\nDTEND:20270104T170000Z\nRRULE:FREQ=WEEKLY;COUNT=3",
        "UID:ov3\nRECURRENCE-ID:20270118T160000Z\nDTSTART:20270118T143000Z\nDTEND:20270118T153000Z")
    assert_conflict(put(server, r, onto_busy, user="c-bob"), f"/rooms/{r}/busy.ics")
    assert snapshot(server, r) == before


def test_infinite_series_conflicts_far_ahead_within_the_horizon(server):
    r = room(server)
    # every Monday 09:00-10:00Z from 2027-01-04, forever
    assert book(server, r, "20270104T090000Z", "20270104T100000Z", name="forever.ics",
                extra="RRULE:FREQ=WEEKLY").status_code == 201
    found = assert_conflict(book(server, r, "20280605T093000Z", "20280605T100000Z", user="c-bob"),
                            f"/rooms/{r}/forever.ics")
    assert found[0][2].startswith("2028-06-05T09:00:00")
    assert book(server, r, "20280605T100000Z", "20280605T110000Z", user="c-bob").status_code == 201
    # a new open-ended series finds a single booking far ahead (1.5 years from now)
    assert book(server, r, "20280607T120000Z", "20280607T130000Z", name="far.ics").status_code == 201
    assert_conflict(book(server, r, "20270106T120000Z", "20270106T130000Z", user="c-bob",
                         extra="RRULE:FREQ=WEEKLY;BYDAY=WE"), f"/rooms/{r}/far.ics")
    # and two open-ended series on the same weekday and hour meet
    assert_conflict(book(server, r, "20270301T093000Z", "20270301T094500Z", user="c-bob",
                         extra="RRULE:FREQ=WEEKLY"), f"/rooms/{r}/forever.ics")
    assert book(server, r, "20270105T090000Z", "20270105T100000Z", user="c-bob",
                extra="RRULE:FREQ=WEEKLY").status_code == 201  # Tuesdays are free


# -- time zones --------------------------------------------------------------------------------------
@pytest.mark.parametrize("first, busy, free", [
    # spring 2027-03-28: 09:00 Berlin is 08:00Z on 03-22 (CET) and 07:00Z on 03-29 (CEST)
    ("20270315", [("20270322", 8), ("20270329", 7)], [("20270322", 7), ("20270329", 8)]),
    # autumn 2027-10-31: 09:00 Berlin is 07:00Z on 10-25 (CEST) and 08:00Z on 11-01 (CET)
    ("20271018", [("20271025", 7), ("20271101", 8)], [("20271025", 8), ("20271101", 7)]),
], ids=["spring", "autumn"])
def test_weekly_series_in_berlin_across_dst(server, first, busy, free):
    r = room(server, tz="UTC")
    assert book(server, r, f"{first}T090000", f"{first}T100000", name="weekly.ics", tz="Europe/Berlin",
                extra="RRULE:FREQ=WEEKLY;COUNT=4").status_code == 201
    before = snapshot(server, r)
    for day, hour in busy:
        assert_conflict(book(server, r, f"{day}T{hour:02d}0000Z", f"{day}T{hour:02d}3000Z", user="c-bob"),
                        f"/rooms/{r}/weekly.ics")
        assert_conflict(book(server, r, f"{day}T{hour:02d}5900Z", f"{day}T{hour + 1:02d}3000Z", user="c-bob"))
    assert snapshot(server, r) == before
    # the UTC hour next to it (where the series would be if DST were ignored) is free
    for day, hour in free:
        assert book(server, r, f"{day}T{hour:02d}0000Z", f"{day}T{hour + 1:02d}0000Z",
                    user="c-bob").status_code == 201


@pytest.mark.parametrize("day", ["20270329", "20271101"], ids=["spring", "autumn"])
def test_single_against_a_new_series_across_dst(server, day):
    r = room(server, tz="Europe/Berlin")
    # the single is at 09:00 Berlin after the change, given in UTC
    utc_hour = "07" if day == "20270329" else "08"
    assert book(server, r, f"{day}T{utc_hour}0000Z", f"{day}T{utc_hour}3000Z", name="single.ics").status_code == 201
    start = "20270301" if day == "20270329" else "20271004"
    assert_conflict(book(server, r, f"{start}T090000", f"{start}T100000", tz="Europe/Berlin", user="c-bob",
                         extra="RRULE:FREQ=WEEKLY;COUNT=6"), f"/rooms/{r}/single.ics")


BERLIN_VTIMEZONE = """
BEGIN:VTIMEZONE
TZID:Custom Berlin
BEGIN:DAYLIGHT
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
END:DAYLIGHT
BEGIN:STANDARD
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
END:STANDARD
END:VTIMEZONE
"""


def test_tzid_defined_by_a_vtimezone_is_honoured_across_dst(server):
    r = room(server)
    ics = calendar("UID:vtz-series\nDTSTART;TZID=Custom Berlin:20270315T090000\n"
                   "DTEND;TZID=Custom Berlin:20270315T100000\nRRULE:FREQ=WEEKLY;COUNT=4",
                   vtimezone=BERLIN_VTIMEZONE)
    assert put(server, r, ics, name="vtz.ics").status_code == 201, "VTIMEZONE accepted"
    assert_conflict(book(server, r, "20270322T080000Z", "20270322T081500Z", user="c-bob"))   # CET
    assert_conflict(book(server, r, "20270329T070000Z", "20270329T071500Z", user="c-bob"))   # CEST
    assert book(server, r, "20270329T080000Z", "20270329T090000Z", user="c-bob").status_code == 201


def test_a_booking_across_the_dst_night_is_measured_in_real_time(server):
    r = room(server, "--max-duration", "PT2H", tz="Europe/Berlin")
    # 01:00-04:00 local on the spring night is 2 real hours
    assert book(server, r, "20270328T010000", "20270328T040000", tz="Europe/Berlin").status_code == 201
    # 01:00-03:00 local on the autumn night is 3 real hours
    long_night = book(server, r, "20271031T010000", "20271031T030000", tz="Europe/Berlin")
    assert long_night.status_code == 403, long_night.text
    assert "3 h is longer than this room's maximum of 2 h" in long_night.text


def test_floating_times_are_read_in_the_rooms_zone(server):
    r = room(server, tz="Europe/Berlin")
    assert book(server, r, "20270112T090000Z", "20270112T100000Z", name="utc.ics").status_code == 201
    # floating 10:00-11:00 in Berlin (winter) is 09:00-10:00Z: the same slot
    assert_conflict(book(server, r, "20270112T100000", "20270112T110000", user="c-bob"), f"/rooms/{r}/utc.ics")
    # floating 09:00-10:00 in Berlin is 08:00-09:00Z: back-to-back, allowed (as UTC it would clash)
    assert book(server, r, "20270112T090000", "20270112T100000", name="floating.ics",
                user="c-bob").status_code == 201
    # and a stored floating booking blocks its real instants
    assert_conflict(book(server, r, "20270112T083000Z", "20270112T084500Z"), f"/rooms/{r}/floating.ics")


def test_a_floating_booking_moves_with_its_rooms_zone(server):
    r = room(server, tz="Europe/Berlin")
    # floating 10:00-11:00: 09:00-10:00Z in Berlin
    assert book(server, r, "20270115T100000", "20270115T110000", name="floating.ics").status_code == 201
    server.cli("room", "set", r, "--timezone", "UTC")
    # now 10:00-11:00Z: the hour before is free, the hour itself is taken
    assert book(server, r, "20270115T090000Z", "20270115T100000Z", user="c-bob").status_code == 201
    assert_conflict(book(server, r, "20270115T103000Z", "20270115T104500Z", user="c-bob"),
                    f"/rooms/{r}/floating.ics")


def test_all_day_dates_are_read_in_the_rooms_zone(server):
    r = room(server, tz="Europe/Berlin")
    assert book(server, r, "20270113", "20270114", name="allday.ics", dates=True).status_code == 201
    # 2027-01-13 in Berlin is [2027-01-12T23:00Z, 2027-01-13T23:00Z)
    assert_conflict(book(server, r, "20270112T230000Z", "20270112T233000Z", user="c-bob"),
                    f"/rooms/{r}/allday.ics")
    assert book(server, r, "20270113T230000Z", "20270113T233000Z", user="c-bob").status_code == 201
    assert book(server, r, "20270112T223000Z", "20270112T230000Z", user="c-bob").status_code == 201
    # a new all-day booking meets a timed one on its local day
    assert_conflict(book(server, r, "20270114", "20270115", dates=True, user="c-bob"))
    # an all-day weekly series meets a timed booking on a later local day
    assert book(server, r, "20270121T120000Z", "20270121T130000Z", name="thu.ics").status_code == 201
    assert_conflict(book(server, r, "20270107", "20270108", dates=True, user="c-bob",
                         extra="RRULE:FREQ=WEEKLY;COUNT=3"), f"/rooms/{r}/thu.ics")


# -- your own booking ------------------------------------------------------------------------------------
def test_editing_your_own_booking_never_conflicts_with_itself(server):
    r = room(server, "--buffer", "PT10M")
    assert book(server, r, "20270114T100000Z", "20270114T110000Z", name="mine.ics", uid="mine").status_code == 201
    assert book(server, r, "20270114T130000Z", "20270114T140000Z", name="other.ics", user="c-bob").status_code == 201
    moved = book(server, r, "20270114T103000Z", "20270114T113000Z", name="mine.ics", uid="mine", summary="Moved")
    assert moved.status_code == 204, moved.text
    got = server.request("GET", f"/rooms/{r}/mine.ics", user="c-alice")
    assert "DTSTART:20270114T103000Z" in got.text and "SUMMARY:Moved" in got.text
    # the old time is free now
    assert book(server, r, "20270114T080000Z", "20270114T101000Z", user="c-bob").status_code == 201
    # moving onto someone else's booking is refused and keeps the stored version
    before = snapshot(server, r)
    assert_conflict(book(server, r, "20270114T123000Z", "20270114T133000Z", name="mine.ics", uid="mine"),
                    f"/rooms/{r}/other.ics")
    assert snapshot(server, r) == before
    # a series can be edited while overlapping its own old occurrences
    assert book(server, r, "20270201T090000Z", "20270201T100000Z", name="series.ics", uid="s",
                extra="RRULE:FREQ=DAILY;COUNT=5").status_code == 201
    assert book(server, r, "20270201T093000Z", "20270201T103000Z", name="series.ics", uid="s",
                extra="RRULE:FREQ=DAILY;COUNT=7").status_code == 204


def test_someone_else_cannot_overwrite_your_booking(server):
    r = room(server)
    assert book(server, r, "20270115T100000Z", "20270115T110000Z", name="alice.ics", uid="a1").status_code == 201
    before = snapshot(server, r)
    response = book(server, r, "20270115T120000Z", "20270115T130000Z", name="alice.ics", uid="a1", user="c-bob")
    assert response.status_code == 403, response.text
    assert snapshot(server, r) == before
    assert server.request("DELETE", f"/rooms/{r}/alice.ics", user="c-bob").status_code == 403
    assert snapshot(server, r) == before


def test_a_deleted_booking_frees_its_slot(server):
    r = room(server)
    assert book(server, r, "20270116T100000Z", "20270116T110000Z", name="gone.ics").status_code == 201
    assert_conflict(book(server, r, "20270116T100000Z", "20270116T110000Z", user="c-bob"))
    assert server.request("DELETE", f"/rooms/{r}/gone.ics", user="c-alice").status_code == 200
    assert book(server, r, "20270116T100000Z", "20270116T110000Z", user="c-bob").status_code == 201


def test_personal_calendars_are_never_restricted(server):
    assert server.request("MKCALENDAR", "/c-alice/private/", user="c-alice").status_code == 201
    for _ in range(3):
        response = server.put_ics(f"/c-alice/private/{uuid.uuid4().hex}.ics",
                                  event("20270117T100000Z", "20270117T110000Z"), user="c-alice")
        assert response.status_code == 201


def test_bookings_past_the_default_horizon_are_still_checked(server):
    # the horizon (2 years here) bounds the expansion of open series, not whether a
    # finite booking is checked: a single booking in 2029 cannot double-book the room
    r = room(server, "--max-duration", "PT4H")
    assert book(server, r, "20290611T100000Z", "20290611T110000Z", name="far.ics").status_code == 201
    assert_conflict(book(server, r, "20290611T103000Z", "20290611T113000Z", user="c-bob"), f"/rooms/{r}/far.ics")
    assert book(server, r, "20290611T120000Z", "20290611T180000Z", user="c-bob").status_code == 403
    # an open series that starts past the horizon is checked from its first occurrence
    assert_conflict(book(server, r, "20290611T100000Z", "20290611T101500Z", user="c-bob",
                         extra="RRULE:FREQ=WEEKLY"), f"/rooms/{r}/far.ics")


def test_override_moved_past_the_series_end_still_blocks(server):
    r = room(server)
    ics = calendar(
        "UID:late-override\nDTSTART:20270104T090000Z\nDTEND:20270104T100000Z\nRRULE:FREQ=WEEKLY;COUNT=3",
        # the last instance (2027-01-18) moves a month later and earlier in the day
        "UID:late-override\nRECURRENCE-ID:20270118T090000Z\nDTSTART:20270215T070000Z\nDTEND:20270215T080000Z")
    assert put(server, r, ics, name="late.ics").status_code == 201
    assert book(server, r, "20270118T090000Z", "20270118T100000Z", user="c-bob").status_code == 201
    assert_conflict(book(server, r, "20270215T073000Z", "20270215T083000Z", user="c-bob"), f"/rooms/{r}/late.ics")


def test_uncancelling_or_making_opaque_is_checked_again(server):
    r = room(server)
    assert book(server, r, "20270120T100000Z", "20270120T110000Z", name="c.ics", uid="c",
                extra="STATUS:CANCELLED").status_code == 201
    assert book(server, r, "20270120T120000Z", "20270120T130000Z", name="t.ics", uid="t",
                extra="TRANSP:TRANSPARENT").status_code == 201
    assert book(server, r, "20270120T100000Z", "20270120T130000Z", name="b.ics", user="c-bob").status_code == 201
    before = snapshot(server, r)
    assert_conflict(book(server, r, "20270120T100000Z", "20270120T110000Z", name="c.ics", uid="c",
                         extra="STATUS:CONFIRMED"), f"/rooms/{r}/b.ics")
    assert_conflict(book(server, r, "20270120T120000Z", "20270120T130000Z", name="t.ics", uid="t",
                         extra="TRANSP:OPAQUE"), f"/rooms/{r}/b.ics")
    assert snapshot(server, r) == before


def test_time_range_report_served_from_the_index_finds_series(server):
    r = room(server, tz="Europe/Berlin")
    assert book(server, r, "20270104T090000Z", "20270104T100000Z", name="weekly.ics",
                extra="RRULE:FREQ=WEEKLY").status_code == 201
    assert book(server, r, "20270621T120000Z", "20270621T130000Z", name="cancelled.ics",
                extra="STATUS:CANCELLED").status_code == 201
    assert book(server, r, "20270701T120000Z", "20270701T130000Z", name="other.ics").status_code == 201

    def report(start, end):
        body = f"""<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="{start}" end="{end}"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""
        response = server.request("REPORT", f"/rooms/{r}/", user="c-alice", data=body.encode(),
                                  headers={"Depth": "1", "Content-Type": "application/xml"})
        assert response.status_code == 207, response.text
        root = etree.fromstring(response.content)
        return {href.text.rsplit("/", 1)[-1] for href in root.iter(f"{{{D}}}href")}
    # a Monday half a year after the series started
    assert report("20270621T000000Z", "20270622T000000Z") == {"weekly.ics", "cancelled.ics"}
    assert report("20270622T000000Z", "20270623T000000Z") == set()
    assert report("20270701T000000Z", "20270702T000000Z") == {"other.ics"}

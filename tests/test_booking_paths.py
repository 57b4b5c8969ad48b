"""Every way into a room goes through the booking core: MOVE from a personal calendar
(or another room), whole-collection PUT, `roomcal import` with and without
--allow-conflicts; refused writes leave storage as it was, and bad input is a 4xx,
never a 500."""

import concurrent.futures
import os
import threading
import time
import uuid

import pytest
from lxml import etree

from conftest import assert_no_500, event, new_room
from conftest import book as book_event

D = "DAV:"
R = "urn:roomcal:caldav"


@pytest.fixture(scope="module", autouse=True)
def users(server):
    server.add_user("p-admin", admin=True)
    server.add_user("p-alice")
    server.add_user("p-bob")
    yield
    assert_no_500(server)


def room(server, *options):
    return new_room(server, "p", *options)


def book(server, room_id, start, end, name=None, user="p-alice", **kw):
    return book_event(server, room_id, start, end, user, name=name, **kw)


def snapshot(server, path):
    response = server.request("GET", path, user="p-admin")
    assert response.status_code == 200, response.text
    return response.text


def precondition(response):
    root = etree.fromstring(response.content)
    assert root.tag == f"{{{D}}}error"
    (child,) = [c for c in root if etree.QName(c).namespace == R]
    return etree.QName(child).localname, root


def move(server, source, destination, user="p-alice", overwrite=None):
    headers = {"Destination": server.url + destination}
    if overwrite:
        headers["Overwrite"] = overwrite
    return server.request("MOVE", source, user=user, headers=headers)


def vcalendar(*events):
    """Several bookings (as made by ``event``) in one VCALENDAR."""
    bodies = []
    for text in events:
        lines = text.split("\r\n")
        bodies += lines[lines.index("BEGIN:VEVENT"):lines.index("END:VEVENT") + 1]
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//roomcal tests//EN", *bodies,
                        "END:VCALENDAR", ""])


def uids_in(text):
    return {line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("UID:")}


# -- MOVE ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def personal(server):
    assert server.request("MKCALENDAR", "/p-alice/work/", user="p-alice").status_code == 201
    return "/p-alice/work/"


def test_move_from_a_personal_calendar_into_a_busy_slot_is_refused(server, personal):
    r = room(server)
    assert book(server, r, "20270201T100000Z", "20270201T110000Z", name="taken.ics", user="p-bob").status_code == 201
    # personal calendars take anything, overlaps included
    ics = event("20270201T103000Z", "20270201T113000Z", uid="mv-busy")
    assert server.put_ics(f"{personal}busy.ics", ics, user="p-alice").status_code == 201
    assert server.put_ics(f"{personal}busy2.ics", event("20270201T103000Z", "20270201T113000Z"),
                          user="p-alice").status_code == 201
    room_before = snapshot(server, f"/rooms/{r}/")
    personal_before = server.request("GET", personal, user="p-alice").text
    response = move(server, f"{personal}busy.ics", f"/rooms/{r}/busy.ics")
    assert response.status_code == 409, response.text
    name, root = precondition(response)
    assert name == "no-booking-conflict"
    assert root.find(f".//{{{R}}}conflict/{{{D}}}href").text == f"/rooms/{r}/taken.ics"
    assert snapshot(server, f"/rooms/{r}/") == room_before
    assert server.request("GET", personal, user="p-alice").text == personal_before
    assert server.request("GET", f"{personal}busy.ics", user="p-alice").status_code == 200
    assert server.request("GET", f"/rooms/{r}/busy.ics", user="p-alice").status_code == 404


def test_move_from_a_personal_calendar_into_a_free_slot_books_it(server, personal):
    r = room(server)
    assert server.put_ics(f"{personal}free.ics", event("20270202T100000Z", "20270202T110000Z", uid="mv-free"),
                          user="p-alice").status_code == 201
    response = move(server, f"{personal}free.ics", f"/rooms/{r}/free.ics")
    assert response.status_code == 201, response.text
    assert server.request("GET", f"{personal}free.ics", user="p-alice").status_code == 404
    stored = server.request("GET", f"/rooms/{r}/free.ics", user="p-alice")
    assert stored.status_code == 200 and "X-ROOMCAL-BOOKED-BY:p-alice" in stored.text
    # the moved booking now blocks its slot
    clash = book(server, r, "20270202T103000Z", "20270202T113000Z", user="p-bob")
    assert clash.status_code == 409 and f"/rooms/{r}/free.ics" in clash.text


def test_move_into_a_room_is_checked_against_its_rules(server, personal):
    r = room(server, "--max-duration", "PT1H")
    assert server.put_ics(f"{personal}long.ics", event("20270203T100000Z", "20270203T130000Z"),
                          user="p-alice").status_code == 201
    response = move(server, f"{personal}long.ics", f"/rooms/{r}/long.ics")
    assert response.status_code == 403, response.text
    name, root = precondition(response)
    assert name == "booking-rule-violated"
    assert root.find(f".//{{{R}}}violation").get("rule") == "max-duration"
    assert server.request("GET", f"{personal}long.ics", user="p-alice").status_code == 200


def test_move_between_rooms_is_checked_by_the_target(server):
    a, b = room(server), room(server)
    assert book(server, a, "20270204T100000Z", "20270204T110000Z", name="x.ics").status_code == 201
    assert book(server, b, "20270204T103000Z", "20270204T104500Z", name="y.ics", user="p-bob").status_code == 201
    before_a, before_b = snapshot(server, f"/rooms/{a}/"), snapshot(server, f"/rooms/{b}/")
    assert move(server, f"/rooms/{a}/x.ics", f"/rooms/{b}/x.ics").status_code == 409
    assert snapshot(server, f"/rooms/{a}/") == before_a and snapshot(server, f"/rooms/{b}/") == before_b
    # into a free slot it works, and the old room's slot is free again
    assert server.request("DELETE", f"/rooms/{b}/y.ics", user="p-bob").status_code == 200
    assert move(server, f"/rooms/{a}/x.ics", f"/rooms/{b}/x.ics").status_code == 201
    assert book(server, a, "20270204T100000Z", "20270204T110000Z", user="p-bob").status_code == 201
    assert book(server, b, "20270204T100000Z", "20270204T110000Z", user="p-bob").status_code == 409


def test_copy_into_a_room_does_not_bypass_the_core(server, personal):
    r = room(server)
    assert book(server, r, "20270206T100000Z", "20270206T110000Z", name="taken.ics").status_code == 201
    assert server.put_ics(f"{personal}copy.ics", event("20270206T100000Z", "20270206T110000Z"),
                          user="p-alice").status_code == 201
    before = snapshot(server, f"/rooms/{r}/")
    response = server.request("COPY", f"{personal}copy.ics", user="p-alice",
                              headers={"Destination": f"{server.url}/rooms/{r}/copy.ics"})
    assert response.status_code == 405   # roomcal takes no COPY: a booking is made by PUT or MOVE
    assert snapshot(server, f"/rooms/{r}/") == before


def test_moving_your_own_booking_within_a_room_works(server):
    r = room(server)
    assert book(server, r, "20270205T100000Z", "20270205T110000Z", name="old.ics").status_code == 201
    assert move(server, f"/rooms/{r}/old.ics", f"/rooms/{r}/new.ics").status_code == 201
    assert server.request("GET", f"/rooms/{r}/new.ics", user="p-alice").status_code == 200
    assert server.request("GET", f"/rooms/{r}/old.ics", user="p-alice").status_code == 404
    # someone else may not move it
    assert move(server, f"/rooms/{r}/new.ics", f"/rooms/{r}/stolen.ics", user="p-bob").status_code == 403


# -- whole-collection PUT -----------------------------------------------------------------------------
def put_collection(server, room_id, text, user="p-admin"):
    return server.request("PUT", f"/rooms/{room_id}/", user=user, data=text.encode(),
                          headers={"Content-Type": "text/calendar; charset=utf-8"})


def test_whole_collection_put_with_overlaps_is_refused_and_changes_nothing(server):
    r = room(server)
    assert book(server, r, "20270301T080000Z", "20270301T090000Z", name="keep.ics", uid="keep").status_code == 201
    before = snapshot(server, f"/rooms/{r}/")
    text = vcalendar(event("20270302T100000Z", "20270302T110000Z", uid="wc-1"),
                     event("20270302T103000Z", "20270302T113000Z", uid="wc-2"),
                     event("20270303T100000Z", "20270303T110000Z", uid="wc-3"))
    response = put_collection(server, r, text)
    assert response.status_code == 409, response.text
    name, root = precondition(response)
    assert name == "no-booking-conflict"
    assert root.findtext(f".//{{{R}}}conflict/{{{R}}}uid") in ("wc-1", "wc-2")
    assert snapshot(server, f"/rooms/{r}/") == before
    # the index still knows the kept booking
    assert book(server, r, "20270301T083000Z", "20270301T093000Z", user="p-bob").status_code == 409
    assert book(server, r, "20270302T100000Z", "20270302T110000Z", user="p-bob").status_code == 201


def test_whole_collection_put_with_a_broken_rule_is_refused(server):
    r = room(server, "--max-duration", "PT2H")
    before = snapshot(server, f"/rooms/{r}/")
    text = vcalendar(event("20270302T100000Z", "20270302T110000Z"), event("20270303T100000Z", "20270303T160000Z"))
    response = put_collection(server, r, text)
    assert response.status_code == 403, response.text
    assert precondition(response)[0] == "booking-rule-violated"
    assert snapshot(server, f"/rooms/{r}/") == before


def test_whole_collection_put_without_overlaps_replaces_the_bookings(server):
    r = room(server, "--max-duration", "PT4H")
    assert book(server, r, "20270301T080000Z", "20270301T090000Z", name="old.ics", uid="old").status_code == 201
    text = vcalendar(event("20270302T100000Z", "20270302T110000Z", uid="wc-a"),
                     event("20270302T110000Z", "20270302T120000Z", uid="wc-b"),
                     event("20270301T083000Z", "20270301T093000Z", uid="wc-c"),  # where "old" was
                     event("20270304T090000Z", "20270304T100000Z", uid="wc-d", extra="RRULE:FREQ=DAILY;COUNT=3"))
    response = put_collection(server, r, text)
    assert response.status_code == 201, response.text
    stored = snapshot(server, f"/rooms/{r}/")
    assert uids_in(stored) == {"wc-a", "wc-b", "wc-c", "wc-d"}
    # the room's rules survive and the new bookings block, the old one does not
    assert server.request("GET", f"/api/rooms/{r}", user="p-admin").json()["rules"]["max-duration"] == "PT4H"
    assert book(server, r, "20270302T103000Z", "20270302T104500Z", user="p-bob").status_code == 409
    assert book(server, r, "20270305T093000Z", "20270305T094500Z", user="p-bob").status_code == 409
    assert book(server, r, "20270301T080000Z", "20270301T083000Z", user="p-bob").status_code == 201
    assert book(server, r, "20270302T120000Z", "20270302T180000Z", user="p-bob").status_code == 403


def test_whole_collection_put_is_for_admins_only(server):
    r = room(server)
    before = snapshot(server, f"/rooms/{r}/")
    response = put_collection(server, r, vcalendar(event("20270302T100000Z", "20270302T110000Z")), user="p-alice")
    assert response.status_code == 403
    assert snapshot(server, f"/rooms/{r}/") == before


# -- roomcal import ------------------------------------------------------------------------------------
def import_file(server, tmp_path, room_id, text, *flags):
    path = os.path.join(str(tmp_path), f"{uuid.uuid4().hex}.ics")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return server.cli("import", room_id, path, *flags, check=False)


def test_import_with_conflicts_stops_with_a_report_and_stores_nothing(server, tmp_path):
    r = room(server)
    assert book(server, r, "20270401T080000Z", "20270401T090000Z", name="there.ics", uid="there").status_code == 201
    before = snapshot(server, f"/rooms/{r}/")
    text = vcalendar(event("20270402T100000Z", "20270402T110000Z", uid="im-1", summary="First"),
                     event("20270402T103000Z", "20270402T113000Z", uid="im-2", summary="Second"),
                     event("20270403T100000Z", "20270403T110000Z", uid="im-3"))
    result = import_file(server, tmp_path, r, text)
    assert result.returncode != 0
    assert "conflict" in result.stderr and "already booked" in result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(server, f"/rooms/{r}/") == before
    # against a stored booking too, also from standard input
    text = vcalendar(event("20270401T083000Z", "20270401T093000Z", uid="im-4"))
    result = server.cli("import", r, "-", input=text, check=False)
    assert result.returncode != 0 and "conflict" in result.stderr
    assert snapshot(server, f"/rooms/{r}/") == before
    # and a rule broken
    server.cli("room", "set", r, "--max-duration", "PT1H")
    result = import_file(server, tmp_path, r, vcalendar(event("20270405T100000Z", "20270405T130000Z")))
    assert result.returncode != 0 and "rule max-duration" in result.stderr and "3 h is longer" in result.stderr
    assert snapshot(server, f"/rooms/{r}/") == before


def test_import_with_allow_conflicts_stores_everything(server, tmp_path):
    r = room(server)
    assert book(server, r, "20270401T080000Z", "20270401T090000Z", name="there.ics", uid="there").status_code == 201
    text = vcalendar(event("20270402T100000Z", "20270402T110000Z", uid="ac-1"),
                     event("20270402T103000Z", "20270402T113000Z", uid="ac-2"),
                     event("20270401T083000Z", "20270401T093000Z", uid="ac-3"))
    result = import_file(server, tmp_path, r, text, "--allow-conflicts")
    assert result.returncode == 0, result.stderr
    assert "imported 3 booking(s)" in result.stdout
    assert uids_in(snapshot(server, f"/rooms/{r}/")) == {"there", "ac-1", "ac-2", "ac-3"}
    for uid in ("ac-1", "ac-2", "ac-3"):
        assert server.request("GET", f"/rooms/{r}/{uid}.ics", user="p-alice").status_code == 200
    # the imported bookings block new ones
    assert book(server, r, "20270402T110000Z", "20270402T111500Z", user="p-bob").status_code == 409


def test_import_without_conflicts_stores_everything(server, tmp_path):
    r = room(server)
    text = vcalendar(event("20270402T100000Z", "20270402T110000Z", uid="ok-1"),
                     event("20270402T110000Z", "20270402T120000Z", uid="ok-2"),
                     event("20270409T100000Z", "20270409T110000Z", uid="ok-3", extra="RRULE:FREQ=WEEKLY;COUNT=4"))
    result = import_file(server, tmp_path, r, text)
    assert result.returncode == 0, result.stderr
    assert uids_in(snapshot(server, f"/rooms/{r}/")) == {"ok-1", "ok-2", "ok-3"}
    assert book(server, r, "20270430T100000Z", "20270430T110000Z", user="p-bob").status_code == 409
    # a UID already in the room is refused, not duplicated
    result = import_file(server, tmp_path, r, vcalendar(event("20270501T100000Z", "20270501T110000Z", uid="ok-1")))
    assert result.returncode != 0 and "ok-1" in result.stderr


def test_a_big_import_refused_by_its_last_event_leaves_the_room_as_it_was(server, tmp_path):
    """All or nothing at the end of a long batch (admitted by UID: "zz" last): a clash with a
    stored booking, with a stored series' occurrence, or with an event earlier in the file
    refuses the whole file; the same file without it is then written in one batch."""
    r = room(server)
    assert book(server, r, "20270601T080000Z", "20270601T090000Z", name="there.ics", uid="there",
                summary="Stored").status_code == 201
    assert book(server, r, "20270503T120000Z", "20270503T130000Z", name="weekly.ics", uid="weekly",
                summary="Series", extra="RRULE:FREQ=WEEKLY;COUNT=5").status_code == 201   # Mondays of May
    before = snapshot(server, f"/rooms/{r}/")
    fine = [event(f"202707{1 + i // 10:02d}T{8 + i % 10:02d}0000Z", f"202707{1 + i // 10:02d}T{8 + i % 10:02d}3000Z",
                  uid=f"big-{i:03d}") for i in range(200)]
    for last, clash in ((event("20270601T083000Z", "20270601T084500Z", uid="zz-stored"), "Stored"),
                        (event("20270524T123000Z", "20270524T124500Z", uid="zz-series"), "Series"),
                        (event("20270720T081000Z", "20270720T082000Z", uid="zz-in-file"), "Booking")):
        result = import_file(server, tmp_path, r, vcalendar(*fine, last))
        assert result.returncode != 0 and result.stderr.count("conflict:") == 1, result.stderr
        assert f"conflict: {clash} " in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert snapshot(server, f"/rooms/{r}/") == before
    if server.store == "file":   # not a file more, not even a temporary one
        assert sorted(name for name in os.listdir(room_folder(server, r)) if not name.startswith(".Radicale.")) \
            == ["there.ics", "weekly.ics"]
        assert not [name for name in os.listdir(room_folder(server, r)) if name.startswith(".Radicale.tmp")]
    result = import_file(server, tmp_path, r, vcalendar(*fine))
    assert result.returncode == 0, result.stderr
    assert uids_in(snapshot(server, f"/rooms/{r}/")) == {"there", "weekly"} | {f"big-{i:03d}" for i in range(200)}
    assert "0 problem(s) found" in server.cli("check", r).stdout


def test_import_of_garbage_fails_cleanly(server, tmp_path):
    r = room(server)
    for text in ("not a calendar", vcalendar(event("20270402T110000Z", "20270402T100000Z")),
                 vcalendar(event("20270402T100000", "20270402T110000", tz="Mars/Olympus_Mons"))):
        result = import_file(server, tmp_path, r, text)
        assert result.returncode != 0 and "Traceback" not in result.stderr
    result = server.cli("import", "no-such-room", "-", input=vcalendar(event("20270402T100000Z", "20270402T110000Z")),
                        check=False)
    assert result.returncode != 0 and "Traceback" not in result.stderr


# -- bad input ----------------------------------------------------------------------------------------
BAD_BOOKINGS = {
    "garbage": "this is not iCalendar",
    "empty": "",
    "no-vevent": "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nEND:VCALENDAR\r\n",
    "end-before-start": event("20270601T110000Z", "20270601T100000Z"),
    "unknown-tzid": event("20270601T100000", "20270601T110000", tz="Mars/Olympus_Mons"),
    "bad-rrule": event("20270601T100000Z", "20270601T110000Z", extra="RRULE:FREQ=SOMETIMES"),
    "bad-date": event("20271340T100000Z", "20271341T110000Z"),
    "no-dtstart": event("20270601T100000Z", "20270601T110000Z").replace("DTSTART:20270601T100000Z\r\n", ""),
    "date-and-time": event("20270601T100000Z", "20270601T110000Z").replace(
        "DTEND:20270601T110000Z", "DTEND;VALUE=DATE:20270602"),
    "negative-duration": event("20270601T100000Z", "20270601T110000Z").replace(
        "DTEND:20270601T110000Z", "DURATION:-PT1H"),
    "two-uids": vcalendar(event("20270601T100000Z", "20270601T110000Z"),
                          event("20270602T100000Z", "20270602T110000Z")),
    "unterminated": "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:20270601T100000Z\r\n",
}


@pytest.fixture(scope="module")
def bad_room(server):
    r = room(server, "--timezone", "Europe/Berlin", "--max-duration", "PT4H")
    assert book(server, r, "20270601T120000Z", "20270601T130000Z", name="stored.ics").status_code == 201
    return r


# Radicale answers 400 to what it cannot read; what it reads and roomcal refuses is a 403 with
# a precondition (an unreadable RRULE: valid-calendar-data; a broken room rule).
REFUSED_BY_ROOMCAL = {"bad-rrule", "negative-duration"}
BROKEN_RULE = "negative-duration"   # the dry run reports it as a violation, not as an error


@pytest.mark.parametrize("case", sorted(BAD_BOOKINGS))
def test_bad_input_is_a_4xx_and_stores_nothing(server, bad_room, case):
    refused = 403 if case in REFUSED_BY_ROOMCAL else 400
    before = snapshot(server, f"/rooms/{bad_room}/")
    response = server.put_ics(f"/rooms/{bad_room}/bad.ics", BAD_BOOKINGS[case], user="p-alice")
    assert response.status_code == refused, (response.status_code, response.text)
    assert snapshot(server, f"/rooms/{bad_room}/") == before
    # the same through the dry run and a whole-collection PUT
    check = server.request("POST", f"/api/rooms/{bad_room}/check", user="p-alice",
                           data=BAD_BOOKINGS[case].encode(), headers={"Content-Type": "text/calendar"})
    if case == BROKEN_RULE:  # the dry run reports a broken rule as a violation
        assert check.status_code == 200, (check.status_code, check.text)
        assert check.json()["ok"] is False and check.json()["violations"], check.text
    else:
        assert check.status_code == 422 and check.json()["message"], (check.status_code, check.text)
    if case not in ("no-vevent", "empty", "two-uids"):  # valid contents of a whole room
        whole = server.request("PUT", f"/rooms/{bad_room}/", user="p-admin", data=BAD_BOOKINGS[case].encode(),
                               headers={"Content-Type": "text/calendar"})
        assert whole.status_code == refused, (whole.status_code, whole.text)
    assert snapshot(server, f"/rooms/{bad_room}/") == before


def test_unknown_tzid_is_a_400_naming_the_zone(server, bad_room):
    response = server.put_ics(f"/rooms/{bad_room}/tz.ics", BAD_BOOKINGS["unknown-tzid"], user="p-alice")
    assert response.status_code == 400
    assert "Mars/Olympus_Mons" in response.text


def test_dtend_before_dtstart_is_a_400_with_a_sentence(server, bad_room):
    response = server.put_ics(f"/rooms/{bad_room}/rev.ics", BAD_BOOKINGS["end-before-start"], user="p-alice")
    assert response.status_code == 400
    assert "DTEND is before DTSTART" in response.text


def test_put_into_a_missing_room_is_not_a_500(server):
    response = server.put_ics("/rooms/no-such-room/x.ics", event("20270601T100000Z", "20270601T110000Z"),
                              user="p-alice")
    assert response.status_code == 404


# -- the index follows the files ------------------------------------------------------------------------
def room_folder(server, room_id):
    return os.path.join(server.dir, "data", "collections", "collection-root", "rooms", room_id)


def test_a_booking_file_added_by_hand_is_seen(server):
    if server.store != "file":
        pytest.skip("files edited by hand: the file store's")
    r = room(server)
    assert book(server, r, "20270701T080000Z", "20270701T090000Z", name="put.ics").status_code == 201
    with open(os.path.join(room_folder(server, r), "hand.ics"), "w", newline="") as f:
        f.write(event("20270701T100000Z", "20270701T110000Z", uid="by-hand"))
    assert book(server, r, "20270701T103000Z", "20270701T113000Z", user="p-bob").status_code == 409
    assert book(server, r, "20270701T083000Z", "20270701T093000Z", user="p-bob").status_code == 409
    result = server.cli("reindex", r)
    assert f"{r}: 2 booking(s) indexed" in result.stdout
    assert book(server, r, "20270701T110000Z", "20270701T120000Z", user="p-bob").status_code == 201


def edited_by_hand(make_server, interval: str, day: str):
    """A file-store server whose room holds one booking on ``day`` (8-9 UTC), then rewritten
    in place, as an editor may, to 14-15: (server, room id)."""
    server = make_server(start=False)
    if server.store != "file":
        pytest.skip("files edited by hand: the file store's")
    server.configure(("roomcal_index_verify_interval = 10", f"roomcal_index_verify_interval = {interval}"))
    server.start()
    server.add_user("p-admin", admin=True)
    server.add_user("p-alice")
    server.add_user("p-bob")
    r = room(server)
    assert book(server, r, f"{day}T080000Z", f"{day}T090000Z", name="edit.ics", uid="edited").status_code == 201
    path = os.path.join(room_folder(server, r), "edit.ics")
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8", newline="") as f:  # in place: the folder's mtime stays
        f.write(text.replace(f"{day}T080000Z", f"{day}T140000Z").replace(f"{day}T090000Z", f"{day}T150000Z"))
    return server, r


def test_a_booking_file_edited_by_hand_is_seen(make_server):
    """An in-place edit changes only the file's mtime: the scan finds it (interval 0: before
    every use, so the test need not wait)."""
    server, r = edited_by_hand(make_server, "0", "20270702")
    assert book(server, r, "20270702T143000Z", "20270702T153000Z", user="p-bob").status_code == 409
    assert book(server, r, "20270702T080000Z", "20270702T090000Z", user="p-bob").status_code == 201


def test_a_booking_file_edited_by_hand_is_found_by_the_look_in_the_background(make_server):
    """With an interval, the look through a room's files is a thread's: requests go on
    meanwhile, and one after the look rebuilds the room's index."""
    server, r = edited_by_hand(make_server, "0.2", "20270703")
    deadline, starts = time.monotonic() + 20, []
    while time.monotonic() < deadline:   # each listing is a use of the room: it asks for a look
        listed = server.request("GET", f"/api/rooms/{r}/bookings?from=2027-07-03&to=2027-07-03", user="p-bob")
        assert listed.status_code == 200, listed.text
        starts = [b["start"] for b in listed.json()["bookings"]]
        if starts and "T14:00" in starts[0]:
            break
        time.sleep(0.1)
    assert len(starts) == 1 and "T14:00" in starts[0], starts
    assert "was edited outside roomcal" in server.read_log()
    assert book(server, r, "20270703T143000Z", "20270703T153000Z", user="p-bob").status_code == 409
    assert book(server, r, "20270703T080000Z", "20270703T090000Z", user="p-bob").status_code == 201


def test_a_literal_backslash_n_in_text_survives_the_booking_core_and_json(server):
    """icalendar 7.3 writes the two characters backslash-N back as a line break; the core
    re-writes every booking it admits (storage/ical_text.py)."""
    r = room(server)
    answer = book(server, r, "20270920T080000Z", "20270920T090000Z", name="path.ics",
                  summary="C:\\\\New folder\\, 2")
    assert answer.status_code == 201, answer.text
    stored = server.request("GET", f"/rooms/{r}/path.ics", user="p-alice").text
    assert "SUMMARY:C:\\\\New folder\\, 2" in stored
    event_json = server.request("GET", f"/rooms/{r}/path.ics", user="p-alice",
                                headers={"Accept": "application/json"}).json()
    assert event_json["title"] == "C:\\New folder, 2"
    # and a JSON write of the same text keeps it
    event_json["description"] = "See \\N, not a line break"
    assert server.request("PUT", f"/rooms/{r}/path.ics", user="p-alice", json=event_json).status_code in (200, 204)
    back = server.request("GET", f"/rooms/{r}/path.ics", user="p-alice",
                          headers={"Accept": "application/json"}).json()
    assert (back["title"], back["description"]) == ("C:\\New folder, 2", "See \\N, not a line break")


def test_moves_in_opposite_directions_at_the_same_moment_all_go_through(server):
    """MOVEs between two calendars (each journals both) sent at once, half one way and half
    the other: each waits for the other's lock instead of deadlocking (PostgreSQL)."""
    cals = ["/p-alice/moves-a/", "/p-alice/moves-b/"]
    for cal in cals:
        assert server.request("MKCALENDAR", cal, user="p-alice").status_code == 201
    moves = []
    for n in range(8):
        for source, target in (cals, cals[::-1]):
            name = f"m{n}-{len(moves)}.ics"
            assert server.put_ics(source + name, event(f"2027100{n % 9 + 1}T080000Z", f"2027100{n % 9 + 1}T090000Z"),
                                  user="p-alice").status_code == 201
            moves.append((source + name, target + name))
    barrier = threading.Barrier(len(moves))

    def send(pair):
        barrier.wait(30)
        return move(server, *pair).status_code

    with concurrent.futures.ThreadPoolExecutor(len(moves)) as pool:
        assert list(pool.map(send, moves)) == [201] * len(moves)

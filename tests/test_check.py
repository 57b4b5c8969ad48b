"""`roomcal check [ROOM] [--repair]` (issue 7): items parse, the index matches, no stray temp
files; no names garbled by the Latin-1 paths of before issue 12."""

import os
from urllib.parse import quote

import pytest

from conftest import book, event, new_room
from support import postgres
from support.stored import item_names, on_index, room_folder, write_item

SLOT_1 = ("20271206T100000Z", "20271206T110000Z")
SLOT_2 = ("20271206T120000Z", "20271206T130000Z")


@pytest.fixture(scope="module")
def srv(make_server):
    s = make_server()
    s.add_user("alice")
    return s


def booked_room(srv, prefix):
    room_id = new_room(srv, prefix)
    for n, (start, end) in enumerate((SLOT_1, SLOT_2)):
        assert book(srv, room_id, start, end, "alice", name=f"b{n}.ics",
                    uid=f"{room_id}-{n}", summary=f"Meeting {n}").status_code == 201
    return room_id


def test_clean_store_exits_0(srv):
    booked_room(srv, "clean")
    result = srv.cli("check", check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].startswith("checked ")
    assert "0 problem(s) found" in result.stdout


def test_unknown_room_is_one_line_error(srv):
    result = srv.cli("check", "no-such-room", check=False)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "no-such-room" in result.stderr


def test_deleted_index_rows_reported_and_repaired(srv):
    room_id = booked_room(srv, "rows")
    assert on_index(srv, "DELETE FROM bookings WHERE room = ? AND href = ?", (f"rooms/{room_id}", "b0.ics")) == 1
    result = srv.cli("check", room_id, check=False)
    assert result.returncode == 1
    assert f"index: {room_id}: b0.ics: stored item missing from the booking index" in result.stdout
    # The server does not notice (the folder did not change): b0's slot looks free to it.
    repaired = srv.cli("check", room_id, "--repair", check=False)
    assert repaired.returncode == 0, repaired.stdout
    assert "(repaired)" in repaired.stdout and "0 remaining" in repaired.stdout
    assert srv.cli("check", room_id, check=False).returncode == 0
    # The index is whole again: the booking core sees b0 and refuses an overlap.
    assert book(srv, room_id, *SLOT_1, "alice").status_code == 409


def test_booking_edited_in_place_reported_and_repaired(srv):
    room_id = booked_room(srv, "edit")
    if srv.store == "file":
        path = os.path.join(room_folder(srv, room_id), "b1.ics")
        with open(path, "r+b") as f:  # in place: the folder's mtime stays
            text = f.read()
            assert b"SUMMARY:Meeting 1" in text
            f.seek(0)
            f.write(text.replace(b"SUMMARY:Meeting 1", b"SUMMARY:Meeting X"))
    else:
        assert postgres.execute(srv.database, "UPDATE items SET text = replace(text, 'SUMMARY:Meeting 1', "
                                "'SUMMARY:Meeting X') WHERE collection = %s AND href = 'b1.ics'",
                                (f"rooms/{room_id}",)) == 1
    result = srv.cli("check", room_id, check=False)
    assert result.returncode == 1
    assert f"index: {room_id}: b1.ics: booking index row differs from the item (summary, outline)" in result.stdout
    assert srv.cli("check", room_id, "--repair", check=False).returncode == 0
    assert srv.cli("check", room_id, check=False).returncode == 0


def test_occupancy_rows_reported_and_repaired(srv):
    """PostgreSQL: what a booking holds of its room (the rows the exclusion constraint
    guards) is checked against the booking; a buffer changed since it was written is not a fault."""
    if srv.store != "postgresql":
        pytest.skip("occupancy rows are PostgreSQL's")
    room_id = booked_room(srv, "occupy")
    assert book(srv, room_id, "20271206T150000Z", "20271206T160000Z", "alice", name="weekly.ics",
                extra="RRULE:FREQ=WEEKLY").status_code == 201   # open: held up to the horizon
    srv.cli("room", "set", room_id, "--buffer", "PT15M")
    assert srv.cli("check", room_id, check=False).returncode == 0
    room = f"rooms/{room_id}"
    assert on_index(srv, "DELETE FROM occupancy WHERE room = ? AND href = 'b0.ics'", (room,)) == 1
    assert on_index(srv, "UPDATE occupancy SET during = tstzrange(lower(during) + interval '1 hour', "
                    "upper(during) + interval '1 hour') WHERE room = ? AND href = 'b1.ics'", (room,)) == 1
    result = srv.cli("check", room_id, check=False)
    assert result.returncode == 1
    assert f"index: {room_id}: b0.ics: the booking holds none of its time (no occupancy rows)" in result.stdout
    assert f"index: {room_id}: b1.ics: occupancy rows differ from the booking" in result.stdout
    repaired = srv.cli("check", room_id, "--repair", check=False)
    assert repaired.returncode == 0 and "0 remaining" in repaired.stdout, repaired.stdout
    assert srv.cli("check", room_id, check=False).returncode == 0
    # b0 holds its slot again, to the database's constraint too
    assert book(srv, room_id, *SLOT_1, "alice").status_code == 409


def test_unparseable_item_reported_then_quarantined_never_deleted(srv):
    room_id = booked_room(srv, "broken")
    write_item(srv, room_id, "broken.ics", "this is not iCalendar\n")
    # Radicale reads it; roomcal's Booking does not (no DTSTART)
    write_item(srv, room_id, "half.ics", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\n"
               "UID:half\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:no start\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    result = srv.cli("check", room_id, check=False)
    assert result.returncode == 1
    assert f"unparseable: {room_id}: broken.ics: Radicale cannot read it" in result.stdout
    assert any(line.startswith(f"unparseable: {room_id}: half.ics: ")
               for line in result.stdout.splitlines()), result.stdout
    # the room is still served meanwhile, without the unreadable items
    listing = srv.request("PROPFIND", f"/rooms/{room_id}/", user="alice", headers={"Depth": "1"})
    assert listing.status_code == 207 and "b0.ics" in listing.text
    if srv.store == "file":   # Radicale skips a file it cannot read; a row is listed as it is
        assert "broken.ics" not in listing.text
    repaired = srv.cli("check", room_id, "--repair", check=False)
    assert repaired.returncode == 0, repaired.stdout
    quarantine = os.path.join(srv.dir, "data", "quarantine", room_id)
    for name in ("broken.ics", "half.ics"):
        line = next(line for line in repaired.stdout.splitlines() if f": {name}: " in line)
        moved = line.split("moved to ", 1)[1].split(" (repaired)")[0]
        assert os.path.dirname(moved) == quarantine and moved.endswith(name)
        assert os.path.exists(moved)
    with open(os.path.join(quarantine, next(n for n in os.listdir(quarantine) if n.endswith("broken.ics")))) as f:
        assert f.read() == "this is not iCalendar\n"   # kept as it was, for a human to fix
    assert item_names(srv, room_id) == ["b0.ics", "b1.ics"]
    assert srv.cli("check", room_id, check=False).returncode == 0


def test_stray_temp_folders_and_files_reported_and_removed(srv):
    if srv.store != "file":
        pytest.skip("temporary folders of interrupted writes are the file store's")
    room_id = booked_room(srv, "temp")
    in_room = os.path.join(room_folder(srv, room_id), ".Radicale.tmp-abc123")
    os.makedirs(in_room)
    with open(os.path.join(in_room, "x.ics"), "w") as f:
        f.write("half written")
    ours = os.path.join(room_folder(srv, room_id), ".Radicale.tmp-roomcal-1-2")   # a booking's write
    with open(ours, "w") as f:
        f.write("half written")
    in_root = os.path.join(srv.dir, "data", "collections", "collection-root", "rooms", ".Radicale.tmp-def456")
    os.makedirs(os.path.join(in_root, "collection"))
    result = srv.cli("check", check=False)
    assert result.returncode == 1
    assert f"temp: {room_id}: .Radicale.tmp-abc123: temporary folder of an interrupted write" in result.stdout
    assert f"temp: {room_id}: .Radicale.tmp-roomcal-1-2: temporary file of an interrupted write" in result.stdout
    assert f"temp: {in_root}: temporary folder" in result.stdout
    repaired = srv.cli("check", "--repair", check=False)
    assert repaired.returncode == 0, repaired.stdout
    assert not os.path.exists(in_room) and not os.path.exists(in_root) and not os.path.exists(ours)
    assert srv.cli("check", check=False).returncode == 0
    # the bookings are untouched
    assert srv.request("GET", f"/rooms/{room_id}/b0.ics", user="alice").status_code == 200


def test_journal_floor_beyond_sequence_reported(srv):
    on_index(srv, "INSERT INTO sync_counters(collection, seq, floor) VALUES ('rooms/ghost', 3, 999999999) "
             "ON CONFLICT(collection) DO UPDATE SET seq = excluded.seq, floor = excluded.floor")
    try:
        result = srv.cli("check", check=False)
        assert result.returncode == 1
        assert "journal: rooms/ghost: floor 999999999 is beyond the counter 3" in result.stdout
    finally:
        on_index(srv, "DELETE FROM sync_counters WHERE collection = 'rooms/ghost'")
    assert srv.cli("check", check=False).returncode == 0


# "ä.ics" as roomcal stored it before paths were decoded at the entry (issue 12): the URL's
# UTF-8 read as Latin-1.  A URL that spells that name out stores it the same way today.
GARBLED, MEANT = "Ã¤.ics", "ä.ics"


def json_sync(srv, path, token=""):
    answer = srv.request("GET", f"{path}?sync-token={quote(token)}", user="alice",
                         headers={"Accept": "application/json"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_garbled_names_reported_and_renamed(srv):
    assert srv.request("MKCALENDAR", "/alice/cal/", user="alice").status_code == 201
    assert srv.put_ics("/alice/cal/" + quote(GARBLED), event(*SLOT_1, summary="Mine"),
                       user="alice").status_code == 201
    calendar = "/alice/" + quote("Kalender-Ã¶") + "/"
    assert srv.request("MKCALENDAR", calendar, user="alice").status_code == 201
    assert srv.put_ics(calendar + quote("Ã¼.ics"), event(*SLOT_1), user="alice").status_code == 201
    room_id = new_room(srv, "garbled")
    assert book(srv, room_id, *SLOT_1, "alice", name=quote(GARBLED), summary="Booked").status_code == 201
    token = json_sync(srv, "/alice/cal/")["sync-token"]

    result = srv.cli("check", check=False)
    assert result.returncode == 1
    for line in (f"name: {room_id}: Ã¤.ics: stored under a garbled name; it was sent as 'ä.ics'",
                 "name: alice/cal/Ã¤.ics: stored under a garbled name; it was sent as 'ä.ics'",
                 "name: alice/Kalender-Ã¶/Ã¼.ics: stored under a garbled name; it was sent as 'ü.ics'",
                 "name: alice/Kalender-Ã¶/: stored under a garbled name; it was sent as 'Kalender-ö'"):
        assert line in result.stdout.splitlines(), result.stdout
    repaired = srv.cli("check", "--repair", check=False)
    assert repaired.returncode == 0, repaired.stdout
    assert repaired.stdout.count("(repaired)") == 4 and "0 remaining" in repaired.stdout
    assert srv.cli("check", check=False).returncode == 0

    # Each answers at the URL it was sent to first, and nowhere else.
    assert "Mine" in srv.request("GET", "/alice/cal/%C3%A4.ics", user="alice").text
    assert srv.request("GET", "/alice/cal/" + quote(GARBLED), user="alice").status_code == 404
    assert srv.request("GET", "/alice/Kalender-%C3%B6/%C3%BC.ics", user="alice").status_code == 200
    assert srv.request("GET", calendar, user="alice").status_code == 404
    # Sync clients see the rename as a deletion and a new item.
    changes = json_sync(srv, "/alice/cal/", token)["responses"]
    assert changes["/alice/cal/" + quote(GARBLED)] is None
    assert changes["/alice/cal/%C3%A4.ics"]["title"] == "Mine"
    # The room's index knows the new name: the booking still blocks its slot, under that href.
    href = f"/rooms/{room_id}/%C3%A4.ics"
    assert "Booked" in srv.request("GET", href, user="alice").text
    clash = book(srv, room_id, *SLOT_1, "alice")
    assert clash.status_code == 409 and f"<D:href>{href}</D:href>" in clash.text


def test_garbled_name_whose_meant_name_is_taken_is_left(srv):
    assert srv.request("MKCALENDAR", "/alice/taken/", user="alice").status_code == 201
    for name in (GARBLED, MEANT):
        assert srv.put_ics("/alice/taken/" + quote(name), event(*SLOT_1, summary=name),
                           user="alice").status_code == 201
    repaired = srv.cli("check", "--repair", check=False)
    assert repaired.returncode == 1
    assert ("name: alice/taken/Ã¤.ics: stored under a garbled name; it was sent as 'ä.ics', "
            "a name that is taken: rename one of them by hand") in repaired.stdout.splitlines()
    for name in (GARBLED, MEANT):
        assert name in srv.request("GET", "/alice/taken/" + quote(name), user="alice").text
    assert srv.request("DELETE", "/alice/taken/" + quote(GARBLED), user="alice").status_code == 200
    assert srv.cli("check", check=False).returncode == 0

"""Radicale's ``[storage] hook`` (a shell command run after each change, typically a ``git
commit`` or a notification) on the PostgreSQL store, as on the file store: after the write
has committed, in the host's ``filesystem_folder`` under its ``.Radicale.lock``, with
Radicale's placeholders; never after a read or a write that changed nothing; a failing
hook is logged and the write stays (storage/postgres/hook.py)."""

import json
import os
import shutil
import sys
import textwrap

import pytest

from conftest import Server, book, event
from support.postgres import execute

# The hook: what it was given, where it ran, whether the folder's lock was held meanwhile,
# and, on PostgreSQL, which items another connection sees (only what has committed).
RECORDER = textwrap.dedent("""\
    import fcntl, json, os, sys
    url, request, user, actor, cwd, path, *to_path = sys.argv[1:]
    with open(".Radicale.lock") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            held = False
        except BlockingIOError:
            held = True
    visible = None
    if url != "-":
        import psycopg
        with psycopg.connect(url) as db:
            visible = sorted(c + "/" + h for c, h in db.execute("SELECT collection, href FROM items"))
    with open("hook.log", "a") as log:
        log.write(json.dumps({"request": request, "user": user, "actor": actor, "cwd": cwd, "path": path,
                              "to_path": to_path, "ran_in": os.getcwd(), "lock_held": held,
                              "visible": visible}) + "\\n")
    sys.exit(3 if "fail-hook" in path else 0)
    """)


def _with_hook(srv: Server, store_type: str) -> str:
    """``srv`` configured with the recording hook; its folder (where the hook runs)."""
    script = os.path.join(srv.dir, "record_hook.py")
    with open(script, "w") as f:
        f.write(RECORDER)
    url = srv.database or "-"
    srv.configure((f"type = {store_type}\n", f"type = {store_type}\nhook = {sys.executable} {script} {url} "
                   "%(request)s %(user)s %(actor)s %(cwd)s %(path)s %(to_path)s\n"))
    return os.path.join(srv.dir, "data", "collections")


class Hook:
    def __init__(self, folder):
        self.folder = folder
        self.seen = 0

    def new_runs(self) -> list:
        """The hook's runs since the last call."""
        try:
            with open(os.path.join(self.folder, "hook.log")) as f:
                runs = [json.loads(line) for line in f]
        except FileNotFoundError:
            runs = []
        new, self.seen = runs[self.seen:], len(runs)
        return new


@pytest.fixture(scope="module")
def pg(tmp_path_factory):
    srv = Server(tmp_path_factory.mktemp("hook-pg"), store="postgresql")
    srv.add_user("hk-alice")
    srv.add_user("hk-carol")
    srv.add_room("hk-room")
    folder = _with_hook(srv, "roomcal.storage.postgres")
    shutil.rmtree(folder)   # a host's folder need not exist: the hook's is made
    srv.start()
    hook = Hook(folder)
    srv.request("PROPFIND", "/hk-alice/", user="hk-alice", headers={"Depth": "0"})   # her home, made
    hook.new_runs()
    yield srv, hook
    srv.discard()


def test_a_home_made_on_a_first_request_runs_the_hook_as_in_radicale(pg):
    srv, hook = pg
    hook.new_runs()
    assert srv.request("PROPFIND", "/hk-carol/", user="hk-carol", headers={"Depth": "0"}).status_code == 207
    [run] = hook.new_runs()
    assert (run["request"], run["user"], run["path"]) == ("NONE", "hk-carol", hook.folder + "/collection-root")
    assert "hk-carol" in srv.request("PROPFIND", "/", user="hk-carol", headers={"Depth": "1"}).text
    assert srv.request("PROPFIND", "/hk-carol/", user="hk-carol", headers={"Depth": "0"}).status_code == 207
    assert hook.new_runs() == []   # made once


def test_a_write_runs_the_hook_once_committed_with_radicales_placeholders(pg):
    srv, hook = pg
    hook.new_runs()
    assert book(srv, "hk-room", "20270401T090000Z", "20270401T100000Z", "hk-alice", name="one.ics").status_code == 201
    [run] = hook.new_runs()
    assert run["request"] == "PUT" and run["user"] == "hk-alice" and run["actor"] == "hk-alice"
    assert run["cwd"] == hook.folder and run["ran_in"] == hook.folder
    assert run["path"] == hook.folder + "/collection-root/rooms/hk-room/one.ics" and run["to_path"] == []
    assert run["lock_held"], "the hook runs holding the folder's .Radicale.lock"
    assert "rooms/hk-room/one.ics" in run["visible"], "the hook runs after the commit"

    assert srv.request("DELETE", "/rooms/hk-room/one.ics", user="hk-alice").status_code in (200, 204)
    [run] = hook.new_runs()
    assert run["request"] == "DELETE" and run["path"] == hook.folder + "/collection-root/rooms/hk-room/one.ics"
    assert "rooms/hk-room/one.ics" not in run["visible"]


def test_mkcalendar_and_move_give_the_path_and_the_destination(pg):
    srv, hook = pg
    hook.new_runs()
    assert srv.request("MKCALENDAR", "/hk-alice/hk-cal/", user="hk-alice").status_code == 201
    assert [(r["request"], r["path"]) for r in hook.new_runs()] == [
        ("MKCALENDAR", hook.folder + "/collection-root/hk-alice/hk-cal/")]
    assert srv.put_ics("/hk-alice/hk-cal/a.ics", event("20270402T090000Z", "20270402T100000Z"),
                       user="hk-alice").status_code == 201
    hook.new_runs()
    moved = srv.request("MOVE", "/hk-alice/hk-cal/a.ics", user="hk-alice",
                        headers={"Destination": srv.url + "/hk-alice/hk-cal/b.ics"})
    assert moved.status_code == 201, moved.text
    [run] = hook.new_runs()
    assert run["request"] == "MOVE" and run["path"] == hook.folder + "/collection-root/hk-alice/hk-cal/a.ics"
    assert run["to_path"] == [hook.folder + "/collection-root/hk-alice/hk-cal/b.ics"]
    assert "hk-alice/hk-cal/b.ics" in run["visible"] and "hk-alice/hk-cal/a.ics" not in run["visible"]


def test_reads_and_writes_that_change_nothing_run_no_hook(pg):
    srv, hook = pg
    assert book(srv, "hk-room", "20270403T090000Z", "20270403T100000Z", "hk-alice", name="kept.ics").status_code == 201
    hook.new_runs()
    assert srv.request("GET", "/rooms/hk-room/kept.ics", user="hk-alice").status_code == 200
    assert srv.request("PROPFIND", "/rooms/hk-room/", user="hk-alice", headers={"Depth": "1"}).status_code == 207
    assert srv.request("GET", "/api/rooms/hk-room", user="hk-alice").status_code == 200
    # refused by the booking core: rolled back
    overlapping = book(srv, "hk-room", "20270403T093000Z", "20270403T103000Z", "hk-alice")
    assert overlapping.status_code == 409
    # refused by Radicale before writing (If-Match of another version)
    stale = srv.put_ics("/rooms/hk-room/kept.ics", event("20270403T090000Z", "20270403T100000Z"),
                        user="hk-alice", **{"If-Match": '"not-its-etag"'})
    assert stale.status_code == 412
    assert srv.request("DELETE", "/rooms/hk-room/none-such.ics", user="hk-alice").status_code == 404
    assert hook.new_runs() == []


def test_a_failing_hook_is_logged_and_the_write_stays(pg):
    srv, hook = pg
    hook.new_runs()
    answer = book(srv, "hk-room", "20270404T090000Z", "20270404T100000Z", "hk-alice", name="fail-hook.ics")
    assert answer.status_code == 201, answer.text
    [run] = hook.new_runs()
    assert "rooms/hk-room/fail-hook.ics" in run["visible"]
    assert srv.request("GET", "/rooms/hk-room/fail-hook.ics", user="hk-alice").status_code == 200
    assert "Execution of storage hook not successful" in srv.read_log()


def test_a_hook_folder_removed_under_a_running_server_is_made_again(pg):
    srv, hook = pg
    shutil.rmtree(hook.folder)
    hook.seen = 0
    answer = book(srv, "hk-room", "20270406T090000Z", "20270406T100000Z", "hk-alice", name="again.ics")
    assert answer.status_code == 201, answer.text
    [run] = hook.new_runs()
    assert run["ran_in"] == hook.folder and "rooms/hk-room/again.ics" in run["visible"]

    shutil.rmtree(hook.folder)
    with open(hook.folder, "w"):   # a file where the folder should be: no hook can run
        pass
    try:
        answer = book(srv, "hk-room", "20270407T090000Z", "20270407T100000Z", "hk-alice", name="no-folder.ics")
        assert answer.status_code == 201, answer.text   # committed: the answer says so
        assert srv.request("GET", "/rooms/hk-room/no-folder.ics", user="hk-alice").status_code == 200
        assert f"Execution of storage hook not successful: [Errno 17] File exists: '{hook.folder}'" in srv.read_log()
    finally:
        os.remove(hook.folder)
        hook.seen = 0


def test_a_write_through_the_api_runs_the_hook(pg):
    srv, hook = pg
    hook.new_runs()
    before = execute(srv.database, "SELECT count(*) FROM items WHERE collection = 'rooms/hk-room'")[0][0]
    answer = srv.request("POST", "/api/rooms/hk-room/bookings", user="hk-alice",
                         json={"start": "2027-04-05T09:00:00Z", "end": "2027-04-05T10:00:00Z", "title": "api"})
    assert answer.status_code == 201, answer.text
    [run] = hook.new_runs()
    # the room's path, as on the file store (a JSON write names the collection it writes to)
    assert (run["request"], run["user"], run["path"]) == ("PUT", "hk-alice", hook.folder + "/collection-root/rooms/hk-room/")
    listed = srv.request("GET", "/api/rooms/hk-room/bookings", user="hk-alice",
                         params={"from": "2027-04-05", "to": "2027-04-05"}).json()["bookings"]
    assert [b["title"] for b in listed] == ["api"]
    assert len([v for v in run["visible"] if v.startswith("rooms/hk-room/")]) == before + 1


def test_the_file_store_gives_the_hook_the_same(tmp_path):
    srv = Server(tmp_path, store="file")
    srv.add_user("hk-bob")
    srv.add_room("hk-file-room")
    hook = Hook(_with_hook(srv, "roomcal.storage"))
    srv.start()
    try:
        srv.request("PROPFIND", "/hk-bob/", user="hk-bob", headers={"Depth": "0"})   # his home, made
        assert [r["request"] for r in hook.new_runs()] == ["NONE"]
        assert book(srv, "hk-file-room", "20270401T090000Z", "20270401T100000Z", "hk-bob",
                    name="one.ics").status_code == 201
        [run] = hook.new_runs()
        assert (run["request"], run["user"], run["actor"], run["cwd"], run["ran_in"], run["path"], run["to_path"],
                run["lock_held"]) == ("PUT", "hk-bob", "hk-bob", hook.folder, hook.folder,
                                      hook.folder + "/collection-root/rooms/hk-file-room/one.ics", [], True)
        # Radicale's own rule on its store: after every write request that raised nothing,
        # changed or not (on PostgreSQL, only after a committed change)
        stale = srv.put_ics("/rooms/hk-file-room/one.ics", event("20270401T090000Z", "20270401T100000Z"),
                            user="hk-bob", **{"If-Match": '"not-its-etag"'})
        assert stale.status_code == 412
        assert [r["request"] for r in hook.new_runs()] == ["PUT"]
    finally:
        srv.stop()

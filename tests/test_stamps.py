"""Listings served from stamps (storage/stamps.py) answer exactly what Radicale's own
reading of the files answers, and follow files changed behind the server's back."""

import os
import shutil

import pytest
from lxml import etree

from conftest import assert_no_500, book, event, new_room

LISTING = ('<?xml version="1.0"?><propfind xmlns="DAV:"><prop><getetag/><getcontenttype/>'
           '<getlastmodified/></prop></propfind>')


@pytest.fixture(scope="module")
def site(server):
    if server.store != "file":
        pytest.skip("stamps are what the file store knows of its files")
    server.add_user("s-ann")
    return server


def listing(server, room_id) -> bytes:
    answer = server.request("PROPFIND", f"/rooms/{room_id}/", user="s-ann", data=LISTING,
                            headers={"Depth": "1", "Content-Type": "application/xml"})
    assert answer.status_code == 207
    return answer.content


def etags(body: bytes) -> dict:
    """{file name: ETag} of the items in a multistatus."""
    found = {}
    for response in etree.fromstring(body).iter("{DAV:}response"):
        href = response.findtext("{DAV:}href")
        if href.endswith(".ics"):
            found[href.rsplit("/", 1)[1]] = response.findtext(".//{DAV:}getetag")
    return found


def folder(server, room_id):
    return os.path.join(server.dir, "data", "collections", "collection-root", "rooms", room_id)


def test_a_listing_is_the_same_after_radicales_cache_is_gone(site):
    r = new_room(site, "st")
    for day in range(1, 6):
        assert book(site, r, f"2027080{day}T080000Z", f"2027080{day}T090000Z", "s-ann",
                    name=f"b{day}.ics").status_code == 201
    before = listing(site, r)
    assert len(etags(before)) == 5
    # a room's writes and syncs leave Radicale's cache alone; one an older roomcal left
    cache = os.path.join(folder(site, r), ".Radicale.cache")
    os.makedirs(os.path.join(cache, "item"), exist_ok=True)
    assert listing(site, r) == before
    shutil.rmtree(cache)
    assert listing(site, r) == before
    # and the conflict check (its index rebuilt after the folder changed) still knows them
    assert book(site, r, "20270801T083000Z", "20270801T093000Z", "s-ann").status_code == 409


def test_a_listing_of_etags_answers_all_an_item_is_asked_for(site):
    """A listing of ETags alone (server/etag_listing.py) leaves the texts, UIDs and time
    ranges out of its items; each is found when asked for, the same as a full listing's."""
    from radicale import storage as radicale_storage

    from roomcal.server import config as roomcal_config
    from roomcal.storage import context
    r = new_room(site, "st")
    assert book(site, r, "20270810T080000Z", "20270810T093000Z", "s-ann", name="e.ics").status_code == 201
    storage = radicale_storage.load(roomcal_config.load(site.config))
    with context.request(context.Actor.command_line()):
        with storage.acquire_lock("r"):
            _, whole = storage.discover(f"/rooms/{r}/", "1")
            whole = (whole.etag, whole.uid, whole.time_range, whole.component_name, whole.serialize())
        with storage.acquire_lock("r"), context.listing_etags_only():
            _, item = storage.discover(f"/rooms/{r}/", "1")
        assert (item._text, item._uid, item._time_range) == (None, None, None)   # what the listing kept
        assert (item.etag, item.uid, item.time_range, item.component_name, item.serialize()) == whole


def test_a_file_rewritten_behind_our_back_is_read_again(site):
    r = new_room(site, "st")
    assert book(site, r, "20270810T080000Z", "20270810T090000Z", "s-ann", name="x.ics",
                uid="hand", summary="Before").status_code == 201
    old = etags(listing(site, r))["x.ics"]
    with open(os.path.join(folder(site, r), "x.ics"), "w", newline="") as f:
        f.write(event("20270810T080000Z", "20270810T090000Z", uid="hand", summary="After and longer"))
    new = etags(listing(site, r))["x.ics"]
    assert new != old
    answer = site.request("GET", f"/rooms/{r}/x.ics", user="s-ann")
    assert "After and longer" in answer.text and answer.headers["ETag"] == new
    assert_no_500(site)


SYNC = ('<?xml version="1.0"?><sync-collection xmlns="DAV:"><sync-token>{token}</sync-token>'
        '<sync-level>1</sync-level><prop><getetag/></prop></sync-collection>')


def sync(server, room_id, token):
    return server.request("REPORT", f"/rooms/{room_id}/", user="s-ann", data=SYNC.format(token=token),
                          headers={"Content-Type": "application/xml"})


def test_a_sync_token_sees_each_single_write_after_it(site):
    """A room's sync answers from the change journal: a change, a new booking and a removal
    after a token are each reported once, an unchanged booking not at all."""
    r = new_room(site, "st")
    for day, name in ((4, "keep"), (6, "change"), (8, "drop")):
        assert book(site, r, f"2027100{day}T080000Z", f"2027100{day}T090000Z", "s-ann",
                    name=f"{name}.ics", uid=name).status_code == 201
    first = sync(site, r, "")
    token = etree.fromstring(first.content).findtext("{DAV:}sync-token")
    assert book(site, r, "20271006T080000Z", "20271006T090000Z", "s-ann", name="change.ics", uid="change",
                summary="Changed").status_code in (201, 204)
    assert book(site, r, "20271020T080000Z", "20271020T090000Z", "s-ann", name="new.ics").status_code == 201
    assert site.request("DELETE", f"/rooms/{r}/drop.ics", user="s-ann").status_code in (200, 204)
    answer = sync(site, r, token).content
    later = etree.fromstring(answer)
    statuses = {response.findtext("{DAV:}href").rsplit("/", 1)[1]: response.findtext(".//{DAV:}status") or ""
                for response in later.iter("{DAV:}response")}
    assert sorted(statuses) == ["change.ics", "drop.ics", "new.ics"]
    assert "404" in statuses["drop.ics"]
    assert etags(answer)["change.ics"] == etags(listing(site, r))["change.ics"]
    again = etree.fromstring(sync(site, r, later.findtext("{DAV:}sync-token")).content)
    assert list(again.iter("{DAV:}response")) == []


def test_files_changed_behind_our_back_are_reported_by_sync(site):
    """CalDAV sync of a room reads the journal; what an editor or rsync did to the folder is
    journaled when the index is rebuilt, so a client's next sync sees it."""
    r = new_room(site, "st")
    for day, name in ((4, "keep"), (6, "edited"), (8, "removed")):
        assert book(site, r, f"2027110{day}T080000Z", f"2027110{day}T090000Z", "s-ann",
                    name=f"{name}.ics", uid=name).status_code == 201
    token = etree.fromstring(sync(site, r, "").content).findtext("{DAV:}sync-token")
    with open(os.path.join(folder(site, r), "edited.ics"), "w", newline="") as f:   # rewritten in place
        f.write(event("20271106T080000Z", "20271106T093000Z", uid="edited", summary="By hand"))
    os.remove(os.path.join(folder(site, r), "removed.ics"))
    later = etree.fromstring(sync(site, r, token).content)
    statuses = {response.findtext("{DAV:}href").rsplit("/", 1)[1]: response.findtext(".//{DAV:}status") or ""
                for response in later.iter("{DAV:}response")}
    assert sorted(statuses) == ["edited.ics", "removed.ics"]
    assert "404" in statuses["removed.ics"] and "200" in statuses["edited.ics"]
    assert etags(later_body := sync(site, r, "").content)["edited.ics"] == etags(listing(site, r))["edited.ics"]
    assert "keep.ics" in etags(later_body)


def test_an_import_written_in_one_batch_lists_syncs_and_reads_as_any_booking(site, tmp_path):
    r = new_room(site, "st")
    events = [event(f"202709{day:02d}T{hour:02d}0000Z", f"202709{day:02d}T{hour:02d}3000Z", uid=f"imp-{day}-{hour}")
              for day in range(1, 11) for hour in range(8, 12)]   # 40: more than one batch's threshold
    vevents = ["BEGIN:VEVENT" + e.split("BEGIN:VEVENT", 1)[1].split("END:VEVENT", 1)[0] + "END:VEVENT\r\n"
               for e in events]
    path = tmp_path / "import.ics"
    path.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + "".join(vevents) +
                    "END:VCALENDAR\r\n", newline="")
    site.cli("import", r, str(path))
    assert len(etags(listing(site, r))) == 40
    first = site.request("REPORT", f"/rooms/{r}/", user="s-ann", data=SYNC.format(token=""),
                         headers={"Content-Type": "application/xml"})
    assert first.status_code == 207 and first.text.count("<D:response>") + first.text.count("<response>") == 40
    token = etree.fromstring(first.content).findtext("{DAV:}sync-token")
    assert book(site, r, "20270920T080000Z", "20270920T090000Z", "s-ann", name="new.ics").status_code == 201
    later = site.request("REPORT", f"/rooms/{r}/", user="s-ann", data=SYNC.format(token=token),
                         headers={"Content-Type": "application/xml"})
    hrefs = [h.text for h in etree.fromstring(later.content).iter("{DAV:}href")]
    assert hrefs == [f"/rooms/{r}/new.ics"]
    one = site.request("GET", f"/rooms/{r}/imp-3-9.ics", user="s-ann")
    assert one.status_code == 200 and "UID:imp-3-9" in one.text
    assert book(site, r, "20270903T091000Z", "20270903T092000Z", "s-ann").status_code == 409


def test_a_listed_files_modification_time_is_the_one_os_stat_gives(tmp_path):
    """A listing keeps two numbers of each file's stat (storage/store.py ``FileStat``, or the
    file's stamp); the Last-Modified of a stamped item is worked out from the nanoseconds as
    the stat's own float is, to its last bit."""
    from roomcal.storage.stamps import mtime_seconds
    path = tmp_path / "x.ics"
    path.write_text("x")
    for ns in (0, 1_700_000_000_000_000_001, 1_700_000_000_123_456_789, 1_700_000_000_999_999_999,
               1_799_999_999_999_999_999):
        os.utime(path, ns=(ns, ns))
        stat = os.stat(path)
        assert mtime_seconds(stat.st_mtime_ns) == stat.st_mtime


def test_a_booking_written_and_rewritten_leaves_one_whole_file_and_no_temporary_one(site):
    """Each write goes through a temporary file of the writer's in the room's folder
    (storage/store.py ``_replace_file``): renamed into place, nothing left beside it, and
    the file's mode the one Radicale's own write gives it."""
    r = new_room(site, "wr")
    assert book(site, r, "20270810T080000Z", "20270810T090000Z", "s-ann", name="w.ics", uid="w").status_code == 201
    assert book(site, r, "20270810T100000Z", "20270810T110000Z", "s-ann", name="w.ics", uid="w").status_code == 204
    names = os.listdir(folder(site, r))
    assert not [name for name in names if name.startswith(".Radicale.tmp-")], names
    path = os.path.join(folder(site, r), "w.ics")
    with open(path, newline="") as f:
        assert f.read() == site.request("GET", f"/rooms/{r}/w.ics", user="s-ann").text
    umask = os.umask(0o022)
    os.umask(umask)   # (the server inherited the tests' umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_a_name_the_scan_takes_without_asking_radicale_is_one_radicale_takes():
    """A room's scan lets plain names through without Radicale's check (storage/store.py
    ``_PLAIN_NAME``): each is one Radicale's check lets through too."""
    import random
    import string

    from radicale import pathutils

    from roomcal.storage.store import _PLAIN_NAME
    rng = random.Random(16)
    alphabet = string.ascii_letters + string.digits + "_.@+=-~/ :\\%&;ü\x00"
    names = [".", "..", ".hidden", "a~", "a/b", "x.ics", "seed-000001.ics", "A_b=c+d@e.ics"] + [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 8))) for _ in range(20000)]
    plain = [name for name in names if _PLAIN_NAME.fullmatch(name)]
    assert {"x.ics", "seed-000001.ics", "A_b=c+d@e.ics"} <= set(plain)
    assert all(pathutils.is_safe_filesystem_path_component(name) for name in plain)

"""`roomcal migrate --to URL`: a file store's server copied into PostgreSQL, then served by a
second server on that database: the same people sign in with the same passwords and tokens,
the same bookings answer the same ETags, the rooms still refuse conflicts, the feed link
works; a second run never copies twice (storage/migrate.py)."""

import os

import psycopg
import pytest

from conftest import Server, book, event

ROOM, APPROVAL = "mroom", "mapproval"
SERIES = event("20271206T090000Z", "20271206T100000Z", uid="series-1", summary="Weekly",
               extra="RRULE:FREQ=WEEKLY;COUNT=6\nEXDATE:20271213T090000Z")
# an exception of the series: one occurrence moved
MOVED = SERIES.replace("END:VCALENDAR", "BEGIN:VEVENT\r\nUID:series-1\r\nDTSTAMP:20260101T000000Z\r\n"
                       "RECURRENCE-ID:20271220T090000Z\r\nDTSTART:20271220T140000Z\r\n"
                       "DTEND:20271220T150000Z\r\nSUMMARY:Weekly (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR")
PERSONAL_CALENDAR = """<?xml version="1.0"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:set><D:prop><D:displayname>Bob's</D:displayname></D:prop></D:set></C:mkcalendar>"""


def _count(url, sql):
    with psycopg.connect(url) as conn:
        return conn.execute(sql).fetchone()[0]


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A file-store server with a bit of everything, stopped (as before a migration)."""
    srv = Server(tmp_path_factory.mktemp("source"))
    # mail cannot go out (nothing listens there): the mails stay in the outbox, waiting
    srv.configure(("[notify]\n", "[notify]\nsmtp_server = 127.0.0.1\nsmtp_port = 9\n"
                                 "smtp_security = none\nfrom_email = rooms@example.org\n"))
    srv.add_user("alice", admin=True, email="alice@example.org")
    srv.add_user("bob", email="bob@example.org")
    srv.add_user("carol")
    srv.cli("group", "add", "team", "bob", "carol")
    srv.add_room(ROOM, "--bookers", "@team,alice")
    srv.add_room(APPROVAL, "--approval", "--managers", "alice")
    srv.start()
    srv.bob_token = srv.token("bob")
    srv.feed = srv.cli("feed", "create", ROOM).stdout.strip().splitlines()[-1]
    srv.cli("template", "set", ROOM, "-", input=srv.cli("template", "show", "--default").stdout)
    assert book(srv, ROOM, "20271201T090000Z", "20271201T100000Z", "bob", name="single.ics",
                summary="Single").status_code == 201
    assert srv.put_ics(f"/rooms/{ROOM}/series.ics", MOVED, user="carol").status_code == 201
    assert book(srv, APPROVAL, "20271202T090000Z", "20271202T100000Z", "bob", name="asked.ics").status_code == 201
    assert srv.request("MKCALENDAR", "/bob/mine/", user="bob", data=PERSONAL_CALENDAR).status_code == 201
    assert srv.put_ics("/bob/mine/own.ics", event("20271203T090000Z", "20271203T100000Z", summary="Own",
                                                       extra="ORGANIZER:mailto:bob@example.org\n"
                                                             "ATTENDEE:mailto:alice@example.org"),
                       user="bob").status_code == 201
    srv.etags = {path: srv.request("GET", path, user="alice" if "rooms" in path else "bob").headers["ETag"]
                 for path in (f"/rooms/{ROOM}/single.ics", f"/rooms/{ROOM}/series.ics",
                              f"/rooms/{APPROVAL}/asked.ics", "/bob/mine/own.ics")}
    srv.stop()
    yield srv


@pytest.fixture(scope="module")
def database():
    """A fresh database for the module (pg_database's are a test's)."""
    from support.postgres import drop, fresh_database
    url = fresh_database()
    yield url
    drop(url)


@pytest.fixture(scope="module")
def migrated(source, database, tmp_path_factory):
    pg_database = database
    result = source.cli("migrate", "--to", pg_database, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    target = Server(tmp_path_factory.mktemp("target"), store="postgresql", database=pg_database)
    target.passwords = dict(source.passwords)
    target.start()
    target.output = result.stdout
    yield target
    target.stop()


def test_the_copy_is_verified_and_says_what_clients_do(migrated):
    assert "every count and every item's ETag match" in migrated.output
    assert "3 users, 1 groups, 1 tokens" in migrated.output
    assert "1 inbox messages" in migrated.output   # alice's invitation to bob's meeting
    assert "start again from an empty sync-token" in migrated.output


def test_the_same_people_sign_in_with_the_same_passwords_and_tokens(migrated, source):
    for user in ("alice", "bob", "carol"):
        assert migrated.request("PROPFIND", f"/{user}/", user=user, headers={"Depth": "0"}).status_code == 207
    migrated.passwords["bob"], right = "wrong", migrated.passwords["bob"]
    try:
        assert migrated.request("PROPFIND", "/bob/", user="bob", headers={"Depth": "0"}).status_code == 401
    finally:
        migrated.passwords["bob"] = right
    assert migrated.request("GET", f"/rooms/{ROOM}/single.ics", token=source.bob_token).status_code == 200
    listed = migrated.cli("user", "list").stdout   # admin flags and e-mails came along
    assert any("alice" in line and "alice@example.org" in line and "admin" in line.lower()
               for line in listed.splitlines()), listed


def test_every_booking_answers_the_same_etag(migrated, source):
    for path, etag in source.etags.items():
        answer = migrated.request("GET", path, user="alice" if "rooms" in path else "bob")
        assert answer.status_code == 200, path
        assert answer.headers["ETag"] == etag, path
    assert "RECURRENCE-ID:20271220T090000Z" in migrated.request(
        "GET", f"/rooms/{ROOM}/series.ics", user="alice").text


def test_the_rooms_still_refuse_conflicts(migrated):
    # the single booking, and an occurrence of the series (its index came along)
    assert book(migrated, ROOM, "20271201T093000Z", "20271201T103000Z", "carol").status_code in (403, 409)
    assert book(migrated, ROOM, "20271227T093000Z", "20271227T094500Z", "carol").status_code in (403, 409)
    # the moved occurrence's old time and the excluded date are free
    assert book(migrated, ROOM, "20271220T090000Z", "20271220T100000Z", "carol").status_code == 201
    assert book(migrated, ROOM, "20271213T090000Z", "20271213T100000Z", "carol").status_code == 201


def test_the_feed_link_works(migrated, source):
    path = source.feed[source.feed.index("/.feeds/"):]
    answer = migrated.request("GET", path)
    assert answer.status_code == 200
    assert "SUMMARY:Single" in answer.text   # (the series begins after the feed's window)


def test_the_template_and_the_waiting_mails_came_along(migrated, source, database):
    assert migrated.cli("template", "show", ROOM).stderr == ""   # the room's own, not the default
    assert _count(database, "SELECT count(*) FROM outbox WHERE state <> 'sent'") >= 2   # pending: managers, booker
    assert _count(database, "SELECT count(*) FROM mail_templates") == 1


def test_a_second_run_refuses_and_copies_nothing(migrated, source, database):
    items = _count(database, "SELECT count(*) FROM items")
    again = source.cli("migrate", "--to", database, check=False)
    assert again.returncode == 1
    assert "finished migration" in again.stderr
    assert _count(database, "SELECT count(*) FROM items") == items
    assert _count(database, "SELECT count(*) FROM users") == 3


def test_a_database_with_other_data_is_refused(source, tmp_path_factory):
    other = Server(tmp_path_factory.mktemp("other"), store="postgresql")
    try:
        other.add_user("zed")
        refused = source.cli("migrate", "--to", other.database, check=False)
        assert refused.returncode == 1
        assert "the database is not empty" in refused.stderr
        assert _count(other.database, "SELECT count(*) FROM items") == 0
    finally:
        other.discard()


def test_a_run_that_stopped_goes_on_without_duplicates(tmp_path_factory, pg_database):
    """A room that cannot be read (its properties edited by hand) is not copied: the run fails
    for it alone; once it is fixed, the next run copies it and nothing twice.  A room holding
    overlaps (an import --allow-conflicts) is copied as it is, the overlap spared by the
    database's constraint as the PostgreSQL store's own import spares it."""
    srv = Server(tmp_path_factory.mktemp("legacy"))
    srv.add_user("dora", admin=True)
    srv.add_room("mlegacy")
    srv.add_room("mbroken")
    overlapping = tmp_path_factory.mktemp("ics") / "legacy.ics"
    first = event("20271206T090000Z", "20271206T100000Z", uid="a")
    second = event("20271206T093000Z", "20271206T103000Z", uid="b")
    overlapping.write_text(first.replace("END:VCALENDAR\r\n", "") + second[second.index("BEGIN:VEVENT"):])
    srv.cli("import", "mlegacy", str(overlapping), "--allow-conflicts")
    srv.cli("import", "mbroken", "-", input=event("20271206T090000Z", "20271206T100000Z", uid="c"))
    props = os.path.join(srv.dir, "data", "collections", "collection-root", "rooms", "mbroken", ".Radicale.props")
    with open(props) as f:
        good = f.read()
    with open(props, "w") as f:
        assert 'timezone": "UTC"' in good
        f.write(good.replace('timezone": "UTC"', 'timezone": "Nowhere/Land"'))

    dry = srv.cli("migrate", "--to", pg_database, "--dry-run")
    assert "3 items" in dry.stdout and "nothing was written" in dry.stdout
    assert _count(pg_database, "SELECT count(*) FROM items") == 0

    stopped = srv.cli("migrate", "--to", pg_database, check=False)
    assert stopped.returncode == 1
    assert "NOT copied rooms/mbroken" in stopped.stdout, stopped.stdout
    assert "1 of its bookings overlap earlier ones" in stopped.stdout
    assert _count(pg_database, "SELECT count(*) FROM items WHERE collection = 'rooms/mlegacy'") == 2
    assert _count(pg_database, "SELECT count(*) FROM occupancy WHERE room = 'rooms/mlegacy' "
                               "AND NOT one_at_a_time") == 1
    assert _count(pg_database, "SELECT count(*) FROM items WHERE collection = 'rooms/mbroken'") == 0

    with open(props, "w") as f:   # an admin fixes it
        f.write(good)
    resumed = srv.cli("migrate", "--to", pg_database, check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "going on with the migration" in resumed.stdout
    assert "every count and every item's ETag match" in resumed.stdout
    assert _count(pg_database, "SELECT count(*) FROM items") == 3
    assert _count(pg_database, "SELECT count(*) FROM users") == 1
    assert _count(pg_database, "SELECT count(*) FROM occupancy") == 3

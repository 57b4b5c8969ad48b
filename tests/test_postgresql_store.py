"""The PostgreSQL store (issue 15): several hosts on one database, the database's own refusal
of a double booking, and a database that goes away answered with 503."""

import base64
import concurrent.futures
import threading

import psycopg
import pytest

from conftest import Server, book, event


@pytest.fixture(scope="module")
def hosts(tmp_path_factory):
    """Two `roomcal serve` processes, each with its own folder and config, on one database."""
    first = Server(tmp_path_factory.mktemp("host-a"), store="postgresql", workers=2)
    second = Server(tmp_path_factory.mktemp("host-b"), store="postgresql", workers=2, database=first.database)
    first.add_user("pg-admin", admin=True)
    first.add_user("pg-alice")
    first.add_user("pg-bob")
    second.passwords.update(first.passwords)
    first.start()
    second.start()
    yield first, second
    second.discard()
    first.discard()


def test_users_rooms_and_bookings_made_on_one_host_hold_on_the_other(hosts):
    a, b = hosts
    a.add_room("pg-shared", "--capacity", "4")
    assert b.request("GET", "/api/rooms/pg-shared", user="pg-bob").status_code == 200
    assert book(a, "pg-shared", "20270301T090000Z", "20270301T100000Z", "pg-alice").status_code == 201
    refused = book(b, "pg-shared", "20270301T093000Z", "20270301T103000Z", "pg-bob")
    assert refused.status_code == 409 and "already booked" in refused.text
    token = a.token("pg-bob")
    assert b.request("GET", "/api/rooms/pg-shared", token=token).status_code == 200


def test_the_same_slot_asked_of_both_hosts_at_once_is_booked_once(hosts):
    a, b = hosts
    a.add_room("pg-race")

    def attempt(n):
        host = (a, b)[n % 2]
        ics = event("20270302T090000Z", "20270302T100000Z", uid=f"race-{n}")
        return host.put_ics(f"/rooms/pg-race/race-{n}.ics", ics, user="pg-alice").status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(attempt, range(24)))
    assert statuses.count(201) == 1 and statuses.count(409) == 23, statuses
    with psycopg.connect(a.database) as db:
        assert db.execute("SELECT count(*) FROM occupancy WHERE room = 'rooms/pg-race'").fetchone()[0] == 1


def test_the_database_refuses_a_double_booking_the_core_did_not_see(hosts):
    a, _ = hosts
    a.add_room("pg-last-line")
    assert book(a, "pg-last-line", "20270303T090000Z", "20270303T100000Z", "pg-alice").status_code == 201
    with psycopg.connect(a.database) as db:
        href = db.execute("SELECT href FROM occupancy WHERE room = 'rooms/pg-last-line'").fetchone()[0]
        with pytest.raises(psycopg.errors.ExclusionViolation):
            db.execute("INSERT INTO occupancy(room, href, during, one_at_a_time) VALUES "
                       "('rooms/pg-last-line', %s, tstzrange('2027-03-03 09:30Z', '2027-03-03 10:30Z'), true)",
                       (href,))


def test_a_booking_the_database_refuses_is_a_409_that_says_why_and_leaves_nothing(hosts):
    """The constraint's verdict comes with the save step's last round trip: it is the
    booking core's refusal, and the whole request's writes are undone."""
    a, _ = hosts
    a.add_room("pg-verdict")
    with psycopg.connect(a.database) as db:   # a span the core does not see: its booking row says 2030
        db.execute("INSERT INTO bookings(room, href, uid, start, \"end\", recurring, blocking) VALUES "
                   "('rooms/pg-verdict', 'ghost.ics', 'ghost', 1893456000, 1893459600, 0, 1)")
        db.execute("INSERT INTO occupancy(room, href, during, one_at_a_time) VALUES ('rooms/pg-verdict', "
                   "'ghost.ics', tstzrange('2027-03-05 09:00Z', '2027-03-05 10:00Z'), true)")
        journal = db.execute("SELECT count(*) FROM sync_changes").fetchone()[0]
    answer = a.put_ics("/rooms/pg-verdict/late.ics", event("20270305T093000Z", "20270305T103000Z"), user="pg-alice")
    assert answer.status_code == 409, answer.text
    assert "already booked at that time: another booking was saved at the same moment" in answer.text
    assert a.request("GET", "/rooms/pg-verdict/late.ics", user="pg-alice").status_code == 404
    with psycopg.connect(a.database) as db:
        assert db.execute("SELECT count(*) FROM sync_changes").fetchone()[0] == journal
        assert db.execute("SELECT href FROM bookings WHERE room = 'rooms/pg-verdict'").fetchall() == [("ghost.ics",)]
    # and a free time is booked as ever
    assert book(a, "pg-verdict", "20270305T110000Z", "20270305T120000Z", "pg-alice").status_code == 201


def test_a_transaction_postgresql_rolls_back_is_a_refusal_that_says_so(hosts, caplog):
    """A deadlock (none of our writes should make one: they lock in one order) is a 503 with
    Retry-After that says what happened, and the log does not call the database down."""
    from roomcal.storage.errors import StoreUnavailable
    from roomcal.storage.postgres.database import PostgresDatabase
    a, _ = hosts
    db = PostgresDatabase(a.database)
    both = threading.Barrier(2)
    refused = []

    def write(first, second):
        try:
            with db.request("w"):
                db.execute("SELECT pg_advisory_xact_lock(?)", (first,))
                both.wait(10)
                db.execute("SELECT pg_advisory_xact_lock(?)", (second,))
        except StoreUnavailable as e:
            refused.append(e)

    try:
        threads = [threading.Thread(target=write, args=pair) for pair in ((7001, 7002), (7002, 7001))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
    finally:
        db.close()
    assert len(refused) == 1 and "got in the way of this one" in refused[0].message
    assert refused[0].caldav_status == 503 and refused[0].retry_after
    assert "rolled a transaction back" in caplog.text and "unavailable" not in caplog.text


def test_a_database_that_is_gone_is_503_with_retry_after_never_500(tmp_path):
    from support.postgres import drop
    srv = Server(tmp_path, store="postgresql")
    srv.add_user("pg-carol")
    srv.start()
    try:
        assert srv.request("GET", "/api/rooms", user="pg-carol").status_code == 200
        drop(srv.database)   # the database goes away under a running server
        for path in ("/api/rooms", "/pg-carol/"):
            answer = srv.request("GET" if path.startswith("/api") else "PROPFIND", path, user="pg-carol")
            assert answer.status_code == 503, (path, answer.status_code, answer.text[:300])
            assert answer.headers.get("Retry-After")
    finally:
        srv.stop()


def test_an_open_series_stays_covered_as_time_passes(tmp_path):
    """Its occupancy reaches the room's horizon when written; the server's sweep rolls it on."""
    import datetime

    from radicale import storage as radicale_storage

    from roomcal.server import config as roomcal_config
    srv = Server(tmp_path, store="postgresql")
    try:
        srv.add_user("pg-dan", admin=True)
        srv.configure(("roomcal_horizon = P2Y", "roomcal_horizon = P14D"))   # how far open series reach
        srv.add_room("pg-open")
        start = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=1)).strftime("%Y%m%dT090000Z")
        end = start.replace("T09", "T10")
        text = event(start, end, uid="daily", extra="RRULE:FREQ=DAILY\r\n")
        srv.cli("import", "pg-open", "-", input=text)
        with psycopg.connect(srv.database) as db:
            def reach():
                return db.execute("SELECT count(*), max(upper(during)) FROM occupancy "
                                  "WHERE room = 'rooms/pg-open'").fetchone()
            count, last = reach()
            assert 13 <= count <= 15   # the next 14 days
            storage = radicale_storage.load(roomcal_config.load(srv.config))
            in_ten_days = int(datetime.datetime.now().timestamp()) + 10 * 86400
            assert storage.roll_forward(in_ten_days) == 1
            later_count, later_last = reach()
            assert later_count >= count + 9 and later_last > last + datetime.timedelta(days=9)
            assert storage.roll_forward(in_ten_days) == 0   # nothing behind any more
    finally:
        srv.discard()


def test_an_import_leaves_the_planner_statistics_of_what_it_wrote(hosts, tmp_path):
    """A room imported a minute ago is not planned as if it were empty: its overlap queries
    use the indexes at once (before autovacuum gets to the tables)."""
    a, _ = hosts
    a.add_room("pg-bulk")
    events = "".join(
        event(f"202801{1 + n // 40:02d}T{8 + n % 10:02d}{n // 10 % 4 * 15:02d}00Z",
              f"202801{1 + n // 40:02d}T{8 + n % 10:02d}{n // 10 % 4 * 15 + 10:02d}00Z", uid=f"bulk-{n}")
        .split("BEGIN:VEVENT", 1)[1].split("END:VEVENT", 1)[0].join(("BEGIN:VEVENT", "END:VEVENT\r\n"))
        for n in range(1000))
    path = tmp_path / "bulk.ics"
    path.write_text("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\n" + events + "END:VCALENDAR\r\n",
                    newline="")
    a.cli("import", "pg-bulk", str(path))
    with psycopg.connect(a.database) as db:
        analyzed = dict(db.execute("SELECT relname, last_analyze IS NOT NULL FROM pg_stat_user_tables "
                                   "WHERE relname IN ('items', 'bookings', 'occupancy')").fetchall())
        plan = "\n".join(row[0] for row in db.execute(
            "EXPLAIN SELECT max(\"end\" - start) FROM bookings WHERE room = 'rooms/pg-bulk' AND recurring = 0"))
    assert analyzed == {"items": True, "bookings": True, "occupancy": True}
    assert "Limit" in plan, plan   # the longest booking read from the end of its index, not all 1 000 rows


def test_a_listing_of_etags_leaves_the_texts_in_the_database_until_one_is_asked_for(hosts):
    """A calendar app's first look at a room of 100 000 read every text (80 MB) for their
    ETags alone (server/etag_listing.py): listed so, an item reads its text when asked."""
    from radicale import storage as radicale_storage

    from roomcal.server import config as roomcal_config
    from roomcal.storage import context
    a, _ = hosts
    a.add_room("pg-etags")
    assert book(a, "pg-etags", "20270304T090000Z", "20270304T100000Z", "pg-alice", name="e.ics").status_code == 201
    stored = a.request("GET", "/rooms/pg-etags/e.ics", user="pg-alice")
    storage = radicale_storage.load(roomcal_config.load(a.config))
    with context.request(context.Actor.command_line()), storage.acquire_lock("r"):
        with context.listing_etags_only():
            collection, item = storage.discover("/rooms/pg-etags/", "1")
            (_, multi), = collection.get_multi(["e.ics"])
        assert item._text is None and multi._text is None   # what the listing kept of them
        assert item.etag == multi.etag == stored.headers["ETag"]
        assert item.serialize() == multi.serialize() == stored.text
        assert item.vobject_item.vevent.uid.value == stored.text.split("UID:")[1].split("\r\n")[0]
        (_, whole), = collection.get_multi(["e.ics"])   # (listed with all it knows)
        assert (item.uid, item.time_range) == (whole.uid, whole.time_range)   # (parsed when asked)


def test_a_calendars_etag_is_radicales_hashed_by_the_database(hosts):
    """The collection's ETag (the PROPFIND's, beside its items) is hashed by the database
    (one row, not one for each item): the same as Radicale's own over the same items, for
    an empty calendar, names that are not ASCII, and after its properties change."""
    from radicale import storage as radicale_storage

    from roomcal.server import config as roomcal_config
    from roomcal.storage import context
    a, _ = hosts
    a.add_room("pg-ctag")
    storage = radicale_storage.load(roomcal_config.load(a.config))

    def both():
        with context.request(context.Actor.command_line()), storage.acquire_lock("r"):
            collection, = storage.discover("/rooms/pg-ctag/")
            return collection.etag, radicale_storage.BaseCollection.etag.fget(collection)

    empty, radicales = both()
    assert empty == radicales
    for n, name in enumerate(("b.ics", "ä-ü.ics", "a.ics")):
        assert book(a, "pg-ctag", f"2027030{n + 4}T090000Z", f"2027030{n + 4}T100000Z", "pg-alice",
                    name=name).status_code == 201
    listed, radicales = both()
    assert listed == radicales != empty
    assert a.request("PROPPATCH", "/rooms/pg-ctag/", user="pg-admin", headers={"Content-Type": "application/xml"},
                     data='<propertyupdate xmlns="DAV:"><set><prop><displayname>Renamed</displayname></prop>'
                          '</set></propertyupdate>').status_code == 207
    renamed, radicales = both()
    assert renamed == radicales != listed


def test_a_read_sent_ahead_goes_with_the_next_statement_and_answers_that_request_once(hosts):
    """The front names a request's room before signing in: its row is read in the sign-in's
    round trip (storage/postgres/database.py ``send_ahead``), and answers once, for that
    request only (``drop_ahead`` at its end)."""
    from roomcal.storage.postgres.database import PostgresDatabase
    a, _ = hosts
    db = PostgresDatabase(a.database)
    read = "SELECT v FROM ahead_probe"
    with psycopg.connect(a.database, autocommit=True) as other:
        other.execute("CREATE TABLE ahead_probe (v int)")
        try:
            other.execute("INSERT INTO ahead_probe VALUES (1)")
            db.send_ahead(read)
            assert db.execute("SELECT 41 + 1").fetchone() == (42,)   # the read went with this
            assert db.execute("SELECT ? = ANY(?)", (1, [1, 2])).fetchone() == (True,)   # (a list)
            other.execute("UPDATE ahead_probe SET v = 2")
            assert db.execute(read).fetchone() == (1,)   # answered from that round trip...
            assert db.execute(read).fetchone() == (2,)   # ...once
            db.send_ahead(read)
            db.execute("SELECT 1")
            other.execute("UPDATE ahead_probe SET v = 3")
            db.drop_ahead()   # the request ended without asking
            assert db.execute(read).fetchone() == (3,)
            db.send_ahead(read)
            db.execute("SELECT 1")
            with db.transaction():   # a write of the request's own, after the answer came
                db.execute("SELECT 1")
            other.execute("UPDATE ahead_probe SET v = 4")
            assert db.execute(read).fetchone() == (4,)   # read again
            db.drop_ahead()
            db.send_ahead(read)   # asked before anything else went: read as usual
            assert db.execute(read).fetchone() == (4,)
            other.execute("UPDATE ahead_probe SET v = 5")
            assert db.execute(read).fetchone() == (5,)
        finally:
            other.execute("DROP TABLE ahead_probe")
            db.close()


def test_a_room_removed_through_one_host_is_gone_at_the_others_next_request(hosts):
    """A room read with a sign-in (even one refused, which never asked for it) is not
    taken into the next request."""
    a, b = hosts
    a.add_user("pg-carol")
    a.add_room("pg-going")
    assert a.request("GET", "/rooms/pg-going/", user="pg-carol").status_code in (200, 207)
    wrong = {"Authorization": "Basic " + base64.b64encode(b"pg-carol:wrong").decode(), "Depth": "0"}
    for _ in range(4):   # threads of the worker, as far as the test can reach them
        assert a.request("PROPFIND", "/rooms/pg-going/", headers=wrong).status_code == 401
    assert b.cli("room", "remove", "pg-going").returncode == 0
    for _ in range(8):
        assert a.request("PROPFIND", "/rooms/pg-going/", user="pg-carol",
                         headers={"Depth": "0"}).status_code == 404

#!/usr/bin/env python3
"""roomcal at scale (issue 16): one table at N bookings in one room, roomcal beside stock Radicale.

One run at one N (``--n 10000``).  The room is seeded once: roomcal through ``roomcal import``
(plus a second room of 100 bookings, to see whether JSON sync depends on N), stock Radicale
3.9 as one ``.ics`` file per event (bench_booking.py's setups); with ``--postgresql`` roomcal
also on PostgreSQL (the same import into a fresh database on the machine's server).  These
"pristine" stores are never served; every row that needs a store never served before works on
a ``shutil.copytree`` of them (PostgreSQL: a copy of the host folder and a database made from
the pristine one, ``CREATE DATABASE … TEMPLATE``).  Rows, each a median, stock's figure beside
roomcal's:

* the first Depth-1 PROPFIND (getetag, getcontenttype) on a store never served before (a
  fresh copy each time); the same after a restart; the first 1-day REPORT after a restart, and
  after ``.Radicale.cache`` was deleted (+ restart; not on PostgreSQL, which keeps none);
* new PUT of a booking into a free half-hour, update PUT of it; JSON sync of one change
  (stock: sync-collection with the previous token); JSON listing of one week (stock: a 7-day
  calendar-query); availability of the room for a month; the room finder of ``GET /api/rooms``
  over 100 rooms (its own store: ``--finder`` for 1 000 bookings a room, else a small size;
  on PostgreSQL the same store through ``roomcal migrate``);
* ``roomcal import`` of the N events (stock: writing the files), and whether a refused import
  (N events, the last one clashing) leaves the room as it was;
* booking throughput: 32 clients, 20 rooms, ``roomcal serve --workers 4`` against stock's own
  server, new bookings into free slots for ``--duration`` seconds;
* peak RSS (VmHWM) of the roomcal workers and of stock's process serving the N room, read
  before each stop during the PROPFIND/REPORT rows.

``--no-stock`` leaves stock Radicale out (at 100 000 its cold rows take tens of minutes);
``--compare-with`` the JSON of an earlier ``--json`` run (at 10 000) adds each row's growth.

All servers listen on loopback ports chosen at start, all data lives in a temporary folder
(``--keep`` keeps it, and the databases); every server is stopped and every database dropped
on exit, Ctrl-C and SIGTERM.

    .venv/bin/python bench/bench_scale.py [--n 10000] [--quick] [--postgresql] [--no-stock]
        [--finder] [--json PATH] [--compare-with PATH] [--keep]
"""

import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import psycopg
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_booking as bb  # noqa: E402  (servers, seeding, requests: shared with the booking bench)
import stress_postgresql as sp  # noqa: E402  (the server's admin URL, dropping a database)

SMALL_ROOM, SMALL_N = "small", 100       # JSON sync in a small room of the same store
DAY = 86400
XML = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
ICS = {"Content-Type": "text/calendar; charset=utf-8"}
JSON = {"Accept": "application/json"}
ADMIN = ("admin", "admin-pw")            # bench_booking.setup_roomcal's admin
LOAD_LIMIT = 2.0                         # figures under a higher load average are unreliable
SIDES = ("roomcal", "postgresql", "stock")   # the table's columns, in order
ROOMCAL_SIDES = ("roomcal", "postgresql")
LABELS = {"roomcal": "roomcal", "postgresql": "roomcal on PostgreSQL", "stock": "stock"}
GROWTH_LIMIT = 1.5                       # at 100 000: "the rest within 1.5× of the 10k figure"

PROPFIND_ETAGS = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:getcontenttype/></D:prop></D:propfind>"""

SYNC_BODY = """<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>
<D:prop><D:getetag/></D:prop></D:sync-collection>"""

# the phases whose peak RSS the table shows: the PROPFIND/REPORT rows (first_requests)
FIRST_PHASES = ("PROPFIND never served", "PROPFIND after restart", "REPORT after restart",
                "REPORT after .Radicale.cache deleted")
FULL = {"cold": 3, "put": 30, "warmup_put": 5, "sync": 20, "week": 20, "month": 20, "finder": 10,
        "duration": 20.0}
QUICK = {"cold": 1, "put": 5, "warmup_put": 2, "sync": 4, "week": 4, "month": 4, "finder": 3,
         "duration": 5.0}


def log(message):
    print(message, file=sys.stderr, flush=True)


def median_ms(values):
    return statistics.median(values) * 1000 if values else None


def day_string(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d")


def iso_utc(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- processes ----------------------------------------------------------------------------------
def children(pid: int):
    """The processes whose parent is ``pid`` (gunicorn's workers under its arbiter)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def vm_hwm_kb(pid: int):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class Servers:
    """Every server this run starts, so that all are stopped on the way out; ``stop`` first
    notes the peak RSS of the process(es) serving (roomcal: each gunicorn worker), under the
    server's column (``server.side``, set by ``server_for``; else its name)."""

    def __init__(self):
        self.running = []
        self.peaks = {}  # column -> [(phase, kB) read before a stop]
        self.peaks_after_warmup = {}

    def start(self, server):
        self.running.append(server)
        return server.start()

    def peak_kb(self, server):
        pid = server.process.pid
        pids = children(pid) if server.name == "roomcal" else [pid]
        values = [v for v in map(vm_hwm_kb, pids) if v is not None]
        return max(values) if values else None

    def stop(self, server, phase=None):
        if phase is not None and server.process is not None:
            kb = self.peak_kb(server)
            if kb is not None:
                self.peaks.setdefault(getattr(server, "side", server.name), []).append((phase, kb))
        server.stop()
        if server in self.running:
            self.running.remove(server)

    def stop_all(self):
        for server in list(self.running):
            self.stop(server)


class Databases:
    """The PostgreSQL databases this run makes, each with a name of its own; ``drop_all`` on the
    way out drops what is left (WITH (FORCE): connections of a server killed half-way too)."""

    def __init__(self):
        self.names = []

    def create(self, template=None):
        """A new database, empty or a copy of ``template`` (which no one may be connected to:
        the pristine one is never served)."""
        name = f"roomcal_scale_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        self.names.append(name)
        for attempt in range(5):
            try:
                with psycopg.connect(sp.ADMIN_URL, autocommit=True) as conn:
                    conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
                return name
            except psycopg.errors.ObjectInUse:   # a command's backend still closing, autovacuum
                if attempt == 4:
                    raise
                time.sleep(1)

    def drop(self, name):
        sp.drop_database(name)
        self.names.remove(name)

    def drop_all(self):
        for name in list(self.names):
            self.drop(name)


# -- the seeded stores --------------------------------------------------------------------------
def roomcal_cli(directory):
    return bb.ROOMCAL + ["--config", os.path.join(directory, "radicale.conf")]


def database_of(directory):
    """The database a roomcal host folder's config names (None: the file store)."""
    with open(os.path.join(directory, "radicale.conf")) as f:
        found = re.search(r"^roomcal_database = (\S+)$", f.read(), re.M)
    return found.group(1).rpartition("/")[2] if found else None


def seed(workdir, n, base, sides, databases):
    """The pristine stores (never served) and the seeding times."""
    events = bb.seed_events(n, base)
    seeded = {"events": events, "seed s": {}}
    for side in sides:
        directory = os.path.join(workdir, "pristine", side)
        seeded[side] = directory
        if side == "stock":
            seeded["seed s"][side] = bb.setup_stock(directory, events, log)["seed_seconds"]
            continue
        database = None
        if side == "postgresql":
            seeded["database"] = databases.create()
            database = sp.db_url(seeded["database"])
        seeded["seed s"][side] = bb.setup_roomcal(directory, events, lambda m: log(f"{m} ({LABELS[side]})"),
                                                  database=database)["seed_seconds"]
        cli = roomcal_cli(directory)
        bb.run(cli + ["room", "add", SMALL_ROOM, "--name", "Small room", "--timezone", "Europe/Berlin"],
               cwd=bb.REPO)
        small = os.path.join(directory, "small.ics")
        with open(small, "w", newline="") as f:
            f.write(bb.vcalendar(*(bb.vevent(uid, s, e, f"Seed {uid}")
                                   for uid, s, e in bb.seed_events(SMALL_N, base))))
        bb.run(cli + ["import", SMALL_ROOM, small], cwd=bb.REPO)
        os.remove(small)
        os.remove(os.path.join(directory, "seed.ics"))
    return seeded


def fresh_copy(pristine, target):
    """A copy of a never-served store (copy2 keeps mtimes: roomcal's index stays valid).
    Stock's config names its folder by absolute path: the copy's must name the copy, or
    every "fresh" copy would serve (and fill the cache of) the pristine folder."""
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(pristine, target, symlinks=True)
    config = os.path.join(target, "radicale.conf")
    with open(config) as f:
        text = f.read()
    with open(config, "w") as f:
        f.write(text.replace(os.path.abspath(pristine), os.path.abspath(target)))
    return target


def fresh_store(seeded, side, target, databases):
    """``side``'s store never served, in ``target``: a copy of the pristine folder; on
    PostgreSQL with a database made from the pristine one, named in the copy's config (the
    database an earlier copy in ``target`` named is dropped)."""
    if side == "postgresql" and os.path.isdir(target):
        databases.drop(database_of(target))
    fresh_copy(seeded[side], target)
    if side == "postgresql":
        name = databases.create(template=seeded["database"])
        config = os.path.join(target, "radicale.conf")
        with open(config) as f:
            text = f.read()
        with open(config, "w") as f:
            f.write(text.replace(sp.db_url(seeded["database"]), sp.db_url(name)))
    return target


def roomcal_server(directory, workers=1):
    return bb.roomcal_server(roomcal_cli(directory), workers, os.path.join(directory, "serve.log"),
                             new_session=True)


def stock_server(directory):
    return bb.ServerProcess("stock", [bb.PYTHON, "-m", "radicale", "--config",
                                      os.path.join(directory, "radicale.conf"),
                                      "--server-hosts", "127.0.0.1:{port}"],
                            directory, os.path.join(directory, "radicale.log"))


def server_for(side, directory, workers=1):
    server = stock_server(directory) if side == "stock" else roomcal_server(directory, workers)
    server.side = side   # the column its peak RSS goes to
    return server


def room_folder(directory, name, room=bb.ROOM):
    root = os.path.join(directory, "data", "collections") if name == "roomcal" else \
        os.path.join(directory, "collections")
    return os.path.join(root, "collection-root", "rooms", room)


def room_state(side, directory):
    """(items, fingerprint) of the N room: its files (file store) or its rows (PostgreSQL)."""
    if side == "postgresql":
        with psycopg.connect(sp.db_url(database_of(directory))) as conn:
            return tuple(conn.execute(
                "SELECT count(*), md5(string_agg(href || ' ' || etag, ',' ORDER BY href)) FROM items "
                "WHERE collection = %s", (f"rooms/{bb.ROOM}",)).fetchone())
    names = sorted(os.listdir(room_folder(directory, "roomcal")))
    return sum(1 for name in names if name.endswith(".ics")), names


# -- rows 1-3: first requests ---------------------------------------------------------------------
def first_requests(seeded, sides, reps, workdir, servers, databases, base, days, rng, results):
    """Never served, after a restart, first REPORT after a restart and after the cache went
    (PostgreSQL keeps no .Radicale.cache: not there)."""
    work = {}
    for side in sides:
        rows = results[side]
        for key in ("propfind never served", "first sync", "propfind after restart", "report after restart") + \
                (() if side == "postgresql" else ("report after cache deleted",)):
            rows[key] = []
        for rep in range(reps["cold"]):
            directory = fresh_store(seeded, side, os.path.join(workdir, f"run-{side}"), databases)
            server = servers.start(server_for(side, directory))
            seconds, response = server.request("PROPFIND", bb.ROOM_PATH, PROPFIND_ETAGS, XML, expect=(207,))
            rows["propfind never served"].append(seconds)
            log(f"  {LABELS[side]}: first PROPFIND, never served: {seconds * 1000:.0f} ms "
                f"({response.text.count('response>') // 2} responses)")
            # what Thunderbird and DAVx5 send first: a sync-collection without a token
            seconds, response = server.request("REPORT", bb.ROOM_PATH, SYNC_BODY.format(token=""), XML,
                                               expect=(207,))
            rows["first sync"].append(seconds)
            log(f"  {LABELS[side]}: then its first sync-collection: {seconds * 1000:.0f} ms "
                f"({response.text.count('response>') // 2} responses)")
            servers.stop(server, FIRST_PHASES[0])
        work[side] = directory
        for rep in range(reps["cold"]):
            server = servers.start(server_for(side, directory))
            rows["propfind after restart"].append(
                server.request("PROPFIND", bb.ROOM_PATH, PROPFIND_ETAGS, XML, expect=(207,))[0])
            servers.stop(server, FIRST_PHASES[1])
        for rep in range(reps["cold"]):
            server = servers.start(server_for(side, directory))
            day = base + rng.randrange(days) * DAY
            rows["report after restart"].append(
                server.request("REPORT", bb.ROOM_PATH, bb.report_body(day), XML, expect=(207,))[0])
            servers.stop(server, FIRST_PHASES[2])
        if side == "postgresql":
            continue
        for rep in range(reps["cold"]):
            bb.drop_caches(directory)
            server = servers.start(server_for(side, directory))
            day = base + rng.randrange(days) * DAY
            rows["report after cache deleted"].append(
                server.request("REPORT", bb.ROOM_PATH, bb.report_body(day), XML, expect=(207,))[0])
            servers.stop(server, FIRST_PHASES[3])
    return work


# -- rows 4-7: warm requests -----------------------------------------------------------------------
def warm_requests(work, sides, reps, servers, n, base, days, rng, results):
    running = {side: servers.start(server_for(side, work[side])) for side in sides}
    ours = {side: running[side] for side in ROOMCAL_SIDES if side in running}
    stock = running.get("stock")
    try:
        for server in running.values():   # every thread's connections and caches warm
            for i in range(10):
                server.request("REPORT", bb.ROOM_PATH, bb.report_body(base + (i % days) * DAY), XML,
                               expect=(207,))
        servers.peaks_after_warmup = {side: servers.peak_kb(s) for side, s in running.items()}
        # new PUT of bookings into free half-hours, then each changed (update PUT); the servers
        # take turns, the first reps["warmup_put"] of each are not timed
        places = rng.sample(range(3 * n), reps["put"] + reps["warmup_put"])
        items = []
        for place in places:
            start = base + (place // 3) * bb.SLOT + bb.LENGTH + (place % 3) * bb.NEW
            items.append((f"scale-{place:07d}", start, start + bb.NEW))
        for side in running:
            results[side]["new PUT"], results[side]["update PUT"] = [], []
        for i, (uid, s, e) in enumerate(items):
            body = bb.vcalendar(bb.vevent(uid, s, e, "New booking"))
            for side, server in running.items():
                seconds, _ = server.request("PUT", f"{bb.ROOM_PATH}{uid}.ics", body, {**ICS, "If-None-Match": "*"},
                                            expect=(201,))
                if i >= reps["warmup_put"]:
                    results[side]["new PUT"].append(seconds)
        for i, (uid, s, e) in enumerate(items):
            body = bb.vcalendar(bb.vevent(uid, s, e, f"Changed {i}"))
            for side, server in running.items():
                seconds, _ = server.request("PUT", f"{bb.ROOM_PATH}{uid}.ics", body, ICS, expect=(204, 201))
                if i >= reps["warmup_put"]:
                    results[side]["update PUT"].append(seconds)
        mine = items[:reps["warmup_put"]]   # bookings the bench user may change, for the syncs
        # JSON sync of one change (roomcal), sync-collection REPORT with the last token (stock)
        small_uid, s, e = "scale-small", base + bb.LENGTH, base + bb.LENGTH + bb.NEW
        for side, server in ours.items():
            results[side]["sync one change"] = json_sync(server, bb.ROOM_PATH, mine, reps["sync"])
            server.request("PUT", f"/rooms/{SMALL_ROOM}/{small_uid}.ics",
                           bb.vcalendar(bb.vevent(small_uid, s, e, "New booking")), {**ICS, "If-None-Match": "*"},
                           expect=(201,))
            results[side]["sync one change, small room"] = json_sync(
                server, f"/rooms/{SMALL_ROOM}/", [(small_uid, s, e)], reps["sync"])
            results[side]["caldav sync one change"] = stock_sync(server, mine, reps["sync"])
        if stock:
            results["stock"]["sync one change"] = stock_sync(stock, mine, reps["sync"])
            results["stock"]["caldav sync one change"] = results["stock"]["sync one change"]
        # one week: JSON listing (roomcal), a 7-day calendar-query (stock)
        for side in running:
            results[side]["week"] = []
        counts = []
        for _ in range(reps["week"]):
            day = base + rng.randrange(max(1, days - 7)) * DAY
            count = []
            for side, server in ours.items():
                seconds, response = server.request(
                    "GET", f"/api/rooms/{bb.ROOM}/bookings?from={day_string(day)}&to={day_string(day + 6 * DAY)}",
                    expect=(200,))
                results[side]["week"].append(seconds)
                count.append(len(response.json()["bookings"]))
            if stock:
                week = bb.REPORT_BODY.format(start=bb.ical_time(day), end=bb.ical_time(day + 7 * DAY))
                seconds, report = stock.request("REPORT", bb.ROOM_PATH, week, XML, expect=(207,))
                results["stock"]["week"].append(seconds)
                count.append(report.text.count("BEGIN:VEVENT"))
            counts.append(tuple(count))
        log(f"  one week, bookings listed ({', '.join(LABELS[side] for side in running)}): {counts[:4]}")
        # a month of availability (roomcal only): busy and free; and the bookable half-hours
        for key, extra in (("month availability", ""), ("month slots", "&duration=PT30M")):
            for side in ours:
                results[side][key] = []
            for _ in range(reps["month"]):
                day = base + rng.randrange(max(1, days - 30)) * DAY
                for side, server in ours.items():
                    seconds, response = server.request(
                        "GET", f"/api/rooms/{bb.ROOM}/availability?start={day_string(day)}"
                        f"&end={day_string(day + 29 * DAY)}{extra}", expect=(200,))
                    results[side][key].append(seconds)
            answer = response.json()
            log(f"  a month's availability{extra}: {len(answer['busy'])} busy, {len(answer['free'])} free, "
                f"{len(answer.get('slots', []))} slots")
    finally:
        for server in running.values():
            servers.stop(server, "after the warm rows (JSON sync listing included)")


def json_sync(server, collection, bookings, reps):
    """Medians of GET ?sync-token=T (JSON) right after one booking changed."""
    token, pages = "", 0
    while True:   # the initial listing, in pages (bounded answers also at 100 000)
        page = server.request("GET", f"{collection}?sync-token={token}&nresults=1000&props[]=getetag",
                              headers=JSON, expect=(200,))[1].json()
        token, pages = page["sync-token"], pages + 1
        if not page.get("more-results"):
            break
    times = []
    for rep in range(reps):
        uid, s, e = bookings[rep % len(bookings)]
        server.request("PUT", f"{collection}{uid}.ics", bb.vcalendar(bb.vevent(uid, s, e, f"Synced {rep}")),
                       ICS, expect=(204, 201))
        seconds, response = server.request("GET", f"{collection}?sync-token={token}", headers=JSON,
                                           expect=(200,))
        delta = response.json()
        if list(delta["responses"]) != [f"{collection}{uid}.ics"]:
            raise RuntimeError(f"JSON sync of {collection} answered {list(delta['responses'])[:5]}, "
                               f"not the one change {uid}")
        token = delta["sync-token"]
        times.append(seconds)
    return times


def stock_sync(server, bookings, reps):
    """Medians of a sync-collection REPORT with the previous token right after one change (any server)."""
    token = re.search(r"<sync-token>([^<]+)</sync-token>", server.request(
        "REPORT", bb.ROOM_PATH, SYNC_BODY.format(token=""), XML, expect=(207,))[1].text).group(1)
    times = []
    for rep in range(reps):
        uid, s, e = bookings[rep % len(bookings)]
        server.request("PUT", f"{bb.ROOM_PATH}{uid}.ics", bb.vcalendar(bb.vevent(uid, s, e, f"Synced {rep}")),
                       ICS, expect=(204, 201))
        seconds, response = server.request("REPORT", bb.ROOM_PATH, SYNC_BODY.format(token=token), XML,
                                           expect=(207,))
        if response.text.count("response>") // 2 != 1:
            raise RuntimeError(f"{server.name}'s sync-collection answered {response.text[:300]}")
        token = re.search(r"<sync-token>([^<]+)</sync-token>", response.text).group(1)
        times.append(seconds)
    return times


# -- import: all or nothing ------------------------------------------------------------------------------
def refused_import(seeded, side, workdir, n, base, databases):
    """N new events into the free half-hours of the N room, the last one clashing with the first
    stored booking: the import must fail and leave the room as it was (its files; on
    PostgreSQL its rows)."""
    directory = fresh_store(seeded, side, os.path.join(workdir, f"refused-import-{side}"), databases)
    before = room_state(side, directory)
    events = [bb.vevent(f"clash-{i:07d}", base + i * bb.SLOT + bb.LENGTH, base + (i + 1) * bb.SLOT, "Import")
              for i in range(n - 1)]
    events.append(bb.vevent("clash-last", base, base + bb.LENGTH, "Clashes with the first booking"))
    path = os.path.join(directory, "clash.ics")
    with open(path, "w", newline="") as f:
        f.write(bb.vcalendar(*events))
    t0 = time.perf_counter()
    result = subprocess.run(roomcal_cli(directory) + ["import", bb.ROOM, path], cwd=bb.REPO,
                            capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    after = room_state(side, directory)
    if side == "postgresql":
        databases.drop(database_of(directory))
    shutil.rmtree(directory, ignore_errors=True)
    return {"refused": result.returncode != 0, "unchanged": after == before, "items": before[0],
            "seconds": seconds, "message": (result.stderr or result.stdout).strip()[-300:]}


# -- the finder: 100 rooms --------------------------------------------------------------------------------
def finder(workdir, rooms_count, per_room, reps, servers, base, databases=None):
    """``GET /api/rooms?free-from=&free-until=`` over ``rooms_count`` rooms of ``per_room``
    bookings.  The first room is imported; the others get copies of its files (the same events;
    importing them all would take ten minutes) and ``roomcal reindex`` indexes every room.  With
    ``databases``, the same store again on PostgreSQL: ``roomcal migrate`` into a new database
    and a host folder naming it."""
    directory = os.path.join(workdir, "finder")
    setup = bb.setup_roomcal(directory, bb.seed_events(per_room, base), log)
    ids = [f"f{i:03d}" for i in range(1, rooms_count)]
    server = servers.start(setup["server"])
    try:
        for room_id in ids:
            response = requests.post(f"{server.url}/api/admin/rooms", auth=ADMIN, timeout=60,
                                     json={"id": room_id, "name": f"Finder {room_id}",
                                           "timezone": "Europe/Berlin"})
            if response.status_code != 201:
                raise RuntimeError(f"POST /api/admin/rooms {room_id}: {response.status_code} {response.text}")
    finally:
        servers.stop(server)
    template = room_folder(directory, "roomcal")
    files = [f for f in os.listdir(template) if f.endswith(".ics")]
    cache = os.path.join(template, ".Radicale.cache", "item")
    for room_id in ids:
        target = room_folder(directory, "roomcal", room_id)
        for name in files:
            shutil.copy2(os.path.join(template, name), target)
        if os.path.isdir(cache):
            shutil.copytree(cache, os.path.join(target, ".Radicale.cache", "item"))
    t0 = time.perf_counter()
    bb.run(roomcal_cli(directory) + ["reindex"], cwd=bb.REPO)
    log(f"  finder: {rooms_count} rooms of {per_room} bookings indexed in {time.perf_counter() - t0:.1f} s")
    result = {"rooms": rooms_count, "per room": per_room}
    try:
        result["roomcal"] = finder_times(servers, server_for("roomcal", directory), reps, base, rooms_count)
        if databases is not None:
            name = databases.create()
            t0 = time.perf_counter()
            bb.run(roomcal_cli(directory) + ["migrate", "--to", sp.db_url(name)], cwd=bb.REPO)
            log(f"  finder: roomcal migrate to PostgreSQL in {time.perf_counter() - t0:.1f} s")
            host = os.path.join(workdir, "finder-postgresql")
            bb.init_roomcal(host, database=sp.db_url(name))
            result["postgresql"] = finder_times(servers, server_for("postgresql", host), reps, base, rooms_count)
            databases.drop(name)
    finally:
        if not os.environ.get("BENCH_SCALE_KEEP_FINDER"):
            shutil.rmtree(directory, ignore_errors=True)
    return result


def finder_times(servers, server, reps, base, rooms_count):
    server = servers.start(server)
    try:
        free = base + bb.LENGTH   # a free half-hour in every room
        query = f"/api/rooms?free-from={iso_utc(free)}&free-until={iso_utc(free + 1800)}"
        first, response = server.request("GET", query, expect=(200,))
        found = len(response.json()["rooms"])
        times = [server.request("GET", query, expect=(200,))[0] for _ in range(reps)]
        log(f"  finder ({LABELS[server.side]}): {found} of {rooms_count} rooms free; "
            f"first request {first * 1000:.0f} ms")
        return {"times": times, "first": first, "found": found}
    finally:
        servers.stop(server)


# -- throughput ----------------------------------------------------------------------------------------------
ROOMS_LOAD, CLIENTS = 20, 32


def throughput_roomcal(workdir, duration, servers, base, databases=None):
    """The load against ``serve --workers 4`` on a new store: the file store, or with
    ``databases`` a new PostgreSQL database (dropped afterwards)."""
    side = "roomcal" if databases is None else "postgresql"
    directory = os.path.join(workdir, f"load-{side}")
    name = None if databases is None else databases.create()
    bb.init_roomcal(directory, database=name and sp.db_url(name))
    cli = roomcal_cli(directory)
    bb.run(cli + ["user", "add", "admin", "--password", ADMIN[1], "--admin"], cwd=bb.REPO)
    bb.run(cli + ["user", "add", bb.USER, "--password", bb.PASSWORD], cwd=bb.REPO)
    token = bb.run(cli + ["token", "create", bb.USER], cwd=bb.REPO).stdout.strip().splitlines()[-1]
    server = servers.start(server_for(side, directory, workers=4))
    try:
        for i in range(ROOMS_LOAD):
            response = requests.post(f"{server.url}/api/admin/rooms", auth=ADMIN, timeout=60,
                                     json={"id": f"load{i:02d}", "name": f"Load {i:02d}", "timezone": "UTC"})
            if response.status_code != 201:
                raise RuntimeError(f"POST /api/admin/rooms: {response.status_code} {response.text}")
        return load(server.url, {"Authorization": f"Bearer {token}"}, None, duration, base)
    finally:
        servers.stop(server)
        if name is not None:
            databases.drop(name)


def throughput_stock(workdir, duration, servers, base):
    directory = os.path.join(workdir, "load-stock")
    bb.setup_stock(directory, [], log)
    root = os.path.join(directory, "collections", "collection-root", "rooms")
    shutil.rmtree(os.path.join(root, bb.ROOM))
    for i in range(ROOMS_LOAD):
        os.makedirs(os.path.join(root, f"load{i:02d}"))
        with open(os.path.join(root, f"load{i:02d}", ".Radicale.props"), "w") as f:
            json.dump({"tag": "VCALENDAR"}, f)
    server = servers.start(stock_server(directory))
    try:
        # stock's server answers one request per connection: without "close" a pooled
        # connection it has just closed would fail now and then ("closed without response")
        return load(server.url, {"Connection": "close"}, (bb.USER, bb.PASSWORD), duration, base)
    finally:
        servers.stop(server)


def load(url, headers, auth, duration, base):
    """CLIENTS threads PUT new 45-minute bookings into free slots of ROOMS_LOAD rooms for
    ``duration`` seconds: slot i goes to room i % ROOMS_LOAD, hour i // ROOMS_LOAD; ``url``
    may be a list (hosts sharing one database): slot i goes to the next one in turn."""
    urls = [url] if isinstance(url, str) else list(url)
    lock = threading.Lock()
    counter = iter(range(10 ** 9))
    statuses, errors = {}, []
    deadline = time.perf_counter() + duration

    def client():
        session = requests.Session()
        session.headers.update(headers)
        session.auth = auth
        while time.perf_counter() < deadline:
            with lock:
                i = next(counter)
            start = base + (i // ROOMS_LOAD) * bb.SLOT
            uid = f"load-{i:07d}"
            body = bb.vcalendar(bb.vevent(uid, start, start + 2700, f"Load {i}"))
            try:
                r = session.put(f"{urls[i % len(urls)]}/rooms/load{i % ROOMS_LOAD:02d}/{uid}.ics", data=body.encode(),
                                headers={**ICS, "If-None-Match": "*"}, timeout=120)
                status = r.status_code
            except requests.RequestException as e:
                status = "error"
                with lock:
                    errors.append(repr(e))
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
        session.close()

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - t0
    created = statuses.get(201, 0)
    return {"created": created, "seconds": seconds, "per second": created / seconds,
            "statuses": {str(k): v for k, v in statuses.items()}, "errors": errors[:5]}


# -- the table -------------------------------------------------------------------------------------------------
def fmt(value, unit):
    if value is None:
        return "—"
    if isinstance(value, str):   # "n/a"
        return value
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.1f} ms" if value < 1000 else f"{value:,.0f} ms".replace(",", " ")
    if unit == "/s":
        return f"{value:.1f}/s"
    if unit == "MB":
        return f"{value:.1f} MB"
    return str(value)


def number(value):
    return isinstance(value, (int, float))


def rows(n, sides, results, extra, finder_result, full_finder):
    """[{key, operation, target, unit, values {column: figure}, met {roomcal column: True/False/None},
    growth: judged against the 10k figure (no target of its own at 100 000)}]."""
    mine = [side for side in ROOMCAL_SIDES if side in sides]
    at_100k = n >= 100000
    out = []

    def med(side, key):
        return median_ms(results[side].get(key)) if side in sides else None

    def add(key, label, target, unit, values, judge, growth=True):
        met = {side: judge(side, values[side]) if judge and number(values.get(side)) else None for side in mine}
        out.append({"key": key, "operation": label, "target": target, "unit": unit, "values": values,
                    "met": met, "growth": growth})

    def timed(key, label, target, judge, growth=True, only=None):
        values = {side: med(side, key) for side in only or sides}
        count = len(results["roomcal"].get(key, []))
        add(key, f"{label} (median of {count})" if count > 1 else label, target, "ms", values, judge, growth)

    never = 15000 if at_100k else 2000
    timed("propfind never served", "first Depth-1 PROPFIND (getetag, getcontenttype), store never served",
          "≤ 15 s at 100k" if at_100k else "≤ 2 s", lambda side, a: a <= never, growth=not at_100k)
    timed("first sync", "then its first sync-collection (no token): Thunderbird's and DAVx5's first look",
          "≤ 2 s (the issue's title)", lambda side, a: a <= 2000)
    timed("propfind after restart", "the first Depth-1 PROPFIND after a restart", "≤ 0.5 s", lambda side, a: a <= 500)
    timed("report after restart", "first 1-day REPORT after a restart", "≤ 0.5 s", lambda side, a: a <= 500)
    timed("report after cache deleted", "first 1-day REPORT after .Radicale.cache was deleted (+ restart)",
          "≤ 0.5 s", lambda side, a: a <= 500)
    if "postgresql" in sides:
        out[-1]["values"]["postgresql"] = "n/a"   # PostgreSQL keeps no .Radicale.cache
    timed("new PUT", "new PUT of a booking into a free half-hour", "≤ 20 ms at 100k",
          (lambda side, a: a <= 20) if at_100k else None, growth=not at_100k)
    stock_put = med("stock", "update PUT")
    timed("update PUT", "update PUT of a booking", "≤ 1.0× stock and ≤ 15 ms",
          lambda side, a: a <= 15 and (stock_put is None or a <= stock_put))
    timed("sync one change", "JSON sync of one change (stock: sync-collection REPORT with the previous token)",
          "≤ 30 ms, independent of N", lambda side, a: a <= 30 and a <= 2 * med(side, "sync one change, small room"))
    timed("sync one change, small room",
          f"… the same in a room of {SMALL_N} bookings (for \"independent of N\": at most 2×)", "—", None, only=mine)
    timed("caldav sync one change", "CalDAV sync-collection REPORT of one change (the previous token)", "—",
          None)
    timed("week", "JSON listing of one week (stock: 7-day calendar-query REPORT)", "≤ 50 ms",
          lambda side, a: a <= 50)
    timed("month availability", "availability of the room for a month", "≤ 50 ms", lambda side, a: a <= 50,
          only=mine)
    timed("month slots", "… the same with duration=PT30M (the bookable slots, every 30 minutes)", "—", None,
          only=mine)
    f = finder_result
    add("finder", f"finder over {f['rooms']} rooms of {f['per room']} bookings (median of "
        f"{len(f['roomcal']['times'])}; {f['roomcal']['found']} found free)"
        + ("" if full_finder else "; the target is for 100 × 1 000: --finder"), "≤ 200 ms", "ms",
        {side: median_ms(f[side]["times"]) for side in mine}, (lambda side, a: a <= 200) if full_finder else None)
    refused = extra["refused import"]
    atomic = {side: refused[side]["refused"] and refused[side]["unchanged"] for side in mine}
    failed = [LABELS[side] for side in mine if not atomic[side]]
    limit = 10 * n / 10000    # judged from 10 000 on (below, starting the command dominates)
    add("import", f"roomcal import of {n} events (stock: writing the files); a refused import of {n} events "
        + (f"DID NOT leave the room unchanged ({', '.join(failed)})" if failed else "left the room unchanged"),
        "≤ 10 s at 10k" + ("" if n == 10000 else f" (scaled: ≤ {limit:g} s)" if n > 10000 else
                           " (judged from N = 10 000 on)") + ", all or nothing",
        "s", {side: results["seed s"].get(side) for side in sides},
        lambda side, a: (a <= limit and atomic[side]) if n >= 10000 else (None if atomic[side] else False),
        growth=False)
    throughput = {side: extra["throughput"][side]["per second"] for side in sides}
    add("throughput", f"booking throughput, {CLIENTS} clients, 20 rooms, {extra['duration']:g} s "
        "(roomcal --workers 4; stock: its own server)", "≥ 5× stock", "/s", throughput,
        (lambda side, a: a >= 5 * throughput["stock"]) if "stock" in sides else None, growth=False)
    peaks = {}
    for side in sides:
        kb = max((kb for phase, kb in extra["peaks"].get(side, []) if phase in FIRST_PHASES), default=None)
        peaks[side] = None if kb is None else kb / 1024
    add("peak RSS", "peak RSS (VmHWM) of one worker serving the room, over the PROPFIND/REPORT rows", "≤ 132 MB",
        "MB", peaks, lambda side, a: a <= 132)
    return out


def growth_cell(row, earlier, mine):
    """The figures of this run × those of ``earlier`` (the rows of a --json run, by key), one
    per roomcal column; judged (at most GROWTH_LIMIT) where the row has no target of its own
    at 100 000."""
    old = earlier.get(row["key"], {}).get("values", {})
    cells = []
    for side in mine:
        a, b = row["values"].get(side), old.get(side)
        if not (number(a) and number(b) and b):
            cells.append("—")
            continue
        ratio = a / b
        cells.append(f"{ratio:.2f}" + ((" met" if ratio <= GROWTH_LIMIT else " missed") if row["growth"] else ""))
    return " / ".join(cells)


def table(table_rows, sides, unreliable, earlier=None, earlier_n=None):
    mine = [side for side in ROOMCAL_SIDES if side in sides]
    both = len(mine) > 1
    columns = ["roomcal"] + (["postgresql"] if both else []) + ["stock"]
    head = (["operation at N bookings in one room", "target"] + [LABELS[c] for c in columns]
            + ["roomcal/stock"] + (["PostgreSQL/stock"] if both else [])
            + ["verdict (file / PostgreSQL)" if both else "verdict"])
    if earlier is not None:
        head.append(("× the 10k figure" if earlier_n == 10000 else f"× the N = {earlier_n} figure")
                    + (" (file / PostgreSQL)" if both else ""))
    lines = ["| " + " | ".join(head) + " |",
             "|---|---|" + "---:|" * (len(columns) + len(mine)) + "---|" + ("---|" if earlier is not None else "")]
    for row in table_rows:
        values = row["values"]
        stock = values.get("stock")
        ratios = [f"{values[side] / stock:.2f}" if number(values.get(side)) and number(stock) and stock else "—"
                  for side in mine]
        verdicts = []
        for side in mine:
            ok = row["met"][side]
            verdicts.append("n/a" if values.get(side) == "n/a" else "—" if ok is None else "met" if ok else "missed")
        verdict = " / ".join(verdicts)
        if unreliable and any(ok is not None for ok in row["met"].values()):
            verdict += " (unreliable: load)"
        cells = ([row["operation"], row["target"]] + [fmt(values.get(c), row["unit"]) for c in columns]
                 + ratios + [verdict])
        if earlier is not None:
            cells.append(growth_cell(row, earlier, mine))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def read_earlier(path):
    """The rows of an earlier --json run, by key, and its N."""
    with open(path) as f:
        earlier = json.load(f)
    if not all("key" in row for row in earlier.get("rows", [])) or not earlier.get("rows"):
        raise ValueError(f"{path} was not written by this version of bench_scale.py --json: run it again")
    return {row["key"]: row for row in earlier["rows"]}, earlier["n"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000, help="bookings in the room (default 10000)")
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run, not figures")
    parser.add_argument("--postgresql", action="store_true",
                        help="a column of roomcal on PostgreSQL (databases on " + sp.ADMIN_URL.rpartition("/")[0]
                        + ", made and dropped by the run)")
    parser.add_argument("--no-stock", action="store_true", help="leave stock Radicale out (its column shows —)")
    parser.add_argument("--compare-with", metavar="PATH",
                        help="the --json of an earlier run (at 10 000): a column of this run's figures × its")
    parser.add_argument("--finder", action="store_true",
                        help="the finder at its target size, 100 rooms of 1 000 bookings (else 100 of 20)")
    parser.add_argument("--duration", type=float, help="seconds of the throughput load (default 20; quick 5)")
    parser.add_argument("--json", metavar="PATH", help="also write every timing as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder and the databases")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.n < 10:
        parser.error("--n must be at least 10")
    earlier = earlier_n = None
    if args.compare_with:
        try:
            earlier, earlier_n = read_earlier(args.compare_with)
        except (OSError, ValueError, KeyError) as e:
            parser.error(f"--compare-with: {e}")
    sides = [side for side in SIDES if not (side == "postgresql" and not args.postgresql)
             and not (side == "stock" and args.no_stock)]
    mine = [side for side in ROOMCAL_SIDES if side in sides]
    # SIGTERM unwinds like Ctrl-C: every server started is stopped, the databases and the temp folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    reps = dict(QUICK if args.quick else FULL)
    if args.duration:
        reps["duration"] = args.duration
    rng = random.Random(args.seed)
    started, load_start = time.time(), os.getloadavg()
    today = int(started) // DAY * DAY
    base = today + 2 * DAY    # within the 2-year horizon, so every write is checked
    days = max(1, args.n * bb.SLOT // DAY)
    workdir = tempfile.mkdtemp(prefix="roomcal-scale-")
    servers = Servers()
    databases = Databases()
    results = {side: {} for side in sides}
    extra = {"duration": reps["duration"], "sides": sides}
    per_room = 1000 if args.finder else 20
    try:
        log(f"seeding N = {args.n} (load average {load_start[0]:.2f}): {', '.join(LABELS[s] for s in sides)}")
        seeded = seed(workdir, args.n, base, sides, databases)
        results["seed s"] = seeded["seed s"]
        log("first requests: never served, after restarts, after the cache was deleted")
        work = first_requests(seeded, sides, reps, workdir, servers, databases, base, days, rng, results)
        log("warm requests: new and update PUT, JSON sync, one week, a month's availability")
        warm_requests(work, sides, reps, servers, args.n, base, days, rng, results)
        log("a refused import of N events")
        extra["refused import"] = {side: refused_import(seeded, side, workdir, args.n, base, databases)
                                   for side in mine}
        log(f"finder: 100 rooms of {per_room} bookings")
        finder_result = finder(workdir, 100, per_room, reps["finder"], servers, base,
                               databases if args.postgresql else None)
        log(f"throughput: {CLIENTS} clients, {ROOMS_LOAD} rooms, {reps['duration']:g} s each")
        extra["throughput"] = {"roomcal": throughput_roomcal(workdir, reps["duration"], servers, base)}
        if args.postgresql:
            extra["throughput"]["postgresql"] = throughput_roomcal(workdir, reps["duration"], servers, base,
                                                                   databases)
        if not args.no_stock:
            extra["throughput"]["stock"] = throughput_stock(workdir, reps["duration"], servers, base)
        extra["peaks"] = servers.peaks
        extra["peaks after warm-up"] = servers.peaks_after_warmup
    finally:
        servers.stop_all()
        if args.keep:
            log(f"kept {workdir}" + (f", databases {', '.join(databases.names)}" if databases.names else ""))
        else:
            databases.drop_all()
            shutil.rmtree(workdir, ignore_errors=True)
    load_end = os.getloadavg()
    unreliable = max(load_start[0], load_end[0]) > LOAD_LIMIT
    table_rows = rows(args.n, sides, results, extra, finder_result, args.finder)
    print(f"## roomcal at scale, N = {args.n}{' (quick)' if args.quick else ''} — "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"run took {time.time() - started:.0f} s\n")
    print(f"Load average (1 min) at start {load_start[0]:.2f}, at end {load_end[0]:.2f}"
          + (f": **unreliable** (above {LOAD_LIMIT:g})" if unreliable else "") + "\n")
    print(table(table_rows, sides, unreliable, earlier, earlier_n))
    print()
    if args.no_stock:
        print("- stock Radicale was left out (--no-stock)")
    if args.postgresql:
        print("- n/a: PostgreSQL keeps no .Radicale.cache")
    if earlier is not None:
        print(f"- × the earlier figure: from {args.compare_with} (N = {earlier_n}); judged (≤ {GROWTH_LIMIT:g}) "
              "where the row has no target of its own at 100 000; the import and the throughput only shown")
    throughput = extra["throughput"]
    print("- throughput: " + ", ".join(f"{LABELS[side]} {t['statuses']}" for side, t in throughput.items())
          + "".join(f"; {LABELS[side]}'s first transport error: {t['errors'][0]}"
                    for side, t in throughput.items() if t["errors"]))
    for side, refused in extra["refused import"].items():
        print(f"- refused import ({LABELS[side]}): exit {'≠ 0' if refused['refused'] else '0 (NOT refused)'} after "
              f"{refused['seconds']:.1f} s, room of {refused['items']} items "
              f"{'unchanged' if refused['unchanged'] else 'CHANGED'}: {refused['message'][-160:]!r}")
    print("- finder: first request after the start " + ", ".join(
        f"{LABELS[side]} {finder_result[side]['first'] * 1000:.0f} ms" for side in mine))
    print("- peak RSS per phase (MB): " + "; ".join(
        f"{LABELS[side]}: " + ", ".join(f"{phase} {kb / 1024:.0f}" for phase, kb in peaks)
        for side, peaks in extra["peaks"].items()))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": args.n, "quick": args.quick, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                       "load": {"start": load_start, "end": load_end, "unreliable": unreliable},
                       "results": results, "extra": extra, "finder": finder_result, "rows": table_rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

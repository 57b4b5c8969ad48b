#!/usr/bin/env python3
"""Several hosts on one PostgreSQL database under a booking storm (issue 15).

A fresh database on the machine's PostgreSQL (created as user postgres, dropped at the end);
``--hosts`` (3) ``roomcal serve --workers 2`` processes, each with its own config folder from
``roomcal init DIR --database URL``, on loopback ports.  Users, tokens and rooms are made once
through the first host's CLI (every host sees them: they live in the database).  Rooms: three
of quantity 1 (one with a 15-minute buffer) and one pool of quantity 3 with a 15-minute buffer.

The storm: ``--attempts`` (10 000) bookings from ``--clients`` threads, each to a host chosen
at random, half as CalDAV PUT (``If-None-Match: *``), half as ``POST /api/rooms/<ID>/bookings``;
half into a few overlapping, hotly contested slots, half into slots nobody else asks for.
Then, read from the database itself (not through the servers):

* no two occupancy rows of a quantity-1 room overlap, and in the pool no instant is held more
  than 3 times: both from the occupancy rows and, independently, from the bookings' start/end
  plus the room's buffer;
* every booking answered 201/204 is stored (items and the booking index): 0 acknowledged writes
  lost; items and index agree;
* no 5xx but 503;
* afterwards a new booking succeeds on every host still running.

``--kill``: kill -9 one host (its process group) mid-storm; its in-flight requests fail, later
attempts go to the others; every acknowledged write must still be in the database.
``--restart-postgres``: ``pg_ctlcluster --skip-systemctl-redirect 15 main restart`` mid-storm:
answers meanwhile must be 503 or connection errors, never a 500, and the hosts must recover
without a restart.  This restarts the machine's shared PostgreSQL: everything else using it
sees its connections dropped.  ``--terminate``: end every connection of the hosts to their
database (``pg_terminate_backend``), 5 times a second apart: the same checks, touching nothing
else on the server.

Load only on loopback, bounded by ``--attempts`` and ``--max-seconds``.  Exit 1 when an
invariant is broken.

    .venv/bin/python bench/stress_postgresql.py [--attempts 10000] [--clients 12] [--hosts 3]
        [--kill | --terminate | --restart-postgres] [--keep]
"""

import argparse
import collections
import datetime
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import psycopg
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_booking import REPO, ROOMCAL, init_roomcal, roomcal_server, run  # noqa: E402

ADMIN_URL = os.environ.get("ROOMCAL_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
# room id -> (quantity, buffer in seconds)
ROOMS = {"one": (1, 0), "two": (1, 0), "buffered": (1, 900), "pool": (3, 900)}
USERS = 6
WORKERS = 2
ICS = {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"}
ACKNOWLEDGED = {201, 204}


def log(message):
    print(message, file=sys.stderr, flush=True)


def ical(dt):
    return dt.strftime("%Y%m%dT%H%M%SZ")


def ics(uid, start, end, summary):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//roomcal stress//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{ical(start)}\r\n"
            f"DTEND:{ical(end)}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def plan(attempts, rng, hot, free):
    """(room, start, end) per attempt: half in 2 days x 6 hours of half-hour starts lasting
    30-90 minutes (they overlap each other), half in slots of their own (45 minutes on the
    hour, so even a 15-minute buffer leaves the next hour free)."""
    rooms, result, k = list(ROOMS), [], 0
    for _ in range(attempts):
        if rng.random() < 0.5:
            start = hot + datetime.timedelta(days=rng.randrange(2), hours=8 + rng.randrange(6),
                                             minutes=rng.choice((0, 30)))
            result.append((rng.choice(rooms), start, start + datetime.timedelta(minutes=rng.choice((30, 60, 90)))))
        else:
            room, j = rooms[k % len(rooms)], k // len(rooms)
            k += 1
            start = free + datetime.timedelta(days=j // 10, hours=8 + j % 10)
            result.append((room, start, start + datetime.timedelta(minutes=45)))
    return result


# -- the database --------------------------------------------------------------------------------
def db_url(name):
    return f"{ADMIN_URL.rpartition('/')[0]}/{name}"


def create_database():
    name = f"roomcal_stress_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(name):
    for attempt in range(10):   # after --restart-postgres the server may still be starting
        try:
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.OperationalError as e:
            log(f"  dropping {name}: {e}; again in 2 s")
            time.sleep(2)


def key(room):
    """A room's name in the tables: its collection's path."""
    return f"rooms/{room}"


def verify(url, acknowledged):
    """The invariants, from the database: [(name, ok, detail)]."""
    out = []
    with psycopg.connect(url) as conn:
        ones = [key(room) for room, (q, _) in ROOMS.items() if q == 1]
        rows = conn.execute(
            "SELECT a.room, a.href, b.href FROM occupancy a JOIN occupancy b ON a.room = b.room "
            "AND a.href < b.href AND a.during && b.during WHERE a.room = ANY(%s)", (ones,)).fetchall()
        out.append(("quantity 1: no two occupancy rows overlap", not rows, rows[:5]))
        doubles = []
        for room, (q, buffer) in ROOMS.items():
            # independent of the occupancy rows: each booking holds [start, end + buffer)
            if q == 1:
                doubles += conn.execute(
                    'SELECT a.room, a.href, b.href FROM bookings a JOIN bookings b ON a.room = b.room '
                    'AND a.href < b.href AND a.start < b."end" + %s AND b.start < a."end" + %s '
                    'WHERE a.room = %s AND a.blocking = 1 AND b.blocking = 1', (buffer, buffer, key(room))).fetchall()
        out.append(("quantity 1: no two bookings overlap (start/end + buffer)", not doubles, doubles[:5]))
        pool = [room for room, (q, _) in ROOMS.items() if q > 1]
        peaks = []
        for room in pool:
            q, buffer = ROOMS[room]
            peaks += conn.execute(
                "SELECT a.room, lower(a.during), count(*) FROM occupancy a JOIN occupancy b ON a.room = b.room "
                "AND b.during @> lower(a.during) WHERE a.room = %s GROUP BY a.room, a.href, a.during "
                "HAVING count(*) > %s", (key(room), q)).fetchall()
            peaks += conn.execute(
                'SELECT a.room, a.start, count(*) FROM bookings a JOIN bookings b ON a.room = b.room '
                'AND b.start <= a.start AND a.start < b."end" + %s WHERE a.room = %s AND a.blocking = 1 '
                'AND b.blocking = 1 GROUP BY a.room, a.href, a.start HAVING count(*) > %s',
                (buffer, key(room), q)).fetchall()
        most = {room: conn.execute(
            "SELECT max(n) FROM (SELECT count(*) AS n FROM occupancy a JOIN occupancy b ON a.room = b.room "
            "AND b.during @> lower(a.during) WHERE a.room = %s GROUP BY a.href, a.during) x", (key(room),)).fetchone()[0]
            for room in pool}
        out.append((f"quantity 3: never more than 3 at once (peak found: {most})", not peaks, peaks[:5]))
        items = {(collection, href) for collection, href in conn.execute(
            "SELECT collection, href FROM items WHERE collection LIKE 'rooms/%%'")}
        indexed = {(room, href) for room, href in conn.execute("SELECT room, href FROM bookings")}
        acknowledged = {(key(room), href) for room, href in acknowledged}
        lost = sorted(acknowledged - items)
        out.append((f"acknowledged writes ({len(acknowledged)}) all stored", not lost, lost[:5]))
        apart = sorted(items ^ indexed)
        out.append((f"items ({len(items)}) and booking index ({len(indexed)}) agree", not apart, apart[:5]))
        extra = sorted(items - acknowledged)
    return out, extra


# -- the storm -------------------------------------------------------------------------------------
class Storm:
    def __init__(self, hosts, tokens, attempts, clients, seed, max_seconds):
        self.hosts, self.tokens, self.attempts = hosts, tokens, attempts
        self.clients, self.seed, self.max_seconds = clients, seed, max_seconds
        self.alive = list(range(len(hosts)))
        self.lock = threading.Lock()
        self.cursor = iter(range(len(attempts)))
        self.done = 0
        self.statuses = collections.Counter()       # (host, via, status)
        self.acknowledged = {}                      # (room, href) -> host
        self.timeline = []                          # (t, host, status) of every non-2xx/409
        self.errors = []
        self.t0 = None

    def client(self, n):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {self.tokens[n % len(self.tokens)]}"
        rng = random.Random(self.seed * 1000 + n)
        deadline = self.t0 + self.max_seconds
        while time.perf_counter() < deadline:
            with self.lock:
                i = next(self.cursor, None)
                host = rng.choice(self.alive)
            if i is None:
                break
            room, start, end = self.attempts[i]
            url = self.hosts[host].url
            uid = f"storm-{i}-{uuid.uuid4().hex[:6]}"
            via = "caldav" if rng.random() < 0.5 else "api"
            href = f"{uid}.ics"
            try:
                if via == "caldav":
                    r = session.put(f"{url}/rooms/{room}/{href}", data=ics(uid, start, end, f"Storm {i}").encode(),
                                    headers=ICS, timeout=60)
                else:
                    r = session.post(f"{url}/api/rooms/{room}/bookings", timeout=60, json={
                        "title": f"Storm {i}", "uid": uid, "start": start.strftime("%Y-%m-%dT%H:%M:%S"),
                        "end": end.strftime("%Y-%m-%dT%H:%M:%S")})
                    if r.status_code == 201:
                        href = r.json()["href"].rstrip("/").rpartition("/")[2]
                status = r.status_code
            except requests.RequestException as e:
                status = "error"
                with self.lock:
                    self.errors.append((host, repr(e)[:200]))
                session.close()   # a fresh connection for the next attempt
                session = requests.Session()
                session.headers["Authorization"] = f"Bearer {self.tokens[n % len(self.tokens)]}"
            with self.lock:
                self.done += 1
                self.statuses[(host, via, status)] += 1
                if status in ACKNOWLEDGED:
                    self.acknowledged[(room, href)] = host
                elif status != 409:
                    self.timeline.append((time.perf_counter() - self.t0, host, status))
        session.close()

    def run(self, midway=None):
        """The storm; ``midway()`` runs once a third of the attempts were answered."""
        self.t0 = time.perf_counter()
        threads = [threading.Thread(target=self.client, args=(n,)) for n in range(self.clients)]
        for t in threads:
            t.start()
        event = None
        if midway is not None:
            while self.done < len(self.attempts) // 3 and any(t.is_alive() for t in threads):
                time.sleep(0.02)
            t = time.perf_counter() - self.t0
            detail = midway(self)
            event = (t, time.perf_counter() - self.t0, detail)
        for t in threads:
            t.join()
        return time.perf_counter() - self.t0, event


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--attempts", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=12,
                        help="client threads (default 12: the database's connections are shared)")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=900, help="the storm stops after this long")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--kill", action="store_true", help="kill -9 one host mid-storm")
    mode.add_argument("--restart-postgres", action="store_true",
                      help="restart the machine's PostgreSQL (cluster 15/main) mid-storm")
    mode.add_argument("--terminate", action="store_true",
                      help="mid-storm, 5 times a second apart, end every connection of the hosts to "
                           "this database (pg_terminate_backend): lost connections without touching "
                           "anything else on the server")
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the config folders and the database")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rng = random.Random(args.seed)
    today = datetime.datetime.now(datetime.timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    attempts = plan(args.attempts, rng, today + datetime.timedelta(days=20), today + datetime.timedelta(days=40))
    started = datetime.datetime.now(datetime.timezone.utc)
    workdir = tempfile.mkdtemp(prefix="roomcal-pgstress-")
    name = create_database()
    url = db_url(name)
    servers = []
    try:
        configs = [init_roomcal(os.path.join(workdir, f"host{h}"), database=url) for h in range(args.hosts)]
        cli = ROOMCAL + ["--config", configs[0]]
        tokens = []
        for u in range(USERS):   # Bearer tokens: bcrypt on every Basic request would dominate
            run(cli + ["user", "add", f"u{u}", "--password", f"pw-u{u}"], cwd=REPO)
            tokens.append(run(cli + ["token", "create", f"u{u}"], cwd=REPO).stdout.strip().splitlines()[-1])
        for room, (q, buffer) in ROOMS.items():
            extra = (["--quantity", str(q)] if q > 1 else []) + (["--buffer", f"PT{buffer // 60}M"] if buffer else [])
            run(cli + ["room", "add", room, "--name", f"Storm {room}", "--timezone", "UTC", *extra], cwd=REPO)
        for h, config in enumerate(configs):
            server = roomcal_server(ROOMCAL + ["--config", config], WORKERS,
                                    os.path.join(workdir, f"host{h}", "serve.log"), new_session=True)
            servers.append(server)
            server.start()
        log(f"{args.hosts} hosts × {WORKERS} workers on {name}: "
            + ", ".join(s.url for s in servers) + f"; {len(attempts)} attempts, {args.clients} clients")
        storm = Storm(servers, tokens, attempts, args.clients, args.seed, args.max_seconds)
        midway, killed, restarted = None, None, []
        if args.kill:
            killed = len(servers) - 1

            def midway(storm):
                with storm.lock:
                    storm.alive.remove(killed)
                servers[killed].kill()
                return f"host{killed} killed (kill -9 of its process group)"
        elif args.restart_postgres:
            def midway(storm):
                result = subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "restart"],
                                        capture_output=True, text=True)
                restarted.append(result.returncode)
                if result.returncode != 0:   # never leave the shared server down
                    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main", "start"])
                return f"pg_ctlcluster restart: exit {result.returncode} {result.stderr.strip()[:200]}"
        elif args.terminate:
            def midway(storm):
                ended = []
                with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                    for _ in range(5):
                        ended.append(len(conn.execute(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                            (name,)).fetchall()))
                        time.sleep(1)
                return f"connections to the database ended 5 times, 1 s apart: {ended}"
        seconds, event = storm.run(midway)
        # -- afterwards: a new booking on every host still running, without restarting it
        after = {}
        free = today + datetime.timedelta(days=300)
        for h, server in enumerate(servers):
            if h == killed:
                continue
            answers = []
            for k in range(2 * WORKERS):   # a few, so that each worker is likely asked
                start = free + datetime.timedelta(days=h, hours=8 + k)
                uid = f"after-{h}-{k}"
                try:
                    r = requests.put(f"{server.url}/rooms/one/{uid}.ics", timeout=30,
                                     data=ics(uid, start, start + datetime.timedelta(minutes=30), "After").encode(),
                                     headers={**ICS, "Authorization": f"Bearer {tokens[0]}"})
                    answers.append(r.status_code)
                    if r.status_code in ACKNOWLEDGED:
                        storm.acknowledged[("one", f"{uid}.ics")] = h
                except requests.RequestException as e:
                    answers.append(type(e).__name__)
            after[h] = answers
        checks, extra = verify(url, storm.acknowledged)
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            drop_database(name)
            shutil.rmtree(workdir, ignore_errors=True)
    # -- the summary -------------------------------------------------------------------------------
    mode_name = ("kill -9 of one host" if args.kill else "PostgreSQL restarted" if args.restart_postgres
                 else "connections ended" if args.terminate else "plain")
    print(f"## stress_postgresql: {args.hosts} hosts × {WORKERS} workers, {len(attempts)} attempts, "
          f"{args.clients} clients, {mode_name} — {started:%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs\n")
    print(f"storm {seconds:.1f} s, {storm.done} answered ({storm.done / seconds:.0f}/s)"
          + (f"; at {event[0]:.1f}–{event[1]:.1f} s: {event[2]}" if event else "") + "\n")
    statuses = sorted({s for (_, _, s) in storm.statuses}, key=str)
    print("| host | via | " + " | ".join(str(s) for s in statuses) + " |")
    print("|---|---|" + "---:|" * len(statuses))
    for h in range(len(servers)):
        for via in ("caldav", "api"):
            print(f"| host{h} | {via} | " + " | ".join(str(storm.statuses.get((h, via, s), 0)) for s in statuses) + " |")
    fivexx = sorted((s, c) for (h, v, s), c in storm.statuses.items() if isinstance(s, int) and s >= 500 and s != 503)
    errors_alive = [e for e in storm.errors if e[0] != killed] if args.kill else []
    if args.kill:   # errors from living hosts are not expected
        checks.append((f"no transport errors from hosts left running ({len(errors_alive)})", not errors_alive,
                       errors_alive[:3]))
    elif not (args.restart_postgres or args.terminate):
        checks.append((f"no transport errors ({len(storm.errors)})", not storm.errors, storm.errors[:3]))
        checks.append((f"nothing stored that was not acknowledged ({len(extra)})", not extra, extra[:5]))
    if args.restart_postgres:
        checks.append((f"PostgreSQL restarted (pg_ctlcluster exit {restarted})", restarted == [0], restarted))
    checks.append(("no 5xx but 503", not fivexx, fivexx))
    # e.g. a 401 or 404 because the token or the room could not be read would be a lie
    odd = sorted((s, c) for (h, v, s), c in storm.statuses.items()
                 if isinstance(s, int) and s not in ACKNOWLEDGED and s not in (409, 503))
    checks.append(("every answer is 201/204, 409 or 503", not odd, odd))
    failed_after = {h: a for h, a in after.items() if any(x not in ACKNOWLEDGED for x in a)}
    checks.append((f"a new booking succeeds afterwards on every running host {after}", not failed_after,
                   failed_after))
    print()
    print("| invariant | result |")
    print("|---|---|")
    for label, ok, detail in checks:
        print(f"| {label} | {'ok' if ok else 'BROKEN: ' + repr(detail)[:300]} |")
    unavailable = sorted(t for t, h, s in storm.timeline)
    if unavailable:
        print(f"\nnot 2xx/409: {len(unavailable)} answers between {unavailable[0]:.1f} s and "
              f"{unavailable[-1]:.1f} s; " + ", ".join(f"{k}: {v}" for k, v in sorted(
                  collections.Counter(str(s) for _, _, s in storm.timeline).items())))
    if extra and (args.kill or args.restart_postgres or args.terminate):
        print(f"stored without an acknowledgement (answer lost with the host or the connection): {len(extra)}")
    for host, e in storm.errors[:3]:
        print(f"  transport error (host{host}): {e}")
    ok = all(ok for _, ok, _ in checks)
    print("\nRESULT:", "OK" if ok else "FAIL", f"(kept {workdir}, database {name})" if args.keep else "")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

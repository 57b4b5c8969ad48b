"""Concurrency stress (issue 7): N booking attempts from many clients, 0 double bookings.

``roomcal serve --workers 4`` on a loopback port (users and 20 rooms seeded through the
CLI, every fourth room with ``--quantity 2``); 32 client threads (one requests.Session
each) send CalDAV PUTs and JSON POSTs (a JSCalendar Event) mixed, half into a few hotly
contested slots, half into free slots.  Afterwards every room is read back
(``GET /api/rooms/<id>/bookings``) and every pair of bookings checked: no instant may
be covered by more than the room's quantity.  Exit status 1 on any double booking or 5xx.

    .venv/bin/python bench/stress_concurrency.py [--attempts 10000] [--clients 32]
"""

import argparse
import collections
import datetime
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_booking import REPO, ROOMCAL, init_roomcal, roomcal_server, run  # noqa: E402

ROOMS = 20
USERS = 8
BASE_FREE = datetime.datetime(2027, 2, 1, tzinfo=datetime.timezone.utc)
BASE_HOT = datetime.datetime(2027, 6, 1, tzinfo=datetime.timezone.utc)


def quantity(room_index: int) -> int:
    return 2 if room_index % 4 == 0 else 1


def ical(dt: datetime.datetime) -> str:
    return dt.strftime("%Y%m%dT%H%M%SZ")


def ics(uid, start, end, summary):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//roomcal stress//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{ical(start)}\r\n"
            f"DTEND:{ical(end)}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def plan(attempts: int, rng: random.Random):
    """(room, start, end, kind) per attempt: half contested, half free slots."""
    result = []
    free_counter = 0
    for i in range(attempts):
        if rng.random() < 0.5:  # contested: 3 days x 10 hours, half-hour starts, 60/90 min
            room = rng.randrange(ROOMS)
            start = BASE_HOT + datetime.timedelta(days=rng.randrange(3), hours=8 + rng.randrange(10),
                                                  minutes=rng.choice((0, 30)))
            end = start + datetime.timedelta(minutes=rng.choice((60, 90)))
            result.append((room, start, end, "contested"))
        else:  # a slot nobody else asks for
            k = free_counter
            free_counter += 1
            room, j = k % ROOMS, k // ROOMS
            start = BASE_FREE + datetime.timedelta(days=j // 10, hours=8 + j % 10)
            result.append((room, start, start + datetime.timedelta(minutes=45), "free"))
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    workdir = tempfile.mkdtemp(prefix="roomcal-stress-")
    config = init_roomcal(workdir)
    cli = ROOMCAL + ["--config", config]
    run(cli + ["user", "add", "admin", "--password", "admin-pw", "--admin"], cwd=REPO)
    users = [(f"u{n}", f"pw-u{n}") for n in range(USERS)]
    for name, password in users:
        run(cli + ["user", "add", name, "--password", password], cwd=REPO)
    tokens = {}
    for name, _ in users:  # Bearer tokens: bcrypt on every Basic request would dominate
        tokens[name] = run(cli + ["token", "create", name], cwd=REPO).stdout.strip().splitlines()[-1]
    rooms = [f"room{r:02d}" for r in range(ROOMS)]
    for r, room in enumerate(rooms):
        extra = ["--quantity", "2"] if quantity(r) > 1 else []
        run(cli + ["room", "add", room, "--name", f"Stress {room}", "--timezone", "UTC", *extra], cwd=REPO)
    server = roomcal_server(cli, args.workers, os.path.join(workdir, "serve.log"))
    server.start()
    attempts = plan(args.attempts, rng)
    statuses = collections.Counter()
    by_kind = collections.defaultdict(collections.Counter)
    latencies = collections.defaultdict(list)
    errors = []
    lock = threading.Lock()
    cursor = iter(range(len(attempts)))

    def client(n):
        session = requests.Session()
        name = users[n % USERS][0]
        session.headers["Authorization"] = f"Bearer {tokens[name]}"
        local_rng = random.Random(args.seed * 1000 + n)
        while True:
            with lock:
                i = next(cursor, None)
            if i is None:
                break
            room_index, start, end, kind = attempts[i]
            room = rooms[room_index]
            uid = f"stress-{i}-{uuid.uuid4().hex[:8]}"
            via = "caldav" if local_rng.random() < 0.5 else "json"
            t0 = time.perf_counter()
            try:
                if via == "caldav":
                    r = session.put(f"{server.url}/rooms/{room}/{uid}.ics",
                                    data=ics(uid, start, end, f"Stress {i}").encode(),
                                    headers={"Content-Type": "text/calendar; charset=utf-8",
                                             "If-None-Match": "*"}, timeout=120)
                else:
                    minutes = int((end - start).total_seconds() // 60)
                    body = {"@type": "Event", "title": f"Stress {i}",
                            "start": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "Etc/UTC",
                            "duration": f"PT{minutes // 60}H{minutes % 60}M" if minutes % 60 else f"PT{minutes // 60}H"}
                    r = session.post(f"{server.url}/rooms/{room}/", json=body, timeout=120)
                _ = r.content
                status = r.status_code
            except requests.RequestException as e:
                status = "error"
                with lock:
                    errors.append(repr(e))
            elapsed = time.perf_counter() - t0
            with lock:
                statuses[(via, status)] += 1
                by_kind[kind][status] += 1
                latencies[via].append(elapsed)
        session.close()

    try:
        t0 = time.perf_counter()
        threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        # -- read every room back and check every pair --------------------------------------
        admin = requests.Session()
        admin.auth = ("admin", "admin-pw")
        double, stored = [], 0
        for r, room in enumerate(rooms):
            response = admin.get(f"{server.url}/api/rooms/{room}/bookings", timeout=300)
            response.raise_for_status()
            items = [b for b in response.json()["bookings"]
                     if (b.get("status") or "").lower() not in ("cancelled", "declined")]
            # CalDAV read-back too: the same number of events in the collection
            caldav = admin.get(f"{server.url}/rooms/{room}/", timeout=300)
            if caldav.text.count("BEGIN:VEVENT") != len(response.json()["bookings"]):
                double.append((room, "CalDAV and JSON listings disagree"))
            stored += len(items)
            spans = sorted((datetime.datetime.fromisoformat(b["start"].replace("Z", "+00:00")),
                            datetime.datetime.fromisoformat(b["end"].replace("Z", "+00:00")), b["uid"])
                           for b in items)
            q = quantity(r)
            for a in range(len(spans)):  # every pair; and the peak at every start
                overlapping = [spans[a]]
                for b in range(a + 1, len(spans)):
                    if spans[b][0] >= spans[a][1]:
                        break
                    overlapping.append(spans[b])
                    if q == 1:
                        double.append((room, spans[a][2], spans[b][2]))
                if q > 1:
                    at = spans[a][0]
                    peak = sum(1 for s, e, _ in spans if s <= at < e)
                    if peak > q:
                        double.append((room, "peak", at.isoformat(), peak))
        admin.close()
        alive = requests.get(server.url + "/", timeout=10).status_code
    finally:
        server.stop()
    fivexx = sum(c for (via, s), c in statuses.items() if isinstance(s, int) and s >= 500)
    created = sum(c for (via, s), c in statuses.items() if s in (200, 201, 204))
    print(f"attempts: {len(attempts)}  clients: {args.clients}  workers: {args.workers}")
    print(f"wall time: {seconds:.1f} s  throughput: {len(attempts) / seconds:.1f} attempts/s")
    for via in sorted(latencies):
        values = latencies[via]
        print(f"  {via}: {len(values)} requests, median {statistics.median(values) * 1000:.1f} ms, "
              f"p95 {sorted(values)[int(len(values) * 0.95)] * 1000:.1f} ms")
    print("responses by (protocol, status):", dict(sorted(statuses.items(), key=str)))
    for kind in sorted(by_kind):
        print(f"  {kind} slots:", dict(sorted(by_kind[kind].items(), key=str)))
    print(f"acknowledged writes (2xx): {created}  bookings read back: {stored}")
    print(f"double bookings found: {len(double)}  5xx: {fivexx}  transport errors: {len(errors)}"
          f"  server answering afterwards: {alive}")
    for d in double[:20]:
        print("  DOUBLE:", d)
    for e in errors[:5]:
        print("  ERROR:", e)
    ok = not double and not fivexx and not errors and created == stored
    if created != stored:
        print(f"MISMATCH: {created} acknowledged, {stored} stored")
    print("RESULT:", "OK" if ok else "FAIL", f"(data: {workdir})" if args.keep else "")
    if not args.keep:
        import shutil
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

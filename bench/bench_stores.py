#!/usr/bin/env python3
"""The file store beside PostgreSQL (issue 15): the same operations at N bookings in one room,
and booking throughput of one host against three sharing the database.

One run at one N (``--n 10000``).  The room is seeded with ``roomcal import`` on both stores
(the same events; PostgreSQL: a fresh database on the machine's server, made as user postgres
and dropped at the end), stock Radicale 3.9 gets them as ``.ics`` files (bench_booking.py).
Rows, each a median (stock's beside it where it has the operation):

* the first Depth-1 PROPFIND (getetag, getcontenttype) after a restart of the server;
* new PUT into a free half-hour, update PUT of it, a 1-day calendar-query REPORT;
* JSON sync of one change (stock: sync-collection with the previous token);
* availability of the room for a month (roomcal only);
* ``roomcal import`` of the N events;
* booking throughput: ``--clients`` threads PUT new bookings into distinct free slots of 20
  rooms for ``--duration`` seconds, against 1 host and against 3 hosts (each ``--workers 2``)
  on one PostgreSQL database, and 1 host of the file store for reference.

Servers on loopback ports, data in a temporary folder; every server is stopped and the
databases dropped on exit, Ctrl-C and SIGTERM.

    .venv/bin/python bench/bench_stores.py [--n 10000] [--quick] [--json PATH] [--keep]
"""

import argparse
import datetime
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import time

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_booking as bb  # noqa: E402
import bench_scale as bs  # noqa: E402
import stress_postgresql as sp  # noqa: E402  (creating and dropping a database)

STORES = ("file", "postgresql", "stock")
FULL = {"cold": 3, "put": 30, "report": 20, "sync": 20, "month": 20, "duration": 20.0}
QUICK = {"cold": 1, "put": 5, "report": 4, "sync": 4, "month": 4, "duration": 5.0}
WORKERS = 2     # per host in the throughput rows
log = bs.log


def server_for(store, directory):
    return bs.stock_server(directory) if store == "stock" else bs.roomcal_server(directory)


def first_propfind(store, directory, reps, servers):
    times = []
    for _ in range(reps):
        server = servers.start(server_for(store, directory))
        times.append(server.request("PROPFIND", bb.ROOM_PATH, bs.PROPFIND_ETAGS, bs.XML, expect=(207,))[0])
        servers.stop(server)
    return times


def warm(directories, reps, servers, n, base, days, rng):
    """New PUT, update PUT, REPORT, sync of one change, a month's availability: one server
    of each store running, the same request to each in turn."""
    running = {store: servers.start(server_for(store, directories[store])) for store in STORES}
    results = {store: {} for store in STORES}
    try:
        for server in running.values():   # every connection and cache warm
            for i in range(10):
                server.request("REPORT", bb.ROOM_PATH, bb.report_body(base + (i % days) * bs.DAY), bs.XML,
                               expect=(207,))
        places = rng.sample(range(3 * n), reps["put"])
        items = []
        for place in places:
            start = base + (place // 3) * bb.SLOT + bb.LENGTH + (place % 3) * bb.NEW
            items.append((f"stores-{place:07d}", start, start + bb.NEW))
        for key in ("new PUT", "update PUT", "REPORT 1 day"):
            for store in STORES:
                results[store][key] = []
        for i, (uid, s, e) in enumerate(items):
            for store, server in running.items():
                results[store]["new PUT"].append(server.request(
                    "PUT", f"{bb.ROOM_PATH}{uid}.ics", bb.vcalendar(bb.vevent(uid, s, e, "New booking")),
                    {**bs.ICS, "If-None-Match": "*"}, expect=(201,))[0])
        for i, (uid, s, e) in enumerate(items):
            for store, server in running.items():
                results[store]["update PUT"].append(server.request(
                    "PUT", f"{bb.ROOM_PATH}{uid}.ics", bb.vcalendar(bb.vevent(uid, s, e, f"Changed {i}")),
                    bs.ICS, expect=(204, 201))[0])
        for _ in range(reps["report"]):
            body = bb.report_body(base + rng.randrange(days) * bs.DAY)
            for store, server in running.items():
                results[store]["REPORT 1 day"].append(
                    server.request("REPORT", bb.ROOM_PATH, body, bs.XML, expect=(207,))[0])
        mine = items[:5]
        for store in ("file", "postgresql"):
            results[store]["sync one change"] = bs.json_sync(running[store], bb.ROOM_PATH, mine, reps["sync"])
        results["stock"]["sync one change"] = bs.stock_sync(running["stock"], mine, reps["sync"])
        for _ in range(reps["month"]):
            day = base + rng.randrange(max(1, days - 30)) * bs.DAY
            path = (f"/api/rooms/{bb.ROOM}/availability?start={bs.day_string(day)}"
                    f"&end={bs.day_string(day + 29 * bs.DAY)}")
            for store in ("file", "postgresql"):
                results[store].setdefault("month availability", []).append(
                    running[store].request("GET", path, expect=(200,))[0])
    finally:
        for server in running.values():
            servers.stop(server)
    return results


def throughput(workdir, hosts, database, duration, clients, servers, base):
    """``hosts`` roomcal hosts (one config folder each; on ``database`` if given) and 20
    rooms; new bookings into distinct free slots from ``clients`` threads."""
    configs = [bb.init_roomcal(os.path.join(workdir, f"host{h}"), database=database) for h in range(hosts)]
    cli = bb.ROOMCAL + ["--config", configs[0]]
    bb.run(cli + ["user", "add", "admin", "--password", bs.ADMIN[1], "--admin"], cwd=bb.REPO)
    bb.run(cli + ["user", "add", bb.USER, "--password", bb.PASSWORD], cwd=bb.REPO)
    token = bb.run(cli + ["token", "create", bb.USER], cwd=bb.REPO).stdout.strip().splitlines()[-1]
    running = [servers.start(bb.roomcal_server(bb.ROOMCAL + ["--config", config], WORKERS,
                                               os.path.join(os.path.dirname(config), "serve.log"),
                                               new_session=True)) for config in configs]
    try:
        for i in range(bs.ROOMS_LOAD):
            response = requests.post(f"{running[0].url}/api/admin/rooms", auth=bs.ADMIN, timeout=60,
                                     json={"id": f"load{i:02d}", "name": f"Load {i:02d}", "timezone": "UTC"})
            if response.status_code != 201:
                raise RuntimeError(f"POST /api/admin/rooms: {response.status_code} {response.text}")
        bs.CLIENTS = clients
        return bs.load([s.url for s in running], {"Authorization": f"Bearer {token}"}, None, duration, base)
    finally:
        for server in running:
            servers.stop(server)


def fmt_ms(values):
    return "—" if not values else bs.fmt(bs.median_ms(values), "ms")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--quick", action="store_true", help="few repetitions: a smoke run, not figures")
    parser.add_argument("--duration", type=float, help="seconds of each throughput load (default 20; quick 5)")
    parser.add_argument("--clients", type=int, default=16, help="client threads of the throughput rows")
    parser.add_argument("--json", metavar="PATH")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    reps = dict(QUICK if args.quick else FULL)
    if args.duration:
        reps["duration"] = args.duration
    rng = random.Random(args.seed)
    started, load_start = time.time(), os.getloadavg()
    base = int(started) // bs.DAY * bs.DAY + 2 * bs.DAY
    days = max(1, args.n * bb.SLOT // bs.DAY)
    workdir = tempfile.mkdtemp(prefix="roomcal-stores-")
    servers = bs.Servers()
    databases = []
    results, extra = {}, {"seed s": {}, "propfind": {}, "throughput": {}}
    try:
        events = bb.seed_events(args.n, base)
        directories = {"file": os.path.join(workdir, "file"), "postgresql": os.path.join(workdir, "postgresql"),
                       "stock": os.path.join(workdir, "stock")}
        log(f"seeding N = {args.n} (load average {load_start[0]:.2f})")
        extra["seed s"]["file"] = bb.setup_roomcal(directories["file"], events, log)["seed_seconds"]
        databases.append(sp.create_database())
        extra["seed s"]["postgresql"] = bb.setup_roomcal(directories["postgresql"], events, log,
                                                         database=sp.db_url(databases[-1]))["seed_seconds"]
        extra["seed s"]["stock"] = bb.setup_stock(directories["stock"], events, log)["seed_seconds"]
        log("first PROPFIND after a restart")
        for store in STORES:
            extra["propfind"][store] = first_propfind(store, directories[store], reps["cold"], servers)
        log("warm: new PUT, update PUT, REPORT, sync of one change, a month's availability")
        results = warm(directories, reps, servers, args.n, base, days, rng)
        for store in STORES:
            results[store]["first PROPFIND after a restart"] = extra["propfind"][store]
        log(f"throughput: {args.clients} clients, {bs.ROOMS_LOAD} rooms, {reps['duration']:g} s each")
        extra["throughput"]["file, 1 host"] = throughput(os.path.join(workdir, "load-file"), 1, None,
                                                         reps["duration"], args.clients, servers, base)
        for hosts in (1, 3):
            databases.append(sp.create_database())
            extra["throughput"][f"postgresql, {hosts} host{'s' if hosts > 1 else ''}"] = throughput(
                os.path.join(workdir, f"load-pg{hosts}"), hosts, sp.db_url(databases[-1]), reps["duration"],
                args.clients, servers, base)
    finally:
        servers.stop_all()
        for name in databases:
            if not args.keep:
                sp.drop_database(name)
        if args.keep:
            log(f"kept {workdir}, databases {databases}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    load_end = os.getloadavg()
    print(f"## the file store and PostgreSQL, N = {args.n}{' (quick)' if args.quick else ''} — "
          f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} CPUs, "
          f"run took {time.time() - started:.0f} s; load average {load_start[0]:.2f} → {load_end[0]:.2f}\n")
    print("| operation at N bookings in one room (median) | file store | PostgreSQL | stock | PG/file "
          "| file/stock | PG/stock |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for key in ("new PUT", "update PUT", "REPORT 1 day", "first PROPFIND after a restart", "sync one change",
                "month availability"):
        values = {store: results[store].get(key) for store in STORES}
        med = {store: bs.median_ms(v) for store, v in values.items()}

        def ratio(a, b):
            return f"{med[a] / med[b]:.2f}" if med[a] is not None and med[b] else "—"
        label = {"sync one change": "JSON sync of one change (stock: sync-collection)",
                 "REPORT 1 day": "1-day REPORT"}.get(key, key)
        print(f"| {label} (of {len(values['file'] or [])}) | {fmt_ms(values['file'])} | "
              f"{fmt_ms(values['postgresql'])} | {fmt_ms(values['stock'])} | {ratio('postgresql', 'file')} | "
              f"{ratio('file', 'stock')} | {ratio('postgresql', 'stock')} |")
    seed = extra["seed s"]
    print(f"| `roomcal import` of {args.n} (stock: writing files) | {seed['file']:.1f} s | "
          f"{seed['postgresql']:.1f} s | {seed['stock']:.1f} s | {seed['postgresql'] / seed['file']:.2f} | — | — |")
    print(f"\n| booking throughput, {args.clients} clients, {bs.ROOMS_LOAD} rooms, {reps['duration']:g} s, "
          f"{WORKERS} workers a host | bookings/s | answers |")
    print("|---|---:|---|")
    for label, t in extra["throughput"].items():
        print(f"| {label} | {t['per second']:.1f} | {t['statuses']} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"n": args.n, "results": results, "extra": extra,
                       "load": [load_start, load_end]}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""roomcal vs stock Radicale: booking figures over real HTTP, in one run.

For each N (default 100, 1000, 10000) one room gets N non-overlapping
30-minute bookings (one per hour, starting in two days).  The same events go
into both servers: stock Radicale gets one .ics file per event written into
its collection folder (with ``.Radicale.props`` = ``{"tag": "VCALENDAR"}``),
roomcal gets them through ``roomcal import`` (the booking core, in the storage
lock).  Then ``.Radicale.cache`` is dropped in both, both servers are started
(``roomcal serve`` and ``python -m radicale``, loopback ports, temporary
folders) and measured with identical requests:

* PROPFIND Depth 1 of the room on a cold start (one), then warm (median);
* the first 1-day REPORT after the cold start (roomcal rebuilds its index here);
* new booking PUT (median, 10 minutes each, in the free half-hours between bookings);
* update PUT of those items (same UID, changed SUMMARY);
* calendar-query REPORT with a 1-day time-range (median, random days);
* an initial sync-collection REPORT (as every syncing client does first), after which
  Radicale keeps a history entry per item; then new and update PUTs again
  ("full history": Radicale's ``_clean_history`` lists them on every upload).

Then, without HTTP, the SQLite index alone: 100 000 rows via
``Index.replace_room``, ``overlapping()`` over random 1-hour windows, one ``put``.

This is a script, not a test:  .venv/bin/python bench/bench_booking.py [--quick] [--sizes 100,1000]
"""

import argparse
import datetime
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable
ROOMCAL = [PYTHON, "-m", "roomcal.server.cli"]
ROOM = "r1"
ROOM_PATH = f"/rooms/{ROOM}/"
USER, PASSWORD = "bench", "bench-pw"
SLOT = 3600        # one booking per hour ...
LENGTH = 1800      # ... lasting 30 minutes
NEW = 600          # new bookings: 10 minutes, three places in each free half-hour

PROPFIND_BODY = """<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop>
<D:getetag/><D:resourcetype/><D:getcontenttype/><D:displayname/>
</D:prop></D:propfind>"""

REPORT_BODY = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:calendar-data/></D:prop>
<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
<C:time-range start="{start}" end="{end}"/>
</C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""

SYNC_BODY = """<?xml version="1.0" encoding="utf-8"?>
<D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level>
<D:prop><D:getetag/></D:prop></D:sync-collection>"""


# -- data ------------------------------------------------------------------------------
def ical_time(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def vevent(uid: str, start: int, end: int, summary: str) -> str:
    return ("BEGIN:VEVENT\r\n"
            f"UID:{uid}\r\n"
            "DTSTAMP:20260101T000000Z\r\n"
            f"DTSTART:{ical_time(start)}\r\n"
            f"DTEND:{ical_time(end)}\r\n"
            f"SUMMARY:{summary}\r\n"
            "END:VEVENT\r\n")


def vcalendar(*events: str) -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//roomcal bench//EN\r\n"
            + "".join(events) + "END:VCALENDAR\r\n")


def seed_events(n: int, base: int):
    """[(uid, start, end)] of the N stored bookings."""
    return [(f"seed-{i:06d}", base + i * SLOT, base + i * SLOT + LENGTH) for i in range(n)]


# -- processes --------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kwargs):
    result = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def listening_inode(port: int):
    """The inode of the socket listening on 127.0.0.1:port, from /proc/net/tcp."""
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":
                return fields[9]
    return None


def owns_socket(pid: int, inode: str) -> bool:
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    return True
            except OSError:
                continue
    except OSError:
        pass
    return False


class ServerProcess:
    """One server on a loopback port; always stopped by ``stop()``.

    The port is chosen at start and the listening socket must belong to our process
    (other programs on this machine pick free ports too).
    """

    def __init__(self, name, cmd, cwd, log_path, new_session=False):
        self.name, self.cmd, self.cwd, self.log_path = name, cmd, cwd, log_path
        self.new_session = new_session  # its own process group, so kill() takes the workers too
        self.process = None
        self.session = None

    def start(self, attempts=5):
        for attempt in range(attempts):
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            if self._start_once():
                self.session = requests.Session()
                self.session.auth = (USER, PASSWORD)
                return self
            self.stop()
        raise RuntimeError(f"{self.name} did not start; see {self.log_path}")

    def _start_once(self) -> bool:
        self.log = open(self.log_path, "ab")
        cmd = [part.replace("{port}", str(self.port)) for part in self.cmd]
        self.process = subprocess.Popen(cmd, cwd=self.cwd, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=self.new_session)
        deadline = time.time() + 60
        while time.time() < deadline:
            if self.process.poll() is not None:
                return False
            inode = listening_inode(self.port)
            if inode is not None:
                if not owns_socket(self.process.pid, inode):
                    return False  # somebody else took the port
                try:
                    requests.get(self.url + "/", timeout=2)
                    return True
                except requests.ConnectionError:
                    pass
            time.sleep(0.05)
        return False

    def kill(self):
        """kill -9 of the server's process group (master and workers; needs new_session)."""
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(30)
        self.log.close()
        self.process = None

    def stop(self):
        if self.session is not None:
            self.session.close()
            self.session = None
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                if self.new_session:  # the workers too
                    os.killpg(self.process.pid, signal.SIGKILL)
                else:
                    self.process.kill()
                self.process.wait(10)
        if self.process is not None:
            self.log.close()
        self.process = None

    def request(self, method, path, body=None, headers=None, expect=None):
        """(seconds, response) of one request; the whole body is read."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        t0 = time.perf_counter()
        response = self.session.request(method, self.url + path, data=data, headers=headers or {},
                                        timeout=600)
        _ = response.content
        elapsed = time.perf_counter() - t0
        if expect is not None and response.status_code not in expect:
            raise RuntimeError(f"{self.name}: {method} {path} -> {response.status_code} "
                               f"(wanted {expect}): {response.text[:500]}")
        return elapsed, response


def drop_caches(folder: str) -> None:
    for root, dirs, _ in os.walk(folder):
        if ".Radicale.cache" in dirs:
            shutil.rmtree(os.path.join(root, ".Radicale.cache"))
            dirs.remove(".Radicale.cache")


# -- the two installations ------------------------------------------------------------------
def init_roomcal(directory: str, *edits, database: str = None) -> str:
    """`roomcal init DIR [--database URL]`, the config edited by ``edits`` ((old, new) pairs,
    each old text must be there), by default with cheap bcrypt and no sign-in lock-outs (the
    scripts create users and send wrong credentials on purpose; they do not measure how
    sign-ins are guarded)."""
    run(ROOMCAL + ["init", directory] + (["--database", database] if database else []), cwd=REPO)
    config = os.path.join(directory, "radicale.conf")
    with open(config) as f:
        text = f.read()
    for old, new in edits or [("roomcal_bcrypt_rounds = 12", "roomcal_bcrypt_rounds = 4\nmax_failures = 1000000")]:
        assert old in text, f"{old!r} is not in {config}"
        text = text.replace(old, new, 1)
    with open(config, "w") as f:
        f.write(text)
    return config


def roomcal_server(cli, workers: int, log_path: str, new_session: bool = False) -> "ServerProcess":
    """``roomcal serve`` (``cli`` = the command with its --config) on a free loopback port."""
    return ServerProcess("roomcal", cli + ["serve", "--workers", str(workers), "--bind", "127.0.0.1:{port}"],
                         REPO, log_path, new_session=new_session)


def setup_roomcal(directory: str, events, log, database: str = None) -> dict:
    """roomcal init + users + room + `roomcal import` of the N events (into ``database``, a
    PostgreSQL URL, when given)."""
    config = init_roomcal(directory, database=database)
    cli = ROOMCAL + ["--config", config]
    run(cli + ["user", "add", "admin", "--password", "admin-pw", "--admin"], cwd=REPO)
    run(cli + ["user", "add", USER, "--password", PASSWORD], cwd=REPO)
    run(cli + ["room", "add", ROOM, "--name", "Bench room", "--timezone", "Europe/Berlin"], cwd=REPO)
    ics = os.path.join(directory, "seed.ics")
    with open(ics, "w", newline="") as f:
        f.write(vcalendar(*(vevent(uid, s, e, f"Seed {uid}") for uid, s, e in events)))
    t0 = time.perf_counter()
    run(cli + ["import", ROOM, ics], cwd=REPO)
    seconds = time.perf_counter() - t0
    log(f"  roomcal import of {len(events)} bookings: {seconds:.1f} s")
    folder = os.path.join(directory, "data", "collections")
    server = roomcal_server(cli, 1, os.path.join(directory, "serve.log"))
    return {"server": server, "folder": folder, "seed_seconds": seconds}


def setup_stock(directory: str, events, log) -> dict:
    """Stock Radicale (multifilesystem, no plugins): one .ics file per event."""
    folder = os.path.join(directory, "collections")
    room = os.path.join(folder, "collection-root", "rooms", ROOM)
    os.makedirs(room)
    config = os.path.join(directory, "radicale.conf")
    with open(config, "w") as f:
        f.write("[server]\nmax_content_length = 100000000\n"
                "delay_on_error = 0\n\n"
                "[auth]\ntype = none\n\n[rights]\ntype = authenticated\n\n"
                f"[storage]\nfilesystem_folder = {folder}\n\n"
                "[web]\ntype = none\n\n[logging]\nlevel = warning\n")
    t0 = time.perf_counter()
    with open(os.path.join(room, ".Radicale.props"), "w") as f:
        json.dump({"tag": "VCALENDAR"}, f)
    for uid, s, e in events:
        with open(os.path.join(room, f"{uid}.ics"), "w", newline="") as f:
            f.write(vcalendar(vevent(uid, s, e, f"Seed {uid}")))
    seconds = time.perf_counter() - t0
    log(f"  stock: wrote {len(events)} .ics files in {seconds:.1f} s")
    server = ServerProcess("stock", [PYTHON, "-m", "radicale", "--config", config,
                                     "--server-hosts", "127.0.0.1:{port}"],
                           directory, os.path.join(directory, "radicale.log"))
    return {"server": server, "folder": folder, "seed_seconds": seconds}


# -- measurements -------------------------------------------------------------------------------
def median_ms(values):
    return statistics.median(values) * 1000 if values else float("nan")


def report_body(day_start: int) -> str:
    return REPORT_BODY.format(start=ical_time(day_start), end=ical_time(day_start + 86400))


def measure_size(n: int, reps: dict, workdir: str, log, rng: random.Random) -> dict:
    today = int(time.time()) // 86400 * 86400
    base = today + 2 * 86400  # within the default 2-year horizon, so every write is checked
    events = seed_events(n, base)
    log(f"N = {n}: seeding")
    rc = setup_roomcal(os.path.join(workdir, f"roomcal-{n}"), events, log)
    st = setup_stock(os.path.join(workdir, f"stock-{n}"), events, log)
    servers = {"roomcal": rc["server"], "stock": st["server"]}
    results = {"roomcal": {}, "stock": {}}
    for name, setup in (("roomcal", rc), ("stock", st)):
        results[name]["seed s"] = setup["seed_seconds"]
    room_url = ROOM_PATH
    depth1 = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
    report_headers = {"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}
    ics_headers = {"Content-Type": "text/calendar; charset=utf-8"}
    days = max(1, n * SLOT // 86400)
    try:
        # Cold start: no .Radicale.cache anywhere, fresh processes.
        drop_caches(rc["folder"])
        drop_caches(st["folder"])
        for server in servers.values():
            server.start()
        for name, server in servers.items():
            seconds, response = server.request("PROPFIND", room_url, PROPFIND_BODY, depth1, expect=(207,))
            count = response.text.count("<response>")
            results[name]["PROPFIND d1 cold"] = [seconds]
            log(f"  {name}: cold PROPFIND depth 1 {seconds * 1000:.0f} ms ({count} responses)")
        for name, server in servers.items():
            results[name]["PROPFIND d1 warm"] = [
                server.request("PROPFIND", room_url, PROPFIND_BODY, depth1, expect=(207,))[0]
                for _ in range(reps["propfind"])]
        # The first REPORT after the cold start (roomcal: the index is stale, it rebuilds here).
        for name, server in servers.items():
            seconds, _ = server.request("REPORT", room_url, report_body(base), report_headers, expect=(207,))
            results[name]["first REPORT after cold start"] = [seconds]
        # Equal warm-up: every gthread worker thread opens its SQLite connection, caches are hot.
        for server in servers.values():
            for i in range(10):
                server.request("REPORT", room_url, report_body(base + (i % days) * 86400),
                               report_headers, expect=(207,))
        # New bookings, in free half-hours between stored ones (back-to-back: allowed).
        places = iter(rng.sample(range(3 * n), min(3 * n, 2 * reps["put"] + reps["warmup_put"])))

        def new_items(count):
            items = []
            for place in (next(places) for _ in range(count)):
                start = base + (place // 3) * SLOT + LENGTH + (place % 3) * NEW
                items.append((f"new-{n}-{place:06d}", start, start + NEW))
            return items

        def put_round(new_key, update_key, items, warm=()):
            for name in servers:
                results[name][new_key], results[name][update_key] = [], []
            for phase, batch in (("warm-up", warm), ("timed", items)):
                for uid, s, e in batch:
                    body = vcalendar(vevent(uid, s, e, "New booking"))
                    for name, server in servers.items():
                        seconds, _ = server.request("PUT", f"{room_url}{uid}.ics", body,
                                                    {**ics_headers, "If-None-Match": "*"}, expect=(201,))
                        if phase == "timed":
                            results[name][new_key].append(seconds)
            for uid, s, e in items:
                body = vcalendar(vevent(uid, s, e, "Changed title"))
                for name, server in servers.items():
                    seconds, _ = server.request("PUT", f"{room_url}{uid}.ics", body, ics_headers,
                                                expect=(204, 201))
                    results[name][update_key].append(seconds)

        warm = new_items(reps["warmup_put"])
        put_round("new PUT", "update PUT", new_items(reps["put"]), warm)
        results["roomcal"]["REPORT 1 day"], results["stock"]["REPORT 1 day"] = [], []
        counts = {}
        for _ in range(reps["report"]):
            day = base + rng.randrange(days) * 86400
            for name, server in servers.items():
                seconds, response = server.request("REPORT", room_url, report_body(day), report_headers,
                                                   expect=(207,))
                counts.setdefault(name, []).append(response.text.count("BEGIN:VEVENT"))
                results[name]["REPORT 1 day"].append(seconds)
        if counts["roomcal"] != counts["stock"]:
            log(f"  WARNING: REPORT results differ: roomcal {counts['roomcal']} vs stock {counts['stock']}")
        log(f"  REPORT events per day (roomcal/stock): {counts['roomcal'][:5]} / {counts['stock'][:5]}")
        # A client's first sync: from now on both keep a history entry per item.
        for name, server in servers.items():
            seconds, _ = server.request("REPORT", room_url, SYNC_BODY, report_headers, expect=(207,))
            results[name]["sync-collection initial"] = [seconds]
        put_round("new PUT, full history", "update PUT, full history", new_items(reps["put"]))
    finally:
        for server in servers.values():
            server.stop()
    return results


def measure_index(rows_count: int, windows: int, workdir: str, log, rng: random.Random) -> dict:
    sys.path.insert(0, REPO)
    from roomcal.storage.index import Index, Row
    index = Index(os.path.join(workdir, "index-bench.sqlite"))
    room = "rooms/idx"
    base = 1_800_000_000
    rows = [Row(f"b{i}.ics", f"uid-{i}", base + i * SLOT, base + i * SLOT + LENGTH, False, True, "", f"B{i}")
            for i in range(rows_count)]
    t0 = time.perf_counter()
    index.replace_room(room, rows, "fp")
    replace = time.perf_counter() - t0
    span = rows_count * SLOT
    times, found = [], 0
    for _ in range(windows):
        start = base + rng.randrange(span)
        t0 = time.perf_counter()
        hits = index.overlapping(room, start, start + 3600)
        times.append(time.perf_counter() - t0)
        found += len(hits)
    puts = []
    for i in range(21):
        start = base + (rows_count + i) * SLOT
        row = Row(f"p{i}.ics", f"put-{i}", start, start + LENGTH, False, True)
        t0 = time.perf_counter()
        index.put(room, row, "fp")
        puts.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    index.href_of_uid(room, "uid-12345")
    uid_lookup = time.perf_counter() - t0
    log(f"index: {rows_count} rows replaced in {replace:.2f} s; {windows} windows, "
        f"{found / windows:.2f} hits on average")
    return {"rows": rows_count, "replace_room s": replace,
            "overlapping median ms": statistics.median(times) * 1000,
            "overlapping p95 ms": sorted(times)[int(len(times) * 0.95) - 1] * 1000,
            "put first ms": puts[0] * 1000, "put median ms": statistics.median(puts[1:]) * 1000,
            "href_of_uid ms": uid_lookup * 1000}


# -- output ---------------------------------------------------------------------------------------
OPERATIONS = ("new PUT", "update PUT", "new PUT, full history", "update PUT, full history",
              "REPORT 1 day", "PROPFIND d1 cold", "PROPFIND d1 warm", "first REPORT after cold start",
              "sync-collection initial")


def table(all_results: dict) -> str:
    lines = ["| operation | N | roomcal median (ms) | stock median (ms) | ratio roomcal/stock |",
             "|---|---:|---:|---:|---:|"]
    for op in OPERATIONS:
        for n, results in all_results.items():
            a, b = median_ms(results["roomcal"][op]), median_ms(results["stock"][op])
            count = len(results["roomcal"][op])
            label = op if count == 1 else f"{op} (×{count})"
            lines.append(f"| {label} | {n} | {a:.1f} | {b:.1f} | {a / b:.2f} |")
    for n, results in all_results.items():
        a, b = results["roomcal"]["seed s"], results["stock"]["seed s"]
        lines.append(f"| seeding: roomcal import vs writing files | {n} | {a * 1000:.0f} | {b * 1000:.0f} | "
                     f"{a / b:.1f} |")
    return "\n".join(lines)


def verdict(all_results: dict) -> str:
    sizes = sorted(all_results)
    out = []
    lo, hi = sizes[0], sizes[-1]
    note = "" if (lo, hi) == (100, 10000) else "; the target is for N=100 -> 10000"
    for op in ("new PUT", "new PUT, full history"):
        put = {n: median_ms(all_results[n]["roomcal"][op]) for n in sizes}
        stock_put = {n: median_ms(all_results[n]["stock"][op]) for n in sizes}
        if lo != hi:
            growth = put[hi] / put[lo]
            out.append(f"{op}: roomcal median growth N={lo} -> N={hi}: {put[lo]:.1f} -> {put[hi]:.1f} ms "
                       f"= {growth:.2f}x (target <= 1.5x{note}): {'MET' if growth <= 1.5 else 'MISSED'}"
                       f"; stock: {stock_put[lo]:.1f} -> {stock_put[hi]:.1f} ms = "
                       f"{stock_put[hi] / stock_put[lo]:.2f}x")
        ratio = put[hi] / stock_put[hi]
        out.append(f"{op} at N={hi}: roomcal/stock = {ratio:.3f} (target <= 0.1 at N=10000): "
                   f"{'MET' if ratio <= 0.1 else 'MISSED'}")
    report = median_ms(all_results[hi]["roomcal"]["REPORT 1 day"]) / \
        median_ms(all_results[hi]["stock"]["REPORT 1 day"])
    out.append(f"REPORT 1 day at N={hi}: roomcal/stock = {report:.3f} (target <= 0.1): "
               f"{'MET' if report <= 0.1 else 'MISSED'}")
    return "\n".join(f"- {line}" for line in out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated N (default 100,1000,10000)")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (a smoke run, not figures)")
    parser.add_argument("--index-rows", type=int, default=100_000)
    parser.add_argument("--no-index", action="store_true", help="skip the index-only measurement")
    parser.add_argument("--json", metavar="PATH", help="also write the raw timings as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C: every server started is stopped, the temp folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    reps = ({"put": 10, "warmup_put": 3, "report": 8, "propfind": 2, "windows": 200} if args.quick else
            {"put": 50, "warmup_put": 5, "report": 20, "propfind": 5, "windows": 1000})
    rng = random.Random(args.seed)

    def log(message):
        print(message, file=sys.stderr, flush=True)

    workdir = tempfile.mkdtemp(prefix="roomcal-bench-")
    started = time.time()
    all_results = {}
    try:
        for n in sizes:
            all_results[n] = measure_size(n, reps, workdir, log, rng)
        index = None if args.no_index else measure_index(args.index_rows, reps["windows"], workdir, log, rng)
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    print(f"## roomcal vs stock Radicale {'(quick) ' if args.quick else ''}"
          f"— {datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs, "
          f"run took {time.time() - started:.0f} s\n")
    print(table(all_results))
    print()
    print(verdict(all_results))
    if index:
        print(f"\n### Index alone ({index['rows']} rows, no HTTP)\n")
        print("| operation | ms |\n|---|---:|")
        print(f"| replace_room ({index['rows']} rows) | {index['replace_room s'] * 1000:.0f} |")
        print(f"| overlapping(), median of {reps['windows']} random 1-hour windows | "
              f"{index['overlapping median ms']:.3f} |")
        print(f"| overlapping(), p95 | {index['overlapping p95 ms']:.3f} |")
        print(f"| put (first, single) | {index['put first ms']:.3f} |")
        print(f"| put (median of 20 more) | {index['put median ms']:.3f} |")
        print(f"| href_of_uid | {index['href_of_uid ms']:.3f} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sizes": {str(n): r for n, r in all_results.items()}, "index": index}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

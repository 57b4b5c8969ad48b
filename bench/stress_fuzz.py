"""Fuzzing (issues 7 and 12): generated malformed requests -> 0 responses >= 500, nothing stored
by a rejected write, the server still answering afterwards.

Categories of issue 7: iCalendar bodies (PUT into a room and a personal calendar, POST to /api),
JSON bodies (POST/PUT on the CalDAV URLs, /api bookings, /api/admin), PatchObjects (PATCH),
WebDAV XML (PROPFIND/REPORT), headers (Authorization, If-Match, Content-Type, Depth), paths and
query strings.  Classes of issue 12 (hardening), aimed at a room of their own: VTIMEZONE rules
(sub-yearly observances, DTSTART in 1601 or year 1, huge RDATE lists, thousands of observances,
IANA names with made-up offsets, nested VTIMEZONEs), pathological recurrence rules (filters that
rarely or never match, BYSETPOS over 86 400 candidates a day, SECONDLY/MINUTELY with and without
an end, DTSTART far in the past, huge INTERVAL, EXRULE; as iCalendar and as JSCalendar),
encodings (BOMs, UTF-16/32 bodies, charsets that disagree with the bytes, transform codecs as
charsets, XML in UTF-16 with a DOCTYPE), year 1 and 9999 (in DTSTART/DTEND/UNTIL, JSON starts,
the query parameters of listings, availability, the room finder and bookings, REPORT time
ranges, reschedule) and control characters (CR/LF, NUL, ESC, U+2028 ... in every string field
of JSCalendar bodies, booking bodies, verbs and /api/admin users, rooms, groups, tokens and
templates, and in iCalendar parameter values).

Each input is built by a seeded generator: a valid request, then mutated.  Before and after
every write the ETags of the rooms and of the personal calendar are read (and for /api/admin
writes the admin listings): a write answered >= 400 must leave them unchanged.  A write of the
VTIMEZONE, RRULE and year-1/9999 classes that is accepted is read back at once (a JSON listing
with a time range, the room's availability, a CalDAV REPORT with <C:expand>).  Every request's
wall time is recorded (those over 2 s are listed), and the resident memory (VmRSS) of every
gunicorn worker of the server this script started is read before, during and after the run.

    .venv/bin/python bench/stress_fuzz.py [--inputs 10000] [--seed 1] [--categories all|old|new|a,b]
        [--max-seconds 3600] [--json out.json] [--keep]

``tests/test_fuzz.py`` drives the same generators through hypothesis (a small, derandomized
subset of the six categories of issue 7, ``CATEGORIES``; the issue-12 classes are ``HARDENING``).
"""

import argparse
import collections
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
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
sys.path.insert(0, os.path.join(os.path.dirname(BENCH), "tests"))
from support.fuzz import (ALL_CATEGORIES, CATEGORIES, HARDENING, HROOM, PASSWORD, PERSONAL, SLOW,  # noqa: E402
                          USER, Fuzzer, Hung, full_event, seed_server)


# -- the server's workers -------------------------------------------------------------------
def worker_pids(master: int) -> list:
    """The gunicorn workers: children of the `roomcal serve` process."""
    try:
        with open(f"/proc/{master}/task/{master}/children") as f:
            return sorted(int(p) for p in f.read().split())
    except OSError:
        pids = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == master:
                            pids.append(int(entry))
                except (OSError, IndexError, ValueError):
                    continue
        return sorted(pids)


def rss_kb(pid: int):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def worker_rss(master: int) -> dict:
    return {pid: kb for pid in worker_pids(master) if (kb := rss_kb(pid)) is not None}


def log_summary(path: str) -> dict:
    """5xx in the access log, exceptions (last line of each traceback), worker replacements."""
    fivexx, exceptions, replaced = 0, collections.Counter(), []
    in_traceback = False
    with open(path, errors="replace") as f:
        for line in f:
            if re.search(r'" 5\d\d ', line):
                fivexx += 1
            if "replacing worker" in line:
                replaced.append(line.strip()[:300])
            if "Traceback (most recent call last)" in line:
                in_traceback = True
                continue
            if in_traceback and line.strip() and not line.startswith((" ", "\t")):
                exceptions[line.strip()[:160]] += 1
                in_traceback = False
    return {"fivexx_logged": fivexx, "exceptions": exceptions, "replaced": replaced}


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def warm_up(fuzzer, rng):
    """A few harmless requests of every kind, so that every worker has imported what it needs
    before its memory is first read."""
    for _ in range(40):
        fuzzer.session.get(fuzzer.url + f"/rooms/{HROOM}/?start=2027-03-01&end=2027-04-01", auth=(USER, PASSWORD),
                           headers={"Accept": "application/json"}, timeout=60)
        fuzzer.session.get(fuzzer.url + f"/api/rooms/{HROOM}/availability?start=2027-03-01&end=2027-03-08",
                           auth=(USER, PASSWORD), timeout=60)
        fuzzer.session.request("PROPFIND", fuzzer.url + f"/rooms/{HROOM}/", auth=(USER, PASSWORD),
                               headers={"Depth": "1"}, timeout=60)
        fuzzer.session.post(fuzzer.url + f"/api/rooms/{HROOM}/check", auth=(USER, PASSWORD), timeout=60,
                            headers={"Content-Type": "application/json"},
                            data=json.dumps(full_event(rng)).encode())


def cpu_ticks(pid: int):
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


class Servers:
    """The `roomcal serve` of this run, its workers' memory, and its restarts after a hang."""

    def __init__(self, cli, workers, log_path, workdir, py_spy=None, max_restarts=20):
        from bench_booking import roomcal_server
        self.server = roomcal_server(cli, workers, log_path, new_session=True)
        self.workdir, self.py_spy, self.max_restarts = workdir, py_spy, max_restarts
        self.rss_first, self.rss_last, self.rss_peak = {}, {}, {}
        self.restarts = []
        self.removed = []

    def start(self) -> str:
        self.server.start()
        return self.server.url

    def sample(self, first=False):
        for pid, kb in worker_rss(self.server.process.pid).items():
            if first or pid not in self.rss_first:
                self.rss_first.setdefault(pid, kb)
            self.rss_last[pid] = kb
            self.rss_peak[pid] = max(self.rss_peak.get(pid, 0), kb)

    def recover(self, strays, what, wipe=False) -> str:
        """The server stopped answering: note what its workers do, kill it, take out the items
        of refused writes that were stored anyway (they are kept in strays/), start it again.
        ``wipe``: it hung again at once: every item of the issue-12 room and the personal
        calendar is taken out too."""
        if len(self.restarts) >= self.max_restarts:
            raise SystemExit(f"the server hung {len(self.restarts) + 1} times; giving up")
        master = self.server.process.pid
        workers = worker_pids(master)
        ticks = {pid: cpu_ticks(pid) for pid in workers}
        time.sleep(1)
        busy = {pid: (cpu_ticks(pid) or 0) - (ticks[pid] or 0) for pid in workers}
        self.sample()
        dumps = None
        if self.py_spy:
            dumps = os.path.join(self.workdir, f"hang-{len(self.restarts) + 1}-stacks.txt")
            with open(dumps, "w") as out:
                for pid in workers:
                    out.write(f"== worker {pid}\n")
                    out.flush()
                    subprocess.run([self.py_spy, "dump", "--pid", str(pid)], stdout=out, stderr=subprocess.STDOUT,
                                   timeout=60)
        self.server.kill()
        removed = []
        root = os.path.join(self.workdir, "data", "collections", "collection-root")
        if wipe:
            for collection in (f"/rooms/{HROOM}/", PERSONAL):
                folder = os.path.join(root, collection.strip("/"))
                strays = strays + [(collection, collection + name) for name in sorted(os.listdir(folder))
                                   if name.endswith(".ics")]
        for collection, href in strays:
            relative = href if href.startswith("/") else collection + href
            source = os.path.join(root, relative.strip("/"))
            if os.path.isfile(source):
                target = os.path.join(self.workdir, "strays", relative.strip("/").replace("/", "_"))
                os.makedirs(os.path.dirname(target), exist_ok=True)
                shutil.move(source, target)
                removed.append(relative)
        self.removed += removed
        self.restarts.append(dict(what, cpu_ticks_in_1s=busy, removed=removed, stacks=dumps, wiped=wipe))
        print(f"  server hung ({what['stage']}) on {what['category']} [{what['label'][:60]}] {what['method']} "
              f"{what['path'][:80]}; worker CPU in 1 s: {busy}; restarted, {len(removed)} "
              f"{'item(s) of the hardening room and personal calendar' if wipe else 'stray item(s)'} taken out",
              flush=True)
        return self.start()


def main(argv=None):
    from bench_booking import REPO, ROOMCAL, init_roomcal, run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--categories", default="all",
                        help="all, old (issue 7's six), new (issue 12's five) or a comma-separated list "
                             f"of {', '.join(ALL_CATEGORIES)}")
    parser.add_argument("--max-seconds", type=float, default=3600, help="stop sending after this long")
    parser.add_argument("--request-timeout", type=float, default=60,
                        help="seconds without an answer after which the server counts as hung (it is then "
                             "killed and started again, and the run goes on)")
    parser.add_argument("--max-restarts", type=int, default=20)
    parser.add_argument("--keep-accepted", action="store_true",
                        help="keep what issue-12 inputs stored (by default each accepted item is deleted once "
                             "read back): then the run also measures what thousands of them cost together")
    parser.add_argument("--py-spy", help="path of py-spy: dump the workers' stacks when the server hangs")
    parser.add_argument("--rss-every", type=int, default=250, help="read the workers' memory every N inputs")
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and log")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    categories = {"all": ALL_CATEGORIES, "old": CATEGORIES, "new": HARDENING}.get(args.categories) or \
        tuple(c.strip() for c in args.categories.split(","))
    unknown = set(categories) - set(ALL_CATEGORIES)
    if unknown:
        parser.error(f"unknown categories: {', '.join(sorted(unknown))}")
    workdir = tempfile.mkdtemp(prefix="roomcal-fuzz-")
    # init_roomcal turns lock-outs off: the headers category sends bad credentials from
    # 127.0.0.1, like the fuzzer's own user (tests/test_logins.py and bench/login_figures.py
    # measure lock-outs)
    config = init_roomcal(workdir)
    cli = ROOMCAL + ["--config", config]
    seed_server(lambda *args: run(cli + list(args), cwd=REPO))
    log_path = os.path.join(workdir, "serve.log")
    servers = Servers(cli, args.workers, log_path, workdir, args.py_spy, args.max_restarts)
    rng = random.Random(args.seed)
    stopped_early = None
    alive = False
    t0 = time.time()
    fuzzer = None
    try:
        url = servers.start()
        fuzzer = Fuzzer(url, recover=servers.recover, timeout=args.request_timeout, keep_accepted=args.keep_accepted)
        fuzzer.setup()
        warm_up(fuzzer, random.Random(0))
        servers.sample(first=True)
        print(f"server on {url}, workers {sorted(servers.rss_first)}; RSS before (after warm-up): "
              + ", ".join(f"{pid}: {kb / 1024:.0f} MB" for pid, kb in sorted(servers.rss_first.items())), flush=True)
        t0 = time.time()
        for i in range(args.inputs):
            fuzzer.one(categories[i % len(categories)], rng)
            if (i + 1) % args.rss_every == 0:
                servers.sample()
            if (i + 1) % 1000 == 0:
                print(f"  {i + 1} inputs, {len(fuzzer.failures)} failures, {len(fuzzer.slow)} over {SLOW:g} s, "
                      f"{len(servers.restarts)} restarts, {time.time() - t0:.0f} s", flush=True)
            if time.time() - t0 > args.max_seconds:
                stopped_early = i + 1
                print(f"  stopped after {i + 1} inputs: --max-seconds {args.max_seconds:g} reached", flush=True)
                break
        elapsed = time.time() - t0
        alive = fuzzer.alive()
        servers.sample()
    except (Hung, SystemExit) as e:
        elapsed = time.time() - t0
        stopped_early = f"gave up: {e}"
        print(f"  {stopped_early}", flush=True)
    finally:
        servers.server.stop()
    if fuzzer is None:
        return 1
    logged = log_summary(log_path)
    print(f"inputs: {sum(fuzzer.counts.values())} in {elapsed:.0f} s (seed {args.seed}, {args.workers} workers)")
    for category in categories:
        times = fuzzer.times[category]
        print(f"  {category}: {fuzzer.counts[category]} inputs, statuses "
              f"{dict(sorted(fuzzer.statuses[category].items(), key=str))}; {len(times)} requests, median "
              f"{statistics.median(times) * 1000:.1f} ms, p95 {percentile(times, 0.95) * 1000:.1f} ms, "
              f"max {max(times) * 1000:.0f} ms" if times else "")
        reads = {s: c for (cat, s), c in fuzzer.read_backs.items() if cat == category}
        if reads:
            print(f"    read-backs of accepted writes: {dict(sorted(reads.items(), key=str))}")
    fivexx = sum(c for cat in fuzzer.statuses.values() for s, c in cat.items() if not isinstance(s, int) or s >= 500)
    fivexx_reads = sum(c for (_, s), c in fuzzer.read_backs.items() if not isinstance(s, int) or s >= 500)
    print(f"responses >= 500 (or no answer): {fivexx} to inputs, {fivexx_reads} to read-backs; "
          f"5xx in the access log: {logged['fivexx_logged']}; rejected writes that changed storage: "
          f"{len(fuzzer.stored_anyway)}; hangs (no answer within {args.request_timeout:g} s, server restarted): "
          f"{len(fuzzer.hangs)}; server answering afterwards: {alive}")
    for category in categories:
        examples = fuzzer.fivexx.get(category)
        if not examples:
            continue
        by_label = collections.Counter(" ".join(e["label"].split()[:3]) for e in examples)
        print(f"  5xx in {category}: {len(examples)}; by variant: {dict(by_label.most_common(12))}")
        e = examples[0]
        print(f"    e.g. {e['method']} {e['path']} ({e['content_type']}) -> {e['status']}{e['note']}: "
              f"{e['body'][:200]!r} answer {e['answer'][:150]!r}")
    for stored in fuzzer.stored_anyway[:10]:
        print(f"  refused but stored: {stored['status']} to {stored['category']} [{stored['label'][:60]}] "
              f"{stored['method']} {stored['path'][:80]}")
    for hang in fuzzer.hangs[:10]:
        print(f"  hang: {hang['category']} [{hang['label'][:60]}] {hang['method']} {hang['path'][:80]} "
              f"({hang['stage']})")
    for restart in servers.restarts[:10]:
        print(f"    restart: worker CPU ticks in 1 s {restart['cpu_ticks_in_1s']}, taken out "
              f"{len(restart['removed']) if restart['wiped'] else restart['removed']}{' (room wiped)' if restart['wiped'] else ''}"
              + (f", stacks in {restart['stacks']}" if restart["stacks"] else ""))
    if logged["exceptions"]:
        print("exceptions in the server log (last line of each traceback):")
        for line, count in logged["exceptions"].most_common(20):
            print(f"  {count} x {line}")
    for error in fuzzer.errors[:5]:
        print(f"  no answer: {error}")
    if fuzzer.unannounced_close:
        print(f"413 answers with 'Connection: keep-alive' on a connection the server then closes: "
              f"{len(fuzzer.unannounced_close)}, e.g. {fuzzer.unannounced_close[0]}")
    print(f"requests over {SLOW:g} s: {len(fuzzer.slow)} "
          f"{dict(collections.Counter(s['category'] for s in fuzzer.slow))}")
    for slow in sorted(fuzzer.slow, key=lambda s: -s["seconds"])[:15]:
        print(f"  {slow['seconds']:.1f} s {slow['category']} [{slow['label'][:70]}] {slow['method']} "
              f"{slow['path'][:80]} -> {slow['status']} ({slow['bytes']} bytes)")
    if fuzzer.cleanups:
        print(f"accepted issue-12 items deleted after their read-back: {dict(fuzzer.cleanups)}")
    print("items stored at the end: " + ", ".join(f"{path} {len(items)}" for path, items in
                                                  getattr(fuzzer, "snapshots", {}).items()))
    if fuzzer.collection_reads:
        for collection in (f"/rooms/{HROOM}/", PERSONAL):
            for method in ("GET", "REPORT"):
                seconds = [c[5] for c in fuzzer.collection_reads if c[3] == collection and c[2] == method]
                if seconds:
                    third = max(1, len(seconds) // 3)
                    print(f"whole-collection {method} of {collection} (a month, {'JSON listing' if method == 'GET' else 'expand'}): "
                          f"{len(seconds)} reads, median {statistics.median(seconds) * 1000:.0f} ms; first third "
                          f"{statistics.median(seconds[:third]) * 1000:.0f} ms, last third "
                          f"{statistics.median(seconds[-third:]) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms")
    print(f"workers replaced by the watchdog: {len(logged['replaced'])}")
    for line in logged["replaced"][:5]:
        print("  " + line)
    rss_first, rss_last, rss_peak = servers.rss_first, servers.rss_last, servers.rss_peak
    print("worker RSS (MB; first reading after warm-up or after a restart, peak, last reading): " + "; ".join(
        f"{pid}: {rss_first[pid] / 1024:.0f} / {rss_peak[pid] / 1024:.0f} / {rss_last[pid] / 1024:.0f}"
        for pid in sorted(rss_first)))
    growth = {pid: rss_last[pid] - rss_first[pid] for pid in rss_first}
    if growth:
        worst = max(growth, key=growth.get)
        print(f"worst RSS growth: {growth[worst] / 1024:+.1f} MB (worker {worst}); highest peak "
              f"{max(rss_peak.values()) / 1024:.0f} MB")
    if fuzzer.accepted_controls:
        by_field = collections.Counter()
        for label, count in fuzzer.accepted_controls.items():
            by_field[" ".join(label.split()[:2])] += count
        print(f"accepted (2xx) with a control character in a field (for the record): {sum(by_field.values())}: "
              f"{dict(by_field.most_common(30))}")
        for label, count in fuzzer.accepted_controls.most_common(8):
            print(f"  {count} x {label}: e.g. {fuzzer.accepted_examples[label]['body'][:160]!r}")
    ok = not fuzzer.failures and alive and not logged["fivexx_logged"] and not stopped_early
    print("RESULT:", "OK" if ok else f"FAIL (log: {log_path})")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"inputs": sum(fuzzer.counts.values()), "seconds": elapsed, "seed": args.seed,
                       "stopped_early": stopped_early,
                       "statuses": {c: {str(k): v for k, v in s.items()} for c, s in fuzzer.statuses.items()},
                       "times": {c: {"n": len(t), "median": statistics.median(t), "p95": percentile(t, 0.95),
                                     "max": max(t)} for c, t in fuzzer.times.items() if t},
                       "fivexx": fuzzer.fivexx, "slow": fuzzer.slow, "hangs": fuzzer.hangs,
                       "restarts": servers.restarts, "stored_anyway": fuzzer.stored_anyway,
                       "rss_first_kb": rss_first, "rss_peak_kb": rss_peak, "rss_last_kb": rss_last,
                       "exceptions": dict(logged["exceptions"]), "replaced": logged["replaced"],
                       "accepted_controls": dict(fuzzer.accepted_controls),
                       "read_backs": {f"{c} {s}": n for (c, s), n in fuzzer.read_backs.items()},
                       "collection_reads": fuzzer.collection_reads, "errors": fuzzer.errors, "unannounced_close": fuzzer.unannounced_close,
                       "failures": [[str(x) for x in f] for f in fuzzer.failures]}, f, indent=1, default=str)
    if not args.keep and ok:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

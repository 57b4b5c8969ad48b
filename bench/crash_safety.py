#!/usr/bin/env python3
"""Crash safety: kill -9 ``roomcal serve`` in the middle of a write storm, restart, verify.

Each round:

1. a write storm against ``roomcal serve --workers 2`` (loopback port, temporary folder):
   ``--threads`` client threads create non-conflicting bookings in ``--rooms`` rooms, half by
   CalDAV PUT (``/rooms/<id>/<uid>.ics``), half by JSON POST (JSCalendar into ``/rooms/<id>/``),
   remembering every href answered 2xx and what was written;
2. after a random 1–3 s, SIGKILL to the server's whole process group (gunicorn master and
   workers), while requests are in flight;
3. ``roomcal check`` on the store as the crash left it (and ``check --repair`` if it is not
   clean), every item file parsed (Radicale's reader and roomcal's Booking);
4. restart, then every acknowledged write is looked for: its file must exist with the UID,
   SUMMARY and DTSTART written (and a GET through the restarted server must answer 200);
   ``roomcal check`` again with the server running.

The store is kept across rounds (each round adds to it).  Prints one table row per round.

This is a script, not a test:  .venv/bin/python bench/crash_safety.py [--rounds 5] [--threads 8]
"""

import argparse
import datetime
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import icalendar
import requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "bench"))

from bench_booking import init_roomcal, roomcal_server  # noqa: E402

from roomcal.storage.check import parse_error  # noqa: E402

PYTHON = sys.executable
ROOMCAL = [PYTHON, "-m", "roomcal.server.cli"]
USER, PASSWORD = "storm", "storm-pw"
SLOT = 1800  # every write gets its own half-hour in its room: nothing conflicts
BASE = int(time.time()) // 86400 * 86400 + 2 * 86400  # midnight UTC, two days ahead


def ical_time(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def run(config, *args, check=False):
    result = subprocess.run(ROOMCAL + ["--config", config, *args], capture_output=True, text=True, cwd=REPO)
    if check and result.returncode != 0:
        raise RuntimeError(f"roomcal {' '.join(args)} failed: {result.stderr.strip()}")
    return result


def server_for(config, log_path, workers=2):
    """``roomcal serve`` in its own session, so kill() takes the whole group (kill -9)."""
    return roomcal_server(ROOMCAL + ["--config", config], workers, log_path, new_session=True)


class Storm:
    """Client threads writing non-conflicting bookings until told to stop or the server dies."""

    def __init__(self, url, rooms, threads, slots):
        self.url, self.rooms, self.threads = url, rooms, threads
        self.slots = slots  # a shared itertools.count per room, across rounds
        self.lock = threading.Lock()
        self.acked = {}  # href -> (uid or None, summary, dtstart)
        self.errors = 0
        self.refused = 0
        self.stop = threading.Event()

    def run(self):
        workers = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(self.threads)]
        for w in workers:
            w.start()
        return workers

    def _client(self, n):
        session = requests.Session()
        session.auth = (USER, PASSWORD)
        rng = random.Random(n)
        while not self.stop.is_set():
            room = rng.choice(self.rooms)
            with self.lock:
                slot = next(self.slots[room])
            start = BASE + slot * SLOT
            summary = f"storm {uuid.uuid4().hex[:12]}"
            try:
                if rng.random() < 0.5:
                    uid = str(uuid.uuid4())
                    href = f"/rooms/{room}/{uid}.ics"
                    body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crash safety//EN\r\n"
                            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
                            f"DTSTART:{ical_time(start)}\r\nDTEND:{ical_time(start + SLOT)}\r\n"
                            f"SUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
                    r = session.put(self.url + href, data=body.encode(), timeout=30,
                                    headers={"Content-Type": "text/calendar; charset=utf-8",
                                             "If-None-Match": "*"})
                else:
                    uid = None
                    local = datetime.datetime.fromtimestamp(start, datetime.timezone.utc)
                    body = {"@type": "Event", "title": summary, "timeZone": "Etc/UTC",
                            "start": local.strftime("%Y-%m-%dT%H:%M:%S"), "duration": "PT30M"}
                    r = session.post(self.url + f"/rooms/{room}/", data=json.dumps(body), timeout=30,
                                     headers={"Content-Type": "application/json"})
                    href = r.headers.get("Location", "")
                    if href.startswith("http"):
                        href = "/" + href.split("/", 3)[3]
            except requests.RequestException:
                with self.lock:
                    self.errors += 1
                if self.stop.is_set():
                    return
                time.sleep(0.05)
                continue
            with self.lock:
                if 200 <= r.status_code < 300 and href:
                    self.acked[href] = (uid, summary, ical_time(start))
                else:
                    self.refused += 1


def check_result(config):
    """('clean' | 'N problem(s)', output lines) of ``roomcal check``."""
    result = run(config, "check")
    lines = result.stdout.strip().splitlines()
    return ("clean" if result.returncode == 0 else f"{len(lines) - 1} problem(s)"), lines


def stored_items(collections):
    """{href: path} of every item file in every room."""
    items = {}
    rooms_folder = os.path.join(collections, "collection-root", "rooms")
    for room in sorted(os.listdir(rooms_folder)):
        folder = os.path.join(rooms_folder, room)
        if room.startswith(".") or not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            path = os.path.join(folder, name)
            if not name.startswith(".") and os.path.isfile(path):
                items[f"/rooms/{room}/{name}"] = path
    return items


def verify_acked(acked, items):
    """hrefs of acknowledged writes that are missing or not what was written."""
    missing, wrong = [], []
    for href, (uid, summary, dtstart) in acked.items():
        path = items.get(href)
        if path is None:
            missing.append(href)
            continue
        with open(path, "rb") as f:
            event = icalendar.Calendar.from_ical(f.read()).walk("VEVENT")[0]
        start = event.decoded("DTSTART").astimezone(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        if (uid is not None and str(event["UID"]) != uid) or str(event.get("SUMMARY")) != summary \
                or start != dtstart:
            wrong.append(href)
    return missing, wrong


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--rooms", type=int, default=4)
    parser.add_argument("--min-storm", type=float, default=1.0, help="seconds before the kill, at least")
    parser.add_argument("--max-storm", type=float, default=3.0, help="seconds before the kill, at most")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    folder = tempfile.mkdtemp(prefix="roomcal-crash-")
    config = os.path.join(folder, "radicale.conf")
    init_roomcal(folder)
    run(config, "user", "add", USER, "--password", PASSWORD, check=True)
    rooms = [f"crash{i}" for i in range(args.rooms)]
    for room in rooms:
        run(config, "room", "add", room, "--name", f"Crash {room}", check=True)
    collections = os.path.join(folder, "data", "collections")
    slots = {room: itertools.count() for room in rooms}
    all_acked = {}
    table = []
    server = server_for(config, os.path.join(folder, "serve.log")).start()
    try:
        for round_number in range(1, args.rounds + 1):
            storm = Storm(server.url, rooms, args.threads, slots)
            workers = storm.run()
            time.sleep(rng.uniform(args.min_storm, args.max_storm))
            server.kill()  # kill -9, requests in flight
            storm.stop.set()
            for w in workers:
                w.join(60)
            all_acked.update(storm.acked)

            # the store as the crash left it
            items = stored_items(collections)
            unparseable = [href for href, path in items.items() if parse_error(path, datetime.timezone.utc)]
            after_crash, lines = check_result(config)
            repaired = ""
            if after_crash != "clean":
                for line in lines[:-1]:
                    print(f"  round {round_number} after crash: {line}")
                result = run(config, "check", "--repair")
                repaired = "clean after --repair" if result.returncode == 0 else "NOT clean after --repair"

            # restart and look for every acknowledged write
            server = server_for(config, os.path.join(folder, "serve.log")).start()
            missing, wrong = verify_acked(all_acked, items)
            session = requests.Session()
            session.auth = (USER, PASSWORD)
            sample = rng.sample(sorted(storm.acked), min(50, len(storm.acked)))
            not_served = [href for href in sample if session.get(server.url + href, timeout=30).status_code != 200]
            after_restart, lines = check_result(config)
            for line in (lines[:-1] if after_restart != "clean" else []):
                print(f"  round {round_number} after restart: {line}")
            table.append((round_number, len(storm.acked), storm.refused, storm.errors,
                          len(missing), len(wrong), len(not_served), len(items), len(unparseable),
                          after_crash + (f" ({repaired})" if repaired else ""), after_restart))
            for href in missing + wrong + not_served:
                print(f"  round {round_number}: acknowledged write lost or wrong: {href}")
    finally:
        server.stop()
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            print(f"kept {folder}")

    headers = ("round", "acked 2xx", "refused", "cut off", "missing", "wrong content", "GET != 200",
               "items", "unparseable", "check after crash", "check after restart")
    rows = [headers] + [tuple(str(v) for v in row) for row in table]
    widths = [max(len(r[i]) for r in rows) for i in range(len(headers))]
    for n, row in enumerate(rows):
        print("| " + " | ".join(v.ljust(w) for v, w in zip(row, widths)) + " |")
        if n == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    total_missing = sum(r[4] + r[5] + r[6] for r in table)
    print(f"total: {sum(r[1] for r in table)} acknowledged writes, {total_missing} lost or wrong, "
          f"{sum(r[8] for r in table)} unparseable items (cumulative counts per round)")
    return 1 if total_missing or any(r[10] != "clean" for r in table) else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""JSON figures for issue 4 (a script, not a test).

1. Listing: GET of a room with 1 000 events as JSCalendar (Accept:
   application/json) against stock Radicale's calendar-query REPORT returning
   the same events with calendar-data, same data, same run (target <= 1.0x).
2. Sync delta: in a room of 10 000 events, change one event over CalDAV, then
   time the JSON sync with the previous token (target <= 30 ms).

    .venv/bin/python bench/bench_json.py [--listing 1000] [--sync 10000] [--reps 15]
"""

import argparse
import os
import statistics
import sys
import tempfile

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_booking as bb  # noqa: E402  (servers, seeding: the same as the booking bench)

ALL_EVENTS = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
<D:prop><D:getetag/><C:calendar-data/></D:prop>
<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"/></C:comp-filter></C:filter>
</C:calendar-query>"""
JSON = {"Accept": "application/json"}


def ms(values):
    return statistics.median(values) * 1000


def listing(n, reps, workdir, log):
    events = bb.seed_events(n, 1830297600)  # 2028-01-01
    ours = bb.setup_roomcal(os.path.join(workdir, f"roomcal-{n}"), events, log)["server"].start()
    stock = bb.setup_stock(os.path.join(workdir, f"stock-{n}"), events, log)["server"].start()
    try:
        cold, _ = ours.request("GET", bb.ROOM_PATH, headers=JSON, expect=(200,))
        stock.request("REPORT", bb.ROOM_PATH, ALL_EVENTS, {"Depth": "1"}, expect=(207,))  # warm both
        json_times, report_times = [], []
        for _ in range(reps):
            seconds, response = ours.request("GET", bb.ROOM_PATH, headers=JSON, expect=(200,))
            json_times.append(seconds)
            seconds, report = stock.request("REPORT", bb.ROOM_PATH, ALL_EVENTS, {"Depth": "1"}, expect=(207,))
            report_times.append(seconds)
        listed = len(response.json()["responses"])
        assert listed == n and report.text.count("<response>") + report.text.count(":response>") >= n
        return {"json_ms": ms(json_times), "report_ms": ms(report_times), "cold_json_ms": cold * 1000,
                "events": listed}
    finally:
        ours.stop()
        stock.stop()


def sync_delta(n, reps, workdir, log):
    events = bb.seed_events(n, 1830297600)
    ours = bb.setup_roomcal(os.path.join(workdir, f"roomcal-sync-{n}"), events, log)["server"].start()
    try:
        token = ours.request("GET", bb.ROOM_PATH + "?sync-token=", headers=JSON, expect=(200,))[1].json()["sync-token"]
        times = []
        for rep in range(reps):
            uid, start, end = events[rep * 97 % n]
            body = bb.vcalendar(bb.vevent(uid, start, end, f"Changed {rep}"))
            changed = requests.put(f"{ours.url}{bb.ROOM_PATH}{uid}.ics", data=body.encode(),
                                   headers={"Content-Type": "text/calendar"},
                                   auth=("admin", "admin-pw"), timeout=60)  # imported: no owner
            assert changed.status_code == 204, changed.text
            seconds, response = ours.request("GET", f"{bb.ROOM_PATH}?sync-token={token}", headers=JSON,
                                             expect=(200,))
            changed = response.json()
            assert list(changed["responses"]) == [f"{bb.ROOM_PATH}{uid}.ics"], changed["responses"].keys()
            token = changed["sync-token"]
            times.append(seconds)
        return {"sync_ms": ms(times)}
    finally:
        ours.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listing", type=int, default=1000)
    parser.add_argument("--sync", type=int, default=10000)
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args(argv)

    def log(message):
        print(message, file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="roomcal-bench-json-") as workdir:
        lst = listing(args.listing, args.reps, workdir, log)
        syn = sync_delta(args.sync, args.reps, workdir, log)
    ratio = lst["json_ms"] / lst["report_ms"]
    print("| operation | N | roomcal (ms) | stock (ms) | ratio |")
    print("|---|---:|---:|---:|---:|")
    print(f"| JSON listing vs calendar-query REPORT (warm) | {args.listing} | {lst['json_ms']:.1f} | "
          f"{lst['report_ms']:.1f} | {ratio:.2f} |")
    print(f"| JSON listing, first after start | {args.listing} | {lst['cold_json_ms']:.1f} | | |")
    print(f"| JSON sync delta, one change | {args.sync} | {syn['sync_ms']:.1f} | | |")
    print(f"\n- listing <= 1.0x stock: {'MET' if ratio <= 1.0 else 'MISSED'} ({ratio:.2f})")
    print(f"- sync delta <= 30 ms: {'MET' if syn['sync_ms'] <= 30 else 'MISSED'} ({syn['sync_ms']:.1f} ms)")


if __name__ == "__main__":
    main()

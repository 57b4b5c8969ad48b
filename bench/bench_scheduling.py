#!/usr/bin/env python3
"""Booking by invitation (RFC 6638) against booking directly, over real HTTP, in one run.

One room holds N seeded 30-minute bookings (one per hour, ``roomcal import``); the user
``bench`` (with an e-mail) has a calendar of their own.  Measured, as medians:

* a direct PUT of a new booking into the room (free half-hours);
* the same meeting PUT into the user's own calendar with the room as ATTENDEE (the room
  accepts: its copy admitted and written, the organizer's copy stamped, in one request);
* such a meeting over a taken hour (the room declines: nothing written in the room);
* a plain event PUT into the user's own calendar (no attendees), on roomcal and on stock
  Radicale (same data, same run): what scheduling costs a write that schedules nothing;
* Thunderbird's principal PROPFIND (roomcal adds the scheduling properties);
* a free/busy POST to the outbox for the room, over two weeks.

    .venv/bin/python bench/bench_scheduling.py [--size 1000] [--reps 40]
"""

import argparse
import os
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_booking import (LENGTH, PASSWORD, PYTHON, REPO, ROOM, ROOMCAL, SLOT, USER,  # noqa: E402
                           ServerProcess, ical_time, init_roomcal, median_ms, roomcal_server, run,
                           seed_events, vcalendar, vevent)

EMAIL = "bench@example.org"
PRINCIPAL_QUERY = ('<?xml version="1.0" encoding="UTF-8"?>\n<D:propfind xmlns:D="DAV:" '
                   'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-home-set/>'
                   "<C:calendar-user-address-set/><C:schedule-inbox-URL/><C:schedule-outbox-URL/>"
                   "</D:prop></D:propfind>")


def meeting(uid, start, end, room_address=None):
    lines = ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"DTSTART:{ical_time(start)}",
             f"DTEND:{ical_time(end)}", "SUMMARY:Bench meeting"]
    if room_address:
        lines += [f"ORGANIZER:mailto:{EMAIL}", f"ATTENDEE;PARTSTAT=ACCEPTED:mailto:{EMAIL}",
                  f"ATTENDEE;CUTYPE=ROOM;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{room_address}"]
    return vcalendar("\r\n".join(lines + ["END:VEVENT"]) + "\r\n")


def timed(session, method, url, body=None, headers=None, expect=(200, 201, 204, 207)):
    t0 = time.perf_counter()
    answer = session.request(method, url, data=body.encode() if body else None, headers=headers or {})
    seconds = time.perf_counter() - t0
    if answer.status_code not in expect:
        raise RuntimeError(f"{method} {url}: {answer.status_code} {answer.text[:300]}")
    return seconds, answer


def put(session, url, text):
    return timed(session, "PUT", url, text, {"Content-Type": "text/calendar; charset=utf-8"})


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=40)
    args = parser.parse_args(argv)
    base = (int(time.time()) // 86400 + 2) * 86400
    events = seed_events(args.size, base)
    work = tempfile.mkdtemp(prefix="roomcal-bench-sched-")
    config = init_roomcal(work)
    cli = ROOMCAL + ["--config", config]
    run(cli + ["user", "add", USER, "--password", PASSWORD, "--email", EMAIL], cwd=REPO)
    run(cli + ["room", "add", ROOM, "--name", "Bench room"], cwd=REPO)
    ics = os.path.join(work, "seed.ics")
    with open(ics, "w", newline="") as f:
        f.write(vcalendar(*(vevent(uid, s, e, f"Seed {uid}") for uid, s, e in events)))
    run(cli + ["import", ROOM, ics], cwd=REPO)
    stock_folder = os.path.join(work, "stock")
    stock_config = os.path.join(work, "stock.conf")
    with open(stock_config, "w") as f:
        f.write("[server]\ndelay_on_error = 0\n\n[auth]\ntype = none\n\n[rights]\ntype = authenticated\n\n"
                f"[storage]\nfilesystem_folder = {stock_folder}\n\n[web]\ntype = none\n\n"
                "[logging]\nlevel = warning\n")
    roomcal = roomcal_server(cli, 1, os.path.join(work, "serve.log")).start()
    stock = ServerProcess("stock", [PYTHON, "-m", "radicale", "--config", stock_config,
                                    "--server-hosts", "127.0.0.1:{port}"], work,
                          os.path.join(work, "radicale.log")).start()
    figures = {}
    try:
        for server in (roomcal, stock):
            timed(server.session, "MKCALENDAR", f"{server.url}/{USER}/calendar/", expect=(201,))
        room_address = f"{ROOM}@rooms.localhost"
        free = [base + i * SLOT + LENGTH for i in range(args.size)]   # the free half-hours
        direct, invited, declined, plain, plain_stock = [], [], [], [], []
        for i in range(args.reps):
            start = free[(7 * i) % len(free)]
            direct.append(put(roomcal.session, f"{roomcal.url}/rooms/{ROOM}/d{i}.ics",
                              meeting(f"d{i}", start, start + 600))[0])
            uid = f"m{i}"
            seconds, answer = put(roomcal.session, f"{roomcal.url}/{USER}/calendar/{uid}.ics",
                                  meeting(uid, start + 900, start + 1500, room_address))
            invited.append(seconds)
            taken = base + ((7 * i + 3) % args.size) * SLOT   # a seeded booking's hour
            declined.append(put(roomcal.session, f"{roomcal.url}/{USER}/calendar/x{i}.ics",
                                meeting(f"x{i}", taken, taken + 600, room_address))[0])
            plain.append(put(roomcal.session, f"{roomcal.url}/{USER}/calendar/p{i}.ics",
                             meeting(f"p{i}", start, start + 600))[0])
            plain_stock.append(put(stock.session, f"{stock.url}/{USER}/calendar/p{i}.ics",
                                   meeting(f"p{i}", start, start + 600))[0])
        check = roomcal.session.get(f"{roomcal.url}/{USER}/calendar/m0.ics").text
        assert "PARTSTAT=ACCEPTED" in check.replace("\r\n ", ""), check
        assert "PARTSTAT=DECLINED" in roomcal.session.get(f"{roomcal.url}/{USER}/calendar/x0.ics").text
        principal = [timed(roomcal.session, "PROPFIND", f"{roomcal.url}/{USER}/", PRINCIPAL_QUERY,
                           {"Depth": "0", "Content-Type": "text/xml"})[0] for _ in range(args.reps)]
        fb_body = vcalendar("\r\n".join([
            "BEGIN:VFREEBUSY", f"UID:{uuid.uuid4()}", "DTSTAMP:20260101T000000Z",
            f"DTSTART:{ical_time(base)}", f"DTEND:{ical_time(base + 14 * 86400)}",
            f"ORGANIZER:mailto:{EMAIL}", f"ATTENDEE:mailto:{room_address}", "END:VFREEBUSY"]) + "\r\n"
        ).replace("VERSION:2.0\r\n", "VERSION:2.0\r\nMETHOD:REQUEST\r\n")
        freebusy = [timed(roomcal.session, "POST", f"{roomcal.url}/{USER}/.schedule-outbox/", fb_body,
                          {"Content-Type": "text/calendar", "Originator": f"mailto:{EMAIL}",
                           "Recipient": f"mailto:{room_address}"}, expect=(200,))[0]
                    for _ in range(args.reps)]
        figures = {"direct PUT into the room": median_ms(direct),
                   "PUT inviting the room (accepted)": median_ms(invited),
                   "PUT inviting the room (declined)": median_ms(declined),
                   "plain PUT, own calendar (roomcal)": median_ms(plain),
                   "plain PUT, own calendar (stock Radicale)": median_ms(plain_stock),
                   "principal PROPFIND (Thunderbird's)": median_ms(principal),
                   "free/busy POST, 2 weeks": median_ms(freebusy)}
    finally:
        roomcal.stop()
        stock.stop()
    print(f"N = {args.size} bookings in the room, {args.reps} repetitions, medians:")
    for name, ms in figures.items():
        print(f"  {name:42s} {ms:7.1f} ms")
    print(f"  plain PUT roomcal / stock: {figures['plain PUT, own calendar (roomcal)'] / figures['plain PUT, own calendar (stock Radicale)']:.2f}")


if __name__ == "__main__":
    main()

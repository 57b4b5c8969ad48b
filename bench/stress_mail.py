#!/usr/bin/env python3
"""Mail while SMTP is unreachable: every write succeeds, every mail arrives once SMTP is back.

The figure of the issue "Hardening" ("SMTP unreachable during notifications -> writes still
succeed; mails arrive after SMTP returns, also across a server restart"):

1. a fresh data folder (``roomcal init``); ``[notify]`` points at a loopback port where nothing
   listens, with short retry delays (``roomcal_outbox_retry_min``/``_max``, ``--retry-min``/
   ``--retry-max``);
2. ``roomcal serve --workers N`` in its own process group; users with e-mail addresses, an
   approval room, a normal room and a few rooms for clear-bookings (conflicting bookings loaded
   with ``roomcal import --allow-conflicts``), one manager of them all — through the CLI;
3. phase 1, SMTP down: ``--writes`` notification-causing writes over HTTP from ``--clients``
   threads.  Each one is a booking created by a user (``POST /api/rooms/<id>/bookings``) and then
   approved, declined or cancelled by the manager (``POST …/bookings/<uid>/approve|decline|cancel``
   with a reason) or deleted by the manager (CalDAV ``DELETE``); ``--clears`` of them are
   ``DELETE /api/clear-bookings?calendar=<room>`` (one mail per removed booking).  Every booking
   title and reason carries a unique tag (``T000123``), so each expected mail is matched.
   The writes are split into chunks; after each chunk the server is stopped as ``--kills`` says
   (``kill``: SIGKILL of the whole process group; ``term``: SIGTERM, gunicorn's clean stop) with
   the mails still pending, and started again;
   ``--probe`` more writes from a single client (latency without queueing behind the other
   clients) run before the first chunk (nothing pending yet) and after the last one (every mail
   pending, the senders retrying);
4. phase 2: only after the last restart an aiosmtpd server (a child process, so that it does not
   compete with the client threads) comes up on the port; the script waits until every expected
   mail has arrived and the outbox has nothing pending (or ``--timeout``).  With
   ``--during-delivery kill,term,…`` the server is also stopped (and started again) while the
   mails are going out; a mail held by a SIGKILLed process may then arrive twice (at least once,
   with the same Message-ID, which names its outbox row), one held by a SIGTERMed process may not;
5. phase 3, SMTP up: ``--phase3-writes`` more writes of the same mix and ``--probe`` from one
   client, for the latency comparison, and their mails;
6. report: writes attempted / succeeded / failed, expected / delivered / missing / duplicate mails
   (matched by tag and kind), wrong recipients, time from SMTP up to the mails (split into the
   mails a stopped process still held a lease on and the rest), write medians with SMTP down and
   up, 5xx lines in the server log, processes left behind.  Exit status 1 if a write failed, a mail
   is missing or wrong, a mail came twice other than after a SIGKILL of its sender, or the
   server answered 5xx.

This is a script, not a test:

    .venv/bin/python bench/stress_mail.py [--writes 500] [--clients 8] [--workers 2]
        [--kills kill,term] [--during-delivery kill,term] [--retry-min 1] [--retry-max 4] [--keep]

Every server and the SMTP child are stopped on exit, on Ctrl-C and on SIGTERM; the data folder
is removed unless ``--keep``.
"""

import argparse
import asyncio
import collections
import datetime
import email
import email.policy
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests
from aiosmtpd.controller import Controller

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_booking import (REPO, ROOMCAL, ServerProcess, free_port, init_roomcal,  # noqa: E402
                           listening_inode, run)

MANAGER = "mgr"
USERS = [f"u{n}" for n in range(4)]
FROM = "rooms@example.org"
APPROVAL, PLAIN = "mail-approval", "mail-plain"
VERBS = ("approve", "decline", "cancel", "delete")
KIND = {"approve": "approved", "decline": "declined", "cancel": "cancelled", "delete": "cancelled",
        "clear": "cleared"}
TAG = re.compile(r"\bT\d{6}\b")
SLOT = 1800  # every booking gets its own half-hour in its room: nothing conflicts
BASE = int(time.time()) // 86400 * 86400 + 2 * 86400  # midnight UTC, two days ahead
ACCESS_5XX = re.compile(r'" (5\d\d) ')


def mail_of(user: str) -> str:
    return f"{user}@example.org"


def local(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")


def ical(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


# -- processes ------------------------------------------------------------------------------------
def group_members(pgid: int):
    """Live (not zombie) processes of process group ``pgid``, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


class Servers:
    """``roomcal serve`` in its own session (kill -9 takes master and workers); remembers every
    process group it started so that none is left behind."""

    def __init__(self, config, workdir, workers):
        self.cmd = ROOMCAL + ["--config", config, "serve", "--workers", str(workers),
                              "--bind", "127.0.0.1:{port}"]
        self.log_path = os.path.join(workdir, "serve.log")
        self.groups = []
        self.current = None

    def start(self) -> ServerProcess:
        server = ServerProcess("roomcal", self.cmd, REPO, self.log_path, new_session=True)
        try:
            server.start()
        finally:
            if server.process is not None:
                self.groups.append(server.process.pid)
        self.current = server
        return server

    def pids(self):
        """The processes of the running server (gunicorn master and workers)."""
        if self.current is None or self.current.process is None:
            return []
        return group_members(self.current.process.pid)

    def stop(self, how: str):
        """``kill``: SIGKILL of the process group; ``term``: SIGTERM to gunicorn's master (its clean
        stop).  Returns the pids the server had."""
        pids = self.pids()
        server, self.current = self.current, None
        if server is None:
            return pids
        pgid = server.process.pid if server.process is not None else None
        if how == "kill":
            server.kill()
        else:
            server.stop()
        if pgid is not None and not self._wait_gone(pgid, 30):
            raise RuntimeError(f"the server's processes {group_members(pgid)} did not stop")
        return pids

    def _wait_gone(self, pgid, seconds) -> bool:
        deadline = time.time() + seconds
        while time.time() < deadline:
            if not group_members(pgid):
                return True
            time.sleep(0.05)
        return False

    def cleanup(self) -> int:
        """Stop the running server; SIGKILL whatever is left of any group we started.  Returns
        how many processes had to be killed that way."""
        if self.current is not None:
            try:
                self.stop("term")
            except Exception:
                self.stop("kill")
        leftovers = 0
        for pgid in self.groups:
            members = group_members(pgid)
            if members:
                leftovers += len(members)
                try:
                    os.killpg(pgid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._wait_gone(pgid, 10)
        return leftovers


# -- the SMTP server: a child process (its work does not compete with the client threads) ----------
Received = collections.namedtuple("Received", "at rcpt message_id subject kind to body")
SINK = "_smtp_sink"


def smtp_sink(port: int, path: str, delay: float = 0.0) -> int:
    """The child: aiosmtpd on 127.0.0.1:port, one JSON line per message into ``path``, until its
    stdin closes (the parent stopped it, or died) or SIGTERM.  A message counts as delivered once
    its data is in (as a real mail server has queued it); ``delay`` seconds pass before the "250 OK"
    (a server that scans what it accepts)."""
    out = open(path, "a", encoding="utf-8")

    class Handler:
        async def handle_DATA(self, server, session, envelope):
            message = email.message_from_bytes(envelope.original_content or envelope.content,
                                               policy=email.policy.default)
            try:
                body = message.get_content()
            except Exception:
                body = ""
            out.write(json.dumps({"at": time.time(), "rcpt": sorted(envelope.rcpt_tos),
                                  "message_id": str(message["Message-ID"] or ""),
                                  "subject": " ".join(str(message["Subject"] or "").split()),
                                  "kind": str(message["X-Roomcal-Event"] or ""),
                                  "to": str(message["To"] or ""), "body": body}) + "\n")
            out.flush()
            if delay:
                await asyncio.sleep(delay)
            return "250 OK"

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's: it closes our stdin
    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        print("ready", flush=True)
        sys.stdin.read()
    finally:
        controller.stop()
        out.close()
    return 0


class Smtp:
    """The parent's handle on the SMTP child; ``snapshot()`` is every message received so far."""

    def __init__(self, port, path, delay=0.0):
        self.port, self.path, self.delay = port, path, delay
        self.process = None
        self.received = []
        self._offset = 0

    def start(self):
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), SINK, str(self.port), self.path, str(self.delay)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if self.process.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError(f"the SMTP server did not start on 127.0.0.1:{self.port}")

    def stop(self):
        if self.process is None:
            return
        try:
            self.process.stdin.close()
            self.process.wait(10)
        except (subprocess.TimeoutExpired, OSError):
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None

    def snapshot(self):
        if os.path.exists(self.path):
            with open(self.path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
            complete = data[:data.rfind(b"\n") + 1]
            self._offset += len(complete)
            for line in complete.decode("utf-8").splitlines():
                record = json.loads(line)
                self.received.append(Received(record["at"], record["rcpt"], record["message_id"],
                                              record["subject"], record["kind"], record["to"], record["body"]))
        return list(self.received)


# -- the outbox, read directly --------------------------------------------------------------------
def outbox_state(path):
    """{pending, sent, failed, claimed, attempts} of the outbox file (zeros before it exists)."""
    state = {"pending": 0, "sent": 0, "failed": 0, "claimed": 0, "attempts": 0, "rows": 0}
    if not os.path.exists(path):
        return state
    db = sqlite3.connect(path, timeout=10)
    try:
        for row_state, count in db.execute("SELECT state, COUNT(*) FROM outbox GROUP BY state"):
            state[row_state] = count
        state["claimed"] = db.execute("SELECT COUNT(*) FROM outbox WHERE state = 'pending' "
                                      "AND claimed_until > ?", (time.time(),)).fetchone()[0]
        state["attempts"] = db.execute("SELECT COALESCE(SUM(attempts), 0) FROM outbox").fetchone()[0]
        state["rows"] = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    except sqlite3.OperationalError as e:
        if "no such table" not in str(e):
            raise
    finally:
        db.close()
    return state


def claims(path, owners=None, not_owners=None):
    """[(id, subject, owner pid)] of pending mails under a live lease, of senders whose process is in
    ``owners`` (if given) and not in ``not_owners`` (if given)."""
    if not os.path.exists(path):
        return []
    db = sqlite3.connect(path, timeout=10)
    try:
        rows = db.execute("SELECT id, subject, claimed_by FROM outbox WHERE state = 'pending' "
                          "AND claimed_until > ?", (time.time(),)).fetchall()
    finally:
        db.close()
    result = []
    for mail_id, subject, owner in rows:
        pid = int(str(owner).split("-", 1)[0]) if owner and str(owner).split("-", 1)[0].isdigit() else None
        if (owners is None or pid in owners) and (not_owners is None or pid not in not_owners):
            result.append((mail_id, subject, pid))
    return result


# -- the writes -----------------------------------------------------------------------------------
class Expected:
    """Every mail a 2xx write promised: (tag, kind) -> (recipient, text the body must hold)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.mails = {}
        self.phase = {}

    def add(self, tag, kind, recipient, text, phase):
        with self.lock:
            self.mails[(tag, kind)] = (recipient, text)
            self.phase[(tag, kind)] = phase


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.latency = collections.defaultdict(list)        # (phase, op) -> seconds
        self.statuses = collections.defaultdict(collections.Counter)  # phase -> (op, status) -> n
        self.failures = []                                    # (phase, op, path, status, text)

    def record(self, phase, op, path, elapsed, response=None, error=None):
        status = response.status_code if response is not None else "error"
        ok = response is not None and 200 <= response.status_code < 300
        with self.lock:
            self.statuses[phase][(op, status)] += 1
            if ok:
                self.latency[(phase, op)].append(elapsed)
            else:
                text = repr(error) if error is not None else response.text[:300]
                self.failures.append((phase, op, path, status, text))
        return ok


class Writer:
    def __init__(self, tokens, expected, stats):
        self.tokens = tokens
        self.expected = expected
        self.stats = stats
        self.lock = threading.Lock()
        self.slots = collections.Counter()
        self.clear_rooms = {}  # room -> {tag of each booking clear-bookings must remove: organizer}
        self.clear_problems = []
        self.wall = collections.Counter()  # phase -> seconds of writing

    def _slot(self, room):
        with self.lock:
            slot = self.slots[room]
            self.slots[room] += 1
        return BASE + slot * SLOT

    def _auth(self, user):
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def _call(self, session, phase, op, method, url, path, user, body=None):
        t0 = time.perf_counter()
        try:
            response = session.request(method, url + path, json=body, headers=self._auth(user),
                                       timeout=120)
            _ = response.content
        except requests.RequestException as e:
            self.stats.record(phase, op, path, time.perf_counter() - t0, error=e)
            return None
        ok = self.stats.record(phase, op, path, time.perf_counter() - t0, response)
        return response if ok else None

    def job(self, session, url, phase, job):
        kind, tag, arg = job
        if kind == "clear":
            self.clear(session, url, phase, tag, arg)
            return
        verb, user = kind, arg
        room = APPROVAL if verb in ("approve", "decline") else PLAIN
        start = self._slot(room)
        created = self._call(session, phase, "create", "POST", url, f"/api/rooms/{room}/bookings", user,
                             {"title": f"Mail {tag}", "start": local(start), "end": local(start + SLOT),
                              "description": f"stress_mail booking {tag}"})
        if created is None:
            return
        uid, href = created.json()["uid"], created.json()["href"]
        if verb == "delete":  # a calendar app's way: the manager deletes it (no reason)
            done = self._call(session, phase, verb, "DELETE", url, href, MANAGER)
            text = f"deleted by {MANAGER}"
        else:
            text = f"reason {tag}: {verb} by stress_mail"
            done = self._call(session, phase, verb, "POST", url, f"/api/rooms/{room}/bookings/{uid}/{verb}",
                              MANAGER, {"reason": text})
        if done is not None:
            self.expected.add(tag, KIND[verb], mail_of(user), text, phase)

    def clear(self, session, url, phase, tag, room):
        answer = self._call(session, phase, "clear", "DELETE", url, f"/api/clear-bookings?calendar={room}",
                            MANAGER)
        if answer is None:
            return
        removed = {}
        for entry in answer.json().get("deleted_overlapping_events", []):
            found = TAG.search(entry["event"]["name"] or "")
            if found:
                removed[found.group(0)] = entry["event"]["organizer"]
        wanted = self.clear_rooms[room]
        if removed != wanted:
            self.clear_problems.append(f"{room}: clear-bookings removed {sorted(removed)}, "
                                       f"expected {sorted(wanted)}")
        for mail_tag, organizer in removed.items():
            self.expected.add(mail_tag, "cleared", organizer, "overlapping", phase)

    def run(self, url, phase, jobs, clients):
        cursor = iter(jobs)
        lock = threading.Lock()

        def client():
            session = requests.Session()
            try:
                while True:
                    with lock:
                        job = next(cursor, None)
                    if job is None:
                        return
                    self.job(session, url, phase, job)
            finally:
                session.close()

        threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        self.wall[phase] += seconds
        return seconds


class Planner:
    def __init__(self, rng):
        self.rng = rng
        self.serial = 0

    def tag(self):
        self.serial += 1
        return f"T{self.serial:06d}"

    def jobs(self, count, clear_rooms):
        """``count`` notification-causing writes: len(clear_rooms) clear-bookings calls spread
        evenly, the rest booking verbs in equal shares, shuffled, each by a random user."""
        verbs = [VERBS[i % len(VERBS)] for i in range(count - len(clear_rooms))]
        self.rng.shuffle(verbs)
        jobs = [(verb, self.tag(), self.rng.choice(USERS)) for verb in verbs]
        for k, room in enumerate(clear_rooms):
            jobs.insert(min(len(jobs), round((k + 0.5) * count / len(clear_rooms))), ("clear", self.tag(), room))
        return jobs


def clear_room_calendar(room, pairs, planner, writer):
    """``pairs`` pairs of overlapping bookings; the later-created one of each pair goes."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//stress_mail//EN"]
    losers = {}
    for j in range(pairs):
        start = BASE + j * 7200
        tag = planner.tag()
        organizer = f"org{j % 3}@example.org"
        losers[tag] = organizer
        lines += ["BEGIN:VEVENT", f"UID:{room}-winner-{j}", "DTSTAMP:20250101T000000Z",
                  f"DTSTART:{ical(start)}", f"DTEND:{ical(start + 3600)}", f"SUMMARY:Winner {room} {j}",
                  "CREATED:20250101T000000Z", "END:VEVENT"]
        lines += ["BEGIN:VEVENT", f"UID:{room}-loser-{j}", "DTSTAMP:20250601T000000Z",
                  f"DTSTART:{ical(start + 1800)}", f"DTEND:{ical(start + 5400)}", f"SUMMARY:Mail {tag}",
                  "CREATED:20250601T000000Z", f"ORGANIZER:mailto:{organizer}", "END:VEVENT"]
    writer.clear_rooms[room] = losers
    return "\r\n".join(lines + ["END:VCALENDAR"]) + "\r\n"


# -- setup ----------------------------------------------------------------------------------------
def configure(config, smtp_port, args):
    with open(config) as f:
        text = f.read()
    notify = (f"[notify]\nsmtp_server = 127.0.0.1\nsmtp_port = {smtp_port}\nsmtp_security = none\n"
              f"from_email = {FROM}\nsender_name = Room booking\n")
    if text.count("[notify]\n") != 1:
        raise RuntimeError(f"{config} has no single [notify] section")
    text = text.replace("[notify]\n", notify, 1)
    for option, value in (("roomcal_outbox_retry_min", args.retry_min),
                          ("roomcal_outbox_retry_max", args.retry_max),
                          ("roomcal_outbox_claim_timeout", args.claim_timeout)):
        text, count = re.subn(rf"^{option} = .*$", f"{option} = {value:g}", text, flags=re.M)
        if count != 1:
            raise RuntimeError(f"{config}: option {option} not found once")
    with open(config, "w") as f:
        f.write(text)


def seed(cli, writer, planner, clear_rooms, pairs):
    run(cli + ["user", "add", MANAGER, "--password", "mgr-pw", "--email", "manager@example.org"], cwd=REPO)
    for user in USERS:
        run(cli + ["user", "add", user, "--password", f"{user}-pw", "--email", mail_of(user)], cwd=REPO)
    tokens = {}
    for user in [MANAGER] + USERS:  # Bearer tokens: no bcrypt per request
        tokens[user] = run(cli + ["token", "create", user], cwd=REPO).stdout.strip().splitlines()[-1]
    run(cli + ["room", "add", APPROVAL, "--name", "Mail approval room", "--timezone", "UTC",
               "--approval", "--managers", MANAGER], cwd=REPO)
    run(cli + ["room", "add", PLAIN, "--name", "Mail plain room", "--timezone", "UTC",
               "--managers", MANAGER], cwd=REPO)
    for room in clear_rooms:
        run(cli + ["room", "add", room, "--name", f"Mail {room}", "--timezone", "UTC",
                   "--managers", MANAGER], cwd=REPO)
        run(cli + ["import", room, "-", "--allow-conflicts"], cwd=REPO,
            input=clear_room_calendar(room, pairs, planner, writer))
    writer.tokens.update(tokens)


# -- waiting for the mails ------------------------------------------------------------------------
def wait_for_mails(smtp, expected, outbox_path, since, timeout, settle, on_progress=None):
    """Until every expected mail has arrived and the outbox has nothing pending (then ``settle``
    seconds more, for late duplicates), or ``timeout``.  Returns (complete, seconds to the last
    expected mail's first arrival, seconds to an empty outbox)."""
    deadline = since + timeout
    keys = set(expected.mails)
    last_arrival = None
    drained = None
    while time.time() < deadline:
        received = smtp.snapshot()
        first = {}
        for mail in received:
            found = TAG.search(mail.subject)
            key = (found.group(0) if found else None, mail.kind)
            if key in keys and key not in first:
                first[key] = mail.at
        if on_progress is not None:
            on_progress(len(first), len(keys))
        if len(first) == len(keys):
            last_arrival = max(first.values(), default=since) - since
            state = outbox_state(outbox_path)
            if state["pending"] == 0:
                drained = time.time() - since
                time.sleep(settle)
                return True, last_arrival, drained
        time.sleep(0.1)
    return False, last_arrival, drained


def analyse(smtp, expected, phases=None):
    """Matching of received mails to expected ones (only the expected mails of ``phases``)."""
    keys = {key for key in expected.mails if phases is None or expected.phase[key] in phases}
    by_key = collections.defaultdict(list)
    unexpected = []
    for mail in smtp.snapshot():
        found = TAG.search(mail.subject)
        key = (found.group(0) if found else None, mail.kind)
        if key in expected.mails:
            if key in keys:
                by_key[key].append(mail)
        elif phases is None:
            unexpected.append(mail)
    missing = sorted(k for k in keys if k not in by_key)
    resent, composed_twice, wrong_recipient, wrong_text = [], [], [], []
    for key, mails in by_key.items():
        ids = collections.Counter(m.message_id for m in mails)
        resent += [(key, mid, n) for mid, n in ids.items() if n > 1]
        if len(ids) > 1:
            composed_twice.append((key, sorted(ids)))
        recipient, text = expected.mails[key]
        for m in mails:
            if m.to != recipient or m.rcpt != [recipient]:
                wrong_recipient.append((key, m.to, m.rcpt, recipient))
            if text not in m.body:
                wrong_text.append((key, text))
    return {"expected": len(keys), "delivered": sum(len(v) for v in by_key.values()),
            "distinct": len(by_key), "missing": missing,
            "duplicates": sum(len(v) - 1 for v in by_key.values()),
            "resent": resent, "composed_twice": composed_twice, "unexpected": unexpected,
            "wrong_recipient": wrong_recipient, "wrong_text": wrong_text}


# -- report ---------------------------------------------------------------------------------------
def ms(values):
    return f"{statistics.median(values) * 1000:.1f}" if values else "—"


def p95(values):
    return f"{sorted(values)[min(len(values) - 1, int(len(values) * 0.95))] * 1000:.1f}" if values else "—"


def seconds_or_dash(value):
    return "—" if value is None else f"{value:.1f} s"


def arrivals(smtp, expected, since, keys):
    """{key: seconds after ``since`` of the first copy} of the expected mails in ``keys``."""
    first = {}
    for mail in smtp.snapshot():
        found = TAG.search(mail.subject)
        key = (found.group(0) if found else None, mail.kind)
        if key in keys and key not in first:
            first[key] = mail.at - since
    return first


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == [SINK]:
        return smtp_sink(int(argv[1]), argv[2], float(argv[3]))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=500,
                        help="notification-causing writes with SMTP down, from --clients threads (default 500)")
    parser.add_argument("--phase3-writes", type=int, default=100,
                        help="the same with SMTP up, for comparison (default 100)")
    parser.add_argument("--probe", type=int, default=40,
                        help="notification-causing writes from one client, with SMTP down and again with it "
                             "up: latency without queueing behind other clients (default 40)")
    parser.add_argument("--clients", type=int, default=8, help="client threads (default 8)")
    parser.add_argument("--workers", type=int, default=2, help="roomcal serve --workers (default 2)")
    parser.add_argument("--clears", type=int, default=4,
                        help="of the --writes, how many are /api/clear-bookings calls (default 4)")
    parser.add_argument("--clear-pairs", type=int, default=5,
                        help="overlapping pairs per clear-bookings room: mails per call (default 5)")
    parser.add_argument("--kills", default="kill,term",
                        help="restarts while SMTP is down, in order: kill (SIGKILL of the process group) "
                             "or term (SIGTERM); the writes are split into one chunk per restart "
                             "(default kill,term; '' for none)")
    parser.add_argument("--during-delivery", default="",
                        help="stops while the mails go out, in order, spread over the delivery: kill or term, "
                             "comma-separated (default none); a mail may then arrive twice, which is "
                             "allowed only for a mail a SIGKILLed process held")
    parser.add_argument("--smtp-delay", type=float, default=0.0,
                        help="seconds the SMTP server takes to answer 250 after it has the message (default 0)")
    parser.add_argument("--retry-min", type=float, default=1.0, help="roomcal_outbox_retry_min (default 1)")
    parser.add_argument("--retry-max", type=float, default=4.0, help="roomcal_outbox_retry_max (default 4)")
    parser.add_argument("--claim-timeout", type=float, default=120.0,
                        help="roomcal_outbox_claim_timeout (default 120, the server's minimum)")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds to wait for the mails once SMTP is up (default 300)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds to wait for late duplicates once the outbox is empty (default 3)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    parser.add_argument("--keep", action="store_true", help="keep the data folder")
    args = parser.parse_args(argv)
    kills = [k.strip() for k in args.kills.split(",") if k.strip()]
    during = [k.strip() for k in args.during_delivery.split(",") if k.strip()]
    if any(k not in ("kill", "term") for k in kills + during):
        parser.error("--kills and --during-delivery take kill and term, comma-separated")
    if args.writes < max(1, len(kills)) or args.clears > args.writes // 2:
        parser.error("--writes must cover the restarts and be at least twice --clears")
    # SIGTERM unwinds like Ctrl-C: servers and the SMTP server stopped, the folder removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for variable in ("SMTP_SERVER", "SMTP_PORT", "SMTP_EMAIL", "SMTP_PASSWORD", "SMTP_USER_NAME",
                     "SMTP_SENDER_NAME", "SMTP_BCC", "SMTP_STARTTLS"):
        os.environ.pop(variable, None)  # the server would inherit them; they override [notify]

    def log(message):
        print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)

    rng = random.Random(args.seed)
    started = time.time()
    workdir = tempfile.mkdtemp(prefix="roomcal-mail-")
    outbox_path = os.path.join(workdir, "data", "outbox.sqlite")
    smtp_port = free_port()
    servers = None
    smtp = Smtp(smtp_port, os.path.join(workdir, "received.jsonl"), args.smtp_delay)
    expected, stats = Expected(), Stats()
    writer = Writer({}, expected, stats)
    planner = Planner(rng)
    figures = {"restarts": [], "writes": args.writes, "phase3_writes": args.phase3_writes, "probe": args.probe,
               "clients": args.clients, "workers": args.workers, "retry_min": args.retry_min,
               "retry_max": args.retry_max, "claim_timeout": args.claim_timeout, "smtp_port": smtp_port,
               "delivery_stops": []}
    leftovers = 0
    log_text = ""
    try:
        config = init_roomcal(workdir)
        configure(config, smtp_port, args)
        cli = ROOMCAL + ["--config", config]
        servers = Servers(config, workdir, args.workers)
        if listening_inode(smtp_port) is not None:
            raise RuntimeError(f"something listens on {smtp_port} already")
        server = servers.start()
        log(f"roomcal serve --workers {args.workers} on {server.url}; SMTP (down) 127.0.0.1:{smtp_port}; "
            f"data in {workdir}")
        clear_rooms = [f"mail-clear{k}" for k in range(args.clears)]
        p3_clear = ["mail-clear-p3"] if args.phase3_writes >= 10 and args.clears else []
        seed(cli, writer, planner, clear_rooms + p3_clear, args.clear_pairs)

        # -- phase 1: SMTP down, restarts in between ----------------------------------------------
        jobs = planner.jobs(args.writes, clear_rooms)
        chunks = max(1, len(kills))
        bounds = [round(i * len(jobs) / chunks) for i in range(chunks + 1)]
        figures["phase1_seconds"] = 0.0
        orphans = {}  # outbox id -> how the process that held its lease was stopped
        if args.probe:  # the one-client latency before any mail is pending
            seconds = writer.run(server.url, "down-seq0", planner.jobs(args.probe, []), 1)
            log(f"phase 1 probe: {args.probe} notification writes in {seconds:.1f} s from 1 client, "
                f"nothing pending before")
        for c in range(chunks):
            chunk = jobs[bounds[c]:bounds[c + 1]]
            seconds = writer.run(server.url, "down", chunk, args.clients)
            figures["phase1_seconds"] += seconds
            log(f"phase 1 chunk {c + 1}/{chunks}: {len(chunk)} notification writes in {seconds:.1f} s "
                f"from {args.clients} clients; outbox {outbox_state(outbox_path)}")
            if c == chunks - 1 and args.probe:
                figures["probe_pending"] = outbox_state(outbox_path)["pending"]
                seconds = writer.run(server.url, "down-seq", planner.jobs(args.probe, []), 1)
                log(f"phase 1 probe: {args.probe} notification writes in {seconds:.1f} s from 1 client, "
                    f"{figures['probe_pending']} mails pending")
            if c < len(kills):
                time.sleep(min(2 * args.retry_max, 5))  # the senders keep retrying meanwhile
                before = outbox_state(outbox_path)
                pids = servers.stop(kills[c])
                orphaned = claims(outbox_path, owners=set(pids))
                orphans.update({mail_id: kills[c] for mail_id, _, _ in orphaned})
                t0 = time.perf_counter()
                server = servers.start()
                restart = {"how": kills[c], "pending": before["pending"], "attempts": before["attempts"],
                           "orphaned": len(orphaned), "restart_s": time.perf_counter() - t0}
                figures["restarts"].append(restart)
                log(f"{'SIGKILL of the process group' if kills[c] == 'kill' else 'SIGTERM'} with "
                    f"{before['pending']} mails pending; {len(orphaned)} left claimed by the stopped "
                    f"processes; restarted in {restart['restart_s']:.1f} s on {server.url}")

        # -- phase 2: SMTP comes back ---------------------------------------------------------------
        before_up = outbox_state(outbox_path)
        held = claims(outbox_path, not_owners=set(servers.pids()))  # leases of dead processes
        held_tags = {m.group(0) for m in (TAG.search(subject) for _, subject, _ in held) if m}
        figures["before_smtp_up"] = before_up
        figures["held_at_smtp_up"] = len(held)
        if listening_inode(smtp_port) is not None:
            raise RuntimeError(f"port {smtp_port} was taken by someone else during the outage")
        outage_keys = set(expected.mails)
        log(f"SMTP up: {len(outage_keys)} mails expected; outbox {before_up}; {len(held)} of them still "
            f"claimed by stopped processes")
        smtp.start()
        up = time.time()
        def stop_during_delivery(arrived, total):
            """The next of --during-delivery once (k+1)/(n+1) of the mails have arrived."""
            nonlocal server
            done = len(figures["delivery_stops"])
            if done < len(during) and arrived >= total * (done + 1) // (len(during) + 1):
                how = during[done]
                state = outbox_state(outbox_path)
                pids = servers.stop(how)
                orphaned = claims(outbox_path, owners=set(pids))
                orphans.update({mail_id: how for mail_id, _, _ in orphaned})
                held_tags.update(m.group(0) for m in (TAG.search(subject) for _, subject, _ in orphaned) if m)
                server = servers.start()
                figures["delivery_stops"].append({"how": how, "arrived_before": arrived, "pending": state["pending"],
                                                  "orphaned": len(orphaned)})
                log(f"{'SIGKILL' if how == 'kill' else 'SIGTERM'} during delivery after {arrived}/{total} mails "
                    f"({len(orphaned)} left claimed); restarted on {server.url}")

        complete, last, drained = wait_for_mails(smtp, expected, outbox_path, up, args.timeout,
                                                 args.settle, stop_during_delivery)
        first = arrivals(smtp, expected, up, outage_keys)
        free = [t for (tag, _), t in first.items() if tag not in held_tags]
        late = [t for (tag, _), t in first.items() if tag in held_tags]
        figures.update({"phase2_complete": complete, "last_expected_mail_s": last, "outbox_empty_s": drained,
                        "first_mail_s": min(first.values(), default=None),
                        "median_mail_s": statistics.median(first.values()) if first else None,
                        "last_unheld_mail_s": max(free, default=None), "held_delivered": len(late),
                        "last_held_mail_s": max(late, default=None)})
        log(f"phase 2: {'all' if complete else 'NOT all'} expected mails arrived; the last after "
            f"{seconds_or_dash(last)}, the outbox empty after {seconds_or_dash(drained)}")
        phase2 = analyse(smtp, expected, {"down", "down-seq0", "down-seq"})

        # -- phase 3: SMTP up, for comparison --------------------------------------------------------
        if args.phase3_writes or args.probe:
            before3 = time.time()
            if args.phase3_writes:
                seconds = writer.run(server.url, "up", planner.jobs(args.phase3_writes, p3_clear), args.clients)
                figures["phase3_seconds"] = seconds
                log(f"phase 3: {args.phase3_writes} notification writes in {seconds:.1f} s from "
                    f"{args.clients} clients, SMTP up")
            if args.probe:
                seconds = writer.run(server.url, "up-seq", planner.jobs(args.probe, []), 1)
                log(f"phase 3 probe: {args.probe} notification writes in {seconds:.1f} s from 1 client")
            complete3, _, drained3 = wait_for_mails(smtp, expected, outbox_path, before3, args.timeout,
                                                    args.settle)
            figures.update({"phase3_complete": complete3})
            log(f"phase 3: {'all' if complete3 else 'NOT all'} mails arrived")
        figures["final_outbox"] = outbox_state(outbox_path)
        servers.stop("term")
    finally:
        smtp.stop()
        if servers is not None:
            leftovers = servers.cleanup()
            if os.path.exists(servers.log_path):
                with open(servers.log_path, errors="replace") as f:
                    log_text = f.read()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    # -- the figures ------------------------------------------------------------------------------
    total = analyse(smtp, expected)
    fivexx = [line for line in log_text.splitlines() if ACCESS_5XX.search(line)]
    tracebacks = log_text.count("Traceback")
    # A mail may arrive twice only if a SIGKILLed process held it (it may have had the SMTP server's
    # "250 OK" without marking it sent); the Message-ID names the outbox row.
    resent_how = collections.Counter()
    unexplained = []
    for key, message_id, n in total["resent"]:
        found = re.match(r"<roomcal-(\d+)-", message_id)
        how = orphans.get(int(found.group(1))) if found else None
        resent_how[how or "no stop"] += n - 1
        if how != "kill":
            unexplained.append((key, message_id, n, how or "held by no stopped process"))
    bad_dups = bool(total["composed_twice"] or unexplained)
    attempted = {phase: sum(c.values()) for phase, c in stats.statuses.items()}
    failed = collections.Counter(f[0] for f in stats.failures)
    notification_ok = collections.Counter(phase for (phase, op), values in stats.latency.items()
                                          if op != "create" for _ in values)
    columns = [("down", f"SMTP down, {args.clients} clients"), ("up", f"SMTP up, {args.clients} clients"),
               ("down-seq0", "SMTP down, 1 client, none pending before"),
               ("down-seq", f"SMTP down, 1 client, {figures.get('probe_pending')} pending"),
               ("up-seq", "SMTP up, 1 client")]
    columns = [(phase, title) for phase, title in columns if attempted.get(phase)]

    out = [f"## stress_mail — {datetime.datetime.now():%Y-%m-%d %H:%M}, {os.cpu_count()} CPUs, "
           f"run took {time.time() - started:.0f} s",
           f"roomcal serve --workers {args.workers}; [notify] smtp_server 127.0.0.1:{smtp_port} "
           f"(smtp_security none); roomcal_outbox_retry_min = {args.retry_min:g}, roomcal_outbox_retry_max = "
           f"{args.retry_max:g}, roomcal_outbox_claim_timeout = {args.claim_timeout:g}; "
           f"restarts during the outage: {', '.join(kills) or 'none'}"
           + (f"; during delivery: {', '.join(during)}" if during else ""), "",
           "| writes | " + " | ".join(title for _, title in columns) + " |",
           "|---|" + "---:|" * len(columns)]

    def row(label, values):
        out.append(f"| {label} | " + " | ".join(str(v) for v in values) + " |")
    row("HTTP writes attempted", [attempted.get(p, 0) for p, _ in columns])
    row("… 2xx", [attempted.get(p, 0) - failed[p] for p, _ in columns])
    row("… failed (not 2xx, or no answer)", [failed[p] for p, _ in columns])
    row("notification-causing writes 2xx", [notification_ok[p] for p, _ in columns])
    for op in ("create",) + VERBS + ("clear",):
        if any(stats.latency.get((p, op)) for p, _ in columns):
            row(f"{op}: median (p95) ms", [f"{ms(stats.latency.get((p, op), []))} "
                                          f"({p95(stats.latency.get((p, op), []))})" for p, _ in columns])
    every = {p: [v for (q, op), vs in stats.latency.items() if q == p and op != "clear" for v in vs]
             for p, _ in columns}
    row("**every write but clear: median (p95) ms**", [f"**{ms(every[p])}** ({p95(every[p])})" for p, _ in columns])
    row("HTTP writes/s (wall time)", [f"{attempted.get(p, 0) / writer.wall[p]:.0f} ({writer.wall[p]:.1f} s)"
                                      if writer.wall[p] else "—" for p, _ in columns])
    out.append("")
    for r in figures["restarts"]:
        how = "SIGKILL of the process group" if r["how"] == "kill" else "SIGTERM"
        out.append(f"- restart during the outage ({how}): {r['pending']} mails pending after {r['attempts']} "
                   f"failed attempts in all; {r['orphaned']} left claimed by the stopped processes; "
                   f"back up in {r['restart_s']:.1f} s")
    b = figures.get("before_smtp_up", {})
    out.append(f"- SMTP up with {b.get('pending', '?')} mails pending ({b.get('attempts', '?')} failed attempts "
               f"behind them, {b.get('sent', '?')} sent), {figures.get('held_at_smtp_up', '?')} of them still "
               f"claimed by stopped processes")
    for d in figures["delivery_stops"]:
        out.append(f"- {'SIGKILL of the process group' if d['how'] == 'kill' else 'SIGTERM'} during delivery "
                   f"after {d['arrived_before']} mails had arrived: {d['pending']} pending, {d['orphaned']} left "
                   f"claimed by the stopped processes")
    out.append(f"- SMTP up → first mail {seconds_or_dash(figures.get('first_mail_s'))}, half "
               f"{seconds_or_dash(figures.get('median_mail_s'))}, every mail not left claimed by a stopped process "
               f"{seconds_or_dash(figures.get('last_unheld_mail_s'))}, the {figures.get('held_delivered', 0)} "
               f"claimed ones {seconds_or_dash(figures.get('last_held_mail_s'))} (their lease ran out), "
               f"outbox empty {seconds_or_dash(figures.get('outbox_empty_s'))}")
    out += ["", "| mails | outage (phases 1–2) | in all (with phase 3) |", "|---|---:|---:|"]
    row("expected (one per 2xx notification write; clear-bookings: one per removed booking)",
        [phase2["expected"], total["expected"]])
    row("delivered (messages)", [phase2["delivered"], total["delivered"]])
    row("missing", [len(phase2["missing"]), len(total["missing"])])
    row("duplicates, same Message-ID (sent again)", [len(phase2["resent"]), len(total["resent"])])
    row("duplicates, different Message-IDs (composed twice)",
        [len(phase2["composed_twice"]), len(total["composed_twice"])])
    row("wrong recipient / text missing from the body",
        [f"{len(phase2['wrong_recipient'])} / {len(phase2['wrong_text'])}",
         f"{len(total['wrong_recipient'])} / {len(total['wrong_text'])}"])
    row("unexpected mails", ["—", len(total["unexpected"])])
    fo = figures.get("final_outbox", {})
    out += ["", f"outbox at the end: {fo.get('rows', '?')} rows, {fo.get('sent', '?')} sent, "
                f"{fo.get('pending', '?')} pending, {fo.get('failed', '?')} failed; server log: {len(fivexx)} "
                f"responses ≥ 500, {tracebacks} tracebacks; processes left behind: {leftovers}"]
    if total["resent"]:
        out.append(f"duplicates with the same Message-ID, by how the process holding the mail stopped: "
                   f"{dict(resent_how)} (allowed only after a SIGKILL: at least once)")
    problems = [f"failed write ({phase}): {op} {path} -> {status}: {text}"
                for phase, op, path, status, text in stats.failures[:20]]
    problems += [f"missing mail: {key} to {expected.mails[key][0]} (phase {expected.phase[key]})"
                 for key in total["missing"][:20]]
    problems += [f"duplicate: {item}" for item in
                 total["composed_twice"][:10] + unexplained[:10]]
    problems += [f"wrong mail: {item}" for item in total["wrong_recipient"][:10] + total["wrong_text"][:10]]
    problems += [f"unexpected mail: {m.to} {m.subject!r}" for m in total["unexpected"][:10]]
    problems += writer.clear_problems
    problems += [f"server log: {line.strip()}" for line in fivexx[:10]]
    if leftovers:
        problems.append(f"{leftovers} server processes were left and had to be killed")
    print("\n".join(out))
    if problems:
        print("\nPROBLEMS:\n" + "\n".join(problems))
    failed_run = bool(stats.failures or total["missing"] or bad_dups or total["wrong_recipient"]
                      or total["wrong_text"] or total["unexpected"] or writer.clear_problems or fivexx
                      or leftovers or not figures.get("phase2_complete")
                      or (figures.get("phase3_complete") is False))
    print(f"\nverdict: {'FAIL' if failed_run else 'OK'}")
    if args.json:
        figures.update({"attempted": attempted, "failed": dict(failed),
                        "latency_ms": {f"{p}/{o}": {"median": statistics.median(v) * 1000, "n": len(v)}
                                       for (p, o), v in stats.latency.items() if v},
                        "mails": {k: (len(v) if isinstance(v, list) else v) for k, v in total.items()},
                        "fivexx": len(fivexx), "leftovers": leftovers})
        with open(args.json, "w") as f:
            json.dump(figures, f, indent=1, default=str)
    return 1 if failed_run else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted; every server this script started is stopped", file=sys.stderr)
        sys.exit(130)

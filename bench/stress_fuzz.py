"""Fuzzing (issue 7): generated malformed requests -> 0 responses >= 500, nothing stored by a
rejected write, the server still answering afterwards.

Categories: iCalendar bodies (PUT into a room and a personal calendar, POST to /api), JSON bodies
(POST/PUT on the CalDAV URLs, /api bookings, /api/admin), PatchObjects (PATCH), WebDAV XML
(PROPFIND/REPORT), headers (Authorization, If-Match, Content-Type, Depth), paths and query
strings.  Each input is built by a seeded generator: a valid request, then mutated.  Before and
after every write the ETags of the room and of the personal calendar are read; a write answered
>= 400 must leave both unchanged.  ``tests/test_fuzz.py`` drives the same generators through
hypothesis (a small, derandomized subset).

    .venv/bin/python bench/stress_fuzz.py [--inputs 10000] [--seed 1]
"""

import argparse
import collections
import json
import os
import random
import sys
import tempfile
import time
import uuid

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

ROOM = "fz"
USER, PASSWORD = "fuzzer", "fuzzer-pw"
ADMIN, ADMIN_PW = "fadmin", "fadmin-pw"
PERSONAL = f"/{USER}/fuzzcal/"
CATEGORIES = ("ical", "json", "patch", "xml", "headers", "paths")
WRITES = {"PUT", "POST", "PATCH", "DELETE", "MOVE", "COPY", "MKCALENDAR", "PROPPATCH"}

JUNK = ["", " ", "\x00", "\r\n", "\n\n", "\\", "\"", "'", "<", ">", "&", "%", "%00", "%zz", "..", "/",
        "é", "\u202e", "\ud7ff", "💥", "A" * 3000, "-1", "0", "99999999999999999999", "1e308", "NaN",
        "null", "true", "[]", "{}", "P", "PT", "P-1D", "PT99999999H", "2027-02-30T10:00:00",
        "2027-13-01", "0000-01-01T00:00:00", "9999-12-31T23:59:59", "Europe/Nowhere", ";", ":", ",",
        "=", "@type", "BEGIN:VCALENDAR", "END:VEVENT", "${jndi:x}", "' OR 1=1 --", "\t", "~", "*"]


def junk(rng):
    if rng.random() < 0.3:
        return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(1, 20)))
    return rng.choice(JUNK)


# -- iCalendar ------------------------------------------------------------------------------
def valid_ics(rng, uid):
    day = rng.randrange(1, 28)
    hour = rng.randrange(0, 22)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz//EN", "BEGIN:VEVENT", f"UID:{uid}",
             "DTSTAMP:20260101T000000Z", f"DTSTART:202703{day:02d}T{hour:02d}0000Z",
             f"DTEND:202703{day:02d}T{hour + 1:02d}0000Z", "SUMMARY:fuzz", "END:VEVENT", "END:VCALENDAR"]
    return lines


ICAL_VALUES = ["RRULE:FREQ=MINUTELY", "RRULE:FREQ=SECONDLY;COUNT=9000", "RRULE:FREQ=DAILY;UNTIL=19000101",
               "RRULE:FREQ=YEARLY;BYMONTH=13", "RRULE:FREQ=WEEKLY;BYDAY=XX", "RRULE:FREQ=", "RRULE:",
               "RDATE:20270301T100000Z,garbage", "EXDATE:nonsense", "DTSTART;TZID=Nowhere/Zone:20270301T100000",
               "DTSTART;VALUE=DATE:20270301", "DTEND:19700101T000000Z", "DURATION:-PT1H", "DURATION:P9999999W",
               "STATUS:WHATEVER", "CLASS:;;", "ORGANIZER:", "ATTENDEE;PARTSTAT=:mailto:", "SEQUENCE:-99999999999",
               "RECURRENCE-ID:20270301T100000Z", "BEGIN:VALARM", "END:VALARM", "BEGIN:VTODO", "BEGIN:VTIMEZONE",
               "UID:", "DTSTART:", "DTEND:", "X-ROOMCAL-STATUS:approved", "TRANSP:OPAQUE", "CREATED:0"]


def malformed_ics(rng, uid):
    lines = valid_ics(rng, uid)
    for _ in range(rng.randrange(1, 5)):
        op = rng.randrange(7)
        i = rng.randrange(len(lines))
        if op == 0:
            del lines[i]
        elif op == 1:
            lines.insert(i, rng.choice(ICAL_VALUES))
        elif op == 2:
            lines[i] = lines[i][:rng.randrange(len(lines[i]) + 1)] + junk(rng)
        elif op == 3:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif op == 4:
            lines[i] = lines[i].replace(":", rng.choice([";", "", "::", ":\r\n "]), 1)
        elif op == 5:
            rng.shuffle(lines)
        else:
            lines.insert(rng.randrange(4, len(lines)), rng.choice(ICAL_VALUES))
    text = rng.choice(["\r\n", "\n", "\r"]).join(lines)
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.1:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
    return data


# -- JSON -------------------------------------------------------------------------------------
def junk_json_value(rng, depth=0):
    kind = rng.randrange(8 if depth < 3 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2 ** 63, 1.5, -1e308, 10 ** 30])
    if kind in (3, 4):
        return junk(rng)
    if kind == 5:
        return [junk_json_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {junk(rng) if rng.random() < 0.3 else rng.choice(EVENT_KEYS): junk_json_value(rng, depth + 1)
            for _ in range(rng.randrange(4))}


EVENT_KEYS = ["@type", "title", "start", "end", "timeZone", "duration", "uid", "description", "showWithoutTime",
              "recurrenceRules", "recurrenceOverrides", "excludedRecurrenceRules", "participants", "locations",
              "alerts", "status", "privacy", "freeBusyStatus", "sequence", "name", "id", "capacity", "rules",
              "password", "admin", "email", "members", "quantity", "bookers", "managers", "readOnly", "user"]


def valid_event(rng):
    return {"@type": "Event", "title": "fuzz", "start": f"2027-04-{rng.randrange(1, 28):02d}T{rng.randrange(0, 22):02d}:00:00",
            "timeZone": "Etc/UTC", "duration": "PT1H"}


def malformed_json(rng):
    if rng.random() < 0.15:
        choices = [b"", b"{", b"[1,", b"\xff\xfe", b'{"@type": "Event"', b"nul", b"1" * 5000,
                   b'{"a":' * 500 + b"1" + b"}" * 500, b'"' + b"\\u0000" * 10 + b'"']
        return rng.choice(choices)
    if rng.random() < 0.2:
        body = junk_json_value(rng)
    else:
        body = valid_event(rng)
        for _ in range(rng.randrange(1, 4)):
            op = rng.randrange(3)
            key = rng.choice(EVENT_KEYS)
            if op == 0:
                body.pop(rng.choice(list(body) or ["x"]), None)
            else:
                body[key] = junk_json_value(rng)
        if rng.random() < 0.2:
            body["recurrenceRules"] = [{"@type": "RecurrenceRule",
                                        "frequency": rng.choice(["minutely", "secondly", "daily", "bogus", None]),
                                        "count": rng.choice([None, -1, 0, 10 ** 9, "x"]),
                                        "byDay": rng.choice([None, [{"day": "xx"}], "mo"])}]
    return json.dumps(body, ensure_ascii=rng.random() < 0.5).encode("utf-8", "surrogatepass")


def malformed_patch(rng):
    paths = ["title", "description", "start", "duration", "timeZone", "uid", "@type", "participants",
             "participants/x/roles", "locations/~1x", "alerts/a/trigger/offset", "recurrenceRules",
             "recurrenceOverrides/2027-04-01T10:00:00", "/title", "title/", "", "~", "~2", "a/b/c/d/e",
             "keywords/a", "status", "roomcal", "roomcal/status", "replyTo/imip"]
    patch = {}
    for _ in range(rng.randrange(1, 5)):
        key = rng.choice(paths) if rng.random() < 0.8 else junk(rng)
        patch[key] = junk_json_value(rng)
    if rng.random() < 0.1:
        return json.dumps(junk_json_value(rng)).encode("utf-8", "surrogatepass")
    return json.dumps(patch).encode("utf-8", "surrogatepass")


# -- WebDAV XML -------------------------------------------------------------------------------
XML_BODIES = [
    '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>',
    '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/><D:resourcetype/></D:prop></D:propfind>',
    '<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
    '</D:prop><C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="20270101T000000Z" '
    'end="20280101T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>',
    '<?xml version="1.0"?><D:sync-collection xmlns:D="DAV:"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop>'
    '<D:getetag/></D:prop></D:sync-collection>',
    '<?xml version="1.0"?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-range start="20270101T000000Z" '
    'end="20270201T000000Z"/></C:free-busy-query>',
    '<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/>'
    '</D:prop><D:href>/rooms/fz/x.ics</D:href></C:calendar-multiget>',
]
XML_NASTY = ['<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',
             '<!DOCTYPE x SYSTEM "file:///etc/passwd">', "<x>&undefined;</x>", "<", "</D:propfind>",
             'start="notadate"', 'end="19000101T000000Z"', "<D:href>../../etc</D:href>", "\x00", "<![CDATA[",
             'start="99991231T235959Z"', '<D:sync-token>bogus</D:sync-token>', "<D:limit><D:nresults>-1</D:nresults></D:limit>"]


def malformed_xml(rng):
    body = rng.choice(XML_BODIES)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(4)
        i = rng.randrange(len(body) + 1)
        if op == 0:
            body = body[:i] + rng.choice(XML_NASTY) + body[i:]
        elif op == 1:
            j = rng.randrange(len(body) + 1)
            body = body[:min(i, j)] + body[max(i, j):]
        elif op == 2:
            body = body[:i] + junk(rng) + body[i:]
        else:
            body = body.replace('start="20270101T000000Z"', f'start="{junk(rng)}"')
    method = "PROPFIND" if "propfind" in body else rng.choice(["REPORT", "REPORT", "PROPFIND"])
    return method, body.encode("utf-8", "surrogatepass")


# -- one input per category -----------------------------------------------------------------------
def build(category, rng, event_href):
    """(method, path, headers, body, auth) of one generated request."""
    auth = (USER, PASSWORD)
    headers = {}
    if category == "ical":
        target = rng.choice([f"/rooms/{ROOM}/", PERSONAL, "/api/rooms/fz/bookings"])
        uid = rng.choice([str(uuid.uuid4()), "", "../x", "a/b", event_href.rsplit("/", 1)[-1][:-4]])
        headers["Content-Type"] = rng.choice(["text/calendar"] * 5 + ["text/calendar; charset=utf-8"] * 4 + ["text/calendar; charset=bogus"])
        if target.startswith("/api"):
            return "POST", target, headers, malformed_ics(rng, uid), auth
        return "PUT", target + f"{uuid.uuid4().hex}.ics", headers, malformed_ics(rng, uid), auth
    if category == "json":
        headers["Content-Type"] = rng.choice(["application/json", "application/jscalendar+json", "application/pretty+json"])
        method, path = rng.choice([("POST", f"/rooms/{ROOM}/"), ("PUT", f"/rooms/{ROOM}/{uuid.uuid4().hex}.ics"),
                                   ("PUT", event_href), ("POST", PERSONAL), ("POST", f"/api/rooms/{ROOM}/bookings"),
                                   ("POST", "/api/admin/rooms"), ("PATCH", "/api/admin/rooms/fz"),
                                   ("POST", "/api/admin/users"), ("POST", "/api/admin/tokens"),
                                   ("POST", f"/api/rooms/{ROOM}/bookings/replace"), ("POST", "/api/fz/events/"),
                                   ("POST", "/api/admin/groups")])
        if path.startswith("/api/admin"):
            auth = (ADMIN, ADMIN_PW)
        return method, path, headers, malformed_json(rng), auth
    if category == "patch":
        headers["Content-Type"] = "application/json"
        return "PATCH", rng.choice([event_href, event_href, f"/rooms/{ROOM}/missing.ics"]), headers, malformed_patch(rng), auth
    if category == "xml":
        method, body = malformed_xml(rng)
        headers["Content-Type"] = rng.choice(["application/xml", "text/xml; charset=utf-8"])
        headers["Depth"] = rng.choice(["0", "1", "infinity"])
        return method, rng.choice([f"/rooms/{ROOM}/", "/rooms/", PERSONAL, f"/{USER}/", "/", event_href]), headers, body, auth
    if category == "headers":
        method = rng.choice(["GET", "PUT", "PROPFIND", "DELETE", "POST", "PATCH", "OPTIONS", "HEAD", "REPORT"])
        choice = rng.randrange(5)
        body = b""
        if method in ("PUT", "POST"):
            body = "\r\n".join(valid_ics(rng, str(uuid.uuid4()))).encode()
        if choice == 0:
            auth = None
            headers["Authorization"] = rng.choice(["Basic", "Basic " + junk(rng), "Bearer", "Bearer " + junk(rng),
                                                   "Digest x", "Basic Zm9v", "Basic " + "QQ==" * 200,
                                                   "basic ZnV6emVyOmZ1enplci1wdw==", "Bearer rct_" + "0" * 40, junk(rng)])
        elif choice == 1:
            headers["If-Match"] = rng.choice(['"x"', "*", "", junk(rng), '"' + "a" * 500 + '"', 'W/"1"'])
        elif choice == 2:
            headers["Content-Type"] = rng.choice(["application/json", "text/calendar; charset=" + junk(rng), junk(rng),
                                                  "multipart/form-data; boundary=", "application/json; charset=latin-1"])
        elif choice == 3:
            headers["Depth"] = rng.choice(["2", "-1", "", "infinity", junk(rng), "1, 0"])
        else:
            headers[rng.choice(["Accept", "If-None-Match", "Prefer", "Destination", "Overwrite", "X-HTTP-Method-Override"])] = junk(rng)
        path = event_href if method in ("PUT", "PATCH", "DELETE") and rng.random() < 0.5 else rng.choice(
            [f"/rooms/{ROOM}/", PERSONAL, f"/api/rooms/{ROOM}", f"/api/rooms/{ROOM}/bookings", "/rooms/"])
        if method == "DELETE" and path != event_href:
            path = f"/rooms/{ROOM}/missing-{uuid.uuid4().hex}.ics"
        # Header values without control characters: requests refuses CR, LF and NUL, and
        # gunicorn answers the others with its own 400 and closes (no application involved)
        headers = {k: "".join(c for c in v if ord(c) >= 0x20 and c != "\x7f").strip().encode("utf-8", "surrogatepass").decode("latin-1", "replace")
                   for k, v in headers.items()}
        return method, path, headers, body, auth
    # paths and query strings
    method = rng.choice(["GET", "GET", "PROPFIND", "REPORT", "DELETE", "OPTIONS", "HEAD"])
    bases = [f"/rooms/{ROOM}/", "/rooms/", "/api/rooms", f"/api/rooms/{ROOM}/availability", f"/api/rooms/{ROOM}/bookings",
             "/api/rooms/fz/check", "/api/admin/rooms", "/.feeds/", "/api/docs", f"/{USER}/", "/api/clear-bookings"]
    base = rng.choice(bases)
    if rng.random() < 0.5:
        segment = rng.choice(["..", "%2e%2e", "%00", "%ff", "a" * 300, "x.ics", ".Radicale.props", "~", "%2F", "//",
                              ".feeds", "rcf_x_y.ics", junk(rng)])
        base = base + requests.utils.quote(segment, safe="%/.~") + rng.choice(["", "/"])
    params = ["start", "end", "free-from", "free-until", "duration", "step", "capacity", "feature", "status", "from",
              "to", "mine", "sync-token", "nresults", "props[]", "text", "calendar", "test", "force", "user"]
    query = "&".join(f"{rng.choice(params)}={requests.utils.quote(junk(rng), safe='')}" for _ in range(rng.randrange(0, 5)))
    if method == "DELETE":
        base = f"/rooms/{ROOM}/missing-{uuid.uuid4().hex}.ics"
    if "admin" in base or "clear" in base:
        if method == "DELETE" or "clear" in base:
            query += "&test=1"  # never clear for real: a 2xx there is allowed and would reset the room
        auth = rng.choice([(ADMIN, ADMIN_PW), auth])
    headers["Accept"] = rng.choice(["application/json", "*/*", "text/calendar"])
    return method, base + ("?" + query if query else ""), headers, b"", auth


class Fuzzer:
    """Sends generated inputs to a running server and checks every answer."""

    def __init__(self, url):
        self.url = url
        self.session = requests.Session()
        self.admin = requests.Session()
        self.admin.auth = (ADMIN, ADMIN_PW)
        self.counts = collections.Counter()
        self.statuses = collections.defaultdict(collections.Counter)
        self.failures = []
        self.event_href = None

    def setup(self):
        r = self.session.request("MKCALENDAR", self.url + PERSONAL, auth=(USER, PASSWORD))
        assert r.status_code in (201, 405), r.status_code
        self.ensure_event()
        self.snapshots = self.snapshot()

    def ensure_event(self):
        """The event that PUT/PATCH/headers inputs aim at (re-created if an input deleted it)."""
        if self.event_href:
            r = self.session.get(self.url + self.event_href, auth=(USER, PASSWORD))
            if r.status_code == 200:
                return
        uid = f"fz-{uuid.uuid4().hex}"
        href = f"/rooms/{ROOM}/{uid}.ics"
        ics = "\r\n".join(valid_ics(random.Random(uid), uid)).replace("202703", "202809") + "\r\n"
        r = self.session.put(self.url + href, data=ics.encode(), auth=(USER, PASSWORD),
                             headers={"Content-Type": "text/calendar"})
        assert r.status_code in (201, 204), (r.status_code, r.text)
        self.event_href = href

    def snapshot(self):
        result = {}
        for path in (f"/rooms/{ROOM}/", PERSONAL):
            r = self.admin.get(self.url + path, params={"props[]": "getetag"},
                               headers={"Accept": "application/json"}, auth=(USER, PASSWORD) if path == PERSONAL else None)
            assert r.status_code == 200, (path, r.status_code)
            result[path] = r.json()["responses"]
        return result

    def one(self, category, rng):
        method, path, headers, body, auth = build(category, rng, self.event_href)
        self.counts[category] += 1
        try:
            r = self.session.request(method, self.url + path, data=body, headers=headers, auth=auth,
                                     timeout=60, allow_redirects=False)
            status = r.status_code
        except requests.RequestException as e:
            status = f"error {type(e).__name__}"
        self.statuses[category][status] += 1
        if not isinstance(status, int) or status >= 500:
            self.failures.append((category, method, path, headers, body[:300], status))
            return status
        if method.upper() in WRITES:
            after = self.snapshot()
            if status >= 400 and after != self.snapshots:
                self.failures.append((category, method, path, headers, body[:300], f"{status} but storage changed"))
            self.snapshots = after
            if method in ("DELETE", "PUT", "PATCH") and status < 400:
                self.ensure_event()
                self.snapshots = self.snapshot()
        return status

    def alive(self) -> bool:
        r = self.session.get(self.url + f"/rooms/{ROOM}/", auth=(USER, PASSWORD), headers={"Accept": "application/json"},
                             timeout=30)
        return r.status_code == 200


def seed_server(cli, run, repo):
    run(cli + ["user", "add", ADMIN, "--password", ADMIN_PW, "--admin"], cwd=repo)
    run(cli + ["user", "add", USER, "--password", PASSWORD], cwd=repo)
    run(cli + ["room", "add", ROOM, "--name", "Fuzz room", "--timezone", "Europe/Berlin"], cwd=repo)


def main(argv=None):
    from bench_booking import REPO, ROOMCAL, ServerProcess, init_roomcal, run
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="roomcal-fuzz-")
    config = init_roomcal(workdir)
    cli = ROOMCAL + ["--config", config]
    seed_server(cli, run, REPO)
    server = ServerProcess("roomcal", cli + ["serve", "--workers", str(args.workers), "--bind", "127.0.0.1:{port}"],
                           REPO, os.path.join(workdir, "serve.log"))
    server.start()
    rng = random.Random(args.seed)
    t0 = time.time()
    try:
        fuzzer = Fuzzer(server.url)
        fuzzer.setup()
        for i in range(args.inputs):
            fuzzer.one(CATEGORIES[i % len(CATEGORIES)], rng)
            if (i + 1) % 1000 == 0:
                print(f"  {i + 1} inputs, {len(fuzzer.failures)} failures, {time.time() - t0:.0f} s", flush=True)
        alive = fuzzer.alive()
    finally:
        server.stop()
    with open(os.path.join(workdir, "serve.log"), errors="replace") as f:
        logged_500 = sum(1 for line in f if '" 500 ' in line or '" 502 ' in line or '" 503 ' in line)
    print(f"inputs: {sum(fuzzer.counts.values())} in {time.time() - t0:.0f} s (seed {args.seed})")
    for category in CATEGORIES:
        print(f"  {category}: {fuzzer.counts[category]} inputs, statuses {dict(sorted(fuzzer.statuses[category].items(), key=str))}")
    fivexx = sum(c for cat in fuzzer.statuses.values() for s, c in cat.items() if not isinstance(s, int) or s >= 500)
    print(f"responses >= 500 (or no answer): {fivexx}; 5xx in the access log: {logged_500}; "
          f"rejected writes that changed storage: {sum(1 for f in fuzzer.failures if 'changed' in str(f[-1]))}; "
          f"server answering afterwards: {alive}")
    for failure in fuzzer.failures[:20]:
        print("  FAIL:", failure)
    ok = not fuzzer.failures and alive and not logged_500
    print("RESULT:", "OK" if ok else f"FAIL (log: {workdir}/serve.log)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

"""The fuzzer (issues 7 and 12): seeded generators of malformed requests, and ``Fuzzer``, which
sends them to a running ``roomcal serve`` and checks that no answer is >= 500, that a rejected
write stored nothing and that the server still answers.

Categories of issue 7 (``CATEGORIES``): iCalendar bodies, JSON bodies, PatchObjects, WebDAV
XML, headers, paths and query strings.  Classes of issue 12 (``HARDENING``, aimed at a room of
their own): VTIMEZONE rules, pathological recurrence rules, encodings, years 1 and 9999,
control characters.  ``seed_server`` sets up the users, group and rooms they aim at.

``bench/stress_fuzz.py`` runs 10 000+ inputs and measures the server while they go;
``tests/test_fuzz.py`` drives the same generators through hypothesis (a small, derandomized
subset of ``CATEGORIES``).
"""

import codecs
import collections
import datetime
import json
import random
import re
import time
import uuid

import requests
import urllib3

ROOM = "fz"
HROOM = "fzh"      # the room of the issue-12 classes
AROOM = "fzadm"    # the room /api/admin PATCHes of the control-character class aim at
USER, PASSWORD = "fuzzer", "fuzzer-pw"
ADMIN, ADMIN_PW = "fadmin", "fadmin-pw"
VICTIM = "fzvictim"   # the user /api/admin PATCHes aim at
GROUP = "fzgroup"
PERSONAL = f"/{USER}/fuzzcal/"
CATEGORIES = ("ical", "json", "patch", "xml", "headers", "paths")
HARDENING = ("vtimezone", "rrule", "encoding", "edgedates", "controls")
ALL_CATEGORIES = CATEGORIES + HARDENING
WRITES = {"PUT", "POST", "PATCH", "DELETE", "MOVE", "COPY", "MKCALENDAR", "PROPPATCH"}
SLOW = 2.0   # seconds: a request slower than this is listed
READ_BACK = {"vtimezone", "rrule", "edgedates"}
COLLECTION_EVERY = 20   # accepted writes between reads of the whole collection

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



# == Issue 12 (hardening): the classes the screen, the work budget and the front must survive ==
# They aim at their own room (HROOM, Europe/Berlin) so that what they store does not change
# the answers of the six categories above; admin PATCHes aim at AROOM.  Each generator returns
# (method, path, headers, body, auth, label): the label names the variant, for the report.
def _stamp(moment: datetime.datetime) -> str:
    return f"{moment.year:04d}{moment:%m%dT%H%M%S}"   # %Y gives "1", not "0001", for year 1


def _slot(rng) -> datetime.datetime:
    """A whole hour in 2027-2029 (few collisions between generated bookings)."""
    return datetime.datetime(2027, 1, 1) + datetime.timedelta(hours=rng.randrange(3 * 365 * 24))


def _calendar(event_lines, before=(), uid=None, newline="\r\n") -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//fuzz hardening//EN", *before, "BEGIN:VEVENT",
             f"UID:{uid or uuid.uuid4()}", "DTSTAMP:20260101T000000Z", *event_lines, "SUMMARY:hardening",
             "END:VEVENT", "END:VCALENDAR"]
    return newline.join(lines) + newline


def _ics_target(rng, kinds=("room", "room", "personal", "api", "check")):
    """(method, path) of a write that takes text/calendar."""
    kind = rng.choice(kinds)
    if kind == "room":
        return "PUT", f"/rooms/{HROOM}/{uuid.uuid4().hex}.ics"
    if kind == "personal":
        return "PUT", f"{PERSONAL}{uuid.uuid4().hex}.ics"
    if kind == "api":
        return "POST", f"/api/rooms/{HROOM}/bookings"
    return "POST", f"/api/rooms/{HROOM}/check"


def _json_target(rng, event_href, kinds=("post", "post", "api", "personal", "put", "check")):
    kind = rng.choice(kinds)
    if kind == "post":
        return "POST", f"/rooms/{HROOM}/"
    if kind == "api":
        return "POST", f"/api/rooms/{HROOM}/bookings"
    if kind == "personal":
        return "POST", PERSONAL
    if kind == "put":
        return "PUT", f"/rooms/{HROOM}/{uuid.uuid4().hex}.ics"
    if kind == "replace":
        return "PUT", event_href
    return "POST", f"/api/rooms/{HROOM}/check"


ICS = {"Content-Type": "text/calendar; charset=utf-8"}
JSON = {"Content-Type": "application/json"}


# -- VTIMEZONE rules ---------------------------------------------------------------------
IANA_NAMES = ["Europe/Berlin", "America/New_York", "Etc/UTC", "UTC", "Asia/Kolkata", "Australia/Lord_Howe",
              "Pacific/Kiritimati", "America/St_Johns", "Africa/Casablanca", "Asia/Kathmandu"]
MADE_UP_OFFSETS = ["+2359", "-2359", "+9999", "-0000", "+0130", "+013045", "+2400", "+0", "01:00", "+1337",
                   "-1200", "+1400", "", "+01:00", "UTC", "+0060", "++0100"]


def _observance(kind, dtstart, rule=None, rdates=None, offset_from="+0100", offset_to="+0200", extra=()):
    lines = [f"BEGIN:{kind}", f"DTSTART:{dtstart}", f"TZOFFSETFROM:{offset_from}", f"TZOFFSETTO:{offset_to}",
             f"TZNAME:{kind[:3]}"]
    if rule:
        lines.append(f"RRULE:{rule}")
    if rdates:
        lines.extend(rdates)
    return [*lines, *extra, f"END:{kind}"]


def _vtimezone(tzid, observances, extra=()):
    return ["BEGIN:VTIMEZONE", f"TZID:{tzid}", *extra, *[line for o in observances for line in o], "END:VTIMEZONE"]


def _sub_yearly_rule(rng) -> str:
    freq = rng.choice(["SECONDLY", "MINUTELY", "HOURLY", "DAILY", "WEEKLY", "MONTHLY"])
    parts = [f"FREQ={freq}"]
    parts += rng.sample(["INTERVAL=1", "COUNT=100000", "UNTIL=99991231T235959Z", "BYMONTH=3", "BYDAY=-1SU",
                         "BYHOUR=2", "BYMONTHDAY=31", "BYSETPOS=-1", "COUNT=3", "UNTIL=20380119T031407Z"],
                        rng.randrange(0, 3))
    return ";".join(parts)


def vtimezone_ics(rng, uid):
    """(label, body): an event whose TZID is defined by a hostile VTIMEZONE."""
    tzid = rng.choice(IANA_NAMES + [f"Fuzz/Zone-{rng.randrange(10 ** 6)}", "Europe/Nowhere", "/custom/zone"])
    variant = rng.choice(["sub-yearly FREQ", "DTSTART 1601/1", "huge RDATE", "many observances",
                          "IANA name, made-up offsets", "nested VTIMEZONE", "mixed"])
    start = rng.choice(["16010101T000000", "00010101T000000", "19700329T020000", "16011028T030000"])
    standard = _observance("STANDARD", "16011028T030000", "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", None, "+0200", "+0100")
    daylight = _observance("DAYLIGHT", "16010325T020000", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", None, "+0100", "+0200")
    before = []
    if variant == "sub-yearly FREQ":
        before = _vtimezone(tzid, [_observance(rng.choice(["STANDARD", "DAYLIGHT"]), start, _sub_yearly_rule(rng)),
                                   *rng.sample([standard, daylight], rng.randrange(0, 3))])
    elif variant == "DTSTART 1601/1":
        rules = ["FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "FREQ=YEARLY", "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
                 "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", "FREQ=YEARLY;BYWEEKNO=53;BYDAY=MO", "FREQ=YEARLY;INTERVAL=400",
                 "FREQ=YEARLY;BYYEARDAY=366", "FREQ=YEARLY;COUNT=9000"]
        before = _vtimezone(tzid, [_observance("STANDARD", rng.choice(["00010101T000000", "16010101T000000"]),
                                               rng.choice(rules), None, "+0200", "+0100"),
                                   _observance("DAYLIGHT", rng.choice(["00010325T020000", "16010325T020000"]),
                                               rng.choice(rules), None, "+0100", "+0200")])
    elif variant == "huge RDATE":
        n = rng.choice([1000, 10000, 40000])
        base = datetime.datetime(rng.choice([1, 1601, 1900, 2000]), 3, 25, 2)
        step = datetime.timedelta(hours=rng.choice([1, 24, 24 * 30]))
        values = [_stamp(base + i * step) for i in range(n)]
        if rng.random() < 0.5:
            rdates = ["RDATE:" + ",".join(values)]
        else:
            rdates = [f"RDATE:{v}" for v in values]
        before = _vtimezone(tzid, [_observance("DAYLIGHT", _stamp(base), None, rdates), standard])
    elif variant == "many observances":
        n = rng.choice([100, 1000, 5000])
        observances = []
        for i in range(n):
            year = rng.choice([1, 1601, 1900]) + i % 8000
            kind = "DAYLIGHT" if i % 2 else "STANDARD"
            rule = rng.choice([None, None, "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", "FREQ=YEARLY;COUNT=2"])
            observances.append(_observance(kind, f"{year:04d}0325T020000", rule, None,
                                           "+0100" if i % 2 else "+0200", "+0200" if i % 2 else "+0100"))
        before = _vtimezone(tzid, observances)
    elif variant == "IANA name, made-up offsets":
        tzid = rng.choice(IANA_NAMES)
        before = _vtimezone(tzid, [
            _observance("STANDARD", "16011028T030000", "FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU", None,
                        rng.choice(MADE_UP_OFFSETS), rng.choice(MADE_UP_OFFSETS)),
            _observance("DAYLIGHT", "16010325T020000", "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU", None,
                        rng.choice(MADE_UP_OFFSETS), rng.choice(MADE_UP_OFFSETS))])
    elif variant == "nested VTIMEZONE":
        depth = rng.choice([2, 3, 7, 9, 20, 200])
        inner = _vtimezone(tzid, [standard, daylight])
        for level in range(depth - 1):
            if rng.random() < 0.5:
                inner = _vtimezone(f"{tzid}-{level}", [standard], extra=inner)
            else:
                inner = ["BEGIN:VTIMEZONE", f"TZID:{tzid}-{level}", "BEGIN:STANDARD", "DTSTART:16011028T030000",
                         "TZOFFSETFROM:+0200", "TZOFFSETTO:+0100", *inner, "END:STANDARD", "END:VTIMEZONE"]
        before = inner
    else:  # two or three of the above at once, and twice the same TZID
        before = []
        for _ in range(rng.randrange(2, 4)):
            _, body = vtimezone_ics(rng, uid)
            lines = body.split("\r\n")
            before += lines[lines.index("PRODID:-//fuzz hardening//EN") + 1:lines.index("BEGIN:VEVENT")]
        tzid = rng.choice([line[5:] for line in before if line.startswith("TZID:")] or [tzid])
    at = _slot(rng)
    event = [f"DTSTART;TZID={tzid}:{_stamp(at)}", f"DTEND;TZID={tzid}:{_stamp(at + datetime.timedelta(hours=1))}"]
    event += rng.choice([[], [], ["RRULE:FREQ=WEEKLY;COUNT=10"], ["RRULE:FREQ=DAILY"], ["RRULE:FREQ=YEARLY"],
                         [f"RDATE;TZID={tzid}:{_stamp(at + datetime.timedelta(days=400))}"]])
    return variant, _calendar(event, before, uid)


# -- pathological recurrence rules ---------------------------------------------------------
SETPOS_ALL = ("BYHOUR", list(range(24))), ("BYMINUTE", list(range(60))), ("BYSECOND", list(range(60)))
RARE_FILTERS = {
    "BYMONTH=2;BYMONTHDAY=30": [("BYMONTH", [2]), ("BYMONTHDAY", [30])],
    "BYMONTHDAY=31, 30-day months": [("BYMONTH", [4, 6, 9, 11]), ("BYMONTHDAY", [31])],
    "BYMONTHDAY=31": [("BYMONTHDAY", [31])],
    "BYYEARDAY=366;BYMONTH=2": [("BYYEARDAY", [366]), ("BYMONTH", [2])],
    "BYYEARDAY=366": [("BYYEARDAY", [366])],
    "BYYEARDAY=-366;BYMONTH=12": [("BYYEARDAY", [-366]), ("BYMONTH", [12])],
    "BYWEEKNO=53": [("BYWEEKNO", [53])],
    "BYWEEKNO=53;BYMONTH=6": [("BYWEEKNO", [53]), ("BYMONTH", [6])],
    "BYWEEKNO=53;BYDAY=MO;BYMONTH=1": [("BYWEEKNO", [53]), ("BYDAY", ["MO"]), ("BYMONTH", [1])],
    "BYWEEKNO=-53;BYYEARDAY=100": [("BYWEEKNO", [-53]), ("BYYEARDAY", [100])],
    "29 February on a Monday": [("BYMONTH", [2]), ("BYMONTHDAY", [29]), ("BYDAY", ["MO"])],
    "BYDAY=5MO;BYMONTH=2": [("BYDAY", ["5MO"]), ("BYMONTH", [2])],
    "BYDAY=53MO": [("BYDAY", ["53MO"])],
    "BYSETPOS, 86400 per day": [("BYSETPOS", [-1]), *SETPOS_ALL],
    "BYSETPOS=1..100, 86400 per day": [("BYSETPOS", list(range(1, 101))), *SETPOS_ALL],
    "BYSETPOS, 1440 per day, 30 Feb": [("BYSETPOS", [1]), SETPOS_ALL[0], SETPOS_ALL[1], ("BYMONTH", [2]),
                                       ("BYMONTHDAY", [30])],
    "BYHOUR=25": [("BYHOUR", [25])],
    "BYSECOND=60": [("BYSECOND", [60])],
    "none": [],
}
RULE_ENDS = ["", "", "COUNT=1", "COUNT=10", "COUNT=5000", "COUNT=10001", "COUNT=2147483648",
             "UNTIL=20270101T000000Z", "UNTIL=99991231T235959Z", "UNTIL=00010101T000000Z", "UNTIL=20300101"]
INTERVALS = ["", "", "", "INTERVAL=2", "INTERVAL=999999999", "INTERVAL=2147483648", "INTERVAL=" + "9" * 30,
             "INTERVAL=0", "INTERVAL=-1"]
FREQS = ["YEARLY", "MONTHLY", "WEEKLY", "DAILY", "HOURLY", "MINUTELY", "SECONDLY"]


def _rule(rng):
    """(label, parts): one rule as [(NAME, [values])]."""
    label = rng.choice(list(RARE_FILTERS))
    freq = rng.choice(FREQS)
    if label == "none":
        freq = rng.choice(["SECONDLY", "MINUTELY", "SECONDLY", "HOURLY"])
        label = f"FREQ={freq}"
    parts = [("FREQ", [freq]), *RARE_FILTERS.get(label, [])]
    for extra in (rng.choice(INTERVALS), rng.choice(RULE_ENDS)):
        if extra:
            name, value = extra.split("=", 1)
            parts.append((name, [value]))
    return label, parts


def _rule_text(parts) -> str:
    return ";".join(f"{name}={','.join(map(str, values))}" for name, values in parts)


def _rule_json(parts) -> dict:
    names = {"FREQ": "frequency", "INTERVAL": "interval", "COUNT": "count", "UNTIL": "until",
             "BYMONTH": "byMonth", "BYMONTHDAY": "byMonthDay", "BYYEARDAY": "byYearDay", "BYWEEKNO": "byWeekNo",
             "BYHOUR": "byHour", "BYMINUTE": "byMinute", "BYSECOND": "bySecond", "BYSETPOS": "bySetPosition",
             "BYDAY": "byDay"}
    rule = {"@type": "RecurrenceRule"}
    for name, values in parts:
        key = names[name]
        if name == "FREQ":
            rule[key] = values[0].lower()
        elif name in ("INTERVAL", "COUNT"):
            rule[key] = int(values[0])
        elif name == "UNTIL":
            v = str(values[0])
            rule[key] = f"{v[0:4]}-{v[4:6]}-{v[6:8]}T{v[9:11] or '00'}:{v[11:13] or '00'}:{v[13:15] or '00'}"
        elif name == "BYMONTH":
            rule[key] = [str(v) for v in values]
        elif name == "BYDAY":
            rule[key] = []
            for v in values:
                m = re.match(r"([+-]?\d*)([A-Z]{2})$", str(v))
                nday = {"@type": "NDay", "day": m.group(2).lower()}
                if m.group(1):
                    nday["nthOfPeriod"] = int(m.group(1))
                rule[key].append(nday)
        else:
            rule[key] = [int(v) for v in values]
    return rule


def rrule_input(rng, event_href):
    """(method, path, headers, body, label)."""
    label, parts = _rule(rng)
    start = rng.choice(["slot", "slot", "slot", "00010101T000000Z", "16010101T000000Z", "19000101T000000",
                        "00010101", "16010101T090000"])
    extras = []
    if rng.random() < 0.2:
        ex_label, ex_parts = _rule(rng)
        extras.append(("EXRULE", ex_parts if rng.random() < 0.7 else parts))
        label += " + EXRULE"
    if rng.random() < 0.1:
        for _ in range(rng.choice([2, 10, 50])):
            extras.append(("RRULE", _rule(rng)[1]))
        label += " + many RRULEs"
    if rng.random() < 0.5:  # as JSCalendar
        method, path = _json_target(rng, event_href)
        if start == "slot":
            begin = _slot(rng).isoformat()
        else:
            s = start
            begin = f"{s[0:4]}-{s[4:6]}-{s[6:8]}T{s[9:11] or '09'}:{s[11:13] or '00'}:{s[13:15] or '00'}"
        event = {"@type": "Event", "title": "rrule", "start": begin, "timeZone": rng.choice(["Europe/Berlin", "Etc/UTC", None]),
                 "duration": "PT1H", "recurrenceRules": [_rule_json(parts)]}
        if event["timeZone"] is None:
            del event["timeZone"]
        for name, extra_parts in extras:
            key = "excludedRecurrenceRules" if name == "EXRULE" else "recurrenceRules"
            event.setdefault(key, []).append(_rule_json(extra_parts))
        return method, path, dict(JSON), json.dumps(event).encode(), "json " + label
    method, path = _ics_target(rng)
    if start == "slot":
        at = _slot(rng)
        lines = [f"DTSTART;TZID=Europe/Berlin:{_stamp(at)}", "DURATION:PT1H"]
    elif len(start) == 8:
        lines = [f"DTSTART;VALUE=DATE:{start}", "DURATION:P1D"]
    else:
        lines = [f"DTSTART:{start}", "DURATION:PT1H"]
    lines.append(f"RRULE:{_rule_text(parts)}")
    lines += [f"{name}:{_rule_text(extra_parts)}" for name, extra_parts in extras]
    return method, path, dict(ICS), _calendar(lines).encode(), "ical " + label


# -- encodings ---------------------------------------------------------------------------------
ODD_CHARSETS = ["utf-16", "utf-16-le", "utf-32", "latin-1", "utf-7", "cp037", "idna", "punycode", "unicode_escape",
                "rot13", "base64", "hex", "zlib", "undefined", "utf-8-sig", "ascii", "UTF-16BE"]
XML_UTF16 = '<?xml version="1.0" encoding="{enc}"?>{doctype}<D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>'
XML_REPORT = ('<?xml version="1.0" encoding="{enc}"?>{doctype}<C:calendar-query xmlns:D="DAV:" '
              'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop><C:filter><C:comp-filter '
              'name="VCALENDAR"/></C:filter></C:calendar-query>')
DOCTYPES = ["", "", '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>',
            '<!DOCTYPE x SYSTEM "file:///etc/passwd">', "<!doctype D:propfind>", '<!DOCTYPE x [<!ENTITY e SYSTEM "http://127.0.0.1:1/">]>']


def encoding_input(rng, event_href):
    """(method, path, headers, body, label): bodies whose bytes and declared charset disagree."""
    kind = rng.choice(["ical", "ical", "json", "xml", "xml"])
    body_enc = rng.choice(["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be", "utf-32", "latin-1", "utf-7", "cp037"])
    declared = rng.choice([None, "utf-8", "utf-8", body_enc, body_enc, rng.choice(ODD_CHARSETS)])
    if declared == "utf-8-sig" and rng.random() < 0.5:
        declared = "utf-8"
    if kind == "ical":
        text = _calendar([f"DTSTART;TZID=Europe/Berlin:{_stamp(_slot(rng))}", "DURATION:PT1H",
                          "DESCRIPTION:Grüße, 会議室, 💥"])
        method, path = _ics_target(rng)
        media = "text/calendar"
    elif kind == "json":
        text = json.dumps({"@type": "Event", "title": "Grüße 会議室 💥", "start": _slot(rng).isoformat(),
                           "timeZone": "Europe/Berlin", "duration": "PT1H"}, ensure_ascii=False)
        method, path = _json_target(rng, event_href)
        media = rng.choice(["application/json", "application/jscalendar+json"])
    else:
        doctype = rng.choice(DOCTYPES)
        decl = rng.choice(["UTF-16", "utf-16", "UTF-8", "UTF-32", "ISO-8859-1", "rot13", body_enc.upper()])
        text = rng.choice([XML_UTF16, XML_REPORT]).format(enc=decl, doctype=doctype)
        method = "PROPFIND" if "propfind" in text else "REPORT"
        if rng.random() < 0.15:
            method, text = "PROPPATCH", text.replace("D:propfind", "D:propertyupdate").replace(
                "<D:prop><D:getetag/></D:prop>", "<D:set><D:prop><D:displayname>x</D:displayname></D:prop></D:set>")
        path = rng.choice([f"/rooms/{HROOM}/", PERSONAL, f"/rooms/{ROOM}/", "/rooms/"])
        media = rng.choice(["application/xml", "text/xml"])
        if rng.random() < 0.3:
            body_enc = rng.choice(["utf-16", "utf-16-le", "utf-32"])
        label_extra = f" decl={decl}" + (" DOCTYPE" if doctype else "")
    body = text.encode(body_enc, "replace")
    if rng.random() < 0.05:   # a BOM in front of bytes of another encoding
        body = rng.choice([codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF32_LE]) + body
        body_enc += "+stray BOM"
    content_type = media + (f"; charset={declared}" if declared else "")
    headers = {"Content-Type": content_type}
    if kind == "xml":
        headers["Depth"] = rng.choice(["0", "1"])
        return method, path, headers, body, f"xml {body_enc}{label_extra} declared={declared}"
    return method, path, headers, body, f"{kind} {body_enc} declared={declared}"


# -- year 1 and 9999 -----------------------------------------------------------------------------
EDGE_VALUES = ["0001-01-01", "0001-01-01T00:00:00", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00",
               "0001-01-01T00:00:00-12:00", "0001-01-01T00:30:00", "9999-12-31", "9999-12-31T23:59:59",
               "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-12:00", "9999-12-31T23:59:59+14:00",
               "9999-12-31T23:00:00", "0000-01-01", "10000-01-01", "00010101T000000Z", "99991231T235959Z",
               "9999-12-31T24:00:00", "0001-01-01T00:00:00.000001", "-0001-01-01", "2027-03-01"]
EDGE_ICAL = ["00010101T000000Z", "00010101T000000", "00010101", "99991231T235959Z", "99991231T235959",
             "99991231", "99991231T230000Z", "00010101T003000", "16010101T000000Z", "20270301T100000Z"]
EDGE_ZONES = ["Asia/Tokyo", "America/Los_Angeles", "Pacific/Kiritimati", "Etc/GMT+12", "Europe/Berlin", "Etc/UTC"]


def _ical_time(name, value, zone=None):
    if len(value) == 8:
        return f"{name};VALUE=DATE:{value}"
    if zone and not value.endswith("Z"):
        return f"{name};TZID={zone}:{value}"
    return f"{name}:{value}"


def edgedates_input(rng, event_href, hevent_href):
    kind = rng.choice(["ical", "ical", "json", "query", "query", "query", "report", "verb"])
    if kind == "ical":
        method, path = _ics_target(rng)
        zone = rng.choice([None, *EDGE_ZONES])
        start, end = rng.choice(EDGE_ICAL), rng.choice(EDGE_ICAL + [None, None])
        lines = [_ical_time("DTSTART", start, zone)]
        lines.append(_ical_time("DTEND", end, zone) if end else rng.choice(["DURATION:PT2H", "DURATION:P1D",
                                                                           "DURATION:P3650000D", ""]))
        if rng.random() < 0.4:
            lines.append(f"RRULE:FREQ={rng.choice(['YEARLY', 'DAILY', 'WEEKLY'])};UNTIL={rng.choice(EDGE_ICAL)}")
        if rng.random() < 0.2:
            lines.append(f"EXDATE:{rng.choice(EDGE_ICAL)}")
        if rng.random() < 0.2:
            lines.append(f"RDATE:{rng.choice(EDGE_ICAL)}")
        if rng.random() < 0.1:
            lines.append(f"RECURRENCE-ID:{rng.choice(EDGE_ICAL)}")
        lines = [line for line in lines if line]
        return method, path, dict(ICS), _calendar(lines).encode(), f"ical DTSTART {start} DTEND {end} {zone}"
    if kind == "json":
        method, path = _json_target(rng, event_href)
        start = rng.choice(EDGE_VALUES)
        event = {"@type": "Event", "title": "edge", "start": start, "timeZone": rng.choice(EDGE_ZONES + [None]),
                 "duration": rng.choice(["PT1H", "PT2H", "P1D", "P3650000D"])}
        if event["timeZone"] is None:
            del event["timeZone"]
        if rng.random() < 0.4:
            event["recurrenceRules"] = [{"@type": "RecurrenceRule", "frequency": rng.choice(["yearly", "daily"]),
                                         "until": rng.choice(EDGE_VALUES)}]
        if path.startswith("/api/rooms") and path.endswith("bookings") and rng.random() < 0.5:
            event = {"title": "edge", "start": start, "end": rng.choice(EDGE_VALUES)}
        return method, path, dict(JSON), json.dumps(event).encode(), f"json start {start}"
    if kind == "query":
        a, b = rng.choice(EDGE_VALUES), rng.choice(EDGE_VALUES)
        q = requests.utils.quote
        route = rng.choice(["listing", "listing-personal", "availability", "finder", "bookings"])
        if route == "listing":
            path = f"/rooms/{HROOM}/?start={q(a, safe='')}&end={q(b, safe='')}"
        elif route == "listing-personal":
            path = f"{PERSONAL}?start={q(a, safe='')}&end={q(b, safe='')}"
        elif route == "availability":
            path = f"/api/rooms/{HROOM}/availability?start={q(a, safe='')}&end={q(b, safe='')}"
            if rng.random() < 0.5:
                path += "&duration=PT1H"
        elif route == "finder":
            path = f"/api/rooms?free-from={q(a, safe='')}&free-until={q(b, safe='')}"
        else:
            path = f"/api/rooms/{HROOM}/bookings?from={q(a, safe='')}&to={q(b, safe='')}"
        return "GET", path, {"Accept": "application/json"}, b"", f"query {route} {a} .. {b}"
    if kind == "report":
        a, b = rng.choice(EDGE_ICAL), rng.choice(EDGE_ICAL)
        if rng.random() < 0.5:
            body = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                    '<D:prop><D:getetag/><C:calendar-data><C:expand start="{a}" end="{b}"/></C:calendar-data></D:prop>'
                    '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="{a}" '
                    'end="{b}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>').format(a=a, b=b)
            label = "report calendar-query/expand"
        else:
            body = ('<?xml version="1.0"?><C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav">'
                    f'<C:time-range start="{a}" end="{b}"/></C:free-busy-query>')
            label = "report free-busy"
        return "REPORT", rng.choice([f"/rooms/{HROOM}/", PERSONAL]), {"Content-Type": "application/xml", "Depth": "1"}, \
            body.encode(), f"{label} {a} .. {b}"
    uid = hevent_href.rsplit("/", 1)[-1][:-4]
    body = {"start": rng.choice(EDGE_VALUES)}
    if rng.random() < 0.5:
        body["end"] = rng.choice(EDGE_VALUES)
    return "POST", f"/api/rooms/{HROOM}/bookings/{uid}/reschedule", dict(JSON), json.dumps(body).encode(), \
        f"reschedule to {body['start']}"


# -- control characters in every string field --------------------------------------------------
CONTROLS = ["\r\n", "\n", "\r", "\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u2028", "\u2029", "\t", "\x08",
            "\r\nBcc: victim@example.org", "\nX-Injected: yes", "\r\n\r\nbody", "\r\nEND:VEVENT\r\nBEGIN:VTODO"]


def _dirty(rng, text: str) -> str:
    control = rng.choice(CONTROLS)
    where = rng.choice(["end", "end", "middle", "start"])
    if where == "end":
        return text + control
    if where == "start":
        return control + text
    i = rng.randrange(len(text) + 1)
    return text[:i] + control + text[i:]


def full_event(rng) -> dict:
    return {"@type": "Event", "title": "Team meeting", "description": "Agenda: budget",
            "start": _slot(rng).isoformat(), "timeZone": "Europe/Berlin", "duration": "PT1H",
            "locations": {"loc1": {"@type": "Location", "name": "Main building"}},
            "replyTo": {"imip": "mailto:fuzzer@example.org"},
            "participants": {"p1": {"@type": "Participant", "name": "Ann Example", "email": "ann@example.org",
                                    "sendTo": {"imip": "mailto:ann@example.org"}, "roles": {"attendee": True}}},
            "keywords": {"budget": True}, "status": "confirmed", "privacy": "public", "uid": str(uuid.uuid4())}


EVENT_FIELDS = ["title", "description", "locations/loc1/name", "replyTo/imip", "participants/p1/email",
                "participants/p1/sendTo/imip", "participants/p1/name", "participants id", "locations id",
                "keywords key", "uid", "timeZone", "status", "start", "duration", "participants/p1/roles key",
                "privacy"]


def _dirty_field(rng, event: dict, field: str) -> None:
    if field.endswith(" id") or field.endswith(" key"):
        participant = next(iter(event["participants"].values()))
        container = {"participants id": event["participants"], "locations id": event["locations"],
                     "keywords key": event["keywords"], "participants/p1/roles key": participant["roles"]}[field]
        key = next(iter(container))
        container[_dirty(rng, key)] = container.pop(key)
        return
    parts = field.split("/")
    target = event
    for part in parts[:-1]:
        target = target[part]
    target[parts[-1]] = _dirty(rng, str(target[parts[-1]]))


ADMIN_ROOM_FIELDS = ["id", "name", "location", "timezone", "features", "busyTitle", "statusReason", "status",
                     "bookers", "managers", "viewers", "rules/opening-hours", "rules/blackout", "rules/buffer"]


def controls_input(rng, event_href, hevent_href):
    """(method, path, headers, body, label): CR/LF and other controls in one string field."""
    kind = rng.choice(["event"] * 4 + ["patch", "simple", "verb", "admin-user", "admin-room", "admin-other", "ical"])
    if kind == "event":
        event = full_event(rng)
        fields = rng.sample(EVENT_FIELDS, rng.choice([1, 1, 1, 2, 3]))
        for field in sorted(fields, key=lambda f: f.endswith(" id")):   # ids renamed last
            _dirty_field(rng, event, field)
        method, path = _json_target(rng, event_href, ("post", "post", "api", "personal", "put", "check"))
        return method, path, dict(JSON), json.dumps(event, ensure_ascii=rng.random() < 0.5).encode(), \
            f"event {'+'.join(fields)}"
    if kind == "patch":
        pointer = rng.choice(["title", "description", "locations/x1", "replyTo", "participants/p9", "keywords/",
                              "participants/p9/email"])
        values = {"title": "t", "description": "d", "locations/x1": {"@type": "Location", "name": "L"},
                  "replyTo": {"imip": "mailto:a@example.org"}, "participants/p9":
                  {"@type": "Participant", "email": "b@example.org", "sendTo": {"imip": "mailto:b@example.org"}},
                  "keywords/": True, "participants/p9/email": "c@example.org"}
        value = values[pointer]
        if pointer == "keywords/":
            pointer, value = "keywords/" + _dirty(rng, "kw"), True
        elif isinstance(value, str):
            value = _dirty(rng, value)
        elif "replyTo" in pointer:
            value = {"imip": _dirty(rng, value["imip"])}
        elif "participants" in pointer:
            value = dict(value, email=_dirty(rng, value["email"])) if rng.random() < 0.5 else \
                dict(value, sendTo={"imip": _dirty(rng, "mailto:b@example.org")})
        else:
            value = dict(value, name=_dirty(rng, "L"))
        if rng.random() < 0.2:
            pointer = _dirty(rng, pointer)
        return "PATCH", hevent_href, dict(JSON), json.dumps({pointer: value}).encode(), f"patch {pointer.split('/')[0]!r}"
    if kind == "simple":
        at = _slot(rng)
        body = {"title": "simple", "start": at.isoformat(), "end": (at + datetime.timedelta(hours=1)).isoformat(),
                "description": "notes"}
        field = rng.choice(list(body))
        body[field] = _dirty(rng, body[field])
        return "POST", f"/api/rooms/{HROOM}/bookings", dict(JSON), json.dumps(body).encode(), f"simple booking {field}"
    if kind == "verb":
        uid = hevent_href.rsplit("/", 1)[-1][:-4]
        verb = rng.choice(["cancel", "decline", "approve", "reschedule"])
        body = {"reason": _dirty(rng, "Room needed for the exam")}
        if verb == "reschedule":
            body = {"start": _dirty(rng, _slot(rng).isoformat())}
        if rng.random() < 0.15:
            uid = _dirty(rng, uid)
        return "POST", f"/api/rooms/{HROOM}/bookings/{requests.utils.quote(uid, safe='')}/{verb}", dict(JSON), \
            json.dumps(body).encode(), f"verb {verb}"
    if kind == "admin-user":
        name = f"u{rng.randrange(10 ** 9)}"
        body = {"name": name, "password": "pw-" + name, "email": f"{name}@example.org", "admin": False}
        field = rng.choice(["name", "password", "email", "email"])
        body[field] = _dirty(rng, body[field])
        if rng.random() < 0.4:   # a PATCH of an existing user; a dirty name goes into its path
            dirty_name = body.pop("name")
            target = requests.utils.quote(dirty_name, safe="") if field == "name" else VICTIM
            return "PATCH", f"/api/admin/users/{target}", dict(JSON), json.dumps(body).encode(), f"admin user PATCH {field}"
        return "POST", "/api/admin/users", dict(JSON), json.dumps(body).encode(), f"admin user POST {field}"
    if kind == "admin-room":
        room_id = f"r{rng.randrange(10 ** 9)}"
        body = {"id": room_id, "name": "Room", "location": "Building 1", "timezone": "Europe/Berlin",
                "features": ["beamer"], "busyTitle": "Busy", "statusReason": "", "status": "available",
                "bookers": [USER], "managers": [ADMIN], "viewers": [],
                "rules": {"opening-hours": "Mo-Fr 08:00-18:00", "blackout": ["2027-12-24/2027-12-27 holidays"],
                          "buffer": "PT10M"}}
        field = rng.choice(ADMIN_ROOM_FIELDS)
        if "/" in field:
            rule = field.split("/")[1]
            value = body["rules"][rule]
            body["rules"][rule] = [_dirty(rng, value[0])] if isinstance(value, list) else _dirty(rng, value)
        elif isinstance(body[field], list):
            body[field] = [_dirty(rng, body[field][0] if body[field] else "x")]
        else:
            body[field] = _dirty(rng, body[field] or "closed")
        if rng.random() < 0.4:
            body.pop("id")
            if field == "id":
                field = "name"
                body["name"] = _dirty(rng, "Room")
            return "PATCH", f"/api/admin/rooms/{AROOM}", dict(JSON), json.dumps(body).encode(), f"admin room PATCH {field}"
        return "POST", "/api/admin/rooms", dict(JSON), json.dumps(body).encode(), f"admin room POST {field}"
    if kind == "admin-other":
        what = rng.choice(["group", "members", "token", "template"])
        if what == "group":
            body = {"name": _dirty(rng, f"g{rng.randrange(10 ** 9)}"), "members": [USER]}
            if rng.random() < 0.5:
                body = {"name": f"g{rng.randrange(10 ** 9)}", "members": [_dirty(rng, USER)]}
            return "POST", "/api/admin/groups", dict(JSON), json.dumps(body).encode(), "admin group"
        if what == "members":
            return "POST", f"/api/admin/groups/{GROUP}/members", dict(JSON), \
                json.dumps({"members": [_dirty(rng, USER)]}).encode(), "admin group members"
        if what == "token":
            body = {"user": USER, "label": _dirty(rng, "laptop"), "readOnly": True}
            if rng.random() < 0.3:
                body["user"] = _dirty(rng, USER)
            return "POST", "/api/admin/tokens", dict(JSON), json.dumps(body).encode(), "admin token"
        field = rng.choice(["subject", "body"])
        body = {"subject": "Booking {title}", "body": "Hello {organizer}"}
        body[field] = _dirty(rng, body[field])
        return "PUT", f"/api/admin/rooms/{AROOM}/template", dict(JSON), json.dumps(body).encode(), f"admin template {field}"
    # iCalendar: controls in parameter values (and in the values of address properties)
    at = _slot(rng)
    lines = [f"DTSTART;TZID=Europe/Berlin:{_stamp(at)}", "DURATION:PT1H",
             "ORGANIZER;CN=Fuzzer:mailto:fuzzer@example.org",
             "ATTENDEE;CN=Ann;PARTSTAT=NEEDS-ACTION:mailto:ann@example.org", "LOCATION;ALTREP=\"http://x\":Main"]
    target = rng.randrange(len(lines))
    name, _, value = lines[target].partition(":")
    spot = rng.choice(["param", "param", "quoted param", "rfc6868", "value"])
    if spot == "param":
        name = name + ";X-P=" + _dirty(rng, "v")
    elif spot == "quoted param":
        name = name + ';X-P="' + _dirty(rng, "v") + '"'
    elif spot == "rfc6868":
        name = name + ';CN="a^nBcc: victim@example.org^n^\'"'
    else:
        value = _dirty(rng, value)
    lines[target] = f"{name}:{value}"
    method, path = _ics_target(rng, ("room", "personal", "api"))
    return method, path, dict(ICS), _calendar(lines).encode("utf-8", "surrogatepass"), \
        f"ical {lines[target].split(';')[0].split(':')[0]} {spot}"


def build_hardening(category, rng, event_href, hevent_href):
    """(method, path, headers, body, auth, label) of one input of an issue-12 class."""
    if category == "vtimezone":
        label, text = vtimezone_ics(rng, str(uuid.uuid4()))
        method, path = _ics_target(rng)
        request = method, path, dict(ICS), text.encode(), label
    elif category == "rrule":
        request = rrule_input(rng, event_href)
    elif category == "encoding":
        request = encoding_input(rng, event_href)
    elif category == "edgedates":
        request = edgedates_input(rng, event_href, hevent_href)
    else:
        request = controls_input(rng, event_href, hevent_href)
    method, path, headers, body, label = request
    auth = (ADMIN, ADMIN_PW) if path.startswith("/api/admin") else (USER, PASSWORD)
    return method, path, headers, body, auth, label


class Hung(Exception):
    """The server did not answer a request or a snapshot in time."""

    def __init__(self, what: dict):
        super().__init__(what["stage"])
        self.what = what


class Fuzzer:
    """Sends generated inputs to a running server and checks every answer."""

    WATCHED = (f"/rooms/{ROOM}/", f"/rooms/{HROOM}/", PERSONAL)
    ADMIN_LISTINGS = ("/api/admin/users", "/api/admin/rooms", "/api/admin/groups", "/api/admin/tokens")

    def __init__(self, url, recover=None, timeout=60.0, keep_accepted=False):
        """``recover(strays) -> url``, when given, is called when the server stops answering (a
        request or a snapshot gets no answer within ``timeout``): it gets the files of writes that
        were refused but stored, and returns the address of a server started afresh.  Without it
        a hang raises ``Hung``."""
        self.url = url
        self.recover = recover
        self.timeout = timeout
        self.keep_accepted = keep_accepted
        self.cleanups = collections.Counter()   # statuses of the DELETEs of accepted issue-12 items
        self._sessions()
        self.counts = collections.Counter()
        self.statuses = collections.defaultdict(collections.Counter)
        self.failures = []
        self.fivexx = collections.defaultdict(list)      # category -> [example dicts]
        self.times = collections.defaultdict(list)       # category -> seconds of every request
        self.slow = []                                   # requests over SLOW seconds
        self.read_backs = collections.Counter()          # category -> status of read-backs
        self.accepted_controls = collections.Counter()   # label -> writes with a control character answered 2xx
        self.accepted_examples = {}
        self.errors = []          # transport errors (no answer), with the exception
        self.accepted_writes = 0
        self.collection_reads = []    # (clock, category, method, collection, status, seconds)
        self.unannounced_close = []   # 413s ("keep-alive") after which the connection was closed
        self.stored_anyway = []   # writes refused (4xx) that changed storage
        self.hangs = []           # requests (or snapshots) the server did not answer in time
        self.strays = []          # (watched collection, href): refused writes that were stored
        self.last_used = time.monotonic()
        self.event_href = None    # an event in ROOM that PUT/PATCH/headers inputs aim at
        self.hevent_href = None   # an event in HROOM that PATCHes and verbs of the issue-12 classes aim at

    def _sessions(self):
        self.session = requests.Session()
        self.admin = requests.Session()   # reads only: snapshots (retried on a connection closed meanwhile)
        self.admin.mount("http://", requests.adapters.HTTPAdapter(
            max_retries=urllib3.util.Retry(total=2, connect=2, read=1, status=0, allowed_methods={"GET"},
                                           backoff_factor=0.1, respect_retry_after_header=False,
                                           raise_on_status=False)))
        self.admin.auth = (ADMIN, ADMIN_PW)

    def setup(self):
        r = self.session.request("MKCALENDAR", self.url + PERSONAL, auth=(USER, PASSWORD))
        assert r.status_code in (201, 405), r.status_code
        self.ensure_event()
        self.ensure_hevent()
        self.snapshots = self.snapshot()

    def _ensure(self, href, room, year):
        """An event of ours in ``room`` (re-created if an input deleted, cancelled or moved it)."""
        try:
            return self._ensure_once(href, room, year)
        except requests.RequestException as e:
            raise Hung({"category": "(setup)", "label": "the event inputs aim at", "method": "PUT",
                        "path": f"/rooms/{room}/", "content_type": "", "body": "",
                        "stage": f"re-creating the event inputs aim at: {type(e).__name__}"}) from None

    def _ensure_once(self, href, room, year):
        if href:
            r = self.session.get(self.url + href, auth=(USER, PASSWORD), timeout=self.timeout)
            if r.status_code == 200:
                return href
        for attempt in range(50):   # stored series of earlier inputs may cover the first choices
            uid = f"fz-{uuid.uuid4().hex}"
            href = f"/rooms/{room}/{uid}.ics"
            ics = "\r\n".join(valid_ics(random.Random(uid), uid)).replace("202703", f"{year + attempt % 7}09") + "\r\n"
            if attempt:
                ics = ics.replace("0000Z", f"{attempt % 60:02d}00Z").replace("SUMMARY:fuzz", "SUMMARY:fuzz\r\nDURATION:PT1M")
                ics = re.sub(r"DTEND:\S+\r\n", "", ics)
            r = self.session.put(self.url + href, data=ics.encode(), auth=(USER, PASSWORD),
                                 headers={"Content-Type": "text/calendar"}, timeout=self.timeout)
            if r.status_code in (201, 204):
                return href
            assert r.status_code == 409, (r.status_code, r.text)
        raise AssertionError(f"no free slot left in {room} for the event inputs aim at")

    def ensure_event(self):
        self.event_href = self._ensure(self.event_href, ROOM, 2028)

    def ensure_hevent(self):
        self.hevent_href = self._ensure(self.hevent_href, HROOM, 2030)

    def snapshot(self):
        result = {}
        for path in self.WATCHED:
            r = self.admin.get(self.url + path, params={"props[]": "getetag"}, timeout=self.timeout,
                               headers={"Accept": "application/json"}, auth=(USER, PASSWORD) if path == PERSONAL else None)
            assert r.status_code == 200, (path, r.status_code)
            result[path] = r.json()["responses"]
        return result

    def _snapshot_or_hang(self, take, what, stage):
        try:
            return take()
        except requests.RequestException as e:
            raise Hung(dict(what, stage=f"{stage}: {type(e).__name__}")) from None

    def admin_snapshot(self):
        return {path: self.admin.get(self.url + path, timeout=self.timeout).text for path in self.ADMIN_LISTINGS}

    def send(self, category, label, method, path, headers, body, auth):
        """(status or 'error …', response or None) of one request, timed."""
        if time.monotonic() - self.last_used > 3:
            # gunicorn closes a connection idle for 5 s (keepalive); a request sent on it just
            # then fails on the client's side without reaching the server: start afresh
            self.session.close()
        t0 = time.perf_counter()
        try:
            r = self.session.request(method, self.url + path, data=body, headers=headers, auth=auth,
                                     timeout=self.timeout, allow_redirects=False)
            _ = r.content
            status = r.status_code
            if status == 413 and "close" not in r.headers.get("Connection", "").lower():
                # Answered without the body read, and "keep-alive": the connection must take
                # the next request (reported on its own, not blamed on the next input)
                try:
                    self.session.options(self.url + "/", timeout=self.timeout)
                except requests.RequestException:
                    self.unannounced_close.append(f"{method} {path[:100]} ({len(body)} bytes)")
                    self.session.close()
        except requests.RequestException as e:
            r, status = None, f"error {type(e).__name__}"
            self.errors.append(f"{method} {path[:100]}: {e}"[:300])
        seconds = time.perf_counter() - t0
        self.last_used = time.monotonic()
        self.times[category].append(seconds)
        if seconds > SLOW:
            self.slow.append({"seconds": round(seconds, 2), "category": category, "label": label,
                              "method": method, "path": path[:200], "status": status, "bytes": len(body),
                              "body": body[:4000].decode("utf-8", "replace") if isinstance(body, bytes)
                              else str(body)[:4000], "headers": dict(headers or {})})
        return status, r

    def _record_5xx(self, category, label, method, path, headers, body, status, response, note=""):
        self.failures.append((category, method, path, headers, body[:300], f"{status}{note}"))
        self.fivexx[category].append({
            "label": label, "method": method, "path": path[:200], "status": status, "note": note,
            "content_type": headers.get("Content-Type", ""), "body": body[:2000].decode("latin-1"),
            "answer": response.text[:300] if response is not None else ""})

    def one(self, category, rng):
        try:
            return self._one(category, rng)
        except Hung as hung:
            self.hangs.append(hung.what)
            self.failures.append((hung.what["category"], hung.what["method"], hung.what["path"], {}, b"",
                                  f"no answer within {self.timeout:g} s ({hung.what['stage']})"))
            if self.recover is None:
                raise
            strays, self.strays = self.strays, []
            self.url = self.recover(strays, hung.what)
            try:
                self._after_restart()
            except Hung as again:   # what is stored is too much for the server: start the room afresh
                self.hangs.append(again.what)
                self.url = self.recover([], again.what, wipe=True)
                self._after_restart()
            return "hung"

    def _after_restart(self):
        self.session.close()
        self.admin.close()
        self._sessions()
        self.event_href = self.hevent_href = None
        self.ensure_event()
        self.ensure_hevent()
        self.snapshots = self._snapshot_or_hang(self.snapshot, {"category": "(restart)", "label": "", "method": "GET",
                                                                "path": "", "content_type": "", "body": ""},
                                                "reading the collections after a restart")

    def _one(self, category, rng):
        if category in HARDENING:
            method, path, headers, body, auth, label = build_hardening(category, rng, self.event_href, self.hevent_href)
        else:
            (method, path, headers, body, auth), label = build(category, rng, self.event_href), category
        self.counts[category] += 1
        write = method.upper() in WRITES
        admin_write = write and path.startswith("/api/admin")
        what = {"category": category, "label": label, "method": method, "path": path[:200],
                "content_type": headers.get("Content-Type", ""), "body": body[:2000].decode("latin-1")}
        admin_before = self._snapshot_or_hang(self.admin_snapshot, what, "admin listings before") if admin_write else None
        status, response = self.send(category, label, method, path, headers, body, auth)
        self.statuses[category][status] += 1
        if status == "error ReadTimeout":
            raise Hung(dict(what, stage="the request itself"))
        failed = not isinstance(status, int) or status >= 500
        if not write:
            if failed:
                self._record_5xx(category, label, method, path, headers, body, status, response)
            return status
        after = self._snapshot_or_hang(self.snapshot, what, f"reading the collections after a {status}")
        changed = after != self.snapshots
        if admin_write:
            changed = changed or self._snapshot_or_hang(self.admin_snapshot, what, "admin listings after") != admin_before
        if isinstance(status, int) and status >= 400:
            for collection, hrefs in after.items():
                for href, etag in hrefs.items():
                    if self.snapshots.get(collection, {}).get(href) != etag:
                        self.strays.append((collection, href))
        self.snapshots = after
        if failed:
            self._record_5xx(category, label, method, path, headers, body, status, response,
                             " and storage changed" if changed else "")
        elif status >= 400 and changed:
            self.failures.append((category, method, path, headers, body[:300], f"{status} but storage changed"))
            self.stored_anyway.append(dict(what, status=status))
        if isinstance(status, int) and status < 300:
            if category == "controls":
                self.accepted_controls[label] += 1
                self.accepted_examples.setdefault(label, {"method": method, "path": path[:200],
                                                          "body": body[:300].decode("utf-8", "replace")})
            if category in READ_BACK and response is not None:
                self.read_back(category, label, method, path, response)
            created = self._created_href(method, path, response) if category in HARDENING else None
            if created and not self.keep_accepted and created not in (self.event_href, self.hevent_href):
                self.clean_up(category, label, created)
        if isinstance(status, int) and status < 400 and method in ("DELETE", "PUT", "PATCH", "POST"):
            before = (self.event_href, self.hevent_href)
            if self.hevent_href and self.hevent_href.rsplit("/", 1)[-1][:-4] in path:
                self.hevent_href = None   # a verb changed it: cancelled or moved
            self.ensure_event()
            self.ensure_hevent()
            if before != (self.event_href, self.hevent_href):
                self.snapshots = self.snapshot()
        return status

    @staticmethod
    def _created_href(method, path, response):
        """The href of the item an accepted write created, if it did."""
        if response is None or path.endswith("/check") or "/bookings/" in path or path.startswith("/api/admin"):
            return None
        if method == "PUT" and path.endswith(".ics"):
            return path
        if response.headers.get("Location", "").startswith("/") and response.headers["Location"].endswith(".ics"):
            return response.headers["Location"]
        if path.startswith("/api/rooms/") and path.endswith("/bookings"):
            try:
                return response.json().get("href")
            except (ValueError, AttributeError):
                return None
        return None

    def clean_up(self, category, label, href):
        """Delete an item an issue-12 input stored once it has been read back: hostile items that
        passed the screen still cost work in every later expansion of their collection, and
        thousands of them would turn this run into a measure of their sum (``--keep-accepted``)."""
        status, r = self.send(category, f"clean-up: {label}", "DELETE", href, {}, b"", (USER, PASSWORD))
        self.cleanups[status] += 1
        if status == "error ReadTimeout":
            raise Hung({"category": category, "label": f"clean-up of ({label})", "method": "DELETE", "path": href,
                        "content_type": "", "body": "", "stage": "deleting an accepted item"})
        if not isinstance(status, int) or status >= 500:
            self._record_5xx(category, f"clean-up of ({label})", "DELETE", href, {}, b"", status, r)
        self.snapshots = self._snapshot_or_hang(self.snapshot, {"category": category, "label": label, "method": "DELETE",
                                                                "path": href, "content_type": "", "body": ""},
                                                "reading the collections after a clean-up")

    def read_back(self, category, label, method, path, response):
        """Read an accepted item back the ways clients do: as JSON, in a CalDAV multiget that
        expands its recurrence over a month, in the room's availability; and after every
        COLLECTION_EVERY-th accepted write the whole collection too (a JSON listing with a time
        range, a calendar-query with <C:expand>), which shows what the items stored so far cost."""
        href = None
        if method == "PUT":
            href = path
        elif response.headers.get("Location", "").startswith("/"):
            href = response.headers["Location"]
        elif path.startswith("/api/rooms/") and path.endswith("/bookings"):
            try:
                href = response.json().get("href")
            except ValueError:
                href = None
        if path.endswith("/check"):
            href = None   # a dry run: nothing stored
        collection = PERSONAL if path.startswith(PERSONAL) else f"/rooms/{HROOM}/"
        expand = ('<C:calendar-data><C:expand start="20270301T000000Z" end="20270401T000000Z"/></C:calendar-data>')
        reads = []
        if href:
            reads += [("GET", href, {"Accept": "application/json"}, b""),
                      ("REPORT", collection, {"Content-Type": "application/xml", "Depth": "1"},
                       ('<?xml version="1.0"?><C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                        f'<D:prop><D:getetag/>{expand}</D:prop><D:href>{href}</D:href></C:calendar-multiget>').encode())]
        if collection != PERSONAL:
            reads.append(("GET", f"/api/rooms/{HROOM}/availability?start=2027-03-01&end=2027-03-31", {}, b""))
        self.accepted_writes += 1
        if self.accepted_writes % COLLECTION_EVERY == 0:
            reads += [("GET", f"{collection}?start=2027-03-01T00:00:00Z&end=2027-04-01T00:00:00Z",
                       {"Accept": "application/json"}, b""),
                      ("REPORT", collection, {"Content-Type": "application/xml", "Depth": "1"},
                       ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                        f'<D:prop><D:getetag/>{expand}</D:prop><C:filter><C:comp-filter name="VCALENDAR">'
                        '<C:comp-filter name="VEVENT"><C:time-range start="20270301T000000Z" end="20270401T000000Z"/>'
                        '</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>').encode())]
        for read_method, read_path, headers, body in reads:
            whole = read_path.startswith(collection) and (read_method == "REPORT" and b"calendar-query" in body
                                                            or "?start=" in read_path)
            kind = "read-back (whole collection)" if whole else "read-back"
            status, r = self.send(category, f"{kind}: {label}", read_method, read_path, headers, body, (USER, PASSWORD))
            self.read_backs[(category, status)] += 1
            if whole:
                self.collection_reads.append((time.perf_counter(), category, read_method, collection, status,
                                              self.times[category][-1]))
            if status == "error ReadTimeout":
                raise Hung({"category": category, "label": f"{kind} of ({label})", "method": read_method,
                            "path": read_path, "content_type": headers.get("Content-Type", ""),
                            "body": body[:2000].decode("latin-1"), "stage": f"a {kind} of an accepted write"})
            if not isinstance(status, int) or status >= 500:
                self._record_5xx(category, f"{kind} of ({label})", read_method, read_path, headers, body, status, r)

    def alive(self) -> bool:
        r = self.session.get(self.url + f"/rooms/{ROOM}/", auth=(USER, PASSWORD), headers={"Accept": "application/json"},
                             timeout=30)
        return r.status_code == 200


def seed_server(cli):
    """The users, group and rooms the inputs aim at, through ``roomcal`` (``cli(*args)``)."""
    cli("user", "add", ADMIN, "--password", ADMIN_PW, "--admin")
    cli("user", "add", USER, "--password", PASSWORD)
    cli("user", "add", VICTIM, "--password", "victim-pw", "--email", "victim@example.org")
    cli("group", "add", GROUP, USER)
    cli("room", "add", ROOM, "--name", "Fuzz room", "--timezone", "Europe/Berlin")
    cli("room", "add", HROOM, "--name", "Hardening room", "--timezone", "Europe/Berlin")
    cli("room", "add", AROOM, "--name", "Admin fuzz room", "--timezone", "Europe/Berlin")

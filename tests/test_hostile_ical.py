"""Hostile iCalendar cannot stall or exhaust the server (issue 12).

Two payloads took the landed server down: a VTIMEZONE whose observances repeat
every second since 1601 (a worker burning a CPU and ~19 MB/s until the host
died) and recurrence rules whose filters never match (150 s to store, then ~10 s
for every request touching the room).  The screen (storage/screen.py) refuses
them before any parser sees them, on every path; the work budget
(storage/rrule_budget.py) bounds whatever expands a rule anyway; an object
already stored is skipped, not re-expanded by every request; and a request that
still runs too long is stopped by the worker's watchdog.
"""

import datetime
import json
import os
import re
import time
import uuid

import pytest
import requests
from dateutil import rrule as dateutil_rrule

from conftest import assert_no_500, event
from roomcal.storage import rrule_budget
from roomcal.storage.screen import UnsafeCalendar, screen
from support.stored import item_names, write_item

EVIL_TZ = """BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//attacker//EN\r
BEGIN:VTIMEZONE\r
TZID:Evil/Zone\r
BEGIN:STANDARD\r
DTSTART:16010101T000000\r
RRULE:FREQ=SECONDLY\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0000\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:16010101T000001\r
RRULE:FREQ=SECONDLY\r
TZOFFSETFROM:+0000\r
TZOFFSETTO:+0100\r
END:DAYLIGHT\r
END:VTIMEZONE\r
BEGIN:VEVENT\r
UID:{uid}\r
DTSTAMP:20260101T000000Z\r
DTSTART;TZID=Evil/Zone:20270301T100000\r
DTEND;TZID=Evil/Zone:20270301T110000\r
SUMMARY:evil zone\r
END:VEVENT\r
END:VCALENDAR\r
"""
NEVER = ["FREQ=SECONDLY;BYSETPOS=-1;BYMONTH=2;BYMONTHDAY=30",
         "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
         "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30;COUNT=3",
         "FREQ=DAILY;BYMONTH=4;BYMONTHDAY=31",
         "FREQ=SECONDLY;BYHOUR=3;BYMINUTE=1;BYSECOND=1;UNTIL=20290101T000000Z"]
# A Windows/Outlook VTIMEZONE: yearly rules since 1601, as real clients send them.
OUTLOOK_BERLIN = """BEGIN:VTIMEZONE\r
TZID:W. Europe Standard Time\r
BEGIN:STANDARD\r
DTSTART:16010101T030000\r
TZOFFSETFROM:+0200\r
TZOFFSETTO:+0100\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=10\r
END:STANDARD\r
BEGIN:DAYLIGHT\r
DTSTART:16010101T020000\r
TZOFFSETFROM:+0100\r
TZOFFSETTO:+0200\r
RRULE:FREQ=YEARLY;BYDAY=-1SU;BYMONTH=3\r
END:DAYLIGHT\r
END:VTIMEZONE\r
"""


def with_rule(rule, start="20270301T100000Z", end="20270301T110000Z", uid=None):
    return event(start, end, uid=uid or str(uuid.uuid4()), summary="series", extra=f"RRULE:{rule}")


def outlook_event(uid, start="20270301T100000", end="20270301T110000", rule=None):
    text = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Microsoft//EN\r\n" + OUTLOOK_BERLIN +
            f"BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
            f"DTSTART;TZID=W. Europe Standard Time:{start}\r\n"
            f"DTEND;TZID=W. Europe Standard Time:{end}\r\nSUMMARY:outlook\r\n")
    if rule:
        text += f"RRULE:{rule}\r\n"
    return text + "END:VEVENT\r\nEND:VCALENDAR\r\n"


# -- the screen and the budget, without HTTP ---------------------------------------------------
# Times are this thread's CPU seconds: the bound is on work, and other processes share the cores.
def test_screen_refuses_sub_yearly_time_zone_rules_at_once():
    t0 = time.thread_time()
    with pytest.raises(UnsafeCalendar, match="more often than yearly"):
        screen(EVIL_TZ.format(uid="x"))
    assert time.thread_time() - t0 < 0.1   # a look at the lines, no expansion


@pytest.mark.parametrize("rule", NEVER)
def test_screen_refuses_rules_that_never_match(rule):
    t0 = time.thread_time()
    with pytest.raises(UnsafeCalendar, match="too much work|never matches"):
        screen(with_rule(rule))
    assert time.thread_time() - t0 < 1.0


@pytest.mark.parametrize("rule", [
    "FREQ=WEEKLY;BYDAY=MO,WE,FR", "FREQ=WEEKLY;COUNT=5000", "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
    "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29", "FREQ=DAILY;INTERVAL=2;UNTIL=20300101T000000Z",
    "FREQ=MONTHLY;BYMONTHDAY=31;COUNT=12", "FREQ=HOURLY;BYHOUR=9,14;COUNT=100"])
def test_screen_passes_what_calendars_send(rule):
    screen(with_rule(rule))
    screen(outlook_event("o", rule=rule))


def _zone(observances: str, tzid="Custom/Zone") -> str:
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTIMEZONE\r\n"
            f"TZID:{tzid}\r\n{observances}END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:z\r\n"
            f"DTSTAMP:20260101T000000Z\r\nDTSTART;TZID={tzid}:20270301T100000\r\n"
            f"DTEND;TZID={tzid}:20270301T110000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")


def _observance(kind: str, start: str, rule: str = "FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU") -> str:
    return (f"BEGIN:{kind}\r\nDTSTART:{start}\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
            f"RRULE:{rule}\r\nEND:{kind}\r\n")


def test_screen_counts_a_zones_transitions_in_rdate_lists_and_in_the_years_of_its_rules():
    """Every transition is computed when the zone is read (icalendar up to 2038, dateutil per
    lookup): a hundred yearly rules from 1601, or 40 000 dates on one RDATE line, made one
    read of the object cost seconds, and every later read again."""
    many_rules = "".join(_observance("DAYLIGHT" if i % 2 else "STANDARD", f"{1601 + i}0325T020000")
                         for i in range(100))
    one_line = ("BEGIN:DAYLIGHT\r\nDTSTART:19000325T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\n"
                "RDATE:" + ",".join(f"{1900 + i // 12:04d}{i % 12 + 1:02d}01T020000" for i in range(2500))
                + "\r\nEND:DAYLIGHT\r\n")
    for text in (_zone(many_rules), _zone(one_line)):
        t0 = time.thread_time()
        with pytest.raises(UnsafeCalendar, match="more than 2000 transitions"):
            screen(text)
        assert time.thread_time() - t0 < 0.5
    # Outlook's two rules from 1601 (437 transitions each), and a zone's history in rules with UNTIL
    screen(outlook_event("o"))
    history = "".join(_observance("STANDARD", f"{year}1028T030000",
                                  f"FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU;UNTIL={year + 9}1231T000000Z")
                      for year in range(1800, 2030, 10))
    screen(_zone(history))


def test_screen_refuses_deep_nesting():
    text = "BEGIN:VCALENDAR\r\n" + "BEGIN:X-A\r\n" * 50 + "END:X-A\r\n" * 50 + "END:VCALENDAR\r\n"
    with pytest.raises(UnsafeCalendar, match="nested"):
        screen(text)


def test_vobject_keeps_its_own_utc_and_takes_zoneinfo_for_named_zones():
    """Radicale's parser reads a named zone as zoneinfo's (wall-clock recurrence across DST),
    but UTC stays vobject's own: compared with any other UTC, vobject spends milliseconds
    on every value it writes (it doubled the time of a PUT)."""
    import vobject
    from vobject import icalendar as vobject_icalendar

    from roomcal.storage import iana_zones
    iana_zones.install()
    calendar = vobject.readOne("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
                               "UID:z\r\nDTSTAMP:20270101T000000Z\r\nDTSTART;TZID=UTC:20280103T100000\r\n"
                               "DTEND;TZID=Europe/Berlin:20280703T100000\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert vobject_icalendar.getTzid("UTC") is vobject_icalendar.utc
    summer = calendar.vevent.dtend.value
    assert isinstance(summer.tzinfo, iana_zones.IanaZone) and summer.utcoffset() == datetime.timedelta(hours=2)
    assert "TZID=Europe/Berlin" in calendar.serialize()


def test_budget_stops_any_iteration_of_a_never_matching_rule():
    """Whoever iterates (vobject, icalendar, recurring_ical_events), dateutil itself stops."""
    rule = dateutil_rrule.rrulestr("FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30",
                                   dtstart=datetime.datetime(2026, 1, 1))
    t0 = time.thread_time()
    with pytest.raises(rrule_budget.TooMuchWork):
        next(iter(rule))
    assert time.thread_time() - t0 < 1.0
    assert rrule_budget.INSTALLED


def test_a_cached_rule_that_went_over_budget_can_be_used_again():
    """dateutil keeps a lock while a cached rule computes; a step that raised used to leave it
    held, and the next use (any thread, e.g. of a VTIMEZONE vobject keeps) waited for ever."""
    rule = dateutil_rrule.rrulestr("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
                                   dtstart=datetime.datetime(2000, 1, 1), cache=True)
    for _ in range(2):
        with pytest.raises(rrule_budget.TooMuchWork):
            rule.before(datetime.datetime(9000, 1, 1))
        assert not rule._cache_lock.locked()


def test_budget_scope_is_shared_by_everything_inside():
    weekly = "FREQ=WEEKLY;COUNT=500"
    with rrule_budget.allowance(500_000):
        for _ in range(10):   # 10 × ~16 000 units
            list(dateutil_rrule.rrulestr(weekly, dtstart=datetime.datetime(2026, 1, 1)))
    with pytest.raises(rrule_budget.TooMuchWork):
        with rrule_budget.allowance(100_000):
            for _ in range(10):
                list(dateutil_rrule.rrulestr(weekly, dtstart=datetime.datetime(2026, 1, 1)))


# -- through the server ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def srv(make_server):
    server = make_server()
    server.add_user("admin", admin=True)
    server.add_user("alice")
    server.add_room("hostile", "--timezone", "Europe/Berlin")
    server.add_room("berlin", "--timezone", "Europe/Berlin")
    server.request("MKCOL", "/alice/", user="alice")
    assert server.request("MKCALENDAR", "/alice/cal/", user="alice").status_code == 201
    yield server
    assert_no_500(server)


def workers(srv):
    """Process ids of the workers (the gunicorn children of ``roomcal serve``)."""
    return open(f"/proc/{srv.process.pid}/task/{srv.process.pid}/children").read().split()


def worker_rss_kb(srv):
    rss = 0
    for pid in workers(srv):
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                rss = max(rss, int(line.split()[1]))
    return rss


def worker_cpu_seconds(srv):
    """CPU time the workers have used: what a request costs the server, whatever else the
    machine is doing meanwhile (wall-clock time would measure the machine's load)."""
    ticks = 0
    for pid in workers(srv):
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        ticks += int(fields[11]) + int(fields[12])   # utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


class Costs:
    """CPU and memory a block of requests costs the server."""

    def __init__(self, srv):
        self.srv = srv

    def __enter__(self):
        self.cpu, self.rss, self.wall = worker_cpu_seconds(self.srv), worker_rss_kb(self.srv), time.time()
        return self

    def __exit__(self, *exc):
        self.cpu = worker_cpu_seconds(self.srv) - self.cpu
        self.rss = worker_rss_kb(self.srv) - self.rss
        self.wall = time.time() - self.wall


def listing(srv, room="hostile"):
    r = srv.request("GET", f"/rooms/{room}/", user="admin", headers={"Accept": "application/json"})
    assert r.status_code == 200
    return r.json()["responses"]


@pytest.mark.parametrize("calendar", ["/rooms/hostile/", "/alice/cal/"])
def test_evil_time_zone_is_refused_fast_on_caldav_put(srv, calendar):
    with Costs(srv) as costs:
        r = srv.put_ics(f"{calendar}{uuid.uuid4().hex}.ics", EVIL_TZ.format(uid=uuid.uuid4()), user="alice")
    assert r.status_code == 403
    assert "<R:valid-calendar-data" in r.text and "more often than yearly" in r.text
    assert costs.cpu < 1.0 and costs.rss < 50 * 1024 and costs.wall < 30


@pytest.mark.parametrize("rule", NEVER[:3])
@pytest.mark.parametrize("calendar", ["/rooms/hostile/", "/alice/cal/"])
def test_never_matching_rules_are_refused_fast_on_caldav_put(srv, calendar, rule):
    with Costs(srv) as costs:
        r = srv.put_ics(f"{calendar}{uuid.uuid4().hex}.ics", with_rule(rule), user="alice")
    assert r.status_code == 403, r.text
    assert "too much work" in r.text
    assert costs.cpu < 1.0 and costs.rss < 50 * 1024 and costs.wall < 30


def test_never_matching_rule_by_json_is_422(srv):
    before = listing(srv)
    with Costs(srv) as costs:
        r = srv.request("POST", "/rooms/hostile/", user="alice", headers={"Content-Type": "application/json"},
                        data=json.dumps({"@type": "Event", "title": "never", "start": "2027-03-01T10:00:00",
                                         "timeZone": "Europe/Berlin", "duration": "PT1H",
                                         "recurrenceRules": [{"@type": "RecurrenceRule", "frequency": "yearly",
                                                              "byMonth": ["2"], "byMonthDay": [30]}]}))
    assert costs.cpu < 1.0
    assert r.status_code == 422, r.text
    assert r.json()["type"] == "invalidProperties" and "too much work" in r.json()["message"]
    assert listing(srv) == before


def test_evil_time_zone_by_api_check_and_import_is_refused(srv, tmp_path):
    r = srv.request("POST", "/api/rooms/hostile/check", user="alice",
                    headers={"Content-Type": "text/calendar"}, data=EVIL_TZ.format(uid="c").encode())
    assert r.status_code == 422 and "more often than yearly" in r.json()["message"], r.text
    path = tmp_path / "evil.ics"
    path.write_text(EVIL_TZ.format(uid="imported"))
    result = srv.cli("import", "hostile", str(path), check=False)
    assert result.returncode == 1 and "more often than yearly" in result.stderr
    assert result.stderr.count("\n") == 1


def test_an_old_open_hourly_series_in_a_room_is_refused_cheaply_with_a_sentence(srv):
    """It passes the screen (its first hours are found at once); checked against the room it
    has far more occurrences than the server checks, and finding that out is cheap."""
    with Costs(srv) as costs:
        r = srv.put_ics(f"/rooms/hostile/{uuid.uuid4().hex}.ics",
                        with_rule("FREQ=HOURLY", start="19500101T100000Z", end="19500101T103000Z"), user="alice")
    # ~0.2 s of CPU on an idle machine (150 s before issue 12; 0.95 s while every occurrence
    # found was a copy of the whole VEVENT); two test workers on two cores add a few percent.
    assert costs.cpu < 1.0
    assert r.status_code == 403 and "more than 5000 occurrences" in r.text, r.text


@pytest.mark.parametrize("rule", ["FREQ=SECONDLY", "FREQ=SECONDLY;BYMONTH=2,3", "FREQ=MINUTELY;BYSECOND=0,30"])
def test_a_dense_open_series_is_checked_cheaply_on_every_path(srv, rule):
    """Every second (or every 30 s) from now on: the check, a CalDAV PUT and a JSON check
    find the 5000 occurrences the core checks at most without expanding days of them (the
    window search started two days early and grew over empty windows: 8.9 s for /check)."""
    body = with_rule(rule)
    with Costs(srv) as costs:
        checked = srv.request("POST", "/api/rooms/hostile/check", user="alice", data=body.encode(),
                              headers={"Content-Type": "text/calendar"})
        put = srv.put_ics(f"/rooms/hostile/{uuid.uuid4().hex}.ics", body, user="alice")
    assert costs.cpu < 1.5
    assert checked.status_code == 200 and checked.json()["ok"] is False, checked.text
    assert put.status_code == 403 and "more than 5000 occurrences" in put.text, put.text


def test_outlook_time_zone_from_1601_books_normally(srv):
    uid = str(uuid.uuid4())
    r = srv.put_ics(f"/rooms/berlin/{uid}.ics", outlook_event(uid, rule="FREQ=WEEKLY;COUNT=10"), user="alice")
    assert r.status_code == 201, r.text
    clash = srv.put_ics(f"/rooms/berlin/{uuid.uuid4()}.ics",
                        event("20270308T093000Z", "20270308T094500Z"), user="alice")
    assert clash.status_code == 409   # 10:30 in Berlin is 09:30 UTC, a week later


def test_iana_name_with_made_up_rules_means_the_iana_zone(srv):
    """A VTIMEZONE named Europe/Berlin that says +05:00: Berlin is Berlin, for the booking
    core and for Radicale's own reading (its time-range REPORT)."""
    uid = str(uuid.uuid4())
    lying = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\n"
             "BEGIN:STANDARD\r\nDTSTART:19700101T000000\r\nTZOFFSETFROM:+0500\r\nTZOFFSETTO:+0500\r\n"
             "END:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\n"
             f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:20270601T100000\r\n"
             "DTEND;TZID=Europe/Berlin:20270601T110000\r\nSUMMARY:lying zone\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    assert srv.put_ics(f"/rooms/berlin/{uid}.ics", lying, user="alice").status_code == 201
    # 10:00 Berlin summer time is 08:00 UTC (with +05:00 it would be 05:00 UTC)
    assert srv.put_ics(f"/rooms/berlin/{uuid.uuid4()}.ics", event("20270601T083000Z", "20270601T084500Z"),
                       user="alice").status_code == 409
    report = """<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:prop><D:getetag/></D:prop>
  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
    <C:time-range start="20270601T080000Z" end="20270601T090000Z"/>
  </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"""
    r = srv.request("REPORT", "/rooms/berlin/", user="alice", data=report,
                    headers={"Depth": "1", "Content-Type": "application/xml"})
    assert r.status_code == 207 and f"{uid}.ics" in r.text, r.text


def test_a_stored_pathological_item_slows_nothing_and_is_quarantined(srv):
    """Written before this screen existed (or by hand): the room keeps answering fast, the item
    is skipped with a WARNING, and `roomcal check --repair` moves it out and says where."""
    srv.add_room("legacy", "--timezone", "UTC")
    assert srv.put_ics("/rooms/legacy/good.ics", event("20270301T100000Z", "20270301T110000Z", uid="good"),
                       user="alice").status_code == 201
    write_item(srv, "legacy", "evil.ics", with_rule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", uid="evil"))
    write_item(srv, "legacy", "zone.ics", EVIL_TZ.format(uid="zone"))
    requests_made = [
        ("PROPFIND", "/rooms/legacy/", {"Depth": "1"}),
        ("GET", "/rooms/legacy/", {"Accept": "application/json"}),
        ("GET", "/api/rooms/legacy/availability?start=2027-03-01&end=2027-03-08", {}),
        ("GET", "/api/rooms?free-from=2027-03-01T09:00:00Z&free-until=2027-03-01T12:00:00Z", {}),
    ]
    for attempt in range(2):   # the first pass finds out; the second must not pay again
        for method, path, headers in requests_made:
            with Costs(srv) as costs:
                r = srv.request(method, path, user="alice", headers=headers)
            assert r.status_code == (207 if method == "PROPFIND" else 200), (path, r.status_code, r.text[:300])
            assert costs.cpu < (2.0 if attempt == 0 else 0.5), (path, costs.cpu)
    assert srv.put_ics("/rooms/legacy/clash.ics", event("20270301T103000Z", "20270301T104500Z"),
                       user="alice").status_code == 409   # the good booking still counts
    if srv.store == "file":   # its index, stale, was rebuilt: the items were read (once)
        assert re.search(r"WARNING.*(evil|zone)\.ics", srv.read_log())
    # (On PostgreSQL nothing above reads them: rows carry what listings need.)
    result = srv.cli("check", "legacy", "--repair", check=False)
    assert "unparseable: legacy: evil.ics" in result.stdout and "moved to " in result.stdout, result.stdout
    quarantine = os.path.join(srv.dir, "data", "quarantine", "legacy")
    assert sorted(name.split("-", 1)[1] for name in os.listdir(quarantine)) == ["evil.ics", "zone.ics"]
    assert item_names(srv, "legacy") == ["good.ics"]
    assert srv.cli("check", "legacy", check=False).returncode == 0


def test_server_still_answers(srv):
    assert srv.request("GET", "/api/rooms", user="alice").status_code == 200


# -- the safety net ----------------------------------------------------------------------------
def test_a_request_over_its_cpu_budget_is_stopped_and_the_worker_replaced(make_server):
    """What screening misses cannot burn a CPU for ever: over ``request_cpu_limit`` the worker
    says which request it was, exits, and gunicorn starts another that answers."""
    server = make_server(start=False)
    server.configure(("[server]", "[server]\nrequest_cpu_limit = 1"))
    server.start()
    server.add_user("alice")
    server.request("MKCOL", "/alice/", user="alice")
    # Expensive but legitimate: 1 500 weekly series, each probed whole by the screen and then
    # parsed by Radicale (several CPU seconds in all).
    events = "".join(
        f"BEGIN:VEVENT\r\nUID:s{n}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270301T100000Z\r\n"
        f"DTEND:20270301T110000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4000\r\nSUMMARY:s{n}\r\nEND:VEVENT\r\n"
        for n in range(1500))
    body = f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\n{events}END:VCALENDAR\r\n"
    before = set(workers(server))
    with pytest.raises(requests.ConnectionError):
        server.request("PUT", "/alice/heavy/", user="alice", data=body.encode(),
                       headers={"Content-Type": "text/calendar"})
    log = server.read_log()
    assert re.search(r"\[ERROR\] replacing worker \d+: PUT /alice/heavy/ from 127\.0\.0\.1 has run "
                     r"\d+ s and used \d+ s of CPU \(limits: 600 s, 1 s of CPU\)", log), log[-2000:]
    deadline = time.time() + 30
    while time.time() < deadline and (not workers(server) or set(workers(server)) & before):
        time.sleep(0.2)
    assert set(workers(server)) and not set(workers(server)) & before
    assert server.request("GET", "/api/rooms", user="alice").status_code == 200


@pytest.mark.parametrize("report", [
    '<C:free-busy-query xmlns:C="urn:ietf:params:xml:ns:caldav"><C:time-Xrange start="20270101T000000Z" '
    'end="20270201T000000Z"/></C:free-busy-query>',
    '<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><C:calendar-data>'
    '<C:expand start="00010101T000000Z" end="00010101T000000Z"/></C:calendar-data></D:prop><C:filter>'
    '<C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="00010101T000000Z" '
    'end="00010101T000000Z"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>'])
def test_reports_radicale_cannot_take_are_400_with_a_sentence(srv, report):
    """Radicale's REPORT code answered these with a 500 (the fuzzer found them)."""
    r = srv.request("REPORT", "/alice/cal/", user="alice", headers={"Depth": "1", "Content-Type": "application/xml"},
                    data='<?xml version="1.0"?>' + report)
    assert r.status_code == 400 and "is refused" in r.text, r.text


def test_screen_charges_an_hourly_rule_for_every_time_it_builds_each_hour():
    """BYMINUTE × BYSECOND makes 3 600 times per hour, built and sorted again every hour
    (with BYSETPOS); charged as one, such a rule ran for minutes in the screen."""
    every_second = ";".join([f"BYMINUTE={','.join(map(str, range(60)))}",
                             f"BYSECOND={','.join(map(str, range(60)))}"])
    t0 = time.thread_time()
    with pytest.raises(UnsafeCalendar, match="too much work"):
        screen(with_rule(f"FREQ=HOURLY;BYSETPOS=-1;{every_second};UNTIL=20300101"))
    assert time.thread_time() - t0 < 1.5


@pytest.mark.parametrize("interval", ["0", "-1", "x"])
def test_screen_refuses_an_interval_below_one(interval):
    with pytest.raises(UnsafeCalendar, match="INTERVAL"):
        screen(with_rule(f"FREQ=HOURLY;INTERVAL={interval};UNTIL=20300101"))

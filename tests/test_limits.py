"""Limits (issue 7): body size, recurrence instances, expansion windows, slow clients."""

import json
import socket
import threading
import time
import uuid

import pytest
import requests

from conftest import assert_no_500, event

LIMIT = 20000  # [server] max_content_length of this module's server


@pytest.fixture(scope="module")
def srv(make_server):
    server = make_server(start=False)
    server.configure(("max_content_length = 10000000", f"max_content_length = {LIMIT}"))
    server.start()
    server.add_user("admin", admin=True)
    server.add_user("alice")
    server.add_room("lim", "--timezone", "UTC")
    yield server
    assert_no_500(server)


def listing(srv, room="lim"):
    r = srv.request("GET", f"/rooms/{room}/", user="admin", headers={"Accept": "application/json"})
    assert r.status_code == 200
    return r.json()["responses"]


def big_ics(size):
    return event("20270301T100000Z", "20270301T110000Z", summary="x" * 10,
                 extra="DESCRIPTION:" + "a" * size)


# -- body size ----------------------------------------------------------------------------
def test_caldav_put_too_large_is_413(srv):
    before = listing(srv)
    r = srv.put_ics(f"/rooms/lim/{uuid.uuid4().hex}.ics", big_ics(LIMIT * 2), user="alice")
    assert r.status_code == 413
    assert listing(srv) == before


def test_caldav_put_just_below_is_stored(srv):
    r = srv.put_ics(f"/rooms/lim/{uuid.uuid4().hex}.ics", big_ics(LIMIT // 4), user="alice")
    assert r.status_code == 201


def test_chunked_put_too_large_is_413_and_below_is_stored(srv):
    """A body without Content-Length (``curl -T -``) is measured as it is read."""
    def chunks(text):
        data = text.encode()
        return (data[i:i + 1000] for i in range(0, len(data), 1000))   # requests sends a generator chunked
    before = listing(srv)
    r = srv.request("PUT", f"/rooms/lim/{uuid.uuid4().hex}.ics", user="alice", data=chunks(big_ics(LIMIT * 2)),
                    headers={"Content-Type": "text/calendar"})
    assert r.status_code == 413 and "more than 20000 bytes" in r.text
    assert listing(srv) == before
    small = event("20270302T120000Z", "20270302T130000Z")
    r = srv.request("PUT", f"/rooms/lim/{uuid.uuid4().hex}.ics", user="alice", data=chunks(small),
                    headers={"Content-Type": "text/calendar"})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("path", ["/rooms/lim/", "/api/rooms/lim/bookings", "/api/admin/rooms",
                                  "/alice/calendar/", "/api/clear-bookings"])
def test_json_post_too_large_is_413(srv, path):
    before = listing(srv)
    body = json.dumps({"@type": "Event", "title": "big", "start": "2027-03-02T10:00:00",
                       "timeZone": "Etc/UTC", "duration": "PT1H", "description": "b" * (LIMIT * 2)})
    r = srv.request("POST", path, user="admin", data=body.encode(),
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 413, (path, r.status_code, r.text[:200])
    assert listing(srv) == before


def test_api_ical_too_large_is_413(srv):
    before = listing(srv)
    r = srv.request("POST", "/api/rooms/lim/bookings", user="alice", data=big_ics(LIMIT * 2).encode(),
                    headers={"Content-Type": "text/calendar"})
    assert r.status_code == 413
    assert listing(srv) == before


def test_huge_declared_length_is_refused_without_reading(srv):
    """A Content-Length of 1 GB with no body: 413 at once, not a wait for the bytes."""
    for path, ctype in (("/rooms/lim/x.ics", "text/calendar"), ("/rooms/lim/", "application/json"),
                        ("/api/rooms/lim/bookings", "application/json")):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            auth = requests.auth._basic_auth_str("alice", srv.passwords["alice"])
            method = "PUT" if path.endswith(".ics") else "POST"
            s.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n"
                      f"Content-Type: {ctype}\r\nContent-Length: 1000000000\r\n"
                      "Connection: close\r\n\r\n".encode())
            t0 = time.time()
            head = s.recv(100)
            assert head.startswith(b"HTTP/1.1 413"), (path, head)
            assert time.time() - t0 < 5


# -- recurrence ---------------------------------------------------------------------------
@pytest.mark.parametrize("count", [8000, 20000])
def test_series_with_too_many_occurrences_is_refused(srv, count):
    """Above roomcal_max_occurrences (5000): roomcal's refusal; above Radicale's own limit
    (10 000 per RRULE COUNT), Radicale's refusal: both with a sentence, never a timeout."""
    before = listing(srv)
    t0 = time.time()
    r = srv.put_ics(f"/rooms/lim/{uuid.uuid4().hex}.ics",
                    event("20270401T000000Z", "20270401T000100Z", extra=f"RRULE:FREQ=MINUTELY;COUNT={count}"),
                    user="alice")
    # roomcal's limit: its 403 precondition; Radicale's (a COUNT it will not expand): a 400
    assert r.status_code == (403 if count <= 10000 else 400), r.status_code
    assert r.headers["Content-Type"].startswith("application/xml")
    expected = "more than 5000 occurrences" if count < 10000 else "too many recurrence rule entries"
    assert expected in r.text.lower(), r.text[:300]
    assert time.time() - t0 < 30
    assert listing(srv) == before


def test_radicale_400s_say_why(srv):
    """A body Radicale cannot read: its reason in a DAV:error body, not a bare 'Bad Request'."""
    r = srv.put_ics(f"/alice/calendar/{uuid.uuid4().hex}.ics",
                    "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:not-a-date\r\n", user="alice")
    assert r.status_code == 400
    assert "<R:valid-calendar-data" in r.text and "The server cannot take this request:" in r.text, r.text


def test_radicale_400s_say_why_whatever_the_log_level(make_server):
    """The reason is taken where Radicale finds it, not from its log: with [logging]
    level = error no warning is written, and the client still hears why."""
    server = make_server(start=False)
    server.configure(("level = warning", "level = error"))
    server.start()
    server.add_user("alice")
    server.add_room("why", "--timezone", "UTC")
    r = server.put_ics(f"/alice/calendar/{uuid.uuid4().hex}.ics",
                       "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDTSTART:not-a-date\r\n", user="alice")
    assert r.status_code == 400
    assert "<R:valid-calendar-data" in r.text and "The server cannot take this request:" in r.text, r.text
    r = server.put_ics(f"/rooms/why/{uuid.uuid4().hex}.ics",
                       event("20270401T000000Z", "20270401T000100Z", extra="RRULE:FREQ=MINUTELY;COUNT=20000"),
                       user="alice")
    assert r.status_code == 400
    assert "too many recurrence rule entries" in r.text.lower(), r.text


def test_endless_minutely_series_by_json_is_refused(srv):
    before = listing(srv)
    t0 = time.time()
    r = srv.request("POST", "/rooms/lim/", user="alice", headers={"Content-Type": "application/json"},
                    data=json.dumps({"@type": "Event", "title": "spam", "start": "2027-04-05T00:00:00",
                                     "timeZone": "Etc/UTC", "duration": "PT1M",
                                     "recurrenceRules": [{"@type": "RecurrenceRule",
                                                          "frequency": "minutely"}]}))
    assert r.status_code == 422, r.status_code
    assert "occurrence" in r.text.lower(), r.text[:300]
    assert time.time() - t0 < 30
    assert listing(srv) == before


# -- expansion windows --------------------------------------------------------------------
def test_availability_window_is_capped(srv):
    ok = srv.request("GET", "/api/rooms/lim/availability?start=2027-01-01&end=2027-02-01", user="alice")
    assert ok.status_code == 200
    r = srv.request("GET", "/api/rooms/lim/availability?start=2027-01-01&end=2027-06-01", user="alice")
    assert r.status_code == 400 and "62" in r.text
    r = srv.request("GET", "/api/rooms/lim/availability?start=2027-01-01&end=2027-03-01"
                    "&duration=PT1M&step=PT1M", user="alice")
    assert r.status_code == 400


def test_room_directory_free_window_is_capped(srv):
    r = srv.request("GET", "/api/rooms?free-from=2027-01-01T00:00:00Z&free-until=2037-01-01T00:00:00Z",
                    user="alice")
    assert r.status_code == 200
    assert r.elapsed.total_seconds() < 20


def test_listing_an_endless_series_over_a_huge_window_answers(srv):
    """A daily series without end, listed over 1900..2100: bounded work, no timeout."""
    srv.put_ics(f"/rooms/lim/{uuid.uuid4().hex}.ics",
                event("20270501T060000Z", "20270501T061000Z", extra="RRULE:FREQ=DAILY"), user="admin")
    for path in ("/rooms/lim/?start=1900-01-01&end=2100-01-01", "/api/rooms/lim/bookings?from=1900-01-01&to=2100-01-01"):
        t0 = time.time()
        r = srv.request("GET", path, user="alice", headers={"Accept": "application/json"})
        assert r.status_code == 200, (path, r.status_code)
        assert time.time() - t0 < 20


# -- slow clients -------------------------------------------------------------------------
def test_slow_client_does_not_stall_others(srv):
    """24 clients dribble a request a byte a second; 20 others are answered meanwhile."""
    stop = threading.Event()
    request = (b"PUT /rooms/lim/slow.ics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: text/calendar\r\nContent-Length: 500\r\n\r\nBEGIN:VCALENDAR\r\n")
    sent = []

    def dribble():
        with socket.create_connection(("127.0.0.1", srv.port), timeout=30) as s:
            for byte in request:
                if stop.is_set():
                    return
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    return
                sent.append(byte)
                time.sleep(1)
    # Three times the worker's 8 threads: requests are read by the worker's event loop,
    # so a dribbling connection holds no thread (server/worker.py).
    slow = [threading.Thread(target=dribble, daemon=True) for _ in range(24)]
    for t in slow:
        t.start()
    time.sleep(2.5)
    durations = []
    try:
        for i in range(20):
            t0 = time.time()
            path = "/api/rooms/lim" if i % 2 else "/rooms/lim/"
            r = requests.get(srv.url + path, auth=srv.auth("alice"), timeout=10,
                             headers={"Accept": "application/json"})
            durations.append(time.time() - t0)
            assert r.status_code == 200
    finally:
        stop.set()
    assert sent, "the slow clients sent nothing"
    assert max(durations) < 2, durations

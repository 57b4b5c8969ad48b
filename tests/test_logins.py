"""Sign-ins resist guessing (issue 12): equal cost for unknown names, lock-outs shared by all
workers and answered 429 without bcrypt, one fail2ban line per lock-out, bounded bcrypt
work, credentials checked before a body is taken."""

import base64
import re
import socket
import statistics
import threading
import time

import pytest
import requests

from conftest import assert_no_500

MAX_FAILURES = 4


@pytest.fixture(scope="module")
def srv(make_server):
    server = make_server(workers=2, start=False)
    # real bcrypt cost for the timing test; proxies trusted so tests can speak for many addresses
    server.configure(("roomcal_bcrypt_rounds = 4", "roomcal_bcrypt_rounds = 10"),
                     ("[auth]", f"[auth]\nmax_failures = {MAX_FAILURES}\nfailure_window = 600"),
                     ("[server]", "[server]\ntrusted_proxies = 127.0.0.1"))
    server.start()
    server.add_user("alice", "alice-secret-pw")
    server.add_user("bob", "bob-secret-pw")
    server.add_room("lobby")
    yield server
    assert_no_500(server)


def from_address(address):
    return {"X-Forwarded-For": address}


def attempt(srv, user, password, address, path="/api/rooms", method="GET", **headers):
    return requests.request(method, srv.url + path, auth=(user, password), timeout=30,
                            headers={**from_address(address), **headers})


def test_unknown_names_cost_what_known_ones_do(srv):
    """The dummy hash has the configured cost: a name cannot be probed by timing."""
    def timed(user, address):
        t0 = time.perf_counter()
        assert attempt(srv, user, "wrong", address).status_code == 401
        return time.perf_counter() - t0
    known, unknown = [], []
    for n in range(3):   # interleaved, each from its own address (no lock-out)
        known.append(timed("alice", f"10.1.0.{n}"))
        unknown.append(timed(f"nobody{n}", f"10.1.1.{n}"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.5 < ratio < 2.0, (known, unknown)


def test_lock_out_after_max_failures_is_429_without_bcrypt(srv):
    address = "10.2.0.1"
    for _ in range(MAX_FAILURES):
        assert attempt(srv, "alice", "guess", address).status_code == 401
    locked = attempt(srv, "alice", "guess", address)
    assert locked.status_code == 429
    assert int(locked.headers["Retry-After"]) > 500
    body = locked.json()
    assert body["type"] == "tooManyFailures" and "try again in" in body["message"]
    # even the right password waits now (it was not checked before the lock-out)
    t0 = time.perf_counter()
    assert attempt(srv, "alice", "alice-secret-pw", address).status_code == 429
    assert time.perf_counter() - t0 < 0.5 * bcrypt_seconds(srv)
    # CalDAV gets a DAV:error
    dav = attempt(srv, "alice", "guess", address, path="/rooms/lobby/", method="PROPFIND", Depth="0")
    assert dav.status_code == 429 and "<R:too-many-failures" in dav.text and "Retry-After" in dav.headers
    # the same name from elsewhere, and others from here, are not locked
    assert attempt(srv, "alice", "alice-secret-pw", "10.2.0.2").status_code == 200
    assert attempt(srv, "bob", "bob-secret-pw", address).status_code == 200


def bcrypt_seconds(srv):
    t0 = time.perf_counter()
    attempt(srv, "bob", "wrong-once", "10.9.9.9")
    return time.perf_counter() - t0


def test_one_fail2ban_line_per_lock_out_and_never_the_password(srv):
    address = "10.3.0.7"
    for _ in range(MAX_FAILURES + 3):
        attempt(srv, "bob", "hunter2-never-logged", address)
    log = srv.read_log()
    lines = [line for line in log.splitlines() if "login lock-out" in line and f"address={address}" in line]
    assert len(lines) == 1, lines
    assert re.search(rf"WARNING\] login lock-out: address={re.escape(address)} user=bob ", lines[0])
    assert "hunter2-never-logged" not in log


def test_lock_outs_are_shared_by_the_workers(srv):
    """Two worker processes: the counts live in SQLite, not in one process."""
    address = "10.4.0.1"
    pids = set()
    for _ in range(MAX_FAILURES):
        with requests.Session() as fresh:   # new connections spread over both workers
            r = fresh.get(srv.url + "/api/rooms", auth=("alice", "guess"), headers=from_address(address))
            assert r.status_code == 401
    assert attempt(srv, "alice", "guess", address).status_code == 429
    pids = set(re.findall(r"\[(\d+)\] \[INFO\] Booting worker", srv.read_log()))
    assert len(pids) >= 2


def test_spraying_many_names_locks_the_address(srv):
    address = "10.5.0.1"
    codes = [attempt(srv, f"name{n}", "guess", address).status_code for n in range(MAX_FAILURES * 5 + 1)]
    assert codes[:MAX_FAILURES * 5] == [401] * (MAX_FAILURES * 5)
    assert codes[-1] == 429


def test_forwarded_for_is_believed_only_from_trusted_proxies(make_server):
    server = make_server(start=False)
    server.configure(("[auth]", "[auth]\nmax_failures = 2"))
    server.start()
    server.add_user("carol", "carol-pw")
    for n in range(2):   # X-Forwarded-For differs, but 127.0.0.1 is not a trusted proxy here
        assert attempt(server, "carol", "guess", f"10.6.0.{n}").status_code == 401
    assert attempt(server, "carol", "guess", "10.6.0.9").status_code == 429


def test_a_guessing_flood_leaves_tokens_answering(srv):
    token = srv.token("bob")
    stop = threading.Event()
    codes = []

    def guess(n):
        while not stop.is_set():
            codes.append(attempt(srv, f"flood{n}", "guess", f"10.7.{n}.{len(codes) % 250}").status_code)
    threads = [threading.Thread(target=guess, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        answers = [srv.request("GET", "/api/rooms", token=token).status_code for _ in range(10)]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert answers == [200] * 10
    assert set(codes) <= {401, 429, 503}, set(codes)


def raw_put_head(srv, authorization=None, length=5_000_000):
    sock = socket.create_connection(("127.0.0.1", srv.port))
    head = (f"PUT /rooms/lobby/big.ics HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n"
            "Content-Type: text/calendar\r\nX-Forwarded-For: 10.8.0.1\r\n")
    if authorization:
        head += f"Authorization: {authorization}\r\n"
    sock.sendall((head + "\r\n").encode() + b"BEGIN:VCALENDAR\r\n")
    sock.settimeout(3)
    try:
        return sock, sock.recv(65536)
    except socket.timeout:
        return sock, b""


@pytest.mark.parametrize("authorization", [
    None, "Basic " + base64.b64encode(b"alice:not-her-password").decode(), "Bearer rc_000000000000_nope"])
def test_credentials_are_checked_before_the_body_is_taken(srv, authorization):
    sock, answer = raw_put_head(srv, authorization)
    sock.close()
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"Connection: close" in answer


def test_good_credentials_get_to_send_their_body(srv):
    sock, answer = raw_put_head(srv, "Basic " + base64.b64encode(b"bob:bob-secret-pw").decode())
    sock.close()
    assert answer == b""   # the server waits for the rest of the body

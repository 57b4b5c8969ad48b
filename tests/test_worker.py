"""The serving worker (server/worker.py): requests are read in full before a thread takes them.

Framing is checked on its own (RequestFrame is pure), then over raw sockets against a
real `roomcal serve` whose `[server] timeout` is 2 s: chunked bodies, Expect:
100-continue, pipelined requests, keep-alive, 408 for a request that never completes,
and more dribbling clients than the worker has threads.
"""

import re
import socket
import threading
import time
import uuid

import pytest
import requests

from conftest import assert_no_500, event
from roomcal.server.worker import MIN_RATE, RequestFrame

TIMEOUT = 2


def frame(*pieces, max_body=1000):
    f = RequestFrame(max_head=8192, max_body=max_body)
    results = [f.feed(p) for p in pieces]
    return f, results


# -- framing, without a server ------------------------------------------------------------
def test_a_request_without_body_is_ready_at_the_blank_line():
    f, ready = frame(b"GET / HTTP/1.1\r\nHost: x\r\n", b"\r", b"\n")
    assert ready == [False, False, True]


def test_content_length_waits_for_the_whole_body():
    f, ready = frame(b"PUT /a HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", b"cd", b"e")
    assert ready == [False, False, True]


def test_chunked_waits_for_the_last_chunk_and_trailers():
    head = b"PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    _, ready = frame(head, b"3\r\nabc\r\n", b"2;ext=1\r\nde\r\n", b"0\r\n", b"\r\n")
    assert ready == [False, False, False, False, True]
    _, ready = frame(head + b"1\r\na\r\n0\r\nX-Trailer: 1\r\n", b"\r\n")
    assert ready == [False, True]


def test_pipelined_bytes_after_a_request_do_not_delay_it():
    f, ready = frame(b"GET /a HTTP/1.1\r\n\r\nGET /b HT")
    assert ready == [True]
    assert bytes(f.data).endswith(b"GET /b HT")


def test_expect_continue_is_noted_and_taken_out_of_the_head():
    f, ready = frame(b"PUT /a HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n", b"ok")
    assert ready == [False, True] and f.expects_continue
    assert bytes(f.data) == b"PUT /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nok"


def test_a_body_over_max_body_is_never_waited_for():
    """The head is framed (the application's head check answers 413), the body never is."""
    f, ready = frame(b"PUT /a HTTP/1.1\r\nContent-Length: 5000\r\n\r\n", b"x" * 100)
    assert ready == [False, False] and f.oversized and f.head_end is not None


@pytest.mark.parametrize("request_bytes", [
    b"PUT /a HTTP/1.1\r\nContent-Length: -1\r\n\r\n",                # the parser answers 400
    b"PUT /a HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    b"PUT /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    b"GET /a HTTP/1.1\nHost: x\n",                                   # bare LF
    b"GET /a HTTP/1.1\r\nX: " + b"a" * 9000,                         # head too large
    b"PUT /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  # bad chunk size
])
def test_what_cannot_be_framed_goes_to_the_parser_at_once(request_bytes):
    _, ready = frame(request_bytes)
    assert ready == [True]


# -- over a real server ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def srv(make_server):
    server = make_server(start=False)
    server.configure(("[server]\n", f"[server]\ntimeout = {TIMEOUT}\n"))
    server.start()
    server.add_user("admin", admin=True)
    server.add_user("alice")
    server.add_room("wrk", "--timezone", "UTC")
    yield server
    assert_no_500(server)


def basic(srv, user="alice"):
    import base64
    return base64.b64encode(f"{user}:{srv.passwords[user]}".encode()).decode()


def connect(srv):
    return socket.create_connection(("127.0.0.1", srv.port), timeout=20)


def read_responses(sock, count, timeout=10):
    """``count`` complete responses (status, head, body) from a socket; 1xx are returned too."""
    data, responses = b"", []
    deadline = time.time() + timeout
    sock.settimeout(1)
    while len([r for r in responses if r[0] >= 200]) < count and time.time() < deadline:
        while True:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                break
            head = data[:end].decode("latin-1")
            status = int(head.split()[1])
            length = int((re.search(r"(?im)^content-length:\s*(\d+)", head) or [0, 0])[1])
            body_end = end + 4 + (length if status >= 200 else 0)
            if status >= 200 and re.search(r"(?im)^transfer-encoding:\s*chunked", head):
                last = data.find(b"0\r\n\r\n", end + 4)   # small bodies: the last chunk ends it
                body_end = last + 5 if last >= 0 else len(data) + 1
            if len(data) < body_end:
                break
            responses.append((status, head, data[end + 4:body_end]))
            data = data[body_end:]
        if len([r for r in responses if r[0] >= 200]) >= count:
            break
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        if not chunk:
            break
        data += chunk
    return responses


_day = iter(range(1, 28))


def ics_body(uid, day=None):
    """A booking on a day no other test of this module uses (unless ``day`` is given)."""
    day = day or next(_day)
    return event(f"202802{day:02d}T100000Z", f"202802{day:02d}T110000Z", uid=uid).encode()


def test_a_chunked_put_is_stored(srv):
    uid = str(uuid.uuid4())
    body = ics_body(uid)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 50]), body[i:i + 50]) for i in range(0, len(body), 50))
    with connect(srv) as s:
        s.sendall(f"PUT /rooms/wrk/{uid}.ics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic(srv)}\r\n"
                  f"Content-Type: text/calendar\r\nTransfer-Encoding: chunked\r\n\r\n".encode())
        for i in range(0, len(chunks), 40):
            s.sendall(chunks[i:i + 40])
            time.sleep(0.01)
        s.sendall(b"0\r\n\r\n")
        (status, _, _), = read_responses(s, 1)
    assert status == 201
    assert srv.request("GET", f"/rooms/wrk/{uid}.ics", user="alice").status_code == 200


def test_expect_continue_gets_one_100_before_the_body_is_sent(srv):
    uid = str(uuid.uuid4())
    body = ics_body(uid)
    with connect(srv) as s:
        s.sendall(f"PUT /rooms/wrk/{uid}.ics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic(srv)}\r\n"
                  f"Content-Type: text/calendar\r\nExpect: 100-continue\r\n"
                  f"Content-Length: {len(body)}\r\n\r\n".encode())
        s.settimeout(5)
        assert s.recv(100).startswith(b"HTTP/1.1 100")   # the body is not sent before this
        s.sendall(body)
        responses = read_responses(s, 1)
    assert [status for status, _, _ in responses] == [201]


def test_pipelined_requests_are_all_answered_in_order(srv):
    uids = [str(uuid.uuid4()) for _ in range(3)]
    bodies = {uid: ics_body(uid, day=28) for uid in uids}
    auth = basic(srv)
    puts = b"".join(
        f"PUT /rooms/wrk/{uid}.ics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n"
        f"Content-Type: text/calendar\r\nContent-Length: {len(bodies[uid])}\r\n\r\n".encode() + bodies[uid]
        for uid in uids)
    get = f"GET /api/rooms/wrk HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {auth}\r\n\r\n".encode()
    with connect(srv) as s:
        data = puts + get
        s.sendall(data[:len(data) // 2 + 7])   # a cut in the middle of a request
        time.sleep(0.3)
        s.sendall(data[len(data) // 2 + 7:])
        responses = read_responses(s, 4)
    # The three PUTs overlap: the first is booked, the others conflict.
    assert [status for status, _, _ in responses] == [201, 409, 409, 200]


def test_a_request_that_never_completes_gets_408(srv):
    with connect(srv) as s:
        s.sendall(f"PUT /rooms/wrk/x.ics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic(srv)}\r\n"
                  "Content-Length: 100\r\n\r\nBEGIN".encode())
        t0 = time.time()
        responses = read_responses(s, 1, timeout=TIMEOUT + 10)
        waited = time.time() - t0
    assert [status for status, _, _ in responses] == [408]
    assert b"did not arrive in full" in responses[0][2]
    assert TIMEOUT - 0.5 <= waited <= TIMEOUT + 3, waited


def test_an_unauthenticated_body_is_refused_before_it_arrives(srv):
    """Without credentials the body is not waited for: 401 at once, not 408 after the timeout."""
    with connect(srv) as s:
        s.sendall(b"PUT /rooms/wrk/x.ics HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nBEGIN")
        responses = read_responses(s, 1, timeout=TIMEOUT)
    assert [status for status, _, _ in responses] == [401]
    assert b"Authentication is required" in responses[0][2]


def test_an_upload_that_keeps_coming_is_not_cut_off(srv):
    """More time for every MIN_RATE bytes: a body sent over 3 s (timeout 2 s) at ~2x MIN_RATE."""
    uid = str(uuid.uuid4())
    body = event("20280306T100000Z", "20280306T110000Z", uid=uid,
                 extra="DESCRIPTION:" + "x" * (6 * MIN_RATE)).encode()
    with connect(srv) as s:
        s.sendall(f"PUT /rooms/wrk/{uid}.ics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic(srv)}\r\n"
                  f"Content-Type: text/calendar\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        step = MIN_RATE // 5
        for i in range(0, len(body), step):
            s.sendall(body[i:i + step])
            time.sleep(0.1)
        responses = read_responses(s, 1)
    assert [status for status, _, _ in responses] == [201]


def test_keep_alive_connections_serve_many_requests(srv):
    with requests.Session() as session:
        session.auth = ("alice", srv.passwords["alice"])
        for _ in range(20):
            assert session.get(srv.url + "/api/rooms/wrk", timeout=10).status_code == 200


def test_more_dribbling_clients_than_threads_do_not_stall_others(srv):
    """40 connections (5x the worker's threads) each send a byte now and then."""
    stop = threading.Event()
    sockets = []
    for _ in range(40):
        s = connect(srv)
        s.sendall(b"PUT /rooms/wrk/slow.ics HTTP/1.1\r\n")
        sockets.append(s)

    def dribble():
        while not stop.is_set():
            for s in sockets:
                try:
                    s.sendall(b"X")
                except OSError:
                    pass
            time.sleep(0.5)
    thread = threading.Thread(target=dribble, daemon=True)
    thread.start()
    try:
        time.sleep(0.5)
        for _ in range(10):
            t0 = time.time()
            r = requests.get(srv.url + "/api/rooms/wrk", auth=("alice", srv.passwords["alice"]), timeout=10)
            assert r.status_code == 200
            assert time.time() - t0 < 1.5
    finally:
        stop.set()
        thread.join()
        for s in sockets:
            s.close()


def test_a_body_refused_unread_leaves_the_connection_usable(srv):
    """/api refuses a JSON body over 1 MB without reading it; the front reads it from the
    worker's buffer, so the "keep-alive" it answered holds (gunicorn drains 64 KiB at most,
    and used to close the connection under the client's next request)."""
    with requests.Session() as session:
        session.auth = srv.auth("alice")
        refused = session.post(f"{srv.url}/api/rooms/wrk/check", headers={"Content-Type": "application/json"},
                               data=b'{"title": "' + b"x" * 1_200_000 + b'"}')
        assert refused.status_code == 413 and refused.headers.get("Connection") != "close"
        assert session.get(f"{srv.url}/api/rooms/wrk").status_code == 200


def test_a_body_over_max_content_length_is_refused_after_the_head(srv):
    with connect(srv) as s:
        s.sendall(f"PUT /rooms/wrk/big.ics HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {basic(srv)}\r\n"
                  "Content-Length: 20000000\r\n\r\nBEGIN".encode())
        status, headers, body = read_responses(s, 1, timeout=5)[0]
    assert status == 413 and b"too large" in body
    assert re.search(r"(?i)connection: close", headers)

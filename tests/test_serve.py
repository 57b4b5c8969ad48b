"""`roomcal serve`: one access-log line per request, clean stop on SIGTERM, several workers."""

import signal
import time

import requests


def test_one_log_line_per_request_and_a_clean_sigterm(make_server):
    server = make_server(workers=2)
    server.add_user("s-alice")
    before = server.read_log().count('"GET /api/rooms HTTP/1.1"')
    for _ in range(3):
        assert server.request("GET", "/api/rooms", user="s-alice").status_code == 200
    assert server.request("GET", "/api/rooms", token="rc_000000000000_wrong").status_code == 401
    deadline = time.time() + 5  # gunicorn writes the access line after the response
    while True:
        log = server.read_log()
        if log.count('"GET /api/rooms HTTP/1.1" 401') or time.time() > deadline:
            break
        time.sleep(0.05)
    assert log.count('"GET /api/rooms HTTP/1.1" 200') - before == 3
    assert log.count('"GET /api/rooms HTTP/1.1" 401') == 1
    assert "rc_000000000000_wrong" not in log and "pw-s-alice" not in log

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(20) == 0
    assert "Shutting down" in server.read_log()
    try:
        requests.get(server.url + "/", timeout=2)
        raise AssertionError("the server still answers after SIGTERM")
    except requests.ConnectionError:
        pass

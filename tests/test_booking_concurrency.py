"""Check-then-write is atomic across threads and processes: `roomcal serve --workers 4`
and many simultaneous conflicting bookings (plus `roomcal import` processes) leave
exactly what the rules allow."""

import os
import re
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import REPO, ROOMCAL, event

WRITERS = 24


@pytest.fixture(scope="module")
def busy(make_server):
    srv = make_server(workers=4)
    srv.add_user("k-admin", admin=True)
    for n in range(4):
        srv.add_user(f"k-user{n}")
    yield srv
    answered_500 = [line for line in srv.read_log().splitlines() if '" 500 ' in line]
    assert not answered_500, answered_500


def stored_uids(srv, room_id):
    response = srv.request("GET", f"/rooms/{room_id}/", user="k-admin")
    assert response.status_code == 200
    return [line.split(":", 1)[1].strip() for line in response.text.splitlines() if line.startswith("UID:")]


def fire(srv, room_id, bookings):
    """PUT every (uid, ics) at the same moment, each on its own connection."""
    barrier = threading.Barrier(len(bookings))
    results = [None] * len(bookings)

    def one(i, uid, ics):
        user = f"k-user{i % 4}"
        with requests.Session() as session:
            session.auth = (user, srv.passwords[user])
            barrier.wait()
            try:
                results[i] = session.put(f"{srv.url}/rooms/{room_id}/{uid}.ics", data=ics.encode(),
                                         headers={"Content-Type": "text/calendar"}, timeout=60).status_code
            except requests.RequestException as e:
                results[i] = repr(e)
    threads = [threading.Thread(target=one, args=(i, uid, ics)) for i, (uid, ics) in enumerate(bookings)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_simultaneous_conflicting_puts_store_exactly_one(busy):
    busy.add_room("race")
    bookings = []
    for n in range(WRITERS):
        uid = f"race-{n}-{uuid.uuid4().hex[:6]}"
        # the same slot, give or take a few minutes: every pair overlaps
        bookings.append((uid, event(f"20270607T10{n % 10:02d}00Z", f"20270607T11{n % 10:02d}00Z", uid=uid)))
    results = fire(busy, "race", bookings)
    assert results.count(201) == 1, results
    assert results.count(409) == WRITERS - 1, results
    uids = stored_uids(busy, "race")
    assert len(uids) == 1
    assert results[[uid for uid, _ in bookings].index(uids[0])] == 201
    # the workers' index agrees with the store: a later booking sees the winner
    assert busy.put_ics("/rooms/race/late.ics", event("20270607T103000Z", "20270607T104000Z"),
                        user="k-user0").status_code == 409
    # the refusals came from several worker processes (the log line carries the pid)
    pids = set(re.findall(r"\[(\d+)/[^\]]*\] \[WARNING\] Bad PUT request on '/rooms/race/", busy.read_log()))
    assert len(pids) >= 2, pids


def test_simultaneous_bookings_respect_quantity(busy):
    busy.add_room("pool", "--quantity", "3")
    bookings = []
    for n in range(WRITERS):
        uid = f"pool-{n}-{uuid.uuid4().hex[:6]}"
        bookings.append((uid, event("20270608T090000Z", "20270608T100000Z", uid=uid)))
    results = fire(busy, "pool", bookings)
    assert results.count(201) == 3, results
    assert results.count(409) == WRITERS - 3, results
    assert len(stored_uids(busy, "pool")) == 3


def test_simultaneous_puts_and_cli_imports_store_exactly_one(busy, tmp_path):
    busy.add_room("mixed")
    imports = []
    for n in range(3):
        path = os.path.join(str(tmp_path), f"import-{n}.ics")
        with open(path, "w") as f:
            f.write(event("20270609T100000Z", "20270609T110000Z", uid=f"imported-{n}"))
        imports.append(path)
    bookings = [(f"mixed-{n}", event("20270609T103000Z", "20270609T113000Z", uid=f"mixed-{n}"))
                for n in range(20)]
    processes = []
    put_results = []
    starter = threading.Thread(target=lambda: put_results.extend(fire(busy, "mixed", bookings)))
    for path in imports:
        processes.append(subprocess.Popen(ROOMCAL + ["--config", busy.config, "import", "mixed", path],
                                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    time.sleep(0.2)  # about when the import processes reach the store
    starter.start()
    starter.join()
    codes = [p.wait(60) for p in processes]
    winners = put_results.count(201) + codes.count(0)
    assert winners == 1, (put_results, codes, [p.stderr.read() for p in processes])
    assert put_results.count(201) + put_results.count(409) == len(bookings), put_results
    assert len(stored_uids(busy, "mixed")) == 1


HOME_PROPS = ('<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" '
              'xmlns:CS="http://calendarserver.org/ns/"><D:prop><D:getetag/><D:getcontentlength/>'
              '<D:getlastmodified/><D:sync-token/><CS:getctag/></D:prop></D:propfind>')


def test_listings_while_bookings_come_and_go(busy):
    """Radicale writes a PROPFIND's answer after releasing its lock; the ETags, sync tokens,
    lengths and last changes of the rooms listed in a home (and of a room's items, asked
    by allprop) were read then from files a DELETE was removing: a 500 now and then."""
    for n in range(2):
        busy.add_room(f"churn{n}")
    stop, answers = threading.Event(), []

    def book_and_cancel(k):
        with requests.Session() as session:
            session.auth = busy.auth(f"k-user{k}")
            for n in range(25):
                url = f"{busy.url}/rooms/churn{k % 2}/churn-{k}-{n}.ics"
                start = f"202801{1 + n:02d}T{8 + k:02d}0000Z"
                answers.append(session.put(url, data=event(start, start.replace("0000Z", "3000Z")).encode(),
                                           headers={"Content-Type": "text/calendar"}, timeout=60).status_code)
                answers.append(session.delete(url, timeout=60).status_code)

    def list_them(k):
        with requests.Session() as session:
            session.auth = busy.auth(f"k-user{k}")
            while not stop.is_set():
                for path, body in ((f"/k-user{k}/", HOME_PROPS), ("/rooms/churn0/", ""),
                                   ("/rooms/churn1/", HOME_PROPS)):
                    answers.append(session.request("PROPFIND", busy.url + path, data=body,
                                                   headers={"Depth": "1"}, timeout=60).status_code)
    writers = [threading.Thread(target=book_and_cancel, args=(k,)) for k in range(4)]
    readers = [threading.Thread(target=list_them, args=(k,)) for k in range(2)]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in readers:
        t.join()
    assert set(answers) <= {201, 200, 204, 207}, sorted(set(answers))
    assert answers.count(207) >= 6


def test_simultaneous_edits_of_one_booking_with_if_match_keep_one(busy):
    """Calendar apps edit with If-Match: of edits sent at once with the ETag they all read,
    one is stored and the others get 412 (none overwrites another's edit unseen)."""
    busy.add_room("edits")
    created = busy.put_ics("/rooms/edits/shared.ics", event("20270610T090000Z", "20270610T100000Z",
                                                          uid="shared"), user="k-admin")
    assert created.status_code == 201
    etag = busy.request("GET", "/rooms/edits/shared.ics", user="k-admin").headers["ETag"]
    barrier, results = threading.Barrier(12), [None] * 12

    def edit(n):
        body = event("20270610T090000Z", "20270610T100000Z", uid="shared", summary=f"Edit {n}")
        with requests.Session() as session:
            session.auth = busy.auth("k-admin")
            barrier.wait()
            results[n] = session.put(f"{busy.url}/rooms/edits/shared.ics", data=body.encode(), timeout=60,
                                     headers={"Content-Type": "text/calendar", "If-Match": etag}).status_code
    threads = [threading.Thread(target=edit, args=(n,)) for n in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [204] + [412] * 11, results
    stored = busy.request("GET", "/rooms/edits/shared.ics", user="k-admin").text
    assert f"SUMMARY:Edit {results.index(204)}" in stored

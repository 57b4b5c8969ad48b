"""Input that got a 500 or slipped through (issue 12), through a real server and the CLI:
XML bodies in any encoding, line breaks in JSCalendar members, dates at the ends of the
calendar, whole-value name and e-mail patterns, server-stamped members, room properties
in our words, unknown rooms and anonymous requests, unknown TZIDs in the log.
"""

import os
import uuid

import bcrypt
import pytest
import requests

from conftest import assert_no_500, new_room

ADMIN, ALICE, BOB = "in-admin", "in-alice", "in-bob"
XML = {"Content-Type": "application/xml"}
JSON = {"Content-Type": "application/json"}
PROPFIND = '<D:propfind xmlns:D="DAV:"><D:prop><D:displayname/></D:prop></D:propfind>'


@pytest.fixture(scope="module")
def srv(server):
    server.add_user(ADMIN, admin=True)
    server.add_user(ALICE, email="alice@example.org")
    server.add_user(BOB)
    yield server
    assert_no_500(server)


@pytest.fixture
def room(srv):
    return new_room(srv, "in", tz="Europe/Berlin")


def js_event(day=10, **members):
    return {"@type": "Event", "title": "Input", "start": f"2031-03-{day:02d}T10:00:00",
            "timeZone": "Europe/Berlin", "duration": "PT1H", **members}


def stored(srv, room_id, user=ALICE) -> dict:
    body = srv.request("GET", f"/rooms/{room_id}/", user=user,
                       headers={"Accept": "application/json"}).json()
    return body["responses"]


def dav_error(answer, status, condition, words):
    assert answer.status_code == status, answer.text
    assert answer.headers["Content-Type"].startswith("application/xml"), answer.headers
    assert f"<R:{condition}" in answer.text and "<D:responsedescription>" in answer.text, answer.text
    assert words in answer.text, answer.text


# -- 4. names, room ids and e-mail addresses are matched whole ---------------------------------
def users_file(srv) -> str:
    return os.path.join(srv.dir, "data", "users")


def test_a_user_name_with_a_trailing_newline_is_refused(srv):
    answer = srv.cli("user", "add", "eve\n", "--password", "eve-pw", check=False)
    assert answer.returncode != 0 and "user name" in answer.stderr.lower(), answer
    with open(users_file(srv)) as f:
        assert not [line for line in f if line.startswith((":", "eve"))]
    assert requests.get(srv.url + "/api/rooms", auth=("", "eve-pw"), timeout=30).status_code == 401


def test_a_password_line_without_a_name_never_logs_in(srv):
    with open(users_file(srv), "a") as f:  # what the old writer produced for "eve\n"
        f.write(":" + bcrypt.hashpw(b"nobody-pw", bcrypt.gensalt(4)).decode() + "\n")
    for method, path in (("GET", "/api/rooms"), ("PROPFIND", "/")):
        answer = requests.request(method, srv.url + path, auth=("", "nobody-pw"), timeout=30)
        assert answer.status_code == 401, (method, answer.text)


@pytest.mark.parametrize("email", ["bob@example.org\n", "bob@example.org\r\nBcc: eve@example.org",
                                   "bob@example.org, eve@example.org", "Bob <bob@example.org>", "bob@exa mple.org"])
def test_e_mail_addresses_are_one_address_on_every_path(srv, email):
    name = f"in-{uuid.uuid4().hex[:6]}"
    add = srv.cli("user", "add", name, "--password", "pw", "--email", email, check=False)
    assert add.returncode != 0 and "not an e-mail address" in add.stderr, add
    set_ = srv.cli("user", "set", BOB, "--email", email, check=False)
    assert set_.returncode != 0 and "not an e-mail address" in set_.stderr, set_
    post = srv.request("POST", "/api/admin/users", user=ADMIN, json={"name": name, "password": "pw", "email": email})
    patch = srv.request("PATCH", f"/api/admin/users/{BOB}", user=ADMIN, json={"email": email})
    for answer in (post, patch):
        assert answer.status_code == 422 and answer.json()["properties"] == ["email"], answer.text
    assert srv.request("GET", f"/api/admin/users/{BOB}", user=ADMIN).json()["email"] == ""
    assert name not in srv.cli("user", "list").stdout


def test_room_ids_with_a_newline_are_refused(srv, room):
    answer = srv.cli("room", "add", "in-r1\n", "--name", "R", check=False)
    assert answer.returncode != 0 and "room id" in answer.stderr.lower(), answer
    folders = os.listdir(os.path.join(srv.dir, "data", "collections", "collection-root", "rooms"))
    assert room in folders and not [n for n in folders if "\n" in n]

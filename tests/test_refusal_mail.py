"""A refused CalDAV write into a room mails its author the sentence (issue 13): calendar apps
drop a 409/403 and its DAV:error (Thunderbird hides the event or shows a generic error).
A real server (two workers) and a real SMTP server on loopback (aiosmtpd); JSON and /api
callers get the sentence in the answer and no mail; ``[notify] refusals = false``; a user
without an e-mail; a client retrying the same refused PUT gets one mail.
"""

import datetime
import uuid
import xml.etree.ElementTree as ET
import zoneinfo

import pytest

from conftest import assert_no_500, event
from roomcal.storage import notify
from roomcal.storage.outbox import Outbox
from support.smtp import body, mailing_server
from support.databases import database  # noqa: F401 (a fixture: the test runs on both databases)
from test_notifications import when

ALICE, BOB, NOMAIL = "rf-alice", "rf-bob", "rf-nomail"
ALICE_MAIL, BOB_MAIL = "rf-alice@example.org", "rf-bob@example.org"


def refusing_server(make_server, smtp, *edits):
    server = mailing_server(make_server, smtp,
                            ("roomcal_outbox_retry_min = 30", "roomcal_outbox_retry_min = 0.2"), *edits,
                            workers=2)
    server.add_user(ALICE, email=ALICE_MAIL)
    server.add_user(BOB, email=BOB_MAIL)
    server.add_user(NOMAIL)
    return server


@pytest.fixture(scope="module")
def srv(make_server, smtp):
    server = refusing_server(make_server, smtp)
    yield server
    assert_no_500(server)


def new_room(srv, *options) -> str:
    room_id = f"rf{uuid.uuid4().hex[:8]}"
    srv.add_room(room_id, *options, name=f"Room {room_id}")
    return room_id


def refusals(srv, room_id):
    """The refusal mails the server queued about a room (sent or not)."""
    return [m for m in srv.outbox().list()
            if m["kind"] == "refused" and m["room"] == room_id]


def put(srv, room_id, uid, user, days, hour=9, summary=None, expect=201):
    response = srv.put_ics(f"/rooms/{room_id}/{uid}.ics",
                           event(when(days, hour), when(days, hour + 1), uid=uid,
                                 summary=summary or f"Meeting {uid}"), user=user)
    assert response.status_code == expect, response.text
    return response


def test_a_conflicting_put_mails_its_booker_the_sentence(srv, smtp):
    room_id = new_room(srv)
    put(srv, room_id, "first", ALICE, 3)
    uid = f"clash-{uuid.uuid4().hex[:6]}"
    refused = put(srv, room_id, uid, BOB, 3, summary="Budget review", expect=409)
    assert "no-booking-conflict" in refused.text   # the answer itself is unchanged
    sentence = ET.fromstring(refused.content).findtext("{DAV:}responsedescription")
    assert "already booked" in sentence
    mail, = smtp.wait_for(lambda m: m["To"] == BOB_MAIL and room_id in m["Subject"])
    assert mail["Subject"].startswith(f"Not booked: Budget review in Room {room_id}, ")
    text = body(mail)
    assert sentence in text
    assert "It is not booked" in text and "When: " in text
    # the way to book that shows the answer: invite the room by its address
    assert f"{room_id}@rooms.localhost" in text and "invite the room" in text
    assert [m["recipient"] for m in refusals(srv, room_id)] == [BOB_MAIL]


def test_the_time_is_in_the_rooms_zone(srv, smtp):
    room_id = new_room(srv, "--timezone", "Europe/Berlin")
    put(srv, room_id, "first", ALICE, 4)
    put(srv, room_id, "second", BOB, 4, summary="Zoned", expect=409)
    mail, = smtp.wait_for(lambda m: room_id in m["Subject"])
    start = datetime.datetime.strptime(when(4, 9), "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    local = start.astimezone(zoneinfo.ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%d %H:%M %Z")
    assert mail["Subject"].endswith(local) and f"When: {local}" in body(mail)


def test_a_client_retrying_the_same_refused_put_gets_one_mail(srv, smtp):
    room_id = new_room(srv)
    put(srv, room_id, "first", ALICE, 5)
    for _ in range(4):   # Thunderbird's offline cache sends it again on every sync
        put(srv, room_id, "retried", BOB, 5, expect=409)
    assert len(refusals(srv, room_id)) == 1
    # the same event changed (another time, refused again) is news: one more mail
    put(srv, room_id, "first-later", ALICE, 6)
    put(srv, room_id, "retried", BOB, 6, expect=409)
    put(srv, room_id, "retried", BOB, 6, expect=409)
    assert len(refusals(srv, room_id)) == 2
    smtp.wait_for(lambda m: room_id in m["Subject"] and when(6, 9)[:8] in body(m).replace("-", ""))


def test_a_refused_change_and_delete_say_what_stays(srv, smtp):
    room_id = new_room(srv)
    put(srv, room_id, "mine", ALICE, 7)
    put(srv, room_id, "other", BOB, 7, hour=12)
    # alice moves her booking onto bob's: refused, her booking stays as it was
    put(srv, room_id, "mine", ALICE, 7, hour=12, summary="Moved on top", expect=409)
    changed, = smtp.wait_for(lambda m: room_id in m["Subject"] and m["To"] == ALICE_MAIL)
    assert changed["Subject"].startswith(f"Not changed: Moved on top in Room {room_id}")
    assert "stays as it was" in body(changed)
    # bob may not delete alice's booking (the booking core refuses it): he is told why
    deleted = srv.request("DELETE", f"/rooms/{room_id}/mine.ics", user=BOB)
    assert deleted.status_code == 403, deleted.text
    mail, = smtp.wait_for(lambda m: room_id in m["Subject"] and m["To"] == BOB_MAIL)
    assert mail["Subject"].startswith(f"Not deleted: Meeting mine in Room {room_id}")
    assert "It stays booked" in body(mail) and "invite the room" not in body(mail)


def test_a_refused_move_into_a_room_mails_too(srv, smtp):
    room_id = new_room(srv)
    put(srv, room_id, "taken", ALICE, 8)
    assert srv.request("MKCALENDAR", f"/{BOB}/moves/", user=BOB).status_code == 201
    ics = event(when(8, 9), when(8, 10), uid="moving", summary="From my calendar")
    assert srv.put_ics(f"/{BOB}/moves/moving.ics", ics, user=BOB).status_code == 201
    moved = srv.request("MOVE", f"/{BOB}/moves/moving.ics", user=BOB,
                        headers={"Destination": f"{srv.url}/rooms/{room_id}/moving.ics"})
    assert moved.status_code == 409, moved.text
    mail, = smtp.wait_for(lambda m: room_id in m["Subject"])
    assert mail["To"] == BOB_MAIL and mail["Subject"].startswith("Not booked: From my calendar")


def test_json_and_api_callers_get_the_body_and_no_mail(srv, smtp):
    room_id = new_room(srv)
    put(srv, room_id, "first", ALICE, 9)
    start = datetime.datetime.strptime(when(9, 9), "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%dT%H:%M:%SZ")
    as_json = srv.request("PUT", f"/rooms/{room_id}/json.ics", user=BOB, json={
        "@type": "Event", "uid": "json-clash", "title": "JSON clash", "start": start[:-1],
        "timeZone": "Etc/UTC", "duration": "PT1H"})
    assert as_json.status_code == 409 and as_json.json()["type"] == "conflict"
    api = srv.request("POST", f"/api/rooms/{room_id}/bookings", user=BOB, json={
        "title": "API clash", "start": start, "end": start.replace("T09", "T10")})
    assert api.status_code == 409 and "already booked" in api.json()["message"]
    # a CalDAV refusal after them is mailed: had they been, they would be in the outbox first
    put(srv, room_id, "caldav-clash", BOB, 9, expect=409)
    smtp.wait_for(lambda m: room_id in m["Subject"])
    assert [m["uid"] for m in refusals(srv, room_id)] == ["caldav-clash"]


def test_a_booker_without_an_email_gets_the_409_and_nothing_fails(srv, smtp):
    room_id = new_room(srv)
    put(srv, room_id, "first", ALICE, 10)
    refused = put(srv, room_id, "no-address", NOMAIL, 10, expect=409)
    assert "no-booking-conflict" in refused.text
    assert refusals(srv, room_id) == []


def test_a_rule_violation_is_mailed_but_not_a_stale_etag(srv, smtp):
    room_id = new_room(srv, "--max-duration", "PT30M")
    put(srv, room_id, "too-long", BOB, 11, expect=403)
    mail, = smtp.wait_for(lambda m: room_id in m["Subject"])
    assert "30" in body(mail)   # the rule's sentence names the limit
    # If-Match on a changed event: the client's own sync business, no mail
    short = srv.put_ics(f"/rooms/{room_id}/short.ics", event(when(12, 9), when(12, 9, 20), uid="short"),
                        user=BOB)
    assert short.status_code == 201, short.text
    stale = srv.put_ics(f"/rooms/{room_id}/short.ics", event(when(12, 9), when(12, 9, 20), uid="short"),
                        user=BOB, **{"If-Match": '"not-the-etag"'})
    assert stale.status_code == 412
    assert len(refusals(srv, room_id)) == 1


def test_refusals_false_mails_nothing(make_server, smtp):
    quiet = refusing_server(make_server, smtp, ("refusals = true", "refusals = false"))
    room_id = new_room(quiet)
    put(quiet, room_id, "first", ALICE, 3)
    put(quiet, room_id, "second", BOB, 3, expect=409)
    assert refusals(quiet, room_id) == []
    assert_no_500(quiet)


# -- without a server ------------------------------------------------------------------------
def test_refusals_setting():
    assert notify.parse_settings({}, environ={}).refusals is True
    assert notify.parse_settings({"refusals": "false"}, environ={}).refusals is False
    with pytest.raises(notify.NotifyConfigError, match="refusals"):
        notify.parse_settings({"refusals": "sometimes"}, environ={})


@pytest.mark.parametrize("text", ["", "not iCalendar at all", "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
                                  "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x\r\nDTSTART:garbage\r\n"
                                  "END:VEVENT\r\nEND:VCALENDAR\r\n"])
def test_unreadable_bodies_leave_the_event_empty(text):
    event_ = notify._event_of(text, zoneinfo.ZoneInfo("Europe/Berlin"))
    assert event_["start"] is None and event_["end"] is None


def test_floating_and_all_day_events_are_read_in_the_rooms_zone():
    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    floating = notify._event_of(event("20271206T100000", "20271206T110000", uid="f", summary="Float"), berlin)
    assert floating["start"] == datetime.datetime(2027, 12, 6, 10, tzinfo=berlin)
    assert floating["name"] == "Float" and floating["uid"] == "f"
    all_day = notify._event_of(event("20271206", "20271208", uid="d", dates=True), berlin)
    assert all_day["start"] == "2027-12-06 (all day)" and all_day["end"] == "2027-12-07 (all day)"


def test_the_outbox_keeps_one_mail_per_repeat_window(tmp_path, database):
    outbox = Outbox(str(tmp_path / "outbox.sqlite"), database)
    args = dict(kind="refused", room="r", uid="u", within=600)
    assert outbox.add_unless_sent_lately("a@example.org", "S", "B", **args) is not None
    assert outbox.add_unless_sent_lately("a@example.org", "S", "B", **args) is None
    assert outbox.add_unless_sent_lately("a@example.org", "S", "other body", **args) is not None
    assert outbox.add_unless_sent_lately("b@example.org", "S", "B", **args) is not None
    assert outbox.add_unless_sent_lately("a@example.org", "S", "B", **{**args, "within": 0}) is not None

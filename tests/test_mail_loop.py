"""Mail that closes the loop (issue 18): a real server and a real SMTP server on loopback.

An approval room's waiting booking mails its managers (what to do) and its booker
(received), the decision mails the booker; confirmations (off by default) carry the
booking as booking.ics; a mail refused for good is listed and sent again by the CLI and
by /api/admin/mail.  The outbox's migration and requeue are also checked on their own.
"""

import datetime
import sqlite3
import time
import uuid

import icalendar
import pytest

from conftest import assert_no_500, event
from support.smtp import body, mailing_server
from roomcal.storage import notify
from roomcal.storage.outbox import AlreadySent, Outbox
from roomcal.storage.errors import NotFound
from support.databases import database  # noqa: F401 (a fixture: the test runs on both databases)

ADMIN, MGR, DEPUTY, ALICE, BOB = "ml-admin", "ml-mgr", "ml-deputy", "ml-alice", "ml-bob"
PUBLIC = "https://rooms.example.org"
AUDIT = "audit@example.org"   # a blind copy of every mail of srv


def start(make_server, smtp, *extra):
    server = mailing_server(make_server, smtp,
                            ("# roomcal_public_url = https://rooms.example.org",
                             f"roomcal_public_url = {PUBLIC}"),
                            ("roomcal_outbox_retry_min = 30", "roomcal_outbox_retry_min = 0.2"),
                            ("roomcal_outbox_retry_max = 3600", "roomcal_outbox_retry_max = 1"),
                            workers=2, notify_lines="".join(extra))
    server.add_user(ADMIN, admin=True, email="admin@example.org")
    server.add_user(MGR, email="mgr@example.org")
    server.add_user(DEPUTY, email="deputy@example.org")
    server.add_user(ALICE, email="alice@example.org")
    server.add_user(BOB, email="bob@example.org")
    server.cli("group", "add", "deputies", DEPUTY)
    return server


@pytest.fixture(scope="module")
def srv(make_server, smtp):
    server = start(make_server, smtp, f"bcc = {AUDIT}\n")
    yield server
    assert_no_500(server)


@pytest.fixture(scope="module")
def confirming(make_server, smtp):
    server = start(make_server, smtp, "confirmations = true\n")
    yield server
    assert_no_500(server)


def when(days, hour) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc).replace(hour=hour, minute=0, second=0,
                                                                  microsecond=0)
    return (moment + datetime.timedelta(days=days)).strftime("%Y%m%dT%H%M%SZ")


def iso(days, hour) -> str:
    return datetime.datetime.strptime(when(days, hour), "%Y%m%dT%H%M%SZ").strftime("%Y-%m-%dT%H:%M:%SZ")


def room(server, *options) -> str:
    room_id = f"ml{uuid.uuid4().hex[:8]}"
    server.add_room(room_id, *options, name=f"Room {room_id}")
    return room_id


def put(server, room_id, uid, user, days=3, expect=201, summary=None):
    response = server.put_ics(f"/rooms/{room_id}/{uid}.ics",
                              event(when(days, 9), when(days, 10), uid=uid,
                                    summary=summary or f"Meeting {uid}"), user=user)
    assert response.status_code == expect, response.text
    return response


def mails_to(smtp, address, uid):
    return [m for rcpts, m in smtp.messages if address in rcpts and uid in m["Subject"] + body(m)]


def attachment(message):
    """(filename, content type, method, text) of the booking.ics part, else None."""
    for part in message.walk():
        if part.get_filename() == "booking.ics":
            return (part.get_filename(), part.get_content_type(), part.get_param("method"),
                    part.get_content())
    return None


# -- the approval loop ---------------------------------------------------------------------------
def test_a_waiting_booking_mails_its_managers_what_to_do_and_the_booker_received(srv, smtp):
    room_id = room(srv, "--approval", "--managers", f"{MGR},@deputies")
    uid = f"wait-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, ALICE)
    for address in ("mgr@example.org", "deputy@example.org"):
        mail, = smtp.wait_for(lambda m: m["To"] == address and uid in m["Subject"])
        assert mail["Subject"] == f"Approval needed: Meeting {uid} in Room {room_id}, " + \
            mail["Subject"].split(", ", 1)[1]
        assert mail["X-Roomcal-Event"] == "pending"
        text = body(mail)
        link = f"{PUBLIC}/api/rooms/{room_id}/bookings/{uid}"
        assert f"{ALICE} asks to book Room {room_id}" in text and f"Meeting {uid}" in text
        assert f"approve: POST {link}/approve" in text and f"decline: POST {link}/decline" in text
        assert attachment(mail) is None   # confirmations are off
    received, = smtp.wait_for(lambda m: m["To"] == "alice@example.org" and uid in m["Subject"])
    assert received["Subject"].startswith(f"Request received: Meeting {uid}")
    assert "waits for a manager's approval" in body(received) and attachment(received) is None
    # Nobody else, and the booker not as a manager.
    assert {m["To"] for _, m in smtp.messages if uid in m["Subject"]} == \
        {"mgr@example.org", "deputy@example.org", "alice@example.org"}

    # The manager does what the mail says: POST to the approve link (on this server).
    answer = srv.request("POST", f"/api/rooms/{room_id}/bookings/{uid}/approve", user=MGR, json={})
    assert answer.status_code == 200, answer.text
    approved, = smtp.wait_for(lambda m: m["To"] == "alice@example.org"
                              and m["Subject"].startswith(f"Approved: Meeting {uid}"))
    assert "has been approved" in body(approved) and attachment(approved) is None


def test_a_declined_request_mails_the_booker_the_reason(srv, smtp):
    room_id = room(srv, "--approval", "--managers", MGR)
    uid = f"nay-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, BOB)
    smtp.wait_for(lambda m: m["To"] == "mgr@example.org" and uid in m["Subject"])
    smtp.wait_for(lambda m: m["To"] == "bob@example.org" and m["Subject"].startswith("Request received"))
    answer = srv.request("POST", f"/api/rooms/{room_id}/bookings/{uid}/decline", user=MGR,
                         json={"reason": "The board meets then"})
    assert answer.status_code == 200, answer.text
    declined, = smtp.wait_for(lambda m: m["To"] == "bob@example.org" and m["Subject"].startswith("Declined"))
    assert uid in declined["Subject"] and "Reason: The board meets then" in body(declined)


def test_a_room_without_managers_asks_the_admins_and_a_manager_is_not_told_of_their_own(srv, smtp):
    room_id = room(srv, "--approval")
    uid = f"adm-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, BOB)
    mail, = smtp.wait_for(lambda m: m["To"] == "admin@example.org" and uid in m["Subject"])
    assert mail["Subject"].startswith("Approval needed")
    # A manager's own booking also waits (the core stamps every new one), and the other
    # managers are asked, not the one who booked.
    managed = room(srv, "--approval", "--managers", f"{MGR},{DEPUTY}")
    own = f"own-{uuid.uuid4().hex[:6]}"
    put(srv, managed, own, MGR)
    smtp.wait_for(lambda m: m["To"] == "deputy@example.org" and own in m["Subject"])
    smtp.wait_for(lambda m: m["To"] == "mgr@example.org" and m["Subject"].startswith("Request received"))
    assert not [m for m in mails_to(smtp, "mgr@example.org", own) if m["Subject"].startswith("Approval")]


def test_moving_an_approved_booking_asks_again(srv, smtp):
    room_id = room(srv, "--approval", "--managers", MGR)
    uid = f"move-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, ALICE, days=4)
    smtp.wait_for(lambda m: m["To"] == "mgr@example.org" and uid in m["Subject"])
    assert srv.request("POST", f"/api/rooms/{room_id}/bookings/{uid}/approve", user=MGR,
                       json={}).status_code == 200
    smtp.wait_for(lambda m: m["Subject"].startswith(f"Approved: Meeting {uid}"))
    put(srv, room_id, uid, ALICE, days=5, expect=204)   # the booker moves it: pending again
    asked = smtp.wait_for(lambda m: m["To"] == "mgr@example.org" and uid in m["Subject"]
                          and "at a new time" in body(m))
    assert len(asked) == 1
    smtp.wait_for(lambda m: m["To"] == "alice@example.org" and "needs approval again" in body(m)
                  and uid in m["Subject"])


def test_an_invitation_that_waits_mails_the_managers(srv, smtp):
    ann = "ml-ann"
    srv.add_user(ann, email="ann@example.org")
    assert srv.request("MKCALENDAR", f"/{ann}/calendar/", user=ann).status_code == 201
    room_id = room(srv, "--approval", "--managers", MGR)
    uid = f"inv-{uuid.uuid4().hex[:6]}"
    meeting = event(when(6, 9), when(6, 10), uid=uid, summary=f"Meeting {uid}",
                    extra="ORGANIZER:mailto:ann@example.org\n"
                          f"ATTENDEE;CUTYPE=ROOM;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{room_id}@rooms.localhost")
    assert srv.put_ics(f"/{ann}/calendar/{uid}.ics", meeting, user=ann).status_code == 201
    mail, = smtp.wait_for(lambda m: m["To"] == "mgr@example.org" and uid in m["Subject"])
    assert mail["Subject"].startswith("Approval needed") and "ann@example.org" in body(mail)
    # The organizer reads the room's answer (TENTATIVE) in the calendar app: no mail.
    time.sleep(0.5)
    assert mails_to(smtp, "ann@example.org", uid) == []


def test_confirmations_are_off_by_default(srv, smtp):
    room_id = room(srv, "--managers", MGR)
    uid = f"quiet-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, ALICE)
    put(srv, room_id, uid, ALICE, days=8, expect=204)
    # A mail that does go out afterwards (the manager deletes it): mails go in order.
    assert srv.request("DELETE", f"/rooms/{room_id}/{uid}.ics", user=MGR).status_code == 200
    smtp.wait_for(lambda m: m["Subject"].startswith(f"Cancelled: Meeting {uid}"))
    assert [m["Subject"].split(":")[0] for m in mails_to(smtp, "alice@example.org", uid)] == ["Cancelled"]


# -- confirmations ----------------------------------------------------------------------------
def test_confirmations_carry_the_booking_as_an_ics_file(confirming, smtp):
    room_id = room(confirming, "--managers", MGR, "--location", "2nd floor")
    answer = confirming.request("POST", f"/api/rooms/{room_id}/bookings", user=ALICE, json={
        "title": "Budget review", "start": iso(9, 9), "end": iso(9, 10)})
    assert answer.status_code == 201, answer.text
    uid = answer.json()["uid"]
    booked, = smtp.wait_for(lambda m: m["To"] == "alice@example.org" and room_id in m["Subject"])
    assert booked["Subject"].startswith(f"Booked: Budget review in Room {room_id}")
    assert booked["X-Roomcal-Event"] == "booked"
    name, content_type, method, text = attachment(booked)
    assert (name, content_type, method) == ("booking.ics", "text/calendar", "PUBLISH")
    calendar = icalendar.Calendar.from_ical(text)
    vevent, = calendar.walk("VEVENT")
    assert str(calendar["METHOD"]) == "PUBLISH" and str(vevent["UID"]) == uid
    assert str(vevent["SUMMARY"]) == "Budget review"
    assert str(vevent["LOCATION"]) == f"Room {room_id}, 2nd floor"
    assert not [name for name in vevent if name.startswith("X-ROOMCAL")]
    assert "booking.ics adds it to your calendar" in body(booked)

    # Moved by a manager: "changed", with the new time in the file.
    moved = confirming.request("POST", f"/api/rooms/{room_id}/bookings/{uid}/reschedule", user=MGR,
                               json={"start": iso(10, 11)})
    assert moved.status_code == 200, moved.text
    changed, = smtp.wait_for(lambda m: m["To"] == "alice@example.org"
                             and m["Subject"].startswith("Changed: Budget review") and room_id in m["Subject"])
    assert f"has been changed by {MGR}" in body(changed)
    vevent, = icalendar.Calendar.from_ical(attachment(changed)[3]).walk("VEVENT")
    assert str(vevent["UID"]) == uid and vevent.decoded("DTSTART").hour == 11


def test_confirmations_in_an_approval_room(confirming, smtp):
    """The request is received with the file (tentative), the approval comes with it again;
    no "booked" mail besides."""
    room_id = room(confirming, "--approval", "--managers", MGR)
    uid = f"cap-{uuid.uuid4().hex[:6]}"
    put(confirming, room_id, uid, BOB)
    received, = smtp.wait_for(lambda m: m["To"] == "bob@example.org" and uid in m["Subject"])
    assert received["Subject"].startswith("Request received")
    vevent, = icalendar.Calendar.from_ical(attachment(received)[3]).walk("VEVENT")
    assert str(vevent["STATUS"]) == "TENTATIVE"
    assert confirming.request("POST", f"/api/rooms/{room_id}/bookings/{uid}/approve", user=MGR,
                              json={}).status_code == 200
    approved, = smtp.wait_for(lambda m: m["To"] == "bob@example.org" and m["Subject"].startswith("Approved"))
    vevent, = icalendar.Calendar.from_ical(attachment(approved)[3]).walk("VEVENT")
    assert str(vevent["STATUS"]) == "CONFIRMED" and str(vevent["UID"]) == uid
    assert [m["Subject"].split(":")[0] for m in mails_to(smtp, "bob@example.org", uid)] == \
        ["Request received", "Approved"]


def test_an_unchanged_save_mails_nothing(confirming, smtp):
    room_id = room(confirming)
    uid = f"same-{uuid.uuid4().hex[:6]}"
    put(confirming, room_id, uid, ALICE)
    smtp.wait_for(lambda m: m["Subject"].startswith(f"Booked: Meeting {uid}"))
    put(confirming, room_id, uid, ALICE, expect=204)   # a calendar app saving it again
    put(confirming, room_id, uid, ALICE, expect=204, summary="Renamed")
    smtp.wait_for(lambda m: m["Subject"].startswith("Changed: Renamed") and room_id in m["Subject"])
    assert [m["Subject"].split(":")[0] for m in mails_to(smtp, "alice@example.org", room_id)] == \
        ["Booked", "Changed"]


def test_a_cleared_occurrence_is_one_mail_not_a_change_besides(confirming, smtp):
    """clear-bookings excludes a series' clashing occurrence: the "cleared" mail says it, no
    "changed" confirmation on top."""
    room_id = room(confirming, "--managers", MGR)
    tag = uuid.uuid4().hex[:6]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//legacy//EN"]
    for uid, summary, rule, created in ((f"first-{tag}", "First", "", "20250101T000000Z"),
                                        (f"series-{tag}", "Series", "RRULE:FREQ=DAILY;COUNT=3",
                                         "20250601T000000Z")):
        lines += ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", f"DTSTART:{when(12, 9)}",
                  f"DTEND:{when(12, 10)}", f"SUMMARY:{summary}", f"CREATED:{created}",
                  "ORGANIZER:mailto:series@example.org", *([rule] if rule else []), "END:VEVENT"]
    calendar = "\r\n".join(lines + ["END:VCALENDAR"]) + "\r\n"
    confirming.cli("import", room_id, "-", "--allow-conflicts", input=calendar)
    answer = confirming.request("DELETE", f"/api/clear-bookings?calendar={room_id}", user=MGR)
    assert answer.status_code == 200, answer.text
    smtp.wait_for(lambda m: m["Subject"].startswith(f"Removed: Series in Room {room_id}"))
    time.sleep(0.5)
    assert [m["Subject"].split(":")[0] for m in mails_to(smtp, "series@example.org", room_id)] == ["Removed"]


# -- templates per kind ----------------------------------------------------------------------------
def test_a_room_has_its_own_template_per_kind(srv, smtp, tmp_path):
    room_id = room(srv, "--approval", "--managers", MGR)
    path = tmp_path / "pending.txt"
    path.write_text("Decide: {{ event_name }} by {{ booked_by }}\n\nApprove: {{ approve_url }}\n"
                    "Page: {{ manage_url or 'none' }} new={{ event_is_new }} status={{ event_status }}\n")
    assert "set the pending mail template" in srv.cli("template", "set", "--kind", "pending", room_id,
                                                       str(path)).stdout
    assert srv.cli("template", "show", "--kind", "pending", room_id).stdout.startswith("Decide:")
    shown = srv.request("GET", f"/api/admin/rooms/{room_id}/template?kind=received", user=ADMIN).json()
    assert shown["whose"] == "built-in" and shown["subject"].startswith("Request received")
    uid = f"tpl-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, ALICE)
    mail, = smtp.wait_for(lambda m: m["Subject"] == f"Decide: Meeting {uid} by {ALICE}")
    assert body(mail).replace("\r\n", "\n") == (f"Approve: {PUBLIC}/api/rooms/{room_id}/bookings/{uid}/approve\n"
                          f"Page: {PUBLIC}/manage new=True status=pending\n")
    # A template that uses what the kind does not have is refused, naming the kind.
    path.write_text("S\n\n{{ no_such }}\n")
    refused = srv.cli("template", "set", "--default", "--kind", "received", str(path), check=False)
    assert refused.returncode == 1 and "for a received booking" in refused.stderr
    bad_kind = srv.request("GET", f"/api/admin/rooms/{room_id}/template?kind=nonsense", user=ADMIN)
    assert bad_kind.status_code == 422 and "pending" in bad_kind.json()["message"]
    assert srv.request("DELETE", f"/api/admin/rooms/{room_id}/template?kind=pending",
                       user=ADMIN).status_code == 204


# -- mails that failed for good ----------------------------------------------------------------------
def test_a_failed_mail_is_listed_and_sent_again(srv, smtp):
    address = f"gone-{uuid.uuid4().hex[:6]}@example.org"
    victim = f"ml-v{uuid.uuid4().hex[:6]}"
    srv.add_user(victim, email=address)
    room_id = room(srv, "--managers", MGR)
    uids = [f"fail{n}-{uuid.uuid4().hex[:6]}" for n in range(2)]
    smtp.refused.add(address)
    try:
        for uid in uids:
            put(srv, room_id, uid, victim)
            assert srv.request("DELETE", f"/rooms/{room_id}/{uid}.ics", user=MGR).status_code == 200
        deadline = time.time() + 15
        while time.time() < deadline:
            failed = srv.request("GET", "/api/admin/mail?state=failed", user=ADMIN).json()["mails"]
            mine = [m for m in failed if m["recipient"] == address]
            if len(mine) == 2:
                break
            time.sleep(0.1)
        assert len(mine) == 2, failed
        first = mine[0]
        assert first["state"] == "failed" and first["kind"] == "cancelled" and first["room"] == room_id
        assert first["attempts"] == 1 and "550" in first["lastError"] and first["uid"] == uids[0]
        # Its blind copy was taken; the mail still failed: it did not reach its recipient.
        assert [m for rcpts, m in smtp.messages if rcpts == [AUDIT] and uids[0] in m["Subject"]]
        assert first["subject"].startswith(f"Cancelled: Meeting {uids[0]}") and "body" not in first
        listed = srv.cli("mail", "list", "--failed").stdout
        assert address in listed and str(first["id"]) in listed and "550" in listed
        assert "pending" not in listed.split("\n", 1)[1]
    finally:
        smtp.refused.discard(address)   # the mailbox exists now

    # Admins only; a read-only token lists but does not send.
    assert srv.request("GET", "/api/admin/mail", user=MGR).status_code == 403
    assert srv.request("POST", "/api/admin/mail/retry", user=MGR).status_code == 403
    reader = srv.token(ADMIN, "--read-only")
    assert srv.request("GET", "/api/admin/mail?state=failed", token=reader).status_code == 200
    assert srv.request("POST", f"/api/admin/mail/{first['id']}/retry", token=reader).status_code == 403
    assert srv.request("GET", "/api/admin/mail?state=lost", user=ADMIN).status_code == 400

    # One by HTTP...
    answer = srv.request("POST", f"/api/admin/mail/{first['id']}/retry", user=ADMIN)
    assert answer.status_code == 200, answer.text
    assert answer.json()["retried"] == [first["id"]] and answer.json()["mails"][0]["state"] == "pending"
    smtp.wait_for(lambda m: m["To"] == address and uids[0] in m["Subject"])
    # ...the rest by the CLI.
    assert "queued" in srv.cli("mail", "retry", "--all").stdout
    smtp.wait_for(lambda m: m["To"] == address and uids[1] in m["Subject"])
    deadline = time.time() + 10
    while time.time() < deadline and {m["state"] for m in srv.request(
            "GET", "/api/admin/mail", user=ADMIN).json()["mails"] if m["recipient"] == address} != {"sent"}:
        time.sleep(0.1)
    assert address not in srv.cli("mail", "list", "--failed").stdout
    assert address in srv.cli("mail", "list", "--state", "sent").stdout
    # A sent mail is not sent twice; an unknown one is 404.
    again = srv.request("POST", f"/api/admin/mail/{first['id']}/retry", user=ADMIN)
    assert again.status_code == 409 and again.json()["type"] == "invalidState"
    assert srv.request("POST", "/api/admin/mail/999999999/retry", user=ADMIN).status_code == 404
    assert srv.request("POST", f"/api/admin/mail/{2 ** 70}/retry", user=ADMIN).status_code == 404
    assert srv.cli("mail", "retry", "999999999", check=False).returncode == 1
    assert srv.cli("mail", "retry", check=False).returncode == 1   # neither ids nor --all


# -- without a server -----------------------------------------------------------------------------
def test_an_outbox_made_before_attachments_is_migrated(tmp_path):
    path = str(tmp_path / "outbox.sqlite")
    old = sqlite3.connect(path)
    old.executescript("CREATE TABLE outbox(id INTEGER PRIMARY KEY AUTOINCREMENT, created REAL NOT NULL, "
                      "recipient TEXT NOT NULL, subject TEXT NOT NULL, body TEXT NOT NULL, "
                      "kind TEXT NOT NULL DEFAULT '', room TEXT NOT NULL DEFAULT '', "
                      "uid TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'pending', "
                      "attempts INTEGER NOT NULL DEFAULT 0, next_try REAL NOT NULL DEFAULT 0, "
                      "claimed_by TEXT, claimed_until REAL NOT NULL DEFAULT 0, "
                      "last_error TEXT NOT NULL DEFAULT '', sent REAL);"
                      "INSERT INTO outbox(created, recipient, subject, body) VALUES (1, 'a@example.org', 'Old', 'B');")
    old.close()
    outbox = Outbox(path)
    new = outbox.add("b@example.org", "New", "B", attachment="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
    first = outbox.claim("me", 60)
    assert (first.subject, first.attachment) == ("Old", "")
    second = outbox.claim("me", 60)
    assert second.id == new and second.attachment.startswith("BEGIN:VCALENDAR")


def test_requeue_sends_failed_mails_again_and_never_a_sent_one(tmp_path, database):
    outbox = Outbox(str(tmp_path / "outbox.sqlite"), database)
    failed, sent, waiting = (outbox.add(f"{n}@example.org", n, "B") for n in ("f", "s", "w"))
    for mail_id, finish in ((failed, "fail"), (sent, "done")):
        mail = outbox.claim("me", 60)
        assert mail.id == mail_id
        if finish == "fail":
            outbox.fail(mail_id, "me", "550 no such mailbox")
        else:
            outbox.done(mail_id, "me")
    mail = outbox.claim("me", 60)
    outbox.retry(mail.id, "me", "timeout", delay=3600)   # waits an hour
    assert outbox.claim("me", 60) is None
    with pytest.raises(AlreadySent):
        outbox.requeue([failed, sent])
    with pytest.raises(NotFound):
        outbox.requeue([12345])
    assert outbox.get(failed)["state"] == "failed"          # nothing requeued by a refusal
    assert outbox.requeue(None) == [failed]                   # --all: the failed ones
    assert outbox.get(failed)["state"] == "pending" and outbox.get(failed)["last_error"]
    assert outbox.requeue([waiting]) == [waiting]             # a waiting one: now
    assert {outbox.claim("me", 60).id, outbox.claim("me", 60).id} == {failed, waiting}
    assert outbox.requeue([failed]) == []                     # being sent now: left to its sender
    assert outbox.requeue(None) == []


def test_confirmations_is_a_yes_or_no_and_off_by_default():
    assert notify.parse_settings({"smtp_server": "smtp.example.org"}, {}).confirmations is False
    assert notify.parse_settings({"smtp_server": "x", "confirmations": "yes"}, {}).confirmations is True
    with pytest.raises(notify.NotifyConfigError, match="confirmations must be true or false"):
        notify.parse_settings({"smtp_server": "x", "confirmations": "sometimes"}, {})

"""Mail to organizers (issue 5): a real server (two gunicorn workers) and a real SMTP
server on loopback (aiosmtpd).  Approved, declined, cancelled by someone else, cleared
by /api/clear-bookings, the reason in the mail, SMTP down then up, a restart with a mail
pending, room templates through the CLI.  The outbox and the settings are also checked
on their own, without a server.
"""

import datetime
import os
import subprocess
import time
import uuid

import pytest

from conftest import assert_no_500, event
from support.smtp import body, mailing_server
from support.databases import database  # noqa: F401 (a fixture: the test runs on both databases)
from roomcal.storage import notify
from roomcal.storage.outbox import Outbox

ADMIN, MGR, ALICE, BOB = "nt-admin", "nt-mgr", "nt-alice", "nt-bob"
ALICE_MAIL, BOB_MAIL = "alice@example.org", "bob@example.org"
BCC = "audit@example.org"


@pytest.fixture(scope="module")
def srv(make_server, smtp):
    server = mailing_server(make_server, smtp,
                            ("roomcal_outbox_retry_min = 30", "roomcal_outbox_retry_min = 0.2"),
                            ("roomcal_outbox_retry_max = 3600", "roomcal_outbox_retry_max = 1"),
                            workers=2, notify_lines=f"sender_name = Room booking\nbcc = {BCC}\n")
    server.add_user(ADMIN, admin=True)
    server.add_user(MGR, email="mgr@example.org")
    server.add_user(ALICE, email=ALICE_MAIL)
    server.add_user(BOB, email=BOB_MAIL)
    yield server
    assert_no_500(server)


def when(days, hour, minute=0) -> str:
    moment = datetime.datetime.now(datetime.timezone.utc).replace(hour=hour, minute=minute, second=0,
                                                                  microsecond=0)
    return (moment + datetime.timedelta(days=days)).strftime("%Y%m%dT%H%M%SZ")


def room(srv, *options) -> str:
    room_id = f"nt{uuid.uuid4().hex[:8]}"
    srv.add_room(room_id, "--managers", MGR, *options, name=f"Room {room_id}")
    return room_id


def put(srv, room_id, uid, user, days, extra="", expect=201):
    response = srv.put_ics(f"/rooms/{room_id}/{uid}.ics",
                           event(when(days, 9), when(days, 10), uid=uid, summary=f"Meeting {uid}",
                                 extra=extra), user=user)
    assert response.status_code == expect, response.text
    return response


def decided(mail) -> bool:
    """Not the mails of the approval loop (pending to the managers, received to the booker)."""
    return mail["X-Roomcal-Event"] not in ("pending", "received")


def stored_status(srv, room_id, uid, user=MGR) -> str:
    text = srv.request("GET", f"/rooms/{room_id}/{uid}.ics", user=user).text
    return next((line.split(":", 1)[1].strip() for line in text.splitlines()
                 if line.startswith("STATUS:")), "")


# -- approved, declined, cancelled ------------------------------------------------------------
def test_approved_by_a_manager_mails_the_booker(srv, smtp):
    room_id = room(srv, "--approval")
    uid = f"appr-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, ALICE, 3)
    assert stored_status(srv, room_id, uid) == "TENTATIVE"
    # The manager approves with a CalDAV PUT changing STATUS (a calendar app's way).
    put(srv, room_id, uid, MGR, 3, extra="STATUS:CONFIRMED", expect=204)
    mail, = smtp.wait_for(lambda m: uid in m["Subject"] and decided(m))
    assert mail["To"] == ALICE_MAIL
    assert mail["From"] == "Room booking <rooms@example.org>"
    assert mail["Subject"].startswith("Approved: Meeting " + uid)
    assert "has been approved" in body(mail) and f"Room {room_id}" in body(mail)
    recipients = next(r for r, m in smtp.messages if m is mail)
    assert sorted(recipients) == sorted([ALICE_MAIL, BCC]) and "Bcc" not in mail
    # the booking verb of the API mails the same way
    other = f"appr2-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, other, BOB, 4)
    response = srv.request("POST", f"/api/rooms/{room_id}/bookings/{other}/approve", user=MGR, json={})
    assert response.status_code == 200, response.text
    mail, = smtp.wait_for(lambda m: other in m["Subject"] and decided(m))
    assert mail["To"] == BOB_MAIL and mail["Subject"].startswith("Approved")


def test_declined_mails_the_organizer_with_the_reason(srv, smtp):
    room_id = room(srv, "--approval")
    uid = f"decl-{uuid.uuid4().hex[:6]}"
    # ORGANIZER comes before the booker's own e-mail.
    put(srv, room_id, uid, ALICE, 5, extra="ORGANIZER;CN=Team lead:mailto:lead@example.org")
    response = srv.request("POST", f"/api/rooms/{room_id}/bookings/{uid}/decline", user=MGR,
                           json={"reason": "The board needs the room that day"})
    assert response.status_code == 200, response.text
    assert stored_status(srv, room_id, uid) == "CANCELLED"
    mail, = smtp.wait_for(lambda m: uid in m["Subject"] and decided(m))
    assert mail["To"] == "lead@example.org"
    assert mail["Subject"].startswith("Declined: ")
    assert "has been declined" in body(mail)
    assert "Reason: The board needs the room that day" in body(mail)
    # A manager's CalDAV client declines by storing STATUS:CANCELLED: the same mail, no reason.
    by_caldav = f"decl2-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, by_caldav, ALICE, 9)
    put(srv, room_id, by_caldav, MGR, 9, extra="STATUS:CANCELLED", expect=204)
    mail, = smtp.wait_for(lambda m: by_caldav in m["Subject"] and decided(m))
    assert mail["To"] == ALICE_MAIL and mail["Subject"].startswith("Declined: ")


def test_cancelled_by_someone_else_but_not_by_yourself(srv, smtp):
    room_id = room(srv)
    own, deleted, cancelled = (f"{name}-{uuid.uuid4().hex[:6]}" for name in ("own", "del", "can"))
    put(srv, room_id, own, ALICE, 6)
    put(srv, room_id, deleted, ALICE, 7)
    put(srv, room_id, cancelled, BOB, 8)
    assert srv.request("DELETE", f"/rooms/{room_id}/{own}.ics", user=ALICE).status_code == 200
    assert srv.request("DELETE", f"/rooms/{room_id}/{deleted}.ics", user=MGR).status_code == 200
    mail, = smtp.wait_for(lambda m: deleted in m["Subject"])
    assert mail["To"] == ALICE_MAIL and mail["Subject"].startswith("Cancelled: ")
    assert f"has been deleted by {MGR}" in body(mail)
    response = srv.request("POST", f"/api/rooms/{room_id}/bookings/{cancelled}/cancel", user=MGR,
                           json={"reason": "Fire drill"})
    assert response.status_code == 200, response.text
    mail, = smtp.wait_for(lambda m: cancelled in m["Subject"])
    assert mail["To"] == BOB_MAIL and "has been cancelled" in body(mail)
    assert "Reason: Fire drill" in body(mail)
    # Mails go out in order: the booker's own deletion would have come before these.
    assert smtp.about(own) == []
    # Deleting a booking that was already cancelled mails nobody again.
    assert srv.request("DELETE", f"/rooms/{room_id}/{cancelled}.ics", user=MGR).status_code == 200
    marker = f"mark-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, marker, ALICE, 9)
    assert srv.request("DELETE", f"/rooms/{room_id}/{marker}.ics", user=MGR).status_code == 200
    smtp.wait_for(lambda m: marker in m["Subject"])
    assert len(smtp.about(cancelled)) == 1


# -- clear-bookings ---------------------------------------------------------------------------
def vevent(uid, summary, start, end, created, extra=()):
    return ["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20250101T000000Z", f"DTSTART:{start}",
            f"DTEND:{end}", f"SUMMARY:{summary}", f"CREATED:{created}", *extra, "END:VEVENT"]


def test_cleared_bookings_mail_their_organizers(srv, smtp):
    room_id = room(srv)
    tag = uuid.uuid4().hex[:6]
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//legacy//EN"]
    lines += vevent(f"fin-{tag}", "Finance Monthly", when(10, 10), when(10, 12), "20250114T073320Z",
                    ["ORGANIZER:mailto:head-of-finance@example.org"])
    lines += vevent(f"fund-{tag}", "Fundraising Weekly", when(10, 11), when(10, 13), "20250709T131119Z",
                    ["ORGANIZER:mailto:head-of-fundraising@example.org"])
    lines += vevent(f"council-{tag}", "Workers Council", when(20, 14), when(20, 15), "20250210T113339Z",
                    ["RRULE:FREQ=WEEKLY;COUNT=2"])
    lines += vevent(f"interviews-{tag}", "Job Interviews", when(20, 14), when(20, 15), "20250630T100414Z",
                    ["RRULE:FREQ=DAILY;COUNT=3", "ORGANIZER:mailto:head-of-hr@example.org"])
    calendar = "\r\n".join(lines + ["END:VCALENDAR"]) + "\r\n"
    assert "imported 4" in srv.cli("import", room_id, "-", "--allow-conflicts", input=calendar).stdout

    test = srv.request("DELETE", f"/api/clear-bookings?calendar={room_id}&test=1", user=MGR)
    assert test.status_code == 200 and test.json()["test_mode"] is True
    assert len(test.json()["deleted_overlapping_events"]) == 1
    answer = srv.request("DELETE", f"/api/clear-bookings?calendar={room_id}", user=MGR)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["cancelled_overlapping_recurring_events"]) == 1

    single, = smtp.wait_for(lambda m: f"Fundraising Weekly in Room {room_id}" in m["Subject"])
    assert single["To"] == "head-of-fundraising@example.org"
    assert single["Subject"].startswith("Removed: ")
    text = body(single)
    assert "overlapping “Finance Monthly”" in text and "head-of-finance@example.org" in text
    assert "Reason: it overlaps with “Finance Monthly”, which was booked earlier" in text
    series, = smtp.wait_for(lambda m: f"Job Interviews in Room {room_id}" in m["Subject"])
    assert series["To"] == "head-of-hr@example.org"
    assert "1 occurrence(s) of your recurring booking" in body(series)
    assert "Workers Council" in body(series)
    # Test mode sent nothing: one mail each.
    assert len([m for _, m in smtp.messages if "Fundraising Weekly" in m["Subject"]
                and room_id in m["Subject"]]) == 1


def test_bookings_removed_by_a_period_replace_mail_their_organizers(srv, smtp):
    room_id = room(srv)
    gone, own = (f"{name}-{uuid.uuid4().hex[:6]}" for name in ("gone", "own"))
    put(srv, room_id, gone, ALICE, 11)
    put(srv, room_id, own, MGR, 12)
    day = datetime.datetime.strptime(when(11, 0), "%Y%m%dT%H%M%SZ")
    period = {"start": day.isoformat(), "end": (day + datetime.timedelta(days=2)).isoformat()}
    answer = srv.request("POST", f"/api/rooms/{room_id}/bookings/replace", user=MGR,
                         json={"period": period, "bookings": []})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["removed"]) == 2
    mail, = smtp.wait_for(lambda m: gone in m["Subject"])
    assert mail["To"] == ALICE_MAIL and mail["Subject"].startswith("Cancelled: ")
    assert f"has been deleted by {MGR}" in body(mail)
    time.sleep(1)   # the manager's own booking: nobody to tell
    assert smtp.about(own) == []


# -- templates ----------------------------------------------------------------------------------
TEMPLATE = """\
[{{ event_kind }}] {{ event_name }} @ {{ calendar_name }}

Dear {{ event_organizer }},
{{ event_name }} from {{ event_start|datetime('%d.%m.%Y %H:%M') }} to {{ event_end.strftime('%H:%M') }}
deleted={{ event_is_deleted }} cancelled={{ event_is_cancelled }} recurring={{ event_is_recurring }}
created={{ event_created is not none }}
{% if overlap_event_name %}overlaps {{ overlap_event_name }} {{ overlap_event_start }} {{ overlap_event_end }} {{ overlap_event_created }} {{ overlap_event_organizer }}{% endif %}
reason={{ reason }}
"""


def test_room_template_set_show_and_used(srv, smtp, tmp_path):
    room_id = room(srv)
    path = tmp_path / "template.txt"
    path.write_text(TEMPLATE)
    assert "set the mail template" in srv.cli("template", "set", room_id, str(path)).stdout
    shown = srv.cli("template", "show", room_id)
    assert shown.stdout == TEMPLATE and shown.stderr == ""
    default = srv.cli("template", "show", room(srv))
    assert "Approved" in default.stdout and "no mail template of its own" in default.stderr

    uid = f"tpl-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, ALICE, 11)
    assert srv.request("DELETE", f"/rooms/{room_id}/{uid}.ics", user=MGR).status_code == 200
    mail, = smtp.wait_for(lambda m: m["Subject"] == f"[cancelled] Meeting {uid} @ Room {room_id}")
    text = body(mail)
    assert f"Dear {ALICE_MAIL}," in text
    assert "deleted=True cancelled=False recurring=False" in text and "created=True" in text
    assert "overlaps" not in text


def test_templates_through_the_admin_api(srv, smtp):
    room_id = room(srv)
    url = f"/api/admin/rooms/{room_id}/template"
    shown = srv.request("GET", url, user=ADMIN).json()
    assert shown["whose"] == "built-in" and shown["room"] == room_id and "{{" in shown["text"]
    # Admins only; a read-only token reads but does not write.
    assert srv.request("GET", url, user=MGR).status_code == 403
    assert srv.request("PUT", url, user=MGR, data="x\n\ny").status_code == 403
    reader = srv.token(ADMIN, "--read-only")
    assert srv.request("GET", url, token=reader).status_code == 200
    assert srv.request("PUT", url, token=reader, data="x\n\ny",
                       headers={"Content-Type": "text/plain"}).status_code == 403
    # The file format as text/plain, as `roomcal template set` takes it.
    answer = srv.request("PUT", url, user=ADMIN, data=TEMPLATE.encode(), headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["whose"] == "room" and answer.json()["text"] == TEMPLATE
    assert srv.cli("template", "show", room_id).stdout == TEMPLATE
    # A broken one is refused with the reason, and the old one stays.
    broken = srv.request("PUT", url, user=ADMIN, json={"subject": "Hi {{ event_name }", "body": "b"})
    assert broken.status_code == 422 and broken.json()["properties"] == ["text"]
    assert "not a valid Jinja2 template" in broken.json()["message"]
    assert srv.request("GET", url, user=ADMIN).json()["text"] == TEMPLATE
    # It is the one mails use.
    uid = f"tpa-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, ALICE, 13)
    assert srv.request("DELETE", f"/rooms/{room_id}/{uid}.ics", user=MGR).status_code == 200
    smtp.wait_for(lambda m: m["Subject"] == f"[cancelled] Meeting {uid} @ Room {room_id}")
    # JSON with subject and body; the default template; removal.
    default = srv.request("PUT", "/api/admin/templates/default", user=ADMIN,
                          json={"subject": "Default {{ event_kind }}", "body": "Hello"})
    assert default.status_code == 200 and default.json()["whose"] == "default"
    assert srv.request("DELETE", url, user=ADMIN).status_code == 204
    assert srv.request("DELETE", url, user=ADMIN).status_code == 404
    assert srv.request("GET", url, user=ADMIN).json()["subject"] == "Default {{ event_kind }}"
    assert srv.request("DELETE", "/api/admin/templates/default", user=ADMIN).status_code == 204
    assert srv.request("GET", url, user=ADMIN).json()["whose"] == "built-in"
    assert srv.request("GET", "/api/admin/rooms/nt-nowhere/template", user=ADMIN).status_code == 404
    assert srv.request("PUT", url, user=ADMIN, data=b"x", headers={"Content-Type": "image/png"}).status_code == 415


def test_a_template_broken_behind_our_back_falls_back_to_the_built_in_one(srv, smtp):
    room_id = room(srv)
    folder = os.path.join(srv.dir, "data", "templates", "rooms")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"{room_id}.txt"), "w") as f:
        f.write("{{ no_such_variable }}\n\nbody\n")   # not through `template set`
    uid = f"fallback-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, ALICE, 14)
    assert srv.request("DELETE", f"/rooms/{room_id}/{uid}.ics", user=MGR).status_code == 200
    mail, = smtp.wait_for(lambda m: uid in m["Subject"])
    assert mail["Subject"].startswith("Cancelled: ")


@pytest.mark.parametrize("template, error", [
    ("Hi {{ event_name }\n\nbody\n", "the subject is not a valid Jinja2 template"),
    ("Subject\n\nline\n{% for x in %}\n", "the body is not a valid Jinja2 template (line 4)"),
    ("Subject\n\n{{ no_such_variable }}\n", "'no_such_variable' is undefined"),
    ("Subject\n\n{{ overlap_event_start.strftime('%H') }}\n", "does not render for an approved booking"),
    ("Subject {{ ''.__class__ }}\n\nbody\n", "unsafe"),
    ("Subject only\n", "the body is empty"),
])
def test_broken_templates_are_refused_when_set(srv, tmp_path, template, error):
    room_id = room(srv)
    path = tmp_path / "broken.txt"
    path.write_text(template)
    result = srv.cli("template", "set", room_id, str(path), check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and error in result.stderr, result.stderr
    assert "no mail template of its own" in srv.cli("template", "show", room_id).stderr


# -- SMTP down, restarts ------------------------------------------------------------------------
def test_smtp_down_then_up(srv, smtp):
    room_id = room(srv)
    uid = f"down-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, ALICE, 12)
    smtp.stop()
    try:
        started = time.time()
        response = srv.request("DELETE", f"/rooms/{room_id}/{uid}.ics", user=MGR)
        assert response.status_code == 200 and time.time() - started < 5
        time.sleep(1.0)  # a few failed attempts
        assert srv.request("GET", f"/rooms/{room_id}/{uid}.ics", user=MGR).status_code == 404
    finally:
        smtp.start()
    mail, = smtp.wait_for(lambda m: uid in m["Subject"])
    assert mail["To"] == ALICE_MAIL
    pending = srv.cli("outbox", "list", "--state", "pending").stdout
    assert uid not in pending


def test_a_pending_mail_survives_a_restart_and_goes_once(srv, smtp):
    room_id = room(srv)
    uid = f"restart-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, BOB, 13)
    smtp.stop()
    try:
        assert srv.request("DELETE", f"/rooms/{room_id}/{uid}.ics", user=MGR).status_code == 200
        time.sleep(0.5)
        srv.stop()
        assert "pending" in srv.cli("outbox", "list", "--state", "pending").stdout
        srv.start()
        time.sleep(0.5)
    finally:
        smtp.start()
    smtp.wait_for(lambda m: uid in m["Subject"])
    time.sleep(1.5)  # both workers had their chance
    assert len([m for _, m in smtp.messages if uid in m["Subject"]]) == 1


def test_a_mail_held_by_a_killed_sender_goes_out_when_a_sender_starts(srv, smtp):
    """kill -9 leaves the mail being sent claimed; the next sender on this machine sees that its
    process is gone and takes it, instead of waiting for the lease (300 s here) to run out."""
    room_id = room(srv)
    uid = f"orphan-{uuid.uuid4().hex[:6]}"
    put(srv, room_id, uid, BOB, 14)
    smtp.stop()
    try:
        assert srv.request("DELETE", f"/rooms/{room_id}/{uid}.ics", user=MGR).status_code == 200
        srv.stop()
        dead = subprocess.Popen(["true"])
        dead.wait()   # a pid that was a process and is gone
        outbox = srv.outbox()
        held = outbox.claim(f"{dead.pid}-killed", lease=300, now=time.time() + 3600)   # whenever due
        assert held is not None and uid in held.subject
        srv.start()
    finally:
        smtp.start()
    smtp.wait_for(lambda m: uid in m["Subject"], timeout=20)


def test_a_line_break_never_reaches_a_mail_header(srv, smtp):
    """A recipient or subject with a line break (an address stored before addresses were
    checked, a row written by hand) would end the header block or add a "Bcc:": such a
    mail fails for good at once, nothing of it goes out, and the next mail does."""
    outbox = srv.outbox()
    tag = uuid.uuid4().hex[:6]
    bad = [outbox.add(f"{ALICE_MAIL}\nBcc: eve@example.org", f"Injected {tag}", "body", kind="cancelled"),
           outbox.add(ALICE_MAIL, f"Split {tag}\r\nBcc: eve@example.org", "body", kind="cancelled")]
    outbox.add(ALICE_MAIL, f"Fine {tag}", "body", kind="cancelled")
    smtp.wait_for(lambda m: m["Subject"] == f"Fine {tag}")
    deadline = time.time() + 10
    while time.time() < deadline and {m["state"] for m in outbox.list() if m["id"] in bad} != {"failed"}:
        time.sleep(0.05)
    failed = [m for m in outbox.list() if m["id"] in bad]
    assert [m["state"] for m in failed] == ["failed", "failed"] and all(m["attempts"] <= 1 for m in failed)
    assert all("line break" in m["last_error"] for m in failed), failed
    assert not [m for rcpts, m in smtp.messages if "eve@example.org" in rcpts or tag in m["Subject"]
                and "Fine" not in m["Subject"]]


# -- without a server -----------------------------------------------------------------------------
def test_outbox_claims_are_exclusive_and_expire(tmp_path, database):
    outbox = Outbox(str(tmp_path / "outbox.sqlite"), database)
    mail_id = outbox.add("a@example.org", "S", "B", kind="cancelled")
    now = time.time()
    claimed = outbox.claim("one", lease=60, now=now)
    assert claimed.id == mail_id
    assert outbox.claim("two", lease=60, now=now) is None          # held by "one"
    again = outbox.claim("two", lease=60, now=now + 61)             # "one" died: lease over
    assert again.id == mail_id
    outbox.done(mail_id, "one")                                    # too late for "one"
    assert outbox.list("pending")
    outbox.retry(mail_id, "two", "down", delay=10)
    assert outbox.claim("two", lease=60, now=time.time()) is None  # backoff
    outbox.done(outbox.claim("two", lease=60, now=time.time() + 11).id, "two")
    assert [m["state"] for m in outbox.list()] == ["sent"]


def test_settings_from_the_environment_override_the_file():
    values = {"smtp_server": "file.example.org", "smtp_security": "none", "from_email": "f@example.org"}
    assert notify.parse_settings(values, {}).smtp_port == 25
    settings = notify.parse_settings(values, {"SMTP_SERVER": "env.example.org", "SMTP_STARTTLS": "true",
                                              "SMTP_EMAIL": "e@example.org", "SMTP_PASSWORD": "pw",
                                              "SMTP_BCC": "x@example.org, y@example.org"})
    assert (settings.server, settings.security, settings.smtp_port) == ("env.example.org", "starttls", 587)
    assert settings.login == "e@example.org" and settings.bcc == ("x@example.org", "y@example.org")
    assert notify.parse_settings(values, {"SMTP_STARTTLS": "False"}).smtp_port == 465
    assert not notify.parse_settings({}, {}).enabled
    with pytest.raises(notify.NotifyConfigError):
        notify.parse_settings({"smtp_security": "tls"}, {})

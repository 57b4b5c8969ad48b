"""People invited to meetings (RFC 6638 implicit scheduling, RFC 6047 iMIP), through the real server.

A local user (an address of ``user add --email``) finds the invitation in their own
calendar with PARTSTAT=NEEDS-ACTION; their answer (their PARTSTAT, or deleting their
copy) reaches the organizer's copy.  Anyone else gets iMIP mail (REQUEST, CANCEL) from
the outbox, sent by the server's sender thread to a real SMTP server on loopback.
"""

import time
import uuid
import xml.etree.ElementTree as ET

import icalendar
import pytest

from conftest import assert_no_500, new_room
from support.smtp import calendar_part, mailing_server

MONDAY = "20271206"   # a Monday
DAV = "{DAV:}"
ANN, BOB, CAROL, NOBODY = "dl-ann", "dl-bob", "dl-carol", "dl-nobody"
SYNC = ('<?xml version="1.0" encoding="UTF-8"?><sync-collection xmlns="DAV:"><sync-token>{token}</sync-token>'
        '<sync-level>1</sync-level><prop><getetag/></prop></sync-collection>')


def _users(server):
    server.add_user(ANN, email="ann@example.org")
    server.add_user(BOB, email="bob@example.org")
    server.add_user(CAROL, email="carol@example.org")
    server.add_user(NOBODY, email="nobody@example.org")   # no calendar at all
    for name in (ANN, BOB, CAROL):
        assert server.request("MKCALENDAR", f"/{name}/calendar/", user=name).status_code == 201


@pytest.fixture(scope="module")
def srv(make_server, smtp):
    server = mailing_server(make_server, smtp, ("roomcal_outbox_retry_min = 30", "roomcal_outbox_retry_min = 0.2"))
    _users(server)
    yield server
    assert_no_500(server)


@pytest.fixture(scope="module")
def quiet(make_server):
    """A server without mail."""
    server = make_server()
    _users(server)
    yield server
    assert_no_500(server)


def meeting(uid, start, end, *attendees, organizer="ann@example.org", extra="", summary="Planning"):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//roomcal tests//EN", "BEGIN:VEVENT",
             f"UID:{uid}", "DTSTAMP:20261201T000000Z", f"DTSTART:{start}", f"DTEND:{end}",
             f"SUMMARY:{summary}", f"ORGANIZER;CN=Ann:mailto:{organizer}",
             f"ATTENDEE;CN=Ann;PARTSTAT=ACCEPTED;ROLE=CHAIR:mailto:{organizer}"]
    for attendee in attendees:
        lines.append(attendee if attendee.startswith("ATTENDEE") else
                     f"ATTENDEE;PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:{attendee}")
    lines += [line for line in extra.strip().splitlines() if line.strip()]
    lines += ["BEGIN:VALARM", "ACTION:DISPLAY", "DESCRIPTION:Ann's reminder", "TRIGGER:-PT15M", "END:VALARM",
              "END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def put(server, user, uid, body, expect=(201, 204)):
    answer = server.put_ics(f"/{user}/calendar/{uid}.ics", body, user=user)
    assert answer.status_code in expect, answer.text
    return answer


def get(server, user, uid):
    answer = server.request("GET", f"/{user}/calendar/{uid}.ics", user=user)
    assert answer.status_code == 200, answer.text
    return icalendar.Calendar.from_ical(answer.text)


def attendee(calendar, address):
    """(PARTSTAT, SCHEDULE-STATUS) of ``address`` in the master VEVENT."""
    event = next(e for e in calendar.walk("VEVENT") if "RECURRENCE-ID" not in e)
    lines = event.get("ATTENDEE")
    for line in lines if isinstance(lines, list) else [lines]:
        if str(line).lower() == f"mailto:{address}":
            return str(line.params.get("PARTSTAT")), line.params.get("SCHEDULE-STATUS")
    raise AssertionError(f"{address} is not an attendee")


def answered(calendar, address, partstat) -> str:
    """The calendar's text with ``address``'s PARTSTAT set in every VEVENT."""
    for event in calendar.walk("VEVENT"):
        lines = event.get("ATTENDEE")
        for line in lines if isinstance(lines, list) else [lines]:
            if str(line).lower() == f"mailto:{address}":
                line.params["PARTSTAT"] = partstat
    return calendar.to_ical().decode()


def master(calendar):
    return next(e for e in calendar.walk("VEVENT") if "RECURRENCE-ID" not in e)


def sync(server, user, token=""):
    answer = server.request("REPORT", f"/{user}/calendar/", user=user, data=SYNC.format(token=token).encode(),
                            headers={"Depth": "1", "Content-Type": "text/xml; charset=utf-8"})
    assert answer.status_code == 207, answer.text
    root = ET.fromstring(answer.content)
    hrefs = [r.findtext(f"{DAV}href") for r in root.findall(f"{DAV}response")]
    return root.findtext(f"{DAV}sync-token"), hrefs


# -- local users -----------------------------------------------------------------------------------------
def test_a_local_attendee_is_invited_answers_and_the_organizer_sees_it(srv):
    uid = str(uuid.uuid4())
    token, _ = sync(srv, BOB)
    answer = put(srv, ANN, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", "bob@example.org"))
    assert answer.status_code == 201 and "ETag" not in answer.headers   # stamped: clients refetch
    assert attendee(get(srv, ANN, uid), "bob@example.org") == ("NEEDS-ACTION", "1.2")
    # bob's calendar has it, and his clients learn it by sync-collection
    _, changed = sync(srv, BOB, token)
    assert [h for h in changed if uid in h] == [f"/{BOB}/calendar/{uid}.ics"]
    copy = get(srv, BOB, uid)
    assert attendee(copy, "bob@example.org") == ("NEEDS-ACTION", None)
    assert str(master(copy)["ORGANIZER"]).lower() == "mailto:ann@example.org"
    assert not copy.walk("VALARM")   # Ann's reminder is hers
    # bob accepts
    text = answered(get(srv, BOB, uid), "bob@example.org", "ACCEPTED")
    assert put(srv, BOB, uid, text).status_code == 204
    assert attendee(get(srv, ANN, uid), "bob@example.org") == ("ACCEPTED", "2.0")
    assert attendee(get(srv, BOB, uid), "bob@example.org")[0] == "ACCEPTED"


def test_moving_the_meeting_moves_the_copy_and_asks_again(srv):
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", "bob@example.org", "carol@example.org"))
    text = answered(get(srv, BOB, uid), "bob@example.org", "ACCEPTED")
    put(srv, BOB, uid, text)
    # the organizer re-PUTs without a change of time (her client did not refetch): bob's answer stays
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", "bob@example.org",
                               "carol@example.org", summary="Planning with agenda"))
    assert attendee(get(srv, ANN, uid), "bob@example.org") == ("ACCEPTED", "1.2")
    assert str(master(get(srv, BOB, uid))["SUMMARY"]) == "Planning with agenda"
    assert attendee(get(srv, BOB, uid), "bob@example.org")[0] == "ACCEPTED"
    # moved: bob's copy moves, and he is asked again
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T140000Z", f"{MONDAY}T150000Z", "bob@example.org", "carol@example.org"))
    copy = get(srv, BOB, uid)
    assert master(copy)["DTSTART"].dt.hour == 14
    assert attendee(copy, "bob@example.org")[0] == "NEEDS-ACTION"
    assert attendee(get(srv, ANN, uid), "bob@example.org") == ("NEEDS-ACTION", "1.2")


def test_deleting_the_meeting_cancels_the_copies(srv):
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T110000Z", f"{MONDAY}T120000Z", "bob@example.org"))
    assert srv.request("DELETE", f"/{ANN}/calendar/{uid}.ics", user=ANN).status_code in (200, 204)
    assert str(master(get(srv, BOB, uid))["STATUS"]) == "CANCELLED"
    # bob clears it away: nothing goes back (there is no meeting to decline)
    assert srv.request("DELETE", f"/{BOB}/calendar/{uid}.ics", user=BOB).status_code in (200, 204)


def test_taking_an_attendee_off_cancels_their_copy_only(srv):
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T110000Z", f"{MONDAY}T120000Z", "bob@example.org", "carol@example.org"))
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T110000Z", f"{MONDAY}T120000Z", "carol@example.org"))
    assert str(master(get(srv, BOB, uid))["STATUS"]) == "CANCELLED"
    assert "STATUS" not in master(get(srv, CAROL, uid))
    # invited again: a new question
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T110000Z", f"{MONDAY}T120000Z", "bob@example.org", "carol@example.org"))
    copy = get(srv, BOB, uid)
    assert "STATUS" not in master(copy) and attendee(copy, "bob@example.org")[0] == "NEEDS-ACTION"


def test_an_attendee_deleting_their_copy_declines(srv):
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T130000Z", f"{MONDAY}T140000Z", "bob@example.org"))
    assert srv.request("DELETE", f"/{BOB}/calendar/{uid}.ics", user=BOB).status_code in (200, 204)
    assert attendee(get(srv, ANN, uid), "bob@example.org") == ("DECLINED", "2.0")
    # the organizer's next write (her client still says NEEDS-ACTION) does not bring it back
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T130000Z", f"{MONDAY}T140000Z", "bob@example.org",
                               summary="Planning again"))
    assert srv.request("GET", f"/{BOB}/calendar/{uid}.ics", user=BOB).status_code == 404
    assert attendee(get(srv, ANN, uid), "bob@example.org")[0] == "DECLINED"
    # moved: asked again
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T150000Z", f"{MONDAY}T160000Z", "bob@example.org"))
    assert attendee(get(srv, BOB, uid), "bob@example.org")[0] == "NEEDS-ACTION"
    assert attendee(get(srv, ANN, uid), "bob@example.org") == ("NEEDS-ACTION", "1.2")


def test_an_attendee_cannot_change_the_meeting_for_the_organizer(srv):
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T130000Z", f"{MONDAY}T140000Z", "bob@example.org"))
    text = answered(get(srv, BOB, uid), "bob@example.org", "TENTATIVE").replace("SUMMARY:Planning",
                                                                              "SUMMARY:Bob's party")
    put(srv, BOB, uid, text)
    organizer = get(srv, ANN, uid)
    assert str(master(organizer)["SUMMARY"]) == "Planning"
    assert attendee(organizer, "bob@example.org")[0] == "TENTATIVE"


def test_a_series_answer_per_occurrence(srv):
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T080000Z", f"{MONDAY}T083000Z", "bob@example.org",
                               extra="RRULE:FREQ=WEEKLY;COUNT=3"))
    copy = get(srv, BOB, uid)
    assert "RRULE" in master(copy)
    # bob accepts the series and declines the second week (an override in his copy)
    accepted = answered(copy, "bob@example.org", "ACCEPTED")
    calendar = icalendar.Calendar.from_ical(accepted)
    week2 = icalendar.Event.from_ical(master(calendar).to_ical())
    for name in ("RRULE", "DTSTART", "DTEND"):
        week2.pop(name)
    week2.add("RECURRENCE-ID", master(calendar)["DTSTART"].dt.replace(day=13))
    week2.add("DTSTART", master(calendar)["DTSTART"].dt.replace(day=13))
    week2.add("DTEND", master(calendar)["DTEND"].dt.replace(day=13))
    week2["ATTENDEE"] = [a for a in week2["ATTENDEE"]]
    for line in week2["ATTENDEE"]:
        if str(line).lower() == "mailto:bob@example.org":
            line.params["PARTSTAT"] = "DECLINED"
    calendar.add_component(week2)
    put(srv, BOB, uid, calendar.to_ical().decode())
    organizer = get(srv, ANN, uid)
    assert attendee(organizer, "bob@example.org")[0] == "ACCEPTED"   # the organizer has no override: master only
    assert len(organizer.walk("VEVENT")) == 1


def test_a_local_user_without_a_calendar_gets_one_with_the_invitation(srv):
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T150000Z", f"{MONDAY}T160000Z", "nobody@example.org"))
    assert attendee(get(srv, ANN, uid), "nobody@example.org") == ("NEEDS-ACTION", "1.2")
    copy = srv.request("GET", f"/{NOBODY}/calendar/{uid}.ics", user=NOBODY)
    assert copy.status_code == 200 and "NEEDS-ACTION" in copy.text


# -- iMIP --------------------------------------------------------------------------------------------------
def test_an_external_attendee_gets_one_request_then_a_cancel(srv, smtp):
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", "dave@elsewhere.example",
                               "bob@example.org", extra="LOCATION:Atrium"))
    assert attendee(get(srv, ANN, uid), "dave@elsewhere.example") == ("NEEDS-ACTION", "1.1")
    mail, = smtp.wait_for_invitations(uid, "REQUEST")
    assert mail["To"] == "dave@elsewhere.example" and mail["Reply-To"] == "ann@example.org"
    assert mail["From"] == "rooms@example.org" and "Planning" in mail["Subject"]
    part = next(p for p in mail.walk() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == "REQUEST"
    assert any(p.get_filename() == "invite.ics" for p in mail.walk())
    invitation = icalendar.Calendar.from_ical(calendar_part(mail))
    assert str(invitation["METHOD"]) == "REQUEST"
    event = master(invitation)
    assert str(event["UID"]) == uid and str(event["LOCATION"]) == "Atrium"
    assert str(event["ORGANIZER"]).lower() == "mailto:ann@example.org"
    assert not invitation.walk("VALARM")
    # the organizer's client writes the answers back (and an unchanged meeting): no second mail
    put(srv, ANN, uid, answered(get(srv, ANN, uid), "dave@elsewhere.example", "ACCEPTED"))
    time.sleep(1.0)
    assert len(smtp.invitations(uid, "REQUEST")) == 1
    assert attendee(get(srv, ANN, uid), "dave@elsewhere.example") == ("ACCEPTED", "1.1")
    # moved: an update
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T100000Z", f"{MONDAY}T110000Z", "dave@elsewhere.example",
                               "bob@example.org"))
    updated = smtp.wait_for_invitations(uid, "REQUEST", count=2)[-1]
    assert updated["Subject"].startswith("Updated invitation")
    # taken off: a CANCEL
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T100000Z", f"{MONDAY}T110000Z", "bob@example.org"))
    cancel, = smtp.wait_for_invitations(uid, "CANCEL")
    assert cancel["To"] == "dave@elsewhere.example"
    assert str(master(icalendar.Calendar.from_ical(calendar_part(cancel)))["STATUS"]) == "CANCELLED"


def test_deleting_the_meeting_mails_a_cancel(srv, smtp):
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", "erin@elsewhere.example"))
    smtp.wait_for_invitations(uid, "REQUEST")
    assert srv.request("DELETE", f"/{ANN}/calendar/{uid}.ics", user=ANN).status_code in (200, 204)
    cancel, = smtp.wait_for_invitations(uid, "CANCEL")
    assert cancel["To"] == "erin@elsewhere.example"


def test_schedule_agent_client_rooms_and_bad_addresses_get_no_mail(srv, smtp):
    room = new_room(srv, "dl-room")
    uid = str(uuid.uuid4())
    put(srv, ANN, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z",
                               "ATTENDEE;SCHEDULE-AGENT=CLIENT;PARTSTAT=NEEDS-ACTION:mailto:frank@elsewhere.example",
                               "ATTENDEE;SCHEDULE-AGENT=CLIENT;PARTSTAT=NEEDS-ACTION:mailto:carol@example.org",
                               f"ATTENDEE;CUTYPE=ROOM;PARTSTAT=NEEDS-ACTION:mailto:{room}@rooms.localhost",
                               "ATTENDEE;PARTSTAT=NEEDS-ACTION:mailto:not an address",
                               "gina@elsewhere.example"))
    copy = get(srv, ANN, uid)
    assert attendee(copy, "frank@elsewhere.example") == ("NEEDS-ACTION", None)
    assert attendee(copy, f"{room}@rooms.localhost")[1] == "1.2"
    smtp.wait_for_invitations(uid, "REQUEST")   # gina's
    time.sleep(1.0)
    assert [m["To"] for m in smtp.invitations(uid)] == ["gina@elsewhere.example"]
    assert srv.request("GET", f"/{CAROL}/calendar/{uid}.ics", user=CAROL).status_code == 404
    # the invalid address: 3.7, never mailed
    event = master(copy)
    bad = next(a for a in event["ATTENDEE"] if "not an address" in str(a))
    assert bad.params.get("SCHEDULE-STATUS") == "3.7"


def test_a_reply_to_an_external_organizer_goes_by_mail(srv, smtp):
    uid = str(uuid.uuid4())
    invitation = meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", "bob@example.org",
                         organizer="henry@elsewhere.example")
    put(srv, BOB, uid, invitation)   # bob's client stored an invitation that came by mail
    time.sleep(0.5)
    assert not smtp.invitations(uid)
    put(srv, BOB, uid, invitation.replace("PARTSTAT=NEEDS-ACTION;RSVP=TRUE:mailto:bob",
                                          "PARTSTAT=ACCEPTED;RSVP=TRUE:mailto:bob"))
    reply, = smtp.wait_for_invitations(uid, "REPLY")
    assert reply["To"] == "henry@elsewhere.example" and reply["Reply-To"] == "bob@example.org"
    answer = master(icalendar.Calendar.from_ical(calendar_part(reply)))
    assert str(answer["ATTENDEE"]).lower() == "mailto:bob@example.org"
    assert answer["ATTENDEE"].params["PARTSTAT"] == "ACCEPTED"
    assert srv.request("DELETE", f"/{BOB}/calendar/{uid}.ics", user=BOB).status_code in (200, 204)
    declined = smtp.wait_for_invitations(uid, "REPLY", count=2)[-1]
    assert master(icalendar.Calendar.from_ical(calendar_part(declined)))["ATTENDEE"].params["PARTSTAT"] == "DECLINED"


def test_without_mail_external_attendees_get_5_1_and_nothing_is_queued(quiet):
    uid = str(uuid.uuid4())
    put(quiet, ANN, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", "ivy@elsewhere.example",
                                 "bob@example.org"))
    copy = get(quiet, ANN, uid)
    assert attendee(copy, "ivy@elsewhere.example") == ("NEEDS-ACTION", "5.1")
    assert attendee(copy, "bob@example.org") == ("NEEDS-ACTION", "1.2")   # local delivery needs no mail
    listed = quiet.cli("outbox", "list").stdout
    assert uid not in listed and "ivy@" not in listed


def test_scheduling_disabled_delivers_nothing(make_server):
    server = make_server(start=False)
    server.configure(("[scheduling]\nenabled = true", "[scheduling]\nenabled = false"))
    server.start()
    _users(server)
    uid = str(uuid.uuid4())
    answer = put(server, ANN, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", "bob@example.org"))
    assert "ETag" in answer.headers
    assert server.request("GET", f"/{BOB}/calendar/{uid}.ics", user=BOB).status_code == 404


def test_the_organizers_unchanged_write_leaves_the_copies_alone(srv):
    uid = str(uuid.uuid4())
    body = meeting(uid, f"{MONDAY}T160000Z", f"{MONDAY}T170000Z", "bob@example.org", "carol@example.org")
    put(srv, ANN, uid, body)
    etag = srv.request("GET", f"/{BOB}/calendar/{uid}.ics", user=BOB).headers["ETag"]
    token, _ = sync(srv, BOB)
    put(srv, ANN, uid, get(srv, ANN, uid).to_ical().decode())   # as her client has it
    put(srv, ANN, uid, body)                                    # as she first wrote it
    assert srv.request("GET", f"/{BOB}/calendar/{uid}.ics", user=BOB).headers["ETag"] == etag
    assert sync(srv, BOB, token)[1] == []


def test_past_the_first_hundred_attendees_nobody_is_scheduled(quiet):
    uid = str(uuid.uuid4())
    many = [f"guest{n:03d}@elsewhere.example" for n in range(102)]
    put(quiet, ANN, uid, meeting(uid, f"{MONDAY}T090000Z", f"{MONDAY}T100000Z", *many))
    copy = get(quiet, ANN, uid)
    assert [attendee(copy, a)[1] for a in many] == ["5.1"] * 100 + ["5.3"] * 2


def test_an_outbox_file_from_before_gets_the_imip_columns(tmp_path):
    import sqlite3
    from roomcal.storage.outbox import SCHEMA, Outbox
    path = str(tmp_path / "outbox.sqlite")
    db = sqlite3.connect(path)   # the table as it was made before the iMIP columns
    db.executescript(SCHEMA)
    assert "calendar" not in {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
    db.execute("INSERT INTO outbox(created, recipient, subject, body, next_try) VALUES (0, 'a@b.c', 's', 'b', 0)")
    db.commit()
    db.close()
    outbox = Outbox(path)
    outbox.add("x@y.z", "Invitation", "text", calendar="BEGIN:VCALENDAR", method="REQUEST", reply_to="o@y.z")
    first, second = outbox.claim("me", 60), outbox.claim("me", 60)
    assert (first.recipient, first.calendar) == ("a@b.c", "")
    assert (second.calendar, second.method, second.reply_to) == ("BEGIN:VCALENDAR", "REQUEST", "o@y.z")


BERLIN = """BEGIN:VTIMEZONE
TZID:Europe/Berlin
BEGIN:STANDARD
DTSTART:19701025T030000
RRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU
TZOFFSETFROM:+0200
TZOFFSETTO:+0100
TZNAME:CET
END:STANDARD
BEGIN:DAYLIGHT
DTSTART:19700329T020000
RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU
TZOFFSETFROM:+0100
TZOFFSETTO:+0200
TZNAME:CEST
END:DAYLIGHT
END:VTIMEZONE"""


def test_a_series_in_a_time_zone_is_delivered_once(srv, smtp):
    uid = str(uuid.uuid4())
    body = meeting(uid, "X", "Y", "bob@example.org", "jack@elsewhere.example",
                   extra="RRULE:FREQ=WEEKLY;COUNT=5").replace(
        "DTSTART:X", f"DTSTART;TZID=Europe/Berlin:{MONDAY}T090000").replace(
        "DTEND:Y", f"DTEND;TZID=Europe/Berlin:{MONDAY}T100000").replace(
        "BEGIN:VEVENT", BERLIN.replace("\n", "\r\n") + "\r\nBEGIN:VEVENT", 1)
    put(srv, ANN, uid, body)
    copy = get(srv, BOB, uid)
    assert copy.walk("VTIMEZONE") and str(master(copy)["DTSTART"].params["TZID"]) == "Europe/Berlin"
    invitation = icalendar.Calendar.from_ical(calendar_part(smtp.wait_for_invitations(uid, "REQUEST")[0]))
    assert invitation.walk("VTIMEZONE") and "RRULE" in master(invitation)
    etag = srv.request("GET", f"/{BOB}/calendar/{uid}.ics", user=BOB).headers["ETag"]
    put(srv, ANN, uid, get(srv, ANN, uid).to_ical().decode())
    time.sleep(1.0)
    assert len(smtp.invitations(uid, "REQUEST")) == 1
    assert srv.request("GET", f"/{BOB}/calendar/{uid}.ics", user=BOB).headers["ETag"] == etag

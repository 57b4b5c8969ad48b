"""Free/busy through the schedule outbox (RFC 6638 §5): POST /<user>/.schedule-outbox/ with a
VFREEBUSY METHOD:REQUEST, as Thunderbird's invitation dialog sends it, over HTTP on a real server.

Rooms are in Europe/Berlin (summer: +02:00); 2027-06-07 is a Monday.  Periods in the answers
are UTC.
"""

import datetime
import uuid

import caldav
import icalendar
import pytest
from lxml import etree

from conftest import assert_no_500, book, event

ADMIN, ALICE, BOB, MGR = "fb-admin", "fb-alice", "fb-bob", "fb-mgr"
PLAIN, PEND, OPEN, HIDDEN, PAIR, SHUT = "fb-plain", "fb-pend", "fb-open", "fb-hidden", "fb-pair", "fb-shut"
BERLIN = ("--timezone", "Europe/Berlin")
DOMAIN = "rooms.localhost"   # [scheduling] room_domain's default: <id>@rooms.localhost
ALICE_MAIL, BOB_MAIL = "alice@example.org", "bob@example.org"
DAV, CALDAV = "DAV:", "urn:ietf:params:xml:ns:caldav"
NS = {"D": DAV, "C": CALDAV}
WEEK = ("20270607T000000Z", "20270614T000000Z")


@pytest.fixture(scope="module")
def world(server):
    server.add_user(ADMIN, admin=True)
    server.add_user(ALICE, email=ALICE_MAIL)
    server.add_user(BOB, email=BOB_MAIL)
    server.add_user(MGR)
    server.add_room(PLAIN, *BERLIN)
    server.add_room(PEND, *BERLIN, "--approval", "--managers", MGR)
    server.add_room(OPEN, *BERLIN, "--opening-hours", "Mo-Fr 08:00-18:00", "--buffer", "PT15M",
                    "--blackout", "2027-06-08T12:00/2027-06-08T14:00")
    server.add_room(HIDDEN, *BERLIN, "--status", "hidden")
    server.add_room(PAIR, *BERLIN, "--quantity", "2")
    server.add_room(SHUT, *BERLIN)
    assert server.request("MKCALENDAR", f"/{BOB}/work/", user=BOB).status_code == 201
    assert server.request("MKCALENDAR", f"/{BOB}/private/", user=BOB).status_code == 201
    yield server
    assert_no_500(server)


def room(room_id):
    return f"mailto:{room_id}@{DOMAIN}"


def request_body(attendees, start=WEEK[0], end=WEEK[1], organizer=f"mailto:{ALICE_MAIL}",
                 method="REQUEST", component="VFREEBUSY", uid=None):
    """What Thunderbird 153's attendee dialog POSTs (calDavCalendar getFreeBusyIntervals)."""
    lines = ["BEGIN:VCALENDAR", "PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN",
             "VERSION:2.0", f"METHOD:{method}", f"BEGIN:{component}", "DTSTAMP:20261205T030000Z",
             f"ORGANIZER:{organizer}", f"DTSTART:{start}", f"DTEND:{end}",
             f"UID:{uid or uuid.uuid4()}"]
    if component == "VEVENT":
        lines.append("SUMMARY:Planning")
    lines += [f"ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;CUTYPE=ROOM:{a}"
              if "@" + DOMAIN in a else f"ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT:{a}"
              for a in attendees]
    lines += [f"END:{component}", "END:VCALENDAR", ""]
    return "\r\n".join(lines)


def post(server, attendees, user=ALICE, originator=f"mailto:{ALICE_MAIL}", body=None, outbox=None,
         content_type="text/calendar; charset=utf-8", **fields):
    headers = {"Content-Type": content_type, "Recipient": ", ".join(attendees)}
    if originator:
        headers["Originator"] = originator
    return server.request("POST", outbox or f"/{user}/.schedule-outbox/", user=user, headers=headers,
                          data=(body if body is not None else request_body(attendees, **fields)).encode())


def responses(answer) -> dict:
    """recipient -> (request-status, parsed VCALENDAR or None, the reply's COMMENT or None)."""
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"] == "application/xml; charset=utf-8"
    root = etree.fromstring(answer.content)
    assert root.tag == f"{{{CALDAV}}}schedule-response"
    found = {}
    for response in root.findall("C:response", NS):
        href = response.findtext("C:recipient/D:href", namespaces=NS)
        data = response.findtext("C:calendar-data", namespaces=NS)
        calendar = icalendar.Calendar.from_ical(data) if data else None
        comment = calendar.walk("VFREEBUSY")[0].get("COMMENT") if calendar else None
        found[href] = (response.findtext("C:request-status", namespaces=NS), calendar,
                       None if comment is None else str(comment))
    return found


def periods(calendar) -> list:
    """(FBTYPE, "start/end") of the reply's FREEBUSY lines, in UTC as written."""
    component, = calendar.walk("VFREEBUSY")
    values = component.get("FREEBUSY") or []
    values = values if isinstance(values, list) else [values]
    out = []
    for value in values:
        start, end = value.dt
        out.append((value.params.get("FBTYPE", "BUSY"),
                    f"{start.strftime('%Y%m%dT%H%M%SZ')}/{end.strftime('%Y%m%dT%H%M%SZ')}"))
    return out


def one(server, address, **kwargs):
    status, calendar, note = responses(post(server, [address], **kwargs))[address]
    assert status == "2.0;Success", (status, note)
    return calendar


def dav_error(answer, status, precondition, namespace=CALDAV) -> str:
    assert answer.status_code == status, answer.text
    root = etree.fromstring(answer.content)
    assert root.tag == f"{{{DAV}}}error"
    assert root.find(f"{{{namespace}}}{precondition}") is not None, answer.text
    return root.findtext("D:responsedescription", namespaces=NS)


# -- rooms ----------------------------------------------------------------------------------------
def test_a_booked_room_is_busy_exactly_for_its_booking(world):
    assert book(world, PLAIN, "20270607T100000", "20270607T113000", BOB, summary="Board meeting",
                tz="Europe/Berlin").status_code == 201
    calendar = one(world, room(PLAIN))
    assert periods(calendar) == [("BUSY", "20270607T080000Z/20270607T093000Z")]
    assert str(calendar["METHOD"]) == "REPLY"
    component, = calendar.walk("VFREEBUSY")
    assert str(component["ATTENDEE"]) == room(PLAIN) and component["ATTENDEE"].params["CUTYPE"] == "ROOM"
    assert str(component["ORGANIZER"]) == f"mailto:{ALICE_MAIL}"
    assert component["DTSTART"].dt.strftime("%Y%m%dT%H%M%SZ") == WEEK[0]
    assert component["DTEND"].dt.strftime("%Y%m%dT%H%M%SZ") == WEEK[1]
    assert "DTSTAMP" in component and "UID" in component


def test_the_reply_keeps_the_request_uid_and_the_titles_stay_out(world):
    book(world, PLAIN, "20270609T100000", "20270609T110000", BOB, summary="Secret merger",
         tz="Europe/Berlin")
    answer = post(world, [room(PLAIN)], uid="tb-fb-0001")
    assert "Secret merger" not in answer.text and "Board meeting" not in answer.text
    _, calendar, _ = responses(answer)[room(PLAIN)]
    assert str(calendar.walk("VFREEBUSY")[0]["UID"]) == "tb-fb-0001"
    assert ("BUSY", "20270609T080000Z/20270609T090000Z") in periods(calendar)


def test_a_pending_booking_of_an_approval_room_is_busy_tentative(world):
    assert book(world, PEND, "20270608T090000", "20270608T100000", BOB, tz="Europe/Berlin").status_code == 201
    assert periods(one(world, room(PEND))) == [("BUSY-TENTATIVE", "20270608T070000Z/20270608T080000Z")]


def test_closed_hours_blackouts_and_buffers_are_busy_unavailable(world):
    assert book(world, OPEN, "20270607T100000", "20270607T110000", BOB, tz="Europe/Berlin").status_code == 201
    calendar = one(world, room(OPEN), start="20270607T000000Z", end="20270609T000000Z")
    assert periods(calendar) == [
        # Monday: closed until 08:00 Berlin, the buffers around 10:00-11:00, closed from 18:00
        ("BUSY-UNAVAILABLE", "20270607T000000Z/20270607T060000Z"),
        ("BUSY-UNAVAILABLE", "20270607T074500Z/20270607T080000Z"),
        ("BUSY", "20270607T080000Z/20270607T090000Z"),
        ("BUSY-UNAVAILABLE", "20270607T090000Z/20270607T091500Z"),
        ("BUSY-UNAVAILABLE", "20270607T160000Z/20270608T060000Z"),
        # Tuesday: the blackout 12:00-14:00 Berlin
        ("BUSY-UNAVAILABLE", "20270608T100000Z/20270608T120000Z"),
        ("BUSY-UNAVAILABLE", "20270608T160000Z/20270609T000000Z")]


def test_a_room_with_two_units_is_busy_only_where_both_are_taken(world):
    for start, end in (("20270607T090000", "20270607T110000"), ("20270607T100000", "20270607T120000")):
        assert book(world, PAIR, start, end, BOB, tz="Europe/Berlin").status_code == 201
    assert periods(one(world, room(PAIR), start="20270607T000000Z", end="20270608T000000Z")) == \
        [("BUSY", "20270607T080000Z/20270607T090000Z")]


def test_an_unavailable_room_is_unavailable_all_along_around_the_bookings_it_keeps(world):
    assert book(world, SHUT, "20270607T100000", "20270607T110000", BOB, tz="Europe/Berlin").status_code == 201
    world.cli("room", "set", SHUT, "--status", "unavailable", "--status-reason", "renovation")
    assert periods(one(world, room(SHUT), start="20270607T000000Z", end="20270608T000000Z")) == [
        ("BUSY-UNAVAILABLE", "20270607T000000Z/20270607T080000Z"),
        ("BUSY", "20270607T080000Z/20270607T090000Z"),
        ("BUSY-UNAVAILABLE", "20270607T090000Z/20270608T000000Z")]


def test_the_room_principal_url_is_an_address_too(world):
    address = f"/.rooms/{PLAIN}/"
    calendar = one(world, address)
    assert ("BUSY", "20270607T080000Z/20270607T093000Z") in periods(calendar)


# -- people ---------------------------------------------------------------------------------------
def test_a_users_private_event_is_busy_without_its_title(world):
    assert world.put_ics(f"/{BOB}/private/dentist.ics", event(
        "20270610T140000Z", "20270610T150000Z", summary="Dentist appointment",
        extra="CLASS:PRIVATE"), user=BOB).status_code == 201
    assert world.put_ics(f"/{BOB}/work/maybe.ics", event(
        "20270611T090000Z", "20270611T100000Z", summary="Maybe lunch",
        extra="STATUS:TENTATIVE"), user=BOB).status_code == 201
    assert world.put_ics(f"/{BOB}/work/free.ics", event(
        "20270611T120000Z", "20270611T130000Z", summary="Reading time",
        extra="TRANSP:TRANSPARENT"), user=BOB).status_code == 201
    assert world.put_ics(f"/{BOB}/work/off.ics", event(
        "20270611T150000Z", "20270611T160000Z", summary="Called off",
        extra="STATUS:CANCELLED"), user=BOB).status_code == 201
    assert world.put_ics(f"/{BOB}/work/weekly.ics", event(
        "20270607T070000Z", "20270607T073000Z", summary="Standup",
        extra="RRULE:FREQ=DAILY;COUNT=3"), user=BOB).status_code == 201
    answer = post(world, [f"mailto:{BOB_MAIL}"])
    for title in ("Dentist", "Maybe lunch", "Reading time", "Called off", "Standup"):
        assert title not in answer.text
    status, calendar, _ = responses(answer)[f"mailto:{BOB_MAIL}"]
    assert status == "2.0;Success"
    assert calendar.walk("VFREEBUSY")[0]["ATTENDEE"].params["CUTYPE"] == "INDIVIDUAL"
    assert periods(calendar) == [("BUSY", "20270607T070000Z/20270607T073000Z"),
                                 ("BUSY", "20270608T070000Z/20270608T073000Z"),
                                 ("BUSY", "20270609T070000Z/20270609T073000Z"),
                                 ("BUSY", "20270610T140000Z/20270610T150000Z"),
                                 ("BUSY-TENTATIVE", "20270611T090000Z/20270611T100000Z")]


def test_a_declined_invitation_does_not_count_an_unanswered_one_is_tentative(world):
    for name, start, partstat in (("declined", "20270612T090000Z", "DECLINED"),
                                  ("open", "20270612T110000Z", "NEEDS-ACTION")):
        assert world.put_ics(f"/{BOB}/work/{name}.ics", event(
            start, start.replace("T09", "T10").replace("T11", "T12"),
            extra=f"ORGANIZER:mailto:{ALICE_MAIL}\n"
                  f"ATTENDEE;PARTSTAT={partstat}:mailto:{BOB_MAIL.upper()}"), user=BOB).status_code == 201
    calendar = one(world, f"mailto:{BOB_MAIL}", start="20270612T000000Z", end="20270613T000000Z")
    assert periods(calendar) == [("BUSY-TENTATIVE", "20270612T110000Z/20270612T120000Z")]


def test_a_user_asks_about_a_room_and_a_person_at_once(world):
    answer = post(world, [room(PLAIN), f"mailto:{BOB_MAIL}"])
    found = responses(answer)
    assert list(found) == [room(PLAIN), f"mailto:{BOB_MAIL}"]
    assert all(status == "2.0;Success" for status, _, _ in found.values())


# -- who is answered -----------------------------------------------------------------------------
def test_an_unknown_address_is_an_invalid_calendar_user(world):
    stranger = "mailto:nobody@elsewhere.example"
    found = responses(post(world, [stranger, room(PLAIN)]))
    status, calendar, _ = found[stranger]
    assert status == ("3.7;Invalid calendar user;No room or user of this server has the address "
                      f"{stranger}.") and calendar is None
    assert found[room(PLAIN)][0] == "2.0;Success"


def test_a_hidden_room_is_no_calendar_user_except_for_admins(world):
    status, calendar, _ = responses(post(world, [room(HIDDEN)]))[room(HIDDEN)]
    assert status.startswith("3.7") and calendar is None   # as for an address nobody has
    admin = post(world, [room(HIDDEN)], user=ADMIN, originator=None, organizer=f"/{ADMIN}/")
    assert responses(admin)[room(HIDDEN)][0] == "2.0;Success"


def test_recipients_from_the_recipient_header_when_the_body_names_none(world):
    body = request_body([]).replace("\r\n\r\n", "\r\n")
    found = responses(post(world, [room(PLAIN)], body=body))
    assert list(found) == [room(PLAIN)] and found[room(PLAIN)][0] == "2.0;Success"


# -- refusals ----------------------------------------------------------------------------------------
def test_only_the_owner_posts_to_an_outbox(world):
    answer = post(world, [room(PLAIN)], user=ALICE, outbox=f"/{BOB}/.schedule-outbox/")
    assert f"/{ALICE}/.schedule-outbox/" in dav_error(answer, 403, "schedule-send")
    anonymous = world.request("POST", f"/{ALICE}/.schedule-outbox/", data=request_body([room(PLAIN)]),
                              headers={"Content-Type": "text/calendar"})
    assert anonymous.status_code == 401


def test_the_organizer_and_originator_must_be_the_sender(world):
    answer = post(world, [room(PLAIN)], organizer=f"mailto:{BOB_MAIL}", originator=None)
    assert BOB_MAIL in dav_error(answer, 403, "organizer-allowed")
    answer = post(world, [room(PLAIN)], originator=f"mailto:{BOB_MAIL}")
    assert BOB_MAIL in dav_error(answer, 403, "originator-allowed")


def test_only_free_busy_requests_are_taken(world):
    for fields in ({"method": "PUBLISH"}, {"component": "VEVENT"}):
        answer = post(world, [room(PLAIN)], **fields)
        assert "free/busy requests only" in dav_error(answer, 403, "valid-scheduling-message")


@pytest.mark.parametrize("body, words", [
    ("this is not a calendar", "cannot be read"),
    (request_body([room(PLAIN)]).replace("DTSTART:", "DTSTART:2027-13-45"), "cannot be read"),
    (request_body([room(PLAIN)], start=WEEK[1], end=WEEK[0]), "DTEND must be after DTSTART"),
    (request_body([room(PLAIN)]).replace("DTSTART:", "DTSTART;TZID=Mars/Olympus:").replace(
        "00Z\r\nDTEND", "00\r\nDTEND"), "unknown time zone"),
    (request_body([room(PLAIN)]) * 2, "exactly one VCALENDAR"),
    (request_body([room(PLAIN)]).replace("BEGIN:VFREEBUSY", "BEGIN:VTIMEZONE\r\nTZID:X\r\n"
     "BEGIN:STANDARD\r\nDTSTART:16010101T000000\r\nRRULE:FREQ=SECONDLY\r\nTZOFFSETFROM:+0100\r\n"
     "TZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VFREEBUSY"), "VTIMEZONE"),
])
def test_bad_calendar_data_is_a_400_with_a_sentence(world, body, words):
    answer = post(world, [room(PLAIN)], body=body)
    assert words in dav_error(answer, 400, "valid-calendar-data")


def test_a_body_that_is_no_calendar_is_refused(world):
    answer = post(world, [room(PLAIN)], content_type="text/plain", body="free?")
    assert "text/calendar" in dav_error(answer, 415, "supported-calendar-data")


def test_too_many_recipients_are_refused(world):
    many = [f"mailto:guest{i}@elsewhere.example" for i in range(101)]
    answer = post(world, many[:1], body=request_body(many))
    assert "at most 100" in dav_error(answer, 403, "max-recipients")


def test_a_range_over_400_days_is_answered_up_to_400_days_and_says_so(world):
    status, calendar, note = responses(post(
        world, [room(PLAIN)], start="20270601T000000Z", end="20300101T000000Z"))[room(PLAIN)]
    assert status == "2.0;Success" and "at most 400 days" in note
    component, = calendar.walk("VFREEBUSY")
    assert component["DTEND"].dt.strftime("%Y%m%dT%H%M%SZ") == "20280705T000000Z"   # + 400 days
    assert ("BUSY", "20270607T080000Z/20270607T093000Z") in periods(calendar)


# -- python-caldav -------------------------------------------------------------------------------
def caldav_principal(server, user):
    client = caldav.DAVClient(url=server.url + "/", username=user, password=server.passwords[user])
    return client, client.principal()


def test_python_caldav_freebusy_request(world):
    """Principal.freebusy_request as it is: it finds the outbox by the principal's
    schedule-outbox-URL (the principals work advertises it)."""
    _, principal = caldav_principal(world, ALICE)
    try:
        principal.schedule_outbox()
    except caldav.lib.error.NotFoundError:
        pytest.skip("the principal does not advertise schedule-outbox-URL in this branch")
    found = principal.freebusy_request(datetime.datetime(2027, 6, 7, tzinfo=datetime.timezone.utc),
                                       datetime.datetime(2027, 6, 8, tzinfo=datetime.timezone.utc),
                                       [room(PLAIN)])
    assert not found["errors"]
    assert periods(found[room(PLAIN)].icalendar_instance) == [("BUSY", "20270607T080000Z/20270607T093000Z")]


def test_python_caldav_reads_the_answer(world):
    """The same with the outbox's URL handed to python-caldav: its request (ORGANIZER the
    principal URL from calendar-user-address-set, a naive DTSTAMP) and its parsing of the
    schedule-response, errors included."""
    client, principal = caldav_principal(world, ALICE)
    principal.schedule_outbox = lambda: caldav.collection.ScheduleOutbox(
        client=client, url=f"{world.url}/{ALICE}/.schedule-outbox/")
    stranger = "mailto:nobody@elsewhere.example"
    found = principal.freebusy_request(datetime.datetime(2027, 6, 7, tzinfo=datetime.timezone.utc),
                                       datetime.datetime(2027, 6, 8, tzinfo=datetime.timezone.utc),
                                       [room(PLAIN), f"mailto:{BOB_MAIL}", stranger])
    assert periods(found[room(PLAIN)].icalendar_instance) == [("BUSY", "20270607T080000Z/20270607T093000Z")]
    assert periods(found[f"mailto:{BOB_MAIL}"].icalendar_instance) == [
        ("BUSY", "20270607T070000Z/20270607T073000Z")]
    assert found["errors"][stranger].startswith("3.7")


# -- storage/scheduling/freebusy.py without a server ----------------------------------------------------------
def test_periods_merge_and_keep_the_stronger_kind():
    from roomcal.storage.scheduling.freebusy import Period, periods as merged
    assert merged({"BUSY-UNAVAILABLE": [(0, 100)], "BUSY-TENTATIVE": [(10, 30), (25, 40)],
                   "BUSY": [(20, 50), (50, 60)]}, 5, 90) == [
        Period(5, 10, "BUSY-UNAVAILABLE"), Period(10, 20, "BUSY-TENTATIVE"), Period(20, 60, "BUSY"),
        Period(60, 90, "BUSY-UNAVAILABLE")]


def test_a_persons_events_are_expanded_within_a_bound():
    from roomcal.storage.scheduling.freebusy import Period, busy_of_events
    utc = datetime.timezone.utc
    lo = int(datetime.datetime(2027, 6, 7, tzinfo=utc).timestamp())
    hi = lo + 86400
    every_minute = event("20270601T000000Z", "20270601T000030Z", extra="RRULE:FREQ=MINUTELY")
    todo = event("20270607T090000Z", "20270607T100000Z").replace("VEVENT", "VTODO")
    # More occurrences than the bound: the object is busy for its whole span (clipped).
    assert busy_of_events([(every_minute, utc, (lo - 86400, 2 ** 40)), (todo, utc, (lo, hi))],
                          lo, hi, own=[], limit=100) == [Period(lo, hi, "BUSY")]
    cancelled = every_minute.replace("RRULE", "STATUS:CANCELLED\r\nRRULE")
    assert busy_of_events([(cancelled, utc, (lo - 86400, 2 ** 40))], lo, hi, own=[], limit=100) == []
    # Floating times in the calendar's zone.
    floating = event("20270607T100000", "20270607T110000")
    berlin = __import__("zoneinfo").ZoneInfo("Europe/Berlin")
    assert busy_of_events([(floating, berlin, (lo, hi))], lo, hi, own=[]) == \
        [Period(lo + 8 * 3600, lo + 9 * 3600, "BUSY")]

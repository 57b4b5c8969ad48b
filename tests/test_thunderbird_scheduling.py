"""A replay of what Thunderbird 153 sends to book a room by invitation.

The requests are Thunderbird's own (calendar/providers/caldav/calDavCalendar.js and the
body it PUTs, tests/conftest.py THUNDERBIRD_EVENT): it asks OPTIONS whether the server
schedules, PROPFINDs the principal for the scheduling properties (without all of them it
falls back to mailing invitations itself), asks the outbox for the room's free/busy while
the user picks a time, PUTs the meeting into the user's own calendar and, given no ETag,
fetches it back with calendar-multiget — where the room's answer is.
"""

import uuid

import icalendar
import pytest
from lxml import etree

from conftest import book, new_room

DAV, CALDAV = "DAV:", "urn:ietf:params:xml:ns:caldav"
NS = {"D": DAV, "C": CALDAV}
XML_HEADER = '<?xml version="1.0" encoding="UTF-8"?>\n'
PRINCIPAL_QUERY = (XML_HEADER + '<D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
                   "<D:prop><C:calendar-home-set/><C:calendar-user-address-set/><C:schedule-inbox-URL/>"
                   "<C:schedule-outbox-URL/></D:prop></D:propfind>")
FREEBUSY = """BEGIN:VCALENDAR
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN
VERSION:2.0
METHOD:REQUEST
BEGIN:VFREEBUSY
DTSTAMP:20261201T080000Z
ORGANIZER:{organizer}
DTSTART:20271205T230000Z
DTEND:20271207T230000Z
UID:{uid}
ATTENDEE;PARTSTAT=NEEDS-ACTION;ROLE=REQ-PARTICIPANT;CUTYPE=INDIVIDUAL:{recipient}
END:VFREEBUSY
END:VCALENDAR
"""
# Thunderbird's event with attendees, as it PUTs it when the server schedules.
MEETING = """BEGIN:VCALENDAR
PRODID:-//Mozilla.org/NONSGML Mozilla Calendar V1.1//EN
VERSION:2.0
BEGIN:VEVENT
CREATED:20261201T080000Z
LAST-MODIFIED:20261201T080100Z
DTSTAMP:20261201T080100Z
UID:{uid}
SUMMARY:{summary}
ORGANIZER;RSVP=TRUE;CN=Ann;PARTSTAT=ACCEPTED;ROLE=CHAIR:{organizer}
ATTENDEE;RSVP=TRUE;CN=Ann;PARTSTAT=ACCEPTED;ROLE=CHAIR:{organizer}
ATTENDEE;RSVP=TRUE;PARTSTAT=NEEDS-ACTION;CUTYPE=ROOM;ROLE=NON-PARTICIPANT:{room}
X-MOZ-SEND-INVITATIONS:TRUE
X-MOZ-SEND-INVITATIONS-UNDISCLOSED:FALSE
DTSTART:20271206T090000Z
DTEND:20271206T100000Z
TRANSP:OPAQUE
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture(scope="module")
def thunderbird(server):
    for name in ("tb-ann", "tb-bob"):
        server.add_user(name, email=f"{name}@example.org")
        assert server.request("MKCALENDAR", f"/{name}/calendar/", user=name).status_code == 201
    return server


def discover(server, user):
    """What Thunderbird learns from OPTIONS and the principal's PROPFIND."""
    options = server.request("OPTIONS", f"/{user}/", user=user)
    assert options.status_code == 200
    answer = server.request("PROPFIND", f"/{user}/", user=user, data=PRINCIPAL_QUERY.encode(),
                            headers={"Depth": "0", "Content-Type": "text/xml; charset=utf-8"})
    assert answer.status_code == 207, answer.text
    tree = etree.fromstring(answer.content)
    prop = "/D:multistatus/D:response/D:propstat/D:prop/"
    return {
        "dav": options.headers.get("DAV", ""),
        "homes": tree.xpath(prop + "C:calendar-home-set/D:href/text()", namespaces=NS),
        "mailto": [a for a in tree.xpath(prop + "C:calendar-user-address-set/D:href/text()", namespaces=NS)
                   if a.lower().startswith("mailto:")],
        "inbox": tree.xpath(prop + "C:schedule-inbox-URL/D:href/text()", namespaces=NS),
        "outbox": tree.xpath(prop + "C:schedule-outbox-URL/D:href/text()", namespaces=NS),
    }


def freebusy(server, user, found, recipient):
    answer = server.request("POST", found["outbox"][0], user=user,
                            data=FREEBUSY.format(organizer=found["mailto"][0], uid=uuid.uuid4(),
                                                 recipient=recipient).replace("\n", "\r\n").encode(),
                            headers={"Content-Type": "text/calendar", "Originator": found["mailto"][0],
                                     "Recipient": recipient})
    assert answer.status_code == 200, answer.text
    tree = etree.fromstring(answer.content)
    status = tree.xpath("/C:schedule-response/C:response/C:request-status/text()", namespaces=NS)[0]
    data = tree.xpath("/C:schedule-response/C:response/C:calendar-data/text()", namespaces=NS)
    return status, (icalendar.Calendar.from_ical(data[0]) if data else None)


def refetch(server, user, href):
    body = (XML_HEADER + '<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
            f"<D:prop><D:getetag/><C:calendar-data/></D:prop><D:href>{href}</D:href></C:calendar-multiget>")
    answer = server.request("REPORT", f"/{user}/calendar/", user=user, data=body.encode(),
                            headers={"Depth": "1", "Content-Type": "text/xml; charset=utf-8"})
    assert answer.status_code == 207
    data = etree.fromstring(answer.content).xpath("//C:calendar-data/text()", namespaces=NS)[0]
    return icalendar.Calendar.from_ical(data).walk("VEVENT")[0]


def room_attendee(event, address):
    attendees = event.get("ATTENDEE")
    return next(a for a in (attendees if isinstance(attendees, list) else [attendees])
                if str(a).lower() == address.lower())


def test_thunderbird_finds_a_scheduling_server(thunderbird):
    found = discover(thunderbird, "tb-ann")
    assert "calendar-auto-schedule" in found["dav"]
    assert found["homes"] == ["/tb-ann/"]
    assert found["mailto"] == ["mailto:tb-ann@example.org"]
    assert len(found["inbox"]) == 1 and len(found["outbox"]) == 1


def test_thunderbird_books_a_room_by_inviting_it(thunderbird):
    server = thunderbird
    room = new_room(server, "tb")
    address = f"mailto:{room}@rooms.localhost"
    book(server, room, "20271206T140000Z", "20271206T150000Z", "tb-bob")
    found = discover(server, "tb-ann")

    # the invitation dialog shows the room busy in the afternoon
    status, reply = freebusy(server, "tb-ann", found, address)
    assert status.startswith("2.0")
    periods = [str(p.to_ical().decode()) for c in reply.walk("VFREEBUSY") for p in
               (c.get("FREEBUSY") if isinstance(c.get("FREEBUSY"), list) else [c.get("FREEBUSY")]) if p]
    assert any("20271206T140000Z/20271206T150000Z" in p for p in periods), periods

    uid = str(uuid.uuid4())
    href = f"/tb-ann/calendar/{uid}.ics"
    body = MEETING.format(uid=uid, summary="Sprint review", organizer=found["mailto"][0], room=address)
    answer = server.put_ics(href, body.replace("\n", "\r\n"), user="tb-ann", **{"If-None-Match": "*"})
    assert answer.status_code == 201
    assert "ETag" not in answer.headers          # so Thunderbird fetches what the server made of it
    event = refetch(server, "tb-ann", href)
    assert room_attendee(event, address).params["PARTSTAT"] == "ACCEPTED"

    # Bob's client, the same hour: the room says no, and says why, on Bob's event
    bob = discover(server, "tb-bob")
    uid2 = str(uuid.uuid4())
    href2 = f"/tb-bob/calendar/{uid2}.ics"
    body = MEETING.format(uid=uid2, summary="Clash", organizer=bob["mailto"][0], room=address)
    assert server.put_ics(href2, body.replace("\n", "\r\n"), user="tb-bob").status_code == 201
    event = refetch(server, "tb-bob", href2)
    assert room_attendee(event, address).params["PARTSTAT"] == "DECLINED"
    assert "Sprint review" in str(event["COMMENT"]) or "already booked" in str(event["COMMENT"])

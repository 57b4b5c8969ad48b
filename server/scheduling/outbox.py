"""POST to a user's schedule outbox ``/<user>/.schedule-outbox/``: free/busy (RFC 6638 §5).

What Thunderbird's and Apple Calendar's invitation dialogs send: a VCALENDAR with
METHOD:REQUEST and one VFREEBUSY (DTSTART, DTEND, ORGANIZER: the sender, ATTENDEEs:
whose time is asked for), with ``Originator`` and ``Recipient`` headers.  The answer is
a CALDAV:schedule-response with one CALDAV:response per ATTENDEE: ``2.0;Success`` and a
VFREEBUSY METHOD:REPLY (busy periods only, never titles), or ``3.7;Invalid calendar
user;<a sentence>`` for an address that is no room or user here (a hidden room, for
anyone but an admin, is no room: it stays hidden).  Any local user may see any room's
and any other user's free/busy time, as their invitation dialogs need.  Any other
scheduling message is refused: RFC 6638 sends invitations by implicit scheduling, not
by POST.

The periods are storage/scheduling/freebusy.py's, all recipients read under one read lock.
"""

import logging
import re
from email.message import Message

import icalendar
from lxml import etree

from roomcal.server import errors
from roomcal.server.request_body import read_body
from roomcal.storage import availability as avail
from roomcal.storage import roles
from roomcal.storage.errors import NotFound
from roomcal.storage.scheduling import addresses, freebusy
from roomcal.storage.scheduling.freebusy import FreeBusyRefused

logger = logging.getLogger("roomcal")
DAV, CALDAV = "DAV:", "urn:ietf:params:xml:ns:caldav"
NSMAP = {"D": DAV, "C": CALDAV}
SUCCESS = "2.0;Success"
INVALID_USER = "3.7;Invalid calendar user"
UNAVAILABLE = "5.1;Service unavailable"


def answer_post(front, environ, identity, user: str):
    """(status, headers, body) of a POST on ``/<user>/.schedule-outbox/``."""
    if identity is None:
        return errors.dav_unauthorized()
    if identity.user != user:
        return errors.dav_error(FreeBusyRefused(
            f"Only {user} may send from this schedule outbox; yours is "
            f"/{identity.user}/.schedule-outbox/.", "schedule-send"))
    try:
        request = _request(front, environ, user)
        found = _answers(front.storage, identity, request)
    except FreeBusyRefused as refusal:
        return errors.dav_error(refusal)
    return 200, [("Content-Type", "application/xml; charset=utf-8")], _body(request, found)


def _request(front, environ, user: str) -> freebusy.Request:
    """The checked VFREEBUSY REQUEST of the body; FreeBusyRefused otherwise."""
    message = Message()
    message["Content-Type"] = environ.get("CONTENT_TYPE") or "text/calendar"
    if message.get_content_type() != "text/calendar":
        raise FreeBusyRefused(f"A free/busy request is text/calendar, not "
                              f"{message.get_content_type()}.", "supported-calendar-data", 415)
    try:
        text = read_body(environ).decode(
            message.get_content_charset() or "utf-8")
    except (LookupError, UnicodeDecodeError):
        raise freebusy.unreadable("it is not text in its charset (send UTF-8)") from None
    own = {addresses.normalized(a) for a in front.storage.directory.user_addresses(user)}
    originator = (environ.get("HTTP_ORIGINATOR") or "").strip()
    if originator and addresses.normalized(originator) not in own:
        raise FreeBusyRefused(f"The Originator {originator} is not one of your addresses "
                              f"({', '.join(sorted(own))}).", "originator-allowed")
    request = freebusy.parse_request(text, environ.get("HTTP_RECIPIENT") or "")
    if addresses.normalized(str(request.organizer)) not in own:
        raise FreeBusyRefused(f"The ORGANIZER {request.organizer} is not one of your addresses "
                              f"({', '.join(sorted(own))}): ask for free/busy time as yourself.",
                              "organizer-allowed")
    return request


class _Found:
    """One recipient's answer."""

    def __init__(self, address: str, status: str, reply=None, note: str = ""):
        self.address, self.status, self.reply, self.note = address, status, reply, note


def _answers(storage, identity, request: freebusy.Request) -> list:
    """Every recipient's answer, read under one read lock."""
    found = []
    with storage.acquire_lock("r", identity.user):
        for address in request.attendees:
            try:
                found.append(_one(storage, identity, request, address))
            except Exception:   # one recipient's failure is its own answer, not a 500
                logger.exception("free/busy of %r failed", address)
                found.append(_Found(address, UNAVAILABLE, note="The free/busy time of this "
                                    "calendar user could not be read; try again later."))
    return found


def _one(storage, identity, request: freebusy.Request, address: str) -> _Found:
    lo, hi = request.start, request.end
    room = storage.directory.room_for(address)
    if room is not None and roles.is_listed(room, identity.actor()):
        try:
            collection = storage.room_collection(room.id)
        except NotFound:   # removed meanwhile
            return _unknown(address)
        room = collection.room()
        reach = room.buffer_seconds() + 1   # bookings whose buffers reach into the range
        snapshot = avail.Snapshot(collection.view(), lo - reach, hi + reach,
                                  storage.core.max_occurrences)
        periods = freebusy.busy_of_room(room, snapshot, lo, hi, storage.core.max_occurrences)
        attendee = icalendar.vCalAddress(address)
        attendee.params["CN"], attendee.params["CUTYPE"] = room.name, "ROOM"
        return _Found(address, SUCCESS, freebusy.reply(request, attendee, periods))
    name = None if room is not None else storage.directory.user_for(address)
    if name is None:
        return _unknown(address)
    periods = freebusy.busy_of_user(storage, name, lo, hi)
    attendee = icalendar.vCalAddress(address)
    attendee.params["CUTYPE"] = "INDIVIDUAL"
    return _Found(address, SUCCESS, freebusy.reply(request, attendee, periods))


def _unknown(address: str) -> _Found:
    return _Found(address, INVALID_USER, note=f"No room or user of this server has the "
                  f"address {address}.")


# What XML 1.0 cannot carry (a client's address or UID may hold control characters).
_NOT_XML = re.compile("[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _text(value: str) -> str:
    return _NOT_XML.sub("\ufffd", value)


def _body(request: freebusy.Request, found: list) -> bytes:
    """The schedule-response.  A recipient's sentence travels in its request-status (RFC 5546
    §3.6: code;description;extra data), not in a DAV:responsedescription, which RFC 6638
    allows but python-caldav 3.6 refuses to read."""
    root = etree.Element(f"{{{CALDAV}}}schedule-response", nsmap=NSMAP)
    for one in found:
        response = etree.SubElement(root, f"{{{CALDAV}}}response")
        recipient = etree.SubElement(response, f"{{{CALDAV}}}recipient")
        etree.SubElement(recipient, f"{{{DAV}}}href").text = _text(one.address)
        status = f"{one.status};{one.note}" if one.note else one.status
        etree.SubElement(response, f"{{{CALDAV}}}request-status").text = _text(status)
        if one.reply is not None:
            etree.SubElement(response, f"{{{CALDAV}}}calendar-data").text = _text(one.reply)
    return etree.tostring(root, encoding="utf-8", xml_declaration=True)

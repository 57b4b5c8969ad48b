"""Error bodies that speak to humans: DAV:error for CalDAV, JSON for the rest."""

import json
import xml.etree.ElementTree as ET

from roomcal.storage.errors import BookingRefused, Refusal
from roomcal.storage.rooms import NS

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"


# Every 401 offers both ways in (Radicale's own 401s are rewritten to this too).
CHALLENGE = [("WWW-Authenticate", 'Basic realm="roomcal", charset="UTF-8"'),
             ("WWW-Authenticate", 'Bearer realm="roomcal"')]


def unauthorized(message: str):
    return json_error(401, "unauthorized", message, CHALLENGE)


# What an anonymous request hears where Radicale would say "forbidden".
LOG_IN = "Authentication is required: log in with Basic auth (user name and password) or a Bearer token."


def dav_unauthorized(message: str = LOG_IN):
    status, headers, body = dav_answer(401, message, "authentication-required")
    return status, headers + CHALLENGE, body


def json_response(status: int, body: dict, headers=()):
    return status, [("Content-Type", "application/json; charset=utf-8"), *headers], \
        json.dumps(body, ensure_ascii=False).encode()


def json_error(status: int, error_type: str, message: str, headers=(), **extra):
    return json_response(status, {"error": status, "type": error_type, "message": message, **extra},
                         headers)


def _retry_after(refusal) -> list:
    """A refusal that passes (the database is back in a moment) says when to try again."""
    seconds = getattr(refusal, "retry_after", None)
    return [("Retry-After", str(seconds))] if seconds else []


def json_refusal(refusal: Refusal):
    return json_response(refusal.json_status, refusal.to_json(), _retry_after(refusal))


def dav_error(refusal: Refusal, base_prefix: str = ""):
    """(status, headers, body) of a refusal over CalDAV."""
    ET.register_namespace("D", DAV)
    ET.register_namespace("R", NS)
    ET.register_namespace("C", CALDAV)
    root = ET.Element(f"{{{DAV}}}error")
    namespace = getattr(refusal, "namespace", NS)  # ours, or CalDAV's for its own preconditions
    condition = ET.SubElement(root, f"{{{namespace}}}{refusal.precondition}")
    if isinstance(refusal, BookingRefused):
        decision = refusal.decision
        for violation in decision.violations:
            element = ET.SubElement(condition, f"{{{NS}}}violation", rule=violation.rule)
            element.text = violation.message
        for conflict in decision.conflicts:
            data = conflict.to_json(decision.room)
            element = ET.SubElement(condition, f"{{{NS}}}conflict")
            if "href" in data:
                ET.SubElement(element, f"{{{DAV}}}href").text = base_prefix + data["href"]
            for name in ("uid", "start", "end", "title"):
                if data.get(name) is not None:
                    ET.SubElement(element, f"{{{NS}}}{name}").text = data[name]
    ET.SubElement(root, f"{{{DAV}}}responsedescription").text = refusal.message
    body = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return refusal.caldav_status, [("Content-Type", "application/xml; charset=utf-8"), *_retry_after(refusal)], body


def dav_answer(status: int, message: str, precondition: str):
    """A DAV:error of any status where no storage refusal stands behind the answer."""
    refusal = Refusal(message)
    refusal.caldav_status, refusal.precondition = status, precondition
    return dav_error(refusal)


def dav_forbidden(message: str, precondition: str = "not-allowed"):
    return dav_answer(403, message, precondition)


class UnreadableData(Refusal):
    """What Radicale refused with a bare 400 (a body it cannot parse, a recurrence over its
    limits), with the reason it wrote only to its log (server/bad_requests.py)."""
    caldav_status = json_status = 400
    precondition = "valid-calendar-data"
    json_type = "badRequest"


class Unauthorized(Exception):
    """No such user, a wrong password, an unknown token (the front's sign-in)."""


class TooManyFailures(Exception):
    """Sign-ins from this address (or for this name) are locked out for a while."""

    def __init__(self, locked):   # a storage.login_failures.LockedOut
        super().__init__(f"Too many failed sign-ins from this address; try again in "
                         f"{locked.retry_after} seconds.")
        self.retry_after = locked.retry_after


MAX_JSON_DEPTH = 64


def check_json_depth(value, limit: int = MAX_JSON_DEPTH):
    """Raise ValueError for JSON nested deeper than ``limit`` (the converters recurse)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise ValueError(f"nested deeper than {limit} levels")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return value

"""RFC 6638 / RFC 3744 on the CalDAV URLs: what Radicale does not answer itself.

- the scheduling properties of a user's principal ``/<user>/`` (added to Radicale's
  PROPFIND answer): calendar-user-address-set, schedule-inbox-URL,
  schedule-outbox-URL, schedule-default-calendar-URL, calendar-user-type;
- a room's principal ``/.rooms/<id>/`` (server/scheduling/room_principals.py);
- the schedule inbox and outbox ``/<user>/.schedule-inbox/``, ``/<user>/.schedule-outbox/``
  (server/boxes.py; POST to the outbox is server/scheduling/outbox.py);
- principal-property-search, calendarserver-principal-search, principal-search-property-set
  (server/scheduling/principal_search.py);
- ``calendar-auto-schedule`` in the DAV header.

The front calls ``answer`` before Radicale and ``augment`` after it, only while
``[scheduling] enabled``.
"""

import gzip
import logging
import urllib.parse

from lxml import etree
from radicale import httputils

from roomcal.server import errors
from roomcal.server.request_body import read_body
from roomcal.server.scheduling import boxes, davxml, principal_props, principal_search, room_principals
from roomcal.server.scheduling.davxml import c, d
from roomcal.storage.accounts import RESERVED_USERS
from roomcal.storage.scheduling import addresses

logger = logging.getLogger("roomcal")
INBOX, OUTBOX = principal_props.INBOX, principal_props.OUTBOX
# calendar-auto-schedule: RFC 6638 (clients leave scheduling to the server).
# calendarserver-principal-search: Apple's server names it so, and Apple Calendar looks
# for it before it sends that REPORT (server/scheduling/principal_search.py).
DAV_EXTRA = ("calendar-auto-schedule", "calendarserver-principal-search")


def dav_header(value: str = httputils.DAV_HEADERS) -> str:
    present = {token.strip() for token in value.split(",")}
    return ", ".join([value, *[token for token in DAV_EXTRA if token not in present]])


def _parts(path: str) -> list:
    stripped = path.strip("/")
    return stripped.split("/") if stripped else []


def answer(front, environ, identity, path: str, method: str):
    """(status, headers, body) for a request this module answers instead of Radicale, else None."""
    parts = _parts(path)
    in_rooms = bool(parts) and parts[0] == addresses.ROOM_PRINCIPALS
    in_box = len(parts) >= 2 and parts[1] in (INBOX, OUTBOX) and not parts[0].startswith(".")
    if method == "REPORT" and (len(parts) <= 1 or in_rooms or in_box):
        searched = _search(front, environ, identity, parts)
        if searched is not None:
            return _with_dav(searched)
    if not (in_rooms or in_box):
        return None
    if method == "OPTIONS":   # Radicale's own answer, with our DAV header (augment)
        return None
    if identity is None and front.login_required:
        return errors.dav_unauthorized()
    who = principal_props.asker(front.storage, identity, environ)
    try:
        if in_rooms:
            answered = room_principals.answer(front, environ, identity, who, parts[1:], method)
        else:
            answered = boxes.answer(front, environ, identity, who, parts, method)
    except davxml.BadXml as e:
        return errors.dav_answer(400, str(e), "valid-xml")
    return _with_dav(answered)


def _search(front, environ, identity, parts):
    """A principal search REPORT answered here (Radicale's answer is an empty
    multistatus), on the paths the requester may reach: the root, the room principals,
    their own home and boxes (admins: any)."""
    try:
        root = davxml.parse(read_body(environ))
    except davxml.BadXml:
        return None   # not ours to judge: Radicale says what is wrong with it
    if root is None or root.tag not in principal_search.REPORTS:
        return None
    if identity is None and front.login_required:
        return errors.dav_unauthorized()
    who = principal_props.asker(front.storage, identity, environ)
    if parts and parts[0] not in (addresses.ROOM_PRINCIPALS, "rooms") and front.login_required \
            and parts[0] != who.user and not who.actor.admin:
        return None   # someone else's home: Radicale refuses it
    try:
        return principal_search.answer(who, environ, root, parts)
    except davxml.BadXml as e:
        return errors.dav_answer(400, str(e), "valid-search")


def _with_dav(answered):
    status, headers, body = answered
    if status < 300 and not any(name.lower() == "dav" for name, _ in headers):
        headers = [*headers, ("DAV", dav_header())]
    return status, headers, body


def augment(front, environ, identity, path: str, method: str, status: int, headers: list, body: bytes):
    """Radicale's answer (status, headers, body) with what scheduling adds to it."""
    headers = [(name, dav_header(value) if name.lower() == "dav" else value) for name, value in headers]
    parts = _parts(path)
    if method == "PROPFIND" and status == 207 and len(parts) == 1 and not parts[0].startswith(".") \
            and parts[0] not in RESERVED_USERS:   # /rooms/ is no one's principal
        try:
            headers, body = _fill_user_principal(front, environ, identity, parts[0], headers, body)
        except (etree.XMLSyntaxError, OSError, EOFError, ValueError) as e:
            # Radicale's own answer stands: without the scheduling properties, not broken
            logger.warning("principal properties of /%s/ left out: %s", parts[0], e)
    return status, headers, body


def _fill_user_principal(front, environ, identity, name: str, headers: list, body: bytes):
    """The scheduling properties asked for (Radicale put them in its 404 propstat), in the
    200 propstat of the principal's own response; calendar-user-address-set with the
    user's mailto: first."""
    encoded = any(n.lower() == "content-encoding" and v.lower() == "gzip" for n, v in headers)
    text = gzip.decompress(body) if encoded else body
    root = etree.fromstring(text, davxml.parser())
    who = principal_props.asker(front.storage, identity, environ)
    home = addresses.user_principal(name)
    builders = principal_props.user_scheduling(who, name)
    changed = False
    for response in root.findall(d("response")):
        href = response.findtext(d("href")) or ""
        path = urllib.parse.unquote(href)[len(who.prefix):] if href.startswith(who.prefix) else ""
        if "/" + path.strip("/") + "/" != home:
            continue   # a calendar of a Depth 1 answer: not the principal
        changed |= _fill(response, builders)
    if not changed:
        return headers, body
    headers = [(n, v) for n, v in headers if n.lower() not in ("content-encoding", "content-length")]
    return headers, etree.tostring(root, xml_declaration=True, encoding="utf-8")


def _fill(response, builders) -> bool:
    found = missing = None
    for propstat in response.findall(d("propstat")):
        code = (propstat.findtext(d("status")) or "").split()
        if len(code) > 1 and code[1] == "200":
            found = propstat.find(d("prop"))
        elif len(code) > 1 and code[1] == "404":
            missing = propstat
    changed = False
    if found is not None:   # Radicale's address set is the principal URL alone
        for old in found.findall(c("calendar-user-address-set")):
            if len(old):   # a value (propname lists the name alone)
                found.replace(old, builders[old.tag](old.tag))
                changed = True
    if missing is None:
        return changed
    for prop in list(missing.find(d("prop")) if missing.find(d("prop")) is not None else []):
        builder = builders.get(prop.tag)
        value = builder(prop.tag) if builder is not None else None
        if value is None:
            continue
        if found is None:
            propstat = davxml.element(d("propstat"), children=[
                davxml.element(d("prop")), davxml.element(d("status"), davxml.status_line(200))])
            response.insert(list(response).index(missing), propstat)
            found = propstat.find(d("prop"))
        prop.getparent().remove(prop)
        found.append(value)
        changed = True
    if len(missing.find(d("prop"))) == 0:
        response.remove(missing)
    return changed

"""A room's principal ``/.rooms/<id>/`` and their collection ``/.rooms/``.

Clients that find a room (a principal search, an ATTENDEE's URL) PROPFIND its
principal: CUTYPE ROOM, its name, its address and its calendar home — the principal
itself, whose one calendar is the room's ``/rooms/<id>/``.  That calendar's response
in a Depth 1 answer is Radicale's own (asked with the same body and identity), so
it says exactly what a PROPFIND on the calendar says.

A room the asker may not see (unknown; hidden, for anyone but an admin; one whose
bookings they may not see) has no principal for them: 404, the same sentence for
each, so the answer does not tell hidden rooms from absent ones.
"""

import io

from lxml import etree

from roomcal.server import errors
from roomcal.server.request_body import read_body
from roomcal.server.scheduling import davxml
from roomcal.server.scheduling.davxml import PropRequest, d, element
from roomcal.server.scheduling.principal_props import common_props, room_principal
from roomcal.storage import context
from roomcal.storage.scheduling import addresses

ALLOWED = "OPTIONS, PROPFIND, REPORT"


def answer(front, environ, identity, who, rest: list, method: str):
    """(status, headers, body) for ``/.rooms/`` + ``rest``."""
    if len(rest) > 1:
        return errors.dav_answer(404, "There is nothing below a room's principal; its calendar "
                                      f"is /rooms/{rest[0]}/.", "not-found")
    room = None
    if rest:
        room = who.storage.registry.get(rest[0])
        if room is None or not who.sees_room(room):
            return errors.dav_answer(404, f"There is no room {rest[0]!r}.", "not-found")
    if method == "REPORT":   # not a principal search (server/scheduling/dav.py): nothing to report
        return 207, davxml.XML_TYPE, davxml.serialize(davxml.multistatus())
    if method != "PROPFIND":
        status, headers, body = errors.dav_answer(
            405, f"{method} is not allowed on a room's principal: it is read with PROPFIND. "
                 "Book the room in its calendar /rooms/<id>/ or invite it to a meeting.",
            "method-not-allowed")
        return status, [*headers, ("Allow", ALLOWED)], body
    body = read_body(environ)
    asked = PropRequest.from_propfind(davxml.parse(body))
    depth = davxml.depth(environ)
    root = davxml.multistatus()
    if room is None:
        root.append(_collection_response(who, asked))
        if depth != "0":
            for listed in sorted(who.storage.registry.all(), key=lambda r: r.id):
                if who.sees_room(listed):
                    root.append(_room_response(who, listed, asked))
    else:
        root.append(_room_response(who, room, asked))
        if depth != "0":
            root.extend(_calendar_responses(front, environ, identity, room, body))
    return 207, davxml.XML_TYPE, davxml.serialize(root)


def _room_response(who, room, asked: PropRequest):
    props = room_principal(who, room)
    return davxml.response(who.href(addresses.room_principal(room.id)), asked.wanted(props),
                           props, names_only=asked.propname)


def _collection_response(who, asked: PropRequest):
    props = {d("resourcetype"): lambda tag: element(tag, children=[element(d("collection"))]),
             d("displayname"): lambda tag: element(tag, "Rooms"),
             **common_props(who)}
    return davxml.response(who.href(f"/{addresses.ROOM_PRINCIPALS}/"), asked.wanted(props), props,
                           names_only=asked.propname)


def _calendar_responses(front, environ, identity, room, body: bytes) -> list:
    """Radicale's Depth 0 answer on the room's calendar, as responses to merge in (none
    when the asker may not PROPFIND it)."""
    inner = {**environ, "PATH_INFO": room.path, "REQUEST_METHOD": "PROPFIND", "HTTP_DEPTH": "0",
             "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    inner.pop("HTTP_ACCEPT_ENCODING", None)   # a plain body to parse
    captured = {}

    def capture(status, headers, exc_info=None):
        captured["status"] = status
    with context.request(identity.actor() if identity else None):
        answered = b"".join(front.radicale(inner, capture))
    if not captured.get("status", "").startswith("207"):
        return []
    try:
        return etree.fromstring(answered, davxml.parser()).findall(d("response"))
    except etree.XMLSyntaxError:
        return []


"""A calendar's ETags, listed without Radicale's per-item element tree (issue 16).

A calendar app's first look at a calendar is a Depth-1 PROPFIND of every item's DAV:getetag
(and DAV:getcontenttype): 10 000 responses for a room with a few years of bookings.
Radicale decides rights for each item, builds an element tree of them and serializes it:
about 50 µs an item, most of the answer's time once the store serves the items from their
stamps (storage/stamps.py).  For exactly that request this writes the same bytes directly:
the items are Radicale's own (the store's ``discover``, under its lock), each ETag is the
item's, the collection's ETag is Radicale's property, and the rights are decided once, as
Radicale decides them for every item of one collection (by the collection's path).

Anything else (other properties, Depth 0 or infinity, a share, free-busy-only rights, a
collection inside the calendar, another encoding) goes to Radicale's PROPFIND as it is.
"""

import io
from http import client
from urllib.parse import quote
from xml.sax.saxutils import escape

import radicale.app
from defusedxml import ElementTree as DefusedET
from radicale import httputils, pathutils, rights, storage, xmlutils
from radicale.app.base import Access

GETETAG, GETCONTENTTYPE = xmlutils.make_clark("D:getetag"), xmlutils.make_clark("D:getcontenttype")
LISTED = frozenset({GETETAG, GETCONTENTTYPE})
PROPFIND, PROP = xmlutils.make_clark("D:propfind"), xmlutils.make_clark("D:prop")
OK = "<status>HTTP/1.1 200 OK</status>"


class Application(radicale.app.Application):
    def do_PROPFIND(self, environ, base_prefix, path, user, user_groups, request_info):
        try:
            raw = httputils.read_raw_request_body(self.configuration, environ)
        except RuntimeError:
            raw = None
        if raw is not None:
            environ["wsgi.input"] = io.BytesIO(raw)   # Radicale reads it again when it answers
            answer = self._etag_listing(environ, base_prefix, path, user, user_groups, raw)
            if answer is not None:
                request_info["status"] = client.MULTI_STATUS
                return answer
        return super().do_PROPFIND(environ, base_prefix, path, user, user_groups, request_info)

    def _etag_listing(self, environ, base_prefix, path, user, user_groups, raw: bytes):
        request = _listing_request(raw, environ.get("HTTP_DEPTH", "0"))
        if request is None or self._encoding != "utf-8" or self._sharing._enabled:
            return None
        access = Access(self._rights, user, user_groups, path)
        if not access.check("r"):   # (free-busy only, or nothing: Radicale answers)
            return None
        with self._storage.acquire_lock("r", user):
            found = iter(self._storage.discover(path, "1"))
            collection = next(found, None)
            if not isinstance(collection, storage.BaseCollection) or collection.tag != "VCALENDAR" \
                    or not access.check("r", collection):
                return None
            items = list(found)
        if any(isinstance(item, storage.BaseCollection) for item in items):
            return None
        raw_permissions = self._rights.authorization(
            user, user_groups, pathutils.unstrip_path(collection.path, True))
        if not rights.intersect(raw_permissions, "rw") or "r" not in raw_permissions \
                and "f" in raw_permissions:
            return None
        props = [prop.tag for prop in request[0]]
        body = _multistatus(base_prefix, collection, items, props)
        headers = {"DAV": httputils.DAV_HEADERS, "Content-Type": "text/xml; charset=utf-8"}
        return client.MULTI_STATUS, headers, body, xmlutils.pretty_xml(request)


def _listing_request(raw: bytes, depth: str):
    """The request's XML when it is a Depth-1 PROPFIND of nothing but getetag and
    getcontenttype; else None."""
    if depth != "1" or not raw:
        return None
    try:
        request = DefusedET.fromstring(raw)
    except Exception:   # (Radicale answers a body it cannot read)
        return None
    if request.tag != PROPFIND or len(request) != 1 or request[0].tag != PROP:
        return None
    props = {prop.tag for prop in request[0]}
    return request if props and props <= LISTED else None


def _multistatus(base_prefix: str, collection, items, props) -> bytes:
    """What Radicale's xml_propfind and ElementTree write for the collection, then its items."""
    calendar_path = pathutils.unstrip_path(collection.path, True)
    parts = ["<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns=\"DAV:\">",
             _response(xmlutils.make_href(base_prefix, calendar_path), props, collection.etag,
                       xmlutils.MIMETYPES["VCALENDAR"])]
    prefix = xmlutils.make_href(base_prefix, calendar_path)
    content_types = {}
    for item in items:
        component = item.component_name
        content_type = content_types.get(component)
        if content_type is None:
            content_type = content_types[component] = xmlutils.get_content_type(item, "utf-8")
        # (make_href quotes prefix + path character by character: the same as quoting each)
        parts.append(_response(prefix + quote(item.href), props, item.etag, content_type))
    parts.append("</multistatus>")
    return "".join(parts).encode("utf-8")


def _response(href: str, props, etag: str, content_type: str) -> str:
    values = {GETETAG: "<getetag>%s</getetag>" % escape(etag),
              GETCONTENTTYPE: "<getcontenttype>%s</getcontenttype>" % escape(content_type)}
    return "<response><href>%s</href><propstat><prop>%s</prop>%s</propstat></response>" % (
        escape(href), "".join(values[prop] for prop in props), OK)

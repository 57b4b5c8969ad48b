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
Radicale writes that answer after releasing its lock; when it will hold items'
getcontentlength, the store is told to read their texts while it lists them.

The same for the other look a calendar app takes: a sync-collection REPORT of those two
properties (Thunderbird's and DAVx5's first sync lists every item).  Radicale's answer
reads each item's text for its ETag, and takes its items off the front of a list one by
one: quadratic, ten seconds at 100 000 items.  Here: the store's ``sync`` and
``get_multi``, the bytes Radicale writes (the token first, then the items gone, then the
others, in the store's order).

Both answers are written as their responses are made, and compressed as they come when the
client takes gzip: for 100 000 items, a 4 MB answer in memory instead of 28 MB and its copy.
"""

import io
import itertools
import re
import zlib
from http import client
from typing import Iterable
from urllib.parse import quote
from xml.sax.saxutils import escape

import radicale.app
from defusedxml import ElementTree as DefusedET
from radicale import httputils, pathutils, rights, storage, xmlutils
from radicale.app.base import Access

from roomcal.storage import context

GETETAG, GETCONTENTTYPE = xmlutils.make_clark("D:getetag"), xmlutils.make_clark("D:getcontenttype")
LISTED = frozenset({GETETAG, GETCONTENTTYPE})
PROPFIND, PROP = xmlutils.make_clark("D:propfind"), xmlutils.make_clark("D:prop")
SYNC_COLLECTION, SYNC_TOKEN = xmlutils.make_clark("D:sync-collection"), xmlutils.make_clark("D:sync-token")
SYNC_PARTS = frozenset({SYNC_TOKEN, xmlutils.make_clark("D:sync-level"), PROP})
ALLPROP, GETCONTENTLENGTH = xmlutils.make_clark("D:allprop"), xmlutils.make_clark("D:getcontentlength")
OK = "<status>HTTP/1.1 200 OK</status>"


class Application(radicale.app.Application):
    def do_PROPFIND(self, environ, base_prefix, path, user, user_groups, request_info):
        raw = self._body(environ)
        answer = None
        if raw is not None:
            request = _parsed(raw)
            if not raw.strip() or request is not None and _reads_item_texts(request):
                context.note_texts_after_lock()
            answer = self._etag_listing(environ, base_prefix, path, user, user_groups, request)
        if answer is None:
            return super().do_PROPFIND(environ, base_prefix, path, user, user_groups, request_info)
        request_info["status"] = client.MULTI_STATUS
        return answer

    def _body(self, environ):
        """The request's body (None when Radicale refuses it: then it answers), read so that
        Radicale reads it again when it answers."""
        try:
            raw = httputils.read_raw_request_body(self.configuration, environ)
        except RuntimeError:
            return None
        environ["wsgi.input"] = io.BytesIO(raw)
        return raw

    def _etag_listing(self, environ, base_prefix, path, user, user_groups, request):
        if request is None or not _is_listing(request, environ.get("HTTP_DEPTH", "0")):
            return None
        access = self._listing_access(path, user, user_groups)
        if access is None:
            return None
        with self._storage.acquire_lock("r", user), context.listing_etags_only():
            found = iter(self._storage.discover(path, "1"))
            collection = next(found, None)
            if not _readable_calendar(collection, access):
                return None
            items = list(found)
            if any(isinstance(item, storage.BaseCollection) for item in items):
                return None
            etag = collection.etag   # (from the same listing)
        if not self._fully_readable(collection, user, user_groups):
            return None
        props = [prop.tag for prop in request[0]]
        headers = {"DAV": httputils.DAV_HEADERS, "Content-Type": "text/xml; charset=utf-8"}
        return _answer(environ, headers, _multistatus(base_prefix, collection, etag, items, props), request)

    def do_REPORT(self, environ, base_prefix, path, user, user_groups, request_info):
        raw = self._body(environ)
        # (other REPORTs, a multiget of many hrefs among them, are not parsed twice)
        answer = None if raw is None or b"sync-collection" not in raw else \
            self._sync_listing(environ, base_prefix, path, user, user_groups, _parsed(raw))
        if answer is None:
            return super().do_REPORT(environ, base_prefix, path, user, user_groups, request_info)
        request_info["status"] = client.MULTI_STATUS
        return answer

    def _sync_listing(self, environ, base_prefix, path, user, user_groups, request):
        if request is None or not _is_sync_listing(request):
            return None
        access = self._listing_access(path, user, user_groups)
        if access is None:
            return None
        token_element = request.find(SYNC_TOKEN)
        old_token = (token_element.text or "").strip() if token_element is not None else ""
        with self._storage.acquire_lock("r", user), context.listing_etags_only():
            collection = next(iter(self._storage.discover(path)), None)
            if not _readable_calendar(collection, access):
                return None
            try:
                token, names = collection.sync(old_token)
            except ValueError:   # (Radicale refuses the token, and logs it)
                return None
            gone, items = _changed(collection, old_token, names)
        if not self._fully_readable(collection, user, user_groups):
            return None
        props = [prop.tag for prop in request.find(PROP)]
        headers = {"Content-Type": "text/xml; charset=utf-8"}
        return _answer(environ, headers, _sync_multistatus(base_prefix, collection, token, gone, items, props),
                       request)

    def _listing_access(self, path, user, user_groups):
        """The request's rights, or None for what these listings leave to Radicale: another
        encoding, shares, and free-busy-only or no rights (Radicale answers)."""
        if self._encoding != "utf-8" or self._sharing._enabled:
            return None
        access = Access(self._rights, user, user_groups, path)
        return access if access.check("r") else None

    def _fully_readable(self, collection, user, user_groups) -> bool:
        raw_permissions = self._rights.authorization(
            user, user_groups, pathutils.unstrip_path(collection.path, True))
        return rights.intersect(raw_permissions, "rw") and not ("r" not in raw_permissions
                                                                and "f" in raw_permissions)


def _parsed(raw: bytes):
    try:
        return DefusedET.fromstring(raw) if raw else None
    except Exception:   # (Radicale answers a body it cannot read)
        return None


def _is_listing(request, depth: str) -> bool:
    """A Depth-1 PROPFIND of nothing but getetag and getcontenttype."""
    if depth != "1" or request.tag != PROPFIND or len(request) != 1 or request[0].tag != PROP:
        return False
    props = {prop.tag for prop in request[0]}
    return bool(props) and props <= LISTED


def _is_sync_listing(request) -> bool:
    """A sync-collection of nothing but getetag and getcontenttype (and no filter, no limit)."""
    if request.tag != SYNC_COLLECTION or any(part.tag not in SYNC_PARTS for part in request):
        return False
    prop = request.find(PROP)
    return prop is not None and len(prop) > 0 and {p.tag for p in prop} <= LISTED


def _readable_calendar(collection, access) -> bool:
    return isinstance(collection, storage.BaseCollection) and collection.tag == "VCALENDAR" \
        and access.check("r", collection)


def _reads_item_texts(request) -> bool:
    """Whether Radicale's answer holds items' getcontentlength, which it works out from
    their texts after releasing its lock (so does allprop, and an empty body)."""
    return request.find(ALLPROP) is not None or request.find(f"{PROP}/{GETCONTENTLENGTH}") is not None


def _multistatus(base_prefix: str, collection, etag: str, items, props) -> Iterable[str]:
    """What Radicale's xml_propfind and ElementTree write for the collection, then its items."""
    href = xmlutils.make_href(base_prefix, pathutils.unstrip_path(collection.path, True))
    return _document(_response(href, props, etag, xmlutils.MIMETYPES["VCALENDAR"]),
                     _item_responses(href, items, props))


def _changed(collection, old_token: str, names) -> tuple:
    """(names gone, items) of ``collection.get_multi(names)``, as Radicale asks it.  A first
    sync's names are every item's: ``get_all`` lists them without looking each name up
    (on PostgreSQL without an array of 100 000 names), used when it lists the same ones in
    the same order."""
    names = list(names)
    if not old_token:
        items = list(collection.get_all())
        if len(items) == len(names) and all(item.href == name for item, name in zip(items, names)):
            return [], items
    found = list(collection.get_multi(names))
    return [name for name, item in found if not item], [item for _, item in found if item]


def _sync_multistatus(base_prefix: str, collection, token: str, gone, items, props) -> Iterable[str]:
    """What Radicale's xml_report and ElementTree write for a sync-collection: the new token,
    a 404 for each item gone, then the items."""
    href = xmlutils.make_href(base_prefix, pathutils.unstrip_path(collection.path, True))
    gone = ("<response><href>%s</href><status>HTTP/1.1 404 Not Found</status></response>"
            % escape(href + quote(name)) for name in gone)
    return _document("<sync-token>%s</sync-token>" % escape(token), gone, _item_responses(href, items, props))


def _document(first: str, *rest: Iterable[str]) -> Iterable[str]:
    """The multistatus document of ``first`` and then the parts of ``rest``."""
    return itertools.chain(("<?xml version='1.0' encoding='utf-8'?>\n<multistatus xmlns=\"DAV:\">", first),
                           itertools.chain.from_iterable(rest), ("</multistatus>",))


def _answer(environ, headers: dict, parts: Iterable[str], request) -> tuple:
    """Radicale's answer of the document ``parts``, its bytes made as the parts come: one
    copy of the answer in memory (joining 100 000 responses, then encoding them, held three),
    compressed as it comes when the client takes gzip (as Radicale decides it).  Radicale
    compresses a whole answer after it is made (28 MB, and its copy, for 100 000 items): it
    is told the client takes no gzip, so that it sends these bytes as they are (its log
    line calls them "plain")."""
    takes_gzip = "gzip" in (e.strip() for e in environ.get("HTTP_ACCEPT_ENCODING", "").split(","))
    out = _Compressed() if takes_gzip else io.BytesIO()
    for part in parts:
        out.write(part.encode("utf-8"))
    if takes_gzip:
        headers["Content-Encoding"] = "gzip"
        environ["HTTP_ACCEPT_ENCODING"] = "identity"
    return client.MULTI_STATUS, headers, out.getvalue(), xmlutils.pretty_xml(request)


class _Compressed:
    """What Radicale's response sends for gzip (the same zlib stream), compressed every
    ``CHUNK`` bytes written."""
    CHUNK = 1 << 18

    def __init__(self):
        self._zip = zlib.compressobj(wbits=16 + zlib.MAX_WBITS)
        self._plain, self._out = io.BytesIO(), io.BytesIO()

    def write(self, data: bytes) -> None:
        self._plain.write(data)
        if self._plain.tell() >= self.CHUNK:
            self._out.write(self._zip.compress(self._plain.getvalue()))
            self._plain.seek(0)
            self._plain.truncate()

    def getvalue(self) -> bytes:
        self._out.write(self._zip.compress(self._plain.getvalue()) + self._zip.flush())
        return self._out.getvalue()   # (the buffer itself, not a copy)


def _item_responses(collection_href: str, items, props):
    response = _template(props)
    content_types = {}
    for item in items:
        component = item.component_name
        content_type = content_types.get(component)
        if content_type is None:
            content_type = content_types[component] = escape(xmlutils.get_content_type(item, "utf-8"))
        # (make_href quotes prefix + path character by character: the same as quoting each)
        href = item.href if _UNQUOTED.fullmatch(item.href) else quote(item.href)
        yield response % {"href": _escaped(collection_href + href), "etag": _escaped(item.etag),
                          "type": content_type}


def _response(href: str, props, etag: str, content_type: str) -> str:
    return _template(props) % {"href": escape(href), "etag": escape(etag), "type": escape(content_type)}


def _template(props) -> str:
    """A response with ``props`` in their order (a prop asked twice is answered twice), its
    values' places named: one format for all the items of a listing."""
    values = {GETETAG: "<getetag>%(etag)s</getetag>", GETCONTENTTYPE: "<getcontenttype>%(type)s</getcontenttype>"}
    return "<response><href>%%(href)s</href><propstat><prop>%s</prop>%s</propstat></response>" % (
        "".join(values[prop] for prop in props), OK)


# What quote() leaves as it is (its safe "/" and the characters always safe): most hrefs.
_UNQUOTED = re.compile(r"[A-Za-z0-9_.~/-]*")


def _escaped(text: str) -> str:
    return escape(text) if "&" in text or "<" in text or ">" in text else text

"""Subscription feeds (issue 6): the public ``/.feeds/<secret>.ics`` and ``/api/rooms/<id>/feeds``.

The public URL is answered by the front before any authentication and never
reaches Radicale: GET and HEAD serve the feed, every other method is 405, an
unknown, revoked or malformed secret (or any other path under ``/.feeds/``)
is 404.  The secret is a credential for that one feed only: it is not an API
token (as a Bearer token it is a 401) and grants nothing on Radicale's paths.
Feed bodies are cached per process by their inputs (the bookings' texts, the
room, the window), so a refresh of an unchanged room parses nothing.
"""

import hashlib
import json
import logging
import re
import threading
from email.utils import formatdate, parsedate_to_datetime

from werkzeug.routing import Rule

from roomcal.server import errors
from roomcal.server.openapi import NO_CONTENT, answer, body, describe, error
from roomcal.storage import feeds as feed_store
from roomcal.storage.errors import NotFound

logger = logging.getLogger("roomcal.feeds")
PUBLIC = re.compile(r"/\.feeds/([^/]+)\.ics")
ALLOW = "GET, HEAD"
CACHE_SIZE = 64
_cache = {}
_cache_lock = threading.Lock()


# -- the public feed ------------------------------------------------------------------------
def serve_public(front, environ, start_response):
    """WSGI answer for any path under /.feeds/ (no credentials needed, none used)."""
    method = environ.get("REQUEST_METHOD", "GET").upper()
    if method not in ("GET", "HEAD"):
        return _plain(start_response, 405, "A feed can only be read (GET or HEAD).",
                      [("Allow", ALLOW)])
    match = PUBLIC.fullmatch(environ.get("PATH_INFO", ""))
    store = front.storage.feeds
    feed = store.check(match.group(1)) if match else None
    if feed is None:
        return _plain(start_response, 404, "There is no feed at this address: the link is "
                                           "incomplete, or the feed was revoked.")
    try:
        body, last_modified = _body(front.storage, feed)
    except NotFound:
        return _plain(start_response, 404, "The room of this feed no longer exists.")
    except Exception:  # never a traceback with the URL in it (gunicorn logs the request line)
        logger.exception("Feed %s of room %s could not be built", feed.id, feed.room)
        return _plain(start_response, 500, "This feed cannot be built right now; "
                                           "please tell the room's manager.")
    etag = '"%s"' % hashlib.sha256(body).hexdigest()[:40]
    headers = [("ETag", etag), ("Last-Modified", formatdate(last_modified, usegmt=True)),
               ("Cache-Control", "private, max-age=0, must-revalidate"),
               ("X-Robots-Tag", "noindex"), ("Referrer-Policy", "no-referrer")]
    if _not_modified(environ, etag, last_modified):
        start_response("304 Not Modified", headers)
        return [b""]
    headers += [("Content-Type", "text/calendar; charset=utf-8"),
                ("Content-Disposition", f'inline; filename="{feed.room}.ics"'),
                ("Content-Length", str(len(body)))]
    start_response("200 OK", headers)
    return [b"" if method == "HEAD" else body]


def _body(storage, feed):
    store = storage.feeds
    window = store.window()
    room, sources, newest = feed_store.read_room(storage, feed.room, window)
    digest = hashlib.sha256(json.dumps(
        [feed.busy_only, feed.salt, window, room.to_json(), getattr(room, "busy_title", "")],
        sort_keys=True, default=str).encode())
    for source in sources:
        digest.update(b"\0" + source.href.encode() + b"\0" + source.text.encode())
    key = digest.hexdigest()
    with _cache_lock:
        body = _cache.get(key)
    if body is None:
        body = feed_store.render(room, sources, busy_only=feed.busy_only, key=feed.salt, window=window,
                                 max_occurrences=storage.core.max_occurrences)
        with _cache_lock:
            if len(_cache) >= CACHE_SIZE:
                _cache.pop(next(iter(_cache)))
            _cache[key] = body
    # The window moves every day: the body may change at midnight UTC without any write.
    return body, max(newest, window[0] + store.past_days * 86400, feed.created)


def _not_modified(environ, etag, last_modified) -> bool:
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        tags = [t.strip() for t in if_none_match.split(",")]
        return "*" in tags or etag in tags or f"W/{etag}" in tags
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since:
        try:
            return int(last_modified) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError, IndexError, OverflowError):
            return False
    return False


def _plain(start_response, status, message, headers=()):
    from http import HTTPStatus
    body = f"{message}\n".encode()
    start_response(f"{status} {HTTPStatus(status).phrase}",
                   [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))),
                    *headers])
    return [body]


# -- /api/rooms/<id>/feeds -------------------------------------------------------------------
def _managed_room(api, identity, room_id, writing):
    """The room, or a 403 answer: feeds are for the room's managers and admins."""
    room = api.room(room_id)
    if writing and identity.read_only:
        return room, errors.json_error(403, "forbidden", "This token is read-only: it cannot "
                                                         "create or revoke feeds.")
    if not api.storage.core.is_manager(room, identity.actor()):
        return room, errors.json_error(403, "forbidden", f"Only managers of {room.name} and admins "
                                                         "may see or change its feeds.")
    return room, None


@describe("List a room's feeds (managers)",
          responses={"200": answer("The feeds.", "FeedList")})
def list_feeds(api, request, identity, room_id):
    room, refused = _managed_room(api, identity, room_id, writing=False)
    if refused:
        return refused
    return errors.json_response(200, {"feeds": [f.to_json() for f in api.storage.feeds.list(room.id)]})


@describe("Create a subscription feed",
          request=body("FeedChange", required=False),
          responses={"201": answer("Created; the link is shown only now.",
                                   "FeedCreated")},
          errors=error("400", "BadRequest"))
def create_feed(api, request, identity, room_id):
    room, refused = _managed_room(api, identity, room_id, writing=True)
    if refused:
        return refused
    empty = not request.content_length and "Transfer-Encoding" not in request.headers
    data = {} if empty else api.json_body(request)
    if not isinstance(data, dict):
        return errors.json_error(400, "badRequest", 'Send a JSON object such as '
                                                    '{"busyOnly": true, "label": "door display"}.')
    unknown = sorted(set(data) - {"busyOnly", "label"})
    if unknown:  # a typo such as "busy_only" must not silently make a full feed
        return errors.json_error(400, "badRequest", f"Unknown field(s): {', '.join(unknown)}; "
                                                    "a feed takes busyOnly and label.")
    busy_only, label = data.get("busyOnly", False), data.get("label", "")
    if not isinstance(busy_only, bool):
        return errors.json_error(400, "badRequest", "busyOnly must be true or false.")
    if label is None:
        label = ""
    if not isinstance(label, str):
        return errors.json_error(400, "badRequest", "label must be a string.")
    try:
        feed, secret = api.storage.feeds.create(room.id, busy_only=busy_only, label=label,
                                                created_by=identity.user)
    except feed_store.FeedError as e:
        return errors.json_error(400, "badRequest", str(e)[0].upper() + str(e)[1:] + ".")
    url = api.storage.feeds.url(secret, request.root_url)
    body = {**feed.to_json(), "url": url, "webcal": feed_store.webcal(url)}
    return errors.json_response(201, body, [("Location", body["href"]), ("Cache-Control", "no-store")])


@describe("One feed", responses={"200": answer("The feed.", "Feed")})
def get_feed(api, request, identity, room_id, feed_id):
    room, refused = _managed_room(api, identity, room_id, writing=False)
    if refused:
        return refused
    feed = api.storage.feeds.get(feed_id)
    if feed is None or feed.room != room.id:
        return errors.json_error(404, "notFound", f"There is no feed {feed_id!r} in {room.name}.")
    return errors.json_response(200, feed.to_json())


@describe("Revoke a feed", responses=NO_CONTENT)
def revoke_feed(api, request, identity, room_id, feed_id):
    room, refused = _managed_room(api, identity, room_id, writing=True)
    if refused:
        return refused
    try:
        api.storage.feeds.revoke(feed_id, room.id)
    except feed_store.FeedError:
        return errors.json_error(404, "notFound", f"There is no feed {feed_id!r} in {room.name}.")
    return 204, [], b""


ROUTES = [
    Rule("/api/rooms/<room_id>/feeds", endpoint=list_feeds, methods=["GET"]),
    Rule("/api/rooms/<room_id>/feeds", endpoint=create_feed, methods=["POST"]),
    Rule("/api/rooms/<room_id>/feeds/<feed_id>", endpoint=get_feed, methods=["GET"]),
    Rule("/api/rooms/<room_id>/feeds/<feed_id>", endpoint=revoke_feed, methods=["DELETE"]),
]

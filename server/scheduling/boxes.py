"""A user's schedule inbox and outbox (RFC 6638 2.2, 2.1): ``/<user>/.schedule-inbox/``
and ``/<user>/.schedule-outbox/``.

The inbox holds the scheduling messages delivered to the user (storage/scheduling/inbox.py: REQUEST
and CANCEL from organizers, REPLY from attendees), beside the copies that went straight
into their calendar.  Clients list it (PROPFIND Depth 1, sync-collection), fetch the
messages (GET, calendar-multiget), and DELETE them once processed — Thunderbird's
``pollInbox`` does exactly that; nobody writes into it but the server.  The outbox only
takes POSTs (free/busy requests, server/scheduling/outbox.py).  Both are the owner's (and
an admin's) alone.
"""

import email.utils
import urllib.parse

from roomcal.server import errors
from roomcal.server.request_body import read_body
from roomcal.server.scheduling import davxml, outbox
from roomcal.server.scheduling.davxml import PropRequest, c, cs, d, element, hrefs
from roomcal.server.scheduling.principal_props import INBOX, base_prefix, common_props
from roomcal.storage.errors import Refusal
from roomcal.storage.scheduling import addresses
from roomcal.storage.scheduling.inbox import InvalidToken

INBOX_PRIVILEGES = ("schedule-deliver", "schedule-deliver-invite", "schedule-deliver-reply",
                    "schedule-query-freebusy")
OUTBOX_PRIVILEGES = ("schedule-send", "schedule-send-invite", "schedule-send-reply",
                     "schedule-send-freebusy")
MESSAGE_TYPE = "text/calendar; component=VEVENT; charset=utf-8"
INBOX_REPORTS = (d("sync-collection"), c("calendar-multiget"))
# A multiget asks for at most this many hrefs (an inbox holds at most 500 messages).
MAX_HREFS = 1000
ITEM_ALLOWED = "OPTIONS, GET, HEAD, DELETE, PROPFIND"


def answer(front, environ, identity, who, parts: list, method: str):
    """(status, headers, body) for ``/<user>/<box>/...``."""
    user, box = parts[0], parts[1]
    inbox = box == INBOX
    name = "schedule inbox" if inbox else "schedule outbox"
    if method == "POST" and not inbox and len(parts) == 2:   # it checks who may send itself
        return outbox.answer_post(front, environ, identity, user)
    if front.login_required and who.user != user and not who.actor.admin:
        return errors.dav_forbidden(f"This is {user}'s {name}; only they can use it.", "not-owner")
    if front.login_required and who.storage.accounts.get_user(user) is None:
        return errors.dav_answer(404, f"There is no user {user!r}.", "not-found")
    if inbox:
        return _inbox(who, environ, user, parts[2:], method)
    if len(parts) > 2:
        return errors.dav_answer(404, f"There is nothing in the {name}.", "not-found")
    if method == "REPORT":   # not a principal search (server/scheduling/dav.py): nothing inside
        return 207, davxml.XML_TYPE, davxml.serialize(davxml.multistatus())
    if method != "PROPFIND":
        status, headers, body = errors.dav_answer(
            405, f"{method} is not allowed on the {name}: it only takes POSTs of free/busy requests.",
            "method-not-allowed")
        return status, [*headers, ("Allow", "OPTIONS, PROPFIND, REPORT, POST")], body
    asked = PropRequest.from_propfind(davxml.parse(read_body(environ)))
    props = _props(who, user, False, name)
    root = davxml.multistatus()
    root.append(davxml.response(who.href(f"{addresses.user_principal(user)}{box}/"),
                                asked.wanted(props), props, names_only=asked.propname))
    return 207, davxml.XML_TYPE, davxml.serialize(root)


def _props(who, user: str, inbox: bool, name: str) -> dict:
    privileges = ["read", *[f"{{{davxml.CALDAV}}}{p}" for p in
                            (INBOX_PRIVILEGES if inbox else OUTBOX_PRIVILEGES)]]
    if inbox:   # the owner removes processed messages
        privileges += ["unbind"]
    props = {
        d("resourcetype"): lambda tag: element(tag, children=[
            element(d("collection")), element(c("schedule-inbox" if inbox else "schedule-outbox"))]),
        d("displayname"): lambda tag: element(tag, name[0].upper() + name[1:]),
        d("owner"): lambda tag: hrefs(tag, [who.href(addresses.user_principal(user))]),
        d("current-user-privilege-set"): lambda tag: element(tag, children=[
            element(d("privilege"), children=[element(p if p.startswith("{") else d(p))])
            for p in privileges]),
        **common_props(who),
        d("supported-report-set"): lambda tag: element(tag),
    }
    if inbox:
        store = who.storage.inbox
        props[cs("getctag")] = lambda tag: element(tag, store.ctag(user))
        props[d("sync-token")] = lambda tag: element(tag, store.token())
        props[d("supported-report-set")] = lambda tag: element(tag, children=[
            element(d("supported-report"), children=[element(d("report"), children=[element(report)])])
            for report in INBOX_REPORTS])
    return props


# -- the inbox ----------------------------------------------------------------------------------
def _inbox(who, environ, user: str, rest: list, method: str):
    store = who.storage.inbox
    if len(rest) > 1:
        return errors.dav_answer(404, "The schedule inbox holds messages, not folders.", "not-found")
    if rest:
        return _message(who, environ, user, rest[0], method)
    if method == "REPORT":
        root = davxml.parse(read_body(environ))
        if root is not None and root.tag == d("sync-collection"):
            return _sync(who, user, root)
        if root is not None and root.tag == c("calendar-multiget"):
            return _multiget(who, environ, user, root)
        return 207, davxml.XML_TYPE, davxml.serialize(davxml.multistatus())
    if method != "PROPFIND":
        status, headers, body = errors.dav_answer(
            405, f"{method} is not allowed on the schedule inbox: it is read with PROPFIND and "
                 "REPORT, and its messages are deleted one by one.", "method-not-allowed")
        return status, [*headers, ("Allow", "OPTIONS, PROPFIND, REPORT")], body
    asked = PropRequest.from_propfind(davxml.parse(read_body(environ)))
    props = _props(who, user, True, "schedule inbox")
    root = davxml.multistatus()
    root.append(davxml.response(who.href(_inbox_path(user)), asked.wanted(props), props,
                                names_only=asked.propname))
    if davxml.depth(environ, "1") != "0":
        for message in store.list(user):
            root.append(_message_response(who, user, message, asked))
    return 207, davxml.XML_TYPE, davxml.serialize(root)


def _inbox_path(user: str) -> str:
    return f"{addresses.user_principal(user)}{INBOX}/"


def _message_props(message) -> dict:
    return {
        d("getetag"): lambda tag: element(tag, message.etag),
        d("getcontenttype"): lambda tag: element(tag, MESSAGE_TYPE),
        d("resourcetype"): lambda tag: element(tag),
        d("getlastmodified"): lambda tag: element(tag, email.utils.formatdate(message.created, usegmt=True)),
        d("getcontentlength"): lambda tag: element(tag, str(len(message.text.encode("utf-8")))),
        c("calendar-data"): lambda tag: element(tag, message.text),
    }


def _message_response(who, user: str, message, asked: PropRequest):
    props = _message_props(message)
    # calendar-data is never part of allprop (RFC 4791 9.6)
    names = [name for name in props if name != c("calendar-data")]
    return davxml.response(who.href(_inbox_path(user) + message.href), asked.wanted(names), props,
                           names_only=asked.propname)


def _message(who, environ, user: str, name: str, method: str):
    store = who.storage.inbox
    found = store.get(user, name)
    if method in ("PUT", "COPY", "MOVE", "MKCOL", "MKCALENDAR", "PROPPATCH", "POST"):
        return errors.dav_forbidden("Nothing is written into a schedule inbox but by the server "
                                    "(RFC 6638): invitations and replies arrive there by themselves.",
                                    "not-allowed")
    if found is None:
        return errors.dav_answer(404, f"There is no message {name!r} in this schedule inbox "
                                      "(processed and deleted already?).", "not-found")
    if method in ("GET", "HEAD"):
        headers = [("Content-Type", MESSAGE_TYPE), ("ETag", found.etag),
                   ("Last-Modified", email.utils.formatdate(found.created, usegmt=True))]
        return 200, headers, found.text.encode("utf-8") if method == "GET" else b""
    if method == "DELETE":
        wanted = environ.get("HTTP_IF_MATCH")
        if wanted and wanted.strip() != "*" and found.etag not in [t.strip() for t in wanted.split(",")]:
            return errors.dav_answer(412, "This message is not the one the If-Match header names.",
                                     "precondition-failed")
        if not store.remove(user, name):   # someone else deleted it first
            return errors.dav_answer(404, f"There is no message {name!r} in this schedule inbox.",
                                     "not-found")
        return 204, [], b""
    if method == "PROPFIND":
        asked = PropRequest.from_propfind(davxml.parse(read_body(environ)))
        root = davxml.multistatus()
        root.append(_message_response(who, user, found, asked))
        return 207, davxml.XML_TYPE, davxml.serialize(root)
    status, headers, body = errors.dav_answer(
        405, f"{method} is not allowed on a message of the schedule inbox.", "method-not-allowed")
    return status, [*headers, ("Allow", ITEM_ALLOWED)], body


def _sync(who, user: str, root):
    """RFC 6578 sync-collection: what came (200 with the properties asked) and went (404)
    since the token; an empty token lists everything."""
    token = (root.findtext(d("sync-token")) or "").strip()
    asked = PropRequest.from_prop(root.find(d("prop")))
    try:
        added, removed, next_token = who.storage.inbox.changes(user, token)
    except InvalidToken as e:
        refusal = Refusal(str(e))
        refusal.namespace, refusal.precondition = davxml.DAV, "valid-sync-token"
        return errors.dav_error(refusal)
    answer = davxml.multistatus()
    for message in added:
        answer.append(_message_response(who, user, message, asked))
    for name in removed:
        answer.append(davxml.status_response(who.href(_inbox_path(user) + name), 404))
    answer.append(element(d("sync-token"), next_token))
    return 207, davxml.XML_TYPE, davxml.serialize(answer)


def _multiget(who, environ, user: str, root):
    """RFC 4791 7.9: each href asked for, with its properties (404 for one not here)."""
    asked = PropRequest.from_prop(root.find(d("prop")))
    wanted = [h.text or "" for h in root.findall(d("href"))]
    if len(wanted) > MAX_HREFS:
        return errors.dav_answer(400, f"A calendar-multiget asks for at most {MAX_HREFS} hrefs.",
                                 "number-of-matches-within-limits")
    messages = {m.href: m for m in who.storage.inbox.list(user)}
    here = _inbox_path(user)
    prefix = base_prefix(environ)
    answer = davxml.multistatus()
    for href in wanted:
        path = urllib.parse.unquote(urllib.parse.urlsplit(href.strip()).path)
        if prefix and path.startswith(prefix + "/"):
            path = path[len(prefix):]
        name = path[len(here):] if path.startswith(here) else None
        message = messages.get(name) if name else None
        if message is None:
            answer.append(davxml.status_response(href, 404))
        else:
            answer.append(_message_response(who, user, message, asked))
    return 207, davxml.XML_TYPE, davxml.serialize(answer)

"""A user's schedule inbox and outbox (RFC 6638 2.2, 2.1): ``/<user>/.schedule-inbox/``
and ``/<user>/.schedule-outbox/``.

Invitations go straight into the invitee's calendar, so the inbox is always empty;
the outbox only takes POSTs (free/busy requests, server/schedule_outbox.py).  Both
are the owner's (and an admin's) alone.
"""

from roomcal.server import davxml, errors, schedule_outbox
from roomcal.server.davxml import PropRequest, c, cs, d, element, hrefs
from roomcal.server.principal_props import INBOX, common_props
from roomcal.server.request_body import read_body
from roomcal.storage import addresses

INBOX_PRIVILEGES = ("schedule-deliver", "schedule-deliver-invite", "schedule-deliver-reply",
                    "schedule-query-freebusy")
OUTBOX_PRIVILEGES = ("schedule-send", "schedule-send-invite", "schedule-send-reply",
                     "schedule-send-freebusy")
# Nothing ever arrives: one tag for ever, so clients that poll the inbox stop there.
EMPTY_CTAG = '"roomcal-schedule-inbox-empty"'


def answer(front, environ, identity, who, parts: list, method: str):
    """(status, headers, body) for ``/<user>/<box>/...``."""
    user, box = parts[0], parts[1]
    inbox = box == INBOX
    name = "schedule inbox" if inbox else "schedule outbox"
    if method == "POST" and not inbox and len(parts) == 2:   # it checks who may send itself
        return schedule_outbox.answer_post(front, environ, identity, user)
    if front.login_required and who.user != user and not who.actor.admin:
        return errors.dav_forbidden(f"This is {user}'s {name}; only they can use it.", "not-owner")
    if front.login_required and who.storage.accounts.get_user(user) is None:
        return errors.dav_answer(404, f"There is no user {user!r}.", "not-found")
    if len(parts) > 2:
        return errors.dav_answer(404, f"There is nothing in the {name}: invitations go straight "
                                      "into calendars.", "not-found")
    if method == "REPORT":   # not a principal search (server/principals.py): nothing inside
        return 207, davxml.XML_TYPE, davxml.serialize(davxml.multistatus())
    if method != "PROPFIND":
        allowed = "OPTIONS, PROPFIND, REPORT" if inbox else "OPTIONS, PROPFIND, REPORT, POST"
        use = ("it is read with PROPFIND and stays empty: invitations go straight into calendars"
               if inbox else "it only takes POSTs of free/busy requests")
        status, headers, body = errors.dav_answer(
            405, f"{method} is not allowed on the {name}: {use}.", "method-not-allowed")
        return status, [*headers, ("Allow", allowed)], body
    asked = PropRequest.from_propfind(davxml.parse(read_body(environ)))
    props = _props(who, user, inbox, name)
    root = davxml.multistatus()
    root.append(davxml.response(who.href(f"{addresses.user_principal(user)}{box}/"),
                                asked.wanted(props), props, names_only=asked.propname))
    return 207, davxml.XML_TYPE, davxml.serialize(root)


def _props(who, user: str, inbox: bool, name: str) -> dict:
    privileges = ["read", *[f"{{{davxml.CALDAV}}}{p}" for p in
                            (INBOX_PRIVILEGES if inbox else OUTBOX_PRIVILEGES)]]
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
        props[cs("getctag")] = lambda tag: element(tag, EMPTY_CTAG)
    return props

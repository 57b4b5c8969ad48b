"""/api/admin/mail: the outbox for admins — what went out, what waits, what failed for good,
and sending failed mails again (``roomcal mail list|retry`` over HTTP).

Admins only (403 for everyone else; read-only tokens may only list).  A mail is shown
without its body (long, and the recipient's business): id, state, kind, room, booking,
recipient, subject, attempts, last error and its times.
"""

import datetime

from werkzeug.routing import Rule

from roomcal.server import admin, errors
from roomcal.server.openapi import answer, describe, error, query
from roomcal.server.routes.admin import _admin
from roomcal.storage.errors import BadRequest, NotFound
from roomcal.storage.outbox import STATES

MAX_LISTED = 1000   # the newest; sent mails are kept 30 days


def _moment(seconds):
    if not seconds:
        return None
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).isoformat(timespec="seconds")


def mail_json(mail: dict) -> dict:
    return {"id": mail["id"], "state": mail["state"], "kind": mail["kind"], "room": mail["room"],
            "uid": mail["uid"], "recipient": mail["recipient"], "subject": mail["subject"],
            "attempts": mail["attempts"], "lastError": mail["last_error"],
            "created": _moment(mail["created"]), "sent": _moment(mail["sent"]),
            "nextTry": _moment(mail["next_try"]) if mail["state"] == "pending" else None}


@describe("List the outbox's mails (admins)",
          "Newest 1000 at most, oldest first. Bodies are not shown.",
          parameters=[query("state", "only mails in this state", {"type": "string", "enum": list(STATES)})],
          responses={"200": answer("The mails.", "MailList")})
def list_mail(api, request, identity):
    _admin(identity, write=False)
    state = request.args.get("state") or None
    if state is not None and state not in STATES:
        raise BadRequest(f"'state' must be one of {', '.join(STATES)}, not {state!r}.")
    mails = api.storage.notifier.outbox.list(state, limit=MAX_LISTED)
    return errors.json_response(200, {"mails": [mail_json(m) for m in mails]})


@describe("Send one mail again",
          "A failed mail (or a pending one waiting for its next try) is sent at once; a sent "
          "one is 409.",
          responses={"200": answer("Queued.", "MailRetried")}, errors=error("409", "Conflict"))
def retry_mail(api, request, identity, mail_id):
    _admin(identity)
    if not mail_id.isdigit() or len(mail_id) > 18:
        raise NotFound(f"There is no mail {mail_id!r} in the outbox.")
    retried = admin.retry_mail(api.storage, [int(mail_id)], identity.actor())
    return _retried(api, retried)


@describe("Send every failed mail again",
          responses={"200": answer("Queued (none: nothing had failed).", "MailRetried")})
def retry_failed_mail(api, request, identity):
    _admin(identity)
    return _retried(api, admin.retry_mail(api.storage, None, identity.actor()))


def _retried(api, ids):
    outbox = api.storage.notifier.outbox
    return errors.json_response(200, {"retried": ids,
                                      "mails": [mail_json(m) for m in map(outbox.get, ids) if m]})


ROUTES = [
    Rule("/api/admin/mail", endpoint=list_mail, methods=["GET"]),
    Rule("/api/admin/mail/retry", endpoint=retry_failed_mail, methods=["POST"]),
    Rule("/api/admin/mail/<mail_id>/retry", endpoint=retry_mail, methods=["POST"]),
]

"""RFC 6638 / RFC 3744 on the CalDAV URLs: what Radicale does not answer itself.

- the scheduling properties of a user's principal ``/<user>/`` (added to Radicale's
  PROPFIND answer): calendar-user-address-set, schedule-inbox-URL,
  schedule-outbox-URL, schedule-default-calendar-URL, calendar-user-type;
- a room's principal ``/.rooms/<id>/`` (storage/addresses.py);
- the schedule inbox and outbox ``/<user>/.schedule-inbox/``, ``/<user>/.schedule-outbox/``;
- principal-property-search, calendarserver-principal-search, principal-search-property-set;
- ``calendar-auto-schedule`` in the DAV header.
"""

from roomcal.server import schedule_outbox

INBOX, OUTBOX = ".schedule-inbox", ".schedule-outbox"


def answer(front, environ, identity, path: str, method: str):
    """(status, headers, body) for a request this module answers instead of Radicale, else None."""
    parts = path.strip("/").split("/")
    if method == "POST" and len(parts) == 2 and parts[1] == OUTBOX:   # free/busy (RFC 6638 §5)
        return schedule_outbox.answer_post(front, environ, identity, parts[0])
    return None


def augment(front, environ, identity, path: str, method: str, status: int, headers: list, body: bytes):
    """Radicale's answer (status, headers, body) with what scheduling adds to it."""
    return status, headers, body

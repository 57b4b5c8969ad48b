"""RFC 6638 / RFC 3744 on the CalDAV URLs: what Radicale does not answer itself.

A stub in the free/busy branch: only the outbox POST is routed here (the principals
work writes the real module).
"""

from roomcal.server import schedule_outbox

INBOX, OUTBOX = ".schedule-inbox", ".schedule-outbox"


def answer(front, environ, identity, path: str, method: str):
    """(status, headers, body) for a request this module answers instead of Radicale, else None."""
    parts = path.strip("/").split("/")
    if method == "POST" and len(parts) == 2 and parts[1] == OUTBOX:   # free/busy (RFC 6638 §5)
        return schedule_outbox.answer_post(front, environ, identity, parts[0])
    return None

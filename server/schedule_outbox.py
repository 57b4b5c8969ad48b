"""POST to a user's schedule outbox (RFC 6638 free/busy): written by another part of
issue 13; this placeholder only fixes the name server/schedule_boxes.py calls."""


def answer_post(front, environ, identity, user):
    """(status, headers, body) of a POST to ``/<user>/.schedule-outbox/``."""
    raise NotImplementedError("the schedule outbox POST is not in this branch")

"""Scheduling messages for people (RFC 6638 §3, RFC 6047): invitations, replies, cancellations.

Rooms answer for themselves (storage/scheduling.py); every other attendee of an
organizer's event is delivered to here, under the same write lock as the
organizer's write: a local user (an address of ``user add --email``) gets the
event in their default calendar with PARTSTAT=NEEDS-ACTION, anyone else an iMIP
mail (REQUEST / CANCEL with the .ics attached) through the outbox.  An attendee's
change of their own PARTSTAT in their copy is a reply: it updates the organizer's copy.
"""

from typing import Dict, Optional

import icalendar


def deliver(storage, organizer: str, old: Optional[icalendar.Calendar],
            new: Optional[icalendar.Calendar], actor) -> Dict[str, str]:
    """Deliver the organizer's change (``old`` → ``new``; None: created or deleted) to every
    person attendee of it: not rooms, not the organizer, not SCHEDULE-AGENT=CLIENT.
    ``organizer`` is the organizer's user name.  Returns {normalized address: SCHEDULE-STATUS}
    for the attendees of ``new`` that were scheduled (storage/scheduling.py stamps them)."""
    return {}


def reply(storage, attendee: str, old: Optional[icalendar.Calendar], new: icalendar.Calendar,
          actor) -> None:
    """``attendee`` (a user name) wrote their own copy ``new`` of an event someone else
    organizes: a changed PARTSTAT of theirs goes to the organizer's copy (a local
    organizer) or as an iMIP REPLY (anyone else)."""

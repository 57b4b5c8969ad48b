"""Scheduling (RFC 6638, RFC 5546, RFC 6047): meetings that invite rooms and people.

- ``addresses``: whom an ATTENDEE or ORGANIZER value names; ``[scheduling]`` settings.
- ``implicit``: the hook on writes to personal calendars — rooms answer through the
  booking core in the organizer's write lock; room-side changes reflected back; Schedule-Tag.
- ``people``: invitations, replies and cancellations for people (their calendars, their
  inbox, iMIP mail); ``imip`` builds those messages, ``inbox`` keeps the inbox.
- ``freebusy``: busy time of rooms and people for the outbox's free/busy requests.
- ``itip``, ``copies``: iCalendar helpers; a user's copy of an event by UID.
"""

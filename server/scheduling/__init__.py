"""Scheduling on the CalDAV URLs: what Radicale does not answer itself (RFC 6638, RFC 3744).

``dav`` is the front's entry (answer instead of Radicale, or add to its answer):
principals' scheduling properties (``principal_props``), room principals
(``room_principals``), the schedule inbox and outbox (``boxes``; free/busy POSTs in
``outbox``), principal searches (``principal_search``); ``davxml`` is their XML.
The decisions are storage/scheduling/'s.
"""

"""iCalendar TEXT written back exactly as it was read.

icalendar 7.3's ``vText.to_ical`` escapes with ``_escape_char``, which first turns the two
characters backslash and N into a line break (so that text someone typed as "\\N" becomes
one).  Its parser, though, reads an escaped backslash followed by N (``C:\\\\New`` in a
file) as those two characters, so every parse-and-write of a stored event -- the booking
core stamps each booking it admits, JSON writes start from the stored event -- turned
"C:\\New" into "C:", a line break and "ew".  RFC 5545 §3.3.11 escapes backslash,
semicolon, comma and line breaks, and nothing else: this writes exactly that.
``install`` runs when a module that writes iCalendar with icalendar is imported (the booking
model, storage/instances.py; JSCalendar, server/jscalendar/ical.py); again, it changes nothing.
"""

import icalendar.prop.text


def _to_ical(self) -> bytes:
    return (str(self).replace("\\", "\\\\").replace(";", r"\;").replace(",", r"\,")
            .replace("\r\n", r"\n").replace("\n", r"\n").replace("\r", r"\n")).encode(self.encoding)


def install() -> None:
    icalendar.prop.text.vText.to_ical = _to_ical

"""What one value may hold: the checks every input path shares.

A line break in a value that ends up in a line-based format (an htpasswd line,
a mail header, an iCalendar property or parameter, a file name) ends that line
and starts one the writer never meant.  Free text may hold line breaks where
its format escapes them (iCalendar TEXT: SUMMARY, DESCRIPTION); nothing else may.
"""

import email.utils
import re

# C0 and C1 controls, DEL, and the Unicode line and paragraph separators (all of
# which str.splitlines() breaks on).
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# In free text: the same, less tab, CR and LF (iCalendar TEXT escapes those).
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# One address, local@domain: no spaces, quotes, brackets or list separators.
_EMAIL = re.compile(r"[^\s@<>,;:\"()\[\]\\]+@[^\s@<>,;:\"()\[\]\\]+")


def one_line(value: str) -> bool:
    """True when ``value`` has no line break and no control character."""
    return _CONTROL.search(value) is None


def free_text(value: str) -> bool:
    """True when ``value`` is text whose line breaks and tabs are escaped where it goes."""
    return _CONTROL_IN_TEXT.search(value) is None


def is_email(value) -> bool:
    """One e-mail address (``local@domain``), nothing around it."""
    return (isinstance(value, str) and one_line(value) and _EMAIL.fullmatch(value) is not None
            and email.utils.parseaddr(value) == ("", value))

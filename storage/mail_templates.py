"""The mails' templates: Jinja2 text rendered in a sandbox, one file per room.

The kinds of storage/notify.py (approved, declined, cancelled, cleared, released) share
one template (a room's own ``<templates>/rooms/<id>.txt``, else ``default.txt``,
else the built-in one); the mail about a refused CalDAV write has its own
(``refused.txt``, else built-in).  The kinds of ``OWN_TEMPLATES`` (the approval loop,
confirmations) have one template each: a room's own ``rooms/<id>/<kind>.txt``, else
``<kind>.txt``, else the built-in one.  ``roomcal template set`` checks a template by
rendering it with sample values before it is stored.

Where the texts are kept is one seam (``Files``, ``Table``): files under the templates
folder on a single host; with PostgreSQL (``[storage] roomcal_database``) the rows of
``mail_templates``, named by those files' paths, so that every host sends the same mails.
"""

import contextlib
import datetime
import functools
import os
import tempfile
import time
from typing import Optional, Tuple

from roomcal.storage.database import database_url, open_database

# The kinds of mail to an organizer (storage/notify.py decides which): one template for all.
KINDS = ("approved", "declined", "cancelled", "cleared", "released")

# -- the built-in templates ------------------------------------------------------------------------------------
DEFAULT_SUBJECT = (
    "{% if event_kind == 'approved' %}Approved{% elif event_kind == 'declined' %}Declined"
    "{% elif event_kind == 'cleared' %}Removed{% elif event_kind == 'released' %}Released"
    "{% else %}Cancelled{% endif %}: "
    "{{ event_name or 'your booking' }} in {{ calendar_name }}, {{ event_start|datetime }}")
DEFAULT_BODY = """\
Hello,

{% if event_kind == 'approved' -%}
your booking “{{ event_name }}” in {{ calendar_name }} has been approved.
{%- elif event_kind == 'declined' -%}
your booking request “{{ event_name }}” in {{ calendar_name }} has been declined.
{%- elif event_kind == 'cancelled' -%}
your booking “{{ event_name }}” in {{ calendar_name }} has been {{ 'deleted' if event_is_deleted else 'cancelled' }}{% if changed_by %} by {{ changed_by }}{% endif %}.
{%- elif event_kind == 'released' -%}
{{ 'this occurrence of your recurring booking' if event_is_recurring else 'your booking' }} “{{ event_name }}” in {{ calendar_name }} has been released: nobody checked in, so the room is free for others again.
{%- elif event_is_deleted -%}
your booking “{{ event_name }}” in {{ calendar_name }} has been removed: it overlaps with an earlier booking.
{%- else -%}
{{ occurrences|length }} occurrence(s) of your recurring booking “{{ event_name }}” in {{ calendar_name }} have been removed: they overlap with earlier bookings.
{%- endif %}

{% if event_kind == 'cleared' -%}
{% for o in occurrences -%}
- {{ o.start|datetime }} to {{ o.end|datetime }}, overlapping “{{ o.overlap_event_name }}” ({{ o.overlap_event_start|datetime }} to {{ o.overlap_event_end|datetime }}{% if o.overlap_event_organizer %}, {{ o.overlap_event_organizer }}{% endif %})
{% endfor %}
{%- else -%}
When: {{ event_start|datetime }} to {{ event_end|datetime }}{% if event_is_recurring %} (recurring){% endif %}
{% endif %}
{%- if reason %}
{{ 'Note' if event_kind == 'approved' else 'Reason' }}: {{ reason }}
{% endif %}
-- 
{{ calendar_name }} (roomcal)
"""


# -- kinds with a template of their own (issue 18) ---------------------------------------------
# The approval loop and the confirmations: kind -> (built-in subject, built-in body).  Every
# variable of the kinds above is there too (storage/notify.py ``variables``).  A new kind is
# one entry here (and its place in storage/notify.py).
FOOTER = "-- \n{{ calendar_name }} (roomcal)\n"
WHEN = ("When: {{ event_start|datetime }} to {{ event_end|datetime }}"
        "{% if event_is_recurring %} (recurring){% endif %}\n")
OWN_TEMPLATES = {
    # to the room's managers (else the admins): a booking waits for their decision
    "pending": (
        "Approval needed: {{ event_name or 'a booking' }} in {{ calendar_name }}, {{ event_start|datetime }}",
        "Hello,\n\n"
        "{{ booked_by or event_organizer or 'Someone' }} asks to book {{ calendar_name }}"
        "{% if not event_is_new %} at a new time{% endif %}:\n\n"
        "“{{ event_name }}”\n" + WHEN +
        "Booked by: {{ booked_by }}{% if event_organizer %} <{{ event_organizer }}>{% endif %}\n"
        "Booking: {{ event_uid }}\n\n"
        "It holds the slot until a manager decides. As a manager of {{ calendar_name }}:\n"
        "{% if manage_url %}- decide on {{ manage_url }}\n{% endif %}"
        "- approve: POST {{ approve_url }}\n"
        "- decline: POST {{ decline_url }} with the JSON {\"reason\": \"...\"} (the reason is mailed "
        "to the booker)\n"
        "  for example: curl -u YOUR-NAME -H 'Content-Type: application/json' -d '{\"reason\": "
        "\"...\"}' {{ decline_url }}\n"
        "A calendar app does the same by setting the booking's status to confirmed or cancelled.\n\n"
        + FOOTER),
    # to the booker: their request waits
    "received": (
        "Request received: {{ event_name or 'your booking' }} in {{ calendar_name }}, {{ event_start|datetime }}",
        "Hello,\n\n"
        "your booking request “{{ event_name }}” in {{ calendar_name }} has been received"
        "{% if not event_is_new %} (its new time needs approval again){% endif %}. It waits for "
        "a manager's approval and holds the slot meanwhile; you will get a mail when it is "
        "approved or declined.\n\n" + WHEN +
        "{% if has_attachment %}\nThe attached booking.ics adds it to your calendar (as tentative).\n{% endif %}"
        "\n" + FOOTER),
    # to the booker, with [notify] confirmations: a new booking, a changed one
    "booked": (
        "Booked: {{ event_name or 'your booking' }} in {{ calendar_name }}, {{ event_start|datetime }}",
        "Hello,\n\n"
        "{{ calendar_name }} is booked for “{{ event_name }}”"
        "{% if changed_by and changed_by != booked_by %} (by {{ changed_by }}){% endif %}.\n\n" + WHEN +
        "{% if has_attachment %}\nThe attached booking.ics adds it to your calendar.\n{% endif %}"
        "\n" + FOOTER),
    "changed": (
        "Changed: {{ event_name or 'your booking' }} in {{ calendar_name }}, {{ event_start|datetime }}",
        "Hello,\n\n"
        "your booking “{{ event_name }}” in {{ calendar_name }} has been changed"
        "{% if changed_by and changed_by != booked_by %} by {{ changed_by }}{% endif %}. It is now:\n\n"
        + WHEN +
        "{% if has_attachment %}\nThe attached booking.ics updates it in your calendar.\n{% endif %}"
        "\n" + FOOTER),
}

# The mail about a refused CalDAV write (issue 13); ``<templates>/refused.txt`` replaces it.
# Its own template: the rooms' templates were written for the four kinds above.
REFUSED_FILE = "refused.txt"
REFUSED_SUBJECT = (
    "{{ {'book': 'Not booked', 'change': 'Not changed', 'move': 'Not moved', 'delete': 'Not deleted'}"
    "[action] }}: {{ event_name or 'your event' }} in {{ calendar_name }}"
    "{% if event_start %}, {{ event_start|datetime }}{% endif %}")
REFUSED_BODY = """\
Hello,

{% if action == 'book' -%}
you tried to book {{ calendar_name }} for “{{ event_name or 'an event' }}” from your calendar app, and the room said no. It is not booked:
{%- elif action == 'change' -%}
you tried to change your booking “{{ event_name or 'an event' }}” in {{ calendar_name }} from your calendar app, and the room said no. The booking stays as it was:
{%- elif action == 'move' -%}
you tried to move “{{ event_name or 'an event' }}” in {{ calendar_name }} from your calendar app, and the room said no. Nothing was moved:
{%- else -%}
you tried to delete “{{ event_name or 'an event' }}” in {{ calendar_name }} from your calendar app, and the room said no. It stays booked:
{%- endif %}

{{ reason }}
{% if event_start %}
When: {{ event_start|datetime }} to {{ event_end|datetime }}{% if event_is_recurring %} (recurring){% endif %}
{% endif %}
Calendar apps do not show this answer{% if action in ('book', 'change', 'move') %}, and may still show the event as you wrote it{% endif %}.
{%- if calendar_email and action in ('book', 'change', 'move') %}
To book a room so that its answer stays visible on the event, create the meeting in your own calendar and invite the room as an attendee: {{ calendar_email }}.
{%- endif %}

-- 
{{ calendar_name }} (roomcal)
"""
REFUSED_ACTIONS = ("book", "change", "move", "delete")


class TemplateError(ValueError):
    """A template that does not compile or render; one line for the admin."""


def _datetime_filter(value, format: str = "%Y-%m-%d %H:%M %Z") -> str:
    if value is None:
        return ""
    if isinstance(value, (datetime.datetime, datetime.date)):
        return value.strftime(format)
    return str(value)


@functools.lru_cache(maxsize=1)
def environment():
    from jinja2 import StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment
    env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters["datetime"] = _datetime_filter
    return env


@functools.lru_cache(maxsize=256)
def _compiled(source: str):
    return environment().from_string(source)


def parse_template(text: str) -> Tuple[str, str]:
    """A template file: the subject on the first line (``Subject:`` before it is allowed),
    then the body (one blank line after the subject is dropped)."""
    subject, body, _ = _split(text)
    return subject, body


def _split(text: str) -> Tuple[str, str, int]:
    """(subject, body, the file's line number of the body's first line)."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    lines = text.split("\n")
    subject = lines[0].strip()
    if subject.lower().startswith("subject:"):
        subject = subject[len("subject:"):].strip()
    if not subject:
        raise TemplateError("the first line of the file must be the subject (a Jinja2 template)")
    rest, first = lines[1:], 2
    if rest and not rest[0].strip():
        rest, first = rest[1:], 3
    body = "\n".join(rest)
    if not body.strip():
        raise TemplateError("the body is empty: put it after the subject line")
    return subject, body, first


def format_template(subject: str, body: str) -> str:
    return f"{subject}\n\n{body}"


def _sample(kind: str) -> dict:
    tz = datetime.timezone(datetime.timedelta(hours=1), "CET")
    start = datetime.datetime(2027, 12, 6, 10, 0, tzinfo=tz)
    end = start + datetime.timedelta(hours=1)
    created = datetime.datetime(2027, 11, 20, 9, 30, tzinfo=tz)
    cleared = kind == "cleared"
    overlap = {
        "overlap_event_name": "Finance Monthly" if cleared else None,
        "overlap_event_start": start if cleared else None,
        "overlap_event_end": end if cleared else None,
        "overlap_event_created": created - datetime.timedelta(days=30) if cleared else None,
        "overlap_event_organizer": "head-of-finance@example.org" if cleared else None,
    }
    return {
        "event_kind": kind, "event_uid": "4zx3QAFzoxV3vaZSKGaH2S", "event_name": "Team meeting",
        "event_start": start, "event_end": end, "event_created": created,
        "event_is_deleted": kind == "cleared", "event_is_cancelled": kind in ("declined", "cancelled"),
        "event_is_recurring": False, "event_organizer": "alice@example.org",
        "calendar_name": "Board room", "calendar_id": "board", "reason": "sample reason",
        "changed_by": "manager", **overlap,
        "occurrences": [{"start": start, "end": end, **overlap}] if cleared else [],
        "event_is_new": kind in ("pending", "received", "booked"), "booked_by": "alice",
        "event_status": "pending" if kind in ("pending", "received") else "confirmed",
        "has_attachment": kind in ("booked", "changed"),
        "booking_url": "https://rooms.example.org/api/rooms/board/bookings/4zx3QAFzoxV3vaZSKGaH2S",
        "approve_url": "https://rooms.example.org/api/rooms/board/bookings/4zx3QAFzoxV3vaZSKGaH2S/approve",
        "decline_url": "https://rooms.example.org/api/rooms/board/bookings/4zx3QAFzoxV3vaZSKGaH2S/decline",
        "manage_url": "",
    }


def _refused_sample(action: str) -> dict:
    sample = _sample("cancelled")
    return {"event_kind": "refused", "action": action, "event_uid": sample["event_uid"],
            "event_name": sample["event_name"], "event_start": sample["event_start"],
            "event_end": sample["event_end"], "event_is_recurring": False,
            "event_organizer": "alice@example.org", "calendar_name": "Board room",
            "calendar_id": "board", "calendar_email": "board@rooms.example.org",
            "reason": "Board room is already booked then.", "changed_by": "alice"}


def check_template(subject: str, body: str, body_line: int = 1, kinds=KINDS) -> None:
    """Refuse a template that does not compile, or does not render for every kind of mail
    it serves (``kinds``; sample data, sandboxed, undefined variables are errors).
    ``body_line``: where the body starts in its file, for the line numbers of errors."""
    for part, source in (("subject", subject), ("body", body)):
        try:
            _compiled(source)
        except Exception as e:  # TemplateSyntaxError and friends
            line = getattr(e, "lineno", None)
            where = f" (line {line + body_line - 1})" if line and part == "body" else ""
            raise TemplateError(f"the {part} is not a valid Jinja2 template{where}: "
                                f"{one_line_error(getattr(e, 'message', None) or e)}") from None
    for kind in kinds:
        for part, source in (("subject", subject), ("body", body)):
            try:
                _compiled(source).render(_sample(kind))
            except Exception as e:
                hint = (" (overlap_event_* are empty except for cleared bookings: guard them with "
                        "{% if overlap_event_name %})" if kind != "cleared" and "None" in str(e) else "")
                article = "an" if kind[0] in "aeiou" else "a"
                raise TemplateError(f"the {part} does not render for {article} {kind} booking: "
                                    f"{one_line_error(e)}{hint}") from None


def one_line_error(error) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def render(subject: str, body: str, variables: dict) -> Tuple[str, str]:
    rendered_subject = " ".join(_compiled(subject).render(variables).split())
    rendered_body = _compiled(body).render(variables)
    if not rendered_subject:
        raise TemplateError("the subject renders empty")
    return rendered_subject, rendered_body


def check_kind(kind: Optional[str]) -> None:
    """``kind``: None (the shared template of KINDS), one of KINDS, or one of OWN_TEMPLATES."""
    if kind is not None and kind not in KINDS and kind not in OWN_TEMPLATES:
        raise TemplateError(f"there is no kind of mail {kind!r}; the kinds with a template of "
                            f"their own are {', '.join(OWN_TEMPLATES)} (the shared one serves "
                            f"{', '.join(KINDS)})")


class Files:
    """The templates as files: ``name`` is a path under ``folder`` (written atomically)."""

    def __init__(self, folder: str):
        self.folder = folder

    def read(self, name: str) -> Optional[str]:
        try:
            with open(os.path.join(self.folder, name), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write(self, name: str, text: str) -> None:
        path = os.path.join(self.folder, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def names(self) -> list:
        found = []
        for folder, _, files in os.walk(self.folder):
            for file_name in files:
                if file_name.endswith(".txt") and not file_name.startswith("."):   # not a .tmp- leftover
                    found.append(os.path.relpath(os.path.join(folder, file_name), self.folder).replace(os.sep, "/"))
        return sorted(found)

    def delete(self, name: str) -> bool:
        try:
            os.unlink(os.path.join(self.folder, name))
        except FileNotFoundError:
            return False
        folder = os.path.dirname(os.path.join(self.folder, name))
        if os.path.dirname(name) not in ("", "rooms"):   # a room's folder of kinds, once empty
            with contextlib.suppress(OSError):
                os.rmdir(folder)
        return True


class Table:
    """The templates as rows of PostgreSQL's ``mail_templates`` (the files' names)."""

    def __init__(self, database):
        self._db = database

    def read(self, name: str) -> Optional[str]:
        row = self._db.execute("SELECT text FROM mail_templates WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def write(self, name: str, text: str) -> None:
        self._db.execute("INSERT INTO mail_templates(name, text, modified) VALUES (?, ?, ?) "
                         "ON CONFLICT(name) DO UPDATE SET text = excluded.text, modified = excluded.modified",
                         (name, text, time.time()))

    def names(self) -> list:
        return [name for (name,) in self._db.execute("SELECT name FROM mail_templates ORDER BY name")]

    def delete(self, name: str) -> bool:
        return self._db.execute("DELETE FROM mail_templates WHERE name = ?", (name,)).rowcount > 0


class Templates:
    """One per room, ``rooms/<id>.txt``; the default ``default.txt`` (else the built-in
    one).  A kind of OWN_TEMPLATES: ``rooms/<id>/<kind>.txt``, else ``<kind>.txt``, else its
    built-in one.  Names under ``folder``, or rows with PostgreSQL (``Files``, ``Table``).
    The text's format is ``parse_template``'s.  ``kind`` None, or one of KINDS, is the
    shared template."""

    def __init__(self, folder: str, configuration=None):
        self.folder = folder
        self._texts = Table(open_database(configuration, "", None)) if database_url(configuration) \
            else Files(folder)

    @staticmethod
    def _name(room_id: Optional[str], kind: Optional[str] = None) -> str:
        if kind in OWN_TEMPLATES:
            if room_id is None:
                return f"{kind}.txt"
            return f"rooms/{room_id}/{kind}.txt"
        if room_id is None:
            return "default.txt"
        return f"rooms/{room_id}.txt"

    def _read(self, room_id: Optional[str], kind: Optional[str] = None) -> Optional[Tuple[str, str]]:
        text = self._texts.read(self._name(room_id, kind))
        return parse_template(text) if text is not None else None

    def get(self, room_id: Optional[str], kind: Optional[str] = None) -> Tuple[str, str, str]:
        """(subject, body, whose): the room's own ("room"), else the default ("default"),
        else the built-in one ("built-in"), of ``kind`` (None: the shared one)."""
        if room_id is not None:
            own = self._read(room_id, kind)
            if own:
                return own + ("room",)
        default = self._read(None, kind)
        if default:
            return default + ("default",)
        return self.built_in(kind) + ("built-in",)

    @staticmethod
    def built_in(kind: Optional[str] = None) -> Tuple[str, str]:
        return OWN_TEMPLATES.get(kind) or (DEFAULT_SUBJECT, DEFAULT_BODY)

    def refused(self) -> Tuple[str, str, str]:
        """(subject, body, whose) of the mail about a refused write: ``refused.txt``
        ("file"), else the built-in one."""
        text = self._texts.read(REFUSED_FILE)
        if text is None:
            return REFUSED_SUBJECT, REFUSED_BODY, "built-in"
        return parse_template(text) + ("file",)

    def set(self, room_id: Optional[str], text: str, kind: Optional[str] = None) -> None:
        check_kind(kind)
        subject, body, body_line = _split(text)
        check_template(subject, body, body_line, (kind,) if kind in OWN_TEMPLATES else KINDS)
        self._texts.write(self._name(room_id, kind), format_template(subject, body))

    def remove(self, room_id: Optional[str], kind: Optional[str] = None) -> bool:
        check_kind(kind)
        return self._texts.delete(self._name(room_id, kind))

    def stored(self) -> dict:
        """{name: text} of every template stored (storage/migrate.py), as it is kept."""
        return {name: self._texts.read(name) for name in self._texts.names()}

    def restore(self, name: str, text: str) -> None:
        """A template of ``stored`` from another store, as it is (it was checked when set)."""
        self._texts.write(name, text)

    def drop_room(self, room_id: str) -> None:
        """Every template of a room that is removed."""
        self.remove(room_id)
        for kind in OWN_TEMPLATES:
            self.remove(room_id, kind)

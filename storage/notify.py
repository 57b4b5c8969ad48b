"""Mail to a booking's organizer when someone else decides about it (issue 5).

Detected in one place: ``commit`` (storage/commit.py), the step every write
of an item takes, calls ``Notifier.after_write`` for each booking of a room
written or removed by a PUT, a DELETE or a replace, once the write succeeded,
still inside Radicale's write lock, with the booking before and after and the
actor.  A mail goes out when a booking is

- ``approved``: ``STATUS:TENTATIVE`` -> ``CONFIRMED`` by someone other than the booker;
- ``declined``: ``TENTATIVE`` -> ``CANCELLED`` by someone other than the booker (a manager);
- ``cancelled``: ``CANCELLED`` (from anything else) or deleted by someone other than
  the booker (deleting a booking that was already cancelled mails nobody);
- ``cleared``: deleted, or some occurrences excluded (EXDATE), by clear-bookings
  (``storage/clearing.py`` says so with ``clearing(...)`` around its writes).

The recipient is ORGANIZER (mailto:), else the e-mail of the booker
(``X-ROOMCAL-BOOKED-BY``, ``roomcal user add --email``); without one, no mail.
The message is the room's Jinja2 template (else the default one) rendered in a
sandbox; the reason of the request (``storage.context.current_reason()``) is
one of its variables.  Composing only appends a row to the outbox
(storage/outbox.py): no network here, and nothing in this module ever raises
into the write (every error is logged).  Sending: server/mailer.py.

Nothing is composed when no SMTP server is configured (``[notify] smtp_server``
or ``$SMTP_SERVER``).
"""

import contextlib
import contextvars
import dataclasses
import datetime
import functools
import logging
import os
import socket
import tempfile
import threading
from typing import Dict, Optional, Tuple

from roomcal.storage import context
from roomcal.storage.booking import OWNER
from roomcal.storage.created import created_at
from roomcal.storage.instances import Booking, utc
from roomcal.storage.outbox import Outbox
from roomcal.storage.text import is_email

logger = logging.getLogger("roomcal.notify")

# [notify] in radicale.conf.  Radicale refuses unknown sections, so server/config.py
# takes the section out and hands its options on as [storage] roomcal_notify_<option>.
SECTION = "notify"
OPTIONS = ("smtp_server", "smtp_port", "smtp_security", "smtp_username", "smtp_password",
           "from_email", "sender_name", "bcc")
CARRIED = "roomcal_notify_"
SECURITIES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
# The Django Room Booking app's environment variables; they override radicale.conf.
ENVIRONMENT = {"SMTP_SERVER": "smtp_server", "SMTP_PORT": "smtp_port", "SMTP_EMAIL": "from_email",
               "SMTP_PASSWORD": "smtp_password", "SMTP_USER_NAME": "smtp_username",
               "SMTP_SENDER_NAME": "sender_name", "SMTP_BCC": "bcc"}
KINDS = ("approved", "declined", "cancelled", "cleared")

# A write that enqueued a mail wakes this process's sender at once (server/mailer.py).
WAKE = threading.Event()


class NotifyConfigError(ValueError):
    pass


# -- settings -------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Settings:
    server: str = ""
    port: int = 0
    security: str = "ssl"
    username: str = ""
    password: str = dataclasses.field(default="", repr=False)
    from_email: str = ""
    sender_name: str = ""
    bcc: Tuple[str, ...] = ()

    @property
    def enabled(self) -> bool:
        return bool(self.server)

    @property
    def smtp_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.security]

    @property
    def sender(self) -> str:
        return self.from_email or (self.username if is_email(self.username) else
                                   f"roomcal@{socket.getfqdn()}")

    @property
    def login(self) -> str:
        """The SMTP user: smtp_username, else (with a password) from_email, as the seed does."""
        return self.username or (self.from_email if self.password else "")


def _truthy(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def parse_settings(values: Dict[str, str], environ=None) -> Settings:
    """Settings from [notify] options, overridden by the seed's environment variables."""
    values = {k: (v or "").strip() for k, v in values.items()}
    environ = os.environ if environ is None else environ
    for variable, option in ENVIRONMENT.items():
        if environ.get(variable, "").strip():
            values[option] = environ[variable].strip()
    if environ.get("SMTP_STARTTLS", "").strip():
        values["smtp_security"] = "starttls" if _truthy(environ["SMTP_STARTTLS"]) else "ssl"
    security = (values.get("smtp_security") or "ssl").lower()
    if security not in SECURITIES:
        raise NotifyConfigError(f"[notify] smtp_security must be one of {', '.join(SECURITIES)}, "
                                f"not {security!r}")
    port = values.get("smtp_port") or "0"
    try:
        port = int(port)
        if not 0 <= port <= 65535:
            raise ValueError
    except ValueError:
        raise NotifyConfigError(f"[notify] smtp_port must be a port number, not {port!r}") from None
    bcc = tuple(a.strip() for a in (values.get("bcc") or "").split(",") if a.strip())
    for address in bcc + ((values["from_email"],) if values.get("from_email") else ()):
        if not is_email(address):
            raise NotifyConfigError(f"[notify] {address!r} is not an e-mail address")
    return Settings(server=values.get("smtp_server", ""), port=port, security=security,
                    username=values.get("smtp_username", ""), password=values.get("smtp_password", ""),
                    from_email=values.get("from_email", ""), sender_name=values.get("sender_name", ""),
                    bcc=bcc)


def settings_from(configuration, environ=None) -> Settings:
    values = {}
    for option in OPTIONS:
        with contextlib.suppress(KeyError):
            values[option] = str(configuration.get("storage", CARRIED + option) or "")
    return parse_settings(values, environ)


def _option(configuration, option: str, default: str) -> str:
    try:
        value = configuration.get("storage", option)
    except KeyError:
        return default
    return value if value not in (None, "") else default


def _data_dir(configuration) -> str:
    return os.path.dirname(os.path.abspath(configuration.get("storage", "filesystem_folder")))


def outbox_path(configuration) -> str:
    return _option(configuration, "roomcal_outbox", os.path.join(_data_dir(configuration), "outbox.sqlite"))


def outbox_timing(configuration) -> Tuple[float, float, float]:
    """(retry_min, retry_max, claim timeout) in seconds, from [storage] roomcal_outbox_*."""
    numbers = []
    for option, default in (("roomcal_outbox_retry_min", "30"), ("roomcal_outbox_retry_max", "3600"),
                            ("roomcal_outbox_claim_timeout", "300")):
        value = _option(configuration, option, default)
        try:
            number = float(value)
            if not number >= 0:
                raise ValueError
        except ValueError:
            raise NotifyConfigError(f"[storage] {option} must be a number of seconds, "
                                    f"not {value!r}") from None
        numbers.append(number)
    return tuple(numbers)


def check_configuration(configuration) -> None:
    """Raise NotifyConfigError for a [notify] or outbox option that cannot work."""
    settings_from(configuration)
    outbox_timing(configuration)


def templates_path(configuration) -> str:
    return _option(configuration, "roomcal_templates", os.path.join(_data_dir(configuration), "templates"))


# -- templates ------------------------------------------------------------------------------------
DEFAULT_SUBJECT = (
    "{% if event_kind == 'approved' %}Approved{% elif event_kind == 'declined' %}Declined"
    "{% elif event_kind == 'cleared' %}Removed{% else %}Cancelled{% endif %}: "
    "{{ event_name or 'your booking' }} in {{ calendar_name }}, {{ event_start|datetime }}")
DEFAULT_BODY = """\
Hello,

{% if event_kind == 'approved' -%}
your booking “{{ event_name }}” in {{ calendar_name }} has been approved.
{%- elif event_kind == 'declined' -%}
your booking request “{{ event_name }}” in {{ calendar_name }} has been declined.
{%- elif event_kind == 'cancelled' -%}
your booking “{{ event_name }}” in {{ calendar_name }} has been {{ 'deleted' if event_is_deleted else 'cancelled' }}{% if changed_by %} by {{ changed_by }}{% endif %}.
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
    }


def check_template(subject: str, body: str, body_line: int = 1) -> None:
    """Refuse a template that does not compile, or does not render for every kind of mail
    (sample data, sandboxed, undefined variables are errors).  ``body_line``: where the
    body starts in its file, for the line numbers of errors."""
    for part, source in (("subject", subject), ("body", body)):
        try:
            _compiled(source)
        except Exception as e:  # TemplateSyntaxError and friends
            line = getattr(e, "lineno", None)
            where = f" (line {line + body_line - 1})" if line and part == "body" else ""
            raise TemplateError(f"the {part} is not a valid Jinja2 template{where}: "
                                f"{_one_line(getattr(e, 'message', None) or e)}") from None
    for kind in KINDS:
        for part, source in (("subject", subject), ("body", body)):
            try:
                _compiled(source).render(_sample(kind))
            except Exception as e:
                hint = (" (overlap_event_* are empty except for cleared bookings: guard them with "
                        "{% if overlap_event_name %})" if kind != "cleared" and "None" in str(e) else "")
                article = "an" if kind[0] in "aeiou" else "a"
                raise TemplateError(f"the {part} does not render for {article} {kind} booking: "
                                    f"{_one_line(e)}{hint}") from None


def _one_line(error) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def render(subject: str, body: str, variables: dict) -> Tuple[str, str]:
    rendered_subject = " ".join(_compiled(subject).render(variables).split())
    rendered_body = _compiled(body).render(variables)
    if not rendered_subject:
        raise TemplateError("the subject renders empty")
    return rendered_subject, rendered_body


class Templates:
    """One file per room, ``<folder>/rooms/<id>.txt``; the default ``<folder>/default.txt``
    (else the built-in one).  The file format is ``parse_template``'s."""

    def __init__(self, folder: str):
        self.folder = folder

    def _path(self, room_id: Optional[str]) -> str:
        if room_id is None:
            return os.path.join(self.folder, "default.txt")
        return os.path.join(self.folder, "rooms", f"{room_id}.txt")

    def _read(self, room_id: Optional[str]) -> Optional[Tuple[str, str]]:
        try:
            with open(self._path(room_id), encoding="utf-8") as f:
                return parse_template(f.read())
        except FileNotFoundError:
            return None

    def get(self, room_id: Optional[str]) -> Tuple[str, str, str]:
        """(subject, body, whose): the room's own ("room"), else the default ("default"),
        else the built-in one ("built-in")."""
        if room_id is not None:
            own = self._read(room_id)
            if own:
                return own + ("room",)
        default = self._read(None)
        if default:
            return default + ("default",)
        return DEFAULT_SUBJECT, DEFAULT_BODY, "built-in"

    def set(self, room_id: Optional[str], text: str) -> None:
        subject, body, body_line = _split(text)
        check_template(subject, body, body_line)
        path = self._path(room_id)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(format_template(subject, body))
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise

    def remove(self, room_id: Optional[str]) -> bool:
        try:
            os.unlink(self._path(room_id))
            return True
        except FileNotFoundError:
            return False


# -- clear-bookings tells what it removes, and why ------------------------------------------------
_clearing: contextvars.ContextVar = contextvars.ContextVar("roomcal_clearing", default=None)


@contextlib.contextmanager
def clearing(room_id: str, plan):
    """Around clear-bookings' writes into one room: its overlaps (storage.clearing.Plan)
    for the mails."""
    hints = dict(_clearing.get() or {})
    for overlap in list(plan.deleted) + list(plan.excluded):
        hints.setdefault((room_id, overlap.event.href), []).append(overlap)
    token = _clearing.set(hints)
    try:
        yield
    finally:
        _clearing.reset(token)


# -- detection and composition --------------------------------------------------------------------
class Notifier:
    def __init__(self, configuration, accounts):
        self.accounts = accounts
        self.settings = settings_from(configuration)
        self.templates = Templates(templates_path(configuration))
        self.outbox_path = outbox_path(configuration)
        self._outbox = None

    @property
    def outbox(self):
        if self._outbox is None:
            self._outbox = Outbox(self.outbox_path)
        return self._outbox

    def after_write(self, room, href: str, previous: Optional[Booking], new: Optional[Booking],
                    actor) -> None:
        """Called after every successful write of one booking into a room (under the lock).
        Never raises; at most appends one mail to the outbox."""
        if not self.settings.enabled or previous is None:
            return
        try:
            mail = self.compose(room, href, previous, new, actor)
            if mail is not None:
                recipient, subject, body, kind = mail
                self.outbox.add(recipient, subject, body, kind=kind, room=room.id, uid=previous.uid)
                WAKE.set()
                logger.info("Queued mail (%s) about %s%s to %s", kind, room.path, href, recipient)
        except Exception:
            logger.exception("No mail about %s%s: composing it failed (the write stands)",
                             getattr(room, "path", "?"), href)

    @staticmethod
    def kind_of(previous: Booking, new: Optional[Booking], actor, cleared: bool) -> Optional[str]:
        before = (previous.get("STATUS") or "").upper()
        if cleared:
            return "cleared"
        owner = previous.get(OWNER)
        if owner and actor is not None and actor.user == owner:
            return None  # your own change: nobody to tell
        if new is None:
            return None if before == "CANCELLED" else "cancelled"
        after = (new.get("STATUS") or "").upper()
        if before == "TENTATIVE" and after == "CONFIRMED":
            return "approved"
        if before == "TENTATIVE" and after == "CANCELLED":
            return "declined"
        if before != "CANCELLED" and after == "CANCELLED":
            return "cancelled"
        return None

    def compose(self, room, href, previous, new, actor) -> Optional[tuple]:
        overlaps = (_clearing.get() or {}).get((room.id, href))
        kind = self.kind_of(previous, new, actor, bool(overlaps))
        if kind is None:
            return None
        recipient = self.recipient(previous) or (self.recipient(new) if new is not None else None)
        if not recipient:
            logger.info("No mail about the %s booking %s%s: it has no organizer or booker e-mail",
                        kind, room.path, href)
            return None
        variables = self.variables(room, kind, previous, new, actor, overlaps or [], recipient)
        subject, body, whose = self.templates.get(room.id)
        try:
            subject, body = render(subject, body, variables)
        except Exception as e:
            logger.warning("The %s mail template of %s does not render (%s); using the built-in one",
                           whose, room.id, _one_line(e))
            subject, body = render(DEFAULT_SUBJECT, DEFAULT_BODY, variables)
        return recipient, subject, body, kind

    def _email_of(self, user: Optional[str]) -> Optional[str]:
        if not user:
            return None
        account = self.accounts.get_user(user)
        email = account.email if account else ""
        return email if is_email(email) else None

    def recipient(self, booking: Optional[Booking]) -> Optional[str]:
        if booking is None:
            return None
        organizer = _address(booking.get("ORGANIZER"))
        if organizer:
            return organizer
        return self._email_of(booking.get(OWNER))

    def variables(self, room, kind: str, previous: Booking, new: Optional[Booking], actor,
                  overlaps: list, recipient: str) -> dict:
        booking = previous

        def moment(seconds):
            return None if seconds is None else utc(seconds).astimezone(room.tz)
        main = booking._occurrence(booking.master)
        occurrences = []
        for overlap in overlaps:
            winner = overlap.overlaps_with
            occurrences.append({
                "start": moment(overlap.event.start), "end": moment(overlap.event.end),
                "overlap_event_name": winner.name, "overlap_event_start": moment(winner.start),
                "overlap_event_end": moment(winner.end), "overlap_event_created": moment(winner.created),
                "overlap_event_organizer": winner.organizer or self._email_of(winner.booked_by)
                or winner.booked_by})
        first = occurrences[0] if occurrences else {}
        reason = context.current_reason()
        if not reason and kind == "cleared" and first:
            reason = (f"it overlaps with “{first['overlap_event_name']}”, which was booked earlier"
                      if len({o['overlap_event_name'] for o in occurrences}) == 1 else
                      "it overlaps with bookings that were made earlier")
        deleted = new is None
        after = (new.get("STATUS") or "").upper() if new is not None else ""
        return {
            "event_kind": kind,
            "event_uid": booking.uid,
            "event_name": booking.summary,
            "event_start": first.get("start") or moment(main.start),
            "event_end": first.get("end") or moment(main.end),
            "event_created": moment(created_at(booking, None)),
            "event_is_deleted": deleted,
            "event_is_cancelled": after == "CANCELLED" or (kind == "cleared" and not deleted),
            "event_is_recurring": booking.recurring,
            "event_organizer": recipient,
            "overlap_event_name": first.get("overlap_event_name"),
            "overlap_event_start": first.get("overlap_event_start"),
            "overlap_event_end": first.get("overlap_event_end"),
            "overlap_event_created": first.get("overlap_event_created"),
            "overlap_event_organizer": first.get("overlap_event_organizer"),
            "occurrences": occurrences,
            "calendar_name": room.name,
            "calendar_id": room.id,
            "reason": reason or "",
            "changed_by": getattr(actor, "user", "") or "",
        }


def _address(value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    value = value.strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    return value if is_email(value) else None

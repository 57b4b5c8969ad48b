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
  (``storage/clearing.py`` says so with ``clearing(...)`` around its writes);
- ``released``: cancelled, or one occurrence excluded, because nobody checked it in
  (``storage/release.py`` says so with ``releasing(...)`` around its write).

The recipient is ORGANIZER (mailto:), else the e-mail of the booker
(``X-ROOMCAL-BOOKED-BY``, ``roomcal user add --email``); without one, no mail.
The message is the room's Jinja2 template (storage/mail_templates.py; else the default one) rendered in a
sandbox; the reason of the request (``storage.context.current_reason()``) is
one of its variables.  Composing only appends a row to the outbox
(storage/outbox.py): no network here, and nothing in this module ever raises
into the write (every error is logged).  Sending: server/mailer.py.

Nothing is composed when no SMTP server is configured (``[notify] smtp_server``
or ``$SMTP_SERVER``).

A refused CalDAV write into a room (issue 13) also mails the one who tried it
(``Notifier.after_refused_request``, called by the front): calendar apps drop
our 409/403 and its sentence (Thunderbird hides the event or shows a generic
error), so the sentence travels by mail.  ``[notify] refusals = false`` turns it
off; JSON and /api callers read the sentence in the answer and get no mail.

Mail that closes the loop (issue 18), from the same ``after_write``
(``loop_kinds``): in an approval room, a booking that starts to wait
(``STATUS:TENTATIVE``: new, or moved to a new time) mails the room's managers
(``pending``: the room's ``managers``, users and groups, else the admins; never the
one who wrote it) with what to do, and its organizer (``received``).  With
``[notify] confirmations = true`` the organizer also gets ``booked`` for a new
booking and ``changed`` for a changed one (times, title, location, status, when no
other mail says so), and ``received``, ``approved``, ``booked`` and ``changed`` carry
the booking as ``booking.ics`` (text/calendar; method=PUBLISH).  A room's copy of
a meeting that invites it (scheduling) mails the managers only: the organizer reads
the room's answer in their calendar app.
"""

import contextlib
import contextvars
import dataclasses
import datetime
import logging
import os
import socket
import threading
import urllib.parse
from typing import Dict, Optional, Tuple

from roomcal.storage import carried, context, rooms
from roomcal.storage.booking import OWNER
from roomcal.storage.created import created_at
from roomcal.storage.errors import NotFound, PreconditionFailed
from roomcal.storage.instances import Booking, utc, values_of
from roomcal.storage.mail_templates import (DEFAULT_BODY, DEFAULT_SUBJECT, REFUSED_BODY, REFUSED_SUBJECT,
                                            Templates, one_line_error, render)
from roomcal.storage.outbox import Outbox
from roomcal.storage.text import is_email
from roomcal.storage.verbs import status_of

logger = logging.getLogger("roomcal.notify")

# [notify] in radicale.conf.  Radicale refuses unknown sections, so server/config.py
# takes the section out and hands its options on as [storage] roomcal_notify_<option>.
SECTION = "notify"
OPTIONS = ("smtp_server", "smtp_port", "smtp_security", "smtp_username", "smtp_password",
           "from_email", "sender_name", "bcc", "refusals", "confirmations")
CARRIED = "roomcal_notify_"
SECURITIES = ("none", "starttls", "ssl")
DEFAULT_PORTS = {"none": 25, "starttls": 587, "ssl": 465}
# The Django Room Booking app's environment variables; they override radicale.conf.
ENVIRONMENT = {"SMTP_SERVER": "smtp_server", "SMTP_PORT": "smtp_port", "SMTP_EMAIL": "from_email",
               "SMTP_PASSWORD": "smtp_password", "SMTP_USER_NAME": "smtp_username",
               "SMTP_SENDER_NAME": "sender_name", "SMTP_BCC": "bcc"}

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
    refusals: bool = True   # mail the sentence of a refused CalDAV write into a room
    confirmations: bool = False   # mail the organizer new and changed bookings, with booking.ics

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


BOOLEANS = {"true": True, "yes": True, "on": True, "1": True,
            "false": False, "no": False, "off": False, "0": False}


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
    refusals = (values.get("refusals") or "true").lower()
    if refusals not in BOOLEANS:
        raise NotifyConfigError(f"[notify] refusals must be true or false, not {refusals!r}")
    confirmations = (values.get("confirmations") or "false").lower()
    if confirmations not in BOOLEANS:
        raise NotifyConfigError(f"[notify] confirmations must be true or false, not {confirmations!r}")
    return Settings(server=values.get("smtp_server", ""), port=port, security=security,
                    username=values.get("smtp_username", ""), password=values.get("smtp_password", ""),
                    from_email=values.get("from_email", ""), sender_name=values.get("sender_name", ""),
                    bcc=bcc, refusals=BOOLEANS[refusals], confirmations=BOOLEANS[confirmations])


def settings_from(configuration, environ=None) -> Settings:
    return parse_settings(carried.options_of(configuration, CARRIED, OPTIONS), environ)


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


REFUSAL_REPEAT = 600  # seconds: a client retrying the same refused write gets one mail

# The mails of the approval loop and the confirmations (issue 18): kind -> who gets it,
# "managers" (the room's managers' e-mails, else the admins') or "organizer" (ORGANIZER,
# else the booker's e-mail).  Their templates: mail_templates.OWN_TEMPLATES.
LOOP_KINDS = {"pending": "managers", "received": "organizer", "booked": "organizer",
              "changed": "organizer"}
# With [notify] confirmations, mails of these kinds carry the booking as booking.ics.
ATTACHED = frozenset({"received", "approved", "booked", "changed"})
MAX_MANAGER_MAILS = 50   # a room managed by a huge group: its first 50 addresses
# What a booking looks like to its people: a change of these is a "changed" mail; of the
# times alone, a pending booking waits again.
TIMES = ("DTSTART", "DTEND", "DURATION", "RRULE", "RDATE", "EXDATE", "RECURRENCE-ID")
SHOWN = TIMES + ("SUMMARY", "LOCATION", "STATUS")
# The web page where managers decide (server/web/manage.py), under the server's address.
MANAGE_PATH = "/manage"


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


# -- the server releases an occurrence nobody checked in -------------------------------------------
_releasing: contextvars.ContextVar = contextvars.ContextVar("roomcal_releasing", default=None)


@contextlib.contextmanager
def releasing(start: int, end: int):
    """Around the release of the occurrence [start, end) (UTC seconds): its mail says so."""
    token = _releasing.set((start, end))
    try:
        yield
    finally:
        _releasing.reset(token)


# -- detection and composition --------------------------------------------------------------------
class Notifier:
    def __init__(self, configuration, accounts):
        self.accounts = accounts
        self.settings = settings_from(configuration)
        self.templates = Templates(templates_path(configuration), configuration)
        self.outbox_path = outbox_path(configuration)
        self._configuration = configuration   # the outbox's database
        self._outbox = None
        # Links in mails: the server's address as clients see it, else paths alone.
        self.public_url = _option(configuration, "roomcal_public_url", "").strip().rstrip("/")

    @property
    def outbox(self):
        if self._outbox is None:
            self._outbox = Outbox(self.outbox_path, self._configuration)
        return self._outbox

    def after_write(self, room, href: str, previous: Optional[Booking], new: Optional[Booking],
                    actor, scheduled: bool = False) -> None:
        """Called after every successful write of one booking into a room (under the lock);
        ``scheduled``: a room's copy of a meeting that invited it.  Never raises; appends
        the mails (if any) to the outbox."""
        if not self.settings.enabled:
            return
        try:
            mail = self.compose(room, href, previous, new, actor) \
                if previous is not None and not scheduled else None
            mails = [mail + (self.attachment(room, new, mail[3]),)] if mail is not None else []
            mails += self.compose_loop(room, href, previous, new, actor, scheduled)
            for recipient, subject, body, kind, attachment in mails:
                self.outbox.add(recipient, subject, body, kind=kind, room=room.id,
                                uid=(previous or new).uid, attachment=attachment)
                logger.info("Queued mail (%s) about %s%s to %s", kind, room.path, href, recipient)
            if mails:
                WAKE.set()
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
        released = _releasing.get()
        kind = "released" if released else self.kind_of(previous, new, actor, bool(overlaps))
        if kind is None:
            return None
        recipient = self.recipient(previous) or (self.recipient(new) if new is not None else None)
        if not recipient:
            logger.info("No mail about the %s booking %s%s: it has no organizer or booker e-mail",
                        kind, room.path, href)
            return None
        variables = self.variables(room, kind, previous, new, actor, overlaps or [], recipient)
        if released:   # the occurrence released, not the series' first
            variables.update(event_start=utc(released[0]).astimezone(room.tz),
                             event_end=utc(released[1]).astimezone(room.tz))
        subject, body, whose = self.templates.get(room.id)
        try:
            subject, body = render(subject, body, variables)
        except Exception as e:
            logger.warning("The %s mail template of %s does not render (%s); using the built-in one",
                           whose, room.id, one_line_error(e))
            subject, body = render(DEFAULT_SUBJECT, DEFAULT_BODY, variables)
        return recipient, subject, body, kind

    # -- the approval loop and the confirmations (issue 18) -----------------------------------
    def loop_kinds(self, room, href: str, previous: Optional[Booking], new: Optional[Booking], actor,
                   scheduled: bool = False) -> list:
        """The kinds of LOOP_KINDS a write of a booking gives (none for a removal)."""
        if new is None:
            return []
        after = status_of(new)
        if room.rules.approval and after == "pending" and (
                previous is None or status_of(previous) != "pending"
                or _looks(previous, TIMES) != _looks(new, TIMES)):
            return ["pending"] if scheduled else ["pending", "received"]
        if scheduled or not self.settings.confirmations or after == "cancelled":
            return []
        if previous is None:
            return ["booked"]
        cleared = bool((_clearing.get() or {}).get((room.id, href)))
        if self.kind_of(previous, new, actor, cleared) is not None:
            return []   # approved, declined, cancelled, cleared: that mail says it
        return ["changed"] if _looks(previous, SHOWN) != _looks(new, SHOWN) else []

    def compose_loop(self, room, href, previous, new, actor, scheduled: bool = False) -> list:
        """[(recipient, subject, body, kind, attachment)] of ``loop_kinds``."""
        mails = []
        for kind in self.loop_kinds(room, href, previous, new, actor, scheduled):
            if LOOP_KINDS[kind] == "managers":
                recipients = self.manager_addresses(room, actor)
            else:
                recipients = [r for r in (self.recipient(new),) if r]
            if not recipients:
                logger.info("No %s mail about %s%s: nobody to send it to has an e-mail",
                            kind, room.path, href)
                continue
            attachment = self.attachment(room, new, kind)
            for recipient in recipients:
                variables = self.variables(room, kind, new, new, actor, [], recipient)
                variables.update(event_is_new=previous is None, has_attachment=bool(attachment),
                                 event_organizer=self.recipient(new) or "")   # not the manager's
                subject, body = self._render(room, kind, variables)
                mails.append((recipient, subject, body, kind, attachment))
        return mails

    def _render(self, room, kind: str, variables: dict) -> Tuple[str, str]:
        subject, body, whose = self.templates.get(room.id, kind)
        try:
            return render(subject, body, variables)
        except Exception as e:
            logger.warning("The %s %s mail template of %s does not render (%s); using the built-in one",
                           whose, kind, room.id, one_line_error(e))
            return render(*self.templates.built_in(kind), variables)

    def manager_addresses(self, room, actor) -> list:
        """The e-mails of the room's managers (users and @groups), else of the admins, but
        not of ``actor`` (who knows): at most MAX_MANAGER_MAILS."""
        names = set()
        groups = None
        for entry in room.managers:
            if entry.startswith("@"):
                groups = self.accounts.list_groups() if groups is None else groups
                names.update(groups.get(entry[1:], ()))
            else:
                names.add(entry)
        if not room.managers:   # admins manage every room
            names = {user.name for user in self.accounts.list_users() if user.admin}
        names.discard(getattr(actor, "user", None))
        addresses = {}
        for name in sorted(names):
            email = self._email_of(name)
            if email:
                addresses.setdefault(email.lower(), email)
        if len(addresses) > MAX_MANAGER_MAILS:
            logger.warning("%s has %d managers with an e-mail; mailing the first %d", room.path,
                           len(addresses), MAX_MANAGER_MAILS)
        return list(addresses.values())[:MAX_MANAGER_MAILS]

    def attachment(self, room, booking: Optional[Booking], kind: str) -> str:
        """The booking as booking.ics for a mail of ``kind`` (with confirmations), else ""."""
        if booking is None or kind not in ATTACHED or not self.settings.confirmations:
            return ""
        try:
            return self._as_published(room, booking)
        except Exception:   # the mail goes without its file rather than not at all
            logger.exception("The %s mail about %s%s goes without booking.ics", kind, room.path, booking.uid)
            return ""

    @staticmethod
    def _as_published(room, booking: Booking) -> str:
        import icalendar
        calendar = icalendar.Calendar.from_ical(booking.to_ical())
        calendar.pop("METHOD", None)
        calendar.add("METHOD", "PUBLISH")
        place = ", ".join(filter(None, (room.name, room.location)))
        for event in calendar.walk("VEVENT"):
            for name in [name for name in event if name.upper().startswith("X-ROOMCAL-")]:
                del event[name]   # the server's stamps: nothing for a calendar app
            if "LOCATION" not in event and place:
                event.add("LOCATION", place)
        return calendar.to_ical().decode()

    def links(self, room, uid: str) -> dict:
        """Where people act on a booking: /api routes (and the managers' page, once there is
        one), under roomcal_public_url when set, else paths."""
        booking = (f"{self.public_url}/api/rooms/{urllib.parse.quote(room.id, safe='')}/bookings/"
                   f"{urllib.parse.quote(uid, safe='')}")
        manage = self.public_url + MANAGE_PATH
        return {"booking_url": booking, "approve_url": booking + "/approve",
                "decline_url": booking + "/decline", "manage_url": manage}

    # -- a refused CalDAV write into a room (issue 13) ---------------------------------------
    def after_refused_request(self, storage, user: str, method: str, path: str, destination: str,
                              prefix: str, body_text: str, refusal) -> None:
        """The front, after the storage refused a CalDAV PUT, MOVE or DELETE (``refusal``, a
        storage.errors.Refusal): if it was a write into a room, mail its author the refusal's
        sentence.  ``destination``: MOVE's Destination header, ``prefix`` the script name;
        ``body_text``: PUT's body.  Called outside the request's lock.  Never raises."""
        if not (self.settings.enabled and self.settings.refusals) or not user or \
                method not in ("PUT", "MOVE", "DELETE") or \
                isinstance(refusal, (PreconditionFailed, NotFound)):  # a client's own business
            return
        try:
            target = self._refused_target(storage, method, path, destination, prefix, body_text)
            if target is None:
                return
            room, action, text, key = target
            address = storage.directory.room_email(room) if storage.scheduling.enabled else ""
            self.after_refusal(room, user, action, text, key, refusal.message, address)
        except Exception:
            logger.exception("No mail about the refused %s of %s: composing it failed", method, path)

    def _refused_target(self, storage, method, path, destination, prefix, body_text):
        """(room, action, event text, throttle key) of a refused write into a room, else None."""
        source = _room_item(path)
        if method == "MOVE":
            target = _room_item(_path_of(destination, prefix))
            if target is None and source is None:
                return None
            room_id = (target or source)[0]
            action = "move" if target is None or source is not None else "book"
            text = _stored_text(storage, path)
        else:
            if source is None:
                return None
            room_id, stored = source[0], _stored_text(storage, path)
            if method == "DELETE":
                action, text = "delete", stored
            else:
                action, text = ("change" if stored is not None else "book"), body_text or stored
        room = storage.registry.get(room_id)
        if room is None:
            return None
        return room, action, text, path

    def after_refusal(self, room, user: str, action: str, text: Optional[str], key: str,
                      sentence: str, room_address: str = "") -> Optional[int]:
        """Queue the mail about one refused write (``action``: book, change, move, delete) of
        ``user`` into ``room``: to their e-mail, with the refusal's ``sentence`` and what
        can be read of the event ``text``.  The same mail to the same person about the same
        event goes once per REFUSAL_REPEAT seconds.  Returns the outbox row, or None."""
        recipient = self._email_of(user)
        if not recipient:
            logger.info("No mail about a refused write into %s: %s has no e-mail", room.path, user)
            return None
        event = _event_of(text, room.tz)
        variables = {
            "event_kind": "refused", "action": action, "event_uid": event["uid"],
            "event_name": event["name"], "event_start": event["start"], "event_end": event["end"],
            "event_is_recurring": event["recurring"], "event_organizer": recipient,
            "calendar_name": room.name, "calendar_id": room.id, "calendar_email": room_address,
            "reason": sentence, "changed_by": user}
        subject, body, whose = self.templates.refused()
        try:
            subject, body = render(subject, body, variables)
        except Exception as e:
            logger.warning("The %s template of refusals does not render (%s); using the built-in one",
                           whose, one_line_error(e))
            subject, body = render(REFUSED_SUBJECT, REFUSED_BODY, variables)
        mail_id = self.outbox.add_unless_sent_lately(recipient, subject, body, kind="refused",
                                                     room=room.id, uid=event["uid"] or key,
                                                     within=REFUSAL_REPEAT)
        if mail_id is None:
            logger.info("No mail about the refused %s in %s to %s: the same went out lately",
                        action, room.path, recipient)
            return None
        WAKE.set()
        logger.info("Queued mail (refused %s) about %s to %s", action, room.path, recipient)
        return mail_id

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
            "booked_by": booking.get(OWNER) or "",
            "event_status": "deleted" if deleted else status_of(new),
            "event_is_new": False,
            "has_attachment": False,
            **self.links(room, booking.uid),
        }


def _looks(booking: Booking, names) -> list:
    """What a booking's events say in the properties ``names``, comparable between versions."""
    looks = []
    for event in booking.events:
        looks.append(tuple((name, tuple((value.to_ical() if hasattr(value, "to_ical") else str(value),
                                         str(getattr(value, "params", {}).get("TZID", "")))
                                        for value in values_of(event, name)))
                           for name in names))
    return sorted(looks, key=repr)


def _address(value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    value = value.strip()
    if value.lower().startswith("mailto:"):
        value = value[7:]
    return value if is_email(value) else None


def _room_item(path: str) -> Optional[Tuple[str, str]]:
    """(room id, href) of a path to an item inside ``/rooms/<id>/``, else None."""
    parts = (path or "").strip("/").split("/")
    if len(parts) == 3 and parts[0] == rooms.ROOMS and parts[1] and parts[2]:
        return parts[1], parts[2]
    return None


def _path_of(destination: str, prefix: str) -> str:
    """The path of a Destination header (a URL or a path), without the script name."""
    path = urllib.parse.unquote(urllib.parse.urlsplit(destination or "").path)
    if prefix and path.startswith(prefix + "/"):
        path = path[len(prefix):]
    return path


def _stored_text(storage, path: str) -> Optional[str]:
    """The item stored at ``path`` now (None: nothing), read under a read lock."""
    from radicale.item import Item
    with storage.acquire_lock("r"):
        item = next(iter(storage.discover(path)), None)
        return item.serialize() if isinstance(item, Item) else None


def _event_of(text: Optional[str], tz) -> dict:
    """UID, title and times of an event as sent, read leniently: what cannot be read (the
    write was refused, so the body may be anything) is left empty.  Floating times are the
    room's; all-day events give their dates as text."""
    event = {"uid": "", "name": "", "start": None, "end": None, "recurring": False}
    try:
        import icalendar
        components = icalendar.Calendar.from_ical(text or "").walk("VEVENT")
    except Exception:
        return event
    if not components:
        return event
    main = next((c for c in components if "RECURRENCE-ID" not in c), components[0])
    event["uid"] = " ".join(str(main.get("UID") or "").split())[:255]
    event["name"] = " ".join(str(main.get("SUMMARY") or "").split())[:200]
    event["recurring"] = "RRULE" in main or "RDATE" in main or len(components) > 1
    try:
        start = main.decoded("DTSTART")
        if "DTEND" in main:
            end = main.decoded("DTEND")
        elif "DURATION" in main:
            end = start + main.decoded("DURATION")
        else:
            end = start + datetime.timedelta(days=1) if not isinstance(start, datetime.datetime) else start
    except Exception:
        return event
    if isinstance(start, datetime.datetime) and isinstance(end, datetime.datetime):
        event["start"], event["end"] = (value.replace(tzinfo=tz) if value.tzinfo is None
                                        else value.astimezone(tz) for value in (start, end))
    elif isinstance(start, datetime.date) and isinstance(end, datetime.date):
        last = max(start, end - datetime.timedelta(days=1))  # DTEND of a day is exclusive
        event["start"], event["end"] = f"{start.isoformat()} (all day)", f"{last.isoformat()} (all day)"
    return event

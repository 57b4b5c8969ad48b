"""iMIP (RFC 6047): scheduling messages by mail, for people the server cannot deliver to itself.

A REQUEST or CANCEL to an attendee who is not a local user, a REPLY to an organizer
who is not one.  Composing appends one row to the outbox (storage/outbox.py) — the
subject, a short text and the iCalendar message with its METHOD — under the write lock,
no network; server/mailer.py sends it as ``text/calendar; method=...`` beside the text,
with the same .ics attached.  Mail cannot come back to the server: replies go to the
organizer's mailbox (``Reply-To``), as from any mail client that sends invitations.
"""

import copy
import datetime
from typing import Optional

import icalendar

from roomcal.storage import notify
from roomcal.storage.scheduling import itip
from roomcal.storage.text import is_email, one_line

REQUEST, CANCEL, REPLY = "REQUEST", "CANCEL", "REPLY"
KINDS = {REQUEST: "imip-request", CANCEL: "imip-cancel", REPLY: "imip-reply"}
PRODID = "-//roomcal//iMIP//EN"


def email_of(address: Optional[str]) -> Optional[str]:
    """The e-mail address of a ``mailto:`` calendar-user address, or None."""
    text = str(address or "").strip()
    if not text.lower().startswith("mailto:"):
        return None
    mail = text[7:].strip()
    return mail if is_email(mail) else None


def message(scheduling_object, method: str, organizer_mail: Optional[str]) -> str:
    """The iCalendar text of an iTIP message (by mail, or into a schedule inbox):
    ``scheduling_object`` (an attendee's copy, already without alarms) with METHOD, a fresh
    DTSTAMP (RFC 5546: when the message was made) and the organizer as a ``mailto:``
    address recipients can answer (``organizer_mail`` None: ORGANIZER as it is)."""
    calendar = copy.deepcopy(scheduling_object)
    calendar.pop("METHOD", None)
    calendar.pop("PRODID", None)
    calendar.add("PRODID", PRODID)
    calendar.add("METHOD", method)
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    for event in itip.events(calendar):
        event.pop("DTSTAMP", None)
        event.add("DTSTAMP", now)
        organizer = event.get("ORGANIZER")
        if organizer is not None and organizer_mail and email_of(str(organizer)) != organizer_mail:
            event["ORGANIZER"] = icalendar.vCalAddress(f"mailto:{organizer_mail}")
            event["ORGANIZER"].params.update(organizer.params)
        if method == CANCEL:
            event.pop("STATUS", None)
            event.add("STATUS", "CANCELLED")
    return calendar.to_ical().decode()


def reply_object(calendar, is_theirs, answers) -> tuple:
    """(the REPLY's scheduling object, the first PARTSTAT, who answered) for the attendee
    whose ATTENDEE lines ``is_theirs`` picks in ``calendar``: per VEVENT that names them,
    only their own line (RFC 5546 §3.2.3), PARTSTAT from ``answers`` {RECURRENCE-ID:
    PARTSTAT} (None: DECLINED everywhere).  (None, None, "") when no VEVENT names them."""
    message = icalendar.Calendar()
    message.add("VERSION", "2.0")
    message.subcomponents += [copy.deepcopy(c) for c in calendar.subcomponents if c.name == "VTIMEZONE"]
    who, first = "", None
    for event in itip.events(calendar):
        lines = [a for a in itip.attendees(event) if is_theirs(a)]
        if not lines:
            continue
        partstat = "DECLINED" if answers is None else answers.get(itip.rid(event), "NEEDS-ACTION")
        first = first or partstat
        part = icalendar.Event()
        for name in ("UID", "SEQUENCE", "RECURRENCE-ID", "DTSTART", "DTEND", "DURATION", "SUMMARY", "ORGANIZER"):
            if name in event:
                part[name] = copy.deepcopy(event[name])
        line = copy.deepcopy(lines[0])
        for parameter in ("SCHEDULE-STATUS", "SCHEDULE-AGENT", "RSVP"):
            line.params.pop(parameter, None)
        line.params["PARTSTAT"] = partstat
        part["ATTENDEE"] = line
        who = clean(str(line.params.get("CN", ""))) or email_of(str(line)) or ""
        message.add_component(part)
    return (message if first is not None else None), first, who


def texts(method: str, calendar, *, organizer: str, update: bool = False, who: str = "",
          partstat: str = "") -> tuple:
    """(subject, body) of the mail around an iMIP message."""
    summary = clean(str(itip.master(calendar).get("SUMMARY", ""))) or "(no title)"
    when = _when(itip.master(calendar))
    where = clean(str(itip.master(calendar).get("LOCATION", "")))
    if method == REPLY:
        answer = {"ACCEPTED": "accepted", "DECLINED": "declined", "TENTATIVE": "tentatively accepted",
                  "DELEGATED": "delegated"}.get(partstat, "answered")
        subject = f"{answer.capitalize()}: {summary}"
        lead = f"{who} has {answer} your invitation to “{summary}”."
    elif method == CANCEL:
        subject = f"Cancelled: {summary} ({when})"
        lead = f"{organizer} has cancelled “{summary}”, or taken you off its attendees."
    else:
        subject = f"{'Updated invitation' if update else 'Invitation'}: {summary} ({when})"
        lead = (f"{organizer} has changed “{summary}”." if update else
                f"{organizer} invites you to “{summary}”.")
    lines = [lead, "", f"When: {when}"]
    if where:
        lines.append(f"Where: {where}")
    if method == REQUEST:
        lines += ["", "The invitation is attached (invite.ics): open it in your calendar app to answer.",
                  f"Answers go to {organizer}."]
    return clean(subject), "\n".join(lines) + "\n\n-- \nroomcal\n"


def enqueue(notifier, recipient: str, method: str, ics: str, subject: str, body: str, *,
            uid: str, reply_to: str) -> int:
    """Append the mail to the outbox and wake this process's sender (may raise: the caller
    decides what a failure means)."""
    row = notifier.outbox.add(recipient, subject, body, kind=KINDS[method], uid=uid, calendar=ics,
                              method=method, reply_to=reply_to if is_email(reply_to) else "")
    notify.WAKE.set()
    return row


def _when(event) -> str:
    start = event.get("DTSTART")
    if start is None:
        return "(no time)"
    text = _moment(start.dt)
    end = event.get("DTEND")
    if end is not None and isinstance(end.dt, datetime.datetime):
        same_day = isinstance(start.dt, datetime.datetime) and end.dt.date() == start.dt.date()
        text += " to " + (end.dt.strftime("%H:%M") + _zone(end.dt) if same_day else _moment(end.dt))
    if "RRULE" in event or "RDATE" in event:
        text += " (recurring)"
    return text


def _moment(value) -> str:
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M") + _zone(value)
    return value.strftime("%Y-%m-%d")


def _zone(value: datetime.datetime) -> str:
    name = value.tzname() if value.tzinfo else ""
    return f" {name}" if name else ""


def clean(text: str) -> str:
    """One line for a header or a sentence: line breaks and controls become spaces."""
    return " ".join("".join(c if one_line(c) else " " for c in text).split())

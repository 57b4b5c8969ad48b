"""Scheduling messages for people (RFC 6638 §3, RFC 6047): invitations, replies, cancellations.

Rooms answer for themselves (storage/scheduling/implicit.py); every other attendee of an
organizer's event is delivered to here, under the same write lock as the
organizer's write: a local user (an address of ``user add --email``) gets the
event in their default calendar with PARTSTAT=NEEDS-ACTION, anyone else an iMIP
mail (REQUEST / CANCEL with the .ics attached) through the outbox.  An attendee's
change of their own PARTSTAT in their copy is a reply: it updates the organizer's copy.

Decisions:

- A local attendee's copy is the organizer's VEVENTs that invite them (an override
  that does not: an EXDATE), without alarms (the attendee keeps their own) and without
  the organizer's SCHEDULE-STATUS.  Their PARTSTAT is theirs: kept from their copy,
  per VEVENT, unless that VEVENT's times (DTSTART, DTEND, DURATION, RRULE, RDATE,
  EXDATE) changed or the copy was cancelled — then NEEDS-ACTION again.  The organizer's
  copy shows the same PARTSTAT (the attendee's copy is the truth for it).  Deleting
  one's copy declines; the copy comes back only when the times change.
- An attendee taken off, or the meeting deleted: a local copy is kept with
  STATUS:CANCELLED (their calendar shows what happened; they delete it), anyone
  else gets an iMIP CANCEL.
- iMIP goes only for a new invitation or a change of what the recipient sees
  (times, SUMMARY, LOCATION, DESCRIPTION, STATUS, SEQUENCE; SCHEDULE-FORCE-SEND),
  not for the organizer's re-PUT of attendees' answers: then the previous
  SCHEDULE-STATUS stays.
- SCHEDULE-STATUS (RFC 6638 §3.2.9): 1.2 delivered into a local calendar; 1.1 sent
  (queued in the outbox, which retries until the SMTP server takes it); 3.7 an
  address that is neither a local user nor a valid ``mailto:``; 5.1 no mail
  configured (nothing queued), no organizer address to answer to, or the outbox
  failed; 5.3 an attendee past the first ``MAX_PEOPLE`` of one write (no scheduling
  for them).  A local user without a calendar that takes events gets one
  (``copies.default_calendar``).
- Every local copy that announces something — a new invitation, a change the attendee sees
  (as for iMIP), a cancellation — also files the iTIP message (imip.message) in their
  schedule inbox (storage/scheduling/inbox.py), after the copies are written; a local attendee's
  changed answer files a REPLY (imip.reply_object) in the organizer's.
- Copies are written with ``commit(..., reason=SCHEDULED)``: journal and sync tokens
  move (the attendee's clients see them by sync-collection); ``scheduling.on_put`` is
  not entered again, so nothing loops.  Everything is decided before anything is
  written; mail is queued after the copies, and a failing outbox never fails the write.
"""

import copy
import dataclasses
import logging
from typing import Dict, List, Optional, Set

import icalendar

from roomcal.storage.commit import SCHEDULED, Put, commit
from roomcal.storage.items import free_href
from roomcal.storage.scheduling import copies, imip, itip
from roomcal.storage.scheduling.addresses import normalized
from roomcal.storage.text import is_email

logger = logging.getLogger("roomcal.delivery")

SENT, DELIVERED, REPLIED = "1.1", "1.2", "2.0"
INVALID_USER, UNAVAILABLE, NO_SCHEDULING = "3.7", "5.1", "5.3"
# Attendees handled per write (people, not rooms; removed ones count): a meeting with
# thousands of attendees would hold the write lock for each copy and mail.
MAX_PEOPLE = 100
# What a recipient of iMIP sees change: a new message goes out.
CONTENT = itip.TIMES + ("SUMMARY", "LOCATION", "DESCRIPTION", "STATUS", "SEQUENCE")
NEEDS_ACTION, DECLINED, CANCELLED = "NEEDS-ACTION", "DECLINED", "CANCELLED"


@dataclasses.dataclass
class Person:
    """One attendee (a person), however many of their addresses the event names."""
    user: Optional[str]                              # a local user's name, else None
    address: str                                     # the ATTENDEE value, as first written
    forms: Set[str] = dataclasses.field(default_factory=set)   # normalized ATTENDEE values


@dataclasses.dataclass
class Plan:
    """Everything one organizer's write delivers, decided before anything is written."""
    statuses: Dict[str, str] = dataclasses.field(default_factory=dict)
    puts: List[tuple] = dataclasses.field(default_factory=list)    # (collection, Put)
    mails: List[tuple] = dataclasses.field(default_factory=list)   # (Person or None, enqueue kwargs)
    inbox: List[tuple] = dataclasses.field(default_factory=list)   # (user, uid, method, iTIP text)


def deliver(storage, organizer: str, old: Optional[icalendar.Calendar],
            new: Optional[icalendar.Calendar], actor, lookup: Optional["Lookup"] = None) -> Dict[str, str]:
    """Deliver the organizer's change (``old`` → ``new``; None: created or deleted) to every
    person attendee of it: not rooms, not the organizer, not SCHEDULE-AGENT=CLIENT.
    ``organizer`` is the organizer's user name.  Returns {normalized address: SCHEDULE-STATUS}
    for the attendees of ``new`` that were scheduled (storage/scheduling/implicit.py stamps them).
    ``new`` itself gets the local attendees' PARTSTAT (from their copies)."""
    lookup = lookup or Lookup(storage)
    now, before, removed = _whom(storage, lookup, organizer, old, new)
    if not now and not before:
        return {}
    plan = Plan()
    sender = _Sender(storage, organizer, new if new is not None else old)
    was_cancelled = old is not None and itip.status(old) == CANCELLED
    handled = 0
    for key, person in [*now.items(), *removed]:
        handled += 1
        invited = key in now
        if handled > MAX_PEOPLE:
            if invited:
                _status(plan, person, NO_SCHEDULING)
            continue
        if invited:
            if person.user is not None:
                _invite_locally(storage, lookup, plan, sender, person, organizer, old, new)
            else:
                _invite_by_mail(plan, sender, person, old, new, before.get(key))
        elif not was_cancelled:   # taken off the invitation, or the meeting deleted
            if person.user is not None:
                _cancel_locally(storage, lookup, plan, sender, person, organizer, old)
            else:
                _cancel_by_mail(plan, sender, person, old)
    if handled > MAX_PEOPLE:
        logger.warning("Meeting %s: %d attendees; only the first %d were scheduled (5.3 for the rest)",
                       itip.uid(new if new is not None else old), handled, MAX_PEOPLE)
    for collection, put in plan.puts:
        commit(collection, put=[put], reason=SCHEDULED)
    for user, uid, method, text in plan.inbox:   # after the copies they announce
        _file(storage, user, uid, method, text)
    for person, mail in plan.mails:
        try:
            imip.enqueue(storage.notifier, **mail)
            logger.info("Queued iMIP %s about %s to %s", mail["method"], mail["uid"], mail["recipient"])
        except Exception:   # the outbox is another file: the write stands, the status says it
            logger.exception("iMIP %s about %s to %s not queued", mail["method"], mail["uid"],
                             mail["recipient"])
            if person is not None and new is not None:
                _status(plan, person, UNAVAILABLE)
    return plan.statuses if new is not None else {}


def reply(storage, attendee: str, old: Optional[icalendar.Calendar], new: Optional[icalendar.Calendar],
          actor) -> None:
    """``attendee`` (a user name) wrote their own copy ``new`` of an event someone else
    organizes (None: deleted it, a DECLINED): a changed PARTSTAT of theirs goes to the
    organizer's copy (a local organizer) or as an iMIP REPLY (anyone else).  Nothing else
    of their copy travels (RFC 6638 §3.2.2.1: an attendee changes only their own part)."""
    calendar = new if new is not None else old
    if calendar is None or itip.status(calendar) == CANCELLED:
        return   # a cancelled meeting: nothing to answer
    organizer = itip.master(calendar).get("ORGANIZER")
    if organizer is None or not itip.scheduled(organizer):
        return
    lookup = Lookup(storage)
    answers = _answers(lookup, new, attendee) if new is not None else None
    if answers is not None and not answers:
        return   # not (or no longer) among its attendees
    organizer_user = lookup.user(str(organizer))
    if organizer_user is not None:
        # (the organizer's calendar, then the attendee's own: locked first, in one order)
        storage.lock_writes(users={attendee, organizer_user})
        _reply_locally(storage, lookup, attendee, organizer_user, calendar, answers)
        return
    earlier = _answers(lookup, old, attendee) if old is not None else {}
    if answers is not None and (answers == earlier or
                                (not earlier and set(answers.values()) == {NEEDS_ACTION})):
        return   # their part did not change: no mail
    _reply_by_mail(storage, lookup, attendee, calendar, answers)


# -- whom an event invites ------------------------------------------------------------------------
class Lookup:
    """Address lookups of one write, remembered (each asks the accounts database); one write's
    locks (``local_users``) and delivery share them."""

    def __init__(self, storage):
        self.directory = storage.directory
        self._users: Dict[str, Optional[str]] = {}
        self._rooms: Dict[str, bool] = {}

    def user(self, address: str) -> Optional[str]:
        form = normalized(address)
        if form not in self._users:
            self._users[form] = self.directory.user_for(address)
        return self._users[form]

    def is_room(self, address: str) -> bool:
        form = normalized(address)
        if form not in self._rooms:
            self._rooms[form] = self.directory.room_for(address) is not None
        return self._rooms[form]


def local_users(storage, organizer: str, old, new, lookup: Optional[Lookup] = None) -> Set[str]:
    """The users whose calendars ``deliver`` may write for this change (the first
    MAX_PEOPLE people it handles), known before it writes any: their locks go first
    (storage/scheduling/implicit.py)."""
    now, _, removed = _whom(storage, lookup or Lookup(storage), organizer, old, new)
    return {person.user for _, person in [*now.items(), *removed][:MAX_PEOPLE] if person.user is not None}


def _whom(storage, lookup, organizer: str, old, new):
    """(people invited now, people invited before, those of before taken off) by key."""
    own = {normalized(a) for a in storage.directory.user_addresses(organizer)}
    now = _people(lookup, new, organizer, own) if new is not None else {}
    before = _people(lookup, old, organizer, own) if old is not None else {}
    # Still named (say, now SCHEDULE-AGENT=CLIENT): not taken off, just no longer ours to schedule.
    named = {normalized(str(a)) for e in itip.events(new) for a in itip.attendees(e)} if new is not None else set()
    removed = [(k, p) for k, p in before.items() if k not in now and not p.forms & named]
    return now, before, removed


def _people(lookup, calendar, organizer: str, own: Set[str]) -> Dict[str, Person]:
    """{key: Person} of the people the server schedules for, in the order they appear."""
    found: Dict[str, Person] = {}
    for event in itip.events(calendar):
        for attendee in itip.attendees(event):
            form = normalized(str(attendee))
            if not form or not itip.scheduled(attendee) or form in own or lookup.is_room(str(attendee)):
                continue
            user = lookup.user(str(attendee))
            if user == organizer:
                continue
            key = f"user\0{user}" if user is not None else form
            found.setdefault(key, Person(user, str(attendee))).forms.add(form)
    return found


def _lines(event, forms: Set[str]) -> list:
    return [a for a in itip.attendees(event) if normalized(str(a)) in forms]


def _status(plan: Plan, person: Person, status: str) -> None:
    for form in person.forms:
        plan.statuses[form] = status


def _copy_for(calendar, forms: Set[str]) -> Optional[icalendar.Calendar]:
    """The attendee's view of the organizer's ``calendar``: the VEVENTs that invite them
    (an override that does not is an EXDATE of theirs), VTIMEZONEs, no alarms, none of the
    organizer's SCHEDULE-STATUS.  None when nothing invites them."""
    result = icalendar.Calendar()
    for name, value in calendar.property_items(recursive=False):
        if name not in ("BEGIN", "END", "METHOD"):
            result.add(name, value)
    events, excluded = [], []
    for component in calendar.subcomponents:
        if component.name == "VTIMEZONE":
            result.add_component(copy.deepcopy(component))
            continue
        if component.name != "VEVENT":
            continue
        if not any(itip.scheduled(a) for a in _lines(component, forms)):
            if "RECURRENCE-ID" in component:
                excluded.append(component["RECURRENCE-ID"].dt)
            continue
        event = copy.deepcopy(component)
        event.subcomponents = [c for c in event.subcomponents if c.name != "VALARM"]
        for attendee in itip.attendees(event):
            attendee.params.pop("SCHEDULE-STATUS", None)
            attendee.params.pop("SCHEDULE-FORCE-SEND", None)
        events.append(event)
    if not events:
        return None
    master = next((e for e in events if "RECURRENCE-ID" not in e), None)
    if master is not None and excluded:
        master.add("EXDATE", excluded)
    for event in events:
        result.add_component(event)
    return result


def _shape(calendar, names) -> Dict[object, tuple]:
    """{RECURRENCE-ID: the values of ``names``} per VEVENT, compared as instants."""
    return {itip.rid(e): tuple(_value(e.get(n)) for n in names) for e in itip.events(calendar)}


def _value(prop):
    if prop is None:
        return None
    if isinstance(prop, list):
        return tuple(_value(p) for p in prop)
    if hasattr(prop, "dts"):   # RDATE, EXDATE
        return tuple(sorted((itip.key(d.dt) for d in prop.dts), key=repr))
    if hasattr(prop, "dt"):
        return itip.key(prop.dt)
    try:
        return prop.to_ical()
    except Exception:   # noqa: BLE001 — a value icalendar cannot write back: its text
        return str(prop)


def _forced(calendar, forms: Set[str]) -> bool:
    """SCHEDULE-FORCE-SEND=REQUEST on one of the attendee's lines (RFC 6638 §7.2)."""
    return any(str(a.params.get("SCHEDULE-FORCE-SEND", "")).upper() == "REQUEST"
               for e in itip.events(calendar) for a in _lines(e, forms))


# -- local users ------------------------------------------------------------------------------------
def _own_copy(storage, lookup, user: str, uid: str, organizer: str):
    """(collection, href, calendar) of ``user``'s copy of ``organizer``'s meeting, or None;
    (collection, href, False) when their event of that UID is someone else's."""
    found = copies.find_copy(storage, user, uid)
    if found is None:
        return None
    collection, href = found
    item = collection._get(href)
    calendar = itip.calendar(item.serialize()) if item is not None else None
    if calendar is None or lookup.user(itip.organizer(calendar) or "") != organizer:
        return collection, href, False
    return collection, href, calendar


def _invite_locally(storage, lookup, plan: Plan, sender: "_Sender", person: Person, organizer: str,
                    old, new) -> None:
    uid = itip.uid(new)
    forced = _forced(new, person.forms)   # before _mirror takes the parameter off
    view = _copy_for(new, person.forms)
    found = _own_copy(storage, lookup, person.user, uid, organizer)
    if found is not None and found[2] is False:
        logger.warning("Not delivered to %s: their calendar holds another event with the UID %s",
                       person.user, uid)
        _status(plan, person, UNAVAILABLE)
        return
    seen = _copy_for(old, person.forms) if found is None and old is not None else None
    if seen is not None and _partstat(itip.master(seen), person.forms) == DECLINED \
            and _shape(seen, itip.TIMES) == _shape(view, itip.TIMES):
        # They declined by deleting their copy: it comes back only when the meeting moves.
        _mirror(new, seen, person.forms)
        _status(plan, person, _previous_status(old, person.forms) or DELIVERED)
        return
    if found is None:
        collection = copies.default_calendar(storage, person.user, create=True)
        if collection is None:
            _status(plan, person, NO_SCHEDULING)
            return
        href, existing = free_href(uid, lambda h: collection._get(h) is not None), None
    else:
        collection, href, existing = found
    _answers_kept(view, existing, person.forms)
    _mirror(new, view, person.forms)
    _status(plan, person, DELIVERED)
    if existing is None or existing.to_ical() != view.to_ical():
        plan.puts.append((collection, Put(href, collection._item(view.to_ical().decode()))))
    # The inbox hears what mail would say: a new invitation, or a change they see.
    if existing is None or forced or _shape(existing, CONTENT) != _shape(view, CONTENT):
        method = imip.CANCEL if itip.status(view) == CANCELLED else imip.REQUEST
        plan.inbox.append((person.user, uid, method, imip.message(view, method, sender.mail)))


def _answers_kept(view, existing, forms: Set[str]) -> None:
    """PARTSTAT in the attendee's new copy, per VEVENT: theirs where that VEVENT's times
    did not change (an override at its occurrence's own time follows their master),
    NEEDS-ACTION otherwise.  Their alarms stay theirs."""
    theirs = {itip.rid(e): e for e in itip.events(existing)} if existing is not None else {}
    if existing is not None and itip.status(existing) == CANCELLED and itip.status(view) != CANCELLED:
        theirs = {}   # re-invited after a cancellation: a new question
    times = _shape(existing, itip.TIMES) if theirs else {}
    shape = _shape(view, itip.TIMES)
    for event in itip.events(view):
        rid = itip.rid(event)
        partstat = NEEDS_ACTION
        mine = theirs.get(rid)
        if mine is not None and times.get(rid) == shape[rid]:
            partstat = _partstat(mine, forms) or NEEDS_ACTION
        elif mine is None and rid is not None and None in theirs and times.get(None) == shape.get(None) \
                and _at_own_time(event):
            partstat = _partstat(theirs[None], forms) or NEEDS_ACTION
        for attendee in _lines(event, forms):
            attendee.params["PARTSTAT"] = partstat
        if mine is not None:
            event.subcomponents += [c for c in mine.subcomponents if c.name == "VALARM"]


def _at_own_time(event) -> bool:
    return "DTSTART" in event and itip.key(event["DTSTART"].dt) == itip.key(event["RECURRENCE-ID"].dt)


def _partstat(event, forms: Set[str]) -> Optional[str]:
    for attendee in _lines(event, forms):
        return str(attendee.params.get("PARTSTAT", NEEDS_ACTION)).upper()
    return None


def _mirror(new, view, forms: Set[str]) -> None:
    """The attendee's PARTSTAT of their copy in the organizer's copy, VEVENT by VEVENT."""
    answers = {itip.rid(e): _partstat(e, forms) for e in itip.events(view)}
    for event in itip.events(new):
        partstat = answers.get(itip.rid(event))
        if partstat is None:
            continue
        for attendee in _lines(event, forms):
            if itip.scheduled(attendee):
                attendee.params["PARTSTAT"] = partstat
                attendee.params.pop("SCHEDULE-FORCE-SEND", None)


def _cancel_locally(storage, lookup, plan: Plan, sender: "_Sender", person: Person, organizer: str,
                    old) -> None:
    """Taken off the invitation, or the meeting deleted: their copy stays, cancelled, and
    a CANCEL goes into their inbox."""
    uid = itip.uid(old)
    found = _own_copy(storage, lookup, person.user, uid, organizer)
    if found is None or found[2] is False:
        return
    collection, href, existing = found
    if all(str(e.get("STATUS", "")).upper() == CANCELLED for e in itip.events(existing)):
        return
    for event in itip.events(existing):
        event.pop("STATUS", None)
        event.add("STATUS", CANCELLED)
    plan.puts.append((collection, Put(href, collection._item(existing.to_ical().decode()))))
    view = _copy_for(old, person.forms)
    if view is not None:
        plan.inbox.append((person.user, uid, imip.CANCEL, imip.message(view, imip.CANCEL, sender.mail)))


def _file(storage, user: str, uid: str, method: str, text: str) -> None:
    """A message into ``user``'s schedule inbox (storage/scheduling/inbox.py).  Another file: a failure
    there leaves the write and the copies standing."""
    try:
        storage.inbox.add(user, uid, method, text)
        logger.info("Filed %s about %s in %s's schedule inbox", method, uid, user)
    except Exception:
        logger.exception("%s about %s not filed in %s's schedule inbox", method, uid, user)


# -- everyone else: iMIP ------------------------------------------------------------------------------
class _Sender:
    """Who the organizer is in mail: their address (replies go there) and name."""

    def __init__(self, storage, organizer: str, calendar):
        self.enabled = storage.notifier.settings.enabled
        prop = itip.master(calendar).get("ORGANIZER")
        self.mail = imip.email_of(str(prop)) if prop is not None else None
        if self.mail is None:   # ORGANIZER as a principal URL: the account's address
            account = storage.accounts.get_user(organizer)
            email = account.email if account is not None else ""
            self.mail = email if is_email(email or "") else None
        name = imip.clean(str(prop.params.get("CN", ""))) if prop is not None else ""
        self.name = f"{name} ({self.mail})" if name and self.mail else (name or self.mail or organizer)


def _invite_by_mail(plan: Plan, sender: _Sender, person: Person, old, new, earlier: Optional[Person]) -> None:
    recipient = imip.email_of(person.address)
    if recipient is None:
        _status(plan, person, INVALID_USER)
        return
    view = _copy_for(new, person.forms)
    seen = _copy_for(old, earlier.forms) if old is not None and earlier is not None else None
    forced = _forced(new, person.forms)
    for event in itip.events(new):   # an instruction for this write, not part of the event
        for attendee in _lines(event, person.forms):
            attendee.params.pop("SCHEDULE-FORCE-SEND", None)
    if seen is not None and not forced and _shape(seen, CONTENT) == _shape(view, CONTENT):
        previous = _previous_status(old, person.forms)   # nothing new for them: no mail
        if previous:
            _status(plan, person, previous)
        return
    if not sender.enabled or sender.mail is None:
        if sender.enabled:
            logger.warning("No iMIP to %s: the organizer of %s has no e-mail address",
                           recipient, itip.uid(new))
        _status(plan, person, UNAVAILABLE)
        return
    method = imip.CANCEL if itip.status(view) == CANCELLED else imip.REQUEST
    subject, body = imip.texts(method, view, organizer=sender.name, update=seen is not None)
    plan.mails.append((person, dict(recipient=recipient, method=method, ics=imip.message(view, method, sender.mail),
                                    subject=subject, body=body, uid=itip.uid(new), reply_to=sender.mail)))
    _status(plan, person, SENT)


def _cancel_by_mail(plan: Plan, sender: _Sender, person: Person, old) -> None:
    recipient = imip.email_of(person.address)
    view = _copy_for(old, person.forms)
    if recipient is None or view is None or not sender.enabled or sender.mail is None:
        return
    subject, body = imip.texts(imip.CANCEL, view, organizer=sender.name)
    plan.mails.append((None, dict(recipient=recipient, method=imip.CANCEL,
                                  ics=imip.message(view, imip.CANCEL, sender.mail), subject=subject,
                                  body=body, uid=itip.uid(old), reply_to=sender.mail)))


def _previous_status(calendar, forms: Set[str]) -> Optional[str]:
    for event in itip.events(calendar):
        for attendee in _lines(event, forms):
            if attendee.params.get("SCHEDULE-STATUS"):
                return str(attendee.params["SCHEDULE-STATUS"])
    return None


# -- replies -----------------------------------------------------------------------------------------
def _answers(lookup, calendar, user: str) -> Dict[object, str]:
    """{RECURRENCE-ID: PARTSTAT} of ``user`` in each VEVENT that names them."""
    found = {}
    for event in itip.events(calendar):
        for attendee in itip.attendees(event):
            if lookup.user(str(attendee)) == user:
                found[itip.rid(event)] = str(attendee.params.get("PARTSTAT", NEEDS_ACTION)).upper()
                break
    return found


def _reply_locally(storage, lookup, attendee: str, organizer: str, theirs,
                   answers: Optional[Dict[object, str]]) -> None:
    """The attendee's PARTSTAT in the organizer's copy: their master's on the organizer's
    master (and on the overrides scheduling.py made for rooms), an override's on the
    organizer's override of that occurrence.  ``answers`` None: DECLINED everywhere.
    A change also files a REPLY (from ``theirs``, the attendee's copy) in the organizer's inbox."""
    uid = itip.uid(theirs)
    found = _own_copy(storage, lookup, organizer, uid, organizer)
    if found is None or found[2] is False:
        return
    collection, href, calendar = found
    changed = False
    for event in itip.events(calendar):
        rid = itip.rid(event)
        if answers is None:
            partstat = DECLINED
        elif rid in answers:
            partstat = answers[rid]
        elif rid is not None and itip.GENERATED in event:
            partstat = answers.get(None)
        else:
            continue
        if partstat is None:
            continue
        for line in itip.attendees(event):
            if itip.scheduled(line) and lookup.user(str(line)) == attendee and \
                    str(line.params.get("PARTSTAT", NEEDS_ACTION)).upper() != partstat:
                line.params["PARTSTAT"] = partstat
                line.params["SCHEDULE-STATUS"] = REPLIED
                changed = True
    if changed:
        commit(collection, put=[Put(href, collection._item(calendar.to_ical().decode()))], reason=SCHEDULED)
        message, _, _ = imip.reply_object(theirs, lambda a: lookup.user(str(a)) == attendee, answers)
        if message is not None:
            _file(storage, organizer, uid, imip.REPLY, imip.message(message, imip.REPLY, None))


def _reply_by_mail(storage, lookup, attendee: str, calendar, answers: Optional[Dict[object, str]]) -> None:
    """An iMIP REPLY to an organizer who is not a local user: the attendee's part only."""
    organizer = itip.master(calendar)["ORGANIZER"]
    recipient = imip.email_of(str(organizer))
    if not storage.notifier.settings.enabled or recipient is None:
        return
    account = storage.accounts.get_user(attendee)
    reply_to = account.email if account is not None and is_email(account.email or "") else ""
    message, first, who = imip.reply_object(calendar, lambda a: lookup.user(str(a)) == attendee, answers)
    if message is None:
        return
    who = who or attendee
    subject, body = imip.texts(imip.REPLY, calendar, organizer=recipient, who=who, partstat=first)
    try:
        imip.enqueue(storage.notifier, recipient, imip.REPLY, imip.message(message, imip.REPLY, recipient),
                     subject, body, uid=itip.uid(calendar), reply_to=reply_to)
        logger.info("Queued iMIP REPLY (%s) of %s about %s to %s", first, attendee, itip.uid(calendar), recipient)
    except Exception:   # the attendee's write stands
        logger.exception("iMIP REPLY of %s about %s to %s not queued", attendee, itip.uid(calendar), recipient)

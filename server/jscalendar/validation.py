"""``validate``: every invalid property of an Event, each as a JSON pointer.

Checks run on the normalised event (``normalize.py``); a recurrence override is checked
as the instance it describes (the master patched by it, ``_apply_override``).
"""

from __future__ import annotations

import copy
import datetime
import re

from roomcal.server.jscalendar.normalize import _drop_nulls, _normalize, _normalize_body
from roomcal.server.jscalendar.patch import apply_patch
from roomcal.server.jscalendar.values import (
    DAYS, FREE_BUSY, FREQUENCIES, InvalidEvent, KINDS, OVERRIDE_IGNORED, PARTSTATS, PRIVACY,
    SCHEDULE_AGENTS, SKIPS, STATUS, _BYMONTH_RE, _ID_RE, _LOCAL_TEXT, _UTC_TEXT, _esc, _is_int,
    _parse_duration, _parse_local, _parse_signed, _parse_utc, _ptr, _unesc)
from roomcal.server.jscalendar.zones import _known_zone
from roomcal.storage.booking import is_stamped
from roomcal.storage.text import free_text, one_line


class _Errors:
    def __init__(self):
        self.items = []  # (pointer, message)

    def add(self, pointer, message):
        self.items.append((pointer, message))

    def raise_if_any(self):
        if self.items:
            pointers = list(dict.fromkeys(p for p, _ in self.items))
            shown = "; ".join(f"{p or '/'}: {m}" for p, m in self.items[:5])
            more = f" (and {len(self.items) - 5} more)" if len(self.items) > 5 else ""
            raise InvalidEvent(f"Invalid JSCalendar Event: {shown}{more}", pointers)


def _check_type(errors, parent, key, pointer, expected):
    value = parent.get(key)
    if value is not None and value != expected:
        errors.add(pointer, f"@type must be {expected!r}")


def _check_id_map(errors, value, pointer, what):
    if not isinstance(value, dict):
        errors.add(pointer, f"must be an object of {what} keyed by Id")
        return {}
    out = {}
    for key, item in value.items():
        if not _ID_RE.fullmatch(key):
            errors.add(pointer + "/" + _esc(key), "is not a valid Id (1-255 of A-Za-z0-9-_)")
        elif not isinstance(item, dict):
            errors.add(pointer + "/" + _esc(key), f"must be a {what} object")
        else:
            out[key] = item
    return out


ICAL_INT_MAX = 2 ** 31 - 1


def _check_int_list(errors, rule, key, pointer, low, high, nonzero=False):
    if key not in rule:
        return
    values = rule[key]
    if not isinstance(values, list) or not values:
        errors.add(pointer + "/" + key, "must be a non-empty array of integers")
        return
    for i, v in enumerate(values):
        if not _is_int(v) or not low <= v <= high or (nonzero and v == 0):
            errors.add(f"{pointer}/{key}/{i}", f"must be an integer from {low} to {high}"
                       + (" other than 0" if nonzero else ""))


def _check_rule(errors, rule, pointer):
    if not isinstance(rule, dict):
        errors.add(pointer, "must be a RecurrenceRule object")
        return
    _check_type(errors, rule, "@type", pointer + "/@type", "RecurrenceRule")
    if rule.get("frequency") not in FREQUENCIES:
        errors.add(pointer + "/frequency", "must be one of " + ", ".join(FREQUENCIES))
    for key in ("interval", "count"):   # iCalendar INTEGERs: at most 2^31 - 1
        if key in rule and (not _is_int(rule[key]) or not 1 <= rule[key] <= ICAL_INT_MAX):
            errors.add(f"{pointer}/{key}", f"must be an integer from 1 to {ICAL_INT_MAX}")
    if "until" in rule and _parse_local(rule["until"]) is None:
        errors.add(pointer + "/until", "must be " + _LOCAL_TEXT)
    if "count" in rule and "until" in rule:
        errors.add(pointer + "/until", "count and until must not both be set")
    if "rscale" in rule and not isinstance(rule["rscale"], str):
        errors.add(pointer + "/rscale", "must be a string")
    if "skip" in rule and rule["skip"] not in SKIPS:
        errors.add(pointer + "/skip", "must be one of " + ", ".join(SKIPS))
    if "firstDayOfWeek" in rule and rule["firstDayOfWeek"] not in DAYS:
        errors.add(pointer + "/firstDayOfWeek", "must be one of " + ", ".join(DAYS))
    if "byDay" in rule:
        by_day = rule["byDay"]
        if not isinstance(by_day, list) or not by_day:
            errors.add(pointer + "/byDay", "must be a non-empty array of NDay")
        else:
            for i, nday in enumerate(by_day):
                p = f"{pointer}/byDay/{i}"
                if not isinstance(nday, dict):
                    errors.add(p, "must be an NDay object")
                    continue
                _check_type(errors, nday, "@type", p + "/@type", "NDay")
                if nday.get("day") not in DAYS:
                    errors.add(p + "/day", "must be one of " + ", ".join(DAYS))
                if "nthOfPeriod" in nday:
                    n = nday["nthOfPeriod"]
                    if not _is_int(n) or n == 0 or not -366 <= n <= 366:
                        errors.add(p + "/nthOfPeriod", "must be a non-zero integer")
    if "byMonth" in rule:
        months = rule["byMonth"]
        if not isinstance(months, list) or not months:
            errors.add(pointer + "/byMonth", "must be a non-empty array of strings")
        else:
            for i, month in enumerate(months):
                m = _BYMONTH_RE.fullmatch(month) if isinstance(month, str) else None
                if not m or not 1 <= int(m.group(1)) <= 13:
                    errors.add(f"{pointer}/byMonth/{i}", 'must be a month number as a string ("1"-"12", "3L")')
    _check_int_list(errors, rule, "byMonthDay", pointer, -31, 31, nonzero=True)
    _check_int_list(errors, rule, "byYearDay", pointer, -366, 366, nonzero=True)
    _check_int_list(errors, rule, "byWeekNo", pointer, -53, 53, nonzero=True)
    _check_int_list(errors, rule, "byHour", pointer, 0, 23)
    _check_int_list(errors, rule, "byMinute", pointer, 0, 59)
    _check_int_list(errors, rule, "bySecond", pointer, 0, 60)
    _check_int_list(errors, rule, "bySetPosition", pointer, -366, 366, nonzero=True)


def _check_participant(errors, p, pointer):
    _check_type(errors, p, "@type", pointer + "/@type", "Participant")
    for key in ("name", "email", "description"):
        if key in p and not isinstance(p[key], str):
            errors.add(f"{pointer}/{key}", "must be a string")
    if "sendTo" in p:
        send_to = p["sendTo"]
        if not isinstance(send_to, dict) or not all(isinstance(v, str) and v for v in send_to.values()):
            errors.add(pointer + "/sendTo", 'must be an object of URIs, e.g. {"imip": "mailto:..."}')
    kind = p.get("kind")
    if kind is not None and kind not in KINDS and not (isinstance(kind, str) and ":" in kind):
        errors.add(pointer + "/kind", "must be one of " + ", ".join(KINDS))
    if "roles" in p:
        roles = p["roles"]
        if not isinstance(roles, dict) or not roles or not all(v is True for v in roles.values()):
            errors.add(pointer + "/roles", 'must be a non-empty object of roles set to true, e.g. {"attendee": true}')
    if "participationStatus" in p:
        status = p["participationStatus"]
        if status not in PARTSTATS and not (isinstance(status, str) and ":" in status):
            errors.add(pointer + "/participationStatus", "must be one of " + ", ".join(PARTSTATS))
    if "expectReply" in p and not isinstance(p["expectReply"], bool):
        errors.add(pointer + "/expectReply", "must be true or false")
    if "scheduleAgent" in p and p["scheduleAgent"] not in SCHEDULE_AGENTS:
        errors.add(pointer + "/scheduleAgent", "must be one of " + ", ".join(SCHEDULE_AGENTS))


def _check_alert(errors, alert, pointer):
    _check_type(errors, alert, "@type", pointer + "/@type", "Alert")
    trigger = alert.get("trigger")
    tp = pointer + "/trigger"
    if not isinstance(trigger, dict):
        errors.add(tp, "is required: an OffsetTrigger or AbsoluteTrigger object")
    elif trigger.get("@type") == "OffsetTrigger":
        if _parse_signed(trigger.get("offset")) is None:
            errors.add(tp + "/offset", 'must be a SignedDuration, e.g. "-PT15M" (15 minutes before)')
        if trigger.get("relativeTo", "start") not in ("start", "end"):
            errors.add(tp + "/relativeTo", 'must be "start" or "end"')
    elif trigger.get("@type") == "AbsoluteTrigger":
        if _parse_utc(trigger.get("when")) is None:
            errors.add(tp + "/when", "must be " + _UTC_TEXT)
    else:
        errors.add(tp + "/@type", 'must be "OffsetTrigger" or "AbsoluteTrigger"')
    if "action" in alert and alert["action"] not in ("display", "email"):
        errors.add(pointer + "/action", 'must be "display" or "email"')
    if "acknowledged" in alert and _parse_utc(alert["acknowledged"]) is None:
        errors.add(pointer + "/acknowledged", "must be a UTCDateTime")


def _check_zone(errors, value, pointer):
    if value is None:
        return
    if not isinstance(value, str) or not (value.startswith("/") and len(value) > 1 or _known_zone(value)):
        errors.add(pointer, "must be an IANA time zone name (e.g. Europe/Berlin) or null")


# Members whose strings are free text: SUMMARY and DESCRIPTION escape line breaks, a CN
# parameter encodes them (RFC 6868), and vendor members ("example.com:x", RFC 8984 §3.3)
# live only in the percent-encoded remainder.  Every other string — addresses, URIs,
# ids, tokens — is one line; so are the values of the address maps, whatever their keys.
_TEXT_MEMBERS = frozenset({"title", "description", "name"})
_ADDRESS_MAPS = frozenset({"sendTo", "replyTo"})
_VENDOR_RE = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+:.+")


def _check_members(value, pointer: str, errors: _Errors) -> None:
    """Every member name and string of the input, wherever it sits (patches included):
    one line (free text: no control characters but line breaks and tabs), and no member
    the server stamps (who booked, when)."""
    stack = [(value, pointer, False, "")]
    while stack:
        item, at, free, member = stack.pop()
        if isinstance(item, str):
            if free and not free_text(item):
                errors.add(at, "must not contain control characters (line breaks and tabs are fine)")
            elif not free and not one_line(item):
                errors.add(at, "must be one line, without control characters")
        elif isinstance(item, dict):
            for key, sub in item.items():
                where = at + "/" + _esc(key)
                name = _unesc(str(key).rpartition("/")[2])  # PatchObject keys are paths
                if not one_line(str(key)):
                    errors.add(where, "a member name must be one line, without control characters")
                elif is_stamped(name):
                    errors.add(where, "is set by the server (who booked, and when): leave it out")
                else:
                    stack.append((sub, where, member not in _ADDRESS_MAPS and (
                        free or name in _TEXT_MEMBERS or bool(_VENDOR_RE.fullmatch(name))), name))
        elif isinstance(item, list):
            stack.extend((sub, f"{at}/{i}", free, member) for i, sub in enumerate(item))


def _check_event(ev, errors: _Errors, prefix="", instance=False):
    def p(*tokens):
        return prefix + _ptr(*tokens)

    if not instance:  # an instance is built from the master and patches checked here
        _check_members(ev, prefix, errors)
    if ev.get("@type", "Event") != "Event":
        errors.add(p("@type"), 'must be "Event"')
    if "uid" in ev and (not isinstance(ev["uid"], str) or not ev["uid"]):
        errors.add(p("uid"), "must be a non-empty string")
    for key in ("title", "description", "prodId", "descriptionContentType", "color", "locale"):
        if key in ev and not isinstance(ev[key], str):
            errors.add(p(key), "must be a string")
    start = _parse_local(ev.get("start"))
    if start is None:
        errors.add(p("start"), "is required: " + _LOCAL_TEXT)
    _check_zone(errors, ev.get("timeZone"), p("timeZone"))
    duration = None
    if "duration" in ev:
        duration = _parse_duration(ev["duration"])
        if duration is None:
            errors.add(p("duration"), 'must be a Duration, e.g. "PT1H30M" or "P1D"')
    if "showWithoutTime" in ev:
        if not isinstance(ev["showWithoutTime"], bool):
            errors.add(p("showWithoutTime"), "must be true or false")
        elif ev["showWithoutTime"]:
            if start is not None and start.time() != datetime.time():
                errors.add(p("start"), "an all-day event (showWithoutTime) starts at T00:00:00")
            if duration is not None and duration[1] % 86400:
                errors.add(p("duration"), "an all-day event (showWithoutTime) lasts whole days (P1D, P2D, ...)")
    for key in ("created", "updated"):
        if key in ev and _parse_utc(ev[key]) is None:
            errors.add(p(key), "must be " + _UTC_TEXT)
    if "sequence" in ev and (not _is_int(ev["sequence"]) or ev["sequence"] < 0):
        errors.add(p("sequence"), "must be an unsigned integer")
    if "priority" in ev and (not _is_int(ev["priority"]) or not 0 <= ev["priority"] <= 9):
        errors.add(p("priority"), "must be an integer from 0 to 9")
    for key, allowed in (("status", STATUS), ("freeBusyStatus", FREE_BUSY), ("privacy", tuple(PRIVACY))):
        if key in ev and ev[key] not in allowed:
            errors.add(p(key), "must be one of " + ", ".join(allowed))
    if "keywords" in ev:
        kw = ev["keywords"]
        if not isinstance(kw, dict) or not all(v is True for v in kw.values()):
            errors.add(p("keywords"), 'must be an object of words set to true, e.g. {"urgent": true}')
    if "locations" in ev:
        for lid, loc in _check_id_map(errors, ev["locations"], p("locations"), "Location").items():
            _check_type(errors, loc, "@type", p("locations", lid, "@type"), "Location")
            if "name" in loc and not isinstance(loc["name"], str):
                errors.add(p("locations", lid, "name"), "must be a string")
    if "participants" in ev:
        for pid, part in _check_id_map(errors, ev["participants"], p("participants"), "Participant").items():
            _check_participant(errors, part, p("participants", pid))
    if "replyTo" in ev:
        reply = ev["replyTo"]
        if not isinstance(reply, dict) or not all(isinstance(v, str) and v for v in reply.values()):
            errors.add(p("replyTo"), 'must be an object of URIs, e.g. {"imip": "mailto:..."}')
    if "alerts" in ev:
        for aid, alert in _check_id_map(errors, ev["alerts"], p("alerts"), "Alert").items():
            _check_alert(errors, alert, p("alerts", aid))
    if "recurrenceId" in ev and _parse_local(ev["recurrenceId"]) is None:
        errors.add(p("recurrenceId"), "must be a LocalDateTime")
    _check_zone(errors, ev.get("recurrenceIdTimeZone"), p("recurrenceIdTimeZone"))
    if instance:
        return
    for key in ("recurrenceRules", "excludedRecurrenceRules"):
        if key in ev:
            if not isinstance(ev[key], list):
                errors.add(p(key), "must be an array of RecurrenceRule")
            else:
                for i, rule in enumerate(ev[key]):
                    _check_rule(errors, rule, p(key, i))
    if "recurrenceOverrides" in ev:
        overrides = ev["recurrenceOverrides"]
        if not isinstance(overrides, dict):
            errors.add(p("recurrenceOverrides"), "must be an object of PatchObjects keyed by LocalDateTime")
            return
        base = {k: v for k, v in ev.items() if k != "recurrenceOverrides"}
        for key, patch in overrides.items():
            op = p("recurrenceOverrides", key)
            if _parse_local(key) is None:
                errors.add(op, "the key must be a LocalDateTime (the recurrence id)")
                continue
            if not isinstance(patch, dict):
                errors.add(op, "must be a PatchObject")
                continue
            if patch.get("excluded") is True:
                continue
            try:
                inst = _apply_override(base, key, patch)
            except InvalidEvent as e:
                for pointer in e.properties:
                    errors.add(op + "/" + _esc(pointer[1:]), e.message)
                continue
            inst_errors = _Errors()
            _check_event(inst, inst_errors, instance=True)
            for pointer, message in inst_errors.items:
                errors.add(op + _override_pointer(patch, pointer), message)


def _override_pointer(patch, pointer):
    """Map an error in an instance to the override patch key that caused it."""
    for key in patch:
        norm = key[1:] if key.startswith("/") else key
        if pointer == "/" + norm or pointer.startswith("/" + norm + "/"):
            return "/" + _esc(norm)
    return ""


def _apply_override(base: dict, key: str, patch: dict) -> dict:
    """The instance an override describes: the master without recurrence, started at key."""
    inst = {k: copy.deepcopy(v) for k, v in base.items() if k not in OVERRIDE_IGNORED}
    inst["start"] = key
    relevant = {}
    for pk, value in patch.items():
        norm = pk[1:] if isinstance(pk, str) and pk.startswith("/") else pk
        if not isinstance(norm, str) or norm == "excluded":
            continue
        if _unesc(norm.split("/")[0]) in OVERRIDE_IGNORED:
            continue  # RFC 8984 §4.3.5: ignored in overrides
        relevant[norm] = value
    inst = apply_patch(inst, relevant)
    return _normalize_body(_drop_nulls(inst))


def validate(event: dict) -> None:
    """Raise InvalidEvent (with JSON pointers to every invalid property) unless event is a
    valid JSCalendar Event for this server.  JSCalendar-bis and EGroupware spellings that
    from_jscalendar accepts are accepted here too."""
    ev = _normalize(event)
    errors = _Errors()
    _check_event(ev, errors)
    errors.raise_if_any()

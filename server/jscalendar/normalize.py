"""JSCalendar input made uniform before it is checked or written: nulls dropped,
JSCalendar-bis and EGroupware spellings read as RFC 8984 (NDay strings, rule and alert
shorthands, participant roles).
"""

from __future__ import annotations

import copy
import datetime

from roomcal.server.jscalendar.values import (
    InvalidEvent, _NDAY_RE, _UTC_ALIASES, _fmt_signed, _is_int)


def _drop_nulls(value):
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def _nday(item):
    if isinstance(item, str):
        m = _NDAY_RE.fullmatch(item.strip())
        if not m:
            return item
        out = {"@type": "NDay", "day": m.group(2).lower()}
        if m.group(1):
            out["nthOfPeriod"] = int(m.group(1))
        return out
    if isinstance(item, dict) and isinstance(item.get("day"), str):
        item = dict(item)
        item["day"] = item["day"].lower()
    return item


def _normalize_rule(rule):
    if not isinstance(rule, dict):
        return rule
    rule = dict(rule)
    for key in ("frequency", "rscale", "skip", "firstDayOfWeek"):
        if isinstance(rule.get(key), str):
            rule[key] = rule[key].lower()
    by_day = rule.get("byDay")
    if isinstance(by_day, dict) and isinstance(by_day.get("day"), str) and "," in by_day["day"]:
        by_day = [d.strip() for d in by_day["day"].split(",")]  # EGroupware: one NDay, "mo,we"
    elif isinstance(by_day, (dict, str)):
        by_day = by_day.split(",") if isinstance(by_day, str) else [by_day]
    if isinstance(by_day, list):
        rule["byDay"] = [_nday(d) for d in by_day]
    if isinstance(rule.get("byMonth"), list):
        rule["byMonth"] = [str(m) if _is_int(m) else m for m in rule["byMonth"]]
    return rule


def _normalize_participant(p):
    if isinstance(p, str):  # EGroupware (non-strict): a bare email address
        address = p[7:] if p[:7].lower() == "mailto:" else p
        return {"@type": "Participant", "email": address, "sendTo": {"imip": "mailto:" + address},
                "roles": {"attendee": True}}
    if not isinstance(p, dict):
        return p
    p = dict(p)
    if "calendarAddress" in p and "sendTo" not in p:  # JSCalendar-bis
        address = p.pop("calendarAddress")
        if isinstance(address, str):
            p["sendTo"] = {"imip" if address[:7].lower() == "mailto:" else "other": address}
    send_to = p.get("sendTo")
    if isinstance(send_to, dict) and isinstance(send_to.get("imip"), str):
        imip = send_to["imip"]
        if ":" not in imip:
            p["sendTo"] = dict(send_to, imip="mailto:" + imip)
    roles = p.get("roles")
    if isinstance(roles, dict):
        roles = {("attendee" if r == "required" else r): v for r, v in roles.items() if v is not False}
        p["roles"] = roles
    if isinstance(p.get("kind"), str):
        p["kind"] = p["kind"].lower()
    if isinstance(p.get("participationStatus"), str):
        p["participationStatus"] = p["participationStatus"].lower()
    return p


def _normalize_alert(alert):
    if not isinstance(alert, dict):
        return alert
    alert = dict(alert)
    trigger = alert.get("trigger")
    if isinstance(trigger, dict):
        trigger = dict(trigger)
        if "@type" not in trigger:
            if "offset" in trigger:
                trigger["@type"] = "OffsetTrigger"
            elif "when" in trigger:
                trigger["@type"] = "AbsoluteTrigger"
        if _is_int(trigger.get("offset")):  # EGroupware: integer seconds *before*
            trigger["offset"] = _fmt_signed(datetime.timedelta(seconds=-trigger["offset"]))
        alert["trigger"] = trigger
    if isinstance(alert.get("action"), str):
        alert["action"] = alert["action"].lower()
    return alert


def _normalize_body(ev: dict) -> dict:
    """Accept JSCalendar-bis and EGroupware spellings; output RFC 8984 spellings."""
    for key in ("sequence", "priority"):
        if isinstance(ev.get(key), str) and ev[key].strip().isdigit():
            ev[key] = int(ev[key])
    for bis, rfc in (("recurrenceRule", "recurrenceRules"),
                     ("excludedRecurrenceRule", "excludedRecurrenceRules")):
        if bis in ev and rfc not in ev:
            value = ev.pop(bis)
            ev[rfc] = [value] if isinstance(value, dict) else value
    if "organizerCalendarAddress" in ev and "replyTo" not in ev:
        address = ev.pop("organizerCalendarAddress")
        if isinstance(address, str):
            ev["replyTo"] = {"imip" if address[:7].lower() == "mailto:" else "other": address}
    if isinstance(ev.get("timeZone"), str) and ev["timeZone"] in _UTC_ALIASES:
        ev["timeZone"] = "Etc/UTC"
    if isinstance(ev.get("recurrenceIdTimeZone"), str) and ev["recurrenceIdTimeZone"] in _UTC_ALIASES:
        ev["recurrenceIdTimeZone"] = "Etc/UTC"
    if isinstance(ev.get("keywords"), list):
        ev["keywords"] = {w: True for w in ev["keywords"] if isinstance(w, str)}
    if isinstance(ev.get("keywords"), dict):
        ev["keywords"] = {w: v for w, v in ev["keywords"].items() if v is not False}
    for key in ("status", "freeBusyStatus", "privacy"):
        if isinstance(ev.get(key), str):
            ev[key] = ev[key].lower()
    if isinstance(ev.get("participants"), dict):
        ev["participants"] = {k: _normalize_participant(v) for k, v in ev["participants"].items()}
    for key in ("recurrenceRules", "excludedRecurrenceRules"):
        if isinstance(ev.get(key), list):
            ev[key] = [_normalize_rule(r) for r in ev[key]]
    if isinstance(ev.get("alerts"), dict):
        ev["alerts"] = {k: _normalize_alert(v) for k, v in ev["alerts"].items()}
    return ev


def _normalize(event) -> dict:
    if not isinstance(event, dict):
        raise InvalidEvent("A JSCalendar Event must be a JSON object.", [""])
    ev = copy.deepcopy(event)
    overrides = ev.pop("recurrenceOverrides", None)
    ev = _normalize_body(_drop_nulls(ev))
    if isinstance(overrides, dict):
        ev["recurrenceOverrides"] = {
            k: ({pk: (_drop_nulls(pv) if pv is not None else None) for pk, pv in v.items()}
                if isinstance(v, dict) else v)
            for k, v in overrides.items()}
    elif overrides is not None:
        ev["recurrenceOverrides"] = overrides
    return ev

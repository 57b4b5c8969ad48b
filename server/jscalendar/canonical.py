"""The canonical form of an Event: what reading it back gives if everything maps.

The writer writes this form; whatever the written iCalendar then reads as differently is
kept in the remainder (``residue.py``).
"""

from __future__ import annotations

import datetime

from roomcal.server.jscalendar.read import _override_patch, _uuid5
from roomcal.server.jscalendar.validation import _apply_override
from roomcal.server.jscalendar.values import (
    OVERRIDE_IGNORED, _add, _between, _fmt_local, _fmt_signed, _fmt_utc, _parse_duration,
    _parse_local, _parse_signed, _parse_utc)
from roomcal.server.jscalendar.zones import _Zones


def _canon_local(text):
    dt = _parse_local(text)
    return _fmt_local(dt) if dt is not None else text


def _canon_utc(text):
    dt = _parse_utc(text)
    return _fmt_utc(dt) if dt is not None else text


def _address(p: dict, pid: str, uid: str) -> str:
    """The calendar address (ATTENDEE/ORGANIZER value) for a participant."""
    send_to = p.get("sendTo")
    if isinstance(send_to, dict):
        for method in ("imip", "other"):
            if send_to.get(method):
                return send_to[method]
        for value in send_to.values():
            if value:
                return value
    if p.get("email"):
        return "mailto:" + p["email"]
    return "urn:uuid:" + _uuid5(f"{uid}/participants/{pid}")


def _reply_address(reply):
    if not isinstance(reply, dict):
        return None
    for method in ("imip", "other"):
        if reply.get(method):
            return reply[method]
    return next((v for v in reply.values() if v), None)


def _canon_participant(p):
    q = dict(p)
    q["@type"] = "Participant"
    roles = {r: True for r, v in (p.get("roles") or {}).items() if v is True}
    q["roles"] = roles or {"attendee": True}
    if not p.get("sendTo") and p.get("email"):
        q["sendTo"] = {"imip": "mailto:" + p["email"]}
    imip = (q.get("sendTo") or {}).get("imip") or ""
    if "email" not in q and imip[:7].lower() == "mailto:" and imip[7:]:
        q["email"] = imip[7:]
    return q


def _canon_alert(a):
    a = dict(a)
    a["@type"] = "Alert"
    trigger = dict(a["trigger"])
    if trigger.get("@type") == "OffsetTrigger":
        trigger["offset"] = _fmt_signed(_parse_signed(trigger["offset"]))
        trigger.setdefault("relativeTo", "start")
    else:
        trigger["when"] = _canon_utc(trigger["when"])
    a["trigger"] = trigger
    if a.get("action") == "display":
        del a["action"]
    if "acknowledged" in a:
        a["acknowledged"] = _canon_utc(a["acknowledged"])
    return a


def _canon_rule(rule, all_day):
    r = {"@type": "RecurrenceRule"}
    r.update((k, v) for k, v in rule.items() if k != "@type")
    if "byDay" in r:
        r["byDay"] = [dict({"@type": "NDay"}, **{k: v for k, v in d.items() if k != "@type"})
                      for d in r["byDay"]]
    if "until" in r:
        until = _parse_local(r["until"])
        if all_day:
            until = datetime.datetime.combine(until.date(), datetime.time())
        r["until"] = _fmt_local(until)
    return r


def _canonical(ev: dict, zones: _Zones, uid: str, instance=False) -> dict:
    """What reading back this (valid, normalised) Event gives if everything maps."""
    c = {}
    for key, value in ev.items():
        if key in ("showWithoutTime", "timeZone", "recurrenceOverrides") or value is None:
            continue
        c[key] = value
    c["@type"] = "Event"
    all_day = ev.get("showWithoutTime") is True
    start = _parse_local(ev["start"])
    zone = None if all_day else ev.get("timeZone")
    c["start"] = _fmt_local(start)
    if zone is not None:
        c["timeZone"] = zone
    days, seconds = _parse_duration(ev.get("duration", "PT0S"))
    if all_day:
        c["duration"] = f"P{max(days + seconds // 86400, 1)}D"
        c["showWithoutTime"] = True
    else:
        tz = zones.tzinfo(zone)
        aware = start.replace(tzinfo=tz) if tz is not None else start
        c["duration"] = _between(aware, _add(start, tz, days, seconds))
    for key in ("created", "updated"):
        if key in c:
            c[key] = _canon_utc(c[key])
    if "recurrenceId" in c:
        c["recurrenceId"] = _canon_local(c["recurrenceId"])
    for key in ("keywords", "locations", "participants", "alerts"):
        if key in c and not c[key]:
            del c[key]
    if "locations" in c:
        c["locations"] = {k: dict({"@type": "Location"}, **{m: v for m, v in loc.items() if m != "@type"})
                          for k, loc in c["locations"].items()}
    if "participants" in c:
        c["participants"] = {k: _canon_participant(v) for k, v in c["participants"].items()}
        if "replyTo" not in c:
            owner = next((k for k, v in c["participants"].items() if v["roles"].get("owner")), None)
            if owner is not None:
                address = _address(c["participants"][owner], owner, uid)
                c["replyTo"] = {"imip" if address[:7].lower() == "mailto:" else "other": address}
    if "alerts" in c:
        c["alerts"] = {k: _canon_alert(v) for k, v in c["alerts"].items()}
    if instance:
        return c
    for key in ("recurrenceRules", "excludedRecurrenceRules"):
        if key in c:
            if c[key]:
                c[key] = [_canon_rule(r, all_day) for r in c[key]]
            else:
                del c[key]
    overrides = ev.get("recurrenceOverrides")
    if overrides:
        base = {k: v for k, v in ev.items() if k != "recurrenceOverrides"}
        master = {k: v for k, v in c.items() if k not in OVERRIDE_IGNORED}
        out = {}
        for key, patch in overrides.items():
            ckey = _canon_local(key)
            if all_day:
                ckey = _fmt_local(datetime.datetime.combine(_parse_local(key).date(), datetime.time()))
            if patch.get("excluded") is True:
                out[ckey] = {"excluded": True}
                continue
            inst = _canonical(_apply_override(base, key, patch), zones, uid, instance=True)
            out[ckey] = _override_patch(master, inst, ckey)
        c["recurrenceOverrides"] = {k: out[k] for k in sorted(out)}
    return c

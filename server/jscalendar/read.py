"""iCalendar -> JSCalendar: ``to_jscalendar`` and the readers of each property.

Stable ids are derived here (``_uuid5``, ``_assign_ids``); the remainder is applied last
(``residue.py``).  The writer reads the previous item with the same functions, so a value
is rewritten only where the JSON differs from what it reads as.
"""

from __future__ import annotations

import datetime
import json
import uuid

from roomcal.server.jscalendar.ical import _all, _dt, _first, _param, _parse_ical, _text
from roomcal.server.jscalendar.residue import _apply_residue, _residue_entries
from roomcal.server.jscalendar.values import (
    FREQUENCIES, KINDS, NAMESPACE, OVERRIDE_IGNORED, PARTSTATS, PRIVACY, ROLE_ORDER,
    SCHEDULE_AGENTS, STATUS, UTC, _EVENT_ORDER, _ID_NAMES, _ID_RE, _MAX_INT, _NDAY_RE, _add,
    _between, _esc, _fmt_local, _fmt_signed, _fmt_utc, _same)
from roomcal.server.jscalendar.zones import _Ctx, _Zones, _zone_name


def _explicit_id(prop):
    for name in _ID_NAMES:
        value = _param(prop, name)
        if value and _ID_RE.fullmatch(value):
            return value
    return None


def _uuid5(text: str) -> str:
    return str(uuid.uuid5(NAMESPACE, text))


def _assign_ids(items):
    """items: (explicit id or None, derived id) -> ids, unique, explicit ones first."""
    ids, used = [None] * len(items), set()
    for i, (explicit, _) in enumerate(items):
        if explicit and explicit not in used:
            ids[i] = explicit
            used.add(explicit)
    for i, (_, base) in enumerate(items):
        if ids[i] is None:
            candidate, n = base, 2
            while candidate in used:
                candidate, n = f"{base}-{n}", n + 1
            ids[i] = candidate
            used.add(candidate)
    return ids


def _read_time(comp, zones) -> _Ctx:
    prop = _first(comp, "DTSTART")
    value = _dt(prop) if prop is not None else None
    if value is None:
        return _Ctx(zones=zones)
    if not isinstance(value, datetime.datetime):
        return _Ctx(datetime.datetime.combine(value, datetime.time()), None, None, True, zones)
    wall = value.replace(tzinfo=None)
    tzid = _param(prop, "TZID")
    if tzid:
        zone = _zone_name(tzid)
        return _Ctx(wall, zone, zones.tzinfo(zone, value), False, zones)
    if value.tzinfo is not None:
        return _Ctx(wall, "Etc/UTC", UTC, False, zones)
    return _Ctx(wall, None, None, False, zones)


def _moment(prop, ctx: _Ctx):
    """A DTEND-like property as an aware (or floating) datetime, or a date."""
    value = _dt(prop)
    if value is None or not isinstance(value, datetime.datetime):
        return value
    tz = ctx.tz_of(value, _param(prop, "TZID"))
    wall = value.replace(tzinfo=None)
    return wall.replace(tzinfo=tz) if tz is not None else wall


def _read_duration(comp, ctx: _Ctx) -> str | None:
    if ctx.start is None:
        return None
    dur = _first(comp, "DURATION")
    end = _first(comp, "DTEND")
    if dur is not None and isinstance(_dt(dur), datetime.timedelta):
        td = _dt(dur)
        if td < datetime.timedelta(0):
            return "P1D" if ctx.all_day else "PT0S"
        if ctx.all_day:
            return f"P{max(td.days + (1 if td.seconds else 0), 1)}D"
        return _between(ctx.aware(ctx.start), _add(ctx.start, ctx.tz, td.days, td.seconds))
    if end is not None and _dt(end) is not None:
        moment = _moment(end, ctx)
        if ctx.all_day:
            return _between(ctx.start.date(), moment)
        return _between(ctx.aware(ctx.start), moment)
    return "P1D" if ctx.all_day else "PT0S"


def _utc_of(prop):
    value = _dt(prop) if prop is not None else None
    if isinstance(value, (datetime.date, datetime.datetime)):
        return _fmt_utc(value)
    return None


def _int_of(prop, low, high):
    if prop is None:
        return None
    try:
        value = int(prop)
    except Exception:
        return None
    return value if low <= value <= high else None


def _read_simple(comp) -> dict:
    out = {}
    uid = _text(_first(comp, "UID"))
    if uid is not None:
        out["uid"] = uid
    for key, name in (("created", "CREATED"), ("updated", "DTSTAMP")):
        value = _utc_of(_first(comp, name))
        if value is not None:
            out[key] = value
    seq = _int_of(_first(comp, "SEQUENCE"), 0, _MAX_INT)
    if seq is not None:
        out["sequence"] = seq
    for key, name in (("title", "SUMMARY"), ("description", "DESCRIPTION")):
        value = _text(_first(comp, name))
        if value is not None:
            out[key] = value
    status = (_text(_first(comp, "STATUS")) or "").lower()
    if status in STATUS:
        out["status"] = status
    transp = (_text(_first(comp, "TRANSP")) or "").upper()
    if transp in ("OPAQUE", "TRANSPARENT"):
        out["freeBusyStatus"] = "busy" if transp == "OPAQUE" else "free"
    klass = (_text(_first(comp, "CLASS")) or "").upper()
    for key, value in PRIVACY.items():
        if klass == value:
            out["privacy"] = key
    prio = _int_of(_first(comp, "PRIORITY"), 0, 9)
    if prio is not None:
        out["priority"] = prio
    return out


def _read_rule(prop, ctx: _Ctx):
    try:
        parts = {str(k).upper(): v for k, v in dict(prop).items()}
        freq = str(parts["FREQ"][0]).lower()
    except Exception:
        return None
    if freq not in FREQUENCIES:
        return None
    rule = {"@type": "RecurrenceRule", "frequency": freq}
    try:
        if "INTERVAL" in parts:
            rule["interval"] = int(parts["INTERVAL"][0])
        for key, name in (("rscale", "RSCALE"), ("skip", "SKIP"), ("firstDayOfWeek", "WKST")):
            if name in parts:
                rule[key] = str(parts[name][0]).lower()
        if "BYDAY" in parts:
            days = []
            for item in parts["BYDAY"]:
                m = _NDAY_RE.fullmatch(str(item))
                if not m:
                    return None
                nday = {"@type": "NDay", "day": m.group(2).lower()}
                if m.group(1):
                    nday["nthOfPeriod"] = int(m.group(1))
                days.append(nday)
            rule["byDay"] = days
        if "BYMONTHDAY" in parts:
            rule["byMonthDay"] = [int(v) for v in parts["BYMONTHDAY"]]
        if "BYMONTH" in parts:
            rule["byMonth"] = [str(v) for v in parts["BYMONTH"]]
        for key, name in (("byYearDay", "BYYEARDAY"), ("byWeekNo", "BYWEEKNO"), ("byHour", "BYHOUR"),
                          ("byMinute", "BYMINUTE"), ("bySecond", "BYSECOND"),
                          ("bySetPosition", "BYSETPOS")):
            if name in parts:
                rule[key] = [int(v) for v in parts[name]]
        if "COUNT" in parts:
            rule["count"] = int(parts["COUNT"][0])
        if "UNTIL" in parts:
            rule["until"] = ctx.key(parts["UNTIL"][0])
    except Exception:
        return None
    return rule


def _read_rules(comp, name, ctx):
    rules = []
    for prop in _all(comp, name):
        rule = _read_rule(prop, ctx)
        if rule is not None:
            rules.append(rule)
    return rules


def _read_dates(comp, name, ctx: _Ctx):
    """EXDATE/RDATE -> [(key, duration or None)] in the event's zone."""
    out = []
    for prop in _all(comp, name):
        tzid = _param(prop, "TZID")
        for item in getattr(prop, "dts", []):
            value = _dt(item)
            duration = None
            if isinstance(value, tuple):  # PERIOD
                begin, end = value
                if isinstance(end, datetime.timedelta):
                    end = begin + end
                duration = _between(begin, end)
                value = begin
            if isinstance(value, (datetime.date, datetime.datetime)):
                out.append((ctx.key(value, tzid), duration))
    return out


def _read_keywords(comp):
    words = {}
    for prop in _all(comp, "CATEGORIES"):
        for word in getattr(prop, "cats", []):
            word = str(word)
            if word:
                words[word] = True
    return words


def _read_locations(comp):
    entries = []
    for prop in _all(comp, "LOCATION"):
        name = _text(prop)
        if name:
            entries.append((_explicit_id(prop), _uuid5(name), name, prop))
    ids = _assign_ids([(e[0], e[1]) for e in entries])
    return [(lid, name, prop) for lid, (_, _, name, prop) in zip(ids, entries)]


def _email_of(prop):
    email = _param(prop, "EMAIL")
    if email:
        return email
    value = _text(prop) or ""
    if value[:7].lower() == "mailto:" and value[7:]:
        return value[7:]
    return None


def _send_to_of(prop):
    value = _text(prop) or ""
    return {"imip": value} if value[:7].lower() == "mailto:" else {"other": value}


def _kind_of(prop):
    cutype = (_param(prop, "CUTYPE") or "").upper()
    for kind, value in KINDS.items():
        if cutype == value:
            return kind
    return None


def _attendee_roles(prop) -> set:
    role = (_param(prop, "ROLE") or "REQ-PARTICIPANT").upper()
    return {"OPT-PARTICIPANT": {"optional"}, "NON-PARTICIPANT": {"informational"},
            "CHAIR": {"chair", "attendee"}}.get(role, {"attendee"})


def _role_param(roles) -> str:
    if "chair" in roles:
        return "CHAIR"
    if "attendee" in roles:
        return "REQ-PARTICIPANT"
    if "optional" in roles:
        return "OPT-PARTICIPANT"
    return "NON-PARTICIPANT"


def _partstat_of(prop):
    value = (_param(prop, "PARTSTAT") or "").lower()
    return value if value in PARTSTATS else None


def _rsvp_of(prop):
    value = (_param(prop, "RSVP") or "").upper()
    return {"TRUE": True, "FALSE": False}.get(value)


def _agent_of(prop):
    value = (_param(prop, "SCHEDULE-AGENT") or "").lower()
    return value if value in SCHEDULE_AGENTS else None


def _participant_js(att, org) -> dict:
    main = att if att is not None else org
    p = {"@type": "Participant"}
    name = _param(att, "CN") if att is not None and _param(att, "CN") is not None else _param(org, "CN")
    if name is not None:
        p["name"] = name
    email = _email_of(main)
    if email is not None:
        p["email"] = email
    p["sendTo"] = _send_to_of(main)
    kind = _kind_of(main)
    if kind:
        p["kind"] = kind
    roles = (_attendee_roles(att) if att is not None else set()) | ({"owner"} if org is not None else set())
    p["roles"] = {r: True for r in ROLE_ORDER if r in roles}
    partstat = _partstat_of(main)
    if partstat:
        p["participationStatus"] = partstat
    if att is not None and _rsvp_of(att) is not None:
        p["expectReply"] = _rsvp_of(att)
    agent = _agent_of(main)
    if agent:
        p["scheduleAgent"] = agent
    return p


def _read_participants(comp):
    """-> (participants, replyTo, {id: (ATTENDEE prop, ORGANIZER prop)})"""
    org = _first(comp, "ORGANIZER")
    atts = _all(comp, "ATTENDEE")
    org_addr = _text(org) if org is not None else None
    merged = None
    if org_addr:
        for i, att in enumerate(atts):
            if (_text(att) or "").casefold() == org_addr.casefold():
                merged = i
                break
    entries = []
    if org is not None and merged is None:
        entries.append((_explicit_id(org), _uuid5(org_addr or ""), None, org))
    for i, att in enumerate(atts):
        o = org if i == merged else None
        explicit = _explicit_id(att) or (_explicit_id(o) if o is not None else None)
        entries.append((explicit, _uuid5(_text(att) or ""), att, o))
    ids = _assign_ids([(e[0], e[1]) for e in entries])
    participants, sources = {}, {}
    for pid, (_, _, att, o) in zip(ids, entries):
        participants[pid] = _participant_js(att, o)
        sources[pid] = (att, o)
    reply = None
    if org_addr is not None:
        reply = {"imip": org_addr} if org_addr[:7].lower() == "mailto:" else {"other": org_addr}
    return participants, reply, sources


def _alarm_js(alarm):
    trigger = _first(alarm, "TRIGGER")
    value = _dt(trigger) if trigger is not None else None
    if isinstance(value, datetime.timedelta):
        related = (_param(trigger, "RELATED") or "START").upper()
        trig = {"@type": "OffsetTrigger", "offset": _fmt_signed(value),
                "relativeTo": "end" if related == "END" else "start"}
    elif isinstance(value, datetime.datetime):
        trig = {"@type": "AbsoluteTrigger", "when": _fmt_utc(value)}
    else:
        return None
    out = {"@type": "Alert", "trigger": trig}
    if (_text(_first(alarm, "ACTION")) or "").upper() == "EMAIL":
        out["action"] = "email"
    acknowledged = _utc_of(_first(alarm, "ACKNOWLEDGED"))
    if acknowledged:
        out["acknowledged"] = acknowledged
    return out


def _alarm_explicit_id(alarm):
    for name in _ID_NAMES:
        value = _text(_first(alarm, name))
        if value and _ID_RE.fullmatch(value):
            return value
    return None


def _alarm_base_id(alarm, js):
    for name in ("UID", "X-WR-ALARMUID"):
        value = _text(_first(alarm, name))
        if value:
            return value if _ID_RE.fullmatch(value) else _uuid5(value)
    return _uuid5("alert:" + json.dumps(js, sort_keys=True))


def _read_alerts(comp):
    """-> [(id, alert, VALARM)]; VALARMs without a usable TRIGGER are not alerts."""
    entries = []
    for sub in comp.subcomponents:
        if sub.name != "VALARM":
            continue
        js = _alarm_js(sub)
        if js is not None:
            entries.append((_alarm_explicit_id(sub), _alarm_base_id(sub, js), js, sub))
    ids = _assign_ids([(e[0], e[1]) for e in entries])
    return [(aid, js, sub) for aid, (_, _, js, sub) in zip(ids, entries)]


def _vevent_to_js(comp, zones) -> tuple[dict, _Ctx]:
    """One VEVENT, without recurrence rules and overrides."""
    ctx = _read_time(comp, zones)
    js = {"@type": "Event"}
    js.update(_read_simple(comp))
    if ctx.start is not None:
        js["start"] = _fmt_local(ctx.start)
        if ctx.zone is not None:
            js["timeZone"] = ctx.zone
        js["duration"] = _read_duration(comp, ctx)
        if ctx.all_day:
            js["showWithoutTime"] = True
    keywords = _read_keywords(comp)
    if keywords:
        js["keywords"] = keywords
    locations = _read_locations(comp)
    if locations:
        js["locations"] = {lid: {"@type": "Location", "name": name} for lid, name, _ in locations}
    participants, reply, _ = _read_participants(comp)
    if reply is not None:
        js["replyTo"] = reply
    if participants:
        js["participants"] = participants
    alerts = _read_alerts(comp)
    if alerts:
        js["alerts"] = {aid: alert for aid, alert, _ in alerts}
    return js, ctx


def _override_patch(master: dict, instance: dict, key: str) -> dict:
    """The PatchObject that turns the master (started at key) into the instance."""
    base = {k: v for k, v in master.items() if k not in OVERRIDE_IGNORED}
    base["start"] = key
    inst = {k: v for k, v in instance.items() if k not in OVERRIDE_IGNORED}
    patch = {}
    for name in list(inst) + [k for k in base if k not in inst]:
        if name not in inst:
            patch[_esc(name)] = None
        elif name not in base:
            patch[_esc(name)] = inst[name]
        elif _same(base[name], inst[name]):
            continue
        elif (name in ("participants", "locations", "alerts", "keywords")
              and isinstance(base[name], dict) and isinstance(inst[name], dict)):
            old, new = base[name], inst[name]
            for item in list(new) + [i for i in old if i not in new]:
                path = f"{_esc(name)}/{_esc(item)}"
                if item not in new:
                    patch[path] = None
                elif item not in old:
                    patch[path] = new[item]
                elif _same(old[item], new[item]):
                    continue
                elif isinstance(old[item], dict) and isinstance(new[item], dict):
                    a, b = old[item], new[item]
                    for member in list(b) + [m for m in a if m not in b]:
                        if member not in b:
                            patch[f"{path}/{_esc(member)}"] = None
                        elif member not in a or not _same(a[member], b[member]):
                            patch[f"{path}/{_esc(member)}"] = b[member]
                else:
                    patch[path] = new[item]
        else:
            patch[_esc(name)] = inst[name]
    return patch


def _ordered(js: dict) -> dict:
    out = {k: js[k] for k in _EVENT_ORDER if k in js}
    out.update((k, v) for k, v in js.items() if k not in out)
    return out


def _group(cal):
    """-> (uid, master or None, instances, other VEVENTs) of the calendar's first UID."""
    events = [c for c in cal.subcomponents if c.name == "VEVENT"]
    if not events:
        return None, None, [], []
    masters = [e for e in events if "RECURRENCE-ID" not in e]
    uid = _text((masters or events)[0].get("UID"))
    group = [e for e in events if _text(e.get("UID")) == uid]
    master = next((e for e in group if "RECURRENCE-ID" not in e), None)
    instances = [e for e in group if "RECURRENCE-ID" in e]
    others = [e for e in events if e not in group]
    return uid, master, instances, others


def _rid_of(comp, zones):
    """A stand-alone instance's (recurrenceId, recurrenceIdTimeZone)."""
    prop = _first(comp, "RECURRENCE-ID")
    value = _dt(prop)
    if value is None:
        return None, None
    if not isinstance(value, datetime.datetime):
        return _fmt_local(datetime.datetime.combine(value, datetime.time())), None
    tzid = _param(prop, "TZID")
    if tzid:
        return _fmt_local(value.replace(tzinfo=None)), _zone_name(tzid)
    if value.tzinfo is not None:
        return _fmt_local(value.replace(tzinfo=None)), "Etc/UTC"
    return _fmt_local(value), None


def _calendar_to_js(cal, residue=True) -> dict:
    zones = _Zones(cal)
    uid, master, instances, _ = _group(cal)
    if uid is None:
        raise ValueError("the calendar object has no VEVENT")
    standalone = master is None
    if standalone:
        master = min(instances, key=lambda e: _rid_of(e, zones)[0] or "")
        instances = []
    js, ctx = _vevent_to_js(master, zones)
    prodid = _text(cal.get("PRODID"))
    if prodid is not None:
        js["prodId"] = prodid
    if standalone:
        rid, rid_zone = _rid_of(master, zones)
        if rid is not None:
            js["recurrenceId"] = rid
            if rid_zone is not None:
                js["recurrenceIdTimeZone"] = rid_zone
    else:
        rules = _read_rules(master, "RRULE", ctx)
        if rules:
            js["recurrenceRules"] = rules
        exrules = _read_rules(master, "EXRULE", ctx)
        if exrules:
            js["excludedRecurrenceRules"] = exrules
        overrides = {}
        for key, duration in _read_dates(master, "RDATE", ctx):
            patch = {}
            if duration is not None and duration != js.get("duration"):
                patch["duration"] = duration
            overrides[key] = patch
        for inst in instances:
            prop = _first(inst, "RECURRENCE-ID")
            value = _dt(prop)
            if value is None:
                continue
            key = ctx.key(value, _param(prop, "TZID"))
            inst_js, _ = _vevent_to_js(inst, zones)
            overrides[key] = _override_patch(js, inst_js, key)
        for key, _ in _read_dates(master, "EXDATE", ctx):
            overrides[key] = {"excluded": True}
        if overrides:
            js["recurrenceOverrides"] = {k: overrides[k] for k in sorted(overrides)}
    if residue:
        _apply_residue(js, _residue_entries(master))
    return _ordered(js)


def to_jscalendar(ical_text: str) -> dict:
    """The JSCalendar Event (RFC 8984) for one stored iCalendar object (all VEVENTs of one UID).

    Raises ValueError if the text is not iCalendar or holds no VEVENT.
    """
    return _calendar_to_js(_parse_ical(ical_text))

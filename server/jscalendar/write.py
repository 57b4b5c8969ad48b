"""JSCalendar -> iCalendar: ``from_jscalendar``.

A write starts from the previous VEVENT (when there is one) and syncs each property with
the JSON, changing only what differs; what iCalendar cannot say goes to the remainder
(``residue.py``).
"""

from __future__ import annotations

import datetime
import uuid
import warnings

import icalendar
from dateutil import rrule as dateutil_rrule
from icalendar import Alarm, Calendar, Event, vCalAddress
from icalendar.prop import vUnknown

from roomcal.server.jscalendar.canonical import _address, _canonical, _reply_address
from roomcal.server.jscalendar.ical import _all, _dt, _first, _param, _parse_ical, _text
from roomcal.server.jscalendar.normalize import _normalize, _normalize_rule
from roomcal.server.jscalendar.read import (
    _agent_of, _alarm_js, _attendee_roles, _calendar_to_js, _email_of, _group, _kind_of,
    _partstat_of, _read_alerts, _read_dates, _read_duration, _read_keywords, _read_locations,
    _read_participants, _read_rules, _read_simple, _read_time, _rid_of, _role_param, _rsvp_of,
    _utc_of)
from roomcal.server.jscalendar.residue import _diff, _encode_residue
from roomcal.server.jscalendar.validation import _Errors, _apply_override, _check_event, _check_rule
from roomcal.server.jscalendar.values import (
    DEFAULT_PRODID, ID_PARAM, KINDS, PARTSTATS, PRIVACY, RESIDUE_PROP, UTC, _add, _parse_duration,
    _parse_local, _parse_signed, _parse_utc, _same)
from roomcal.server.jscalendar.zones import _Ctx, _Zones, _zone_name


def _carry_params(prop, drop=("VALUE", "TZID")):
    if prop is None:
        return {}
    return {k: v for k, v in prop.params.items() if k.upper() not in drop}


def _set_single(comp, name, want, current, make, params_from=None):
    """Rewrite property name only if what it reads as differs from want."""
    if _same(current, want):
        return
    prop = _first(comp, name) if params_from is None else params_from
    params = _carry_params(prop)
    comp.pop(name, None)
    if want is not None:
        comp.add(name, make(want), parameters=params or None)


def _sync_simple(comp, js, instance_existing=False):
    cur = _read_simple(comp)
    uid = js.get("uid")
    if uid is not None and cur.get("uid") != uid:
        comp.pop("UID", None)
        comp.add("UID", uid)
    if js.get("updated") is not None:
        _set_single(comp, "DTSTAMP", js["updated"], cur.get("updated"), _parse_utc)
    else:
        comp.pop("DTSTAMP", None)
        comp.add("DTSTAMP", datetime.datetime.now(UTC).replace(microsecond=0))
    _set_single(comp, "CREATED", js.get("created"), cur.get("created"), _parse_utc)
    _set_single(comp, "SEQUENCE", js.get("sequence"), cur.get("sequence"), int)
    _set_single(comp, "SUMMARY", js.get("title"), cur.get("title"), str)
    _set_single(comp, "DESCRIPTION", js.get("description"), cur.get("description"), str)
    _set_single(comp, "STATUS", js.get("status"), cur.get("status"), str.upper)
    _set_single(comp, "TRANSP", js.get("freeBusyStatus"), cur.get("freeBusyStatus"),
                lambda v: "OPAQUE" if v == "busy" else "TRANSPARENT")
    if not instance_existing:  # privacy is not per instance (RFC 8984 §4.3.5)
        _set_single(comp, "CLASS", js.get("privacy"), cur.get("privacy"), PRIVACY.get)
    _set_single(comp, "PRIORITY", js.get("priority"), cur.get("priority"), int)


def _want_ctx(js, zones) -> _Ctx:
    all_day = js.get("showWithoutTime") is True
    zone = None if all_day else js.get("timeZone")
    return _Ctx(_parse_local(js["start"]), zone, zones.tzinfo(zone), all_day, zones)


def _sync_time(comp, js, want: _Ctx, zones):
    cur = _read_time(comp, zones)
    fresh = "DTSTART" not in comp
    old_tzid = _param(_first(comp, "DTSTART"), "TZID")
    if old_tzid and cur.zone == want.zone and not want.all_day:
        want.tzid = old_tzid  # keep the client's spelling (/mozilla.org/..., Windows names)
    if (cur.start, cur.zone, cur.all_day) != (want.start, want.zone, want.all_day):
        params = _carry_params(_first(comp, "DTSTART"))
        comp.pop("DTSTART", None)
        value, params = want.ical(want.start, params)
        comp.add("DTSTART", value, parameters=params or None)
    if _read_duration(comp, want) == js["duration"] and not (
            fresh and "DTEND" not in comp and "DURATION" not in comp):
        return
    days, seconds = _parse_duration(js["duration"])
    if "DURATION" in comp:
        params = _carry_params(_first(comp, "DURATION"))
        comp.pop("DURATION", None)
        comp.pop("DTEND", None)
        comp.add("DURATION", vUnknown(js["duration"]), parameters=params or None, encode=False)
        return
    old_end = _first(comp, "DTEND")
    params = _carry_params(old_end)
    comp.pop("DTEND", None)
    if want.all_day:
        end = want.start + datetime.timedelta(days=max(days + seconds // 86400, 1))
        comp.add("DTEND", end.date(), parameters=params or None)
        return
    end = _add(want.start, want.tz, days, seconds)
    end_tzid = _param(old_end, "TZID") if old_end is not None else None
    if end_tzid and _zone_name(end_tzid) == want.zone and want.tzid is None:
        want.tzid = end_tzid
    if (end_tzid and want.zone not in (None, "Etc/UTC") and end.tzinfo is not None
            and _zone_name(end_tzid) != want.zone):
        other = zones.tzinfo(_zone_name(end_tzid))
        if other is not None:  # keep a separate end time zone (a flight to Tokyo)
            params["TZID"] = end_tzid
            comp.add("DTEND", end.astimezone(other).replace(tzinfo=None), parameters=params)
            return
    value, params = want.ical(end.replace(tzinfo=None) if end.tzinfo is not None else end, params)
    comp.add("DTEND", value, parameters=params or None)


def _rule_parts(rule: dict, ctx: _Ctx, extra=None) -> dict:
    parts = {"FREQ": rule["frequency"].upper()}
    if "interval" in rule:
        parts["INTERVAL"] = rule["interval"]
    for key, name in (("rscale", "RSCALE"), ("skip", "SKIP")):
        if key in rule:
            parts[name] = rule[key].upper()
    if "count" in rule:
        parts["COUNT"] = rule["count"]
    if "until" in rule:
        parts["UNTIL"] = ctx.until(_parse_local(rule["until"]))
    if "byDay" in rule:
        parts["BYDAY"] = [f"{d.get('nthOfPeriod', '')}{d['day'].upper()}" for d in rule["byDay"]]
    for key, name in (("byMonthDay", "BYMONTHDAY"), ("byMonth", "BYMONTH"), ("byYearDay", "BYYEARDAY"),
                      ("byWeekNo", "BYWEEKNO"), ("byHour", "BYHOUR"), ("byMinute", "BYMINUTE"),
                      ("bySecond", "BYSECOND"), ("bySetPosition", "BYSETPOS")):
        if key in rule:
            parts[name] = list(rule[key])
    if "firstDayOfWeek" in rule:
        parts["WKST"] = rule["firstDayOfWeek"].upper()
    for name, value in (extra or {}).items():
        if name.upper().startswith("X-") and name.upper() not in parts:
            parts[name] = value
    return parts


def recurrence_rules(rules, zone: str, tz) -> list:
    """The RRULE values (icalendar recurrence parts) of JSCalendar ``recurrenceRules`` (RFC 8984
    §4.3.3) for an event whose times are in ``zone`` (``tz``): ``until`` is a LocalDateTime
    there, written in UTC.  InvalidEvent naming every bad rule by its JSON pointer
    ("/recurrenceRules/0/frequency")."""
    errors = _Errors()
    if not isinstance(rules, list) or not rules:
        errors.add("/recurrenceRules", "must be a non-empty array of RecurrenceRule objects")
    else:
        rules = [_normalize_rule(rule) for rule in rules]
        for i, rule in enumerate(rules):
            _check_rule(errors, rule, f"/recurrenceRules/{i}")
    errors.raise_if_any()
    ctx = _Ctx(None, zone, tz)
    return [_rule_parts(rule, ctx) for rule in rules]


def _sync_rules(comp, name, want_rules, ctx):
    if _same(_read_rules(comp, name, ctx), want_rules):
        return
    old = _all(comp, name)
    comp.pop(name, None)
    for i, rule in enumerate(want_rules):
        extra = dict(old[i]) if i < len(old) and hasattr(old[i], "items") else None
        comp.add(name, _rule_parts(rule, ctx, extra))


def _is_occurrence(js, key: str) -> bool:
    """Is key (LocalDateTime) an instance the recurrence rules generate?"""
    if key == js["start"]:
        return True
    rules = js.get("recurrenceRules") or []
    if not rules:
        return False
    try:
        start = _parse_local(js["start"])
        target = _parse_local(key)
        floating = _Ctx(start, None, None, False)
        for rule in rules:
            if rule.get("rscale", "gregorian") != "gregorian" or "skip" in rule:
                return True  # dateutil cannot tell: assume it is
            parts = _rule_parts(rule, floating)
            text = ";".join(f"{k}={','.join(str(x) for x in v) if isinstance(v, list) else _rrule_value(v)}"
                            for k, v in parts.items())
            found = dateutil_rrule.rrulestr("RRULE:" + text, dtstart=start).before(target, inc=True)
            if found == target:
                return True
    except Exception:
        return True
    return False


def _rrule_value(v):
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y%m%dT%H%M%S")
    if isinstance(v, datetime.date):
        return v.strftime("%Y%m%d")
    return str(v)


def _sync_dates(comp, name, want_keys, ctx: _Ctx):
    current = [k for k, _ in _read_dates(comp, name, ctx)]
    if set(current) == set(want_keys):
        return
    old = _first(comp, name)
    params = _carry_params(old)
    comp.pop(name, None)
    if want_keys:
        values = [ctx.ical(_parse_local(k))[0] for k in want_keys]
        _, params = ctx.ical(_parse_local(want_keys[0]), params)
        comp.add(name, values, parameters=params or None)


def _sync_keywords(comp, js):
    want = [w for w, v in (js.get("keywords") or {}).items() if v is True and w]
    if _same(sorted(_read_keywords(comp)), sorted(want)):
        return
    params = _carry_params(_first(comp, "CATEGORIES"), drop=("VALUE",))
    comp.pop("CATEGORIES", None)
    if want:
        comp.add("CATEGORIES", want, parameters=params or None)


def _quote_backslashes(cal) -> None:
    """icalendar writes ``CN=\\`` unquoted and then reads ``CN=\\;X=1`` as an escaped ";":
    a parameter value with a backslash is written quoted."""
    for comp in cal.walk():
        for values in comp.values():
            for prop in values if isinstance(values, list) else [values]:
                params = getattr(prop, "params", None)
                quoted = [k.upper() for k, v in (params or {}).items() if isinstance(v, str) and "\\" in v]
                if quoted:
                    params.quote_also = {**params.quote_also, **{k: "\\" for k in quoted}}


def _set_param(prop, name, value):
    if value is None:
        prop.params.pop(name, None)
    else:
        prop.params[name] = value


def _fix_ids(read, desired, set_explicit):
    """Write explicit ids wherever the derived ones differ from the client's."""
    for _ in range(len(desired) + 2):
        current = read()
        wrong = [(obj, want) for obj, want in desired if current.get(id(obj)) != want]
        if not wrong:
            return
        for obj, want in wrong:
            set_explicit(obj, want)


def _sync_locations(comp, js):
    want = [(lid, loc["name"]) for lid, loc in (js.get("locations") or {}).items()
            if isinstance(loc.get("name"), str) and loc["name"]]
    current = _read_locations(comp)
    if [(lid, name) for lid, name, _ in current] == want:
        return
    # One LOCATION (RFC 5545); further locations live in the JSON remainder.
    by_id = {lid: prop for lid, _, prop in current}
    comp.pop("LOCATION", None)
    if not want:
        return
    lid, name = next(((lid, name) for lid, name in want if lid in by_id), want[0])
    old = by_id.get(lid)
    prop = icalendar.vText(name)
    if old is not None:
        for k, v in old.params.items():
            prop.params[k] = v
    comp.add("LOCATION", prop, encode=False)

    def read():
        return {id(p): i for i, _, p in _read_locations(comp)}

    def explicit(p, value):
        p.params[ID_PARAM] = value
        p.params.pop("JSID", None)

    _fix_ids(read, [(prop, lid)], explicit)


def _fix_attendee(prop, p, *, attendee=True, fallback=None):
    """Make prop read as participant p; touch only what reads differently.

    fallback: the ORGANIZER merged with this ATTENDEE (its CN counts when the ATTENDEE has none).
    """
    name = p.get("name")
    current = _param(prop, "CN")
    if current is None and fallback is not None:
        current = _param(fallback, "CN")
    if current != name:
        _set_param(prop, "CN", name)
        if fallback is not None:
            _set_param(fallback, "CN", name)
    email = p.get("email")
    if _email_of(prop) != email:
        value = _text(prop) or ""
        mailto = value[7:] if value[:7].lower() == "mailto:" else None
        _set_param(prop, "EMAIL", None if email is None or email == mailto else email)
    kind = p.get("kind")
    if _kind_of(prop) != kind and (kind is None or kind in KINDS):
        _set_param(prop, "CUTYPE", KINDS.get(kind))
    if attendee:
        roles = {r for r in p.get("roles", {}) if r != "owner"}
        if _attendee_roles(prop) != roles:
            _set_param(prop, "ROLE", _role_param(roles))
        if _rsvp_of(prop) != p.get("expectReply"):
            value = p.get("expectReply")
            _set_param(prop, "RSVP", None if value is None else ("TRUE" if value else "FALSE"))
    status = p.get("participationStatus")
    if _partstat_of(prop) != status and (status is None or status in PARTSTATS):
        _set_param(prop, "PARTSTAT", status.upper() if status else None)
    agent = p.get("scheduleAgent")
    if _agent_of(prop) != agent:
        _set_param(prop, "SCHEDULE-AGENT", agent.upper() if agent else None)


def _with_value(prop, value):
    if prop is not None and _text(prop) == value:
        return prop
    new = vCalAddress(value)
    if prop is not None:
        for k, v in prop.params.items():
            new.params[k] = v
    return new


def _sync_participants(comp, js, uid):
    want = js.get("participants") or {}
    reply = js.get("replyTo")
    current, cur_reply, sources = _read_participants(comp)
    if _same(current, want) and _same(cur_reply, reply):
        return
    org_addr = _reply_address(reply)
    owners = [pid for pid, p in want.items() if p.get("roles", {}).get("owner")]
    owner = None
    for pid in owners:
        if org_addr is None or _address(want[pid], pid, uid).casefold() == org_addr.casefold():
            owner = pid
            break
    if org_addr is None and owner is not None:
        org_addr = _address(want[owner], owner, uid)

    old_org = _first(comp, "ORGANIZER")
    comp.pop("ORGANIZER", None)
    comp.pop("ATTENDEE", None)
    organizer = None
    desired = []
    if org_addr is not None:
        if owner is not None and sources.get(owner, (None, None))[1] is not None:
            old_org = sources[owner][1]
        organizer = _with_value(old_org, org_addr)
    attendees = []
    for pid, p in want.items():
        roles = p.get("roles", {})
        if pid == owner and not set(roles) - {"owner"}:
            continue  # the organizer only
        old = sources.get(pid, (None, None))[0]
        att = _with_value(old, _address(p, pid, uid))
        _fix_attendee(att, p, fallback=organizer if pid == owner else None)
        attendees.append(att)
        desired.append((att, pid))
    if organizer is not None:
        if owner is not None:
            if not any(pid == owner for _, pid in desired):  # else the ATTENDEE carries it all
                _fix_attendee(organizer, want[owner], attendee=False)
            desired.append((organizer, owner))
        comp.add("ORGANIZER", organizer, encode=False)
    for att in attendees:
        comp.add("ATTENDEE", att, encode=False)

    def read():
        _, _, srcs = _read_participants(comp)
        out = {}
        for pid, (a, o) in srcs.items():
            for obj in (a, o):
                if obj is not None:
                    out[id(obj)] = pid
        return out

    def explicit(prop, value):
        prop.params[ID_PARAM] = value
        prop.params.pop("JSID", None)

    _fix_ids(read, desired, explicit)


def _sync_alerts(comp, js, raw_alerts):
    want = js.get("alerts") or {}
    current = _read_alerts(comp)
    by_id = {aid: sub for aid, _, sub in current}
    explicit_display = {aid for aid, a in raw_alerts.items() if isinstance(a, dict) and a.get("action") == "display"}
    if (len(current) == len(want) and _same({aid: a for aid, a, _ in current}, want)
            and all((_text(_first(sub, "ACTION")) or "").upper() == "DISPLAY"
                    for aid, _, sub in current if aid in explicit_display)):
        return
    readable = {id(sub) for _, _, sub in current}
    keep = [sub for sub in comp.subcomponents if sub.name != "VALARM" or id(sub) not in readable]
    title = js.get("title") or "Reminder"
    built, desired = [], []
    for aid, alert in want.items():
        sub = by_id.get(aid)
        if sub is None:
            sub = Alarm()
        trigger = alert["trigger"]
        old_trigger = _first(sub, "TRIGGER")
        cur = _alarm_js(sub) if old_trigger is not None else None
        if cur is None or not _same(cur["trigger"], trigger):
            params = _carry_params(old_trigger, drop=("VALUE", "RELATED", "TZID"))
            sub.pop("TRIGGER", None)
            if trigger["@type"] == "OffsetTrigger":
                if trigger.get("relativeTo") == "end":
                    params["RELATED"] = "END"
                sub.add("TRIGGER", _parse_signed(trigger["offset"]), parameters=params or None)
            else:
                params["VALUE"] = "DATE-TIME"
                sub.add("TRIGGER", _parse_utc(trigger["when"]), parameters=params)
        action = (_text(_first(sub, "ACTION")) or "").upper()
        raw_action = (raw_alerts.get(aid) or {}).get("action")
        if alert.get("action") == "email":
            wanted = "EMAIL"
        elif raw_action == "display" or action in ("", "EMAIL"):
            wanted = "DISPLAY"
        else:
            wanted = action  # AUDIO, PROCEDURE, X-...: not JSCalendar's to change
        if action != wanted:
            sub.pop("ACTION", None)
            sub.add("ACTION", wanted)
        if wanted in ("DISPLAY", "EMAIL") and "DESCRIPTION" not in sub:
            sub.add("DESCRIPTION", js.get("description") or title if wanted == "EMAIL" else title)
        if wanted == "EMAIL" and "SUMMARY" not in sub:
            sub.add("SUMMARY", title)
        _set_single(sub, "ACKNOWLEDGED", alert.get("acknowledged"),
                    _utc_of(_first(sub, "ACKNOWLEDGED")), _parse_utc)
        built.append(sub)
        desired.append((sub, aid))
    comp.subcomponents[:] = built + keep

    def read():
        return {id(sub): aid for aid, _, sub in _read_alerts(comp)}

    def explicit(sub, value):
        sub.pop(ID_PARAM, None)
        sub.pop("JSID", None)
        sub.add(ID_PARAM, value)

    _fix_ids(read, desired, explicit)


def _sync_vevent(comp, js, zones, *, raw, uid, master_ctx=None, key=None, recurrence=True,
                 instance_existing=False):
    comp.pop(RESIDUE_PROP, None)
    js = dict(js, uid=uid)
    _sync_simple(comp, js, instance_existing=instance_existing)
    want = _want_ctx(js, zones)
    if master_ctx is not None and master_ctx.zone == want.zone and not want.all_day:
        want.tzid = master_ctx.tzid
    _sync_time(comp, js, want, zones)
    if key is not None:  # an instance of a recurring master
        rid = _first(comp, "RECURRENCE-ID")
        if rid is None or _dt(rid) is None or master_ctx.key(_dt(rid), _param(rid, "TZID")) != key:
            params = _carry_params(rid)
            comp.pop("RECURRENCE-ID", None)
            value, params = master_ctx.ical(_parse_local(key), params)
            comp.add("RECURRENCE-ID", value, parameters=params or None)
    elif "recurrenceId" in js:  # a stand-alone instance
        rid_ctx = _Ctx(None, js.get("recurrenceIdTimeZone"), None, js.get("showWithoutTime") is True, zones)
        if _rid_of(comp, zones) != (js["recurrenceId"], js.get("recurrenceIdTimeZone")):
            params = _carry_params(_first(comp, "RECURRENCE-ID"))
            comp.pop("RECURRENCE-ID", None)
            value, params = rid_ctx.ical(_parse_local(js["recurrenceId"]), params)
            comp.add("RECURRENCE-ID", value, parameters=params or None)
    if recurrence:
        _sync_rules(comp, "RRULE", js.get("recurrenceRules") or [], want)
        _sync_rules(comp, "EXRULE", js.get("excludedRecurrenceRules") or [], want)
        overrides = js.get("recurrenceOverrides") or {}
        _sync_dates(comp, "EXDATE", [k for k, v in overrides.items() if v.get("excluded") is True], want)
        rdates = [k for k, v in overrides.items()
                  if v.get("excluded") is not True and (not v or not _is_occurrence(js, k))]
        _sync_dates(comp, "RDATE", rdates, want)
    _sync_locations(comp, js)
    _sync_keywords(comp, js)
    _sync_participants(comp, js, uid)
    _sync_alerts(comp, js, (raw or {}).get("alerts") or {})


def from_jscalendar(event: dict, previous_ical: str | None = None) -> str:
    """iCalendar text for a JSCalendar Event.

    With previous_ical (PUT/PATCH of an existing item), everything JSCalendar does not
    represent (X- properties, parameters, VALARM extras, unknown components/properties,
    VTIMEZONEs) is carried over from previous_ical.  A missing uid is taken from
    previous_ical or generated; a missing updated becomes now.  Raises InvalidEvent with
    pointers for invalid input.
    """
    ev = _normalize(event)
    errors = _Errors()
    _check_event(ev, errors)
    prev = _parse_ical(previous_ical) if previous_ical else None
    zones = _Zones(prev)
    prev_uid, prev_master, prev_instances, _ = _group(prev) if prev is not None else (None, None, [], [])
    prev_ctx = _read_time(prev_master, zones) if prev_master is not None else None
    for key in ("timeZone", "recurrenceIdTimeZone"):
        zone = ev.get(key)
        if (isinstance(zone, str) and zone.startswith("/") and not zones.knows(zone)
                and not (prev_ctx is not None and prev_ctx.zone == zone)):
            errors.add("/" + key, f"unknown time zone {zone!r}: no such VTIMEZONE")
    errors.raise_if_any()
    prev_main = prev_master if prev_master is not None else (prev_instances[0] if prev_instances else None)
    if prev_main is not None and "showWithoutTime" not in ev and _read_time(prev_main, zones).all_day:
        # All-day stays all-day: a write that leaves the flag out (rather than false) keeps it
        # when the times still describe whole days.
        start = _parse_local(ev["start"])
        duration = _parse_duration(ev.get("duration", "P1D"))
        if start.time() == datetime.time() and duration[1] % 86400 == 0:
            ev["showWithoutTime"] = True
            ev.setdefault("duration", "P1D")
    uid = ev.get("uid") or prev_uid or str(uuid.uuid4())
    ev["uid"] = uid
    canon = _canonical(ev, zones, uid)

    cal = Calendar()
    prodid = canon.get("prodId") or (_text(prev.get("PRODID")) if prev is not None else None) or DEFAULT_PRODID
    cal.add("PRODID", prodid)
    cal.add("VERSION", "2.0")
    others = []
    if prev is not None:
        for name, value in prev.items():
            if name.upper() in ("PRODID", "VERSION"):
                continue
            for v in value if isinstance(value, list) else [value]:
                cal.add(name, v, encode=False)
        for sub in prev.subcomponents:
            if sub.name == "VTIMEZONE":
                cal.add_component(sub)
            elif not (sub.name == "VEVENT" and _text(sub.get("UID")) == prev_uid):
                others.append(sub)

    group = [prev_master] if prev_master is not None else []
    group += prev_instances
    components = []
    if "recurrenceId" in canon:
        rid = (canon["recurrenceId"], canon.get("recurrenceIdTimeZone"))
        target = next((e for e in prev_instances if _rid_of(e, zones) == rid), None)
        if target is None and prev_master is None and len(prev_instances) == 1:
            target = prev_instances[0]
        main = target if target is not None else Event()
        components = [e for e in group if e is not main and "RECURRENCE-ID" in e]
        _sync_vevent(main, canon, zones, raw=ev, uid=uid, recurrence=False)
        components.append(main)
    else:
        prev_by_key = {}
        if prev_master is not None:
            for inst in prev_instances:
                prop = _first(inst, "RECURRENCE-ID")
                if _dt(prop) is not None:
                    prev_by_key[prev_ctx.key(_dt(prop), _param(prop, "TZID"))] = inst
        main = prev_master if prev_master is not None else Event()
        _sync_vevent(main, canon, zones, raw=ev, uid=uid)
        components.append(main)
        master_ctx = _want_ctx(canon, zones)
        tzid = _param(_first(main, "DTSTART"), "TZID")
        if tzid and _zone_name(tzid) == master_ctx.zone and not master_ctx.all_day:
            master_ctx.tzid = tzid
        base = {k: v for k, v in canon.items() if k != "recurrenceOverrides"}
        for key, patch in (canon.get("recurrenceOverrides") or {}).items():
            if patch.get("excluded") is True or (not patch and key not in prev_by_key):
                continue
            inst_js = _apply_override(base, key, patch)
            comp = prev_by_key.get(key)
            existing = comp is not None
            comp = comp if existing else Event()
            # replyTo is not per instance (RFC 8984 §4.3.5): a new instance gets the master's
            # ORGANIZER, an existing one keeps what it had.
            reply = _read_participants(comp)[1] if existing else canon.get("replyTo")
            inst_js.pop("replyTo", None)
            if reply is not None:
                inst_js["replyTo"] = reply
            if "privacy" in canon:
                inst_js["privacy"] = canon["privacy"]
            _sync_vevent(comp, inst_js, zones, raw=ev, uid=uid, master_ctx=master_ctx, key=key,
                         recurrence=False, instance_existing=existing)
            components.append(comp)
    for comp in components:
        cal.add_component(comp)
    for sub in others:
        cal.add_component(sub)
    # Generated VTIMEZONEs list every transition from first_date on: start a year before the event.
    earliest = min([_parse_local(canon["start"])] + [_parse_local(k) for k in canon.get("recurrenceOverrides") or {}])
    first_date = max(datetime.date(1970, 1, 1), earliest.date() - datetime.timedelta(days=366))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cal.add_missing_timezones(first_date=min(first_date, datetime.date(2037, 1, 1)))

    _quote_backslashes(cal)
    # What the mapping could not express: keep it as X-JSCALENDAR-PROP entries.
    actual = _calendar_to_js(_parse_ical(cal.to_ical()), residue=False)
    target = dict(canon)
    for key in ("updated", "prodId"):
        if key not in ev:
            target[key] = actual.get(key)
            if target[key] is None:
                target.pop(key, None)
    entries = []
    _diff(target, actual, "", entries)
    for entry in entries:
        main.add(RESIDUE_PROP, vUnknown(_encode_residue(entry)), encode=False)
    return cal.to_ical().decode("utf-8")

"""Finding people and rooms: the principal search REPORTs.

- ``DAV:principal-property-search`` (RFC 3744 9.4): ``property-search`` elements on
  displayname, calendar-user-address-set, calendar-user-type (and calendar-home-set,
  which Thunderbird's fallback searches), ``test="allof|anyof"``, a ``match-type``
  (contains, the default; starts-with, ends-with, equals), always case-insensitive.
  On ``/.rooms/`` without ``apply-to-principal-collection-set`` it searches rooms only.
- Apple's ``CS:calendarserver-principal-search``: every ``search-token`` must match a
  name or room id ("contains") or an e-mail address ("starts with"), as Apple's own
  server matches; ``context`` chooses who: ``location`` rooms, ``attendee`` people and
  rooms, ``user`` people, ``resource`` and ``group`` nobody (roomcal has no equipment
  or group principals: every room is CUTYPE ROOM, which Apple files under locations),
  none: everyone.
- ``DAV:principal-search-property-set``: what the first one searches.

People are every user account (never tokens): in an office, a colleague's name and
address are what an invitation needs.  Rooms are those the asker may see
(principal_props.Asker.sees_room).  The Depth header is not checked: Thunderbird
sends principal-property-search with Depth 1.

The work is bounded: at most MAX_TOKENS search terms of at most MAX_TOKEN characters,
at most MAX_RESULTS answers (or the client's ``limit/nresults`` if smaller); a
longer list ends with a 507 response naming ``DAV:number-of-matches-within-limits``
(RFC 5323 5.17), as Apple's server does.
"""

from lxml import etree

from roomcal.server.scheduling import davxml
from roomcal.server.scheduling.davxml import BadXml, PropRequest, c, cs, d, element
from roomcal.server.scheduling.principal_props import (SEARCHABLE, room_principal, room_values,
                                                      user_principal, user_values)
from roomcal.storage.scheduling import addresses

PROPERTY_SEARCH = d("principal-property-search")
CS_SEARCH = cs("calendarserver-principal-search")
PROPERTY_SET = d("principal-search-property-set")
REPORTS = frozenset({PROPERTY_SEARCH, CS_SEARCH, PROPERTY_SET})
MAX_TOKENS, MAX_TOKEN, MAX_RESULTS = 50, 100, 50
MATCH_TYPES = ("contains", "starts-with", "ends-with", "equals")
CONTEXTS = {"location": ("room",), "attendee": ("user", "room"), "user": ("user",),
            "resource": (), "group": ()}
STRUCTURE = frozenset({d("property-search"), d("prop"), d("apply-to-principal-collection-set"),
                       d("limit"), cs("limit")})
# What a search answers when its D:prop is missing.
DEFAULT_PROPS = [d("displayname"), d("principal-URL"), c("calendar-user-type"),
                 c("calendar-user-address-set")]


class Candidate:
    """A principal a search may find: a user or a room, with what can be matched."""

    def __init__(self, kind: str, key: str, name: str, values: dict, props):
        self.kind, self.key, self.name, self.values, self.props = kind, key, name, values, props

    def sort_key(self):
        return (self.name.casefold(), self.kind, self.key)


def answer(who, environ, root, parts: list):
    """(status, headers, body) of a principal search REPORT on ``parts``."""
    if root.tag == PROPERTY_SET:
        return 200, davxml.XML_TYPE, davxml.serialize(_property_set())
    if root.tag == PROPERTY_SEARCH:
        matches, asked, limit = _property_search(who, root, parts)
    else:
        matches, asked, limit = _calendarserver_search(who, root)
    matches.sort(key=Candidate.sort_key)
    shown = matches[:limit]
    multistatus = davxml.multistatus()
    for found in shown:
        props = found.props()
        wanted = asked.wanted(props) if (asked.allprop or asked.propname) else asked.names
        multistatus.append(davxml.response(found.key, wanted, props, names_only=asked.propname))
    if len(matches) > len(shown):
        request_href = who.href("/" + "/".join(parts) + ("/" if parts else ""))
        multistatus.append(davxml.status_response(
            request_href, 507, f"Only the first {len(shown)} of {len(matches)} matches are "
                               "listed; narrow the search.", "number-of-matches-within-limits"))
    return 207, davxml.XML_TYPE, davxml.serialize(multistatus)


# -- who can be found -----------------------------------------------------------------
def _candidates(who, kinds) -> list:
    found = []
    if "user" in kinds:
        for user in who.storage.accounts.list_users():
            found.append(Candidate("user", who.href(addresses.user_principal(user.name)), user.name,
                                   user_values(who, user),
                                   lambda name=user.name: user_principal(who, name)))
    if "room" in kinds:
        for room in who.storage.registry.all():
            if who.sees_room(room):
                values = room_values(who, room)
                found.append(Candidate("room", who.href(addresses.room_principal(room.id)), room.name,
                                       values, lambda room=room: room_principal(who, room)))
    return found


# -- DAV:principal-property-search ------------------------------------------------------
def _property_search(who, root, parts):
    test = (root.get("test") or "allof").strip().lower()
    if test not in ("allof", "anyof"):
        raise BadXml(f'principal-property-search test must be "allof" or "anyof", not {test[:40]!r}.')
    searches = root.findall(d("property-search"))
    if len(searches) > MAX_TOKENS:
        raise BadXml(f"This search has {len(searches)} property-search elements; at most "
                     f"{MAX_TOKENS} are taken.")
    conditions = []
    for search in searches:
        prop, match = search.find(d("prop")), search.find(d("match"))
        if prop is None or match is None:
            raise BadXml("Each property-search needs a DAV:prop and a DAV:match.")
        text = _token(match.text)
        match_type = (match.get("match-type") or "contains").strip().lower()
        if match_type not in MATCH_TYPES:
            raise BadXml(f"match-type must be one of {', '.join(MATCH_TYPES)}, not {match_type[:40]!r}.")
        tags = [child.tag for child in prop if isinstance(child.tag, str)]
        conditions.append((tags, text.casefold(), match_type))
    kinds = ("user", "room")
    if parts and parts[0] == addresses.ROOM_PRINCIPALS and \
            root.find(d("apply-to-principal-collection-set")) is None:
        kinds = ("room",)   # the request-URI's own principals
    combine = all if test == "allof" else any
    matches = [found for found in _candidates(who, kinds)
               if not conditions or combine(_matches(found, tags, text, match_type)
                                            for tags, text, match_type in conditions)]
    prop = root.find(d("prop"))
    if prop is not None and len(prop) == 0:
        # python-caldav (3.6) sends its properties after an empty D:prop, as the root's
        # children: read them as what it asks for
        stray = [child.tag for child in root if isinstance(child.tag, str) and child.tag not in STRUCTURE]
        if stray:
            return matches, PropRequest(stray), _limit(root)
    return matches, _default(PropRequest.from_prop(prop), prop), _limit(root)


def _matches(found: Candidate, tags, text: str, match_type: str) -> bool:
    for tag in tags:
        for value in found.values.get(tag, ()):
            value = value.casefold()
            if (match_type == "contains" and text in value
                    or match_type == "starts-with" and value.startswith(text)
                    or match_type == "ends-with" and value.endswith(text)
                    or match_type == "equals" and value == text):
                return True
    return False


# -- CS:calendarserver-principal-search -------------------------------------------------
def _calendarserver_search(who, root):
    tokens = [_token(t.text) for t in root.findall(cs("search-token"))]
    if len(tokens) > MAX_TOKENS:
        raise BadXml(f"This search has {len(tokens)} search-token elements; at most {MAX_TOKENS} "
                     "are taken.")
    tokens = [t.casefold() for t in tokens if t]
    if not tokens:
        raise BadXml("calendarserver-principal-search needs a search-token with some text.")
    context = (root.get("context") or "").strip().lower()
    kinds = CONTEXTS.get(context, ("user", "room"))
    matches = [found for found in _candidates(who, kinds)
               if all(_token_matches(found, token) for token in tokens)]
    prop = root.find(d("prop"))
    return matches, _default(PropRequest.from_prop(prop), prop), _limit(root)


def _token_matches(found: Candidate, token: str) -> bool:
    names = [found.name]
    if found.kind == "room":   # /.rooms/<id>/: the id people also call a room by
        names.append(found.key.rstrip("/").rsplit("/", 1)[-1])
    if any(token in name.casefold() for name in names):
        return True
    return any(email.casefold().startswith(token) for email in found.values.get(cs("email-address-set"), ()))


# -- DAV:principal-search-property-set --------------------------------------------------
def _property_set():
    root = etree.Element(PROPERTY_SET, nsmap=davxml.NSMAP)
    for tag, description in SEARCHABLE.items():
        described = element(d("description"), description)
        described.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        root.append(element(d("principal-search-property"), children=[
            element(d("prop"), children=[etree.Element(tag)]), described]))
    return root


# -- shared -------------------------------------------------------------------------------
def _token(text) -> str:
    text = (text or "").strip()
    if len(text) > MAX_TOKEN:
        raise BadXml(f"A search term is {len(text)} characters long; at most {MAX_TOKEN} are taken.")
    return text


def _default(asked: PropRequest, prop) -> PropRequest:
    return PropRequest(DEFAULT_PROPS) if prop is None else asked


def _limit(root) -> int:
    """The client's ``limit/nresults`` (RFC 5323's DAV: one or Apple's), capped at MAX_RESULTS."""
    for limit in (root.find(d("limit")), root.find(cs("limit"))):
        if limit is None:
            continue
        text = (limit.findtext(d("nresults")) or limit.findtext(cs("nresults")) or "").strip()
        if not text.isdigit():
            raise BadXml(f"limit/nresults must be a whole number, not {text[:40]!r}.")
        return min(int(text), MAX_RESULTS)
    return MAX_RESULTS

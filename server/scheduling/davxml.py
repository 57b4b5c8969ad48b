"""Small WebDAV XML helpers on lxml for the answers roomcal writes itself (principals,
schedule inbox and outbox, principal searches): a safe parser, the parts of a
multistatus, and PROPFIND bodies read into what they ask for."""

import re
from typing import Callable, Dict, Iterable, List, Optional

from lxml import etree
from radicale import xmlutils

DAV = "DAV:"
CALDAV = "urn:ietf:params:xml:ns:caldav"
CS = "http://calendarserver.org/ns/"
RC = "urn:roomcal:caldav"
NSMAP = {"D": DAV, "C": CALDAV, "CS": CS, "R": RC}
XML_TYPE = [("Content-Type", "application/xml; charset=utf-8")]


def d(name: str) -> str:
    return f"{{{DAV}}}{name}"


def c(name: str) -> str:
    return f"{{{CALDAV}}}{name}"


def cs(name: str) -> str:
    return f"{{{CS}}}{name}"


def rc(name: str) -> str:
    return f"{{{RC}}}{name}"


class BadXml(ValueError):
    """A request body this server cannot read; the message is a sentence for the client."""


def parser() -> etree.XMLParser:
    # No entities, no network, no huge trees: the body is a client's (the front already
    # refused DTDs, this is the second lock on the door).
    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                           load_dtd=False, remove_comments=True, remove_pis=True)


def parse(body: bytes) -> Optional[etree._Element]:
    """The root element of an XML body, None for an empty body; BadXml when it is not XML."""
    if not body or not body.strip():
        return None
    try:
        root = etree.fromstring(body, parser())
    except (etree.XMLSyntaxError, ValueError) as e:
        raise BadXml(f"The request body is not well-formed XML ({_short(e)}).") from None
    if root is None:
        raise BadXml("The request body holds no XML element.")
    return root


def _short(error: Exception) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text[:200]


def href(base_prefix: str, path: str) -> str:
    """A path as an href, quoted as Radicale quotes its own."""
    return xmlutils.make_href(base_prefix, path)


# What XML 1.0 cannot carry (lxml refuses it): control characters a name might hold.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def element(tag: str, text: Optional[str] = None, children: Iterable = ()) -> etree._Element:
    node = etree.Element(tag, nsmap=None)
    if text is not None:
        node.text = _NOT_XML.sub("\ufffd", text)
    for child in children:
        node.append(child)
    return node


def hrefs(tag: str, values: Iterable[str]) -> etree._Element:
    """``<tag><D:href>v</D:href>...</tag>``."""
    return element(tag, children=[element(d("href"), v) for v in values])


def multistatus() -> etree._Element:
    return etree.Element(d("multistatus"), nsmap=NSMAP)


def status_line(code: int) -> str:
    from http import HTTPStatus
    return f"HTTP/1.1 {code} {HTTPStatus(code).phrase}"


# A property's value: an element built on request (None: the principal has none -> 404).
Builder = Callable[[str], Optional[etree._Element]]


def response(where: str, wanted: List[str], props: Dict[str, Builder], *,
             names_only: bool = False) -> etree._Element:
    """One ``D:response`` for ``where`` (an href): each wanted property found (200), the rest
    404.  ``names_only``: PROPFIND propname (empty elements, all found)."""
    node = element(d("response"), children=[element(d("href"), where)])
    found, missing = [], []
    for tag in wanted:
        builder = props.get(tag)
        if names_only:
            found.append(etree.Element(tag))
            continue
        value = builder(tag) if builder is not None else None
        if value is None:
            missing.append(etree.Element(tag))
        else:
            found.append(value)
    for code, elements in ((200, found), (404, missing)):
        if elements:
            node.append(element(d("propstat"), children=[
                element(d("prop"), children=elements), element(d("status"), status_line(code))]))
    if not found and not missing:   # nothing asked: still a well-formed response
        node.append(element(d("propstat"), children=[
            element(d("prop")), element(d("status"), status_line(200))]))
    return node


def status_response(where: str, code: int, description: str = "",
                    error: Optional[str] = None) -> etree._Element:
    """A ``D:response`` with a status of its own (RFC 4918 14.24), e.g. a truncated search."""
    node = element(d("response"), children=[element(d("href"), where),
                                            element(d("status"), status_line(code))])
    if error:
        node.append(element(d("error"), children=[etree.Element(d(error))]))
    if description:
        node.append(element(d("responsedescription"), description))
    return node


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="utf-8")


class PropRequest:
    """What a PROPFIND (or a REPORT's ``D:prop``) asks for: ``names`` (Clark tags),
    ``allprop`` (plus ``include``), or ``propname``."""

    def __init__(self, names=(), allprop=False, propname=False):
        self.names = list(dict.fromkeys(names))
        self.allprop = allprop
        self.propname = propname

    @classmethod
    def from_prop(cls, prop: Optional[etree._Element]) -> "PropRequest":
        if prop is None:
            return cls(allprop=True)
        return cls([child.tag for child in prop if isinstance(child.tag, str)])

    @classmethod
    def from_propfind(cls, root: Optional[etree._Element]) -> "PropRequest":
        """RFC 4918 9.1: no body is allprop."""
        if root is None:
            return cls(allprop=True)
        if root.tag != d("propfind"):
            raise BadXml(f"A PROPFIND body must be a DAV:propfind element, not {_name(root.tag)}.")
        if root.find(d("propname")) is not None:
            return cls(propname=True)
        prop = root.find(d("prop"))
        if prop is not None:
            return cls.from_prop(prop)
        if root.find(d("allprop")) is not None:
            include = root.find(d("include"))
            extra = [child.tag for child in include if isinstance(child.tag, str)] if include is not None else []
            return cls(extra, allprop=True)
        raise BadXml("This PROPFIND names no prop, allprop or propname.")

    def wanted(self, all_names: Iterable[str]) -> List[str]:
        """The properties to answer, given every one the resource has for allprop/propname."""
        if self.allprop or self.propname:
            return list(dict.fromkeys([*all_names, *self.names]))
        return self.names


def _name(tag) -> str:
    if not isinstance(tag, str):
        return "a comment"
    if not tag.startswith("{"):
        return tag
    namespace, _, local = tag[1:].partition("}")
    return f"{namespace}{'' if namespace.endswith(':') else ':'}{local}"


def depth(environ, default: str = "0") -> str:
    value = (environ.get("HTTP_DEPTH") or default).strip().lower()
    return value if value in ("0", "1", "infinity") else default

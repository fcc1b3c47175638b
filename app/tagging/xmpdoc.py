"""XMP packets as a DOM: safe parsing, RDF navigation, namespace-aware edits that keep the
file's layout, and a stable serializer. Policy (what to write where) lives in app.tagging.sidecar.

minidom rather than ElementTree because it keeps what a sidecar round trip must not lose: the
prefixes each application chose, `<?xpacket?>` wrappers and comments, and the whitespace
between untouched elements. Parsing goes through defusedxml: no DTDs, no entities.
"""

from __future__ import annotations

from xml.dom import Node
from xml.dom.minidom import Document, Element
from xml.parsers.expat import ExpatError

from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml import minidom as safe_minidom

RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
XMP_META = "adobe:ns:meta/"
XMLNS = "http://www.w3.org/2000/xmlns/"
DC = "http://purl.org/dc/elements/1.1/"
LR = "http://ns.adobe.com/lightroom/1.0/"
DIGIKAM = "http://www.digikam.org/ns/1.0/"
_PREFERRED_PREFIXES = {RDF: "rdf", XMP_META: "x", DC: "dc", LR: "lr", DIGIKAM: "digiKam"}


class XmpError(ValueError):
    """Bytes that are not a safe, well-formed XMP packet; str() is the reason."""


def register_prefix(uri: str, prefix: str) -> None:
    """The prefix to declare for `uri` when a document has none bound to it."""
    _PREFERRED_PREFIXES[uri] = prefix


def parse(raw: bytes) -> Document:
    """Parse an XMP packet (x:xmpmeta or bare rdf:RDF root), refusing DTDs and entities."""
    try:
        doc = safe_minidom.parseString(
            raw, forbid_dtd=True, forbid_entities=True, forbid_external=True
        )
    except DTDForbidden:
        raise XmpError("it contains a DOCTYPE declaration, refused for safety") from None
    except EntitiesForbidden:
        raise XmpError("it declares XML entities, refused for safety") from None
    except ExternalReferenceForbidden:
        raise XmpError("it refers to external resources, refused for safety") from None
    except (ExpatError, ValueError, UnicodeError) as e:
        raise XmpError(f"it is not well-formed XML ({e})") from None
    try:
        rdf_root(doc)
    except LookupError:
        raise XmpError("it is not an XMP packet (no rdf:RDF)") from None
    return doc


def new_document(toolkit: str) -> Document:
    """An empty packet: x:xmpmeta (naming the writing tool) around an empty rdf:RDF."""
    return safe_minidom.parseString(
        f'<x:xmpmeta xmlns:x="{XMP_META}" x:xmptk="{toolkit}">\n <rdf:RDF xmlns:rdf="{RDF}"/>\n</x:xmpmeta>'
    )


def rdf_root(doc: Document) -> Element:
    """rdf:RDF, either the root or inside x:xmpmeta (or the old x:xapmeta)."""
    root = doc.documentElement
    if root.namespaceURI == RDF and root.localName == "RDF":
        return root
    if root.namespaceURI == XMP_META:
        for child in children(root, RDF, "RDF"):
            return child
    raise LookupError("no rdf:RDF")


def descriptions(doc: Document) -> list[Element]:
    return children(rdf_root(doc), RDF, "Description")


def element_children(el: Element) -> list[Element]:
    return [c for c in el.childNodes if c.nodeType == Node.ELEMENT_NODE]


def children(el: Element, ns: str, local: str) -> list[Element]:
    return [c for c in element_children(el) if c.namespaceURI == ns and c.localName == local]


def text_of(el: Element) -> str:
    """The element's own character data (not its descendants')."""
    return "".join(
        c.data for c in el.childNodes if c.nodeType in (Node.TEXT_NODE, Node.CDATA_SECTION_NODE)
    )


def array_of(prop: Element, create: str | None = None) -> Element | None:
    """The rdf:Bag/Seq/Alt of an array property; with `create`, a simple value becomes a one-item array."""
    for child in element_children(prop):
        if child.namespaceURI == RDF and child.localName in ("Bag", "Seq", "Alt"):
            return child
    if create is None:
        return None
    value = text_of(prop).strip()
    for child in list(prop.childNodes):
        prop.removeChild(child)
    container = new_element(prop, RDF, create)
    append(prop, container)
    if value:
        append_text(container, RDF, "li", value)
    return container


def array_items(prop: Element) -> list[str]:
    """Items of an array property; a (non-conforming) simple value counts as one item."""
    container = array_of(prop)
    if container is None:
        value = text_of(prop).strip()
        return [value] if value else []
    return [text_of(li) for li in children(container, RDF, "li")]


def array_values(descs: list[Element], ns: str, local: str) -> list[str]:
    """All items of a property over every rdf:Description (writers split packets), in document
    order, empty and repeated items included: they are someone's data, reported as they are."""
    return [v for d in descs for p in children(d, ns, local) for v in array_items(p)]


def is_empty(desc: Element) -> bool:
    """True for an rdf:Description that states nothing (only rdf:about and declarations)."""
    attrs = [a for a in desc.attributes.values() if a.namespaceURI != XMLNS and a.name != "xmlns"]
    return not element_children(desc) and all(
        a.namespaceURI == RDF and a.localName == "about" for a in attrs
    )


def scope(el: Element) -> dict[str, str]:
    """Namespace bindings in force at `el` (prefix -> URI, "" for the default), nearest first."""
    bindings: dict[str, str] = {}
    node = el
    while node is not None and node.nodeType == Node.ELEMENT_NODE:
        for a in node.attributes.values():
            if a.name == "xmlns" or a.name.startswith("xmlns:"):
                bindings.setdefault(a.name[6:], a.value)
        node = node.parentNode
    return bindings


def prefix_in_scope(el: Element, uri: str) -> str | None:
    return next((p for p, u in scope(el).items() if u == uri), None)


def free_prefix(el: Element, uri: str) -> str:
    """Our preferred prefix for `uri`, or a numbered one if that is bound to something else here."""
    bound, preferred = scope(el), _PREFERRED_PREFIXES.get(uri, "ns")
    prefix, n = preferred, 1
    while prefix in bound:
        prefix, n = f"{preferred}{n}", n + 1
    return prefix


def new_element(
    parent: Element, uri: str, local: str, declare_on: Element | None = None
) -> Element:
    """An element named with the prefix in scope under `parent`, declaring one (on `declare_on`,
    else on the element itself) where there is none."""
    doc = parent.ownerDocument
    prefix = prefix_in_scope(parent, uri)
    if prefix is not None:
        return doc.createElementNS(uri, f"{prefix}:{local}" if prefix else local)
    prefix = free_prefix(parent, uri)
    el = doc.createElementNS(uri, f"{prefix}:{local}")
    (declare_on if declare_on is not None else el).setAttributeNS(XMLNS, f"xmlns:{prefix}", uri)
    return el


def set_attr(el: Element, uri: str, local: str, value: str) -> None:
    """Set a namespaced attribute on an element already in the tree (attributes need a prefix)."""
    prefix = prefix_in_scope(el, uri)
    if not prefix:
        prefix = free_prefix(el, uri)
        el.setAttributeNS(XMLNS, f"xmlns:{prefix}", uri)
    el.setAttributeNS(uri, f"{prefix}:{local}", value)


def indent_before(node: Node) -> str:
    """The indentation `node` sits at, read from the whitespace before it ("" if none)."""
    prev = node.previousSibling
    if (
        prev is not None
        and prev.nodeType == Node.TEXT_NODE
        and "\n" in prev.data
        and not prev.data.strip()
    ):
        return prev.data.rsplit("\n", 1)[1]
    return ""


def append(parent: Element, child: Element) -> None:
    """Append `child` as the last element of `parent`, indented like its siblings."""
    doc = parent.ownerDocument
    elements = element_children(parent)
    if elements:
        last = elements[-1]
        ref = last.nextSibling
        parent.insertBefore(doc.createTextNode("\n" + indent_before(last)), ref)
        parent.insertBefore(child, ref)
        return
    outer = indent_before(parent)
    for node in list(parent.childNodes):
        if node.nodeType == Node.TEXT_NODE and not node.data.strip():
            parent.removeChild(node)
    parent.appendChild(doc.createTextNode("\n" + outer + " "))
    parent.appendChild(child)
    parent.appendChild(doc.createTextNode("\n" + outer))


def append_text(
    parent: Element, uri: str, local: str, value: str, declare_on: Element | None = None
) -> None:
    el = new_element(parent, uri, local, declare_on)
    el.appendChild(parent.ownerDocument.createTextNode(value))
    append(parent, el)


def remove(node: Node) -> None:
    """Remove `node` and the indentation before it, so no blank lines pile up."""
    parent = node.parentNode
    prev = node.previousSibling
    if prev is not None and prev.nodeType == Node.TEXT_NODE and not prev.data.strip():
        parent.removeChild(prev)
    parent.removeChild(node)


def escape(s: str, attribute: bool) -> str:
    s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")
    if attribute:
        s = s.replace('"', "&quot;").replace("\n", "&#xA;").replace("\t", "&#x9;")
    return s


def serialize(doc: Document, declaration: bool) -> bytes:
    """Our own writer (not minidom's), so the output is stable across Python versions and keeps
    newlines in attribute values; long attribute lists go one per line, as exiv2 writes them."""
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n'] if declaration else []

    def write(node: Node) -> None:
        kind = node.nodeType
        if kind == Node.ELEMENT_NODE:
            # Declarations first, the order minidom parses them in, so a rewrite is stable.
            attrs = sorted(node.attributes.values(), key=lambda a: a.namespaceURI != XMLNS)
            sep = "\n" + indent_before(node) + "  " if len(attrs) > 2 else " "
            out.append("<" + node.tagName)
            out.extend(f'{sep}{a.name}="{escape(a.value, True)}"' for a in attrs)
            if not node.childNodes:
                out.append("/>")
                return
            out.append(">")
            for child in node.childNodes:
                write(child)
            out.append(f"</{node.tagName}>")
        elif kind == Node.TEXT_NODE:
            out.append(escape(node.data, False))
        elif kind == Node.CDATA_SECTION_NODE:
            out.append(f"<![CDATA[{node.data}]]>")
        elif kind == Node.COMMENT_NODE:
            out.append(f"<!--{node.data}-->")
        elif kind == Node.PROCESSING_INSTRUCTION_NODE:
            out.append(f"<?{node.target} {node.data}?>" if node.data else f"<?{node.target}?>")

    for node in doc.childNodes:
        write(node)
        out.append("\n")
    return "".join(out).encode("utf-8")

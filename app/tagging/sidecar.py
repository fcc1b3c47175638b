"""XMP sidecars: find both names, read keywords and our scene tag, merge our tag in, write atomically.

Like darktable's writer, we parse the existing sidecar, take out only what this product put there
(known from our provenance in the `sceneTagger` namespace), add the new tag and write the result;
every other namespace, property, attribute and keyword is carried over untouched. Parsing goes
through defusedxml (no DTDs, no entities) and refuses oversized files, so a hostile sidecar cannot
hang or exhaust the app, and a sidecar we cannot parse is never overwritten. No Qt, no torch.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from xml.dom.minidom import Document, Element

from app import defaults
from app.photos import formats
from app.photos.oserrors import os_reason
from app.tagging import xmpdoc
from app.tagging.xmpdoc import DC, DIGIKAM, LR, RDF, XMLNS

NS = "http://ns.scene-tagger.org/1.0/"
PREFIX = "sceneTagger"
xmpdoc.register_prefix(NS, PREFIX)

# (namespace, property, array type) of the keyword properties we write, in the order of
# `_keyword_values`: flat keyword, Lightroom hierarchy ("Scene|sea"), digiKam tag path ("Scene/sea").
KEYWORD_PROPS = (
    (DC, "subject", "Bag"),
    (LR, "hierarchicalSubject", "Bag"),
    (DIGIKAM, "TagsList", "Seq"),
)
NAMINGS = defaults.NAMINGS  # IMG.jpg.xmp (darktable, digiKam, exiftool) | IMG.xmp (Adobe)
SOURCES = ("auto", "manual")
# "none of these scenes": recorded in our namespace only, never as a keyword (other apps
# ignore it); app.model.openset.NONE, spelled here so sidecars do not import the model
NONE = "none"
MAX_SIDECAR_BYTES = 10 * 1024 * 1024  # real sidecars are KBs; a darktable history rarely 1 MB
DECIMALS = 4  # confidence and scores are written, and compared, at this precision
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class SidecarError(Exception):
    """A sidecar that cannot be read or written; str() names the file and says why."""

    def __init__(self, path: str | os.PathLike[str], reason: str, action: str = "read") -> None:
        self.path, self.reason, self.action = Path(path), reason, action
        super().__init__(f"Cannot {action} sidecar {self.path}: {reason}")

    def __reduce__(self):  # picklable across worker processes
        return (self.__class__, (self.path, self.reason, self.action))


@dataclass(frozen=True)
class SceneTag:
    label: str
    source: str = "auto"  # "auto" | "manual"
    confidence: float | None = None
    scores: dict[str, float] | None = None
    model_id: str | None = None
    time: str | None = None  # ISO 8601; filled with now() on write if None
    # the open-set score (app.model.openset) the label was decided with; None: not known
    open_set: float | None = None


@dataclass
class SidecarInfo:
    path: Path | None  # the existing sidecar, or None
    keywords: list[str]  # dc:subject
    hierarchical: list[str]  # lr:hierarchicalSubject
    scene: SceneTag | None  # our provenance, if present
    tags_list: list[str] = field(default_factory=list)  # digiKam:TagsList
    scene_parent: str | None = None  # keyword parent our tag was written under


@dataclass(frozen=True)
class WriteResult:
    path: Path
    changed: bool
    skipped_reason: str | None = None


@dataclass
class _OurProvenance:
    """Our provenance as found on disk, and where it lives."""

    tag: SceneTag | None = None
    parent: str | None = None
    added: list[str] | None = None  # keywords we inserted (None: unknown, assume all derived ones)
    home: Element | None = None  # the rdf:Description that held it


# ----------------------------------------------------------------------------- naming


def sidecar_candidates(photo: Path, naming: str = defaults.NAMING) -> list[Path]:
    """Both conventional sidecar names for `photo`, the preferred naming first."""
    photo = Path(photo)
    ext, base = photo.with_name(photo.name + ".xmp"), photo.with_name(photo.stem + ".xmp")
    order = [ext, base] if _check_naming(naming) == "ext" else [base, ext]
    if formats.base_sidecar_owner(photo) != photo:
        order.remove(base)  # IMG.xmp is the sidecar of IMG.CR2, never of its IMG.JPG twin
    return list(dict.fromkeys(order))


def target_sidecar(photo: Path, naming: str = defaults.NAMING) -> Path:
    """Where a new sidecar goes: `IMG.jpg.xmp` ("ext", the default) or `IMG.xmp` ("base")."""
    return sidecar_candidates(photo, naming)[0]


def find_sidecar(photo: Path, naming: str = defaults.NAMING) -> Path | None:
    """The existing sidecar of `photo`, matching names case-insensitively (IMG.JPG.XMP, img.xmp)."""
    return _find(Path(photo), naming, fresh=False)


_xmp_index = formats.FolderIndex(lambda n: n.lower() if n.lower().endswith(".xmp") else None, 32)


def _find(photo: Path, naming: str, fresh: bool) -> Path | None:
    index = _xmp_names(photo.parent, fresh)
    name = photo.name
    if not index or (
        f"{name}.xmp".lower() not in index
        and f"{os.path.splitext(name)[0]}.xmp".lower() not in index
    ):
        return None  # the common case (most photos have no sidecar yet), answered without Paths
    for candidate in sidecar_candidates(photo, naming):
        names = index.get(candidate.name.lower())
        if names:
            name = candidate.name if candidate.name in names else sorted(names)[0]
            return candidate.with_name(name)
    return None


def _xmp_names(folder: Path, fresh: bool) -> dict[str, list[str]]:
    """Lower-cased .xmp name -> the names as written, for the folder (listed once, not per photo)."""
    return _xmp_index.get(folder, fresh)


def _forget_folder(folder: Path) -> None:
    _xmp_index.forget(folder)
    formats.sidecar_written(folder)  # its photo listing stays valid: no re-listing per write


def _check_naming(naming: str) -> str:
    if naming not in NAMINGS:
        raise ValueError(f"sidecar naming must be one of {NAMINGS}, not {naming!r}")
    return naming


# ----------------------------------------------------------------------------- public API


def read_sidecar(photo: Path, naming: str = defaults.NAMING) -> SidecarInfo:
    """Keywords and our scene tag from the photo's sidecar; an absent sidecar is an empty info."""
    path = find_sidecar(photo, naming)
    if path is None:
        return SidecarInfo(None, [], [], None)
    doc, _ = _load(path, "read")
    if doc is None:
        return SidecarInfo(path, [], [], None)
    descs = xmpdoc.descriptions(doc)
    on_disk = _read_provenance(descs)
    subject, hierarchical, tags = (
        xmpdoc.array_values(descs, ns, local) for ns, local, _ in KEYWORD_PROPS
    )
    return SidecarInfo(path, subject, hierarchical, on_disk.tag, tags, on_disk.parent)


def now() -> str:
    """The time stamped on a tag when it is written: local time with its offset, to the second."""
    return datetime.now(UTC).astimezone().isoformat(timespec="seconds")


_write_lock = threading.RLock()  # one read-modify-write at a time within the process


def write_scene(
    photo: Path,
    tag: SceneTag,
    *,
    naming: str = defaults.NAMING,
    parent: str = defaults.PARENT,
    dry_run: bool = False,
    root: Path | None = None,
) -> WriteResult:
    """Merge `tag` into the photo's sidecar (the existing one, else a new one named per `naming`).

    `root` is the folder tree being tagged (default: the photo's folder): a sidecar that is a
    symbolic link is written through only when its target is a regular file inside it.

    A manual label on disk is never replaced by an automatic one (skipped_reason says so). When
    the tag on disk already says the same (time aside), nothing is written and changed is False.
    With dry_run, nothing is written but the result says whether the file would change.
    """
    _validate(tag, naming)
    with _write_lock:
        existing = _find(Path(photo), naming, fresh=True)
        path = existing or target_sidecar(photo, naming)
        _check_link(path, photo, root)
        doc, raw = _load(existing, "update") if existing else (None, b"")
        descs = xmpdoc.descriptions(doc) if doc is not None else []
        on_disk = _read_provenance(descs)
        if on_disk.tag is not None and on_disk.tag.source == "manual" and tag.source == "auto":
            return WriteResult(
                path, False, "the photo has a manual label, which an automatic one never replaces"
            )
        if (
            on_disk.tag is not None
            and on_disk.parent == parent
            and _same_tag(on_disk.tag, tag)
            and _keywords_present(descs, _keyword_values_of(tag.label, parent))
        ):
            return WriteResult(path, False)
        if tag.time is None:
            tag = replace(tag, time=now())
        declaration = doc is None or raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml")
        if doc is None:
            doc = xmpdoc.new_document("Scene Tagger")
        _strip_provenance(doc, on_disk, parent, keep_home=True)
        _add_provenance(doc, on_disk, tag, parent)
        data = xmpdoc.serialize(doc, declaration)
        if data == raw:
            return WriteResult(path, False)
        if not dry_run:
            _atomic_write(path, data, existing)
        return WriteResult(path, True)


def clear_scene(
    photo: Path,
    *,
    parent: str = defaults.PARENT,
    naming: str = defaults.NAMING,
    root: Path | None = None,
) -> WriteResult:
    """Remove our tag (provenance and the keywords we wrote), manual or not: an explicit user act.

    `parent` is only used for a tag whose provenance does not record its parent. A sidecar left
    with no properties at all (one we created) is deleted rather than left empty.
    """
    with _write_lock:
        existing = _find(Path(photo), naming, fresh=True)
        if existing is None:
            return WriteResult(target_sidecar(photo, naming), False)
        _check_link(existing, photo, root)
        doc, raw = _load(existing, "update")
        on_disk = (
            _read_provenance(xmpdoc.descriptions(doc)) if doc is not None else _OurProvenance()
        )
        if doc is None or on_disk.home is None:
            return WriteResult(existing, False)
        _strip_provenance(doc, on_disk, parent, keep_home=False)
        if not xmpdoc.descriptions(doc) and not xmpdoc.element_children(xmpdoc.rdf_root(doc)):
            try:
                os.unlink(existing)
            except OSError as e:
                raise SidecarError(existing, _os_reason(e), "update") from e
            _forget_folder(existing.parent)
            return WriteResult(existing, True)
        declaration = raw.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<?xml")
        data = xmpdoc.serialize(doc, declaration)
        if data == raw:
            return WriteResult(existing, False)
        _atomic_write(existing, data, existing)
        return WriteResult(existing, True)


# ----------------------------------------------------------------------------- our tag


def _validate(tag: SceneTag, naming: str) -> None:
    _check_naming(naming)
    if not tag.label or "|" in tag.label or "/" in tag.label:
        raise ValueError(f"scene label must be non-empty without '|' or '/': {tag.label!r}")
    if tag.source not in SOURCES:
        raise ValueError(f"scene source must be one of {SOURCES}, not {tag.source!r}")
    for name in tag.scores or {}:
        if not _XML_NAME.match(name):
            raise ValueError(f"score name {name!r} is not usable as an XMP field name")


def _keyword_values(label: str, parent: str) -> tuple[str, str, str]:
    """The keyword for each of KEYWORD_PROPS; a parent may itself be a path ("Auto|Scene")."""
    parts = [p for p in re.split(r"[|/]", parent) if p]
    return label, "|".join([*parts, label]), "/".join([*parts, label])


def _fmt(x: float | None) -> str | None:
    return None if x is None else f"{float(x):.{DECIMALS}f}"


def _same_tag(a: SceneTag, b: SceneTag) -> bool:
    """Equal for the file's purposes: time ignored, numbers compared as written."""

    def scores(t: SceneTag) -> dict[str, str | None] | None:
        return None if t.scores is None else {k: _fmt(v) for k, v in t.scores.items()}

    return (a.label, a.source, a.model_id, _fmt(a.confidence), scores(a), _fmt(a.open_set)) == (
        b.label,
        b.source,
        b.model_id,
        _fmt(b.confidence),
        scores(b),
        _fmt(b.open_set),
    )


def _read_provenance(descs: list[Element]) -> _OurProvenance:
    """Our provenance, whether written as elements (by us) or as attributes (by a compacting
    rewriter such as exiv2), possibly spread over several rdf:Description blocks."""
    props: dict[str, str | Element] = {}
    home = None
    for desc in descs:
        found = [a for a in desc.attributes.values() if a.namespaceURI == NS]
        found_el = [c for c in xmpdoc.element_children(desc) if c.namespaceURI == NS]
        if (found or found_el) and home is None:
            home = desc
        props.update({a.localName: a.value for a in found})
        props.update({c.localName: c for c in found_el})
    if home is None:
        return _OurProvenance()

    def text(name: str) -> str | None:
        v = props.get(name)
        return v if isinstance(v, str) or v is None else xmpdoc.text_of(v).strip()

    def number(s: str | None) -> float | None:
        try:
            return None if s is None else float(s)
        except ValueError:
            return None

    scores = None
    if isinstance(props.get("scores"), Element):
        fields = _struct_fields(props["scores"])  # type: ignore[arg-type]
        parsed = {k: number(v) for k, v in fields.items()}
        scores = {k: v for k, v in parsed.items() if v is not None} or None
    added = props.get("addedKeywords")
    label = text("label")
    tag = None
    if label:
        source = (text("source") or "auto").lower()
        tag = SceneTag(
            label=label,
            source=source if source in SOURCES else "auto",
            confidence=number(text("confidence")),
            scores=scores,
            model_id=text("modelId"),
            time=text("time"),
            open_set=number(text("openSet")),
        )
    return _OurProvenance(
        tag, text("parent"), xmpdoc.array_items(added) if isinstance(added, Element) else None, home
    )


def _struct_fields(el: Element) -> dict[str, str]:
    """Fields of an XMP struct in any of its forms: child elements, attributes, nested rdf:Description."""
    fields = {
        a.localName: a.value
        for a in el.attributes.values()
        if a.namespaceURI not in (None, XMLNS, RDF)
    }
    for child in xmpdoc.element_children(el):
        if child.namespaceURI == RDF and child.localName == "Description":
            fields.update(_struct_fields(child))
        elif child.namespaceURI != RDF:
            fields[child.localName] = xmpdoc.text_of(child).strip()
    return fields


def _keyword_values_of(label: str, parent: str) -> tuple[str, ...]:
    """The keywords a tag puts in the file: none for NONE."""
    return () if label == NONE else _keyword_values(label, parent)


def _keywords_present(descs: list[Element], values: tuple[str, ...]) -> bool:
    return all(
        v in xmpdoc.array_values(descs, ns, local)
        for (ns, local, _), v in zip(KEYWORD_PROPS, values, strict=False)
    )


def _strip_provenance(
    doc: Document, on_disk: _OurProvenance, fallback_parent: str, keep_home: bool
) -> None:
    """Take out our provenance and the keywords it says we wrote; leave everything else."""
    descs = xmpdoc.descriptions(doc)
    touched: set[int] = set()
    for desc in descs:
        for a in [a for a in desc.attributes.values() if a.namespaceURI == NS]:
            desc.removeAttributeNode(a)
            touched.add(id(desc))
        for child in [c for c in xmpdoc.element_children(desc) if c.namespaceURI == NS]:
            xmpdoc.remove(child)
            touched.add(id(desc))
    if on_disk.tag is not None and on_disk.tag.label != NONE:
        parent = on_disk.parent if on_disk.parent is not None else fallback_parent
        values = _keyword_values(on_disk.tag.label, parent)
        for (ns, local, _), value in zip(KEYWORD_PROPS, values, strict=True):
            if on_disk.added is not None and value not in on_disk.added:
                continue  # it was there before us: not ours to remove
            for desc in descs:
                for prop in xmpdoc.children(desc, ns, local):
                    container = xmpdoc.array_of(prop)
                    if container is None:
                        continue
                    mine = [
                        li
                        for li in xmpdoc.children(container, RDF, "li")
                        if xmpdoc.text_of(li) == value
                    ]
                    for li in mine:
                        xmpdoc.remove(li)
                        touched.add(id(desc))
                    if mine and not xmpdoc.element_children(container):
                        xmpdoc.remove(prop)
    for desc in descs:
        if (
            id(desc) in touched
            and not (keep_home and desc is on_disk.home)
            and xmpdoc.is_empty(desc)
        ):
            xmpdoc.remove(desc)


def _add_provenance(doc: Document, on_disk: _OurProvenance, tag: SceneTag, parent: str) -> None:
    rdf = xmpdoc.rdf_root(doc)
    descs = xmpdoc.descriptions(doc)
    home = on_disk.home if on_disk.home is not None and on_disk.home.parentNode is rdf else None
    if home is None:
        about = descs[0].getAttributeNS(RDF, "about") if descs else ""
        home = xmpdoc.new_element(rdf, RDF, "Description")
        xmpdoc.append(rdf, home)
        xmpdoc.set_attr(home, RDF, "about", about)
        descs.append(home)
    added = []
    for (ns, local, kind), value in zip(
        KEYWORD_PROPS, _keyword_values_of(tag.label, parent), strict=False
    ):
        if value in xmpdoc.array_values(descs, ns, local):
            continue
        props = [p for d in descs for p in xmpdoc.children(d, ns, local)]
        if props:
            container = xmpdoc.array_of(props[0], create=kind)
        else:
            prop = xmpdoc.new_element(home, ns, local, declare_on=home)
            xmpdoc.append(home, prop)
            container = xmpdoc.new_element(prop, RDF, kind)
            xmpdoc.append(prop, container)
        xmpdoc.append_text(container, RDF, "li", value)
        added.append(value)
    for local, value in (
        ("label", tag.label),
        ("source", tag.source),
        ("confidence", _fmt(tag.confidence)),
        ("modelId", tag.model_id),
        ("time", tag.time),
        ("parent", parent),
        ("openSet", _fmt(tag.open_set)),
    ):
        if value is not None:
            xmpdoc.append_text(home, NS, local, value, declare_on=home)
        if local == "confidence" and tag.scores:
            scores = xmpdoc.new_element(home, NS, "scores", declare_on=home)
            xmpdoc.append(home, scores)
            xmpdoc.set_attr(scores, RDF, "parseType", "Resource")
            for name, score in tag.scores.items():
                xmpdoc.append_text(scores, NS, name, _fmt(score) or "")
    bag_owner = xmpdoc.new_element(home, NS, "addedKeywords", declare_on=home)
    xmpdoc.append(home, bag_owner)
    bag = xmpdoc.new_element(bag_owner, RDF, "Bag")
    xmpdoc.append(bag_owner, bag)
    for value in added:
        xmpdoc.append_text(bag, RDF, "li", value)


# ----------------------------------------------------------------------------- XML helpers


def _load(path: Path, action: str) -> tuple[Document | None, bytes]:
    """Parse a sidecar safely; (None, raw) for an empty file, SidecarError for anything unsafe."""
    try:
        size = os.stat(path).st_size
        if size > MAX_SIDECAR_BYTES:
            limit = f"{size:,} bytes; the limit is {MAX_SIDECAR_BYTES:,}"
            raise SidecarError(path, f"it is too large ({limit}){_untouched(action)}", action)
        with open(path, "rb") as f:
            raw = f.read(MAX_SIDECAR_BYTES + 1)
    except OSError as e:
        raise SidecarError(path, _os_reason(e), action) from e
    if len(raw) > MAX_SIDECAR_BYTES:
        limit = f"over {MAX_SIDECAR_BYTES:,} bytes"
        raise SidecarError(path, f"it is too large ({limit}){_untouched(action)}", action)
    if not raw.strip():
        return None, raw
    try:
        return xmpdoc.parse(raw), raw
    except xmpdoc.XmpError as e:
        raise SidecarError(path, f"{e}{_untouched(action)}", action) from None


def _untouched(action: str) -> str:
    return "; the file was left untouched" if action != "read" else ""


# ----------------------------------------------------------------------------- writing


def _os_reason(e: OSError) -> str:
    return os_reason(e, ENOENT="the folder does not exist")  # writing: the file is ours to make


def _check_link(path: Path, photo: Path, root: Path | None) -> None:
    """Refuse to write through a sidecar that is a symbolic link leaving the folder tree being
    tagged (or pointing at anything but a regular file): someone tagging a folder they were
    sent must not have files outside it changed."""
    if not os.path.islink(path):
        return
    tree = os.path.realpath(root if root is not None else Path(photo).parent)
    target = os.path.realpath(path)
    inside = os.path.commonpath([tree, target]) == tree
    if not inside:
        reason = f"it is a link to {target}, outside {tree}; it was left untouched"
    elif not os.path.isfile(target):
        reason = f"it is a link to {target}, which is not a regular file; it was left untouched"
    else:
        return
    raise SidecarError(path, reason, "write")


def _atomic_write(path: Path, data: bytes, existing: Path | None) -> None:
    """Temp file beside the target, fsync, os.replace: a crash leaves the old or the new file, never
    half of one. The existing file's permission bits are kept; a symlinked sidecar stays a link."""
    _forget_folder(path.parent)
    if existing is not None:
        path = Path(os.path.realpath(path))
        if not os.access(path, os.W_OK):
            raise SidecarError(path, "the file is read-only", "write")
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    except OSError as e:
        raise SidecarError(path, _os_reason(e), "write") from e
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if existing is not None:
            with contextlib.suppress(OSError):
                os.chmod(tmp, stat.S_IMODE(os.stat(path).st_mode))
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise SidecarError(path, _os_reason(e), "write") from e
    _forget_folder(path.parent)
    if hasattr(os, "O_DIRECTORY"):  # make the rename itself durable (POSIX)
        with contextlib.suppress(OSError):
            dfd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)

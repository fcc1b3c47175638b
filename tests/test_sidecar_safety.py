"""Sidecars keep what is not ours item for item, and are never written through a link that
leaves the folder being tagged."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from app.tagging.sidecar import SceneTag, SidecarError, clear_scene, read_sidecar, write_scene
from tests.test_sidecar import DC, DK, LR, RDF, SEA, array, install

# ----------------------------------------------------------------------------- every item kept

KEEP_ITEMS = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="XMP Core 4.4.0-Exiv2">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:digiKam="http://www.digikam.org/ns/1.0/"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:lr="http://ns.adobe.com/lightroom/1.0/">
   <digiKam:TagsList><rdf:Seq><rdf:li/><rdf:li>People/Anna</rdf:li></rdf:Seq></digiKam:TagsList>
   <dc:subject>
    <rdf:Bag>
     <rdf:li/>
     <rdf:li>Anna</rdf:li>
     <rdf:li>Anna</rdf:li>
     <rdf:li></rdf:li>
     <rdf:li>Zoo</rdf:li>
    </rdf:Bag>
   </dc:subject>
   <dc:title><rdf:Alt><rdf:li xml:lang="x-default">Title</rdf:li><rdf:li xml:lang="de"/></rdf:Alt></dc:title>
   <lr:hierarchicalSubject><rdf:Bag><rdf:li/></rdf:Bag></lr:hierarchicalSubject>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""


def test_every_existing_array_item_survives_in_order(tmp_path: Path) -> None:
    """Empty items, duplicates and language alternatives are someone's data: a write, a label
    change and a clear keep each of them, in order."""
    photo = tmp_path / "IMG_0001.jpg"
    xmp = tmp_path / "IMG_0001.jpg.xmp"
    xmp.write_text(KEEP_ITEMS, encoding="utf-8")
    props = {
        "subject": f"{DC}subject",
        "hier": f"{LR}hierarchicalSubject",
        "tags": f"{DK}TagsList",
        "title": f"{DC}title",
    }
    before = {k: array(xmp, p) for k, p in props.items()}
    assert before["subject"] == ["", "Anna", "Anna", "", "Zoo"] and before["hier"] == [""]
    ours = {"subject": "sea", "hier": "Scene|sea", "tags": "Scene/sea"}
    write_scene(photo, SEA)
    after = {k: array(xmp, p) for k, p in props.items()}
    for key, values in before.items():
        assert after[key] == values + ([ours[key]] if key in ours else [])
    info = read_sidecar(photo)  # what the app reports is what the file holds, item for item
    assert info.keywords == before["subject"] + ["sea"]
    assert info.hierarchical == ["", "Scene|sea"]
    assert info.tags_list == ["", "People/Anna", "Scene/sea"]
    write_scene(photo, SceneTag("forest", source="manual"))
    relabelled = {k: array(xmp, p) for k, p in props.items()}
    assert relabelled["subject"] == before["subject"] + ["forest"]
    assert relabelled["hier"] == before["hier"] + ["Scene|forest"]
    clear_scene(photo)
    assert {k: array(xmp, p) for k, p in props.items()} == before
    title = ET.parse(xmp).getroot().iter(f"{DC}title")
    langs = [
        li.get("{http://www.w3.org/XML/1998/namespace}lang")
        for t in title
        for li in t.iter(f"{RDF}li")
    ]
    assert langs == ["x-default", "de"]


# ----------------------------------------------------------------------------- links


@pytest.mark.parametrize("command", ["write", "clear"])
def test_a_sidecar_link_out_of_the_folder_is_never_written_through(
    tmp_path: Path, command: str
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim.xmp"
    install("darktable", outside, "victim.xmp")
    original = victim.read_bytes()
    if command == "clear":  # a victim that even holds our tag must not be cleared
        write_scene(outside / "victim", SEA)
        original = victim.read_bytes()
    folder = tmp_path / "folder"
    folder.mkdir()
    photo = folder / "a.jpg"
    photo.write_bytes(b"")
    (folder / "a.jpg.xmp").symlink_to(Path("..") / "outside" / "victim.xmp")
    with pytest.raises(SidecarError, match="outside") as err:
        if command == "write":
            write_scene(photo, SEA)
        else:
            clear_scene(photo)
    assert "left untouched" in str(err.value)
    assert victim.read_bytes() == original
    assert (folder / "a.jpg.xmp").is_symlink()


def test_a_sidecar_link_inside_the_tree_is_written_through(tmp_path: Path) -> None:
    shared = tmp_path / "tree" / "shared"
    shared.mkdir(parents=True)
    target = shared / "one.xmp"
    install("digikam", shared, "one.xmp")
    folder = tmp_path / "tree" / "day1"
    folder.mkdir()
    photo = folder / "a.jpg"
    (folder / "a.jpg.xmp").symlink_to(target)
    # the photo's own folder is the default tree: shared/ is outside it
    with pytest.raises(SidecarError, match="outside"):
        write_scene(photo, SEA)
    result = write_scene(photo, SEA, root=tmp_path / "tree")
    assert result.changed and (folder / "a.jpg.xmp").is_symlink()
    assert "sea" in array(target, f"{DC}subject")
    # a link to a folder (not a regular file) inside the tree is refused too
    (folder / "b.jpg.xmp").symlink_to(shared)
    with pytest.raises(SidecarError, match="not a regular file"):
        write_scene(folder / "b.jpg", SEA, root=tmp_path / "tree")

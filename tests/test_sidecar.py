"""XMP sidecars: new files, round trips, merging into what darktable, digiKam, Lightroom and
exiftool wrote, the manual-wins rule, no needless rewrites, and refusal of hostile files."""

from __future__ import annotations

import errno
import os
import pickle
import shutil
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest

from app.tagging import sidecar
from app.tagging.sidecar import (
    NS,
    SceneTag,
    SidecarError,
    clear_scene,
    find_sidecar,
    read_sidecar,
    sidecar_candidates,
    target_sidecar,
    write_scene,
)
from tests.unprivileged import run_python

DATA = Path(__file__).parent / "data" / "sidecars"
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
DC = "{http://purl.org/dc/elements/1.1/}"
LR = "{http://ns.adobe.com/lightroom/1.0/}"
DK = "{http://www.digikam.org/ns/1.0/}"
ST = "{" + NS + "}"
SCORES = {
    "buildings": 0.01,
    "forest": 0.02,
    "glacier": 0.03,
    "mountain": 0.04,
    "sea": 0.87654321,
    "street": 0.03,
}
SEA = SceneTag("sea", confidence=0.87654321, scores=SCORES, model_id="vgg16-scene@1a2b3c4d")
FOREIGN = ["darktable", "digikam", "lightroom", "exiftool", "bare_rdf"]


def install(name: str, folder: Path, sidecar_name: str = "IMG_0001.jpg.xmp") -> Path:
    """Copy fixture `name` as the sidecar of folder/IMG_0001.jpg; returns the photo path."""
    shutil.copyfile(DATA / f"{name}.xmp", folder / sidecar_name)
    return folder / "IMG_0001.jpg"


def array(path: Path, prop: str) -> list[str]:
    """Items of an array property, read by the stdlib parser (an independent reader)."""
    root = ET.parse(path).getroot()
    return [li.text or "" for el in root.iter(prop) for li in el.iter(f"{RDF}li")]


def facts(path: Path) -> Counter:
    """Everything a file states, as (element path, attributes, text) per element, independent of
    formatting, prefixes and which rdf:Description holds it."""
    root = ET.parse(path).getroot()
    out: Counter = Counter()

    def walk(el: ET.Element, trail: tuple[str, ...]) -> None:
        here = trail if el.tag == f"{RDF}Description" and len(trail) <= 2 else (*trail, el.tag)
        attrs = {k: v for k, v in el.attrib.items() if k != f"{RDF}about"}
        if el.tag == f"{RDF}Description" and len(trail) <= 2:
            out.update(("@", k, v) for k, v in attrs.items())  # a property in attribute form
        else:
            out[(here, tuple(sorted(attrs.items())), (el.text or "").strip())] += 1
        for child in el:
            walk(child, here)

    walk(root, ())
    return out


def ours(fact: tuple) -> bool:
    """A fact this product may add: our namespace, or one of our keywords (or its wrapper)."""
    flat = str(fact)
    if ST in flat:
        return True
    path, _, text = fact
    keyword_props = (f"{DC}subject", f"{LR}hierarchicalSubject", f"{DK}TagsList")
    if fact[0] == "@" or not any(p in path for p in keyword_props):
        return False
    return path[-1] != f"{RDF}li" or text in {
        "sea",
        "forest",
        "Scene|sea",
        "Scene|forest",
        "Scene/sea",
        "Scene/forest",
    }


# ----------------------------------------------------------------------------- naming


def test_candidates_and_target_names(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0001.CR2"
    assert sidecar_candidates(photo) == [tmp_path / "IMG_0001.CR2.xmp", tmp_path / "IMG_0001.xmp"]
    assert sidecar_candidates(photo, "base") == [
        tmp_path / "IMG_0001.xmp",
        tmp_path / "IMG_0001.CR2.xmp",
    ]
    assert target_sidecar(photo) == tmp_path / "IMG_0001.CR2.xmp"
    assert target_sidecar(photo, naming="base") == tmp_path / "IMG_0001.xmp"
    with pytest.raises(ValueError, match="naming"):
        target_sidecar(photo, naming="adobe")


@pytest.mark.parametrize(
    "name", ["IMG_0001.jpg.xmp", "IMG_0001.JPG.XMP", "img_0001.xmp", "IMG_0001.XMP"]
)
def test_existing_sidecar_found_in_any_case_and_updated_in_place(tmp_path: Path, name: str) -> None:
    photo = install("exiftool", tmp_path, name)
    assert find_sidecar(photo) == tmp_path / name
    assert read_sidecar(photo).keywords == ["boat", "harbour"]
    result = write_scene(photo, SEA)
    assert result.changed and result.path == tmp_path / name
    assert sorted(os.listdir(tmp_path)) == [name]  # no second sidecar was created
    assert "sea" in array(tmp_path / name, f"{DC}subject")


def test_both_names_present_prefers_the_chosen_naming(tmp_path: Path) -> None:
    photo = install("exiftool", tmp_path, "IMG_0001.jpg.xmp")
    install("darktable", tmp_path, "IMG_0001.xmp")
    assert find_sidecar(photo) == tmp_path / "IMG_0001.jpg.xmp"
    assert find_sidecar(photo, naming="base") == tmp_path / "IMG_0001.xmp"
    assert read_sidecar(photo, naming="base").keywords == ["holiday", "jpg"]


def test_find_sees_a_sidecar_created_after_the_folder_was_listed(tmp_path: Path) -> None:
    photo = tmp_path / "a.jpg"
    assert find_sidecar(photo) is None
    install("exiftool", tmp_path, "A.XMP")
    os.utime(tmp_path, ns=(0, 10**18))  # make sure the folder's mtime moved, as a real FS would
    assert find_sidecar(photo) == tmp_path / "A.XMP"


# ----------------------------------------------------------------------------- new files, round trip


def test_new_sidecar_has_keywords_for_every_app_and_provenance(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0001.jpg"
    result = write_scene(photo, SEA)
    assert result == sidecar.WriteResult(tmp_path / "IMG_0001.jpg.xmp", True)
    xmp = result.path
    assert array(xmp, f"{DC}subject") == ["sea"]
    assert array(xmp, f"{LR}hierarchicalSubject") == ["Scene|sea"]
    assert array(xmp, f"{DK}TagsList") == ["Scene/sea"]
    root = ET.parse(xmp).getroot()
    assert root.tag == "{adobe:ns:meta/}xmpmeta"
    assert root.find(f".//{DK}TagsList/{RDF}Seq") is not None  # digiKam's list is ordered
    assert root.find(f".//{LR}hierarchicalSubject/{RDF}Bag") is not None
    assert root.findtext(f".//{ST}label") == "sea"
    assert root.findtext(f".//{ST}source") == "auto"
    assert root.findtext(f".//{ST}confidence") == "0.8765"
    assert root.findtext(f".//{ST}scores/{ST}sea") == "0.8765"
    assert root.findtext(f".//{ST}modelId") == "vgg16-scene@1a2b3c4d"
    assert root.findtext(f".//{ST}parent") == "Scene"
    assert root.findtext(f".//{ST}time")[:2] == "20"  # filled in with now()
    assert 'xmlns:sceneTagger="http://ns.scene-tagger.org/1.0/"' in xmp.read_text("utf-8")


def test_round_trip(tmp_path: Path) -> None:
    photo = tmp_path / "IMG_0001.jpg"
    tag = SceneTag(
        "glacier", "manual", 0.5, {"glacier": 0.5, "sea": 0.25}, "m@1", "2024-05-01T10:00:00+02:00"
    )
    write_scene(photo, tag, naming="base")
    info = read_sidecar(photo)
    assert info.path == tmp_path / "IMG_0001.xmp"
    assert info.scene == tag
    assert info.scene_parent == "Scene"
    assert (info.keywords, info.hierarchical, info.tags_list) == (
        ["glacier"],
        ["Scene|glacier"],
        ["Scene/glacier"],
    )
    rounded = read_sidecar_after(tmp_path / "q.jpg", SEA)
    assert rounded.confidence == 0.8765 and rounded.scores["sea"] == 0.8765


def read_sidecar_after(photo: Path, tag: SceneTag) -> SceneTag:
    write_scene(photo, tag)
    scene = read_sidecar(photo).scene
    assert scene is not None
    return scene


def test_no_sidecar_reads_as_empty(tmp_path: Path) -> None:
    info = read_sidecar(tmp_path / "x.jpg")
    assert (info.path, info.keywords, info.hierarchical, info.scene) == (None, [], [], None)


def test_configurable_and_nested_parent(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    write_scene(photo, SEA, parent="Auto|Scene")
    info = read_sidecar(photo)
    assert (info.hierarchical, info.tags_list, info.scene_parent) == (
        ["Auto|Scene|sea"],
        ["Auto/Scene/sea"],
        "Auto|Scene",
    )
    assert write_scene(photo, SEA, parent="Places").changed  # a new parent moves our keywords
    info = read_sidecar(photo)
    assert (info.keywords, info.hierarchical, info.tags_list) == (
        ["sea"],
        ["Places|sea"],
        ["Places/sea"],
    )


def test_unicode_and_space_names(tmp_path: Path) -> None:
    photo = tmp_path / "Küste – Été 2023 海.JPG"
    result = write_scene(photo, SceneTag("sea"))
    assert result.path.name == "Küste – Été 2023 海.JPG.xmp" and result.path.is_file()
    assert read_sidecar(photo).scene.label == "sea"


def test_invalid_input_is_a_programming_error(tmp_path: Path) -> None:
    for bad in (
        SceneTag(""),
        SceneTag("a|b"),
        SceneTag("sea", source="guess"),
        SceneTag("sea", scores={"1x": 1.0}),
    ):
        with pytest.raises(ValueError):
            write_scene(tmp_path / "p.jpg", bad)
    assert os.listdir(tmp_path) == []


# ----------------------------------------------------------------------------- merging


@pytest.mark.parametrize("name", FOREIGN)
def test_label_change_keeps_everything_foreign(tmp_path: Path, name: str) -> None:
    photo = install(name, tmp_path)
    xmp = tmp_path / "IMG_0001.jpg.xmp"
    before, keywords_before = facts(xmp), read_sidecar(photo).keywords
    assert write_scene(photo, SEA).changed
    assert write_scene(photo, SceneTag("forest", "manual")).changed
    after = facts(xmp)
    assert not before - after, "something foreign was lost"
    assert all(ours(f) for f in after - before), [f for f in after - before if not ours(f)]
    info = read_sidecar(photo)
    assert info.keywords == [*keywords_before, "forest"]
    assert "sea" not in info.keywords and not any(
        "sea" in k for k in info.hierarchical + info.tags_list
    )
    assert "Scene|forest" in info.hierarchical and "Scene/forest" in info.tags_list
    assert info.scene == SceneTag("forest", "manual", time=info.scene.time)
    # clearing our tag gives back exactly what the other application wrote
    assert clear_scene(photo).changed
    assert facts(xmp) == before
    assert read_sidecar(photo).scene is None


def test_darktable_attributes_and_packet_details_survive(tmp_path: Path) -> None:
    photo = install("darktable", tmp_path)
    write_scene(photo, SEA)
    xmp = tmp_path / "IMG_0001.jpg.xmp"
    desc = ET.parse(xmp).getroot().find(f"{RDF}RDF/{RDF}Description")
    assert (
        desc.get("{http://darktable.sf.net/}history_current_hash")
        == "8d1e4f2a9b3c7d6e5f4a3b2c1d0e9f8a"
    )
    assert desc.get("{http://ns.adobe.com/xap/1.0/}Rating") == "2"
    names = [li.get("{http://darktable.sf.net/}multi_name") for li in desc.iter(f"{RDF}li")]
    assert "<brighter> & warmer" in names
    text = xmp.read_text("utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    assert "xmlns:darktable=" in text and "darktable:history_end=" in text  # prefixes kept


def test_xpacket_wrapper_survives(tmp_path: Path) -> None:
    photo = install("digikam", tmp_path)
    write_scene(photo, SEA)
    text = (tmp_path / "IMG_0001.jpg.xmp").read_text("utf-8")
    assert text.startswith('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>')
    assert text.rstrip().endswith('<?xpacket end="w"?>')
    assert "<?xml" not in text  # no declaration added where there was none
    # digiKam's tag list gained ours at the end, in its own Seq
    assert array(tmp_path / "IMG_0001.jpg.xmp", f"{DK}TagsList") == [
        "Places/Harbour",
        "People/Anna",
        "Scene/sea",
    ]


def test_keyword_that_predates_us_is_not_removed(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    (tmp_path / "p.jpg.xmp").write_text(
        (DATA / "exiftool.xmp")
        .read_text("utf-8")
        .replace("<rdf:li>boat</rdf:li>", "<rdf:li>sea</rdf:li>"),
        "utf-8",
    )
    write_scene(photo, SEA)
    assert read_sidecar(photo).keywords == ["sea", "harbour"]  # not duplicated
    write_scene(photo, SceneTag("forest"))
    assert read_sidecar(photo).keywords == ["sea", "harbour", "forest"]  # the user's "sea" stays
    clear_scene(photo)
    assert read_sidecar(photo).keywords == ["sea", "harbour"]


def test_provenance_rewritten_in_attribute_form_is_understood(tmp_path: Path) -> None:
    photo = install("compact_ours", tmp_path)
    scene = read_sidecar(photo).scene
    assert scene == SceneTag(
        "forest",
        "manual",
        0.62,
        {
            "buildings": 0.01,
            "forest": 0.62,
            "glacier": 0.02,
            "mountain": 0.25,
            "sea": 0.05,
            "street": 0.05,
        },
        "vgg16-scene@0a1b2c3d",
        "2024-03-01T09:00:00+01:00",
    )
    assert write_scene(photo, SceneTag("sea", "manual")).changed
    xmp = tmp_path / "IMG_0001.jpg.xmp"
    info = read_sidecar(photo)
    assert info.keywords == ["hiking", "sea"] and info.hierarchical == ["Scene|sea"]
    assert info.scene.label == "sea"
    text = xmp.read_text("utf-8")
    assert (
        'st:label="forest"' not in text and "st:scores" not in text
    )  # old attribute-form provenance gone
    assert (
        ET.parse(xmp)
        .getroot()
        .find(f".//{RDF}Description")
        .get("{http://ns.adobe.com/xap/1.0/}Rating")
        == "1"
    )


def test_clear_scene_deletes_a_sidecar_only_we_wrote(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    assert not clear_scene(photo).changed  # nothing to clear
    write_scene(photo, SEA)
    assert clear_scene(photo) == sidecar.WriteResult(tmp_path / "p.jpg.xmp", True)
    assert os.listdir(tmp_path) == []
    install("lightroom", tmp_path, "p.xmp")
    assert not clear_scene(photo).changed  # a sidecar without our tag is left alone


def test_empty_file_is_treated_as_a_new_sidecar(tmp_path: Path) -> None:
    (tmp_path / "p.jpg.xmp").write_bytes(b"")
    assert write_scene(tmp_path / "p.jpg", SEA).changed
    assert read_sidecar(tmp_path / "p.jpg").keywords == ["sea"]


# ----------------------------------------------------------------------------- manual wins, no rewrites


def test_manual_label_wins_over_auto(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    write_scene(photo, SceneTag("forest", "manual"))
    xmp = tmp_path / "p.jpg.xmp"
    data = xmp.read_bytes()
    result = write_scene(photo, SEA)
    assert not result.changed and "manual" in result.skipped_reason
    assert xmp.read_bytes() == data
    assert write_scene(photo, SceneTag("sea", "manual")).changed  # manual over manual is fine
    assert read_sidecar(photo).scene.label == "sea"
    write_scene(tmp_path / "q.jpg", SEA)
    assert write_scene(tmp_path / "q.jpg", SceneTag("street", "manual")).changed  # manual over auto


def test_unchanged_tag_is_not_rewritten(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    write_scene(photo, SEA)
    xmp = tmp_path / "p.jpg.xmp"
    os.utime(xmp, ns=(10**15, 10**15))
    st = os.stat(xmp)
    # same tag, a later time, numbers that only differ beyond the 4th decimal
    almost = SceneTag(
        "sea",
        confidence=0.87650001,
        scores={**SCORES, "sea": 0.876541},
        model_id=SEA.model_id,
        time="2030-01-01T00:00:00Z",
    )
    for tag in (SEA, almost):
        assert write_scene(photo, tag) == sidecar.WriteResult(xmp, False)
    after = os.stat(xmp)
    assert (after.st_ino, after.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)
    assert write_scene(
        photo, SceneTag("sea", confidence=0.5, scores=SCORES, model_id=SEA.model_id)
    ).changed


def test_dry_run_reports_without_writing(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    assert write_scene(photo, SEA, dry_run=True).changed
    assert os.listdir(tmp_path) == []
    write_scene(photo, SEA)
    data = (tmp_path / "p.jpg.xmp").read_bytes()
    assert write_scene(photo, SceneTag("forest"), dry_run=True).changed
    assert not write_scene(photo, SEA, dry_run=True).changed
    assert (tmp_path / "p.jpg.xmp").read_bytes() == data


def test_permissions_of_an_existing_sidecar_are_kept(tmp_path: Path) -> None:
    photo = install("darktable", tmp_path)
    xmp = tmp_path / "IMG_0001.jpg.xmp"
    os.chmod(xmp, 0o640)
    write_scene(photo, SEA)
    assert stat.S_IMODE(os.stat(xmp).st_mode) == 0o640


@pytest.mark.skipif(not hasattr(os, "symlink") or sys.platform == "win32", reason="needs symlinks")
def test_symlinked_sidecar_stays_a_link(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    shutil.copyfile(DATA / "lightroom.xmp", store / "real.xmp")
    (tmp_path / "p.jpg.xmp").symlink_to(store / "real.xmp")
    assert write_scene(tmp_path / "p.jpg", SEA).changed
    assert (tmp_path / "p.jpg.xmp").is_symlink()
    assert "sea" in array(store / "real.xmp", f"{DC}subject")


# ----------------------------------------------------------------------------- hostile or broken files


@pytest.mark.parametrize(
    ("name", "reason"),
    [("billion_laughs", "DOCTYPE"), ("external_entity", "DOCTYPE"), ("garbage", "not well-formed")],
)
def test_unsafe_or_broken_sidecar_is_refused_and_untouched(
    tmp_path: Path, name: str, reason: str
) -> None:
    photo = install(name, tmp_path)
    xmp = tmp_path / "IMG_0001.jpg.xmp"
    data = xmp.read_bytes()
    with pytest.raises(SidecarError, match=reason) as err:
        read_sidecar(photo)
    assert "IMG_0001.jpg.xmp" in str(err.value)
    for action in (
        lambda: write_scene(photo, SceneTag("sea", "manual")),
        lambda: clear_scene(photo),
    ):
        with pytest.raises(SidecarError, match="left untouched"):
            action()
    assert xmp.read_bytes() == data and sorted(os.listdir(tmp_path)) == ["IMG_0001.jpg.xmp"]


def test_xml_that_is_not_xmp_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.jpg.xmp").write_text("<html><body>not metadata</body></html>")
    with pytest.raises(SidecarError, match="not an XMP packet"):
        write_scene(tmp_path / "p.jpg", SEA)


def test_oversized_sidecar_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sidecar, "MAX_SIDECAR_BYTES", 4096)
    photo = install("darktable", tmp_path)
    xmp = tmp_path / "IMG_0001.jpg.xmp"
    with open(xmp, "ab") as f:
        f.write(b"<!-- padding -->\n" * 200)
    data = xmp.read_bytes()
    with pytest.raises(SidecarError, match="too large"):
        read_sidecar(photo)
    with pytest.raises(SidecarError, match="too large"):
        write_scene(photo, SEA)
    assert xmp.read_bytes() == data


# write_scene(photo, SEA) for each photo given, printing each error (permissions bind it)
WRITE = """
import sys
from app.tagging.sidecar import SceneTag, SidecarError, write_scene
for photo in sys.argv[1:]:
    try:
        write_scene(photo, SceneTag("sea", confidence=0.9, model_id="m@1"))
        print("written")
    except SidecarError as exc:
        print(exc)
"""


def test_read_only_folder_is_a_clear_error(tmp_path: Path) -> None:
    photo = install("lightroom", tmp_path)
    xmp = tmp_path / "IMG_0001.jpg.xmp"
    data = xmp.read_bytes()
    os.chmod(tmp_path, 0o555)
    try:
        done = run_python(WRITE, photo, tmp_path / "new.jpg", denied=tmp_path, access="w")
        lines = done.stdout.splitlines()
        assert len(lines) == 2 and all("permission denied" in line for line in lines), done
    finally:
        os.chmod(tmp_path, 0o755)
    assert xmp.read_bytes() == data and sorted(os.listdir(tmp_path)) == ["IMG_0001.jpg.xmp"]


def test_read_only_sidecar_is_not_replaced(tmp_path: Path) -> None:
    photo = install("darktable", tmp_path)
    xmp = tmp_path / "IMG_0001.jpg.xmp"
    data = xmp.read_bytes()
    os.chmod(xmp, 0o444)
    done = run_python(WRITE, photo, denied=xmp, access="w")
    assert "read-only" in done.stdout and "written" not in done.stdout, done
    assert xmp.read_bytes() == data


@pytest.mark.parametrize(
    ("call", "code", "message"),
    [
        ("fsync", errno.ENOSPC, "the disk is full"),
        ("replace", errno.EACCES, "permission denied"),
        ("open", errno.EROFS, "read-only"),
    ],
)
def test_write_failure_cleans_up_and_keeps_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, call: str, code: int, message: str
) -> None:
    photo = install("digikam", tmp_path)
    xmp = tmp_path / "IMG_0001.jpg.xmp"
    data = xmp.read_bytes()
    real = getattr(os, call)

    def fail(*args, **kwargs):
        if call == "open" and not str(args[0]).endswith(".tmp"):
            return real(*args, **kwargs)
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(sidecar.os, call, fail)
    with pytest.raises(SidecarError, match=message) as err:
        write_scene(photo, SEA)
    monkeypatch.undo()
    assert str(xmp) in str(err.value)
    assert xmp.read_bytes() == data
    assert sorted(os.listdir(tmp_path)) == ["IMG_0001.jpg.xmp"]  # no temp file left behind


def test_error_is_picklable_and_names_the_file() -> None:
    err = pickle.loads(pickle.dumps(SidecarError(Path("/x/a.xmp"), "permission denied", "write")))
    assert str(err) == "Cannot write sidecar /x/a.xmp: permission denied" and err.path == Path(
        "/x/a.xmp"
    )


def test_module_needs_neither_qt_nor_torch() -> None:
    code = "import sys, app.tagging.sidecar; bad = {'torch', 'PySide6'} & set(sys.modules); print(bad); sys.exit(bool(bad))"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr

"""Interoperability with a real reader: exiftool (Debian libimage-exiftool-perl) reads the
keywords we write, we read what it writes, and its rewrites of our sidecars keep our tag.
Skipped where exiftool is absent; CI installs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from test_sidecar import SCORES, SEA  # the round-trip tests' tag

from app.tagging.sidecar import SceneTag, read_sidecar, target_sidecar, write_scene

DATA = Path(__file__).parent / "data" / "sidecars"

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")


def run_exiftool(*args: str | os.PathLike[str]) -> str:
    done = subprocess.run(
        ["exiftool", *map(str, args)], capture_output=True, text=True, check=True, timeout=60
    )
    return done.stdout


def test_exiftool_reads_our_keywords(tmp_path: Path) -> None:
    photo = tmp_path / "Küste 海.jpg"
    write_scene(photo, SEA)
    out = run_exiftool(
        "-j",
        "-XMP-dc:Subject",
        "-XMP-lr:HierarchicalSubject",
        "-XMP-digiKam:TagsList",
        target_sidecar(photo),
    )
    found = json.loads(out)[0]
    assert (found["Subject"], found["HierarchicalSubject"], found["TagsList"]) == (
        "sea",
        "Scene|sea",
        "Scene/sea",
    )
    assert run_exiftool("-s3", "-XMP-sceneTagger:Label", target_sidecar(photo)).strip() == "sea"
    shutil.copyfile(DATA / "darktable.xmp", tmp_path / "IMG_0001.jpg.xmp")
    write_scene(tmp_path / "IMG_0001.jpg", SEA)
    found = json.loads(
        run_exiftool(
            "-j", "-XMP-dc:Subject", "-XMP-lr:HierarchicalSubject", tmp_path / "IMG_0001.jpg.xmp"
        )
    )[0]
    assert found["Subject"] == ["holiday", "jpg", "sea"]
    assert found["HierarchicalSubject"] == ["darktable|format|jpg", "holiday", "Scene|sea"]


def test_we_read_what_exiftool_writes(tmp_path: Path) -> None:
    out = tmp_path / "IMG_0002.jpg.xmp"
    run_exiftool(
        "-q",
        "-o",
        out,
        "-XMP-dc:Subject=foo",
        "-XMP-dc:Subject=bar baz",
        "-XMP-lr:HierarchicalSubject=A|B",
    )
    info = read_sidecar(tmp_path / "IMG_0002.jpg")
    assert (info.path, info.keywords, info.hierarchical, info.scene) == (
        out,
        ["foo", "bar baz"],
        ["A|B"],
        None,
    )


def test_exiftool_edits_of_our_sidecar_keep_our_tag_and_theirs(tmp_path: Path) -> None:
    photo = tmp_path / "p.jpg"
    write_scene(photo, SEA)
    xmp = tmp_path / "p.jpg.xmp"
    run_exiftool("-q", "-overwrite_original", "-XMP-dc:Subject+=boat", "-XMP-xmp:Rating=5", xmp)
    info = read_sidecar(photo)
    assert info.keywords == ["sea", "boat"]
    assert info.scene == SceneTag(
        "sea",
        confidence=0.8765,
        scores={**SCORES, "sea": 0.8765},
        model_id=SEA.model_id,
        time=info.scene.time,
    )
    assert not write_scene(photo, SEA).changed  # exiftool's re-layout is not a change of ours
    write_scene(photo, SceneTag("forest", "manual"))
    assert read_sidecar(photo).keywords == ["boat", "forest"]
    assert run_exiftool("-s3", "-XMP-xmp:Rating", xmp).strip() == "5"

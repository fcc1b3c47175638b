"""bench/bench_classify.py stays runnable: a seconds-long run on generated photos."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import REPO, make_photo

from app.model import scenes

sys.path.insert(0, str(REPO / "bench"))
import bench_classify


@pytest.fixture
def class_tree(tmp_path: Path) -> Path:
    """A seg_test look-alike in Kaggle's nested layout: seg_test/seg_test/<class>/*.jpg."""
    root = tmp_path / "seg_test"
    for k, c in enumerate(scenes.CLASSES):
        for i in range(2):
            make_photo(root / "seg_test" / c / f"{k}{i}.jpg", size=(150, 150), seed=10 * k + i)
    return root


def test_slice_is_balanced_over_classes(class_tree: Path) -> None:
    items = bench_classify.seg_test_slice(class_tree, 6)
    assert [c for _, c in items] == list(scenes.CLASSES)
    assert len(bench_classify.seg_test_slice(class_tree, None)) == 12


def test_throughput_table(tiny_card: Path, class_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "docs" / "bench.md"
    argv = ["--model", str(tiny_card), "--data", str(class_tree), "--limit", "8", "--large", "2"]
    argv += ["--large-size", "640x480", "--repeat", "1", "--batch-size", "4", "--out", str(out)]
    assert bench_classify.main(argv) == 0
    rows = [line for line in out.read_text().splitlines() if line.startswith("| ")]
    assert rows[0].startswith("| photo set | photos |")
    assert rows[1].startswith("| seg_test slice, 150 px JPEG | 8 |")
    assert rows[2].startswith("| generated 640x480 JPEG")
    assert all(row.rstrip().endswith(("(ok) |", "(below target) |")) for row in rows[1:])


def test_agreement_report(tiny_card: Path, class_tree: Path, tmp_path: Path) -> None:
    out = tmp_path / "agree.md"
    argv = ["--agreement", "--model", str(tiny_card), "--data", str(class_tree), "--out", str(out)]
    assert bench_classify.main(argv) == 0
    text = out.read_text()
    assert "photos: 12 from" in text and "labels agree on" in text and "| accuracy |" in text

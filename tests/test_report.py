"""The training report: a folder with README.md and real PNG figures, built from synthetic inputs."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from conftest import STUDY_CM, make_photo
from PIL import Image

from training.metrics import caret_stats
from training.report import (
    VALIDATION_NOTE,
    EdaInput,
    ModelResult,
    comparison_table,
    format_duration,
    plot_confusion,
    plot_history,
    plot_reliability,
    write_eda,
    write_model_section,
    write_report,
)

CLASSES = ["buildings", "forest", "glacier", "mountain", "sea", "street"]


def assert_real_png(path: Path, min_side: int = 200) -> np.ndarray:
    """A decodable PNG of a sensible size that is not one flat colour."""
    assert path.is_file(), path
    with Image.open(path) as img:
        assert img.format == "PNG"
        assert min(img.size) >= min_side, img.size
        pixels = np.asarray(img.convert("RGB"))
    assert pixels.std() > 5, f"{path.name} looks blank"
    return pixels


def _history(epochs: int = 6) -> dict:
    t = np.arange(epochs)
    return {
        "train_loss": list(1.5 * np.exp(-t / 3)),
        "val_loss": list(1.4 * np.exp(-t / 4) + 0.1),
        "train_acc": list(1 - 0.7 * np.exp(-t / 3)),
        "val_acc": list(1 - 0.6 * np.exp(-t / 4) - 0.05),
        "phase_starts": [0, 4],
    }


def _probs(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n, 6)) * 2
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.where(rng.random(n) < 0.7, probs.argmax(axis=1), rng.integers(0, 6, n))
    return probs, labels


def _result(key: str = "simple", study_accuracy: float | None = 0.7423, **kw) -> ModelResult:
    defaults = {
        "key": key,
        "title": "Simple CNN",
        "study_accuracy": study_accuracy,
        "stats": caret_stats(STUDY_CM, CLASSES),
        "history": _history(),
        "wall_times": {"train": 1500.0, "evaluate": 30.0},
        "throughput": {"train": 850.0, "evaluate (bf16)": 4200.0},
        "recipe": "Adam 1e-3, 30 epochs, batch 32, augmentation as the study.",
        "ece": 0.0412,
        "ece_after": 0.0123,
        "temperature": 1.37,
        "notes": "Mountain and glacier are confused most, as in the study.",
    }
    defaults.update(kw)
    return ModelResult(**defaults)


def test_plots_are_real_images(tmp_path):
    plot_history(_history(), tmp_path / "h.png", "history")
    plot_confusion(STUDY_CM, CLASSES, tmp_path / "c.png", "confusion")
    probs, labels = _probs()
    plot_reliability(probs, labels, tmp_path / "r.png", "reliability")
    h = assert_real_png(tmp_path / "h.png")
    assert h.shape[1] > h.shape[0]  # two panels side by side
    assert_real_png(tmp_path / "c.png")
    assert_real_png(tmp_path / "r.png")


def test_history_tolerates_missing_keys_and_arrays(tmp_path):
    plot_history({"train_loss": [1.0, 0.5, 0.3]}, tmp_path / "partial.png", "only training loss")
    assert_real_png(tmp_path / "partial.png")
    arrays = {k: np.asarray(v) for k, v in _history().items()}
    plot_history(arrays, tmp_path / "arrays.png", "numpy arrays")
    assert_real_png(tmp_path / "arrays.png")


def test_eda_writes_tables_and_figures(tmp_path):
    photos = tmp_path / "photos"
    samples = []
    for i in range(18):
        cls = CLASSES[i % 6]
        samples.append((make_photo(photos / f"{cls}_{i}.jpg", size=(150, 150), seed=i), cls))
    samples[5] = (photos / "missing.jpg", "street")  # one unreadable sample must not stop the grid
    rng = np.random.default_rng(1)
    eda = EdaInput(
        split_counts={
            "seg_train": dict(zip(CLASSES, [2191, 2271, 2404, 2512, 2274, 2382], strict=True)),
            "seg_test": dict(zip(CLASSES, [437, 474, 553, 525, 510, 501], strict=True)),
        },
        sizes={
            "seg_train": [(150, 150)] * 200 + [(150, int(h)) for h in rng.integers(100, 150, 7)],
            "seg_test": [(150, 150)] * 50 + [(150, 131)],
        },
        sample_paths=samples,
        duplicates_note="12 exact duplicates between seg_train and seg_test.",
    )
    out = tmp_path / "report"
    md = write_eda(eda, out)

    assert "| class | seg_train | seg_test | total |" in md
    assert "| glacier | 2404 | 553 | 2957 |" in md
    assert "| **total** | **14034** | **3000** | **17034** |" in md
    assert "seg_test: 50 of 51 photos are 150x150; others include 150x131 (1)." in md
    assert "1 sample photo(s) could not be opened." in md
    assert "12 exact duplicates" in md
    for name in ("eda_sizes.png", "eda_class_proportions.png", "eda_samples.png"):
        assert f"]({name})" in md
        assert_real_png(out / name)
    with Image.open(out / "eda_samples.png") as grid:
        assert grid.width > 1.5 * grid.height  # 3 rows x 6 columns


def test_model_section_has_caret_text_and_figures(tmp_path):
    probs, labels = _probs()
    md = write_model_section(_result(probs=probs, labels=labels), tmp_path)
    assert md.startswith("## Simple CNN")
    assert "```text\nConfusion Matrix and Statistics" in md
    assert "Mcnemar's Test P-Value : 1.327e-10" in md
    assert "| difference | +0.0000 (+0.00 pp) |" in md
    assert "| ECE after temperature scaling | 0.0123 |" in md
    assert "| **total** | **25.5 min** |" in md
    assert "| evaluate (bf16) | 4,200 |" in md
    for name in ("simple_history.png", "simple_confusion.png", "simple_reliability.png"):
        assert f"]({name})" in md
        assert_real_png(tmp_path / name)


def test_model_section_without_history_or_study_figure(tmp_path):
    md = write_model_section(
        _result(key="vgg", history=None, study_accuracy=None, ece=None), tmp_path
    )
    assert not (tmp_path / "vgg_history.png").exists()
    assert (tmp_path / "vgg_confusion.png").is_file()
    assert "| study's accuracy | — |" in md and "ECE (15 bins)" not in md


def test_report_has_the_comparison_table(tmp_path):
    better = caret_stats(STUDY_CM + np.diag([30] * 6), CLASSES)  # 2407 / 3180 correct
    results = [
        _result(),
        _result(
            key="vgg16", title="VGG16 | transfer", study_accuracy=0.8873, stats=better, history=None
        ),
    ]
    path = write_report(
        tmp_path / "docs",
        "## The data set\n\n(eda)",
        results,
        "1x H200, 16 cores",
        "## Extra\n\nmore",
    )
    assert path == tmp_path / "docs" / "README.md"
    text = path.read_text(encoding="utf-8")
    header = "| model | ours seg_test acc | 95% CI | kappa | study's acc | difference | wall time |"
    assert header in text
    assert (
        "| Simple CNN | 0.7423 | (0.7263, 0.7579) | 0.6909 | 0.7423 | +0.0000 (+0.00 pp) | 25.5 min |"
        in text
    )
    ours = 2407 / 3180
    row = next(line for line in text.splitlines() if line.startswith("| VGG16 \\| transfer"))
    assert f"| {ours:.4f} |" in row and "| 0.8873 |" in row
    assert f"{(ours - 0.8873) * 100:+.2f} pp" in row
    assert VALIDATION_NOTE in text and "1x H200, 16 cores" in text
    # sections in order: comparison, EDA, models, extra
    order = [
        text.index(s)
        for s in ("## Comparison", "## The data set", "## Simple CNN", "## VGG16", "## Extra")
    ]
    assert order == sorted(order)
    for link in re.findall(r"\]\(([^)]+\.png)\)", text):
        assert_real_png(path.parent / link)
    assert not list(path.parent.glob("*.tmp"))


def test_comparison_table_escapes_and_handles_unknown_study():
    table = comparison_table([_result(title="a|b", study_accuracy=None, wall_times={})])
    assert "| a\\|b |" in table
    assert table.splitlines()[-1].endswith("| — | — | — |")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(42, "42 s"), (750, "12.5 min"), (11100, "3 h 05 min"), (float("nan"), "—")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text

"""The training report: a folder of markdown + PNG figures, comparable with the study's.

Uses matplotlib's object API on an Agg canvas (no pyplot, no global backend switch), so it runs
headless and never disturbs a Qt process that imports it. No torch: inputs are plain numbers.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from app.model.scenes import CLASSES
from training.metrics import (
    CaretStats,
    expected_calibration_error,
    format_caret,
    reliability_table,
)

DPI = 100

VALIDATION_NOTE = (
    "**Validation is not the same thing on both sides.** Our validation split is read through the "
    "evaluation preset (no augmentation), while the study pushed its validation images through the "
    "same augmenting generator as training, so its validation curves are noisier and usually lower. "
    "Only the seg_test figures (un-augmented on both sides, 3000 photos) compare like with like."
)


# --- figures -------------------------------------------------------------------------------


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI, bbox_inches="tight")


def plot_history(history: Mapping[str, Sequence[float]], path: Path, title: str) -> None:
    """Loss and accuracy per epoch in two panels, like Keras' plot(history) in the study.

    Optional `phase_starts` (0-based epoch indices where a new phase begins, e.g. fine-tuning)
    draws a dashed line before that epoch, so a jump in the curves has a visible cause.
    """
    fig = _new_figure(10, 4)
    panels = (("loss", "Loss"), ("acc", "Accuracy"))
    for i, (suffix, label) in enumerate(panels):
        ax = fig.add_subplot(1, 2, i + 1)
        for split, style in (("train", "o-"), ("val", "s-")):
            values = history.get(f"{split}_{suffix}")
            if values is not None and len(values):
                epochs = np.arange(1, len(values) + 1)
                ax.plot(
                    epochs,
                    values,
                    style,
                    markersize=3,
                    label="training" if split == "train" else "validation",
                )
        phase_starts = history.get("phase_starts")
        for start in [] if phase_starts is None else phase_starts:
            if start > 0:
                ax.axvline(start + 0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    fig.suptitle(title)
    _save(fig, path)


def plot_confusion(cm: np.ndarray, classes: Sequence[str], path: Path, title: str) -> None:
    """Count heatmap in caret's orientation (rows = prediction, columns = reference)."""
    cm = np.asarray(cm)
    k = len(classes)
    fig = _new_figure(1.1 * k + 2, 1.0 * k + 1.5)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(cm, cmap="Blues")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(int(cm[i, j])),
                ha="center",
                va="center",
                color="white" if cm[i, j] > threshold else "black",
            )
    ax.set_xticks(range(k), labels=list(classes), rotation=45, ha="right")
    ax.set_yticks(range(k), labels=list(classes))
    ax.set_xlabel("Reference")
    ax.set_ylabel("Prediction")
    ax.set_title(title)
    _save(fig, path)


def plot_reliability(
    probs: np.ndarray, labels: np.ndarray, path: Path, title: str, bins: int = 15
) -> None:
    """Reliability diagram (accuracy vs confidence per bin) over a histogram of confidences."""
    rows = reliability_table(probs, labels, bins)
    lo = np.array([r[0] for r in rows])
    width = 1.0 / bins
    counts = np.array([r[2] for r in rows])
    acc = np.array([r[4] if r[2] else 0.0 for r in rows])
    conf = np.array([r[3] if r[2] else 0.0 for r in rows])
    n = counts.sum()
    ece = expected_calibration_error(probs, labels, bins)

    fig = _new_figure(5, 6)
    grid = fig.add_gridspec(2, 1, height_ratios=(3, 1), hspace=0.3)
    ax = fig.add_subplot(grid[0])
    filled = counts > 0
    ax.bar(lo[filled], acc[filled], width=width, align="edge", edgecolor="black", label="accuracy")
    gap = conf - acc
    ax.bar(
        lo[filled],
        np.abs(gap[filled]),
        bottom=np.minimum(acc, conf)[filled],
        width=width,
        align="edge",
        fill=False,
        hatch="//",
        edgecolor="red",
        label="gap to mean confidence",
    )
    ax.plot([0, 1], [0, 1], "k--", linewidth=1, label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"{title}\nECE = {ece:.4f}")
    ax.legend(loc="upper left")
    hist = fig.add_subplot(grid[1], sharex=ax)
    hist.bar(lo, counts / n, width=width, align="edge", edgecolor="black", color="grey")
    hist.set_xlabel("confidence (max probability)")
    hist.set_ylabel("share")
    _save(fig, path)


# --- exploratory data analysis -------------------------------------------------------------


@dataclass
class EdaInput:
    """What the EDA needs, gathered by the caller (which knows the data set layout)."""

    split_counts: dict[str, dict[str, int]]  # split -> class -> photos
    sizes: dict[str, list[tuple[int, int]]]  # split -> (width, height) of each photo
    sample_paths: list[tuple[Path, str]]  # up to 18 (path, class) for the sample grid
    duplicates_note: str | None = None


def _md_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], align: Sequence[str] | None = None
) -> str:
    align = align or ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(_cell(h) for h in header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _class_order(split_counts: Mapping[str, Mapping[str, int]]) -> list[str]:
    classes: list[str] = []
    for counts in split_counts.values():
        classes += [c for c in counts if c not in classes]
    return classes


def plot_sample_grid(
    samples: Sequence[tuple[Path, str]], path: Path, rows: int = 3, cols: int = 6
) -> int:
    """A rows x cols grid of photos titled by class; returns how many could be opened.

    An unreadable photo becomes a titled blank cell, not an exception (per-photo failures are values).
    """
    # Imported here: only this figure needs the app's photo opening (Pillow, EXIF, draft decoding).
    from app.photos.imaging import ImageError, open_photo

    fig = _new_figure(2.0 * cols, 2.2 * rows)
    opened = 0
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.axis("off")
        if i >= len(samples):
            continue
        photo, label = samples[i]
        try:
            with open_photo(photo, min_side=150) as img:
                ax.imshow(np.asarray(img))
            ax.set_title(label, fontsize=10)
            opened += 1
        except ImageError as exc:
            ax.set_title(f"{label}\n(unreadable)", fontsize=9, color="red")
            ax.text(
                0.5,
                0.5,
                str(exc)[:40],
                ha="center",
                va="center",
                fontsize=6,
                wrap=True,
                transform=ax.transAxes,
            )
    _save(fig, path)
    return opened


def plot_sizes(sizes: Mapping[str, Sequence[tuple[int, int]]], path: Path) -> None:
    """Width and height histograms per split: shows the few photos that are not 150x150."""
    fig = _new_figure(10, 4)
    for i, (axis, label) in enumerate(((0, "width (px)"), (1, "height (px)"))):
        ax = fig.add_subplot(1, 2, i + 1)
        values = {split: [s[axis] for s in wh] for split, wh in sizes.items() if wh}
        if values:
            # One set of integer-aligned bins for every split, so their bars line up.
            lo = min(min(v) for v in values.values())
            hi = max(max(v) for v in values.values())
            step = max(1, int(np.ceil((hi - lo + 1) / 60)))
            edges = np.arange(lo - 0.5, hi + step + 0.5, step)
            for split, v in values.items():
                ax.hist(v, bins=edges, alpha=0.6, label=split, log=True)
            pad = max(5.0, 0.05 * (hi - lo))
            ax.set_xlim(lo - pad, hi + pad)
            ax.set_ylim(bottom=0.8)  # a single odd-sized photo still shows on the log scale
            ax.legend()
        ax.set_xlabel(label)
        ax.set_ylabel("photos (log scale)")
    fig.suptitle("Image sizes")
    _save(fig, path)


def plot_class_proportions(split_counts: Mapping[str, Mapping[str, int]], path: Path) -> None:
    """Grouped bars of each class's share per split: balance and train/test drift at a glance."""
    classes = _class_order(split_counts)
    splits = list(split_counts)
    fig = _new_figure(max(6, 1.3 * len(classes)), 4)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(len(splits), 1)
    x = np.arange(len(classes))
    for s, split in enumerate(splits):
        total = sum(split_counts[split].values()) or 1
        shares = [split_counts[split].get(c, 0) / total for c in classes]
        ax.bar(x + (s - (len(splits) - 1) / 2) * width, shares, width=width, label=split)
    ax.axhline(1 / max(len(classes), 1), color="grey", linestyle="--", linewidth=1, label="uniform")
    ax.set_xticks(x, labels=classes)
    ax.set_ylabel("share of split")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.2)  # headroom for the legend
    ax.set_title("Class proportions")
    ax.legend(loc="upper center", ncol=len(splits) + 1)
    _save(fig, path)


def _size_summary(sizes: Mapping[str, Sequence[tuple[int, int]]]) -> str:
    lines = []
    for split, wh in sizes.items():
        if not wh:
            continue
        distinct: dict[tuple[int, int], int] = {}
        for s in wh:
            key = (int(s[0]), int(s[1]))
            distinct[key] = distinct.get(key, 0) + 1
        top, top_n = max(distinct.items(), key=lambda kv: kv[1])
        others = sorted(((n, s) for s, n in distinct.items() if s != top), reverse=True)[:5]
        other_text = ", ".join(f"{w}x{h} ({n})" for n, (w, h) in others)
        lines.append(
            f"- {split}: {top_n} of {len(wh)} photos are {top[0]}x{top[1]}"
            + (f"; others include {other_text}" if other_text else "")
            + "."
        )
    return "\n".join(lines)


def write_eda(eda: EdaInput, out_dir: Path) -> str:
    """Counts table, size histograms, sample grid and class proportions; returns the markdown."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    classes = _class_order(eda.split_counts)
    splits = list(eda.split_counts)
    rows = []
    for c in classes:
        counts = [eda.split_counts[s].get(c, 0) for s in splits]
        rows.append([c, *map(str, counts), str(sum(counts))])
    totals = [sum(eda.split_counts[s].values()) for s in splits]
    rows.append(["**total**", *(f"**{t}**" for t in totals), f"**{sum(totals)}**"])

    plot_sizes(eda.sizes, out_dir / "eda_sizes.png")
    plot_class_proportions(eda.split_counts, out_dir / "eda_class_proportions.png")
    opened = plot_sample_grid(eda.sample_paths, out_dir / "eda_samples.png")

    parts = [
        "## The data set",
        "",
        _md_table(["class", *splits, "total"], rows),
        "",
        "![Class proportions](eda_class_proportions.png)",
        "",
        "### Image sizes",
        "",
        _size_summary(eda.sizes),
        "",
        "![Width and height histograms](eda_sizes.png)",
        "",
        "### Samples",
        "",
        f"![{len(eda.sample_paths)} sample photos with their labels](eda_samples.png)",
    ]
    if opened < len(eda.sample_paths):
        parts += ["", f"{len(eda.sample_paths) - opened} sample photo(s) could not be opened."]
    if eda.duplicates_note:
        parts += ["", "### Duplicates", "", eda.duplicates_note]
    return "\n".join(parts) + "\n"


# --- model sections and the report ---------------------------------------------------------


@dataclass
class ModelResult:
    """One trained model's results, as the report shows them next to the study's."""

    key: str  # file-name stem, e.g. "simple"
    title: str
    study_accuracy: float | None
    stats: CaretStats
    history: dict | None = None
    wall_times: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    throughput: dict[str, float] = field(default_factory=dict)  # what -> images per second
    recipe: str = ""
    ece: float | None = None
    ece_after: float | None = None  # after temperature scaling
    temperature: float | None = None
    notes: str = ""
    probs: np.ndarray | None = None  # optional seg_test probabilities, for the reliability diagram
    labels: np.ndarray | None = None


def format_duration(seconds: float) -> str:
    """Short human duration: 42 s, 12.5 min, 3 h 05 min."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    hours, rest = divmod(int(round(seconds)), 3600)
    return f"{hours} h {rest // 60:02d} min"


def _fmt(x: float | None, digits: int = 4) -> str:
    return "—" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _difference(ours: float, study: float | None) -> str:
    if study is None:
        return "—"
    return f"{ours - study:+.4f} ({(ours - study) * 100:+.2f} pp)"


def write_model_section(result: ModelResult, out_dir: Path) -> str:
    """Writes the model's history / confusion (/ reliability) PNGs; returns its markdown."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    s = result.stats
    parts = [f"## {result.title}", ""]
    summary = [
        ["seg_test accuracy (ours)", f"{s.accuracy:.4f}"],
        ["95% CI", f"({s.ci_low:.4f}, {s.ci_high:.4f})"],
        ["Kappa", f"{s.kappa:.4f}"],
        ["study's accuracy", _fmt(result.study_accuracy)],
        ["difference", _difference(s.accuracy, result.study_accuracy)],
    ]
    if result.ece is not None:
        summary.append(["ECE (15 bins)", _fmt(result.ece)])
    if result.temperature is not None:
        summary.append(["temperature", f"{result.temperature:.3f}"])
    if result.ece_after is not None:
        summary.append(["ECE after temperature scaling", _fmt(result.ece_after)])
    parts += [_md_table(["figure", "value"], summary), ""]

    if result.recipe:
        parts += ["### Recipe", "", result.recipe.strip(), ""]
    if result.wall_times:
        rows = [[phase, format_duration(sec)] for phase, sec in result.wall_times.items()]
        rows.append(["**total**", f"**{format_duration(sum(result.wall_times.values()))}**"])
        parts += ["### Time", "", _md_table(["phase", "wall time"], rows), ""]
    if result.throughput:
        rows = [[what, f"{ips:,.0f}"] for what, ips in result.throughput.items()]
        parts += ["### Throughput", "", _md_table(["measured", "images / s"], rows), ""]

    if result.history:
        name = f"{result.key}_history.png"
        plot_history(result.history, out_dir / name, f"{result.title}: training history")
        parts += [f"![{result.title} training history]({name})", ""]
    name = f"{result.key}_confusion.png"
    plot_confusion(s.cm, s.classes, out_dir / name, f"{result.title}: seg_test confusion matrix")
    parts += [f"![{result.title} confusion matrix]({name})", ""]
    if result.probs is not None and result.labels is not None:
        name = f"{result.key}_reliability.png"
        plot_reliability(
            result.probs, result.labels, out_dir / name, f"{result.title}: reliability"
        )
        parts += [f"![{result.title} reliability diagram]({name})", ""]

    parts += [
        "### caret-style statistics (seg_test)",
        "",
        "```text",
        format_caret(s).rstrip(),
        "```",
        "",
    ]
    if result.notes:
        parts += [result.notes.strip(), ""]
    return "\n".join(parts)


def comparison_table(results: Sequence[ModelResult]) -> str:
    """model | ours seg_test acc | 95% CI | kappa | study's acc | difference | wall time."""
    rows = []
    for r in results:
        s = r.stats
        wall = format_duration(sum(r.wall_times.values())) if r.wall_times else "—"
        rows.append(
            [
                r.title,
                f"{s.accuracy:.4f}",
                f"({s.ci_low:.4f}, {s.ci_high:.4f})",
                f"{s.kappa:.4f}",
                _fmt(r.study_accuracy),
                _difference(s.accuracy, r.study_accuracy),
                wall,
            ]
        )
    header = [
        "model",
        "ours seg_test acc",
        "95% CI",
        "kappa",
        "study's acc",
        "difference",
        "wall time",
    ]
    return _md_table(header, rows)


def write_report(
    out_dir: Path,
    eda_md: str | None,
    results: Sequence[ModelResult],
    hardware: str,
    extra_md: str = "",
) -> Path:
    """Writes out_dir/README.md (figures beside it) and returns its path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    parts = [
        "# Scene Tagger: training report",
        "",
        f"Hardware: {hardware.strip()}",
        "",
        "## Comparison with the study",
        "",
        comparison_table(results) if results else "No model results.",
        "",
        VALIDATION_NOTE,
        "",
    ]
    if eda_md:
        parts += [eda_md.strip(), ""]
    for r in results:
        parts += [write_model_section(r, out_dir).strip(), ""]
    if extra_md:
        parts += [extra_md.strip(), ""]
    path = out_dir / "README.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(parts), encoding="utf-8")
    os.replace(tmp, path)
    return path


# --------------------------------------------------------------------------------------------
# From the data set and the runs (python -m training eda | report)


def eda_input(root: Path) -> EdaInput:
    """What the data set report shows, read from the data set folder."""
    from PIL import Image

    from training import data

    counts, sizes, samples = {}, {}, []
    rng = np.random.default_rng(42)
    for split in data.SPLITS:
        idx = data.index_split(root, split)
        counts[split] = idx.counts()
        s = []
        for p in idx.paths:
            try:
                with Image.open(p) as im:
                    s.append(im.size)
            except Exception:
                continue
        sizes[split] = s
        if split == "seg_train":
            for c in range(len(CLASSES)):
                pick = rng.choice(np.flatnonzero(idx.labels == c), 3, replace=False)
                samples += [(idx.paths[i], CLASSES[c]) for i in pick]
    note = (
        "Byte-identical files (sha256): 3 seg_test photos duplicate a seg_train photo with a different label; "
        "10 cross-class and 5 same-class duplicate pairs inside seg_train. Kept as they are: some label noise."
    )
    return EdaInput(split_counts=counts, sizes=sizes, sample_paths=samples, duplicates_note=note)


def report_runs(
    runs: Path, out: Path, eda_root: Path | None, hardware: str, extra_md: str = ""
) -> Path:
    """The comparison report of every run in `runs` (with the data set section when
    `eda_root` is given); returns the report's path."""
    import json

    from app.model.calibration import softmax
    from training.models import RECIPES

    out.mkdir(parents=True, exist_ok=True)
    eda_md = write_eda(eda_input(eda_root), out) if eda_root is not None else None
    results = []
    for key in RECIPES:  # ours, each beside its study-recipe twin where there is one
        result_file = runs / key / "result.json"
        if not result_file.is_file():
            continue
        run = json.loads(result_file.read_text())
        outputs = np.load(runs / key / "test_outputs.npz")
        temperature = run.get("temperature") or 1.0
        results.append(
            ModelResult(
                key=key,
                title=run["title"],
                study_accuracy=run["study_accuracy"],
                stats=CaretStats.from_dict(run["stats"]),
                history=run["history"],
                wall_times={k: v for k, v in run["wall_times"].items() if k != "total"},
                throughput=run["throughput"],
                recipe=run["recipe"].get("description", ""),
                ece=run["ece"],
                ece_after=run["ece_after"],
                temperature=run["temperature"],
                notes=f"Trained on {run['n_train']} photos ({run['n_holdout']} held out), evaluated on {run['n_test']}; {run['hardware']}.",
                probs=softmax(outputs["logits"], temperature),
                labels=outputs["labels"],
            )
        )
    return write_report(out, eda_md, results, hardware, extra_md=extra_md)

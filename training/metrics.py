"""Evaluation statistics, laid out the way R caret's `confusionMatrix` prints them.

The study we reproduce reports caret's output, so we compute the same figures with the same
definitions (exact binomial CI, one-sided test against the no-information rate, Cohen's kappa,
McNemar/Bowker symmetry test, one-vs-all per-class rates) to compare like with like.
Plus calibration (expected calibration error, reliability table). numpy + scipy only, no torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

PER_CLASS_KEYS: tuple[str, ...] = (
    "sensitivity",
    "specificity",
    "pos_pred_value",
    "neg_pred_value",
    "prevalence",
    "detection_rate",
    "detection_prevalence",
    "balanced_accuracy",
)
# Row names caret prints in "Statistics by Class", in PER_CLASS_KEYS order.
_CARET_ROW_NAMES: tuple[str, ...] = (
    "Sensitivity",
    "Specificity",
    "Pos Pred Value",
    "Neg Pred Value",
    "Prevalence",
    "Detection Rate",
    "Detection Prevalence",
    "Balanced Accuracy",
)
_DIGITS = 4  # caret: max(3, getOption("digits") - 3) with R's default digits = 7
_EPS = float(
    np.finfo(float).eps
)  # R's .Machine$double.eps, the floor format.pval shows as "< 2.2e-16"


@dataclass
class CaretStats:
    """caret's overall and per-class statistics for one confusion matrix `cm[pred, ref]`."""

    classes: list[str]
    cm: np.ndarray
    accuracy: float
    ci_low: float
    ci_high: float
    nir: float
    p_acc_gt_nir: float
    kappa: float
    mcnemar_p: float
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.cm.sum())

    @classmethod
    def from_dict(cls, d: Mapping) -> CaretStats:
        """Rebuilds from `to_dict()` output (recomputed from the counts, which are exact)."""
        return caret_stats(np.asarray(d["cm"], dtype=np.int64), d["classes"])

    def to_dict(self) -> dict:
        """Plain JSON-safe values: ints, floats, strings; NaN (caret's NA) becomes None."""
        return {
            "classes": list(self.classes),
            "cm": [[int(v) for v in row] for row in self.cm],
            "n": self.n,
            "accuracy": _json_float(self.accuracy),
            "ci_low": _json_float(self.ci_low),
            "ci_high": _json_float(self.ci_high),
            "nir": _json_float(self.nir),
            "p_acc_gt_nir": _json_float(self.p_acc_gt_nir),
            "kappa": _json_float(self.kappa),
            "mcnemar_p": _json_float(self.mcnemar_p),
            "per_class": {
                c: {k: _json_float(v) for k, v in d.items()} for c, d in self.per_class.items()
            },
        }


def _json_float(x: float) -> float | None:
    x = float(x)
    return None if math.isnan(x) or math.isinf(x) else x


def _div(a: float, b: float) -> float:
    """a / b, NaN where caret would give NA (an empty or undefined denominator)."""
    if math.isnan(a) or math.isnan(b) or b == 0:
        return float("nan")
    return float(a) / float(b)


def confusion_matrix(
    pred: Sequence[int] | np.ndarray, ref: Sequence[int] | np.ndarray, num_classes: int
) -> np.ndarray:
    """Counts `cm[pred, ref]` (rows = prediction, columns = reference), caret's orientation."""
    p = np.asarray(pred, dtype=np.int64).ravel()
    r = np.asarray(ref, dtype=np.int64).ravel()
    if p.shape != r.shape:
        raise ValueError(f"pred and ref differ in length ({p.size} vs {r.size})")
    if p.size and (min(p.min(), r.min()) < 0 or max(p.max(), r.max()) >= num_classes):
        raise ValueError(f"labels must lie in [0, {num_classes})")
    return np.bincount(p * num_classes + r, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def _mcnemar_p(cm: np.ndarray) -> float:
    """R's mcnemar.test on the table: Bowker's symmetry test for k > 2, corrected McNemar for 2x2.

    As in R, a pair with n_ij + n_ji = 0 makes the statistic 0/0 = NaN (caret prints NA); the
    degrees of freedom are always k(k-1)/2, never reduced.
    """
    k = cm.shape[0]
    iu = np.triu_indices(k, 1)
    total = (cm + cm.T)[iu].astype(float)
    diff = (cm - cm.T)[iu].astype(float)
    if np.any(total == 0):
        return float("nan")
    if k == 2:
        statistic = float(
            (abs(diff[0]) - 1.0) ** 2 / total[0]
        )  # continuity correction, R's default
    else:
        statistic = float(np.sum(diff**2 / total))
    return float(stats.chi2.sf(statistic, k * (k - 1) // 2))


def caret_stats(cm: np.ndarray, classes: Sequence[str]) -> CaretStats:
    """Everything caret's `confusionMatrix(pred, ref)` reports for `cm[pred, ref]`."""
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1]:
        raise ValueError(f"confusion matrix must be square, got shape {cm.shape}")
    if cm.shape[0] != len(classes):
        raise ValueError(f"{len(classes)} class names for a {cm.shape[0]}x{cm.shape[0]} matrix")
    if np.any(cm < 0) or not np.all(np.equal(np.mod(cm, 1), 0)):
        raise ValueError("confusion matrix must hold non-negative counts")
    cm = cm.astype(np.int64)
    n = int(cm.sum())
    if n == 0:
        raise ValueError("confusion matrix is empty")
    correct = int(np.trace(cm))
    pred_totals = cm.sum(axis=1)
    ref_totals = cm.sum(axis=0)

    accuracy = correct / n
    ci = stats.binomtest(correct, n).proportion_ci(confidence_level=0.95, method="exact")
    nir = float(ref_totals.max() / n)
    p_acc = float(stats.binomtest(correct, n, p=nir, alternative="greater").pvalue)
    expected = float(np.dot(pred_totals, ref_totals)) / (n * n)
    kappa = _div(accuracy - expected, 1.0 - expected)

    per_class: dict[str, dict[str, float]] = {}
    for i, name in enumerate(classes):
        tp = int(cm[i, i])
        fp = int(pred_totals[i]) - tp
        fn = int(ref_totals[i]) - tp
        tn = n - tp - fp - fn
        sens = _div(tp, tp + fn)
        spec = _div(tn, tn + fp)
        prev = (tp + fn) / n
        # caret derives the predictive values from sensitivity, specificity and prevalence (Bayes);
        # with the data's own prevalence that equals tp/(tp+fp) and tn/(tn+fn), except that an
        # undefined sensitivity or specificity makes them NA too, as caret prints.
        per_class[str(name)] = {
            "sensitivity": sens,
            "specificity": spec,
            "pos_pred_value": _div(sens * prev, sens * prev + (1 - spec) * (1 - prev)),
            "neg_pred_value": _div(spec * (1 - prev), (1 - sens) * prev + spec * (1 - prev)),
            "prevalence": prev,
            "detection_rate": tp / n,
            "detection_prevalence": (tp + fp) / n,
            "balanced_accuracy": (sens + spec) / 2.0,
        }

    return CaretStats(
        classes=[str(c) for c in classes],
        cm=cm,
        accuracy=accuracy,
        ci_low=float(ci.low),
        ci_high=float(ci.high),
        nir=nir,
        p_acc_gt_nir=p_acc,
        kappa=kappa,
        mcnemar_p=_mcnemar_p(cm),
        per_class=per_class,
    )


# --- R-style number formatting -------------------------------------------------------------


def _sig_needed(x: float, digits: int) -> tuple[int, int]:
    """(significant digits actually needed, decimal exponent) of x shown with at most `digits`.

    R drops trailing zeros: 0.5 at digits=4 needs 1 significant digit, 0.7423 needs 4.
    """
    if x == 0:
        return 1, 0
    mantissa, exponent = f"{abs(x):.{digits - 1}e}".split("e")
    sig = len(mantissa.replace(".", "").rstrip("0")) or 1
    return sig, int(exponent)


def format_r_number(x: float, digits: int = _DIGITS) -> str:
    """R's `format(x, digits=)` for one number: fixed unless scientific is narrower."""
    if math.isnan(x):
        return "NA"
    if math.isinf(x):
        return "Inf" if x > 0 else "-Inf"
    sig, e = _sig_needed(x, digits)
    neg = 1 if x < 0 else 0
    decimals = max(0, sig - 1 - e)
    fixed_width = neg + (e + 1 if e >= 0 else 1) + (decimals + 1 if decimals else 0)
    sci_width = neg + (sig + 1 if sig > 1 else 1) + (4 if abs(e) < 100 else 5)
    if fixed_width <= sci_width:
        return f"{x:.{decimals}f}"
    mantissa = f"{abs(x) / 10.0**e:.{sig - 1}f}"
    return f"{'-' if neg else ''}{mantissa}e{'-' if e < 0 else '+'}{abs(e):02d}"


def format_pval(p: float, digits: int = _DIGITS) -> str:
    """R's `format.pval(p, digits=)`: "< 2.2e-16" below machine epsilon, else format(p)."""
    if math.isnan(p):
        return "NA"
    if p < _EPS:
        return "< 2.2e-16"
    return format_r_number(p, digits)


def _signif_str(x: float, digits: int = _DIGITS) -> str:
    """caret's paste(signif(x, 4)): at most 4 significant digits, no trailing zeros."""
    if math.isnan(x):
        return "NA"
    return f"{x:.{digits}g}"


def _format_column(values: Sequence[float], digits: int = _DIGITS) -> list[str]:
    """R's print of a numeric matrix column: one decimal count for the whole column."""
    finite = [v for v in values if math.isfinite(v)]
    decimals = 0
    for v in finite:
        sig, e = _sig_needed(v, digits)
        decimals = max(decimals, sig - 1 - e)
    decimals = min(decimals, 15)
    return ["NA" if math.isnan(v) else f"{v:.{decimals}f}" for v in values]


def _format_table(cm: np.ndarray, classes: Sequence[str]) -> list[str]:
    """The confusion table as R prints a 2-way table with dimnames Prediction / Reference.

    R left-justifies the row labels among themselves, indents them by two and right-justifies
    that block under "Prediction"; every count shares one width across the table.
    """
    label_len = max(len(c) for c in classes)
    label_width = max(len("Prediction"), label_len + 2)
    count_width = max(len(str(int(v))) for v in cm.ravel())
    widths = [max(len(c), count_width) for c in classes]
    lines = [" " * label_width + "Reference"]
    header = " ".join(c.rjust(w) for c, w in zip(classes, widths, strict=True))
    lines.append("Prediction".ljust(label_width) + " " + header)
    for label, row in zip(classes, cm, strict=True):
        cells = " ".join(str(int(v)).rjust(w) for v, w in zip(row, widths, strict=True))
        lines.append(label.ljust(label_len).rjust(label_width) + " " + cells)
    return lines


def _wrap_columns(
    row_names: Sequence[str],
    headers: Sequence[str],
    columns: Sequence[Sequence[str]],
    width: int = 80,
) -> list[str]:
    """A right-justified matrix split into column blocks that fit `width`, as R prints it."""
    row_width = max(len(r) for r in row_names)
    col_widths = [
        max(len(h), *(len(v) for v in col)) for h, col in zip(headers, columns, strict=True)
    ]
    blocks: list[list[int]] = [[]]
    used = row_width
    for j, w in enumerate(col_widths):
        if blocks[-1] and used + 1 + w > width:
            blocks.append([])
            used = row_width
        blocks[-1].append(j)
        used += 1 + w
    lines = []
    for block in blocks:
        lines.append(
            " " * row_width + "".join(" " + headers[j].rjust(col_widths[j]) for j in block)
        )
        for i, name in enumerate(row_names):
            lines.append(
                name.ljust(row_width)
                + "".join(" " + columns[j][i].rjust(col_widths[j]) for j in block)
            )
    return lines


def format_caret(stats_: CaretStats, width: int = 80) -> str:
    """Text laid out like caret's print(confusionMatrix(...)) for a multi-class table.

    Matches R 4.2 / caret 6.0 line for line except for trailing blanks; `width` is R's
    options("width") at which the per-class table wraps.
    """
    lines = ["Confusion Matrix and Statistics", ""]
    lines += _format_table(stats_.cm, stats_.classes)
    lines += ["", "Overall Statistics", ""]
    ci = f"({_signif_str(stats_.ci_low)}, {_signif_str(stats_.ci_high)})"
    overall = [
        ("Accuracy", _signif_str(stats_.accuracy)),
        ("95% CI", ci),
        ("No Information Rate", _signif_str(stats_.nir)),
        ("P-Value [Acc > NIR]", format_pval(float(f"{stats_.p_acc_gt_nir:.4g}"))),
        ("", ""),
        ("Kappa", _signif_str(stats_.kappa)),
        ("", ""),
        ("Mcnemar's Test P-Value", format_pval(float(f"{stats_.mcnemar_p:.4g}"))),
    ]
    name_width = max(len(name) for name, _ in overall) + 2
    for name, value in overall:
        label = f"{name} :" if name else ""
        lines.append((" " + label.rjust(name_width) + " " + value).rstrip())
    lines += ["", "Statistics by Class:", ""]
    headers = [f"Class: {c}" for c in stats_.classes]
    columns = [
        _format_column([stats_.per_class[c][k] for k in PER_CLASS_KEYS]) for c in stats_.classes
    ]
    lines += _wrap_columns(_CARET_ROW_NAMES, headers, columns, width)
    return "\n".join(lines) + "\n"


# --- calibration ---------------------------------------------------------------------------


def _confidence_and_correct(probs: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.int64).ravel()
    if p.ndim != 2 or p.shape[0] != y.size:
        raise ValueError(f"probs must be (n, classes) matching {y.size} labels, got {p.shape}")
    if p.shape[0] == 0:
        raise ValueError("no samples")
    return p.max(axis=1), (p.argmax(axis=1) == y)


def _bin_index(confidence: np.ndarray, bins: int) -> np.ndarray:
    """Bin b holds lo < conf <= hi (Guo et al. 2017); a confidence of exactly 0 joins bin 0."""
    idx = np.ceil(confidence * bins).astype(np.int64) - 1
    return np.clip(idx, 0, bins - 1)


def reliability_table(
    probs: np.ndarray, labels: np.ndarray, bins: int = 15
) -> list[tuple[float, float, int, float, float]]:
    """Per confidence bin: (lo, hi, count, mean confidence, accuracy); NaN means for empty bins."""
    if bins < 1:
        raise ValueError("bins must be >= 1")
    confidence, correct = _confidence_and_correct(probs, labels)
    idx = _bin_index(confidence, bins)
    rows = []
    for b in range(bins):
        mask = idx == b
        count = int(mask.sum())
        mean_conf = float(confidence[mask].mean()) if count else float("nan")
        acc = float(correct[mask].mean()) if count else float("nan")
        rows.append((b / bins, (b + 1) / bins, count, mean_conf, acc))
    return rows


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """ECE with equal-width bins over max-probability confidence: sum_b |acc_b - conf_b| n_b / n.

    Tells whether a 0.9 score means right 9 times in 10, which matters because the app shows
    confidences to the user and uses them as thresholds.
    """
    rows = reliability_table(probs, labels, bins)
    n = sum(r[2] for r in rows)
    return float(sum(abs(acc - conf) * count for _, _, count, conf, acc in rows if count) / n)

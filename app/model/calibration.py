"""Calibration maths, one home for the app and training: softmax at a temperature, and the
temperature that makes held-out probabilities honest.

    probs = softmax(logits, temperature)                      # what every runtime reports
    t = fit_temperature(holdout_logits, labels, (0.05, 20))  # training and its ONNX export
    t = fit_temperature(oof_logits, labels, (t0 / 2, 2 * t0)) # a personal head (app.personal)

The fit is a grid search over log T (GRID_STEP apart, both bounds included). Measured on the
bundled model's seg_test logits (docs/findings.md, bench/temperature_fit.py) it lands within
0.25 % of scipy's bounded minimiser (held-out NLL within 1e-4), where the 61-point grid the app
used was up to 4.7 % off over training's wide bounds; and it needs no scipy, which the app does
not ship. numpy only.
"""

from __future__ import annotations

import numpy as np

GRID_STEP = 1.005  # ratio of neighbouring temperatures on the grid
WIDE_BOUNDS = (0.05, 20.0)  # any sane temperature: training's search for a new model


def softmax(logits: np.ndarray, temperature: float = 1.0, dtype: type | None = None) -> np.ndarray:
    """softmax(logits / temperature) along the last axis, computed and returned in `dtype`
    (default: the logits' own float type, float32 at least)."""
    z = np.asarray(logits)
    kind = np.dtype(dtype or np.result_type(z.dtype, np.float32)).type
    z = z.astype(kind, copy=False) / kind(temperature)
    z = np.exp(z - z.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of `labels` under softmax(logits / temperature), float64."""
    z = np.asarray(logits, np.float64) / float(temperature)
    z = z - z.max(axis=1, keepdims=True)
    y = np.asarray(labels, np.int64)
    return float((np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]).mean())


def temperature_grid(low: float, high: float, step: float = GRID_STEP) -> np.ndarray:
    """Temperatures from `low` to `high` (both included), `step` apart in ratio."""
    if not 0 < low <= high:
        raise ValueError(f"temperature bounds must be 0 < low <= high, not ({low}, {high})")
    n = max(2, int(np.ceil(np.log(high / low) / np.log(step))) + 1)
    return np.exp(np.linspace(np.log(low), np.log(high), n))


def fit_temperature(
    logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float], step: float = GRID_STEP
) -> float:
    """The temperature in `bounds` with the lowest NLL on held-out logits (the first of equals)."""
    grid = temperature_grid(*bounds, step)
    losses = [nll(logits, labels, t) for t in grid]
    return float(grid[int(np.argmin(losses))])

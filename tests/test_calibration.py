"""Calibration maths (app.model.calibration), the one home of softmax and the temperature fit."""

from __future__ import annotations

import numpy as np
import pytest

from app.model.calibration import GRID_STEP, fit_temperature, nll, softmax, temperature_grid


def test_softmax_keeps_the_logits_float_type_unless_told() -> None:
    logits = np.array([[2.0, 1.0, -1.0]], np.float32)
    assert softmax(logits, 0.5).dtype == np.float32
    assert softmax(logits.astype(np.float64), 0.5).dtype == np.float64
    assert softmax(logits.astype(np.float64), 0.5, np.float32).dtype == np.float32
    expected = np.exp(logits / 0.5) / np.exp(logits / 0.5).sum()
    np.testing.assert_allclose(softmax(logits, 0.5), expected, rtol=1e-6)


def test_the_fit_finds_the_temperature_the_labels_were_drawn_at() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, (20_000, 6))
    drawn_at = 1.7
    p = softmax(logits, drawn_at)
    labels = (p.cumsum(1) > rng.random((len(p), 1))).argmax(1)
    fitted = fit_temperature(logits, labels, (0.05, 20.0))
    assert fitted == pytest.approx(drawn_at, rel=0.03)
    grid = temperature_grid(0.05, 20.0)
    neighbours = grid[np.abs(np.log(grid / fitted)) < 1.5 * np.log(GRID_STEP)]
    assert all(nll(logits, labels, fitted) <= nll(logits, labels, t) for t in neighbours)


def test_the_fit_stays_within_its_bounds() -> None:
    logits = np.array([[5.0, 0.0], [0.0, 5.0]] * 10)  # separable: the unbounded optimum is T -> 0
    labels = np.array([0, 1] * 10)
    assert fit_temperature(logits, labels, (0.3, 1.2)) == pytest.approx(0.3)
    grid = temperature_grid(0.3, 1.2)
    assert grid[0] == pytest.approx(0.3) and grid[-1] == pytest.approx(1.2)
    assert np.all(grid[1:] / grid[:-1] <= GRID_STEP)

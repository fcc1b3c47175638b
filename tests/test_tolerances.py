"""The shared tolerances (tests/tolerances.py) pass the last digits of a score and nothing more:
a helper that let everything through would make every test that uses it unable to fail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.model.engine import Prediction
from tests.tolerances import (
    SCORE_TOLERANCE,
    assert_same_json_lines,
    assert_same_prediction,
    assert_same_text_but_last_digits,
)

SCORES = {"buildings": 0.22192350029945374, "sea": 0.22646214067935944}


def pred(**change: object) -> Prediction:
    base = {"path": Path("a.jpg"), "label": "sea", "confidence": SCORES["sea"], "scores": SCORES}
    return Prediction(**{**base, **change})  # type: ignore[arg-type]


def test_the_last_float32_digits_pass() -> None:
    moved = {k: v + 1.5e-8 for k, v in SCORES.items()}
    assert_same_prediction(pred(scores=moved, confidence=moved["sea"]), pred())


@pytest.mark.parametrize(
    "change",
    [
        {"label": "buildings"},
        {"path": Path("b.jpg")},
        {"confidence": SCORES["sea"] + 10 * SCORE_TOLERANCE},
        {"scores": {**SCORES, "buildings": SCORES["buildings"] - 10 * SCORE_TOLERANCE}},
        {"scores": {"sea": SCORES["sea"], "buildings": SCORES["buildings"]}},  # order
        {"error": "permission denied", "label": None},
    ],
)
def test_anything_else_fails(change: dict[str, object]) -> None:
    with pytest.raises(AssertionError):
        assert_same_prediction(pred(**change), pred())


def test_printed_numbers_may_move_one_unit_of_their_last_decimal_and_no_more() -> None:
    line = json.dumps({"path": "a.jpg", "label": "sea", "scores": {"sea": 0.226462}})
    assert_same_json_lines([line.replace("0.226462", "0.226463")], [line])
    for other in ("0.226562", '"sea", "x": 1'):
        with pytest.raises(AssertionError):
            assert_same_json_lines([line.replace("0.226462", other)], [line])
    xmp = "<st:label>sea</st:label><st:confidence>0.8765</st:confidence>"
    assert_same_text_but_last_digits(xmp.replace("0.8765", "0.8766"), xmp, 4)
    for other in (xmp.replace("0.8765", "0.8775"), xmp.replace("sea", "sky")):
        with pytest.raises(AssertionError):
            assert_same_text_but_last_digits(other, xmp, 4)

"""What two runs of the model promise to agree on, in one place for every test.

The network runs in float32 through kernels the CPU and the runtime pick (oneDNN or ONNX
Runtime's MLAS on AVX2, AVX-512 or AMX), over as many threads as there are cores, in batches
whose size depends on the run: the results cache sends the model only its misses, a single
photo is a batch of one, `label` classifies only the photos it is given. The batch size picks
the kernel and the way the sums are blocked, so the last digits of a score move with it
(0.22646214 for a photo in a batch of 5, 0.22646213 in a batch of 7, on a Xeon with AMX).
What the product promises, and what these helpers check:

- the same photo gets the same label, and the same error when it fails;
- its scores agree within SCORE_TOLERANCE (absolute, on probabilities in [0, 1]);
- printed or written numbers agree within that tolerance plus one unit of the last decimal
  they are printed with (classify --json: 6 decimals; sidecars: sidecar.DECIMALS);
- everything else in a sidecar (keywords, label, source, model id, every byte we do not own)
  is identical.

Where no arithmetic happens the promise is exact, and those tests keep `==`: a result the
cache stored comes back bit for bit, an export/import round trip, flip TTA's symmetric average
(a photo and its mirror), the numpy and torch preprocessing (element-wise, correctly rounded).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from app.tagging import sidecar

# Observed: 1.5e-8 between batch sizes on one machine (fp32); int8 ONNX the same order. Three
# orders of magnitude of headroom, still a thousand times finer than anything a user sees (a
# percentage with one decimal, a sidecar's four).
SCORE_TOLERANCE = 1e-5
JSON_DECIMALS = 6  # classify --json rounds scores to this many decimals
_NUMBER = re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?")


def assert_same_scores(
    got: Mapping[str, float] | None, want: Mapping[str, float] | None, tol: float = SCORE_TOLERANCE
) -> None:
    """The same classes in the same order, each score within `tol`."""
    if got is None or want is None:
        assert got is want, (got, want)
        return
    assert list(got) == list(want)
    assert [got[k] for k in got] == pytest.approx([want[k] for k in want], abs=tol, rel=0)


def assert_same_prediction(got: Any, want: Any, tol: float = SCORE_TOLERANCE) -> None:
    """app.model.engine.Prediction: path, label and error exact; confidence and scores close."""
    assert (got.path, got.label, got.error) == (want.path, want.label, want.error)
    if want.confidence is None:
        assert got.confidence is None
    else:
        assert got.confidence == pytest.approx(want.confidence, abs=tol, rel=0)
    assert_same_scores(got.scores, want.scores, tol)


def assert_same_predictions(got: Iterable[Any], want: Iterable[Any]) -> None:
    got, want = list(got), list(want)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert_same_prediction(a, b)


def _close(a: Any, b: Any, tol: float) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= tol
    if isinstance(a, dict) and isinstance(b, dict):
        return list(a) == list(b) and all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b, strict=True))
    return a == b


def assert_same_json_lines(got: Sequence[str], want: Sequence[str]) -> None:
    """`classify --json` output: the same objects, keys in the same order, numbers close."""
    tol = SCORE_TOLERANCE + 10**-JSON_DECIMALS
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert _close(json.loads(a), json.loads(b), tol), (a, b)


def assert_same_text_but_last_digits(got: str, want: str, decimals: int) -> None:
    """Identical text, except that each decimal number may differ within SCORE_TOLERANCE plus
    one unit of its last printed decimal."""
    tol = SCORE_TOLERANCE + 10**-decimals + 1e-12
    assert _NUMBER.split(got) == _NUMBER.split(want), (got, want)
    for a, b in zip(_NUMBER.findall(got), _NUMBER.findall(want), strict=True):
        assert abs(float(a) - float(b)) <= tol, (a, b)


def assert_same_sidecar(got: Path, want: Path) -> None:
    """Two sidecars written from two runs of the model: the same bytes, but for the last digit
    of the scores."""
    a, b = got.read_text(encoding="utf-8"), want.read_text(encoding="utf-8")
    assert_same_text_but_last_digits(a, b, sidecar.DECIMALS)


def assert_same_tag(got: sidecar.SceneTag | None, want: sidecar.SceneTag | None) -> None:
    """Scene tags read back from sidecars of two runs: label, source and model exact; the
    confidence and scores within the tolerance plus a unit of sidecar.DECIMALS."""
    assert got is not None and want is not None
    assert (got.label, got.source, got.model_id) == (want.label, want.source, want.model_id)
    tol = SCORE_TOLERANCE + 10**-sidecar.DECIMALS + 1e-12
    if want.confidence is None:
        assert got.confidence is None
    else:
        assert got.confidence == pytest.approx(want.confidence, abs=tol, rel=0)
    assert_same_scores(got.scores, want.scores, tol)

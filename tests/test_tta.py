"""Flip test-time augmentation: a photo and its mirror get the same scores, on every runtime,
and `--tta flip` works on classify, tag and --self-test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_photo
from PIL import Image

from app.cli import main as cli
from app.model.calibration import softmax
from app.model.engine import Classifier, flip_average, mirror


def photo_and_mirror(folder: Path) -> tuple[Path, Path]:
    """A lossless 150x150 photo (no resize, no JPEG blocks) and its left-right mirror."""
    photo = make_photo(folder / "photo.png", size=(150, 150), seed=3)
    with Image.open(photo) as img:
        img.transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(folder / "mirror.png")
    return photo, folder / "mirror.png"


RUNTIMES = [
    ("tiny_card", "torch", "fp32"),
    ("onnx_card", "onnx", "fp32"),
    ("onnx_card", "onnx", "int8"),
]


@pytest.mark.parametrize(("card", "backend", "precision"), RUNTIMES)
def test_flip_gives_a_photo_and_its_mirror_identical_scores(
    request: pytest.FixtureRequest, tmp_path: Path, card: str, backend: str, precision: str
) -> None:
    paths = photo_and_mirror(tmp_path)
    model = request.getfixturevalue(card)
    kwargs = {"device": "cpu", "backend": backend, "precision": precision}
    with Classifier(model, **kwargs) as plain:
        one = [p.scores for p in plain.classify_paths(paths)]
        logits, _ = plain.runtime.run_pixels(np.stack([plain_pixels(p) for p in paths]))
        temperature = plain.runtime.temperature
    assert one[0] != one[1], "the test needs a network that tells a photo from its mirror"
    with Classifier(model, tta="flip", **kwargs) as flip:
        both = [p.scores for p in flip.classify_paths(paths)]
        assert flip.model_id.endswith("+tta-flip") and "flip TTA" in flip.device_name
    assert both[0] == both[1]  # bit-identical, not merely close
    expected = (softmax(logits[:1], temperature) + softmax(logits[1:], temperature)) / 2
    assert np.allclose(list(both[0].values()), expected[0], atol=1e-6)


def plain_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img.convert("RGB"))


def test_flip_average_and_mirror() -> None:
    pixels = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    assert np.array_equal(mirror(mirror(pixels)), pixels)
    assert np.array_equal(mirror(pixels)[:, :, 0], pixels[:, :, -1])
    a, b = np.array([[2.0, 0.0, -1.0]]), np.array([[0.0, 3.0, 1.0]])
    assert np.array_equal(flip_average(a, b, 1.5), flip_average(b, a, 1.5))
    assert np.allclose(flip_average(a, b, 1.5).sum(1), 1.0)


def test_unknown_tta_is_refused(tiny_card: Path) -> None:
    with pytest.raises(ValueError, match="tta must be one of"):
        Classifier(tiny_card, device="cpu", tta="rotate")


def run(capsys: pytest.CaptureFixture[str], *argv: str | Path) -> tuple[int, list[str], str]:
    code = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


def test_classify_tta_flip(capsys, tiny_card: Path, tmp_path: Path) -> None:
    photo, mirrored = photo_and_mirror(tmp_path)
    code, lines, err = run(capsys, "classify", "--json", "--model", tiny_card, photo, mirrored)
    assert code == 0
    plain = [json.loads(line)["scores"] for line in lines]
    assert plain[0] != plain[1] and "+tta-flip" not in err
    code, lines, err = run(
        capsys, "classify", "--json", "--tta", "flip", "--model", tiny_card, photo, mirrored
    )
    assert code == 0
    flipped = [json.loads(line)["scores"] for line in lines]
    assert flipped[0] == flipped[1] and "+tta-flip" in err and "flip TTA" in err
    assert run(capsys, "classify", "--tta", "rotate", photo)[0] == 2


def test_tag_and_self_test_tta_flip(capsys, tiny_card: Path, tmp_path: Path) -> None:
    folder = tmp_path / "photos"
    make_photo(folder / "IMG_1.jpg")
    code, _, err = run(
        capsys, "tag", folder, "--model", tiny_card, "--tta", "flip", "--min-confidence", "0"
    )
    assert code == 0, err
    sidecar = (folder / "IMG_1.jpg.xmp").read_text()
    assert "+tta-flip" in sidecar  # the provenance names the scoring
    code, lines, _ = run(
        capsys, "--self-test", "--model", tiny_card, "--samples", folder, "--tta", "flip"
    )
    assert code == 0 and "+tta-flip" in lines[0] and "flip TTA" in lines[0]

""" "None of these": the open-set score with every prediction, in every runtime and through the
cache; `classify` says none; `tag` writes no keyword for it and takes back its own earlier one;
manual labels (a manual "none" too) are never touched."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from test_cli import run

from app.cache.cached import CachedClassifier
from app.cache.library import Library
from app.model import openset, scenes
from app.model.engine import Classifier
from app.tagging import sidecar
from app.tagging.session import Session
from tests.onnx_fixtures import odd_photo, photos

# what the tiny card's bank photos look like (gradients): distance ~0; noise: ~0.5 (threshold 0.3)
RUNTIMES = [("torch", "fp32", "none"), ("onnx", "fp32", "none"), ("onnx", "int8", "none")]
RUNTIMES += [("onnx", "int8", "flip")]


def test_knn_distance_is_the_kth_cosine_distance() -> None:
    bank = openset.normalise(np.array([[1, 0], [0, 1], [1, 1]], dtype=np.float32))
    x = np.array([[2, 0], [0, 0.5]], dtype=np.float32)  # lengths do not matter
    d1 = openset.knn_distance(x, bank, 1)
    d2 = openset.knn_distance(x, bank, 2)
    np.testing.assert_allclose(d1, [0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(d2, [1 - 1 / math.sqrt(2)] * 2, atol=1e-6)
    np.testing.assert_allclose(openset.knn_distance(x, bank, 3), [1.0, 1.0], atol=1e-6)
    assert openset.outcome("sea", 0.5, 0.4) == openset.NONE
    assert openset.outcome("sea", 0.3, 0.4) == "sea"
    assert openset.outcome("sea", 0.5, math.inf) == "sea"
    assert openset.outcome("sea", None, 0.4) == "sea"
    assert openset.family("scene-vgg16@a4684ef2ce43/int8+tta-flip") == "scene-vgg16"


def test_the_bundled_card_has_its_open_set_section() -> None:
    card = scenes.ModelCard.read(scenes.default_card_path())
    o = openset.OpenSet.from_card(card)
    assert o is not None and o.bank.shape == (3000, 512) and o.k >= 1
    np.testing.assert_allclose(np.linalg.norm(o.bank, axis=1), 1.0, atol=1e-4)
    section = card.extra["open_set"]
    assert 0 < o.threshold < 2 and section["chosen_by"]["holdout_photos"] > 1000
    assert section["made_by"] == "python -m training export-open-set"


@pytest.mark.parametrize(("backend", "precision", "tta"), RUNTIMES)
def test_every_runtime_scores_and_says_none(
    open_set_card: Path, tmp_path: Path, backend: str, precision: str, tta: str
) -> None:
    scene_photos = photos(tmp_path / "scenes", 3, seed=50)
    odd = odd_photo(tmp_path / "odd.png")
    with Classifier(open_set_card, backend=backend, precision=precision, tta=tta) as clf:
        preds = list(clf.classify_paths([*scene_photos, odd]))
    for p in preds[:3]:
        assert p.label in scenes.CLASSES and p.open_set is not None and p.open_set < 0.1
    none = preds[3]
    assert none.label == openset.NONE and none.open_set > 0.4
    assert set(none.scores) == set(scenes.CLASSES) and none.scene in scenes.CLASSES
    assert none.confidence == pytest.approx(max(none.scores.values()))


def test_threshold_off_never_says_none_and_a_card_without_a_section_neither(
    open_set_card: Path, onnx_card: Path, tmp_path: Path
) -> None:
    odd = odd_photo(tmp_path / "odd.png")
    with Classifier(open_set_card, backend="onnx", none_threshold=math.inf) as clf:
        [p] = list(clf.classify_paths([odd]))
    assert p.label in scenes.CLASSES and p.open_set > 0.4
    with Classifier(onnx_card, backend="onnx") as clf:
        [p] = list(clf.classify_paths([odd]))
    assert p.label in scenes.CLASSES and p.open_set is None and clf.open_set is None


def test_a_damaged_bank_is_a_model_error(open_set_card: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(open_set_card.parent, folder)
    (folder / "bank.safetensors").write_bytes(b"not a bank")
    with pytest.raises(scenes.ModelError, match="open-set bank"):
        Classifier(folder / scenes.MODEL_CARD_NAME, backend="onnx")


def test_a_cache_hit_decides_none_again_with_todays_threshold(
    open_set_card: Path, tmp_path: Path
) -> None:
    odd = odd_photo(tmp_path / "odd.png")
    scene = photos(tmp_path / "s", 1, seed=60)[0]
    with CachedClassifier(Classifier(open_set_card, backend="onnx"), Library()) as clf:
        first = list(clf.classify_paths([scene, odd]))
    with CachedClassifier(Classifier(open_set_card, backend="onnx"), Library()) as clf:
        again = list(clf.classify_paths([scene, odd]))
        assert clf.hits == 2
    assert [p.label for p in again] == [p.label for p in first]
    assert again[1].label == openset.NONE
    assert again[1].open_set == first[1].open_set  # scored through float16 either way
    off = Classifier(open_set_card, backend="onnx", none_threshold=math.inf)
    with CachedClassifier(off, Library()) as clf:
        assert list(clf.classify_paths([odd]))[0].label in scenes.CLASSES


def test_classify_json_says_none_with_the_six_scores_and_the_open_set_score(
    capsys, open_set_card: Path, tmp_path: Path
) -> None:
    odd = odd_photo(tmp_path / "odd.png")
    code, lines, _ = run(capsys, "classify", "--json", "--model", open_set_card, odd)
    obj = json.loads(lines[0])
    assert code == 0 and obj["label"] == "none" and set(obj["scores"]) == set(scenes.CLASSES)
    assert obj["open_set"] > 0.4
    code, lines, _ = run(capsys, "classify", "--model", open_set_card, odd)
    assert lines[0].split("\t")[1] == "none"
    args = ("classify", "--none-threshold", "off", "--model", open_set_card, odd)
    code, lines, _ = run(capsys, *args)
    assert lines[0].split("\t")[1] in scenes.CLASSES


def keywords(photo: Path) -> list[str]:
    return sidecar.read_sidecar(photo).keywords


def test_tag_writes_no_keyword_for_none_and_takes_back_its_own_earlier_one(
    capsys, open_set_card: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    scene = photos(folder, 1, seed=70)[0]
    cat = odd_photo(folder / "cat.png")
    other = odd_photo(folder / "dog.png", seed=1)
    hand = odd_photo(folder / "hand.png", seed=2)
    model_id = scenes.ModelCard.read(open_set_card).model_id
    # before "none" existed this model tagged the cat "sea"; another product's model the dog
    sidecar.write_scene(cat, sidecar.SceneTag("sea", "auto", 0.9, model_id=f"{model_id}/int8"))
    sidecar.write_scene(other, sidecar.SceneTag("sea", "auto", 0.9, model_id="other@123"))
    sidecar.write_scene(hand, sidecar.SceneTag("forest", "manual"))
    code, lines, err = run(capsys, "tag", "--min-confidence", "0", "--model", open_set_card, folder)
    assert code == 0, err
    assert keywords(cat) == [] and sidecar.read_sidecar(cat).scene is None
    assert keywords(other) == ["sea"]  # not ours to take back
    assert keywords(hand) == ["forest"]  # manual: never touched
    assert len(keywords(scene)) == 1
    assert sidecar.read_sidecar(scene).scene.open_set is not None
    assert not (folder / "dog.png.xmp").exists() or keywords(other) == ["sea"]
    cat_line = next(x for x in lines if x.startswith(str(cat)))
    assert "\tnone\tremoved" in cat_line
    # a rerun changes nothing
    code, lines, err = run(capsys, "tag", "--min-confidence", "0", "--model", open_set_card, folder)
    assert "0 written" in err and not (folder / "cat.png.xmp").exists()


def test_a_manual_none_has_no_keyword_survives_a_rescan_and_is_never_classified(
    open_set_card: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "photos"
    photo = photos(folder, 1, seed=80)[0]
    (folder / "photo.jpg.xmp").write_text("")  # nothing yet
    (folder / "photo.jpg.xmp").unlink()
    session = Session.open(folder)
    session.set_manual([0], openset.NONE)
    assert session.counts()[openset.NONE] == 1
    session.save()
    info = sidecar.read_sidecar(photo)
    assert info.keywords == [] and info.hierarchical == [] and info.tags_list == []
    assert info.scene.label == "none" and info.scene.source == "manual"
    text = sidecar.find_sidecar(photo).read_text()
    assert "sceneTagger:label>none<" in text and "dc:subject" not in text
    again = Session.open(folder)  # a rescan
    assert again.records[0].manual == openset.NONE and again.records[0].label == openset.NONE
    assert again.to_classify("tiny-onnx@x", open_set=True) == []
    assert not again.records[0].needs_review(0.8)


def test_a_persons_none_photos_teach_the_personal_model(open_set_card: Path, tmp_path: Path):
    """Marking one flat blue photo "none" and learning: its look-alike goes to none, the
    gradient scenes do not (the open-set rule itself off, so only the person's photo decides)."""
    from app.personal.corrections import Correction, Corrections
    from app.personal.learning import learn_from_corrections
    from app.personal.stack import build_classifier
    from app.personal.versions import PersonalClassifier, Versions

    blue_a, blue_b = odd_photo(tmp_path / "a.png"), odd_photo(tmp_path / "b.png", seed=3)
    scene_photos = photos(tmp_path / "s", 3, seed=40)
    base = Classifier(open_set_card, backend="onnx", none_threshold=math.inf)
    before = list(base.classify_paths([blue_b, *scene_photos]))
    assert all(p.label in scenes.CLASSES for p in before)
    store = Corrections()
    store.record([Correction(blue_a, openset.NONE)])
    outcome = learn_from_corrections(store, base.card, Versions(), base)
    assert outcome.version is not None and outcome.report.none_photos == 1
    assert not outcome.report.adopted and "'Not a scene' photos are used" in outcome.report.reason
    clf = build_classifier(base, cache=False)
    assert isinstance(clf, PersonalClassifier)
    after = list(clf.classify_paths([blue_b, *scene_photos]))
    assert after[0].label == openset.NONE and math.isinf(after[0].open_set)
    assert [p.label for p in after[1:]] == [p.label for p in before[1:]]
    Versions().reset()
    assert build_classifier(base, cache=False) is base
    store.close()
    base.close()


def test_the_learn_gate_wants_evidence_that_survives_noise() -> None:
    from app.personal.head import ADOPT_P, sign_test

    assert sign_test(1, 0) == 0.5  # the one-photo difference that was adopted before
    assert sign_test(4, 0) > ADOPT_P >= sign_test(5, 0)
    assert sign_test(6, 1) > ADOPT_P >= sign_test(7, 1)
    assert sign_test(0, 0) == 1.0


def test_label_scene_none_writes_no_keyword_and_is_a_correction(
    capsys, open_set_card: Path, tmp_path: Path
) -> None:
    from app.personal.corrections import Corrections

    photo = odd_photo(tmp_path / "cat.png")
    args = ("label", "--model", open_set_card, "--scene", "none", photo)
    code, lines, err = run(capsys, *args)
    assert code == 0, err
    info = sidecar.read_sidecar(photo)
    assert info.keywords == [] and (info.scene.label, info.scene.source) == ("none", "manual")
    store = Corrections()
    assert store.counts() == {"none": 1}
    store.close()

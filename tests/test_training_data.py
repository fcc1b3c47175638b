"""Finding the splits in both layouts, clear errors for bad folders, decoding, augmentation."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import make_photo

from app.model.scenes import CLASSES, IMAGENET, INPUT_SIZE, RESCALE_ONLY, to_input
from app.photos import imaging
from training import data


def make_dataset(root: Path, per_class: int = 2, nested: bool = False, size=(150, 150)) -> Path:
    for split in data.SPLITS:
        base = root / split / split if nested else root / split
        for c, cls in enumerate(CLASSES):
            for i in range(per_class):
                make_photo(base / cls / f"{c * 100 + i}.jpg", size=size, seed=c * 100 + i)
    return root


@pytest.mark.parametrize("nested", [False, True])
def test_both_layouts_are_found(tmp_path, nested):
    root = make_dataset(tmp_path / "d", nested=nested)
    index = data.index_split(root, "seg_train")
    assert index.counts() == dict.fromkeys(CLASSES, 2)
    assert [CLASSES[i] for i in index.labels] == [c for c in CLASSES for _ in range(2)]


def test_missing_class_and_foreign_folder_are_clear_errors(tmp_path):
    root = make_dataset(tmp_path / "d")
    for f in (root / "seg_train" / "sea").iterdir():
        f.unlink()
    (root / "seg_train" / "sea").rmdir()
    with pytest.raises(data.DataError, match="class folder missing: .*sea"):
        data.index_split(root, "seg_train")
    (root / "seg_test" / "beach").mkdir()
    with pytest.raises(data.DataError, match="not classes: beach"):
        data.index_split(root, "seg_test")
    with pytest.raises(data.DataError, match="not found"):
        data.index_split(tmp_path / "nowhere", "seg_train")


def test_empty_class_folder_is_a_clear_error(tmp_path):
    root = make_dataset(tmp_path / "d")
    for f in (root / "seg_test" / "forest").iterdir():
        f.unlink()
    with pytest.raises(data.DataError, match="no photos: .*forest"):
        data.index_split(root, "seg_test")


def test_unreadable_photos_are_skipped_and_counted(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENE_TAGGER_CACHE", str(tmp_path / "cache"))
    root = make_dataset(tmp_path / "d", size=(150, 120))
    (root / "seg_train" / "sea" / "broken.jpg").write_bytes(b"not a jpeg")
    dec = data.decode_split(data.index_split(root, "seg_train"), progress=False)
    assert len(dec) == 12 and len(dec.skipped) == 1
    assert dec.skipped[0][0].name == "broken.jpg"
    assert dec.pixels.shape == (12, INPUT_SIZE, INPUT_SIZE, 3) and dec.pixels.dtype == np.uint8
    again = data.decode_split(data.index_split(root, "seg_train"), progress=False)  # from the cache
    assert np.array_equal(again.pixels, dec.pixels) and len(again.skipped) == 1


def test_augmentation_off_is_identity_and_flip_only_mirrors():
    x = torch.rand(8, 3, 20, 20)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(data.augment_batch(x, data.NO_AUGMENT, g), x)
    y = data.augment_batch(x, data.Augment(True, 0, 0, 0, 0), g)
    for a, b in zip(x, y, strict=True):
        assert torch.allclose(a, b, atol=1e-5) or torch.allclose(a.flip(-1), b, atol=1e-5)


def test_study_augmentation_stays_close_and_fills_edges_with_nearest_pixels():
    x = torch.ones(16, 3, 50, 50) * 0.5
    y = data.augment_batch(x, data.STUDY_AUGMENT, torch.Generator().manual_seed(1))
    assert torch.allclose(
        y, x, atol=1e-5
    )  # a flat image stays flat: no black corners (fill_mode=nearest)
    ramp = torch.linspace(0, 1, 50).view(1, 1, 1, 50).expand(16, 3, 50, 50).contiguous()
    z = data.augment_batch(
        ramp, data.Augment(False, 10, 0.1, 0.1, 0.1), torch.Generator().manual_seed(2)
    )
    assert (z - ramp).abs().mean() < 0.2 and not torch.allclose(z, ramp)


def test_batches_are_reproducible_from_seed_and_epoch(tmp_path, monkeypatch):
    monkeypatch.setenv("SCENE_TAGGER_CACHE", str(tmp_path / "cache"))
    dec = data.decode_split(
        data.index_split(make_dataset(tmp_path / "d"), "seg_train"), progress=False
    )

    def run(epoch):
        return [
            (x.clone(), y.clone())
            for x, y in data.iterate_batches(
                dec,
                4,
                RESCALE_ONLY,
                shuffle=True,
                seed=42,
                epoch=epoch,
                aug=data.STUDY_AUGMENT,
                drop_last=True,
            )
        ]

    a, b, c = run(0), run(0), run(1)
    assert len(a) == 3
    assert all(
        torch.equal(x1, x2) and torch.equal(y1, y2) for (x1, y1), (x2, y2) in zip(a, b, strict=True)
    )
    assert not all(torch.equal(x1, x2) for (x1, _), (x2, _) in zip(a, c, strict=True))


def test_holdout_is_stratified_and_disjoint():
    labels = np.repeat(np.arange(6), 50)
    tr, ho = data.stratified_holdout(labels, 0.1, 42)
    assert len(set(tr) & set(ho)) == 0 and len(tr) + len(ho) == 300
    assert np.bincount(labels[ho]).tolist() == [5] * 6


@pytest.mark.parametrize("norm", [IMAGENET, RESCALE_ONLY])
def test_an_unaugmented_training_batch_is_exactly_the_apps_input(tmp_path, monkeypatch, norm):
    """Training and the app share the two steps: imaging.load_pixels (the function the
    engine's decode pool runs on each file) and scenes.to_input. Photos of another size and
    shape than the network's input, so resizing is part of what must agree."""
    monkeypatch.setenv("SCENE_TAGGER_CACHE", str(tmp_path / "cache"))
    root = make_dataset(tmp_path / "d", per_class=2, size=(211, 163))
    index = data.index_split(root, "seg_test")
    decoded = data.decode_split(index, progress=False)
    from_cache = data.decode_split(index, progress=False)
    for dec in (decoded, from_cache):
        seen = 0
        for x, y in data.iterate_batches(dec, 5, norm, shuffle=False):
            for row, label in zip(x, y, strict=True):
                path = dec.paths[seen]
                assert CLASSES[int(label)] == path.parent.name
                app_input = to_input(imaging.load_pixels(path), norm)
                assert app_input.shape == (1, 3, INPUT_SIZE, INPUT_SIZE)
                assert torch.equal(row, app_input[0]), path
                seen += 1
        assert seen == len(index.paths) == 12

"""Label issues in seg_train (training.label_issues) and recipes that leave the flagged photos
out (Recipe.exclude): planted label flips are found, the list round-trips, and a run with a
list never trains on a listed photo while keeping the caches of the same recipe without it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from test_training_resume import TWO_PHASES, splits, train

from app.model.scenes import CLASSES
from training.data import LIST_HEADER, read_list, write_list
from training.label_issues import find_issues, out_of_fold_probs
from training.loop import cached_batches
from training.run import _feature_cache_tag, kept_rows

__all__ = ["splits"]


def test_planted_label_flips_are_found():
    pytest.importorskip("cleanlab")
    rng = np.random.default_rng(0)
    n, dim = 900, 16
    labels = np.arange(n) % len(CLASSES)
    centres = rng.normal(0, 3, (len(CLASSES), dim))
    feats = centres[labels] + rng.normal(0, 1, (n, dim))
    flipped = rng.choice(n, 40, replace=False)
    given = labels.copy()
    given[flipped] = (labels[flipped] + rng.integers(1, len(CLASSES), 40)) % len(CLASSES)
    probs = out_of_fold_probs(feats, given, folds=5, seed=1)
    np.testing.assert_allclose(probs.sum(1), 1.0, atol=1e-9)
    found = set(find_issues(given, probs).tolist())
    hits = len(found & set(flipped.tolist()))
    assert hits >= 32, (hits, len(found))  # recall >= 80 % (34 of 40 when written)
    assert len(found - set(flipped.tolist())) <= 4  # and few clean photos flagged (0)
    again = out_of_fold_probs(feats, given, folds=5, seed=1)
    np.testing.assert_array_equal(probs, again)  # seeded


def test_a_list_round_trips_and_a_foreign_file_is_refused(tmp_path):
    rows = [("glacier/1.jpg", "glacier", "mountain", 0.0312), ("sea/2.jpg", "sea", "sea", 0.4)]
    write_list(tmp_path / "l.tsv", rows, ["made by a test"])
    back = read_list(tmp_path / "l.tsv")
    assert [tuple(r[k] for k in LIST_HEADER) for r in back] == [
        ("glacier/1.jpg", "glacier", "mountain", "0.0312"),
        ("sea/2.jpg", "sea", "sea", "0.4000"),
    ]
    (tmp_path / "x.tsv").write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not a label-issue list"):
        read_list(tmp_path / "x.tsv")


def test_cached_batches_leave_out_the_photos_not_kept_and_their_views():
    n = 10
    original = np.arange(n, dtype=np.float16).reshape(n, 1)
    view = original + 100
    labels = np.arange(n) % 3
    keep = np.ones(n, dtype=bool)
    keep[[2, 7]] = False
    rows, seen = [], []
    for x, y in cached_batches(
        [original, view], labels, 4, shuffle=True, seed=1, epoch=0, keep=keep
    ):
        rows += x[:, 0].tolist()
        seen += y.tolist()
    assert len(rows) == 16  # 8 photos x 2 rows, four full batches
    assert sorted(rows) == sorted(
        [r for r in range(n) if keep[r]] + [r + 100 for r in range(n) if keep[r]]
    )
    assert seen == [labels[int(r) % 100] for r in rows]


def test_a_recipe_with_a_list_trains_without_the_listed_photos(tmp_path, splits):
    listed = [p for p, y in zip(splits.train.paths, splits.train.labels, strict=True) if y == 0][:5]
    rows = [(f"{p.parent.name}/{p.name}", CLASSES[0], CLASSES[1], 0.01) for p in listed]
    rows.append(("seg_train/not-a-training-photo.png", CLASSES[0], CLASSES[1], 0.01))
    write_list(tmp_path / "issues.tsv", rows, ["test"])
    clean = replace(
        TWO_PHASES,
        key="tiny-clean",
        feature_key=TWO_PHASES.key,
        exclude=str(tmp_path / "issues.tsv"),
    )
    said = []
    keep = kept_rows(clean, splits.train, said.append)
    assert int((~keep).sum()) == 5 and not any(
        keep[i] for i in range(len(keep)) if splits.train.paths[i] in listed
    )
    assert "leaving out 5 of 48 training photos" in said[0] and "6 listed" in said[0]
    # the same caches as the recipe without the list; other weights
    assert _feature_cache_tag(clean, splits) == _feature_cache_tag(TWO_PHASES, splits)
    plain, _ = train(TWO_PHASES, splits, tmp_path / "plain")
    cleaned, checkpoint = train(clean, splits, tmp_path / "clean")
    assert not torch.equal(plain["head.1.weight"], cleaned["head.1.weight"])
    assert checkpoint["recipe"]["exclude"] == str(tmp_path / "issues.tsv")
    assert kept_rows(TWO_PHASES, splits.train) is None

"""Augmented views cached as frozen-stage features (training.views): what each view does to a
photo, that a view is a function of (seed, view, row) so a resumed cache is the uninterrupted
one, and that a run over cached views resumes to the uninterrupted weights."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch
from test_training_resume import TWO_PHASES, assert_same_tensors, interrupt, splits, train

from app.model.networks import build_network
from app.model.scenes import CLASSES
from training.loop import _cache_path, cached_batches, compute_stage, make_context
from training.views import VIEWS, View, render

__all__ = ["splits"]  # the fixture, shared with the resume tests


def stripes(vertical: bool, n: int = 2, size: int = 48) -> torch.Tensor:
    """(n,3,size,size) in [0,1]: stripes across x (vertical=True) or across y."""
    ramp = torch.linspace(0.0, 1.0, size)
    img = ramp.view(1, size) if vertical else ramp.view(size, 1)
    return img.expand(size, size).expand(n, 3, size, size).contiguous()


def test_a_mirror_is_exactly_the_flipped_photo():
    x = torch.rand(3, 3, 40, 40, generator=torch.Generator().manual_seed(0))
    out = render(x, View("m", mirror=1.0), torch.Generator().manual_seed(1))
    assert torch.allclose(out, torch.flip(x, dims=[3]), atol=1e-5)
    same = render(x, View("none", mirror=0.0), torch.Generator().manual_seed(1))
    assert torch.allclose(same, x, atol=1e-5)


def test_a_landscape_stretch_squashes_rows_only():
    view = View("s", mirror=0.0, stretch=(16 / 9, 16 / 9))
    across_x = stripes(vertical=True)  # every row the same: stretching rows changes nothing
    assert torch.allclose(
        render(across_x, view, torch.Generator().manual_seed(2)), across_x, atol=1e-5
    )
    across_y = stripes(vertical=False)
    out = render(across_y, view, torch.Generator().manual_seed(2))
    # A 16:9 band holds 9/16 of the rows: the output spans 9/16 of the input's range.
    span = out[:, 0, -1, 0] - out[:, 0, 0, 0]
    assert span == pytest.approx(torch.full_like(span, 9 / 16), abs=0.03)


def test_views_keep_shape_and_range_and_depend_only_on_their_seed():
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    for view in VIEWS.values():
        a = render(x, view, torch.Generator().manual_seed(7))
        b = render(x, view, torch.Generator().manual_seed(7))
        c = render(x, view, torch.Generator().manual_seed(8))
        assert a.shape == x.shape and float(a.min()) >= 0.0 and float(a.max()) <= 1.0
        assert torch.equal(a, b) and not torch.equal(a, c), view.name
        assert not torch.allclose(a, x, atol=0.05), view.name


def test_a_resumed_view_cache_renders_the_uninterrupted_rows(splits, tmp_path):
    torch.manual_seed(0)
    model = build_network("tiny_test", len(CLASSES)).eval()
    ctx = make_context(torch.device("cpu"), "fp32", progress=False)
    args = (model, splits.train, 2, TWO_PHASES.normalization, ctx, "t")
    view = VIEWS["stretch"]
    whole = np.array(compute_stage(*args, batch_size=8, view=view, seed=5))
    plain = np.array(compute_stage(*args, batch_size=8))
    assert not np.allclose(whole, plain)  # the view is not the photo
    path = _cache_path("t", "seg_train", 2, len(splits.train), "stretch")
    partial = np.load(path, mmap_mode="r+")
    partial[16:] = 0
    partial.flush()
    del partial
    path.with_suffix(".done").write_text("16")  # as an interrupted run leaves it
    resumed = np.array(compute_stage(*args, batch_size=8, view=view, seed=5))
    np.testing.assert_array_equal(resumed, whole)


def test_cached_batches_over_views_are_the_original_and_each_view():
    n = 10
    original = np.arange(n, dtype=np.float16).reshape(n, 1)
    view = original + 100
    labels = np.arange(n) % 3
    rows, seen = [], []
    for x, y in cached_batches([original, view], labels, 4, shuffle=True, seed=1, epoch=0):
        rows += x[:, 0].tolist()
        seen += y.tolist()
    assert len(rows) == 20  # two sets of rows, drop_last leaves no partial batch here
    assert sorted(rows) == sorted(list(range(n)) + [v + 100 for v in range(n)])
    assert seen == [labels[int(r) % 100] for r in rows]


CACHED_VIEWS = replace(
    TWO_PHASES,
    key="tiny-views",
    phases=[replace(TWO_PHASES.phases[0], views=("stretch", "crop")), TWO_PHASES.phases[1]],
)


def test_a_run_over_cached_views_resumes_to_the_uninterrupted_weights(tmp_path, splits):
    straight, checkpoint = train(CACHED_VIEWS, splits, tmp_path / "straight")
    plain, _ = train(TWO_PHASES, splits, tmp_path / "plain")
    assert not torch.equal(straight["head.1.weight"], plain["head.1.weight"])
    out = tmp_path / "interrupted"
    stopped = interrupt(CACHED_VIEWS, splits, out, 20)  # 48 photos x 3 = 18 steps an epoch
    assert (stopped["phase"], stopped["epoch"]) == (0, 0)
    resumed, _ = train(CACHED_VIEWS, splits, out, resume=True)
    assert_same_tensors(resumed, straight)


def test_a_recipe_may_share_another_recipes_feature_caches(splits):
    from training.run import _feature_cache_tag

    own = _feature_cache_tag(CACHED_VIEWS, splits)
    sharing = replace(CACHED_VIEWS, key="tiny-views-ft", feature_key=CACHED_VIEWS.key)
    assert _feature_cache_tag(sharing, splits) == own
    assert _feature_cache_tag(replace(sharing, feature_key=None), splits) != own


def test_views_are_cached_only_at_the_stages_of_the_phases_that_go_over_them(tmp_path, splits):
    from training.loop import cache_dir
    from training.run import _feature_cache_tag

    recipe = replace(
        TWO_PHASES,
        key="tiny-views-late",
        phases=[
            TWO_PHASES.phases[0],  # the head, cached at stage 3, on the originals
            replace(TWO_PHASES.phases[0], name="from 2", train="from:2", views=("stretch",)),
        ],
    )
    train(recipe, splits, tmp_path / "late")
    tag = _feature_cache_tag(recipe, splits)
    made = sorted(p.name for p in (cache_dir() / "features").glob(f"{tag}-*-stretch-stage*.npy"))
    assert [n.split("-stretch-")[1].split("-")[0] for n in made] == ["stage2"]

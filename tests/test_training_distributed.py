"""`torchrun --nproc_per_node 2`: two CPU processes (gloo) train exactly what one process
trains, and only rank 0 logs and writes. Each test starts torchrun, so they are slow-ish."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from conftest import REPO
from test_training_data import make_dataset
from test_training_resume import AUGMENTED, TWO_PHASES, synthetic_split, train

from training.run import Splits

TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]

FIT = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    sys.path[:0] = [{repo!r}, {tests!r}]
    import torch
    import test_training_resume as recipes
    from app.model.networks import build_network
    from app.model.scenes import CLASSES
    from training.distributed import Dist
    from training.loop import make_context
    from training.run import FitConfig, Splits, fit

    out, recipe = Path(sys.argv[1]), getattr(recipes, sys.argv[2])
    dist = Dist.from_env()
    splits = Splits(
        recipes.synthetic_split("seg_train", 48, 0),
        recipes.synthetic_split("seg_test", 18, 1),
        recipes.synthetic_split("holdout", 12, 2),
    )
    torch.manual_seed(dist.rank)  # different on each rank: DDP must start them all from rank 0's
    model = build_network(recipe.architecture, len(CLASSES))
    if dist.main:
        torch.manual_seed(0)
        model = build_network(recipe.architecture, len(CLASSES))
    ctx = make_context(torch.device("cpu"), "fp32", progress=False)
    fit(model, splits, FitConfig(recipe, out), ctx, log=print, dist=dist)
    torch.save(model.state_dict(), out / f"final-rank{{dist.rank}}.pt")
    dist.close()
    """
)


def torchrun(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SCENE_TAGGER_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*TORCHRUN, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
@pytest.mark.parametrize("recipe", ["AUGMENTED", "TWO_PHASES"])
def test_two_processes_train_the_weights_of_one(tmp_path: Path, monkeypatch, recipe: str) -> None:
    """Same batches, same augmentation, gradients averaged over the whole batch: two processes
    end where one process ends (float summation order aside). TWO_PHASES also covers the
    feature caches (rank 0 writes them), the holdout and the kept best epoch."""
    script = tmp_path / "fit.py"
    script.write_text(FIT.format(repo=str(REPO), tests=str(REPO / "tests")))
    out = tmp_path / "ddp"
    out.mkdir()
    done = torchrun([str(script), str(out), recipe], tmp_path / "cache-ddp")
    assert done.returncode == 0, done.stderr[-3000:]
    epochs = [line for line in done.stdout.splitlines() if "| epoch " in line]
    expected = {"AUGMENTED": 3, "TWO_PHASES": 4}[recipe]
    assert len(epochs) == expected  # logged once, by rank 0
    monkeypatch.setenv("SCENE_TAGGER_CACHE", str(tmp_path / "cache-single"))
    splits = Splits(
        synthetic_split("seg_train", 48, 0),
        synthetic_split("seg_test", 18, 1),
        synthetic_split("holdout", 12, 2),
    )
    single, checkpoint = train(
        {"AUGMENTED": AUGMENTED, "TWO_PHASES": TWO_PHASES}[recipe], splits, tmp_path / "one"
    )
    ranks = [torch.load(out / f"final-rank{r}.pt", weights_only=True) for r in (0, 1)]
    for name, value in single.items():
        assert torch.equal(ranks[0][name], ranks[1][name]), name  # the ranks agree exactly
        assert torch.allclose(ranks[0][name], value, atol=1e-5, rtol=1e-4), name
    ddp_checkpoint = torch.load(out / "checkpoint.pt", weights_only=True)
    assert ddp_checkpoint["history"]["train_loss"] == pytest.approx(
        checkpoint["history"]["train_loss"], rel=1e-4
    )


@pytest.mark.slow
def test_python_m_training_train_under_torchrun(tmp_path: Path) -> None:
    """The command a user runs: rank 0 alone prints, writes the checkpoint and result.json."""
    root = make_dataset(tmp_path / "data", per_class=8)
    runs = tmp_path / "runs"
    args = ["-m", "training", "train", "simple", "--data", str(root), "--runs", str(runs)]
    done = torchrun([*args, "--epochs", "1", "--steps", "1", "--quiet"], tmp_path / "cache")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("2 processes (DistributedDataParallel)") == 1
    assert done.stdout.count("| epoch 1/1 |") == 1
    result = json.loads((runs / "simple" / "result.json").read_text())
    assert result["n_test"] == 48 and len(result["history"]["train_loss"]) == 1
    assert (runs / "simple" / "checkpoint.pt").is_file()

"""Can the head alone learn the aspect stretch? Refit the last layer on the replay bank's 3,000
seg_train photos plus one stretched view of each (a 4:3, 3:2 or 16:9 band, squashed back to the
square as the app squashes a camera photo; mirrored half the time), through the int8 runtime's
features, and score seg_test, the proxy and real-scenes-dev.

    python bench/head_views.py [--work /tmp/headviews] [--proxy /tmp/seg_test_proxy]

Features are cached under --work (about 3 minutes on 2 cores the first time). Figures go to
docs/findings.md. real-scenes-dev is only measured, never fitted on.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.model import scenes
from app.model.engine import Classifier
from app.personal import head as personal
from app.photos import imaging
from training import data
from training.replay import choose

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
ASPECTS = (4 / 3, 3 / 2, 16 / 9)


def stretched(path: Path, rng: np.random.Generator) -> np.ndarray:
    """A camera-shaped band of the photo (landscape 4 times in 5), squashed to the square."""
    img = imaging.open_photo(path)
    w, h = img.size
    a = ASPECTS[rng.integers(len(ASPECTS))]
    if rng.random() < 0.8:
        ch = max(1, round(w / a))
        top = int(rng.integers(0, h - ch + 1))
        img = img.crop((0, top, w, top + ch))
    else:
        cw = max(1, round(h / a))
        left = int(rng.integers(0, w - cw + 1))
        img = img.crop((left, 0, left + cw, h))
    if rng.random() < 0.5:
        img = img.transpose(0)  # mirror
    return imaging.resize_for_model(img)


def features(clf: Classifier, paths: list[Path], cache: Path) -> np.ndarray:
    if cache.exists():
        return np.load(cache)["f"]
    out = []
    for pred in clf.classify_paths(paths):
        assert pred.ok, pred.error
        out.append(pred.feature)
    np.savez(cache, f=np.stack(out))
    return np.stack(out)


def by_class(folder: Path) -> tuple[list[Path], np.ndarray]:
    paths, labels = [], []
    for i, c in enumerate(scenes.CLASSES):
        for p in sorted((folder / c).iterdir()):
            paths.append(p)
            labels.append(i)
    return paths, np.array(labels)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/headviews"))
    ap.add_argument("--proxy", type=Path, default=Path("/tmp/seg_test_proxy"))
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    index = data.index_split(SHARED / "intel-scenes", "seg_train")
    picked = choose(index.labels, 500)  # the replay bank's photos, in its order
    paths = [index.paths[i] for i in picked]
    y = np.asarray(index.labels)[picked]
    bank = personal.ReplayBank.load()
    assert (bank.labels == y).all(), "the replay bank was made from these photos"
    real = SHARED / "real-scenes-dev"
    rows = [line.split("\t") for line in (real / "LABELS.tsv").read_text().splitlines()[1:]]
    sets = {
        "seg_test": by_class(SHARED / "intel-scenes" / "seg_test"),
        "proxy": by_class(args.proxy),
        "real": ([real / r[0] for r in rows], np.array([scenes.CLASSES.index(r[1]) for r in rows])),
    }
    with Classifier(None, backend="onnx", precision="int8") as clf:
        cache = args.work / "stretch.npz"
        if cache.exists():
            xs = np.load(cache)["f"]
        else:
            rng, out = np.random.default_rng(0), []
            for s in range(0, len(paths), 32):
                _, f = clf.runtime.run_pixels(
                    np.stack([stretched(p, rng) for p in paths[s : s + 32]])
                )
                out.append(f)
            xs = np.concatenate(out)
            np.savez(cache, f=xs)
        scored = {
            k: (features(clf, p, args.work / f"{k}.npz"), lab) for k, (p, lab) in sets.items()
        }
    scored["stretched seg_train"] = (xs, y)
    base = personal.Head.from_card(None)

    def row(name: str, head: personal.Head) -> None:
        accs = [
            f"{k} {100 * float((head.logits(np.asarray(x, np.float64)).argmax(1) == lab).mean()):6.2f}"
            for k, (x, lab) in scored.items()
        ]
        print(f"{name:38s} " + "  ".join(accs), flush=True)

    row("bundled head", base)
    xo = bank.features.astype(np.float64)
    both, twice = np.concatenate([xo, xs]), np.concatenate([y, y])
    for prox in (0.1, 0.01, 0.001):
        row(
            f"last layer, +stretch views, prox {prox:g}",
            personal.fit(base, both, twice, None, prox=prox, max_iter=300),
        )
    row(
        "last layer, originals only, prox 0.01",
        personal.fit(base, xo, y, None, prox=0.01, max_iter=300),
    )
    print(f"({time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Does learning from corrections help? A simulated person on a shifted domain, and real photos.

    python bench/bench_learning.py [--per-class 150] [--seed 0] [--work /tmp/scene-learning]

1. A shifted domain: seg_test photos (PER_CLASS per scene, fixed seed) cropped to 4:3 and
   colour-graded (one camera profile per folder: tint, gamma, saturation, contrast drawn with
   a fixed seed, 3 % jitter per photo), written
   as JPEGs under --work (never in the repository). The person reviews them least confident
   first, as the window's review list shows them, and corrects the first K wrong ones
   (K = 10, 25, 50); `app.personal.head.learn` fits and decides; the personal head then classifies
   every photo the person did not correct. Reported: accuracy before/after on those photos,
   on the same seg_test photos without the shift, on the replay bank, and the time to learn.
2. real-scenes-dev: a stratified half (fixed seed) labelled by hand, the other half measured,
   and the other way round.

Features come from the app's default CPU runtime (ONNX int8), cached under --work.
Figures go to docs/learning.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

# the app from this checkout (run as `python bench/bench_learning.py` from anywhere)
personal = importlib.import_module("app.personal.head")
scenes = importlib.import_module("app.model.scenes")
Classifier = importlib.import_module("app.model.engine").Classifier

SHARED = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
INTEL = SHARED / "intel-scenes" / "seg_test"
REAL = SHARED / "real-scenes-dev"
KS = (10, 25, 50)


@dataclass(frozen=True)
class Profile:
    """One camera's look: a colour cast, a tone curve, saturation and contrast, fixed per folder
    (a person's photos share their camera), with a little jitter per photo."""

    tint: tuple[float, float, float]
    gamma: float
    saturation: float
    contrast: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Profile:
        r, b = rng.uniform(0.1, 0.2), rng.uniform(-0.2, -0.1)
        return cls(
            (1 + r, 1.0, 1 + b),
            rng.uniform(1.25, 1.45),
            rng.uniform(0.45, 0.6),
            rng.uniform(0.65, 0.8),
        )


def grade(img: Image.Image, profile: Profile, rng: np.random.Generator) -> Image.Image:
    """Crop to 4:3 (a random band) and colour-grade with the profile (+ 3 % jitter)."""
    w, h = img.size
    ch = int(round(w * 3 / 4))
    top = int(rng.integers(0, h - ch + 1)) if h > ch else 0
    img = img.crop((0, top, w, min(h, top + ch)))
    a = np.asarray(img, np.float32) / 255.0
    jitter = rng.uniform(0.97, 1.03, size=6)
    a = np.clip(a * np.asarray(profile.tint) * jitter[:3], 0, 1) ** (profile.gamma * jitter[3])
    img = Image.fromarray((a * 255).astype(np.uint8))
    img = ImageEnhance.Color(img).enhance(profile.saturation * jitter[4])
    return ImageEnhance.Contrast(img).enhance(profile.contrast * jitter[5])


def pick(per_class: int, seed: int) -> tuple[list[Path], np.ndarray]:
    rng = np.random.default_rng(seed)
    paths, labels = [], []
    for i, c in enumerate(scenes.CLASSES):
        files = sorted((INTEL / c).glob("*.jpg"))
        for j in rng.permutation(len(files))[:per_class]:
            paths.append(files[j])
            labels.append(i)
    return paths, np.asarray(labels)


def make_shifted(paths: list[Path], work: Path, seed: int) -> tuple[list[Path], Profile]:
    rng = np.random.default_rng(seed + 1)
    profile = Profile.draw(rng)
    out = []
    for p in paths:
        dst = work / f"shifted-{seed}" / p.parent.name / p.name
        img = grade(Image.open(p).convert("RGB"), profile, rng)  # rng advances either way
        if not dst.exists():
            dst.parent.mkdir(parents=True, exist_ok=True)
            img.save(dst, quality=90)
        out.append(dst)
    return out, profile


def features(clf: Classifier, paths: list[Path], cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(features, probabilities of the bundled model) per photo, cached."""
    if cache.exists():
        d = np.load(cache)
        return d["features"], d["probs"]
    f, p = [], []
    for pred in clf.classify_paths(paths):
        assert pred.ok and pred.feature is not None, pred.error
        f.append(pred.feature)
        p.append(list(pred.scores.values()))
    np.savez(cache, features=np.stack(f), probs=np.asarray(p))
    return np.stack(f), np.asarray(p)


def acc(pred: np.ndarray, y: np.ndarray) -> float:
    return float((pred == y).mean())


def simulate(x, probs, y, clean_x, clean_y, base, replay, t0, k, mode):
    """The person reviews least confident first (the review list's order) until K photos the
    model got wrong are corrected. mode 'wrong-only': only those K are labelled by hand;
    'reviewed': every photo reviewed is labelled (the right ones confirmed with their key,
    as photos under the threshold need a label to be saved at all)."""
    order = np.argsort(probs.max(1), kind="stable")
    wrong = np.cumsum(probs[order].argmax(1) != y[order])
    if wrong[-1] < k:
        return None
    reviewed = order[: int(np.searchsorted(wrong, k)) + 1]
    corrected = (
        reviewed[probs[reviewed].argmax(1) != y[reviewed]] if mode == "wrong-only" else reviewed
    )
    labels = [scenes.CLASSES[y[i]] for i in corrected]
    learned = personal.learn(x[corrected], labels, base, replay, t0)
    rest = np.setdiff1d(np.arange(len(y)), corrected)
    head = learned.head
    r = learned.report
    return {
        "mode": mode,
        "K": k,
        "labelled": len(corrected),
        "other_photos": len(rest),
        "before": acc(probs[rest].argmax(1), y[rest]),
        "after": acc(head.logits(x[rest]).argmax(1), y[rest]),
        "clean_before": acc(base.logits(clean_x).argmax(1), clean_y),
        "clean_after": acc(head.logits(clean_x).argmax(1), clean_y),
        "cv_bundled": r.bundled_accuracy,
        "cv_personal": r.personal_accuracy,
        "replay_before": r.replay_before,
        "replay_after": r.replay_after,
        "temperature": r.temperature,
        "adopted": r.adopted,
        "reason": r.reason,
        "seconds": r.seconds,
    }


def real_halves(clf, work, base, replay, t0, seed):
    rows = [line.split("\t") for line in (REAL / "LABELS.tsv").read_text().splitlines()[1:]]
    paths = [REAL / r[0] for r in rows]
    y = np.array([scenes.CLASSES.index(r[1]) for r in rows])
    x, probs = features(clf, paths, work / "real.npz")
    fold = personal.folds_for(y, 2, seed)
    out = []
    for a in (0, 1):
        train, test = fold == a, fold != a
        learned = personal.learn(x[train], [scenes.CLASSES[i] for i in y[train]], base, replay, t0)
        out.append(
            {
                "labelled_half": "A" if a == 0 else "B",
                "labelled": int(train.sum()),
                "measured": int(test.sum()),
                "before": acc(probs[test].argmax(1), y[test]),
                "after": acc(learned.head.logits(x[test]).argmax(1), y[test]),
                "labelled_before": acc(probs[train].argmax(1), y[train]),
                "cv_personal": learned.report.personal_accuracy,
                "replay_before": learned.report.replay_before,
                "replay_after": learned.report.replay_after,
                "adopted": learned.report.adopted,
                "reason": learned.report.reason,
                "seconds": learned.report.seconds,
                "all_110_before": acc(probs.argmax(1), y),
            }
        )
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=150)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("/tmp/scene-learning"))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    paths, y = pick(args.per_class, args.seed)
    shifted, profile = make_shifted(paths, args.work, args.seed)
    tag = f"{args.per_class}-{args.seed}"
    with Classifier(None, backend="onnx", precision="int8") as clf:
        start = time.perf_counter()
        x, probs = features(clf, shifted, args.work / f"graded-{tag}.npz")
        clean_x, _ = features(clf, paths, args.work / f"clean-{tag}.npz")
        t0 = clf.runtime.temperature
        base = personal.Head.from_card(clf.card)
        replay = personal.ReplayBank.load()
        real = real_halves(clf, args.work, base, replay, t0, args.seed)
        feature_seconds = time.perf_counter() - start
    result = {
        "load": os.getloadavg(),
        "photos": len(y),
        "profile": asdict(profile),
        "feature_seconds": round(feature_seconds, 1),
        "shifted_bundled_accuracy": acc(probs.argmax(1), y),
        "clean_bundled_accuracy": acc(base.logits(clean_x).argmax(1), y),
        "simulation": [
            simulate(x, probs, y, clean_x, y, base, replay, t0, k, mode)
            for mode in ("reviewed", "wrong-only")
            for k in KS
        ],
        "real_scenes_dev": real,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

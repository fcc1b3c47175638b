"""seg_test photos where the model and the label disagree, for checking by eye; and accuracy on
the seg_test photos whose labels were not found wrong (docs/seg_test_checked.md).

    # 1. the disagreements of the bundled model, default runtime (probabilities cached in --work)
    python bench/seg_test_check.py list --work /tmp/seg_test_check
    #    -> WORK/disagree.tsv and WORK/sheets/seg_test-NN.png (bench/contact_sheet.py)
    # 2. after the verdicts are written into docs/seg_test_checked.tsv:
    python bench/seg_test_check.py score [--probs OTHER.npz]

`score` prints the official accuracy and the accuracy without the photos whose verdict is
"wrong" (a photo nobody checked counts as rightly labelled), for the bundled model or for any
probabilities saved as an npz with `probs`, `labels` and `paths` (paths ending in
seg_test/<class>/<file>).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from app.model.scenes import CLASSES  # noqa: E402

DATA = REPO.parent.parent / "shared" / "data" / "intel-scenes"
if not DATA.is_dir():
    DATA = Path("/work/shared/data/intel-scenes")
VERDICTS = REPO / "docs" / "seg_test_checked.tsv"
VERDICT_HEADER = ("relpath", "label", "model", "p_model", "verdict", "scene")


def relpath(path: str | Path) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}"


def bundled_probs(work: Path, data: Path) -> dict[str, np.ndarray]:
    """The default runtime's calibrated probabilities over seg_test (cached in `work`)."""
    from app.model.engine import Classifier
    from training.data import index_split

    index = index_split(data, "seg_test")
    with Classifier() as clf:
        cache = work / f"seg_test.{clf.model_id.replace('/', '_')}.npz"
        if cache.is_file():
            return dict(np.load(cache))
        probs = []
        for pred in clf.classify_paths(index.paths):
            if not pred.ok:
                raise SystemExit(f"{pred.path}: {pred.error}")
            probs.append([pred.scores[c] for c in CLASSES])
        rec = {
            "probs": np.asarray(probs, dtype=np.float32),
            "labels": index.labels,
            "paths": np.asarray([str(p) for p in index.paths]),
            "model_id": np.asarray(clf.model_id),
        }
    work.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **rec)
    return rec


def read_verdicts(path: Path = VERDICTS) -> dict[str, dict[str, str]]:
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    if tuple(lines[0].split("\t")) != VERDICT_HEADER:
        raise SystemExit(f"{path}: header is not {VERDICT_HEADER}")
    rows = [dict(zip(VERDICT_HEADER, ln.split("\t"), strict=True)) for ln in lines[1:]]
    return {r["relpath"]: r for r in rows}


def score(rec: dict[str, np.ndarray], verdicts: dict[str, dict[str, str]]) -> dict[str, float]:
    pred, labels = rec["probs"].argmax(1), rec["labels"]
    names = [relpath(p) for p in rec["paths"]]
    wrong = np.array([verdicts.get(n, {}).get("verdict") == "wrong" for n in names])
    ambiguous = np.array([verdicts.get(n, {}).get("verdict") == "ambiguous" for n in names])
    right = pred == labels
    keep, strict = ~wrong, ~(wrong | ambiguous)
    return {
        "n": len(labels),
        "official": float(right.mean()),
        "n_without_wrong": int(keep.sum()),
        "without_wrong": float(right[keep].mean()),
        "n_without_wrong_or_ambiguous": int(strict.sum()),
        "without_wrong_or_ambiguous": float(right[strict].mean()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=["list", "score"])
    ap.add_argument("--work", type=Path, default=Path("/tmp/seg_test_check"))
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--probs", type=Path, help="probabilities (npz) instead of the bundled model's")
    ap.add_argument("--verdicts", type=Path, default=VERDICTS)
    args = ap.parse_args(argv)
    rec = dict(np.load(args.probs)) if args.probs else bundled_probs(args.work, args.data)
    if args.what == "score":
        for k, v in score(rec, read_verdicts(args.verdicts)).items():
            print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
        return 0
    probs, labels = rec["probs"], rec["labels"]
    pred = probs.argmax(1)
    bad = np.flatnonzero(pred != labels)
    bad = sorted(bad, key=lambda i: (labels[i], pred[i], -probs[i, pred[i]]))
    print(f"{len(bad)} of {len(labels)} disagree (accuracy {(pred == labels).mean():.4f})")
    args.work.mkdir(parents=True, exist_ok=True)
    sheet_list = args.work / "disagree.tsv"
    rows = ["path\tcaption"]
    for i in bad:
        given, said = CLASSES[labels[i]], CLASSES[pred[i]]
        rows.append(
            f"{rec['paths'][i]}\t{relpath(rec['paths'][i])} | label {given} / model {said} "
            f"{probs[i, pred[i]]:.2f}"
        )
    sheet_list.write_text("\n".join(rows) + "\n", encoding="utf-8")
    skeleton = args.work / "verdicts-skeleton.tsv"
    lines = ["\t".join(VERDICT_HEADER)]
    for i in bad:
        lines.append(
            f"{relpath(rec['paths'][i])}\t{CLASSES[labels[i]]}\t{CLASSES[pred[i]]}\t"
            f"{probs[i, pred[i]]:.2f}\t\t"
        )
    skeleton.write_text("\n".join(lines) + "\n", encoding="utf-8")
    from contact_sheet import sheets  # bench/, beside this file

    items = [(Path(rec["paths"][i]), rows[k + 1].split("\t", 1)[1]) for k, i in enumerate(bad)]
    for p in sheets(items, args.work / "sheets" / "seg_test"):
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())

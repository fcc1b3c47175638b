"""Two ways to fit a temperature, measured on the bundled model's real logits (issue 24).

    python bench/temperature_fit.py [--work /tmp/real_photos] [--splits 20]

The app fitted a personal head's temperature by a 61-point grid over [T0/2, 2·T0]; training
fitted the bundled model's with scipy's bounded minimiser over log T in [0.05, 20]. Both are
run here on the int8 model's seg_test logits (read the app's way, cached in --work as
bench/real_photos.py caches them), beside app.model.calibration.fit_temperature (a grid 0.5 %
apart): fitted on one half, judged on the other (NLL, ECE), `--splits` random halves; and on
small samples (20 and 60 photos) as a person's corrections are, within [T0/2, 2·T0].
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import numpy as np
from real_photos import SETS, pixels_of, scored

from app.model.calibration import fit_temperature, nll, softmax, temperature_grid
from training.metrics import expected_calibration_error


def scipy_bounded(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float]) -> float:
    """What training/cli.py did: scipy's bounded Brent over log T."""
    from scipy.optimize import minimize_scalar

    best = minimize_scalar(
        lambda log_t: nll(logits, labels, float(np.exp(log_t))),
        bounds=(np.log(bounds[0]), np.log(bounds[1])),
        method="bounded",
    )
    return float(np.exp(best.x))


def grid61(logits: np.ndarray, labels: np.ndarray, bounds: tuple[float, float]) -> float:
    """What app/personal/head.py did: 61 temperatures log-spaced over the bounds."""
    grid = np.exp(np.linspace(np.log(bounds[0]), np.log(bounds[1]), 61))
    return float(grid[int(np.argmin([nll(logits, labels, t) for t in grid]))])


METHODS = {"scipy bounded": scipy_bounded, "grid 61": grid61, "grid 0.5 %": fit_temperature}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/real_photos"))
    ap.add_argument("--splits", type=int, default=20)
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    pixels, labels = pixels_of("seg_test", SETS["seg_test"], args.work)
    rec = scored("seg_test", "int8", pixels, args.work, None, flips=False)
    logits, t0 = rec["plain"].astype(np.float64), float(rec["temperature"])
    print(f"seg_test int8: {len(labels)} photos, card temperature {t0:.4f}")
    rng = np.random.default_rng(0)
    regimes = [("half of seg_test, bounds (0.05, 20)", None, (0.05, 20.0))]
    regimes += [(f"{n} photos, bounds (T0/2, 2·T0)", n, (t0 / 2, 2 * t0)) for n in (20, 60)]
    for title, n, bounds in regimes:
        rows: dict[str, list[tuple[float, float, float, float]]] = {m: [] for m in METHODS}
        for _ in range(args.splits):
            order = rng.permutation(len(labels))
            fit_idx = order[: n or len(order) // 2]
            test_idx = order[len(order) // 2 :]
            for name, method in METHODS.items():
                start = time.perf_counter()
                t = method(logits[fit_idx], labels[fit_idx], bounds)
                took = time.perf_counter() - start
                held = logits[test_idx]
                ece = expected_calibration_error(softmax(held, t), labels[test_idx])
                rows[name].append((t, nll(held, labels[test_idx], t), ece, took))
        print(f"\n{title}, {args.splits} random splits (mean ± sd; judged on the other half)")
        print("| method | T | held-out NLL | held-out ECE | ms per fit |")
        print("|---|---|---|---|---|")
        for name, r in rows.items():
            a = np.array(r)
            print(
                f"| {name} | {a[:, 0].mean():.4f} ± {a[:, 0].std():.4f} "
                f"| {a[:, 1].mean():.6f} | {a[:, 2].mean():.5f} | {1000 * a[:, 3].mean():.1f} |"
            )
        ref = np.array(rows["scipy bounded"])
        for name in ("grid 61", "grid 0.5 %"):
            a = np.array(rows[name])
            print(
                f"{name} vs scipy: |ΔT/T| max {np.abs(a[:, 0] / ref[:, 0] - 1).max():.4f}, "
                f"ΔNLL max {np.abs(a[:, 1] - ref[:, 1]).max():.2e}"
            )
    print(f"\ngrid 0.5 % over (0.05, 20): {len(temperature_grid(0.05, 20.0))} temperatures")
    print(f"load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

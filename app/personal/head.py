"""The personal head: the bundled head refitted on the person's corrections, in numpy alone.

The network's pooled feature (512 values for VGG16) is what its head sees. A personal model is
the bundled head (Linear(512,64)-ReLU-Linear(64,6)) with its last layer θ refitted, in well under
a second on the CPU without torch:

    J(θ) = mean CE(corrections) + REPLAY_WEIGHT · mean CE(replay bank) + PROX/2 · ‖θ − θ₀‖²

θ₀ is the bundled last layer (read with the rest of the head from the safetensors through
safetensors' numpy API); the fit starts there, the proximal term (L2-SP) pulls it back there,
and the replay bank (seg_train features shipped in resources/) keeps the six scenes it knows.
The first layer stays the bundled one: refitting it too was measured (docs/learning.md) to be
5-20 times slower, no better on the person's other photos, and non-convex (ReLU kinks: no two
optimizers agree on its optimum). With it frozen J is convex, L-BFGS (written here: scipy is not a
core dependency) reaches its one optimum, and tests/test_personal.py finds the same weights
with torch's L-BFGS and autograd.

Whether it helped is measured, never assumed: k-fold cross-validation over the corrections gives
the bundled head's and the personal head's accuracy on the person's own held-out photos, and the
replay bank's accuracy before and after. The new head is adopted only if it beats the bundled one
on held-out corrections, loses at most MAX_REPLAY_DROP_POINTS on the replay bank, and the
corrections include at least MIN_CONFIRMATIONS photos the bundled model got right (otherwise
the held-out comparison cannot see what would break; see MIN_CONFIRMATIONS).

Calibration: the personal head's temperature is fitted on the out-of-fold logits of the
corrections (the person's photos, never seen by the head that scored them), within
[T₀/2, 2·T₀] around the bundled temperature T₀. No Qt, no torch.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from app.model import scenes
from app.model.calibration import fit_temperature

MIN_CORRECTIONS = 10  # fewer cannot be split into folds that say anything
MIN_SCENES = 2
# Corrections the bundled model already gets right (a photo labelled by hand with the scene it
# showed). Without them the held-out test is blind: the bundled model scores 0 % on photos chosen
# because it got them wrong, anything beats that, and the simulation in docs/learning.md adopted
# heads that cost 2 points on the person's other photos. With them it sees what would break.
MIN_CONFIRMATIONS = 5
FOLDS = 5
REPLAY_WEIGHT = 5.0  # the bank's mean CE counts five times the corrections' mean CE
PROX = 1e-1
MAX_ITER = 200
REPLAY_FIT_PER_CLASS = 500  # replay photos per scene in each fit (500: the whole bank)
MAX_REPLAY_DROP_POINTS = 0.5
# The held-out evidence a head must bring: on the corrections where the personal and the
# bundled head disagree about being right, the one-sided exact sign test (McNemar's, exact)
# must give p <= ADOPT_P. A one-photo difference (20 corrections, 60 % -> 65 %) is p = 0.5; it
# takes at least 5 photos fixed and none broken (p = 0.031), or 7 fixed and 1 broken (0.035).
ADOPT_P = 0.05
REPLAY_NAME = "replay_features"


class LearnError(ValueError):
    """learn cannot run (too few corrections, one scene, no replay bank); says why."""


# --------------------------------------------------------------------------------------------
# The head


@dataclass
class Head:
    """Linear layers with ReLU between them, torch's layout (weight: out × in)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray]

    @classmethod
    def from_card(cls, card: scenes.ModelCard | None = None) -> Head:
        """The bundled head, without torch: from the card's safetensors (sha256 checked), or,
        where the bundle leaves that file out (the torch-free app keeps only the int8 ONNX
        model), from the copy of the head in the replay bank, which names the weights' sha256."""
        from safetensors.numpy import load

        card = (
            card
            if isinstance(card, scenes.ModelCard)
            else scenes.ModelCard.read(card or scenes.default_card_path())
        )
        path = card.weights_path
        if path.is_file():
            data = path.read_bytes()
            if scenes.sha256_bytes(data) != card.weights_sha256:
                raise scenes.ModelError(f"weights file {path} does not match its model card")
            tensors = load(data)
        else:
            try:
                bank = ReplayBank.load(path.parent)
            except LearnError as exc:
                raise scenes.ModelError(f"{path} is missing and {exc}") from exc
            if bank.info.get("weights_sha256") != card.weights_sha256:
                raise scenes.ModelError(
                    f"{path} is missing and the replay bank's head belongs to other weights"
                )
            tensors = bank.head
        return cls.from_state(tensors, str(path))

    @classmethod
    def from_state(cls, tensors: dict[str, np.ndarray], where: str = "weights") -> Head:
        """The `head.N.weight` / `head.N.bias` tensors of a state dict."""
        layers = sorted({int(k.split(".")[1]) for k in tensors if k.startswith("head.")})
        if not layers:
            raise scenes.ModelError(f"{where} has no head layers (head.N.weight)")
        w = [np.asarray(tensors[f"head.{i}.weight"], np.float64) for i in layers]
        b = [np.asarray(tensors[f"head.{i}.bias"], np.float64) for i in layers]
        return cls(w, b)

    @property
    def shapes(self) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        return [(w.shape, b.shape) for w, b in zip(self.weights, self.biases, strict=True)]

    @property
    def in_features(self) -> int:
        return int(self.weights[0].shape[1])

    def flat(self) -> np.ndarray:
        parts = []
        for w, b in zip(self.weights, self.biases, strict=True):
            parts += [w.ravel(), b.ravel()]
        return np.concatenate(parts).astype(np.float64)

    def with_flat(self, theta: np.ndarray) -> Head:
        w, b, at = [], [], 0
        for ws, bs in self.shapes:
            n = int(np.prod(ws))
            w.append(theta[at : at + n].reshape(ws))
            at += n
            b.append(theta[at : at + bs[0]].copy())
            at += bs[0]
        return Head(w, b)

    def hidden(self, x: np.ndarray) -> np.ndarray:
        """What the last layer sees: every layer but the last (with its ReLU)."""
        h = np.asarray(x, dtype=np.float64)
        for w, b in zip(self.weights[:-1], self.biases[:-1], strict=True):
            h = np.maximum(h @ w.T + b, 0.0)
        return h

    def last(self) -> Head:
        return Head(self.weights[-1:], self.biases[-1:])

    def with_last(self, last: Head) -> Head:
        return Head(self.weights[:-1] + last.weights, self.biases[:-1] + last.biases)

    def logits(self, x: np.ndarray) -> np.ndarray:
        h = np.asarray(x, dtype=np.float64)
        last = len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T + b
            if i < last:
                h = np.maximum(h, 0.0)
        return h

    def tensors(self) -> dict[str, np.ndarray]:
        out = {}
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            out[f"layer{i}.weight"], out[f"layer{i}.bias"] = (
                w.astype(np.float32),
                b.astype(np.float32),
            )
        return out

    @classmethod
    def from_tensors(cls, tensors: dict[str, np.ndarray]) -> Head:
        n = len([k for k in tensors if k.endswith(".weight")])
        return cls(
            [np.asarray(tensors[f"layer{i}.weight"], np.float64) for i in range(n)],
            [np.asarray(tensors[f"layer{i}.bias"], np.float64) for i in range(n)],
        )


# --------------------------------------------------------------------------------------------
# The objective and its fit


def objective(
    head: Head,
    theta: np.ndarray,
    theta0: np.ndarray,
    sets: list[tuple[np.ndarray, np.ndarray, float]],
    prox: float = PROX,
    dtype: Any = np.float64,
) -> tuple[float, np.ndarray]:
    """J(θ) and its gradient. `sets`: (features, labels, weight); each set's CE is a mean.
    The matrix products run in `dtype` (float32 is twice as fast for big heads), sums in
    float64."""
    model = head.with_flat(theta)
    weights = [w.astype(dtype) for w in model.weights]
    grads_w = [np.zeros_like(w) for w in model.weights]
    grads_b = [np.zeros_like(b) for b in model.biases]
    total = 0.0
    last = len(model.weights) - 1
    for x, y, weight in sets:
        if not len(x) or weight == 0:
            continue
        acts = [np.asarray(x, dtype)]
        h = acts[0]
        for i, (w, b) in enumerate(zip(weights, model.biases, strict=True)):
            h = h @ w.T + b.astype(dtype)
            if i < last:
                h = np.maximum(h, 0.0)
                acts.append(h)
        h = h.astype(np.float64)
        z = h - h.max(axis=1, keepdims=True)
        logsum = np.log(np.exp(z).sum(axis=1))
        n = len(x)
        total += weight * float((logsum - z[np.arange(n), y]).mean())
        delta = np.exp(z - logsum[:, None])
        delta[np.arange(n), y] -= 1.0
        delta *= weight / n
        delta = delta.astype(dtype)
        for i in range(last, -1, -1):
            grads_w[i] += delta.T @ acts[i]
            grads_b[i] += delta.sum(axis=0, dtype=np.float64)
            if i > 0:
                delta = (delta @ weights[i]) * (acts[i] > 0)
    diff = theta - theta0
    total += 0.5 * prox * float(diff @ diff)
    grad = np.concatenate(
        [g for pair in zip(grads_w, grads_b, strict=True) for g in (pair[0].ravel(), pair[1])]
    )
    return total, grad + prox * diff


def lbfgs(
    fun: Any, x0: np.ndarray, max_iter: int = MAX_ITER, memory: int = 10, gtol: float = 1e-6
) -> tuple[np.ndarray, int]:
    """Minimise `fun(x) -> (f, grad)`: L-BFGS, two-loop recursion, Armijo backtracking.
    Returns (x, iterations). Deterministic."""
    x = x0.copy()
    f, g = fun(x)
    s_hist: list[np.ndarray] = []
    y_hist: list[np.ndarray] = []
    it = 0
    while it < max_iter:
        it += 1
        if np.abs(g).max() < gtol:
            break
        q = g.copy()
        alphas = []
        for s, y in zip(reversed(s_hist), reversed(y_hist), strict=True):
            a = (s @ q) / (y @ s)
            alphas.append(a)
            q -= a * y
        if s_hist:
            q *= (s_hist[-1] @ y_hist[-1]) / (y_hist[-1] @ y_hist[-1])
        else:
            q /= max(1.0, float(np.linalg.norm(g)))
        for (s, y), a in zip(zip(s_hist, y_hist, strict=True), reversed(alphas), strict=True):
            q += s * (a - (y @ q) / (y @ s))
        d = -q
        slope = float(g @ d)
        if slope >= 0:  # not a descent direction: start the memory again
            s_hist.clear()
            y_hist.clear()
            d, slope = -g, -float(g @ g)
        step = 1.0
        while True:
            x_new = x + step * d
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s, y = x_new - x, g_new - g
        if y @ s > 1e-12:
            s_hist.append(s)
            y_hist.append(y)
            if len(s_hist) > memory:
                s_hist.pop(0)
                y_hist.pop(0)
        done = abs(f - f_new) <= 1e-12 * max(1.0, abs(f))
        x, f, g = x_new, f_new, g_new
        if done:
            break
    return x, it


def fit(
    base: Head,
    x: np.ndarray,
    y: np.ndarray,
    replay: tuple[np.ndarray, np.ndarray] | None,
    replay_weight: float = REPLAY_WEIGHT,
    prox: float = PROX,
    max_iter: int = MAX_ITER,
    hidden: bool = False,
) -> Head:
    """The personal head for corrections (x, y): the bundled head with its last layer refitted,
    starting from and regularized toward the bundled one. Only the last layer moves, so the
    problem is convex (multinomial logistic regression with an L2 pull toward the bundled
    weights): one optimum, found in a fraction of a second, the same whichever optimizer finds
    it. `hidden`: x and the replay features are already `base.hidden(...)` (learn() computes
    them once for all its folds)."""
    to_hidden = (lambda a: np.asarray(a, np.float64)) if hidden else base.hidden
    last = base.last()
    theta0 = last.flat()
    sets = [(to_hidden(x), np.asarray(y, np.int64), 1.0)]
    if replay is not None and replay_weight > 0:
        sets.append((to_hidden(replay[0]), np.asarray(replay[1], np.int64), replay_weight))
    theta, _ = lbfgs(lambda t: objective(last, t, theta0, sets, prox, np.float64), theta0, max_iter)
    return base.with_last(last.with_flat(theta))


# --------------------------------------------------------------------------------------------
# The replay bank


@dataclass
class ReplayBank:
    features: np.ndarray  # float32 (N, D)
    labels: np.ndarray  # int64 (N,)
    info: dict[str, Any] = field(default_factory=dict)
    head: dict[str, np.ndarray] = field(default_factory=dict)  # the bundled head's tensors

    @classmethod
    def load(cls, folder: Path | None = None) -> ReplayBank:
        """resources/replay_features.safetensors, checked against the sha256 in its json."""
        from safetensors.numpy import load

        folder = folder or scenes.resources_dir()
        meta_path = folder / f"{REPLAY_NAME}.json"
        try:
            info = json.loads(meta_path.read_text(encoding="utf-8"))
            data = (folder / info["file"]).read_bytes()
        except (OSError, ValueError, KeyError) as exc:
            raise LearnError(f"the replay bank cannot be read ({meta_path}): {exc}") from exc
        if scenes.sha256_bytes(data) != info.get("sha256"):
            raise LearnError(f"the replay bank {info['file']} does not match its sha256")
        t = load(data)
        head = {k: v for k, v in t.items() if k.startswith("head.")}
        return cls(t["features"].astype(np.float32), t["labels"].astype(np.int64), info, head)

    def subset(self, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        rng = np.random.default_rng(seed)
        idx = np.concatenate(
            [
                rng.permutation(np.flatnonzero(self.labels == c))[:per_class]
                for c in np.unique(self.labels)
            ]
        )
        idx.sort()
        return self.features[idx], self.labels[idx]


# --------------------------------------------------------------------------------------------
# Learning with its proof


@dataclass
class LearnReport:
    corrections: int
    per_class: dict[str, int]
    folds: int
    bundled_accuracy: float  # the bundled head on the corrections (held out by definition)
    personal_accuracy: float  # k-fold: each correction scored by a head that never saw it
    replay_before: float
    replay_after: float
    replay_photos: int
    temperature: float
    seconds: float
    adopted: bool = False
    reason: str = ""
    none_photos: int = 0  # the person's own "none" photos, used beside the head (app.model.openset)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def lines(self) -> list[str]:
        drop = 100 * (self.replay_before - self.replay_after)
        return [
            f"corrections: {self.corrections} ("
            + ", ".join(f"{k} {v}" for k, v in self.per_class.items())
            + ")",
            f"held-out corrections ({self.folds}-fold): bundled {100 * self.bundled_accuracy:.1f} %"
            f" -> personal {100 * self.personal_accuracy:.1f} %",
            f"replay bank ({self.replay_photos} seg_train photos): "
            f"{100 * self.replay_before:.2f} % -> {100 * self.replay_after:.2f} % "
            f"({-drop:+.2f} points)",
            f"temperature {self.temperature:.3f}; learned in {self.seconds:.2f} s",
        ] + (
            [
                f"your 'Not a scene' photos: {self.none_photos} (a photo nearer to one of them "
                "than to the scenes the model knows is 'none' too)"
            ]
            if self.none_photos
            else []
        )


@dataclass
class Learned:
    head: Head
    temperature: float
    report: LearnReport
    # the features of the person's own "none" photos (float32 (M, D)); None: there are none
    none_bank: np.ndarray | None = None


def check_enough(labels: list[str]) -> None:
    scenes_seen = sorted(set(labels))
    if len(labels) < MIN_CORRECTIONS:
        raise LearnError(
            f"learning needs at least {MIN_CORRECTIONS} corrections (photos labelled by hand); "
            f"there {'is' if len(labels) == 1 else 'are'} {len(labels)}"
        )
    if len(scenes_seen) < MIN_SCENES:
        raise LearnError(
            f"learning needs corrections in at least {MIN_SCENES} scenes; all {len(labels)} "
            f"are {scenes_seen[0] if scenes_seen else 'none'}"
        )


def sign_test(fixed: int, broken: int) -> float:
    """One-sided exact sign test: the chance of at least `fixed` of the fixed + broken
    disagreements going the personal head's way if either way were equally likely."""
    from math import comb

    n = fixed + broken
    if n == 0:
        return 1.0
    return sum(comb(n, i) for i in range(fixed, n + 1)) / 2**n


def folds_for(y: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """A fold number per sample, stratified: each scene dealt round-robin after a shuffle."""
    rng = np.random.default_rng(seed)
    fold = np.empty(len(y), dtype=np.int64)
    start = 0
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        fold[idx] = (np.arange(len(idx)) + start) % k
        start += len(idx)
    return fold


def learn(
    features: np.ndarray,
    labels: list[str],
    base: Head,
    replay: ReplayBank,
    base_temperature: float,
    classes: tuple[str, ...] = scenes.CLASSES,
    seed: int = 0,
    folds: int = FOLDS,
) -> Learned:
    """Fit, cross-validate and decide. LearnError when there is too little to learn from."""
    check_enough(labels)
    start = time.perf_counter()
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[1] != base.in_features:
        raise LearnError(f"features of shape {x.shape} do not fit the head ({base.in_features})")
    y = np.array([classes.index(lab) for lab in labels])
    rx, ry = replay.subset(REPLAY_FIT_PER_CLASS, seed)
    hx, hr = base.hidden(x), base.hidden(rx)  # the frozen part, computed once for every fit
    k = min(folds, len(y))
    fold = folds_for(y, k, seed)
    oof = np.zeros((len(y), len(classes)))
    for f in range(k):
        train, held = fold != f, fold == f
        if not held.any():
            continue
        oof[held] = fit(base, hx[train], y[train], (hr, ry), hidden=True).logits(x[held])
    final = fit(base, hx, y, (hr, ry), hidden=True)
    base_right, personal_right = base.logits(x).argmax(1) == y, oof.argmax(1) == y
    bundled, personal = float(base_right.mean()), float(personal_right.mean())
    fixed = int((personal_right & ~base_right).sum())
    broken = int((base_right & ~personal_right).sum())
    before = float((base.logits(replay.features).argmax(1) == replay.labels).mean())
    after = float((final.logits(replay.features).argmax(1) == replay.labels).mean())
    temperature = fit_temperature(oof, y, (base_temperature / 2, 2 * base_temperature))
    report = LearnReport(
        corrections=len(y),
        per_class={c: int((y == i).sum()) for i, c in enumerate(classes) if (y == i).any()},
        folds=k,
        bundled_accuracy=bundled,
        personal_accuracy=personal,
        replay_before=before,
        replay_after=after,
        replay_photos=len(replay.labels),
        temperature=temperature,
        seconds=time.perf_counter() - start,
    )
    drop = 100 * (before - after)
    confirmed = int(round(bundled * len(y)))
    if confirmed < MIN_CONFIRMATIONS:
        report.reason = (
            f"not adopted: only {confirmed} of your {len(y)} corrections are photos the bundled "
            f"model got right, so held-out photos cannot show what a personal model would break; "
            f"label at least {MIN_CONFIRMATIONS} photos it gets right too (the key of the scene "
            f"it shows)"
        )
    elif personal <= bundled:
        report.reason = (
            f"not adopted: on your held-out photos it is not better than the bundled model "
            f"({100 * personal:.1f} % vs {100 * bundled:.1f} %)"
        )
    elif (p := sign_test(fixed, broken)) > ADOPT_P:
        report.reason = (
            f"not adopted: on your held-out photos it fixes {fixed} and breaks {broken} of the "
            f"bundled model's answers ({100 * bundled:.1f} % -> {100 * personal:.1f} %), which "
            f"chance explains too (sign test p = {p:.2f}; adopted at {ADOPT_P:g} or less)"
        )
    elif drop > MAX_REPLAY_DROP_POINTS:
        report.reason = (
            f"not adopted: it would forget the six scenes ({drop:.2f} points lost on the replay "
            f"bank, at most {MAX_REPLAY_DROP_POINTS} allowed)"
        )
    else:
        report.adopted = True
        report.reason = "adopted: better on your held-out photos, the six scenes kept"
    return Learned(final, temperature, report)

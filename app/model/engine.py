"""Classifier: a runtime, a decode pool feeding batched inference, Predictions out. No Qt.

Photos are decoded by a small thread pool (Pillow releases the GIL while decoding) a couple of
batches ahead of the model, so the network never waits on I/O. A photo that cannot be read is
a Prediction carrying an error, never an exception that stops the run. The network runs in an
`app.model.runtimes` runtime (torch or ONNX Runtime); on the ONNX path torch is never imported.
"""

from __future__ import annotations

import collections
import concurrent.futures as cf
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from app import defaults
from app.model import choice, openset, runtimes, scenes
from app.model.calibration import softmax
from app.model.modelid import ModelId
from app.photos import imaging

PRECISIONS = runtimes.PRECISIONS
BACKENDS = runtimes.BACKENDS
TTAS = defaults.TTAS
PREFETCH_BATCHES = 2  # decoded batches kept ready beyond the one the model is working on
_POLL_S = 0.05  # how often a wait for a decode looks at the cancel flag

ProgressFn = Callable[[int, int, int], None]
F32 = np.float32  # the scores every runtime reports are float32


@dataclass(frozen=True)
class Prediction:
    """The outcome for one photo: a label with calibrated scores, or a user-readable error.

    `label` is one of the six scenes or openset.NONE ("none of these": the photo is farther
    than the threshold from every scene the model knows); `confidence` is the best scene's
    calibrated probability either way, and `scores` always the six."""

    path: Path
    label: str | None = None
    confidence: float | None = None
    scores: dict[str, float] | None = None  # softmax(logits / temperature), in CLASSES order
    error: str | None = None
    # The pooled vector the head saw (512 values for VGG16), when the runtime provides it; the
    # results cache keeps it (float16) for learning from corrections. Not part of equality.
    feature: np.ndarray | None = field(default=None, compare=False, repr=False)
    # The open-set score (app.model.openset): cosine distance to the k-th nearest training
    # photo; None when the card has no open-set section or the runtime gave no feature
    open_set: float | None = field(default=None, compare=False)
    # the error says the file is no image at all (imaging.ImageError.not_a_photo): it gets no
    # scene, by the model or by hand (app.tagging.record.PhotoRecord.labelable)
    not_a_photo: bool = field(default=False, compare=False)

    @property
    def ok(self) -> bool:
        return self.error is None and self.label is not None

    @property
    def scene(self) -> str | None:
        """The best of the six scenes, whether or not the label is NONE."""
        if not self.scores:
            return None if self.label == openset.NONE else self.label
        return max(self.scores, key=self.scores.__getitem__)


class SceneClassifier(Protocol):
    """What every classifier answers and what its users may rely on: the engine's Classifier,
    the results cache in front of it (app.cache.cached), the personal head in front of that
    (app.personal.versions), built as one stack by app.personal.stack.build_classifier."""

    model_id: str  # what results and sidecars are stored under
    device_name: str  # for the status bar and summaries
    card: scenes.ModelCard
    backend: str  # the runtime that runs the model ("onnx", "torch"); with `precision`, which
    precision: str  # of the card's measurements applies (Help ▸ About)
    fallbacks: list[str]  # why `auto` passed over a runtime
    runtime_why: str  # why this runtime runs: auto's reason (measured speed, gate) or "asked for"
    # predictions must carry the pooled feature: a results cache classifies again a row it
    # kept without one (the engine returns one whenever its runtime has it)
    need_features: bool
    # the card's open-set bank and k (None: a card without one, six outcomes only); a personal
    # head's adds the person's own "none" photos
    open_set: openset.OpenSet | None
    # above it a photo is "none" (None: no open set; settable: the window's strictness)
    none_threshold: float | None

    @property
    def hits(self) -> int | None:
        """Predictions answered from a results cache so far; None when there is no cache."""
        ...

    def classify_paths(
        self,
        paths: Sequence[Path],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Prediction]:
        """One Prediction per path, in input order; `progress(done, total, errors)`; a set
        `cancel` ends the generator soon."""
        ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...


class ClassifierLayer:
    """A classifier in front of another (`inner`): it answers every SceneClassifier member it
    does not change with the inner one's, by name (no attribute lookup falls through)."""

    def __init__(self, inner: SceneClassifier) -> None:
        self.inner = inner

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def device_name(self) -> str:
        return self.inner.device_name

    @property
    def card(self) -> scenes.ModelCard:
        return self.inner.card

    @property
    def backend(self) -> str:
        return self.inner.backend

    @property
    def precision(self) -> str:
        return self.inner.precision

    @property
    def fallbacks(self) -> list[str]:
        return self.inner.fallbacks

    @property
    def runtime_why(self) -> str:
        return self.inner.runtime_why

    @property
    def need_features(self) -> bool:
        return self.inner.need_features

    @need_features.setter
    def need_features(self, value: bool) -> None:
        self.inner.need_features = value

    @property
    def hits(self) -> int | None:
        return self.inner.hits

    @property
    def open_set(self) -> openset.OpenSet | None:
        return self.inner.open_set

    @property
    def none_threshold(self) -> float | None:
        return self.inner.none_threshold

    @none_threshold.setter
    def none_threshold(self, value: float | None) -> None:
        self.inner.none_threshold = value

    def classify_paths(
        self,
        paths: Sequence[Path],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Prediction]:
        return self.inner.classify_paths(paths, progress=progress, cancel=cancel)

    def close(self) -> None:
        self.inner.close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def mirror(pixels: np.ndarray) -> np.ndarray:
    """uint8 (N, H, W, 3) -> the same photos mirrored left to right (contiguous)."""
    return np.ascontiguousarray(pixels[:, :, ::-1])


def flip_average(logits: np.ndarray, mirror_logits: np.ndarray, temperature: float) -> np.ndarray:
    """Flip TTA: the mean of the photo's and its mirror's calibrated probabilities.

    Probabilities, not logits: each view keeps the calibration its temperature was fitted for.
    Measured (docs/findings.md, 2026-11-30): both give the same accuracy within 1-3 photos in
    3,000; averaging logits has the lower ECE on the real-photo proxy and real-scenes-dev, this
    the lower on seg_test, all under 0.03. The sum is symmetric, so a photo and its mirror get
    bit-identical scores.
    """
    one, other = softmax(logits, temperature, F32), softmax(mirror_logits, temperature, F32)
    return (one + other) / np.float32(2)


class NotAPhoto(str):
    """A decode error saying the file is no image at all (still the message, as a str)."""


def _decode(path: Path, size: int) -> np.ndarray | str:
    """Pixels, or the message explaining why there are none (runs in the decode pool)."""
    try:
        return imaging.load_pixels(path, size)
    except imaging.ImageError as exc:
        return NotAPhoto(exc) if exc.not_a_photo else str(exc)
    except MemoryError:
        return "not enough memory to decode this image"
    except Exception as exc:  # a decoder bug must not end the run; report it on the photo
        return f"cannot read: {type(exc).__name__}: {exc}"


def default_decode_workers(device: Any) -> int:
    """On CPU the model needs the cores, so decoding gets a share; on a GPU it gets more.
    Two decode workers beside the model's threads even on 2 cores: decoding then fills the
    moments the model waits (measured: 2 decode + 2 model threads beat 1 + 2 for every kind of
    photo, by 7 % on 150-px JPEGs to 55 % on DNG previews; docs/bench_runtimes.md)."""
    cores = os.cpu_count() or 2
    if device.type == "cpu":
        return max(2, min(4, cores // 2))
    return max(2, min(8, cores))


class Classifier:
    """A loaded model in a runtime, ready to classify files or pre-decoded pixels (the bottom
    of the SceneClassifier stack)."""

    hits: int | None = None  # no results cache here
    need_features = False  # features come whenever the runtime has them: nothing to ask

    def __init__(
        self,
        card: scenes.ModelCard | str | Path | None = None,
        device: str | None = None,
        precision: str = "auto",
        batch_size: int = 32,
        decode_workers: int | None = None,
        backend: str = "auto",
        threads: int | None = None,
        warn: runtimes.WarnFn | None = None,
        tta: str = defaults.TTA,
        none_threshold: float | None = None,
    ) -> None:
        """`none_threshold`: the open-set score above which a photo is "none" (None: the
        card's; math.inf: never none)."""
        if tta not in TTAS:
            raise ValueError(f"tta must be one of {', '.join(TTAS)}, not {tta!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.fallbacks: list[str] = []  # why `auto` passed over a runtime (also sent to `warn`)

        def note(message: str) -> None:
            self.fallbacks.append(message)
            if warn:
                warn(message)

        # ModelError (sha256, missing, damaged, nothing can run) propagates
        self.runtime = choice.open_runtime(card, backend, precision, device, threads, note)
        self.card = self.runtime.card
        self.runtime_why = self.runtime.why
        self.device = self.runtime.device
        self.tta = tta
        # flip TTA gives other scores, so its own id (the cache and sidecars tell them apart)
        self.model_id: str = str(ModelId.parse(self.runtime.model_id).with_tta(tta))
        self.backend = self.runtime.backend
        self.precision = self.runtime.precision
        self.batch_size = batch_size
        # what the status bar shows
        self.device_name: str = self.runtime.description + (", flip TTA" if tta == "flip" else "")
        self.decode_workers = decode_workers or default_decode_workers(self.device)
        # the card's open-set bank and threshold (None: an older card, six outcomes only)
        self.open_set: openset.OpenSet | None = openset.OpenSet.from_card(self.card)
        self.none_threshold: float | None = (
            none_threshold
            if none_threshold is not None
            else (self.open_set.threshold if self.open_set else None)
        )
        self._pool: cf.ThreadPoolExecutor | None = cf.ThreadPoolExecutor(
            max_workers=self.decode_workers, thread_name_prefix="decode"
        )
        self._open = True

    # ----------------------------------------------------------------------------------------
    def classify_pixels(self, pixels: np.ndarray) -> np.ndarray:
        """uint8 (N, H, W, 3) pixels -> float32 (N, 6) calibrated probabilities, batch by batch."""
        self._require_open()
        pixels = np.asarray(pixels)
        if pixels.ndim == 3:
            pixels = pixels[None]
        if pixels.dtype != np.uint8 or pixels.ndim != 4 or pixels.shape[-1] != 3:
            raise ValueError(
                f"expected uint8 (N, H, W, 3) pixels, got {pixels.dtype} {pixels.shape}"
            )
        out = np.empty((len(pixels), len(self.card.classes)), dtype=np.float32)
        for start in range(0, len(pixels), self.batch_size):
            chunk = pixels[start : start + self.batch_size]
            out[start : start + len(chunk)] = self._forward(chunk)
        return out

    def _forward(self, batch: np.ndarray) -> np.ndarray:
        return self._forward_features(batch)[0]

    def _forward_features(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Calibrated probabilities and the pooled features (None when the runtime has none).

        With flip TTA the probabilities average the photo and its mirror; the features stay the
        photo's own, so what learning from corrections sees does not depend on the TTA setting."""
        logits, features = self.runtime.run_pixels(batch)
        if self.tta == "flip":
            mirrored, _ = self.runtime.run_pixels(mirror(batch))
            return flip_average(logits, mirrored, self.runtime.temperature), features
        return softmax(logits, self.runtime.temperature, F32), features

    # ----------------------------------------------------------------------------------------
    def classify_paths(
        self,
        paths: Sequence[Path],
        progress: ProgressFn | None = None,
        cancel: threading.Event | None = None,
    ) -> Iterator[Prediction]:
        """Yield one Prediction per path, in input order; decoding runs ahead in the pool.

        `progress(done, total, errors)` is called once at the start and after each photo.
        Once `cancel` is set nothing more is submitted or yielded and the generator returns
        within a fraction of a second (or after the model batch in flight, at worst).
        """
        self._require_open()
        pool = self._pool
        assert pool is not None
        paths = [p if isinstance(p, Path) else Path(p) for p in paths]  # no re-parse: 100k+
        total = len(paths)
        size = self.card.input_size
        window = (PREFETCH_BATCHES + 1) * self.batch_size
        pending: collections.deque[tuple[Path, cf.Future[np.ndarray | str]]] = collections.deque()
        upcoming = iter(paths)
        done = errors = 0

        def cancelled() -> bool:
            return cancel is not None and cancel.is_set()

        def top_up() -> None:
            while len(pending) < window and not cancelled():
                path = next(upcoming, None)
                if path is None:
                    return
                pending.append((path, pool.submit(_decode, path, size)))

        def wait(fut: cf.Future[np.ndarray | str]) -> np.ndarray | str | None:
            while True:
                try:
                    return fut.result(timeout=_POLL_S)
                except cf.TimeoutError:
                    if cancelled():
                        return None

        if progress:
            progress(0, total, 0)
        try:
            top_up()
            while pending and not cancelled():
                batch = [pending.popleft() for _ in range(min(self.batch_size, len(pending)))]
                top_up()  # the pool decodes the next batches while this one is waited on and run
                decoded: list[np.ndarray | str] = []
                for _, fut in batch:
                    result = wait(fut)
                    if result is None:
                        return
                    decoded.append(result)
                for pred in self._predict_batch([p for p, _ in batch], decoded):
                    if cancelled():
                        return
                    done += 1
                    errors += not pred.ok
                    if progress:
                        progress(done, total, errors)
                    yield pred
        finally:
            for _, fut in pending:
                fut.cancel()  # queued decodes are dropped; running ones finish on their own

    def _predict_batch(
        self, paths: list[Path], decoded: list[np.ndarray | str]
    ) -> list[Prediction]:
        good = [i for i, d in enumerate(decoded) if isinstance(d, np.ndarray)]
        probs: np.ndarray | None = None
        feats: np.ndarray | None = None
        failure: str | None = None
        if good:
            try:
                probs, feats = self._forward_features(np.stack([decoded[i] for i in good]))  # type: ignore[misc]
            except (RuntimeError, MemoryError) as exc:
                # e.g. out of GPU memory: the batch's photos fail, the run goes on
                failure = f"classification failed: {exc}"
        classes = self.card.classes
        distances = self.open_set_scores(feats) if probs is not None else None
        row = {i: k for k, i in enumerate(good)}
        preds: list[Prediction] = []
        for i, (path, d) in enumerate(zip(paths, decoded, strict=True)):
            if isinstance(d, str):
                preds.append(Prediction(path, error=str(d), not_a_photo=isinstance(d, NotAPhoto)))
            elif probs is None:
                preds.append(Prediction(path, error=failure or "classification failed"))
            else:
                p = probs[row[i]]
                best = int(p.argmax())
                scores = {c: float(v) for c, v in zip(classes, p, strict=True)}
                feature = None if feats is None else np.array(feats[row[i]], dtype=np.float32)
                d = None if distances is None else distances[row[i]]
                preds.append(
                    Prediction(
                        path,
                        self.outcome(classes[best], d),
                        float(p[best]),
                        scores,
                        None,
                        feature,
                        d,
                    )
                )
        return preds

    # ----------------------------------------------------------------------------------------
    def open_set_scores(self, features: np.ndarray | None) -> list[float] | None:
        """The open-set scores of pooled features (None without a bank or features)."""
        if self.open_set is None or features is None or not len(features):
            return None
        return self.open_set.scores_of(features)

    def outcome(self, best: str, distance: float | None) -> str:
        """The best scene, or NONE when the photo is farther than the threshold (one rule:
        app.model.openset.outcome)."""
        return openset.outcome(best, distance, self.none_threshold)

    def decide(self, preds: Sequence[Prediction]) -> list[Prediction]:
        """Predictions with their open-set score and label worked out again (openset.decide)
        with this classifier's bank and threshold."""
        return openset.decide(preds, self.open_set, self.none_threshold)

    # ----------------------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        return not self._open

    def _require_open(self) -> None:
        if not self._open:
            raise RuntimeError("the classifier is closed")

    def close(self) -> None:
        """Drop queued decodes and the network; the object cannot classify afterwards."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        if self._open:
            self._open = False
            self.runtime.close()

    def __enter__(self) -> Classifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

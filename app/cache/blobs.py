"""How a feature vector and a score list are stored as SQLite blobs: one format for the results
cache, its JSONL export and the corrections store (a feature read from one is the other's)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

FEATURE_DTYPE = np.dtype("<f2")  # the pooled feature, float16 little-endian (~1 KB a photo)
SCORE_DTYPE = np.dtype("<f8")  # the calibrated scores, in the model's class order


def pack_feature(feature: Any) -> bytes | None:
    if feature is None:
        return None
    return np.asarray(feature, dtype=np.float32).astype(FEATURE_DTYPE).ravel().tobytes()


def unpack_feature(blob: bytes | None) -> np.ndarray | None:
    """The stored feature (read-only float16), or None."""
    return None if blob is None else np.frombuffer(blob, dtype=FEATURE_DTYPE)


def pack_scores(scores: Iterable[float]) -> bytes:
    return np.asarray(list(scores), dtype=SCORE_DTYPE).tobytes()


def unpack_scores(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype=SCORE_DTYPE)

"""`--shard K/N`: a stable split of a photo archive into N parts, for array jobs.

A photo belongs to shard sha256(its path relative to the folder given)[:8] mod N. The relative
path (with `/` separators, as raw bytes) is the same on every machine and in every task of an
array job, whatever the mount point, so the N tasks of a Slurm array, a Kubernetes indexed Job
or a Ray job agree without talking to each other: every photo lands in exactly one shard.
K counts from 0, as SLURM_ARRAY_TASK_ID (with --array=0-N-1) and JOB_COMPLETION_INDEX do.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path


def parse_shard(text: str) -> tuple[int, int]:
    """'3/8' -> (3, 8); argparse turns the ValueError into a usage error."""
    k_text, sep, n_text = text.partition("/")
    if not sep:
        raise ValueError(text)
    k, n = int(k_text), int(n_text)
    if n < 1 or not 0 <= k < n:
        raise ValueError(text)
    return k, n


parse_shard.__name__ = "shard K/N (0 <= K < N)"  # argparse names the type in its message


def relative_key(photo: Path, roots: Sequence[Path]) -> bytes:
    """The photo's path relative to the first folder given that holds it, else its name."""
    for root in roots:
        try:
            rel = photo.relative_to(root)
        except ValueError:
            continue
        return os.fsencode(rel.as_posix())
    return os.fsencode(photo.name)


def shard_of(key: bytes, n: int) -> int:
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % n


def select(photos: Sequence[Path], roots: Sequence[Path], shard: tuple[int, int]) -> list[Path]:
    """The photos of shard K of N, in their listed order."""
    k, n = shard
    folders = [Path(r) for r in roots if Path(r).is_dir()]
    return [p for p in photos if shard_of(relative_key(Path(p), folders), n) == k]

"""Augmented views of the training photos, rendered once and cached as frozen-stage features.

A recipe that keeps blocks 1–4 frozen computes their output once per photo; these views give
that cache more than the one framing: each is a fixed, seeded transform of every training photo
(the same photo always gets the same view), so it can be computed once, resumed per batch, and
trained over for as many epochs as the recipe likes at no further cost.

- "stretch": what a camera's 4:3, 3:2 or 16:9 photo looks like once the app squashes it to the
  model's square: a band of that aspect (log-uniform between 4:3 and 16:9, upright for 15 % of
  photos) cut from the photo and stretched back to the square; mirrored half the time.
- "crop": a random-resized crop (0.6–1.0 of the area, aspect 3:4–4:3), mirrored half the time,
  with a mild colour change (white balance ±8 %, brightness, contrast and saturation ±15 %).

docs/findings.md says why these two: on the real-photo proxy the aspect stretch costs most.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class View:
    name: str
    mirror: float = 0.5  # probability of a horizontal flip
    stretch: tuple[float, float] | None = None  # band aspect range (log-uniform), landscape
    upright: float = 0.0  # share of stretch bands taken upright (portrait photos)
    area: tuple[float, float] | None = None  # random-resized crop: share of the area kept
    aspect: tuple[float, float] = (3 / 4, 4 / 3)  # random-resized crop: its aspect range
    colour: float = 0.0  # brightness, contrast, saturation ± this; white balance ± half of it


VIEWS: dict[str, View] = {
    "stretch": View("stretch", stretch=(4 / 3, 16 / 9), upright=0.15),
    "crop": View("crop", area=(0.6, 1.0), colour=0.15),
}


def view_seed(seed: int, view: str, start: int) -> int:
    """The seed of one cached batch: a function of (recipe seed, view, first row) only, so a
    resumed cache renders exactly the rows an uninterrupted one would."""
    digest = hashlib.sha256(f"{seed}|{view}|{start}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def render(x: torch.Tensor, view: View, generator: torch.Generator) -> torch.Tensor:
    """The view of float (N,3,H,W) photos in [0,1]: same shape, same range."""
    n = x.shape[0]

    def u(lo: float, hi: float) -> torch.Tensor:
        return torch.rand(n, generator=generator, dtype=torch.float64) * (hi - lo) + lo

    def log_u(lo: float, hi: float) -> torch.Tensor:
        return torch.exp(u(math.log(lo), math.log(hi)))

    # The kept box as half-sizes (sx, sy) of the [-1, 1] square and a centre (cx, cy).
    sx = torch.ones(n, dtype=torch.float64)
    sy = torch.ones(n, dtype=torch.float64)
    if view.stretch is not None:
        ratio = log_u(*view.stretch)
        upright = u(0.0, 1.0) < view.upright
        sy = torch.where(upright, sy, 1.0 / ratio)
        sx = torch.where(upright, 1.0 / ratio, sx)
    if view.area is not None:
        area, aspect = u(*view.area), log_u(*view.aspect)
        sx = torch.sqrt(area * aspect).clamp(max=1.0)
        sy = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = u(-1.0, 1.0) * (1.0 - sx)
    cy = u(-1.0, 1.0) * (1.0 - sy)
    flip = u(0.0, 1.0) < view.mirror
    mat = torch.zeros(n, 2, 3, dtype=torch.float64)
    mat[:, 0, 0] = torch.where(flip, -sx, sx)
    mat[:, 0, 2] = cx
    mat[:, 1, 1] = sy
    mat[:, 1, 2] = cy
    grid = F.affine_grid(mat.to(x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if view.colour:
        out = _colour(out, view.colour, u)
    return out


def _colour(x: torch.Tensor, amount: float, u) -> torch.Tensor:
    n = x.shape[0]

    def per_photo(t: torch.Tensor) -> torch.Tensor:
        return t.to(x.dtype).view(n, 1, 1, 1)

    white = (
        torch.stack(
            [
                u(1 - amount / 2, 1 + amount / 2),
                torch.ones(n, dtype=torch.float64),
                u(1 - amount / 2, 1 + amount / 2),
            ],
            dim=1,
        )
        .to(x.dtype)
        .view(n, 3, 1, 1)
    )
    x = x * white * per_photo(u(1 - amount, 1 + amount))
    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    mean = grey.mean(dim=(2, 3), keepdim=True)
    x = (x - mean) * per_photo(u(1 - amount, 1 + amount)) + mean
    grey = (0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]).unsqueeze(1)
    x = grey + (x - grey) * per_photo(u(1 - amount, 1 + amount))
    return x.clamp(0.0, 1.0)

"""What the preview shows (numpy only): the box a camera frames, the frames rendered as
stills, and the stills laid side by side into one strip image."""

from __future__ import annotations

import numpy as np

__all__ = ["bounding_box", "still_frames", "side_by_side"]


def bounding_box(points) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and the highest corner (3,) of the axis-aligned box around ``points`` (N, 3)."""
    p = np.asarray(points, dtype=np.float64)
    return np.min(p, axis=0), np.max(p, axis=0)


def still_frames(first: int, last: int, count: int) -> list[int]:
    """``count`` (at least 1) whole frames spread evenly over ``first .. last`` (both
    included), ascending, each once (fewer when the range is shorter than ``count``)."""
    return sorted({int(round(f)) for f in np.linspace(first, last, max(1, count))})


def side_by_side(tiles) -> np.ndarray:
    """Images (H, W_i, C) of one height, left to right, as one image (H, sum W_i, C)."""
    return np.concatenate(tiles, axis=1)

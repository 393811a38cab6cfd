"""Sample grids: many small images tiled into one PNG (Pillow only, no matplotlib)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from gancli.run_dir.files import write_atomically

GRID_SAMPLES = 64  # images in a grid: 8 x 8
MIN_CELL = 56  # pixels per cell side at least: an 8x8 digit is drawn 7 times larger, without smoothing
GAP = 2  # pixels between cells


def tile(images: np.ndarray, cols: int | None = None) -> np.ndarray:
    """(n, H, W, C) uint8 -> one (rows*(H*s+GAP)+GAP, cols*(W*s+GAP)+GAP, C) uint8 image, each cell
    scaled up s times by pixel repetition so small images stay sharp; grey gaps between cells."""
    n, height, width, channels = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    scale = max(1, math.ceil(MIN_CELL / max(height, width)))
    cell_h, cell_w = height * scale, width * scale
    grid = np.full((rows * (cell_h + GAP) + GAP, cols * (cell_w + GAP) + GAP, channels), 128, np.uint8)
    big = images.repeat(scale, axis=1).repeat(scale, axis=2)
    for i in range(n):
        r, c = divmod(i, cols)
        top, left = GAP + r * (cell_h + GAP), GAP + c * (cell_w + GAP)
        grid[top:top + cell_h, left:left + cell_w] = big[i]
    return grid


def save_grid(path: Path, images: np.ndarray, cols: int | None = None) -> None:
    """Write tile(images) as a PNG, atomically (grey for one channel, RGB for three)."""
    from PIL import Image

    grid = tile(images, cols)
    picture = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    write_atomically(Path(path), lambda tmp: picture.save(tmp, format="PNG"))

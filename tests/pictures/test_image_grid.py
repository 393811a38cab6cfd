"""gancli.pictures.image_grid: sample grids tiled by hand-counted geometry, each cell the image
scaled up by pixel repetition, grey gaps between cells, and the PNG that holds them."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gancli.pictures.image_grid import save_grid, tile


def _digits(n, side=8, channels=1, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, side, side, channels), dtype=np.uint8)


def test_small_images_are_tiled_square_and_scaled_up_without_smoothing():
    images = _digits(5)
    grid = tile(images)
    # 5 images: ceil(sqrt(5)) = 3 columns, 2 rows; 8 px cells scaled 7 times (56 px); 2 px gaps
    assert grid.shape == (2 * (56 + 2) + 2, 3 * (56 + 2) + 2, 1) and grid.dtype == np.uint8
    for i, image in enumerate(images):
        r, c = divmod(i, 3)
        cell = grid[2 + r * 58: 2 + r * 58 + 56, 2 + c * 58: 2 + c * 58 + 56, 0]
        np.testing.assert_array_equal(cell, np.kron(image[..., 0], np.ones((7, 7), np.uint8)))


def test_gaps_and_empty_cells_are_grey():
    grid = tile(np.zeros((5, 8, 8, 1), np.uint8))  # black images: whatever is not a cell stays at 128
    assert (grid[:2] == 128).all() and (grid[:, :2] == 128).all() and (grid[:, 58:60] == 128).all()
    assert (grid[60:, 118:] == 128).all()  # the sixth cell (row 2, column 3) has no image
    assert (grid == 0).sum() == 5 * 56 * 56


def test_the_number_of_columns_can_be_given():
    grid = tile(_digits(6), cols=6)
    assert grid.shape == (1 * 58 + 2, 6 * 58 + 2, 1)


def test_large_images_are_not_scaled():
    images = _digits(4, side=60, channels=3)
    grid = tile(images)
    assert grid.shape == (2 * 62 + 2, 2 * 62 + 2, 3)
    np.testing.assert_array_equal(grid[64:124, 64:124], images[3])


@pytest.mark.parametrize(("channels", "mode"), [(1, "L"), (3, "RGB")])
def test_a_saved_grid_is_a_png_of_the_tiled_pixels(tmp_path, channels, mode):
    images = _digits(4, channels=channels)
    save_grid(tmp_path / "grid.png", images)
    saved = Image.open(tmp_path / "grid.png")
    assert saved.format == "PNG" and saved.mode == mode
    pixels = np.asarray(saved).reshape(saved.height, saved.width, channels)
    np.testing.assert_array_equal(pixels[2:58, 2:58], np.kron(images[0], np.ones((7, 7, 1), np.uint8)))
    assert [p.name for p in tmp_path.iterdir()] == ["grid.png"]  # written whole: no temporary file left

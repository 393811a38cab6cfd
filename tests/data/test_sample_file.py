"""gancli.data.sample_file: a user's .npy of samples loads as an (n, dim) float32 array, and every
kind of bad file is refused with one line that names it and says what is wrong.

(The pickle refusal and an integer file loading as float32 are checked in
tests/end_to_end/test_safety.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from gancli.data.sample_file import load_samples
from gancli.errors import GancliError


def refusal(path, dim=2, min_rows=6, max_rows=100) -> str:
    """The one-line message load_samples refuses path with; it names the file."""
    with pytest.raises(GancliError) as err:
        load_samples(path, dim=dim, min_rows=min_rows, max_rows=max_rows)
    message = str(err.value)
    assert "\n" not in message and f"samples={path}" in message
    return message


def saved(tmp_path, array, name="x.npy"):
    path = tmp_path / name
    np.save(path, array)
    return path


def test_float64_samples_load_as_the_same_float32_values(tmp_path):
    array = np.random.default_rng(0).normal(size=(8, 3))
    loaded = load_samples(saved(tmp_path, array), dim=3, min_rows=6, max_rows=8)
    assert loaded.dtype == np.float32 and loaded.shape == (8, 3)
    np.testing.assert_array_equal(loaded, array.astype(np.float32))


def test_a_file_without_the_npy_suffix_is_refused(tmp_path):
    path = tmp_path / "x.npz"
    np.savez(path, np.zeros((8, 2)))
    assert "must be a .npy file (numpy.save writes one)" in refusal(path)


def test_a_missing_file_is_refused(tmp_path):
    assert refusal(tmp_path / "nope.npy").endswith(": no such file")


@pytest.mark.parametrize("content", [b"", b"1.0,2.0\n3.0,4.0\n", b"PK\x03\x04zip"], ids=["empty", "text", "zip"])
def test_a_file_that_is_not_npy_inside_is_refused_before_numpy_reads_it(tmp_path, content):
    path = tmp_path / "x.npy"
    path.write_bytes(content)
    assert "is not a .npy file (it does not start with NumPy's header)" in refusal(path)


def test_a_truncated_npy_is_refused(tmp_path):
    path = saved(tmp_path, np.zeros((50, 2)))
    path.write_bytes(path.read_bytes()[:-40])  # the header is whole, the data is not
    assert "is not a complete .npy file" in refusal(path)


@pytest.mark.parametrize("array", [np.array([["a", "b"]] * 8), np.ones((8, 2), dtype=complex)],
                         ids=["strings", "complex"])
def test_values_that_are_not_real_numbers_are_refused(tmp_path, array):
    assert f"holds {array.dtype} values; it must hold real numbers" in refusal(saved(tmp_path, array))


@pytest.mark.parametrize("shape", [(16,), (8, 3), (4, 2, 2)])
def test_the_wrong_shape_says_the_shape_it_must_have(tmp_path, shape):
    message = refusal(saved(tmp_path, np.zeros(shape)))
    assert f"has shape {shape}; the run's data is 2-D, so it must be (n, 2)" in message


@pytest.mark.parametrize(("rows", "ok"), [(5, False), (6, True), (100, True), (101, False)])
def test_the_number_of_rows_must_lie_between_the_bounds_inclusive(tmp_path, rows, ok):
    path = saved(tmp_path, np.zeros((rows, 2)))
    if ok:
        assert len(load_samples(path, dim=2, min_rows=6, max_rows=100)) == rows
    else:
        assert f"has {rows} samples; it must have between 6 and 100" in refusal(path)


def test_rows_with_nan_or_inf_are_counted_and_the_first_named(tmp_path):
    array = np.zeros((10, 2))
    array[3, 1], array[7, 0] = np.nan, -np.inf
    assert "has 2 rows with NaN or infinite values (the first is row 3)" in refusal(saved(tmp_path, array))
    array[7, 0] = 0.0
    assert "has 1 row with NaN" in refusal(saved(tmp_path, array))  # singular for one

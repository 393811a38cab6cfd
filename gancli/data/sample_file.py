"""Samples read from a user's .npy file, checked before anything uses them.

Only plain numeric arrays are read (`allow_pickle=False`): a file holding pickled Python
objects could run code when loaded, and is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gancli.errors import GancliError

NPY_MAGIC = b"\x93NUMPY"


def load_samples(path: Path, dim: int, min_rows: int, max_rows: int) -> np.ndarray:
    """The (n, dim) float32 array in the .npy at `path`, or a GancliError that names the file and
    says what is wrong with it: missing, not a complete .npy, pickled objects, not numbers, the
    wrong shape, too few or too many rows, or values that are not finite."""
    path = Path(path)
    name = f"samples={path}"
    if path.suffix != ".npy":
        raise GancliError(f"{name} must be a .npy file (numpy.save writes one)")
    if not path.is_file():
        raise GancliError(f"{name}: no such file")
    with path.open("rb") as f:
        if f.read(len(NPY_MAGIC)) != NPY_MAGIC:  # a zip (.npz), text or empty file under a .npy name
            raise GancliError(f"{name} is not a .npy file (it does not start with NumPy's header); write it with "
                              "numpy.save")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as err:
        if "allow_pickle" in str(err):
            raise GancliError(f"{name} holds pickled Python objects, which could run code when loaded; save a "
                              "plain numeric array instead") from None
        raise GancliError(f"{name} is not a complete .npy file ({err}); write it again with numpy.save") from None
    except (OSError, EOFError) as err:
        raise GancliError(f"{name} is not a complete .npy file ({err or 'it is empty'}); write it again with "
                          "numpy.save") from None
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise GancliError(f"{name} holds {array.dtype} values; it must hold real numbers")
    if array.ndim != 2 or array.shape[1] != dim:
        raise GancliError(f"{name} has shape {array.shape}; the run's data is {dim}-D, so it must be (n, {dim})")
    if not min_rows <= len(array) <= max_rows:
        raise GancliError(f"{name} has {len(array)} samples; it must have between {min_rows} and {max_rows}")
    finite = np.isfinite(array).all(axis=1)
    if not finite.all():
        bad = int((~finite).sum())
        raise GancliError(f"{name} has {bad} row{'s' if bad > 1 else ''} with NaN or infinite values (the first is "
                          f"row {int(np.argmin(finite))}); drop them before evaluating")
    return array.astype(np.float32)

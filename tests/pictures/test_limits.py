"""gancli.pictures.limits: the one axis range every figure of a run shares, worked out by hand
from the modes' centres and spread, and kept apart from matplotlib."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest

import gancli.pictures.limits as limits
from gancli.pictures.limits import plot_limits


def test_every_figure_of_a_run_shares_its_axis_limits():
    ring = np.array([[1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]])
    lo, hi = plot_limits(ring, 0.01)
    assert lo == -hi and hi == pytest.approx(1.4, abs=1e-5)
    assert plot_limits(ring, 0.2)[1] == pytest.approx(1.8, abs=1e-5)  # wide modes get a wider margin
    assert plot_limits(np.array([[-2.0], [2.0]]), 0.5) == (-4.0, 4.0)
    assert plot_limits(np.array([[-2.0], [2.0]]), 0.1) == (-3.5, 3.5)


def test_two_dimensional_limits_are_square_around_the_origin_whatever_the_modes():
    # reach is the largest |coordinate| on either axis: 3 here, on x; the margin is 0.4 * 3 = 1.2
    lo, hi = plot_limits(np.array([[3.0, 0.0], [0.0, -1.0]]), 0.01)
    assert (lo, hi) == (pytest.approx(-4.2, abs=1e-5), pytest.approx(4.2, abs=1e-5))
    # the 25-mode grid: reach 4, margin max(1.6, 4 * 0.05) = 1.6
    grid = np.array([[x, y] for x in (-4.0, -2.0, 0.0, 2.0, 4.0) for y in (-4.0, -2.0, 0.0, 2.0, 4.0)])
    assert plot_limits(grid, 0.05)[1] == pytest.approx(5.6, abs=1e-5)


def test_one_dimensional_limits_follow_the_modes_even_off_centre():
    # not symmetric: the range is [min - margin, max + margin], margin max(1.5, 4 std)
    assert plot_limits(np.array([[1.0], [5.0]]), 0.1) == (-0.5, 6.5)
    assert plot_limits(np.array([[1.0], [5.0]]), 1.0) == (-3.0, 9.0)


def test_the_limits_module_imports_no_plotting_library():
    # setting up a run's pictures reads the limits: matplotlib must not come with them
    imported = set()
    for node in ast.walk(ast.parse(inspect.getsource(limits))):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module)
    assert not {name for name in imported if name.startswith(("matplotlib", "gancli.pictures.plots"))}
    assert imported <= {"__future__", "numpy"}

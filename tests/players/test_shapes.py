"""gancli.players.shapes: what the players' sizes depend on beyond the model config, with defaults
that describe a single divergence on toy data, in a module every kind of player can import."""

from __future__ import annotations

import ast
import dataclasses
import inspect

import numpy as np
import pytest

import gancli.players.shapes as shapes_module
from gancli.data.densities import GaussianMixture
from gancli.players.shapes import Shapes


def test_by_default_one_critic_head_on_one_body_and_no_data_or_image_shape():
    shapes = Shapes(latent_dim=3, data_dim=2)
    assert (shapes.latent_dim, shapes.data_dim) == (3, 2)
    assert (shapes.heads, shapes.shared_critic, shapes.data, shapes.image_shape) == (1, True, None, None)


def test_shapes_are_frozen():
    shapes = Shapes(latent_dim=3, data_dim=2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        shapes.heads = 2


def test_shapes_carry_the_data_object_itself():
    data = GaussianMixture.isotropic(np.zeros((2, 2)), 1.0)
    shapes = Shapes(latent_dim=2, data_dim=data.dim, data=data, image_shape=(8, 8, 1))
    assert shapes.data is data and shapes.image_shape == (8, 8, 1)


def test_the_module_imports_no_player_so_every_player_can_import_it():
    """Its reason to be a module of its own: models.py and dcgan.py both take Shapes, so it must
    not import either (nor anything else of gancli's players)."""
    tree = ast.parse(inspect.getsource(shapes_module))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert imported and not {name for name in imported if name.startswith("gancli.players")}

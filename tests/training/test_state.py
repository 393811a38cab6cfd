"""The train state: a typed pytree whose checkpoint form is the dict of leaves gancli has always
saved; stacking seeds' states, the restore target and completion of a checkpoint saved before
the later leaves existed, and the generator weights evaluation uses."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gancli.training.state import (
    LATER_LEAVES,
    TrainState,
    evaluated_generator,
    from_tree,
    restore_target,
    stack_states,
    to_tree,
)


def state(step=0, g=None, **parts):
    """A small state: weights {"w": ...}, full rates, no rollback; `parts` in place of those."""
    return TrainState(g={"w": np.full((2, 3), float(step))} if g is None else g, g_opt=(), step=np.int32(step),
                      key=jax.random.key(step), lr_scale=np.float32(1.0), rollbacks=np.int32(0), **parts)


def test_stacked_states_gain_a_first_axis_with_one_row_per_run():
    stacked = stack_states([state(i) for i in range(3)])
    assert isinstance(stacked, TrainState)
    assert stacked.g["w"].shape == (3, 2, 3) and stacked.step.shape == (3,)
    for i in range(3):  # row i is run i's leaf, untouched
        np.testing.assert_array_equal(stacked.g["w"][i], np.full((2, 3), float(i)))
    np.testing.assert_array_equal(stacked.step, [0, 1, 2])


def test_the_checkpoint_form_is_the_dict_of_the_parts_a_run_has():
    """The layout every gancli version saved: a missing part (no critic, no average) is no key."""
    explicit = state(3)
    assert set(to_tree(explicit)) == {"g", "g_opt", "step", "key", "lr_scale", "rollbacks"}
    averaged = state(3, d={"w": np.zeros(2)}, d_opt=(), g_ema={"w": np.zeros((2, 3))}, g_ema_weight=np.float32(0))
    assert set(to_tree(averaged)) == {"g", "g_opt", "step", "key", "lr_scale", "rollbacks", "d", "d_opt", "g_ema",
                                      "g_ema_weight"}
    back = from_tree(to_tree(averaged))
    assert jax.tree.structure(back) == jax.tree.structure(averaged)
    assert all(a is b for a, b in zip(jax.tree.leaves(back), jax.tree.leaves(averaged), strict=True))


def test_missing_parts_are_no_leaves_so_jit_and_vmap_see_only_the_parts_there_are():
    explicit = state(1)
    assert len(jax.tree.leaves(explicit)) == 5  # w, step, key, lr_scale, rollbacks
    stepped = jax.jit(lambda s: s.replace(step=s.step + 1))(explicit)
    assert isinstance(stepped, TrainState) and int(stepped.step) == 2 and stepped.d is None


def test_the_state_is_frozen_a_step_returns_a_new_one():
    s = state(1)
    with pytest.raises(AttributeError):
        s.step = np.int32(2)
    assert int(s.replace(step=np.int32(2)).step) == 2 and int(s.step) == 1


def test_the_restore_target_drops_only_the_later_leaves_an_older_checkpoint_lacks():
    abstract = state(0)
    old = {"g": [2], "g_opt": [], "step": [], "key": []}  # saved by gancli 0.1.0: no lr_scale, no rollbacks
    assert set(restore_target(abstract, old)) == {"g", "g_opt", "step", "key"}
    new = {**old, "lr_scale": [], "rollbacks": []}
    assert set(restore_target(abstract, new)) == set(to_tree(abstract))
    # A leaf that is not a later one stays in the target even if the checkpoint lacks it: the
    # restore must then fail loudly, not quietly drop part of the state.
    assert "g" in restore_target(abstract, {"step": []})


def test_a_state_read_back_means_full_rates_and_no_rollbacks_where_the_checkpoint_said_nothing():
    old = {k: v for k, v in to_tree(state(5)).items() if k not in LATER_LEAVES}
    completed = from_tree(old)
    assert float(completed.lr_scale) == 1.0 and completed.lr_scale.shape == ()
    assert int(completed.rollbacks) == 0 and completed.rollbacks.dtype == jnp.int32
    # What a checkpoint holds is kept as it was.
    kept = from_tree({**old, "lr_scale": jnp.float32(0.25), "rollbacks": jnp.int32(2)})
    assert float(kept.lr_scale) == 0.25 and int(kept.rollbacks) == 2


def test_the_evaluated_generator_is_the_debiased_running_average():
    g = {"w": np.array([9.0, 9.0])}
    # Iterates 1 then 3 with decay 0.5: sum 0.5 * (0.5 * 1) + 0.5 * 3 = 1.75, weight 0.5 * 0.5 + 0.5 = 0.75.
    averaged = state(g=g, g_ema={"w": np.array([1.75, 0.75])}, g_ema_weight=np.float32(0.75))
    np.testing.assert_allclose(evaluated_generator(averaged)["w"], [1.75 / 0.75, 1.0])


def test_the_evaluated_generator_is_the_generator_itself_without_an_average_or_before_its_first_step():
    g = {"w": np.array([1.0])}
    assert evaluated_generator(state(g=g)) is g
    # An average with no weight yet (step 0) has nothing in it: dividing would give NaN.
    assert evaluated_generator(state(g=g, g_ema={"w": np.zeros(1)}, g_ema_weight=np.float32(0.0))) is g

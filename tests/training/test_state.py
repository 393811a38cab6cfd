"""The train state's helpers: stacking seeds' states, the restore target and completion of a
checkpoint saved before the later leaves existed, and the generator weights evaluation uses."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from gancli.training.state import LATER_LEAVES, complete_state, evaluated_generator, restore_target, stack_states


def test_stacked_states_gain_a_first_axis_with_one_row_per_run():
    states = [{"g": {"w": np.full((2, 3), float(i))}, "step": np.int32(i)} for i in range(3)]
    stacked = stack_states(states)
    assert stacked["g"]["w"].shape == (3, 2, 3) and stacked["step"].shape == (3,)
    for i in range(3):  # row i is run i's leaf, untouched
        np.testing.assert_array_equal(stacked["g"]["w"][i], np.full((2, 3), float(i)))
    np.testing.assert_array_equal(stacked["step"], [0, 1, 2])


def test_the_restore_target_drops_only_the_later_leaves_an_older_checkpoint_lacks():
    abstract = {"g": "g", "step": "step", "lr_scale": "lr_scale", "rollbacks": "rollbacks"}
    old = {"g": [2], "step": []}  # saved by gancli 0.1.0: no lr_scale, no rollbacks
    assert restore_target(abstract, old) == {"g": "g", "step": "step"}
    new = {**old, "lr_scale": [], "rollbacks": []}
    assert restore_target(abstract, new) == abstract
    # A leaf that is not a later one stays in the target even if the checkpoint lacks it: the
    # restore must then fail loudly, not quietly drop part of the state.
    assert "g" in restore_target(abstract, {"step": []})


def test_a_completed_state_means_full_rates_and_no_rollbacks_where_the_checkpoint_said_nothing():
    completed = complete_state({"step": jnp.int32(5)})
    assert set(completed) == {"step", *LATER_LEAVES}
    assert float(completed["lr_scale"]) == 1.0 and completed["lr_scale"].shape == ()
    assert int(completed["rollbacks"]) == 0 and completed["rollbacks"].dtype == jnp.int32
    # What a checkpoint holds is kept as it was.
    kept = complete_state({"step": jnp.int32(5), "lr_scale": jnp.float32(0.25), "rollbacks": jnp.int32(2)})
    assert float(kept["lr_scale"]) == 0.25 and int(kept["rollbacks"]) == 2


def test_the_evaluated_generator_is_the_debiased_running_average():
    g = {"w": np.array([9.0, 9.0])}
    # Iterates 1 then 3 with decay 0.5: sum 0.5 * (0.5 * 1) + 0.5 * 3 = 1.75, weight 0.5 * 0.5 + 0.5 = 0.75.
    state = {"g": g, "g_ema": {"w": np.array([1.75, 0.75])}, "g_ema_weight": np.float32(0.75)}
    np.testing.assert_allclose(evaluated_generator(state)["w"], [1.75 / 0.75, 1.0])


def test_the_evaluated_generator_is_the_generator_itself_without_an_average_or_before_its_first_step():
    g = {"w": np.array([1.0])}
    assert evaluated_generator({"g": g}) is g
    # An average with no weight yet (step 0) has nothing in it: dividing would give NaN.
    assert evaluated_generator({"g": g, "g_ema": {"w": np.zeros(1)}, "g_ema_weight": np.float32(0.0)}) is g

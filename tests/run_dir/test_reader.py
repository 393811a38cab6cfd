"""A run read back from its checkpoints (what `gancli sample` and `gancli eval` start from), and
the summary of a run that already finished with the very config a sweep asks for again.

The checkpoints are hand-built: a state with the smoke preset's layout and made-up numbers,
saved with the metadata the trainer writes; no training."""

import dataclasses
import json
import shutil

import jax
import numpy as np
import pytest

from gancli.config.train import to_dict
from gancli.errors import GancliError
from gancli.run_dir.checkpoints import Checkpointer, state_shapes
from gancli.run_dir.layout import RunDir
from gancli.run_dir.reader import finished_summary, load_run
from gancli.training.problem import build
from gancli.training.state import to_tree
from tests.helpers import SMOKE, assert_states_equal, compose_config

STEPS = (2, 4)
SUMMARY = {"step": 4, "modes_captured": 8.0}


def made_up_state(abstract, step):
    """A state of the layout `abstract` whose every leaf tells `step` apart (built on the host: nothing compiles)."""
    def leaf(x):
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            return jax.random.wrap_key_data(jax.device_put(np.array([0, step], np.uint32)))
        return jax.device_put((np.arange(int(np.prod(x.shape))).reshape(x.shape) % 7 + step).astype(x.dtype))
    return jax.tree.map(leaf, abstract)


def save(directory, cfg, states, **metadata):
    checkpointer = Checkpointer(directory)
    try:
        for step, state in states.items():
            tree = state if isinstance(state, dict) else to_tree(state)  # the checkpoint form
            checkpointer.save(step, tree, {"step": step, "config": to_dict(cfg), "shapes": state_shapes(tree),
                                           "versions": {"gancli": "9.9.9"}, **metadata})
    finally:
        checkpointer.close()


@pytest.fixture(scope="module")
def cfg():
    return compose_config(*SMOKE, "seed=7", "train.steps=4")


@pytest.fixture(scope="module")
def states(cfg):
    abstract = jax.eval_shape(build(cfg)[1])
    return {step: made_up_state(abstract, step) for step in STEPS}


@pytest.fixture(scope="module")
def finished(cfg, states, tmp_path_factory):
    """A run that reached train.steps: checkpoints at steps 2 and 4, and its summary."""
    run_dir = tmp_path_factory.mktemp("finished")
    save(RunDir(run_dir).checkpoints, cfg, states)
    RunDir(run_dir).write_summary(SUMMARY)
    return run_dir


@pytest.fixture
def copy(finished, tmp_path):
    return shutil.copytree(finished, tmp_path / "run")


def files_of(path):
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_run_is_read_at_its_newest_checkpoint_with_the_config_saved_there(finished, cfg, states):
    before = files_of(finished)
    run = load_run(finished)
    assert run.step == 4 and run.run_dir == finished
    assert run.cfg == cfg  # from the checkpoint: the run has no .hydra/ here
    assert_states_equal(run.state, states[4])
    assert files_of(finished) == before  # a reader writes nothing, cleans up nothing


def test_an_older_checkpoint_is_read_when_named(finished, states):
    run = load_run(finished, step=2)
    assert run.step == 2
    assert_states_equal(run.state, states[2])


def test_a_step_without_a_checkpoint_is_refused_naming_those_there_are(finished):
    with pytest.raises(GancliError, match=r"has no checkpoint at step 3; it has step 2, 4 \(train.keep sets how many"):
        load_run(finished, step=3)


def test_a_damaged_named_checkpoint_is_refused_pointing_to_the_others(copy):
    checkpoints = RunDir(copy).checkpoints
    shutil.rmtree(checkpoints / "4" / "state")
    shutil.copytree(checkpoints / "2" / "state", checkpoints / "4" / "state")  # valid arrays, not those saved
    with pytest.raises(GancliError, match=rf"^the checkpoint at step 4 of {copy} is damaged: its arrays or metadata "
                                          r"differ from those saved .*; pick another step \(it has step 2, 4\)$"):
        load_run(copy, step=4)
    assert load_run(copy).step == 2  # by default: the newest intact one


def test_a_group_of_seeds_is_refused_naming_one_of_its_seeds(tmp_path):
    for seed in (4, 3):
        RunDir(tmp_path).seed_run(seed).checkpoints.mkdir(parents=True)
    with pytest.raises(GancliError, match=rf"holds the runs of seeds trained together .* e.g. {tmp_path / 'seed_3'}$"):
        load_run(tmp_path)


def test_a_checkpoint_of_another_layout_is_refused_naming_the_version_that_saved_it(cfg, states, tmp_path):
    state = states[4]
    shapes = {**state_shapes(state), "g/out/kernel/value": [99, 2]}  # as another version's layout would be
    checkpointer = Checkpointer(RunDir(tmp_path).checkpoints)
    try:
        checkpointer.save(4, to_tree(state), {"step": 4, "config": to_dict(cfg), "shapes": shapes,
                                     "versions": {"gancli": "0.9"}})
    finally:
        checkpointer.close()
    with pytest.raises(GancliError, match=r"step 4 of .* holds a train state of another layout \(saved by gancli "
                                          r"0.9\); read it with that version of gancli"):
        load_run(tmp_path)


def test_a_checkpoint_saved_before_rollbacks_existed_reads_with_full_rates(cfg, states, tmp_path):
    old = {k: v for k, v in to_tree(states[4]).items() if k not in ("lr_scale", "rollbacks")}  # as 0.1 saved it
    save(RunDir(tmp_path).checkpoints, cfg, {4: old})
    run = load_run(tmp_path)
    assert float(run.state.lr_scale) == 1.0 and int(run.state.rollbacks) == 0
    np.testing.assert_array_equal(run.state.step, np.asarray(states[4].step))


def test_a_run_that_finished_with_the_same_config_gives_its_summary(finished, cfg):
    assert finished_summary(cfg, finished) == SUMMARY
    # how the run was shown is not what it computed
    assert finished_summary(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, progress=True)),
                            finished) == SUMMARY


@pytest.mark.parametrize("change", [
    lambda cfg: dataclasses.replace(cfg, seed=8),
    lambda cfg: dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, batch_size=32)),
    lambda cfg: dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=6)),  # to be extended
], ids=["seed", "batch_size", "more steps"])
def test_a_run_that_finished_with_other_settings_is_left_to_the_trainer(finished, cfg, change):
    assert finished_summary(change(cfg), finished) is None


@pytest.mark.parametrize("damage", [
    lambda run: RunDir(run).summary_file.unlink(),  # not finished
    lambda run: RunDir(run).summary_file.write_text('{"step": 4, "mo'),  # cut short
    lambda run: shutil.rmtree(RunDir(run).checkpoints / "4"),  # its final checkpoint is gone
    lambda run: (RunDir(run).checkpoints / "4" / "metadata" / "metadata").write_text("{cut sh"),
    lambda run: shutil.rmtree(RunDir(run).checkpoints),
], ids=["no summary", "summary not JSON", "no final checkpoint", "metadata not JSON", "no checkpoints"])
def test_anything_less_certain_than_a_finished_run_is_left_to_the_trainer(copy, cfg, damage):
    damage(copy)
    assert finished_summary(cfg, copy) is None


def test_a_summary_of_another_step_is_not_this_runs_end(copy, cfg):
    RunDir(copy).summary_file.write_text(json.dumps({**SUMMARY, "step": 2}))  # a shorter run's, since extended
    assert finished_summary(cfg, copy) is None


def test_a_run_saved_before_the_weight_average_is_no_finished_run_of_todays_config(cfg, states, tmp_path):
    """Its checkpoint has no train.ema_decay: it evaluated G itself, so it finished a config with
    train.ema_decay=0, not today's default (once read as 0.999, and skipped by a re-run sweep)."""
    raw = to_dict(cfg)
    old = {**raw, "train": {k: v for k, v in raw["train"].items() if k != "ema_decay"}}
    checkpointer = Checkpointer(RunDir(tmp_path).checkpoints)
    try:
        checkpointer.save(4, to_tree(states[4]), {"step": 4, "config": old, "shapes": state_shapes(states[4]),
                                         "versions": {"gancli": "0.1.0"}})
    finally:
        checkpointer.close()
    RunDir(tmp_path).write_summary(SUMMARY)
    assert cfg.train.ema_decay == 0.999
    assert finished_summary(cfg, tmp_path) is None
    no_average = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, ema_decay=0.0))
    assert finished_summary(no_average, tmp_path) == SUMMARY

"""gancli.commands.sample: `gancli sample`'s config, where the samples go, what it refuses to
overwrite, and samples that follow (run, step, seed). (That they are the very samples the run's
evaluation scored is checked end to end in tests/end_to_end/test_run_commands.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from gancli.commands.sample import SampleConfig, parse_sample_config, sample_run
from gancli.config.compose import compose_raw
from gancli.errors import GancliError
from gancli.runner.trainer import train_and_evaluate
from tests.helpers import SMOKE, command_config, compose_config

N = 256  # the smoke preset's eval_samples: the generator program the run compiled already
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

MISSING = object()  # a key left out of the composed config


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A 4-step smoke run on the ring, with checkpoints at steps 2 and 4."""
    path = tmp_path_factory.mktemp("run")
    train_and_evaluate(compose_config(*SMOKE, "train.steps=4", "train.log_every=2", "train.eval_every=2",
                                      "train.ckpt_every=2"), path)
    return path


def draw(run_dir, out, **kwargs):
    """(what sample_run returns, the samples it wrote to `out`)."""
    written = sample_run(command_config("sample", run_dir=str(run_dir), n=N, out=str(out), **kwargs))
    return written, np.load(out)


def test_parsing_gives_the_documented_defaults():
    assert command_config("sample", run_dir="r") == SampleConfig(run_dir="r", n=10000, out=None, step=None, seed=None)


@pytest.mark.parametrize(("raw", "fragment"), [
    ({"run_dir": MISSING}, "config key 'run_dir' is missing"),
    ({"run_dir": "r", "n": 0}, "'n' is 0; it must lie in [1, inf]"),
    ({"run_dir": "r", "out": 3}, "'out' must be a string"),
])
def test_bad_sample_configs_are_refused_with_one_line(raw, fragment):
    with pytest.raises(GancliError) as err:
        parse_sample_config({k: v for k, v in {**compose_raw("sample"), **raw}.items() if v is not MISSING})
    assert fragment in str(err.value) and "\n" not in str(err.value)


def test_an_out_that_is_not_npy_is_refused_before_the_run_is_read(tmp_path):
    with pytest.raises(GancliError, match=r"out=.*x\.csv must name a .npy file"):
        sample_run(command_config("sample", run_dir=str(tmp_path / "no-such-run"), out=str(tmp_path / "x.csv")))


@pytest.mark.parametrize("folder", ["checkpoints", "tb"])
def test_the_runs_own_folders_are_not_written_into(run_dir, folder):
    assert (run_dir / folder).is_dir()
    with pytest.raises(GancliError, match=f"inside the run's {folder}/ folder; write the samples elsewhere"):
        sample_run(command_config("sample", run_dir=str(run_dir), n=N, out=str(run_dir / folder / "s.npy")))
    assert not (run_dir / folder / "s.npy").exists()


def test_without_out_the_samples_go_to_the_default_dir_given(run_dir, tmp_path):
    written = sample_run(command_config("sample", run_dir=str(run_dir), n=N), default_dir=tmp_path)
    assert written["out"] == str(tmp_path / "samples.npy") and written["png"] == str(tmp_path / "samples.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["samples.npy", "samples.png"]  # no temporary file left
    assert not (run_dir / "samples.npy").exists()


def test_the_samples_are_n_float32_points_with_a_png_beside_them(run_dir, tmp_path):
    written, samples = draw(run_dir, tmp_path / "s.npy")
    assert samples.shape == (N, 2) and samples.dtype == np.float32 and np.isfinite(samples).all()
    assert written == {"out": str(tmp_path / "s.npy"), "png": str(tmp_path / "s.png"), "n": N, "shape": [N, 2],
                       "step": 4, "seed": 0}
    assert (tmp_path / "s.png").read_bytes()[:8] == PNG_MAGIC


def test_the_samples_follow_the_seed_and_the_step(run_dir, tmp_path):
    _, again = draw(run_dir, tmp_path / "a.npy")
    _, same = draw(run_dir, tmp_path / "b.npy", seed=0)  # the run's own seed, named
    written, other_seed = draw(run_dir, tmp_path / "c.npy", seed=5)
    older, other_step = draw(run_dir, tmp_path / "d.npy", step=2)
    np.testing.assert_array_equal(again, same)
    assert written["seed"] == 5 and not np.array_equal(again, other_seed)
    assert older["step"] == 2 and not np.array_equal(again, other_step)


def test_a_missing_step_is_refused_with_the_steps_there_are(run_dir, tmp_path):
    with pytest.raises(GancliError, match="no checkpoint at step 3; it has step 2, 4"):
        sample_run(command_config("sample", run_dir=str(run_dir), n=N, out=str(tmp_path / "s.npy"), step=3))
    assert not list(tmp_path.iterdir())

"""Whole runs on images: DCGAN on the 8x8 digits, the user's own files, the pictures, sample and eval."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from gancli.cli.overrides import check_overrides
from gancli.commands.evaluate import eval_run
from gancli.commands.sample import sample_run
from gancli.errors import GancliError
from gancli.evaluation.sample_metrics import FEATURE_METRICS, SAMPLE_METRICS
from gancli.runner.trainer import train_and_evaluate
from gancli.training.problem import build
from tests.helpers import PLOTS, command_config, gancli

TINY_DCGAN = ("model=dcgan", "model.width=4", "prior.dim=8", "train.eval_samples=200", "data.mode_samples=300")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A 40-step DCGAN run on the digits, with its pictures."""
    from tests.helpers import SMOKE, compose_config

    run_dir = tmp_path_factory.mktemp("digits")
    cfg = compose_config(*SMOKE, "data=digits", *TINY_DCGAN, PLOTS)
    summary = train_and_evaluate(cfg, run_dir)
    return cfg, run_dir, summary


@pytest.mark.slow  # trains DCGAN on the digits and their classifier: half a minute
def test_dcgan_on_digits_logs_the_image_metrics(digits_run):
    cfg, run_dir, summary = digits_run
    assert cfg.model.name == "dcgan" and cfg.data.name == "digits" and cfg.prior.dim == 8
    assert summary["step"] == 40
    assert summary["modes_total"] == 10
    assert 1 <= summary["modes_captured"] <= 10
    assert 0 <= summary["mode_kl"] <= np.log(10) + 1e-9
    assert summary["frechet_distance"] > 0
    assert summary["data_log_likelihood"] is None  # images have no known density
    for name in (*SAMPLE_METRICS, *FEATURE_METRICS):
        assert name in summary
    evals = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in evals if "frechet_distance" in r] == [20, 40]


@pytest.mark.slow
def test_a_run_on_images_draws_sample_grids(digits_run):
    _, run_dir, _ = digits_run
    plots = run_dir / "plots"
    for step in (20, 40):
        frame = np.load(plots / f"samples_{step:07d}.npy")
        assert frame.shape == (64, 64)  # the grid's 64 images of the fixed noise, 8x8 flat
        with Image.open(plots / f"samples_{step:07d}.png") as grid:
            assert grid.mode == "L"  # grey digits
            assert grid.size[0] >= 8 * 8 * 7  # 8 cells a row, each at least 7 times the 8-pixel image
    assert not list(plots.glob("critic_*.png"))  # no critic surface over 64 dimensions
    assert (plots / "samples_final.png").exists() and (plots / "curves.png").exists()
    tags = b"".join(path.read_bytes() for path in (run_dir / "tb").iterdir())
    assert b"plots/samples" in tags  # the grid is in TensorBoard too


@pytest.mark.slow
def test_eval_of_an_image_run_reproduces_its_logged_metrics(digits_run, tmp_path):
    cfg, run_dir, summary = digits_run
    result = eval_run(command_config("eval", run_dir=str(run_dir)), tmp_path)
    for name in ("modes_captured", "mode_kl", "frechet_distance", "precision", "recall", "coverage"):
        assert result[name] == pytest.approx(summary[name], rel=1e-5), name


@pytest.mark.slow
def test_sample_of_an_image_run_writes_a_grid(digits_run, tmp_path):
    _, run_dir, _ = digits_run
    written = sample_run(command_config("sample", run_dir=str(run_dir), n=100, out=str(tmp_path / "s.npy")))
    samples = np.load(tmp_path / "s.npy")
    assert samples.shape == (100, 64) and samples.min() >= -1 and samples.max() <= 1
    with Image.open(written["png"]) as grid:
        assert grid.size[0] == grid.size[1]  # 64 images: 8 x 8


@pytest.mark.slow
def test_unlabelled_images_train_with_pixel_metrics(smoke_config, tmp_path):
    """A folder of the user's PNGs with no class folders: no classifier, metrics in pixel space."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    cfg = smoke_config("data=images", f"data.path={folder}", *TINY_DCGAN, "train.eval_samples=40", "train.steps=20")
    summary = train_and_evaluate(cfg, tmp_path / "run")
    assert summary["modes_captured"] is None and summary["mode_kl"] is None
    assert summary["frechet_distance"] > 0 and 0 <= summary["precision"] <= 1
    # The files changed under the run: resuming would train on other data, so it is refused.
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(folder / "0.png")
    with pytest.raises(GancliError, match="images .* changed since it was saved"):
        train_and_evaluate(dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=40)), tmp_path / "run")


@pytest.mark.parametrize("overrides, fragment", [
    (("data=digits", "model=gmm", "divergence=mle"), "no known density"),
    (("model=dcgan",), "model=dcgan is convolutional"),
])
def test_models_that_do_not_fit_the_data_are_refused(smoke_config, overrides, fragment):
    with pytest.raises(GancliError, match=fragment):
        build(smoke_config(*overrides))


def test_image_data_presets_bring_their_keys_to_the_override_check():
    check_overrides("train", ["data=images", "data.path=x", "data.image_size=32"])
    check_overrides("train", ["data=mnist", "data.mode_samples=100", "prior.dim=16"])
    with pytest.raises(GancliError, match="data.imagesize"):
        check_overrides("train", ["data=images", "data.imagesize=32"])


@pytest.mark.slow
def test_an_image_run_resumes_exactly(smoke_config, tmp_path):
    """Stopped at step 20 and resumed, a DCGAN run (its host-loop chunks, its batches drawn on the
    device from the seed and the step) ends bit-identical to one never stopped."""
    from tests.helpers import assert_states_equal, saved_state

    whole = smoke_config("data=digits", *TINY_DCGAN)
    train_and_evaluate(whole, tmp_path / "whole")
    first = smoke_config("data=digits", *TINY_DCGAN, "train.steps=20")
    train_and_evaluate(first, tmp_path / "resumed")
    train_and_evaluate(whole, tmp_path / "resumed")
    assert_states_equal(saved_state(whole, tmp_path / "whole", 40), saved_state(whole, tmp_path / "resumed", 40))


@pytest.mark.slow
@pytest.mark.parametrize("data, modes", [("mnist", 10), ("stacked_mnist", 1000)])
def test_dcgan_on_mnist_and_stacked_mnist(smoke_config, tmp_path, data, modes):
    """MNIST end to end: the MNIST classifier (trained once, held-out accuracy recorded) reads
    each channel of stacked MNIST, and modes are counted over data.mode_samples samples."""
    cfg = smoke_config(f"data={data}", *TINY_DCGAN, "data.mode_samples=2000", "model.pack=2")
    summary = train_and_evaluate(cfg, tmp_path / "run")
    assert summary["modes_total"] == modes
    assert 1 <= summary["modes_captured"] <= modes and summary["frechet_distance"] > 0
    info = [json.loads(p.read_text()) for p in classifier_cache_files()]
    assert any(i["data_name"] in ("mnist", "stacked_mnist") and i["test_accuracy"] > 0.97 for i in info)


def classifier_cache_files():
    import os
    from pathlib import Path

    return sorted(Path(os.environ["GANCLI_CACHE"]).glob("classifier-*.json"))


@pytest.mark.slow
def test_gancli_sample_writes_an_image_grid_from_the_command_line(env, tmp_path):
    run = tmp_path / "run"
    trained = gancli(env, "train", "experiment=smoke", "data=digits", *TINY_DCGAN, "train.progress=false",
                     f"hydra.run.dir={run}", timeout=300)
    assert trained.returncode == 0, trained.stderr
    sampled = gancli(env, "sample", str(run), "n=300", timeout=300)
    assert sampled.returncode == 0, sampled.stderr
    assert np.load(run / "samples.npy").shape == (300, 64)
    with Image.open(run / "samples.png") as grid:
        assert grid.mode == "L" and grid.size[0] == grid.size[1]

@pytest.mark.slow
def test_the_host_loop_chunk_matches_the_compiled_loop(smoke_config):
    """A convolutional model's chunk loops on the host (XLA's CPU convolutions are slow inside a
    compiled loop): same steps, same skipping past `stop`, same metrics layout as lax.scan's."""
    import jax

    from gancli.training.chunk import make_train_chunk

    problem, init = build(smoke_config("data=digits", *TINY_DCGAN))
    assert problem.host_loop == (jax.default_backend() == "cpu")
    results = []
    for host_loop in (True, False):
        chunk = make_train_chunk(dataclasses.replace(problem, host_loop=host_loop), 5)
        results.append(chunk(init(), 3))
    (state_a, metrics_a), (state_b, metrics_b) = results
    assert int(state_a.step) == int(state_b.step) == 3
    np.testing.assert_array_equal(metrics_a["step"], [1, 2, 3, 0, 0])
    for name in metrics_b:
        assert metrics_a[name].shape == metrics_b[name].shape == (5,)
        np.testing.assert_allclose(metrics_a[name], metrics_b[name], rtol=1e-4, atol=1e-6)
    for a, b in zip(jax.tree.leaves(state_a.g), jax.tree.leaves(state_b.g), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

"""The `gancli` command line, run as a user runs it: real subprocesses of the console script."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import jax
import pytest

from gancli.objectives.critic_losses import NOT_ONE_OBJECTIVE, OBJECTIVES
from gancli.run_dir.checkpoints import Checkpointer
from gancli.training.problem import build
from gancli.training.state import to_tree
from tests.helpers import (
    GANCLI,
    PLOTS,
    SMOKE,
    assert_one_line_error,
    assert_states_equal,
    compose_config,
    events,
    gancli,
    saved_state,
    scalar_steps,
    slow_except,
    visible,
)


def _group_line(help_text: str, group: str) -> str:
    """The options `--help` lists for a config group: the text after "<group>: "."""
    (line,) = [line for line in help_text.splitlines() if line.startswith(f"{group}: ")]
    return line[len(group) + 2:]


def test_help_lists_the_commands(env):
    result = gancli(env, "--help")
    assert result.returncode == 0
    assert all(command in result.stdout for command in ("train", "resume", "sample", "eval", "report", "estimate"))


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sample", "eval", "report"])
def test_run_reading_commands_are_hydra_apps_with_help(env, command):
    result = gancli(env, command, "--help")
    assert result.returncode == 0, result.stderr
    assert f"gancli {command}" in result.stdout and "Usage:" in result.stdout


@pytest.mark.slow
def test_estimate_help_is_its_own_app(env):
    result = gancli(env, "estimate", "--help")
    assert result.returncode == 0
    assert "gancli estimate" in result.stdout and "wgan_gp" in _group_line(result.stdout, "divergence")
    assert "eval_samples" in result.stdout


def test_train_help_lists_groups_and_options(env):
    result = gancli(env, "train", "--help")
    assert result.returncode == 0
    assert set(_group_line(result.stdout, "divergence").split(", ")) == set(OBJECTIVES) | set(NOT_ONE_OBJECTIVE)
    assert _group_line(result.stdout, "prior") == "gaussian, uniform"


@pytest.mark.slow
def test_cfg_job_prints_the_composed_config_without_training(env, tmp_path):
    result = gancli(env, "train", "--cfg", "job", "divergence=kl", "prior=uniform", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "name: kl" in result.stdout and "name: uniform" in result.stdout
    assert not (tmp_path / "outputs").exists()


# Three in the fast suite (an unknown name, an unknown key, an unknown command); make test-slow runs every
# one, and tests/end_to_end/test_error_catalogue.py every message of docs/errors.md.
@pytest.mark.parametrize(
    ("args", "fragments"),
    slow_except(lambda args, _: args in (["train", "divergence=klx"], ["train", "train.stpes=5"], ["trian"]), [
        (["train", "divergence=klx"], ["unknown divergence 'klx'", "reverse_kl"]),
        (["train", "train.stpes=5"], ["unknown config key 'train.stpes'", "train.steps"]),
        (["train", "train.steps=abc"], ["'train.steps' must be an integer"]),
        (["train", "optim.d.lr=-1"], ["'optim.d.lr' is -1.0", "(0, inf]"]),
        (["train", "divergence.generator_loss=max"], ["nonsaturating, minimax"]),
        (["trian"], ["unknown command 'trian'", "train"]),
        (["train", "divergence=alpha", "divergence.alpha=1"], ["divergence.alpha is 1", "must not be 0 or 1"]),
        (["train", "divergence.alpha=2"], ["unknown config key 'divergence.alpha'"]),  # gan takes no alpha
        (["train", "divergence=hinge", "divergence.generator_loss=minimax"], ["not a zero-sum game"]),
        (["estimate", "p.meen=[0]"], ["unknown config key 'p.meen'", "p.mean"]),
        (["estimate", "divergence=klx"], ["unknown divergence 'klx'"]),
        (["estimate", "p.std=[-1]"], ["'p.std[0]' is -1", "(0, inf]"]),
        (["resume", "no/such/run"], ["run directory no/such/run does not exist"]),
    ]),
)
def test_bad_input_gets_one_line_and_exit_2(env, tmp_path, args, fragments):
    assert_one_line_error(gancli(env, *args, cwd=tmp_path), *fragments)
    assert not list(tmp_path.glob("outputs/train/*/checkpoints"))


@pytest.mark.slow
def test_a_blown_up_run_exits_1_and_says_why(env, tmp_path):
    """Training failed, not the input: status 1, one line, and failure.json for gancli report."""
    run_dir = tmp_path / "run"
    result = gancli(env, "train", *SMOKE, "divergence=kl", "optim.d.lr=1e6", "train.steps=100",
                    f"hydra.run.dir={run_dir}")
    assert result.returncode == 1, result.stderr
    (line,) = [line for line in result.stderr.splitlines() if "error" in line]
    assert "gancli train: error: non-finite loss" in line
    assert json.loads((run_dir / "failure.json").read_text())["error"] in line


@pytest.mark.slow
def test_a_bad_config_stops_a_sweep_at_once(env, tmp_path):
    result = gancli(env, "train", "-m", "seed=0,1", "train.steps=-5", *SMOKE, f"hydra.sweep.dir={tmp_path / 's'}")
    assert_one_line_error(result, "'train.steps' is -5")
    assert not (tmp_path / "s" / "1").exists()  # the second job never started


def test_train_smoke_leaves_the_run_files(env, tmp_path):
    result = gancli(env, "train", *SMOKE, PLOTS, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    (run_dir,) = (tmp_path / "outputs" / "train").iterdir()
    assert (run_dir / ".hydra" / "config.yaml").exists()
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["20", "40"]
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in lines] == [10, 20, 30, 40]
    assert json.loads((run_dir / "summary.json").read_text())["step"] == 40
    assert (run_dir / "plots" / "samples_final.png").exists()


def _wait_for_metrics(run_dir: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if (run_dir / "metrics.jsonl").exists() and (run_dir / "metrics.jsonl").read_text().strip():
            return
        time.sleep(0.05)
    raise AssertionError(f"no metrics appeared; stderr: {proc.stderr.read() if proc.poll() is not None else ''}")


@pytest.mark.slow  # a subprocess or a whole resumed run: make test-slow
def test_sigterm_saves_then_resume_matches_an_uninterrupted_run(env, tmp_path):
    run_dir = tmp_path / "stopped"
    long_run = [*SMOKE, "train.steps=200000", "train.ckpt_every=100000", "train.eval_every=100000"]
    proc = subprocess.Popen([GANCLI, "train", *long_run, f"hydra.run.dir={run_dir}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_metrics(run_dir, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, stderr
    (stopped_at,) = [int(p.name) for p in (run_dir / "checkpoints").iterdir()]
    assert 0 < stopped_at < 200000
    total = stopped_at + 30

    result = gancli(env, "resume", str(run_dir), f"train.steps={total}")
    assert result.returncode == 0, result.stderr
    straight = tmp_path / "straight"
    result = gancli(env, "train", *long_run, f"train.steps={total}", f"hydra.run.dir={straight}")
    assert result.returncode == 0, result.stderr

    cfg = compose_config(*long_run, f"train.steps={total}")
    assert_states_equal(saved_state(cfg, straight), saved_state(cfg, run_dir))
    assert (straight / "metrics.jsonl").read_text() == (run_dir / "metrics.jsonl").read_text()


@pytest.mark.slow  # a subprocess or a whole resumed run: make test-slow
def test_resume_extends_a_finished_run_with_its_own_overrides(env, tmp_path):
    run_dir = tmp_path / "run"
    assert gancli(env, "train", *SMOKE, "divergence=js", f"hydra.run.dir={run_dir}").returncode == 0
    result = gancli(env, "resume", str(run_dir), "train.steps=60")
    assert result.returncode == 0, result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["step"] == 60
    assert "name: js" in (run_dir / ".hydra" / "config.yaml").read_text()


@pytest.mark.slow  # two processes; the trainer's own test of the refusal is fast
def test_resume_refuses_a_shape_change(env, tmp_path):
    run_dir = tmp_path / "run"
    assert gancli(env, "train", *SMOKE, f"hydra.run.dir={run_dir}").returncode == 0
    record = {p.name: p.read_text() for p in (run_dir / ".hydra").glob("*.yaml")}
    result = gancli(env, "resume", str(run_dir), "prior.dim=3")
    assert_one_line_error(result, "changes parameter shapes", "prior.dim: 2 -> 3")
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["20", "40"]
    # The refused overrides are not recorded: the run's .hydra/ is as it was, so it still resumes.
    assert {p.name: p.read_text() for p in (run_dir / ".hydra").glob("*.yaml")} == record
    assert gancli(env, "resume", str(run_dir), "train.steps=50").returncode == 0


@pytest.mark.slow
def test_completion_query_completes_commands_and_keys(env):
    commands = gancli({**env, "COMP_LINE": "gancli tr", "COMP_POINT": "9"}, "-sc", "query=bash")
    assert commands.stdout.split() == ["train"]
    estimate_keys = gancli({**env, "COMP_LINE": "gancli estimate p.", "COMP_POINT": "18"}, "-sc", "query=bash")
    assert {"p.mean.", "p.weights="} <= set(estimate_keys.stdout.split())
    keys = gancli({**env, "COMP_LINE": "gancli train div", "COMP_POINT": "16"}, "-sc", "query=bash")
    assert "divergence=" in keys.stdout.split()
    options = gancli({**env, "COMP_LINE": "gancli train divergence=", "COMP_POINT": "24"}, "-sc", "query=bash")
    assert {"divergence=kl", "divergence=reverse_kl"} <= set(options.stdout.split())


@pytest.mark.slow
def test_bash_tab_completion_end_to_end(env):
    """What a user gets: install the script in bash, then complete `gancli train div<TAB>`."""
    script = """
    eval "$(gancli train -sc install=bash)"
    COMP_LINE="gancli train div"; COMP_POINT=${#COMP_LINE}; COMP_WORDS=(gancli train div); COMP_CWORD=2
    hydra_bash_completion
    echo "${COMPREPLY[@]}"
    """
    path = f"{Path(GANCLI).parent}:{env['PATH']}"
    result = subprocess.run(["bash", "-c", script], env={**env, "PATH": path}, capture_output=True, text=True,
                            timeout=60)
    words = result.stdout.split()
    assert "divergence=" in words and all(w.startswith("divergence") for w in words), result.stderr


@pytest.mark.slow
def test_multirun_sweep_makes_one_run_dir_per_job(env, tmp_path):
    sweep = tmp_path / "sweep"
    result = gancli(env, "train", "-m", "divergence=kl,gan", "seed=0,1", *SMOKE, f"hydra.sweep.dir={sweep}",
                    timeout=600)
    assert result.returncode == 0, result.stderr
    jobs = sorted(p for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())
    assert [p.name for p in jobs] == ["0", "1", "2", "3"]
    seen = set()
    for job in jobs:
        config = (job / ".hydra" / "config.yaml").read_text()
        seen.add((("name: kl" in config), ("seed: 1" in config)))
        assert json.loads((job / "summary.json").read_text())["step"] == 40
    assert len(seen) == 4
    result = gancli(env, "report", str(sweep), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # two seeds of each divergence; their default generator forms differ, so the report shows them too
    assert "| kl | minimax | 2 |" in result.stdout and "| gan | nonsaturating | 2 |" in result.stdout
    assert all((sweep / name).stat().st_size > 500 for name in ("report.md", "report.csv", "report.png"))


@pytest.mark.slow
def test_a_failed_job_does_not_stop_the_sweep(env, tmp_path):
    """Job 0 blows up (a huge critic learning rate), job 1 still runs; the sweep exits 1 naming job 0, and
    the report says why it failed."""
    sweep = tmp_path / "sweep"
    result = gancli(env, "train", "-m", "divergence=kl", "optim.d.lr=1e6,1e-4", *SMOKE,
                    "train.steps=100", f"hydra.sweep.dir={sweep}", timeout=300)
    assert result.returncode == 1, result.stderr
    assert f"error in job 0 ({sweep / '0'}): non-finite loss" in result.stderr
    assert f"1 job(s) of the sweep failed: {sweep / '0'}" in result.stderr.strip().splitlines()[-1]
    assert not (sweep / "0" / "summary.json").exists() and (sweep / "1" / "summary.json").exists()
    report = gancli(env, "report", str(sweep), cwd=tmp_path)
    assert "| 0 | 1e+06 | failed at step" in report.stdout and "| 1 | 0.0001 | finished |" in report.stdout


@pytest.mark.slow
def test_sigint_saves_and_exits_130(env, tmp_path):
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([GANCLI, "train", *SMOKE, "train.steps=200000", "train.ckpt_every=100000",
                             f"hydra.run.dir={run_dir}"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    _wait_for_metrics(run_dir, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # an impatient second Ctrl-C while it saves: ignored
    proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT
    (step,) = Checkpointer(run_dir / "checkpoints", read_only=True).all_steps()
    cfg = compose_config(*SMOKE, "train.steps=200000", "train.ckpt_every=100000")
    abstract = jax.eval_shape(build(cfg)[1])
    Checkpointer(run_dir / "checkpoints", read_only=True).read_verified(step, lambda _: to_tree(abstract))  # intact


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(env, tmp_path):
    """Killed outright: the newest complete checkpoint is the resume point, and nothing is lost."""
    run_dir = tmp_path / "killed"
    args = [*SMOKE, "train.steps=200000", "train.ckpt_every=50", "train.eval_every=100000"]
    proc = subprocess.Popen([GANCLI, "train", *args, f"hydra.run.dir={run_dir}"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not any(p.name.isdigit() for p in (run_dir / "checkpoints").glob("*")):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.kill()
    proc.communicate()
    steps = [int(p.name) for p in (run_dir / "checkpoints").iterdir() if p.name.isdigit()]
    total = max(steps) + 70
    assert gancli(env, "resume", str(run_dir), f"train.steps={total}").returncode == 0
    straight = tmp_path / "straight"
    assert gancli(env, "train", *args, f"train.steps={total}", f"hydra.run.dir={straight}").returncode == 0
    cfg = compose_config(*args, f"train.steps={total}")
    assert_states_equal(saved_state(cfg, straight), saved_state(cfg, run_dir))
    # TensorBoard: the events up to the checkpoint were on disk before it, the resume logged the rest
    logged = list(range(10, total + 1, 10)) + ([] if total % 10 == 0 else [total])
    assert scalar_steps(visible(events(run_dir / "tb")), "train/d_loss") == logged

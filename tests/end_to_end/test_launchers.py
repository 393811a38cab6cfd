"""Cluster sweeps (hydra/launcher=slurm, tried here with submitit_local and a stand-in for SLURM's
commands) and hyperparameter search (hparams_search=ring_optuna, Hydra's Optuna sweeper)."""

from __future__ import annotations

import enum
import importlib.util
import json
import math
import os
import sys
import textwrap
from typing import Any

import pytest
import yaml
from hydra import compose, initialize_config_module

from gancli.cli import main as cli_main
from gancli.cli.hparams_search import value_for_sweeper
from gancli.cli.overrides import check_overrides
from gancli.cli.parallel_jobs import limit_threads_of_parallel_jobs
from gancli.cli.task import FAILED_JOBS_ENV, failed_jobs, record_failed_job
from gancli.errors import GancliError
from tests.helpers import SMOKE, assert_one_line_error, gancli

SEARCHED = ("optim.d.lr", "optim.g.lr", "train.d_steps", "model.hidden")  # conf/hparams_search/ring_optuna.yaml
# A job that blows up (a huge critic learning rate) beside one that finishes, as in test_sweeps.
ONE_FAILS = ["divergence=kl", "optim.d.lr=1e6,1e-4", *SMOKE, "train.steps=100"]


def _launcher(*overrides: str) -> Any:
    with initialize_config_module(config_module="gancli.conf", version_base="1.3"):
        cfg = compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    return cfg.hydra.launcher


def test_the_slurm_preset_is_found_in_gancli_conf_and_sets_the_cluster_settings():
    launcher = _launcher("hydra/launcher=slurm", "hydra.launcher.partition=gpu")
    assert launcher._target_.endswith("SlurmLauncher")  # its defaults: Hydra's submitit_slurm
    assert launcher.partition == "gpu"
    assert (launcher.gpus_per_node, launcher.tasks_per_node, launcher.cpus_per_task) == (1, 1, 4)
    assert (launcher.timeout_min, launcher.mem_gb, launcher.max_num_timeout) == (60, 16, 3)
    # submitit's files go beside the run dirs, in the sweep dir that the nodes share.
    assert launcher.submitit_folder.startswith("outputs/multirun/train/") and launcher.submitit_folder.endswith(
        "/.submitit/%j")


def test_submitit_local_jobs_share_the_cores_like_joblib_jobs_and_slurm_jobs_do_not(monkeypatch):
    monkeypatch.setattr("os.sched_getaffinity", lambda _: {0, 1, 2, 3})
    local: dict[str, str] = {}
    limit_threads_of_parallel_jobs(["-m", "hydra/launcher=submitit_local", "seed=0,1,2,3"], local)
    assert local["OMP_NUM_THREADS"] == "1" and local["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
    slurm: dict[str, str] = {}
    limit_threads_of_parallel_jobs(["-m", "hydra/launcher=slurm", "seed=0,1,2,3"], slurm)
    assert slurm == {}  # SLURM gives each job cores of its own


def test_failed_jobs_are_a_file_each_read_back_in_the_order_they_failed(monkeypatch, tmp_path):
    monkeypatch.setenv(FAILED_JOBS_ENV, str(tmp_path))
    record_failed_job("sweep/1", "non-finite loss")
    record_failed_job("sweep/0", "refused")
    assert failed_jobs() == [("sweep/1", "non-finite loss"), ("sweep/0", "refused")]
    assert len(list(tmp_path.glob("*.json"))) == 2 and not list(tmp_path.glob("*.part"))
    monkeypatch.setenv(FAILED_JOBS_ENV, str(tmp_path / "gone"))  # a worker left from an earlier sweep
    record_failed_job("sweep/2", "late")
    assert failed_jobs() == []


def test_jobs_on_a_cluster_record_failures_in_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert cli_main._failed_jobs_parent(["-m", "hydra/launcher=slurm"]) == str(tmp_path)
    assert cli_main._failed_jobs_parent(["-m", "hydra/launcher=submitit_local"]) is None  # this machine's /tmp


class Direction(enum.Enum):  # as the Optuna sweeper's structured config holds it
    minimize = 1
    maximize = 2


def test_a_job_without_a_value_is_the_worst_trial_of_a_search_and_nan_elsewhere():
    nan = float("nan")
    assert value_for_sweeper(nan, {"direction": Direction.minimize}) == math.inf
    assert value_for_sweeper(nan, {"direction": "maximize"}) == -math.inf
    assert math.isnan(value_for_sweeper(nan, {"max_batch_size": None, "params": None}))  # the basic sweeper
    assert value_for_sweeper(0.25, {"direction": "minimize"}) == 0.25
    assert value_for_sweeper(None, {"direction": "minimize"}) is None  # what other commands return


def _plugin_installed(monkeypatch, installed: bool) -> None:
    """find_spec as if the Optuna sweeper were installed or not, whatever this environment holds
    (`make test` runs before `make install-search`)."""
    real = importlib.util.find_spec
    monkeypatch.setattr("importlib.util.find_spec",
                        lambda name, *a: (object() if installed else None) if "optuna" in name else real(name, *a))


def test_the_override_checker_knows_hparams_search(monkeypatch):
    _plugin_installed(monkeypatch, True)
    check_overrides("train", ["-m", "hparams_search=ring_optuna", "train.objective=high_quality_fraction",
                              "train.d_steps=choice(1,3)", "hydra.sweeper.n_trials=5"])
    with pytest.raises(GancliError, match=r"unknown hparams_search 'grid_optuna'; choose one of: ring_optuna"):
        check_overrides("train", ["-m", "hparams_search=grid_optuna"])
    with pytest.raises(GancliError, match=r"unknown config key 'train.dsteps'"):  # keys are still checked
        check_overrides("train", ["-m", "hparams_search=ring_optuna", "train.dsteps=2"])


def test_hparams_search_without_the_optuna_sweeper_says_how_to_install_it(monkeypatch):
    _plugin_installed(monkeypatch, False)
    with pytest.raises(GancliError, match=r"hparams_search=ring_optuna needs Hydra's optuna sweeper, which is not "
                                          r"installed: make install-search \(or: pip install optuna==5.0.0"):
        check_overrides("train", ["-m", "hparams_search=ring_optuna"])


def test_an_unknown_search_preset_is_one_line(env, tmp_path):
    assert_one_line_error(gancli(env, "train", "-m", "hparams_search=ring_optuner", cwd=tmp_path),
                          "unknown hparams_search 'ring_optuner'; choose one of: ring_optuna")
    assert not (tmp_path / "outputs").exists()


def _job_dirs(sweep) -> list[str]:
    return sorted(p.name for p in sweep.iterdir() if p.is_dir() and p.name.isdigit())


@pytest.mark.slow
def test_a_submitit_local_sweep_runs_each_job_in_a_process_of_its_own(env, tmp_path):
    sweep = tmp_path / "sweep"
    result = gancli(env, "train", "-m", "hydra/launcher=submitit_local", "seed=0,1", *SMOKE,
                    f"hydra.sweep.dir={sweep}", timeout=300)
    assert result.returncode == 0, result.stderr
    assert _job_dirs(sweep) == ["0", "1"]
    for job in ("0", "1"):
        assert json.loads((sweep / job / "summary.json").read_text())["step"] == 40
        assert sorted(p.name for p in (sweep / job / "checkpoints").iterdir()) == ["20", "40"]
        assert f"seed: {job}" in (sweep / job / ".hydra" / "config.yaml").read_text()
    assert "LocalLauncher" in (sweep / "multirun.yaml").read_text()
    # Each job ran in a process of submitit's, which logged it in the sweep dir.
    logs = sorted(sweep.glob(".submitit/*/*_log.out"))
    assert len(logs) == 2 and all("Job completed successfully" in p.read_text() for p in logs)


@pytest.mark.slow
def test_a_failed_submitit_local_job_is_named_and_the_sweep_exits_1(env, tmp_path):
    sweep = tmp_path / "sweep"
    result = gancli(env, "train", "-m", "hydra/launcher=submitit_local", *ONE_FAILS, f"hydra.sweep.dir={sweep}",
                    timeout=300)
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == f"gancli train: 1 job(s) of the sweep failed: {sweep / '0'}"
    assert "non-finite loss" in json.loads((sweep / "0" / "failure.json").read_text())["error"]
    assert (sweep / "1" / "summary.json").exists()


# Stand-ins for SLURM's commands, enough for submitit: sbatch runs each task of the array at once,
# in the background, with the variables SLURM sets; srun runs its command; sacct reports the state.
FAKE_SBATCH = """\
import os, re, subprocess, sys
state = os.environ["FAKE_SLURM_DIR"]
if sys.argv[1] == "--task":  # one task of the array, detached from sbatch
    job, task, script = sys.argv[2:5]
    env = {**os.environ, "SLURM_JOB_ID": str(int(job) + 1 + int(task)), "SLURM_ARRAY_JOB_ID": job,
           "SLURM_ARRAY_TASK_ID": task, "SLURM_NTASKS": "1", "SLURM_JOB_NUM_NODES": "1", "SLURM_NODEID": "0",
           "SLURM_PROCID": "0", "SLURM_LOCALID": "0", "SLURM_JOB_NODELIST": "localhost"}
    with open(f"{state}/{job}_{task}.log", "w") as log:
        status = subprocess.run(["bash", script], env=env, stdout=log, stderr=log).returncode
    open(f"{state}/{job}_{task}.state", "w").write("COMPLETED" if status == 0 else "FAILED")
    sys.exit(0)
script = open(sys.argv[1]).read()
job = str(1000 + len([n for n in os.listdir(state) if n.startswith("sbatch-")]))
open(f"{state}/sbatch-{job}.sh", "w").write(script)
tasks = int(re.search(r"#SBATCH --array=0-(\\d+)", script).group(1)) + 1
for task in range(tasks):
    subprocess.Popen([sys.executable, __file__, "--task", job, str(task), sys.argv[1]], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(f"Submitted batch job {job}")
"""
FAKE_SRUN = """\
import json, os, sys
args = sys.argv[1:]
while args[0].startswith("--"):
    args = args[2:] if args[0] in ("--output", "--error") else args[1:]
job = os.environ["SLURM_ARRAY_JOB_ID"] + "_" + os.environ["SLURM_ARRAY_TASK_ID"]
with open(os.environ["FAKE_SLURM_DIR"] + f"/srun-{job}.json", "w") as f:
    json.dump({"failed_jobs": os.environ.get("GANCLI_FAILED_JOBS")}, f)
os.execvp(args[0], args)
"""
FAKE_SACCT = """\
import os, sys
state = os.environ["FAKE_SLURM_DIR"]
print("JobID|State|NodeList")
for job in [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "-j"]:
    path = f"{state}/{job}.state"
    print(f"{job}|{open(path).read() if os.path.exists(path) else 'RUNNING'}|localhost")
"""


@pytest.mark.slow
def test_a_slurm_sweep_is_an_array_of_jobs_that_reports_its_failed_ones(env, tmp_path):
    """The sweep of the README with hydra/launcher=slurm, SLURM's commands played by stand-ins: the
    preset becomes sbatch's options, each job trains in its run dir, and a job that failed on a
    node is named (its record went to the working directory, not to this machine's /tmp)."""
    bin_dir, state, work = tmp_path / "bin", tmp_path / "slurm", tmp_path / "work"
    for folder in (bin_dir, state, work):
        folder.mkdir()
    for name, source in (("sbatch", FAKE_SBATCH), ("srun", FAKE_SRUN), ("sacct", FAKE_SACCT)):
        (bin_dir / name).write_text(f"#!{sys.executable}\n" + textwrap.dedent(source))
        (bin_dir / name).chmod(0o755)
    slurm_env = {**env, "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}", "FAKE_SLURM_DIR": str(state)}
    sweep = tmp_path / "sweep"
    result = gancli(slurm_env, "train", "-m", "hydra/launcher=slurm", "hydra.launcher.partition=debug", *ONE_FAILS,
                    f"hydra.sweep.dir={sweep}", cwd=work, timeout=300)
    assert result.returncode == 1, result.stderr + "".join(p.read_text() for p in state.glob("*.log"))
    assert result.stderr.strip().splitlines()[-1] == f"gancli train: 1 job(s) of the sweep failed: {sweep / '0'}"
    assert (sweep / "1" / "summary.json").exists() and not (sweep / "0" / "summary.json").exists()

    (script,) = [p.read_text() for p in state.glob("sbatch-*.sh")]  # one array for the whole sweep
    for option in ("--array=0-1%2", "--partition=debug", "--time=60", "--gpus-per-node=1", "--cpus-per-task=4",
                   "--mem=16GB", "--ntasks-per-node=1", "--signal=USR2@120", "--job-name=train"):
        assert f"#SBATCH {option}\n" in script, script
    records = [json.loads(p.read_text())["failed_jobs"] for p in sorted(state.glob("srun-*.json"))]
    assert len(records) == 2 and all(r.startswith(str(work / ".gancli-failed-jobs-")) for r in records)
    assert not list(work.iterdir())  # and the record is gone


def _search(env, sweep, *overrides, trials=3):
    return gancli(env, "train", "-m", "hparams_search=ring_optuna", *SMOKE, f"hydra.sweeper.n_trials={trials}",
                  *overrides, f"hydra.sweep.dir={sweep}", timeout=300)


def _trial_params(job) -> dict:
    overrides = dict(o.split("=", 1) for o in yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text()))
    return {key: yaml.safe_load(overrides[key]) for key in SEARCHED if key in overrides}


@pytest.mark.slow
def test_a_tiny_optuna_search_minimises_mode_kl_and_leaves_its_results_in_the_sweep_dir(env, tmp_path):
    """Three trials of the ring_optuna preset (broader modes, so that 40 steps give high-quality
    samples): each a run dir with the params the sampler drew from the preset's space, and
    optimization_results.yaml naming the trial with the lowest mode_kl of their summaries."""
    sweep = tmp_path / "sweep"
    result = _search(env, sweep, "data.std=0.1")
    assert result.returncode == 0, result.stderr
    assert "FutureWarning" not in result.stderr  # the plugin's calls that optuna 5 deprecates are not shown

    assert _job_dirs(sweep) == ["0", "1", "2"]
    trials = {}
    for job in _job_dirs(sweep):
        params = _trial_params(sweep / job)
        assert set(params) == set(SEARCHED)
        assert 5e-5 <= params["optim.d.lr"] <= 2e-3 and 5e-5 <= params["optim.g.lr"] <= 2e-3
        assert params["train.d_steps"] in (1, 2, 5) and params["model.hidden"] in (64, 128, 256)
        assert f"hidden: {params['model.hidden']}" in (sweep / job / ".hydra" / "config.yaml").read_text()
        kl = json.loads((sweep / job / "summary.json").read_text())["mode_kl"]
        trials[job] = (math.inf if kl is None else kl, params)
    assert len({json.dumps(p, sort_keys=True) for _, p in trials.values()}) == 3  # three different trials

    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    best_value, best_params = min(trials.values(), key=lambda t: t[0])
    assert math.isfinite(best_value)
    assert results["best_value"] == pytest.approx(best_value)
    assert results["best_params"] == pytest.approx(best_params)
    assert "OptunaSweeper" in (sweep / "0" / ".hydra" / "hydra.yaml").read_text()


@pytest.mark.slow
def test_a_failed_trial_is_the_worst_and_the_search_goes_on(env, tmp_path):
    """optuna 5 refuses a NaN, and the plugin would stop the search with a traceback: a failed
    job returns +inf instead. A choice of a critic rate that blows up and one that does not, the
    other params fixed (the seeded random sampler draws both in the first two trials): both
    trials run, the sound one is best, the failed one is named."""
    sweep = tmp_path / "sweep"
    result = _search(env, sweep, "hydra/sweeper/sampler=random", "divergence=kl", "optim.d.lr=choice(1e6,1e-4)",
                     "optim.g.lr=2e-4", "train.d_steps=1", "model.hidden=16", "train.steps=100", trials=2)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    blown_up = [job for job in _job_dirs(sweep) if _trial_params(sweep / job)["optim.d.lr"] == 1e6]
    assert len(_job_dirs(sweep)) == 2 and len(blown_up) == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last == f"gancli train: 1 job(s) of the sweep failed: {sweep / blown_up[0]}"
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_params"]["optim.d.lr"] == 1e-4 and math.isfinite(results["best_value"])

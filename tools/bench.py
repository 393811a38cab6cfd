"""`make bench`: gancli against an idiomatic PyTorch eager reference, side by side, on this machine.

Writes BENCHMARKS.md. Measures, in one run:
1. the machine's float32 matrix-multiply rate (NumPy on every core, and XLA);
2. steady-state training steps per second of gancli's jitted chunk and of tools/torch_reference.py
   on the same GAN, batch 64 and 512, in alternating repetitions (the machine's speed drifts),
   the same number of steps each, and the modes each has captured at the end;
   the FLOPs of one step (XLA's cost analysis) and the fraction of the matmul rate it reaches;
3. the default `gancli train`, whole process, against the reference doing the same 20,000 steps,
   both scored by `gancli eval` (the reference through `samples=`);
4. time from `gancli train` to its first training steps, with a cold and a warm compilation cache;
5. what checkpointing, logging and evaluation cost at the default cadence;
6. DCGAN training steps per second on 28x28 MNIST at batch 64: gancli's host loop of jitted steps
   at two widths, against the same steps inside one compiled lax.scan.

Timings are medians with min and max; the machine's speed drifts by up to 2x over tens of seconds,
so ratios measured side by side say more than any absolute figure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
_SCRIPT = Path(sys.executable).parent / "gancli"
# The console script where pip put one; `python -m gancli` where it did not (a --target install).
GANCLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "gancli"]


def median_min_max(values: list[float]) -> tuple[float, float, float]:
    return statistics.median(values), min(values), max(values)


def fmt(values: list[float], digits: int = 0) -> str:
    mid, lo, hi = median_min_max(values)
    return f"{mid:.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


# ---------------------------------------------------------------------------------------------
# 1. The machine


def machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {name: metadata.version(name) for name in ("gancli", "jax", "jaxlib", "flax", "optax",
                                                          "orbax-checkpoint", "torch", "numpy")}
    return {"cpu": cpu, "cores": str(os.cpu_count()), "python": platform.python_version(), **versions}


def matmul_rates(n: int = 2048, repeats: int = 7) -> dict[str, list[float]]:
    """GFLOP/s of an n x n float32 matmul: NumPy (OpenBLAS, every core) and XLA (jitted)."""
    import jax
    import jax.numpy as jnp

    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    flops = 2 * n**3
    rates: dict[str, list[float]] = {"numpy": [], "xla": []}
    xa = jnp.asarray(a)
    dot = jax.jit(jnp.dot)
    dot(xa, xa).block_until_ready()
    for _ in range(repeats):
        start = time.perf_counter()
        a @ a
        rates["numpy"].append(flops / (time.perf_counter() - start) / 1e9)
        start = time.perf_counter()
        dot(xa, xa).block_until_ready()
        rates["xla"].append(flops / (time.perf_counter() - start) / 1e9)
    return rates


# ---------------------------------------------------------------------------------------------
# 2. Steady state, side by side


def compose(*overrides: str) -> Any:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module
    from omegaconf import OmegaConf

    from gancli.config.train import parse_config

    with initialize_config_module(config_module="gancli.conf", version_base="1.3"):
        raw = OmegaConf.to_container(hydra_compose(config_name="train", overrides=list(overrides)), resolve=True)
    return parse_config(raw)


def modes_captured(samples: Any, cfg: Any) -> str:
    import jax

    from gancli.data.toy import make_dataset
    from gancli.evaluation.sample_metrics import evaluate_samples

    data = make_dataset(cfg.data)
    real = np.asarray(data.sample(jax.random.key(1), len(samples)))
    result = evaluate_samples(real, np.asarray(samples, dtype=np.float32), data)
    return f"{result['modes_captured']}/{result['modes_total']}"


NOT_KERNELS = ("parameter", "get-tuple-element", "constant", "bitcast", "tuple")


def kernel_count(hlo: str) -> int:
    """The instructions of a compiled program's entry computation that run as kernels of their
    own (fusions, matmuls, copies...), not views of data (parameters, tuples, bitcasts)."""
    entry = hlo[hlo.index("ENTRY"):]
    ops = [re.search(r"= \S+ ([\w-]+)\(", line) for line in entry.splitlines() if " = " in line]
    return sum(1 for op in ops if op and op.group(1) not in NOT_KERNELS)


def steady_state(batch: int, steps_per_rep: int, reps: int, device: str = "cpu") -> dict[str, Any]:
    """Alternate gancli chunks and reference steps, the same number of each per repetition.

    gancli runs on JAX's default device; the reference on `device` (cpu, or cuda)."""
    import jax
    import torch
    from torch_reference import ReferenceGAN

    from gancli.evaluation.train_state_eval import Evaluator
    from gancli.training.chunk import make_train_chunk
    from gancli.training.keys import evaluation_keys
    from gancli.training.problem import build
    from gancli.training.step import train_step

    cfg = compose("model.pack=1", f"train.batch_size={batch}")  # the plain GAN: the reference packs nothing
    problem, init = build(cfg)
    chunk_length = cfg.train.chunk
    chunk = make_train_chunk(problem, chunk_length)
    state = jax.jit(init)()
    stop = np.int32(2**31 - 1)
    state, _ = chunk(state, stop)  # compile
    jax.block_until_ready(state)
    # One step on its own: XLA's cost analysis counts a loop's body once, not once per iteration.
    compiled = jax.jit(partial(train_step, problem)).lower(state).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    flops_per_step = float(cost["flops"])

    reference = ReferenceGAN(batch, pack=1, ema_decay=cfg.train.ema_decay, device=device)
    reference.train(20)  # warm-up: allocator, autograd graph caches
    chunks = steps_per_rep // chunk_length
    jax_rates, torch_rates = [], []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(chunks):
            state, metrics = chunk(state, stop)
        jax.block_until_ready(metrics)
        jax_rates.append(chunks * chunk_length / (time.perf_counter() - start))
        start = time.perf_counter()
        reference.train(chunks * chunk_length)
        torch_rates.append(chunks * chunk_length / (time.perf_counter() - start))
    n = 2500
    gancli_samples = Evaluator(problem, n).samples(state, evaluation_keys(0).samples, n)
    return {
        "batch": batch, "steps": 20 + reps * chunks * chunk_length, "jax": jax_rates, "torch": torch_rates,
        "ratio": [j / t for j, t in zip(jax_rates, torch_rates, strict=True)],
        "flops_per_step": flops_per_step, "kernels_per_step": kernel_count(compiled.as_text()),
        "torch_threads": torch.get_num_threads(),
        "gancli_modes": modes_captured(gancli_samples, cfg), "torch_modes": modes_captured(reference.samples(n), cfg),
    }


def probe_devices(batch: int, steps: int) -> float:
    """Steps/s of the chunk with the batch sharded over every JAX device of this process
    (JAX_NUM_CPU_DEVICES sets how many host devices there are); parameters replicated."""
    import dataclasses

    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from gancli.training.chunk import make_train_chunk
    from gancli.training.problem import build

    problem, init = build(compose("model.pack=1", f"train.batch_size={batch}"))
    state = jax.jit(init)()
    if jax.device_count() > 1:
        mesh = jax.make_mesh((jax.device_count(),), ("batch",), axis_types=(jax.sharding.AxisType.Auto,))
        rows = NamedSharding(mesh, P("batch"))
        data, prior = problem.data, problem.prior

        class ShardedData:  # the data's samples, laid out over the devices by rows
            def __getattr__(self, name: str) -> Any:
                return getattr(data, name)

            def sample(self, key: Any, n: int) -> Any:
                return jax.lax.with_sharding_constraint(data.sample(key, n), rows)

        problem = dataclasses.replace(problem, data=ShardedData(),
                                      prior=lambda key, n: jax.lax.with_sharding_constraint(prior(key, n), rows))
        state = jax.device_put(state, NamedSharding(mesh, P()))
    chunk = make_train_chunk(problem, 100)
    stop = np.int32(2**31 - 1)
    state, metrics = chunk(state, stop)  # compile
    jax.block_until_ready(metrics)
    start = time.perf_counter()
    for _ in range(steps // 100):
        state, metrics = chunk(state, stop)
    jax.block_until_ready(metrics)
    return (steps // 100) * 100 / (time.perf_counter() - start)


def sharded_rates(batch: int, steps: int, reps: int) -> dict[str, list[float]]:
    """Steps/s on 1 and on 2 host devices (each a process of its own), alternating."""
    rates: dict[str, list[float]] = {"1": [], "2": []}
    for _ in range(reps):
        for devices in rates:
            result = subprocess.run([sys.executable, __file__, "--probe-devices", str(batch), str(steps)],
                                    env={**os.environ, "JAX_NUM_CPU_DEVICES": devices, "GANCLI_JAX_CACHE": ""},
                                    capture_output=True, text=True, check=True)
            rates[devices].append(float(result.stdout.split()[-1]))
    return rates


# ---------------------------------------------------------------------------------------------
# 3. The default run, whole process


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return seconds, result


def default_run(work: Path, env: dict[str, str], steps: int, device: str = "cpu") -> dict[str, Any]:
    run_dir = work / "gancli_default"
    gancli_s, _ = timed([*GANCLI, "train", "train.progress=false", f"train.steps={steps}",
                         f"hydra.run.dir={run_dir}"], env, work)
    samples = work / "reference.npy"
    torch_s, result = timed([sys.executable, str(ROOT / "tools" / "torch_reference.py"), "--steps", str(steps),
                             "--out", str(samples), "--device", device], env, work)
    _, scored = timed([*GANCLI, "eval", str(run_dir), f"samples={samples}"], env, work)
    summary = json.loads((run_dir / "summary.json").read_text())
    reference = json.loads(samples.with_suffix(".eval.json").read_text())
    return {"steps": steps, "gancli_s": gancli_s, "torch_s": torch_s,
            "torch_steps_per_s": json.loads(result.stdout.strip().splitlines()[-1])["steps_per_s"],
            "gancli_steps_per_s": summary["steps_per_s"], "gancli": summary, "torch": reference}


def sweeps(work: Path, env: dict[str, str], steps: int) -> dict[str, float]:
    """Wall times of two pieces of work, each done two ways, once each (a minute or so apiece):
    2 jobs of a sweep one after another or side by side (hydra/launcher=joblib), and 4 seeds as
    4 runs one after another or as one group (train.num_seeds=4). The compilation cache is
    warmed first, as a second sweep finds it."""
    common = ["train.progress=false", f"train.steps={steps}"]
    for warm in (["train.num_seeds=4"], []):
        timed([*GANCLI, "train", "train.progress=false", "train.steps=200", *warm,
               f"hydra.run.dir={work / 'warm' / str(len(warm))}"], env, work)
    sweep = [*GANCLI, "train", "-m", "seed=0,1", *common]
    one_after_another, _ = timed([*sweep, f"hydra.sweep.dir={work / 'sweep_basic'}"], env, work)
    side_by_side, _ = timed([*sweep, "hydra/launcher=joblib", f"hydra.sweep.dir={work / 'sweep_joblib'}"], env, work)
    runs = 0.0
    for seed in range(4):
        runs += timed([*GANCLI, "train", *common, f"seed={seed}", f"hydra.run.dir={work / 'seeds' / str(seed)}"],
                      env, work)[0]
    group, _ = timed([*GANCLI, "train", *common, "train.num_seeds=4", f"hydra.run.dir={work / 'group'}"], env, work)
    alone = json.loads((work / "seeds" / "0" / "summary.json").read_text())["steps_per_s"]
    together = json.loads((work / "group" / "seed_0" / "summary.json").read_text())["steps_per_s"]
    return {"steps": steps, "sweep_basic_s": one_after_another, "sweep_joblib_s": side_by_side,
            "seeds_runs_s": runs, "seeds_group_s": group, "alone_steps_per_s": alone,
            "group_steps_per_s": 4 * together}


# ---------------------------------------------------------------------------------------------
# 4. Start-up


def first_steps_time(work: Path, env: dict[str, str], cache: Path, name: str) -> float:
    """Seconds from starting `gancli train` to its first 10 steps logged (metrics.jsonl's first line)."""
    run_dir = work / name
    start = time.perf_counter()
    process = subprocess.Popen([*GANCLI, "train", "train.progress=false", "train.chunk=10", "train.log_every=10",
                                "train.steps=1000000", f"hydra.run.dir={run_dir}"],
                               env={**env, "GANCLI_JAX_CACHE": str(cache)}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    metrics = run_dir / "metrics.jsonl"
    try:
        while not (metrics.exists() and metrics.stat().st_size):
            if process.poll() is not None:
                raise RuntimeError(f"gancli train exited with {process.returncode} before its first steps")
            time.sleep(0.005)
        return time.perf_counter() - start
    finally:
        process.kill()
        process.wait()


def startup(work: Path, env: dict[str, str], reps: int) -> dict[str, list[float]]:
    cold, warm = [], []
    for i in range(reps):
        cache = work / f"cache{i}"
        cold.append(first_steps_time(work, env, cache, f"cold{i}"))
        warm.append(first_steps_time(work, env, cache, f"warm{i}"))
    return {"cold": cold, "warm": warm}


# ---------------------------------------------------------------------------------------------
# 5. Checkpointing, logging, evaluation


def overheads(work: Path, reps: int = 7) -> dict[str, list[float]]:
    """Seconds per checkpoint save (the blocking part, and until written), per logged record
    (metrics.jsonl and TensorBoard), per evaluation and per redraw of the pictures."""
    import jax

    from gancli.config.train import to_dict
    from gancli.evaluation.train_state_eval import Evaluator
    from gancli.pictures.run_pictures import RunPictures
    from gancli.run_dir.checkpoints import Checkpointer, state_shapes
    from gancli.run_dir.files import MetricsLog
    from gancli.run_dir.tensorboard import TensorBoardLog
    from gancli.training.keys import evaluation_keys
    from gancli.training.problem import build

    cfg = compose()
    problem, init = build(cfg)
    state = jax.jit(init)()
    meta = {"step": 0, "config": to_dict(cfg), "shapes": state_shapes(state), "versions": {}}
    checkpointer = Checkpointer(work / "ckpt", keep=3)
    blocking, written = [], []
    for i in range(reps):
        start = time.perf_counter()
        checkpointer.save(i + 1, state, meta)
        blocking.append(time.perf_counter() - start)
        checkpointer.wait()
        written.append(time.perf_counter() - start)
    checkpointer.close()

    log = MetricsLog(work / "metrics.jsonl")
    tensorboard = TensorBoardLog(work / "tb", problem.metric_names, resumed_from=None)
    record = {"step": 1, **{k: 0.5 for k in problem.metric_names}}
    logging = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(100):
            log.append([record])
            tensorboard.scalars([record])
        tensorboard.flush()
        logging.append((time.perf_counter() - start) / 100)
    tensorboard.close()

    evaluator = Evaluator(problem, cfg.train.eval_samples)
    keys = evaluation_keys(0)
    evaluator.evaluate(state, 0, keys)  # compile
    evaluation, pictures = [], []
    drawer = RunPictures(work / "plots", cfg, problem)
    for i in range(reps):
        start = time.perf_counter()
        real, _, result = evaluator.evaluate(state, i, keys)
        evaluation.append(time.perf_counter() - start)
        start = time.perf_counter()
        drawer.draw(i, evaluator, state, keys, real, result, [{"step": i, **result}], final=False)
        pictures.append(time.perf_counter() - start)
    return {"save_blocking": blocking, "save_written": written, "log_record": logging, "evaluation": evaluation,
            "pictures": pictures}


# ---------------------------------------------------------------------------------------------
# BENCHMARKS.md


def dcgan_rates(reps: int) -> dict[str, list[float]]:
    """Steps/s of DCGAN on 28x28 MNIST at batch 64 (divergence=js): the chunk gancli runs (a host
    loop over one jitted step) at widths 64 and 32, and, at width 32, the same steps in lax.scan,
    which XLA's CPU backend runs far slower (see make_train_chunk). Alternating repetitions."""
    import dataclasses

    import jax

    from gancli.training.chunk import make_train_chunk
    from gancli.training.problem import build

    ways = {"host loop, width 64": (64, True, 40), "host loop, width 32": (32, True, 100),
            "lax.scan, width 32": (32, False, 10)}
    chunks, states = {}, {}
    for name, (width, host_loop, steps) in ways.items():
        problem, init = build(compose("data=mnist", "model=dcgan", "divergence=js", f"model.width={width}"))
        chunks[name] = make_train_chunk(dataclasses.replace(problem, host_loop=host_loop), steps)
        states[name], _ = chunks[name](init(), steps)  # compiles
        jax.block_until_ready(states[name])
    rates: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(reps):
        for name, (_, _, steps) in ways.items():
            start = time.perf_counter()
            states[name], _ = chunks[name](states[name], int(states[name]["step"]) + steps)
            jax.block_until_ready(states[name])
            rates[name].append(steps / (time.perf_counter() - start))
    return rates


def _dcgan_section(dcgan: dict[str, list[float]]) -> list[str]:
    return [
        "## DCGAN on MNIST",
        "",
        "`model=dcgan data=mnist divergence=js` (28x28 images, batch 64, latent 64), training steps per second.",
        "gancli loops the steps of a convolutional model on the host, one jitted step each: XLA's CPU backend",
        "runs the same convolutions inside a compiled loop (`lax.scan`) several times slower.",
        "",
        "| chunk | steps/s |",
        "|---|---|",
        *[f"| {name} | {fmt(values, 1)} |" for name, values in dcgan.items()],
        "",
    ]


def report(m: dict[str, str], rates: dict[str, list[float]], steady: list[dict[str, Any]],
           sharded: dict[str, list[float]], default: dict[str, Any], start: dict[str, list[float]],
           costs: dict[str, list[float]], scaled: dict[str, float], dcgan: dict[str, list[float]],
           gpu: dict[str, Any] | None, command: str, seconds: float) -> str:
    peak_numpy = statistics.median(rates["numpy"])
    peak_xla = statistics.median(rates["xla"])
    cfg = compose()
    steps, ckpt_every, eval_every, log_every = cfg.train.steps, cfg.train.ckpt_every, cfg.train.eval_every, \
        cfg.train.log_every
    train_s = steps / default["gancli_steps_per_s"]
    saves, evals, records = steps // ckpt_every, steps // eval_every, steps // log_every
    save_frac = saves * statistics.median(costs["save_blocking"]) / train_s
    log_frac = records * statistics.median(costs["log_record"]) / train_s
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`{command}`) in {seconds / 60:.1f} minutes. Every figure below was measured in",
        "that one run. Timings are medians, with (min-max) over the repetitions. The machine's speed drifts by up",
        "to 2x over tens of seconds, so gancli and the reference alternate and the ratios are per repetition.",
        "",
        "## Machine",
        "",
        f"- CPU: {m['cpu']}, {m['cores']} cores; no GPU",
        f"- Python {m['python']}; gancli {m['gancli']}, jax/jaxlib {m['jax']}/{m['jaxlib']}, flax {m['flax']}, "
        f"optax {m['optax']}, orbax-checkpoint {m['orbax-checkpoint']}; torch {m['torch']}; numpy {m['numpy']}",
        f"- float32 2048x2048 matmul: NumPy (OpenBLAS, every core) {fmt(rates['numpy'])} GFLOP/s; "
        f"XLA {fmt(rates['xla'])} GFLOP/s",
        "",
        "## Steady-state training speed, side by side",
        "",
        "The ring of 8 Gaussians, 4x128 ReLU MLPs for both players, Adam(2e-4, 0.5, 0.999), the non-saturating",
        "loss, one critic step per generator step, a weight average of the generator (decay 0.999), no packing.",
        "gancli: its jitted chunk of 100 steps (`make_train_chunk`, sampling inside). Reference:",
        "`tools/torch_reference.py`, PyTorch eager as its popular examples are written, "
        f"{steady[0]['torch_threads']} intra-op threads.",
        "Both train the same number of steps; the modes captured are those of 2,500 samples at the end.",
        "",
        "| batch | gancli steps/s | reference steps/s | ratio | steps | modes (gancli / reference) "
        "| MFLOP/step | gancli GFLOP/s | % of XLA matmul | % of NumPy matmul |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in steady:
        gflops = row["flops_per_step"] * statistics.median(row["jax"]) / 1e9
        lines.append(
            f"| {row['batch']} | {fmt(row['jax'])} | {fmt(row['torch'])} | {fmt(row['ratio'], 2)} | {row['steps']} "
            f"| {row['gancli_modes']} / {row['torch_modes']} | {row['flops_per_step'] / 1e6:.0f} | {gflops:.0f} "
            f"| {100 * gflops / peak_xla:.0f}% | {100 * gflops / peak_numpy:.0f}% |")
    g, t = default["gancli"], default["torch"]
    lines += [
        "",
        *_why_not_faster(steady, sharded, peak_numpy),
        "",
        "## The default run, whole process",
        "",
        f"`gancli train` with every default ({default['steps']:,} steps, batch 256, PacGAN pack 2, evaluations with",
        f"pictures every {eval_every:,} steps, checkpoints every {ckpt_every:,}) against `tools/torch_reference.py`",
        "doing the same steps (pack 2, weight average, no evaluation, no checkpoints). Both timed from process",
        "start to exit, both scored by `gancli eval` on 2,500 samples (the reference's through `samples=`).",
        "",
        "| | wall time (s) | training steps/s | modes captured | high-quality fraction | mode KL |",
        "|---|---|---|---|---|---|",
        f"| gancli | {default['gancli_s']:.1f} | {default['gancli_steps_per_s']:.0f} | {g['modes_captured']}/"
        f"{g['modes_total']} | {g['high_quality_fraction']:.3f} | {_num(g['mode_kl'])} |",
        f"| reference | {default['torch_s']:.1f} | {default['torch_steps_per_s']:.0f} | {t['modes_captured']}/"
        f"{t['modes_total']} | {t['high_quality_fraction']:.3f} | {_num(t['mode_kl'])} |",
        "",
        f"gancli takes {default['gancli_s'] / default['torch_s']:.2f}x the reference's wall time. Its training "
        f"steps alone, at {default['gancli_steps_per_s']:.0f} steps/s,",
        f"take {train_s:.1f} s, {train_s / default['torch_s']:.2f}x the reference's whole run; the rest is "
        "start-up, the evaluations and the",
        "last pictures (the others are drawn while training goes on)."
        + (" The 0.5x target needs the step itself to be faster." if train_s > 0.5 * default["torch_s"] else ""),
        "",
        "## Start-up",
        "",
        "Seconds from starting `gancli train` to its first 10 steps in metrics.jsonl (import, config, init,",
        "compilation, 10 steps). Cold: an empty compilation cache; warm: the same command again.",
        "",
        f"- cold cache: {fmt(start['cold'], 2)} s",
        f"- warm cache: {fmt(start['warm'], 2)} s",
        "",
        "## Checkpointing, logging, evaluation",
        "",
        f"At the default cadence (a checkpoint every {ckpt_every:,} steps, a metrics line every {log_every}, an",
        f"evaluation every {eval_every:,}) over {steps:,} steps at {default['gancli_steps_per_s']:.0f} steps/s "
        f"({train_s:.0f} s of training):",
        "",
        "| | each (ms) | count | share of training time |",
        "|---|---|---|---|",
        f"| checkpoint save, blocking part (the write goes on in the background) "
        f"| {fmt(_ms(costs['save_blocking']), 1)} | {saves} | {100 * save_frac:.2f}% |",
        f"| checkpoint save, until on disk | {fmt(_ms(costs['save_written']), 1)} | {saves} | |",
        f"| metrics.jsonl line + TensorBoard scalars | {fmt(_ms(costs['log_record']), 2)} | {records} "
        f"| {100 * log_frac:.2f}% |",
        f"| evaluation ({cfg.train.eval_samples:,} samples, every metric) | {fmt(_ms(costs['evaluation']))} | {evals} "
        f"| {100 * evals * statistics.median(costs['evaluation']) / train_s:.1f}% |",
        f"| pictures (train.plots), drawn on a thread of their own while training goes on "
        f"| {fmt(_ms(costs['pictures']))} | {evals} | (overlapped) |",
        "",
        "## Sweeps and seeds (the scaling issue)",
        "",
        f"The default config at {scaled['steps']:,} steps a run, timed from the command to its exit, once each",
        "(no repetitions: read the ratios as within the machine's drift), with the compilation cache warm:",
        "",
        "| the same work | one after another (s) | together (s) | ratio |",
        "|---|---|---|---|",
        f"| 2 jobs of `-m seed=0,1`: Hydra's basic launcher, then `hydra/launcher=joblib` "
        f"| {scaled['sweep_basic_s']:.1f} | {scaled['sweep_joblib_s']:.1f} "
        f"| {scaled['sweep_joblib_s'] / scaled['sweep_basic_s']:.2f}x |",
        f"| 4 seeds: 4 runs, then one run of `train.num_seeds=4` | {scaled['seeds_runs_s']:.1f} "
        f"| {scaled['seeds_group_s']:.1f} | {scaled['seeds_group_s'] / scaled['seeds_runs_s']:.2f}x |",
        "",
        f"Training steps per second, every seed counted: {scaled['alone_steps_per_s']:.0f} for a run alone, "
        f"{scaled['group_steps_per_s']:.0f} for the 4 seeds together.",
        "",
        *_dcgan_section(dcgan),
        *_gpu_section(gpu),
        "## Against the targets of the performance and scaling issues",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *_targets(steady, default, start, save_frac + log_frac, scaled),
        "",
    ]
    return "\n".join(lines)


def _why_not_faster(steady: list[dict[str, Any]], sharded: dict[str, list[float]], peak_numpy: float) -> list[str]:
    """The ceilings, computed from this run's own figures."""
    big = next(row for row in steady if row["batch"] == 512)
    ceiling = peak_numpy * 1e9 / big["flops_per_step"]
    reference = statistics.median(big["torch"])
    two = [b / a for a, b in zip(sharded["1"], sharded["2"], strict=True)]
    small = next(row for row in steady if row["batch"] == 64)
    per_kernel_us = 1e6 / statistics.median(small["jax"]) / small["kernels_per_step"]
    return [
        f"Why not faster at batch 64: a step is {small['kernels_per_step']} kernels of XLA's CPU runtime "
        "(fusions, matmuls, copies), run one",
        f"after another; at batch 64 each averages {per_kernel_us:.1f} µs, so what costs is starting "
        "kernels, not arithmetic",
        f"({small['flops_per_step'] / 1e6:.0f} MFLOP a step). Fusing across the critic's and the "
        "generator's updates is not possible (each",
        "needs the other's result), and the flags that change XLA's CPU threading or matmul library "
        "(multi-threaded Eigen",
        "off, XNNPACK, oneDNN, the concurrency-optimised scheduler) were each tried once while this was "
        "written: none moved",
        "the rate by more than the machine's drift (about 10%).",
        "",
        "Why not faster at batch 512: one step is a chain of small dependent matmuls (512x128 by 128x128 at",
        "most) with the Adam updates, the sampling and the activations between them, and the critic's step",
        "must finish before the generator's starts. The machine's ceiling for a step of "
        f"{big['flops_per_step'] / 1e6:.0f} MFLOP is NumPy's",
        f"every-core matmul rate divided by it: {ceiling:.0f} steps/s. The reference does {reference:.0f} steps/s, "
        f"so 2.5x it ({2.5 * reference:.0f})",
        f"is {'above' if 2.5 * reference > ceiling else 'below'} what this machine's arithmetic allows; "
        f"gancli reaches {statistics.median(big['jax']) / ceiling:.0%} of that ceiling.",
        "",
        "Sharding the batch over two host devices (`JAX_NUM_CPU_DEVICES=2`, parameters replicated, the",
        f"critic's and generator's gradients summed across them) gives {fmt(sharded['2'])} steps/s against",
        f"{fmt(sharded['1'])} on one device: {fmt(two, 2)}x, measured alternately in processes of their own. One",
        "device already keeps both cores partly busy (XLA splits each 512-row matmul), so a second device",
        "only adds the gradients' all-reduce between the two halves.",
    ]


def _gpu_section(gpu: dict[str, Any] | None) -> list[str]:
    """BENCHMARKS.md's GPU section, from tools/gpu_bench.py's JSON: this machine has no GPU."""
    if gpu is None:
        return []
    v = gpu["versions"]
    lines = [
        "## On a GPU",
        "",
        f"Measured by `python tools/gpu_bench.py` on an {gpu['device']} on {gpu['date']} (jax {v['jax']}, "
        f"flax {v['flax']}, torch {v['torch']}),",
        f"not again by this run{': ' + gpu['runs'] if gpu.get('runs') else ''}.",
        "",
        "Steady state, side by side as above (gancli's jitted chunk against the PyTorch eager reference on the",
        "GPU; the reference synchronises once a step for its losses, as its examples do):",
        "",
        "| batch | gancli steps/s | reference steps/s | ratio | MFLOP/step | gancli TFLOP/s "
        "| modes (gancli / reference) |",
        "|---|---|---|---|---|---|---|",
    ]
    for batch in (64, 512, 4096):
        row = gpu.get(f"steady_{batch}")
        if row is None or "error" in row:
            continue
        rate = statistics.median(row["jax"])
        lines.append(f"| {batch} | {fmt(row['jax'])} | {fmt(row['torch'])} | {fmt(row['ratio'], 1)} "
                     f"| {row['flops_per_step'] / 1e6:.0f} | {rate * row['flops_per_step'] / 1e12:.2f} "
                     f"| {row['gancli_modes']} / {row['torch_modes']} |")
    seeds = [gpu[k] for k in ("seeds_1", "seeds_8", "seeds_64") if k in gpu and "error" not in gpu[k]]
    if seeds:
        one = statistics.median(seeds[0]["aggregate_steps_per_s"])
        lines += [
            "",
            "Many seeds in one program: the default config's chunk `vmap`ped over S train states "
            f"(batch {seeds[0]['batch']}), all S",
            "advancing together; steps/s counts every seed's steps:",
            "",
            "| seeds | steps/s, all seeds | per seed | speed-up over one seed |",
            "|---|---|---|---|",
        ]
        for row in seeds:
            rate = statistics.median(row["aggregate_steps_per_s"])
            lines.append(f"| {row['seeds']} | {fmt(row['aggregate_steps_per_s'])} | {rate / row['seeds']:.0f} "
                         f"| {rate / one:.1f}x |")
    run = gpu.get("default_run")
    if run and "error" not in run:
        g, t = run["gancli"], run["torch"]
        lines += [
            "",
            f"The default run, whole process, {run['steps']:,} steps (evaluations, pictures and checkpoints as "
            "above): gancli",
            f"{run['gancli_s']:.1f} s ({run['gancli_steps_per_s']:.0f} training steps/s, {g['modes_captured']}/"
            f"{g['modes_total']} modes, {g['high_quality_fraction']:.0%} high quality); the reference "
            f"{run['torch_s']:.1f} s",
            f"({run['torch_steps_per_s']:.0f} steps/s, {t['modes_captured']}/{t['modes_total']} modes, "
            f"{t['high_quality_fraction']:.0%} high quality). On the GPU a run of this size is mostly start-up,",
            f"evaluation and pictures: its training steps take {run['steps'] / run['gancli_steps_per_s']:.1f} s.",
        ]
    return [*lines, ""]


def _targets(steady: list[dict[str, Any]], default: dict[str, Any], start: dict[str, list[float]],
             overhead: float, scaled: dict[str, float]) -> list[str]:
    by_batch = {row["batch"]: statistics.median(row["ratio"]) for row in steady}
    rows = [("batch 64: at least 3.5x the reference's steps/s", by_batch[64], by_batch[64] >= 3.5, "x"),
            ("batch 512: at least 2.5x", by_batch[512], by_batch[512] >= 2.5, "x"),
            ("default run, whole process: at most 0.5x the reference's wall time",
             default["gancli_s"] / default["torch_s"], default["gancli_s"] / default["torch_s"] <= 0.5, "x"),
            ("first steps within 2.5 s, warm cache", statistics.median(start["warm"]),
             statistics.median(start["warm"]) <= 2.5, " s"),
            ("first steps within 5 s, cold cache", statistics.median(start["cold"]),
             statistics.median(start["cold"]) <= 5, " s"),
            ("checkpointing and logging under 2% of training time", 100 * overhead, overhead < 0.02, "%"),
            ("a 2-job sweep on 2 cores side by side: at most 0.6x the time one after another",
             scaled["sweep_joblib_s"] / scaled["sweep_basic_s"],
             scaled["sweep_joblib_s"] <= 0.6 * scaled["sweep_basic_s"], "x"),
            ("4 seeds in one program on the CPU: not slower than 4 runs one after another",
             scaled["seeds_group_s"] / scaled["seeds_runs_s"], scaled["seeds_group_s"] <= scaled["seeds_runs_s"], "x")]
    return [f"| {name} | {value:.2f}{unit} | {'yes' if met else 'no'} |" for name, value, met, unit in rows]


def _ms(values: list[float]) -> list[float]:
    return [1000 * v for v in values]


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def main() -> int:
    parser = argparse.ArgumentParser(description="gancli against a PyTorch reference; writes BENCHMARKS.md")
    parser.add_argument("--reps", type=int, default=5, help="repetitions of each side-by-side measurement")
    parser.add_argument("--default-steps", type=int, default=20000, help="steps of the whole-process comparison")
    parser.add_argument("--sweep-steps", type=int, default=4000, help="steps of each run of the sweep comparisons")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    parser.add_argument("--gpu", default=str(ROOT / "benchmarks" / "gpu.json"),
                        help="tools/gpu_bench.py's results, rendered as BENCHMARKS.md's GPU section")
    parser.add_argument("--probe-devices", nargs=2, type=int, metavar=("BATCH", "STEPS"),
                        help="(internal) print the steps/s of the batch sharded over this process's devices")
    args = parser.parse_args()
    if args.probe_devices:
        print(probe_devices(*args.probe_devices))
        return 0
    began = time.perf_counter()
    os.environ.setdefault("GANCLI_JAX_CACHE", "")  # the in-process parts compile afresh, as a first run does
    with tempfile.TemporaryDirectory(prefix="gancli-bench-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "GANCLI_JAX_CACHE": str(work / "cache")}
        print("machine ...", flush=True)
        m, rates = machine(), matmul_rates()
        steady = []
        for batch, steps_per_rep in ((64, 1000), (512, 400)):
            print(f"steady state, batch {batch} ...", flush=True)
            steady.append(steady_state(batch, steps_per_rep, args.reps))
        print("batch 512 on one and on two host devices ...", flush=True)
        sharded = sharded_rates(512, 1000, reps=3)
        print("default run, gancli then the reference ...", flush=True)
        default = default_run(work, env, args.default_steps)
        print("start-up ...", flush=True)
        start = startup(work, env, reps=3)
        print("checkpointing, logging, evaluation ...", flush=True)
        costs = overheads(work)
        print("sweeps side by side, seeds in one program ...", flush=True)
        scaled = sweeps(work, env, args.sweep_steps)
        print("DCGAN on MNIST ...", flush=True)
        dcgan = dcgan_rates(args.reps)
        command = " ".join(["python", "tools/bench.py", *sys.argv[1:]])
        gpu = json.loads(Path(args.gpu).read_text()) if Path(args.gpu).exists() else None
        text = report(m, rates, steady, sharded, default, start, costs, scaled, dcgan, gpu, command,
                      time.perf_counter() - began)
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

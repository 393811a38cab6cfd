"""gancli on a GPU: the measurements of `make bench` that a GPU changes, written to a JSON file.

Run it on a machine with an NVIDIA GPU, JAX with CUDA, and PyTorch with CUDA:

    python tools/gpu_bench.py --out benchmarks/gpu.json

It measures, in one run:
1. steady-state steps per second of gancli's jitted chunk and of the PyTorch eager reference
   (tools/torch_reference.py, on the GPU), alternating, at batch 64, 512 and 4096;
2. many seeds in one program: the chunk `vmap`ped over S independent train states (the
   default config, batch 256), S = 1, 8, 64: the aggregate steps per second of all S;
3. the default `gancli train`, whole process, against the reference doing the same steps.

`make bench` (tools/bench.py) renders the file into BENCHMARKS.md's GPU section, with the
device and date it was measured on: this machine has no GPU to measure it again.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

import bench  # noqa: E402  (tools/ is not a package)


def device_name() -> str:
    import jax

    return str(jax.devices()[0].device_kind)


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {}
    for name in ("jax", "jaxlib", "flax", "optax", "orbax-checkpoint", "torch", "numpy", "hydra-core"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "missing"
    return found


def seeds_throughput(num_seeds: int, steps: int, reps: int) -> dict[str, Any]:
    """Aggregate steps/s of `num_seeds` train states of the default config, one vmapped chunk."""
    import dataclasses

    import jax
    import numpy as np

    from gancli.training.chunk import make_train_chunk
    from gancli.training.problem import build

    cfg = bench.compose()
    problem, _ = build(cfg)
    inits = [build(dataclasses.replace(cfg, seed=seed))[1] for seed in range(num_seeds)]
    states = jax.jit(lambda: jax.tree.map(lambda *leaves: jax.numpy.stack(leaves), *[init() for init in inits]))()
    chunk = jax.jit(jax.vmap(make_train_chunk(problem, cfg.train.chunk), in_axes=(0, None)), donate_argnums=0)
    stop = np.int32(2**31 - 1)
    states, metrics = chunk(states, stop)  # compile
    jax.block_until_ready(metrics)
    chunks = max(1, steps // cfg.train.chunk)
    rates = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(chunks):
            states, metrics = chunk(states, stop)
        jax.block_until_ready(metrics)
        rates.append(num_seeds * chunks * cfg.train.chunk / (time.perf_counter() - start))
    return {"seeds": num_seeds, "batch": cfg.train.batch_size, "aggregate_steps_per_s": rates,
            "final_d_loss_finite": bool(np.isfinite(np.asarray(metrics["d_loss"])).all())}


def attempt(results: dict[str, Any], name: str, measure: Callable[[], Any]) -> None:
    """One measurement: its result, or the error that stopped it (the others still run)."""
    print(f"{name} ...", flush=True)
    started = time.perf_counter()
    try:
        results[name] = measure()
    except Exception:  # noqa: BLE001 - a failed measurement is reported, not fatal
        results[name] = {"error": traceback.format_exc(limit=3)[-1500:]}
    print(f"{name}: {time.perf_counter() - started:.0f} s: {json.dumps(results[name])[:400]}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="gancli on a GPU; writes a JSON file for BENCHMARKS.md")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "gpu.json"))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--default-steps", type=int, default=20000)
    parser.add_argument("--steps", type=int, default=2000, help="steps per repetition of the steady state")
    parser.add_argument("--reference-device", default="cuda", help="where PyTorch runs the reference")
    parser.add_argument("--only", default="steady,seeds,default", help="which measurements, comma-separated")
    args = parser.parse_args()
    began = time.perf_counter()
    results: dict[str, Any] = {"date": datetime.date.today().isoformat(), "device": device_name(),
                               "versions": versions()}
    print(json.dumps(results), flush=True)
    device, only = args.reference_device, set(args.only.split(","))
    if "steady" in only:
        for batch in (64, 512, 4096):
            attempt(results, f"steady_{batch}", lambda b=batch: bench.steady_state(b, args.steps, args.reps, device))
    if "seeds" in only:
        for seeds in (1, 8, 64):
            attempt(results, f"seeds_{seeds}", lambda n=seeds: seeds_throughput(n, args.steps, args.reps))
    if "default" in only:
        with tempfile.TemporaryDirectory(prefix="gancli-gpu-bench-") as tmp:
            work = Path(tmp)
            env = {**bench.os.environ, "GANCLI_JAX_CACHE": str(work / "cache")}
            attempt(results, "default_run", lambda: bench.default_run(work, env, args.default_steps, device))
    results["seconds"] = time.perf_counter() - began
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {args.out} in {results['seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Fault injection: SIGKILL real `gancli train` runs at random moments, resume them, and compare.

Why: gancli promises that a run can be killed at any moment (an OOM killer, a pre-empted node,
a pulled plug) and resumed with nothing lost: the resumed run ends bit-identical to one that
was never interrupted, and a resume never picks up a half-written checkpoint. The unit tests
check single, well-placed interruptions; this script checks the promise statistically, against
the real command line, with kills placed by a seeded random schedule:

1. An uninterrupted reference run (`gancli train`, a small smoke config) keeps every checkpoint.
2. A victim run with the same config is started again and again in its own run directory
   (`gancli train` into the same dir, or `gancli resume <dir>`), and each life is killed with
   SIGKILL: after a random delay from its start (often before training begins), as soon as a
   checkpoint write is under way (an Orbax `*.orbax-checkpoint-tmp` directory exists), or at a
   random moment after it has written a new checkpoint (so that the run makes progress).
3. After every kill, every checkpoint that a resume could pick (every complete one on disk) is
   restored read-only and compared bit for bit with the reference's checkpoint of that step;
   each life's log must show it resumed from the newest of those verified checkpoints.
4. After at least --kills kills, a last life runs to the end; its final state and metrics.jsonl
   must equal the reference's exactly.

Usage: python tools/fault_injection.py [--kills 20] [--seed 0] [--workdir DIR] [--steps S]
Exits 0 when everything matched, 1 with the reason otherwise (the work directory is then kept).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jax
import numpy as np
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from gancli.config.train import parse_config
from gancli.run_dir.checkpoints import Checkpointer
from gancli.training.problem import build

GANCLI = str(Path(sys.executable).parent / "gancli")
CKPT_EVERY = 25  # frequent checkpoints: many writes to land kills in, and little progress lost per kill
# The smoke preset, evaluation only at the end (it is slow and not what is being tested).
CONFIG_OVERRIDES = ("experiment=smoke", "train.progress=false", "train.plots=false", "train.chunk=10",
                    "train.log_every=10", f"train.ckpt_every={CKPT_EVERY}", "train.eval_every=1000000")
# The reference keeps every checkpoint (a victim checkpoint is compared with the reference's of the
# same step); the victim keeps few, so kills also land while Orbax deletes old checkpoints.
REFERENCE_KEEP = 1000000
VICTIM_KEEP = 3
TMP_MARKER = "orbax-checkpoint-tmp"  # Orbax writes <step>.orbax-checkpoint-tmp, then renames it to <step>
POLL_S = 0.001  # a checkpoint write takes tens of milliseconds: poll well inside that
LIFE_TIMEOUT_S = 300.0  # a life takes seconds: one that hangs this long is a finding too
# A life that resumes this close to the end might finish before its kill: those are killed during startup.
END_GUARD_STEPS = 8 * CKPT_EVERY

RESUMED = re.compile(r"resuming .* from step (\d+)")
TRAINING = re.compile(r"training .* from step (\d+) to (\d+)")
DAMAGED = re.compile(r"damaged checkpoint", re.IGNORECASE)  # the trainer skipped or set one aside


class Mismatch(Exception):
    """The run broke a promise (or could not be tested): the message says what differed."""


# ---------------------------------------------------------------------------------------------
# Checkpoints: read them as the resume would, compare them leaf by leaf, bit for bit.


def _host_leaves(state: Any) -> dict[str, np.ndarray]:
    """{"['g']['out']['kernel'].value": array, ...}; a typed PRNG key as its raw key data."""
    leaves = {}
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        leaves[jax.tree_util.keystr(path)] = np.asarray(jax.device_get(leaf))
    return leaves


def _differences(actual: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> list[str]:
    """The leaves whose path, dtype, shape or bytes differ (bit-identical, NaN payloads included)."""
    differing = sorted(set(actual) ^ set(expected))
    for name in sorted(set(actual) & set(expected)):
        a, e = actual[name], expected[name]
        if a.dtype != e.dtype or a.shape != e.shape or a.tobytes() != e.tobytes():
            differing.append(name)
    return differing


def _directory_fingerprint(directory: Path) -> tuple[tuple[str, int, int, int], ...]:
    """Every file and folder below `directory` with its inode, size and mtime: any rewrite changes it."""
    entries = []
    for root, dirs, files in os.walk(directory):
        for name in dirs + files:
            path = Path(root, name)
            stat = path.lstat()
            entries.append((str(path.relative_to(directory)), stat.st_ino, stat.st_size, stat.st_mtime_ns))
    return tuple(sorted(entries))


def _scan(checkpoints: Path) -> tuple[set[int], set[tuple[str, int]]]:
    """(the complete checkpoints' steps, (name, inode) of each unfinished write) in `checkpoints`."""
    steps, unfinished = set(), set()
    try:
        with os.scandir(checkpoints) as entries:
            for entry in entries:
                if entry.name.isdigit():
                    steps.add(int(entry.name))
                elif TMP_MARKER in entry.name:
                    unfinished.add((entry.name, entry.inode()))
    except FileNotFoundError:  # a life killed before it created the directory
        pass
    return steps, unfinished


class CheckpointVerifier:
    """Restores checkpoints the way a resume does (read-only, beside no writer) and compares them."""

    def __init__(self, steps: int):
        overrides = [*CONFIG_OVERRIDES, f"train.steps={steps}"]
        with initialize_config_module(config_module="gancli.conf", version_base="1.3"):
            raw = OmegaConf.to_container(compose(config_name="train", overrides=overrides), resolve=True)
        _, init = build(parse_config(raw))
        self.abstract_state = jax.eval_shape(init)
        self.reference: dict[int, dict[str, np.ndarray]] = {}
        # (run dir, step) -> fingerprint of the checkpoint when it was verified: restoring takes
        # ~0.08 s, so a checkpoint whose files have not changed since is not restored again.
        self._verified: dict[tuple[Path, int], tuple[tuple[str, int, int, int], ...]] = {}
        self.checked = 0  # checkpoints found on disk and checked, over all calls of verify
        self.restored = 0  # of those, restored and compared (the others were unchanged since)

    def _read_all(self, run_dir: Path, only: set[int] | None = None) -> dict[int, dict[str, np.ndarray]]:
        """{step: leaves} of every complete checkpoint in run_dir (or only those steps)."""
        checkpoints = run_dir / "checkpoints"
        if not checkpoints.is_dir() or only == set():
            return {}
        checkpointer = Checkpointer(checkpoints, read_only=True)
        states = {}
        try:
            for step in checkpointer.all_steps():
                if only is not None and step not in only:
                    continue
                try:
                    states[step] = _host_leaves(checkpointer.restore(step, self.abstract_state))
                except Exception as err:  # noqa: BLE001 - any failure to read back is the finding
                    raise Mismatch(f"{checkpoints / str(step)} is listed as a complete checkpoint but cannot be "
                                   f"restored ({type(err).__name__}: {err})") from err
        finally:
            checkpointer.close()
        return states

    def load_reference(self, run_dir: Path) -> None:
        self.reference = self._read_all(run_dir)
        if not self.reference:
            raise Mismatch(f"the reference run {run_dir} has no checkpoints")

    def complete_steps(self, run_dir: Path) -> list[int]:
        checkpoints = run_dir / "checkpoints"
        if not checkpoints.is_dir():
            return []
        checkpointer = Checkpointer(checkpoints, read_only=True)
        try:
            return checkpointer.all_steps()
        finally:
            checkpointer.close()

    def verify(self, run_dir: Path) -> list[int]:
        """Check every complete checkpoint of run_dir equals the reference's; return their steps."""
        steps = self.complete_steps(run_dir)
        unknown = sorted(set(steps) - set(self.reference))
        if unknown:
            raise Mismatch(f"{run_dir} has checkpoints at steps {unknown}, which the reference never saved")
        fingerprints = {s: _directory_fingerprint(run_dir / "checkpoints" / str(s)) for s in steps}
        stale = {s for s in steps if self._verified.get((run_dir, s)) != fingerprints[s]}
        self.checked += len(steps)
        self.restored += len(stale)
        for step, leaves in self._read_all(run_dir, only=stale).items():
            differing = _differences(leaves, self.reference[step])
            if differing:
                raise Mismatch(f"the checkpoint at step {step} in {run_dir} differs from the reference's in "
                               f"{len(differing)} array(s): {', '.join(differing[:5])}")
            self._verified[(run_dir, step)] = fingerprints[step]
        return steps


# ---------------------------------------------------------------------------------------------
# Lives of the victim: start, watch its checkpoints directory, kill as planned.


@dataclass(frozen=True)
class KillPlan:
    """When to kill one life.

    delay: `fraction` x (typical time from start to the first checkpoint write) after the start;
    write: as soon as the `nth` new checkpoint write of this life is under way;
    checkpoint: `fraction` x (typical time between checkpoints) after its `nth` new checkpoint.
    """

    mode: str
    nth: int
    fraction: float
    use_resume: bool = False  # start the life with `gancli resume <dir>` rather than `gancli train`
    guarded: bool = False  # near the end of the run: made a startup kill so the run cannot finish early


@dataclass
class Life:
    index: int
    command: str  # "train" or "resume"
    plan: KillPlan | None  # None: the last life, left to finish
    steps_before: list[int]  # the complete (and verified) checkpoints when it started
    killed: bool = False
    during_write: bool = False
    started_training: bool = False
    resumed_from: int | None = None
    trained_from: int | None = None
    returncode: int | None = None
    seconds: float = 0.0
    first_write_s: float | None = None  # from start to its first checkpoint write, if it got that far
    log: Path = field(default_factory=Path)

    @property
    def phase(self) -> str:
        if self.during_write:
            return "during a checkpoint write"
        return "while training" if self.started_training else "before training"


def kill_schedule(kills: int, rng: random.Random) -> list[KillPlan]:
    """`kills` plans: a third timed to a checkpoint write, a third after a new checkpoint, the rest delays."""
    n_write = math.ceil(kills / 3)  # at least a quarter, as the issue asks
    n_checkpoint = math.ceil((kills - n_write) / 2)
    modes = ["write"] * n_write + ["checkpoint"] * n_checkpoint + ["delay"] * (kills - n_write - n_checkpoint)
    rng.shuffle(modes)
    if modes[0] == "delay":  # the first life measures the startup time that delays are drawn against
        swap = next(i for i, mode in enumerate(modes) if mode != "delay")
        modes[0], modes[swap] = modes[swap], modes[0]
    plans = []
    for mode in modes:
        use_resume = rng.random() < 1 / 3
        if mode == "delay":  # mostly before the first write
            plans.append(KillPlan(mode, 0, rng.uniform(0.0, 1.2), use_resume))
        else:
            plans.append(KillPlan(mode, rng.randint(1, 3), rng.uniform(0.0, 1.0), use_resume))
    return plans


class Victim:
    """The interrupted run: one run directory, started again and again."""

    def __init__(self, run_dir: Path, steps: int, env: dict[str, str], logs: Path):
        self.run_dir = run_dir
        self.checkpoints = run_dir / "checkpoints"
        self.steps = steps
        self.env = env
        self.logs = logs
        self.first_write_times: list[float] = []  # per life, seconds from start to its first write
        self.checkpoint_interval_s = 0.1

    def command(self, kind: str) -> list[str]:
        if kind == "resume":
            return [GANCLI, "resume", str(self.run_dir)]
        return train_command(self.steps, self.run_dir, VICTIM_KEEP)

    def live(self, life: Life) -> Life:
        """Run one life until its plan kills it (or, with no plan, until it exits)."""
        stale_writes = _scan(self.checkpoints)[1]  # a killed write of an earlier life, not yet cleaned up
        steps_at_start = set(life.steps_before)
        life.log = self.logs / f"life-{life.index:02d}.log"
        seen_writes: set[tuple[str, int]] = set()
        nth_checkpoint_at: float | None = None
        with life.log.open("w") as log:
            start = time.monotonic()
            process = subprocess.Popen(self.command(life.command), stdout=log, stderr=subprocess.STDOUT, env=self.env)
            try:
                while process.poll() is None:
                    now = time.monotonic() - start
                    if now > LIFE_TIMEOUT_S:
                        raise Mismatch(f"life {life.index} ran for over {LIFE_TIMEOUT_S:.0f} s; see {life.log}")
                    steps, writes = _scan(self.checkpoints)
                    new_writes = writes - stale_writes
                    if new_writes and life.first_write_s is None:
                        life.first_write_s = now
                    seen_writes |= new_writes
                    plan = life.plan
                    if plan is not None and nth_checkpoint_at is None and len(steps - steps_at_start) >= plan.nth:
                        nth_checkpoint_at = now
                    if plan is not None and self._due(plan, now, len(seen_writes), nth_checkpoint_at):
                        break
                    time.sleep(POLL_S)
            finally:  # also on a timeout or Ctrl-C: leave no process behind
                process.kill()  # a no-op if it has exited
                life.returncode = process.wait()
                life.seconds = time.monotonic() - start
        # Killed, or had it exited on its own just before the kill?
        life.killed = life.plan is not None and life.returncode == -signal.SIGKILL
        if life.killed:
            # A write the kill cut short leaves its temporary directory behind: the process is gone.
            life.during_write = bool(_scan(self.checkpoints)[1] - stale_writes)
        if life.first_write_s is not None:
            self.first_write_times.append(life.first_write_s)
        self._read_log(life)
        return life

    def _due(self, plan: KillPlan, now: float, writes_seen: int, nth_checkpoint_at: float | None) -> bool:
        if plan.mode == "delay":
            startup = statistics.median(self.first_write_times) if self.first_write_times else 3.0
            return now >= plan.fraction * startup
        if plan.mode == "write":
            return writes_seen >= plan.nth
        return nth_checkpoint_at is not None and now >= nth_checkpoint_at + plan.fraction * self.checkpoint_interval_s

    def _read_log(self, life: Life) -> None:
        text = life.log.read_text(errors="replace")
        if DAMAGED.search(text):  # a SIGKILL must never leave a checkpoint that reads back damaged
            raise Mismatch(f"life {life.index} reported a damaged checkpoint; see {life.log}")
        resumed = RESUMED.search(text)
        training = TRAINING.search(text)
        life.resumed_from = int(resumed.group(1)) if resumed else None
        life.trained_from = int(training.group(1)) if training else None
        life.started_training = training is not None


def train_command(steps: int, run_dir: Path, keep: int) -> list[str]:
    return [GANCLI, "train", *CONFIG_OVERRIDES, f"train.steps={steps}", f"train.keep={keep}",
            f"hydra.run.dir={run_dir}"]


def check_resume_point(life: Life) -> None:
    """A life resumes from the newest checkpoint that was on disk (all of them verified) or, with
    none, starts from step 0."""
    newest = max(life.steps_before, default=None)
    if life.resumed_from is not None and life.resumed_from not in life.steps_before:
        raise Mismatch(f"life {life.index} resumed from step {life.resumed_from}, which was not a complete "
                       f"checkpoint (those were {life.steps_before}); see {life.log}")
    if life.resumed_from is not None and life.resumed_from != newest:
        raise Mismatch(f"life {life.index} resumed from step {life.resumed_from}, not from the newest complete "
                       f"checkpoint {newest}; see {life.log}")
    if life.trained_from is not None and life.trained_from != (life.resumed_from or 0):
        raise Mismatch(f"life {life.index} trained from step {life.trained_from} after resuming from "
                       f"{life.resumed_from}; see {life.log}")
    if life.trained_from is not None and life.resumed_from is None and newest is not None:
        raise Mismatch(f"life {life.index} started from scratch although the checkpoints {life.steps_before} "
                       f"were on disk; see {life.log}")


# ---------------------------------------------------------------------------------------------
# The experiment.


def run_reference(steps: int, run_dir: Path, env: dict[str, str], log: Path) -> float:
    """Train the uninterrupted run; return the median time between its checkpoints (kills aim by it)."""
    appeared: dict[int, float] = {}
    with log.open("w") as out:
        process = subprocess.Popen(train_command(steps, run_dir, REFERENCE_KEEP), stdout=out,
                                   stderr=subprocess.STDOUT, env=env)
        while process.poll() is None:
            for step in _scan(run_dir / "checkpoints")[0] - set(appeared):
                appeared[step] = time.monotonic()
            time.sleep(POLL_S * 10)
    if process.returncode != 0:
        raise Mismatch(f"the reference run failed with exit status {process.returncode}; see {log}")
    times = sorted(appeared.values())
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    return statistics.median(gaps) if gaps else 0.1


def plan_for(plan: KillPlan, steps: int, newest: int | None) -> KillPlan:
    """The plan, or a startup kill if the run is so near its end that the plan might let it finish."""
    if newest is not None and steps - newest <= END_GUARD_STEPS:
        return KillPlan("delay", 0, plan.fraction / 3, plan.use_resume, guarded=True)  # fraction <= 0.4
    return plan


def describe(life: Life) -> str:
    start = f"resumed from step {life.resumed_from}" if life.resumed_from is not None else (
        "started from step 0" if life.trained_from == 0 else "did not reach training")
    if not life.killed:
        return (f"life {life.index:2d} (gancli {life.command}): {start}, exited with status {life.returncode} "
                f"after {life.seconds:.1f} s")
    plan = life.plan
    aim = {"delay": f"{plan.fraction:.2f} x startup", "write": f"on write #{plan.nth}",
           "checkpoint": f"{plan.fraction:.2f} x interval after checkpoint #{plan.nth}"}[plan.mode]
    guard = " (near the end: kept to startup)" if plan.guarded else ""
    return (f"life {life.index:2d} (gancli {life.command}): {start}, killed at {life.seconds:.2f} s "
            f"[{plan.mode}: {aim}{guard}] {life.phase}")


def fault_injection(kills: int, seed: int, steps: int, workdir: Path) -> dict[str, Any]:
    """Run the experiment in `workdir`; return its summary or raise Mismatch."""
    rng = random.Random(seed)
    env = {**os.environ, "GANCLI_JAX_CACHE": str(workdir / "jax-cache")}  # lives start in ~2 s, not ~10
    logs = workdir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    reference_dir, victim_dir = workdir / "reference", workdir / "victim"

    started = time.monotonic()
    print(f"reference: gancli train, {steps} steps, a checkpoint every {CKPT_EVERY}, in {reference_dir}", flush=True)
    interval = run_reference(steps, reference_dir, env, logs / "reference.log")
    verifier = CheckpointVerifier(steps)
    verifier.load_reference(reference_dir)
    if max(verifier.reference) != steps:
        raise Mismatch(f"the reference's newest checkpoint is at step {max(verifier.reference)}, not {steps}")

    victim = Victim(victim_dir, steps, env, logs)
    victim.checkpoint_interval_s = interval
    lives: list[Life] = []
    schedule = kill_schedule(kills, rng)
    while len(lives) <= kills:
        try:
            steps_before = verifier.verify(victim_dir)
        except Mismatch as err:
            after = f" after life {lives[-1].index} ({lives[-1].log})" if lives else ""
            raise Mismatch(f"{err}{after}") from err
        last = len(lives) == kills
        plan = None if last else plan_for(schedule[len(lives)], steps, max(steps_before, default=None))
        # A resume replays the overrides recorded in .hydra/: only once a life has recorded them.
        can_resume = (victim_dir / ".hydra" / "overrides.yaml").is_file()
        command = "resume" if can_resume and (plan is None or plan.use_resume) else "train"
        life = victim.live(Life(len(lives), command, plan, steps_before))
        lives.append(life)
        print("  " + describe(life), flush=True)
        if not life.killed:
            if life.returncode != 0:
                raise Mismatch(f"life {life.index} exited with status {life.returncode}; see {life.log}")
            if not last:
                raise Mismatch(f"the run finished after only {len(lives) - 1} kills: pass a larger --steps")
        check_resume_point(life)

    final_steps = verifier.verify(victim_dir)
    if final_steps != sorted(verifier.reference)[-VICTIM_KEEP:]:
        raise Mismatch(f"the finished victim has checkpoints {final_steps}, not the reference's newest "
                       f"{VICTIM_KEEP}: {sorted(verifier.reference)[-VICTIM_KEEP:]}")
    leftovers = _scan(victim_dir / "checkpoints")[1]
    if leftovers:
        raise Mismatch(f"the finished victim still has unfinished checkpoint writes: {sorted(n for n, _ in leftovers)}")
    if (victim_dir / "metrics.jsonl").read_text() != (reference_dir / "metrics.jsonl").read_text():
        raise Mismatch(f"{victim_dir / 'metrics.jsonl'} differs from the reference's")

    killed = [life for life in lives if life.killed]
    resumed = [life.resumed_from for life in lives if life.resumed_from is not None]
    return {
        "kills": len(killed),
        "kills_before_training": sum(life.phase == "before training" for life in killed),
        "kills_while_training": sum(life.phase == "while training" for life in killed),
        "kills_during_checkpoint_write": sum(life.during_write for life in killed),
        "lives": len(lives),
        "lives_resumed": len(resumed),
        "resumed_from_steps": resumed,
        "checkpoints_checked": verifier.checked,
        "checkpoints_restored": verifier.restored,
        "final_step": steps,
        "final_state_identical": True,
        "metrics_identical": True,
        "seconds": round(time.monotonic() - started, 1),
    }


def print_summary(summary: dict[str, Any], seed: int) -> None:
    print(f"fault injection, seed {seed}: {summary['lives']} lives in {summary['seconds']} s")
    print(f"  kills: {summary['kills']} (before training: {summary['kills_before_training']}, while training: "
          f"{summary['kills_while_training']}, during a checkpoint write: {summary['kills_during_checkpoint_write']})")
    steps = ", ".join(map(str, summary["resumed_from_steps"])) or "none"
    print(f"  lives that resumed: {summary['lives_resumed']}, from steps {steps}")
    print(f"  complete checkpoints on disk after each kill, all bit-identical to the reference's: "
          f"{summary['checkpoints_checked']} checked ({summary['checkpoints_restored']} restored and compared, "
          "the others unchanged on disk since)")
    print(f"  final state at step {summary['final_step']}: bit-identical to the uninterrupted run; "
          "metrics.jsonl identical")
    if not summary["kills_during_checkpoint_write"]:
        print("WARNING: no kill landed during a checkpoint write: try another --seed")
    print("PASS")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs before the run may finish (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill schedule (not of the training)")
    parser.add_argument("--workdir", type=Path, help="where the runs go (default: a fresh temporary directory, "
                        "removed after a pass)")
    parser.add_argument("--steps", type=int, help="training steps of each run (default: 100 x --kills)")
    args = parser.parse_args(argv)
    if args.kills < 1:
        parser.error("--kills must be at least 1")
    steps = args.steps or 100 * args.kills
    if steps < 2 * CKPT_EVERY:
        parser.error(f"--steps must be at least {2 * CKPT_EVERY}")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="gancli-faults-"))
    if any((workdir / name).exists() for name in ("reference", "victim")):
        parser.error(f"{workdir} already holds runs of an earlier try: pass an empty --workdir")
    try:
        summary = fault_injection(args.kills, args.seed, steps, workdir.absolute())
    except Mismatch as err:
        print(f"FAIL: {err}\nseed {args.seed}, --steps {steps}; the runs and their logs are kept in {workdir}",
              file=sys.stderr)
        return 1
    (workdir / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print_summary(summary, args.seed)
    if args.workdir is None:
        shutil.rmtree(workdir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

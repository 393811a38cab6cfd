"""The pictures a run leaves in plots/, redrawn at every evaluation.

samples_<step>.png (and .npy): the generator's image of the run's fixed noise over the data (for
images: a grid of the images it generates from the fixed noise); critic_<step>.png (toy data):
the critic's surface with both sample sets on top; curves.png: metrics over steps; samples.gif:
the snapshots so far, one frame per evaluation. Every figure of a run shares its axis limits, and
the fixed noise follows from the seed, so a resumed run redraws the same frames and continues the
same animation.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gancli.config.train import RunConfig
from gancli.evaluation.critic_view import surface_label
from gancli.evaluation.sample_metrics import headline
from gancli.evaluation.train_state_eval import Evaluator
from gancli.pictures.image_grid import save_grid
from gancli.pictures.limits import plot_limits
from gancli.run_dir.files import snapshot_file, snapshot_steps, step_pictures, write_atomically
from gancli.training.keys import EvaluationKeys
from gancli.training.problem import GanProblem
from gancli.training.state import TrainState

SURFACE_POINTS = {1: 400, 2: 120}  # critic evaluations per axis of the surface
DRAWN_FROM_STEPS = ("samples.gif", "curves.png", "samples_final.png", "critic_final.png")
GIF_FRAMES = 60  # at most: a long run's animation shows evaluations evenly spaced over it


def gif_steps(steps: list[int]) -> list[int]:
    """At most GIF_FRAMES of `steps`, evenly spread, always with the first and the last."""
    if len(steps) <= GIF_FRAMES:
        return steps
    return [steps[round(i)] for i in np.linspace(0, len(steps) - 1, GIF_FRAMES)]


class RunPictures:
    def __init__(self, plots_dir: Path, cfg: RunConfig, problem: GanProblem):
        self.dir = Path(plots_dir)
        self.problem = problem
        self.what = f"{cfg.divergence.name} on {cfg.data.name}, seed {cfg.seed}"
        self.points = None  # where the critic's surface is drawn: toy data of 1 or 2 dimensions
        if problem.images:
            return
        self.std = float(problem.data.stds.max())
        lo, hi = plot_limits(problem.data.means, self.std)
        dim = problem.data.dim
        self.axis = np.linspace(lo, hi, SURFACE_POINTS.get(dim, 0))
        if dim == 2:
            xs, ys = np.meshgrid(self.axis, self.axis, indexing="ij")
            self.points = np.stack([xs.ravel(), ys.ravel()], axis=1)
        elif dim == 1:
            self.points = self.axis[:, None]

    def truncate_after(self, step: int) -> None:
        """Remove the pictures of steps past `step`: a resumed run draws those steps again, as
        metrics.jsonl drops their lines, and a run that ends sooner never shows them."""
        stale = [path for picture_step, path in step_pictures(self.dir) if picture_step > step]
        if stale:  # and what was drawn from them, redrawn at the next evaluation
            stale += [self.dir / name for name in DRAWN_FROM_STEPS]
        for path in stale:
            path.unlink(missing_ok=True)

    def has_step(self, step: int) -> bool:
        """Whether every picture of `step` was drawn: see `complete`."""
        return self._frame_file(step).exists()

    def _frame_file(self, step: int) -> Path:
        return snapshot_file(self.dir, step)

    def snapshot(self, evaluator: Evaluator, state: TrainState, keys: EvaluationKeys) -> Snapshot:
        """What the pictures of a state need from the device, as NumPy arrays: drawing them can
        then go on while the state's buffers are reused by the next train chunk."""
        surface = evaluator.surface(state, self.points) if self.points is not None else None
        return Snapshot(frame=evaluator.frame(state, keys), surface=surface)

    def render(self, step: int, snapshot: Snapshot, real: np.ndarray, metrics: dict[str, Any],
               records: list[dict[str, Any]], final: bool) -> dict[str, Path]:
        """Draw every picture of `step` (NumPy and matplotlib only: safe on a thread of its own);
        return the figures of this step by name."""
        from gancli.pictures.plots import (  # matplotlib: ~0.5 s
            plot_critic_surface,
            plot_curves,
            plot_samples,
            write_gif,
        )

        self.dir.mkdir(parents=True, exist_ok=True)
        frame = snapshot.frame
        drawn = {"samples": self.dir / f"samples_{step:07d}.png"}
        if self.problem.images:
            save_grid(drawn["samples"], self.problem.data.to_images(frame))
        else:
            plot_samples(drawn["samples"], real, frame, self.problem.data.means, self.std,
                         f"{self.what}, step {step}: {headline(metrics)}")
        if snapshot.surface is not None:
            drawn["critic"] = self.dir / f"critic_{step:07d}.png"
            heads = self.problem.heads
            plot_critic_surface(drawn["critic"], self.axis, snapshot.surface, [surface_label(h) for h in heads],
                                [h.name for h in heads], real, frame, f"the critic of {self.what}, step {step}")
        plot_curves(self.dir / "curves.png", records, self.what)
        shown = gif_steps([s for s in snapshot_steps(self.dir) if s <= step])
        write_gif(self.dir / "samples.gif", [self.dir / f"samples_{s:07d}.png" for s in shown])
        if final:
            for name, path in drawn.items():
                shutil.copyfile(path, self.dir / f"{name}_final.png")
        return drawn

    def complete(self, step: int, snapshot: Snapshot) -> None:
        """Save the frame's numbers (samples_<step>.npy), last of all of a step's pictures and
        TensorBoard images: a resume redraws a step whose file is missing (see has_step)."""
        write_atomically(self._frame_file(step), lambda tmp: np.save(tmp, snapshot.frame))

    def draw(self, step: int, evaluator: Evaluator, state: TrainState, keys: EvaluationKeys, real: np.ndarray,
             metrics: dict[str, Any], records: list[dict[str, Any]], final: bool) -> dict[str, Path]:
        """snapshot, render and complete, here and now."""
        snapshot = self.snapshot(evaluator, state, keys)
        drawn = self.render(step, snapshot, real, metrics, records, final)
        self.complete(step, snapshot)
        return drawn


@dataclass(frozen=True)
class Snapshot:
    frame: np.ndarray  # the generator's image of the run's fixed noise
    surface: np.ndarray | None  # the critic's surface on RunPictures.points; None: no critic, or over 2-D

"""The pictures a run leaves in plots/, redrawn at every evaluation.

samples_<step>.png (and .npy): the generator's image of the run's fixed noise over the data;
critic_<step>.png: the critic's surface with both sample sets on top; curves.png: metrics over
steps; samples.gif: the snapshots so far, one frame per evaluation. Every figure of a run shares
its axis limits, and the fixed noise follows from the seed, so a resumed run redraws the same
frames and continues the same animation.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np

from gancli.config import RunConfig
from gancli.plots import plot_critic_surface, plot_curves, plot_limits, plot_samples, write_gif
from gancli.run_evaluation import EvaluationKeys, Evaluator
from gancli.run_files import snapshot_steps, step_pictures
from gancli.train_step import GanProblem, State, surface_label

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
        self.std = float(problem.data.stds.max())
        lo, hi = plot_limits(problem.data.means, self.std)
        dim = problem.data.dim
        self.axis = np.linspace(lo, hi, SURFACE_POINTS.get(dim, 0))
        if dim == 2:
            xs, ys = np.meshgrid(self.axis, self.axis, indexing="ij")
            self.points = np.stack([xs.ravel(), ys.ravel()], axis=1)
        else:
            self.points = self.axis[:, None]

    def truncate_after(self, step: int) -> None:
        """Remove the pictures of steps past `step`: a resumed run draws those steps again, as
        metrics.jsonl drops their lines, and a run that ends sooner never shows them."""
        stale = [path for picture_step, path in step_pictures(self.dir) if picture_step > step]
        if stale:  # and what was drawn from them, redrawn at the next evaluation
            stale += [self.dir / name for name in DRAWN_FROM_STEPS]
        for path in stale:
            path.unlink(missing_ok=True)

    def draw(self, step: int, evaluator: Evaluator, state: State, keys: EvaluationKeys, real: np.ndarray,
             metrics: dict[str, Any], records: list[dict[str, Any]], final: bool) -> dict[str, Path]:
        """Draw every picture of `step`; return the figures of this step by name."""
        self.dir.mkdir(parents=True, exist_ok=True)
        frame = evaluator.frame(state, keys)
        np.save(self.dir / f"samples_{step:07d}.npy", frame)
        drawn = {"samples": self.dir / f"samples_{step:07d}.png"}
        plot_samples(drawn["samples"], real, frame, self.problem.data.means, self.std,
                     f"{self.what}, step {step}: {metrics['modes_captured']}/{metrics['modes_total']} modes, "
                     f"{metrics['high_quality_fraction']:.0%} high quality")
        surface = evaluator.surface(state, self.points) if self.problem.data.dim <= 2 else None
        if surface is not None:
            drawn["critic"] = self.dir / f"critic_{step:07d}.png"
            heads = self.problem.heads
            plot_critic_surface(drawn["critic"], self.axis, surface, [surface_label(h) for h in heads],
                                [h.name for h in heads], real, frame, f"the critic of {self.what}, step {step}")
        plot_curves(self.dir / "curves.png", records, self.what)
        shown = gif_steps([s for s in snapshot_steps(self.dir) if s <= step])
        write_gif(self.dir / "samples.gif", [self.dir / f"samples_{s:07d}.png" for s in shown])
        if final:
            for name, path in drawn.items():
                shutil.copyfile(path, self.dir / f"{name}_final.png")
        return drawn

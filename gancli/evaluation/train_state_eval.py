"""Evaluation of a train state: generated samples, their metrics, and what the critic makes of them.

Training's periodic evaluation, `gancli eval` and `gancli sample` all go through here, with the
same keys: evaluating a checkpoint with the run's own seed reproduces the numbers the run logged.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import numpy as np
from jax import Array

from gancli.evaluation.critic_view import critic_evaluation, critic_surface
from gancli.evaluation.sample_metrics import evaluate_samples
from gancli.pictures.image_grid import GRID_SAMPLES
from gancli.training.keys import EvaluationKeys, evaluation_key, mode_count_key, sample_batch_key
from gancli.training.problem import GanProblem, generate
from gancli.training.state import TrainState, evaluated_generator

FRAME_SAMPLES = 1000  # generated points per snapshot of the fixed-noise animation
SAMPLE_BATCH = 65536  # samples per generator call: bounds memory for any n
IMAGE_SAMPLE_BATCH = 2048  # the same for images: a convolutional generator's activations are ~1,000x larger


class Evaluator:
    """Jitted evaluation of one problem's states with `n` samples a side."""

    def __init__(self, problem: GanProblem, n: int):
        self.problem, self.n = problem, n
        self._generate = jax.jit(partial(generate, problem), static_argnums=2)
        self._judge = jax.jit(partial(critic_evaluation, problem))
        self._surface = jax.jit(partial(critic_surface, problem))
        self._classifier: Any = None  # image data: trained (or read from its cache) at the first evaluation
        self.frame_samples = GRID_SAMPLES if problem.images else FRAME_SAMPLES

    def classifier(self) -> Any:
        """The classifier whose classes and features the image metrics use; None for unlabelled images."""
        if self._classifier is None and self.problem.data.labels is not None:
            from gancli.evaluation.classifier import load_or_train

            self._classifier = load_or_train(self.problem.data)
        return self._classifier

    def samples(self, state: TrainState, key: Array, n: int) -> np.ndarray:
        """n float32 samples of the evaluated generator, drawn in batches of at most SAMPLE_BATCH."""
        g_params = evaluated_generator(state)
        batch = IMAGE_SAMPLE_BATCH if self.problem.images else SAMPLE_BATCH
        if n <= batch:
            return np.asarray(self._generate(g_params, key, n), dtype=np.float32)
        batches = [self._generate(g_params, sample_batch_key(key, b), batch) for b in range(-(-n // batch))]
        return np.concatenate([np.asarray(b, dtype=np.float32) for b in batches])[:n]

    def evaluate(self, state: TrainState, step: int,
                 keys: EvaluationKeys) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """(real samples, generated samples, every metric) at `step`."""
        key = evaluation_key(keys, step)
        fake = self.samples(state, key, self.n)
        real = self.real(keys)
        # Images: modes are counted over more samples than the k-NN metrics can afford to compare.
        counted = self.problem.mode_samples
        mode_fake = self.samples(state, mode_count_key(key), counted) if counted > self.n else None
        return real, fake, self.score(state, real, fake, mode_fake)

    def real(self, keys: EvaluationKeys) -> np.ndarray:
        """The n real samples every evaluation compares with (for images, no more than the data has)."""
        if self.problem.images:
            return self.problem.data.evaluation_set(keys.real, self.n)
        return np.asarray(self.problem.data.sample(keys.real, self.n))

    def score(self, state: TrainState, real: np.ndarray, fake: np.ndarray,
              mode_fake: np.ndarray | None = None) -> dict[str, Any]:
        """Every metric of `fake` against `real` (image modes counted on `mode_fake` if given), and
        what the state's critic makes of them."""
        metrics: dict[str, Any] = self._sample_metrics(real, fake, mode_fake)
        if not self.problem.explicit:
            pack = self.problem.pack  # the real set of images may be smaller than the generated one
            judged = self._judge(state.d, real[:len(real) - len(real) % pack], fake[:len(fake) - len(fake) % pack])
            metrics.update({k: float(v) for k, v in judged.items()})
        return metrics

    def _sample_metrics(self, real: np.ndarray, fake: np.ndarray, mode_fake: np.ndarray | None) -> dict[str, Any]:
        data = self.problem.data
        if not self.problem.images:
            return evaluate_samples(real, fake, data)
        from gancli.evaluation.image_metrics import evaluate_images, pixel_metrics

        classifier = self.classifier()
        if classifier is None:
            return pixel_metrics(real, fake)
        return evaluate_images(real, fake, classifier, data.modes, mode_fake)

    def frame(self, state: TrainState, keys: EvaluationKeys) -> np.ndarray:
        """The generator's image of the run's fixed noise: one snapshot of the animation (for
        images, the samples of one grid)."""
        return self.samples(state, keys.frames, self.frame_samples)

    def surface(self, state: TrainState, points: np.ndarray) -> np.ndarray | None:
        """critic_surface at `points`, shape (n, heads); None for a model with no critic."""
        if self.problem.explicit:
            return None
        return np.asarray(self._surface(state.d, points.astype(np.float32)))

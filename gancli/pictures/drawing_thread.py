"""A run's pictures drawn on a thread of their own while training goes on.

Drawing an evaluation's figures takes 0.5-1 s of matplotlib, as long as a few hundred training
steps; XLA releases the GIL while a chunk runs, so the two overlap on a machine with a spare
core. The device work (the snapshot) is done on the caller's thread first: the train chunk
donates the state's buffers, so the thread never touches a state.

At most one drawing is in flight: a run that evaluates faster than it can draw waits for the
previous one instead of queueing them. A drawing that fails (a full disk) raises its error from
the next `check()`, `submit()` or `wait()`.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from gancli.evaluation.train_state_eval import Evaluator
from gancli.pictures.run_pictures import RunPictures
from gancli.run_dir.tensorboard import TensorBoardLog
from gancli.training.keys import EvaluationKeys
from gancli.training.state import TrainState


def drawing_executor() -> ThreadPoolExecutor:
    """The one thread that draws: pyplot's state is global, so drawings never run side by side."""
    return ThreadPoolExecutor(max_workers=1, thread_name_prefix="gancli-pictures", initializer=_lower_priority)


class PictureThread:
    def __init__(self, pictures: RunPictures, tensorboard: TensorBoardLog, executor: ThreadPoolExecutor | None = None):
        """executor: a drawing_executor() shared with the runs trained beside this one (it stays
        open at close), else one of its own."""
        self.pictures, self.tensorboard = pictures, tensorboard
        self._own_executor = executor is None
        self._executor = executor or drawing_executor()
        self._in_flight: Future[None] | None = None
        self._in_flight_step = 0

    def submit(self, step: int, evaluator: Evaluator, state: TrainState, keys: EvaluationKeys, real: np.ndarray,
               metrics: dict[str, Any], records: list[dict[str, Any]], final: bool, to_tensorboard: bool) -> None:
        """Draw the pictures of `step` (and send them to TensorBoard if `to_tensorboard`)."""
        snapshot = self.pictures.snapshot(evaluator, state, keys)
        self.wait()
        # matplotlib imported here, not first on the thread: imports racing the training thread's
        # own first imports (Orbax, at the first checkpoint) are best avoided.
        import gancli.pictures.plots  # noqa: F401

        def draw() -> None:
            figures = self.pictures.render(step, snapshot, real, metrics, records, final)
            if to_tensorboard:
                self.tensorboard.images(step, figures)
                self.tensorboard.flush()  # whole on disk before `complete` says the step is drawn
            self.pictures.complete(step, snapshot)

        self._in_flight, self._in_flight_step = self._executor.submit(draw), step

    def settle_before(self, step: int) -> None:
        """Wait for a drawing of a step before `step`: a checkpoint at `step` must find every
        earlier step's pictures complete, as a resume redraws only the checkpoint's own step."""
        if self._in_flight is not None and self._in_flight_step < step:
            self.wait()

    def check(self) -> None:
        """Raise the error of a drawing that has failed; never waits."""
        if self._in_flight is not None and self._in_flight.done():
            self._result()

    def wait(self) -> None:
        """Wait for the drawing in flight, raising its error."""
        if self._in_flight is not None:
            self._result()

    def _result(self) -> None:
        future, self._in_flight = self._in_flight, None
        future.result()

    def close(self, raise_errors: bool = True) -> None:
        """Wait for the drawing in flight and stop the thread; `raise_errors=False` when another
        error is already on its way (it says more)."""
        try:
            if raise_errors:
                self.wait()
            elif self._in_flight is not None:
                self._in_flight.exception()  # waits; the error is dropped
        finally:
            if self._own_executor:
                self._executor.shutdown(wait=True)


def _lower_priority() -> None:
    """Give this thread a lower CPU priority (Linux nices threads one by one): the training
    threads come first, and drawing takes the time they leave. Not the lowest (19): on a machine
    busy with other jobs the thread must still run often enough to hand back the GIL."""
    import os
    import threading

    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
    except (AttributeError, OSError):  # not Linux, or not allowed: draw at the same priority
        pass

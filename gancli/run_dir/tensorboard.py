"""TensorBoard event files in <run_dir>/tb: the metrics as scalars, the figures as images.

`tensorboard --logdir outputs` then shows every run of a sweep side by side.
"""

from __future__ import annotations

import itertools
import math
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

_opened = itertools.count()  # the logs this process has opened


class TensorBoardLog:
    """Scalars under train/ (every logged step) and eval/ (every evaluation), images under plots/.

    Events are written in this thread (tensorboardX's SummaryWriter queues them for a thread of
    its own, and its flush does not wait for the queue), so `flush()` before a checkpoint puts
    on disk every event the checkpoint covers. A resumed run first writes a purge marker at its
    checkpoint + 1: TensorBoard then hides what the interrupted one logged past the checkpoint,
    as metrics.jsonl drops those lines, and the resumed run logs them again. A rollback does the same.
    Images come from the picture thread, scalars from training's: a lock keeps events whole.
    """

    def __init__(self, directory: Path, train_metrics: tuple[str, ...], resumed_from: int | None):
        EventsWriter, Event, SessionLog = _tensorboardx()

        self._lock = threading.Lock()
        self._event = Event
        self.train_metrics = set(train_metrics)
        Path(directory).mkdir(parents=True, exist_ok=True)
        # The file is named by the second it opens in: the pid and a count of this process's logs
        # give two attempts started within one second (in two processes, or one) files of their own.
        self._writer = EventsWriter(str(Path(directory) / "events"), f".{os.getpid()}.{next(_opened)}")
        self._session_log = SessionLog
        if resumed_from is not None:
            self.purge_after(resumed_from)

    def purge_after(self, step: int) -> None:
        """Hide the events past `step` that were written before this call (a resume or a rollback
        goes back there and logs those steps again)."""
        self._write(self._event(step=step + 1, session_log=self._session_log(status=self._session_log.START)))

    def _write(self, event: Any) -> None:
        event.wall_time = time.time()
        with self._lock:
            self._writer.write_event(event)

    def scalars(self, records: list[dict[str, Any]]) -> None:
        from tensorboardX.summary import scalar

        for record in records:
            for name, value in record.items():
                if name == "step" or not isinstance(value, (int, float)) or not math.isfinite(value):
                    continue
                group = "train" if name in self.train_metrics else "eval"
                self._write(self._event(step=record["step"], summary=scalar(f"{group}/{name}", value)))

    def images(self, step: int, figures: dict[str, Path]) -> None:
        from PIL import Image
        from tensorboardX.summary import image

        for name, path in figures.items():
            pixels = np.asarray(Image.open(path).convert("RGB"))
            self._write(self._event(step=step, summary=image(f"plots/{name}", pixels, dataformats="HWC")))

    def flush(self) -> None:
        with self._lock:
            self._writer.flush()

    def close(self) -> None:
        with self._lock:
            self._writer.close()


def _tensorboardx() -> tuple[Any, Any, Any]:
    """tensorboardX's event writer and protos, imported without PyTorch.

    tensorboardX imports torch, if installed, only to accept torch tensors, which gancli never
    passes; that import alone takes ~1.8 s of a run's start-up. A None in sys.modules makes
    `import torch` fail, as if torch were absent, for the length of this import only.
    """
    hidden = "torch" not in sys.modules
    if hidden:
        sys.modules["torch"] = None  # type: ignore[assignment]
    try:
        from tensorboardX.event_file_writer import EventsWriter
        from tensorboardX.proto.event_pb2 import Event, SessionLog
    finally:
        if hidden:
            del sys.modules["torch"]
    return EventsWriter, Event, SessionLog

"""TensorBoard event files in <run_dir>/tb: the metrics as scalars, the figures as images.

`tensorboard --logdir outputs` then shows every run of a sweep side by side.
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np


class TensorBoardLog:
    """Scalars under train/ (every logged step) and eval/ (every evaluation), images under plots/.

    Events are written in this thread (tensorboardX's SummaryWriter queues them for a thread of
    its own, and its flush does not wait for the queue), so `flush()` before a checkpoint puts
    on disk every event the checkpoint covers. A resumed run first writes a purge marker at its
    checkpoint + 1: TensorBoard then hides what the interrupted one logged past the checkpoint,
    as metrics.jsonl drops those lines, and the resumed run logs them again. A rollback does the same.
    """

    def __init__(self, directory: Path, train_metrics: tuple[str, ...], resumed_from: int | None):
        from tensorboardX.event_file_writer import EventsWriter  # imported here: only training writes events
        from tensorboardX.proto.event_pb2 import Event, SessionLog

        self._event = Event
        self.train_metrics = set(train_metrics)
        Path(directory).mkdir(parents=True, exist_ok=True)
        # The pid in the name: two attempts started within one second get files of their own.
        self._writer = EventsWriter(str(Path(directory) / "events"), f".{os.getpid()}")
        self._session_log = SessionLog
        if resumed_from is not None:
            self.purge_after(resumed_from)

    def purge_after(self, step: int) -> None:
        """Hide the events past `step` that were written before this call (a resume or a rollback
        goes back there and logs those steps again)."""
        self._write(self._event(step=step + 1, session_log=self._session_log(status=self._session_log.START)))

    def _write(self, event: Any) -> None:
        event.wall_time = time.time()
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
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

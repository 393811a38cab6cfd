"""TensorBoard event files in <run_dir>/tb: the metrics as scalars, the figures as images.

`tensorboard --logdir outputs` then shows every run of a sweep side by side.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np


class TensorBoardLog:
    """Scalars under train/ (every logged step) and eval/ (every evaluation), images under plots/.

    A resumed run first hides what the interrupted one logged past its checkpoint (purge_step),
    as metrics.jsonl drops those lines: the resumed run logs them again.
    """

    def __init__(self, directory: Path, train_metrics: tuple[str, ...], resumed_from: int | None):
        from tensorboardX import SummaryWriter  # imported here: only training writes events

        self.train_metrics = set(train_metrics)
        purge = None if resumed_from is None else resumed_from + 1
        self._writer = SummaryWriter(str(directory), purge_step=purge, flush_secs=30)

    def scalars(self, records: list[dict[str, Any]]) -> None:
        for record in records:
            for name, value in record.items():
                if name == "step" or not isinstance(value, (int, float)) or not math.isfinite(value):
                    continue
                group = "train" if name in self.train_metrics else "eval"
                self._writer.add_scalar(f"{group}/{name}", value, record["step"])

    def images(self, step: int, figures: dict[str, Path]) -> None:
        from PIL import Image

        for name, path in figures.items():
            pixels = np.asarray(Image.open(path).convert("RGB"))
            self._writer.add_image(f"plots/{name}", pixels, step, dataformats="HWC")

    def flush(self) -> None:
        self._writer.flush()

    def close(self) -> None:
        self._writer.close()

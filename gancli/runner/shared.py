"""What the runs of one config share whatever their seed: the problem and its initialiser, the
train state's layout, the jitted evaluation, and the devices (and processes) a run spans.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import jax
from jax.sharding import Mesh

from gancli.config.train import RunConfig
from gancli.errors import GancliError
from gancli.evaluation.train_state_eval import Evaluator
from gancli.runner import distributed
from gancli.runner.devices import batch_sharding, chosen_devices, mesh_of, replicated
from gancli.training.problem import GanProblem, build
from gancli.training.state import TrainState


@dataclass(frozen=True)
class Shared:
    """What the runs of one config share whatever their seed: the problem, its initialiser
    (`init(seed)`), the train state's layout and the jitted evaluation."""

    problem: GanProblem
    init: Callable[..., TrainState]
    abstract_state: TrainState
    evaluator: Evaluator
    mesh: Mesh | None = None  # the devices a data parallel run splits its batch over
    several: bool = False  # the run spans several processes: this one is the primary (gancli.runner.distributed)
    data_digest: str | None = None  # image data: a hash of the images, kept with each checkpoint

    @classmethod
    def of(cls, cfg: RunConfig) -> Shared:
        problem, init = build(cfg)
        devices = chosen_devices(cfg.train.devices, cfg.train.batch_size, cfg.model.pack)
        several = distributed.several_processes()
        if several and (cfg.train.num_seeds > 1 or cfg.train.on_nonfinite == "rollback"):
            raise GancliError("a run over several processes trains one seed and stops on a non-finite loss: drop "
                              "train.num_seeds and train.on_nonfinite=rollback, or train in one process")
        if several and len(devices) < jax.device_count():
            raise GancliError(f"a run over several processes splits its batch over every device of every process: "
                              f"drop train.devices={cfg.train.devices} (or pass train.devices=all)")
        mesh = None
        if len(devices) > 1:
            if cfg.train.num_seeds > 1:
                raise GancliError("train.devices splits one run's batch over devices, and seeds trained together "
                                  "(train.num_seeds) share one device: drop one of the two")
            mesh = mesh_of(devices)
            problem = replace(problem, batch_sharding=batch_sharding(mesh))
        return cls(problem, init, jax.eval_shape(init), Evaluator(problem, cfg.train.eval_samples), mesh, several,
                   problem.data.digest() if problem.images else None)

    def place(self, state: TrainState) -> TrainState:
        """A state on the devices it trains on: whole on each device of a data parallel run (of
        every process: the followers take it from the primary)."""
        if self.mesh is None:
            return state
        if self.several:
            distributed.tell(distributed.PLACE)
            return distributed.share_state(state, replicated(self.mesh))
        return jax.device_put(state, replicated(self.mesh))

    def local(self, state: TrainState) -> TrainState:
        """This process's own copy of a state trained on several devices, for the host's work
        (evaluating, drawing): on one device, with no other process taking part."""
        return state if self.mesh is None else jax.tree.map(lambda leaf: leaf.addressable_data(0), state)

"""Training: ``cnnzoo train``, and the engine ``nas`` trains its candidates with.

- :mod:`~cnnzoo.train.config`: the frozen configurations, one field per command-line flag.
- :mod:`~cnnzoo.train.recipes`: the default recipes, as data.
- :mod:`~cnnzoo.train.build`: the pieces of a run, built from its configuration.
- :mod:`~cnnzoo.train.engine`: ``train_one_epoch`` and ``run`` (evaluation: :mod:`cnnzoo.evaluate`).
- :mod:`~cnnzoo.train.rundir`: the run folder and its files.
- :mod:`~cnnzoo.train.resume`: ``--resume``, from the run folder's ``last.pt``.
- SIGINT and SIGTERM stop a run with a checkpoint (:mod:`cnnzoo.interrupt`).
- the checkpoint format (tensors only, written atomically) is :mod:`cnnzoo.checkpoint`.
- :mod:`~cnnzoo.distributed`: ``torchrun`` processes (DDP; gloo on CPU, NCCL on CUDA).
- :mod:`~cnnzoo.train.progress`, :mod:`~cnnzoo.train.metrics`: what a run shows and writes.

The sub-commands' parsers and handlers are in :mod:`cnnzoo.cli`.
"""

from cnnzoo.train.config import TrainConfig
from cnnzoo.train.engine import run, train_one_epoch
from cnnzoo.train.recipes import Recipe, recipe_for

__all__ = [
    "Recipe",
    "TrainConfig",
    "recipe_for",
    "run",
    "train_one_epoch",
]

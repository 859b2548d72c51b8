"""Training and evaluation: ``cnnzoo train``, ``cnnzoo eval`` and ``cnnzoo predict``.

- :mod:`~cnnzoo.train.config`: the frozen configurations, one field per command-line flag.
- :mod:`~cnnzoo.train.recipes`: the default recipes, as data.
- :mod:`~cnnzoo.train.build`: the pieces of a run, built from its configuration.
- :mod:`~cnnzoo.train.engine`: ``train_one_epoch``, ``evaluate`` and ``run``.
- :mod:`~cnnzoo.train.rundir`: the run folder and its files.
- :mod:`~cnnzoo.train.resume`: ``--resume``, from the run folder's ``last.pt``.
- SIGINT and SIGTERM stop a run with a checkpoint (:mod:`cnnzoo.interrupt`).
- :mod:`~cnnzoo.train.checkpoint`: tensors-only checkpoints, written atomically.
- :mod:`~cnnzoo.train.distributed`: ``torchrun`` processes (DDP; gloo on CPU, NCCL on CUDA).
- :mod:`~cnnzoo.train.progress`, :mod:`~cnnzoo.train.metrics`: what a run shows and writes.
- :mod:`~cnnzoo.train.inference`: evaluating and using a checkpoint.

The sub-commands' parsers and handlers are in :mod:`cnnzoo.cli`.
"""

from cnnzoo.train.config import EvalConfig, PredictConfig, TrainConfig
from cnnzoo.train.engine import evaluate, run, train_one_epoch
from cnnzoo.train.recipes import Recipe, recipe_for

__all__ = [
    "EvalConfig",
    "PredictConfig",
    "Recipe",
    "TrainConfig",
    "evaluate",
    "recipe_for",
    "run",
    "train_one_epoch",
]

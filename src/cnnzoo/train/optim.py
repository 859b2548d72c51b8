"""Optimizers and learning-rate schedules: name -> factory tables.

Every schedule is a per-step multiplier of the peak rate, a pure function of the fraction of the run
done (so ``--epochs`` stretches it), wrapped in ``LambdaLR`` behind an optional linear warm-up.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from cnnzoo.train.config import TrainConfig
from cnnzoo.train.recipes import Recipe


def make_sgd(params, config: TrainConfig) -> torch.optim.Optimizer:
    return torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov,
    )


def make_adamw(params, config: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (Loshchilov & Hutter 2019); ``momentum`` is its beta1."""
    return torch.optim.AdamW(
        params, lr=config.lr, betas=(config.momentum, 0.999), weight_decay=config.weight_decay
    )


OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {"sgd": make_sgd, "adamw": make_adamw}


def decay_groups(model: torch.nn.Module, config: TrainConfig) -> list[dict]:
    """The model's parameters as optimizer groups: all in one, or, without ``decay_norm_bias``,
    the parameters of one dimension (biases, normalisation scales and shifts) in a second group
    without weight decay."""
    params = list(model.parameters())
    if config.decay_norm_bias:
        return [{"params": params}]
    return [
        {"params": [p for p in params if p.ndim > 1]},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0},
    ]


def cosine_factor(progress: float, recipe: Recipe) -> float:
    """Cosine annealing to zero (Loshchilov & Hutter 2017, SGDR without restarts)."""
    return 0.5 * (1 + math.cos(math.pi * progress))


def step_factor(progress: float, recipe: Recipe) -> float:
    """``gamma`` to the power of the milestones passed."""
    return recipe.gamma ** sum(progress >= m for m in recipe.milestones)


ONECYCLE_RISE = 0.3  # Smith & Topin 2017 / torch's OneCycleLR: 30% of the run rising
ONECYCLE_START = 1 / 25  # ... from lr / 25 (OneCycleLR's div_factor)


def onecycle_factor(progress: float, recipe: Recipe) -> float:
    """1cycle (Smith & Topin 2017): up from ``lr / 25`` over 30% of the run, cosine down to 0."""
    if progress < ONECYCLE_RISE:
        return ONECYCLE_START + (1 - ONECYCLE_START) * progress / ONECYCLE_RISE
    return cosine_factor((progress - ONECYCLE_RISE) / (1 - ONECYCLE_RISE), recipe)


SCHEDULES: dict[str, Callable[[float, Recipe], float]] = {
    "cosine": cosine_factor,
    "step": step_factor,
    "onecycle": onecycle_factor,
}


def make_scheduler(
    optimizer: torch.optim.Optimizer, config: TrainConfig, recipe: Recipe, steps_per_epoch: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """A per-step schedule: linear warm-up over ``warmup_epochs``, then ``config.schedule``."""
    total = config.epochs * steps_per_epoch
    warmup = round(config.warmup_epochs * steps_per_epoch)
    shape = SCHEDULES[config.schedule]

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return shape(min(1.0, (step - warmup) / max(1, total - warmup)), recipe)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)

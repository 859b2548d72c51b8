"""The proxy task: how a candidate cell is scored during the search.

Each candidate is the zoo's ``nasnet_cifar`` network of its genotype at a small size (N cells per
stack, F filters) trained with the training engine for a short budget on part of the TRAINING
split, and scored by its top-1 on a validation part held out from the same training split. The
test split is never read: :func:`proxy_data` takes the training split only.

On a 2-core CPU a NASNet cell stack trains at a few hundred images a second (depthwise
convolutions and batch norm dominate, channels-last helps, bf16 without AMX is slower), so the
default proxy (N=1, F=8, one epoch of 10,000 images) costs under a minute a candidate.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

from cnnzoo.data import Dataset, DatasetInfo, Split
from cnnzoo.models.genotype import Genotype
from cnnzoo.models.nasnet import penultimate_filters_for
from cnnzoo.options import option

MODEL = "nasnet_cifar"


@dataclass(frozen=True)
class Proxy:
    """A candidate's training budget and network size.

    Attributes:
        num_cells: N, normal cells per stack.
        filters: F, the first stack's filters per hidden state.
        epochs: passes over ``train_images``.
        train_images: training images a candidate sees (from the training split).
        val_images: images held out from the training split to score candidates.
        batch_size, lr, weight_decay, label_smoothing: SGD with momentum 0.9 and a cosine
            schedule.
        drop_path_prob: ScheduledDropPath of the candidates (0: off).
        precision: ``fp32`` or ``bf16`` autocast.
    """

    num_cells: int = option(1, help="N of the candidates", flag="--proxy-cells", metavar="N")
    filters: int = option(8, help="F of the candidates", flag="--proxy-filters", metavar="F")
    epochs: int = option(1, help="", flag="--proxy-epochs")
    train_images: int = option(10_000, help="", flag="--proxy-train-images")
    val_images: int = option(
        5_000, help="held out from the training split", flag="--proxy-val-images"
    )
    batch_size: int = 128
    lr: float = 0.1
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    drop_path_prob: float = 0.0
    precision: str = "fp32"

    def __post_init__(self) -> None:
        for name in ("num_cells", "filters", "epochs", "train_images", "val_images", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"the proxy's {name} must be positive")


def proxy_data(train: Split, info: DatasetInfo, proxy: Proxy, seed: int) -> Dataset:
    """The candidates' data, all from the training split: ``train_images`` to train on and
    ``val_images`` held out (as the ``test`` split of the returned dataset) to score them.

    Raises:
        ValueError: the training split is too small for both.
    """
    need = proxy.train_images + proxy.val_images
    if need > len(train):
        raise ValueError(
            f"the proxy needs {need:,} training images ({proxy.train_images:,} to "
            f"train, {proxy.val_images:,} to validate); {info.name} has "
            f"{len(train):,}"
        )
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    val, fit = order[: proxy.val_images], order[proxy.val_images : need]
    part = lambda idx: Split(train.images[idx], train.labels[idx])  # noqa: E731
    return Dataset(info, part(fit), part(val))


def candidate_kwargs(
    genotype: Genotype,
    num_cells: int,
    filters: int | None = None,
    drop_path_prob: float = 0.0,
    *,
    penultimate_filters: int | None = None,
) -> dict:
    """``nasnet_cifar``'s options (plain data) for a genotype at N cells and F filters, or at
    ``penultimate_filters`` P when given."""
    if penultimate_filters is None and filters is None:
        raise ValueError("give the network's filters F or its penultimate filters P")
    return {
        "genotype": genotype.to_dict(),
        "num_cells": num_cells,
        "penultimate_filters": penultimate_filters or penultimate_filters_for(genotype, filters),
        "drop_path_prob": drop_path_prob,
    }


def evaluate_candidate(
    genotype: Genotype,
    data: Dataset,
    proxy: Proxy,
    *,
    seed: int,
    should_stop: Callable[[], bool] | None = None,
) -> dict | None:
    """Train the candidate network on ``data.train`` and score it on ``data.test``.

    Args:
        genotype, data, proxy: the candidate, its data (:func:`proxy_data`) and its budget.
        seed: the network's weights and the batches' order.
        should_stop: polled after each training step; when it answers true the training ends
            there and the candidate has no score.

    Returns:
        ``score`` (validation top-1), ``val_loss``, ``params``, ``macs`` (of one image, the
        profiler's), ``train_s``, ``images_per_s``. A candidate whose training diverged scores 0
        and has ``diverged`` (the engine's message) and its size instead of the rest. ``None``
        when ``should_stop`` ended the training.
    """
    from cnnzoo.analysis import profile
    from cnnzoo.distributed import DistInfo
    from cnnzoo.evaluate.loop import evaluate
    from cnnzoo.source import default_device
    from cnnzoo.train.build import assemble
    from cnnzoo.train.config import TrainConfig
    from cnnzoo.train.engine import Hooks, TrainingDiverged, train_one_epoch, trainer_of

    config = TrainConfig(
        MODEL,
        dataset=data.info.name,
        epochs=proxy.epochs,
        batch_size=proxy.batch_size,
        optimizer="sgd",
        lr=proxy.lr,
        momentum=0.9,
        weight_decay=proxy.weight_decay,
        schedule="cosine",
        warmup_epochs=0.0,
        label_smoothing=proxy.label_smoothing,
        precision=proxy.precision,
        channels_last=True,
        seed=seed,
        model_kwargs=candidate_kwargs(
            genotype, proxy.num_cells, proxy.filters, proxy.drop_path_prob
        ),
    )
    job = assemble(config, data, DistInfo(device=default_device()))
    shape = (data.info.in_chans, job.size, job.size)
    totals = profile(job.model, shape).totals  # on meta: no data
    cost = {"params": int(totals.params), "macs": int(totals.macs_conv_linear + totals.macs_other)}
    start = time.perf_counter()
    try:
        for epoch in range(job.config.epochs):
            hooks = Hooks(should_stop=should_stop)
            stats = train_one_epoch(trainer_of(job), epoch, hooks=hooks)
            if stats["stopped"] or (should_stop is not None and should_stop()):
                return None
    except TrainingDiverged as err:
        return {"score": 0.0, "diverged": str(err), **cost}
    train_s = time.perf_counter() - start
    result = evaluate(job.model, job.test_stream, job.runtime, num_classes=data.info.num_classes)
    return {
        "score": float(result["top1"]),
        "val_loss": float(result["loss"]),
        **cost,
        "train_s": train_s,
        "images_per_s": job.config.epochs * len(data.train) / train_s,
    }


def proxy_dict(proxy: Proxy) -> dict:
    """Plain data (a study records the proxy it scores with)."""
    return dataclasses.asdict(proxy)

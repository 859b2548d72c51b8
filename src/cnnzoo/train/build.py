"""Building a run from its configuration: the run folder, the model adapted to the dataset, the
batch streams, the optimizer, and the device they run on.

:func:`prepare` turns a :class:`~cnnzoo.train.config.TrainConfig` into a :class:`Job` -- every
piece :func:`cnnzoo.train.engine.run` drives -- in these steps, one function each:
:func:`choose_run_dir`, :func:`resolve_config` (the recipe), :func:`build_runtime`,
:func:`build_networks`, :func:`build_streams` and :func:`build_optimization`; all but the first
are :func:`assemble`, the in-memory entry point (a configuration, data and the processes -> a job)
the NAS proxy trains its candidates with. A ``--resume`` then
restores the state saved in the run folder (:mod:`cnnzoo.train.resume`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from cnnzoo.data import (
    DEFAULT_AUGMENT,
    Augment,
    Dataset,
    DatasetInfo,
    Split,
    load_dataset,
)
from cnnzoo.data.loader import make_stream
from cnnzoo.distributed import DistInfo, Runtime
from cnnzoo.env import BF16_FLAGS, cpu_info
from cnnzoo.evaluate.loop import eval_batch
from cnnzoo.registry import create_model, get_model_spec
from cnnzoo.source import check_input_size
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.optim import OPTIMIZERS, decay_groups, make_scheduler
from cnnzoo.train.recipes import Recipe, recipe_for, resolve
from cnnzoo.train.rundir import choose_run_dir

AMP_DTYPES: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
# ``auto`` is bf16 on a CUDA device that computes in it and on a CPU with bf16 matrix instructions
# (AVX-512 bf16 dot products, AMX tiles), fp32 elsewhere.
PRECISIONS = ("auto", *AMP_DTYPES)
CHECK_EVERY = {"cpu": 1, "cuda": 50}  # steps between loss checks (each one syncs the device)


def build_model(
    name: str, info: DatasetInfo, size: int, options: dict | None = None
) -> tuple[nn.Module, dict]:
    """``name`` with builder ``options``, adapted to the dataset (channels, classes), checked
    against the input size.

    Returns:
        The model (on the CPU) and the keyword arguments that rebuild it with ``create_model``.
    """
    kwargs = {**(options or {}), "num_classes": info.num_classes, "in_chans": info.in_chans}
    model = create_model(name, **kwargs)
    check_input_size(model, name, info, size)
    return model, kwargs


def train_augment(config: TrainConfig) -> Augment:
    """The training augmentation of a resolved ``config``."""
    return Augment(
        random_crop_padding=config.crop_padding,
        hflip=config.hflip,
        alternate_flip=config.alternate_flip,
        cutout=config.cutout,
    )


def auto_precision(device: torch.device) -> str:
    """``bf16`` where ``device`` computes in bf16 natively, else ``fp32`` (``--precision auto``)."""
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    _, flags = cpu_info()
    return "bf16" if set(BF16_FLAGS) & set(flags) else "fp32"


def dataset_record(info: DatasetInfo, size: int, data_dir: str | None) -> dict:
    """What a checkpoint records of its dataset (plain data)."""
    record = dataclasses.asdict(info)
    record.update(
        class_names=list(info.class_names),
        mean=list(info.mean),
        std=list(info.std),
        input_size=size,
        data_dir=data_dir,
    )
    return record


def configure_determinism(deterministic: bool, device: torch.device) -> None:
    """Deterministic kernels only, or cuDNN's autotuner on CUDA."""
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS determinism
    if torch.are_deterministic_algorithms_enabled() != deterministic:  # the call imports inductor
        torch.use_deterministic_algorithms(deterministic)
    torch.backends.cudnn.benchmark = device.type == "cuda" and not deterministic


@dataclasses.dataclass(frozen=True)
class Networks:
    """The network three ways: ``model`` the bare one (its state dict is checkpointed and its
    ``set_progress`` called), ``net`` the one evaluated (compiled with ``--compile``),
    ``train_net`` the one trained (``net`` in DDP when several processes run); and the keyword
    arguments that rebuild ``model`` with ``create_model``."""

    model: nn.Module
    net: nn.Module
    train_net: nn.Module
    model_kwargs: dict


@dataclasses.dataclass(frozen=True)
class Optimization:
    """What turns the loss into weight updates."""

    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    criterion: nn.Module


@dataclasses.dataclass(frozen=True)
class Job:
    """Everything a run is made of (the objects in it are mutable; the record is not); ``model``,
    ``net`` and ``train_net`` as in :class:`Networks`."""

    config: TrainConfig
    recipe: Recipe
    info: DatasetInfo
    size: int
    run_dir: Path | None  # None: a job in memory (:func:`assemble`)
    model: nn.Module
    net: nn.Module
    train_net: nn.Module
    runtime: Runtime
    train_stream: object
    test_stream: object
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    meta: dict
    sizes: tuple[int, int]  # training and test images
    average: AveragedModel | None = None  # --ema-decay's moving average of ``model``

    @property
    def steps(self) -> int:
        return self.train_stream.num_batches()

    @property
    def evaluated(self) -> nn.Module:
        """The network the run evaluates and saves in ``best.pt``: the average, else ``net``."""
        return self.net if self.average is None else self.average.module

    @property
    def test_runtime(self) -> Runtime:
        """The runtime of the test passes: the training's, in fp32 where ``--fp32-test`` says."""
        if self.config.fp32_test:
            return dataclasses.replace(self.runtime, amp_dtype=None)
        return self.runtime


def resolve_config(
    config: TrainConfig, data: Dataset, dist: DistInfo
) -> tuple[TrainConfig, Recipe]:
    """``config`` with its ``None`` fields filled from the model's recipe, checked against the
    processes and the device.

    Returns:
        The resolved configuration and the recipe.

    Raises:
        ValueError: a batch that does not split over the processes, fp16 on the CPU.
    """
    spec = get_model_spec(config.model)
    recipe = recipe_for(
        config.model,
        spec.family,
        config.dataset,
        small_images=isinstance(data.train, Split),
        name=config.recipe_name,
    )
    config = resolve(config, recipe)
    augment = DEFAULT_AUGMENT.get(data.info.name, Augment())  # where the recipe leaves it open
    config = dataclasses.replace(
        config,
        crop_padding=(
            augment.random_crop_padding if config.crop_padding is None else config.crop_padding
        ),
        hflip=augment.hflip if config.hflip is None else config.hflip,
        precision=(auto_precision(dist.device) if config.precision == "auto" else config.precision),
    )
    if config.batch_size % dist.world_size:
        raise ValueError(
            f"--batch-size {config.batch_size} does not split over {dist.world_size} processes"
        )
    if config.precision == "fp16" and dist.device.type == "cpu":
        raise ValueError("--precision fp16 needs a CUDA device; on the CPU use bf16")
    if config.alternate_flip and not config.hflip:
        raise ValueError(
            f"--alternate-flip needs mirror images, and this run has none ({config.dataset} is "
            "not mirrored by default); add --hflip or drop --alternate-flip"
        )
    return config, recipe


def build_runtime(config: TrainConfig, dist: DistInfo) -> Runtime:
    """Where and how the steps run; sets the kernels' determinism as ``config`` says."""
    configure_determinism(config.deterministic, dist.device)
    return Runtime(dist, AMP_DTYPES[config.precision], CHECK_EVERY.get(dist.device.type, 50))


def build_networks(config: TrainConfig, info: DatasetInfo, size: int, dist: DistInfo) -> Networks:
    """The model for the dataset, on the device, compiled and wrapped in DDP as asked.

    The weights come from ``config.seed`` (the same on every rank); then every rank seeds its
    own generator, for its dropout masks.
    """
    torch.manual_seed(config.seed)
    model, model_kwargs = build_model(config.model, info, size, config.model_kwargs)
    if config.small_size:
        try:
            model.check_input(torch.empty(1, info.in_chans, config.small_size, config.small_size))
        except ValueError as err:
            raise ValueError(f"--small-size {config.small_size}: {err}") from None
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(dist.device, memory_format=memory_format)
    # Static shapes: one graph per input shape (training, --small-size, evaluation batches), each
    # specialised, rather than one graph for every shape.
    net = torch.compile(model, dynamic=False) if config.compile else model
    train_net = net
    if dist.distributed:
        ids = [dist.device.index] if dist.device.type == "cuda" else None
        train_net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
    torch.manual_seed(config.seed * 1_000_003 + dist.rank)
    return Networks(model, net, train_net, model_kwargs)


def build_average(model: nn.Module, decay: float) -> AveragedModel | None:
    """An exponential moving average of ``model``'s weights and buffers (batch-norm statistics
    included), updated after each step with weight ``1 - decay`` for the new values; ``None``
    for a decay of 0. Its first update copies the weights."""
    if not decay:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


def build_streams(
    config: TrainConfig, data: Dataset, size: int, runtime: Runtime
) -> tuple[object, object]:
    """This rank's training stream (augmented, ``batch_size / world_size`` a step) and test
    stream.

    Raises:
        ValueError: too few training images for one batch.
    """
    world = runtime.dist.world_size
    train = make_stream(
        data.train,
        data.info,
        batch_size=config.batch_size // world,
        train=True,
        seed=config.seed,
        size=size,
        runtime=runtime,
        augment=train_augment(config),
        channels_last=config.channels_last,
    )
    test = make_stream(
        data.test,
        data.info,
        batch_size=eval_batch(runtime.device),
        train=False,
        seed=config.seed,
        size=size,
        runtime=runtime,
        channels_last=config.channels_last,
    )
    if train.num_batches() == 0:
        raise ValueError(
            f"{len(data.train)} training images make no batch of "
            f"{config.batch_size}; lower --batch-size or raise --subset"
        )
    return train, test


def build_optimization(
    config: TrainConfig,
    recipe: Recipe,
    model: nn.Module,
    steps_per_epoch: int,
    device: torch.device,
) -> Optimization:
    """The optimizer of ``model``'s parameters, its per-step schedule, the fp16 gradient scaler
    (a no-op otherwise) and the training loss."""
    optimizer = OPTIMIZERS[config.optimizer](decay_groups(model, config), config)
    return Optimization(
        optimizer=optimizer,
        scheduler=make_scheduler(optimizer, config, recipe, steps_per_epoch),
        scaler=torch.amp.GradScaler(device.type, enabled=config.precision == "fp16"),
        criterion=nn.CrossEntropyLoss(label_smoothing=config.label_smoothing),
    )


def run_meta(
    config: TrainConfig, recipe: Recipe, info: DatasetInfo, size: int, model_kwargs: dict
) -> dict:
    """What every checkpoint of the run records besides its tensors (plain data)."""
    return {
        "model_name": config.model,
        "model_kwargs": model_kwargs,
        "dataset": dataset_record(info, size, config.data_dir),
        "config": dataclasses.asdict(config),
        "recipe": recipe.as_dict(),
    }


def assemble(config: TrainConfig, data: Dataset, dist: DistInfo) -> Job:
    """The job ``config`` describes on data already in memory, with no run folder: the engine as a
    library (``prepare`` and the NAS proxy both build on it).

    Raises:
        ValueError: a model that cannot take the images, or options that do not fit (batch size,
            precision).
    """
    config, recipe = resolve_config(config, data, dist)
    size = config.input_size or data.info.image_size
    runtime = build_runtime(config, dist)
    nets = build_networks(config, data.info, size, dist)
    train_stream, test_stream = build_streams(config, data, size, runtime)
    opt = build_optimization(config, recipe, nets.model, train_stream.num_batches(), dist.device)
    return Job(
        config=config,
        recipe=recipe,
        info=data.info,
        size=size,
        run_dir=None,
        model=nets.model,
        net=nets.net,
        train_net=nets.train_net,
        runtime=runtime,
        train_stream=train_stream,
        test_stream=test_stream,
        optimizer=opt.optimizer,
        scheduler=opt.scheduler,
        scaler=opt.scaler,
        criterion=opt.criterion,
        meta=run_meta(config, recipe, data.info, size, nets.model_kwargs),
        sizes=(len(data.train), len(data.test)),
        average=build_average(nets.model, config.ema_decay),
    )


def prepare(config: TrainConfig, dist: DistInfo, hold: contextlib.ExitStack) -> Job:
    """Build the run ``config`` describes (see the module docstring); the run folder stays locked
    for as long as ``hold`` lasts.

    Raises:
        ValueError: unknown model or dataset, a run folder that cannot be used, a model that
            cannot take the images, or options that do not fit (batch size, precision).
    """
    get_model_spec(config.model)  # an unknown name fails before anything else
    run_dir = choose_run_dir(config, dist, hold)
    data = load_dataset(
        config.dataset, data_dir=config.data_dir, subset=config.subset, input_size=config.input_size
    )
    return dataclasses.replace(assemble(config, data, dist), run_dir=run_dir)

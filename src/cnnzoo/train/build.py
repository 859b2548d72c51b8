"""Building a run from its configuration: the run folder, the model adapted to the dataset, the
batch streams, the optimizer, and the device they run on.

:func:`prepare` turns a :class:`~cnnzoo.train.config.TrainConfig` into a :class:`Job` -- every
piece :func:`cnnzoo.train.engine.run` drives -- in these steps, one function each:
:func:`choose_run_dir`, :func:`resolve_config` (the recipe), :func:`build_runtime`,
:func:`build_networks`, :func:`build_streams` and :func:`build_optimization`. A ``--resume`` then
restores the state saved in the run folder (:mod:`cnnzoo.train.resume`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path

import torch
from torch import nn

from cnnzoo.data import (
    DEFAULT_AUGMENT,
    Augment,
    BatchStream,
    Dataset,
    DatasetInfo,
    LoaderStream,
    Split,
    load_dataset,
)
from cnnzoo.outdir import FolderError, owned
from cnnzoo.registry import create_model, get_model_spec
from cnnzoo.train import distributed
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.distributed import DistInfo
from cnnzoo.train.optim import OPTIMIZERS, make_scheduler
from cnnzoo.train.recipes import Recipe, recipe_for, resolve
from cnnzoo.train.resume import check_resumable, find_run_dir
from cnnzoo.train.rundir import RUN_FILES, check_fresh, check_writable, new_run_dir

AMP_DTYPES: dict[str, torch.dtype | None] = {
    "fp32": None,
    "bf16": torch.bfloat16,
    "fp16": torch.float16,
}
# images per rank and forward pass when evaluating during training: on the CPU small batches
# stay in cache (measured by benchmarks/eval_batch.py, results in benchmarks/results/eval_batch.md)
EVAL_BATCH = {"cpu": 128, "cuda": 1000}
CHECK_EVERY = {"cpu": 1, "cuda": 50}  # steps between loss checks (each one syncs the device)


@dataclasses.dataclass(frozen=True)
class Runtime:
    """Where and how the steps run.

    Args:
        dist: this process's rank, world size and device.
        amp_dtype: autocast dtype (``None`` for fp32).
        check_every: steps between the checks that the loss is finite.
    """

    dist: DistInfo = dataclasses.field(default_factory=DistInfo)
    amp_dtype: torch.dtype | None = None
    check_every: int = 1

    @property
    def device(self) -> torch.device:
        return self.dist.device

    def autocast(self):
        return torch.autocast(
            self.device.type,
            dtype=self.amp_dtype or torch.float32,
            enabled=self.amp_dtype is not None,
        )


def check_input_size(model: nn.Module, name: str, info: DatasetInfo, size: int) -> None:
    """Raise a ``ValueError`` suggesting ``--input-size`` if ``model`` cannot take the images.

    Uses the model's ``fixed_input_sizes`` (the nearest one at or above ``size`` is suggested) or
    ``min_input_size``.
    """
    try:
        model.check_input(torch.empty(1, info.in_chans, size, size, device="meta"))
    except ValueError as err:
        fixed = getattr(model, "fixed_input_sizes", ())
        fits = min(fixed, key=lambda s: (s < size, abs(s - size))) if fixed else None
        fits = fits or model.min_input_size
        raise ValueError(
            f"{name} cannot take the {size}x{size} images of {info.name} ({err}); rerun with "
            f"--input-size {fits} to resize them"
        ) from None


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


def train_augment(info: DatasetInfo, recipe: Recipe) -> Augment:
    """The dataset's default augmentation with the recipe's choices applied."""
    base = DEFAULT_AUGMENT.get(info.name, Augment())
    pad = base.random_crop_padding if recipe.crop_padding is None else recipe.crop_padding
    flip = base.hflip if recipe.hflip is None else recipe.hflip
    return Augment(random_crop_padding=pad, hflip=flip)


def make_stream(
    split,
    info: DatasetInfo,
    *,
    batch_size: int,
    train: bool,
    seed: int,
    size: int,
    runtime: Runtime,
    augment: Augment | None = None,
    channels_last: bool = False,
):
    """A ``BatchStream`` for an in-memory split, a ``LoaderStream`` for an image folder; this
    rank's share, ``batch_size`` per rank."""
    shard = {"rank": runtime.dist.rank, "world_size": runtime.dist.world_size}
    common = {"batch_size": batch_size, "train": train, "seed": seed, "device": runtime.device}
    if isinstance(split, Split):
        return BatchStream(
            split,
            info,
            input_size=size,
            augment=augment,
            channels_last=channels_last,
            **common,
            **shard,
        )
    return LoaderStream(split, info, channels_last=channels_last, **common, **shard)


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
    run_dir: Path
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

    @property
    def steps(self) -> int:
        return self.train_stream.num_batches()


def choose_run_dir(config: TrainConfig, dist: DistInfo, hold: contextlib.ExitStack) -> Path:
    """The run folder, checked before anything is loaded: the one ``--resume`` continues, or a
    new one; rank 0's choice on every rank. Rank 0 locks it (:func:`cnnzoo.outdir.owned`) for
    as long as ``hold`` lasts, so two runs never write into one folder.

    Raises:
        ValueError: a folder that is a file or cannot be written, one in use by another run or
            holding files cnnzoo did not write, ``--resume`` without a ``last.pt``, or a new run
            in a folder holding one.
    """
    run_dir = find_run_dir(config) if config.resume else new_run_dir(config)
    run_dir = Path(distributed.broadcast_string(str(run_dir), dist))  # rank 0's clock
    check_writable(run_dir)
    refused = ""
    if dist.is_main:
        try:
            hold.enter_context(owned(run_dir, "train", legacy=RUN_FILES))
        except FolderError as err:
            refused = str(err)
    refused = distributed.broadcast_string(refused, dist)  # every rank stops, not only rank 0
    if refused:
        raise ValueError(refused)
    if config.resume:
        check_resumable(run_dir)
    else:
        check_fresh(run_dir)
    return run_dir


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
        config.model, spec.family, config.dataset, small_images=isinstance(data.train, Split)
    )
    config = resolve(config, recipe)
    if config.batch_size % dist.world_size:
        raise ValueError(
            f"--batch-size {config.batch_size} does not split over {dist.world_size} processes"
        )
    if config.precision == "fp16" and dist.device.type == "cpu":
        raise ValueError("--precision fp16 needs a CUDA device; on the CPU use bf16")
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
    memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
    model = model.to(dist.device, memory_format=memory_format)
    net = torch.compile(model) if config.compile else model
    train_net = net
    if dist.distributed:
        ids = [dist.device.index] if dist.device.type == "cuda" else None
        train_net = nn.parallel.DistributedDataParallel(net, device_ids=ids)
    torch.manual_seed(config.seed * 1_000_003 + dist.rank)
    return Networks(model, net, train_net, model_kwargs)


def build_streams(
    config: TrainConfig, data: Dataset, recipe: Recipe, size: int, runtime: Runtime
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
        augment=train_augment(data.info, recipe),
        channels_last=config.channels_last,
    )
    test = make_stream(
        data.test,
        data.info,
        batch_size=EVAL_BATCH.get(runtime.device.type, EVAL_BATCH["cuda"]),
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
    optimizer = OPTIMIZERS[config.optimizer](model.parameters(), config)
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
    config, recipe = resolve_config(config, data, dist)
    size = config.input_size or data.info.image_size
    runtime = build_runtime(config, dist)
    nets = build_networks(config, data.info, size, dist)
    train_stream, test_stream = build_streams(config, data, recipe, size, runtime)
    opt = build_optimization(config, recipe, nets.model, train_stream.num_batches(), dist.device)
    return Job(
        config=config,
        recipe=recipe,
        info=data.info,
        size=size,
        run_dir=run_dir,
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
    )

"""DataLoaders for datasets too large for memory (``imagefolder``), sharded like the batch stream.

:class:`ShardSampler` gives a rank its share of an epoch's order with the same rules as
:class:`~cnnzoo.data.stream.BatchStream`: the permutation comes from ``(seed, epoch)``, ranks take
strided shares, the training order is padded by repetition to equal shares (as
``DistributedSampler`` does) and the test order is not (every sample exactly once across ranks).
:class:`LoaderStream` wraps a loader in the batch stream's interface (``num_batches``,
``epoch(epoch, start_step)``), so the training engine drives both alike.

The augmentation of a loader runs in its worker processes with torchvision's random transforms;
their seeds come from ``(seed, epoch, start_step)``, so an epoch is reproducible for a given
number of workers, but a resume in mid-epoch does not redraw the interrupted epoch's crops bit for
bit (the in-memory stream does). A file a worker refuses (:class:`~cnnzoo.reading.UnsafeInput`)
stops the stream with the worker's one-line message, not the worker's traceback.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.utils.data

from cnnzoo.data.base import DatasetInfo, Split
from cnnzoo.data.stream import Augment, BatchStream, epoch_generator, shard_positions
from cnnzoo.reading import UnsafeInput

if TYPE_CHECKING:
    from cnnzoo.distributed import Runtime


class ShardSampler(torch.utils.data.Sampler[int]):
    """This rank's share of an epoch's sample order.

    Args:
        size: the number of samples of the dataset.
        shuffle: permute with a generator seeded from ``(seed, epoch)``; else file order.
        seed: the seed (>= 0).
        rank, world_size: this process's shard.
        pad: repeat the order until every rank has the same share; ``None`` means ``shuffle``.
    """

    def __init__(
        self,
        size: int,
        *,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pad: bool | None = None,
    ) -> None:
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0 .. world_size-1, got {rank} of {world_size}")
        self.size = size
        self.shuffle = shuffle
        self.seed = seed
        pad = shuffle if pad is None else pad
        self.positions = shard_positions(size, rank, world_size, pad=pad)
        self.epoch = 0
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        """Use ``epoch``'s order from the ``start``-th sample of this rank's share on."""
        self.epoch = epoch
        self.start = start

    def indices(self) -> torch.Tensor:
        """The sample indices of the current epoch, for this rank, ``start`` on."""
        if self.shuffle:
            order = torch.randperm(self.size, generator=epoch_generator(self.seed, self.epoch))
        else:
            order = torch.arange(self.size)
        return order[self.positions[self.start :]]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())

    def __len__(self) -> int:
        return len(self.positions) - self.start


def default_workers() -> int:
    """Loader workers: the CPUs this process may use, at most 8."""
    return min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 2)


def make_loader(
    ds: torch.utils.data.Dataset,
    *,
    batch_size: int,
    train: bool,
    seed: int = 0,
    rank: int = 0,
    world_size: int = 1,
    num_workers: int | None = None,
    drop_last: bool | None = None,
    pin_memory: bool | None = None,
) -> torch.utils.data.DataLoader:
    """A DataLoader over ``ds`` with a :class:`ShardSampler` (call ``loader.sampler.set_epoch``).

    Args:
        ds: a map-style dataset returning ``(image tensor, label)``.
        batch_size: samples per batch and rank.
        train: shuffle (and pad the shares); else file order, every sample once across ranks.
        seed: the seed of the order and of the workers' random transforms.
        rank, world_size: this process's shard (the role ``DistributedSampler`` plays).
        num_workers: worker processes; ``None`` takes the usable CPUs, at most 8.
        drop_last: drop a short last batch; ``None`` means ``train``.
        pin_memory: ``None`` means "if CUDA is available".

    Returns:
        The loader; its ``generator`` seeds the workers and is reseeded by :class:`LoaderStream`.
    """
    workers = default_workers() if num_workers is None else num_workers
    return torch.utils.data.DataLoader(
        ds,
        batch_size=batch_size,
        sampler=ShardSampler(len(ds), shuffle=train, seed=seed, rank=rank, world_size=world_size),
        num_workers=workers,
        drop_last=train if drop_last is None else drop_last,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        generator=torch.Generator().manual_seed(seed),
    )


class LoaderStream:
    """A DataLoader behind :class:`~cnnzoo.data.stream.BatchStream`'s interface.

    Args:
        ds: a map-style dataset returning ``(normalised image tensor, label)``.
        info: the dataset's info.
        batch_size, train, seed, rank, world_size, num_workers, drop_last: as for
            :func:`make_loader`.
        device: where the batches are moved.
        channels_last: return images in channels-last memory format.
    """

    def __init__(
        self,
        ds: torch.utils.data.Dataset,
        info: DatasetInfo,
        *,
        batch_size: int,
        train: bool,
        seed: int,
        device: torch.device | str,
        rank: int = 0,
        world_size: int = 1,
        channels_last: bool = False,
        drop_last: bool | None = None,
        num_workers: int | None = None,
    ) -> None:
        self.info = info
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.loader = make_loader(
            ds,
            batch_size=batch_size,
            train=train,
            seed=seed,
            rank=rank,
            world_size=world_size,
            num_workers=num_workers,
            drop_last=drop_last,
            pin_memory=self.device.type == "cuda",
        )

    def num_batches(self) -> int:
        """Batches per epoch on this rank."""
        sampler = self.loader.sampler
        div = len(sampler.positions) / self.batch_size
        return math.floor(div) if self.loader.drop_last else math.ceil(div)

    def __len__(self) -> int:
        return self.num_batches()

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of ``epoch`` from ``start_step`` on, on the stream's device."""
        if not 0 <= start_step <= self.num_batches():
            raise ValueError(f"start_step must be in 0 .. {self.num_batches()}, got {start_step}")
        self.loader.sampler.set_epoch(epoch, start_step * self.batch_size)
        # Workers are started anew each epoch (no persistent workers), seeded from this.
        state = np.random.SeedSequence([self.seed, epoch, start_step, self.rank]).generate_state(1)
        self.loader.generator.manual_seed(int(state[0]))
        return self.batches()

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        non_blocking = self.device.type == "cuda"
        memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        try:
            for images, labels in self.loader:
                yield (
                    images.to(self.device, non_blocking=non_blocking, memory_format=memory_format),
                    labels.to(self.device, non_blocking=non_blocking),
                )
        except UnsafeInput as err:
            raise type(err)(worker_message(err)) from None


def worker_message(err: BaseException) -> str:
    """The message ``err`` had where it was raised: a DataLoader worker's exception arrives with
    the worker's traceback as its message, whose last line is ``module.Type: message``."""
    text = str(err)
    if "Traceback" not in text:
        return text
    last = text.rstrip().splitlines()[-1]
    prefix = f"{type(err).__module__}.{type(err).__qualname__}: "
    return last.removeprefix(prefix)


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

"""Batches of an in-memory split, augmented on the training device, reproducible to the bit.

:class:`BatchStream` keeps the ``uint8`` images on the device and builds each batch with a handful
of tensor operations: one ``index_select`` that gathers, crops and mirrors at once (it copies each
image row of the batch from a copy of the split padded once with zeros, and from its mirror image
where a sample is flipped), one multiply-subtract that converts to float and normalises, and an
optional resize (two small matrix products: bilinear resizing is separable and linear). No Python
runs per sample. The price is memory: the padded split, twice when flipping (for Fashion-MNIST
2 x 60,000 x 32 x 32 bytes, 123 MB; for CIFAR 2 x 50,000 x 3 x 40 x 40 bytes, 480 MB).

All randomness is a pure function of ``(seed, epoch, step)``: a CPU ``torch.Generator`` seeded from
``(seed, epoch)`` draws, in this order, the epoch's permutation of the whole split, one crop offset
and one flip per position of that permutation (with the alternating flip, each image takes
epoch 0's flip, inverted in the odd epochs); step ``s`` takes the positions
``s * batch_size ...`` of its rank's share. So a run resumed at ``start_step`` sees exactly the
batches it would have seen, and every device sees the same samples and augmentation. Ranks take
strided shares of the permutation (position ``p`` goes to rank ``p % world_size``), padded by
repetition to equal length as ``DistributedSampler`` does; a sample's augmentation belongs to its
position, not its rank, so the union of the ranks' batches at step ``s`` equals the single-process
batch ``s`` at ``world_size`` times the batch size, augmentation included.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cnnzoo.data.base import DatasetInfo, Split
from cnnzoo.data.mnist import EMNIST_SPLITS


@dataclass(frozen=True)
class Augment:
    """Training augmentation of an in-memory set.

    Attributes:
        random_crop_padding: pad each side with this many zero pixels and crop back to the native
            size at a random offset (0 = no crop).
        hflip: mirror left-right with probability 1/2.
        cutout: blank a square of this side, centred at a random pixel and clipped at the
            border, to the mean image value (DeVries & Taylor 2017, Sec. 3; 0 = none).
        alternate_flip: with ``hflip``, mirror each image in every other epoch: the first epoch's
            random half in the even epochs (0, 2, ...), the other half in the odd ones, so that
            every two consecutive epochs show each image both ways (Jordan 2024, arXiv:2404.00498,
            "alternating flip").
    """

    random_crop_padding: int = 0
    hflip: bool = False
    cutout: int = 0
    alternate_flip: bool = False

    def __post_init__(self) -> None:
        if self.random_crop_padding < 0:
            raise ValueError(f"random_crop_padding must be >= 0, got {self.random_crop_padding}")
        if self.cutout < 0:
            raise ValueError(f"cutout must be >= 0, got {self.cutout}")


DIGITS_AUGMENT = Augment(random_crop_padding=2)  # never mirrored: a mirrored 2, 7 or R is no class
DEFAULT_AUGMENT: dict[str, Augment] = {
    # Garments look alike mirrored; shifts of up to 2 of 28 pixels, as for the digits.
    "fashion-mnist": Augment(random_crop_padding=2, hflip=True),
    "mnist": DIGITS_AUGMENT,
    "kmnist": DIGITS_AUGMENT,
    "mnist-5k": DIGITS_AUGMENT,
    **{f"emnist-{split}": DIGITS_AUGMENT for split in EMNIST_SPLITS},
    # He et al. 2016 (arXiv:1512.03385), Sec. 4.2: pad 4, random 32 x 32 crop, horizontal flip.
    "cifar10": Augment(random_crop_padding=4, hflip=True),
    "cifar100": Augment(random_crop_padding=4, hflip=True),
}


RESIZE_MODES = ("bilinear", "pad")


def resize_matrix(size: int, new_size: int) -> torch.Tensor:
    """The ``new_size x size`` matrix of 1-D bilinear resizing, antialiased when shrinking.

    Taken from ``F.interpolate`` itself (applied to the unit vectors), so ``R @ x @ R.T`` equals
    ``F.interpolate(x, (new_size, new_size), mode="bilinear", antialias=new_size < size)`` up to
    float rounding, at a fraction of its cost on CPU.
    """
    basis = torch.eye(size, dtype=torch.float64).view(size, 1, 1, size)
    out = F.interpolate(
        basis,
        size=(1, new_size),
        mode="bilinear",
        align_corners=False,
        antialias=new_size < size,
    )
    return out[:, 0, 0, :].T.to(torch.float32).contiguous()


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU generator whose state is a pure function of ``(seed, epoch)`` (both >= 0)."""
    if seed < 0 or epoch < 0:
        raise ValueError(f"seed and epoch must be >= 0, got seed={seed}, epoch={epoch}")
    high, low = np.random.SeedSequence([seed, epoch]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed((int(high) << 32) | int(low))


def cutout_mask(centres: torch.Tensor, side: int, size: int) -> torch.Tensor:
    """``N x 1 x size x size``, true inside each image's square of ``side`` pixels whose centre is
    the row of ``centres`` (N x 2: y, x), clipped at the border."""
    low = (centres - side // 2)[..., None]  # N x 2 x 1
    grid = torch.arange(size, device=centres.device)
    inside = (grid >= low) & (grid < low + side)  # N x 2 x size: the rows, the columns
    return (inside[:, 0, :, None] & inside[:, 1, None, :])[:, None]


def shard_positions(size: int, rank: int, world_size: int, *, pad: bool) -> torch.Tensor:
    """The positions of an epoch's order of ``size`` samples that belong to ``rank``.

    Strided: position ``p`` goes to rank ``p % world_size``. With ``pad`` the order is first
    extended by repeating it from the start until every rank has ``ceil(size / world_size)``
    positions (``DistributedSampler``'s padding); without, each position is taken exactly once.
    """
    if pad:
        share = math.ceil(size / world_size)
        return (torch.arange(share) * world_size + rank) % size
    return torch.arange(rank, max(rank, size), world_size)  # empty for a rank beyond the end


class BatchStream:
    """Batches of an in-memory :class:`Split`, augmented and normalised on ``device``.

    Args:
        split: the images (``uint8`` N x C x H x W) and labels.
        info: the dataset's info (mean, std and name, for the default augmentation).
        batch_size: samples per batch and rank.
        train: shuffle and augment (else: file order, no augmentation, every sample once).
        seed: the seed of all randomness (>= 0).
        device: where batches are built and returned; the split is copied there once.
        input_size: the side of the returned images (default: the native side).
        rank, world_size: this process's shard.
        augment: the training augmentation; ``None`` takes ``DEFAULT_AUGMENT[info.name]`` (none
            for a name without an entry). Ignored when ``train`` is false.
        channels_last: return images in channels-last memory format.
        drop_last: drop a short last batch; ``None`` means ``train`` (train batches all have
            ``batch_size`` samples, the test stream sees every sample).
        resize_mode: how ``input_size`` is reached: ``"bilinear"`` resizes after augmentation
            (antialiased when shrinking); ``"pad"`` centres the native image in a larger field
            of zeros, as LeNet-5's paper does with the 28 x 28 MNIST digits in 32 x 32
            (LeCun et al. 1998, Sec. III-A); random crops then move the image within the field.
    """

    def __init__(
        self,
        split: Split,
        info: DatasetInfo,
        *,
        batch_size: int,
        train: bool,
        seed: int,
        device: torch.device | str,
        input_size: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        augment: Augment | None = None,
        channels_last: bool = False,
        drop_last: bool | None = None,
        resize_mode: str = "bilinear",
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in 0 .. world_size-1, got {rank} of {world_size}")
        if len(split) == 0:
            raise ValueError(f"{info.name}: the split is empty")
        if split.images.shape[1] != info.in_chans or len(info.mean) != info.in_chans:
            raise ValueError(
                f"{info.name}: images have {split.images.shape[1]} channels, info says "
                f"{info.in_chans} (mean/std for {len(info.mean)})"
            )
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        if resize_mode not in RESIZE_MODES:
            raise ValueError(f"resize_mode must be one of {RESIZE_MODES}, got {resize_mode!r}")
        native = split.images.shape[-1]
        self.input_size = input_size or native
        if resize_mode == "pad" and self.input_size < native:
            raise ValueError(
                f"resize_mode 'pad' cannot shrink {native} x {native} images to {self.input_size}"
            )
        self.info = info
        self.batch_size = batch_size
        self.train = train
        self.seed = seed
        self.device = torch.device(device)
        self.rank = rank
        self.world_size = world_size
        if augment is None:
            augment = DEFAULT_AUGMENT.get(info.name, Augment())
        self.augment = augment if train else Augment()
        self.channels_last = channels_last
        self.drop_last = train if drop_last is None else drop_last
        self.size = len(split)
        self.positions = shard_positions(self.size, rank, world_size, pad=train)

        images = split.images.to(self.device)
        self.labels = split.labels.to(self.device)
        mean = torch.tensor(info.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(info.std, dtype=torch.float32).view(1, -1, 1, 1)
        self.scale = (1 / (255 * std)).to(self.device)  # (x / 255 - mean) / std = x * scale - shift
        self.shift = (mean / std).to(self.device)

        # The crop window: the native side, or the input side when padding up to it.
        field = self.input_size - native if resize_mode == "pad" else 0
        self.window = native + field
        self.resize = None
        if self.input_size != self.window:
            self.resize = resize_matrix(self.window, self.input_size).to(self.device)
        pad = self.augment.random_crop_padding
        self.windowed = bool(pad or self.augment.hflip or field)
        if self.windowed:
            # The source of every crop: the split padded with zeros (the crop padding, plus the
            # field around it in "pad" mode), followed by its mirror image when flipping, so that
            # a flip is a choice of source. N x C x (H + 2p + field) x (W + 2p + field).
            before, after = pad + field // 2, pad + field - field // 2
            padded = F.pad(images, (before, after, before, after))
            if self.augment.hflip:
                padded = torch.cat([padded, padded.flip(-1)])
            self.images = padded.contiguous()
            self.padded_side = padded.shape[-1]
            flat = self.images.view(-1)
            # Row m of `windows` is the pixels flat[m : m + window] (a view, no copy): a crop row
            # that starts anywhere in the padded images is one row of it.
            self.windows = flat.as_strided((flat.numel() - self.window + 1, self.window), (1, 1))
            # Offsets of the C x window crop rows from a crop's first pixel.
            plane = self.padded_side**2
            rows = torch.arange(info.in_chans)[:, None] * plane
            rows = rows + torch.arange(self.window) * self.padded_side
            self.row_offsets = rows.view(1, -1).to(self.device)
        else:
            self.images = images

    def samples_per_epoch(self) -> int:
        """Samples this rank sees per epoch, padding included, short last batch included."""
        return len(self.positions)

    def num_batches(self) -> int:
        """Batches per epoch on this rank (the same on every rank for a train stream)."""
        div = len(self.positions) / self.batch_size
        return math.floor(div) if self.drop_last else math.ceil(div)

    def __len__(self) -> int:
        return self.num_batches()

    def epoch(self, epoch: int, start_step: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of ``epoch`` from step ``start_step`` on.

        Args:
            epoch: the epoch number (>= 0); with the seed, it fixes the order and augmentation.
            start_step: the first step to return; earlier ones are skipped without being built.

        Returns:
            An iterator of ``(images, labels)``: float32 normalised N x C x S x S and int64 N,
            both on the stream's device.
        """
        if not 0 <= start_step <= self.num_batches():
            raise ValueError(f"start_step must be in 0 .. {self.num_batches()}, got {start_step}")
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        if self.train:
            order, offsets, flips, centres = self.draws(epoch)
            if self.augment.hflip and self.augment.alternate_flip and epoch > 0:
                first_order, _, first_flips, _ = self.draws(0)  # epoch 0: its own coin tosses
                mirrored = torch.empty_like(first_flips)  # by image: epoch 0 mirrors these
                mirrored[first_order] = first_flips
                flips = mirrored[order] ^ bool(epoch % 2)
            if centres is not None:
                centres = centres[self.positions].to(self.device)
            sample = order[self.positions]
        else:
            sample, centres = self.positions, None
            offsets = torch.zeros(self.size, 2, dtype=torch.int64)
            flips = torch.zeros(self.size, dtype=torch.bool)
        starts = None
        if self.windowed:
            starts = self.crop_starts(sample, offsets[self.positions], flips[self.positions])
            starts = starts.to(self.device)
        return self.batches(sample.to(self.device), starts, centres, start_step)

    def draws(
        self, epoch: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The training draws of ``epoch``, in the order its generator makes them: the
        permutation, then by position the crop offsets (N x 2), the coin tosses of the flips and
        the cutout centres (N x 2, ``None`` without cutout); zeros where not augmented."""
        generator = epoch_generator(self.seed, epoch)
        order = torch.randperm(self.size, generator=generator)
        offsets = torch.zeros(self.size, 2, dtype=torch.int64)
        flips = torch.zeros(self.size, dtype=torch.bool)
        centres = None
        pad = self.augment.random_crop_padding
        if pad:
            offsets = torch.randint(0, 2 * pad + 1, (self.size, 2), generator=generator)
        if self.augment.hflip:
            flips = torch.rand(self.size, generator=generator) < 0.5
        if self.augment.cutout:
            centres = torch.randint(0, self.input_size, (self.size, 2), generator=generator)
        return order, offsets, flips, centres

    def crop_starts(
        self, sample: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor
    ) -> torch.Tensor:
        """The flat index, in :attr:`images`, of each crop's first pixel.

        With ``P`` the padded images, the crop of sample ``n`` at offset ``(dy, dx)``, mirrored if
        ``flip``, is ``out[c, i, j] = P[n, c, dy + i, dx + (S - 1 - j if flip else j)]``;
        mirrored, it is the crop of the mirror image (sample ``n + N``) at ``(dy, 2p - dx)``.
        """
        pad = self.augment.random_crop_padding
        dy, dx = offsets.unbind(1)
        dx = torch.where(flips, 2 * pad - dx, dx)
        source = sample + flips.long() * self.size
        chans = self.info.in_chans
        return (source * chans * self.padded_side + dy) * self.padded_side + dx

    def batches(
        self,
        sample: torch.Tensor,
        starts: torch.Tensor | None,
        centres: torch.Tensor | None,
        start_step: int,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Build the batches of one epoch from this rank's sample index, crop starts and cutout
        centres."""
        chans, window = self.info.in_chans, self.window
        for step in range(start_step, self.num_batches()):
            part = slice(step * self.batch_size, (step + 1) * self.batch_size)
            idx = sample[part]
            if starts is None:
                images = self.images.index_select(0, idx)
            else:  # one row copy per image row: crop, flip and batch gather at once
                rows = (starts[part, None] + self.row_offsets).view(-1)
                images = self.windows.index_select(0, rows).view(len(idx), chans, window, window)
            images = self.normalised(images)
            if centres is not None:
                side = self.augment.cutout
                images.masked_fill_(cutout_mask(centres[part], side, self.input_size), 0.0)
            yield images, self.labels.index_select(0, idx)

    def normalised(self, images: torch.Tensor) -> torch.Tensor:
        """``uint8`` images -> float32 ``(x / 255 - mean) / std``, resized and laid out as asked."""
        out = (images * self.scale).sub_(self.shift)  # one pass converts and scales
        if self.resize is not None and self.device.type == "cpu":
            out = self.resize @ out @ self.resize.T
        elif self.resize is not None:  # exact on accelerators, whatever their matmul precision
            out = F.interpolate(
                out,
                size=(self.input_size, self.input_size),
                mode="bilinear",
                align_corners=False,
                antialias=self.input_size < self.window,
            )
        if self.channels_last:
            out = out.contiguous(memory_format=torch.channels_last)
        return out

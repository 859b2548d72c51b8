"""Calibration images for static int8 quantization: real images of a dataset's TRAINING split.

The test split is never read, so an accuracy measured on it after quantization is not flattered
by calibration on the same images.
"""

from __future__ import annotations

import torch

from cnnzoo.data import BatchStream, Split, load_dataset

CALIBRATION_IMAGES = 512  # ONNX Runtime's and PT2E's min-max observers settle well before this


def sample_indices(size: int, count: int, seed: int) -> torch.Tensor:
    """``min(count, size)`` distinct indices of ``0 .. size-1``, a pure function of ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    return torch.randperm(size, generator=generator)[: min(count, size)].sort().values


def calibration_batches(
    dataset: str,
    *,
    data_dir: str | None,
    input_size: int | None,
    num_images: int = CALIBRATION_IMAGES,
    batch_size: int = 32,
    seed: int = 0,
    in_chans: int | None = None,
    num_classes: int | None = None,
    mean: tuple[float, ...] | None = None,
    std: tuple[float, ...] | None = None,
) -> list[torch.Tensor]:
    """Normalised training images of ``dataset``, in batches, for calibrating int8 quantization.

    Args:
        dataset: a dataset name (see :data:`cnnzoo.data.DATASETS`).
        data_dir: where its files are (``None``: the dataset's default).
        input_size: the side the images are resized to (``None``: native).
        num_images: how many images, drawn at random (``seed``) from the training split.
        batch_size: images per batch (the last batch may be shorter).
        seed: the seed of the draw.
        in_chans, num_classes: when given, the dataset must have these (the model's) channels and
            classes, else ``ValueError``.
        mean, std: normalisation (default: the dataset's; a checkpoint passes its own).

    Returns:
        float32 N x C x H x W tensors, normalised as in training, without augmentation.

    Raises:
        ValueError: unknown dataset, missing files, or channels/classes that do not fit.
    """
    if num_images < 1 or batch_size < 1:
        raise ValueError(f"num_images and batch_size must be >= 1, got {num_images}, {batch_size}")
    data = load_dataset(dataset, data_dir=data_dir, input_size=input_size)
    info = data.info
    for what, want, have in (
        ("channels", in_chans, info.in_chans),
        ("classes", num_classes, info.num_classes),
    ):
        if want is not None and want != have:
            raise ValueError(
                f"calibration dataset {dataset} has {have} {what}; the model has {want}"
            )
    if mean is not None or std is not None:
        import dataclasses

        info = dataclasses.replace(info, mean=tuple(mean or info.mean), std=tuple(std or info.std))
    train = data.train
    index = sample_indices(len(train), num_images, seed)
    if isinstance(train, Split):
        split = Split(train.images[index], train.labels[index])
        stream = BatchStream(
            split,
            info,
            batch_size=batch_size,
            train=False,
            seed=0,
            device="cpu",
            input_size=input_size,
        )
        return [images.contiguous() for images, _ in stream.epoch(0)]
    images = torch.stack([train[int(i)][0] for i in index]).float()  # an image folder's transform
    return list(images.split(batch_size))

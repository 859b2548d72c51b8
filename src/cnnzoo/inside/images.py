"""What ``cnnzoo inspect`` shows the network: the checkpoint's test images (a seeded sample) or
image files, preprocessed as the checkpoint's test images were.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnzoo.inside.topk import TopK
from cnnzoo.inside.views import Shown
from cnnzoo.source import Source


def sample(length: int, n: int | None, seed: int) -> np.ndarray:
    """``n`` distinct indices of ``range(length)`` drawn with ``seed``, sorted (all for ``None``
    or an ``n`` past the end)."""
    if n is None or n >= length:
        return np.arange(length)
    return np.sort(np.random.default_rng(seed).choice(length, n, replace=False))


@dataclass(frozen=True)
class TestImages:
    """The checkpoint's test split, and how its images are fed to the network."""

    split: object
    info: object
    source: Source
    batch_size: int

    def __len__(self) -> int:
        return len(self.split)

    def batches(
        self, indices: np.ndarray
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``(normalised images, their split indices, their labels)`` of ``indices``, in that
        order."""
        from cnnzoo.data import Split
        from cnnzoo.data.loader import make_stream
        from cnnzoo.distributed import DistInfo, Runtime

        if isinstance(self.split, Split):
            index = torch.from_numpy(indices)
            chosen = Split(
                self.split.images.index_select(0, index), self.split.labels.index_select(0, index)
            )
        else:
            chosen = torch.utils.data.Subset(self.split, indices.tolist())
        stream = make_stream(
            chosen,
            self.info,
            batch_size=self.batch_size,
            train=False,
            seed=0,
            size=self.source.input[-1],
            runtime=Runtime(DistInfo(device=self.source.device)),
        )
        start = 0
        for images, labels in stream.epoch(0):
            yield images, torch.from_numpy(indices[start : start + len(images)]), labels
            start += len(images)

    def indexed(self, indices: np.ndarray) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(normalised images, their split indices)`` of ``indices``, in that order."""
        return ((images, index) for images, index, _ in self.batches(indices))

    def load(self, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """The normalised images at ``indices`` and their labels."""
        parts = list(self.batches(indices))
        return torch.cat([p[0] for p in parts]), torch.cat([p[2] for p in parts])


def test_images(source: Source, data_dir: str | None, batch_size: int) -> TestImages:
    """The checkpoint's test split (from ``data_dir``, default the checkpoint's), fed as its
    test images were (size, normalisation), ``batch_size`` at a time."""
    from cnnzoo.data import load_dataset

    record = source.record
    data = load_dataset(
        record["name"],
        data_dir=data_dir or record.get("data_dir"),
        input_size=record["input_size"],
    )
    source.check_fits(data.info)
    info = dataclasses.replace(data.info, mean=tuple(record["mean"]), std=tuple(record["std"]))
    return TestImages(data.test, info, source, batch_size)


def shown_images(
    source: Source,
    test: TestImages,
    paths: tuple[str, ...],
    count: int,
    seed: int,
    class_names: list[str],
) -> Shown:
    """The image files ``paths``, or (none given) ``count`` test images drawn with ``seed``."""
    if paths:
        images = source.read_images(paths).to(source.device)
        return Shown(
            images, [Path(p).name for p in paths], [None] * len(images), [None] * len(images)
        )
    picked = sample(len(test), count, seed)
    images, labels = test.load(picked)
    labels = labels.tolist()
    names = [f"test #{i} ({class_names[y]})" for i, y in zip(picked, labels, strict=True)]
    return Shown(images, names, picked.tolist(), labels)


def top_pool(test: TestImages, tops: dict[str, TopK]) -> dict[int, torch.Tensor]:
    """Test index -> normalised image, for every image among the top images of ``tops``."""
    wanted = sorted({int(i) for t in tops.values() for i in t.images.flatten().tolist()})
    return dict(zip(wanted, test.load(np.array(wanted, dtype=np.int64))[0], strict=True))

"""How a variant of a network (an exported file, a compiled or reduced-precision model) is judged
against the fp32 PyTorch model: the difference of its outputs on one batch, and -- the judgement
that counts for int8 -- how often its top-1 prediction is fp32's on real test images of a trained
checkpoint's dataset. ``cnnzoo bench`` and ``cnnzoo export --verify`` both judge with these.

Why agreement on real images: a max-difference on random inputs says nothing about a quantized
network (its ranges are calibrated for real images), and a random-init network says nothing at all
(its logits are near-ties, or, as in mobilenet_v1, vanish). Agreement of predictions is what a user
of the int8 file sees, and it needs no labels.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch

from cnnzoo.evaluate.loop import eval_batch
from cnnzoo.export.common import run_batched
from cnnzoo.progress import Progress

MIN_AGREEMENT = 0.99  # issue #20: a variant must predict fp32's top-1 on >= 99 % of test images
# test images per batch of the stream (cut to a multiple of the variant's batch): the engine's
# measured evaluation batch on the CPU, where the judged runtimes run
EVAL_BATCH = eval_batch(torch.device("cpu"))


class Disagrees(ValueError):
    """A variant predicts fp32's top-1 on too few test images (one line: which, how often)."""


def output_difference(output: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    """Max absolute difference, and it over the reference's largest ``|logit|``.

    Args:
        output: the variant's output.
        reference: fp32 PyTorch's output on the same input.

    Returns:
        ``(max_abs_diff, max_rel_diff)``; the relative difference is 0 when both are all zero and
        infinite when only the reference is.
    """
    out, ref = output.detach().float().cpu(), reference.detach().float().cpu()
    diff = (out - ref).abs().max().item()
    scale = ref.abs().max().item()
    if scale > 0:
        return diff, diff / scale
    return diff, 0.0 if diff == 0 else math.inf


def eval_batches(
    record: dict,
    *,
    data_dir: str | None,
    input_size: int,
    batch_size: int,
    limit: int | None = None,
) -> tuple[int, Iterator[tuple[torch.Tensor, torch.Tensor]]]:
    """The test split of a checkpoint's dataset, normalised as in training, in file order.

    Args:
        record: the checkpoint's dataset record (:attr:`cnnzoo.source.Source.record`).
        data_dir: the dataset's folder (``None``: the record's, else the dataset's default).
        input_size: the side the images are resized to.
        batch_size: images per batch (the last may be shorter).
        limit: the first this many images only (``None``: the whole split).

    Returns:
        How many images the batches hold, and the ``(images, labels)`` CPU batches.

    Raises:
        ValueError: missing data, or a dataset that does not fit the record.
    """
    from cnnzoo.data import load_dataset
    from cnnzoo.data.loader import make_stream
    from cnnzoo.distributed import DistInfo, Runtime
    from cnnzoo.source import check_fits

    data = load_dataset(
        record["name"], data_dir=data_dir or record.get("data_dir"), input_size=input_size
    )
    check_fits(record, data.info)
    info = dataclasses.replace(data.info, mean=tuple(record["mean"]), std=tuple(record["std"]))
    runtime = Runtime(DistInfo(device=torch.device("cpu")))
    stream = make_stream(
        data.test,
        info,
        batch_size=batch_size,
        train=False,
        seed=0,
        size=input_size,
        runtime=runtime,
    )
    total = len(data.test) if limit is None else min(limit, len(data.test))

    def batches() -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        left = total
        for images, labels in stream.epoch(0):
            if left <= 0:
                return
            keep = min(left, len(labels))
            left -= keep
            yield images[:keep].contiguous(), labels[:keep]

    return total, batches()


def top1(
    runs: Sequence[Callable[[torch.Tensor], torch.Tensor]],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    batch: int | None = None,
    *,
    progress: Progress | None = None,
    description: str = "top-1",
    total: int = 0,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """The top-1 predictions of each of ``runs`` over the same ``batches``, and their labels.

    Args:
        runs: functions from a batch of images to its logits.
        batches: ``(images, labels)``, read once.
        batch: the static batch the runs take (``None``: any); images that do not fill a last
            piece of ``batch`` are left out, with their labels.
        progress: called as ``(description, images done, total)`` after each batch.
        description, total: what ``progress`` is told (``total``: the images ``batches`` hold).

    Returns:
        ``(predictions, labels)``: one 1-D int64 tensor per run, and the labels, of equal length.
    """
    predictions: list[list[torch.Tensor]] = [[] for _ in runs]
    kept, done = [], 0
    with torch.no_grad():
        for images, labels in batches:
            usable = len(labels) if batch is None else len(labels) // batch * batch
            if usable:
                for run, out in zip(runs, predictions, strict=True):
                    out.append(run_batched(run, images[:usable], batch).argmax(1).cpu())
                kept.append(labels[:usable].cpu().long())
            done += usable
            if progress:
                progress(description, done, total)
    empty = torch.zeros(0, dtype=torch.long)
    return ([torch.cat(p) if p else empty for p in predictions], torch.cat(kept) if kept else empty)


def agreement(predictions: torch.Tensor, reference: torch.Tensor, labels: torch.Tensor) -> dict:
    """How often a variant's top-1 is fp32's, and both top-1 accuracies.

    Args:
        predictions: the variant's top-1 per image.
        reference: fp32's top-1 on the same images.
        labels: the true classes.

    Returns:
        ``{"images", "agreement", "top1", "top1_fp32", "agrees"}``; ``agrees`` is
        ``agreement >= MIN_AGREEMENT``.

    Raises:
        ValueError: no images, or tensors of different lengths.
    """
    n = len(labels)
    if n == 0 or len(predictions) != n or len(reference) != n:
        raise ValueError(
            f"agreement needs equal, non-empty predictions; got "
            f"{len(predictions)}, {len(reference)} and {n} labels"
        )
    share = int((predictions == reference).sum()) / n  # counts, so 99 of 100 is exactly 0.99
    return {
        "images": n,
        "agreement": share,
        "top1": int((predictions == labels).sum()) / n,
        "top1_fp32": int((reference == labels).sum()) / n,
        "agrees": share >= MIN_AGREEMENT,
    }


def disagreement_reason(judged: dict) -> str:
    """``"top-1 is fp32's on 97.10% of 10,000 test images (needs >= 99%)"``."""
    return (
        f"top-1 is fp32's on {judged['agreement']:.2%} of {judged['images']:,} test images "
        f"(needs >= {MIN_AGREEMENT:.0%})"
    )

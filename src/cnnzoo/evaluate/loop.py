"""Evaluating a network on a test stream: top-1 / top-5 accuracy, loss, the confusion matrix, and
the test-time augmentations.

Accuracies are fractions in [0, 1]. Top-k follows ILSVRC: a prediction is right when the true
class is among the ``k`` highest scores (Russakovsky et al. 2015, Sec. 4.1). Used by the training
engine after each epoch and by ``cnnzoo eval``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo import distributed
from cnnzoo.distributed import Runtime

# images per rank and forward pass: on the CPU small batches stay in cache (measured by
# benchmarks/eval_batch.py, results in benchmarks/results/eval_batch.md)
EVAL_BATCH = {"cpu": 128, "cuda": 1000}
TEN_CROP_SCALE = 8 / 7  # 256 / 224: the enlargement the ten crops are cut from (ILSVRC habit)


def eval_batch(device: torch.device) -> int:
    """Images per forward pass of an evaluation on ``device``."""
    return EVAL_BATCH.get(device.type, EVAL_BATCH["cuda"])


def topk_correct(scores: torch.Tensor, labels: torch.Tensor, ks: Sequence[int]) -> torch.Tensor:
    """How many rows of ``scores`` have their label among their ``k`` highest, for each ``k``.

    Args:
        scores: N x C logits or log-probabilities.
        labels: N int64 class indices.
        ks: the ``k`` values; each is capped at C.

    Returns:
        A float64 tensor with one count per ``k``, on ``scores``' device.
    """
    top = scores.topk(min(max(ks), scores.shape[1]), dim=1).indices  # N x kmax
    hits = top.eq(labels[:, None])
    return torch.stack([hits[:, : min(k, scores.shape[1])].any(1).sum() for k in ks]).double()


def confusion_matrix(
    predictions: torch.Tensor, labels: torch.Tensor, num_classes: int
) -> torch.Tensor:
    """``C x C`` int64 counts: row = true class, column = predicted class."""
    flat = labels * num_classes + predictions
    return torch.bincount(flat, minlength=num_classes * num_classes).view(num_classes, num_classes)


def per_class_accuracy(confusion: torch.Tensor) -> list[float | None]:
    """Recall of each class (diagonal over row sums); ``None`` for a class with no sample."""
    totals = confusion.sum(1).tolist()
    hits = confusion.diagonal().tolist()
    return [h / t if t else None for h, t in zip(hits, totals, strict=True)]


def mean_log_probs(
    logits: list[torch.Tensor], weights: Sequence[float] | None = None
) -> torch.Tensor:
    """Log of the mean (or the ``weights``-weighted sum) of the softmax probabilities of several
    views."""
    logp = torch.stack([x.float().log_softmax(1) for x in logits])
    if weights is None:
        return torch.logsumexp(logp, 0) - math.log(len(logits))
    log_w = torch.tensor(weights, dtype=logp.dtype, device=logp.device).log()
    return torch.logsumexp(logp + log_w[:, None, None], 0)


def tta_none(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    return model(images).float().log_softmax(1)


def tta_flip(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The image and its mirror image."""
    return mean_log_probs([model(images), model(images.flip(-1))])


def tta_ten_crop(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Krizhevsky et al. 2012, Sec. 4.1: the four corner patches and the centre patch of a larger
    image, and their mirror images. The larger image is the batch enlarged by 8/7 (256/224)."""
    size = images.shape[-1]
    big = round(size * TEN_CROP_SCALE)
    large = F.interpolate(images, size=(big, big), mode="bilinear", align_corners=False)
    m = big - size
    corners = ((0, 0), (0, m), (m, 0), (m, m), (m // 2, m // 2))
    crops = [large[..., i : i + size, j : j + size] for i, j in corners]
    return mean_log_probs([model(c) for c in crops] + [model(c.flip(-1)) for c in crops])


def shifted(images: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """The images moved ``dy`` rows down and ``dx`` columns right (at most one pixel), the
    border pixels repeated into the gap."""
    padded = F.pad(images, (1, 1, 1, 1), mode="replicate")
    height, width = images.shape[-2:]
    return padded[..., 1 - dy : 1 - dy + height, 1 - dx : 1 - dx + width]


# The views of tta_flip_shift, in its order: the image, moved up-left, moved down-right, then
# their mirror images; the unmoved pair weighs 1/2, each moved pair 1/4.
FLIP_SHIFT_WEIGHTS = (1 / 4, 1 / 8, 1 / 8, 1 / 4, 1 / 8, 1 / 8)


def tta_flip_shift(model: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """The multi-crop evaluation of Jordan 2024 (the CIFAR-10 speed run): the image and its
    mirror image with weight 1/2, the pair moved one pixel up and left with 1/4, and the pair
    moved one pixel down and right with 1/4; six views."""
    views = [images, shifted(images, -1, -1), shifted(images, 1, 1)]
    logits = [model(v) for v in views] + [model(v.flip(-1)) for v in views]
    return mean_log_probs(logits, FLIP_SHIFT_WEIGHTS)


TTA: dict[str, Callable[[nn.Module, torch.Tensor], torch.Tensor]] = {
    "none": tta_none,
    "flip": tta_flip,
    "flip-shift": tta_flip_shift,
    "10crop": tta_ten_crop,
}


@torch.inference_mode()
def evaluate(
    model: nn.Module, stream, runtime: Runtime, *, num_classes: int, tta: str = "none"
) -> dict:
    """Top-1 / top-5 accuracy, loss and confusion matrix of ``model`` on a test stream.

    Args:
        model: the network (not DDP-wrapped: ranks may see different numbers of batches).
        stream: a test ``BatchStream`` / ``LoaderStream``; each rank sees its disjoint part.
        runtime: device, autocast dtype, rank; sums are reduced over the ranks.
        num_classes: classes of the confusion matrix.
        tta: a key of :data:`TTA`.

    Returns:
        ``loss`` (cross-entropy of the averaged probabilities), ``top1``, ``top5``, ``error1``,
        ``error5``, ``count``, ``per_class`` (accuracy of each class), ``confusion`` (C x C
        tensor, rows = true class), ``seconds``.
    """
    model.eval()
    predict = TTA[tta]
    sums = torch.zeros(4, dtype=torch.float64, device=runtime.device)  # loss, top-1, top-5, count
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64, device=runtime.device)
    tic = time.perf_counter()
    for images, labels in stream.epoch(0):
        with runtime.autocast():
            logp = predict(model, images)
        logp = logp.float()
        sums[0] += F.nll_loss(logp, labels, reduction="sum").double()
        sums[1:3] += topk_correct(logp, labels, (1, 5))
        sums[3] += labels.shape[0]
        confusion += confusion_matrix(logp.argmax(1), labels, num_classes)
    loss, top1, top5, count = distributed.all_reduce_sum(sums, runtime.dist).tolist()
    confusion = distributed.all_reduce_sum(confusion, runtime.dist).cpu()
    count = max(count, 1)
    return {
        "loss": loss / count,
        "top1": top1 / count,
        "top5": top5 / count,
        "error1": 1 - top1 / count,
        "error5": 1 - top5 / count,
        "count": int(count),
        "per_class": per_class_accuracy(confusion),
        "confusion": confusion,
        "seconds": time.perf_counter() - tic,
    }

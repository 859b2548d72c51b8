"""Training throughput of LeNet-5 on Fashion-MNIST at batch 128 on the CPU: the engine's path
against a plain PyTorch DataLoader + torchvision-transforms loop over the same model.

Both train the same network with the same optimizer on the same 12,800 training images (100
steps of 128) with the same augmentation (random 28 x 28 crop of the image padded by 2, horizontal
flip, normalisation):

- engine: ``cnnzoo.data.BatchStream`` (uint8 images in memory, augmented per batch with tensor
  operations) driven by ``cnnzoo.train.engine.train_one_epoch`` (loss and accuracy sums, the NaN
  check, the schedule step), exactly as ``cnnzoo train`` runs;
- baseline: a map-style ``Dataset`` that returns ``transform(PIL image)`` per sample, as
  ``torchvision.datasets.FashionMNIST`` does, with ``RandomCrop(28, padding=2)``,
  ``RandomHorizontalFlip()``, ``ToTensor()``, ``Normalize``, in a ``DataLoader`` (shuffled), and
  the usual ``zero_grad / forward / backward / step`` loop. Run with 0 and with 2 loader workers
  (persistent, so their start-up is not counted); the ratio is taken against the faster.

The variants take turns, one warm-up round is discarded, then ``REPEATS`` rounds are timed; the
table gives the median and the spread (max - min) of images per second.

Run: .venv/bin/python benchmarks/train_throughput.py
(writes benchmarks/results/train_throughput.md and .json)
"""

from __future__ import annotations

import json
import sys
import time

import torch
from common import ROOT, median_spread, write_report
from PIL import Image
from torch import nn
from torchvision import transforms

from cnnzoo import create_model
from cnnzoo.data import DEFAULT_AUGMENT, BatchStream, load_dataset
from cnnzoo.distributed import Runtime
from cnnzoo.env import environment
from cnnzoo.files import write_text_atomic
from cnnzoo.train.engine import Trainer, train_one_epoch

BATCH = 128  # images per training step
STEPS = 100  # per timed round: 12,800 images
REPEATS = 7  # timed rounds per variant (after one discarded warm-up round)
WORKERS = (0, 2)  # DataLoader workers of the baseline variants
MIN_RATIO = 1.5  # exit 1 when the engine is less than this many times the best baseline


class PilFashion(torch.utils.data.Dataset):
    """Samples as torchvision's FashionMNIST returns them: a PIL image through ``transform``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        image = Image.fromarray(self.images[i, 0].numpy(), mode="L")
        return self.transform(image), int(self.labels[i])


def new_model_and_optimizer():
    torch.manual_seed(0)
    model = create_model("lenet5", num_classes=10, in_chans=1)
    return model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)


def engine_round(split, info, model, optimizer, epoch: int) -> float:
    """Images per second of one engine epoch over ``split``."""
    stream = BatchStream(
        split,
        info,
        batch_size=BATCH,
        train=True,
        seed=0,
        device="cpu",
        augment=DEFAULT_AUGMENT["fashion-mnist"],
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    start = time.perf_counter()
    criterion = nn.CrossEntropyLoss()
    trainer = Trainer(model, stream, optimizer, scheduler, scaler, criterion, Runtime(), 1)
    stats = train_one_epoch(trainer, epoch)
    return stats["images"] / (time.perf_counter() - start)


def baseline_round(loader, model, optimizer) -> float:
    """Images per second of one plain DataLoader loop."""
    criterion = nn.CrossEntropyLoss()
    model.train()
    images = 0
    start = time.perf_counter()
    for x, y in loader:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        images += len(y)
    return images / (time.perf_counter() - start)


def main() -> int:
    data = load_dataset("fashion-mnist", subset=BATCH * STEPS)
    info, split = data.info, data.train
    pad = DEFAULT_AUGMENT["fashion-mnist"].random_crop_padding
    transform = transforms.Compose(
        [
            transforms.RandomCrop(info.image_size, padding=pad),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(info.mean, info.std),
        ]
    )
    dataset = PilFashion(split.images, split.labels, transform)
    loaders = {
        f"DataLoader + torchvision transforms, {w} workers": torch.utils.data.DataLoader(
            dataset,
            batch_size=BATCH,
            shuffle=True,
            num_workers=w,
            drop_last=True,
            persistent_workers=w > 0,
        )
        for w in WORKERS
    }
    engine_name = "cnnzoo engine (BatchStream + train_one_epoch)"
    models = {name: new_model_and_optimizer() for name in [engine_name, *loaders]}
    speeds: dict[str, list[float]] = {name: [] for name in models}
    for round_ in range(REPEATS + 1):  # round 0 is the warm-up
        for name, (model, optimizer) in models.items():
            if name == engine_name:
                speed = engine_round(split, info, model, optimizer, epoch=round_)
            else:
                speed = baseline_round(loaders[name], model, optimizer)
            if round_:
                speeds[name].append(speed)
            print(
                f"round {round_} {'(warm-up) ' if not round_ else ''}{name}: {speed:,.0f} img/s",
                flush=True,
            )

    summary = {name: median_spread(values) for name, values in speeds.items()}
    best_baseline = max(loaders, key=lambda name: summary[name][0])
    ratio = summary[engine_name][0] / summary[best_baseline][0]
    env = environment("cpu")
    command = "OMP_NUM_THREADS=2 .venv/bin/python benchmarks/train_throughput.py"
    result = {
        "command": command,
        "environment": env,
        "batch_size": BATCH,
        "steps_per_round": STEPS,
        "repeats": REPEATS,
        "images_per_s": speeds,
        "median": {k: v[0] for k, v in summary.items()},
        "spread": {k: v[1] for k, v in summary.items()},
        "baseline": best_baseline,
        "ratio": ratio,
        "target_ratio": MIN_RATIO,
        "passed": ratio >= MIN_RATIO,
    }
    lines = [
        "# Training throughput: LeNet-5, Fashion-MNIST, batch 128, CPU",
        "",
        f"Command: `{command}`",
        "",
        "Environment: " + ", ".join(f"{k} {v}" for k, v in env.items()),
        "",
        f"{STEPS} steps of {BATCH} images per round, variants in turn, 1 warm-up round discarded, "
        f"{REPEATS} timed rounds; images per second.",
        "",
        "| training loop | median img/s | spread (max - min) | vs. best baseline |",
        "|---|---:|---:|---:|",
        *(
            f"| {name} | {m:,.0f} | {s:,.0f} | {m / summary[best_baseline][0]:.2f}x |"
            for name, (m, s) in summary.items()
        ),
        "",
        f"Engine / best baseline: **{ratio:.2f}x**.",
    ]
    out = ROOT / "benchmarks" / "results" / "train_throughput"
    write_report(out.with_suffix(".md"), "\n".join(lines) + "\n")
    write_text_atomic(out.with_suffix(".json"), json.dumps(result, indent=2) + "\n")
    print("\n".join(lines))
    return 0 if ratio >= MIN_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())

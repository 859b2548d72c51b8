"""A run's final weights three ways, on the whole test split: the trained weights, the averaged
copy (``--ema-decay``) with its averaged batch-norm statistics (what the run reports), and the
averaged copy with its statistics refitted over N training batches (what ``--ema-bn-batches N``
tests: the engine's own :func:`cnnzoo.train.engine.refit_batch_norm` on the first N batches of
the training stream's epoch 0).

Reads the run's ``last.pt`` (``model``: the average, ``training_model``: the trained weights) and
rebuilds its data, precision and test-time augmentation from the configuration saved in it.
Prints one line per evaluation; the figures are quoted in
``benchmarks/results/fashion_mnist_speedrun_exploration.md``.

Run: .venv/bin/python benchmarks/average_check.py RUN_DIR [N ...]   (default N: 40)
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import time

from cnnzoo.checkpoint import load_checkpoint
from cnnzoo.data.registry import load_dataset
from cnnzoo.distributed import DistInfo
from cnnzoo.evaluate.loop import evaluate
from cnnzoo.train.build import assemble
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.engine import refit_batch_norm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", help="a cnnzoo train run folder with an averaged copy")
    parser.add_argument("batches", nargs="*", type=int, default=[40], help="refit batch counts")
    args = parser.parse_args()
    last = load_checkpoint(f"{args.run}/last.pt")
    if "training_model" not in last:
        raise SystemExit(f"{args.run}/last.pt holds no averaged copy (a run without --ema-decay)")
    config = dataclasses.replace(TrainConfig(**last["config"]), compile=False, resume=False)
    data = load_dataset(config.dataset, data_dir=config.data_dir)
    job = assemble(config, data, DistInfo())
    job.model.load_state_dict(last["training_model"])
    job.evaluated.load_state_dict(last["model"])

    def test(net, what: str) -> None:
        tic = time.perf_counter()
        result = evaluate(
            net, job.test_stream, job.runtime, num_classes=job.info.num_classes, tta=config.tta
        )
        print(
            f"{what}: test top-1 {result['top1']:.2%} on {result['count']:,} images "
            f"(tta {config.tta}, {config.precision}; {time.perf_counter() - tic:.0f} s)"
        )

    print(f"{args.run}: epoch {last['epoch']} of {config.epochs}, {config.model}")
    test(job.model, "trained weights")
    test(job.evaluated, "averaged weights, averaged batch-norm statistics")
    for count in args.batches:
        batches = itertools.islice(job.train_stream.epoch(0), count)
        tic = time.perf_counter()
        fitted = refit_batch_norm(job.evaluated, batches, job.runtime)
        seconds = time.perf_counter() - tic
        test(
            fitted, f"averaged weights, statistics refitted over {count} batches ({seconds:.0f} s)"
        )


if __name__ == "__main__":
    main()

"""The training engine: one epoch of training, one evaluation, and the run that strings them.

:func:`train_one_epoch` and :func:`evaluate` take everything they use as arguments and return a
dict; :func:`run` builds the pieces (:func:`cnnzoo.train.build.prepare`), resumes them if asked
(:mod:`cnnzoo.train.resume`) and loops over the epochs. A run is reproducible to the bit on CPU
with ``deterministic``: the batches are a pure function of ``(seed, epoch, step)``
(``cnnzoo.data.BatchStream``), the model's training progress (``set_progress``) one of
``(epoch, step)``, and a checkpoint holds every other piece of state (weights, optimizer,
schedule, gradient scaler, random generators and the running sums of the epoch in progress), so a
run resumed from a mid-epoch ``last.pt`` ends with the same weights as one never interrupted.

SIGINT and SIGTERM stop a run after the step in progress with a checkpoint of it
(:mod:`cnnzoo.interrupt`).
"""

from __future__ import annotations

import contextlib
import copy
import gc
import itertools
import math
import signal
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TextIO

import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo import distributed
from cnnzoo.distributed import Runtime
from cnnzoo.evaluate.loop import evaluate
from cnnzoo.interrupt import (
    Interrupted,
    StopFlag,
    before_training,
    catch_stop_signals,
    signal_name,
)
from cnnzoo.models.base import AuxOutputs, ZooModel, main_logits
from cnnzoo.train.build import Job, prepare
from cnnzoo.train.config import TrainConfig
from cnnzoo.train.progress import SilentReporter, make_reporter, train_line
from cnnzoo.train.resume import ResumePoint, resume_run
from cnnzoo.train.rundir import LAST, RunFiles


class TrainingDiverged(ValueError):
    """The training loss became NaN or infinite; the run stops, keeping its last good checkpoint."""


# ---------------------------------------------------------------------------------- one epoch


@dataclass(frozen=True)
class Trainer:
    """What a training step uses.

    Args:
        net: the network (possibly DDP- or compile-wrapped), trained in place.
        stream: ``BatchStream`` or ``LoaderStream`` (``num_batches()``, ``epoch(e, start_step)``).
        optimizer, scheduler, scaler: stepped once per batch (the scaler is a no-op unless fp16).
        criterion: the training loss of the main logits (and, weighted, of auxiliary logits).
        runtime: device, autocast dtype, rank.
        epochs: the run's number of epochs (for the progress fraction and display).
        model: the zoo model inside ``net``'s wrappers (default: ``net``); before every step its
            ``set_progress`` gets the fraction of the run done,
            ``(epoch * steps + step) / (epochs * steps)`` with ``step`` counted from 0.
        aux_weight: weight of the auxiliary classifiers' losses.
        average: a moving average of ``model`` (``AveragedModel``), updated after every step.
        small: ``(side, epochs)``: the batches are shrunk to ``side`` pixels for the first
            ``epochs`` epochs (progressive resizing; side 0: never).
    """

    net: nn.Module
    stream: object
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    runtime: Runtime
    epochs: int
    model: ZooModel | None = None
    aux_weight: float = 0.0
    average: nn.Module | None = None
    small: tuple[int, float] = (0, 0.0)


def shrink(images: torch.Tensor, side: int) -> torch.Tensor:
    """A batch resized to ``side`` pixels a side (bilinear, antialiased), in its memory format."""
    fmt = torch.channels_last if images.is_contiguous(memory_format=torch.channels_last) else None
    out = F.interpolate(images, size=(side, side), mode="bilinear", antialias=True)
    return out if fmt is None else out.contiguous(memory_format=fmt)


def trainer_of(job: Job) -> Trainer:
    """What a training step of ``job`` uses."""
    return Trainer(
        net=job.train_net,
        stream=job.train_stream,
        optimizer=job.optimizer,
        scheduler=job.scheduler,
        scaler=job.scaler,
        criterion=job.criterion,
        runtime=job.runtime,
        epochs=job.config.epochs,
        model=job.model,
        aux_weight=job.recipe.aux_loss_weight,
        average=job.average,
        small=(job.config.small_size, job.config.small_epochs),
    )


@dataclass(frozen=True)
class Hooks:
    """What an epoch reports and asks while it runs.

    Args:
        reporter: progress display (see :mod:`cnnzoo.train.progress`).
        checkpoint_every: call ``on_checkpoint`` after every this many steps (0: never); not after
            the last step of the epoch, which the caller checkpoints after evaluating.
        on_checkpoint: ``on_checkpoint(step, partial)``, ``partial`` as :func:`train_one_epoch`'s
            argument; every rank calls it at the same step.
        should_stop: polled after each step (with several processes, at the loss checks, every
            ``runtime.check_every`` steps, so that all ranks agree); when it answers true before
            the epoch's last step, the epoch ends there, after ``on_checkpoint`` of that step.
        on_step: ``on_step(step, loss, lr)`` at every loss check (every
            ``runtime.check_every`` steps): this rank's loss of that step and its learning rate
            (the run's TensorBoard scalars).
    """

    reporter: object = None
    checkpoint_every: int = 0
    on_checkpoint: Callable[[int, dict], None] | None = None
    should_stop: Callable[[], bool] | None = None
    on_step: Callable[[int, float, float], None] | None = None


def train_one_epoch(
    trainer: Trainer,
    epoch: int,
    *,
    start_step: int = 0,
    partial: dict | None = None,
    hooks: Hooks = Hooks(),
) -> dict:
    """Train ``trainer.net`` for one epoch of ``trainer.stream``, from ``start_step`` on.

    Args:
        trainer: the network, its data, optimisation and runtime (:class:`Trainer`).
        epoch: the epoch index (from 0); with the stream's seed it fixes the batches.
        start_step: steps of this epoch already done (resume in mid-epoch).
        partial: the running sums saved with those steps, over all ranks (``{"sums": [...],
            "seconds": s}``); rank 0 carries them on.
        hooks: progress, checkpoints, stop requests and per-step scalars (:class:`Hooks`).

    Returns:
        ``loss`` (mean training loss of the main logits), ``top1``, ``images``, ``seconds``,
        ``images_per_s``, ``lr`` (of the last step), over all ranks; ``steps`` (the epoch's
        steps done, all of them unless stopped) and ``stopped``.

    Raises:
        TrainingDiverged: the loss became NaN or infinite.
    """
    model, stream, optimizer = trainer.net, trainer.stream, trainer.optimizer
    scheduler, scaler, criterion = trainer.scheduler, trainer.scaler, trainer.criterion
    runtime, epochs, aux_weight = trainer.runtime, trainer.epochs, trainer.aux_weight
    small_side, small_epochs = trainer.small
    base_model = model if trainer.model is None else trainer.model
    reporter = hooks.reporter or SilentReporter()
    checkpoint_every, on_checkpoint = hooks.checkpoint_every, hooks.on_checkpoint
    should_stop, on_step = hooks.should_stop, hooks.on_step
    dist = runtime.dist
    model.train()
    total = stream.num_batches()
    sums = torch.zeros(3, dtype=torch.float64, device=runtime.device)  # loss x images, correct, n
    if partial and dist.is_main:
        sums += torch.tensor(partial["sums"], dtype=torch.float64, device=runtime.device)
    seconds = partial["seconds"] if partial else 0.0
    lr = optimizer.param_groups[0]["lr"]
    reporter.epoch_start(epoch, epochs, total, start_step)
    tic = time.perf_counter()
    step, stop = start_step, False
    for step, (images, labels) in enumerate(stream.epoch(epoch, start_step), start=start_step + 1):
        base_model.set_progress((epoch * total + step - 1) / (epochs * total))
        if small_side and epoch + (step - 1) / total < small_epochs:
            images = shrink(images, small_side)
        with runtime.autocast():
            output = model(images)  # AuxOutputs in training mode for networks with aux heads
            logits = main_logits(output)
            aux = output.aux_logits if isinstance(output, AuxOutputs) else ()
            loss = criterion(logits, labels)
            objective = loss
            if aux and aux_weight:
                objective = loss + aux_weight * sum(criterion(a, labels) for a in aux)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(objective).backward()
        scaler.step(optimizer)
        scaler.update()
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        if trainer.average is not None:
            trainer.average.update_parameters(base_model)
        sums[0] += loss.detach().double() * labels.shape[0]
        sums[1] += (logits.detach().argmax(1) == labels).sum()
        sums[2] += labels.shape[0]
        wants_stop = should_stop is not None and should_stop()
        stop = wants_stop and not dist.distributed
        if step % runtime.check_every == 0 or step == total:
            elapsed = seconds + time.perf_counter() - tic
            loss_sum, correct, count = sums.tolist()
            finite, carry_on = distributed.all_true_each(
                (math.isfinite(loss_sum), not wants_stop), dist
            )
            if not finite:
                raise TrainingDiverged(
                    f"the training loss became {loss_sum / count} at epoch {epoch + 1}, "
                    f"step {step} (lr {lr:.3g})"
                )
            stop = not carry_on
            speed = count * dist.world_size / elapsed
            reporter.step(step, loss_sum / count, correct / count, speed)
            if on_step is not None:
                on_step(step, float(loss.detach()), lr)
        stop = stop and step < total  # a stop at the last step waits for the epoch's end
        scheduled = checkpoint_every and step % checkpoint_every == 0 and step < total
        if on_checkpoint and (stop or scheduled):
            elapsed = seconds + time.perf_counter() - tic
            sums_all = distributed.all_reduce_sum(sums, dist).tolist()
            on_checkpoint(step, {"sums": sums_all, "seconds": elapsed})
        if stop:
            break
    loss_sum, correct, count = distributed.all_reduce_sum(sums, dist).tolist()
    seconds += time.perf_counter() - tic
    if not math.isfinite(loss_sum):
        raise TrainingDiverged(f"the training loss became {loss_sum} in epoch {epoch + 1}")
    return {
        "loss": loss_sum / max(count, 1),
        "top1": correct / max(count, 1),
        "images": int(count),
        "seconds": seconds,
        "images_per_s": count / seconds if seconds > 0 else 0.0,
        "lr": lr,
        "steps": step if stop else total,
        "stopped": stop,
    }


# ------------------------------------------------------------------------------------- the run


def refit_batch_norm(
    model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], runtime: Runtime
) -> nn.Module:
    """A copy of ``model`` whose batch-norm statistics are measured afresh: each running mean and
    variance becomes the plain mean, over ``batches``, of the batches' own, computed in training
    mode without gradients (under the run's autocast). ``model`` itself is untouched.

    The moving average of a run's weights needs it: an average of the batch-norm statistics of
    weights that kept changing does not describe the averaged weights.
    """
    fitted = copy.deepcopy(model)
    norms = [m for m in fitted.modules() if getattr(m, "track_running_stats", False)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a cumulative mean over the batches
    fitted.train()
    with torch.no_grad(), runtime.autocast():
        for images, _ in batches:
            fitted(images)
    return fitted.eval()


def tested_network(job: Job) -> nn.Module:
    """The network a test pass evaluates and ``best.pt`` keeps: the average with its batch-norm
    statistics refitted over the first ``--ema-bn-batches`` batches of the training stream's epoch
    0 (the same every time, so a resumed run tests the same network), else ``job.evaluated``."""
    batches = job.config.ema_bn_batches
    if job.average is None or not batches:
        return job.evaluated
    stream = itertools.islice(job.train_stream.epoch(0), batches)
    return refit_batch_norm(job.evaluated, stream, job.test_runtime)


def params_finite(model: nn.Module) -> bool:
    return all(bool(torch.isfinite(p).all()) for p in model.parameters())


def run(config: TrainConfig, *, stream: TextIO | None = None) -> dict:
    """Train ``config.model`` on ``config.dataset`` as ``config`` says (see :class:`TrainConfig`).

    SIGINT and SIGTERM are caught while it runs (the previous handlers are put back when it
    returns): the run stops after the step in progress, saves it in ``last.pt`` and raises
    :class:`~cnnzoo.interrupt.Interrupted` (see :mod:`cnnzoo.interrupt`).

    Args:
        config: the configuration; ``None`` fields come from the model's recipe.
        stream: where progress and results are printed (default: standard output).

    Returns:
        The last epoch's metrics row, with ``best_top1``, ``run_dir``, ``seconds``, ``config``
        (the resolved configuration) and ``test_images`` (the test top-1's count: the whole
        test split, whatever ``subset``).

    Raises:
        ValueError: bad options, an unusable dataset, model or run folder, a checkpoint that
            cannot be written, or a diverged run (:class:`TrainingDiverged`, whose message names
            the last good checkpoint).
        Interrupted: SIGINT or SIGTERM; ``last.pt`` holds the step reached, if any.
    """
    started = time.perf_counter()
    with catch_stop_signals(immediate=before_training) as stop:
        dist = distributed.setup()
        was_deterministic = torch.are_deterministic_algorithms_enabled()
        try:
            history, best, facts = train_job(config, dist, stream, stop)
        finally:
            if torch.are_deterministic_algorithms_enabled() != was_deterministic:
                torch.use_deterministic_algorithms(was_deterministic)
            # The job (and its DDP reducer) is gone by now: a process group destroyed while a DDP
            # model still holds gloo work can abort the process at exit.
            gc.collect()
            distributed.cleanup(dist)
    final, seconds = history[-1], time.perf_counter() - started
    if dist.is_main:
        print(
            f"{facts['model']} on {facts['dataset']}: final test top-1 {final['test_top1']:.2%} "
            f"on the {facts['test_images']:,} test images (error {1 - final['test_top1']:.2%}), "
            f"top-5 {final['test_top5']:.2%}; best top-1 {best:.2%}; {final['epoch']} epochs, "
            f"{seconds:.1f} s in this process; run folder {facts['run_dir']}",
            file=stream or sys.stdout,
            flush=True,
        )
    return {
        **final,
        "best_top1": best,
        "run_dir": facts["run_dir"],
        "seconds": seconds,
        "config": facts["config"],
        "test_images": facts["test_images"],
    }


def train_job(
    config: TrainConfig, dist: distributed.DistInfo, stream: TextIO | None, stop: StopFlag
) -> tuple[list[dict], float, dict]:
    """Prepare the job, resume it if asked, and fit it; the job is freed when this returns.

    Returns:
        The metrics rows, the best test top-1, and plain facts of the run (model, dataset,
        run folder, resolved configuration).
    """
    with contextlib.ExitStack() as hold:  # the run folder's lock
        job = prepare(config, dist, hold)
        start = resume_run(job) if job.config.resume else ResumePoint()
        stop.defer()  # from here on a signal stops the run with a checkpoint, not at once
        files = RunFiles(job.run_dir, dist, job.meta)
        reporter = make_reporter(dist.is_main, stream)
        try:
            files.open(purge_step=start.global_step(job.steps) if job.config.resume else None)
            history, best = fit(job, start, files, reporter, stop)
        finally:
            reporter.close()
            files.close()
    facts = {
        "model": job.config.model,
        "dataset": job.info.name,
        "run_dir": str(job.run_dir),
        "config": job.meta["config"],
        "test_images": job.sizes[1],
    }
    return history, best, facts


def fit(
    job: Job, start: ResumePoint, files: RunFiles, reporter, stop: StopFlag
) -> tuple[list[dict], float]:
    """The epochs of a run from ``start`` on: train, evaluate, write the files.

    Args:
        job: the run's pieces.
        start: where it starts (a fresh run's, or the one ``last.pt`` gave).
        files: the run folder's files, open.
        reporter: the progress display.
        stop: set by SIGINT / SIGTERM; the run then stops after the step in progress (or at the
            end of the epoch, when the signal came during its last step or its evaluation),
            with ``last.pt`` written.

    Returns:
        The metrics rows of all epochs and the best test top-1.

    Raises:
        TrainingDiverged: a non-finite loss or weights.
        Interrupted: a stop was requested (on any rank); ``last.pt`` holds where it stopped.
    """
    config, dist, steps = job.config, job.runtime.dist, job.steps
    history, best = list(start.history), start.best_top1
    files.write_metrics(history)
    reporter.message(
        f"{'resuming' if config.resume else 'training'} {config.model} on {job.info.name} "
        f"({job.sizes[0]:,} train / {job.sizes[1]:,} test images, {job.size}x{job.size}, "
        f"{dist.world_size} process(es) on {dist.device.type}) -> {job.run_dir}"
    )

    def save_last(epoch: int, step: int, partial: dict | None) -> None:
        progress = {
            "epoch": epoch,
            "step": step,
            "partial": partial,
            "history": history,
            "best_top1": best,
            "global_step": epoch * steps + step,
        }
        files.save_last(
            job.model,
            job.optimizer,
            job.scheduler,
            job.scaler,
            progress=progress,
            average=job.average,
        )

    def checkpoint(epoch: int, step: int, partial: dict) -> None:
        good = math.isfinite(partial["sums"][0]) and params_finite(job.model)
        if not distributed.all_true(good, dist):  # every rank stops, or none
            raise TrainingDiverged(f"non-finite loss or weights at epoch {epoch + 1}, step {step}")
        save_last(epoch, step, partial)

    def interrupted(where: str) -> Interrupted:
        signum = stop.signum or signal.SIGTERM  # no signal here: another rank's stopped this one
        return Interrupted(
            signum,
            f"{signal_name(signum)} {where} and saved {job.run_dir / LAST}",
            run_dir=job.run_dir,
            resumable=True,
        )

    step, partial = start.step, start.partial
    try:
        for epoch in range(start.epoch, config.epochs):
            hooks = Hooks(
                reporter=reporter,
                checkpoint_every=config.checkpoint_every,
                on_checkpoint=lambda done, part, epoch=epoch: checkpoint(epoch, done, part),
                should_stop=lambda: stop.requested,
                on_step=lambda done, loss, lr, epoch=epoch: files.log_step(
                    epoch * steps + done, loss, lr
                ),
            )
            stats = train_one_epoch(
                trainer_of(job), epoch, start_step=step, partial=partial, hooks=hooks
            )
            if stats["stopped"]:
                raise interrupted(
                    f"at epoch {epoch + 1}/{config.epochs}, step "
                    f"{stats['steps']}/{steps}: stopped after that step"
                )
            step, partial = 0, None
            if not params_finite(job.model):
                raise TrainingDiverged(f"the weights became non-finite in epoch {epoch + 1}")
            every = config.eval_every
            if epoch + 1 < config.epochs and not (every and (epoch + 1) % every == 0):
                save_last(epoch + 1, 0, None)
                reporter.message(train_line(epoch + 1, config.epochs, stats))
                if not distributed.all_true(not stop.requested, dist):
                    raise interrupted(f"in epoch {epoch + 1}/{config.epochs}: stopped at its end")
                continue
            tic = time.perf_counter()
            tested = tested_network(job)
            refit_s = time.perf_counter() - tic
            distributed.broadcast_buffers(tested, dist)  # rank 0's batch-norm statistics
            test = evaluate(
                tested,
                job.test_stream,
                job.test_runtime,
                num_classes=job.info.num_classes,
                tta=config.tta,
            )
            row = {
                "epoch": epoch + 1,
                "train_loss": stats["loss"],
                "train_top1": stats["top1"],
                "test_loss": test["loss"],
                "test_top1": test["top1"],
                "test_top5": test["top5"],
                "lr": stats["lr"],
                "seconds": stats["seconds"] + refit_s + test["seconds"],
                "images_per_s": stats["images_per_s"],
            }
            history.append(row)
            files.write_metrics(history, global_step=(epoch + 1) * steps)
            if row["test_top1"] > best:
                best = row["test_top1"]
                files.save_best(tested, epoch=epoch + 1, row=row)
            save_last(epoch + 1, 0, None)
            reporter.epoch_end(row)
            if epoch + 1 < config.epochs and not distributed.all_true(not stop.requested, dist):
                raise interrupted(f"in epoch {epoch + 1}/{config.epochs}: stopped at its end")
    except TrainingDiverged as err:
        last = job.run_dir / LAST
        kept = f"the last good checkpoint is {last}" if last.exists() else "no checkpoint exists"
        raise TrainingDiverged(
            f"{err}; the run stops and {kept}. Try a lower --lr (now {config.lr}) or a longer "
            "--warmup-epochs"
        ) from None
    return history, best

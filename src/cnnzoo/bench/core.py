"""``cnnzoo bench``: latency of the zoo's networks under several runtimes and precisions.

For each model, every requested runtime x precision x batch size is prepared first (the fold,
compile or export time is its ``prepare_s``), and its output on a fixed input is compared with fp32
eager's. A variant that is not exact is then judged (:func:`~cnnzoo.bench.stats.verdict`): for a
cnnzoo checkpoint, by how often its top-1 is fp32's on the test images of the checkpoint's dataset
(int8 calibrated on its training images); one that agrees on fewer than
:data:`~cnnzoo.export.judge.MIN_AGREEMENT` is ``disagrees`` and is not timed. int8 of a plain MODEL
(random weights, calibrated on random inputs) cannot be judged: it is timed as ``unjudged``. Only
``ok`` variants can be the fastest. Then all the variants are measured together in interleaved
rounds (round ``r`` runs every variant once, in an order rotated by ``r``), so a change of machine
load hits every variant alike; the warm-up rounds are discarded, and each timed sample loops
enough iterations to last about 50 ms. Speed is a ratio over fp32 eager at the same model, batch
size and mode, measured in the same rounds.

Note for a busy machine: OpenMP threads spin while they wait by default; on a loaded 2-core
machine that makes two threads 3-6x slower. Set ``OMP_WAIT_POLICY=PASSIVE`` there.
"""

from __future__ import annotations

import contextlib
import os
import resource
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from cnnzoo.bench.runtimes import (
    MODES,
    PRECISIONS,
    RUNTIMES,
    Skip,
    Variant,
    check_runtime_packages,
)
from cnnzoo.bench.stats import (
    MIN_ROUNDS,
    bf16_emulated,
    int8_refusal,
    is_exact,
    iterations_per_sample,
    latency_stats,
    round_orders,
    speedup,
    summarize,
    verdict,
)
from cnnzoo.env import environment, package_version
from cnnzoo.export.calibration import CALIBRATION_IMAGES
from cnnzoo.export.judge import EVAL_BATCH, agreement, eval_batches, output_difference, top1
from cnnzoo.options import (
    comma_names,
    config_from_args,
    input_size,
    names_of,
    option,
    positive_ints,
)
from cnnzoo.progress import Progress, silent
from cnnzoo.source import Logits, Source, open_source, weights_option

SCHEMA = "cnnzoo-bench"
VERSION = 1
DEVICES = ("cpu", "cuda")
ALL_PRECISIONS, CUDA_PRECISION = PRECISIONS[:3], PRECISIONS[3]  # "all": fp16 is for CUDA only
MIN_WARMUP = 3
MIN_SAMPLE_S = 0.05  # a timed sample loops until it lasts this long
JUDGE_IMAGES = 10_000  # the whole test split of the MNIST family and CIFAR; a cap for larger ones
EXPORT_PACKAGES = ("onnx", "onnxscript", "onnxruntime", "executorch")
RANDOM_INT8_NOTE = (
    "int8 calibrated on random inputs (a plain MODEL): its accuracy is not meaningful"
)
INT8_RUNTIMES = ("compile", "onnxruntime", "executorch")  # those calibrated on batches


@dataclass(frozen=True)
class BenchConfig:
    """What ``cnnzoo bench`` measures; one field per flag.

    Args:
        models: model names or cnnzoo checkpoint paths.
        runtime: runtime names (keys of :data:`~cnnzoo.bench.runtimes.RUNTIMES`).
        precision: fp32, bf16, int8 (fp16 on CUDA).
        batch_size: batch sizes.
        input: ``(C, H, W)`` for every model, or ``None`` for each model's standard input.
        threads: torch intra-op threads and ONNX Runtime intra_op threads (``None``: as is).
        device: ``cpu`` or ``cuda``.
        mode: ``infer`` (latency) or ``train`` (one SGD step).
        rounds: timed interleaved rounds.
        warmup: discarded warm-up rounds (at least 3).
        format: ``table``, ``json`` or ``csv``.
        out: write the output to this file (atomically) instead of stdout.
        judge_images: a checkpoint's test images each non-exact variant is judged on.

    Raises:
        ValueError: one line for each kind of bad flag (unknown device or mode, missing package,
            CUDA without a GPU, ...).
    """

    models: tuple[str, ...] = option(
        help="model names (random init) or cnnzoo checkpoints",
        nargs="+",
        metavar="MODEL|CHECKPOINT",
    )
    weights: str | None = weights_option()
    runtime: tuple[str, ...] = option(
        ("eager",),
        help=f"comma-separated: {','.join(RUNTIMES)} or all",
        parse=comma_names(RUNTIMES, "runtime"),
    )
    precision: tuple[str, ...] = option(
        ("fp32",),
        help=f"comma-separated: {','.join(ALL_PRECISIONS)} ({CUDA_PRECISION} on CUDA) or all",
        parse=comma_names(PRECISIONS, "precision", every=ALL_PRECISIONS),
    )
    batch_size: tuple[int, ...] = option(
        (1,),
        help="comma-separated",
        parse=lambda text: tuple(dict.fromkeys(positive_ints(text, "--batch-size"))),
    )
    input: tuple[int, int, int] | None = option(
        None, help="", metavar="C,H,W", parse=input_size, default_help="each model's standard input"
    )
    threads: int | None = option(
        None, help="torch and ONNX Runtime intra-op threads", default_help="as they are"
    )
    device: str = option("cpu", help="", choices=DEVICES, checked_by="config")
    mode: str = option("infer", help="latency, or one SGD step", choices=MODES, checked_by="config")
    rounds: int = option(10, help="timed rounds")
    warmup: int = option(MIN_WARMUP, help=f"discarded warm-up rounds, >= {MIN_WARMUP}")
    format: str = option(
        "table", help="", choices="cnnzoo.bench.render:RENDERERS", checked_by="config"
    )
    out: str | None = option(
        None, help="write the output to this file (atomically)", default_help="standard output"
    )
    judge_images: int = JUDGE_IMAGES

    def __post_init__(self) -> None:
        if self.weights is not None and len(self.models) != 1:
            raise ValueError(f"--weights is for one MODEL, got {len(self.models)}")
        for name in ("device", "mode", "format"):
            known, value = names_of(BenchConfig, name), getattr(self, name)
            if value not in known:
                raise ValueError(f"unknown {name} {value!r}; known: {', '.join(known)}")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                "--device cuda: CUDA is not available (torch.cuda.is_available() is False)"
            )
        if self.rounds < 1 or self.warmup < MIN_WARMUP:
            raise ValueError(
                f"--rounds must be >= 1 (>= {MIN_ROUNDS} for numbers to quote) and "
                f"--warmup >= {MIN_WARMUP}, got {self.rounds} and {self.warmup}"
            )
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"--threads must be positive, got {self.threads}")
        if self.judge_images < 1:
            raise ValueError(f"judge_images must be positive, got {self.judge_images}")
        if not self.models:
            raise ValueError("give at least one MODEL or CHECKPOINT")
        check_runtime_packages(self.runtime)


def make_config(models: Sequence[str], **flags) -> BenchConfig:
    """The checked :class:`BenchConfig` of the command-line flags, as text
    (``runtime="eager,fold"``, ``batch_size="1,8"``) or as values; a flag not given keeps its
    default.

    Raises:
        ValueError: one line for each kind of bad flag (see :class:`BenchConfig`).
    """
    return config_from_args(BenchConfig, flags, models=tuple(models))


def calibration_for(subject: Source, batch: int) -> tuple[list[torch.Tensor], str | None]:
    """int8 calibration batches of ``batch`` images: the checkpoint's training images (normalised
    as in its training), or fixed random inputs for a plain MODEL (with the note that says so)."""
    record = subject.own_data
    if record is not None:
        from cnnzoo.export.calibration import calibration_batches

        batches = calibration_batches(
            record["name"],
            data_dir=record.get("data_dir"),
            input_size=subject.input[-1],
            batch_size=batch,
            mean=tuple(record["mean"]),
            std=tuple(record["std"]),
            num_images=CALIBRATION_IMAGES,
        )
        return [b for b in batches if b.shape[0] == batch] or batches, None
    generator = torch.Generator().manual_seed(1)
    count = max(1, CALIBRATION_IMAGES // batch)
    return [torch.randn(batch, *subject.input, generator=generator) for _ in range(count)], (
        RANDOM_INT8_NOTE
    )


def fixed_input(batch: int, subject: Source, device: torch.device) -> torch.Tensor:
    """The batch every variant is timed and compared on: a checkpoint's first test images (an
    int8 network's ranges are calibrated for real images, noise lies outside them), else seeded
    random inputs."""
    if subject.own_data is not None:
        _, batches = eval_batches(
            subject.own_data,
            data_dir=None,
            input_size=subject.input[-1],
            batch_size=batch,
            limit=batch,
        )
        images = next(batches)[0]
        if len(images) == batch:
            return images.to(device)
    generator = torch.Generator().manual_seed(0)
    return torch.randn(batch, *subject.input, generator=generator).to(device)


def peak_rss_mib() -> float:
    """This process's peak resident memory so far (``ru_maxrss``, KiB on Linux), in MiB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synchronizer(device: torch.device) -> Callable[[], None]:
    """``torch.cuda.synchronize`` on CUDA, nothing on the CPU."""
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def timed(run, x: torch.Tensor, iterations: int, sync: Callable[[], None]) -> float:
    """Seconds per iteration of ``iterations`` calls of ``run(x)``, synchronised."""
    sync()
    start = time.perf_counter()
    for _ in range(iterations):
        run(x)
    sync()
    return (time.perf_counter() - start) / iterations


def one_line(err: BaseException) -> str:
    """An exception as one line: its type and first message line."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0] if text else ''}"[:300]


def base_record(
    subject: Source,
    runtime: str,
    precision: str,
    batch: int,
    config: BenchConfig,
    cpu_flags: Sequence[str],
) -> dict:
    """A result record with every schema field, not yet measured."""
    return {
        "model": subject.label,
        "runtime": runtime,
        "precision": precision,
        "batch_size": batch,
        "input": list(subject.input),
        "mode": config.mode,
        "status": "skipped",
        "reason": None,
        "note": None,
        "prepare_s": None,
        "latency_ms": None,
        "images_per_s": None,
        "peak_memory_mib": None,
        "max_abs_diff": None,
        "max_rel_diff": None,
        "exact": None,
        "agreement": None,
        "top1": None,
        "top1_fp32": None,
        "judged_images": None,
        "speedup": None,
        "emulated": bf16_emulated(precision, config.device, cpu_flags),
        "iterations_per_sample": None,
    }


def variant_keys(config: BenchConfig) -> list[tuple[int, str, str]]:
    """``(batch, runtime, precision)`` of each variant; the fp32 eager baseline first per batch."""
    keys = []
    for batch in config.batch_size:
        keys.append((batch, "eager", "fp32"))
        keys += [(batch, rt, p) for rt in config.runtime for p in config.precision]
    return list(dict.fromkeys(keys))


def judge_on_test_images(
    run,
    subject: Source,
    config: BenchConfig,
    batch: int,
    references: dict,
    progress: Progress,
    label: str,
) -> dict:
    """:func:`~cnnzoo.export.judge.agreement` of a variant on the checkpoint's first
    ``config.judge_images`` test images, run in pieces of its ``batch``; fp32 eager's
    predictions are computed once per batch size and kept in ``references``. ``progress`` is
    told ``judge LABEL on N test images``."""
    device = torch.device(config.device)

    def on_device(r):
        return lambda x: r(x.to(device))

    def stream():
        size = batch * max(1, EVAL_BATCH // batch)  # whole pieces of the variant's batch
        return eval_batches(
            subject.own_data,
            data_dir=None,
            input_size=subject.input[-1],
            batch_size=size,
            limit=config.judge_images,
        )

    def predictions(runs):
        total, batches = stream()
        what = f"judge {label} on {total:,} test images"
        return top1(runs, batches, batch, progress=progress, description=what, total=total)

    if batch not in references:
        (ref,), labels = predictions([on_device(Logits(subject.model.eval()))])
        references[batch] = ref, labels
    (ours,), _ = predictions([on_device(run)])
    ref, labels = references[batch]
    return agreement(ours, ref, labels)


def prepare(
    subject: Source, config: BenchConfig, tmp: Path, progress: Progress, cpu_flags: Sequence[str]
):
    """Prepare every variant of one model, compare its output with fp32 eager's and judge it
    (:func:`~cnnzoo.bench.stats.verdict`; a checkpoint's variants on its test images).

    Returns:
        ``(records, prepared)``: every result record, and ``(record, variant, input)`` of those
        to measure (``ok`` and ``unjudged``).
    """
    device = torch.device(config.device)
    model = subject.model.to(device)
    sync = synchronizer(device)
    keys = variant_keys(config)
    inputs = {b: fixed_input(b, subject, device) for b in config.batch_size}
    with torch.no_grad():
        references = {b: Logits(model.eval())(x).float() for b, x in inputs.items()}
    calibrations: dict[int, tuple] = {}
    judged_references: dict[int, tuple] = {}
    records, prepared = [], []
    for index, (batch, runtime, precision) in enumerate(keys):
        label = f"{subject.label} {runtime} {precision} b{batch}"
        progress(f"prepare {label}", index, len(keys))
        record = base_record(subject, runtime, precision, batch, config, cpu_flags)
        records.append(record)
        x = inputs[batch]
        refusal = int8_refusal(runtime, precision, references[batch].abs().max().item())
        if refusal and config.mode == "infer":
            record.update(status="refused", reason=refusal)
            continue
        calibration, note = None, None
        if precision == "int8" and runtime in INT8_RUNTIMES:
            if batch not in calibrations:
                calibrations[batch] = calibration_for(subject, batch)
            calibration, note = calibrations[batch]
        rss_before = peak_rss_mib()
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        (tmp / f"{index}").mkdir(exist_ok=True)
        try:
            made = RUNTIMES[runtime](
                model,
                x,
                precision,
                config.threads,
                tmp / f"{index}",
                mode=config.mode,
                calibration=calibration,
            )
            if isinstance(made, Skip):
                record["reason"] = made.reason
                continue
            output = made.run(x)
            sync()
        except Exception as err:  # a variant that fails is a result, not a crash
            record.update(status="failed", reason=one_line(err))
            continue
        record.update(
            status="ok",
            prepare_s=made.prepare_s,
            note="; ".join(n for n in (made.note, note) if n) or None,
        )
        record["peak_memory_mib"] = (
            torch.cuda.max_memory_allocated(device) / 2**20
            if device.type == "cuda"
            else max(0.0, peak_rss_mib() - rss_before)
        )
        if config.mode == "infer":
            abs_diff, rel_diff = output_difference(output, references[batch])
            record.update(
                max_abs_diff=abs_diff, max_rel_diff=rel_diff, exact=is_exact(precision, rel_diff)
            )
            judged = None
            if not record["exact"] and subject.own_data is not None:
                judged = judge_on_test_images(
                    made.run,
                    subject,
                    config,
                    batch,
                    judged_references,
                    progress,
                    label,
                )
                record.update(
                    agreement=judged["agreement"],
                    top1=judged["top1"],
                    top1_fp32=judged["top1_fp32"],
                    judged_images=judged["images"],
                )
            status, reason = verdict(precision, record["exact"], judged)
            record.update(status=status, reason=reason)
            if status == "disagrees":
                continue  # no timing of wrong outputs
        prepared.append((record, made, x))
    progress(f"prepared {subject.label}", len(keys), len(keys))
    return records, prepared


def measure(
    prepared: list[tuple[dict, Variant, torch.Tensor]],
    config: BenchConfig,
    progress: Progress,
    name: str,
) -> None:
    """Time the prepared variants in interleaved rounds and fill in their latency fields."""
    sync = synchronizer(torch.device(config.device))
    runs = [(made.run, x) for _, made, x in prepared]
    warm = [0.0] * len(runs)
    total = config.warmup + config.rounds
    for r, order in enumerate(round_orders(len(runs), config.warmup)):
        progress(f"warm up {name} round {r + 1}/{config.warmup}", r, total)
        for i in order:
            warm[i] = timed(*runs[i], 1, sync)
    loops = [iterations_per_sample(t, MIN_SAMPLE_S) for t in warm]
    samples: list[list[float]] = [[] for _ in runs]
    for r, order in enumerate(round_orders(len(runs), config.rounds)):
        progress(f"measure {name} round {r + 1}/{config.rounds}", config.warmup + r, total)
        for i in order:
            samples[i].append(timed(*runs[i], loops[i], sync) * 1e3)
    for (record, _, x), times, n in zip(prepared, samples, loops, strict=True):
        stats = latency_stats(times)
        record.update(
            latency_ms=stats,
            images_per_s=x.shape[0] / stats["median"] * 1e3,
            iterations_per_sample=n,
        )


def add_speedups(records: list[dict]) -> None:
    """Each record's ``speedup`` over fp32 eager at the same model, batch size and mode."""
    baselines = {
        (r["model"], r["batch_size"], r["mode"]): r["latency_ms"]["median"]
        for r in records
        if r["runtime"] == "eager" and r["precision"] == "fp32" and r["latency_ms"]
    }
    for r in records:
        if r["latency_ms"]:
            base = baselines.get((r["model"], r["batch_size"], r["mode"]))
            r["speedup"] = speedup(r["latency_ms"]["median"], base)


def bench_environment(device: str) -> dict:
    """:func:`cnnzoo.env.environment` plus the versions of the export runtimes, the OMP policy and
    the load average when the run started."""
    env = environment(device)
    env.update({name: package_version(name) for name in EXPORT_PACKAGES})
    env["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
    env["load_average"] = [round(x, 2) for x in os.getloadavg()]  # 1, 5, 15 min: was it shared?
    return env


def spin_warning(runtimes: Sequence[str], omp_wait_policy: str | None) -> str | None:
    """The warning for PyTorch runtimes interleaved with ONNX Runtime or ExecuTorch while
    OpenMP threads spin (``OMP_WAIT_POLICY`` not ``PASSIVE``), or ``None``.

    Measured here (2 cores): resnet50 fp32 eager went from 34 ms to 2.6 s per image when its
    rounds alternated with ONNX Runtime and ExecuTorch without ``OMP_WAIT_POLICY=PASSIVE``.
    """
    torch_side = {"eager", "fold", "compile"} & set(runtimes)
    others = {"onnxruntime", "executorch"} & set(runtimes)
    if torch_side and others and (omp_wait_policy or "").upper() != "PASSIVE":
        return (
            "OMP_WAIT_POLICY is not PASSIVE: spinning OpenMP threads take the cores from "
            "ONNX Runtime / XNNPACK in interleaved rounds and slow every runtime; start "
            "the process with OMP_WAIT_POLICY=PASSIVE"
        )
    return None


def settings(config: BenchConfig) -> dict:
    """The resolved settings saved with the results."""
    values = asdict(config)
    values.update(
        threads=torch.get_num_threads(),
        threads_requested=config.threads,
        ort_intra_op_threads=config.threads,
        min_sample_s=MIN_SAMPLE_S,
        memory="CUDA: torch.cuda.max_memory_allocated; CPU: growth of the process's peak RSS "
        "(ru_maxrss) while preparing and first running a variant (0 when an earlier variant "
        "already peaked higher; psutil is not installed)",
        order="interleaved rounds, rotated by one variant each round",
        warning=spin_warning(config.runtime, os.environ.get("OMP_WAIT_POLICY")),
    )
    return values


@contextlib.contextmanager
def threads_set(threads: int | None):
    """``torch.set_num_threads(threads)`` for the duration, restored after."""
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def bench_models(
    config: BenchConfig,
    progress: Progress | None = None,
    on_model: Callable[[list[dict]], None] | None = None,
) -> dict:
    """Run the benchmark of ``config``, one model after another.

    Args:
        config: what to measure (see :func:`make_config`).
        progress: called with ``(description, completed, total)`` as the work goes on.
        on_model: called with each model's finished result records (for resumable scripts).

    Returns:
        The record of the bench JSON schema: ``schema``, ``version``, ``environment``,
        ``settings``, ``results`` and ``summary``.
    """
    progress = progress or silent
    results: list[dict] = []
    with threads_set(config.threads):
        env = bench_environment(config.device)
        for name in config.models:
            subject = open_source(name, weights=config.weights, input=config.input)
            with tempfile.TemporaryDirectory(prefix="cnnzoo-bench-") as tmp:
                records, prepared = prepare(subject, config, Path(tmp), progress, env["cpu_flags"])
                measure(prepared, config, progress, subject.label)
            add_speedups(records)
            del prepared
            torch._dynamo.reset()  # free the compiled graphs of this model
            results += records
            if on_model:
                on_model(records)
        record_settings = settings(config)
    return {
        "schema": SCHEMA,
        "version": VERSION,
        "environment": env,
        "settings": record_settings,
        "results": results,
        "summary": summarize(results),
    }

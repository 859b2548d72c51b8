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
from torch import nn

from cnnzoo.bench.runtimes import (
    MODES,
    PRECISIONS,
    RUNTIMES,
    Skip,
    Variant,
    check_runtime_packages,
    logits,
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
from cnnzoo.export.judge import EVAL_BATCH, agreement, eval_batches, output_difference, top1
from cnnzoo.progress import Progress
from cnnzoo.registry import REGISTRY, create_model

SCHEMA = "cnnzoo-bench"
VERSION = 1
DEVICES = ("cpu", "cuda")
FORMATS = ("table", "json", "csv")
MIN_WARMUP = 3
MIN_SAMPLE_S = 0.05  # a timed sample loops until it lasts this long
RANDOM_CALIBRATION_IMAGES = 64
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
    """

    models: tuple[str, ...]
    runtime: tuple[str, ...] = ("eager",)
    precision: tuple[str, ...] = ("fp32",)
    batch_size: tuple[int, ...] = (1,)
    input: tuple[int, int, int] | None = None
    threads: int | None = None
    device: str = "cpu"
    mode: str = "infer"
    rounds: int = 10
    warmup: int = MIN_WARMUP
    format: str = "table"
    out: str | None = None
    judge_images: int = JUDGE_IMAGES


def parse_names(text: str, known: Sequence[str], what: str) -> tuple[str, ...]:
    """``"eager,fold"`` -> ``("eager", "fold")``; ``"all"`` -> every known name.

    Raises:
        ValueError: an unknown name, with the known ones listed.
    """
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names == ("all",):
        return tuple(known)
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(
            f"unknown {what} {', '.join(map(repr, unknown)) or repr(text)}; "
            f"known: {', '.join(known)} (or all)"
        )
    return tuple(dict.fromkeys(names))


def parse_ints(text: str, flag: str, count: int | None = None) -> tuple[int, ...]:
    """``"1,8"`` -> ``(1, 8)``: positive integers (exactly ``count`` of them if given).

    Raises:
        ValueError: naming the flag and the text.
    """
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or min(values) < 1 or (count is not None and len(values) != count):
        shape = "C,H,W" if count == 3 else "comma-separated"
        raise ValueError(f"{flag} must be {shape} positive integers, got {text!r}")
    return values


def make_config(
    models: Sequence[str],
    *,
    runtime: str = "eager",
    precision: str = "fp32",
    batch_size: str = "1",
    input: str | None = None,
    threads: int | None = None,
    device: str = "cpu",
    mode: str = "infer",
    rounds: int = 10,
    warmup: int = MIN_WARMUP,
    format: str = "table",
    out: str | None = None,
    judge_images: int = JUDGE_IMAGES,
) -> BenchConfig:
    """The checked :class:`BenchConfig` of the command-line flags (as text).

    Raises:
        ValueError: one line for each kind of bad flag (unknown runtime or precision, missing
            package, CUDA without a GPU, a bad ``--input``, ...).
    """
    runtimes = parse_names(runtime, tuple(RUNTIMES), "runtime")
    precisions = parse_names(
        precision, PRECISIONS[:3] if precision == "all" else PRECISIONS, "precision"
    )
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; known: {', '.join(DEVICES)}")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "--device cuda: CUDA is not available (torch.cuda.is_available() is False)"
        )
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; known: {', '.join(FORMATS)}")
    if rounds < 1 or warmup < MIN_WARMUP:
        raise ValueError(
            f"--rounds must be >= 1 (>= {MIN_ROUNDS} for numbers to quote) and "
            f"--warmup >= {MIN_WARMUP}, got {rounds} and {warmup}"
        )
    if threads is not None and threads < 1:
        raise ValueError(f"--threads must be positive, got {threads}")
    if judge_images < 1:
        raise ValueError(f"judge_images must be positive, got {judge_images}")
    if not models:
        raise ValueError("give at least one MODEL or CHECKPOINT")
    check_runtime_packages(runtimes)
    return BenchConfig(
        models=tuple(models),
        runtime=runtimes,
        precision=precisions,
        batch_size=tuple(dict.fromkeys(parse_ints(batch_size, "--batch-size"))),
        input=None if input is None else parse_ints(input, "--input", 3),
        threads=threads,
        device=device,
        mode=mode,
        rounds=rounds,
        warmup=warmup,
        format=format,
        out=out,
        judge_images=judge_images,
    )


@dataclass(frozen=True)
class Subject:
    """A network to measure: its name, the model, its input and, for a checkpoint, the dataset
    record it was trained with (``None`` for random weights)."""

    name: str
    model: nn.Module
    input: tuple[int, int, int]
    record: dict | None = None


def load_subject(name: str, input_size: tuple[int, int, int] | None) -> Subject:
    """A model of the zoo (random init, seed 0) or the model of a cnnzoo checkpoint.

    Args:
        name: a registry name, or a path to a checkpoint written by ``cnnzoo train``.
        input_size: ``(C, H, W)`` to use instead of the model's own.

    Raises:
        ValueError: an unknown name, an unreadable checkpoint, or an input the model rejects.
    """
    if name in REGISTRY:
        torch.manual_seed(0)
        model = create_model(name).eval()
        subject = Subject(name, model, input_size or tuple(REGISTRY[name].input_size))
    elif Path(name).suffix in (".pt", ".pth") or Path(name).exists():
        from cnnzoo.train.inference import load_model

        model, record = load_model(name)
        size = record["input_size"]
        own = (record["in_chans"], size, size)
        path = Path(name)  # "run/best": run folders tell apart checkpoints named alike
        subject = Subject(
            f"{path.parent.name}/{path.stem}" if path.parent.name else path.stem,
            model,
            input_size or own,
            record,
        )
    else:
        create_model(name)  # raises the registry's "unknown model" with the closest names
        raise ValueError(f"unknown model {name!r}")
    if hasattr(subject.model, "check_input"):
        subject.model.check_input(torch.zeros(1, *subject.input))
    return subject


def calibration_for(subject: Subject, batch: int) -> tuple[list[torch.Tensor], str | None]:
    """int8 calibration batches of ``batch`` images: the checkpoint's training images (normalised
    as in its training), or fixed random inputs for a plain MODEL (with the note that says so)."""
    record = subject.record
    if record is not None:
        from cnnzoo.export.calibration import calibration_batches

        batches = calibration_batches(
            record["name"],
            data_dir=record.get("data_dir"),
            input_size=subject.input[-1],
            batch_size=batch,
            mean=tuple(record["mean"]),
            std=tuple(record["std"]),
        )
        return [b for b in batches if b.shape[0] == batch] or batches, None
    generator = torch.Generator().manual_seed(1)
    count = max(1, RANDOM_CALIBRATION_IMAGES // batch)
    return [torch.randn(batch, *subject.input, generator=generator) for _ in range(count)], (
        RANDOM_INT8_NOTE
    )


def fixed_input(batch: int, subject: Subject, device: torch.device) -> torch.Tensor:
    """The batch every variant is timed and compared on: a checkpoint's first test images (an
    int8 network's ranges are calibrated for real images, noise lies outside them), else seeded
    random inputs."""
    if subject.record is not None:
        _, batches = eval_batches(
            subject.record,
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
    subject: Subject,
    runtime: str,
    precision: str,
    batch: int,
    config: BenchConfig,
    cpu_flags: Sequence[str],
) -> dict:
    """A result record with every schema field, not yet measured."""
    return {
        "model": subject.name,
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
    subject: Subject,
    config: BenchConfig,
    batch: int,
    references: dict,
    progress: Callable[[int, int], None],
) -> dict:
    """:func:`~cnnzoo.export.judge.agreement` of a variant on the checkpoint's first
    ``config.judge_images`` test images, run in pieces of its ``batch``; fp32 eager's
    predictions are computed once per batch size and kept in ``references``."""
    device = torch.device(config.device)

    def on_device(r):
        return lambda x: r(x.to(device))

    def stream():
        size = batch * max(1, EVAL_BATCH // batch)  # whole pieces of the variant's batch
        return eval_batches(
            subject.record,
            data_dir=None,
            input_size=subject.input[-1],
            batch_size=size,
            limit=config.judge_images,
        )

    if batch not in references:
        total, batches = stream()
        model = subject.model.eval()
        (ref,), labels = top1(
            [on_device(lambda x: logits(model, x))],
            batches,
            batch,
            lambda done: progress(done, total),
        )
        references[batch] = ref, labels
    total, batches = stream()
    (ours,), _ = top1([on_device(run)], batches, batch, lambda done: progress(done, total))
    ref, labels = references[batch]
    return agreement(ours, ref, labels)


def prepare(
    subject: Subject, config: BenchConfig, tmp: Path, progress: Progress, cpu_flags: Sequence[str]
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
        references = {b: logits(model.eval(), x).float() for b, x in inputs.items()}
    calibrations: dict[int, tuple] = {}
    judged_references: dict[int, tuple] = {}
    records, prepared = [], []
    for index, (batch, runtime, precision) in enumerate(keys):
        label = f"{subject.name} {runtime} {precision} b{batch}"
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
            if not record["exact"] and subject.record is not None:
                judged = judge_on_test_images(
                    made.run,
                    subject,
                    config,
                    batch,
                    judged_references,
                    lambda done, total, label=label: progress(
                        f"judge {label} on {total:,} test images", done, total
                    ),
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
    progress(f"prepared {subject.name}", len(keys), len(keys))
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
    progress = progress or (lambda *_: None)
    results: list[dict] = []
    with threads_set(config.threads):
        env = bench_environment(config.device)
        for name in config.models:
            subject = load_subject(name, config.input)
            with tempfile.TemporaryDirectory(prefix="cnnzoo-bench-") as tmp:
                records, prepared = prepare(subject, config, Path(tmp), progress, env["cpu_flags"])
                measure(prepared, config, progress, subject.name)
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

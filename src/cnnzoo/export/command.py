"""``cnnzoo export``: a model of the zoo or a trained checkpoint to an ONNX or ExecuTorch file,
fp32 or static int8, optionally verified in its runtime against PyTorch eager.

The pure core is :func:`export_model` (one :class:`ExportConfig` in, a JSON-ready result out);
``cli.py`` parses the flags into the configuration and prints :func:`summary_lines`.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnzoo.export.calibration import CALIBRATION_IMAGES, calibration_batches
from cnnzoo.export.common import run_batched
from cnnzoo.export.judge import (
    EVAL_BATCH,
    MIN_AGREEMENT,
    Disagrees,
    agreement,
    disagreement_reason,
    eval_batches,
    output_difference,
    top1,
)
from cnnzoo.files import check_output_file
from cnnzoo.options import input_size, names_of, option
from cnnzoo.progress import Progress
from cnnzoo.source import Source, is_checkpoint, open_source, weights_option

SUFFIXES = {"onnx": ".onnx", "executorch": ".pte"}
QUANTIZATIONS = ("int8",)
CALIBRATION_BATCH = 32
VERIFY_SEED = 0


@dataclass(frozen=True)
class ExportConfig:
    """What ``cnnzoo export`` does; one field per flag.

    Attributes:
        model: a registry name or a ``.pt`` checkpoint written by ``cnnzoo train``.
        format: ``onnx`` or ``executorch``.
        weights: a local weights file for a registry name (anything ``create_model`` takes).
        input: ``(C, H, W)``; default: the checkpoint's input or the spec's ``input_size``.
        dynamic_batch: a dynamic batch dimension (ONNX only).
        quantize: ``int8`` for static quantization, or ``None``.
        calibration: the dataset whose training images calibrate int8 (a checkpoint's default:
            its own dataset).
        data_dir: that dataset's folder.
        verify: run the file in its runtime and compare with PyTorch eager.
        out: the output file; default: beside the checkpoint, or ``<model>[-int8].<ext>`` here.
    """

    model: str = option(help="a model name or a .pt checkpoint", metavar="MODEL|CHECKPOINT")
    format: str = option(
        "onnx", help="", choices="cnnzoo.export.command:WRITERS", checked_by="config"
    )
    weights: str | None = weights_option()
    input: tuple[int, int, int] | None = option(
        None,
        help="",
        metavar="C,H,W",
        parse=input_size,
        default_help="the checkpoint's or the model's input",
    )
    dynamic_batch: bool = option(False, help="dynamic batch dimension (onnx)")
    feature_maps: tuple[str, ...] = option(
        (),
        help="also output these modules' feature maps, after the logits (onnx; names as cnnzoo "
        "inspect lists them)",
        nargs="+",
        metavar="LAYER",
        default_help="none",
    )
    quantize: str | None = option(
        None,
        help="static quantization",
        choices=QUANTIZATIONS,
        checked_by="config",
        default_help="none, fp32",
    )
    calibration: str | None = option(
        None,
        help="calibration images' dataset",
        metavar="DATASET",
        default_help="a checkpoint's own dataset",
    )
    data_dir: str | None = option(
        None,
        help="folder of the calibration dataset's files",
        default_help="the dataset's standard place",
    )
    verify: bool = option(
        False,
        help="run the file in its runtime and compare with PyTorch eager; for int8 of a "
        "checkpoint also test top-1",
    )
    out: str | None = option(
        None,
        help="",
        metavar="FILE",
        default_help="beside the checkpoint, or ./<model>[-int8].<ext>",
    )

    def __post_init__(self) -> None:
        formats = names_of(ExportConfig, "format")
        if self.format not in formats:
            raise ValueError(f"unknown format {self.format!r}; choose from {', '.join(formats)}")
        if self.quantize is not None and self.quantize not in QUANTIZATIONS:
            raise ValueError(
                f"unknown quantization {self.quantize!r}; choose from {', '.join(QUANTIZATIONS)}"
            )
        if self.dynamic_batch and self.format != "onnx":
            raise ValueError("--dynamic-batch is available for --format onnx only")
        if self.feature_maps and self.format != "onnx":
            raise ValueError("--feature-maps is available for --format onnx only")
        if self.quantize and not self.calibration and not is_checkpoint(self.model):
            raise ValueError(
                f"--quantize {self.quantize} needs calibration images: add --calibration DATASET "
                "(its training split is used), or export a checkpoint (its own dataset is used)"
            )
        if self.weights and is_checkpoint(self.model):
            raise ValueError("--weights is for a model name; a checkpoint carries its weights")


def output_path(config: ExportConfig, subject: Source) -> Path:
    """``--out``, or beside the checkpoint, or ``<model>[-int8].<ext>`` in the current folder."""
    if config.out:
        return Path(config.out)
    beside = subject.path if subject.origin == "checkpoint" else None
    stem = beside.stem if beside else subject.name
    name = f"{stem}{'-' + config.quantize if config.quantize else ''}{SUFFIXES[config.format]}"
    return beside.with_name(name) if beside else Path(name)


def calibration_for(config: ExportConfig, subject: Source) -> list[torch.Tensor] | None:
    """The int8 calibration batches (training images), or ``None`` for fp32.

    A checkpoint defaults to its own dataset and normalisation; its channels and classes must fit.
    """
    if not config.quantize:
        return None
    record = subject.own_data
    dataset = config.calibration or record["name"]
    data_dir = config.data_dir
    own = record is not None and dataset == record["name"]
    if own and data_dir is None:
        data_dir = record.get("data_dir")
    return calibration_batches(
        dataset,
        data_dir=data_dir,
        input_size=subject.input[-1],
        num_images=CALIBRATION_IMAGES,
        batch_size=CALIBRATION_BATCH,
        in_chans=subject.input[0],
        num_classes=record["num_classes"] if record else None,
        mean=tuple(record["mean"]) if own else None,
        std=tuple(record["std"]) if own else None,
    )


def write_onnx(model, example, path, *, dynamic_batch, calibration, feature_maps=()) -> Path:
    from cnnzoo.export.onnx import export_onnx, quantize_onnx_int8

    shape = {"dynamic_batch": dynamic_batch, "feature_maps": feature_maps}
    if calibration is None:
        return export_onnx(model, example, path, **shape)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = export_onnx(model, example, Path(tmp) / "fp32.onnx", **shape)
        return quantize_onnx_int8(fp32, Path(path), calibration)


def write_executorch(model, example, path, *, dynamic_batch, calibration, feature_maps=()) -> Path:
    from cnnzoo.export.executorch import export_executorch

    return export_executorch(model, example, path, calibration=calibration)


def onnx_file_runner(path: Path) -> tuple[Callable[[torch.Tensor], torch.Tensor], int | None]:
    from cnnzoo.export.onnx import onnx_batch, onnx_runner

    return onnx_runner(path), onnx_batch(path)


def executorch_file_runner(path: Path) -> tuple[Callable[[torch.Tensor], torch.Tensor], int]:
    from cnnzoo.export.executorch import executorch_runner

    return executorch_runner(path), None


WRITERS: dict[str, Callable[..., Path]] = {"onnx": write_onnx, "executorch": write_executorch}
RUNNERS: dict[str, Callable[[Path], tuple]] = {
    "onnx": onnx_file_runner,
    "executorch": executorch_file_runner,
}
RUNTIME_NAMES = {"onnx": "ONNX Runtime", "executorch": "ExecuTorch"}


def file_runner(path: str | Path, fmt: str, batch: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``run(x)`` of an exported file in its runtime, for any batch that is a multiple of the
    file's static batch (``batch``, the example's; dynamic ONNX files take any batch).

    Args:
        path: the exported file.
        fmt: ``onnx`` or ``executorch``.
        batch: the batch size it was exported with.
    """
    run, static = RUNNERS[fmt](Path(path))
    if fmt == "executorch":
        static = batch
    return lambda x: run_batched(run, x, static)


def differences(out: torch.Tensor, ref: torch.Tensor) -> dict:
    """:func:`~cnnzoo.export.judge.output_difference` of ``out`` from ``ref`` as a dict, with the
    largest ``|ref|`` and the share of rows whose argmax agrees."""
    diff, rel = output_difference(out, ref)
    agree = float((out.argmax(1) == ref.argmax(1)).float().mean())
    return {
        "max_abs_diff": diff,
        "max_logit": float(ref.abs().max()),
        "max_rel_diff": rel,
        "argmax_agree": agree,
    }


def verify_examples(
    subject: Source, config: ExportConfig, calibration: list[torch.Tensor] | None
) -> list[torch.Tensor]:
    """The verification inputs: for int8, real training images (the first calibration images:
    int8 ranges are calibrated for real images, random noise lies outside them); else fixed
    random images. A second batch size when the batch is dynamic."""
    sizes = (1, 3) if config.dynamic_batch else (1,)
    if calibration:
        images = torch.cat(calibration)
        return [images[:n].contiguous() for n in sizes]
    generator = torch.Generator().manual_seed(VERIFY_SEED)
    return [torch.randn(n, *subject.input, generator=generator) for n in sizes]


def test_top1(
    run: Callable[[torch.Tensor], torch.Tensor],
    model: nn.Module,
    subject: Source,
    config: ExportConfig,
    progress: Progress | None = None,
) -> dict:
    """Top-1 of the exported file and of the fp32 PyTorch model on the checkpoint dataset's
    test split, normalised as in training, and how often the two predict the same class.

    Args:
        run: the file's runner (any batch size).
        model: the fp32 eval-mode model.
        subject: the checkpoint's subject (its record gives the dataset and normalisation).
        config: the configuration (``data_dir``).
        progress: told ``("test top-1 on N images", images done, N)`` after each batch.

    Returns:
        ``{"dataset", "count", "top1_file", "top1_fp32", "agree", "agrees"}``: ``agrees`` is the
        judgement of :func:`cnnzoo.export.judge.agreement` (``agree >= MIN_AGREEMENT``).
    """
    total, batches = eval_batches(
        subject.own_data,
        data_dir=config.data_dir,
        input_size=subject.input[-1],
        batch_size=EVAL_BATCH,
    )
    what = f"test top-1 on {total:,} images"
    (ours, ref), labels = top1(
        [run, model], batches, progress=progress, description=what, total=total
    )
    judged = agreement(ours, ref, labels)
    return {
        "dataset": subject.own_data["name"],
        "count": judged["images"],
        "top1_file": judged["top1"],
        "top1_fp32": judged["top1_fp32"],
        "agree": judged["agreement"],
        "agrees": judged["agrees"],
    }


def export_model(config: ExportConfig, progress: Progress | None = None) -> dict:
    """Export as ``config`` says; verify when asked.

    Args:
        config: the configuration.
        progress: the progress of the test-set evaluation (``--verify`` of an int8
            checkpoint).

    Returns:
        A JSON-ready dict: ``file``, ``bytes``, ``format``, ``precision``, ``model``, ``input``,
        ``export_s``; with ``verify``: ``verify`` (list of :func:`differences` per example
        batch) and, for int8 of a checkpoint, ``accuracy`` (:func:`test_top1`).

    Raises:
        ValueError: bad input (see the command's help), MissingDependency, UnsupportedModel.
        Disagrees: ``--verify`` of an int8 checkpoint whose file predicts fp32's top-1 on fewer
            than ``MIN_AGREEMENT`` of the test images; the file is removed.
    """
    subject = open_source(config.model, weights=config.weights, input=config.input)
    path = check_output_file(output_path(config, subject))
    calibration = calibration_for(config, subject)
    example = torch.zeros(1, *subject.input)
    start = time.perf_counter()
    writer = WRITERS[config.format]
    written = writer(
        subject.model,
        example,
        path,
        dynamic_batch=config.dynamic_batch,
        calibration=calibration,
        feature_maps=config.feature_maps,
    )
    result = {
        "file": str(written),
        "bytes": written.stat().st_size,
        "format": config.format,
        "precision": config.quantize or "fp32",
        "model": subject.name,
        "input": list(subject.input),
        "dynamic_batch": config.dynamic_batch,
        "feature_maps": list(config.feature_maps),
        "export_s": time.perf_counter() - start,
    }
    if not config.verify:
        return result
    run = file_runner(written, config.format, example.shape[0])
    checks = []
    with torch.no_grad():
        for x in verify_examples(subject, config, calibration):
            checks.append({"batch_size": x.shape[0], **differences(run(x), subject.model(x))})
    result["runtime"] = RUNTIME_NAMES[config.format]
    result["verify"] = checks
    if config.quantize and subject.own_data is not None:
        result["accuracy"] = accuracy = test_top1(run, subject.model, subject, config, progress)
        if not accuracy["agrees"]:
            written.unlink()
            judged = {"agreement": accuracy["agree"], "images": accuracy["count"]}
            raise Disagrees(
                f"{written.name} ({config.quantize} {config.format}) disagrees "
                f"with fp32 PyTorch: {disagreement_reason(judged)}; the file was "
                "removed"
            )
    return result


def summary_lines(result: dict) -> list[str]:
    """What ``cnnzoo export`` prints: the file line, then one line per verification."""
    c, h, w = result["input"]
    maps = result.get("feature_maps") or []
    lines = [
        f"wrote {result['file']}  {result['bytes'] / 2**20:.2f} MiB  {result['format']} "
        f"{result['precision']}  {result['model']} {c}x{h}x{w}"
        f"{' (dynamic batch)' if result['dynamic_batch'] else ''}"
        f"{' + the feature maps of ' + ', '.join(maps) if maps else ''}  "
        f"export {result['export_s']:.1f} s"
    ]
    for check in result.get("verify", []):
        lines.append(
            f"verify ({result['runtime']} vs PyTorch eager fp32, batch {check['batch_size']}"
            f"{', training images' if result['precision'] != 'fp32' else ''}): "
            f"max abs diff {check['max_abs_diff']:.3g} = {check['max_rel_diff']:.3g} of the "
            f"largest |logit| {check['max_logit']:.3g}; argmax agrees on "
            f"{check['argmax_agree']:.0%}"
        )
    acc = result.get("accuracy")
    if acc:
        lines.append(
            f"test top-1 on {acc['dataset']} ({acc['count']:,} images): {result['precision']} "
            f"{result['format']} {acc['top1_file']:.2%}, fp32 PyTorch {acc['top1_fp32']:.2%} "
            f"({(acc['top1_file'] - acc['top1_fp32']) * 100:+.2f} points); same prediction on "
            f"{acc['agree']:.2%} (needs >= {MIN_AGREEMENT:.0%}: agrees)"
        )
    elif result["precision"] != "fp32" and "verify" in result:
        lines.append(
            f"{result['precision']} not judged: agreement with fp32 is judged on the "
            "test images of a trained checkpoint (export a checkpoint)"
        )
    return lines

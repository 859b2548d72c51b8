"""The runtimes ``cnnzoo bench`` measures, as a name -> factory table.

A factory ``(model, example, precision, threads, tmpdir, *, mode, calibration) -> Variant | Skip``
prepares one way of running the network (folding, compiling or exporting it; that time is the
variant's ``prepare_s``) and returns the callable that runs one batch, or a :class:`Skip` with
the reason when the combination does not exist. Inference runs call
``forward_head(forward_features(x))`` under ``torch.no_grad``; training runs (``mode="train"``)
time one SGD step (forward, cross-entropy, backward, update) on fixed random labels.

- ``eager``: the model as it is, bf16 (and on CUDA fp16) through autocast.
- ``fold``: :func:`~cnnzoo.bench.fold.fold_batchnorm` and channels_last.
- ``compile``: ``torch.compile`` (CPU: default mode with inductor's ``freezing``, which constant-
  folds the weights and the batch norms; CUDA: ``max-autotune-no-cudagraphs``), channels_last.
- ``onnxruntime`` and ``executorch``: exported with :mod:`cnnzoo.export` (fp32, and int8 calibrated
  on the given batches), run on the CPU.
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from cnnzoo.bench.fold import fold_batchnorm
from cnnzoo.export import executorch as et_export
from cnnzoo.export import onnx as onnx_export
from cnnzoo.models.base import main_logits
from cnnzoo.source import Logits

AUTOCAST = {"bf16": torch.bfloat16, "fp16": torch.float16}
PRECISIONS = ("fp32", "bf16", "int8", "fp16")
MODES = ("infer", "train")
CPU_COMPILE_MODE = None  # max-autotune on CPU costs minutes per model for a few percent
CUDA_COMPILE_MODE = "max-autotune-no-cudagraphs"
EXPORT_EXTRA = "pip install 'cnnzoo[export]'"
# The packages each exporting runtime imports (checked before anything is prepared).
RUNTIME_PACKAGES = {
    "onnxruntime": ("onnx", "onnxscript", "onnxruntime"),
    "executorch": ("executorch",),
}
SGD_LR = 0.01
SGD_MOMENTUM = 0.9


@dataclass(frozen=True)
class Variant:
    """A prepared way to run the network: ``run(batch) -> output`` and the preparation time."""

    run: Callable[[torch.Tensor], torch.Tensor]
    prepare_s: float
    note: str | None = None


@dataclass(frozen=True)
class Skip:
    """A runtime x precision x mode combination that does not exist, and why."""

    reason: str


def autocast(device: torch.device, precision: str):
    """The autocast context of ``precision`` on ``device`` (a no-op for fp32)."""
    if precision in AUTOCAST:
        return torch.autocast(device.type, dtype=AUTOCAST[precision])
    return contextlib.nullcontext()


def torch_precision_skip(
    precision: str, device: torch.device, *, int8: bool = False
) -> Skip | None:
    """Why PyTorch cannot run ``precision`` on ``device`` here (``None`` if it can; ``int8``: the
    runtime has an int8 path on the CPU)."""
    if precision == "int8" and not (int8 and device.type == "cpu"):
        return Skip(
            "int8 without compilation has no fast kernels: use compile int8 (PT2E x86 + "
            "inductor, CPU), onnxruntime or executorch int8"
        )
    if precision == "fp16" and device.type != "cuda":
        return Skip("fp16 autocast is for CUDA; on the CPU use bf16")
    return None


def inference_fn(model: nn.Module, precision: str, memory_format=torch.contiguous_format):
    """``run(x)``: the logits under ``no_grad`` and ``precision``'s autocast."""
    device = next(model.parameters()).device
    net = Logits(model)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), autocast(device, precision):
            return net(x.contiguous(memory_format=memory_format))

    return run


def train_step_fn(model: nn.Module, forward, example: torch.Tensor, precision: str):
    """``step(x)``: one SGD step of ``model`` (called through ``forward``) on fixed random labels.

    Args:
        model: the network in train mode (its parameters are updated).
        forward: the callable that runs it (the model itself, or its compiled version).
        example: a batch of the measured shape (for the labels' count).
        precision: fp32, bf16 or fp16 autocast of the forward pass.

    Returns:
        The step, which returns the loss (detached).
    """
    generator = torch.Generator().manual_seed(0)
    labels = torch.randint(0, model.num_classes, (example.shape[0],), generator=generator)
    labels = labels.to(example.device)
    optimizer = torch.optim.SGD(model.parameters(), lr=SGD_LR, momentum=SGD_MOMENTUM)
    loss_fn = nn.CrossEntropyLoss()

    def step(x: torch.Tensor) -> torch.Tensor:
        optimizer.zero_grad(set_to_none=True)
        with autocast(x.device, precision):
            loss = loss_fn(main_logits(forward(x)), labels)
        loss.backward()
        optimizer.step()
        return loss.detach()

    return step


def eager(model, example, precision, threads, tmpdir, *, mode="infer", calibration=None):
    """The model as it is (bf16/fp16 through autocast)."""
    skip = torch_precision_skip(precision, example.device)
    if skip:
        return skip
    start = time.perf_counter()
    net = copy.deepcopy(model)
    if mode == "train":
        return Variant(
            train_step_fn(net.train(), net, example, precision), time.perf_counter() - start
        )
    return Variant(inference_fn(net.eval(), precision), time.perf_counter() - start)


def fold(model, example, precision, threads, tmpdir, *, mode="infer", calibration=None):
    """Batch norms folded into the convolutions, channels_last (inference only)."""
    if mode == "train":
        return Skip("fold is inference-only (folded batch norms cannot train)")
    skip = torch_precision_skip(precision, example.device)
    if skip:
        return skip
    start = time.perf_counter()
    net = fold_batchnorm(model).to(memory_format=torch.channels_last)
    note = f"{net.folded_batchnorms}/{net.total_batchnorms} BatchNorm2d folded"
    return Variant(
        inference_fn(net, precision, torch.channels_last), time.perf_counter() - start, note
    )


def compile_(model, example, precision, threads, tmpdir, *, mode="infer", calibration=None):
    """``torch.compile`` with channels_last; on the CPU with inductor's weight freezing; int8:
    PT2E static quantization with the x86 inductor quantizer, calibrated on ``calibration``."""
    skip = torch_precision_skip(precision, example.device, int8=mode == "infer")
    if skip:
        return skip
    if precision == "int8":
        return compile_int8(model, example, calibration or [example])
    on_cpu = example.device.type == "cpu"
    compile_mode = CPU_COMPILE_MODE if on_cpu else CUDA_COMPILE_MODE
    start = time.perf_counter()
    net = copy.deepcopy(model).to(memory_format=torch.channels_last)
    if mode == "train":
        compiled = torch.compile(net.train(), mode=compile_mode, dynamic=False)
        step = train_step_fn(net, compiled, example, precision)
        step(example)  # compiles forward and backward
        return Variant(step, time.perf_counter() - start, f"mode={compile_mode or 'default'}")
    net.eval()
    compiled = torch.compile(Logits(net), mode=compile_mode, dynamic=False)
    run = inference_fn_compiled(compiled, example.device, precision)
    # freezing needs no_grad at compile time; the setting is restored when the context ends
    with torch._inductor.config.patch(freezing=on_cpu):
        run(example)
    note = f"mode={compile_mode or 'default'}" + (", freezing" if on_cpu else "")
    return Variant(run, time.perf_counter() - start, note)


class FunctionalReLU(nn.Module):
    """``relu(x)`` as a function call: each call is its own partition for the PT2E quantizer."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.relu(x)


def functional_relus(module: nn.Module) -> nn.Module:
    """``module`` with every ``nn.ReLU`` replaced by :class:`FunctionalReLU` (in place).

    torchao's ``X86InductorQuantizer`` fails with "Input partition has more than one output
    node" when one ``nn.ReLU`` module is called several times (as in every ResNet block, also
    torchvision's); as function calls they partition one by one.
    """
    for name, child in module.named_children():
        if type(child) is nn.ReLU:
            setattr(module, name, FunctionalReLU())
        else:
            functional_relus(child)
    return module


def compile_int8(model: nn.Module, example: torch.Tensor, calibration) -> Variant | Skip:
    """PT2E int8 (torchao's ``X86InductorQuantizer``, static, per-channel weights), calibrated on
    ``calibration``, then ``torch.compile`` with freezing (which lowers to oneDNN int8 kernels)."""
    try:
        import torchao.quantization.pt2e.quantizer.x86_inductor_quantizer as xiq
        from torchao.quantization.pt2e import move_exported_model_to_eval
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError:
        return Skip(f"compile int8 needs the 'torchao' package: {EXPORT_EXTRA}")
    start = time.perf_counter()
    net = Logits(functional_relus(copy.deepcopy(model).eval()))
    exported = torch.export.export(net, (example,)).module()
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for batch in calibration:
            prepared(batch)
    converted = convert_pt2e(prepared)
    move_exported_model_to_eval(converted)
    compiled = torch.compile(converted, dynamic=False)

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return compiled(x)

    with torch._inductor.config.patch(freezing=True):
        run(example)
    return Variant(run, time.perf_counter() - start, "PT2E X86InductorQuantizer, freezing")


def inference_fn_compiled(compiled, device: torch.device, precision: str):
    """``run(x)`` of a compiled logits function: no_grad, autocast, channels_last input."""

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad(), autocast(device, precision):
            return compiled(x.contiguous(memory_format=torch.channels_last))

    return run


def exported_skip(runtime: str, example, precision: str, mode: str) -> Skip | None:
    """Why an exporting runtime cannot run this combination (``None`` if it can)."""
    if mode == "train":
        return Skip(f"{runtime} is inference-only")
    if example.device.type != "cpu":
        return Skip(f"{runtime} runs on the CPU here (no GPU execution provider is set up)")
    if precision not in ("fp32", "int8"):
        return Skip(
            f"{runtime} {precision}: no supported path (its CPU kernels here run fp32 and "
            "int8; bf16 would fall back to casts around fp32 operators)"
        )
    return None


def onnxruntime(model, example, precision, threads, tmpdir, *, mode="infer", calibration=None):
    """Exported to ONNX (dynamo exporter), run by ONNX Runtime's CPU provider; int8 is static
    QDQ with per-channel weights calibrated on ``calibration``."""
    skip = exported_skip("onnxruntime", example, precision, mode)
    if skip:
        return skip
    start = time.perf_counter()
    path = onnx_export.export_onnx(model.eval(), example, Path(tmpdir) / "model.onnx")
    if precision == "int8":
        path = onnx_export.quantize_onnx_int8(
            path, Path(tmpdir) / "model.int8.onnx", list(calibration or [example])
        )
    run = onnx_export.onnx_runner(path, threads=threads)
    return Variant(run, time.perf_counter() - start, f"intra_op threads {threads or 'default'}")


def executorch(model, example, precision, threads, tmpdir, *, mode="infer", calibration=None):
    """Lowered to ExecuTorch with the XNNPACK delegate; int8 is PT2E static quantization with the
    XNNPACK quantizer, calibrated on ``calibration``."""
    skip = exported_skip("executorch", example, precision, mode)
    if skip:
        return skip
    start = time.perf_counter()
    batches = list(calibration or [example]) if precision == "int8" else None
    path = et_export.export_executorch(
        model.eval(), example, Path(tmpdir) / "model.pte", calibration=batches
    )
    run = et_export.executorch_runner(path)
    return Variant(run, time.perf_counter() - start, "XNNPACK threadpool: executorch's default")


Factory = Callable[..., "Variant | Skip"]
RUNTIMES: dict[str, Factory] = {
    "eager": eager,
    "fold": fold,
    "compile": compile_,
    "onnxruntime": onnxruntime,
    "executorch": executorch,
}


def check_runtime_packages(runtimes: Sequence[str]) -> None:
    """Raise a one-line ``ValueError`` when a requested runtime's package is not installed.

    Args:
        runtimes: runtime names (those without packages of their own always pass).
    """
    for runtime in runtimes:
        for package in RUNTIME_PACKAGES.get(runtime, ()):
            if importlib.util.find_spec(package) is None:
                raise ValueError(
                    f"runtime {runtime!r} needs the {package!r} package: {EXPORT_EXTRA}"
                )

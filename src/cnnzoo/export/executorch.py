"""ExecuTorch export lowered to the XNNPACK delegate, PT2E static int8 with the XNNPACK
quantizer, and a runner on ExecuTorch's Python runtime.

Follows ExecuTorch's XNNPACK tutorial: ``torch.export.export`` -> ``to_edge_transform_and_lower``
with ``XnnpackPartitioner`` -> ``to_executorch()``; for int8, ``prepare_pt2e`` with
``XNNPACKQuantizer`` (symmetric, per-channel weights), calibration, ``convert_pt2e``, then the same
lowering.

The ``nn.Linear`` layers (the classifiers) stay fp32. ``XNNPACKQuantizer`` quantizes a linear
layer's output too, and int8 logits -- 256 levels over their range -- flip the predictions of
images whose two best classes are close: resnet18 trained on Fashion-MNIST predicted fp32's class
on 97.2 % of 1,000 test images with an int8 classifier (the same 97.2 % for PT2E's reference
model, so not an XNNPACK kernel), on 99.5 % with an fp32 one. ONNX Runtime's int8 keeps its
``Gemm`` in fp32 too (:mod:`cnnzoo.export.onnx`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import nn

from cnnzoo.export.common import model_name, rebatch, traceable
from cnnzoo.export.errors import require, unsupported
from cnnzoo.files import write_atomic

FLOAT_MODULES = (nn.Linear,)  # left fp32 in int8 (see the module docstring)


def quantize_pt2e(net: nn.Module, example: torch.Tensor, calibration: Iterable[torch.Tensor]):
    """The PT2E int8 module of ``net`` (XNNPACK quantizer, per-channel; ``FLOAT_MODULES`` left
    fp32), calibrated on ``calibration`` (cut to the batch size of ``example``)."""
    quantizer_mod = require("executorch.backends.xnnpack.quantizer.xnnpack_quantizer")
    pt2e = require("torchao.quantization.pt2e.quantize_pt2e")
    quantizer = quantizer_mod.XNNPACKQuantizer()
    quantizer.set_global(quantizer_mod.get_symmetric_quantization_config(is_per_channel=True))
    for module_type in FLOAT_MODULES:
        quantizer.set_module_type(module_type, None)
    captured = torch.export.export(net, (example,)).module()
    prepared = pt2e.prepare_pt2e(captured, quantizer)
    seen = 0
    with torch.no_grad():
        for batch in rebatch(calibration, example.shape[0]):
            prepared(batch)
            seen += 1
    if not seen:
        raise ValueError(f"no calibration batch of {example.shape[0]} images was given")
    return pt2e.convert_pt2e(prepared)


def export_executorch(
    model: nn.Module,
    example: torch.Tensor,
    path: str | Path,
    *,
    calibration: Iterable[torch.Tensor] | None = None,
) -> Path:
    """Export ``model``'s eval-mode logits to an ExecuTorch ``.pte`` lowered to XNNPACK.

    Args:
        model: a zoo model or any module; put in eval mode.
        example: an input batch that fixes the (static) input shape.
        path: the ``.pte`` file, written atomically.
        calibration: if given, PT2E static int8 (XNNPACK quantizer), calibrated on these
            batches (cut to the batch size of ``example``).

    Returns:
        The path written.

    Raises:
        MissingDependency: executorch is not installed.
        UnsupportedModel: torch.export or the lowering failed; the message names the operation.
    """
    exir = require("executorch.exir")
    partitioner = require("executorch.backends.xnnpack.partition.xnnpack_partitioner")
    net = traceable(model)
    try:
        with torch.no_grad():
            if calibration is not None:
                net = quantize_pt2e(net, example, calibration)
            exported = torch.export.export(net, (example,))
            program = exir.to_edge_transform_and_lower(
                exported, partitioner=[partitioner.XnnpackPartitioner()]
            ).to_executorch()
    except ValueError:
        raise
    except Exception as err:
        raise unsupported(model_name(model), "torch.export / ExecuTorch", err) from None
    return write_atomic(path, lambda tmp: tmp.write_bytes(program.buffer))


def executorch_runner(path: Path) -> Callable[[torch.Tensor], torch.Tensor]:
    """A ``.pte`` file's ``forward`` in ExecuTorch's Python runtime, as a function of a tensor.

    Args:
        path: a ``.pte`` file.

    Returns:
        ``run(x) -> logits`` (CPU tensors; ``x`` must have the exported shape).
    """
    runtime = require("executorch.runtime")
    method = runtime.Runtime.get().load_program(Path(path)).load_method("forward")

    def run(x: torch.Tensor) -> torch.Tensor:
        return method.execute([x.detach().cpu().float().contiguous()])[0]

    return run

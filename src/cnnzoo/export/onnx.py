"""ONNX export (PyTorch's dynamo exporter), static int8 quantization with ONNX Runtime, and an
ONNX Runtime CPU runner.

Export follows PyTorch's ``torch.onnx.export(..., dynamo=True)`` path (``torch.export`` then the
ONNX translation) and checks the file with ``onnx.checker.check_model``. int8 follows ONNX
Runtime's static-quantization guide: ``quant_pre_process`` (shape inference, graph
optimisation), then ``quantize_static`` in QDQ format with per-channel int8 weights and int8
activations calibrated on real images (min-max). ``quantize_dynamic`` is deliberately not offered:
it quantizes activations on the fly and is several times slower for convolutions.

Two choices keep the int8 file readable by runtimes other than ONNX Runtime (tested against
OpenCV DNN 5.1 in ``tests/export/test_opencv.py``):

- ``QDQKeepRemovableActivations``: the ReLUs stay nodes of the graph. By default the quantizer
  drops each ReLU that follows a quantize step (its clamp at the zero point does the same), so a
  runner that executes the graph in float, or that fuses Q/DQ pairs away, loses every ReLU.
- The ``Gemm`` nodes (the classifiers) stay fp32: OpenCV DNN 5.1 fails to load a ``Gemm`` whose
  bias is int32-quantized (``bufidx >= 0`` in ``argTensor``), whatever the activations. A
  classifier is one small matrix product, a fraction of a percent of a CNN's mult-adds.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import torch
from torch import nn

from cnnzoo.export.common import LogitsAndMaps, model_name, rebatch, traceable
from cnnzoo.export.errors import require, unsupported
from cnnzoo.files import write_atomic

OPSET = 18
INPUT_NAME = "input"
OUTPUT_NAME = "logits"
MAP_PREFIX = "map:"  # the extra outputs of --feature-maps: "map:layer1", ...
FLOAT_OPS = ("Gemm",)  # left fp32 in the int8 file (see the module docstring)


def export_onnx(
    model: nn.Module,
    example: torch.Tensor,
    path: str | Path,
    *,
    dynamic_batch: bool = False,
    feature_maps: Sequence[str] = (),
) -> Path:
    """Export ``model``'s eval-mode logits to an ONNX file.

    Args:
        model: a zoo model (its ``forward_features`` and ``forward_head`` are traced) or any
            module; put in eval mode.
        example: an input batch that fixes the shape (and the batch size unless
            ``dynamic_batch``).
        path: the ``.onnx`` file, written atomically.
        dynamic_batch: make the batch dimension dynamic (``"batch"``).
        feature_maps: modules of ``model`` (by name) whose outputs are extra outputs of the
            file, after the logits, named ``map:<name>`` (:data:`MAP_PREFIX`).

    Returns:
        The path written.

    Raises:
        MissingDependency: onnx or onnxscript is not installed.
        UnsupportedModel: the exporter failed; the message names the model and the operation.
    """
    onnx = require("onnx")
    require("onnxscript")
    net = LogitsAndMaps(model, feature_maps) if feature_maps else traceable(model)
    shapes = {"x": {0: torch.export.Dim("batch", min=1)}} if dynamic_batch else None
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", "The tensor attributes .* were assigned during export"
            )
            program = torch.onnx.export(
                net,
                (example,),
                dynamo=True,
                opset_version=OPSET,
                dynamic_shapes=shapes,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME, *(f"{MAP_PREFIX}{n}" for n in feature_maps)],
                verbose=False,
                report=False,
            )
    except Exception as err:  # torch.onnx wraps every failure; name the op it gives
        raise unsupported(model_name(model), "torch.onnx (dynamo)", err) from None
    finally:
        if feature_maps:
            net.release()

    def write(tmp: Path) -> None:
        program.save(str(tmp))
        onnx.checker.check_model(str(tmp))

    return write_atomic(path, write)


def onnx_batch(path: str | Path) -> int | None:
    """The static batch size of an ONNX file's first input (``None`` if it is dynamic)."""
    onnx = require("onnx")
    model = onnx.load(str(path), load_external_data=False)
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    return dim.dim_value if dim.HasField("dim_value") else None


def quantize_onnx_int8(
    fp32_path: Path, out_path: Path, calibration: Iterable[torch.Tensor]
) -> Path:
    """Static int8 quantization of an fp32 ONNX file with ONNX Runtime (QDQ, per-channel).

    Args:
        fp32_path: the file :func:`export_onnx` wrote.
        out_path: the int8 file, written atomically.
        calibration: float32 NCHW batches, normalised as the model's inputs (e.g.
            :func:`cnnzoo.export.calibration.calibration_batches`); cut to the file's batch size
            when it is static.

    Returns:
        The path written.

    Raises:
        MissingDependency: onnxruntime is not installed.
        ValueError: no calibration batch fits the file's input shape.
    """
    require("onnxruntime")
    quantization = require("onnxruntime.quantization")
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx = require("onnx")
    batches = [
        b.detach().cpu().float().numpy() for b in rebatch(calibration, onnx_batch(fp32_path))
    ]
    if not batches:
        raise ValueError(
            f"no calibration batch fits {fp32_path} (batch size {onnx_batch(fp32_path)})"
        )

    class Reader(quantization.CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter({INPUT_NAME: b} for b in batches)

        def get_next(self):
            return next(self.items, None)

    def write(tmp: Path) -> None:
        prepared = tmp.with_name(tmp.name + ".pre.onnx")
        try:
            quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
            graph = onnx.load(str(prepared), load_external_data=False).graph
            quantization.quantize_static(
                str(prepared),
                str(tmp),
                Reader(),
                quant_format=quantization.QuantFormat.QDQ,
                per_channel=True,
                activation_type=quantization.QuantType.QInt8,
                weight_type=quantization.QuantType.QInt8,
                calibrate_method=quantization.CalibrationMethod.MinMax,
                nodes_to_exclude=[n.name for n in graph.node if n.op_type in FLOAT_OPS],
                extra_options={"QDQKeepRemovableActivations": True},
            )
        finally:
            prepared.unlink(missing_ok=True)

    return write_atomic(out_path, write)


def onnx_runner(
    path: Path, *, threads: int | None = None
) -> Callable[[torch.Tensor], torch.Tensor]:
    """An ONNX Runtime CPU session of ``path`` as a function of a torch tensor.

    Args:
        path: an ONNX file.
        threads: intra-op threads (``None``: ONNX Runtime's default).

    Returns:
        ``run(x) -> logits``: float32 CPU tensors in and out.
    """
    ort = require("onnxruntime")
    options = ort.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def run(x: torch.Tensor) -> torch.Tensor:
        array = x.detach().cpu().float().contiguous().numpy()
        return torch.from_numpy(session.run(None, {name: array})[0])

    return run

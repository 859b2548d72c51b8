"""The int8 ONNX file runs outside ONNX Runtime: OpenCV DNN 5.1 loads it and computes what ONNX
Runtime computes on the same file.

Tolerance: one int8 step of the largest |logit| (1/127 of it), and the same top-1. Both runtimes
execute the int8 arithmetic the file's scales and zero points define, but may round an
intermediate requantization differently by one step; measured: identical outputs for lenet5,
resnet18, mobilenet_v1 and preact_resnet18, up to 1.4e-3 of the largest logit for resnet20. A
runner that lost the ReLUs (executing the graph in float) is off by whole logits.

Checked by hand beyond these tests (random weights, 32-64 pixels): the int8 files of lenet5,
lenet5_original, resnet18/20, preact_resnet18, resnext50_32x4d, mobilenet_v1(_025),
shufflenet_v1_g3, shufflenet_v2_x1_0, googlenet, vgg11_bn, alexnet, zfnet and nasnet_cifar all
load and run in OpenCV DNN 5.1, within one step of ONNX Runtime (at most 6.5e-3 of the largest
logit, resnext50_32x4d) except nasnet_cifar: 2-3 % apart, each 2-5 % from fp32 with the same
top-1 (random weights whose logits reach 1e11: more rounding steps than one through its deep
cells). Not tried: inception_v4, nasnet_a_mobile/large.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

import cnnzoo
import cnnzoo.export.onnx as onnx_export
from cnnzoo.export.command import ExportConfig, export_model
from cnnzoo.export.judge import eval_batches
from cnnzoo.export.onnx import export_onnx, onnx_runner, quantize_onnx_int8

cv2 = pytest.importorskip("cv2", reason="opencv-python-headless is a dev dependency")

TOLERANCE = 1 / 127  # of the largest |logit|: one int8 step (see the module docstring)


def opencv_runner(path):
    net = cv2.dnn.readNetFromONNX(str(path))

    def run(x: torch.Tensor) -> np.ndarray:
        net.setInput(x.numpy())
        return net.forward()

    return run


def assert_same_outputs(path, inputs) -> None:
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"Relu", "QuantizeLinear", "DequantizeLinear"} <= ops  # the ReLUs are kept as nodes
    cv, ort = opencv_runner(path), onnx_runner(path)
    for x in inputs:
        ref, out = ort(x).numpy(), cv(x)
        assert np.abs(out - ref).max() <= TOLERANCE * np.abs(ref).max()
        assert (out.argmax(1) == ref.argmax(1)).all()


def test_trained_lenet5_int8_file(lenet5_checkpoint, fake_mnist, tmp_path):
    path = tmp_path / "lenet5-int8.onnx"
    export_model(ExportConfig(str(lenet5_checkpoint), quantize="int8", out=str(path)))
    record = torch.load(lenet5_checkpoint, weights_only=True)["dataset"]
    _, batches = eval_batches(
        record, data_dir=str(fake_mnist), input_size=record["input_size"], batch_size=1, limit=20
    )
    assert_same_outputs(path, [images for images, _ in batches])


def trained_looking(model: nn.Module, seed: int) -> nn.Module:
    """Batch-norm statistics and biases away from their initial values, as training leaves them
    (zero biases are dropped by the exporter, and would hide the classifier's bias)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            elif isinstance(m, (nn.Conv2d, nn.Linear)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g) * 0.1)
    return model.eval()


def int8_file(name: str, tmp_path, **kwargs):
    torch.manual_seed(0)
    model = trained_looking(cnnzoo.create_model(name, num_classes=10, in_chans=1, **kwargs), 0)
    g = torch.Generator().manual_seed(1)
    example = torch.randn(1, 1, 32, 32, generator=g)
    fp32 = export_onnx(model, example, tmp_path / f"{name}.onnx")
    calibration = [torch.randn(8, 1, 32, 32, generator=g)]
    return quantize_onnx_int8(fp32, tmp_path / f"{name}-int8.onnx", calibration), g


@pytest.mark.parametrize(
    "name", ["resnet20", pytest.param("mobilenet_v1_025", marks=pytest.mark.slow)]
)
def test_relu_residual_and_depthwise_int8_files(name, tmp_path):
    """resnet20: ReLU after a residual addition, batch norms; mobilenet_v1_025: depthwise."""
    path, g = int8_file(name, tmp_path)
    assert_same_outputs(path, [torch.randn(1, 1, 32, 32, generator=g) for _ in range(3)])


@pytest.mark.slow
def test_why_the_classifier_stays_fp32(tmp_path, monkeypatch):
    """OpenCV DNN 5.1 refuses a Gemm whose bias is int32-quantized: the reason for FLOAT_OPS."""
    monkeypatch.setattr(onnx_export, "FLOAT_OPS", ())
    path, _ = int8_file("resnet20", tmp_path)
    with pytest.raises(cv2.error, match="bufidx >= 0"):
        opencv_runner(path)(torch.zeros(1, 1, 32, 32))

"""Static int8 end to end on a small trained lenet5: both formats run, carry int8 weights, are
smaller than fp32 and predict like the fp32 model; --verify reports test top-1 beside fp32."""

from __future__ import annotations

import onnx
import pytest
import torch

import cnnzoo
from cnnzoo.export.command import ExportConfig, export_model
from cnnzoo.export.executorch import executorch_runner, export_executorch
from cnnzoo.export.onnx import export_onnx, onnx_runner, quantize_onnx_int8


def quantized_onnx_facts(path) -> tuple[set[str], set[int]]:
    model = onnx.load(str(path))
    ops = {node.op_type for node in model.graph.node}
    types = {init.data_type for init in model.graph.initializer}
    return ops, types


@pytest.mark.parametrize("fmt", ["onnx", "executorch"])
def test_int8_checkpoint_end_to_end(fmt, lenet5_checkpoint, tmp_path):
    fp32 = export_model(ExportConfig(str(lenet5_checkpoint), format=fmt, out=str(tmp_path / "a")))
    config = ExportConfig(str(lenet5_checkpoint), format=fmt, quantize="int8", verify=True)
    result = export_model(config)
    suffix = ".onnx" if fmt == "onnx" else ".pte"
    assert result["file"] == str(lenet5_checkpoint.with_name(f"best-int8{suffix}"))
    assert result["precision"] == "int8" and result["bytes"] < 0.5 * fp32["bytes"]
    (check,) = result["verify"]  # on a training image
    assert check["batch_size"] == 1 and 0 < check["max_rel_diff"] < 0.2
    acc = result["accuracy"]
    assert acc["count"] == 200 and acc["agree"] > 0.9
    assert abs(acc["top1_file"] - acc["top1_fp32"]) < 0.05
    if fmt == "onnx":
        ops, types = quantized_onnx_facts(result["file"])
        assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
        assert onnx.TensorProto.INT8 in types


@pytest.mark.slow
def test_int8_library_calls_random_weights(tmp_path):
    torch.manual_seed(0)
    model = cnnzoo.create_model("lenet5").eval()
    example = torch.randn(1, 1, 32, 32)
    calibration = [torch.randn(16, 1, 32, 32) for _ in range(2)]
    fp32 = export_onnx(model, example, tmp_path / "m.onnx")
    int8 = quantize_onnx_int8(fp32, tmp_path / "m-int8.onnx", calibration)  # cut to batch 1
    pte = export_executorch(model, example, tmp_path / "m-int8.pte", calibration=calibration)
    x = torch.randn(1, 1, 32, 32)
    with torch.no_grad():
        ref = model(x)
    for out in (onnx_runner(int8)(x), executorch_runner(pte)(x)):
        assert out.shape == ref.shape and torch.isfinite(out).all()
        assert float((out - ref).abs().max() / ref.abs().max()) < 0.25
    assert int8.stat().st_size < 0.5 * fp32.stat().st_size

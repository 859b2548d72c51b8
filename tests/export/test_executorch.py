"""ExecuTorch export (XNNPACK): lenet5, resnet18 and mobilenet_v1 run in ExecuTorch's runtime
like PyTorch eager (fp32)."""

from __future__ import annotations

import pytest
import torch
from exportutil import TOLERANCE, relative_error

import cnnzoo
from cnnzoo.export.executorch import executorch_runner, export_executorch


@pytest.mark.parametrize(
    ("name", "side"),
    [
        ("lenet5", 32),
        pytest.param("resnet18", 32, marks=pytest.mark.slow),
        pytest.param("mobilenet_v1", 32, marks=pytest.mark.slow),
    ],
)
def test_matches_eager(name, side, tmp_path):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name).eval()
    example = torch.randn(1, model.in_chans, side, side)
    path = export_executorch(model, example, tmp_path / f"{name}.pte")
    assert path.read_bytes()[4:8] == b"ET12"  # the flatbuffer identifier of a .pte program
    with torch.no_grad():
        assert relative_error(executorch_runner(path)(example), model(example)) < TOLERANCE

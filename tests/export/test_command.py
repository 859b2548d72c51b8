"""``cnnzoo export``: defaults, the summary line, and one clear line for each bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import cnnzoo.export.errors as errors
import cnnzoo.registry
import cnnzoo.source
from cnnzoo.cli import main
from cnnzoo.export.command import ExportConfig, export_model, output_path
from cnnzoo.source import open_source


def one_error_line(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and "cpuinfo" not in line]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("cnnzoo export: error: ")
    return lines[0]


def test_cli_exports_and_verifies(capsys, tmp_path):
    out = tmp_path / "l.onnx"
    assert main(["export", "lenet5", "--verify", "--dynamic-batch", "--out", str(out)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0].startswith(f"wrote {out} ")
        and "onnx fp32  lenet5 1x32x32 (dynamic batch)" in lines[0]
    )
    assert len(lines) == 3 and all("verify (ONNX Runtime vs PyTorch eager" in x for x in lines[1:])


def test_default_outputs(lenet5_checkpoint, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    plain = open_source("resnet20")
    assert plain.input == (3, 32, 32)
    assert output_path(ExportConfig("resnet20", quantize="int8", calibration="x"), plain) == Path(
        "resnet20-int8.onnx"
    )
    assert output_path(ExportConfig("resnet20", format="executorch"), plain) == Path("resnet20.pte")
    ckpt = open_source(str(lenet5_checkpoint))
    side = torch.load(lenet5_checkpoint, weights_only=True)["dataset"]["input_size"]
    assert ckpt.input == (1, side, side)
    assert output_path(ExportConfig(str(lenet5_checkpoint)), ckpt) == lenet5_checkpoint.with_name(
        "best.onnx"
    )


def test_weights_file(tmp_path):
    model = cnnzoo.registry.create_model("lenet5")
    torch.save(model.state_dict(), tmp_path / "w.pth")
    result = export_model(
        ExportConfig(
            "lenet5", weights=str(tmp_path / "w.pth"), verify=True, out=str(tmp_path / "w.onnx")
        )
    )
    assert result["verify"][0]["max_rel_diff"] < 1e-4


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["lenet5", "--format", "tflite"], "unknown format 'tflite'; choose from onnx, executorch"),
        (["lenet5", "--quantize", "int8"], "--quantize int8 needs calibration images"),
        (["lenet5", "--quantize", "int4", "--calibration", "mnist"], "unknown quantization"),
        (["lenet5", "--format", "executorch", "--dynamic-batch"], "for --format onnx only"),
        (["lenet5", "--input", "1,x"], "--input must be C,H,W"),
        (["lenet5", "--input", "3,32,32"], "lenet5: expected 1 input channel(s), got 3"),
        (["lenet55"], "lenet5"),
    ],
)
def test_bad_input_is_one_line(capsys, argv, expected):
    assert expected in one_error_line(capsys, ["export", *argv])


def test_bad_weights_file(capsys, tmp_path):
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    assert "bad.pth" in one_error_line(capsys, ["export", "lenet5", "--weights", str(bad)])
    other = tmp_path / "other.pth"
    torch.save(cnnzoo.registry.create_model("resnet20").state_dict(), other)
    line = one_error_line(capsys, ["export", "lenet5", "--weights", str(other)])
    assert "does not fit the model" in line


def test_missing_package(capsys, monkeypatch):
    real = errors.importlib.import_module

    def fake(name, *args):
        if name.split(".")[0] == "onnxscript":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args)

    monkeypatch.setattr(errors.importlib, "import_module", fake)
    line = one_error_line(capsys, ["export", "lenet5"])
    assert line.endswith("needs the 'onnxscript' package: pip install 'cnnzoo[export]'")


@torch.library.custom_op("cnnzoo_test::mystery", mutates_args=())
def mystery(x: torch.Tensor) -> torch.Tensor:
    return x.clone()


@mystery.register_fake
def _(x):
    return torch.empty_like(x)


class Mystery(nn.Module):
    """A model with an operation no exporter knows."""

    model_name = "mystery_net"
    in_chans = 1

    def forward_features(self, x):
        return mystery(x)

    def forward_head(self, x):
        return x.flatten(1)

    def check_input(self, x):
        pass

    def forward(self, x):
        return self.forward_head(self.forward_features(x))


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        (
            "onnx",
            "torch.onnx (dynamo) cannot export mystery_net: unsupported operation "
            "cnnzoo_test.mystery.default",
        ),
        ("executorch", "cannot export mystery_net: unsupported operation cnnzoo_test.mystery"),
    ],
)
def test_unsupported_operation_is_named(capsys, monkeypatch, fmt, expected, tmp_path):
    monkeypatch.setattr(cnnzoo.source, "create_model", lambda name, **kw: Mystery())
    line = one_error_line(
        capsys, ["export", "lenet5", "--format", fmt, "--out", str(tmp_path / "m")]
    )
    assert line.endswith(expected)


def test_subprocess_prints_one_line():
    done = subprocess.run(
        [sys.executable, "-m", "cnnzoo", "export", "lenet5", "--format", "x"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "cnnzoo export: error: unknown format 'x'; choose from onnx, executorch"
    ]

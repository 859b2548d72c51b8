"""ONNX export: every model of the zoo runs in ONNX Runtime like PyTorch eager (fp32)."""

from __future__ import annotations

import time

import onnx
import pytest
import torch
from exportutil import TOLERANCE, relative_error, small_input

import cnnzoo
from cnnzoo.export.onnx import export_onnx, onnx_batch, onnx_runner

# A representative subset for the default suite: a fixed-input LeNet, a residual net, a
# depthwise-separable net, an Inception net with auxiliary heads, grouped convolutions with a
# channel shuffle.
SUBSET = {
    "lenet5": None,
    "resnet18": 32,
    "mobilenet_v1": 32,
    "googlenet": None,
    "shufflenet_v1_g3": None,
}
# nasnet_a_mobile takes ~20 s (~40 s on a busy machine): slow, with every other model below.


def export_and_compare(name: str, tmp_path, side: int | None = None, *, dynamic: bool = False):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name).eval()
    c, h, w = small_input(model)
    if side is not None:
        h = w = side
    example = torch.randn(1, c, h, w)
    start = time.perf_counter()
    path = export_onnx(model, example, tmp_path / f"{name}.onnx", dynamic_batch=dynamic)
    seconds = time.perf_counter() - start
    run = onnx_runner(path, threads=1)
    with torch.no_grad():
        error = relative_error(run(example), model(example))
    return path, error, seconds, (c, h, w)


@pytest.mark.parametrize("name", SUBSET)
def test_subset_matches_eager(name, tmp_path):
    path, error, _, _ = export_and_compare(name, tmp_path, SUBSET[name])
    assert error < TOLERANCE
    onnx.checker.check_model(str(path))
    assert onnx_batch(path) == 1


# lenet5_original: ONNX Runtime is off by 1.4e-4 of the largest |logit| (0.012 on RBF logits of
# about -83), against float64 PyTorch too (PyTorch fp32: 8e-8). Its output is the squared distance
# to fixed prototypes of an 84-d code made by five tanh layers; ONNX Runtime's tanh (MLAS) is ~7x
# less exact than PyTorch's (2e-7 vs 3e-8 abs), and the distances amplify it.
ORT_LESS_EXACT = {"lenet5_original"}


@pytest.mark.slow
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason="ONNX Runtime's tanh, see ORT_LESS_EXACT"))
        if n in ORT_LESS_EXACT
        else n
        for n in cnnzoo.list_models()
    ],
)
def test_every_model_matches_eager(name, tmp_path, record_property):
    _, error, seconds, size = export_and_compare(name, tmp_path)
    record_property("export_s", seconds)
    print(f"\n{name} {size}: export {seconds:.1f} s, relative error {error:.2e}")
    assert error < TOLERANCE


def test_dynamic_batch(tmp_path):
    model = cnnzoo.create_model("resnet20").eval()
    path = export_onnx(model, torch.randn(1, 3, 32, 32), tmp_path / "r.onnx", dynamic_batch=True)
    assert onnx_batch(path) is None
    run = onnx_runner(path)
    x = torch.randn(5, 3, 32, 32)
    with torch.no_grad():
        assert relative_error(run(x), model(x)) < TOLERANCE


def test_written_atomically(tmp_path):
    model = cnnzoo.create_model("lenet5").eval()
    export_onnx(model, torch.randn(1, 1, 32, 32), tmp_path / "sub" / "l.onnx")
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["l.onnx"]


def test_feature_maps_are_extra_outputs_equal_to_the_modules_outputs(tmp_path):
    from cnnzoo.inside.layers import caught

    torch.manual_seed(0)
    model = cnnzoo.create_model("resnet20").eval()
    x = torch.randn(1, 3, 32, 32)
    names = ["layer1", "layer3.2"]
    path = export_onnx(model, x, tmp_path / "r.onnx", feature_maps=names)
    graph = onnx.load(str(path)).graph
    assert [o.name for o in graph.output] == ["logits", "map:layer1", "map:layer3.2"]
    import onnxruntime

    outputs = onnxruntime.InferenceSession(str(path)).run(None, {"input": x.numpy()})
    with torch.no_grad(), caught(model, names) as maps:
        logits = model(x)
    assert relative_error(torch.from_numpy(outputs[0]), logits) < TOLERANCE
    for name, value in zip(names, outputs[1:], strict=True):
        assert value.shape == tuple(maps[name].shape)
        assert relative_error(torch.from_numpy(value), maps[name]) < TOLERANCE
    assert not any(m._forward_hooks for m in model.modules())  # the hooks are gone


def test_an_unknown_feature_map_is_one_line(tmp_path):
    model = cnnzoo.create_model("lenet5").eval()
    with pytest.raises(ValueError, match=r"--feature-maps: 'layer9' is not a module of lenet5"):
        export_onnx(model, torch.randn(1, 1, 32, 32), tmp_path / "l.onnx", feature_maps=["layer9"])
    assert not (tmp_path / "l.onnx").exists()

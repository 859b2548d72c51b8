"""Tests run over every registered model: reference sizes, training smoke test, input checks,
torchvision compatibility (the forward/head contract is in test_contract.py)."""

from __future__ import annotations

import pytest
import torch
import torchvision

import cnnzoo
from cnnzoo.models.base import AuxOutputs
from cnnzoo.reference import reference_models

ALL = cnnzoo.list_models()
REFERENCE = {row.name: row for row in reference_models()}
TORCHVISION = [n for n in ALL if cnnzoo.get_model_spec(n).torchvision_name]
# Over 80M parameters: building one at full size on the CPU takes about a second, and a
# training step or a second (torchvision) copy as much again, so those runs are marked slow
# (``-m slow``). The default run still builds each of them once (test_contract.py, eval mode),
# checks their torchvision names and shapes on the meta device below, and trains a smaller
# network of the same code (wide_resnet50_2, resnext101_32x4d, nasnet_a_mobile; for VGG the
# AlexNet head and the convolutions of the other families).
HEAVY = {
    *cnnzoo.list_models("vgg*"),
    "wide_resnet101_2",
    "resnext101_32x8d",
    "resnext101_64x4d",
    "nasnet_a_large",
}


def slow_if_heavy(names: list[str]) -> list:
    """``names`` as parameters, the :data:`HEAVY` ones marked slow."""
    return [pytest.param(n, marks=pytest.mark.slow) if n in HEAVY else n for n in names]


def small_size(model: cnnzoo.ZooModel) -> int:
    """A small input side the model accepts."""
    if model.fixed_input_sizes:
        return max(model.fixed_input_sizes)
    return max(model.min_input_size, 32)


def test_every_reference_model_is_registered():
    assert set(ALL) >= set(REFERENCE), sorted(set(REFERENCE) - set(ALL))


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_parameter_count_matches_reference(name):
    row = REFERENCE[name]
    with torch.device("meta"):
        model = cnnzoo.create_model(
            name, num_classes=row.num_classes, in_chans=row.input_size[0], **row.kwargs
        )
    params = sum(p.numel() for p in model.parameters())
    assert params == pytest.approx(row.params, rel=row.params_tolerance, abs=0), (
        f"{name}: {params:,} parameters, reference {row.params:,} ({row.source})"
    )


@pytest.mark.parametrize("name", slow_if_heavy(ALL))
def test_forward_backward_small_input(name):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name, num_classes=7, in_chans=2)
    model.train()
    side = small_size(model)
    out = model(torch.randn(2, 2, side, side))
    outputs = (out.logits, *out.aux_logits) if isinstance(out, AuxOutputs) else (out,)
    for o in outputs:
        assert o.shape == (2, 7)
        assert torch.isfinite(o).all()
    sum(o.sum() for o in outputs).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"no gradient for {missing[:5]}"
    model.eval()
    with torch.inference_mode():
        logits = model(torch.randn(1, 2, side, side))
    assert logits.shape == (1, 7)


@pytest.mark.parametrize("name", ALL)
def test_smallest_input_is_exact_and_checked(name):
    """``min_input_size`` works, one pixel less fails inside PyTorch; forward says so clearly."""
    with torch.device("meta"):
        model = cnnzoo.create_model(name).eval()
    chans = model.in_chans
    if model.fixed_input_sizes:
        for side in model.fixed_input_sizes:
            assert model(torch.empty(1, chans, side, side, device="meta")).shape == (
                1,
                model.num_classes,
            )
        side = max(model.fixed_input_sizes) + 1
        with pytest.raises(ValueError, match=name):
            model(torch.empty(1, chans, side, side, device="meta"))
        return
    side = model.min_input_size
    assert model(torch.empty(1, chans, side, side, device="meta")).shape == (1, model.num_classes)
    if side == 1:
        return
    too_small = torch.empty(1, chans, side - 1, side - 1, device="meta")
    with pytest.raises(ValueError, match=rf"{name}.*smallest input it accepts is {chans}x{side}x"):
        model(too_small)
    with pytest.raises(RuntimeError):
        model.forward_head(model.forward_features(too_small))


def test_wrong_channel_count_is_named():
    model = cnnzoo.create_model("resnet18", in_chans=1)
    with pytest.raises(ValueError, match=r"resnet18: expected 1 input channel"):
        model(torch.randn(1, 3, 64, 64))


@pytest.mark.parametrize("name", TORCHVISION)
def test_torchvision_state_dict_names_and_shapes(name):
    """torchvision's checkpoints load with ``strict=True``: checked on the meta device."""
    spec = cnnzoo.get_model_spec(name)
    with torch.device("meta"):
        reference = torchvision.models.get_model(spec.torchvision_name, weights=None, num_classes=7)
        ours = cnnzoo.create_model(name, num_classes=7)
    shapes = {key: tuple(value.shape) for key, value in ours.state_dict().items()}
    assert shapes == {key: tuple(value.shape) for key, value in reference.state_dict().items()}


@pytest.mark.parametrize("name", slow_if_heavy(TORCHVISION))
def test_torchvision_weights_load_and_agree(name):
    spec = cnnzoo.get_model_spec(name)
    torch.manual_seed(0)
    reference = torchvision.models.get_model(spec.torchvision_name, weights=None, num_classes=7)
    ours = cnnzoo.create_model(name, num_classes=7)
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.eval()
    ours.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        diff = (ours(x) - reference(x)).abs().max().item()
    assert diff <= 1e-5


@pytest.mark.parametrize("name", sorted(n for n, row in REFERENCE.items() if row.macs is not None))
def test_macs_and_depth_match_reference(name):
    from cnnzoo.analysis import profile

    row = REFERENCE[name]
    kwargs = {"num_classes": row.num_classes, **row.kwargs}
    totals = profile(name, row.input_size, model_kwargs=kwargs).totals
    assert totals.macs_conv_linear == pytest.approx(row.macs, rel=row.macs_tolerance, abs=0)
    assert totals.depth == row.depth

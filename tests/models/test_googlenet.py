"""GoogLeNet family: Table 1 shapes and widths, the paper's 5x5 branches, auxiliary heads."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.models.base import AuxOutputs
from cnnzoo.models.googlenet import TABLE1, GoogLeNet, googlenet, googlenet_original

BUILDERS = [googlenet, googlenet_original]

# Table 1 of the paper, restated here as the oracle:
# #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj, output depth.
PAPER_TABLE1 = {
    "inception3a": (64, 96, 128, 16, 32, 32, 256),
    "inception3b": (128, 128, 192, 32, 96, 64, 480),
    "inception4a": (192, 96, 208, 16, 48, 64, 512),
    "inception4b": (160, 112, 224, 24, 64, 64, 512),
    "inception4c": (128, 128, 256, 24, 64, 64, 512),
    "inception4d": (112, 144, 288, 32, 64, 64, 528),
    "inception4e": (256, 160, 320, 32, 128, 128, 832),
    "inception5a": (256, 160, 320, 32, 128, 128, 832),
    "inception5b": (384, 192, 384, 48, 128, 128, 1024),
}

# Table 1 "output size" column at 224 x 224: (channels, height = width) after each layer.
STAGE_SHAPES = {
    "conv1": (64, 112),
    "maxpool1": (64, 56),
    "conv3": (192, 56),
    "maxpool2": (192, 28),
    "inception3a": (256, 28),
    "inception3b": (480, 28),
    "maxpool3": (480, 14),
    "inception4a": (512, 14),
    "inception4b": (512, 14),
    "inception4c": (512, 14),
    "inception4d": (528, 14),
    "inception4e": (832, 14),
    "maxpool4": (832, 7),
    "inception5a": (832, 7),
    "inception5b": (1024, 7),
}


def stage_shapes(model: nn.Module, size: int) -> dict[str, tuple[int, ...]]:
    """Output shape (without batch) of each named stage for a 2 x 3 x size x size input."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = [
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))
        )
        for name in STAGE_SHAPES
    ]
    with torch.no_grad():
        model(torch.empty(2, 3, size, size, device="meta"))
    for handle in handles:
        handle.remove()
    return shapes


@pytest.mark.parametrize("builder", BUILDERS)
def test_stage_shapes_at_224(builder):
    with torch.device("meta"):
        model = builder(aux_logits=False).eval()
    shapes = stage_shapes(model, 224)
    assert shapes == {name: (c, s, s) for name, (c, s) in STAGE_SHAPES.items()}
    feats = model.forward_features(torch.empty(2, 3, 224, 224, device="meta"))
    assert tuple(feats.shape) == (2, 1024, 7, 7)


@pytest.mark.parametrize("builder", BUILDERS)
def test_inception_branch_widths(builder):
    with torch.device("meta"):
        model = builder(aux_logits=False)
    for name, (c1, c3r, c3, c5r, c5, proj, _) in PAPER_TABLE1.items():
        block = getattr(model, name)
        widths = (
            block.branch1.conv.out_channels,
            block.branch2[0].conv.out_channels,
            block.branch2[1].conv.out_channels,
            block.branch3[0].conv.out_channels,
            block.branch3[1].conv.out_channels,
            block.branch4[1].conv.out_channels,
        )
        assert widths == (c1, c3r, c3, c5r, c5, proj), name


def test_original_has_true_5x5_branches_and_no_batch_norm():
    with torch.device("meta"):
        paper, port = googlenet_original(), googlenet()
    for name in TABLE1:
        conv = getattr(paper, name).branch3[1].conv
        assert conv.kernel_size == (5, 5) and conv.padding == (2, 2), name
        assert getattr(port, name).branch3[1].conv.kernel_size == (3, 3), name
    assert not any(isinstance(m, nn.BatchNorm2d) for m in paper.modules())
    assert all(m.bias is not None for m in paper.modules() if isinstance(m, nn.Conv2d))
    assert all(m.eps == 0.001 for m in port.modules() if isinstance(m, nn.BatchNorm2d))


def test_original_stem_and_head_follow_fig3():
    with torch.device("meta"):
        model = googlenet_original()
    # Fig. 3: pool1 -> LRN -> 1x1 -> 3x3 -> LRN -> pool2.
    assert model.trunk[:7] == ("conv1", "maxpool1", "lrn1", "conv2", "conv3", "lrn2", "maxpool2")
    assert isinstance(model.lrn1, nn.LocalResponseNorm)
    assert model.maxpool4.kernel_size == 3  # Table 1: max pool 3x3/2
    assert model.dropout.p == 0.4  # Table 1: dropout (40%)
    for aux, in_channels in (("aux1", 512), ("aux2", 528)):  # Sec. 5: on (4a) and (4d)
        head = getattr(model, aux)
        assert head.conv.conv.in_channels == in_channels
        assert head.conv.conv.out_channels == 128
        assert (head.fc1.in_features, head.fc1.out_features) == (128 * 4 * 4, 1024)
        assert head.dropout.p == 0.7


@pytest.mark.parametrize("builder", BUILDERS)
def test_aux_outputs_in_training_only(builder):
    torch.manual_seed(0)
    model = builder(num_classes=7)
    x = torch.randn(2, 3, 64, 64)
    calls = []
    model.aux1.register_forward_hook(lambda *_: calls.append("aux1"))
    model.aux2.register_forward_hook(lambda *_: calls.append("aux2"))
    out = model.train()(x)
    assert isinstance(out, AuxOutputs) and len(out.aux_logits) == 2
    assert calls == ["aux1", "aux2"]  # shallowest head first: on (4a), then on (4d)
    assert [tuple(t.shape) for t in (out.logits, *out.aux_logits)] == [(2, 7)] * 3
    (out.logits + sum(out.aux_logits)).sum().backward()
    assert all(p.grad is not None for p in model.parameters())

    calls.clear()
    with torch.no_grad():
        logits = model.eval()(x)
    assert isinstance(logits, torch.Tensor) and logits.shape == (2, 7)
    assert calls == []  # the auxiliary heads are ignored at inference (Sec. 5)


@pytest.mark.parametrize("builder", BUILDERS)
def test_without_aux_logits(builder):
    model = builder(num_classes=7, aux_logits=False).train()
    assert model.aux1 is None and model.aux2 is None
    assert not any(name.startswith("aux") for name in model.state_dict())
    out = model(torch.randn(2, 3, 32, 32))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 7)


@pytest.mark.parametrize("builder", BUILDERS)
def test_reset_classifier_replaces_main_and_auxiliary_outputs(builder):
    torch.manual_seed(0)
    model = builder(num_classes=7)
    outputs = ("fc.", "aux1.fc2.", "aux2.fc2.")  # the final layers reset_classifier replaces
    trunk = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith(outputs)}
    model.reset_classifier(5)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in trunk.items())  # aux1.fc1 kept, too
    assert [k for k in state if k.startswith(outputs)] == [
        "aux1.fc2.weight",
        "aux1.fc2.bias",
        "aux2.fc2.weight",
        "aux2.fc2.bias",
        "fc.weight",
        "fc.bias",
    ]
    out = model.train()(torch.randn(2, 3, 64, 64))
    assert [tuple(t.shape) for t in (out.logits, *out.aux_logits)] == [(2, 5)] * 3


def test_param_counts_with_aux_heads():
    with torch.device("meta"):
        counts = {
            aux: sum(p.numel() for p in googlenet(aux_logits=aux).parameters())
            for aux in (False, True)
        }
    assert counts == {False: 6_624_904, True: 13_004_888}  # torchvision 0.29.1


def test_transform_input_matches_torchvision():
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    reference = torchvision.models.googlenet(
        aux_logits=True, transform_input=True, init_weights=True
    ).eval()
    model = googlenet(transform_input=True).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert (model(x) - reference(x)).abs().max() <= 1e-5


def test_transform_input_needs_three_channels():
    with pytest.raises(ValueError, match="transform_input"):
        googlenet(in_chans=1, transform_input=True)


def test_one_inception_class_for_both_layouts():
    with torch.device("meta"):
        models: list[GoogLeNet] = [googlenet(), googlenet_original()]
    kinds = {type(getattr(m, name)) for m in models for name in TABLE1}
    assert len(kinds) == 1

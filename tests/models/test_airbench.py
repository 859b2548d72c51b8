"""The speed-run network of Jordan 2024: its layer sizes, where it pools, what it accepts."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.models.airbench import MIN_INPUT_SIZE, airbench94, airbench94_half


def block_params(c_in: int, c_out: int) -> int:
    """Two 3 x 3 convolutions without bias and two batch norms (scale and shift)."""
    return 9 * c_in * c_out + 9 * c_out * c_out + 2 * 2 * c_out


def expected_params(widths: tuple[int, int, int], in_chans: int = 3, classes: int = 10) -> int:
    stem = 4 * in_chans * 24 + 24  # 2 x 2 convolution to 24 channels, with bias
    chans = (24, *widths)
    blocks = sum(block_params(a, b) for a, b in itertools.pairwise(chans))
    return stem + blocks + widths[-1] * classes  # linear layer without bias


@pytest.mark.parametrize(
    ("builder", "widths", "params"),
    [(airbench94, (64, 256, 256), 1_972_792), (airbench94_half, (32, 128, 128), 498_104)],
)
def test_parameter_counts_follow_from_the_layout(builder, widths, params):
    model = builder()
    assert sum(p.numel() for p in model.parameters()) == expected_params(widths) == params
    gray = builder(in_chans=1, num_classes=7)
    assert sum(p.numel() for p in gray.parameters()) == expected_params(widths, 1, 7)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 7 and all(c.bias is None for c in convs[1:])
    assert convs[0].kernel_size == (2, 2) and convs[0].padding == (0, 0)
    assert model.fc.bias is None


@pytest.mark.parametrize(("side", "maps"), [(32, [31, 15, 7, 3]), (28, [27, 13, 6, 3])])
def test_every_block_pools_after_its_first_convolution(side, maps):
    model = airbench94_half(in_chans=1).eval()
    seen: dict[str, tuple[int, ...]] = {}
    watched = {"stem": model.stem}
    for name, block in model.blocks.named_children():
        watched[name] = block
        watched[f"{name}.conv2"] = block.conv2
    for name, module in watched.items():
        module.register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, (tuple(i[0].shape), tuple(o.shape)))
        )
    with torch.inference_mode():
        logits = model(torch.randn(2, 1, side, side))
    assert logits.shape == (2, 10)
    assert [seen[k][1][-1] for k in ("stem", "block1", "block2", "block3")] == maps
    for name, width in zip(("block1", "block2", "block3"), (32, 128, 128), strict=True):
        # the second convolution already sees the halved map, at the block's width
        assert seen[f"{name}.conv2"][0][1:] == (width, *seen[name][1][-2:])


def test_the_head_is_a_global_max_and_any_side_from_nine_up_is_accepted():
    model = airbench94_half().eval()
    features = torch.randn(2, 128, 3, 3)
    with torch.inference_mode():
        pooled = model.forward_head(features, pre_logits=True)
    assert torch.equal(pooled, features.amax(dim=(2, 3)))
    assert MIN_INPUT_SIZE == 9
    with torch.inference_mode():
        assert model(torch.randn(1, 3, 9, 9)).shape == (1, 10)
        assert model(torch.randn(1, 3, 64, 48)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"airbench94_half: input of 3x8x8 is too small"):
        cnnzoo.create_model("airbench94_half")(torch.randn(1, 3, 8, 8))


def test_registered_with_the_paper():
    spec = cnnzoo.get_model_spec("airbench94")
    assert (spec.family, spec.year, spec.input_size) == ("airbench", 2024, (3, 32, 32))
    assert "2404.00498" in spec.paper

import pytest
import torch
from torch import nn

import cnnzoo
from cnnzoo.bench.fold import fold_batchnorm

# One model per family (and the block variants that place batch norms differently), each at a
# small input: (name, side; None = the model's smallest accepted input).
CASES = [
    ("lenet5", 32),
    ("alexnet", 64),
    ("vgg11_bn", 32),
    ("resnet18", 64),
    ("resnet20", 32),
    ("preact_resnet18", 64),
    ("mobilenet_v1", 64),
    ("shufflenet_v1_g3", 64),
    ("shufflenet_v2_x1_0", 64),
    ("googlenet", 64),
    ("inception_v4", None),
    ("nasnet_a_mobile", 64),
]


def randomise_batchnorms(model: nn.Module, generator: torch.Generator) -> None:
    """Statistics and affine parameters away from the identity, so a wrong fold shows."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.rand(c, generator=generator) * 0.4 - 0.2)
            m.running_var.copy_(torch.rand(c, generator=generator) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(c, generator=generator) * 0.5 + 0.75)
            m.bias.data.copy_(torch.rand(c, generator=generator) * 0.4 - 0.2)


@pytest.mark.parametrize(("name", "side"), CASES)
def test_fold_keeps_outputs_and_removes_batchnorms(name, side):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name).eval()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        randomise_batchnorms(model, generator)
    side = side or model.min_input_size
    x = torch.randn(2, model.in_chans, side, side, generator=generator)
    folded = fold_batchnorm(model)
    with torch.no_grad():
        ref, out = model(x), folded(x)
    scale = max(1.0, ref.abs().max().item())  # deep nets with random statistics grow large logits
    assert (out - ref).abs().max().item() <= 1e-5 * scale
    left = sum(type(m) is nn.BatchNorm2d for m in folded.modules())
    assert folded.folded_batchnorms + left == folded.total_batchnorms
    assert sum(type(m) is nn.BatchNorm2d for m in model.modules()) == folded.total_batchnorms
    if name == "preact_resnet18":  # BN before the conv: only the conv -> BN pairs fold
        assert 0 < folded.folded_batchnorms < folded.total_batchnorms
    elif name in ("googlenet", "nasnet_a_mobile"):  # the auxiliary heads do not run in eval mode
        assert left <= 4
    else:
        assert left == 0


def test_fold_does_not_change_the_model():
    model = cnnzoo.create_model("resnet20").eval()
    before = sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    fold_batchnorm(model)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == before

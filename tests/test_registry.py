import pytest
import torch
import torchvision

import cnnzoo
from cnnzoo import registry
from cnnzoo.models.base import ModelSpec
from cnnzoo.registry import Registry, builder_options


def test_list_models_pattern():
    assert cnnzoo.list_models("vgg1?") == ["vgg11", "vgg13", "vgg16", "vgg19"]
    assert cnnzoo.list_models() == sorted(cnnzoo.list_models())


def test_unknown_name_lists_closest():
    with pytest.raises(ValueError, match=r"unknown model 'resnet51'.*closest names: .*resnet50"):
        cnnzoo.create_model("resnet51")


def test_duplicate_registration_raises():
    spec = cnnzoo.get_model_spec("vgg11")
    registry = Registry([spec])
    with pytest.raises(ValueError, match="registered twice"):
        registry.register(ModelSpec("vgg11", spec.builder, family="other", paper="-", year=0))


def test_unknown_option_names_model_option_and_accepted_ones():
    # vgg11(**kwargs) -> VGG: the options are VGG's optional parameters, closest match first.
    with pytest.raises(
        ValueError,
        match=r"^vgg11: unknown option 'dropot'; accepted: dropout, batch_norm, in_chans, "
        r"num_classes$",
    ):
        cnnzoo.create_model("vgg11", dropot=0.1)
    with pytest.raises(ValueError, match=r"^vgg11: unknown options 'no_such_option', 'bn'; "):
        cnnzoo.create_model("vgg11", no_such_option=3, bn=True)


def test_builder_options_read_from_signatures():
    # Builder keywords, then the class's optional parameters; NASNet's genotype has a default
    # and is an option, VGG's configuration table is required and is the builder's.
    assert builder_options(cnnzoo.get_model_spec("mobilenet_v1").builder) == (
        "width_mult",
        "separable",
        "depth_multiplier",
        "num_classes",
        "in_chans",
        "dropout",
    )
    assert "genotype" in builder_options(cnnzoo.get_model_spec("nasnet_a_mobile").builder)
    assert "config" not in builder_options(cnnzoo.get_model_spec("vgg11").builder)
    assert builder_options(unannotated) is None
    model = cnnzoo.create_model("mobilenet_v1_025", num_classes=3, dropout=0.5)
    assert model.dropout.p == 0.5


def unannotated(**kwargs):
    raise AssertionError("never called")


def broken(*, num_classes: int = 1000, in_chans: int = 3, depth: int = 2) -> torch.nn.Module:
    raise TypeError("a bug inside the builder")


def test_type_error_inside_a_builder_propagates(monkeypatch):
    spec = ModelSpec("broken", broken, family="test", paper="-", year=0)
    monkeypatch.setattr(registry, "REGISTRY", Registry([spec]))
    with pytest.raises(TypeError, match=r"^a bug inside the builder$"):
        cnnzoo.create_model("broken", depth=3)
    with pytest.raises(ValueError, match=r"^broken: unknown option 'dept'; accepted: depth, in_"):
        cnnzoo.create_model("broken", dept=3)


@pytest.mark.parametrize(
    ("name", "option"),
    [
        ("vgg16_bn", {"batch_norm": False}),
        ("mobilenet_v1_050", {"width_mult": 1.0}),
        ("resnext50_32x4d", {"cardinality": 8}),
        ("resnet20", {"stem": "imagenet"}),
    ],
)
def test_an_option_the_builder_sets_itself_is_a_clear_error(name, option):
    (key,) = option
    with pytest.raises(ValueError, match=rf"^{name}: option '{key}' is fixed by this model"):
        cnnzoo.create_model(name, **option)


def test_weights_from_torchvision_checkpoint_file(tmp_path):
    torch.manual_seed(0)
    reference = torchvision.models.vgg11(num_classes=4).eval()
    path = tmp_path / "vgg11.pth"
    torch.save(reference.state_dict(), path)
    model = cnnzoo.create_model("vgg11", num_classes=4, weights=path).eval()
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.allclose(model(x), reference(x), atol=1e-6)
    # a cnnzoo checkpoint with the state dict under "model"
    torch.save({"model": reference.state_dict(), "epoch": 3}, tmp_path / "ours.pt")
    cnnzoo.create_model("vgg11", num_classes=4, weights=tmp_path / "ours.pt")


def test_weights_that_do_not_fit_are_named(tmp_path):
    path = tmp_path / "vgg11.pth"
    torch.save(torchvision.models.vgg11(num_classes=4).state_dict(), path)
    with pytest.raises(ValueError, match=r"vgg11.pth.*shape mismatches.*classifier\.6\.weight"):
        cnnzoo.create_model("vgg11", num_classes=10, weights=path)
    with pytest.raises(ValueError, match="does not exist"):
        cnnzoo.create_model("vgg11", weights=tmp_path / "missing.pth")


class Payload:
    pass


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"model": Payload()}, path)
    with pytest.raises(ValueError, match="tensors-only checkpoint"):
        cnnzoo.create_model("vgg11", weights=path)

import pytest
import torch
import torchvision

import cnnzoo
from cnnzoo.models.base import ModelSpec
from cnnzoo.registry import Registry


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


def test_bad_option_is_a_value_error():
    with pytest.raises(ValueError, match="vgg11: bad option"):
        cnnzoo.create_model("vgg11", no_such_option=3)


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

"""timm's state dicts load into our models (strict) and then give timm's outputs."""

import pytest
import torch

import cnnzoo
from cnnzoo.models.timm_weights import TIMM_MAPPINGS

timm = pytest.importorskip("timm")  # the dev extra; nothing is downloaded (pretrained=False)


def timm_model(name: str, **kwargs) -> torch.nn.Module:
    """timm's network for our ``name``, with its random initialisation and our padding."""
    if name == "nasnet_a_large":
        # timm's nasnetalarge() forces pad_type="same"; "" is symmetric padding, as ours.
        return timm.models.nasnet.NASNetALarge(pad_type="", **kwargs)
    return timm.create_model(TIMM_MAPPINGS[name].timm_name, pretrained=False, **kwargs)


def randomize_vectors(model: torch.nn.Module) -> None:
    """Random batch-norm statistics, scales and biases (they are 0 or 1 at initialisation), so
    that loading any of them into the wrong layer changes the output."""
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for key, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or tensor.ndim != 1:
                continue
            if key.endswith(("running_var", "weight")):
                tensor.copy_(torch.rand(tensor.shape, generator=generator) + 0.5)
            else:
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=generator))


@pytest.mark.parametrize(
    ("name", "size", "kwargs"),
    [
        ("inception_v4", 75, {}),  # 75 x 75: the smallest input of both
        ("inception_resnet_v2", 75, {"num_classes": 10, "in_chans": 1}),
        ("mobilenet_v1", 32, {}),
        ("mobilenet_v1", 32, {"num_classes": 10, "in_chans": 1}),
        ("nasnet_a_large", 32, {"num_classes": 10}),
    ],
)
def test_timm_state_dict_loads_and_matches_timm(tmp_path, name, size, kwargs):
    torch.manual_seed(0)
    reference = timm_model(name, **kwargs).eval()
    randomize_vectors(reference)
    path = tmp_path / f"timm_{name}.pth"
    torch.save(reference.state_dict(), path)
    model = cnnzoo.create_model(name, weights=path, **kwargs).eval()
    x = torch.randn(1, kwargs.get("in_chans", 3), size, size)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), reference(x), atol=1e-5, rtol=1e-5)


def test_timm_rules_rename_every_key_to_ours():
    # One to one: no two timm keys land on the same name (strict loading checks the rest).
    state = timm_model("inception_resnet_v2").state_dict()
    renamed = TIMM_MAPPINGS["inception_resnet_v2"].convert(state)
    assert len(renamed) == len(state)
    assert renamed.keys() == cnnzoo.create_model("inception_resnet_v2").state_dict().keys()


def test_timm_file_that_does_not_fit_is_named(tmp_path):
    path = tmp_path / "timm_inception_v4.pth"
    torch.save(timm_model("inception_v4", num_classes=10).state_dict(), path)
    with pytest.raises(ValueError) as info:
        cnnzoo.create_model("inception_v4", weights=path)
    message = str(info.value)
    assert "\n" not in message
    assert "timm_inception_v4.pth' (read as timm 'inception_v4', renamed)" in message
    assert "shape mismatches (file vs model) (2): fc.weight (10, 1536) vs (1000, 1536)" in message


def test_another_networks_timm_file_is_not_renamed(tmp_path):
    path = tmp_path / "timm_mobilenetv1.pth"
    torch.save(timm_model("mobilenet_v1").state_dict(), path)
    with pytest.raises(ValueError, match=r"timm_mobilenetv1.pth' does not fit.*missing keys"):
        cnnzoo.create_model("inception_v4", weights=path)

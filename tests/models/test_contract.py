"""The contract of ``cnnzoo.models.base`` (forward = head(features), pre-logits, a new classifier)
checked on every registered model, each built once at full width on its smallest input."""

from __future__ import annotations

import pytest
import torch

import cnnzoo

ALL = cnnzoo.list_models()
NEW_CLASSES = 7
# The pre-logits vector where it is not the pooled feature map: LeNet-5's F6 (Sec. II-B), the fc7
# code of AlexNet / ZFNet (Sec. 3.5) and VGG (Sec. 2.1).
PRE_LOGITS_WIDTH = {"lenet": 84, "alexnet": 4096, "vgg": 4096}


def smallest_input(model: cnnzoo.ZooModel) -> torch.Tensor:
    """A batch of two images of the smallest size the model accepts."""
    sizes = model.fixed_input_sizes or (model.min_input_size,)
    return torch.randn(2, model.in_chans, min(sizes), min(sizes))


@pytest.mark.parametrize("name", ALL)
def test_model_contract(name):
    torch.manual_seed(0)
    model = cnnzoo.create_model(name).eval()
    x = smallest_input(model)
    with torch.inference_mode():
        logits = model(x)
        features = model.forward_features(x)
        assert torch.equal(model.forward_head(features), logits)
        pre_logits = model.forward_head(features, pre_logits=True)
    assert model.num_features > 0
    assert pre_logits.shape == (2, model.num_features)
    family = cnnzoo.get_model_spec(name).family
    assert model.num_features == PRE_LOGITS_WIDTH.get(family, model.num_features)

    before = {key: value.clone() for key, value in model.state_dict().items()}
    model.reset_classifier(NEW_CLASSES)
    after = model.state_dict()
    assert model.num_classes == NEW_CLASSES
    assert list(after) == list(before)  # no name changes: checkpoints still load
    replaced = [key for key in before if after[key].shape != before[key].shape]
    assert replaced, "reset_classifier replaced nothing"
    assert all(after[key].shape[0] == NEW_CLASSES for key in replaced), replaced
    changed = [
        key for key in before if key not in replaced and not torch.equal(after[key], before[key])
    ]
    assert not changed, f"reset_classifier changed {changed[:5]}"
    with torch.inference_mode():
        out = model(x)
    assert out.shape == (2, NEW_CLASSES)
    assert torch.isfinite(out).all()

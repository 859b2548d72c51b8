"""The one door to a model: a name, a checkpoint or a name with local weights becomes one
:class:`~cnnzoo.source.Source`, and every tool reads the same record from it."""

from __future__ import annotations

import pytest
import torch

from cnnzoo.checkpoint import CheckpointError
from cnnzoo.data import DatasetInfo
from cnnzoo.source import Logits, is_checkpoint, open_source, weights_preset

GREY = DatasetInfo("fake", 10, 1, 28, tuple("abcdefghij"), (0.5,), (0.25,))


def test_one_rule_tells_a_checkpoint_from_a_model_name(tmp_path):
    (tmp_path / "resnet18").write_bytes(b"")  # a file named like a model: the name still wins
    assert not is_checkpoint("resnet18")
    assert is_checkpoint("run/best.pt") and is_checkpoint("weights.pth")
    assert is_checkpoint(str(tmp_path / "resnet18"))  # a path to an existing file
    assert not is_checkpoint("resnet1000")  # neither: an unknown name, said by the registry


def test_a_checkpoint_brings_its_model_dataset_and_input(lenet5_checkpoint):
    source = open_source(str(lenet5_checkpoint))
    saved = torch.load(lenet5_checkpoint, weights_only=True)
    side = saved["dataset"]["input_size"]
    assert source.origin == "checkpoint" and source.trained and not source.model.training
    assert source.name == saved["model_name"] and source.input == (1, side, side)
    assert source.label == f"{lenet5_checkpoint.parent.name}/{lenet5_checkpoint.stem}"
    assert source.record == saved["dataset"] and source.preset() is None
    for key, value in source.model.state_dict().items():
        assert torch.equal(value, saved["model"][key]), key


def test_random_weights_are_seeded_and_built_for_a_dataset():
    a, b = open_source("lenet5", seed=3), open_source("lenet5", seed=3)
    assert a.origin == "random" and a.record is None and a.input == (1, 32, 32)
    pairs = zip(a.model.parameters(), b.model.parameters(), strict=True)
    assert all(torch.equal(x, y) for x, y in pairs)
    adapted = open_source("resnet20", dataset=GREY)
    assert adapted.input == (1, 28, 28) and adapted.model.num_classes == 10
    with pytest.raises(ValueError, match="rerun with --input-size"):
        open_source("vgg11", dataset=GREY, input=(1, 16, 16))


def test_weights_get_the_imagenet_record_and_their_preprocessing(tmp_path):
    torch.save(open_source("resnet18").model.state_dict(), tmp_path / "r18.pth")
    source = open_source("resnet18", weights=str(tmp_path / "r18.pth"))
    assert source.origin == "weights" and source.record["num_classes"] == 1000
    assert len(source.class_names()) == 1000 and source.class_names()[0] == "tench"
    preset = source.preset()
    assert (preset.crop, preset.resize, preset.interpolation) == (224, 256, "bilinear")
    timm_only = weights_preset("inception_v4")  # no torchvision network: timm's preprocessing
    assert (timm_only.crop, timm_only.resize, timm_only.interpolation) == (299, 341, "bicubic")
    assert timm_only.mean == (0.5, 0.5, 0.5)


def test_logits_are_the_contract_without_the_input_check():
    model = open_source("lenet5").model
    x = torch.randn(2, 1, 32, 32)
    assert torch.equal(Logits(model)(x), model(x))


@pytest.mark.parametrize(
    ("text", "weights", "message"),
    [
        ("lenet6", None, "unknown model 'lenet6'"),
        ("no/such.pt", None, "does not exist"),
        ("resnet18", "no/such.pth", "does not exist"),
    ],
)
def test_bad_sources_are_one_line(text, weights, message):
    with pytest.raises(ValueError, match=message) as caught:
        open_source(text, weights=weights)
    assert "\n" not in str(caught.value)


def test_weights_with_a_checkpoint_are_refused(lenet5_checkpoint):
    with pytest.raises(ValueError, match="--weights is for a model name"):
        open_source(str(lenet5_checkpoint), weights="x.pth")
    with pytest.raises(CheckpointError, match="not a cnnzoo checkpoint"):
        torch.save({"model": {}}, lenet5_checkpoint.with_name("plain.pt"))
        open_source(str(lenet5_checkpoint.with_name("plain.pt")))

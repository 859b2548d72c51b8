"""Evaluating published ImageNet weights: a small folder in the ILSVRC-2012 layout (real JPEG files,
the devkit's labels in torchvision's ``meta.bin``) is preprocessed exactly as torchvision's (or
timm's) reference transforms do, and the model gives the logits of torchvision's (timm's) own
network with the same weights."""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from cnnzoo.cli import main
from cnnzoo.data import load_dataset
from cnnzoo.data.base import DataError
from cnnzoo.source import open_source
from fakedata import write_ilsvrc


@pytest.fixture(scope="module")
def ilsvrc(tmp_path_factory):
    root = tmp_path_factory.mktemp("ilsvrc")
    return root, write_ilsvrc(root)


def test_resnet50_weights_are_preprocessed_and_run_as_torchvision_does(ilsvrc, tmp_path, capsys):
    import torchvision

    root, images = ilsvrc
    torch.manual_seed(0)
    reference = torchvision.models.resnet50().eval()
    torch.save(reference.state_dict(), tmp_path / "resnet50.pth")
    source = open_source("resnet50", weights=str(tmp_path / "resnet50.pth"))
    data = load_dataset("imagenet", data_dir=root, preset=source.preset())
    transform = torchvision.models.ResNet50_Weights.IMAGENET1K_V1.transforms()
    assert data.info.num_classes == 1000 and len(data.test) == len(images)
    batch, expected = [], []
    for index, (path, label) in enumerate(sorted(images)):
        tensor, got_label = data.test[index]
        want = transform(Image.open(path).convert("RGB"))
        assert tensor.shape == (3, 224, 224) and got_label == label
        assert torch.equal(tensor, want), path
        batch.append(tensor)
        expected.append(label)
    x = torch.stack(batch)
    with torch.no_grad():
        ours, theirs = source.model(x), reference(x)
    assert torch.equal(ours, theirs)

    weights = ["--weights", str(tmp_path / "resnet50.pth")]
    data_flags = ["--dataset", "imagenet", "--data-dir", str(root)]
    out = ["--format", "json", "--out", str(tmp_path / "confusion.png")]
    assert main(["eval", "resnet50", *weights, *data_flags, *out]) == 0
    result = json.loads(capsys.readouterr().out)
    top1 = (theirs.argmax(1) == torch.tensor(expected)).float().mean().item()
    top5 = (theirs.topk(5).indices == torch.tensor(expected)[:, None]).any(1).float().mean()
    assert result["count"] == len(images)
    assert result["top1"] == pytest.approx(top1) and result["top5"] == pytest.approx(top5.item())
    assert (tmp_path / "confusion.png").stat().st_size > 0


def test_inception_v4_takes_timms_weights_at_299_with_timms_preprocessing(ilsvrc, tmp_path):
    timm = pytest.importorskip("timm")
    root, images = ilsvrc
    torch.manual_seed(0)
    reference = timm.create_model("inception_v4").eval()
    torch.save(reference.state_dict(), tmp_path / "inception_v4.pth")
    source = open_source("inception_v4", weights=str(tmp_path / "inception_v4.pth"))
    data = load_dataset("imagenet", data_dir=root, preset=source.preset())
    config = timm.data.resolve_data_config({}, model=reference)
    transform = timm.data.create_transform(**config)
    path, label = sorted(images)[0]
    tensor, got_label = data.test[0]
    assert tensor.shape == (3, 299, 299) and got_label == label
    assert torch.equal(tensor, transform(Image.open(path).convert("RGB")))
    with torch.no_grad():
        assert torch.equal(source.model(tensor[None]), reference(tensor[None]))


def test_a_folder_that_is_not_a_class_of_the_devkit_is_named(tmp_path):
    write_ilsvrc(tmp_path)
    (tmp_path / "val" / "n99999999").mkdir()
    with pytest.raises(DataError, match="n99999999: not a WordNet id of the devkit"):
        load_dataset("imagenet", data_dir=tmp_path)


@pytest.mark.parametrize(
    ("remove", "message"),
    [
        ("meta.bin", "holds neither meta.bin nor ILSVRC2012_devkit_t12.tar.gz"),
        ("val", "holds neither val/ nor ILSVRC2012_img_val.tar"),
    ],
)
def test_missing_parts_of_the_layout_are_named(tmp_path, remove, message):
    import shutil

    write_ilsvrc(tmp_path)
    target = tmp_path / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(DataError, match=message):
        load_dataset("imagenet", data_dir=tmp_path)


def test_a_model_name_without_weights_is_refused_in_one_line(capsys):
    assert main(["eval", "resnet50"]) == 2
    err = capsys.readouterr().err
    assert "give its weights" in err and len(err.strip().splitlines()) == 1

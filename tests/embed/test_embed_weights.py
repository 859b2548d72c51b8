"""``cnnzoo embed MODEL --weights W``: published ImageNet weights embed ILSVRC-2012 images as their
evaluation preprocesses them, and a map made with weights takes new images only with them."""

from __future__ import annotations

import json

import torch
import torchvision

from cnnzoo.cli import main
from fakedata import write_ilsvrc


def test_weights_embed_imagenet_and_keep_their_maps(tmp_path, capsys):
    root = tmp_path / "ilsvrc"
    write_ilsvrc(root, picked={3: 4, 517: 4, 998: 4})
    torch.manual_seed(0)
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "r18.pth")
    weights = ["--weights", str(tmp_path / "r18.pth")]
    data = ["--dataset", "imagenet", "--data-dir", str(root)]
    out = tmp_path / "map"
    argv = ["embed", "resnet18", *weights, *data, "--n", "all", "--perplexity", "3"]
    assert main([*argv, "--out", str(out)]) == 0, capsys.readouterr().err
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == "resnet18 (r18.pth)" and summary["trained"]
    assert summary["n"] == 12 and summary["input_size"] == 224
    capsys.readouterr()
    add = ["embed", "resnet18", *data, "--add-to", str(out), "--n", "2", "--split", "test"]
    assert main(add) == 2  # the map's network is the weights', not a random resnet18
    err = capsys.readouterr().err
    assert "was made with resnet18 (r18.pth), not resnet18 (untrained)" in err

"""``cnnzoo inspect``: the layers it names, the top-9 images against a brute-force pass, the crops
against the receptive field (pixels outside cannot move the activation, pixels inside can),
Grad-CAM against captum's, the output folder and its reader, and bad input in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cnnzoo.analysis.report import FieldDim, ReceptiveField
from cnnzoo.inside.layers import caught, choose_layers, find_layers, stage_ends
from cnnzoo.inside.topk import Box, crop, field_box, field_span
from cnnzoo.inside.views import VIEWS, read_folder, read_views
from cnnzoo.registry import create_model
from cnnzoo.source import open_source


def fake_test_inputs(checkpoint: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """The checkpoint's test images normalised here by hand (not through the batch stream)."""
    from cnnzoo.data import load_dataset

    record = open_source(str(checkpoint)).record
    test = load_dataset(record["name"], data_dir=record["data_dir"]).test
    mean = torch.tensor(record["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(record["std"]).view(1, -1, 1, 1)
    return (test.images.float() / 255 - mean) / std, test.labels


def brute_force_top(model, layer: str, inputs: torch.Tensor, k: int = 9) -> list[list[tuple]]:
    """Per channel, the ``k`` images with the largest activation anywhere in the map, by a plain
    loop over single images: ``(value, image, row, col)``, ties to the lower image index."""
    best: list[list[tuple]] = []
    with torch.no_grad(), caught(model, [layer]) as out:
        maps = []
        for image in inputs:
            model(image[None])
            maps.append(out[layer][0])
    for c in range(maps[0].shape[0]):
        entries = []
        for i, fmap in enumerate(maps):
            flat = fmap[c].flatten().tolist()
            value = max(flat)
            where = flat.index(value)
            entries.append((value, i, where // fmap.shape[2], where % fmap.shape[2]))
        entries.sort(key=lambda e: (-e[0], e[1]))
        best.append(entries[:k])
    return best


def test_default_layers_are_the_stage_ends():
    lenet = create_model("lenet5", in_chans=1, num_classes=10)
    layers = find_layers(lenet, (1, 28, 28))
    ends = stage_ends(lenet, layers)
    assert [layer.name for layer in ends] == [
        "features.act1",
        "features.s2",
        "features.act3",
        "features.s4",
        "features.act5",
    ]
    assert [layer.shape for layer in ends][-1] == (120, 1, 1)
    resnet = create_model("resnet20", in_chans=1, num_classes=10)
    layers = find_layers(resnet, (1, 28, 28))
    assert [layer.name for layer in stage_ends(resnet, layers)] == ["layer1", "layer2", "layer3"]
    names = {layer.name for layer in layers}
    # a module that runs twice per pass (the block's ReLU) is not a layer; a global pool is not
    assert "layer1.0.relu" not in names and "avgpool" not in names
    assert {"conv1", "layer2.0.conv1", "layer2.0"} <= names
    by_name = {layer.name: layer for layer in layers}
    assert by_name["layer3"].field.h == FieldDim(81, 4, 0.5)  # as `cnnzoo summary` says


def test_unknown_layer_lists_the_layers():
    resnet = create_model("resnet20", in_chans=1, num_classes=10)
    layers = find_layers(resnet, (1, 28, 28))
    with pytest.raises(ValueError) as err:
        choose_layers(("layer4",), layers)
    text = str(err.value)
    assert "\n" not in text and "'layer4' is not a layer" in text
    assert "layer1, " in text and "layer3" in text


def test_field_span_and_crop_padding():
    # a 5x5 convolution with padding 2: map position 0 sees input rows -2..2, clipped to 0..2
    assert field_span(FieldDim(5, 1, 0.5), 0, 28) == (0, 3, -2)
    assert field_span(FieldDim(5, 1, 0.5), 27, 28) == (25, 28, 25)
    assert field_span(FieldDim(14, 2, 7.0), 4, 28) == (8, 22, 8)
    box = field_box(ReceptiveField(FieldDim(5, 1, 0.5), FieldDim(5, 1, 0.5)), 0, 1, 28, 28)
    assert box == Box(0, 3, 0, 4, -2, -1, 5, 5)
    image = torch.arange(28 * 28, dtype=torch.float32).view(1, 28, 28)
    patch = crop(image, box, fill=-1.0)
    assert patch.shape == (1, 5, 5)
    assert (patch[:, :2] == -1).all() and (patch[:, :, :1] == -1).all()  # outside the image
    assert torch.equal(patch[0, 2:, 1:], image[0, 0:3, 0:4])


def test_top9_are_the_nine_highest_activations(lenet5_views, lenet5_checkpoint):
    source = open_source(str(lenet5_checkpoint))
    inputs, _ = fake_test_inputs(lenet5_checkpoint)
    assert lenet5_views["top_from"] == len(inputs) == 200
    for layer, channels in lenet5_views["top"].items():
        expected = brute_force_top(source.model, layer, inputs)
        assert len(channels) == len(expected)
        for got, want in zip(channels, expected, strict=True):
            assert got["images"] == [e[1] for e in want], (layer, got["channel"])
            assert got["positions"] == [[e[2], e[3]] for e in want]
            np.testing.assert_allclose(got["values"], [e[0] for e in want], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("which", "layer"),
    [
        ("lenet5", "features.act3"),
        ("lenet5", "features.s4"),
        ("resnet20", "layer1"),  # three residual blocks: a field of 15
        ("resnet20", "layer2.0"),  # a strided block with its projection shortcut: 21
    ],
)
def test_crop_is_the_receptive_field(which, layer, lenet5_checkpoint, resnet20_checkpoint):
    checkpoint = lenet5_checkpoint if which == "lenet5" else resnet20_checkpoint
    source = open_source(str(checkpoint))
    model, (_, height, width) = source.model, source.input
    inputs, _ = fake_test_inputs(lenet5_checkpoint)
    found = {found.name: found for found in find_layers(model, source.input)}[layer]
    g = torch.Generator().manual_seed(0)
    rows, cols = found.shape[1:]
    for image, (row, col) in ((inputs[0], (rows // 2, cols // 2)), (inputs[1], (0, cols - 1))):
        box = field_box(found.field, row, col, height, width)
        inside = torch.zeros(height, width, dtype=torch.bool)
        inside[box.top : box.bottom, box.left : box.right] = True
        assert 0 < inside.sum() < height * width  # the field is not the whole image here
        noise = 3 * torch.randn(image.shape, generator=g)

        def activations(x, row=row, col=col):
            with torch.no_grad(), caught(model, [layer]) as out:
                model(x[None])
            return out[layer][0, :, row, col]

        base = activations(image)
        outside = activations(torch.where(inside, image, image + noise))
        torch.testing.assert_close(outside, base, rtol=0, atol=1e-5)
        within = activations(torch.where(inside, image + noise, image))
        assert (within - base).abs().max() > 1e-2
        # tight: the field's outermost rows and columns that lie in the image matter too
        ring = inside.clone()
        ring[box.top + 1 : box.bottom - 1, box.left + 1 : box.right - 1] = False
        edge = activations(torch.where(ring, image + noise, image))
        assert (edge - base).abs().max() > 1e-3


def test_evidence_is_captums(lenet5_views, lenet5_checkpoint, resnet20_checkpoint):
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam, Saliency

    from cnnzoo.inside.evidence import IG_STEPS, grad_cam, saliency

    source = open_source(str(lenet5_checkpoint))
    inputs, _ = fake_test_inputs(lenet5_checkpoint)
    indices = [image["index"] for image in lenet5_views["images"]]
    targets = torch.tensor([image["top"][0]["index"] for image in lenet5_views["images"]])
    x = inputs[indices]
    layer = source.model.get_submodule(lenet5_views["cam_layer"])
    assert lenet5_views["cam_layer"] == "features.s4"  # the last stage with a spatial map
    reference = LayerAttribution.interpolate(
        LayerGradCam(source.model, layer).attribute(x, target=targets, relu_attributions=True),
        (28, 28),
        "bilinear",
    )[:, 0]
    saved = np.load(Path(lenet5_views["out"]) / "cams.npy")
    np.testing.assert_allclose(saved, reference.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert saved.max() > 0
    # the gradient map beside it is captum's integrated gradients, summed over channels
    assert lenet5_views["gradient"] == "integrated-gradients"
    ig = IntegratedGradients(source.model).attribute(
        x, baselines=torch.zeros_like(x), target=targets, n_steps=IG_STEPS
    )
    saved = np.load(Path(lenet5_views["out"]) / "gradients.npy")
    np.testing.assert_allclose(saved, ig.abs().sum(1).detach().numpy(), rtol=1e-4, atol=1e-6)
    sal = Saliency(source.model).attribute(x.clone().requires_grad_(), target=targets)
    torch.testing.assert_close(saliency(source.model, x, targets), sal.amax(1))
    # and on a residual network, at its last stage
    resnet = open_source(str(resnet20_checkpoint)).model
    targets = torch.tensor([3, 7])
    ours = grad_cam(resnet, "layer3", inputs[:2], targets)
    theirs = LayerGradCam(resnet, resnet.layer3).attribute(
        inputs[:2], target=targets, relu_attributions=True
    )
    torch.testing.assert_close(
        ours, LayerAttribution.interpolate(theirs, (28, 28), "bilinear")[:, 0].detach()
    )


def test_the_folder_holds_the_views(lenet5_views):
    folder = Path(lenet5_views["out"])
    views = read_folder(folder)
    assert views["files"] == lenet5_views["files"]
    for name in views["files"]:
        if name.endswith(".png"):
            with Image.open(folder / name) as png:
                assert png.size[0] > 200
    assert {"filters.png", "maps-0.png", "maps-1.png", "evidence.png"} <= set(views["files"])
    assert "top9-features.s4.png" in views["files"]
    assert views["filters"] == {"layer": "features.c1", "shape": [6, 1, 5, 5]}
    for image in views["images"]:
        probs = [row["probability"] for row in image["top"]]
        assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-6
    channel = views["top"]["features.act3"][0]
    top, bottom, left, right = channel["boxes"][0]
    assert bottom - top <= 14 and right - left <= 14  # the 14-pixel field of C3
    with pytest.raises(ValueError, match="lacks 'top'"):
        read_views(json.dumps({k: v for k, v in views.items() if k != "top"}))
    assert (folder / VIEWS).is_file()


def one_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    return err


def test_bad_input_is_one_line(tmp_path, capsys, lenet5_checkpoint):
    from cnnzoo.cli import main

    out = str(tmp_path / "out")
    code = main(["inspect", str(lenet5_checkpoint), "--layers", "c3", "--out", out])
    err = one_line(capsys)
    assert code == 2 and "'c3' is not a layer" in err and "features.c3" in err
    fake = tmp_path / "shirt.png"
    fake.write_text("not an image")
    assert main(["inspect", str(lenet5_checkpoint), str(fake), "--out", out]) == 2
    assert "shirt.png" in one_line(capsys)
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x00" * 64)
    assert main(["inspect", str(broken), "--out", out]) == 2
    assert "broken.pt" in one_line(capsys)
    assert main(["inspect", "lenet5", "--out", out]) == 2
    assert "not a checkpoint" in one_line(capsys)
    assert not Path(out).exists()


def test_image_files_are_fed_as_the_test_images(tmp_path, lenet5_checkpoint):
    from cnnzoo.data import load_dataset

    inputs, _ = fake_test_inputs(lenet5_checkpoint)
    source = open_source(str(lenet5_checkpoint))
    raw = load_dataset(source.record["name"], data_dir=source.record["data_dir"]).test.images
    path = tmp_path / "digit.png"
    Image.fromarray(raw[5, 0].numpy(), mode="L").save(path)
    fed = source.read_images((str(path),))
    torch.testing.assert_close(fed[0], inputs[5], rtol=0, atol=1e-5)

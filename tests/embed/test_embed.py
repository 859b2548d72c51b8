"""``cnnzoo embed`` end to end on the real Fashion-MNIST: a trained LeNet-5's map keeps its 5-NN
accuracy and beats an untrained network's, the folder holds what it should (grid cells are dataset
images), new images are placed into an existing map without moving it, and bad input gets one
line."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnzoo.checkpoint import load_checkpoint, save_checkpoint
from cnnzoo.cli import main
from cnnzoo.data import load_dataset
from cnnzoo.embed import figures
from cnnzoo.embed.command import MAP_FILES, EmbedConfig, embed, read_compare


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def map_5000(trained_lenet5, tmp_path_factory) -> dict:
    """The trained LeNet-5's map of 5,000 test images, made through the command line."""
    out = tmp_path_factory.mktemp("map")
    code, stdout, stderr = cli("embed", trained_lenet5, "--n", "5000", "--out", str(out))
    assert code == 0, stderr
    return {"out": out, "stdout": stdout, "summary": json.loads((out / "summary.json").read_text())}


def test_trained_map_keeps_the_feature_space_5nn_accuracy(map_5000):
    s = map_5000["summary"]
    assert s["n"] == 5000 and s["trained"] and s["feature_dim"] == 84  # LeNet-5's F6
    assert s["knn_features"] > 0.8
    assert abs(s["knn_map"] - s["knn_features"]) <= 0.05
    assert 0.9 < s["trustworthiness"] <= 1.0
    # Both accuracies are printed.
    line = map_5000["stdout"].splitlines()[0]
    assert f"features {s['knn_features']:.2%}" in line and f"map {s['knn_map']:.2%}" in line


def test_map_folder_holds_the_arrays_and_figures(map_5000):
    out, s = map_5000["out"], map_5000["summary"]
    assert all((out / name).is_file() for name in MAP_FILES)
    features, labels = np.load(out / "features.npy"), np.load(out / "labels.npy")
    embedding, indices = np.load(out / "embedding.npy"), np.load(out / "indices.npy")
    assert features.shape == (5000, 84) and embedding.shape == (5000, 2)
    assert len(np.unique(indices)) == 5000 and indices.max() < 10_000
    test = load_dataset("fashion-mnist").test
    assert np.array_equal(labels, test.labels.numpy()[indices])
    assert s["seed"] == 0 and s["perplexity"] == 30 and s["class_names"][9] == "Ankle boot"
    for name in ("scatter.png", "map.png"):
        with Image.open(out / name) as im:
            assert min(im.size) >= 1000 and len(np.unique(np.asarray(im.convert("L")))) > 16


def test_grid_cells_hold_the_embedded_dataset_images(map_5000):
    out = map_5000["out"]
    embedding, indices = np.load(out / "embedding.npy"), np.load(out / "indices.npy")
    layout = figures.grid_layout(embedding, figures.default_grid_cells(len(embedding)))
    with Image.open(out / "grid.png") as im:
        grid = np.asarray(im.convert("RGB"))
    side = 28
    assert grid.shape == (layout.shape[0] * side, layout.shape[1] * side, 3)
    images = load_dataset("fashion-mnist").test.images.numpy()[:, 0]
    filled = np.argwhere(layout >= 0)
    assert len(filled) > layout.size // 4
    for r, c in filled[:: max(1, len(filled) // 50)]:
        cell = grid[r * side : (r + 1) * side, c * side : (c + 1) * side, 0]
        assert np.array_equal(cell, images[indices[layout[r, c]]])


def test_untrained_network_maps_clearly_worse(trained_lenet5, tmp_path):
    answer = embed(EmbedConfig(trained_lenet5, n=800, compare="lenet5", out=str(tmp_path)))
    trained, untrained = answer["maps"]
    assert trained["trained"] and not untrained["trained"]
    assert trained["knn_map"] > untrained["knn_map"] + 0.08
    assert trained["knn_features"] > untrained["knn_features"] + 0.08
    # The same images for both, in folders a/ and b/, and one side-by-side figure.
    assert np.array_equal(
        np.load(tmp_path / "a" / "indices.npy"), np.load(tmp_path / "b" / "indices.npy")
    )
    with Image.open(answer["compare_png"]) as im:
        assert im.size[0] > 1.5 * im.size[1]
    assert len(read_compare((tmp_path / "compare.json").read_text())["maps"]) == 2


def test_add_to_places_new_images_without_moving_the_map(trained_lenet5, tmp_path):
    base = tmp_path / "map"
    embed(EmbedConfig(trained_lenet5, n=600, out=str(base)))
    before = (base / "embedding.npy").read_bytes()
    code, stdout, stderr = cli(
        "embed", trained_lenet5, "--add-to", str(base), "--split", "train", "--n", "300"
    )
    assert code == 0, stderr
    added = base / "added-train"
    result = json.loads((added / "added.json").read_text())
    placed = np.load(added / "added_embedding.npy")
    assert placed.shape == (300, 2) and np.isfinite(placed).all()
    assert (base / "embedding.npy").read_bytes() == before  # the map is not recomputed
    assert result["knn_placed"] > 0.7  # new images land among their own class
    assert "5-NN accuracy in the map" in stdout
    assert (added / "added.png").is_file()


def test_add_to_the_same_split_skips_the_maps_own_images(trained_lenet5, tmp_path):
    base = tmp_path / "map"
    embed(EmbedConfig(trained_lenet5, n=500, out=str(base)))
    embed(EmbedConfig(trained_lenet5, n=200, add_to=str(base), out=str(tmp_path / "more")))
    picked, own = np.load(tmp_path / "more" / "added_indices.npy"), np.load(base / "indices.npy")
    assert len(picked) == 200 and not set(picked) & set(own)


def test_add_to_places_image_files(trained_lenet5, tmp_path):
    base = tmp_path / "map"
    embed(EmbedConfig(trained_lenet5, n=400, out=str(base)))
    images = load_dataset("fashion-mnist").train.images[:3, 0].numpy()
    files = []
    for i, image in enumerate(images):
        files.append(tmp_path / f"item{i}.png")
        Image.fromarray(image).save(files[-1])
    result = embed(EmbedConfig(trained_lenet5, add_to=str(base), images=tuple(map(str, files))))
    assert result["n"] == 3 and result["knn_placed"] is None  # files have no labels
    assert np.load(base / "added-images" / "added_labels.npy").tolist() == [-1, -1, -1]


def test_layer_codes_are_pooled_channels(trained_lenet5, tmp_path):
    answer = embed(EmbedConfig(trained_lenet5, n=300, layer="features.c3", out=str(tmp_path)))
    assert answer["maps"][0]["feature_dim"] == 16  # C3's 16 maps, each averaged over 10 x 10
    assert answer["maps"][0]["layer"] == "features.c3"


def test_progress_reports_features_and_tsne(tmp_path):
    seen: dict[str, list[tuple[int, int]]] = {}
    embed(
        EmbedConfig("lenet5", n=300, out=str(tmp_path)),
        lambda what, done, total: seen.setdefault(what, []).append((done, total)),
    )
    assert seen["features"][-1] == (300, 300) and len(seen["features"]) >= 2
    assert seen["t-SNE"][-1][0] == seen["t-SNE"][-1][1] and len(seen["t-SNE"]) > 10


def mismatched_checkpoint(source: str, path: Path) -> Path:
    """``source`` re-saved as if trained on 5 classes of 3-channel images."""
    ckpt = load_checkpoint(source)
    ckpt["dataset"] = {**ckpt["dataset"], "num_classes": 5, "in_chans": 3, "name": "five"}
    save_checkpoint(path, ckpt)
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--n", "20000"],
            "--n 20000 is larger than the test split of fashion-mnist (10,000 images)",
        ),
        (["--n", "lots"], "--n must be a number of images or 'all'"),
        (
            ["--layer", "conv9"],
            "--layer 'conv9' is not a layer of lenet5; its layers: features, features.c1",
        ),
        (["--split", "val"], "--split must be one of test, train"),
        (["--perplexity", "300", "--n", "500"], "--perplexity 300 needs more than 900 images"),
        (["--add-to", "/nonexistent/map"], "--add-to '/nonexistent/map' is not a folder"),
    ],
)
def test_bad_input_gets_one_line(trained_lenet5, args, message):
    code, _, stderr = cli("embed", trained_lenet5, *args)
    assert code == 2
    assert stderr.count("\n") == 1 and message in stderr, stderr


def test_checkpoint_that_does_not_fit_the_dataset(trained_lenet5, tmp_path):
    bad = mismatched_checkpoint(trained_lenet5, tmp_path / "five.pt")
    code, _, stderr = cli("embed", str(bad), "--dataset", "fashion-mnist", "--n", "100")
    assert code == 2 and stderr.count("\n") == 1
    assert (
        "fashion-mnist has 10 classes of 1-channel images; the checkpoint was trained on 5 "
        "classes of 3-channel images" in stderr
    )


def test_add_to_a_folder_that_is_not_a_map(trained_lenet5, tmp_path):
    code, _, stderr = cli("embed", trained_lenet5, "--add-to", str(tmp_path))
    assert code == 2 and "not a map folder of `cnnzoo embed` (summary.json is missing)" in stderr


def test_add_to_with_another_source_is_refused(trained_lenet5, tmp_path):
    embed(EmbedConfig("lenet5", n=200, out=str(tmp_path)))
    code, _, stderr = cli("embed", trained_lenet5, "--add-to", str(tmp_path))
    assert code == 2 and "was made with 'lenet5'" in stderr


def test_untrained_model_codes_are_seeded(tmp_path):
    a = embed(EmbedConfig("lenet5", n=100, perplexity=10, out=str(tmp_path / "a")))
    b = embed(EmbedConfig("lenet5", n=100, perplexity=10, out=str(tmp_path / "b")))
    assert a["maps"][0]["knn_features"] == b["maps"][0]["knn_features"]
    assert np.array_equal(
        np.load(tmp_path / "a" / "features.npy"), np.load(tmp_path / "b" / "features.npy")
    )


def test_missing_package_names_the_extra(monkeypatch, tmp_path):
    import importlib.util

    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name == "openTSNE" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    code, _, stderr = cli("embed", "lenet5", "--n", "100", "--out", str(tmp_path))
    assert code == 2 and "needs the 'openTSNE' package: pip install 'cnnzoo[embed]'" in stderr

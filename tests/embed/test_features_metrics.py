"""The codes a map is made of (the model contract's pre-logits vector, or a pooled layer that ends
the forward pass) and the map's quality measures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnzoo.embed.features import extract, feature_function, layer_names, pooled, thumbnails
from cnnzoo.embed.metrics import (
    drop_self,
    knn_accuracy,
    knn_placed_accuracy,
    neighbour_votes,
    trustworthiness,
)
from cnnzoo.registry import create_model


@pytest.fixture(scope="module")
def resnet():
    torch.manual_seed(0)
    return create_model("resnet20", num_classes=10, in_chans=1).eval()


def test_default_codes_are_the_contracts_pre_logits(resnet):
    x = torch.randn(4, 1, 28, 28)
    with torch.inference_mode():
        expected = resnet.forward_head(resnet.forward_features(x), pre_logits=True)
        assert torch.equal(feature_function(resnet, None)(x), expected)
    assert expected.shape == (4, resnet.num_features)


def test_layer_codes_are_pooled_and_stop_the_forward_pass(resnet):
    name = layer_names(resnet)[0]
    calls = []
    last = list(resnet.modules())[-1]
    handle = last.register_forward_hook(lambda *_: calls.append(1))
    try:
        with torch.inference_mode():
            codes = feature_function(resnet, name)(torch.randn(2, 1, 28, 28))
            full = dict(resnet.named_modules())[name](torch.randn(2, 1, 28, 28))
    finally:
        handle.remove()
    assert codes.shape == (2, full.shape[1]) and not calls  # the classifier never ran


def test_unknown_layer_lists_the_names(resnet):
    with pytest.raises(ValueError, match=r"--layer 'nope' is not a layer of resnet20; its layers"):
        feature_function(resnet, "nope")


def test_pooled_averages_positions():
    x = torch.arange(2 * 3 * 4, dtype=torch.float32).view(2, 3, 2, 2)
    assert torch.equal(pooled(x), x.mean(dim=(2, 3)))
    assert torch.equal(pooled(x[:, :, 0, 0]), x[:, :, 0, 0])


def test_extract_concatenates_batches_in_order():
    batches = [(torch.full((3, 1, 2, 2), float(i)), torch.full((3,), i)) for i in range(3)]
    features, labels, _ = extract(lambda x: x.flatten(1)[:, :1], batches, total=9)
    assert features[:, 0].tolist() == [0.0] * 3 + [1.0] * 3 + [2.0] * 3
    assert labels.tolist() == [0] * 3 + [1] * 3 + [2] * 3 and features.dtype == np.float32


def test_thumbnails_shrink_large_images_only():
    small = torch.randint(0, 256, (2, 1, 28, 28), dtype=torch.uint8)
    assert np.array_equal(thumbnails(small), small.permute(0, 2, 3, 1).numpy())
    big = torch.full((1, 3, 224, 224), 200, dtype=torch.uint8)
    thumb = thumbnails(big)
    assert thumb.shape == (1, 32, 32, 3) and (thumb == 200).all()


def test_knn_accuracy_of_separated_and_mixed_classes():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 50)
    separated = labels[:, None] * 100.0 + rng.normal(size=(200, 2))
    assert knn_accuracy(separated, labels) == 1.0
    mixed = rng.normal(size=(200, 2))
    assert knn_accuracy(mixed, labels) < 0.5


def test_neighbour_votes_break_ties_by_the_nearest():
    labels = np.array([0, 1, 2, 1, 2, 0])
    # Row 0: classes 1, 2, 1, 2 -> tie between 1 and 2, nearest is 1.
    assert neighbour_votes(labels, np.array([[1, 2, 3, 4]]), 3).tolist() == [1]
    assert neighbour_votes(labels, np.array([[2, 1, 3, 4]]), 3).tolist() == [2]
    assert neighbour_votes(labels, np.array([[5, 1, 3, 4]]), 3).tolist() == [1]


def test_drop_self_handles_duplicates():
    neighbours = np.array([[0, 1, 2], [0, 1, 2], [2, 1, 0]])
    # Row 1 lists point 0 first (a duplicate); its own index is removed wherever it is.
    assert drop_self(neighbours).tolist() == [[1, 2], [0, 2], [1, 0]]
    assert drop_self(np.array([[1, 2, 3], [1, 0, 2]])).tolist() == [[1, 2], [0, 2]]


def test_placed_accuracy_uses_the_maps_points():
    map_points = np.array([[0.0, 0], [0, 1], [1, 0], [10, 10], [10, 11], [11, 10]])
    map_labels = np.array([0, 0, 0, 1, 1, 1])
    new = np.array([[0.5, 0.5], [10.5, 10.5]])
    assert knn_placed_accuracy(map_points, map_labels, new, np.array([0, 1]), k=3) == 1.0
    assert knn_placed_accuracy(map_points, map_labels, new, np.array([1, 1]), k=3) == 0.5


def test_trustworthiness_samples_large_maps():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(300, 10))
    score, points = trustworthiness(features, features[:, :2], max_points=120)
    assert points == 120 and 0.5 < score < 1.0
    assert trustworthiness(features, features[:, :2] * 3)[1] == 300
    assert trustworthiness(features[:, :2], features[:, :2])[0] == pytest.approx(1.0)

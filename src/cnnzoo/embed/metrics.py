"""How good a map is: k-NN accuracy (in feature space and in the map) and trustworthiness.

The k-NN accuracy is leave-one-out: each point takes the majority class of its ``k`` nearest other
points (ties go to the nearest of the tied classes' points). Comparing it in the features and in the
2-D map shows how much of the network's class structure the map keeps. Trustworthiness
(scikit-learn) measures how many of a point's neighbours in the map are also near it in the
features; its pairwise distances need ``N^2`` memory, so above :data:`TRUST_POINTS` points it is
computed on a seeded random sample of that many (the sample size is reported).
"""

from __future__ import annotations

import numpy as np

K = 5  # neighbours of the k-NN accuracy and of trustworthiness
TRUST_POINTS = 10_000  # trustworthiness on at most this many points (800 MB of distances)


def neighbour_votes(labels: np.ndarray, neighbours: np.ndarray, num_classes: int) -> np.ndarray:
    """The class each row of ``neighbours`` (indices, nearest first) votes for: the most frequent
    label, ties broken by the nearest neighbour among the tied classes."""
    votes = labels[neighbours]  # (N, k)
    counts = np.zeros((len(votes), num_classes), dtype=np.int64)
    np.add.at(counts, (np.arange(len(votes))[:, None], votes), 1)
    best = counts.max(axis=1, keepdims=True)
    tied = counts[np.arange(len(votes))[:, None], votes] == best  # (N, k): a top class's vote
    return votes[np.arange(len(votes)), tied.argmax(axis=1)]


def knn_accuracy(points: np.ndarray, labels: np.ndarray, k: int = K) -> float:
    """Leave-one-out ``k``-NN accuracy of ``points`` (Euclidean) against ``labels``."""
    from sklearn.neighbors import NearestNeighbors

    if len(points) <= k:
        raise ValueError(f"the k-NN accuracy needs more than k={k} points, got {len(points)}")
    index = NearestNeighbors(n_neighbors=k + 1).fit(points)
    _, neighbours = index.kneighbors(points)
    others = drop_self(neighbours)
    predicted = neighbour_votes(labels, others[:, :k], int(labels.max()) + 1)
    return float((predicted == labels).mean())


def drop_self(neighbours: np.ndarray) -> np.ndarray:
    """Each row without its own index (duplicate points may list another point first)."""
    own = neighbours == np.arange(len(neighbours))[:, None]
    missing = ~own.any(axis=1)
    own[missing, -1] = True  # the row lacks itself: drop its farthest instead
    return neighbours[~own].reshape(len(neighbours), -1)


def knn_placed_accuracy(
    map_points: np.ndarray,
    map_labels: np.ndarray,
    new_points: np.ndarray,
    new_labels: np.ndarray,
    k: int = K,
) -> float:
    """``k``-NN accuracy of new points classified by the map's points around them."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=min(k, len(map_points))).fit(map_points)
    _, neighbours = index.kneighbors(new_points)
    num_classes = int(max(map_labels.max(), new_labels.max())) + 1
    return float((neighbour_votes(map_labels, neighbours, num_classes) == new_labels).mean())


def trustworthiness(
    features: np.ndarray,
    embedding: np.ndarray,
    *,
    k: int = K,
    max_points: int = TRUST_POINTS,
    seed: int = 0,
) -> tuple[float, int]:
    """scikit-learn's trustworthiness of the map (1 = every map neighbour is a feature neighbour).

    Returns:
        The score and the number of points it was computed on.
    """
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    n = len(features)
    if n > max_points:
        keep = np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))
        features, embedding = features[keep], embedding[keep]
    return float(sk_trustworthiness(features, embedding, n_neighbors=k)), len(features)

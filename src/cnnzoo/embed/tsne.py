"""t-SNE maps through openTSNE: fit a map, rebuild it from saved files, place new points in it.

openTSNE is used because it is fast on a few cores (Barnes-Hut below 10,000 points, FFT-accelerated
interpolation above) and because a fitted map can take new points without being recomputed
(``prepare_partial`` + ``optimize``: the old points stay where they are). A map is kept as plain
arrays (``features.npy``, ``embedding.npy``) and its settings; :func:`rebuild_map` turns them back
into an openTSNE embedding that new points can be added to, so no pickle is ever read.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from cnnzoo.progress import Progress

EARLY_ITERATIONS = 250  # openTSNE's early-exaggeration phase
ITERATIONS = 500  # and its main phase
PROGRESS_EVERY = 10  # iterations between progress updates
# New points (openTSNE's defaults for ``transform``): one phase, no early exaggeration, small steps
# so that a point cannot shoot off the map.
PLACE = {
    "n_iter": 250,
    "learning_rate": 0.1,
    "exaggeration": 1.5,
    "momentum": 0.8,
    "max_grad_norm": 0.25,
}
PLACE_PERPLEXITY = 5  # a new point's affinities to the map's points
PLACE_NEIGHBOURS = 25


def check_perplexity(perplexity: float, n: int) -> None:
    """t-SNE needs more than three times ``perplexity`` points (each point's neighbourhood)."""
    if perplexity <= 0:
        raise ValueError(f"--perplexity must be positive, got {perplexity:g}")
    if n <= 3 * perplexity:
        raise ValueError(
            f"--perplexity {perplexity:g} needs more than {3 * perplexity:g} images; got {n} "
            f"(lower --perplexity or raise --n)"
        )


def counting_callback(progress: Progress | None, description: str, total: int) -> Callable | None:
    """An openTSNE callback that reports ``PROGRESS_EVERY`` more iterations of ``total`` at each
    call (openTSNE counts each phase from zero), or ``None`` without ``progress``."""
    if progress is None:
        return None
    calls = [0]

    def callback(_iteration: int, _error: float, _embedding) -> bool:
        calls[0] += 1
        progress(description, min(calls[0] * PROGRESS_EVERY, total), total)
        return False  # go on

    return callback


def centred(embedding: np.ndarray) -> np.ndarray:
    """The map moved so that its bounding box is centred on the origin (as openTSNE keeps it)."""
    return embedding - (embedding.max(axis=0) + embedding.min(axis=0)) / 2


def fit_map(
    features: np.ndarray,
    *,
    perplexity: float,
    seed: int,
    threads: int,
    progress: Progress | None = None,
) -> np.ndarray:
    """The 2-D t-SNE map of ``features`` (PCA initialisation), as float32 ``(N, 2)``, centred."""
    from openTSNE import TSNE

    check_perplexity(perplexity, len(features))
    total = EARLY_ITERATIONS + ITERATIONS
    tsne = TSNE(
        perplexity=perplexity,
        initialization="pca",
        early_exaggeration_iter=EARLY_ITERATIONS,
        n_iter=ITERATIONS,
        n_jobs=threads,
        random_state=seed,
        callbacks=counting_callback(progress, "t-SNE", total),
        callbacks_every_iters=PROGRESS_EVERY,
        verbose=False,
    )
    embedding = np.asarray(tsne.fit(np.ascontiguousarray(features, dtype=np.float64)))
    if progress:
        progress("t-SNE", total, total)
    return centred(embedding).astype(np.float32)


def rebuild_map(
    features: np.ndarray, embedding: np.ndarray, *, perplexity: float, seed: int, threads: int
):
    """An openTSNE ``TSNEEmbedding`` of a saved map, ready to take new points."""
    from openTSNE import TSNEEmbedding
    from openTSNE.affinity import PerplexityBasedNN

    affinities = PerplexityBasedNN(
        np.ascontiguousarray(features, dtype=np.float64),
        perplexity=perplexity,
        n_jobs=threads,
        random_state=seed,
    )
    return TSNEEmbedding(
        np.ascontiguousarray(embedding, dtype=np.float64),
        affinities,
        random_state=seed,
        n_jobs=threads,
    )


def place(tsne_map, features: np.ndarray, *, progress: Progress | None = None) -> np.ndarray:
    """Positions of new points in ``tsne_map`` (from :func:`rebuild_map`); the map is unchanged."""
    total = PLACE["n_iter"]
    partial = tsne_map.prepare_partial(
        np.ascontiguousarray(features, dtype=np.float64),
        perplexity=PLACE_PERPLEXITY,
        k=min(PLACE_NEIGHBOURS, len(tsne_map) - 1),
    )
    partial.optimize(
        **PLACE,
        inplace=True,
        propagate_exception=True,
        callbacks=counting_callback(progress, "placing", total),
        callbacks_every_iters=PROGRESS_EVERY,
    )
    if progress:
        progress("placing", total, total)
    return np.asarray(partial, dtype=np.float32)

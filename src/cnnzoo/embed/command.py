"""``cnnzoo embed``: a t-SNE map of what a network learned, for any model and dataset.

One call of :func:`embed` takes a checkpoint of ``cnnzoo train`` (or a model name, for an untrained
network with seeded weights), extracts the codes of ``n`` images of a split, maps them to 2-D and
writes the map folder (:data:`MAP_FILES`): the arrays, three figures (``scatter.png``: points by
class; ``grid.png``: images snapped to a regular grid, the classic t-SNE picture; ``map.png``:
thumbnails where they landed) and ``summary.json`` with the map's quality. ``compare`` embeds the
same images for a second model (folders ``a/`` and ``b/`` and one side-by-side figure);
:func:`add_to_map` places new images into a map that exists, without recomputing it.

Every folder is an owned output (:mod:`cnnzoo.outdir`): built in a staging folder and swapped in
whole, so an interrupted or failed run leaves the previous map as it was, and ``--add-to`` never
reads new arrays under an old summary. The folder is read back here too: :func:`read_map` (the
summary and the arrays), :func:`read_summary` and :func:`read_compare` (the JSON records, from
text a caller such as ``cnnzoo report`` read its own way).
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnzoo.data import DEFAULT_DATASET, DatasetInfo, Split, image_transform, load_dataset
from cnnzoo.embed import figures
from cnnzoo.embed.features import extract, feature_function, thumbnails, unnormalised
from cnnzoo.embed.metrics import K, knn_accuracy, knn_placed_accuracy, trustworthiness
from cnnzoo.embed.tsne import fit_map, place, rebuild_map
from cnnzoo.files import write_atomic, write_text_atomic
from cnnzoo.options import count_or_all, count_text, option
from cnnzoo.outdir import owned
from cnnzoo.progress import Progress
from cnnzoo.reading import json_object, regular_file
from cnnzoo.source import (
    Source,
    is_checkpoint,
    open_source,
    read_record,
    weights_option,
    weights_preset,
)

SPLITS = ("test", "train")
DEFAULT_N = 5000
MAP_FILES = (
    "features.npy",
    "labels.npy",
    "indices.npy",
    "embedding.npy",
    "scatter.png",
    "grid.png",
    "map.png",
    "summary.json",
)
MAP_ARRAYS = ("features", "labels", "indices", "embedding")
LEGACY = ("summary.json", "compare.json")  # map folders written before output markers
SUMMARY = "summary.json"  # a map's record (make_map, read_summary)
SUMMARY_KEYS = (
    "source",
    "model",
    "trained",
    "dataset",
    "split",
    "n",
    "layer",
    "feature_dim",
    "input_size",
    "perplexity",
    "seed",
    "threads",
    "k",
    "knn_features",
    "knn_map",
    "trustworthiness",
    "trustworthiness_points",
    "class_names",
    "seconds",
    "files",
)
COMPARE = "compare.json"  # a --compare folder's record (embed, read_compare)
COMPARE_KEYS = ("out", "maps", "compare_png")
RUNS = Path("runs")
PACKAGES = {"openTSNE": "openTSNE", "sklearn": "scikit-learn"}  # module -> package of the extra


@dataclass(frozen=True)
class EmbedConfig:
    """What ``cnnzoo embed`` does; one field per flag.

    Attributes:
        source: a checkpoint of ``cnnzoo train``, or a model name (untrained, weights seeded by
            ``seed``, unless ``weights``).
        weights: local torchvision or timm weights of the named model (ImageNet: embed
            ``--dataset imagenet`` or an ``imagefolder`` of its classes).
        dataset: the images' dataset; default: the checkpoint's, else ``fashion-mnist``.
        data_dir: its folder; default: the checkpoint's.
        split: ``test`` or ``train``.
        n: images to embed (a seeded random sample), ``None`` for the whole split.
        layer: the module whose (average-pooled) output is the code; default: the pre-logits
            vector of the model contract.
        perplexity: t-SNE's effective number of neighbours.
        seed: the sample, the untrained weights and t-SNE's initialisation.
        out: the map folder; default ``runs/embed-<model>-<dataset>-<split>``.
        batch_size: images per forward pass.
        input_size: a model name's input side (default: the dataset's); checkpoints keep theirs.
        compare: a second source embedded on the same images.
        add_to: place the images (``split``/``n``, or ``images``) into the map in this folder.
        images: image files to place with ``add_to``.
        force: replace an ``out`` folder of files that cnnzoo did not write.
    """

    source: str = option(help="a .pt checkpoint or a model name", metavar="CHECKPOINT|MODEL")
    weights: str | None = weights_option("a checkpoint's, or untrained")
    dataset: str | None = option(
        None, help="", default_help=f"the checkpoint's dataset, else {DEFAULT_DATASET}"
    )
    data_dir: str | None = option(
        None, help="folder with the dataset's files", default_help="the checkpoint's"
    )
    split: str = option("test", help="", choices=SPLITS, checked_by="config")
    n: int | None = option(
        DEFAULT_N,
        help="images to embed, a seeded sample",
        metavar="N|all",
        parse=count_or_all("--n"),
        text=count_text,
    )
    layer: str | None = option(
        None,
        help="embed this module's output, average-pooled",
        metavar="NAME",
        default_help="the pre-logits vector: fc7 for AlexNet/VGG, F6 for LeNet-5",
    )
    perplexity: float = option(30.0, help="t-SNE's effective number of neighbours")
    seed: int = option(0, help="the sample, the untrained weights and t-SNE's initialisation")
    out: str | None = option(
        None, help="", metavar="DIR", default_help="runs/embed-<model>-<dataset>-<split>"
    )
    batch_size: int = option(256, help="images per forward pass")
    input_size: int | None = option(
        None, help="a model name's input side", metavar="S", default_help="the dataset's"
    )
    compare: str | None = option(
        None,
        help="embed the same images with this network too, side by side",
        metavar="CHECKPOINT|MODEL",
        default_help="none",
    )
    add_to: str | None = option(
        None,
        help="place images (--split/--n, or --images) in the map in DIR",
        metavar="DIR",
        default_help="a new map",
    )
    images: tuple[str, ...] = option(
        (),
        help="with --add-to: image files to place",
        nargs="+",
        metavar="IMAGE",
        default_help="none",
    )
    force: bool = option(False, help="replace --out even if it holds files cnnzoo did not write")

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"--split must be one of {', '.join(SPLITS)}, got {self.split!r}")
        if self.n is not None and self.n < 2:
            raise ValueError(f"--n must be at least 2 (or 'all'), got {self.n}")
        if self.batch_size < 1:
            raise ValueError("--batch-size must be positive")
        if self.compare and self.add_to:
            raise ValueError("--compare and --add-to cannot be combined")
        if self.images and not self.add_to:
            raise ValueError("--images is for --add-to DIR (placing files into a map)")


@dataclass(frozen=True)
class MapResult:
    """A map written to its folder: ``summary.json``'s content, the map and the labels."""

    summary: dict
    embedding: np.ndarray
    labels: np.ndarray


def load_subject(
    text: str,
    info: DatasetInfo,
    *,
    seed: int,
    input_size: int | None,
    weights: str | None = None,
) -> Source:
    """The network ``text`` names (a checkpoint, or a model name for an untrained network built
    for the dataset), checked against the dataset's channels and classes; its label says which.

    Raises:
        ValueError: an unreadable checkpoint, an unknown model, or a dataset that does not fit.
    """
    side = None if is_checkpoint(text) or weights else input_size or info.image_size
    shape = None if side is None else (info.in_chans, side, side)
    source = open_source(text, weights=weights, dataset=info, input=shape, seed=seed)
    source.check_fits(info)
    if source.path is None:
        return dataclasses.replace(source, label=f"{text} (untrained)")
    if source.origin == "weights":
        return dataclasses.replace(source, label=f"{text} ({source.path.name})")
    where = Path(source.path.parent.name, source.path.name)
    return dataclasses.replace(source, label=f"{source.name or 'model'} ({where})")


def sample_indices(length: int, n: int | None, seed: int, what: str) -> np.ndarray:
    """``n`` distinct indices of ``range(length)`` drawn with ``seed``, sorted (all for ``None``).

    Raises:
        ValueError: ``n`` larger than the split.
    """
    if n is None:
        return np.arange(length)
    if n > length:
        raise ValueError(
            f"--n {n} is larger than the {what} ({length:,} images); use --n {length} or --n all"
        )
    return np.sort(np.random.default_rng(seed).choice(length, n, replace=False))


def subset(split, indices: np.ndarray):
    """The images at ``indices`` of a split (in memory, or a folder dataset)."""
    if isinstance(split, Split):
        index = torch.from_numpy(indices)
        return Split(split.images.index_select(0, index), split.labels.index_select(0, index))
    return torch.utils.data.Subset(split, indices.tolist())


def stream_for(split, info: DatasetInfo, subject: Source, batch_size: int):
    """Test-time batches of ``split`` as ``subject`` was fed (its size and normalisation)."""
    from cnnzoo.data.loader import make_stream
    from cnnzoo.distributed import DistInfo, Runtime
    from cnnzoo.source import default_device

    if subject.record is not None:
        info = dataclasses.replace(
            info, mean=tuple(subject.record["mean"]), std=tuple(subject.record["std"])
        )
    runtime = Runtime(DistInfo(device=default_device()))
    return (
        make_stream(
            split,
            info,
            batch_size=batch_size,
            train=False,
            seed=0,
            size=subject.input[-1],
            runtime=runtime,
        ),
        info,
        runtime.device,
    )


def codes(
    subject: Source,
    split,
    info: DatasetInfo,
    *,
    layer: str | None,
    batch_size: int,
    progress: Progress | None,
) -> tuple[np.ndarray, np.ndarray, list[torch.Tensor]]:
    """Features, labels (and, for folder datasets, the un-normalised inputs) of every image."""
    fn = feature_function(subject.model, layer)
    stream, fed, device = stream_for(split, info, subject, batch_size)
    subject.model.to(device)
    keep = None if isinstance(split, Split) else (lambda x: unnormalised(x, fed.mean, fed.std))
    return extract(fn, stream.epoch(0), total=len(split), progress=progress, keep_images=keep)


def save_array(path: Path, array: np.ndarray) -> Path:
    """An ``.npy`` file, written atomically."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array, allow_pickle=False)

    return write_atomic(path, write)


def make_map(
    subject: Source,
    split,
    info: DatasetInfo,
    indices: np.ndarray,
    thumbs: np.ndarray | None,
    config: EmbedConfig,
    out: Path,
    progress: Progress | None,
    shown: Path,
) -> MapResult:
    """Embed ``split`` with ``subject`` and write one map folder (:data:`MAP_FILES`) into the
    staged folder ``out``; ``summary.json`` names the files where they will be, under ``shown``."""
    started = time.perf_counter()
    features, labels, kept = codes(
        subject, split, info, layer=config.layer, batch_size=config.batch_size, progress=progress
    )
    if thumbs is None:
        thumbs = thumbnails(torch.cat(kept))
    extracted = time.perf_counter()
    embedding = fit_map(
        features,
        perplexity=config.perplexity,
        seed=config.seed,
        threads=torch.get_num_threads(),
        progress=progress,
    )
    mapped = time.perf_counter()
    if progress:
        progress("k-NN and trustworthiness", 0, 1)
    knn_features, knn_map = knn_accuracy(features, labels), knn_accuracy(embedding, labels)
    trust, trust_points = trustworthiness(features, embedding, seed=config.seed)
    measured = time.perf_counter()
    names = list(info.class_names) or [str(i) for i in range(info.num_classes)]
    title = f"{subject.label}: {info.name} {config.split}, {len(labels):,} images"
    for name, array in (
        ("features", features),
        ("labels", labels),
        ("indices", indices),
        ("embedding", embedding),
    ):
        save_array(out / f"{name}.npy", array)
    if progress:
        progress("figures", 0, 1)
    figures.save_scatter(out / "scatter.png", embedding, labels, names, title=title)
    figures.save_grid(
        out / "grid.png",
        figures.grid_layout(embedding, figures.default_grid_cells(len(embedding))),
        thumbs,
    )
    figures.save_map(
        out / "map.png", embedding, thumbs, labels=labels, num_classes=len(names), seed=config.seed
    )
    finished = time.perf_counter()
    summary = {
        "source": str(subject.path) if subject.origin == "checkpoint" else subject.name,
        "model": subject.label,
        "trained": subject.record is not None,
        "dataset": info.name,
        "split": config.split,
        "n": len(labels),
        "layer": config.layer or "pre-logits",
        "feature_dim": int(features.shape[1]),
        "input_size": subject.input[-1],
        "perplexity": config.perplexity,
        "seed": config.seed,
        "threads": torch.get_num_threads(),
        "k": K,
        "knn_features": knn_features,
        "knn_map": knn_map,
        "trustworthiness": trust,
        "trustworthiness_points": trust_points,
        "class_names": names,
        "seconds": {
            "features": extracted - started,
            "tsne": mapped - extracted,
            "metrics": measured - mapped,
            "figures": finished - measured,
            "total": finished - started,
        },
    }
    summary["files"] = {name: str(shown / name) for name in MAP_FILES}
    write_text_atomic(out / SUMMARY, json.dumps(summary, indent=2) + "\n")
    return MapResult(summary, embedding, labels)


def default_out(config: EmbedConfig, labels: list[str], dataset: str) -> Path:
    """``runs/embed-<model>[-vs-<model>]-<dataset>-<split>``."""
    stems = [Path(label.split(" ")[0]).name for label in labels]
    return RUNS / f"embed-{'-vs-'.join(stems)}-{dataset}-{config.split}"


def load_images(config: EmbedConfig, record: dict | None):
    """The dataset and the split to embed; its default is the first checkpoint's dataset."""
    name = config.dataset or (record["name"] if record else DEFAULT_DATASET)
    data_dir = config.data_dir or (
        record.get("data_dir") if record and name == record["name"] else None
    )
    size = record["input_size"] if record else config.input_size
    preset = weights_preset(config.source) if config.weights else None
    data = load_dataset(name, data_dir=data_dir, input_size=size, preset=preset)
    return data.info, getattr(data, config.split)


def split_thumbnails(split, indices: np.ndarray) -> np.ndarray | None:
    """The dataset's own images at ``indices`` as thumbnails (``None`` for a folder dataset, whose
    thumbnails come from the model's inputs)."""
    if not isinstance(split, Split):
        return None
    return thumbnails(split.images.index_select(0, torch.from_numpy(indices)))


def check_packages() -> None:
    """Raise a one-line ``ValueError`` naming the extra when openTSNE or scikit-learn is missing."""
    import importlib.util

    for module, package in PACKAGES.items():
        if importlib.util.find_spec(module) is None:
            raise ValueError(
                f"cnnzoo embed needs the {package!r} package: pip install 'cnnzoo[embed]'"
            )


def embed(config: EmbedConfig, progress: Progress | None = None) -> dict:
    """Write the map folder of ``config.source`` (and of ``config.compare`` beside it).

    Returns:
        A JSON-ready dict: ``out`` and ``maps`` (each map's summary); with ``compare`` also
        ``compare_png``.

    Raises:
        ValueError: bad input (unreadable checkpoint, unknown model or layer, a dataset the model
            does not fit, ``--n`` larger than the split), in one line.
    """
    check_packages()
    if config.add_to:
        return add_to_map(config, progress)
    sources = [config.source] + ([config.compare] if config.compare else [])
    info, split = load_images(config, read_record(config.source, config.weights))
    what = f"{config.split} split of {info.name}"
    indices = sample_indices(len(split), config.n, config.seed, what)
    chosen = subset(split, indices)
    thumbs = split_thumbnails(split, indices)
    subjects = [
        load_subject(s, info, seed=config.seed, input_size=config.input_size, weights=w)
        for s, w in zip(sources, (config.weights, None), strict=False)
    ]
    out = (
        Path(config.out)
        if config.out
        else default_out(config, [s.label for s in subjects], info.name)
    )
    names = [""] if len(subjects) == 1 else ["a", "b"]
    with owned(out, "embed", legacy=LEGACY, force=config.force) as folder, folder.staged() as stage:
        results = [
            make_map(
                subject, chosen, info, indices, thumbs, config, stage / name, progress, out / name
            )
            for subject, name in zip(subjects, names, strict=True)
        ]
        answer = {"out": str(out), "maps": [r.summary for r in results]}
        if len(results) == 2:
            figures.save_compare(
                stage / "compare.png",
                [
                    {
                        "embedding": r.embedding,
                        "labels": r.labels,
                        "class_names": r.summary["class_names"],
                        "title": f"{r.summary['model']}\n{K}-NN: features "
                        f"{r.summary['knn_features']:.1%}, map {r.summary['knn_map']:.1%}",
                    }
                    for r in results
                ],
            )
            answer["compare_png"] = str(out / "compare.png")
            write_text_atomic(stage / COMPARE, json.dumps(answer, indent=2) + "\n")
    return answer


def load_array(path: Path, folder: Path) -> np.ndarray:
    """An ``.npy`` file of a map folder, as :func:`save_array` writes it: a regular file inside
    ``folder`` whose header is checked against its size before any memory is taken.

    Raises:
        ValueError: a missing, linked-out, malformed or truncated file, or one of objects.
    """
    real = regular_file(path, within=folder, what=f"{folder}:")
    with open(real, "rb") as f:
        try:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
        except (ValueError, EOFError, SyntaxError) as err:
            raise ValueError(f"{folder}: {path.name} is not an .npy array ({err})") from None
        if dtype.hasobject:
            raise ValueError(f"{folder}: {path.name} holds Python objects, not numbers")
        need = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        have = os.fstat(f.fileno()).st_size - f.tell()
        if need != have:
            raise ValueError(
                f"{folder}: {path.name} is damaged: its header promises {need:,} "
                f"bytes of data, the file holds {have:,}"
            )
        array = np.fromfile(f, dtype=dtype, count=need // dtype.itemsize if dtype.itemsize else 0)
    return array.reshape(shape, order="F" if fortran else "C")


def read_summary(text: str) -> dict:
    """A map's ``summary.json`` (as :func:`make_map` writes it) from its text; the caller reads
    the file (:func:`read_map` within the map folder, ``cnnzoo report`` its own careful way).

    Raises:
        ValueError: one line naming the file: not JSON, not an object, or without one of
            :data:`SUMMARY_KEYS`.
    """
    return json_object(text, SUMMARY, SUMMARY_KEYS)


def read_compare(text: str) -> dict:
    """A ``--compare`` folder's ``compare.json`` (as :func:`embed` writes it) from its text:
    ``out``, ``compare_png`` and ``maps`` (the two maps' summaries).

    Raises:
        ValueError: one line naming the file: not JSON, not an object, or without one of
            :data:`COMPARE_KEYS`.
    """
    return json_object(text, COMPARE, COMPARE_KEYS)


def read_map(folder: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """A map folder's summary and arrays (as :func:`make_map` writes them).

    Raises:
        ValueError: a missing folder or file, or one that cannot be read.
    """
    if not folder.is_dir():
        raise ValueError(f"--add-to {str(folder)!r} is not a folder")
    missing = [
        name
        for name in (SUMMARY, *(f"{a}.npy" for a in MAP_ARRAYS))
        if not os.path.lexists(folder / name)
    ]
    if missing:
        raise ValueError(f"{folder}: not a map folder of `cnnzoo embed` ({missing[0]} is missing)")
    try:
        text = regular_file(folder / SUMMARY, within=folder, what=f"{folder}:").read_text(
            encoding="utf-8"
        )
    except (OSError, ValueError) as err:
        raise ValueError(f"{folder}: cannot read its {SUMMARY}: {err}") from None
    try:
        summary = read_summary(text)
    except ValueError as err:
        raise ValueError(f"{folder}: {err}") from None
    arrays = {name: load_array(folder / f"{name}.npy", folder) for name in MAP_ARRAYS}
    rows = len(arrays["features"])
    if (
        arrays["features"].ndim != 2
        or arrays["embedding"].shape != (rows, 2)
        or arrays["labels"].shape != (rows,)
        or arrays["indices"].shape != (rows,)
    ):
        raise ValueError(
            f"{folder}: its arrays do not belong together (features "
            f"{arrays['features'].shape}, embedding {arrays['embedding'].shape}, "
            f"labels {arrays['labels'].shape}, indices "
            f"{arrays['indices'].shape})"
        )
    return summary, arrays


def new_images(
    config: EmbedConfig,
    summary: dict,
    subject: Source,
    info: DatasetInfo,
    split,
    map_indices: np.ndarray,
) -> tuple[object, np.ndarray | None, str]:
    """What to place: image files (labels -1), or ``n`` images of the split that are not
    already in the map. Returns the images, their split indices (``None`` for files), a name."""
    if config.images:
        from cnnzoo.reading import read_image

        fed = (
            info
            if subject.record is None
            else dataclasses.replace(
                info, mean=tuple(subject.record["mean"]), std=tuple(subject.record["std"])
            )
        )
        transform = image_transform(fed, input_size=subject.input[-1])
        batch = torch.stack([transform(read_image(path)) for path in config.images])
        labels = torch.full((len(batch),), -1, dtype=torch.int64)
        return list(zip(batch, labels.tolist(), strict=True)), None, "images"
    same = config.split == summary["split"] and info.name == summary["dataset"]
    pool = np.setdiff1d(np.arange(len(split)), map_indices) if same else np.arange(len(split))
    what = f"{config.split} split of {info.name}" + (" outside the map" if same else "")
    picked = pool[sample_indices(len(pool), config.n, config.seed, what)]
    return subset(split, picked), picked, config.split


def add_to_map(config: EmbedConfig, progress: Progress | None = None) -> dict:
    """Place new images into the map in ``config.add_to`` without recomputing it.

    The source must be the map's own (its codes are what the map was made of). Writes
    ``added_features.npy``, ``added_labels.npy``, ``added_embedding.npy``, ``added.png`` (the old
    map faint, the new points over it) and ``added.json`` to ``config.out`` (default:
    ``<map>/added-<split>`` or ``<map>/added-images``).
    """
    folder = Path(config.add_to)
    with owned(folder, "embed", option="--add-to", legacy=LEGACY):  # no rebuild meanwhile
        return place_into_map(config, folder, progress)


def place_into_map(config: EmbedConfig, folder: Path, progress: Progress | None) -> dict:
    """The body of :func:`add_to_map`, with the map folder held."""
    summary, arrays = read_map(folder)
    if config.source != summary["source"]:
        raise ValueError(
            f"the map in {folder} was made with {summary['source']!r}; give that as "
            f"the source to add images to it, not {config.source!r}"
        )
    settings = dataclasses.replace(
        config,
        dataset=config.dataset or summary["dataset"],
        layer=summary["layer"] if summary["layer"] != "pre-logits" else None,
    )
    info, split = load_images(settings, read_record(config.source, config.weights))
    subject = load_subject(
        config.source,
        info,
        seed=summary["seed"],
        input_size=summary["input_size"],
        weights=config.weights,
    )
    if subject.label != summary["model"]:
        raise ValueError(
            f"the map in {folder} was made with {summary['model']}, not {subject.label}; give the "
            "same source (and --weights) to add images to it"
        )
    images, picked, name = new_images(settings, summary, subject, info, split, arrays["indices"])
    started = time.perf_counter()
    if picked is None:
        batches = torch.utils.data.DataLoader(images, batch_size=config.batch_size)
        features, labels, _ = extract(
            feature_function(subject.model, settings.layer),
            batches,
            total=len(images),
            progress=progress,
        )
    else:
        features, labels, _ = codes(
            subject,
            images,
            info,
            layer=settings.layer,
            batch_size=config.batch_size,
            progress=progress,
        )
    if features.shape[1] != arrays["features"].shape[1]:
        raise ValueError(
            f"the new codes have {features.shape[1]} dimensions, the map's "
            f"{arrays['features'].shape[1]}"
        )
    tsne_map = rebuild_map(
        arrays["features"],
        arrays["embedding"],
        perplexity=summary["perplexity"],
        seed=summary["seed"],
        threads=torch.get_num_threads(),
    )
    placed = place(tsne_map, features, progress=progress)
    seconds = time.perf_counter() - started
    out = Path(config.out) if config.out else folder / f"added-{name}"
    labelled = labels >= 0
    accuracy = (
        knn_placed_accuracy(
            arrays["embedding"], arrays["labels"], placed[labelled], labels[labelled]
        )
        if labelled.any()
        else None
    )
    title = f"{len(placed):,} {name} images placed into {summary['model']}'s map" + (
        f": {K}-NN accuracy {accuracy:.1%}" if accuracy is not None else ""
    )
    result = {
        "map": str(folder),
        "out": str(out),
        "source": config.source,
        "what": name,
        "n": len(placed),
        "files": list(config.images),
        "knn_placed": accuracy,
        "k": K,
        "seconds": seconds,
        "added_png": str(out / "added.png"),
    }
    with (
        owned(out, "embed", legacy=("added.json",), force=config.force) as target,
        target.staged() as stage,
    ):
        for stem, array in (
            ("added_features", features),
            ("added_labels", labels),
            ("added_embedding", placed),
        ):
            save_array(stage / f"{stem}.npy", array)
        if picked is not None:
            save_array(stage / "added_indices.npy", picked)
        figures.save_added(
            stage / "added.png",
            arrays["embedding"],
            arrays["labels"],
            placed,
            labels,
            summary["class_names"],
            title=title,
        )
        write_text_atomic(stage / "added.json", json.dumps(result, indent=2) + "\n")
    return result


def summary_lines(answer: dict) -> list[str]:
    """What ``cnnzoo embed`` prints."""
    if "map" in answer:
        accuracy = answer["knn_placed"]
        score = (
            f"; {answer['k']}-NN accuracy in the map {accuracy:.2%}" if accuracy is not None else ""
        )
        return [
            f"placed {answer['n']:,} {answer['what']} images into {answer['map']}{score} "
            f"({answer['seconds']:.1f} s)",
            f"wrote {answer['added_png']}",
        ]
    lines = []
    for summary in answer["maps"]:
        sec = summary["seconds"]
        lines.append(
            f"{summary['model']}: {summary['n']:,} {summary['dataset']} {summary['split']} "
            f"images, {summary['feature_dim']}-d {summary['layer']} codes; {summary['k']}-NN "
            f"accuracy: features {summary['knn_features']:.2%}, map {summary['knn_map']:.2%}; "
            f"trustworthiness {summary['trustworthiness']:.3f}; features {sec['features']:.1f} s, "
            f"t-SNE {sec['tsne']:.1f} s, total {sec['total']:.1f} s"
        )
    lines.append(f"wrote {answer['out']}")
    return lines
